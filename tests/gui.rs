//! The window driven through egui_kittest (no GPU): the same views as the CLI, from the same core.

use egui_kittest::kittest::Queryable as _;
use egui_kittest::Harness;
use wsscope::gui::WsscopeApp;

fn harness() -> Harness<'static, WsscopeApp> {
    Harness::builder()
        .with_size(egui::vec2(1100.0, 760.0))
        .build_eframe(|_cc| WsscopeApp::default())
}

#[test]
fn accept_tab_shows_the_rfc_derivation() {
    let mut h = harness();
    h.run();
    assert!(h
        .query_by_label_contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        .is_some());
    assert!(h
        .query_by_label_contains("b3 7a 4f 2c c0 62 4f 16")
        .is_some());
}

#[test]
fn typing_a_key_recomputes_the_accept_value() {
    let mut h = harness();
    h.run();
    h.get_by_label("Sec-WebSocket-Key:").focus();
    h.run();
    // Select all and replace with another valid key.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Sec-WebSocket-Key:")
        .type_text("x3JJHMbDL1EzLkh9GBhXDw==");
    h.run();
    // The accept value of this key is the one the RFC 6455 errata and browsers agree on.
    assert!(
        h.query_by_label_contains("HSmrc0sMlYUkAGmm5OPpG2HaGWk=")
            .is_some(),
        "accept for x3JJHMbDL1EzLkh9GBhXDw== not shown"
    );
}

#[test]
fn decode_tab_shows_the_masked_hello() {
    let mut h = harness();
    h.run();
    h.get_by_label("Decode frames").click();
    h.run();
    assert!(h
        .query_by_label_contains("payload text \"Hello\"")
        .is_some());
    assert!(h
        .query_by_label_contains("37 fa 21 3d (37fa213d)")
        .is_some());
}

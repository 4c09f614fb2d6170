//! Every string wsscope shows people, in English and 简体中文, side by side so a translator sees
//! both. The window and the CLI both take their sentences from here.
//! Templates take `{0}`, `{1}`, ... filled by [`fill`]; a test checks both languages use the same
//! placeholders and that the bundled font has a glyph for every character.

use crate::protocol::handshake::{CheckId, ResponseCheckId};
use crate::protocol::{CloseCode, Fragment, Rule};

/// The interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// 简体中文 (Simplified Chinese).
    Zh,
}

impl Lang {
    /// The table of strings for this language.
    pub fn t(self) -> &'static Text {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
        }
    }

    /// The name of the other language, written in that language (the switch's label).
    pub fn other_name(self) -> &'static str {
        match self {
            Lang::En => "中文",
            Lang::Zh => "English",
        }
    }

    /// The other language.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Zh,
            Lang::Zh => Lang::En,
        }
    }

    /// The language the environment asks for: the first of `LC_ALL`, `LC_MESSAGES` and `LANG`
    /// that is set and not empty decides, as POSIX orders them; `zh...` is Chinese, anything
    /// else English.
    pub fn from_env() -> Lang {
        let var = |name| std::env::var(name).ok();
        Lang::from_locale([var("LC_ALL"), var("LC_MESSAGES"), var("LANG")])
    }

    /// [`Lang::from_env`] over given values of `LC_ALL`, `LC_MESSAGES` and `LANG`, in that order.
    pub fn from_locale(vars: [Option<String>; 3]) -> Lang {
        match vars.into_iter().flatten().find(|v| !v.is_empty()) {
            Some(v) if v.starts_with("zh") => Lang::Zh,
            _ => Lang::En,
        }
    }
}

/// Replaces `{0}`, `{1}`, ... in `template` with `args`.
pub fn fill(template: &str, args: &[&dyn std::fmt::Display]) -> String {
    let mut out = template.to_string();
    for (i, a) in args.iter().enumerate() {
        out = out.replace(&format!("{{{i}}}"), &a.to_string());
    }
    out
}

macro_rules! strings {
    ($($name:ident: $en:expr, $zh:expr;)*) => {
        /// One language's strings.
        #[allow(missing_docs)]
        pub struct Text {
            $(pub $name: &'static str,)*
        }
        /// English.
        pub static EN: Text = Text { $($name: $en,)* };
        /// 简体中文.
        pub static ZH: Text = Text { $($name: $zh,)* };
        /// Every string as (name, English, Chinese), for the tests.
        pub const ALL: &[(&str, &str, &str)] = &[$((stringify!($name), $en, $zh),)*];
    };
}

strings! {
    // Events (server, connections, limits, errors): kept first in this table. The words of
    // `serve`'s trace and of the window's status line; see `events.rs`.
    ev_limit_handshake_bytes: "request head of {1} bytes, over the {0}-byte limit (431)", "请求头 {1} 字节，超过 {0} 字节的上限（431）";
    ev_limit_handshake_headers: "{1} header fields, over the limit of {0} (431)", "{1} 个头字段，超过 {0} 个的上限（431）";
    ev_limit_handshake_timeout: "the opening handshake did not complete within {0} ms (408 after {1} ms)", "起始握手未在 {0} 毫秒内完成（{1} 毫秒后回复 408）";
    ev_limit_connections: "{1} connections open, the configured maximum is {0} (503)", "已打开 {1} 个连接，配置的上限是 {0}（503）";
    ev_limit_frame: "frame payload of {1} bytes, over the {0}-byte limit (close 1009)", "帧载荷 {1} 字节，超过 {0} 字节的上限（关闭码 1009）";
    ev_limit_message: "message of {1} bytes so far, over the {0}-byte limit (close 1009)", "消息已达 {1} 字节，超过 {0} 字节的上限（关闭码 1009）";
    ev_limit_reads_paused: "the capture is behind ({1} bytes of events not yet taken, over the {0}-byte bound): reading from this connection, one of the busiest, is paused until it catches up; quieter connections are still read", "捕获处理跟不上（{1} 字节的事件尚未取走，超过 {0} 字节的上限）：暂停读取这个最繁忙的连接之一，直到赶上；较安静的连接照常读取";
    ev_limit_all_reads_paused: "the capture is far behind ({1} bytes of events not yet taken, over the {0}-byte ceiling): reading from every WebSocket is paused until it catches up; handshakes are still answered", "捕获处理严重落后（{1} 字节的事件尚未取走，超过 {0} 字节的硬上限）：暂停读取所有 WebSocket，直到赶上；握手照常应答";
    ev_err_accept: "accepting a connection failed: {0}", "接受连接失败：{0}";
    ev_err_event_loop: "the event loop could not wait for the sockets: {0}", "事件循环无法等待套接字：{0}";
    ev_err_setup: "the connection was gone at once: {0}", "连接一建立就断开了：{0}";
    ev_err_no_loop: "no event loop is left to serve this connection", "没有可用的事件循环来服务这个连接";
    ev_err_read: "read failed: {0}", "读取失败：{0}";
    ev_err_write: "write failed: {0}", "写入失败：{0}";
    ev_err_not_open: "the connection is not open; the command was not sent", "连接未打开，命令没有发送";
    ev_err_not_sent_closed: "not sent: a close frame was already sent (§5.5.1)", "未发送：已经发送过关闭帧（§5.5.1）";
    ev_err_not_sent_control: "not sent: a control frame payload of {0} bytes; the limit is 125 (§5.5)", "未发送：控制帧载荷 {0} 字节，上限是 125（§5.5）";
    ev_err_not_sent_reason: "not sent: a close reason of {0} bytes; the limit is 123 (§5.5.1)", "未发送：关闭原因 {0} 字节，上限是 123（§5.5.1）";
    ev_err_gap: "{0} bytes missing from the {1} stream at byte {2} ({3}): what follows in that direction cannot be trusted, so it is not decoded", "{1}方向的流在第 {2} 字节处缺少 {0} 字节（{3}）：该方向之后的数据不可信，不再解码";
    ev_dir_c2s: "client->server", "客户端->服务器";
    ev_dir_s2c: "server->client", "服务器->客户端";
    ev_gap_closed: "the connection ended before they were seen", "连接结束前没有看到它们";
    ev_gap_eof: "the capture ended before they were seen", "抓包结束前没有看到它们";
    ev_gap_full: "over {0} bytes were waiting out of order", "乱序等待的数据超过 {0} 字节";
    ev_err_flow_limit: "more than {0} TCP connections open at once in the file: the ones after are not followed", "文件中同时打开的 TCP 连接超过 {0} 个：之后的连接不再跟踪";
    ev_err_bad_response: "the server's answer is not an HTTP response ({0}): no frames are decoded", "服务器的回应不是 HTTP 响应（{0}）：不解码任何帧";
    ev_err_resolve: "cannot look up {0}: {1}", "无法解析主机名 {0}：{1}";
    ev_err_connect: "cannot connect to {0}: {1}", "无法连接到 {0}：{1}";
    ev_err_tls: "TLS failed: {0}", "TLS 失败：{0}";
    ev_err_client: "{0}", "{0}";
    http_bad_gateway: "the proxy's upstream could not be used: {0}", "代理的上游无法使用：{0}";
    tr_relay: "proxy leg, relayed to and from #{0}: frames pass with the same FIN, RSV, opcode and payload; toward the server wsscope masks them again with keys of its own (§5.3: a fresh key per frame), so their bytes on the two legs differ", "代理的一段，与 #{0} 互相转发：帧的 FIN、RSV、操作码和载荷不变；发往服务器时 wsscope 用自己的掩码键重新掩码（§5.3：每帧一个新键），所以两段上的字节不同";
    px_listening: "proxy: clients connect to ws://{0}/, every frame is relayed to {1} and back; each proxied connection shows as two legs (#n toward the client, #n+1 toward the upstream)", "代理：客户端连接 ws://{0}/，每个帧都转发到 {1} 并转发回来；每个被代理的连接显示为两段（#n 面向客户端，#n+1 面向上游）";
    ev_err_tls_cert_hint: " (a local or self-signed certificate? trust it with --ca-file FILE.pem, or skip the check with --insecure for a local test)", "（本地或自签名证书？用 --ca-file FILE.pem 信任它，或在本地测试时用 --insecure 跳过检查）";
    tr_tls: "TLS up  {0}, {1}, server {2}, {3} certificate(s), trusted by {4}: the TCP lines that follow are the bytes inside the TLS records, not the records on the wire", "TLS 已建立  {0}，{1}，服务器 {2}，{3} 张证书，信任来源：{4}：之后的 TCP 行是 TLS 记录里面（解密后）的字节，不是线路上的记录";
    tls_trust_system: "the system's roots", "系统根证书";
    tls_trust_ca_file: "the CA file {0}", "CA 文件 {0}";
    tls_trust_insecure: "nothing (--insecure: any certificate is taken)", "无（--insecure：接受任何证书）";
    cn_answer: "The server's answer, as sent:", "服务器的回答（原样）：";
    tr_client_failed: " — the client fails the connection (§4.1 item {0}: {1} — {2})", " —— 客户端让连接失败（§4.1 第 {0} 条：{1} —— {2}）";
    ev_err_own_frame: "a frame wsscope sent ({0}, at byte {1}) announces {2} payload bytes, over the {3} bytes the capture follows for its own side: that direction is no longer decoded (its TCP bytes are still captured)", "wsscope 发出的一个帧（{0}，位于第 {1} 字节）声明了 {2} 字节载荷，超过抓包为本端跟踪的 {3} 字节：该方向不再解码（其 TCP 字节仍被捕获）";
    io_reset: "the peer reset the connection", "对方重置了连接";
    io_aborted: "the connection was aborted", "连接被中止";
    io_broken_pipe: "the peer closed the connection", "对方已关闭连接";
    io_write_zero: "the peer took no bytes", "对方没有接收任何字节";
    io_timed_out: "timed out", "超时";
    io_resources: "out of file descriptors or memory", "文件描述符或内存耗尽";
    io_permission: "permission denied", "权限不足";
    io_addr_in_use: "the address is in use", "地址已被占用";
    io_other: "an I/O error", "I/O 错误";
    io_refused: "connection refused (nothing listens there)", "连接被拒绝（那里没有程序在监听）";
    io_unreachable: "no route to the host", "无法到达该主机";
    io_os_code: "{0} (OS error {1})", "{0}（系统错误 {1}）";
    http_demo_page: "demo page", "演示页面";
    http_method: "method {0} not allowed: only GET (and the WebSocket upgrade)", "不允许方法 {0}：只接受 GET（以及 WebSocket 升级）";
    http_not_found: "{0} is not a page here: open / for the demo page, or connect a WebSocket client to any path", "{0} 不是这里的页面：打开 / 查看演示页面，或用 WebSocket 客户端连接任意路径";
    http_upgrade_refused: "the upgrade request broke a §4.2.1 rule (see the handshake)", "升级请求违反了 §4.2.1 的规则（见握手）";
    http_malformed: "not an HTTP request: {0}", "不是 HTTP 请求：{0}";
    http_too_large: "request head too large", "请求头太大";
    http_too_many_headers: "too many header fields", "头字段太多";
    http_timeout: "the opening handshake took too long", "起始握手用时太长";
    http_busy: "too many connections; try again later", "连接太多，请稍后再试";
    http_server_answer: "the server answered without switching protocols", "服务器没有切换协议，直接作了回应";
    http_unparsed: "(request not parsed)", "（请求未解析）";
    tr_listening: "listening on ws://{0}/  (demo page: http://{0}/)", "正在监听 ws://{0}/  （演示页面：http://{0}/）";
    tr_tcp_open: "TCP open  {0} -> {1}", "TCP 连接  {0} -> {1}";
    tr_tcp_read: "TCP read  {0} bytes", "TCP 读取 {0} 字节";
    tr_tcp_write: "TCP write {0} bytes", "TCP 写入 {0} 字节";
    tr_handshake: "handshake GET {0} -> {1} {2}", "握手 GET {0} -> {1} {2}";
    tr_switching: "switching protocols", "切换协议";
    tr_subprotocol: " (subprotocol {0})", "（子协议 {0}）";
    tr_key: "  key {0} -> accept {1}", "  密钥 {0} -> accept {1}";
    tr_accept_ok: " (the server's accept matches)", "（服务器的 accept 正确）";
    tr_accept_bad: " (the server sent accept {0}: it does not match, §4.1)", "（服务器发送的 accept 是 {0}：不匹配，§4.1）";
    tr_accept_missing: " (the server sent no Sec-WebSocket-Accept, §4.1)", "（服务器没有发送 Sec-WebSocket-Accept，§4.1）";
    tr_server_refused: "refused by the server", "服务器拒绝";
    tr_http: "HTTP {0} -> {1} ({2})", "HTTP {0} -> {1}（{2}）";
    tr_frame: "frame", "帧";
    tr_violation: "VIOLATION", "违规";
    tr_message: "message {0} {1} bytes in {2} frame(s)", "消息 {0} {1} 字节，共 {2} 帧";
    tr_compressed: "compressed {0} -> {1} bytes", "压缩 {0} -> {1} 字节";
    tr_limit: "LIMIT", "上限";
    tr_closed: "closed by {0}: {1}", "由{0}关闭：{1}";
    tr_by_client: "client", "客户端";
    tr_by_server: "server", "服务器";
    tr_no_close_frame: "no close frame (1006)", "没有关闭帧（1006）";
    tr_clean: ", clean", "，干净关闭";
    tr_not_clean: ", not clean", "，非干净关闭";
    tr_error: "ERROR", "错误";
    tr_stopped: "stopped", "已停止";
    rd_stats: "{0} packets: {1} TCP connection(s), {2} WebSocket, {3} skipped (no upgrade), {4} not followed; {5} packets not TCP, {6} unparsable, {7} of unknown link types; {8} segment(s) out of order, {9} duplicate bytes, {10} gap(s)", "{0} 个数据包：{1} 个 TCP 连接，{2} 个 WebSocket，{3} 个跳过（没有升级），{4} 个未跟踪；{5} 个不是 TCP，{6} 个无法解析，{7} 个链路类型未知；{8} 个乱序分段，{9} 字节重复，{10} 个缺口";
    tr_totals: "{0} connection(s); client->server {1} bytes in {2} TCP calls, {3} frames, {4} messages; server->client {5} bytes in {6} TCP calls, {7} frames, {8} messages; {9} frame(s) broke a rule", "{0} 个连接；客户端->服务器 {1} 字节，{2} 次 TCP 调用，{3} 帧，{4} 条消息；服务器->客户端 {5} 字节，{6} 次 TCP 调用，{7} 帧，{8} 条消息；{9} 帧违反规则";

    // Top bar.
    copy: "copy", "复制";
    copy_page_hover: "copy the demo page URL", "复制演示页面的地址";
    demo_page: "demo page", "演示页面";
    non_loopback: "WARNING: listening on {0}, not only on this computer: anyone on the network can connect (restrict which web pages may with --allowed-origins)", "警告：正在监听 {0}，不只是本机：网络上的任何人都能连接（可用 --allowed-origins 限制哪些网页能连接）";
    cannot_listen: "cannot listen on {0}: {1}", "无法监听 {0}：{1}";
    server_not_running: "no server is running", "服务器未运行";
    reply: "reply:", "回复：";
    echo: "echo", "回显";
    fixed: "fixed", "固定文本";
    manual: "manual", "手动";
    reply_hint: "reply text", "回复内容";
    reply_hover: "what the server answers to each text or binary message", "服务器对每条文本或二进制消息的回复方式";
    auto_pong: "auto-pong", "自动回 pong";
    auto_pong_hover: "answer every ping with a pong (§5.5.2)", "对每个 ping 回一个 pong（§5.5.2）";
    open_count: "{0} open", "{0} 个连接已打开";
    smaller: "smaller text (Ctrl -)", "缩小文字（Ctrl -）";
    larger: "larger text (Ctrl +)", "放大文字（Ctrl +）";
    present: "present", "投影";
    present_hover: "large text for a projector", "投影用的大字号";
    light: "light", "浅色";
    dark: "dark", "深色";
    language_hover: "interface language", "界面语言";
    try_it: "try it: open http://{0}/ in a browser, or: node seed-client.js ws://{0}/ws   (the seed's own client; start wsscope with --port 6666 --reply 'thank you!!!' to be the seed's server)", "试一试：在浏览器中打开 http://{0}/，或运行 node seed-client.js ws://{0}/ws（原文的客户端；用 --port 6666 --reply 'thank you!!!' 启动 wsscope 就是原文的服务器）";
    tab_live: "Live", "实时";
    tab_handshake: "Handshake", "握手";
    tab_accept: "Accept key", "Accept 计算";
    tab_decode: "Decode frames", "解码帧";
    tab_build: "Build a frame", "构造帧";
    tab_stream: "TCP vs frames", "TCP 与帧";
    server_settings: "server…", "服务器…";
    server_settings_hover: "port, bind address, subprotocols and limits; restart the listener", "端口、绑定地址、子协议和各项上限；重启监听";

    // Server settings window.
    server_title: "Server", "服务器";
    port: "port", "端口";
    bind: "bind address", "绑定地址";
    bind_note: "127.0.0.1 keeps the server on this computer; 0.0.0.0 opens it to the network", "127.0.0.1 只允许本机连接；0.0.0.0 对网络开放";
    protocols: "subprotocols (comma-separated)", "子协议（逗号分隔）";
    max_frame: "max frame (bytes)", "单帧上限（字节）";
    max_message: "max message (bytes)", "消息上限（字节）";
    max_connections: "max connections", "连接数上限";
    handshake_timeout: "handshake timeout (s)", "握手超时（秒）";
    restart: "restart the listener", "重启监听";
    restart_note: "open connections are closed with 1001; the capture is kept", "已打开的连接会以 1001 关闭；已捕获的数据保留";
    bad_bind: "not an IP address: {0}", "不是 IP 地址：{0}";
    restart_busy: "a restart is already under way", "正在重启，请稍候";
    restarted: "listening again on {0}", "已重新监听 {0}";

    // Status bar.
    status_counts: "{0} frames · {1} messages · {2} connections · {3} of {4} MiB", "{0} 帧 · {1} 条消息 · {2} 个连接 · 已用 {3} / {4} MiB";
    evicted: "budget full: the oldest {0} frames, {1} messages, {2} TCP calls and {3} connections (closed ones, then open ones once nothing else was left) were dropped; complete from {4} s on", "预算已满：已丢弃最早的 {0} 个帧、{1} 条消息、{2} 次 TCP 调用和 {3} 个连接（先是已关闭的，其他都已丢弃后也包括仍打开的）；从 {4} 秒起完整";
    squeezed: "memory: the store keeps at most {0} of its {1} MiB while the window is {2} MiB resident (budget + {3} MiB is the most it may take)", "内存：窗口常驻内存为 {2} MiB（最多可用预算 + {3} MiB），存储暂时最多保留 {0} / {1} MiB";
    spaced: "heavy traffic: the view refreshes every {0} s, since a refresh costs {1} ms of CPU here (no GPU?) and the server comes first; every frame is still captured", "流量很大：每次刷新要占用本机 {1} 毫秒 CPU（没有 GPU？），为让服务器优先，界面改为每 {0} 秒刷新一次；所有帧仍完整捕获";
    notice_error: "error", "错误";
    notice_limit: "limit reached", "达到上限";

    // Handshake tab.
    connection_n: "Connection #{0}", "连接 #{0}";
    no_handshake: "No handshake yet. Connect a client (the demo page, the seed's Node client) and it appears here. Meanwhile, the RFC's own example:", "还没有握手。连接一个客户端（演示页面或原文的 Node 客户端），它就会显示在这里。先看 RFC 自己的例子：";
    hs_intro1: "The opening handshake: the client asks to upgrade HTTP to WebSocket, the server checks the rules of", "起始握手：客户端请求把 HTTP 升级为 WebSocket，服务器按";
    hs_intro2: "and answers with the key it derived", "检查规则，并用推导出的 key 应答";
    request_n: "Request ({0} bytes, exactly as received)", "请求（{0} 字节，与收到的完全一致）";
    response_n: "Response {0} ({1} bytes, exactly as sent)", "响应 {0}（{1} 字节，与发出的完全一致）";
    location_note: "Some tutorials (like the seed post) show a WebSocket-Location header in the 101: it comes from a pre-RFC draft (hixie-76) and RFC 6455 servers do not send it.", "有些教程（比如原文）在 101 响应里写了 WebSocket-Location 头：它来自 RFC 之前的草案（hixie-76），RFC 6455 的服务器不会发送它。";
    checklist: "Checklist (RFC 6455 §4.2.1)", "检查清单（RFC 6455 §4.2.1）";
    pass: "PASS", "通过";
    fail: "FAIL", "失败";
    info: "info", "信息";
    item: "§{0} item {1}", "§{0} 第 {1} 条";
    refused: "Refused: {0}", "已拒绝：{0}";
    accept_derivation: "Accept derivation", "Accept 推导";
    key_check: "key check", "key 检查";
    key_valid: "valid: base64 of 16 bytes", "有效：16 字节的 base64";
    key_not_base64: "not valid base64: {0} — a server answers 400", "不是合法的 base64：{0} — 服务器会回应 400";
    key_wrong_len: "base64 of {0} bytes, but the nonce must be 16 bytes — a server answers 400", "解码后是 {0} 字节，但随机数必须是 16 字节 — 服务器会回应 400";
    step_sha1_note: "20 raw bytes, shown as hex: the bytes are what is encoded", "20 个原始字节，这里以十六进制显示：被编码的是字节本身";
    step_base64_note: "Sec-WebSocket-Accept: always 28 characters", "Sec-WebSocket-Accept：总是 28 个字符";
    mistakes: "Two classic mistakes", "两个常见错误";
    mistake_hex: "x base64 of the 40-character hex text gives {0} ({1} chars): clients reject it", "x 对 40 个字符的十六进制文本做 base64，得到 {0}（{1} 个字符）：客户端会拒绝";
    mistake_text: "x base64-decoding the accept value does not give text, only the 20 SHA-1 bytes: {0}", "x 把 accept 值 base64 解码得不到文本，只有 20 个 SHA-1 字节：{0}";

    // Accept tab.
    accept_intro: "How a server answers the opening handshake: Sec-WebSocket-Key + GUID -> SHA-1 -> base64 (RFC 6455 §4.2.2). Type any key.", "服务器如何应答起始握手：Sec-WebSocket-Key + GUID -> SHA-1 -> base64（RFC 6455 §4.2.2）。输入任意 key 试试。";
    type_a_key: "Type a Sec-WebSocket-Key above.", "请在上面输入一个 Sec-WebSocket-Key。";

    // Decode tab.
    decode_intro: "Paste frame bytes as hex to see every field of RFC 6455 §5.2, the unmasking and the rules broken.", "粘贴十六进制的帧字节，查看 RFC 6455 §5.2 的每个字段、去掩码过程和违反的规则。";
    frame_bytes: "Frame bytes (hex):", "帧字节（十六进制）：";
    sent_by: "Sent by:", "发送方：";
    auto: "auto", "自动";
    client: "client", "客户端";
    server: "server", "服务器";
    cannot_read_hex: "Cannot read the hex: {0}", "无法读取十六进制：{0}";
    decoded_n: "{0} frame(s) in {1} bytes", "{1} 字节中有 {0} 个帧";
    truncated_header: "truncated frame at byte {0}: only {1} byte(s) of a frame header (a header is 2 to 14 bytes)", "偏移 {0} 处的帧被截断：帧头只有 {1} 字节（帧头是 2 到 14 字节）";
    truncated_payload: "truncated frame: the header announces a {0}-byte payload but only {1} byte(s) follow", "帧被截断：帧头声明载荷为 {0} 字节，后面却只有 {1} 字节";
    decode_stopped: "decoding stopped: {0} later byte(s) not decoded (a receiver would have failed the connection)", "解码停止：后面 {0} 字节未解码（接收方此时已使连接失败）";
    message_n: "Message {0}: {1} in {2} frame(s), {3} bytes", "消息 {0}：{1}，由 {2} 个帧组成，{3} 字节";
    frame_n: "Frame {0} — {1}, {2} bytes", "第 {0} 帧 — {1}，{2} 字节";
    sender_guess: "guessed from the MASK bit of the first frame: sent by the {0}", "根据第一个帧的 MASK 位推测：由{0}发送";

    // Build tab.
    build_intro: "Set every field, valid or not, and see the bytes and what a receiver would report.", "设置每个字段（合法或不合法都行），查看字节和接收方会报告的问题。";
    build_payload: "payload (text)", "载荷（文本）";
    build_len_override: "announce a different length", "声明一个不同的长度";
    build_payload_hex: "payload is hex", "载荷是十六进制";
    build_auto: "auto (shortest)", "自动（最短）";
    build_clamped: "a {0}-bit length field cannot say {1}: the bytes say {2}", "{0} 位长度字段表示不了 {1}：字节里写的是 {2}";
    build_bad_key: "the masking key must be 4 bytes of hex: {0}", "掩码键必须是 4 字节的十六进制：{0}";
    build_bad_payload: "the payload is not hex: {0}", "载荷不是十六进制：{0}";
    build_force_encoding: "length encoding", "长度编码";
    build_key: "masking key (hex)", "掩码键（十六进制）";
    build_receiver: "received by a", "接收方：";
    build_bytes: "{0} bytes:", "{0} 字节：";
    build_copy: "copy hex", "复制十六进制";
    build_to_decoder: "open in the decoder", "在解码页打开";
    build_send: "send raw to the selected connection", "原样发送给选中的连接";
    build_all_ok: "a receiver accepts this frame", "接收方会接受这个帧";

    // Connect tab: wsscope as a client.
    tab_connect: "Connect", "发起连接";
    connect_intro: "wsscope as a client: it opens a WebSocket to any server, sends the request of", "wsscope 作为客户端：向任意服务器打开 WebSocket，发送";
    connect_intro2: "and checks the answer by every rule a client must check. Its connections appear in the Live list marked client; the composer and the frame builder send on them (masked with a fresh key, as a client must).", "规定的请求，并按客户端必须检查的每条规则检查回答。它的连接出现在实时列表里，标为客户端；编辑器和构造帧页面可以在上面发送（客户端必须掩码，每帧用新的掩码键）。";
    connect_url: "URL", "URL";
    connect_url_hint: "ws://host:port/path or wss://…", "ws://主机:端口/路径 或 wss://…";
    connect_protocols: "subprotocols (comma-separated)", "子协议（逗号分隔）";
    connect_headers: "extra headers (one Name: value per line)", "附加头字段（每行一个 Name: value）";
    connect_origin: "Origin (optional)", "Origin（可选）";
    connect_trust: "wss:// trusts", "wss:// 信任";
    trust_system: "the system's roots", "系统根证书";
    trust_ca: "a CA file (PEM)", "CA 文件（PEM）";
    trust_insecure: "any certificate (insecure, local tests only)", "任何证书（不安全，仅限本地测试）";
    connect_ca_hint: "path to a PEM file", "PEM 文件路径";
    connect_button: "Connect", "连接";
    disconnect_button: "Disconnect", "断开";
    disconnect_hover: "the closing handshake with 1000 (§7.1.2); a connection still in its opening handshake is dropped", "以 1000 进行关闭握手（§7.1.2）；仍在起始握手中的连接直接断开";
    show_in_live: "show in Live", "在实时页查看";
    url_empty: "type a URL such as ws://127.0.0.1:8765/", "请输入 URL，例如 ws://127.0.0.1:8765/";
    url_not_url: "not a URL: {0}", "不是 URL：{0}";
    url_scheme: "the scheme must be ws:// or wss:// (§3), not {0}://", "协议必须是 ws:// 或 wss://（§3），而不是 {0}://";
    url_no_host: "the URL has no host", "URL 中没有主机";
    url_fragment: "a WebSocket URI has no #fragment (§3)", "WebSocket URI 不能带 # 片段（§3）";
    bad_subprotocol: "{0} is not a subprotocol name: only the characters ! to ~ without separators such as ( ) , ; = \" (§4.1)", "{0} 不是子协议名：只能用 ! 到 ~ 之间的字符，且不能有 ( ) , ; = \" 这类分隔符（§4.1）";
    header_no_colon: "line {0}: a header is Name: value, and this line has no colon", "第 {0} 行：头字段的格式是 Name: value，这一行没有冒号";
    header_bad_name: "line {0}: {1} is not a header name (letters, digits and !#$%&'*+-.^_`|~, no spaces)", "第 {0} 行：{1} 不是头字段名（只能用字母、数字和 !#$%&'*+-.^_`|~，不能有空格）";
    ca_missing: "type the path of the CA file", "请输入 CA 文件的路径";
    ca_not_file: "no such file: {0}", "没有这个文件：{0}";
    connect_failed_start: "the client could not start: {0}", "客户端无法启动：{0}";
    attempts: "Connections opened here", "从这里打开的连接";
    attempt_connecting: "connecting…", "正在连接…";
    attempt_not_connected: "not connected: {0}", "未能连接：{0}";
    attempt_refused: "the server answered {0}: no WebSocket", "服务器回答 {0}：没有建立 WebSocket";
    client_to: "client → {0}", "客户端 → {0}";
    proxy_upstream_leg: "proxy → {0} (for #{1})", "代理 → {0}（转发 #{1}）";
    proxy_client_leg: "proxy ← {0} (relayed via #{1})", "代理 ← {0}（经 #{1} 转发）";
    proxy_heading: "Proxy", "代理";
    rf_at_line: "line {0}, byte {1}", "第 {0} 行（第 {1} 字节）";
    rf_io: "cannot read: {0}", "无法读取：{0}";
    rf_empty: "empty file: a capture starts with a header line", "空文件：抓包文件以一行文件头开始";
    rf_not_json: "not JSON ({0})", "不是 JSON（{0}）";
    rf_not_capture: "not a wsscope capture header: {0}", "不是 wsscope 抓包文件头：{0}";
    rf_newer: "capture format version {0} is newer than this wsscope reads ({1}.x): use a newer wsscope", "抓包格式版本 {0} 比这个 wsscope 能读的（{1}.x）新：请使用更新的 wsscope";
    rf_unknown_type: "unknown event type {0}", "未知的事件类型 {0}";
    rf_bad_event: "bad {0} event: {1}", "错误的 {0} 事件：{1}";
    rf_past_stream_end: "bad {0} event: offset {1} plus {2} bytes runs past 2^64, the end of any stream", "错误的 {0} 事件：偏移 {1} 加上 {2} 字节超过了 2^64，任何流都没有这么长";
    rf_reversed_range: "bad {0} event: its {1} {2}..{3} ends before it starts", "错误的 {0} 事件：其 {1} {2}..{3} 的结尾在开头之前";
    rf_outside_frame: "bad frame event: its {0} {1}..{2} is outside the frame's bytes {3}..{4}", "错误的 frame 事件：其 {0} {1}..{2} 不在该帧自己的字节 {3}..{4} 之内";
    rf_truncated: "the last line is cut short (no newline at the end of the file): the recording was interrupted; everything before it was read", "最后一行不完整（文件末尾没有换行）：录制被中断了；之前的内容都已读取";
    rf_line_too_long: "line longer than {0} bytes", "行长超过 {0} 字节";
    pf_at_byte: "at byte {0}", "第 {0} 字节";
    pf_not_capture: "not a pcap or pcapng file (no known magic number in its first {0} bytes)", "不是 pcap 或 pcapng 文件（前 {0} 字节中没有已知的魔数）";
    pf_truncated: "the file ends inside a record: {0} of its {1} bytes are there (truncated?)", "文件在一条记录中间结束：该记录 {1} 字节中只有 {0} 字节（被截断了？）";
    pf_record_too_large: "a record of {0} bytes, over the {1}-byte limit (corrupt?)", "一条 {0} 字节的记录，超过 {1} 字节的上限（文件损坏？）";
    pf_block_length: "a pcapng block length of {0}, not a multiple of 4 of at least 12 (corrupt)", "pcapng 块长度为 {0}，不是不小于 12 的 4 的倍数（文件损坏）";
    pf_no_interface: "a packet of interface {0}, which its section did not describe (corrupt)", "一个属于接口 {0} 的数据包，但所在段没有描述该接口（文件损坏）";
    pf_corrupt: "a record that does not parse: {0}", "无法解析的记录：{0}";
    relayed_title: "Relayed by the proxy: the same frame on the other leg", "代理转发：另一段上的同一个帧";
    relayed_why: "FIN, RSV, opcode, length and payload are the same. The masking differs: a client masks every frame with a fresh key of its own, so toward the server wsscope masks it again with its own key (§5.3), and toward the client it sends it unmasked, as a server must (§5.1). The same payload therefore has different bytes on the two legs.", "FIN、RSV、操作码、长度和载荷都相同。不同的是掩码：客户端用自己的新键给每个帧加掩码，所以发往服务器时 wsscope 用自己的键重新加掩码（§5.3），发往客户端时按服务器的规则不加掩码（§5.1）。因此同一载荷在两段上的字节不同。";
    relayed_wire: "on the wire (header and first payload bytes)", "线路上的字节（帧头和载荷开头）";
    relayed_key: "masking key", "掩码键";
    relayed_no_key: "none (a server never masks)", "无（服务器从不加掩码）";
    relayed_other: "frame {0} (other leg)", "帧 {0}（另一段）";
    proxy_intro: "An inspecting proxy: a real client connects to the address below, and wsscope relays every frame to the URL above (with its trust settings for wss://) and back. Each proxied connection shows as two legs in the Live list: toward the client and toward the upstream.", "检查代理：真实的客户端连接下面的地址，wsscope 把每个帧转发到上面的 URL（wss:// 使用上面的信任设置）并转发回来。每个被代理的连接在“实时”列表中显示为两段：面向客户端的一段和面向上游的一段。";
    proxy_listen: "listen on", "监听地址";
    proxy_start: "Start proxy", "启动代理";
    proxy_stop: "Stop", "停止";
    proxy_bad_listen: "not an address and port: {0} (e.g. 127.0.0.1:8766)", "不是地址和端口：{0}（例如 127.0.0.1:8766）";
    proxy_running: "proxy: ws://{0}/ → {1}", "代理：ws://{0}/ → {1}";
    proxy_lan_warning: "this proxy listens beyond loopback: other machines can use it to reach the upstream", "此代理监听的不只是回环地址：其他机器也可以通过它访问上游";
    tls_window_hint: "In this tab: trust \"a CA file (PEM)\" holding the server's certificate, or \"any certificate\" for a local test.", "在本页：选“CA 文件（PEM）”并填写包含服务器证书的文件，或在本地测试时选“任何证书”。";

    // Handshake tab, a connection wsscope's client opened.
    hs_client_intro1: "The opening handshake seen from wsscope's client: it sent this request, and before it uses the connection it checks the server's answer by the rules of", "从 wsscope 客户端这一端看起始握手：它发出这个请求，并在使用连接之前按";
    hs_client_intro2: "(the checks are below the answer).", "的规则检查服务器的回答（检查结果在回答下面）。";
    request_sent_n: "Request ({0} bytes, exactly as sent)", "请求（{0} 字节，与发出的完全一致）";
    response_received_n: "Response {0} ({1} bytes, exactly as received)", "响应 {0}（{1} 字节，与收到的完全一致）";
    client_checklist: "The server's answer, as a client checks it (RFC 6455 §4.1)", "客户端对服务器回答的检查（RFC 6455 §4.1）";
    our_request_checklist: "Our request, as a server checks it (RFC 6455 §4.2.1)", "我们的请求，按服务器的规则检查（RFC 6455 §4.2.1）";
    hs_client_failed: "The client failed the connection (§4.1 item {0}: {1} — {2}): it closes TCP without sending a single frame (§7.1.7).", "客户端让连接失败（§4.1 第 {0} 条：{1} —— {2}）：不发送任何帧，直接关闭 TCP（§7.1.7）。";
    hs_client_no_switch: "The server answered {0}, not 101: this is an HTTP answer, not a WebSocket (§4.1 item 1). Its headers are above; its body:", "服务器回答 {0}，不是 101：这是一个 HTTP 回答，不是 WebSocket（§4.1 第 1 条）。头字段见上面；正文：";
    hs_body_empty: "(no body)", "（没有正文）";
    accept_of_our_key: "Accept derivation of the key we sent", "我们发送的 key 的 Accept 推导";
    accept_sent_matches: "The server sent Sec-WebSocket-Accept: {0} — the derivation of our key, as §4.1 item 4 requires", "服务器发送的 Sec-WebSocket-Accept：{0} —— 正是我们的 key 的推导结果，符合 §4.1 第 4 条";
    accept_sent_differs: "The server sent Sec-WebSocket-Accept: {0} — not the derivation of our key: the client must fail the connection (§4.1 item 4)", "服务器发送的 Sec-WebSocket-Accept：{0} —— 不是我们的 key 的推导结果：客户端必须让连接失败（§4.1 第 4 条）";
    accept_sent_missing: "The server sent no Sec-WebSocket-Accept: the client must fail the connection (§4.1 item 4)", "服务器没有发送 Sec-WebSocket-Accept：客户端必须让连接失败（§4.1 第 4 条）";
    tls_title: "TLS (wss://)", "TLS（wss://）";
    tls_version: "version", "版本";
    tls_cipher: "cipher suite", "密码套件";
    tls_server_name: "server name", "服务器名称";
    tls_certificates: "certificates sent", "服务器发送的证书";
    tls_alpn: "ALPN", "ALPN";
    tls_trusted_by: "checked against", "验证依据";
    tls_note: "On the wire this connection is TLS records. The request, the answer and the frames shown here, and the calls counted in TCP vs frames, are the decrypted bytes inside those records (what TLS hands over), not the TCP segments.", "这个连接在线路上传输的是 TLS 记录。这里显示的请求、回答和帧，以及“TCP 与帧”页统计的调用，都是这些记录里面解密后的字节（TLS 交出来的数据），不是 TCP 报文段。";
    stream_rows_client: "Each row is one TCP write (client to server) or read (server to client) of wsscope's client, its bytes split by what they belong to. Click a frame to see its anatomy.", "每一行是 wsscope 客户端的一次 TCP 写入（客户端到服务器）或读取（服务器到客户端），其中的字节按所属内容分段。点击帧可查看它的结构。";

    // Stream tab.
    stream_intro: "TCP delivers a stream of bytes, not messages: one read can carry the end of one frame and the start of the next (\"sticky packets\", 粘包), and one frame can arrive in several reads (\"split packets\", 拆包). The receiver finds every frame from its header: the length field says where it ends", "TCP 传输的是字节流，不是消息：一次读取可能同时含有一个帧的结尾和下一个帧的开头（粘包），一个帧也可能分几次才读完（拆包）。接收方靠帧头找到每个帧：长度字段说明帧在哪里结束";
    stream_rows: "Each row is one TCP read (client to server) or write (server to client), its bytes split by what they belong to. Click a frame to see its anatomy.", "每一行是一次 TCP 读取（客户端到服务器）或写入（服务器到客户端），其中的字节按所属内容分段。点击帧可查看它的结构。";
    stream_none: "No connection yet: connect a client, then send a few messages quickly (or a large one) to see reads and frames part ways.", "还没有连接：连接一个客户端，快速连发几条消息（或发一条大消息），就能看到读取和帧并不对齐。";
    stream_summary: "{0} call(s) carried {1} frame(s): {2} call(s) held more than one thing (sticky), {3} frame(s) came in more than one call (split).", "{0} 次调用承载了 {1} 个帧：{2} 次调用含有不止一样东西（粘包），{3} 个帧分多次才到（拆包）。";
    stream_call: "{0} bytes at {1}", "{0} 字节，位于 {1}";
    stream_http: "HTTP {0} B", "HTTP {0} 字节";
    stream_frame_whole: "F{0} {1} B", "帧{0} {1} 字节";
    stream_frame_part: "F{0} {1}/{2} B", "帧{0} {1}/{2} 字节";
    stream_rest: "{0} B not (yet) a whole frame", "{0} 字节尚未组成完整的帧";
    sticky: "sticky", "粘包";

    // Live tab.
    connections: "Connections", "连接";
    connections_hint: "click one to filter the frames and see its handshake", "点击一个连接：只看它的帧，并查看它的握手";
    all_connections: "all connections", "全部连接";
    conn_filter_label: "Find:", "查找：";
    conn_filter_hint: "e.g. #3  open  proxy  :5123  /chat", "例如 #3  open  proxy  :5123  /chat";
    conn_filter_help: "Space-separated terms, all must match: #N (connection N); open, closed, handshaking, unclean (closed without a clean close), http (answered without an upgrade); server, client, proxy, file, tls; any other word is looked for in the addresses, the path and the subprotocol.", "以空格分隔的条件，须全部满足：#N（第 N 个连接）；open（已打开）、closed（已关闭）、handshaking（握手中）、unclean（未正常关闭）、http（未升级，以 HTTP 回答）；server、client、proxy、file、tls（连接类型）；其他词会在地址、路径和子协议中查找。";
    conn_filter_count: "{0} of {1} connections", "{1} 个连接中的 {0} 个";
    handshaking: "handshaking", "握手中";
    open: "open", "已打开";
    closed: "closed", "已关闭";
    unclean: " (unclean)", "（非正常）";
    conn_counts: "frames {0}/{1}  bytes {2}/{3}", "帧 {0}/{1}  字节 {2}/{3}";
    frames: "Frames", "帧";
    frames_hint: "each row is one frame; TCP reads are not frames: see the counts on the left", "每行是一个帧；TCP 读取不等于帧：左侧分别计数";
    pause: "pause", "暂停";
    follow: "follow", "跟随";
    clear: "clear", "清空";
    clear_hover: "forget every captured frame (connections stay)", "清除所有已捕获的帧（连接保留）";
    filter_label: "Filter:", "筛选：";
    filter_hint: "filter: text #3 c->s op:ping len>100 /re/ !", "筛选：文本 #3 c->s op:ping len>100 /正则/ !";
    filter_hover: "every term must match: #3 connection, c->s or s->c direction, op:ping opcode (name or number), len>100 len<10 len=0 payload length, /regex/ over the payload bytes, ! broke a rule; any other word is looked for in the opcode name and the payload (case ignored)", "每一项都须匹配：#3 连接，c->s 或 s->c 方向，op:ping 操作码（名称或数字），len>100 len<10 len=0 载荷长度，/正则/ 匹配载荷字节，! 违反规则；其他词在操作码名称和载荷中查找（不分大小写）";
    filtered_n: "{0} of {1} frames match", "{1} 个帧中有 {0} 个匹配";
    col_time: "time s", "时间 s";
    col_conn: "conn", "连接";
    col_dir: "dir", "方向";
    col_opcode: "opcode", "操作码";
    col_length: "length", "长度";
    col_payload: "payload", "载荷";
    bit_form: "{0} ({1}-bit)", "{0}（{1} 位）";
    anatomy: "Frame anatomy", "帧结构";
    select_frame: "Select a frame in the table to see every bit of it.", "在表格中选择一个帧，查看它的每一位。";
    frame_title: "Frame {0} — #{1} {2} — {3}", "第 {0} 帧 — #{1} {2} — {3}";
    part_of: "Part of a {0} message of {1} bytes carried by {2} frame(s); click one to see it:", "属于一条 {0} 消息（{1} 字节），由 {2} 个帧承载；点击查看各帧：";
    reassembled: "The message, reassembled from its fragments (§5.4):", "由各分片重组出的消息（§5.4）：";
    send: "Send:", "发送：";
    send_text: "text", "文本";
    send_binary: "binary (hex)", "二进制（十六进制）";
    code: "code ", "状态码 ";
    close: "close", "关闭";
    close_hover: "close frame with this code; the text is the reason", "发送带此状态码的关闭帧；文本框内容作为原因";
    select_open: "select an open connection to send to it", "选择一个已打开的连接才能发送";
    not_sent: "not sent: {0}", "未发送：{0}";

    // Anatomy.
    anatomy_intro1: "The fields of one frame, as RFC 6455", "一个帧的各个字段，如 RFC 6455";
    anatomy_intro2: "draws them. Byte offsets count from the first byte after the handshake (the TCP vs frames tab counts from the connection's first byte).", "所画。字节偏移从握手之后的第一个字节算起（“TCP 与帧”页从连接的第一个字节算起）。";
    bits_len7: "payload len (7)", "载荷长度 (7)";
    fin_final: "final fragment", "最后一个分片";
    fin_more: "more fragments follow", "后面还有分片";
    rsv_rule: "must be 0 unless an extension defines them", "必须为 0，除非扩展定义了它们";
    control: " (control)", "（控制帧）";
    masked: "masked (clients must mask)", "已掩码（客户端必须掩码）";
    unmasked: "not masked (servers never mask)", "未掩码（服务器从不掩码）";
    len_field: "length", "长度";
    len7: "{0} bytes — 7-bit form: len7 holds the length itself (0-125)", "{0} 字节 — 7 位形式：len7 本身就是长度（0-125）";
    len16: "{0} bytes — len7 = 126, then a 16-bit length in bytes 2-3 (126-65535)", "{0} 字节 — len7 = 126，随后字节 2-3（从 0 数起）是 16 位长度（126-65535）";
    len64: "{0} bytes — len7 = 127, then a 64-bit length in bytes 2-9 (65536 and up)", "{0} 字节 — len7 = 127，随后字节 2-9（从 0 数起）是 64 位长度（65536 及以上）";
    masking_key: "masking key", "掩码键";
    fragment: "fragment", "分片";
    frag_whole: "a whole message in one frame", "一个帧就是一条完整消息";
    frag_first: "the first fragment of a message (FIN = 0)", "分片消息的第一个分片（FIN = 0）";
    frag_middle: "a middle fragment", "中间的分片";
    frag_last: "the last fragment (FIN = 1)", "最后一个分片（FIN = 1）";
    frag_control: "a control frame (may come between fragments, §5.4)", "控制帧（可以夹在分片之间，§5.4）";
    frag_invalid: "belongs to no valid message", "不属于任何合法消息";
    on_wire: "Bytes on the wire", "线上的字节";
    hover_bytes: "hover a field or a byte: its bytes light up", "鼠标指向字段或字节：对应的字节会高亮";
    more_bytes: "... {0} more bytes", "……还有 {0} 字节";
    more_chars: "... {0} more characters", "……还有 {0} 个字符";
    more_frames: "... {0} more frames", "……还有 {0} 个帧";
    legend_head: "FIN/RSV/opcode", "FIN/RSV/操作码";
    legend_len: "MASK/length", "MASK/长度";
    legend_payload: "payload", "载荷";
    unmask_title: "Unmasking: payload[i] = wire[i] XOR key[i mod 4]  (§5.3)", "去掩码：payload[i] = wire[i] XOR key[i mod 4]（§5.3）";
    col_wire: "wire", "线上";
    col_key: "key", "键";
    col_byte: "byte", "字节";
    col_char: "char", "字符";
    more_unmasked: "... {0} more bytes unmasked the same way", "……其余 {0} 字节以同样方式去掩码";
    payload: "Payload", "载荷";
    not_kept: "(not kept: decoding stopped at this header, or the capture budget dropped its first frames)", "（未保留：解码在此帧头处停止，或因捕获预算已丢弃其前面的帧）";
    close_no_code: "no status code (received as 1005)", "没有状态码（按 1005 处理）";
    close_code: "close code {0}: {1}", "关闭状态码 {0}：{1}";
    close_reason: "reason: {0}", "原因：{0}";
    reason_not_utf8: "reason is not UTF-8 at byte {0}", "原因在偏移 {0} 处不是合法的 UTF-8";
    close_one_byte: "1-byte body: too short for a code", "载荷只有 1 字节：放不下状态码";
    rules_broken: "Rules broken", "违反的规则";
    violation: "{0} — bytes {1}..{2} — close {3}", "{0} — 字节 {1}..{2} — 关闭码 {3}";
    empty: "(empty)", "（空）";
    text_n: "text ({0} bytes):", "文本（{0} 字节）：";
    json_n: "JSON ({0} bytes), pretty-printed:", "JSON（{0} 字节），格式化显示：";
    binary_n: "binary ({0} bytes), hex:", "二进制（{0} 字节），十六进制：";

    // permessage-deflate in the window (src/gui/deflate_view.rs): the handshake's offer and
    // answer, a compressed message's bytes beside its text, the server window's switch.
    dv_title: "Compression: permessage-deflate (RFC 7692)", "压缩：permessage-deflate（RFC 7692）";
    dv_intro: "The client offers compression in Sec-WebSocket-Extensions; the server agrees by naming the extension in its 101. Then a message may be compressed, and RSV1 on its first frame says so.", "客户端在 Sec-WebSocket-Extensions 中提出压缩；服务器在 101 中写出这个扩展即表示同意。此后消息可以压缩，其第一个帧的 RSV1 表示它是压缩的。";
    dv_offer_header: "What the client sent:", "客户端发送的：";
    dv_offer_n: "Offer {0}:", "提议 {0}：";
    dv_offer_other: "another extension: this view explains only permessage-deflate", "其他扩展：这里只解释 permessage-deflate";
    dv_offer_invalid: "invalid (an unknown or repeated parameter, or a window size outside 8-15): the server must decline it", "无效（未知参数、重复参数，或窗口大小不在 8-15 之间）：服务器必须拒绝它";
    dv_offer_bare: "permessage-deflate with no parameters: each side keeps its window between messages, windows up to 2^15 = 32768 bytes", "不带参数的 permessage-deflate：双方在消息之间都保留窗口，窗口最大 2^15 = 32768 字节";
    dv_param_unknown: "not a parameter of permessage-deflate (or a value where none belongs): the offer is invalid", "不是 permessage-deflate 的参数（或者不该有值却带了值）：该提议无效";
    dv_offer_snct: "asks the server to empty its compression window after every message", "要求服务器在每条消息之后清空它的压缩窗口";
    dv_offer_cnct: "tells the server the client will empty its window after every message", "告诉服务器：客户端会在每条消息之后清空自己的窗口";
    dv_offer_smwb: "asks the server to look back at most 2^{0} = {1} bytes", "要求服务器最多回看 2^{0} = {1} 字节";
    dv_offer_cmwb_bare: "the client can use a smaller window if the server asks for one", "如果服务器要求，客户端可以使用更小的窗口";
    dv_offer_cmwb: "the client will look back at most 2^{0} = {1} bytes", "客户端最多回看 2^{0} = {1} 字节";
    dv_agreed: "Agreed in the 101:", "101 中约定的：";
    dv_named: "named: on", "已写出：开启";
    dv_agreed_by_default: "(not named: the default)", "（未写出：取默认值）";
    dv_snct_on: "the server empties its window after every message: each of its messages stands alone, and a repeated text costs as much the second time", "服务器在每条消息之后清空窗口：它的每条消息都是独立的，重复的文本第二次也不会变小";
    dv_snct_off: "the server keeps its compression window between messages: a text it sent before shrinks to a few bytes when it sends it again", "服务器在消息之间保留压缩窗口：它发过的文本再次发送时只需几个字节";
    dv_cnct_on: "the client empties its window after every message: each of its messages stands alone", "客户端在每条消息之后清空窗口：它的每条消息都是独立的";
    dv_cnct_off: "the client keeps its compression window between messages: a text it sent before shrinks to a few bytes when it sends it again", "客户端在消息之间保留压缩窗口：它发过的文本再次发送时只需几个字节";
    dv_smwb: "the server looks back at most 2^{0} = {1} bytes for a repeat", "服务器最多回看 2^{0} = {1} 字节来找重复";
    dv_cmwb: "the client looks back at most 2^{0} = {1} bytes for a repeat", "客户端最多回看 2^{0} = {1} 字节来找重复";
    dv_declined: "Offered, but not agreed: the 101 has no permessage-deflate, so every message travels uncompressed and RSV1 set on a frame is a violation (RFC 6455 §5.2).", "提出了但没有约定：101 中没有 permessage-deflate，所以每条消息都不压缩，帧上置位的 RSV1 是违规（RFC 6455 §5.2）。";
    dv_declined_invalid: "Why: no offer was valid, and an invalid offer must be declined (§7.1).", "原因：没有一个提议有效，无效的提议必须拒绝（§7.1）。";
    dv_declined_ours: "Why: wsscope's server has permessage-deflate switched off (serve --no-deflate, or the switch in the server window).", "原因：wsscope 的服务器关闭了 permessage-deflate（serve --no-deflate，或服务器窗口中的开关）。";
    dv_declined_theirs: "Why: the server chose not to, or does not implement permessage-deflate (a server may always decline, §5).", "原因：服务器选择不压缩，或者没有实现 permessage-deflate（服务器总可以拒绝，§5）。";
    dv_refused: "The handshake was refused: no extension applies.", "握手被拒绝：任何扩展都不生效。";
    dv_bad_answer: "The 101 names permessage-deflate, but not as a valid answer to this request (not offered, or an invalid parameter): a client must fail the connection (§7.1).", "101 写出了 permessage-deflate，但不是对这个请求的合法回答（没有提出过，或参数无效）：客户端必须使连接失败（§7.1）。";
    dv_rsv1_compressed: "RSV1 = 1: compressed (permessage-deflate)", "RSV1 = 1：已压缩（permessage-deflate）";
    dv_payload_compressed: "compressed bytes; the text they carry is under \"Compressed message\" below", "压缩后的字节；它们承载的文本见下方“压缩消息”";
    dv_msg_title: "Compressed message", "压缩消息";
    dv_msg_intro: "RSV1 on its first frame: the sender compressed this message with DEFLATE and sent the compressed bytes as its payload", "第一个帧的 RSV1 置位：发送方用 DEFLATE 压缩了这条消息，并把压缩后的字节作为载荷发送";
    dv_wire_n: "On the wire: {0} bytes", "线上：{0} 字节";
    dv_wire_frames: "(the payloads of its {0} frames, one after the other)", "（它的 {0} 个帧的载荷，依次相接）";
    dv_inflated_n: "Inflated: {0} bytes", "解压后：{0} 字节";
    dv_tail: "The compressor's sync flush ended with 00 00 ff ff; the sender removed those 4 bytes, and the receiver appends them again before inflating:", "压缩器的同步刷新以 00 00 ff ff 结尾；发送方去掉了这 4 个字节，接收方在解压前把它们补回：";
    dv_ratio: "{0} -> {1} bytes, {2} %", "{0} -> {1} 字节，{2} %";
    dv_ratio_empty: "{0} -> {1} bytes", "{0} -> {1} 字节";
    dv_alone: "Stands alone: a fresh inflater, knowing no earlier message, gives the same bytes.", "独立：一个不知道任何先前消息的新解压器也能得到相同的字节。";
    dv_needs_earlier: "Needs the earlier messages: it used the shared window (context takeover), so a fresh inflater cannot inflate it alone.", "依赖先前的消息：它用了共享窗口（上下文接管），所以新的解压器无法单独解压它。";
    dv_fresh_said: "a fresh inflater says: {0}", "新的解压器报告：{0}";
    dv_sender_resets: "(this sender agreed to empty its window after every message, so every message of it stands alone)", "（该发送方约定在每条消息之后清空窗口，所以它的每条消息都是独立的）";
    dv_msg_not_kept: "(the message or one of its frames is no longer kept: the capture budget dropped it)", "（这条消息或它的某个帧已不再保留：捕获预算丢弃了它）";
    dv_uncompressed: "RSV1 = 0: this message was sent uncompressed (with permessage-deflate each message may choose)", "RSV1 = 0：这条消息没有压缩（使用 permessage-deflate 时每条消息可以自行选择）";
    dv_switch: "permessage-deflate (compression)", "permessage-deflate（压缩）";
    connect_deflate: "offer permessage-deflate (compression)", "提出 permessage-deflate（压缩）";
    connect_deflate_hover: "the client offers compression as Chromium does (RFC 7692), and the proxy passes the client's offer upstream; off is like --no-deflate", "客户端像 Chromium 一样提出压缩（RFC 7692），代理把客户端的提议原样转给上游；关闭相当于 --no-deflate";
    dv_switch_hover: "agree to compression when a client offers it (RFC 7692); off is like serve --no-deflate: messages travel uncompressed and RSV1 is a violation", "客户端提出压缩时同意（RFC 7692）；关闭相当于 serve --no-deflate：消息不压缩，RSV1 视为违规";

    // Explanations shared by the CLI and the window (src/explain).
    step_concat_chars: "{0} characters of key, then the {1}-character GUID that RFC 6455 §1.3 fixes for every server", "key 的 {0} 个字符，后接 RFC 6455 §1.3 为所有服务器规定的 {1} 个字符的 GUID";
    step_n: "step {0}", "第 {0} 步";
    len_note7: "length {0} (7-bit form: the value is in len7)", "长度 {0}（7 位形式：值就在 len7 里）";
    len_note16: "length {0} (16-bit form: len7 = 126, then bytes {1}..{2} = {3})", "长度 {0}（16 位形式：len7 = 126，随后字节 {1}..{2} = {3}）";
    len_note64: "length {0} (64-bit form: len7 = 127, then bytes {1}..{2} = {3})", "长度 {0}（64 位形式：len7 = 127，随后字节 {1}..{2} = {3}）";
    hex_empty: "no bytes given: pass hex such as '81 85 37 fa 21 3d 7f 9f 4d 51 58'", "没有给出字节：请传入十六进制，例如 '81 85 37 fa 21 3d 7f 9f 4d 51 58'";
    hex_bad_char: "'{0}' at character {1} is not a hex digit (0-9, a-f) or a separator (space, ':', '-', ',')", "第 {1} 个字符 '{0}' 既不是十六进制数字（0-9、a-f），也不是分隔符（空格、':'、'-'、','）";
    hex_odd_digits: "odd number of hex digits in '{0}': every byte is two hex digits", "'{0}' 中十六进制数字的个数是奇数：每个字节是两个十六进制数字";
    cli_sender_guess: "({0}; --role client|server to choose)", "（{0}；可用 --role client|server 指定）";
    cli_stream: "{0} bytes, sent by the {1}", "{0} 字节，发送方：{1}";
    cli_frame: "frame {0}: bytes {1}..{2} ({3} header + {4} payload): {5}", "第 {0} 帧：字节 {1}..{2}（帧头 {3} 字节 + 载荷 {4} 字节）：{5}";
    cli_byte: "byte {0}  {1} = {2}", "字节 {0}  {1} = {2}";
    cli_bytes_at: "bytes {0}..{1}", "字节 {0}..{1}";
    cli_hex: "hex", "十六进制";
    cli_hex_more: "... ({0} more)", "……（还有 {0} 字节）";
    cli_payload_text: "payload text {0}", "载荷（文本）{0}";
    cli_payload_hex: "payload hex {0}", "载荷（十六进制）{0}";
    cli_payload_empty: "payload: (empty)", "载荷：（空）";
    cli_no_violations: "violations: none", "违规：无";
    cli_violation: "VIOLATION RFC 6455 §{0}: {1}", "违规 RFC 6455 §{0}：{1}";
    cli_message: "message {0}: {1} in {2} frame(s), {3} bytes, bytes {4}..{5} of the stream", "消息 {0}：{1}，由 {2} 个帧组成，{3} 字节，位于流的字节 {4}..{5}";
    cli_totals: "{0} frame(s), {1} message(s)", "{0} 个帧，{1} 条消息";
    cli_empty_key: "the key is empty; pass the Sec-WebSocket-Key value, e.g. dGhlIHNhbXBsZSBub25jZQ==", "key 是空的；请传入 Sec-WebSocket-Key 的值，例如 dGhlIHNhbXBsZSBub25jZQ==";
    cli_frame_truncated: " (truncated: the header announces {0} payload bytes, up to byte {1} of the stream)", "（已截断：帧头声明了 {0} 字节载荷，直到流的第 {1} 字节）";

    // What the protocol core found, as data put into words (see `protocol.rs`).
    vd_rsv: "RSV{0} is set", "RSV{0} 已置位";
    vd_opcode: "opcode {0}", "操作码 {0}";
    vd_payload_len: "{0} bytes", "{0} 字节";
    vd_length_form: "{0} bytes sent in the {1} form; the {2} form is enough", "{0} 字节用了 {1}形式；{2}形式就够了";
    vd_open_message: "a {0} message of {1} frame(s) is still open", "一条 {0} 消息（已有 {1} 帧）还没有结束";
    vd_after_close: "a {0} frame after the close frame", "关闭帧之后的 {0} 帧";
    vd_utf8_at: "payload byte {0} of this frame", "本帧载荷偏移 {0} 处";
    vd_utf8_after_ext: "after {0}: byte {1} of the message", "经 {0} 解码后：消息偏移 {1} 处";
    vd_close_code: "code {0}: {1}", "状态码 {0}：{1}";
    vd_reason_byte: "reason byte {0}", "原因偏移 {0} 处";
    vd_size: "{0} bytes, limit {1}", "{0} 字节，上限 {1}";
    vd_ext_bad_data: "{0} could not decode the data: {1}", "{0} 无法解码这些数据：{1}";
    vd_ext_too_big: "{0}: the decoded message passes {1} bytes", "{0}：解码后的消息超过 {1} 字节";
    vd_utf8_at_msg: "payload byte {0} of this frame; the bad sequence starts at byte {1} of the message", "本帧载荷偏移 {0} 处；非法序列从消息偏移 {1} 处开始";
    len_form7: "7-bit", "7 位";
    len_form16: "7+16-bit (126 + u16)", "7+16 位（126 + u16）";
    len_form64: "7+64-bit (127 + u64)", "7+64 位（127 + u64）";
    found_missing: "missing", "缺失";
    found_empty: "empty", "值为空";
    found_repeated: "sent {0} times", "发送了 {0} 次";
    found_absent: "absent", "未发送";
    found_bad_key: "{0}: {1}", "{0}：{1}";
    ap_malformed: "{0} does not follow the extension grammar (RFC 6455 §9.1)", "{0} 不符合扩展的语法（RFC 6455 §9.1）";
    ap_unknown: "{0} is not a parameter of a permessage-deflate answer (RFC 7692 §7.1)", "{0} 不是 permessage-deflate 应答的参数（RFC 7692 §7.1）";
    ap_repeated: "{0} appears more than once (RFC 7692 §7.1)", "{0} 出现了不止一次（RFC 7692 §7.1）";
    ap_bad_value: "{0}={1} is not a valid value (RFC 7692 §7.1.2: window bits 8 to 15)", "{0}={1} 不是有效的值（RFC 7692 §7.1.2：窗口位数 8 到 15）";
    ap_flag_value: "{0} takes no value, got {1} (RFC 7692 §7.1.1)", "{0} 不带值，却给了 {1}（RFC 7692 §7.1.1）";
    ap_no_value: "{0} needs a value in an answer (RFC 7692 §7.1.2)", "{0} 在应答中必须带值（RFC 7692 §7.1.2）";
    ap_not_offered: "{0} was not in our offer (RFC 7692 §7.1.2.2)", "我们的提议里没有 {0}（RFC 7692 §7.1.2.2）";
    ap_twice: "permessage-deflate accepted twice: both would claim RSV1 (RFC 7692 §5)", "permessage-deflate 被接受了两次：两者都会占用 RSV1（RFC 7692 §5）";
    check_line: "[{0}] {1}: {2} — {3}", "[{0}] {1}：{2} — {3}";
    refused_rule: "RFC 6455 §4.2.1 item {0}: {1} ({2})", "RFC 6455 §4.2.1 第 {0} 条：{1}（{2}）";
    refused_more: " and {0} more rule(s)", "，另有 {0} 条规则未通过";
    refused_version: "unsupported Sec-WebSocket-Version {0}; this server speaks 13 (§4.4)", "不支持的 Sec-WebSocket-Version {0}；本服务器只支持 13（§4.4）";
    b64_invalid_byte: "{0} at position {1} is not a base64 character", "位置 {1} 的 {0} 不是 base64 字符";
    b64_invalid_length: "{0} base64 characters cannot encode whole bytes", "{0} 个 base64 字符无法编码整数个字节";
    b64_invalid_last: "the last character, {0} at position {1}, has bits left over (not the canonical encoding)", "位置 {1} 的最后一个字符 {0} 含有多余的位（不是规范编码）";
    b64_padding: "the '=' padding is missing or misplaced", "'=' 填充缺失或位置不对";
    paren: " ({0})", "（{0}）";
    vd_mask_bit: "the MASK bit is {0}", "MASK 位是 {0}";
    tr_violation_line: "{0} RFC 6455 §{1}: {2} [bytes {3}..{4}] -> close {5}", "{0} RFC 6455 §{1}：{2} [字节 {3}..{4}] -> 关闭码 {5}";
    tr_header: "header {0}", "帧头 {0}";
    op_reserved_data: "reserved (data)", "保留（数据帧）";
    op_reserved_control: "reserved (control)", "保留（控制帧）";
    filter_bad_regex: "bad regular expression /{0}/: {1}", "正则表达式 /{0}/ 无效：{1}";
    filter_bad_term: "unknown filter term {0}", "无法识别的筛选项 {0}";
    record: "Record", "录制";
    record_hover: "write every event from now on to a JSON-lines file in the current folder (read it back with `wsscope read` or `wsscope open`): unlike the window's memory budget, nothing on disk is dropped", "从现在起把每个事件写入当前目录下的 JSON lines 文件（可用 `wsscope read` 或 `wsscope open` 读回）：与窗口的内存预算不同，写入磁盘的内容不会被丢弃";
    stop_recording: "Stop recording", "停止录制";
    recording_n: "recording: {0} events to {1}", "录制中：{0} 个事件写入 {1}";
    recorded_n: "recorded {0} events to {1}", "已录制 {0} 个事件到 {1}";
    record_failed: "recording stopped: {0}", "录制已停止：{0}";
    opening_n: "opening {0}: {1} events", "正在打开 {0}：{1} 个事件";
    opened_n: "opened {0}: {1} events", "已打开 {0}：{1} 个事件";
    open_failed: "{0}: read {1} events, then: {2}", "{0}：读取 {1} 个事件后出错：{2}";
    payload_not_captured: "(payload not captured: decoding stopped at this header)", "（载荷未捕获：解码在此帧头处停止）";
    ev_gap_evicted: "the window's memory budget dropped them before the export", "导出前窗口的内存预算已丢弃它们";
    export: "Export", "导出";
    export_hover: "write what the window holds now to a file in the current folder (what the memory budget dropped is not in it: Record keeps everything)", "把窗口当前保存的内容写入当前目录下的文件（内存预算已丢弃的内容不在其中：录制会保留全部）";
    export_jsonl: "JSON lines (wsscope read / open)", "JSON lines（wsscope read / open）";
    export_pcap: "pcap (Wireshark, tshark)", "pcap（Wireshark、tshark）";
    export_har: "HAR (browser DevTools)", "HAR（浏览器开发者工具）";
    exporting: "exporting {0} events to {1}", "正在导出 {0} 个事件到 {1}";
    exported_jsonl: "exported {0} events to {1}", "已导出 {0} 个事件到 {1}";
    exported_pcap: "exported {0} connections, {1} packets, {2} TCP bytes to {3}", "已导出 {0} 个连接、{1} 个数据包、{2} 字节 TCP 数据到 {3}";
    exported_har: "exported {0} entries ({1} WebSocket), {2} messages to {3}", "已导出 {0} 个条目（{1} 个 WebSocket）、{2} 条消息到 {3}";
    export_failed: "export to {0} failed: {1}", "导出到 {0} 失败：{1}";
    export_evicted: "while it ran, the memory budget dropped {0} TCP reads/writes ({1} bytes) and {2} frames before the export reached them: the file marks the gaps (Record keeps everything)", "导出进行时，内存预算在写到之前丢弃了 {0} 次 TCP 读写（{1} 字节）和 {2} 个帧：文件中标出了缺口（录制会保留全部）";
    json_too_nested: "JSON too large or too deeply nested to pretty-print: shown as sent", "JSON 过大或嵌套过深，无法美化显示：按原样显示";
    ev_limit_close_timeout: "our close frame was not answered within {0} ms: TCP closed after {1} ms without the closing handshake (no close frame received: 1006, §7.1.5)", "我方的关闭帧在 {0} 毫秒内没有得到回应：{1} 毫秒后关闭 TCP，关闭握手未完成（未收到关闭帧：1006，§7.1.5）";
    ev_limit_ping_timeout: "no pong within {0} ms of a keepalive ping (waited {1} ms): closing with 1011 and closing TCP", "保活 ping 发出后 {0} 毫秒内没有收到 pong（已等 {1} 毫秒）：以 1011 关闭，并关闭 TCP";
    http_host_not_allowed: "Host {0} is not allowed (a guard against DNS rebinding; see --allowed-hosts)", "不允许的 Host {0}（防范 DNS 重绑定；见 --allowed-hosts）";
    refused_origin: "Origin {0} is not allowed (see --allowed-origins)", "不允许的 Origin {0}（见 --allowed-origins）";
    close_timeout: "close timeout (s)", "关闭超时（秒）";
    close_timeout_hover: "how long a close frame we sent waits for the client's before TCP is closed anyway", "我方发出关闭帧后等待客户端回应的时间，超时即关闭 TCP";
    ping_interval: "keepalive ping every (s, 0 = off)", "保活 ping 间隔（秒，0 = 关闭）";
    ping_interval_hover: "off by default, so a class sees only its own frames; a client that does not answer a ping in time is closed with 1011", "默认关闭，课堂上只看到自己的帧；没有按时回应 ping 的客户端会以 1011 关闭";
    ping_timeout: "pong timeout (s)", "pong 超时（秒）";
    allowed_origins: "allowed origins", "允许的 Origin";
    allowed_origins_note: "* (any), or origins separated by commas, e.g. http://localhost:8765; a request without Origin is not from a browser page and is not judged", "*（任意），或用逗号分隔的 Origin，如 http://localhost:8765；没有 Origin 的请求不是来自浏览器页面，不做判断";
    allowed_hosts: "allowed hosts", "允许的 Host";
    allowed_hosts_note: "empty: only loopback names on a loopback bind (DNS rebinding guard), any otherwise; all, or names (.example.com covers its subdomains)", "留空：绑定回环地址时只允许回环名称（防范 DNS 重绑定），否则任意；all，或主机名（.example.com 包括其子域名）";
    bad_origin: "not an origin: {0} (scheme://host[:port], or null)", "不是 Origin：{0}（scheme://host[:port] 或 null）";
    bad_host: "not a host name: {0}", "不是主机名：{0}";
    origin_policy: "origins: {0}", "Origin：{0}";
    origin_policy_hover: "which web pages may connect (--allowed-origins; server options)", "哪些网页可以连接（--allowed-origins；服务器选项）";
}

mod events;
mod files;
mod protocol;
pub use events::{
    error_text, http_reason, io_text, limit_text, listening_warning, request_text, tls_text,
};
pub use files::{import_error, read_error};
pub use protocol::{
    answer_problem, base64_problem, check_found, check_line, client_failure, key_check,
    len_encoding, opcode_name, refusal, response_check_line, violation_detail,
};

/// A §4.2.1 rule in `lang`.
pub fn check_rule(lang: Lang, id: CheckId) -> &'static str {
    if lang == Lang::En {
        return id.rule();
    }
    match id {
        CheckId::Method => "方法是 GET",
        CheckId::HttpVersion => "HTTP/1.1 或更高",
        CheckId::Host => "有 Host 头（只有一个）",
        CheckId::Upgrade => "Upgrade 包含 \"websocket\"（不区分大小写）",
        CheckId::Connection => "Connection 包含 \"Upgrade\" 标记",
        CheckId::Key => "Sec-WebSocket-Key 只出现一次，是 16 字节的 base64",
        CheckId::Version => "Sec-WebSocket-Version 为 13",
        CheckId::Origin => "Origin（可选；浏览器会发送）",
        CheckId::Protocol => "Sec-WebSocket-Protocol（可选的子协议）",
        CheckId::Extensions => "Sec-WebSocket-Extensions（可选）",
    }
}

/// A §4.1 rule a client checks in the server's answer, in `lang`.
pub fn response_rule(lang: Lang, id: ResponseCheckId) -> &'static str {
    match (lang, id) {
        (Lang::En, ResponseCheckId::Status) => "status is 101 Switching Protocols",
        (Lang::En, ResponseCheckId::Upgrade) => "Upgrade is \"websocket\" (case-insensitive)",
        (Lang::En, ResponseCheckId::Connection) => "Connection contains the \"Upgrade\" token",
        (Lang::En, ResponseCheckId::Accept) => {
            "Sec-WebSocket-Accept is base64(SHA-1(our key + GUID))"
        }
        (Lang::En, ResponseCheckId::Extensions) => {
            "no extension we did not offer, and its parameters ones we accept"
        }
        (Lang::En, ResponseCheckId::Protocol) => "a subprotocol we offered, or none",
        (Lang::Zh, ResponseCheckId::Status) => "状态码是 101 Switching Protocols",
        (Lang::Zh, ResponseCheckId::Upgrade) => "Upgrade 是 \"websocket\"（不区分大小写）",
        (Lang::Zh, ResponseCheckId::Connection) => "Connection 包含 \"Upgrade\" 标记",
        (Lang::Zh, ResponseCheckId::Accept) => {
            "Sec-WebSocket-Accept 等于 base64(SHA-1(我们的 key + GUID))"
        }
        (Lang::Zh, ResponseCheckId::Extensions) => "没有我们未提出的扩展，参数是我们接受的",
        (Lang::Zh, ResponseCheckId::Protocol) => "子协议是我们提出的之一，或者没有",
    }
}

/// A framing rule in `lang`.
pub fn rule(lang: Lang, r: Rule) -> &'static str {
    if lang == Lang::En {
        return r.description();
    }
    match r {
        Rule::ReservedBitSet => "RSV1-3 必须为 0，除非扩展定义了它们",
        Rule::ReservedOpcode => "保留的操作码：接收方必须使连接失败",
        Rule::UnmaskedClientFrame => "客户端发送的每个帧都必须掩码",
        Rule::MaskedServerFrame => "服务器发送的帧一律不得掩码",
        Rule::ControlFrameTooLong => "控制帧的载荷不得超过 125 字节",
        Rule::FragmentedControlFrame => "控制帧不得分片（FIN 必须为 1）",
        Rule::LengthTopBitSet => "64 位长度的最高位必须为 0",
        Rule::NonMinimalLength => "长度必须用最短的编码形式",
        Rule::UnexpectedContinuation => "没有未完成的消息，却出现了延续帧",
        Rule::ExpectedContinuation => "上一条消息还没结束，这里应是延续帧",
        Rule::InvalidUtf8 => "文本消息必须是合法的 UTF-8",
        Rule::CloseOneBytePayload => "关闭帧的载荷要么为空，要么以 2 字节状态码开头",
        Rule::InvalidCloseCode => "这个关闭状态码不允许在线上发送",
        Rule::InvalidCloseReason => "关闭原因必须是合法的 UTF-8",
        Rule::FrameAfterClose => "关闭帧之后不得再发送数据",
        Rule::FrameTooBig => "帧载荷超过了配置的上限",
        Rule::MessageTooBig => "消息超过了配置的上限",
        Rule::ExtensionError => "已协商的扩展无法处理该载荷",
    }
}

/// What a close code means, in `lang`.
pub fn close_meaning(lang: Lang, c: CloseCode) -> &'static str {
    if lang == Lang::En {
        return c.meaning();
    }
    match c {
        CloseCode::Normal => "正常关闭",
        CloseCode::Away => "离开（如服务器关闭或页面跳转）",
        CloseCode::Protocol => "协议错误",
        CloseCode::Unsupported => "不支持的数据类型",
        CloseCode::NoStatus => "未收到状态码（仅用于报告，不会出现在线上）",
        CloseCode::Abnormal => "异常关闭（仅用于报告，不会出现在线上）",
        CloseCode::InvalidPayload => "帧载荷数据无效",
        CloseCode::Policy => "违反策略",
        CloseCode::TooBig => "消息太大",
        CloseCode::MandatoryExtension => "缺少必需的扩展",
        CloseCode::InternalError => "服务器内部错误",
        CloseCode::ServiceRestart => "服务重启",
        CloseCode::TryAgainLater => "请稍后再试",
        CloseCode::BadGateway => "网关错误",
        CloseCode::TlsHandshake => "TLS 握手失败（仅用于报告，不会出现在线上）",
        CloseCode::Reserved(_) => "RFC 6455 保留给将来使用（不可发送）",
        CloseCode::Library(_) => "登记给库和框架使用",
        CloseCode::Private(_) => "应用程序私用",
        CloseCode::Invalid(_) => "不是合法的关闭状态码（不在 1000-4999 之内）",
    }
}

/// A frame's place in its message, in `lang`.
pub fn fragment(lang: Lang, f: Fragment) -> &'static str {
    let t = lang.t();
    match f {
        Fragment::Whole => t.frag_whole,
        Fragment::First => t.frag_first,
        Fragment::Middle => t.frag_middle,
        Fragment::Last => t.frag_last,
        Fragment::Control => t.frag_control,
        Fragment::Stray => t.frag_invalid,
    }
}

/// Every string a language can show, for the glyph-coverage test.
pub fn every_string(lang: Lang) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = ALL
        .iter()
        .map(|(_, en, zh)| if lang == Lang::En { *en } else { *zh })
        .collect();
    out.extend([Lang::En.other_name(), Lang::Zh.other_name()]);
    out.extend(CheckId::ALL.iter().map(|c| check_rule(lang, *c)));
    out.extend(ResponseCheckId::ALL.iter().map(|c| response_rule(lang, *c)));
    out.extend(Rule::ALL.iter().map(|r| rule(lang, *r)));
    out.extend((0..=5000u16).map(|c| close_meaning(lang, CloseCode::from(c))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(s: &str) -> Vec<String> {
        let mut v: Vec<String> = (0..10)
            .map(|i| format!("{{{i}}}"))
            .filter(|p| s.contains(p.as_str()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn both_languages_take_the_same_arguments() {
        for (name, en, zh) in ALL {
            assert_eq!(placeholders(en), placeholders(zh), "{name}");
        }
    }

    #[test]
    fn every_string_is_translated() {
        // Identical strings are allowed only where the text is a code or a formula.
        for (name, en, zh) in ALL {
            if en == zh {
                assert!(
                    en.chars()
                        .all(|c| c.is_ascii() && !c.is_ascii_lowercase() || " .+-".contains(c))
                        || en.starts_with(|c: char| c.is_ascii_digit()),
                    "{name} is not translated: {en}"
                );
            }
        }
    }

    #[test]
    fn the_locale_picks_the_language_in_posix_order() {
        let v = |s: &str| Some(s.to_string());
        assert_eq!(Lang::from_locale([None, None, v("zh_CN.UTF-8")]), Lang::Zh);
        assert_eq!(Lang::from_locale([None, None, v("en_US.UTF-8")]), Lang::En);
        assert_eq!(Lang::from_locale([None, None, None]), Lang::En);
        // LC_ALL wins over LANG, LC_MESSAGES over LANG; an empty value does not count.
        assert_eq!(
            Lang::from_locale([v("C"), None, v("zh_CN.UTF-8")]),
            Lang::En
        );
        assert_eq!(Lang::from_locale([None, v("zh_TW"), v("en_GB")]), Lang::Zh);
        assert_eq!(Lang::from_locale([v(""), None, v("zh_CN.UTF-8")]), Lang::Zh);
    }

    #[test]
    fn fill_replaces_every_placeholder() {
        assert_eq!(fill("{0} of {1}, {0}", &[&3, &"x"]), "3 of x, 3");
    }
}

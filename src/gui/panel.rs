//! What every panel gets (a read-only view of the capture and the language) and what it gives
//! back (commands for the server and requests to the window), applied after the UI pass: a
//! panel never holds the server or the store mutably, so it cannot half-change them mid-frame.

use crate::capture::{Capture, ConnState};
use crate::event::{Command, ConnId};
use crate::protocol::Role;

use super::i18n::Lang;

/// What a panel reads while it draws.
pub(super) struct PanelCtx<'a> {
    /// The capture store.
    pub capture: &'a Capture,
    /// The interface language.
    pub lang: Lang,
    /// The connection picked in the Live panel; the other tabs show the same one.
    pub selected_conn: Option<ConnId>,
    /// While heavy traffic spaces repaints (each costs much CPU), how far apart.
    pub spaced: Option<std::time::Duration>,
}

impl PanelCtx<'_> {
    /// The selected connection when it is open (the composer's and builder's target).
    pub fn open_target(&self) -> Option<ConnId> {
        self.selected_conn.filter(|id| {
            self.capture
                .connection(*id)
                .is_some_and(|c| c.state == ConnState::Open)
        })
    }
}

/// A request from a panel to the window (its other panels, the store, the status bar).
#[derive(Debug, Clone)]
pub(super) enum Action {
    /// Forget every frame and message (the connections stay).
    ClearCapture,
    /// Show frame `frame` of connection `conn` in the Live panel.
    ShowFrame {
        conn: ConnId,
        frame: crate::capture::Seq,
    },
    /// Open these bytes in the decoder, judged as sent by `sender`.
    Decode { hex: String, sender: Role },
    /// Put this text in the status bar.
    Status(String),
    /// Open a client connection (the Connect tab).
    Connect(Box<crate::client::ClientConfig>),
    /// Select this connection in the Live panel and show it there.
    SelectConn(ConnId),
    /// Start an inspecting proxy (the Connect tab's proxy section).
    Proxy(Box<crate::proxy::ProxyConfig>),
    /// Stop the proxy listening on this address.
    StopProxy(std::net::SocketAddr),
}

/// What panels push during a pass; the window sends and applies it once the pass is over.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// For the server, in the order the user asked.
    pub commands: Vec<Command>,
    /// For the window.
    pub actions: Vec<Action>,
}

impl Outbox {
    /// Queues `c` for the server.
    pub fn send(&mut self, c: Command) {
        self.commands.push(c);
    }

    /// Queues `a` for the window.
    pub fn request(&mut self, a: Action) {
        self.actions.push(a);
    }
}

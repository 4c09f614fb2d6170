//! A non-blocking client socket, plain (ws://) or inside TLS (wss://): plaintext in and out, the
//! way the capture sees it. What the socket does not take yet waits here; while it waits, the
//! owner reads no more from the other side (memory stays bounded, as in the server's `Wire`).

use std::io::{self, Read as _, Write as _};
use std::net::Shutdown;

use mio::net::TcpStream;

/// The socket and, for wss://, its TLS session.
pub(crate) struct Transport {
    pub(crate) sock: TcpStream,
    tls: Option<Box<rustls::ClientConnection>>,
    /// Plain only: bytes the socket has not taken yet, `unsent[sent..]`.
    unsent: Vec<u8>,
    sent: usize,
    /// The TCP stream ended (TLS: the records ended; what they held may still be read).
    eof: bool,
    /// Shut our sending side once everything is written.
    shut_pending: bool,
}

/// A TLS failure (rustls's words) as an I/O error of kind `InvalidData`.
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The rustls error inside `e`, if it is one.
pub(crate) fn as_tls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

impl Transport {
    pub(crate) fn plain(sock: TcpStream) -> Self {
        Self {
            sock,
            tls: None,
            unsent: Vec::new(),
            sent: 0,
            eof: false,
            shut_pending: false,
        }
    }

    pub(crate) fn tls(sock: TcpStream, mut session: rustls::ClientConnection) -> Self {
        // What we queue is bounded by the caller (it reads nothing more while bytes wait), not
        // by rustls's default 64 KiB, which would refuse part of a large message.
        session.set_buffer_limit(None);
        Self {
            tls: Some(Box::new(session)),
            ..Self::plain(sock)
        }
    }

    /// The TLS session, on wss://.
    pub(crate) fn session(&self) -> Option<&rustls::ClientConnection> {
        self.tls.as_deref()
    }

    /// Whether a TLS handshake is still going on (always false on ws://).
    pub(crate) fn handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// Whether bytes wait for the socket.
    pub(crate) fn has_unsent(&self) -> bool {
        match &self.tls {
            Some(t) => t.wants_write(),
            None => self.sent < self.unsent.len(),
        }
    }

    /// Reads plaintext: `Ok(0)` at the end of the stream, `WouldBlock` when nothing is there.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(tls) = self.tls.as_deref_mut() else {
                return (&self.sock).read(buf);
            };
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed TCP without close_notify: most servers do; the stream ends.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            match tls.read_tls(&mut self.sock) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            let state = tls.process_new_packets().map_err(tls_error);
            // Whatever the records asked for (handshake messages, an alert) goes out now.
            self.flush()?;
            state?;
        }
    }

    /// Queues plaintext and writes what the socket takes now.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self.tls.as_deref_mut() {
            Some(tls) => tls.writer().write_all(data)?,
            None => self.unsent.extend_from_slice(data),
        }
        self.flush()
    }

    /// Writes what waits, as far as the socket takes it.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self.tls.as_deref_mut() {
            Some(tls) => {
                while tls.wants_write() {
                    match tls.write_tls(&mut self.sock) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            None => {
                while self.sent < self.unsent.len() {
                    match (&self.sock).write(&self.unsent[self.sent..]) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => self.sent += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if self.sent == self.unsent.len() {
                    self.unsent.clear();
                    self.sent = 0;
                }
            }
        }
        if self.shut_pending && !self.has_unsent() {
            self.shut_pending = false;
            let _ = self.sock.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    /// Ends our sending side once what waits is written (TLS: after close_notify).
    pub(crate) fn shutdown_write(&mut self) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
        }
        self.shut_pending = true;
        let _ = self.flush();
    }

    /// Drops the connection at once.
    pub(crate) fn cut(&mut self) {
        self.unsent = Vec::new();
        self.sent = 0;
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

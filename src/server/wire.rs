//! A non-blocking socket's writing side: what it has not taken yet waits here.

use std::io::{self, Write};
use std::net::Shutdown;

use mio::net::TcpStream;

use super::read_pool::READ_BUF;
use crate::protocol::extend_copy;

/// A non-blocking socket and what it has not taken yet. While bytes wait, the connection reads
/// nothing more (the peer must read before it is read): memory stays bounded, as with blocking
/// writes.
pub(crate) struct Wire {
    pub(crate) stream: TcpStream,
    /// Bytes not taken yet: `unsent[sent..]`.
    unsent: Vec<u8>,
    sent: usize,
    /// Shut our sending side once `unsent` is written.
    shut_pending: bool,
    /// A write failed: the connection is broken.
    pub(crate) failed: bool,
}

impl Wire {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            unsent: Vec::new(),
            sent: 0,
            shut_pending: false,
            failed: false,
        }
    }

    pub(crate) fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Bytes not taken yet.
    pub(crate) fn pending(&self) -> usize {
        self.unsent.len() - self.sent
    }

    /// Forgets what was not sent, and the memory a large echo left behind.
    pub(crate) fn discard(&mut self) {
        if self.unsent.capacity() > READ_BUF {
            self.unsent = Vec::new();
        } else {
            self.unsent.clear();
        }
        self.sent = 0;
    }

    /// Writes what the socket takes now; the rest goes when it is writable again.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if self.has_unsent() {
            extend_copy(&mut self.unsent, data);
            return Ok(());
        }
        let n = write_some(&self.stream, data)?;
        extend_copy(&mut self.unsent, &data[n..]);
        Ok(())
    }

    /// Writes what waited. Ok once nothing is left or the socket is full again.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let n = write_some(&self.stream, &self.unsent[self.sent..])?;
        self.sent += n;
        if self.sent == self.unsent.len() {
            self.discard();
        } else if self.sent > self.unsent.len() / 2 {
            // Move the rest forward only once it is the smaller part: a large echo written in
            // many pieces is not moved again for each of them.
            self.unsent.drain(..self.sent);
            self.sent = 0;
        }
        if self.unsent.is_empty() && self.shut_pending {
            self.shut_pending = false;
            let _ = self.stream.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    pub(crate) fn shutdown_write(&mut self) {
        if self.has_unsent() {
            self.shut_pending = true;
        } else {
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }

    /// Drops the connection: nothing more is sent or read.
    pub(crate) fn cut(&mut self) {
        self.discard();
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Writes as much of `data` as the socket takes without blocking; returns how much.
fn write_some(mut stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < data.len() {
        match stream.write(&data[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

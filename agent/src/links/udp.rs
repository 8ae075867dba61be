//! UDP transport: one socket per local address, shared by every link that uses it; one frame
//! per datagram.
//!
//! Owns the socket and sending to each link's remote address. Datagrams are accepted from any
//! source: authentication is the MAC's job, and proxies or NAT must not break heartbeats. It
//! does not know which link a datagram belongs to (the frame header says, once verified).

#![forbid(unsafe_code)]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

use crate::wire::MAX_FRAME_BYTES;

/// Bound on datagrams drained per `recv` call.
const MAX_DATAGRAMS_PER_RECV: usize = 64;

pub struct UdpLink {
    socket: UdpSocket,
    local: SocketAddr,
}

impl UdpLink {
    pub fn bind(local: SocketAddr, broadcast: bool) -> io::Result<UdpLink> {
        let socket =
            UdpSocket::bind(local).map_err(|e| io::Error::new(e.kind(), format!("bind {local}: {e}")))?;
        socket.set_nonblocking(true)?;
        if broadcast {
            socket.set_broadcast(true)?;
        }
        Ok(UdpLink { socket, local })
    }

    pub fn local(&self) -> SocketAddr {
        self.local
    }

    pub fn set_broadcast(&self) -> io::Result<()> {
        self.socket.set_broadcast(true)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    pub fn send(&self, remote: SocketAddr, frame: &[u8]) -> io::Result<()> {
        let n = self.socket.send_to(frame, remote)?;
        if n != frame.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short datagram"));
        }
        Ok(())
    }

    /// Drain pending datagrams (bounded). Oversized datagrams are reported as `Err(len)`.
    pub fn recv(&self, sink: &mut dyn FnMut(Result<&[u8], usize>)) -> io::Result<()> {
        // One byte more than the largest frame, to detect truncation.
        let mut buf = [0u8; MAX_FRAME_BYTES + 1];
        for _ in 0..MAX_DATAGRAMS_PER_RECV {
            match self.socket.recv_from(&mut buf) {
                Ok((n, _from)) if n > MAX_FRAME_BYTES => sink(Err(n)),
                Ok((n, _from)) => sink(Ok(&buf[..n])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors (port unreachable) surface here on Linux; they are not fatal.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

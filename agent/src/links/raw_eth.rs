//! Raw Ethernet transport: AF_PACKET socket bound to one interface, EtherType 0x88B5.
//! STUB: to be implemented.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Our EtherType (IEEE 802 local experimental 1).
pub const ETHERTYPE_HA: u16 = 0x88B5;

pub struct RawEthernet {
    fd: OwnedFd,
}

impl RawEthernet {
    /// Open a non-blocking packet socket on `interface`, receiving only ETHERTYPE_HA.
    pub fn open(interface: &str) -> io::Result<Self> {
        let _ = interface;
        Err(io::Error::new(io::ErrorKind::Unsupported, "raw Ethernet not implemented yet"))
    }
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
    /// Send one frame to the broadcast address.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let _ = frame;
        Ok(())
    }
    /// Drain every pending packet; calls `sink` with each received frame (padding removed).
    pub fn recv(&mut self, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let _ = sink;
        Ok(())
    }
}

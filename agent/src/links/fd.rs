//! The one place where `links` turns a raw file descriptor into an owned one: serialport hands
//! out its port as a raw descriptor (`IntoRawFd`), and the rest of the crate only handles
//! `OwnedFd`. Owns that conversion and nothing else.

#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};

/// Take ownership of an open serial port's descriptor.
pub fn owned_from_tty(port: serialport::TTYPort) -> OwnedFd {
    let raw = port.into_raw_fd();
    assert!(raw >= 0);
    // SAFETY: `into_raw_fd` released the descriptor from `port` without closing it (it
    // forgets the port), so nothing else owns `raw`; the new OwnedFd becomes its only owner.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

//! Relay channels: the drivers behind the [`RelayChannel`] trait.
//!
//! The trait, its error and state types and the pure codecs of the serial boards ([`lcus`],
//! [`kmtronic`], [`numato`], [`modbus`]) live in `ha_core::relay` and are re-exported here.
//! This module owns what touches the system: the blocking serial executor that runs those
//! codecs on a port ([`serial`]), the Linux GPIO character device driver ([`gpio`]) and the
//! external fence-agent command ([`command`]). It does not decide when to fence (that is
//! [`crate::devices::fence`] and the core), and it never retries on its own.

#![forbid(unsafe_code)]

pub use ha_core::relay::*;
pub use ha_core::relay::{kmtronic, lcus, modbus, numato};

pub mod command;
pub mod gpio;
pub mod serial;

/// Wait until `fd` is ready for `flags` or `timeout` passes; `Ok(false)` on timeout or a
/// signal. Shared by the serial executor (port readable or writable) and the command relay (the
/// child's pidfd readable once it exits).
pub(crate) fn wait_ready(
    fd: &std::os::fd::OwnedFd,
    flags: rustix::event::PollFlags,
    timeout: std::time::Duration,
) -> Result<bool, RelayError> {
    use rustix::event::{poll, PollFd, PollFlags};
    let ts = rustix::time::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let mut fds = [PollFd::new(fd, flags)];
    match poll(&mut fds, Some(&ts)) {
        Ok(0) => Ok(false),
        Ok(_) => {
            let revents = fds[0].revents();
            if revents.intersects(PollFlags::ERR | PollFlags::NVAL) {
                return Err(RelayError::Io("device error (POLLERR)".into()));
            }
            Ok(true)
        }
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(std::io::Error::from(e).into()),
    }
}

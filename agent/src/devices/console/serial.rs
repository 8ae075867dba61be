//! The shell side of a console session: owns the serial port (8N1, no flow control,
//! exclusive, non-blocking) and moves bytes between it and the [`Session`].
//!
//! Each [`ConsolePort::poll`] does a bounded amount of work and never blocks: at most
//! [`MAX_READS_PER_POLL`] reads, writes that would block are kept (bounded) for the next call,
//! and a port that fails is closed and reopened after [`REOPEN_MS`]. The session meanwhile
//! times out and reports the console lost, as it would for a silent controller. It does not
//! interpret anything it moves.

#![forbid(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use super::session::Session;
use crate::time::Micros;

/// Bytes read per `read` call.
const READ_CHUNK_BYTES: usize = 256;
/// Bound on reads per poll, so that a babbling line cannot starve the agent's loop.
pub const MAX_READS_PER_POLL: usize = 16;
/// Bound on bytes waiting for the port; older ones are dropped (the session times out and
/// wakes the console again).
pub const MAX_PENDING_TX_BYTES: usize = 512;
/// Wait before reopening a port that failed.
pub const REOPEN_MS: u64 = 1000;

pub struct ConsolePort {
    device: PathBuf,
    baud: u32,
    fd: Option<OwnedFd>,
    session: Session,
    pending_tx: Vec<u8>,
    reopen_at: Micros,
    last_error: Option<String>,
}

impl ConsolePort {
    /// A closed port around `session`; the first [`ConsolePort::poll`] opens it.
    pub fn new(device: &Path, baud: u32, session: Session) -> ConsolePort {
        ConsolePort {
            device: device.to_path_buf(),
            baud,
            fd: None,
            session,
            pending_tx: Vec::new(),
            reopen_at: Micros::ZERO,
            last_error: None,
        }
    }

    pub fn device(&self) -> &Path {
        &self.device
    }
    pub fn session(&self) -> &Session {
        &self.session
    }
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }
    pub fn is_open(&self) -> bool {
        self.fd.is_some()
    }
    /// The latest open/read/write error, for the log and the status.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    /// The descriptor to wait on for input (none while closed).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd())
    }

    /// When [`ConsolePort::poll`] has work without input.
    pub fn poll_timeout(&self) -> Micros {
        let t = self.session.poll_timeout();
        if self.fd.is_none() {
            t.min(self.reopen_at)
        } else {
            t
        }
    }

    fn open(&mut self) -> io::Result<()> {
        let port = serialport::new(self.device.to_string_lossy(), self.baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .exclusive(true)
            .open_native()
            .map_err(|e| io::Error::other(format!("{}: {e}", self.device.display())))?;
        let fd = crate::links::fd::owned_from_tty(port);
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)?;
        self.fd = Some(fd);
        Ok(())
    }

    fn fail(&mut self, now: Micros, e: io::Error) {
        if let Some(fd) = self.fd.take() {
            crate::links::serial::close_at_once(fd);
        }
        self.pending_tx.clear();
        self.reopen_at = now.plus_ms(REOPEN_MS);
        self.last_error = Some(e.to_string());
    }

    /// One non-blocking step: (re)open if due, read what is pending into the session, run its
    /// timers, and write what it wants sent.
    pub fn poll(&mut self, now: Micros) {
        if self.fd.is_none() && now >= self.reopen_at {
            match self.open() {
                Ok(()) => self.last_error = None,
                Err(e) => self.fail(now, e),
            }
        }
        if let Err(e) = self.read(now) {
            self.fail(now, e);
        }
        self.session.handle_timeout(now);
        while let Some(bytes) = self.session.poll_transmit() {
            if self.pending_tx.len() + bytes.len() > MAX_PENDING_TX_BYTES {
                self.pending_tx.clear();
            }
            self.pending_tx.extend_from_slice(&bytes);
        }
        if self.fd.is_none() {
            self.pending_tx.clear(); // nobody to tell; the session will wake the console again
        }
        if let Err(e) = self.write() {
            self.fail(now, e);
        }
    }

    fn read(&mut self, now: Micros) -> io::Result<()> {
        let Some(fd) = self.fd.as_ref() else {
            return Ok(());
        };
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        for _ in 0..MAX_READS_PER_POLL {
            match rustix::io::read(fd, &mut chunk) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "console port closed")),
                Ok(n) => self.session.handle_bytes(now, &chunk[..n]),
                Err(rustix::io::Errno::AGAIN) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn write(&mut self) -> io::Result<()> {
        let Some(fd) = self.fd.as_ref() else {
            return Ok(());
        };
        while !self.pending_tx.is_empty() {
            match rustix::io::write(fd, &self.pending_tx) {
                Ok(n) => {
                    self.pending_tx.drain(..n);
                }
                Err(rustix::io::Errno::AGAIN) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl Drop for ConsolePort {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            crate::links::serial::close_at_once(fd);
        }
    }
}

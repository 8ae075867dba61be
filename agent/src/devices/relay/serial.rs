//! The serial executor: runs a [`SerialCodec`] on a port, one blocking exchange per call,
//! bounded by the caller's timeout (poll with the remaining time; no thread, no retry).
//!
//! Owns opening the port without glitching modem-control lines, flushing stale input before a
//! request, writing the request and collecting the reply until the codec decides. It does not
//! interpret bytes (the codecs do) and does not decide what to do with a failure.
//!
//! The input flush before each request matters for safety, not only tidiness: on LCUS and
//! KMtronic boards a state answer has the same bytes as a command (`FF 01 00` is both "switch
//! relay 1 off" and "relay 1 is off"), so a late echo of the off command must never be read
//! as the answer to the following state query.
//!
//! # Modem-control lines (DTR/RTS)
//! Some relay boards are wired to DTR or RTS, and a toggle can reset the board or click a
//! relay. What Linux does, and what this module does about it:
//! - The kernel raises DTR and RTS itself when a tty is opened while its stored baud rate is
//!   not B0 (`tty_port_block_til_ready`, also with `O_NONBLOCK`), and drops them on the last
//!   close when `HUPCL` is set (the default). serialport 4.10's `dtr_on_open(false)` only
//!   lowers DTR *after* that open, which is itself a toggle; its default (`None`) leaves DTR
//!   alone, and this module keeps that default and never writes DTR or RTS.
//! - After opening, this module clears `HUPCL`. The tty's termios outlives the descriptor (the
//!   driver keeps it while the device exists), so later closes leave the lines asserted and
//!   later opens find them already asserted: no edge on reopen after an error or in
//!   `fence-test` while the agent runs.
//! - What remains: the *first* open after the device appears (boot, USB re-plug) raises the
//!   lines once; user space cannot prevent it on Linux. Boards whose relay follows DTR/RTS
//!   need a boot-time `stty -F DEV -hupcl` before anything opens the port, or better a board
//!   that ignores modem lines. This is documented in `docs/devices.md`.

#![forbid(unsafe_code)]

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::PollFlags;
use rustix::fs::OFlags;
use rustix::termios::{ControlModes, OptionalActions, QueueSelector};

use super::{
    wait_ready, Decoded, Op, RelayChannel, RelayError, RelayState, Reply, SerialCodec, MAX_REPLY_BYTES,
};

/// Bytes read per `read` call.
const READ_CHUNK_BYTES: usize = 64;

/// Open `device` at `baud`, 8N1, no flow control, exclusive (TIOCEXCL + flock), without
/// touching DTR/RTS, then clear HUPCL so that closing it never drops them (see module docs).
/// The descriptor is non-blocking.
pub fn open_port(device: &Path, baud: u32) -> io::Result<OwnedFd> {
    let port = serialport::new(device.to_string_lossy(), baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .preserve_dtr_on_open()
        .exclusive(true)
        .open_native()
        .map_err(|e| io::Error::other(format!("{}: {e}", device.display())))?;
    let fd = crate::links::fd::owned_from_tty(port);
    let mut termios = rustix::termios::tcgetattr(&fd)?;
    if termios.control_modes.contains(ControlModes::HUPCL) {
        termios.control_modes.remove(ControlModes::HUPCL);
        rustix::termios::tcsetattr(&fd, OptionalActions::Now, &termios)?;
    }
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)?;
    Ok(fd)
}

/// A relay channel on a serial board.
pub struct SerialRelay<C: SerialCodec> {
    device: PathBuf,
    baud: u32,
    codec: C,
    fd: Option<OwnedFd>,
}

impl<C: SerialCodec> SerialRelay<C> {
    /// A closed channel; the port is opened on first use and reopened after an I/O error.
    pub fn new(device: &Path, baud: u32, codec: C) -> SerialRelay<C> {
        SerialRelay { device: device.to_path_buf(), baud, codec, fd: None }
    }

    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// Close the port (it is reopened on the next call).
    pub fn close(&mut self) {
        if let Some(fd) = self.fd.take() {
            let _ = rustix::termios::ioctl_tiocnxcl(&fd);
        }
    }

    /// One request/reply exchange for `op`, bounded by `timeout_ms` (including the write).
    pub fn exchange(&mut self, op: Op, timeout_ms: u64) -> Result<Reply, RelayError> {
        let Some(request) = self.codec.encode(op) else { return Err(RelayError::NoReadback) };
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        if self.fd.is_none() {
            self.fd = Some(open_port(&self.device, self.baud)?);
        }
        let result = self.exchange_open(op, &request, deadline, timeout_ms);
        if matches!(result, Err(RelayError::Io(_))) {
            self.close();
        }
        result
    }

    fn exchange_open(
        &mut self,
        op: Op,
        request: &[u8],
        deadline: Instant,
        timeout_ms: u64,
    ) -> Result<Reply, RelayError> {
        let fd = self.fd.as_ref().expect("opened by exchange");
        // Stale bytes (a late answer to an earlier request, line noise) must not be taken for
        // the answer to this one.
        rustix::termios::tcflush(fd, QueueSelector::IFlush).map_err(io::Error::from)?;
        write_all(fd, request, deadline, timeout_ms)?;
        if !self.codec.expects_reply(op) {
            rustix::termios::tcdrain(fd).map_err(io::Error::from)?;
            return match self.codec.decode(op, &[]) {
                Decoded::Done(reply) => Ok(reply),
                Decoded::Error(e) => Err(RelayError::Reply(e)),
                Decoded::Incomplete => Err(RelayError::Timeout { after_ms: 0, received: 0 }),
            };
        }
        let mut reply: heapless::Vec<u8, MAX_REPLY_BYTES> = heapless::Vec::new();
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(RelayError::Timeout { after_ms: timeout_ms, received: reply.len() });
            }
            if !wait_ready(fd, PollFlags::IN, deadline - now)? {
                continue;
            }
            match rustix::io::read(fd, &mut chunk) {
                Ok(0) => return Err(RelayError::Io("serial device closed".into())),
                Ok(n) => {
                    let room = reply.capacity() - reply.len();
                    if n > room {
                        return Err(RelayError::Reply(super::ReplyError::Garbage(format!(
                            "more than {MAX_REPLY_BYTES} bytes without a complete reply"
                        ))));
                    }
                    assert!(reply.extend_from_slice(&chunk[..n]).is_ok());
                    match self.codec.decode(op, &reply) {
                        Decoded::Incomplete => {}
                        Decoded::Done(r) => return Ok(r),
                        Decoded::Error(e) => return Err(RelayError::Reply(e)),
                    }
                }
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(io::Error::from(e).into()),
            }
        }
    }
}

fn write_all(fd: &OwnedFd, mut bytes: &[u8], deadline: Instant, timeout_ms: u64) -> Result<(), RelayError> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(RelayError::Timeout { after_ms: timeout_ms, received: 0 });
                }
                wait_ready(fd, PollFlags::OUT, deadline - now)?;
            }
            Err(e) => return Err(io::Error::from(e).into()),
        }
    }
    Ok(())
}

impl<C: SerialCodec> RelayChannel for SerialRelay<C> {
    /// The port is exclusive and boards often carry several channels on one port: close it.
    /// A relay board's coils keep their state without the port open.
    fn idle(&mut self) {
        self.close();
    }

    fn describe(&self) -> String {
        format!("{} on {} at {} baud", self.codec.name(), self.device.display(), self.baud)
    }

    fn can_read_back(&self) -> bool {
        self.codec.encode(Op::ReadState).is_some()
    }

    fn power_off(&mut self, timeout_ms: u64) -> Result<(), RelayError> {
        self.exchange(Op::PowerOff, timeout_ms).map(|_| ())
    }

    fn power_on(&mut self, timeout_ms: u64) -> Result<(), RelayError> {
        self.exchange(Op::PowerOn, timeout_ms).map(|_| ())
    }

    fn read_state(&mut self, timeout_ms: u64) -> Result<RelayState, RelayError> {
        match self.exchange(Op::ReadState, timeout_ms)? {
            Reply::State(s) => Ok(s),
            Reply::Ack => Err(RelayError::Reply(super::ReplyError::WrongReply(
                "acknowledgement instead of a state".into(),
            ))),
        }
    }
}

impl<C: SerialCodec> Drop for SerialRelay<C> {
    fn drop(&mut self) {
        self.close();
    }
}

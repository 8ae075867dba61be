//! Serial transport: one port, one link, COBS frames delimited by 0x00 (see `wire::serial`).
//!
//! Owns opening the port (8N1, no flow control, exclusive, modem lines left alone; never
//! blocking, and refusing a path that is not a character device), the non-blocking
//! descriptor, the stream decoder and reopening after the device goes away. It does not
//! authenticate or interpret frames.

#![forbid(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use crate::wire::{encode_serial, SerialDecoder, SerialError, MAX_SERIAL_BYTES};

/// Bytes read per `read` call.
const READ_CHUNK_BYTES: usize = 512;
/// Bound on reads per `recv` call, so a babbling line cannot starve the loop.
const MAX_READS_PER_RECV: usize = 16;

pub struct SerialLink {
    device: PathBuf,
    baud: u32,
    fd: Option<OwnedFd>,
    decoder: SerialDecoder,
}

/// What came out of the byte stream.
pub enum SerialItem<'a> {
    Frame(&'a [u8]),
    Error(SerialError),
}

/// Close a serial port without waiting. Closing a tty waits until its output has drained (the
/// port's `closing_wait`, 30 s by default), also for a non-blocking descriptor; on a line that
/// does not drain (a UART that cannot transmit, flow control held, a stalled adapter) that
/// would stop the agent's loop longer than the hardware watchdog's timeout. So the unsent
/// output is discarded first (heartbeats are worth nothing late), and exclusivity released
/// explicitly (the kernel keeps the flag on some drivers).
pub fn close_at_once(fd: OwnedFd) {
    let _ = rustix::termios::tcflush(&fd, rustix::termios::QueueSelector::OFlush);
    let _ = rustix::termios::ioctl_tiocnxcl(&fd);
    drop(fd);
}

impl SerialLink {
    /// A closed link; call [`SerialLink::reopen`].
    pub fn new(device: &Path, baud: u32) -> SerialLink {
        SerialLink { device: device.to_path_buf(), baud, fd: None, decoder: SerialDecoder::new() }
    }

    pub fn device(&self) -> &Path {
        &self.device
    }

    pub fn is_open(&self) -> bool {
        self.fd.is_some()
    }

    /// Open (or reopen) the port. Never blocks: the path must name a character device (a FIFO
    /// or a file is refused before it is opened), and the open itself is non-blocking
    /// (serialport opens with O_NONBLOCK and sets no modem lines), so a port without a UART
    /// behind it fails at once (EIO from the tty layer) instead of holding up the loop.
    pub fn reopen(&mut self) -> io::Result<()> {
        self.close();
        let meta = rustix::fs::stat(&self.device).map_err(|e| {
            io::Error::new(io::Error::from(e).kind(), format!("{}: {e}", self.device.display()))
        })?;
        let file_type = rustix::fs::FileType::from_raw_mode(meta.st_mode);
        if file_type != rustix::fs::FileType::CharacterDevice {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: not a serial port (a {file_type:?}, not a character device)",
                    self.device.display()
                ),
            ));
        }
        let port = serialport::new(self.device.to_string_lossy(), self.baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .exclusive(true)
            .open_native()
            .map_err(|e| io::Error::other(format!("{}: {e}", self.device.display())))?;
        let fd = super::fd::owned_from_tty(port);
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)?;
        self.decoder = SerialDecoder::new();
        self.fd = Some(fd);
        Ok(())
    }

    pub fn close(&mut self) {
        if let Some(fd) = self.fd.take() {
            close_at_once(fd);
        }
    }

    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|f| f.as_fd())
    }

    /// Send one frame. A full output buffer drops the frame (`WouldBlock`): heartbeats are
    /// periodic, and a stale one is worth nothing. So does a short write (the buffer filled
    /// during it): the torn frame fails the receiver's CRC, and the next frame's leading
    /// delimiter resynchronises it. Neither means the port is gone, so neither reopens it.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let fd = self.fd.as_ref().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        let mut buf = [0u8; MAX_SERIAL_BYTES + 1];
        // A leading delimiter flushes any noise the receiver has buffered.
        buf[0] = 0;
        let n = encode_serial(frame, &mut buf[1..])
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
        let bytes = &buf[..n + 1];
        let written = rustix::io::write(fd, bytes)?;
        if written != bytes.len() {
            // Without a message: the steady state allocates nothing, and a busy line is not
            // an event to describe.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(())
    }

    /// Read what is pending and feed it to the decoder. An error means the device is gone
    /// (the caller closes it and schedules a reopen).
    pub fn recv(&mut self, sink: &mut dyn FnMut(SerialItem<'_>)) -> io::Result<()> {
        let Some(fd) = self.fd.as_ref() else { return Ok(()) };
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        for _ in 0..MAX_READS_PER_RECV {
            match rustix::io::read(fd, &mut chunk) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "serial device closed")),
                Ok(n) => self.decoder.push(&chunk[..n], &mut |item| match item {
                    Ok(frame) => sink(SerialItem::Frame(frame)),
                    Err(e) => sink(SerialItem::Error(e)),
                }),
                Err(rustix::io::Errno::AGAIN) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl Drop for SerialLink {
    fn drop(&mut self) {
        self.close();
    }
}

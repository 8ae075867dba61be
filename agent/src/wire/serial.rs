//! Serial framing: COBS(frame || CRC-32) followed by a 0x00 delimiter.
//! STUB: to be implemented.

#![forbid(unsafe_code)]

use super::frame::MAX_FRAME_BYTES;

/// Bound on one encoded serial frame, delimiter included.
pub const MAX_SERIAL_BYTES: usize = MAX_FRAME_BYTES + 4 + MAX_FRAME_BYTES / 254 + 2 + 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerialError {
    /// COBS decoding failed (line noise or a torn frame).
    Framing,
    /// The CRC did not match: line noise.
    Crc,
    /// More than MAX_SERIAL_BYTES without a delimiter; the bytes were dropped.
    Overlong,
}

/// Frame `frame` for a serial line into `out`; returns bytes written (delimiter included).
pub fn encode_serial(frame: &[u8], out: &mut [u8]) -> Option<usize> {
    let _ = (frame, out);
    None
}

/// Incremental decoder for a byte stream; bounded buffer.
#[derive(Default)]
pub struct SerialDecoder {
    buf: heapless::Vec<u8, MAX_SERIAL_BYTES>,
}

impl SerialDecoder {
    pub fn new() -> Self {
        Self::default()
    }
    /// Feed bytes; for each complete frame calls `sink(Ok(frame))`, for each bad one `sink(Err(..))`.
    pub fn push(&mut self, bytes: &[u8], sink: &mut dyn FnMut(Result<&[u8], SerialError>)) {
        let _ = (bytes, sink, &self.buf);
    }
}

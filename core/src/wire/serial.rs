//! Serial framing: `COBS(frame || CRC-32(frame) as 4 bytes LE) || 0x00`.
//!
//! Owns the byte stuffing that turns a byte stream into frames: [`encode_serial`] wraps one
//! frame for a serial line, and [`SerialDecoder`] cuts an incoming stream at 0x00 delimiters,
//! undoes COBS and checks the CRC, so that line noise ([`SerialError::Crc`],
//! [`SerialError::Framing`]) is told apart from forgery (a bad MAC, found later by
//! [`super::frame::decode`]). The decoder is bounded: one buffer of [`MAX_COBS_BYTES`], no
//! allocation, and work linear in the bytes pushed.
//!
//! It does not look inside the frame (that is [`super::frame`]) and does not open or configure
//! the port (that is `links`).

#![forbid(unsafe_code)]

use super::frame::MAX_FRAME_BYTES;

/// The frame delimiter on the line. COBS guarantees it appears nowhere else.
pub const DELIMITER: u8 = 0x00;
/// Bytes of the CRC-32 trailer inside the COBS payload.
pub const CRC_BYTES: usize = 4;
/// Bound on the COBS payload: the largest frame and its CRC.
pub const MAX_PAYLOAD_BYTES: usize = MAX_FRAME_BYTES + CRC_BYTES;
/// Bound on the COBS encoding of a payload, delimiter excluded: at most one extra byte per
/// started run of 254 bytes (260 payload bytes -> 262).
pub const MAX_COBS_BYTES: usize = cobs::max_encoding_length(MAX_PAYLOAD_BYTES);
/// Bound on one encoded serial frame, delimiter included.
pub const MAX_SERIAL_BYTES: usize = MAX_COBS_BYTES + 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerialError {
    /// COBS decoding failed (line noise or a torn frame).
    Framing,
    /// The CRC did not match, or the payload was too short to hold one: line noise.
    Crc,
    /// More than MAX_SERIAL_BYTES without a delimiter; the bytes were dropped.
    Overlong,
}

/// CRC-32/ISO-HDLC (the CRC of Ethernet, zlib and PNG): reflected polynomial 0xEDB88320,
/// initial value and final XOR 0xFFFFFFFF. It detects line noise, not forgery.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc = CRC32_TABLE[usize::from((crc as u8) ^ byte)] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

const CRC32_TABLE: [u32; 256] = crc32_table();

const fn crc32_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut index = 0;
    while index < 256 {
        let mut crc = index as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            bit += 1;
        }
        table[index] = crc;
        index += 1;
    }
    table
}

/// Frame `frame` for a serial line into `out`; returns bytes written (delimiter included).
///
/// Returns None when `out` is too small (MAX_SERIAL_BYTES always suffices), and when `frame`
/// is empty or longer than MAX_FRAME_BYTES, which the receiving decoder would reject.
pub fn encode_serial(frame: &[u8], out: &mut [u8]) -> Option<usize> {
    if frame.is_empty() || frame.len() > MAX_FRAME_BYTES {
        return None;
    }
    let mut payload = [0u8; MAX_PAYLOAD_BYTES];
    let payload_len = frame.len() + CRC_BYTES;
    payload[..frame.len()].copy_from_slice(frame);
    payload[frame.len()..payload_len].copy_from_slice(&crc32(frame).to_le_bytes());
    let mut stuffed = [0u8; MAX_COBS_BYTES];
    let stuffed_len = cobs::try_encode(&payload[..payload_len], &mut stuffed).ok()?;
    let total = stuffed_len + 1;
    if out.len() < total {
        return None;
    }
    out[..stuffed_len].copy_from_slice(&stuffed[..stuffed_len]);
    out[stuffed_len] = DELIMITER;
    Some(total)
}

/// Incremental decoder for a byte stream; bounded buffer.
///
/// Leading and repeated delimiters are ignored, so a sender may send 0x00 first to flush
/// whatever noise the receiver has buffered.
#[derive(Default)]
pub struct SerialDecoder {
    /// COBS bytes since the last delimiter (delimiter excluded).
    buf: heapless::Vec<u8, MAX_COBS_BYTES>,
    /// An Overlong was reported; drop bytes until the next delimiter.
    discarding: bool,
}

impl SerialDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed bytes; for each complete frame calls `sink(Ok(frame))`, for each bad one `sink(Err(..))`.
    ///
    /// The frame passed to `sink` has its CRC removed; it is borrowed from the decoder's buffer
    /// and valid only during the call. It is not checked to be at most MAX_FRAME_BYTES (up to
    /// MAX_COBS_BYTES - 1 - CRC_BYTES may come out); `frame::decode` does that.
    ///
    /// Bounded work: each byte of `bytes` is looked at once and each buffered byte is
    /// un-stuffed and CRC'd once, so one call does O(`bytes.len()` + MAX_COBS_BYTES) work and
    /// calls `sink` at most once per delimiter plus once per MAX_COBS_BYTES of garbage. Never
    /// allocates, never panics.
    #[allow(clippy::type_complexity)] // the signature is part of the wire contract
    pub fn push(&mut self, bytes: &[u8], sink: &mut dyn FnMut(Result<&[u8], SerialError>)) {
        for &byte in bytes {
            if byte == DELIMITER {
                if self.discarding {
                    self.discarding = false;
                } else if !self.buf.is_empty() {
                    match self.unstuff() {
                        Ok(frame_len) => sink(Ok(&self.buf[..frame_len])),
                        Err(error) => sink(Err(error)),
                    }
                }
                self.buf.clear();
            } else if !self.discarding && self.buf.push(byte).is_err() {
                self.buf.clear();
                self.discarding = true;
                sink(Err(SerialError::Overlong));
            }
        }
    }

    /// Undo COBS in place and check the CRC; returns the frame's length at the buffer's start.
    fn unstuff(&mut self) -> Result<usize, SerialError> {
        let payload_len = cobs::decode_in_place(&mut self.buf).map_err(|_| SerialError::Framing)?;
        // Decoding only shrinks; a longer result would mean the buffer was read past its end.
        assert!(payload_len <= self.buf.len());
        if payload_len <= CRC_BYTES {
            return Err(SerialError::Crc);
        }
        let frame_len = payload_len - CRC_BYTES;
        let received = &self.buf[frame_len..payload_len];
        let received = u32::from_le_bytes([received[0], received[1], received[2], received[3]]);
        if crc32(&self.buf[..frame_len]) != received {
            return Err(SerialError::Crc);
        }
        Ok(frame_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::tests::{golden_frame, hex, unhex};

    /// `encode_serial(golden frame)`; frozen, cross-checked with Python's zlib.crc32 and an
    /// independent COBS encoder (see docs/protocol.md).
    const GOLDEN_SERIAL_HEX: &str = "020108e94a38df020b07010101010101022a010101010101020301010101010102290101010101010206010103881301010402010301154c1af8833f8a8328a4bbf78daef09d92f3da877a00";

    type Event = Result<Vec<u8>, SerialError>;

    fn collect(decoder: &mut SerialDecoder, bytes: &[u8], events: &mut Vec<Event>) {
        decoder.push(bytes, &mut |r| events.push(r.map(<[u8]>::to_vec)));
    }

    fn decode_all(bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        collect(&mut SerialDecoder::new(), bytes, &mut events);
        events
    }

    fn serial(frame: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_SERIAL_BYTES];
        let n = encode_serial(frame, &mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn bounds_add_up() {
        assert_eq!(MAX_PAYLOAD_BYTES, 260);
        assert_eq!(MAX_COBS_BYTES, 262);
        assert_eq!(MAX_SERIAL_BYTES, 263);
    }

    #[test]
    fn golden_serial_vector() {
        let bytes = serial(&golden_frame());
        assert_eq!(hex(&bytes), GOLDEN_SERIAL_HEX);
        assert_eq!(decode_all(&unhex(GOLDEN_SERIAL_HEX)), vec![Ok(golden_frame())]);
    }

    #[test]
    fn roundtrip_every_length_and_content() {
        for len in 1..=MAX_FRAME_BYTES {
            // No zeros (longest COBS runs), all zeros, and a mix.
            let patterns: [Vec<u8>; 3] = [
                (0..len).map(|i| (i % 255 + 1) as u8).collect(),
                vec![0u8; len],
                (0..len).map(|i| (i * 7 % 5) as u8).collect(),
            ];
            for frame in patterns {
                let bytes = serial(&frame);
                assert!(bytes.len() <= MAX_SERIAL_BYTES);
                assert_eq!(bytes.iter().position(|&b| b == 0), Some(bytes.len() - 1));
                assert_eq!(decode_all(&bytes), vec![Ok(frame)]);
            }
        }
    }

    #[test]
    fn encode_serial_refuses_small_buffers_and_bad_frames() {
        let frame = golden_frame();
        let needed = serial(&frame).len();
        for size in 0..needed {
            let mut out = vec![0u8; size];
            assert_eq!(encode_serial(&frame, &mut out), None, "size {size}");
        }
        let mut out = vec![0u8; needed];
        assert_eq!(encode_serial(&frame, &mut out), Some(needed));
        let mut out = [0u8; 2 * MAX_SERIAL_BYTES];
        assert_eq!(encode_serial(&[], &mut out), None);
        assert_eq!(encode_serial(&[1u8; MAX_FRAME_BYTES + 1], &mut out), None);
    }

    #[test]
    fn stream_split_at_every_position() {
        let bytes = serial(&golden_frame());
        for cut in 0..=bytes.len() {
            let mut decoder = SerialDecoder::new();
            let mut events = Vec::new();
            collect(&mut decoder, &bytes[..cut], &mut events);
            collect(&mut decoder, &bytes[cut..], &mut events);
            assert_eq!(events, vec![Ok(golden_frame())], "cut at {cut}");
        }
        let mut decoder = SerialDecoder::new();
        let mut events = Vec::new();
        for byte in &bytes {
            collect(&mut decoder, core::slice::from_ref(byte), &mut events);
        }
        assert_eq!(events, vec![Ok(golden_frame())]);
    }

    #[test]
    fn frames_back_to_back_and_leading_delimiters() {
        let second: Vec<u8> = (1..=20).collect();
        let mut stream = vec![0, 0, 0];
        stream.extend(serial(&golden_frame()));
        stream.extend(serial(&second));
        stream.extend([0, 0]);
        assert_eq!(decode_all(&stream), vec![Ok(golden_frame()), Ok(second)]);
    }

    #[test]
    fn noise_then_delimiter_then_good_frame() {
        let mut stream = vec![0x13, 0x37, 0x05, 0xAA];
        stream.push(DELIMITER);
        stream.extend(serial(&golden_frame()));
        let events = decode_all(&stream);
        assert_eq!(events.len(), 2);
        assert!(matches!(events[0], Err(SerialError::Framing | SerialError::Crc)));
        assert_eq!(events[1], Ok(golden_frame()));
        // Noise glued to the front of a frame without a delimiter costs that frame only.
        let mut stream = vec![0x13, 0x37];
        stream.extend(serial(&golden_frame()));
        stream.extend(serial(&golden_frame()));
        let events = decode_all(&stream);
        assert_eq!(events.len(), 2);
        assert!(events[0].is_err());
        assert_eq!(events[1], Ok(golden_frame()));
    }

    #[test]
    fn short_payloads_are_crc_errors() {
        // COBS of 1..=4 payload bytes: too short to hold a frame and its CRC.
        assert_eq!(decode_all(&[0x02, 0x07, 0x00]), vec![Err(SerialError::Crc)]);
        assert_eq!(decode_all(&[0x05, 1, 2, 3, 4, 0x00]), vec![Err(SerialError::Crc)]);
        // A code byte promising more bytes than arrive.
        assert_eq!(decode_all(&[0x09, 1, 2, 0x00]), vec![Err(SerialError::Framing)]);
    }

    #[test]
    fn every_corrupted_byte_is_noise_and_the_next_frame_survives() {
        let good = serial(&golden_frame());
        let payload_end = good.len() - 1; // keep the delimiter itself
        for index in 0..payload_end {
            for flip in 1..=255u8 {
                let mut stream = good.clone();
                stream[index] ^= flip;
                stream.extend(&good);
                let events = decode_all(&stream);
                let (last, errors) = events.split_last().unwrap();
                assert_eq!(last, &Ok(golden_frame()), "byte {index} ^ {flip:#04x}");
                assert!(!errors.is_empty(), "byte {index} ^ {flip:#04x}");
                for error in errors {
                    assert!(
                        matches!(error, Err(SerialError::Crc | SerialError::Framing)),
                        "byte {index} ^ {flip:#04x}: {error:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn overlong_is_reported_once_then_recovers() {
        let mut stream = vec![0x55u8; 4 * MAX_SERIAL_BYTES];
        stream.push(DELIMITER);
        stream.extend(serial(&golden_frame()));
        assert_eq!(decode_all(&stream), vec![Err(SerialError::Overlong), Ok(golden_frame())]);
        // Across calls too.
        let mut decoder = SerialDecoder::new();
        let mut events = Vec::new();
        for _ in 0..10 {
            collect(&mut decoder, &[0x55u8; 100], &mut events);
        }
        collect(&mut decoder, &[DELIMITER], &mut events);
        collect(&mut decoder, &serial(&golden_frame()), &mut events);
        assert_eq!(events, vec![Err(SerialError::Overlong), Ok(golden_frame())]);
    }

    #[test]
    fn overlong_boundary() {
        // Exactly MAX_COBS_BYTES stuffed bytes still fit (and fail the CRC instead).
        let mut stream = vec![0x55u8; MAX_COBS_BYTES];
        stream.push(DELIMITER);
        assert!(matches!(decode_all(&stream)[..], [Err(SerialError::Crc | SerialError::Framing)]));
        let mut stream = vec![0x55u8; MAX_COBS_BYTES + 1];
        stream.push(DELIMITER);
        assert_eq!(decode_all(&stream), vec![Err(SerialError::Overlong)]);
    }
}

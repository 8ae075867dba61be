//! Modbus RTU relay boards: one coil per relay. Function 05 (write single coil, value `FF 00`
//! on, `00 00` off; the board echoes the request) and function 01 (read coils; the answer
//! carries a byte count and the coil bits). Every frame ends with CRC-16/MODBUS, low byte
//! first. An exception answer (function | 0x80, code) is a typed device error.
//!
//! Pure codec: owns the frames and the CRC, not the port or the inter-frame silence.

#![forbid(unsafe_code)]

use super::{hex, request, Decoded, Op, RelayState, Reply, ReplyError, SerialCodec, MAX_REQUEST_BYTES};

pub const FN_READ_COILS: u8 = 0x01;
pub const FN_WRITE_COIL: u8 = 0x05;
const EXCEPTION_BIT: u8 = 0x80;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Modbus {
    /// Slave address, 1..=247.
    pub address: u8,
    /// Coil number (0-based, as on the wire).
    pub coil: u16,
}

/// CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF). Transmitted low byte first.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xA001 } else { crc >> 1 };
        }
    }
    crc
}

fn with_crc(body: &[u8]) -> heapless::Vec<u8, MAX_REQUEST_BYTES> {
    let mut v = request(body);
    let crc = crc16(body);
    assert!(v.extend_from_slice(&crc.to_le_bytes()).is_ok());
    v
}

/// Function 05 frame.
pub fn write_coil(address: u8, coil: u16, on: bool) -> heapless::Vec<u8, MAX_REQUEST_BYTES> {
    let value: u16 = if on { 0xFF00 } else { 0x0000 };
    let [ch, cl] = coil.to_be_bytes();
    let [vh, vl] = value.to_be_bytes();
    with_crc(&[address, FN_WRITE_COIL, ch, cl, vh, vl])
}

/// Function 01 frame for `count` coils from `start`.
pub fn read_coils(address: u8, start: u16, count: u16) -> heapless::Vec<u8, MAX_REQUEST_BYTES> {
    let [sh, sl] = start.to_be_bytes();
    let [nh, nl] = count.to_be_bytes();
    with_crc(&[address, FN_READ_COILS, sh, sl, nh, nl])
}

fn crc_ok(frame: &[u8]) -> bool {
    let (body, crc) = frame.split_at(frame.len() - 2);
    crc16(body).to_le_bytes() == [crc[0], crc[1]]
}

impl SerialCodec for Modbus {
    fn name(&self) -> &'static str {
        "modbus"
    }

    fn encode(&self, op: Op) -> Option<heapless::Vec<u8, MAX_REQUEST_BYTES>> {
        Some(match op {
            Op::PowerOn => write_coil(self.address, self.coil, true),
            Op::PowerOff => write_coil(self.address, self.coil, false),
            Op::ReadState => read_coils(self.address, self.coil, 1),
        })
    }

    fn expects_reply(&self, _op: Op) -> bool {
        true
    }

    fn decode(&self, op: Op, reply: &[u8]) -> Decoded {
        let expected_fn = if op == Op::ReadState { FN_READ_COILS } else { FN_WRITE_COIL };
        if reply.len() < 2 {
            return Decoded::Incomplete;
        }
        let function = reply[1];
        // Length from the header: exception 5, write echo 8, read 3 + count + 2.
        let frame_len = if function == expected_fn | EXCEPTION_BIT {
            5
        } else if function == FN_WRITE_COIL {
            8
        } else if function == FN_READ_COILS {
            match reply.get(2) {
                Some(&count) => 3 + usize::from(count) + 2,
                None => return Decoded::Incomplete,
            }
        } else {
            return Decoded::Error(ReplyError::Garbage(hex(reply)));
        };
        let Some(frame) = reply.get(..frame_len) else { return Decoded::Incomplete };
        if !crc_ok(frame) {
            return Decoded::Error(ReplyError::Garbage(format!("bad CRC in {}", hex(frame))));
        }
        if reply.len() > frame_len {
            return Decoded::Error(ReplyError::Garbage(format!("trailing bytes after {}", hex(frame))));
        }
        if frame[0] != self.address {
            return Decoded::Error(ReplyError::WrongReply(format!("answer from address {}", frame[0])));
        }
        if function == expected_fn | EXCEPTION_BIT {
            return Decoded::Error(ReplyError::DeviceError(format!(
                "modbus exception code {:02X}",
                frame[2]
            )));
        }
        if function != expected_fn {
            return Decoded::Error(ReplyError::WrongReply(format!("function {function:02X}")));
        }
        match op {
            Op::ReadState => {
                if frame[2] != 1 {
                    return Decoded::Error(ReplyError::WrongReply(format!(
                        "{} data bytes for one coil",
                        frame[2]
                    )));
                }
                // Unused high bits are zero-padded by the spec; only bit 0 is our coil.
                if frame[3] & 1 == 1 {
                    Decoded::Done(Reply::State(RelayState::On))
                } else {
                    Decoded::Done(Reply::State(RelayState::Off))
                }
            }
            Op::PowerOn | Op::PowerOff => {
                let sent = write_coil(self.address, self.coil, op == Op::PowerOn);
                if frame == sent.as_slice() {
                    Decoded::Done(Reply::Ack)
                } else {
                    Decoded::Error(ReplyError::WrongReply(format!("echo {} of {}", hex(frame), hex(&sent))))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_devices_md_vectors() {
        assert_eq!(write_coil(1, 0, true).as_slice(), &[0x01, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x8C, 0x3A]);
        assert_eq!(read_coils(1, 0, 8).as_slice(), &[0x01, 0x01, 0x00, 0x00, 0x00, 0x08, 0x3D, 0xCC]);
        assert_eq!(crc16(&[0x01, 0x01, 0x01, 0x41]).to_le_bytes(), [0x91, 0xB8]);
        // The check value of CRC-16/MODBUS over "123456789".
        assert_eq!(crc16(b"123456789"), 0x4B37);
    }

    #[test]
    fn golden_channel_frames() {
        let m = Modbus { address: 1, coil: 0 };
        assert_eq!(
            m.encode(Op::PowerOn).unwrap().as_slice(),
            &[0x01, 0x05, 0x00, 0x00, 0xFF, 0x00, 0x8C, 0x3A]
        );
        let off = m.encode(Op::PowerOff).unwrap();
        assert_eq!(&off[..6], &[0x01, 0x05, 0x00, 0x00, 0x00, 0x00]);
        assert_eq!(crc16(&off[..6]).to_le_bytes(), [off[6], off[7]]);
        assert_eq!(&m.encode(Op::ReadState).unwrap()[..6], &[0x01, 0x01, 0x00, 0x00, 0x00, 0x01]);
    }

    #[test]
    fn replies() {
        let m = Modbus { address: 1, coil: 0 };
        // DEVICES.md answer to reading 8 coils: bit 0 set, so our coil 0 is on.
        assert_eq!(
            m.decode(Op::ReadState, &[0x01, 0x01, 0x01, 0x41, 0x91, 0xB8]),
            Decoded::Done(Reply::State(RelayState::On))
        );
        assert_eq!(m.decode(Op::ReadState, &[0x01, 0x01, 0x01, 0x41, 0x91]), Decoded::Incomplete);
        assert!(matches!(
            m.decode(Op::ReadState, &[0x01, 0x01, 0x01, 0x41, 0x91, 0xB9]),
            Decoded::Error(ReplyError::Garbage(_))
        ));
        let on = write_coil(1, 0, true);
        assert_eq!(m.decode(Op::PowerOn, &on), Decoded::Done(Reply::Ack));
        assert!(matches!(m.decode(Op::PowerOff, &on), Decoded::Error(ReplyError::WrongReply(_))));
        let other = write_coil(2, 0, true);
        assert!(matches!(m.decode(Op::PowerOn, &other), Decoded::Error(ReplyError::WrongReply(_))));
        let mut exception = heapless::Vec::<u8, 8>::new();
        exception.extend_from_slice(&[0x01, 0x85, 0x02]).unwrap();
        exception.extend_from_slice(&crc16(&[0x01, 0x85, 0x02]).to_le_bytes()).unwrap();
        assert!(matches!(m.decode(Op::PowerOn, &exception), Decoded::Error(ReplyError::DeviceError(_))));
        assert!(matches!(
            m.decode(Op::ReadState, &[0x01, 0x33, 0x00]),
            Decoded::Error(ReplyError::Garbage(_))
        ));
    }

    #[test]
    fn decode_never_panics_on_prefixes_of_noise() {
        let m = Modbus { address: 1, coil: 0 };
        let noise: Vec<u8> = (0u16..300).map(|i| (i.wrapping_mul(37) ^ 0x5A) as u8).collect();
        for start in 0..noise.len() {
            for end in start..noise.len().min(start + 40) {
                let _ = m.decode(Op::ReadState, &noise[start..end]);
                let _ = m.decode(Op::PowerOff, &noise[start..end]);
            }
        }
    }
}

//! KMtronic-style serial/USB relay boards: `FF n 01` switches relay `n` on, `FF n 00` off
//! (no acknowledgement); `FF n 03` asks for the state of relay `n`, answered `FF n 01` (on) or
//! `FF n 00` (off). (`FF 09 00` asks for every relay at once; this driver asks for one.)
//!
//! Pure codec: owns the bytes, not the port.

#![forbid(unsafe_code)]

use super::{hex, request, Decoded, Op, RelayState, Reply, ReplyError, SerialCodec};

pub const START_BYTE: u8 = 0xFF;
pub const STATUS_OP: u8 = 0x03;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kmtronic {
    /// Relay number on the board, 1..=8 on the usual boards.
    pub channel: u8,
}

impl SerialCodec for Kmtronic {
    fn name(&self) -> &'static str {
        "kmtronic"
    }

    fn encode(&self, op: Op) -> Option<heapless::Vec<u8, { super::MAX_REQUEST_BYTES }>> {
        let code = match op {
            Op::PowerOn => 0x01,
            Op::PowerOff => 0x00,
            Op::ReadState => STATUS_OP,
        };
        Some(request(&[START_BYTE, self.channel, code]))
    }

    fn expects_reply(&self, op: Op) -> bool {
        op == Op::ReadState
    }

    fn decode(&self, op: Op, reply: &[u8]) -> Decoded {
        if op != Op::ReadState {
            return Decoded::Done(Reply::Ack);
        }
        if let Some(&first) = reply.first() {
            if first != START_BYTE {
                return Decoded::Error(ReplyError::Garbage(hex(reply)));
            }
        }
        let Some(frame) = reply.get(..3) else { return Decoded::Incomplete };
        if reply.len() > 3 {
            return Decoded::Error(ReplyError::Garbage(format!("trailing bytes in {}", hex(reply))));
        }
        if frame[1] != self.channel {
            return Decoded::Error(ReplyError::WrongReply(format!(
                "state of relay {} instead of {}",
                frame[1], self.channel
            )));
        }
        match frame[2] {
            0x00 => Decoded::Done(Reply::State(RelayState::Off)),
            0x01 => Decoded::Done(Reply::State(RelayState::On)),
            v => Decoded::Error(ReplyError::WrongReply(format!("state byte {v:02X}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_commands() {
        let k = Kmtronic { channel: 1 };
        assert_eq!(k.encode(Op::PowerOn).unwrap().as_slice(), &[0xFF, 0x01, 0x01]);
        assert_eq!(k.encode(Op::PowerOff).unwrap().as_slice(), &[0xFF, 0x01, 0x00]);
        assert_eq!(k.encode(Op::ReadState).unwrap().as_slice(), &[0xFF, 0x01, 0x03]);
        assert_eq!(Kmtronic { channel: 8 }.encode(Op::PowerOff).unwrap().as_slice(), &[0xFF, 0x08, 0x00]);
    }

    #[test]
    fn status_replies() {
        let k = Kmtronic { channel: 2 };
        assert_eq!(k.decode(Op::ReadState, &[]), Decoded::Incomplete);
        assert_eq!(k.decode(Op::ReadState, &[0xFF, 0x02]), Decoded::Incomplete);
        assert_eq!(k.decode(Op::ReadState, &[0xFF, 0x02, 0x01]), Decoded::Done(Reply::State(RelayState::On)));
        assert_eq!(
            k.decode(Op::ReadState, &[0xFF, 0x02, 0x00]),
            Decoded::Done(Reply::State(RelayState::Off))
        );
        assert!(matches!(
            k.decode(Op::ReadState, &[0xFF, 0x03, 0x00]),
            Decoded::Error(ReplyError::WrongReply(_))
        ));
        assert!(matches!(
            k.decode(Op::ReadState, &[0xFF, 0x02, 0x07]),
            Decoded::Error(ReplyError::WrongReply(_))
        ));
        assert!(matches!(k.decode(Op::ReadState, &[0x42]), Decoded::Error(ReplyError::Garbage(_))));
        assert!(matches!(
            k.decode(Op::ReadState, &[0xFF, 0x02, 0x00, 0x00]),
            Decoded::Error(ReplyError::Garbage(_))
        ));
        assert_eq!(k.decode(Op::PowerOn, &[]), Decoded::Done(Reply::Ack));
    }
}

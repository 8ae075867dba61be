//! Numato-style USB relay modules: a text console. Commands `relay on N\r`, `relay off N\r`,
//! `relay read N\r`; the module echoes the input, answers `read` with `on` or `off` on its
//! own line, and ends every exchange with the prompt `>`. Relays are numbered 0..=9, then
//! `A`..=`Z` on the larger modules.
//!
//! Pure codec: owns the text, not the port. Decoding waits for the prompt, then checks the
//! echo and the answer lines; a reply that never ends with the prompt is a timeout.

#![forbid(unsafe_code)]

use super::{hex, request, Decoded, Op, RelayState, Reply, ReplyError, SerialCodec, MAX_REPLY_BYTES};

pub const PROMPT: u8 = b'>';
/// Largest relay index the module's one-character numbering can name (0-9, A-Z).
pub const MAX_CHANNEL: u8 = 35;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numato {
    /// Relay index, 0..=MAX_CHANNEL.
    pub channel: u8,
}

/// The module's one-character relay index.
pub fn index_char(channel: u8) -> char {
    assert!(channel <= MAX_CHANNEL);
    if channel < 10 {
        char::from(b'0' + channel)
    } else {
        char::from(b'A' + (channel - 10))
    }
}

impl Numato {
    fn command_text(&self, op: Op) -> String {
        let verb = match op {
            Op::PowerOn => "on",
            Op::PowerOff => "off",
            Op::ReadState => "read",
        };
        format!("relay {verb} {}", index_char(self.channel))
    }
}

impl SerialCodec for Numato {
    fn name(&self) -> &'static str {
        "numato"
    }

    fn encode(&self, op: Op) -> Option<heapless::Vec<u8, { super::MAX_REQUEST_BYTES }>> {
        let mut text = self.command_text(op);
        text.push('\r');
        Some(request(text.as_bytes()))
    }

    fn expects_reply(&self, _op: Op) -> bool {
        true
    }

    fn decode(&self, op: Op, reply: &[u8]) -> Decoded {
        if reply.len() > MAX_REPLY_BYTES {
            return Decoded::Error(ReplyError::Garbage(format!("{} bytes without a prompt", reply.len())));
        }
        let Ok(text) = core::str::from_utf8(reply) else {
            return Decoded::Error(ReplyError::Garbage(hex(reply)));
        };
        if text.chars().any(|c| !(c.is_ascii_graphic() || c == ' ' || c == '\r' || c == '\n')) {
            return Decoded::Error(ReplyError::Garbage(hex(reply)));
        }
        let Some(body) = text.trim_end_matches([' ', '\r', '\n']).strip_suffix(char::from(PROMPT)) else {
            return Decoded::Incomplete;
        };
        let mut lines = body.split(['\r', '\n']).map(str::trim).filter(|l| !l.is_empty());
        let expected_echo = self.command_text(op);
        match lines.next() {
            Some(echo) if echo == expected_echo => {}
            Some(echo) => {
                return Decoded::Error(ReplyError::WrongReply(format!(
                    "echo {echo:?} instead of {expected_echo:?}"
                )))
            }
            None => return Decoded::Error(ReplyError::WrongReply("prompt without echo".into())),
        }
        let answer = lines.next();
        if let Some(extra) = lines.next() {
            return Decoded::Error(ReplyError::WrongReply(format!("unexpected line {extra:?}")));
        }
        match (op, answer) {
            (Op::ReadState, Some("on")) => Decoded::Done(Reply::State(RelayState::On)),
            (Op::ReadState, Some("off")) => Decoded::Done(Reply::State(RelayState::Off)),
            (Op::ReadState, Some(other)) => {
                Decoded::Error(ReplyError::WrongReply(format!("state {other:?}")))
            }
            (Op::ReadState, None) => Decoded::Error(ReplyError::WrongReply("no state line".into())),
            (_, None) => Decoded::Done(Reply::Ack),
            (_, Some(other)) => Decoded::Error(ReplyError::DeviceError(format!("module said {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_commands() {
        let n = Numato { channel: 3 };
        assert_eq!(n.encode(Op::PowerOn).unwrap().as_slice(), b"relay on 3\r");
        assert_eq!(n.encode(Op::PowerOff).unwrap().as_slice(), b"relay off 3\r");
        assert_eq!(n.encode(Op::ReadState).unwrap().as_slice(), b"relay read 3\r");
        assert_eq!(Numato { channel: 10 }.encode(Op::PowerOn).unwrap().as_slice(), b"relay on A\r");
        assert_eq!(index_char(35), 'Z');
    }

    #[test]
    fn replies() {
        let n = Numato { channel: 0 };
        assert_eq!(n.decode(Op::ReadState, b"relay read 0\n\ron\n"), Decoded::Incomplete);
        assert_eq!(
            n.decode(Op::ReadState, b"relay read 0\n\ron\n\r>"),
            Decoded::Done(Reply::State(RelayState::On))
        );
        assert_eq!(
            n.decode(Op::ReadState, b"relay read 0\n\roff\n\r>"),
            Decoded::Done(Reply::State(RelayState::Off))
        );
        assert_eq!(n.decode(Op::PowerOff, b"relay off 0\n\r>"), Decoded::Done(Reply::Ack));
        assert!(matches!(
            n.decode(Op::PowerOff, b"relay off 1\n\r>"),
            Decoded::Error(ReplyError::WrongReply(_))
        ));
        assert!(matches!(
            n.decode(Op::ReadState, b"relay read 0\n\rmaybe\n\r>"),
            Decoded::Error(ReplyError::WrongReply(_))
        ));
        assert!(matches!(n.decode(Op::ReadState, b">"), Decoded::Error(ReplyError::WrongReply(_))));
        assert!(matches!(
            n.decode(Op::PowerOn, b"relay on 0\n\rError\n\r>"),
            Decoded::Error(ReplyError::DeviceError(_))
        ));
        assert!(matches!(n.decode(Op::PowerOn, &[0xF3, 0x00, b'>']), Decoded::Error(ReplyError::Garbage(_))));
    }
}

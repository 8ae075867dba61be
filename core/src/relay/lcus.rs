//! LCUS-style USB relay boards (CH340 bridge, 9600 8N1): four-byte commands `A0 ch op sum`,
//! `sum = A0 + ch + op` (mod 256). On `A0 01 01 A2`, off `A0 01 00 A1`. The board does not
//! acknowledge commands. Some boards answer a status query byte `FF`, in a format that varies
//! between batches; read-back is therefore off unless the configuration says the board was
//! probed (`status_query = true`), and then both known answer shapes are accepted: the
//! four-byte frame `A0 ch st sum`, or text lines such as `CH1:ON` / `CH1: OFF`.
//!
//! Pure codec: owns the bytes, not the port.

#![forbid(unsafe_code)]

use super::{hex, request, Decoded, Op, RelayState, Reply, ReplyError, SerialCodec, MAX_REPLY_BYTES};

pub const START_BYTE: u8 = 0xA0;
pub const STATUS_QUERY_BYTE: u8 = 0xFF;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lcus {
    /// Relay number on the board, 1..=255 (boards count from 1).
    pub channel: u8,
    /// The board was probed and answers `FF` with its state.
    pub status_query: bool,
}

/// The four-byte command for `channel` and `on`.
pub fn command(channel: u8, on: bool) -> [u8; 4] {
    let op = u8::from(on);
    [START_BYTE, channel, op, START_BYTE.wrapping_add(channel).wrapping_add(op)]
}

impl SerialCodec for Lcus {
    fn name(&self) -> &'static str {
        "lcus"
    }

    fn encode(&self, op: Op) -> Option<heapless::Vec<u8, { super::MAX_REQUEST_BYTES }>> {
        match op {
            Op::PowerOn => Some(request(&command(self.channel, true))),
            Op::PowerOff => Some(request(&command(self.channel, false))),
            Op::ReadState if self.status_query => Some(request(&[STATUS_QUERY_BYTE])),
            Op::ReadState => None,
        }
    }

    fn expects_reply(&self, op: Op) -> bool {
        op == Op::ReadState
    }

    fn decode(&self, op: Op, reply: &[u8]) -> Decoded {
        if op != Op::ReadState {
            return Decoded::Done(Reply::Ack);
        }
        if reply.len() > MAX_REPLY_BYTES {
            return Decoded::Error(ReplyError::Garbage(format!("{} bytes", reply.len())));
        }
        match reply.first() {
            None => Decoded::Incomplete,
            Some(&START_BYTE) => decode_frame(self.channel, reply),
            Some(_) => decode_text(self.channel, reply),
        }
    }
}

fn decode_frame(channel: u8, reply: &[u8]) -> Decoded {
    let Some(frame) = reply.get(..4) else { return Decoded::Incomplete };
    let sum = frame[0].wrapping_add(frame[1]).wrapping_add(frame[2]);
    if sum != frame[3] {
        return Decoded::Error(ReplyError::Garbage(format!("bad checksum in {}", hex(frame))));
    }
    if frame[1] != channel {
        return Decoded::Error(ReplyError::WrongReply(format!(
            "state of relay {} instead of {channel}",
            frame[1]
        )));
    }
    match frame[2] {
        0 => Decoded::Done(Reply::State(RelayState::Off)),
        1 => Decoded::Done(Reply::State(RelayState::On)),
        v => Decoded::Error(ReplyError::WrongReply(format!("state byte {v:02X}"))),
    }
}

/// Text answers: one line per relay, `CH<n>:ON|OFF` (spaces and case tolerated). Decided once
/// the line of our channel is complete; a complete answer without it is a wrong reply.
fn decode_text(channel: u8, reply: &[u8]) -> Decoded {
    let Ok(text) = core::str::from_utf8(reply) else {
        return Decoded::Error(ReplyError::Garbage(hex(reply)));
    };
    if text.chars().any(|c| !(c.is_ascii_graphic() || c == ' ' || c == '\r' || c == '\n')) {
        return Decoded::Error(ReplyError::Garbage(hex(reply)));
    }
    let complete_lines = match text.rfind('\n') {
        Some(i) => &text[..i],
        None => return Decoded::Incomplete,
    };
    for line in complete_lines.split('\n') {
        let line: String =
            line.chars().filter(|c| !c.is_ascii_whitespace()).collect::<String>().to_ascii_uppercase();
        if line.is_empty() {
            continue;
        }
        let Some(rest) = line.strip_prefix("CH") else {
            return Decoded::Error(ReplyError::Garbage(format!("line {line:?}")));
        };
        let Some((n, state)) = rest.split_once(':') else {
            return Decoded::Error(ReplyError::Garbage(format!("line {line:?}")));
        };
        if n.parse::<u8>().ok() != Some(channel) {
            continue;
        }
        return match state {
            "ON" => Decoded::Done(Reply::State(RelayState::On)),
            "OFF" => Decoded::Done(Reply::State(RelayState::Off)),
            other => Decoded::Error(ReplyError::WrongReply(format!("state {other:?}"))),
        };
    }
    // Multi-relay boards send one line per relay; wait for more lines until the deadline.
    Decoded::Incomplete
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_commands_match_devices_md() {
        let c = Lcus { channel: 1, status_query: false };
        assert_eq!(c.encode(Op::PowerOn).unwrap().as_slice(), &[0xA0, 0x01, 0x01, 0xA2]);
        assert_eq!(c.encode(Op::PowerOff).unwrap().as_slice(), &[0xA0, 0x01, 0x00, 0xA1]);
        assert_eq!(command(2, true), [0xA0, 0x02, 0x01, 0xA3]);
        assert_eq!(command(0xFF, true), [0xA0, 0xFF, 0x01, 0xA0], "sum wraps modulo 256");
    }

    #[test]
    fn read_back_only_when_probed() {
        assert_eq!(Lcus { channel: 1, status_query: false }.encode(Op::ReadState), None);
        let c = Lcus { channel: 1, status_query: true };
        assert_eq!(c.encode(Op::ReadState).unwrap().as_slice(), &[0xFF]);
        assert!(!c.expects_reply(Op::PowerOff));
        assert_eq!(c.decode(Op::PowerOff, &[]), Decoded::Done(Reply::Ack));
    }

    #[test]
    fn frame_and_text_answers() {
        let c = Lcus { channel: 1, status_query: true };
        assert_eq!(c.decode(Op::ReadState, &[0xA0, 0x01]), Decoded::Incomplete);
        assert_eq!(
            c.decode(Op::ReadState, &[0xA0, 0x01, 0x01, 0xA2]),
            Decoded::Done(Reply::State(RelayState::On))
        );
        assert_eq!(
            c.decode(Op::ReadState, &[0xA0, 0x01, 0x00, 0xA1]),
            Decoded::Done(Reply::State(RelayState::Off))
        );
        assert!(matches!(
            c.decode(Op::ReadState, &[0xA0, 0x01, 0x00, 0xA2]),
            Decoded::Error(ReplyError::Garbage(_))
        ));
        assert!(matches!(
            c.decode(Op::ReadState, &[0xA0, 0x02, 0x00, 0xA2]),
            Decoded::Error(ReplyError::WrongReply(_))
        ));
        assert_eq!(c.decode(Op::ReadState, b"CH1:O"), Decoded::Incomplete);
        assert_eq!(c.decode(Op::ReadState, b"CH1: ON\r\n"), Decoded::Done(Reply::State(RelayState::On)));
        assert_eq!(
            c.decode(Op::ReadState, b"ch2:on\r\nCH1:OFF\r\n"),
            Decoded::Done(Reply::State(RelayState::Off))
        );
        assert!(matches!(
            c.decode(Op::ReadState, b"CH1:MAYBE\r\n"),
            Decoded::Error(ReplyError::WrongReply(_))
        ));
        assert!(matches!(
            c.decode(Op::ReadState, &[0x13, 0x37, 0xFE, b'\n']),
            Decoded::Error(ReplyError::Garbage(_))
        ));
        assert!(matches!(c.decode(Op::ReadState, &[b'x'; 65]), Decoded::Error(ReplyError::Garbage(_))));
    }
}

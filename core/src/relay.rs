//! Relay channels: the one small interface through which the witness cuts (and restores) a
//! server's power, and the drivers behind it.
//!
//! Owns the [`RelayChannel`] trait (power off, power on, read state, each with a timeout) and
//! the protocol codecs of the serial boards as pure functions (command -> bytes, reply bytes ->
//! typed reply or typed error: [`lcus`], [`kmtronic`], [`numato`], [`modbus`]). The drivers
//! that own ports and processes (the blocking serial executor, the Linux GPIO character device,
//! the external fence-agent command) live in `ha-agent`'s `devices::relay`, which re-exports
//! this module. It does not decide when to fence or whether an unconfirmed fence is trusted
//! (that is [`crate::fence`] and the core), and it never retries on its own: one call, one
//! exchange, bounded by its timeout.

#![forbid(unsafe_code)]

pub mod kmtronic;
pub mod lcus;
pub mod modbus;
pub mod numato;

use core::fmt;

/// Bound on the reply bytes any serial board may send to one request; more is garbage.
pub const MAX_REPLY_BYTES: usize = 64;
/// Bound on the request bytes any serial codec produces.
pub const MAX_REQUEST_BYTES: usize = 32;

/// What a relay channel reads back. `On` means the server has power.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayState {
    On,
    Off,
}

impl fmt::Display for RelayState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RelayState::On => "on",
            RelayState::Off => "off",
        })
    }
}

/// One operation on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    PowerOn,
    PowerOff,
    ReadState,
}

/// A decoded, well-formed reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The board accepted the command (or the protocol has no reply to a command).
    Ack,
    State(RelayState),
}

/// Why a reply could not be accepted. Every variant comes from untrusted bytes; none panics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// Bytes that do not belong to the protocol at all (wrong start byte, bad CRC, too long).
    Garbage(String),
    /// A well-formed reply that answers something else (other channel, other address, other
    /// function, a value the request does not allow).
    WrongReply(String),
    /// The board answered with a protocol-level error (Modbus exception, fence agent failure).
    DeviceError(String),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Garbage(s) => write!(f, "garbage reply: {s}"),
            ReplyError::WrongReply(s) => write!(f, "wrong reply: {s}"),
            ReplyError::DeviceError(s) => write!(f, "device error: {s}"),
        }
    }
}

/// Result of feeding the bytes received so far to a codec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Not enough bytes yet; keep reading until the deadline.
    Incomplete,
    Done(Reply),
    Error(ReplyError),
}

/// Why an operation on a channel failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayError {
    /// The channel cannot read its state back (LCUS without a probed status query, GPIO without
    /// a sense input): any fence through it is unconfirmed.
    NoReadback,
    /// No complete reply before the deadline. `received` counts the bytes that did arrive.
    Timeout {
        after_ms: u64,
        received: usize,
    },
    Reply(ReplyError),
    /// Opening, writing or reading the device failed, or the command could not be run.
    Io(String),
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::NoReadback => f.write_str("this channel cannot read its state back"),
            RelayError::Timeout { after_ms, received: 0 } => write!(f, "no answer within {after_ms} ms"),
            RelayError::Timeout { after_ms, received } => {
                write!(f, "incomplete answer within {after_ms} ms ({received} bytes)")
            }
            RelayError::Reply(e) => e.fmt(f),
            RelayError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl From<std::io::Error> for RelayError {
    fn from(e: std::io::Error) -> RelayError {
        RelayError::Io(e.to_string())
    }
}

/// How a channel proves that a power-off happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The procedure reads the relay back: read, off, settle, poll until off.
    ReadBack,
    /// The off command succeeds only once the device reads off (the fence-agents contract:
    /// the agent polls the status itself until `power_timeout`, and exits non-zero if it
    /// never reads off). Reading it again would only repeat the agent's own work; with an
    /// IPMI agent, each extra call costs about a second of the failover.
    ByCommand,
    /// Nothing can be read back: off, settle, and an unconfirmed outcome.
    None,
}

/// One relay channel: the power of one server. Implementations do one exchange per call,
/// bounded by `timeout_ms`, and never retry (the fence procedure decides about retries).
pub trait RelayChannel {
    /// A one-line description for logs and `fence-test` ("modbus /dev/ttyUSB0 addr 1 coil 0").
    fn describe(&self) -> String;
    /// Whether [`RelayChannel::read_state`] can ever succeed. A channel without read-back can
    /// only give unconfirmed fences.
    fn can_read_back(&self) -> bool;
    /// How a power-off through this channel is confirmed: by reading it back (relay boards),
    /// by the command's own success (fence agents) or not at all.
    fn confirmation(&self) -> Confirmation {
        if self.can_read_back() {
            Confirmation::ReadBack
        } else {
            Confirmation::None
        }
    }
    fn power_off(&mut self, timeout_ms: u64) -> Result<(), RelayError>;
    fn power_on(&mut self, timeout_ms: u64) -> Result<(), RelayError>;
    fn read_state(&mut self, timeout_ms: u64) -> Result<RelayState, RelayError>;
    /// Between jobs: give up what other channels may need (a serial port that two channels
    /// share, opened exclusively) but keep what holds the output (a GPIO line request, whose
    /// level is undefined once released). The next call reopens what was given up.
    fn idle(&mut self) {}
}

/// A serial board protocol as pure functions. The agent's serial executor calls `encode`, writes
/// the bytes, then feeds everything it has read so far to `decode` until it is not
/// `Incomplete` or the deadline passes.
pub trait SerialCodec {
    /// Short name for logs.
    fn name(&self) -> &'static str;
    /// The request bytes for `op`, or `None` when the board cannot do `op` (read-back).
    fn encode(&self, op: Op) -> Option<heapless::Vec<u8, MAX_REQUEST_BYTES>>;
    /// Whether the board answers `op` at all. Boards that do not answer commands (LCUS,
    /// KMtronic) are done once the bytes are written.
    fn expects_reply(&self, op: Op) -> bool;
    /// Interpret the bytes received so far in answer to `op`. Pure, total, never panics.
    fn decode(&self, op: Op, reply: &[u8]) -> Decoded;
}

/// Hex rendering of untrusted bytes for error messages, bounded to `MAX_REPLY_BYTES`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len().min(MAX_REPLY_BYTES) * 3);
    for (i, b) in bytes.iter().take(MAX_REPLY_BYTES).enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// Build a request vector from a short literal; the codecs' requests are all far below the
/// bound, so overflow is a programming error.
pub fn request(bytes: &[u8]) -> heapless::Vec<u8, MAX_REQUEST_BYTES> {
    let mut v = heapless::Vec::new();
    assert!(v.extend_from_slice(bytes).is_ok(), "relay request longer than MAX_REQUEST_BYTES");
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise (xorshift), so that a failure reproduces.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn every_codec_is_total_on_noise_and_its_own_prefixes() {
        let codecs: [&dyn SerialCodec; 5] = [
            &lcus::Lcus { channel: 1, status_query: true },
            &lcus::Lcus { channel: 1, status_query: false },
            &kmtronic::Kmtronic { channel: 1 },
            &numato::Numato { channel: 0 },
            &modbus::Modbus { address: 1, coil: 0 },
        ];
        for codec in codecs {
            for op in [Op::PowerOn, Op::PowerOff, Op::ReadState] {
                for seed in 1..200u64 {
                    let bytes = noise(seed, (seed as usize) % (MAX_REPLY_BYTES + 8));
                    for end in 0..=bytes.len() {
                        let _ = codec.decode(op, &bytes[..end]);
                    }
                }
                if let Some(request) = codec.encode(op) {
                    assert!(request.len() <= MAX_REQUEST_BYTES);
                }
            }
            // The echo of the read request itself (a looped-back line, an echoing adapter) is
            // never taken for a state: that would confirm a fence that did not happen. Echoes
            // of earlier commands cannot be confused (LCUS and KMtronic state answers look like
            // their commands): the executor flushes the input before every request.
            if let Some(read) = codec.encode(Op::ReadState) {
                let decoded = codec.decode(Op::ReadState, &read);
                assert!(!matches!(decoded, Decoded::Done(_)), "{}: {decoded:?}", codec.name());
            }
        }
    }
}

//! The heartbeat frame: fixed header, postcard body, truncated HMAC-SHA-256.
//! STUB: to be implemented (see docs/protocol.md).

#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

pub const VERSION: u8 = 1;
/// Bytes of the fixed header (see docs/protocol.md for the layout).
pub const HEADER_BYTES: usize = 44;
/// Bytes of the truncated HMAC-SHA-256 tag.
pub const MAC_BYTES: usize = 16;
/// Bound on the postcard body.
pub const MAX_BODY_BYTES: usize = 192;
/// Bound on a whole frame (header + body + MAC).
pub const MAX_FRAME_BYTES: usize = HEADER_BYTES + MAX_BODY_BYTES + MAC_BYTES;
/// Bound on the number of member ids a heartbeat lists.
pub const MAX_REACH: usize = 4;

/// The cluster key (16..=64 bytes), used as the HMAC-SHA-256 key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey(pub heapless::Vec<u8, 64>);

impl core::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ClusterKey({} bytes)", self.0.len())
    }
}

/// The authenticated header every frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub cluster_id: u32,
    /// Sender's member id.
    pub sender: u8,
    /// Link id (identical at both ends of a link).
    pub link: u8,
    /// Sender's boot counter (kept on disk, incremented each start).
    pub boot: u64,
    /// Sender's sequence number on this link, starting at 1 each boot.
    pub seq: u64,
    /// The boot counter of the receiver's latest frame the sender accepted on this link (0 = none).
    pub ack_boot: u64,
    /// The sequence of the receiver's latest frame the sender accepted on this link (0 = none).
    pub ack_seq: u64,
    /// How long the sender held the acknowledged frame before sending this one, in
    /// microseconds (saturating). Lets the receiver measure round-trip time and tell when the
    /// peer last heard it.
    pub ack_delay_us: u32,
}

/// The message body, encoded with postcard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    Heartbeat(Heartbeat),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Member ids the sender currently reaches.
    pub reaches: heapless::Vec<u8, MAX_REACH>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    BodyTooLarge,
    BufferTooSmall,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    TooShort,
    TooLong,
    BadVersion(u8),
    WrongCluster(u32),
    BadLength,
    BadMac,
    BadBody,
}

/// Cluster id of a cluster name: first four bytes (big endian) of SHA-256(name).
pub fn cluster_id_for(name: &str) -> u32 {
    let _ = name;
    0
}

/// Encode and authenticate one frame into `out`; returns the number of bytes written.
pub fn encode(key: &ClusterKey, header: &Header, msg: &Message, out: &mut [u8]) -> Result<usize, EncodeError> {
    let _ = (key, header, msg, out);
    Err(EncodeError::BufferTooSmall)
}

/// Check and decode one frame. The MAC is verified before the body is parsed.
pub fn decode(key: &ClusterKey, cluster_id: u32, bytes: &[u8]) -> Result<(Header, Message), DecodeError> {
    let _ = (key, cluster_id, bytes);
    Err(DecodeError::TooShort)
}

//! The heartbeat frame: a fixed 48-byte header, a postcard body and a 16-byte truncated
//! HMAC-SHA-256 tag over both (layout and rationale in `docs/protocol.md`).
//!
//! Owns the byte layout and its checks: [`encode`] turns a [`Header`] and a [`Message`] into
//! authenticated bytes; [`decode`] turns untrusted bytes into the same typed values or a typed
//! [`DecodeError`], never a panic, checking lengths and fixed fields first, the MAC next (in
//! constant time) and parsing the body only once it is authenticated. A decoded body is
//! canonical: re-encoding a decoded frame gives back exactly the received bytes.
//!
//! It does not keep state: replay protection (sequence and boot counters), acknowledgements
//! and liveness belong to the core; transports (serial framing, UDP, Ethernet) belong to
//! [`super::serial`] and `links`.

#![forbid(unsafe_code)]

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const VERSION: u8 = 1;
/// Bytes of the fixed header (see docs/protocol.md for the layout).
pub const HEADER_BYTES: usize = 48;
/// Bytes of the truncated HMAC-SHA-256 tag.
pub const MAC_BYTES: usize = 16;
/// Bound on the postcard body.
pub const MAX_BODY_BYTES: usize = 192;
/// Bound on a whole frame (header + body + MAC).
pub const MAX_FRAME_BYTES: usize = HEADER_BYTES + MAX_BODY_BYTES + MAC_BYTES;
/// The shortest possible frame: header and MAC around an empty body.
pub const MIN_FRAME_BYTES: usize = HEADER_BYTES + MAC_BYTES;
/// Bound on the number of member ids a heartbeat lists.
pub const MAX_REACH: usize = 4;

// Header field offsets (docs/protocol.md, "Frame layout").
const OFFSET_VERSION: usize = 0;
const OFFSET_FLAGS: usize = 1;
const OFFSET_CLUSTER_ID: usize = 2;
const OFFSET_SENDER: usize = 6;
const OFFSET_LINK: usize = 7;
const OFFSET_BOOT: usize = 8;
const OFFSET_SEQ: usize = 16;
const OFFSET_ACK_BOOT: usize = 24;
const OFFSET_ACK_SEQ: usize = 32;
const OFFSET_BODY_LEN: usize = 40;
const OFFSET_RESERVED: usize = 42;
const OFFSET_ACK_DELAY_US: usize = 44;

const _: () = assert!(OFFSET_ACK_DELAY_US + 4 == HEADER_BYTES);
// body_len is a u16 on the wire.
const _: () = assert!(MAX_BODY_BYTES <= u16::MAX as usize);

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
    /// The witness's word for the receiver (witness frames only).
    pub witness: Option<super::messages::WitnessInfo>,
    /// The sender's report about itself (node frames only).
    pub node: Option<super::messages::NodeReport>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The postcard body would exceed MAX_BODY_BYTES.
    BodyTooLarge,
    /// `out` cannot hold the whole frame.
    BufferTooSmall,
}

/// Why a frame was rejected. Only [`DecodeError::BadMac`] means "possibly forged"; everything
/// before it is checked on unauthenticated bytes, everything after it on authenticated ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer than MIN_FRAME_BYTES bytes.
    TooShort,
    /// More than MAX_FRAME_BYTES bytes.
    TooLong,
    /// The version byte is not VERSION (carries the byte received).
    BadVersion(u8),
    /// The flags byte or the reserved u16 is nonzero (reserved for future versions).
    BadFlags,
    /// The frame belongs to another cluster (carries the cluster id received).
    WrongCluster(u32),
    /// body_len exceeds MAX_BODY_BYTES or disagrees with the frame's length.
    BadLength,
    /// The tag does not match: wrong key, corruption or forgery.
    BadMac,
    /// The authenticated body is not the canonical postcard encoding of a `Message`.
    BadBody,
}

/// Cluster id of a cluster name: first four bytes (big endian) of SHA-256(name).
pub fn cluster_id_for(name: &str) -> u32 {
    let digest = Sha256::digest(name.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

fn mac_for(key: &ClusterKey) -> HmacSha256 {
    // Invariant, not input validation: HMAC accepts keys of any length (long keys are hashed),
    // so this never fails.
    <HmacSha256 as Mac>::new_from_slice(&key.0).expect("HMAC-SHA-256 accepts keys of any length")
}

/// Encode and authenticate one frame into `out`; returns the number of bytes written.
///
/// Bounded work: one postcard serialization into a MAX_BODY_BYTES scratch buffer and one
/// HMAC over at most MAX_FRAME_BYTES - MAC_BYTES bytes.
pub fn encode(
    key: &ClusterKey,
    header: &Header,
    msg: &Message,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut scratch = [0u8; MAX_BODY_BYTES];
    let body_len = match postcard::to_slice(msg, &mut scratch) {
        Ok(body) => body.len(),
        Err(_) => return Err(EncodeError::BodyTooLarge),
    };
    seal(key, header, &scratch[..body_len], out)
}

/// Write header, `body` (already postcard-encoded) and MAC into `out`. Split from [`encode`]
/// so that tests can authenticate bodies that `encode` would never produce.
pub(crate) fn seal(
    key: &ClusterKey,
    header: &Header,
    body: &[u8],
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(EncodeError::BodyTooLarge);
    }
    let mac_offset = HEADER_BYTES + body.len();
    let total = mac_offset + MAC_BYTES;
    if out.len() < total {
        return Err(EncodeError::BufferTooSmall);
    }
    let frame = &mut out[..total];
    frame[OFFSET_VERSION] = VERSION;
    frame[OFFSET_FLAGS] = 0;
    frame[OFFSET_CLUSTER_ID..OFFSET_SENDER].copy_from_slice(&header.cluster_id.to_le_bytes());
    frame[OFFSET_SENDER] = header.sender;
    frame[OFFSET_LINK] = header.link;
    frame[OFFSET_BOOT..OFFSET_SEQ].copy_from_slice(&header.boot.to_le_bytes());
    frame[OFFSET_SEQ..OFFSET_ACK_BOOT].copy_from_slice(&header.seq.to_le_bytes());
    frame[OFFSET_ACK_BOOT..OFFSET_ACK_SEQ].copy_from_slice(&header.ack_boot.to_le_bytes());
    frame[OFFSET_ACK_SEQ..OFFSET_BODY_LEN].copy_from_slice(&header.ack_seq.to_le_bytes());
    // Cannot truncate: body.len() <= MAX_BODY_BYTES <= u16::MAX (checked above and at compile time).
    frame[OFFSET_BODY_LEN..OFFSET_RESERVED].copy_from_slice(&(body.len() as u16).to_le_bytes());
    frame[OFFSET_RESERVED..OFFSET_ACK_DELAY_US].copy_from_slice(&[0, 0]);
    frame[OFFSET_ACK_DELAY_US..HEADER_BYTES].copy_from_slice(&header.ack_delay_us.to_le_bytes());
    frame[HEADER_BYTES..mac_offset].copy_from_slice(body);
    let mut mac = mac_for(key);
    mac.update(&frame[..mac_offset]);
    let tag = mac.finalize().into_bytes();
    frame[mac_offset..].copy_from_slice(&tag[..MAC_BYTES]);
    Ok(total)
}

fn le_u64(bytes: &[u8], offset: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(b)
}

/// Check and decode one frame. The MAC is verified before the body is parsed.
///
/// Order of checks (the first failing one is reported): length bounds, version, flags and
/// reserved field, cluster id, body length, MAC (constant time), body. Bounded work: one HMAC
/// over at most MAX_FRAME_BYTES - MAC_BYTES bytes and one postcard parse and re-encode of at
/// most MAX_BODY_BYTES bytes; nothing is allocated.
pub fn decode(key: &ClusterKey, cluster_id: u32, bytes: &[u8]) -> Result<(Header, Message), DecodeError> {
    if bytes.len() < MIN_FRAME_BYTES {
        return Err(DecodeError::TooShort);
    }
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLong);
    }
    if bytes[OFFSET_VERSION] != VERSION {
        return Err(DecodeError::BadVersion(bytes[OFFSET_VERSION]));
    }
    if bytes[OFFSET_FLAGS] != 0 || bytes[OFFSET_RESERVED] != 0 || bytes[OFFSET_RESERVED + 1] != 0 {
        return Err(DecodeError::BadFlags);
    }
    let received_cluster_id = u32::from_le_bytes([
        bytes[OFFSET_CLUSTER_ID],
        bytes[OFFSET_CLUSTER_ID + 1],
        bytes[OFFSET_CLUSTER_ID + 2],
        bytes[OFFSET_CLUSTER_ID + 3],
    ]);
    if received_cluster_id != cluster_id {
        return Err(DecodeError::WrongCluster(received_cluster_id));
    }
    let body_len = usize::from(u16::from_le_bytes([bytes[OFFSET_BODY_LEN], bytes[OFFSET_BODY_LEN + 1]]));
    if body_len > MAX_BODY_BYTES || bytes.len() != HEADER_BYTES + body_len + MAC_BYTES {
        return Err(DecodeError::BadLength);
    }
    let mac_offset = HEADER_BYTES + body_len;
    let mut mac = mac_for(key);
    mac.update(&bytes[..mac_offset]);
    if mac.verify_truncated_left(&bytes[mac_offset..]).is_err() {
        return Err(DecodeError::BadMac);
    }

    // Authenticated from here on.
    let body = &bytes[HEADER_BYTES..mac_offset];
    let msg = match postcard::take_from_bytes::<Message>(body) {
        Ok((msg, [])) => msg,
        _ => return Err(DecodeError::BadBody),
    };
    // postcard accepts over-long varints (0x80 0x00 for 0); insist on the one encoding per
    // value so that decode and encode are exact inverses (the fuzz target checks this).
    let mut scratch = [0u8; MAX_BODY_BYTES];
    match postcard::to_slice(&msg, &mut scratch) {
        Ok(canonical) if canonical == body => {}
        _ => return Err(DecodeError::BadBody),
    }
    let header = Header {
        cluster_id: received_cluster_id,
        sender: bytes[OFFSET_SENDER],
        link: bytes[OFFSET_LINK],
        boot: le_u64(bytes, OFFSET_BOOT),
        seq: le_u64(bytes, OFFSET_SEQ),
        ack_boot: le_u64(bytes, OFFSET_ACK_BOOT),
        ack_seq: le_u64(bytes, OFFSET_ACK_SEQ),
        ack_delay_us: u32::from_le_bytes([
            bytes[OFFSET_ACK_DELAY_US],
            bytes[OFFSET_ACK_DELAY_US + 1],
            bytes[OFFSET_ACK_DELAY_US + 2],
            bytes[OFFSET_ACK_DELAY_US + 3],
        ]),
    };
    Ok((header, msg))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The golden key: 32 bytes 0x00..=0x1f.
    pub(crate) fn golden_key() -> ClusterKey {
        let mut key = heapless::Vec::new();
        for b in 0u8..32 {
            key.push(b).unwrap();
        }
        ClusterKey(key)
    }

    pub(crate) fn golden_header() -> Header {
        Header {
            cluster_id: cluster_id_for("payments"),
            sender: 2,
            link: 11,
            boot: 7,
            seq: 42,
            ack_boot: 3,
            ack_seq: 41,
            ack_delay_us: 5000,
        }
    }

    pub(crate) fn golden_message() -> Message {
        Message::Heartbeat(Heartbeat {
            reaches: heapless::Vec::from_slice(&[1, 3]).unwrap(),
            witness: None,
            node: None,
        })
    }

    /// Frozen; cross-checked with Python's hmac/hashlib (see docs/protocol.md).
    pub(crate) const GOLDEN_FRAME_HEX: &str = "0100e94a38df020b07000000000000002a000000000000000300000000000000290000000000000006000000881300000002010300004c1af8833f8a8328a4bbf78daef09d92";

    pub(crate) fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn unhex(s: &str) -> Vec<u8> {
        assert_eq!(s.len() % 2, 0, "odd-length hex");
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    pub(crate) fn golden_frame() -> Vec<u8> {
        let mut out = [0u8; MAX_FRAME_BYTES];
        let n = encode(&golden_key(), &golden_header(), &golden_message(), &mut out).unwrap();
        out[..n].to_vec()
    }

    fn decode_golden(bytes: &[u8]) -> Result<(Header, Message), DecodeError> {
        decode(&golden_key(), cluster_id_for("payments"), bytes)
    }

    /// Re-authenticate `frame` after a test edited its header or body.
    fn remac(frame: &mut [u8]) {
        let mac_offset = frame.len() - MAC_BYTES;
        let mut mac = mac_for(&golden_key());
        mac.update(&frame[..mac_offset]);
        let tag = mac.finalize().into_bytes();
        frame[mac_offset..].copy_from_slice(&tag[..MAC_BYTES]);
    }

    #[test]
    fn cluster_id_is_big_endian_prefix_of_sha256() {
        // SHA-256("payments") starts with df 38 4a e9 (Python hashlib).
        assert_eq!(cluster_id_for("payments"), 0xdf38_4ae9);
        assert_ne!(cluster_id_for("payments"), cluster_id_for("payment"));
    }

    #[test]
    fn golden_vector_encodes_exactly() {
        assert_eq!(hex(&golden_frame()), GOLDEN_FRAME_HEX);
    }

    #[test]
    fn golden_vector_decodes_to_the_same_values() {
        let (header, msg) = decode_golden(&unhex(GOLDEN_FRAME_HEX)).unwrap();
        assert_eq!(header, golden_header());
        assert_eq!(msg, golden_message());
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let frame = golden_frame();
        for index in 0..frame.len() {
            for bit in 0..8 {
                let mut bad = frame.clone();
                bad[index] ^= 1 << bit;
                assert!(decode_golden(&bad).is_err(), "flip of byte {index} bit {bit} accepted");
            }
        }
    }

    #[test]
    fn too_short_and_too_long() {
        let frame = golden_frame();
        assert_eq!(decode_golden(&frame[..MIN_FRAME_BYTES - 1]), Err(DecodeError::TooShort));
        assert_eq!(decode_golden(&[]), Err(DecodeError::TooShort));
        let long = vec![0u8; MAX_FRAME_BYTES + 1];
        assert_eq!(decode_golden(&long), Err(DecodeError::TooLong));
    }

    #[test]
    fn bad_version_carries_the_byte() {
        let mut frame = golden_frame();
        frame[0] = 2;
        assert_eq!(decode_golden(&frame), Err(DecodeError::BadVersion(2)));
    }

    #[test]
    fn nonzero_flags_or_reserved_are_bad_flags() {
        for offset in [OFFSET_FLAGS, OFFSET_RESERVED, OFFSET_RESERVED + 1] {
            let mut frame = golden_frame();
            frame[offset] = 0x80;
            remac(&mut frame);
            assert_eq!(decode_golden(&frame), Err(DecodeError::BadFlags), "offset {offset}");
        }
    }

    #[test]
    fn wrong_cluster_carries_the_id() {
        let frame = golden_frame();
        let ours = cluster_id_for("billing");
        assert_eq!(
            decode(&golden_key(), ours, &frame),
            Err(DecodeError::WrongCluster(cluster_id_for("payments")))
        );
    }

    #[test]
    fn inconsistent_body_len_is_bad_length() {
        // Length field says one byte more than present.
        let mut frame = golden_frame();
        frame[OFFSET_BODY_LEN] += 1;
        assert_eq!(decode_golden(&frame), Err(DecodeError::BadLength));
        // A trailing byte after the MAC.
        let mut frame = golden_frame();
        frame.push(0);
        assert_eq!(decode_golden(&frame), Err(DecodeError::BadLength));
        // Length field above the bound, in a frame of the maximum size.
        let mut frame = vec![0u8; MAX_FRAME_BYTES];
        frame[..HEADER_BYTES].copy_from_slice(&golden_frame()[..HEADER_BYTES]);
        frame[OFFSET_BODY_LEN..OFFSET_RESERVED].copy_from_slice(&(MAX_BODY_BYTES as u16 + 1).to_le_bytes());
        assert_eq!(decode_golden(&frame), Err(DecodeError::BadLength));
    }

    #[test]
    fn wrong_key_is_bad_mac() {
        let frame = golden_frame();
        let mut other = golden_key();
        other.0[0] ^= 1;
        assert_eq!(decode(&other, cluster_id_for("payments"), &frame), Err(DecodeError::BadMac));
    }

    #[test]
    fn five_reaches_is_bad_body() {
        // Variant 0 (Heartbeat), sequence length 5, five member ids: valid postcard for a
        // Vec but one more than a heartbeat may carry.
        let body = [0x00, 0x05, 1, 2, 3, 4, 5, 0x00, 0x00];
        let mut out = [0u8; MAX_FRAME_BYTES];
        let n = seal(&golden_key(), &golden_header(), &body, &mut out).unwrap();
        assert_eq!(decode_golden(&out[..n]), Err(DecodeError::BadBody));
        // Four is fine.
        let four = [0x00, 0x04, 1, 2, 3, 4, 0x00, 0x00];
        let n4 = seal(&golden_key(), &golden_header(), &four, &mut out).unwrap();
        assert_eq!(
            decode_golden(&out[..n4]).unwrap().1,
            Message::Heartbeat(Heartbeat {
                reaches: heapless::Vec::from_slice(&[1, 2, 3, 4]).unwrap(),
                witness: None,
                node: None
            })
        );
    }

    #[test]
    fn malformed_bodies_are_bad_body() {
        let cases: [&[u8]; 6] = [
            &[],                 // empty
            &[0x01, 0x00],       // unknown variant
            &[0x00, 0x02, 1],    // truncated list
            &[0x00, 0x01, 1, 9], // trailing byte
            &[0x00, 0x80, 0x00], // over-long varint for length 0: not canonical
            &[0x80, 0x00, 0x00], // over-long varint for variant 0: not canonical
        ];
        for body in cases {
            let mut out = [0u8; MAX_FRAME_BYTES];
            let n = seal(&golden_key(), &golden_header(), body, &mut out).unwrap();
            assert_eq!(decode_golden(&out[..n]), Err(DecodeError::BadBody), "body {body:02x?}");
        }
    }

    #[test]
    fn encode_errors_instead_of_panicking() {
        let frame = golden_frame();
        let mut small = vec![0u8; frame.len() - 1];
        assert_eq!(
            encode(&golden_key(), &golden_header(), &golden_message(), &mut small),
            Err(EncodeError::BufferTooSmall)
        );
        let mut exact = vec![0u8; frame.len()];
        assert_eq!(encode(&golden_key(), &golden_header(), &golden_message(), &mut exact), Ok(frame.len()));
        let body = [0u8; MAX_BODY_BYTES + 1];
        let mut out = [0u8; 2 * MAX_FRAME_BYTES];
        assert_eq!(seal(&golden_key(), &golden_header(), &body, &mut out), Err(EncodeError::BodyTooLarge));
    }

    #[test]
    fn roundtrip_extremes() {
        let header = Header {
            cluster_id: u32::MAX,
            sender: 255,
            link: 0,
            boot: u64::MAX,
            seq: 1,
            ack_boot: 0,
            ack_seq: u64::MAX,
            ack_delay_us: u32::MAX,
        };
        for reaches in [&[][..], &[255, 254, 1, 0][..]] {
            let msg = Message::Heartbeat(Heartbeat {
                reaches: heapless::Vec::from_slice(reaches).unwrap(),
                witness: None,
                node: None,
            });
            let mut out = [0u8; MAX_FRAME_BYTES];
            let n = encode(&golden_key(), &header, &msg, &mut out).unwrap();
            assert_eq!(decode(&golden_key(), u32::MAX, &out[..n]), Ok((header, msg)));
        }
    }
}

//! The fence service's datagrams: their byte layout, their authentication, and the typed
//! error of every way a datagram can be wrong.
//!
//! Owns the four kinds of datagram (docs/fence-agent.md, Protocol): `Hello` (a client asks
//! for a nonce), `Challenge` (the box's fresh nonce), `Request` (nonce, action, plug, under an
//! HMAC-SHA-256 of the dedicated fence key) and `Reply` (the nonce and the answer, under the
//! same key), plus `Refused`, the one unauthenticated answer, which says why a request was not
//! taken (a client never counts it as a success). Bodies are postcard; every datagram starts
//! with [`MAGIC`] and a kind byte, and the MAC covers everything before it, kind included, so
//! a reply can never pass for a request. Decoding checks everything once, at the edge, and is
//! total: any byte string gives a value or a [`DecodeError`].
//!
//! It does not own sockets, nonces' lifetimes or randomness (the caller gives the nonce), and
//! it does not decide what a request may do: that is [`super::server`].

#![forbid(unsafe_code)]

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::wire::ClusterKey;

type HmacSha256 = Hmac<Sha256>;

/// The first bytes of every datagram of the fence service ("rack HA fence", version 1).
pub const MAGIC: [u8; 4] = *b"RHF1";
/// Bytes of a nonce.
pub const NONCE_BYTES: usize = 16;
/// Bytes of the HMAC-SHA-256 tag (not truncated).
pub const MAC_BYTES: usize = 32;
/// Bound on any datagram of the service, either way, in bytes (fits an Ethernet frame).
pub const MAX_DATAGRAM_BYTES: usize = 1200;
/// Bound on a plug's name, in bytes.
pub const MAX_PLUG_BYTES: usize = 32;
/// Bound on a failure's reason in a reply, in bytes (longer reasons are cut).
pub const MAX_REASON_BYTES: usize = 240;
/// Bound on the plugs a `list` reply names (and on the plugs a box serves).
pub const MAX_LISTED_PLUGS: usize = 16;
/// A `Hello` is padded to this many bytes; a shorter one is refused. The box's answer to it
/// (a `Challenge` or a `Refused`) is shorter, so the service never amplifies a forged source
/// address's traffic.
pub const HELLO_BYTES: usize = 64;

const KIND_HELLO: u8 = 1;
const KIND_CHALLENGE: u8 = 2;
const KIND_REQUEST: u8 = 3;
const KIND_REPLY: u8 = 4;
const KIND_REFUSED: u8 = 5;
const HEADER_BYTES: usize = MAGIC.len() + 1;
const CHALLENGE_BYTES: usize = HEADER_BYTES + NONCE_BYTES + 4;
const REFUSED_BYTES: usize = HEADER_BYTES + NONCE_BYTES + 1;

pub type Nonce = [u8; NONCE_BYTES];
pub type Plug = heapless::String<MAX_PLUG_BYTES>;
pub type Reason = heapless::String<MAX_REASON_BYTES>;

/// What a client asks of a plug. `List` names the plugs (the agent's `list` and `monitor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Off,
    On,
    Reboot,
    Status,
    List,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Off => "off",
            Action::On => "on",
            Action::Reboot => "reboot",
            Action::Status => "status",
            Action::List => "list",
        }
    }
}

/// The power of a plug as its relay reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Power {
    On,
    Off,
}

/// Why the box did not carry out an authenticated request (the answer is MACed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// No plug of that name is served.
    UnknownPlug,
    /// The name is a member of the box's own cluster: its power is the box's own authority's,
    /// never switched for another cluster.
    OwnClusterMember,
    /// A command for this plug is already running or waiting, or too many wait.
    Busy,
    /// `list` takes no plug; the other actions need one.
    BadPlug,
    /// The asking node is powered by a plug that the box is switching off, or switched off
    /// within [`crate::fencesvc::server::FENCED_CLIENT_HOLD_MS`]: a node being fenced does not
    /// fence (the fence race of a two-node cluster leaves one node, not none). Appended last:
    /// the wire format numbers the variants.
    FencedClient,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownPlug => "no such plug on this box",
            Refusal::OwnClusterMember => {
                "a member of the box's own cluster: its power is switched by the box's own authority only"
            }
            Refusal::Busy => "a command for this plug is already running, or too many wait",
            Refusal::BadPlug => "list takes no plug; every other action needs one",
            Refusal::FencedClient => {
                "the asking node is itself being fenced, or was just fenced: a fenced node does not fence"
            }
        }
    }
}

/// The box's answer to an authenticated request. At most 250 bytes (a failure's reason): the
/// box keeps at most `server::MAX_OUTSTANDING_NONCES` of them.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// Taken, not finished: ask again with the same datagram (it is not a second command).
    InProgress,
    /// `off`: the relay reads off; `on`: it reads on (or, on a board that cannot read back,
    /// the command was accepted). `reboot`: both, in that order.
    Done,
    /// `status`.
    Status(Power),
    /// `list` (boxed: the other answers are a tenth of its size).
    Plugs(Box<heapless::Vec<Plug, MAX_LISTED_PLUGS>>),
    /// The command ran and failed; the reason in an operator's words.
    Failed(Reason),
    Refused(Refusal),
}

/// Why an unauthenticated `Refused` was sent (the request did not pass the checks, so the
/// box cannot say it under the key: the client only learns what to look at).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unauthenticated {
    /// The MAC does not verify: the two sides do not have the same key file.
    BadMac,
    /// The nonce was never issued, has expired, or was used and forgotten: a replay, or a
    /// client too slow between its hello and its request.
    UnknownNonce,
    /// The nonce is in use by another request.
    NonceReused,
    /// The datagram is not a request of this protocol.
    Malformed,
}

impl Unauthenticated {
    fn code(self) -> u8 {
        match self {
            Unauthenticated::BadMac => 1,
            Unauthenticated::UnknownNonce => 2,
            Unauthenticated::NonceReused => 3,
            Unauthenticated::Malformed => 4,
        }
    }
    fn from_code(code: u8) -> Option<Unauthenticated> {
        Some(match code {
            1 => Unauthenticated::BadMac,
            2 => Unauthenticated::UnknownNonce,
            3 => Unauthenticated::NonceReused,
            4 => Unauthenticated::Malformed,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Unauthenticated::BadMac => "the request's MAC does not verify: the key files differ",
            Unauthenticated::UnknownNonce => "unknown or expired nonce (a replayed or late request)",
            Unauthenticated::NonceReused => "the nonce was already used by another request",
            Unauthenticated::Malformed => "not a request of this protocol",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct RequestBody {
    nonce: Nonce,
    action: Action,
    plug: Plug,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ReplyBody {
    nonce: Nonce,
    answer: Answer,
}

/// An authenticated request, as decoded (the MAC verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub nonce: Nonce,
    pub action: Action,
    /// Empty for `list`.
    pub plug: Plug,
    /// The request's MAC: two datagrams with the same nonce and MAC are the same request
    /// (a retransmission), not a reuse.
    pub mac: [u8; MAC_BYTES],
}

/// A datagram sent to the box, decoded. A request is only [`ToBox::Request`] once its MAC
/// verified under the key given to [`decode_to_box`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToBox {
    Hello,
    Request(Request),
}

/// A datagram sent by the box, decoded (one at a time, by the agent). A reply is only
/// [`FromBox::Reply`] once its MAC verified.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FromBox {
    Challenge { nonce: Nonce, valid_ms: u32 },
    Reply { nonce: Nonce, answer: Answer },
    Refused { nonce: Nonce, why: Unauthenticated },
}

/// Every way a datagram is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    TooShort(usize),
    TooLong(usize),
    BadMagic,
    /// A kind byte this side does not accept (a box never takes a reply, and the other way).
    UnexpectedKind(u8),
    /// A hello shorter than [`HELLO_BYTES`].
    ShortHello(usize),
    /// The MAC does not verify under the key.
    BadMac,
    /// The body is not postcard of the expected shape, or a bound was exceeded.
    Body,
    /// Bytes after the body.
    Trailing(usize),
    /// A fixed-size datagram (challenge, refusal) of the wrong size.
    BadLength(usize),
    /// A refusal code this side does not know.
    BadCode(u8),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooShort(n) => write!(f, "datagram of {n} bytes is too short"),
            DecodeError::TooLong(n) => write!(f, "datagram of {n} bytes exceeds {MAX_DATAGRAM_BYTES}"),
            DecodeError::BadMagic => f.write_str("not a fence service datagram"),
            DecodeError::UnexpectedKind(k) => write!(f, "unexpected datagram kind {k}"),
            DecodeError::ShortHello(n) => write!(f, "hello of {n} bytes, {HELLO_BYTES} needed"),
            DecodeError::BadMac => f.write_str("MAC does not verify"),
            DecodeError::Body => f.write_str("malformed body"),
            DecodeError::Trailing(n) => write!(f, "{n} bytes after the body"),
            DecodeError::BadLength(n) => write!(f, "wrong length {n}"),
            DecodeError::BadCode(c) => write!(f, "unknown refusal code {c}"),
        }
    }
}

fn mac_over(key: &ClusterKey, bytes: &[u8]) -> [u8; MAC_BYTES] {
    // Invariant, not input validation: HMAC accepts keys of any length.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&key.0).expect("HMAC accepts keys of any length");
    mac.update(bytes);
    mac.finalize().into_bytes().into()
}

fn verify(key: &ClusterKey, bytes: &[u8], tag: &[u8]) -> bool {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&key.0).expect("HMAC accepts keys of any length");
    mac.update(bytes);
    mac.verify_slice(tag).is_ok() // constant time
}

fn header(kind: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_DATAGRAM_BYTES);
    out.extend_from_slice(&MAGIC);
    out.push(kind);
    out
}

fn sealed(key: &ClusterKey, kind: u8, body: &impl Serialize) -> Vec<u8> {
    let mut out = header(kind);
    let mut scratch = [0u8; MAX_DATAGRAM_BYTES];
    let body = postcard::to_slice(body, &mut scratch).expect("bounded types fit MAX_DATAGRAM_BYTES");
    out.extend_from_slice(body);
    let tag = mac_over(key, &out);
    out.extend_from_slice(&tag);
    assert!(out.len() <= MAX_DATAGRAM_BYTES, "every bounded message fits a datagram");
    out
}

/// A client's hello (padded to [`HELLO_BYTES`]).
pub fn encode_hello() -> Vec<u8> {
    let mut out = header(KIND_HELLO);
    out.resize(HELLO_BYTES, 0);
    out
}

/// The box's challenge: a fresh nonce, usable once within `valid_ms`.
pub fn encode_challenge(nonce: &Nonce, valid_ms: u32) -> Vec<u8> {
    let mut out = header(KIND_CHALLENGE);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&valid_ms.to_be_bytes());
    out
}

/// A client's request under `key`. `plug` is cut to [`MAX_PLUG_BYTES`] by the caller's check
/// ([`plug_name`]).
pub fn encode_request(key: &ClusterKey, nonce: &Nonce, action: Action, plug: &Plug) -> Vec<u8> {
    sealed(key, KIND_REQUEST, &RequestBody { nonce: *nonce, action, plug: plug.clone() })
}

/// The box's authenticated answer to the request that used `nonce`.
pub fn encode_reply(key: &ClusterKey, nonce: &Nonce, answer: &Answer) -> Vec<u8> {
    sealed(key, KIND_REPLY, &ReplyBody { nonce: *nonce, answer: answer.clone() })
}

/// The box's unauthenticated refusal of a request that carried `nonce`.
pub fn encode_refused(nonce: &Nonce, why: Unauthenticated) -> Vec<u8> {
    let mut out = header(KIND_REFUSED);
    out.extend_from_slice(nonce);
    out.push(why.code());
    out
}

/// A plug name as the protocol carries it: 1 to [`MAX_PLUG_BYTES`] bytes (empty for `list`).
pub fn plug_name(name: &str) -> Option<Plug> {
    Plug::try_from(name).ok()
}

/// A failure's reason, cut at [`MAX_REASON_BYTES`] on a character boundary.
pub fn reason(text: &str) -> Reason {
    let mut end = text.len().min(MAX_REASON_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Reason::try_from(&text[..end]).expect("cut to the bound")
}

fn split(datagram: &[u8]) -> Result<(u8, &[u8]), DecodeError> {
    if datagram.len() > MAX_DATAGRAM_BYTES {
        return Err(DecodeError::TooLong(datagram.len()));
    }
    if datagram.len() < HEADER_BYTES {
        return Err(DecodeError::TooShort(datagram.len()));
    }
    if datagram[..MAGIC.len()] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    Ok((datagram[MAGIC.len()], &datagram[HEADER_BYTES..]))
}

/// Check the MAC at the end of `datagram`, then decode the body between the header and it.
fn open<T: for<'de> Deserialize<'de>>(
    key: &ClusterKey,
    datagram: &[u8],
) -> Result<(T, [u8; MAC_BYTES]), DecodeError> {
    if datagram.len() < HEADER_BYTES + MAC_BYTES {
        return Err(DecodeError::TooShort(datagram.len()));
    }
    let (signed, tag) = datagram.split_at(datagram.len() - MAC_BYTES);
    if !verify(key, signed, tag) {
        return Err(DecodeError::BadMac);
    }
    let (body, rest) =
        postcard::take_from_bytes::<T>(&signed[HEADER_BYTES..]).map_err(|_| DecodeError::Body)?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    let mut mac = [0u8; MAC_BYTES];
    mac.copy_from_slice(tag);
    Ok((body, mac))
}

/// The nonce a request claims, read before its MAC is checked (for the refusal's answer);
/// None when the datagram is too short to carry one. Untrusted.
pub fn claimed_nonce(datagram: &[u8]) -> Option<Nonce> {
    datagram.get(HEADER_BYTES..HEADER_BYTES + NONCE_BYTES).and_then(|n| n.try_into().ok())
}

/// Decode a datagram received by the box; a request only if its MAC verifies under `key`.
pub fn decode_to_box(key: &ClusterKey, datagram: &[u8]) -> Result<ToBox, DecodeError> {
    let (kind, rest) = split(datagram)?;
    match kind {
        KIND_HELLO if datagram.len() < HELLO_BYTES => Err(DecodeError::ShortHello(datagram.len())),
        KIND_HELLO if rest.iter().all(|&b| b == 0) => Ok(ToBox::Hello),
        KIND_HELLO => Err(DecodeError::Body),
        KIND_REQUEST => {
            let (body, mac) = open::<RequestBody>(key, datagram)?;
            Ok(ToBox::Request(Request { nonce: body.nonce, action: body.action, plug: body.plug, mac }))
        }
        other => Err(DecodeError::UnexpectedKind(other)),
    }
}

/// Decode a datagram received by a client; a reply only if its MAC verifies under `key`.
pub fn decode_from_box(key: &ClusterKey, datagram: &[u8]) -> Result<FromBox, DecodeError> {
    let (kind, rest) = split(datagram)?;
    match kind {
        KIND_CHALLENGE => {
            if datagram.len() != CHALLENGE_BYTES {
                return Err(DecodeError::BadLength(datagram.len()));
            }
            let nonce: Nonce = rest[..NONCE_BYTES].try_into().expect("length checked");
            let valid_ms = u32::from_be_bytes(rest[NONCE_BYTES..].try_into().expect("length checked"));
            Ok(FromBox::Challenge { nonce, valid_ms })
        }
        KIND_REPLY => {
            let (body, _) = open::<ReplyBody>(key, datagram)?;
            Ok(FromBox::Reply { nonce: body.nonce, answer: body.answer })
        }
        KIND_REFUSED => {
            if datagram.len() != REFUSED_BYTES {
                return Err(DecodeError::BadLength(datagram.len()));
            }
            let nonce: Nonce = rest[..NONCE_BYTES].try_into().expect("length checked");
            let code = rest[NONCE_BYTES];
            let why = Unauthenticated::from_code(code).ok_or(DecodeError::BadCode(code))?;
            Ok(FromBox::Refused { nonce, why })
        }
        other => Err(DecodeError::UnexpectedKind(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> ClusterKey {
        ClusterKey(heapless::Vec::from_slice(&[byte; 32]).unwrap())
    }

    #[test]
    fn a_request_round_trips_and_only_under_its_key() {
        let nonce = [7u8; NONCE_BYTES];
        let bytes = encode_request(&key(1), &nonce, Action::Off, &plug_name("pm-a").unwrap());
        let ToBox::Request(r) = decode_to_box(&key(1), &bytes).unwrap() else { panic!("a request") };
        assert_eq!((r.nonce, r.action, r.plug.as_str()), (nonce, Action::Off, "pm-a"));
        assert_eq!(decode_to_box(&key(2), &bytes), Err(DecodeError::BadMac));
        // Any flipped bit is refused.
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode_to_box(&key(1), &bad).is_err(), "byte {i} flipped was accepted");
        }
    }

    #[test]
    fn a_reply_cannot_pass_for_a_request_nor_the_other_way() {
        let nonce = [3u8; NONCE_BYTES];
        let reply = encode_reply(&key(1), &nonce, &Answer::Done);
        assert_eq!(decode_to_box(&key(1), &reply), Err(DecodeError::UnexpectedKind(KIND_REPLY)));
        let request = encode_request(&key(1), &nonce, Action::On, &plug_name("x").unwrap());
        assert_eq!(decode_from_box(&key(1), &request), Err(DecodeError::UnexpectedKind(KIND_REQUEST)));
        // Even with the kind byte rewritten, the MAC (which covers it) refuses it.
        let mut forged = request.clone();
        forged[MAGIC.len()] = KIND_REPLY;
        assert_eq!(decode_from_box(&key(1), &forged), Err(DecodeError::BadMac));
        assert_eq!(decode_from_box(&key(1), &reply), Ok(FromBox::Reply { nonce, answer: Answer::Done }));
    }

    #[test]
    fn the_box_never_answers_with_more_bytes_than_an_unauthenticated_datagram_brings() {
        assert_eq!(decode_to_box(&key(1), &encode_hello()), Ok(ToBox::Hello));
        assert!(encode_challenge(&[0; NONCE_BYTES], 1).len() < HELLO_BYTES);
        assert!(encode_refused(&[0; NONCE_BYTES], Unauthenticated::BadMac).len() < HELLO_BYTES);
        // The smallest request is larger than a refusal too.
        let smallest = encode_request(&key(1), &[0; NONCE_BYTES], Action::List, &Plug::new());
        assert!(encode_refused(&[0; NONCE_BYTES], Unauthenticated::BadMac).len() < smallest.len());
        let short = &encode_hello()[..HELLO_BYTES - 1];
        assert_eq!(decode_to_box(&key(1), short), Err(DecodeError::ShortHello(HELLO_BYTES - 1)));
    }

    #[test]
    fn the_largest_answer_fits_a_datagram() {
        let name = "p".repeat(MAX_PLUG_BYTES);
        let plugs = (0..MAX_LISTED_PLUGS).map(|_| plug_name(&name).unwrap()).collect();
        let bytes = encode_reply(&key(1), &[0; NONCE_BYTES], &Answer::Plugs(Box::new(plugs)));
        assert!(bytes.len() <= MAX_DATAGRAM_BYTES);
        let long = reason(&"é".repeat(MAX_REASON_BYTES));
        assert!(long.len() <= MAX_REASON_BYTES);
        let bytes = encode_reply(&key(1), &[0; NONCE_BYTES], &Answer::Failed(long));
        assert!(bytes.len() <= MAX_DATAGRAM_BYTES);
    }

    #[test]
    fn refusals_and_challenges_round_trip() {
        let nonce = [9u8; NONCE_BYTES];
        for why in [
            Unauthenticated::BadMac,
            Unauthenticated::UnknownNonce,
            Unauthenticated::NonceReused,
            Unauthenticated::Malformed,
        ] {
            assert_eq!(
                decode_from_box(&key(1), &encode_refused(&nonce, why)),
                Ok(FromBox::Refused { nonce, why })
            );
        }
        assert_eq!(
            decode_from_box(&key(1), &encode_challenge(&nonce, 10_000)),
            Ok(FromBox::Challenge { nonce, valid_ms: 10_000 })
        );
        assert_eq!(decode_from_box(&key(1), b"RHF1"), Err(DecodeError::TooShort(4)));
        assert_eq!(decode_from_box(&key(1), b"XXXX\x02"), Err(DecodeError::BadMagic));
    }
}

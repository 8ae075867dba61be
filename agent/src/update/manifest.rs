//! The update file's header: what an update file says about the root slot image it carries,
//! and the HMAC-SHA-256 that vouches for it. The file is this header followed by the slot's
//! squashfs:
//!
//! ```text
//! ha-agent update 1
//! version 2026.12.1
//! size 12267520
//! sha256 <64 hex digits: SHA-256 of the squashfs>
//! hmac-sha256 <64 hex digits: HMAC-SHA-256 over the four lines above, newlines included>
//!                                   (an empty line, then the squashfs's bytes)
//! ```
//!
//! Owns the parse (typed errors, bounded: `fuzz/fuzz_targets/update_header.rs`), the
//! authentication check and the encoding `ha-agent update pack` uses. The key is the update key
//! (docs/image.md, "Field updates"). Does no I/O: [`super::device`] reads the file and checks
//! the squashfs's size and digest against the manifest before anything is written.

#![forbid(unsafe_code)]

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The first line.
pub const MAGIC: &str = "ha-agent update 1";
/// Bound on the header (the four lines, the HMAC line and the empty line).
pub const MAX_HEADER_BYTES: usize = 512;
/// Bound on a version's length; versions are `[A-Za-z0-9._+-]`.
pub const MAX_VERSION_BYTES: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub version: String,
    pub size_bytes: u64,
    pub sha256: [u8; 32],
}

/// A parsed header: the manifest, where the payload starts, and the HMAC to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub manifest: Manifest,
    /// The payload (the squashfs) starts at this offset of the file.
    pub payload_offset: usize,
    signed_len: usize,
    hmac: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// No empty line within MAX_HEADER_BYTES: not an update file, or a damaged one.
    NoEnd,
    /// The first line is not MAGIC.
    NotAnUpdate,
    /// Line `line` (1-based) is not the field expected there (`expected`), or its value is bad.
    BadField { line: usize, expected: &'static str },
    /// The HMAC does not match: a damaged manifest, or signed with another key.
    BadSignature,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::NoEnd => write!(f, "not an update file: no end of header in its first {MAX_HEADER_BYTES} bytes"),
            HeaderError::NotAnUpdate => write!(f, "not an update file: it does not start with {MAGIC:?}"),
            HeaderError::BadField { line, expected } => {
                write!(f, "damaged header: line {line} should be `{expected}`")
            }
            HeaderError::BadSignature => write!(
                f,
                "the manifest's HMAC does not match: the file is damaged or was signed with another update key"
            ),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16).filter(|_| !c.is_ascii_uppercase());
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

pub fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_VERSION_BYTES
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

fn mac(key: &[u8], signed: &[u8]) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(signed);
    m
}

impl Manifest {
    /// The four signed lines.
    fn signed_text(&self) -> String {
        format!("{MAGIC}\nversion {}\nsize {}\nsha256 {}\n", self.version, self.size_bytes, hex(&self.sha256))
    }

    /// The whole header (signed lines, HMAC line, empty line), to be followed by the payload.
    pub fn encode(&self, key: &[u8]) -> Vec<u8> {
        assert!(valid_version(&self.version), "version {:?} checked by the caller", self.version);
        let signed = self.signed_text();
        let tag = mac(key, signed.as_bytes()).finalize().into_bytes();
        let out = format!("{signed}hmac-sha256 {}\n\n", hex(&tag));
        debug_assert!(out.len() <= MAX_HEADER_BYTES);
        out.into_bytes()
    }

    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }
}

impl Header {
    /// Parse the header from the start of an update file (`bytes` may hold more: the payload).
    pub fn parse(bytes: &[u8]) -> Result<Header, HeaderError> {
        let window = &bytes[..bytes.len().min(MAX_HEADER_BYTES)];
        let end = window.windows(2).position(|w| w == b"\n\n").ok_or(HeaderError::NoEnd)?;
        let text = std::str::from_utf8(&window[..end + 1]).map_err(|_| HeaderError::NotAnUpdate)?;
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        if lines.first() != Some(&MAGIC) {
            return Err(HeaderError::NotAnUpdate);
        }
        let field = |i: usize, name: &'static str| -> Result<&str, HeaderError> {
            let bad = HeaderError::BadField { line: i + 1, expected: name };
            let line = lines.get(i).ok_or(bad.clone())?;
            line.strip_prefix(name).and_then(|r| r.strip_prefix(' ')).ok_or(bad)
        };
        let bad = |line: usize, expected: &'static str| HeaderError::BadField { line, expected };
        let version = field(1, "version")?;
        if !valid_version(version) {
            return Err(bad(2, "version"));
        }
        let size_bytes = field(2, "size")?;
        if size_bytes.is_empty() || size_bytes.len() > 19 || !size_bytes.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(3, "size"));
        }
        let size_bytes: u64 = size_bytes.parse().map_err(|_| bad(3, "size"))?;
        let sha256 = unhex32(field(3, "sha256")?).ok_or(bad(4, "sha256"))?;
        let hmac = unhex32(field(4, "hmac-sha256")?).ok_or(bad(5, "hmac-sha256"))?;
        if lines.len() != 5 {
            return Err(bad(6, "(an empty line)"));
        }
        let signed_len = lines[..4].iter().map(|l| l.len() + 1).sum();
        Ok(Header {
            manifest: Manifest { version: version.to_string(), size_bytes, sha256 },
            payload_offset: end + 2,
            signed_len,
            hmac,
        })
    }

    /// Check the HMAC over the signed lines of `bytes` (the same bytes `parse` read), in
    /// constant time.
    pub fn verify(&self, bytes: &[u8], key: &[u8]) -> Result<(), HeaderError> {
        let signed = bytes.get(..self.signed_len).ok_or(HeaderError::BadSignature)?;
        mac(key, signed).verify_slice(&self.hmac).map_err(|_| HeaderError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest { version: "2026.12-1".into(), size_bytes: 4096, sha256: [0xab; 32] }
    }

    #[test]
    fn a_packed_header_parses_and_verifies() {
        let key = b"0123456789abcdef0123456789abcdef";
        let mut file = manifest().encode(key);
        let header_len = file.len();
        file.extend_from_slice(b"hsqs payload");
        let h = Header::parse(&file).unwrap();
        assert_eq!(h.manifest, manifest());
        assert_eq!(h.payload_offset, header_len);
        assert_eq!(&file[h.payload_offset..h.payload_offset + 4], b"hsqs");
        h.verify(&file, key).unwrap();
        assert_eq!(h.verify(&file, b"another key"), Err(HeaderError::BadSignature));
    }

    #[test]
    fn any_changed_manifest_byte_fails_the_signature_or_the_parse() {
        let key = b"k";
        let file = manifest().encode(key);
        let signed_len = manifest().signed_text().len();
        for i in 0..signed_len {
            let mut damaged = file.clone();
            damaged[i] ^= 0x01;
            match Header::parse(&damaged) {
                Ok(h) => assert_eq!(h.verify(&damaged, key), Err(HeaderError::BadSignature), "byte {i}"),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn refuses_what_is_not_an_update() {
        assert_eq!(Header::parse(b"hsqs\0\0\0"), Err(HeaderError::NoEnd));
        assert_eq!(Header::parse(b"hello\n\n"), Err(HeaderError::NotAnUpdate));
        assert_eq!(
            Header::parse(b"ha-agent update 1\nversion a b\n\n"),
            Err(HeaderError::BadField { line: 2, expected: "version" })
        );
        let text = manifest().encode(b"k");
        let s = String::from_utf8(text).unwrap().replace("size 4096", "size -1");
        assert_eq!(Header::parse(s.as_bytes()), Err(HeaderError::BadField { line: 3, expected: "size" }));
        assert!(!valid_version(&"v".repeat(MAX_VERSION_BYTES + 1)));
    }
}

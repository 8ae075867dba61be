//! BER (X.690 basic encoding rules) for exactly the subset SNMP uses: INTEGER, OCTET STRING,
//! NULL, OBJECT IDENTIFIER, SEQUENCE, the SMI application types (IpAddress, Counter32, Gauge32,
//! TimeTicks, Counter64), the varbind exceptions and the context-specific PDU tags.
//!
//! Owns the tag/length/value layer and the typed [`Value`] and [`Oid`]; it does not know
//! what a PDU or a message is (see `pdu` and `usm`). Encoding writes definite, minimal
//! lengths into a `Vec`. Decoding reads untrusted bytes through a [`Reader`] and returns typed
//! values or a typed [`BerError`], never panics: single-byte tags only, definite lengths only,
//! lengths bounded by [`MAX_MESSAGE_BYTES`], nesting bounded by [`MAX_DEPTH`], OIDs bounded
//! by [`MAX_OID_ARCS`].

#![forbid(unsafe_code)]

use core::fmt;

/// Bound on any SNMP message we build or accept, in bytes (also advertised as msgMaxSize).
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Bound on constructed nesting: message, PDU, varbind list, varbind, plus the SNMPv3
/// header, security parameters and scoped PDU leave room to spare.
pub const MAX_DEPTH: usize = 8;
/// Bound on the arcs of an object identifier (RFC 2578 allows 128).
pub const MAX_OID_ARCS: usize = 128;
/// Bound on the bytes of one length field's long form (lengths up to 2^32-1; bounded again
/// by [`MAX_MESSAGE_BYTES`]).
const MAX_LENGTH_OCTETS: usize = 4;

pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_NULL: u8 = 0x05;
pub const TAG_OID: u8 = 0x06;
pub const TAG_SEQUENCE: u8 = 0x30;
pub const TAG_IP_ADDRESS: u8 = 0x40;
pub const TAG_COUNTER32: u8 = 0x41;
pub const TAG_GAUGE32: u8 = 0x42;
pub const TAG_TIMETICKS: u8 = 0x43;
pub const TAG_OPAQUE: u8 = 0x44;
pub const TAG_COUNTER64: u8 = 0x46;
pub const TAG_NO_SUCH_OBJECT: u8 = 0x80;
pub const TAG_NO_SUCH_INSTANCE: u8 = 0x81;
pub const TAG_END_OF_MIB_VIEW: u8 = 0x82;

/// Why bytes are not a well-formed BER item of the expected kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BerError {
    /// The input ended inside a tag, a length or a value.
    Truncated,
    /// A tag other than the expected one.
    UnexpectedTag { expected: u8, found: u8 },
    /// A tag in the high-tag-number form (0x1f low bits), which SNMP never uses.
    HighTagNumber,
    /// The indefinite length form, or a long form with too many octets.
    BadLength,
    /// A length beyond [`MAX_MESSAGE_BYTES`].
    TooLong,
    /// Constructed values nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// An INTEGER with no content or a value outside the expected range.
    BadInteger,
    /// An OID that is empty, has more than [`MAX_OID_ARCS`] arcs, an arc over 32 bits or an
    /// unterminated arc.
    BadOid,
    /// NULL with content, an IpAddress not of 4 bytes.
    BadValue,
    /// Bytes left over after the outermost item or inside a fixed structure.
    TrailingBytes,
}

impl fmt::Display for BerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BerError::UnexpectedTag { expected, found } => {
                write!(f, "expected tag 0x{expected:02x}, found 0x{found:02x}")
            }
            other => write!(f, "{other:?}"),
        }
    }
}

/// An object identifier: at least two arcs, the first 0..=2, at most [`MAX_OID_ARCS`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(Vec<u32>);

impl Oid {
    /// An OID from arcs known at compile time or checked by the caller; panics (an
    /// assertion on a programming error) if they are not a valid OID.
    pub fn new(arcs: &[u32]) -> Oid {
        Oid::try_from_arcs(arcs).expect("a valid OID")
    }

    pub fn try_from_arcs(arcs: &[u32]) -> Option<Oid> {
        let valid = arcs.len() >= 2
            && arcs.len() <= MAX_OID_ARCS
            && arcs[0] <= 2
            && (arcs[0] == 2 || arcs[1] < 40)
            && (arcs[0] < 2 || arcs[1] <= u32::MAX - 80);
        valid.then(|| Oid(arcs.to_vec()))
    }

    /// This OID with `more` arcs appended.
    pub fn child(&self, more: &[u32]) -> Oid {
        let mut arcs = self.0.clone();
        arcs.extend_from_slice(more);
        assert!(arcs.len() <= MAX_OID_ARCS);
        Oid(arcs)
    }

    pub fn arcs(&self) -> &[u32] {
        &self.0
    }

    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arc) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{arc}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

/// A varbind value, typed as the SMI types it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Integer(i32),
    OctetString(Vec<u8>),
    Null,
    Oid(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Vec<u8>),
    Counter64(u64),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Append a definite length in its minimal form.
pub fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        assert!(len <= u32::MAX as usize);
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Append a tag, the length of `content` and `content`.
pub fn write_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    write_length(out, content.len());
    out.extend_from_slice(content);
}

/// Append an INTEGER (minimal two's complement).
pub fn write_integer(out: &mut Vec<u8>, value: i64) {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let redundant = (bytes[start] == 0x00 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    write_tlv(out, TAG_INTEGER, &bytes[start..]);
}

/// Append an unsigned application value (Counter32, Gauge32, TimeTicks, Counter64): the
/// INTEGER encoding of a non-negative number, with a leading zero byte when the top bit is set.
pub fn write_unsigned(out: &mut Vec<u8>, tag: u8, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    let mut content = Vec::with_capacity(9);
    if bytes[skip] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(&bytes[skip..]);
    write_tlv(out, tag, &content);
}

pub fn write_octets(out: &mut Vec<u8>, bytes: &[u8]) {
    write_tlv(out, TAG_OCTET_STRING, bytes);
}

pub fn write_null(out: &mut Vec<u8>) {
    write_tlv(out, TAG_NULL, &[]);
}

pub fn write_oid(out: &mut Vec<u8>, oid: &Oid) {
    let arcs = oid.arcs();
    let mut content = Vec::with_capacity(arcs.len() * 2);
    push_base128(&mut content, u64::from(arcs[0]) * 40 + u64::from(arcs[1]));
    for arc in &arcs[2..] {
        push_base128(&mut content, u64::from(*arc));
    }
    write_tlv(out, TAG_OID, &content);
}

fn push_base128(out: &mut Vec<u8>, value: u64) {
    let mut groups = [0u8; 10];
    let mut n = 0;
    let mut v = value;
    loop {
        groups[n] = (v & 0x7f) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        out.push(groups[i] | if i > 0 { 0x80 } else { 0 });
    }
}

pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Integer(v) => write_integer(out, i64::from(*v)),
        Value::OctetString(b) => write_octets(out, b),
        Value::Null => write_null(out),
        Value::Oid(oid) => write_oid(out, oid),
        Value::IpAddress(a) => write_tlv(out, TAG_IP_ADDRESS, a),
        Value::Counter32(v) => write_unsigned(out, TAG_COUNTER32, u64::from(*v)),
        Value::Gauge32(v) => write_unsigned(out, TAG_GAUGE32, u64::from(*v)),
        Value::TimeTicks(v) => write_unsigned(out, TAG_TIMETICKS, u64::from(*v)),
        Value::Opaque(b) => write_tlv(out, TAG_OPAQUE, b),
        Value::Counter64(v) => write_unsigned(out, TAG_COUNTER64, *v),
        Value::NoSuchObject => write_tlv(out, TAG_NO_SUCH_OBJECT, &[]),
        Value::NoSuchInstance => write_tlv(out, TAG_NO_SUCH_INSTANCE, &[]),
        Value::EndOfMibView => write_tlv(out, TAG_END_OF_MIB_VIEW, &[]),
    }
}

/// Build a constructed value: `build` writes the content, which is then wrapped in `tag`.
pub fn write_constructed(out: &mut Vec<u8>, tag: u8, build: impl FnOnce(&mut Vec<u8>)) {
    let mut content = Vec::new();
    build(&mut content);
    write_tlv(out, tag, &content);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A cursor over untrusted BER bytes. Every accessor either returns a typed value and
/// advances, or returns an error; none panics. `offset()` is the position in the outermost
/// buffer (used to locate the SNMPv3 authentication parameters for MAC checking).
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Result<Reader<'a>, BerError> {
        if buf.len() > MAX_MESSAGE_BYTES {
            return Err(BerError::TooLong);
        }
        Ok(Reader { buf, pos: 0, base: 0, depth: 0 })
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Absolute offset of the next byte in the outermost buffer.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Error unless every byte was consumed.
    pub fn finish(&self) -> Result<(), BerError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(BerError::TrailingBytes)
        }
    }

    /// The next tag, without consuming it.
    pub fn peek_tag(&self) -> Result<u8, BerError> {
        self.buf.get(self.pos).copied().ok_or(BerError::Truncated)
    }

    /// Read one tag-length-value; returns the tag, the content and the content's absolute
    /// offset.
    pub fn read_any(&mut self) -> Result<(u8, &'a [u8], usize), BerError> {
        let tag = self.peek_tag()?;
        if tag & 0x1f == 0x1f {
            return Err(BerError::HighTagNumber);
        }
        let mut pos = self.pos + 1;
        let first = *self.buf.get(pos).ok_or(BerError::Truncated)?;
        pos += 1;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > MAX_LENGTH_OCTETS {
                return Err(BerError::BadLength);
            }
            let bytes = self.buf.get(pos..pos + n).ok_or(BerError::Truncated)?;
            pos += n;
            let len = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            if len > MAX_MESSAGE_BYTES as u64 {
                return Err(BerError::TooLong);
            }
            len as usize
        };
        let content = self.buf.get(pos..pos + len).ok_or(BerError::Truncated)?;
        let content_offset = self.base + pos;
        self.pos = pos + len;
        Ok((tag, content, content_offset))
    }

    /// Read one item with tag `expected`; returns its content.
    pub fn read_tagged(&mut self, expected: u8) -> Result<&'a [u8], BerError> {
        let found = self.peek_tag()?;
        if found != expected {
            return Err(BerError::UnexpectedTag { expected, found });
        }
        Ok(self.read_any()?.1)
    }

    /// Enter a constructed item with tag `expected`: returns a reader over its content.
    pub fn enter(&mut self, expected: u8) -> Result<Reader<'a>, BerError> {
        let found = self.peek_tag()?;
        if found != expected {
            return Err(BerError::UnexpectedTag { expected, found });
        }
        self.enter_any().map(|(_, r)| r)
    }

    /// Enter whatever constructed item comes next; returns its tag and a reader over it.
    pub fn enter_any(&mut self) -> Result<(u8, Reader<'a>), BerError> {
        if self.depth + 1 > MAX_DEPTH {
            return Err(BerError::TooDeep);
        }
        let (tag, content, offset) = self.read_any()?;
        Ok((tag, Reader { buf: content, pos: 0, base: offset, depth: self.depth + 1 }))
    }

    pub fn read_integer(&mut self) -> Result<i64, BerError> {
        decode_signed(self.read_tagged(TAG_INTEGER)?)
    }

    /// An INTEGER that must fit in 32 bits (request-id, error-status, msgID, boots, ...).
    pub fn read_i32(&mut self) -> Result<i32, BerError> {
        i32::try_from(self.read_integer()?).map_err(|_| BerError::BadInteger)
    }

    pub fn read_octets(&mut self) -> Result<&'a [u8], BerError> {
        self.read_tagged(TAG_OCTET_STRING)
    }

    pub fn read_null(&mut self) -> Result<(), BerError> {
        if self.read_tagged(TAG_NULL)?.is_empty() {
            Ok(())
        } else {
            Err(BerError::BadValue)
        }
    }

    pub fn read_oid(&mut self) -> Result<Oid, BerError> {
        decode_oid(self.read_tagged(TAG_OID)?)
    }

    pub fn read_value(&mut self) -> Result<Value, BerError> {
        let (tag, content, _) = self.read_any()?;
        let empty = |v: Value| {
            if content.is_empty() {
                Ok(v)
            } else {
                Err(BerError::BadValue)
            }
        };
        match tag {
            TAG_INTEGER => {
                Ok(Value::Integer(i32::try_from(decode_signed(content)?).map_err(|_| BerError::BadInteger)?))
            }
            TAG_OCTET_STRING => Ok(Value::OctetString(content.to_vec())),
            TAG_NULL => empty(Value::Null),
            TAG_OID => Ok(Value::Oid(decode_oid(content)?)),
            TAG_IP_ADDRESS => content.try_into().map(Value::IpAddress).map_err(|_| BerError::BadValue),
            TAG_COUNTER32 => Ok(Value::Counter32(decode_unsigned(content, 4)? as u32)),
            TAG_GAUGE32 => Ok(Value::Gauge32(decode_unsigned(content, 4)? as u32)),
            TAG_TIMETICKS => Ok(Value::TimeTicks(decode_unsigned(content, 4)? as u32)),
            TAG_OPAQUE => Ok(Value::Opaque(content.to_vec())),
            TAG_COUNTER64 => Ok(Value::Counter64(decode_unsigned(content, 8)?)),
            TAG_NO_SUCH_OBJECT => empty(Value::NoSuchObject),
            TAG_NO_SUCH_INSTANCE => empty(Value::NoSuchInstance),
            TAG_END_OF_MIB_VIEW => empty(Value::EndOfMibView),
            found => Err(BerError::UnexpectedTag { expected: TAG_NULL, found }),
        }
    }
}

fn decode_signed(content: &[u8]) -> Result<i64, BerError> {
    if content.is_empty() || content.len() > 8 {
        return Err(BerError::BadInteger);
    }
    let negative = content[0] & 0x80 != 0;
    let init: i64 = if negative { -1 } else { 0 };
    Ok(content.iter().fold(init, |acc, b| (acc << 8) | i64::from(*b)))
}

/// An unsigned application value of at most `width` bytes. A single leading zero is allowed
/// (the INTEGER sign byte); a set top bit without it is read as unsigned, as some agents
/// encode Counter32 that way.
fn decode_unsigned(content: &[u8], width: usize) -> Result<u64, BerError> {
    let digits = match content {
        [] => return Err(BerError::BadInteger),
        [0, rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    if digits.len() > width {
        return Err(BerError::BadInteger);
    }
    Ok(digits.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

fn decode_oid(content: &[u8]) -> Result<Oid, BerError> {
    if content.is_empty() {
        return Err(BerError::BadOid);
    }
    let mut arcs: Vec<u32> = Vec::new();
    let mut acc: u64 = 0;
    let mut in_arc = false;
    for byte in content {
        if !in_arc && *byte == 0x80 {
            return Err(BerError::BadOid); // non-minimal arc
        }
        acc = (acc << 7) | u64::from(byte & 0x7f);
        if acc > u64::from(u32::MAX) + 80 {
            return Err(BerError::BadOid);
        }
        in_arc = byte & 0x80 != 0;
        if !in_arc {
            if arcs.is_empty() {
                let (first, second) = match acc {
                    0..=39 => (0, acc),
                    40..=79 => (1, acc - 40),
                    _ => (2, acc - 80),
                };
                arcs.push(first);
                arcs.push(u32::try_from(second).map_err(|_| BerError::BadOid)?);
            } else {
                arcs.push(u32::try_from(acc).map_err(|_| BerError::BadOid)?);
            }
            if arcs.len() > MAX_OID_ARCS {
                return Err(BerError::BadOid);
            }
            acc = 0;
        }
    }
    if in_arc {
        return Err(BerError::BadOid);
    }
    Oid::try_from_arcs(&arcs).ok_or(BerError::BadOid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(&mut out, value);
        out
    }

    fn dec(bytes: &[u8]) -> Result<Value, BerError> {
        let mut r = Reader::new(bytes)?;
        let v = r.read_value()?;
        r.finish()?;
        Ok(v)
    }

    #[test]
    fn integers_are_minimal_twos_complement() {
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x02, 0x01, 0x00]),
            (127, &[0x02, 0x01, 0x7f]),
            (128, &[0x02, 0x02, 0x00, 0x80]),
            (-1, &[0x02, 0x01, 0xff]),
            (-128, &[0x02, 0x01, 0x80]),
            (-129, &[0x02, 0x02, 0xff, 0x7f]),
            (i32::MAX, &[0x02, 0x04, 0x7f, 0xff, 0xff, 0xff]),
            (i32::MIN, &[0x02, 0x04, 0x80, 0x00, 0x00, 0x00]),
        ];
        for (v, bytes) in cases {
            assert_eq!(enc(&Value::Integer(*v)), *bytes, "{v}");
            assert_eq!(dec(bytes), Ok(Value::Integer(*v)));
        }
    }

    #[test]
    fn unsigned_types_carry_a_sign_byte_when_needed() {
        assert_eq!(enc(&Value::Counter32(u32::MAX)), [0x41, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(enc(&Value::TimeTicks(0)), [0x43, 0x01, 0x00]);
        assert_eq!(enc(&Value::Gauge32(200)), [0x42, 0x02, 0x00, 0xc8]);
        assert_eq!(
            enc(&Value::Counter64(u64::MAX)),
            [0x46, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        for v in [
            Value::Counter32(u32::MAX),
            Value::Gauge32(7),
            Value::TimeTicks(123_456),
            Value::Counter64(u64::MAX),
            Value::Counter64(0),
        ] {
            assert_eq!(dec(&enc(&v)), Ok(v));
        }
        // Lenient: Counter32 without the sign byte.
        assert_eq!(dec(&[0x41, 0x04, 0xff, 0xff, 0xff, 0xff]), Ok(Value::Counter32(u32::MAX)));
        assert_eq!(dec(&[0x41, 0x05, 0x01, 0, 0, 0, 0]), Err(BerError::BadInteger));
    }

    #[test]
    fn oids_roundtrip_and_match_known_encodings() {
        // snmpTrapOID.0 as every SNMP stack writes it.
        let trap_oid = Oid::new(&[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0]);
        assert_eq!(
            enc(&Value::Oid(trap_oid.clone())),
            [0x06, 0x0a, 0x2b, 0x06, 0x01, 0x06, 0x03, 0x01, 0x01, 0x04, 0x01, 0x00]
        );
        // A multi-byte arc: 99999 = 0x1869f -> 0x86 0x8d 0x1f.
        let ent = Oid::new(&[1, 3, 6, 1, 4, 1, 99999]);
        assert_eq!(enc(&Value::Oid(ent.clone())), [0x06, 0x08, 0x2b, 6, 1, 4, 1, 0x86, 0x8d, 0x1f]);
        for oid in [trap_oid, ent, Oid::new(&[2, 999, u32::MAX]), Oid::new(&[0, 0])] {
            assert_eq!(dec(&enc(&Value::Oid(oid.clone()))), Ok(Value::Oid(oid)));
        }
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        assert_eq!(dec(&[]), Err(BerError::Truncated));
        assert_eq!(dec(&[0x02]), Err(BerError::Truncated));
        assert_eq!(dec(&[0x02, 0x00]), Err(BerError::BadInteger));
        assert_eq!(dec(&[0x02, 0x05, 1, 2, 3, 4, 5]), Err(BerError::BadInteger)); // > i32
        assert_eq!(dec(&[0x04, 0x80, 0x00, 0x00]), Err(BerError::BadLength)); // indefinite
        assert_eq!(dec(&[0x04, 0x85, 0, 0, 0, 0, 1]), Err(BerError::BadLength));
        assert_eq!(dec(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]), Err(BerError::TooLong));
        assert_eq!(dec(&[0x04, 0x03, 1, 2]), Err(BerError::Truncated));
        assert_eq!(dec(&[0x1f, 0x01, 0x00]), Err(BerError::HighTagNumber));
        assert_eq!(dec(&[0x06, 0x02, 0x2b, 0x86]), Err(BerError::BadOid)); // unterminated
        assert_eq!(dec(&[0x06, 0x00]), Err(BerError::BadOid));
        assert_eq!(dec(&[0x06, 0x03, 0x2b, 0x80, 0x01]), Err(BerError::BadOid)); // non-minimal
        assert_eq!(dec(&[0x06, 0x06, 0x2b, 0x90, 0x80, 0x80, 0x80, 0x00]), Err(BerError::BadOid));
        assert_eq!(dec(&[0x05, 0x01, 0x00]), Err(BerError::BadValue));
        assert_eq!(dec(&[0x40, 0x03, 1, 2, 3]), Err(BerError::BadValue));
        assert_eq!(dec(&[0x05, 0x00, 0x00]), Err(BerError::TrailingBytes));
        let too_many_arcs: Vec<u8> = [0x06, 0x81, 130, 0x2b].into_iter().chain([1u8; 129]).collect();
        assert_eq!(dec(&too_many_arcs), Err(BerError::BadOid));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut bytes = vec![0x05, 0x00];
        for _ in 0..=MAX_DEPTH {
            let mut outer = Vec::new();
            write_tlv(&mut outer, TAG_SEQUENCE, &bytes);
            bytes = outer;
        }
        let mut r = Reader::new(&bytes).unwrap();
        let mut result = Ok(());
        for _ in 0..=MAX_DEPTH {
            match r.enter(TAG_SEQUENCE) {
                Ok(inner) => r = inner,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        assert_eq!(result, Err(BerError::TooDeep));
    }

    #[test]
    fn long_lengths_use_the_minimal_long_form() {
        let mut out = Vec::new();
        write_length(&mut out, 127);
        write_length(&mut out, 128);
        write_length(&mut out, 300);
        assert_eq!(out, [0x7f, 0x81, 0x80, 0x82, 0x01, 0x2c]);
        let payload = vec![0xaa; 300];
        let mut tlv = Vec::new();
        write_octets(&mut tlv, &payload);
        assert_eq!(dec(&tlv), Ok(Value::OctetString(payload)));
    }
}

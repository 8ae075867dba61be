//! The journal's record: the typed event, its postcard payload and the checksummed frame that
//! carries it in a segment file.
//!
//! Owns the byte layout (documented in docs/journal.md) and the scanner that turns the bytes of
//! one segment into records, skipped corrupt regions and a torn tail. Pure functions on byte
//! slices: no files, no clock. It does not decide where segments live, when to rotate or when
//! to fsync (that is [`super`]).
//!
//! Frame, all integers little-endian:
//!
//! ```text
//! offset  bytes  field
//!      0      4  magic "HAJ1"
//!      4      4  payload length n (1..=MAX_PAYLOAD_BYTES)
//!      8      8  sequence number
//!     16      8  monotonic time, microseconds (the shell's clock origin)
//!     24      8  wall-clock time, milliseconds since the Unix epoch
//!     32      4  CRC-32 of bytes 0..32 (the header check)
//!     36      n  payload: the postcard encoding of an [`Event`]
//!   36+n      4  CRC-32 of bytes 0..36+n (the record check)
//! ```
//!
//! The header check lets the scanner trust a length before it reads the payload, so that a
//! corrupt length cannot make a torn tail out of the valid records behind it, and keeps the
//! resynchronisation after corruption cheap (a payload check runs only where a header checks).

#![forbid(unsafe_code)]

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::config::MAX_NAME_CHARS;
use crate::time::Micros;
use crate::wire::serial::crc32;

/// First bytes of every record; the scanner resynchronises on it after corruption.
pub const MAGIC: [u8; 4] = *b"HAJ1";
/// Bytes before the payload: magic, length, sequence, two timestamps, header CRC.
pub const HEADER_BYTES: usize = 36;
/// Bytes after the payload: the record CRC.
pub const TRAILER_BYTES: usize = 4;
/// Bound on the event text, in bytes (longer text is cut at a character boundary).
pub const MAX_TEXT_BYTES: usize = 256;
/// Bound on the member name: a configured member name.
pub const MAX_MEMBER_BYTES: usize = MAX_NAME_CHARS;
/// Bound on the key=value fields of one event.
pub const MAX_FIELDS: usize = 8;
/// Bound on a field key (keys are names chosen in the code: `[a-z0-9_.-]`).
pub const MAX_FIELD_KEY_BYTES: usize = 32;
/// Bound on a field value (longer values are cut at a character boundary).
pub const MAX_FIELD_VALUE_BYTES: usize = 128;
/// Bound on the payload of one record.
pub const MAX_PAYLOAD_BYTES: usize = 2048;
/// Bound on one framed record.
pub const MAX_RECORD_BYTES: usize = HEADER_BYTES + MAX_PAYLOAD_BYTES + TRAILER_BYTES;
/// The smallest framed record (a payload is at least one byte: the kind).
pub const MIN_RECORD_BYTES: usize = HEADER_BYTES + 1 + TRAILER_BYTES;

/// The largest postcard encoding of a valid event: the kind (a varint of at most 5 bytes), the
/// member (option tag, 1-byte length, name), the text (2-byte length), and the fields (1-byte
/// count, each with a 1-byte key length and a 2-byte value length).
const WORST_PAYLOAD_BYTES: usize = 5
    + (1 + 1 + MAX_MEMBER_BYTES)
    + (2 + MAX_TEXT_BYTES)
    + 1
    + MAX_FIELDS * (1 + MAX_FIELD_KEY_BYTES + 2 + MAX_FIELD_VALUE_BYTES);
const _: () = assert!(WORST_PAYLOAD_BYTES <= MAX_PAYLOAD_BYTES);
const _: () = assert!(MAX_MEMBER_BYTES < 128 && MAX_FIELD_KEY_BYTES < 128 && MAX_FIELDS < 128);

/// What an event is about. Postcard encodes the variant index, so new kinds go at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// The agent itself: start, stop, journal repair.
    Agent,
    /// Configuration loaded, reloaded or refused.
    Configuration,
    /// A member joined, was lost, quorum gained or lost.
    Membership,
    /// A link went up or down.
    Link,
    /// A generation was granted, adopted, or a holder stopped.
    Grant,
    /// A fence was commanded, confirmed or failed.
    Fence,
    /// A resource started, stopped, failed or was cleaned up.
    Resource,
    /// The disk array changed state.
    Array,
    /// The watchdog was armed, fed late or disarmed.
    Watchdog,
    /// An operator action (who and from where go in the fields).
    Operator,
    /// A notification was sent or given up on.
    Notification,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Agent,
        Kind::Configuration,
        Kind::Membership,
        Kind::Link,
        Kind::Grant,
        Kind::Fence,
        Kind::Resource,
        Kind::Array,
        Kind::Watchdog,
        Kind::Operator,
        Kind::Notification,
    ];

    /// The lower-case name shown by `ha-agent log`.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Agent => "agent",
            Kind::Configuration => "config",
            Kind::Membership => "membership",
            Kind::Link => "link",
            Kind::Grant => "grant",
            Kind::Fence => "fence",
            Kind::Resource => "resource",
            Kind::Array => "array",
            Kind::Watchdog => "watchdog",
            Kind::Operator => "operator",
            Kind::Notification => "notify",
        }
    }
}

/// One key=value field of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    key: String,
    value: String,
}

impl Field {
    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// A journaled event. Valid by construction: the builders cut text and values to their
/// bounds, and [`Event::decode`] checks every bound on what it reads back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    kind: Kind,
    member: Option<String>,
    text: String,
    fields: Vec<Field>,
}

/// `text` cut to at most `max_bytes`, at a character boundary.
fn cut(text: &str, max_bytes: usize) -> String {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn key_is_valid(key: &str) -> bool {
    (1..=MAX_FIELD_KEY_BYTES).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

/// Why a checksummed payload was not an event (a newer format, or a bug that wrote it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Postcard could not decode it, or bytes were left over.
    Postcard,
    /// It decoded but broke a bound (a text too long, too many fields, a bad key).
    Bounds,
}

impl Event {
    /// An event of `kind` with `text` (cut to MAX_TEXT_BYTES).
    pub fn new(kind: Kind, text: &str) -> Event {
        Event { kind, member: None, text: cut(text, MAX_TEXT_BYTES), fields: Vec::new() }
    }

    /// The member the event is about (cut to MAX_MEMBER_BYTES; configured names fit).
    pub fn with_member(mut self, member: &str) -> Event {
        self.member = Some(cut(member, MAX_MEMBER_BYTES));
        self
    }

    /// Add `key=value` (the value cut to MAX_FIELD_VALUE_BYTES). Keys and their number are
    /// chosen in the code, so a bad key or a ninth field is a bug and panics.
    pub fn with_field(mut self, key: &str, value: &str) -> Event {
        assert!(key_is_valid(key), "journal field key {key:?} is not [a-z0-9_.-]{{1,32}}");
        assert!(self.fields.len() < MAX_FIELDS, "more than {MAX_FIELDS} journal fields");
        self.fields.push(Field { key: key.to_owned(), value: cut(value, MAX_FIELD_VALUE_BYTES) });
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }
    pub fn member(&self) -> Option<&str> {
        self.member.as_deref()
    }
    pub fn text(&self) -> &str {
        &self.text
    }
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }
    /// The value of the first field named `key`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|f| f.key == key).map(|f| f.value.as_str())
    }

    fn is_valid(&self) -> bool {
        self.member.as_ref().is_none_or(|m| m.len() <= MAX_MEMBER_BYTES)
            && self.text.len() <= MAX_TEXT_BYTES
            && self.fields.len() <= MAX_FIELDS
            && self.fields.iter().all(|f| key_is_valid(&f.key) && f.value.len() <= MAX_FIELD_VALUE_BYTES)
    }

    /// Encode into `out`; returns the payload length (at most MAX_PAYLOAD_BYTES).
    pub fn encode(&self, out: &mut [u8; MAX_PAYLOAD_BYTES]) -> usize {
        assert!(self.is_valid());
        // Cannot fail: WORST_PAYLOAD_BYTES <= MAX_PAYLOAD_BYTES is checked at compile time.
        let used = postcard::to_slice(self, out).expect("a valid event fits MAX_PAYLOAD_BYTES");
        used.len()
    }

    /// Decode a payload whose checksum matched. Every bound is checked again.
    pub fn decode(payload: &[u8]) -> Result<Event, PayloadError> {
        let (event, rest): (Event, _) =
            postcard::take_from_bytes(payload).map_err(|_| PayloadError::Postcard)?;
        if !rest.is_empty() {
            return Err(PayloadError::Postcard);
        }
        if !event.is_valid() {
            return Err(PayloadError::Bounds);
        }
        Ok(event)
    }
}

/// Write `text` with control characters escaped, so that a journaled string cannot drive the
/// operator's terminal.
fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() {
            write!(f, "{}", c.escape_default())?;
        } else {
            write!(f, "{c}")?;
        }
    }
    Ok(())
}

/// `kind [member] text key=value ...`, control characters escaped.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.name())?;
        if let Some(member) = &self.member {
            f.write_str(" ")?;
            write_escaped(f, member)?;
        }
        f.write_str(" ")?;
        write_escaped(f, &self.text)?;
        for field in &self.fields {
            write!(f, " {}=", field.key)?;
            write_escaped(f, &field.value)?;
        }
        Ok(())
    }
}

/// When an event was recorded: the shell's monotonic clock and the wall clock. The journal
/// never reads a clock itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    pub mono: Micros,
    pub wall_ms: u64,
}

/// A record read back from the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub stamp: Stamp,
    pub event: Event,
}

impl fmt::Display for Record {
    /// `#SEQ YYYY-MM-DD HH:MM:SS.mmmZ EVENT` (UTC): one line for `ha-agent log` and `status`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {} {}", self.seq, super::civil::format_utc(self.stamp.wall_ms), self.event)
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Frame `payload` as record `seq` and append it to `out`; returns the record's length.
/// Public so that tests and the fuzz harness can build frames around arbitrary payloads.
pub fn encode_frame(seq: u64, stamp: Stamp, payload: &[u8], out: &mut Vec<u8>) -> usize {
    assert!((1..=MAX_PAYLOAD_BYTES).contains(&payload.len()));
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&stamp.mono.0.to_le_bytes());
    out.extend_from_slice(&stamp.wall_ms.to_le_bytes());
    let header_crc = crc32(&out[start..]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
    let record_crc = crc32(&out[start..]);
    out.extend_from_slice(&record_crc.to_le_bytes());
    let len = out.len() - start;
    assert!(len == HEADER_BYTES + payload.len() + TRAILER_BYTES && len <= MAX_RECORD_BYTES);
    len
}

/// Encode `event` as record `seq` and append it to `out`; returns the record's length.
pub fn encode_record(seq: u64, stamp: Stamp, event: &Event, out: &mut Vec<u8>) -> usize {
    let mut payload = [0u8; MAX_PAYLOAD_BYTES];
    let n = event.encode(&mut payload);
    encode_frame(seq, stamp, &payload[..n], out)
}

/// What is at one offset of a segment.
enum Probe {
    /// A whole record whose checks pass, ending at `end`.
    Valid { end: usize, seq: u64, stamp: Stamp },
    /// The bytes that are there could begin a record, but it runs past the end of the data.
    Incomplete,
    /// Not a record.
    Invalid,
}

fn probe(bytes: &[u8], at: usize) -> Probe {
    let rest = &bytes[at..];
    let magic_len = rest.len().min(MAGIC.len());
    if rest[..magic_len] != MAGIC[..magic_len] {
        return Probe::Invalid;
    }
    if rest.len() < HEADER_BYTES {
        // A prefix of a header: it checks as far as it goes (the magic), nothing more to see.
        return Probe::Incomplete;
    }
    if crc32(&rest[..32]) != u32_at(rest, 32) {
        return Probe::Invalid;
    }
    let payload_len = u32_at(rest, 4) as usize;
    if !(1..=MAX_PAYLOAD_BYTES).contains(&payload_len) {
        return Probe::Invalid;
    }
    let end = HEADER_BYTES + payload_len + TRAILER_BYTES;
    if rest.len() < end {
        return Probe::Incomplete;
    }
    if crc32(&rest[..end - TRAILER_BYTES]) != u32_at(rest, end - TRAILER_BYTES) {
        return Probe::Invalid;
    }
    let stamp = Stamp { mono: Micros(u64_at(rest, 16)), wall_ms: u64_at(rest, 24) };
    Probe::Valid { end: at + end, seq: u64_at(rest, 8), stamp }
}

/// One item of a segment, in file order. Items tile the segment: each starts where the
/// previous one ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A record whose checks pass and whose payload is an event.
    Record { offset: usize, end: usize, record: Record },
    /// A record whose checks pass but whose payload is not an event this version reads.
    Undecodable { offset: usize, end: usize, seq: u64, error: PayloadError },
    /// A record whose checks pass but whose sequence number does not follow the previous
    /// one (a stale or forged copy); skipped so that readers see strictly rising numbers.
    OutOfOrder { offset: usize, end: usize, seq: u64 },
    /// Bytes that are no record, followed by a valid record at `offset + len`.
    Corrupt { offset: usize, len: usize },
    /// Bytes after the last valid record that are no whole record: a torn last write (or
    /// damage at the end, which cannot be told apart and is treated the same way).
    Tail { offset: usize, len: usize },
}

/// Iterates the items of one segment's bytes. Never panics on any input; the work is linear
/// in the bytes, plus one payload check per position whose header checks.
pub struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The lowest sequence number the next record may carry.
    min_seq: u64,
}

impl<'a> Scanner<'a> {
    /// Scan `bytes`, accepting records whose sequence numbers rise from `min_seq` upward.
    pub fn new(bytes: &'a [u8], min_seq: u64) -> Scanner<'a> {
        Scanner { bytes, pos: 0, min_seq }
    }

    /// The sequence number the next record would need: one more than the last accepted.
    pub fn min_seq(&self) -> u64 {
        self.min_seq
    }

    /// The next offset at or after `from` where a whole valid record starts, if any.
    fn next_valid(&self, from: usize) -> Option<usize> {
        let mut at = from;
        while at < self.bytes.len() {
            // Jump to the next occurrence of the magic's first byte.
            let skip = self.bytes[at..].iter().position(|&b| b == MAGIC[0])?;
            at += skip;
            if let Probe::Valid { .. } = probe(self.bytes, at) {
                return Some(at);
            }
            at += 1;
        }
        None
    }
}

impl Iterator for Scanner<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let offset = self.pos;
        if offset >= self.bytes.len() {
            return None;
        }
        match probe(self.bytes, offset) {
            Probe::Valid { end, seq, stamp } => {
                assert!(end > offset && end <= self.bytes.len());
                self.pos = end;
                if seq < self.min_seq {
                    return Some(Item::OutOfOrder { offset, end, seq });
                }
                self.min_seq = seq.saturating_add(1);
                let payload = &self.bytes[offset + HEADER_BYTES..end - TRAILER_BYTES];
                Some(match Event::decode(payload) {
                    Ok(event) => Item::Record { offset, end, record: Record { seq, stamp, event } },
                    Err(error) => Item::Undecodable { offset, end, seq, error },
                })
            }
            Probe::Incomplete | Probe::Invalid => match self.next_valid(offset + 1) {
                Some(next) => {
                    self.pos = next;
                    Some(Item::Corrupt { offset, len: next - offset })
                }
                None => {
                    self.pos = self.bytes.len();
                    Some(Item::Tail { offset, len: self.bytes.len() - offset })
                }
            },
        }
    }
}

/// Summary of a whole segment, as the journal needs it when it opens the last one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentSummary {
    /// End of the last whole record (valid, undecodable or out of order); what follows is tail.
    pub valid_end: usize,
    /// Highest sequence number among the records whose checks pass, if any.
    pub last_seq: Option<u64>,
    pub records: u64,
    pub undecodable: u64,
    pub out_of_order: u64,
    pub corrupt_regions: u64,
    pub tail_bytes: usize,
}

/// Scan all of `bytes` (see [`Scanner`]).
pub fn summarize(bytes: &[u8], min_seq: u64) -> SegmentSummary {
    let mut s = SegmentSummary::default();
    let note_seq = |s: &mut SegmentSummary, seq: u64| {
        s.last_seq = Some(s.last_seq.map_or(seq, |l| l.max(seq)));
    };
    for item in Scanner::new(bytes, min_seq) {
        match item {
            Item::Record { end, record, .. } => {
                s.valid_end = end;
                s.records += 1;
                note_seq(&mut s, record.seq);
            }
            Item::Undecodable { end, seq, .. } => {
                s.valid_end = end;
                s.undecodable += 1;
                note_seq(&mut s, seq);
            }
            Item::OutOfOrder { end, seq, .. } => {
                s.valid_end = end;
                s.out_of_order += 1;
                note_seq(&mut s, seq);
            }
            Item::Corrupt { .. } => s.corrupt_regions += 1,
            Item::Tail { len, .. } => s.tail_bytes = len,
        }
    }
    assert!(s.valid_end + s.tail_bytes == bytes.len());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(seq: u64) -> Stamp {
        Stamp { mono: Micros(seq * 1000), wall_ms: 1_700_000_000_000 + seq }
    }

    fn event(seq: u64) -> Event {
        Event::new(Kind::Link, &format!("link {seq} down"))
            .with_member("node-a")
            .with_field("link", "serial0")
            .with_field("seq", &seq.to_string())
    }

    fn segment(seqs: impl IntoIterator<Item = u64>) -> (Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut offsets = Vec::new();
        for seq in seqs {
            offsets.push(out.len());
            encode_record(seq, stamp(seq), &event(seq), &mut out);
        }
        (out, offsets)
    }

    fn records(bytes: &[u8]) -> Vec<u64> {
        Scanner::new(bytes, 0)
            .filter_map(|i| match i {
                Item::Record { record, .. } => Some(record.seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_record_roundtrips_with_the_documented_layout() {
        let mut out = Vec::new();
        let n = encode_record(7, stamp(7), &event(7), &mut out);
        assert_eq!(n, out.len());
        assert_eq!(&out[..4], b"HAJ1");
        assert_eq!(u32_at(&out, 4) as usize, n - HEADER_BYTES - TRAILER_BYTES);
        assert_eq!(u64_at(&out, 8), 7);
        assert_eq!(u64_at(&out, 16), 7000);
        assert_eq!(u64_at(&out, 24), 1_700_000_000_007);
        assert_eq!(u32_at(&out, 32), crc32(&out[..32]));
        assert_eq!(u32_at(&out, n - 4), crc32(&out[..n - 4]));
        let items: Vec<Item> = Scanner::new(&out, 0).collect();
        assert_eq!(
            items,
            vec![Item::Record {
                offset: 0,
                end: n,
                record: Record { seq: 7, stamp: stamp(7), event: event(7) }
            }]
        );
    }

    #[test]
    fn the_largest_event_fits_the_payload_bound() {
        let long = "é".repeat(MAX_TEXT_BYTES); // two bytes each: cut at a char boundary
        let mut e = Event::new(Kind::Operator, &long).with_member(&"m".repeat(100));
        for i in 0..MAX_FIELDS {
            e = e.with_field(&format!("{i}").repeat(MAX_FIELD_KEY_BYTES), &"v".repeat(1000));
        }
        assert_eq!(e.text().len(), MAX_TEXT_BYTES);
        assert_eq!(e.member().unwrap().len(), MAX_MEMBER_BYTES);
        assert!(e.fields().iter().all(|f| f.value().len() == MAX_FIELD_VALUE_BYTES));
        let mut out = Vec::new();
        let n = encode_record(1, stamp(1), &e, &mut out);
        assert!(n <= MAX_RECORD_BYTES);
        assert_eq!(records(&out), vec![1]);
    }

    #[test]
    #[should_panic(expected = "more than 8 journal fields")]
    fn a_ninth_field_is_a_bug() {
        let mut e = Event::new(Kind::Agent, "x");
        for _ in 0..=MAX_FIELDS {
            e = e.with_field("k", "v");
        }
    }

    #[test]
    fn display_escapes_control_characters() {
        let e = Event::new(Kind::Operator, "move\x1b[2J").with_member("node-a").with_field("who", "root\n");
        assert_eq!(e.to_string(), "operator node-a move\\u{1b}[2J who=root\\n");
    }

    #[test]
    fn a_torn_last_record_is_a_tail_at_every_byte_offset() {
        let (whole, offsets) = segment(1..=3);
        let last = *offsets.last().unwrap();
        for cut_at in last..whole.len() {
            let torn = &whole[..cut_at];
            let s = summarize(torn, 0);
            assert_eq!(records(torn), vec![1, 2], "cut at {cut_at}");
            assert_eq!(s.valid_end, last, "cut at {cut_at}");
            assert_eq!(s.tail_bytes, cut_at - last, "cut at {cut_at}");
            assert_eq!(s.corrupt_regions, 0, "cut at {cut_at}");
            assert_eq!(s.last_seq, Some(2));
        }
        assert_eq!(summarize(&whole, 0).tail_bytes, 0);
    }

    #[test]
    fn a_torn_tail_followed_by_zeros_or_garbage_is_still_a_tail() {
        // A file system may leave zeros (or old blocks) after a torn write.
        let (whole, offsets) = segment(1..=3);
        let last = *offsets.last().unwrap();
        for cut_at in last..whole.len() {
            for fill in [0x00u8, 0xFF, b'H'] {
                let mut torn = whole[..cut_at].to_vec();
                torn.resize(whole.len() + 100, fill);
                let s = summarize(&torn, 0);
                assert_eq!(records(&torn), vec![1, 2]);
                assert_eq!(s.valid_end, last);
            }
        }
    }

    #[test]
    fn a_corrupt_middle_record_is_skipped_and_reading_continues() {
        let (whole, offsets) = segment(1..=5);
        let (start, end) = (offsets[2], offsets[3]);
        // Flip one bit at every byte of record 3: header, payload or trailer.
        for at in start..end {
            let mut bad = whole.clone();
            bad[at] ^= 0x10;
            let items: Vec<Item> = Scanner::new(&bad, 0).collect();
            assert!(items.contains(&Item::Corrupt { offset: start, len: end - start }), "flip at {at}");
            assert_eq!(records(&bad), vec![1, 2, 4, 5], "flip at {at}");
            let s = summarize(&bad, 0);
            assert_eq!((s.corrupt_regions, s.valid_end, s.tail_bytes), (1, whole.len(), 0));
        }
    }

    #[test]
    fn a_corrupt_length_does_not_hide_the_records_behind_it() {
        let (whole, offsets) = segment(1..=4);
        let mut bad = whole.clone();
        // A huge but in-bound length in record 2: its header check fails, not a torn tail.
        bad[offsets[1] + 4..offsets[1] + 8].copy_from_slice(&(MAX_PAYLOAD_BYTES as u32).to_le_bytes());
        assert_eq!(records(&bad), vec![1, 3, 4]);
        assert_eq!(summarize(&bad, 0).valid_end, whole.len());
    }

    #[test]
    fn garbage_between_records_is_one_corrupt_region() {
        let (a, _) = segment(1..=2);
        let (b, _) = segment(3..=4);
        let mut bytes = a.clone();
        bytes.extend_from_slice(b"HAJ1HAJ\0\0garbage HAJ1");
        bytes.extend_from_slice(&b);
        let items: Vec<Item> = Scanner::new(&bytes, 0).collect();
        assert_eq!(items.iter().filter(|i| matches!(i, Item::Corrupt { .. })).count(), 1);
        assert_eq!(records(&bytes), vec![1, 2, 3, 4]);
    }

    #[test]
    fn sequence_numbers_must_rise() {
        let (mut bytes, _) = segment([1, 2, 3]);
        let (stale, _) = segment([2]);
        bytes.extend_from_slice(&stale);
        let (more, _) = segment([4]);
        bytes.extend_from_slice(&more);
        let items: Vec<Item> = Scanner::new(&bytes, 0).collect();
        assert!(items.iter().any(|i| matches!(i, Item::OutOfOrder { seq: 2, .. })));
        assert_eq!(records(&bytes), vec![1, 2, 3, 4]);
        // And across segments: a floor from the previous one.
        assert_eq!(Scanner::new(&bytes, 3).filter(|i| matches!(i, Item::Record { .. })).count(), 2);
    }

    #[test]
    fn a_checksummed_payload_that_is_not_an_event_is_undecodable() {
        let mut bytes = Vec::new();
        encode_frame(1, stamp(1), &[200], &mut bytes); // no such kind
        let s = summarize(&bytes, 0);
        assert_eq!((s.records, s.undecodable, s.valid_end), (0, 1, bytes.len()));
        // A text over its bound, written by hand.
        let fat =
            Event { kind: Kind::Agent, member: None, text: "x".repeat(MAX_TEXT_BYTES + 1), fields: vec![] };
        let payload = postcard::to_allocvec(&fat).unwrap();
        assert_eq!(Event::decode(&payload), Err(PayloadError::Bounds));
        let mut trailing = postcard::to_allocvec(&event(1)).unwrap();
        trailing.push(0);
        assert_eq!(Event::decode(&trailing), Err(PayloadError::Postcard));
    }

    #[test]
    fn empty_and_tiny_inputs() {
        assert_eq!(summarize(&[], 0), SegmentSummary::default());
        for bytes in [&b"H"[..], b"HAJ", b"HAJ1", b"xyz", &[0u8; 40][..]] {
            let s = summarize(bytes, 0);
            assert_eq!((s.valid_end, s.tail_bytes, s.records), (0, bytes.len(), 0));
        }
    }
}

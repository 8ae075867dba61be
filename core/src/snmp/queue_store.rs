//! The durable file of pending informs, so that notifications survive an agent restart or a
//! power cut.
//!
//! Owns the file format ([`encode`], [`decode`]). The durable write discipline (write a
//! temporary file, fsync it, rename it over the old one, fsync the directory) is `ha-agent`'s
//! `snmp::queue_store::save`, which re-exports this module. It does not decide what is pending
//! (the notifier does, and hands over a [`StoreImage`]).
//!
//! Format: the magic `HASNMPQ1`, then records, each `length (u32 BE) || checksum (8 bytes:
//! SHA-256 of the payload, truncated) || payload`. The first record is the header (next
//! sequence number); each further record is one pending inform, its payload a BER SEQUENCE
//! (target name, sequence, sysUpTime, snmpTrapOID, varbinds) read back with the same checked
//! decoder as the network input. A record whose checksum does not match is dropped and
//! counted, never misread; a length that runs past the end ends the file (a torn tail).

#![forbid(unsafe_code)]

use sha2::{Digest, Sha256};

use super::ber::{self, Oid, Reader, Value};
use super::pdu::{decode_varbinds, encode_varbinds, VarBind};

/// Name of the queue file in the data directory.
pub const QUEUE_FILE: &str = "snmp-queue";
const MAGIC: &[u8; 8] = b"HASNMPQ1";
const CHECKSUM_BYTES: usize = 8;
const RECORD_HEADER_BYTES: usize = 4 + CHECKSUM_BYTES;
/// Bound on one record's payload (an inform's varbinds are well under this).
pub const MAX_RECORD_BYTES: usize = ber::MAX_MESSAGE_BYTES;
/// Bound on the records of one file (the notifier holds at most MAX_TARGETS * MAX_QUEUE).
pub const MAX_RECORDS: usize = super::notify::MAX_TARGETS * super::notify::MAX_QUEUE;
/// Bound on the file read at start.
pub const MAX_FILE_BYTES: u64 =
    (MAGIC.len() + (MAX_RECORDS + 1) * (RECORD_HEADER_BYTES + MAX_RECORD_BYTES)) as u64;

/// One pending inform as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredInform {
    pub target: String,
    pub sequence: u32,
    pub uptime_ticks: u32,
    pub trap_oid: Oid,
    pub objects: Vec<VarBind>,
}

/// Everything the file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreImage {
    pub next_sequence: u32,
    pub informs: Vec<StoredInform>,
}

/// What a load found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    pub image: StoreImage,
    /// Records dropped because their checksum or content was wrong, or the file was torn.
    pub damaged_records: usize,
}

fn checksum(payload: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let digest = Sha256::digest(payload);
    let mut out = [0u8; CHECKSUM_BYTES];
    out.copy_from_slice(&digest[..CHECKSUM_BYTES]);
    out
}

fn push_record(out: &mut Vec<u8>, payload: &[u8]) {
    assert!(payload.len() <= MAX_RECORD_BYTES);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&checksum(payload));
    out.extend_from_slice(payload);
}

/// The file's bytes for `image`.
pub fn encode(image: &StoreImage) -> Vec<u8> {
    assert!(image.informs.len() <= MAX_RECORDS);
    let mut out = MAGIC.to_vec();
    let mut header = Vec::new();
    ber::write_constructed(&mut header, ber::TAG_SEQUENCE, |c| {
        ber::write_value(c, &Value::Gauge32(image.next_sequence));
    });
    push_record(&mut out, &header);
    for inform in &image.informs {
        let mut payload = Vec::new();
        ber::write_constructed(&mut payload, ber::TAG_SEQUENCE, |c| {
            ber::write_octets(c, inform.target.as_bytes());
            ber::write_value(c, &Value::Gauge32(inform.sequence));
            ber::write_value(c, &Value::TimeTicks(inform.uptime_ticks));
            ber::write_oid(c, &inform.trap_oid);
            encode_varbinds(c, &inform.objects);
        });
        push_record(&mut out, &payload);
    }
    out
}

fn decode_header(payload: &[u8]) -> Option<u32> {
    let mut r = Reader::new(payload).ok()?;
    let mut seq = r.enter(ber::TAG_SEQUENCE).ok()?;
    r.finish().ok()?;
    let next = match seq.read_value().ok()? {
        Value::Gauge32(n) => n,
        _ => return None,
    };
    seq.finish().ok()?;
    Some(next)
}

fn decode_inform(payload: &[u8]) -> Option<StoredInform> {
    let mut r = Reader::new(payload).ok()?;
    let mut seq = r.enter(ber::TAG_SEQUENCE).ok()?;
    r.finish().ok()?;
    let target = String::from_utf8(seq.read_octets().ok()?.to_vec()).ok()?;
    let Value::Gauge32(sequence) = seq.read_value().ok()? else {
        return None;
    };
    let Value::TimeTicks(uptime_ticks) = seq.read_value().ok()? else {
        return None;
    };
    let trap_oid = seq.read_oid().ok()?;
    let objects = decode_varbinds(&mut seq).ok()?;
    seq.finish().ok()?;
    Some(StoredInform { target, sequence, uptime_ticks, trap_oid, objects })
}

/// Read a file's bytes back. Never fails: damage is counted in `damaged_records`. A file
/// without the magic (or without a good header) yields an empty image and one damaged record.
pub fn decode(bytes: &[u8]) -> Loaded {
    let mut loaded = Loaded::default();
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        loaded.damaged_records = usize::from(!bytes.is_empty());
        return loaded;
    }
    let mut pos = MAGIC.len();
    let mut first = true;
    let mut records = 0usize;
    while pos < bytes.len() {
        if records > MAX_RECORDS {
            loaded.damaged_records += 1;
            break;
        }
        records += 1;
        let Some(head) = bytes.get(pos..pos + RECORD_HEADER_BYTES) else {
            loaded.damaged_records += 1; // torn in a record header
            break;
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let Some(payload) = bytes
            .get(pos + RECORD_HEADER_BYTES..pos + RECORD_HEADER_BYTES + len)
            .filter(|_| len <= MAX_RECORD_BYTES)
        else {
            loaded.damaged_records += 1; // torn, or a damaged length: nothing after it can be trusted
            break;
        };
        pos += RECORD_HEADER_BYTES + len;
        if head[4..] != checksum(payload) {
            loaded.damaged_records += 1;
            first = false;
            continue;
        }
        if first {
            first = false;
            // A first record that is no header (the header was lost) is read as an inform.
            if let Some(next) = decode_header(payload) {
                loaded.image.next_sequence = next;
                continue;
            }
        }
        match decode_inform(payload) {
            Some(inform) => loaded.image.informs.push(inform),
            None => loaded.damaged_records += 1,
        }
    }
    // If the header was lost, never reuse a stored sequence number.
    if let Some(max) = loaded.image.informs.iter().map(|i| i.sequence).max() {
        if loaded.image.next_sequence <= max {
            loaded.image.next_sequence = max.wrapping_add(1);
        }
    }
    loaded
}

/// An image of three informs to two targets: the fixture of the tests of this format and of the
/// agent's queue file (`ha_agent::snmp::queue_file`), which stores it.
#[doc(hidden)]
pub fn sample_image() -> StoreImage {
    let ent = Oid::new(&[1, 3, 6, 1, 4, 1, 99999]);
    let inform = |target: &str, sequence: u32| StoredInform {
        target: target.into(),
        sequence,
        uptime_ticks: 100 + sequence,
        trap_oid: ent.child(&[0, 2]),
        objects: vec![
            VarBind::new(ent.child(&[1, 1, 1, 0]), Value::Gauge32(sequence)),
            VarBind::new(ent.child(&[1, 1, 11, 0]), Value::OctetString(b"member node-a is down".to_vec())),
        ],
    };
    StoreImage { next_sequence: 12, informs: vec![inform("nms", 9), inform("nms", 10), inform("backup", 11)] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_record_is_dropped_and_the_others_kept() {
        let bytes = encode(&sample_image());
        // Flip one bit in every position of the second inform's payload: that record (and
        // only it) is dropped, never misread.
        let records = {
            let mut starts = vec![];
            let mut pos = MAGIC.len();
            while pos < bytes.len() {
                starts.push(pos);
                let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
                pos += RECORD_HEADER_BYTES + len;
            }
            starts
        };
        assert_eq!(records.len(), 4);
        let second = records[2];
        for i in second + 4..records[3] {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            let loaded = decode(&bad);
            assert_eq!(loaded.damaged_records, 1, "byte {i}");
            let seqs: Vec<u32> = loaded.image.informs.iter().map(|i| i.sequence).collect();
            assert_eq!(seqs, [9, 11]);
            assert_eq!(loaded.image.next_sequence, 12);
        }
    }

    #[test]
    fn a_torn_file_keeps_the_whole_records_before_the_tear() {
        let bytes = encode(&sample_image());
        for cut in MAGIC.len()..bytes.len() {
            let loaded = decode(&bytes[..cut]);
            assert!(loaded.damaged_records <= 1);
            let all = sample_image().informs;
            assert_eq!(loaded.image.informs[..], all[..loaded.image.informs.len()], "cut {cut}");
        }
        assert_eq!(decode(&bytes).image, sample_image());
        assert_eq!(decode(b"garbage").damaged_records, 1);
        assert_eq!(decode(b""), Loaded::default());
    }

    #[test]
    fn a_lost_header_never_reuses_a_sequence_number() {
        let mut bytes = encode(&sample_image());
        bytes[MAGIC.len() + 5] ^= 1; // header checksum
        let loaded = decode(&bytes);
        assert_eq!(loaded.damaged_records, 1);
        assert_eq!(loaded.image.informs.len(), 3);
        assert_eq!(loaded.image.next_sequence, 12);
    }
}

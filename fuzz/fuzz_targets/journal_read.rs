//! Fuzz the journal reader (`journal::record::Scanner`): arbitrary bytes as a segment file
//! never panic; the items tile the input; accepted sequence numbers strictly rise; every
//! record read back re-encodes to a frame that reads back as the same record; and the same
//! bytes wrapped in a valid frame by the harness reach the postcard payload decoder, where
//! they become one record or one undecodable record, and the first half of that frame is never
//! read as a record.
//!
//! Input layout: the whole input is the segment; it is also used as a payload when its length
//! is 1..=MAX_PAYLOAD_BYTES.

#![no_main]

use ha_agent::journal::record::{
    encode_frame, encode_record, summarize, Item, Scanner, Stamp, MAX_PAYLOAD_BYTES,
};
use ha_agent::time::Micros;
use libfuzzer_sys::fuzz_target;

fn check_segment(bytes: &[u8]) -> Vec<Item> {
    let items: Vec<Item> = Scanner::new(bytes, 0).collect();
    let mut pos = 0usize;
    let mut last_seq: Option<u64> = None;
    for item in &items {
        let (offset, end) = match item {
            Item::Record { offset, end, record } => {
                assert!(last_seq.is_none_or(|l| record.seq > l), "sequence numbers must rise");
                last_seq = Some(record.seq);
                let mut again = Vec::new();
                encode_record(record.seq, record.stamp, &record.event, &mut again);
                let reread: Vec<Item> = Scanner::new(&again, 0).collect();
                assert!(
                    matches!(&reread[..], [Item::Record { record: r, .. }] if r == record),
                    "a record must survive a re-encode"
                );
                (*offset, *end)
            }
            Item::Undecodable { offset, end, seq, .. } => {
                assert!(last_seq.is_none_or(|l| *seq > l));
                last_seq = Some(*seq);
                (*offset, *end)
            }
            Item::OutOfOrder { offset, end, seq } => {
                assert!(last_seq.is_some_and(|l| *seq <= l));
                (*offset, *end)
            }
            Item::Corrupt { offset, len } | Item::Tail { offset, len } => {
                assert!(*len > 0);
                (*offset, offset + len)
            }
        };
        assert_eq!(offset, pos, "items must tile the segment");
        assert!(end > offset && end <= bytes.len());
        pos = end;
    }
    assert_eq!(pos, bytes.len());
    assert!(items.iter().filter(|i| matches!(i, Item::Tail { .. })).count() <= 1);
    assert!(!matches!(items.iter().rev().skip(1).next(), Some(Item::Tail { .. })), "a tail is last");
    let summary = summarize(bytes, 0);
    assert_eq!(summary.valid_end + summary.tail_bytes, bytes.len());
    items
}

fuzz_target!(|data: &[u8]| {
    check_segment(data);

    if (1..=MAX_PAYLOAD_BYTES).contains(&data.len()) {
        let stamp = Stamp { mono: Micros(7), wall_ms: 11 };
        let mut framed = Vec::new();
        let len = encode_frame(42, stamp, data, &mut framed);
        let items = check_segment(&framed);
        match &items[..] {
            [Item::Record { end, record, .. }] => {
                assert_eq!((*end, record.seq, record.stamp), (len, 42, stamp));
            }
            [Item::Undecodable { end, seq: 42, .. }] => assert_eq!(*end, len),
            other => panic!("a valid frame read as {other:?}"),
        }
        let cut = framed.len() / 2;
        let torn = check_segment(&framed[..cut]);
        // The torn frame itself is never read as a record; frames inside its payload (the
        // input may be a segment) may be, after a corrupt region.
        assert!(
            matches!(torn.first(), Some(Item::Tail { offset: 0, .. } | Item::Corrupt { offset: 0, .. })),
            "a torn frame is a tail or a corrupt region"
        );
    }
});

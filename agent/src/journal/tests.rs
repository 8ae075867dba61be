//! Tests of the journal's files: durable append, reopen, torn-tail repair, corruption,
//! rotation bounds, the lock and the read filters.

use super::record::{encode_record, HEADER_BYTES};
use super::*;
use crate::time::Micros;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("ha-journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn stamp(seq: u64) -> Stamp {
    Stamp { mono: Micros(seq * 1_000), wall_ms: 1_700_000_000_000 + seq * 1_000 }
}

fn event(seq: u64) -> Event {
    Event::new(Kind::Membership, &format!("member lost {seq}"))
        .with_member("node-b")
        .with_field("seq", &seq.to_string())
}

fn small() -> Options {
    Options { segment_bytes_max: MIN_SEGMENT_BYTES, segments_max: 3, write_chunk_bytes: None }
}

fn seqs(batch: &Batch) -> Vec<u64> {
    batch.records.iter().map(|r| r.seq).collect()
}

fn segment_files(dir: &Path) -> Vec<(u64, u64)> {
    list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|first| (first, fs::metadata(dir.join(segment_name(first))).unwrap().len()))
        .collect()
}

#[test]
fn segment_names_roundtrip_and_strangers_are_ignored() {
    assert_eq!(segment_name(0x2a), "journal-000000000000002a.seg");
    assert_eq!(parse_segment_name("journal-000000000000002a.seg"), Some(0x2a));
    for stranger in
        ["journal-2a.seg", "journal-000000000000002A.seg", "journal-000000000000002a.seg.tmp", "x"]
    {
        assert_eq!(parse_segment_name(stranger), None, "{stranger}");
    }
}

#[test]
fn appends_are_read_back_and_reopen_continues_the_sequence() {
    let d = TempDir::new("roundtrip");
    {
        let (mut j, report) = Journal::open(&d.0, Options::default()).unwrap();
        assert_eq!((report.segments, report.next_seq, report.torn_tails_repaired), (1, 1, 0));
        for seq in 1..=5 {
            assert_eq!(j.append(stamp(seq), &event(seq)).unwrap(), seq);
        }
        let batch = j.read(Since::All, 100).unwrap();
        assert_eq!(seqs(&batch), vec![1, 2, 3, 4, 5]);
        assert_eq!(batch.records[2], Record { seq: 3, stamp: stamp(3), event: event(3) });
        assert_eq!((batch.more, batch.corrupt_regions), (false, 0));
    }
    let (mut j, report) = Journal::open(&d.0, Options::default()).unwrap();
    assert_eq!((report.next_seq, report.torn_tails_repaired), (6, 0));
    assert_eq!(j.append(stamp(6), &event(6)).unwrap(), 6);
    assert_eq!(seqs(&read_dir(&d.0, Since::All, 100).unwrap()), vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn a_second_writer_is_refused() {
    let d = TempDir::new("lock");
    let (_j, _) = Journal::open(&d.0, Options::default()).unwrap();
    let err = Journal::open(&d.0, Options::default()).err().expect("locked");
    assert!(err.to_string().contains("locked by another process"), "{err}");
}

#[test]
fn a_torn_tail_is_truncated_on_open_at_every_byte_offset() {
    let d = TempDir::new("torn-src");
    let (mut j, _) = Journal::open(&d.0, Options::default()).unwrap();
    for seq in 1..=3 {
        j.append(stamp(seq), &event(seq)).unwrap();
    }
    drop(j);
    let whole = fs::read(d.0.join(segment_name(1))).unwrap();
    let mut last_start = Vec::new();
    encode_record(1, stamp(1), &event(1), &mut last_start);
    encode_record(2, stamp(2), &event(2), &mut last_start);
    let last_start = last_start.len();
    assert!(whole.len() > last_start + HEADER_BYTES);

    let t = TempDir::new("torn");
    for cut in last_start..whole.len() {
        fs::create_dir_all(&t.0).unwrap();
        fs::write(t.0.join(segment_name(1)), &whole[..cut]).unwrap();
        let (mut j, report) = Journal::open(&t.0, Options::default()).unwrap();
        let torn = (cut - last_start) as u64;
        assert_eq!(report.torn_tails_repaired, u32::from(torn > 0), "cut at {cut}");
        assert_eq!(report.torn_tail_bytes, torn, "cut at {cut}");
        assert_eq!(report.next_seq, 3, "cut at {cut}");
        assert_eq!(fs::metadata(t.0.join(segment_name(1))).unwrap().len(), last_start as u64);
        // The journal goes on cleanly after the repair.
        assert_eq!(j.append(stamp(30), &event(30)).unwrap(), 3);
        let batch = j.read(Since::All, 10).unwrap();
        assert_eq!(seqs(&batch), vec![1, 2, 3], "cut at {cut}");
        assert_eq!(batch.records[2].event, event(30));
        assert_eq!(batch.corrupt_regions, 0);
        drop(j);
        fs::remove_dir_all(&t.0).unwrap();
    }
}

#[test]
fn a_corrupt_middle_record_is_skipped_with_a_count() {
    let d = TempDir::new("corrupt");
    let (mut j, _) = Journal::open(&d.0, Options::default()).unwrap();
    for seq in 1..=5 {
        j.append(stamp(seq), &event(seq)).unwrap();
    }
    drop(j);
    let path = d.0.join(segment_name(1));
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2; // inside record 3
    bytes[mid] ^= 0xFF;
    fs::write(&path, &bytes).unwrap();

    let (mut j, report) = Journal::open(&d.0, Options::default()).unwrap();
    assert_eq!((report.corrupt_regions, report.torn_tails_repaired, report.next_seq), (1, 0, 6));
    j.append(stamp(6), &event(6)).unwrap();
    let batch = j.read(Since::All, 100).unwrap();
    assert_eq!(seqs(&batch), vec![1, 2, 4, 5, 6]);
    assert_eq!(batch.corrupt_regions, 1);
}

#[test]
fn rotation_keeps_the_bounds_and_a_contiguous_suffix() {
    let d = TempDir::new("rotate");
    let options = small();
    let (mut j, _) = Journal::open(&d.0, options).unwrap();
    let total = 300;
    for seq in 1..=total {
        assert_eq!(j.append(stamp(seq), &event(seq)).unwrap(), seq);
        let files = segment_files(&d.0);
        assert!(files.len() <= options.segments_max, "{files:?}");
        assert!(files.iter().all(|&(_, len)| len <= options.segment_bytes_max), "{files:?}");
    }
    let files = segment_files(&d.0);
    assert_eq!(files.len(), options.segments_max);
    let batch = j.read(Since::All, MAX_READ_RECORDS).unwrap();
    let got = seqs(&batch);
    assert_eq!(got.first().copied(), Some(files[0].0), "the oldest kept segment starts the read");
    assert_eq!(got, (files[0].0..=total).collect::<Vec<_>>());
    assert_eq!((batch.corrupt_regions, batch.out_of_order), (0, 0));
    drop(j);
    let (_, report) = Journal::open(&d.0, options).unwrap();
    assert_eq!(report.next_seq, total + 1);
}

#[test]
fn open_deletes_segments_beyond_the_count_and_continues_after_an_empty_last_one() {
    let d = TempDir::new("excess");
    let options = small();
    let (mut j, _) = Journal::open(&d.0, options).unwrap();
    for seq in 1..=100 {
        j.append(stamp(seq), &event(seq)).unwrap();
    }
    drop(j);
    // A rotation cut short by a crash: the new segment exists, empty, the oldest not deleted.
    let files = segment_files(&d.0);
    fs::write(d.0.join(segment_name(101)), b"").unwrap();
    let (mut j, report) = Journal::open(&d.0, options).unwrap();
    assert_eq!((report.segments_removed, report.segments, report.next_seq), (1, 3, 101));
    assert!(!d.0.join(segment_name(files[0].0)).exists());
    assert_eq!(j.append(stamp(101), &event(101)).unwrap(), 101);
    assert_eq!(j.read(Since::AfterSeq(99), 10).unwrap().records.len(), 2);
}

#[test]
fn read_filters_limits_and_the_last_few() {
    let d = TempDir::new("filters");
    let (mut j, _) = Journal::open(&d.0, small()).unwrap();
    for seq in 1..=60 {
        j.append(stamp(seq), &event(seq)).unwrap();
    }
    assert!(segment_files(&d.0).len() > 1, "the reads cross segments");
    assert_eq!(seqs(&j.records_after(50, 100).unwrap()), (51..=60).collect::<Vec<_>>());
    assert!(j.records_after(60, 100).unwrap().records.is_empty());
    let page = j.records_after(10, 5).unwrap();
    assert_eq!((seqs(&page), page.more), (vec![11, 12, 13, 14, 15], true));
    // Follow: page through everything.
    let (mut after, mut seen) = (0, Vec::new());
    loop {
        let page = j.records_after(after, 7).unwrap();
        seen.extend(seqs(&page));
        match page.records.last() {
            Some(r) => after = r.seq,
            None => break,
        }
    }
    assert_eq!(seen, (1..=60).collect::<Vec<_>>());
    assert_eq!(seqs(&j.read(Since::WallMs(stamp(58).wall_ms), 100).unwrap()), vec![58, 59, 60]);
    let last = j.last(3).unwrap();
    assert_eq!((seqs(&last), last.more), (vec![58, 59, 60], true));
    assert_eq!(seqs(&j.last(100).unwrap()).len(), 60);
    // From another thread or process, the same: the newest segment alone when it holds them,
    // all the segments when it does not.
    assert_eq!(read_last(&d.0, 3).unwrap(), last);
    let newest_first = segment_files(&d.0).last().unwrap().0;
    let newest_holds = usize::try_from(60 - newest_first + 1).unwrap();
    assert!((1..60).contains(&newest_holds));
    assert_eq!(seqs(&read_last(&d.0, newest_holds).unwrap()), (newest_first..=60).collect::<Vec<_>>());
    assert_eq!(
        seqs(&read_last(&d.0, newest_holds + 1).unwrap()),
        ((newest_first - 1)..=60).collect::<Vec<_>>()
    );
    assert_eq!(read_dir(&d.0, Since::AfterSeq(55), 100).unwrap(), j.records_after(55, 100).unwrap());
}

#[test]
fn a_reader_ignores_a_tail_on_the_newest_segment_only() {
    let d = TempDir::new("reader-tail");
    let (mut j, _) = Journal::open(&d.0, small()).unwrap();
    for seq in 1..=40 {
        j.append(stamp(seq), &event(seq)).unwrap();
    }
    drop(j);
    let files = segment_files(&d.0);
    let newest = d.0.join(segment_name(files.last().unwrap().0));
    let oldest = d.0.join(segment_name(files[0].0));
    // An append under way in the writer: a partial record at the end of the newest segment.
    let mut partial = Vec::new();
    encode_record(41, stamp(41), &event(41), &mut partial);
    let mut bytes = fs::read(&newest).unwrap();
    bytes.extend_from_slice(&partial[..20]);
    fs::write(&newest, &bytes).unwrap();
    assert_eq!(read_dir(&d.0, Since::All, 100).unwrap().corrupt_regions, 0);
    // The same on a closed segment is damage.
    let mut bytes = fs::read(&oldest).unwrap();
    bytes.extend_from_slice(&partial[..20]);
    fs::write(&oldest, &bytes).unwrap();
    let batch = read_dir(&d.0, Since::All, 100).unwrap();
    assert_eq!(batch.corrupt_regions, 1);
    assert_eq!(batch.records.last().unwrap().seq, 40);
}

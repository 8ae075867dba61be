//! The durable journal: an append-only, checksummed, size-bounded event log on the data
//! partition.
//!
//! Owns the segment files in one directory (`journal-<first seq, 16 hex digits>.seg`), their
//! rotation, the durable append (write, then `fdatasync`, before [`Journal::append`] returns:
//! a record is *acknowledged* when `append` returned `Ok`), the repair of a torn tail when the
//! journal is opened, and reading records back (all, since a sequence number, since a
//! wall-clock time, or the last few). The byte layout of a record is [`record`]'s; the whole
//! format is written down in docs/journal.md.
//!
//! It does not read a clock (the caller stamps each record), does not decide what is worth
//! journaling or render it for the operator, and does not write the generation/holder state
//! (that is `shell::state::write_durable`, the same durable discipline for a whole file).
//!
//! Bounds: segments of at most [`MAX_SEGMENT_BYTES`], at most [`MAX_SEGMENTS`] of them (the
//! oldest is deleted when a new one would exceed the count), records of at most
//! [`MAX_RECORD_BYTES`], and at most [`MAX_READ_RECORDS`] records per read.

#![forbid(unsafe_code)]

pub mod civil;
pub mod record;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub use record::{
    Event, Field, Item, Kind, PayloadError, Record, Scanner, SegmentSummary, Stamp, MAX_FIELDS,
    MAX_FIELD_KEY_BYTES, MAX_FIELD_VALUE_BYTES, MAX_MEMBER_BYTES, MAX_PAYLOAD_BYTES, MAX_RECORD_BYTES,
    MAX_TEXT_BYTES,
};

/// Bound on one segment file.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 20;
/// Bound on the number of segment files kept; rotation deletes the oldest beyond it.
pub const MAX_SEGMENTS: usize = 8;
/// The smallest segment size an [`Options`] may ask for: one largest record.
pub const MIN_SEGMENT_BYTES: u64 = MAX_RECORD_BYTES as u64;
/// Bound on the records one read returns.
pub const MAX_READ_RECORDS: usize = 4096;
/// Bound on the directory entries examined when listing segments.
pub const MAX_DIR_ENTRIES: usize = 1024;

const SEGMENT_PREFIX: &str = "journal-";
const SEGMENT_SUFFIX: &str = ".seg";
const SEQ_HEX_DIGITS: usize = 16;

/// How the journal is bounded. The defaults are the production bounds; tests use smaller ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// A segment is closed before a record would take it past this size.
    pub segment_bytes_max: u64,
    /// Segments kept, the active one included.
    pub segments_max: usize,
    /// Test hook: write each record in pieces of at most this many bytes, one system call
    /// each, so that a SIGKILL can land inside a record. `None` (one write) in production.
    pub write_chunk_bytes: Option<usize>,
}

impl Default for Options {
    fn default() -> Options {
        Options { segment_bytes_max: MAX_SEGMENT_BYTES, segments_max: MAX_SEGMENTS, write_chunk_bytes: None }
    }
}

impl Options {
    fn check(&self) {
        assert!((MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes_max));
        assert!((2..=MAX_SEGMENTS).contains(&self.segments_max));
        assert!(self.write_chunk_bytes.is_none_or(|n| n > 0));
    }
}

/// What opening the journal found and repaired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    pub segments: usize,
    /// The sequence number the next append will get.
    pub next_seq: u64,
    /// 1 when the last segment ended in a torn (or damaged) tail that was truncated.
    pub torn_tails_repaired: u32,
    pub torn_tail_bytes: u64,
    /// Corrupt regions in the last segment, left in place and skipped by readers.
    pub corrupt_regions: u64,
    /// Segments deleted because there were more than `segments_max` (a rotation cut short).
    pub segments_removed: u32,
}

/// Which records a read wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    All,
    /// Records with a sequence number greater than this (`ha-agent log --follow`).
    AfterSeq(u64),
    /// Records stamped at or after this wall-clock time. The wall clock may have stepped, so
    /// this filters each record; it is not a cut in the sequence.
    WallMs(u64),
}

/// The result of a read: records in sequence order and what was skipped on the way.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub records: Vec<Record>,
    /// True when the limit cut the read short: read again after the last record's seq.
    pub more: bool,
    /// Corrupt regions skipped (each one or more lost records), and tails of closed segments.
    pub corrupt_regions: u64,
    /// Records whose checks passed but whose payload this version cannot read.
    pub undecodable: u64,
    /// Records skipped because their sequence number did not rise.
    pub out_of_order: u64,
}

/// The durable journal. One writer per directory, enforced with an exclusive `flock` on the
/// directory; readers in other processes use [`read_dir`] without the lock.
pub struct Journal {
    dir: PathBuf,
    /// Held open for the lock and for fsyncing the directory after creating or deleting files.
    dir_handle: File,
    options: Options,
    /// First sequence number of each segment, oldest first; the last is the active one.
    segments: VecDeque<u64>,
    active: File,
    active_len: u64,
    next_seq: u64,
    /// Set when an fsync failed: the kernel may have dropped the dirty pages, so nothing after
    /// that point could honestly be acknowledged. Reopen to recover.
    broken: bool,
    buffer: Vec<u8>,
}

fn segment_name(first_seq: u64) -> String {
    format!("{SEGMENT_PREFIX}{first_seq:0width$x}{SEGMENT_SUFFIX}", width = SEQ_HEX_DIGITS)
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix(SEGMENT_PREFIX)?.strip_suffix(SEGMENT_SUFFIX)?;
    if hex.len() != SEQ_HEX_DIGITS || !hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// First sequence numbers of the segments in `dir`, oldest first.
fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut firsts = Vec::new();
    for (index, entry) in fs::read_dir(dir)?.enumerate() {
        if index >= MAX_DIR_ENTRIES {
            log::warn!("{}: more than {MAX_DIR_ENTRIES} entries, the rest ignored", dir.display());
            break;
        }
        if let Some(first) = entry?.file_name().to_str().and_then(parse_segment_name) {
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

/// Read a segment file, at most MAX_SEGMENT_BYTES of it (a longer file is not ours; the excess
/// is ignored by readers and truncated as tail by the writer).
fn read_segment(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(MAX_SEGMENT_BYTES).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn io_error(message: String) -> io::Error {
    io::Error::other(message)
}

impl Journal {
    /// Open (or create) the journal in `dir`: take the lock, delete segments beyond the count,
    /// scan the last segment, truncate a torn tail (logged), and continue the sequence.
    pub fn open(dir: &Path, options: Options) -> io::Result<(Journal, OpenReport)> {
        options.check();
        fs::create_dir_all(dir)?;
        let dir_handle = File::open(dir)?;
        rustix::fs::flock(&dir_handle, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|e| io_error(format!("{}: journal locked by another process ({e})", dir.display())))?;
        let mut report = OpenReport::default();
        let mut segments: VecDeque<u64> = list_segments(dir)?.into();
        let mut removed_any = false;
        while segments.len() > options.segments_max {
            let oldest = segments.pop_front().expect("more than segments_max > 0");
            let path = dir.join(segment_name(oldest));
            log::warn!(
                "{}: more than {} journal segments, deleting the oldest",
                path.display(),
                options.segments_max
            );
            fs::remove_file(&path)?;
            report.segments_removed += 1;
            removed_any = true;
        }
        if removed_any {
            dir_handle.sync_all()?;
        }

        let (active, active_len, next_seq) = match segments.back().copied() {
            None => {
                let active = create_segment(dir, &dir_handle, 1)?;
                segments.push_back(1);
                (active, 0, 1)
            }
            Some(first) => {
                let path = dir.join(segment_name(first));
                let active = OpenOptions::new().read(true).write(true).open(&path)?;
                let file_len = active.metadata()?.len();
                let bytes = read_segment(&path)?;
                let summary = record::summarize(&bytes, first);
                report.corrupt_regions = summary.corrupt_regions;
                let valid_end = summary.valid_end as u64;
                if file_len > valid_end {
                    log::warn!(
                        "{}: truncating a torn tail of {} bytes at offset {valid_end}",
                        path.display(),
                        file_len - valid_end
                    );
                    active.set_len(valid_end)?;
                    active.sync_all()?;
                    report.torn_tails_repaired = 1;
                    report.torn_tail_bytes = file_len - valid_end;
                }
                let next = summary.last_seq.map_or(first, |last| last.saturating_add(1)).max(first);
                (active, valid_end, next)
            }
        };
        assert!((1..u64::MAX).contains(&next_seq));
        report.segments = segments.len();
        report.next_seq = next_seq;
        let journal = Journal {
            dir: dir.to_path_buf(),
            dir_handle,
            options,
            segments,
            active,
            active_len,
            next_seq,
            broken: false,
            buffer: Vec::with_capacity(MAX_RECORD_BYTES),
        };
        Ok((journal, report))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Append `event` stamped `stamp`, durably: the record is written and `fdatasync`ed before
    /// this returns its sequence number. On a write error the partial record is cut off again
    /// and the error returned; after an fsync error every later append fails (see `broken`).
    pub fn append(&mut self, stamp: Stamp, event: &Event) -> io::Result<u64> {
        if self.broken {
            return Err(io_error(format!(
                "{}: journal failed an fsync earlier; reopen it",
                self.dir.display()
            )));
        }
        let seq = self.next_seq;
        self.buffer.clear();
        let len = record::encode_record(seq, stamp, event, &mut self.buffer) as u64;
        assert!(len <= self.options.segment_bytes_max);
        if self.active_len > 0 && self.active_len + len > self.options.segment_bytes_max {
            self.rotate()?;
        }
        let start = self.active_len;
        if let Err(e) = self.write_record(start) {
            // Leave no partial record behind to be read as a tail or a corrupt region.
            if self.active.set_len(start).is_err() {
                self.broken = true;
            }
            return Err(e);
        }
        if let Err(e) = self.active.sync_data() {
            self.broken = true;
            return Err(e);
        }
        self.active_len = start + len;
        self.next_seq = seq + 1;
        assert!(self.active_len <= self.options.segment_bytes_max);
        Ok(seq)
    }

    fn write_record(&self, start: u64) -> io::Result<()> {
        let chunk = self.options.write_chunk_bytes.unwrap_or(self.buffer.len());
        let mut offset = start;
        for piece in self.buffer.chunks(chunk) {
            self.active.write_all_at(piece, offset)?;
            offset += piece.len() as u64;
        }
        Ok(())
    }

    /// Start a new segment at `next_seq` (its creation fsyncs the directory), then delete the
    /// oldest segments beyond the count. A crash between the two leaves one segment too many,
    /// which the next open deletes.
    fn rotate(&mut self) -> io::Result<()> {
        let first = self.next_seq;
        assert!(self.segments.back().is_some_and(|&last| last < first));
        self.active = create_segment(&self.dir, &self.dir_handle, first)?;
        self.active_len = 0;
        self.segments.push_back(first);
        let mut removed_any = false;
        while self.segments.len() > self.options.segments_max {
            let oldest = self.segments[0];
            let path = self.dir.join(segment_name(oldest));
            match fs::remove_file(&path) {
                Ok(()) => {
                    self.segments.pop_front();
                    removed_any = true;
                }
                Err(e) => {
                    // Keep the journal writable; the next rotation tries again.
                    log::warn!("{}: cannot delete old journal segment: {e}", path.display());
                    break;
                }
            }
        }
        if removed_any {
            self.dir_handle.sync_all()?;
        }
        Ok(())
    }

    /// Records matching `since`, oldest first, at most `limit` (1..=MAX_READ_RECORDS).
    pub fn read(&self, since: Since, limit: usize) -> io::Result<Batch> {
        let firsts: Vec<u64> = self.segments.iter().copied().collect();
        read_segments(&self.dir, &firsts, since, limit)
    }

    /// Records with a sequence number greater than `seq`, at most `limit`: the call behind
    /// `log --follow` (call again with the last seq returned). A jump in the numbers returned
    /// means records were rotated away or lost to corruption.
    pub fn records_after(&self, seq: u64, limit: usize) -> io::Result<Batch> {
        self.read(Since::AfterSeq(seq), limit)
    }

    /// The last `count` records (1..=MAX_READ_RECORDS), oldest first: `status`'s last events.
    pub fn last(&self, count: usize) -> io::Result<Batch> {
        let firsts: Vec<u64> = self.segments.iter().copied().collect();
        last_of_segments(&self.dir, &firsts, count)
    }
}

/// Create an empty segment file for `first_seq` and fsync the directory so that it survives.
fn create_segment(dir: &Path, dir_handle: &File, first_seq: u64) -> io::Result<File> {
    let path = dir.join(segment_name(first_seq));
    let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path)?;
    dir_handle.sync_all()?;
    Ok(file)
}

/// Read the journal in `dir` without opening it for writing (no lock, no repair): for a
/// process other than the writer. A tail on the newest segment is normal (an append may be
/// under way) and not counted.
pub fn read_dir(dir: &Path, since: Since, limit: usize) -> io::Result<Batch> {
    let firsts = list_segments(dir)?;
    read_segments(dir, &firsts, since, limit)
}

/// The last `count` records in `dir` (1..=MAX_READ_RECORDS), oldest first, read like
/// [`read_dir`]: for `status` while the writer is another thread or process.
pub fn read_last(dir: &Path, count: usize) -> io::Result<Batch> {
    let firsts = list_segments(dir)?;
    last_of_segments(dir, &firsts, count)
}

/// Feed every item of the segments to `visit`, oldest first, skipping segments that `skip`
/// says hold nothing wanted; stops when `visit` returns false.
fn visit_segments(
    dir: &Path,
    firsts: &[u64],
    skip: impl Fn(usize) -> bool,
    batch: &mut Batch,
    mut visit: impl FnMut(Record, &mut Batch) -> bool,
) -> io::Result<()> {
    let mut min_seq = 0u64;
    for (index, &first) in firsts.iter().enumerate() {
        if skip(index) {
            continue;
        }
        let path = dir.join(segment_name(first));
        let bytes = match read_segment(&path) {
            Ok(b) => b,
            // Deleted by a rotation since the listing: its records are gone, not an error.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let newest = index + 1 == firsts.len();
        let mut scanner = Scanner::new(&bytes, min_seq.max(first));
        for item in scanner.by_ref() {
            match item {
                Item::Record { record, .. } => {
                    if !visit(record, batch) {
                        return Ok(());
                    }
                }
                Item::Undecodable { .. } => batch.undecodable += 1,
                Item::OutOfOrder { .. } => batch.out_of_order += 1,
                Item::Corrupt { .. } => batch.corrupt_regions += 1,
                Item::Tail { .. } => batch.corrupt_regions += u64::from(!newest),
            }
        }
        min_seq = scanner.min_seq();
    }
    Ok(())
}

fn read_segments(dir: &Path, firsts: &[u64], since: Since, limit: usize) -> io::Result<Batch> {
    assert!((1..=MAX_READ_RECORDS).contains(&limit));
    // Segment i holds sequence numbers in [firsts[i], firsts[i + 1]).
    let skip = |index: usize| match since {
        Since::AfterSeq(seq) => firsts.get(index + 1).is_some_and(|&next| next <= seq.saturating_add(1)),
        Since::All | Since::WallMs(_) => false,
    };
    let mut batch = Batch::default();
    visit_segments(dir, firsts, skip, &mut batch, |record, batch| {
        let wanted = match since {
            Since::All => true,
            Since::AfterSeq(seq) => record.seq > seq,
            Since::WallMs(ms) => record.stamp.wall_ms >= ms,
        };
        if !wanted {
            return true;
        }
        if batch.records.len() == limit {
            batch.more = true;
            return false;
        }
        batch.records.push(record);
        true
    })?;
    Ok(batch)
}

/// The last `count` records: from the newest segment alone when it holds that many (a status
/// request then reads at most one segment, not all eight), else from all of them.
fn last_of_segments(dir: &Path, firsts: &[u64], count: usize) -> io::Result<Batch> {
    assert!((1..=MAX_READ_RECORDS).contains(&count));
    let newest = firsts.len().saturating_sub(1);
    let batch = last_from(dir, firsts, count, newest)?;
    if batch.records.len() == count || newest == 0 {
        let older = newest > 0;
        return Ok(Batch { more: batch.more || older, ..batch });
    }
    last_from(dir, firsts, count, 0)
}

/// The last `count` records of the segments from index `from` on.
fn last_from(dir: &Path, firsts: &[u64], count: usize, from: usize) -> io::Result<Batch> {
    let mut ring: VecDeque<Record> = VecDeque::with_capacity(count);
    let mut batch = Batch::default();
    visit_segments(
        dir,
        firsts,
        |index| index < from,
        &mut batch,
        |record, batch| {
            if ring.len() == count {
                ring.pop_front();
                batch.more = true;
            }
            ring.push_back(record);
            true
        },
    )?;
    batch.records = ring.into();
    Ok(batch)
}

#[cfg(test)]
mod tests;

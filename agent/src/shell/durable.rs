//! The durable writer: one thread that owns the journal and performs the shell's durable
//! state writes (the witness's generation store, maintenance flag and standby nodes, a node's highest
//! generation seen, the SNMP notifier's queue) in the order the poll loop queued them, and hands each result back
//! through a socket the loop polls. The loop never waits for a disk: heartbeats go out and
//! peers are judged while an `fsync` waits for the device.
//!
//! Owns the queue, its bounds and the ordering guarantee: jobs are written one at a time in
//! queue order, so a result means that job and every job queued before it are durable (a
//! generation is never stored ahead of the journal records queued before it). It does not
//! decide what to write or what a result means (the shell and the core do), nor the file
//! formats (`journal`, `shell::authority`).

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use crate::core::authority::witness::Stored;
use crate::journal::{Event, Journal, Kind, Stamp};
use crate::shell::authority;
use crate::snmp::queue_store::{self, StoreImage};
use crate::time::Micros;

/// Bound on jobs queued for the writer and not yet answered.
pub const MAX_DURABLE_QUEUE: usize = 256;
/// Slots kept for state writes: journal records are refused (dropped and counted) once this
/// many fewer than [`MAX_DURABLE_QUEUE`] are waiting, so that a state write finds room.
pub const STATE_WRITE_RESERVE: usize = 16;
/// How long the agent waits at exit for queued jobs to reach the disk (per drain).
pub const DRAIN_WAIT_MS: u64 = 5000;
/// Stack of the writer thread: with `mlockall` every page of it is resident; a journal append
/// or a state file write needs a few KiB.
const DURABLE_THREAD_STACK_BYTES: usize = 128 * 1024;

/// A state file write (each a small file replaced with the full durable discipline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateWrite {
    /// Witness: the generation and its holder, before any frame carries them.
    Stored(Stored),
    /// Node: the highest generation seen, before resources start under it.
    Seen(u64),
    /// Witness: maintenance mode, kept across a restart.
    Maintenance(bool),
    /// Witness: the nodes the operator put in standby (names), kept across a restart.
    Standby(Vec<String>),
    /// The SNMP notifier's pending informs and sequence number, before any of them is sent.
    SnmpQueue(Box<StoreImage>),
}

enum Job {
    Record(Stamp, Event),
    State(StateWrite),
}

/// A finished job, in queue order.
#[derive(Debug)]
pub enum Done {
    /// A journal record with its stamp: its sequence number, or why it was not written.
    Record(Stamp, Event, io::Result<u64>),
    State(StateWrite, io::Result<()>),
}

/// What the writer thread writes to. The agent's is [`Disk`]; tests put a slow or failing
/// storage here to show what the loop does meanwhile.
pub trait Storage: Send + 'static {
    fn append(&mut self, stamp: Stamp, event: &Event) -> io::Result<u64>;
    fn write(&mut self, write: &StateWrite) -> io::Result<()>;
}

/// The agent's storage: the journal (if it could be opened) and the state directory.
pub struct Disk {
    pub state_dir: PathBuf,
    pub journal: Option<Journal>,
}

impl Storage for Disk {
    fn append(&mut self, stamp: Stamp, event: &Event) -> io::Result<u64> {
        match self.journal.as_mut() {
            Some(j) => j.append(stamp, event),
            None => Err(io::Error::other("the journal is not open")),
        }
    }

    fn write(&mut self, write: &StateWrite) -> io::Result<()> {
        match write {
            StateWrite::Stored(s) => authority::write_stored(&self.state_dir, *s),
            StateWrite::Seen(g) => authority::write_seen(&self.state_dir, *g),
            StateWrite::Maintenance(on) => authority::write_maintenance(&self.state_dir, *on),
            StateWrite::Standby(names) => authority::write_standby(&self.state_dir, names),
            StateWrite::SnmpQueue(image) => queue_store::save(&self.state_dir, image),
        }
    }
}

/// The loop's side of the writer.
pub struct DurableWriter {
    wake: UnixStream,
    /// Unbounded in type (the same channel flavour as the relay worker's, so no second one in
    /// the binary); bounded by [`DurableWriter::outstanding`].
    jobs: mpsc::Sender<Job>,
    results: mpsc::Receiver<Done>,
    /// Results taken while waiting for room, handed out by the next `poll`.
    early: Vec<Done>,
    /// Jobs sent since the start, and results received: their difference is what waits (at
    /// most MAX_DURABLE_QUEUE), and a ticket (see [`DurableWriter::ticket`]) is durable once
    /// `finished` reaches it.
    sent: u64,
    finished: u64,
    /// When the writer last made progress: a result arrived, or the queue went from empty to
    /// busy. The watchdog's journal health source while jobs wait.
    progress_at: Micros,
    /// Journal records refused since the last record accepted (queue full).
    dropped: u64,
    /// Whether records are kept at all (the journal opened).
    journaling: bool,
}

impl DurableWriter {
    /// Start the thread on `storage`. `journaling` false: records are not queued (the journal
    /// could not be opened, which was reported once at start).
    pub fn start<S: Storage>(mut storage: S, journaling: bool) -> io::Result<DurableWriter> {
        let (wake, mut wake_writer) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (sender, results) = mpsc::channel();
        crate::shell::sys::spawn_thread(
            "durable",
            DURABLE_THREAD_STACK_BYTES,
            Box::new(move || {
                while let Ok(job) = job_rx.recv() {
                    let done = match job {
                        Job::Record(stamp, event) => {
                            let r = storage.append(stamp, &event);
                            Done::Record(stamp, event, r)
                        }
                        Job::State(w) => {
                            let r = storage.write(&w);
                            Done::State(w, r)
                        }
                    };
                    if sender.send(done).is_err() {
                        return;
                    }
                    let _ = wake_writer.write_all(b"d");
                }
            }),
        )?;
        Ok(DurableWriter {
            wake,
            jobs,
            results,
            early: Vec::new(),
            sent: 0,
            finished: 0,
            progress_at: Micros::ZERO,
            dropped: 0,
            journaling,
        })
    }

    /// The descriptor that becomes readable when results wait.
    pub fn fd(&self) -> &UnixStream {
        &self.wake
    }

    /// Jobs queued and not yet answered.
    pub fn outstanding(&self) -> usize {
        usize::try_from(self.sent - self.finished).expect("at most MAX_DURABLE_QUEUE jobs wait")
    }

    /// A result arrived: the writer made progress.
    fn finished_one(&mut self, now: Micros) {
        assert!(self.finished < self.sent, "a result for every job sent");
        self.finished += 1;
        self.progress_at = now;
    }

    /// A ticket for everything queued so far: [`DurableWriter::is_durable`] says when all of
    /// it is on disk (an operator's command is answered only then).
    pub fn ticket(&self) -> u64 {
        self.sent
    }

    /// Whether every job queued up to `ticket` has finished (written, or failed and reported).
    pub fn is_durable(&self, ticket: u64) -> bool {
        self.finished >= ticket
    }

    /// Journal records dropped since the last one accepted.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn send(&mut self, now: Micros, job: Job, wait_for_room: bool) -> bool {
        if self.outstanding() >= MAX_DURABLE_QUEUE {
            if !wait_for_room {
                return false;
            }
            // The whole queue, reserve included, waits for the disk: wait for one result.
            match self.results.recv() {
                Ok(d) => {
                    self.finished_one(now);
                    self.early.push(d);
                }
                Err(_) => return false,
            }
        }
        if self.jobs.send(job).is_err() {
            return false;
        }
        if self.outstanding() == 0 {
            self.progress_at = now;
        }
        self.sent += 1;
        assert!(self.outstanding() <= MAX_DURABLE_QUEUE, "at most MAX_DURABLE_QUEUE jobs wait");
        true
    }

    /// Queue a journal record; never waits. While `MAX_DURABLE_QUEUE - STATE_WRITE_RESERVE`
    /// jobs wait for the disk the record is dropped and counted; the first record accepted
    /// after that is preceded by one saying how many were dropped.
    pub fn record(&mut self, now: Micros, stamp: Stamp, event: Event) {
        if !self.journaling {
            return;
        }
        let limit = MAX_DURABLE_QUEUE - STATE_WRITE_RESERVE;
        let needed = if self.dropped > 0 { 2 } else { 1 };
        if self.outstanding() + needed > limit {
            if self.dropped == 0 {
                log::error!(
                    "journal: {} writes wait for the disk; records are dropped (and counted) until it catches up",
                    self.outstanding()
                );
            }
            self.dropped += 1;
            return;
        }
        if self.dropped > 0 {
            let notice = Event::new(
                Kind::Agent,
                &format!("{} journal records dropped: the disk did not keep up", self.dropped),
            )
            .with_field("dropped", &self.dropped.to_string());
            if self.send(now, Job::Record(stamp, notice), false) {
                log::warn!("journal: writing again after {} records were dropped", self.dropped);
                self.dropped = 0;
            }
        }
        if !self.send(now, Job::Record(stamp, event), false) {
            self.dropped += 1;
        }
    }

    /// Queue a state write. Never dropped: when the whole queue is full (the reserve used up)
    /// the loop waits for room.
    pub fn state(&mut self, now: Micros, write: StateWrite) -> io::Result<()> {
        if self.send(now, Job::State(write), true) {
            Ok(())
        } else {
            Err(io::Error::other("the durable writer thread has stopped"))
        }
    }

    /// Results that are ready, in queue order (drains the wake socket). The loop calls it when
    /// that socket is readable.
    pub fn poll(&mut self, now: Micros) -> Vec<Done> {
        let mut buf = [0u8; 64];
        while let Ok(n) = self.wake.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let mut out = std::mem::take(&mut self.early);
        while let Ok(d) = self.results.try_recv() {
            self.finished_one(now);
            out.push(d);
        }
        out
    }

    /// The journal health source for the watchdog feed policy: `now` while nothing waits,
    /// else when the writer last made progress (a disk that hangs goes stale).
    pub fn healthy_at(&self, now: Micros) -> Micros {
        if self.outstanding() == 0 {
            now
        } else {
            self.progress_at
        }
    }

    /// Wait up to [`DRAIN_WAIT_MS`] for the queued jobs (at exit). Returns what finished;
    /// jobs still waiting after that are reported by the caller.
    pub fn drain(&mut self) -> Vec<Done> {
        let mut out = std::mem::take(&mut self.early);
        let deadline = std::time::Instant::now() + Duration::from_millis(DRAIN_WAIT_MS);
        while self.outstanding() > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.results.recv_timeout(left) {
                Ok(d) => {
                    self.finished_one(self.progress_at);
                    out.push(d);
                }
                Err(_) => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Condvar, Mutex};

    /// Storage that blocks while its gate is closed, and records what it wrote.
    #[derive(Clone, Default)]
    struct Gated {
        state: Arc<(Mutex<(bool, Vec<String>)>, Condvar)>,
    }

    impl Gated {
        fn closed() -> Gated {
            let g = Gated::default();
            g.state.0.lock().unwrap().0 = true;
            g
        }
        fn open(&self) {
            self.state.0.lock().unwrap().0 = false;
            self.state.1.notify_all();
        }
        fn wait_open(&self) {
            let (lock, cv) = &*self.state;
            let mut s = lock.lock().unwrap();
            while s.0 {
                s = cv.wait(s).unwrap();
            }
        }
        fn written(&self) -> Vec<String> {
            self.state.0.lock().unwrap().1.clone()
        }
    }

    impl Storage for Gated {
        fn append(&mut self, _stamp: Stamp, event: &Event) -> io::Result<u64> {
            self.wait_open();
            let mut s = self.state.0.lock().unwrap();
            s.1.push(event.to_string());
            if event.to_string().contains("fail") {
                return Err(io::Error::other("device error"));
            }
            Ok(s.1.len() as u64)
        }
        fn write(&mut self, write: &StateWrite) -> io::Result<()> {
            self.wait_open();
            self.state.0.lock().unwrap().1.push(format!("{write:?}"));
            Ok(())
        }
    }

    fn event(text: &str) -> Event {
        Event::new(Kind::Link, text)
    }

    fn wait_results(w: &mut DurableWriter, n: usize) -> Vec<Done> {
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while out.len() < n {
            assert!(std::time::Instant::now() < deadline, "results did not arrive");
            out.extend(w.poll(Micros::from_ms(9)));
            std::thread::sleep(Duration::from_millis(1));
        }
        out
    }

    #[test]
    fn results_come_back_in_queue_order_and_state_follows_records() {
        let storage = Gated::default();
        let mut w = DurableWriter::start(storage.clone(), true).unwrap();
        let now = Micros::from_ms(1);
        w.record(now, Stamp::default(), event("first"));
        w.state(now, StateWrite::Stored(Stored::announced(7, 1))).unwrap();
        w.record(now, Stamp::default(), event("second"));
        let done = wait_results(&mut w, 3);
        assert!(matches!(&done[0], Done::Record(_, e, Ok(1)) if e.to_string().contains("first")));
        assert!(matches!(&done[1], Done::State(StateWrite::Stored(s), Ok(())) if s.generation == 7));
        assert!(matches!(&done[2], Done::Record(_, e, Ok(3)) if e.to_string().contains("second")));
        assert!(w.is_durable(w.ticket()));
        assert_eq!(w.outstanding(), 0);
        let written = storage.written();
        assert!(
            written[0].contains("first")
                && written[1].contains("generation: 7")
                && written[2].contains("second")
        );
    }

    #[test]
    fn a_stuck_disk_never_blocks_the_loop_and_drops_are_counted_then_journaled() {
        let storage = Gated::closed();
        let mut w = DurableWriter::start(storage.clone(), true).unwrap();
        let start = std::time::Instant::now();
        let t0 = Micros::from_ms(100);
        // Far more records than the queue holds: every call returns at once.
        for i in 0..(MAX_DURABLE_QUEUE * 2) {
            w.record(t0, Stamp::default(), event(&format!("record {i}")));
        }
        // State writes still find room while records are refused.
        w.state(t0, StateWrite::Seen(3)).unwrap();
        let ticket = w.ticket();
        assert!(!w.is_durable(ticket));
        assert!(start.elapsed() < Duration::from_secs(5), "queueing must not wait for the disk");
        let accepted = MAX_DURABLE_QUEUE - STATE_WRITE_RESERVE;
        assert_eq!(w.outstanding(), accepted + 1);
        assert_eq!(w.dropped(), (MAX_DURABLE_QUEUE * 2 - accepted) as u64);
        // The health source goes stale while nothing finishes.
        assert_eq!(w.healthy_at(Micros::from_ms(5000)), t0);
        storage.open();
        let done = wait_results(&mut w, accepted + 1);
        assert!(done.iter().all(|d| matches!(d, Done::Record(_, _, Ok(_)) | Done::State(_, Ok(())))));
        assert!(matches!(done.last(), Some(Done::State(StateWrite::Seen(3), Ok(())))));
        assert!(w.is_durable(ticket));
        assert_eq!(w.healthy_at(Micros::from_ms(6000)), Micros::from_ms(6000));
        // The next record is preceded by the count of those dropped.
        w.record(t0, Stamp::default(), event("after"));
        let done = wait_results(&mut w, 2);
        let dropped = (MAX_DURABLE_QUEUE * 2 - accepted) as u64;
        assert!(
            matches!(&done[0], Done::Record(_, e, Ok(_)) if e.to_string().contains(&format!("{dropped} journal records dropped"))),
            "{done:?}"
        );
        assert!(matches!(&done[1], Done::Record(_, e, Ok(_)) if e.to_string().contains("after")));
        assert_eq!(w.dropped(), 0);
    }

    #[test]
    fn errors_come_back_with_the_event_and_drain_waits_for_the_queue() {
        let storage = Gated::closed();
        let mut w = DurableWriter::start(storage.clone(), true).unwrap();
        let now = Micros::from_ms(1);
        w.record(now, Stamp::default(), event("this one fails"));
        w.record(now, Stamp::default(), event("stopping"));
        storage.open();
        let done = w.drain();
        assert_eq!(done.len(), 2);
        assert!(matches!(&done[0], Done::Record(_, e, Err(_)) if e.to_string().contains("fails")));
        assert!(matches!(&done[1], Done::Record(_, _, Ok(_))));
        assert_eq!(w.outstanding(), 0);
        assert!(w.is_durable(w.ticket()));
    }

    #[test]
    fn a_state_write_on_a_full_queue_waits_for_room_and_loses_nothing() {
        let storage = Gated::closed();
        let mut w = DurableWriter::start(storage.clone(), true).unwrap();
        let now = Micros::from_ms(1);
        for i in 0..MAX_DURABLE_QUEUE {
            w.record(now, Stamp::default(), event(&format!("record {i}")));
        }
        for g in 0..STATE_WRITE_RESERVE as u64 {
            w.state(now, StateWrite::Seen(g)).unwrap();
        }
        assert_eq!(w.outstanding(), MAX_DURABLE_QUEUE);
        let opener = storage.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            opener.open();
        });
        w.state(now, StateWrite::Seen(99)).unwrap();
        t.join().unwrap();
        assert!(w.outstanding() <= MAX_DURABLE_QUEUE);
        let done = wait_results(&mut w, MAX_DURABLE_QUEUE + 1);
        assert!(matches!(done.last(), Some(Done::State(StateWrite::Seen(99), Ok(())))));
        assert_eq!(w.outstanding(), 0);
    }

    #[test]
    fn without_a_journal_records_are_not_queued() {
        let mut w = DurableWriter::start(Gated::default(), false).unwrap();
        w.record(Micros::from_ms(1), Stamp::default(), event("x"));
        assert_eq!(w.outstanding(), 0);
        assert_eq!(w.dropped(), 0);
    }
}

//! The agent's logger for the `log` facade: one line per record, with the monotonic time since
//! start and the member name, written to stderr by a writer thread so that a log call never
//! waits for the log's reader.
//!
//! Where stderr leads is the supervisor's choice: on the appliance a pipe to `logger` and
//! syslogd, in the tests a file on a loaded disk, elsewhere perhaps a serial console at 115200
//! baud. Any of them can stand still for hundreds of milliseconds (a full pipe, a file write
//! throttled behind the disk's writeback, a console draining a burst). A log call in the poll
//! loop that waited for it would stop the heartbeats, and peers would fence a healthy member
//! for it; worse, the lines that make it wait come when something already looks wrong (a link
//! warning). So a record is formatted into a line of at most [`MAX_LOG_LINE_BYTES`] (longer
//! ones are cut, and say so) and queued in a ring of [`MAX_QUEUED_LINES`] that lives in static
//! memory (no allocation per line). While the ring is full, new lines are dropped and counted;
//! the count is written as a line of its own where the gap is, once the output moves again.
//!
//! Owns formatting, the queue, its bounds and the writer thread. The level comes from the
//! environment variable `HA_AGENT_LOG` (error, warn, info, debug, trace; default info). Under
//! systemd (`JOURNAL_STREAM` set: stderr is the journal's stream) every line starts with its
//! syslog severity, `<3>` error, `<4>` warn, `<6>` info, `<7>` debug and trace, which journald
//! takes as the record's priority (`journalctl -p warning` works); elsewhere lines carry none.
//! [`flush`] waits (bounded) for the queue to drain; the agent calls it before it exits, so the
//! last lines before an exit are not lost. (A failed assertion aborts at once: the size build
//! uses `panic=immediate-abort`, which runs no panic hook, so queued lines are lost then.)
//!
//! With `[syslog]` in the configuration, each line also leaves the box at once as a syslog
//! datagram with its severity ([`remote`]; a send never waits either).

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Longest line written, newline included; longer records are cut at a character boundary and
/// end with [`CUT_MARK`].
pub const MAX_LOG_LINE_BYTES: usize = 384;
/// Lines queued for the writer and not yet written; the ring takes
/// `MAX_QUEUED_LINES * MAX_LOG_LINE_BYTES` (48 KiB) of static memory.
pub const MAX_QUEUED_LINES: usize = 128;
/// How long [`flush`] waits for the queue to drain at exit.
pub const FLUSH_WAIT_MS: u64 = 2000;
/// How often [`flush`] looks whether the queue has drained.
const FLUSH_POLL_MS: u64 = 2;
/// Stack of the writer thread: it formats nothing, it only copies lines out and writes them.
const WRITER_STACK_BYTES: usize = 32 * 1024;
/// Ends a line that was longer than [`MAX_LOG_LINE_BYTES`].
pub const CUT_MARK: &str = " [cut]";

/// One formatted line, newline included.
pub type Line = heapless::String<MAX_LOG_LINE_BYTES>;

pub mod remote;

/// Format one line; cut (at a character boundary, with [`CUT_MARK`]) when it would not fit.
pub fn format_line(
    secs: u64,
    millis: u32,
    member: &str,
    level: log::Level,
    args: &std::fmt::Arguments<'_>,
) -> Line {
    format_line_for(secs, millis, member, level, args, false)
}

/// The syslog severity of a log level (RFC 5424: 3 error, 4 warning, 6 informational, 7 debug).
pub fn syslog_severity(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// [`format_line`], with the `<N>` severity prefix journald reads when `syslog_prefix`.
pub fn format_line_for(
    secs: u64,
    millis: u32,
    member: &str,
    level: log::Level,
    args: &std::fmt::Arguments<'_>,
    syslog_prefix: bool,
) -> Line {
    struct Fill {
        line: Line,
        cut: bool,
    }
    impl std::fmt::Write for Fill {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            // Room is kept for the newline.
            let room = MAX_LOG_LINE_BYTES.saturating_sub(1 + self.line.len());
            let mut end = s.len().min(room);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            if end < s.len() {
                self.cut = true;
            }
            let _ = self.line.push_str(&s[..end]);
            Ok(())
        }
    }
    let mut fill = Fill { line: Line::new(), cut: false };
    if syslog_prefix {
        let _ = write!(fill, "<{}>", syslog_severity(level));
    }
    let _ = write!(fill, "{secs:>6}.{millis:03} {member} {level:<5} {args}");
    if fill.cut {
        while fill.line.len() > MAX_LOG_LINE_BYTES - 1 - CUT_MARK.len() {
            fill.line.pop();
        }
        let _ = fill.line.push_str(CUT_MARK);
    }
    let _ = fill.line.push('\n');
    assert!(fill.line.len() <= MAX_LOG_LINE_BYTES && fill.line.ends_with('\n'));
    fill.line
}

struct Ring {
    lines: heapless::Deque<Line, MAX_QUEUED_LINES>,
    /// Lines dropped since the last notice (the ring was full).
    dropped: u64,
    /// Lines dropped since start (for status).
    dropped_total: u64,
    /// The writer holds a line it has not finished writing.
    writing: bool,
}

/// The bounded queue between log calls and the writer thread.
pub struct LineQueue {
    ring: Mutex<Ring>,
    /// Signalled when a line (or a drop count) waits.
    waiting: Condvar,
}

impl Default for LineQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl LineQueue {
    pub const fn new() -> LineQueue {
        LineQueue {
            ring: Mutex::new(Ring {
                lines: heapless::Deque::new(),
                dropped: 0,
                dropped_total: 0,
                writing: false,
            }),
            waiting: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queue a line; never waits for the writer. Returns false when the line was dropped.
    pub fn push(&self, line: Line) -> bool {
        let mut ring = self.lock();
        let free = MAX_QUEUED_LINES - ring.lines.len();
        // After a gap the notice goes first, so it stands where the lines are missing.
        let needed = if ring.dropped > 0 { 2 } else { 1 };
        if free < needed {
            ring.dropped += 1;
            ring.dropped_total += 1;
            return false;
        }
        if ring.dropped > 0 {
            let notice = take_notice(&mut ring);
            let _ = ring.lines.push_back(notice);
        }
        let _ = ring.lines.push_back(line);
        drop(ring);
        self.waiting.notify_one();
        true
    }

    /// Wait for the next line (or a drop notice, when the ring ran dry after a gap), write it
    /// to `sink` with one write call, and return. The writer thread calls this forever.
    pub fn write_next(&self, sink: &mut dyn Write) {
        let line = {
            let mut ring = self.lock();
            let line = loop {
                if let Some(line) = ring.lines.pop_front() {
                    break line;
                }
                if ring.dropped > 0 {
                    break take_notice(&mut ring);
                }
                ring = self.waiting.wait(ring).unwrap_or_else(|poisoned| poisoned.into_inner());
            };
            ring.writing = true;
            line
        };
        // One write per line, so that lines from a supervisor's pipe do not interleave; a
        // failed write (a closed pipe) loses that line only.
        let _ = sink.write_all(line.as_bytes());
        self.lock().writing = false;
    }

    /// Lines waiting now, and lines dropped since start.
    pub fn figures(&self) -> (usize, u64) {
        let ring = self.lock();
        (ring.lines.len(), ring.dropped_total)
    }

    /// Wait until every queued line is written, at most `wait`; false if it did not drain.
    /// It polls: it runs once, at exit.
    pub fn flush(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let ring = self.lock();
            if ring.lines.is_empty() && ring.dropped == 0 && !ring.writing {
                return true;
            }
            drop(ring);
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(FLUSH_POLL_MS));
        }
    }
}

/// The line that stands for the lines dropped since the last notice; resets their count.
fn take_notice(ring: &mut Ring) -> Line {
    let mut line = Line::new();
    let _ = writeln!(line, "(ha-agent: {} log lines dropped: the log output stood still)", ring.dropped);
    ring.dropped = 0;
    line
}

struct Logger {
    origin: Instant,
    member: String,
    /// stderr is connected to the systemd journal: lines start with `<N>`.
    syslog_prefix: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();
static QUEUE: LineQueue = LineQueue::new();
/// The remote syslog collector, when `[syslog]` names one.
static REMOTE: OnceLock<remote::Remote> = OnceLock::new();

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }
    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let t = self.origin.elapsed();
        let line = format_line_for(
            t.as_secs(),
            t.subsec_millis(),
            &self.member,
            record.level(),
            record.args(),
            self.syslog_prefix,
        );
        QUEUE.push(line);
        if let Some(remote) = REMOTE.get() {
            remote.send(wall_ms(), record.level(), record.args());
        }
    }
    fn flush(&self) {
        flush();
    }
}

/// Install the logger (once; later calls only keep the first member name). Lines queue until
/// [`start_writer`] starts writing them.
pub fn init(member: &str) {
    let level = match std::env::var("HA_AGENT_LOG").as_deref() {
        Ok("error") => log::LevelFilter::Error,
        Ok("warn") => log::LevelFilter::Warn,
        Ok("debug") => log::LevelFilter::Debug,
        Ok("trace") => log::LevelFilter::Trace,
        _ => log::LevelFilter::Info,
    };
    let syslog_prefix = std::env::var_os("JOURNAL_STREAM").is_some_and(|v| !v.is_empty());
    let logger =
        LOGGER.get_or_init(|| Logger { origin: Instant::now(), member: member.to_string(), syslog_prefix });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// Start the writer thread (once). The shell calls this once the process has its real-time
/// priority: the thread inherits it, so the loop never waits on the queue's lock for a writer
/// that the load keeps off the CPU.
pub fn start_writer() -> std::io::Result<()> {
    static STARTED: OnceLock<()> = OnceLock::new();
    if STARTED.set(()).is_err() {
        return Ok(());
    }
    crate::shell::sys::spawn_thread(
        "log",
        WRITER_STACK_BYTES,
        Box::new(|| {
            let mut stderr = std::io::stderr();
            loop {
                QUEUE.write_next(&mut stderr);
            }
        }),
    )
}

/// Send every line from now on to `config`'s collector as well (once; later calls change
/// nothing). A socket that cannot be opened is logged, and the log stays on the box: the
/// agent runs without its collector rather than not at all.
pub fn start_remote(config: Option<&crate::config::syslog::SyslogConfig>, member: &str) {
    let Some(config) = config else { return };
    if REMOTE.get().is_some() {
        return;
    }
    match remote::Remote::open(config, member) {
        Ok(remote) => {
            let target = remote.target();
            if REMOTE.set(remote).is_ok() {
                log::info!(
                    "log lines also go to the syslog collector {target} ({:?}, facility {:?})",
                    config.format,
                    config.facility
                );
            }
        }
        Err(e) => log::error!("remote syslog {}: {e}; the log stays on this machine", config.target),
    }
}

/// Datagrams sent to the syslog collector and dropped since start; None without one.
pub fn remote_figures() -> Option<(u64, u64)> {
    REMOTE.get().map(remote::Remote::figures)
}

/// The agent's log queue for status: lines waiting for the writer, lines dropped since start.
pub fn figures() -> (usize, u64) {
    QUEUE.figures()
}

/// Wait (at most [`FLUSH_WAIT_MS`]) until the queued lines are written.
pub fn flush() {
    QUEUE.flush(Duration::from_millis(FLUSH_WAIT_MS));
}

#[cfg(test)]
mod tests;

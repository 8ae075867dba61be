//! The log queue against sinks that stand still: a log call never waits, lines keep their
//! order, and every gap is reported where it is.

use super::*;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

/// A sink that records each write call, and can be closed like a full pipe: a write waits
/// until the test opens it.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    closed: bool,
    /// Writes started (including one waiting at the closed gate).
    entered: usize,
    writes: Vec<String>,
}

impl Gate {
    fn set_closed(&self, closed: bool) {
        self.state.lock().unwrap().closed = closed;
        self.changed.notify_all();
    }
    fn wait_entered(&self, n: usize) {
        let mut s = self.state.lock().unwrap();
        while s.entered < n {
            s = self.changed.wait(s).unwrap();
        }
    }
    fn writes(&self) -> Vec<String> {
        self.state.lock().unwrap().writes.clone()
    }
}

struct GateSink(Arc<Gate>);

impl Write for GateSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut s = self.0.state.lock().unwrap();
        s.entered += 1;
        self.0.changed.notify_all();
        while s.closed {
            s = self.0.changed.wait(s).unwrap();
        }
        s.writes.push(String::from_utf8(buf.to_vec()).unwrap());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn line(text: &str) -> Line {
    format_line(1, 2, "node-a", log::Level::Info, &format_args!("{text}"))
}

/// A queue with its own writer thread writing into a gate (the thread stays blocked in the
/// queue when the test ends).
fn queue_with_writer() -> (&'static LineQueue, Arc<Gate>) {
    let queue: &'static LineQueue = Box::leak(Box::new(LineQueue::new()));
    let gate = Arc::new(Gate::default());
    let mut sink = GateSink(gate.clone());
    thread::spawn(move || loop {
        queue.write_next(&mut sink);
    });
    (queue, gate)
}

#[test]
fn lines_are_formatted_with_time_member_and_level() {
    assert_eq!(line("link 1 up").as_str(), "     1.002 node-a INFO  link 1 up\n");
}

#[test]
fn a_long_record_is_cut_at_a_character_boundary_and_says_so() {
    let long = "é".repeat(MAX_LOG_LINE_BYTES);
    let l = line(&long);
    assert!(l.len() <= MAX_LOG_LINE_BYTES, "{} bytes", l.len());
    assert!(l.ends_with(" [cut]\n"), "{l:?}");
    assert!(l.contains("éé"));
    // Exactly at the limit nothing is cut.
    let prefix = line("").len() - 1;
    let fits = "x".repeat(MAX_LOG_LINE_BYTES - prefix - 1);
    let l = line(&fits);
    assert_eq!(l.len(), MAX_LOG_LINE_BYTES);
    assert!(!l.contains("[cut]"));
}

#[test]
fn lines_are_written_in_order_one_write_each() {
    let (queue, gate) = queue_with_writer();
    for i in 0..10 {
        assert!(queue.push(line(&format!("line {i}"))));
    }
    assert!(queue.flush(Duration::from_secs(10)));
    let writes = gate.writes();
    assert_eq!(writes.len(), 10);
    for (i, w) in writes.iter().enumerate() {
        assert!(w.ends_with(&format!("line {i}\n")), "{w:?}");
    }
}

#[test]
fn a_stalled_output_never_blocks_a_log_call_and_the_gap_is_reported() {
    let (queue, gate) = queue_with_writer();
    gate.set_closed(true);
    assert!(queue.push(line("first")));
    // The writer now waits at the closed gate with "first"; the ring is empty again.
    gate.wait_entered(1);
    let extra = 25;
    let mut accepted = 0;
    for i in 0..MAX_QUEUED_LINES + extra {
        // Each call returns at once although nothing can be written.
        if queue.push(line(&format!("queued {i}"))) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, MAX_QUEUED_LINES);
    assert!(!queue.flush(Duration::from_millis(50)), "a stalled output cannot drain");
    gate.set_closed(false);
    assert!(queue.flush(Duration::from_secs(10)));
    assert!(queue.push(line("after")));
    assert!(queue.flush(Duration::from_secs(10)));
    let writes = gate.writes();
    assert_eq!(writes.len(), 1 + MAX_QUEUED_LINES + 1 + 1, "{writes:#?}");
    assert!(writes[0].ends_with("first\n"));
    for i in 0..MAX_QUEUED_LINES {
        assert!(writes[1 + i].ends_with(&format!("queued {i}\n")), "{:?}", writes[1 + i]);
    }
    assert_eq!(
        writes[1 + MAX_QUEUED_LINES],
        format!("(ha-agent: {extra} log lines dropped: the log output stood still)\n")
    );
    assert!(writes[2 + MAX_QUEUED_LINES].ends_with("after\n"));
}

#[test]
fn after_a_gap_the_notice_stands_before_the_next_line() {
    let queue = LineQueue::new();
    for i in 0..MAX_QUEUED_LINES {
        assert!(queue.push(line(&format!("queued {i}"))));
    }
    assert!(!queue.push(line("dropped 1")));
    assert!(!queue.push(line("dropped 2")));
    let (tx, rx) = std::sync::mpsc::channel();
    struct Collect(std::sync::mpsc::Sender<String>);
    impl Write for Collect {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.send(String::from_utf8(buf.to_vec()).unwrap()).unwrap();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut sink = Collect(tx);
    // One line written frees one slot: not enough for the notice and a line.
    queue.write_next(&mut sink);
    assert!(!queue.push(line("dropped 3")));
    queue.write_next(&mut sink);
    assert!(queue.push(line("next")));
    for _ in 0..MAX_QUEUED_LINES {
        queue.write_next(&mut sink);
    }
    let writes: Vec<String> = rx.try_iter().collect();
    assert_eq!(writes.len(), MAX_QUEUED_LINES + 2);
    assert_eq!(writes[MAX_QUEUED_LINES], "(ha-agent: 3 log lines dropped: the log output stood still)\n");
    assert!(writes[MAX_QUEUED_LINES + 1].ends_with("next\n"));
    assert!(queue.flush(Duration::from_millis(1)));
}

#[test]
fn journal_stream_lines_carry_their_syslog_severity() {
    let line = format_line_for(1, 2, "node-a", log::Level::Warn, &format_args!("link 1 down"), true);
    assert!(line.starts_with("<4>     1.002 node-a WARN  link 1 down"), "{line:?}");
    for (level, n) in [
        (log::Level::Error, "<3>"),
        (log::Level::Info, "<6>"),
        (log::Level::Debug, "<7>"),
        (log::Level::Trace, "<7>"),
    ] {
        assert!(format_line_for(0, 0, "w", level, &format_args!("x"), true).starts_with(n));
    }
    // Without the journal, no prefix.
    assert!(format_line(1, 2, "node-a", log::Level::Warn, &format_args!("x")).starts_with("     1.002"));
    // A cut line keeps its prefix and its bound.
    let long = "y".repeat(2 * MAX_LOG_LINE_BYTES);
    let cut = format_line_for(0, 0, "w", log::Level::Error, &format_args!("{long}"), true);
    assert!(cut.starts_with("<3>") && cut.len() <= MAX_LOG_LINE_BYTES && cut.ends_with("[cut]\n"));
}

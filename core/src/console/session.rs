//! The console session: one controller CLI on one serial line, as a sans-I/O state machine.
//!
//! Owns waking the console, logging in (by command or at a `Password:` prompt), recognising
//! the prompt, running the dialect's poll commands on a schedule, collecting each command's
//! output until the dialect's end-of-output marker (or a timeout), and turning a complete
//! cycle into an [`ArrayModel`] snapshot. On the way it strips VT100/ANSI escape sequences,
//! drops the echo of what it sent, takes unsolicited event lines out of the output (they are
//! reported and trigger an early poll), assembles partial lines across reads, restarts after a
//! reboot banner, and measures the ratio of garbage bytes: a wrong baud rate is reported and
//! its bytes are never parsed as data. Every buffer and queue has a named bound.
//!
//! It does not own the port (`serial` does), read a clock, or decide what a change of the
//! array means (`core::array` does).
//!
//! Call order for the shell: `handle_bytes(now, ..)` for what arrived, `handle_timeout(now)`,
//! then drain `poll_transmit()`, `poll_event()` and `poll_snapshot()`, and sleep until
//! `poll_timeout()` or the next bytes.

#![forbid(unsafe_code)]

use heapless::Deque;

use super::model::{ArrayModel, Name};
use super::{Dialect, Marker};
use crate::time::Micros;

/// Bound on one line; the rest of a longer line is dropped (and counted).
pub const MAX_LINE_BYTES: usize = 256;
/// Bound on the lines of one command's output; more are dropped (and counted).
pub const MAX_OUTPUT_LINES: usize = 512;
/// Bound on one transmitted command, terminator included.
pub const MAX_TX_BYTES: usize = 128;
/// Bound on transmits waiting for the shell (the session sends one thing at a time).
pub const MAX_TX_QUEUE: usize = 4;
/// Bound on session events waiting for the shell; the oldest is dropped (and counted).
pub const MAX_EVENTS: usize = 32;
/// Bound on the commands of one dialect's cycle.
pub const MAX_COMMANDS: usize = 8;
/// Consecutive failed cycles (or wake attempts) after which the console counts as lost.
pub const MAX_FAILED_CYCLES: u32 = 2;
/// Bytes over which the garbage ratio is measured.
pub const GARBAGE_WINDOW_BYTES: u32 = 128;
/// A window (or a command's output) with at least this share of garbage means a wrong baud
/// rate (a right one gives clean ASCII; line noise alone stays far below).
pub const GARBAGE_PERCENT_MAX: u32 = 25;
/// A command's output needs at least this many garbage bytes to be judged garbage by itself.
pub const GARBAGE_MIN_BYTES: u32 = 8;
/// Bound on the length of an escape sequence; a longer one ends (and is dropped) there.
pub const MAX_ESCAPE_BYTES: u8 = 32;

/// A bounded line of console text.
pub type Line = heapless::String<MAX_LINE_BYTES>;
/// Bytes for the port.
pub type TxBytes = heapless::Vec<u8, MAX_TX_BYTES>;

#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub poll_interval_ms: u64,
    pub command_timeout_ms: u64,
    /// The console password (read from `password_file` by the shell), if the console has one.
    pub password: Option<String>,
}

/// Why a cycle produced no snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailReason {
    /// No prompt or no end-of-output marker within `command_timeout_ms`.
    Timeout,
    /// The output was garbage (wrong baud rate); it was not parsed.
    Garbage,
    /// The controller asked for a password and none is configured, or it refused ours.
    Login,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LostReason {
    NoAnswer,
    WrongBaud,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// A line the controller printed on its own (its event log); an early poll follows.
    Unsolicited(Line),
    /// A reboot banner: the session logs in again.
    ControllerRebooted,
    /// The garbage ratio says the line runs at another baud rate.
    WrongBaud {
        garbage_percent: u32,
    },
    BaudRecovered,
    /// [`MAX_FAILED_CYCLES`] cycles in a row failed.
    Lost(LostReason),
    CycleFailed(FailReason),
    /// A command ended with a failure marker (its output was still parsed).
    CommandFailed {
        command: &'static str,
    },
    /// The console wants a password and none is configured.
    LoginRequired,
    LoginFailed,
    /// First report of unknown lines in a command's output (once per command per session).
    UnknownLines {
        command: &'static str,
        count: u32,
        first: Name,
    },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounters {
    pub bytes_in: u64,
    pub garbage_bytes: u64,
    pub lines: u64,
    pub truncated_lines: u64,
    pub dropped_lines: u64,
    pub unknown_lines: u64,
    pub unsolicited: u64,
    pub reboots: u64,
    pub failed_cycles: u64,
    pub snapshots: u64,
    pub events_dropped: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Sent a wake (`\r`), waiting for the prompt or a password prompt.
    Waking { deadline: Micros },
    /// Answered a `Password:` prompt, waiting for the prompt.
    PasswordSent { deadline: Micros },
    /// Sent the dialect's login command, waiting for its end marker.
    LoginCommand { deadline: Micros },
    /// At the prompt, waiting for the next poll.
    Idle { next_poll_at: Micros },
    /// Sent command `index`, collecting its output.
    Command { index: usize, deadline: Micros },
    /// Command `next - 1` ended, waiting for the prompt before sending command `next`.
    AwaitPrompt { next: usize, deadline: Micros },
    /// A cycle failed fast (login, garbage): wake the console again at `at`, not at once.
    Retry { at: Micros },
}

/// Removes escape sequences: `ESC [ params final`, `ESC ( x` / `ESC ) x` / `ESC # x`, and
/// two-byte `ESC x`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    Start,
    Csi(u8),
    Designate,
}

impl Escape {
    /// Whether `b` belongs to an escape sequence (and is consumed by it).
    fn consume(&mut self, b: u8) -> bool {
        match *self {
            Escape::None => {
                if b == 0x1b {
                    *self = Escape::Start;
                    return true;
                }
                false
            }
            Escape::Start => {
                *self = match b {
                    b'[' => Escape::Csi(0),
                    b'(' | b')' | b'#' => Escape::Designate,
                    _ => Escape::None,
                };
                true
            }
            Escape::Csi(n) => {
                *self = if (0x40..=0x7e).contains(&b) || n >= MAX_ESCAPE_BYTES {
                    Escape::None
                } else {
                    Escape::Csi(n + 1)
                };
                true
            }
            Escape::Designate => {
                *self = Escape::None;
                true
            }
        }
    }
}

/// Bytes that are neither text nor line control: what a wrong baud rate produces.
fn is_garbage(b: u8) -> bool {
    !matches!(b, b'\n' | b'\r' | b'\t' | 0x00 | 0x07 | 0x08 | 0x20..=0x7e)
}

/// `text` without escape sequences and garbage bytes (the session's byte filter, for parsing
/// transcripts).
pub fn strip_escapes(text: &str) -> String {
    let mut escape = Escape::None;
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if escape.consume(b) || is_garbage(b) || matches!(b, 0x00 | 0x07 | 0x08) {
            continue;
        }
        out.push(char::from(b));
    }
    out
}

pub struct Session {
    dialect: &'static dyn Dialect,
    options: SessionOptions,
    phase: Phase,
    logged_in: bool,
    relogin: bool,
    escape: Escape,
    partial: Line,
    partial_truncated: bool,
    /// What we sent last (command or password), to recognise its echo.
    last_sent: Line,
    output: Vec<Line>,
    cycle_model: ArrayModel,
    cycle_started_at: Micros,
    cycle_tainted: bool,
    command_bytes: u32,
    command_garbage: u32,
    window_bytes: u32,
    window_garbage: u32,
    wrong_baud: bool,
    failed_cycles: u32,
    lost: bool,
    poll_soon: bool,
    unknown_reported: [bool; MAX_COMMANDS],
    last_answer_at: Option<Micros>,
    tx: Deque<TxBytes, MAX_TX_QUEUE>,
    events: Deque<SessionEvent, MAX_EVENTS>,
    snapshot: Option<ArrayModel>,
    counters: SessionCounters,
}

impl Session {
    /// A session that starts by waking the console at `now`.
    pub fn new(dialect: &'static dyn Dialect, options: SessionOptions, now: Micros) -> Session {
        assert!(options.poll_interval_ms > 0 && options.command_timeout_ms > 0);
        assert!(dialect.commands().len() <= MAX_COMMANDS && !dialect.commands().is_empty());
        let mut s = Session {
            dialect,
            options,
            phase: Phase::Idle { next_poll_at: now },
            logged_in: false,
            relogin: false,
            escape: Escape::None,
            partial: Line::new(),
            partial_truncated: false,
            last_sent: Line::new(),
            output: Vec::new(),
            cycle_model: ArrayModel::default(),
            cycle_started_at: now,
            cycle_tainted: false,
            command_bytes: 0,
            command_garbage: 0,
            window_bytes: 0,
            window_garbage: 0,
            wrong_baud: false,
            failed_cycles: 0,
            lost: false,
            poll_soon: false,
            unknown_reported: [false; MAX_COMMANDS],
            last_answer_at: None,
            tx: Deque::new(),
            events: Deque::new(),
            snapshot: None,
            counters: SessionCounters::default(),
        };
        s.wake(now);
        s
    }

    // ---- getters -------------------------------------------------------------------------

    pub fn dialect(&self) -> &'static dyn Dialect {
        self.dialect
    }
    /// At the prompt between cycles (no command outstanding).
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Idle { .. })
    }
    pub fn is_lost(&self) -> bool {
        self.lost
    }
    pub fn wrong_baud(&self) -> bool {
        self.wrong_baud
    }
    /// When the console last completed a command (end-of-output marker seen).
    pub fn last_answer_at(&self) -> Option<Micros> {
        self.last_answer_at
    }
    pub fn counters(&self) -> SessionCounters {
        self.counters
    }
    pub fn options(&self) -> &SessionOptions {
        &self.options
    }

    // ---- output --------------------------------------------------------------------------

    pub fn poll_transmit(&mut self) -> Option<TxBytes> {
        self.tx.pop_front()
    }
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }
    /// The model read by the latest complete cycle, once.
    pub fn poll_snapshot(&mut self) -> Option<ArrayModel> {
        self.snapshot.take()
    }
    /// The next deadline at which [`Session::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Micros {
        match self.phase {
            Phase::Waking { deadline }
            | Phase::PasswordSent { deadline }
            | Phase::LoginCommand { deadline }
            | Phase::Command { deadline, .. }
            | Phase::AwaitPrompt { deadline, .. } => deadline,
            Phase::Idle { next_poll_at } => next_poll_at,
            Phase::Retry { at } => at,
        }
    }

    // ---- input ---------------------------------------------------------------------------

    /// Bytes from the port. Bounded work: constant per byte, plus one parse per completed
    /// command.
    pub fn handle_bytes(&mut self, now: Micros, bytes: &[u8]) {
        for &b in bytes {
            self.counters.bytes_in += 1;
            if self.escape.consume(b) {
                continue;
            }
            let garbage = is_garbage(b);
            self.count(garbage);
            match b {
                _ if garbage => {}
                b'\n' => self.end_line(now),
                b'\r' | 0x00 | 0x07 => {}
                0x08 => {
                    self.partial.pop();
                }
                b'\t' => self.push_partial(' '),
                _ => self.push_partial(char::from(b)),
            }
        }
        self.check_partial(now);
    }

    pub fn handle_timeout(&mut self, now: Micros) {
        match self.phase {
            Phase::Idle { next_poll_at } => {
                if now >= next_poll_at {
                    self.start_cycle(now);
                }
            }
            Phase::Retry { at } => {
                if now >= at {
                    self.wake(now);
                }
            }
            _ => {
                if now >= self.poll_timeout() {
                    self.fail_cycle(now, FailReason::Timeout);
                }
            }
        }
    }

    // ---- internals -----------------------------------------------------------------------

    fn push_event(&mut self, event: SessionEvent) {
        if self.events.is_full() {
            self.events.pop_front();
            self.counters.events_dropped += 1;
        }
        assert!(self.events.push_back(event).is_ok());
    }

    fn push_partial(&mut self, c: char) {
        if self.partial.push(c).is_err() {
            self.partial_truncated = true;
        }
    }

    fn send(&mut self, text: &str, remember_echo: bool) {
        let mut bytes = TxBytes::new();
        let fits = bytes.extend_from_slice(text.as_bytes()).is_ok() && bytes.push(b'\r').is_ok();
        assert!(fits, "commands are short and the password is bounded by the configuration");
        if self.tx.is_full() {
            self.tx.pop_front(); // a stale wake or command: the newest one matters
        }
        assert!(self.tx.push_back(bytes).is_ok());
        self.last_sent.clear();
        if remember_echo {
            // Bounded by MAX_TX_BYTES < MAX_LINE_BYTES.
            assert!(self.last_sent.push_str(text).is_ok());
        }
    }

    fn deadline(&self, now: Micros) -> Micros {
        now.plus_ms(self.options.command_timeout_ms)
    }

    fn wake(&mut self, now: Micros) {
        self.partial.clear();
        self.send("", false);
        self.phase = Phase::Waking { deadline: self.deadline(now) };
    }

    fn count(&mut self, garbage: bool) {
        self.window_bytes += 1;
        self.command_bytes = self.command_bytes.saturating_add(1);
        if garbage {
            self.window_garbage += 1;
            self.command_garbage = self.command_garbage.saturating_add(1);
            self.counters.garbage_bytes += 1;
        }
        if self.window_bytes >= GARBAGE_WINDOW_BYTES {
            let percent = self.window_garbage * 100 / self.window_bytes;
            if percent >= GARBAGE_PERCENT_MAX {
                self.cycle_tainted = true;
                if !self.wrong_baud {
                    self.wrong_baud = true;
                    self.push_event(SessionEvent::WrongBaud { garbage_percent: percent });
                }
            } else if self.wrong_baud {
                self.wrong_baud = false;
                self.push_event(SessionEvent::BaudRecovered);
            }
            self.window_bytes = 0;
            self.window_garbage = 0;
        }
    }

    fn end_line(&mut self, now: Micros) {
        let line = core::mem::take(&mut self.partial);
        if core::mem::take(&mut self.partial_truncated) {
            self.counters.truncated_lines += 1;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        self.counters.lines += 1;
        if self.dialect.is_reboot_banner(trimmed) {
            return self.rebooted(now);
        }
        if self.dialect.is_event(trimmed) {
            self.counters.unsolicited += 1;
            self.poll_soon = true;
            let mut l = Line::new();
            let _ = l.push_str(trimmed);
            return self.push_event(SessionEvent::Unsolicited(l));
        }
        let prompt = self.dialect.prompt().trim_end();
        let at_prompt = trimmed.starts_with(prompt);
        let body = if at_prompt { trimmed[prompt.len()..].trim() } else { trimmed };
        if body.is_empty() {
            return; // a bare prompt
        }
        if !self.last_sent.is_empty() && body == self.last_sent.as_str() {
            self.last_sent.clear(); // the echo of what we sent
            return;
        }
        // A stale prompt in front of output (after a wake the console answered late): the
        // output is what counts.
        let trimmed = body;
        match self.phase {
            Phase::Command { index, .. } => {
                if self.dialect.needs_login(trimmed) {
                    self.relogin = true;
                }
                if let Some(marker) = self.dialect.end_marker(trimmed) {
                    return self.command_done(now, index, marker);
                }
                if self.output.len() < MAX_OUTPUT_LINES {
                    let mut kept = Line::new();
                    // `trimmed` is a part of `line`, so it fits.
                    assert!(kept.push_str(trimmed).is_ok());
                    self.output.push(kept);
                } else {
                    self.counters.dropped_lines += 1;
                }
            }
            Phase::LoginCommand { .. } => match self.dialect.end_marker(trimmed) {
                Some(Marker::Success) => {
                    self.logged_in = true;
                    self.last_answer_at = Some(now);
                    self.start_cycle(now);
                }
                Some(Marker::Failure) => {
                    self.push_event(SessionEvent::LoginFailed);
                    self.fail_cycle(now, FailReason::Login);
                }
                None => {}
            },
            _ => {} // stray output between commands
        }
    }

    fn check_partial(&mut self, now: Micros) {
        let prompt = self.dialect.prompt().trim_end();
        let p = self.partial.trim_end();
        if p.is_empty() {
            return;
        }
        let prompt_seen = p.ends_with(prompt);
        let password_prompt = p.to_ascii_lowercase().ends_with("password:");
        match self.phase {
            Phase::Waking { .. } if prompt_seen => {
                self.partial.clear();
                self.last_answer_at = Some(now);
                match (self.logged_in, self.options.password.clone()) {
                    (false, Some(password)) => match self.dialect.login_command(&password) {
                        Some(command) => {
                            self.send(&command, true);
                            self.phase = Phase::LoginCommand { deadline: self.deadline(now) };
                        }
                        None => {
                            self.logged_in = true;
                            self.start_cycle(now);
                        }
                    },
                    _ => {
                        self.logged_in = true;
                        self.start_cycle(now);
                    }
                }
            }
            Phase::Waking { .. } if password_prompt => {
                self.partial.clear();
                match self.options.password.clone() {
                    Some(password) => {
                        self.send(&password, true);
                        self.phase = Phase::PasswordSent { deadline: self.deadline(now) };
                    }
                    None => self.push_event(SessionEvent::LoginRequired),
                }
            }
            Phase::PasswordSent { .. } if prompt_seen => {
                self.partial.clear();
                self.logged_in = true;
                self.last_answer_at = Some(now);
                self.start_cycle(now);
            }
            Phase::PasswordSent { .. } if password_prompt => {
                self.partial.clear();
                self.push_event(SessionEvent::LoginFailed);
                self.fail_cycle(now, FailReason::Login);
            }
            Phase::AwaitPrompt { next, .. } if prompt_seen => {
                self.partial.clear();
                self.next_command(now, next);
            }
            Phase::Idle { .. } if prompt_seen => self.partial.clear(),
            _ => {}
        }
    }

    fn start_cycle(&mut self, now: Micros) {
        self.cycle_model = ArrayModel::default();
        self.cycle_started_at = now;
        self.cycle_tainted = false;
        self.relogin = false;
        self.poll_soon = false;
        self.next_command(now, 0);
    }

    fn next_command(&mut self, now: Micros, index: usize) {
        let commands = self.dialect.commands();
        if index >= commands.len() {
            return self.cycle_complete(now);
        }
        self.output.clear();
        self.command_bytes = 0;
        self.command_garbage = 0;
        self.send(commands[index], true);
        self.phase = Phase::Command { index, deadline: self.deadline(now) };
    }

    fn command_done(&mut self, now: Micros, index: usize, marker: Marker) {
        self.last_answer_at = Some(now);
        let command = self.dialect.commands()[index];
        let garbage_heavy = self.command_garbage >= GARBAGE_MIN_BYTES
            && self.command_garbage * 100 >= GARBAGE_PERCENT_MAX * self.command_bytes;
        if garbage_heavy {
            self.cycle_tainted = true;
        } else if self.wrong_baud && self.command_bytes >= GARBAGE_WINDOW_BYTES / 2 {
            self.wrong_baud = false;
            self.push_event(SessionEvent::BaudRecovered);
        }
        if self.relogin {
            self.logged_in = false;
            if self.options.password.is_none() {
                self.push_event(SessionEvent::LoginRequired);
            }
            return self.fail_cycle(now, FailReason::Login);
        }
        if marker == Marker::Failure {
            self.push_event(SessionEvent::CommandFailed { command });
        }
        if !self.cycle_tainted {
            let lines: Vec<&str> = self.output.iter().map(|l| l.as_str()).collect();
            let mut stats = super::ParseStats::default();
            self.dialect.parse(index, &lines, &mut self.cycle_model, &mut stats);
            self.counters.unknown_lines += u64::from(stats.unknown_lines);
            if stats.unknown_lines > 0 && !self.unknown_reported[index] {
                self.unknown_reported[index] = true;
                let first = stats.first_unknown.unwrap_or_default();
                self.push_event(SessionEvent::UnknownLines { command, count: stats.unknown_lines, first });
            }
        }
        self.output.clear();
        self.phase = Phase::AwaitPrompt { next: index + 1, deadline: self.deadline(now) };
    }

    fn cycle_complete(&mut self, now: Micros) {
        if self.cycle_tainted {
            return self.fail_cycle(now, FailReason::Garbage);
        }
        let mut model = core::mem::take(&mut self.cycle_model);
        model.normalize();
        self.snapshot = Some(model);
        self.counters.snapshots += 1;
        self.failed_cycles = 0;
        self.lost = false;
        let scheduled = self.cycle_started_at.plus_ms(self.options.poll_interval_ms);
        let next_poll_at = if core::mem::take(&mut self.poll_soon) { now } else { scheduled.max(now) };
        self.phase = Phase::Idle { next_poll_at };
    }

    fn fail_cycle(&mut self, now: Micros, reason: FailReason) {
        self.counters.failed_cycles += 1;
        self.push_event(SessionEvent::CycleFailed(reason));
        self.failed_cycles = self.failed_cycles.saturating_add(1);
        self.output.clear();
        self.cycle_model = ArrayModel::default();
        if self.failed_cycles >= MAX_FAILED_CYCLES && !self.lost {
            self.lost = true;
            let lost = if self.wrong_baud || reason == FailReason::Garbage {
                LostReason::WrongBaud
            } else {
                LostReason::NoAnswer
            };
            self.push_event(SessionEvent::Lost(lost));
        }
        if reason == FailReason::Timeout {
            self.wake(now); // a timeout has already waited
        } else {
            self.partial.clear();
            self.phase = Phase::Retry { at: self.deadline(now) };
        }
    }

    fn rebooted(&mut self, now: Micros) {
        self.counters.reboots += 1;
        self.push_event(SessionEvent::ControllerRebooted);
        self.logged_in = false;
        self.output.clear();
        self.cycle_model = ArrayModel::default();
        self.wake(now);
    }
}

/// A session's event as one log line.
pub fn describe(event: &SessionEvent) -> String {
    match event {
        SessionEvent::Unsolicited(l) => format!("controller event: {l}"),
        SessionEvent::ControllerRebooted => "controller rebooted; logging in again".into(),
        SessionEvent::WrongBaud { garbage_percent } => {
            format!("console output is {garbage_percent}% garbage: wrong baud rate? (not parsed)")
        }
        SessionEvent::BaudRecovered => "console output is clean again".into(),
        SessionEvent::Lost(LostReason::NoAnswer) => "console lost: no answer".into(),
        SessionEvent::Lost(LostReason::WrongBaud) => "console lost: garbage (wrong baud rate?)".into(),
        SessionEvent::CycleFailed(r) => format!("poll cycle failed: {r:?}"),
        SessionEvent::CommandFailed { command } => {
            format!("command `{command}` reported a failure")
        }
        SessionEvent::LoginRequired => "console asks for a password and none is configured".into(),
        SessionEvent::LoginFailed => "console refused the password".into(),
        SessionEvent::UnknownLines { command, count, first } => {
            format!("`{command}`: {count} unknown line(s), first: {first:?} (logged once)")
        }
    }
}

#[cfg(test)]
mod tests;

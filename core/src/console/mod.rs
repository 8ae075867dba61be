//! RAID controller consoles: watching the array through the controller's RS-232 CLI.
//!
//! - [`session`]: the console session as a sans-I/O state machine (wake, login, prompt,
//!   scheduled poll commands, end-of-output markers, echo, terminal escapes, unsolicited event
//!   lines, reboot banners, wrong baud rate). It turns bytes into [`model::ArrayModel`]
//!   snapshots and session events.
//! - [`model`]: the canonical model every dialect maps onto.
//! - [`areca`], [`megacli`], [`infortrend`]: one file per CLI dialect, each implementing
//!   [`Dialect`]. Adding a dialect is one file plus one arm in [`dialect_for`].
//!
//! The shell-side adapter that owns the port (`serial`), the `[array]` TOML section (`config`)
//! and the array summary for `ha-agent status` (`status`) stay in `ha-agent`'s
//! `devices::console`, which re-exports this module.
//!
//! It does not decide what a change means (the core's `core::array` diffs two models into
//! events) and it does not send notifications.

#![forbid(unsafe_code)]

pub mod areca;
pub mod infortrend;
pub mod megacli;
pub mod model;
pub mod session;

use model::{name, ArrayModel, Name};

/// What an end-of-output marker says about the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Success,
    Failure,
}

/// Lines a parser did not understand: counted, and the first one kept for a single log line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParseStats {
    pub unknown_lines: u32,
    pub first_unknown: Option<Name>,
}

impl ParseStats {
    pub fn unknown(&mut self, line: &str) {
        self.unknown_lines = self.unknown_lines.saturating_add(1);
        if self.first_unknown.is_none() {
            self.first_unknown = Some(name(line.trim()));
        }
    }
}

/// One controller CLI. Every method is a pure function of its arguments; parsers are total
/// (any text gives a model, possibly with unknown lines counted) and do a bounded amount of
/// work per line.
pub trait Dialect: Send + Sync {
    /// The configuration name (`areca`, `megacli`, `infortrend`).
    fn name(&self) -> &'static str;
    /// The interactive prompt, as printed (trailing space included).
    fn prompt(&self) -> &'static str;
    /// The commands of one poll cycle, in order; [`Dialect::parse`] gets their index.
    fn commands(&self) -> &'static [&'static str];
    /// Whether `line` ends a command's output, and how.
    fn end_marker(&self, line: &str) -> Option<Marker>;
    /// Whether `line` is an unsolicited event the controller printed on its own.
    fn is_event(&self, line: &str) -> bool;
    /// Whether `line` is the banner a controller prints when it (re)boots.
    fn is_reboot_banner(&self, line: &str) -> bool;
    /// A command that logs in with `password`, for CLIs that log in by command. CLIs that ask
    /// `Password:` are handled by the session itself.
    fn login_command(&self, _password: &str) -> Option<String> {
        None
    }
    /// Whether an output line says the session must log in (again).
    fn needs_login(&self, _line: &str) -> bool {
        false
    }
    /// Parse the output lines of command `command` (escapes, echo, prompt and event lines
    /// already removed) into `model`.
    fn parse(&self, command: usize, lines: &[&str], model: &mut ArrayModel, stats: &mut ParseStats);
}

/// The dialects known to the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DialectKind {
    Areca,
    Megacli,
    Infortrend,
}

impl DialectKind {
    pub const ALL: [DialectKind; 3] = [DialectKind::Areca, DialectKind::Megacli, DialectKind::Infortrend];
}

pub fn dialect_for(kind: DialectKind) -> &'static dyn Dialect {
    match kind {
        DialectKind::Areca => &areca::Areca,
        DialectKind::Megacli => &megacli::MegaCli,
        DialectKind::Infortrend => &infortrend::Infortrend,
    }
}

/// Parse one command's raw output text (as a transcript or a fuzzer gives it) with the same
/// line handling as the session: escapes stripped, lines split, event lines, end markers and
/// prompt lines left out. Used by parser tests and fuzz targets.
pub fn parse_output(dialect: &dyn Dialect, command: usize, text: &str, model: &mut ArrayModel) -> ParseStats {
    let mut stats = ParseStats::default();
    let clean = session::strip_escapes(text);
    let lines: std::vec::Vec<&str> = clean
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| {
            let t = l.trim();
            !dialect.is_event(l)
                && dialect.end_marker(l).is_none()
                && !t.starts_with(dialect.prompt().trim_end())
        })
        .take(session::MAX_OUTPUT_LINES)
        .collect();
    dialect.parse(command, &lines, model, &mut stats);
    stats
}

/// Parse a whole poll cycle: `outputs[i]` is the output of command `i`. Applies
/// [`ArrayModel::normalize`] like the session does at the end of a cycle.
pub fn parse_cycle(dialect: &dyn Dialect, outputs: &[&str]) -> (ArrayModel, ParseStats) {
    let mut model = ArrayModel::default();
    let mut total = ParseStats::default();
    for (i, text) in outputs.iter().enumerate().take(dialect.commands().len()) {
        let s = parse_output(dialect, i, text, &mut model);
        total.unknown_lines = total.unknown_lines.saturating_add(s.unknown_lines);
        if total.first_unknown.is_none() {
            total.first_unknown = s.first_unknown;
        }
    }
    model.normalize();
    (model, total)
}

/// Whether `line` is a table separator made of `c` (at least [`MIN_SEPARATOR_CHARS`]).
pub fn is_separator(line: &str, c: char) -> bool {
    let t = line.trim();
    t.len() >= MIN_SEPARATOR_CHARS && t.chars().all(|x| x == c)
}

/// Shortest run of `=` or `-` that counts as a table separator.
pub const MIN_SEPARATOR_CHARS: usize = 8;

/// Split `Key : value` at the first colon; both sides trimmed, key non-empty.
pub fn key_value(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once(':')?;
    let k = k.trim();
    if k.is_empty() {
        return None;
    }
    Some((k, v.trim()))
}

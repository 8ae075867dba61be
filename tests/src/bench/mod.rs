//! Pieces of `make bench` that are worth testing on their own: following agents' logs as they
//! grow, reading the member transitions out of their lines, percentiles, and reading a
//! process's memory and CPU time from `/proc`; [`machine`] measures what the machine itself
//! does to every process (steal time, a wake-up probe).
//!
//! It owns no experiment and no timing decision: the `bench` binary runs the racks, kills and
//! restarts agents and writes `out/bench.json`; this module only observes and computes.

#![forbid(unsafe_code)]

pub mod machine;

use std::fs;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

/// Bound on the bytes read from a log per [`LogTail::poll`] call.
pub const MAX_TAIL_READ_BYTES: usize = 256 * 1024;
/// Bound on a partial line kept between two polls (a line longer than this is dropped).
pub const MAX_PARTIAL_LINE_BYTES: usize = 16 * 1024;

/// A member transition as the agent logs it: its journal record `membership <name> <to> (was
/// <from>)` (the agent's `shell::fanout` makes the log line, the journal record and the trap
/// text of an event from one wording).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberTransition {
    /// Monotonic milliseconds since the logging agent started (the line's first field).
    pub agent_ms: u64,
    /// The member whose state changed.
    pub member: String,
    pub from: String,
    pub to: String,
}

/// A link transition as the agent logs it: `link <peer> link <id> <to> (was <from>)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkTransition {
    /// Monotonic milliseconds since the logging agent started (the line's first field).
    pub agent_ms: u64,
    /// The member at the other end of the link.
    pub peer: String,
    pub id: u8,
    pub from: String,
    pub to: String,
}

/// The time (ms) and the message's words of an agent's log line (`  12.345 witness INFO
/// message...`).
fn log_words(line: &str) -> Option<(u64, std::str::SplitWhitespace<'_>)> {
    let mut fields = line.split_whitespace();
    let time = fields.next()?;
    let (secs, millis) = time.split_once('.')?;
    let agent_ms = secs.parse::<u64>().ok()?.checked_mul(1000)?.checked_add(millis.parse::<u64>().ok()?)?;
    let _logger_member = fields.next()?;
    let _level = fields.next()?;
    Some((agent_ms, fields))
}

/// `<to> (was <from>)` and nothing after it.
fn to_was_from(mut words: std::str::SplitWhitespace<'_>) -> Option<(String, String)> {
    let to = words.next()?.to_string();
    if words.next()? != "(was" {
        return None;
    }
    let from = words.next()?.strip_suffix(')')?.to_string();
    if words.next().is_some() {
        return None;
    }
    Some((from, to))
}

/// Parse one log line of the agent (`  12.345 witness WARN  membership node-a unreachable (was
/// reachable)`); `None` for any other line.
pub fn parse_member_transition(line: &str) -> Option<MemberTransition> {
    let (agent_ms, mut words) = log_words(line)?;
    if words.next()? != "membership" {
        return None;
    }
    let member = words.next()?.to_string();
    let (from, to) = to_was_from(words)?;
    Some(MemberTransition { agent_ms, member, from, to })
}

/// Parse one log line of the agent (`  1.002 node-b WARN  link node-a link 3 down (was
/// up)`); `None` for any other line.
pub fn parse_link_transition(line: &str) -> Option<LinkTransition> {
    let (agent_ms, mut words) = log_words(line)?;
    if words.next()? != "link" {
        return None;
    }
    let peer = words.next()?.to_string();
    if words.next()? != "link" {
        return None;
    }
    let id = words.next()?.parse().ok()?;
    let (from, to) = to_was_from(words)?;
    Some(LinkTransition { agent_ms, peer, id, from, to })
}

/// Whether a log line reports a link going down (`link node-b link 3 down (was warn)`).
pub fn is_link_down_line(line: &str) -> bool {
    parse_link_transition(line).is_some_and(|t| t.to == "down")
}

/// Follows one growing log file: each [`LogTail::poll`] returns the complete lines written
/// since the previous one.
pub struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl LogTail {
    /// Follow `path` from its current end (nothing already written is returned).
    pub fn from_end(path: &Path) -> LogTail {
        let offset = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        LogTail { path: path.to_path_buf(), offset, partial: Vec::new() }
    }

    /// The complete lines added since the last poll (at most [`MAX_TAIL_READ_BYTES`] per call).
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        let len = match fs::metadata(&self.path) {
            Ok(meta) => meta.len(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        if len < self.offset {
            // Truncated or replaced: start again from the beginning.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        let mut file = fs::File::open(&self.path)?;
        file.seek(SeekFrom::Start(self.offset))?;
        let want = usize::try_from(len - self.offset).unwrap_or(MAX_TAIL_READ_BYTES).min(MAX_TAIL_READ_BYTES);
        let mut buf = vec![0u8; want];
        let got = file.read(&mut buf)?;
        buf.truncate(got);
        self.offset += got as u64;
        self.partial.extend_from_slice(&buf);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
        }
        if self.partial.len() > MAX_PARTIAL_LINE_BYTES {
            self.partial.clear();
        }
        Ok(lines)
    }
}

/// The `q`-quantile (0.0..=1.0) of `samples` by the nearest-rank method; `None` when empty.
pub fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    assert!((0.0..=1.0).contains(&q), "quantile {q} out of range");
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `VmRSS` and `VmHWM` (KiB) from the text of `/proc/<pid>/status`.
pub fn parse_status_memory_kib(status: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Field `number` (as numbered in proc(5), 3 or more) of the text of `/proc/<pid>/stat`.
pub fn stat_field(stat: &str, number: usize) -> Option<&str> {
    // The command name (field 2) may hold spaces; fields after its closing ')' are plain, and
    // the first of them is field 3 (state).
    stat[stat.rfind(')')? + 1..].split_whitespace().nth(number.checked_sub(3)?)
}

/// utime + stime (clock ticks) from the text of `/proc/<pid>/stat` (fields 14 and 15).
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let utime: u64 = stat_field(stat, 14)?.parse().ok()?;
    let stime: u64 = stat_field(stat, 15)?.parse().ok()?;
    Some(utime + stime)
}

/// (VmRSS KiB, VmHWM KiB, CPU ticks) of a running process.
pub fn sample_process(pid: u32) -> Option<(u64, u64, u64)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (rss, hwm) = parse_status_memory_kib(&status)?;
    Some((rss, hwm, parse_stat_cpu_ticks(&stat)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn member_transitions_are_read_from_agent_lines() {
        let t =
            parse_member_transition("    12.345 witness WARN  membership node-a unreachable (was reachable)")
                .unwrap();
        assert_eq!(
            t,
            MemberTransition {
                agent_ms: 12_345,
                member: "node-a".into(),
                from: "reachable".into(),
                to: "unreachable".into()
            }
        );
        assert!(parse_member_transition("     1.002 node-b INFO  link node-a link 3 down (was up)").is_none());
        assert!(parse_member_transition("     1.002 node-b WARN  membership quorum lost").is_none());
        assert!(parse_member_transition("garbage").is_none());
        assert!(parse_member_transition("").is_none());
        assert!(is_link_down_line("     1.002 node-b INFO  link node-a link 3 down (was warn)"));
        assert!(!is_link_down_line("     1.002 node-b INFO  link node-a link 3 up (was down)"));
        assert_eq!(
            parse_link_transition("     1.002 node-b WARN  link node-a link 3 down (was warn)"),
            Some(LinkTransition {
                agent_ms: 1_002,
                peer: "node-a".into(),
                id: 3,
                from: "warn".into(),
                to: "down".into()
            })
        );
    }

    /// The lines the agent writes (its fan-out's, behind its logger's prefix) are the lines
    /// these parsers read.
    #[test]
    fn the_agent_s_own_lines_parse() {
        use ha_agent::core::engine::Event;
        use ha_agent::core::membership::{Event as M, LinkState, PeerState};
        use ha_agent::shell::fanout;
        let name = |id: u8| ["witness", "node-a", "node-b"][usize::from(id) - 1].to_string();
        let line = |event: &Event| {
            let e = fanout::event(event, "witness", &name, &mut None);
            let text = e.line;
            ha_agent::shell::logger::format_line(12, 345, "witness", e.level, &format_args!("{text}"))
                .to_string()
        };
        let lost = line(&Event::Membership(M::Peer {
            peer: 2,
            from: PeerState::Reachable,
            to: PeerState::Unreachable,
        }));
        let t = parse_member_transition(&lost).unwrap_or_else(|| panic!("{lost:?}"));
        assert_eq!(
            (t.agent_ms, t.member.as_str(), t.from.as_str(), t.to.as_str()),
            (12_345, "node-a", "reachable", "unreachable")
        );
        let down =
            line(&Event::Membership(M::Link { id: 3, peer: 3, from: LinkState::Warn, to: LinkState::Down }));
        assert!(is_link_down_line(&down), "{down:?}");
        assert!(parse_member_transition(&down).is_none());
        let t = parse_link_transition(&down).unwrap();
        assert_eq!((t.peer.as_str(), t.id, t.from.as_str()), ("node-b", 3, "warn"));
        let up =
            line(&Event::Membership(M::Link { id: 3, peer: 3, from: LinkState::Down, to: LinkState::Up }));
        assert!(!is_link_down_line(&up), "{up:?}");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 0.5), Some(50.0));
        assert_eq!(percentile(&samples, 0.99), Some(99.0));
        assert_eq!(percentile(&samples, 1.0), Some(100.0));
        assert_eq!(percentile(&samples, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0, 3.0], 0.5), Some(3.0));
    }

    #[test]
    fn proc_fields_are_read() {
        let status = "Name:\tha-agent\nVmHWM:\t    2048 kB\nVmRSS:\t    1900 kB\n";
        assert_eq!(parse_status_memory_kib(status), Some((1900, 2048)));
        let stat = "42 (ha agent) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 100 1000 200";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(12));
        assert_eq!(parse_stat_cpu_ticks("42 (x"), None);
    }

    #[test]
    fn a_tail_returns_only_complete_new_lines() {
        let dir = std::env::temp_dir().join(format!("bench-tail-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        fs::write(&path, "old line\n").unwrap();
        let mut tail = LogTail::from_end(&path);
        assert!(tail.poll().unwrap().is_empty());
        let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"one\ntw").unwrap();
        assert_eq!(tail.poll().unwrap(), vec!["one".to_string()]);
        file.write_all(b"o\n").unwrap();
        assert_eq!(tail.poll().unwrap(), vec!["two".to_string()]);
        fs::remove_dir_all(&dir).unwrap();
    }
}

//! The control-socket protocol and the human rendering of `ha-agent status`.
//!
//! Owns the request grammar (one line, bounded), the client side used by the same binary's
//! subcommands, and the text table printed for operators. It does not own the socket server
//! (the shell does, inside its poll loop) and does not build the status (the shell does, from
//! the core's getters). The status document's type is `crate::status::Status`, documented in
//! `docs/status.md`.
//!
//! Protocol: the client connects to the Unix stream socket, writes one request line ending in
//! `\n`, and reads the response until end of file. Responses are JSON objects; an error is
//! `{"error": "..."}`.

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::status::{Authority, Status};

/// Bound on a request line, newline included.
pub const MAX_REQUEST_BYTES: usize = 256;
/// Bound on a response.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Bound on clients served at once; more are refused.
pub const MAX_CLIENTS: usize = 4;
/// A client that has not sent its request, or not read its response, within this is dropped.
pub const CLIENT_TIMEOUT_MS: u64 = 2000;

/// Bound on a member name in a request.
pub const MAX_NAME_BYTES: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Status,
    /// Witness: move the service to this node (graceful switchover).
    Move(String),
    /// Witness: this node may not run the service (moved away first).
    Standby(String),
    /// Witness: this node may run the service again.
    Online(String),
    /// Witness: power this node off now.
    Fence(String),
    /// Witness: switch this node's power on again through its relay channel.
    PowerOn(String),
    /// Witness: maintenance mode on (`true`) or off.
    Maintenance(bool),
    /// Node: forget resource failures.
    Cleanup,
    /// Reload the configuration file (like SIGHUP), answering with the outcome.
    Reload,
}

fn name_arg(words: &[&str], verb: &str) -> Result<String, String> {
    match words {
        [name]
            if !name.is_empty()
                && name.len() <= MAX_NAME_BYTES
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) =>
        {
            Ok((*name).to_string())
        }
        _ => Err(format!("usage: {verb} NODE")),
    }
}

/// Parse one request line (without or with its trailing newline).
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(line).map_err(|_| "request is not UTF-8".to_string())?;
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["status"] => Ok(Request::Status),
        ["move", rest @ ..] => name_arg(rest, "move").map(Request::Move),
        ["standby", rest @ ..] => name_arg(rest, "standby").map(Request::Standby),
        ["online", rest @ ..] => name_arg(rest, "online").map(Request::Online),
        ["fence", rest @ ..] => name_arg(rest, "fence").map(Request::Fence),
        ["power-on", rest @ ..] => name_arg(rest, "power-on").map(Request::PowerOn),
        ["maintenance", "on"] => Ok(Request::Maintenance(true)),
        ["maintenance", "off"] => Ok(Request::Maintenance(false)),
        ["maintenance", ..] => Err("usage: maintenance on|off".into()),
        ["cleanup"] => Ok(Request::Cleanup),
        ["reload"] => Ok(Request::Reload),
        [] => Err("empty request".into()),
        _ => {
            let shown: String = text.trim().chars().take(32).collect();
            Err(format!(
                "unknown request {shown:?} (known: status, move, standby, online, fence, power-on, maintenance, cleanup, reload)"
            ))
        }
    }
}

/// Why a request got no answer to act on: the agent could not be asked, or it said no.
#[derive(Debug)]
pub enum RequestError {
    /// Not connected, or no well-formed answer (the agent is not running, no permission).
    Unreachable(io::Error),
    /// The agent answered `{"error": ...}`: the reason.
    Refused(String),
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Unreachable(e) => write!(f, "{e}"),
            RequestError::Refused(reason) => write!(f, "agent refused: {reason}"),
        }
    }
}

/// Send `request` to the agent at `socket` and return its JSON response.
pub fn request(socket: &Path, request: &str) -> Result<Value, RequestError> {
    let value = exchange(socket, request).map_err(RequestError::Unreachable)?;
    if let Some(err) = value.get("error").and_then(Value::as_str) {
        return Err(RequestError::Refused(err.to_string()));
    }
    Ok(value)
}

/// Ask the agent at `socket` for its status document (docs/status.md), read into its type: a
/// document that does not fit the type is no answer to act on.
pub fn request_status(socket: &Path) -> Result<Status, RequestError> {
    let value = request(socket, "status")?;
    Status::from_document(&value).map_err(|e| {
        RequestError::Unreachable(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad status document: {e}"),
        ))
    })
}

fn exchange(socket: &Path, request: &str) -> io::Result<Value> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot connect to {}: {e} (is the agent running? are you root?)", socket.display()),
        )
    })?;
    let timeout = Some(Duration::from_millis(CLIENT_TIMEOUT_MS));
    stream.set_read_timeout(timeout)?;
    stream.set_write_timeout(timeout)?;
    stream.write_all(format!("{request}\n").as_bytes())?;
    let mut body = Vec::new();
    stream.take(MAX_RESPONSE_BYTES as u64 + 1).read_to_end(&mut body)?;
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "response too large"));
    }
    serde_json::from_slice(&body)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad response: {e}")))
}

/// An optional value, `-` when there is none.
fn or_dash<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |x| x.to_string())
}

fn us_as_ms(us: Option<u64>) -> String {
    match us {
        Some(us) => format!("{}.{:02}", us / 1000, (us % 1000) / 10),
        None => "-".into(),
    }
}

/// The operator's console: the status must fit one screen of this many columns and rows.
pub const SCREEN_COLUMNS: usize = 80;
pub const SCREEN_ROWS: usize = 24;

/// A counter in at most 7 columns (12345678 -> 12.3M).
fn count(n: u64) -> String {
    match n {
        n if n < 10_000_000 => n.to_string(),
        n if n < 10_000_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// A journal line (`#SEQ YYYY-MM-DD HH:MM:SS.mmmZ EVENT`) with only the time of day, for the
/// last-events rows.
fn short_event(line: &str) -> String {
    let mut words = line.splitn(4, ' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some(seq), Some(_date), Some(time), Some(rest)) if time.len() >= 8 && time.is_char_boundary(8) => {
            format!("{seq} {} {rest}", &time[..8])
        }
        _ => line.to_string(),
    }
}

/// Items joined by `sep` into lines of at most `width` columns, each line starting with
/// `indent` (the first with `first`).
fn pack(first: &str, indent: &str, items: &[String], sep: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for item in items {
        let extra = if empty { 0 } else { sep.len() };
        if !empty && line.chars().count() + extra + item.chars().count() > width {
            lines.push(std::mem::replace(&mut line, indent.to_string()));
            empty = true;
        }
        if !empty {
            line.push_str(sep);
        }
        line.push_str(item);
        empty = false;
    }
    if !empty {
        lines.push(line);
    }
    lines
}

/// Render a status document as the operator's one screen (like `crm_mon`): at most
/// [`SCREEN_ROWS`] lines of at most [`SCREEN_COLUMNS`] columns. Members, links, authority,
/// fence devices and the array always fit (three members, up to six links, a controller with
/// a few drives and sensors); the last events take the rows that are left.
pub fn render_status(v: &Status) -> String {
    let mut rows: Vec<String> = Vec::new();
    let t = &v.timing;
    let up_s = v.uptime_ms / 1000;
    let up = if up_s < 86_400 {
        format!("{:02}:{:02}:{:02}", up_s / 3600, up_s / 60 % 60, up_s % 60)
    } else {
        format!("{}d {:02}:{:02}", up_s / 86_400, up_s / 3600 % 24, up_s / 60 % 60)
    };
    rows.push(format!("Cluster {}  member {} ({})  boot {}  up {up}", v.cluster, v.member, v.role, v.boot));
    rows.push(format!(
        "Timing ms: interval {} warn {} dead {} initdead {}  stalls {} (max {})",
        t.interval_ms, t.warn_ms, t.dead_ms, t.initdead_ms, v.stalls.count, v.stalls.max_ms
    ));
    match &v.authority {
        Some(Authority::Witness(a)) => {
            if a.maintenance {
                rows.push(MAINTENANCE_BANNER.into());
            }
            let since = a
                .granted_at_wall_ms
                .map(|ms| format!(" since {}", &crate::journal::civil::format_utc(ms)[..19]))
                .unwrap_or_default();
            rows.push(format!(
                "Service: holder {}  generation {}{since}",
                or_dash(a.holder.as_deref()),
                a.generation
            ));
            let busy = format!(
                "{}{}",
                if a.switching { "  SWITCHING OVER" } else { "" },
                a.fencing.as_deref().map(|n| format!("  FENCING {n}")).unwrap_or_default()
            );
            if !busy.is_empty() {
                rows.push(format!(" {busy}"));
            }
            let devices: Vec<String> = a
                .fence_devices
                .iter()
                .map(|d| {
                    let state = if d.state == "ok" { d.state.clone() } else { d.state.to_uppercase() };
                    format!("{} {state}", d.node)
                })
                .collect();
            if devices.is_empty() {
                rows.push("Fence devices: none configured (failover waits for watchdog deadlines)".into());
            } else {
                rows.extend(pack("Fence devices: ", "  ", &devices, ", ", SCREEN_COLUMNS));
            }
            // What the witness knows of each node from its reports, and the standby it keeps.
            for n in &a.nodes {
                let standby = if n.standby { ", STANDBY" } else { "" };
                let Some(resources) = &n.resources_state else {
                    rows.push(format!("  {}: no report yet{standby}", n.name));
                    continue;
                };
                let watchdog = match n.fence_bound_ms {
                    Some(ms) if ms > 0 => format!("watchdog armed, fence bound {ms} ms"),
                    _ => "no watchdog".into(),
                };
                rows.push(format!(
                    "  {}: resources {resources}, {}, {watchdog}{standby}",
                    n.name,
                    if n.ready == Some(true) { "ready" } else { "not ready" },
                ));
            }
        }
        Some(Authority::Node(a)) => {
            if a.maintenance {
                rows.push(MAINTENANCE_BANNER.into());
            }
            rows.push(format!(
                "Resources: {}  acting generation {}  quorum {}",
                a.resources_state.to_uppercase(),
                a.acting_generation,
                a.quorum
            ));
            let resources: Vec<String> =
                a.resources.iter().map(|r| format!("{} {}", r.name, r.state)).collect();
            rows.extend(pack("  ", "  ", &resources, ", ", SCREEN_COLUMNS));
        }
        None => {}
    }
    let members: Vec<String> = v
        .members
        .iter()
        .map(|m| {
            format!("{} {} ({} links up)", or_dash(m.name.as_deref()), m.state.to_uppercase(), m.links_up)
        })
        .collect();
    rows.extend(pack("Members: ", "         ", &members, "   ", SCREEN_COLUMNS));
    rows.push(format!(
        "  {:>2} {:<8} {:<6} {:<5} {:>7} {:>7} {:>4} {:>4} {:>4} {:>6} {:>6} {:>6}",
        "id", "peer", "kind", "state", "in", "out", "crc", "auth", "rply", "lat_ms", "jit_ms", "rx_ago"
    ));
    for l in &v.links {
        let note = l.note.as_deref().map(|n| format!("  ({n})")).unwrap_or_default();
        rows.push(format!(
            "  {:>2} {:<8} {:<6} {:<5} {:>7} {:>7} {:>4} {:>4} {:>4} {:>6} {:>6} {:>6}{note}",
            l.id,
            l.peer,
            l.kind.replace("ethernet", "eth"),
            l.state.to_uppercase(),
            count(l.frames_in),
            count(l.frames_out),
            l.crc_errors,
            l.auth_failures,
            l.replays,
            us_as_ms(l.latency_us),
            us_as_ms(l.jitter_us),
            or_dash(l.last_rx_ago_ms),
        ));
    }
    if let Some(arr) = &v.array {
        let c = &arr.console;
        rows.push(format!(
            "Array ({} on {}): console {}, answered {} ms ago{}",
            c.dialect,
            c.device,
            c.state,
            or_dash(c.last_answer_ms_ago),
            if c.wrong_baud { ", WRONG BAUD RATE" } else { "" }
        ));
        let drives: Vec<String> = arr
            .drives
            .iter()
            .map(|d| {
                let pct = d.rebuild_percent.map(|p| format!(" {p}%")).unwrap_or_default();
                let level = if d.raid_level.starts_with("RAID") {
                    d.raid_level.clone()
                } else {
                    format!("RAID{}", d.raid_level)
                };
                format!("{} {level} {}{pct}", d.name, d.state.to_uppercase())
            })
            .collect();
        rows.extend(pack("  drives: ", "          ", &drives, ", ", SCREEN_COLUMNS));
        let disks: Vec<String> = arr
            .disks
            .iter()
            .map(|d| {
                let healthy = matches!(d.state.as_str(), "online" | "global spare" | "spare" | "hot spare");
                format!("{} {}", d.name, if healthy { d.state.clone() } else { d.state.to_uppercase() })
            })
            .collect();
        rows.extend(pack("  disks: ", "         ", &disks, ", ", SCREEN_COLUMNS));
        let env: Vec<String> = arr
            .environment
            .iter()
            .map(|e| {
                let alarm = e.alarm.as_deref().map(|a| format!(" ALARM: {a}")).unwrap_or_default();
                format!("{} {}{alarm}", e.name, e.reading)
            })
            .collect();
        rows.extend(pack("  env: ", "       ", &env, ", ", SCREEN_COLUMNS));
    }
    if let Some(events) = &v.last_events {
        // The newest events that fit in the rows left (one row for the heading).
        let left = SCREEN_ROWS.saturating_sub(rows.len() + 1);
        if left > 0 && !events.is_empty() {
            rows.push("Last events (UTC):".into());
            let skip = events.len().saturating_sub(left);
            for e in events.iter().skip(skip) {
                rows.push(format!("  {}", short_event(e)));
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        // One screen: a longer line is cut (the JSON form has everything).
        let cut: String = row.chars().take(SCREEN_COLUMNS).collect();
        out.push_str(cut.trim_end());
        out.push('\n');
    }
    out
}

const MAINTENANCE_BANNER: &str = "*** MAINTENANCE: resources left alone, no failover (maintenance off) ***";

#[cfg(test)]
mod tests {
    use super::*;

    /// A test's JSON document as the status readers take it.
    fn typed(v: &Value) -> Status {
        serde_json::from_value(v.clone()).expect("a status document")
    }

    #[test]
    fn requests_parse_or_explain() {
        assert_eq!(parse_request(b"status\n"), Ok(Request::Status));
        assert!(parse_request(b"").unwrap_err().contains("empty"));
        assert!(parse_request(b"fence all now\n").unwrap_err().contains("usage: fence NODE"));
        assert!(parse_request(b"reboot node-a\n").unwrap_err().contains("unknown request"));
        assert_eq!(parse_request(b"move node-b\n"), Ok(Request::Move("node-b".into())));
        assert_eq!(parse_request(b"cleanup\n"), Ok(Request::Cleanup));
        assert_eq!(parse_request(b"power-on node-a\n"), Ok(Request::PowerOn("node-a".into())));
        assert_eq!(parse_request(b"maintenance on\n"), Ok(Request::Maintenance(true)));
        assert_eq!(parse_request(b"maintenance off"), Ok(Request::Maintenance(false)));
        assert!(parse_request(b"maintenance\n").unwrap_err().contains("usage: maintenance on|off"));
        assert!(parse_request(b"maintenance maybe\n").unwrap_err().contains("usage"));
        assert!(parse_request(b"move ../etc\n").is_err());
        assert!(parse_request(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn status_renders_members_and_links() {
        let v: Value = serde_json::from_str(
            r#"{"cluster":"payments","member":"witness","role":"witness","boot":5,"uptime_ms":12000,
            "timing":{"interval_ms":100,"warn_ms":300,"dead_ms":600,"initdead_ms":2000},
            "stalls":{"count":1,"max_ms":250},
            "members":[{"name":"node-a","id":2,"role":"node","state":"reachable","links_up":2}],
            "links":[{"id":1,"peer":"node-a","kind":"serial","state":"up","frames_in":10,"frames_out":11,
            "crc_errors":0,"auth_failures":3,"replays":0,"malformed":0,"unknown_link":0,
            "latency_us":1234,"jitter_us":null,"last_rx_ago_ms":50,"transitions":1}]}"#,
        )
        .unwrap();
        let text = render_status(&typed(&v));
        assert!(text.contains("Cluster payments  member witness (witness)  boot 5  up 00:00:12"), "{text}");
        assert!(text.contains("Members: node-a REACHABLE (2 links up)"), "{text}");
        assert!(text.contains("   1 node-a   serial UP"), "{text}");
        assert!(text.contains("1.23"), "{text}");
        assert!(text.contains("stalls 1 (max 250)"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= SCREEN_COLUMNS), "{text}");
    }

    #[test]
    fn status_renders_the_array_and_the_authority() {
        let v: Value = serde_json::from_str(
            r##"{"authority":{"role":"witness","generation":4,"holder":"node-b","switching":false,"fencing":null},
            "array":{"console":{"dialect":"areca","device":"/dev/ttyS2","state":"answering","wrong_baud":false,"last_answer_ms_ago":800},
            "drives":[{"name":"ld1","raid_level":"RAID5","state":"rebuilding","rebuild_percent":40}],
            "disks":[{"name":"e1/s2","state":"rebuilding","drive":"ld1"}],
            "environment":[{"name":"Battery","kind":"battery","reading":"100%","alarm":null}]},
            "last_events":["#3 2026-11-26 20:28:42.776Z grant store generation and holder generation=4 holder=node-b"]}"##,
        )
        .unwrap();
        let text = render_status(&typed(&v));
        assert!(text.contains("Service: holder node-b  generation 4"), "{text}");
        assert!(!text.contains("MAINTENANCE"), "{text}");
        let mut m = v.clone();
        m["authority"]["maintenance"] = Value::Bool(true);
        assert!(render_status(&typed(&m)).contains("*** MAINTENANCE:"), "{}", render_status(&typed(&m)));
        assert!(
            text.contains("Array (areca on /dev/ttyS2): console answering, answered 800 ms ago"),
            "{text}"
        );
        assert!(text.contains("drives: ld1 RAID5 REBUILDING 40%"), "{text}");
        assert!(text.contains("disks: e1/s2 REBUILDING"), "{text}");
        assert!(text.contains("#3 20:28:42 grant store generation"), "UTC time of day: {text}");
        assert!(text.contains("Fence devices: none configured"), "{text}");
    }

    #[test]
    fn status_never_exceeds_one_screen() {
        let link = |id: u32, peer: &str| {
            serde_json::json!({"id": id, "peer": peer, "kind": "ethernet", "state": "up", "frames_in": 12345678u64,
                "frames_out": 12345678u64, "crc_errors": 9999, "auth_failures": 9999, "replays": 9999,
                "latency_us": 123456, "jitter_us": 123456, "last_rx_ago_ms": 99999})
        };
        let events: Vec<String> =
            (0..40).map(|i| format!("#{i} 2026-11-26 20:28:42.776Z {}", "x".repeat(120))).collect();
        let v = serde_json::json!({"cluster":"payments","member":"witness","role":"witness","boot":1795730420u64,
            "uptime_ms": 123456789u64,
            "timing":{"interval_ms":100,"warn_ms":300,"dead_ms":600,"initdead_ms":10000},
            "stalls":{"count":12,"max_ms":2500},
            "members":[{"name":"node-a","state":"reachable","links_up":3},{"name":"node-b","state":"unreachable","links_up":0}],
            "links":[link(1,"node-a"),link(2,"node-b"),link(11,"node-a"),link(12,"node-b"),link(21,"node-a"),link(22,"node-b")],
            "authority":{"role":"witness","generation":4,"holder":"node-b","switching":true,"fencing":"node-a",
                "maintenance":true,"granted_at_wall_ms":1795724922776u64,
                "nodes":[{"name":"node-a","standby":true,"ready":false,"resources_state":"stopped","fence_bound_ms":0},
                    {"name":"node-b","standby":false,"ready":false,"resources_state":"running","fence_bound_ms":16000}],
                "fence_devices":[{"node":"node-a","state":"unreachable"},{"node":"node-b","state":"ok"}]},
            "array":{"console":{"dialect":"areca","device":"/dev/ttyS2","state":"answering","last_answer_ms_ago":800},
                "drives":[{"name":"ld1","raid_level":"5","state":"rebuilding","rebuild_percent":40}],
                "disks":(1..=8).map(|i| serde_json::json!({"name": format!("e1/s{i}"), "state": "online"})).collect::<Vec<_>>(),
                "environment":[{"name":"Fan#1","reading":"3100 RPM"},{"name":"Battery","reading":"100%"},
                    {"name":"Controller Temp.","reading":"41 C","alarm":"too hot"}]},
            "last_events": events});
        let text = render_status(&typed(&v));
        assert!(text.lines().count() <= SCREEN_ROWS, "{} rows:\n{text}", text.lines().count());
        assert!(text.lines().all(|l| l.chars().count() <= SCREEN_COLUMNS), "{text}");
        for needle in [
            "MAINTENANCE",
            "FENCING node-a",
            "node-a UNREACHABLE",
            "node-b UNREACHABLE",
            "e1/s8 online",
            "ALARM: too hot",
            "#39 ",
            "12.3M",
            "up 1d 10:17",
            "stalls 12 (max 2500)",
            "node-a: resources stopped, not ready, no watchdog, STANDBY",
            "node-b: resources running, not ready, watchdog armed, fence bound 16000 ms",
        ] {
            assert!(text.contains(needle), "{needle:?} missing:\n{text}");
        }
        assert_eq!(text.lines().filter(|l| l.contains(" UP ")).count(), 6, "{text}");
    }
}

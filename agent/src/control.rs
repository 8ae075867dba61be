//! The control-socket protocol and the human rendering of `ha-agent status`.
//!
//! Owns the request grammar (one line, bounded), the client side used by the same binary's
//! subcommands, and the text table printed for operators. It does not own the socket server
//! (the shell does, inside its poll loop) and does not build the status (the shell does, from
//! the core's getters). The status JSON schema is documented in `docs/status.md`.
//!
//! Protocol: the client connects to the Unix stream socket, writes one request line ending in
//! `\n`, and reads the response until end of file. Responses are JSON objects; an error is
//! `{"error": "..."}`.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

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
        ["maintenance", "on"] => Ok(Request::Maintenance(true)),
        ["maintenance", "off"] => Ok(Request::Maintenance(false)),
        ["maintenance", ..] => Err("usage: maintenance on|off".into()),
        ["cleanup"] => Ok(Request::Cleanup),
        ["reload"] => Ok(Request::Reload),
        [] => Err("empty request".into()),
        _ => {
            let shown: String = text.trim().chars().take(32).collect();
            Err(format!(
                "unknown request {shown:?} (known: status, move, standby, online, fence, maintenance, cleanup, reload)"
            ))
        }
    }
}

/// Send `request` to the agent at `socket` and return its JSON response.
pub fn request(socket: &Path, request: &str) -> io::Result<Value> {
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
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad response: {e}")))?;
    if let Some(err) = value.get("error").and_then(Value::as_str) {
        return Err(io::Error::other(format!("agent refused: {err}")));
    }
    Ok(value)
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn us_as_ms(v: &Value, key: &str) -> String {
    match v.get(key).and_then(Value::as_u64) {
        Some(us) => format!("{}.{:02}", us / 1000, (us % 1000) / 10),
        None => "-".into(),
    }
}

/// Render a status JSON object as the operator's one-screen table (like `crm_mon`).
pub fn render_status(v: &Value) -> String {
    let mut out = String::new();
    let t = &v["timing"];
    let _ = writeln!(
        out,
        "Cluster {}  member {} ({})  boot {}  up {} s",
        s(v, "cluster"),
        s(v, "member"),
        s(v, "role"),
        s(v, "boot"),
        v["uptime_ms"].as_u64().unwrap_or(0) / 1000
    );
    let _ = writeln!(
        out,
        "Timing: interval {} ms, warn {} ms, dead {} ms, initdead {} ms   stalls {} (max {} ms)",
        s(t, "interval_ms"),
        s(t, "warn_ms"),
        s(t, "dead_ms"),
        s(t, "initdead_ms"),
        s(&v["stalls"], "count"),
        s(&v["stalls"], "max_ms")
    );
    let _ = writeln!(out, "\nMembers:");
    for m in v["members"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {:<12} id {:<3} {:<8} {:<12} links up {}",
            s(m, "name"),
            s(m, "id"),
            s(m, "role"),
            s(m, "state").to_uppercase(),
            s(m, "links_up")
        );
    }
    let _ = writeln!(out, "\nLinks:");
    let _ = writeln!(
        out,
        "  {:>3} {:<10} {:<8} {:<5} {:>8} {:>8} {:>5} {:>5} {:>6} {:>6} {:>8} {:>8} {:>8}",
        "id",
        "peer",
        "kind",
        "state",
        "in",
        "out",
        "crc",
        "auth",
        "replay",
        "malf",
        "lat_ms",
        "jit_ms",
        "rx_ago"
    );
    for l in v["links"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {:>3} {:<10} {:<8} {:<5} {:>8} {:>8} {:>5} {:>5} {:>6} {:>6} {:>8} {:>8} {:>8}",
            s(l, "id"),
            s(l, "peer"),
            s(l, "kind"),
            s(l, "state").to_uppercase(),
            s(l, "frames_in"),
            s(l, "frames_out"),
            s(l, "crc_errors"),
            s(l, "auth_failures"),
            s(l, "replays"),
            s(l, "malformed"),
            us_as_ms(l, "latency_us"),
            us_as_ms(l, "jitter_us"),
            s(l, "last_rx_ago_ms"),
        );
        if let Some(note) = l.get("note").and_then(Value::as_str) {
            let _ = writeln!(out, "      ({note})");
        }
    }
    let a = &v["authority"];
    if a.is_object() {
        let _ = writeln!(out, "\nAuthority:");
        if a["maintenance"] == true {
            let _ = writeln!(
                out,
                "  *** MAINTENANCE: resources left alone, no failover (maintenance off) ***"
            );
        }
        match a["role"].as_str() {
            Some("witness") => {
                let _ = writeln!(
                    out,
                    "  generation {}  holder {}{}{}",
                    s(a, "generation"),
                    s(a, "holder"),
                    if a["switching"] == true { "  (switchover under way)" } else { "" },
                    a["fencing"].as_str().map(|n| format!("  FENCING {n}")).unwrap_or_default()
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  resources {}  acting generation {}  quorum {}",
                    s(a, "resources_state").to_uppercase(),
                    s(a, "acting_generation"),
                    s(a, "quorum")
                );
                for r in a["resources"].as_array().into_iter().flatten() {
                    let _ = writeln!(out, "    {:<16} {}", s(r, "name"), s(r, "state"));
                }
            }
        }
    }
    let arr = &v["array"];
    if arr.is_object() {
        let c = &arr["console"];
        let _ = writeln!(
            out,
            "\nArray ({} on {}): console {}, last answered {} ms ago{}",
            s(c, "dialect"),
            s(c, "device"),
            s(c, "state"),
            s(c, "last_answer_ms_ago"),
            if c["wrong_baud"] == true { ", WRONG BAUD RATE" } else { "" }
        );
        for d in arr["drives"].as_array().into_iter().flatten() {
            let pct = d["rebuild_percent"].as_u64().map(|p| format!(" {p}%")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  drive {:<8} {:<8} {}{pct}",
                s(d, "name"),
                s(d, "raid_level"),
                s(d, "state").to_uppercase()
            );
        }
        for d in arr["disks"].as_array().into_iter().flatten() {
            let _ =
                writeln!(out, "  disk  {:<8} {:<14} drive {}", s(d, "name"), s(d, "state"), s(d, "drive"));
        }
        for e in arr["environment"].as_array().into_iter().flatten() {
            let alarm = e["alarm"].as_str().map(|a| format!("  ALARM: {a}")).unwrap_or_default();
            let _ = writeln!(out, "  {:<8} {:<24} {}{alarm}", s(e, "kind"), s(e, "name"), s(e, "reading"));
        }
    }
    if let Some(events) = v["last_events"].as_array() {
        let _ = writeln!(out, "\nLast events:");
        for e in events {
            let _ = writeln!(out, "  {}", e.as_str().unwrap_or(""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_or_explain() {
        assert_eq!(parse_request(b"status\n"), Ok(Request::Status));
        assert!(parse_request(b"").unwrap_err().contains("empty"));
        assert!(parse_request(b"fence all now\n").unwrap_err().contains("usage: fence NODE"));
        assert!(parse_request(b"reboot node-a\n").unwrap_err().contains("unknown request"));
        assert_eq!(parse_request(b"move node-b\n"), Ok(Request::Move("node-b".into())));
        assert_eq!(parse_request(b"cleanup\n"), Ok(Request::Cleanup));
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
        let text = render_status(&v);
        assert!(text.contains("Cluster payments  member witness (witness)  boot 5  up 12 s"), "{text}");
        assert!(text.contains("node-a       id 2   node     REACHABLE    links up 2"), "{text}");
        assert!(text.contains("  1 node-a     serial   UP"), "{text}");
        assert!(text.contains("1.23"), "{text}");
        assert!(text.contains("stalls 1 (max 250 ms)"), "{text}");
    }

    #[test]
    fn status_renders_the_array_and_the_authority() {
        let v: Value = serde_json::from_str(
            r##"{"authority":{"role":"witness","generation":4,"holder":"node-b","switching":false,"fencing":null},
            "array":{"console":{"dialect":"areca","device":"/dev/ttyS2","state":"answering","wrong_baud":false,"last_answer_ms_ago":800},
            "drives":[{"name":"ld1","raid_level":"RAID5","state":"rebuilding","rebuild_percent":40}],
            "disks":[{"name":"e1/s2","state":"rebuilding","drive":"ld1"}],
            "environment":[{"name":"Battery","kind":"battery","reading":"100%","alarm":null}]},
            "last_events":["#3 1795724922.776 grant store generation and holder generation=4 holder=node-b"]}"##,
        )
        .unwrap();
        let text = render_status(&v);
        assert!(text.contains("generation 4  holder node-b"), "{text}");
        assert!(!text.contains("MAINTENANCE"), "{text}");
        let mut m = v.clone();
        m["authority"]["maintenance"] = Value::Bool(true);
        assert!(render_status(&m).contains("*** MAINTENANCE:"), "{}", render_status(&m));
        assert!(
            text.contains("Array (areca on /dev/ttyS2): console answering, last answered 800 ms ago"),
            "{text}"
        );
        assert!(text.contains("drive ld1      RAID5    REBUILDING 40%"), "{text}");
        assert!(text.contains("disk  e1/s2    rebuilding     drive ld1"), "{text}");
        assert!(text.contains("grant store generation"), "{text}");
    }
}

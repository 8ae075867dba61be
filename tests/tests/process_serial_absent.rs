//! A serial link whose device cannot be opened is a link that is down, nothing more: the
//! member stays up, its loop does not stall, its other links carry the heartbeats, the status
//! shows the link down with the reason, and the open is retried on a backed-off schedule
//! (1 s doubling to 30 s), logged once, not every second.
//!
//! node-a is restarted with its two serial links (1 to the witness, 3 to node-b) naming
//! devices that cannot be serial ports: a tty with no UART behind it (`uart:unknown` in
//! `/proc/tty/driver/serial`) when this machine has one, a FIFO nobody writes to (opening it
//! for reading would block), and a path that does not exist. Its UDP links (11, 13) stay.
//! (Before the fix each open was retried every 1000 ms for ever: about ten attempts in the
//! window below instead of four.)
//!
//! Run with:
//!
//! ```text
//! cargo build -p ha-agent && cargo test -p ha-tests --test process_serial_absent -- --nocapture
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ha_tests::harness::{link_entry, link_state, member_state, Rack};
use serde_json::Value;

/// Waits for state changes; only reached when something is broken.
const WAIT: Duration = Duration::from_secs(30);
/// How long node-a runs with the broken serial links before the attempts are counted: opens
/// are due at 0, 1, 3 and 7 s from its start (the fifth at 15 s), so four attempts each.
const WINDOW: Duration = Duration::from_millis(10_000);
/// Attempts expected in [`WINDOW`] by the backoff, with one either side for scheduling slack;
/// a retry every second would make ten or eleven.
const ATTEMPTS_MIN: usize = 3;
const ATTEMPTS_MAX: usize = 5;
/// The longest loop iteration allowed (`stalls.busy_max_us`): opening must never block it.
const BUSY_MAX_US: u64 = 250_000;

/// A tty of this machine with no UART behind it, if there is one.
fn tty_without_uart() -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/tty/driver/serial").ok()?;
    text.lines().find_map(|line| {
        let (index, rest) = line.split_once(':')?;
        let index: u32 = index.trim().parse().ok()?;
        if !rest.trim_start().starts_with("uart:unknown") {
            return None;
        }
        let path = PathBuf::from(format!("/dev/ttyS{index}"));
        path.exists().then_some(path)
    })
}

/// `text` (a member's configuration) with the `device` of links `id` replaced.
fn with_devices(text: &str, devices: &[(u8, &Path)]) -> String {
    let mut out = String::new();
    let mut link: Option<u8> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed == "[[links]]" {
            link = None;
        } else if let Some(id) = trimmed.strip_prefix("id = ") {
            link = link.or_else(|| id.parse().ok());
        }
        match devices.iter().find(|(id, _)| Some(*id) == link) {
            Some((_, device)) if trimmed.starts_with("device = ") => {
                out.push_str(&format!("device = {:?}\n", device.display().to_string()));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn log_since(rack: &Rack, member: &str, from: usize) -> String {
    let text = fs::read_to_string(rack.dir().join(format!("{member}.log"))).unwrap_or_default();
    text.get(from..).unwrap_or_default().to_string()
}

fn down_with(status: &Value, id: u8, reason: &str) -> Result<(), String> {
    let link = link_entry(status, id).ok_or(format!("no link {id} in node-a's status"))?;
    let note = link["note"].as_str().unwrap_or("");
    if link["state"] != "down" || link["open"] != false || !note.contains(reason) || !note.contains("next in")
    {
        return Err(format!("link {id} is not shown down with {reason:?}: {link}"));
    }
    Ok(())
}

#[test]
fn serial_links_that_cannot_open_are_down_backed_off_and_harm_nothing_else() {
    let rack = Rack::builder("serial-absent")
        .env("node-a", "HA_AGENT_LOG", "debug")
        .start()
        .unwrap_or_else(|error| panic!("{error}"));
    rack.wait_for(WAIT, || rack.everything_up())
        .unwrap_or_else(|problem| panic!("the cluster did not form: {problem}\n{}", rack.table()));

    let fifo = rack.dir().join("heartbeat-fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    let missing = rack.dir().join("no-such-dir/ttyS9");
    // Link 1 on a tty without a UART where there is one, else the FIFO; link 3 on the FIFO or
    // the missing path.
    let (one, one_reason, three, three_reason) = match tty_without_uart() {
        Some(tty) => (tty, "I/O error", fifo.clone(), "not a serial port"),
        None => (fifo.clone(), "not a serial port", missing.clone(), "No such file"),
    };
    println!(
        "node-a: link 1 on {} ({one_reason}), link 3 on {} ({three_reason})",
        one.display(),
        three.display()
    );

    let config = rack.config_path("node-a");
    let text = fs::read_to_string(&config).unwrap();
    let changed = with_devices(&text, &[(1, &one), (3, &three)]);
    assert!(changed.contains(&format!("{:?}", one.display().to_string())), "{changed}");
    assert!(changed.contains(&format!("{:?}", three.display().to_string())), "{changed}");
    fs::write(&config, changed).unwrap();
    let log_from = fs::metadata(rack.dir().join("node-a.log")).map(|m| m.len() as usize).unwrap_or(0);
    rack.restart("node-a").unwrap();
    let restarted = Instant::now();

    // node-a comes up and reaches both members over UDP; its serial links, silent, are declared
    // down once `initdead_ms` has passed.
    let took = rack
        .wait_for(WAIT, || {
            rack.try_status("node-a").is_ok_and(|s| {
                ["witness", "node-b"].iter().all(|m| member_state(&s, m) == Some("reachable"))
                    && [11, 13].iter().all(|&id| link_state(&s, id) == Some("up"))
                    && [1, 3].iter().all(|&id| link_state(&s, id) == Some("down"))
            })
        })
        .unwrap_or_else(|problem| panic!("node-a did not come up on UDP: {problem}\n{}", rack.table()));
    println!(
        "node-a reaches both members over UDP, its serial links down (initdead), {:.1} s after its restart",
        took.as_secs_f64()
    );

    // For the rest of the window: serial links down with their reasons, UDP links up, both
    // members reachable, the loop never held up.
    let checks = rack
        .hold(WINDOW.saturating_sub(restarted.elapsed()), || {
            let s = rack.try_status("node-a")?;
            down_with(&s, 1, one_reason)?;
            down_with(&s, 3, three_reason)?;
            for id in [11, 13] {
                if link_state(&s, id) != Some("up") {
                    return Err(format!("UDP link {id} is {:?}", link_state(&s, id)));
                }
            }
            for m in ["witness", "node-b"] {
                if member_state(&s, m) != Some("reachable") {
                    return Err(format!("{m} is {:?} from node-a", member_state(&s, m)));
                }
            }
            Ok(())
        })
        .unwrap_or_else(|problem| panic!("{problem}\n{}", rack.table()));
    let status = rack.status("node-a");
    let stalls = &status["stalls"];
    println!("after {:.1} s ({checks} checks): node-a stalls {stalls}", restarted.elapsed().as_secs_f64());
    for id in [1, 3] {
        println!("  link {id}: {}", link_entry(&status, id).unwrap()["note"]);
    }
    let busy_us = stalls["busy_max_us"].as_u64().unwrap();
    assert!(busy_us < BUSY_MAX_US, "a loop iteration took {busy_us} us (bound {BUSY_MAX_US})");
    let late_ms = stalls["max_ms"].as_u64().unwrap();
    assert!(late_ms < rack.timing().dead_ms, "the loop woke {late_ms} ms late");
    for id in [11, 13] {
        let frames = link_entry(&status, id).unwrap()["frames_in"].as_u64().unwrap();
        assert!(frames > 0, "UDP link {id} carried no heartbeats");
    }

    // Retries backed off (counted from node-a's debug log), the warning logged once per link.
    let log = log_since(&rack, "node-a", log_from);
    for device in [&one, &three] {
        let name = format!("serial {}", device.display());
        let attempts = log.lines().filter(|l| l.contains(&format!("{name}: open attempt"))).count();
        let warnings = log.lines().filter(|l| l.contains(&format!("{name}: cannot open"))).count();
        println!(
            "{name}: {attempts} open attempts in {:.1} s, {warnings} warning(s)",
            restarted.elapsed().as_secs_f64()
        );
        assert!(
            (ATTEMPTS_MIN..=ATTEMPTS_MAX).contains(&attempts),
            "{name}: {attempts} open attempts in {WINDOW:?}, expected {ATTEMPTS_MIN}..={ATTEMPTS_MAX} (1 s doubling)\n{log}"
        );
        assert_eq!(warnings, 1, "{name}: the failure is logged once, not per attempt\n{log}");
    }
    assert!(rack.is_running("node-a"));
}

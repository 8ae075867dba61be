//! End to end: what the running agents see reaches net-snmp's real `snmptrapd` as informs.
//!
//! Three real `ha-agent` processes; the witness watches a RAID controller simulator (Areca
//! dialect on a pty) and sends SNMPv2c informs to snmptrapd on loopback. Shows: the agent's
//! start is notified; a disk failure in the controller reaches the receiver as a named
//! notification; a relay board that stops answering its health checks is notified; a member
//! that disappears is notified as down. The time from the simulator
//! failing a disk to snmptrapd logging the trap is printed.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ha_agent::snmp::mib::Notification;
use ha_agent::snmp::queue_store;
use ha_tests::console_sim::{ConsoleSim, SimDialect};
use ha_tests::harness::Rack;
use ha_tests::topology::Toml;

/// Bound on the wait for `status --watch` to have drawn the whole status in tmux.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `status --watch` runs before its screen is judged: two redraws (one a second).
const TWO_REDRAWS: Duration = Duration::from_millis(2500);
/// Bound on the wait for a notification to be in the witness's durable queue of informs.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

struct Trapd {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Trapd {
    fn start(port: u16) -> Trapd {
        let status = Command::new("bash").arg(repo_root().join("scripts/fetch-base-mibs.sh")).status();
        assert!(status.is_ok_and(|s| s.success()), "fetching the base MIBs failed: run `make setup`");
        let dir = std::env::temp_dir().join(format!("ha-notify-trapd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("snmptrapd.conf");
        std::fs::write(&conf, "authCommunity log public\n").unwrap();
        let mibs =
            format!("{}:{}", repo_root().join("out/mibs").display(), repo_root().join("agent/mib").display());
        let mut child = Command::new("snmptrapd")
            .env("SNMP_PERSISTENT_DIR", dir.join("persist"))
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&conf)
            .arg("-n")
            .args(["-M", &mibs, "-m", "RACK-HA-MIB:SNMPv2-MIB"])
            .arg(format!("udp:127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("snmptrapd missing: run `make setup` (Debian package snmptrapd)");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let t = Trapd { child, lines };
        t.wait_for("NET-SNMP version", Duration::from_secs(10)).expect("snmptrapd did not start");
        t
    }

    fn wait_for(&self, needle: &str, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.lines.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Trapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn cluster_and_array_events_reach_snmptrapd_as_named_informs() {
    let port = free_udp_port();
    let trapd = Trapd::start(port);
    let console = ConsoleSim::start(SimDialect::Areca, None).expect("console simulator");
    let mut witness = Toml::new();
    witness
        .snmp_v2c_nms(&format!("127.0.0.1:{port}"), "inform")
        .table("relay")
        .number("health_interval_ms", 1000)
        .number("health_failures_before_alarm", 2);
    for node in ["node-a", "node-b"] {
        witness.command_channel(node, "@DIR@/dead-board", node);
    }
    witness.areca_array(&console.path().to_string_lossy(), 1000, 800);
    let witness_extra = witness.extra();
    // A relay board that no longer answers: every command fails.
    let rack = Rack::builder("notify")
        .extra("witness", &witness_extra)
        .start_with(|dir| {
            ha_tests::fixtures::write_script(&dir.join("dead-board"), "#!/bin/sh\ncat >/dev/null\nexit 1\n")
        })
        .unwrap_or_else(|e| panic!("rack: {e}"));
    rack.wait_for(Duration::from_secs(20), || rack.everything_up())
        .unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));

    trapd
        .wait_for("rackHaAgentStarted", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no agent-started inform:\n{}", trapd.text()));

    // The array was read at least once (the witness's status shows it), then a disk fails.
    rack.wait_for(Duration::from_secs(15), || {
        rack.try_status("witness")
            .is_ok_and(|s| s["array"]["drives"].as_array().is_some_and(|d| !d.is_empty()))
    })
    .unwrap_or_else(|e| panic!("the witness never read the array: {e}\n{}", rack.status("witness")));
    let array = rack.status("witness")["array"].clone();
    assert_eq!(array["survivable_failures"], 1, "a healthy RAID 5 survives one failure: {array}");
    let failed_at = Instant::now();
    console.with_array(|a| a.fail_disk(1));
    let took = trapd
        .wait_for("rackHaDiskFailed", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no disk-failed inform:\n{}", trapd.text()));
    let _ = took;
    // The degraded RAID 5 survives no more failure: the station hears it, status says it.
    trapd
        .wait_for("rackHaRedundancyLost", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no redundancy-lost inform:\n{}", trapd.text()));
    let array = rack.status("witness")["array"].clone();
    assert_eq!(array["survivable_failures"], 0, "{array}");
    assert_eq!(array["drives"][0]["survivable_failures"], 0, "{array}");
    println!(
        "array_event_to_trap_ms: {} (simulator fails a disk -> snmptrapd logs the inform)",
        failed_at.elapsed().as_millis()
    );

    // The broken fence device is known before it is needed.
    trapd
        .wait_for("rackHaRelayBoardUnreachable", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no relay-board-unreachable inform:\n{}", trapd.text()));

    // The operator's status screen, in a real terminal emulator of 80x24 (tmux): three
    // members, their links and the array fit, nothing wraps, nothing scrolls off.
    status_fits_an_80x24_console(&rack);

    // Maintenance mode on and off is notified.
    for (verb, trap) in [("on", "rackHaMaintenanceOn"), ("off", "rackHaMaintenanceOff")] {
        let out = Command::new(ha_tests::harness::agent_binary().unwrap())
            .args(["maintenance", verb, "--config"])
            .arg(rack.config_path("witness"))
            .output()
            .unwrap();
        assert!(out.status.success(), "maintenance {verb}: {}", String::from_utf8_lossy(&out.stderr));
        trapd
            .wait_for(trap, Duration::from_secs(15))
            .unwrap_or_else(|| panic!("no {trap} inform:\n{}", trapd.text()));
    }

    // A member going away is notified too.
    rack.kill("node-b");
    trapd
        .wait_for("rackHaMemberDown", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no member-down inform:\n{}", trapd.text()));
    let text = trapd.text();
    println!(
        "snmptrapd logged:\n{}",
        text.lines().filter(|l| l.contains("rackHa")).take(20).collect::<Vec<_>>().join("\n")
    );
    assert!(text.contains("node-b"), "the member-down notification names node-b:\n{text}");
}

/// `ha-agent status --watch` in a detached tmux session of 80 columns and 24 rows: the
/// captured screen must hold every line of the status exactly (no wrapped line, the first
/// line not scrolled away), including the members, every link and the array.
fn status_fits_an_80x24_console(rack: &Rack) {
    let session = format!("ha-status-{}", std::process::id());
    let agent = ha_tests::harness::agent_binary().unwrap();
    let command =
        format!("{} status --watch --config {}", agent.display(), rack.config_path("witness").display());
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output();
    let started = tmux(&["new-session", "-d", "-s", &session, "-x", "80", "-y", "24", &command]);
    match started {
        Ok(o) if o.status.success() => {}
        other => panic!("tmux missing or failing (run `make setup`, package tmux): {other:?}"),
    }
    // The screen is judged after two redraws (`--watch` redraws every second: a screen that
    // scrolls shows it by then), once the whole status is on it (the first draw comes when the
    // command has started and asked the agent), at most SCREEN_TIMEOUT; the checks below say
    // what the last capture showed.
    let needles = [
        "Members: node-a",
        "node-b",
        "id peer",
        "Service: holder",
        "Fence devices:",
        "Array (areca on ",
        "disks: ",
    ];
    let link_rows = |rows: &[&str]| {
        rows.iter().filter(|r| r.contains(" UP ") || r.contains(" DOWN ") || r.contains(" WARN ")).count()
    };
    let complete = |screen: &str| {
        let rows: Vec<&str> = screen.lines().collect();
        rows.len() <= 24
            && rows.first().is_some_and(|r| r.starts_with("Cluster "))
            && needles.iter().all(|n| screen.contains(n))
            && link_rows(&rows) >= 4
    };
    let started = Instant::now();
    let screen = loop {
        let shot = tmux(&["capture-pane", "-p", "-t", &session]).expect("tmux capture-pane");
        let screen = String::from_utf8_lossy(&shot.stdout).to_string();
        if (started.elapsed() >= TWO_REDRAWS && complete(&screen)) || started.elapsed() >= SCREEN_TIMEOUT {
            break screen;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = tmux(&["kill-session", "-t", &session]);
    println!("80x24 console: captured {:?} after the start of `status --watch`", started.elapsed());
    let rows: Vec<&str> = screen.lines().collect();
    assert!(rows.len() <= 24, "more than 24 rows captured:\n{screen}");
    assert!(
        rows.first().is_some_and(|r| r.starts_with("Cluster ")),
        "the first line scrolled away:\n{screen}"
    );
    let text = screen.as_str();
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not on the 80x24 screen:\n{screen}");
    }
    let links = link_rows(&rows);
    assert!(links >= 4, "every link of the witness on screen (found {links}):\n{screen}");
    // Compare with the plain rendering: each of its lines is one whole row of the screen.
    let out =
        Command::new(&agent).args(["status", "--config"]).arg(rack.config_path("witness")).output().unwrap();
    let plain = String::from_utf8_lossy(&out.stdout).to_string();
    for line in plain.lines() {
        assert!(line.chars().count() <= 80, "a status line is wider than 80 columns: {line:?}");
    }
    assert!(plain.lines().count() <= 24, "the status is longer than 24 lines:\n{plain}");
    println!("80x24 console (tmux capture):\n{screen}");
}

fn sequences(text: &str) -> Vec<u64> {
    let mut out: Vec<u64> = text
        .lines()
        .filter_map(|l| l.split("rackHaSequence.0 = Gauge32: ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

#[test]
fn informs_queued_while_the_receiver_is_down_survive_an_agent_restart_and_all_arrive() {
    let port = free_udp_port();
    let witness_extra = Toml::new().snmp_v2c_nms(&format!("127.0.0.1:{port}"), "inform").extra();
    let rack = Rack::builder("delivery")
        .extra("witness", &witness_extra)
        .start()
        .unwrap_or_else(|e| panic!("rack: {e}"));
    rack.wait_for(Duration::from_secs(20), || rack.everything_up())
        .unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));
    // Events while nobody listens: node-b goes away.
    rack.kill("node-b");
    rack.wait_for(Duration::from_secs(10), || {
        rack.try_status("witness").is_ok_and(|s| {
            s["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["name"] == "node-b" && m["state"] == "unreachable"))
        })
    })
    .unwrap();
    // The member-down inform must be in the witness's durable queue before the witness is
    // killed: the queue file is written by the agent's durable writer, after the event.
    let member_down = Notification::MemberDown { member: "node-b".into() }.oid();
    let state_dir = rack.dir().join("state-witness");
    let mut pending = 0;
    let took = rack
        .wait_for(QUEUE_TIMEOUT, || {
            let loaded = queue_store::load(&state_dir).unwrap_or_default();
            pending = loaded.image.informs.len();
            loaded.image.informs.iter().any(|i| i.trap_oid == member_down)
        })
        .unwrap_or_else(|e| {
            panic!("rackHaMemberDown never reached the witness's queue file ({pending} informs in it): {e}")
        });
    println!(
        "rackHaMemberDown stored in the witness's queue {took:?} after node-b was seen unreachable \
         ({pending} informs pending)"
    );
    // The agent restarts (its queue is on the data partition), then the receiver comes back.
    rack.restart("witness").unwrap();
    rack.wait_for(Duration::from_secs(10), || rack.try_status("witness").is_ok()).unwrap();
    let trapd = Trapd::start(port);
    let restarted_text = "agent witness started";
    let mut got = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(90) {
        got = sequences(&trapd.text());
        got.dedup();
        let contiguous = !got.is_empty() && got.iter().enumerate().all(|(i, &s)| s == i as u64 + 1);
        if contiguous
            && trapd.text().matches(restarted_text).count() >= 2
            && trapd.text().contains("rackHaMemberDown")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = trapd.text();
    let all = sequences(&text);
    let duplicates = all.len() - got.len();
    println!("informs received: {} distinct sequence numbers 1..={}, {duplicates} duplicates, in {:?} after the receiver came back", got.len(), got.last().copied().unwrap_or(0), start.elapsed());
    assert!(
        !got.is_empty() && got.iter().enumerate().all(|(i, &s)| s == i as u64 + 1),
        "a gap in the sequence numbers: {got:?}\n{text}"
    );
    assert!(
        text.contains("rackHaMemberDown"),
        "the event that happened while the receiver was down arrived:\n{text}"
    );
    assert!(
        text.matches(restarted_text).count() >= 2,
        "both starts of the agent arrived (before and after the restart):\n{text}"
    );
}

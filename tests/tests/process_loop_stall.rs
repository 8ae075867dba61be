//! A member whose loop stands still in the middle of an iteration does not take its own stall
//! for its peers' silence.
//!
//! node-b's loop is held between waking up and judging its links: its configuration file is
//! replaced by a FIFO and the agent told to reload (SIGHUP), so that reading the file blocks the
//! loop until the test writes it, three `dead_ms` later. Meanwhile the frames of node-a and the
//! witness queue up in node-b's sockets. Its peers rightly declare node-b unreachable (it sent
//! nothing for longer than `dead_ms`). node-b must read the queued frames, stamped with the time
//! it reads them, before its timers judge the links, and so declare nobody unreachable. (Before
//! the fix it read them with the time it had woken up, before the stall, and declared both
//! peers unreachable the moment the reload returned.)
//!
//! Run with:
//!
//! ```text
//! cargo build -p ha-agent && cargo test -p ha-tests --test process_loop_stall -- --nocapture
//! ```

use std::fs;
use std::io::Write;
use std::time::Duration;

use ha_tests::harness::Rack;
use rustix::process::{kill_process, Pid, Signal};

/// Waits for state changes; only reached when something is broken.
const WAIT: Duration = Duration::from_secs(30);
/// How long node-b's loop is held, in `dead_ms`.
const STALL_IN_DEAD_MS: u64 = 3;

fn log_since(rack: &Rack, member: &str, from: usize) -> String {
    let text = fs::read_to_string(rack.dir().join(format!("{member}.log"))).unwrap_or_default();
    text.get(from..).unwrap_or_default().to_string()
}

fn log_len(rack: &Rack, member: &str) -> usize {
    fs::metadata(rack.dir().join(format!("{member}.log"))).map(|m| m.len() as usize).unwrap_or(0)
}

#[test]
fn a_member_whose_loop_stood_still_reads_queued_frames_before_judging_its_peers() {
    let rack = Rack::builder("loop-stall").start().unwrap_or_else(|error| panic!("{error}"));
    rack.wait_for(WAIT, || rack.everything_up())
        .unwrap_or_else(|problem| panic!("the cluster did not form: {problem}\n{}", rack.table()));
    let dead_ms = rack.timing().dead_ms;

    // Hold node-b's loop: its configuration becomes a FIFO, and a reload reads it.
    let config = rack.config_path("node-b");
    let text = fs::read_to_string(&config).unwrap();
    let saved = config.with_extension("toml.saved");
    fs::rename(&config, &saved).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &config,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    let pid: i32 = fs::read_to_string(rack.dir().join("pid-node-b")).unwrap().trim().parse().unwrap();
    let (b_from, a_from) = (log_len(&rack, "node-b"), log_len(&rack, "node-a"));
    kill_process(Pid::from_raw(pid).unwrap(), Signal::HUP).expect("SIGHUP to node-b");
    std::thread::sleep(Duration::from_millis(STALL_IN_DEAD_MS * dead_ms));
    // Let it go: the agent's open of the FIFO returns once a writer opens it; it reads the same
    // configuration as before.
    fs::OpenOptions::new().write(true).open(&config).unwrap().write_all(text.as_bytes()).unwrap();
    // The status command reads the configuration too: the regular file goes back first.
    fs::remove_file(&config).unwrap();
    fs::rename(&saved, &config).unwrap();
    rack.wait_for(WAIT, || rack.everything_up())
        .unwrap_or_else(|problem| panic!("the cluster did not form again: {problem}\n{}", rack.table()));

    // The stall happened, and the peers saw node-b fall silent: the test held what it meant to.
    // Each agent's log is written by a thread of its own, so its lines are waited for.
    let logged = |member: &str, from: usize, needle: &str| {
        rack.wait_for(WAIT, || log_since(&rack, member, from).contains(needle))
            .map(|took| println!("{member} logged {needle:?} ({took:?} after the cluster formed again)"))
    };
    let b_busy = logged("node-b", b_from, "loop busy");
    let a_saw = logged("node-a", a_from, "membership node-b unreachable (was reachable)");
    let b_log = log_since(&rack, "node-b", b_from);
    let a_log = log_since(&rack, "node-a", a_from);
    println!("node-b:\n{b_log}\nnode-a:\n{a_log}");
    assert!(b_busy.is_ok(), "node-b's loop stood still: {b_busy:?}:\n{b_log}");
    assert!(
        a_saw.is_ok(),
        "node-a saw node-b silent for longer than dead_ms ({dead_ms} ms): {a_saw:?}:\n{a_log}"
    );
    // node-b itself declared nobody, and took no link down: the frames that waited in its
    // sockets counted, the old ones first and the newest last.
    assert!(
        !b_log.contains("unreachable (was reachable)") && !b_log.contains(" down (was "),
        "node-b took its own stall for its peers' silence:\n{b_log}"
    );
}

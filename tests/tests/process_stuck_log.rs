//! A member whose log output stands still keeps its place in the cluster.
//!
//! On the appliance the agent's stderr is a pipe to `logger` and syslogd; when they stop
//! reading (a hung syslogd, a console draining a burst) the pipe fills. Here node-a's stdout and
//! stderr are a pipe of one page that the test fills before the agent starts and does not read
//! until the end. The agent must still form the cluster, judge its peers and count noise, while
//! every line it logs is queued or dropped; once the test reads the pipe, the lines come out and
//! the gap is reported.
//!
//! Run with:
//!
//! ```text
//! cargo build -p ha-agent && cargo test -p ha-tests --test process_stuck_log -- --nocapture
//! ```

use std::io::Read;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use ha_tests::cable::{Direction, XorShift};
use ha_tests::harness::{link_counter, member_state, Rack};
use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
use rustix::pipe::{fcntl_setpipe_size, pipe_with, PipeFlags};

/// Random datagrams injected towards node-a: each is logged (at debug) as malformed, more
/// than the agent's log queue holds (`MAX_QUEUED_LINES`, 128).
const NOISE_DATAGRAMS: usize = 400;
/// Waits for state changes; only reached when something is broken.
const WAIT: Duration = Duration::from_secs(30);

/// A pipe of one page whose write end is full: a write to it blocks until the read end is read.
fn full_pipe() -> (OwnedFd, OwnedFd) {
    let (read_end, write_end) = pipe_with(PipeFlags::CLOEXEC).expect("pipe");
    let size = fcntl_setpipe_size(&write_end, 4096).expect("F_SETPIPE_SZ");
    let flags = fcntl_getfl(&write_end).expect("F_GETFL");
    fcntl_setfl(&write_end, flags | OFlags::NONBLOCK).expect("F_SETFL");
    let filler = vec![b'#'; size];
    let mut written = 0;
    while let Ok(n) = rustix::io::write(&write_end, &filler) {
        written += n;
    }
    assert!(written >= size, "filled {written} of {size} bytes");
    // The agent's descriptor shares this file description: it must block as a real pipe would.
    fcntl_setfl(&write_end, flags).expect("F_SETFL");
    fcntl_setfl(&read_end, fcntl_getfl(&read_end).expect("F_GETFL") | OFlags::NONBLOCK).expect("F_SETFL");
    (read_end, write_end)
}

/// Read what is in the pipe now (the read end is non-blocking).
fn read_available(read_end: &mut std::fs::File, into: &mut Vec<u8>) {
    let mut buf = [0u8; 65536];
    while let Ok(n) = read_end.read(&mut buf) {
        if n == 0 {
            break;
        }
        into.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn a_member_whose_log_output_stands_still_keeps_heartbeating_and_reports_the_gap() {
    let (read_end, write_end) = full_pipe();
    let rack = Rack::builder("stuck-log")
        .log_level("debug")
        .output("node-a", write_end)
        .start()
        .unwrap_or_else(|error| panic!("{error}"));

    // 1. The cluster forms although node-a cannot write a single log line.
    rack.wait_for(WAIT, || rack.everything_up()).unwrap_or_else(|problem| {
        panic!("the cluster did not form around node-a's stuck log: {problem}\n{}", rack.table())
    });
    println!("formed with node-a's log output full:\n{}", rack.table());

    // 2. Noise towards node-a makes it log a line per datagram; its loop counts every one.
    let was = link_counter(&rack.status("node-a"), 11, "malformed").unwrap_or(0);
    let mut rng = XorShift::new(0x51ce_10c5);
    for _ in 0..NOISE_DATAGRAMS {
        assert!(rack.cable(11).inject(Direction::AToB, &rng.bytes(80)));
        std::thread::sleep(Duration::from_micros(500));
    }
    rack.wait_for(WAIT, || {
        rack.try_status("node-a").is_ok_and(|s| {
            link_counter(&s, 11, "malformed").unwrap_or(0)
                + link_counter(&s, 11, "auth_failures").unwrap_or(0)
                >= was + NOISE_DATAGRAMS as u64
        })
    })
    .unwrap_or_else(|problem| panic!("node-a did not count the noise: {problem}\n{}", rack.table()));

    // 3. It still judges its peers: node-b's agent dies, node-a declares it unreachable.
    rack.kill("node-b");
    rack.wait_for(WAIT, || {
        rack.try_status("node-a").is_ok_and(|s| member_state(&s, "node-b") == Some("unreachable"))
    })
    .unwrap_or_else(|problem| panic!("node-a did not notice node-b's death: {problem}\n{}", rack.table()));
    // ... and the witness never lost node-a meanwhile.
    let witness = rack.status("witness");
    assert_eq!(member_state(&witness, "node-a"), Some("reachable"), "{}", rack.table());
    for id in ha_tests::harness::links_of("node-a") {
        if ha_tests::harness::link_plan(id).touches("witness") {
            for member in ["node-a", "witness"] {
                let downs = link_counter(&rack.status(member), id, "downs").unwrap_or(u64::MAX);
                assert_eq!(
                    downs,
                    0,
                    "{member}: link {id} went down while node-a's log stood still\n{}",
                    rack.table()
                );
            }
        }
    }

    // Status shows the loss while the output stands still.
    let log_queue = &rack.status("node-a")["log_queue"];
    assert!(log_queue["dropped"].as_u64().is_some_and(|n| n > 0), "log_queue: {log_queue}");
    assert!(log_queue["waiting"].as_u64().is_some_and(|n| n > 0), "log_queue: {log_queue}");
    assert_eq!(rack.status("witness")["log_queue"]["dropped"].as_u64(), Some(0), "{}", rack.table());

    // 4. The output moves again: the queued lines come out, then the count of the dropped ones,
    //    then new lines (node-b's return).
    let mut read_end = std::fs::File::from(read_end);
    let mut out = Vec::new();
    read_available(&mut read_end, &mut out);
    rack.restart("node-b").expect("restart node-b");
    let started = Instant::now();
    let notice = "log lines dropped: the log output stood still)";
    let complete = |text: &str| text.find(notice).is_some_and(|at| text[at..].contains("node-b"));
    while started.elapsed() < WAIT && !complete(&String::from_utf8_lossy(&out)) {
        std::thread::sleep(Duration::from_millis(50));
        read_available(&mut read_end, &mut out);
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let at = text.find(notice).unwrap_or_else(|| panic!("no drop notice in node-a's output:\n{text}"));
    let count: u64 = text[..at]
        .rsplit("(ha-agent: ")
        .next()
        .and_then(|n| n.trim().split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in the notice:\n{text}"));
    println!(
        "node-a wrote {} lines after its output moved again; the notice counts {count} dropped",
        lines.len()
    );
    assert!(count > 0, "{text}");
    // Every dropped line is counted in status (the notice counts one gap; more may follow).
    let dropped = rack.status("node-a")["log_queue"]["dropped"].as_u64().unwrap_or(0);
    assert!(dropped >= count, "status counts {dropped} dropped lines, the notice {count}");
    assert!(
        text[at..].contains("node-b"),
        "node-a logged nothing about node-b's return after the notice:\n{}",
        &text[at..]
    );
    // The first lines are the agent's start, in order, each complete.
    assert!(lines.first().is_some_and(|l| l.contains("node-a")), "{text}");
    assert!(lines.iter().all(|l| l.contains(" node-a ") || l.starts_with("(ha-agent: ")), "{text}");
}

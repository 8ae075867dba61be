//! `make demo`: three real agents on this machine, joined by pty serial cables and UDP paths
//! through the fault-injecting proxy, and a running table of what each member sees while cables
//! are cut, healed and fed garbage.
//!
//! Exits 0 when every expected state was reached within its timeout, 1 otherwise (then it
//! prints the agents' log tails and keeps the rack directory). Needs the agent binary: run
//! `cargo build -p ha-agent` first (or set `HA_AGENT_BIN`).

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use ha_tests::cable::{Direction, XorShift};
use ha_tests::harness::{
    link_counter, link_state, member_state, render_table, sees_everything_up, Rack, Timing, POLL_INTERVAL,
};
use serde_json::Value;

/// Every member's status at one moment (an error when a member did not answer).
type Snapshot = Vec<(&'static str, Result<Value, String>)>;

fn status_of<'a>(snapshot: &'a Snapshot, member: &str) -> Option<&'a Value> {
    snapshot.iter().find(|(name, _)| *name == member).and_then(|(_, status)| status.as_ref().ok())
}

fn everything_up(snapshot: &Snapshot) -> bool {
    snapshot
        .iter()
        .all(|(member, status)| status.as_ref().is_ok_and(|status| sees_everything_up(member, status)))
}

fn sum(snapshot: &Snapshot, member: &str, link: u8, fields: &[&str]) -> u64 {
    status_of(snapshot, member)
        .map(|status| fields.iter().filter_map(|field| link_counter(status, link, field)).sum())
        .unwrap_or(0)
}

fn banner(text: &str) {
    println!("\n== {text} ==");
}

/// Watch the rack until `expected` holds, printing the table whenever it changes. Fails with
/// `what` when `timeout` passes first.
fn expect(
    rack: &Rack,
    what: &str,
    timeout: Duration,
    expected: impl Fn(&Snapshot) -> bool,
) -> Result<(), String> {
    println!("   waiting for: {what} (up to {} ms)", timeout.as_millis());
    let start = Instant::now();
    let mut shown = String::new();
    loop {
        let snapshot = rack.statuses();
        let table = render_table(&snapshot);
        if table != shown {
            println!("   [+{:>5} ms]\n{table}", start.elapsed().as_millis());
            shown = table;
        }
        rack.check_running()?;
        if expected(&snapshot) {
            println!("   ok: {what} after {} ms", start.elapsed().as_millis());
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(format!("not reached within {} ms: {what}", timeout.as_millis()));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

fn script(rack: &Rack) -> Result<(), String> {
    let timing: Timing = rack.timing();
    let change = Duration::from_millis(timing.dead_ms * 2 + 5_000);

    banner("start: waiting for all six links (serial 1-3, udp 11-13) and all members");
    expect(
        rack,
        "every link up, every member reachable",
        Duration::from_millis(timing.initdead_ms + 10_000),
        everything_up,
    )?;

    banner("cutting serial link 1 (witness <-> node-a)");
    rack.cable(1).cut();
    expect(
        rack,
        "link 1 down on witness and node-a; node-a still reachable over udp 11",
        change,
        |snapshot| {
            ["witness", "node-a"]
                .iter()
                .all(|member| status_of(snapshot, member).is_some_and(|s| link_state(s, 1) == Some("down")))
                && status_of(snapshot, "witness")
                    .is_some_and(|s| member_state(s, "node-a") == Some("reachable"))
        },
    )?;

    banner("healing serial link 1");
    rack.heal_all();
    expect(rack, "every link up again", change, everything_up)?;

    banner("isolating node-a (cutting links 1, 3, 11 and 13)");
    rack.isolate("node-a");
    expect(
        rack,
        "witness and node-b see node-a unreachable; they still reach each other",
        change,
        |snapshot| {
            ["witness", "node-b"].iter().all(|member| {
                status_of(snapshot, member).is_some_and(|s| member_state(s, "node-a") == Some("unreachable"))
            }) && status_of(snapshot, "witness")
                .is_some_and(|s| member_state(s, "node-b") == Some("reachable"))
        },
    )?;

    banner("healing node-a's links");
    rack.heal_all();
    expect(rack, "every link up again", change, everything_up)?;

    banner("injecting garbage towards node-b: 5 noise frames on serial 2, 5 random datagrams on udp 12");
    let before = rack.statuses();
    let noise_before = sum(&before, "node-b", 2, &["crc_errors", "malformed"]);
    let datagrams_before = sum(&before, "node-b", 12, &["malformed", "auth_failures"]);
    let mut rng = XorShift::new(0x00de_0000);
    for _ in 0..5 {
        let mut frame = vec![0u8];
        frame.extend(rng.bytes(64).into_iter().map(|byte| byte.max(1)));
        frame.push(0);
        let _ = rack.cable(2).inject(Direction::AToB, &frame);
        let _ = rack.cable(12).inject(Direction::AToB, &rng.bytes(80));
    }
    expect(
        rack,
        "node-b counts the garbage (serial 2 crc/malformed, udp 12 malformed/auth) and every link stays up",
        change,
        |snapshot| {
            sum(snapshot, "node-b", 2, &["crc_errors", "malformed"]) > noise_before
                && sum(snapshot, "node-b", 12, &["malformed", "auth_failures"]) > datagrams_before
                && everything_up(snapshot)
        },
    )?;
    let after = rack.statuses();
    println!(
        "   node-b serial 2 crc_errors+malformed: {} -> {}; udp 12 malformed+auth_failures: {} -> {}",
        noise_before,
        sum(&after, "node-b", 2, &["crc_errors", "malformed"]),
        datagrams_before,
        sum(&after, "node-b", 12, &["malformed", "auth_failures"])
    );

    banner("holding for one detection period: nothing may go down");
    let hold = Duration::from_millis(timing.dead_ms + 2 * timing.interval_ms);
    let start = Instant::now();
    while start.elapsed() < hold {
        let snapshot = rack.statuses();
        if !everything_up(&snapshot) {
            println!("{}", render_table(&snapshot));
            return Err("a link or member went down after the garbage".to_string());
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    println!("{}", render_table(&rack.statuses()));
    Ok(())
}

fn run() -> Result<(), String> {
    banner("starting three agents: witness, node-a, node-b");
    let mut rack = Rack::builder("demo").start()?;
    println!("   rack directory (configs, key, logs): {}", rack.dir().display());
    let outcome = script(&rack);
    banner("stopping the agents");
    let mut problems = Vec::new();
    for (member, exit) in rack.shutdown() {
        match exit {
            Ok(exit) if exit.success() => println!("   {member} exited cleanly"),
            Ok(exit) => problems.push(format!("{member} exited with {exit}")),
            Err(problem) => problems.push(format!("{member}: {problem}")),
        }
    }
    for problem in &problems {
        println!("   {problem}");
    }
    let outcome = outcome.and_then(|()| if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) });
    if outcome.is_err() {
        rack.print_tails();
        rack.keep_dir();
        println!("   rack directory kept: {}", rack.dir().display());
    }
    outcome
}

/// Act two: the protected service. Nodes run a shell-script service; the witness fences
/// through a fence-agents style relay stand-in that "cuts the power" by killing the node's
/// agent and service.
fn service_act() -> Result<(), String> {
    use ha_tests::fixtures::{failover_rack, kill_pid, resources_state, service_pid};
    banner("act two: the protected service (shell-script resources, relay stand-in)");
    let rack = failover_rack("demo-service")?;
    let holder = |r: &Rack| {
        r.try_status("witness").ok().and_then(|s| s["authority"]["holder"].as_str().map(str::to_string))
    };
    let generation =
        |r: &Rack| r.try_status("witness").ok().and_then(|s| s["authority"]["generation"].as_u64());
    let running = |r: &Rack, m: &str| {
        r.try_status(m).ok().and_then(|s| resources_state(&s)).as_deref() == Some("running")
    };
    let took = rack.wait_for(Duration::from_secs(20), || running(&rack, "node-a"))?;
    println!(
        "   cold start: the witness granted generation {} to {} ({} ms); node-b stands by",
        generation(&rack).unwrap_or(0),
        holder(&rack).unwrap_or_default(),
        took.as_millis()
    );
    banner("power cut of node-a: kill -9 of its agent and of its service");
    if let Some(pid) = service_pid(rack.dir(), "node-a") {
        kill_pid(pid);
    }
    let cut = Instant::now();
    rack.kill("node-a");
    rack.wait_for(Duration::from_secs(30), || running(&rack, "node-b"))?;
    println!(
        "   node-b runs the service under generation {} after {} ms (the witness fenced node-a through the relay first)",
        generation(&rack).unwrap_or(0),
        cut.elapsed().as_millis()
    );
    let fence_log = std::fs::read_to_string(rack.dir().join("fence.log")).unwrap_or_default();
    println!("   relay stand-in saw: {}", fence_log.lines().collect::<Vec<_>>().join(", "));
    rack.wait_for(Duration::from_secs(15), || rack.dir().join("on-node-a").exists())?;
    rack.restart("node-a")?;
    rack.wait_for(Duration::from_secs(15), || {
        rack.try_status("node-a").is_ok_and(|s| {
            s["members"].as_array().is_some_and(|m| m.iter().all(|m| m["state"] == "reachable"))
        })
    })?;
    std::thread::sleep(Duration::from_secs(2));
    if running(&rack, "node-a") {
        return Err("node-a ran the service again after it came back".into());
    }
    println!(
        "   node-a powered on again and rejoined in standby; the service stays on {}",
        holder(&rack).unwrap_or_default()
    );
    let ledger = std::fs::read_to_string(rack.dir().join("ledger")).unwrap_or_default();
    println!("   the service's own log (node, generation, action):");
    for line in ledger.lines() {
        println!("     {line}");
    }
    Ok(())
}

fn main() {
    if let Err(problem) = run().and_then(|()| service_act()) {
        eprintln!("demo FAILED: {problem}");
        std::process::exit(1);
    }
    banner("done: every expected state was reached");
}

//! PostgreSQL 15 under Debian's unmodified `resource-agents`: three real agents, each node in
//! its own network and mount namespace (see `ha_tests::pg`), a resource group of
//! `Filesystem` (ext4 on a loop device: the shared array), `IPaddr2` (the floating address)
//! and `pgsql` (the data directory on that file system), the agents at
//! /usr/lib/ocf/resource.d/heartbeat used as they are.
//!
//! Shows: the group starts on the granted node and only there (the array mounted in its mount
//! namespace alone, the address on its interface alone, the postmaster in its namespace); a
//! postmaster killed with SIGKILL is seen by the group's monitor and restarted locally (the
//! file system and the address stay); `ha-agent move node-b` moves it; a power cut of the
//! holder fails it over through the relay stand-in, and the node powered on again stays in
//! standby without touching the holder's mount. Throughout, a client commits numbered rows
//! through the floating address; afterwards every acknowledged row is in the table, and no
//! sample (every 50 ms) saw two postmasters on the data directory or the array mounted in two
//! mount namespaces. The client-visible outage of each event (longest gap between
//! acknowledgements) is printed.
//!
//! Needs root, `resource-agents` and PostgreSQL 15, so it is `#[ignore]`d in the process suite
//! and run by `make test-pgsql` (part of `make test`), where `HA_REQUIRE_PGSQL=1` turns a skip
//! for a missing prerequisite into a failure:
//!
//! ```text
//! cargo test -p ha-tests --test process_pgsql -- --ignored --nocapture
//! ```

use std::fs;
use std::time::{Duration, Instant};

use ha_tests::cable::set_proxy_realtime_priority;
use ha_tests::fixtures::{agent_command, resources_state};
use ha_tests::harness::{member_state, Rack, ShellOptions, Timing};
use ha_tests::pg::{longest_gap, mounted_in, Client, Kinds, PgRig, Sampler, Setup};
use serde_json::Value;

const ENV_REQUIRE: &str = "HA_REQUIRE_PGSQL";
/// Heartbeats: a second of silence is death (the machine is shared with PostgreSQL).
const TIMING: Timing = Timing { interval_ms: 100, warn_ms: 400, dead_ms: 1000, initdead_ms: 3000 };
/// The agents, cables and forwarders run at SCHED_FIFO, locked in memory, as in production
/// (docs/performance.md): the resource agents and PostgreSQL they start do not (the agent
/// drops its priority for its children), nor does the client.
const PRIORITY: u8 = 10;
/// Bound on the group starting (Filesystem, IPaddr2, pgsql with crash recovery) or moving.
const SERVICE_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound on the client's next acknowledgement once the service runs.
const ACK_TIMEOUT: Duration = Duration::from_secs(20);
/// Rows the client commits before the first event.
const WARM_UP_ROWS: usize = 20;
/// How long the powered-on node is watched staying in standby (an observation window).
const STANDBY_WATCH: Duration = Duration::from_secs(3);

fn running_on(rack: &Rack, member: &str) -> bool {
    rack.try_status(member).ok().and_then(|s| resources_state(&s)).as_deref() == Some("running")
}

fn witness_view(rack: &Rack) -> (String, u64) {
    let w = rack.try_status("witness").unwrap_or(Value::Null);
    (
        w["authority"]["holder"].as_str().unwrap_or("-").to_string(),
        w["authority"]["generation"].as_u64().unwrap_or(0),
    )
}

fn agent_pid(rack: &Rack, member: &str) -> i32 {
    fs::read_to_string(rack.dir().join(format!("pid-{member}")))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid file for {member}"))
}

fn net_ns(pid: i32) -> Option<std::path::PathBuf> {
    fs::read_link(format!("/proc/{pid}/ns/net")).ok()
}

fn log_len(rack: &Rack, member: &str) -> usize {
    fs::read_to_string(rack.dir().join(format!("{member}.log"))).map(|t| t.len()).unwrap_or(0)
}

fn log_since(rack: &Rack, member: &str, offset: usize) -> String {
    let text = fs::read_to_string(rack.dir().join(format!("{member}.log"))).unwrap_or_default();
    text.get(offset..).unwrap_or("").to_string()
}

/// Everything that says the group runs on `holder` and only there.
fn check_isolation(rack: &Rack, rig: &PgRig, holder: &str) -> Result<(), String> {
    let other = if holder == "node-a" { "node-b" } else { "node-a" };
    let holder_pid = agent_pid(rack, holder);
    if !rig.mounted_for(holder_pid) {
        return Err(format!("the array is not mounted in {holder}'s mount namespace"));
    }
    if rack.is_running(other) && rig.mounted_for(agent_pid(rack, other)) {
        return Err(format!("the array is mounted in {other}'s mount namespace"));
    }
    if mounted_in(std::process::id() as i32, &rig.mount) {
        return Err("a node's mount shows in the host's mount namespace".to_string());
    }
    if !rig.holds_vip(holder) || rig.holds_vip(other) || rig.host_has_vip() {
        return Err(format!(
            "the floating address {} is not on {holder} alone: {holder} {}, {other} {}, host {}",
            rig.vip,
            rig.holds_vip(holder),
            rig.holds_vip(other),
            rig.host_has_vip()
        ));
    }
    let postmasters = rig.postmasters();
    if postmasters.len() != 1 || net_ns(postmasters[0]) != net_ns(holder_pid) {
        return Err(format!("postmasters {postmasters:?}: want exactly one, in {holder}'s namespace"));
    }
    Ok(())
}

/// Waits for an acknowledgement that arrived after `after`; returns it.
fn next_ack(rack: &Rack, client: &Client, after: Instant) -> Instant {
    let mut seen = None;
    rack.wait_for(ACK_TIMEOUT, || {
        seen = client.last_ack().map(|(_, t)| t).filter(|t| *t > after);
        seen.is_some()
    })
    .unwrap_or_else(|e| {
        panic!("no acknowledgement: {e}; the client's latest errors: {:?}", client.last_errors())
    });
    seen.unwrap()
}

struct Event {
    what: &'static str,
    outage: Duration,
    restored: Duration,
}

#[test]
#[ignore = "needs root, resource-agents and PostgreSQL 15: make test-pgsql"]
fn postgresql_moves_restarts_and_fails_over_under_the_unmodified_resource_agents_and_loses_no_commit() {
    moves_restarts_and_fails_over(Kinds::Scripts);
}

/// The same group, parameters and events through the agent's built-in types
/// (`builtin:filesystem`, `builtin:ipaddr`, `builtin:pgsql`: mount, pg_ctl and netlink without a
/// shell script).
#[test]
#[ignore = "needs root and PostgreSQL 15: make test-pgsql"]
fn postgresql_moves_restarts_and_fails_over_under_the_built_in_types_and_loses_no_commit() {
    moves_restarts_and_fails_over(Kinds::Builtin);
}

fn moves_restarts_and_fails_over(kinds: Kinds) {
    let test_started = Instant::now();
    let rig = match PgRig::create() {
        Ok(rig) => rig,
        Err(Setup::Unavailable(reason)) => {
            if std::env::var(ENV_REQUIRE).as_deref() == Ok("1") {
                panic!("{ENV_REQUIRE}=1 but the PostgreSQL test cannot run: {reason} (make setup installs the packages; it needs root)");
            }
            eprintln!("SKIPPED: the PostgreSQL test needs root, resource-agents and PostgreSQL 15: {reason}");
            return;
        }
        Err(Setup::Failed(reason)) => panic!("building the namespaces, array and database failed: {reason}"),
    };
    println!(
        "rig: nodes in {} and {}, array {} on {}, floating address {}, {:?} to build",
        rig.netns[0],
        rig.netns[1],
        rig.loop_dev.as_deref().unwrap_or("?"),
        rig.mount.display(),
        rig.vip,
        test_started.elapsed()
    );

    set_proxy_realtime_priority(PRIORITY);
    let mut builder = Rack::builder("pgsql")
        .timing(TIMING)
        .shell(ShellOptions { mlockall: true, realtime_priority: PRIORITY })
        .extra("witness", &rig.witness_extra());
    for node in ["node-a", "node-b"] {
        builder = builder
            .extra(node, &rig.node_extra(node, kinds))
            .command_prefix(node, rig.command_prefix(node))
            .udp_end_map(node, rig.udp_end_map(node, PRIORITY));
    }
    let rack = builder.start().unwrap_or_else(|e| panic!("rack: {e}"));
    let sampler = Sampler::start(rig.pgdata(), rig.mount.clone());
    let mut events: Vec<Event> = Vec::new();

    // Cold start: the group runs on node-a, and only there.
    let started = Instant::now();
    rack.wait_for(SERVICE_TIMEOUT, || running_on(&rack, "node-a") && rig.query("SELECT 1").is_ok())
        .unwrap_or_else(|e| panic!("node-a never ran the group: {e}\n{}", rack.table()));
    println!(
        "cold start: node-a runs the group ({kinds:?}) {:?} after the agents started",
        started.elapsed()
    );
    let node_a = rack.status("node-a");
    let names: Vec<&str> = node_a["authority"]["resources"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["fs", "ip", "db"], "the group in start order: {node_a}");
    assert_eq!(witness_view(&rack).0, "node-a");
    assert_ne!(resources_state(&rack.status("node-b")).as_deref(), Some("running"));
    check_isolation(&rack, &rig, "node-a").unwrap_or_else(|e| panic!("cold start: {e}"));
    // The heartbeats cross into the namespaces on every link, serial and UDP.
    rack.wait_for(Duration::from_secs(15), || rack.everything_up())
        .unwrap_or_else(|e| panic!("not every link is up: {e}\n{}", rack.table()));

    let client = Client::start(rig.vip);
    rack.wait_for(ACK_TIMEOUT, || client.ack_count() >= WARM_UP_ROWS)
        .unwrap_or_else(|e| panic!("the client commits nothing: {e}; {:?}", client.last_errors()));
    println!("client: {} rows committed through {}", client.ack_count(), rig.vip);

    // SIGKILL of the postmaster: the monitor notices, pgsql alone restarts on node-a.
    let (_, generation) = witness_view(&rack);
    let postmaster = rig.postmasters()[0];
    let offset = log_len(&rack, "node-a");
    let killed = Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(postmaster).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let restored = rack
        .wait_for(SERVICE_TIMEOUT, || {
            rig.postmasters().iter().any(|p| *p != postmaster)
                && running_on(&rack, "node-a")
                && rig.query("SELECT 1").is_ok()
        })
        .unwrap_or_else(|e| panic!("pgsql was not restarted: {e}\n{}", rack.table()));
    let back = next_ack(&rack, &client, killed + restored);
    let outage = longest_gap(&client.ack_times(), killed, back).unwrap();
    let log = log_since(&rack, "node-a", offset);
    assert!(
        log.lines().any(|l| l.contains("resource node-a db: local restart")),
        "node-a's log shows the local restart of db:\n{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("resource node-a fs stopped") || l.contains("resource node-a ip stopped")),
        "the file system and the address stayed up:\n{log}"
    );
    assert_eq!(witness_view(&rack), ("node-a".to_string(), generation), "a local restart, no failover");
    check_isolation(&rack, &rig, "node-a").unwrap_or_else(|e| panic!("after the restart: {e}"));
    events.push(Event { what: "kill -9 of the postmaster (local restart)", outage, restored });
    println!(
        "postmaster {postmaster} killed: restarted on node-a after {restored:?}, client outage {outage:?}"
    );

    // ha-agent move node-b.
    let moved = Instant::now();
    let (code, text) = agent_command(&rack, "witness", &["move", "node-b"]);
    assert_eq!(code, 0, "move node-b: {text}");
    let restored = rack
        .wait_for(SERVICE_TIMEOUT, || {
            running_on(&rack, "node-b") && witness_view(&rack).0 == "node-b" && rig.query("SELECT 1").is_ok()
        })
        .unwrap_or_else(|e| panic!("the move did not happen: {e}\n{}", rack.table()));
    let back = next_ack(&rack, &client, moved + restored);
    let outage = longest_gap(&client.ack_times(), moved, back).unwrap();
    assert_ne!(resources_state(&rack.status("node-a")).as_deref(), Some("running"));
    check_isolation(&rack, &rig, "node-b").unwrap_or_else(|e| panic!("after the move: {e}"));
    events.push(Event { what: "ha-agent move node-b", outage, restored });
    println!("move node-b: running there after {restored:?}, client outage {outage:?}");

    // Power cut of the holder: the witness fences it through the relay, node-a takes over.
    let (_, generation) = witness_view(&rack);
    let cut = Instant::now();
    rack.kill("node-b");
    rig.power_off("node-b").unwrap_or_else(|e| panic!("power cut: {e}"));
    assert!(rig.processes_of("node-b").is_empty(), "nothing runs on node-b after its power cut");
    let restored = rack
        .wait_for(SERVICE_TIMEOUT, || {
            running_on(&rack, "node-a") && witness_view(&rack).0 == "node-a" && rig.query("SELECT 1").is_ok()
        })
        .unwrap_or_else(|e| panic!("node-a did not take over: {e}\n{}", rack.table()));
    let back = next_ack(&rack, &client, cut + restored);
    let outage = longest_gap(&client.ack_times(), cut, back).unwrap();
    let (_, failover_generation) = witness_view(&rack);
    assert!(failover_generation > generation, "a newer generation: {generation} -> {failover_generation}");
    assert!(
        rig.fence_log().lines().any(|l| l == "off node-b"),
        "the witness fenced node-b through the relay:\n{}",
        rig.fence_log()
    );
    check_isolation(&rack, &rig, "node-a").unwrap_or_else(|e| panic!("after the failover: {e}"));
    events.push(Event { what: "power cut of node-b (fenced, failover)", outage, restored });
    println!("power cut of node-b: node-a runs the group after {restored:?}, client outage {outage:?}");

    // The relay powers node-b on again; it boots (its group's boot-time stop runs in its own
    // namespaces) and stays in standby, and node-a's mount and address are untouched.
    rack.wait_for(Duration::from_secs(30), || rig.powered_on("node-b"))
        .unwrap_or_else(|e| panic!("node-b was not powered on again: {e}\n{}", rig.fence_log()));
    let postmaster = rig.postmasters();
    rack.restart("node-b").unwrap();
    rack.wait_for(Duration::from_secs(30), || {
        rack.try_status("witness").is_ok_and(|s| member_state(&s, "node-b") == Some("reachable"))
            && rack.try_status("node-b").ok().and_then(|s| resources_state(&s)).as_deref() == Some("stopped")
    })
    .unwrap_or_else(|e| panic!("node-b did not come back stopped: {e}\n{}", rack.table()));
    let booted = Instant::now();
    while booted.elapsed() < STANDBY_WATCH {
        rack.check_running().unwrap_or_else(|e| panic!("{e}"));
        assert!(!running_on(&rack, "node-b"), "node-b started the group\n{}", rack.table());
        check_isolation(&rack, &rig, "node-a")
            .unwrap_or_else(|e| panic!("{:?} after node-b came back: {e}", booted.elapsed()));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rig.postmasters(), postmaster, "node-a's PostgreSQL kept running");
    next_ack(&rack, &client, booted);
    assert_eq!(witness_view(&rack).0, "node-a");
    println!("node-b powered on again: stays in standby, node-a's array and address untouched");

    // Every acknowledged row is in the table.
    let log = client.finish();
    let mut rows = Err(String::new());
    rack.wait_for(SERVICE_TIMEOUT, || {
        rows = rig.query("SELECT n FROM acks ORDER BY n");
        rows.is_ok()
    })
    .unwrap_or_else(|e| panic!("reading the table: {e}: {rows:?}\n{}", rack.table()));
    let rows = rows.unwrap();
    let in_table: std::collections::HashSet<u64> =
        rows.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let lost: Vec<u64> = log.acks.iter().map(|(n, _)| *n).filter(|n| !in_table.contains(n)).collect();
    let servers = rig
        .query("SELECT count(DISTINCT server_started) FROM acks")
        .unwrap_or_else(|e| panic!("reading the table: {e}"));
    let samples = sampler.finish();
    println!(
        "client: {} rows acknowledged, {} attempts failed ({} timed out), {} rows in the table, written by {} server starts",
        log.acks.len(),
        log.failures,
        log.timeouts,
        in_table.len(),
        servers.trim()
    );
    println!(
        "sampler: {} samples, at most {} postmaster(s) on the data directory and the array in at most {} mount namespace(s); longest interval {:?}",
        samples.count, samples.max_postmasters, samples.max_mounts, samples.longest_interval
    );
    assert!(lost.is_empty(), "acknowledged rows missing from the table: {lost:?}");
    assert!(samples.violations.is_empty(), "two servers or two mounts at once: {:?}", samples.violations);
    assert_eq!(samples.max_postmasters, 1);
    assert_eq!(samples.max_mounts, 1);
    assert!(
        servers.trim().parse::<u64>().unwrap_or(0) >= 4,
        "rows from the first server and after each of three events"
    );

    println!("client-visible outages (longest gap between acknowledgements):");
    for event in &events {
        println!(
            "  {:<45} {:>6} ms   (group running again after {} ms)",
            event.what,
            event.outage.as_millis(),
            event.restored.as_millis()
        );
    }
    println!("test duration ({kinds:?}): {:?}", test_started.elapsed());
    drop(rack);
}

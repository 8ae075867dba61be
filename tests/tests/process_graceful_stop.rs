//! An orderly stop of a node's agent (SIGTERM: `systemctl stop`, a package upgrade, a reboot),
//! with three real agents, the test service and the relay stand-in (`ha_tests::fixtures`).
//!
//! Shows: SIGTERM to the agent of a node without the service exits at once and moves nothing;
//! SIGTERM to the holder's agent stops its service first, the witness grants the other node
//! with no fence action, and the agent exits only after its resource stopped; during
//! maintenance mode the holder's agent exits leaving the service running and untouched, and the
//! agent started again takes the running service over without stopping it. The service never
//! runs on two nodes (an observer samples both pid files every 10 ms).

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use ha_tests::fixtures::{
    agent_command, alive, failover_rack, resources_state, service_pid, ServiceObserver,
};
use ha_tests::harness::Rack;

/// Bound on an agent's exit after SIGTERM: its service's stop (5 s timeout in the fixture)
/// plus the hand-over wait, with room for a loaded machine.
const EXIT_BOUND: Duration = Duration::from_secs(20);

fn running_on(rack: &Rack, member: &str) -> bool {
    rack.try_status(member).ok().and_then(|s| resources_state(&s)).as_deref() == Some("running")
}

/// The witness's (generation, holder).
fn authority(rack: &Rack) -> (u64, String) {
    let w = rack.status("witness");
    (
        w["authority"]["generation"].as_u64().unwrap_or(0),
        w["authority"]["holder"].as_str().unwrap_or("-").into(),
    )
}

/// The relay stand-in's power actions (health checks read `status`; those are not actions).
fn power_actions(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("fence.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("off ") || l.starts_with("on "))
        .map(str::to_string)
        .collect()
}

fn log_of(rack: &Rack, member: &str) -> String {
    fs::read_to_string(rack.dir().join(format!("{member}.log"))).unwrap_or_default()
}

fn ledger(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("ledger")).unwrap_or_default().lines().map(str::to_string).collect()
}

fn started_rack(name: &str) -> Rack {
    let rack = failover_rack(name).unwrap_or_else(|e| panic!("rack: {e}"));
    let took = rack
        .wait_for(Duration::from_secs(30), || running_on(&rack, "node-a"))
        .unwrap_or_else(|e| panic!("node-a never ran the service: {e}\n{}", rack.table()));
    println!("cold start: node-a runs the service after {took:?}");
    rack
}

#[test]
fn sigterm_to_the_holder_hands_the_service_over_without_a_fence() {
    let rack = started_rack("graceful-stop");
    let dir = rack.dir().to_path_buf();
    let observer = ServiceObserver::start(&dir);
    let (g1, holder) = authority(&rack);
    assert_eq!(holder, "node-a");

    // The node without the service leaves at once and moves nothing.
    let (status, took) = rack.terminate("node-b", EXIT_BOUND).unwrap_or_else(|e| panic!("{e}"));
    println!("node-b (no service) exited {status} {took:?} after SIGTERM");
    assert!(status.success(), "an orderly exit: {status}");
    assert!(
        log_of(&rack, "node-b").contains("stopping on signal: no service here"),
        "{}",
        log_of(&rack, "node-b")
    );
    assert_eq!(authority(&rack), (g1, "node-a".into()), "nothing moved");
    rack.restart("node-b").unwrap();
    let took = rack
        .wait_for(Duration::from_secs(20), || {
            rack.try_status("witness").is_ok_and(|w| {
                w["authority"]["nodes"]
                    .as_array()
                    .is_some_and(|n| n.iter().any(|n| n["name"] == "node-b" && n["ready"] == true))
            })
        })
        .unwrap_or_else(|e| panic!("node-b did not come back ready: {e}\n{}", rack.table()));
    println!("node-b back after {took:?}");

    // The holder: its service stops, node-b takes over, nobody is fenced, then it exits.
    let service_a = service_pid(&dir, "node-a").expect("node-a's service pid");
    let (status, took) =
        rack.terminate("node-a", EXIT_BOUND).unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));
    println!("node-a (holder) exited {status} {took:?} after SIGTERM");
    assert!(status.success(), "an orderly exit: {status}");
    assert!(!alive(service_a), "node-a's agent exited only after its service stopped (pid {service_a})");
    let took_b = rack
        .wait_for(Duration::from_secs(20), || running_on(&rack, "node-b"))
        .unwrap_or_else(|e| panic!("node-b never took over: {e}\n{}", rack.table()));
    println!("node-b runs the service {took_b:?} after node-a's agent exited");
    let (g2, holder) = authority(&rack);
    assert_eq!(holder, "node-b");
    assert!(g2 > g1, "a new generation: {g1} -> {g2}");
    assert_eq!(power_actions(&dir), Vec::<String>::new(), "no fence action for an orderly stop");
    // Order in the ledger: node-a's stop under g1 before node-b's start under g2.
    let l = ledger(&dir);
    let stop_a = l.iter().rposition(|x| *x == format!("node-a {g1} stop"));
    let start_b = l.iter().position(|x| *x == format!("node-b {g2} start"));
    assert!(
        matches!((stop_a, start_b), (Some(s), Some(b)) if s < b),
        "node-a stopped before node-b started: {l:?}"
    );
    // Said in the logs of both and in the witness's journal.
    let a_log = log_of(&rack, "node-a");
    assert!(a_log.contains("stopping on signal: handing the service over"), "{a_log}");
    assert!(a_log.contains("agent exiting: resources stopped"), "{a_log}");
    let w_log = log_of(&rack, "witness");
    assert!(w_log.contains("holder node-a stopped the service"), "{w_log}");
    let (code, journal) = agent_command(&rack, "witness", &["log"]);
    assert_eq!(code, 0, "{journal}");
    assert!(journal.contains("node-a stopped the service of generation"), "{journal}");
    // Watched a little longer: no late fence of the node that left.
    let checks = rack
        .hold(Duration::from_secs(3), || {
            let actions = power_actions(&dir);
            if !actions.is_empty() {
                return Err(format!("power actions: {actions:?}"));
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    println!("no fence during {checks} checks over 3 s after the hand-over");
    println!("observer: {} samples", observer.finish());
}

#[test]
fn sigterm_in_maintenance_leaves_the_service_running_and_the_restarted_agent_takes_it_over() {
    let rack = started_rack("graceful-maintenance");
    let dir = rack.dir().to_path_buf();
    let observer = ServiceObserver::start(&dir);
    let (g1, _) = authority(&rack);
    let (code, text) = agent_command(&rack, "witness", &["maintenance", "on"]);
    assert_eq!(code, 0, "{text}");
    rack.wait_for(Duration::from_secs(10), || {
        rack.try_status("node-a").is_ok_and(|s| s["authority"]["maintenance"] == true)
    })
    .unwrap_or_else(|e| panic!("node-a never obeyed maintenance: {e}"));
    let service = service_pid(&dir, "node-a").expect("node-a's service pid");
    let node_a_ledger = |dir: &Path| -> Vec<String> {
        ledger(dir).into_iter().filter(|l| l.starts_with("node-a ")).collect()
    };
    let ledger_before = node_a_ledger(&dir);

    let (status, took) = rack.terminate("node-a", EXIT_BOUND).unwrap_or_else(|e| panic!("{e}"));
    println!("node-a exited {status} {took:?} after SIGTERM in maintenance");
    assert!(status.success());
    assert!(alive(service), "the service still runs (pid {service})");
    assert!(dir.join("state-node-a/left-running").exists(), "the agent recorded what it left running");
    let a_log = log_of(&rack, "node-a");
    assert!(a_log.contains("stopping on signal: maintenance: resources left as they are"), "{a_log}");

    // Without its agent, nothing happens to it: no fence, no move.
    let checks = rack
        .hold(Duration::from_secs(3), || {
            if !alive(service) {
                return Err("the service died".into());
            }
            let actions = power_actions(&dir);
            if !actions.is_empty() {
                return Err(format!("power actions: {actions:?}"));
            }
            if running_on(&rack, "node-b") {
                return Err("node-b runs the service".into());
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));
    println!("service untouched during {checks} checks over 3 s without its agent");

    // The agent again (an upgrade): it takes the running service over.
    rack.restart("node-a").unwrap();
    let took = rack
        .wait_for(Duration::from_secs(20), || {
            rack.try_status("node-a").is_ok_and(|s| {
                resources_state(&s).as_deref() == Some("running") && s["authority"]["maintenance"] == true
            })
        })
        .unwrap_or_else(|e| {
            panic!("the restarted agent did not take the service over: {e}\n{}", rack.table())
        });
    println!("restarted node-a reports the service running after {took:?}");
    // And the witness has heard it again (maintenance off before that would find the holder
    // lost, and fence it: the ordinary rule).
    let took = rack
        .wait_for(Duration::from_secs(20), || {
            rack.try_status("witness").is_ok_and(|w| {
                let reachable = w["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m["name"] == "node-a" && m["state"] == "reachable"));
                let running = w["authority"]["nodes"].as_array().is_some_and(|n| {
                    n.iter().any(|n| n["name"] == "node-a" && n["resources_state"] == "running")
                });
                reachable && running
            })
        })
        .unwrap_or_else(|e| panic!("the witness did not hear node-a again: {e}\n{}", rack.table()));
    println!("the witness hears node-a's new agent, its service running, after {took:?}");
    assert!(!dir.join("state-node-a/left-running").exists(), "the record is taken");
    assert!(log_of(&rack, "node-a").contains("resources left running under generation"));

    // Maintenance off: the service is monitored again and stays where it is, same process.
    let (code, text) = agent_command(&rack, "witness", &["maintenance", "off"]);
    assert_eq!(code, 0, "{text}");
    let checks = rack
        .hold(Duration::from_secs(4), || {
            if !alive(service) {
                return Err(format!("the service (pid {service}) was stopped"));
            }
            if service_pid(&dir, "node-a") != Some(service) {
                return Err("the service was started again".into());
            }
            let (g, holder) = authority(&rack);
            if (g, holder.as_str()) != (g1, "node-a") {
                return Err(format!("the service moved: generation {g}, holder {holder}"));
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));
    println!("after maintenance: same process, same generation during {checks} checks over 4 s");
    // (The end of maintenance stops node-b's group again, as documented: it holds nothing.)
    assert_eq!(node_a_ledger(&dir), ledger_before, "no stop and no start of node-a's service at all");
    assert_eq!(power_actions(&dir), Vec::<String>::new(), "no fence action");
    assert!(running_on(&rack, "node-a"));
    println!("observer: {} samples", observer.finish());
}

#[test]
fn sigterm_to_the_witness_leaves_the_service_with_the_nodes() {
    let rack = started_rack("graceful-witness");
    let dir = rack.dir().to_path_buf();
    let service = service_pid(&dir, "node-a").expect("node-a's service pid");
    let started = Instant::now();
    let (status, took) = rack.terminate("witness", EXIT_BOUND).unwrap_or_else(|e| panic!("{e}"));
    println!("witness exited {status} {took:?} after SIGTERM");
    assert!(status.success());
    assert!(log_of(&rack, "witness").contains("stopping on signal: the nodes keep the service"));
    let checks = rack
        .hold(
            Duration::from_secs(3),
            || if alive(service) { Ok(()) } else { Err("the service stopped".into()) },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));
    println!(
        "the service ran on during {checks} checks, {:?} after the witness's SIGTERM",
        started.elapsed()
    );
}

#[test]
fn under_systemd_the_agent_says_ready_and_stopping_and_logs_with_severities() {
    use std::os::unix::net::UnixDatagram;
    // The service manager's side: a datagram socket, as systemd's NOTIFY_SOCKET is.
    let dir = std::env::temp_dir().join(format!("ha-notify-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let socket_path = dir.join("notify");
    let manager = UnixDatagram::bind(&socket_path).unwrap();
    manager.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let builder = Rack::builder("sd-notify")
        .env("node-b", "NOTIFY_SOCKET", socket_path.to_str().unwrap())
        .env("node-b", "JOURNAL_STREAM", "8:12345");
    let rack = ha_tests::fixtures::failover_rack_with(builder).unwrap_or_else(|e| panic!("rack: {e}"));
    let mut buf = [0u8; 1024];
    let len = manager.recv(&mut buf).expect("READY=1 within 20 s");
    let ready = String::from_utf8_lossy(&buf[..len]).to_string();
    println!("node-b told the service manager: {ready:?}");
    assert_eq!(ready, "READY=1\nSTATUS=node-b running, role node");
    rack.wait_for(Duration::from_secs(30), || running_on(&rack, "node-a")).unwrap();
    let (status, _) = rack.terminate("node-b", EXIT_BOUND).unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success());
    let len = manager.recv(&mut buf).expect("STOPPING=1 within 20 s");
    let stopping = String::from_utf8_lossy(&buf[..len]).to_string();
    println!("then: {stopping:?}");
    assert_eq!(stopping, "STOPPING=1\nSTATUS=stopping: no service here");
    // Its log lines carry syslog severities for the journal; node-a's (no JOURNAL_STREAM) do not.
    let b = log_of(&rack, "node-b");
    let warn = b.lines().find(|l| l.contains("stopping on signal")).expect("the stop is logged");
    assert!(warn.starts_with("<4>"), "{warn}");
    assert!(b.lines().filter(|l| l.contains(" INFO ")).all(|l| l.starts_with("<6>")), "{b}");
    assert!(log_of(&rack, "node-a").lines().all(|l| !l.starts_with('<')));
    drop(rack);
    let _ = fs::remove_dir_all(&dir);
}

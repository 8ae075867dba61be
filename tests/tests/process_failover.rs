//! Process-level failover: three real `ha-agent` processes, shell-script resources, and a
//! relay stand-in (a fence agent script following the fence-agents convention) that "cuts the
//! power" of a node by killing its agent and its service.
//!
//! Shows: cold start runs the service on exactly one node (the preferred one); kill -9 of the
//! holder's agent and of its resource leads to the witness fencing it through the relay and
//! the other node running the resources under a newer generation, never both at once; the
//! fenced node, powered on again, stays in standby. The time to restore is printed.

use std::fs;
use std::time::{Duration, Instant};

use ha_tests::fixtures::{failover_rack, kill_pid, resources_state, service_pid, ServiceObserver};

#[test]
fn killing_the_holder_fails_over_through_the_relay_and_never_runs_twice() {
    let rack = match failover_rack("failover") {
        Ok(r) => r,
        Err(e) => panic!("rack: {e}"),
    };
    let dir = rack.dir().to_path_buf();

    // The observer: never two live services.
    let observer = ServiceObserver::start(&dir);

    // Cold start: the preferred node runs the service.
    let started = Instant::now();
    rack.wait_for(Duration::from_secs(20), || {
        rack.try_status("node-a").ok().and_then(|s| resources_state(&s)).as_deref() == Some("running")
    })
    .unwrap_or_else(|e| panic!("node-a never ran the service: {e}\n{}", rack.table()));
    println!("cold start: node-a runs the service {:?} after the agents started", started.elapsed());
    let witness = rack.status("witness");
    let g1 = witness["authority"]["generation"].as_u64().unwrap();
    assert_eq!(witness["authority"]["holder"], "node-a", "{witness}");
    assert_ne!(resources_state(&rack.status("node-b")).as_deref(), Some("running"));

    // kill -9 of the holder's agent and of its resource.
    let service = service_pid(&dir, "node-a").expect("node-a's service pid");
    let killed_at = Instant::now();
    rack.kill("node-a");
    kill_pid(service);
    println!("killed node-a's agent and its service (pid {service})");

    let restored = rack
        .wait_for(Duration::from_secs(30), || {
            rack.try_status("node-b").ok().and_then(|s| resources_state(&s)).as_deref() == Some("running")
        })
        .unwrap_or_else(|e| panic!("node-b never took over: {e}\n{}", rack.table()));
    let restore_ms = killed_at.elapsed().as_millis();
    println!("time to restore: {restore_ms} ms (from kill -9 to node-b running the service)");
    let _ = restored;

    let witness = rack.status("witness");
    let g2 = witness["authority"]["generation"].as_u64().unwrap();
    assert_eq!(witness["authority"]["holder"], "node-b", "{witness}");
    assert!(g2 > g1, "a failover takes a newer generation: {g1} -> {g2}");
    let fence_log = fs::read_to_string(dir.join("fence.log")).unwrap_or_default();
    assert!(
        fence_log.lines().any(|l| l == "off node-a"),
        "the witness fenced node-a through the relay:\n{fence_log}"
    );
    let ledger = fs::read_to_string(dir.join("ledger")).unwrap();
    println!("ledger:\n{ledger}fence log:\n{fence_log}");
    assert!(
        ledger.lines().any(|l| l == format!("node-b {g2} start")),
        "node-b started under {g2}:\n{ledger}"
    );

    // The relay powers node-a on again after the failover; it boots and stays in standby.
    rack.wait_for(Duration::from_secs(15), || dir.join("on-node-a").exists())
        .unwrap_or_else(|e| panic!("node-a was not powered on again: {e}\n{fence_log}"));
    // The fence through a fence agent is its off alone (no status before or after: the agent
    // confirms the power itself), then the power-on. The relay's health check reads status
    // at the witness's start and every 60 s, far from this window.
    let fence_log = fs::read_to_string(dir.join("fence.log")).unwrap_or_default();
    let node_a: Vec<&str> = fence_log.lines().filter(|l| l.ends_with(" node-a")).collect();
    let off = node_a.iter().position(|l| *l == "off node-a").unwrap();
    assert_eq!(node_a[off..], ["off node-a", "on node-a"], "no read back after the off:\n{fence_log}");
    assert!(node_a[..off].len() <= 1, "no read before the off, only the start's health check:\n{fence_log}");
    rack.restart("node-a").unwrap();
    rack.wait_for(Duration::from_secs(15), || {
        rack.try_status("witness").is_ok_and(|s| {
            s["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["name"] == "node-a" && m["state"] == "reachable"))
        })
    })
    .unwrap();
    // Watched for 3 s (six monitor intervals) after it rejoined: it stays in standby.
    let checks = rack
        .hold(Duration::from_secs(3), || {
            let a = rack.try_status("node-a")?;
            if resources_state(&a).as_deref() == Some("running") {
                return Err(format!("node-a runs the service again without auto_failback: {a}"));
            }
            let holder = rack.try_status("witness")?["authority"]["holder"].clone();
            if holder != "node-b" {
                return Err(format!("the holder is {holder}, not node-b"));
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));
    println!("node-a rejoined and stayed in standby ({checks} checks over 3 s)");

    observer.finish();
    drop(rack);
}

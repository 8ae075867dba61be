//! What an operator and a monitoring station get from `ha-agent`, with three real agents, the
//! test service and the relay stand-in (`ha_tests::fixtures`): `status --check` in each state
//! with its Nagios exit code, commands that can be scripted (`--wait` until the asked state,
//! or a timeout that says what is missing), standby kept across a restart of the witness,
//! refusals with their own exit code, options in both spellings and unknown ones named, and
//! events in words.

use std::path::PathBuf;
use std::time::Duration;

use ha_tests::fixtures::{
    agent_command, alive, failover_rack, failover_rack_prepared, resources_state, service_pid, write_script,
    ServiceObserver,
};
use ha_tests::harness::{agent_binary, Rack};

/// `ha-agent status --check` at `member`: (exit code, the line).
fn check(rack: &Rack, member: &str) -> (i32, String) {
    let (code, text) = agent_command(rack, member, &["status", "--check"]);
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    (code, text.trim().to_string())
}

fn running_on(rack: &Rack, member: &str) -> bool {
    rack.try_status(member).ok().and_then(|s| resources_state(&s)).as_deref() == Some("running")
}

fn holder(rack: &Rack) -> String {
    rack.status("witness")["authority"]["holder"].as_str().unwrap_or("-").to_string()
}

fn node_field(rack: &Rack, node: &str, key: &str) -> serde_json::Value {
    rack.status("witness")["authority"]["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["name"] == node).map(|n| n[key].clone()))
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn status_check_answers_like_a_nagios_plugin_in_each_state() {
    let rack = failover_rack("check").unwrap_or_else(|e| panic!("rack: {e}"));
    rack.wait_for(Duration::from_secs(20), || running_on(&rack, "node-a") && rack.everything_up())
        .unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));

    // OK, with --config=FILE (the other spelling) as well.
    let (code, line) = check(&rack, "witness");
    assert_eq!(code, 0, "{line}");
    assert!(
        line.starts_with("RACK-HA OK - holder node-a gen ") && line.contains("3/3 members, 4/4 links up |"),
        "{line}"
    );
    let out = std::process::Command::new(agent_binary().unwrap())
        .args(["status", "--check"])
        .arg(format!("--config={}", rack.config_path("witness").display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "--config=FILE: {}", String::from_utf8_lossy(&out.stdout));
    let (code, line) = check(&rack, "node-a");
    assert_eq!(code, 0, "{line}");
    assert!(line.contains("resources running gen"), "{line}");
    println!("OK: {line}");

    // What the witness knows of each node, from their reports.
    let status = rack.status("witness");
    for n in status["authority"]["nodes"].as_array().unwrap() {
        assert_eq!(n["standby"], false, "{n}");
        assert_eq!(n["ready"].as_bool(), Some(n["name"] != "node-a"), "{n}");
        assert!(n["watchdog_armed"].is_boolean() && n["fence_bound_ms"].is_u64(), "{n}");
    }

    // WARNING: one link cut (serial 1, witness to node-a); node-a is still reached over UDP.
    rack.cable(1).cut();
    let mut last = String::new();
    rack.wait_for(Duration::from_secs(10), || {
        let (code, line) = check(&rack, "witness");
        last = line;
        code == 1
    })
    .unwrap_or_else(|e| panic!("no WARNING with a link cut: {e}: {last}"));
    assert!(last.starts_with("RACK-HA WARNING - link 1 to node-a down"), "{last}");
    println!("WARNING: {last}");
    rack.cable(1).heal();
    rack.wait_for(Duration::from_secs(10), || check(&rack, "witness").0 == 0).unwrap_or_else(|e| {
        panic!("not OK again after the cable healed: {e}: {}", check(&rack, "witness").1)
    });

    // A refused command has its own exit code (4), not that of an unreachable agent (3).
    let (code, text) = agent_command(&rack, "witness", &["move", "node-a"]);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("refused: the service already runs there"), "{text}");
    let (code, text) = agent_command(&rack, "witness", &["power-on", "node-b"]);
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("refused: it is reachable: its power is on"), "{text}");
    // An unknown option is named; a usage error is 2.
    let (code, text) = agent_command(&rack, "witness", &["status", "--bogus"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("unknown option --bogus"), "{text}");
    let (code, text) = agent_command(&rack, "witness", &["move", "node-b", "--wait=soon"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("--wait=soon"), "{text}");

    // CRITICAL: a member down (node-b's agent killed; it held nothing, so nothing is fenced).
    rack.kill("node-b");
    rack.wait_for(Duration::from_secs(10), || {
        let (code, line) = check(&rack, "witness");
        last = line;
        code == 2
    })
    .unwrap_or_else(|e| panic!("no CRITICAL with node-b down: {e}: {last}"));
    assert!(last.starts_with("RACK-HA CRITICAL - node-b unreachable"), "{last}");
    println!("CRITICAL: {last}");

    // UNKNOWN: no agent behind the socket.
    rack.kill("witness");
    let (code, line) = check(&rack, "witness");
    assert_eq!(code, 3, "{line}");
    assert!(line.starts_with("RACK-HA UNKNOWN - ") && line.contains("cannot connect"), "{line}");
    let (code, text) = agent_command(&rack, "witness", &["move", "node-b"]);
    assert_eq!(code, 3, "an unreachable agent: {text}");
    println!("UNKNOWN: {line}");
}

#[test]
fn wait_follows_a_move_and_standby_survives_a_restart_of_the_witness() {
    let rack = failover_rack("wait").unwrap_or_else(|e| panic!("rack: {e}"));
    let dir: PathBuf = rack.dir().to_path_buf();
    let observer = ServiceObserver::start(&dir);
    rack.wait_for(Duration::from_secs(20), || running_on(&rack, "node-a"))
        .unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));

    // move --wait: every step printed, exit 0 once node-b runs the service.
    let (code, text) = agent_command(&rack, "witness", &["move", "node-b", "--wait=30"]);
    println!("move node-b --wait=30:\n{text}");
    assert_eq!(code, 0, "{text}");
    for needle in [
        "move node-b: accepted",
        "stopped on node-a",
        "granted to node-b (generation",
        "running on node-b",
        "done: move node-b",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    assert!(running_on(&rack, "node-b") && holder(&rack) == "node-b", "{}", rack.table());

    // standby --wait of the spare node; then the witness restarts: still in standby, and the
    // service does not move back to node-a (the preferred node).
    let (code, text) = agent_command(&rack, "witness", &["standby", "node-a", "--wait", "--config"]);
    assert_eq!(code, 2, "--config without its value: {text}");
    let (code, text) = agent_command(&rack, "witness", &["standby", "node-a", "--wait=20"]);
    println!("standby node-a --wait=20:\n{text}");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("node-a in standby") && text.contains("done: standby node-a"), "{text}");
    rack.kill("witness");
    rack.restart("witness").unwrap();
    rack.wait_for(Duration::from_secs(10), || rack.try_status("witness").is_ok()).unwrap();
    assert_eq!(node_field(&rack, "node-a", "standby"), true, "standby forgotten across a restart");
    let checks = rack
        .hold(Duration::from_secs(3), || {
            if let Some(p) = service_pid(&dir, "node-a").filter(|&p| alive(p)) {
                return Err(format!("the service came back to node-a in standby (pid {p})"));
            }
            match rack.try_status("witness")?["authority"]["holder"].as_str() {
                Some("node-a") => Err("node-a holds the service while in standby".into()),
                _ => Ok(()),
            }
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));
    rack.wait_for(Duration::from_secs(20), || holder(&rack) == "node-b" && running_on(&rack, "node-b"))
        .unwrap_or_else(|e| {
            panic!("the service does not run on node-b after the restart: {e}\n{}", rack.table())
        });
    println!(
        "witness restarted: node-a still in standby ({checks} checks over 3 s), the service stays on node-b"
    );
    let (code, screen) = agent_command(&rack, "witness", &["status"]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.lines().any(|l| l.contains("node-a: ") && l.ends_with(", STANDBY")), "{screen}");

    // online --wait: node-a may take the service again, done when it reports itself ready.
    let (code, text) = agent_command(&rack, "witness", &["online", "node-a", "--wait=20"]);
    println!("online node-a --wait=20:\n{text}");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("node-a online") && text.contains("done: online node-a"), "{text}");

    // Events in words, in the journal and on the screen: no debug forms, no bare ids.
    for member in ["witness", "node-b"] {
        let (code, log) = agent_command(&rack, member, &["log"]);
        assert_eq!(code, 0, "{log}");
        for bad in ["{", "Some(", "Granted", "ResourceStarted"] {
            assert!(!log.contains(bad), "{member}'s journal has {bad:?}:\n{log}");
        }
        println!("{member}: {} journal records, in words", log.lines().count());
    }
    let (_, log) = agent_command(&rack, "node-b", &["log"]);
    assert!(log.contains("resource node-b svc started"), "{log}");
    let (_, log) = agent_command(&rack, "witness", &["log"]);
    assert!(log.contains("granted the service to node-b under generation"), "{log}");
    observer.finish();
}

#[test]
fn a_fence_that_fails_times_out_with_the_reason_and_is_critical() {
    // The relay stand-in cannot switch node-b off.
    let rack = failover_rack_prepared(Rack::builder("fence-fails"), |dir| {
        let fence = std::fs::read_to_string(dir.join("fence")).unwrap();
        let broken = fence.replace(
            "case \"$action\" in\noff)",
            "case \"$action\" in\noff)\n    [ \"$plug\" = node-b ] && exit 1",
        );
        assert_ne!(broken, fence, "the stand-in changed shape");
        write_script(&dir.join("fence"), &broken);
    })
    .unwrap_or_else(|e| panic!("rack: {e}"));
    rack.wait_for(Duration::from_secs(20), || running_on(&rack, "node-a") && rack.everything_up())
        .unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));

    let (code, text) = agent_command(&rack, "witness", &["fence", "node-b"]);
    assert_eq!(code, 6, "not confirmed: {text}");
    let (code, text) = agent_command(&rack, "witness", &["fence", "node-b", "--yes", "--wait=3"]);
    println!("fence node-b --yes --wait=3:\n{text}");
    assert_eq!(code, 5, "{text}");
    assert!(text.contains("fence node-b: accepted"), "{text}");
    assert!(text.contains("fencing node-b"), "{text}");
    assert!(
        text.contains("not done after 3 s: the power-off of node-b is not confirmed (last attempt: failed)"),
        "{text}"
    );

    let (code, line) = check(&rack, "witness");
    assert_eq!(code, 2, "{line}");
    assert!(line.contains("fence of node-b failing"), "{line}");
    println!("CRITICAL: {line}");
    let (_, log) = agent_command(&rack, "witness", &["log"]);
    assert!(log.contains("fence node-b relay: failed: "), "{log}");
    assert!(log.contains("fence of node-b failed (attempt 1); retrying"), "{log}");
    assert!(!log.contains("Failed("), "{log}");
}

#[test]
fn status_check_is_critical_while_no_node_holds_the_service() {
    // Both nodes' agents never start (a stand-in process holds their place): the witness has
    // nobody to grant the service to.
    let idle = || vec!["sh".into(), "-c".into(), "exec sleep 100000".into()];
    let rack = Rack::builder("no-holder")
        .command_prefix("node-a", idle())
        .command_prefix("node-b", idle())
        .start()
        .unwrap_or_else(|e| panic!("rack: {e}"));
    rack.wait_for(Duration::from_secs(10), || rack.try_status("witness").is_ok())
        .unwrap_or_else(|e| panic!("the witness does not answer: {e}"));
    let (code, line) = check(&rack, "witness");
    assert_eq!(code, 2, "{line}");
    assert!(line.starts_with("RACK-HA CRITICAL - ") && line.contains("no holder"), "{line}");
    println!("CRITICAL: {line}");
}

#[test]
fn fence_wait_is_done_once_the_power_off_is_confirmed_and_power_on_switches_it_back() {
    let rack = failover_rack("fence-wait").unwrap_or_else(|e| panic!("rack: {e}"));
    let dir: PathBuf = rack.dir().to_path_buf();
    rack.wait_for(Duration::from_secs(20), || running_on(&rack, "node-a") && rack.everything_up())
        .unwrap_or_else(|e| panic!("{e}\n{}", rack.table()));

    // The spare node is fenced; the relay stand-in cuts its power (kills its agent).
    let (code, text) = agent_command(&rack, "witness", &["fence", "node-b", "--yes", "--wait=20"]);
    println!("fence node-b --yes --wait=20:\n{text}");
    assert_eq!(code, 0, "{text}");
    for needle in ["fence node-b: accepted", "node-b fenced: power off confirmed", "done: fence node-b"] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    rack.kill("node-b"); // reap the agent the stand-in killed
    let unreachable = |rack: &Rack| {
        rack.try_status("witness").is_ok_and(|s| {
            s["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["name"] == "node-b" && m["state"] == "unreachable"))
        })
    };
    rack.wait_for(Duration::from_secs(10), || unreachable(&rack))
        .unwrap_or_else(|e| panic!("node-b still reachable after its fence: {e}\n{}", rack.table()));

    // power-on goes through the same relay path, and is journaled.
    let (code, text) = agent_command(&rack, "witness", &["power-on", "node-b"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("power-on node-b: accepted"), "{text}");
    rack.wait_for(Duration::from_secs(10), || dir.join("on-node-b").exists())
        .unwrap_or_else(|e| panic!("the relay was not switched on: {e}"));
    let mut log = String::new();
    rack.wait_for(Duration::from_secs(10), || {
        log = agent_command(&rack, "witness", &["log"]).1;
        log.contains("fence node-b relay: powered on again")
    })
    .unwrap_or_else(|e| panic!("the power-on is not in the journal: {e}\n{log}"));
    assert!(log.contains("operator power-on node-b from=control socket"), "{log}");
    assert!(log.contains("fence node-b relay: power off confirmed by read-back"), "{log}");

    // The node boots again (its agent restarts) and rejoins; the service never moved.
    rack.restart("node-b").unwrap();
    rack.wait_for(Duration::from_secs(15), || rack.everything_up())
        .unwrap_or_else(|e| panic!("node-b did not rejoin: {e}\n{}", rack.table()));
    assert_eq!(holder(&rack), "node-a");
    let (code, line) = check(&rack, "witness");
    assert_eq!(code, 0, "{line}");
    println!("power-on node-b: relay on, journaled, node-b rejoined; {line}");
}

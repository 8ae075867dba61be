//! Process-level failover: three real `ha-agent` processes, shell-script resources, and a
//! relay stand-in (a fence agent script following the fence-agents convention) that "cuts the
//! power" of a node by killing its agent and its service.
//!
//! Shows: cold start runs the service on exactly one node (the preferred one); kill -9 of the
//! holder's agent and of its resource leads to the witness fencing it through the relay and
//! the other node running the resources under a newer generation, never both at once; the
//! fenced node, powered on again, stays in standby. The time to restore is printed.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ha_tests::harness::Rack;
use serde_json::Value;

const SERVICE: &str = r#"#!/bin/sh
# Test resource: a background process whose pid file is the resource's state.
run="$OCF_RESKEY_rundir"; ledger="$OCF_RESKEY_ledger"; me="$OCF_RESKEY_node"
pidfile="$run/svc.pid"
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
case "$1" in
start)
    running && exit 0
    mkdir -p "$run"
    sleep 100000 </dev/null >/dev/null 2>&1 &
    echo $! > "$pidfile"
    echo "$me $HA_GENERATION start" >> "$ledger"
    exit 0 ;;
stop)
    if running; then kill "$(cat "$pidfile")"; fi
    rm -f "$pidfile"
    echo "$me $HA_GENERATION stop" >> "$ledger"
    exit 0 ;;
monitor)
    running && exit 0
    exit 7 ;;
*) exit 3 ;;
esac
"#;

const FENCE: &str = r#"#!/bin/sh
# Relay stand-in following the fence-agents convention: key=value lines on stdin.
dir="@DIR@"
action=""; plug=""
while IFS='=' read -r k v; do
    case "$k" in action) action="$v" ;; plug|port) plug="$v" ;; esac
done
echo "$action $plug" >> "$dir/fence.log"
case "$action" in
off)
    # Power cut: the node's agent and its service die.
    [ -f "$dir/pid-$plug" ] && kill -9 "$(cat "$dir/pid-$plug")" 2>/dev/null
    [ -f "$dir/run-$plug/svc.pid" ] && kill -9 "$(cat "$dir/run-$plug/svc.pid")" 2>/dev/null
    rm -f "$dir/run-$plug/svc.pid"
    touch "$dir/off-$plug"
    exit 0 ;;
on)
    rm -f "$dir/off-$plug"
    touch "$dir/on-$plug"
    exit 0 ;;
status|monitor)
    [ -f "$dir/off-$plug" ] && exit 2
    exit 0 ;;
esac
exit 1
"#;

fn node_extra(member: &str) -> String {
    format!(
        r#"
[authority]
self_fence_ms = 1000
margin_ms = 1000

[resources]
max_restarts = 1
restart_window_s = 60

[[resources.group]]
name = "svc"
agent = "@DIR@/svc"
params = {{ rundir = "@DIR@/run-{member}", ledger = "@DIR@/ledger", node = "{member}" }}
start_timeout_ms = 5000
stop_timeout_ms = 5000
monitor_timeout_ms = 2000
monitor_interval_ms = 500
"#
    )
}

const WITNESS_EXTRA: &str = r#"
[authority]
preferred = "node-a"
self_fence_ms = 1000
margin_ms = 1000
fence_retry_initial_ms = 500
fence_retry_max_ms = 2000

[relay]

[[relay.channels]]
node = "node-a"
board = "command"
command = "@DIR@/fence"
plug = "node-a"
timeout_ms = 2000
settle_ms = 100
poll_interval_ms = 100
confirm_timeout_ms = 3000

[[relay.channels]]
node = "node-b"
board = "command"
command = "@DIR@/fence"
plug = "node-b"
timeout_ms = 2000
settle_ms = 100
poll_interval_ms = 100
confirm_timeout_ms = 3000
"#;

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn service_pid(dir: &Path, member: &str) -> Option<i32> {
    fs::read_to_string(dir.join(format!("run-{member}/svc.pid"))).ok()?.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn resources_state(status: &Value) -> Option<String> {
    status["authority"]["resources_state"].as_str().map(str::to_string)
}

fn kill_pid(pid: i32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

#[test]
fn killing_the_holder_fails_over_through_the_relay_and_never_runs_twice() {
    let mut builder = Rack::builder("failover").extra("witness", WITNESS_EXTRA);
    for member in ["node-a", "node-b"] {
        builder = builder.extra(member, &node_extra(member));
    }
    // The resource agent and the relay stand-in must exist before the agents start.
    let rack = builder.start_with(|dir| {
        write_script(&dir.join("svc"), SERVICE);
        write_script(&dir.join("fence"), &FENCE.replace("@DIR@", &dir.display().to_string()));
    });
    let rack = match rack {
        Ok(r) => r,
        Err(e) => panic!("rack: {e}"),
    };
    let dir = rack.dir().to_path_buf();

    // The observer: never two live services.
    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let watcher = {
        let (stop, violations, dir) = (stop.clone(), violations.clone(), dir.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let a = service_pid(&dir, "node-a").filter(|&p| alive(p));
                let b = service_pid(&dir, "node-b").filter(|&p| alive(p));
                if a.is_some() && b.is_some() {
                    violations.lock().unwrap().push(format!("both services alive: node-a {a:?} node-b {b:?}"));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

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
    assert!(fence_log.lines().any(|l| l == "off node-a"), "the witness fenced node-a through the relay:\n{fence_log}");
    let ledger = fs::read_to_string(dir.join("ledger")).unwrap();
    println!("ledger:\n{ledger}fence log:\n{fence_log}");
    assert!(ledger.lines().any(|l| l == format!("node-b {g2} start")), "node-b started under {g2}:\n{ledger}");

    // The relay powers node-a on again after the failover; it boots and stays in standby.
    rack.wait_for(Duration::from_secs(15), || dir.join("on-node-a").exists())
        .unwrap_or_else(|e| panic!("node-a was not powered on again: {e}\n{fence_log}"));
    rack.restart("node-a").unwrap();
    rack.wait_for(Duration::from_secs(15), || {
        rack.try_status("witness").is_ok_and(|s| {
            s["members"].as_array().is_some_and(|m| m.iter().any(|m| m["name"] == "node-a" && m["state"] == "reachable"))
        })
    })
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let a = rack.status("node-a");
    assert_ne!(resources_state(&a).as_deref(), Some("running"), "node-a stays in standby without auto_failback: {a}");
    assert_eq!(rack.status("witness")["authority"]["holder"], "node-b");

    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let v = violations.lock().unwrap();
    assert!(v.is_empty(), "the service ran on both nodes: {v:?}");
    drop(rack);
}

//! Shared fixtures of the process tests: a shell-script resource, a relay stand-in following
//! the fence-agents convention, the configuration sections that use them, and a rack started
//! with them. The resource's pid file is the truth the tests check ("never two services").

use std::fs;
use std::path::Path;

use crate::harness::Rack;
use crate::topology::Toml;
use serde_json::Value;

pub const SERVICE: &str = r#"#!/bin/sh
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

pub const FENCE: &str = r#"#!/bin/sh
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

pub fn node_extra(member: &str) -> String {
    let (rundir, node) = (format!("@DIR@/run-{member}"), member);
    let mut t = Toml::new();
    t.table("authority")
        .number("self_fence_ms", 1000)
        .number("margin_ms", 1000)
        .table("resources")
        .number("max_restarts", 1)
        .number("restart_window_s", 60)
        .resource(
            "svc",
            "@DIR@/svc",
            &[("rundir", &rundir), ("ledger", "@DIR@/ledger"), ("node", node)],
            [5000, 5000, 2000],
            500,
        );
    t.extra()
}

/// The witness's `[authority]` and its two command relay channels (the `FENCE` script).
pub fn witness_extra() -> String {
    let mut t = Toml::new();
    t.table("authority")
        .string("preferred", "node-a")
        .number("self_fence_ms", 1000)
        .number("margin_ms", 1000)
        .number("fence_retry_initial_ms", 500)
        .number("fence_retry_max_ms", 2000)
        .table("relay");
    for node in ["node-a", "node-b"] {
        t.command_channel(node, "@DIR@/fence", node).number("timeout_ms", 2000);
    }
    t.extra()
}

pub fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

pub fn service_pid(dir: &Path, member: &str) -> Option<i32> {
    fs::read_to_string(dir.join(format!("run-{member}/svc.pid"))).ok()?.trim().parse().ok()
}

pub fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

pub fn resources_state(status: &Value) -> Option<String> {
    status["authority"]["resources_state"].as_str().map(str::to_string)
}

/// The truth the process tests check: samples both nodes' service pid files every 10 ms in a
/// thread; any instant with two live services is a violation, reported by [`ServiceObserver::finish`].
pub struct ServiceObserver {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<(Vec<String>, u64)>>,
}

impl ServiceObserver {
    pub fn start(dir: &Path) -> ServiceObserver {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (stop, dir) = (stop.clone(), dir.to_path_buf());
            std::thread::spawn(move || {
                let (mut violations, mut samples) = (Vec::new(), 0);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let a = service_pid(&dir, "node-a").filter(|&p| alive(p));
                    let b = service_pid(&dir, "node-b").filter(|&p| alive(p));
                    if a.is_some() && b.is_some() {
                        violations.push(format!("both services alive: node-a {a:?} node-b {b:?}"));
                    }
                    samples += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                (violations, samples)
            })
        };
        ServiceObserver { stop, thread: Some(thread) }
    }

    /// Stop sampling; panics if the service ever ran on both nodes. Returns the samples taken.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (v, samples) = self.thread.take().unwrap().join().unwrap();
        assert!(v.is_empty(), "the service ran on both nodes: {v:?}");
        samples
    }
}

/// `ha-agent ARGS --config <member's configuration>`, as an operator types it at that member:
/// (exit code, stdout and stderr).
pub fn agent_command(rack: &Rack, member: &str, args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(crate::harness::agent_binary().unwrap())
        .args(args)
        .arg("--config")
        .arg(rack.config_path(member))
        .output()
        .expect("run ha-agent");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

pub fn kill_pid(pid: i32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// A rack whose nodes run the test service and whose witness fences through the stand-in.
pub fn failover_rack(name: &str) -> Result<Rack, String> {
    failover_rack_with(Rack::builder(name))
}

/// The same from a prepared builder (timing, log level).
pub fn failover_rack_with(builder: crate::harness::RackBuilder) -> Result<Rack, String> {
    failover_rack_prepared(builder, |_| {})
}

/// The same, calling `prepare` with the rack directory before the agents start.
pub fn failover_rack_prepared(
    builder: crate::harness::RackBuilder,
    prepare: impl FnOnce(&Path),
) -> Result<Rack, String> {
    let mut builder = builder.extra("witness", &witness_extra());
    for member in ["node-a", "node-b"] {
        builder = builder.extra(member, &node_extra(member));
    }
    builder.start_with(|dir| {
        write_script(&dir.join("svc"), SERVICE);
        write_script(&dir.join("fence"), &FENCE.replace("@DIR@", &dir.display().to_string()));
        prepare(dir);
    })
}

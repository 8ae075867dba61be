//! With `[shell] realtime_priority`, the agent runs its loop and its threads at SCHED_FIFO, but
//! what it starts must not keep that: a service started by a resource agent at real-time
//! priority could starve the machine and the agent's own loop.
//!
//! Shows, with three real agents at `realtime_priority = 20`: every thread of an agent runs at
//! SCHED_FIFO 20; a resource agent and a fence command run at SCHED_FIFO 19 (still ahead of the
//! load, below the loop) and everything *they* start (the service, a helper command) runs at
//! normal scheduling. Needs root (real-time priority); CI runs as root.

use std::fs;
use std::path::Path;
use std::time::Duration;

use ha_tests::bench::stat_field;
use ha_tests::fixtures::{
    failover_rack_prepared, resources_state, service_pid, write_script, FENCE, SERVICE,
};
use ha_tests::harness::{Rack, ShellOptions};

const PRIORITY: u8 = 20;

/// (rt_priority, policy) of a task from its `/proc/.../stat` line (fields 40 and 41).
fn scheduling(stat_path: &Path) -> Option<(u32, u32)> {
    let text = fs::read_to_string(stat_path).ok()?;
    Some((stat_field(&text, 40)?.parse().ok()?, stat_field(&text, 41)?.parse().ok()?))
}

/// The lines `label rt_priority policy` the scripts wrote.
fn recorded(dir: &Path) -> Vec<(String, u32, u32)> {
    fs::read_to_string(dir.join("sched.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
        .collect()
}

const SCHED_OTHER: u32 = 0;
const SCHED_FIFO: u32 = 1;

#[test]
fn what_the_agent_starts_does_not_keep_its_realtime_priority() {
    if !rustix::process::geteuid().is_root() {
        println!("skipped: real-time priority needs root (CI runs as root)");
        return;
    }
    // Each script notes its own scheduling and that of a command it starts.
    let note = |label: &str| {
        format!(
            "awk '{{print \"{label}\", $40, $41}}' /proc/$$/stat >> \"@DIR@/sched.log\"\n    \
             awk '{{print \"{label}-child\", $40, $41}}' /proc/self/stat >> \"@DIR@/sched.log\"\n    "
        )
    };
    let service = SERVICE.replace("start)\n    ", &format!("start)\n    {}", note("resource")));
    let fence = FENCE.replace(
        "case \"$action\" in\noff)\n    ",
        &format!("case \"$action\" in\noff)\n    {}", note("fence")),
    );
    assert_ne!(service, SERVICE);
    assert_ne!(fence, FENCE);
    let builder =
        Rack::builder("realtime").shell(ShellOptions { mlockall: false, realtime_priority: PRIORITY });
    let rack = failover_rack_prepared(builder, |dir| {
        let d = dir.display().to_string();
        write_script(&dir.join("svc"), &service.replace("@DIR@", &d));
        write_script(&dir.join("fence"), &fence.replace("@DIR@", &d));
    })
    .unwrap_or_else(|e| panic!("rack: {e}"));
    let dir = rack.dir().to_path_buf();

    rack.wait_for(Duration::from_secs(20), || {
        rack.try_status("node-a").ok().and_then(|s| resources_state(&s)).as_deref() == Some("running")
    })
    .unwrap_or_else(|e| panic!("node-a never ran the service: {e}\n{}", rack.table()));

    // The agent itself: every thread (the loop and its helpers) at SCHED_FIFO 20.
    for member in ["witness", "node-a", "node-b"] {
        let pid = fs::read_to_string(dir.join(format!("pid-{member}"))).unwrap();
        let tasks: Vec<_> = fs::read_dir(format!("/proc/{}/task", pid.trim())).unwrap().flatten().collect();
        assert!(tasks.len() >= 2, "{member}: the loop and its helper threads: {tasks:?}");
        let mut judged = 0;
        for task in tasks {
            let got = scheduling(&task.path().join("stat"));
            // A short-lived helper (the OCF meta-data probe, the ipaddr socket closer) may end
            // between the listing and the read: a thread that is gone has nothing to judge.
            if got.is_none() && !task.path().exists() {
                continue;
            }
            assert_eq!(got, Some((u32::from(PRIORITY), SCHED_FIFO)), "{member} thread {:?}", task.path());
            judged += 1;
        }
        assert!(judged >= 2, "{member}: the loop and at least one helper thread judged, {judged} were");
    }

    // The service the resource agent started runs at normal scheduling.
    let a_service = service_pid(&dir, "node-a").expect("node-a's service pid");
    assert_eq!(
        scheduling(Path::new(&format!("/proc/{a_service}/stat"))),
        Some((0, SCHED_OTHER)),
        "the service started by the resource agent"
    );

    // A fence: the witness runs the fence command for node-a.
    rack.kill("node-a");
    rack.wait_for(Duration::from_secs(30), || recorded(&dir).iter().any(|(l, _, _)| l == "fence-child"))
        .unwrap_or_else(|e| panic!("no fence ran: {e}\n{}", rack.table()));
    rack.wait_for(Duration::from_secs(30), || {
        rack.try_status("node-b").ok().and_then(|s| resources_state(&s)).as_deref() == Some("running")
    })
    .unwrap_or_else(|e| panic!("node-b never took over: {e}\n{}", rack.table()));

    let lines = recorded(&dir);
    println!("scheduling noted by the scripts (label, rt_priority, policy): {lines:?}");
    let expect = [
        ("resource", (u32::from(PRIORITY) - 1, SCHED_FIFO)),
        ("resource-child", (0, SCHED_OTHER)),
        ("fence", (u32::from(PRIORITY) - 1, SCHED_FIFO)),
        ("fence-child", (0, SCHED_OTHER)),
    ];
    for (label, want) in expect {
        let seen: Vec<_> = lines.iter().filter(|(l, _, _)| l == label).map(|(_, p, s)| (*p, *s)).collect();
        assert!(!seen.is_empty(), "{label}: nothing noted: {lines:?}");
        assert!(seen.iter().all(|&got| got == want), "{label}: want {want:?}, got {seen:?}");
    }
    let b_service = service_pid(&dir, "node-b").expect("node-b's service pid");
    assert_eq!(scheduling(Path::new(&format!("/proc/{b_service}/stat"))), Some((0, SCHED_OTHER)));
    drop(rack);
}

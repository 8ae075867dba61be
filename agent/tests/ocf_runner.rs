//! The OCF action runner with real shell-script agents, and the resource group driven end to
//! end through it.
//!
//! Scripts are written to a directory under cargo's per-test temporary directory. Writing a
//! script and spawning any process share one lock: a script still open for writing in this
//! process when another thread forks could make its `exec` fail with ETXTBSY.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ha_agent::core::resources::{
    Action, ActionRequest, Event, Group, GroupSpec, GroupState, Name, Outcome, ResourceSpec,
};
use ha_agent::shell::ocf::{Finished, Runner, SpawnError, MAX_RUNNING_ACTIONS, OUTPUT_TAIL_BYTES};
use ha_agent::time::Micros;

static EXEC_LOCK: Mutex<()> = Mutex::new(());

/// Generous wall-clock bound for anything a test waits for; reaching it fails the test.
const PATIENCE: Duration = Duration::from_secs(20);

fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ocf_runner").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    let _guard = EXEC_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_string()
}

fn spec(name: &str, agent: &str, params: &[(&str, &str)], timeout_ms: u64) -> ResourceSpec {
    let mut p = heapless::Vec::new();
    for (k, v) in params {
        p.push((k.to_string(), v.to_string())).unwrap();
    }
    ResourceSpec {
        name: Name::try_from(name).unwrap(),
        agent: agent.to_string(),
        params: p,
        start_timeout_ms: timeout_ms,
        stop_timeout_ms: timeout_ms,
        monitor_timeout_ms: timeout_ms,
        monitor_interval_ms: 100,
    }
}

struct Clock(Instant);

impl Clock {
    fn now(&self) -> Micros {
        Micros(self.0.elapsed().as_micros() as u64)
    }
}

fn spawn(
    runner: &mut Runner,
    now: Micros,
    request: &ActionRequest,
    resource: &ResourceSpec,
) -> Result<(), SpawnError> {
    let _guard = EXEC_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    runner.spawn(now, request, resource)
}

fn request(id: u64, action: Action, timeout_ms: u64, generation: u64) -> ActionRequest {
    ActionRequest { id, resource: 0, action, timeout_ms, generation }
}

/// Poll the runner until `count` actions finished.
fn collect(runner: &mut Runner, clock: &Clock, count: usize) -> Vec<Finished> {
    let mut done = Vec::new();
    while done.len() < count {
        assert!(clock.0.elapsed() < PATIENCE, "actions did not finish: {done:?}");
        done.extend(runner.poll_children(clock.now()));
        std::thread::sleep(Duration::from_millis(5));
    }
    done.sort_by_key(|f| f.id);
    done
}

/// Run one action of a one-off resource to its end.
fn run_one(agent: &str, action: Action, params: &[(&str, &str)], timeout_ms: u64) -> Finished {
    let clock = Clock(Instant::now());
    let mut runner = Runner::new();
    let resource = spec("r", agent, params, timeout_ms);
    spawn(&mut runner, clock.now(), &request(1, action, timeout_ms, 42), &resource).unwrap();
    let mut done = collect(&mut runner, &clock, 1);
    while runner.running_count() > 0 {
        assert!(clock.0.elapsed() < PATIENCE);
        runner.poll_children(clock.now());
        std::thread::sleep(Duration::from_millis(5));
    }
    done.remove(0)
}

#[test]
fn exit_codes_follow_the_ocf_conventions_and_the_action_is_argv1() {
    let dir = test_dir("exit_codes");
    let agent = write_script(
        &dir,
        "agent",
        r#"case "$1" in start) exit 0;; monitor) exit 7;; stop) exit 1;; esac; exit 3"#,
    );
    assert_eq!(run_one(&agent, Action::Start, &[], 5_000).outcome, Outcome::Success);
    assert_eq!(run_one(&agent, Action::Monitor, &[], 5_000).outcome, Outcome::NotRunning);
    assert_eq!(run_one(&agent, Action::Stop, &[], 5_000).outcome, Outcome::Failed(1));
}

#[test]
fn a_missing_agent_fails_as_not_installed() {
    let dir = test_dir("missing");
    let finished = run_one(dir.join("nothing-here").to_str().unwrap(), Action::Start, &[], 5_000);
    assert_eq!(finished.outcome, Outcome::Failed(5));
    assert!(finished.output.contains("cannot run"), "{}", finished.output);
}

#[test]
fn the_environment_carries_parameters_and_generation_and_nothing_inherited() {
    let dir = test_dir("environment");
    let out = dir.join("env.txt");
    let agent = write_script(
        &dir,
        "agent",
        r#"echo "gen=$HA_GENERATION x=$OCF_RESKEY_x inst=$OCF_RESOURCE_INSTANCE root=$OCF_ROOT path=$PATH home=${HOME:-unset} cwd=$(pwd)" > "$OCF_RESKEY_out"
read line && exit 1
exit 0"#,
    );
    let finished =
        run_one(&agent, Action::Start, &[("x", "hello world"), ("out", out.to_str().unwrap())], 5_000);
    assert_eq!(finished.outcome, Outcome::Success, "stdin must be empty: {}", finished.output);
    let env = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        env.trim(),
        format!(
            "gen=42 x=hello world inst=r root=/usr/lib/ocf path={} home=unset cwd=/",
            ha_agent::shell::ocf::CLEAN_PATH
        )
    );
}

#[test]
fn output_tail_is_captured_from_stdout_and_stderr_and_bounded() {
    let dir = test_dir("output");
    let agent = write_script(
        &dir,
        "agent",
        r#"i=0; while [ $i -lt 400 ]; do echo "line $i of some output that is long enough"; i=$((i+1)); done
echo "to stderr" >&2
echo "LAST"
exit 0"#,
    );
    let finished = run_one(&agent, Action::Start, &[], 5_000);
    assert_eq!(finished.outcome, Outcome::Success);
    assert_eq!(finished.output.len(), OUTPUT_TAIL_BYTES, "16 KiB written, only the tail kept");
    assert!(
        finished.output.ends_with("to stderr\nLAST\n"),
        "{:?}",
        &finished.output[finished.output.len() - 40..]
    );
    assert!(!finished.output.contains("line 0 "));
}

/// True once `pid` is gone (or only a zombie waiting for its new parent to reap it).
fn process_is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start().chars().next();
            matches!(state, Some('Z') | Some('X'))
        }
    }
}

#[test]
fn a_hung_action_is_killed_with_its_whole_process_group_at_its_timeout() {
    let dir = test_dir("hung");
    let pid_file = dir.join("child.pid");
    let agent = write_script(
        &dir,
        "agent",
        &format!("sleep 1000 &\necho $! > {}\necho started\nwait\nexit 0", pid_file.display()),
    );
    let clock = Clock(Instant::now());
    let mut runner = Runner::new();
    let resource = spec("r", &agent, &[], 300);
    spawn(&mut runner, clock.now(), &request(9, Action::Stop, 300, 1), &resource).unwrap();
    let finished = collect(&mut runner, &clock, 1);
    assert_eq!(finished[0].id, 9);
    assert_eq!(finished[0].outcome, Outcome::TimedOut);
    assert!(finished[0].elapsed_ms >= 300);
    assert!(finished[0].output.contains("started"));
    while runner.running_count() > 0 {
        assert!(clock.0.elapsed() < PATIENCE, "the killed action was not reaped");
        assert!(runner.poll_children(clock.now()).is_empty(), "a killed action is reported once");
        std::thread::sleep(Duration::from_millis(5));
    }
    let grandchild: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    while !process_is_dead(grandchild) {
        assert!(clock.0.elapsed() < PATIENCE, "the script's child {grandchild} survived the kill");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn next_deadline_is_the_timeout_or_the_poll_tick_and_none_when_idle() {
    let dir = test_dir("deadline");
    let agent = write_script(&dir, "agent", "sleep 1000");
    let mut runner = Runner::new();
    assert_eq!(runner.next_deadline(), None);
    let now = Micros::from_ms(1_000);
    spawn(&mut runner, now, &request(1, Action::Start, 20, 1), &spec("r", &agent, &[], 20)).unwrap();
    assert!(runner.poll_children(now).is_empty());
    assert_eq!(runner.next_deadline(), Some(now.plus_ms(20)));
    let later = now.plus_ms(20);
    let finished = runner.poll_children(later);
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].outcome, Outcome::TimedOut);
    let clock = Clock(Instant::now());
    while runner.running_count() > 0 {
        assert!(clock.0.elapsed() < PATIENCE);
        runner.poll_children(later);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(runner.next_deadline(), None);
}

#[test]
fn no_more_than_the_bound_of_actions_run_at_once() {
    let dir = test_dir("bound");
    let agent = write_script(&dir, "agent", "sleep 1000");
    let clock = Clock(Instant::now());
    let mut runner = Runner::new();
    let resource = spec("r", &agent, &[], 200);
    for id in 0..MAX_RUNNING_ACTIONS as u64 {
        spawn(&mut runner, clock.now(), &request(id, Action::Monitor, 200, 1), &resource).unwrap();
    }
    let extra = request(99, Action::Monitor, 200, 1);
    assert_eq!(spawn(&mut runner, clock.now(), &extra, &resource), Err(SpawnError::Full));
    let finished = collect(&mut runner, &clock, MAX_RUNNING_ACTIONS);
    assert!(finished.iter().all(|f| f.outcome == Outcome::TimedOut));
    while runner.running_count() > 0 {
        assert!(clock.0.elapsed() < PATIENCE);
        runner.poll_children(clock.now());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(spawn(&mut runner, clock.now(), &extra, &resource), Ok(()));
}

// ---- the resource group end to end ---------------------------------------------------------

const RESOURCE_AGENT: &str = r#"
log() { echo "$OCF_RESOURCE_INSTANCE $*" >> "$OCF_RESKEY_log"; }
case "$1" in
start) touch "$OCF_RESKEY_state"; log "start g=$HA_GENERATION"; exit 0;;
stop) rm -f "$OCF_RESKEY_state"; log stop; exit 0;;
monitor) [ -e "$OCF_RESKEY_state" ] && exit 0; log "monitor: not running"; exit 7;;
esac
exit 3"#;

/// One node's group and runner, driven like the agent's loop does it.
struct Harness {
    clock: Clock,
    group: Group,
    runner: Runner,
    events: Vec<Event>,
}

impl Harness {
    fn step(&mut self) {
        let now = self.clock.now();
        for f in self.runner.poll_children(now) {
            self.group.handle_result(now, f.id, f.outcome);
        }
        self.group.handle_timeout(now);
        while let Some(req) = self.group.poll_action() {
            let resource = self.group.resource_spec(req.resource).unwrap().clone();
            spawn(&mut self.runner, now, &req, &resource).unwrap();
        }
        while let Some(e) = self.group.poll_event() {
            self.events.push(e);
        }
    }

    fn run_until(&mut self, what: &str, done: impl Fn(&Harness) -> bool) {
        let started = Instant::now();
        loop {
            self.step();
            if done(self) {
                return;
            }
            assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}; events {:?}", self.events);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn a_group_of_scripts_starts_in_order_restarts_after_a_monitor_failure_and_stops_in_reverse() {
    let dir = test_dir("end_to_end");
    let agent = write_script(&dir, "agent", RESOURCE_AGENT);
    let log = dir.join("actions.log");
    let state = |n: &str| dir.join(format!("{n}.state")).to_str().unwrap().to_string();
    let (state_a, state_b) = (state("a"), state("b"));
    let log_s = log.to_str().unwrap().to_string();
    let mut resources = heapless::Vec::new();
    resources.push(spec("a", &agent, &[("log", &log_s), ("state", &state_a)], 5_000)).unwrap();
    resources.push(spec("b", &agent, &[("log", &log_s), ("state", &state_b)], 5_000)).unwrap();
    let clock = Clock(Instant::now());
    let group = Group::new(GroupSpec { resources, max_restarts: 3, restart_window_ms: 60_000 }, clock.now());
    let mut h = Harness { clock, group, runner: Runner::new(), events: Vec::new() };

    h.run_until("boot stop", |h| h.group.state() == GroupState::Stopped);
    h.group.start(h.clock.now(), 7).unwrap();
    h.run_until("running", |h| h.group.state() == GroupState::Running);
    assert!(Path::new(&state_a).exists() && Path::new(&state_b).exists());

    // b dies behind the group's back; its monitor notices and b alone is restarted.
    std::fs::remove_file(&state_b).unwrap();
    h.run_until("restart of b", |h| {
        h.group.state() == GroupState::Running
            && h.events.iter().any(|e| matches!(e, Event::ResourceRestarted { resource: 1, .. }))
    });

    h.group.stop(h.clock.now());
    h.run_until("stopped", |h| h.group.state() == GroupState::Stopped);
    assert!(h.group.is_stopped());
    assert_eq!(h.runner.running_count(), 0);

    let lines = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(
        lines,
        vec![
            "b stop",
            "a stop",
            "a start g=7",
            "b start g=7",
            "b monitor: not running",
            "b stop",
            "b start g=7",
            "b stop",
            "a stop",
        ]
    );
}

/// The loop sleeps in `poll` on the runner's exit descriptors: one per running action, readable
/// once that action has exited (not before: a running action must not wake the loop), and gone
/// once the exit is collected.
#[test]
fn an_exit_makes_the_action_s_descriptor_readable_and_collecting_it_removes_it() {
    let dir = test_dir("exit_fds");
    let gate = dir.join("gate");
    let agent = write_script(
        &dir,
        "agent",
        &format!("while [ ! -e '{}' ]; do sleep 0.01; done; exit 0", gate.display()),
    );
    let clock = Clock(Instant::now());
    let mut runner = Runner::new();
    assert_eq!(runner.exit_fds().count(), 0, "idle: nothing to poll");
    let resource = spec("r", &agent, &[], 10_000);
    spawn(&mut runner, clock.now(), &request(1, Action::Start, 10_000, 1), &resource).unwrap();
    let readable = |runner: &Runner, timeout_ms: i64| {
        let fds: Vec<_> = runner.exit_fds().collect();
        assert_eq!(fds.len(), 1, "one running action, one descriptor");
        let mut polled = [rustix::event::PollFd::new(&fds[0], rustix::event::PollFlags::IN)];
        let timeout =
            rustix::time::Timespec { tv_sec: timeout_ms / 1000, tv_nsec: (timeout_ms % 1000) * 1_000_000 };
        rustix::event::poll(&mut polled, Some(&timeout)).unwrap() == 1
    };
    assert!(!readable(&runner, 200), "the action still runs");
    std::fs::write(&gate, b"").unwrap();
    assert!(readable(&runner, PATIENCE.as_millis() as i64), "the exit did not wake the poll");
    let done = runner.poll_children(clock.now());
    assert_eq!(done.len(), 1, "the exit is collected at the first poll after the wakeup");
    assert_eq!(done[0].outcome, Outcome::Success);
    assert_eq!(runner.exit_fds().count(), 0);
}

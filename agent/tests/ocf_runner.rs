//! The OCF action runner with real shell-script agents, and the resource group driven end to
//! end through it; the meta-data reader; Debian's unmodified resource agents (package
//! resource-agents, installed by `make setup`) driven through both.
//!
//! Scripts are written to a directory under cargo's per-test temporary directory. Writing a
//! script and spawning any process share one lock: a script still open for writing in this
//! process when another thread forks could make its `exec` fail with ETXTBSY.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ha_agent::core::resources::{
    Action, ActionRequest, Agent, Event, Group, GroupSpec, GroupState, Name, Outcome, ResourceSpec,
    Validation, MAX_EXIT_REASON_BYTES,
};
use ha_agent::shell::ocf::inspect::{self, MetaDataFailure};
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
    let agent = if agent.starts_with("ocf:") { Agent::parse(agent).unwrap() } else { Agent::path_of(agent) };
    ResourceSpec {
        name: Name::try_from(name).unwrap(),
        agent,
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
    ActionRequest { id, resource: 0, action, timeout_ms, interval_ms: 0, generation }
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
    run_request(agent, &request(1, action, timeout_ms, 42), params)
}

/// Run `request` for a one-off resource named `r` to its end.
fn run_request(agent: &str, request: &ActionRequest, params: &[(&str, &str)]) -> Finished {
    let clock = Clock(Instant::now());
    let mut runner = Runner::new();
    let resource = spec("r", agent, params, request.timeout_ms);
    spawn(&mut runner, clock.now(), request, &resource).unwrap();
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

/// What Pacemaker passes and resource-agents relies on: the OCF version (without it the shell
/// library takes the agent for an init script), the type and provider, the timeout, and the
/// interval: the monitor interval for a recurring monitor, 0 for every other action.
#[test]
fn the_environment_carries_the_ocf_version_type_timeout_and_interval() {
    let dir = test_dir("environment_ocf");
    let out = dir.join("env.txt");
    let agent = write_script(
        &dir,
        "my-agent",
        &format!(
            r#"echo "$1 major=$OCF_RA_VERSION_MAJOR minor=$OCF_RA_VERSION_MINOR type=$OCF_RESOURCE_TYPE provider=${{OCF_RESOURCE_PROVIDER-unset}} timeout=$OCF_RESKEY_CRM_meta_timeout interval=$OCF_RESKEY_CRM_meta_interval" >> {}"#,
            out.display()
        ),
    );
    let monitor = ActionRequest { interval_ms: 10_000, ..request(1, Action::Monitor, 4_000, 1) };
    for request in [request(2, Action::Start, 5_000, 1), monitor, request(3, Action::ValidateAll, 5_000, 1)] {
        assert_eq!(run_request(&agent, &request, &[]).outcome, Outcome::Success);
    }
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        lines.lines().collect::<Vec<_>>(),
        [
            "start major=1 minor=0 type=my-agent provider=unset timeout=5000 interval=0",
            "monitor major=1 minor=0 type=my-agent provider=unset timeout=4000 interval=10000",
            "validate-all major=1 minor=0 type=my-agent provider=unset timeout=5000 interval=0",
        ]
    );
}

/// The whole environment of an `ocf:` agent, in order (built without running anything).
#[test]
fn an_ocf_agent_gets_its_provider_and_type_from_its_name() {
    let resource = spec("db", "ocf:heartbeat:pgsql", &[("pgdata", "/srv/pg")], 30_000);
    assert_eq!(resource.agent.path(), "/usr/lib/ocf/resource.d/heartbeat/pgsql");
    let monitor = ActionRequest { interval_ms: 15_000, ..request(1, Action::Monitor, 30_000, 9) };
    let env = ha_agent::shell::ocf::action_environment(&monitor, &resource);
    let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(
        env,
        [
            format!("PATH={}", ha_agent::shell::ocf::CLEAN_PATH).as_str(),
            "OCF_ROOT=/usr/lib/ocf",
            "OCF_RA_VERSION_MAJOR=1",
            "OCF_RA_VERSION_MINOR=0",
            "OCF_RESOURCE_INSTANCE=db",
            "OCF_RESOURCE_TYPE=pgsql",
            "OCF_RESOURCE_PROVIDER=heartbeat",
            "OCF_RESKEY_CRM_meta_timeout=30000",
            "OCF_RESKEY_CRM_meta_interval=15000",
            "HA_GENERATION=9",
            "OCF_RESKEY_pgdata=/srv/pg",
        ]
    );
}

/// resource-agents' `ocf_exit_reason` writes `ocf-exit-reason:TEXT` on stderr. The runner
/// takes the last such line of the whole output (not only the kept tail), as one line of
/// printable text, bounded.
#[test]
fn the_exit_reason_is_the_last_ocf_exit_reason_line_sanitized_and_bounded() {
    let dir = test_dir("exit_reason");
    let agent = write_script(
        &dir,
        "agent",
        r#"echo "ocf-exit-reason:an earlier reason" >&2
printf 'ocf-exit-reason:  pgdata [31m/srv/pg[0m	does not exist
' >&2
echo "not ocf-exit-reason:at the start of a line"
i=0; while [ $i -lt 200 ]; do echo "line $i of some output that is long enough to push"; i=$((i+1)); done
exit 6"#,
    );
    let finished = run_one(&agent, Action::Start, &[], 5_000);
    assert_eq!(finished.outcome, Outcome::Failed(6));
    assert!(!finished.output.contains("ocf-exit-reason"), "the reason line left the tail");
    assert_eq!(finished.exit_reason.as_str(), "pgdata  [31m/srv/pg [0m does not exist");

    let long = write_script(
        &dir,
        "long",
        &format!(
            "printf 'ocf-exit-reason:%s' '{}é'
exit 1",
            "x".repeat(300)
        ),
    );
    let finished = run_one(&long, Action::Monitor, &[], 5_000);
    assert_eq!(finished.exit_reason.len(), MAX_EXIT_REASON_BYTES, "cut to the bound, no newline needed");
    assert!(finished.exit_reason.chars().all(|c| c == 'x'));

    let none = write_script(&dir, "none", "echo 'all is fine'; exit 0");
    assert_eq!(run_one(&none, Action::Start, &[], 5_000).exit_reason.as_str(), "");
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
            self.group.handle_result_with_reason(now, f.id, f.outcome, f.exit_reason);
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

// ---- degraded monitors, validate-all and exit reasons through the group ---------------------

/// An agent that answers its monitor with whatever the file `$OCF_RESKEY_monitor` holds (an
/// exit code, then optionally a reason), and fails validate-all when `$OCF_RESKEY_invalid`
/// exists.
const SCRIPTED_AGENT: &str = r#"
case "$1" in
start|stop) exit 0;;
validate-all)
    [ -e "$OCF_RESKEY_invalid" ] || exit 0
    echo "ocf-exit-reason:$(cat "$OCF_RESKEY_invalid")" >&2; exit 6;;
monitor)
    read code reason < "$OCF_RESKEY_monitor"
    [ -n "$reason" ] && echo "ocf-exit-reason:$reason" >&2
    exit "$code";;
esac
exit 3"#;

fn scripted_harness(name: &str) -> (Harness, PathBuf, PathBuf) {
    let dir = test_dir(name);
    let agent = write_script(&dir, "agent", SCRIPTED_AGENT);
    let monitor = dir.join("monitor");
    let invalid = dir.join("invalid");
    std::fs::write(&monitor, "0\n").unwrap();
    let params = [("monitor", monitor.to_str().unwrap()), ("invalid", invalid.to_str().unwrap())];
    let mut resources = heapless::Vec::new();
    resources.push(spec("db", &agent, &params, 5_000)).unwrap();
    let clock = Clock(Instant::now());
    let group = Group::new(GroupSpec { resources, max_restarts: 3, restart_window_ms: 60_000 }, clock.now());
    (Harness { clock, group, runner: Runner::new(), events: Vec::new() }, monitor, invalid)
}

#[test]
fn a_degraded_monitor_keeps_the_resource_running_and_a_success_clears_it() {
    let (mut h, monitor, _) = scripted_harness("degraded");
    h.run_until("boot stop", |h| h.group.state() == GroupState::Stopped);
    h.group.start(h.clock.now(), 1).unwrap();
    h.run_until("running", |h| h.group.state() == GroupState::Running);

    std::fs::write(&monitor, "190 replication lag 30 s\n").unwrap();
    h.run_until("degraded", |h| h.events.iter().any(|e| matches!(e, Event::ResourceDegraded { .. })));
    let status = h.group.resources().next().unwrap();
    assert_eq!(status.state_str(), "degraded");
    assert_eq!(status.degraded.as_deref(), Some("replication lag 30 s"));
    assert_eq!(h.group.state(), GroupState::Running, "a degraded resource still counts as running");
    assert_eq!(status.failures, 0);

    std::fs::write(&monitor, "0\n").unwrap();
    h.run_until("recovered", |h| h.events.iter().any(|e| matches!(e, Event::ResourceRecovered { .. })));
    assert_eq!(h.group.resources().next().unwrap().state_str(), "running");
    assert!(!h
        .events
        .iter()
        .any(|e| matches!(e, Event::ResourceRestarted { .. } | Event::ResourceFailed { .. })));
    assert_eq!(h.events.iter().filter(|e| matches!(e, Event::ResourceDegraded { .. })).count(), 1);
}

#[test]
fn a_failing_monitor_s_exit_reason_reaches_the_event_and_the_last_failure() {
    let (mut h, monitor, _) = scripted_harness("monitor_reason");
    h.run_until("boot stop", |h| h.group.state() == GroupState::Stopped);
    h.group.start(h.clock.now(), 1).unwrap();
    h.run_until("running", |h| h.group.state() == GroupState::Running);
    std::fs::write(&monitor, "1 database does not answer\n").unwrap();
    h.run_until("a failure", |h| h.events.iter().any(|e| matches!(e, Event::ResourceFailed { .. })));
    let failed = h.events.iter().find(|e| matches!(e, Event::ResourceFailed { .. })).unwrap();
    assert_eq!(failed.exit_reason(), Some("database does not answer"));
    let last = h.group.resources().next().unwrap().last_failure.unwrap();
    assert_eq!(
        (last.action, last.outcome, last.exit_reason.as_str()),
        (Action::Monitor, Outcome::Failed(1), "database does not answer")
    );
}

#[test]
fn a_failing_validate_all_is_a_failed_start_with_its_reason_and_a_hard_one_fails_the_group() {
    let (mut h, _, invalid) = scripted_harness("validate");
    h.run_until("boot stop", |h| h.group.state() == GroupState::Stopped);
    h.group.set_validation(h.clock.now(), 0, Validation::Advertised);
    std::fs::write(&invalid, "pgdata /srv/pg does not exist").unwrap();
    h.group.start(h.clock.now(), 1).unwrap();
    h.run_until("failed", |h| h.group.state() == GroupState::Failed);
    let last = h.group.resources().next().unwrap().last_failure.unwrap();
    assert_eq!(
        (last.action, last.outcome, last.exit_reason.as_str()),
        (Action::ValidateAll, Outcome::Failed(6), "pgdata /srv/pg does not exist")
    );
    assert!(!h.events.iter().any(|e| matches!(e, Event::ResourceStarted { .. })), "never started");
    assert!(!h.events.iter().any(|e| matches!(e, Event::ResourceRestarted { .. })), "6 is a hard failure");
}

// ---- meta-data -------------------------------------------------------------------------------

#[test]
fn meta_data_is_read_and_parsed_and_every_way_it_can_fail_is_named() {
    let dir = test_dir("meta_data");
    let good = write_script(
        &dir,
        "good",
        r#"[ "$1" = meta-data ] || exit 3
[ "$OCF_RA_VERSION_MAJOR" = 1 ] || exit 1
echo "noise on stderr is ignored" >&2
cat <<END
<?xml version="1.0"?>
<resource-agent name="$OCF_RESOURCE_TYPE">
<parameters><parameter name="path" required="1"/><parameter name="mode"/></parameters>
<actions><action name="start"/><action name="validate-all"/></actions>
</resource-agent>
END"#,
    );
    let usage = write_script(&dir, "usage", "echo 'usage: start|stop|monitor'; exit 3");
    let garbage = write_script(&dir, "garbage", "echo '<html>not this</html>'");
    let chatty = write_script(&dir, "chatty", "while :; do echo '<resource-agent>'; done");
    let agents: Vec<Agent> = [&good, &usage, &garbage, &chatty, &dir.join("absent").display().to_string()]
        .iter()
        .map(|p| Agent::path_of(p))
        .collect();
    let _guard = EXEC_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let answers = inspect::read_meta_data(&agents);
    let meta = answers[0].as_ref().unwrap();
    assert_eq!(meta.name, "good");
    assert!(meta.parameter("path").unwrap().required && !meta.parameter("mode").unwrap().required);
    assert!(meta.advertises("validate-all"));
    assert_eq!(answers[1], Err(MetaDataFailure::Exit(Outcome::Failed(3))));
    assert!(matches!(answers[2], Err(MetaDataFailure::Parse(_))), "{:?}", answers[2]);
    assert_eq!(answers[3], Err(MetaDataFailure::TooLarge));
    assert!(matches!(answers[4], Err(MetaDataFailure::Spawn(_))), "{:?}", answers[4]);
}

/// All agents of a group share one bound; a hung one is killed with everything it started.
#[test]
fn a_hung_meta_data_is_killed_at_the_bound_with_its_process_group() {
    let dir = test_dir("meta_data_hung");
    let pid_file = dir.join("child.pid");
    let hung = write_script(&dir, "hung", &format!("sleep 1000 &\necho $! > {}\nwait", pid_file.display()));
    let started = Instant::now();
    let answers = {
        let _guard = EXEC_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        inspect::read_meta_data(&[Agent::path_of(&hung), Agent::path_of(&hung)])
    };
    let took = started.elapsed();
    assert_eq!(answers, [Err(MetaDataFailure::TimedOut), Err(MetaDataFailure::TimedOut)]);
    let bound = Duration::from_millis(inspect::META_DATA_TIMEOUT_MS);
    assert!(took >= bound && took < bound + Duration::from_secs(3), "took {took:?}");
    let grandchild: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    while !process_is_dead(grandchild) {
        assert!(started.elapsed() < PATIENCE, "the script's child {grandchild} survived the kill");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn installed_tells_a_missing_agent_from_one_that_cannot_be_executed() {
    let dir = test_dir("installed");
    let script = write_script(&dir, "agent", "exit 0");
    assert_eq!(inspect::installed(&Agent::path_of(&script)), Ok(()));
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        inspect::installed(&Agent::path_of(&script)),
        Err(ha_agent::config::AgentReport::NotExecutable(_))
    ));
    let absent = dir.join("absent").display().to_string();
    assert_eq!(
        inspect::installed(&Agent::path_of(&absent)),
        Err(ha_agent::config::AgentReport::Missing("no such file".into()))
    );
    assert!(matches!(
        inspect::installed(&Agent::path_of(dir.to_str().unwrap())),
        Err(ha_agent::config::AgentReport::NotExecutable(_))
    ));
}

// ---- Debian's resource-agents, unmodified ------------------------------------------------------

/// Tests of Debian's agents fail (they do not skip) without the package: `make setup` installs it.
fn require_resource_agents() {
    assert!(
        Path::new("/usr/lib/ocf/resource.d/heartbeat/Dummy").exists()
            && Path::new("/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs").exists(),
        "Debian's resource-agents is not installed (no /usr/lib/ocf/resource.d/heartbeat/Dummy): run `make setup`, or `apt-get install resource-agents`"
    );
}

#[test]
fn debian_s_agents_meta_data_declares_their_parameters_and_validate_all() {
    require_resource_agents();
    let names = ["Dummy", "Filesystem", "IPaddr2", "pgsql", "oracle", "oralsnr"];
    let agents: Vec<Agent> =
        names.iter().map(|n| Agent::parse(&format!("ocf:heartbeat:{n}")).unwrap()).collect();
    let answers = {
        let _guard = EXEC_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        inspect::read_meta_data(&agents)
    };
    for (name, answer) in names.iter().zip(&answers) {
        let meta = answer.as_ref().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(meta.advertises("validate-all"), "{name}");
        assert!(meta.advertises("monitor"), "{name}");
    }
    let required = |i: usize| -> Vec<&str> {
        answers[i]
            .as_ref()
            .unwrap()
            .parameters
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name.as_str())
            .collect()
    };
    assert_eq!(required(1), ["device", "directory", "fstype"]);
    assert_eq!(required(2), ["ip"]);
    assert!(answers[3].as_ref().unwrap().parameter("pgdata").is_some());
    assert_eq!(required(4), ["sid"]);
}

/// The Dummy agent through the group: its meta-data says validate-all, which then runs before
/// the start, and start, monitor and stop do what they should with the environment we give.
#[test]
fn debian_s_dummy_agent_validates_starts_monitors_and_stops_through_the_group() {
    require_resource_agents();
    let dir = test_dir("debian_dummy");
    let state = dir.join("dummy.state");
    let mut resources = heapless::Vec::new();
    resources
        .push(spec("dummy", "ocf:heartbeat:Dummy", &[("state", state.to_str().unwrap())], 10_000))
        .unwrap();
    let clock = Clock(Instant::now());
    let group = Group::new(GroupSpec { resources, max_restarts: 1, restart_window_ms: 60_000 }, clock.now());
    let mut h = Harness { clock, group, runner: Runner::new(), events: Vec::new() };
    h.run_until("boot stop", |h| h.group.state() == GroupState::Stopped);
    let meta = {
        let _guard = EXEC_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        inspect::read_meta_data(&[h.group.resource_spec(0).unwrap().agent.clone()])
    };
    assert!(meta[0].as_ref().unwrap().advertises("validate-all"));
    h.group.set_validation(h.clock.now(), 0, Validation::Advertised);
    h.group.start(h.clock.now(), 3).unwrap();
    // The validate-all is the first action after the start command.
    let first = h.group.in_flight().unwrap();
    assert_eq!(first.action, Action::ValidateAll);
    h.run_until("running", |h| h.group.state() == GroupState::Running);
    assert!(state.exists(), "Dummy records its state in the file we named");
    // A monitor through the real agent (100 ms interval in these specs).
    h.run_until("a monitor", |h| h.group.in_flight().is_some_and(|r| r.action == Action::Monitor));
    h.run_until("monitor done", |h| h.group.in_flight().is_none());
    assert_eq!(h.group.state(), GroupState::Running);
    h.group.stop(h.clock.now());
    h.run_until("stopped", |h| h.group.state() == GroupState::Stopped);
    assert!(!state.exists());
    assert!(!h.events.iter().any(|e| matches!(e, Event::ResourceFailed { .. })), "{:?}", h.events);
}

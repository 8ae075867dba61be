//! `make bench`: measures the agent at process level (three real agents joined by pty and UDP
//! cables, `ha_tests::harness::Rack`) and writes one JSON object with the figures, printing a
//! table of them. Every key the benchmark knows is present: a figure, or `null` with the reason
//! under `"not_measured"`. docs/bench.md lists the keys and how each is measured.
//!
//! It owns the experiments (kill and restart agents, run load, count events); the observation
//! helpers are in `ha_tests::bench`. It does not build anything and installs nothing: the
//! script scripts/bench-run.sh does that and passes the paths.
//!
//! Usage: bench --out FILE [--quick] [--skip detect,idle,load,failover] [--agent-bin PATH]
//!              [--image-dir DIR] [--boot-log FILE] [--fragment FILE]...

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ha_tests::bench::machine::{self, WakeProbe};
use ha_tests::bench::{is_link_down_line, parse_member_transition, percentile, sample_process, LogTail};
use ha_tests::harness::{others_of, Rack, ShellOptions, Timing, MEMBERS};

/// The agents run as a production configuration asks: memory locked and SCHED_FIFO 50, when
/// the bench runs as root (otherwise neither: the figures then say so in their details).
fn shell() -> ShellOptions {
    if rustix::process::geteuid().is_root() {
        ShellOptions { mlockall: true, realtime_priority: 50 }
    } else {
        ShellOptions::default()
    }
}
use serde_json::{json, Map, Value};

/// The product's default timing (agent/src/config: DEFAULT_TIMING).
const DEFAULT_PROFILE: Timing = Timing { interval_ms: 200, warn_ms: 500, dead_ms: 1000, initdead_ms: 5000 };
/// The fast profile: the shortest timing the agent accepts on the rack's serial cables. The
/// interval is 25 ms, not 20: they run at 115200 baud, where the largest frame (263 bytes)
/// takes 23 ms and `ha-agent check-config` requires it to fit in one interval; dead_ms is the
/// smallest it allows, three intervals. (Detection lands in dead_ms - U(0, interval) plus the
/// wakeup delay, so with dead_ms 100 the p99 could never be under 100 ms.)
const FAST_PROFILE: Timing = Timing { interval_ms: 25, warn_ms: 50, dead_ms: 75, initdead_ms: 1000 };
/// How often the observer reads the agents' logs and the ledger while timing an event.
const OBSERVER_POLL: Duration = Duration::from_millis(1);
/// Bound on how long a rack may take to come up (every link up, every member reachable).
const RACK_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on how long a failover may take before the trial counts as failed.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);
/// The wake probe's period during the load run, and its real-time priority: below the agents'
/// (50), so that it never delays them.
const PROBE_PERIOD: Duration = Duration::from_millis(2);
const PROBE_PRIORITY: u8 = 40;
/// Consecutive failed trials after which an experiment stops (the rack is broken).
const MAX_FAILED_TRIALS_IN_A_ROW: usize = 5;

struct Plan {
    quick: bool,
    detect_trials: usize,
    idle_s: u64,
    load_s: u64,
    failover_trials: usize,
    skip: Vec<String>,
}

/// The output: figures, and for each key without one, why.
struct Report {
    values: Map<String, Value>,
    not_measured: Map<String, Value>,
}

impl Report {
    fn set(&mut self, key: &str, value: Value) {
        self.not_measured.remove(key);
        self.values.insert(key.to_string(), value);
    }

    fn null(&mut self, key: &str, reason: &str) {
        self.values.insert(key.to_string(), Value::Null);
        self.not_measured.insert(key.to_string(), json!(reason));
    }
}

/// A small xorshift generator: jitter between trials so that kills do not lock to the
/// heartbeat phase.
struct Jitter(u64);

impl Jitter {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if bound == 0 {
            0
        } else {
            self.0 % bound
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn stats(samples: &[f64]) -> Value {
    let max = samples.iter().copied().fold(f64::NAN, f64::max);
    json!({
        "n": samples.len(),
        "p50": percentile(samples, 0.5).map(round1),
        "p99": percentile(samples, 0.99).map(round1),
        "min": percentile(samples, 0.0).map(round1),
        "max": if samples.is_empty() { Value::Null } else { json!(round1(max)) },
    })
}

fn timing_json(t: Timing) -> Value {
    json!({"interval_ms": t.interval_ms, "warn_ms": t.warn_ms, "dead_ms": t.dead_ms, "initdead_ms": t.initdead_ms})
}

fn tails_from_end(rack: &Rack) -> BTreeMap<&'static str, LogTail> {
    MEMBERS.iter().map(|m| (*m, LogTail::from_end(&rack.dir().join(format!("{m}.log"))))).collect()
}

/// Wait until every `(logger, member)` pair has a line in `logger`'s log saying `member` became
/// reachable. Lines are read from `tails`.
fn wait_reachable(
    tails: &mut BTreeMap<&'static str, LogTail>,
    pairs: &[(&'static str, &'static str)],
    timeout: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    let mut pending: Vec<(&str, &str)> = pairs.to_vec();
    while !pending.is_empty() {
        for (logger, tail) in tails.iter_mut() {
            for line in tail.poll().map_err(|e| e.to_string())? {
                if let Some(t) = parse_member_transition(&line) {
                    if t.to == "reachable" {
                        pending.retain(|(l, m)| !(l == logger && *m == t.member));
                    }
                }
            }
        }
        if started.elapsed() > timeout {
            return Err(format!("not reachable again within {timeout:?}: {pending:?}"));
        }
        std::thread::sleep(OBSERVER_POLL);
    }
    Ok(())
}

/// Priority 1: kill -9 a member's agent, time until both of its peers log it unreachable.
fn detect(name: &str, timing: Timing, trials: usize, jitter: &mut Jitter) -> Result<Value, String> {
    let rack = Rack::builder(&format!("bench-detect-{name}"))
        .timing(timing)
        .shell(shell())
        .log_level("info")
        .start()?;
    wait_up(&rack)?;
    let mut tails = tails_from_end(&rack);
    let mut both = Vec::new();
    let mut first = Vec::new();
    let mut missed = 0usize;
    let mut failed_in_a_row = 0usize;
    let detect_timeout = Duration::from_millis(timing.dead_ms * 10) + Duration::from_secs(2);
    let rejoin_timeout = Duration::from_millis(timing.initdead_ms * 2) + Duration::from_secs(10);
    for trial in 0..trials {
        let victim = MEMBERS[trial % MEMBERS.len()];
        let peers = others_of(victim);
        std::thread::sleep(Duration::from_millis(timing.interval_ms * 2 + jitter.below(timing.interval_ms)));
        for tail in tails.values_mut() {
            tail.poll().map_err(|e| e.to_string())?;
        }
        let killed = Instant::now();
        rack.kill(victim);
        let mut seen: Vec<Option<Duration>> = vec![None; peers.len()];
        while seen.iter().any(Option::is_none) && killed.elapsed() < detect_timeout {
            for (index, peer) in peers.iter().enumerate() {
                let tail = tails.get_mut(peer).ok_or("no tail")?;
                for line in tail.poll().map_err(|e| e.to_string())? {
                    if let Some(t) = parse_member_transition(&line) {
                        if t.member == victim && t.to == "unreachable" && seen[index].is_none() {
                            seen[index] = Some(killed.elapsed());
                        }
                    }
                }
            }
            std::thread::sleep(OBSERVER_POLL);
        }
        if seen.iter().all(Option::is_some) {
            let times: Vec<f64> = seen.iter().flatten().map(|d| ms(*d)).collect();
            both.push(times.iter().copied().fold(0.0, f64::max));
            first.push(times.iter().copied().fold(f64::INFINITY, f64::min));
            failed_in_a_row = 0;
        } else {
            missed += 1;
            failed_in_a_row += 1;
            eprintln!("bench: detect {name} trial {trial}: {victim} not declared unreachable by both peers within {detect_timeout:?}");
        }
        if failed_in_a_row >= MAX_FAILED_TRIALS_IN_A_ROW {
            return Err(format!(
                "{failed_in_a_row} trials in a row failed; rack at {}",
                rack.dir().display()
            ));
        }
        // Restart the victim; the next trial starts once it and its peers see each other again.
        let victim_tail = tails.get_mut(victim).ok_or("no tail")?;
        *victim_tail = LogTail::from_end(&rack.dir().join(format!("{victim}.log")));
        rack.restart(victim)?;
        let mut pairs: Vec<(&'static str, &'static str)> = peers.iter().map(|p| (*p, victim)).collect();
        pairs.extend(peers.iter().map(|p| (victim, *p)));
        wait_reachable(&mut tails, &pairs, rejoin_timeout)?;
        rack.check_running()?;
        if (trial + 1) % 50 == 0 {
            eprintln!("bench: detect {name}: {} trials done", trial + 1);
        }
    }
    Ok(json!({
        "profile": timing_json(timing),
        "trials": trials,
        "missed": missed,
        "all_peers_ms": stats(&both),
        "first_peer_ms": stats(&first),
    }))
}

/// Wait until every member sees every link up and both others reachable; on failure the
/// agents' log tails go to stderr.
fn wait_up(rack: &Rack) -> Result<(), String> {
    rack.wait_for(RACK_UP_TIMEOUT, || rack.everything_up()).map(|_| ()).map_err(|e| {
        rack.print_tails();
        format!("rack never came up: {e}")
    })
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn agent_pid(rack: &Rack, member: &str) -> Result<u32, String> {
    let text = fs::read_to_string(rack.dir().join(format!("pid-{member}"))).map_err(|e| e.to_string())?;
    text.trim().parse().map_err(|e| format!("pid-{member}: {e}"))
}

/// Priority 2: RSS and CPU of each agent of an idle rack with the default profile.
fn idle(seconds: u64) -> Result<Value, String> {
    let rack =
        Rack::builder("bench-idle").timing(DEFAULT_PROFILE).shell(shell()).log_level("info").start()?;
    wait_up(&rack)?;
    std::thread::sleep(Duration::from_secs(2));
    let tick_hz = clock_ticks_per_second();
    let pids: Vec<(&str, u32)> =
        MEMBERS.iter().map(|m| Ok((*m, agent_pid(&rack, m)?))).collect::<Result<_, String>>()?;
    // Heap allocations (the agent's counting allocator, in status): two reads back to back
    // give what one status request costs, which is taken off the window's difference.
    let allocations = |m: &str| -> Result<i64, String> {
        rack.try_status(m)?["allocations"].as_i64().ok_or(format!("{m}: no allocations in status"))
    };
    let mut alloc_start = Vec::new();
    for (m, _) in &pids {
        let first = allocations(m)?;
        let second = allocations(m)?;
        alloc_start.push((second, second - first));
    }
    let start: Vec<u64> = pids
        .iter()
        .map(|(m, p)| sample_process(*p).map(|s| s.2).ok_or(format!("{m}: no /proc")))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut rss_max = vec![0u64; pids.len()];
    while started.elapsed() < Duration::from_secs(seconds) {
        for (index, (_, pid)) in pids.iter().enumerate() {
            if let Some((rss, _, _)) = sample_process(*pid) {
                rss_max[index] = rss_max[index].max(rss);
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let mut members = Map::new();
    let (mut worst_rss, mut worst_cpu) = (0u64, 0.0f64);
    let mut worst_allocs_per_s = 0.0f64;
    for (index, (member, pid)) in pids.iter().enumerate() {
        let (rss, hwm, ticks) = sample_process(*pid).ok_or(format!("{member} exited during the idle run"))?;
        let cpu_percent = (ticks - start[index]) as f64 / tick_hz as f64 / elapsed_s * 100.0;
        worst_rss = worst_rss.max(rss_max[index].max(rss));
        worst_cpu = worst_cpu.max(cpu_percent);
        let (base, status_cost) = alloc_start[index];
        let in_window = (allocations(member)? - base - status_cost).max(0);
        let allocs_per_s = in_window as f64 / elapsed_s;
        worst_allocs_per_s = worst_allocs_per_s.max(allocs_per_s);
        members.insert(
            member.to_string(),
            json!({"rss_kib_max": rss_max[index].max(rss), "hwm_kib": hwm, "cpu_percent": (cpu_percent * 1000.0).round() / 1000.0,
                   "allocations_in_window": in_window, "status_request_allocations": status_cost}),
        );
    }
    rack.check_running()?;
    Ok(json!({
        "seconds": round1(elapsed_s),
        "links_per_member": 4,
        "clock_ticks_per_second": tick_hz,
        "rss_kib": worst_rss,
        "cpu_percent": (worst_cpu * 1000.0).round() / 1000.0,
        "allocations_per_s": (worst_allocs_per_s * 1000.0).round() / 1000.0,
        "members": members,
    }))
}

// The failover rig of tests/tests/process_failover.rs (ha_tests::fixtures).
fn failover_rack(name: &str, timing: Timing) -> Result<Rack, String> {
    ha_tests::fixtures::failover_rack_with(
        Rack::builder(name).timing(timing).shell(shell()).log_level("info"),
    )
}

/// The ledger's "<node> <generation> start" lines.
fn ledger_starts(dir: &Path) -> Vec<(String, u64)> {
    fs::read_to_string(dir.join("ledger"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (node, generation, what) = (f.next()?, f.next()?.parse().ok()?, f.next()?);
            (what == "start").then(|| (node.to_string(), generation))
        })
        .collect()
}

use ha_tests::fixtures::{kill_pid, service_pid};

fn member_reachable(rack: &Rack, observer: &str, member: &str) -> bool {
    rack.try_status(observer).is_ok_and(|s| ha_tests::harness::member_state(&s, member) == Some("reachable"))
}

/// Priority 4: kill -9 of the holder's agent and service, time until the other node's start
/// line is in the ledger. The killed node is powered on again (restarted) between trials.
fn failover(trials: usize, timing: Timing, jitter: &mut Jitter) -> Result<Value, String> {
    let rack = failover_rack("bench-failover", timing)?;
    let dir = rack.dir().to_path_buf();
    rack.wait_for(RACK_UP_TIMEOUT, || ledger_starts(&dir).iter().any(|(n, _)| n == "node-a")).map_err(
        |e| {
            rack.print_tails();
            format!("node-a never ran the service: {e}")
        },
    )?;
    let mut samples = Vec::new();
    let mut failed = 0usize;
    let mut holder = "node-a";
    for trial in 0..trials {
        let other = if holder == "node-a" { "node-b" } else { "node-a" };
        // Let the cluster settle: the other node in standby and seen by the witness.
        rack.wait_for(Duration::from_secs(30), || {
            member_reachable(&rack, "witness", other) && member_reachable(&rack, holder, other)
        })
        .map_err(|e| format!("trial {trial}: {other} not back: {e}"))?;
        std::thread::sleep(Duration::from_millis(2000 + jitter.below(timing.interval_ms)));
        let before = ledger_starts(&dir).len();
        let service = service_pid(&dir, holder);
        let _ = fs::remove_file(dir.join(format!("on-{holder}")));
        let killed = Instant::now();
        rack.kill(holder);
        if let Some(pid) = service {
            kill_pid(pid);
        }
        let mut took = None;
        while killed.elapsed() < FAILOVER_TIMEOUT {
            let starts = ledger_starts(&dir);
            if starts[before.min(starts.len())..].iter().any(|(n, _)| n == other) {
                took = Some(killed.elapsed());
                break;
            }
            std::thread::sleep(OBSERVER_POLL);
        }
        match took {
            Some(d) => samples.push(ms(d)),
            None => {
                failed += 1;
                eprintln!("bench: failover trial {trial}: {other} did not start within {FAILOVER_TIMEOUT:?}");
                break;
            }
        }
        // The relay powers the fenced node on again; it boots and stays in standby.
        rack.wait_for(Duration::from_secs(20), || dir.join(format!("on-{holder}")).exists())
            .map_err(|e| format!("trial {trial}: {holder} not powered on: {e}"))?;
        rack.restart(holder)?;
        holder = other;
    }
    let fence_offs = fs::read_to_string(dir.join("fence.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("off "))
        .count();
    Ok(json!({
        "profile": timing_json(timing),
        "trials": trials,
        "failed": failed,
        "fence_off_actions": fence_offs,
        "restore_ms": stats(&samples),
    }))
}

fn start_stress(seconds: u64, dir: &Path) -> Result<Child, String> {
    Command::new("stress-ng")
        .args([
            "--cpu",
            "2",
            "--vm",
            "1",
            "--vm-bytes",
            "512M",
            "--io",
            "1",
            "--hdd",
            "1",
            "--hdd-bytes",
            "128M",
        ])
        .args(["--timeout", &format!("{seconds}s"), "--temp-path"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("stress-ng: {e}"))
}

/// Priority 3: the failover rig with the fast profile under stress-ng, no fault injected;
/// counts unreachable declarations, link-down transitions, fence actions and failovers.
fn load(seconds: u64) -> Result<Value, String> {
    let mut rack = failover_rack("bench-load", FAST_PROFILE)?;
    let dir = rack.dir().to_path_buf();
    rack.wait_for(RACK_UP_TIMEOUT, || ledger_starts(&dir).iter().any(|(n, _)| n == "node-a"))
        .map_err(|e| format!("node-a never ran the service: {e}"))?;
    std::thread::sleep(Duration::from_secs(3));
    let starts_before = ledger_starts(&dir).len();
    // The stand-in logs every call: `off`/`on` are fences and power-ons, `status` the relay's
    // periodic health checks.
    let fence_offs = || {
        fs::read_to_string(dir.join("fence.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("off"))
            .count()
    };
    let fence_before = fence_offs();
    let mut tails = tails_from_end(&rack);
    let mut stress = start_stress(seconds + 5, &dir)?;
    let started = Instant::now();
    // What the machine does to every process meanwhile (docs/performance.md, "Failover").
    let cpu_before = machine::cpu_times();
    let probe =
        WakeProbe::start(PROBE_PERIOD, seconds, PROBE_PRIORITY).map_err(|e| format!("wake probe: {e}"))?;
    let (mut unreachable, mut link_downs) = (0usize, 0usize);
    let mut examples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        for tail in tails.values_mut() {
            for line in tail.poll().map_err(|e| e.to_string())? {
                let declared = parse_member_transition(&line).is_some_and(|t| t.to == "unreachable");
                if declared {
                    unreachable += 1;
                }
                if is_link_down_line(&line) {
                    link_downs += 1;
                }
                if (declared || is_link_down_line(&line)) && examples.len() < 10 {
                    examples.push(line.trim().to_string());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let steal = cpu_before.zip(machine::cpu_times()).and_then(|(a, b)| machine::steal_percent(a, b));
    let (probe_cpus, probe_realtime) = (probe.cpus.clone(), probe.realtime);
    let woke = probe.finish();
    // stress-ng ran the whole window when it had not exited before the end.
    let stress_ran = matches!(stress.try_wait(), Ok(None));
    let _ = stress.kill();
    let _ = stress.wait();
    let starts = ledger_starts(&dir);
    let failovers = starts[starts_before.min(starts.len())..].len();
    let fence_actions = fence_offs() - fence_before;
    let running = rack.check_running();
    if let Err(e) = &running {
        eprintln!("bench: load: {e}");
        rack.print_tails();
    }
    // Each loop's worst lateness and longest work between sleeps (status `stalls`).
    let stalls: Map<String, Value> = MEMBERS
        .iter()
        .map(|m| (m.to_string(), rack.try_status(m).map_or(Value::Null, |s| s["stalls"].clone())))
        .collect();
    if unreachable > 0 || failovers > 0 {
        rack.keep_dir();
        eprintln!("bench: load: the agents' logs are kept in {}", dir.display());
    }
    Ok(json!({
        "profile": timing_json(FAST_PROFILE),
        "seconds": round1(started.elapsed().as_secs_f64()),
        "stress_ng": "--cpu 2 --vm 1 --vm-bytes 512M --io 1 --hdd 1 --hdd-bytes 128M",
        "stress_ran_throughout": stress_ran,
        "unreachable_declarations": unreachable,
        "link_down_transitions": link_downs,
        "failovers": failovers,
        "fence_actions": fence_actions,
        "agents_running_at_end": running.is_ok(),
        "agents_exited": running.err(),
        "examples": examples,
        "realtime_priority": shell().realtime_priority,
        "mlockall": shell().mlockall,
        "stalls": stalls,
        "host_steal_percent": steal,
        "wake_probe": {
            "period_ms": PROBE_PERIOD.as_millis() as u64,
            "priority": PROBE_PRIORITY,
            "realtime": probe_realtime,
            "cpus": probe_cpus,
            "slots": woke.slots,
            "late_ms_max_per_cpu": woke.late_ms_max_per_cpu,
            "all_cpus_late_ms_max": woke.all_late_ms_max,
            "slots_all_cpus_late_over_10ms": woke.all_late_over_10ms,
            "one_cpu_late_ms_max": woke.solo_late_ms_max,
        },
    }))
}

fn file_size(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.len())
}

/// "boot 1 (first boot): boot to agent ready: 12.3 s from QEMU start (host clock), ..." lines.
fn boot_ready_ms(log: &str) -> Vec<f64> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split("boot to agent ready: ").nth(1)?;
            let seconds: f64 = rest.split_whitespace().next()?.parse().ok()?;
            Some(seconds * 1000.0)
        })
        .collect()
}

fn parse_args() -> Result<(Plan, BTreeMap<String, Vec<String>>), String> {
    let mut opts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut args = std::env::args().skip(1);
    let mut quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--out" | "--skip" | "--agent-bin" | "--image-dir" | "--boot-log" | "--fragment" => {
                let value = args.next().ok_or(format!("{arg} needs a value"))?;
                opts.entry(arg.trim_start_matches("--").to_string()).or_default().push(value);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let skip = opts
        .get("skip")
        .map(|v| v.iter().flat_map(|s| s.split(',')).map(str::to_string).collect())
        .unwrap_or_default();
    let plan = if quick {
        Plan { quick, detect_trials: 30, idle_s: 20, load_s: 60, failover_trials: 4, skip }
    } else {
        Plan { quick, detect_trials: 200, idle_s: 60, load_s: 600, failover_trials: 10, skip }
    };
    Ok((plan, opts))
}

fn main() {
    // The cables between the agents stand in for wires: as real-time as the agents, with the
    // bench's memory locked, so that the load check measures the agents, not its own proxies.
    if shell().realtime_priority > 0 {
        ha_tests::cable::set_proxy_realtime_priority(shell().realtime_priority);
        if let Err(e) = ha_agent::shell::sys::lock_memory() {
            eprintln!("bench: cannot lock memory: {e}");
        }
    }
    let (plan, opts) = match parse_args() {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("bench: {error}");
            std::process::exit(2);
        }
    };
    let out = PathBuf::from(
        opts.get("out").and_then(|v| v.last()).cloned().unwrap_or_else(|| "out/bench.json".into()),
    );
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1;
    let mut jitter = Jitter(seed);
    let mut report = Report { values: Map::new(), not_measured: Map::new() };
    let mut details = Map::new();
    let skipped = |section: &str| plan.skip.iter().any(|s| s == section);
    report.set("quick", json!(plan.quick));

    // Sizes.
    match opts.get("agent-bin").and_then(|v| v.last()).and_then(|p| file_size(Path::new(p))) {
        Some(bytes) => report.set("agent_binary_bytes", json!(bytes)),
        None => report
            .null("agent_binary_bytes", "the static release binary was not given or not found (make agent)"),
    }
    let image_dir = opts.get("image-dir").and_then(|v| v.last()).map(PathBuf::from);
    match image_dir.as_ref().filter(|d| d.join("root.squashfs").is_file()) {
        Some(dir) => {
            let mut files = Map::new();
            let mut total = 0;
            // What boots is the kernel and the initramfs; the squashfs root is inside the
            // initramfs (listed, not added), data.ext4 is the data partition (not the image).
            for (name, counted) in [("vmlinuz", true), ("initramfs.cpio.gz", true), ("root.squashfs", false)]
            {
                if let Some(bytes) = file_size(&dir.join(name)) {
                    files.insert(name.to_string(), json!(bytes));
                    if counted {
                        total += bytes;
                    }
                }
            }
            report.set("image_bytes", json!(total));
            details.insert("image_files".into(), Value::Object(files));
        }
        None => report.null(
            "image_bytes",
            "out/image is absent: run `make image` first (the bench does not build the image)",
        ),
    }
    match opts.get("boot-log").and_then(|v| v.last()).map(fs::read_to_string) {
        Some(Ok(log)) if !boot_ready_ms(&log).is_empty() => {
            let boots = boot_ready_ms(&log);
            report.set("boot_to_ready_ms", json!(boots[0].round()));
            details.insert("boot_to_ready_ms_all".into(), json!(boots));
        }
        _ => report.null(
            "boot_to_ready_ms",
            "not run: set BENCH_BOOT=1 with out/image built (the QEMU boot test under TCG, about 1.5 minutes; emulated boot time, not hardware)",
        ),
    }

    // Detection.
    for (name, timing, suffix) in [("default", DEFAULT_PROFILE, ""), ("fast", FAST_PROFILE, "_fast")] {
        let (k50, k99) = (format!("detect_ms_p50{suffix}"), format!("detect_ms_p99{suffix}"));
        if skipped("detect") {
            report.null(&k50, "skipped (--skip detect)");
            report.null(&k99, "skipped (--skip detect)");
            continue;
        }
        eprintln!("bench: detection, {name} profile, {} trials", plan.detect_trials);
        match detect(name, timing, plan.detect_trials, &mut jitter) {
            Ok(v) => {
                report.set(&k50, v["all_peers_ms"]["p50"].clone());
                report.set(&k99, v["all_peers_ms"]["p99"].clone());
                details.insert(format!("detect_{name}"), v);
            }
            Err(e) => {
                report.null(&k50, &format!("failed: {e}"));
                report.null(&k99, &format!("failed: {e}"));
            }
        }
    }

    // Idle cost.
    if skipped("idle") {
        report.null("agent_rss_kib", "skipped (--skip idle)");
        report.null("agent_cpu_idle_percent", "skipped (--skip idle)");
        report.null("agent_allocations_per_s_idle", "skipped (--skip idle)");
    } else {
        eprintln!("bench: idle rack, default profile, {} s", plan.idle_s);
        match idle(plan.idle_s) {
            Ok(v) => {
                report.set("agent_rss_kib", v["rss_kib"].clone());
                report.set("agent_cpu_idle_percent", v["cpu_percent"].clone());
                report.set("agent_allocations_per_s_idle", v["allocations_per_s"].clone());
                details.insert("idle".into(), v);
            }
            Err(e) => {
                report.null("agent_rss_kib", &format!("failed: {e}"));
                report.null("agent_cpu_idle_percent", &format!("failed: {e}"));
                report.null("agent_allocations_per_s_idle", &format!("failed: {e}"));
            }
        }
    }

    // Failover in the process rack.
    if skipped("failover") {
        report.null("failover_process_ms_p50", "skipped (--skip failover)");
        report.null("failover_process_ms_max", "skipped (--skip failover)");
    } else {
        eprintln!("bench: process failover, default profile, {} trials", plan.failover_trials);
        match failover(plan.failover_trials, DEFAULT_PROFILE, &mut jitter) {
            Ok(v) => {
                report.set("failover_process_ms_p50", v["restore_ms"]["p50"].clone());
                report.set("failover_process_ms_max", v["restore_ms"]["max"].clone());
                details.insert("failover_process".into(), v);
            }
            Err(e) => {
                report.null("failover_process_ms_p50", &format!("failed: {e}"));
                report.null("failover_process_ms_max", &format!("failed: {e}"));
            }
        }
    }
    let no_vrack = "the virtual rack was not run: BENCH_RACK=1 runs its power-cut scenario BENCH_RACK_TRIALS times (about 2 minutes each under TCG)";
    report.null("failover_ms_p50", no_vrack);
    report.null("failover_ms_max", no_vrack);

    // Load.
    let have_stress = Command::new("stress-ng")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let load_keys = [
        "false_failovers",
        "false_unreachable",
        "host_steal_percent_under_load",
        "wake_late_ms_max_all_cpus_under_load",
    ];
    if skipped("load") {
        load_keys.iter().for_each(|k| report.null(k, "skipped (--skip load)"));
    } else if !have_stress {
        load_keys
            .iter()
            .for_each(|k| report.null(k, "stress-ng is not installed (scripts/bench-run.sh installs it)"));
    } else {
        eprintln!("bench: stress-ng load, fast profile, {} s", plan.load_s);
        match load(plan.load_s) {
            Ok(v) => {
                report.set("false_failovers", v["failovers"].clone());
                report.set("false_unreachable", v["unreachable_declarations"].clone());
                match &v["host_steal_percent"] {
                    Value::Null => {
                        report.null("host_steal_percent_under_load", "/proc/stat could not be read")
                    }
                    steal => report.set("host_steal_percent_under_load", steal.clone()),
                }
                report.set(
                    "wake_late_ms_max_all_cpus_under_load",
                    v["wake_probe"]["all_cpus_late_ms_max"].clone(),
                );
                details.insert("load".into(), v);
            }
            Err(e) => load_keys.iter().for_each(|k| report.null(k, &format!("failed: {e}"))),
        }
    }

    report.null(
        "array_event_to_trap_ms",
        "the notification test did not run (BENCH_SKIP=trap, or it failed: tests/tests/process_notifications.rs)",
    );

    // Fragments written by other scripts (the floating-IP rig, the trap test): their keys
    // override the defaults below.
    for key in [
        "keepalived_failover_ms_p50",
        "agent_vip_failover_ms_p50",
        "ratio_failover_vs_keepalived",
        "agent_vip_ipaddr_failover_ms_p50",
        "vip_software_overhead_ms",
    ] {
        report.null(key, "the floating-IP rig did not run (BENCH_SKIP=keepalived, not root, or it failed: scripts/bench-vip.sh)");
    }
    for key in [
        "pacemaker_failover_ms_p50",
        "pacemaker_failover_ms_max",
        "pacemaker_failover_ms_tuned_p50",
        "pacemaker_failover_ms_tuned_max",
        "agent_debian_failover_ms_p50",
        "agent_debian_failover_ms_max",
        "agent_debian_failover_ms_fast_p50",
        "agent_debian_failover_ms_fast_max",
        "ratio_failover_vs_pacemaker",
    ] {
        report.null(
            key,
            "the rack's power cuts under Pacemaker and the agent on Debian nodes did not run (BENCH_PACEMAKER=0 \
             or no out/image: scripts/bench-pacemaker.py)",
        );
    }
    for path in opts.get("fragment").cloned().unwrap_or_default() {
        match fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
        {
            Ok(Value::Object(map)) => {
                for (key, value) in map {
                    if key == "not_measured" {
                        for (k, why) in value.as_object().cloned().unwrap_or_default() {
                            report.null(&k, why.as_str().unwrap_or("see fragment"));
                        }
                    } else if key == "details" {
                        details.extend(value.as_object().cloned().unwrap_or_default());
                    } else if !value.is_null() {
                        report.set(&key, value);
                    }
                }
            }
            Ok(_) => eprintln!("bench: fragment {path} is not an object"),
            Err(e) => eprintln!("bench: fragment {path}: {e}"),
        }
    }

    let mut object = report.values.clone();
    object.insert("not_measured".into(), Value::Object(report.not_measured.clone()));
    object.insert("details".into(), Value::Object(details));
    let text = serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default();
    if let Some(parent) = out.parent() {
        let _ = fs::create_dir_all(parent);
    }
    if let Err(e) = fs::write(&out, format!("{text}\n")) {
        eprintln!("bench: writing {}: {e}", out.display());
        std::process::exit(1);
    }
    println!("{:<32} {:>14}  note", "figure", "value");
    for (key, value) in &report.values {
        let note = report.not_measured.get(key).and_then(Value::as_str).unwrap_or("");
        let shown = if value.is_null() { "null".to_string() } else { value.to_string() };
        let note: String = note.chars().take(70).collect();
        println!("{key:<32} {shown:>14}  {note}");
    }
    println!(
        "written: {}{}",
        out.display(),
        if plan.quick { " (BENCH_QUICK=1: shortened runs)" } else { "" }
    );
}

//! `make sim`: run the deterministic cluster simulator over many seeds, or one seed with its
//! trace. Usage: `sim [--seeds N] [--first S] [--threads T]` or `sim --seed S [--trace]`.
//! Built with the `mutations` feature: `sim --mutation NAME[,NAME] --expect-violation --seeds N`
//! succeeds only if the simulator finds a safety violation of the deliberately broken build,
//! and prints the first seed that found it; `sim --list-mutations` prints the arguments of
//! each broken build `make test-sim` runs. `--invariant-only`: the observer checks only the
//! invariant itself (for a second line of defence, with a first line broken too).

use ha_tests::sim;

fn arg(args: &[String], name: &str) -> Option<u64> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A failed assertion of the core is reported as a violation with its message.
    std::panic::set_hook(Box::new(|_| {}));
    if args.iter().any(|a| a == "--list-mutations") {
        // One line of arguments per broken build.
        for set in ha_agent::core::mutation::Mutation::simulated() {
            let names: Vec<&str> = set.iter().map(|m| m.name()).collect();
            let observer = if set.iter().any(|m| m.second_line()) { " --invariant-only" } else { "" };
            println!("--mutation {}{observer}", names.join(","));
        }
        return;
    }
    #[cfg(feature = "mutations")]
    if let Some(i) = args.iter().position(|a| a == "--mutation") {
        use ha_agent::core::mutation::{set, Mutation};
        let mut ms = Vec::new();
        for name in args.get(i + 1).map(String::as_str).unwrap_or("").split(',') {
            match Mutation::from_name(name) {
                Some(m) => ms.push(m),
                None => {
                    eprintln!("unknown mutation {name:?}");
                    std::process::exit(2);
                }
            }
        }
        set(&ms);
        for m in ms {
            print!("mutation {:<30} ({:<24}) ", m.name(), m.rule());
        }
    }
    if args.iter().any(|a| a == "--invariant-only") {
        sim::set_invariant_only(true);
        print!("observer: the invariant only ");
    }
    #[cfg(not(feature = "mutations"))]
    if args.iter().any(|a| a == "--mutation") {
        eprintln!("--mutation needs the simulator built with --features mutations");
        std::process::exit(2);
    }
    if let Some(seed) = arg(&args, "--seed") {
        let r = sim::run_seed(seed);
        print!("{}", r.scenario.describe());
        if args.iter().any(|a| a == "--trace") || !r.violations.is_empty() {
            for line in &r.trace {
                println!("{line}");
            }
        }
        println!(
            "failovers {} fences {} (needless {}) self-fences {} watchdog resets {} restore {:?} ms",
            r.stats.failovers,
            r.stats.fences,
            r.stats.needless_fences,
            r.stats.self_fences,
            r.stats.watchdog_resets,
            r.stats.restore_ms
        );
        for v in &r.violations {
            println!("VIOLATION: {v}");
        }
        println!("violations: {}", r.violations.len());
        if !r.violations.is_empty() {
            println!("reproduce with: make sim SEED={seed}");
            std::process::exit(1);
        }
        return;
    }
    let seeds = arg(&args, "--seeds").unwrap_or(1000);
    let first = arg(&args, "--first").unwrap_or(1);
    let threads = arg(&args, "--threads")
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64))
        as usize;
    let started = std::time::Instant::now();
    let expect_violation = args.iter().any(|a| a == "--expect-violation");
    let s = sim::run_many(first, seeds, threads, expect_violation);
    let secs = started.elapsed().as_secs_f64();
    if expect_violation {
        // Self-test of the simulator against a deliberately broken build: one line.
        match s.first_safety {
            Some(seed) => {
                let r = sim::run_seed(seed);
                let found = r.violations.iter().find(|v| sim::is_safety(v)).cloned().unwrap_or_default();
                println!("caught: first seed {seed} ({:.1} s): {found}", secs);
                return;
            }
            None => {
                println!("FAIL: the broken build went undetected in seeds {first}..{}", first + seeds - 1);
                std::process::exit(1);
            }
        }
    }
    println!(
        "simulated schedules: {} (seeds {first}..{}) in {secs:.1} s on {threads} threads",
        s.schedules,
        first + seeds - 1
    );
    println!(
        "failovers: {}  fences: {}  self-fences: {}  watchdog resets: {}",
        s.failovers, s.fences, s.self_fences, s.watchdog_resets
    );
    println!(
        "needless fences (of a node alive and reachable, its resources not stuck in a stop): {} in {} schedules (first seed {:?})",
        s.needless_fences, s.needless_schedules, s.needless_first_seed
    );
    println!(
        "worst time to restore the service after the faults healed: {} ms (seed {})",
        s.worst_restore_ms, s.worst_restore_seed
    );
    println!("schedules per fault class (at least one such fault, scheduled or aimed):");
    for (class, n) in &s.fault_classes {
        println!("  {class:<32} {n:>7}  ({:.1} %)", 100.0 * *n as f64 / s.schedules.max(1) as f64);
    }
    println!("schedules with a fault aimed at a protocol event ({} aimed faults in all):", s.aimed_faults);
    for (event, n) in &s.aimed_at {
        println!("  at a {event:<26} {n:>7}  ({:.1} %)", 100.0 * *n as f64 / s.schedules.max(1) as f64);
    }
    println!(
        "agent stops: {} handed the service over, {} left with nothing to stop, {} left it running (maintenance)",
        s.leaves[0], s.leaves[1], s.leaves[2]
    );
    println!("violations: {}", s.violations);
    if let Some(seed) = s.first_failure {
        let mut failing = s.failing.clone();
        failing.sort();
        for (seed, v) in &failing {
            println!("failing seed {seed}: {v}");
        }
        let r = sim::run_seed(seed);
        print!("{}", r.scenario.describe());
        for line in &r.trace {
            println!("{line}");
        }
        for v in &r.violations {
            println!("VIOLATION: {v}");
        }
        println!("reproduce with: make sim SEED={seed}");
        std::process::exit(1);
    }
}

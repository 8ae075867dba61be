//! `ha-agent`: one multi-call binary. Subcommands: `run`, `check-config`, `status`, the
//! operator commands, `log`, the device checks, `help` and `version`. Thin: the command table,
//! the option grammar, the exit codes, `status --check` and `--wait` are in the library's
//! `cli` module; every subcommand is a call into the library.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ha_agent::cli::{
    self, Parsed, CHECK_UNKNOWN, EXIT_INVALID, EXIT_NOT_CONFIRMED, EXIT_OK, EXIT_REFUSED, EXIT_TIMEOUT,
    EXIT_UNREACHABLE, EXIT_USAGE,
};
use ha_agent::control::{self, RequestError};

/// Counts allocations for `status` (`allocations`) and the benchmark's steady-state figure.
#[global_allocator]
static ALLOCATOR: ha_agent::shell::alloc_count::Counting = ha_agent::shell::alloc_count::Counting;

fn usage() -> i32 {
    eprintln!("{}", cli::usage_text());
    EXIT_USAGE
}

/// `ha-agent help [COMMAND]`: all commands, or one with its explanation (on stdout).
fn help(name: Option<&str>) -> i32 {
    match name {
        None => {
            print!("{}", cli::help_text(None));
            EXIT_OK
        }
        Some(name) => match cli::command(name) {
            Some(c) => {
                print!("{}", cli::help_text(Some(c)));
                EXIT_OK
            }
            None => {
                eprintln!("ha-agent: no command named {name:?}");
                usage()
            }
        },
    }
}

fn config_path(p: &Parsed) -> PathBuf {
    ha_agent::config::path_of(p.value("--config"))
}

fn run(config: &Path) -> i32 {
    let mut agent = match ha_agent::shell::Agent::start(config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ha-agent: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    match agent.run() {
        Ok(_) => EXIT_OK,
        Err(e) => {
            log::error!("poll loop failed: {e}");
            EXIT_UNREACHABLE
        }
    }
}

/// The control socket: `--socket`, else the one the configuration names. `Err`: the exit
/// code, the reason printed (or, with `quiet`, returned for `status --check`'s one line).
fn socket(p: &Parsed) -> Result<PathBuf, (i32, String)> {
    if let Some(s) = p.value("--socket") {
        return Ok(PathBuf::from(s));
    }
    match ha_agent::config::load_as(&config_path(p), ha_agent::config::Needs::FileOnly) {
        Ok(cfg) => Ok(cfg.control_socket),
        Err(problems) => {
            let all: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            let code =
                if ha_agent::config::is_unreadable(&problems) { EXIT_UNREACHABLE } else { EXIT_INVALID };
            Err((code, all.join("\n")))
        }
    }
}

fn status(p: &Parsed) -> i32 {
    if p.has("--check") {
        if p.has("--json") || p.has("--watch") {
            eprintln!("ha-agent status: --check excludes --json and --watch");
            return EXIT_USAGE;
        }
        // One line and a Nagios code, whatever goes wrong (a configuration that cannot be
        // read means the agent cannot be asked: UNKNOWN).
        let verdict = match socket(p) {
            Err((_, reason)) => cli::check::unknown(&reason),
            Ok(s) => match control::request_status(&s) {
                Ok(v) => cli::check::verdict(&v),
                Err(e) => cli::check::unknown(&e.to_string()),
            },
        };
        println!("{}", verdict.line);
        assert!(verdict.code <= CHECK_UNKNOWN, "a Nagios code");
        return verdict.code;
    }
    let socket = match socket(p) {
        Ok(s) => s,
        Err((code, reason)) => {
            eprintln!("ha-agent: {reason}");
            return code;
        }
    };
    let watch = p.has("--watch");
    loop {
        match control::request_status(&socket) {
            Ok(v) => {
                if watch {
                    // Clear the screen and redraw: one screen for the operator, every second.
                    print!("\x1b[H\x1b[2J");
                }
                if p.has("--json") {
                    println!(
                        "{}",
                        serde_json::to_string(&v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
                    );
                } else if watch {
                    // No newline after the last row: a full screen must not scroll.
                    let text = control::render_status(&v);
                    print!("{}", text.trim_end_matches('\n'));
                    use std::io::Write as _;
                    let _ = std::io::stdout().flush();
                } else {
                    print!("{}", control::render_status(&v));
                }
            }
            Err(e) => {
                eprintln!("ha-agent: {e}");
                if !watch {
                    return exit_code(&e);
                }
            }
        }
        if !watch {
            return EXIT_OK;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn exit_code(e: &RequestError) -> i32 {
    match e {
        RequestError::Unreachable(_) => EXIT_UNREACHABLE,
        RequestError::Refused(_) => EXIT_REFUSED,
    }
}

fn now_utc() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // `YYYY-MM-DD HH:MM:SS.mmmZ`: the time of day.
    ha_agent::journal::civil::format_utc(ms)[11..23].to_string()
}

/// The operator commands (`move`, `standby`, `online`, `fence`, `power-on`, `maintenance`,
/// `cleanup`, `reload`): ask the local agent; with `--wait`, follow the cluster until it
/// reached the asked state.
fn command(verb: &str, p: &Parsed) -> i32 {
    let operand = p.operands.first().map(String::as_str);
    if verb == "fence" && !p.has("--yes") {
        use std::io::BufRead;
        eprint!("Power off {} now? Its service stops at once. Type yes to confirm: ", operand.unwrap_or(""));
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != "yes" {
            eprintln!("not confirmed; nothing done");
            return EXIT_NOT_CONFIRMED;
        }
    }
    let socket = match socket(p) {
        Ok(s) => s,
        Err((code, reason)) => {
            eprintln!("ha-agent: {reason}");
            return code;
        }
    };
    let request = match operand {
        Some(n) => format!("{verb} {n}"),
        None => verb.to_string(),
    };
    // --wait: the state before the command, to tell what the command changed.
    let wait = match (p.wait_s(), operand) {
        (Some(seconds), Some(node)) => match control::request_status(&socket) {
            Ok(before) => cli::wait::Goal::new(verb, node, &before).map(|goal| (seconds, goal, before)),
            Err(e) => {
                eprintln!("ha-agent: {e}");
                return exit_code(&e);
            }
        },
        _ => None,
    };
    let started = Instant::now();
    match control::request(&socket, &request) {
        Ok(v) => println!("{}", v["message"].as_str().unwrap_or("done")),
        Err(e) => {
            eprintln!("ha-agent: {e}");
            return exit_code(&e);
        }
    }
    let Some((seconds, goal, mut before)) = wait else { return EXIT_OK };
    let deadline = started + Duration::from_secs(seconds);
    let mut last_error: Option<String> = None;
    loop {
        let elapsed = started.elapsed().as_secs_f64();
        match control::request_status(&socket) {
            Ok(now) => {
                last_error = None;
                for step in cli::wait::steps(&before, &now) {
                    println!("{} +{elapsed:.1}s {step}", now_utc());
                }
                match goal.missing(&now) {
                    None => {
                        println!("{} +{elapsed:.1}s done: {request}", now_utc());
                        return EXIT_OK;
                    }
                    Some(missing) if Instant::now() >= deadline => {
                        eprintln!("ha-agent: {request}: not done after {seconds} s: {missing}");
                        return EXIT_TIMEOUT;
                    }
                    Some(_) => {}
                }
                before = now;
            }
            Err(e) => {
                let text = e.to_string();
                if last_error.as_deref() != Some(text.as_str()) {
                    println!("{} +{elapsed:.1}s cannot ask the agent: {text}", now_utc());
                    last_error = Some(text);
                }
                if Instant::now() >= deadline {
                    eprintln!(
                        "ha-agent: {request}: not done after {seconds} s: the agent cannot be asked ({e})"
                    );
                    return EXIT_TIMEOUT;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(cli::wait::WAIT_POLL_MS));
    }
}

/// `check-config FILE...`: each file alone, then (several files) the members' files against
/// each other (`config::report::check_files_main`).
fn check_config(files: &[String]) -> i32 {
    ha_agent::config::report::check_files_main(
        &files.iter().map(PathBuf::from).collect::<Vec<_>>(),
        &ha_agent::shell::ocf::inspect::InstalledAgents,
        &mut std::io::stdout(),
    )
}

/// `ha-agent update ACTION [FILE]` (the library's `update` module); `commit` asks the agent
/// for its status through the control socket.
fn update(p: &Parsed) -> i32 {
    let wait_s = if p.has("--wait") {
        Some(p.value("--wait").map_or(cli::DEFAULT_WAIT_S, |v| v.parse().unwrap_or(cli::DEFAULT_WAIT_S)))
    } else {
        None
    };
    let options = ha_agent::update::Options {
        key: p.value("--key"),
        version: p.value("--version"),
        output: p.value("--output"),
        no_reboot: p.has("--no-reboot"),
        wait_s,
        no_peers: p.has("--no-peers"),
    };
    let mut status = || -> Result<serde_json::Value, String> {
        let s = socket(p).map_err(|(_, reason)| reason)?;
        control::request(&s, "status").map_err(|e| e.to_string())
    };
    ha_agent::update::main(&p.operands, &options, &mut status)
}

/// `ha-agent log`: print the journal (read without taking the writer's lock).
fn log_command(p: &Parsed) -> i32 {
    use ha_agent::journal::{read_dir, Since};
    let config = config_path(p);
    let mut after: Option<u64> = match p.value("--since-seq").map(str::parse) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            eprintln!("ha-agent log: --since-seq takes a record's sequence number");
            return EXIT_USAGE;
        }
    };
    let since_text = p.value("--since");
    let follow = p.has("--follow");
    // Records stamped before this wall-clock time are skipped (each record is tested: the
    // wall clock may have stepped, so the journal is not sorted by it).
    let since_wall_ms = match since_text {
        None => None,
        Some(t) => {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            match ha_agent::journal::civil::parse_since(t, now_ms) {
                Ok(ms) => Some(ms),
                Err(e) => {
                    eprintln!("ha-agent: --since {t:?}: {e}");
                    return EXIT_USAGE;
                }
            }
        }
    };
    let dir = match ha_agent::config::load_as(&config, ha_agent::config::Needs::FileOnly) {
        Ok(cfg) => cfg.state_dir.join("journal"),
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            return if ha_agent::config::is_unreadable(&problems) { EXIT_UNREACHABLE } else { EXIT_INVALID };
        }
    };
    /// Records per read; a long journal is printed in pages.
    const PAGE: usize = 1024;
    loop {
        let since = after.map_or(Since::All, Since::AfterSeq);
        let batch = match read_dir(&dir, since, PAGE) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("ha-agent: journal {}: {e}", dir.display());
                return EXIT_UNREACHABLE;
            }
        };
        for r in &batch.records {
            after = Some(r.seq);
            if since_wall_ms.is_some_and(|t| r.stamp.wall_ms < t) {
                continue;
            }
            println!("{r}");
        }
        if batch.more {
            continue;
        }
        if !follow {
            return EXIT_OK;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// `fence_rackha` (argv[0], the packages' link) and `ha-agent fence-agent`: the fence agent,
/// with fence-agents' own option grammar (not the command table's).
fn fence_agent(args: &[String]) -> i32 {
    let stdin = std::io::stdin();
    ha_agent::cli::fence_agent::main(args, &mut stdin.lock(), &mut std::io::stdout(), &mut std::io::stderr())
}

fn main() {
    let invoked_as = std::env::args().next().unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if Path::new(&invoked_as).file_name().is_some_and(|n| n == ha_agent::cli::fence_agent::NAME) {
        std::process::exit(fence_agent(&args));
    }
    let rest = args.get(1..).unwrap_or(&[]);
    let code = match args.first().map(String::as_str) {
        None => usage(),
        Some("fence-agent") => fence_agent(rest),
        Some("help" | "--help" | "-h") => match rest {
            [] => help(None),
            [name] => help(Some(name)),
            _ => usage(),
        },
        Some("--version") => {
            println!("ha-agent {}", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        Some(verb) => match cli::command(verb) {
            None => {
                eprintln!("ha-agent: unknown command {verb:?}");
                usage()
            }
            Some(_) if rest.iter().any(|a| a == "--help" || a == "-h") => help(Some(verb)),
            Some(cmd) => match cli::parse(cmd, rest) {
                Err(e) => {
                    eprintln!("{e}\nusage: ha-agent {}", cmd.synopsis());
                    EXIT_USAGE
                }
                Ok(p) => dispatch(cmd.name, &p),
            },
        },
    };
    // The agent's last lines may still be queued for the log writer (`run` returned).
    ha_agent::shell::logger::flush();
    std::process::exit(code);
}

fn dispatch(name: &str, p: &Parsed) -> i32 {
    match name {
        "run" => run(&config_path(p)),
        "check-config" => check_config(&p.operands),
        "status" => status(p),
        "log" => log_command(p),
        "fence-test" => ha_agent::probes::fence_test_main(&p.option_words(), &mut std::io::stdout()),
        "watchdog-test" => ha_agent::probes::watchdog_test_main(&p.option_words(), &mut std::io::stdout()),
        "help" => help(p.operands.first().map(String::as_str)),
        "version" => {
            println!("ha-agent {}", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        "update" => update(p),
        verb => command(verb, p),
    }
}

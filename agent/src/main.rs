//! `ha-agent`: one multi-call binary. Subcommands: `run`, `check-config`, `status`, the
//! operator commands, `log`, the device checks, `help` and `version`. Thin: every subcommand
//! is a call into the library.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use ha_agent::config::report::{EXIT_INVALID, EXIT_OK, EXIT_USAGE};

/// Counts allocations for `status` (`allocations`) and the benchmark's steady-state figure.
#[global_allocator]
static ALLOCATOR: ha_agent::shell::alloc_count::Counting = ha_agent::shell::alloc_count::Counting;

/// Exit code of `run` and `status` when the agent cannot start or cannot be reached.
const EXIT_RUNTIME: i32 = 3;

/// Every subcommand: name, synopsis, and what it does (`ha-agent help NAME`).
const HELP: &[(&str, &str, &str)] = &[
    ("run", "run [--config FILE]", "Run the agent in the foreground (the init script does this)."),
    (
        "check-config",
        "check-config FILE [FILE...]",
        "Validate a configuration file: every problem with its line and a hint, and the warnings. With\n\
         the three members' files, also checks them against each other. Exit 0 valid, 1 invalid.",
    ),
    (
        "status",
        "status [--config FILE | --socket PATH] [--json] [--watch]",
        "One screen: members, links, who holds the service and under which generation, maintenance,\n\
         the fence device, the array and the last events. --watch redraws every second.",
    ),
    (
        "move",
        "move NODE",
        "Witness: graceful switchover to NODE (stop here, then start there). Refused when NODE is not\n\
         ready, the witness is busy, or maintenance mode is on.",
    ),
    (
        "standby",
        "standby NODE",
        "Witness: NODE may not run the service. If it runs it now, it moves to the other node first;\n\
         refused when no other node is ready to take it.",
    ),
    ("online", "online NODE", "Witness: NODE may run the service again (undoes standby)."),
    (
        "fence",
        "fence NODE [--yes]",
        "Witness: power NODE off now through its relay channel. Asks for confirmation unless --yes.\n\
         Refused for the only healthy node, without a relay channel, or while a fence runs.",
    ),
    (
        "maintenance",
        "maintenance on|off",
        "Witness: maintenance mode. While on, resources are left exactly as they are (no start, stop,\n\
         monitor or restart) and nothing fails over or moves; status shows MAINTENANCE and a trap is\n\
         sent. A node that loses quorum still stops its resources (safety first). When turned off,\n\
         the nodes look again: what runs is monitored, a node without the grant stops everything.",
    ),
    (
        "cleanup",
        "cleanup",
        "Node: forget resource failures (restart counts, failed state) so the node may run the service again.",
    ),
    (
        "reload",
        "reload",
        "Re-read the configuration file (like SIGHUP). A bad file is refused with its problems and the\n\
         running configuration kept; a change that needs a restart is refused and named.",
    ),
    (
        "log",
        "log [--config FILE] [--since TIME | --since-seq N] [--follow]",
        "Print the durable journal, oldest first, times in UTC. TIME: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS],\n\
         10m / 2h / 1d (that long ago) or @UNIX_SECONDS. --follow waits for new records.",
    ),
    (
        "fence-test",
        "fence-test --channel N|NODE [--config FILE]",
        "Read a relay channel's state without switching anything; says whether the board answers.",
    ),
    (
        "watchdog-test",
        "watchdog-test [--config FILE]",
        "Arm the configured watchdog, report what the driver says, feed it until SIGTERM, close cleanly.",
    ),
    ("help", "help [COMMAND]", "This text, or one command's."),
    ("version", "version", "Print the version."),
];

fn usage() -> i32 {
    let mut text = String::from("usage:");
    for (i, (_, synopsis, _)) in HELP.iter().enumerate() {
        text.push_str(if i == 0 { " ha-agent " } else { "       ha-agent " });
        text.push_str(synopsis);
        text.push('\n');
    }
    eprintln!(
        "{text}
`ha-agent help COMMAND` (or `ha-agent COMMAND --help`) explains one command.
Default configuration: {}
Exit codes: 0 ok, 1 invalid configuration, 2 usage error, 3 runtime error
(agent could not start, or could not be reached, or refused the command).",
        ha_agent::config::DEFAULT_PATH
    );
    EXIT_USAGE
}

/// `ha-agent help [COMMAND]`: all commands, or one with its explanation (on stdout).
fn help(rest: &[String]) -> i32 {
    match rest {
        [] => {
            for (_, synopsis, what) in HELP {
                println!("ha-agent {synopsis}\n    {}\n", what.replace('\n', "\n    "));
            }
            EXIT_OK
        }
        [name] => match HELP.iter().find(|(n, ..)| n == name) {
            Some((_, synopsis, what)) => {
                println!("usage: ha-agent {synopsis}\n\n{what}");
                EXIT_OK
            }
            None => {
                eprintln!("ha-agent: no command named {name:?}");
                usage()
            }
        },
        _ => usage(),
    }
}

/// Parse `--config FILE`, `--socket PATH`, `--json` style options.
struct Options {
    config: PathBuf,
    socket: Option<PathBuf>,
    json: bool,
    watch: bool,
}

fn options(args: &[String], allow: &[&str]) -> Option<Options> {
    let mut o = Options {
        config: PathBuf::from(ha_agent::config::DEFAULT_PATH),
        socket: None,
        json: false,
        watch: false,
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if !allow.contains(&a) {
            return None;
        }
        match a {
            "--config" => o.config = PathBuf::from(args.get(i + 1)?),
            "--socket" => o.socket = Some(PathBuf::from(args.get(i + 1)?)),
            "--json" => {
                o.json = true;
                i += 1;
                continue;
            }
            "--watch" => {
                o.watch = true;
                i += 1;
                continue;
            }
            _ => return None,
        }
        i += 2;
    }
    Some(o)
}

fn run(config: &Path) -> i32 {
    let mut agent = match ha_agent::shell::Agent::start(config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ha-agent: {e}");
            return EXIT_RUNTIME;
        }
    };
    match agent.run() {
        Ok(_) => EXIT_OK,
        Err(e) => {
            log::error!("poll loop failed: {e}");
            EXIT_RUNTIME
        }
    }
}

fn socket_from_config(config: &Path) -> Result<PathBuf, i32> {
    let text = std::fs::read_to_string(config).map_err(|e| {
        eprintln!("ha-agent: cannot read {}: {e}", config.display());
        EXIT_RUNTIME
    })?;
    match ha_agent::config::parse_str(&text, config) {
        Ok(cfg) => Ok(cfg.control_socket),
        Err(problems) => {
            for p in problems {
                eprintln!("{p}");
            }
            Err(EXIT_INVALID)
        }
    }
}

fn status(o: &Options) -> i32 {
    let socket = match &o.socket {
        Some(s) => s.clone(),
        None => match socket_from_config(&o.config) {
            Ok(s) => s,
            Err(code) => return code,
        },
    };
    loop {
        match ha_agent::control::request(&socket, "status") {
            Ok(v) => {
                if o.watch {
                    // Clear the screen and redraw: one screen for the operator, every second.
                    print!("\x1b[H\x1b[2J");
                }
                if o.json {
                    println!("{v}");
                } else if o.watch {
                    // No newline after the last row: a full screen must not scroll.
                    let text = ha_agent::control::render_status(&v);
                    print!("{}", text.trim_end_matches('\n'));
                    use std::io::Write as _;
                    let _ = std::io::stdout().flush();
                } else {
                    print!("{}", ha_agent::control::render_status(&v));
                }
            }
            Err(e) => {
                eprintln!("ha-agent: {e}");
                if !o.watch {
                    return EXIT_RUNTIME;
                }
            }
        }
        if !o.watch {
            return EXIT_OK;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// `ha-agent move|standby|online NODE`, `fence NODE [--yes]`, `cleanup`: ask the local agent.
fn command(verb: &str, rest: &[String]) -> i32 {
    let mut node: Option<&str> = None;
    let mut config = PathBuf::from(ha_agent::config::DEFAULT_PATH);
    let mut socket: Option<PathBuf> = None;
    let mut yes = false;
    let mut i = 0;
    while i < rest.len() {
        match rest[i].as_str() {
            "--yes" => yes = true,
            "--config" if i + 1 < rest.len() => {
                config = PathBuf::from(&rest[i + 1]);
                i += 1;
            }
            "--socket" if i + 1 < rest.len() => {
                socket = Some(PathBuf::from(&rest[i + 1]));
                i += 1;
            }
            a if node.is_none() && !a.starts_with('-') => node = Some(a),
            _ => return usage(),
        }
        i += 1;
    }
    if matches!(verb, "cleanup" | "reload") != node.is_none() {
        return usage();
    }
    if verb == "maintenance" && !matches!(node, Some("on" | "off")) {
        eprintln!("usage: ha-agent maintenance on|off");
        return EXIT_USAGE;
    }
    if verb == "fence" && !yes {
        use std::io::BufRead;
        eprint!("Power off {} now? Its service stops at once. Type yes to confirm: ", node.unwrap_or(""));
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != "yes" {
            eprintln!("not confirmed; nothing done");
            return EXIT_RUNTIME;
        }
    }
    let socket = match socket {
        Some(s) => s,
        None => match socket_from_config(&config) {
            Ok(s) => s,
            Err(code) => return code,
        },
    };
    let request = match node {
        Some(n) => format!("{verb} {n}"),
        None => verb.to_string(),
    };
    match ha_agent::control::request(&socket, &request) {
        Ok(v) => {
            println!("{}", v["message"].as_str().unwrap_or("done"));
            EXIT_OK
        }
        Err(e) => {
            eprintln!("ha-agent: {e}");
            EXIT_RUNTIME
        }
    }
}

/// `ha-agent log`: print the journal (read without taking the writer's lock).
fn log_command(rest: &[String]) -> i32 {
    use ha_agent::journal::{read_dir, Since};
    let mut config = PathBuf::from(ha_agent::config::DEFAULT_PATH);
    let mut after: Option<u64> = None;
    let mut since_text: Option<&str> = None;
    let mut follow = false;
    let mut i = 0;
    while i < rest.len() {
        match (rest[i].as_str(), rest.get(i + 1)) {
            ("--config", Some(v)) => {
                config = PathBuf::from(v);
                i += 1;
            }
            ("--since-seq", Some(v)) => match v.parse() {
                Ok(n) => {
                    after = Some(n);
                    i += 1;
                }
                Err(_) => return usage(),
            },
            ("--since", Some(v)) => {
                since_text = Some(v);
                i += 1;
            }
            ("--follow", _) => follow = true,
            _ => return usage(),
        }
        i += 1;
    }
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
    if since_wall_ms.is_some() && after.is_some() {
        eprintln!("ha-agent: --since and --since-seq exclude each other");
        return EXIT_USAGE;
    }
    let text = match std::fs::read_to_string(&config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ha-agent: cannot read {}: {e}", config.display());
            return EXIT_RUNTIME;
        }
    };
    let dir = match ha_agent::config::parse_str(&text, &config) {
        Ok(cfg) => cfg.state_dir.join("journal"),
        Err(problems) => {
            for p in problems {
                eprintln!("{p}");
            }
            return EXIT_INVALID;
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
                return EXIT_RUNTIME;
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    if let (Some(verb), true) = (args.first(), rest.iter().any(|a| a == "--help" || a == "-h")) {
        std::process::exit(help(std::slice::from_ref(verb)));
    }
    let code = match args.first().map(String::as_str) {
        Some("run") => match options(rest, &["--config"]) {
            Some(o) => run(&o.config),
            None => usage(),
        },
        Some("check-config") => match rest {
            [] => usage(),
            paths => ha_agent::config::report::check_files_main(
                &paths.iter().map(PathBuf::from).collect::<Vec<_>>(),
                &ha_agent::shell::ocf::inspect::InstalledAgents,
                &mut std::io::stdout(),
            ),
        },
        Some("status") => match options(rest, &["--config", "--socket", "--json", "--watch"]) {
            Some(o) => status(&o),
            None => usage(),
        },
        Some(verb @ ("move" | "standby" | "online" | "fence" | "maintenance" | "cleanup" | "reload")) => {
            command(verb, rest)
        }
        Some("help" | "--help" | "-h") => help(rest),
        Some("log") => log_command(rest),
        Some("fence-test") => ha_agent::devices::fence_test_main(rest, &mut std::io::stdout()),
        Some("watchdog-test") => ha_agent::devices::watchdog_test_main(rest, &mut std::io::stdout()),
        Some("version") | Some("--version") => {
            println!("ha-agent {}", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        _ => usage(),
    };
    // The agent's last lines may still be queued for the log writer (`run` returned).
    ha_agent::shell::logger::flush();
    std::process::exit(code);
}

//! `ha-agent`: one multi-call binary. Subcommands: `run`, `check-config`, `status`, `version`.
//! Thin: every subcommand is a call into the library.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use ha_agent::config::report::{EXIT_INVALID, EXIT_OK, EXIT_USAGE};

/// Exit code of `run` and `status` when the agent cannot start or cannot be reached.
const EXIT_RUNTIME: i32 = 3;

fn usage() -> i32 {
    eprintln!(
        "usage: ha-agent run [--config FILE]
       ha-agent check-config FILE
       ha-agent status [--config FILE | --socket PATH] [--json] [--watch]
       ha-agent move NODE | standby NODE | online NODE     (witness: operator commands)
       ha-agent fence NODE [--yes]                           (witness: power a node off now)
       ha-agent cleanup                                      (node: forget resource failures)
       ha-agent reload                                       (re-read the configuration; refusals explained)
       ha-agent log [--config FILE] [--since-seq N] [--follow] (the durable event journal)
       ha-agent fence-test --channel N|NODE [--config FILE]   (read-only relay check)
       ha-agent watchdog-test [--config FILE]                  (arm, report, feed until SIGTERM)
       ha-agent version

Default configuration: {}
Exit codes: 0 ok, 1 invalid configuration, 2 usage error, 3 runtime error
(agent could not start, or status could not reach it).",
        ha_agent::config::DEFAULT_PATH
    );
    EXIT_USAGE
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
            ("--follow", _) => follow = true,
            _ => return usage(),
        }
        i += 1;
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
            println!("{r}");
            after = Some(r.seq);
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
    let code = match args.first().map(String::as_str) {
        Some("run") => match options(rest, &["--config"]) {
            Some(o) => run(&o.config),
            None => usage(),
        },
        Some("check-config") => match rest {
            [path] => ha_agent::config::report::check_main(&PathBuf::from(path), &mut std::io::stdout()),
            _ => usage(),
        },
        Some("status") => match options(rest, &["--config", "--socket", "--json", "--watch"]) {
            Some(o) => status(&o),
            None => usage(),
        },
        Some(verb @ ("move" | "standby" | "online" | "fence" | "cleanup" | "reload")) => command(verb, rest),
        Some("log") => log_command(rest),
        Some("fence-test") => ha_agent::devices::fence_test_main(rest, &mut std::io::stdout()),
        Some("watchdog-test") => ha_agent::devices::watchdog_test_main(rest, &mut std::io::stdout()),
        Some("version") | Some("--version") => {
            println!("ha-agent {}", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        _ => usage(),
    };
    std::process::exit(code);
}

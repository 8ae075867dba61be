//! `ha-agent`: one multi-call binary. Subcommands: `run`, `check-config`, `status`, `version`.
//! Thin: every subcommand is a call into the library.

#![forbid(unsafe_code)]

use std::path::PathBuf;

fn usage() -> i32 {
    eprintln!(
        "usage: ha-agent run [--config FILE]\n       ha-agent check-config FILE\n       ha-agent status [--config FILE | --socket PATH] [--json]\n       ha-agent version"
    );
    ha_agent::config::report::EXIT_USAGE
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("check-config") => match args.get(1) {
            Some(path) if args.len() == 2 => {
                ha_agent::config::report::check_main(&PathBuf::from(path), &mut std::io::stdout())
            }
            _ => usage(),
        },
        Some("version") => {
            println!("ha-agent {}", env!("CARGO_PKG_VERSION"));
            0
        }
        _ => usage(),
    };
    std::process::exit(code);
}

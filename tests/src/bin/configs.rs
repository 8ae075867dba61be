//! `configs TOPOLOGY DIR [KEY=VALUE]...`: writes the configuration files of a named topology
//! (`ha_tests::topology`) into DIR, one line per file written on stdout. The scripts and the
//! virtual rack get their configurations here instead of writing them themselves.
//! `configs --list` names the topologies and their parameters. Exit 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use ha_tests::topology::{generate, Params, TOPOLOGIES};

fn usage(problem: &str) -> ExitCode {
    eprintln!("configs: {problem}\nusage: configs TOPOLOGY DIR [KEY=VALUE]...   (configs --list)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for (name, params) in TOPOLOGIES {
            println!("{name:<10} {params}");
        }
        return ExitCode::SUCCESS;
    }
    let [name, dir, rest @ ..] = args.as_slice() else {
        return usage("a topology and a directory are needed");
    };
    let mut params = Vec::new();
    for arg in rest {
        let Some((key, value)) = arg.split_once('=') else {
            return usage(&format!("{arg:?} is not KEY=VALUE"));
        };
        params.push((key.to_string(), value.to_string()));
    }
    let files = match generate(name, &Params(&params)) {
        Ok(files) => files,
        Err(problem) => return usage(&problem),
    };
    let dir = PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("configs: {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for file in files {
        let path = dir.join(&file.name);
        if let Err(e) = std::fs::write(&path, &file.text) {
            eprintln!("configs: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}", path.display());
    }
    ExitCode::SUCCESS
}

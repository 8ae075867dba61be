//! `ha-agent check-config`: validates a configuration file (and its key file, and on a node the
//! resource agents as installed here) and prints either one `ok` line or every problem found,
//! then returns the documented exit code. Warnings are printed in both cases and do not change
//! the exit code. With several files it checks each alone, then the files against each other
//! (`super::cross`). It owns only the rendering and the exit codes; the rules are in [`super`].

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{AgentInspector, Problem, Report};

/// Exit code: the configuration is valid.
pub const EXIT_OK: i32 = 0;
/// Exit code: the configuration has problems (each printed).
pub const EXIT_INVALID: i32 = 1;
/// Exit code: usage error (bad arguments).
pub const EXIT_USAGE: i32 = 2;

/// `LOCATION: warning: MESSAGE` and its hint line.
fn warning_text(warning: &Problem) -> String {
    format!("{}: warning: {}\n  hint: {}", warning.location, warning.message, warning.hint)
}

/// Validate the file at `path` (with `agents` inspecting a node's resource agents), print a
/// report to `out`, return the exit code.
///
/// Valid: the warnings, if any, then `FILE: ok (cluster X, member Y (role), N links)`. Invalid:
/// each problem (location, message, `hint:` line) and each warning (`LOCATION: warning: ...`),
/// then `N problem(s) found`. Output errors are ignored: the exit code is the answer.
pub fn check_main(path: &Path, agents: &dyn AgentInspector, out: &mut dyn Write) -> i32 {
    let report = super::check(path, Some(agents));
    print_file(path, &report, out)
}

/// `check-config FILE...`: one file is [`check_main`]; two or three are each checked alone (without
/// their resource agents: the files of other machines are checked here, and a node's agents
/// can only be checked on that node), then against each other. Prints each file's report, then
/// each cross-file problem and one closing line; exit 0 only when every file is valid and they
/// agree (warnings do not count). More files than members is a usage error.
pub fn check_files_main(paths: &[PathBuf], agents: &dyn AgentInspector, out: &mut dyn Write) -> i32 {
    match paths {
        [] => EXIT_USAGE,
        [path] => check_main(path, agents, out),
        _ if paths.len() > super::MEMBERS_COUNT => {
            let _ = writeln!(
                out,
                "check-config takes one file, or the files of the cluster's {} members",
                super::MEMBERS_COUNT
            );
            EXIT_USAGE
        }
        _ => {
            let report = super::check_files(paths, None);
            let mut code = EXIT_OK;
            for file in &report.files {
                if print_file(&file.path, &file.report, out) != EXIT_OK {
                    code = EXIT_INVALID;
                }
            }
            if report.files.iter().any(|f| f.report.config.as_ref().is_some_and(|c| c.resources.is_some())) {
                let _ = writeln!(
                    out,
                    "note: resource agents are not checked with several files; run check-config FILE on each node"
                );
            }
            let invalid: Vec<String> = report
                .files
                .iter()
                .filter(|f| f.report.config.is_none())
                .map(|f| f.path.display().to_string())
                .collect();
            if !invalid.is_empty() {
                let _ =
                    writeln!(out, "cross-file checks leave out the invalid file(s): {}", invalid.join(", "));
            }
            for problem in &report.cross {
                let _ = writeln!(out, "{problem}");
            }
            let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            if report.cross.is_empty() {
                if invalid.is_empty() {
                    let _ = writeln!(out, "{}: the files agree", shown.join(", "));
                }
            } else {
                let _ = writeln!(out, "{} problem(s) found across the files", report.cross.len());
                code = EXIT_INVALID;
            }
            assert_eq!(code == EXIT_OK, report.is_valid(), "the exit code says what the report says");
            code
        }
    }
}

/// One file's report: see [`check_main`].
fn print_file(path: &Path, report: &Report, out: &mut dyn Write) -> i32 {
    match &report.config {
        Some(config) => {
            assert!(report.problems.is_empty(), "a configuration is built only without problems");
            for warning in &report.warnings {
                let _ = writeln!(out, "{}", warning_text(warning));
            }
            let me = config.me();
            let _ = writeln!(
                out,
                "{}: ok (cluster {}, member {} ({}), {} links)",
                path.display(),
                config.cluster,
                me.name,
                me.role,
                config.links.len()
            );
            EXIT_OK
        }
        None => {
            assert!(!report.problems.is_empty(), "an invalid configuration has at least one problem");
            for problem in &report.problems {
                let _ = writeln!(out, "{problem}");
            }
            for warning in &report.warnings {
                let _ = writeln!(out, "{}", warning_text(warning));
            }
            let _ = writeln!(out, "{} problem(s) found", report.problems.len());
            EXIT_INVALID
        }
    }
}

//! `ha-agent check-config`: validates a configuration file (and its key file, and on a node the
//! resource agents as installed here) and prints either one `ok` line or every problem found,
//! then returns the documented exit code. Warnings are printed in both cases and do not change
//! the exit code. It owns only the rendering and the exit codes; the rules are in [`super`].

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

use super::{AgentInspector, Problem};

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
    match report.config {
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

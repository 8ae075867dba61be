//! `ha-agent check-config`: validates a configuration file (and its key file) and prints
//! either one `ok` line or every problem found, then returns the documented exit code. It owns
//! only the rendering and the exit codes; the rules are in [`super`].

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

/// Exit code: the configuration is valid.
pub const EXIT_OK: i32 = 0;
/// Exit code: the configuration has problems (each printed).
pub const EXIT_INVALID: i32 = 1;
/// Exit code: usage error (bad arguments).
pub const EXIT_USAGE: i32 = 2;

/// Validate the file at `path`, print a report to `out`, return the exit code.
///
/// Valid: `FILE: ok (cluster X, member Y (role), N links)`. Invalid: each problem (location,
/// message, `hint:` line), then `N problem(s) found`. Output errors are ignored: the exit code
/// is the answer.
pub fn check_main(path: &Path, out: &mut dyn Write) -> i32 {
    match super::load(path) {
        Ok(config) => {
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
        Err(problems) => {
            assert!(!problems.is_empty(), "an invalid configuration has at least one problem");
            for problem in &problems {
                let _ = writeln!(out, "{problem}");
            }
            let _ = writeln!(out, "{} problem(s) found", problems.len());
            EXIT_INVALID
        }
    }
}

//! `ha-agent check-config`: prints every problem of a configuration file and returns the
//! documented exit code. STUB: to be implemented.

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
pub fn check_main(path: &Path, out: &mut dyn Write) -> i32 {
    match super::load(path) {
        Ok(_) => {
            let _ = writeln!(out, "{}: ok", path.display());
            EXIT_OK
        }
        Err(problems) => {
            for p in &problems {
                let _ = writeln!(out, "{p}");
            }
            EXIT_INVALID
        }
    }
}

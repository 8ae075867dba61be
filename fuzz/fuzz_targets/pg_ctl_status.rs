//! Fuzz `core::resources::pgsql::pg_ctl_status_pid`, the edge where `pg_ctl status`'s output
//! (a program's text) becomes the pid `builtin:pgsql` checks before it removes a stale pid
//! file: never panics, never returns pid 0, and a pid it returns is written in the text as
//! `(PID: N)`.

#![no_main]

use ha_agent::core::resources::pgsql::pg_ctl_status_pid;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(pid) = pg_ctl_status_pid(&text) {
        assert!(pid > 0);
        assert!(text.contains(&format!("(PID: {pid})")), "{pid} from {text:?}");
    }
});

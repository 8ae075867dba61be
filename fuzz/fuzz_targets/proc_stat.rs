//! Fuzz `shell::procs::parse_stat_ppid` and `parse_stat_state`, the edge where a process's
//! `/proc/PID/stat` becomes the parent and state `builtin:pgsql` decides on (which process
//! is a data directory's postmaster; whether a pid in a lock file has exited): never panic,
//! refuse what is over the bound, and find the fields after the *last* `)` however the
//! command name between the parentheses is made.

#![no_main]

use ha_agent::shell::procs::{parse_stat_ppid, parse_stat_state, MAX_STAT_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ppid = parse_stat_ppid(text);
    let state = parse_stat_state(text);
    if text.len() > MAX_STAT_BYTES {
        assert_eq!((ppid, state), (None, None));
        return;
    }
    if ppid.is_some() {
        assert!(state.is_some(), "a parent is only read after a state: {text:?}");
    }
    // The same line with any command name gives the same fields.
    if let (Some(ppid), Some(state)) = (ppid, state) {
        let line = format!("1 (x) y) {state} {ppid} 0 0");
        assert_eq!(parse_stat_ppid(&line), Some(ppid));
        assert_eq!(parse_stat_state(&line), Some(state));
    }
});

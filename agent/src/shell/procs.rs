//! What the built-in resource types need to know about this machine's processes, read from
//! `/proc`: which processes run in a directory (a PostgreSQL postmaster is the process whose
//! working directory is its data directory), and which hold a file system (their working or
//! root directory, executable or an open descriptor is on it), the way `fuser -m` finds them.
//!
//! Owns the scan: bounded by [`MAX_PROCESSES_SCANNED`] and [`MAX_FDS_PER_PROCESS`], and
//! the parser of `/proc/PID/stat`'s parent pid ([`parse_stat_ppid`], fuzzed by `proc_stat`).
//! Only processes in this process's own mount namespace count: a path means something only
//! within one (two nodes of a test rig on one kernel see the same path strings in each other's
//! processes, and a container's processes are not this machine's service).
//! Everything read here is procfs, which answers from the kernel's memory: no read waits for a
//! disk, even when the file system in question sits on an array that stopped answering, so
//! the loop may call it. It decides nothing and signals nothing: the types' state machines
//! (`core::resources::pgsql`, `core::resources::filesystem`) decide, the drivers
//! (`shell::builtin_steps`) signal. Processes that exit during the scan are skipped; a pid
//! reused between the scan and a signal is the same race `fuser -k` has.

#![forbid(unsafe_code)]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Bound on the processes one scan looks at (a machine with more is scanned in part, and the
/// result says so).
pub const MAX_PROCESSES_SCANNED: usize = 32_768;
/// Bound on the descriptors looked at per process.
pub const MAX_FDS_PER_PROCESS: usize = 65_536;
/// Bound on the `/proc/PID/stat` bytes parsed.
pub const MAX_STAT_BYTES: usize = 4096;

/// The parent pid in the text of `/proc/PID/stat`: the field after the state, after the
/// command name in parentheses (which may itself hold spaces and parentheses, so the *last*
/// `)` ends it). `None` for anything else.
pub fn parse_stat_ppid(text: &str) -> Option<u32> {
    if text.len() > MAX_STAT_BYTES {
        return None;
    }
    let (head, rest) = text.rsplit_once(')')?;
    head.split_once(" (")?.0.trim().parse::<u32>().ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    if state.len() != 1 {
        return None;
    }
    fields.next()?.parse().ok()
}

/// One process, as far as the scan could read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub ppid: Option<u32>,
    /// Its working directory (`None` when unreadable: a kernel thread, gone, or not allowed).
    pub cwd: Option<PathBuf>,
    /// Its executable.
    pub exe: Option<PathBuf>,
}

/// The pids under `/proc` in this process's mount namespace, at most [`MAX_PROCESSES_SCANNED`];
/// the flag says whether there were more.
fn pids() -> (Vec<u32>, bool) {
    let mut pids = Vec::new();
    let mut more = false;
    let Ok(own_ns) = fs::read_link("/proc/self/ns/mnt") else { return (pids, true) };
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if fs::read_link(format!("/proc/{pid}/ns/mnt")).ok().as_ref() != Some(&own_ns) {
                continue;
            }
            if pids.len() == MAX_PROCESSES_SCANNED {
                more = true;
                break;
            }
            pids.push(pid);
        }
    }
    (pids, more)
}

/// The processes whose working directory is `dir` (compared after resolving `dir`'s symbolic
/// links), with their parent and executable. The flag is true when the scan was cut at its
/// bound.
pub fn in_directory(dir: &Path) -> (Vec<Process>, bool) {
    let want = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let (pids, more) = pids();
    let mut found = Vec::new();
    for pid in pids {
        let base = PathBuf::from(format!("/proc/{pid}"));
        let Ok(cwd) = fs::read_link(base.join("cwd")) else { continue };
        if cwd != want {
            continue;
        }
        let ppid = fs::read_to_string(base.join("stat")).ok().and_then(|t| parse_stat_ppid(&t));
        let exe = fs::read_link(base.join("exe")).ok();
        found.push(Process { pid, ppid, cwd: Some(cwd), exe });
    }
    (found, more)
}

/// The state letter in the text of `/proc/PID/stat` (the field after the command name).
pub fn parse_stat_state(text: &str) -> Option<char> {
    if text.len() > MAX_STAT_BYTES {
        return None;
    }
    let (head, rest) = text.rsplit_once(')')?;
    head.split_once(" (")?.0.trim().parse::<u32>().ok()?;
    let state = rest.split_ascii_whitespace().next()?;
    let mut chars = state.chars();
    let letter = chars.next()?;
    chars.next().is_none().then_some(letter)
}

/// Whether `pid` is a process that has exited and waits to be reaped (`Z`) or is being torn
/// down (`X`): it still answers `kill(pid, 0)`, but runs nothing. `false` when it is gone or
/// unreadable.
pub fn is_exited_or_exiting(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| parse_stat_state(&t))
        .is_some_and(|state| state == 'Z' || state == 'X')
}

/// Whether the object behind a `/proc/PID/...` link lives on the file system with device
/// number `dev` (`stat` through the link: the inode is already in memory, held by the process).
fn on_device(link: &Path, dev: u64) -> bool {
    fs::metadata(link).map(|m| m.dev() == dev).unwrap_or(false)
}

/// The processes (other than this one) whose working directory, root, executable or an open
/// descriptor is on the file system with device number `dev` (`st_dev` of its mount point),
/// as `fuser -m` finds them (memory-mapped files that are not also open are not looked at).
/// The flag is true when the scan was cut at a bound.
pub fn holding_device(dev: u64) -> (Vec<u32>, bool) {
    let me = std::process::id();
    let (pids, mut more) = pids();
    let mut found = Vec::new();
    for pid in pids.into_iter().filter(|&p| p != me) {
        let base = PathBuf::from(format!("/proc/{pid}"));
        let mut holds = ["cwd", "root", "exe"].iter().any(|l| on_device(&base.join(l), dev));
        if !holds {
            if let Ok(fds) = fs::read_dir(base.join("fd")) {
                for (n, fd) in fds.flatten().enumerate() {
                    if n == MAX_FDS_PER_PROCESS {
                        more = true;
                        break;
                    }
                    if on_device(&fd.path(), dev) {
                        holds = true;
                        break;
                    }
                }
            }
        }
        if holds {
            found.push(pid);
        }
    }
    (found, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_follows_the_state_after_the_last_parenthesis() {
        assert_eq!(parse_stat_ppid("1234 (postgres) S 1 1234 1234 0 -1"), Some(1));
        assert_eq!(parse_stat_ppid("77 (a (b) c) R 76 77"), Some(76));
        assert_eq!(parse_stat_ppid("77 (a) c) R 76 77"), Some(76), "a name may hold `) `");
        assert_eq!(parse_stat_ppid("77 (a) Rx 76 77"), None, "the state is one letter");
        assert_eq!(parse_stat_ppid(""), None);
        assert_eq!(parse_stat_ppid("x (y) S 3"), None, "the pid is a number");
        assert_eq!(parse_stat_ppid("5 (y) S"), None);
    }

    #[test]
    fn the_state_is_the_one_letter_after_the_name() {
        assert_eq!(parse_stat_state("1234 (postgres) Z 1 1234"), Some('Z'));
        assert_eq!(parse_stat_state("77 (a) c) S 76"), Some('S'));
        assert_eq!(parse_stat_state("77 (a) Zz 76"), None);
        assert!(!is_exited_or_exiting(std::process::id()), "this test runs");
    }

    #[test]
    fn this_test_finds_itself_in_its_working_directory_and_holding_its_file_system() {
        let cwd = std::env::current_dir().unwrap();
        let (found, more) = in_directory(&cwd);
        assert!(!more);
        let me = found.iter().find(|p| p.pid == std::process::id()).expect("this process is in its cwd");
        assert_eq!(me.ppid, Some(std::os::unix::process::parent_id()));
        assert!(me.exe.is_some());
        // Our own pid is left out of the holders; a child sitting in the directory is found.
        let dev = fs::metadata(&cwd).unwrap().dev();
        let mut child = std::process::Command::new("sleep").arg("30").current_dir(&cwd).spawn().unwrap();
        let (holders, _) = holding_device(dev);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(holders.contains(&child.id()), "the child in {cwd:?} holds device {dev}: {holders:?}");
        assert!(!holders.contains(&std::process::id()));
    }
}

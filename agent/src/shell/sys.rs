//! Process-level system calls the shell needs and rustix does not wrap: real-time scheduling.
//! Owns those few calls behind safe functions; nothing here decides when to call them.

#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

/// The priority `set_realtime_priority` last set (0: none), for the agent's own threads.
static REALTIME_PRIORITY: AtomicU8 = AtomicU8::new(0);

/// Switch the calling thread to SCHED_FIFO at `priority` (1..=99), with SCHED_RESET_ON_FORK:
/// every task it creates afterwards starts with normal scheduling. That is what the children
/// need: a resource agent, the service it starts (the payment database) or a fence command must
/// never inherit a real-time priority, or a busy one would starve the machine, the agent
/// included. The agent's own threads ask for the priority again with
/// [`realtime_for_this_thread`].
pub fn set_realtime_priority(priority: u8) -> io::Result<()> {
    assert!((1..=99).contains(&priority));
    let param = libc::sched_param { sched_priority: i32::from(priority) };
    // SAFETY: `param` is a valid, initialised sched_param that outlives the call; pid 0 means
    // the calling thread; the call has no other memory effects.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param) };
    if rc == 0 {
        REALTIME_PRIORITY.store(priority, Ordering::Relaxed);
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// For a thread of the agent (the relay worker, the durable writer): take the real-time
/// priority the agent runs at, if it runs at one. A failure is logged; the thread goes on with
/// normal scheduling.
pub fn realtime_for_this_thread(name: &str) {
    let priority = REALTIME_PRIORITY.load(Ordering::Relaxed);
    if priority > 0 {
        if let Err(e) = set_realtime_priority(priority) {
            log::warn!("{name} thread: real-time priority {priority} refused: {e}");
        }
    }
}

/// The scheduling policy of a task from the text of its `/proc/.../stat` (field 41; 0 normal,
/// 1 SCHED_FIFO), for tests and diagnostics.
pub fn policy_from_stat(stat: &str) -> Option<u32> {
    // The command name (field 2) may hold spaces; fields after its closing ')' are plain.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(38)?.parse().ok()
}

/// Lock current and future pages in memory so that a heartbeat never waits for a page-in.
pub fn lock_memory() -> io::Result<()> {
    use rustix::mm::{mlockall, MlockAllFlags};
    mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(path: &str) -> u32 {
        policy_from_stat(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_policy_is_read_from_stat() {
        let stat = "42 (ha agent) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 -51 0 3 0 100 1000 200 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 50 1 0 0 0";
        assert_eq!(policy_from_stat(stat), Some(1));
        assert_eq!(policy_from_stat("42 (x) S 1"), None);
    }

    /// Needs root (CAP_SYS_NICE); elsewhere it checks nothing and says so.
    #[test]
    fn children_start_with_normal_scheduling_and_the_agent_s_threads_keep_real_time() {
        let outcome = std::thread::spawn(|| {
            if let Err(e) = set_realtime_priority(1) {
                println!("skipped: real-time priority refused ({e})");
                return;
            }
            assert_eq!(policy("/proc/thread-self/stat"), 1, "this thread runs SCHED_FIFO");
            let out = std::process::Command::new("cat").arg("/proc/self/stat").output().unwrap();
            let child = policy_from_stat(&String::from_utf8_lossy(&out.stdout)).unwrap();
            assert_eq!(child, 0, "a child inherited the real-time policy");
            let threads = std::thread::spawn(|| {
                let plain = policy("/proc/thread-self/stat");
                realtime_for_this_thread("test");
                (plain, policy("/proc/thread-self/stat"))
            });
            assert_eq!(threads.join().unwrap(), (0, 1), "a new thread starts normal and takes the priority");
        });
        outcome.join().unwrap();
    }
}

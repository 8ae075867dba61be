//! Process-level calls the shell needs and rustix does not wrap: real-time scheduling and the
//! malloc arena setting; also the one place that starts threads. Owns those few calls behind
//! safe functions; nothing here decides when to call them.

#![allow(unsafe_code)]

use std::io;

/// Switch the calling thread to SCHED_FIFO at `priority` (1..=99); threads it starts later
/// inherit it (the agent calls it before starting any).
pub fn set_realtime_priority(priority: u8) -> io::Result<()> {
    assert!((1..=99).contains(&priority));
    let param = libc::sched_param { sched_priority: i32::from(priority) };
    // SAFETY: `param` is a valid, initialised sched_param that outlives the call; pid 0 means
    // the calling process; the call has no other memory effects.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Lock current and future pages in memory so that a heartbeat never waits for a page-in.
pub fn lock_memory() -> io::Result<()> {
    use rustix::mm::{mlockall, MlockAllFlags};
    mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE).map_err(io::Error::from)
}

/// Let every thread allocate from the main malloc arena. glibc gives each thread that
/// allocates an arena of its own (about 132 KiB touched each), and under `mlockall` all of it
/// stays resident: three helper threads cost about 400 KiB of RSS that way. The helpers
/// allocate rarely and the loop not at all in the steady state, so sharing costs nothing.
/// Call it before starting any thread.
pub fn single_malloc_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; no thread has been started yet, and it
    // is called with a valid parameter and value.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Start a thread named `name` with a stack of `stack_bytes`. One function that is not generic,
/// so that the binary holds a single copy of std's thread start for all the agent's threads
/// (the durable writer, the relay worker, the log writer).
#[inline(never)]
pub fn spawn_thread(name: &str, stack_bytes: usize, body: Box<dyn FnOnce() + Send>) -> io::Result<()> {
    std::thread::Builder::new().name(name.into()).stack_size(stack_bytes).spawn(body).map(drop)
}

//! Process-level calls the shell and the drivers need and rustix does not wrap: real-time
//! scheduling (of the agent and of the programs it starts, such as a fence agent) and the
//! malloc arena setting; also the one place that starts threads. Owns those few calls behind
//! safe functions; nothing here decides when to call them. Below the shell and the devices
//! (both call it; it calls neither); the shell re-exports it as `shell::sys`. In the static
//! build it also defines the few C library names the agent replaces to stay small (gettext,
//! and in the size build the unwinder: docs/design.md, "Binary size"); nothing calls them
//! from Rust.

#![allow(unsafe_code)]

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};

/// `SCHED_RESET_ON_FORK` (linux/sched.h; the libc crate defines it for Android only): ORed
/// into the policy, the thread's children start at normal scheduling.
const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;

/// The SCHED_FIFO priority the agent's children keep until `exec` and run their own code at
/// (one below the agent's, so that the loop preempts them); 0 = normal scheduling.
static CHILD_PRIORITY: AtomicU8 = AtomicU8::new(0);

/// `sched_setscheduler` of the calling thread.
/// The system call itself, not libc's wrapper: musl's `sched_setscheduler` answers ENOSYS by
/// design (POSIX means the process, Linux schedules threads), glibc's is the same call.
fn set_scheduler(policy: i32, priority: u8) -> io::Result<()> {
    // SAFETY: sched_param is plain integers, for which all zeroes is a valid value (musl's has
    // more fields than glibc's; the kernel reads only sched_priority).
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    param.sched_priority = i32::from(priority);
    // SAFETY: `param` is a valid, initialised sched_param that outlives the call; pid 0 means
    // the calling thread; the call has no other memory effects.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setscheduler,
            0 as libc::pid_t,
            policy,
            &param as *const libc::sched_param,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Switch the calling thread to SCHED_FIFO at `priority` (1..=99); threads it starts later
/// inherit it (the agent calls it before starting any). Programs started through
/// [`child_scheduling`] from then on do not keep it (see there).
pub fn set_realtime_priority(priority: u8) -> io::Result<()> {
    assert!((1..=99).contains(&priority));
    set_scheduler(libc::SCHED_FIFO, priority)?;
    CHILD_PRIORITY.store(priority.saturating_sub(1).max(1), Ordering::Relaxed);
    Ok(())
}

/// Keep the agent's real-time priority away from what `command` starts. Without it a resource
/// agent, the service it starts and a fence command would all run at SCHED_FIFO, and a busy
/// service could starve the machine and the agent's own loop.
///
/// The child drops to normal scheduling in two steps, so that the caller (which waits until the
/// child has called `exec`) never waits behind the load for it: before `exec` it sets SCHED_FIFO
/// one below the agent plus `SCHED_RESET_ON_FORK`. So the program itself (a short OCF script, a
/// fence agent) still runs ahead of the load and below the agent's loop, and everything it
/// starts (the service) begins at normal scheduling. Does nothing while the agent runs at
/// normal scheduling itself; then `spawn` keeps std's faster posix_spawn path.
pub fn child_scheduling(command: &mut Command) {
    let priority = CHILD_PRIORITY.load(Ordering::Relaxed);
    if priority == 0 {
        return;
    }
    // SAFETY: the hook runs in the forked child before exec; it calls only sched_setscheduler, a
    // single system call, with a parameter on its own stack: no allocation, no lock. Failing to
    // lower the priority leaves the child as it was before this hook existed, so the error is
    // not fatal to the start.
    unsafe {
        command.pre_exec(move || {
            let _ = set_scheduler(libc::SCHED_FIFO | SCHED_RESET_ON_FORK, priority);
            Ok(())
        });
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

/// Message translation in the static build: glibc's `__dcgettext` (and `dcgettext`) replaced
/// by the identity, because the agent never calls `setlocale`, so its locale is always "C",
/// where glibc's own `dcgettext` returns the message it was given (the untranslated text of
/// `strerror`, glibc's `assert` and its other messages). Defining the two names keeps the
/// linker from taking glibc's gettext and what it brings (the message catalogue loader,
/// plural expressions, locale aliases): 23,520 bytes of the static agent (docs/design.md,
/// "Binary size"). Only in the static build (`+crt-static`): in a dynamically linked test
/// binary these names would override the C library's for the whole process.
#[cfg(all(target_os = "linux", target_env = "gnu", target_feature = "crt-static"))]
mod c_locale_messages {
    use std::ffi::{c_char, c_int};

    /// glibc's internal name (its `strerror`, `assert` and `perror` call this one).
    #[no_mangle]
    extern "C" fn __dcgettext(
        _domain: *const c_char,
        msgid: *const c_char,
        _category: c_int,
    ) -> *const c_char {
        msgid
    }

    /// The public name, defined too so that no reference brings glibc's definition.
    #[no_mangle]
    extern "C" fn dcgettext(_domain: *const c_char, msgid: *const c_char, _category: c_int) -> *const c_char {
        msgid
    }
}

/// The unwinder in the size build (`make agent`, which passes `--cfg ha_size_build` and
/// discards `.eh_frame` with `agent/link/no-eh-frame.ld`): nothing in the agent unwinds.
/// Panics abort at once (`panic=immediate-abort`), Rust code has no unwind tables, and the
/// only unwinding glibc does is for thread cancellation and `pthread_exit`, which nothing in
/// the agent calls. Without `.eh_frame` an unwind would find no frame information and libgcc's
/// unwinder would abort the process; these definitions abort it at the same point, and keep the
/// linker from taking libgcc's unwinder (21,536 bytes; docs/design.md, "Binary size"). The
/// names are those the C library's cancellation code and std's personality routine refer to.
#[cfg(all(ha_size_build, target_os = "linux", target_env = "gnu", target_feature = "crt-static"))]
mod no_unwinder {
    use std::ffi::{c_int, c_void};

    #[no_mangle]
    extern "C" fn _Unwind_Resume(_exception: *mut c_void) -> ! {
        std::process::abort()
    }
    #[no_mangle]
    extern "C" fn _Unwind_ForcedUnwind(_e: *mut c_void, _stop: *mut c_void, _arg: *mut c_void) -> c_int {
        std::process::abort()
    }
    #[no_mangle]
    extern "C" fn __gcc_personality_v0(
        _v: c_int,
        _a: c_int,
        _c: u64,
        _e: *mut c_void,
        _x: *mut c_void,
    ) -> c_int {
        std::process::abort()
    }
    #[no_mangle]
    extern "C" fn _Unwind_GetCFA(_context: *mut c_void) -> usize {
        std::process::abort()
    }
    #[no_mangle]
    extern "C" fn _Unwind_GetDataRelBase(_context: *mut c_void) -> usize {
        std::process::abort()
    }
    #[no_mangle]
    extern "C" fn _Unwind_GetTextRelBase(_context: *mut c_void) -> usize {
        std::process::abort()
    }
    #[no_mangle]
    extern "C" fn _Unwind_GetRegionStart(_context: *mut c_void) -> usize {
        std::process::abort()
    }
    #[no_mangle]
    extern "C" fn _Unwind_GetLanguageSpecificData(_context: *mut c_void) -> *mut c_void {
        std::process::abort()
    }
    #[no_mangle]
    extern "C" fn _Unwind_GetIPInfo(_context: *mut c_void, _before: *mut c_int) -> usize {
        std::process::abort()
    }
    #[no_mangle]
    extern "C" fn _Unwind_SetGR(_context: *mut c_void, _register: c_int, _value: usize) {
        std::process::abort()
    }
    #[no_mangle]
    extern "C" fn _Unwind_SetIP(_context: *mut c_void, _value: usize) {
        std::process::abort()
    }
}

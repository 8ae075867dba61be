//! The drivers of the built-in resource types whose actions are sequences of program calls
//! (`builtin:filesystem`, `builtin:pgsql`): each reads what its type's state machine needs to
//! know about this machine (`/proc`, never the shared disk), carries out what the machine asks
//! of the loop itself (a signal), and hands the runner the next [`Step`].
//!
//! Owns [`BuiltinAction`] (what the runner, `shell::ocf`, asks of one built-in action) and
//! [`begin`] (the driver for a resource's type). It decides nothing: every decision is in
//! `core::resources::filesystem` and `core::resources::pgsql`, pure functions of the
//! programs' exits and what the drivers observed. It runs no program and never waits: the
//! runner spawns the calls and keeps the clock.

#![forbid(unsafe_code)]

use rustix::io::Errno;
use rustix::process::{kill_process, Pid, Signal};

use crate::core::resources::agent::Builtin;
use crate::core::resources::ipaddr::ParamProblem;
use crate::core::resources::program::{ProgramExit, Step};
use crate::core::resources::{ActionRequest, ResourceSpec};
use crate::time::Micros;

/// One built-in action in progress, asked for its next step by the runner.
pub trait BuiltinAction {
    /// The first step (`previous` is `None`), then the next one after each program's exit
    /// (with that program's output) or after a wait (`None`).
    fn next(&mut self, now: Micros, previous: Option<(ProgramExit, &str)>) -> Step;
}

/// The driver of `request` on `resource`, whose type runs programs
/// ([`Builtin::runs_programs`]).
pub fn begin(builtin: Builtin, request: &ActionRequest, resource: &ResourceSpec) -> Box<dyn BuiltinAction> {
    match builtin {
        Builtin::Filesystem => super::filesystem::begin(request, resource),
        Builtin::Pgsql => super::pgsql::begin(request, resource),
        Builtin::IpAddr => unreachable!("builtin:ipaddr runs in-process (shell::ipaddr)"),
    }
}

/// Send `signal` to the process `pid` (found in `/proc` by the driver that asks).
pub fn signal_pid(pid: u32, signal: Signal) -> Result<(), Errno> {
    let target = i32::try_from(pid).ok().and_then(Pid::from_raw).ok_or(Errno::INVAL)?;
    kill_process(target, signal)
}

/// The action of a resource whose parameters do not parse (the configuration's check refuses
/// them, so only a file changed behind the loader's back gets here): "not configured" (6), a
/// hard failure, with the problems as the reason.
pub struct Misconfigured(pub String);

impl Misconfigured {
    pub fn boxed(problems: &[ParamProblem]) -> Box<dyn BuiltinAction> {
        Box::new(Misconfigured(problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("; ")))
    }
}

impl BuiltinAction for Misconfigured {
    fn next(&mut self, _now: Micros, _previous: Option<(ProgramExit, &str)>) -> Step {
        Step::failed(6, self.0.clone())
    }
}

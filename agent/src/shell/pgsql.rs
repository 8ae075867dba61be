//! The driver of `builtin:pgsql` (decisions: `core::resources::pgsql`): looks in `/proc` for
//! the data directory's server processes when the state machine asks, sends the shutdown
//! signals it asks for, and hands the runner the programs to run (`pg_ctl`, `pg_isready`,
//! `rm`) and the waits. It never reads the data directory itself (it is on the shared array,
//! which may hang): programs do, in child processes.

#![forbid(unsafe_code)]

use std::path::Path;

use rustix::process::Signal;

use super::builtin_steps::{signal_pid, BuiltinAction, Misconfigured};
use super::procs;
use crate::core::resources::pgsql::{PgsqlAction, PgsqlSpec, PgsqlStep, Seen, SeenProcess, ShutdownSignal};
use crate::core::resources::program::{ProgramExit, Step};
use crate::core::resources::{ActionRequest, ResourceSpec};
use crate::time::Micros;

/// Bound on the looks and signals between two steps for the runner (a stop signals at most
/// twice; anything more is a bug).
const MAX_INNER_STEPS: usize = 8;

struct Driver {
    machine: PgsqlAction,
    pgdata: String,
    begun: bool,
    /// What the driver did itself (signals), for the action's output.
    notes: String,
}

pub fn begin(request: &ActionRequest, resource: &ResourceSpec) -> Box<dyn BuiltinAction> {
    let params: Vec<(String, String)> = resource.params.iter().cloned().collect();
    match PgsqlSpec::from_params(&params) {
        Ok(spec) => Box::new(Driver {
            pgdata: spec.pgdata.clone(),
            machine: PgsqlAction::new(spec, request.action, request.timeout_ms),
            begun: false,
            notes: String::new(),
        }),
        Err(problems) => Misconfigured::boxed(&problems),
    }
}

/// The processes whose working directory is the data directory, as the state machine sees them.
fn look(pgdata: &str) -> Seen {
    let (found, cut) = procs::in_directory(Path::new(pgdata));
    if cut {
        return Seen::Incomplete;
    }
    Seen::Processes(
        found
            .into_iter()
            .map(|p| SeenProcess {
                pid: p.pid,
                ppid: p.ppid,
                exe_name: p.exe.as_ref().and_then(|e| e.file_name()).map(|n| {
                    // A server whose binary was upgraded under it shows "postgres (deleted)".
                    let name = n.to_string_lossy();
                    name.strip_suffix(" (deleted)").unwrap_or(&name).to_string()
                }),
            })
            .collect(),
    )
}

impl BuiltinAction for Driver {
    fn next(&mut self, now: Micros, previous: Option<(ProgramExit, &str)>) -> Step {
        let mut step = crate::core::resources::program::resume(&mut self.machine, &mut self.begun, previous);
        for _ in 0..MAX_INNER_STEPS {
            step = match step {
                PgsqlStep::Look => self.machine.seen(now, &look(&self.pgdata)),
                PgsqlStep::Signal { pid, signal } => {
                    let (sig, mode) = match signal {
                        ShutdownSignal::Fast => (Signal::INT, "fast shutdown"),
                        ShutdownSignal::Immediate => (Signal::QUIT, "immediate shutdown"),
                    };
                    match signal_pid(pid, sig) {
                        Ok(()) => self.notes.push_str(&format!("postmaster {pid}: {mode} requested\n")),
                        Err(e) => self.notes.push_str(&format!("postmaster {pid}: {mode} not sent: {e}\n")),
                    }
                    self.machine.seen(now, &look(&self.pgdata))
                }
                PgsqlStep::CheckExiting { pid } => {
                    let exiting = procs::is_exited_or_exiting(pid);
                    if exiting {
                        self.notes.push_str(&format!(
                            "pid {pid} of the pid file has exited and is not reaped yet: waiting\n"
                        ));
                    }
                    self.machine.exiting(exiting)
                }
                PgsqlStep::Step(Step::Done(mut result)) => {
                    if !self.notes.is_empty() {
                        result.output = format!("{}{}", std::mem::take(&mut self.notes), result.output);
                    }
                    return Step::Done(result);
                }
                PgsqlStep::Step(other) => return other,
            };
        }
        panic!("builtin:pgsql: more than {MAX_INNER_STEPS} looks and signals without a step");
    }
}

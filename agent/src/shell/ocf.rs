//! The resource action runner: carries out the core's [`ActionRequest`]s as external
//! commands with the OCF conventions, supervises them without ever blocking, and kills a hung
//! action together with everything it started.
//!
//! Owns the child processes: spawning (`AGENT start|stop|monitor|validate-all`, a clean
//! environment built by [`action_environment`], stdin from `/dev/null`, stdout and stderr into
//! one non-blocking pipe of which the last [`OUTPUT_TAIL_BYTES`] are kept and every line is
//! scanned for the agent's `ocf-exit-reason:`), the per-action timeout, and reaping. Each action
//! runs in its own process group, so that a timeout kills the script *and* its children
//! (SIGKILL to the group). It decides nothing about what the results mean: that is
//! `core::resources`. Asking an agent about itself (installed? its meta-data) outside the loop
//! is [`inspect`].
//!
//! Use from the loop: [`Runner::spawn`] each request the core polls, call
//! [`Runner::poll_children`] every iteration and feed each [`Finished`] to the core, poll
//! [`Runner::exit_fds`] and wake up no later than [`Runner::next_deadline`]. Nothing here
//! waits for a child: `try_wait` only.
//!
//! A resource whose agent is built in runs no script. `builtin:ipaddr` runs no process at all:
//! [`Runner::spawn`] carries it out at once through [`super::ipaddr::Builtins`] and the next
//! `poll_children` reports its result like an exit, so the core cannot tell the two apart (the
//! announcements a built-in start schedules are sent from `poll_children`, due by
//! `next_deadline`). `builtin:filesystem` and `builtin:pgsql` are sequences of program calls
//! ([`crate::core::resources::program::Step`]) decided by their own state machines
//! ([`super::builtin_steps`]): each call runs here as a script would (own process group, clean
//! environment, output kept), the next step is asked for when it exits, a wait is a deadline,
//! and the action's timeout covers the whole sequence; the core sees one action and one result.
//!
//! Limits: a process that leaves the action's process group (`setsid`, double-fork daemons) is
//! out of reach of the timeout kill. Daemons started by a `start` action must redirect their
//! own output: the pipe is closed once the action exits, and later writes to it fail (EPIPE).

#![forbid(unsafe_code)]

pub mod inspect;

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};

use rustix::process::{kill_process_group, Pid, Signal};

use super::builtin_steps::{self, BuiltinAction};
pub use crate::core::resources::agent::OCF_ROOT;
use crate::core::resources::program::{
    ProgramCall, ProgramExit, Step, StepResult, MAX_STEPS_PER_ACTION, MAX_STEP_WAIT_MS,
};
use crate::core::resources::{exit_reason, ActionRequest, Agent, ExitReason, Outcome, ResourceSpec};
use crate::time::Micros;

/// Bound on actions (including killed ones not yet reaped) running at once.
pub const MAX_RUNNING_ACTIONS: usize = 8;
/// The last this-many bytes of an action's output are kept for the log.
pub const OUTPUT_TAIL_BYTES: usize = 4096;
/// util-linux's `runuser`: how a built-in type's program runs as another user (its uid, primary
/// group and supplementary groups, from the system's user database).
pub const RUNUSER: &str = "/usr/sbin/runuser";
/// `PATH` of every action: system directories only, nothing inherited.
pub const CLEAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The OCF version the agent speaks to resource agents (`OCF_RA_VERSION_MAJOR`/`_MINOR`).
/// Without it resource-agents' shell library takes the agent for an init script.
pub const OCF_RA_VERSION: (u32, u32) = (1, 0);
/// What resource-agents' `ocf_exit_reason` writes (on stderr) before the reason.
pub const EXIT_REASON_PREFIX: &[u8] = b"ocf-exit-reason:";
/// Only the start of a longer line is kept for the exit-reason scan (the reason is cut to
/// `MAX_EXIT_REASON_BYTES` anyway).
const MAX_SCANNED_LINE_BYTES: usize = 512;
/// While anything runs, the loop should call [`Runner::poll_children`] at least this often:
/// an exit wakes the loop through [`Runner::exit_fds`] (pidfds, no SIGCHLD handler that would
/// interrupt other threads' system calls); this tick reads output and is the fallback on a
/// kernel without pidfds.
pub const CHILD_POLL_MS: u64 = 50;
/// Output read per action per poll is bounded (one pipe buffer), so one chatty action cannot
/// hold the loop.
const READ_CHUNK_BYTES: usize = 4096;
const MAX_READS_PER_POLL: usize = 16;

/// An action that ended (or was killed at its timeout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub id: u64,
    pub outcome: Outcome,
    /// The last [`OUTPUT_TAIL_BYTES`] of stdout and stderr (lossy UTF-8), for the log.
    pub output: String,
    /// The text of the last `ocf-exit-reason:` line of the whole output (not only the tail),
    /// printable and bounded; empty if there was none.
    pub exit_reason: ExitReason,
    pub elapsed_ms: u64,
}

/// Why an action was not started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// [`MAX_RUNNING_ACTIONS`] are running; try again after `poll_children` freed a slot.
    Full,
}

/// The last bytes of a stream.
#[derive(Debug, Default)]
struct Tail {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Tail {
    fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        if self.bytes.len() > OUTPUT_TAIL_BYTES {
            let excess = self.bytes.len() - OUTPUT_TAIL_BYTES;
            self.bytes.drain(..excess);
            self.truncated = true;
        }
        assert!(self.bytes.len() <= OUTPUT_TAIL_BYTES);
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Finds the agent's exit reason in its output as it streams by: the text after
/// [`EXIT_REASON_PREFIX`] at the start of a line, the last such line winning (as Pacemaker takes
/// it). Bounded: one partial line of at most [`MAX_SCANNED_LINE_BYTES`] is held.
#[derive(Debug, Default)]
struct ExitReasonScanner {
    line: Vec<u8>,
    last: Option<ExitReason>,
}

impl ExitReasonScanner {
    fn push(&mut self, data: &[u8]) {
        for piece in data.split_inclusive(|&b| b == b'\n') {
            let (body, complete) = match piece.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (piece, false),
            };
            let room = MAX_SCANNED_LINE_BYTES - self.line.len();
            self.line.extend_from_slice(&body[..body.len().min(room)]);
            if complete {
                self.end_line();
            }
        }
        assert!(self.line.len() <= MAX_SCANNED_LINE_BYTES);
    }

    fn end_line(&mut self) {
        if let Some(text) = self.line.strip_prefix(EXIT_REASON_PREFIX) {
            let reason = sanitize_exit_reason(text);
            if !reason.is_empty() {
                self.last = Some(reason);
            }
        }
        self.line.clear();
    }

    /// The reason (empty if none), counting a last line without a newline.
    fn finish(&mut self) -> ExitReason {
        self.end_line();
        self.last.take().unwrap_or_default()
    }
}

/// Invisible characters that reorder or hide text in a terminal (bidirectional overrides,
/// zero-width characters, the byte-order mark).
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

/// An agent's reason as one line of printable text: invalid UTF-8 replaced, control and
/// invisible formatting characters turned into spaces, outer whitespace trimmed, cut to
/// `MAX_EXIT_REASON_BYTES` at a character boundary. It goes into logs, the journal, the status
/// and notifications, so nothing in it may act on a terminal.
pub fn sanitize_exit_reason(bytes: &[u8]) -> ExitReason {
    let text = String::from_utf8_lossy(bytes);
    let printable: String =
        text.chars().map(|c| if c.is_control() || is_invisible_format(c) { ' ' } else { c }).collect();
    exit_reason(printable.trim())
}

/// The environment of an action, in this order: `PATH`, `OCF_ROOT`, `OCF_RA_VERSION_MAJOR`,
/// `OCF_RA_VERSION_MINOR`, `OCF_RESOURCE_INSTANCE`, `OCF_RESOURCE_TYPE`,
/// `OCF_RESOURCE_PROVIDER` (when the agent has one), `OCF_RESKEY_CRM_meta_timeout`,
/// `OCF_RESKEY_CRM_meta_interval`, `HA_GENERATION`, then `OCF_RESKEY_<name>` for each parameter.
/// Nothing is inherited from the agent's own environment.
pub fn action_environment(request: &ActionRequest, resource: &ResourceSpec) -> Vec<(String, String)> {
    let mut env = base_environment();
    env.push(("OCF_RESOURCE_INSTANCE".into(), resource.name.to_string()));
    env.extend(agent_names(&resource.agent));
    env.push(("OCF_RESKEY_CRM_meta_timeout".into(), request.timeout_ms.to_string()));
    env.push(("OCF_RESKEY_CRM_meta_interval".into(), request.interval_ms.to_string()));
    env.push(("HA_GENERATION".into(), request.generation.to_string()));
    for (name, value) in &resource.params {
        env.push((format!("OCF_RESKEY_{name}"), value.clone()));
    }
    env
}

/// The environment of `AGENT meta-data`: `PATH`, `OCF_ROOT`, the OCF version,
/// `OCF_RESOURCE_TYPE` and, when known, `OCF_RESOURCE_PROVIDER`.
pub fn meta_data_environment(agent: &Agent) -> Vec<(String, String)> {
    let mut env = base_environment();
    env.extend(agent_names(agent));
    env
}

fn base_environment() -> Vec<(String, String)> {
    vec![
        ("PATH".into(), CLEAN_PATH.into()),
        ("OCF_ROOT".into(), OCF_ROOT.into()),
        ("OCF_RA_VERSION_MAJOR".into(), OCF_RA_VERSION.0.to_string()),
        ("OCF_RA_VERSION_MINOR".into(), OCF_RA_VERSION.1.to_string()),
    ]
}

/// `OCF_RESOURCE_TYPE`, and `OCF_RESOURCE_PROVIDER` when the agent's name has one.
fn agent_names(agent: &Agent) -> Vec<(String, String)> {
    let mut env = vec![("OCF_RESOURCE_TYPE".to_string(), agent.agent_type().to_string())];
    if let Some(provider) = agent.provider() {
        env.push(("OCF_RESOURCE_PROVIDER".to_string(), provider.to_string()));
    }
    env
}

struct Running {
    id: u64,
    child: Child,
    /// The group's id: the child's pid (`process_group(0)`).
    pgid: Pid,
    started_at: Micros,
    deadline: Micros,
    /// Read end of the output pipe, non-blocking; `None` after end of file.
    output: Option<File>,
    tail: Tail,
    reason: ExitReasonScanner,
    /// Killed at its timeout and already reported; waiting to be reaped.
    killed: bool,
    /// Turns readable when the child exits, so that the loop wakes for it at once (`None` on a
    /// kernel without pidfds: the [`CHILD_POLL_MS`] tick notices the exit).
    exit_fd: Option<OwnedFd>,
    /// A built-in action this child is one program of: asked for the next step when it exits.
    chain: Option<Chain>,
}

/// A built-in action between its steps: its state machine and what it has done so far.
struct Chain {
    action: Box<dyn BuiltinAction>,
    /// Program calls so far (bounded by `MAX_STEPS_PER_ACTION`).
    steps: u32,
}

/// A built-in action in a [`Step::Wait`].
struct Waiting {
    id: u64,
    started_at: Micros,
    deadline: Micros,
    resume_at: Micros,
    tail: Tail,
    chain: Chain,
}

impl Running {
    /// Read what the pipe holds now, up to a bound.
    fn drain_output(&mut self) {
        let Some(pipe) = self.output.as_mut() else { return };
        let mut buf = [0u8; READ_CHUNK_BYTES];
        for _ in 0..MAX_READS_PER_POLL {
            match pipe.read(&mut buf) {
                Ok(0) => {
                    self.output = None;
                    return;
                }
                Ok(n) => {
                    self.tail.push(&buf[..n]);
                    self.reason.push(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.output = None;
                    return;
                }
            }
        }
    }
}

/// Runs resource actions as child processes.
#[derive(Default)]
pub struct Runner {
    running: Vec<Running>,
    /// Actions already over, reported at the next poll: those that could not even be
    /// started, and built-in actions (carried out in `spawn`).
    done: Vec<Finished>,
    /// The built-in resource types' state (pending announcements).
    builtins: super::ipaddr::Builtins,
    /// Built-in actions waiting between two program calls.
    waiting: Vec<Waiting>,
    last_poll: Micros,
}

/// OCF meaning of a spawn error: a missing agent is "not installed" (5), a refused one
/// "insufficient privileges" (4), anything else a generic error (1).
fn spawn_error_code(e: &io::Error) -> i32 {
    match e.kind() {
        io::ErrorKind::NotFound => 5,
        io::ErrorKind::PermissionDenied => 4,
        _ => 1,
    }
}

fn program_exit(status: ExitStatus) -> ProgramExit {
    match (status.code(), status.signal()) {
        (Some(code), _) => ProgramExit::Code(code),
        (None, Some(signal)) => ProgramExit::Signal(signal),
        (None, None) => ProgramExit::Code(1),
    }
}

fn exit_outcome(status: ExitStatus) -> Outcome {
    match program_exit(status) {
        ProgramExit::Code(code) => Outcome::from_exit_code(code),
        // Killed by a signal we did not send: report it as a shell would ($? = 128 + n).
        ProgramExit::Signal(signal) => Outcome::Failed(128 + signal),
        ProgramExit::NotStarted(code) => Outcome::Failed(code),
    }
}

impl Runner {
    pub fn new() -> Runner {
        Runner::default()
    }

    /// Actions running or killed and not yet reaped, and built-in actions between two steps.
    pub fn running_count(&self) -> usize {
        self.running.len() + self.waiting.len()
    }

    /// Start `request` for `resource` (its spec, as configured). A failure to start the
    /// process is not an error here: it is reported by the next `poll_children` as `Failed`
    /// with an OCF code (5 when the agent does not exist), so the core sees one path.
    pub fn spawn(
        &mut self,
        now: Micros,
        request: &ActionRequest,
        resource: &ResourceSpec,
    ) -> Result<(), SpawnError> {
        if self.running.len() + self.waiting.len() + self.done.len() >= MAX_RUNNING_ACTIONS {
            return Err(SpawnError::Full);
        }
        if let Some(builtin) = resource.agent.builtin().filter(|b| b.runs_programs()) {
            let chain = Chain { action: builtin_steps::begin(builtin, request, resource), steps: 0 };
            self.advance(now, request.id, now, now.plus_ms(request.timeout_ms), Tail::default(), chain, None);
            return Ok(());
        }
        if resource.agent.builtin().is_some() {
            let began = std::time::Instant::now();
            let result = self.builtins.run(now, request, resource);
            self.done.push(Finished {
                id: request.id,
                outcome: result.outcome,
                output: result.output,
                exit_reason: result.exit_reason,
                elapsed_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
            return Ok(());
        }
        match self.spawn_child(now, request, resource) {
            Ok(running) => self.running.push(running),
            Err(e) => self.done.push(Finished {
                id: request.id,
                outcome: Outcome::Failed(spawn_error_code(&e)),
                output: format!(
                    "cannot run {} ({}) {}: {e}",
                    resource.agent,
                    resource.agent.path(),
                    request.action.as_str()
                ),
                exit_reason: exit_reason(&format!("cannot run {}: {e}", resource.agent.path())),
                elapsed_ms: 0,
            }),
        }
        Ok(())
    }

    fn spawn_child(
        &self,
        now: Micros,
        request: &ActionRequest,
        resource: &ResourceSpec,
    ) -> io::Result<Running> {
        let mut command = Command::new(resource.agent.path());
        command.arg(request.action.as_str()).env_clear().envs(action_environment(request, resource));
        let (started_at, deadline) = (now, now.plus_ms(request.timeout_ms));
        Self::spawn_command(command, request.id, started_at, deadline, Tail::default(), None)
    }

    /// One program of a built-in action: no shell, a clean environment (`PATH` only), run as
    /// its user through [`RUNUSER`] when it names one.
    fn program_command(call: &ProgramCall) -> Command {
        let mut command = match &call.as_user {
            Some(user) => {
                let mut c = Command::new(RUNUSER);
                c.args(["-u", user.as_str(), "--"]).args(&call.argv);
                c
            }
            None => {
                let mut c = Command::new(&call.argv[0]);
                c.args(&call.argv[1..]);
                c
            }
        };
        command.env_clear().env("PATH", CLEAN_PATH);
        command
    }

    fn spawn_command(
        mut command: Command,
        id: u64,
        started_at: Micros,
        deadline: Micros,
        tail: Tail,
        chain: Option<Chain>,
    ) -> io::Result<Running> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        // Only our end is non-blocking; the agent writes to an ordinary blocking pipe.
        rustix::io::ioctl_fionbio(&read, true)?;
        let write_err = write.try_clone()?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(write))
            .stderr(Stdio::from(write_err))
            .current_dir("/")
            .process_group(0);
        super::sys::child_scheduling(&mut command);
        let child = command.spawn()?;
        // `command` holds our copies of the write end; drop them so end of file can be seen.
        drop(command);
        let pgid = Pid::from_child(&child);
        // Not reaped before try_wait says so: the pid cannot be reused under the pidfd.
        let exit_fd = rustix::process::pidfd_open(pgid, rustix::process::PidfdFlags::empty()).ok();
        Ok(Running {
            id,
            child,
            pgid,
            started_at,
            deadline,
            output: Some(File::from(read)),
            tail,
            reason: ExitReasonScanner::default(),
            killed: false,
            exit_fd,
            chain,
        })
    }

    /// Ask a built-in action for its next step (after `previous`, the exit of its last program
    /// and that program's output) and carry it out: spawn the program, park the wait, or
    /// report the result. Never blocks.
    #[allow(clippy::too_many_arguments)]
    fn advance(
        &mut self,
        now: Micros,
        id: u64,
        started_at: Micros,
        deadline: Micros,
        mut tail: Tail,
        mut chain: Chain,
        previous: Option<(ProgramExit, &str)>,
    ) {
        // A program may not be started, so each step that ends at once asks again; the bound
        // on program calls ends any loop (waits return to the loop, bounded by the timeout).
        let mut previous: Option<(ProgramExit, String)> = previous.map(|(e, o)| (e, o.to_string()));
        loop {
            let step = chain.action.next(now, previous.as_ref().map(|(e, o)| (*e, o.as_str())));
            let step = match step {
                Step::Run(_) if chain.steps >= MAX_STEPS_PER_ACTION => Step::failed(
                    1,
                    format!(
                        "ha-agent: more than {MAX_STEPS_PER_ACTION} program calls in one built-in action"
                    ),
                ),
                Step::Run(call) => {
                    chain.steps += 1;
                    Step::Run(call)
                }
                other => other,
            };
            match step {
                Step::Done(StepResult { outcome, exit_reason, output }) => {
                    tail.push(output.as_bytes());
                    self.done.push(Finished {
                        id,
                        outcome,
                        output: tail.text(),
                        exit_reason,
                        elapsed_ms: now.since_us(started_at) / 1000,
                    });
                    return;
                }
                Step::Wait { ms } => {
                    let resume_at = now.plus_ms(ms.min(MAX_STEP_WAIT_MS));
                    self.waiting.push(Waiting { id, started_at, deadline, resume_at, tail, chain });
                    return;
                }
                Step::Run(call) => {
                    tail.push(format!("$ {}\n", call.display()).as_bytes());
                    let command = Self::program_command(&call);
                    match Self::spawn_command(command, id, started_at, deadline, Tail::default(), None) {
                        Ok(mut running) => {
                            running.tail = tail;
                            running.chain = Some(chain);
                            self.running.push(running);
                            return;
                        }
                        Err(e) => {
                            let text = format!("cannot run {}: {e}\n", call.argv[0]);
                            tail.push(text.as_bytes());
                            previous = Some((ProgramExit::NotStarted(spawn_error_code(&e)), text));
                        }
                    }
                }
            }
        }
    }

    /// Collect output, reap exited actions, kill those past their timeout. Never blocks; the
    /// work is bounded by [`MAX_RUNNING_ACTIONS`] and the per-poll read bound.
    pub fn poll_children(&mut self, now: Micros) -> Vec<Finished> {
        self.last_poll = now;
        self.builtins.poll(now);
        self.poll_waiting(now);
        let mut exited_chains = Vec::new();
        let mut index = 0;
        while index < self.running.len() {
            let r = &mut self.running[index];
            if r.killed {
                // Already reported as TimedOut; only the zombie is left to reap.
                match r.child.try_wait() {
                    Ok(None) => index += 1,
                    Ok(Some(_)) | Err(_) => {
                        self.running.swap_remove(index);
                    }
                }
                continue;
            }
            r.drain_output();
            match r.child.try_wait() {
                Ok(Some(status)) if r.chain.is_some() => {
                    r.drain_output();
                    let r = self.running.swap_remove(index);
                    exited_chains.push((r, program_exit(status)));
                }
                Ok(Some(status)) => {
                    r.drain_output();
                    self.done.push(Finished {
                        id: r.id,
                        outcome: exit_outcome(status),
                        output: r.tail.text(),
                        exit_reason: r.reason.finish(),
                        elapsed_ms: now.since_us(r.started_at) / 1000,
                    });
                    self.running.swap_remove(index);
                }
                Ok(None) if now >= r.deadline => {
                    // The group id stays ours until the leader is reaped, so this cannot hit
                    // an unrelated group.
                    let killed = kill_process_group(r.pgid, Signal::KILL);
                    let mut output = r.tail.text();
                    if let Err(e) = killed {
                        output.push_str(&format!("\n[ha-agent: kill of process group failed: {e}]"));
                    }
                    r.chain = None;
                    self.done.push(Finished {
                        id: r.id,
                        outcome: Outcome::TimedOut,
                        output,
                        exit_reason: r.reason.finish(),
                        elapsed_ms: now.since_us(r.started_at) / 1000,
                    });
                    r.killed = true;
                    r.output = None;
                    match r.child.try_wait() {
                        Ok(Some(_)) => {
                            self.running.swap_remove(index);
                        }
                        _ => index += 1,
                    }
                }
                Ok(None) => index += 1,
                Err(e) => {
                    // Cannot happen for our own unreaped child; treat it as lost: kill the
                    // group and report a failure (a lost stop must escalate, not be trusted).
                    let _ = kill_process_group(r.pgid, Signal::KILL);
                    r.chain = None;
                    self.done.push(Finished {
                        id: r.id,
                        outcome: Outcome::Failed(1),
                        output: format!("{}\n[ha-agent: waiting for the action failed: {e}]", r.tail.text()),
                        exit_reason: r.reason.finish(),
                        elapsed_ms: now.since_us(r.started_at) / 1000,
                    });
                    r.killed = true;
                    r.output = None;
                    index += 1;
                }
            }
        }
        for (r, exit) in exited_chains {
            let Running { id, started_at, deadline, tail, chain, .. } = r;
            let output = tail.text();
            let chain = chain.expect("only chained programs are collected here");
            self.advance(now, id, started_at, deadline, tail, chain, Some((exit, output.as_str())));
        }
        std::mem::take(&mut self.done)
    }

    /// Resume the built-in actions whose wait is over; end those past their timeout.
    fn poll_waiting(&mut self, now: Micros) {
        let mut index = 0;
        while index < self.waiting.len() {
            let w = &self.waiting[index];
            if now >= w.deadline {
                let w = self.waiting.swap_remove(index);
                self.done.push(Finished {
                    id: w.id,
                    outcome: Outcome::TimedOut,
                    output: w.tail.text(),
                    exit_reason: exit_reason("timed out between two steps"),
                    elapsed_ms: now.since_us(w.started_at) / 1000,
                });
            } else if now >= w.resume_at {
                let w = self.waiting.swap_remove(index);
                self.advance(now, w.id, w.started_at, w.deadline, w.tail, w.chain, None);
            } else {
                index += 1;
            }
        }
    }

    /// Descriptors that turn readable when a running action exits: the loop polls them (at
    /// most [`MAX_RUNNING_ACTIONS`]) so that an exit is seen at once, not at the next tick.
    pub fn exit_fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.running.iter().filter_map(|r| r.exit_fd.as_ref().map(|fd| fd.as_fd()))
    }

    /// When the loop must call `poll_children` again: the earliest action timeout, and no
    /// later than [`CHILD_POLL_MS`] after the last poll while anything runs. `None` when idle.
    pub fn next_deadline(&self) -> Option<Micros> {
        if !self.done.is_empty() {
            return Some(self.last_poll);
        }
        let waits = self.waiting.iter().map(|w| w.resume_at.min(w.deadline)).min();
        let announcement = match (self.builtins.next_due(), waits) {
            (Some(a), Some(w)) => Some(a.min(w)),
            (a, w) => a.or(w),
        };
        if self.running.is_empty() {
            return announcement;
        }
        let tick = self.last_poll.plus_ms(CHILD_POLL_MS);
        let earliest =
            self.running.iter().filter(|r| !r.killed).map(|r| r.deadline).min().unwrap_or(Micros::MAX);
        Some(earliest.min(tick).min(announcement.unwrap_or(Micros::MAX)))
    }
}

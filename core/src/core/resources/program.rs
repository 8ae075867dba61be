//! The vocabulary of built-in resource types whose actions run programs (`builtin:filesystem`,
//! `builtin:pgsql`): a built-in action is a short sequence of [`Step`]s, each decided by the
//! type's pure state machine from the exit of the program before it.
//!
//! Owns [`Step`] (run a program, wait, or end with a result), [`ProgramCall`] (an argument
//! vector, never a shell command line, and the user it runs as) and [`ProgramExit`] (what the
//! decision sees of a program that ended). It decides nothing for any type (that is
//! `core::resources::filesystem` and `core::resources::pgsql`) and runs nothing: the runner
//! (`shell::ocf`) spawns each call as it spawns a script (own process group, clean
//! environment, output kept, killed at the action's timeout, which covers the whole sequence).
//! Why programs and not system calls in the loop: a mount replays a journal and an unmount
//! writes back dirty data, for seconds on a slow array; the agent's loop must keep sending
//! heartbeats meanwhile, so anything that may wait for a disk runs in a child process.

#![forbid(unsafe_code)]

use super::{exit_reason, ExitReason, Outcome};

/// Bound on the arguments of one program call (argv\[0\] included).
pub const MAX_PROGRAM_ARGS: usize = 24;
/// Bound on the program calls of one built-in action: a sequence longer than this is a bug in
/// the type. Waits are not counted: the action's timeout bounds them.
pub const MAX_STEPS_PER_ACTION: u32 = 16;
/// Bound on one [`Step::Wait`].
pub const MAX_STEP_WAIT_MS: u64 = 10_000;

/// One program a built-in action runs: `argv[0]` is an absolute path; no shell ever parses
/// any of it, so a parameter's value is one argument whatever it contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramCall {
    pub argv: Vec<String>,
    /// Run as this user (its uid, primary group and supplementary groups, through util-linux's
    /// `runuser`), or as the agent's own user when `None`.
    pub as_user: Option<String>,
}

impl ProgramCall {
    pub fn new(argv: Vec<String>, as_user: Option<String>) -> ProgramCall {
        assert!(!argv.is_empty() && argv.len() <= MAX_PROGRAM_ARGS, "argv within its bound");
        assert!(argv[0].starts_with('/'), "argv[0] is an absolute path: {:?}", argv[0]);
        ProgramCall { argv, as_user }
    }

    /// The call as one line for the log (arguments with spaces quoted).
    pub fn display(&self) -> String {
        let words: Vec<String> =
            self.argv
                .iter()
                .map(|a| {
                    if a.is_empty() || a.contains(char::is_whitespace) {
                        format!("{a:?}")
                    } else {
                        a.clone()
                    }
                })
                .collect();
        match &self.as_user {
            Some(user) => format!("(as {user}) {}", words.join(" ")),
            None => words.join(" "),
        }
    }
}

/// How a program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramExit {
    /// Its exit status.
    Code(i32),
    /// Killed by this signal (one the runner did not send).
    Signal(i32),
    /// It could not be started (not installed, not executable): the errno's OCF meaning, 5
    /// "not installed" or 4 "insufficient privileges" or 1.
    NotStarted(i32),
}

impl ProgramExit {
    pub fn success(self) -> bool {
        self == ProgramExit::Code(0)
    }
}

/// What a built-in action does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Run this program; the type decides again with its [`ProgramExit`] and output.
    Run(ProgramCall),
    /// Wait this long (at most [`MAX_STEP_WAIT_MS`]), then decide again (with no exit).
    Wait { ms: u64 },
    /// The action is over with this result.
    Done(StepResult),
}

/// The result of a built-in action, as a script's exit would be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    pub outcome: Outcome,
    pub exit_reason: ExitReason,
    /// One line for the log: what was found or done.
    pub output: String,
}

impl Step {
    /// Over with `outcome`; `reason` is the exit reason (may be empty) and `output` the log line.
    pub fn done(outcome: Outcome, reason: &str, output: impl Into<String>) -> Step {
        Step::Done(StepResult { outcome, exit_reason: exit_reason(reason), output: output.into() })
    }

    /// Over with a failure whose reason is also the log line.
    pub fn failed(code: i32, reason: impl Into<String>) -> Step {
        let reason = reason.into();
        Step::Done(StepResult {
            outcome: Outcome::from_exit_code(code),
            exit_reason: exit_reason(&reason),
            output: reason,
        })
    }
}

/// A built-in type's state machine, as its driver resumes it between two steps.
pub trait Resume {
    /// What the machine asks of its driver next (a look, a signal, or a [`Step`]).
    type Next;
    fn begin(&mut self) -> Self::Next;
    fn exited(&mut self, exit: ProgramExit, output: &str) -> Self::Next;
    fn waited(&mut self) -> Self::Next;
}

/// The machine's next request: its first (`begun` was false), or the one after the program
/// that exited (`previous`), or after a wait (`None`).
pub fn resume<M: Resume>(
    machine: &mut M,
    begun: &mut bool,
    previous: Option<(ProgramExit, &str)>,
) -> M::Next {
    if !*begun {
        *begun = true;
        return machine.begin();
    }
    match previous {
        Some((exit, output)) => machine.exited(exit, output),
        None => machine.waited(),
    }
}

/// The last non-empty line of a program's output, trimmed: what `mount`, `umount` and `pg_ctl`
/// print last is why they failed.
pub fn last_line(output: &str) -> &str {
    output.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_displayed_as_one_line_with_spaced_arguments_quoted() {
        let call = ProgramCall::new(
            vec!["/usr/bin/pg_ctl".into(), "-o".into(), "-c config_file=/etc/x".into()],
            Some("postgres".into()),
        );
        assert_eq!(call.display(), "(as postgres) /usr/bin/pg_ctl -o \"-c config_file=/etc/x\"");
    }

    #[test]
    #[should_panic(expected = "absolute path")]
    fn a_relative_program_is_a_bug() {
        ProgramCall::new(vec!["mount".into()], None);
    }

    #[test]
    fn the_last_line_is_the_reason() {
        assert_eq!(last_line("a\n  mount: busy  \n\n"), "mount: busy");
        assert_eq!(last_line(""), "");
    }
}

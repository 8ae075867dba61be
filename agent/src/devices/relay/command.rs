//! A relay channel through an external command that follows the fence-agents convention, so
//! that any existing fence agent (IPMI, PDU, hypervisor) can be plugged in: the options are
//! written to its stdin as `key=value` lines, including `action=off|on|status|monitor` and
//! `plug=N` when configured; exit 0 means success; for `action=status`, exit 0 means on and
//! exit 2 means off. Success of `action=off` means the agent read the device back off (fence
//! agents poll its status until `power_timeout` before they answer), so a fence through this
//! channel is that one command ([`crate::devices::fence::Confirmation::ByCommand`]).
//!
//! Owns building the option lines (a pure function), running the command with a deadline,
//! killing it when the deadline passes and keeping a bounded tail of its stderr for the error
//! message. It does not interpret anything but the exit status.

#![forbid(unsafe_code)]

use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{RelayChannel, RelayError, RelayState, ReplyError};

/// Bound on the configured options passed to the command.
pub const MAX_OPTIONS: usize = 32;
/// Bound on the stderr bytes kept for an error message.
const MAX_STDERR_BYTES: usize = 1024;
/// How often the child is checked while it runs when the kernel has no pidfd (before Linux
/// 5.3); with one, its exit wakes the wait at once.
const CHILD_POLL_MS: u64 = 1;
/// Exit code of `action=status` meaning "off" (fence-agents convention).
pub const EXIT_STATUS_OFF: i32 = 2;

/// The fence-agents action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Off,
    On,
    Status,
    Monitor,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Off => "off",
            Action::On => "on",
            Action::Status => "status",
            Action::Monitor => "monitor",
        }
    }
}

/// The stdin text for one run: `action=`, then `plug=` if any, then the configured options in
/// order. Values containing a newline are rejected by configuration validation; asserted here.
pub fn stdin_text(action: Action, plug: Option<&str>, options: &[(String, String)]) -> String {
    assert!(options.len() <= MAX_OPTIONS);
    let mut s = format!("action={}\n", action.as_str());
    if let Some(plug) = plug {
        assert!(!plug.contains('\n'));
        s.push_str(&format!("plug={plug}\n"));
    }
    for (k, v) in options {
        assert!(!k.contains(['\n', '=']) && !v.contains('\n'), "option {k:?} must be one line");
        s.push_str(&format!("{k}={v}\n"));
    }
    s
}

/// What the exit status of `action` means.
pub fn interpret(
    action: Action,
    code: Option<i32>,
    stderr_tail: &str,
) -> Result<Option<RelayState>, RelayError> {
    match (action, code) {
        (Action::Status, Some(0)) => Ok(Some(RelayState::On)),
        (Action::Status, Some(EXIT_STATUS_OFF)) => Ok(Some(RelayState::Off)),
        (_, Some(0)) => Ok(None),
        (_, Some(c)) => Err(RelayError::Reply(ReplyError::DeviceError(format!(
            "fence agent action={} exited {c}: {}",
            action.as_str(),
            stderr_tail.trim()
        )))),
        (_, None) => Err(RelayError::Reply(ReplyError::DeviceError(format!(
            "fence agent action={} killed by a signal",
            action.as_str()
        )))),
    }
}

pub struct CommandRelay {
    program: PathBuf,
    args: Vec<String>,
    plug: Option<String>,
    options: Vec<(String, String)>,
}

impl CommandRelay {
    pub fn new(
        program: PathBuf,
        args: Vec<String>,
        plug: Option<String>,
        options: Vec<(String, String)>,
    ) -> CommandRelay {
        assert!(options.len() <= MAX_OPTIONS);
        CommandRelay { program, args, plug, options }
    }

    /// `action=monitor`: whether the fence device itself is reachable (for the health check of
    /// channels whose status query is expensive).
    pub fn monitor(&mut self, timeout_ms: u64) -> Result<(), RelayError> {
        self.run(Action::Monitor, timeout_ms).map(|_| ())
    }

    /// Run the agent once with `action`, bounded by `timeout_ms` (the child is killed after).
    pub fn run(&mut self, action: Action, timeout_ms: u64) -> Result<Option<RelayState>, RelayError> {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        let mut command = Command::new(&self.program);
        crate::sys::child_scheduling(&mut command);
        let mut child = command
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| RelayError::Io(format!("{}: {e}", self.program.display())))?;
        let text = stdin_text(action, self.plug.as_deref(), &self.options);
        if let Some(mut stdin) = child.stdin.take() {
            // The text is far below a pipe's capacity; an agent that exits without reading
            // gives EPIPE, which is not an error of ours.
            let _ = stdin.write_all(text.as_bytes());
        }
        // The child is ours and not reaped until try_wait says so, so its pid cannot be reused
        // before the pidfd refers to it.
        let pid = rustix::process::Pid::from_child(&child);
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok();
        let status = loop {
            match child.try_wait()? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(RelayError::Timeout { after_ms: timeout_ms, received: 0 });
                }
                None => wait_exit(pidfd.as_ref(), deadline),
            }
        };
        let tail = child.stderr.take().map(|e| read_available(&e)).unwrap_or_default();
        interpret(action, exit_code(status), &tail)
    }
}

/// Sleep until the child exits (its pidfd turns readable) or the deadline; without a pidfd, or
/// when the wait fails (it must not spin), for [`CHILD_POLL_MS`]. Callers check the child again
/// after it returns, whatever woke it.
fn wait_exit(pidfd: Option<&std::os::fd::OwnedFd>, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    let waited = pidfd.map(|fd| super::wait_ready(fd, rustix::event::PollFlags::IN, left));
    if !matches!(waited, Some(Ok(_))) {
        std::thread::sleep(Duration::from_millis(CHILD_POLL_MS));
    }
}

fn exit_code(status: ExitStatus) -> Option<i32> {
    status.code()
}

/// What the child left in its stderr pipe, without blocking (a grandchild may hold it open).
fn read_available(pipe: &std::process::ChildStderr) -> String {
    let fd = pipe.as_fd();
    if let Ok(flags) = rustix::fs::fcntl_getfl(fd) {
        let _ = rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK);
    }
    let mut buf = [0u8; MAX_STDERR_BYTES];
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(fd, &mut buf[len..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => len += n,
        }
    }
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

impl RelayChannel for CommandRelay {
    fn describe(&self) -> String {
        match &self.plug {
            Some(plug) => format!("command {} plug {plug}", self.program.display()),
            None => format!("command {}", self.program.display()),
        }
    }

    fn can_read_back(&self) -> bool {
        true
    }

    fn confirmation(&self) -> crate::devices::fence::Confirmation {
        crate::devices::fence::Confirmation::ByCommand
    }

    fn power_off(&mut self, timeout_ms: u64) -> Result<(), RelayError> {
        self.run(Action::Off, timeout_ms).map(|_| ())
    }

    fn power_on(&mut self, timeout_ms: u64) -> Result<(), RelayError> {
        self.run(Action::On, timeout_ms).map(|_| ())
    }

    fn read_state(&mut self, timeout_ms: u64) -> Result<RelayState, RelayError> {
        match self.run(Action::Status, timeout_ms)? {
            Some(state) => Ok(state),
            None => Err(RelayError::Reply(ReplyError::WrongReply("status without a state".into()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_lines_follow_fence_agents() {
        let opts =
            vec![("ip".to_string(), "10.0.0.5".to_string()), ("username".to_string(), "admin".to_string())];
        assert_eq!(
            stdin_text(Action::Off, Some("3"), &opts),
            "action=off\nplug=3\nip=10.0.0.5\nusername=admin\n"
        );
        assert_eq!(stdin_text(Action::Monitor, None, &[]), "action=monitor\n");
    }

    #[test]
    fn exit_codes() {
        assert_eq!(interpret(Action::Status, Some(0), ""), Ok(Some(RelayState::On)));
        assert_eq!(interpret(Action::Status, Some(2), ""), Ok(Some(RelayState::Off)));
        assert!(interpret(Action::Status, Some(1), "").is_err());
        assert_eq!(interpret(Action::Off, Some(0), ""), Ok(None));
        assert!(
            matches!(interpret(Action::Off, Some(2), "boom"), Err(RelayError::Reply(ReplyError::DeviceError(m))) if m.contains("boom"))
        );
        assert!(interpret(Action::On, None, "").is_err());
    }
}

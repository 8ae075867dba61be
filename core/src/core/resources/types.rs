//! The resource group's vocabulary: names, the configured resources and group, the actions
//! and their outcomes, the requests the group hands the shell, its states and the events it
//! reports, and why a command is refused. Re-exported by `core::resources`, which owns the
//! state machine ([`super::Group`]) that uses them.

#![forbid(unsafe_code)]

use super::*;

/// A resource name: short, bounded, carried in events.
pub type Name = heapless::String<MAX_NAME_BYTES>;

/// Why an agent says an action ended as it did (its `ocf-exit-reason:` line): printable text,
/// bounded; empty when the agent gave none.
pub type ExitReason = heapless::String<MAX_EXIT_REASON_BYTES>;

/// `text` cut to [`MAX_EXIT_REASON_BYTES`] at a character boundary.
pub fn exit_reason(text: &str) -> ExitReason {
    let mut end = text.len().min(MAX_EXIT_REASON_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut reason = ExitReason::new();
    assert!(reason.push_str(&text[..end]).is_ok(), "cut to the capacity");
    reason
}

/// One resource as configured (validated by [`config`]; bounds re-checked by [`Group::new`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceSpec {
    pub name: Name,
    /// The OCF-style script, run as `AGENT start|stop|monitor|validate-all`.
    pub agent: Agent,
    /// `OCF_RESKEY_<name>=<value>` for each, in this order.
    pub params: heapless::Vec<(String, String), MAX_PARAMS>,
    pub start_timeout_ms: u64,
    pub stop_timeout_ms: u64,
    pub monitor_timeout_ms: u64,
    pub monitor_interval_ms: u64,
}

impl ResourceSpec {
    pub fn timeout_ms(&self, action: Action) -> u64 {
        match action {
            // validate-all runs as the first part of a start.
            Action::Start | Action::ValidateAll => self.start_timeout_ms,
            Action::Stop => self.stop_timeout_ms,
            Action::Monitor => self.monitor_timeout_ms,
        }
    }
}

/// The group: resources in start order, and the group-wide restart budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSpec {
    pub resources: heapless::Vec<ResourceSpec, MAX_RESOURCES>,
    /// Local restarts allowed within `restart_window_ms`; one more failure fails the group.
    pub max_restarts: u32,
    pub restart_window_ms: u64,
}

impl GroupSpec {
    /// Longest time from `stop()` until every resource is confirmed stopped or the group is
    /// `StopFailed`: the longest action that may be in flight when the stop arrives, plus every
    /// stop, plus the result backstop. The authority's self-fencing and watchdog deadlines
    /// (rules N2, W1) must allow at least this.
    pub fn worst_case_stop_ms(&self) -> u64 {
        let in_flight = self
            .resources
            .iter()
            .map(|r| r.start_timeout_ms.max(r.monitor_timeout_ms).max(r.stop_timeout_ms))
            .max()
            .unwrap_or(0);
        let stops: u64 = self.resources.iter().map(|r| r.stop_timeout_ms).sum();
        in_flight + stops + RESULT_GRACE_MS
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Monitor,
    /// Before a start, when the agent's meta-data lists it: checks the parameters and what the
    /// resource needs on this node, changes nothing.
    ValidateAll,
}

impl Action {
    /// The word passed as `argv[1]` to the agent.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Monitor => "monitor",
            Action::ValidateAll => "validate-all",
        }
    }
}

/// The result of one action, as the runner reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit code 0.
    Success,
    /// Exit code 7 (`OCF_NOT_RUNNING`).
    NotRunning,
    /// Exit code 190 (`OCF_DEGRADED`) or 191 (`OCF_DEGRADED_PROMOTED`): running, but degraded.
    /// Success with a warning for a start or monitor; a failure for a stop (still running) and
    /// for validate-all.
    Degraded { promoted: bool },
    /// Any other exit code (128 + signal when killed by a signal the runner did not send).
    Failed(i32),
    /// The runner killed the action's process group at its timeout.
    TimedOut,
}

impl Outcome {
    pub fn from_exit_code(code: i32) -> Outcome {
        match code {
            OCF_SUCCESS => Outcome::Success,
            OCF_NOT_RUNNING => Outcome::NotRunning,
            OCF_DEGRADED => Outcome::Degraded { promoted: false },
            OCF_DEGRADED_PROMOTED => Outcome::Degraded { promoted: true },
            other => Outcome::Failed(other),
        }
    }

    /// The exit code, `None` for a timeout.
    pub fn exit_code(self) -> Option<i32> {
        match self {
            Outcome::Success => Some(OCF_SUCCESS),
            Outcome::NotRunning => Some(OCF_NOT_RUNNING),
            Outcome::Degraded { promoted: false } => Some(OCF_DEGRADED),
            Outcome::Degraded { promoted: true } => Some(OCF_DEGRADED_PROMOTED),
            Outcome::Failed(code) => Some(code),
            Outcome::TimedOut => None,
        }
    }

    /// OCF "hard" errors (2 args, 3 unimplemented, 4 permission, 5 not installed, 6 not
    /// configured): retrying on this node cannot help, so the group fails without local restart.
    pub fn is_hard_failure(self) -> bool {
        matches!(self, Outcome::Failed(2..=6))
    }
}

/// `exit 1 (generic error)`, `timed out`: for logs, the journal and notification texts.
impl core::fmt::Display for Outcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Some(code) = self.exit_code() else {
            return f.write_str("timed out");
        };
        let meaning = match code {
            0 => "success",
            1 => "generic error",
            2 => "invalid arguments",
            3 => "unimplemented",
            4 => "insufficient privileges",
            5 => "not installed",
            6 => "not configured",
            7 => "not running",
            8 => "running promoted",
            9 => "failed promoted",
            190 => "degraded",
            191 => "degraded promoted",
            129..=191 => "killed by a signal",
            _ => "error",
        };
        write!(f, "exit {code} ({meaning})")
    }
}

/// One action for the shell to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionRequest {
    /// Unique for the lifetime of the group; echo it in [`Group::handle_result`].
    pub id: u64,
    /// Index into the group's resources.
    pub resource: usize,
    pub action: Action,
    pub timeout_ms: u64,
    /// `OCF_RESKEY_CRM_meta_interval`: the monitor interval for a recurring monitor, 0 for every
    /// other action (as Pacemaker passes it; agents tell a probe from a recurring monitor by it).
    pub interval_ms: u64,
    /// The generation of the latest grant the group acts on (`HA_GENERATION`).
    pub generation: u64,
}

/// The group as the authority sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    /// Every resource confirmed stopped.
    Stopped,
    /// Working towards running (first start or a local restart).
    Starting,
    /// Every resource started and not known to have failed since.
    Running,
    /// Working towards stopped (a stop command, or a failure being cleaned up).
    Stopping,
    /// Restarts exhausted or a hard failure: every resource has been stopped (confirmed) and the
    /// group refuses to start until `cleanup`. The authority must move the service.
    Failed,
    /// A stop failed or timed out: resources may still run. No more actions until `reset`; the
    /// authority escalates (self-fence, fence).
    StopFailed,
}

impl GroupState {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Stopped => "stopped",
            GroupState::Starting => "starting",
            GroupState::Running => "running",
            GroupState::Stopping => "stopping",
            GroupState::Failed => "failed",
            GroupState::StopFailed => "stop-failed",
        }
    }
}

/// What the group knows about one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceState {
    /// Confirmed stopped by a stop that returned 0 or 7.
    Stopped,
    /// Confirmed running by a start or monitor that returned 0.
    Running,
    /// Anything else: at boot, while a start or stop is in flight, after a failed action.
    Unknown,
}

/// Whether a resource's agent runs `validate-all` before each start; learned from its
/// meta-data by the shell ([`Group::set_validation`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// The meta-data is being read: a start of this resource waits for the answer.
    Unknown,
    /// The meta-data lists `validate-all`: it runs before every start.
    Advertised,
    /// Not listed, or the meta-data could not be read: start directly. The default.
    NotAdvertised,
}

/// One failed action, as the status shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub action: Action,
    pub outcome: Outcome,
    /// The agent's `ocf-exit-reason:`, empty if it gave none.
    pub exit_reason: ExitReason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceStatus {
    pub name: Name,
    pub state: ResourceState,
    /// Running, but the last monitor (or the start) returned 190/191: the exit reason, if any.
    pub degraded: Option<ExitReason>,
    /// Failed actions since the last `cleanup`.
    pub failures: u32,
    pub last_failure: Option<Failure>,
}

impl ResourceStatus {
    /// `stopped`, `running`, `degraded` (running, degraded) or `unknown`.
    pub fn state_str(&self) -> &'static str {
        match (self.state, &self.degraded) {
            (ResourceState::Running, Some(_)) => "degraded",
            (ResourceState::Running, None) => "running",
            (ResourceState::Stopped, _) => "stopped",
            (ResourceState::Unknown, _) => "unknown",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    ResourceStarted {
        resource: usize,
        name: Name,
    },
    ResourceStopped {
        resource: usize,
        name: Name,
    },
    ResourceFailed {
        resource: usize,
        name: Name,
        action: Action,
        outcome: Outcome,
        exit_reason: ExitReason,
    },
    /// A running resource's monitor (or its start) returned 190/191: it runs, degraded. Not a
    /// failure; nothing is restarted. Sent when the resource becomes degraded, not for every
    /// degraded monitor.
    ResourceDegraded {
        resource: usize,
        name: Name,
        exit_reason: ExitReason,
    },
    /// A degraded resource's monitor returned 0 again.
    ResourceRecovered {
        resource: usize,
        name: Name,
    },
    /// A local restart was decided: resources from `resource` on are stopped in reverse order
    /// and started again. `restarts_in_window` counts this one.
    ResourceRestarted {
        resource: usize,
        name: Name,
        restarts_in_window: u32,
    },
    GroupRunning,
    GroupStopped,
    /// Every resource has been stopped after a failure the group cannot recover from locally.
    GroupFailed,
    /// A stop failed or timed out; the group is `StopFailed`.
    StopFailed {
        resource: usize,
        name: Name,
        outcome: Outcome,
    },
}

impl Event {
    /// The agent's exit reason the event carries, if it has a non-empty one.
    pub fn exit_reason(&self) -> Option<&str> {
        match self {
            Event::ResourceFailed { exit_reason, .. } | Event::ResourceDegraded { exit_reason, .. } => {
                Some(exit_reason.as_str()).filter(|r| !r.is_empty())
            }
            _ => None,
        }
    }
}

/// One line for the log and the journal (the exit reason is left out: see
/// [`Event::exit_reason`]).
impl core::fmt::Display for Event {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Event::ResourceStarted { name, .. } => write!(f, "{name} started"),
            Event::ResourceStopped { name, .. } => write!(f, "{name} stopped"),
            Event::ResourceFailed { name, action, outcome, .. } => {
                write!(f, "{name}: {} failed: {outcome}", action.as_str())
            }
            Event::ResourceDegraded { name, .. } => write!(f, "{name} runs degraded"),
            Event::ResourceRecovered { name, .. } => write!(f, "{name} is no longer degraded"),
            Event::ResourceRestarted { name, restarts_in_window, .. } => {
                write!(f, "{name}: local restart ({restarts_in_window} in the window)")
            }
            Event::GroupRunning => f.write_str("group running"),
            Event::GroupStopped => f.write_str("group stopped"),
            Event::GroupFailed => f.write_str("group failed: every resource stopped"),
            Event::StopFailed { name, outcome, .. } => {
                write!(f, "{name}: stop failed ({outcome}): it may still run")
            }
        }
    }
}

/// Why a command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The group is `StopFailed`; only `reset` is accepted.
    StopFailed,
    /// The group failed (or is stopping because it failed); `cleanup` first.
    Failed,
    /// Rule N1: never act on a generation older than one already acted on.
    OlderGeneration { current: u64, requested: u64 },
}

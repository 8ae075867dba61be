//! The protocol's messages about authority: what the witness says to each node
//! ([`WitnessInfo`], its [`Order`]) and what a node says about itself ([`NodeReport`]), carried
//! in every heartbeat (`frame::Heartbeat`). Plain data with a stable postcard encoding (new
//! variants are appended last); the rules that produce and read them are `core::authority`,
//! which re-exports them.

#![forbid(unsafe_code)]

use heapless::Vec;
use serde::{Deserialize, Serialize};

/// Bound on the per-member counters a report carries.
pub const MAX_HEARD: usize = 2;

/// The witness's word, sent to each node in every witness heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessInfo {
    /// Increases with every witness decision the receiver must not see out of order.
    pub seq: u64,
    /// The current generation (durable on the witness before any frame carries it).
    pub generation: u64,
    /// Member id of the node that holds the grant for `generation` (0 = none).
    pub holder: u8,
    /// What the receiving node must do.
    pub order: Order,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// Do not run the resources.
    Standby,
    /// Run the resources under `generation` (only ever sent to the holder).
    Run,
    /// Stop the resources and report `Stopped` for `generation` (graceful switchover).
    Stop,
    /// Maintenance mode: leave the resources exactly as they are (no start, no stop, no
    /// monitor, no restart). Safety still applies: quorum loss self-fences (N2), a newer
    /// generation stops them (N1). Appended last so that the encoding of the other orders is
    /// unchanged.
    Hold,
}

/// State of a node's resource group as the node reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResState {
    /// Every resource confirmed stopped.
    Stopped,
    Starting,
    Running,
    Stopping,
    /// Restarts exhausted or start impossible; every resource confirmed stopped.
    Failed,
    /// A stop failed or timed out: resources may still be running.
    StopFailed,
}

impl ResState {
    /// True only when every resource is confirmed stopped.
    pub fn is_stopped(self) -> bool {
        matches!(self, ResState::Stopped | ResState::Failed)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ResState::Stopped => "stopped",
            ResState::Starting => "starting",
            ResState::Running => "running",
            ResState::Stopping => "stopping",
            ResState::Failed => "failed",
            ResState::StopFailed => "stop-failed",
        }
    }
}

/// How many frames a member has received from another member (wrapping counter). The witness
/// uses the counters the other node reports to know whether anyone still hears a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heard {
    pub member: u8,
    pub frames: u32,
}

/// What a node says about itself in every heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    /// Increases with every report of this boot; older reports are ignored.
    pub seq: u64,
    /// Highest generation this node has seen anywhere.
    pub max_seen: u64,
    /// Generation under which its resources run or last ran (0 = never this boot).
    pub acting: u64,
    /// Highest generation for which it has stopped (it never starts again at or below it).
    pub stopped: u64,
    pub resources: ResState,
    /// Willing and able to take the service.
    pub ready: bool,
    /// Upper bound from its own quorum loss to its resources being stopped or the machine
    /// reset: `self_fence_ms + stop_timeout_ms + watchdog timeout`; 0 when it has no armed
    /// watchdog (then only a fence or its own report can release it).
    pub fence_bound_ms: u32,
    /// Frames received from each other member.
    pub heard: Vec<Heard, MAX_HEARD>,
}

//! Cluster authority: who may run the protected service, decided so that two servers never
//! run it at once.
//!
//! Owns the safety rules W1-W5 (the witness: generations, grants, switchover, failover after a
//! confirmed fence or after the watchdog deadline, nothing while isolated) and N1-N4 (the
//! nodes: act only on a current grant, stop on a newer generation, self-fence on quorum loss,
//! feed the watchdog only while healthy, wait for the witness after boot), plus the fence
//! decision state machine. Sans-I/O: inputs are what the heartbeats carried and what the
//! shell reports (durable write done, fence result, resource state), each with `now`; outputs
//! are actions for the shell and the next deadline. It does not detect failures (that is
//! [`super::membership`], whose [`View`] it reads), run resources, drive relays or write files.
//!
//! The reasoning behind every rule and timeout is in `docs/design.md`, "Authority".

#![forbid(unsafe_code)]

pub mod fence;
pub mod node;
pub mod witness;

use heapless::Vec;

use crate::time::Micros;

pub use crate::wire::messages::{Heard, NodeReport, Order, ResState, WitnessInfo, MAX_HEARD};

/// The group's state as a node reports it (the engine's reports and the status use this).
impl From<crate::core::resources::GroupState> for ResState {
    fn from(state: crate::core::resources::GroupState) -> ResState {
        use crate::core::resources::GroupState;
        match state {
            GroupState::Stopped => ResState::Stopped,
            GroupState::Starting => ResState::Starting,
            GroupState::Running => ResState::Running,
            GroupState::Stopping => ResState::Stopping,
            GroupState::Failed => ResState::Failed,
            GroupState::StopFailed => ResState::StopFailed,
        }
    }
}

/// What the authority needs from failure detection, as of `now`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub peers: Vec<PeerView, 2>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerView {
    pub id: u8,
    pub reachable: bool,
    /// Members this peer said it reaches, in its latest heartbeat.
    pub reaches: Vec<u8, { crate::wire::frame::MAX_REACH }>,
    /// Arrival of the latest authenticated frame from this peer (any link).
    pub last_rx: Option<Micros>,
    /// Frames received from this peer so far (wrapping).
    pub frames: u32,
}

impl View {
    pub fn peer(&self, id: u8) -> Option<&PeerView> {
        self.peers.iter().find(|p| p.id == id)
    }
    pub fn reaches(&self, id: u8) -> bool {
        self.peer(id).is_some_and(|p| p.reachable)
    }
}

/// Timings both roles use (all in milliseconds, from the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorityTiming {
    pub interval_ms: u64,
    pub dead_ms: u64,
    pub initdead_ms: u64,
    /// Quorum loss lasting this long makes a node stop its resources (N2).
    pub self_fence_ms: u64,
    /// A stop that has not completed within this is a failed stop (N2, W5).
    pub stop_timeout_ms: u64,
    /// Added to every deadline that relies on another member's clock and timers: covers
    /// clock rate differences, frame latency and the watchdog feed period.
    pub margin_ms: u64,
}

/// Things worth an operator's attention (journal, SNMP); every variant is trap-worthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Witness adopted a generation heard from a node (lost or older stored state).
    GenerationAdopted {
        generation: u64,
    },
    Granted {
        node: u8,
        generation: u64,
    },
    SwitchoverStarted {
        from: u8,
        to: u8,
        generation: u64,
    },
    HolderLost {
        node: u8,
        generation: u64,
    },
    FenceRequested {
        node: u8,
        attempt: u32,
    },
    FenceSucceeded {
        node: u8,
    },
    FenceUnconfirmed {
        node: u8,
    },
    /// A fenced node powered on again because no node could be granted (the grant that would
    /// have powered it on cannot come).
    PoweredOnNoCandidate {
        node: u8,
    },
    FenceFailed {
        node: u8,
        attempt: u32,
    },
    /// The watchdog deadline passed: the lost holder cannot be running any more.
    WatchdogDeadlinePassed {
        node: u8,
    },
    ResourcesFailed {
        node: u8,
    },
    /// Node: started or stopped resources, and why.
    Starting {
        generation: u64,
    },
    Stopping {
        generation: u64,
        reason: StopReason,
    },
    /// Node: quorum lost for self_fence_ms; resources being stopped.
    SelfFenceArmed,
    /// Node: resources not confirmed stopped in time; the watchdog is no longer fed.
    WatchdogStarved,
    /// Node: a grant was not acted on because the peer may still run the resources.
    WaitingForPeer {
        generation: u64,
    },
    QuorumLost,
    QuorumRegained,
    /// Witness: the holder reported its resources stopped for the current generation without
    /// being asked and without a failure (its agent is leaving, or its group was stopped):
    /// released without a fence (W1), the next grant follows.
    HolderStopped {
        node: u8,
        generation: u64,
    },
    /// Witness: a node that had reported its resources stopped for the current generation
    /// went silent (an agent that left after handing over): released without a fence.
    LeftStopped {
        node: u8,
        generation: u64,
    },
    /// Maintenance mode turned on or off (witness: by the operator; node: when it starts or
    /// stops obeying the witness's `Hold`).
    Maintenance {
        on: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Ordered,
    Standby,
    NewerGeneration,
    QuorumLost,
    Unhealthy,
    /// The agent is exiting (SIGTERM): the service is handed over.
    Shutdown,
}

/// What an orderly exit of a node's agent (SIGTERM) does with the resources; decided once,
/// when the exit is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leave {
    /// Maintenance mode: the resources are left exactly as they are.
    Untouched,
    /// Nothing may run here: leave at once.
    Idle,
    /// The service may run here: stop it (reverse order), report it stopped so that the
    /// witness grants the other node without a fence, then leave.
    HandOver,
}

impl Leave {
    pub fn as_str(self) -> &'static str {
        match self {
            Leave::Untouched => "maintenance: resources left as they are",
            Leave::Idle => "no service here",
            Leave::HandOver => "handing the service over",
        }
    }
}

/// Bound on queued notices; the oldest is dropped (and counted) when full.
pub const MAX_NOTICES: usize = 32;

/// A bounded queue of notices, shared by both roles.
#[derive(Clone, Debug, Default)]
pub struct Notices {
    queue: heapless::Deque<Notice, MAX_NOTICES>,
    pub dropped: u64,
}

impl Notices {
    pub fn push(&mut self, n: Notice) {
        if self.queue.is_full() {
            let _ = self.queue.pop_front();
            self.dropped += 1;
        }
        assert!(self.queue.push_back(n).is_ok());
    }
    pub fn pop(&mut self) -> Option<Notice> {
        self.queue.pop_front()
    }
}

//! A node's side of the authority: when to start and stop the resources, and when to stop
//! feeding the watchdog.
//!
//! Owns rules N1-N4 (see `docs/design.md`, "Authority"): start only on `Run` for a generation
//! not older than any seen and newer than any it stopped for; stop at once on a newer
//! generation; self-fence after `self_fence_ms` without quorum (stop, and if the stop is not
//! confirmed within `stop_timeout_ms`, starve the watchdog); feed the watchdog only while
//! healthy; after boot, wait for the witness. It also refuses to start while the peer is
//! heard saying its resources run under an older generation (a second line of defence
//! behind the witness). In maintenance (the witness's `Hold`) it leaves the resources alone,
//! except that quorum loss still self-fences: a node the witness cannot reach must stop by
//! itself, whatever mode it was in, or the witness could not safely release it later. It does
//! not run resources (the resource group does) and does not
//! touch the watchdog device (the shell does).

#![forbid(unsafe_code)]

use heapless::{Deque, Vec};

use super::{
    AuthorityTiming, Heard, Leave, NodeReport, Notice, Notices, Order, ResState, StopReason, View,
    WitnessInfo, MAX_HEARD,
};
use crate::core::mutation::{active as mutated, Mutation};
use crate::time::Micros;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start the resource group with `HA_GENERATION = generation`.
    Start { generation: u64 },
    /// Stop the resource group (reverse order).
    Stop,
    /// Store the highest generation seen durably, then `handle_seen_persisted`. Resources
    /// never start under a generation that is not stored, so that after a power loss this node
    /// still reports it and the generation never goes backwards (it is a fencing token).
    PersistSeen { generation: u64 },
}

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub me: u8,
    pub witness: u8,
    pub peer: u8,
    pub timing: AuthorityTiming,
    /// Hardware watchdog timeout actually set (0 = none).
    pub watchdog_ms: u64,
    /// Refuse to take the service without an armed watchdog.
    pub require_watchdog: bool,
}

/// Bound on queued actions.
const MAX_ACTIONS: usize = 4;
/// A store of the seen generation that failed is tried again after this long: a disk that
/// fails now and then must not keep the node from ever taking the service, and one that keeps
/// failing is not hammered.
pub const SEEN_RETRY_MS: u64 = 500;

#[derive(Clone, Debug)]
pub struct Node {
    cfg: NodeConfig,
    max_seen: u64,
    /// The highest generation stored durably, and whether a write is under way.
    seen_stored: u64,
    seen_persisting: bool,
    /// A store failed: the next one is not tried before this time.
    seen_retry_at: Option<Micros>,
    acting: u64,
    stopped: u64,
    resources: ResState,
    /// The last command given to the resource group.
    commanded: Option<Action>,
    info: Option<WitnessInfo>,
    /// The witness boot `info` came from.
    info_boot: u64,
    peer_report: Option<NodeReport>,
    peer_boot: u64,
    quorum_lost_since: Option<Micros>,
    self_fence_stop_at: Option<Micros>,
    starving: bool,
    failed: bool,
    standby: bool,
    /// Obeying the witness's `Hold`: the resource group is left alone.
    maintenance: bool,
    /// The agent was asked to exit, and how it leaves (see [`Node::request_leave`]).
    leave: Option<Leave>,
    /// Leaving with a hand-over: the generation the resources ran under, and when they were
    /// confirmed stopped.
    leave_generation: u64,
    leave_stopped_at: Option<Micros>,
    /// Took over resources a previous agent left running in maintenance: until the witness's
    /// first word, they are held as in maintenance (no action); then the ordinary rules apply.
    adopting: bool,
    waiting_noticed: u64,
    report_seq: u64,
    actions: Deque<Action, MAX_ACTIONS>,
    notices: Notices,
    last_view: View,
}

impl Node {
    /// Like [`Node::new`]; `adopted`: the generation under which the previous agent of this
    /// machine left the resources running when it stopped in maintenance mode (the group is
    /// [`crate::core::resources::Group::adopt`]ed). They count as running under it (never less
    /// than the truth) and are left alone until the witness speaks: `Hold` keeps them as they
    /// are, `Run` for that generation keeps them running, anything else stops them (N1). Quorum
    /// loss still self-fences (N2).
    pub fn with_adopted(cfg: NodeConfig, seen_stored: u64, adopted: Option<u64>) -> Node {
        let mut node = Node::new(cfg, seen_stored);
        if let Some(g) = adopted {
            node.acting = g;
            node.max_seen = node.max_seen.max(g);
            node.commanded = Some(Action::Start { generation: g });
            node.resources = ResState::Running;
            node.adopting = true;
            node.maintenance = true;
        }
        node
    }

    /// `seen_stored`: the highest generation this node stored before (0: none).
    pub fn new(cfg: NodeConfig, seen_stored: u64) -> Node {
        Node {
            cfg,
            // The stored generation is where this boot starts from: it is reported at once, so
            // that a witness that lost its state adopts it (W4) and generations never go back.
            max_seen: if mutated(Mutation::ForgetStoredGeneration) { 0 } else { seen_stored },
            seen_stored,
            seen_persisting: false,
            seen_retry_at: None,
            acting: 0,
            stopped: 0,
            resources: ResState::Stopped,
            commanded: None,
            info: None,
            info_boot: 0,
            peer_report: None,
            peer_boot: 0,
            quorum_lost_since: None,
            self_fence_stop_at: None,
            starving: false,
            failed: false,
            standby: false,
            maintenance: false,
            leave: None,
            leave_generation: 0,
            leave_stopped_at: None,
            adopting: false,
            waiting_noticed: 0,
            report_seq: 0,
            actions: Deque::new(),
            notices: Notices::default(),
            last_view: View::default(),
        }
    }

    // ---- getters -------------------------------------------------------------------------

    /// N3: the watchdog may be fed (the shell adds its own health checks).
    pub fn feed_allowed(&self) -> bool {
        !self.starving || mutated(Mutation::FeedWhileUnhealthy)
    }
    pub fn acting(&self) -> u64 {
        self.acting
    }
    pub fn max_seen(&self) -> u64 {
        self.max_seen
    }
    pub fn resources(&self) -> ResState {
        self.resources
    }
    pub fn has_quorum(&self) -> bool {
        self.quorum_lost_since.is_none()
    }
    pub fn notices_dropped(&self) -> u64 {
        self.notices.dropped
    }
    /// In maintenance: the resource group must run no action of its own.
    pub fn maintenance(&self) -> bool {
        self.maintenance
    }

    /// How the agent leaves, once asked to (None: not asked).
    pub fn leaving(&self) -> Option<Leave> {
        self.leave
    }

    fn ready(&self) -> bool {
        self.resources == ResState::Stopped
            && self.leave.is_none()
            && !self.failed
            && !self.starving
            && !self.standby
            && self.quorum_lost_since.is_none()
            && (self.cfg.watchdog_ms > 0 || !self.cfg.require_watchdog)
    }

    /// What this node's next reports would say about its state (not their sequence numbers
    /// or frame counts): when it changes, the engine sends at once instead of at the next
    /// interval.
    pub fn announced(&self) -> (u64, u64, u64, ResState, bool) {
        (self.max_seen, self.acting, self.stopped, self.resources, self.ready())
    }

    /// This node's report for its next heartbeat.
    pub fn report(&mut self, view: &View) -> NodeReport {
        self.report_seq += 1;
        let mut heard: Vec<Heard, MAX_HEARD> = Vec::new();
        for p in view.peers.iter().take(MAX_HEARD) {
            assert!(heard.push(Heard { member: p.id, frames: p.frames }).is_ok());
        }
        let t = &self.cfg.timing;
        let fence_bound_ms = if self.cfg.watchdog_ms == 0 {
            0
        } else {
            u32::try_from(t.self_fence_ms + t.stop_timeout_ms + self.cfg.watchdog_ms).unwrap_or(u32::MAX)
        };
        NodeReport {
            seq: self.report_seq,
            max_seen: self.max_seen,
            acting: self.acting,
            stopped: self.stopped,
            resources: self.resources,
            ready: self.ready(),
            fence_bound_ms,
            heard,
        }
    }

    // ---- commands ------------------------------------------------------------------------

    /// Operator standby: stop and do not take the service.
    pub fn set_standby(&mut self, standby: bool) {
        self.standby = standby;
    }
    /// Operator cleanup after a resource failure.
    pub fn cleanup(&mut self) {
        self.failed = false;
    }

    /// The agent is asked to exit (SIGTERM: `systemctl stop`, a package upgrade, a reboot).
    /// Decided once, here: in maintenance the resources are left exactly as they are; where
    /// nothing may run the agent leaves at once; otherwise the group is stopped (reverse
    /// order), the stop is reported (`stopped` covers the generation, `ready` is false) so that
    /// the witness grants the other node without a fence (W1: the holder reported `Stopped`),
    /// and [`Node::may_exit`] says when the agent can go. A stop that fails falls back to the
    /// ordinary rules (stop-failed: the witness fences, the watchdog is starved). Asking again
    /// changes nothing.
    pub fn request_leave(&mut self, now: Micros) -> Leave {
        if let Some(leave) = self.leave {
            return leave;
        }
        let leave = if self.maintenance {
            Leave::Untouched
        } else if !self.may_run() && self.resources != ResState::StopFailed {
            Leave::Idle
        } else {
            Leave::HandOver
        };
        self.leave = Some(leave);
        self.leave_generation = self.acting;
        let view = self.last_view.clone();
        self.evaluate(now, &view);
        leave
    }

    /// Whether an agent that was asked to exit may exit now: at once when it leaves the
    /// resources untouched (maintenance, also if maintenance began during the stop) or had
    /// none; after a hand-over once the resources are confirmed stopped and the witness has
    /// moved on (a newer generation, or another holder), or [`Node::handover_wait_ms`] after
    /// the stop if it does not (no other node can take the service; the witness does not fence
    /// a node whose last report said it stopped).
    pub fn may_exit(&self, now: Micros) -> bool {
        match self.leave {
            None => false,
            Some(Leave::Untouched | Leave::Idle) => true,
            Some(Leave::HandOver) if self.maintenance => true,
            Some(Leave::HandOver) => {
                let Some(at) = self.leave_stopped_at else { return false };
                if self.may_run() {
                    return false;
                }
                let moved_on = self
                    .info
                    .is_some_and(|i| i.generation > self.leave_generation || i.holder != self.cfg.me);
                moved_on || now.since_us(at) >= self.handover_wait_ms() * 1000
            }
        }
    }

    /// How long a node that handed over waits, once stopped, for the witness to move on: long
    /// enough for its stopped report to reach the witness on any link that is up.
    pub fn handover_wait_ms(&self) -> u64 {
        let t = &self.cfg.timing;
        t.dead_ms + t.interval_ms + t.margin_ms
    }

    // ---- input ---------------------------------------------------------------------------

    /// The witness's word, from its boot `boot`. `fresh`: the frame acknowledged our current
    /// boot (N4: frames sent before the witness heard this boot of ours are ignored). Newer
    /// means a later boot of the witness, or a higher `seq` within the same boot: a rebooted
    /// witness counts `seq` from 1 again and must be obeyed at once.
    pub fn handle_witness_info(&mut self, now: Micros, boot: u64, info: &WitnessInfo, fresh: bool) {
        let newer =
            boot > self.info_boot || (boot == self.info_boot && self.info.is_none_or(|i| info.seq > i.seq));
        if !fresh || !newer {
            return;
        }
        self.info_boot = boot;
        self.info = Some(*info);
        self.max_seen = self.max_seen.max(info.generation);
        let view = self.last_view.clone();
        self.evaluate(now, &view);
    }

    /// The peer node's report, from its boot `boot`.
    pub fn handle_peer_report(&mut self, now: Micros, boot: u64, fresh: bool, report: &NodeReport) {
        if !fresh {
            return;
        }
        let newer = boot > self.peer_boot
            || (boot == self.peer_boot && self.peer_report.as_ref().is_none_or(|r| report.seq > r.seq));
        if !newer {
            return;
        }
        self.peer_boot = boot;
        self.peer_report = Some(report.clone());
        self.max_seen = self.max_seen.max(report.max_seen).max(report.acting);
        let view = self.last_view.clone();
        self.evaluate(now, &view);
    }

    /// The resource group's state changed.
    pub fn handle_resources(&mut self, now: Micros, state: ResState) {
        self.resources = state;
        if state.is_stopped() && matches!(self.commanded, Some(Action::Start { .. })) {
            // The group stopped without being told to (failure, cleanup): never restart
            // silently under the same generation; the witness grants a new one.
            self.stopped = self.stopped.max(self.acting);
            self.commanded = Some(Action::Stop);
        }
        match state {
            ResState::Failed => {
                self.failed = true;
                self.stopped = self.stopped.max(self.acting);
                self.commanded = Some(Action::Stop);
            }
            ResState::StopFailed if !self.starving => {
                // Resources may still run and we cannot stop them: let the hardware reset us.
                self.starving = true;
                self.notices.push(Notice::WatchdogStarved);
            }
            _ => {}
        }
        let view = self.last_view.clone();
        self.evaluate(now, &view);
    }

    pub fn handle_seen_persisted(&mut self, now: Micros, generation: u64) {
        self.seen_persisting = false;
        self.seen_stored = self.seen_stored.max(generation);
        let view = self.last_view.clone();
        self.evaluate(now, &view);
    }

    /// The store of the seen generation failed (the shell logged why): try again after
    /// [`SEEN_RETRY_MS`]. Nothing starts under it meanwhile.
    pub fn handle_seen_failed(&mut self, now: Micros, _generation: u64) {
        self.seen_persisting = false;
        self.seen_retry_at = Some(now.plus_ms(SEEN_RETRY_MS));
        let view = self.last_view.clone();
        self.evaluate(now, &view);
    }

    pub fn handle_tick(&mut self, now: Micros, view: &View) {
        self.last_view = view.clone();
        self.evaluate(now, view);
    }

    // ---- output --------------------------------------------------------------------------

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop()
    }
    pub fn poll_timeout(&self) -> Micros {
        let t = &self.cfg.timing;
        let mut next = Micros::MAX;
        let no_self_fence = mutated(Mutation::NoSelfFence);
        if let Some(since) = self.quorum_lost_since.filter(|_| !no_self_fence) {
            if self.self_fence_stop_at.is_none() {
                next = next.min(since.plus_ms(t.self_fence_ms));
            }
        }
        if let Some(at) = self.self_fence_stop_at {
            if !self.starving && !self.resources.is_stopped() {
                next = next.min(at.plus_ms(t.stop_timeout_ms));
            }
        }
        if let Some(at) = self.leave_stopped_at {
            next = next.min(at.plus_ms(self.handover_wait_ms()));
        }
        if let Some(at) = self.seen_retry_at.filter(|_| self.max_seen > self.seen_stored) {
            next = next.min(at);
        }
        next
    }

    // ---- internals -----------------------------------------------------------------------

    fn command(&mut self, action: Action) {
        if self.commanded == Some(action) {
            return;
        }
        self.commanded = Some(action);
        match action {
            Action::Start { generation } => {
                // N1 and the durable store, where the start is decided: never under a generation
                // older than one seen or not newer than one stopped for, never before it is stored.
                assert!(
                    generation >= self.max_seen
                        && generation > self.stopped
                        && self.seen_stored >= generation,
                    "start under {generation}: max_seen {} stopped {} stored {}",
                    self.max_seen,
                    self.stopped,
                    self.seen_stored
                );
                self.acting = generation;
                self.notices.push(Notice::Starting { generation });
            }
            Action::Stop | Action::PersistSeen { .. } => {}
        }
        // Drained every loop iteration; overflowing is a bug.
        if self.actions.is_full() {
            let _ = self.actions.pop_front();
        }
        assert!(self.actions.push_back(action).is_ok());
    }

    /// The resources may be running: not confirmed stopped, or a start was commanded.
    fn may_run(&self) -> bool {
        !self.resources.is_stopped() || matches!(self.commanded, Some(Action::Start { .. }))
    }

    fn stop(&mut self, reason: StopReason) {
        self.stopped = self.stopped.max(self.acting);
        let running = self.may_run();
        if running && self.commanded != Some(Action::Stop) {
            self.notices.push(Notice::Stopping { generation: self.acting, reason });
        }
        if running || self.resources == ResState::StopFailed {
            self.command(Action::Stop);
        }
    }

    /// N4: a node never starts on its own; only the mutation that breaks N4 makes up a word,
    /// `Run` under the stored generation, before the witness spoke.
    fn own_word(&self) -> Option<WitnessInfo> {
        mutated(Mutation::StartWithoutWitness).then_some(WitnessInfo {
            seq: 0,
            generation: self.seen_stored,
            holder: self.cfg.me,
            order: Order::Run,
        })
    }

    /// N1: generation `g` is not older than any generation this node has seen.
    fn current(&self, g: u64) -> bool {
        g >= self.max_seen || mutated(Mutation::StartUnderOlderGeneration)
    }

    /// The peer may be running resources under an older generation and is in contact: wait.
    fn peer_blocks(&self, now: Micros, generation: u64, view: &View) -> bool {
        // "Recently heard" is the membership's own measure of a live peer: a frame within
        // `dead_ms`. A peer silent for longer cannot be shown alive by waiting longer (the
        // witness's grant already follows its confirmed fence or its watchdog deadline); a
        // peer heard again is inside the window at once.
        let window_us = self.cfg.timing.dead_ms * 1000;
        let recently_heard =
            view.peer(self.cfg.peer).and_then(|p| p.last_rx).is_some_and(|at| now.since_us(at) <= window_us);
        if !recently_heard || mutated(Mutation::SkipPeerCheck) {
            return false;
        }
        match &self.peer_report {
            None => true,
            Some(r) => !r.resources.is_stopped() && r.acting < generation,
        }
    }

    fn evaluate(&mut self, now: Micros, view: &View) {
        let t = self.cfg.timing;
        if self.max_seen > self.seen_stored
            && !self.seen_persisting
            && self.seen_retry_at.is_none_or(|at| now >= at)
        {
            self.seen_persisting = true;
            self.seen_retry_at = None;
            if self.actions.is_full() {
                let _ = self.actions.pop_front();
            }
            assert!(self.actions.push_back(Action::PersistSeen { generation: self.max_seen }).is_ok());
        }
        // Quorum: we reach the witness or the peer (two of three).
        let quorum = view.reaches(self.cfg.witness) || view.reaches(self.cfg.peer);
        match (quorum, self.quorum_lost_since) {
            (false, None) => {
                self.quorum_lost_since = Some(now);
                self.notices.push(Notice::QuorumLost);
            }
            (true, Some(_)) => {
                self.quorum_lost_since = None;
                self.self_fence_stop_at = None;
                self.notices.push(Notice::QuorumRegained);
            }
            _ => {}
        }

        // N2: self-fence.
        let no_self_fence = mutated(Mutation::NoSelfFence);
        if let Some(since) = self.quorum_lost_since.filter(|_| !no_self_fence) {
            if now.since_us(since) >= t.self_fence_ms * 1000 {
                if self.self_fence_stop_at.is_none() {
                    self.self_fence_stop_at = Some(now);
                    if self.may_run() {
                        self.notices.push(Notice::SelfFenceArmed);
                    }
                }
                // Every grant this node knows of is void: the witness may count on it having
                // stopped (the watchdog deadline) and grant the other node. A grant it had not
                // acted on yet (its store was slow, its peer check waited) must not start it
                // when it hears its peer again; only a newer grant will.
                if !mutated(Mutation::KeepGrantsAfterSelfFence) {
                    self.stopped = self.stopped.max(self.max_seen);
                }
                self.stop(StopReason::QuorumLost);
            }
        }
        if let Some(at) = self.self_fence_stop_at {
            if !self.starving && !self.resources.is_stopped() && now.since_us(at) >= t.stop_timeout_ms * 1000
            {
                self.starving = true;
                self.notices.push(Notice::WatchdogStarved);
            }
        }
        // Maintenance: leave the resources as they are. Not once self-fencing started (the
        // stop must finish), the watchdog is starved, or a newer generation than the one the
        // resources run under exists (N1 always applies).
        let running_old = self.may_run() && self.max_seen > self.acting;
        if self.adopting && self.info.is_some() {
            self.adopting = false;
        }
        let hold = (self.info.is_some_and(|i| i.order == Order::Hold) || self.adopting)
            && self.self_fence_stop_at.is_none()
            && !self.starving
            && !running_old;
        if hold != self.maintenance {
            self.maintenance = hold;
            self.notices.push(Notice::Maintenance { on: hold });
        }
        if hold {
            return;
        }
        if self.leave == Some(Leave::HandOver) {
            // Leaving: stop, start nothing again in this boot.
            self.stop(StopReason::Shutdown);
            if !self.may_run() && self.leave_stopped_at.is_none() {
                self.leave_stopped_at = Some(now);
            }
            return;
        }
        if self.starving || self.failed || self.standby {
            let reason = if self.standby { StopReason::Standby } else { StopReason::Unhealthy };
            self.stop(reason);
            return;
        }
        if self.quorum_lost_since.is_some() {
            // Keep what runs until the self-fence timer says otherwise; start nothing.
            return;
        }

        // N1: a newer generation exists than the one we act on: stop at once.
        let running = self.may_run();
        if running && self.max_seen > self.acting {
            self.stop(StopReason::NewerGeneration);
            return;
        }

        // N4: nothing without the witness's word.
        let Some(info) = self.info.or_else(|| self.own_word()) else { return };
        if !self.current(info.generation) {
            // Stale word (a newer generation is known): only stopping is safe.
            self.stop(StopReason::NewerGeneration);
            return;
        }
        match info.order {
            Order::Run if info.holder == self.cfg.me => {
                let g = info.generation;
                if running && self.acting == g {
                    return;
                }
                let can_start = (g > self.stopped || mutated(Mutation::StartUnderOlderGeneration))
                    && self.current(g)
                    && self.seen_stored >= g
                    && self.resources == ResState::Stopped
                    && self.ready();
                if !can_start {
                    return;
                }
                if self.peer_blocks(now, g, view) {
                    if self.waiting_noticed != g {
                        self.waiting_noticed = g;
                        self.notices.push(Notice::WaitingForPeer { generation: g });
                    }
                    return;
                }
                self.command(Action::Start { generation: g });
            }
            Order::Hold => unreachable!("handled above"),
            Order::Stop | Order::Run => {
                self.stopped = self.stopped.max(info.generation);
                self.stop(StopReason::Ordered);
            }
            Order::Standby => {
                self.stopped = self.stopped.max(info.generation);
                self.stop(StopReason::Standby);
            }
        }
    }
}

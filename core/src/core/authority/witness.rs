//! The witness's arbitration: the only place that creates generations and grants.
//!
//! Owns rules W1-W5 (see `docs/design.md`, "Authority"): the durable generation and holder
//! (written through [`Action::Persist`] and only announced once [`Witness::handle_persisted`]
//! confirms; a failover's grant is written while the lost holder's fence runs and announced
//! once that holder is released: early grants, `early.rs`; the record, `stored.rs`), cold start (wait for the nodes or `initdead`, adopt the highest generation heard),
//! grants, graceful switchover, the decision that a holder is lost (only in quorum with the
//! other node, and only when that node does not hear it either), failover after a confirmed
//! fence or after the watchdog deadline, doing nothing while isolated, and maintenance mode
//! (no grant, no failover, no switchover, `Hold` to both nodes). For availability it judges no
//! member lost right after a stall of its own process (seen as a jump of its clock between two
//! inputs) nor on the word of a node that has just booted, and drops a fence no rule needs any
//! more; each of these only delays or drops a fence, never grants. It does not talk to relays,
//! disks or sockets.

#![forbid(unsafe_code)]

use heapless::Deque;

use super::fence::{FenceConfig, FenceResult, Fencer, Verdict as FenceVerdict};
use super::{AuthorityTiming, NodeReport, Notice, Notices, Order, ResState, View, WitnessInfo};
use crate::core::mutation::{active as mutated, Mutation};
use crate::time::Micros;

mod commands;
mod early;
mod startup;
use early::Early;
mod stored;

pub use stored::Stored;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write this state durably, then call [`Witness::handle_persisted`].
    Persist(Stored),
    /// Power the node off and report the result through [`Witness::handle_fence_result`].
    PowerOff(u8),
    /// Power the node back on (after a fence, when configured to); the result is only logged.
    PowerOn(u8),
}

#[derive(Clone, Debug)]
pub struct WitnessConfig {
    pub me: u8,
    pub nodes: [u8; 2],
    pub timing: AuthorityTiming,
    pub fence: FenceConfig,
    /// A relay channel exists for the nodes.
    pub fence_enabled: bool,
    /// After a successful fence and the failover, power the fenced node back on.
    pub power_on_after_fence: bool,
    pub preferred: Option<u8>,
    pub auto_failback: bool,
    /// At cold start, wait for both nodes however long it takes (instead of `initdead_ms`).
    pub wait_for_all: bool,
    /// Fence bound assumed for a node that never reported one (0 = no watchdog deadline).
    pub unknown_fence_bound_ms: u64,
}

/// Bound on queued actions.
const MAX_ACTIONS: usize = 8;

/// A gap longer than `dead_ms` between two inputs of the witness (frames, timers, results) is a
/// stall of its own process: its loop wakes at least once an interval, and `dead_ms` is at
/// least one. After a stall, no member is judged lost and no power-off but the operator's is
/// sent until `dead_ms` has passed (the **stall grace**): the frames that waited meanwhile may still be in the host's or the
/// virtual machine's queues, and a live member's links prove themselves again within one
/// round trip of the witness's first frames, which `dead_ms` covers (it is the time a link is
/// allowed between proofs in any case). A judgement made before the stall stands.
pub const STALL_GRACE_FACTOR: u64 = 1;

/// A node's word that it does not reach a member counts only once `dead_ms` has passed since
/// the witness first heard the node's current boot (**boot grace**): a node that has just
/// booted has not had the time to prove any link, so "I do not reach it" says nothing yet.
/// The node booted no later than its first frame arrived, so the grace is at least `dead_ms`
/// of the node's own running time.
pub const BOOT_GRACE_FACTOR: u64 = 1;

#[derive(Clone, Debug)]
struct NodeState {
    id: u8,
    report: Option<NodeReport>,
    report_boot: u64,
    /// The latest boot of the node heard in any frame, fresh or not: a report from an older
    /// boot says nothing about what this boot may run.
    latest_boot: u64,
    /// When the first frame of `latest_boot` arrived (the boot grace starts there).
    latest_boot_heard_at: Micros,
    /// Powered off by our fence and not heard from a later boot since.
    fenced_off: bool,
    /// The node's boot when it was fenced: only a report from a later boot means it is back
    /// (right after a fence its last frames are still younger than `dead_ms`).
    fenced_boot: u64,
    /// A power-on was commanded since the fence (after a grant, or because nobody could be
    /// granted): not commanded twice.
    power_on_sent: bool,
    /// Since when the lost condition (W2) holds.
    lost_since: Option<Micros>,
    /// The other node's frame counter for this node, and when we saw it change.
    other_count: Option<u32>,
    other_count_changed_at: Micros,
    /// Resources failed there: not eligible until it reports ready again.
    failed: bool,
    /// Operator standby.
    standby: bool,
    deadline_noticed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Startup,
    Steady,
    Switchover { from: u8, to: u8, deadline: Micros },
}

/// Whether a node still needs to be dealt with before the next grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Release {
    Released,
    NotYet,
}

#[derive(Clone, Debug)]
pub struct Witness {
    cfg: WitnessConfig,
    phase: Phase,
    /// What the frames carry: the latest grant both stored and announced.
    durable: Stored,
    persisting: Option<Stored>,
    /// The grant stored ahead of the lost holder's release, not announced yet.
    early: Option<Early>,
    /// The state file still holds an early grant's mark, although that grant has been
    /// announced or dropped since: write what is announced.
    rewrite: bool,
    nodes: [NodeState; 2],
    fencer: Fencer,
    actions: Deque<Action, MAX_ACTIONS>,
    notices: Notices,
    started_at: Micros,
    info_seq: u64,
    power_on_after_persist: Option<u8>,
    move_to: Option<u8>,
    last_view: View,
    /// When `evaluate` last ran: deadlines at or before it have been acted on.
    last_eval: Micros,
    /// Maintenance mode (operator): no decisions but operator fences; `Hold` to both nodes.
    maintenance: bool,
    /// The generation whose holder's unasked stop was last noticed (once per generation).
    stopped_noticed: u64,
    /// The `now` of the latest input, and the end of the stall grace after the latest stall.
    last_input: Micros,
    stall_grace_until: Option<Micros>,
    /// The fence under way is the operator's (it is carried out whatever the rules say).
    operator_fence: Option<u8>,
}

impl Witness {
    /// `stored` is what the state file held (None: missing or unreadable).
    pub fn new(cfg: WitnessConfig, stored: Option<Stored>, now: Micros) -> Witness {
        assert!(cfg.nodes[0] != cfg.nodes[1] && !cfg.nodes.contains(&cfg.me));
        let node = |id| NodeState {
            id,
            report: None,
            report_boot: 0,
            latest_boot: 0,
            latest_boot_heard_at: now,
            fenced_off: false,
            fenced_boot: 0,
            power_on_sent: false,
            lost_since: None,
            other_count: None,
            other_count_changed_at: now,
            failed: false,
            standby: false,
            deadline_noticed: false,
        };
        let fencer = Fencer::new(cfg.fence);
        let nodes = [node(cfg.nodes[0]), node(cfg.nodes[1])];
        let stored = stored.unwrap_or(Stored::announced(0, 0));
        assert!(stored.is_valid(), "the shell reads only valid records: {stored:?}");
        // An early grant's mark in the file: the witness stopped between storing it and
        // rewriting the record once it was announced or dropped. Whether it was announced is
        // not known, so neither its holder nor the node it waits for is known not to run:
        // nobody holds the generation, and every node must be released again (W1) before the
        // next grant, above it.
        let durable = if stored.pending_fence != 0 && !mutated(Mutation::ForgetPendingFence) {
            Stored::announced(stored.generation, 0)
        } else {
            Stored { pending_fence: 0, ..stored }
        };
        Witness {
            cfg,
            phase: Phase::Startup,
            durable,
            persisting: None,
            early: None,
            rewrite: false,
            nodes,
            fencer,
            actions: Deque::new(),
            notices: Notices::default(),
            started_at: now,
            info_seq: 0,
            power_on_after_persist: None,
            move_to: None,
            last_view: View::default(),
            last_eval: now,
            maintenance: false,
            stopped_noticed: 0,
            last_input: now,
            stall_grace_until: None,
            operator_fence: None,
        }
    }

    /// Maintenance mode as the shell stored it before a restart (no notice: nothing changed).
    pub fn restore_maintenance(&mut self, on: bool) {
        self.maintenance = on;
    }

    // ---- getters -------------------------------------------------------------------------

    pub fn durable(&self) -> Stored {
        self.durable
    }
    pub fn in_startup(&self) -> bool {
        self.phase == Phase::Startup
    }
    pub fn switching(&self) -> bool {
        matches!(self.phase, Phase::Switchover { .. })
    }
    pub fn fencing(&self) -> Option<u8> {
        self.fencer.target()
    }
    pub fn report(&self, node: u8) -> Option<&NodeReport> {
        self.nodes.iter().find(|n| n.id == node).and_then(|n| n.report.as_ref())
    }
    pub fn notices_dropped(&self) -> u64 {
        self.notices.dropped
    }
    pub fn maintenance(&self) -> bool {
        self.maintenance
    }

    /// The witness's word for `node`, to put in the next frame to it. Carries only the
    /// durable generation. None for the stored holder while the witness starts (W4: it
    /// decides nothing before it has heard both nodes or waited out initdead): it has no
    /// word for it yet, and `Standby` would stop a service that ran untouched while the
    /// witness was down. The holder then acts on what it had (N1 and N2 still apply); the
    /// other node is told to stand by as before.
    pub fn info_for(&mut self, node: u8) -> Option<WitnessInfo> {
        if self.phase == Phase::Startup && node == self.durable.holder && self.durable.holder != 0 {
            return None;
        }
        self.info_seq += 1;
        let info = WitnessInfo {
            seq: self.info_seq,
            generation: self.durable.generation,
            holder: self.durable.holder,
            order: self.order_for(node),
        };
        // An order to run names the holder of a stored generation, and only the holder gets it.
        assert!(info.order != Order::Run || (info.holder == node && node != 0 && info.generation > 0));
        Some(info)
    }

    /// What the witness's next frames would say (without their sequence numbers): when it
    /// changes, the engine sends at once instead of at the next interval.
    pub fn announced(&self) -> (Stored, [Order; 2]) {
        (self.durable, [self.order_for(self.cfg.nodes[0]), self.order_for(self.cfg.nodes[1])])
    }

    /// The order for `node` (a pure function of the state).
    fn order_for(&self, node: u8) -> Order {
        let holder = self.nodes.iter().find(|n| n.id == node);
        // A holder being replaced (a grant being stored, an early grant waiting for its release,
        // or it was fenced or declared lost) must not be told to run: a delayed or rebooted
        // holder would start again.
        let replaced = self.storing_grant()
            || self.early.is_some_and(|e| e.grant.pending_fence == node)
            || holder.is_some_and(|n| n.fenced_off || n.lost_since.is_some());
        if self.maintenance && self.persisting.is_none_or(|p| p == self.durable) {
            // Nothing changes hands in maintenance; a grant being stored finishes first
            // (the command is refused while one is).
            Order::Hold
        } else if self.durable.holder != node || self.durable.holder == 0 || replaced {
            Order::Standby
        } else {
            match self.phase {
                Phase::Switchover { from, .. } if from == node => Order::Stop,
                Phase::Startup => Order::Standby,
                _ => {
                    let stop_failed =
                        self.node(node).report.as_ref().is_some_and(|r| r.resources == ResState::StopFailed);
                    if stop_failed {
                        Order::Stop
                    } else {
                        Order::Run
                    }
                }
            }
        }
    }

    // ---- commands: in `commands.rs` ------------------------------------------------------

    // ---- input ---------------------------------------------------------------------------

    /// A node's report arrived in a frame from boot `boot` of that node. `fresh` is true when
    /// the frame acknowledged our current boot (older frames say nothing about now).
    pub fn handle_report(&mut self, now: Micros, from: u8, boot: u64, fresh: bool, report: &NodeReport) {
        self.note_input(now);
        let Some(i) = self.nodes.iter().position(|n| n.id == from) else { return };
        if boot > self.nodes[i].latest_boot {
            self.nodes[i].latest_boot = boot;
            self.nodes[i].latest_boot_heard_at = now;
        }
        if !fresh {
            return;
        }
        let n = &mut self.nodes[i];
        let newer = boot > n.report_boot
            || (boot == n.report_boot && n.report.as_ref().is_none_or(|r| report.seq > r.seq));
        if !newer {
            return;
        }
        n.report_boot = boot;
        n.report = Some(report.clone());
        if report.ready {
            n.failed = false;
        }
        // What this node says about the other one: has it heard it since?
        let other = &mut self.nodes[1 - i];
        let count = report.heard.iter().find(|h| h.member == other.id).map(|h| h.frames);
        if count != other.other_count {
            other.other_count = count;
            other.other_count_changed_at = now;
        }
    }

    pub fn handle_persisted(&mut self, now: Micros, stored: Stored) {
        self.note_input(now);
        if self.persisting != Some(stored) {
            return;
        }
        self.persisting = None;
        if stored.pending_fence == 0 {
            self.make_durable(stored, true);
        } else if let Some(e) = self.early.as_mut().filter(|e| e.grant == stored) {
            // An early grant is durable: announced once the holder it replaces is released
            // (`grant`). Not if it was dropped meanwhile (that holder was heard running).
            e.durable = true;
            if mutated(Mutation::AnnounceEarlyGrant) {
                self.grant(stored.holder);
            }
        }
        let view = self.last_view.clone();
        self.evaluate(now, &view);
    }

    pub fn handle_fence_result(&mut self, now: Micros, node: u8, result: FenceResult) {
        self.note_input(now);
        match self.fencer.handle_result(now, node, result) {
            FenceVerdict::Fenced => {
                self.notices.push(Notice::FenceSucceeded { node });
                if let Some(n) = self.nodes.iter_mut().find(|n| n.id == node) {
                    n.fenced_off = true;
                    n.fenced_boot = n.report_boot;
                    n.power_on_sent = false;
                }
            }
            FenceVerdict::Retry { unconfirmed } => {
                self.drop_early(node);
                if unconfirmed {
                    self.notices.push(Notice::FenceUnconfirmed { node });
                }
                self.notices.push(Notice::FenceFailed { node, attempt: self.fencer.attempts() });
            }
            FenceVerdict::Ignored => {}
        }
        let view = self.last_view.clone();
        self.evaluate(now, &view);
    }

    /// Re-evaluate with the current view of failure detection.
    pub fn handle_tick(&mut self, now: Micros, view: &View) {
        self.note_input(now);
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
    /// The next deadline after the last evaluation (deadlines already acted on, such as a
    /// switchover deadline that could not lead to a fence, are not repeated).
    pub fn poll_timeout(&self) -> Micros {
        let later = |t: Micros| if t > self.last_eval { t } else { Micros::MAX };
        let mut next = self.fencer.poll_timeout();
        if let Some(until) = self.stall_grace_until {
            // A power-off held back by the stall grace is due when the grace ends.
            if self.operator_fence != self.fencer.target() && next < until {
                next = until;
            }
        }
        // Cold start waits (for the nodes, for the preferred node to settle) end at initdead.
        next = next.min(later(self.started_at.plus_ms(self.cfg.timing.initdead_ms).plus_us(1)));
        if let Phase::Switchover { deadline, .. } = self.phase {
            next = next.min(later(deadline.plus_us(1)));
        }
        for n in &self.nodes {
            if n.lost_since.is_some() {
                if let Some(d) = self.watchdog_deadline(n) {
                    next = next.min(later(d));
                }
            }
            // A node's word starts to count when its boot grace ends.
            next = next.min(later(n.latest_boot_heard_at.plus_ms(self.boot_grace_ms())));
        }
        if let Some(until) = self.stall_grace_until {
            next = next.min(later(until));
        }
        next
    }

    // ---- stalls and fresh boots (availability; see the grace constants) ---------------------

    /// Every input passes here first: a gap longer than `dead_ms` since the previous one was a
    /// stall of this process, and starts the stall grace.
    fn note_input(&mut self, now: Micros) {
        let dead_us = self.cfg.timing.dead_ms * 1000;
        if now > self.last_input && now.since_us(self.last_input) > dead_us {
            self.stall_grace_until = Some(now.plus_ms(self.cfg.timing.dead_ms * STALL_GRACE_FACTOR));
        }
        self.last_input = self.last_input.max(now);
    }

    /// Within the stall grace: the links may not have delivered what waited during a stall.
    fn in_stall_grace(&self, now: Micros) -> bool {
        self.stall_grace_until.is_some_and(|until| now < until)
    }

    fn boot_grace_ms(&self) -> u64 {
        self.cfg.timing.dead_ms * BOOT_GRACE_FACTOR
    }

    /// The node at `i` has run long enough since its boot for its links to have proved
    /// themselves: its word that it does not reach a member counts.
    fn word_settled(&self, i: usize, now: Micros) -> bool {
        now.since_us(self.nodes[i].latest_boot_heard_at) >= self.boot_grace_ms() * 1000
    }

    // ---- internals -----------------------------------------------------------------------

    fn node(&self, id: u8) -> &NodeState {
        self.nodes.iter().find(|n| n.id == id).expect("configured node")
    }
    fn index(&self, id: u8) -> usize {
        self.nodes.iter().position(|n| n.id == id).expect("configured node")
    }

    fn push_action(&mut self, action: Action) -> bool {
        // The queue is drained every loop iteration; overflowing it is a bug.
        assert!(self.actions.push_back(action).is_ok(), "witness action queue overflow");
        true
    }

    /// Can this node no longer run resources under the current generation? Only its own fresh
    /// report can say so: resources confirmed stopped, and it has stopped for this generation
    /// (so a delayed older `Run` cannot start it again).
    fn released_by_report(&self, id: u8, view: &View) -> bool {
        view.reaches(id) && self.reported_stopped(id)
    }

    /// The node's latest report says `Stopped{g}` for the current generation: resources
    /// confirmed stopped, and stopped for this generation.
    fn reported_stopped(&self, id: u8) -> bool {
        self.node(id)
            .report
            .as_ref()
            .is_some_and(|r| r.resources.is_stopped() && r.stopped >= self.durable.generation)
    }

    /// Did this node, unreachable now, say in its last report that it stopped for the current
    /// generation (an agent that handed over and left)? That report is a promise for its whole
    /// boot: a node never starts again at or below a generation it stopped for (N1). A later
    /// boot starts only on a `Run` that acknowledged that boot, and the frame it acknowledged
    /// reached us first and voided the old report (`latest_boot`); so the node is released
    /// without a fence (W1: the holder reported `Stopped{g}`).
    fn released_when_last_heard(&self, id: u8) -> bool {
        let n = self.node(id);
        (n.latest_boot == n.report_boot || mutated(Mutation::IgnoreLatestBoot)) && self.reported_stopped(id)
    }

    /// W3: the witness reaches no node (then it decides nothing and fences nobody).
    fn isolated(&self, view: &View) -> bool {
        !self.cfg.nodes.iter().any(|&id| view.reaches(id)) && !mutated(Mutation::IsolatedWitnessActs)
    }

    fn eligible(&self, id: u8, view: &View) -> bool {
        let n = self.node(id);
        view.reaches(id)
            && !n.failed
            && !n.standby
            && !n.fenced_off
            && n.report.as_ref().is_some_and(|r| r.ready && r.resources == ResState::Stopped)
    }

    /// When the lost node `n` can be assumed to have stopped by itself: the last time anyone
    /// heard it, plus its own detection, self-fence, stop and watchdog bound, plus one
    /// interval (a node's view of its links can be one interval fresher than the last frame
    /// its peers received) and the margin.
    fn watchdog_deadline(&self, n: &NodeState) -> Option<Micros> {
        let bound_ms = match n.report.as_ref().map(|r| u64::from(r.fence_bound_ms)) {
            Some(b) if b > 0 => b,
            Some(_) => return None,
            None if self.cfg.unknown_fence_bound_ms > 0 => self.cfg.unknown_fence_bound_ms,
            None => return None,
        };
        n.other_count?;
        let own = self.last_view.peer(n.id).and_then(|p| p.last_rx).unwrap_or(self.started_at);
        let silent_since = own.max(n.other_count_changed_at).max(self.started_at);
        let t = &self.cfg.timing;
        Some(silent_since.plus_ms(t.dead_ms + t.interval_ms + bound_ms + t.margin_ms))
    }

    /// W2: the node is lost only while we are in quorum with the other node and neither of us
    /// reaches it. Then fence it (if a relay exists) and watch the watchdog deadline.
    fn handle_lost(&mut self, now: Micros, id: u8, view: &View) -> Release {
        let i = self.index(id);
        let other = self.nodes[1 - i].id;
        // The other node's word: its latest report says it does not reach the node either; for a
        // new judgement, the other node has also run long enough since its boot for that to
        // mean something (boot grace; a judgement made before stands). Only delays.
        let fresh_word = self.nodes[i].lost_since.is_none() && !self.word_settled(1 - i, now);
        let other_word_missing = !mutated(Mutation::LostWhilePeerReaches)
            && (view.peer(other).is_some_and(|p| p.reaches.contains(&id))
                || self.nodes[1 - i].report.is_none()
                || fresh_word);
        // Not reaching `id`, the witness is in quorum with the other node or reaches nobody.
        if view.reaches(id) || self.isolated(view) || other_word_missing {
            self.nodes[i].lost_since = None;
            if self.fencer.target() == Some(id) {
                self.fencer.cancel();
            }
            return Release::NotYet;
        }
        if self.nodes[i].fenced_off || mutated(Mutation::GrantWithoutFence) {
            return Release::Released;
        }
        // After a stall of this process, no new judgement until the links have delivered what
        // waited meanwhile (stall grace); one made before the stall stands. Only delays.
        if self.nodes[i].lost_since.is_none() && self.in_stall_grace(now) {
            return Release::NotYet;
        }
        if self.released_when_last_heard(id) {
            if self.nodes[i].lost_since.is_none() {
                self.nodes[i].lost_since = Some(now);
                self.notices.push(Notice::LeftStopped { node: id, generation: self.durable.generation });
            }
            if self.fencer.target() == Some(id) {
                self.fencer.cancel();
            }
            return Release::Released;
        }
        if self.nodes[i].lost_since.is_none() {
            self.nodes[i].lost_since = Some(now);
            self.nodes[i].deadline_noticed = false;
            self.notices.push(Notice::HolderLost { node: id, generation: self.durable.generation });
        }
        if self.cfg.fence_enabled && self.fencer.target().is_none() {
            self.fencer.request(id);
        }
        if let Some(deadline) = self.watchdog_deadline(&self.nodes[i]) {
            if now >= deadline {
                if !self.nodes[i].deadline_noticed {
                    self.nodes[i].deadline_noticed = true;
                    self.notices.push(Notice::WatchdogDeadlinePassed { node: id });
                }
                if self.fencer.target() == Some(id) {
                    self.fencer.cancel();
                }
                return Release::Released;
            }
        }
        Release::NotYet
    }

    fn best_candidate(&self, view: &View) -> Option<u8> {
        let eligible: heapless::Vec<u8, 2> =
            self.cfg.nodes.iter().copied().filter(|&id| self.eligible(id, view)).collect();
        match self.cfg.preferred {
            Some(p) if eligible.contains(&p) => Some(p),
            _ => eligible.first().copied(),
        }
    }

    fn evaluate(&mut self, now: Micros, view: &View) {
        self.last_eval = self.last_eval.max(now);
        // Fenced nodes heard again from a later boot are back (powered on and booted).
        for n in self.nodes.iter_mut() {
            if n.fenced_off && view.reaches(n.id) && n.report_boot > n.fenced_boot {
                n.fenced_off = false;
                n.power_on_sent = false;
            }
        }
        self.drive_fencer(now);
        self.write_announced();
        // A grant or an adoption being stored: nothing is decided until it is durable. An
        // early grant's store, or the rewrite of what is announced, lets the decisions run
        // (a grant waits for it).
        if self.storing_grant() {
            return;
        }
        if self.maintenance {
            // No grant, no failover, no switchover: only operator fences run (above). Lost
            // timers start afresh when maintenance ends.
            for n in self.nodes.iter_mut() {
                n.lost_since = None;
            }
            return;
        }
        // W3: isolated, do nothing but power on the nodes it fenced (safe: a node boots with
        // its resources stopped and waits for a grant; without it, a witness that fenced the
        // last node it reached would keep both off for good).
        if self.isolated(view) {
            for n in self.nodes.iter_mut() {
                n.lost_since = None;
            }
            self.fencer.cancel();
            self.power_on_when_nobody_can_run(view);
            return;
        }
        if self.phase == Phase::Startup {
            self.startup(now, view);
            self.drive_fencer(now);
            return;
        }
        if self.adopt() {
            return;
        }
        self.decide(now, view);
        self.drop_unneeded_fence();
        self.drive_fencer(now);
        self.power_on_when_nobody_can_run(view);
        self.write_announced();
    }

    /// A fence under way that no rule needs any more is dropped before its next retry: its
    /// target is not the holder, not judged lost (W2), not reporting a failed stop and not
    /// being switched away from (W5), and the operator did not ask for it. That is a former
    /// holder once the other node is granted: the grant needed its release (W1), which the
    /// fence no longer adds to. The simulator found a relay that kept failing retried long
    /// after, powering off the former holder, alive and reachable by then. Dropping a fence
    /// never grants anything (grants rest on W1's releases), so it is safe.
    fn drop_unneeded_fence(&mut self) {
        let Some(target) = self.fencer.target() else {
            self.operator_fence = None;
            return;
        };
        if self.operator_fence == Some(target) {
            return;
        }
        let n = self.node(target);
        let stop_failed = n.report.as_ref().is_some_and(|r| r.resources == ResState::StopFailed);
        let switching_from = matches!(self.phase, Phase::Switchover { from, .. } if from == target);
        if target != self.durable.holder && n.lost_since.is_none() && !stop_failed && !switching_from {
            self.fencer.cancel();
        }
    }

    /// Liveness: a fenced node is powered on again after the grant to the other node is
    /// stored. When nobody can be granted (the other node fenced too, failed, or in standby),
    /// that grant never comes: power the fenced nodes on now. Safe: a node boots with its
    /// resources stopped and starts them only on a grant (N4), and it counts as fenced until
    /// it is heard from its new boot.
    fn power_on_when_nobody_can_run(&mut self, view: &View) {
        // A grant being stored powers them on once durable; an early grant's store or a rewrite
        // does not.
        if self.storing_grant() || !self.cfg.power_on_after_fence || self.best_candidate(view).is_some() {
            return;
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].fenced_off && !self.nodes[i].power_on_sent {
                self.nodes[i].power_on_sent = true;
                let id = self.nodes[i].id;
                self.notices.push(Notice::PoweredOnNoCandidate { node: id });
                self.push_action(Action::PowerOn(id));
            }
        }
    }

    fn drive_fencer(&mut self, now: Micros) {
        // Within the stall grace a power-off waits (a retry that came due during the stall):
        // the other node's word may be from before the stall, and the frames that waited prove
        // the links again within the grace. Only delays; the operator's fence does not wait.
        if self.in_stall_grace(now) && self.operator_fence != self.fencer.target() {
            return;
        }
        if let Some(node) = self.fencer.poll_power_off(now) {
            self.notices.push(Notice::FenceRequested { node, attempt: self.fencer.attempts() });
            self.push_action(Action::PowerOff(node));
        }
    }

    fn decide(&mut self, now: Micros, view: &View) {
        let g = self.durable.generation;
        let h = self.durable.holder;

        // A node whose stop failed may still run resources: fence it (W5).
        for id in self.cfg.nodes {
            let stop_failed =
                self.node(id).report.as_ref().is_some_and(|r| r.resources == ResState::StopFailed);
            if stop_failed
                && view.reaches(id)
                && self.cfg.fence_enabled
                && self.fencer.target().is_none()
                && !self.node(id).fenced_off
            {
                self.fencer.request(id);
            }
        }

        if h == 0 {
            // No holder: every node must be known not to run before anyone is granted.
            for id in self.cfg.nodes {
                if self.released_by_report(id, view) || self.node(id).fenced_off {
                    continue;
                }
                if view.reaches(id) {
                    // It hears our Standby and will report stopped for this generation.
                    return;
                }
                if self.handle_lost(now, id, view) == Release::NotYet {
                    return;
                }
            }
            // At cold start, give the preferred node until initdead to settle (its group
            // stops everything at boot before it reports ready) rather than granting to the
            // other one in the first instant.
            if let Some(p) = self.cfg.preferred {
                let settling = view.reaches(p)
                    && !self.eligible(p, view)
                    && !self.node(p).failed
                    && !self.node(p).standby;
                if settling && now.since_us(self.started_at) <= self.cfg.timing.initdead_ms * 1000 {
                    return;
                }
            }
            if let Some(to) = self.best_candidate(view) {
                self.grant(to);
            }
            return;
        }

        let hi = self.index(h);
        let o = self.nodes[1 - hi].id;

        if let Phase::Switchover { from, to, deadline } = self.phase {
            if from != h {
                self.phase = Phase::Steady;
            } else if self.released_by_report(h, view)
                || self.node(h).fenced_off
                || mutated(Mutation::SwitchWithoutStop)
            {
                let target = if self.eligible(to, view) { Some(to) } else { self.best_candidate(view) };
                match target {
                    Some(t) => self.grant(t),
                    None => self.phase = Phase::Steady,
                }
                return;
            } else {
                if now > deadline
                    && self.cfg.fence_enabled
                    && self.fencer.target().is_none()
                    && !self.node(h).fenced_off
                {
                    // W5: a holder that does not stop in time is fenced.
                    self.fencer.request(h);
                }
                if !view.reaches(h) && self.handle_lost(now, h, view) == Release::Released {
                    if let Some(t) = self.best_candidate(view) {
                        self.grant(t);
                    }
                }
                return;
            }
        }

        if view.reaches(h) {
            self.nodes[hi].lost_since = None;
            if self.fencer.target() == Some(h)
                && !self.node(h).report.as_ref().is_some_and(|r| r.resources == ResState::StopFailed)
            {
                self.fencer.cancel();
            }
            let Some(report) = self.node(h).report.clone() else { return };
            if self.released_by_report(h, view) {
                if report.resources == ResState::Failed {
                    if !self.nodes[hi].failed {
                        self.notices.push(Notice::ResourcesFailed { node: h });
                    }
                    self.nodes[hi].failed = true;
                } else if self.stopped_noticed < g && !self.nodes[hi].standby {
                    self.stopped_noticed = g;
                    self.notices.push(Notice::HolderStopped { node: h, generation: g });
                }
                // The holder stopped (failure, self-fence, restart): grant again, to the best
                // eligible node (possibly the same one, under a new generation).
                if let Some(t) = self.best_candidate(view) {
                    self.grant(t);
                }
                return;
            }
            // Holder running: an early grant to replace it is void (never announced; a later
            // grant stores its generation again) and its mark is written over. Consider a move
            // (operator, or failback).
            self.drop_early(h);
            let failback = self.cfg.auto_failback && self.cfg.preferred == Some(o) && h != o;
            let wanted = self.move_to == Some(o) || failback;
            if wanted && self.eligible(o, view) && report.resources == ResState::Running {
                let deadline = now.plus_ms(
                    self.cfg.timing.stop_timeout_ms + self.cfg.timing.dead_ms + self.cfg.timing.margin_ms,
                );
                self.phase = Phase::Switchover { from: h, to: o, deadline };
                self.notices.push(Notice::SwitchoverStarted { from: h, to: o, generation: g });
            } else if self.move_to == Some(h) {
                self.move_to = None;
            }
            return;
        }

        // Holder unreachable from us.
        if self.handle_lost(now, h, view) == Release::Released {
            if let Some(t) = self.best_candidate(view) {
                if t != h {
                    self.grant(t);
                }
            }
        } else {
            // The power-off goes out first, then the store that overlaps it.
            self.drive_fencer(now);
            self.store_early(h, view);
        }
    }
}

//! The engine: one member's whole core, the part the shell and the simulator drive.
//!
//! Owns the wiring between failure detection ([`Membership`]), the authority of the member's
//! role ([`Witness`] or [`Node`]) and, on nodes, the resource group ([`Group`]): it routes
//! what authenticated heartbeats carry, builds the body of every outgoing heartbeat, turns the
//! authority's decisions into resource commands, and collects the actions the outside world
//! must carry out (durable writes, relay commands, OCF actions). Sans-I/O like its parts; it
//! does not encode frames, read clocks or touch devices.
//!
//! Call order: `handle_*` for every input, then drain `poll_transmit`, `poll_action` and
//! `poll_event`, then sleep until `poll_timeout`.

#![forbid(unsafe_code)]

use heapless::Deque;

use super::authority::fence::FenceResult;
use super::authority::node::{Action as NodeAction, Node, NodeConfig};
use super::authority::witness::{Action as WitnessAction, Stored, Witness, WitnessConfig};
use super::authority::{Leave, Notice, PeerView, ResState, View};
use super::membership::{self, Membership, Params, PeerState, RxError, Verdict};
use super::resources::{self, ActionRequest, ExitReason, Group, GroupSpec, Outcome, Validation};
use crate::time::Micros;
use crate::wire::{Header, Heartbeat, Message};

/// Bound on actions waiting for the shell.
pub const MAX_ACTIONS: usize = 16;
/// Bound on events waiting to be logged; the oldest is dropped (and counted) when full.
pub const MAX_EVENTS: usize = 64;
/// Bound on the passes that settle the authority and the resource group after one input.
const MAX_SETTLE_PASSES: usize = 4;

/// Operator commands the witness carries out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WitnessCommand {
    Move(u8),
    Standby(u8),
    Online(u8),
    Fence(u8),
    /// Switch a node's power on again (after a fence).
    PowerOn(u8),
    /// Maintenance mode on (`true`) or off.
    Maintenance(bool),
}

#[derive(Clone, Debug)]
pub enum RoleConfig {
    Witness {
        config: WitnessConfig,
        stored: Option<Stored>,
    },
    /// `seen`: the highest generation the node stored durably before (0: none). `adopted`:
    /// the generation under which the previous agent left the resources running when it
    /// stopped in maintenance mode on this same running system (None: nothing to adopt; the
    /// group stops every resource at start).
    Node {
        config: NodeConfig,
        group: GroupSpec,
        seen: u64,
        adopted: Option<u64>,
    },
}

/// Something the shell (or the simulator) must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Witness: write the generation and holder durably, then `handle_persisted`.
    Persist(Stored),
    /// Witness: power a node off through its relay channel, then `handle_fence_result`.
    PowerOff(u8),
    /// Witness: power a node back on (result only logged).
    PowerOn(u8),
    /// Node: run this OCF action, then `handle_resource_result`.
    Resource(ActionRequest),
    /// Node: store the highest generation seen durably, then `handle_seen_persisted`.
    PersistSeen(u64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Membership(membership::Event),
    Authority(Notice),
    Resources(resources::Event),
}

#[allow(clippy::large_enum_variant)]
enum Role {
    Witness(Witness),
    Node { node: Node, group: Group },
}

pub struct Engine {
    membership: Membership,
    role: Role,
    actions: Deque<Action, MAX_ACTIONS>,
    events: Deque<Event, MAX_EVENTS>,
    events_dropped: u64,
    /// What the frames said after the last step; a change sends them at once.
    announced: Announced,
}

/// The content of this member's heartbeats that is not a counter: whom it reaches, and its
/// role's word (the witness's generation and orders, a node's generations and resources).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Announced {
    reaches: heapless::Vec<u8, { crate::wire::frame::MAX_REACH }>,
    witness: Option<(Stored, [super::authority::Order; 2])>,
    node: Option<(u64, u64, u64, ResState, bool)>,
}

impl Engine {
    pub fn new(params: Params, role: RoleConfig, now: Micros) -> Engine {
        let membership = Membership::new(params, now);
        let role = match role {
            RoleConfig::Witness { config, stored } => Role::Witness(Witness::new(config, stored, now)),
            RoleConfig::Node { config, group, seen, adopted } => {
                let g = match adopted {
                    Some(generation) => Group::adopt(group, now, generation),
                    None => Group::new(group, now),
                };
                Role::Node { node: Node::with_adopted(config, seen, adopted), group: g }
            }
        };
        let mut engine = Engine {
            membership,
            role,
            actions: Deque::new(),
            events: Deque::new(),
            events_dropped: 0,
            announced: Announced::default(),
        };
        engine.settle(now);
        engine
    }

    // ---- getters -------------------------------------------------------------------------

    pub fn membership(&self) -> &Membership {
        &self.membership
    }
    pub fn witness(&self) -> Option<&Witness> {
        match &self.role {
            Role::Witness(w) => Some(w),
            Role::Node { .. } => None,
        }
    }
    pub fn node(&self) -> Option<(&Node, &Group)> {
        match &self.role {
            Role::Node { node, group } => Some((node, group)),
            Role::Witness(_) => None,
        }
    }
    /// N3: whether the watchdog may be fed as far as the core is concerned.
    pub fn feed_allowed(&self) -> bool {
        match &self.role {
            Role::Node { node, .. } => node.feed_allowed(),
            Role::Witness(_) => true,
        }
    }
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped + self.membership.events_dropped()
    }

    /// The authority's input from failure detection.
    pub fn view(&self) -> View {
        let mut view = View::default();
        for p in self.membership.peers() {
            let mut last_rx: Option<Micros> = None;
            let mut frames: u32 = 0;
            for l in self.membership.links().filter(|l| l.peer == p.id) {
                last_rx = last_rx.max(l.last_rx);
                frames = frames.wrapping_add(l.counters.frames_in as u32);
            }
            let peer = PeerView {
                id: p.id,
                reachable: p.state == PeerState::Reachable,
                reaches: p.reported_reaches.clone(),
                last_rx,
                frames,
            };
            // A member has exactly two peers; the view holds two.
            assert!(view.peers.push(peer).is_ok());
        }
        view
    }

    // ---- commands ------------------------------------------------------------------------

    /// Apply new failure-detection timings (configuration reload).
    pub fn set_timing(&mut self, timing: crate::core::membership::Timing, now: Micros) {
        self.membership.set_timing(timing, now);
        self.settle(now);
    }

    // ---- input ---------------------------------------------------------------------------

    /// An authenticated, decoded frame arrived (`hint`: the link index of the transport).
    pub fn handle_frame(
        &mut self,
        now: Micros,
        hint: Option<usize>,
        header: &Header,
        msg: &Message,
    ) -> Verdict {
        let verdict = self.membership.handle_frame(now, hint, header);
        if verdict != Verdict::Accepted {
            return verdict;
        }
        let Message::Heartbeat(hb) = msg;
        // Only frames sent after the sender heard this boot of ours speak about now: whom the
        // sender reaches (the witness's W2 rests on it) is taken from those alone.
        let fresh = header.ack_boot == self.membership.boot();
        if fresh {
            self.membership.handle_reaches(header.sender, &hb.reaches);
        }
        match &mut self.role {
            Role::Witness(w) => {
                if let Some(report) = &hb.node {
                    w.handle_report(now, header.sender, header.boot, fresh, report);
                }
            }
            Role::Node { node, .. } => {
                if let Some(info) = &hb.witness {
                    node.handle_witness_info(now, header.boot, info, fresh);
                }
                if let Some(report) = &hb.node {
                    node.handle_peer_report(now, header.boot, fresh, report);
                }
            }
        }
        self.settle(now);
        verdict
    }

    pub fn handle_rx_error(&mut self, link_index: usize, error: RxError) {
        self.membership.handle_rx_error(link_index, error);
    }
    pub fn handle_send_error(&mut self, link_index: usize) {
        self.membership.handle_send_error(link_index);
    }

    pub fn handle_timeout(&mut self, now: Micros) {
        self.membership.handle_timeout(now);
        if let Role::Node { group, .. } = &mut self.role {
            group.handle_timeout(now);
        }
        self.settle(now);
    }

    pub fn handle_persisted(&mut self, now: Micros, stored: Stored) {
        if let Role::Witness(w) = &mut self.role {
            w.handle_persisted(now, stored);
        }
        self.settle(now);
    }

    pub fn handle_fence_result(&mut self, now: Micros, node: u8, result: FenceResult) {
        if let Role::Witness(w) = &mut self.role {
            w.handle_fence_result(now, node, result);
        }
        self.settle(now);
    }

    pub fn handle_seen_persisted(&mut self, now: Micros, generation: u64) {
        if let Role::Node { node, .. } = &mut self.role {
            node.handle_seen_persisted(now, generation);
        }
        self.settle(now);
    }

    /// Node: the store of the seen generation failed; it is tried again after a while.
    pub fn handle_seen_failed(&mut self, now: Micros, generation: u64) {
        if let Role::Node { node, .. } = &mut self.role {
            node.handle_seen_failed(now, generation);
        }
        self.settle(now);
    }

    pub fn handle_resource_result(&mut self, now: Micros, id: u64, outcome: Outcome) {
        self.handle_resource_result_with_reason(now, id, outcome, ExitReason::new());
    }

    /// [`Engine::handle_resource_result`] with the agent's `ocf-exit-reason:` (empty if none).
    pub fn handle_resource_result_with_reason(
        &mut self,
        now: Micros,
        id: u64,
        outcome: Outcome,
        exit_reason: ExitReason,
    ) {
        if let Role::Node { group, .. } = &mut self.role {
            group.handle_result_with_reason(now, id, outcome, exit_reason);
        }
        self.settle(now);
    }

    /// Node: what the shell learned from resource `index`'s meta-data (validate-all or not).
    pub fn set_resource_validation(&mut self, now: Micros, index: usize, validation: Validation) {
        if let Role::Node { group, .. } = &mut self.role {
            group.set_validation(now, index, validation);
        }
        self.settle(now);
    }

    /// Witness: move the service to `node` gracefully (operator `move`, rule W5).
    pub fn request_move(&mut self, now: Micros, node: u8) {
        if let Role::Witness(w) = &mut self.role {
            w.request_move(node);
        }
        self.settle(now);
    }

    /// An operator command on the witness; `Err` explains the refusal.
    pub fn witness_command(&mut self, now: Micros, command: WitnessCommand) -> Result<(), &'static str> {
        let result = match &mut self.role {
            Role::Witness(w) => match command {
                WitnessCommand::Move(n) => w.command_move(n),
                WitnessCommand::Standby(n) => w.command_standby(n, true),
                WitnessCommand::Online(n) => w.command_standby(n, false),
                WitnessCommand::Fence(n) => w.command_fence(n),
                WitnessCommand::PowerOn(n) => w.command_power_on(n),
                WitnessCommand::Maintenance(on) => w.command_maintenance(on),
            },
            Role::Node { .. } => Err("this command is for the witness (run it on the management box)"),
        };
        self.settle(now);
        result
    }

    /// Witness: maintenance mode as stored before a restart (call once, before any input).
    pub fn restore_maintenance(&mut self, on: bool) {
        if let Role::Witness(w) = &mut self.role {
            w.restore_maintenance(on);
        }
    }

    /// Witness: the operator's standby of `node` as stored before a restart (call once, before
    /// any input, like [`Engine::restore_maintenance`]).
    pub fn restore_standby(&mut self, node: u8) {
        if let Role::Witness(w) = &mut self.role {
            w.set_standby(node, true);
        }
    }

    /// Maintenance mode as this member applies it (witness: the operator's setting; node:
    /// obeying the witness's `Hold`).
    pub fn maintenance(&self) -> bool {
        match &self.role {
            Role::Witness(w) => w.maintenance(),
            Role::Node { node, .. } => node.maintenance(),
        }
    }

    /// The agent is asked to exit (SIGTERM). Node: how it leaves ([`Node::request_leave`]);
    /// the shell keeps running the loop until [`Engine::may_exit`]. Witness: `None`, it exits
    /// at once (the nodes keep the service, two of three).
    pub fn request_leave(&mut self, now: Micros) -> Option<Leave> {
        let leave = match &mut self.role {
            Role::Witness(_) => None,
            Role::Node { node, .. } => Some(node.request_leave(now)),
        };
        self.settle(now);
        leave
    }

    /// Whether an agent asked to exit may exit now (witness: always).
    pub fn may_exit(&self, now: Micros) -> bool {
        match &self.role {
            Role::Witness(_) => true,
            Role::Node { node, .. } => node.may_exit(now),
        }
    }

    /// Operator cleanup of resource failures on this node.
    pub fn cleanup(&mut self, now: Micros) {
        if let Role::Node { node, group } = &mut self.role {
            node.cleanup();
            group.cleanup(now);
        }
        self.settle(now);
    }

    // ---- output --------------------------------------------------------------------------

    /// The next frame to send: link index, header and message.
    pub fn poll_transmit(&mut self, now: Micros) -> Option<(usize, Header, Message)> {
        let tx = self.membership.poll_transmit(now)?;
        let peer = self.membership.link(tx.link_index).map(|l| l.peer).unwrap_or(0);
        let reaches = self.membership.reaches();
        let view = self.view();
        let (witness, node) = match &mut self.role {
            Role::Witness(w) => (w.info_for(peer), None),
            Role::Node { node, .. } => (None, Some(node.report(&view))),
        };
        Some((tx.link_index, tx.header, Message::Heartbeat(Heartbeat { reaches, witness, node })))
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.membership.poll_event() {
            return Some(Event::Membership(e));
        }
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Micros {
        let mut next = self.membership.poll_timeout();
        match &self.role {
            Role::Witness(w) => next = next.min(w.poll_timeout()),
            Role::Node { node, group } => next = next.min(node.poll_timeout()).min(group.poll_timeout()),
        }
        next
    }

    // ---- internals -----------------------------------------------------------------------

    fn push_event(&mut self, event: Event) {
        if self.events.is_full() {
            let _ = self.events.pop_front();
            self.events_dropped += 1;
        }
        assert!(self.events.push_back(event).is_ok());
    }

    fn push_action(&mut self, action: Action) {
        // Drained every loop iteration; a full queue is a bug, and a crash is safer than a
        // lost fence or resource action.
        assert!(self.actions.push_back(action).is_ok(), "engine action queue overflow");
    }

    /// Let the authority see the current view, carry its decisions to the resource group,
    /// and feed the group's state back, until nothing changes (bounded).
    fn settle(&mut self, now: Micros) {
        let view = self.view();
        for _ in 0..MAX_SETTLE_PASSES {
            let mut changed = false;
            match &mut self.role {
                Role::Witness(w) => {
                    w.handle_tick(now, &view);
                    let mut out: heapless::Vec<Action, MAX_ACTIONS> = heapless::Vec::new();
                    while let Some(a) = w.poll_action() {
                        let action = match a {
                            WitnessAction::Persist(s) => Action::Persist(s),
                            WitnessAction::PowerOff(n) => Action::PowerOff(n),
                            WitnessAction::PowerOn(n) => Action::PowerOn(n),
                        };
                        assert!(out.push(action).is_ok());
                    }
                    let mut notices: heapless::Vec<Notice, 32> = heapless::Vec::new();
                    while let Some(n) = w.poll_notice() {
                        let _ = notices.push(n);
                    }
                    for a in out {
                        self.push_action(a);
                    }
                    for n in notices {
                        self.push_event(Event::Authority(n));
                    }
                }
                Role::Node { node, group } => {
                    let mut pending_seen: Option<u64> = None;
                    node.handle_tick(now, &view);
                    if node.maintenance() != group.maintenance() {
                        group.set_maintenance(now, node.maintenance());
                        changed = true;
                    }
                    while let Some(a) = node.poll_action() {
                        changed = true;
                        match a {
                            NodeAction::Start { generation } => {
                                if let Err(refused) = group.start(now, generation) {
                                    log::warn!("resource group refused start at generation {generation}: {refused:?}");
                                }
                            }
                            NodeAction::Stop => group.stop(now),
                            NodeAction::PersistSeen { generation } => pending_seen = Some(generation),
                        }
                    }
                    let state = ResState::from(group.state());
                    if state != node.resources() {
                        node.handle_resources(now, state);
                        changed = true;
                    }
                    let mut out: heapless::Vec<Action, MAX_ACTIONS> = heapless::Vec::new();
                    if let Some(g) = pending_seen {
                        assert!(out.push(Action::PersistSeen(g)).is_ok());
                    }
                    while let Some(req) = group.poll_action() {
                        assert!(out.push(Action::Resource(req)).is_ok());
                    }
                    let mut events: heapless::Vec<Event, 48> = heapless::Vec::new();
                    while let Some(n) = node.poll_notice() {
                        let _ = events.push(Event::Authority(n));
                    }
                    while let Some(e) = group.poll_event() {
                        let _ = events.push(Event::Resources(e));
                    }
                    for a in out {
                        self.push_action(a);
                    }
                    for e in events {
                        self.push_event(e);
                    }
                }
            }
            if !changed {
                break;
            }
        }
        // Triggered heartbeats: a peer that stopped being reached, a grant made durable, a
        // generation adopted, resources stopped are sent now, not at the next interval (the
        // witness waits for the other node's word before it fences, and a node for the grant).
        let announced = Announced {
            reaches: self.membership.reaches(),
            witness: self.witness().map(|w| w.announced()),
            node: self.node().map(|(n, _)| n.announced()),
        };
        if announced != self.announced {
            self.announced = announced;
            self.membership.transmit_now();
        }
    }
}

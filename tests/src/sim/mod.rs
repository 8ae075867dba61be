//! Deterministic simulation of the whole cluster on the real core.
//!
//! Owns a simulated world: true time, three members each running the real [`Engine`] on its
//! own drifting (and sometimes paused) clock, six links (a serial and a UDP link per pair)
//! that can be cut in one or both directions, delayed, jittered (reordered), duplicated,
//! corrupted and replayed, a relay per node that can fail, lie or be unable to read back and
//! that holds a fenced node off until the witness powers it on, OCF actions that succeed, fail
//! or hang, disks whose durable writes are slow or fail, hardware watchdogs that reset a
//! member that stops feeding them, power loss of a member or the rack with or without the
//! witness's state, process pauses, and the operator (maintenance, moves, agent stops). It
//! applies the schedule a seed draws ([`schedule`]) and, while it runs, aims faults at the
//! protocol events it observes (grants, fences, stops, restarts, stores). Every fault
//! parameter comes from the seed and is printed in the trace. An observer that knows the truth
//! checks at every step: never two powered nodes with resources not stopped, W1 at every grant,
//! W2 and W3 at every fence, N1 at every start, grants never below a generation a node knows,
//! replay rejection at every accepted frame, the core's assertions; after the faults heal, that
//! the service runs again on a healthy node within a bound (with `--invariant-only`, for a
//! second line of defence, only the invariant, the assertions and liveness). It counts needless
//! fences (of a node alive and reachable) as an availability figure. It does not encode frames (the
//! MAC's effect is modelled: a corrupted frame is dropped and counted) and it does no I/O.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;

use ha_agent::config::role::{FromConfig, Restored};
use ha_agent::config::Timing;
use ha_agent::core::authority::fence::FenceResult;
use ha_agent::core::authority::witness::Stored;
use ha_agent::core::engine::{Action, Engine, Event, RoleConfig, WitnessCommand};
use ha_agent::core::membership::{LinkSpec, Params, RxError, Verdict};
use ha_agent::core::resources::{self, GroupSpec, GroupState, Outcome, ResourceSpec};
use ha_agent::time::Micros;
use ha_agent::wire::{Header, Message};

pub const WITNESS: u8 = 1;
pub const NODE_A: u8 = 2;
pub const NODE_B: u8 = 3;
const IDS: [u8; 3] = [WITNESS, NODE_A, NODE_B];
/// (link id, member index a, member index b)
const LINKS: [(u8, usize, usize); 6] = [(1, 0, 1), (2, 0, 2), (3, 1, 2), (11, 0, 1), (12, 0, 2), (13, 1, 2)];
/// Resources per node in the simulated group.
const RESOURCES: usize = 2;
/// Lines of trace kept for a failure report.
const TRACE_LINES: usize = 400;
/// Bound on the clock rate difference of any member from true time, in parts per million.
pub const CLOCK_PPM_BOUND: i64 = 2000;
/// Time allowed after the faults heal for the service to run again.
pub const LIVENESS_BOUND_MS: u64 = 60_000;
/// How old the other node's word on a lost node may be when the witness acts on it: its
/// latest accepted frame is at most `dead_ms` old, and frames take up to the slowest delay and
/// jitter the faults set (300 + 200 ms), plus a switchover's or a stop's own wait.
pub const W2_WORD_AGE_MS: u64 = DEAD_MS + 500 + 1000;
/// How long a crashed agent (its shell panicked) takes to be started again by systemd.
pub const AGENT_RESTART_MS: u64 = 1000;
/// Bound on simulation steps for one seed; more means a deadline that never moves (a bug).
const MAX_STEPS: u64 = 2_000_000;

// ---- timings of the simulated cluster (documented in docs/design.md) -------------------------

pub const INTERVAL_MS: u64 = 100;
pub const WARN_MS: u64 = 250;
pub const DEAD_MS: u64 = 500;
pub const INITDEAD_MS: u64 = 2000;
pub const SELF_FENCE_MS: u64 = 1000;
pub const MARGIN_MS: u64 = 1000;
pub const WATCHDOG_MS: u64 = 3000;
pub const START_TIMEOUT_MS: u64 = 1500;
pub const STOP_TIMEOUT_MS: u64 = 1500;
pub const MONITOR_TIMEOUT_MS: u64 = 1000;
pub const MONITOR_INTERVAL_MS: u64 = 1000;

pub mod config;
mod schedule;
pub use schedule::*;

/// The observer checks only the invariant itself (never two powered nodes with resources not
/// stopped), the core's assertions and liveness, not the rules that lead to it (W1-W3, N1,
/// generations, replays): for a second line of defence, which matters only once a first line
/// is broken on purpose and must then keep the invariant by itself (`sim --invariant-only`).
static INVARIANT_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Observe only the invariant in every simulation this process runs from now on.
pub fn set_invariant_only(on: bool) {
    INVARIANT_ONLY.store(on, std::sync::atomic::Ordering::SeqCst);
}

use FaultKind::*;

/// A line of trace, formatted only when the trace is kept (not while running many seeds).
macro_rules! trace {
    ($sim:expr, $($arg:tt)*) => {
        if $sim.tracing {
            let line = format!($($arg)*);
            $sim.log(line);
        }
    };
}

#[derive(Clone, Copy, Debug, Default)]
struct Direction {
    cut: bool,
    base_ms: u64,
    jitter_ms: u64,
    duplicate_per_mille: u64,
    corrupt_per_mille: u64,
    /// Frames recorded and sent again this much later (0: no replay).
    replay_delay_ms: u64,
}

/// A member's disk for durable writes.
#[derive(Clone, Copy, Debug, Default)]
struct DiskMode {
    slow_ms: u64,
    fail_per_mille: u64,
}

struct Member {
    id: u8,
    powered: bool,
    engine: Option<Engine>,
    /// True time at which this incarnation's clock reads zero.
    boot_true: Micros,
    boot: u64,
    ppm: i64,
    /// Local microseconds the clock lost to pauses (this incarnation).
    clock_lag_us: u64,
    /// The clock stands still from the first to the second true time.
    clock_paused: Option<(Micros, Micros)>,
    hung_until: Option<Micros>,
    /// The frames that waited in a paused process's buffers are read up to this long after it
    /// runs again.
    late_ms: u64,
    back_at: Option<Micros>,
    /// The relay holds the power off: only the witness's power-on brings the member back
    /// (not the heal, not the end of a crash).
    relay_off: bool,
    /// Nodes: the agent was asked to leave; it starts again this long after it exits.
    leaving_down_ms: Option<u64>,
    /// The agent exited (the machine runs on) and starts again at this time.
    agent_back_at: Option<Micros>,
    /// The agent closed its watchdog with the magic character (it left with nothing running).
    watchdog_disarmed: bool,
    /// The generation an agent that exited left its resources running under (the shell's
    /// `left-running` file; lost with the power).
    left_running: Option<u64>,
    stored: Option<Stored>,
    /// Witness: maintenance mode as its shell stores it (lost with the state).
    maintenance_stored: bool,
    /// A state write under way: what, when it completes, and whether it fails (the witness's
    /// shell then crashes and its agent restarts).
    pending_persist: Option<(Stored, Micros, bool)>,
    /// Nodes: the highest generation stored on disk, and a write in progress.
    seen_stored: u64,
    pending_seen: Option<(u64, Micros, bool)>,
    // watchdog (true time)
    last_feed: Micros,
    // nodes: physical truth per resource, and actions in progress (id, resource, action, done at, outcome)
    physical: [bool; RESOURCES],
    actions: Vec<(u64, usize, resources::Action, Micros, Outcome)>,
    /// Relay results waiting: (node index, done at, result).
    fences: Vec<(usize, Micros, FenceResult)>,
}

impl Member {
    /// The clock at its rate since boot, before pauses.
    fn raw_local(&self, now: Micros) -> u64 {
        let elapsed = now.since_us(self.boot_true) as i128;
        (elapsed * (1_000_000 + self.ppm as i128) / 1_000_000) as u64
    }
    fn local(&self, now: Micros) -> Micros {
        let at = match self.clock_paused {
            Some((from, _)) if now >= from => from,
            _ => now,
        };
        Micros(self.raw_local(at).saturating_sub(self.clock_lag_us))
    }
    fn to_true(&self, local: Micros) -> Micros {
        if local == Micros::MAX {
            return Micros::MAX;
        }
        let t = (local.0 + self.clock_lag_us) as i128 * 1_000_000 / (1_000_000 + self.ppm as i128);
        let at = self.boot_true.plus_us(t as u64 + 1);
        match self.clock_paused {
            // Nothing comes due on a stopped clock before it runs again.
            Some((_, until)) => at.max(until),
            None => at,
        }
    }
    /// End a clock pause: the clock runs again from where it stopped.
    fn resume_clock(&mut self) {
        if let Some((from, until)) = self.clock_paused.take() {
            self.clock_lag_us += self.raw_local(until) - self.raw_local(from);
        }
    }
    /// The next time this running member's agent has something of its own to do: a deadline
    /// of its core, a durable write, an OCF action or a relay result that completes.
    fn next_own(&self) -> Micros {
        let mut next = Micros::MAX;
        if let Some(h) = self.hung_until {
            return h;
        }
        if let Some((_, at, _)) = self.pending_persist {
            next = next.min(at);
        }
        if let Some((_, at, _)) = self.pending_seen {
            next = next.min(at);
        }
        for a in &self.actions {
            next = next.min(a.3);
        }
        for f in &self.fences {
            next = next.min(f.1);
        }
        if let Some(e) = &self.engine {
            next = next.min(self.to_true(e.poll_timeout()));
        }
        next
    }
    fn running(&self, now: Micros) -> bool {
        self.powered && self.engine.is_some() && self.hung_until.is_none_or(|h| now >= h)
    }
    fn resources_not_stopped(&self) -> bool {
        self.powered && self.physical.iter().any(|&p| p)
    }
}

#[derive(Default, Debug, Clone)]
pub struct Stats {
    /// Agent stops by how the node left: hand-over, idle, untouched (maintenance).
    pub leaves: [u64; 3],
    pub failovers: u64,
    pub fences: u64,
    pub self_fences: u64,
    pub watchdog_resets: u64,
    /// Fences the witness commanded of a node that was alive and reachable: powered, its agent
    /// running, a link to the witness working both ways, its resources not stuck in a stop
    /// (an availability figure: each costs a reboot, and of the holder an outage).
    pub needless_fences: u64,
    pub restore_ms: Option<u64>,
}

pub struct SimResult {
    pub scenario: Scenario,
    pub violations: Vec<String>,
    pub stats: Stats,
    pub trace: VecDeque<String>,
    /// Classes of the faults that were applied (scheduled or aimed).
    pub classes: BTreeSet<&'static str>,
    /// Faults aimed at each kind of protocol event.
    pub aimed_at: BTreeMap<&'static str, u64>,
}

pub struct Sim {
    now: Micros,
    scenario: Scenario,
    rng: Rng,
    members: Vec<Member>,
    directions: [[Direction; 2]; 6],
    relay: [RelayMode; 3],
    resource_fault: [Option<ResourceFault>; 3],
    disk: [DiskMode; 3],
    /// Faults aimed at protocol events: their generator, how many are left, and those
    /// waiting for their time.
    aim_rng: Rng,
    aim_left: u64,
    aimed: Vec<(Micros, Fault)>,
    /// Per receiver and link: the (boot, seq) of the latest frame it accepted (replay check).
    accepted: HashMap<(usize, usize), (u64, u64)>,
    /// Per member and peer: since when its agent has reached that peer (W2 check).
    reach_since: [[Option<Micros>; 3]; 3],
    /// True time of the latest frame from a node that the witness accepted, and how long its
    /// process was paused since (it cannot notice an isolation while paused) (W3 check).
    witness_heard_node_at: Micros,
    witness_paused_us: u64,
    /// An operator fence was asked for (the W3 check is about the witness's own fences).
    operator_fence: bool,
    /// Classes of the faults applied (scheduled or aimed), and aimed faults per event.
    classes: BTreeSet<&'static str>,
    aimed_at: BTreeMap<&'static str, u64>,
    in_flight: BinaryHeap<Reverse<(Micros, u64, usize, usize, MessageBox)>>,
    frame_seq: u64,
    grants: HashSet<(u64, u8)>,
    /// Early grants the witness stored (marked as waiting for a fence) and has not announced
    /// yet: W1 is checked when one is announced instead of when it is stored.
    early_grants: HashSet<(u64, u8)>,
    /// The highest generation the witness stored a grant for (since it last lost its state):
    /// every older one it has given up on.
    issued: u64,
    max_persisted: u64,
    max_granted: u64,
    violations: Vec<String>,
    /// Keep the trace (off while running many seeds: a failing seed is run again with it).
    tracing: bool,
    trace: VecDeque<String>,
    stats: Stats,
    healed: bool,
    /// When the operator turns maintenance off again (a `Maintenance` fault is running).
    maintenance_until: Option<Micros>,
    active_faults: Vec<(Micros, Fault)>,
    next_fault: usize,
    /// Every change of a node's physical state: (ms, node id, resources not stopped).
    timeline: Vec<(u64, u8, bool)>,
    last_running: [bool; 3],
    steps: u64,
    /// See [`set_invariant_only`].
    invariant_only: bool,
}

/// Wrapper to order messages in the heap (ordering only uses the other fields). The third
/// field: the receiver's boot whose socket buffer holds the frame (it waited while the
/// receiver was hung), None while it is on the wire.
#[derive(Clone, Debug)]
struct MessageBox(Header, Message, Option<u64>);
impl PartialEq for MessageBox {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for MessageBox {}
impl PartialOrd for MessageBox {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for MessageBox {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

fn timing() -> Timing {
    Timing { interval_ms: INTERVAL_MS, warn_ms: WARN_MS, dead_ms: DEAD_MS, initdead_ms: INITDEAD_MS }
}

fn group_spec() -> GroupSpec {
    let mut resources = heapless::Vec::new();
    for name in ["ip", "db"] {
        let spec = ResourceSpec {
            name: heapless::String::try_from(name).unwrap(),
            agent: resources::Agent::path_of(&format!("/sim/{name}")),
            params: heapless::Vec::new(),
            start_timeout_ms: START_TIMEOUT_MS,
            stop_timeout_ms: STOP_TIMEOUT_MS,
            monitor_timeout_ms: MONITOR_TIMEOUT_MS,
            monitor_interval_ms: MONITOR_INTERVAL_MS,
        };
        assert!(resources.push(spec).is_ok());
    }
    GroupSpec { resources, max_restarts: 1, restart_window_ms: 60_000 }
}

impl Sim {
    pub fn new(scenario: Scenario) -> Sim {
        let rng = Rng::new(scenario.seed ^ 0x5151_5151);
        let aim_rng = Rng::new(scenario.aim.seed);
        let aim_left = scenario.aim.budget;
        let members = (0..3)
            .map(|i| Member {
                id: IDS[i],
                powered: true,
                engine: None,
                boot_true: Micros::ZERO,
                boot: 0,
                ppm: scenario.clock_ppm[i],
                clock_lag_us: 0,
                clock_paused: None,
                hung_until: None,
                late_ms: 0,
                back_at: None,
                relay_off: false,
                leaving_down_ms: None,
                agent_back_at: None,
                watchdog_disarmed: false,
                left_running: None,
                stored: None,
                maintenance_stored: false,
                pending_persist: None,
                seen_stored: 0,
                pending_seen: None,
                last_feed: Micros::ZERO,
                physical: [false; RESOURCES],
                actions: Vec::new(),
                fences: Vec::new(),
            })
            .collect();
        let mut sim = Sim {
            now: Micros::ZERO,
            scenario,
            rng,
            members,
            directions: [[Direction::default(); 2]; 6],
            relay: [RelayMode::Ok; 3],
            resource_fault: [None; 3],
            disk: [DiskMode::default(); 3],
            aim_rng,
            aim_left,
            aimed: Vec::new(),
            accepted: HashMap::new(),
            witness_heard_node_at: Micros::ZERO,
            witness_paused_us: 0,
            reach_since: [[None; 3]; 3],
            operator_fence: false,
            classes: BTreeSet::new(),
            aimed_at: BTreeMap::new(),
            in_flight: BinaryHeap::new(),
            frame_seq: 0,
            grants: HashSet::new(),
            early_grants: HashSet::new(),
            issued: 0,
            max_persisted: 0,
            max_granted: 0,
            violations: Vec::new(),
            tracing: true,
            trace: VecDeque::new(),
            stats: Stats::default(),
            healed: false,
            maintenance_until: None,
            active_faults: Vec::new(),
            next_fault: 0,
            timeline: Vec::new(),
            last_running: [false; 3],
            steps: 0,
            invariant_only: INVARIANT_ONLY.load(std::sync::atomic::Ordering::SeqCst),
        };
        for i in 0..3 {
            sim.boot(i);
        }
        sim
    }

    fn log(&mut self, line: String) {
        if self.trace.len() == TRACE_LINES {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("{:>8.3}s {line}", self.now.0 as f64 / 1e6));
    }

    fn link_spec_for(member: usize) -> (heapless::Vec<u8, 2>, heapless::Vec<LinkSpec, 8>, Vec<usize>) {
        let mut peers = heapless::Vec::new();
        for (i, id) in IDS.iter().enumerate() {
            if i != member {
                peers.push(*id).unwrap();
            }
        }
        let mut links = heapless::Vec::new();
        let mut global = Vec::new();
        for (g, (id, a, b)) in LINKS.iter().enumerate() {
            if *a == member || *b == member {
                let peer = if *a == member { IDS[*b] } else { IDS[*a] };
                links.push(LinkSpec { id: *id, peer }).unwrap();
                global.push(g);
            }
        }
        (peers, links, global)
    }

    fn boot(&mut self, i: usize) {
        self.start_agent(i, false);
    }

    /// Start member `i`'s agent: after power-on (`restart` false: nothing runs), or on a
    /// machine that kept running after its agent exited (`restart`: the resources are as the
    /// last agent left them, and its watchdog, if left armed, runs on until this agent feeds it).
    fn start_agent(&mut self, i: usize, restart: bool) {
        let now = self.now;
        let fence_configured = self.scenario.fence_configured;
        let auto_failback = self.scenario.auto_failback;
        let m = &mut self.members[i];
        m.powered = true;
        m.boot += 1;
        m.boot_true = now;
        m.clock_lag_us = 0;
        m.clock_paused = None;
        m.hung_until = None;
        m.back_at = None;
        m.leaving_down_ms = None;
        m.agent_back_at = None;
        m.watchdog_disarmed = false;
        m.last_feed = now;
        if !restart {
            m.physical = [false; RESOURCES];
        }
        m.actions.clear();
        m.fences.clear();
        m.pending_persist = None;
        m.pending_seen = None;
        let (peers, links, _) = Sim::link_spec_for(i);
        let params = Params { cluster_id: 7, me: m.id, boot: m.boot, peers, links, timing: timing() };
        // What the state directory holds, read the way the shell reads it: the witness's
        // generation; a node's highest seen generation, and what a restarted agent adopts.
        let restored = Restored {
            stored: m.stored,
            seen: m.seen_stored,
            adopted: if i != 0 && restart { m.left_running.take() } else { None },
        };
        let cfg = config::member_config(i, fence_configured, auto_failback);
        let role = RoleConfig::from_config(&cfg, restored, WATCHDOG_MS);
        let mut engine = Engine::new(params, role, Micros::ZERO);
        if i == 0 {
            engine.restore_maintenance(m.maintenance_stored);
        }
        m.engine = Some(engine);
        let boot = m.boot;
        let physical = m.physical;
        self.accepted.retain(|(to, _), _| *to != i);
        self.reach_since[i] = [None; 3];
        if now > Micros::ZERO {
            self.aim(ProtocolEvent::Restart { member: i, agent: restart });
        }
        if restart {
            trace!(self, "member {} agent starts again (boot {boot}), resources {physical:?}", IDS[i]);
        } else {
            trace!(self, "member {} boots (boot {boot})", IDS[i]);
        }
    }

    /// The relay cuts the power: off, and a reboot under way (after a crash or a watchdog
    /// reset) does not complete; only the relay's power-on brings the member back.
    fn relay_cut(&mut self, i: usize, why: &str) {
        if !self.members[i].powered && self.members[i].back_at.take().is_some() {
            trace!(self, "member {} stays off: the relay cut its power while it rebooted", IDS[i]);
        }
        self.power_off(i, why);
        self.members[i].back_at = None;
        self.members[i].relay_off = true;
    }

    fn power_off(&mut self, i: usize, why: &str) {
        let m = &mut self.members[i];
        if !m.powered {
            return;
        }
        m.powered = false;
        m.engine = None;
        m.physical = [false; RESOURCES];
        m.actions.clear();
        m.fences.clear();
        m.pending_persist = None;
        m.pending_seen = None;
        m.hung_until = None;
        m.leaving_down_ms = None;
        m.agent_back_at = None;
        m.watchdog_disarmed = false;
        m.left_running = None;
        trace!(self, "member {} powered off ({why})", IDS[i]);
    }

    // ---- faults --------------------------------------------------------------------------

    fn apply_fault(&mut self, f: Fault) {
        let until = self.now.plus_ms(f.duration_ms);
        trace!(self, "FAULT {:?} for {} ms", f.kind, f.duration_ms);
        match f.kind {
            Crash { member, down_ms, lose_state } => {
                self.power_off(member, "crash");
                if lose_state {
                    self.members[member].stored = None;
                    self.members[member].maintenance_stored = false;
                    if member == 0 {
                        self.issued = 0;
                    }
                }
                if !self.members[member].relay_off {
                    self.members[member].back_at = Some(self.now.plus_ms(down_ms));
                }
            }
            RackPower { down_ms, lose_state } => {
                for member in 0..3 {
                    // The relay boards lose power too and come back closed (power on).
                    self.power_off(member, "rack power loss");
                    self.members[member].relay_off = false;
                    self.members[member].back_at = Some(self.now.plus_ms(down_ms));
                }
                if lose_state {
                    self.members[0].stored = None;
                    self.members[0].maintenance_stored = false;
                    self.issued = 0;
                }
            }
            Hang { member, ms, late_ms } => {
                if self.members[member].powered && self.members[member].engine.is_some() {
                    self.members[member].hung_until = Some(self.now.plus_ms(ms));
                    self.members[member].late_ms = late_ms;
                    if member == 0 {
                        self.witness_paused_us += ms * 1000;
                    }
                }
            }
            ClockPause { member, ms } => {
                let now = self.now;
                let m = &mut self.members[member];
                if m.powered && m.engine.is_some() {
                    m.resume_clock();
                    m.clock_paused = Some((now, now.plus_ms(ms)));
                }
            }
            Partition { a, b, direction } => {
                for (g, (_, x, y)) in LINKS.iter().enumerate() {
                    let forward = (*x, *y) == (a, b);
                    if forward || (*x, *y) == (b, a) {
                        // direction 0: a->b; in this link's terms 0 is x->y.
                        let (ab, ba) = if forward { (0, 1) } else { (1, 0) };
                        if direction != 1 {
                            self.directions[g][ab].cut = true;
                        }
                        if direction != 0 {
                            self.directions[g][ba].cut = true;
                        }
                    }
                }
            }
            Replay { link, delay_ms } => {
                for d in &mut self.directions[link] {
                    d.replay_delay_ms = delay_ms;
                }
            }
            Disk { member, slow_ms, fail_per_mille } => {
                self.disk[member] = DiskMode { slow_ms, fail_per_mille };
            }
            Move => {
                let holder = self.witness_state().map_or(0, |s| s.holder);
                let to = if holder == NODE_A { NODE_B } else { NODE_A };
                let result = self.witness_command(WitnessCommand::Move(to));
                trace!(self, "operator: move to {to}: {result:?}");
            }
            Cut { link, direction } => {
                if direction != 1 {
                    self.directions[link][0].cut = true;
                }
                if direction != 0 {
                    self.directions[link][1].cut = true;
                }
            }
            Isolate { member } => {
                for (g, (_, a, b)) in LINKS.iter().enumerate() {
                    if *a == member || *b == member {
                        self.directions[g][0].cut = true;
                        self.directions[g][1].cut = true;
                    }
                }
            }
            Delay { link, base_ms, jitter_ms } => {
                for d in &mut self.directions[link] {
                    d.base_ms = base_ms;
                    d.jitter_ms = jitter_ms;
                }
            }
            Duplicate { link, per_mille } => {
                for d in &mut self.directions[link] {
                    d.duplicate_per_mille = per_mille;
                }
            }
            Corrupt { link, per_mille } => {
                for d in &mut self.directions[link] {
                    d.corrupt_per_mille = per_mille;
                }
            }
            Leave { node, down_ms } => {
                let now = self.now;
                let m = &mut self.members[node];
                if m.running(now) && m.leaving_down_ms.is_none() {
                    m.leaving_down_ms = Some(down_ms);
                    let local = m.local(now);
                    let leave = m.engine.as_mut().unwrap().request_leave(local);
                    use ha_agent::core::authority::Leave as L;
                    match leave {
                        Some(L::HandOver) => self.stats.leaves[0] += 1,
                        Some(L::Idle) => self.stats.leaves[1] += 1,
                        Some(L::Untouched) => self.stats.leaves[2] += 1,
                        None => {}
                    }
                    trace!(self, "operator: SIGTERM to the agent of {}: {leave:?}", IDS[node]);
                }
            }
            Relay { node, mode } => self.relay[node] = mode,
            Resource { node, fault } => self.resource_fault[node] = Some(fault),
            Maintenance => {
                if f.duration_ms > 0 {
                    let result = self.witness_command(WitnessCommand::Maintenance(true));
                    trace!(self, "operator: maintenance on: {result:?}");
                    self.maintenance_until = Some(until);
                }
            }
        }
        if !matches!(
            f.kind,
            Crash { .. }
                | RackPower { .. }
                | Hang { .. }
                | ClockPause { .. }
                | Maintenance
                | Leave { .. }
                | Move
        ) {
            self.active_faults.push((until, f));
        }
    }

    fn recompute_links(&mut self) {
        self.directions = [[Direction::default(); 2]; 6];
        self.relay = [RelayMode::Ok; 3];
        self.resource_fault = [None; 3];
        self.disk = [DiskMode::default(); 3];
        let active: Vec<Fault> = self.active_faults.iter().map(|(_, f)| *f).collect();
        for f in active {
            let saved = self.trace.len();
            self.apply_fault(Fault { duration_ms: 0, ..f });
            // apply_fault re-pushes; keep the list as it was.
            self.active_faults.pop();
            while self.trace.len() > saved {
                self.trace.pop_back();
            }
        }
    }

    fn heal(&mut self) {
        self.healed = true;
        self.active_faults.clear();
        self.aimed.clear();
        self.recompute_links();
        self.log("HEAL: every fault repaired".into());
        for i in 0..3 {
            if !self.members[i].powered {
                if !self.members[i].relay_off {
                    self.boot(i);
                }
            } else if self.members[i].engine.is_none() {
                self.start_agent(i, true);
            }
            self.members[i].hung_until = None;
            self.members[i].resume_clock();
        }
        self.end_maintenance();
        // The operator cleans up resource failures once the faults are repaired.
        let now = self.now;
        for m in self.members.iter_mut().skip(1) {
            let local = m.local(now);
            if let Some(e) = m.engine.as_mut() {
                e.cleanup(local);
            }
        }
    }

    // ---- the loop ------------------------------------------------------------------------

    fn next_event(&self) -> Micros {
        let mut next = Micros::MAX;
        if let Some(Reverse((at, ..))) = self.in_flight.peek() {
            next = next.min(*at);
        }
        if let Some(f) = self.scenario.faults.get(self.next_fault) {
            next = next.min(Micros::from_ms(f.at_ms));
        }
        for (at, _) in &self.aimed {
            next = next.min(*at);
        }
        for (until, _) in &self.active_faults {
            next = next.min(*until);
        }
        if !self.healed {
            next = next.min(Micros::from_ms(self.scenario.heal_at_ms));
        }
        if let Some(at) = self.maintenance_until {
            next = next.min(at);
        }
        for m in &self.members {
            if let Some(b) = m.back_at {
                next = next.min(b);
            }
            if !m.powered {
                continue;
            }
            if let Some(b) = m.agent_back_at {
                next = next.min(b);
            }
            if let Some((_, until)) = m.clock_paused {
                next = next.min(until);
            }
            if m.engine.is_none() {
                if !m.watchdog_disarmed {
                    next = next.min(m.last_feed.plus_ms(WATCHDOG_MS).plus_us(1));
                }
                continue;
            }
            if let Some(h) = m.hung_until {
                // A hung process has no deadlines of its own until it resumes.
                next = next.min(h).min(m.last_feed.plus_ms(WATCHDOG_MS).plus_us(1));
                continue;
            }
            next = next.min(m.last_feed.plus_ms(WATCHDOG_MS).plus_us(1)).min(m.next_own());
        }
        next
    }

    fn final_state(&self) -> String {
        let mut s = String::from("final state:");
        for m in &self.members {
            let _ = write!(s, "\n  member {} powered {} physical {:?}", m.id, m.powered, m.physical);
            if let Some(e) = &m.engine {
                if let Some(w) = e.witness() {
                    let _ = write!(
                        s,
                        " witness durable {:?} startup {} switching {} fencing {:?}",
                        w.durable(),
                        w.in_startup(),
                        w.switching(),
                        w.fencing()
                    );
                    for id in [NODE_A, NODE_B] {
                        let _ = write!(s, "\n    report of {id}: {:?}", w.report(id));
                    }
                }
                if let Some((n, g)) = e.node() {
                    let _ = write!(
                        s,
                        " node acting {} max_seen {} quorum {} group {:?}",
                        n.acting(),
                        n.max_seen(),
                        n.has_quorum(),
                        g.state()
                    );
                }
                let _ = write!(s, "\n    view {:?}", e.view());
            }
        }
        s
    }

    fn diagnose(&self) -> String {
        let mut s = String::new();
        for m in &self.members {
            if let Some(e) = &m.engine {
                let local = m.local(self.now);
                let _ = write!(
                    s,
                    "[member {} local {} poll_timeout {} membership {} feed {}] ",
                    m.id,
                    local,
                    e.poll_timeout(),
                    e.membership().poll_timeout(),
                    m.last_feed
                );
                if let Some((n, g)) = e.node() {
                    let _ =
                        write!(s, "(node {} group {} {:?}) ", n.poll_timeout(), g.poll_timeout(), g.state());
                }
                if let Some(w) = e.witness() {
                    let _ = write!(s, "(witness {}) ", w.poll_timeout());
                }
            }
        }
        s
    }

    /// Run the scenario to the end of the liveness window.
    /// Advance the world to `ms` of true time (for specification tests).
    pub fn run_until(&mut self, ms: u64) {
        let end = Micros::from_ms(ms);
        while self.now < end && self.violations.is_empty() {
            let next = self.next_event().max(self.now);
            if next > end {
                self.now = end;
                break;
            }
            self.now = next;
            self.steps += 1;
            if self.steps > MAX_STEPS {
                let diag = self.diagnose();
                self.violations.push(format!(
                    "the simulation does not progress at {} (a deadline that never moves): {diag}",
                    self.now
                ));
                break;
            }
            // A release assertion of the core that fails is found like any other violation.
            let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.step()));
            if let Err(payload) = stepped {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                self.violations.push(format!("ASSERTION in the core: {message}"));
                break;
            }
            self.observe();
        }
    }

    // ---- inspection, for specification tests ----------------------------------------------

    pub fn now_ms(&self) -> u64 {
        self.now.as_ms()
    }
    pub fn violations(&self) -> &[String] {
        &self.violations
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    pub fn trace(&self) -> &VecDeque<String> {
        &self.trace
    }
    /// Node ids whose resources are not stopped (physical truth), powered ones only.
    pub fn running_nodes(&self) -> Vec<u8> {
        self.members.iter().skip(1).filter(|m| m.resources_not_stopped()).map(|m| m.id).collect()
    }
    /// (generation, holder) the witness has stored, if it is up.
    pub fn witness_state(&self) -> Option<Stored> {
        self.members[0].engine.as_ref().and_then(|e| e.witness()).map(|w| w.durable())
    }
    pub fn group_state(&self, node: u8) -> Option<GroupState> {
        let m = self.members.iter().find(|m| m.id == node)?;
        m.engine.as_ref()?.node().map(|(_, g)| g.state())
    }
    pub fn powered(&self, id: u8) -> bool {
        self.members.iter().any(|m| m.id == id && m.powered)
    }
    /// Every change of a node's physical resource state: (ms, node, running).
    pub fn timeline(&self) -> &[(u64, u8, bool)] {
        &self.timeline
    }
    /// When `node` first had resources not stopped at or after `from_ms`.
    pub fn first_start_after(&self, node: u8, from_ms: u64) -> Option<u64> {
        self.timeline.iter().find(|(t, n, r)| *t >= from_ms && *n == node && *r).map(|(t, ..)| *t)
    }
    /// An operator command at the witness (as `ha-agent move|standby|online|fence|maintenance`
    /// would give it); `Err` when the witness is down or refuses.
    pub fn witness_command(&mut self, command: WitnessCommand) -> Result<(), &'static str> {
        let now = self.now;
        let m = &mut self.members[0];
        if !m.powered || m.hung_until.is_some() {
            return Err("the witness is not running");
        }
        let local = m.local(now);
        let result = match m.engine.as_mut() {
            Some(e) => e.witness_command(local, command),
            None => Err("the witness is not running"),
        };
        if result.is_ok() && matches!(command, WitnessCommand::Fence(_)) {
            self.operator_fence = true;
        }
        if result.is_ok() {
            // The shell stores maintenance mode before it answers.
            if let WitnessCommand::Maintenance(on) = command {
                self.members[0].maintenance_stored = on;
            }
        }
        result
    }

    /// The operator turns maintenance off; a witness that is down or hung gets it when it is
    /// back (the operator insists; here: its stored flag is cleared).
    fn end_maintenance(&mut self) {
        if self.maintenance_until.take().is_none() && !self.members[0].maintenance_stored {
            return;
        }
        let result = self.witness_command(WitnessCommand::Maintenance(false));
        if result.is_err() {
            self.members[0].maintenance_stored = false;
            if let Some(e) = self.members[0].engine.as_mut() {
                e.restore_maintenance(false);
            }
        }
        trace!(self, "operator: maintenance off: {result:?}");
    }

    /// Whether the witness is in maintenance mode (false when it is down).
    pub fn witness_maintenance(&self) -> bool {
        self.members[0].engine.as_ref().is_some_and(|e| e.maintenance())
    }

    /// Ask the witness to move the service to `node` (operator `move`).
    pub fn request_move(&mut self, node: u8) {
        let now = self.now;
        let m = &mut self.members[0];
        let local = m.local(now);
        if let Some(e) = m.engine.as_mut() {
            e.request_move(local, node);
        }
    }

    /// Run the scenario to the end of the liveness window.
    pub fn run(mut self) -> SimResult {
        let end_ms = self.scenario.heal_at_ms + LIVENESS_BOUND_MS;
        // Advance in slices so that a run restored early stops after 5 s of stability.
        while self.now.as_ms() < end_ms && self.violations.is_empty() {
            let slice_end = (self.now.as_ms() + 1000).min(end_ms);
            self.run_until(slice_end);
            if let Some(restore_ms) = self.stats.restore_ms {
                if self.now.as_ms() > self.scenario.heal_at_ms + restore_ms + 5_000 {
                    break;
                }
            }
        }
        if self.violations.is_empty() && self.stats.restore_ms.is_none() {
            let state = self.final_state();
            self.log(state);
            self.violations.push(format!(
                "liveness: the service did not run on a healthy node within {LIVENESS_BOUND_MS} ms after the faults healed"
            ));
        }
        SimResult {
            scenario: self.scenario,
            violations: self.violations,
            stats: self.stats,
            trace: self.trace,
            classes: self.classes,
            aimed_at: self.aimed_at,
        }
    }

    fn step(&mut self) {
        let now = self.now;
        // Whether anything outside the agents changed: then every member runs this step;
        // otherwise only those with a frame or something of their own due.
        let mut all = false;
        // Scheduled faults, their ends, the heal.
        while let Some(f) = self.scenario.faults.get(self.next_fault).copied() {
            if Micros::from_ms(f.at_ms) > now {
                break;
            }
            self.next_fault += 1;
            if !self.healed {
                self.classes.insert(f.kind.class());
                self.apply_fault(f);
                all = true;
            }
        }
        // Faults aimed at protocol events, when their time comes.
        while let Some(i) = self.aimed.iter().position(|(at, _)| *at <= now) {
            let (_, f) = self.aimed.remove(i);
            if !self.healed {
                let heal = Micros::from_ms(self.scenario.heal_at_ms);
                let duration_ms = f.duration_ms.min(heal.since_us(now) / 1000).max(1);
                self.classes.insert(f.kind.class());
                self.apply_fault(Fault { duration_ms, ..f });
                all = true;
            }
        }
        for i in 0..3 {
            if self.members[i].clock_paused.is_some_and(|(_, until)| until <= now) {
                self.members[i].resume_clock();
                all = true;
                trace!(self, "member {} clock runs again", IDS[i]);
            }
        }
        let before = self.active_faults.len();
        self.active_faults.retain(|(until, _)| *until > now);
        if self.active_faults.len() != before {
            self.recompute_links();
            all = true;
            self.log("a fault ended".into());
        }
        if !self.healed && now >= Micros::from_ms(self.scenario.heal_at_ms) {
            self.heal();
            all = true;
        }
        if self.maintenance_until.is_some_and(|at| now >= at) {
            self.end_maintenance();
            all = true;
        }
        for i in 0..3 {
            if self.members[i].back_at.is_some_and(|b| now >= b) {
                self.boot(i);
                all = true;
            }
            if self.members[i].powered && self.members[i].agent_back_at.is_some_and(|b| now >= b) {
                self.start_agent(i, true);
                all = true;
            }
        }
        // Watchdogs: a member that has not fed its watchdog for its timeout is reset.
        for i in 0..3 {
            let m = &self.members[i];
            if m.powered && !m.watchdog_disarmed && now.since_us(m.last_feed) > WATCHDOG_MS * 1000 {
                self.stats.watchdog_resets += 1;
                self.power_off(i, "watchdog reset");
                self.members[i].back_at = Some(now.plus_ms(1000));
                all = true;
            }
        }
        // Deliver frames that are due.
        let mut got_frame = [false; 3];
        while let Some(Reverse((at, ..))) = self.in_flight.peek() {
            if *at > now {
                break;
            }
            let Reverse((_, _, to, link_index, packet)) = self.in_flight.pop().unwrap();
            if packet.2.is_some_and(|boot| boot != self.members[to].boot) {
                // It waited in the buffers of an agent that is gone (reset, restarted).
                continue;
            }
            if !self.members[to].running(now) {
                // A hung process reads its socket later; a powered-off one never.
                let m = &self.members[to];
                if m.powered && m.engine.is_some() && m.hung_until.is_some() {
                    let late_ms = m.late_ms;
                    let mut at = m.hung_until.unwrap();
                    if late_ms > 0 {
                        at = at.plus_us(self.rng.range(0, late_ms * 1000));
                    }
                    let m = &self.members[to];
                    let boot = Some(m.boot);
                    self.frame_seq += 1;
                    let packet = MessageBox(packet.0, packet.1, boot);
                    self.in_flight.push(Reverse((at, self.frame_seq, to, link_index, packet)));
                }
                continue;
            }
            let m = &mut self.members[to];
            let local = m.local(now);
            let engine = m.engine.as_mut().unwrap();
            let header = packet.0;
            let verdict = engine.handle_frame(local, Some(link_index), &header, &packet.1);
            got_frame[to] = true;
            if verdict == Verdict::Accepted {
                self.check_replay(to, link_index, &header);
                if to == 0 {
                    self.witness_heard_node_at = now;
                    self.witness_paused_us = 0;
                }
            }
        }
        for i in 0..3 {
            if all || got_frame[i] || self.members[i].next_own() <= now {
                self.run_member(i);
            }
        }
    }

    fn run_member(&mut self, i: usize) {
        let now = self.now;
        if !self.members[i].running(now) {
            return;
        }
        self.members[i].hung_until = None;
        // Completed OCF actions, relay results, durable writes.
        let done: Vec<_> = {
            let m = &mut self.members[i];
            let (done, pending): (Vec<_>, Vec<_>) = m.actions.drain(..).partition(|a| a.3 <= now);
            m.actions = pending;
            done
        };
        for (id, resource, action, _, outcome) in done {
            {
                let m = &mut self.members[i];
                match (action, outcome) {
                    (resources::Action::Stop, Outcome::Success | Outcome::NotRunning) => {
                        m.physical[resource] = false
                    }
                    (resources::Action::Monitor, Outcome::NotRunning) => m.physical[resource] = false,
                    _ => {}
                }
                let local = m.local(now);
                m.engine.as_mut().unwrap().handle_resource_result(local, id, outcome);
            }
        }
        let fences: Vec<_> = {
            let m = &mut self.members[i];
            let (done, pending): (Vec<_>, Vec<_>) = m.fences.drain(..).partition(|f| f.1 <= now);
            m.fences = pending;
            done
        };
        for (node, _, result) in fences {
            trace!(self, "relay result for {}: {result:?}", IDS[node]);
            let m = &mut self.members[i];
            let local = m.local(now);
            m.engine.as_mut().unwrap().handle_fence_result(local, IDS[node], result);
        }
        if let Some((stored, at, fails)) = self.members[i].pending_persist {
            if at <= now && fails {
                // The shell panics rather than announce what is not durable; the agent is
                // restarted (its stored state as it was).
                self.members[i].pending_persist = None;
                trace!(self, "member {} cannot write its state: the agent crashes", IDS[i]);
                let m = &mut self.members[i];
                m.engine = None;
                m.actions.clear();
                m.fences.clear();
                m.pending_seen = None;
                m.agent_back_at = Some(now.plus_ms(AGENT_RESTART_MS));
                return;
            }
            if at <= now {
                self.members[i].pending_persist = None;
                self.members[i].stored = Some(stored);
                self.persisted(stored);
                let m = &mut self.members[i];
                let local = m.local(now);
                m.engine.as_mut().unwrap().handle_persisted(local, stored);
            }
        }
        if let Some((generation, at, fails)) = self.members[i].pending_seen {
            if at <= now && fails {
                // The shell logs a failed write of the seen generation and tells the core.
                self.members[i].pending_seen = None;
                trace!(self, "member {} cannot store generation {generation}", IDS[i]);
                let m = &mut self.members[i];
                let local = m.local(now);
                m.engine.as_mut().unwrap().handle_seen_failed(local, generation);
            } else if at <= now {
                let m = &mut self.members[i];
                m.pending_seen = None;
                m.seen_stored = m.seen_stored.max(generation);
                let local = m.local(now);
                m.engine.as_mut().unwrap().handle_seen_persisted(local, generation);
            }
        }
        // Timers.
        {
            let m = &mut self.members[i];
            let local = m.local(now);
            m.engine.as_mut().unwrap().handle_timeout(local);
        }
        // Outputs.
        let (_, _, global_links) = Sim::link_spec_for(i);
        loop {
            let local = self.members[i].local(now);
            let Some((link_index, header, msg)) =
                self.members[i].engine.as_mut().unwrap().poll_transmit(local)
            else {
                break;
            };
            self.transmit(i, global_links[link_index], header, msg);
        }
        if i == 0 {
            // An early grant announced in this step is a grant before what follows it (a
            // power-on), as a grant stored after the release was.
            self.observe_early_grant();
        }
        loop {
            let Some(action) = self.members[i].engine.as_mut().unwrap().poll_action() else { break };
            self.carry_out(i, action);
        }
        loop {
            let Some(event) = self.members[i].engine.as_mut().unwrap().poll_event() else { break };
            self.note_event(i, event);
        }
        // N3: the shell feeds the watchdog while the loop runs and the core allows it.
        if self.members[i].engine.as_ref().unwrap().feed_allowed() {
            self.members[i].last_feed = now;
        }
        // An agent asked to leave exits once its core allows it (the shell's exit): the
        // machine runs on, resources as they are; the watchdog is disarmed only when nothing
        // runs (the shell's magic close), else it stays armed.
        let m = &mut self.members[i];
        if let Some(down_ms) = m.leaving_down_ms {
            let local = m.local(now);
            if m.engine.as_ref().unwrap().may_exit(local) {
                let (node, group) = m.engine.as_ref().unwrap().node().unwrap();
                m.left_running = (!group.is_stopped() && node.acting() > 0).then(|| node.acting());
                m.engine = None;
                m.actions.clear();
                m.pending_seen = None;
                m.leaving_down_ms = None;
                m.agent_back_at = Some(now.plus_ms(down_ms));
                m.watchdog_disarmed = !m.physical.iter().any(|&p| p);
                let physical = m.physical;
                trace!(self, "member {} agent exited, resources {physical:?}", IDS[i]);
            }
        }
    }

    fn transmit(&mut self, from: usize, global_link: usize, header: Header, msg: Message) {
        let (_, a, b) = LINKS[global_link];
        let (to, dir) = if from == a { (b, 0) } else { (a, 1) };
        let d = self.directions[global_link][dir];
        if d.cut {
            return;
        }
        let to_link_index = Sim::link_spec_for(to).2.iter().position(|&g| g == global_link).unwrap();
        let copies = if self.rng.chance(d.duplicate_per_mille) { 2 } else { 1 };
        for _ in 0..copies {
            if self.rng.chance(d.corrupt_per_mille) {
                // The MAC (or CRC) rejects it at the receiver.
                if self.members[to].running(self.now) {
                    let m = &mut self.members[to];
                    if let Some(e) = m.engine.as_mut() {
                        e.handle_rx_error(to_link_index, RxError::Auth);
                    }
                }
                continue;
            }
            let latency_us = 200
                + d.base_ms * 1000
                + if d.jitter_ms > 0 { self.rng.range(0, d.jitter_ms * 1000) } else { 0 };
            self.frame_seq += 1;
            self.in_flight.push(Reverse((
                self.now.plus_us(latency_us),
                self.frame_seq,
                to,
                to_link_index,
                MessageBox(header, msg.clone(), None),
            )));
        }
        if d.replay_delay_ms > 0 {
            // Recorded on the wire, sent again later (it passes the MAC: only the sequence
            // number can tell it is old).
            self.frame_seq += 1;
            self.in_flight.push(Reverse((
                self.now.plus_ms(d.replay_delay_ms),
                self.frame_seq,
                to,
                to_link_index,
                MessageBox(header, msg, None),
            )));
        }
    }

    fn carry_out(&mut self, i: usize, action: Action) {
        let now = self.now;
        match action {
            Action::Persist(stored) => {
                let (at, fails) = self.disk_write(i);
                // An early grant is stored while the node it replaces is being fenced: W1 holds,
                // and faults are aimed at it, when it is announced (`observe_early_grant`). A
                // record written again without its mark is no grant.
                let rewrite = self.witness_state() == Some(stored);
                if stored.holder != 0 && stored.pending_fence == 0 && !rewrite {
                    let node = IDS.iter().position(|&id| id == stored.holder).unwrap();
                    self.check_grant_released(node, stored.generation);
                    self.aim(ProtocolEvent::Grant { node });
                }
                self.members[i].pending_persist = Some((stored, at, fails));
            }
            Action::PersistSeen(generation) => {
                let (at, fails) = self.disk_write(i);
                self.members[i].pending_seen = Some((generation, at, fails));
                self.aim(ProtocolEvent::Store { node: i });
            }
            Action::PowerOff(node_id) => {
                let node = IDS.iter().position(|&id| id == node_id).unwrap();
                self.count_needless_fence(node);
                self.check_fence_not_isolated(node_id);
                self.check_fence_not_reached(node);
                // A fault aimed at the fence (a lying relay) applies before the relay answers.
                self.aim(ProtocolEvent::Fence { node });
                self.run_due_aimed();
                let latency = Micros::from_ms(self.rng.range(50, 1500));
                let result = match self.relay[node] {
                    RelayMode::Ok => {
                        self.relay_cut(node, "fenced by the witness");
                        self.stats.fences += 1;
                        FenceResult::Confirmed
                    }
                    RelayMode::NoAnswer | RelayMode::Stuck => FenceResult::Failed,
                    RelayMode::Unconfirmed { really_cut } => {
                        if really_cut {
                            self.relay_cut(node, "relay cut power (unconfirmed)");
                        }
                        FenceResult::Unconfirmed
                    }
                };
                trace!(self, "witness commands relay OFF for {node_id}");
                self.members[i].fences.push((node, now.plus_us(latency.0), result));
            }
            Action::PowerOn(node_id) => {
                let node = IDS.iter().position(|&id| id == node_id).unwrap();
                if !self.members[node].powered && matches!(self.relay[node], RelayMode::Ok) {
                    trace!(self, "witness commands relay ON for {node_id}");
                    let boots_in_ms = self.rng.range(500, 3000);
                    self.members[node].relay_off = false;
                    self.members[node].back_at = Some(now.plus_ms(boots_in_ms));
                    self.aim(ProtocolEvent::PowerOn { node, boots_in_ms });
                }
            }
            Action::Resource(req) => {
                let fault = self.resource_fault[i];
                let took = Micros::from_ms(self.rng.range(10, 400));
                let (done_at, outcome) = match (req.action, fault) {
                    (resources::Action::Start, Some(ResourceFault::StartFails)) => {
                        (now.plus_us(took.0), Outcome::Failed(1))
                    }
                    (resources::Action::Start, Some(ResourceFault::StartHangs)) => {
                        (now.plus_ms(req.timeout_ms), Outcome::TimedOut)
                    }
                    (resources::Action::Stop, Some(ResourceFault::StopFails)) => {
                        (now.plus_us(took.0), Outcome::Failed(1))
                    }
                    (resources::Action::Stop, Some(ResourceFault::StopHangs)) => {
                        (now.plus_ms(req.timeout_ms), Outcome::TimedOut)
                    }
                    (resources::Action::Monitor, Some(ResourceFault::Dies)) => {
                        (now.plus_us(took.0), Outcome::NotRunning)
                    }
                    (resources::Action::Monitor, _) if !self.members[i].physical[req.resource] => {
                        (now.plus_us(took.0), Outcome::NotRunning)
                    }
                    _ => (now.plus_us(took.0), Outcome::Success),
                };
                if req.action == resources::Action::Start {
                    // From the moment a start begins, the resource is not stopped.
                    self.members[i].physical[req.resource] = true;
                    self.check_grant(i, req.generation);
                }
                if req.action == resources::Action::Stop && self.members[i].physical[req.resource] {
                    self.aim(ProtocolEvent::Stop { node: i });
                }
                self.members[i].actions.push((req.id, req.resource, req.action, done_at, outcome));
            }
        }
    }

    fn persisted(&mut self, stored: Stored) {
        if stored.pending_fence != 0 {
            trace!(
                self,
                "witness persisted generation {} holder {} pending the fence of {}",
                stored.generation,
                stored.holder,
                stored.pending_fence
            );
            self.early_grants.insert((stored.generation, stored.holder));
            let (known, by) = self.max_known();
            if stored.generation < known && !self.invariant_only {
                self.violations.push(format!(
                    "generation went backwards: early grant {} to {} while {by} knows {known}",
                    stored.generation, stored.holder
                ));
            }
            return;
        }
        self.early_grants.remove(&(stored.generation, stored.holder));
        self.granted(stored, "persisted");
    }

    /// The witness announced an early grant it stored (its frames carry it now): W1 then, and
    /// from then on it is a grant like one announced once stored.
    fn observe_early_grant(&mut self) {
        let Some(d) = self.witness_state() else { return };
        if d.holder != 0 && self.early_grants.remove(&(d.generation, d.holder)) {
            self.granted(d, "announced the early grant of");
            let node = IDS.iter().position(|&id| id == d.holder).unwrap();
            self.aim(ProtocolEvent::Grant { node });
        }
    }

    /// A grant the witness's frames may carry from now on (`how`: stored, or announced).
    fn granted(&mut self, stored: Stored, how: &str) {
        trace!(self, "witness {how} generation {} holder {}", stored.generation, stored.holder);
        // The generation is a fencing token: a grant is never below one a node knows (a
        // generation that only a witness which lost its state ever knew is not a token anyone
        // can show; it is granted again).
        if stored.holder != 0 {
            // W1 again once the grant is durable: nothing started meanwhile on the other node.
            let node = IDS.iter().position(|&id| id == stored.holder).unwrap();
            self.check_grant_released(node, stored.generation);
            self.issued = self.issued.max(stored.generation);
        }
        let (known, by) = self.max_known();
        if stored.holder != 0 && stored.generation < known && !self.invariant_only {
            self.violations.push(format!(
                "generation went backwards: granted {} to {} while {by} knows {known}",
                stored.generation, stored.holder
            ));
        }
        if stored.holder != 0
            && self.grants.insert((stored.generation, stored.holder))
            && stored.generation > self.max_granted
        {
            if self.max_granted > 0 {
                self.stats.failovers += 1;
            }
            self.max_granted = stored.generation;
        }
        self.max_persisted = self.max_persisted.max(stored.generation);
    }

    fn check_grant(&mut self, i: usize, generation: u64) {
        if self.invariant_only {
            return;
        }
        if !self.grants.contains(&(generation, IDS[i])) {
            self.violations.push(format!(
                "node {} starts resources under generation {generation} that was never granted to it",
                IDS[i]
            ));
        } else if generation < self.issued {
            self.violations.push(format!(
                "W1: node {} starts resources under generation {generation} after the witness gave it up for generation {}",
                IDS[i], self.issued
            ));
        } else {
            let (known, by) = self.max_known();
            if generation < known {
                self.violations.push(format!(
                    "N1: node {} starts resources under generation {generation} while {by} knows {known}",
                    IDS[i]
                ));
            }
        }
    }

    /// The highest generation a node knows (stored, or seen by its running agent), and which:
    /// among the nodes the witness has a report from since it started (W4 adopts what it
    /// hears; a witness that lost its state cannot know what a node out of its reach since
    /// then knows, see docs/design.md, "Known limits").
    fn max_known(&self) -> (u64, u8) {
        let mut best = (0, 0);
        let witness = self.members[0].engine.as_ref().and_then(|e| e.witness());
        for m in self.members.iter().skip(1) {
            if witness.is_some_and(|w| w.report(m.id).is_none()) {
                continue;
            }
            let seen = m.engine.as_ref().and_then(|e| e.node()).map_or(0, |(n, _)| n.max_seen());
            let g = m.seen_stored.max(seen);
            if g > best.0 {
                best = (g, m.id);
            }
        }
        best
    }

    /// W1 as the truth sees it: the witness stores a grant to `node` only when no other node
    /// can still run resources (it reported its stop, it is fenced or its watchdog deadline
    /// passed: each means that it is powered off or has its resources stopped).
    fn check_grant_released(&mut self, node: usize, generation: u64) {
        if self.invariant_only {
            return;
        }
        let other = 3 - node;
        if self.members[other].resources_not_stopped() {
            self.violations.push(format!(
                "W1: the witness grants generation {generation} to {} while {} still runs resources {:?}",
                IDS[node], IDS[other], self.members[other].physical
            ));
        }
    }

    /// A fence of a node that was alive and reachable (not an operator's): [`Stats::needless_fences`].
    fn count_needless_fence(&mut self, node: usize) {
        let m = &self.members[node];
        let stuck = m
            .engine
            .as_ref()
            .and_then(|e| e.node())
            .is_some_and(|(_, g)| matches!(g.state(), GroupState::Stopping | GroupState::StopFailed));
        let link_works = LINKS.iter().enumerate().any(|(g, (_, a, b))| {
            (*a, *b) == (0, node) && !self.directions[g][0].cut && !self.directions[g][1].cut
        });
        if !self.operator_fence && m.running(self.now) && link_works && !stuck {
            self.stats.needless_fences += 1;
            trace!(self, "needless fence: {} is alive and reachable", IDS[node]);
        }
    }

    /// W3 as the truth sees it: the witness commands a relay only while it reaches a node, so
    /// it must have accepted a frame from one within `dead_ms` (its clock may be slow or
    /// paused by as much as the clock faults allow).
    fn check_fence_not_isolated(&mut self, node_id: u8) {
        if std::mem::take(&mut self.operator_fence) || self.invariant_only {
            return;
        }
        let bound_ms = DEAD_MS + DEAD_MS * CLOCK_PPM_BOUND as u64 / 1_000_000 + CLOCK_PAUSE_MAX_MS + 1;
        let silent_ms =
            self.now.since_us(self.witness_heard_node_at).saturating_sub(self.witness_paused_us) / 1000;
        if silent_ms > bound_ms {
            self.violations.push(format!(
                "W3: the witness fences {node_id} although it heard no node for {silent_ms} ms of its running time (isolated)"
            ));
        }
    }

    /// W2 as the truth sees it: the witness fences a node it does not reach only when the
    /// other node does not reach it either. Its word may be as old as the latest frame the
    /// witness accepted from it: `dead_ms` plus the slowest frame ([`W2_WORD_AGE_MS`]).
    fn check_fence_not_reached(&mut self, node: usize) {
        if self.invariant_only {
            return;
        }
        let other = 3 - node;
        let Some(w) = self.members[0].engine.as_ref() else { return };
        let witness_reaches = w.view().reaches(IDS[node]);
        let stop_failed = w
            .witness()
            .and_then(|w| w.report(IDS[node]))
            .is_some_and(|r| r.resources == ha_agent::core::authority::ResState::StopFailed);
        if witness_reaches || stop_failed || !self.members[other].running(self.now) {
            return;
        }
        let word = w.view().peer(IDS[other]).map(|p| p.reaches.clone());
        if let Some(since) = self.reach_since[other][node] {
            let ms = self.now.since_us(since) / 1000;
            if ms > W2_WORD_AGE_MS {
                self.violations.push(format!(
                    "W2: the witness fences {} although {} has reached it for {ms} ms (its word at the witness: reaches {word:?})",
                    IDS[node], IDS[other]
                ));
            }
        }
    }

    /// Replay rejection as the truth sees it: on each link a member accepts a frame only if
    /// its (boot, seq) is newer than the latest it accepted there.
    fn check_replay(&mut self, to: usize, link_index: usize, header: &Header) {
        let key = (header.boot, header.seq);
        if let Some(latest) = self.accepted.insert((to, link_index), key) {
            if key <= latest && !self.invariant_only {
                self.violations.push(format!(
                    "replay: member {} accepted frame {key:?} from {} on link {} after {latest:?}",
                    IDS[to], header.sender, header.link
                ));
            }
        }
    }

    /// A durable write on member `i`'s disk: when it completes, and whether it fails.
    fn disk_write(&mut self, i: usize) -> (Micros, bool) {
        let disk = self.disk[i];
        let mut us = self.rng.range(500, 20_000);
        if disk.slow_ms > 0 {
            us += self.rng.range(0, disk.slow_ms * 1000);
        }
        (self.now.plus_us(us), self.rng.chance(disk.fail_per_mille))
    }

    /// A protocol event: maybe aim a fault at it (the seed's chance and budget).
    fn aim(&mut self, event: ProtocolEvent) {
        // An agent that comes back after an orderly stop is rare: it does not spend the budget.
        let agent_restart = matches!(event, ProtocolEvent::Restart { member, agent: true } if member != 0);
        if self.healed
            || (self.aim_left == 0 && !agent_restart)
            || !self.aim_rng.chance(self.scenario.aim.per_mille)
        {
            return;
        }
        if !agent_restart {
            self.aim_left -= 1;
        }
        *self.aimed_at.entry(event.name()).or_default() += 1;
        for (delay_ms, fault) in schedule::aimed(&mut self.aim_rng, event) {
            trace!(self, "AIM at {event:?}: in {delay_ms} ms for {} ms: {:?}", fault.duration_ms, fault.kind);
            self.aimed.push((self.now.plus_ms(delay_ms), fault));
        }
    }

    /// Apply the aimed faults that are due now (a relay that lies for the fence under way).
    fn run_due_aimed(&mut self) {
        let now = self.now;
        while let Some(i) = self.aimed.iter().position(|(at, f)| *at <= now && matches!(f.kind, Relay { .. }))
        {
            let (_, f) = self.aimed.remove(i);
            self.classes.insert(f.kind.class());
            self.apply_fault(f);
        }
    }

    fn note_event(&mut self, i: usize, event: Event) {
        use ha_agent::core::authority::Notice;
        if let Event::Membership(ha_agent::core::membership::Event::Peer { peer, to, .. }) = event {
            let p = IDS.iter().position(|&id| id == peer).unwrap();
            let reachable = to == ha_agent::core::membership::PeerState::Reachable;
            self.reach_since[i][p] = reachable.then_some(self.now);
        }
        if let Event::Authority(Notice::SelfFenceArmed) = event {
            self.stats.self_fences += 1;
        }
        let interesting = !matches!(
            event,
            Event::Resources(
                resources::Event::ResourceStarted { .. } | resources::Event::ResourceStopped { .. }
            )
        );
        if interesting {
            trace!(self, "member {}: {event:?}", IDS[i]);
        }
    }

    fn observe(&mut self) {
        for i in 1..3 {
            let r = self.members[i].resources_not_stopped();
            if r != self.last_running[i] {
                self.last_running[i] = r;
                self.timeline.push((self.now.as_ms(), IDS[i], r));
            }
        }
        self.observe_early_grant();
        let running: Vec<u8> =
            self.members.iter().skip(1).filter(|m| m.resources_not_stopped()).map(|m| m.id).collect();
        if running.len() > 1 {
            self.violations
                .push(format!("SPLIT BRAIN: nodes {running:?} both powered with resources not stopped"));
        }
        if self.healed && self.stats.restore_ms.is_none() {
            let now = self.now;
            let served = self.members.iter().skip(1).any(|m| {
                m.running(now)
                    && m.engine
                        .as_ref()
                        .and_then(|e| e.node())
                        .is_some_and(|(_, g)| g.state() == GroupState::Running)
            });
            if served {
                self.stats.restore_ms = Some(now.since_us(Micros::from_ms(self.scenario.heal_at_ms)) / 1000);
            }
        }
    }
}

/// Whether a violation is one of safety (not liveness, not a simulation that stalls): what
/// the self-test against a deliberately broken build must find.
pub fn is_safety(violation: &str) -> bool {
    !violation.starts_with("liveness") && !violation.starts_with("the simulation does not progress")
}

/// Bound on the failing seeds a summary lists.
pub const MAX_FAILING_LISTED: usize = 20;

/// Run one seed, with its trace.
pub fn run_seed(seed: u64) -> SimResult {
    Sim::new(Scenario::from_seed(seed)).run()
}

/// Run one seed without keeping a trace (faster; the result is the same).
pub fn run_seed_quiet(seed: u64) -> SimResult {
    let mut sim = Sim::new(Scenario::from_seed(seed));
    sim.tracing = false;
    sim.run()
}

/// Totals over many seeds.
#[derive(Default, Debug, Clone)]
pub struct Summary {
    pub schedules: u64,
    pub violations: u64,
    pub failovers: u64,
    pub fences: u64,
    pub self_fences: u64,
    pub watchdog_resets: u64,
    pub needless_fences: u64,
    /// Schedules with a needless fence, and the lowest such seed.
    pub needless_schedules: u64,
    pub needless_first_seed: Option<u64>,
    pub worst_restore_ms: u64,
    pub worst_restore_seed: u64,
    pub first_failure: Option<u64>,
    /// The first seed with a violation of safety (the self-test of a broken build).
    pub first_safety: Option<u64>,
    /// Seeds with a violation, and the first of each (at most [`MAX_FAILING_LISTED`]).
    pub failing: Vec<(u64, String)>,
    /// Schedules with at least one fault of each class (scheduled or aimed).
    pub fault_classes: BTreeMap<&'static str, u64>,
    /// Schedules with a fault aimed at each kind of protocol event, and aimed faults in all.
    pub aimed_at: BTreeMap<&'static str, u64>,
    pub aimed_faults: u64,
    /// Agent stops by how the node left: hand-over, idle, untouched (maintenance).
    pub leaves: [u64; 3],
}

impl Summary {
    pub fn add(&mut self, r: &SimResult) {
        self.schedules += 1;
        for c in &r.classes {
            *self.fault_classes.entry(c).or_default() += 1;
        }
        for (e, n) in &r.aimed_at {
            *self.aimed_at.entry(e).or_default() += 1;
            self.aimed_faults += n;
        }
        for (t, n) in self.leaves.iter_mut().zip(r.stats.leaves) {
            *t += n;
        }
        self.failovers += r.stats.failovers;
        self.fences += r.stats.fences;
        self.self_fences += r.stats.self_fences;
        self.watchdog_resets += r.stats.watchdog_resets;
        self.needless_fences += r.stats.needless_fences;
        if r.stats.needless_fences > 0 {
            self.needless_schedules += 1;
            let seed = r.scenario.seed;
            self.needless_first_seed = Some(self.needless_first_seed.map_or(seed, |s| s.min(seed)));
        }
        if let Some(ms) = r.stats.restore_ms {
            if ms > self.worst_restore_ms {
                self.worst_restore_ms = ms;
                self.worst_restore_seed = r.scenario.seed;
            }
        }
        if !r.violations.is_empty() {
            self.violations += 1;
            if self.failing.len() < MAX_FAILING_LISTED {
                self.failing.push((r.scenario.seed, r.violations[0].clone()));
            }
            if self.first_failure.is_none_or(|s| r.scenario.seed < s) {
                self.first_failure = Some(r.scenario.seed);
            }
        }
        if r.violations.iter().any(|v| is_safety(v)) && self.first_safety.is_none_or(|s| r.scenario.seed < s)
        {
            self.first_safety = Some(r.scenario.seed);
        }
    }
    pub fn merge(&mut self, o: &Summary) {
        self.schedules += o.schedules;
        for (c, n) in &o.fault_classes {
            *self.fault_classes.entry(c).or_default() += n;
        }
        for (e, n) in &o.aimed_at {
            *self.aimed_at.entry(e).or_default() += n;
        }
        self.aimed_faults += o.aimed_faults;
        for (t, n) in self.leaves.iter_mut().zip(o.leaves) {
            *t += n;
        }
        self.violations += o.violations;
        for f in &o.failing {
            if self.failing.len() < MAX_FAILING_LISTED {
                self.failing.push(f.clone());
            }
        }
        self.failovers += o.failovers;
        self.fences += o.fences;
        self.self_fences += o.self_fences;
        self.watchdog_resets += o.watchdog_resets;
        self.needless_fences += o.needless_fences;
        self.needless_schedules += o.needless_schedules;
        self.needless_first_seed = match (self.needless_first_seed, o.needless_first_seed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if o.worst_restore_ms > self.worst_restore_ms {
            self.worst_restore_ms = o.worst_restore_ms;
            self.worst_restore_seed = o.worst_restore_seed;
        }
        if let Some(s) = o.first_failure {
            if self.first_failure.is_none_or(|f| s < f) {
                self.first_failure = Some(s);
            }
        }
        if let Some(s) = o.first_safety {
            if self.first_safety.is_none_or(|f| s < f) {
                self.first_safety = Some(s);
            }
        }
    }
}

/// Run seeds `first..first+count` on `threads` threads; stop early at the first violation of
/// safety when `stop_at_first` (seeds below it all finish, so it is the first in order).
pub fn run_many(first: u64, count: u64, threads: usize, stop_at_first: bool) -> Summary {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let next = Arc::new(AtomicU64::new(first));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let next = next.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut s = Summary::default();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= first + count {
                        break;
                    }
                    let r = run_seed_quiet(seed);
                    if stop_at_first && r.violations.iter().any(|v| is_safety(v)) {
                        stop.store(true, Ordering::Relaxed);
                    }
                    s.add(&r);
                }
                s
            })
        })
        .collect();
    let mut total = Summary::default();
    for h in handles {
        total.merge(&h.join().expect("simulation thread"));
    }
    total
}

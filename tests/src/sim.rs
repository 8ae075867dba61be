//! Deterministic simulation of the whole cluster on the real core.
//!
//! Owns a simulated world: true time, three members each running the real [`Engine`] on its
//! own drifting clock, six links (a serial and a UDP link per pair) that can be cut in one or
//! both directions, delayed, jittered (reordered), duplicated and corrupted, a relay per node
//! that can fail, stick or be unable to read back, OCF actions that succeed, fail or hang,
//! hardware watchdogs that reset a member that stops feeding them, power loss with or without
//! the stored state, and process hangs. Every fault parameter comes from one seed and is
//! printed. An observer that knows the truth checks at every step that no two powered nodes
//! have resources that are not stopped, that persisted generations never go backwards, and
//! that a node starts resources only under a generation the witness granted to it; after the
//! faults heal it checks that the service runs again on a healthy node within a bound.
//! It does not encode frames (the MAC's effect is modelled: a corrupted frame is dropped and
//! counted) and it does no I/O.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::fmt::Write as _;

use ha_agent::config::Timing;
use ha_agent::core::authority::fence::{FenceConfig, FenceResult};
use ha_agent::core::authority::node::NodeConfig;
use ha_agent::core::authority::witness::{Stored, WitnessConfig};
use ha_agent::core::authority::AuthorityTiming;
use ha_agent::core::engine::{Action, Engine, Event, RoleConfig, WitnessCommand};
use ha_agent::core::membership::{LinkSpec, Params, RxError};
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
/// Seeds (per mille) with an agent stop (SIGTERM) of one node.
pub const LEAVE_PER_MILLE: u64 = 350;
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

/// A small, fast, seeded generator (xorshift64*); the simulator's only source of randomness.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi);
        lo + self.next() % (hi - lo + 1)
    }
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayMode {
    Ok,
    /// No answer: reported as failed after the driver's timeout.
    NoAnswer,
    /// Acknowledges but the contact never moves: reads back on, fence fails.
    Stuck,
    /// Cannot read back: reported unconfirmed; the power is cut or not (unknown to the core).
    Unconfirmed {
        really_cut: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceFault {
    StartFails,
    StartHangs,
    StopFails,
    StopHangs,
    /// Monitors report "not running": the resource died.
    Dies,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Power loss; back after `down_ms`; the witness may lose its stored state.
    Crash {
        member: usize,
        down_ms: u64,
        lose_state: bool,
    },
    /// The agent process stops (SIGSTOP or a stall) for `ms`.
    Hang {
        member: usize,
        ms: u64,
    },
    /// Cut a link: direction 0 = a->b, 1 = b->a, 2 = both.
    Cut {
        link: usize,
        direction: u8,
    },
    /// Every link of a member, both directions.
    Isolate {
        member: usize,
    },
    Delay {
        link: usize,
        base_ms: u64,
        jitter_ms: u64,
    },
    Duplicate {
        link: usize,
        per_mille: u64,
    },
    Corrupt {
        link: usize,
        per_mille: u64,
    },
    Relay {
        node: usize,
        mode: RelayMode,
    },
    Resource {
        node: usize,
        fault: ResourceFault,
    },
    /// The operator turns maintenance mode on at the witness, and off again at the end (or
    /// at the heal). Not a fault, but the same schedule: whatever else happens meanwhile.
    Maintenance,
    /// The operator stops a node's agent (SIGTERM: `systemctl stop`, an upgrade, a reboot):
    /// it leaves as the core decides (hand-over, at once, or resources untouched in
    /// maintenance) and starts again `down_ms` after it exited, on the same powered machine.
    Leave {
        node: usize,
        down_ms: u64,
    },
}

impl FaultKind {
    /// The class of this fault, for the per-class counts `make sim` prints.
    pub fn class(&self) -> &'static str {
        match self {
            Crash { lose_state: true, .. } => "power loss, state lost",
            Crash { .. } => "power loss",
            Hang { ms, .. } if *ms >= WATCHDOG_MS => "hang beyond the watchdog",
            Hang { .. } => "short hang",
            Cut { direction: 2, .. } => "link cut",
            Cut { .. } => "link cut one way",
            Isolate { .. } => "member isolated",
            Delay { .. } => "link delay and jitter",
            Duplicate { .. } => "duplicated frames",
            Corrupt { .. } => "corrupted frames",
            Relay { mode: RelayMode::NoAnswer, .. } => "relay does not answer",
            Relay { mode: RelayMode::Stuck, .. } => "relay stuck",
            Relay { mode: RelayMode::Unconfirmed { .. }, .. } => "relay cannot read back",
            Relay { .. } => "relay ok",
            Resource { fault: ResourceFault::StartFails, .. } => "start fails",
            Resource { fault: ResourceFault::StartHangs, .. } => "start hangs",
            Resource { fault: ResourceFault::StopFails, .. } => "stop fails",
            Resource { fault: ResourceFault::StopHangs, .. } => "stop hangs",
            Resource { fault: ResourceFault::Dies, .. } => "resource dies",
            Maintenance => "maintenance window",
            Leave { .. } => "agent stop (SIGTERM)",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Fault {
    pub at_ms: u64,
    pub duration_ms: u64,
    pub kind: FaultKind,
}

/// Everything a seed decides.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub clock_ppm: [i64; 3],
    pub faults: Vec<Fault>,
    pub heal_at_ms: u64,
    pub fence_configured: bool,
    /// The witness moves the service back to the preferred node (node A) when it is ready.
    pub auto_failback: bool,
}

impl Scenario {
    pub fn from_seed(seed: u64) -> Scenario {
        let mut rng = Rng::new(seed);
        let clock_ppm = [0, 1, 2].map(|_| rng.range(0, 2 * CLOCK_PPM_BOUND as u64) as i64 - CLOCK_PPM_BOUND);
        let heal_at_ms = rng.range(20_000, 45_000);
        let count = rng.range(1, 7);
        let mut faults = Vec::new();
        for _ in 0..count {
            let at_ms = rng.range(3_000, heal_at_ms - 1000);
            let duration_ms = rng.range(200, (heal_at_ms - at_ms).max(201));
            let link = rng.range(0, 5) as usize;
            let member = rng.range(0, 2) as usize;
            let node = rng.range(1, 2) as usize;
            let kind = match rng.range(0, 10) {
                9 if rng.chance(500) => Maintenance,
                0 => Crash { member, down_ms: rng.range(500, 8000), lose_state: rng.chance(300) },
                1 => Hang {
                    member,
                    ms: if rng.chance(500) {
                        rng.range(100, WATCHDOG_MS - 500)
                    } else {
                        rng.range(WATCHDOG_MS, 12_000)
                    },
                },
                2 => Cut { link, direction: rng.range(0, 2) as u8 },
                3 => Isolate { member },
                4 => Delay { link, base_ms: rng.range(1, 300), jitter_ms: rng.range(0, 200) },
                5 => Duplicate { link, per_mille: rng.range(100, 900) },
                6 => Corrupt { link, per_mille: rng.range(100, 1000) },
                7 => Relay {
                    node,
                    mode: match rng.range(0, 3) {
                        0 => RelayMode::NoAnswer,
                        1 => RelayMode::Stuck,
                        2 => RelayMode::Unconfirmed { really_cut: rng.chance(500) },
                        _ => RelayMode::Ok,
                    },
                },
                _ => Resource {
                    node,
                    fault: match rng.range(0, 4) {
                        0 => ResourceFault::StartFails,
                        1 => ResourceFault::StartHangs,
                        2 => ResourceFault::StopFails,
                        3 => ResourceFault::StopHangs,
                        _ => ResourceFault::Dies,
                    },
                },
            };
            faults.push(Fault { at_ms, duration_ms, kind });
        }
        // Agent stops come from a generator of their own, so that every other fault of a seed
        // is what it was before they existed.
        let mut leave_rng = Rng::new(seed ^ 0x1EA7_E5E5);
        if leave_rng.chance(LEAVE_PER_MILLE) {
            let at_ms = leave_rng.range(3_000, heal_at_ms - 1000);
            let node = leave_rng.range(1, 2) as usize;
            let down_ms = leave_rng.range(100, 2 * WATCHDOG_MS);
            faults.push(Fault { at_ms, duration_ms: 0, kind: Leave { node, down_ms } });
        }
        faults.sort_by_key(|f| f.at_ms);
        Scenario {
            seed,
            clock_ppm,
            faults,
            heal_at_ms,
            fence_configured: rng.chance(800),
            auto_failback: false,
        }
    }

    /// A hand-written scenario (for specification tests), with clocks at true rate.
    pub fn custom(faults: Vec<Fault>, heal_at_ms: u64, fence_configured: bool) -> Scenario {
        let mut faults = faults;
        faults.sort_by_key(|f| f.at_ms);
        Scenario { seed: 0, clock_ppm: [0; 3], faults, heal_at_ms, fence_configured, auto_failback: false }
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "seed {} clock_ppm {:?} fence_configured {} heal_at {} ms\n",
            self.seed, self.clock_ppm, self.fence_configured, self.heal_at_ms
        );
        for f in &self.faults {
            let _ = writeln!(s, "  at {:>6} ms for {:>6} ms: {:?}", f.at_ms, f.duration_ms, f.kind);
        }
        s
    }
}

use FaultKind::*;

#[derive(Clone, Copy, Debug, Default)]
struct Direction {
    cut: bool,
    base_ms: u64,
    jitter_ms: u64,
    duplicate_per_mille: u64,
    corrupt_per_mille: u64,
}

struct Member {
    id: u8,
    powered: bool,
    engine: Option<Engine>,
    /// True time at which this incarnation's clock reads zero.
    boot_true: Micros,
    boot: u64,
    ppm: i64,
    hung_until: Option<Micros>,
    back_at: Option<Micros>,
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
    pending_persist: Option<(Stored, Micros)>,
    /// Nodes: the highest generation stored on disk, and a write in progress.
    seen_stored: u64,
    pending_seen: Option<(u64, Micros)>,
    // watchdog (true time)
    last_feed: Micros,
    // nodes: physical truth per resource, and actions in progress (id, resource, action, done at, outcome)
    physical: [bool; RESOURCES],
    actions: Vec<(u64, usize, resources::Action, Micros, Outcome)>,
    /// Relay results waiting: (node index, done at, result).
    fences: Vec<(usize, Micros, FenceResult)>,
}

impl Member {
    fn local(&self, now: Micros) -> Micros {
        let elapsed = now.since_us(self.boot_true) as i128;
        Micros((elapsed * (1_000_000 + self.ppm as i128) / 1_000_000) as u64)
    }
    fn to_true(&self, local: Micros) -> Micros {
        if local == Micros::MAX {
            return Micros::MAX;
        }
        let t = local.0 as i128 * 1_000_000 / (1_000_000 + self.ppm as i128);
        self.boot_true.plus_us(t as u64 + 1)
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
    pub restore_ms: Option<u64>,
}

pub struct SimResult {
    pub scenario: Scenario,
    pub violations: Vec<String>,
    pub stats: Stats,
    pub trace: VecDeque<String>,
}

pub struct Sim {
    now: Micros,
    scenario: Scenario,
    rng: Rng,
    members: Vec<Member>,
    directions: [[Direction; 2]; 6],
    relay: [RelayMode; 3],
    resource_fault: [Option<ResourceFault>; 3],
    in_flight: BinaryHeap<Reverse<(Micros, u64, usize, usize, MessageBox)>>,
    frame_seq: u64,
    grants: HashSet<(u64, u8)>,
    max_persisted: u64,
    max_granted: u64,
    violations: Vec<String>,
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
}

/// Wrapper to order messages in the heap (ordering only uses the other fields).
#[derive(Clone, Debug)]
struct MessageBox(Header, Message);
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
        let members = (0..3)
            .map(|i| Member {
                id: IDS[i],
                powered: true,
                engine: None,
                boot_true: Micros::ZERO,
                boot: 0,
                ppm: scenario.clock_ppm[i],
                hung_until: None,
                back_at: None,
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
            in_flight: BinaryHeap::new(),
            frame_seq: 0,
            grants: HashSet::new(),
            max_persisted: 0,
            max_granted: 0,
            violations: Vec::new(),
            trace: VecDeque::new(),
            stats: Stats::default(),
            healed: false,
            maintenance_until: None,
            active_faults: Vec::new(),
            next_fault: 0,
            timeline: Vec::new(),
            last_running: [false; 3],
            steps: 0,
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

    fn authority_timing() -> AuthorityTiming {
        AuthorityTiming {
            interval_ms: INTERVAL_MS,
            dead_ms: DEAD_MS,
            initdead_ms: INITDEAD_MS,
            self_fence_ms: SELF_FENCE_MS,
            stop_timeout_ms: group_spec().worst_case_stop_ms(),
            margin_ms: MARGIN_MS,
        }
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
        let role = if i == 0 {
            RoleConfig::Witness {
                config: WitnessConfig {
                    me: WITNESS,
                    nodes: [NODE_A, NODE_B],
                    timing: Sim::authority_timing(),
                    fence: FenceConfig {
                        retry_initial_ms: 500,
                        retry_max_ms: 4000,
                        trust_unconfirmed: false,
                    },
                    fence_enabled: fence_configured,
                    power_on_after_fence: true,
                    preferred: Some(NODE_A),
                    auto_failback,
                    wait_for_all: false,
                    unknown_fence_bound_ms: SELF_FENCE_MS + group_spec().worst_case_stop_ms() + WATCHDOG_MS,
                },
                stored: m.stored,
            }
        } else {
            RoleConfig::Node {
                config: NodeConfig {
                    me: m.id,
                    witness: WITNESS,
                    peer: if i == 1 { NODE_B } else { NODE_A },
                    timing: Sim::authority_timing(),
                    watchdog_ms: WATCHDOG_MS,
                    require_watchdog: true,
                },
                group: group_spec(),
                seen: m.seen_stored,
                adopted: if restart { m.left_running.take() } else { None },
            }
        };
        let mut engine = Engine::new(params, role, Micros::ZERO);
        if i == 0 {
            engine.restore_maintenance(m.maintenance_stored);
        }
        m.engine = Some(engine);
        let boot = m.boot;
        let physical = m.physical;
        if restart {
            self.log(format!("member {} agent starts again (boot {boot}), resources {physical:?}", IDS[i]));
        } else {
            self.log(format!("member {} boots (boot {boot})", IDS[i]));
        }
    }

    /// The relay cuts the power: off, and a reboot under way (after a crash or a watchdog
    /// reset) does not complete; only the relay's power-on brings the member back.
    fn relay_cut(&mut self, i: usize, why: &str) {
        if !self.members[i].powered && self.members[i].back_at.take().is_some() {
            self.log(format!("member {} stays off: the relay cut its power while it rebooted", IDS[i]));
        }
        self.power_off(i, why);
        self.members[i].back_at = None;
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
        self.log(format!("member {} powered off ({why})", IDS[i]));
    }

    // ---- faults --------------------------------------------------------------------------

    fn apply_fault(&mut self, f: Fault) {
        let until = self.now.plus_ms(f.duration_ms);
        self.log(format!("FAULT {:?} for {} ms", f.kind, f.duration_ms));
        match f.kind {
            Crash { member, down_ms, lose_state } => {
                self.power_off(member, "crash");
                if lose_state {
                    self.members[member].stored = None;
                    self.members[member].maintenance_stored = false;
                }
                self.members[member].back_at = Some(self.now.plus_ms(down_ms));
            }
            Hang { member, ms } => {
                if self.members[member].powered && self.members[member].engine.is_some() {
                    self.members[member].hung_until = Some(self.now.plus_ms(ms));
                }
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
                    self.log(format!("operator: SIGTERM to the agent of {}: {leave:?}", IDS[node]));
                }
            }
            Relay { node, mode } => self.relay[node] = mode,
            Resource { node, fault } => self.resource_fault[node] = Some(fault),
            Maintenance => {
                if f.duration_ms > 0 {
                    let result = self.witness_command(WitnessCommand::Maintenance(true));
                    self.log(format!("operator: maintenance on: {result:?}"));
                    self.maintenance_until = Some(until);
                }
            }
        }
        if !matches!(f.kind, Crash { .. } | Hang { .. } | Maintenance | Leave { .. }) {
            self.active_faults.push((until, f));
        }
    }

    fn recompute_links(&mut self) {
        self.directions = [[Direction::default(); 2]; 6];
        self.relay = [RelayMode::Ok; 3];
        self.resource_fault = [None; 3];
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
        self.recompute_links();
        self.log("HEAL: every fault repaired".into());
        for i in 0..3 {
            if !self.members[i].powered {
                self.boot(i);
            } else if self.members[i].engine.is_none() {
                self.start_agent(i, true);
            }
            self.members[i].hung_until = None;
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
            next = next.min(m.last_feed.plus_ms(WATCHDOG_MS).plus_us(1));
            if let Some((_, at)) = m.pending_persist {
                next = next.min(at);
            }
            if let Some((_, at)) = m.pending_seen {
                next = next.min(at);
            }
            for a in &m.actions {
                next = next.min(a.3);
            }
            for f in &m.fences {
                next = next.min(f.1);
            }
            if let Some(e) = &m.engine {
                next = next.min(m.to_true(e.poll_timeout()));
            }
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
            self.step();
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
        self.log(format!("operator: maintenance off: {result:?}"));
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
        }
    }

    fn step(&mut self) {
        let now = self.now;
        // Scheduled faults, their ends, the heal.
        while let Some(f) = self.scenario.faults.get(self.next_fault).copied() {
            if Micros::from_ms(f.at_ms) > now {
                break;
            }
            self.next_fault += 1;
            if !self.healed {
                self.apply_fault(f);
            }
        }
        let before = self.active_faults.len();
        self.active_faults.retain(|(until, _)| *until > now);
        if self.active_faults.len() != before {
            self.recompute_links();
            self.log("a fault ended".into());
        }
        if !self.healed && now >= Micros::from_ms(self.scenario.heal_at_ms) {
            self.heal();
        }
        if self.maintenance_until.is_some_and(|at| now >= at) {
            self.end_maintenance();
        }
        for i in 0..3 {
            if self.members[i].back_at.is_some_and(|b| now >= b) {
                self.boot(i);
            }
            if self.members[i].powered && self.members[i].agent_back_at.is_some_and(|b| now >= b) {
                self.start_agent(i, true);
            }
        }
        // Watchdogs: a member that has not fed its watchdog for its timeout is reset.
        for i in 0..3 {
            let m = &self.members[i];
            if m.powered && !m.watchdog_disarmed && now.since_us(m.last_feed) > WATCHDOG_MS * 1000 {
                self.stats.watchdog_resets += 1;
                self.power_off(i, "watchdog reset");
                self.members[i].back_at = Some(now.plus_ms(1000));
            }
        }
        // Deliver frames that are due.
        while let Some(Reverse((at, ..))) = self.in_flight.peek() {
            if *at > now {
                break;
            }
            let Reverse((_, _, to, link_index, packet)) = self.in_flight.pop().unwrap();
            if !self.members[to].running(now) {
                // A hung process reads its socket later; a powered-off one never.
                let m = &self.members[to];
                if m.powered && m.engine.is_some() && m.hung_until.is_some() {
                    let at = self.members[to].hung_until.unwrap();
                    self.frame_seq += 1;
                    self.in_flight.push(Reverse((at, self.frame_seq, to, link_index, packet)));
                }
                continue;
            }
            let m = &mut self.members[to];
            let local = m.local(now);
            let engine = m.engine.as_mut().unwrap();
            let _ = engine.handle_frame(local, Some(link_index), &packet.0, &packet.1);
        }
        for i in 0..3 {
            self.run_member(i);
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
            self.log(format!("relay result for {}: {result:?}", IDS[node]));
            let m = &mut self.members[i];
            let local = m.local(now);
            m.engine.as_mut().unwrap().handle_fence_result(local, IDS[node], result);
        }
        if let Some((stored, at)) = self.members[i].pending_persist {
            if at <= now {
                self.members[i].pending_persist = None;
                self.members[i].stored = Some(stored);
                self.persisted(stored);
                let m = &mut self.members[i];
                let local = m.local(now);
                m.engine.as_mut().unwrap().handle_persisted(local, stored);
            }
        }
        if let Some((generation, at)) = self.members[i].pending_seen {
            if at <= now {
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
                self.log(format!("member {} agent exited, resources {physical:?}", IDS[i]));
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
                MessageBox(header, msg.clone()),
            )));
        }
    }

    fn carry_out(&mut self, i: usize, action: Action) {
        let now = self.now;
        match action {
            Action::Persist(stored) => {
                let at = now.plus_us(self.rng.range(500, 20_000));
                self.members[i].pending_persist = Some((stored, at));
            }
            Action::PersistSeen(generation) => {
                let at = now.plus_us(self.rng.range(500, 20_000));
                self.members[i].pending_seen = Some((generation, at));
            }
            Action::PowerOff(node_id) => {
                let node = IDS.iter().position(|&id| id == node_id).unwrap();
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
                self.log(format!("witness commands relay OFF for {node_id}"));
                self.members[i].fences.push((node, now.plus_us(latency.0), result));
            }
            Action::PowerOn(node_id) => {
                let node = IDS.iter().position(|&id| id == node_id).unwrap();
                if !self.members[node].powered && matches!(self.relay[node], RelayMode::Ok) {
                    self.log(format!("witness commands relay ON for {node_id}"));
                    self.members[node].back_at = Some(now.plus_ms(self.rng.range(500, 3000)));
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
                self.members[i].actions.push((req.id, req.resource, req.action, done_at, outcome));
            }
        }
    }

    fn persisted(&mut self, stored: Stored) {
        self.log(format!("witness persisted generation {} holder {}", stored.generation, stored.holder));
        if stored.generation < self.max_persisted && self.members[0].stored.is_some() {
            // Only a witness that lost its state may start from below; it must then adopt.
        }
        if stored.holder != 0 {
            if self.grants.insert((stored.generation, stored.holder)) && stored.generation > self.max_granted
            {
                if self.max_granted > 0 {
                    self.stats.failovers += 1;
                }
                self.max_granted = stored.generation;
            } else if stored.generation < self.max_granted {
                self.violations.push(format!(
                    "generation went backwards: granted {} to {} after {}",
                    stored.generation, stored.holder, self.max_granted
                ));
            }
        }
        self.max_persisted = self.max_persisted.max(stored.generation);
    }

    fn check_grant(&mut self, i: usize, generation: u64) {
        if !self.grants.contains(&(generation, IDS[i])) {
            self.violations.push(format!(
                "node {} starts resources under generation {generation} that was never granted to it",
                IDS[i]
            ));
        }
    }

    fn note_event(&mut self, i: usize, event: Event) {
        use ha_agent::core::authority::Notice;
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
            self.log(format!("member {}: {event:?}", IDS[i]));
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

/// Run one seed.
pub fn run_seed(seed: u64) -> SimResult {
    Sim::new(Scenario::from_seed(seed)).run()
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
    pub worst_restore_ms: u64,
    pub worst_restore_seed: u64,
    pub first_failure: Option<u64>,
    /// Schedules with at least one fault of each class.
    pub fault_classes: std::collections::BTreeMap<&'static str, u64>,
    /// Agent stops by how the node left: hand-over, idle, untouched (maintenance).
    pub leaves: [u64; 3],
}

impl Summary {
    pub fn add(&mut self, r: &SimResult) {
        self.schedules += 1;
        let classes: std::collections::BTreeSet<&'static str> =
            r.scenario.faults.iter().map(|f| f.kind.class()).collect();
        for c in classes {
            *self.fault_classes.entry(c).or_default() += 1;
        }
        for (t, n) in self.leaves.iter_mut().zip(r.stats.leaves) {
            *t += n;
        }
        self.failovers += r.stats.failovers;
        self.fences += r.stats.fences;
        self.self_fences += r.stats.self_fences;
        self.watchdog_resets += r.stats.watchdog_resets;
        if let Some(ms) = r.stats.restore_ms {
            if ms > self.worst_restore_ms {
                self.worst_restore_ms = ms;
                self.worst_restore_seed = r.scenario.seed;
            }
        }
        if !r.violations.is_empty() {
            self.violations += 1;
            if self.first_failure.is_none_or(|s| r.scenario.seed < s) {
                self.first_failure = Some(r.scenario.seed);
            }
        }
    }
    pub fn merge(&mut self, o: &Summary) {
        self.schedules += o.schedules;
        for (c, n) in &o.fault_classes {
            *self.fault_classes.entry(c).or_default() += n;
        }
        for (t, n) in self.leaves.iter_mut().zip(o.leaves) {
            *t += n;
        }
        self.violations += o.violations;
        self.failovers += o.failovers;
        self.fences += o.fences;
        self.self_fences += o.self_fences;
        self.watchdog_resets += o.watchdog_resets;
        if o.worst_restore_ms > self.worst_restore_ms {
            self.worst_restore_ms = o.worst_restore_ms;
            self.worst_restore_seed = o.worst_restore_seed;
        }
        if let Some(s) = o.first_failure {
            if self.first_failure.is_none_or(|f| s < f) {
                self.first_failure = Some(s);
            }
        }
    }
}

/// Run seeds `first..first+count` on `threads` threads; stop early at the first violation
/// when `stop_at_first`.
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
                    let r = run_seed(seed);
                    if !r.violations.is_empty() && stop_at_first {
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

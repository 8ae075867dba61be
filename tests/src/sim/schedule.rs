//! What a seed decides: the simulator's fault schedule.
//!
//! Owns the seeded generator, the fault kinds and their classes, and the drawing of a
//! [`Scenario`] from a seed: swarm testing (each seed enables a random subset of the fault
//! classes, with its own number of faults and intensities) and the parameters of the faults
//! aimed at protocol events ([`Aim`]: how often, how many, how soon after the event). It does
//! not run anything: [`super::Sim`] applies the schedule and, while it runs, draws the aimed
//! faults from [`Aim`]'s own generator when it observes a grant, a fence, a stop, a restart,
//! a store or the witness powering a node on.

use std::fmt::Write as _;

use super::{CLOCK_PPM_BOUND, WATCHDOG_MS};

/// Seeds (per mille) in which each fault group is enabled (swarm testing).
pub const GROUP_ENABLED_PER_MILLE: u64 = 450;
/// Seeds (per mille) with an agent stop of node A besides the swarm's faults.
pub const EXTRA_LEAVE_PER_MILLE: u64 = 450;
/// Bound on scheduled faults in one seed.
pub const MAX_FAULTS: u64 = 8;
/// Longest pause of one member's clock. The witness's watchdog deadline has `margin_ms`
/// (1000 ms in the simulator) for clock rates, frame latency and the feed period; a pause of a
/// node's clock delays its self-fence by as much, so it must fit in that margin with the rest.
pub const CLOCK_PAUSE_MAX_MS: u64 = 300;
/// Latest delivery, after a paused process runs again, of the frames that waited meanwhile.
pub const STALL_LATE_MAX_MS: u64 = 300;
/// Slowest durable write of a slow disk (per write).
pub const DISK_SLOW_MAX_MS: u64 = 4000;
/// Longest delay between recording a frame and replaying it.
pub const REPLAY_DELAY_MAX_MS: u64 = 5000;
/// Longest delay from a protocol event to the fault aimed at it.
pub const AIM_DELAY_MAX_MS: u64 = 600;
/// Bound on faults aimed at protocol events in one seed.
pub const AIM_BUDGET_MAX: u64 = 4;

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
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as u64 - 1) as usize]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayMode {
    Ok,
    /// No answer: reported as failed after the driver's timeout.
    NoAnswer,
    /// Lies: acknowledges "off" but the contact never moves; the read-back says on, the
    /// fence fails.
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
    /// Power loss of the whole rack; every member back after `down_ms` (the witness's stored
    /// state kept or lost).
    RackPower {
        down_ms: u64,
        lose_state: bool,
    },
    /// The agent process stops (SIGSTOP or a stall) for `ms`. The frames that waited in its
    /// buffers meanwhile are read up to `late_ms` after it runs again (a virtual machine's
    /// devices deliver what they queued during a stall of the host a little later).
    Hang {
        member: usize,
        ms: u64,
        late_ms: u64,
    },
    /// The member's clock stands still for `ms` while its process runs on (it feeds its
    /// watchdog, but none of its timers advance); then it runs again at its rate, behind.
    ClockPause {
        member: usize,
        ms: u64,
    },
    /// Cut a link: direction 0 = a->b, 1 = b->a, 2 = both.
    Cut {
        link: usize,
        direction: u8,
    },
    /// Both links between members `a` and `b`: direction 0 = a->b, 1 = b->a, 2 = both.
    Partition {
        a: usize,
        b: usize,
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
    /// Someone on the link records every frame and sends it again `delay_ms` later.
    Replay {
        link: usize,
        delay_ms: u64,
    },
    Relay {
        node: usize,
        mode: RelayMode,
    },
    Resource {
        node: usize,
        fault: ResourceFault,
    },
    /// The member's durable writes take up to `slow_ms` more, and fail with this chance (a
    /// witness whose state write fails crashes and restarts, as its shell does; a node's
    /// failed write of the seen generation is only logged).
    Disk {
        member: usize,
        slow_ms: u64,
        fail_per_mille: u64,
    },
    /// The operator turns maintenance mode on at the witness, and off again at the end (or
    /// at the heal). Not a fault, but the same schedule: whatever else happens meanwhile.
    Maintenance,
    /// The operator moves the service to the node that does not hold it (W5 switchover).
    Move,
    /// The operator stops a node's agent (SIGTERM: `systemctl stop`, an upgrade, a reboot):
    /// it leaves as the core decides (hand-over, at once, or resources untouched in
    /// maintenance) and starts again `down_ms` after it exited, on the same powered machine.
    Leave {
        node: usize,
        down_ms: u64,
    },
}

use FaultKind::*;

impl FaultKind {
    /// The class of this fault, for the per-class counts `make sim` prints.
    pub fn class(&self) -> &'static str {
        match self {
            Crash { lose_state: true, .. } => "power loss, state lost",
            Crash { .. } => "power loss",
            RackPower { lose_state: true, .. } => "rack power loss, state lost",
            RackPower { .. } => "rack power loss",
            Hang { ms, .. } if *ms >= WATCHDOG_MS => "pause beyond the watchdog",
            Hang { .. } => "short pause",
            ClockPause { .. } => "clock pause",
            Cut { direction: 2, .. } => "link cut",
            Cut { .. } => "link cut one way",
            Partition { direction: 2, .. } => "pair partitioned",
            Partition { .. } => "pair partitioned one way",
            Isolate { .. } => "member isolated",
            Delay { .. } => "link delay and jitter",
            Duplicate { .. } => "duplicated frames",
            Corrupt { .. } => "corrupted frames",
            Replay { .. } => "replayed frames",
            Relay { mode: RelayMode::NoAnswer, .. } => "relay does not answer",
            Relay { mode: RelayMode::Stuck, .. } => "relay lies (says off, stays on)",
            Relay { mode: RelayMode::Unconfirmed { .. }, .. } => "relay cannot read back",
            Relay { .. } => "relay ok",
            Resource { fault: ResourceFault::StartFails, .. } => "start fails",
            Resource { fault: ResourceFault::StartHangs, .. } => "start hangs",
            Resource { fault: ResourceFault::StopFails, .. } => "stop fails",
            Resource { fault: ResourceFault::StopHangs, .. } => "stop hangs",
            Resource { fault: ResourceFault::Dies, .. } => "resource dies",
            Disk { fail_per_mille: 0, .. } => "slow disk",
            Disk { .. } => "failing disk",
            Maintenance => "maintenance window",
            Move => "operator move",
            Leave { .. } => "agent stop (SIGTERM)",
        }
    }
}

/// The groups swarm testing enables or not per seed, each with the kinds it draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Crash,
    RackPower,
    Pause,
    ClockPause,
    Cut,
    Partition,
    Isolate,
    Delay,
    Duplicate,
    Corrupt,
    Replay,
    Relay,
    Resource,
    Disk,
    Maintenance,
    Move,
    Leave,
}

pub const GROUPS: [Group; 17] = [
    Group::Crash,
    Group::RackPower,
    Group::Pause,
    Group::ClockPause,
    Group::Cut,
    Group::Partition,
    Group::Isolate,
    Group::Delay,
    Group::Duplicate,
    Group::Corrupt,
    Group::Replay,
    Group::Relay,
    Group::Resource,
    Group::Disk,
    Group::Maintenance,
    Group::Move,
    Group::Leave,
];

#[derive(Clone, Copy, Debug)]
pub struct Fault {
    pub at_ms: u64,
    pub duration_ms: u64,
    pub kind: FaultKind,
}

/// How this seed aims faults at protocol events (a grant, a fence, a stop, a restart, a
/// store): the chance per event, how many at most, and the generator they are drawn from.
#[derive(Clone, Debug)]
pub struct Aim {
    pub per_mille: u64,
    pub budget: u64,
    pub seed: u64,
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
    /// The fault groups this seed enables (swarm testing); empty for hand-written scenarios.
    pub groups: Vec<Group>,
    pub aim: Aim,
}

/// Draw one fault of `group`.
fn draw(rng: &mut Rng, group: Group) -> FaultKind {
    let link = rng.range(0, 5) as usize;
    let member = rng.range(0, 2) as usize;
    let node = rng.range(1, 2) as usize;
    match group {
        Group::Crash => Crash { member, down_ms: rng.range(500, 8000), lose_state: rng.chance(300) },
        Group::RackPower => RackPower { down_ms: rng.range(500, 5000), lose_state: rng.chance(500) },
        Group::Pause => Hang {
            member,
            ms: if rng.chance(500) {
                rng.range(100, WATCHDOG_MS - 500)
            } else {
                rng.range(WATCHDOG_MS, 12_000)
            },
            late_ms: rng.range(0, STALL_LATE_MAX_MS),
        },
        Group::ClockPause => ClockPause { member, ms: rng.range(50, CLOCK_PAUSE_MAX_MS) },
        Group::Cut => Cut { link, direction: rng.range(0, 2) as u8 },
        Group::Partition => {
            let (a, b) = rng.pick(&[(0, 1), (0, 2), (1, 2)]);
            Partition { a, b, direction: rng.range(0, 2) as u8 }
        }
        Group::Isolate => Isolate { member },
        Group::Delay => Delay { link, base_ms: rng.range(1, 300), jitter_ms: rng.range(0, 200) },
        Group::Duplicate => Duplicate { link, per_mille: rng.range(100, 900) },
        Group::Corrupt => Corrupt { link, per_mille: rng.range(100, 1000) },
        Group::Replay => Replay { link, delay_ms: rng.range(100, REPLAY_DELAY_MAX_MS) },
        Group::Relay => Relay {
            node,
            mode: match rng.range(0, 3) {
                0 => RelayMode::NoAnswer,
                1 => RelayMode::Stuck,
                2 => RelayMode::Unconfirmed { really_cut: rng.chance(500) },
                _ => RelayMode::Ok,
            },
        },
        Group::Resource => Resource {
            node,
            fault: match rng.range(0, 4) {
                0 => ResourceFault::StartFails,
                1 => ResourceFault::StartHangs,
                2 => ResourceFault::StopFails,
                3 => ResourceFault::StopHangs,
                _ => ResourceFault::Dies,
            },
        },
        Group::Disk => Disk {
            member,
            slow_ms: rng.range(0, DISK_SLOW_MAX_MS),
            fail_per_mille: if rng.chance(500) { 0 } else { rng.range(50, 500) },
        },
        Group::Maintenance => Maintenance,
        Group::Move => Move,
        // Mostly node A, the preferred node: it holds the service more often.
        Group::Leave => {
            Leave { node: if rng.chance(700) { 1 } else { 2 }, down_ms: rng.range(100, 2 * WATCHDOG_MS) }
        }
    }
}

impl Scenario {
    pub fn from_seed(seed: u64) -> Scenario {
        let mut rng = Rng::new(seed);
        let clock_ppm = [0, 1, 2].map(|_| rng.range(0, 2 * CLOCK_PPM_BOUND as u64) as i64 - CLOCK_PPM_BOUND);
        let heal_at_ms = rng.range(20_000, 45_000);
        // Swarm testing: a random subset of the groups (at least one), a random intensity.
        let mut groups: Vec<Group> =
            GROUPS.into_iter().filter(|_| rng.chance(GROUP_ENABLED_PER_MILLE)).collect();
        if groups.is_empty() {
            groups.push(rng.pick(&GROUPS));
        }
        let count = rng.range(1, MAX_FAULTS);
        let mut faults = Vec::new();
        // Besides the swarm's own, some seeds stop node A's agent once (the holder, mostly).
        let extra_leave = rng.chance(EXTRA_LEAVE_PER_MILLE);
        for n in 0..count + u64::from(extra_leave) {
            let at_ms = rng.range(3_000, heal_at_ms - 1000);
            let duration_ms = rng.range(200, (heal_at_ms - at_ms).max(201));
            let kind = if n == count {
                Leave { node: 1, down_ms: rng.range(100, 2 * WATCHDOG_MS) }
            } else {
                let group = rng.pick(&groups);
                draw(&mut rng, group)
            };
            let duration_ms = if matches!(kind, Leave { .. } | Move) { 0 } else { duration_ms };
            faults.push(Fault { at_ms, duration_ms, kind });
            if let Leave { node, down_ms } = kind {
                // Most of the time the other node is away while this agent leaves and comes back
                // (the witness then has nobody to hand the service to): until about when it
                // starts again (the stop, the wait for a hand-over, `down_ms`).
                if rng.chance(700) {
                    let away_ms = down_ms + rng.range(2_500, 4_000);
                    faults.push(Fault { at_ms, duration_ms: away_ms, kind: Isolate { member: 3 - node } });
                }
            }
        }
        faults.sort_by_key(|f| f.at_ms);
        let fence_configured = rng.chance(800);
        let auto_failback = rng.chance(300);
        let aim = Aim {
            per_mille: rng.pick(&[0, 150, 400, 700, 1000]),
            budget: rng.range(1, AIM_BUDGET_MAX),
            seed: seed ^ 0xA1A1_5EED,
        };
        Scenario { seed, clock_ppm, faults, heal_at_ms, fence_configured, auto_failback, groups, aim }
    }

    /// A hand-written scenario (for specification tests), with clocks at true rate and no
    /// aimed faults.
    pub fn custom(faults: Vec<Fault>, heal_at_ms: u64, fence_configured: bool) -> Scenario {
        let mut faults = faults;
        faults.sort_by_key(|f| f.at_ms);
        Scenario {
            seed: 0,
            clock_ppm: [0; 3],
            faults,
            heal_at_ms,
            fence_configured,
            auto_failback: false,
            groups: Vec::new(),
            aim: Aim { per_mille: 0, budget: 0, seed: 0 },
        }
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "seed {} clock_ppm {:?} fence_configured {} auto_failback {} heal_at {} ms\n  groups {:?}\n  aimed faults: {} per mille of events, at most {}\n",
            self.seed,
            self.clock_ppm,
            self.fence_configured,
            self.auto_failback,
            self.heal_at_ms,
            self.groups,
            self.aim.per_mille,
            self.aim.budget
        );
        for f in &self.faults {
            let _ = writeln!(s, "  at {:>6} ms for {:>6} ms: {:?}", f.at_ms, f.duration_ms, f.kind);
        }
        s
    }
}

/// A protocol event the simulator observes, at which it may aim a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolEvent {
    /// The witness starts storing a grant to `node` (between a grant and its durable store).
    Grant { node: usize },
    /// The witness commands a relay off for `node` (during a fence).
    Fence { node: usize },
    /// A node starts stopping resources that run (while a stop runs).
    Stop { node: usize },
    /// A member's agent started: after power-on, or (`agent`) again on a machine that kept
    /// running after its agent exited.
    Restart { member: usize, agent: bool },
    /// A node starts storing a generation it was granted or saw.
    Store { node: usize },
    /// The witness powers `node` on again; it boots `boots_in_ms` later.
    PowerOn { node: usize, boots_in_ms: u64 },
}

impl ProtocolEvent {
    pub fn name(self) -> &'static str {
        match self {
            ProtocolEvent::Grant { .. } => "grant",
            ProtocolEvent::Fence { .. } => "fence",
            ProtocolEvent::Stop { .. } => "stop",
            ProtocolEvent::Restart { .. } => "restart",
            ProtocolEvent::Store { .. } => "store",
            ProtocolEvent::PowerOn { .. } => "power-on",
        }
    }
}

/// How far from the witness's watchdog deadline a story aimed at it ends a node's isolation.
pub const AT_DEADLINE_MS: u64 = 300;

/// The witness's watchdog deadline for a node cut off from everyone, from the cut: `dead_ms +
/// interval_ms + fence_bound_ms + margin_ms` (docs/design.md, "Lost holder (W2)").
fn w1_deadline_ms() -> u64 {
    use super::{DEAD_MS, INTERVAL_MS, MARGIN_MS, SELF_FENCE_MS};
    let fence_bound_ms = SELF_FENCE_MS + super::group_spec().worst_case_stop_ms() + WATCHDOG_MS;
    DEAD_MS + INTERVAL_MS + fence_bound_ms + MARGIN_MS
}

/// A relay that fails to fence, for a story that needs the witness to wait for the watchdog
/// deadline instead (harmless without a relay).
fn failing_relay(rng: &mut Rng, node: usize) -> FaultKind {
    let mode = match rng.range(0, 2) {
        0 => RelayMode::NoAnswer,
        1 => RelayMode::Stuck,
        _ => RelayMode::Unconfirmed { really_cut: false },
    };
    Relay { node, mode }
}

/// The faults aimed at `event`: each `(delay_ms after the event, fault)`, drawn from the
/// aim's generator. Most are one fault; a few are short stories of several, for situations
/// that need them (a holder cut off long enough for the watchdog deadline while its relay
/// fails; a node that is cut off right after its grant, with its store slow, and later hears
/// its peer before the witness, often right at the witness's watchdog deadline; a node whose agent restarts and is heard once by the witness,
/// then cut off). A relay aimed at a fence lies for the fence under way.
pub fn aimed(rng: &mut Rng, event: ProtocolEvent) -> Vec<(u64, Fault)> {
    const W: usize = 0;
    let delay_ms = rng.range(0, AIM_DELAY_MAX_MS);
    let duration_ms = rng.range(300, 20_000);
    let other = |n: usize| 3 - n;
    let one = |kind| vec![(delay_ms, Fault { at_ms: 0, duration_ms, kind })];
    let fault = |kind, duration_ms| Fault { at_ms: 0, duration_ms, kind };
    // Longer than the watchdog deadline (about 15 s in the simulator), or not.
    let long_ms = rng.range(8_000, 25_000);
    match event {
        ProtocolEvent::Grant { node } => match rng.range(0, 8) {
            0 => one(Crash { member: W, down_ms: rng.range(500, 4000), lose_state: rng.chance(400) }),
            1 => one(Crash { member: node, down_ms: rng.range(500, 4000), lose_state: false }),
            2 => one(Partition { a: node, b: other(node), direction: rng.range(0, 2) as u8 }),
            3 => one(Disk { member: node, slow_ms: rng.range(500, DISK_SLOW_MAX_MS), fail_per_mille: 0 }),
            4 => vec![
                (delay_ms, fault(Isolate { member: node }, long_ms)),
                (0, fault(failing_relay(rng, node), long_ms + 1000)),
            ],
            5 => vec![
                (delay_ms, fault(Partition { a: node, b: W, direction: rng.range(0, 2) as u8 }, long_ms)),
                (0, fault(failing_relay(rng, node), long_ms + 1000)),
            ],
            7 if rng.chance(500) => {
                // Its stop will fail or hang when it is cut off a little later: a node that
                // starves its watchdog is reset; the witness waits for the deadline.
                let stop = if rng.chance(500) { ResourceFault::StopFails } else { ResourceFault::StopHangs };
                vec![
                    (0, fault(Resource { node, fault: stop }, long_ms + 5_000)),
                    (rng.range(1_000, 3_000), fault(Isolate { member: node }, long_ms)),
                    (0, fault(failing_relay(rng, node), long_ms + 5_000)),
                ]
            }
            6 => {
                let back_ms = rng.range(1_000, 8_000);
                // Half the time it hears its peer again right at the witness's watchdog
                // deadline: the witness, counting on its self-fence, grants the peer while it
                // may still start under the grant it never acted on (N2 voids it; behind
                // that, the peer check holds the new holder back).
                // The witness's disk is slow then too (its grant is stored late).
                let at_deadline = rng.chance(500);
                let cut_ms = if at_deadline {
                    w1_deadline_ms() + rng.range(0, 2 * AT_DEADLINE_MS) - AT_DEADLINE_MS
                } else {
                    long_ms
                };
                let mut story = vec![
                    (0, fault(Disk { member: node, slow_ms: rng.range(200, 3000), fail_per_mille: 0 }, 3000)),
                    (rng.range(0, 100), fault(Isolate { member: node }, cut_ms)),
                    (delay_ms, fault(Partition { a: node, b: W, direction: 2 }, cut_ms + back_ms)),
                    (0, fault(failing_relay(rng, node), cut_ms + back_ms)),
                ];
                if at_deadline {
                    let slow = Disk { member: W, slow_ms: rng.range(300, 1500), fail_per_mille: 0 };
                    story.push((w1_deadline_ms() - 1000, fault(slow, 2000)));
                }
                story
            }
            _ => one(Isolate { member: W }),
        },
        ProtocolEvent::Fence { node } => match rng.range(0, 5) {
            0 | 1 => vec![(0, fault(failing_relay(rng, node), long_ms))],
            2 => one(Isolate { member: W }),
            3 if rng.chance(500) => vec![
                // The relay fails for this fence and the witness's agent crashes once the early
                // grant is stored, before its rewrite; it is back within a second, while the lost
                // node (cut off, not yet self-fenced) may still run: the mark must not be taken
                // for an announcement (docs/design.md, "Early grant", E5).
                (0, fault(failing_relay(rng, node), long_ms)),
                (
                    rng.range(20, 150),
                    fault(Crash { member: W, down_ms: rng.range(300, 1000), lose_state: false }, long_ms),
                ),
            ],
            3 => one(Crash { member: W, down_ms: rng.range(500, 4000), lose_state: rng.chance(300) }),
            4 => one(Partition { a: W, b: other(node), direction: 2 }),
            _ => one(Hang { member: W, ms: rng.range(200, 2500), late_ms: rng.range(0, STALL_LATE_MAX_MS) }),
        },
        ProtocolEvent::Stop { node } => match rng.range(0, 6) {
            0 => one(Crash { member: node, down_ms: rng.range(500, 4000), lose_state: false }),
            1 => one(Hang { member: node, ms: rng.range(WATCHDOG_MS, 8000), late_ms: 0 }),
            2 => vec![
                (delay_ms, fault(Isolate { member: node }, long_ms)),
                (0, fault(failing_relay(rng, node), long_ms)),
            ],
            3 => one(Partition { a: node, b: W, direction: rng.range(0, 2) as u8 }),
            4 => one(Resource { node, fault: ResourceFault::StopHangs }),
            5 => one(Resource { node, fault: ResourceFault::StopFails }),
            _ => one(ClockPause { member: node, ms: rng.range(50, CLOCK_PAUSE_MAX_MS) }),
        },
        ProtocolEvent::Restart { member, agent: true } if member != W && rng.chance(750) => {
            // An agent that left stopped comes back: the witness hears its first frame, then
            // nothing more from it, and its peer neither; the peer itself is away a little
            // longer (after its holder left, it is the one the witness could hand over to).
            let cut_ms = rng.range(0, 150);
            vec![
                (cut_ms, fault(Partition { a: member, b: W, direction: 0 }, long_ms)),
                (cut_ms, fault(Partition { a: member, b: other(member), direction: 2 }, long_ms)),
                (0, fault(Isolate { member: other(member) }, rng.range(200, 2500))),
                (0, fault(failing_relay(rng, member), long_ms)),
            ]
        }
        ProtocolEvent::Restart { member, .. } if member != W => match rng.range(0, 5) {
            0 => one(Partition { a: member, b: W, direction: rng.range(0, 2) as u8 }),
            1 => one(Isolate { member }),
            2 => one(Crash { member, down_ms: rng.range(500, 4000), lose_state: false }),
            3 => {
                one(Replay { link: rng.range(0, 5) as usize, delay_ms: rng.range(100, REPLAY_DELAY_MAX_MS) })
            }
            _ => {
                // Heard once by the witness, then nothing more reaches it, nor the peer.
                let cut_ms = rng.range(0, 150);
                vec![
                    (cut_ms, fault(Partition { a: member, b: W, direction: 0 }, long_ms)),
                    (cut_ms, fault(Partition { a: member, b: other(member), direction: 2 }, long_ms)),
                    (0, fault(failing_relay(rng, member), long_ms)),
                ]
            }
        },
        ProtocolEvent::Restart { .. } => match rng.range(0, 2) {
            0 => one(Isolate { member: W }),
            1 => one(Crash { member: W, down_ms: rng.range(500, 4000), lose_state: rng.chance(300) }),
            _ => {
                one(Replay { link: rng.range(0, 5) as usize, delay_ms: rng.range(100, REPLAY_DELAY_MAX_MS) })
            }
        },
        ProtocolEvent::PowerOn { boots_in_ms, .. } => {
            // The witness's process stalls (a starved host) longer than dead_ms, and runs again
            // just before or after the node it powered on boots: the frames it missed arrive a
            // little after it wakes, and the node has not had the time to reach its peer yet.
            let start_ms = rng.range(0, 200);
            let wake_ms = (boots_in_ms + rng.range(0, 400)).saturating_sub(200);
            let stall_ms = wake_ms.saturating_sub(start_ms).max(super::DEAD_MS + rng.range(1, 1500));
            let late_ms = rng.range(1, STALL_LATE_MAX_MS);
            vec![(start_ms, fault(Hang { member: W, ms: stall_ms, late_ms }, 1))]
        }
        ProtocolEvent::Store { node } => match rng.range(0, 3) {
            0 => one(Crash { member: node, down_ms: rng.range(500, 4000), lose_state: false }),
            1 => one(RackPower { down_ms: rng.range(500, 4000), lose_state: rng.chance(500) }),
            2 => one(Isolate { member: node }),
            _ => one(Disk { member: node, slow_ms: rng.range(500, DISK_SLOW_MAX_MS), fail_per_mille: 300 }),
        },
    }
}

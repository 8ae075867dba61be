//! Array monitoring end to end, per dialect: the controller simulator on a pty, the agent's
//! real serial adapter, console session, dialect parser and core diffing, through the whole
//! scenario (disk failure, spare, rebuild 0 -> 100 %, a second failure during a rebuild,
//! battery / temperature / fan alarms, echo, events in the middle of output, reboot, wrong
//! baud rate). Each step changes the array while the session is idle between cycles, then
//! runs whole poll cycles and checks the exact events, and that the first one came within the
//! bound the poll interval sets. Then, per dialect, every RAID level the dialect presents
//! (0, 1, 1E, 5, 6, 10, 50) through failures, a spare's rebuild and its completion: how many
//! more failures the agent says each drive survives, and the redundancy lost / restored
//! events.

use std::time::{Duration, Instant};

use ha_agent::core::array::{ArrayMonitor, Params, Redundancy};
use ha_agent::devices::console::model::name;
use ha_agent::devices::console::serial::ConsolePort;
use ha_agent::devices::console::session::{Session, SessionEvent, SessionOptions};
use ha_agent::devices::console::{dialect_for, DialectKind};
use ha_agent::time::Micros;
use ha_tests::console_sim::{sim_members, ConsoleSim, SimArray, SimDialect, SimLevel};

const POLL_INTERVAL_MS: u64 = 150;
const COMMAND_TIMEOUT_MS: u64 = 400;
/// Bound on the wait for any step (a hung step fails the test instead of hanging it).
const STEP_LIMIT: Duration = Duration::from_secs(20);

struct Rig {
    sim: ConsoleSim,
    port: ConsolePort,
    monitor: ArrayMonitor,
    started: Instant,
    snapshots: u64,
    session_events: Vec<SessionEvent>,
}

impl Rig {
    fn new(dialect: SimDialect, password: Option<&str>) -> Rig {
        let sim = ConsoleSim::start(dialect, password).expect("console simulator");
        let kind = match dialect {
            SimDialect::Areca => DialectKind::Areca,
            SimDialect::MegaCli => DialectKind::Megacli,
            SimDialect::Infortrend => DialectKind::Infortrend,
        };
        let options = SessionOptions {
            poll_interval_ms: POLL_INTERVAL_MS,
            command_timeout_ms: COMMAND_TIMEOUT_MS,
            password: password.map(str::to_owned),
        };
        let session = Session::new(dialect_for(kind), options, Micros::ZERO);
        let port = ConsolePort::new(sim.path(), 115200, session);
        let monitor = ArrayMonitor::new(Params { member: name("witness"), console: name("raid") });
        Rig { sim, port, monitor, started: Instant::now(), snapshots: 0, session_events: Vec::new() }
    }

    fn now(&self) -> Micros {
        Micros(self.started.elapsed().as_micros() as u64)
    }

    /// One loop iteration of the shell; returns the array events it produced.
    fn step(&mut self) -> Vec<String> {
        let now = self.now();
        self.port.poll(now);
        let session = self.port.session_mut();
        let mut session_events = Vec::new();
        while let Some(e) = session.poll_event() {
            session_events.push(e);
        }
        let snapshot = session.poll_snapshot();
        for e in &session_events {
            if matches!(e, SessionEvent::Lost(_)) {
                self.monitor.handle_console_lost(now);
            }
        }
        self.session_events.extend(session_events);
        if let Some(model) = snapshot {
            self.snapshots += 1;
            self.monitor.handle_snapshot(now, &model);
        }
        let out = std::iter::from_fn(|| self.monitor.poll_event()).map(|e| e.label()).collect();
        std::thread::sleep(Duration::from_millis(1));
        out
    }

    /// Run until the session is idle between cycles (so a change cannot tear a cycle).
    fn until_idle(&mut self) -> Vec<String> {
        let limit = Instant::now() + STEP_LIMIT;
        let mut events = Vec::new();
        while !self.port.session().is_idle() {
            assert!(Instant::now() < limit, "session never idle; events {:?}", self.session_events);
            events.extend(self.step());
        }
        events
    }

    /// Apply `change` between cycles, run `cycles` complete cycles, and return the array
    /// events with the time from the change to the first one.
    fn after(&mut self, cycles: u64, change: impl FnOnce(&ConsoleSim)) -> (Vec<String>, Option<Duration>) {
        let stray = self.until_idle();
        assert!(stray.is_empty(), "events before the change: {stray:?}");
        change(&self.sim);
        let changed_at = Instant::now();
        let target = self.snapshots + cycles;
        let limit = changed_at + STEP_LIMIT;
        let mut events = Vec::new();
        let mut first = None;
        while self.snapshots < target {
            assert!(Instant::now() < limit, "no reading; session events {:?}", self.session_events);
            let e = self.step();
            if !e.is_empty() && first.is_none() {
                first = Some(changed_at.elapsed());
            }
            events.extend(e);
        }
        (events, first)
    }
}

/// Bound on the delay from a change to its event: the next cycle starts within one poll
/// interval, `extra_cycles` more for debounced recoveries, plus the cycle's own duration
/// (generous for a loaded machine).
fn bound(extra_cycles: u32) -> Duration {
    Duration::from_millis(POLL_INTERVAL_MS) * (1 + extra_cycles) + Duration::from_millis(600)
}

fn check(step: &str, got: (Vec<String>, Option<Duration>), want: &[String], extra_cycles: u32) {
    assert_eq!(got.0, want, "step: {step}");
    if !want.is_empty() {
        let delay = got.1.expect("a first event");
        assert!(delay <= bound(extra_cycles), "step {step}: first event after {delay:?}");
    }
}

fn scenario(dialect: SimDialect, password: Option<&str>) {
    let mut rig = Rig::new(dialect, password);
    let names: Vec<String> = (0..5).map(|i| rig.sim.disk_name(i)).collect();
    let d = |i: usize| names[i].clone();
    let ld = rig.sim.drive_name();
    let (battery, temperature, fan) = rig.sim.sensor_names();
    let dead = rig.sim.dead_drive_label();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // Healthy baseline: silence.
    check("baseline", rig.after(2, |_| {}), &[], 0);
    assert!(rig.monitor.latest().is_some());

    // A member fails; the drive degrades and has no redundancy left.
    let (d2, d4) = (d(2), d(4));
    check(
        "disk fails",
        rig.after(1, |sim| sim.with_array(|a| a.fail_disk(2))),
        &s(&[
            &format!("disk_failed {d2}"),
            &format!("drive_degraded {ld}"),
            &format!("redundancy_lost {ld}"),
        ]),
        0,
    );
    // The global spare takes over and the rebuild starts at 0 %.
    check(
        "spare",
        rig.after(1, |sim| sim.with_array(SimArray::activate_spare)),
        &s(&[&format!("spare_activated {ld} {d4}"), &format!("rebuild_started {ld} {d4}")]),
        0,
    );
    for p in (10..=90).step_by(10) {
        check(
            &format!("progress {p}"),
            rig.after(1, |sim| sim.with_array(|a| a.set_progress(p))),
            &s(&[&format!("rebuild_progress {ld} {d4} {p}")]),
            0,
        );
    }
    check(
        "rebuild completes",
        rig.after(2, |sim| sim.with_array(SimArray::complete_rebuild)),
        &s(&[
            &format!("rebuild_completed {ld} {d4}"),
            &format!("drive_optimal {ld}"),
            &format!("redundancy_restored {ld} 1"),
        ]),
        1,
    );
    // The failed disk is replaced by a new global spare.
    check(
        "replacement",
        rig.after(2, |sim| sim.with_array(|a| a.replace_with_spare(2))),
        &s(&[&format!("disk_inserted {d2}")]),
        1,
    );
    // Another member fails, the new spare rebuilds, and a second failure kills the drive.
    let (d1, d3) = (d(1), d(3));
    check(
        "second round",
        rig.after(1, |sim| {
            sim.with_array(|a| {
                a.fail_disk(1);
                a.activate_spare();
            })
        }),
        &s(&[
            &format!("disk_failed {d1}"),
            &format!("spare_activated {ld} {d2}"),
            &format!("drive_degraded {ld}"),
            &format!("rebuild_started {ld} {d2}"),
            &format!("redundancy_lost {ld}"),
        ]),
        0,
    );
    check(
        "progress 50",
        rig.after(1, |sim| sim.with_array(|a| a.set_progress(50))),
        &s(&[&format!("rebuild_progress {ld} {d2} 50")]),
        0,
    );
    check(
        "failure during rebuild",
        rig.after(1, |sim| sim.with_array(|a| a.fail_disk(3))),
        &s(&[&format!("disk_failed {d3}"), &format!("rebuild_failed {ld} {d2}"), &format!("{dead} {ld}")]),
        0,
    );

    // Environment.
    check(
        "battery",
        rig.after(1, |sim| sim.with_array(|a| a.battery_ok = false)),
        &s(&[&format!("alarm_raised {battery}")]),
        0,
    );
    check(
        "battery ok",
        rig.after(2, |sim| sim.with_array(|a| a.battery_ok = true)),
        &s(&[&format!("alarm_cleared {battery}")]),
        1,
    );
    check(
        "heat",
        rig.after(1, |sim| sim.with_array(|a| a.temperature_c = 78)),
        &s(&[&format!("alarm_raised {temperature}")]),
        0,
    );
    check(
        "fan",
        rig.after(1, |sim| sim.with_array(|a| a.fan_rpm = 0)),
        &s(&[&format!("alarm_raised {fan}")]),
        0,
    );
    let mut cleared = vec![format!("alarm_cleared {temperature}"), format!("alarm_cleared {fan}")];
    cleared.sort();
    check(
        "cooled",
        rig.after(2, |sim| {
            sim.with_array(|a| {
                a.temperature_c = 40;
                a.fan_rpm = 3000;
            })
        }),
        &cleared,
        1,
    );

    // Console habits: echo, an event in the middle of a table; no array event, no lost reading.
    let before = rig.session_events.len();
    check(
        "echo and injected event",
        rig.after(3, |sim| {
            sim.set_echo(true);
            sim.inject_event(match dialect {
                SimDialect::Areca => "2024-05-01 12:00:00  Enc#1 Slot#4   Time Out Error",
                SimDialect::MegaCli => "Predictive failure: PD 01(e0xff/s1)",
                SimDialect::Infortrend => "LG:0 ALERT: Inconsistent Parity Encountered Block 000000084",
            });
        }),
        &[],
        0,
    );
    let unsolicited: Vec<_> =
        rig.session_events[before..].iter().filter(|e| matches!(e, SessionEvent::Unsolicited(_))).collect();
    assert_eq!(unsolicited.len(), 1, "{:?}", &rig.session_events[before..]);
    assert!(rig.session_events[before..].iter().all(|e| matches!(e, SessionEvent::Unsolicited(_))));

    // A reboot: banner, login again, readings continue, no array event.
    let before = rig.session_events.len();
    check("reboot", rig.after(2, |sim| sim.reboot()), &[], 0);
    assert!(rig.session_events[before..].contains(&SessionEvent::ControllerRebooted));
    if password.is_some() {
        assert!(rig.sim.logged_in(), "logged in again after the reboot");
    }

    // Wrong baud rate: garbage, reported as such, console lost; then restored.
    rig.until_idle();
    rig.sim.set_garbage(true);
    let limit = Instant::now() + STEP_LIMIT;
    let mut events = Vec::new();
    while !rig.monitor.console_lost() {
        assert!(Instant::now() < limit, "console never lost; {:?}", rig.session_events);
        events.extend(rig.step());
    }
    assert_eq!(events, ["console_lost"]);
    assert!(rig.session_events.iter().any(|e| matches!(e, SessionEvent::WrongBaud { .. })));
    rig.sim.set_garbage(false);
    let target = rig.snapshots + 1;
    let mut events = Vec::new();
    while rig.snapshots < target {
        assert!(Instant::now() < limit + STEP_LIMIT, "never restored; {:?}", rig.session_events);
        events.extend(rig.step());
    }
    assert_eq!(events, ["console_restored"], "garbage was never parsed into changes");
    let (model, _) = rig.monitor.latest().unwrap();
    assert_eq!(model.disks.len(), 5);
}

/// What the agent says drive 0 survives now.
fn survives(rig: &Rig) -> Redundancy {
    let all = rig.monitor.redundancy();
    assert_eq!(all.len(), 1, "one drive: {all:?}");
    all[0].1
}

/// One level on one dialect: a member fails (and for RAID 6 a second), the spare rebuilds,
/// the rebuild completes; for 10 and 50 a failure in another pair or span keeps the data and a
/// failure of the lost member's partner loses it.
fn level_scenario(dialect: SimDialect, level: SimLevel) {
    let mut rig = Rig::new(dialect, None);
    rig.sim.with_array(|a| *a = SimArray::with_level(level));
    let members = sim_members(level);
    let ld = rig.sim.drive_name();
    let names: Vec<String> = (0..=members).map(|i| rig.sim.disk_name(i)).collect();
    let d = |i: usize| names[i].clone();
    let spare = d(members);
    let dead = rig.sim.dead_drive_label();
    let s = |v: &[String]| v.to_vec();
    let step = |what: &str| format!("{level:?} on {dialect:?}: {what}");
    let designed = match level {
        SimLevel::Raid0 => 0,
        SimLevel::Raid6 => 2,
        _ => 1,
    };

    check(&step("baseline"), rig.after(2, |_| {}), &[], 0);
    assert_eq!(survives(&rig), Redundancy::Survives(designed), "{}", step("baseline"));

    if level == SimLevel::Raid0 {
        check(
            &step("a member fails"),
            rig.after(1, |sim| sim.with_array(|a| a.fail_disk(0))),
            &s(&[format!("disk_failed {}", d(0)), format!("{dead} {ld}")]),
            0,
        );
        assert_eq!(survives(&rig), Redundancy::DataLost, "{}", step("a member fails"));
        return;
    }

    let mut first = vec![format!("disk_failed {}", d(0)), format!("drive_degraded {ld}")];
    if level != SimLevel::Raid6 {
        first.push(format!("redundancy_lost {ld}"));
    }
    check(&step("a member fails"), rig.after(1, |sim| sim.with_array(|a| a.fail_disk(0))), &first, 0);
    assert_eq!(survives(&rig), Redundancy::Survives(designed - 1), "{}", step("a member fails"));
    if level == SimLevel::Raid6 {
        check(
            &step("a second member fails"),
            rig.after(1, |sim| sim.with_array(|a| a.fail_disk(1))),
            &s(&[format!("disk_failed {}", d(1)), format!("redundancy_lost {ld}")]),
            0,
        );
        assert_eq!(survives(&rig), Redundancy::Survives(0), "{}", step("a second member fails"));
    }

    check(
        &step("the spare rebuilds"),
        rig.after(1, |sim| sim.with_array(SimArray::activate_spare)),
        &s(&[format!("spare_activated {ld} {spare}"), format!("rebuild_started {ld} {spare}")]),
        0,
    );
    assert_eq!(survives(&rig), Redundancy::Survives(0), "{}", step("a rebuilding member holds no data yet"));
    check(
        &step("progress"),
        rig.after(1, |sim| sim.with_array(|a| a.set_progress(50))),
        &s(&[format!("rebuild_progress {ld} {spare} 50")]),
        0,
    );

    let mut completed = vec![format!("rebuild_completed {ld} {spare}")];
    let restored = if level == SimLevel::Raid6 {
        // One of the two lost members is rebuilt: one to spare again, still degraded.
        1
    } else {
        completed.push(format!("drive_optimal {ld}"));
        designed
    };
    completed.push(format!("redundancy_restored {ld} {restored}"));
    check(
        &step("the rebuild completes"),
        rig.after(2, |sim| sim.with_array(SimArray::complete_rebuild)),
        &completed,
        1,
    );
    assert_eq!(survives(&rig), Redundancy::Survives(restored), "{}", step("the rebuild completes"));

    if matches!(level, SimLevel::Raid10 | SimLevel::Raid50) {
        // Members 0..: pairs (0, 1), (2, 3) or spans (0, 1, 2), (3, 4, 5); the spare took place 0.
        let other = if level == SimLevel::Raid10 { 2 } else { 3 };
        check(
            &step("a member of another pair or span fails"),
            rig.after(1, |sim| sim.with_array(|a| a.fail_disk(1))),
            &s(&[
                format!("disk_failed {}", d(1)),
                format!("drive_degraded {ld}"),
                format!("redundancy_lost {ld}"),
            ]),
            0,
        );
        check(
            &step("one in each pair or span: the data is there"),
            rig.after(1, |sim| sim.with_array(|a| a.fail_disk(other))),
            &s(&[format!("disk_failed {}", d(other))]),
            0,
        );
        assert_eq!(survives(&rig), Redundancy::Survives(0), "{}", step("worst case: nothing to spare"));
        check(
            &step("the partner fails"),
            rig.after(1, |sim| sim.with_array(|a| a.fail_disk(other + 1))),
            &s(&[format!("disk_failed {}", d(other + 1)), format!("{dead} {ld}")]),
            0,
        );
        assert_eq!(survives(&rig), Redundancy::DataLost, "{}", step("the partner fails"));
    }
}

fn every_level(dialect: SimDialect) {
    for level in SimLevel::ALL {
        if dialect == SimDialect::MegaCli && level == SimLevel::Raid1E {
            continue; // MegaRAID firmware offers no RAID 1E
        }
        level_scenario(dialect, level);
    }
}

#[test]
fn areca_every_level() {
    every_level(SimDialect::Areca);
}

#[test]
fn megacli_every_level() {
    every_level(SimDialect::MegaCli);
}

#[test]
fn infortrend_every_level() {
    every_level(SimDialect::Infortrend);
}

#[test]
fn areca_scenario() {
    scenario(SimDialect::Areca, Some("0000"));
}

#[test]
fn megacli_scenario() {
    scenario(SimDialect::MegaCli, None);
}

#[test]
fn infortrend_scenario() {
    scenario(SimDialect::Infortrend, Some("secret"));
}

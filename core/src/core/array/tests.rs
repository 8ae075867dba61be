use super::*;
use crate::console::model::{RaidLevel, Reading, Sensor, SensorKind};

fn monitor() -> ArrayMonitor {
    ArrayMonitor::new(Params { member: name("witness"), console: name("/dev/ttyS1") })
}

/// RAID 5 on slots 0..=3, global spare in slot 4, fine environment.
fn healthy() -> ArrayModel {
    let mut m = ArrayModel::default();
    m.put_drive(LogicalDrive {
        id: 0,
        level: RaidLevel::Raid5,
        state: DriveState::Optimal,
        group: Name::new(),
    });
    for slot in 0..4 {
        m.put_disk(Disk {
            enclosure: Some(252),
            slot,
            state: DiskState::Online,
            drive: Some(0),
            rebuild_percent: None,
        });
    }
    m.put_disk(Disk {
        enclosure: Some(252),
        slot: 4,
        state: DiskState::GlobalSpare,
        drive: None,
        rebuild_percent: None,
    });
    m.put_sensor(Sensor::new(SensorKind::Temperature, "ctl", Reading::Celsius(40)));
    m
}

fn set_disk(m: &mut ArrayModel, slot: u16, state: DiskState) {
    let d = m.disks.iter_mut().find(|d| d.slot == slot).unwrap();
    d.state = state;
    if state == DiskState::Rebuilding {
        d.drive = Some(0);
    }
}

fn set_drive(m: &mut ArrayModel, state: DriveState) {
    m.drives[0].state = state;
}

fn feed(mon: &mut ArrayMonitor, m: &ArrayModel) -> std::vec::Vec<String> {
    mon.handle_snapshot(Micros::ZERO, m);
    std::iter::from_fn(|| mon.poll_event()).map(|e| e.label()).collect()
}

#[test]
fn healthy_baseline_is_silent_and_unwell_baseline_is_reported() {
    let mut mon = monitor();
    assert!(feed(&mut mon, &healthy()).is_empty());
    assert!(feed(&mut mon, &healthy()).is_empty());
    let mut m = healthy();
    set_disk(&mut m, 1, DiskState::Failed);
    set_drive(&mut m, DriveState::Degraded);
    let mut fresh = monitor();
    assert_eq!(feed(&mut fresh, &m), ["disk_failed e252/s1", "drive_degraded ld0", "redundancy_lost ld0"]);
    assert_eq!(fresh.redundancy(), [(0, Redundancy::Survives(0))]);
    assert_eq!(mon.redundancy(), [(0, Redundancy::Survives(1))]);
}

#[test]
fn failure_spare_rebuild_completion() {
    let mut mon = monitor();
    let mut m = healthy();
    feed(&mut mon, &m);
    set_disk(&mut m, 2, DiskState::Failed);
    set_disk(&mut m, 4, DiskState::Rebuilding);
    set_drive(&mut m, DriveState::Rebuilding(0));
    assert_eq!(
        feed(&mut mon, &m),
        [
            "disk_failed e252/s2",
            "spare_activated ld0 e252/s4",
            "drive_degraded ld0",
            "rebuild_started ld0 e252/s4",
            "redundancy_lost ld0"
        ]
    );
    assert_eq!(mon.redundancy(), [(0, Redundancy::Survives(0))], "a rebuilding member holds no data yet");
    set_drive(&mut m, DriveState::Rebuilding(5));
    assert!(feed(&mut mon, &m).is_empty());
    set_drive(&mut m, DriveState::Rebuilding(10));
    assert_eq!(feed(&mut mon, &m), ["rebuild_progress ld0 e252/s4 10"]);
    set_drive(&mut m, DriveState::Rebuilding(47));
    assert_eq!(feed(&mut mon, &m), ["rebuild_progress ld0 e252/s4 40"], "one event for a jump");
    set_drive(&mut m, DriveState::Optimal);
    set_disk(&mut m, 4, DiskState::Online);
    assert!(feed(&mut mon, &m).is_empty(), "recovery waits for a second reading");
    assert_eq!(mon.redundancy(), [(0, Redundancy::Survives(1))], "status shows the reading at once");
    assert_eq!(
        feed(&mut mon, &m),
        ["rebuild_completed ld0 e252/s4", "drive_optimal ld0", "redundancy_restored ld0 1"]
    );
    assert!(feed(&mut mon, &m).is_empty());
}

#[test]
fn second_failure_during_rebuild_kills_the_drive() {
    let mut mon = monitor();
    let mut m = healthy();
    feed(&mut mon, &m);
    set_disk(&mut m, 2, DiskState::Failed);
    set_disk(&mut m, 4, DiskState::Rebuilding);
    set_drive(&mut m, DriveState::Rebuilding(30));
    feed(&mut mon, &m);
    set_disk(&mut m, 1, DiskState::Failed);
    set_disk(&mut m, 4, DiskState::Unconfigured);
    set_drive(&mut m, DriveState::Failed);
    assert_eq!(feed(&mut mon, &m), ["disk_failed e252/s1", "rebuild_failed ld0 e252/s4", "drive_failed ld0"]);
    assert_eq!(mon.redundancy(), [(0, Redundancy::DataLost)]);
}

#[test]
fn flapping_values_are_debounced() {
    let mut mon = monitor();
    let mut m = healthy();
    feed(&mut mon, &m);
    let hot = Sensor::new(SensorKind::Temperature, "ctl", Reading::Celsius(80));
    let cool = Sensor::new(SensorKind::Temperature, "ctl", Reading::Celsius(40));
    let mut seen = std::vec::Vec::new();
    for i in 0..10 {
        m.put_sensor(if i % 2 == 0 { hot.clone() } else { cool.clone() });
        seen.extend(feed(&mut mon, &m));
    }
    assert_eq!(seen, ["alarm_raised ctl"], "one alarm while it flaps");
    // The loop ended on a cool reading: the second one in a row clears.
    m.put_sensor(cool);
    assert_eq!(feed(&mut mon, &m), ["alarm_cleared ctl"]);
    // A drive flapping between degraded and optimal: one degraded, no optimal until stable.
    let mut seen = std::vec::Vec::new();
    for i in 0..6 {
        set_drive(&mut m, if i % 2 == 0 { DriveState::Degraded } else { DriveState::Optimal });
        seen.extend(feed(&mut mon, &m));
    }
    assert_eq!(
        seen,
        ["drive_degraded ld0", "redundancy_lost ld0"],
        "one loss, no restoration while it flaps"
    );
}

/// RAID 6 of five (the console stops listing failed members): one failure leaves one to
/// spare, a second none; rebuilding both restores the redundancy in two steps.
#[test]
fn raid6_loses_and_regains_redundancy_by_steps() {
    let mut mon = monitor();
    let mut m = healthy();
    m.drives[0].level = RaidLevel::Raid6;
    m.put_disk(Disk {
        enclosure: Some(252),
        slot: 5,
        state: DiskState::Online,
        drive: Some(0),
        rebuild_percent: None,
    });
    m.normalize();
    assert!(feed(&mut mon, &m).is_empty());
    assert_eq!(mon.redundancy(), [(0, Redundancy::Survives(2))]);
    let without = |m: &ArrayModel, slots: &[u16]| {
        let mut n = m.clone();
        n.disks.retain(|d| !slots.contains(&d.slot));
        n
    };
    let mut one = without(&m, &[1]);
    set_drive(&mut one, DriveState::PartiallyDegraded);
    assert_eq!(feed(&mut mon, &one), ["disk_removed e252/s1", "drive_degraded ld0"]);
    assert_eq!(mon.redundancy(), [(0, Redundancy::Survives(1))]);
    let mut two = without(&m, &[1, 2]);
    set_drive(&mut two, DriveState::Degraded);
    assert_eq!(feed(&mut mon, &two), ["disk_removed e252/s2", "redundancy_lost ld0"]);
    assert_eq!(mon.redundancy(), [(0, Redundancy::Survives(0))]);
    // The spare rebuilds one of the two: still none to spare.
    set_disk(&mut two, 4, DiskState::Rebuilding);
    set_drive(&mut two, DriveState::Rebuilding(0));
    assert_eq!(feed(&mut mon, &two), ["spare_activated ld0 e252/s4", "rebuild_started ld0 e252/s4"]);
    assert_eq!(mon.redundancy(), [(0, Redundancy::Survives(0))]);
    // Rebuilt: one to spare again (debounced), the drive still partially degraded.
    set_disk(&mut two, 4, DiskState::Online);
    set_drive(&mut two, DriveState::PartiallyDegraded);
    assert_eq!(feed(&mut mon, &two), ["rebuild_completed ld0 e252/s4"]);
    assert_eq!(feed(&mut mon, &two), ["redundancy_restored ld0 1"]);
    assert_eq!(mon.redundancy(), [(0, Redundancy::Survives(1))]);
}

/// A RAID 0 never had redundancy: no loss to report; its failure is the drive's.
#[test]
fn raid0_reports_no_loss_of_redundancy() {
    let mut mon = monitor();
    let mut m = healthy();
    m.drives[0].level = RaidLevel::Raid0;
    assert!(feed(&mut mon, &m).is_empty());
    assert_eq!(mon.redundancy(), [(0, Redundancy::Survives(0))]);
    set_disk(&mut m, 1, DiskState::Failed);
    set_drive(&mut m, DriveState::Failed);
    assert_eq!(feed(&mut mon, &m), ["disk_failed e252/s1", "drive_failed ld0"]);
    assert_eq!(mon.redundancy(), [(0, Redundancy::DataLost)]);
}

#[test]
fn removal_insertion_and_console() {
    let mut mon = monitor();
    let mut m = healthy();
    feed(&mut mon, &m);
    let spare = m.disks.pop().unwrap();
    assert_eq!(feed(&mut mon, &m), ["disk_removed e252/s4"]);
    mon.handle_console_lost(Micros::ZERO);
    mon.handle_console_lost(Micros::ZERO);
    assert_eq!(mon.poll_event().map(|e| e.label()).as_deref(), Some("console_lost"));
    assert!(mon.poll_event().is_none(), "lost once");
    m.put_disk(spare);
    assert_eq!(feed(&mut mon, &m), ["console_restored"], "insertion is a recovery: debounced");
    assert_eq!(feed(&mut mon, &m), ["disk_inserted e252/s4"]);
    let mut n = m.clone();
    n.put_disk(Disk {
        enclosure: Some(252),
        slot: 7,
        state: DiskState::Unconfigured,
        drive: None,
        rebuild_percent: None,
    });
    assert_eq!(feed(&mut mon, &n), ["disk_inserted e252/s7"]);
}

#[test]
fn every_event_maps_onto_its_notification() {
    let n = |s: &str| name(s);
    let (m, d, k) = (n("w"), n("ld0"), n("s1"));
    let cases = [
        (ArrayEvent::DiskFailed { member: m.clone(), disk: k.clone() }, "rackHaDiskFailed"),
        (ArrayEvent::DiskRemoved { member: m.clone(), disk: k.clone() }, "rackHaDiskRemoved"),
        (ArrayEvent::DiskInserted { member: m.clone(), disk: k.clone() }, "rackHaDiskInserted"),
        (
            ArrayEvent::SpareActivated { member: m.clone(), drive: d.clone(), disk: k.clone() },
            "rackHaSpareActivated",
        ),
        (
            ArrayEvent::RebuildStarted { member: m.clone(), drive: d.clone(), disk: k.clone() },
            "rackHaRebuildStarted",
        ),
        (
            ArrayEvent::RebuildProgress { member: m.clone(), drive: d.clone(), disk: k.clone(), percent: 30 },
            "rackHaRebuildProgress",
        ),
        (
            ArrayEvent::RebuildCompleted { member: m.clone(), drive: d.clone(), disk: k.clone() },
            "rackHaRebuildCompleted",
        ),
        (
            ArrayEvent::RebuildFailed { member: m.clone(), drive: d.clone(), disk: k.clone() },
            "rackHaRebuildFailed",
        ),
        (
            ArrayEvent::LogicalDriveDegraded { member: m.clone(), drive: d.clone() },
            "rackHaLogicalDriveDegraded",
        ),
        (ArrayEvent::LogicalDriveFailed { member: m.clone(), drive: d.clone() }, "rackHaLogicalDriveFailed"),
        (
            ArrayEvent::LogicalDriveOffline { member: m.clone(), drive: d.clone() },
            "rackHaLogicalDriveOffline",
        ),
        (
            ArrayEvent::LogicalDriveOptimal { member: m.clone(), drive: d.clone() },
            "rackHaLogicalDriveOptimal",
        ),
        (
            ArrayEvent::EnvironmentAlarmRaised { member: m.clone(), sensor: n("fan"), reason: n("stopped") },
            "rackHaEnvironmentAlarmRaised",
        ),
        (
            ArrayEvent::EnvironmentAlarmCleared { member: m.clone(), sensor: n("fan") },
            "rackHaEnvironmentAlarmCleared",
        ),
        (ArrayEvent::ConsoleLost { member: m.clone(), console: n("c") }, "rackHaConsoleLost"),
        (ArrayEvent::ConsoleRestored { member: m.clone(), console: n("c") }, "rackHaConsoleRestored"),
        (
            ArrayEvent::RedundancyLost { member: m.clone(), drive: d.clone(), survivable: 0 },
            "rackHaRedundancyLost",
        ),
        (
            ArrayEvent::RedundancyRestored { member: m.clone(), drive: d.clone(), survivable: 2 },
            "rackHaRedundancyRestored",
        ),
    ];
    for (event, mib_name) in cases {
        let notification = to_notification(&event);
        let debug = format!("{notification:?}");
        // The variant name is the MIB name without its prefix.
        assert!(debug.starts_with(mib_name.trim_start_matches("rackHa")), "{debug} vs {mib_name}");
    }
    assert_eq!(
        to_notification(&ArrayEvent::RebuildProgress { member: m, drive: d, disk: k, percent: 30 }),
        Notification::RebuildProgress {
            member: "w".into(),
            drive: "ld0".into(),
            disk: "s1".into(),
            percent: 30
        }
    );
}

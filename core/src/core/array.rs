//! Array state diffing: from successive readings of a RAID controller to the events operators
//! must hear about, exactly once each.
//!
//! Owns the decision "what changed": disk failed / removed / inserted, spare activated, rebuild
//! started / progressed (every [`PROGRESS_STEP_PERCENT`]) / completed / failed, logical drive
//! degraded / failed / offline / back to optimal, redundancy lost (a drive that was built to
//! survive a failure can survive none more) / restored, environment alarm raised / cleared,
//! console lost / restored. How many more failures a drive survives is computed in
//! [`redundancy`]; this module remembers each drive's width for it. It keeps the *reported* state of every drive, disk and sensor and compares
//! each new reading with it. Debouncing: a change for the worse is reported at once (operators
//! must hear about a failing disk now); a change for the better is reported only after it has
//! been read [`RECOVERY_STABLE_POLLS`] times in a row, so that a flapping value gives one alarm
//! and one all-clear instead of a storm. It also maps each event onto its SNMP notification
//! ([`to_notification`]).
//!
//! It is sans-I/O: it never reads a clock or the port; the console session
//! (`devices::console::session`) produces the readings. Within one reading, events come in a
//! fixed order: console restored, disks (by enclosure and slot: failed, removed, inserted,
//! spare activated), drives (by id: degraded, rebuild started / progress / completed / failed,
//! failed / offline / optimal, redundancy lost / restored), then sensors (by name).
//!
//! Call order for the shell: `handle_snapshot(now, model)` for each complete reading,
//! `handle_console_lost(now)` when the session reports the console lost, then drain
//! `poll_event()`.

#![forbid(unsafe_code)]

use heapless::{Deque, Vec};

use crate::console::model::{
    name, ArrayModel, Disk, DiskState, DriveState, LogicalDrive, Name, MAX_DISKS, MAX_LOGICAL_DRIVES,
    MAX_SENSORS,
};

pub mod redundancy;

use crate::snmp::mib::Notification;
use crate::time::Micros;
pub use redundancy::{survivable_failures, MemberState, Redundancy};

/// Consecutive readings a change for the better must survive before it is reported.
pub const RECOVERY_STABLE_POLLS: u8 = 2;
/// Rebuild progress is reported each time it crosses a multiple of this.
pub const PROGRESS_STEP_PERCENT: u8 = 10;
/// Bound on events waiting to be polled; the oldest is dropped (and counted) when full.
pub const MAX_EVENTS: usize = 64;

/// Who the events are about: the member watching and its console (configuration names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub member: Name,
    pub console: Name,
}

/// One array event. The variants map 1:1 onto the array notifications of
/// [`crate::snmp::mib::Notification`], with the same fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArrayEvent {
    DiskFailed {
        member: Name,
        disk: Name,
    },
    DiskRemoved {
        member: Name,
        disk: Name,
    },
    DiskInserted {
        member: Name,
        disk: Name,
    },
    SpareActivated {
        member: Name,
        drive: Name,
        disk: Name,
    },
    RebuildStarted {
        member: Name,
        drive: Name,
        disk: Name,
    },
    RebuildProgress {
        member: Name,
        drive: Name,
        disk: Name,
        percent: u8,
    },
    RebuildCompleted {
        member: Name,
        drive: Name,
        disk: Name,
    },
    RebuildFailed {
        member: Name,
        drive: Name,
        disk: Name,
    },
    LogicalDriveDegraded {
        member: Name,
        drive: Name,
    },
    LogicalDriveFailed {
        member: Name,
        drive: Name,
    },
    LogicalDriveOffline {
        member: Name,
        drive: Name,
    },
    LogicalDriveOptimal {
        member: Name,
        drive: Name,
    },
    /// The drive survives no more failure (`survivable` is 0), though its level was built to.
    RedundancyLost {
        member: Name,
        drive: Name,
        survivable: u8,
    },
    /// After a loss of redundancy, the drive survives `survivable` (at least 1) more failures.
    RedundancyRestored {
        member: Name,
        drive: Name,
        survivable: u8,
    },
    EnvironmentAlarmRaised {
        member: Name,
        sensor: Name,
        reason: Name,
    },
    EnvironmentAlarmCleared {
        member: Name,
        sensor: Name,
    },
    ConsoleLost {
        member: Name,
        console: Name,
    },
    ConsoleRestored {
        member: Name,
        console: Name,
    },
}

/// The SNMP notification for an array event (one variant each, same fields).
pub fn to_notification(event: &ArrayEvent) -> Notification {
    use ArrayEvent as E;
    use Notification as N;
    let s = |n: &Name| n.as_str().to_owned();
    match event {
        E::DiskFailed { member, disk } => N::DiskFailed { member: s(member), disk: s(disk) },
        E::DiskRemoved { member, disk } => N::DiskRemoved { member: s(member), disk: s(disk) },
        E::DiskInserted { member, disk } => N::DiskInserted { member: s(member), disk: s(disk) },
        E::SpareActivated { member, drive, disk } => {
            N::SpareActivated { member: s(member), drive: s(drive), disk: s(disk) }
        }
        E::RebuildStarted { member, drive, disk } => {
            N::RebuildStarted { member: s(member), drive: s(drive), disk: s(disk) }
        }
        E::RebuildProgress { member, drive, disk, percent } => N::RebuildProgress {
            member: s(member),
            drive: s(drive),
            disk: s(disk),
            percent: u32::from(*percent),
        },
        E::RebuildCompleted { member, drive, disk } => {
            N::RebuildCompleted { member: s(member), drive: s(drive), disk: s(disk) }
        }
        E::RebuildFailed { member, drive, disk } => {
            N::RebuildFailed { member: s(member), drive: s(drive), disk: s(disk) }
        }
        E::LogicalDriveDegraded { member, drive } => {
            N::LogicalDriveDegraded { member: s(member), drive: s(drive) }
        }
        E::LogicalDriveFailed { member, drive } => {
            N::LogicalDriveFailed { member: s(member), drive: s(drive) }
        }
        E::LogicalDriveOffline { member, drive } => {
            N::LogicalDriveOffline { member: s(member), drive: s(drive) }
        }
        E::LogicalDriveOptimal { member, drive } => {
            N::LogicalDriveOptimal { member: s(member), drive: s(drive) }
        }
        E::RedundancyLost { member, drive, survivable } => {
            N::RedundancyLost { member: s(member), drive: s(drive), survivable: u32::from(*survivable) }
        }
        E::RedundancyRestored { member, drive, survivable } => {
            N::RedundancyRestored { member: s(member), drive: s(drive), survivable: u32::from(*survivable) }
        }
        E::EnvironmentAlarmRaised { member, sensor, reason } => {
            N::EnvironmentAlarmRaised { member: s(member), sensor: s(sensor), reason: s(reason) }
        }
        E::EnvironmentAlarmCleared { member, sensor } => {
            N::EnvironmentAlarmCleared { member: s(member), sensor: s(sensor) }
        }
        E::ConsoleLost { member, console } => N::ConsoleLost { member: s(member), console: s(console) },
        E::ConsoleRestored { member, console } => {
            N::ConsoleRestored { member: s(member), console: s(console) }
        }
    }
}

impl ArrayEvent {
    /// A short label without the member, for tests and logs: `disk_failed e252/s2`.
    pub fn label(&self) -> String {
        use ArrayEvent as E;
        match self {
            E::DiskFailed { disk, .. } => format!("disk_failed {disk}"),
            E::DiskRemoved { disk, .. } => format!("disk_removed {disk}"),
            E::DiskInserted { disk, .. } => format!("disk_inserted {disk}"),
            E::SpareActivated { drive, disk, .. } => format!("spare_activated {drive} {disk}"),
            E::RebuildStarted { drive, disk, .. } => format!("rebuild_started {drive} {disk}"),
            E::RebuildProgress { drive, disk, percent, .. } => {
                format!("rebuild_progress {drive} {disk} {percent}")
            }
            E::RebuildCompleted { drive, disk, .. } => format!("rebuild_completed {drive} {disk}"),
            E::RebuildFailed { drive, disk, .. } => format!("rebuild_failed {drive} {disk}"),
            E::LogicalDriveDegraded { drive, .. } => format!("drive_degraded {drive}"),
            E::LogicalDriveFailed { drive, .. } => format!("drive_failed {drive}"),
            E::LogicalDriveOffline { drive, .. } => format!("drive_offline {drive}"),
            E::LogicalDriveOptimal { drive, .. } => format!("drive_optimal {drive}"),
            E::RedundancyLost { drive, .. } => format!("redundancy_lost {drive}"),
            E::RedundancyRestored { drive, survivable, .. } => {
                format!("redundancy_restored {drive} {survivable}")
            }
            E::EnvironmentAlarmRaised { sensor, .. } => format!("alarm_raised {sensor}"),
            E::EnvironmentAlarmCleared { sensor, .. } => format!("alarm_cleared {sensor}"),
            E::ConsoleLost { .. } => "console_lost".into(),
            E::ConsoleRestored { .. } => "console_restored".into(),
        }
    }
}

/// A value that changes for the better only after [`RECOVERY_STABLE_POLLS`] readings.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Debounced<T> {
    reported: T,
    pending: Option<(T, u8)>,
}

impl<T: Clone + PartialEq> Debounced<T> {
    fn new(value: T) -> Self {
        Debounced { reported: value, pending: None }
    }
    /// Feed a reading; returns the newly accepted value, if any. `better` says whether moving
    /// from the reported value to `value` is a recovery.
    fn feed(&mut self, value: T, better: bool) -> Option<T> {
        if value == self.reported {
            self.pending = None;
            return None;
        }
        if !better {
            self.pending = None;
            self.reported = value.clone();
            return Some(value);
        }
        let count = match &self.pending {
            Some((v, n)) if *v == value => n.saturating_add(1),
            _ => 1,
        };
        if count >= RECOVERY_STABLE_POLLS {
            self.pending = None;
            self.reported = value.clone();
            Some(value)
        } else {
            self.pending = Some((value, count));
            None
        }
    }
}

fn disk_severity(s: DiskState) -> u8 {
    match s {
        DiskState::Failed => 2,
        DiskState::Missing => 1,
        _ => 0,
    }
}

fn drive_severity(s: DriveState) -> u8 {
    match s {
        DriveState::Optimal | DriveState::Initializing => 0,
        DriveState::Degraded | DriveState::PartiallyDegraded | DriveState::Rebuilding(_) => 1,
        DriveState::Offline => 2,
        DriveState::Failed => 3,
    }
}

#[derive(Clone, Debug)]
struct DiskTrack {
    key: (Option<u16>, u16),
    state: Debounced<DiskState>,
    drive: Option<u16>,
}

/// Order of redundancy from worst to best, for debouncing: a lower rank is worse.
fn redundancy_rank(r: Redundancy) -> u16 {
    match r {
        Redundancy::DataLost | Redundancy::Unknown => 0,
        Redundancy::Survives(n) => u16::from(n) + 1,
    }
}

#[derive(Clone, Debug)]
struct DriveTrack {
    id: u16,
    state: Debounced<DriveState>,
    /// Members the drive had when last read optimal (the console may stop listing a failed
    /// one): see [`redundancy::members_of`].
    width: Option<u8>,
    /// The redundancy of the latest reading, for status.
    redundancy_now: Redundancy,
    /// The reported redundancy (a rise is debounced like every recovery).
    redundancy: Debounced<Redundancy>,
    /// A loss of redundancy (or of data) was reported and no restoration since.
    redundancy_lost: bool,
    /// The disk the current (or last) rebuild writes to.
    rebuild_disk: Option<(Option<u16>, u16)>,
    /// The last progress step reported for the current rebuild.
    progress_step: u8,
}

#[derive(Clone, Debug)]
struct SensorTrack {
    name: Name,
    alarm: Debounced<Option<Name>>,
}

pub struct ArrayMonitor {
    params: Params,
    baseline_done: bool,
    console_lost: bool,
    disks: Vec<DiskTrack, MAX_DISKS>,
    drives: Vec<DriveTrack, MAX_LOGICAL_DRIVES>,
    sensors: Vec<SensorTrack, MAX_SENSORS>,
    latest: Option<ArrayModel>,
    latest_at: Option<Micros>,
    events: Deque<ArrayEvent, MAX_EVENTS>,
    events_dropped: u64,
    overflow: u64,
}

impl ArrayMonitor {
    pub fn new(params: Params) -> ArrayMonitor {
        assert!(!params.member.is_empty() && !params.console.is_empty());
        ArrayMonitor {
            params,
            baseline_done: false,
            console_lost: false,
            disks: Vec::new(),
            drives: Vec::new(),
            sensors: Vec::new(),
            latest: None,
            latest_at: None,
            events: Deque::new(),
            events_dropped: 0,
            overflow: 0,
        }
    }

    // ---- getters -------------------------------------------------------------------------

    /// The latest reading and when it arrived.
    pub fn latest(&self) -> Option<(&ArrayModel, Micros)> {
        self.latest.as_ref().zip(self.latest_at)
    }
    pub fn console_lost(&self) -> bool {
        self.console_lost
    }
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }
    /// Each logical drive of the latest reading and how many more failures it survives.
    pub fn redundancy(&self) -> std::vec::Vec<(u16, Redundancy)> {
        let Some(latest) = &self.latest else {
            return std::vec::Vec::new();
        };
        latest
            .drives
            .iter()
            .map(|d| {
                let track = self.drives.iter().find(|t| t.id == d.id);
                (d.id, track.map_or(Redundancy::Unknown, |t| t.redundancy_now))
            })
            .collect()
    }

    // ---- output --------------------------------------------------------------------------

    pub fn poll_event(&mut self) -> Option<ArrayEvent> {
        self.events.pop_front()
    }

    // ---- input ---------------------------------------------------------------------------

    /// The session lost the console (no answer, or garbage).
    pub fn handle_console_lost(&mut self, _now: Micros) {
        if !self.console_lost {
            self.console_lost = true;
            let e = ArrayEvent::ConsoleLost { member: self.member(), console: self.params.console.clone() };
            self.push(e);
        }
    }

    /// A complete reading. Bounded work: linear in the model's bounded sizes times the tracked
    /// objects.
    pub fn handle_snapshot(&mut self, now: Micros, model: &ArrayModel) {
        if self.console_lost {
            self.console_lost = false;
            let e =
                ArrayEvent::ConsoleRestored { member: self.member(), console: self.params.console.clone() };
            self.push(e);
        }
        let baseline = !self.baseline_done;
        self.baseline_done = true;
        self.diff_disks(model, baseline);
        self.diff_drives(model);
        self.diff_sensors(model);
        self.latest = Some(model.clone());
        self.latest_at = Some(now);
    }

    // ---- internals -----------------------------------------------------------------------

    fn member(&self) -> Name {
        self.params.member.clone()
    }

    fn push(&mut self, event: ArrayEvent) {
        if self.events.is_full() {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        assert!(self.events.push_back(event).is_ok());
    }

    fn diff_disks(&mut self, model: &ArrayModel, baseline: bool) {
        let member = self.member();
        // Disks gone from the reading count as missing.
        let mut readings: std::vec::Vec<((Option<u16>, u16), DiskState, Option<u16>)> =
            model.disks.iter().map(|d| (d.key(), d.state, d.drive)).collect();
        for t in &self.disks {
            if !model.disks.iter().any(|d| d.key() == t.key) {
                readings.push((t.key, DiskState::Missing, t.drive));
            }
        }
        readings.sort_unstable_by_key(|r| r.0);
        for (key, state, drive) in readings {
            let disk = Disk::display_name(key);
            let Some(i) = self.disks.iter().position(|t| t.key == key) else {
                let track = DiskTrack { key, state: Debounced::new(state), drive };
                if self.disks.push(track).is_err() {
                    self.overflow += 1;
                    continue;
                }
                if !baseline {
                    self.push(ArrayEvent::DiskInserted { member: member.clone(), disk: disk.clone() });
                }
                if state == DiskState::Failed {
                    self.push(ArrayEvent::DiskFailed { member: member.clone(), disk });
                }
                continue;
            };
            let before = self.disks[i].state.reported;
            let better = disk_severity(state) < disk_severity(before);
            let accepted = self.disks[i].state.feed(state, better);
            if drive.is_some() {
                self.disks[i].drive = drive;
            }
            let Some(after) = accepted else { continue };
            match after {
                DiskState::Failed => {
                    self.push(ArrayEvent::DiskFailed { member: member.clone(), disk: disk.clone() })
                }
                DiskState::Missing => {
                    self.push(ArrayEvent::DiskRemoved { member: member.clone(), disk: disk.clone() })
                }
                _ if matches!(before, DiskState::Missing | DiskState::Failed) => {
                    self.push(ArrayEvent::DiskInserted { member: member.clone(), disk: disk.clone() })
                }
                _ => {}
            }
            if before.is_spare() && matches!(after, DiskState::Rebuilding | DiskState::Online) {
                let drive = self.disks[i].drive.map_or_else(|| name("unknown"), LogicalDrive::display_name);
                self.push(ArrayEvent::SpareActivated { member: member.clone(), drive, disk });
            }
        }
    }

    fn rebuilding_disk(model: &ArrayModel, id: u16) -> Option<(Option<u16>, u16)> {
        model.disks.iter().find(|d| d.state == DiskState::Rebuilding && d.drive == Some(id)).map(|d| d.key())
    }

    fn diff_drives(&mut self, model: &ArrayModel) {
        let member = self.member();
        for d in &model.drives {
            let drive = LogicalDrive::display_name(d.id);
            let rebuild_disk = Self::rebuilding_disk(model, d.id);
            let Some(i) = self.drives.iter().position(|t| t.id == d.id) else {
                let step = match d.state {
                    DriveState::Rebuilding(p) => p / PROGRESS_STEP_PERCENT,
                    _ => 0,
                };
                let track = DriveTrack {
                    id: d.id,
                    state: Debounced::new(d.state),
                    width: None,
                    redundancy_now: Redundancy::Unknown,
                    redundancy: Debounced::new(Redundancy::Unknown),
                    redundancy_lost: false,
                    rebuild_disk,
                    progress_step: step,
                };
                if self.drives.push(track).is_err() {
                    self.overflow += 1;
                    continue;
                }
                // A drive first seen (at start, or added later) is reported only if unwell.
                self.report_drive(&member, &drive, DriveState::Optimal, d.state, rebuild_disk, false);
                let i = self.drives.len() - 1;
                self.diff_redundancy(i, d, model, true);
                continue;
            };
            if rebuild_disk.is_some() {
                self.drives[i].rebuild_disk = rebuild_disk;
            }
            let before = self.drives[i].state.reported;
            let better = drive_severity(d.state) < drive_severity(before);
            let Some(after) = self.drives[i].state.feed(d.state, better) else {
                self.diff_redundancy(i, d, model, false);
                continue;
            };
            let disk = self.drives[i].rebuild_disk;
            let disk_online = disk.and_then(|k| model.disk(k)).is_some_and(|k| k.state == DiskState::Online);
            let step = self.report_drive(&member, &drive, before, after, disk, disk_online);
            if let Some(step) = step {
                self.drives[i].progress_step = step;
            }
            if let (DriveState::Rebuilding(_), DriveState::Rebuilding(p)) = (before, after) {
                let step = p / PROGRESS_STEP_PERCENT;
                if step > self.drives[i].progress_step && p < 100 {
                    self.drives[i].progress_step = step;
                    let disk = disk_name(disk);
                    let percent = step * PROGRESS_STEP_PERCENT;
                    self.push(ArrayEvent::RebuildProgress {
                        member: member.clone(),
                        drive: drive.clone(),
                        disk,
                        percent,
                    });
                }
            }
            self.diff_redundancy(i, d, model, false);
        }
    }

    /// The redundancy of drive `d` (tracked at `i`) in this reading, and its events: lost at
    /// once when a drive built to survive a failure survives none more (or on the first
    /// reading, `first`, when it already does not), restored (debounced) when it survives at
    /// least one again after a loss.
    fn diff_redundancy(&mut self, i: usize, d: &LogicalDrive, model: &ArrayModel, first: bool) {
        let track = &mut self.drives[i];
        if matches!(d.state, DriveState::Optimal) {
            let online = model.disks.iter().filter(|k| k.drive == Some(d.id) && k.state == DiskState::Online);
            let online = u8::try_from(online.count()).unwrap_or(u8::MAX);
            if online > 0 {
                track.width = Some(online);
            }
        }
        let members = redundancy::members_of(model, d.id, track.width);
        let now = survivable_failures(d.level, d.state, &members);
        track.redundancy_now = now;
        let before = track.redundancy.reported;
        let better = redundancy_rank(now) > redundancy_rank(before);
        let accepted = if first {
            track.redundancy = Debounced::new(now);
            Some(now)
        } else {
            track.redundancy.feed(now, better)
        };
        let Some(after) = accepted else { return };
        let built_redundant =
            redundancy::designed_tolerance(d.level, members.len() as u8).is_some_and(|t| t > 0);
        let drive = LogicalDrive::display_name(d.id);
        match after {
            Redundancy::Survives(0) if built_redundant && !track.redundancy_lost => {
                track.redundancy_lost = true;
                let member = self.member();
                self.push(ArrayEvent::RedundancyLost { member, drive, survivable: 0 });
            }
            Redundancy::DataLost => track.redundancy_lost = true,
            Redundancy::Survives(n) if n > 0 && track.redundancy_lost => {
                track.redundancy_lost = false;
                let member = self.member();
                self.push(ArrayEvent::RedundancyRestored { member, drive, survivable: n });
            }
            _ => {}
        }
    }

    /// Events for an accepted change of a drive's state (progress within a rebuild aside).
    /// `disk_online`: the disk the rebuild wrote to is an online member now (a RAID 6 that
    /// lost two members is still degraded after one rebuild completed). Returns the progress
    /// step to remember when a rebuild starts.
    fn report_drive(
        &mut self,
        member: &Name,
        drive: &Name,
        before: DriveState,
        after: DriveState,
        disk: Option<(Option<u16>, u16)>,
        disk_online: bool,
    ) -> Option<u8> {
        let m = || member.clone();
        let dr = || drive.clone();
        let was_rebuilding = matches!(before, DriveState::Rebuilding(_));
        let mut step = None;
        if after.is_degraded() && !before.is_degraded() && drive_severity(before) == 0 {
            self.push(ArrayEvent::LogicalDriveDegraded { member: m(), drive: dr() });
        }
        match after {
            DriveState::Rebuilding(p) if !was_rebuilding => {
                self.push(ArrayEvent::RebuildStarted { member: m(), drive: dr(), disk: disk_name(disk) });
                step = Some(p / PROGRESS_STEP_PERCENT);
            }
            DriveState::Rebuilding(_) => {}
            _ if was_rebuilding && (drive_severity(after) == 0 || after.is_degraded() && disk_online) => {
                self.push(ArrayEvent::RebuildCompleted { member: m(), drive: dr(), disk: disk_name(disk) });
            }
            _ if was_rebuilding => {
                self.push(ArrayEvent::RebuildFailed { member: m(), drive: dr(), disk: disk_name(disk) });
            }
            _ => {}
        }
        match after {
            DriveState::Failed => self.push(ArrayEvent::LogicalDriveFailed { member: m(), drive: dr() }),
            DriveState::Offline => self.push(ArrayEvent::LogicalDriveOffline { member: m(), drive: dr() }),
            DriveState::Degraded | DriveState::PartiallyDegraded if drive_severity(before) > 1 => {
                self.push(ArrayEvent::LogicalDriveDegraded { member: m(), drive: dr() })
            }
            DriveState::Optimal | DriveState::Initializing if drive_severity(before) > 0 => {
                self.push(ArrayEvent::LogicalDriveOptimal { member: m(), drive: dr() })
            }
            _ => {}
        }
        step
    }

    fn diff_sensors(&mut self, model: &ArrayModel) {
        let member = self.member();
        let mut sensors: std::vec::Vec<_> = model.sensors.iter().collect();
        sensors.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for s in sensors {
            let i = match self.sensors.iter().position(|t| t.name == s.name) {
                Some(i) => i,
                None => {
                    let track = SensorTrack { name: s.name.clone(), alarm: Debounced::new(None) };
                    if self.sensors.push(track).is_err() {
                        self.overflow += 1;
                        continue;
                    }
                    self.sensors.len() - 1
                }
            };
            let before = self.sensors[i].alarm.reported.is_some();
            // Raised and changed reasons are immediate; cleared is a recovery.
            let better = before && s.alarm.is_none();
            let Some(after) = self.sensors[i].alarm.feed(s.alarm.clone(), better) else {
                continue;
            };
            match after {
                Some(reason) if !before => self.push(ArrayEvent::EnvironmentAlarmRaised {
                    member: member.clone(),
                    sensor: s.name.clone(),
                    reason,
                }),
                Some(_) => {} // still in alarm, for another reason
                None => self.push(ArrayEvent::EnvironmentAlarmCleared {
                    member: member.clone(),
                    sensor: s.name.clone(),
                }),
            }
        }
    }
}

fn disk_name(disk: Option<(Option<u16>, u16)>) -> Name {
    disk.map_or_else(|| name("unknown"), Disk::display_name)
}

#[cfg(test)]
mod tests;

//! The notification model and its object identifiers: the Rust side of
//! `agent/mib/RACK-HA-MIB.txt`.
//!
//! Owns the enterprise OID (one constant), the notification numbers under the `.0` arc, the
//! notification objects, and the mapping of a [`Notification`] to its varbinds (which member,
//! link, resource, disk or drive; the generation; a human text; a sequence number). It does
//! not decide when an event happened (the core does) nor how it is sent (see `notify`). A
//! unit test checks that the MIB file declares every notification with exactly these objects,
//! in this order.

#![forbid(unsafe_code)]

use super::ber::{Oid, Value};
use super::pdu::VarBind;

/// The enterprise subtree: 1.3.6.1.4.1.99999. **99999 is a placeholder**: a Private
/// Enterprise Number must be registered with IANA and put here (and in the MIB's
/// MODULE-IDENTITY) before production.
pub const ENTERPRISE_ARCS: [u32; 7] = [1, 3, 6, 1, 4, 1, 99999];
/// Bound on a name (member, link, resource, disk, drive, sensor) in a varbind, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Bound on the human text (DisplayString is at most 255 bytes).
pub const MAX_TEXT_BYTES: usize = 255;

pub fn enterprise() -> Oid {
    Oid::new(&ENTERPRISE_ARCS)
}
/// rackHaNotifications: enterprise.0; notification N is enterprise.0.N.
pub fn notifications_root() -> Oid {
    enterprise().child(&[0])
}
/// rackHaNotifyObjects: enterprise.1.1; object K's instance is enterprise.1.1.K.0.
pub fn objects_root() -> Oid {
    enterprise().child(&[1, 1])
}

/// The accessible-for-notify scalars, numbered as in the MIB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    Sequence = 1,
    Generation = 2,
    MemberName = 3,
    PeerName = 4,
    LinkName = 5,
    ResourceName = 6,
    DiskName = 7,
    LogicalDriveName = 8,
    SensorName = 9,
    ProgressPercent = 10,
    Text = 11,
    RelayName = 12,
    ConsoleName = 13,
    SurvivableFailures = 14,
}

impl Object {
    pub const ALL: [Object; 14] = [
        Object::Sequence,
        Object::Generation,
        Object::MemberName,
        Object::PeerName,
        Object::LinkName,
        Object::ResourceName,
        Object::DiskName,
        Object::LogicalDriveName,
        Object::SensorName,
        Object::ProgressPercent,
        Object::Text,
        Object::RelayName,
        Object::ConsoleName,
        Object::SurvivableFailures,
    ];

    pub fn mib_name(self) -> &'static str {
        match self {
            Object::Sequence => "rackHaSequence",
            Object::Generation => "rackHaGeneration",
            Object::MemberName => "rackHaMemberName",
            Object::PeerName => "rackHaPeerName",
            Object::LinkName => "rackHaLinkName",
            Object::ResourceName => "rackHaResourceName",
            Object::DiskName => "rackHaDiskName",
            Object::LogicalDriveName => "rackHaLogicalDriveName",
            Object::SensorName => "rackHaSensorName",
            Object::ProgressPercent => "rackHaProgressPercent",
            Object::Text => "rackHaText",
            Object::RelayName => "rackHaRelayName",
            Object::ConsoleName => "rackHaConsoleName",
            Object::SurvivableFailures => "rackHaSurvivableFailures",
        }
    }

    /// The scalar's instance OID (object OID plus `.0`).
    pub fn instance(self) -> Oid {
        objects_root().child(&[self as u32, 0])
    }
}

/// Every event that reaches the management station. Names are configuration names (members,
/// links, resources, relays, consoles) or controller names (disks, logical drives, sensors).
/// `reason` fields go into the human text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    MemberUp {
        member: String,
    },
    MemberDown {
        member: String,
    },
    LinkUp {
        member: String,
        link: String,
    },
    LinkDown {
        member: String,
        link: String,
    },
    QuorumLost {
        member: String,
    },
    QuorumRegained {
        member: String,
    },
    /// `member` is about to take over from `from`.
    FailoverStarted {
        member: String,
        from: String,
    },
    FailoverCompleted {
        member: String,
        from: String,
    },
    /// Graceful move of the resources from `from` to `member`.
    Switchover {
        member: String,
        from: String,
    },
    FenceSucceeded {
        member: String,
    },
    /// The operator turned maintenance mode on (witness) or the node started obeying it.
    MaintenanceOn {
        member: String,
    },
    MaintenanceOff {
        member: String,
    },
    FenceFailed {
        member: String,
        reason: String,
    },
    FenceUnconfirmed {
        member: String,
    },
    RelayBoardUnreachable {
        relay: String,
    },
    ResourceFailed {
        member: String,
        resource: String,
        reason: String,
    },
    ResourceRestarted {
        member: String,
        resource: String,
    },
    ResourceMoved {
        member: String,
        from: String,
        resource: String,
    },
    SelfFenceArmed {
        member: String,
    },
    WatchdogResetAtBoot {
        member: String,
    },
    DiskFailed {
        member: String,
        disk: String,
    },
    DiskRemoved {
        member: String,
        disk: String,
    },
    DiskInserted {
        member: String,
        disk: String,
    },
    SpareActivated {
        member: String,
        drive: String,
        disk: String,
    },
    RebuildStarted {
        member: String,
        drive: String,
        disk: String,
    },
    RebuildProgress {
        member: String,
        drive: String,
        disk: String,
        percent: u32,
    },
    RebuildCompleted {
        member: String,
        drive: String,
        disk: String,
    },
    RebuildFailed {
        member: String,
        drive: String,
        disk: String,
    },
    LogicalDriveDegraded {
        member: String,
        drive: String,
    },
    LogicalDriveFailed {
        member: String,
        drive: String,
    },
    LogicalDriveOffline {
        member: String,
        drive: String,
    },
    LogicalDriveOptimal {
        member: String,
        drive: String,
    },
    EnvironmentAlarmRaised {
        member: String,
        sensor: String,
        reason: String,
    },
    EnvironmentAlarmCleared {
        member: String,
        sensor: String,
    },
    ConsoleLost {
        member: String,
        console: String,
    },
    ConsoleRestored {
        member: String,
        console: String,
    },
    AgentStarted {
        member: String,
    },
    AgentStopping {
        member: String,
        /// What the exit does with the service, in an operator's words.
        how: String,
    },
    ConfigurationReloaded {
        member: String,
    },
    ConfigurationRejected {
        member: String,
        reason: String,
    },
    /// The periodic "I am alive" notification.
    Alive {
        member: String,
    },
    /// The resource runs, but its agent reports it degraded (OCF 190/191); `reason` is the
    /// agent's exit reason (empty when it gave none).
    ResourceDegraded {
        member: String,
        resource: String,
        reason: String,
    },
    /// A degraded resource's monitor succeeds again.
    ResourceRecovered {
        member: String,
        resource: String,
    },
    /// A logical drive built to survive a disk failure survives none more (`survivable` 0):
    /// one more failure loses data.
    RedundancyLost {
        member: String,
        drive: String,
        survivable: u32,
    },
    /// After a loss of redundancy, the drive survives `survivable` (1 or more) more failures.
    RedundancyRestored {
        member: String,
        drive: String,
        survivable: u32,
    },
}

/// One row of the notification table: number under `.0`, MIB name, objects between the
/// sequence/generation pair and the text.
pub struct NotificationInfo {
    pub number: u32,
    pub mib_name: &'static str,
    pub subjects: &'static [Object],
}

use Object::SurvivableFailures as Sf;
use Object::{
    ConsoleName as C, DiskName as D, LinkName as L, LogicalDriveName as V, MemberName as M, PeerName as P,
};
use Object::{ProgressPercent as Pct, RelayName as R, ResourceName as Res, SensorName as S};

/// The notifications in MIB order; index i describes number i+1.
pub const NOTIFICATIONS: [NotificationInfo; 45] = [
    NotificationInfo { number: 1, mib_name: "rackHaMemberUp", subjects: &[M] },
    NotificationInfo { number: 2, mib_name: "rackHaMemberDown", subjects: &[M] },
    NotificationInfo { number: 3, mib_name: "rackHaLinkUp", subjects: &[M, L] },
    NotificationInfo { number: 4, mib_name: "rackHaLinkDown", subjects: &[M, L] },
    NotificationInfo { number: 5, mib_name: "rackHaQuorumLost", subjects: &[M] },
    NotificationInfo { number: 6, mib_name: "rackHaQuorumRegained", subjects: &[M] },
    NotificationInfo { number: 7, mib_name: "rackHaFailoverStarted", subjects: &[M, P] },
    NotificationInfo { number: 8, mib_name: "rackHaFailoverCompleted", subjects: &[M, P] },
    NotificationInfo { number: 9, mib_name: "rackHaSwitchover", subjects: &[M, P] },
    NotificationInfo { number: 10, mib_name: "rackHaFenceSucceeded", subjects: &[M] },
    NotificationInfo { number: 11, mib_name: "rackHaFenceFailed", subjects: &[M] },
    NotificationInfo { number: 12, mib_name: "rackHaFenceUnconfirmed", subjects: &[M] },
    NotificationInfo { number: 13, mib_name: "rackHaRelayBoardUnreachable", subjects: &[R] },
    NotificationInfo { number: 14, mib_name: "rackHaResourceFailed", subjects: &[M, Res] },
    NotificationInfo { number: 15, mib_name: "rackHaResourceRestarted", subjects: &[M, Res] },
    NotificationInfo { number: 16, mib_name: "rackHaResourceMoved", subjects: &[M, P, Res] },
    NotificationInfo { number: 17, mib_name: "rackHaSelfFenceArmed", subjects: &[M] },
    NotificationInfo { number: 18, mib_name: "rackHaWatchdogResetAtBoot", subjects: &[M] },
    NotificationInfo { number: 19, mib_name: "rackHaDiskFailed", subjects: &[M, D] },
    NotificationInfo { number: 20, mib_name: "rackHaDiskRemoved", subjects: &[M, D] },
    NotificationInfo { number: 21, mib_name: "rackHaDiskInserted", subjects: &[M, D] },
    NotificationInfo { number: 22, mib_name: "rackHaSpareActivated", subjects: &[M, V, D] },
    NotificationInfo { number: 23, mib_name: "rackHaRebuildStarted", subjects: &[M, V, D] },
    NotificationInfo { number: 24, mib_name: "rackHaRebuildProgress", subjects: &[M, V, D, Pct] },
    NotificationInfo { number: 25, mib_name: "rackHaRebuildCompleted", subjects: &[M, V, D] },
    NotificationInfo { number: 26, mib_name: "rackHaRebuildFailed", subjects: &[M, V, D] },
    NotificationInfo { number: 27, mib_name: "rackHaLogicalDriveDegraded", subjects: &[M, V] },
    NotificationInfo { number: 28, mib_name: "rackHaLogicalDriveFailed", subjects: &[M, V] },
    NotificationInfo { number: 29, mib_name: "rackHaLogicalDriveOffline", subjects: &[M, V] },
    NotificationInfo { number: 30, mib_name: "rackHaLogicalDriveOptimal", subjects: &[M, V] },
    NotificationInfo { number: 31, mib_name: "rackHaEnvironmentAlarmRaised", subjects: &[M, S] },
    NotificationInfo { number: 32, mib_name: "rackHaEnvironmentAlarmCleared", subjects: &[M, S] },
    NotificationInfo { number: 33, mib_name: "rackHaConsoleLost", subjects: &[M, C] },
    NotificationInfo { number: 34, mib_name: "rackHaConsoleRestored", subjects: &[M, C] },
    NotificationInfo { number: 35, mib_name: "rackHaAgentStarted", subjects: &[M] },
    NotificationInfo { number: 36, mib_name: "rackHaAgentStopping", subjects: &[M] },
    NotificationInfo { number: 37, mib_name: "rackHaConfigurationReloaded", subjects: &[M] },
    NotificationInfo { number: 38, mib_name: "rackHaConfigurationRejected", subjects: &[M] },
    NotificationInfo { number: 39, mib_name: "rackHaAlive", subjects: &[M] },
    NotificationInfo { number: 40, mib_name: "rackHaMaintenanceOn", subjects: &[M] },
    NotificationInfo { number: 41, mib_name: "rackHaMaintenanceOff", subjects: &[M] },
    NotificationInfo { number: 42, mib_name: "rackHaResourceDegraded", subjects: &[M, Res] },
    NotificationInfo { number: 43, mib_name: "rackHaResourceRecovered", subjects: &[M, Res] },
    NotificationInfo { number: 44, mib_name: "rackHaRedundancyLost", subjects: &[M, V, Sf] },
    NotificationInfo { number: 45, mib_name: "rackHaRedundancyRestored", subjects: &[M, V, Sf] },
];

/// A subject value in a notification.
enum Subject<'a> {
    Name(&'a str),
    Number(u32),
}

impl Notification {
    /// The notification's number under the `.0` arc, its subjects in MIB order, and its text.
    fn parts(&self) -> (u32, Vec<Subject<'_>>, String) {
        use Notification as N;
        use Subject::{Name, Number};
        match self {
            N::MemberUp { member } => (1, vec![Name(member)], format!("member {member} is up")),
            N::MemberDown { member } => (2, vec![Name(member)], format!("member {member} is down")),
            N::LinkUp { member, link } => {
                (3, vec![Name(member), Name(link)], format!("link {link} to {member} is up"))
            }
            N::LinkDown { member, link } => {
                (4, vec![Name(member), Name(link)], format!("link {link} to {member} is down"))
            }
            N::QuorumLost { member } => (5, vec![Name(member)], format!("{member} lost quorum")),
            N::QuorumRegained { member } => (6, vec![Name(member)], format!("{member} regained quorum")),
            N::FailoverStarted { member, from } => {
                (7, vec![Name(member), Name(from)], format!("failover from {from} to {member} started"))
            }
            N::FailoverCompleted { member, from } => {
                (8, vec![Name(member), Name(from)], format!("failover from {from} to {member} completed"))
            }
            N::Switchover { member, from } => {
                (9, vec![Name(member), Name(from)], format!("switchover from {from} to {member}"))
            }
            N::FenceSucceeded { member } => {
                (10, vec![Name(member)], format!("{member} fenced (power off confirmed)"))
            }
            N::FenceFailed { member, reason } => {
                (11, vec![Name(member)], format!("fencing {member} failed: {reason}"))
            }
            N::FenceUnconfirmed { member } => {
                (12, vec![Name(member)], format!("fencing {member} is unconfirmed"))
            }
            N::RelayBoardUnreachable { relay } => {
                (13, vec![Name(relay)], format!("relay board {relay} is unreachable"))
            }
            N::ResourceFailed { member, resource, reason } => (
                14,
                vec![Name(member), Name(resource)],
                format!("resource {resource} failed on {member}: {reason}"),
            ),
            N::ResourceRestarted { member, resource } => {
                (15, vec![Name(member), Name(resource)], format!("resource {resource} restarted on {member}"))
            }
            N::ResourceMoved { member, from, resource } => (
                16,
                vec![Name(member), Name(from), Name(resource)],
                format!("resource {resource} moved from {from} to {member}"),
            ),
            N::SelfFenceArmed { member } => (17, vec![Name(member)], format!("{member} armed self-fencing")),
            N::WatchdogResetAtBoot { member } => {
                (18, vec![Name(member)], format!("{member} was reset by its watchdog"))
            }
            N::DiskFailed { member, disk } => {
                (19, vec![Name(member), Name(disk)], format!("disk {disk} on {member} failed"))
            }
            N::DiskRemoved { member, disk } => {
                (20, vec![Name(member), Name(disk)], format!("disk {disk} on {member} removed"))
            }
            N::DiskInserted { member, disk } => {
                (21, vec![Name(member), Name(disk)], format!("disk {disk} on {member} inserted"))
            }
            N::SpareActivated { member, drive, disk } => (
                22,
                vec![Name(member), Name(drive), Name(disk)],
                format!("spare {disk} activated for {drive} on {member}"),
            ),
            N::RebuildStarted { member, drive, disk } => (
                23,
                vec![Name(member), Name(drive), Name(disk)],
                format!("rebuild of {drive} onto {disk} on {member} started"),
            ),
            N::RebuildProgress { member, drive, disk, percent } => (
                24,
                vec![Name(member), Name(drive), Name(disk), Number((*percent).min(100))],
                format!("rebuild of {drive} onto {disk} on {member} at {}%", (*percent).min(100)),
            ),
            N::RebuildCompleted { member, drive, disk } => (
                25,
                vec![Name(member), Name(drive), Name(disk)],
                format!("rebuild of {drive} onto {disk} on {member} completed"),
            ),
            N::RebuildFailed { member, drive, disk } => (
                26,
                vec![Name(member), Name(drive), Name(disk)],
                format!("rebuild of {drive} onto {disk} on {member} failed"),
            ),
            N::LogicalDriveDegraded { member, drive } => (
                27,
                vec![Name(member), Name(drive)],
                format!("logical drive {drive} on {member} is degraded"),
            ),
            N::LogicalDriveFailed { member, drive } => {
                (28, vec![Name(member), Name(drive)], format!("logical drive {drive} on {member} failed"))
            }
            N::LogicalDriveOffline { member, drive } => {
                (29, vec![Name(member), Name(drive)], format!("logical drive {drive} on {member} is offline"))
            }
            N::LogicalDriveOptimal { member, drive } => {
                (30, vec![Name(member), Name(drive)], format!("logical drive {drive} on {member} is optimal"))
            }
            N::EnvironmentAlarmRaised { member, sensor, reason } => (
                31,
                vec![Name(member), Name(sensor)],
                format!("environment alarm {sensor} on {member}: {reason}"),
            ),
            N::EnvironmentAlarmCleared { member, sensor } => (
                32,
                vec![Name(member), Name(sensor)],
                format!("environment alarm {sensor} on {member} cleared"),
            ),
            N::ConsoleLost { member, console } => {
                (33, vec![Name(member), Name(console)], format!("console {console} on {member} lost"))
            }
            N::ConsoleRestored { member, console } => {
                (34, vec![Name(member), Name(console)], format!("console {console} on {member} restored"))
            }
            N::AgentStarted { member } => (35, vec![Name(member)], format!("agent on {member} started")),
            N::AgentStopping { member, how } => {
                (36, vec![Name(member)], format!("agent on {member} is stopping: {how}"))
            }
            N::ConfigurationReloaded { member } => {
                (37, vec![Name(member)], format!("{member} reloaded its configuration"))
            }
            N::ConfigurationRejected { member, reason } => {
                (38, vec![Name(member)], format!("{member} rejected a new configuration: {reason}"))
            }
            N::Alive { member } => (39, vec![Name(member)], format!("{member} is alive")),
            N::MaintenanceOn { member } => (
                40,
                vec![Name(member)],
                format!("maintenance mode on at {member}: resources left alone, no failover"),
            ),
            N::MaintenanceOff { member } => {
                (41, vec![Name(member)], format!("maintenance mode off at {member}"))
            }
            N::ResourceDegraded { member, resource, reason } => (
                42,
                vec![Name(member), Name(resource)],
                match reason.as_str() {
                    "" => format!("resource {resource} on {member} runs degraded"),
                    reason => format!("resource {resource} on {member} runs degraded: {reason}"),
                },
            ),
            N::ResourceRecovered { member, resource } => (
                43,
                vec![Name(member), Name(resource)],
                format!("resource {resource} on {member} is no longer degraded"),
            ),
            N::RedundancyLost { member, drive, survivable } => (
                44,
                vec![Name(member), Name(drive), Number(*survivable)],
                format!("logical drive {drive} on {member} runs without redundancy: one more disk failure loses data"),
            ),
            N::RedundancyRestored { member, drive, survivable } => (
                45,
                vec![Name(member), Name(drive), Number(*survivable)],
                format!(
                    "logical drive {drive} on {member} is redundant again: it survives {survivable} more disk failure{}",
                    if *survivable == 1 { "" } else { "s" }
                ),
            ),
        }
    }

    pub fn info(&self) -> &'static NotificationInfo {
        let number = self.parts().0;
        let info = &NOTIFICATIONS[number as usize - 1];
        assert_eq!(info.number, number);
        info
    }

    /// snmpTrapOID.0's value: enterprise.0.N.
    pub fn oid(&self) -> Oid {
        notifications_root().child(&[self.parts().0])
    }

    /// The human text (bounded, cut at a character boundary).
    pub fn text(&self) -> String {
        truncate(&self.parts().2, MAX_TEXT_BYTES).to_string()
    }

    /// The notification's objects, in MIB order: sequence, generation, subjects, text.
    pub fn varbinds(&self, sequence: u32, generation: u64) -> Vec<VarBind> {
        self.varbinds_with_text(sequence, generation, None)
    }

    /// [`Notification::varbinds`] with `text` (if given) in place of [`Notification::text`]: the
    /// typed objects are the same, only `rackHaText` says it in other words.
    pub fn varbinds_with_text(&self, sequence: u32, generation: u64, text: Option<&str>) -> Vec<VarBind> {
        let (number, subjects, own) = self.parts();
        let text = text.unwrap_or(&own);
        let info = &NOTIFICATIONS[number as usize - 1];
        assert_eq!(subjects.len(), info.subjects.len());
        let mut out = Vec::with_capacity(subjects.len() + 3);
        out.push(VarBind::new(Object::Sequence.instance(), Value::Gauge32(sequence)));
        out.push(VarBind::new(Object::Generation.instance(), Value::Counter64(generation)));
        for (object, subject) in info.subjects.iter().zip(subjects) {
            let value = match subject {
                Subject::Name(s) => Value::OctetString(truncate(s, MAX_NAME_BYTES).as_bytes().to_vec()),
                Subject::Number(n) => Value::Gauge32(n),
            };
            out.push(VarBind::new(object.instance(), value));
        }
        out.push(VarBind::new(
            Object::Text.instance(),
            Value::OctetString(truncate(text, MAX_TEXT_BYTES).as_bytes().to_vec()),
        ));
        out
    }

    /// One example of every kind, in MIB order (for tests and documentation).
    pub fn examples() -> Vec<Notification> {
        use Notification as N;
        let m = || "node-a".to_string();
        let p = || "node-b".to_string();
        let d = || "disk-3".to_string();
        let v = || "ld-0".to_string();
        vec![
            N::MemberUp { member: m() },
            N::MemberDown { member: m() },
            N::LinkUp { member: m(), link: "serial0".into() },
            N::LinkDown { member: m(), link: "serial0".into() },
            N::QuorumLost { member: m() },
            N::QuorumRegained { member: m() },
            N::FailoverStarted { member: m(), from: p() },
            N::FailoverCompleted { member: m(), from: p() },
            N::Switchover { member: m(), from: p() },
            N::FenceSucceeded { member: p() },
            N::FenceFailed { member: p(), reason: "relay did not answer".into() },
            N::FenceUnconfirmed { member: p() },
            N::RelayBoardUnreachable { relay: "relay0".into() },
            N::ResourceFailed { member: m(), resource: "db".into(), reason: "exit status 1".into() },
            N::ResourceRestarted { member: m(), resource: "db".into() },
            N::ResourceMoved { member: m(), from: p(), resource: "db".into() },
            N::SelfFenceArmed { member: m() },
            N::WatchdogResetAtBoot { member: m() },
            N::DiskFailed { member: m(), disk: d() },
            N::DiskRemoved { member: m(), disk: d() },
            N::DiskInserted { member: m(), disk: d() },
            N::SpareActivated { member: m(), drive: v(), disk: d() },
            N::RebuildStarted { member: m(), drive: v(), disk: d() },
            N::RebuildProgress { member: m(), drive: v(), disk: d(), percent: 40 },
            N::RebuildCompleted { member: m(), drive: v(), disk: d() },
            N::RebuildFailed { member: m(), drive: v(), disk: d() },
            N::LogicalDriveDegraded { member: m(), drive: v() },
            N::LogicalDriveFailed { member: m(), drive: v() },
            N::LogicalDriveOffline { member: m(), drive: v() },
            N::LogicalDriveOptimal { member: m(), drive: v() },
            N::EnvironmentAlarmRaised { member: m(), sensor: "fan1".into(), reason: "fan stopped".into() },
            N::EnvironmentAlarmCleared { member: m(), sensor: "fan1".into() },
            N::ConsoleLost { member: m(), console: "raid0".into() },
            N::ConsoleRestored { member: m(), console: "raid0".into() },
            N::AgentStarted { member: m() },
            N::AgentStopping { member: m(), how: "handing the service over".into() },
            N::ConfigurationReloaded { member: m() },
            N::ConfigurationRejected { member: m(), reason: "unknown key".into() },
            N::Alive { member: m() },
            N::MaintenanceOn { member: m() },
            N::MaintenanceOff { member: m() },
            N::ResourceDegraded { member: m(), resource: "db".into(), reason: "replication lag".into() },
            N::ResourceRecovered { member: m(), resource: "db".into() },
            N::RedundancyLost { member: m(), drive: v(), survivable: 0 },
            N::RedundancyRestored { member: m(), drive: v(), survivable: 1 },
        ]
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: &str = include_str!("../../../agent/mib/RACK-HA-MIB.txt");

    #[test]
    fn another_text_changes_only_the_text_varbind() {
        for n in Notification::examples() {
            let own = n.varbinds(7, 3);
            let worded = n.varbinds_with_text(7, 3, Some("membership node-a unreachable (was reachable)"));
            assert_eq!(own.len(), worded.len());
            let last = own.len() - 1;
            assert_eq!(own[..last], worded[..last], "{n:?}: the typed objects stay");
            assert_eq!(own[last].oid, worded[last].oid);
            assert_eq!(
                worded[last].value,
                Value::OctetString(b"membership node-a unreachable (was reachable)".to_vec())
            );
            assert_eq!(own, n.varbinds_with_text(7, 3, None));
        }
    }

    /// The OBJECTS list of `name`'s NOTIFICATION-TYPE and its number, read from the MIB text.
    fn mib_notification(name: &str) -> Option<(Vec<String>, u32)> {
        let start = MIB.find(&format!("\n{name} NOTIFICATION-TYPE"))?;
        let rest = &MIB[start..];
        let objects_at = rest.find("OBJECTS")?;
        let open = objects_at + rest[objects_at..].find('{')?;
        let close = open + rest[open..].find('}')?;
        let objects = rest[open + 1..close].split(',').map(|s| s.trim().to_string()).collect();
        let assign = rest.find("::=")?;
        let tail = &rest[assign + 3..];
        let number =
            tail[..tail.find('}')?].trim().trim_start_matches('{').split_whitespace().nth(1)?.parse().ok()?;
        Some((objects, number))
    }

    #[test]
    fn every_notification_matches_the_mib() {
        let examples = Notification::examples();
        assert_eq!(examples.len(), NOTIFICATIONS.len());
        for (i, n) in examples.iter().enumerate() {
            let info = n.info();
            assert_eq!(info.number as usize, i + 1);
            let (objects, number) = mib_notification(info.mib_name)
                .unwrap_or_else(|| panic!("{} missing from the MIB", info.mib_name));
            assert_eq!(number, info.number, "{}", info.mib_name);
            let varbinds = n.varbinds(1, 2);
            let expected: Vec<String> = varbinds
                .iter()
                .map(|vb| {
                    Object::ALL
                        .iter()
                        .find(|o| o.instance() == vb.oid)
                        .expect("a MIB object")
                        .mib_name()
                        .to_string()
                })
                .collect();
            assert_eq!(objects, expected, "{}", info.mib_name);
        }
        for object in Object::ALL {
            let decl = format!("\n{} OBJECT-TYPE", object.mib_name());
            let at = MIB.find(&decl).unwrap_or_else(|| panic!("{} missing from the MIB", object.mib_name()));
            let tail = &MIB[at..];
            let assign = &tail[tail.find("::=").unwrap()..];
            assert!(
                assign.starts_with(&format!("::= {{ rackHaNotifyObjects {} }}", object as u32)),
                "{}",
                object.mib_name()
            );
        }
        assert!(MIB.contains("::= { enterprises 99999 }"), "the MIB and ENTERPRISE_ARCS agree");
    }

    #[test]
    fn varbinds_are_bounded_and_ordered() {
        let long = "x".repeat(1000);
        let n =
            Notification::ResourceFailed { member: long.clone(), resource: "é".repeat(100), reason: long };
        let vbs = n.varbinds(7, u64::MAX);
        assert_eq!(vbs[0], VarBind::new(Object::Sequence.instance(), Value::Gauge32(7)));
        assert_eq!(vbs[1], VarBind::new(Object::Generation.instance(), Value::Counter64(u64::MAX)));
        for vb in &vbs {
            if let Value::OctetString(s) = &vb.value {
                assert!(s.len() <= MAX_TEXT_BYTES);
                assert!(std::str::from_utf8(s).is_ok());
            }
        }
        assert_eq!(vbs.last().unwrap().oid, Object::Text.instance());
        assert_eq!(n.oid(), Oid::new(&[1, 3, 6, 1, 4, 1, 99999, 0, 14]));
    }
}

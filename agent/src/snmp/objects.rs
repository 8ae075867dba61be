//! The readable objects of `RACK-HA-MIB` (under rackHaObjects 2 and up): the MIB view of the
//! status document.
//!
//! Owns the object identifiers of the cluster scalars, the member, link, relay, logical
//! drive, disk and sensor tables, the SNMP agent's counters and the fence service's (one
//! table, [`OBJECTS`], that a unit test checks against `agent/mib/RACK-HA-MIB.txt`), the SMI
//! type, enumeration number and encoding of each value, and [`MibView`]: exact lookup and
//! lexicographic successor for `get`, `getnext` and `getbulk`. It gathers nothing: the view
//! is built from the typed status document ([`crate::status::Status`], what `status --json`
//! prints, filled by the shell) and the responder's own counters, so the MIB and the status
//! cannot disagree. It does not parse requests or speak USM (see `responder`). A value that
//! the agent does not know (a node's readiness before its first report, a rebuild percent when
//! nothing rebuilds: null in the status) has no instance rather than an invented one.

#![forbid(unsafe_code)]

use super::ber::{Oid, Value};
use super::mib::ENTERPRISE_ARCS;
use crate::core::authority::ResState;
use crate::core::membership::Role;
use crate::core::membership::{LinkState, PeerState};
use crate::fencesvc::protocol::Action;
use crate::status::{Authority, Status};

/// Bound on any DisplayString value served, in bytes (SNMPv2-TC: 255).
pub const MAX_DISPLAY_STRING_BYTES: usize = 255;

/// An object's arcs below the enterprise OID (`rackHaMIB`).
pub type Arcs = &'static [u32];

// Cluster scalars: rackHaCluster = rackHaObjects 2 = enterprise.1.2; instance `.0`.
pub const CLUSTER_NAME: Arcs = &[1, 2, 1];
pub const LOCAL_MEMBER: Arcs = &[1, 2, 2];
pub const LOCAL_ROLE: Arcs = &[1, 2, 3];
pub const LOCAL_BOOT: Arcs = &[1, 2, 4];
pub const GENERATION: Arcs = &[1, 2, 5];
pub const HOLDER: Arcs = &[1, 2, 6];
pub const HOLDER_SINCE: Arcs = &[1, 2, 7];
pub const MAINTENANCE: Arcs = &[1, 2, 8];
pub const STARTUP: Arcs = &[1, 2, 9];
pub const SWITCHING: Arcs = &[1, 2, 10];
pub const FENCING: Arcs = &[1, 2, 11];
pub const LOCAL_QUORUM: Arcs = &[1, 2, 12];
pub const LOCAL_RESOURCES_STATE: Arcs = &[1, 2, 13];
pub const LOCAL_ACTING_GENERATION: Arcs = &[1, 2, 14];
pub const LAST_FENCE_NODE: Arcs = &[1, 2, 15];
pub const LAST_FENCE_RESULT: Arcs = &[1, 2, 16];
pub const LAST_FENCE_ATTEMPT: Arcs = &[1, 2, 17];
pub const LAST_FENCE_AT: Arcs = &[1, 2, 18];
pub const FENCE_OUTCOMES: Arcs = &[1, 2, 19];

// rackHaMemberTable = rackHaObjects 3; entry .1; column C; index: member id.
pub const MEMBER_ENTRY: Arcs = &[1, 3, 1];
pub const MBR_NAME: u32 = 2;
pub const MBR_ROLE: u32 = 3;
pub const MBR_STATE: u32 = 4;
pub const MBR_LINKS_UP: u32 = 5;
pub const MBR_READY: u32 = 6;
pub const MBR_RESOURCES_STATE: u32 = 7;
pub const MBR_ACTING_GENERATION: u32 = 8;
pub const MBR_STANDBY: u32 = 9;
pub const MBR_WATCHDOG_ARMED: u32 = 10;
pub const MBR_FENCE_BOUND: u32 = 11;

// rackHaLinkTable = rackHaObjects 4; index: link id.
pub const LINK_ENTRY: Arcs = &[1, 4, 1];
pub const LNK_PEER: u32 = 2;
pub const LNK_KIND: u32 = 3;
pub const LNK_TRANSPORT: u32 = 4;
pub const LNK_OPEN: u32 = 5;
pub const LNK_STATE: u32 = 6;
pub const LNK_FRAMES_IN: u32 = 7;
pub const LNK_FRAMES_OUT: u32 = 8;
pub const LNK_SEND_ERRORS: u32 = 9;
pub const LNK_CRC_ERRORS: u32 = 10;
pub const LNK_AUTH_FAILURES: u32 = 11;
pub const LNK_REPLAYS: u32 = 12;
pub const LNK_MALFORMED: u32 = 13;
pub const LNK_UNKNOWN_LINK: u32 = 14;
pub const LNK_TRANSITIONS: u32 = 15;
pub const LNK_DOWNS: u32 = 16;

// rackHaRelayTable = rackHaObjects 5; index: the member id of the node the channel powers.
pub const RELAY_ENTRY: Arcs = &[1, 5, 1];
pub const RLY_NODE: u32 = 2;
pub const RLY_HEALTH: u32 = 3;

// rackHaArray = rackHaObjects 6: console scalars, then three tables indexed by position.
pub const ARRAY_CONSOLE_STATE: Arcs = &[1, 6, 1];
pub const ARRAY_DIALECT: Arcs = &[1, 6, 2];
pub const ARRAY_DEVICE: Arcs = &[1, 6, 3];
pub const ARRAY_WRONG_BAUD: Arcs = &[1, 6, 4];
pub const ARRAY_SURVIVABLE_FAILURES: Arcs = &[1, 6, 8];
pub const DRIVE_ENTRY: Arcs = &[1, 6, 5, 1];
pub const DRV_NAME: u32 = 2;
pub const DRV_RAID_LEVEL: u32 = 3;
pub const DRV_STATE: u32 = 4;
pub const DRV_REBUILD_PERCENT: u32 = 5;
pub const DRV_SURVIVABLE_FAILURES: u32 = 6;
pub const DISK_ENTRY: Arcs = &[1, 6, 6, 1];
pub const DSK_NAME: u32 = 2;
pub const DSK_STATE: u32 = 3;
pub const DSK_DRIVE: u32 = 4;
pub const DSK_REBUILD_PERCENT: u32 = 5;
pub const SENSOR_ENTRY: Arcs = &[1, 6, 7, 1];
pub const SNS_NAME: u32 = 2;
pub const SNS_KIND: u32 = 3;
pub const SNS_READING: u32 = 4;
pub const SNS_ALARM: u32 = 5;

// rackHaSnmpAgent = rackHaObjects 7: the request responder's own counters.
pub const SNMP_REQUESTS: Arcs = &[1, 7, 1];
pub const SNMP_RESPONSES: Arcs = &[1, 7, 2];
pub const SNMP_MALFORMED: Arcs = &[1, 7, 3];
pub const SNMP_BAD_VERSIONS: Arcs = &[1, 7, 4];
pub const SNMP_BAD_COMMUNITIES: Arcs = &[1, 7, 5];
pub const SNMP_USM_REFUSED: Arcs = &[1, 7, 6];
pub const SNMP_SETS_REFUSED: Arcs = &[1, 7, 7];
pub const SNMP_TOO_BIG: Arcs = &[1, 7, 8];

// rackHaFenceService = rackHaObjects 8: the fence service for another cluster
// (`[fence_service]`), its counters (`crate::status::FenceServiceCounters`) and latest command.
pub const FS_LISTEN: Arcs = &[1, 8, 1];
pub const FS_RUNNING: Arcs = &[1, 8, 2];
pub const FS_DATAGRAMS: Arcs = &[1, 8, 3];
pub const FS_CHALLENGES: Arcs = &[1, 8, 4];
pub const FS_COMMANDS: Arcs = &[1, 8, 5];
pub const FS_RETRANSMISSIONS: Arcs = &[1, 8, 6];
pub const FS_REFUSED_UNKNOWN_PLUG: Arcs = &[1, 8, 7];
pub const FS_REFUSED_OWN_MEMBER: Arcs = &[1, 8, 8];
pub const FS_REFUSED_BUSY: Arcs = &[1, 8, 9];
pub const FS_REPLAYS_REFUSED: Arcs = &[1, 8, 10];
pub const FS_BAD_MACS: Arcs = &[1, 8, 11];
pub const FS_MALFORMED: Arcs = &[1, 8, 12];
pub const FS_NOT_ALLOWED: Arcs = &[1, 8, 13];
pub const FS_RATE_LIMITED: Arcs = &[1, 8, 14];
pub const FS_NONCE_TABLE_FULL: Arcs = &[1, 8, 15];
pub const FS_OFFS: Arcs = &[1, 8, 16];
pub const FS_ONS: Arcs = &[1, 8, 17];
pub const FS_REBOOTS: Arcs = &[1, 8, 18];
pub const FS_STATUS_READS: Arcs = &[1, 8, 19];
pub const FS_FAILED: Arcs = &[1, 8, 20];
pub const FS_LAST_PLUG: Arcs = &[1, 8, 21];
pub const FS_LAST_ACTION: Arcs = &[1, 8, 22];
pub const FS_LAST_RESULT: Arcs = &[1, 8, 23];
pub const FS_LAST_TEXT: Arcs = &[1, 8, 24];
pub const FS_LAST_AT: Arcs = &[1, 8, 25];
pub const FS_REFUSED_FENCED_CLIENT: Arcs = &[1, 8, 26];

/// Every readable object: its MIB descriptor and its OID below the enterprise (a scalar's
/// OID, or a table column's: entry arcs plus the column number). The unit test below reads
/// the MIB file and checks each against its `::= { parent N }` chain.
pub const OBJECTS: &[(&str, Arcs)] = &[
    ("rackHaClusterName", CLUSTER_NAME),
    ("rackHaLocalMember", LOCAL_MEMBER),
    ("rackHaLocalRole", LOCAL_ROLE),
    ("rackHaLocalBoot", LOCAL_BOOT),
    ("rackHaClusterGeneration", GENERATION),
    ("rackHaClusterHolder", HOLDER),
    ("rackHaClusterHolderSince", HOLDER_SINCE),
    ("rackHaClusterMaintenance", MAINTENANCE),
    ("rackHaClusterStartup", STARTUP),
    ("rackHaClusterSwitching", SWITCHING),
    ("rackHaClusterFencing", FENCING),
    ("rackHaLocalQuorum", LOCAL_QUORUM),
    ("rackHaLocalResourcesState", LOCAL_RESOURCES_STATE),
    ("rackHaLocalActingGeneration", LOCAL_ACTING_GENERATION),
    ("rackHaLastFenceNode", LAST_FENCE_NODE),
    ("rackHaLastFenceResult", LAST_FENCE_RESULT),
    ("rackHaLastFenceAttempt", LAST_FENCE_ATTEMPT),
    ("rackHaLastFenceAt", LAST_FENCE_AT),
    ("rackHaFenceOutcomes", FENCE_OUTCOMES),
    ("rackHaMbrName", &[1, 3, 1, MBR_NAME]),
    ("rackHaMbrRole", &[1, 3, 1, MBR_ROLE]),
    ("rackHaMbrState", &[1, 3, 1, MBR_STATE]),
    ("rackHaMbrLinksUp", &[1, 3, 1, MBR_LINKS_UP]),
    ("rackHaMbrReady", &[1, 3, 1, MBR_READY]),
    ("rackHaMbrResourcesState", &[1, 3, 1, MBR_RESOURCES_STATE]),
    ("rackHaMbrActingGeneration", &[1, 3, 1, MBR_ACTING_GENERATION]),
    ("rackHaMbrStandby", &[1, 3, 1, MBR_STANDBY]),
    ("rackHaMbrWatchdogArmed", &[1, 3, 1, MBR_WATCHDOG_ARMED]),
    ("rackHaMbrFenceBound", &[1, 3, 1, MBR_FENCE_BOUND]),
    ("rackHaLnkPeer", &[1, 4, 1, LNK_PEER]),
    ("rackHaLnkKind", &[1, 4, 1, LNK_KIND]),
    ("rackHaLnkTransport", &[1, 4, 1, LNK_TRANSPORT]),
    ("rackHaLnkOpen", &[1, 4, 1, LNK_OPEN]),
    ("rackHaLnkState", &[1, 4, 1, LNK_STATE]),
    ("rackHaLnkFramesIn", &[1, 4, 1, LNK_FRAMES_IN]),
    ("rackHaLnkFramesOut", &[1, 4, 1, LNK_FRAMES_OUT]),
    ("rackHaLnkSendErrors", &[1, 4, 1, LNK_SEND_ERRORS]),
    ("rackHaLnkCrcErrors", &[1, 4, 1, LNK_CRC_ERRORS]),
    ("rackHaLnkAuthFailures", &[1, 4, 1, LNK_AUTH_FAILURES]),
    ("rackHaLnkReplays", &[1, 4, 1, LNK_REPLAYS]),
    ("rackHaLnkMalformed", &[1, 4, 1, LNK_MALFORMED]),
    ("rackHaLnkUnknownLink", &[1, 4, 1, LNK_UNKNOWN_LINK]),
    ("rackHaLnkTransitions", &[1, 4, 1, LNK_TRANSITIONS]),
    ("rackHaLnkDowns", &[1, 4, 1, LNK_DOWNS]),
    ("rackHaRlyNode", &[1, 5, 1, RLY_NODE]),
    ("rackHaRlyHealth", &[1, 5, 1, RLY_HEALTH]),
    ("rackHaArrayConsoleState", ARRAY_CONSOLE_STATE),
    ("rackHaArrayDialect", ARRAY_DIALECT),
    ("rackHaArrayDevice", ARRAY_DEVICE),
    ("rackHaArrayWrongBaud", ARRAY_WRONG_BAUD),
    ("rackHaArraySurvivableFailures", ARRAY_SURVIVABLE_FAILURES),
    ("rackHaDrvName", &[1, 6, 5, 1, DRV_NAME]),
    ("rackHaDrvRaidLevel", &[1, 6, 5, 1, DRV_RAID_LEVEL]),
    ("rackHaDrvState", &[1, 6, 5, 1, DRV_STATE]),
    ("rackHaDrvRebuildPercent", &[1, 6, 5, 1, DRV_REBUILD_PERCENT]),
    ("rackHaDrvSurvivableFailures", &[1, 6, 5, 1, DRV_SURVIVABLE_FAILURES]),
    ("rackHaDskName", &[1, 6, 6, 1, DSK_NAME]),
    ("rackHaDskState", &[1, 6, 6, 1, DSK_STATE]),
    ("rackHaDskDrive", &[1, 6, 6, 1, DSK_DRIVE]),
    ("rackHaDskRebuildPercent", &[1, 6, 6, 1, DSK_REBUILD_PERCENT]),
    ("rackHaSnsName", &[1, 6, 7, 1, SNS_NAME]),
    ("rackHaSnsKind", &[1, 6, 7, 1, SNS_KIND]),
    ("rackHaSnsReading", &[1, 6, 7, 1, SNS_READING]),
    ("rackHaSnsAlarm", &[1, 6, 7, 1, SNS_ALARM]),
    ("rackHaSnmpRequests", SNMP_REQUESTS),
    ("rackHaSnmpResponses", SNMP_RESPONSES),
    ("rackHaSnmpMalformed", SNMP_MALFORMED),
    ("rackHaSnmpBadVersions", SNMP_BAD_VERSIONS),
    ("rackHaSnmpBadCommunities", SNMP_BAD_COMMUNITIES),
    ("rackHaSnmpUsmRefused", SNMP_USM_REFUSED),
    ("rackHaSnmpSetsRefused", SNMP_SETS_REFUSED),
    ("rackHaSnmpTooBig", SNMP_TOO_BIG),
    ("rackHaFenceSvcListen", FS_LISTEN),
    ("rackHaFenceSvcRunning", FS_RUNNING),
    ("rackHaFenceSvcDatagrams", FS_DATAGRAMS),
    ("rackHaFenceSvcChallenges", FS_CHALLENGES),
    ("rackHaFenceSvcCommands", FS_COMMANDS),
    ("rackHaFenceSvcRetransmissions", FS_RETRANSMISSIONS),
    ("rackHaFenceSvcRefusedUnknownPlug", FS_REFUSED_UNKNOWN_PLUG),
    ("rackHaFenceSvcRefusedOwnMember", FS_REFUSED_OWN_MEMBER),
    ("rackHaFenceSvcRefusedBusy", FS_REFUSED_BUSY),
    ("rackHaFenceSvcReplaysRefused", FS_REPLAYS_REFUSED),
    ("rackHaFenceSvcBadMacs", FS_BAD_MACS),
    ("rackHaFenceSvcMalformed", FS_MALFORMED),
    ("rackHaFenceSvcNotAllowed", FS_NOT_ALLOWED),
    ("rackHaFenceSvcRateLimited", FS_RATE_LIMITED),
    ("rackHaFenceSvcNonceTableFull", FS_NONCE_TABLE_FULL),
    ("rackHaFenceSvcOffs", FS_OFFS),
    ("rackHaFenceSvcOns", FS_ONS),
    ("rackHaFenceSvcReboots", FS_REBOOTS),
    ("rackHaFenceSvcStatusReads", FS_STATUS_READS),
    ("rackHaFenceSvcFailed", FS_FAILED),
    ("rackHaFenceSvcLastPlug", FS_LAST_PLUG),
    ("rackHaFenceSvcLastAction", FS_LAST_ACTION),
    ("rackHaFenceSvcLastResult", FS_LAST_RESULT),
    ("rackHaFenceSvcLastText", FS_LAST_TEXT),
    ("rackHaFenceSvcLastAt", FS_LAST_AT),
    ("rackHaFenceSvcRefusedFencedClient", FS_REFUSED_FENCED_CLIENT),
];

/// The subtree the responder serves: rackHaObjects (enterprise.1). Names outside it are not
/// in the agent's view (a `set` there is `noAccess`, a `get` `noSuchObject`).
pub fn served_root() -> Oid {
    Oid::new(&ENTERPRISE_ARCS).child(&[1])
}

/// The full OID of an object given by its arcs below the enterprise.
pub fn object_oid(arcs: &[u32]) -> Oid {
    Oid::new(&ENTERPRISE_ARCS).child(arcs)
}

/// The responder's counters: the status document's `snmp_agent.counters` (one definition,
/// `crate::status`), shown as rackHaSnmpAgent.
pub type AgentCounters = crate::status::SnmpAgentCounters;

// ---------------------------------------------------------------------------------------------
// Values

fn text(s: &str) -> Value {
    let cut = s.len().min(MAX_DISPLAY_STRING_BYTES);
    let mut end = cut;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Value::OctetString(s.as_bytes()[..end].to_vec())
}

/// TruthValue (SNMPv2-TC): true(1), false(2).
fn truth(b: bool) -> Value {
    Value::Integer(if b { 1 } else { 2 })
}

/// Counter32 of a 64-bit count: wraps, as a Counter32 does.
fn counter32(n: u64) -> Value {
    Value::Counter32(n as u32)
}

/// The number of `name` in an enumeration of the MIB given as its names in the MIB's order
/// (the first is 1); None for a name it does not have.
fn number(names: &[&str], name: &str) -> Option<i32> {
    names.iter().position(|n| *n == name).and_then(|i| i32::try_from(i + 1).ok())
}

/// The MIB's enumerations, from the status document's spellings (the core's `as_str` where
/// it has one). A spelling none of them has gives no instance; a unit test holds every variant.
pub fn role_number(role: &str) -> Option<i32> {
    number(&[Role::Witness.as_str(), Role::Node.as_str()], role)
}
pub fn peer_state_number(state: &str) -> Option<i32> {
    number(&[PeerState::Unknown, PeerState::Reachable, PeerState::Unreachable].map(PeerState::as_str), state)
}
pub fn link_state_number(state: &str) -> Option<i32> {
    number(&[LinkState::Init, LinkState::Up, LinkState::Warn, LinkState::Down].map(LinkState::as_str), state)
}
pub fn res_state_number(state: &str) -> Option<i32> {
    let states = [
        ResState::Stopped,
        ResState::Starting,
        ResState::Running,
        ResState::Stopping,
        ResState::Failed,
        ResState::StopFailed,
    ];
    number(&states.map(ResState::as_str), state)
}
/// The status's link `kind` (`shell::status`).
pub fn link_kind_number(kind: &str) -> Option<i32> {
    crate::status::LinkMedium::parse(kind).map(crate::status::LinkMedium::mib_value)
}
/// The status's array `console.state` (`devices::console::status`).
pub fn console_state_number(state: &str) -> Option<i32> {
    crate::status::ConsoleState::parse(state).map(crate::status::ConsoleState::mib_value)
}
/// The status's `last_fence.result` (`shell::status`).
pub fn fence_result_number(result: &str) -> Option<i32> {
    crate::status::FenceResult::parse(result).map(crate::status::FenceResult::mib_value)
}
/// The fence service's `last_command.action` (rackHaFenceSvcLastAction).
pub fn fence_service_action_number(action: &str) -> Option<i32> {
    number(&[Action::Off, Action::On, Action::Reboot, Action::Status].map(Action::as_str), action)
}

/// DateAndTime (SNMPv2-TC) in UTC, 11 octets (with the `+0:0` offset), from Unix time in ms.
pub fn date_and_time(unix_ms: u64) -> Value {
    let secs = unix_ms / 1000;
    let deci = ((unix_ms % 1000) / 100) as u8;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let year = u16::try_from(y).unwrap_or(u16::MAX).to_be_bytes();
    Value::OctetString(vec![
        year[0],
        year[1],
        m,
        d,
        (rem / 3600) as u8,
        ((rem % 3600) / 60) as u8,
        (rem % 60) as u8,
        deci,
        b'+',
        0,
        0,
    ])
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------------------------
// The view

/// The agent's objects as (instance OID, value) pairs in lexicographic OID order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MibView {
    entries: Vec<(Oid, Value)>,
}

/// What a `get` of one name finds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    Found(&'a Value),
    /// The name is an instance of a known object that has no such instance now.
    NoSuchInstance,
    /// The name is not an instance of any object the agent serves.
    NoSuchObject,
}

struct Builder {
    entries: Vec<(Oid, Value)>,
}

impl Builder {
    fn scalar(&mut self, arcs: &[u32], value: Value) {
        let oid = object_oid(arcs).child(&[0]);
        self.entries.push((oid, value));
    }
    /// An enumerated scalar; no instance for a spelling the enumeration does not have.
    fn enumeration(&mut self, arcs: &[u32], number: Option<i32>) {
        if let Some(n) = number {
            self.scalar(arcs, Value::Integer(n));
        }
    }
    fn cell(&mut self, entry: &[u32], column: u32, index: u32, value: Value) {
        let oid = object_oid(entry).child(&[column, index]);
        self.entries.push((oid, value));
    }
}

impl MibView {
    /// The view of the status document `s`, with the responder's counters `agent` as they
    /// are while it answers (the status's `snmp_agent` is the shell's copy of them, a request
    /// behind).
    pub fn build(s: &Status, agent: &AgentCounters) -> MibView {
        let mut b = Builder { entries: Vec::with_capacity(256) };
        b.scalar(CLUSTER_NAME, text(&s.cluster));
        b.scalar(LOCAL_MEMBER, text(&s.member));
        b.enumeration(LOCAL_ROLE, role_number(&s.role));
        b.scalar(LOCAL_BOOT, Value::Gauge32(u32::try_from(s.boot).unwrap_or(u32::MAX)));
        match &s.authority {
            Some(Authority::Witness(w)) => {
                b.scalar(GENERATION, Value::Counter64(w.generation));
                b.scalar(HOLDER, text(w.holder.as_deref().unwrap_or("")));
                if let Some(ms) = w.granted_at_wall_ms {
                    b.scalar(HOLDER_SINCE, date_and_time(ms));
                }
                b.scalar(MAINTENANCE, truth(w.maintenance));
                b.scalar(STARTUP, truth(w.startup));
                b.scalar(SWITCHING, truth(w.switching));
                b.scalar(FENCING, text(w.fencing.as_deref().unwrap_or("")));
                if let Some(f) = &w.last_fence {
                    b.scalar(LAST_FENCE_NODE, text(&f.node));
                    b.enumeration(LAST_FENCE_RESULT, fence_result_number(&f.result));
                    b.scalar(LAST_FENCE_ATTEMPT, Value::Gauge32(f.attempt));
                    b.scalar(LAST_FENCE_AT, date_and_time(f.at_wall_ms));
                    b.scalar(FENCE_OUTCOMES, counter32(f.count));
                }
            }
            Some(Authority::Node(n)) => {
                b.scalar(GENERATION, Value::Counter64(n.max_seen_generation));
                b.scalar(MAINTENANCE, truth(n.maintenance));
                b.scalar(LOCAL_QUORUM, truth(n.quorum));
                b.enumeration(LOCAL_RESOURCES_STATE, res_state_number(&n.resources_state));
                b.scalar(LOCAL_ACTING_GENERATION, Value::Counter64(n.acting_generation));
            }
            None => {}
        }
        let witness = s.witness();
        for m in &s.members {
            // A member the configuration does not name has no row (never, once started).
            let Some(name) = &m.name else { continue };
            let i = u32::from(m.id);
            b.cell(MEMBER_ENTRY, MBR_NAME, i, text(name));
            if let Some(n) = m.role.as_deref().and_then(role_number) {
                b.cell(MEMBER_ENTRY, MBR_ROLE, i, Value::Integer(n));
            }
            if let Some(n) = peer_state_number(&m.state) {
                b.cell(MEMBER_ENTRY, MBR_STATE, i, Value::Integer(n));
            }
            b.cell(MEMBER_ENTRY, MBR_LINKS_UP, i, Value::Gauge32(u32::from(m.links_up)));
            // The witness's view of a node: its standby, and what its latest report said.
            let Some(r) = witness.and_then(|w| w.node(name)) else { continue };
            b.cell(MEMBER_ENTRY, MBR_STANDBY, i, truth(r.standby));
            if let Some(ready) = r.ready {
                b.cell(MEMBER_ENTRY, MBR_READY, i, truth(ready));
            }
            if let Some(n) = r.resources_state.as_deref().and_then(res_state_number) {
                b.cell(MEMBER_ENTRY, MBR_RESOURCES_STATE, i, Value::Integer(n));
            }
            if let Some(g) = r.acting_generation {
                b.cell(MEMBER_ENTRY, MBR_ACTING_GENERATION, i, Value::Counter64(g));
            }
            if let Some(armed) = r.watchdog_armed {
                b.cell(MEMBER_ENTRY, MBR_WATCHDOG_ARMED, i, truth(armed));
            }
            if let Some(ms) = r.fence_bound_ms {
                b.cell(MEMBER_ENTRY, MBR_FENCE_BOUND, i, Value::Gauge32(ms));
            }
        }
        for l in &s.links {
            let i = u32::from(l.id);
            b.cell(LINK_ENTRY, LNK_PEER, i, text(&l.peer));
            if let Some(n) = link_kind_number(&l.kind) {
                b.cell(LINK_ENTRY, LNK_KIND, i, Value::Integer(n));
            }
            b.cell(LINK_ENTRY, LNK_TRANSPORT, i, text(&l.transport));
            b.cell(LINK_ENTRY, LNK_OPEN, i, truth(l.open));
            if let Some(n) = link_state_number(&l.state) {
                b.cell(LINK_ENTRY, LNK_STATE, i, Value::Integer(n));
            }
            for (column, n) in [
                (LNK_FRAMES_IN, l.frames_in),
                (LNK_FRAMES_OUT, l.frames_out),
                (LNK_SEND_ERRORS, l.send_errors),
                (LNK_CRC_ERRORS, l.crc_errors),
                (LNK_AUTH_FAILURES, l.auth_failures),
                (LNK_REPLAYS, l.replays),
                (LNK_MALFORMED, l.malformed),
                (LNK_UNKNOWN_LINK, l.unknown_link),
                (LNK_TRANSITIONS, l.transitions),
                (LNK_DOWNS, l.downs),
            ] {
                b.cell(LINK_ENTRY, column, i, Value::Counter64(n));
            }
        }
        // Relay channels, indexed by the member id of the node each powers.
        for f in witness.map(|w| w.fence_devices.as_slice()).unwrap_or_default() {
            let Some(id) = s.member(&f.node).map(|m| u32::from(m.id)) else { continue };
            b.cell(RELAY_ENTRY, RLY_NODE, id, text(&f.node));
            b.cell(RELAY_ENTRY, RLY_HEALTH, id, Value::Integer(if f.state == "ok" { 1 } else { 2 }));
        }
        if let Some(a) = &s.array {
            b.enumeration(ARRAY_CONSOLE_STATE, console_state_number(&a.console.state));
            b.scalar(ARRAY_DIALECT, text(&a.console.dialect));
            b.scalar(ARRAY_DEVICE, text(&a.console.device));
            b.scalar(ARRAY_WRONG_BAUD, truth(a.console.wrong_baud));
            if let Some(n) = a.survivable_failures {
                b.scalar(ARRAY_SURVIVABLE_FAILURES, Value::Gauge32(u32::from(n)));
            }
            for (pos, d) in (1u32..).zip(a.drives.iter()) {
                b.cell(DRIVE_ENTRY, DRV_NAME, pos, text(&d.name));
                b.cell(DRIVE_ENTRY, DRV_RAID_LEVEL, pos, text(&d.raid_level));
                b.cell(DRIVE_ENTRY, DRV_STATE, pos, text(&d.state));
                if let Some(p) = d.rebuild_percent {
                    b.cell(DRIVE_ENTRY, DRV_REBUILD_PERCENT, pos, Value::Gauge32(u32::from(p)));
                }
                if let Some(n) = d.survivable_failures {
                    b.cell(DRIVE_ENTRY, DRV_SURVIVABLE_FAILURES, pos, Value::Gauge32(u32::from(n)));
                }
            }
            for (pos, d) in (1u32..).zip(a.disks.iter()) {
                b.cell(DISK_ENTRY, DSK_NAME, pos, text(&d.name));
                b.cell(DISK_ENTRY, DSK_STATE, pos, text(&d.state));
                b.cell(DISK_ENTRY, DSK_DRIVE, pos, text(d.drive.as_deref().unwrap_or("")));
                if let Some(p) = d.rebuild_percent {
                    b.cell(DISK_ENTRY, DSK_REBUILD_PERCENT, pos, Value::Gauge32(u32::from(p)));
                }
            }
            for (pos, e) in (1u32..).zip(a.environment.iter()) {
                b.cell(SENSOR_ENTRY, SNS_NAME, pos, text(&e.name));
                b.cell(SENSOR_ENTRY, SNS_KIND, pos, text(&e.kind));
                b.cell(SENSOR_ENTRY, SNS_READING, pos, text(&e.reading));
                b.cell(SENSOR_ENTRY, SNS_ALARM, pos, text(e.alarm.as_deref().unwrap_or("")));
            }
        }
        let c = agent;
        for (arcs, n) in [
            (SNMP_REQUESTS, c.requests),
            (SNMP_RESPONSES, c.responses),
            (SNMP_MALFORMED, c.malformed),
            (SNMP_BAD_VERSIONS, c.bad_versions),
            (SNMP_BAD_COMMUNITIES, c.bad_communities),
            (SNMP_USM_REFUSED, c.usm_refused),
            (SNMP_SETS_REFUSED, c.sets_refused),
            (SNMP_TOO_BIG, c.too_big),
        ] {
            b.scalar(arcs, counter32(n));
        }
        if let Some(f) = &s.fence_service {
            let c = &f.counters;
            b.scalar(FS_LISTEN, text(&f.listen));
            b.scalar(FS_RUNNING, Value::Gauge32(u32::try_from(f.running).unwrap_or(u32::MAX)));
            for (arcs, n) in [
                (FS_DATAGRAMS, c.datagrams),
                (FS_CHALLENGES, c.challenges),
                (FS_COMMANDS, c.commands),
                (FS_RETRANSMISSIONS, c.retransmissions),
                (FS_REFUSED_UNKNOWN_PLUG, c.refused_unknown_plug),
                (FS_REFUSED_OWN_MEMBER, c.refused_own_member),
                (FS_REFUSED_BUSY, c.refused_busy),
                (FS_REPLAYS_REFUSED, c.replays_refused),
                (FS_BAD_MACS, c.bad_mac),
                (FS_MALFORMED, c.malformed),
                (FS_NOT_ALLOWED, c.not_allowed),
                (FS_RATE_LIMITED, c.rate_limited),
                (FS_NONCE_TABLE_FULL, c.nonce_table_full),
                (FS_OFFS, c.offs),
                (FS_ONS, c.ons),
                (FS_REBOOTS, c.reboots),
                (FS_STATUS_READS, c.status_reads),
                (FS_FAILED, c.failed),
                (FS_REFUSED_FENCED_CLIENT, c.refused_fenced_client),
            ] {
                b.scalar(arcs, counter32(n));
            }
            if let Some(last) = &f.last_command {
                b.scalar(FS_LAST_PLUG, text(&last.plug));
                b.enumeration(FS_LAST_ACTION, fence_service_action_number(&last.action));
                b.scalar(FS_LAST_RESULT, Value::Integer(if last.ok { 1 } else { 2 }));
                b.scalar(FS_LAST_TEXT, text(&last.result));
                b.scalar(FS_LAST_AT, date_and_time(last.at_wall_ms));
            }
        }
        let mut entries = b.entries;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(entries.windows(2).all(|w| w[0].0 < w[1].0), "every instance is served once");
        MibView { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `get`: the value of exactly this instance.
    pub fn get(&self, name: &Oid) -> Lookup<'_> {
        if let Ok(i) = self.entries.binary_search_by(|(oid, _)| oid.cmp(name)) {
            return Lookup::Found(&self.entries[i].1);
        }
        let known = OBJECTS.iter().any(|(_, arcs)| name.starts_with(&object_oid(arcs)));
        if known {
            Lookup::NoSuchInstance
        } else {
            Lookup::NoSuchObject
        }
    }

    /// `getnext`: the first instance after `name` in lexicographic order, if any.
    pub fn next(&self, name: &Oid) -> Option<(&Oid, &Value)> {
        let i = self.entries.partition_point(|(oid, _)| oid <= name);
        self.entries.get(i).map(|(oid, value)| (oid, value))
    }
}

#[cfg(test)]
pub(crate) mod tests;

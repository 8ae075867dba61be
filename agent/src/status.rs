//! The status document, typed: what `ha-agent status --json` prints and the control socket
//! answers to `status` (docs/status.md describes every key; a test holds the two together).
//!
//! Owns the one definition of the document's keys and shapes. The shell fills it
//! (`shell::status`), serde writes it, the SNMP responder's MIB view is built from it
//! (`snmp::objects`), the SNMP responder and the fence service keep their counters in its
//! types ([`SnmpAgentCounters`], [`FenceServiceCounters`]), and every reader reads it back into it: the operator's
//! screen (`control::render_status`), `status --check` (`cli::check`), `--wait` (`cli::wait`)
//! and the test harness. Values that name a state (`"reachable"`, `"up"`, `"running"`) are the
//! strings the core's `as_str` gives, so that a script and the rack's Python harness read them
//! as they are. Decides nothing and reads nothing.
//!
//! Reading: [`Status`] implements serde's `Deserialize` through [`FromJson`], which each struct
//! gets from the [`document!`] that defines it (one list of fields): a missing key is the
//! field's default (a reader is not broken by a document with less in it, and its tests may
//! give only what they judge), a value of another type is an error naming its key path,
//! unknown keys are ignored. serde's derived visitors for these 24 structs would cost the
//! static agent about 100 KB of its 1.5 MiB budget; this costs a few.

#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Names one of a fixed set of values that the document carries as a string (`as_str`), in
/// the order of the MIB's enumeration (value 1 first): one list for the writer, the readers
/// and `snmp::objects`.
macro_rules! named_values {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($(#[$vmeta])* $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// Its value in the MIB's enumeration (1 for the first).
            pub fn mib_value(self) -> i32 {
                $name::ALL.iter().position(|v| *v == self).expect("every variant is in ALL") as i32 + 1
            }

            /// The value named `text`, None for any other string.
            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }
    };
}

named_values! {
    /// `links[].kind`, as the configuration names it.
    pub enum LinkMedium {
        Serial = "serial",
        Udp = "udp",
        Ethernet = "ethernet",
    }
}

named_values! {
    /// `array.console.state`.
    pub enum ConsoleState {
        /// Nothing heard yet since the agent started.
        Unknown = "unknown",
        Answering = "answering",
        /// It stopped answering (`lost_after_ms`).
        Lost = "lost",
    }
}

named_values! {
    /// `authority.last_fence.result`.
    pub enum FenceResult {
        Confirmed = "confirmed",
        /// Power off accepted by a relay that cannot read back.
        Unconfirmed = "unconfirmed",
        Failed = "failed",
    }
}

/// Reading a part of the document from its JSON value. `Err` names what is wrong, prefixed on
/// the way up by the key path.
pub trait FromJson: Sized {
    fn from_json(v: &Value) -> Result<Self, String>;
}

/// `key` in front of an error from below it.
fn at(key: &str, error: String) -> String {
    if error.starts_with('[') || error.starts_with('.') {
        format!("{key}{error}")
    } else {
        format!("{key}: {error}")
    }
}

fn unsigned(v: &Value, max: u64) -> Result<u64, String> {
    v.as_u64().filter(|n| *n <= max).ok_or_else(|| format!("expected an integer up to {max}, got {v}"))
}

impl FromJson for u64 {
    fn from_json(v: &Value) -> Result<Self, String> {
        unsigned(v, u64::MAX)
    }
}
impl FromJson for u32 {
    fn from_json(v: &Value) -> Result<Self, String> {
        unsigned(v, u32::MAX.into()).map(|n| n as u32)
    }
}
impl FromJson for u16 {
    fn from_json(v: &Value) -> Result<Self, String> {
        unsigned(v, u16::MAX.into()).map(|n| n as u16)
    }
}
impl FromJson for u8 {
    fn from_json(v: &Value) -> Result<Self, String> {
        unsigned(v, u8::MAX.into()).map(|n| n as u8)
    }
}
impl FromJson for i32 {
    fn from_json(v: &Value) -> Result<Self, String> {
        v.as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| format!("expected a 32-bit integer, got {v}"))
    }
}
impl FromJson for bool {
    fn from_json(v: &Value) -> Result<Self, String> {
        v.as_bool().ok_or_else(|| format!("expected true or false, got {v}"))
    }
}
impl FromJson for String {
    fn from_json(v: &Value) -> Result<Self, String> {
        v.as_str().map(str::to_owned).ok_or_else(|| format!("expected a string, got {v}"))
    }
}
impl<T: FromJson> FromJson for Option<T> {
    fn from_json(v: &Value) -> Result<Self, String> {
        if v.is_null() {
            Ok(None)
        } else {
            T::from_json(v).map(Some)
        }
    }
}
impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: &Value) -> Result<Self, String> {
        let items = v.as_array().ok_or_else(|| format!("expected an array, got {v}"))?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(T::from_json(item).map_err(|e| at(&format!("[{i}]"), e))?);
        }
        Ok(out)
    }
}

/// The object's fields, for a struct's [`FromJson`].
fn object(v: &Value) -> Result<&serde_json::Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("expected an object, got {v}"))
}

/// [`FromJson`] in a form that can be called through `dyn`: one [`field`] reads every field
/// type, so each type costs its small `read_json` and not a copy of the field's reading.
trait ReadJson {
    fn read_json(&mut self, v: &Value) -> Result<(), String>;
}

impl<T: FromJson> ReadJson for T {
    fn read_json(&mut self, v: &Value) -> Result<(), String> {
        *self = T::from_json(v)?;
        Ok(())
    }
}

/// Read the field `key` (`.name`) into `out` when the object has it (else `out` keeps its
/// default).
fn field(map: &serde_json::Map<String, Value>, key: &str, out: &mut dyn ReadJson) -> Result<(), String> {
    match map.get(&key[1..]) {
        Some(v) => out.read_json(v).map_err(|e| at(key, e)),
        None => Ok(()),
    }
}

/// One struct of the document: its definition (serde's `Serialize` writes it) and its
/// [`FromJson`], from one list of fields.
macro_rules! document {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty ),*
        }

        impl FromJson for $name {
            fn from_json(v: &Value) -> Result<Self, String> {
                let map = object(v)?;
                let mut out = $name::default();
                $( field(map, concat!(".", stringify!($field)), &mut out.$field)?; )*
                Ok(out)
            }
        }
    };
}

document! {
    /// The whole document.
    #[derive(Clone, Debug, Default, PartialEq, Serialize)]
    pub struct Status {
        pub cluster: String,
        pub member: String,
        /// `witness` or `node`.
        pub role: String,
        pub boot: u64,
        pub uptime_ms: u64,
        pub timing: Timing,
        pub stalls: Stalls,
        pub journal_queue: Queue,
        pub log_queue: Queue,
        pub allocations: u64,
        pub heartbeats_triggered: u64,
        pub reloads: Reloads,
        pub events_dropped: u64,
        /// Null when this member has no role in the authority (never, once started).
        pub authority: Option<Authority>,
        pub array: Option<ArrayStatus>,
        pub snmp_targets: Vec<String>,
        pub snmp_agent: Option<SnmpAgent>,
        /// Null without `[fence_service]`.
        pub fence_service: Option<FenceService>,
        /// Null when the journal did not open.
        pub last_events: Option<Vec<String>>,
        pub members: Vec<Member>,
        pub links: Vec<Link>,
    }
}

document! {
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct Timing {
        pub interval_ms: u64,
        pub warn_ms: u64,
        pub dead_ms: u64,
        pub initdead_ms: u64,
    }
}

document! {
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct Stalls {
        pub count: u64,
        pub max_ms: u64,
        pub late_max_us: u64,
        pub busy_max_us: u64,
        pub busy_count: u64,
    }
}

document! {
    /// A writer's queue: what waits, and what was dropped.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct Queue {
        pub waiting: u64,
        pub dropped: u64,
    }
}

document! {
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct Reloads {
        pub applied: u64,
        pub refused: u64,
    }
}

document! {
    /// One of the two other members, as this one sees it.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct Member {
        pub name: Option<String>,
        pub id: u8,
        pub role: Option<String>,
        /// `unknown`, `reachable`, `unreachable`.
        pub state: String,
        pub links_up: u8,
        /// The members it said it reaches in its latest heartbeat.
        pub reaches: Vec<String>,
    }
}

document! {
    /// One of this member's links.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct Link {
        pub id: u8,
        pub peer: String,
        /// `serial`, `udp`, `ethernet`.
        pub kind: String,
        pub transport: String,
        pub open: bool,
        /// `init`, `up`, `warn`, `down`.
        pub state: String,
        pub frames_in: u64,
        pub frames_out: u64,
        pub send_errors: u64,
        pub crc_errors: u64,
        pub auth_failures: u64,
        pub replays: u64,
        pub malformed: u64,
        pub unknown_link: u64,
        pub latency_us: Option<u64>,
        pub jitter_us: Option<u64>,
        pub last_rx_ago_ms: Option<u64>,
        pub transitions: u64,
        pub downs: u64,
        /// Only when the transport cannot be opened: why.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub note: Option<String>,
    }
}

/// The member's part in the authority: the witness's view of the service, or a node's.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Authority {
    Witness(WitnessAuthority),
    Node(NodeAuthority),
}

impl FromJson for Authority {
    fn from_json(v: &Value) -> Result<Self, String> {
        match object(v)?.get("role").and_then(Value::as_str) {
            Some("witness") => WitnessAuthority::from_json(v).map(Authority::Witness),
            Some("node") => NodeAuthority::from_json(v).map(Authority::Node),
            other => Err(format!(".role: expected \"witness\" or \"node\", got {other:?}")),
        }
    }
}

/// Through [`FromJson`]: `serde_json::from_str::<Status>` and `from_value` work as with a
/// derived implementation.
impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Status::from_document(&v).map_err(serde::de::Error::custom)
    }
}

impl Status {
    /// The status document read from its JSON value, as `serde_json::from_value` reads it
    /// (the same error text), without going through a deserializer (the agent's size).
    pub fn from_document(v: &Value) -> Result<Status, String> {
        Status::from_json(v).map_err(|e| at("status document", e))
    }
}

document! {
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct WitnessAuthority {
        pub generation: u64,
        pub holder: Option<String>,
        pub startup: bool,
        pub switching: bool,
        /// The node being fenced.
        pub fencing: Option<String>,
        /// Whether a `[relay]` is configured.
        pub fence_device: bool,
        pub fence_devices: Vec<FenceDevice>,
        /// Wall clock of this agent's latest grant (null if none since it started).
        pub granted_at_wall_ms: Option<u64>,
        pub maintenance: bool,
        pub last_fence: Option<LastFence>,
        pub nodes: Vec<NodeReport>,
    }
}

document! {
    /// The periodic health check of one node's relay channel.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct FenceDevice {
        pub node: String,
        /// `ok` or `unreachable`.
        pub state: String,
    }
}

document! {
    /// The latest fence outcome since the agent started.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct LastFence {
        pub node: String,
        /// `confirmed`, `unconfirmed` or `failed`.
        pub result: String,
        pub attempt: u32,
        /// Outcomes since start: tells a new one from the one before.
        pub count: u64,
        pub at_wall_ms: u64,
    }
}

document! {
    /// What a node said in its latest report to the witness (each null before the first this
    /// boot), and the operator's standby, which the witness keeps.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct NodeReport {
        pub name: String,
        pub standby: bool,
        pub ready: Option<bool>,
        pub resources_state: Option<String>,
        pub acting_generation: Option<u64>,
        pub stopped_generation: Option<u64>,
        pub watchdog_armed: Option<bool>,
        pub fence_bound_ms: Option<u32>,
    }
}

document! {
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct NodeAuthority {
        pub acting_generation: u64,
        pub max_seen_generation: u64,
        pub quorum: bool,
        /// After SIGTERM: what the exit does.
        pub leaving: Option<String>,
        pub maintenance: bool,
        /// `stopped`, `starting`, `running`, `stopping`, `failed`, `stop-failed`.
        pub resources_state: String,
        pub resources: Vec<Resource>,
        pub watchdog: Option<WatchdogStatus>,
    }
}

document! {
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct Resource {
        pub name: String,
        /// `stopped`, `running`, `degraded`, `unknown`.
        pub state: String,
        pub degraded_reason: Option<String>,
        pub failures: u32,
        pub last_failure: Option<ResourceFailure>,
    }
}

document! {
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct ResourceFailure {
        pub action: String,
        pub outcome: String,
        pub exit_code: Option<i32>,
        pub exit_reason: Option<String>,
    }
}

document! {
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct WatchdogStatus {
        pub timeout_ms: u64,
        pub withholding: bool,
    }
}

document! {
    /// The disk array behind the witness's console (docs/array.md).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct ArrayStatus {
        pub console: Console,
        /// The fewest more disk failures any drive survives (null without a known drive).
        pub survivable_failures: Option<u8>,
        pub drives: Vec<Drive>,
        pub disks: Vec<Disk>,
        pub environment: Vec<Sensor>,
    }
}

document! {
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct Console {
        pub dialect: String,
        pub device: String,
        /// `lost`, `answering`, `unknown`.
        pub state: String,
        pub wrong_baud: bool,
        pub last_answer_ms_ago: Option<u64>,
    }
}

document! {
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct Drive {
        pub name: String,
        pub id: u16,
        pub raid_level: String,
        pub state: String,
        pub rebuild_percent: Option<u8>,
        pub survivable_failures: Option<u8>,
    }
}

document! {
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct Disk {
        pub name: String,
        /// Null when the controller numbers its disks without enclosures.
        pub enclosure: Option<u16>,
        pub slot: u16,
        pub state: String,
        pub drive: Option<String>,
        pub rebuild_percent: Option<u8>,
    }
}

document! {
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct Sensor {
        pub name: String,
        pub kind: String,
        pub reading: String,
        pub alarm: Option<String>,
    }
}

document! {
    /// The read-only SNMP responder (`[snmp] listen`).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct SnmpAgent {
        pub listen: String,
        pub counters: SnmpAgentCounters,
    }
}

document! {
    /// The SNMP responder's counters since start: the one definition, kept by
    /// `snmp::responder` and shown by the status document and the MIB (rackHaSnmpAgent).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct SnmpAgentCounters {
        /// Datagrams received on the listening socket.
        pub requests: u64,
        /// Responses and Reports sent.
        pub responses: u64,
        /// Datagrams that were not a well-formed SNMP message or request (dropped).
        pub malformed: u64,
        /// Well-formed messages of a version not served (v1, or v3 when no user is configured).
        pub bad_versions: u64,
        /// v2c requests with a community other than the read community (dropped).
        pub bad_communities: u64,
        /// v3 requests refused by USM (unknown engine, user or security level, wrong digest,
        /// not in the time window, decryption error); each answered with a Report when
        /// reportable.
        pub usm_refused: u64,
        /// `set` requests (refused, notWritable or noAccess).
        pub sets_refused: u64,
        /// Responses that would have exceeded the response bound (tooBig, or a shortened bulk).
        pub too_big: u64,
    }
}

document! {
    /// The fence service for another cluster (`[fence_service]`, docs/fence-agent.md).
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct FenceService {
        pub listen: String,
        pub plugs: Vec<String>,
        /// Commands taken and not yet finished.
        pub running: u64,
        pub counters: FenceServiceCounters,
        /// The latest command that finished since start (null before the first).
        pub last_command: Option<FenceServiceCommand>,
    }
}

document! {
    /// The fence service's counters since start: the one definition, kept by
    /// `fencesvc::server` and shown by the status document and the MIB (rackHaFenceService).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct FenceServiceCounters {
        /// Every datagram received from anyone, counted once.
        pub datagrams: u64,
        /// Nonces issued (answers to a hello).
        pub challenges: u64,
        /// Authenticated requests taken as a command (off, on, reboot, status).
        pub commands: u64,
        /// The same request again, answered from the table and not carried out again.
        pub retransmissions: u64,
        /// Authenticated requests refused: no such plug (or a plug where none belongs).
        pub refused_unknown_plug: u64,
        /// Authenticated requests refused: a member of the box's own cluster.
        pub refused_own_member: u64,
        /// Authenticated requests refused: the plug has a command running, or too many wait.
        pub refused_busy: u64,
        /// Authenticated requests refused: the asking node's own plug was being switched off,
        /// or was within the hold (`client_plugs`, docs/fence-agent.md "Fence races").
        pub refused_fenced_client: u64,
        /// Requests with an unknown, expired or reused nonce.
        pub replays_refused: u64,
        pub bad_mac: u64,
        pub malformed: u64,
        /// Datagrams from a source not in `clients` (dropped unanswered).
        pub not_allowed: u64,
        pub rate_limited: u64,
        /// Hellos dropped: the nonce table was full of running commands, or no randomness.
        pub nonce_table_full: u64,
        /// Commands finished, by action, whatever their result.
        pub offs: u64,
        pub ons: u64,
        pub reboots: u64,
        pub status_reads: u64,
        /// Commands finished with a failure (counted in their action's count too).
        pub failed: u64,
    }
}

document! {
    /// A command of the fence service that finished.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
    pub struct FenceServiceCommand {
        pub plug: String,
        /// `off`, `on`, `reboot`, `status`.
        pub action: String,
        /// Whether it succeeded (a status: the relay was read).
        pub ok: bool,
        /// What happened, in the journal's words.
        pub result: String,
        pub at_wall_ms: u64,
    }
}

impl Status {
    /// The witness's authority, if this is the witness's document.
    pub fn witness(&self) -> Option<&WitnessAuthority> {
        match &self.authority {
            Some(Authority::Witness(w)) => Some(w),
            _ => None,
        }
    }

    /// A node's authority, if this is a node's document.
    pub fn node(&self) -> Option<&NodeAuthority> {
        match &self.authority {
            Some(Authority::Node(n)) => Some(n),
            _ => None,
        }
    }

    /// The member named `name`, as this one sees it.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name.as_deref() == Some(name))
    }

    /// Whether this member sees `name` reachable.
    pub fn reachable(&self, name: &str) -> bool {
        self.member(name).is_some_and(|m| m.state == "reachable")
    }
}

impl WitnessAuthority {
    /// What node `name` said in its latest report.
    pub fn node(&self, name: &str) -> Option<&NodeReport> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

#[cfg(test)]
mod tests;

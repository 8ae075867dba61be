//! The sans-I/O notification originator: targets, per-target queues, inform retries with
//! exponential backoff, SNMPv3 engine discovery, and the periodic "alive" notification.
//!
//! Owns the decision of what to send to whom and when. It does not own a socket, a clock, a
//! file or randomness: the shell passes `now`, sends what [`Notifier::poll_transmit`] returns,
//! feeds received datagrams to [`Notifier::handle_datagram`], writes what
//! [`Notifier::take_store_image`] returns with `queue_store::save`, and sleeps until
//! [`Notifier::poll_timeout`]. Every call does a bounded amount of work.
//!
//! Call order, every turn of the shell's loop:
//! 1. `notify(now, ..)` for new events, `handle_datagram(now, ..)` for each datagram received;
//! 2. `take_store_image()`; when it returns an image, save it durably *before* step 3 (an
//!    inform is never transmitted before an image containing it was taken, so an inform that
//!    reached the network is on disk);
//! 3. `poll_transmit(now)` until it returns `None`;
//! 4. sleep until `poll_timeout()` or input.
//!
//! Delivery: a trap is sent once. An inform is sent until the target acknowledges it with a
//! Response carrying its request-id (derived from the notification's sequence number, so
//! the acknowledgement of a transmission made before a restart still matches), with backoff
//! from [`INFORM_RETRY_INITIAL_MS`] doubling to [`INFORM_RETRY_MAX_MS`], and survives restarts
//! through the store. Each queue holds at most [`MAX_QUEUE`] notifications; when full the
//! oldest is dropped, counted and logged.

#![forbid(unsafe_code)]

use core::net::SocketAddr;
use std::collections::VecDeque;

use super::ber::{Oid, MAX_MESSAGE_BYTES};
use super::mib::Notification;
use super::pdu::{self, Pdu, TrapV1, VarBind};
use super::queue_store::{StoreImage, StoredInform};
use super::usm::{self, EngineParams, LocalizedUser, OutgoingV3, UsmUser};
use crate::time::Micros;

/// Bound on configured targets.
pub const MAX_TARGETS: usize = 8;
/// Bound on the notifications queued for one target (sent or not, unacknowledged).
pub const MAX_QUEUE: usize = 256;
/// Bound on the informs of one target transmitted and awaiting acknowledgement at once.
pub const MAX_IN_FLIGHT: usize = 8;
/// First retransmission interval of an inform (and of an SNMPv3 discovery probe).
pub const INFORM_RETRY_INITIAL_MS: u64 = 1_000;
/// The retransmission interval doubles up to this bound and stays there: an inform is
/// retried until acknowledged or dropped from a full queue.
pub const INFORM_RETRY_MAX_MS: u64 = 60_000;
/// Shortest configurable interval of the "alive" notification.
pub const MIN_ALIVE_INTERVAL_MS: u64 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2c,
    V3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Unconfirmed: sent once.
    Trap,
    /// Confirmed: retried until a Response arrives.
    Inform,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Security {
    /// SNMPv1 / SNMPv2c community.
    Community(Vec<u8>),
    /// SNMPv3 USM user with its master keys.
    Usm(UsmUser),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub address: SocketAddr,
    pub version: Version,
    pub delivery: Delivery,
    pub security: Security,
}

/// Why targets cannot be used together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    TooManyTargets,
    DuplicateName(String),
    /// SNMPv1 has no inform.
    InformNeedsV2cOrV3(String),
    /// v1/v2c need a community, v3 a USM user.
    SecurityDoesNotMatchVersion(String),
}

#[derive(Clone, Debug)]
pub struct NotifierOptions {
    /// Our snmpEngineID (authoritative for v3 traps), 5..=32 bytes.
    pub engine_id: Vec<u8>,
    /// Our snmpEngineBoots: the durable boot counter, incremented each start.
    pub engine_boots: u32,
    /// The instant our engine time and sysUpTime count from.
    pub start: Micros,
    /// agent-addr of SNMPv1 traps.
    pub agent_addr_v1: [u8; 4],
    /// Seed of the AES salts and message IDs (the shell draws it from the OS at start).
    pub salt_seed: u64,
    /// Interval of the "alive" notification, `None` for none.
    pub alive_interval_ms: Option<u64>,
    /// This member's name (for agent-level notifications such as "alive").
    pub member: String,
}

/// Counters of one target, for status output and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetStats {
    pub queued: u64,
    pub transmitted: u64,
    pub retransmitted: u64,
    pub acknowledged: u64,
    /// Dropped because the queue was full (oldest first) or the target was removed.
    pub dropped: u64,
    /// Reports received (other than successful discovery).
    pub reports: u64,
    /// Datagrams from the target's address that were malformed or failed authentication.
    pub rejected: u64,
}

#[derive(Clone, Debug)]
struct Queued {
    sequence: u32,
    uptime_ticks: u32,
    trap_oid: Oid,
    objects: Vec<VarBind>,
    /// Earliest next transmission.
    next_send: Micros,
    interval_ms: u64,
    transmissions: u32,
    /// The msgID of the latest v3 transmission.
    msg_id: Option<i32>,
    /// Part of an image handed to the shell (an inform is not transmitted before).
    stored: bool,
}

impl Queued {
    fn request_id(&self) -> i32 {
        (self.sequence & 0x7fff_ffff) as i32
    }
}

#[derive(Clone, Debug)]
struct RemoteEngine {
    params: EngineParams,
    learned_at: Micros,
    user: LocalizedUser,
}

#[derive(Clone, Debug)]
struct Discovery {
    next_send: Micros,
    interval_ms: u64,
    msg_id: Option<i32>,
}

#[derive(Debug)]
struct TargetState {
    target: Target,
    queue: VecDeque<Queued>,
    remote: Option<RemoteEngine>,
    discovery: Discovery,
    /// The v3 user localized to our own engine (for traps).
    local_user: Option<LocalizedUser>,
    stats: TargetStats,
}

pub struct Notifier {
    options: NotifierOptions,
    targets: Vec<TargetState>,
    generation: u64,
    next_sequence: u32,
    next_msg_id: u32,
    next_salt: u64,
    next_alive: Option<Micros>,
    /// Round-robin position for fairness among targets.
    cursor: usize,
    dirty: bool,
}

fn backoff(interval_ms: u64) -> u64 {
    interval_ms.saturating_mul(2).min(INFORM_RETRY_MAX_MS)
}

impl Notifier {
    /// A notifier for `targets`, with the pending informs and the sequence number restored
    /// from the store (`StoreImage::default()` on a first start).
    pub fn new(
        options: NotifierOptions,
        targets: Vec<Target>,
        restored: StoreImage,
    ) -> Result<Notifier, TargetError> {
        assert!(
            options.engine_id.len() >= usm::MIN_ENGINE_ID_BYTES
                && options.engine_id.len() <= usm::MAX_ENGINE_ID_BYTES
        );
        if targets.len() > MAX_TARGETS {
            return Err(TargetError::TooManyTargets);
        }
        let mut states: Vec<TargetState> = Vec::with_capacity(targets.len());
        for target in targets {
            if states.iter().any(|s| s.target.name == target.name) {
                return Err(TargetError::DuplicateName(target.name));
            }
            if target.version == Version::V1 && target.delivery == Delivery::Inform {
                return Err(TargetError::InformNeedsV2cOrV3(target.name));
            }
            let local_user = match (&target.version, &target.security) {
                (Version::V3, Security::Usm(user)) => Some(user.localize(&options.engine_id)),
                (Version::V1 | Version::V2c, Security::Community(c))
                    if c.len() <= pdu::MAX_COMMUNITY_BYTES =>
                {
                    None
                }
                _ => return Err(TargetError::SecurityDoesNotMatchVersion(target.name)),
            };
            states.push(TargetState {
                target,
                queue: VecDeque::new(),
                remote: None,
                discovery: Discovery {
                    next_send: options.start,
                    interval_ms: INFORM_RETRY_INITIAL_MS,
                    msg_id: None,
                },
                local_user,
                stats: TargetStats::default(),
            });
        }
        let next_alive =
            options.alive_interval_ms.map(|ms| options.start.plus_ms(ms.max(MIN_ALIVE_INTERVAL_MS)));
        let mut notifier = Notifier {
            next_msg_id: (options.salt_seed as u32) & 0x3fff_ffff,
            next_salt: options.salt_seed,
            next_sequence: restored.next_sequence.max(1),
            options,
            targets: states,
            generation: 0,
            next_alive,
            cursor: 0,
            dirty: false,
        };
        let start = notifier.options.start;
        for inform in restored.informs {
            match notifier
                .targets
                .iter_mut()
                .find(|s| s.target.name == inform.target && s.target.delivery == Delivery::Inform)
            {
                Some(state) => {
                    let queued = Queued {
                        sequence: inform.sequence,
                        uptime_ticks: inform.uptime_ticks,
                        trap_oid: inform.trap_oid,
                        objects: inform.objects,
                        next_send: start,
                        interval_ms: INFORM_RETRY_INITIAL_MS,
                        transmissions: 0,
                        msg_id: None,
                        stored: true,
                    };
                    Self::push_bounded(state, queued);
                }
                None => {
                    log::warn!(
                        "snmp: dropping stored inform {} for unknown target {:?}",
                        inform.sequence,
                        inform.target
                    );
                    notifier.dirty = true;
                }
            }
        }
        Ok(notifier)
    }

    fn push_bounded(state: &mut TargetState, queued: Queued) {
        state.queue.push_back(queued);
        state.stats.queued += 1;
        while state.queue.len() > MAX_QUEUE {
            let dropped = state.queue.pop_front().expect("longer than MAX_QUEUE");
            state.stats.dropped += 1;
            log::warn!(
                "snmp: queue for {} full ({MAX_QUEUE}), dropped the oldest notification (sequence {}); {} dropped so far",
                state.target.name,
                dropped.sequence,
                state.stats.dropped
            );
        }
        assert!(state.queue.len() <= MAX_QUEUE);
    }

    /// The generation carried by notifications from now on.
    pub fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }

    pub fn stats(&self, target: &str) -> Option<TargetStats> {
        self.targets.iter().find(|s| s.target.name == target).map(|s| s.stats)
    }

    /// Notifications queued for `target` (including informs awaiting acknowledgement).
    pub fn queued(&self, target: &str) -> usize {
        self.targets.iter().find(|s| s.target.name == target).map_or(0, |s| s.queue.len())
    }

    fn uptime_ticks(&self, now: Micros) -> u32 {
        (now.since_us(self.options.start) / 10_000) as u32
    }

    /// Queue `notification` for every target. Returns its sequence number.
    pub fn notify(&mut self, now: Micros, notification: Notification) -> u32 {
        self.notify_with_text(now, notification, None)
    }

    /// Queue `notification` for every target with `text` (if given) as its `rackHaText`
    /// instead of its own: the shell's one wording of the event it reports. Returns its
    /// sequence number.
    pub fn notify_with_text(&mut self, now: Micros, notification: Notification, text: Option<&str>) -> u32 {
        let sequence = self.next_sequence;
        self.next_sequence = self.next_sequence.checked_add(1).unwrap_or(1);
        let uptime_ticks = self.uptime_ticks(now);
        let trap_oid = notification.oid();
        let objects = notification.varbinds_with_text(sequence, self.generation, text);
        for state in &mut self.targets {
            let queued = Queued {
                sequence,
                uptime_ticks,
                trap_oid: trap_oid.clone(),
                objects: objects.clone(),
                next_send: now,
                interval_ms: INFORM_RETRY_INITIAL_MS,
                transmissions: 0,
                msg_id: None,
                stored: state.target.delivery == Delivery::Trap,
            };
            Self::push_bounded(state, queued);
        }
        // The sequence number itself must survive a restart, so the image changes every time.
        self.dirty = true;
        sequence
    }

    /// The state to save durably, when it changed since the last call.
    pub fn take_store_image(&mut self) -> Option<StoreImage> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        let mut informs = Vec::new();
        for state in &mut self.targets {
            if state.target.delivery != Delivery::Inform {
                continue;
            }
            for q in &mut state.queue {
                q.stored = true;
                informs.push(StoredInform {
                    target: state.target.name.clone(),
                    sequence: q.sequence,
                    uptime_ticks: q.uptime_ticks,
                    trap_oid: q.trap_oid.clone(),
                    objects: q.objects.clone(),
                });
            }
        }
        Some(StoreImage { next_sequence: self.next_sequence, informs })
    }

    fn fire_timers(&mut self, now: Micros) {
        if let (Some(at), Some(interval_ms)) = (self.next_alive, self.options.alive_interval_ms) {
            if now >= at {
                self.next_alive = Some(now.plus_ms(interval_ms.max(MIN_ALIVE_INTERVAL_MS)));
                let member = self.options.member.clone();
                self.notify(now, Notification::Alive { member });
            }
        }
    }

    /// The earliest instant at which `poll_transmit` has something to do.
    pub fn poll_timeout(&self) -> Option<Micros> {
        let mut earliest = self.next_alive;
        let mut consider = |t: Micros| earliest = Some(earliest.map_or(t, |e: Micros| e.min(t)));
        for state in &self.targets {
            let needs_engine = state.target.version == Version::V3
                && state.target.delivery == Delivery::Inform
                && state.remote.is_none();
            if needs_engine {
                if !state.queue.is_empty() {
                    consider(state.discovery.next_send);
                }
                continue;
            }
            for q in state.queue.iter().take(MAX_IN_FLIGHT).filter(|q| q.stored) {
                consider(q.next_send);
            }
        }
        earliest
    }

    fn fresh_msg_id(&mut self) -> i32 {
        self.next_msg_id = (self.next_msg_id + 1) & 0x3fff_ffff;
        self.next_msg_id as i32
    }

    fn fresh_salt(&mut self) -> u64 {
        self.next_salt = self.next_salt.wrapping_add(1);
        self.next_salt
    }

    /// The next datagram to send, if any is due. Bounded work: one scan of the targets.
    pub fn poll_transmit(&mut self, now: Micros) -> Option<(SocketAddr, Vec<u8>)> {
        self.fire_timers(now);
        let n = self.targets.len();
        for step in 0..n {
            let index = (self.cursor + step) % n;
            if let Some(datagram) = self.transmit_for(index, now) {
                self.cursor = (index + 1) % n.max(1);
                return Some(datagram);
            }
        }
        None
    }

    fn transmit_for(&mut self, index: usize, now: Micros) -> Option<(SocketAddr, Vec<u8>)> {
        let address = self.targets[index].target.address;
        let state = &self.targets[index];
        match state.target.delivery {
            Delivery::Trap => {
                let due = state.queue.front().is_some_and(|q| q.next_send <= now);
                if !due {
                    return None;
                }
                let q = self.targets[index].queue.pop_front().expect("checked");
                let bytes = self.encode_trap(index, now, &q);
                self.targets[index].stats.transmitted += 1;
                Some((address, bytes))
            }
            Delivery::Inform => {
                if state.target.version == Version::V3 && state.remote.is_none() {
                    if state.queue.is_empty() || state.discovery.next_send > now {
                        return None;
                    }
                    let msg_id = self.fresh_msg_id();
                    let discovery = &mut self.targets[index].discovery;
                    discovery.msg_id = Some(msg_id);
                    discovery.next_send = now.plus_ms(discovery.interval_ms);
                    discovery.interval_ms = backoff(discovery.interval_ms);
                    return Some((address, encode_discovery_probe(msg_id)));
                }
                let position =
                    state.queue.iter().take(MAX_IN_FLIGHT).position(|q| q.stored && q.next_send <= now)?;
                let msg_id = (state.target.version == Version::V3).then(|| self.fresh_msg_id());
                let salt = self.fresh_salt();
                let state = &mut self.targets[index];
                let q = &mut state.queue[position];
                q.next_send = now.plus_ms(q.interval_ms);
                q.interval_ms = backoff(q.interval_ms);
                q.transmissions += 1;
                q.msg_id = msg_id;
                if q.transmissions > 1 {
                    state.stats.retransmitted += 1;
                }
                state.stats.transmitted += 1;
                let q = state.queue[position].clone();
                Some((address, self.encode_inform(index, now, &q, salt)))
            }
        }
    }

    fn encode_trap(&mut self, index: usize, now: Micros, q: &Queued) -> Vec<u8> {
        let salt = self.fresh_salt();
        let msg_id = self.fresh_msg_id();
        let state = &self.targets[index];
        let request_id = q.request_id();
        let bytes = match (&state.target.version, &state.target.security) {
            (Version::V1, Security::Community(community)) => {
                let trap = TrapV1::from_notification(
                    &q.trap_oid,
                    self.options.agent_addr_v1,
                    q.uptime_ticks,
                    &q.objects,
                );
                let mut pdu_bytes = Vec::new();
                trap.encode(&mut pdu_bytes);
                pdu::encode_community_message(pdu::VERSION_V1, community, &pdu_bytes)
            }
            (Version::V2c, Security::Community(community)) => {
                let pdu =
                    Pdu::notification(pdu::TAG_TRAP_V2, request_id, q.uptime_ticks, &q.trap_oid, &q.objects);
                let mut pdu_bytes = Vec::new();
                pdu.encode(&mut pdu_bytes);
                pdu::encode_community_message(pdu::VERSION_V2C, community, &pdu_bytes)
            }
            (Version::V3, Security::Usm(_)) => {
                let pdu =
                    Pdu::notification(pdu::TAG_TRAP_V2, request_id, q.uptime_ticks, &q.trap_oid, &q.objects);
                let mut pdu_bytes = Vec::new();
                pdu.encode(&mut pdu_bytes);
                let engine = EngineParams {
                    engine_id: self.options.engine_id.clone(),
                    boots: self.options.engine_boots.min(usm::MAX_ENGINE_BOOTS),
                    time: (now.since_us(self.options.start) / 1_000_000).min(u64::from(usm::MAX_ENGINE_BOOTS))
                        as u32,
                };
                usm::encode_v3(&OutgoingV3 {
                    msg_id,
                    reportable: false,
                    engine: &engine,
                    user: state.local_user.as_ref(),
                    context_engine_id: &self.options.engine_id,
                    salt,
                    pdu: &pdu_bytes,
                })
            }
            _ => unreachable!("checked in Notifier::new"),
        };
        assert!(bytes.len() <= MAX_MESSAGE_BYTES);
        bytes
    }

    fn encode_inform(&self, index: usize, now: Micros, q: &Queued, salt: u64) -> Vec<u8> {
        let state = &self.targets[index];
        let pdu = Pdu::notification(pdu::TAG_INFORM, q.request_id(), q.uptime_ticks, &q.trap_oid, &q.objects);
        let mut pdu_bytes = Vec::new();
        pdu.encode(&mut pdu_bytes);
        let bytes = match (&state.target.version, &state.target.security) {
            (Version::V2c, Security::Community(community)) => {
                pdu::encode_community_message(pdu::VERSION_V2C, community, &pdu_bytes)
            }
            (Version::V3, Security::Usm(_)) => {
                let remote = state.remote.as_ref().expect("engine discovered before informs are sent");
                let elapsed_s = now.since_us(remote.learned_at) / 1_000_000;
                let engine = EngineParams {
                    engine_id: remote.params.engine_id.clone(),
                    boots: remote.params.boots,
                    time: (u64::from(remote.params.time) + elapsed_s).min(u64::from(usm::MAX_ENGINE_BOOTS))
                        as u32,
                };
                usm::encode_v3(&OutgoingV3 {
                    msg_id: q.msg_id.expect("set before encoding"),
                    reportable: true,
                    engine: &engine,
                    user: Some(&remote.user),
                    context_engine_id: &remote.params.engine_id,
                    salt,
                    pdu: &pdu_bytes,
                })
            }
            _ => unreachable!("checked in Notifier::new"),
        };
        assert!(bytes.len() <= MAX_MESSAGE_BYTES);
        bytes
    }

    /// A datagram from `from`: a Response acknowledging an inform, or a Report (SNMPv3
    /// discovery, time synchronisation, or an error). Anything else is dropped and counted.
    /// Bounded work: one decode, one scan of a queue.
    pub fn handle_datagram(&mut self, now: Micros, from: SocketAddr, bytes: &[u8]) {
        let candidates: Vec<usize> = (0..self.targets.len())
            .filter(|i| {
                self.targets[*i].target.address == from
                    && self.targets[*i].target.delivery == Delivery::Inform
            })
            .collect();
        if candidates.is_empty() {
            log::debug!("snmp: datagram from {from}, which is no inform target; dropped");
            return;
        }
        let version = match pdu::peek_version(bytes) {
            Ok(v) => v,
            Err(e) => {
                log::warn!("snmp: malformed datagram from {from}: {e:?}");
                self.targets[candidates[0]].stats.rejected += 1;
                return;
            }
        };
        if version == pdu::VERSION_V3 {
            for index in candidates.iter().copied() {
                if self.targets[index].target.version == Version::V3 && self.handle_v3(index, now, bytes) {
                    return;
                }
            }
        } else {
            match pdu::decode_community_response(bytes) {
                Ok(msg) => {
                    for index in candidates.iter().copied() {
                        let state = &self.targets[index];
                        let community_ok =
                            matches!(&state.target.security, Security::Community(c) if *c == msg.community);
                        if state.target.version == Version::V2c
                            && community_ok
                            && msg.pdu.tag == pdu::TAG_RESPONSE
                            && self.acknowledge(index, msg.pdu.request_id)
                        {
                            return;
                        }
                    }
                }
                Err(e) => log::warn!("snmp: malformed response from {from}: {e:?}"),
            }
        }
        self.targets[candidates[0]].stats.rejected += 1;
    }

    /// Remove the inform with `request_id` from target `index`'s queue.
    fn acknowledge(&mut self, index: usize, request_id: i32) -> bool {
        let state = &mut self.targets[index];
        let Some(position) =
            state.queue.iter().position(|q| q.request_id() == request_id && q.transmissions > 0)
        else {
            return false;
        };
        state.queue.remove(position);
        state.stats.acknowledged += 1;
        self.dirty = true;
        true
    }

    fn handle_v3(&mut self, index: usize, now: Micros, bytes: &[u8]) -> bool {
        let Security::Usm(user) = &self.targets[index].target.security else {
            return false;
        };
        let Ok(parsed) = usm::parse_v3(bytes) else {
            return false;
        };
        let localized = user.localize(&parsed.engine.engine_id);
        let incoming = match usm::decode_v3_response(bytes, Some(&localized)) {
            Ok(m) => m,
            Err(e) => {
                log::warn!("snmp: v3 message from {} refused: {e:?}", self.targets[index].target.name);
                return false;
            }
        };
        let state = &mut self.targets[index];
        let ours = state.discovery.msg_id == Some(incoming.msg_id)
            || state.queue.iter().any(|q| q.msg_id == Some(incoming.msg_id));
        if !ours {
            return false;
        }
        if incoming.pdu.tag == pdu::TAG_REPORT {
            let stat = usm::report_usm_stat(&incoming.pdu);
            let engine_known =
                state.remote.as_ref().is_some_and(|r| r.params.engine_id == incoming.engine.engine_id);
            let learn = match stat {
                // Discovery, or the receiver's engine ID changed.
                Some(usm::USM_STATS_UNKNOWN_ENGINE_IDS) => !incoming.engine.engine_id.is_empty(),
                // Our clock estimate is off: only an authenticated Report may correct it.
                Some(usm::USM_STATS_NOT_IN_TIME_WINDOWS) => incoming.authenticated,
                _ => false,
            };
            if learn {
                if !engine_known {
                    log::info!(
                        "snmp: target {} has engine ID {}",
                        state.target.name,
                        hex(&incoming.engine.engine_id)
                    );
                }
                state.remote =
                    Some(RemoteEngine { params: incoming.engine.clone(), learned_at: now, user: localized });
                state.discovery =
                    Discovery { next_send: now, interval_ms: INFORM_RETRY_INITIAL_MS, msg_id: None };
                // Resend what was waiting for the engine (or refused for time) at once.
                for q in state.queue.iter_mut().take(MAX_IN_FLIGHT) {
                    q.next_send = now;
                }
            } else {
                state.stats.reports += 1;
                log::warn!(
                    "snmp: target {} answered with a Report ({}); check the user and keys",
                    state.target.name,
                    stat.map_or("unknown", report_name)
                );
            }
            return true;
        }
        // A Response: it must be protected at the user's level.
        let needs_auth = localized.auth.is_some();
        if needs_auth && !incoming.authenticated {
            return false;
        }
        self.acknowledge(index, incoming.pdu.request_id)
    }
}

fn report_name(stat: u32) -> &'static str {
    match stat {
        usm::USM_STATS_UNSUPPORTED_SEC_LEVELS => "usmStatsUnsupportedSecLevels",
        usm::USM_STATS_NOT_IN_TIME_WINDOWS => "usmStatsNotInTimeWindows",
        usm::USM_STATS_UNKNOWN_USER_NAMES => "usmStatsUnknownUserNames",
        usm::USM_STATS_UNKNOWN_ENGINE_IDS => "usmStatsUnknownEngineIDs",
        usm::USM_STATS_WRONG_DIGESTS => "usmStatsWrongDigests",
        usm::USM_STATS_DECRYPTION_ERRORS => "usmStatsDecryptionErrors",
        _ => "unknown",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The RFC 3414 section 4 discovery probe: an unauthenticated, reportable GetRequest with
/// no varbinds, an empty engine ID and an empty user name.
pub fn encode_discovery_probe(msg_id: i32) -> Vec<u8> {
    let probe = Pdu {
        tag: pdu::TAG_GET_REQUEST,
        request_id: msg_id,
        error_status: 0,
        error_index: 0,
        varbinds: vec![],
    };
    let mut pdu_bytes = Vec::new();
    probe.encode(&mut pdu_bytes);
    let empty = EngineParams { engine_id: vec![], boots: 0, time: 0 };
    usm::encode_v3(&OutgoingV3 {
        msg_id,
        reportable: true,
        engine: &empty,
        user: None,
        context_engine_id: b"",
        salt: 0,
        pdu: &pdu_bytes,
    })
}

#[cfg(test)]
mod tests;

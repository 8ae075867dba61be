//! The box's side of the fence service, sans I/O: which datagram gets which answer, which
//! request becomes a relay command, and the table of nonces that makes requests replay-proof
//! without trusting anyone's clock.
//!
//! Owns the nonce table (at most [`MAX_OUTSTANDING_NONCES`] entries: each nonce is issued by
//! the box, usable for one request within [`NONCE_VALID_MS`], then kept with its answer for
//! [`RESULT_KEEP_MS`] so that a retransmission of the same request is answered again instead
//! of being carried out again), the client allowlist, the rate limit
//! ([`MAX_DATAGRAMS_PER_S`], a token bucket over every allowed datagram), the plug decisions
//! (a member of the box's own cluster is never a plug; one command per plug at a time, at most
//! [`MAX_COMMANDS`] running or waiting; a node whose own plug is being switched off, or was
//! within [`FENCED_CLIENT_HOLD_MS`], switches nothing: the box breaks the fence race of a
//! two-node cluster) and the counters. Every datagram is answered or dropped
//! and counted; nothing here panics on input.
//!
//! It does not own the socket, the randomness (the caller gives a fresh nonce when a hello
//! needs one), the relay (a [`Command`] is carried out by the shell through the fence
//! procedure, and its [`Answer`] comes back through [`Server::finish`]) or the journal.

#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr};

use super::protocol::{
    self, Action, Answer, DecodeError, Nonce, Refusal, Request, ToBox, Unauthenticated, MAC_BYTES,
    MAX_LISTED_PLUGS,
};
use crate::time::Micros;
use crate::wire::ClusterKey;

/// A nonce must be used within this long after the challenge that gave it.
pub const NONCE_VALID_MS: u64 = 10_000;
/// An answered request's answer is kept this long for retransmissions of the same datagram;
/// after that the nonce is forgotten and a replay is refused as unknown.
pub const RESULT_KEEP_MS: u64 = 3_000;
/// Bound on the nonce table (issued, in use and answered together).
pub const MAX_OUTSTANDING_NONCES: usize = 64;
/// Rate limit on datagrams from allowed clients, per second (also the burst).
pub const MAX_DATAGRAMS_PER_S: u32 = 20;
/// Bound on commands running or waiting for the relay.
pub const MAX_COMMANDS: usize = 4;
/// Bound on the allowlist.
pub const MAX_CLIENTS: usize = 16;
/// After an off or a reboot of a plug succeeded, the node it powers (`client_plugs`) switches
/// nothing for this long: a request it sent just before it lost power, or its fencer's retry
/// as it went down, must not switch its peer off too. A rebooted server does not boot to its
/// cluster stack this fast.
pub const FENCED_CLIENT_HOLD_MS: u64 = 10_000;

/// What the server is configured with.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The dedicated fence key (never the cluster key).
    pub key: ClusterKey,
    /// The plugs served, by name (at most [`MAX_LISTED_PLUGS`]).
    pub plugs: Vec<String>,
    /// The members of the box's own cluster: refused by name with a clear reason.
    pub own_members: Vec<String>,
    /// Source addresses allowed to ask; datagrams from others are dropped unanswered.
    pub clients: Vec<IpAddr>,
    /// The plug (an index into `plugs`) that powers the node sending from each address, for
    /// the nodes the operator named (`[fence_service] client_plugs`).
    pub client_plugs: Vec<(IpAddr, usize)>,
}

/// A relay command for the shell: carry out `action` on plug `plug` (index into the
/// configured plugs), then call [`Server::finish`] with `nonce`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub nonce: Nonce,
    pub action: Action,
    pub plug: usize,
}

/// What happened to one datagram, for the journal and the debug log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Challenged,
    /// A new command was taken (see `Handled::command`).
    Accepted,
    /// The same datagram again: answered from the table, nothing carried out.
    Retransmission,
    /// `list` answered.
    Listed,
    /// An authenticated request refused (journaled).
    Refused {
        action: Action,
        plug: String,
        refusal: Refusal,
    },
    /// Refused without authentication (counted, logged at debug level).
    Unauthenticated(Unauthenticated),
    /// Dropped unanswered.
    Dropped(Drop),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    NotAllowed,
    RateLimited,
    NonceTableFull,
    /// The randomness source failed: no nonce is issued.
    NoRandomness,
    Malformed(DecodeError),
}

/// The answer to one datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handled {
    /// Bytes to send back to the datagram's source.
    pub reply: Option<Vec<u8>>,
    pub command: Option<Command>,
    pub outcome: Outcome,
}

/// The counters, as the status document's `fence_service.counters` and the MIB's
/// rackHaFenceService show them (one definition, `crate::status`).
pub type Counters = crate::status::FenceServiceCounters;

/// At most [`MAX_OUTSTANDING_NONCES`] of these (an answer's reason makes them a few hundred
/// bytes each).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
enum Slot {
    Issued { expires: Micros },
    Running { mac: [u8; MAC_BYTES], plug: usize, action: Action, from: SocketAddr },
    Answered { mac: [u8; MAC_BYTES], answer: Answer, expires: Micros },
}

#[derive(Clone, Debug)]
struct Entry {
    nonce: Nonce,
    since: Micros,
    slot: Slot,
}

pub struct Server {
    config: ServerConfig,
    table: Vec<Entry>,
    tokens: u32,
    refilled_at: Micros,
    counters: Counters,
    /// Per plug: when its latest off or reboot succeeded.
    switched_off_at: Vec<Option<Micros>>,
}

impl Server {
    pub fn new(config: ServerConfig, now: Micros) -> Server {
        assert!(config.plugs.len() <= MAX_LISTED_PLUGS, "validated: at most MAX_LISTED_PLUGS plugs");
        assert!(config.clients.len() <= MAX_CLIENTS, "validated: at most MAX_CLIENTS clients");
        assert!(
            config.client_plugs.iter().all(|(_, plug)| *plug < config.plugs.len()),
            "validated: client_plugs names served plugs"
        );
        Server {
            switched_off_at: vec![None; config.plugs.len()],
            config,
            table: Vec::with_capacity(MAX_OUTSTANDING_NONCES),
            tokens: MAX_DATAGRAMS_PER_S,
            refilled_at: now,
            counters: Counters::default(),
        }
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn plugs(&self) -> &[String] {
        &self.config.plugs
    }

    /// Commands taken and not yet finished.
    pub fn running(&self) -> usize {
        self.table.iter().filter(|e| matches!(e.slot, Slot::Running { .. })).count()
    }

    fn take_token(&mut self, now: Micros) -> bool {
        let per_token_us = 1_000_000 / u64::from(MAX_DATAGRAMS_PER_S);
        let earned = now.since_us(self.refilled_at) / per_token_us;
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(earned).min(MAX_DATAGRAMS_PER_S);
            self.refilled_at = self.refilled_at.plus_us(u64::from(earned) * per_token_us).min(now);
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    /// Forget issued nonces and kept answers past their time.
    fn purge(&mut self, now: Micros) {
        self.table.retain(|e| match e.slot {
            Slot::Issued { expires } | Slot::Answered { expires, .. } => now < expires,
            Slot::Running { .. } => true,
        });
    }

    fn dropped(&mut self, why: Drop) -> Handled {
        match why {
            Drop::NotAllowed => self.counters.not_allowed += 1,
            Drop::RateLimited => self.counters.rate_limited += 1,
            Drop::NonceTableFull | Drop::NoRandomness => self.counters.nonce_table_full += 1,
            Drop::Malformed(_) => self.counters.malformed += 1,
        }
        Handled { reply: None, command: None, outcome: Outcome::Dropped(why) }
    }

    fn unauthenticated(&mut self, nonce: Nonce, why: Unauthenticated) -> Handled {
        match why {
            Unauthenticated::BadMac => self.counters.bad_mac += 1,
            Unauthenticated::UnknownNonce | Unauthenticated::NonceReused => {
                self.counters.replays_refused += 1
            }
            Unauthenticated::Malformed => self.counters.malformed += 1,
        }
        Handled {
            reply: Some(protocol::encode_refused(&nonce, why)),
            command: None,
            outcome: Outcome::Unauthenticated(why),
        }
    }

    /// One datagram from `from`, received at `now`; `fresh` gives a new random nonce (called
    /// only for a hello; None when no randomness could be read: the hello is dropped).
    pub fn handle(
        &mut self,
        now: Micros,
        from: SocketAddr,
        datagram: &[u8],
        fresh: &mut dyn FnMut() -> Option<Nonce>,
    ) -> Handled {
        self.counters.datagrams += 1;
        if !self.config.clients.contains(&from.ip()) {
            return self.dropped(Drop::NotAllowed);
        }
        if !self.take_token(now) {
            return self.dropped(Drop::RateLimited);
        }
        self.purge(now);
        match protocol::decode_to_box(&self.config.key, datagram) {
            Ok(ToBox::Hello) => match fresh() {
                Some(nonce) => self.challenge(now, nonce),
                None => self.dropped(Drop::NoRandomness),
            },
            Ok(ToBox::Request(request)) => self.request(now, from, request),
            Err(DecodeError::BadMac) => {
                let nonce = protocol::claimed_nonce(datagram).unwrap_or_default();
                self.unauthenticated(nonce, Unauthenticated::BadMac)
            }
            // From a holder of the key (the MAC verified) speaking another shape.
            Err(DecodeError::Body | DecodeError::Trailing(_)) => {
                let nonce = protocol::claimed_nonce(datagram).unwrap_or_default();
                self.unauthenticated(nonce, Unauthenticated::Malformed)
            }
            Err(e) => self.dropped(Drop::Malformed(e)),
        }
    }

    fn challenge(&mut self, now: Micros, fresh: Nonce) -> Handled {
        if self.table.iter().any(|e| e.nonce == fresh) {
            // A repeated random nonce is not to be: refuse to issue it twice.
            return self.dropped(Drop::NonceTableFull);
        }
        if self.table.len() >= MAX_OUTSTANDING_NONCES {
            // Evict the oldest entry that is not a running command.
            let oldest = (self.table.iter().enumerate())
                .filter(|(_, e)| !matches!(e.slot, Slot::Running { .. }))
                .min_by_key(|(_, e)| e.since)
                .map(|(i, _)| i);
            match oldest {
                Some(i) => {
                    self.table.swap_remove(i);
                }
                None => return self.dropped(Drop::NonceTableFull),
            }
        }
        self.table.push(Entry {
            nonce: fresh,
            since: now,
            slot: Slot::Issued { expires: now.plus_ms(NONCE_VALID_MS) },
        });
        assert!(self.table.len() <= MAX_OUTSTANDING_NONCES);
        self.counters.challenges += 1;
        let valid_ms = u32::try_from(NONCE_VALID_MS).expect("a small constant");
        Handled {
            reply: Some(protocol::encode_challenge(&fresh, valid_ms)),
            command: None,
            outcome: Outcome::Challenged,
        }
    }

    fn reply(&self, nonce: &Nonce, answer: &Answer) -> Option<Vec<u8>> {
        Some(protocol::encode_reply(&self.config.key, nonce, answer))
    }

    fn request(&mut self, now: Micros, from: SocketAddr, request: Request) -> Handled {
        let Some(index) = self.table.iter().position(|e| e.nonce == request.nonce) else {
            return self.unauthenticated(request.nonce, Unauthenticated::UnknownNonce);
        };
        match &self.table[index].slot {
            Slot::Issued { .. } => {}
            Slot::Running { mac, .. } if *mac == request.mac => {
                self.counters.retransmissions += 1;
                let reply = self.reply(&request.nonce, &Answer::InProgress);
                return Handled { reply, command: None, outcome: Outcome::Retransmission };
            }
            Slot::Answered { mac, answer, .. } if *mac == request.mac => {
                self.counters.retransmissions += 1;
                let reply = self.reply(&request.nonce, answer);
                return Handled { reply, command: None, outcome: Outcome::Retransmission };
            }
            Slot::Running { .. } | Slot::Answered { .. } => {
                return self.unauthenticated(request.nonce, Unauthenticated::NonceReused);
            }
        }
        // The nonce is used from here on, whatever the answer.
        let decided = self.decide(now, from.ip(), &request);
        let entry = &mut self.table[index];
        entry.since = now;
        match decided {
            Ok(Some(plug)) => {
                entry.slot = Slot::Running { mac: request.mac, plug, action: request.action, from };
                self.counters.commands += 1;
                let reply = self.reply(&request.nonce, &Answer::InProgress);
                let command = Some(Command { nonce: request.nonce, action: request.action, plug });
                Handled { reply, command, outcome: Outcome::Accepted }
            }
            Ok(None) => {
                let plugs = self.config.plugs.iter().filter_map(|p| protocol::plug_name(p)).collect();
                let answer = Answer::Plugs(Box::new(plugs));
                let reply = self.reply(&request.nonce, &answer);
                self.table[index].slot =
                    Slot::Answered { mac: request.mac, answer, expires: now.plus_ms(RESULT_KEEP_MS) };
                Handled { reply, command: None, outcome: Outcome::Listed }
            }
            Err(refusal) => {
                let answer = Answer::Refused(refusal);
                let reply = self.reply(&request.nonce, &answer);
                self.table[index].slot =
                    Slot::Answered { mac: request.mac, answer, expires: now.plus_ms(RESULT_KEEP_MS) };
                match refusal {
                    Refusal::UnknownPlug | Refusal::BadPlug => self.counters.refused_unknown_plug += 1,
                    Refusal::OwnClusterMember => self.counters.refused_own_member += 1,
                    Refusal::Busy => self.counters.refused_busy += 1,
                    Refusal::FencedClient => self.counters.refused_fenced_client += 1,
                }
                let outcome =
                    Outcome::Refused { action: request.action, plug: request.plug.to_string(), refusal };
                Handled { reply, command: None, outcome }
            }
        }
    }

    /// Whether the node sending from `client` is being switched off, or was within
    /// [`FENCED_CLIENT_HOLD_MS`] of `now`, by its own plug.
    fn client_fenced(&self, now: Micros, client: IpAddr) -> bool {
        let Some(&(_, own)) = self.config.client_plugs.iter().find(|(ip, _)| *ip == client) else {
            return false;
        };
        let being_switched_off = self.table.iter().any(|e| {
            matches!(e.slot, Slot::Running { plug, action: Action::Off | Action::Reboot, .. } if plug == own)
        });
        let recently_off =
            self.switched_off_at[own].is_some_and(|at| now.since_us(at) < FENCED_CLIENT_HOLD_MS * 1000);
        being_switched_off || recently_off
    }

    /// `Ok(Some(plug))`: a command on that plug; `Ok(None)`: a list; `Err`: refused.
    fn decide(&self, now: Micros, client: IpAddr, request: &Request) -> Result<Option<usize>, Refusal> {
        let name = request.plug.as_str();
        if request.action == Action::List {
            return if name.is_empty() { Ok(None) } else { Err(Refusal::BadPlug) };
        }
        if name.is_empty() {
            return Err(Refusal::BadPlug);
        }
        if self.config.own_members.iter().any(|m| m == name) {
            return Err(Refusal::OwnClusterMember);
        }
        let Some(plug) = self.config.plugs.iter().position(|p| p == name) else {
            return Err(Refusal::UnknownPlug);
        };
        let running: Vec<usize> = (self.table.iter())
            .filter_map(|e| match e.slot {
                Slot::Running { plug, .. } => Some(plug),
                _ => None,
            })
            .collect();
        if running.contains(&plug) || running.len() >= MAX_COMMANDS {
            return Err(Refusal::Busy);
        }
        // Reading a relay is harmless; switching one is not for a node that is going down.
        if request.action != Action::Status && self.client_fenced(now, client) {
            return Err(Refusal::FencedClient);
        }
        Ok(Some(plug))
    }

    /// The command that used `nonce` finished with `answer` (never `InProgress`), counted by
    /// its action and, if it is a `Failed`, as a failure. Returns the client's address and the
    /// reply to send it at once (it would otherwise learn it at its next retransmission); None
    /// if no such command runs.
    pub fn finish(&mut self, now: Micros, nonce: &Nonce, answer: Answer) -> Option<(SocketAddr, Vec<u8>)> {
        assert_ne!(answer, Answer::InProgress, "a finished command has its answer");
        let entry = self.table.iter_mut().find(|e| e.nonce == *nonce)?;
        let Slot::Running { mac, from, action, plug } = entry.slot else { return None };
        let reply = protocol::encode_reply(&self.config.key, nonce, &answer);
        let failed = matches!(answer, Answer::Failed(_));
        if matches!(action, Action::Off | Action::Reboot) && answer == Answer::Done {
            self.switched_off_at[plug] = Some(now);
        }
        entry.since = now;
        entry.slot = Slot::Answered { mac, answer, expires: now.plus_ms(RESULT_KEEP_MS) };
        let c = &mut self.counters;
        match action {
            Action::Off => c.offs += 1,
            Action::On => c.ons += 1,
            Action::Reboot => c.reboots += 1,
            Action::Status => c.status_reads += 1,
            Action::List => unreachable!("a list is answered at once, never run"),
        }
        c.failed += u64::from(failed);
        Some((from, reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fencesvc::protocol::{FromBox, NONCE_BYTES};

    fn key(byte: u8) -> ClusterKey {
        ClusterKey(heapless::Vec::from_slice(&[byte; 32]).unwrap())
    }

    const CLIENT: &str = "127.0.0.1:5000";

    fn server() -> Server {
        Server::new(
            ServerConfig {
                key: key(1),
                plugs: vec!["pm-a".into(), "pm-b".into()],
                own_members: vec!["node-a".into(), "node-b".into(), "witness".into()],
                clients: vec!["127.0.0.1".parse().unwrap()],
                client_plugs: vec![],
            },
            Micros::ZERO,
        )
    }

    fn nonce(n: u8) -> Nonce {
        [n; NONCE_BYTES]
    }

    fn at_ms(ms: u64) -> Micros {
        Micros::ZERO.plus_ms(ms)
    }

    /// Hello, then a request under `key`; returns the request's bytes and the server's answer.
    fn ask(s: &mut Server, ms: u64, n: u8, k: &ClusterKey, action: Action, plug: &str) -> (Vec<u8>, Handled) {
        ask_from(s, CLIENT.parse().unwrap(), ms, n, k, action, plug)
    }

    /// [`ask`] from another client.
    fn ask_from(
        s: &mut Server,
        from: SocketAddr,
        ms: u64,
        n: u8,
        k: &ClusterKey,
        action: Action,
        plug: &str,
    ) -> (Vec<u8>, Handled) {
        let challenge = s.handle(at_ms(ms), from, &protocol::encode_hello(), &mut || Some(nonce(n)));
        let Ok(FromBox::Challenge { nonce: issued, .. }) =
            protocol::decode_from_box(k, &challenge.reply.unwrap())
        else {
            panic!("a challenge")
        };
        let bytes = protocol::encode_request(k, &issued, action, &protocol::plug_name(plug).unwrap());
        let handled = s.handle(at_ms(ms), from, &bytes, &mut || Some(nonce(n.wrapping_add(100))));
        (bytes, handled)
    }

    fn answer(handled: &Handled) -> Answer {
        match protocol::decode_from_box(&key(1), handled.reply.as_ref().unwrap()) {
            Ok(FromBox::Reply { answer, .. }) => answer,
            other => panic!("an authenticated reply, got {other:?}"),
        }
    }

    #[test]
    fn an_off_is_taken_once_and_its_retransmission_answered_without_a_second_command() {
        let mut s = server();
        let (bytes, h) = ask(&mut s, 0, 1, &key(1), Action::Off, "pm-b");
        assert_eq!(h.command, Some(Command { nonce: nonce(1), action: Action::Off, plug: 1 }));
        assert_eq!(answer(&h), Answer::InProgress);
        let from = CLIENT.parse().unwrap();
        let again = s.handle(at_ms(500), from, &bytes, &mut || Some(nonce(9)));
        assert_eq!((again.command.clone(), again.outcome.clone()), (None, Outcome::Retransmission));
        assert_eq!(answer(&again), Answer::InProgress);
        let (to, reply) = s.finish(at_ms(2000), &nonce(1), Answer::Done).unwrap();
        assert_eq!(to, from);
        assert!(matches!(
            protocol::decode_from_box(&key(1), &reply),
            Ok(FromBox::Reply { answer: Answer::Done, .. })
        ));
        // Within RESULT_KEEP_MS the same datagram gets the same answer, and nothing runs.
        let kept = s.handle(at_ms(2000 + RESULT_KEEP_MS - 1), from, &bytes, &mut || Some(nonce(9)));
        assert_eq!((kept.command.clone(), answer(&kept)), (None, Answer::Done));
        // After it, the nonce is forgotten: a replay is refused and counted.
        let replay = s.handle(at_ms(2000 + RESULT_KEEP_MS), from, &bytes, &mut || Some(nonce(9)));
        assert_eq!(replay.outcome, Outcome::Unauthenticated(Unauthenticated::UnknownNonce));
        assert_eq!(replay.command, None);
        assert_eq!(s.counters().replays_refused, 1);
        assert_eq!(s.counters().commands, 1);
        assert_eq!(s.counters().retransmissions, 2);
        // hello, request, three sends of it again.
        let c = s.counters();
        assert_eq!((c.datagrams, c.offs, c.ons, c.failed), (5, 1, 0, 0));
    }

    #[test]
    fn a_used_nonce_with_another_request_is_refused() {
        let mut s = server();
        let (_, h) = ask(&mut s, 0, 1, &key(1), Action::Off, "pm-a");
        assert!(h.command.is_some());
        let other =
            protocol::encode_request(&key(1), &nonce(1), Action::On, &protocol::plug_name("pm-a").unwrap());
        let h = s.handle(at_ms(1), CLIENT.parse().unwrap(), &other, &mut || Some(nonce(2)));
        assert_eq!((h.command, h.outcome), (None, Outcome::Unauthenticated(Unauthenticated::NonceReused)));
        assert_eq!(s.counters().replays_refused, 1);
    }

    #[test]
    fn a_nonce_expires_and_a_made_up_one_is_unknown() {
        let mut s = server();
        let from = CLIENT.parse().unwrap();
        s.handle(at_ms(0), from, &protocol::encode_hello(), &mut || Some(nonce(1)));
        let late =
            protocol::encode_request(&key(1), &nonce(1), Action::Off, &protocol::plug_name("pm-a").unwrap());
        let h = s.handle(at_ms(NONCE_VALID_MS), from, &late, &mut || Some(nonce(2)));
        assert_eq!(h.outcome, Outcome::Unauthenticated(Unauthenticated::UnknownNonce));
        let made_up =
            protocol::encode_request(&key(1), &nonce(42), Action::Off, &protocol::plug_name("pm-a").unwrap());
        let h = s.handle(at_ms(NONCE_VALID_MS), from, &made_up, &mut || Some(nonce(3)));
        assert_eq!((h.command, s.counters().replays_refused), (None, 2));
    }

    #[test]
    fn a_wrong_key_is_refused_unauthenticated_and_counted() {
        let mut s = server();
        let from = CLIENT.parse().unwrap();
        s.handle(at_ms(0), from, &protocol::encode_hello(), &mut || Some(nonce(1)));
        let forged =
            protocol::encode_request(&key(2), &nonce(1), Action::Off, &protocol::plug_name("pm-a").unwrap());
        let h = s.handle(at_ms(1), from, &forged, &mut || Some(nonce(2)));
        assert_eq!((h.command, h.outcome), (None, Outcome::Unauthenticated(Unauthenticated::BadMac)));
        assert_eq!(
            protocol::decode_from_box(&key(2), &h.reply.unwrap()),
            Ok(FromBox::Refused { nonce: nonce(1), why: Unauthenticated::BadMac })
        );
        assert_eq!(s.counters().bad_mac, 1);
        // The nonce was not consumed by the forgery: the real client can still use it.
        let real =
            protocol::encode_request(&key(1), &nonce(1), Action::Off, &protocol::plug_name("pm-a").unwrap());
        assert!(s.handle(at_ms(2), from, &real, &mut || Some(nonce(3))).command.is_some());
    }

    #[test]
    fn plugs_are_decided_by_name_and_own_members_are_never_switched() {
        let mut s = server();
        let cases = [
            ("node-a", Action::Off, Refusal::OwnClusterMember),
            ("witness", Action::Status, Refusal::OwnClusterMember),
            ("pm-z", Action::On, Refusal::UnknownPlug),
            ("", Action::Off, Refusal::BadPlug),
            ("pm-a", Action::List, Refusal::BadPlug),
        ];
        for (i, (plug, action, refusal)) in cases.into_iter().enumerate() {
            let (_, h) = ask(&mut s, i as u64, i as u8 + 1, &key(1), action, plug);
            assert_eq!(h.command, None, "{plug}");
            assert_eq!(answer(&h), Answer::Refused(refusal), "{plug}");
        }
        let (_, h) = ask(&mut s, 10, 50, &key(1), Action::List, "");
        let Answer::Plugs(plugs) = answer(&h) else { panic!("a list") };
        assert_eq!(plugs.iter().map(|p| p.as_str()).collect::<Vec<_>>(), ["pm-a", "pm-b"]);
        let c = s.counters();
        assert_eq!((c.refused_own_member, c.refused_unknown_plug, c.refused_busy), (2, 3, 0));
    }

    #[test]
    fn one_command_per_plug_and_at_most_max_commands() {
        let mut s = Server::new(
            ServerConfig {
                key: key(1),
                plugs: (0..8).map(|i| format!("p{i}")).collect(),
                own_members: vec![],
                clients: vec!["127.0.0.1".parse().unwrap()],
                client_plugs: vec![],
            },
            Micros::ZERO,
        );
        let (_, h) = ask(&mut s, 0, 1, &key(1), Action::Off, "p0");
        assert!(h.command.is_some());
        let (_, h) = ask(&mut s, 100, 2, &key(1), Action::Status, "p0");
        assert_eq!(answer(&h), Answer::Refused(Refusal::Busy));
        for i in 1..MAX_COMMANDS {
            let (_, h) =
                ask(&mut s, 200 + i as u64 * 100, 10 + i as u8, &key(1), Action::Off, &format!("p{i}"));
            assert!(h.command.is_some());
        }
        let (_, h) = ask(&mut s, 1000, 30, &key(1), Action::Off, "p7");
        assert_eq!(answer(&h), Answer::Refused(Refusal::Busy));
        assert_eq!(s.running(), MAX_COMMANDS);
        s.finish(at_ms(1100), &nonce(1), Answer::Done).unwrap();
        let (_, h) = ask(&mut s, 1200, 31, &key(1), Action::Off, "p7");
        assert!(h.command.is_some());
        s.finish(at_ms(1300), &nonce(31), Answer::Failed(protocol::reason("stuck"))).unwrap();
        let c = s.counters();
        assert_eq!((c.refused_busy, c.commands, c.offs, c.failed), (2, MAX_COMMANDS as u64 + 1, 2, 1));
        // A command finishes once: its answer is kept, not counted again.
        assert_eq!(s.finish(at_ms(1400), &nonce(31), Answer::Done), None);
        assert_eq!(s.counters().offs, 2);
    }

    #[test]
    fn a_node_being_fenced_switches_nothing_so_a_fence_race_leaves_one_node() {
        let a: SocketAddr = "10.0.0.1:5000".parse().unwrap(); // powered by pm-a
        let b: SocketAddr = "10.0.0.2:5000".parse().unwrap(); // powered by pm-b
        let station: SocketAddr = CLIENT.parse().unwrap(); // no plug of its own
        let mut s = Server::new(
            ServerConfig {
                key: key(1),
                plugs: vec!["pm-a".into(), "pm-b".into()],
                own_members: vec![],
                clients: vec![a.ip(), b.ip(), station.ip()],
                client_plugs: vec![(a.ip(), 0), (b.ip(), 1)],
            },
            Micros::ZERO,
        );
        let k = key(1);
        // The two nodes lost each other and both fence; node A's request comes first.
        let (_, h) = ask_from(&mut s, a, 0, 1, &k, Action::Off, "pm-b");
        assert_eq!(h.command, Some(Command { nonce: nonce(1), action: Action::Off, plug: 1 }));
        let (_, h) = ask_from(&mut s, b, 1, 2, &k, Action::Off, "pm-a");
        assert_eq!((h.command.clone(), answer(&h)), (None, Answer::Refused(Refusal::FencedClient)));
        assert!(matches!(h.outcome, Outcome::Refused { refusal: Refusal::FencedClient, .. }));
        // Reading a relay switches nothing: allowed.
        let (_, h) = ask_from(&mut s, b, 2, 3, &k, Action::Status, "pm-a");
        assert_eq!(h.command.map(|c| c.action), Some(Action::Status));
        s.finish(at_ms(3), &nonce(3), Answer::Status(protocol::Power::On)).unwrap();
        // The off succeeds: B switches nothing for FENCED_CLIENT_HOLD_MS after it.
        s.finish(at_ms(1000), &nonce(1), Answer::Done).unwrap();
        let held = 1000 + FENCED_CLIENT_HOLD_MS - 1;
        let (_, h) = ask_from(&mut s, b, held, 4, &k, Action::Reboot, "pm-a");
        assert_eq!((h.command.clone(), answer(&h)), (None, Answer::Refused(Refusal::FencedClient)));
        // A station without a plug of its own is never held.
        let (_, h) = ask_from(&mut s, station, held, 5, &k, Action::On, "pm-b");
        assert!(h.command.is_some());
        s.finish(at_ms(held), &nonce(5), Answer::Done).unwrap();
        // After the hold, B (powered on again) fences like any node; while that runs, A is held.
        let (_, h) = ask_from(&mut s, b, held + 1, 6, &k, Action::Off, "pm-a");
        assert_eq!(h.command.map(|c| c.plug), Some(0));
        let (_, h) = ask_from(&mut s, a, held + 2, 7, &k, Action::On, "pm-b");
        assert_eq!(answer(&h), Answer::Refused(Refusal::FencedClient));
        // A failed off holds nothing: A still runs, and its own fence goes ahead.
        s.finish(at_ms(held + 3), &nonce(6), Answer::Failed(protocol::reason("relay stuck"))).unwrap();
        let (_, h) = ask_from(&mut s, a, held + 4, 8, &k, Action::Off, "pm-b");
        assert_eq!(h.command.map(|c| c.plug), Some(1));
        let c = s.counters();
        assert_eq!((c.refused_fenced_client, c.refused_busy, c.commands), (3, 0, 5));
    }

    #[test]
    fn strangers_and_floods_are_dropped_unanswered() {
        let mut s = server();
        let stranger: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let h = s.handle(at_ms(0), stranger, &protocol::encode_hello(), &mut || Some(nonce(1)));
        assert_eq!((h.reply, h.outcome), (None, Outcome::Dropped(Drop::NotAllowed)));
        let from = CLIENT.parse().unwrap();
        for i in 0..MAX_DATAGRAMS_PER_S {
            let h = s.handle(at_ms(1), from, &protocol::encode_hello(), &mut || Some(nonce(i as u8 + 1)));
            assert_eq!(h.outcome, Outcome::Challenged);
        }
        let h = s.handle(at_ms(1), from, &protocol::encode_hello(), &mut || Some(nonce(200)));
        assert_eq!(h.outcome, Outcome::Dropped(Drop::RateLimited));
        // One token per 1/MAX_DATAGRAMS_PER_S s.
        let h = s.handle(
            at_ms(1 + 1000 / u64::from(MAX_DATAGRAMS_PER_S)),
            from,
            &protocol::encode_hello(),
            &mut || Some(nonce(201)),
        );
        assert_eq!(h.outcome, Outcome::Challenged);
        let h = s.handle(at_ms(60_000), from, b"garbage", &mut || Some(nonce(202)));
        assert_eq!(h.outcome, Outcome::Dropped(Drop::Malformed(DecodeError::BadMagic)));
        let c = s.counters();
        assert_eq!((c.not_allowed, c.rate_limited, c.malformed), (1, 1, 1));
    }

    #[test]
    fn without_randomness_no_nonce_is_issued() {
        let mut s = server();
        let h = s.handle(at_ms(0), CLIENT.parse().unwrap(), &protocol::encode_hello(), &mut || None);
        assert_eq!((h.reply, h.outcome), (None, Outcome::Dropped(Drop::NoRandomness)));
        assert!(s.table.is_empty());
    }

    #[test]
    fn the_nonce_table_stays_bounded_and_keeps_running_commands() {
        let mut s = server();
        let (_, h) = ask(&mut s, 0, 1, &key(1), Action::Off, "pm-a");
        assert!(h.command.is_some());
        let from = CLIENT.parse().unwrap();
        for i in 0..(3 * MAX_OUTSTANDING_NONCES) {
            // Spaced out so the rate limit does not drop them.
            let mut n = [0u8; NONCE_BYTES];
            n[..8].copy_from_slice(&(i as u64 + 1000).to_le_bytes());
            s.handle(at_ms(100 * (i as u64 + 1)), from, &protocol::encode_hello(), &mut || Some(n));
            assert!(s.table.len() <= MAX_OUTSTANDING_NONCES);
        }
        assert_eq!(s.running(), 1, "eviction never forgets a running command");
        assert!(s.finish(at_ms(1_000_000), &nonce(1), Answer::Done).is_some());
    }
}

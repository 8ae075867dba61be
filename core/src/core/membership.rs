//! Failure detection: per link up/warn/down with bidirectional liveness, per peer reachability.
//!
//! Owns the decision "is this link alive, is that member reachable", the per-link sequence
//! numbers and acknowledgements that frames carry, replay rejection, and the per-link counters.
//! It is sans-I/O: the shell feeds it authenticated headers and receive errors with the current
//! monotonic time, asks it which frames to send ([`Membership::poll_transmit`]), when to wake
//! up next ([`Membership::poll_timeout`]) and what changed ([`Membership::poll_event`]). It
//! does not encode, authenticate or send anything, and it never reads a clock.
//!
//! Call order for the shell, each loop iteration:
//! 1. `handle_frame` / `handle_rx_error` / `handle_send_error` for every input that arrived,
//!    with the time it is read (a frame judges only its own link, and only for the better: the
//!    rest waits for step 2, when every queued frame is in);
//! 2. `handle_timeout(now)`, with the same time as the reads: frames that arrived after them
//!    are not in yet;
//! 3. drain `poll_transmit(now)` and `poll_event()`;
//! 4. sleep until `poll_timeout()` or the next input.
//!
//! Liveness rule (docs/design.md): a link is *alive* at `t` while both directions are proven
//! recent: the latest authenticated frame from the peer arrived after `t - dead_ms` (**heard**),
//! and the peer has acknowledged one of our frames of this boot such that the peer received it
//! after `t - dead_ms` (**heard us**; estimated as the arrival of the acknowledging frame minus
//! the hold time the peer reports, never earlier than when we sent the acknowledged frame).
//! The age of the older of the two proofs decides: up to `warn_ms` Up, up to `dead_ms` Warn,
//! beyond Down. A one-way cut therefore takes the link down on both sides.

#![forbid(unsafe_code)]

use heapless::{Deque, Vec};

use crate::time::Micros;
use crate::wire::Header;

/// Bound on links per member (the configuration enforces it: `config::MAX_LINKS` is this).
pub const MAX_LINKS: usize = 8;

/// A member's role in the cluster (the configuration's `role = "witness"|"node"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Witness,
    Node,
}

impl Role {
    /// The spelling used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Witness => "witness",
            Role::Node => "node",
        }
    }
}

impl core::fmt::Display for Role {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The heartbeat timing of the cluster, in milliseconds: plain data that the configuration
/// (`config::Timing` in `ha-agent` is this type) produces and failure detection consumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub interval_ms: u64,
    pub warn_ms: u64,
    pub dead_ms: u64,
    pub initdead_ms: u64,
}
/// A member has exactly two peers.
pub const MAX_PEERS: usize = 2;
/// Sent frames remembered per link, to check acknowledgements and measure round trips. An
/// acknowledgement of a frame older than this many intervals is ignored (it proves nothing
/// recent when `dead_ms` is at most 32 intervals, which the configuration enforces loosely).
pub const SENT_RING: usize = 64;
/// Bound on events waiting to be polled; the oldest is dropped (and counted) when full.
pub const MAX_EVENTS: usize = 64;
/// Jitter smoothing factor (RFC 3550 uses 1/16).
const JITTER_GAIN_DIVISOR: u64 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// No proof yet and `initdead_ms` has not passed since start.
    Init,
    Up,
    /// Alive, but the older proof is older than `warn_ms`.
    Warn,
    Down,
}

impl LinkState {
    /// Order by evidence of life: Down < Init < Warn < Up.
    fn rank(self) -> u8 {
        match self {
            LinkState::Down => 0,
            LinkState::Init => 1,
            LinkState::Warn => 2,
            LinkState::Up => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Init => "init",
            LinkState::Up => "up",
            LinkState::Warn => "warn",
            LinkState::Down => "down",
        }
    }
    pub fn is_alive(self) -> bool {
        matches!(self, LinkState::Up | LinkState::Warn)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// Not reached yet and some link is still in `Init`.
    Unknown,
    Reachable,
    Unreachable,
}

impl PeerState {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerState::Unknown => "unknown",
            PeerState::Reachable => "reachable",
            PeerState::Unreachable => "unreachable",
        }
    }
}

/// Why received bytes were not accepted before they reached [`Membership::handle_frame`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxError {
    /// Serial CRC mismatch or COBS framing error: line noise.
    Crc,
    /// Wrong length, version, flags or body: not a frame we can use.
    Malformed,
    /// The MAC did not verify (wrong key or forgery) or the cluster id is another cluster's.
    Auth,
}

/// What [`Membership::handle_frame`] did with an authenticated frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    Accepted,
    /// Not newer than the latest accepted frame of the same boot, or from an older boot.
    Replay,
    /// No configured link with this id to this sender.
    UnknownLink,
    /// Our own frame (broadcast media echo it).
    FromSelf,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    pub frames_in: u64,
    pub frames_out: u64,
    pub send_errors: u64,
    pub crc_errors: u64,
    pub auth_failures: u64,
    pub replays: u64,
    pub malformed: u64,
    pub unknown_link: u64,
    pub transitions: u64,
    /// Transitions into `Down` (a subset of `transitions`).
    pub downs: u64,
}

/// The public view of one link.
#[derive(Clone, Debug)]
pub struct LinkStatus {
    pub id: u8,
    pub peer: u8,
    pub state: LinkState,
    pub counters: LinkCounters,
    /// One-way latency estimate: half the last measured round trip.
    pub latency_us: Option<u64>,
    /// Smoothed variation of the latency (RFC 3550 style).
    pub jitter_us: Option<u64>,
    /// Arrival of the latest accepted frame.
    pub last_rx: Option<Micros>,
}

#[derive(Clone, Debug)]
struct Link {
    status: LinkStatus,
    /// Arrival of the latest accepted frame from the peer.
    heard_at: Option<Micros>,
    /// Latest time the peer is known to have received one of our frames of this boot.
    heard_us_at: Option<Micros>,
    /// Latest accepted (boot, seq) from the peer and when it arrived.
    peer_boot: u64,
    peer_seq: u64,
    peer_rx_at: Micros,
    /// Our last sequence number used on this link (0 = none yet).
    seq: u64,
    sent: Deque<(u64, Micros), SENT_RING>,
    last_rtt_seq: u64,
    transmit_pending: bool,
}

#[derive(Clone, Debug)]
pub struct PeerStatus {
    pub id: u8,
    pub state: PeerState,
    pub links_up: u8,
    /// Member ids the peer said it reaches, in its latest heartbeat.
    pub reported_reaches: Vec<u8, { crate::wire::frame::MAX_REACH }>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Link { id: u8, peer: u8, from: LinkState, to: LinkState },
    Peer { peer: u8, from: PeerState, to: PeerState },
}

/// One frame the shell must encode and send now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub link_index: usize,
    pub header: Header,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkSpec {
    pub id: u8,
    pub peer: u8,
}

#[derive(Clone, Debug)]
pub struct Params {
    pub cluster_id: u32,
    pub me: u8,
    /// Our boot counter (from disk, strictly increasing across starts).
    pub boot: u64,
    pub peers: Vec<u8, MAX_PEERS>,
    pub links: Vec<LinkSpec, MAX_LINKS>,
    pub timing: Timing,
}

/// The failure detector of one member.
#[derive(Clone, Debug)]
pub struct Membership {
    params: Params,
    started_at: Micros,
    next_tx_at: Micros,
    /// Bursts sent by [`Membership::transmit_now`].
    triggered: u64,
    links: Vec<Link, MAX_LINKS>,
    peers: Vec<PeerStatus, MAX_PEERS>,
    events: Deque<Event, MAX_EVENTS>,
    events_dropped: u64,
}

impl Membership {
    pub fn new(params: Params, now: Micros) -> Membership {
        assert!(params.boot > 0, "boot counter starts at 1");
        assert!(params.timing.interval_ms > 0);
        assert!(params.timing.dead_ms >= params.timing.interval_ms);
        let mut links = Vec::new();
        for spec in &params.links {
            assert!(params.peers.contains(&spec.peer), "link {} to a non-peer", spec.id);
            let link = Link {
                status: LinkStatus {
                    id: spec.id,
                    peer: spec.peer,
                    state: LinkState::Init,
                    counters: LinkCounters::default(),
                    latency_us: None,
                    jitter_us: None,
                    last_rx: None,
                },
                heard_at: None,
                heard_us_at: None,
                peer_boot: 0,
                peer_seq: 0,
                peer_rx_at: now,
                seq: 0,
                sent: Deque::new(),
                last_rtt_seq: 0,
                transmit_pending: false,
            };
            assert!(links.push(link).is_ok());
        }
        let mut peers = Vec::new();
        for &id in &params.peers {
            let peer =
                PeerStatus { id, state: PeerState::Unknown, links_up: 0, reported_reaches: Vec::new() };
            assert!(peers.push(peer).is_ok());
        }
        Membership {
            params,
            started_at: now,
            next_tx_at: now,
            triggered: 0,
            links,
            peers,
            events: Deque::new(),
            events_dropped: 0,
        }
    }

    // ---- getters -------------------------------------------------------------------------

    pub fn links(&self) -> impl Iterator<Item = &LinkStatus> {
        self.links.iter().map(|l| &l.status)
    }
    pub fn link(&self, index: usize) -> Option<&LinkStatus> {
        self.links.get(index).map(|l| &l.status)
    }
    pub fn peers(&self) -> &[PeerStatus] {
        &self.peers
    }
    pub fn peer(&self, id: u8) -> Option<&PeerStatus> {
        self.peers.iter().find(|p| p.id == id)
    }
    pub fn timing(&self) -> Timing {
        self.params.timing
    }
    pub fn boot(&self) -> u64 {
        self.params.boot
    }
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }
    /// Member ids we currently reach, for our heartbeats.
    pub fn reaches(&self) -> Vec<u8, { crate::wire::frame::MAX_REACH }> {
        let mut out = Vec::new();
        for p in self.peers.iter().filter(|p| p.state == PeerState::Reachable) {
            // MAX_REACH >= MAX_PEERS, so this cannot fail.
            assert!(out.push(p.id).is_ok());
        }
        out
    }

    // ---- commands ------------------------------------------------------------------------

    /// Apply new timings (configuration reload). Takes effect at the next evaluation.
    pub fn set_timing(&mut self, timing: Timing, now: Micros) {
        assert!(timing.interval_ms > 0 && timing.dead_ms >= timing.interval_ms);
        self.params.timing = timing;
        self.next_tx_at = self.next_tx_at.min(now.plus_ms(timing.interval_ms));
        self.evaluate(now, None);
    }

    // ---- input ---------------------------------------------------------------------------

    /// An authenticated frame arrived. `hint` is the link index the transport associates with
    /// the bytes, used only to attribute an unknown-link frame to a counter.
    pub fn handle_frame(&mut self, now: Micros, hint: Option<usize>, header: &Header) -> Verdict {
        if header.sender == self.params.me {
            return Verdict::FromSelf;
        }
        let Some(index) =
            self.links.iter().position(|l| l.status.id == header.link && l.status.peer == header.sender)
        else {
            if let Some(link) = hint.and_then(|i| self.links.get_mut(i)) {
                link.status.counters.unknown_link += 1;
            }
            return Verdict::UnknownLink;
        };
        let my_boot = self.params.boot;
        let link = &mut self.links[index];
        let newer =
            header.boot > link.peer_boot || (header.boot == link.peer_boot && header.seq > link.peer_seq);
        let replay_accepted = crate::core::mutation::active(crate::core::mutation::Mutation::AcceptReplays);
        if (!newer && !replay_accepted) || header.seq == 0 {
            link.status.counters.replays += 1;
            return Verdict::Replay;
        }
        link.peer_boot = header.boot;
        link.peer_seq = header.seq;
        link.peer_rx_at = now;
        link.heard_at = Some(now);
        link.status.last_rx = Some(now);
        link.status.counters.frames_in += 1;

        if header.ack_boot == my_boot && header.ack_seq != 0 {
            let sent_at = link.sent.iter().find(|(seq, _)| *seq == header.ack_seq).map(|(_, at)| *at);
            if let Some(sent_at) = sent_at {
                let ack_delay_us = u64::from(header.ack_delay_us);
                let rtt_us = now.since_us(sent_at).saturating_sub(ack_delay_us);
                // When did the peer last hear us? If it acknowledged our latest frame that
                // could have reached it when it sent this one, nothing we sent is missing: the
                // forward path worked as of the peer's send time (now - rtt/2). Otherwise our
                // later frames were lost, and the proof is when the acknowledged frame arrived
                // (now - ack_delay). Either way: no earlier than we sent it, no later than now.
                let next_sent_at =
                    link.sent.iter().find(|(seq, _)| *seq == header.ack_seq + 1).map(|(_, at)| *at);
                let nothing_missing = next_sent_at.is_none_or(|t| t > now.minus_us(rtt_us));
                let estimate =
                    if nothing_missing { now.minus_us(rtt_us / 2) } else { now.minus_us(ack_delay_us) };
                let estimate = estimate.max(sent_at).min(now);
                link.heard_us_at = Some(link.heard_us_at.map_or(estimate, |t| t.max(estimate)));
                if header.ack_seq != link.last_rtt_seq {
                    link.last_rtt_seq = header.ack_seq;
                    let latency_us = rtt_us / 2;
                    if let Some(previous) = link.status.latency_us {
                        let d = previous.abs_diff(latency_us);
                        let j = link.status.jitter_us.unwrap_or(0);
                        let j = if d >= j {
                            j + (d - j) / JITTER_GAIN_DIVISOR
                        } else {
                            j - (j - d) / JITTER_GAIN_DIVISOR
                        };
                        link.status.jitter_us = Some(j);
                    }
                    link.status.latency_us = Some(latency_us);
                }
            }
        }
        // Only this link: another link's proof may be in a frame still waiting to be read
        // (after a stall of this loop, frames from every peer are queued at once). Judging it
        // now, before that frame, would take it down for a silence that did not happen.
        // `handle_timeout`, which the shell calls once it has read everything, judges the rest.
        self.evaluate(now, Some(index));
        Verdict::Accepted
    }

    /// Store what the peer says it reaches (from an accepted heartbeat).
    pub fn handle_reaches(&mut self, sender: u8, reaches: &[u8]) {
        if let Some(peer) = self.peers.iter_mut().find(|p| p.id == sender) {
            peer.reported_reaches.clear();
            for &id in reaches.iter().take(crate::wire::frame::MAX_REACH) {
                let _ = peer.reported_reaches.push(id);
            }
        }
    }

    /// Bytes that could not be used arrived on (or were attributed to) link `index`.
    pub fn handle_rx_error(&mut self, index: usize, error: RxError) {
        if let Some(link) = self.links.get_mut(index) {
            let c = &mut link.status.counters;
            match error {
                RxError::Crc => c.crc_errors += 1,
                RxError::Malformed => c.malformed += 1,
                RxError::Auth => c.auth_failures += 1,
            }
        }
    }

    /// The shell could not send the frame it was given for link `index`.
    pub fn handle_send_error(&mut self, index: usize) {
        if let Some(link) = self.links.get_mut(index) {
            link.status.counters.send_errors += 1;
        }
    }

    /// Send one frame on every link now, outside the rhythm (the next regular frames stay
    /// where they were): what the frames say changed, and the peers should not wait up to an
    /// interval to hear it. Bounded by the changes themselves (one per engine step at most).
    pub fn transmit_now(&mut self) {
        for link in self.links.iter_mut() {
            link.transmit_pending = true;
        }
        self.triggered += 1;
    }

    /// Frames sent outside the rhythm because what they say changed.
    pub fn triggered(&self) -> u64 {
        self.triggered
    }

    /// Time passed; re-evaluate states and schedule transmissions.
    pub fn handle_timeout(&mut self, now: Micros) {
        if now >= self.next_tx_at {
            for link in self.links.iter_mut() {
                link.transmit_pending = true;
            }
            let interval_us = self.params.timing.interval_ms * 1000;
            let next = self.next_tx_at.plus_us(interval_us);
            // After a stall, do not burst to catch up: resume the rhythm from now.
            self.next_tx_at = if next <= now { now.plus_us(interval_us) } else { next };
        }
        self.evaluate(now, None);
    }

    // ---- output --------------------------------------------------------------------------

    /// The next frame to send, if one is due. Each link gets one frame per interval.
    pub fn poll_transmit(&mut self, now: Micros) -> Option<Transmit> {
        let cluster_id = self.params.cluster_id;
        let me = self.params.me;
        let boot = self.params.boot;
        let (index, link) = self.links.iter_mut().enumerate().find(|(_, l)| l.transmit_pending)?;
        link.transmit_pending = false;
        link.seq += 1;
        if link.sent.is_full() {
            let _ = link.sent.pop_front();
        }
        assert!(link.sent.push_back((link.seq, now)).is_ok());
        link.status.counters.frames_out += 1;
        let ack_delay_us = if link.peer_seq == 0 {
            0
        } else {
            u32::try_from(now.since_us(link.peer_rx_at)).unwrap_or(u32::MAX)
        };
        Some(Transmit {
            link_index: index,
            header: Header {
                cluster_id,
                sender: me,
                link: link.status.id,
                boot,
                seq: link.seq,
                ack_boot: link.peer_boot,
                ack_seq: link.peer_seq,
                ack_delay_us,
            },
        })
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next instant at which something changes without input.
    pub fn poll_timeout(&self) -> Micros {
        let t = &self.params.timing;
        let mut next = self.next_tx_at;
        for link in &self.links {
            let candidate = match alive_since(link) {
                None if link.status.state == LinkState::Init => {
                    self.started_at.plus_ms(t.initdead_ms).plus_us(1)
                }
                None => Micros::MAX,
                Some(at) => match link.status.state {
                    LinkState::Up => at.plus_ms(t.warn_ms).plus_us(1),
                    LinkState::Warn => at.plus_ms(t.dead_ms).plus_us(1),
                    LinkState::Init | LinkState::Down => Micros::MAX,
                },
            };
            next = next.min(candidate);
        }
        next
    }

    // ---- internals -----------------------------------------------------------------------

    fn push_event(&mut self, event: Event) {
        if self.events.is_full() {
            let _ = self.events.pop_front();
            self.events_dropped += 1;
        }
        assert!(self.events.push_back(event).is_ok());
    }

    /// Re-judge every link (`only` = None) or one link, then every peer from its links.
    fn evaluate(&mut self, now: Micros, only: Option<usize>) {
        let t = self.params.timing;
        let initdead_over = now.since_us(self.started_at) > t.initdead_ms * 1000;
        let mut changes: Vec<Event, MAX_LINKS> = Vec::new();
        for (index, link) in self.links.iter_mut().enumerate() {
            if only.is_some_and(|i| i != index) {
                continue;
            }
            let new = match alive_since(link) {
                Some(at) => {
                    let age_us = now.since_us(at);
                    if age_us <= t.warn_ms * 1000 {
                        LinkState::Up
                    } else if age_us <= t.dead_ms * 1000 {
                        LinkState::Warn
                    } else {
                        LinkState::Down
                    }
                }
                None if link.status.state == LinkState::Init && !initdead_over => LinkState::Init,
                None => LinkState::Down,
            };
            // A frame proves life; it never moves its own link towards down. Read late (the
            // loop stood still), it carries an old acknowledgement, and the newer frames behind
            // it in the same batch carry fresh ones: `handle_timeout`, once every queued frame
            // is in, is what judges a link worse.
            if only.is_some() && new.rank() < link.status.state.rank() {
                continue;
            }
            if new != link.status.state {
                let event = Event::Link {
                    id: link.status.id,
                    peer: link.status.peer,
                    from: link.status.state,
                    to: new,
                };
                link.status.state = new;
                link.status.counters.transitions += 1;
                if new == LinkState::Down {
                    link.status.counters.downs += 1;
                }
                assert!(changes.push(event).is_ok());
            }
        }
        for event in changes {
            self.push_event(event);
        }
        for i in 0..self.peers.len() {
            let id = self.peers[i].id;
            let mut up = 0u8;
            let mut init = false;
            for link in self.links.iter().filter(|l| l.status.peer == id) {
                up += u8::from(link.status.state.is_alive());
                init |= link.status.state == LinkState::Init;
            }
            let new = if up > 0 {
                PeerState::Reachable
            } else if init {
                PeerState::Unknown
            } else {
                PeerState::Unreachable
            };
            self.peers[i].links_up = up;
            let old = self.peers[i].state;
            if new != old {
                self.peers[i].state = new;
                self.push_event(Event::Peer { peer: id, from: old, to: new });
            }
        }
    }
}

/// The time since which the link is proven alive in both directions, if ever.
fn alive_since(link: &Link) -> Option<Micros> {
    match (link.heard_at, link.heard_us_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

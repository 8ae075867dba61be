//! Scenario tests for the failure detector: two members on a virtual clock, with a wire that
//! can delay, cut one or both directions, and replay.

use super::*;

const A: u8 = 1;
const B: u8 = 2;
const LINK: u8 = 7;

fn timing() -> Timing {
    Timing { interval_ms: 100, warn_ms: 300, dead_ms: 600, initdead_ms: 2000 }
}

fn member(me: u8, peer: u8, boot: u64, now: Micros) -> Membership {
    let mut peers = Vec::new();
    peers.push(peer).unwrap();
    let mut links = Vec::new();
    links.push(LinkSpec { id: LINK, peer }).unwrap();
    Membership::new(Params { cluster_id: 9, me, boot, peers, links, timing: timing() }, now)
}

/// Two members joined by one link with a one-way delay; each direction can be cut.
struct Pair {
    now: Micros,
    a: Membership,
    b: Membership,
    delay_us: u64,
    cut_ab: bool,
    cut_ba: bool,
    /// (deliver_at, to_b, header)
    in_flight: std::vec::Vec<(Micros, bool, Header)>,
    recorded_ab: std::vec::Vec<Header>,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            now: Micros(0),
            a: member(A, B, 1, Micros(0)),
            b: member(B, A, 1, Micros(0)),
            delay_us: 500,
            cut_ab: false,
            cut_ba: false,
            in_flight: std::vec::Vec::new(),
            recorded_ab: std::vec::Vec::new(),
        }
    }

    /// Advance the virtual clock to `until`, jumping from deadline to deadline.
    fn run_until(&mut self, until: Micros) {
        loop {
            let next_delivery = self.in_flight.iter().map(|f| f.0).min().unwrap_or(Micros::MAX);
            let next = self.a.poll_timeout().min(self.b.poll_timeout()).min(next_delivery);
            if next > until {
                self.now = until;
                self.a.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
                return;
            }
            self.now = next.max(self.now);
            let now = self.now;
            let (due, rest): (std::vec::Vec<_>, std::vec::Vec<_>) =
                self.in_flight.drain(..).partition(|f| f.0 <= now);
            self.in_flight = rest;
            for (_, to_b, header) in due {
                let target = if to_b { &mut self.b } else { &mut self.a };
                let _ = target.handle_frame(now, Some(0), &header);
            }
            self.a.handle_timeout(now);
            self.b.handle_timeout(now);
            while let Some(tx) = self.a.poll_transmit(now) {
                self.recorded_ab.push(tx.header);
                if !self.cut_ab {
                    self.in_flight.push((now.plus_us(self.delay_us), true, tx.header));
                }
            }
            while let Some(tx) = self.b.poll_transmit(now) {
                if !self.cut_ba {
                    self.in_flight.push((now.plus_us(self.delay_us), false, tx.header));
                }
            }
        }
    }

    fn state_a(&self) -> LinkState {
        self.a.link(0).unwrap().state
    }
    fn state_b(&self) -> LinkState {
        self.b.link(0).unwrap().state
    }

    /// Run in 1 ms steps until `cond` holds; returns the time it first held.
    fn time_until(&mut self, limit: Micros, cond: impl Fn(&Pair) -> bool) -> Option<Micros> {
        while self.now < limit {
            let step = self.now.plus_ms(1);
            self.run_until(step);
            if cond(self) {
                return Some(self.now);
            }
        }
        None
    }
}

#[test]
fn link_comes_up_and_peer_becomes_reachable() {
    let mut p = Pair::new();
    p.run_until(Micros::from_ms(350));
    assert_eq!(p.state_a(), LinkState::Up);
    assert_eq!(p.state_b(), LinkState::Up);
    assert_eq!(p.a.peer(B).unwrap().state, PeerState::Reachable);
    assert_eq!(p.b.peer(A).unwrap().state, PeerState::Reachable);
    assert_eq!(p.a.reaches().as_slice(), &[B]);
    let events: std::vec::Vec<_> = std::iter::from_fn(|| p.a.poll_event()).collect();
    assert!(events.contains(&Event::Link { id: LINK, peer: B, from: LinkState::Init, to: LinkState::Up }));
    assert!(events.contains(&Event::Peer { peer: B, from: PeerState::Unknown, to: PeerState::Reachable }));
}

#[test]
fn full_cut_is_declared_after_dead_ms_and_not_before() {
    let mut p = Pair::new();
    p.run_until(Micros::from_ms(1000));
    assert_eq!(p.state_a(), LinkState::Up);
    let cut_at = p.now;
    p.cut_ab = true;
    p.cut_ba = true;
    let warn_at = p.time_until(Micros::from_ms(5000), |p| p.state_a() == LinkState::Warn).unwrap();
    let down_at = p.time_until(Micros::from_ms(5000), |p| p.state_a() == LinkState::Down).unwrap();
    let warn_ms = warn_at.since_us(cut_at) / 1000;
    let down_ms = down_at.since_us(cut_at) / 1000;
    // The last proof is at most one interval (plus the wire delay) older than the cut.
    assert!((200..=301).contains(&warn_ms), "warn after {warn_ms} ms");
    assert!((500..=601).contains(&down_ms), "down after {down_ms} ms");
    assert_eq!(p.a.peer(B).unwrap().state, PeerState::Unreachable);
    assert_eq!(p.b.peer(A).unwrap().state, PeerState::Unreachable);
    // Healing brings it back.
    p.cut_ab = false;
    p.cut_ba = false;
    let up_at =
        p.time_until(Micros::from_ms(8000), |p| p.state_a() == LinkState::Up && p.state_b() == LinkState::Up);
    assert!(up_at.unwrap().since_us(down_at) <= 300_000);
    assert_eq!(p.a.peer(B).unwrap().state, PeerState::Reachable);
}

#[test]
fn one_way_cut_takes_the_link_down_on_both_sides() {
    let mut p = Pair::new();
    p.run_until(Micros::from_ms(1000));
    p.cut_ab = true; // A's frames no longer reach B; B's still reach A.
    let limit = Micros::from_ms(3000);
    p.time_until(limit, |p| p.state_a() == LinkState::Down && p.state_b() == LinkState::Down)
        .expect("both sides down");
    // The side whose frames are lost learns it from the acknowledgements that stop advancing:
    // at most one interval later than the side that hears nothing.
    assert!(p.now.since_us(Micros::from_ms(1000)) <= 703_000, "both down after {}", p.now);
    // A kept receiving B's frames the whole time: the frames count, the link does not.
    let before = p.a.link(0).unwrap().counters.frames_in;
    p.run_until(Micros::from_ms(3500));
    assert!(p.a.link(0).unwrap().counters.frames_in > before);
    assert_eq!(p.state_a(), LinkState::Down);
}

#[test]
fn replayed_and_old_boot_frames_are_dropped() {
    let mut p = Pair::new();
    p.run_until(Micros::from_ms(1000));
    let old = p.recorded_ab[3];
    let now = p.now;
    assert_eq!(p.b.handle_frame(now, Some(0), &old), Verdict::Replay);
    assert_eq!(p.b.link(0).unwrap().counters.replays, 1);
    // A frame from an older boot of A is a replay too, whatever its sequence number.
    let mut older_boot = old;
    older_boot.boot = 0;
    older_boot.seq = u64::MAX;
    assert_eq!(p.b.handle_frame(now, Some(0), &older_boot), Verdict::Replay);
    // A frame on a link id B does not have with A is counted, not used.
    let mut wrong_link = *p.recorded_ab.last().unwrap();
    wrong_link.link = 99;
    wrong_link.seq += 100;
    assert_eq!(p.b.handle_frame(now, Some(0), &wrong_link), Verdict::UnknownLink);
    assert_eq!(p.b.link(0).unwrap().counters.unknown_link, 1);
    assert_eq!(p.state_b(), LinkState::Up);
}

#[test]
fn replay_of_recorded_frames_cannot_keep_a_dead_link_alive() {
    let mut p = Pair::new();
    p.run_until(Micros::from_ms(1000));
    p.cut_ab = true;
    p.cut_ba = true;
    // An attacker replays A's recorded frames to B every 50 ms: all rejected.
    let recorded = p.recorded_ab.clone();
    for header in recorded.iter().cycle().take(40) {
        let t = p.now.plus_ms(50);
        p.run_until(t);
        let now = p.now;
        assert_eq!(p.b.handle_frame(now, Some(0), header), Verdict::Replay);
    }
    assert_eq!(p.state_b(), LinkState::Down);
}

#[test]
fn peer_restart_with_higher_boot_is_accepted_and_acks_of_an_old_boot_do_not_count() {
    let mut p = Pair::new();
    p.run_until(Micros::from_ms(1000));
    // A restarts with boot 2.
    p.a = member(A, B, 2, p.now);
    p.in_flight.clear();
    let t = p.now.plus_ms(400);
    p.run_until(t);
    assert_eq!(p.state_b(), LinkState::Up);
    assert_eq!(p.state_a(), LinkState::Up);
    // A frame claiming to acknowledge A's boot 1 does not prove anything to A's boot 2.
    let mut a3 = member(A, B, 3, p.now);
    let now = p.now;
    let header = Header {
        cluster_id: 9,
        sender: B,
        link: LINK,
        boot: 1,
        seq: 10_000,
        ack_boot: 2,
        ack_seq: 1,
        ack_delay_us: 0,
    };
    assert_eq!(a3.handle_frame(now, Some(0), &header), Verdict::Accepted);
    assert_eq!(a3.link(0).unwrap().state, LinkState::Init);
}

#[test]
fn initdead_holds_the_verdict_then_declares_unreachable() {
    let mut lone = member(A, B, 1, Micros(0));
    lone.handle_timeout(Micros::from_ms(1999));
    assert_eq!(lone.link(0).unwrap().state, LinkState::Init);
    assert_eq!(lone.peer(B).unwrap().state, PeerState::Unknown);
    assert!(lone.poll_timeout() <= Micros::from_ms(2001));
    lone.handle_timeout(Micros::from_ms(2001));
    assert_eq!(lone.link(0).unwrap().state, LinkState::Down);
    assert_eq!(lone.peer(B).unwrap().state, PeerState::Unreachable);
}

#[test]
fn latency_is_half_the_round_trip_without_the_peer_hold_time() {
    let mut p = Pair::new();
    p.delay_us = 5_000;
    p.run_until(Micros::from_ms(2000));
    let l = p.a.link(0).unwrap();
    assert_eq!(l.latency_us, Some(5_000), "{l:?}");
    assert_eq!(l.jitter_us, Some(0));
}

#[test]
fn one_frame_per_link_per_interval_and_no_burst_after_a_stall() {
    let mut m = member(A, B, 1, Micros(0));
    m.handle_timeout(Micros(0));
    assert!(m.poll_transmit(Micros(0)).is_some());
    assert!(m.poll_transmit(Micros(0)).is_none());
    // A 5 s stall: one frame, then the rhythm resumes from now.
    let late = Micros::from_ms(5000);
    m.handle_timeout(late);
    let tx = m.poll_transmit(late).unwrap();
    assert_eq!(tx.header.seq, 2);
    assert!(m.poll_transmit(late).is_none());
    assert_eq!(m.poll_timeout(), late.plus_ms(100).min(m.poll_timeout()));
}

/// Member A with one link to each of B (link 7) and C (link 8); both links up at 1 ms.
fn star_after_first_exchange() -> Membership {
    const C: u8 = 3;
    let mut peers = Vec::new();
    peers.push(B).unwrap();
    peers.push(C).unwrap();
    let mut links = Vec::new();
    links.push(LinkSpec { id: LINK, peer: B }).unwrap();
    links.push(LinkSpec { id: LINK + 1, peer: C }).unwrap();
    let mut a =
        Membership::new(Params { cluster_id: 9, me: A, boot: 1, peers, links, timing: timing() }, Micros(0));
    a.handle_timeout(Micros(0));
    while a.poll_transmit(Micros(0)).is_some() {}
    for (sender, link) in [(B, LINK), (C, LINK + 1)] {
        let first = peer_frame(sender, link, 1, 0);
        assert_eq!(a.handle_frame(Micros::from_ms(1), None, &first), Verdict::Accepted);
    }
    a.handle_timeout(Micros::from_ms(1));
    assert!(a.links().all(|l| l.state == LinkState::Up));
    while a.poll_event().is_some() {}
    a
}

/// No event of `m` took a link down or declared a peer unreachable.
fn assert_no_down_or_unreachable(m: &mut Membership) {
    while let Some(e) = m.poll_event() {
        assert!(
            !matches!(
                e,
                Event::Peer { to: PeerState::Unreachable, .. } | Event::Link { to: LinkState::Down, .. }
            ),
            "{e:?}"
        );
    }
}

/// A heartbeat from `sender` acknowledging A's first frame, held `ack_delay_us` before sending.
fn peer_frame(sender: u8, link: u8, seq: u64, ack_delay_us: u32) -> Header {
    Header { cluster_id: 9, sender, link, boot: 1, seq, ack_boot: 1, ack_seq: 1, ack_delay_us }
}

#[test]
fn after_a_stall_a_frame_does_not_judge_links_whose_frames_are_still_queued() {
    let mut a = star_after_first_exchange();
    // A's loop stalls from 1 ms to 650 ms (beyond dead_ms 600 since both proofs). B and C went
    // on sending; their frames of 600 ms wait in A's sockets and are read one after the other.
    let now = Micros::from_ms(650);
    assert_eq!(a.handle_frame(now, None, &peer_frame(B, LINK, 7, 599_500)), Verdict::Accepted);
    assert_ne!(a.link(1).unwrap().state, LinkState::Down, "C's link judged before C's queued frame was read");
    assert_eq!(a.handle_frame(now, None, &peer_frame(3, LINK + 1, 7, 599_500)), Verdict::Accepted);
    a.handle_timeout(now);
    assert!(a.links().all(|l| l.state.is_alive()), "{:?}", a.links().collect::<std::vec::Vec<_>>());
    assert_no_down_or_unreachable(&mut a);
}

#[test]
fn after_a_stall_a_link_whose_peer_said_nothing_goes_down_at_the_timeout() {
    let mut a = star_after_first_exchange();
    let now = Micros::from_ms(650);
    // Only B's frame was waiting: C was silent all along.
    assert_eq!(a.handle_frame(now, None, &peer_frame(B, LINK, 7, 599_500)), Verdict::Accepted);
    a.handle_timeout(now);
    assert!(a.link(0).unwrap().state.is_alive());
    assert_eq!(a.link(1).unwrap().state, LinkState::Down);
    assert_eq!(a.peer(3).unwrap().state, PeerState::Unreachable);
}

#[test]
fn after_a_stall_an_old_queued_frame_does_not_take_its_own_link_down() {
    let mut a = star_after_first_exchange();
    // A's loop stalls from 1 ms to 1300 ms. B's frames wait in A's socket: the oldest was sent
    // right after B heard A's first frame (held 0.1 ms), the newest just before A reads them.
    let now = Micros::from_ms(1300);
    // Read first: its acknowledgement makes "heard us" look 650 ms old, beyond dead_ms (600).
    assert_eq!(a.handle_frame(now, None, &peer_frame(B, LINK, 2, 100)), Verdict::Accepted);
    assert_ne!(a.link(0).unwrap().state, LinkState::Down, "a frame took its own link down");
    assert_eq!(a.handle_frame(now, None, &peer_frame(B, LINK, 3, 1_299_000)), Verdict::Accepted);
    assert_eq!(a.handle_frame(now, None, &peer_frame(3, LINK + 1, 2, 1_299_000)), Verdict::Accepted);
    a.handle_timeout(now);
    assert!(a.links().all(|l| l.state == LinkState::Up), "{:?}", a.links().collect::<std::vec::Vec<_>>());
    assert_no_down_or_unreachable(&mut a);
}

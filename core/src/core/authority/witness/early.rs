//! Early grants: the witness's durable store of a failover's grant overlapped with the fence
//! of the lost holder, and the one place where any grant becomes what the frames carry.
//!
//! Owns storing the grant that will follow the lost holder's release while its fence runs (the
//! record marked with the node it waits for, [`Stored::pending_fence`]), announcing it only once
//! that node is released (W1), and making a stored grant the announced one. Whom to grant and
//! when a node is released are the witness's rules (`super`); the safety argument is in
//! `docs/design.md`, "Authority", "Early grant". It does no I/O.

#![forbid(unsafe_code)]

use super::*;

/// An early grant (see [`Stored::pending_fence`]): stored, or being stored, while the holder it
/// replaces is being fenced; announced only once that holder is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Early {
    pub(super) grant: Stored,
    /// Its store completed.
    pub(super) durable: bool,
}

impl Witness {
    /// `stored` is now what the frames carry (stored, and every node that may have run under
    /// an older generation released).
    pub(super) fn make_durable(&mut self, stored: Stored, notice: bool) {
        assert_eq!(stored.pending_fence, 0, "an early grant is announced only without its mark");
        let previous = self.durable;
        // The generation is a fencing token: it never goes back.
        assert!(stored.generation >= previous.generation, "generation {previous:?} -> {stored:?}");
        self.durable = stored;
        // An early grant at or below the announced generation is overtaken: never announced.
        if self.early.is_some_and(|e| e.grant.generation <= stored.generation) {
            self.early = None;
        }
        if self.phase == Phase::Startup {
            self.phase = Phase::Steady;
        }
        if notice
            && stored.holder != 0
            && (stored.holder != previous.holder || stored.generation != previous.generation)
            && stored.generation > previous.generation
        {
            self.notices.push(Notice::Granted { node: stored.holder, generation: stored.generation });
        }
        if let Some(node) = self.power_on_after_persist.take() {
            let _ = self.push_action(Action::PowerOn(node));
        }
    }

    /// Grant `to` (W1: every node that may have run is released): announce the early grant if
    /// it names `to` and is durable, else store a new grant (announced once stored).
    pub(super) fn grant(&mut self, to: u8) {
        if let Some(p) = self.persisting {
            // Only an early grant's store and a rewrite let decisions run meanwhile: the grant
            // waits for it (its completion evaluates again).
            assert!(!self.storing_grant(), "a grant while {p:?} is being stored");
            return;
        }
        let generation = self.durable.generation.checked_add(1).expect("generation overflow");
        assert!(self.cfg.nodes.contains(&to), "a grant names a node");
        let early = self.early.take();
        self.move_to = None;
        for n in self.nodes.iter_mut() {
            n.lost_since = None;
            if n.fenced_off && self.cfg.power_on_after_fence && !n.power_on_sent {
                self.power_on_after_persist = Some(n.id);
                n.power_on_sent = true;
            }
        }
        self.phase = Phase::Steady;
        match early {
            Some(e) if e.durable && e.grant.holder == to => {
                // Its store overlapped the release of the holder it replaces: announced now;
                // then the record loses its mark (not waited for).
                assert_eq!((e.grant.generation, e.grant.pending_fence), (generation, self.durable.holder));
                self.make_durable(Stored { pending_fence: 0, ..e.grant }, true);
                self.rewrite = true;
            }
            _ => {
                self.rewrite = false;
                // A new grant. An early grant for another node, or not durable, is written
                // over: it was never announced, and its generation is this one.
                let stored = Stored::announced(generation, to);
                self.persisting = Some(stored);
                self.push_action(Action::Persist(stored));
            }
        }
    }

    /// While the lost holder `h` is being fenced, store the grant that will follow its release
    /// (an early grant, marked as waiting for it), so that the store and the fence overlap. It
    /// is announced only once `h` is released (`grant`); until then no frame carries it.
    pub(super) fn store_early(&mut self, h: u8, view: &View) {
        // Only while the first power-off is in flight: after a failed attempt the release comes
        // from a retry or the watchdog deadline, seconds away, and the store is not worth a mark.
        let first_attempt =
            self.fencer.target() == Some(h) && self.fencer.in_flight() && self.fencer.attempts() == 1;
        if self.persisting.is_some()
            || self.early.is_some()
            || !first_attempt
            || self.node(h).lost_since.is_none()
        {
            return;
        }
        let Some(to) = self.best_candidate(view).filter(|&t| t != h) else { return };
        let generation = self.durable.generation.checked_add(1).expect("generation overflow");
        let grant = Stored { generation, holder: to, pending_fence: h };
        assert!(grant.is_valid());
        self.early = Some(Early { grant, durable: false });
        self.rewrite = false;
        self.persisting = Some(grant);
        self.push_action(Action::Persist(grant));
    }

    /// The early grant waiting for `node`'s release is void: `node` was heard running again, or
    /// its first power-off failed (the grant then waits for the release and is stored after it,
    /// as any grant). It was never announced; its mark is written over.
    pub(super) fn drop_early(&mut self, node: u8) {
        if self.early.is_some_and(|e| e.grant.pending_fence == node) {
            self.early = None;
            self.rewrite = true;
        }
    }

    /// A grant or an adoption is being stored (not an early grant, not the rewrite of what is
    /// announced): nothing is decided, and the holder is not told to run, until it is durable.
    pub(super) fn storing_grant(&self) -> bool {
        self.persisting.is_some_and(|p| p.pending_fence == 0 && p != self.durable)
    }

    /// Write what is announced over a record that still has an early grant's mark, once no
    /// other store is under way and no early grant is live. Not waited for: a witness that
    /// stops before it is durable finds the mark, and takes nobody as the holder.
    pub(super) fn write_announced(&mut self) {
        if self.rewrite && self.persisting.is_none() && self.early.is_none() {
            self.rewrite = false;
            self.persisting = Some(self.durable);
            self.push_action(Action::Persist(self.durable));
        }
    }
}

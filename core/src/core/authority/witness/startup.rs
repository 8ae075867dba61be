//! The cold start (W4): the witness waits for both nodes (or `initdead_ms`), and adopts the
//! highest generation a node reports before any other decision.
//!
//! Owns when the start-up phase ends and the adoption of a generation higher than the stored
//! one (after a lost state, or from a node that was out of reach at the cold start and knew
//! more). What the witness decides once steady is `super`'s; the rule is in `docs/design.md`,
//! "Authority", W4. It does no I/O.

#![forbid(unsafe_code)]

use super::*;

impl Witness {
    /// W4: wait for the nodes (or `initdead`), adopt the highest generation heard.
    pub(super) fn startup(&mut self, now: Micros, view: &View) {
        let known = |w: &Witness, id: u8| view.reaches(id) && w.node(id).report.is_some();
        let all_known = self.cfg.nodes.iter().all(|&id| known(self, id));
        let waited = now.since_us(self.started_at) > self.cfg.timing.initdead_ms * 1000;
        if !all_known && (self.cfg.wait_for_all || !waited) {
            return;
        }
        if self.adopt() {
            return;
        }
        self.phase = Phase::Steady;
        self.decide(now, view);
    }

    /// W4: a node reports a generation higher than ours (we lost our state, or adopted at
    /// cold start from the only node we heard while the other, which knew more, was out of
    /// reach): store it, with the node that runs under it as the holder (none if none does),
    /// before any other decision. Then the next grant is above every generation a node knows.
    /// Returns whether a store was started.
    pub(super) fn adopt(&mut self) -> bool {
        let mut heard = 0;
        let mut running_at: Option<(u8, u64)> = None;
        for id in self.cfg.nodes {
            if let Some(r) = self.node(id).report.as_ref() {
                heard = heard.max(r.max_seen).max(r.acting);
                if !r.resources.is_stopped() && running_at.is_none_or(|(_, g)| r.acting > g) {
                    running_at = Some((id, r.acting));
                }
            }
        }
        if heard <= self.durable.generation || mutated(Mutation::NoGenerationAdoption) {
            return false;
        }
        if self.persisting.is_some() {
            // An early grant's store or a rewrite: adopt once it is durable.
            return true;
        }
        self.rewrite = false;
        let holder = match running_at {
            Some((id, g)) if g == heard => id,
            _ => 0,
        };
        self.notices.push(Notice::GenerationAdopted { generation: heard });
        let stored = Stored::announced(heard, holder);
        self.persisting = Some(stored);
        self.push_action(Action::Persist(stored));
        true
    }
}

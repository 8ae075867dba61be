//! What the loop reports and writes down: engine events through the fan-out (log line,
//! journal record, notification), the array's events, journal records queued for the durable
//! writer, the writer's results (a stored generation goes to the engine only once on disk),
//! and the notifier's store-then-send order.
//!
//! Owns the glue between the loop and those outputs; the wording is `shell::words` and
//! `shell::fanout`, the writing `shell::durable`, the notifier `shell::notify`.

#![forbid(unsafe_code)]

use super::durable::{Done, StateWrite};
use super::{fanout, wall_clock_ms, words, Agent, LAST_EVENTS};
use crate::core::authority::Notice;
use crate::core::engine::Event;
use crate::journal::{Event as JournalEvent, Stamp};
use crate::time::Micros;

impl Agent {
    /// Journal an event. It is queued for the durable writer in order with the state writes
    /// (a generation is never stored ahead of the records queued before it); the loop goes on
    /// at once. A journal that cannot keep up stops proving itself to the watchdog feed policy.
    pub(super) fn journal(&mut self, event: JournalEvent) {
        let now = self.now();
        self.durable.record(now, Stamp { mono: now, wall_ms: wall_clock_ms() }, event);
    }

    /// Results of the durable writer: a stored generation goes to the core only now.
    pub(super) fn collect_durable(&mut self, now: Micros) {
        for done in self.durable.poll(now) {
            self.durable_done(now, done);
        }
    }

    pub(super) fn durable_done(&mut self, now: Micros, done: Done) {
        match done {
            Done::Record(stamp, event, Ok(seq)) => {
                // The status's last events, kept here: a status request never reads the disk.
                if self.last_events.len() == LAST_EVENTS {
                    self.last_events.pop_front();
                }
                self.last_events.push_back(crate::journal::Record { seq, stamp, event }.to_string());
            }
            Done::Record(_, event, Err(e)) => log::error!("journal: cannot append ({e}): {event}"),
            Done::State(StateWrite::Stored(stored), Ok(())) => {
                log::info!(
                    "generation {} holder {} stored durably{}",
                    stored.generation,
                    self.member_name(stored.holder),
                    if stored.pending_fence == 0 {
                        String::new()
                    } else {
                        format!(" (announced once {} is fenced)", self.member_name(stored.pending_fence))
                    }
                );
                self.engine.handle_persisted(now, stored);
            }
            Done::State(StateWrite::Stored(stored), Err(e)) => {
                // Never announce what is not durable; retrying is the engine's job after a
                // restart, and a crash here is safer than a lie.
                log::error!("cannot store generation {}: {e}", stored.generation);
                panic!("the authority state cannot be written to {}: {e}", self.cfg.state_dir.display());
            }
            Done::State(StateWrite::Seen(generation), Ok(())) => {
                self.engine.handle_seen_persisted(now, generation)
            }
            Done::State(StateWrite::Seen(generation), Err(e)) => {
                // Resources never start under a generation that is not stored.
                log::error!("cannot store generation {generation} in {}: {e}", self.cfg.state_dir.display());
                self.engine.handle_seen_failed(now, generation);
            }
            Done::State(StateWrite::SnmpQueue(_), Ok(())) => {}
            Done::State(StateWrite::SnmpQueue(_), Err(e)) => log::error!(
                "snmp: cannot store the queue in {} ({e}); pending informs would not survive a restart",
                self.cfg.state_dir.display()
            ),
            Done::State(StateWrite::Standby(_), Ok(())) => {}
            Done::State(StateWrite::Standby(names), Err(e)) => {
                log::error!("cannot store the standby nodes {names:?} ({e}); a restart would forget them")
            }
            Done::State(StateWrite::Maintenance(_), Ok(())) => {}
            Done::State(StateWrite::Maintenance(on), Err(e)) => {
                log::error!("cannot store maintenance mode {on} ({e}); a restart would forget it")
            }
        }
    }

    pub(super) fn flush_snmp(&mut self, now: Micros) {
        if let Some(s) = self.snmp.as_mut() {
            let generation = match (self.engine.witness(), self.engine.node()) {
                (Some(w), _) => w.durable().generation,
                (_, Some((n, _))) => n.acting(),
                _ => 0,
            };
            s.set_generation(generation);
            s.flush(now, &mut self.durable);
        }
    }

    pub(super) fn poll_array(&mut self, now: Micros) {
        let Some(a) = self.array.as_mut() else { return };
        let events = a.poll(now);
        for e in events {
            let n = crate::core::array::to_notification(&e);
            self.fan_out(now, fanout::worded(&words::array_event(&e.label()), Some(n)));
        }
    }

    #[inline(never)] // kept out of the loop's body: smaller (the binary's size budget)
    pub(super) fn log_events(&mut self) {
        let now = self.now();
        while let Some(event) = self.engine.poll_event() {
            let mut moving = self.moving_from.take();
            let effects = fanout::event(&event, &self.cfg.me().name, &|id| self.member_name(id), &mut moving);
            self.moving_from = moving;
            self.fan_out(now, effects);
            if let Event::Authority(notice) = event {
                self.note_fence(notice);
                if let Notice::Granted { .. } = notice {
                    self.granted_at_wall_ms = Some(wall_clock_ms());
                }
                if let (Notice::Maintenance { on }, Some(_)) = (notice, self.engine.witness()) {
                    // Kept across a restart of the witness (a reboot must not end it).
                    if let Err(e) = self.durable.state(now, StateWrite::Maintenance(on)) {
                        log::error!("cannot store maintenance mode ({e}); a restart would forget it");
                    }
                }
            }
        }
    }

    /// Carry out what [`fanout`] made of an event: the log line, the journal record, the
    /// notification with the same line as its text.
    pub(super) fn fan_out(&mut self, now: Micros, effects: fanout::Effects) {
        log::log!(effects.level, "{}", effects.line);
        self.journal(effects.journal);
        if let (Some(n), Some(s)) = (effects.notification, self.snmp.as_mut()) {
            s.notify_worded(now, n, &effects.line);
        }
    }
}

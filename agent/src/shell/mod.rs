//! The shell: one poll loop that owns the clock, every file descriptor, the signals, the
//! control socket and the durable boot counter, and feeds the sans-I/O core.
//!
//! Each iteration: read what arrived (links, control clients, signal pipes), pass it to the
//! core with the monotonic time, carry out what the core asks (send frames), log its events,
//! then sleep in `poll` until the core's next deadline. Only the monotonic clock is read, so
//! wall-clock jumps do not matter. A wake-up later than planned by `stall_warn_ms` is counted
//! and logged as a scheduler stall, and so is an iteration that works that long without
//! sleeping (`loop busy`). The shell decides nothing about liveness: that is
//! `core::membership`.
//!
//! This file holds the start-up, the loop and the orderly exit; the loop's other concerns are
//! rooms of their own, each an `impl Agent` or a type the agent holds: `transports` (links'
//! descriptors, send and receive), `poll` (the one wait, the signal pipes), `relay` (the relay
//! worker's queue, results and health checks), `actions` (the node's OCF actions), `fanout`
//! (pure: an engine event to its log line, journal record and notification) with `records`
//! (carrying those out, the journal and the durable writer's results), `control_server` (the
//! control socket and the operator's commands), `status` (the status document) and `reload`
//! (what may change while running).

#![deny(unsafe_code)]

mod actions;
pub mod alloc_count;
pub mod array;
pub mod authority;
pub mod builtin_steps;
pub mod control_server;
pub mod durable;
pub mod fanout;
pub mod fence_service;
pub mod filesystem;
pub mod ipaddr;
pub mod logger;
pub mod notify;
pub mod ocf;
pub mod pgsql;
mod poll;
pub mod procs;
mod records;
pub mod relay;
mod reload;
pub mod sd_notify;
pub mod snmp_get;
pub mod state;
mod status;
/// The process-level calls (`crate::sys`), at their old path.
pub use crate::sys;
pub mod transports;
pub mod words;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::{self, Config, Role};
use crate::core::engine::{Action, Engine};
use crate::core::membership::{LinkSpec, Params};
use crate::devices::watchdog::HealthStamps;
use crate::journal::{Event as JournalEvent, Journal, Kind as JournalKind, Stamp};
use crate::snmp::mib::Notification;
use crate::time::Micros;
use crate::wire::ClusterKey;
use control_server::ControlServer;
use durable::{DurableWriter, StateWrite};
use poll::Signals;
use status::LastFence;
use transports::Transports;

/// Events shown by `status` (from the journal).
const LAST_EVENTS: usize = 8;
/// Bound on one poll sleep, so that reopen timers and control timeouts are checked.
const MAX_SLEEP_MS: u64 = 1000;
/// When more than this passed since `poll` returned, the loop reads every link, not only those
/// `poll` found readable, before the timers judge them: frames that arrived while the iteration
/// stood still (a stall after the wake-up, a slow step) must count, or the loop takes its own
/// stall for its peers' silence.
const RECEIVE_AGAIN_AFTER_US: u64 = 1000;

/// Why the agent stopped.
#[derive(Debug)]
pub enum Exit {
    /// SIGTERM or SIGINT: orderly stop.
    Signal,
}

#[derive(Default)]
struct Stalls {
    count: u64,
    max_ms: u64,
    /// The latest the loop ever woke after its planned instant, whether or not that counted
    /// as a stall: the scheduling jitter this machine gives the agent.
    late_max_us: u64,
    /// The longest the loop ever worked between two sleeps: time it spent in its own work or
    /// blocked in a system call, when it could not read frames or send heartbeats.
    busy_max_us: u64,
    /// Iterations that worked longer than `stall_warn_ms` without sleeping.
    busy_count: u64,
}

/// The running agent.
pub struct Agent {
    config_path: PathBuf,
    cfg: Config,
    key: ClusterKey,
    engine: Engine,
    runner: ocf::Runner,
    relay: relay::Relay,
    feeder: Option<authority::Feeder>,
    /// When the watchdog is to be fed next (rule N3).
    feed_due: Micros,
    /// SIGTERM/SIGINT arrived: the agent leaves once the core says it may
    /// ([`Engine::may_exit`]; a node holding the service hands it over first).
    stopping: bool,
    /// systemd's notification socket (READY=1, STOPPING=1), if run by systemd.
    service_manager: sd_notify::Notifier,
    /// READY=1 was sent (after the first loop iteration opened the links).
    ready_notified: bool,
    snmp: Option<notify::Snmp>,
    /// The read-only SNMP responder (`[snmp] listen`).
    snmp_get: Option<snmp_get::SnmpGet>,
    fence_service: Option<fence_service::FenceService>,
    array: Option<array::Array>,
    /// The journal and the state files, written by their own thread (the loop never waits
    /// for a disk).
    durable: DurableWriter,
    /// Whether the journal opened (else `last_events` is null in status).
    journaling: bool,
    /// The journal's last [`LAST_EVENTS`] records as `status` shows them: read once at start,
    /// then added as the durable writer confirms each one (the loop never reads the journal).
    last_events: std::collections::VecDeque<String>,
    /// For naming notifications: the node a failover or switchover moves the service from.
    moving_from: fanout::Moving,
    /// Witness: wall-clock time of the latest grant this agent made (status: "since when").
    granted_at_wall_ms: Option<u64>,
    /// Witness: the latest fence outcome since this agent started (status: `last_fence`).
    last_fence: Option<LastFence>,
    transports: Transports,
    origin: Instant,
    control: ControlServer,
    signals: Signals,
    stalls: Stalls,
    reloads: u64,
    reloads_refused: u64,
    /// Node: the agents' meta-data being read in a helper thread (which advertise validate-all).
    meta_data: Option<ocf::inspect::MetaDataProbe>,
}

fn micros_since(origin: Instant) -> Micros {
    Micros(u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX))
}

fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn wall_clock_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn core_params(cfg: &Config, boot: u64) -> Params {
    let mut peers = heapless::Vec::new();
    for m in cfg.members.iter().filter(|m| m.id != cfg.me) {
        assert!(peers.push(m.id.0).is_ok(), "validated config has two peers");
    }
    let mut links = heapless::Vec::new();
    for l in &cfg.links {
        assert!(links.push(LinkSpec { id: l.id, peer: l.peer.0 }).is_ok(), "validated link count");
    }
    Params { cluster_id: cfg.cluster_id, me: cfg.me.0, boot, peers, links, timing: cfg.timing }
}

impl Agent {
    /// Load everything and open the control socket; links open in the loop (and retry).
    pub fn start(config_path: &Path) -> Result<Agent, String> {
        let cfg = config::load(config_path).map_err(|problems| {
            let mut s = format!("{}: invalid configuration:\n", config_path.display());
            for p in problems {
                s.push_str(&format!("{p}\n"));
            }
            s
        })?;
        logger::init(&cfg.me().name);
        let key = config::load_key(&cfg.key_file).map_err(|p| p.to_string())?;
        sys::single_malloc_arena();
        if cfg.shell.mlockall {
            if let Err(e) = sys::lock_memory() {
                log::warn!("mlockall failed: {e}; continuing without locked memory");
            }
        }
        if cfg.shell.realtime_priority > 0 {
            match sys::set_realtime_priority(cfg.shell.realtime_priority) {
                Ok(()) => log::info!("running with SCHED_FIFO priority {}", cfg.shell.realtime_priority),
                Err(e) => log::warn!("real-time priority {} refused: {e}", cfg.shell.realtime_priority),
            }
        }
        // No log call waits for whatever reads the agent's stderr: a thread writes the lines.
        logger::start_writer().map_err(|e| format!("log writer thread: {e}"))?;
        logger::start_remote(cfg.syslog.as_ref(), &cfg.me().name);
        let boot = state::next_boot(&cfg.state_dir, wall_clock_secs())
            .map_err(|e| format!("boot counter in {}: {e}", cfg.state_dir.display()))?;
        // The watchdog is armed before anything else can hang, and its real timeout is what
        // the node advertises (rule W1's deadline relies on it).
        let feeder = match &cfg.watchdog {
            Some(w) => match authority::Feeder::arm(&w.device, w.timeout_s) {
                Ok(f) => Some(f),
                Err(e) => {
                    log::error!("watchdog {}: {e}; running without a watchdog", w.device.display());
                    None
                }
            },
            None => None,
        };
        let watchdog_ms = feeder.as_ref().map_or(0, |f| f.timeout_ms());
        let origin = Instant::now();
        let mut engine =
            Engine::new(core_params(&cfg, boot), authority::role_config(&cfg, watchdog_ms), Micros::ZERO);
        if engine.witness().is_some() && authority::read_maintenance(&cfg.state_dir) {
            log::warn!("maintenance mode is on (stored): resources are left alone, nothing fails over");
            engine.restore_maintenance(true);
        }
        if engine.witness().is_some() {
            for name in authority::read_standby(&cfg.state_dir) {
                match cfg.members.iter().find(|m| m.name == name && m.role == Role::Node) {
                    Some(m) => {
                        log::warn!("{name} is in standby (stored): it does not take the service until `online {name}`");
                        engine.restore_standby(m.id.0);
                    }
                    None => log::warn!("stored standby of {name:?} ignored: no node of that name"),
                }
            }
        }
        let relay = relay::Relay::start(&cfg).map_err(|e| format!("relay worker: {e}"))?;
        let mut snmp = match notify::Snmp::start(&cfg, boot, Micros::ZERO) {
            Ok(s) => s,
            Err(e) => {
                log::error!("snmp: {e}; running without notifications");
                None
            }
        };
        // The start, and a reset by the watchdog before it: logged and notified now, journaled
        // once the journal is open.
        let mut reset = feeder.as_ref().is_some_and(|f| f.last_reset_by_watchdog());
        if reset && !authority::watchdog_reset_is_news(&cfg.state_dir) {
            log::info!("the watchdog's reset before this boot was reported by an earlier agent of this boot");
            reset = false;
        }
        let mut startup = fanout::startup(&cfg.me().name, boot, reset);
        for e in &mut startup {
            log::log!(e.level, "{}", e.line);
            if let (Some(s), Some(n)) = (snmp.as_mut(), e.notification.take()) {
                s.notify_worded(Micros::ZERO, n, &e.line);
            }
        }
        let snmp_get = snmp_get::SnmpGet::start(&cfg, boot, Micros::ZERO).unwrap_or_else(|e| {
            log::error!("snmp: {e}; requests are not answered");
            None
        });
        let fence_service = fence_service::FenceService::start(&cfg, Micros::ZERO).unwrap_or_else(|e| {
            log::error!("{e}; fence requests are not answered");
            None
        });
        let journal_dir = cfg.state_dir.join("journal");
        let mut journal = match Journal::open(&journal_dir, Default::default()) {
            Ok((j, report)) => {
                if report.torn_tails_repaired > 0 || report.corrupt_regions > 0 {
                    log::warn!(
                        "journal {}: repaired a torn tail of {} bytes; {} corrupt regions skipped",
                        journal_dir.display(),
                        report.torn_tail_bytes,
                        report.corrupt_regions
                    );
                }
                Some(j)
            }
            Err(e) => {
                log::error!("journal {}: {e}; events are not journaled", journal_dir.display());
                None
            }
        };
        if let Some(j) = journal.as_mut() {
            for e in &startup {
                if let Err(e) = j.append(Stamp { mono: Micros::ZERO, wall_ms: wall_clock_ms() }, &e.journal) {
                    log::error!("journal: {e}");
                }
            }
        }
        let journaling = journal.is_some();
        // Read once, before the loop: from here on the loop keeps them itself.
        let last_events: std::collections::VecDeque<String> = match journaling {
            true => crate::journal::read_last(&journal_dir, LAST_EVENTS)
                .map(|b| b.records.iter().map(|r| r.to_string()).collect())
                .unwrap_or_default(),
            false => std::collections::VecDeque::new(),
        };
        let durable =
            DurableWriter::start(durable::Disk { state_dir: cfg.state_dir.clone(), journal }, journaling)
                .map_err(|e| format!("durable writer thread: {e}"))?;
        let array = match array::Array::start(&cfg, Micros::ZERO) {
            Ok(a) => a,
            Err(e) => {
                log::error!("array console: {e}; the array is not watched");
                None
            }
        };
        let transports = Transports::new(&cfg);
        let control = ControlServer::bind(&cfg.control_socket).map_err(|e| e.to_string())?;
        let signals = Signals::install().map_err(|e| format!("signal handlers: {e}"))?;
        log::info!(
            "started: cluster {} member {} ({}) boot {boot}, {} links on {} transports",
            cfg.cluster,
            cfg.me().name,
            cfg.me().role.as_str(),
            cfg.links.len(),
            transports.len()
        );
        let mut agent = Agent {
            config_path: config_path.to_path_buf(),
            cfg,
            key,
            engine,
            runner: ocf::Runner::new(),
            relay,
            feeder,
            feed_due: Micros::ZERO,
            stopping: false,
            service_manager: sd_notify::Notifier::from_env(),
            ready_notified: false,
            snmp,
            snmp_get,
            fence_service,
            array,
            durable,
            journaling,
            last_events,
            moving_from: None,
            granted_at_wall_ms: None,
            last_fence: None,
            transports,
            origin,
            control,
            signals,
            stalls: Stalls::default(),
            reloads: 0,
            reloads_refused: 0,
            meta_data: None,
        };
        // Starts wait until the agents said whether they have validate-all.
        agent.learn_agents(Micros::ZERO, true);
        Ok(agent)
    }

    fn now(&self) -> Micros {
        micros_since(self.origin)
    }

    fn member_name(&self, id: u8) -> String {
        self.cfg.member(config::MemberId(id)).map_or_else(|| format!("#{id}"), |m| m.name.clone())
    }

    /// Run until SIGTERM/SIGINT.
    pub fn run(&mut self) -> io::Result<Exit> {
        let mut planned_wake = self.now();
        let mut woke_at = planned_wake;
        // The transports `poll` found readable (bit t: transport t).
        let mut readable: u8 = 0;
        loop {
            let now = self.now();
            // Frames first, stamped with the time they are read, then the timers with the same
            // time (membership's call order). Reading here, right before the judgment, rather
            // than after `poll`: whatever held the iteration up in between (the other inputs,
            // a stall) cannot make frames look older than they are, or leave them unread.
            let every_link = now.since_us(woke_at) > RECEIVE_AGAIN_AFTER_US;
            for t in 0..self.transports.len() {
                if every_link || readable & (1 << t) != 0 {
                    self.transports.receive(t, now, &mut self.engine, &self.key, &self.cfg);
                }
            }
            let late_us = now.since_us(planned_wake);
            self.stalls.late_max_us = self.stalls.late_max_us.max(late_us);
            if late_us > self.cfg.shell.stall_warn_ms * 1000 {
                let late_ms = late_us / 1000;
                self.stalls.count += 1;
                self.stalls.max_ms = self.stalls.max_ms.max(late_ms);
                log::warn!("scheduler stall: woke {late_ms} ms late (stall #{})", self.stalls.count);
            }
            self.transports.maintain(now);
            self.collect_results(now);
            self.engine.handle_timeout(now);
            self.transports.send_due(now, &mut self.engine, &self.key, &self.cfg);
            self.carry_out(now);
            self.log_events();
            self.poll_array(now);
            self.flush_snmp(now);
            self.expire_clients(now);
            self.feed_watchdog(now);
            if !self.ready_notified {
                // Links opened (or their retries scheduled) and the stored state restored.
                self.ready_notified = true;
                let status = format!("{} running, role {}", self.cfg.me().name, self.cfg.me().role.as_str());
                self.service_manager.ready(&status);
            }
            if self.stopping && self.engine.may_exit(now) {
                return Ok(self.exit(now));
            }

            let mut deadline = self.engine.poll_timeout().min(now.plus_ms(MAX_SLEEP_MS)).min(self.feed_due);
            if let Some(d) = self.runner.next_deadline() {
                deadline = deadline.min(d);
            }
            if self.meta_data.is_some() {
                deadline = deadline.min(now.plus_ms(ocf::CHILD_POLL_MS));
            }
            if let Some(d) = self.snmp.as_ref().and_then(|s| s.poll_timeout()) {
                deadline = deadline.min(d);
            }
            if let Some(a) = &self.array {
                deadline = deadline.min(a.poll_timeout());
            }
            for d in [self.relay.next_check(now), self.transports.next_retry(), self.control.next_deadline()]
            {
                deadline = deadline.min(d.unwrap_or(Micros::MAX));
            }
            let sleep_us = deadline.since_us(now);
            planned_wake = now.plus_us(sleep_us);
            self.note_busy(woke_at);

            let ready = self.wait(sleep_us)?;
            let now = self.now();
            woke_at = now;
            if ready.stop {
                self.begin_leave(now);
            }
            if ready.relay {
                self.collect_results(now);
            }
            if ready.durable {
                self.collect_durable(now);
            }
            if ready.reload {
                let _ = self.reload(now);
            }
            readable = ready.transports;
            if ready.listener {
                self.accept(now);
            }
            for &c in ready.clients.iter().rev() {
                self.serve_client(c);
            }
            if let Some(s) = self.snmp.as_mut() {
                s.receive(now);
            }
            if ready.snmp_get {
                self.serve_snmp_get(now);
            }
            if ready.fence_service {
                self.serve_fence_service(now);
            }
            // The frames, and what the inputs above changed, are handled at the top of the
            // next iteration, before the loop sleeps again.
        }
    }

    /// SIGTERM or SIGINT: ask the core how this member leaves, and say so (log, journal,
    /// trap, systemd). The loop goes on until [`Engine::may_exit`]: a node that holds the
    /// service stops it and hands it over first. A second signal changes nothing.
    fn begin_leave(&mut self, now: Micros) {
        if self.stopping {
            log::warn!("already stopping: waiting for the resources to stop before exiting");
            return;
        }
        self.stopping = true;
        let leave = self.engine.request_leave(now);
        let how = match leave {
            None => "the nodes keep the service",
            Some(l) => l.as_str(),
        };
        self.service_manager.stopping(&format!("stopping: {how}"));
        let member = self.cfg.me().name.clone();
        let w = words::agent_stopping(&member, how);
        let n = Notification::AgentStopping { member, how: how.to_string() };
        self.fan_out(now, fanout::worded(&w, Some(n)));
    }

    /// The orderly exit, once the core allows it: queued journal records and notifications
    /// reach the disk and the station (bounded waits), the watchdog is closed cleanly.
    fn exit(&mut self, now: Micros) -> Exit {
        if let Some(n) = self.engine.node() {
            let acting = n.0.acting();
            let state = n.1.state().as_str();
            let text = format!("agent exiting: resources {state} (last generation {acting})");
            log::info!("{text}");
            let member = self.cfg.me().name.clone();
            self.journal(JournalEvent::new(JournalKind::Agent, &text).with_member(&member));
        }
        // Queued records and the notifier's store reach the disk before the agent exits
        // (bounded waits); then what the store held is sent. Twice: a store already on its
        // way holds back the one with the stopping notification.
        for _ in 0..2 {
            self.flush_snmp(now);
            for done in self.durable.drain() {
                self.durable_done(now, done);
            }
        }
        self.flush_snmp(now);
        if self.durable.outstanding() > 0 {
            log::error!("journal: {} writes still waited for the disk at exit", self.durable.outstanding());
        }
        // Resources left running (maintenance): the next agent takes them over, and the
        // watchdog keeps its promise until it does.
        let left_running = self.engine.node().filter(|(_, g)| !g.is_stopped()).map(|(n, _)| n.acting());
        if let Some(generation) = left_running.filter(|&g| g > 0) {
            match authority::write_left_running(&self.cfg.state_dir, generation) {
                Ok(()) => log::warn!(
                    "resources left running under generation {generation}: the next agent takes them over"
                ),
                Err(e) => {
                    log::error!("cannot record the resources left running ({e}): the next agent stops them")
                }
            }
        }
        if let Some(f) = self.feeder.take() {
            if left_running.is_some() {
                f.leave_armed();
            } else {
                f.stop();
            }
        }
        Exit::Signal
    }

    /// Account the work since the loop woke at `woke_at`, before it sleeps again.
    fn note_busy(&mut self, woke_at: Micros) {
        let busy_us = self.now().since_us(woke_at);
        self.stalls.busy_max_us = self.stalls.busy_max_us.max(busy_us);
        if busy_us > self.cfg.shell.stall_warn_ms * 1000 {
            self.stalls.busy_count += 1;
            log::warn!("loop busy {} ms without sleeping (#{})", busy_us / 1000, self.stalls.busy_count);
        }
    }

    /// Finished OCF actions and relay commands go back to the engine.
    fn collect_results(&mut self, now: Micros) {
        self.collect_actions(now);
        self.collect_relay(now);
    }

    /// Carry out what the engine decided: durable writes, relay commands, OCF actions.
    fn carry_out(&mut self, now: Micros) {
        // Bounded: each action may lead to new ones (a persisted grant leads to a power-on).
        for _ in 0..64 {
            let Some(action) = self.engine.poll_action() else { return };
            match action {
                Action::Persist(stored) => {
                    let holder = self.member_name(stored.holder);
                    let mut event = JournalEvent::new(JournalKind::Grant, "store generation and holder")
                        .with_field("generation", &stored.generation.to_string())
                        .with_field("holder", &holder);
                    if stored.pending_fence != 0 {
                        // An early grant: announced once this node's fence is confirmed.
                        event = event.with_field("pending_fence", &self.member_name(stored.pending_fence));
                    }
                    self.journal(event);
                    // Answered through collect_durable: handle_persisted once it is on disk.
                    if let Err(e) = self.durable.state(now, StateWrite::Stored(stored)) {
                        panic!("the authority state cannot be written: {e}");
                    }
                }
                Action::PersistSeen(generation) => {
                    if let Err(e) = self.durable.state(now, StateWrite::Seen(generation)) {
                        // Resources never start under a generation that is not stored.
                        log::error!("cannot store generation {generation}: {e}");
                    }
                }
                Action::PowerOff(node) => self.power_off(now, node),
                Action::PowerOn(node) => self.power_on(now, node),
                Action::Resource(req) => self.spawn_action(now, req),
            }
        }
    }

    /// Rule N3: feed only while the core allows it and the loop's health sources are fresh.
    fn feed_watchdog(&mut self, now: Micros) {
        let self_fence = !self.engine.feed_allowed();
        let links_ok = self.transports.serviced_at();
        // The state directory proves itself while the durable writer keeps up with its queue.
        let stamps = HealthStamps {
            core_loop_at: now,
            links_serviced_at: links_ok,
            journal_written_at: self.durable.healthy_at(now),
        };
        if let Some(f) = self.feeder.as_mut() {
            self.feed_due = f.tick(now, &stamps, self_fence);
        } else {
            self.feed_due = Micros::MAX;
        }
    }
}

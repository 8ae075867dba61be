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

#![deny(unsafe_code)] // `sys` alone allows it

pub mod alloc_count;
pub mod array;
pub mod authority;
pub mod durable;
pub mod fence_service;
pub mod ipaddr;
pub mod logger;
pub mod notify;
pub mod ocf;
pub mod sd_notify;
pub mod snmp_get;
pub mod state;
pub mod sys;
pub mod words;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use serde_json::{json, Value};

use crate::config::{self, Config, LinkKind, Role};
use crate::control::{self, Request};
use crate::core::authority::Notice;
use crate::core::engine::{Action, Engine, Event};
use crate::core::membership::{self, LinkSpec, Params, RxError, Verdict};
use crate::core::resources::Validation;
use crate::devices::watchdog::HealthStamps;
use crate::journal::{Event as JournalEvent, Journal, Kind as JournalKind, Stamp};
use crate::links::raw_eth::RawEthernet;
use crate::links::serial::{SerialItem, SerialLink};
use crate::links::udp::UdpLink;
use crate::snmp::mib::Notification;
use crate::time::Micros;
use crate::wire::{self, ClusterKey, DecodeError, SerialError, MAX_FRAME_BYTES};
use durable::{Done, DurableWriter, StateWrite};

/// A transport that failed to open (or went away) is retried this often.
pub const REOPEN_INTERVAL_MS: u64 = 1000;
/// Events shown by `status` (from the journal).
const LAST_EVENTS: usize = 8;
/// Bound on relay commands waiting for the worker.
const MAX_RELAY_QUEUE: usize = 8;
/// Bound on one poll sleep, so that reopen timers and control timeouts are checked.
const MAX_SLEEP_MS: u64 = 1000;
/// When more than this passed since `poll` returned, the loop reads every link, not only those
/// `poll` found readable, before the timers judge them: frames that arrived while the iteration
/// stood still (a stall after the wake-up, a slow step) must count, or the loop takes its own
/// stall for its peers' silence.
const RECEIVE_AGAIN_AFTER_US: u64 = 1000;
const _: () = assert!(config::MAX_LINKS <= 8, "readable transports are a bit mask of a u8");
/// Bound on the descriptors of one `poll`: two signal pipes, the control listener, the relay
/// worker, the durable writer, the control clients, one per transport (at most one per link),
/// the SNMP sockets (notifications, requests), the fence service (its socket and its plug
/// thread's results), the array console and the running resource actions' exit descriptors.
const MAX_POLL_FDS: usize = 5 + control::MAX_CLIENTS + config::MAX_LINKS + 3 + 2 + ocf::MAX_RUNNING_ACTIONS;

/// Why the agent stopped.
#[derive(Debug)]
pub enum Exit {
    /// SIGTERM or SIGINT: orderly stop.
    Signal,
}

enum Medium {
    Serial(SerialLink),
    Udp { local: SocketAddr, broadcast: bool, socket: Option<UdpLink> },
    Ethernet { interface: String, socket: Option<RawEthernet> },
}

struct Transport {
    medium: Medium,
    /// Indices (into the configuration's and the core's link lists) served by this transport.
    links: Vec<usize>,
    retry_at: Option<Micros>,
    /// Last open error, logged once per change.
    last_error: Option<String>,
}

impl Transport {
    fn name(&self) -> String {
        match &self.medium {
            Medium::Serial(s) => format!("serial {}", s.device().display()),
            Medium::Udp { local, .. } => format!("udp {local}"),
            Medium::Ethernet { interface, .. } => format!("ethernet {interface}"),
        }
    }

    fn is_open(&self) -> bool {
        match &self.medium {
            Medium::Serial(s) => s.is_open(),
            Medium::Udp { socket, .. } => socket.is_some(),
            Medium::Ethernet { socket, .. } => socket.is_some(),
        }
    }

    fn open(&mut self) -> io::Result<()> {
        match &mut self.medium {
            Medium::Serial(s) => s.reopen(),
            Medium::Udp { local, broadcast, socket } => {
                *socket = Some(UdpLink::bind(*local, *broadcast)?);
                Ok(())
            }
            Medium::Ethernet { interface, socket } => {
                *socket = Some(RawEthernet::open(interface)?);
                Ok(())
            }
        }
    }

    fn close(&mut self) {
        match &mut self.medium {
            Medium::Serial(s) => s.close(),
            Medium::Udp { socket, .. } => *socket = None,
            Medium::Ethernet { socket, .. } => *socket = None,
        }
    }

    fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        match &self.medium {
            Medium::Serial(s) => s.fd(),
            Medium::Udp { socket, .. } => socket.as_ref().map(|s| s.fd()),
            Medium::Ethernet { socket, .. } => socket.as_ref().map(|s| s.fd()),
        }
    }
}

struct Client {
    stream: UnixStream,
    request: Vec<u8>,
    response: Vec<u8>,
    written: usize,
    deadline: Micros,
    /// The response waits until the durable writer has written everything up to this ticket
    /// (an operator's command is answered only once its journal record is on disk).
    hold_until: u64,
}

struct Signals {
    stop: UnixStream,
    reload: UnixStream,
}

impl Signals {
    fn install() -> io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::low_level::pipe;
        let (stop_read, stop_write) = UnixStream::pair()?;
        let (reload_read, reload_write) = UnixStream::pair()?;
        for s in [&stop_read, &stop_write, &reload_read, &reload_write] {
            s.set_nonblocking(true)?;
        }
        pipe::register(SIGTERM, stop_write.try_clone()?)?;
        pipe::register(SIGINT, stop_write)?;
        pipe::register(SIGHUP, reload_write)?;
        Ok(Signals { stop: stop_read, reload: reload_read })
    }
}

/// Drain a signal pipe; true if any byte was there.
fn drain(stream: &mut UnixStream) -> bool {
    let mut buf = [0u8; 16];
    let mut any = false;
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        any = true;
    }
    any
}

/// The latest fence outcome the core noticed, for `status` (`last_fence`), `status --check`
/// (a failing fence) and `fence --wait` (a confirmation after the command).
#[derive(Clone, Copy, Debug)]
struct LastFence {
    node: u8,
    result: &'static str,
    attempt: u32,
    /// Fence outcomes since the agent started: tells a new outcome from the one before.
    count: u64,
    wall_ms: u64,
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
    relay: authority::RelayWorker,
    feeder: Option<authority::Feeder>,
    /// Health sources of the watchdog feed (rule N3).
    links_serviced_at: Micros,
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
    /// Where the journal is (read for `status`'s last events).
    /// Whether the journal opened (else `last_events` is null in status).
    journaling: bool,
    /// The journal's last [`LAST_EVENTS`] records as `status` shows them: read once at start,
    /// then added as the durable writer confirms each one (the loop never reads the journal).
    last_events: std::collections::VecDeque<String>,
    /// The uid of the last control client accepted (for the journal's operator records).
    last_client_uid: u32,
    /// For naming notifications: the node a failover or switchover moves the service from.
    moving_from: Option<(u8, MoveKind)>,
    /// Witness: wall-clock time of the latest grant this agent made (status: "since when").
    granted_at_wall_ms: Option<u64>,
    /// Witness: the latest fence outcome since this agent started (status: `last_fence`).
    last_fence: Option<LastFence>,
    relay_queue: std::collections::VecDeque<(u8, bool)>,
    /// Health of each relay channel that can be read back.
    relay_health: Vec<(u8, crate::devices::fence::HealthMonitor)>,
    transports: Vec<Transport>,
    /// Link index -> transport index.
    link_transport: Vec<usize>,
    origin: Instant,
    listener: UnixListener,
    clients: Vec<Client>,
    /// Receive buffers reused by every `receive` (no allocation per frame once warm): the
    /// frames' bytes, each frame's (start, length) in them, and the transport's errors.
    rx_bytes: Vec<u8>,
    rx_spans: Vec<(usize, usize)>,
    rx_errors: Vec<RxError>,
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

fn build_transports(cfg: &Config) -> (Vec<Transport>, Vec<usize>) {
    let mut transports: Vec<Transport> = Vec::new();
    let mut link_transport = Vec::new();
    for (index, link) in cfg.links.iter().enumerate() {
        let existing = transports.iter().position(|t| match (&t.medium, &link.kind) {
            (Medium::Udp { local, .. }, LinkKind::Udp { local: l, .. }) => local == l,
            (Medium::Ethernet { interface, .. }, LinkKind::Ethernet { interface: i }) => interface == i,
            _ => false,
        });
        let t = match existing {
            Some(t) => {
                if let (Medium::Udp { broadcast, .. }, LinkKind::Udp { broadcast: b, .. }) =
                    (&mut transports[t].medium, &link.kind)
                {
                    *broadcast |= *b;
                }
                transports[t].links.push(index);
                t
            }
            None => {
                let medium = match &link.kind {
                    LinkKind::Serial { device, baud } => Medium::Serial(SerialLink::new(device, *baud)),
                    LinkKind::Udp { local, broadcast, .. } => {
                        Medium::Udp { local: *local, broadcast: *broadcast, socket: None }
                    }
                    LinkKind::Ethernet { interface } => {
                        Medium::Ethernet { interface: interface.clone(), socket: None }
                    }
                };
                transports.push(Transport {
                    medium,
                    links: vec![index],
                    retry_at: Some(Micros::ZERO),
                    last_error: None,
                });
                transports.len() - 1
            }
        };
        link_transport.push(t);
    }
    (transports, link_transport)
}

fn bind_control(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("control socket {}: {e}", path.display())))?;
    // Only the owner (root on the appliance) may connect; the peer's uid is checked too.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
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
                Ok(f) => {
                    if f.last_reset_by_watchdog() {
                        log::error!("the last reset of this machine came from the watchdog");
                    }
                    Some(f)
                }
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
        let relay = authority::RelayWorker::new().map_err(|e| format!("relay worker: {e}"))?;
        let relay_health = match &cfg.relay {
            Some(r) => r
                .channels
                .iter()
                .filter(|c| c.open().can_read_back())
                .filter_map(|c| cfg.members.iter().find(|m| m.name == c.node).map(|m| m.id.0))
                .map(|id| {
                    (
                        id,
                        crate::devices::fence::HealthMonitor::new(
                            Micros::ZERO,
                            r.health_interval_ms,
                            r.health_failures_before_alarm,
                        ),
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        let mut snmp = match notify::Snmp::start(&cfg, boot, Micros::ZERO) {
            Ok(s) => s,
            Err(e) => {
                log::error!("snmp: {e}; running without notifications");
                None
            }
        };
        if let Some(s) = snmp.as_mut() {
            let member = cfg.me().name.clone();
            s.notify(Micros::ZERO, Notification::AgentStarted { member: member.clone() });
            if feeder.as_ref().is_some_and(|f| f.last_reset_by_watchdog()) {
                s.notify(Micros::ZERO, Notification::WatchdogResetAtBoot { member });
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
            let event = JournalEvent::new(JournalKind::Agent, "agent started")
                .with_member(&cfg.me().name)
                .with_field("boot", &boot.to_string());
            if let Err(e) = j.append(Stamp { mono: Micros::ZERO, wall_ms: wall_clock_ms() }, &event) {
                log::error!("journal: {e}");
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
        let (transports, link_transport) = build_transports(&cfg);
        let listener = bind_control(&cfg.control_socket).map_err(|e| e.to_string())?;
        let signals = Signals::install().map_err(|e| format!("signal handlers: {e}"))?;
        log::info!(
            "started: cluster {} member {} ({}) boot {boot}, {} links on {} transports",
            cfg.cluster,
            cfg.me().name,
            role_str(cfg.me().role),
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
            links_serviced_at: Micros::ZERO,
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
            last_client_uid: 0,
            moving_from: None,
            granted_at_wall_ms: None,
            last_fence: None,
            relay_queue: std::collections::VecDeque::new(),
            relay_health,
            transports,
            link_transport,
            origin,
            listener,
            clients: Vec::new(),
            rx_bytes: Vec::new(),
            rx_spans: Vec::new(),
            rx_errors: Vec::new(),
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

    /// Node: read every resource agent's meta-data in a helper thread, to learn which run
    /// validate-all before a start. With `hold`, starts wait for the answer (at start; after a
    /// reload the earlier answers stand meanwhile).
    fn learn_agents(&mut self, now: Micros, hold: bool) {
        let Some(group) = self.cfg.resources.as_ref().filter(|_| self.engine.node().is_some()) else {
            return;
        };
        let agents: Vec<_> = group.resources.iter().map(|r| r.agent.clone()).collect();
        match ocf::inspect::MetaDataProbe::start(agents) {
            Ok(probe) => {
                self.meta_data = Some(probe);
                for index in (0..group.resources.len()).filter(|_| hold) {
                    self.engine.set_resource_validation(now, index, Validation::Unknown);
                }
            }
            Err(e) => log::error!("cannot read the agents' meta-data ({e}): no validate-all before start"),
        }
    }

    /// The agents' meta-data, once read: validate-all or not, for each resource.
    fn learned_agents(&mut self, now: Micros) {
        let Some(answer) = self.meta_data.as_ref().and_then(|p| p.poll()) else {
            return;
        };
        self.meta_data = None;
        let specs = self.cfg.resources.as_ref().map(|g| g.resources.clone()).unwrap_or_default();
        for (index, validation) in ocf::inspect::validations(&specs, answer).into_iter().enumerate() {
            self.engine.set_resource_validation(now, index, validation);
        }
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
                    self.receive(t, now);
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
            self.maintain_transports(now);
            self.collect_results(now);
            self.engine.handle_timeout(now);
            self.send_due(now);
            self.carry_out(now);
            self.log_events();
            self.poll_array(now);
            self.flush_snmp(now);
            self.expire_clients(now);
            self.feed_watchdog(now);
            if !self.ready_notified {
                // Links opened (or their retries scheduled) and the stored state restored.
                self.ready_notified = true;
                let status = format!("{} running, role {}", self.cfg.me().name, role_str(self.cfg.me().role));
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
            for (_, m) in &self.relay_health {
                deadline = deadline.min(m.next_check().max(now.plus_ms(1)));
            }
            for t in &self.transports {
                if let Some(at) = t.retry_at {
                    deadline = deadline.min(at);
                }
            }
            for c in &self.clients {
                deadline = deadline.min(c.deadline);
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
        log::warn!("stopping on signal: {how}");
        self.service_manager.stopping(&format!("stopping: {how}"));
        let member = self.cfg.me().name.clone();
        self.journal(
            JournalEvent::new(JournalKind::Agent, &format!("agent stopping (signal): {how}"))
                .with_member(&member),
        );
        self.notify(now, Notification::AgentStopping { member, how: how.to_string() });
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

    fn wait(&mut self, sleep_us: u64) -> io::Result<Ready> {
        // On the stack: the loop does not allocate per iteration.
        let mut fds: heapless::Vec<PollFd<'_>, MAX_POLL_FDS> = heapless::Vec::new();
        add_fd(&mut fds, PollFd::new(&self.signals.stop, PollFlags::IN));
        add_fd(&mut fds, PollFd::new(&self.signals.reload, PollFlags::IN));
        add_fd(&mut fds, PollFd::new(&self.listener, PollFlags::IN));
        add_fd(&mut fds, PollFd::new(self.relay.fd(), PollFlags::IN));
        add_fd(&mut fds, PollFd::new(self.durable.fd(), PollFlags::IN));
        for c in &self.clients {
            let flags = if c.response.is_empty() {
                PollFlags::IN
            } else if self.durable.is_durable(c.hold_until) {
                PollFlags::OUT
            } else {
                // Held: the durable writer's result wakes the loop.
                PollFlags::empty()
            };
            add_fd(&mut fds, PollFd::new(&c.stream, flags));
        }
        let mut transport_slots: heapless::Vec<usize, { config::MAX_LINKS }> = heapless::Vec::new();
        for (i, t) in self.transports.iter().enumerate() {
            if let Some(fd) = t.fd() {
                add_fd(&mut fds, PollFd::from_borrowed_fd(fd, PollFlags::IN));
                assert!(transport_slots.push(i).is_ok(), "at most one transport per link");
            }
        }
        // SNMP responses and the array console are serviced every iteration (non-blocking,
        // bounded); their descriptors are here only to wake the loop. SNMP requests are read
        // only when they arrived (what one iteration leaves keeps the descriptor readable).
        if let Some(s) = &self.snmp {
            add_fd(&mut fds, PollFd::from_borrowed_fd(s.fd(), PollFlags::IN));
        }
        let snmp_get_slot = self.snmp_get.as_ref().map(|g| {
            add_fd(&mut fds, PollFd::from_borrowed_fd(g.fd(), PollFlags::IN));
            fds.len() - 1
        });
        let fence_slots = self.fence_service.as_ref().map(|f| {
            for fd in f.fds() {
                add_fd(&mut fds, PollFd::from_borrowed_fd(fd, PollFlags::IN));
            }
            fds.len() - 2..fds.len()
        });
        if let Some(fd) = self.array.as_ref().and_then(|a| a.fd()) {
            add_fd(&mut fds, PollFd::from_borrowed_fd(fd, PollFlags::IN));
        }
        // A resource action's exit: collect_results reaps it in the next iteration.
        for fd in self.runner.exit_fds() {
            add_fd(&mut fds, PollFd::from_borrowed_fd(fd, PollFlags::IN));
        }
        let timeout = Timespec {
            tv_sec: i64::try_from(sleep_us / 1_000_000).unwrap_or(i64::MAX),
            tv_nsec: i64::try_from((sleep_us % 1_000_000) * 1000).unwrap_or(0),
        };
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let active = |f: &PollFd<'_>| !f.revents().is_empty();
        let mut ready = Ready {
            stop: active(&fds[0]),
            reload: active(&fds[1]),
            listener: active(&fds[2]),
            relay: active(&fds[3]),
            durable: active(&fds[4]),
            clients: heapless::Vec::new(),
            transports: 0,
            snmp_get: snmp_get_slot.is_some_and(|i| active(&fds[i])),
            fence_service: fence_slots.is_some_and(|r| fds[r].iter().any(active)),
        };
        let nclients = self.clients.len();
        for i in 0..nclients {
            if active(&fds[5 + i]) {
                assert!(ready.clients.push(i).is_ok(), "at most MAX_CLIENTS clients");
            }
        }
        for (slot, &t) in transport_slots.iter().enumerate() {
            if active(&fds[5 + nclients + slot]) {
                ready.transports |= 1 << t;
            }
        }
        drop(fds);
        if ready.stop {
            drain(&mut self.signals.stop);
        }
        if ready.reload {
            ready.reload = drain(&mut self.signals.reload);
        }
        Ok(ready)
    }

    fn maintain_transports(&mut self, now: Micros) {
        for t in &mut self.transports {
            let Some(at) = t.retry_at else { continue };
            if now < at {
                continue;
            }
            match t.open() {
                Ok(()) => {
                    t.retry_at = None;
                    if t.last_error.take().is_some() {
                        log::info!("{}: open again", t.name());
                    } else {
                        log::debug!("{}: open", t.name());
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    if t.last_error.as_deref() != Some(text.as_str()) {
                        log::warn!(
                            "{}: cannot open ({text}); retrying every {REOPEN_INTERVAL_MS} ms",
                            t.name()
                        );
                        t.last_error = Some(text);
                    }
                    t.retry_at = Some(now.plus_ms(REOPEN_INTERVAL_MS));
                }
            }
        }
    }

    fn send_due(&mut self, now: Micros) {
        while let Some((link_index, header, msg)) = self.engine.poll_transmit(now) {
            let mut buf = [0u8; MAX_FRAME_BYTES];
            let n = match wire::encode(&self.key, &header, &msg, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    // A bound was exceeded by our own message: a bug, never input-driven.
                    log::error!("cannot encode heartbeat: {e:?}");
                    self.engine.handle_send_error(link_index);
                    continue;
                }
            };
            let frame = &buf[..n];
            let t = self.link_transport[link_index];
            let transport = &mut self.transports[t];
            let result = match (&mut transport.medium, &self.cfg.links[link_index].kind) {
                (Medium::Serial(s), _) => s.send(frame),
                (Medium::Udp { socket: Some(s), .. }, LinkKind::Udp { remote, .. }) => s.send(*remote, frame),
                (Medium::Ethernet { socket: Some(s), .. }, _) => s.send(frame),
                _ => Err(io::Error::from(io::ErrorKind::NotConnected)),
            };
            if result.is_ok() {
                self.links_serviced_at = now;
            }
            if let Err(e) = result {
                self.engine.handle_send_error(link_index);
                log::debug!("link {}: send failed: {e}", self.cfg.links[link_index].id);
                if matches!(transport.medium, Medium::Serial(_))
                    && e.kind() != io::ErrorKind::WouldBlock
                    && e.kind() != io::ErrorKind::NotConnected
                    && transport.is_open()
                {
                    log::warn!("{}: write error ({e}); reopening", transport.name());
                    transport.close();
                    transport.retry_at = Some(now.plus_ms(REOPEN_INTERVAL_MS));
                }
            }
        }
    }

    /// Which of this transport's links to blame for bytes that did not authenticate: the link
    /// id the bytes claim, if it is one of ours here, else the transport's first link.
    fn attribute(&self, t: usize, bytes: &[u8]) -> usize {
        let links = &self.transports[t].links;
        if let Some(&claimed) = bytes.get(7) {
            if let Some(&i) = links.iter().find(|&&i| self.cfg.links[i].id == claimed) {
                return i;
            }
        }
        links[0]
    }

    fn handle_bytes(&mut self, t: usize, bytes: &[u8], now: Micros) {
        let attributed = self.attribute(t, bytes);
        match wire::decode(&self.key, self.cfg.cluster_id, bytes) {
            Ok((header, msg)) => match self.engine.handle_frame(now, Some(attributed), &header, &msg) {
                Verdict::Accepted => {}
                Verdict::Replay => log::debug!("link {}: replayed frame dropped", header.link),
                Verdict::UnknownLink => {
                    log::debug!("frame for unknown link {} from member {}", header.link, header.sender)
                }
                Verdict::FromSelf => {}
            },
            Err(DecodeError::BadMac) | Err(DecodeError::WrongCluster(_)) => {
                self.engine.handle_rx_error(attributed, RxError::Auth)
            }
            Err(e) => {
                log::debug!("malformed frame on {}: {e:?}", self.transports[t].name());
                self.engine.handle_rx_error(attributed, RxError::Malformed)
            }
        }
    }

    fn receive(&mut self, t: usize, now: Micros) {
        // Collect first (bounded by the transports' own per-call limits), then decode. The
        // buffers are the agent's, reused: after the first frames nothing is allocated here.
        let mut bytes = std::mem::take(&mut self.rx_bytes);
        let mut spans = std::mem::take(&mut self.rx_spans);
        let mut errors = std::mem::take(&mut self.rx_errors);
        bytes.clear();
        spans.clear();
        errors.clear();
        let mut keep = |frame: &[u8]| {
            spans.push((bytes.len(), frame.len()));
            bytes.extend_from_slice(frame);
        };
        let result = match &mut self.transports[t].medium {
            Medium::Serial(s) => s.recv(&mut |item| match item {
                SerialItem::Frame(f) => keep(f),
                SerialItem::Error(SerialError::Crc) => errors.push(RxError::Crc),
                SerialItem::Error(_) => errors.push(RxError::Malformed),
            }),
            Medium::Udp { socket: Some(s), .. } => s.recv(&mut |d| match d {
                Ok(frame) => keep(frame),
                Err(_) => errors.push(RxError::Malformed),
            }),
            Medium::Ethernet { socket: Some(s), .. } => s.recv(&mut |frame| keep(frame)),
            _ => Ok(()),
        };
        let first = self.transports[t].links[0];
        for &e in &errors {
            self.engine.handle_rx_error(first, e);
        }
        for &(start, len) in &spans {
            self.handle_bytes(t, &bytes[start..start + len], now);
        }
        self.rx_bytes = bytes;
        self.rx_spans = spans;
        self.rx_errors = errors;
        if let Err(e) = result {
            let transport = &mut self.transports[t];
            log::warn!("{}: receive error ({e}); reopening in {REOPEN_INTERVAL_MS} ms", transport.name());
            transport.close();
            transport.retry_at = Some(now.plus_ms(REOPEN_INTERVAL_MS));
        }
    }

    /// Finished OCF actions and relay commands go back to the engine.
    fn collect_results(&mut self, now: Micros) {
        self.learned_agents(now);
        for f in self.runner.poll_children(now) {
            let reason =
                if f.exit_reason.is_empty() { String::new() } else { format!(" ({})", f.exit_reason) };
            if !f.output.trim().is_empty() {
                log::info!(
                    "resource action {} finished {}{reason} after {} ms: {}",
                    f.id,
                    f.outcome,
                    f.elapsed_ms,
                    f.output.trim()
                );
            } else {
                log::debug!(
                    "resource action {} finished {}{reason} after {} ms",
                    f.id,
                    f.outcome,
                    f.elapsed_ms
                );
            }
            self.engine.handle_resource_result_with_reason(now, f.id, f.outcome, f.exit_reason);
        }
        for (node, result) in self.relay.poll() {
            let name = self.member_name(node);
            match result {
                authority::RelayResult::Fence(report) => {
                    let w = words::fence_outcome(&name, &report.outcome);
                    log::log!(w.level, "fence of {name}: {}", report.outcome);
                    self.journal_words(&w, &[]);
                    self.engine.handle_fence_result(now, node, authority::fence_result(&report.outcome));
                }
                authority::RelayResult::PowerOn(error) => {
                    match &error {
                        Some(e) => log::error!("power-on of {name} failed: {e}"),
                        None => log::info!("{name} powered on again"),
                    }
                    self.journal_words(&words::power_on(&name, error.as_deref()), &[]);
                }
                authority::RelayResult::Check(result) => self.health_result(now, node, result),
            }
        }
        self.pending_relay(now);
        self.start_health_check(now);
    }

    /// The periodic health check of the relay board: one read-state per channel with read-back
    /// every `health_interval_ms`, only when no fence or power command waits.
    fn start_health_check(&mut self, now: Micros) {
        if self.relay.busy() || !self.relay_queue.is_empty() {
            return;
        }
        let Some(i) = self.relay_health.iter().position(|(_, m)| now >= m.next_check()) else { return };
        let node = self.relay_health[i].0;
        let name = self.member_name(node);
        let channel =
            self.cfg.relay.as_ref().and_then(|r| r.channels.iter().find(|c| c.node == name).cloned());
        if let Some(c) = channel {
            if let Err(e) = self.relay.start(node, &c, authority::RelayJob::Check) {
                log::debug!("relay health check of {name}: {e}");
            }
        }
    }

    fn health_result(
        &mut self,
        now: Micros,
        node: u8,
        result: Result<crate::devices::relay::RelayState, crate::devices::relay::RelayError>,
    ) {
        let name = self.member_name(node);
        let Some(i) = self.relay_health.iter().position(|(n, _)| *n == node) else { return };
        match self.relay_health[i].1.on_check(now, result) {
            Some(crate::devices::fence::HealthEvent::StoppedAnswering { failures, error }) => {
                log::error!("relay board of {name} stopped answering ({failures} checks): {error}");
                self.journal(
                    JournalEvent::new(JournalKind::Fence, &format!("relay board unreachable: {error}"))
                        .with_member(&name),
                );
                self.notify(now, Notification::RelayBoardUnreachable { relay: format!("relay of {name}") });
            }
            Some(crate::devices::fence::HealthEvent::AnswersAgain { state }) => {
                log::warn!("relay board of {name} answers again (reads {state})");
                self.journal(
                    JournalEvent::new(JournalKind::Fence, "relay board answers again").with_member(&name),
                );
            }
            None => {}
        }
    }

    /// Relay commands wait while another runs (one at a time on the worker).
    fn pending_relay(&mut self, now: Micros) {
        let _ = now;
        while !self.relay.busy() {
            let Some((node, power_on)) = self.relay_queue.pop_front() else { break };
            let name = self.member_name(node);
            let channel =
                self.cfg.relay.as_ref().and_then(|r| r.channels.iter().find(|c| c.node == name).cloned());
            match channel {
                Some(c) => {
                    let job =
                        if power_on { authority::RelayJob::PowerOn } else { authority::RelayJob::Fence };
                    if let Err(e) = self.relay.start(node, &c, job) {
                        log::error!("relay command for {name}: {e}");
                        if !power_on {
                            self.engine.handle_fence_result(
                                now,
                                node,
                                crate::core::authority::fence::FenceResult::Failed,
                            );
                        }
                    }
                }
                None => {
                    log::error!("no relay channel for {name}");
                    if !power_on {
                        self.engine.handle_fence_result(
                            now,
                            node,
                            crate::core::authority::fence::FenceResult::Failed,
                        );
                    }
                }
            }
        }
    }

    /// Carry out what the engine decided: durable writes, relay commands, OCF actions.
    fn carry_out(&mut self, now: Micros) {
        // Bounded: each action may lead to new ones (a persisted grant leads to a power-on).
        for _ in 0..64 {
            let Some(action) = self.engine.poll_action() else { return };
            match action {
                Action::Persist(stored) => {
                    let holder = self.member_name(stored.holder);
                    self.journal(
                        JournalEvent::new(JournalKind::Grant, "store generation and holder")
                            .with_field("generation", &stored.generation.to_string())
                            .with_field("holder", &holder),
                    );
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
                Action::PowerOff(node) => {
                    log::warn!("fencing {}: power off", self.member_name(node));
                    let name = self.member_name(node);
                    self.journal(JournalEvent::new(JournalKind::Fence, "power off").with_member(&name));
                    if queue_relay(&mut self.relay_queue, node, false).is_err() {
                        // Never silently: the core's fence would wait for a result forever.
                        log::error!(
                            "fence of {name}: {MAX_RELAY_QUEUE} relay commands already wait; reported failed"
                        );
                        self.engine.handle_fence_result(
                            now,
                            node,
                            crate::core::authority::fence::FenceResult::Failed,
                        );
                    }
                    self.pending_relay(now);
                }
                Action::PowerOn(node) => {
                    log::info!("powering {} on again", self.member_name(node));
                    if queue_relay(&mut self.relay_queue, node, true).is_err() {
                        log::error!(
                            "power-on of {}: {MAX_RELAY_QUEUE} relay commands already wait; not sent (ha-agent fence-test, then the relay by hand)",
                            self.member_name(node)
                        );
                    }
                    self.pending_relay(now);
                }
                Action::Resource(req) => {
                    let spec =
                        self.cfg.resources.as_ref().and_then(|g| g.resources.get(req.resource)).cloned();
                    match spec {
                        Some(spec) => {
                            log::info!(
                                "resource {}: {} (generation {})",
                                spec.name,
                                req.action.as_str(),
                                req.generation
                            );
                            if self.runner.spawn(now, &req, &spec).is_err() {
                                log::error!(
                                    "too many resource actions running; {} {} reported failed",
                                    spec.name,
                                    req.action.as_str()
                                );
                                self.engine.handle_resource_result(
                                    now,
                                    req.id,
                                    crate::core::resources::Outcome::Failed(1),
                                );
                            }
                        }
                        None => self.engine.handle_resource_result(
                            now,
                            req.id,
                            crate::core::resources::Outcome::Failed(5),
                        ),
                    }
                }
            }
        }
    }

    /// Rule N3: feed only while the core allows it and the loop's health sources are fresh.
    fn feed_watchdog(&mut self, now: Micros) {
        let self_fence = !self.engine.feed_allowed();
        let links_ok =
            if self.transports.iter().any(|t| t.is_open()) { self.links_serviced_at } else { Micros::ZERO };
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

    /// Keep the latest fence outcome (status `last_fence`).
    fn note_fence(&mut self, notice: Notice) {
        let (node, result, attempt) = match notice {
            Notice::FenceSucceeded { node } => (node, "confirmed", 0),
            Notice::FenceUnconfirmed { node } => (node, "unconfirmed", 0),
            Notice::FenceFailed { node, attempt } => (node, "failed", attempt),
            _ => return,
        };
        let count = self.last_fence.map_or(0, |f| f.count) + 1;
        self.last_fence = Some(LastFence { node, result, attempt, count, wall_ms: wall_clock_ms() });
    }

    /// Journal an event worded by [`words`] (the one formatter of the journal, `ha-agent log`
    /// and the status screen), with extra fields. The log lines keep their own shape (tools
    /// parse them) and say the same.
    fn journal_words(&mut self, w: &words::Words, fields: &[(&str, &str)]) {
        let mut record = JournalEvent::new(w.kind, &w.text);
        if let Some(m) = &w.member {
            record = record.with_member(m);
        }
        for (k, v) in fields {
            record = record.with_field(k, v);
        }
        self.journal(record);
    }

    fn authority_status(&self) -> Value {
        if let Some(w) = self.engine.witness() {
            let d = w.durable();
            return json!({
                "role": "witness",
                "generation": d.generation,
                "holder": if d.holder == 0 { Value::Null } else { json!(self.member_name(d.holder)) },
                "startup": w.in_startup(),
                "switching": w.switching(),
                "fencing": w.fencing().map(|n| self.member_name(n)),
                "fence_device": self.cfg.relay.is_some(),
                "fence_devices": self.relay_health.iter().map(|(node, m)| json!({
                    "node": self.member_name(*node),
                    "state": if m.is_alarmed() { "unreachable" } else { "ok" },
                })).collect::<Vec<_>>(),
                "granted_at_wall_ms": self.granted_at_wall_ms,
                "maintenance": w.maintenance(),
                "last_fence": self.last_fence.map(|f| json!({
                    "node": self.member_name(f.node),
                    "result": f.result,
                    "attempt": f.attempt,
                    "count": f.count,
                    "at_wall_ms": f.wall_ms,
                })),
                // What each node said in its latest report (null: nothing heard this boot),
                // and the operator's standby, which the witness keeps.
                "nodes": self.cfg.members.iter().filter(|m| m.role == Role::Node).map(|m| {
                    let r = w.report(m.id.0);
                    json!({
                        "name": m.name,
                        "standby": w.standby(m.id.0),
                        "ready": r.map(|r| r.ready),
                        "resources_state": r.map(|r| r.resources.as_str()),
                        "acting_generation": r.map(|r| r.acting),
                        "stopped_generation": r.map(|r| r.stopped),
                        "watchdog_armed": r.map(|r| r.fence_bound_ms > 0),
                        "fence_bound_ms": r.map(|r| r.fence_bound_ms),
                    })
                }).collect::<Vec<_>>(),
            });
        }
        if let Some((n, g)) = self.engine.node() {
            let resources: Vec<Value> = g
                .resources()
                .map(|r| {
                    json!({
                        "name": r.name.as_str(),
                        "state": r.state_str(),
                        "degraded_reason": r.degraded.as_ref().filter(|d| !d.is_empty()).map(|d| d.as_str()),
                        "failures": r.failures,
                        "last_failure": r.last_failure.as_ref().map(|f| json!({
                            "action": f.action.as_str(),
                            "outcome": f.outcome.to_string(),
                            "exit_code": f.outcome.exit_code(),
                            "exit_reason": Some(f.exit_reason.as_str()).filter(|e| !e.is_empty()),
                        })),
                    })
                })
                .collect();
            return json!({
                "role": "node",
                "acting_generation": n.acting(),
                "max_seen_generation": n.max_seen(),
                "quorum": n.has_quorum(),
                "leaving": n.leaving().map(|l| l.as_str()),
                "maintenance": n.maintenance(),
                "resources_state": g.state().as_str(),
                "resources": resources,
                "watchdog": self.feeder.as_ref().map(|f| json!({"timeout_ms": f.timeout_ms(), "withholding": f.withholding()})),
            });
        }
        Value::Null
    }

    /// Journal an event. It is queued for the durable writer in order with the state writes
    /// (a generation is never stored ahead of the records queued before it); the loop goes on
    /// at once. A journal that cannot keep up stops proving itself to the watchdog feed policy.
    fn journal(&mut self, event: JournalEvent) {
        let now = self.now();
        self.durable.record(now, Stamp { mono: now, wall_ms: wall_clock_ms() }, event);
    }

    /// Results of the durable writer: a stored generation goes to the core only now.
    fn collect_durable(&mut self, now: Micros) {
        for done in self.durable.poll(now) {
            self.durable_done(now, done);
        }
    }

    fn durable_done(&mut self, now: Micros, done: Done) {
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
                    "generation {} holder {} stored durably",
                    stored.generation,
                    self.member_name(stored.holder)
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

    fn notify(&mut self, now: Micros, n: Notification) {
        if let Some(s) = self.snmp.as_mut() {
            s.notify(now, n);
        }
    }

    fn flush_snmp(&mut self, now: Micros) {
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

    fn poll_array(&mut self, now: Micros) {
        let Some(a) = self.array.as_mut() else { return };
        let events = a.poll(now);
        for e in events {
            log::warn!("array: {}", e.label());
            self.journal(JournalEvent::new(JournalKind::Array, &e.label()));
            let n = crate::core::array::to_notification(&e);
            self.notify(now, n);
        }
    }

    /// The notification an authority notice deserves, if any.
    fn notice_notification(&mut self, notice: Notice) -> Option<Notification> {
        let me = self.cfg.me().name.clone();
        let name = |s: &Self, id: u8| s.member_name(id);
        Some(match notice {
            Notice::HolderLost { node, .. } => {
                self.moving_from = Some((node, MoveKind::Failover));
                Notification::FailoverStarted { member: "-".into(), from: name(self, node) }
            }
            Notice::SwitchoverStarted { from, .. } => {
                self.moving_from = Some((from, MoveKind::Switchover));
                return None;
            }
            // The holder stopped by itself (its agent is leaving): the grant that follows is a
            // switchover without a fence.
            Notice::HolderStopped { node, .. } => {
                self.moving_from = Some((node, MoveKind::Switchover));
                return None;
            }
            Notice::Granted { node, .. } => match self.moving_from.take() {
                Some((from, MoveKind::Failover)) => {
                    Notification::FailoverCompleted { member: name(self, node), from: name(self, from) }
                }
                Some((from, MoveKind::Switchover)) if from == node => return None,
                Some((from, MoveKind::Switchover)) => {
                    Notification::Switchover { member: name(self, node), from: name(self, from) }
                }
                // Granted again to the node whose group failed (no other was ready): no move.
                Some((from, MoveKind::ResourceFailure)) if from == node => return None,
                Some((from, MoveKind::ResourceFailure)) => Notification::ResourceMoved {
                    member: name(self, node),
                    from: name(self, from),
                    resource: "group".into(),
                },
                None => return None,
            },
            Notice::FenceSucceeded { node } => Notification::FenceSucceeded { member: name(self, node) },
            Notice::FenceUnconfirmed { node } => Notification::FenceUnconfirmed { member: name(self, node) },
            Notice::FenceFailed { node, attempt } => Notification::FenceFailed {
                member: name(self, node),
                reason: format!("attempt {attempt} failed; retrying"),
            },
            Notice::ResourcesFailed { node } => {
                self.moving_from = Some((node, MoveKind::ResourceFailure));
                Notification::ResourceFailed {
                    member: name(self, node),
                    resource: "group".into(),
                    reason: "restarts exhausted".into(),
                }
            }
            Notice::SelfFenceArmed => Notification::SelfFenceArmed { member: me },
            Notice::QuorumLost => Notification::QuorumLost { member: me },
            Notice::QuorumRegained => Notification::QuorumRegained { member: me },
            Notice::Maintenance { on: true } => Notification::MaintenanceOn { member: me },
            Notice::Maintenance { on: false } => Notification::MaintenanceOff { member: me },
            _ => return None,
        })
    }

    #[inline(never)] // kept out of the loop's body: smaller (the binary's size budget)
    fn log_events(&mut self) {
        let now = self.now();
        while let Some(event) = self.engine.poll_event() {
            // One wording per event for the journal (shell::words); the log lines keep their shape.
            let w = words::event(&event, &self.cfg.me().name, &|id| self.member_name(id));
            match event {
                Event::Authority(notice) => {
                    log::log!(w.level, "{}", w.text);
                    self.journal_words(&w, &[]);
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
                    if let Some(n) = self.notice_notification(notice) {
                        self.notify(now, n);
                    }
                }
                Event::Resources(e) => {
                    match e.exit_reason() {
                        Some(r) => {
                            log::info!("resources: {e}: {r}");
                            self.journal_words(&w, &[("exit_reason", r)]);
                        }
                        None => {
                            log::info!("resources: {e}");
                            self.journal_words(&w, &[]);
                        }
                    }
                    if let Some(n) = notify::resource_notification(&self.cfg.me().name, &e) {
                        self.notify(now, n);
                    }
                }
                Event::Membership(membership::Event::Link { id, peer, from, to }) => {
                    self.journal_words(&w, &[]);
                    let peer = self.member_name(peer);
                    // Up and down are notified; warn is only logged. A link that comes up at
                    // start is not news; one that never came up is.
                    use membership::LinkState::{Down, Init};
                    let link = format!("{id}");
                    let n = match (from, to) {
                        (f, Down) if f.is_alive() || f == Init => {
                            Some(Notification::LinkDown { member: peer.clone(), link })
                        }
                        (Down, t) if t.is_alive() => {
                            Some(Notification::LinkUp { member: peer.clone(), link })
                        }
                        _ => None,
                    };
                    if let Some(n) = n {
                        self.notify(now, n);
                    }
                    if to == membership::LinkState::Down || to == membership::LinkState::Warn {
                        log::warn!("link {id} to {peer}: {} -> {}", from.as_str(), to.as_str());
                    } else {
                        log::info!("link {id} to {peer}: {} -> {}", from.as_str(), to.as_str());
                    }
                }
                Event::Membership(membership::Event::Peer { peer, from, to }) => {
                    self.journal_words(&w, &[]);
                    let peer = self.member_name(peer);
                    match to {
                        membership::PeerState::Reachable => {
                            self.notify(now, Notification::MemberUp { member: peer.clone() })
                        }
                        membership::PeerState::Unreachable => {
                            self.notify(now, Notification::MemberDown { member: peer.clone() })
                        }
                        membership::PeerState::Unknown => {}
                    }
                    if to == membership::PeerState::Unreachable {
                        log::warn!("member {peer}: {} -> {}", from.as_str(), to.as_str());
                    } else {
                        log::info!("member {peer}: {} -> {}", from.as_str(), to.as_str());
                    }
                }
            }
        }
    }

    /// Reload the configuration (SIGHUP or `ha-agent reload`): validated first; a bad file, or
    /// a change that needs a restart, is refused with the reasons and the running configuration
    /// is kept; a notification either way.
    fn reload(&mut self, now: Micros) -> Result<String, String> {
        log::info!("reloading {}", self.config_path.display());
        let result = self.try_reload(now);
        let member = self.cfg.me().name.clone();
        match &result {
            Ok(text) => {
                self.reloads += 1;
                log::info!("{text}");
                // The agents may have been upgraded: learn again what they advertise.
                self.learn_agents(now, false);
                self.journal(JournalEvent::new(JournalKind::Configuration, "reloaded"));
                self.notify(now, Notification::ConfigurationReloaded { member });
            }
            Err(reason) => {
                self.reloads_refused += 1;
                log::error!("reload refused: {reason}; keeping the running configuration");
                self.journal(JournalEvent::new(
                    JournalKind::Configuration,
                    &format!("reload refused: {reason}"),
                ));
                self.notify(now, Notification::ConfigurationRejected { member, reason: reason.clone() });
            }
        }
        result
    }

    fn try_reload(&mut self, now: Micros) -> Result<String, String> {
        let new = config::load(&self.config_path).map_err(|problems| {
            let all: Vec<String> = problems.iter().map(|p| p.to_string().replace('\n', " ")).collect();
            format!("{} problem(s): {}", problems.len(), all.join("; "))
        })?;
        let key = config::load_key(&new.key_file).map_err(|p| p.to_string().replace('\n', " "))?;
        // What the running engine, transports, devices and notifier were built from cannot
        // change under them: those changes need a restart.
        let fixed = |c: &Config| {
            (
                (
                    c.cluster.clone(),
                    c.me,
                    c.members.clone(),
                    c.links.clone(),
                    c.state_dir.clone(),
                    c.control_socket.clone(),
                    // Set once at start (the loop's scheduling, the locked pages).
                    (c.shell.mlockall, c.shell.realtime_priority),
                ),
                (
                    c.authority.clone(),
                    c.resources.clone(),
                    c.relay.clone(),
                    c.watchdog.clone(),
                    c.snmp.clone(),
                    c.array.clone(),
                    c.syslog.clone(),
                    c.fence_service.clone(),
                ),
            )
        };
        if fixed(&new) != fixed(&self.cfg) {
            return Err("only [timing], [shell] stall_warn_ms and the key can change while running; cluster, members, \
                 links, paths, [shell] mlockall and realtime_priority, [authority], [resources], [relay], [watchdog], \
                 [snmp], [array], [syslog] and [fence_service] need a restart of the agent"
                .into());
        }
        self.engine.set_timing(new.timing, now);
        self.key = key;
        self.cfg = new;
        Ok("configuration reloaded (timing, stall_warn_ms and key applied)".into())
    }

    fn accept(&mut self, now: Micros) {
        loop {
            let (stream, _) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("control socket accept: {e}");
                    return;
                }
            };
            let me = rustix::process::geteuid();
            match rustix::net::sockopt::socket_peercred(stream.as_fd()) {
                Ok(cred) if cred.uid.is_root() || cred.uid == me => self.last_client_uid = cred.uid.as_raw(),
                Ok(cred) => {
                    log::warn!("control socket: refused uid {}", cred.uid.as_raw());
                    continue;
                }
                Err(e) => {
                    log::warn!("control socket: cannot read peer credentials: {e}");
                    continue;
                }
            }
            if self.clients.len() >= control::MAX_CLIENTS {
                log::warn!("control socket: more than {} clients; refusing one", control::MAX_CLIENTS);
                continue;
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.clients.push(Client {
                stream,
                request: Vec::new(),
                response: Vec::new(),
                written: 0,
                deadline: now.plus_ms(control::CLIENT_TIMEOUT_MS),
                hold_until: 0,
            });
        }
    }

    fn serve_client(&mut self, index: usize) {
        let done = {
            let mut buf = [0u8; control::MAX_REQUEST_BYTES];
            let client = &mut self.clients[index];
            if client.response.is_empty() {
                match client.stream.read(&mut buf) {
                    Ok(0) => true,
                    Ok(n) => {
                        client.request.extend_from_slice(&buf[..n]);
                        false
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                    Err(_) => true,
                }
            } else {
                false
            }
        };
        if done {
            self.clients.swap_remove(index);
            return;
        }
        if self.clients[index].response.is_empty() {
            let request = &self.clients[index].request;
            let complete = request.contains(&b'\n');
            let too_long = request.len() > control::MAX_REQUEST_BYTES;
            if !complete && !too_long {
                return;
            }
            // Status is answered at once; everything else journals an operator record first.
            let mut journaled = true;
            let value = if too_long {
                json!({"error": "request too long"})
            } else {
                let line = request.split(|&b| b == b'\n').next().unwrap_or(&[]);
                match control::parse_request(line) {
                    Ok(Request::Status) => {
                        journaled = false;
                        self.status_value()
                    }
                    Ok(Request::Reload) => {
                        let now = self.now();
                        self.journal(
                            JournalEvent::new(JournalKind::Operator, "reload")
                                .with_field("from", "control socket")
                                .with_field("uid", &self.last_client_uid.to_string()),
                        );
                        match self.reload(now) {
                            Ok(text) => json!({"ok": true, "message": text}),
                            Err(reason) => json!({"error": format!("reload refused: {reason}")}),
                        }
                    }
                    Ok(request) => self.command(request),
                    Err(e) => json!({"error": e}),
                }
            };
            let mut body =
                serde_json::to_vec(&value).unwrap_or_else(|_| b"{\"error\":\"encoding\"}".to_vec());
            body.push(b'\n');
            self.clients[index].response = body;
            self.clients[index].hold_until = if journaled { self.durable.ticket() } else { 0 };
        }
        if !self.durable.is_durable(self.clients[index].hold_until) {
            return;
        }
        let client = &mut self.clients[index];
        loop {
            match client.stream.write(&client.response[client.written..]) {
                Ok(n) => {
                    client.written += n;
                    if client.written == client.response.len() {
                        self.clients.swap_remove(index);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.clients.swap_remove(index);
                    return;
                }
            }
        }
    }

    /// An operator command from the control socket: carried out, or refused with the reason.
    fn command(&mut self, request: Request) -> Value {
        use crate::core::engine::WitnessCommand;
        let now = self.now();
        let id_of = |s: &Self, name: &str| s.cfg.members.iter().find(|m| m.name == name).map(|m| m.id.0);
        let line = match &request {
            Request::Move(n) => format!("move {n}"),
            Request::Standby(n) => format!("standby {n}"),
            Request::Online(n) => format!("online {n}"),
            Request::Fence(n) => format!("fence {n}"),
            Request::PowerOn(n) => format!("power-on {n}"),
            Request::Maintenance(on) => format!("maintenance {}", if *on { "on" } else { "off" }),
            Request::Cleanup => "cleanup".into(),
            Request::Status | Request::Reload => unreachable!("served elsewhere"),
        };
        self.journal(
            JournalEvent::new(JournalKind::Operator, &line)
                .with_field("from", "control socket")
                .with_field("uid", &self.last_client_uid.to_string()),
        );
        let (what, result) = match &request {
            Request::Cleanup => match self.engine.node() {
                Some(_) => {
                    self.engine.cleanup(now);
                    ("cleanup".to_string(), Ok(()))
                }
                None => ("cleanup".to_string(), Err("this command is for a node (run it on the server)")),
            },
            Request::Maintenance(on) => {
                (line.clone(), self.engine.witness_command(now, WitnessCommand::Maintenance(*on)))
            }
            Request::Move(n)
            | Request::Standby(n)
            | Request::Online(n)
            | Request::Fence(n)
            | Request::PowerOn(n) => {
                let Some(id) = id_of(self, n) else {
                    return json!({"error": format!("no member named {n:?}")});
                };
                let (verb, cmd) = match &request {
                    Request::Move(_) => ("move", WitnessCommand::Move(id)),
                    Request::Standby(_) => ("standby", WitnessCommand::Standby(id)),
                    Request::Online(_) => ("online", WitnessCommand::Online(id)),
                    Request::PowerOn(_) => ("power-on", WitnessCommand::PowerOn(id)),
                    _ => ("fence", WitnessCommand::Fence(id)),
                };
                let result = self.engine.witness_command(now, cmd);
                if result.is_ok() && matches!(request, Request::Standby(_) | Request::Online(_)) {
                    self.store_standby(now);
                }
                (format!("{verb} {n}"), result)
            }
            Request::Status | Request::Reload => unreachable!("served elsewhere"),
        };
        self.carry_out(now);
        match result {
            Ok(()) => {
                log::warn!("operator: {what}: accepted");
                self.journal(JournalEvent::new(JournalKind::Operator, &format!("{what}: accepted")));
                json!({"ok": true, "message": format!("{what}: accepted")})
            }
            Err(reason) => {
                log::warn!("operator: {what}: refused: {reason}");
                self.journal(JournalEvent::new(JournalKind::Operator, &format!("{what}: refused: {reason}")));
                json!({"error": format!("{what}: refused: {reason}")})
            }
        }
    }

    /// Witness: store the nodes in standby (queued before the command is answered, so that
    /// the answer comes once it is on disk), kept across a restart like maintenance mode.
    fn store_standby(&mut self, now: Micros) {
        let Some(w) = self.engine.witness() else { return };
        let names: Vec<String> = self
            .cfg
            .members
            .iter()
            .filter(|m| m.role == Role::Node && w.standby(m.id.0))
            .map(|m| m.name.clone())
            .collect();
        if let Err(e) = self.durable.state(now, StateWrite::Standby(names)) {
            log::error!("cannot store the standby nodes ({e}); a restart would forget them");
        }
    }

    fn expire_clients(&mut self, now: Micros) {
        self.clients.retain(|c| now < c.deadline);
    }

    /// The status document served on the control socket (schema: docs/status.md).
    pub fn status_value(&self) -> Value {
        let now = self.now();
        let t = self.engine.membership().timing();
        let members: Vec<Value> = self
            .engine
            .membership()
            .peers()
            .iter()
            .map(|p| {
                let m = self.cfg.member(config::MemberId(p.id));
                json!({
                    "name": m.map(|m| m.name.clone()),
                    "id": p.id,
                    "role": m.map(|m| role_str(m.role)),
                    "state": p.state.as_str(),
                    "links_up": p.links_up,
                    "reaches": p.reported_reaches.iter().map(|&id| self.member_name(id)).collect::<Vec<_>>(),
                })
            })
            .collect();
        let links: Vec<Value> = self
            .engine
            .membership()
            .links()
            .enumerate()
            .map(|(i, l)| {
                let cfg = &self.cfg.links[i];
                let transport = &self.transports[self.link_transport[i]];
                let c = &l.counters;
                let mut v = json!({
                    "id": l.id,
                    "peer": self.member_name(l.peer),
                    "kind": match cfg.kind { LinkKind::Serial { .. } => "serial", LinkKind::Udp { .. } => "udp", LinkKind::Ethernet { .. } => "ethernet" },
                    "transport": transport.name(),
                    "open": transport.is_open(),
                    "state": l.state.as_str(),
                    "frames_in": c.frames_in,
                    "frames_out": c.frames_out,
                    "send_errors": c.send_errors,
                    "crc_errors": c.crc_errors,
                    "auth_failures": c.auth_failures,
                    "replays": c.replays,
                    "malformed": c.malformed,
                    "unknown_link": c.unknown_link,
                    "latency_us": l.latency_us,
                    "jitter_us": l.jitter_us,
                    "last_rx_ago_ms": l.last_rx.map(|at| now.since_us(at) / 1000),
                    "transitions": c.transitions,
                    "downs": c.downs,
                });
                if let Some(err) = &transport.last_error {
                    v["note"] = json!(format!("cannot open: {err}"));
                }
                v
            })
            .collect();
        let (log_waiting, log_dropped) = logger::figures();
        json!({
            "cluster": self.cfg.cluster,
            "member": self.cfg.me().name,
            "role": role_str(self.cfg.me().role),
            "boot": self.engine.membership().boot(),
            "uptime_ms": now.as_ms(),
            "timing": {"interval_ms": t.interval_ms, "warn_ms": t.warn_ms, "dead_ms": t.dead_ms, "initdead_ms": t.initdead_ms},
            "stalls": {"count": self.stalls.count, "max_ms": self.stalls.max_ms, "late_max_us": self.stalls.late_max_us,
                       "busy_max_us": self.stalls.busy_max_us, "busy_count": self.stalls.busy_count},
            "journal_queue": {"waiting": self.durable.outstanding(), "dropped": self.durable.dropped()},
            "log_queue": {"waiting": log_waiting, "dropped": log_dropped},
            "allocations": alloc_count::allocations(),
            "heartbeats_triggered": self.engine.membership().triggered(),
            "reloads": {"applied": self.reloads, "refused": self.reloads_refused},
            "events_dropped": self.engine.events_dropped(),
            "authority": self.authority_status(),
            "array": self.array.as_ref().map(|a| a.status(now)),
            "snmp_targets": notify::describe_targets(&self.cfg),
            "snmp_agent": self.snmp_get.as_ref().map(|g| g.status()),
            "fence_service": self.fence_service.as_ref().map(|f| f.status()),
            "last_events": self.journaling.then(|| self.last_events.iter().collect::<Vec<_>>()),
            "members": members,
            "links": links,
        })
    }
}

/// Queue a relay command (`power_on` false: a fence) for the worker, within
/// [`MAX_RELAY_QUEUE`]. `Err` when full: the caller reports it (a fence as failed, so that the
/// core retries it), never drops it silently.
fn queue_relay(
    queue: &mut std::collections::VecDeque<(u8, bool)>,
    node: u8,
    power_on: bool,
) -> Result<(), ()> {
    if queue.len() >= MAX_RELAY_QUEUE {
        return Err(());
    }
    queue.push_back((node, power_on));
    Ok(())
}

/// Why the service is changing hands, until the next grant says where it went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MoveKind {
    /// The holder was lost (fence or watchdog deadline).
    Failover,
    /// Graceful switchover (operator move, standby, failback).
    Switchover,
    /// The holder's resource group failed and stopped.
    ResourceFailure,
}

fn role_str(role: Role) -> &'static str {
    match role {
        Role::Witness => "witness",
        Role::Node => "node",
    }
}

fn add_fd<'a>(fds: &mut heapless::Vec<PollFd<'a>, MAX_POLL_FDS>, fd: PollFd<'a>) {
    assert!(fds.push(fd).is_ok(), "MAX_POLL_FDS counts every descriptor the loop polls");
}

struct Ready {
    stop: bool,
    reload: bool,
    listener: bool,
    relay: bool,
    durable: bool,
    clients: heapless::Vec<usize, { control::MAX_CLIENTS }>,
    /// Bit t: transport t is readable.
    transports: u8,
    /// An SNMP request arrived.
    snmp_get: bool,
    /// A fence service request arrived, or its plug thread finished a command.
    fence_service: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_relay_queue_refuses_a_command_instead_of_dropping_it() {
        let mut queue = std::collections::VecDeque::new();
        for i in 0..MAX_RELAY_QUEUE {
            assert_eq!(queue_relay(&mut queue, (i % 2) as u8 + 2, i % 2 == 1), Ok(()));
        }
        assert_eq!(
            queue_relay(&mut queue, 2, false),
            Err(()),
            "the ninth is refused, for the caller to report"
        );
        assert_eq!(queue.len(), MAX_RELAY_QUEUE);
        queue.pop_front();
        assert_eq!(queue_relay(&mut queue, 2, false), Ok(()));
        assert_eq!(queue.back(), Some(&(2, false)));
    }
}

//! The shell's side of the authority: it carries out what the engine decides.
//!
//! Owns reading the state files the engine's role is built with (the mapping itself is
//! `config::role`, pure), the witness's durable state file (generation and holder), relay
//! commands (run on a worker thread so that a slow board never blocks the loop, one at a
//! time, results handed back through a pipe the loop polls), the OCF
//! action runner for node resources, and the hardware watchdog (armed at start, fed only when
//! the core allows it and the loop's health sources are fresh, disarmed on an orderly stop).
//! It decides nothing: every decision is the engine's.

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;

pub use crate::config::role::authority_timing;
use crate::config::role::{FromConfig, Restored};
use crate::config::{Config, Role};
use crate::core::authority::fence::FenceResult;
use crate::core::authority::witness::Stored;
use crate::core::engine::RoleConfig;
use crate::core::resources::Outcome;
use crate::devices::config::RelayChannelConfig;
use crate::devices::fence::{self, FenceAction, FenceOutcome, SystemClock};
use crate::devices::watchdog::{self, FeedDecision, FeedPolicy, HealthStamps, LinuxWatchdog, Watchdog};
use crate::time::Micros;

use super::ocf::Runner;
use super::state::write_durable;

/// File in the state directory holding the witness's generation and holder.
pub const AUTHORITY_FILE: &str = "authority";
/// Bound on the authority file's size.
const MAX_AUTHORITY_FILE_BYTES: u64 = 128;

/// Read the witness's durable state (its one text form is `Stored`'s, in the core). Missing or
/// unreadable: None (the witness then adopts the highest generation the nodes report, rule W4).
pub fn read_stored(dir: &Path) -> Option<Stored> {
    let file = std::fs::File::open(dir.join(AUTHORITY_FILE)).ok()?;
    let mut text = String::new();
    file.take(MAX_AUTHORITY_FILE_BYTES).read_to_string(&mut text).ok()?;
    let stored = Stored::parse(&text);
    if stored.is_none() {
        log::warn!("{}: unreadable authority state; it counts as lost", dir.join(AUTHORITY_FILE).display());
    }
    stored
}

/// Write it durably (write, fsync, rename, fsync the directory) before any frame carries it.
pub fn write_stored(dir: &Path, stored: Stored) -> io::Result<()> {
    write_durable(dir, AUTHORITY_FILE, format!("{stored}\n").as_bytes())
}

/// File in the witness's state directory: `maintenance=on` while maintenance mode is on.
pub const MAINTENANCE_FILE: &str = "maintenance";

/// Whether maintenance mode was on when the witness stopped (missing or unreadable: off).
pub fn read_maintenance(dir: &Path) -> bool {
    let Ok(file) = std::fs::File::open(dir.join(MAINTENANCE_FILE)) else { return false };
    let mut text = String::new();
    if file.take(MAX_AUTHORITY_FILE_BYTES).read_to_string(&mut text).is_err() {
        return false;
    }
    text.trim() == "maintenance=on"
}

/// Store maintenance mode durably (same discipline as the authority file).
pub fn write_maintenance(dir: &Path, on: bool) -> io::Result<()> {
    let text = if on { "maintenance=on\n" } else { "maintenance=off\n" };
    write_durable(dir, MAINTENANCE_FILE, text.as_bytes())
}

/// File in the witness's state directory: `standby=node-a,node-b`, the nodes the operator put
/// in standby (`standby=` when none).
pub const STANDBY_FILE: &str = "standby";

/// The nodes in standby when the witness stopped (missing or unreadable: none).
pub fn read_standby(dir: &Path) -> Vec<String> {
    let Ok(file) = std::fs::File::open(dir.join(STANDBY_FILE)) else { return Vec::new() };
    let mut text = String::new();
    if file.take(MAX_AUTHORITY_FILE_BYTES).read_to_string(&mut text).is_err() {
        return Vec::new();
    }
    match text.trim().strip_prefix("standby=") {
        Some(list) => list.split(',').filter(|n| !n.is_empty()).map(str::to_string).collect(),
        None => {
            log::warn!("{}: unreadable; no node in standby", dir.join(STANDBY_FILE).display());
            Vec::new()
        }
    }
}

/// Store the standby nodes durably (same discipline as the authority file).
pub fn write_standby(dir: &Path, names: &[String]) -> io::Result<()> {
    write_durable(dir, STANDBY_FILE, format!("standby={}\n", names.join(",")).as_bytes())
}

/// File in a node's state directory holding the highest generation it has seen.
pub const SEEN_FILE: &str = "seen";

/// The highest generation this node stored (0 when missing or unreadable).
pub fn read_seen(dir: &Path) -> u64 {
    let Ok(file) = std::fs::File::open(dir.join(SEEN_FILE)) else { return 0 };
    let mut text = String::new();
    if file.take(MAX_AUTHORITY_FILE_BYTES).read_to_string(&mut text).is_err() {
        return 0;
    }
    match text.trim().strip_prefix("generation=").and_then(|g| g.parse().ok()) {
        Some(g) => g,
        None => {
            log::warn!("{}: unreadable; starting from generation 0", dir.join(SEEN_FILE).display());
            0
        }
    }
}

pub fn write_seen(dir: &Path, generation: u64) -> io::Result<()> {
    write_durable(dir, SEEN_FILE, format!("generation={generation}\n").as_bytes())
}

/// File in a node's state directory written by an agent that exits in maintenance mode with
/// its resources running: `generation=N` and `kernel_boot=ID` (the kernel's boot id). The
/// next agent takes the resources over instead of stopping them, but only on the same kernel
/// boot: after a reboot nothing the old agent left can still run.
pub const LEFT_RUNNING_FILE: &str = "left-running";
/// The kernel's id of this boot (changes with every boot of the machine).
const KERNEL_BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

fn kernel_boot_id() -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(KERNEL_BOOT_ID).ok()?.take(64).read_to_string(&mut text).ok()?;
    let id = text.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// File in the state directory naming the kernel boot whose reset by the watchdog an agent
/// has reported (`kernel_boot=ID`).
pub const RESET_REPORTED_FILE: &str = "watchdog-reset-reported";

/// Whether the watchdog's reset before this kernel boot is news to report: the driver gives
/// every agent of the same boot the same boot status, so an agent restarted or upgraded
/// (maintenance) would otherwise send `rackHaWatchdogResetAtBoot` again for the same reset.
/// Records this boot when it is news. Without a boot id, or when the record cannot be written,
/// it is news (a report twice rather than never).
pub fn watchdog_reset_is_news(dir: &Path) -> bool {
    let Some(now) = kernel_boot_id() else { return true };
    let path = dir.join(RESET_REPORTED_FILE);
    let mut text = String::new();
    if let Ok(file) = std::fs::File::open(&path) {
        let _ = file.take(MAX_AUTHORITY_FILE_BYTES).read_to_string(&mut text);
    }
    let line = format!("kernel_boot={now}");
    if text.lines().any(|l| l == line) {
        return false;
    }
    if let Err(e) = write_durable(dir, RESET_REPORTED_FILE, format!("{line}\n").as_bytes()) {
        log::warn!("{}: {e}; a restarted agent will report this reset again", path.display());
    }
    true
}

/// Record that this agent leaves its resources running under `generation` (maintenance).
pub fn write_left_running(dir: &Path, generation: u64) -> io::Result<()> {
    let boot = kernel_boot_id().ok_or_else(|| io::Error::other("no kernel boot id"))?;
    write_durable(dir, LEFT_RUNNING_FILE, format!("generation={generation}\nkernel_boot={boot}\n").as_bytes())
}

/// Take (read and remove) what the previous agent left running: the generation, when the
/// record is intact and from this kernel boot. Anything else is ignored and logged (the group
/// then stops every resource at start, the safe default).
pub fn take_left_running(dir: &Path) -> Option<u64> {
    let path = dir.join(LEFT_RUNNING_FILE);
    let file = std::fs::File::open(&path).ok()?;
    let mut text = String::new();
    let read = file.take(MAX_AUTHORITY_FILE_BYTES).read_to_string(&mut text);
    if let Err(e) = std::fs::remove_file(&path).and_then(|()| std::fs::File::open(dir)?.sync_all()) {
        log::error!("{}: cannot remove ({e}); resources are stopped at start", path.display());
        return None;
    }
    read.ok()?;
    let mut generation = None;
    let mut boot = None;
    for line in text.lines() {
        match line.split_once('=') {
            Some(("generation", g)) => generation = g.parse::<u64>().ok(),
            Some(("kernel_boot", b)) => boot = Some(b.to_string()),
            _ => {}
        }
    }
    match (generation, boot, kernel_boot_id()) {
        (Some(g), Some(b), Some(now)) if b == now && g > 0 => Some(g),
        (Some(_), Some(_), Some(_)) => {
            log::warn!("{}: left by an agent before the last reboot; nothing to take over", path.display());
            None
        }
        _ => {
            log::warn!("{}: unreadable; resources are stopped at start", path.display());
            None
        }
    }
}

/// The engine's role from the configuration and the state files (read here; the mapping is
/// [`FromConfig::from_config`], pure). `watchdog_ms`: the timeout the driver really set.
pub fn role_config(cfg: &Config, watchdog_ms: u64) -> RoleConfig {
    let restored = match cfg.me().role {
        Role::Witness => Restored { stored: read_stored(&cfg.state_dir), ..Restored::default() },
        Role::Node => Restored {
            seen: read_seen(&cfg.state_dir),
            adopted: take_left_running(&cfg.state_dir),
            ..Restored::default()
        },
    };
    RoleConfig::from_config(cfg, restored, watchdog_ms)
}

/// What the worker is asked to do on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayJob {
    /// The fence procedure: read, off, poll until off.
    Fence,
    PowerOn,
    /// The periodic health check: read the state (channels with read-back only).
    Check,
}

/// What came back.
#[derive(Clone, Debug)]
pub enum RelayResult {
    Fence(FenceReportLite),
    PowerOn(Option<String>),
    Check(Result<crate::devices::relay::RelayState, crate::devices::relay::RelayError>),
}

/// Relay commands on a worker thread, one at a time.
pub struct RelayWorker {
    wake: UnixStream,
    results: mpsc::Receiver<(u8, RelayResult)>,
    jobs: mpsc::Sender<(u8, RelayChannelConfig, RelayJob)>,
    busy: bool,
}

/// Bound on the relay channels the worker keeps open (one per node).
const MAX_OPEN_RELAYS: usize = 2;
/// Stack of the relay thread. With `mlockall` every page of a thread's stack is resident, and
/// Rust's default (2 MiB) would double the agent's memory; a fence job (serial exchange,
/// Modbus framing, a fence agent's process) needs a few KiB.
const RELAY_THREAD_STACK_BYTES: usize = 128 * 1024;

/// The part of a fence report the loop needs.
#[derive(Clone, Debug)]
pub struct FenceReportLite {
    pub outcome: FenceOutcome,
    pub power_on_error: Option<String>,
}

impl RelayWorker {
    /// One long-lived thread owns every opened relay channel: a channel object lives between
    /// jobs, because some devices only hold their output while they are open (a GPIO line
    /// request released after a fence would let the line go back to its default, and the
    /// fenced server could come back on). After each job it is told to go idle, which closes
    /// what another channel may need (a serial port shared by two channels of one board,
    /// opened exclusively). A changed configuration (reload) reopens it.
    pub fn new() -> io::Result<RelayWorker> {
        let (wake, wake_writer) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let (sender, results) = mpsc::channel();
        let (jobs, job_rx) = mpsc::channel::<(u8, RelayChannelConfig, RelayJob)>();
        crate::shell::sys::spawn_thread(
            "relay",
            RELAY_THREAD_STACK_BYTES,
            Box::new(move || {
                let mut wake = wake_writer;
                let mut open: Vec<(u8, RelayChannelConfig, Box<dyn crate::devices::relay::RelayChannel>)> =
                    Vec::new();
                while let Ok((node, channel, job)) = job_rx.recv() {
                    let index = match open.iter().position(|(n, c, _)| *n == node && *c == channel) {
                        Some(i) => i,
                        None => {
                            // Close the node's old channel (if any) before opening the new one.
                            open.retain(|(n, ..)| *n != node);
                            assert!(open.len() < MAX_OPEN_RELAYS, "one open channel per node, two nodes");
                            let relay = channel.open();
                            open.push((node, channel.clone(), relay));
                            open.len() - 1
                        }
                    };
                    let relay = &mut open[index].2;
                    let result = match job {
                        RelayJob::PowerOn => RelayResult::PowerOn(
                            relay.power_on(channel.exchange_timeout_ms()).err().map(|e| e.to_string()),
                        ),
                        RelayJob::Fence => {
                            let r = fence::run(
                                &mut **relay,
                                FenceAction::Off,
                                channel.fence_options(),
                                &mut SystemClock::new(),
                            );
                            RelayResult::Fence(FenceReportLite { outcome: r.outcome, power_on_error: None })
                        }
                        RelayJob::Check => {
                            RelayResult::Check(relay.read_state(channel.exchange_timeout_ms()))
                        }
                    };
                    relay.idle();
                    if sender.send((node, result)).is_err() {
                        return;
                    }
                    let _ = wake.write_all(b"r");
                }
            }),
        )?;
        Ok(RelayWorker { wake, results, jobs, busy: false })
    }

    pub fn fd(&self) -> &UnixStream {
        &self.wake
    }

    pub fn busy(&self) -> bool {
        self.busy
    }

    /// Start `job` on `channel` (the relay of node `node`).
    pub fn start(&mut self, node: u8, channel: &RelayChannelConfig, job: RelayJob) -> io::Result<()> {
        if self.busy {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "a relay command is already running"));
        }
        self.jobs
            .send((node, channel.clone(), job))
            .map_err(|_| io::Error::other("the relay worker thread has stopped"))?;
        self.busy = true;
        Ok(())
    }

    /// Results that are ready (drains the wake pipe).
    pub fn poll(&mut self) -> Vec<(u8, RelayResult)> {
        let mut buf = [0u8; 16];
        while let Ok(n) = self.wake.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let mut out = Vec::new();
        while let Ok(r) = self.results.try_recv() {
            self.busy = false;
            out.push(r);
        }
        out
    }
}

pub fn fence_result(outcome: &FenceOutcome) -> FenceResult {
    match outcome {
        FenceOutcome::Confirmed => FenceResult::Confirmed,
        FenceOutcome::Unconfirmed => FenceResult::Unconfirmed,
        FenceOutcome::Failed(_) => FenceResult::Failed,
    }
}

/// The hardware watchdog and its feeding policy (rule N3).
pub struct Feeder {
    watchdog: Watchdog<LinuxWatchdog>,
    policy: FeedPolicy,
    last_fed_at: Option<Micros>,
    withholding: bool,
}

impl Feeder {
    /// Open and arm; the timeout the driver set is in `timeout_ms()`.
    pub fn arm(device: &Path, timeout_s: u32) -> Result<Feeder, String> {
        let watchdog =
            watchdog::open_and_arm(device, timeout_s, Path::new("/sys")).map_err(|e| e.to_string())?;
        for line in watchdog.report().messages() {
            log::warn!("{line}");
        }
        let policy = FeedPolicy::for_timeout(watchdog.report().timeout_s);
        Ok(Feeder { watchdog, policy, last_fed_at: None, withholding: false })
    }

    pub fn timeout_ms(&self) -> u64 {
        u64::from(self.watchdog.report().timeout_s) * 1000
    }
    pub fn last_reset_by_watchdog(&self) -> bool {
        self.watchdog.report().last_reset_by_watchdog()
    }
    pub fn withholding(&self) -> bool {
        self.withholding
    }

    /// Feed if the policy says so; returns the next instant it wants to be asked again.
    pub fn tick(&mut self, now: Micros, stamps: &HealthStamps, self_fence: bool) -> Micros {
        match watchdog::decide(&self.policy, now, stamps, self.last_fed_at, self_fence) {
            FeedDecision::Feed => {
                if let Err(e) = self.watchdog.feed() {
                    log::error!("watchdog feed failed: {e}");
                }
                self.last_fed_at = Some(now);
                if self.withholding {
                    log::warn!("watchdog fed again");
                }
                self.withholding = false;
                now.plus_ms(self.policy.feed_interval_ms)
            }
            FeedDecision::NotYet { due } => due,
            FeedDecision::Withhold(reasons) => {
                if !self.withholding {
                    log::error!("watchdog NOT fed ({reasons:?}): the hardware will reset this machine");
                }
                self.withholding = true;
                now.plus_ms(self.policy.feed_interval_ms)
            }
        }
    }

    /// Exit while the resources keep running (a stop in maintenance mode): close the device
    /// without the magic character, so the watchdog stays armed and the hardware resets this
    /// server unless an agent opens it again within the timeout. The witness's watchdog
    /// deadline (W1) assumes exactly this of a silent node; a disarmed watchdog under running
    /// resources would void it.
    pub fn leave_armed(self) {
        log::warn!(
            "watchdog left armed: start the agent again within {} ms or this server is reset",
            self.timeout_ms()
        );
    }

    /// Orderly stop: disarm where the driver allows it.
    pub fn stop(self) {
        let outcome = self.watchdog.stop();
        log::info!("watchdog: {outcome:?}");
    }
}

/// Map a finished OCF action to the core's outcome.
pub fn outcome_of(finished: &super::ocf::Finished) -> Outcome {
    finished.outcome
}

pub fn new_runner() -> Runner {
    Runner::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watchdog_reset_is_reported_once_per_kernel_boot() {
        let d = std::env::temp_dir().join(format!("ha-reset-reported-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        assert!(watchdog_reset_is_news(&d), "the first agent of this boot reports it");
        assert!(!watchdog_reset_is_news(&d), "a restarted agent of the same boot does not");
        let boot = kernel_boot_id().expect("Linux has a boot id");
        assert_eq!(
            std::fs::read_to_string(d.join(RESET_REPORTED_FILE)).unwrap(),
            format!("kernel_boot={boot}\n")
        );
        // A record of another boot: this boot's reset is news again.
        std::fs::write(d.join(RESET_REPORTED_FILE), "kernel_boot=an-earlier-boot\n").unwrap();
        assert!(watchdog_reset_is_news(&d));
        std::fs::remove_dir_all(&d).unwrap();
    }
}

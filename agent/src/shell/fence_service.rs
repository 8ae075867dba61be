//! The shell's side of the fence service (docs/fence-agent.md): the socket `[fence_service]
//! listen`, served from the witness's loop without blocking it, and the thread that switches
//! the plugs.
//!
//! Owns one non-blocking UDP socket (at most [`MAX_DATAGRAMS_PER_POLL`] datagrams read per
//! loop iteration, each answered with one non-blocking `send_to`), the randomness of the
//! nonces (`/dev/urandom`), and a worker thread that carries out each command on its plug with
//! the box's own fence procedure and drivers (`devices::fence::run`: read, off, poll until it
//! reads off; the same [`RelayChannelConfig`] drivers as `[relay]`), one command at a time,
//! keeping each plug's channel open between commands as the box's own relay worker does (a
//! GPIO line must stay requested). Each command is journaled when taken and when finished
//! (`shell::words`; a `status` only when it fails: it is no event), and an off or reboot sends the same traps as the box's own fences. What a
//! datagram means is `fencesvc::server`'s; this module only moves bytes and results.

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;

use super::{fanout, words, Agent};
use crate::config::Config;
use crate::devices::config::RelayChannelConfig;
use crate::devices::fence::{self, FenceAction, FenceOutcome, SystemClock};
use crate::devices::relay::{RelayChannel, RelayState};
use crate::fencesvc::protocol::{self, Action, Answer, Power, MAX_DATAGRAM_BYTES, NONCE_BYTES};
use crate::fencesvc::server::{Command, Outcome, Server, ServerConfig};
use crate::snmp::mib::Notification;
use crate::time::Micros;

/// Bound on datagrams read per loop iteration (the rest wait in the socket's buffer).
pub const MAX_DATAGRAMS_PER_POLL: usize = 16;
/// Stack of the plug thread (as the relay worker's: a fence needs a few KiB).
const PLUG_THREAD_STACK_BYTES: usize = 128 * 1024;

/// What the plug thread did for one command.
enum Done {
    Fence {
        report: fence::FenceReport,
        trust_unconfirmed: bool,
    },
    /// `on`: the power-on procedure (confirmed by read-back where the board reads back).
    PowerOn(fence::FenceReport),
    State(Result<RelayState, String>),
}

struct Job {
    command: Command,
    channel: RelayChannelConfig,
}

pub struct FenceService {
    socket: UdpSocket,
    server: Server,
    listen: SocketAddr,
    plugs: Vec<RelayChannelConfig>,
    urandom: std::fs::File,
    jobs: mpsc::Sender<Job>,
    results: mpsc::Receiver<(Command, Done)>,
    wake: UnixStream,
    buf: Vec<u8>,
    /// The latest command that finished (status `last_command`, rackHaFenceSvcLast*).
    last_command: Option<crate::status::FenceServiceCommand>,
}

fn plug_thread(jobs: mpsc::Receiver<Job>, results: mpsc::Sender<(Command, Done)>, mut wake: UnixStream) {
    let mut open: Vec<(RelayChannelConfig, Box<dyn RelayChannel>)> = Vec::new();
    while let Ok(Job { command, channel }) = jobs.recv() {
        let index = match open.iter().position(|(c, _)| *c == channel) {
            Some(i) => i,
            None => {
                assert!(open.len() < protocol::MAX_LISTED_PLUGS, "one open channel per configured plug");
                open.push((channel.clone(), channel.open()));
                open.len() - 1
            }
        };
        let relay = &mut open[index].1;
        let timeout_ms = channel.exchange_timeout_ms();
        let done = match command.action {
            Action::Off | Action::Reboot => {
                let action =
                    if command.action == Action::Off { FenceAction::Off } else { FenceAction::Reboot };
                let report =
                    fence::run(&mut **relay, action, channel.fence_options(), &mut SystemClock::new());
                Done::Fence { report, trust_unconfirmed: channel.trust_unconfirmed }
            }
            Action::On => Done::PowerOn(fence::run(
                &mut **relay,
                FenceAction::On,
                channel.fence_options(),
                &mut SystemClock::new(),
            )),
            Action::Status => Done::State(relay.read_state(timeout_ms).map_err(|e| e.to_string())),
            Action::List => unreachable!("the server answers list itself"),
        };
        relay.idle();
        if results.send((command, done)).is_err() {
            return;
        }
        let _ = wake.write_all(b"f");
    }
}

impl FenceService {
    /// Bind the socket and start the plug thread; None when `[fence_service]` is absent.
    pub fn start(cfg: &Config, now: Micros) -> Result<Option<FenceService>, String> {
        let Some(service) = &cfg.fence_service else { return Ok(None) };
        let key = crate::config::load_key(&service.key_file).map_err(|p| format!("fence_service: {p}"))?;
        let cluster_key = crate::config::load_key(&cfg.key_file).ok();
        if cluster_key.is_some_and(|k| k.0 == key.0) {
            return Err("fence_service: its key is the cluster key; make a separate key".into());
        }
        let server = Server::new(
            ServerConfig {
                key,
                plugs: service.plugs.iter().map(|p| p.node.clone()).collect(),
                own_members: cfg.members.iter().map(|m| m.name.clone()).collect(),
                clients: service.clients.clone(),
                client_plugs: service.client_plug_indices(),
            },
            now,
        );
        let urandom = std::fs::File::open("/dev/urandom").map_err(|e| format!("/dev/urandom: {e}"))?;
        let socket = UdpSocket::bind(service.listen)
            .map_err(|e| format!("fence_service listen {}: {e}", service.listen))?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        let (wake, wake_writer) = UnixStream::pair().map_err(|e| e.to_string())?;
        wake.set_nonblocking(true).map_err(|e| e.to_string())?;
        let (jobs, job_rx) = mpsc::channel();
        let (result_tx, results) = mpsc::channel();
        super::sys::spawn_thread(
            "fence-service",
            PLUG_THREAD_STACK_BYTES,
            Box::new(move || plug_thread(job_rx, result_tx, wake_writer)),
        )
        .map_err(|e| format!("fence service thread: {e}"))?;
        let names: Vec<&str> = service.plugs.iter().map(|p| p.node.as_str()).collect();
        log::info!(
            "fence service: answering fence_rackha on {} for plugs {}",
            service.listen,
            names.join(", ")
        );
        Ok(Some(FenceService {
            socket,
            server,
            listen: service.listen,
            plugs: service.plugs.clone(),
            urandom,
            jobs,
            results,
            wake,
            buf: vec![0u8; MAX_DATAGRAM_BYTES + 1],
            last_command: None,
        }))
    }

    /// The descriptors that wake the loop: the socket and the plug thread's results.
    pub fn fds(&self) -> [BorrowedFd<'_>; 2] {
        [self.socket.as_fd(), self.wake.as_fd()]
    }

    /// The `fence_service` object of the status document (and of the MIB's
    /// rackHaFenceService).
    pub fn status(&self) -> crate::status::FenceService {
        crate::status::FenceService {
            listen: self.listen.to_string(),
            plugs: self.server.plugs().to_vec(),
            running: self.server.running() as u64,
            counters: self.server.counters(),
            last_command: self.last_command.clone(),
        }
    }

    fn send(&self, to: SocketAddr, bytes: &[u8]) {
        if let Err(e) = self.socket.send_to(bytes, to) {
            log::debug!("fence service: reply to {to}: {e}");
        }
    }
}

/// A finished command in words: the answer, the journal's result text, whether it succeeded,
/// and the trap an off or reboot deserves.
fn conclude(plug: &str, done: Done) -> (Answer, String, bool, Option<Notification>) {
    let member = plug.to_string();
    match done {
        Done::Fence { report, trust_unconfirmed } => {
            let on_failed = match &report.power_on {
                Some(Err(e)) => format!("; power on again failed: {e}"),
                _ => String::new(),
            };
            match &report.outcome {
                FenceOutcome::Confirmed => (
                    Answer::Done,
                    format!("{}{on_failed}", report.outcome),
                    true,
                    Some(Notification::FenceSucceeded { member }),
                ),
                FenceOutcome::Unconfirmed if trust_unconfirmed => (
                    Answer::Done,
                    format!("{} (trusted: trust_unconfirmed){on_failed}", report.outcome),
                    true,
                    Some(Notification::FenceUnconfirmed { member }),
                ),
                FenceOutcome::Unconfirmed => {
                    let reason = format!("{}; the plug does not trust an unconfirmed fence", report.outcome);
                    (
                        Answer::Failed(protocol::reason(&reason)),
                        reason,
                        false,
                        Some(Notification::FenceUnconfirmed { member }),
                    )
                }
                FenceOutcome::Failed(why) => (
                    Answer::Failed(protocol::reason(why)),
                    report.outcome.to_string(),
                    false,
                    Some(Notification::FenceFailed { member, reason: why.clone() }),
                ),
            }
        }
        // An `on` that the board cannot read back is answered once the board accepted it, as
        // fence-agents do for a device without status (it is no fence: nothing depends on it).
        Done::PowerOn(report) => {
            let text = report.outcome.words(RelayState::On);
            match &report.outcome {
                FenceOutcome::Confirmed | FenceOutcome::Unconfirmed => (Answer::Done, text, true, None),
                FenceOutcome::Failed(why) => (Answer::Failed(protocol::reason(why)), text, false, None),
            }
        }
        Done::State(Ok(state)) => {
            let power = if state == RelayState::Off { Power::Off } else { Power::On };
            (Answer::Status(power), format!("reads {state}"), true, None)
        }
        Done::State(Err(e)) => {
            (Answer::Failed(protocol::reason(&e)), format!("status failed: {e}"), false, None)
        }
    }
}

impl Agent {
    /// Serve what arrived on the fence service's socket and what its plug thread finished
    /// (bounded, non-blocking).
    pub(super) fn serve_fence_service(&mut self, now: Micros) {
        let Some(mut service) = self.fence_service.take() else { return };
        let mut drain = [0u8; 16];
        while matches!(service.wake.read(&mut drain), Ok(n) if n > 0) {}
        while let Ok((command, done)) = service.results.try_recv() {
            let plug = service.plugs[command.plug].node.clone();
            let (answer, text, ok, trap) = conclude(&plug, done);
            let w = words::fence_service_done(&plug, command.action.as_str(), &text, ok);
            service.last_command = Some(crate::status::FenceServiceCommand {
                plug: plug.clone(),
                action: command.action.as_str().into(),
                ok,
                result: text.clone(),
                at_wall_ms: super::wall_clock_ms(),
            });
            let effects = fanout::worded(&w, trap);
            // A status read is no event (the fencer may ask often); a failed one is.
            if command.action != Action::Status || !ok {
                self.fan_out(now, effects);
            } else {
                log::log!(effects.level, "{}", effects.line);
            }
            if let Some((to, reply)) = service.server.finish(now, &command.nonce, answer) {
                service.send(to, &reply);
            }
        }
        for _ in 0..MAX_DATAGRAMS_PER_POLL {
            let (n, from) = match service.socket.recv_from(&mut service.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log::debug!("fence service: {e}");
                    break;
                }
            };
            let urandom = &mut service.urandom;
            let mut fresh = || {
                let mut nonce = [0u8; NONCE_BYTES];
                match urandom.read_exact(&mut nonce) {
                    Ok(()) => Some(nonce),
                    Err(e) => {
                        log::error!("fence service: /dev/urandom: {e}; no nonce issued");
                        None
                    }
                }
            };
            let handled = service.server.handle(now, from, &service.buf[..n], &mut fresh);
            if let Some(reply) = &handled.reply {
                service.send(from, reply);
            }
            match handled.outcome {
                Outcome::Accepted => {
                    let command = handled.command.expect("an accepted request is a command");
                    let channel = service.plugs[command.plug].clone();
                    let w =
                        words::fence_service_taken(&channel.node, command.action.as_str(), &from.to_string());
                    let effects = fanout::worded(&w, None);
                    if command.action != Action::Status {
                        self.fan_out(now, effects);
                    } else {
                        log::log!(effects.level, "{}", effects.line);
                    }
                    if service.jobs.send(Job { command: command.clone(), channel }).is_err() {
                        // The thread is gone: answer a failure rather than leave the client waiting.
                        let answer = Answer::Failed(protocol::reason("the box's plug thread has stopped"));
                        if let Some((to, reply)) = service.server.finish(now, &command.nonce, answer) {
                            service.send(to, &reply);
                        }
                    }
                }
                Outcome::Refused { action, plug, refusal } => {
                    let w = words::fence_service_refused(
                        &plug,
                        action.as_str(),
                        &from.to_string(),
                        refusal.as_str(),
                    );
                    self.fan_out(now, fanout::worded(&w, None));
                }
                Outcome::Unauthenticated(why) => log::debug!("fence service: {from}: {}", why.as_str()),
                Outcome::Dropped(why) => log::debug!("fence service: {from}: dropped ({why:?})"),
                Outcome::Challenged | Outcome::Retransmission | Outcome::Listed => {}
            }
        }
        self.fence_service = Some(service);
    }
}

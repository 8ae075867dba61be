//! The transports of the links: serial lines, UDP sockets and raw Ethernet interfaces, opened
//! by the loop (never blocking it: every open is non-blocking and fails or succeeds at once),
//! the frames the engine sends written to them, and the frames read from them decoded and
//! handed to the engine with the link they came on.
//!
//! A transport that cannot open (a serial port with no UART behind it, a missing device, an
//! address not on this machine) or that failed is a transport that is down: its links show the
//! reason in the status, it is logged once per change of reason, and it is retried on a
//! bounded, backed-off schedule ([`REOPEN_INITIAL_MS`] doubling up to [`REOPEN_MAX_MS`]) while
//! every other link, the watchdog feeding and the rest of the loop go on.
//!
//! Owns the descriptors, the per-transport open state and reopen schedule, the receive buffers
//! (reused: no allocation per frame once warm) and the links' health stamp for the watchdog
//! (rule N3). Several links may share one transport (UDP links on one local address, Ethernet
//! links on one interface). It decides nothing about liveness: what a frame, a silence or an
//! error means is `core::membership`'s.

#![forbid(unsafe_code)]

use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;

use crate::config::{Config, LinkKind};
use crate::core::engine::Engine;
use crate::core::membership::{RxError, Verdict};
use crate::links::raw_eth::RawEthernet;
use crate::links::serial::{SerialItem, SerialLink};
use crate::links::udp::UdpLink;
use crate::time::Micros;
use crate::wire::{self, ClusterKey, DecodeError, SerialError, MAX_FRAME_BYTES};

/// A transport that failed to open (or went away) is retried after this long at first ...
pub const REOPEN_INITIAL_MS: u64 = 1000;
/// ... the wait doubling after each failed attempt up to this (reset by a successful open).
pub const REOPEN_MAX_MS: u64 = 30_000;

/// The wait before the next attempt after `failures` consecutive failed opens (1, 2, ...):
/// [`REOPEN_INITIAL_MS`] doubled per earlier failure, at most [`REOPEN_MAX_MS`].
pub fn reopen_delay_ms(failures: u32) -> u64 {
    assert!(failures >= 1, "a delay is only scheduled after a failure");
    // 2^16 s is far past the cap: no overflow, whatever the count.
    let doublings = (failures - 1).min(16);
    (REOPEN_INITIAL_MS << doublings).min(REOPEN_MAX_MS)
}

enum Medium {
    Serial(SerialLink),
    Udp { local: SocketAddr, broadcast: bool, socket: Option<UdpLink> },
    Ethernet { interface: String, socket: Option<RawEthernet> },
}

pub struct Transport {
    medium: Medium,
    /// Indices (into the configuration's and the core's link lists) served by this transport.
    links: Vec<usize>,
    pub retry_at: Option<Micros>,
    /// Last open error, logged once per change.
    pub last_error: Option<String>,
    /// Consecutive failed opens since the transport was last open (drives the backoff).
    pub open_failures: u32,
}

impl Transport {
    pub fn name(&self) -> String {
        match &self.medium {
            Medium::Serial(s) => format!("serial {}", s.device().display()),
            Medium::Udp { local, .. } => format!("udp {local}"),
            Medium::Ethernet { interface, .. } => format!("ethernet {interface}"),
        }
    }

    /// What the status says of a transport that is down: why, and when it is tried again.
    pub fn down_note(&self, now: Micros) -> Option<String> {
        let error = self.last_error.as_ref()?;
        let retry = match self.retry_at {
            Some(at) => {
                format!("; failed attempts: {}, next in {} ms", self.open_failures, at.since_us(now) / 1000)
            }
            None => String::new(),
        };
        Some(format!("cannot open: {error}{retry}"))
    }

    /// Close after an error on an open transport, and schedule the reopen.
    fn close_and_retry(&mut self, now: Micros) {
        self.close();
        self.retry_at = Some(now.plus_ms(REOPEN_INITIAL_MS));
    }

    pub fn is_open(&self) -> bool {
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

    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.medium {
            Medium::Serial(s) => s.fd(),
            Medium::Udp { socket, .. } => socket.as_ref().map(|s| s.fd()),
            Medium::Ethernet { socket, .. } => socket.as_ref().map(|s| s.fd()),
        }
    }
}

/// Every transport of this member, and which serves each link.
pub struct Transports {
    list: Vec<Transport>,
    /// Link index -> transport index.
    link_transport: Vec<usize>,
    /// When the loop last handed a due frame to its transport: the links' health source of the
    /// watchdog feed (rule N3).
    serviced_at: Micros,
    /// Receive buffers reused by every `receive` (no allocation per frame once warm): the
    /// frames' bytes, each frame's (start, length) in them, and the transport's errors.
    rx_bytes: Vec<u8>,
    rx_spans: Vec<(usize, usize)>,
    rx_errors: Vec<RxError>,
}

impl Transports {
    /// One transport per serial line, UDP local address and Ethernet interface; none open yet
    /// (the loop's first [`Transports::maintain`] opens them).
    pub fn new(cfg: &Config) -> Transports {
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
                        open_failures: 0,
                    });
                    transports.len() - 1
                }
            };
            link_transport.push(t);
        }
        Transports {
            list: transports,
            link_transport,
            serviced_at: Micros::ZERO,
            rx_bytes: Vec::new(),
            rx_spans: Vec::new(),
            rx_errors: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The transports, in the order of their indices.
    pub fn iter(&self) -> impl Iterator<Item = &Transport> {
        self.list.iter()
    }

    /// The transport serving link `index`.
    pub fn of_link(&self, index: usize) -> &Transport {
        &self.list[self.link_transport[index]]
    }

    /// When the loop last serviced the links: handed a frame the engine had due to its
    /// transport, whatever became of it. The links' health source of the watchdog feed (rule
    /// N3): it goes stale when the loop stops producing or sending heartbeats, not when a
    /// transport is down. A link that cannot open, or a cable that is cut, is a fault of the
    /// network, reported as such (link down, the reason in the status); it is not this
    /// agent's ill health, and a box whose serial card is broken must not reset itself forever.
    /// Losing the cluster is the core's to judge (`Engine::feed_allowed`: rule N2).
    pub fn serviced_at(&self) -> Micros {
        self.serviced_at
    }

    /// The earliest reopen due.
    pub fn next_retry(&self) -> Option<Micros> {
        self.list.iter().filter_map(|t| t.retry_at).min()
    }

    /// Open what is due to be (re)opened.
    pub fn maintain(&mut self, now: Micros) {
        for t in &mut self.list {
            let Some(at) = t.retry_at else { continue };
            if now < at {
                continue;
            }
            match t.open() {
                Ok(()) => {
                    t.retry_at = None;
                    t.open_failures = 0;
                    if t.last_error.take().is_some() {
                        log::info!("{}: open again", t.name());
                    } else {
                        log::debug!("{}: open", t.name());
                    }
                }
                Err(e) => {
                    t.open_failures = t.open_failures.saturating_add(1);
                    let delay_ms = reopen_delay_ms(t.open_failures);
                    let text = e.to_string();
                    // Once per change of state (or of reason), not per attempt.
                    if t.last_error.as_deref() != Some(text.as_str()) {
                        log::warn!(
                            "{}: cannot open ({text}); link down, retrying after {REOPEN_INITIAL_MS} ms, \
                             doubling up to {REOPEN_MAX_MS} ms",
                            t.name()
                        );
                        t.last_error = Some(text);
                    }
                    log::debug!(
                        "{}: open attempt {} failed; next in {delay_ms} ms",
                        t.name(),
                        t.open_failures
                    );
                    t.retry_at = Some(now.plus_ms(delay_ms));
                }
            }
        }
    }

    /// Send every frame the engine has due.
    pub fn send_due(&mut self, now: Micros, engine: &mut Engine, key: &ClusterKey, cfg: &Config) {
        while let Some((link_index, header, msg)) = engine.poll_transmit(now) {
            let mut buf = [0u8; MAX_FRAME_BYTES];
            let n = match wire::encode(key, &header, &msg, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    // A bound was exceeded by our own message: a bug, never input-driven.
                    log::error!("cannot encode heartbeat: {e:?}");
                    engine.handle_send_error(link_index);
                    continue;
                }
            };
            let frame = &buf[..n];
            let t = self.link_transport[link_index];
            let transport = &mut self.list[t];
            let result = match (&mut transport.medium, &cfg.links[link_index].kind) {
                (Medium::Serial(s), _) => s.send(frame),
                (Medium::Udp { socket: Some(s), .. }, LinkKind::Udp { remote, .. }) => s.send(*remote, frame),
                (Medium::Ethernet { socket: Some(s), .. }, _) => s.send(frame),
                _ => Err(io::Error::from(io::ErrorKind::NotConnected)),
            };
            // Serviced, whatever the medium did with it (see `serviced_at`).
            self.serviced_at = now;
            if let Err(e) = result {
                engine.handle_send_error(link_index);
                log::debug!("link {}: send failed: {e}", cfg.links[link_index].id);
                if matches!(transport.medium, Medium::Serial(_))
                    && e.kind() != io::ErrorKind::WouldBlock
                    && e.kind() != io::ErrorKind::NotConnected
                    && transport.is_open()
                {
                    log::warn!("{}: write error ({e}); reopening", transport.name());
                    transport.close_and_retry(now);
                }
            }
        }
    }

    /// Which of this transport's links to blame for bytes that did not authenticate: the link
    /// id the bytes claim, if it is one of ours here, else the transport's first link.
    fn attribute(&self, t: usize, bytes: &[u8], cfg: &Config) -> usize {
        let links = &self.list[t].links;
        if let Some(&claimed) = bytes.get(7) {
            if let Some(&i) = links.iter().find(|&&i| cfg.links[i].id == claimed) {
                return i;
            }
        }
        links[0]
    }

    fn handle_bytes(
        &self,
        t: usize,
        bytes: &[u8],
        now: Micros,
        engine: &mut Engine,
        key: &ClusterKey,
        cfg: &Config,
    ) {
        let attributed = self.attribute(t, bytes, cfg);
        match wire::decode(key, cfg.cluster_id, bytes) {
            Ok((header, msg)) => match engine.handle_frame(now, Some(attributed), &header, &msg) {
                Verdict::Accepted => {}
                Verdict::Replay => log::debug!("link {}: replayed frame dropped", header.link),
                Verdict::UnknownLink => {
                    log::debug!("frame for unknown link {} from member {}", header.link, header.sender)
                }
                Verdict::FromSelf => {}
            },
            Err(DecodeError::BadMac) | Err(DecodeError::WrongCluster(_)) => {
                engine.handle_rx_error(attributed, RxError::Auth)
            }
            Err(e) => {
                log::debug!("malformed frame on {}: {e:?}", self.list[t].name());
                engine.handle_rx_error(attributed, RxError::Malformed)
            }
        }
    }

    /// Read what transport `t` has (bounded by the transport's own per-call limits) and hand
    /// each frame, and each error, to the engine.
    pub fn receive(&mut self, t: usize, now: Micros, engine: &mut Engine, key: &ClusterKey, cfg: &Config) {
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
        let result = match &mut self.list[t].medium {
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
        let first = self.list[t].links[0];
        for &e in &errors {
            engine.handle_rx_error(first, e);
        }
        for &(start, len) in &spans {
            self.handle_bytes(t, &bytes[start..start + len], now, engine, key, cfg);
        }
        self.rx_bytes = bytes;
        self.rx_spans = spans;
        self.rx_errors = errors;
        if let Err(e) = result {
            let transport = &mut self.list[t];
            log::warn!("{}: receive error ({e}); reopening in {REOPEN_INITIAL_MS} ms", transport.name());
            transport.close_and_retry(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config;
    use crate::shell::{authority, core_params};

    /// A witness whose two links are serial ports that do not exist: nothing ever opens.
    fn no_ports() -> String {
        let text = config::tests::MINIMAL.replace("/dev/ttyS1", "/nonexistent/ttyS1").replace(
            "kind = \"ethernet\"\ninterface = \"eth1\"",
            "kind = \"serial\"\ndevice = \"/nonexistent/ttyS2\"",
        );
        assert!(text.contains("/nonexistent/ttyS2"), "MINIMAL's second link changed: {text}");
        text
    }

    /// Run the loop's link duties (reopen, timers, send) every `step_ms` up to `until_ms`.
    fn run(transports: &mut Transports, engine: &mut Engine, cfg: &Config, until_ms: u64, step_ms: u64) {
        let key = ClusterKey(heapless::Vec::from_slice(&[7u8; 32]).unwrap());
        let mut t_ms = 0;
        while t_ms <= until_ms {
            let now = Micros::from_ms(t_ms);
            transports.maintain(now);
            engine.handle_timeout(now);
            transports.send_due(now, engine, &key, cfg);
            t_ms += step_ms;
        }
    }

    #[test]
    fn links_that_never_open_keep_the_watchdog_fed_and_are_retried_with_backoff() {
        let cfg =
            config::parse_str(&no_ports(), Path::new("/etc/ha-agent/agent.toml")).expect("valid config");
        let mut engine = Engine::new(core_params(&cfg, 1), authority::role_config(&cfg, 0), Micros::ZERO);
        let mut transports = Transports::new(&cfg);
        let until_ms = 10_000;
        run(&mut transports, &mut engine, &cfg, until_ms, 50);
        assert!(transports.iter().all(|t| !t.is_open()));
        // The heartbeats were handed to the (down) links on schedule: the links' health source
        // is fresh, within one heartbeat interval, though no transport ever opened.
        let age_ms = Micros::from_ms(until_ms).since_us(transports.serviced_at()) / 1000;
        assert!(age_ms <= cfg.timing.interval_ms, "links health stamp {age_ms} ms old");
        // Attempts at 0, 1, 3 and 7 s; the next at 15 s (not one per second: 11 by 10 s).
        for t in transports.iter() {
            assert_eq!(t.open_failures, 4, "{}", t.name());
            assert_eq!(t.retry_at, Some(Micros::from_ms(15_000)), "{}", t.name());
            let note = t.down_note(Micros::from_ms(until_ms)).expect("a down note");
            assert!(
                note.contains("No such file") && note.contains("failed attempts: 4, next in 5000 ms"),
                "{note}"
            );
        }
    }

    #[test]
    fn the_reopen_delay_doubles_from_one_second_up_to_thirty() {
        let delays: Vec<u64> = (1..=8).map(reopen_delay_ms).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
        assert_eq!(reopen_delay_ms(u32::MAX), REOPEN_MAX_MS);
    }
}

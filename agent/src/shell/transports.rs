//! The transports of the links: serial lines, UDP sockets and raw Ethernet interfaces, opened
//! (and reopened after an error, every [`REOPEN_INTERVAL_MS`]) by the loop, the frames the
//! engine sends written to them, and the frames read from them decoded and handed to the
//! engine with the link they came on.
//!
//! Owns the descriptors, the per-transport open state and the receive buffers (reused: no
//! allocation per frame once warm). Several links may share one transport (UDP links on one
//! local address, Ethernet links on one interface). It decides nothing about liveness: what a
//! frame, a silence or an error means is `core::membership`'s.

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

/// A transport that failed to open (or went away) is retried this often.
pub const REOPEN_INTERVAL_MS: u64 = 1000;

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
}

impl Transport {
    pub fn name(&self) -> String {
        match &self.medium {
            Medium::Serial(s) => format!("serial {}", s.device().display()),
            Medium::Udp { local, .. } => format!("udp {local}"),
            Medium::Ethernet { interface, .. } => format!("ethernet {interface}"),
        }
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
    /// When a frame was last sent on any link: a health source of the watchdog feed (rule N3).
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

    /// When a frame was last sent while a transport is open (else never): the links' health
    /// source of the watchdog feed.
    pub fn serviced_at(&self) -> Micros {
        if self.list.iter().any(|t| t.is_open()) {
            self.serviced_at
        } else {
            Micros::ZERO
        }
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
            if result.is_ok() {
                self.serviced_at = now;
            }
            if let Err(e) = result {
                engine.handle_send_error(link_index);
                log::debug!("link {}: send failed: {e}", cfg.links[link_index].id);
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
            log::warn!("{}: receive error ({e}); reopening in {REOPEN_INTERVAL_MS} ms", transport.name());
            transport.close();
            transport.retry_at = Some(now.plus_ms(REOPEN_INTERVAL_MS));
        }
    }
}

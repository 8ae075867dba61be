//! The built-in `builtin:ipaddr` resource against the real kernel: two network namespaces
//! joined by a veth pair, the resource's actions carried out through the resource runner
//! (`shell::ocf::Runner`, as the agent runs them) in namespace `a`, checked with `ip -o addr`,
//! and its announcements captured on a packet socket in namespace `b`.
//!
//! The orchestrating tests create the namespaces with iproute2 and run this test binary again
//! inside them (`ip netns exec NS <this binary> --exact HELPER --ignored`): the `act` helper
//! carries out one action and prints its result (after a start it stays until its
//! announcements are sent); the `capture` helper prints a ready line, then every gratuitous
//! ARP or neighbour advertisement of the floating address it sees, until it has seen the
//! expected number or its deadline passes (a deadline only turns a hang into a failure). The
//! peer's kernel must also take them in: a stale neighbour entry at another MAC in `b` is
//! overridden with `a`'s.
//!
//! Without root or iproute2 the tests print `SKIPPED: ...` and pass, unless
//! `HA_REQUIRE_NETNS=1` is set (`make test-netns`), which turns the skip into a failure.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ha_agent::core::resources::agent::Builtin;
use ha_agent::core::resources::{Action, ActionRequest, Agent, Name, ResourceSpec};
use ha_agent::links::packet_sys::PacketSocket;
use ha_agent::shell::ocf::Runner;
use ha_agent::time::Micros;
use rustix::event::{PollFd, PollFlags, Timespec};

const ENV_REQUIRE_NETNS: &str = "HA_REQUIRE_NETNS";
const ENV_ACTION: &str = "HA_IPADDR_ACTION";
const ENV_PARAMS: &str = "HA_IPADDR_PARAMS";
const ENV_INTERFACE: &str = "HA_IPADDR_INTERFACE";
const ENV_IP: &str = "HA_IPADDR_IP";
const ENV_EXPECT: &str = "HA_IPADDR_EXPECT";
const READY_LINE: &str = "HA-IPADDR-CAPTURE-READY";
const RESULT_PREFIX: &str = "HA-IPADDR-RESULT ";
const SEEN_PREFIX: &str = "HA-IPADDR-SEEN ";
/// Turns a hang into a failure; never reached when things work.
const HELPER_DEADLINE: Duration = Duration::from_secs(10);
const POLL_TIMEOUT_MS: i64 = 10;
const ETHERTYPE_ALL: u16 = 0x0003;
const MAC_A: [u8; 6] = [0x02, 0x49, 0x50, 0x00, 0x00, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0x49, 0x50, 0x00, 0x00, 0x0b];
/// A neighbour entry the announcements must override.
const STALE_MAC: &str = "02:49:50:00:00:99";
/// Bound on the wait for the peer's kernel to take an announcement in.
const NEIGHBOUR_DEADLINE: Duration = Duration::from_secs(5);

fn format_mac(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

// ---------------------------------------------------------------------------------------------
// Orchestration (the initial namespace).

struct Rig {
    a: String,
    b: String,
    ia: String,
    ib: String,
    created: Vec<String>,
}

fn ip(args: &[&str]) -> Result<String, String> {
    let output = Command::new("ip").args(args).output().map_err(|e| format!("cannot run ip: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("`ip {}`: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

fn ip_cmd(args: &[&str]) {
    ip(args).unwrap_or_else(|e| panic!("{e}"));
}

impl Rig {
    /// `None` (after printing why) when namespaces are unavailable and not required.
    fn create(tag: &str) -> Option<Rig> {
        let pid = std::process::id();
        let mut rig = Rig {
            a: format!("hip-{pid}-{tag}-a"),
            b: format!("hip-{pid}-{tag}-b"),
            ia: format!("ia{tag}{pid}"),
            ib: format!("ib{tag}{pid}"),
            created: Vec::new(),
        };
        for ns in [rig.a.clone(), rig.b.clone()] {
            if let Err(e) = ip(&["netns", "add", &ns]) {
                if std::env::var(ENV_REQUIRE_NETNS).as_deref() == Ok("1") {
                    panic!("{ENV_REQUIRE_NETNS}=1 but network namespaces are unavailable: {e}");
                }
                eprintln!("SKIPPED: the ipaddr netns test needs root and iproute2: {e}");
                return None;
            }
            rig.created.push(ns);
        }
        let (mac_a, mac_b) = (format_mac(MAC_A), format_mac(MAC_B));
        let steps: Vec<Vec<&str>> = vec![
            vec![
                "link", "add", "name", &rig.ia, "address", &mac_a, "netns", &rig.a, "type", "veth", "peer",
                "name", &rig.ib, "address", &mac_b, "netns", &rig.b,
            ],
            vec!["-n", &rig.a, "addr", "add", "10.78.0.1/24", "dev", &rig.ia],
            vec!["-n", &rig.b, "addr", "add", "10.78.0.2/24", "dev", &rig.ib],
            vec!["-n", &rig.a, "addr", "add", "fd00:78::1/64", "dev", &rig.ia, "nodad"],
            vec!["-n", &rig.b, "addr", "add", "fd00:78::2/64", "dev", &rig.ib, "nodad"],
            vec!["-n", &rig.a, "link", "set", &rig.ia, "up"],
            vec!["-n", &rig.b, "link", "set", &rig.ib, "up"],
        ];
        for step in steps {
            ip(&step).unwrap_or_else(|e| panic!("setting up the namespaces failed: {e}"));
        }
        // b receives IPv6 multicast (the advertisements go to ff02::1) only once IPv6 has set
        // up the interface's multicast route after the link came up.
        let deadline = Instant::now() + NEIGHBOUR_DEADLINE;
        loop {
            let routes = ip(&["-n", &rig.b, "-6", "route", "show", "table", "local", "dev", &rig.ib])
                .expect("ip route");
            if routes.contains("ff00::/8") {
                break;
            }
            assert!(Instant::now() < deadline, "IPv6 never set up {} in {}: {routes}", rig.ib, rig.b);
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(rig)
    }

    fn helper(&self, namespace: &str, test: &str) -> Command {
        let exe = std::env::current_exe().expect("path of this test binary");
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace])
            .arg(exe)
            .args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// One action in namespace `a`: its result line (`exit 0 (success)|reason`).
    fn act(&self, action: &str, params: &str) -> String {
        let output = self
            .helper(&self.a, "act_helper")
            .env(ENV_ACTION, action)
            .env(ENV_PARAMS, params)
            .output()
            .expect("run the act helper");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().find_map(|l| l.split_once(RESULT_PREFIX).map(|(_, r)| r.to_string()));
        line.unwrap_or_else(|| panic!("{action} gave no result:\n{}", describe(&output)))
    }

    /// Start the capture in namespace `b`, back once it listens.
    fn capture(&self, ip: &str, expect: usize) -> Capture {
        let mut child = self
            .helper(&self.b, "capture_helper")
            .env(ENV_INTERFACE, &self.ib)
            .env(ENV_IP, ip)
            .env(ENV_EXPECT, expect.to_string())
            .spawn()
            .expect("spawn the capture helper");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut transcript = String::new();
        let mut line = String::new();
        while stdout.read_line(&mut line).expect("read the capture helper") > 0 {
            transcript.push_str(&line);
            if line.trim_end().ends_with(READY_LINE) {
                // The rest is read to its end in a thread, joined by `finish`.
                let reader = std::thread::spawn(move || {
                    let mut rest = String::new();
                    let _ = stdout.read_to_string(&mut rest);
                    rest
                });
                return Capture { child, reader };
            }
            line.clear();
        }
        let output = child.wait_with_output().expect("wait for the capture helper");
        panic!("the capture helper ended before it was ready:\n{transcript}\n{}", describe(&output));
    }

    /// Give namespace `b` a stale neighbour entry for `ip` at a foreign MAC, which only an
    /// announcement the kernel accepts can override.
    fn stale_neighbour(&self, ip: &str) {
        ip_cmd(&[
            "-n", &self.b, "neigh", "replace", ip, "lladdr", STALE_MAC, "dev", &self.ib, "nud", "stale",
        ]);
    }

    /// Wait (bounded) until `b`'s neighbour table has `ip` at `mac`.
    fn wait_neighbour(&self, address: &str, mac: [u8; 6]) {
        let deadline = Instant::now() + NEIGHBOUR_DEADLINE;
        let want = format!("lladdr {}", format_mac(mac));
        loop {
            let table = ip(&["-n", &self.b, "neigh", "show", address, "dev", &self.ib]).expect("ip neigh");
            if table.contains(&want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "b's neighbour entry for {address} never became {want}: {table}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn addresses(&self) -> String {
        ip(&["-n", &self.a, "-o", "addr", "show", "dev", &self.ia]).expect("ip addr")
    }
}

struct Capture {
    child: Child,
    reader: std::thread::JoinHandle<String>,
}

impl Capture {
    /// Wait for the capture helper (it ends by itself: expected count seen, or its deadline)
    /// and return the announcements it saw.
    fn finish(mut self) -> Vec<String> {
        let status = self.child.wait().expect("wait for the capture helper");
        let rest = self.reader.join().expect("the reader thread");
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        assert!(status.success(), "capture helper failed ({status}):\n{rest}\n{stderr}");
        rest.lines().filter_map(|l| l.split_once(SEEN_PREFIX).map(|(_, s)| s.to_string())).collect()
    }
}

fn describe(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

impl Drop for Rig {
    fn drop(&mut self) {
        for ns in &self.created {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

#[test]
fn an_ipv4_address_is_added_announced_monitored_and_removed() {
    let Some(rig) = Rig::create("4") else { return };
    let params = format!("ip=10.78.0.100,cidr_netmask=24,nic={},arp_count=3,arp_interval=20", rig.ia);
    assert_eq!(rig.act("monitor", &params), "exit 7 (not running)|");
    rig.stale_neighbour("10.78.0.100");
    let capture = rig.capture("10.78.0.100", 3);
    assert_eq!(rig.act("start", &params), "exit 0 (success)|");
    let seen = capture.finish();
    assert_eq!(
        seen,
        vec![format!("arp 10.78.0.100 from {}", format_mac(MAC_A)); 3],
        "the peer saw the gratuitous ARPs"
    );
    rig.wait_neighbour("10.78.0.100", MAC_A);
    let listed = rig.addresses();
    assert!(listed.contains("inet 10.78.0.100/24 brd 10.78.0.255"), "{listed}");
    assert_eq!(rig.act("monitor", &params), "exit 0 (success)|");
    assert_eq!(rig.act("start", &params), "exit 0 (success)|", "a second start keeps the address");
    assert_eq!(rig.act("stop", &params), "exit 0 (success)|");
    let listed = rig.addresses();
    assert!(!listed.contains("10.78.0.100"), "{listed}");
    assert!(listed.contains("10.78.0.1/24"), "the interface's own address stays: {listed}");
    assert_eq!(rig.act("monitor", &params), "exit 7 (not running)|");
    assert_eq!(rig.act("stop", &params), "exit 0 (success)|", "stopping an absent address succeeds");

    // Without nic and cidr_netmask: the interface and prefix of the subnet that holds ip.
    let found = "ip=10.78.0.101,arp_count=0";
    assert_eq!(rig.act("start", found), "exit 0 (success)|");
    let listed = rig.addresses();
    assert!(listed.contains("inet 10.78.0.101/24"), "{listed}");
    assert_eq!(rig.act("stop", found), "exit 0 (success)|");
    assert!(!rig.addresses().contains("10.78.0.101"));

    // An interface that goes down fails the monitor (IPaddr2's check_link_status).
    assert_eq!(rig.act("start", &params), "exit 0 (success)|");
    ip(&["-n", &rig.a, "link", "set", &rig.ia, "down"]).unwrap();
    let down = rig.act("monitor", &params);
    assert!(down.starts_with("exit 1 (generic error)|10.78.0.100 is on"), "{down}");
    assert_eq!(rig.act("stop", &params), "exit 0 (success)|");
}

#[test]
fn an_ipv6_address_is_added_without_dad_and_advertised() {
    let Some(rig) = Rig::create("6") else { return };
    let params = format!("ip=fd00:78::100,cidr_netmask=64,nic={},arp_count=2,arp_interval=20", rig.ia);
    rig.stale_neighbour("fd00:78::100");
    let capture = rig.capture("fd00:78::100", 2);
    assert_eq!(rig.act("start", &params), "exit 0 (success)|");
    let seen = capture.finish();
    assert_eq!(
        seen,
        vec![format!("na fd00:78::100 from {}", format_mac(MAC_A)); 2],
        "the peer saw the advertisements"
    );
    rig.wait_neighbour("fd00:78::100", MAC_A);
    let listed = rig.addresses();
    let line = listed.lines().find(|l| l.contains("fd00:78::100/64")).unwrap_or_else(|| panic!("{listed}"));
    assert!(!line.contains("tentative"), "usable at once: {line}");
    assert_eq!(rig.act("monitor", &params), "exit 0 (success)|");
    assert_eq!(rig.act("stop", &params), "exit 0 (success)|");
    assert!(!rig.addresses().contains("fd00:78::100"));
    assert_eq!(rig.act("monitor", &params), "exit 7 (not running)|");
}

#[test]
fn a_missing_interface_is_a_clear_failure() {
    let Some(rig) = Rig::create("m") else { return };
    let params = "ip=10.78.0.100,cidr_netmask=24,nic=nosuch0";
    assert_eq!(
        rig.act("start", params),
        "exit 6 (not configured)|network interface nosuch0 does not exist on this node"
    );
    assert_eq!(rig.act("monitor", params), "exit 1 (generic error)|network interface nosuch0 does not exist");
    assert_eq!(rig.act("stop", params), "exit 0 (success)|", "nothing can be configured on it");
    let unreachable = "ip=172.31.0.5";
    let refused = rig.act("start", unreachable);
    assert_eq!(refused, "exit 6 (not configured)|no interface has a subnet holding 172.31.0.5: set nic");
}

// ---------------------------------------------------------------------------------------------
// Helpers (run inside a namespace by the tests above).

#[test]
#[ignore = "run by the netns tests inside a namespace"]
fn act_helper() {
    let action = match std::env::var(ENV_ACTION).expect("action").as_str() {
        "start" => Action::Start,
        "stop" => Action::Stop,
        "monitor" => Action::Monitor,
        other => panic!("unknown action {other}"),
    };
    let mut params = heapless::Vec::new();
    for pair in std::env::var(ENV_PARAMS).expect("params").split(',') {
        let (k, v) = pair.split_once('=').expect("k=v");
        params.push((k.to_string(), v.to_string())).expect("few params");
    }
    let spec = ResourceSpec {
        name: Name::try_from("vip").unwrap(),
        agent: Agent::Builtin(Builtin::IpAddr),
        params,
        start_timeout_ms: 20_000,
        stop_timeout_ms: 20_000,
        monitor_timeout_ms: 10_000,
        monitor_interval_ms: 10_000,
    };
    let request =
        ActionRequest { id: 1, resource: 0, action, timeout_ms: 10_000, interval_ms: 0, generation: 1 };
    let origin = Instant::now();
    let now = || Micros::from_ms(0).plus_us(origin.elapsed().as_micros() as u64);
    let mut runner = Runner::new();
    runner.spawn(now(), &request, &spec).expect("a free slot");
    let finished = runner.poll_children(now());
    assert_eq!(finished.len(), 1, "a built-in action is over at the next poll");
    let f = &finished[0];
    eprintln!("{}: {} after {} ms: {}", action.as_str(), f.outcome, f.elapsed_ms, f.output);
    println!("{RESULT_PREFIX}{}|{}", f.outcome, f.exit_reason);
    // Stay while announcements are due, sleeping until each.
    while let Some(due) = runner.next_deadline() {
        assert!(origin.elapsed() < HELPER_DEADLINE, "announcements never ended");
        let wait = due.since_us(now());
        std::thread::sleep(Duration::from_micros(wait));
        runner.poll_children(now());
    }
}

#[test]
#[ignore = "run by the netns tests inside a namespace"]
fn capture_helper() {
    let interface = std::env::var(ENV_INTERFACE).expect("interface");
    let ip: IpAddr = std::env::var(ENV_IP).expect("ip").parse().expect("an address");
    let expect: usize = std::env::var(ENV_EXPECT).expect("count").parse().expect("a count");
    let socket = PacketSocket::open(&interface, ETHERTYPE_ALL).expect("packet socket");
    println!("{READY_LINE}");
    let deadline = Instant::now() + HELPER_DEADLINE;
    let mut seen = 0;
    let mut buffer = [0u8; 2048];
    while seen < expect {
        assert!(Instant::now() < deadline, "saw {seen} of {expect} announcements of {ip}");
        let fd = socket.fd();
        let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
        let _ = rustix::event::poll(
            &mut fds,
            Some(&Timespec { tv_sec: 0, tv_nsec: POLL_TIMEOUT_MS * 1_000_000 }),
        );
        while let Ok(packet) = socket.recv(&mut buffer) {
            let frame = &buffer[..packet.packet_bytes.min(buffer.len())];
            if let Some(line) = announcement(frame, ip) {
                println!("{SEEN_PREFIX}{line}");
                seen += 1;
            }
        }
    }
}

/// `arp IP from MAC` for a gratuitous ARP of `ip`, `na IP from MAC` for an unsolicited
/// neighbour advertisement of `ip` (override flag, target link-layer address).
fn announcement(frame: &[u8], ip: IpAddr) -> Option<String> {
    if frame.len() < 14 {
        return None;
    }
    let source: [u8; 6] = frame[6..12].try_into().ok()?;
    match (u16::from_be_bytes([frame[12], frame[13]]), ip) {
        (0x0806, IpAddr::V4(ip)) if frame.len() >= 42 => {
            let request = frame[20..22] == [0, 1];
            let gratuitous = frame[28..32] == ip.octets() && frame[38..42] == ip.octets();
            (request && gratuitous && frame[22..28] == source)
                .then(|| format!("arp {ip} from {}", format_mac(source)))
        }
        (0x86dd, IpAddr::V6(ip)) if frame.len() >= 86 => {
            let icmp = &frame[54..];
            let na = frame[20] == 58 && icmp[0] == 136 && icmp[4] & 0x20 != 0 && icmp[8..24] == ip.octets();
            let tlla = icmp[24] == 2 && icmp[26..32] == source;
            (na && tlla).then(|| format!("na {ip} from {}", format_mac(source)))
        }
        _ => None,
    }
}

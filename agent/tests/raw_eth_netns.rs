//! The raw Ethernet link across a real segment: two network namespaces joined by a veth pair.
//!
//! The orchestrating test creates the namespaces and the veth pair with iproute2, then runs
//! this test binary again inside each namespace (`ip netns exec NS <this binary> --exact
//! netns_helper --ignored`), with environment variables naming the role (`a` or `b`), the
//! interface and the MAC addresses. Role `b` starts first and says `READY` on stdout; role
//! `a` then injects bad packets and sends good frames; `b` checks what arrived and answers
//! with its own frames, which `a` checks. Each helper bounds its wait with a deadline that
//! only turns a hang into a failure; no assertion depends on timing.
//!
//! Without root or iproute2 the test prints `SKIPPED: ...` and passes, unless
//! `HA_REQUIRE_NETNS=1` is set, which turns the skip into a failure.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ha_agent::links::packet_sys::PacketSocket;
use ha_agent::links::raw_eth::{RawEthernet, ETHERTYPE_HA, MAX_PACKETS_PER_RECV};
use ha_agent::wire::MAX_FRAME_BYTES;
use rustix::event::{PollFd, PollFlags, Timespec};

const ENV_ROLE: &str = "HA_NETNS_HELPER_ROLE";
const ENV_INTERFACE: &str = "HA_NETNS_HELPER_INTERFACE";
const ENV_OWN_MAC: &str = "HA_NETNS_HELPER_OWN_MAC";
const ENV_PEER_MAC: &str = "HA_NETNS_HELPER_PEER_MAC";
const ENV_REQUIRE_NETNS: &str = "HA_REQUIRE_NETNS";
const HELPER_TEST: &str = "netns_helper";
const READY_LINE: &str = "HA-NETNS-READY";

const MAC_A: [u8; 6] = [0x02, 0x48, 0x41, 0x00, 0x00, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0x48, 0x41, 0x00, 0x00, 0x0b];
/// The veth MTU: large enough to inject a packet bigger than the receive buffer.
const VETH_MTU_BYTES: usize = 9000;
/// Frame sizes exchanged in each direction.
const FRAME_SIZES: [usize; 3] = [1, 60, MAX_FRAME_BYTES];
/// An EtherType that is not ours, for the injected foreign packet.
const ETHERTYPE_FOREIGN: u16 = 0x88B6;
/// `ETH_P_ALL`: an observer socket that sees every packet on the interface.
const ETHERTYPE_ALL: u16 = 0x0003;
/// The 0x88B5 packets `a` injects that `b` must count as malformed (see `bad_packets`).
const BAD_PACKET_COUNT: u64 = 4;
/// Turns a hang into a failure; never reached when things work.
const HELPER_DEADLINE: Duration = Duration::from_secs(20);
/// Bound on the polls of one helper (each poll waits at most `POLL_TIMEOUT_MS`).
const MAX_POLLS: usize = 2000;
const POLL_TIMEOUT_MS: i64 = 10;

// ---------------------------------------------------------------------------------------------
// Orchestration (runs in the initial namespace).

#[test]
fn raw_ethernet_frames_cross_a_veth_pair_between_namespaces() {
    let pid = std::process::id();
    let names = Names {
        namespace_a: format!("hart-{pid}-a"),
        namespace_b: format!("hart-{pid}-b"),
        interface_a: format!("hra{pid}"),
        interface_b: format!("hrb{pid}"),
    };
    let _guard = match Namespaces::create(&names) {
        Ok(guard) => guard,
        Err(Setup::Unavailable(reason)) => {
            if std::env::var(ENV_REQUIRE_NETNS).as_deref() == Ok("1") {
                panic!("{ENV_REQUIRE_NETNS}=1 but network namespaces are unavailable: {reason}");
            }
            eprintln!("SKIPPED: raw Ethernet netns test needs root and iproute2: {reason}");
            return;
        }
        Err(Setup::Failed(reason)) => panic!("setting up the namespaces failed: {reason}"),
    };

    let exe = std::env::current_exe().expect("path of this test binary");
    let helper = |namespace: &str, role: &str, interface: &str, own: [u8; 6], peer: [u8; 6]| {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace])
            .arg(&exe)
            .args(["--exact", HELPER_TEST, "--ignored", "--nocapture", "--test-threads=1"])
            .env(ENV_ROLE, role)
            .env(ENV_INTERFACE, interface)
            .env(ENV_OWN_MAC, format_mac(own))
            .env(ENV_PEER_MAC, format_mac(peer))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };

    let mut child_b =
        helper(&names.namespace_b, "b", &names.interface_b, MAC_B, MAC_A).spawn().expect("spawn helper b");
    let mut stdout_b = BufReader::new(child_b.stdout.take().expect("piped stdout"));
    let mut transcript_b = String::new();
    let mut b_ready = false;
    let mut line = String::new();
    while stdout_b.read_line(&mut line).expect("read helper b stdout") > 0 {
        transcript_b.push_str(&line);
        // The harness prints "test netns_helper ... " first, on the same line.
        if line.trim_end().ends_with(READY_LINE) {
            b_ready = true;
            break;
        }
        line.clear();
    }
    if !b_ready {
        let output = child_b.wait_with_output().expect("wait for helper b");
        panic!("helper b ended before it was ready:\n{}", describe("b", &output, &transcript_b));
    }

    let output_a =
        helper(&names.namespace_a, "a", &names.interface_a, MAC_A, MAC_B).output().expect("run helper a");
    stdout_b.read_to_string(&mut transcript_b).expect("read helper b stdout");
    let output_b = child_b.wait_with_output().expect("wait for helper b");

    let report_a = describe("a", &output_a, "");
    let report_b = describe("b", &output_b, &transcript_b);
    eprintln!("{report_a}\n{report_b}");
    assert!(output_a.status.success(), "helper a failed:\n{report_a}\n{report_b}");
    assert!(output_b.status.success(), "helper b failed:\n{report_a}\n{report_b}");
    // The helpers must really have run their role (not the "nothing to do" path).
    assert!(report_a.contains("helper a: done"), "helper a did not finish its role");
    assert!(report_b.contains("helper b: done"), "helper b did not finish its role");
}

struct Names {
    namespace_a: String,
    namespace_b: String,
    interface_a: String,
    interface_b: String,
}

enum Setup {
    /// No root, no iproute2, or the kernel refused: the only case that may skip.
    Unavailable(String),
    Failed(String),
}

/// Deletes the namespaces (and with them the veth pair) when dropped.
struct Namespaces {
    created: Vec<String>,
}

impl Namespaces {
    fn create(names: &Names) -> Result<Namespaces, Setup> {
        let mut guard = Namespaces { created: Vec::new() };
        for namespace in [&names.namespace_a, &names.namespace_b] {
            match run_ip(&["netns", "add", namespace]) {
                Ok(()) => guard.created.push(namespace.clone()),
                Err(IpError::Missing(reason)) => return Err(Setup::Unavailable(reason)),
                Err(IpError::Failed(stderr)) => {
                    let not_permitted =
                        stderr.contains("Operation not permitted") || stderr.contains("Permission denied");
                    let not_root = !rustix::process::geteuid().is_root();
                    return Err(if not_permitted || not_root {
                        Setup::Unavailable(format!("`ip netns add {namespace}` failed: {stderr}"))
                    } else {
                        Setup::Failed(format!("`ip netns add {namespace}` failed: {stderr}"))
                    });
                }
            }
        }
        let mtu = VETH_MTU_BYTES.to_string();
        let (mac_a, mac_b) = (format_mac(MAC_A), format_mac(MAC_B));
        let steps: [&[&str]; 3] = [
            &[
                "link",
                "add",
                "name",
                &names.interface_a,
                "address",
                &mac_a,
                "mtu",
                &mtu,
                "netns",
                &names.namespace_a,
                "type",
                "veth",
                "peer",
                "name",
                &names.interface_b,
                "address",
                &mac_b,
                "mtu",
                &mtu,
                "netns",
                &names.namespace_b,
            ],
            &["-n", &names.namespace_a, "link", "set", &names.interface_a, "up"],
            &["-n", &names.namespace_b, "link", "set", &names.interface_b, "up"],
        ];
        for step in steps {
            run_ip(step).map_err(|error| {
                Setup::Failed(format!("`ip {}` failed: {}", step.join(" "), error.reason()))
            })?;
        }
        Ok(guard)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for namespace in &self.created {
            if let Err(error) = run_ip(&["netns", "del", namespace]) {
                eprintln!("warning: could not delete namespace {namespace}: {}", error.reason());
            }
        }
    }
}

enum IpError {
    Missing(String),
    Failed(String),
}

impl IpError {
    fn reason(&self) -> &str {
        match self {
            IpError::Missing(reason) | IpError::Failed(reason) => reason,
        }
    }
}

fn run_ip(args: &[&str]) -> Result<(), IpError> {
    let output = Command::new("ip").args(args).stdin(Stdio::null()).output().map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            IpError::Missing("the `ip` command (iproute2) is not installed".to_owned())
        } else {
            IpError::Failed(format!("cannot run `ip`: {error}"))
        }
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(IpError::Failed(String::from_utf8_lossy(&output.stderr).trim().to_owned()))
    }
}

fn describe(role: &str, output: &Output, transcript: &str) -> String {
    format!(
        "--- helper {role} ({}) stdout:\n{transcript}{}--- helper {role} stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn format_mac(mac: [u8; 6]) -> String {
    mac.iter().map(|byte| format!("{byte:02x}")).collect::<Vec<_>>().join(":")
}

fn parse_mac(text: &str) -> [u8; 6] {
    let bytes: Vec<u8> =
        text.split(':').map(|part| u8::from_str_radix(part, 16).expect("hex MAC byte")).collect();
    bytes.try_into().expect("six MAC bytes")
}

// ---------------------------------------------------------------------------------------------
// Helpers (run inside a namespace by the orchestrating test).

/// Runs one side of the exchange when started by the orchestrating test; otherwise does
/// nothing (it is `#[ignore]`d so that a plain `cargo test` never runs it directly).
#[test]
#[ignore = "helper: run inside a network namespace by the netns test"]
fn netns_helper() {
    let Ok(role) = std::env::var(ENV_ROLE) else {
        eprintln!("netns_helper: not started by the netns test; nothing to do");
        return;
    };
    let interface = std::env::var(ENV_INTERFACE).expect("interface variable");
    let own_mac = parse_mac(&std::env::var(ENV_OWN_MAC).expect("own MAC variable"));
    let peer_mac = parse_mac(&std::env::var(ENV_PEER_MAC).expect("peer MAC variable"));
    let mut link = RawEthernet::open(&interface).expect("open RawEthernet");
    assert_eq!(link.mac().0, own_mac, "RawEthernet read the wrong MAC for {interface}");
    match role.as_str() {
        "a" => helper_a(&mut link, &interface, own_mac, peer_mac),
        "b" => helper_b(&mut link, &interface, own_mac, peer_mac),
        other => panic!("unknown helper role {other:?}"),
    }
    println!("helper {role}: done");
}

/// The frame of `size` bytes sent by `sender` ('a' or 'b'); different per size and sender.
fn test_frame(sender: u8, size: usize) -> Vec<u8> {
    (0..size).map(|i| (i as u8).wrapping_mul(31).wrapping_add(sender).wrapping_add(size as u8)).collect()
}

fn expected_frames(sender: u8) -> Vec<Vec<u8>> {
    FRAME_SIZES.iter().map(|&size| test_frame(sender, size)).collect()
}

fn ethernet_packet(source: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![0xff; 6];
    packet.extend_from_slice(&source);
    packet.extend_from_slice(&ethertype.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// A well-formed payload of ours (length prefix, frame, padding to 46 bytes).
fn good_payload(frame: &[u8]) -> Vec<u8> {
    let mut payload = (frame.len() as u16).to_be_bytes().to_vec();
    payload.extend_from_slice(frame);
    payload.resize(payload.len().max(46), 0);
    payload
}

/// The 0x88B5 packets from the peer that the receiver must drop and count as malformed.
fn bad_packets(source: [u8; 6]) -> Vec<Vec<u8>> {
    let mut length_beyond_payload = vec![0u8; 46];
    length_beyond_payload[..2].copy_from_slice(&200u16.to_be_bytes());
    let mut length_beyond_maximum = vec![0xA5u8; 1500];
    length_beyond_maximum[..2].copy_from_slice(&u16::MAX.to_be_bytes());
    let mut larger_than_buffer = vec![0u8; 2000]; // valid prefix, but bigger than the buffer
    larger_than_buffer[..2].copy_from_slice(&10u16.to_be_bytes());
    let packets = vec![
        ethernet_packet(source, ETHERTYPE_HA, &length_beyond_payload),
        ethernet_packet(source, ETHERTYPE_HA, &[0x01]), // runt: no room for the prefix
        ethernet_packet(source, ETHERTYPE_HA, &length_beyond_maximum),
        ethernet_packet(source, ETHERTYPE_HA, &larger_than_buffer),
    ];
    assert_eq!(packets.len() as u64, BAD_PACKET_COUNT);
    packets
}

/// A packet of another EtherType carrying a perfectly good payload: the kernel filter alone
/// must keep it away (if it did not, it would show up in the malformed count).
fn foreign_packet(source: [u8; 6]) -> Vec<u8> {
    ethernet_packet(source, ETHERTYPE_FOREIGN, &good_payload(b"foreign EtherType"))
}

/// A good packet claiming to come from the receiver itself: skipped silently, not counted.
fn own_source_packet(receiver: [u8; 6]) -> Vec<u8> {
    ethernet_packet(receiver, ETHERTYPE_HA, &good_payload(b"claims the receiver's own MAC"))
}

fn helper_a(link: &mut RawEthernet, interface: &str, own_mac: [u8; 6], peer_mac: [u8; 6]) {
    wait_for_carrier(interface);
    let missing = RawEthernet::open("hart-missing0").expect_err("no such interface");
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound, "{missing}");
    assert!(missing.to_string().contains("\"hart-missing0\""), "{missing}");
    let loopback = RawEthernet::open("lo").expect_err("loopback is not Ethernet");
    assert_eq!(loopback.kind(), std::io::ErrorKind::InvalidInput, "{loopback}");
    println!("helper a: open refused a missing interface ({missing}) and lo ({loopback})");

    let oversize = vec![0u8; MAX_FRAME_BYTES + 1];
    let error = link.send(&oversize).expect_err("an oversize frame must be refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{error}");
    println!("helper a: oversize send refused: {error}");

    let injector = PacketSocket::open(interface, ETHERTYPE_HA).expect("open injector socket");
    let mut injected = vec![foreign_packet(own_mac), own_source_packet(peer_mac)];
    injected.extend(bad_packets(own_mac));
    for packet in &injected {
        injector.send(packet).expect("inject packet");
    }
    println!("helper a: injected {} bad or foreign packets", injected.len());
    for frame in expected_frames(b'a') {
        link.send(&frame).expect("send frame");
    }
    println!("helper a: sent frames of {FRAME_SIZES:?} bytes");

    let expected = expected_frames(b'b');
    let mut received: Vec<Vec<u8>> = Vec::new();
    let link_fd = duplicate(link.fd());
    poll_until(&[link_fd.as_fd()], "frames from b", |_| {
        link.recv(&mut |frame| received.push(frame.to_vec())).expect("recv");
        if received.len() >= expected.len() {
            Ok(())
        } else {
            Err(format!("received frames of {:?} bytes", sizes(&received)))
        }
    });
    link.recv(&mut |frame| received.push(frame.to_vec())).expect("final recv");
    assert_eq!(received, expected, "frames from b differ (sizes {:?})", sizes(&received));
    assert_eq!(link.malformed_packets(), 0, "a saw malformed packets");
    println!("helper a: received frames of {:?} bytes from b, byte-exact", sizes(&received));
}

fn helper_b(link: &mut RawEthernet, interface: &str, own_mac: [u8; 6], peer_mac: [u8; 6]) {
    let observer = PacketSocket::open(interface, ETHERTYPE_ALL).expect("open observer socket");
    wait_for_carrier(interface);
    println!("{READY_LINE}");

    let expected = expected_frames(b'a');
    let foreign = foreign_packet(peer_mac);
    let own_source = own_source_packet(own_mac);
    let (mut seen_foreign, mut seen_own_source) = (false, false);
    let mut received: Vec<Vec<u8>> = Vec::new();
    let mut observed = vec![0u8; VETH_MTU_BYTES + 14];
    let link_fd = duplicate(link.fd());
    let fds = [link_fd.as_fd(), observer.fd()];
    poll_until(&fds, "frames and injected packets from a", |_| {
        link.recv(&mut |frame| received.push(frame.to_vec())).expect("recv");
        for _ in 0..MAX_PACKETS_PER_RECV {
            let Ok(packet) = observer.recv(&mut observed) else {
                break;
            };
            let bytes = &observed[..packet.packet_bytes.min(observed.len())];
            seen_foreign |= bytes == &foreign[..];
            seen_own_source |= bytes == &own_source[..];
        }
        let done = received.len() >= expected.len()
            && link.malformed_packets() >= BAD_PACKET_COUNT
            && seen_foreign
            && seen_own_source;
        if done {
            Ok(())
        } else {
            Err(format!(
                "received frames of {:?} bytes, {} malformed, foreign seen: {seen_foreign}, \
                 own-source seen: {seen_own_source}",
                sizes(&received),
                link.malformed_packets()
            ))
        }
    });
    // The observer saw the foreign and own-source packets, so the link socket has had its
    // chance at them: one more drain, then nothing beyond the expected frames may be there.
    link.recv(&mut |frame| received.push(frame.to_vec())).expect("final recv");
    assert_eq!(received, expected, "frames from a differ (sizes {:?})", sizes(&received));
    assert_eq!(link.malformed_packets(), BAD_PACKET_COUNT, "malformed count at b");
    println!(
        "helper b: received frames of {:?} bytes from a, byte-exact; dropped {} malformed \
         packets; foreign EtherType and own-source packets not delivered",
        sizes(&received),
        link.malformed_packets()
    );

    for frame in expected_frames(b'b') {
        link.send(&frame).expect("send frame");
    }
    println!("helper b: sent frames of {FRAME_SIZES:?} bytes");
}

/// A second descriptor for the same socket, to poll it while `recv` borrows the link.
fn duplicate(fd: BorrowedFd<'_>) -> OwnedFd {
    fd.try_clone_to_owned().expect("duplicate descriptor")
}

fn sizes(frames: &[Vec<u8>]) -> Vec<usize> {
    frames.iter().map(Vec::len).collect()
}

/// Poll `fds` and call `step` after each wake-up until it returns `Ok`; `Err` carries the
/// state so far. Panics after `HELPER_DEADLINE` or `MAX_POLLS` polls with `what` it was
/// waiting for and the last state.
fn poll_until(fds: &[BorrowedFd<'_>], what: &str, mut step: impl FnMut(usize) -> Result<(), String>) {
    let started = Instant::now();
    let timeout = Timespec { tv_sec: 0, tv_nsec: POLL_TIMEOUT_MS * 1_000_000 };
    for poll_index in 0..MAX_POLLS {
        let state = match step(poll_index) {
            Ok(()) => return,
            Err(state) => state,
        };
        assert!(started.elapsed() < HELPER_DEADLINE, "timed out waiting for {what}: {state}");
        let mut poll_fds: Vec<PollFd<'_>> =
            fds.iter().map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN)).collect();
        rustix::event::poll(&mut poll_fds, Some(&timeout)).expect("poll");
    }
    panic!("gave up waiting for {what} after {MAX_POLLS} polls");
}

/// veth turns the carrier on when both ends are up; check it before sending anything.
fn wait_for_carrier(interface: &str) {
    let path = format!("/sys/class/net/{interface}/carrier");
    let started = Instant::now();
    loop {
        let carrier = std::fs::read_to_string(&path).unwrap_or_default();
        if carrier.trim() == "1" {
            return;
        }
        assert!(started.elapsed() < HELPER_DEADLINE, "no carrier on {interface} ({path})");
        std::thread::sleep(Duration::from_millis(10));
    }
}

//! End to end: another cluster's fence agent (`fence_rackha`, the agent binary under that
//! name) asks the running witness to switch its relays, and the relay board's coils say what
//! really happened.
//!
//! Three real `ha-agent` processes; the witness has a `[fence_service]` on loopback with two
//! plugs on a simulated Modbus RTU board (a pty, `relay_sim`: coils 2 and 3), a dedicated key,
//! and a v2c trap target (a UDP socket of the test). Shows:
//!
//! - `fence_rackha` run as Pacemaker's fencer runs it (no arguments, `key=value` on stdin) and
//!   with command-line options: `status` (exit 0 on, 2 off), `off` (exit 0 only once the coil
//!   reads off: the box's fence procedure with read-back), `on`, `reboot`, `list`,
//!   `list-status`, `monitor`; each is checked on the simulator's coils, and only the asked
//!   coil moves;
//! - a stuck relay (acknowledges, never switches) makes `off` exit 1 after the box's
//!   `confirm_timeout_ms`, with the box's reason; an `on` is confirmed the same way (exit 1
//!   while the stuck coil reads off);
//! - a wrong key gets exit 1 and a "key files differ" message, is counted (`bad_mac`), and no
//!   coil moves; a member of the witness's own cluster is refused by name;
//! - a captured request sent again: within `RESULT_KEEP_MS` it is answered from the box's
//!   table and carried out no second time (the coil, switched back by hand, stays on); after
//!   it, it is refused as unknown and counted (`replays_refused`); its nonce with another
//!   request is refused at once;
//! - a fence race: the nodes on pm-a and pm-b (sockets on 127.0.0.2 and 127.0.0.3, named in
//!   `client_plugs`) ask for each other's plug; the first is carried out, the second is refused
//!   because it comes from the node being switched off, and its coil stays on; it may still
//!   read a relay;
//! - the off is journaled (`ha-agent log`) and trapped (`rackHaFenceSucceeded` naming the plug);
//! - net-snmp's `snmpwalk` of rackHaFenceService (v2c, the witness's `[snmp] listen`) gives
//!   exactly `status --json`'s `fence_service`: every counter, the listen address, and the
//!   latest command, which `snmpget` also reads by name (the exchange's off of pm-a);
//! - the metadata validates against fence-agents' RelaxNG schema when it is installed;
//! - the cluster is undisturbed: every link stays up.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ha_agent::fencesvc::protocol::{self, Action, Answer, FromBox, Nonce, Refusal, Unauthenticated};
use ha_agent::fencesvc::server::RESULT_KEEP_MS;
use ha_tests::fixtures::agent_command;
use ha_tests::harness::{agent_binary, write_key_file, Rack};
use ha_tests::net_snmp::{date_and_time, mib_dirs, Station};
use ha_tests::relay_sim::{Fault, RelaySim, SimBoard};

/// Bound on the wait for the rack to come up.
const UP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one run of the fence agent (its own power_timeout is shorter).
const AGENT_TIMEOUT_S: &str = "15";
/// Bound on the wait for a trap or a counter.
const SEEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The plugs' coils on the simulated board.
const COIL_A: usize = 2;
const COIL_B: usize = 3;
/// The fence-agents schema of `-o metadata` (Debian's fence-agents package).
const METADATA_RNG: &str = "/usr/share/cluster/relaxng/metadata.rng";
/// The witness's read community (`[snmp] read_community`).
const COMMUNITY: &str = "fence-monitor";
/// Walks compared with the status before giving up (something may move between them).
const WALK_TRIES: usize = 5;

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Agent {
    bin: PathBuf,
    port: u16,
    key: PathBuf,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Agent {
    /// `fence_rackha ARGS -a 127.0.0.1 -u PORT -k KEY`.
    fn args(&self, args: &[&str], key: &Path) -> Run {
        let port = self.port.to_string();
        let key = key.to_string_lossy().into_owned();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-a", "127.0.0.1", "-u", &port, "-k", &key, "--power-timeout", AGENT_TIMEOUT_S]);
        self.run(&all, None)
    }

    /// `fence_rackha` without arguments, `lines` on stdin (the fencer's way).
    fn stdin(&self, lines: &str) -> Run {
        let text = format!(
            "{lines}\nipaddr=127.0.0.1\nipport={}\nkey_file={}\npower_timeout={AGENT_TIMEOUT_S}\nnodename=pm-b\n",
            self.port,
            self.key.display()
        );
        self.run(&[], Some(&text))
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let started = Instant::now();
        let mut child = Command::new(&self.bin)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run fence_rackha");
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: started.elapsed(),
        }
    }
}

fn counter(rack: &Rack, key: &str) -> u64 {
    rack.status("witness")["fence_service"]["counters"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("fence_service.counters.{key} missing"))
}

/// What rackHaFenceService must hold (`name.0` to the value net-snmp prints with -OQs -Oe),
/// from the status's `fence_service`.
fn fence_service_objects(f: &serde_json::Value) -> BTreeMap<String, String> {
    let mut want = BTreeMap::new();
    let mut put = |name: &str, value: String| {
        want.insert(format!("rackHaFenceSvc{name}.0"), value);
    };
    put("Listen", f["listen"].as_str().unwrap().into());
    put("Running", f["running"].to_string());
    let c = &f["counters"];
    for (name, key) in [
        ("Datagrams", "datagrams"),
        ("Challenges", "challenges"),
        ("Commands", "commands"),
        ("Retransmissions", "retransmissions"),
        ("RefusedUnknownPlug", "refused_unknown_plug"),
        ("RefusedOwnMember", "refused_own_member"),
        ("RefusedBusy", "refused_busy"),
        ("ReplaysRefused", "replays_refused"),
        ("BadMacs", "bad_mac"),
        ("Malformed", "malformed"),
        ("NotAllowed", "not_allowed"),
        ("RateLimited", "rate_limited"),
        ("NonceTableFull", "nonce_table_full"),
        ("Offs", "offs"),
        ("Ons", "ons"),
        ("Reboots", "reboots"),
        ("StatusReads", "status_reads"),
        ("Failed", "failed"),
        ("RefusedFencedClient", "refused_fenced_client"),
    ] {
        let n = c[key].as_u64().unwrap_or_else(|| panic!("fence_service.counters.{key} in {f}"));
        put(name, n.to_string());
    }
    let last = &f["last_command"];
    if last.is_object() {
        put("LastPlug", last["plug"].as_str().unwrap().into());
        let action = ["off", "on", "reboot", "status"].iter().position(|a| last["action"] == *a).unwrap() + 1;
        put("LastAction", action.to_string());
        put("LastResult", if last["ok"] == true { "1" } else { "2" }.into());
        put("LastText", last["result"].as_str().unwrap().into());
        put("LastAt", date_and_time(last["at_wall_ms"].as_u64().unwrap()));
    }
    want
}

/// One exchange by hand (the library's datagrams): returns the request's bytes and the
/// box's first authenticated answer after it is no longer in progress.
fn exchange(
    socket: &UdpSocket,
    key: &ha_agent::wire::ClusterKey,
    action: Action,
    plug: &str,
) -> (Vec<u8>, Answer) {
    let (nonce, request) = send_request(socket, key, action, plug);
    (request, final_answer(socket, key, &nonce))
}

/// Hello, challenge, request: returns the nonce and the request's bytes.
fn send_request(
    socket: &UdpSocket,
    key: &ha_agent::wire::ClusterKey,
    action: Action,
    plug: &str,
) -> (Nonce, Vec<u8>) {
    let mut buf = [0u8; 2048];
    socket.send(&protocol::encode_hello()).unwrap();
    let n = socket.recv(&mut buf).expect("a challenge");
    let Ok(FromBox::Challenge { nonce, .. }) = protocol::decode_from_box(key, &buf[..n]) else {
        panic!("not a challenge")
    };
    let request = protocol::encode_request(key, &nonce, action, &protocol::plug_name(plug).unwrap());
    socket.send(&request).unwrap();
    (nonce, request)
}

/// The box's first answer to the request under `nonce` that is not "in progress".
fn final_answer(socket: &UdpSocket, key: &ha_agent::wire::ClusterKey, nonce: &Nonce) -> Answer {
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + SEEN_TIMEOUT;
    while Instant::now() < deadline {
        let Ok(n) = socket.recv(&mut buf) else { continue };
        match protocol::decode_from_box(key, &buf[..n]) {
            Ok(FromBox::Reply { answer: Answer::InProgress, .. }) => {}
            Ok(FromBox::Reply { nonce: got, answer }) if got == *nonce => return answer,
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("no final answer within {SEEN_TIMEOUT:?}")
}

/// Send `request` again and decode the answer.
fn resend(socket: &UdpSocket, key: &ha_agent::wire::ClusterKey, request: &[u8]) -> FromBox {
    let mut buf = [0u8; 2048];
    socket.send(request).unwrap();
    let n = socket.recv(&mut buf).expect("an answer");
    protocol::decode_from_box(key, &buf[..n]).expect("a valid datagram")
}

#[test]
fn fence_rackha_switches_the_witness_relays_with_read_back_and_replays_are_refused() {
    let sim = RelaySim::start(SimBoard::Modbus { address: 1 }).expect("relay simulator");
    let port = free_udp_port();
    let trap_sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = trap_sink.local_addr().unwrap().port();
    let snmp_port = free_udp_port();
    let plug = |name: &str, coil: usize| {
        format!(
            "\n[[fence_service.plugs]]\nnode = \"{name}\"\nboard = \"modbus\"\ndevice = \"{}\"\nbaud = 115200\naddress = 1\nchannel = {coil}\ntimeout_ms = 500\nsettle_ms = 100\npoll_interval_ms = 100\nconfirm_timeout_ms = 3000\nreboot_delay_ms = 300\n",
            sim.path().display()
        )
    };
    let witness_extra = format!(
        "\n[snmp]\nlisten = \"127.0.0.1:{snmp_port}\"\nread_community = \"{COMMUNITY}\"\n\n[[snmp.targets]]\nname = \"nms\"\nversion = \"v2c\"\naddress = \"127.0.0.1:{sink_port}\"\nkind = \"trap\"\ncommunity = \"public\"\n\n[fence_service]\nlisten = \"127.0.0.1:{port}\"\nkey_file = \"fence.key\"\nclients = [\"127.0.0.1\", \"127.0.0.2\", \"127.0.0.3\"]\n{}{}\n[fence_service.client_plugs]\n\"127.0.0.2\" = \"pm-a\"\n\"127.0.0.3\" = \"pm-b\"\n",
        plug("pm-a", COIL_A),
        plug("pm-b", COIL_B)
    );
    let rack = Rack::builder("fence-service")
        .extra("witness", &witness_extra)
        .start_with(|dir| {
            write_key_file(&dir.join("fence.key")).unwrap();
            write_key_file(&dir.join("wrong.key")).unwrap();
        })
        .unwrap_or_else(|e| panic!("rack: {e}"));
    rack.wait_for(UP_TIMEOUT, || {
        rack.everything_up() && rack.try_status("witness").is_ok_and(|s| s["fence_service"].is_object())
    })
    .unwrap_or_else(|e| panic!("the rack did not settle: {e}\n{}", rack.table()));
    let bin = rack.dir().join("fence_rackha");
    std::os::unix::fs::symlink(agent_binary().unwrap(), &bin).unwrap();
    let agent = Agent { bin, port, key: rack.dir().join("fence.key") };
    let wrong_key = rack.dir().join("wrong.key");
    assert!(sim.relay(COIL_A) && sim.relay(COIL_B), "the simulator starts with every coil on");

    // status, as the fencer runs it (stdin) and as an operator does (options).
    let r = agent.stdin("action=status\nport=pm-b");
    assert_eq!((r.code, r.stdout.trim()), (0, "Status: ON"), "stderr: {}", r.stderr);
    let r = agent.args(&["-o", "status", "-n", "pm-b"], &agent.key);
    assert_eq!((r.code, r.stdout.trim()), (0, "Status: ON"), "stderr: {}", r.stderr);

    // A fence race, first (a node is held for FENCED_CLIENT_HOLD_MS after its plug's off, so
    // before any other off): the node on pm-a asks for pm-b, and while that runs (or just
    // after) the node on pm-b asks for pm-a. The second comes from the node being switched off: refused,
    // and its coil stays on. It may still read a relay.
    let node_socket = |ip: &str| {
        let s = UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}: {e}"));
        s.connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s
    };
    let key = ha_agent::config::load_key(&agent.key).unwrap();
    let (node_a, node_b) = (node_socket("127.0.0.2"), node_socket("127.0.0.3"));
    assert!(sim.relay(COIL_A) && sim.relay(COIL_B), "both plugs on before the race");
    let refused_before = counter(&rack, "refused_fenced_client");
    let (first, _) = send_request(&node_a, &key, Action::Off, "pm-b");
    let (_, second) = exchange(&node_b, &key, Action::Off, "pm-a");
    assert_eq!(second, Answer::Refused(Refusal::FencedClient), "the fenced node's request");
    assert_eq!(final_answer(&node_a, &key, &first), Answer::Done, "the first request");
    assert!(!sim.relay(COIL_B) && sim.relay(COIL_A), "exactly the first request's plug is off");
    let (_, read) = exchange(&node_b, &key, Action::Status, "pm-a");
    assert_eq!(read, Answer::Status(protocol::Power::On));
    assert_eq!(counter(&rack, "refused_fenced_client"), refused_before + 1);
    let (code, log) = agent_command(&rack, "witness", &["log"]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.lines().any(|l| l.contains("pm-a fence service: off asked by 127.0.0.3")
            && l.contains("refused: the asking node is itself being fenced")),
        "journal lacks the refused request of the node on pm-b:\n{log}"
    );
    println!("fence race: the node on pm-a's off of pm-b done, the node on pm-b's off of pm-a refused");
    sim.set_relay(COIL_B, true);

    // off: exit 0 only once the coil reads off; only that coil.
    let r = agent.stdin("action=off\nplug=pm-b");
    assert_eq!((r.code, r.stdout.trim()), (0, "Success: Powered OFF"), "stderr: {}", r.stderr);
    assert!(!sim.relay(COIL_B), "fence_rackha said off, the coil reads on");
    assert!(sim.relay(COIL_A), "another plug's coil moved");
    println!("fence_rackha off: exit 0 after {} ms, coil {COIL_B} off", r.took.as_millis());
    let r = agent.args(&["-o", "status", "-n", "pm-b"], &agent.key);
    assert_eq!((r.code, r.stdout.trim()), (2, "Status: OFF"), "stderr: {}", r.stderr);

    // The off is trapped, naming the plug.
    trap_sink.set_read_timeout(Some(SEEN_TIMEOUT)).unwrap();
    let mut buf = [0u8; 2048];
    let started = Instant::now();
    loop {
        let n = trap_sink.recv(&mut buf).expect("no trap naming pm-b");
        if buf[..n].windows(4).any(|w| w == b"pm-b") {
            break;
        }
        assert!(started.elapsed() < SEEN_TIMEOUT, "no trap naming pm-b");
    }

    // on, reboot (off with read-back, then on), list, list-status, monitor.
    let r = agent.args(&["-o", "on", "-n", "pm-b"], &agent.key);
    assert_eq!((r.code, r.stdout.trim()), (0, "Success: Powered ON"), "stderr: {}", r.stderr);
    assert!(sim.relay(COIL_B));
    let before = sim.requests();
    let r = agent.args(&["-o", "reboot", "-n", "pm-a"], &agent.key);
    assert_eq!((r.code, r.stdout.trim()), (0, "Success: Rebooted"), "stderr: {}", r.stderr);
    assert!(sim.relay(COIL_A), "on again after the reboot");
    assert!(sim.requests() >= before + 4, "read, off, at least one poll, on");
    let r = agent.args(&["-o", "list"], &agent.key);
    assert_eq!((r.code, r.stdout.as_str()), (0, "pm-a,\npm-b,\n"), "stderr: {}", r.stderr);
    let r = agent.args(&["-o", "list-status"], &agent.key);
    assert_eq!((r.code, r.stdout.as_str()), (0, "pm-a,,ON\npm-b,,ON\n"), "stderr: {}", r.stderr);
    let r = agent.stdin("action=monitor");
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);

    // A wrong key: refused, counted, nothing moves.
    let bad_before = counter(&rack, "bad_mac");
    let r = agent.args(&["-o", "off", "-n", "pm-a"], &wrong_key);
    assert_eq!(r.code, 1, "a wrong key must fail: {} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("key files differ"), "{}", r.stderr);
    assert!(sim.relay(COIL_A) && sim.relay(COIL_B));
    assert!(counter(&rack, "bad_mac") > bad_before);

    // A stuck relay: the off is acknowledged but the coil never reads off, so the agent fails.
    sim.set_fault(Fault::Stuck);
    let r = agent.args(&["-o", "off", "-n", "pm-b"], &agent.key);
    sim.set_fault(Fault::None);
    assert_eq!(r.code, 1, "a stuck relay must fail the fence: {} {}", r.stdout, r.stderr);
    assert!(r.stderr.contains("relay still reads on"), "{}", r.stderr);
    assert!(sim.relay(COIL_B));
    println!("fence_rackha off, stuck relay: exit 1 after {} ms: {}", r.took.as_millis(), r.stderr.trim());

    // The box's own members are never plugs.
    let r = agent.args(&["-o", "off", "-n", "node-a"], &agent.key);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("own cluster"), "{}", r.stderr);

    // Replays.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let (request, answer) = exchange(&socket, &key, Action::Off, "pm-a");
    assert_eq!(answer, Answer::Done);
    assert!(!sim.relay(COIL_A));
    sim.set_relay(COIL_A, true); // someone powered it on again by hand
    let commands = counter(&rack, "commands");
    let again = resend(&socket, &key, &request);
    assert!(matches!(again, FromBox::Reply { answer: Answer::Done, .. }), "{again:?}");
    let answered_at = Instant::now();
    let mut replay_refused = false;
    while answered_at.elapsed() < Duration::from_millis(RESULT_KEEP_MS) + SEEN_TIMEOUT {
        std::thread::sleep(Duration::from_millis(200));
        match resend(&socket, &key, &request) {
            FromBox::Refused { why: Unauthenticated::UnknownNonce, .. } => {
                replay_refused = true;
                break;
            }
            FromBox::Reply { answer: Answer::Done, .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(replay_refused, "the replay was never refused");
    println!("replay: answered from the table for {} ms, then refused", answered_at.elapsed().as_millis());
    assert!(sim.relay(COIL_A), "a replayed off switched the coil off again");
    assert_eq!(counter(&rack, "commands"), commands, "a replay ran a command");
    assert!(counter(&rack, "replays_refused") >= 1);
    assert!(counter(&rack, "retransmissions") >= 1);

    // A plug the box does not serve: refused by name, counted by reason.
    let r = agent.args(&["-o", "status", "-n", "pm-z"], &agent.key);
    assert_eq!(r.code, 1, "an unknown plug must fail: {} {}", r.stdout, r.stderr);
    assert!(counter(&rack, "refused_unknown_plug") >= 1);

    // The MIB: rackHaFenceService, walked with net-snmp, is the status's fence_service.
    let station = Station {
        mibs: mib_dirs(),
        agent: format!("udp:127.0.0.1:{snmp_port}"),
        dir: rack.dir().to_path_buf(),
    };
    let v2c = ["-v2c", "-c", COMMUNITY];
    let mut last = String::new();
    let mut matched = None;
    for _ in 0..WALK_TRIES {
        let before = rack.status("witness")["fence_service"].clone();
        let walk = station
            .query("snmpwalk", &v2c, &["RACK-HA-MIB::rackHaFenceService"])
            .unwrap_or_else(|e| panic!("snmpwalk: {e}"));
        let after = rack.status("witness")["fence_service"].clone();
        let want = fence_service_objects(&before);
        if before == after && walk == want {
            matched = Some(walk);
            break;
        }
        last = format!("walk {walk:#?}\nstatus {want:#?}");
    }
    let walk = matched.unwrap_or_else(|| panic!("rackHaFenceService does not match the status:\n{last}"));
    println!("snmpwalk rackHaFenceService: {} instances, each equal to status --json: {walk:?}", walk.len());
    let n = |name: &str| walk[&format!("rackHaFenceSvc{name}.0")].parse::<u64>().unwrap();
    // What this test did, as the MIB counts it: the race's off of pm-b, pm-b off (confirmed),
    // pm-b off (stuck: failed), pm-a off by hand; one on; one reboot; a wrong key; a member
    // of the cluster; the race's refused request; a replay; a plug not served.
    assert_eq!((n("Offs"), n("Ons"), n("Reboots"), n("Failed")), (4, 1, 1, 1), "{walk:?}");
    assert_eq!(n("RefusedFencedClient"), 1, "{walk:?}");
    assert!(n("BadMacs") >= 1 && n("RefusedOwnMember") == 1 && n("RefusedUnknownPlug") == 1, "{walk:?}");
    assert!(n("ReplaysRefused") >= 1 && n("Retransmissions") >= 1 && n("StatusReads") >= 3, "{walk:?}");
    assert!(n("Datagrams") > n("Challenges") && n("Challenges") > n("Commands"), "{walk:?}");
    // The latest command, by name: the exchange's off of pm-a (the status of pm-z was refused,
    // so it is no command).
    let got = station
        .query(
            "snmpget",
            &v2c,
            &[
                "RACK-HA-MIB::rackHaFenceSvcLastPlug.0",
                "RACK-HA-MIB::rackHaFenceSvcLastAction.0",
                "RACK-HA-MIB::rackHaFenceSvcLastResult.0",
            ],
        )
        .unwrap_or_else(|e| panic!("snmpget: {e}"));
    let got: Vec<&str> = got.values().map(String::as_str).collect();
    // In name order: LastAction (off 1), LastPlug, LastResult (succeeded 1).
    assert_eq!(got, ["1", "pm-a", "1"], "snmpget of the latest command");
    println!("snmpget latest command: action off(1), plug pm-a, result succeeded(1)");

    // Journaled.
    let (code, log) = agent_command(&rack, "witness", &["log"]);
    assert_eq!(code, 0, "{log}");
    for needle in [
        "pm-b fence service: off asked by 127.0.0.1",
        "pm-b fence service: off: power off confirmed by read-back",
        "fence service: off asked by 127.0.0.1",
        "refused: a member of the box's own cluster",
        "pm-b fence service: off: failed: relay still reads on",
    ] {
        assert!(log.contains(needle), "journal lacks {needle:?}:\n{log}");
    }

    // An `on` is confirmed like an off: a relay that stays off fails it, with the box's reason.
    let r = agent.args(&["-o", "off", "-n", "pm-b"], &agent.key);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    sim.set_fault(Fault::Stuck);
    let r = agent.args(&["-o", "on", "-n", "pm-b"], &agent.key);
    sim.set_fault(Fault::None);
    assert_eq!(r.code, 1, "an on that never reads on must fail: {} {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("relay still reads off") && r.stderr.contains("after the on command"),
        "{}",
        r.stderr
    );
    assert!(!sim.relay(COIL_B));
    let before = sim.requests();
    let r = agent.args(&["-o", "on", "-n", "pm-b"], &agent.key);
    assert_eq!((r.code, r.stdout.trim()), (0, "Success: Powered ON"), "stderr: {}", r.stderr);
    assert!(sim.relay(COIL_B));
    assert!(sim.requests() >= before + 3, "read, on, at least one poll");
    let (code, log) = agent_command(&rack, "witness", &["log"]);
    assert_eq!(code, 0, "{log}");
    for needle in [
        "pm-b fence service: on: failed: relay still reads off",
        "pm-b fence service: on: power on confirmed by read-back",
    ] {
        assert!(log.contains(needle), "journal lacks {needle:?}:\n{log}");
    }

    // Metadata.
    let r = agent.run(&["-o", "metadata"], None);
    assert_eq!(r.code, 0);
    let xml = rack.dir().join("metadata.xml");
    std::fs::write(&xml, &r.stdout).unwrap();
    if Path::new(METADATA_RNG).exists() {
        let out =
            Command::new("xmllint").args(["--noout", "--relaxng", METADATA_RNG]).arg(&xml).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        println!("metadata validates against {METADATA_RNG}");
    } else {
        let out = Command::new("xmllint").args(["--noout"]).arg(&xml).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        println!("metadata well-formed ({METADATA_RNG} absent: apt-get install fence-agents)");
    }

    assert!(rack.everything_up(), "the cluster was disturbed:\n{}", rack.table());
}

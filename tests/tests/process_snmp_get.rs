//! End to end: net-snmp's real command-line tools ask the running witness over SNMP.
//!
//! Three real `ha-agent` processes; the witness watches a RAID controller simulator (Areca
//! dialect on a pty), health-checks two relay channels (the fence stand-in), and answers
//! read-only requests on a loopback port: SNMPv2c with a read community and SNMPv3 authPriv
//! (SHA-256, AES-128) with the user of its v3 notification target. Shows:
//!
//! - `snmpbulkwalk` of the whole of rackHaObjects over v2c and over v3 (and of node-a, which
//!   also listens, over v2c) returns exactly the objects `ha-agent status --json` describes,
//!   each with the value status gives (states and names equal; counters between the status
//!   read before and the one after the walk);
//! - `snmpget` of single objects, by name, through the MIB;
//! - `snmpset` is refused (notWritable), and nothing changes;
//! - a wrong community gets no answer, an unknown v3 user only a Report; both are counted;
//! - 10,000 random, truncated and corrupted datagrams sent to the port are counted and
//!   dropped, while the agent keeps answering and its heartbeats stay on time: no link of any
//!   member goes down, nobody fails over;
//! - after the operator fences node-b, the latest fence's objects name it and the walk still
//!   matches the status.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use ha_agent::snmp::ber::{Oid, Value as SnmpValue};
use ha_agent::snmp::pdu::{self, VarBind};
use ha_agent::snmp::usm::{self, AuthProtocol, EngineParams, OutgoingV3, PrivProtocol, UsmUser};
use ha_tests::console_sim::{ConsoleSim, SimDialect};
use ha_tests::harness::{wait_until, Rack};
use ha_tests::net_snmp::{date_and_time, mib_dirs, Station};
use ha_tests::topology::Toml;
use serde_json::Value;

/// Bound on the wait for the rack to come up and the array to be read.
const UP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on the wait for the witness to count a batch of datagrams.
const COUNT_TIMEOUT: Duration = Duration::from_secs(10);
/// Datagrams of junk sent to the responder.
const JUNK_DATAGRAMS: usize = 10_000;
/// Junk datagrams sent before the test waits for the witness to have counted them (the
/// socket's receive buffer must not overflow, or the kernel, not the agent, drops them).
const JUNK_BATCH: usize = 50;
/// Bound on the wait for the witness to notice the outcome of an operator's fence.
const FENCE_TIMEOUT: Duration = Duration::from_secs(15);

const COMMUNITY: &str = "rack-monitor";
const V3_USER: &str = "rackread";
const AUTH_PASS: &str = "auth-passphrase-1";
const PRIV_PASS: &str = "priv-passphrase-2";

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn v2c() -> Vec<&'static str> {
    vec!["-v2c", "-c", COMMUNITY]
}

fn v3() -> Vec<&'static str> {
    vec![
        "-v3", "-l", "authPriv", "-u", V3_USER, "-a", "SHA-256", "-A", AUTH_PASS, "-x", "AES", "-X",
        PRIV_PASS,
    ]
}

fn main_status_counter(status: &Value, key: &str) -> u64 {
    (status["snmp_agent"]["counters"][key].as_u64())
        .unwrap_or_else(|| panic!("snmp_agent.counters.{key} in status: {status}"))
}

fn truth(b: bool) -> String {
    if b { "1" } else { "2" }.to_string()
}

/// What the MIB must show, from one status document: exact values, and counters (which the
/// walk may see a little after `before`, never beyond `after`).
struct Expected {
    exact: BTreeMap<String, String>,
    counters: BTreeMap<String, (u64, u64)>,
}

fn expected(before: &Value, after: &Value) -> Expected {
    let mut exact = BTreeMap::new();
    let mut counters = BTreeMap::new();
    let s = before;
    let mut put = |k: &str, v: String| {
        exact.insert(k.to_string(), v);
    };
    let name_id = |name: &str| -> u64 {
        s["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["id"].as_u64())
            .unwrap_or_else(|| panic!("member {name} in status"))
    };
    put("rackHaClusterName.0", s["cluster"].as_str().unwrap().into());
    put("rackHaLocalMember.0", s["member"].as_str().unwrap().into());
    put("rackHaLocalRole.0", if s["role"] == "witness" { "1" } else { "2" }.into());
    put("rackHaLocalBoot.0", s["boot"].to_string());
    let a = &s["authority"];
    put("rackHaClusterMaintenance.0", truth(a["maintenance"].as_bool().unwrap()));
    let resources_number = |state: &str| {
        let number = ["stopped", "starting", "running", "stopping", "failed", "stop-failed"]
            .iter()
            .position(|s| *s == state)
            .unwrap_or_else(|| panic!("resources state {state}"))
            + 1;
        number.to_string()
    };
    if a["role"] == "witness" {
        put("rackHaClusterGeneration.0", a["generation"].to_string());
        put("rackHaClusterHolder.0", a["holder"].as_str().unwrap_or("").into());
        if let Some(ms) = a["granted_at_wall_ms"].as_u64() {
            put("rackHaClusterHolderSince.0", date_and_time(ms));
        }
        put("rackHaClusterStartup.0", truth(a["startup"].as_bool().unwrap()));
        put("rackHaClusterSwitching.0", truth(a["switching"].as_bool().unwrap()));
        put("rackHaClusterFencing.0", a["fencing"].as_str().unwrap_or("").into());
        let f = &a["last_fence"];
        if f.is_object() {
            put("rackHaLastFenceNode.0", f["node"].as_str().unwrap().into());
            let result =
                ["confirmed", "unconfirmed", "failed"].iter().position(|r| f["result"] == *r).unwrap() + 1;
            put("rackHaLastFenceResult.0", result.to_string());
            put("rackHaLastFenceAttempt.0", f["attempt"].to_string());
            put("rackHaLastFenceAt.0", date_and_time(f["at_wall_ms"].as_u64().unwrap()));
            put("rackHaFenceOutcomes.0", f["count"].to_string());
        }
    } else {
        put("rackHaClusterGeneration.0", a["max_seen_generation"].to_string());
        put("rackHaLocalQuorum.0", truth(a["quorum"].as_bool().unwrap()));
        put("rackHaLocalResourcesState.0", resources_number(a["resources_state"].as_str().unwrap()));
        put("rackHaLocalActingGeneration.0", a["acting_generation"].to_string());
    }
    for m in s["members"].as_array().unwrap() {
        let i = m["id"].as_u64().unwrap();
        put(&format!("rackHaMbrName.{i}"), m["name"].as_str().unwrap().into());
        put(&format!("rackHaMbrRole.{i}"), if m["role"] == "witness" { "1" } else { "2" }.into());
        let state = match m["state"].as_str().unwrap() {
            "unknown" => "1",
            "reachable" => "2",
            _ => "3",
        };
        put(&format!("rackHaMbrState.{i}"), state.into());
        put(&format!("rackHaMbrLinksUp.{i}"), m["links_up"].to_string());
    }
    for n in a["nodes"].as_array().into_iter().flatten() {
        let i = name_id(n["name"].as_str().unwrap());
        if let Some(ready) = n["ready"].as_bool() {
            put(&format!("rackHaMbrReady.{i}"), truth(ready));
        }
        if let Some(state) = n["resources_state"].as_str() {
            put(&format!("rackHaMbrResourcesState.{i}"), resources_number(state));
        }
        if let Some(g) = n["acting_generation"].as_u64() {
            put(&format!("rackHaMbrActingGeneration.{i}"), g.to_string());
        }
        put(&format!("rackHaMbrStandby.{i}"), truth(n["standby"].as_bool().unwrap()));
        if let Some(armed) = n["watchdog_armed"].as_bool() {
            put(&format!("rackHaMbrWatchdogArmed.{i}"), truth(armed));
        }
        if let Some(ms) = n["fence_bound_ms"].as_u64() {
            put(&format!("rackHaMbrFenceBound.{i}"), ms.to_string());
        }
    }
    let after_link = |id: u64, key: &str| -> u64 {
        after["links"].as_array().unwrap().iter().find(|l| l["id"] == id).unwrap()[key].as_u64().unwrap()
    };
    for l in s["links"].as_array().unwrap() {
        let i = l["id"].as_u64().unwrap();
        put(&format!("rackHaLnkPeer.{i}"), l["peer"].as_str().unwrap().into());
        let kind = match l["kind"].as_str().unwrap() {
            "serial" => "1",
            "udp" => "2",
            _ => "3",
        };
        put(&format!("rackHaLnkKind.{i}"), kind.into());
        put(&format!("rackHaLnkTransport.{i}"), l["transport"].as_str().unwrap().into());
        put(&format!("rackHaLnkOpen.{i}"), truth(l["open"].as_bool().unwrap()));
        let state = ["init", "up", "warn", "down"].iter().position(|s| l["state"] == *s).unwrap() + 1;
        put(&format!("rackHaLnkState.{i}"), state.to_string());
        for (column, key) in [
            ("FramesIn", "frames_in"),
            ("FramesOut", "frames_out"),
            ("SendErrors", "send_errors"),
            ("CrcErrors", "crc_errors"),
            ("AuthFailures", "auth_failures"),
            ("Replays", "replays"),
            ("Malformed", "malformed"),
            ("UnknownLink", "unknown_link"),
            ("Transitions", "transitions"),
            ("Downs", "downs"),
        ] {
            counters.insert(format!("rackHaLnk{column}.{i}"), (l[key].as_u64().unwrap(), after_link(i, key)));
        }
    }
    for f in a["fence_devices"].as_array().into_iter().flatten() {
        let i = name_id(f["node"].as_str().unwrap());
        put(&format!("rackHaRlyNode.{i}"), f["node"].as_str().unwrap().into());
        put(&format!("rackHaRlyHealth.{i}"), if f["state"] == "ok" { "1" } else { "2" }.into());
    }
    let array = &s["array"];
    if array.is_object() {
        let console = match array["console"]["state"].as_str().unwrap() {
            "unknown" => "1",
            "answering" => "2",
            _ => "3",
        };
        put("rackHaArrayConsoleState.0", console.into());
        put("rackHaArrayDialect.0", array["console"]["dialect"].as_str().unwrap().into());
        put("rackHaArrayDevice.0", array["console"]["device"].as_str().unwrap().into());
        put("rackHaArrayWrongBaud.0", truth(array["console"]["wrong_baud"].as_bool().unwrap()));
        if let Some(n) = array["survivable_failures"].as_u64() {
            put("rackHaArraySurvivableFailures.0", n.to_string());
        }
        for (pos, d) in (1..).zip(array["drives"].as_array().unwrap()) {
            put(&format!("rackHaDrvName.{pos}"), d["name"].as_str().unwrap().into());
            put(&format!("rackHaDrvRaidLevel.{pos}"), d["raid_level"].as_str().unwrap().into());
            put(&format!("rackHaDrvState.{pos}"), d["state"].as_str().unwrap().into());
            if let Some(p) = d["rebuild_percent"].as_u64() {
                put(&format!("rackHaDrvRebuildPercent.{pos}"), p.to_string());
            }
            if let Some(n) = d["survivable_failures"].as_u64() {
                put(&format!("rackHaDrvSurvivableFailures.{pos}"), n.to_string());
            }
        }
        for (pos, d) in (1..).zip(array["disks"].as_array().unwrap()) {
            put(&format!("rackHaDskName.{pos}"), d["name"].as_str().unwrap().into());
            put(&format!("rackHaDskState.{pos}"), d["state"].as_str().unwrap().into());
            put(&format!("rackHaDskDrive.{pos}"), d["drive"].as_str().unwrap_or("").into());
            if let Some(p) = d["rebuild_percent"].as_u64() {
                put(&format!("rackHaDskRebuildPercent.{pos}"), p.to_string());
            }
        }
        for (pos, e) in (1..).zip(array["environment"].as_array().unwrap()) {
            put(&format!("rackHaSnsName.{pos}"), e["name"].as_str().unwrap().into());
            put(&format!("rackHaSnsKind.{pos}"), e["kind"].as_str().unwrap().into());
            put(&format!("rackHaSnsReading.{pos}"), e["reading"].as_str().unwrap().into());
            put(&format!("rackHaSnsAlarm.{pos}"), e["alarm"].as_str().unwrap_or("").into());
        }
    }
    for (object, key) in [
        ("rackHaSnmpRequests", "requests"),
        ("rackHaSnmpResponses", "responses"),
        ("rackHaSnmpMalformed", "malformed"),
        ("rackHaSnmpBadVersions", "bad_versions"),
        ("rackHaSnmpBadCommunities", "bad_communities"),
        ("rackHaSnmpUsmRefused", "usm_refused"),
        ("rackHaSnmpSetsRefused", "sets_refused"),
        ("rackHaSnmpTooBig", "too_big"),
    ] {
        counters.insert(
            format!("{object}.0"),
            (main_status_counter(before, key), main_status_counter(after, key)),
        );
    }
    Expected { exact, counters }
}

/// Compare a walk with the status read before and after it: the same set of instances, each
/// exact value equal, each counter within its bounds.
fn compare(walk: &BTreeMap<String, String>, e: &Expected) -> Result<usize, String> {
    let mut problems = Vec::new();
    for (name, value) in walk {
        if let Some(want) = e.exact.get(name) {
            if want != value {
                problems.push(format!("{name}: snmp {value:?}, status {want:?}"));
            }
        } else if let Some((low, high)) = e.counters.get(name) {
            match value.parse::<u64>() {
                Ok(v) if *low <= v && v <= *high => {}
                _ => problems.push(format!("{name}: snmp {value:?}, status between {low} and {high}")),
            }
        } else {
            problems.push(format!("{name} = {value:?}: not in the status"));
        }
    }
    for name in e.exact.keys().chain(e.counters.keys()) {
        if !walk.contains_key(name) {
            problems.push(format!("{name}: in the status, not in the walk"));
        }
    }
    if problems.is_empty() {
        Ok(walk.len())
    } else {
        Err(problems.join("\n"))
    }
}

/// Walk, bracketed by two status reads; retried while something moved between them (a state
/// change in the rack, which the test does not cause but cannot forbid).
fn walk_matches_status(rack: &Rack, member: &str, station: &Station, security: &[&str], what: &str) -> usize {
    let mut last = String::new();
    for _ in 0..5 {
        let before = rack.status(member);
        let walk = station
            .query("snmpbulkwalk", security, &["RACK-HA-MIB::rackHaObjects"])
            .unwrap_or_else(|e| panic!("{what} walk: {e}"));
        let after = rack.status(member);
        match compare(&walk, &expected(&before, &after)) {
            Ok(n) => return n,
            Err(problems) => last = format!("{problems}\nwalk: {walk:#?}"),
        }
    }
    panic!("{what}: the walk does not match the status:\n{last}");
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn link_downs(rack: &Rack) -> BTreeMap<String, u64> {
    let mut downs = BTreeMap::new();
    for member in ["witness", "node-a", "node-b"] {
        for l in rack.status(member)["links"].as_array().unwrap() {
            downs.insert(format!("{member} link {}", l["id"]), l["downs"].as_u64().unwrap());
        }
    }
    downs
}

/// Valid requests to cut and corrupt: a v2c get and getbulk, a v3 discovery probe and a v3
/// authPriv get (built with the agent's own encoders, keys of the configured user).
fn valid_requests(engine_id: &[u8]) -> Vec<Vec<u8>> {
    let name = Oid::new(&[1, 3, 6, 1, 4, 1, 99999, 1, 2, 1, 0]);
    let pdu_bytes = |tag: u8, a: i32, b: i32| {
        let mut out = Vec::new();
        pdu::Pdu {
            tag,
            request_id: 4242,
            error_status: a,
            error_index: b,
            varbinds: vec![VarBind::new(name.clone(), SnmpValue::Null)],
        }
        .encode(&mut out);
        out
    };
    let get = pdu_bytes(pdu::TAG_GET_REQUEST, 0, 0);
    let bulk = pdu_bytes(0xA5, 0, 20);
    let mut requests = vec![
        pdu::encode_community_message(pdu::VERSION_V2C, COMMUNITY.as_bytes(), &get),
        pdu::encode_community_message(pdu::VERSION_V2C, COMMUNITY.as_bytes(), &bulk),
    ];
    let empty = EngineParams { engine_id: vec![], boots: 0, time: 0 };
    requests.push(usm::encode_v3(&OutgoingV3 {
        msg_id: 77,
        reportable: true,
        engine: &empty,
        user: None,
        context_engine_id: b"",
        salt: 0,
        pdu: &get,
    }));
    let user = UsmUser::from_passwords(
        V3_USER,
        Some((AuthProtocol::HmacSha256_192, AUTH_PASS.as_bytes())),
        Some((PrivProtocol::Aes128Cfb, PRIV_PASS.as_bytes())),
    )
    .localize(engine_id);
    let ours = EngineParams { engine_id: engine_id.to_vec(), boots: 1, time: 1 };
    requests.push(usm::encode_v3(&OutgoingV3 {
        msg_id: 78,
        reportable: true,
        engine: &ours,
        user: Some(&user),
        context_engine_id: engine_id,
        salt: 9,
        pdu: &bulk,
    }));
    requests
}

/// A small xorshift generator: the junk is reproducible from its seed.
struct Junk(u64);
impl Junk {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn net_snmp_tools_read_the_witness_and_junk_does_not_disturb_it() {
    let mibs = mib_dirs();
    let port = free_udp_port();
    let trap_sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = trap_sink.local_addr().unwrap().port();
    let console = ConsoleSim::start(SimDialect::Areca, None).expect("console simulator");
    let witness_extra = format!(
        r#"
[snmp]
listen = "127.0.0.1:{port}"
read_community = "{COMMUNITY}"
engine_id = "8001869f047261636b2d77"

[[snmp.targets]]
name = "secure-nms"
version = "v3"
address = "127.0.0.1:{sink_port}"
kind = "trap"
user = "{V3_USER}"
auth = "sha256"
auth_key_file = "@DIR@/auth.key"
priv = "aes128"
priv_key_file = "@DIR@/priv.key"
{}"#,
        Toml::new().areca_array(&console.path().to_string_lossy(), 1000, 800).extra()
    );
    let engine_id: Vec<u8> = vec![0x80, 0x01, 0x86, 0x9f, 0x04, b'r', b'a', b'c', b'k', b'-', b'w'];
    let node_port = free_udp_port();
    let node_extra =
        format!("\n[snmp]\nlisten = \"127.0.0.1:{node_port}\"\nread_community = \"{COMMUNITY}\"\n");
    let builder = Rack::builder("snmpget").extra("witness", &witness_extra).extra("node-a", &node_extra);
    let rack = ha_tests::fixtures::failover_rack_prepared(builder, |dir| {
        write_private(&dir.join("auth.key"), &format!("{AUTH_PASS}\n"));
        write_private(&dir.join("priv.key"), &format!("{PRIV_PASS}\n"));
    })
    .unwrap_or_else(|e| panic!("rack: {e}"));
    rack.wait_for(UP_TIMEOUT, || {
        rack.everything_up()
            && rack.try_status("witness").is_ok_and(|s| {
                s["array"]["drives"].as_array().is_some_and(|d| !d.is_empty())
                    && s["authority"]["holder"].is_string()
                    && s["authority"]["nodes"]
                        .as_array()
                        .is_some_and(|n| n.iter().all(|n| n["ready"].is_boolean()))
            })
    })
    .unwrap_or_else(|e| panic!("the rack did not settle: {e}\n{}", rack.table()));
    let station = Station { mibs, agent: format!("udp:127.0.0.1:{port}"), dir: rack.dir().to_path_buf() };

    // The whole MIB, over v2c and over v3 authPriv, against the status.
    let v2c = v2c();
    let n = walk_matches_status(&rack, "witness", &station, &v2c, "v2c");
    println!("snmpbulkwalk v2c: {n} instances, each equal to `status --json`");
    let v3 = v3();
    let n3 = walk_matches_status(&rack, "witness", &station, &v3, "v3 authPriv");
    println!("snmpbulkwalk v3 authPriv (SHA-256, AES-128): {n3} instances, each equal to `status --json`");
    assert_eq!(n, n3, "both versions see the same objects");
    // A node answers too, with a node's objects (quorum, its resources; no relay, no array).
    let node_station = Station { agent: format!("udp:127.0.0.1:{node_port}"), ..station.clone() };
    let n_node = walk_matches_status(&rack, "node-a", &node_station, &v2c, "node-a v2c");
    println!("snmpbulkwalk v2c of node-a: {n_node} instances, each equal to its `status --json`");

    // Single objects by name.
    let status = rack.status("witness");
    let cluster = status["cluster"].as_str().unwrap().to_string();
    let holder = status["authority"]["holder"].as_str().unwrap().to_string();
    for security in [&v2c, &v3] {
        let got = station
            .query(
                "snmpget",
                security,
                &["RACK-HA-MIB::rackHaClusterHolder.0", "RACK-HA-MIB::rackHaMbrName.2"],
            )
            .unwrap_or_else(|e| panic!("snmpget: {e}"));
        assert_eq!(got.get("rackHaClusterHolder.0"), Some(&holder), "{got:?}");
        assert_eq!(got.get("rackHaMbrName.2").map(String::as_str), Some("node-a"), "{got:?}");
        // An instance that does not exist is said so, not invented.
        let missing = station.run("snmpget", security, &["RACK-HA-MIB::rackHaMbrName.9"]);
        let text = String::from_utf8_lossy(&missing.stdout);
        assert!(text.contains("No Such Instance"), "{text}");
    }

    // The docs' snmptable line: the link table as a table, sparse columns and all.
    let out = station.run("snmptable", &v3, &["-Cf", "|", "RACK-HA-MIB::rackHaLinkTable"]);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "snmptable: {table}{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("node-")).collect();
    assert_eq!(rows.len(), status["links"].as_array().unwrap().len(), "one row per link:\n{table}");

    // Set is refused, over both versions; the value stays.
    let sets_before = main_status_counter(&rack.status("witness"), "sets_refused");
    for security in [&v2c, &v3] {
        let out = station.run("snmpset", security, &["RACK-HA-MIB::rackHaClusterName.0", "s", "stolen"]);
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success() && text.contains("notWritable"), "snmpset: {text}");
        let out = station.run("snmpset", security, &["SNMPv2-MIB::sysName.0", "s", "stolen"]);
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success() && text.contains("noAccess"), "snmpset outside the MIB: {text}");
    }
    let status = rack.status("witness");
    assert_eq!(main_status_counter(&status, "sets_refused"), sets_before + 4);
    assert_eq!(status["cluster"].as_str(), Some(cluster.as_str()), "nothing changed");
    println!("snmpset: refused (notWritable inside RACK-HA-MIB, noAccess outside), 4 counted");

    // A wrong community gets nothing; an unknown user only a Report. Both counted.
    let bad_before = main_status_counter(&status, "bad_communities");
    let usm_before = main_status_counter(&status, "usm_refused");
    let out = station.run("snmpget", &["-v2c", "-c", "guess"], &["RACK-HA-MIB::rackHaClusterName.0"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && text.contains("Timeout"), "wrong community: {text}");
    let mut nobody = v3.clone();
    nobody[4] = "nobody";
    let out = station.run("snmpget", &nobody, &["RACK-HA-MIB::rackHaClusterName.0"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && text.contains("Unknown user name"), "unknown user: {text}");
    let mut wrong_key = v3.clone();
    wrong_key[8] = "not-the-passphrase";
    let out = station.run("snmpget", &wrong_key, &["RACK-HA-MIB::rackHaClusterName.0"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && !text.contains(&cluster), "wrong key: {text}");
    let status = rack.status("witness");
    // snmpget retries once (-r 1): two datagrams with the wrong community.
    assert_eq!(main_status_counter(&status, "bad_communities"), bad_before + 2);
    assert!(main_status_counter(&status, "usm_refused") > usm_before, "{}", status["snmp_agent"]);
    println!(
        "wrong community: no answer; unknown user and wrong key: refused by USM; counted: {}",
        status["snmp_agent"]
    );

    // 10,000 datagrams of junk: random bytes, valid requests cut short, valid requests with
    // flipped bytes. Sent in batches the witness counts before the next.
    let generation = status["authority"]["generation"].clone();
    let holder = status["authority"]["holder"].clone();
    let downs_before = link_downs(&rack);
    let witness_busy_before = status["stalls"]["busy_count"].as_u64().unwrap();
    let node_stalls = || -> u64 {
        ["node-a", "node-b"].iter().map(|m| rack.status(m)["stalls"]["count"].as_u64().unwrap()).sum()
    };
    let node_stalls_before = node_stalls();
    let valid = valid_requests(&engine_id);
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = format!("127.0.0.1:{port}");
    let mut junk = Junk(0x5eed_cafe_f00d_0001);
    let requests_before = main_status_counter(&status, "requests");
    let dropped_before = main_status_counter(&status, "malformed")
        + main_status_counter(&status, "bad_versions")
        + main_status_counter(&status, "bad_communities")
        + main_status_counter(&status, "usm_refused");
    let started = Instant::now();
    let mut sent = 0usize;
    let mut kinds = [0usize; 3];
    while sent < JUNK_DATAGRAMS {
        for _ in 0..JUNK_BATCH.min(JUNK_DATAGRAMS - sent) {
            let kind = junk.below(3);
            kinds[kind] += 1;
            let datagram: Vec<u8> = match kind {
                0 => {
                    let len = junk.below(1500);
                    let mut bytes: Vec<u8> = (0..len).map(|_| junk.next() as u8).collect();
                    if len > 2 && junk.below(2) == 0 {
                        bytes[0] = 0x30; // a SEQUENCE, to get past the first check
                    }
                    bytes
                }
                1 => {
                    let v = &valid[junk.below(valid.len())];
                    v[..junk.below(v.len())].to_vec()
                }
                _ => {
                    let mut v = valid[junk.below(valid.len())].clone();
                    for _ in 0..=junk.below(4) {
                        let at = junk.below(v.len());
                        v[at] ^= 1 << junk.below(8);
                    }
                    v
                }
            };
            sender.send_to(&datagram, &target).unwrap();
            sent += 1;
        }
        let want = requests_before + sent as u64;
        wait_until(COUNT_TIMEOUT, || {
            rack.try_status("witness").is_ok_and(|s| main_status_counter(&s, "requests") >= want)
        })
        .unwrap_or_else(|| {
            panic!("the witness did not count {want} requests: {}", rack.status("witness")["snmp_agent"])
        });
    }
    let took = started.elapsed();
    let status = rack.status("witness");
    let counted = main_status_counter(&status, "requests") - requests_before;
    let dropped = main_status_counter(&status, "malformed")
        + main_status_counter(&status, "bad_versions")
        + main_status_counter(&status, "bad_communities")
        + main_status_counter(&status, "usm_refused")
        - dropped_before;
    println!(
        "junk: {sent} datagrams (random {}, truncated {}, corrupted {}) in {took:?}; the witness counted {counted}, \
         refused or dropped {dropped}; snmp_agent {}; stalls {}",
        kinds[0], kinds[1], kinds[2], status["snmp_agent"], status["stalls"]
    );
    assert_eq!(counted, sent as u64, "every datagram reached the responder and was counted");
    // A corrupted request may survive as a valid one (a flipped bit in a varbind's OID), so
    // not every datagram is refused; but almost all are.
    assert!(dropped >= (sent as u64) * 9 / 10, "dropped {dropped} of {sent}");
    // Still answering, and nobody noticed: no link down anywhere, the same holder and
    // generation.
    let got =
        station.query("snmpget", &v3, &["RACK-HA-MIB::rackHaClusterName.0"]).expect("answers after junk");
    assert_eq!(got.get("rackHaClusterName.0"), Some(&cluster));
    assert_eq!(link_downs(&rack), downs_before, "no link went down during the junk");
    // The witness's loop never worked longer than stall_warn_ms (100 ms here) without
    // sleeping, unless the whole machine stood still: then the nodes, which got no junk,
    // woke late too (a loaded test machine does that; the responder must not).
    let witness_busy = status["stalls"]["busy_count"].as_u64().unwrap() - witness_busy_before;
    let node_stalls_during = node_stalls() - node_stalls_before;
    assert!(
        witness_busy == 0 || node_stalls_during > 0,
        "the witness was busy {witness_busy} times beyond stall_warn_ms while the nodes never stalled: {}",
        status["stalls"]
    );
    assert!(rack.everything_up(), "{}", rack.table());
    let status = rack.status("witness");
    assert_eq!(
        (status["authority"]["generation"].clone(), status["authority"]["holder"].clone()),
        (generation, holder)
    );
    rack.check_running().unwrap_or_else(|e| panic!("{e}"));

    // The operator fences node-b (the relay stand-in cuts its power): the latest fence's
    // objects appear, node-b's row says unreachable, and the walk still matches the status.
    let (code, text) = ha_tests::fixtures::agent_command(&rack, "witness", &["fence", "node-b", "--yes"]);
    assert_eq!(code, 0, "fence: {text}");
    wait_until(FENCE_TIMEOUT, || {
        rack.try_status("witness").is_ok_and(|s| s["authority"]["last_fence"].is_object())
    })
    .unwrap_or_else(|| panic!("no fence outcome: {}", rack.status("witness")["authority"]));
    let n = walk_matches_status(&rack, "witness", &station, &v2c, "v2c after a fence");
    let got = station.query("snmpget", &v3, &["RACK-HA-MIB::rackHaLastFenceNode.0"]).expect("last fence");
    assert_eq!(got.get("rackHaLastFenceNode.0").map(String::as_str), Some("node-b"));
    println!("after fencing node-b: {n} instances, each equal to `status --json`; {got:?}");
}

//! Tests of `config`: the examples load, and each rule reports its problem where it is.

use super::*;

const WITNESS: &str = include_str!("../../../docs/examples/witness.toml");
const NODE_A: &str = include_str!("../../../docs/examples/node-a.toml");
const NODE_B: &str = include_str!("../../../docs/examples/node-b.toml");

/// A small valid witness configuration that relies on every default (also the base of other
/// modules' test configurations).
pub(crate) const MINIMAL: &str = r#"
cluster = "c1"
member = "w"
[[members]]
name = "w"
id = 1
role = "witness"
[[members]]
name = "a"
id = 2
role = "node"
[[members]]
name = "b"
id = 3
role = "node"
[[links]]
id = 1
peer = "a"
kind = "serial"
device = "/dev/ttyS1"
[[links]]
id = 2
peer = "b"
kind = "ethernet"
interface = "eth1"
"#;

fn parse(text: &str) -> Result<Config, Vec<Problem>> {
    parse_str(text, Path::new("/etc/ha-agent/agent.toml"))
}

fn kinds(problems: &[Problem]) -> Vec<ProblemKind> {
    problems.iter().map(|p| p.kind).collect()
}

#[test]
fn examples_parse() {
    let origin = Path::new("docs/examples/witness.toml");
    let witness = parse_str(WITNESS, origin).expect("witness example is valid");
    assert_eq!(witness.cluster, "payments");
    assert_eq!(witness.me, MemberId(1));
    assert_eq!(witness.me().role, Role::Witness);
    assert_eq!(witness.members.len(), MEMBERS_COUNT);
    assert_eq!(witness.key_file, PathBuf::from("docs/examples/cluster.key"));
    let ids: Vec<u8> = witness.links.iter().map(|l| l.id).collect();
    assert_eq!(ids, [1, 2, 11, 12]);
    assert_eq!(
        witness.links[0].kind,
        LinkKind::Serial { device: PathBuf::from("/dev/ttyS1"), baud: 115_200 }
    );
    assert_eq!(
        witness.links[2].kind,
        LinkKind::Udp {
            local: "10.10.11.1:694".parse().unwrap(),
            remote: "10.10.11.2:694".parse().unwrap(),
            broadcast: false
        }
    );
    assert_eq!(witness.links[2].peer, MemberId(2));
    assert_eq!(witness.authority.preferred.as_deref(), Some("node-a"));
    let relay = witness.relay.as_ref().expect("the witness has relays");
    let fenced: Vec<&str> = relay.channels.iter().map(|c| c.node.as_str()).collect();
    assert_eq!(fenced, ["node-a", "node-b"]);
    assert!(relay.channels.iter().all(|c| c.device.as_deref() == Some(Path::new("/dev/ttyS3"))));
    let snmp = witness.snmp.as_ref().expect("the witness notifies");
    assert_eq!(snmp.targets.len(), 1);
    assert_eq!(snmp.targets[0].address, "192.0.2.10:162".parse().unwrap());
    assert_eq!((witness.resources.as_ref(), witness.watchdog.as_ref()), (None, None));

    let node_a = parse_str(NODE_A, Path::new("node-a.toml")).expect("node-a example is valid");
    let node_b = parse_str(NODE_B, Path::new("node-b.toml")).expect("node-b example is valid");
    assert_eq!((node_a.me, node_a.me().role), (MemberId(2), Role::Node));
    assert_eq!((node_b.me, node_b.me().role), (MemberId(3), Role::Node));
    for node in [&node_a, &node_b] {
        let group = node.resources.as_ref().expect("nodes run the group");
        let names: Vec<&str> = group.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["volume", "service"]);
        let agents: Vec<String> = group.resources.iter().map(|r| r.agent.to_string()).collect();
        assert_eq!(agents, ["ocf:heartbeat:Dummy", "ocf:heartbeat:Dummy"]);
        let watchdog = node.watchdog.as_ref().expect("nodes have a watchdog");
        assert_eq!(watchdog.timeout_s, 10);
        assert_eq!(node.relay, None);
        // One [authority] in every file: the witness's deadlines use the nodes' values.
        assert_eq!(node.authority, witness.authority);
    }
    // The same members everywhere, and each link id names the same pair at both ends.
    assert_eq!(witness.members, node_a.members);
    assert_eq!(witness.members, node_b.members);
    let pair = |config: &Config, id: u8| {
        let link = config.links.iter().find(|l| l.id == id).expect("link present");
        let mut pair = [config.me, link.peer];
        pair.sort();
        pair
    };
    for (id, a, b) in [(1, &witness, &node_a), (2, &witness, &node_b), (3, &node_a, &node_b)] {
        assert_eq!(pair(a, id), pair(b, id), "serial link {id}");
    }
    for (id, a, b) in [(11, &witness, &node_a), (12, &witness, &node_b), (13, &node_a, &node_b)] {
        assert_eq!(pair(a, id), pair(b, id), "udp link {id}");
    }
}

#[test]
fn cluster_id_is_sha256_prefix() {
    // Computed independently: python3 -c "hashlib.sha256(b'payments').digest()[:4]".
    assert_eq!(cluster_id_of("payments"), 0xdf38_4ae9);
    assert_eq!(parse_str(WITNESS, Path::new("w.toml")).unwrap().cluster_id, 0xdf38_4ae9);
}

#[test]
fn defaults_apply() {
    let config = parse(MINIMAL).expect("minimal configuration is valid");
    assert_eq!(config.timing, DEFAULT_TIMING);
    assert_eq!(config.timing, Timing { interval_ms: 200, warn_ms: 500, dead_ms: 1000, initdead_ms: 5000 });
    assert_eq!(config.shell, ShellConfig { mlockall: true, realtime_priority: 0, stall_warn_ms: 100 });
    assert_eq!(config.authority, DEFAULT_AUTHORITY);
    assert_eq!((config.resources, config.relay, config.watchdog, config.snmp), (None, None, None, None));
    assert_eq!(config.key_file, PathBuf::from("/etc/ha-agent/cluster.key"));
    assert_eq!(config.state_dir, PathBuf::from("/var/lib/ha-agent"));
    assert_eq!(config.control_socket, PathBuf::from("/run/ha-agent/control.sock"));
    assert_eq!(config.links[0].kind, LinkKind::Serial { device: "/dev/ttyS1".into(), baud: DEFAULT_BAUD });
    assert_eq!(config.links[1].kind, LinkKind::Ethernet { interface: "eth1".into() });
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let text = format!("key_file = \"keys/k.hex\"\nstate_dir = \"state\"\n{MINIMAL}");
    let config = parse_str(&text, Path::new("/srv/cfg/agent.toml")).unwrap();
    assert_eq!(config.key_file, PathBuf::from("/srv/cfg/keys/k.hex"));
    assert_eq!(config.state_dir, PathBuf::from("/srv/cfg/state"));
    let config = parse_str(&text, Path::new("agent.toml")).unwrap();
    assert_eq!(config.key_file, PathBuf::from("keys/k.hex"));
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let text = MINIMAL
        .replace("cluster = \"c1\"", "cluster = \"c1\"\nbogus = 1")
        .replace("id = 2\nrole", "id = 300\nrole")
        .replace("peer = \"b\"", "peer = \"w\"");
    let problems = parse(&text).unwrap_err();
    assert_eq!(
        kinds(&problems),
        // NoLinkToPeer points at the first [[links]] header, before the link to self.
        [ProblemKind::UnknownKey, ProblemKind::BadValue, ProblemKind::NoLinkToPeer, ProblemKind::LinkToSelf]
    );
    assert_eq!(problems[0].location, "/etc/ha-agent/agent.toml:line 3: bogus");
    assert_eq!(problems[1].location, "/etc/ha-agent/agent.toml:line 11: members[1].id");
    assert_eq!(problems[2].location, "/etc/ha-agent/agent.toml:line 17: links");
    assert!(problems[2].message.contains("\"b\""), "{}", problems[2].message);
}

#[test]
fn authority_values_are_parsed() {
    let text = format!(
        "{MINIMAL}[authority]\nself_fence_ms = 3000\nstop_timeout_ms = 90000\nmargin_ms = 500\npreferred = \"b\"\nauto_failback = true\nwait_for_all = true\npower_on_after_fence = false\nunknown_fence_bound_ms = 120000\nfence_retry_initial_ms = 2000\nfence_retry_max_ms = 2000\nrequire_watchdog = true\n"
    );
    let config = parse(&text).expect("valid authority");
    assert_eq!(
        config.authority,
        AuthorityConfig {
            self_fence_ms: 3000,
            stop_timeout_ms: 90_000,
            margin_ms: 500,
            preferred: Some("b".into()),
            auto_failback: true,
            wait_for_all: true,
            power_on_after_fence: false,
            unknown_fence_bound_ms: 120_000,
            fence_retry_initial_ms: 2000,
            fence_retry_max_ms: 2000,
            require_watchdog: true,
        }
    );
}

#[test]
fn authority_bounds_hold_at_their_edges() {
    let with = |line: &str| parse(&format!("{MINIMAL}[authority]\n{line}\n"));
    // self_fence_ms = dead_ms and margin_ms = interval_ms are the smallest valid values.
    assert!(with("self_fence_ms = 1000").is_ok());
    assert_eq!(kinds(&with("self_fence_ms = 999").unwrap_err()), [ProblemKind::SelfFenceTooShort]);
    assert!(with("margin_ms = 200").is_ok());
    assert_eq!(kinds(&with("margin_ms = 199").unwrap_err()), [ProblemKind::MarginTooShort]);
    assert!(with(&format!("stop_timeout_ms = {AUTHORITY_MS_MAX}")).is_ok());
    assert!(with("unknown_fence_bound_ms = 62000").is_ok());
    for bad in [
        format!("stop_timeout_ms = {}", AUTHORITY_MS_MAX + 1),
        "stop_timeout_ms = 0".to_string(),
        "fence_retry_initial_ms = 0".to_string(),
        "margin_ms = -1".to_string(),
        // Below self_fence_ms + stop_timeout_ms = 2000 + 60000 (the defaults).
        "unknown_fence_bound_ms = 61999".to_string(),
        "auto_failback = \"yes\"".to_string(),
        "preferred = 2".to_string(),
    ] {
        assert_eq!(kinds(&with(&bad).unwrap_err()), [ProblemKind::BadValue], "{bad}");
    }
    assert_eq!(kinds(&with("auto_failback = true").unwrap_err()), [ProblemKind::MissingKey]);
    // The witness has no resources: require_watchdog does not concern it.
    assert!(with("require_watchdog = true").is_ok());
}

#[test]
fn a_default_that_breaks_a_rule_is_named_as_the_default() {
    // dead_ms = 3000 makes the default self_fence_ms (2000) too short; nothing in the file
    // is wrong at a line, so the problem has none.
    let text =
        format!("{MINIMAL}[timing]\ninterval_ms = 200\nwarn_ms = 1000\ndead_ms = 3000\ninitdead_ms = 5000\n");
    let problems = parse(&text).unwrap_err();
    assert_eq!(kinds(&problems), [ProblemKind::SelfFenceTooShort]);
    assert_eq!(problems[0].location, "/etc/ha-agent/agent.toml: authority.self_fence_ms");
    assert!(problems[0].message.contains("self_fence_ms = 2000 (the default)"), "{}", problems[0].message);
}

#[test]
fn serde_sections_report_every_section_at_once() {
    // One problem per broken section: serde stops at a section's first error, but each
    // section is deserialized on its own.
    let text = format!(
        "{MINIMAL}[watchdog]\ntimeout = 5\n[snmp]\ncolour = 1\n[[relay.channels]]\nnode = \"a\"\nboard = \"x10\"\n"
    );
    let problems = parse(&text).unwrap_err();
    let locations: Vec<&str> = problems.iter().map(|p| p.location.as_str()).collect();
    assert_eq!(
        locations,
        [
            "/etc/ha-agent/agent.toml:line 27: watchdog.timeout",
            "/etc/ha-agent/agent.toml:line 29: snmp.colour",
            "/etc/ha-agent/agent.toml:line 32: relay.channels[0].board",
        ]
    );
    assert_eq!(kinds(&problems), [ProblemKind::UnknownKey, ProblemKind::UnknownKey, ProblemKind::BadValue]);
}

#[test]
fn relative_snmp_key_files_resolve_against_the_config_directory() {
    let text = format!(
        "{MINIMAL}[[snmp.targets]]\nname = \"s\"\nversion = \"v3\"\naddress = \"192.0.2.11:162\"\nkind = \"trap\"\nuser = \"u\"\nauth = \"sha1\"\nauth_key_file = \"keys/auth\"\n"
    );
    let config = parse_str(&text, Path::new("/srv/cfg/agent.toml")).unwrap();
    let target = &config.snmp.unwrap().targets[0];
    assert_eq!(target.auth_key_file.as_deref(), Some(Path::new("/srv/cfg/keys/auth")));
}

#[test]
fn serial_interval_boundary_is_the_wire_time() {
    let baud = 9600;
    let wire_ms = serial_wire_ms(baud);
    // Exactly the wire time of the largest frame, rounded up.
    let bits_ms = MAX_SERIAL_BYTES as u64 * SERIAL_BITS_PER_BYTE * 1000;
    assert!(wire_ms * u64::from(baud) >= bits_ms && (wire_ms - 1) * u64::from(baud) < bits_ms);
    let with_interval = |interval_ms: u64| {
        let timing = format!(
            "[timing]\ninterval_ms = {interval_ms}\nwarn_ms = {}\ndead_ms = {}\ninitdead_ms = {}\n",
            interval_ms * 2,
            interval_ms * 3,
            interval_ms * 3
        );
        parse(&format!("{}\n{timing}", MINIMAL.replace("/dev/ttyS1\"", "/dev/ttyS1\"\nbaud = 9600")))
    };
    assert!(with_interval(wire_ms).is_ok());
    let problems = with_interval(wire_ms - 1).unwrap_err();
    assert_eq!(kinds(&problems), [ProblemKind::IntervalTooShortForBaud]);
}

#[test]
fn udp_broadcast_needs_the_flag() {
    let udp = "kind = \"udp\"\nlocal = \"10.0.0.1:694\"\nremote = \"10.0.0.255:694\"";
    let text = MINIMAL.replace("kind = \"ethernet\"\ninterface = \"eth1\"", udp);
    assert_eq!(kinds(&parse(&text).unwrap_err()), [ProblemKind::BadValue]);
    let config = parse(&format!("{text}\nbroadcast = true")).unwrap();
    assert!(matches!(config.links[1].kind, LinkKind::Udp { broadcast: true, .. }));
}

#[test]
fn too_many_links() {
    let mut text = MINIMAL.to_string();
    for id in 10..10 + MAX_LINKS {
        text.push_str(&format!(
            "[[links]]\nid = {id}\npeer = \"a\"\nkind = \"ethernet\"\ninterface = \"eth{id}\"\n"
        ));
    }
    let problems = parse(&text).unwrap_err();
    assert_eq!(kinds(&problems), [ProblemKind::TooManyLinks]);
    assert!(problems[0].location.ends_with(&format!("links[{MAX_LINKS}]")));
}

#[test]
fn did_you_mean() {
    assert_eq!(closest("intervall_ms", TIMING_KEYS), Some("interval_ms"));
    assert_eq!(closest("colour", TIMING_KEYS), None);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ha-agent-config-unit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn key_file_hex_with_whitespace() {
    let dir = temp_dir("key");
    let path = dir.join("k");
    std::fs::write(&path, "00 01 02 03 04 05 06 07\n08090a0b0c0d0E0F\n").unwrap();
    let key = load_key(&path).expect("16-byte key");
    assert_eq!(key.0.as_slice(), (0u8..16).collect::<Vec<_>>().as_slice());

    std::fs::write(&path, "00112233").unwrap();
    assert_eq!(load_key(&path).unwrap_err().kind, ProblemKind::KeyTooShort);
    std::fs::write(&path, "0".repeat(129)).unwrap();
    assert_eq!(load_key(&path).unwrap_err().kind, ProblemKind::BadValue);
    std::fs::write(&path, "0".repeat(31)).unwrap();
    assert_eq!(load_key(&path).unwrap_err().kind, ProblemKind::BadValue);
    // A bad character is located, never echoed, and neither is the rest of the key.
    std::fs::write(&path, "5ec2e7a5ec2e7a5ec2e7a5ec2e7aZZ5ec2e7").unwrap();
    let problem = load_key(&path).unwrap_err();
    assert_eq!(problem.kind, ProblemKind::BadValue);
    let shown = problem.to_string();
    assert!(!shown.contains("ZZ") && !shown.contains("5ec2e7"), "{shown}");
    assert_eq!(load_key(&dir.join("absent")).unwrap_err().kind, ProblemKind::KeyFileMissing);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fence_service_rules_and_its_key() {
    let plug = |node: &str, device: &str| {
        format!("\n[[fence_service.plugs]]\nnode = \"{node}\"\nboard = \"modbus\"\ndevice = \"{device}\"\nchannel = 5\n")
    };
    let section = |plugs: &str| {
        format!("\n[fence_service]\nlisten = \"0.0.0.0:7790\"\nkey_file = \"fence.key\"\nclients = [\"10.0.0.21\"]\n{plugs}")
    };
    let problems = |text: &str| check_text(text, Path::new("w.toml")).checker.finish();
    // Valid on the witness, with its key file resolved next to the configuration.
    let good = format!("{WITNESS}{}", section(&plug("pm-a", "/dev/ttyUSB7")));
    let config = parse_str(&good, Path::new("/etc/x/w.toml")).unwrap();
    assert_eq!(config.fence_service.unwrap().key_file, PathBuf::from("/etc/x/fence.key"));
    // A member's name, a device of [relay], a heartbeat link's port.
    for (bad, kind, at) in [
        (plug("node-a", "/dev/ttyUSB7"), ProblemKind::WrongRole, "fence_service.plugs[0].node"),
        (plug("pm-a", "/dev/ttyS3"), ProblemKind::BadValue, "fence_service.plugs[0]"),
        (plug("pm-a", "/dev/ttyS1"), ProblemKind::BadValue, "fence_service.plugs[0].device"),
    ] {
        let found = problems(&format!("{WITNESS}{}", section(&bad)));
        assert_eq!(kinds(&found), [kind], "{found:?}");
        assert!(found[0].location.ends_with(at), "{}", found[0]);
    }
    // GPIO: a plug's output line is a [relay] channel's sense line.
    let gpio_relay = WITNESS.replacen(
        "board = \"modbus\"\ndevice = \"/dev/ttyS3\"\nbaud = 9600\naddress = 1\nchannel = 1\n",
        "board = \"gpio\"\nchip = \"/dev/gpiochip0\"\nline = 3\nsense_line = 4\n",
        1,
    );
    assert_ne!(gpio_relay, WITNESS);
    let gpio_plug = |line: u32| {
        format!("\n[[fence_service.plugs]]\nnode = \"pm-a\"\nboard = \"gpio\"\nchip = \"/dev/gpiochip0\"\nline = {line}\n")
    };
    assert_eq!(problems(&format!("{gpio_relay}{}", section(&gpio_plug(5)))), []);
    let found = problems(&format!("{gpio_relay}{}", section(&gpio_plug(4))));
    assert_eq!(kinds(&found), [ProblemKind::BadValue], "{found:?}");
    assert!(found[0].location.ends_with("fence_service.plugs[0]"), "{}", found[0]);
    // On a node.
    let found = problems(&format!("{NODE_A}{}", section(&plug("pm-a", "/dev/ttyUSB7"))));
    assert_eq!(kinds(&found), [ProblemKind::WrongRole]);

    // The key file: checked like the cluster key, and never the cluster key itself.
    let dir = temp_dir("fence-key");
    let path = dir.join("w.toml");
    std::fs::write(&path, &good).unwrap();
    std::fs::write(dir.join("cluster.key"), "00".repeat(32)).unwrap();
    std::fs::set_permissions(dir.join("cluster.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let report = check(&path, None);
    assert_eq!(kinds(&report.problems), [ProblemKind::KeyFileMissing], "{:?}", report.problems);
    assert!(report.problems[0].location.ends_with("fence_service.key_file"), "{}", report.problems[0]);
    std::fs::write(dir.join("fence.key"), "00".repeat(32)).unwrap();
    std::fs::set_permissions(dir.join("fence.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let report = check(&path, None);
    assert_eq!(kinds(&report.problems), [ProblemKind::BadValue], "{:?}", report.problems);
    assert!(report.problems[0].message.contains("is the cluster key"), "{}", report.problems[0]);
    std::fs::write(dir.join("fence.key"), "11".repeat(32)).unwrap();
    assert!(check(&path, None).problems.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The warnings of a text that is valid.
fn warnings(text: &str) -> Vec<Problem> {
    let checked = check_text(text, Path::new("agent.toml"));
    let (problems, warnings) = checked.checker.finish_with_warnings();
    assert!(problems.is_empty(), "{problems:?}");
    warnings
}

#[test]
fn the_examples_give_no_warning() {
    for text in [WITNESS, NODE_A, NODE_B] {
        assert_eq!(warnings(text), []);
    }
}

#[test]
fn one_link_to_a_member_is_a_warning() {
    let found = warnings(MINIMAL);
    assert_eq!(kinds(&found), [ProblemKind::OneLinkToPeer, ProblemKind::OneLinkToPeer]);
    assert_eq!(found[0].location, "agent.toml:line 16: links[0]");
    assert!(found[0].message.starts_with("only one link to \"a\""), "{}", found[0]);
    assert!(found[1].message.starts_with("only one link to \"b\""), "{}", found[1]);
    let two_to_a =
        format!("{MINIMAL}[[links]]\nid = 3\npeer = \"a\"\nkind = \"ethernet\"\ninterface = \"eth2\"\n");
    assert_eq!(kinds(&warnings(&two_to_a)), [ProblemKind::OneLinkToPeer]);
    assert!(parse(&two_to_a).is_ok(), "a warning leaves the file valid");
}

#[test]
fn a_node_without_watchdog_is_a_warning_unless_it_is_required() {
    let without = NODE_A.replace("[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout_s = 10\n", "");
    assert_ne!(without, NODE_A);
    let found = warnings(&without);
    assert_eq!(kinds(&found), [ProblemKind::NoWatchdog]);
    assert_eq!(found[0].location, "agent.toml: watchdog");
    // With require_watchdog it is a problem, reported once, not also a warning.
    let required = without.replace("require_watchdog = false", "require_watchdog = true");
    let checked = check_text(&required, Path::new("agent.toml"));
    let (problems, warned) = checked.checker.finish_with_warnings();
    assert_eq!((kinds(&problems), kinds(&warned)), (vec![ProblemKind::MissingKey], vec![]));
    // The witness needs none.
    assert_eq!(warnings(WITNESS), []);
}

#[test]
fn relay_warnings_and_the_command_channel_default() {
    let relay = |channel: &str| {
        WITNESS.replacen(
            "[[relay.channels]]\nnode = \"node-b\"\nboard = \"modbus\"\ndevice = \"/dev/ttyS3\"\nbaud = 9600\naddress = 1\nchannel = 1\n",
            &format!("[[relay.channels]]\nnode = \"node-b\"\n{channel}\n"),
            1,
        )
    };
    let command = "board = \"command\"\ncommand = \"/usr/sbin/fence_ipmilan\"\nplug = \"2\"";
    // The default timeout fits a fence agent with fence-agents' defaults.
    let default = relay(command);
    assert_ne!(default, WITNESS);
    assert_eq!(warnings(&default), []);
    let config = parse_str(&default, Path::new("w.toml")).unwrap();
    let channels = &config.relay.as_ref().unwrap().channels;
    assert_eq!(channels[1].exchange_timeout_ms(), crate::devices::config::COMMAND_TIMEOUT_MS_DEFAULT);
    assert_eq!(channels[1].fence_agent_needs_ms(), Some(25_000));
    assert_eq!(channels[0].exchange_timeout_ms(), 1000, "a relay board keeps its short exchange");
    assert_eq!(channels[0].fence_agent_needs_ms(), None);

    // A relay board's timeout on a command channel.
    let short = relay(&format!("{command}\ntimeout_ms = 1000"));
    let found = warnings(&short);
    assert_eq!(kinds(&found), [ProblemKind::CommandTimeoutShort]);
    assert!(found[0].location.ends_with(": relay.channels[1].timeout_ms"), "{}", found[0]);
    assert!(
        found[0].message.starts_with("timeout_ms = 1000 is shorter than the fence agent may need: 25000 ms"),
        "{}",
        found[0]
    );
    // The default, against an agent told to wait longer for the power.
    let slow = relay(&format!("{command}\noptions = {{ power_timeout = \"40\", login_timeout = \"10\" }}"));
    let found = warnings(&slow);
    assert_eq!(kinds(&found), [ProblemKind::CommandTimeoutShort]);
    assert!(
        found[0].message.starts_with(
            "timeout_ms = 30000 (the default) is shorter than the fence agent may need: 50000 ms"
        ),
        "{}",
        found[0]
    );

    let trusting = relay(&format!("{command}\ntrust_unconfirmed = true"));
    let found = warnings(&trusting);
    assert_eq!(kinds(&found), [ProblemKind::UnconfirmedFenceAllowed]);
    assert!(found[0].location.ends_with(": relay.channels[1].trust_unconfirmed"), "{}", found[0]);
    assert!(found.iter().all(|w| w.kind.is_warning()));
}

#[test]
fn load_refuses_a_large_file() {
    let dir = temp_dir("large");
    let path = dir.join("agent.toml");
    std::fs::write(&path, format!("{MINIMAL}\n#{}", "x".repeat(MAX_CONFIG_BYTES as usize))).unwrap();
    assert_eq!(kinds(&load(&path).unwrap_err()), [ProblemKind::FileTooLarge]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sections_problem_is_placed_at_its_typed_key() {
    let channel = "[[relay.channels]]\nnode = \"node-b\"\nboard = \"modbus\"\ndevice = \"/dev/ttyS3\"\nbaud = 9600\naddress = 1\nchannel = 1\n";
    assert!(WITNESS.contains(channel));
    let commanded = "[[relay.channels]]\nnode = \"node-b\"\nboard = \"command\"\ncommand = \"/usr/sbin/fence_ipmilan\"\noptions = { action = \"reboot\" }\n";
    let text = WITNESS.replacen(channel, commanded, 1);
    let problems = parse(&text).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let line = text[..text.find("options = { action").unwrap()].matches('\n').count() + 1;
    assert_eq!(
        problems[0].location,
        format!("/etc/ha-agent/agent.toml:line {line}: relay.channels[1].options")
    );
    assert_eq!(problems[0].message, "action and plug are set by the agent");
    // The baud of a relay board, and the [array] keys, each on its own key and line.
    let text = WITNESS.replacen(
        "baud = 9600\naddress = 1\nchannel = 1\n",
        "baud = 1234\naddress = 1\nchannel = 1\n",
        1,
    );
    let problems = parse(&text).unwrap_err();
    let line = text[..text.find("baud = 1234").unwrap()].matches('\n').count() + 1;
    assert_eq!(problems[0].location, format!("/etc/ha-agent/agent.toml:line {line}: relay.channels[1].baud"));
    assert!(problems[0].message.starts_with("baud must be a standard rate"), "{}", problems[0]);
}

#[test]
fn every_subcommand_loads_through_one_loader() {
    let dir = temp_dir("one-loader");
    let path = dir.join("agent.toml");
    // The key file is missing: only what needs the key refuses the file.
    std::fs::write(&path, format!("key_file = \"missing.key\"\n{MINIMAL}")).unwrap();
    let config = load_as(&path, Needs::FileOnly).expect("the file alone is valid");
    assert_eq!(config.key_file, dir.join("missing.key"));
    let problems = load_as(&path, Needs::Keys).unwrap_err();
    assert_eq!(kinds(&problems), [ProblemKind::KeyFileMissing]);
    assert_eq!(load(&path).unwrap_err(), problems, "load is load_as with the keys");
    assert!(!is_unreadable(&problems));
    let absent = load_as(&dir.join("absent.toml"), Needs::FileOnly).unwrap_err();
    assert!(is_unreadable(&absent), "{absent:?}");
    assert_eq!(path_of(None), PathBuf::from(DEFAULT_PATH));
    assert_eq!(path_of(Some("x.toml")), PathBuf::from("x.toml"));
    let _ = std::fs::remove_dir_all(&dir);
}

//! `ha-agent check-config FILE`, run as a real process: each test writes one broken variant of
//! the witness example into its own temporary directory (with a copy of the example key,
//! chmod 600, beside it) and checks the exit code, the problem's message and its location.
//! On a node, check-config also looks at the resource agents installed here: those tests use
//! Debian's unmodified agents (package resource-agents, installed by `make setup`) and fail
//! with that advice when it is missing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const WITNESS: &str = include_str!("../../docs/examples/witness.toml");
const NODE_A: &str = include_str!("../../docs/examples/node-a.toml");
const NODE_B: &str = include_str!("../../docs/examples/node-b.toml");
const NODE_PGSQL: &str = include_str!("../../docs/examples/node-pgsql.toml");
const NODE_ORACLE: &str = include_str!("../../docs/examples/node-oracle.toml");
const NODE_PGSQL_BUILTIN: &str = include_str!("../../docs/examples/node-pgsql-builtin.toml");
const EXAMPLE_KEY: &str = include_str!("../../docs/examples/cluster.key");

/// A temporary directory holding `cluster.key` (mode 600); removed on drop.
struct Case {
    dir: PathBuf,
}

impl Case {
    fn new(name: &str) -> Case {
        let dir = std::env::temp_dir().join(format!("ha-agent-check-config-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let case = Case { dir };
        std::fs::write(case.key(), EXAMPLE_KEY).unwrap();
        case.chmod_key(0o600);
        case
    }

    fn key(&self) -> PathBuf {
        self.dir.join("cluster.key")
    }

    fn chmod_key(&self, mode: u32) {
        std::fs::set_permissions(self.key(), std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Outcome {
    code: i32,
    stdout: String,
}

fn check_config(args: &[&Path]) -> Outcome {
    let output = Command::new(env!("CARGO_BIN_EXE_ha-agent"))
        .arg("check-config")
        .args(args)
        .output()
        .expect("run ha-agent");
    Outcome {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 output"),
    }
}

/// `text` with the first `from` replaced; the replacement must happen.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example no longer contains {from:?}");
    text.replacen(from, to, 1)
}

/// `text` without the `[[links]]` section whose id is `id`.
fn without_link(text: &str, id: u8) -> String {
    let mut sections = text.split("[[links]]\n");
    let mut out = sections.next().unwrap().to_string();
    let mut removed = false;
    for section in sections {
        if section.starts_with(&format!("id = {id}\n")) {
            removed = true;
        } else {
            out.push_str("[[links]]\n");
            out.push_str(section);
        }
    }
    assert!(removed, "no link {id} in the example");
    out
}

/// 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    let offset = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the text"));
    text[..offset].matches('\n').count() + 1
}

/// Writes the config, runs check-config, expects exit 1 with a problem at `location` (after
/// the file name) whose message contains `message`; returns the whole output.
fn expect_problem(case: &Case, text: &str, location: &str, message: &str) -> String {
    let path = case.write("agent.toml", text);
    let outcome = check_config(&[&path]);
    let out = outcome.stdout;
    assert_eq!(outcome.code, 1, "exit code; output:\n{out}");
    let wanted = format!("{}{location}: ", path.display());
    assert!(
        out.lines().any(|l| l.starts_with(&wanted) && l.contains(message) && !l.contains(": warning: ")),
        "no problem at {wanted:?} with {message:?}; output:\n{out}"
    );
    let located = |l: &&str| l.starts_with(&format!("{}", path.display()));
    let count = out.lines().filter(located).filter(|l| !l.contains(": warning: ")).count();
    let warnings = out.lines().filter(located).filter(|l| l.contains(": warning: ")).count();
    assert!(
        out.ends_with(&format!("\n{count} problem(s) found\n")),
        "missing or wrong summary line; output:\n{out}"
    );
    assert_eq!(out.matches("\n  hint: ").count(), count + warnings, "one hint per line; output:\n{out}");
    out
}

/// Node configurations name Debian's agents: without them every node file is invalid here.
fn require_resource_agents() {
    assert!(
        Path::new("/usr/lib/ocf/resource.d/heartbeat/pgsql").exists(),
        "Debian's resource-agents is not installed (no /usr/lib/ocf/resource.d/heartbeat/pgsql): run `make setup`, or `apt-get install resource-agents`"
    );
}

#[test]
fn valid_examples_are_ok() {
    require_resource_agents();
    let case = Case::new("valid");
    for (file, text, summary) in [
        ("witness.toml", WITNESS, "ok (cluster payments, member witness (witness), 4 links)"),
        ("node-a.toml", NODE_A, "ok (cluster payments, member node-a (node), 4 links)"),
        ("node-b.toml", NODE_B, "ok (cluster payments, member node-b (node), 4 links)"),
        ("node-pgsql.toml", NODE_PGSQL, "ok (cluster payments, member node-a (node), 4 links)"),
        ("node-oracle.toml", NODE_ORACLE, "ok (cluster payments, member node-a (node), 4 links)"),
        (
            "node-pgsql-builtin.toml",
            NODE_PGSQL_BUILTIN,
            "ok (cluster payments, member node-a (node), 4 links)",
        ),
    ] {
        let path = case.write(file, text);
        let outcome = check_config(&[&path]);
        assert_eq!(outcome.code, 0, "{file}: {}", outcome.stdout);
        assert_eq!(outcome.stdout, format!("{}: {summary}\n", path.display()));
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(check_config(&[]).code, 2);
    let case = Case::new("usage");
    let path = case.write("agent.toml", WITNESS);
    assert_eq!(check_config(&[&path, &path, &path, &path]).code, 2, "more files than members");
    // One file twice is two files of one member.
    let outcome = check_config(&[&path, &path]);
    assert_eq!(outcome.code, 1, "{}", outcome.stdout);
    assert!(
        outcome.stdout.contains(": member: witness: witness is also the member of "),
        "{}",
        outcome.stdout
    );
}

// ---- warnings, and the three files against each other ---------------------------------------

#[test]
fn warnings_are_printed_and_the_file_stays_valid() {
    let case = Case::new("warnings");
    // One link to node-b, an unconfirmed fence allowed, a fence agent with a board's timeout.
    let text = without_link(WITNESS, 12);
    let text = edit(
        &text,
        "node = \"node-b\"\nboard = \"modbus\"\ndevice = \"/dev/ttyS3\"\nbaud = 9600\naddress = 1\nchannel = 1\n",
        "node = \"node-b\"\nboard = \"command\"\ncommand = \"/usr/sbin/fence_ipmilan\"\ntimeout_ms = 1000\ntrust_unconfirmed = true\n",
    );
    let path = case.write("witness.toml", &text);
    let outcome = check_config(&[&path]);
    assert_eq!(outcome.code, 0, "{}", outcome.stdout);
    let shown = path.display();
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "three warnings with their hints, then ok:\n{}", outcome.stdout);
    assert_eq!(
        lines[0],
        format!(
            "{shown}:line {}: relay.channels[1].timeout_ms: warning: timeout_ms = 1000 is shorter than the fence agent may need: 25000 ms (power_timeout + login_timeout + power_wait); the agent would be killed while it waits for the power to go off, and the fence would fail",
            line_of(&text, "timeout_ms = 1000")
        )
    );
    assert!(lines[2].starts_with(&format!(
        "{shown}:line {}: relay.channels[1].trust_unconfirmed: warning: an unconfirmed fence of \"node-b\" counts as a fence",
        line_of(&text, "trust_unconfirmed = true")
    )), "{}", outcome.stdout);
    let second_link = text.match_indices("[[links]]").nth(1).unwrap().0;
    assert!(
        lines[4].starts_with(&format!(
            "{shown}:line {}: links[1]: warning: only one link to \"node-b\"",
            text[..second_link].matches('\n').count() + 1
        )),
        "{}",
        outcome.stdout
    );
    assert!(lines[5].starts_with("  hint: add a second [[links]] to \"node-b\""), "{}", outcome.stdout);
    assert_eq!(lines[6], format!("{shown}: ok (cluster payments, member witness (witness), 3 links)"));
}

#[test]
fn the_three_example_files_agree() {
    let case = Case::new("triple");
    let files = [("witness.toml", WITNESS), ("node-a.toml", NODE_A), ("node-b.toml", NODE_B)]
        .map(|(name, text)| case.write(name, text));
    let outcome = check_config(&files.each_ref().map(PathBuf::as_path));
    assert_eq!(outcome.code, 0, "{}", outcome.stdout);
    let shown = files.each_ref().map(|p| p.display().to_string());
    assert_eq!(
        outcome.stdout,
        format!(
            "{0}: ok (cluster payments, member witness (witness), 4 links)\n\
             {1}: ok (cluster payments, member node-a (node), 4 links)\n\
             {2}: ok (cluster payments, member node-b (node), 4 links)\n\
             note: resource agents are not checked with several files; run check-config FILE on each node\n\
             {0}, {1}, {2}: the files agree\n",
            shown[0], shown[1], shown[2]
        )
    );
}

#[test]
fn across_files_a_mismatched_link_id_and_a_different_key_are_found() {
    let case = Case::new("triple-broken");
    // node-b's serial link to the witness gets id 7 (the witness says 2), and node-a has a
    // key of its own.
    let node_b = edit(NODE_B, "id = 2\npeer = \"witness\"", "id = 7\npeer = \"witness\"");
    let node_a = edit(NODE_A, "key_file = \"cluster.key\"", "key_file = \"node-a.key\"");
    let other_key = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
    let key = case.write("node-a.key", other_key);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let files = [
        case.write("witness.toml", WITNESS),
        case.write("node-a.toml", &node_a),
        case.write("node-b.toml", &node_b),
    ];
    let outcome = check_config(&files.each_ref().map(PathBuf::as_path));
    let out = &outcome.stdout;
    assert_eq!(outcome.code, 1, "{out}");
    let [witness, node_a_path, node_b_path] = files.each_ref().map(|p| p.display().to_string());
    let expected = [
        format!(
            "{node_a_path}:line {}: key_file: node-a: the key in {} is not the key of witness ({witness}): frames of one would fail authentication at the other",
            line_of(&node_a, "key_file ="),
            key.display()
        ),
        format!(
            "{witness}:line {}: links[1].id: witness: link 2 (serial to node-b) has no other end: {node_b_path} has no link with id 2",
            line_of(WITNESS, "id = 2\npeer = \"node-b\"")
        ),
        "  hint: node-b's serial link to witness has id 7: both ends of a link use one id (it is carried in every frame)".to_string(),
        format!(
            "{node_b_path}:line {}: links[0].id: node-b: link 7 (serial to witness) has no other end: {witness} has no link with id 7",
            line_of(&node_b, "id = 7\n")
        ),
        "  hint: witness's serial link to node-b has id 2: both ends of a link use one id (it is carried in every frame)".to_string(),
        "3 problem(s) found across the files".to_string(),
    ];
    for line in &expected {
        assert!(out.lines().any(|l| l == line), "missing line {line:?} in:\n{out}");
    }
    assert!(out.ends_with("3 problem(s) found across the files\n"), "{out}");
    for window in other_key.as_bytes().windows(8).chain(EXAMPLE_KEY.trim().as_bytes().windows(8)) {
        assert!(!out.contains(std::str::from_utf8(window).unwrap()), "key material printed:\n{out}");
    }
}

#[test]
fn unreadable_file() {
    let case = Case::new("unreadable");
    let path = case.dir.join("absent.toml");
    let outcome = check_config(&[&path]);
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stdout.starts_with(&format!("{}: cannot read the file", path.display())),
        "{}",
        outcome.stdout
    );
}

#[test]
fn syntax_error_has_its_line() {
    let case = Case::new("syntax");
    let text = edit(WITNESS, "dead_ms = 1000\n", "dead_ms = \n");
    let line = line_of(&text, "dead_ms = \n");
    expect_problem(&case, &text, &format!(":line {line}"), "TOML syntax error");
}

#[test]
fn unknown_key_suggests_the_close_one() {
    let case = Case::new("unknown-key");
    let text = edit(WITNESS, "dead_ms = 1000\n", "dead_ms = 1000\ninitdaed_ms = 5000\n");
    let line = line_of(&text, "initdaed_ms");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: timing.initdaed_ms"),
        "unknown key `initdaed_ms`",
    );
    assert!(out.contains("hint: did you mean `initdead_ms`?"), "{out}");
}

#[test]
fn key_of_another_link_kind_is_unknown() {
    let case = Case::new("unknown-link-key");
    let text =
        edit(WITNESS, "device = \"/dev/ttyS1\"\n", "device = \"/dev/ttyS1\"\nremote = \"10.0.0.2:694\"\n");
    let line = line_of(&text, "remote = \"10.0.0.2:694\"");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: links[0].remote"),
        "unknown key `remote`: it belongs to udp links, and this is a serial link",
    );
}

#[test]
fn missing_required_key() {
    let case = Case::new("missing-key");
    let text = edit(WITNESS, "cluster = \"payments\"\n", "");
    let out = expect_problem(&case, &text, ": cluster", "required key `cluster` is missing");
    assert!(out.contains("hint: add `cluster = \"payments\"`"), "{out}");
}

#[test]
fn bad_value_type() {
    let case = Case::new("bad-type");
    let text = edit(WITNESS, "interval_ms = 200\n", "interval_ms = \"200\"\n");
    let line = line_of(&text, "interval_ms = \"200\"");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: timing.interval_ms"),
        "`interval_ms` must be a whole number, not a string",
    );
}

#[test]
fn member_not_in_members() {
    let case = Case::new("unknown-member");
    let text = edit(WITNESS, "member = \"witness\"\n", "member = \"witnes\"\n");
    let line = line_of(&text, "member = \"witnes\"");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: member"),
        "member \"witnes\" is not listed in [[members]]",
    );
    assert!(out.contains("did you mean \"witness\"?"), "{out}");
}

#[test]
fn wrong_member_count() {
    let case = Case::new("member-count");
    let text = edit(
        WITNESS,
        "name = \"node-b\"\nid = 3\nrole = \"node\"",
        "name = \"node-b\"\nid = 3\nrole = \"witness\"",
    );
    let line = line_of(&text, "[[members]]");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: members"),
        "wrong member count: 3 members (2 witness, 1 nodes)",
    );
}

#[test]
fn duplicate_member() {
    let case = Case::new("duplicate-member");
    let text = edit(WITNESS, "name = \"node-b\"\n", "name = \"node-a\"\n");
    let line = line_of(&text, "name = \"node-a\"\nid = 3");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: members[2].name"),
        "member \"node-a\" is listed twice (also as members[1])",
    );
}

#[test]
fn link_to_unknown_peer() {
    let case = Case::new("unknown-peer");
    let text = edit(WITNESS, "id = 12\npeer = \"node-b\"", "id = 12\npeer = \"node-c\"");
    let line = line_of(&text, "peer = \"node-c\"");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: links[3].peer"),
        "link to unknown peer \"node-c\"",
    );
    assert!(out.contains("peer must be one of the other [[members]]: node-a, node-b"), "{out}");
}

#[test]
fn link_to_self() {
    let case = Case::new("link-to-self");
    let text = edit(WITNESS, "id = 12\npeer = \"node-b\"", "id = 12\npeer = \"witness\"");
    let line = line_of(&text, "peer = \"witness\"");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: links[3].peer"),
        "link to self: peer \"witness\" is this member",
    );
}

#[test]
fn duplicate_link_id() {
    let case = Case::new("duplicate-link-id");
    let text = edit(WITNESS, "id = 12\n", "id = 11\n");
    let line = line_of(&text, "id = 11\npeer = \"node-b\"");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: links[3].id"),
        "duplicate link id: 11 is used twice (also by links[2])",
    );
}

#[test]
fn no_link_to_a_peer() {
    let case = Case::new("no-link");
    let text = without_link(&without_link(WITNESS, 2), 12);
    let line = line_of(&text, "[[links]]");
    expect_problem(&case, &text, &format!(":line {line}: links"), "no link to member \"node-b\"");
}

#[test]
fn key_file_world_readable() {
    let case = Case::new("key-mode");
    case.chmod_key(0o644);
    let line = line_of(WITNESS, "key_file =");
    let out = expect_problem(
        &case,
        WITNESS,
        &format!(":line {line}: key_file"),
        "has mode 0644: every user of the machine can read or change the cluster key",
    );
    assert!(out.contains(&format!("hint: chmod 600 {}", case.key().display())), "{out}");
}

#[test]
fn key_file_missing() {
    let case = Case::new("key-missing");
    std::fs::remove_file(case.key()).unwrap();
    let line = line_of(WITNESS, "key_file =");
    expect_problem(
        &case,
        WITNESS,
        &format!(":line {line}: key_file"),
        &format!("cannot read the key file {}", case.key().display()),
    );
}

#[test]
fn key_too_short_and_never_printed() {
    let case = Case::new("key-short");
    let short_key = "a1b2c3d4e5f60718293a4b5c6d7e8f"; // 15 bytes
    std::fs::write(case.key(), short_key).unwrap();
    let line = line_of(WITNESS, "key_file =");
    let out = expect_problem(
        &case,
        WITNESS,
        &format!(":line {line}: key_file"),
        "the key is too short: 15 bytes, at least 16 are needed",
    );
    assert!(!out.contains(short_key), "key material printed:\n{out}");
}

#[test]
fn dead_shorter_than_three_intervals() {
    let case = Case::new("dead-short");
    let text = edit(WITNESS, "warn_ms = 500\ndead_ms = 1000\n", "warn_ms = 400\ndead_ms = 500\n");
    let line = line_of(&text, "dead_ms = 500");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: timing.dead_ms"),
        "dead_ms is shorter than 3 intervals: dead_ms = 500 < 3 x interval_ms = 200",
    );
    assert!(out.contains("hint: set dead_ms to at least 600"), "{out}");
}

#[test]
fn warn_out_of_range() {
    let case = Case::new("warn-range");
    let text = edit(WITNESS, "warn_ms = 500\n", "warn_ms = 100\n");
    let line = line_of(&text, "warn_ms = 100");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: timing.warn_ms"),
        "warn_ms out of range: warn_ms = 100 must be greater than interval_ms = 200 and less than dead_ms = 1000",
    );
}

#[test]
fn initdead_shorter_than_dead() {
    let case = Case::new("initdead-short");
    let text = edit(WITNESS, "initdead_ms = 5000\n", "initdead_ms = 900\n");
    let line = line_of(&text, "initdead_ms = 900");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: timing.initdead_ms"),
        "initdead_ms is shorter than dead_ms",
    );
}

#[test]
fn interval_too_short_for_baud() {
    let case = Case::new("baud");
    let text = edit(WITNESS, "baud = 115200\n", "baud = 1200\n");
    let line = line_of(&text, "baud = 1200");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: links[0].baud"),
        "interval too short for the baud rate: at 1200 baud the largest frame",
    );
    assert!(out.contains("hint: use baud = "), "{out}");
}

#[test]
fn broadcast_remote_needs_the_flag() {
    let case = Case::new("broadcast");
    let text = edit(WITNESS, "remote = \"10.10.11.2:694\"", "remote = \"10.10.11.255:694\"");
    let line = line_of(&text, "10.10.11.255");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: links[2].remote"),
        "is a broadcast address but broadcast is false",
    );
    assert!(out.contains("hint: add `broadcast = true`"), "{out}");
}

#[test]
fn all_problems_are_reported_at_once() {
    let case = Case::new("many");
    let text = edit(WITNESS, "baud = 115200\n", "baud = 1200\n");
    let text = edit(&text, "id = 12\n", "id = 11\n");
    let text = edit(&text, "mlockall = true\n", "mlockall = yes\n");
    let path = case.write("agent.toml", &text);
    let outcome = check_config(&[&path]);
    assert_eq!(outcome.code, 1);
    // `mlockall = yes` is a syntax error: the file is not checked further.
    assert!(outcome.stdout.ends_with("\n1 problem(s) found\n"), "{}", outcome.stdout);

    let text = edit(&text, "mlockall = yes\n", "mlockall = 1\n");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {}: links[0].baud", line_of(&text, "baud = 1200")),
        "interval too short",
    );
    assert!(out.ends_with("\n3 problem(s) found\n"), "{out}");
    assert!(out.contains("`mlockall` must be true or false, not a whole number"), "{out}");
    assert!(out.contains("duplicate link id"), "{out}");
}

// The sections around the authority: [authority], [resources], [relay], [watchdog], [snmp].

#[test]
fn examples_carry_the_new_sections() {
    // The acceptance of the examples is `valid_examples_are_ok`; this makes sure they still
    // exercise every new section, so that acceptance means something.
    for section in ["[authority]", "[relay]", "[[relay.channels]]", "[snmp]", "[[snmp.targets]]"] {
        assert!(WITNESS.contains(section), "witness example lacks {section}");
    }
    for text in [NODE_A, NODE_B] {
        for section in ["[authority]", "[resources]", "[[resources.group]]", "[watchdog]"] {
            assert!(text.contains(section), "node example lacks {section}");
        }
    }
}

#[test]
fn self_fence_shorter_than_dead() {
    let case = Case::new("self-fence");
    let text = edit(WITNESS, "self_fence_ms = 2000 ", "self_fence_ms = 500 ");
    let line = line_of(&text, "self_fence_ms = 500");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: authority.self_fence_ms"),
        "self_fence_ms is shorter than dead_ms: self_fence_ms = 500 < timing.dead_ms = 1000",
    );
    assert!(out.contains("hint: set self_fence_ms to at least 1000: a node that loses quorum must not stop its resources before its peers could notice"), "{out}");
}

#[test]
fn margin_shorter_than_interval_and_retries_out_of_order() {
    let case = Case::new("margin");
    let text = edit(WITNESS, "margin_ms = 2000 ", "margin_ms = 100 ");
    let text = edit(&text, "fence_retry_initial_ms = 1000 ", "fence_retry_initial_ms = 40000 ");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {}: authority.margin_ms", line_of(&text, "margin_ms = 100")),
        "margin_ms is shorter than one heartbeat interval: margin_ms = 100 < timing.interval_ms = 200",
    );
    let wanted = format!(
        ":line {}: authority.fence_retry_initial_ms: the first fence retry waits longer than the longest: fence_retry_initial_ms = 40000 > fence_retry_max_ms = 30000",
        line_of(&text, "fence_retry_initial_ms = 40000")
    );
    assert!(out.contains(&wanted), "{out}");
    assert!(out.ends_with("\n2 problem(s) found\n"), "{out}");
}

#[test]
fn preferred_must_be_a_node() {
    let case = Case::new("preferred");
    let text = edit(WITNESS, "preferred = \"node-a\"", "preferred = \"witness\"");
    let line = line_of(&text, "preferred = \"witness\"");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: authority.preferred"),
        "\"witness\" is the witness, not a node",
    );
    let text = edit(WITNESS, "preferred = \"node-a\"", "preferred = \"node-x\"");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: authority.preferred"),
        "\"node-x\" is not a member",
    );
    assert!(out.contains("hint: did you mean \"node-a\"?"), "{out}");
}

#[test]
fn unknown_key_in_authority_and_unknown_section() {
    let case = Case::new("authority-key");
    let text = edit(WITNESS, "wait_for_all = false", "wait_for_al = false");
    let line = line_of(&text, "wait_for_al =");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: authority.wait_for_al"),
        "unknown key `wait_for_al`",
    );
    assert!(out.contains("hint: did you mean `wait_for_all`?"), "{out}");
    let text = edit(WITNESS, "[snmp]\n", "[snmpp]\n");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {}: snmpp", line_of(&text, "[snmpp]")),
        "unknown key `snmpp`",
    );
    assert!(out.contains("hint: did you mean `snmp`?"), "{out}");
}

#[test]
fn resources_on_the_witness() {
    let case = Case::new("resources-witness");
    let text = format!(
        "{WITNESS}\n[resources]\n[[resources.group]]\nname = \"volume\"\nagent = \"/usr/lib/ha-agent/resources/dummy\"\n"
    );
    let line = line_of(&text, "[resources]");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources"),
        "[resources] on the witness: only nodes run resources",
    );
    assert!(out.ends_with("\n1 problem(s) found\n"), "{out}");
}

#[test]
fn resource_agent_must_be_an_ocf_name_or_an_absolute_path() {
    let case = Case::new("resource-agent");
    let text = edit(NODE_A, "agent = \"ocf:heartbeat:Dummy\"", "agent = \"dummy\"");
    let line = line_of(&text, "agent = \"dummy\"");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[0].agent"),
        "\"dummy\" is not an agent: neither ocf:PROVIDER:TYPE nor an absolute path",
    );
    assert!(out.contains("hint: write ocf:PROVIDER:TYPE"), "{out}");
    let text =
        edit(NODE_A, "agent = \"ocf:heartbeat:Dummy\"", "agent = \"ocf:heartbeat:../../../../bin/sh\"");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[0].agent"),
        "the type is not a valid name",
    );
}

// ---- the node's resource agents, as installed here -----------------------------------------

#[test]
fn a_misspelt_parameter_of_debian_s_pgsql_agent_is_named_with_a_suggestion() {
    require_resource_agents();
    let case = Case::new("pgsql-param");
    let text = edit(NODE_PGSQL, "pgdata = ", "pgdta = ");
    let line = line_of(&text, "pgdta = ");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[1].params.pgdta"),
        "unknown parameter `pgdta`: ocf:heartbeat:pgsql has no such parameter",
    );
    assert!(out.contains("hint: did you mean `pgdata`?"), "{out}");
    assert!(out.ends_with("\n1 problem(s) found\n"), "{out}");
}

#[test]
fn a_missing_required_parameter_is_named() {
    require_resource_agents();
    let case = Case::new("ipaddr2-required");
    let text = edit(NODE_PGSQL, "params = { ip = \"10.0.0.10\", ", "params = { ");
    let line = line_of(&text, "params = { cidr_netmask");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[2].params"),
        "required parameter `ip` of ocf:heartbeat:IPaddr2 is missing",
    );
    assert!(out.contains("hint: add it: params = { ip = \"...\" }"), "{out}");
    // Without any params at all the problem is at the resource.
    let text = edit(NODE_ORACLE, "params = { sid = \"ORCL\", home = \"/u01/app/oracle/product/19.0.0/dbhome_1\", user = \"oracle\", shutdown_method = \"immediate\" }\n", "");
    let at = text.find("name = \"database\"").unwrap();
    let line = text[..at].matches('\n').count(); // its [[resources.group]] header
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[3].params"),
        "required parameter `sid` of ocf:heartbeat:oracle is missing",
    );
}

#[test]
fn a_missing_or_non_executable_agent_is_a_problem_with_its_path() {
    require_resource_agents();
    let case = Case::new("agent-missing");
    let text = edit(NODE_A, "agent = \"ocf:heartbeat:Dummy\"", "agent = \"ocf:heartbeat:Dumy\"");
    let line = line_of(&text, "ocf:heartbeat:Dumy");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[0].agent"),
        "the agent ocf:heartbeat:Dumy cannot be found: /usr/lib/ocf/resource.d/heartbeat/Dumy: no such file",
    );
    assert!(out.contains("resource-agents"), "{out}");
    let script = case.write("agent.sh", "#!/bin/sh\nexit 0\n");
    let path = script.display().to_string();
    let text = edit(NODE_A, "agent = \"ocf:heartbeat:Dummy\"", &format!("agent = \"{path}\""));
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[0].agent"),
        &format!("the agent {path} is not executable: {path} is mode 0644, not executable"),
    );
    assert!(out.contains(&format!("hint: it must be an executable file: chmod 755 {path}")), "{out}");
}

/// An agent without usable meta-data is a warning: the file stays valid, the parameters are
/// not checked.
#[test]
fn unreadable_meta_data_is_a_warning_and_the_file_stays_valid() {
    require_resource_agents();
    let case = Case::new("meta-data-warning");
    let script = case.write("agent.sh", "#!/bin/sh\necho usage: start stop monitor\nexit 3\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = edit(NODE_A, "agent = \"ocf:heartbeat:Dummy\"", &format!("agent = \"{}\"", script.display()));
    let path = case.write("agent.toml", &text);
    let outcome = check_config(&[&path]);
    assert_eq!(outcome.code, 0, "{}", outcome.stdout);
    let line = line_of(&text, &script.display().to_string());
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", outcome.stdout);
    assert_eq!(
        lines[0],
        format!(
            "{}:line {line}: resources.group[0].agent: warning: cannot read the meta-data of {} (meta-data ended with exit 3 (unimplemented)): its parameters are not checked",
            path.display(),
            script.display()
        )
    );
    assert!(lines[1].starts_with("  hint: an OCF agent prints its XML description"), "{}", outcome.stdout);
    assert_eq!(lines[2], format!("{}: ok (cluster payments, member node-a (node), 4 links)", path.display()));
}

/// The witness runs no resources: its file's [resources] is refused before any agent is run.
#[test]
fn the_witness_inspects_no_agent() {
    let case = Case::new("witness-agents");
    let text = format!(
        "{WITNESS}\n[resources]\n[[resources.group]]\nname = \"db\"\nagent = \"ocf:heartbeat:Nope\"\n"
    );
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {}: resources", line_of(&text, "[resources]")),
        "[resources] on the witness",
    );
    assert!(!out.contains("cannot be found"), "{out}");
}

#[test]
fn unknown_key_in_a_resource() {
    let case = Case::new("resource-key");
    let text = edit(NODE_A, "monitor_interval_ms = 10000", "monitor_intervall_ms = 10000");
    let line = line_of(&text, "monitor_intervall_ms");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[1].monitor_intervall_ms"),
        "unknown key `monitor_intervall_ms`",
    );
    assert!(out.contains("hint: did you mean `monitor_interval_ms`?"), "{out}");
}

#[test]
fn relay_channel_for_an_unknown_node() {
    let case = Case::new("relay-node");
    let text = edit(WITNESS, "node = \"node-b\"\n", "node = \"node-c\"\n");
    let line = line_of(&text, "node = \"node-c\"");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: relay.channels[1].node"),
        "\"node-c\" is not a member",
    );
    assert!(
        out.contains("hint: did you mean \"node-a\"?") || out.contains("hint: did you mean \"node-b\"?"),
        "{out}"
    );
    let text = edit(WITNESS, "node = \"node-b\"\n", "node = \"witness\"\n");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: relay.channels[1].node"),
        "\"witness\" is the witness, not a node",
    );
}

#[test]
fn relay_on_a_node() {
    let case = Case::new("relay-node-role");
    let text = format!(
        "{NODE_A}\n[relay]\n[[relay.channels]]\nnode = \"node-b\"\nboard = \"modbus\"\ndevice = \"/dev/ttyS3\"\nchannel = 1\n"
    );
    let line = line_of(&text, "[relay]");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: relay"),
        "[relay] on a node: only the witness fences",
    );
}

#[test]
fn relay_channel_rules_and_shared_port() {
    let case = Case::new("relay-rules");
    // The second channel loses its coil number, and the first moves onto a heartbeat port.
    let text = edit(WITNESS, "channel = 1\n", "");
    let text = edit(&text, "device = \"/dev/ttyS3\"\n", "device = \"/dev/ttyS1\"\n");
    let out = expect_problem(
        &case,
        &text,
        &format!(
            ":line {}: relay.channels[0].device",
            line_of(&text, "device = \"/dev/ttyS1\"\nbaud = 9600")
        ),
        "/dev/ttyS1 is also the serial port of links[0], a heartbeat link",
    );
    let second = text.find("node = \"node-b\"").unwrap();
    let line = text[..second].matches('\n').count(); // the [[relay.channels]] header
    assert!(
        out.contains(&format!(
            ":line {line}: relay.channels[1].channel: channel (coil number, from 0) is required"
        )),
        "{out}"
    );
}

#[test]
fn unknown_key_in_watchdog() {
    let case = Case::new("watchdog-key");
    let text = edit(NODE_A, "timeout_s = 10\n", "timeout = 10\n");
    let line = line_of(&text, "timeout = 10");
    let out =
        expect_problem(&case, &text, &format!(":line {line}: watchdog.timeout"), "unknown key `timeout`");
    assert!(out.contains("hint: did you mean `timeout_s`?"), "{out}");
}

#[test]
fn watchdog_timeout_out_of_range() {
    let case = Case::new("watchdog-timeout");
    let text = edit(NODE_B, "timeout_s = 10\n", "timeout_s = 0\n");
    let line = line_of(&text, "timeout_s = 0");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: watchdog.timeout_s"),
        "`timeout_s`: 0 is outside 1..=600",
    );
}

#[test]
fn require_watchdog_without_a_watchdog() {
    let case = Case::new("require-watchdog");
    let text = edit(NODE_A, "require_watchdog = false", "require_watchdog = true");
    let text = edit(&text, "[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout_s = 10\n", "");
    let line = line_of(&text, "require_watchdog = true");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: watchdog"),
        "require_watchdog = true, but there is no [watchdog] section",
    );
}

#[test]
fn bad_snmp_target_version() {
    let case = Case::new("snmp-version");
    let text = edit(WITNESS, "version = \"v2c\"", "version = \"v4\"");
    let line = line_of(&text, "version = \"v4\"");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: snmp.targets[0].version"),
        "\"v4\" is not a valid choice",
    );
    assert!(out.contains("use one of \"v1\", \"v2c\", \"v3\""), "{out}");
}

#[test]
fn snmp_v1_has_no_inform() {
    let case = Case::new("snmp-v1");
    let text = edit(WITNESS, "version = \"v2c\"", "version = \"v1\"");
    let line = line_of(&text, "kind = \"inform\"");
    let out =
        expect_problem(&case, &text, &format!(":line {line}: snmp.targets[0].kind"), "SNMPv1 has no inform");
    assert!(out.contains("hint: use version = \"v2c\" or \"v3\", or kind = \"trap\""), "{out}");
}

#[test]
fn snmp_v3_key_files_are_checked() {
    let case = Case::new("snmp-v3");
    let v3 = "[[snmp.targets]]\nname = \"secure\"\nversion = \"v3\"\naddress = \"192.0.2.11:162\"\nkind = \"inform\"\nuser = \"rackha\"\nauth = \"sha256\"\nauth_key_file = \"auth.key\"\n\n";
    let text = edit(WITNESS, "[[snmp.targets]]\n", &format!("{v3}[[snmp.targets]]\n"));
    // A relative key file is found beside the configuration, and accepted when private.
    let auth_key = case.write("auth.key", "authpass\n");
    std::fs::set_permissions(&auth_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = case.write("witness.toml", &text);
    let outcome = check_config(&[&path]);
    assert_eq!(outcome.code, 0, "{}", outcome.stdout);

    std::fs::set_permissions(&auth_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let line = line_of(&text, "auth_key_file");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: snmp.targets[0].auth_key_file"),
        "lets others read it",
    );
}

// ---- the built-in ipaddr type --------------------------------------------------------------

#[test]
fn the_builtin_ipaddr_takes_ipaddr2_s_parameters_and_names_a_bad_one() {
    require_resource_agents();
    let case = Case::new("builtin-ipaddr");
    let builtin = edit(NODE_PGSQL, "agent = \"ocf:heartbeat:IPaddr2\"", "agent = \"builtin:ipaddr\"");
    let path = case.write("agent.toml", &builtin);
    let outcome = check_config(&[&path]);
    assert_eq!(outcome.code, 0, "{}", outcome.stdout);
    let text = edit(&builtin, "cidr_netmask = \"24\"", "cidr_netmask = \"40\"");
    let line = line_of(&text, "cidr_netmask = \"40\"");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[2].params.cidr_netmask"),
        "\"40\" is not a prefix length 0..=32",
    );
    assert!(out.ends_with("\n1 problem(s) found\n"), "{out}");
    let text = edit(&builtin, "nic = \"eth0\"", "nic = \"eth0\", lvs_support = \"true\"");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[2].params.lvs_support"),
        "builtin:ipaddr does not carry out IPaddr2's `lvs_support`",
    );
    let text = edit(&builtin, "ip = \"10.0.0.10\", ", "");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[2].params"),
        "builtin:ipaddr needs the parameter `ip`",
    );
    assert!(out.contains("hint: params = { ip = "), "{out}");
    let text = edit(&builtin, "agent = \"builtin:ipaddr\"", "agent = \"builtin:IPaddr2\"");
    let line = line_of(&text, "builtin:IPaddr2");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[2].agent"),
        "there is no such built-in resource type",
    );
    assert!(out.contains("hint: the built-in types are: builtin:ipaddr"), "{out}");
}

// ---- the built-in filesystem type ----------------------------------------------------------

#[test]
fn the_builtin_filesystem_takes_filesystems_parameters_and_names_a_bad_one() {
    require_resource_agents();
    let case = Case::new("builtin-filesystem");
    let builtin = edit(NODE_PGSQL, "agent = \"ocf:heartbeat:Filesystem\"", "agent = \"builtin:filesystem\"");
    let path = case.write("agent.toml", &builtin);
    let outcome = check_config(&[&path]);
    assert_eq!(outcome.code, 0, "{}", outcome.stdout);
    let text = edit(&builtin, "directory = \"/srv/pgsql\"", "directory = \"srv/pgsql\"");
    let line = line_of(&text, "directory = \"srv/pgsql\"");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[0].params.directory"),
        "\"srv/pgsql\" is not an absolute path",
    );
    assert!(out.ends_with("\n1 problem(s) found\n"), "{out}");
    let text = edit(&builtin, "options = \"noatime\"", "options = \"noatime\", run_fsck = \"force\"");
    expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[0].params.run_fsck"),
        "builtin:filesystem does not carry out the Filesystem agent's `run_fsck`",
    );
    let text = edit(&builtin, "fstype = \"ext4\", ", "");
    let out = expect_problem(
        &case,
        &text,
        &format!(":line {line}: resources.group[0].params"),
        "builtin:filesystem needs the parameter `fstype`",
    );
    assert!(out.contains("hint: params = { device = "), "{out}");
}

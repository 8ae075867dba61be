//! The cross-file rules on the three example configurations (docs/examples), copied with a
//! private key into a temporary directory, then changed one thing at a time.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::*;

const WITNESS: &str = include_str!("../../../../docs/examples/witness.toml");
const NODE_A: &str = include_str!("../../../../docs/examples/node-a.toml");
const NODE_B: &str = include_str!("../../../../docs/examples/node-b.toml");
const KEY: &str = include_str!("../../../../docs/examples/cluster.key");
/// Another valid key (32 bytes).
const OTHER_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// A fresh directory with the three examples and the example key (mode 0600).
fn triple(name: &str) -> (PathBuf, [PathBuf; 3]) {
    let dir = std::env::temp_dir().join(format!("ha-agent-cross-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("cluster.key");
    std::fs::write(&key, KEY).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let paths =
        [("witness.toml", WITNESS), ("node-a.toml", NODE_A), ("node-b.toml", NODE_B)].map(|(file, text)| {
            let path = dir.join(file);
            std::fs::write(&path, text).unwrap();
            path
        });
    (dir, paths)
}

/// Replaces the one occurrence of `old` in the file at `path`.
fn edit(path: &Path, old: &str, new: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(text.matches(old).count(), 1, "{old:?} once in {}", path.display());
    std::fs::write(path, text.replace(old, new)).unwrap();
}

fn cross_kinds(report: &FilesReport) -> Vec<ProblemKind> {
    report.cross.iter().map(|p| p.kind).collect()
}

fn explain(report: &FilesReport) -> String {
    let mut text = String::new();
    for file in &report.files {
        for problem in file.report.problems.iter().chain(&file.report.warnings) {
            text.push_str(&format!("{problem}\n"));
        }
    }
    for problem in &report.cross {
        text.push_str(&format!("{problem}\n"));
    }
    text
}

#[test]
fn the_example_triple_agrees() {
    let (dir, paths) = triple("good");
    let report = check_files(&paths, None);
    assert!(report.is_valid(), "{}", explain(&report));
    assert!(report.files.iter().all(|f| f.report.warnings.is_empty()), "{}", explain(&report));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_mismatched_link_id_is_found_at_both_ends() {
    let (dir, paths) = triple("link-id");
    // node-a's UDP link to the witness gets id 21; the witness still says 11.
    edit(&paths[1], "id = 11\n", "id = 21\n");
    let report = check_files(&paths, None);
    assert!(report.files.iter().all(|f| f.report.config.is_some()), "{}", explain(&report));
    assert_eq!(
        cross_kinds(&report),
        [ProblemKind::LinkMismatch, ProblemKind::LinkMismatch],
        "{}",
        explain(&report)
    );
    let witness = &report.cross[0];
    assert!(witness.location.ends_with("witness.toml:line 107: links[2].id"), "{witness}");
    assert!(witness.message.starts_with("witness: link 11 (udp to node-a) has no other end"), "{witness}");
    assert!(witness.hint.contains("node-a's udp link to witness has id 21"), "{witness}");
    let node_a = &report.cross[1];
    assert!(node_a.location.contains("node-a.toml:line "), "{node_a}");
    assert!(node_a.location.ends_with(": links[2].id"), "{node_a}");
    assert!(node_a.hint.contains("witness's udp link to node-a has id 11"), "{node_a}");
    assert!(!report.is_valid());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_different_key_is_found_and_never_shown() {
    let (dir, paths) = triple("key");
    let other = dir.join("other.key");
    std::fs::write(&other, OTHER_KEY).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    edit(&paths[2], "key_file = \"cluster.key\"", "key_file = \"other.key\"");
    let report = check_files(&paths, None);
    assert_eq!(cross_kinds(&report), [ProblemKind::KeyMismatch], "{}", explain(&report));
    let problem = &report.cross[0];
    assert!(problem.location.ends_with("node-b.toml:line 8: key_file"), "{problem}");
    assert!(problem.message.contains("is not the key of witness"), "{problem}");
    let shown = explain(&report);
    for key in [KEY.trim(), OTHER_KEY] {
        for window in key.as_bytes().windows(8) {
            assert!(!shown.contains(std::str::from_utf8(window).unwrap()), "key material in:\n{shown}");
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn members_timing_authority_and_resources_must_agree() {
    let (dir, paths) = triple("sections");
    edit(&paths[1], "name = \"node-b\"\nid = 3", "name = \"node-b\"\nid = 4");
    edit(&paths[2], "dead_ms = 1000", "dead_ms = 1200");
    edit(&paths[2], "margin_ms = 2000 ", "margin_ms = 3000 ");
    edit(&paths[2], "start_timeout_ms = 20000", "start_timeout_ms = 25000");
    let report = check_files(&paths, None);
    assert_eq!(
        cross_kinds(&report),
        [
            ProblemKind::MembersMismatch,
            ProblemKind::TimingMismatch,
            ProblemKind::AuthorityMismatch,
            ProblemKind::ResourcesMismatch,
        ],
        "{}",
        explain(&report)
    );
    assert!(report.cross[0].message.contains("\"node-b\" has id 4 here, 3 in"), "{}", report.cross[0]);
    assert!(report.cross[1].location.ends_with(": timing.dead_ms"), "{}", report.cross[1]);
    assert!(report.cross[2].message.contains("margin_ms = 3000 here, 2000 in"), "{}", report.cross[2]);
    assert!(
        report.cross[3].message.contains("node-b: [resources] differs from node-a's"),
        "{}",
        report.cross[3]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn link_kind_peer_address_and_baud_must_agree() {
    let (dir, paths) = triple("links");
    // node-b's serial link to node-a at another rate; its UDP link to the witness sends to a
    // wrong address.
    edit(
        &paths[2],
        "id = 3\npeer = \"node-a\"\nkind = \"serial\"\ndevice = \"/dev/ttyS2\"\nbaud = 115200",
        "id = 3\npeer = \"node-a\"\nkind = \"serial\"\ndevice = \"/dev/ttyS2\"\nbaud = 57600",
    );
    edit(&paths[2], "remote = \"10.10.12.1:694\"", "remote = \"10.10.12.9:694\"");
    let report = check_files(&paths, None);
    assert_eq!(
        cross_kinds(&report),
        [ProblemKind::SerialMismatch, ProblemKind::AddressMismatch],
        "{}",
        explain(&report)
    );
    assert!(report.cross[0].location.contains("node-a.toml:line "), "{}", report.cross[0]);
    assert!(report.cross[0].message.contains("115200 baud here, 57600 in"), "{}", report.cross[0]);
    assert!(report.cross[1].location.ends_with(": links[2].remote"), "{}", report.cross[1]);
    assert!(
        report.cross[1].message.contains("sends to 10.10.12.9:694, but witness listens on 10.10.12.1:694"),
        "{}",
        report.cross[1]
    );

    // A link id that names another pair at the other end, and a kind that differs.
    let (dir2, paths) = triple("links-2");
    edit(&paths[2], "id = 12\npeer = \"witness\"", "id = 11\npeer = \"witness\"");
    edit(
        &paths[1],
        "id = 3\npeer = \"node-b\"\nkind = \"serial\"\ndevice = \"/dev/ttyS2\"\nbaud = 115200",
        "id = 3\npeer = \"node-b\"\nkind = \"ethernet\"\ninterface = \"eth2\"",
    );
    let report = check_files(&paths, None);
    let kinds = cross_kinds(&report);
    assert!(kinds.iter().all(|k| *k == ProblemKind::LinkMismatch), "{}", explain(&report));
    let text = explain(&report);
    assert!(text.contains("link 3 is ethernet here, serial in"), "{text}");
    assert!(text.contains("node-b: link 11 goes to witness here, but"), "{text}");
    assert!(text.contains("uses link 11 to node-a"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(dir2).unwrap();
}

#[test]
fn two_files_of_one_member_and_an_invalid_file() {
    let (dir, paths) = triple("same");
    let copy = dir.join("node-a-copy.toml");
    std::fs::copy(&paths[1], &copy).unwrap();
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "cluster = \n").unwrap();
    let report = check_files(&[paths[0].clone(), paths[1].clone(), copy, broken], None);
    assert_eq!(cross_kinds(&report), [ProblemKind::SameMember], "{}", explain(&report));
    assert!(report.files[3].report.config.is_none());
    assert!(!report.is_valid());
    std::fs::remove_dir_all(dir).unwrap();
}

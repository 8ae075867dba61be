//! Every configuration the `configs` tool writes (`ha_tests::topology`: the virtual rack in
//! each of its variants, the GPIO relay VM test, the VIP benchmark's clusters) passes `ha-agent check-config`: the files of
//! the rack checked together (each alone, then against each other), as an operator would,
//! the GPIO test's each alone (as its script does),
//! and each alone by the loader's full check (key file included). The resource agents are not
//! inspected (they exist only in the VMs). The appliance rack's nodes differ on purpose in one
//! resource parameter (the ledger's `node`), which the cross-file check reports. The examples of
//! docs/examples are checked in agent/tests/check_config.rs.
//!
//! Needs `cargo build -p ha-agent` first (it runs target/debug/ha-agent).

use std::path::{Path, PathBuf};
use std::process::Command;

use ha_tests::harness::{agent_binary, write_key_file};
use ha_tests::topology::{generate, Params};

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes topology `name` with `params` (and a fresh key file) into a new directory under
/// `scratch`; returns the paths of its files.
fn write(scratch: &Path, name: &str, params: &[(&str, &str)]) -> Vec<PathBuf> {
    let dir =
        scratch.join(format!("{name}-{}", params.iter().map(|(_, v)| *v).collect::<Vec<_>>().join("-")));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("cluster.key");
    write_key_file(&key).unwrap();
    let mut given: Vec<(String, String)> =
        params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    given.push(("key_file".into(), key.display().to_string()));
    let files = generate(name, &Params(&given)).unwrap_or_else(|e| panic!("{name} {params:?}: {e}"));
    files
        .into_iter()
        .map(|file| {
            let path = dir.join(&file.name);
            std::fs::write(&path, &file.text).unwrap();
            path
        })
        .collect()
}

fn check_config(files: &[&Path]) -> (Option<i32>, String) {
    let output = Command::new(agent_binary().expect("cargo build -p ha-agent first"))
        .arg("check-config")
        .args(files)
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn every_generated_configuration_passes_check_config() {
    let scratch = Scratch(std::env::temp_dir().join(format!("ha-generated-configs-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&scratch.0);
    let mut checked = 0;
    for (nodes, resources) in [("appliance", "ocf"), ("debian", "ocf"), ("debian", "builtin")] {
        for timing in ["default", "fast"] {
            let files =
                write(&scratch.0, "rack", &[("nodes", nodes), ("timing", timing), ("resources", resources)]);
            assert_eq!(files.len(), 3);
            let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
            for path in &paths {
                let report = ha_agent::config::check(path, None);
                assert!(report.problems.is_empty(), "{}: {:#?}", path.display(), report.problems);
            }
            let (code, out) = check_config(&paths);
            assert_eq!(out.matches(": ok (cluster rack, member").count(), 3, "{out}");
            if nodes == "appliance" {
                // The ledger is told which node runs it (params.node): the one difference
                // between the nodes' groups, which the cross-file check reports.
                assert_eq!(code, Some(1), "rack nodes={nodes} timing={timing}:\n{out}");
                assert!(out.contains("resources: node-b: [resources] differs from node-a's"), "{out}");
                assert!(out.contains("\n1 problem(s) found across the files"), "{out}");
            } else {
                assert_eq!(code, Some(0), "rack nodes={nodes} timing={timing}:\n{out}");
                assert!(out.contains("the files agree"), "{out}");
                // The nodes' own LAN link is raw Ethernet on the Debian nodes (the L2 path in
                // every scenario of that rack).
                for path in &paths {
                    let config = ha_agent::config::load(path).expect("a generated configuration loads");
                    let ethernet = config.links.iter().filter(|l| {
                        l.kind == ha_agent::config::LinkKind::Ethernet { interface: "eth0".into() }
                    });
                    let expected = if path.ends_with("witness.toml") { 0 } else { 1 };
                    assert_eq!(ethernet.count(), expected, "{}", path.display());
                }
            }
            checked += files.len();
        }
    }
    let files = write(&scratch.0, "gpio", &[]);
    let by_name = |name: &str| files.iter().find(|p| p.ends_with(name)).unwrap().as_path();
    // Each alone, as gpio-relay-test.sh checks them (the witness names `preferred`, node-b has
    // no [authority]: the cross-file check would report that difference).
    for (name, member) in [
        ("witness.toml", "witness (witness)"),
        ("witness-active-low.toml", "witness (witness)"),
        ("node-b.toml", "node-b (node)"),
    ] {
        let (code, out) = check_config(&[by_name(name)]);
        assert_eq!(code, Some(0), "gpio {name}:\n{out}");
        assert!(out.contains(&format!("ok (cluster gpiotest, member {member}, 2 links)")), "{out}");
    }
    checked += files.len();
    // The VIP benchmark: its key in its work directory, as the script makes it.
    for kind in ["script", "builtin", "ipaddr2"] {
        let work = scratch.0.join(format!("bench-vip-{kind}"));
        std::fs::create_dir_all(&work).unwrap();
        write_key_file(&work.join("cluster.key")).unwrap();
        let work_text = work.display().to_string();
        let given: Vec<(String, String)> = [
            ("work", work_text.as_str()),
            ("tag", "fast"),
            ("vip", "10.77.0.100"),
            ("port", "5405"),
            ("interval_ms", "25"),
            ("warn_ms", "50"),
            ("dead_ms", "75"),
            ("kind", kind),
            ("addr_w", "10.77.0.4"),
            ("addr_a", "10.77.0.1"),
            ("addr_b", "10.77.0.2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let files = generate("bench-vip", &Params(&given)).unwrap();
        let paths: Vec<PathBuf> = files
            .iter()
            .map(|file| {
                let path = work.join(&file.name);
                std::fs::write(&path, &file.text).unwrap();
                path
            })
            .collect();
        let paths: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
        let (code, out) = check_config(&paths);
        assert_eq!(code, Some(0), "bench-vip kind={kind}:\n{out}");
        assert!(out.contains("the files agree"), "{out}");
        assert_eq!(out.matches(": ok (cluster bench-fast, member").count(), 3, "{out}");
        checked += paths.len();
    }
    assert_eq!(checked, 30, "every file of every variant was checked");
}

#[test]
fn the_fence_service_witness_passes_check_config() {
    // As fence-rackha.sh makes its work directory: both keys and the plug's command beside the
    // file (the keys are relative to it).
    let work = std::env::temp_dir().join(format!("ha-generated-fence-service-{}", std::process::id()));
    let scratch = Scratch(work.clone());
    let _ = std::fs::remove_dir_all(&scratch.0);
    std::fs::create_dir_all(&work).unwrap();
    write_key_file(&work.join("cluster.key")).unwrap();
    write_key_file(&work.join("fence.key")).unwrap();
    let relay = work.join("relay");
    std::fs::write(&relay, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&relay, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let files = generate("fence-service", &Params(&[("work".into(), work.display().to_string())])).unwrap();
    assert_eq!(files.len(), 1);
    let path = work.join(&files[0].name);
    std::fs::write(&path, &files[0].text).unwrap();
    let (code, out) = check_config(&[path.as_path()]);
    assert_eq!(code, Some(0), "fence-service:\n{out}");
    assert!(out.contains("ok (cluster fence-test, member witness (witness), 2 links)"), "{out}");
    assert!(generate("fence-service", &Params(&[])).is_err(), "work= is required");
}

#[test]
fn the_pacemaker_rack_witness_passes_check_config_and_its_group_is_the_debian_nodes() {
    // rack.py --nodes pacemaker: the witness with [fence_service] (its own key beside the
    // cluster key) and group.toml, the Debian nodes' [resources] that the CIB is written from.
    let work = std::env::temp_dir().join(format!("ha-generated-pacemaker-rack-{}", std::process::id()));
    let scratch = Scratch(work.clone());
    let _ = std::fs::remove_dir_all(&scratch.0);
    std::fs::create_dir_all(&work).unwrap();
    let (cluster_key, fence_key) = (work.join("cluster.key"), work.join("fence.key"));
    write_key_file(&cluster_key).unwrap();
    write_key_file(&fence_key).unwrap();
    for timing in ["default", "fast"] {
        let params: Vec<(String, String)> = [
            ("nodes", "pacemaker".to_string()),
            ("timing", timing.to_string()),
            ("key_file", cluster_key.display().to_string()),
            ("fence_key_file", fence_key.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let files = generate("rack", &Params(&params)).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["witness.toml", "group.toml"]);
        let path = work.join(format!("witness-{timing}.toml"));
        std::fs::write(&path, &files[0].text).unwrap();
        let (code, out) = check_config(&[path.as_path()]);
        assert_eq!(code, Some(0), "rack nodes=pacemaker timing={timing}:\n{out}");
        assert!(out.contains("ok (cluster rack, member witness (witness), 2 links)"), "{out}");
        let config = ha_agent::config::load(&path).expect("the witness's configuration loads");
        let plugs: Vec<&str> = config
            .fence_service
            .as_ref()
            .expect("[fence_service]")
            .plugs
            .iter()
            .map(|p| p.node.as_str())
            .collect();
        assert_eq!(plugs, ["node-a", "node-b"], "the plugs are the Pacemaker nodes");
        // The same group as the Debian nodes' agents run.
        let debian =
            generate("rack", &Params(&[("nodes".into(), "debian".into()), ("timing".into(), timing.into())]))
                .unwrap();
        let node_a = &debian.iter().find(|f| f.name == "node-a.toml").unwrap().text;
        let group = files[1].text.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n");
        assert!(group.contains("ocf:heartbeat:pgsql"), "{group}");
        assert!(node_a.contains(group.trim()), "group.toml is node-a's [resources]:\n{group}\n---\n{node_a}");
    }
}

#[test]
fn the_watchdog_vm_witness_passes_check_config() {
    // Its key is written by the VM's init at /etc/ha-agent/cluster.key: check it with a key at
    // that path made relative to a scratch directory.
    let work = std::env::temp_dir().join(format!("ha-generated-watchdog-vm-{}", std::process::id()));
    let scratch = Scratch(work.clone());
    let _ = std::fs::remove_dir_all(&scratch.0);
    std::fs::create_dir_all(&work).unwrap();
    write_key_file(&work.join("cluster.key")).unwrap();
    let files = generate("watchdog-vm", &Params(&[("timeout_s".into(), "5".into())])).unwrap();
    assert_eq!(files.len(), 1);
    let text = files[0].text.replace("/etc/ha-agent/cluster.key", "cluster.key");
    assert!(text.contains("[watchdog]\ndevice = \"/dev/watchdog\"\ntimeout_s = 5\n"), "{text}");
    let path = work.join(&files[0].name);
    std::fs::write(&path, text).unwrap();
    let (code, out) = check_config(&[path.as_path()]);
    assert_eq!(code, Some(0), "watchdog-vm:\n{out}");
    assert!(out.contains("ok (cluster vmtest, member witness (witness), 4 links)"), "{out}");
    assert!(generate("watchdog-vm", &Params(&[])).is_err(), "timeout_s= is required");
}

#[test]
fn unknown_topologies_and_parameters_are_refused() {
    assert!(generate("nowhere", &Params(&[])).is_err());
    assert!(generate("rack", &Params(&[("colour".into(), "red".into())])).is_err());
    assert!(generate("rack", &Params(&[("nodes".into(), "windows".into())])).is_err());
    assert!(generate("rack", &Params(&[("fence_key".into(), "x".into())])).is_err());
}

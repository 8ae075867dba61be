//! The configurations the rack harness writes are accepted by the agent's own loader, and mean
//! what the harness intends (member, peers, link kinds, timing). Catches a drift between the
//! harness and the configuration contract without starting any process.

use std::net::SocketAddr;
use std::path::PathBuf;

use ha_agent::config::{self, LinkKind as AgentLinkKind, Role};
use ha_tests::harness::{
    link_plan, links_of, member_config, write_key_file, EndConfig, LinkEnds, LinkKind, Timing, LINKS, MEMBERS,
};

fn fake_ends() -> Vec<LinkEnds> {
    LINKS
        .iter()
        .map(|plan| {
            let port = 40_000 + u16::from(plan.id) * 10;
            let (a, b) = match plan.kind {
                LinkKind::Serial => (
                    EndConfig::Serial { device: PathBuf::from(format!("/dev/pts/{}", 90 + plan.id)) },
                    EndConfig::Serial { device: PathBuf::from(format!("/dev/pts/{}", 190 + plan.id)) },
                ),
                LinkKind::Udp => {
                    let addr = |offset: u16| -> SocketAddr {
                        format!("127.0.0.1:{}", port + offset).parse().unwrap()
                    };
                    (
                        EndConfig::Udp { local: addr(0), remote: addr(1) },
                        EndConfig::Udp { local: addr(2), remote: addr(3) },
                    )
                }
            };
            LinkEnds { id: plan.id, a, b }
        })
        .collect()
}

#[test]
fn harness_configurations_load_and_mean_what_the_rack_intends() {
    let dir = std::env::temp_dir().join(format!("ha-rack-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_key_file(&dir.join("cluster.key")).unwrap();
    let timing = Timing { interval_ms: 100, warn_ms: 300, dead_ms: 600, initdead_ms: 2000 };
    let ends = fake_ends();
    for member in MEMBERS {
        let path = dir.join(format!("{member}.toml"));
        std::fs::write(&path, member_config(member, timing, &dir.join(format!("{member}.sock")), &ends))
            .unwrap();
        let loaded = config::load(&path).unwrap_or_else(|problems| {
            let text = std::fs::read_to_string(&path).unwrap();
            let explained: Vec<String> = problems.iter().map(|problem| problem.to_string()).collect();
            panic!("{member}.toml rejected:\n{}\n--- the file ---\n{text}", explained.join("\n"))
        });
        config::load_key(&loaded.key_file).unwrap_or_else(|problem| panic!("key rejected: {problem}"));
        assert_eq!(loaded.cluster, "payments");
        assert_eq!(loaded.me().name, member);
        assert_eq!(loaded.me().role, if member == "witness" { Role::Witness } else { Role::Node });
        assert_eq!(loaded.members.len(), 3);
        assert_eq!(
            (
                loaded.timing.interval_ms,
                loaded.timing.warn_ms,
                loaded.timing.dead_ms,
                loaded.timing.initdead_ms
            ),
            (100, 300, 600, 2000)
        );
        let mut ids: Vec<u8> = loaded.links.iter().map(|link| link.id).collect();
        ids.sort();
        assert_eq!(ids, links_of(member));
        for link in &loaded.links {
            let plan = link_plan(link.id);
            let peer = loaded.member(link.peer).expect("peer is a member");
            assert_eq!(Some(peer.name.as_str()), plan.peer_of(member), "link {}", link.id);
            match (&link.kind, plan.kind) {
                (AgentLinkKind::Serial { baud, .. }, LinkKind::Serial) => assert_eq!(*baud, 115_200),
                (AgentLinkKind::Udp { broadcast, .. }, LinkKind::Udp) => assert!(!broadcast),
                (kind, expected) => panic!("link {} loaded as {kind:?}, planned {expected:?}", link.id),
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

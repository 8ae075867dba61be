//! Fuzz the SNMP command responder with what anyone on the network may send to the agent's
//! request port: SNMPv1/v2c/v3 messages, well-formed or not, with the right community or user
//! or not. The responder must never panic; it answers at most one datagram, never longer than
//! `MAX_RESPONSE_BYTES`, and every answer decodes as a Response (v2c) or as a Response or
//! Report (v3); every datagram is counted exactly once.
#![no_main]

use std::sync::OnceLock;

use ha_agent::config::Role;
use ha_agent::core::authority::ResState;
use ha_agent::core::membership::{LinkCounters, LinkState, PeerState};
use ha_agent::snmp::objects::{
    AgentCounters, AuthorityFacts, LinkKindTag, LinkRow, MemberRow, MibView, NodeReportFacts, Snapshot,
};
use ha_agent::snmp::pdu::{decode_community_response, TAG_REPORT, TAG_RESPONSE};
use ha_agent::snmp::responder::{Responder, ResponderConfig, MAX_RESPONSE_BYTES};
use ha_agent::snmp::usm::{self, AuthProtocol, LocalizedUser, PrivProtocol, UsmUser};
use ha_agent::time::Micros;
use libfuzzer_sys::fuzz_target;

fn engine_id() -> Vec<u8> {
    usm::engine_id_from_text(99999, "witness")
}

fn user() -> &'static LocalizedUser {
    static USER: OnceLock<LocalizedUser> = OnceLock::new();
    USER.get_or_init(|| {
        UsmUser::from_passwords(
            "reader",
            Some((AuthProtocol::HmacSha256_192, b"authpass")),
            Some((PrivProtocol::Aes128Cfb, b"privpass")),
        )
        .localize(&engine_id())
    })
}

fn snapshot(agent: AgentCounters) -> Snapshot {
    Snapshot {
        cluster: "rack".into(),
        member: "witness".into(),
        role: Role::Witness,
        boot: 3,
        authority: AuthorityFacts::Witness {
            generation: 4,
            holder: Some("node-a".into()),
            maintenance: false,
            granted_at_wall_ms: Some(1_796_558_400_000),
            startup: false,
            switching: false,
            fencing: None,
            last_fence: None,
        },
        members: vec![MemberRow {
            id: 2,
            name: "node-a".into(),
            role: Role::Node,
            state: PeerState::Reachable,
            links_up: 1,
            standby: Some(false),
            report: Some(NodeReportFacts {
                ready: true,
                resources_state: ResState::Running,
                acting_generation: 4,
                fence_bound_ms: 16_000,
            }),
        }],
        links: vec![LinkRow {
            id: 1,
            peer: "node-a".into(),
            kind: LinkKindTag::Serial,
            transport: "serial /dev/ttyS0".into(),
            open: true,
            state: LinkState::Up,
            counters: LinkCounters::default(),
        }],
        relays: vec![],
        array: None,
        agent,
        fence_service: Some(ha_agent::status::FenceService {
            listen: "127.0.0.1:7790".into(),
            counters: ha_agent::status::FenceServiceCounters { commands: 2, ..Default::default() },
            ..Default::default()
        }),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut responder = Responder::new(ResponderConfig {
        read_community: Some(b"public".to_vec()),
        users: vec![user().clone()],
        engine_id: engine_id(),
        engine_boots: 3,
        start: Micros::ZERO,
        salt_seed: 0,
    });
    let handled = responder.handle(Micros::from_ms(5_000), data, |c| MibView::build(&snapshot(c)));
    let c = responder.counters();
    assert_eq!(c.requests, 1);
    assert_eq!(c.responses, u64::from(handled.reply.is_some()));
    assert_eq!(
        c.malformed + c.bad_versions + c.bad_communities + c.usm_refused,
        u64::from(handled.refused.is_some())
    );
    if let Some(reply) = handled.reply {
        assert!(reply.len() <= MAX_RESPONSE_BYTES);
        let tag = match decode_community_response(&reply) {
            Ok(m) => m.pdu.tag,
            Err(_) => {
                usm::decode_v3_response(&reply, Some(user()))
                    .or_else(|_| usm::decode_v3_response(&reply, None))
                    .expect("a reply decodes")
                    .pdu
                    .tag
            }
        };
        assert!(tag == TAG_RESPONSE || tag == TAG_REPORT);
    }
});

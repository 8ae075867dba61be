//! Fuzz the SNMP command responder with what anyone on the network may send to the agent's
//! request port: SNMPv1/v2c/v3 messages, well-formed or not, with the right community or user
//! or not. The responder must never panic; it answers at most one datagram, never longer than
//! `MAX_RESPONSE_BYTES`, and every answer decodes as a Response (v2c) or as a Response or
//! Report (v3); every datagram is counted exactly once.
#![no_main]

use std::sync::OnceLock;

use ha_agent::snmp::objects::MibView;
use ha_agent::snmp::pdu::{decode_community_response, TAG_REPORT, TAG_RESPONSE};
use ha_agent::snmp::responder::{Responder, ResponderConfig, MAX_RESPONSE_BYTES};
use ha_agent::snmp::usm::{self, AuthProtocol, LocalizedUser, PrivProtocol, UsmUser};
use ha_agent::status::{
    Authority, FenceService, FenceServiceCounters, Link, Member, NodeReport, Status, WitnessAuthority,
};
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

/// The status document the view is built from (a witness with a node, a link and the fence
/// service).
fn status() -> Status {
    Status {
        cluster: "rack".into(),
        member: "witness".into(),
        role: "witness".into(),
        boot: 3,
        authority: Some(Authority::Witness(WitnessAuthority {
            generation: 4,
            holder: Some("node-a".into()),
            granted_at_wall_ms: Some(1_796_558_400_000),
            nodes: vec![NodeReport {
                name: "node-a".into(),
                ready: Some(true),
                resources_state: Some("running".into()),
                acting_generation: Some(4),
                watchdog_armed: Some(true),
                fence_bound_ms: Some(16_000),
                ..Default::default()
            }],
            ..Default::default()
        })),
        members: vec![Member {
            name: Some("node-a".into()),
            id: 2,
            role: Some("node".into()),
            state: "reachable".into(),
            links_up: 1,
            reaches: vec![],
        }],
        links: vec![Link {
            id: 1,
            peer: "node-a".into(),
            kind: "serial".into(),
            transport: "serial /dev/ttyS0".into(),
            open: true,
            state: "up".into(),
            ..Default::default()
        }],
        fence_service: Some(FenceService {
            listen: "127.0.0.1:7790".into(),
            counters: FenceServiceCounters { commands: 2, ..Default::default() },
            ..Default::default()
        }),
        ..Default::default()
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
    let handled = responder.handle(Micros::from_ms(5_000), data, |c| MibView::build(&status(), &c));
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

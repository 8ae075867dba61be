//! Tests of `snmp::notify`, kept apart so that the module reads as what it does.

use super::super::ber::Value;
use super::super::usm::{AuthProtocol, PrivProtocol};
use super::*;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn options() -> NotifierOptions {
    NotifierOptions {
        engine_id: usm::engine_id_from_text(99999, "node-a"),
        engine_boots: 3,
        start: Micros::from_ms(1_000),
        agent_addr_v1: [127, 0, 0, 1],
        salt_seed: 42,
        alive_interval_ms: None,
        member: "node-a".into(),
    }
}

fn v2c(name: &str, port: u16, delivery: Delivery) -> Target {
    Target {
        name: name.into(),
        address: addr(port),
        version: Version::V2c,
        delivery,
        security: Security::Community(b"public".to_vec()),
    }
}

fn member_down() -> Notification {
    Notification::MemberDown { member: "node-b".into() }
}

/// A receiver's Response to a v2c inform.
fn respond(inform: &[u8]) -> Vec<u8> {
    let mut r = super::super::ber::Reader::new(inform).unwrap();
    let mut msg = r.enter(0x30).unwrap();
    msg.read_integer().unwrap();
    msg.read_octets().unwrap();
    let mut pdu = Pdu::decode(&mut msg).unwrap();
    assert_eq!(pdu.tag, pdu::TAG_INFORM);
    pdu.tag = pdu::TAG_RESPONSE;
    let mut bytes = Vec::new();
    pdu.encode(&mut bytes);
    pdu::encode_community_message(pdu::VERSION_V2C, b"public", &bytes)
}

fn drain(n: &mut Notifier, now: Micros) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = vec![];
    while let Some(d) = n.poll_transmit(now) {
        out.push(d);
        assert!(out.len() < 10_000);
    }
    out
}

#[test]
fn traps_go_once_and_informs_wait_for_the_store_then_retry_with_backoff() {
    let mut n = Notifier::new(
        options(),
        vec![v2c("trap", 1, Delivery::Trap), v2c("inform", 2, Delivery::Inform)],
        StoreImage::default(),
    )
    .unwrap();
    let t0 = Micros::from_ms(5_000);
    let seq = n.notify(t0, member_down());
    assert_eq!(seq, 1);
    // Before the image is taken only the trap may leave.
    let sent = drain(&mut n, t0);
    assert_eq!(sent.iter().map(|d| d.0).collect::<Vec<_>>(), [addr(1)]);
    let image = n.take_store_image().expect("dirty after notify");
    assert_eq!((image.next_sequence, image.informs.len()), (2, 1));
    assert!(n.take_store_image().is_none());
    // Now the inform leaves, and is retried with a doubling interval up to the bound.
    assert_eq!(drain(&mut n, t0).len(), 1);
    let mut at = t0;
    let mut interval = INFORM_RETRY_INITIAL_MS;
    for _ in 0..10 {
        assert_eq!(n.poll_timeout(), Some(at.plus_ms(interval)));
        assert!(drain(&mut n, at.plus_ms(interval - 1)).is_empty());
        at = at.plus_ms(interval);
        assert_eq!(drain(&mut n, at).len(), 1);
        interval = (interval * 2).min(INFORM_RETRY_MAX_MS);
    }
    assert_eq!(interval, INFORM_RETRY_MAX_MS);
    let stats = n.stats("inform").unwrap();
    assert_eq!((stats.transmitted, stats.retransmitted, stats.acknowledged), (11, 10, 0));
    // The Response acknowledges it: no more retries, and the store changes.
    let last = n.targets[1].queue[0].clone();
    let inform = n.encode_inform(1, at, &last, 0);
    n.handle_datagram(at, addr(2), &respond(&inform));
    assert_eq!(n.stats("inform").unwrap().acknowledged, 1);
    assert_eq!(n.queued("inform"), 0);
    assert_eq!(n.poll_timeout(), None);
    assert_eq!(n.take_store_image().unwrap().informs, vec![]);
}

#[test]
fn a_response_from_elsewhere_or_with_another_community_acknowledges_nothing() {
    let mut n =
        Notifier::new(options(), vec![v2c("inform", 2, Delivery::Inform)], StoreImage::default()).unwrap();
    let t0 = Micros::from_ms(5_000);
    n.notify(t0, member_down());
    n.take_store_image();
    let (_, inform) = n.poll_transmit(t0).unwrap();
    let response = respond(&inform);
    n.handle_datagram(t0, addr(3), &response);
    let mut wrong_community = response.clone();
    let at = wrong_community.windows(6).position(|w| w == b"public").unwrap();
    wrong_community[at] = b'P';
    n.handle_datagram(t0, addr(2), &wrong_community);
    n.handle_datagram(t0, addr(2), &response[..response.len() - 1]);
    assert_eq!(n.queued("inform"), 1);
    assert_eq!(n.stats("inform").unwrap().rejected, 2);
    n.handle_datagram(t0, addr(2), &response);
    assert_eq!(n.queued("inform"), 0);
}

#[test]
fn a_full_queue_drops_the_oldest_and_counts_it() {
    let mut n =
        Notifier::new(options(), vec![v2c("inform", 2, Delivery::Inform)], StoreImage::default()).unwrap();
    for i in 0..MAX_QUEUE + 5 {
        n.notify(Micros::from_ms(i as u64), member_down());
    }
    assert_eq!(n.queued("inform"), MAX_QUEUE);
    assert_eq!(n.stats("inform").unwrap().dropped, 5);
    let image = n.take_store_image().unwrap();
    assert_eq!(image.informs.first().unwrap().sequence, 6);
    assert_eq!(image.informs.len(), MAX_QUEUE);
    // At most MAX_IN_FLIGHT informs are outstanding at once.
    assert_eq!(drain(&mut n, Micros::from_ms(10_000)).len(), MAX_IN_FLIGHT);
}

#[test]
fn pending_informs_and_the_sequence_survive_a_restart() {
    let mut n =
        Notifier::new(options(), vec![v2c("inform", 2, Delivery::Inform)], StoreImage::default()).unwrap();
    for i in 0..3 {
        n.notify(Micros::from_ms(i), member_down());
    }
    let image = n.take_store_image().unwrap();
    drop(n);
    let bytes = super::super::queue_store::encode(&image);
    let restored = super::super::queue_store::decode(&bytes).image;
    let mut n = Notifier::new(
        options(),
        vec![v2c("inform", 2, Delivery::Inform), v2c("other", 3, Delivery::Trap)],
        restored,
    )
    .unwrap();
    let sent = drain(&mut n, Micros::from_ms(1_000));
    assert_eq!(sent.len(), 3);
    for (_, d) in &sent {
        n.handle_datagram(Micros::from_ms(1_000), addr(2), &respond(d));
    }
    assert_eq!(n.stats("inform").unwrap().acknowledged, 3);
    assert_eq!(n.notify(Micros::from_ms(2_000), member_down()), 4);
}

#[test]
fn alive_notifications_are_periodic() {
    let mut opts = options();
    opts.alive_interval_ms = Some(30_000);
    let mut n = Notifier::new(opts, vec![v2c("trap", 1, Delivery::Trap)], StoreImage::default()).unwrap();
    assert_eq!(n.poll_timeout(), Some(Micros::from_ms(31_000)));
    assert!(drain(&mut n, Micros::from_ms(30_999)).is_empty());
    let sent = drain(&mut n, Micros::from_ms(31_000));
    assert_eq!(sent.len(), 1);
    let text = String::from_utf8_lossy(&sent[0].1).to_string();
    assert!(text.contains("node-a is alive"), "{text}");
    assert_eq!(n.poll_timeout(), Some(Micros::from_ms(61_000)));
}

#[test]
fn invalid_target_combinations_are_refused() {
    let mut v1_inform = v2c("a", 1, Delivery::Inform);
    v1_inform.version = Version::V1;
    assert_eq!(
        Notifier::new(options(), vec![v1_inform], StoreImage::default()).err(),
        Some(TargetError::InformNeedsV2cOrV3("a".into()))
    );
    let mut v3_community = v2c("b", 1, Delivery::Trap);
    v3_community.version = Version::V3;
    assert_eq!(
        Notifier::new(options(), vec![v3_community], StoreImage::default()).err(),
        Some(TargetError::SecurityDoesNotMatchVersion("b".into()))
    );
    let dup = vec![v2c("c", 1, Delivery::Trap), v2c("c", 2, Delivery::Trap)];
    assert_eq!(
        Notifier::new(options(), dup, StoreImage::default()).err(),
        Some(TargetError::DuplicateName("c".into()))
    );
}

/// A simulated SNMPv3 receiver: answers the probe with a Report, then informs with
/// authenticated, encrypted Responses.
#[test]
fn v3_informs_discover_the_engine_then_are_acknowledged() {
    let user = UsmUser::from_passwords(
        "user",
        Some((AuthProtocol::HmacSha256_192, b"authpass")),
        Some((PrivProtocol::Aes128Cfb, b"privpass")),
    );
    let target = Target {
        name: "v3".into(),
        address: addr(4),
        version: Version::V3,
        delivery: Delivery::Inform,
        security: Security::Usm(user.clone()),
    };
    let mut n = Notifier::new(options(), vec![target], StoreImage::default()).unwrap();
    let t0 = Micros::from_ms(5_000);
    n.notify(t0, member_down());
    n.take_store_image();
    let (_, probe) = n.poll_transmit(t0).unwrap();
    assert!(n.poll_transmit(t0).is_none(), "nothing but the probe before discovery");
    let parsed = usm::parse_v3(&probe).unwrap();
    assert_eq!((parsed.flags, parsed.engine.engine_id.len()), (usm::FLAG_REPORTABLE, 0));

    let receiver = EngineParams { engine_id: usm::engine_id_from_text(8072, "trapd"), boots: 7, time: 1000 };
    let report = Pdu {
        tag: pdu::TAG_REPORT,
        request_id: 0,
        error_status: 0,
        error_index: 0,
        varbinds: vec![VarBind::new(
            usm::usm_stats().child(&[usm::USM_STATS_UNKNOWN_ENGINE_IDS, 0]),
            Value::Counter32(1),
        )],
    };
    let mut pdu_bytes = Vec::new();
    report.encode(&mut pdu_bytes);
    let report_bytes = usm::encode_v3(&OutgoingV3 {
        msg_id: parsed.msg_id,
        reportable: false,
        engine: &receiver,
        user: None,
        context_engine_id: &receiver.engine_id,
        salt: 0,
        pdu: &pdu_bytes,
    });
    n.handle_datagram(t0, addr(4), &report_bytes);

    let t1 = t0.plus_ms(3_000);
    let (_, inform) = n.poll_transmit(t1).unwrap();
    let local = user.localize(&receiver.engine_id);
    // Decrypt as the receiver would: the engine fields are the receiver's, time advanced.
    let p = usm::parse_v3(&inform).unwrap();
    assert_eq!(p.engine, EngineParams { time: 1003, ..receiver.clone() });
    assert_eq!(p.flags, usm::FLAG_AUTH | usm::FLAG_PRIV | usm::FLAG_REPORTABLE);
    let mut zeroed = inform.clone();
    zeroed[p.auth_params.clone()].fill(0);
    assert!(AuthProtocol::HmacSha256_192.verify(
        &local.auth.as_ref().unwrap().1,
        &zeroed,
        &inform[p.auth_params.clone()]
    ));
    let mut scoped = p.msg_data.to_vec();
    usm::aes128_cfb(
        local.privacy.as_ref().unwrap(),
        7,
        1003,
        p.priv_params.try_into().unwrap(),
        &mut scoped,
        false,
    );
    let mut r = super::super::ber::Reader::new(&scoped).unwrap();
    let mut sp = r.enter(0x30).unwrap();
    assert_eq!(sp.read_octets().unwrap(), &receiver.engine_id[..]);
    sp.read_octets().unwrap();
    let mut pdu = Pdu::decode(&mut sp).unwrap();
    assert_eq!(pdu.tag, pdu::TAG_INFORM);
    assert_eq!(pdu.varbinds[1].value, Value::Oid(member_down().oid()));

    pdu.tag = pdu::TAG_RESPONSE;
    let mut pdu_bytes = Vec::new();
    pdu.encode(&mut pdu_bytes);
    let response = usm::encode_v3(&OutgoingV3 {
        msg_id: p.msg_id,
        reportable: false,
        engine: &receiver,
        user: Some(&local),
        context_engine_id: &receiver.engine_id,
        salt: 99,
        pdu: &pdu_bytes,
    });
    // The same Response without authentication is not an acknowledgement.
    let unauth = usm::encode_v3(&OutgoingV3 {
        msg_id: p.msg_id,
        reportable: false,
        engine: &receiver,
        user: None,
        context_engine_id: &receiver.engine_id,
        salt: 0,
        pdu: &pdu_bytes,
    });
    n.handle_datagram(t1, addr(4), &unauth);
    assert_eq!(n.queued("v3"), 1);
    n.handle_datagram(t1, addr(4), &response);
    assert_eq!(n.queued("v3"), 0);
    assert_eq!(n.stats("v3").unwrap().acknowledged, 1);
}

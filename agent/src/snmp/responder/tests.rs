//! Tests of `snmp::responder`, kept apart so that the module reads as what it does.

use super::*;
use crate::snmp::objects::tests::sample;
use crate::snmp::objects::{object_oid, CLUSTER_NAME, LINK_ENTRY, LNK_TRANSPORT};
use crate::snmp::pdu::{decode_community_response, Pdu, TAG_GET_REQUEST};
use crate::snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};

const COMMUNITY: &[u8] = b"monitor";

fn engine_id() -> Vec<u8> {
    usm::engine_id_from_text(99999, "witness")
}

fn user() -> UsmUser {
    UsmUser::from_passwords(
        "reader",
        Some((AuthProtocol::HmacSha256_192, b"authpass1")),
        Some((PrivProtocol::Aes128Cfb, b"privpass1")),
    )
}

fn responder() -> Responder {
    Responder::new(ResponderConfig {
        read_community: Some(COMMUNITY.to_vec()),
        users: vec![user().localize(&engine_id())],
        engine_id: engine_id(),
        engine_boots: 5,
        start: Micros::ZERO,
        salt_seed: 1,
    })
}

fn request_pdu(tag: u8, a: i32, b: i32, names: &[Oid]) -> Vec<u8> {
    let mut out = Vec::new();
    Pdu {
        tag,
        request_id: 99,
        error_status: a,
        error_index: b,
        varbinds: names.iter().map(|n| VarBind::new(n.clone(), Value::Null)).collect(),
    }
    .encode(&mut out);
    out
}

fn v2c(community: &[u8], tag: u8, a: i32, b: i32, names: &[Oid]) -> Vec<u8> {
    pdu::encode_community_message(VERSION_V2C, community, &request_pdu(tag, a, b, names))
}

fn view(c: AgentCounters) -> MibView {
    MibView::build(&sample(), &c)
}

fn ask(r: &mut Responder, bytes: &[u8]) -> Pdu {
    let handled = r.handle(Micros::from_ms(10_000), bytes, view);
    assert_eq!(handled.refused, None);
    decode_community_response(&handled.reply.expect("a reply")).expect("a Response").pdu
}

fn name() -> Oid {
    object_oid(CLUSTER_NAME).child(&[0])
}

#[test]
fn v2c_get_getnext_and_getbulk_answer_from_the_view() {
    let mut r = responder();
    let unknown = Oid::new(&[1, 3, 6, 1, 2, 1, 1, 5, 0]);
    let got = ask(&mut r, &v2c(COMMUNITY, TAG_GET_REQUEST, 0, 0, &[name(), unknown.clone()]));
    assert_eq!((got.tag, got.request_id, got.error_status), (TAG_RESPONSE, 99, 0));
    assert_eq!(got.varbinds[0], VarBind::new(name(), Value::OctetString(b"rack".to_vec())));
    assert_eq!(got.varbinds[1], VarBind::new(unknown, Value::NoSuchObject));

    // getnext from the enterprise: the first object, the cluster's name.
    let got = ask(&mut r, &v2c(COMMUNITY, TAG_GET_NEXT_REQUEST, 0, 0, &[objects::served_root()]));
    assert_eq!(got.varbinds, vec![VarBind::new(name(), Value::OctetString(b"rack".to_vec()))]);

    // getbulk walks the whole view and ends with endOfMibView; max-repetitions is bounded.
    let full = view(AgentCounters::default()).len();
    let got = ask(&mut r, &v2c(COMMUNITY, TAG_GET_BULK_REQUEST, 0, i32::MAX, &[objects::served_root()]));
    assert_eq!(got.varbinds.len(), MAX_BULK_REPETITIONS.min(full + 1), "the view, then endOfMibView");
    let mut at = objects::served_root();
    let mut seen = 0;
    loop {
        let got = ask(&mut r, &v2c(COMMUNITY, TAG_GET_BULK_REQUEST, 0, 10, &[at.clone()]));
        let last = got.varbinds.last().unwrap().clone();
        seen += got.varbinds.iter().filter(|vb| vb.value != Value::EndOfMibView).count();
        if last.value == Value::EndOfMibView {
            break;
        }
        at = last.oid;
    }
    assert_eq!(seen, full);
    // Non-repeaters first, then the repeaters interleaved.
    let got =
        ask(&mut r, &v2c(COMMUNITY, TAG_GET_BULK_REQUEST, 1, 2, &[name(), name(), objects::served_root()]));
    assert_eq!(got.varbinds.len(), 1 + 2 * 2);
    assert_eq!(got.varbinds[2].oid, name());
    let c = r.counters();
    assert_eq!((c.requests, c.responses, c.malformed), (c.responses, c.requests, 0));
}

#[test]
fn every_set_is_refused_and_nothing_else_is_called() {
    let mut r = responder();
    let mut set = |names: &[Oid]| {
        let got = ask(&mut r, &v2c(COMMUNITY, TAG_SET_REQUEST, 0, 0, names));
        (got.error_status, got.error_index, got.varbinds.len())
    };
    assert_eq!(set(&[name()]), (ERROR_NOT_WRITABLE, 1, 1));
    assert_eq!(set(&[Oid::new(&[1, 3, 6, 1, 2, 1, 1, 5, 0]), name()]), (ERROR_NO_ACCESS, 1, 2));
    assert_eq!(r.counters().sets_refused, 2);
}

#[test]
fn junk_and_strangers_are_counted_and_get_nothing() {
    let mut r = responder();
    let never = |_: AgentCounters| -> MibView { panic!("no view for a request that is refused") };
    let now = Micros::from_ms(1);
    let wrong = v2c(b"public", TAG_GET_REQUEST, 0, 0, &[name()]);
    assert_eq!(r.handle(now, &wrong, never).refused, Some(RequestError::BadCommunity));
    let v1 = pdu::encode_community_message(
        pdu::VERSION_V1,
        COMMUNITY,
        &request_pdu(TAG_GET_REQUEST, 0, 0, &[name()]),
    );
    assert_eq!(r.handle(now, &v1, never).refused, Some(RequestError::BadVersion(0)));
    let many: Vec<Oid> = (0..=MAX_REQUEST_VARBINDS as u32).map(|i| name().child(&[i])).collect();
    let too_many = v2c(COMMUNITY, TAG_GET_REQUEST, 0, 0, &many);
    assert_eq!(r.handle(now, &too_many, never).refused, Some(RequestError::TooManyVarbinds));
    let huge = vec![0x30; MAX_REQUEST_BYTES + 1];
    assert_eq!(r.handle(now, &huge, never).refused, Some(RequestError::TooLong(MAX_REQUEST_BYTES + 1)));
    // A Response sent to the agent is not a request.
    let response = v2c(COMMUNITY, TAG_RESPONSE, 0, 0, &[name()]);
    assert_eq!(r.handle(now, &response, never).refused, Some(RequestError::NotARequest(TAG_RESPONSE)));
    let good = v2c(COMMUNITY, TAG_GET_BULK_REQUEST, 0, 5, &[name()]);
    for cut in 0..good.len() {
        let handled = r.handle(now, &good[..cut], never);
        assert_eq!(handled.reply, None, "cut at {cut}");
    }
    let c = r.counters();
    assert_eq!((c.bad_communities, c.bad_versions, c.responses), (1, 1, 0));
    assert_eq!(c.requests, 5 + good.len() as u64);
    assert_eq!(c.malformed, c.requests - 2);
}

#[test]
fn responses_stay_within_the_bound() {
    let mut r = responder();
    let long = |c: AgentCounters| {
        let mut s = sample();
        let template = s.links[0].clone();
        s.links = (1..=8u8)
            .map(|id| crate::status::Link { id, transport: "x".repeat(250), ..template.clone() })
            .collect();
        MibView::build(&s, &c)
    };
    let column = object_oid(LINK_ENTRY).child(&[LNK_TRANSPORT]);
    let names: Vec<Oid> = (0..MAX_REQUEST_VARBINDS).map(|_| column.clone()).collect();
    let handled = r.handle(Micros::ZERO, &v2c(COMMUNITY, TAG_GET_NEXT_REQUEST, 0, 0, &names), long);
    let got = decode_community_response(&handled.reply.unwrap()).unwrap().pdu;
    assert_eq!((got.error_status, got.varbinds.len()), (ERROR_TOO_BIG, 0));
    // A bulk is cut short instead, and says nothing wrong.
    let handled = r.handle(Micros::ZERO, &v2c(COMMUNITY, TAG_GET_BULK_REQUEST, 0, 64, &names), long);
    let reply = handled.reply.unwrap();
    assert!(reply.len() <= MAX_RESPONSE_BYTES);
    let got = decode_community_response(&reply).unwrap().pdu;
    assert_eq!(got.error_status, 0);
    assert!(got.varbinds.len() < names.len() && got.varbinds.len() > 8, "{}", got.varbinds.len());
    assert_eq!(r.counters().too_big, 2);
}

/// ENVELOPE_BYTES holds: the largest headers around varbinds of exactly
/// MAX_RESPONSE_VARBIND_BYTES still make a message within MAX_RESPONSE_BYTES.
#[test]
fn the_envelope_bound_covers_the_largest_headers() {
    let name = Oid::new(&[1, 3, 6, 1, 4, 1, 99999, 1, 2, 1, 0]);
    let overhead = encoded_varbind_bytes(&VarBind::new(name.clone(), Value::OctetString(vec![])));
    let mut fill = MAX_RESPONSE_VARBIND_BYTES - overhead;
    // The value's length field grows with the value: shrink until the varbind fits exactly.
    while encoded_varbind_bytes(&VarBind::new(name.clone(), Value::OctetString(vec![0; fill])))
        > MAX_RESPONSE_VARBIND_BYTES
    {
        fill -= 1;
    }
    let vb = VarBind::new(name, Value::OctetString(vec![0; fill]));
    let response = Pdu {
        tag: TAG_RESPONSE,
        request_id: i32::MIN,
        error_status: ERROR_TOO_BIG,
        error_index: i32::MAX,
        varbinds: vec![vb],
    };
    let mut pdu_bytes = Vec::new();
    response.encode(&mut pdu_bytes);
    let v2c = pdu::encode_community_message(VERSION_V2C, &[b'c'; pdu::MAX_COMMUNITY_BYTES], &pdu_bytes);
    assert!(v2c.len() <= MAX_RESPONSE_BYTES, "v2c {}", v2c.len());
    let engine = EngineParams {
        engine_id: vec![0x80; usm::MAX_ENGINE_ID_BYTES],
        boots: MAX_ENGINE_BOOTS,
        time: MAX_ENGINE_BOOTS,
    };
    let longest = UsmUser::from_passwords(
        &"u".repeat(usm::MAX_USER_NAME_BYTES),
        Some((AuthProtocol::HmacSha256_192, b"authpass1")),
        Some((PrivProtocol::Aes128Cfb, b"privpass1")),
    )
    .localize(&engine.engine_id);
    let v3 = usm::encode_v3(&OutgoingV3 {
        msg_id: i32::MAX,
        reportable: false,
        engine: &engine,
        user: Some(&longest),
        context_engine_id: &engine.engine_id,
        salt: u64::MAX,
        pdu: &pdu_bytes,
    });
    assert!(v3.len() <= MAX_RESPONSE_BYTES, "v3 {}", v3.len());
}

#[test]
fn a_small_msg_max_size_is_respected() {
    let mut r = responder();
    let local = user().localize(&engine_id());
    let fresh = EngineParams { engine_id: engine_id(), boots: 5, time: 0 };
    let mut pdu_bytes = Vec::new();
    Pdu {
        tag: TAG_GET_BULK_REQUEST,
        request_id: 1,
        error_status: 0,
        error_index: 64,
        varbinds: vec![VarBind::new(objects::served_root(), Value::Null)],
    }
    .encode(&mut pdu_bytes);
    let mut request = usm::encode_v3(&OutgoingV3 {
        msg_id: 5,
        reportable: true,
        engine: &fresh,
        user: Some(&local),
        context_engine_id: &fresh.engine_id,
        salt: 3,
        pdu: &pdu_bytes,
    });
    // msgMaxSize 4096 (02 02 10 00) becomes 484 (02 02 01 e4), the smallest allowed; then
    // the MAC is computed again over the changed message.
    let at = request.windows(4).position(|w| w == [0x02, 0x02, 0x10, 0x00]).unwrap();
    request[at + 2..at + 4].copy_from_slice(&[0x01, 0xe4]);
    let parsed = usm::parse_v3(&request).unwrap();
    assert_eq!(parsed.max_size, 484);
    let range = parsed.auth_params.clone();
    request[range.clone()].fill(0);
    let (protocol, key) = local.auth.clone().unwrap();
    let mac = protocol.mac(&key, &request);
    request[range].copy_from_slice(&mac);
    let reply = r.handle(Micros::ZERO, &request, view).reply.unwrap();
    assert!(reply.len() <= 484, "{}", reply.len());
    let got = usm::decode_v3_response(&reply, Some(&local)).unwrap().pdu;
    assert_eq!(got.error_status, 0);
    assert!(!got.varbinds.is_empty() && got.varbinds.len() < 64);
}

fn v3_request(
    engine: &EngineParams,
    user: Option<&LocalizedUser>,
    reportable: bool,
    names: &[Oid],
) -> Vec<u8> {
    usm::encode_v3(&OutgoingV3 {
        msg_id: 321,
        reportable,
        engine,
        user,
        context_engine_id: &engine.engine_id,
        salt: 77,
        pdu: &request_pdu(TAG_GET_REQUEST, 0, 0, names),
    })
}

#[test]
fn v3_discovery_time_window_and_authpriv_get_follow_rfc3414() {
    let mut r = responder();
    let now = Micros::from_ms(200_000); // engine time 200 s
    let never = |_: AgentCounters| -> MibView { panic!("no view before USM agrees") };
    // Discovery: empty engine ID and user, reportable -> unknownEngineIDs with our engine.
    let probe = v3_request(&EngineParams { engine_id: vec![], boots: 0, time: 0 }, None, true, &[]);
    let handled = r.handle(now, &probe, never);
    let report = usm::decode_v3_response(&handled.reply.unwrap(), None).unwrap();
    assert_eq!(usm::report_usm_stat(&report.pdu), Some(usm::USM_STATS_UNKNOWN_ENGINE_IDS));
    assert_eq!(report.engine, EngineParams { engine_id: engine_id(), boots: 5, time: 200 });
    assert_eq!((report.msg_id, report.authenticated), (321, false));

    let local = user().localize(&engine_id());
    // Out of the window: an authenticated Report carrying our clock.
    let stale = EngineParams { engine_id: engine_id(), boots: 5, time: 200 - TIME_WINDOW_S - 1 };
    let handled = r.handle(now, &v3_request(&stale, Some(&local), true, &[name()]), never);
    let report = usm::decode_v3_response(&handled.reply.unwrap(), Some(&local)).unwrap();
    assert!(report.authenticated);
    assert_eq!(usm::report_usm_stat(&report.pdu), Some(usm::USM_STATS_NOT_IN_TIME_WINDOWS));
    assert_eq!(report.engine.time, 200);

    // In the window, authPriv: the value, encrypted and authenticated.
    let fresh = EngineParams { engine_id: engine_id(), boots: 5, time: 190 };
    let handled = r.handle(now, &v3_request(&fresh, Some(&local), true, &[name()]), view);
    let response = usm::decode_v3_response(&handled.reply.unwrap(), Some(&local)).unwrap();
    assert!(response.authenticated);
    assert_eq!(response.pdu.tag, TAG_RESPONSE);
    assert_eq!(response.pdu.varbinds, vec![VarBind::new(name(), Value::OctetString(b"rack".to_vec()))]);

    // Wrong key, unknown user, authNoPriv: Reports; not reportable: nothing.
    let other = UsmUser::from_passwords(
        "reader",
        Some((AuthProtocol::HmacSha256_192, b"otherpass")),
        Some((PrivProtocol::Aes128Cfb, b"privpass1")),
    )
    .localize(&engine_id());
    let stat = |r: &mut Responder, bytes: &[u8]| {
        let reply = r.handle(now, bytes, never).reply?;
        usm::report_usm_stat(&usm::decode_v3_response(&reply, None).ok()?.pdu)
    };
    assert_eq!(
        stat(&mut r, &v3_request(&fresh, Some(&other), true, &[name()])),
        Some(usm::USM_STATS_WRONG_DIGESTS)
    );
    let stranger = UsmUser { name: b"nobody".to_vec(), ..user() }.localize(&engine_id());
    assert_eq!(
        stat(&mut r, &v3_request(&fresh, Some(&stranger), true, &[name()])),
        Some(usm::USM_STATS_UNKNOWN_USER_NAMES)
    );
    let auth_only = LocalizedUser { privacy: None, ..local.clone() };
    assert_eq!(
        stat(&mut r, &v3_request(&fresh, Some(&auth_only), true, &[name()])),
        Some(usm::USM_STATS_UNSUPPORTED_SEC_LEVELS)
    );
    assert_eq!(stat(&mut r, &v3_request(&fresh, Some(&other), false, &[name()])), None);
    let c = r.counters();
    assert_eq!((c.usm_refused, c.responses, c.requests), (6, 6, 7));

    // Any flipped bit of a good request: refused or answered, never a panic, and an answer
    // only when the request still authenticates (a flip in the MAC or the data does not).
    let good = v3_request(&fresh, Some(&local), true, &[name()]);
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x04;
        let handled = r.handle(now, &bad, view);
        if let Some(reply) = handled.reply {
            let decoded = usm::decode_v3_response(&reply, Some(&local))
                .or_else(|_| usm::decode_v3_response(&reply, None));
            assert!(
                decoded.unwrap().pdu.tag == TAG_REPORT,
                "byte {i}: a flipped request is never answered with data"
            );
        }
    }
}

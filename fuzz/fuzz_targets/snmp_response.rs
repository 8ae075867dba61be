//! Fuzz the decoders of what an SNMP notification originator receives from the network:
//! v1/v2c Responses, SNMPv3 Responses and Reports (with and without keys), and the queue
//! file's records. None may panic; a decoded v2c message must re-encode to a message that
//! decodes to the same value.
#![no_main]

use std::sync::OnceLock;

use ha_agent::snmp::pdu::{decode_community_response, encode_community_message};
use ha_agent::snmp::queue_store;
use ha_agent::snmp::usm::{self, AuthProtocol, LocalizedUser, PrivProtocol, UsmUser};
use libfuzzer_sys::fuzz_target;

fn user() -> &'static LocalizedUser {
    static USER: OnceLock<LocalizedUser> = OnceLock::new();
    USER.get_or_init(|| {
        UsmUser::from_passwords(
            "user",
            Some((AuthProtocol::HmacSha256_192, b"authpass")),
            Some((PrivProtocol::Aes128Cfb, b"privpass")),
        )
        .localize(&usm::engine_id_from_text(8072, "trapd"))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode_community_response(data) {
        let mut pdu = Vec::new();
        msg.pdu.encode(&mut pdu);
        let again = encode_community_message(msg.version, &msg.community, &pdu);
        assert_eq!(decode_community_response(&again).as_ref(), Ok(&msg));
    }
    let _ = usm::decode_v3_response(data, None);
    let _ = usm::decode_v3_response(data, Some(user()));
    let _ = queue_store::decode(data);
});

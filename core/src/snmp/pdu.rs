//! SNMP PDUs and the community-based messages (SNMPv1, SNMPv2c) that carry them.
//!
//! Owns the PDU layout (RFC 3416): v2c Trap (0xA7), Inform (0xA6), Response (0xA2), Report
//! (0xA8) and the GetRequest (0xA0) used as an SNMPv3 discovery probe; the SNMPv1 Trap-PDU
//! (0xA4, RFC 1157) for old stations with the RFC 3584 translation of a v2 notification; and
//! the notification varbind order (sysUpTime.0, snmpTrapOID.0, then the notification's
//! objects). It does not know about USM security (see `usm`) nor about retries (see `notify`).
//! Decoding is for what a notification originator receives (Response and Report); it returns
//! typed values or a typed [`PduError`], never panics.

#![forbid(unsafe_code)]

use super::ber::{self, BerError, Oid, Reader, Value};

/// Bound on the varbinds of a decoded PDU (a Response echoes the Inform's varbinds).
pub const MAX_VARBINDS: usize = 64;
/// Bound on a community string, in bytes.
pub const MAX_COMMUNITY_BYTES: usize = 64;

pub const TAG_GET_REQUEST: u8 = 0xA0;
pub const TAG_RESPONSE: u8 = 0xA2;
pub const TAG_TRAP_V1: u8 = 0xA4;
pub const TAG_INFORM: u8 = 0xA6;
pub const TAG_TRAP_V2: u8 = 0xA7;
pub const TAG_REPORT: u8 = 0xA8;

/// msgVersion values.
pub const VERSION_V1: i64 = 0;
pub const VERSION_V2C: i64 = 1;
pub const VERSION_V3: i64 = 3;

/// sysUpTime.0, the first varbind of every v2 notification.
pub fn sys_uptime_0() -> Oid {
    Oid::new(&[1, 3, 6, 1, 2, 1, 1, 3, 0])
}
/// snmpTrapOID.0, the second varbind of every v2 notification.
pub fn snmp_trap_oid_0() -> Oid {
    Oid::new(&[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0])
}
/// snmpTraps: the generic traps (coldStart is .1) that map to v1 generic-trap 0..=5.
pub fn snmp_traps() -> Oid {
    Oid::new(&[1, 3, 6, 1, 6, 3, 1, 1, 5])
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PduError {
    Ber(BerError),
    /// msgVersion is not one we speak here.
    BadVersion(i64),
    /// A PDU type that a notification originator does not accept.
    UnexpectedPdu(u8),
    TooManyVarbinds,
    CommunityTooLong,
}

impl From<BerError> for PduError {
    fn from(e: BerError) -> Self {
        PduError::Ber(e)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarBind {
    pub oid: Oid,
    pub value: Value,
}

impl VarBind {
    pub fn new(oid: Oid, value: Value) -> VarBind {
        VarBind { oid, value }
    }
}

/// An SNMPv2 PDU (every type shares this layout except the v1 Trap-PDU).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdu {
    /// One of the `TAG_*` context tags.
    pub tag: u8,
    pub request_id: i32,
    pub error_status: i32,
    pub error_index: i32,
    pub varbinds: Vec<VarBind>,
}

impl Pdu {
    /// A v2 notification (Trap or Inform): sysUpTime.0, snmpTrapOID.0, then `objects`.
    pub fn notification(
        tag: u8,
        request_id: i32,
        uptime_ticks: u32,
        trap_oid: &Oid,
        objects: &[VarBind],
    ) -> Pdu {
        assert!(tag == TAG_TRAP_V2 || tag == TAG_INFORM);
        let mut varbinds = Vec::with_capacity(objects.len() + 2);
        varbinds.push(VarBind::new(sys_uptime_0(), Value::TimeTicks(uptime_ticks)));
        varbinds.push(VarBind::new(snmp_trap_oid_0(), Value::Oid(trap_oid.clone())));
        varbinds.extend_from_slice(objects);
        assert!(varbinds.len() <= MAX_VARBINDS);
        Pdu { tag, request_id, error_status: 0, error_index: 0, varbinds }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        ber::write_constructed(out, self.tag, |c| {
            ber::write_integer(c, i64::from(self.request_id));
            ber::write_integer(c, i64::from(self.error_status));
            ber::write_integer(c, i64::from(self.error_index));
            encode_varbinds(c, &self.varbinds);
        });
    }

    /// Decode a PDU of any SNMPv2 type from the reader (which must be positioned on it).
    pub fn decode(reader: &mut Reader<'_>) -> Result<Pdu, PduError> {
        let (tag, mut r) = reader.enter_any()?;
        if !matches!(tag, TAG_GET_REQUEST | TAG_RESPONSE | TAG_INFORM | TAG_TRAP_V2 | TAG_REPORT) {
            return Err(PduError::UnexpectedPdu(tag));
        }
        let request_id = r.read_i32()?;
        let error_status = r.read_i32()?;
        let error_index = r.read_i32()?;
        let varbinds = decode_varbinds(&mut r)?;
        r.finish()?;
        Ok(Pdu { tag, request_id, error_status, error_index, varbinds })
    }
}

pub fn encode_varbinds(out: &mut Vec<u8>, varbinds: &[VarBind]) {
    ber::write_constructed(out, ber::TAG_SEQUENCE, |list| {
        for vb in varbinds {
            ber::write_constructed(list, ber::TAG_SEQUENCE, |one| {
                ber::write_oid(one, &vb.oid);
                ber::write_value(one, &vb.value);
            });
        }
    });
}

pub fn decode_varbinds(reader: &mut Reader<'_>) -> Result<Vec<VarBind>, PduError> {
    let mut list = reader.enter(ber::TAG_SEQUENCE)?;
    let mut varbinds = Vec::new();
    while !list.is_empty() {
        if varbinds.len() == MAX_VARBINDS {
            return Err(PduError::TooManyVarbinds);
        }
        let mut one = list.enter(ber::TAG_SEQUENCE)?;
        let oid = one.read_oid()?;
        let value = one.read_value()?;
        one.finish()?;
        varbinds.push(VarBind { oid, value });
    }
    Ok(varbinds)
}

/// The SNMPv1 Trap-PDU (RFC 1157).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrapV1 {
    pub enterprise: Oid,
    pub agent_addr: [u8; 4],
    pub generic_trap: i32,
    pub specific_trap: i32,
    pub time_stamp: u32,
    pub varbinds: Vec<VarBind>,
}

impl TrapV1 {
    /// Translate a v2 notification to a v1 trap (RFC 3584 section 3.2): a notification
    /// `E.0.N` becomes enterprise `E`, generic-trap 6 (enterpriseSpecific), specific-trap `N`;
    /// the standard traps snmpTraps.K become generic-trap K-1. Counter64 varbinds, which v1
    /// cannot carry, are left out.
    pub fn from_notification(
        trap_oid: &Oid,
        agent_addr: [u8; 4],
        uptime_ticks: u32,
        objects: &[VarBind],
    ) -> TrapV1 {
        let arcs = trap_oid.arcs();
        let standard = snmp_traps();
        let (enterprise, generic_trap, specific_trap) =
            if trap_oid.starts_with(&standard) && arcs.len() == standard.arcs().len() + 1 {
                (standard, arcs[arcs.len() - 1] as i32 - 1, 0)
            } else if arcs.len() >= 3 && arcs[arcs.len() - 2] == 0 {
                (Oid::new(&arcs[..arcs.len() - 2]), 6, arcs[arcs.len() - 1] as i32)
            } else {
                (Oid::new(&arcs[..arcs.len() - 1]), 6, arcs[arcs.len() - 1] as i32)
            };
        let varbinds =
            objects.iter().filter(|vb| !matches!(vb.value, Value::Counter64(_))).cloned().collect();
        TrapV1 { enterprise, agent_addr, generic_trap, specific_trap, time_stamp: uptime_ticks, varbinds }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        ber::write_constructed(out, TAG_TRAP_V1, |c| {
            ber::write_oid(c, &self.enterprise);
            ber::write_value(c, &Value::IpAddress(self.agent_addr));
            ber::write_integer(c, i64::from(self.generic_trap));
            ber::write_integer(c, i64::from(self.specific_trap));
            ber::write_value(c, &Value::TimeTicks(self.time_stamp));
            encode_varbinds(c, &self.varbinds);
        });
    }
}

/// Wrap an encoded PDU in a community-based message (`version` is [`VERSION_V1`] or
/// [`VERSION_V2C`]).
pub fn encode_community_message(version: i64, community: &[u8], pdu: &[u8]) -> Vec<u8> {
    assert!(version == VERSION_V1 || version == VERSION_V2C);
    assert!(community.len() <= MAX_COMMUNITY_BYTES);
    let mut out = Vec::with_capacity(pdu.len() + community.len() + 16);
    ber::write_constructed(&mut out, ber::TAG_SEQUENCE, |c| {
        ber::write_integer(c, version);
        ber::write_octets(c, community);
        c.extend_from_slice(pdu);
    });
    out
}

/// A decoded community-based message carrying an SNMPv2 PDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityMessage {
    pub version: i64,
    pub community: Vec<u8>,
    pub pdu: Pdu,
}

/// The msgVersion of a message, read without decoding the rest.
pub fn peek_version(bytes: &[u8]) -> Result<i64, PduError> {
    let mut r = Reader::new(bytes)?;
    let mut msg = r.enter(ber::TAG_SEQUENCE)?;
    Ok(msg.read_integer()?)
}

/// Decode a v1/v2c message whose PDU is a Response or a Report (what an Inform sender may
/// receive). Anything else is a typed error.
pub fn decode_community_response(bytes: &[u8]) -> Result<CommunityMessage, PduError> {
    let mut r = Reader::new(bytes)?;
    let mut msg = r.enter(ber::TAG_SEQUENCE)?;
    r.finish()?;
    let version = msg.read_integer()?;
    if version != VERSION_V1 && version != VERSION_V2C {
        return Err(PduError::BadVersion(version));
    }
    let community = msg.read_octets()?;
    if community.len() > MAX_COMMUNITY_BYTES {
        return Err(PduError::CommunityTooLong);
    }
    let pdu = Pdu::decode(&mut msg)?;
    msg.finish()?;
    if pdu.tag != TAG_RESPONSE && pdu.tag != TAG_REPORT {
        return Err(PduError::UnexpectedPdu(pdu.tag));
    }
    Ok(CommunityMessage { version, community: community.to_vec(), pdu })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    // Golden vectors produced once with net-snmp 5.9.3 (Debian 12), nothing listening on the
    // port, copying the datagram `-d` printed ("Sending N bytes to UDP ..."):
    //   snmptrap -d -v 2c -c public 127.0.0.1:16299 12345 1.3.6.1.4.1.99999.0.1 \
    //       1.3.6.1.4.1.99999.1.1.1.0 u 7 1.3.6.1.4.1.99999.1.1.10.0 s "hello"
    // (request-id 0x3f0dfbd1 was chosen by snmptrap), and
    //   snmptrap -d -v 1 -c public 127.0.0.1:16299 1.3.6.1.4.1.99999 10.0.0.1 6 17 12345 \
    //       1.3.6.1.4.1.99999.1.1.1.0 u 7
    // and for the Inform tag and layout
    //   snmpinform -d -r 0 -v 2c -c public 127.0.0.1:16299 12345 1.3.6.1.4.1.99999.0.1
    // (request-id 0x13c59f5f).
    const SNMPTRAP_V2C_GOLDEN: &str = "
        30 6F 02 01 01 04 06 70 75 62 6C 69 63 A7 62 02
        04 3F 0D FB D1 02 01 00 02 01 00 30 54 30 0E 06
        08 2B 06 01 02 01 01 03 00 43 02 30 39 30 18 06
        0A 2B 06 01 06 03 01 01 04 01 00 06 0A 2B 06 01
        04 01 86 8D 1F 00 01 30 11 06 0C 2B 06 01 04 01
        86 8D 1F 01 01 01 00 42 01 07 30 15 06 0C 2B 06
        01 04 01 86 8D 1F 01 01 0A 00 04 05 68 65 6C 6C
        6F";
    const SNMPTRAP_V1_GOLDEN: &str = "
        30 3C 02 01 00 04 06 70 75 62 6C 69 63 A4 2F 06
        08 2B 06 01 04 01 86 8D 1F 40 04 0A 00 00 01 02
        01 06 02 01 11 43 02 30 39 30 13 30 11 06 0C 2B
        06 01 04 01 86 8D 1F 01 01 01 00 42 01 07";
    const SNMPINFORM_V2C_GOLDEN: &str = "
        30 45 02 01 01 04 06 70 75 62 6C 69 63 A6 38 02
        04 13 C5 9F 5F 02 01 00 02 01 00 30 2A 30 0E 06
        08 2B 06 01 02 01 01 03 00 43 02 30 39 30 18 06
        0A 2B 06 01 06 03 01 01 04 01 00 06 0A 2B 06 01
        04 01 86 8D 1F 00 01";

    fn golden_objects(ent: &Oid) -> [VarBind; 2] {
        [
            VarBind::new(ent.child(&[1, 1, 1, 0]), Value::Gauge32(7)),
            VarBind::new(ent.child(&[1, 1, 10, 0]), Value::OctetString(b"hello".to_vec())),
        ]
    }

    #[test]
    fn v2c_trap_and_inform_match_snmptrap_byte_for_byte() {
        let ent = Oid::new(&[1, 3, 6, 1, 4, 1, 99999]);
        let pdu =
            Pdu::notification(TAG_TRAP_V2, 0x3f0dfbd1, 12345, &ent.child(&[0, 1]), &golden_objects(&ent));
        let mut pdu_bytes = Vec::new();
        pdu.encode(&mut pdu_bytes);
        assert_eq!(encode_community_message(VERSION_V2C, b"public", &pdu_bytes), hex(SNMPTRAP_V2C_GOLDEN));

        let pdu = Pdu::notification(TAG_INFORM, 0x13c59f5f, 12345, &ent.child(&[0, 1]), &[]);
        let mut pdu_bytes = Vec::new();
        pdu.encode(&mut pdu_bytes);
        assert_eq!(encode_community_message(VERSION_V2C, b"public", &pdu_bytes), hex(SNMPINFORM_V2C_GOLDEN));
    }

    #[test]
    fn v1_trap_matches_snmptrap_byte_for_byte() {
        let ent = Oid::new(&[1, 3, 6, 1, 4, 1, 99999]);
        let objects = [VarBind::new(ent.child(&[1, 1, 1, 0]), Value::Gauge32(7))];
        let trap = TrapV1::from_notification(&ent.child(&[0, 17]), [10, 0, 0, 1], 12345, &objects);
        let mut pdu_bytes = Vec::new();
        trap.encode(&mut pdu_bytes);
        assert_eq!(encode_community_message(VERSION_V1, b"public", &pdu_bytes), hex(SNMPTRAP_V1_GOLDEN));
    }

    #[test]
    fn response_roundtrips_and_other_pdus_are_refused() {
        let vbs = [VarBind::new(sys_uptime_0(), Value::TimeTicks(5))];
        let response = Pdu {
            tag: TAG_RESPONSE,
            request_id: -7,
            error_status: 0,
            error_index: 0,
            varbinds: vbs.to_vec(),
        };
        let mut bytes = Vec::new();
        response.encode(&mut bytes);
        let msg = encode_community_message(VERSION_V2C, b"public", &bytes);
        let decoded = decode_community_response(&msg).unwrap();
        assert_eq!(
            decoded,
            CommunityMessage { version: VERSION_V2C, community: b"public".to_vec(), pdu: response }
        );

        let trap = Pdu::notification(TAG_TRAP_V2, 1, 0, &snmp_traps().child(&[1]), &[]);
        let mut bytes = Vec::new();
        trap.encode(&mut bytes);
        let msg = encode_community_message(VERSION_V2C, b"public", &bytes);
        assert_eq!(decode_community_response(&msg), Err(PduError::UnexpectedPdu(TAG_TRAP_V2)));

        let mut v3 = msg.clone();
        v3[4] = 3;
        assert_eq!(decode_community_response(&v3), Err(PduError::BadVersion(3)));
        for cut in 0..msg.len() {
            assert!(decode_community_response(&msg[..cut]).is_err());
        }
    }

    #[test]
    fn v1_translation_follows_rfc3584() {
        let ent = Oid::new(&[1, 3, 6, 1, 4, 1, 99999]);
        let objects = [
            VarBind::new(ent.child(&[1, 1, 1, 0]), Value::Gauge32(7)),
            VarBind::new(ent.child(&[1, 1, 2, 0]), Value::Counter64(9)),
        ];
        let t = TrapV1::from_notification(&ent.child(&[0, 17]), [10, 0, 0, 1], 42, &objects);
        assert_eq!((t.enterprise.clone(), t.generic_trap, t.specific_trap), (ent.clone(), 6, 17));
        assert_eq!(t.varbinds, objects[..1]);
        let cold = TrapV1::from_notification(&snmp_traps().child(&[1]), [0; 4], 0, &[]);
        assert_eq!((cold.generic_trap, cold.specific_trap), (0, 0));
        let mut bytes = Vec::new();
        t.encode(&mut bytes);
        assert_eq!(bytes[0], TAG_TRAP_V1);
    }
}

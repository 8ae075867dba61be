//! The sans-I/O SNMP command responder: one request datagram in, at most one response
//! datagram out, read-only.
//!
//! Owns the parsing of requests (SNMPv2c with the read community; SNMPv3 with USM as the
//! authoritative engine, RFC 3414: engine discovery, the time window, authentication and
//! privacy, and the Reports that tell a manager what went wrong), the answers to `get`,
//! `getnext` and `getbulk` from a [`MibView`] (RFC 3416 section 4.2), the refusal of every
//! `set`, the bounds on what one request may cost ([`MAX_REQUEST_BYTES`],
//! [`MAX_REQUEST_VARBINDS`], [`MAX_BULK_REPETITIONS`], [`MAX_RESPONSE_VARBINDS`],
//! [`MAX_RESPONSE_BYTES`]) and the counters of what was dropped. It does not own the socket,
//! the clock or the randomness (the shell passes the time and a salt seed), nor the objects
//! (see `objects`): the view is built by the caller, and only for a request that passed the
//! community or USM check, so a flood of junk never builds one.
//!
//! Every datagram is either answered or dropped and counted; nothing here panics on input.

#![forbid(unsafe_code)]

use super::ber::{self, BerError, Oid, Reader, Value, MAX_MESSAGE_BYTES};
use super::objects::{self, AgentCounters, Lookup, MibView};
use super::pdu::{
    self, PduError, VarBind, TAG_GET_REQUEST, TAG_REPORT, TAG_RESPONSE, VERSION_V2C, VERSION_V3,
};
use super::usm::{
    self, EngineParams, LocalizedUser, OutgoingV3, UsmError, FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE,
    MAX_ENGINE_BOOTS, SALT_BYTES,
};
use crate::time::Micros;

/// Bound on a request datagram; a longer one is dropped unread.
pub const MAX_REQUEST_BYTES: usize = MAX_MESSAGE_BYTES;
/// Bound on the varbinds of one request (a longer list is dropped as malformed).
pub const MAX_REQUEST_VARBINDS: usize = 32;
/// Bound on getbulk's max-repetitions: a larger value is served as this many (RFC 3416 lets
/// an agent return fewer).
pub const MAX_BULK_REPETITIONS: usize = 64;
/// Bound on the varbinds of one response.
pub const MAX_RESPONSE_VARBINDS: usize = 128;
/// Bound on a response datagram, in bytes.
pub const MAX_RESPONSE_BYTES: usize = MAX_MESSAGE_BYTES;
/// Room kept in [`MAX_RESPONSE_BYTES`] for everything around the PDU's varbinds: the
/// message header, community or USM parameters (engine ID and user name up to 32 bytes, a
/// 24-byte MAC, the salt), the scoped PDU and the PDU header.
const ENVELOPE_BYTES: usize = 320;
/// The varbinds of a response fit in this many bytes, or it is tooBig (a bulk is shortened).
pub const MAX_RESPONSE_VARBIND_BYTES: usize = MAX_RESPONSE_BYTES - ENVELOPE_BYTES;
/// RFC 3414 section 3.2 step 7: a message more than this far from our engine time is refused.
pub const TIME_WINDOW_S: u32 = 150;

pub const TAG_GET_NEXT_REQUEST: u8 = 0xA1;
pub const TAG_SET_REQUEST: u8 = 0xA3;
pub const TAG_GET_BULK_REQUEST: u8 = 0xA5;

/// error-status values (RFC 3416).
pub const ERROR_TOO_BIG: i32 = 1;
pub const ERROR_NO_ACCESS: i32 = 6;
pub const ERROR_NOT_WRITABLE: i32 = 17;

/// A request the responder serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Get,
    GetNext,
    GetBulk { non_repeaters: usize, max_repetitions: usize },
    Set,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub operation: Operation,
    pub request_id: i32,
    pub varbinds: Vec<VarBind>,
}

/// Why a datagram was dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    TooLong(usize),
    Ber(BerError),
    /// Not a request PDU (a Response, Trap, Inform or Report sent to the agent's port).
    NotARequest(u8),
    TooManyVarbinds,
    /// A message version the responder does not serve.
    BadVersion(i64),
    BadCommunity,
    /// SNMPv3 parameters refused (the Report sent, if any, says which).
    Usm(UsmRefusal),
    /// An SNMPv3 header out of its RFC ranges (flags, security model, msgID, msgMaxSize).
    BadV3Header(UsmError),
    /// A contextEngineID other than ours, or a contextName (the agent has one context).
    UnknownContext,
    Pdu(PduError),
}

impl From<BerError> for RequestError {
    fn from(e: BerError) -> Self {
        RequestError::Ber(e)
    }
}
impl From<PduError> for RequestError {
    fn from(e: PduError) -> Self {
        match e {
            PduError::Ber(b) => RequestError::Ber(b),
            PduError::TooManyVarbinds => RequestError::TooManyVarbinds,
            other => RequestError::Pdu(other),
        }
    }
}

/// The usmStats counter a refused SNMPv3 request raises (RFC 3414 section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsmRefusal {
    UnsupportedSecLevel,
    NotInTimeWindow,
    UnknownUserName,
    UnknownEngineId,
    WrongDigest,
    DecryptionError,
}

impl UsmRefusal {
    fn stat(self) -> u32 {
        match self {
            UsmRefusal::UnsupportedSecLevel => usm::USM_STATS_UNSUPPORTED_SEC_LEVELS,
            UsmRefusal::NotInTimeWindow => usm::USM_STATS_NOT_IN_TIME_WINDOWS,
            UsmRefusal::UnknownUserName => usm::USM_STATS_UNKNOWN_USER_NAMES,
            UsmRefusal::UnknownEngineId => usm::USM_STATS_UNKNOWN_ENGINE_IDS,
            UsmRefusal::WrongDigest => usm::USM_STATS_WRONG_DIGESTS,
            UsmRefusal::DecryptionError => usm::USM_STATS_DECRYPTION_ERRORS,
        }
    }
}

/// Decode a request PDU (the reader positioned on it): Get, GetNext, GetBulk or Set.
pub fn decode_request_pdu(reader: &mut Reader<'_>) -> Result<Request, RequestError> {
    let (tag, mut r) = reader.enter_any()?;
    let operation_tag = match tag {
        TAG_GET_REQUEST | TAG_GET_NEXT_REQUEST | TAG_GET_BULK_REQUEST | TAG_SET_REQUEST => tag,
        other => return Err(RequestError::NotARequest(other)),
    };
    let request_id = r.read_i32()?;
    let a = r.read_i32()?;
    let b = r.read_i32()?;
    let varbinds = pdu::decode_varbinds(&mut r)?;
    r.finish()?;
    if varbinds.len() > MAX_REQUEST_VARBINDS {
        return Err(RequestError::TooManyVarbinds);
    }
    let operation = match operation_tag {
        TAG_GET_REQUEST => Operation::Get,
        TAG_GET_NEXT_REQUEST => Operation::GetNext,
        TAG_SET_REQUEST => Operation::Set,
        _ => Operation::GetBulk {
            non_repeaters: usize::try_from(a.max(0)).unwrap_or(0),
            max_repetitions: usize::try_from(b.max(0)).unwrap_or(0).min(MAX_BULK_REPETITIONS),
        },
    };
    Ok(Request { operation, request_id, varbinds })
}

/// A community-based request: version, community, request.
pub fn decode_community_request(bytes: &[u8]) -> Result<(i64, &[u8], Request), RequestError> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::TooLong(bytes.len()));
    }
    let mut r = Reader::new(bytes)?;
    let mut msg = r.enter(ber::TAG_SEQUENCE)?;
    r.finish()?;
    let version = msg.read_integer()?;
    let community = msg.read_octets()?;
    let request = decode_request_pdu(&mut msg)?;
    msg.finish()?;
    Ok((version, community, request))
}

fn encoded_varbind_bytes(vb: &VarBind) -> usize {
    let mut one = Vec::with_capacity(64);
    ber::write_constructed(&mut one, ber::TAG_SEQUENCE, |c| {
        ber::write_oid(c, &vb.oid);
        ber::write_value(c, &vb.value);
    });
    one.len()
}

/// The answer to a request: a Response PDU (RFC 3416 section 4.2), and whether it had to be
/// cut down to fit `varbind_bytes` (at most [`MAX_RESPONSE_VARBIND_BYTES`]: less when an
/// SNMPv3 manager's msgMaxSize is smaller than [`MAX_RESPONSE_BYTES`]).
pub fn answer(request: &Request, view: &MibView, varbind_bytes: usize) -> (pdu::Pdu, bool) {
    let budget = varbind_bytes.min(MAX_RESPONSE_VARBIND_BYTES);
    let response = |error_status: i32, error_index: i32, varbinds: Vec<VarBind>| pdu::Pdu {
        tag: TAG_RESPONSE,
        request_id: request.request_id,
        error_status,
        error_index,
        varbinds,
    };
    let too_big = || (response(ERROR_TOO_BIG, 0, Vec::new()), true);
    match &request.operation {
        Operation::Set => {
            // Nothing is writable: the first varbind fails, as noAccess outside the objects
            // the agent serves and notWritable inside (RFC 3416 section 4.2.5 steps 1-2).
            let status = match request.varbinds.first() {
                Some(vb) if vb.oid.starts_with(&objects::served_root()) => ERROR_NOT_WRITABLE,
                Some(_) => ERROR_NO_ACCESS,
                None => 0,
            };
            let index = i32::from(!request.varbinds.is_empty());
            // The refusal echoes the varbinds, which must fit like any response.
            if request.varbinds.iter().map(encoded_varbind_bytes).sum::<usize>() > budget {
                return too_big();
            }
            (response(status, index, request.varbinds.clone()), false)
        }
        Operation::Get | Operation::GetNext => {
            let mut out = Vec::with_capacity(request.varbinds.len());
            let mut bytes = 0;
            for vb in &request.varbinds {
                let answer = if request.operation == Operation::Get {
                    let value = match view.get(&vb.oid) {
                        Lookup::Found(v) => v.clone(),
                        Lookup::NoSuchInstance => Value::NoSuchInstance,
                        Lookup::NoSuchObject => Value::NoSuchObject,
                    };
                    VarBind::new(vb.oid.clone(), value)
                } else {
                    next_of(view, &vb.oid)
                };
                bytes += encoded_varbind_bytes(&answer);
                if bytes > budget {
                    return too_big();
                }
                out.push(answer);
            }
            (response(0, 0, out), false)
        }
        Operation::GetBulk { non_repeaters, max_repetitions } => {
            let n = (*non_repeaters).min(request.varbinds.len());
            let mut out = Vec::new();
            let mut bytes = 0;
            let mut push = |vb: VarBind, out: &mut Vec<VarBind>| -> bool {
                let size = encoded_varbind_bytes(&vb);
                if out.len() == MAX_RESPONSE_VARBINDS || bytes + size > budget {
                    return false;
                }
                bytes += size;
                out.push(vb);
                true
            };
            for vb in &request.varbinds[..n] {
                if !push(next_of(view, &vb.oid), &mut out) {
                    // Even the non-repeaters do not fit: tooBig (section 4.2.3).
                    return too_big();
                }
            }
            let mut cursors: Vec<Oid> = request.varbinds[n..].iter().map(|vb| vb.oid.clone()).collect();
            let mut cut = false;
            'repetitions: for _ in 0..*max_repetitions {
                if cursors.is_empty() {
                    break;
                }
                let mut all_ended = true;
                for cursor in cursors.iter_mut() {
                    let vb = next_of(view, cursor);
                    all_ended &= vb.value == Value::EndOfMibView;
                    *cursor = vb.oid.clone();
                    if !push(vb, &mut out) {
                        cut = true;
                        break 'repetitions;
                    }
                }
                if all_ended {
                    break;
                }
            }
            (response(0, 0, out), cut)
        }
    }
}

fn next_of(view: &MibView, name: &Oid) -> VarBind {
    match view.next(name) {
        Some((oid, value)) => VarBind::new(oid.clone(), value.clone()),
        None => VarBind::new(name.clone(), Value::EndOfMibView),
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who may read, and our engine.
#[derive(Clone, Debug)]
pub struct ResponderConfig {
    /// The SNMPv2c read community; `None` refuses v2c.
    pub read_community: Option<Vec<u8>>,
    /// SNMPv3 users with authentication and privacy, keys localized to `engine_id`.
    pub users: Vec<LocalizedUser>,
    pub engine_id: Vec<u8>,
    /// snmpEngineBoots: the agent's durable boot counter.
    pub engine_boots: u32,
    /// When the engine started (snmpEngineTime counts seconds from it).
    pub start: Micros,
    /// Seed of the AES salts (unique per message under one key: a counter from a random
    /// start, drawn by the shell).
    pub salt_seed: u64,
}

/// What became of one datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handled {
    /// The Response or Report to send back to the sender.
    pub reply: Option<Vec<u8>>,
    /// Why the request was refused or dropped (counted), if it was.
    pub refused: Option<RequestError>,
}

pub struct Responder {
    cfg: ResponderConfig,
    counters: AgentCounters,
    usm_stats: [u32; 6],
    salt: u64,
}

impl Responder {
    pub fn new(cfg: ResponderConfig) -> Responder {
        assert!(cfg.users.iter().all(|u| u.auth.is_some() && u.privacy.is_some()), "users are authPriv");
        assert!(
            (usm::MIN_ENGINE_ID_BYTES..=usm::MAX_ENGINE_ID_BYTES).contains(&cfg.engine_id.len()),
            "a valid engine ID"
        );
        let salt = cfg.salt_seed;
        Responder { cfg, counters: AgentCounters::default(), usm_stats: [0; 6], salt }
    }

    pub fn counters(&self) -> AgentCounters {
        self.counters
    }

    /// snmpEngineTime at `now`.
    pub fn engine_time(&self, now: Micros) -> u32 {
        u32::try_from(now.since_us(self.cfg.start) / 1_000_000)
            .unwrap_or(MAX_ENGINE_BOOTS)
            .min(MAX_ENGINE_BOOTS)
    }

    /// Handle one datagram. `view` builds the MIB view (with the counters as they are after
    /// this request is counted); it is called only for a request that passed the community
    /// or USM check. Says what to send back, if anything, and why the request was refused
    /// or dropped, if it was (a refused SNMPv3 request may still get a Report).
    pub fn handle(
        &mut self,
        now: Micros,
        datagram: &[u8],
        view: impl FnOnce(AgentCounters) -> MibView,
    ) -> Handled {
        self.counters.requests += 1;
        match self.dispatch(now, datagram, view) {
            Ok((reply, refusal)) => {
                self.counters.responses += 1;
                if refusal.is_some() {
                    self.counters.usm_refused += 1;
                }
                Handled { reply: Some(reply), refused: refusal.map(RequestError::Usm) }
            }
            Err(e) => {
                match &e {
                    RequestError::BadVersion(_) => self.counters.bad_versions += 1,
                    RequestError::BadCommunity => self.counters.bad_communities += 1,
                    RequestError::Usm(_) => self.counters.usm_refused += 1,
                    _ => self.counters.malformed += 1,
                }
                Handled { reply: None, refused: Some(e) }
            }
        }
    }

    fn dispatch(
        &mut self,
        now: Micros,
        datagram: &[u8],
        view: impl FnOnce(AgentCounters) -> MibView,
    ) -> Result<(Vec<u8>, Option<UsmRefusal>), RequestError> {
        if datagram.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLong(datagram.len()));
        }
        match pdu::peek_version(datagram)? {
            VERSION_V2C if self.cfg.read_community.is_some() => Ok((self.community(datagram, view)?, None)),
            VERSION_V3 if !self.cfg.users.is_empty() => self.usm(now, datagram, view),
            // Decoded far enough to tell the version: not junk, a version not served.
            other => Err(RequestError::BadVersion(other)),
        }
    }

    fn community(
        &mut self,
        datagram: &[u8],
        view: impl FnOnce(AgentCounters) -> MibView,
    ) -> Result<Vec<u8>, RequestError> {
        let (version, community, request) = decode_community_request(datagram)?;
        assert_eq!(version, VERSION_V2C, "dispatched on the version");
        let expected = self.cfg.read_community.as_deref().expect("dispatched with a community");
        if !ct_eq(community, expected) {
            return Err(RequestError::BadCommunity);
        }
        let response = self.respond(&request, MAX_RESPONSE_VARBIND_BYTES, view);
        let mut pdu_bytes = Vec::with_capacity(MAX_RESPONSE_BYTES);
        response.encode(&mut pdu_bytes);
        let out = pdu::encode_community_message(VERSION_V2C, community, &pdu_bytes);
        assert!(out.len() <= MAX_RESPONSE_BYTES, "the envelope bound holds");
        Ok(out)
    }

    fn respond(
        &mut self,
        request: &Request,
        varbind_bytes: usize,
        view: impl FnOnce(AgentCounters) -> MibView,
    ) -> pdu::Pdu {
        if request.operation == Operation::Set {
            self.counters.sets_refused += 1;
        }
        // The counters in the view include this request (the response is counted once sent;
        // the caller's count and this one differ by that).
        let view = view(self.counters);
        let (response, cut) = answer(request, &view, varbind_bytes);
        if cut {
            self.counters.too_big += 1;
        }
        response
    }

    fn our_engine(&self, now: Micros) -> EngineParams {
        EngineParams {
            engine_id: self.cfg.engine_id.clone(),
            boots: self.cfg.engine_boots,
            time: self.engine_time(now),
        }
    }

    fn next_salt(&mut self) -> u64 {
        self.salt = self.salt.wrapping_add(1);
        self.salt
    }

    fn usm(
        &mut self,
        now: Micros,
        datagram: &[u8],
        view: impl FnOnce(AgentCounters) -> MibView,
    ) -> Result<(Vec<u8>, Option<UsmRefusal>), RequestError> {
        let parsed = usm::parse_v3(datagram).map_err(|e| match e {
            UsmError::Pdu(p) => RequestError::from(p),
            UsmError::BadVersion(v) => RequestError::BadVersion(v),
            other => RequestError::BadV3Header(other),
        })?;
        let reportable = parsed.flags & FLAG_REPORTABLE != 0;
        // The request-id of an unencrypted scoped PDU, for a Report (0 when unreadable).
        let plain_request_id = || -> i32 {
            if parsed.flags & FLAG_PRIV != 0 {
                return 0;
            }
            scoped_request(parsed.msg_data).map_or(0, |(_, r)| r.request_id)
        };
        // Step 3 of RFC 3414 3.2: an engine ID other than ours (discovery sends an empty one).
        if parsed.engine.engine_id != self.cfg.engine_id {
            // A discovery probe must still be a well-formed request.
            if parsed.flags & FLAG_PRIV == 0 {
                scoped_request(parsed.msg_data)?;
            }
            return self.refuse(
                now,
                parsed.msg_id,
                plain_request_id(),
                reportable,
                UsmRefusal::UnknownEngineId,
                None,
            );
        }
        let Some(user) = self.cfg.users.iter().find(|u| u.name == parsed.user_name).cloned() else {
            return self.refuse(
                now,
                parsed.msg_id,
                plain_request_id(),
                reportable,
                UsmRefusal::UnknownUserName,
                None,
            );
        };
        if parsed.flags & (FLAG_AUTH | FLAG_PRIV) != FLAG_AUTH | FLAG_PRIV {
            return self.refuse(
                now,
                parsed.msg_id,
                plain_request_id(),
                reportable,
                UsmRefusal::UnsupportedSecLevel,
                None,
            );
        }
        let (protocol, key) = user.auth.as_ref().expect("users are authPriv");
        let mac_ok = parsed.auth_params.len() == protocol.mac_bytes() && {
            let mut zeroed = datagram.to_vec();
            zeroed[parsed.auth_params.clone()].fill(0);
            protocol.verify(key, &zeroed, &datagram[parsed.auth_params.clone()])
        };
        if !mac_ok {
            return self.refuse(now, parsed.msg_id, 0, reportable, UsmRefusal::WrongDigest, None);
        }
        let ours = self.our_engine(now);
        let in_window = ours.boots < MAX_ENGINE_BOOTS
            && parsed.engine.boots == ours.boots
            && parsed.engine.time.abs_diff(ours.time) <= TIME_WINDOW_S;
        if !in_window {
            // Authenticated, so that the manager may trust our boots and time (3.2 step 7a).
            return self.refuse(now, parsed.msg_id, 0, reportable, UsmRefusal::NotInTimeWindow, Some(&user));
        }
        let key_priv = user.privacy.as_ref().expect("users are authPriv");
        let Ok(salt) = <&[u8; SALT_BYTES]>::try_from(parsed.priv_params) else {
            return self.refuse(now, parsed.msg_id, 0, reportable, UsmRefusal::DecryptionError, None);
        };
        let mut plain = parsed.msg_data.to_vec();
        usm::aes128_cfb(key_priv, parsed.engine.boots, parsed.engine.time, salt, &mut plain, false);
        let (context_engine_id, request) = match scoped_request(&plain) {
            Ok(x) => x,
            Err(RequestError::UnknownContext) => return Err(RequestError::UnknownContext),
            // Authenticated, so what does not decode was not encrypted with our key.
            Err(_) => {
                return self.refuse(now, parsed.msg_id, 0, reportable, UsmRefusal::DecryptionError, None)
            }
        };
        if !context_engine_id.is_empty() && context_engine_id != self.cfg.engine_id.as_slice() {
            return Err(RequestError::UnknownContext);
        }
        // The response must fit the manager's msgMaxSize too (RFC 3412 section 7.1 step 3).
        let varbind_bytes = (parsed.max_size as usize).saturating_sub(ENVELOPE_BYTES);
        let response = self.respond(&request, varbind_bytes, view);
        let mut pdu_bytes = Vec::with_capacity(MAX_RESPONSE_BYTES);
        response.encode(&mut pdu_bytes);
        let salt = self.next_salt();
        let out = usm::encode_v3(&OutgoingV3 {
            msg_id: parsed.msg_id,
            reportable: false,
            engine: &ours,
            user: Some(&user),
            context_engine_id: &self.cfg.engine_id,
            salt,
            pdu: &pdu_bytes,
        });
        assert!(out.len() <= MAX_RESPONSE_BYTES, "the envelope bound holds");
        assert!(out.len() <= parsed.max_size as usize, "the manager's msgMaxSize holds");
        Ok((out, None))
    }

    /// Count a USM refusal and build its Report when the request was reportable.
    fn refuse(
        &mut self,
        now: Micros,
        msg_id: i32,
        request_id: i32,
        reportable: bool,
        refusal: UsmRefusal,
        authenticate_as: Option<&LocalizedUser>,
    ) -> Result<(Vec<u8>, Option<UsmRefusal>), RequestError> {
        let stat = refusal.stat();
        let counter = &mut self.usm_stats[stat as usize - 1];
        *counter = counter.wrapping_add(1);
        let value = *counter;
        if !reportable {
            return Err(RequestError::Usm(refusal));
        }
        let report = pdu::Pdu {
            tag: TAG_REPORT,
            request_id,
            error_status: 0,
            error_index: 0,
            varbinds: vec![VarBind::new(usm::usm_stats().child(&[stat, 0]), Value::Counter32(value))],
        };
        let mut pdu_bytes = Vec::new();
        report.encode(&mut pdu_bytes);
        let auth_only = authenticate_as.map(|u| LocalizedUser { privacy: None, ..u.clone() });
        let out = usm::encode_v3(&OutgoingV3 {
            msg_id,
            reportable: false,
            engine: &self.our_engine(now),
            user: auth_only.as_ref(),
            context_engine_id: &self.cfg.engine_id,
            salt: 0,
            pdu: &pdu_bytes,
        });
        Ok((out, Some(refusal)))
    }
}

/// A scoped PDU's contextEngineID and request (contextName must be empty: one context).
fn scoped_request(bytes: &[u8]) -> Result<(&[u8], Request), RequestError> {
    let mut r = Reader::new(bytes)?;
    let mut sp = r.enter(ber::TAG_SEQUENCE)?;
    // A decrypted scoped PDU may carry padding after the SEQUENCE; only the SEQUENCE counts.
    let context_engine_id = sp.read_octets()?;
    let context_name = sp.read_octets()?;
    if !context_name.is_empty() {
        return Err(RequestError::UnknownContext);
    }
    let request = decode_request_pdu(&mut sp)?;
    sp.finish()?;
    Ok((context_engine_id, request))
}

#[cfg(test)]
mod tests;

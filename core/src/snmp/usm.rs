//! SNMPv3 messages with the User-based Security Model (RFC 3412 message layout, RFC 3414 USM).
//!
//! Owns msgGlobalData, the USM security parameters (engine ID, boots, time, user name,
//! authentication and privacy parameters), password-to-key and key localisation (RFC 3414
//! A.2, with SHA-1 and with SHA-256 as RFC 7860 specifies), authentication with
//! HMAC-SHA-1-96 and HMAC-SHA-256-192 (usmHMAC192SHA256AuthProtocol, 24-byte MAC), privacy
//! with AES-128-CFB (RFC 3826: IV = boots(4) || time(4) || salt(8)), and the decoding of the
//! Responses and Reports a notification originator receives. It does not choose engine IDs,
//! boots, salts or message IDs (the caller supplies them: the core has no randomness and no
//! disk of its own), and it does not keep engine state (see `notify`).
//!
//! All cryptography comes from RustCrypto crates (`hmac`, `sha1`, `sha2`, `aes`, `cfb-mode`).

#![forbid(unsafe_code)]

use aes::Aes128;
use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::ber::{self, BerError, Oid, Reader, MAX_MESSAGE_BYTES};
use super::pdu::{Pdu, PduError, TAG_REPORT, TAG_RESPONSE, VERSION_V3};

/// msgSecurityModel of USM.
pub const SECURITY_MODEL_USM: i64 = 3;
pub const FLAG_AUTH: u8 = 0x01;
pub const FLAG_PRIV: u8 = 0x02;
pub const FLAG_REPORTABLE: u8 = 0x04;
/// Bounds on the snmpEngineID (RFC 3411: 5..=32 octets; empty only in a discovery probe).
pub const MIN_ENGINE_ID_BYTES: usize = 5;
pub const MAX_ENGINE_ID_BYTES: usize = 32;
/// Bound on a USM user name (RFC 3414: 1..=32).
pub const MAX_USER_NAME_BYTES: usize = 32;
/// Bytes of the password expansion of RFC 3414 A.2 (one megabyte).
const PASSWORD_EXPANSION_BYTES: usize = 1_048_576;
/// Minimum password length RFC 3414 section 11.2 asks for.
pub const MIN_PASSWORD_BYTES: usize = 8;
/// Bytes of the AES-128 key and of the privacy salt.
pub const AES128_KEY_BYTES: usize = 16;
pub const SALT_BYTES: usize = 8;
/// snmpEngineBoots and snmpEngineTime stop at 2^31-1 (RFC 3414 section 2.2.2).
pub const MAX_ENGINE_BOOTS: u32 = i32::MAX as u32;

/// usmStats counters that a Report carries as its only varbind (1.3.6.1.6.3.15.1.1.N.0).
pub fn usm_stats() -> Oid {
    Oid::new(&[1, 3, 6, 1, 6, 3, 15, 1, 1])
}
pub const USM_STATS_UNSUPPORTED_SEC_LEVELS: u32 = 1;
pub const USM_STATS_NOT_IN_TIME_WINDOWS: u32 = 2;
pub const USM_STATS_UNKNOWN_USER_NAMES: u32 = 3;
pub const USM_STATS_UNKNOWN_ENGINE_IDS: u32 = 4;
pub const USM_STATS_WRONG_DIGESTS: u32 = 5;
pub const USM_STATS_DECRYPTION_ERRORS: u32 = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthProtocol {
    /// usmHMACSHAAuthProtocol: HMAC-SHA-1 truncated to 12 bytes.
    HmacSha1_96,
    /// usmHMAC192SHA256AuthProtocol (RFC 7860): HMAC-SHA-256 truncated to 24 bytes.
    HmacSha256_192,
}

impl AuthProtocol {
    /// Bytes of msgAuthenticationParameters.
    pub const fn mac_bytes(self) -> usize {
        match self {
            AuthProtocol::HmacSha1_96 => 12,
            AuthProtocol::HmacSha256_192 => 24,
        }
    }
    /// Bytes of a key (the digest length).
    pub const fn key_bytes(self) -> usize {
        match self {
            AuthProtocol::HmacSha1_96 => 20,
            AuthProtocol::HmacSha256_192 => 32,
        }
    }

    fn hash(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            AuthProtocol::HmacSha1_96 => {
                let mut h = Sha1::new();
                parts.iter().for_each(|p| h.update(p));
                h.finalize().to_vec()
            }
            AuthProtocol::HmacSha256_192 => {
                let mut h = Sha256::new();
                parts.iter().for_each(|p| h.update(p));
                h.finalize().to_vec()
            }
        }
    }

    /// The truncated HMAC of `message` under the localized key `key`.
    pub fn mac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut full = match self {
            AuthProtocol::HmacSha1_96 => {
                let mut m = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }
            AuthProtocol::HmacSha256_192 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(message);
                m.finalize().into_bytes().to_vec()
            }
        };
        full.truncate(self.mac_bytes());
        full
    }

    /// Constant-time check of a received truncated MAC.
    pub fn verify(self, key: &[u8], message: &[u8], tag: &[u8]) -> bool {
        if tag.len() != self.mac_bytes() {
            return false;
        }
        match self {
            AuthProtocol::HmacSha1_96 => {
                let mut m = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(message);
                m.verify_truncated_left(tag).is_ok()
            }
            AuthProtocol::HmacSha256_192 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(message);
                m.verify_truncated_left(tag).is_ok()
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrivProtocol {
    /// usmAesCfb128Protocol (RFC 3826).
    Aes128Cfb,
}

/// RFC 3414 A.2 password-to-key: hash one megabyte of the repeated password. The result is
/// the user's master key Ku, independent of any engine. Panics on an empty password (a
/// programming error: configuration loading enforces [`MIN_PASSWORD_BYTES`]).
pub fn password_to_key(protocol: AuthProtocol, password: &[u8]) -> Vec<u8> {
    assert!(!password.is_empty(), "an empty password has no key");
    const CHUNK_BYTES: usize = 64;
    let mut chunk = [0u8; CHUNK_BYTES];
    let mut index = 0usize;
    let mut feed = |update: &mut dyn FnMut(&[u8])| {
        let mut done = 0;
        while done < PASSWORD_EXPANSION_BYTES {
            for byte in chunk.iter_mut() {
                *byte = password[index % password.len()];
                index += 1;
            }
            update(&chunk);
            done += CHUNK_BYTES;
        }
    };
    match protocol {
        AuthProtocol::HmacSha1_96 => {
            let mut h = Sha1::new();
            feed(&mut |c| h.update(c));
            h.finalize().to_vec()
        }
        AuthProtocol::HmacSha256_192 => {
            let mut h = Sha256::new();
            feed(&mut |c| h.update(c));
            h.finalize().to_vec()
        }
    }
}

/// RFC 3414 A.2 key localisation: Kul = H(Ku || engineID || Ku).
pub fn localize_key(protocol: AuthProtocol, master_key: &[u8], engine_id: &[u8]) -> Vec<u8> {
    assert_eq!(master_key.len(), protocol.key_bytes());
    protocol.hash(&[master_key, engine_id, master_key])
}

/// AES-128-CFB with the RFC 3826 IV, in place. `encrypt` selects the direction.
pub fn aes128_cfb(
    key: &[u8; AES128_KEY_BYTES],
    boots: u32,
    time: u32,
    salt: &[u8; SALT_BYTES],
    data: &mut [u8],
    encrypt: bool,
) {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(salt);
    if encrypt {
        cfb_mode::Encryptor::<Aes128>::new(key.into(), (&iv).into()).encrypt(data);
    } else {
        cfb_mode::Decryptor::<Aes128>::new(key.into(), (&iv).into()).decrypt(data);
    }
}

/// A user's master keys (from the passwords in the key files), not yet bound to an engine.
#[derive(Clone, PartialEq, Eq)]
pub struct UsmUser {
    pub name: Vec<u8>,
    /// Authentication protocol and master key Ku; `None` is noAuthNoPriv.
    pub auth: Option<(AuthProtocol, Vec<u8>)>,
    /// Privacy protocol and master key (derived with the authentication hash); needs `auth`.
    pub privacy: Option<(PrivProtocol, Vec<u8>)>,
}

impl core::fmt::Debug for UsmUser {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "UsmUser({:?}, auth {:?}, priv {:?})",
            String::from_utf8_lossy(&self.name),
            self.auth.as_ref().map(|a| a.0),
            self.privacy.as_ref().map(|p| p.0)
        )
    }
}

impl UsmUser {
    /// A user from passwords, as net-snmp's `createUser NAME SHA-256 authpass AES privpass`.
    pub fn from_passwords(
        name: &str,
        auth: Option<(AuthProtocol, &[u8])>,
        privacy: Option<(PrivProtocol, &[u8])>,
    ) -> UsmUser {
        assert!(privacy.is_none() || auth.is_some(), "privacy needs authentication");
        assert!(!name.is_empty() && name.len() <= MAX_USER_NAME_BYTES);
        let auth_protocol = auth.map(|a| a.0);
        UsmUser {
            name: name.as_bytes().to_vec(),
            auth: auth.map(|(p, pw)| (p, password_to_key(p, pw))),
            privacy: privacy.map(|(p, pw)| (p, password_to_key(auth_protocol.expect("checked above"), pw))),
        }
    }

    /// The keys localized to `engine_id`.
    pub fn localize(&self, engine_id: &[u8]) -> LocalizedUser {
        let auth = self.auth.as_ref().map(|(p, ku)| (*p, localize_key(*p, ku, engine_id)));
        let privacy = match (&self.privacy, &self.auth) {
            (Some((PrivProtocol::Aes128Cfb, ku)), Some((ap, _))) => {
                let kul = localize_key(*ap, ku, engine_id);
                let mut key = [0u8; AES128_KEY_BYTES];
                key.copy_from_slice(&kul[..AES128_KEY_BYTES]);
                Some(key)
            }
            _ => None,
        };
        LocalizedUser { name: self.name.clone(), auth, privacy }
    }
}

/// A user's keys localized to one authoritative engine.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalizedUser {
    pub name: Vec<u8>,
    pub auth: Option<(AuthProtocol, Vec<u8>)>,
    pub privacy: Option<[u8; AES128_KEY_BYTES]>,
}

impl core::fmt::Debug for LocalizedUser {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "LocalizedUser({:?})", String::from_utf8_lossy(&self.name))
    }
}

/// The authoritative engine's identity and clock as a message carries them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineParams {
    pub engine_id: Vec<u8>,
    pub boots: u32,
    pub time: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsmError {
    Pdu(PduError),
    BadVersion(i64),
    BadSecurityModel(i64),
    BadFlags(u8),
    BadEngineId,
    /// The message is authenticated but we have no key for it, or it is not but we need it.
    AuthenticationRequired,
    WrongDigest,
    DecryptionFailed,
    /// An integer field out of its RFC range.
    OutOfRange,
}

impl From<BerError> for UsmError {
    fn from(e: BerError) -> Self {
        UsmError::Pdu(PduError::Ber(e))
    }
}
impl From<PduError> for UsmError {
    fn from(e: PduError) -> Self {
        UsmError::Pdu(e)
    }
}

/// What to send: the caller chooses every number (message ID, salt) and the engine.
pub struct OutgoingV3<'a> {
    pub msg_id: i32,
    pub reportable: bool,
    /// The authoritative engine: ours for a Trap, the receiver's for an Inform, empty (with
    /// boots and time zero) for a discovery probe.
    pub engine: &'a EngineParams,
    /// `None` sends noAuthNoPriv with an empty user name (the discovery probe).
    pub user: Option<&'a LocalizedUser>,
    pub context_engine_id: &'a [u8],
    /// Salt for AES (unique per message under one key); ignored without privacy.
    pub salt: u64,
    /// The encoded PDU.
    pub pdu: &'a [u8],
}

/// Encode, encrypt and authenticate an SNMPv3 message.
pub fn encode_v3(m: &OutgoingV3<'_>) -> Vec<u8> {
    assert!(m.engine.engine_id.len() <= MAX_ENGINE_ID_BYTES);
    let mut scoped = Vec::with_capacity(m.pdu.len() + 48);
    ber::write_constructed(&mut scoped, ber::TAG_SEQUENCE, |c| {
        ber::write_octets(c, m.context_engine_id);
        ber::write_octets(c, b"");
        c.extend_from_slice(m.pdu);
    });
    let auth = m.user.and_then(|u| u.auth.as_ref());
    let privacy = m.user.and_then(|u| u.privacy.as_ref());
    let mut flags = if m.reportable { FLAG_REPORTABLE } else { 0 };
    let salt = m.salt.to_be_bytes();
    let (msg_data, priv_params): (Vec<u8>, &[u8]) = match privacy {
        Some(key) => {
            assert!(auth.is_some());
            flags |= FLAG_PRIV;
            let mut data = scoped;
            aes128_cfb(key, m.engine.boots, m.engine.time, &salt, &mut data, true);
            let mut wrapped = Vec::with_capacity(data.len() + 4);
            ber::write_octets(&mut wrapped, &data);
            (wrapped, &salt)
        }
        None => (scoped, b""),
    };
    if auth.is_some() {
        flags |= FLAG_AUTH;
    }
    let placeholder = vec![0u8; auth.map_or(0, |(p, _)| p.mac_bytes())];
    let mut security = Vec::with_capacity(96);
    ber::write_constructed(&mut security, ber::TAG_SEQUENCE, |c| {
        ber::write_octets(c, &m.engine.engine_id);
        ber::write_integer(c, i64::from(m.engine.boots.min(MAX_ENGINE_BOOTS)));
        ber::write_integer(c, i64::from(m.engine.time.min(MAX_ENGINE_BOOTS)));
        ber::write_octets(c, m.user.map_or(&[][..], |u| &u.name));
        ber::write_octets(c, &placeholder);
        ber::write_octets(c, priv_params);
    });
    let mut out = Vec::with_capacity(msg_data.len() + security.len() + 32);
    ber::write_constructed(&mut out, ber::TAG_SEQUENCE, |c| {
        ber::write_integer(c, VERSION_V3);
        ber::write_constructed(c, ber::TAG_SEQUENCE, |g| {
            ber::write_integer(g, i64::from(m.msg_id));
            ber::write_integer(g, MAX_MESSAGE_BYTES as i64);
            ber::write_octets(g, &[flags]);
            ber::write_integer(g, SECURITY_MODEL_USM);
        });
        ber::write_octets(c, &security);
        c.extend_from_slice(&msg_data);
    });
    if let Some((protocol, key)) = auth {
        let range = parse_v3(&out).expect("we parse what we encode").auth_params;
        let mac = protocol.mac(key, &out);
        out[range].copy_from_slice(&mac);
    }
    out
}

/// An SNMPv3 message parsed down to its (possibly encrypted) scoped PDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedV3<'a> {
    pub msg_id: i32,
    /// msgMaxSize: the largest message the sender accepts (at least 484).
    pub max_size: u32,
    pub flags: u8,
    pub engine: EngineParams,
    pub user_name: &'a [u8],
    /// Where msgAuthenticationParameters sit in the message (zeroed for MAC checking).
    pub auth_params: core::ops::Range<usize>,
    pub priv_params: &'a [u8],
    /// The scoped PDU (a SEQUENCE, tag included) or the ciphertext (content of the OCTET
    /// STRING) when FLAG_PRIV is set.
    pub msg_data: &'a [u8],
}

/// Parse the SNMPv3 layers without checking authentication or decrypting.
pub fn parse_v3(bytes: &[u8]) -> Result<ParsedV3<'_>, UsmError> {
    let mut r = Reader::new(bytes)?;
    let mut msg = r.enter(ber::TAG_SEQUENCE)?;
    r.finish()?;
    let version = msg.read_integer()?;
    if version != VERSION_V3 {
        return Err(UsmError::BadVersion(version));
    }
    let mut global = msg.enter(ber::TAG_SEQUENCE)?;
    let msg_id = global.read_i32()?;
    let max_size = global.read_i32()?;
    let flags = match global.read_octets()? {
        [f] => *f,
        _ => return Err(UsmError::BadFlags(0xff)),
    };
    let model = global.read_integer()?;
    global.finish()?;
    if msg_id < 0 || max_size < 484 {
        return Err(UsmError::OutOfRange);
    }
    if flags & !(FLAG_AUTH | FLAG_PRIV | FLAG_REPORTABLE) != 0
        || (flags & FLAG_PRIV != 0 && flags & FLAG_AUTH == 0)
    {
        return Err(UsmError::BadFlags(flags));
    }
    if model != SECURITY_MODEL_USM {
        return Err(UsmError::BadSecurityModel(model));
    }
    let security_bytes_offset = {
        let (tag, _, offset) = msg.clone().read_any()?;
        if tag != ber::TAG_OCTET_STRING {
            return Err(BerError::UnexpectedTag { expected: ber::TAG_OCTET_STRING, found: tag }.into());
        }
        offset
    };
    let security_bytes = msg.read_octets()?;
    let mut sec_outer = Reader::new(security_bytes)?;
    let mut sec = sec_outer.enter(ber::TAG_SEQUENCE)?;
    sec_outer.finish()?;
    let engine_id = sec.read_octets()?;
    let boots = sec.read_i32()?;
    let time = sec.read_i32()?;
    let user_name = sec.read_octets()?;
    let (tag, auth_params, auth_offset) = sec.read_any()?;
    if tag != ber::TAG_OCTET_STRING {
        return Err(BerError::UnexpectedTag { expected: ber::TAG_OCTET_STRING, found: tag }.into());
    }
    let priv_params = sec.read_octets()?;
    sec.finish()?;
    if engine_id.len() > MAX_ENGINE_ID_BYTES || user_name.len() > MAX_USER_NAME_BYTES {
        return Err(UsmError::BadEngineId);
    }
    if boots < 0 || time < 0 {
        return Err(UsmError::OutOfRange);
    }
    let start = security_bytes_offset + auth_offset;
    let msg_data = if flags & FLAG_PRIV != 0 {
        msg.read_octets()?
    } else {
        let begin = msg.offset();
        msg.enter(ber::TAG_SEQUENCE)?;
        &bytes[begin..msg.offset()]
    };
    msg.finish()?;
    Ok(ParsedV3 {
        msg_id,
        max_size: max_size as u32,
        flags,
        engine: EngineParams { engine_id: engine_id.to_vec(), boots: boots as u32, time: time as u32 },
        user_name,
        auth_params: start..start + auth_params.len(),
        priv_params,
        msg_data,
    })
}

/// A Response or Report received by a notification originator, checked and decrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingV3 {
    pub msg_id: i32,
    /// The authoritative engine's parameters as the message carries them.
    pub engine: EngineParams,
    /// Whether the message carried a valid MAC (only then may its clock be trusted).
    pub authenticated: bool,
    pub context_engine_id: Vec<u8>,
    pub pdu: Pdu,
}

/// Decode a Response or Report. `user` is the localized user for the message's engine when
/// we know one; an authenticated message without it, or with a wrong MAC, is refused, and an
/// unauthenticated message is returned with `authenticated: false` for the caller to judge
/// (only a discovery Report may be unauthenticated).
pub fn decode_v3_response(bytes: &[u8], user: Option<&LocalizedUser>) -> Result<IncomingV3, UsmError> {
    let parsed = parse_v3(bytes)?;
    let authenticated = parsed.flags & FLAG_AUTH != 0;
    if authenticated {
        let user = user.filter(|u| u.name == parsed.user_name).ok_or(UsmError::AuthenticationRequired)?;
        let (protocol, key) = user.auth.as_ref().ok_or(UsmError::AuthenticationRequired)?;
        if parsed.auth_params.len() != protocol.mac_bytes() {
            return Err(UsmError::WrongDigest);
        }
        let mut zeroed = bytes.to_vec();
        zeroed[parsed.auth_params.clone()].fill(0);
        if !protocol.verify(key, &zeroed, &bytes[parsed.auth_params.clone()]) {
            return Err(UsmError::WrongDigest);
        }
    }
    let plaintext;
    let scoped: &[u8] = if parsed.flags & FLAG_PRIV != 0 {
        let key = user.and_then(|u| u.privacy.as_ref()).ok_or(UsmError::AuthenticationRequired)?;
        let salt: &[u8; SALT_BYTES] =
            parsed.priv_params.try_into().map_err(|_| UsmError::DecryptionFailed)?;
        let mut data = parsed.msg_data.to_vec();
        aes128_cfb(key, parsed.engine.boots, parsed.engine.time, salt, &mut data, false);
        plaintext = data;
        &plaintext
    } else {
        parsed.msg_data
    };
    // A decrypted scoped PDU may carry padding after the SEQUENCE; only the SEQUENCE counts.
    let mut r = Reader::new(scoped)?;
    let mut sp = r.enter(ber::TAG_SEQUENCE).map_err(|e| {
        if parsed.flags & FLAG_PRIV != 0 {
            UsmError::DecryptionFailed
        } else {
            e.into()
        }
    })?;
    let context_engine_id = sp.read_octets()?.to_vec();
    let _context_name = sp.read_octets()?;
    let pdu = Pdu::decode(&mut sp)?;
    sp.finish()?;
    if pdu.tag != TAG_RESPONSE && pdu.tag != TAG_REPORT {
        return Err(PduError::UnexpectedPdu(pdu.tag).into());
    }
    Ok(IncomingV3 { msg_id: parsed.msg_id, engine: parsed.engine, authenticated, context_engine_id, pdu })
}

/// Which usmStats counter a Report names, if it is one (1.3.6.1.6.3.15.1.1.N.0 -> N).
pub fn report_usm_stat(pdu: &Pdu) -> Option<u32> {
    let stats = usm_stats();
    let first = pdu.varbinds.first()?;
    let arcs = first.oid.arcs();
    (first.oid.starts_with(&stats) && arcs.len() == stats.arcs().len() + 2).then(|| arcs[stats.arcs().len()])
}

/// An engine ID in the RFC 3411 text format: 0x80 | enterprise (4 bytes), 0x04, then up to
/// 27 bytes of text (truncated).
pub fn engine_id_from_text(enterprise: u32, text: &str) -> Vec<u8> {
    let mut id = (enterprise | 0x8000_0000).to_be_bytes().to_vec();
    id.push(4);
    id.extend(text.as_bytes().iter().take(MAX_ENGINE_ID_BYTES - 5));
    if id.len() < MIN_ENGINE_ID_BYTES + 1 {
        id.push(b'-');
    }
    id
}

#[cfg(test)]
mod tests {
    use super::super::ber::Value;
    use super::super::pdu::{self, VarBind, TAG_GET_REQUEST, TAG_TRAP_V2};
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    const RFC3414_ENGINE_ID: &str = "00 00 00 00 00 00 00 00 00 00 00 02";

    #[test]
    fn rfc3414_a3_2_sha1_key_localisation() {
        let ku = password_to_key(AuthProtocol::HmacSha1_96, b"maplesyrup");
        assert_eq!(ku, hex("9f b5 cc 03 81 49 7b 37 93 52 89 39 ff 78 8d 5d 79 14 52 11"));
        let kul = localize_key(AuthProtocol::HmacSha1_96, &ku, &hex(RFC3414_ENGINE_ID));
        assert_eq!(kul, hex("66 95 fe bc 92 88 e3 62 82 23 5f c7 15 1f 12 84 97 b3 8f 3f"));
    }

    #[test]
    fn sha256_key_localisation_matches_an_independent_computation() {
        // The same RFC 3414 A.2 algorithm with SHA-256 (RFC 7860), computed independently with
        // python3's hashlib:
        //   pw = b"maplesyrup"; ku = hashlib.sha256((pw * (1048576 // len(pw) + 1))[:1048576]).digest()
        //   kul = hashlib.sha256(ku + bytes.fromhex("000000000000000000000002") + ku).digest()
        let ku = password_to_key(AuthProtocol::HmacSha256_192, b"maplesyrup");
        assert_eq!(ku, hex(SHA256_KU));
        let kul = localize_key(AuthProtocol::HmacSha256_192, &ku, &hex(RFC3414_ENGINE_ID));
        assert_eq!(kul, hex(SHA256_KUL));
    }
    const SHA256_KU: &str = "ab51014d1e077f6017df2b12bee5f5aa72993177e9bb569c4dff5a4ca0b4afac";
    const SHA256_KUL: &str = "8982e0e549e866db361a6b625d84cccc11162d453ee8ce3a6445c2d6776f0f8b";

    #[test]
    fn hmac_tags_have_the_usm_lengths() {
        let sha1 = AuthProtocol::HmacSha1_96.mac(&[1; 20], b"message");
        let sha256 = AuthProtocol::HmacSha256_192.mac(&[1; 32], b"message");
        assert_eq!((sha1.len(), sha256.len()), (12, 24));
        // RFC 4231 test case 2 (key "Jefe"): HMAC-SHA-256 prefix.
        let tc2 = AuthProtocol::HmacSha256_192.mac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(tc2, hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")[..24]);
        // RFC 2202 test case 2: HMAC-SHA-1 prefix.
        let tc2 = AuthProtocol::HmacSha1_96.mac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(tc2, hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")[..12]);
    }

    #[test]
    fn aes_cfb_roundtrips_and_depends_on_the_iv() {
        let key = [7u8; 16];
        let plain: Vec<u8> = (0u8..45).collect(); // not a whole number of blocks
        let mut data = plain.clone();
        aes128_cfb(&key, 3, 100, &[1; 8], &mut data, true);
        assert_ne!(data, plain);
        let mut other = plain.clone();
        aes128_cfb(&key, 3, 101, &[1; 8], &mut other, true);
        assert_ne!(data, other, "engine time is part of the IV");
        aes128_cfb(&key, 3, 100, &[1; 8], &mut data, false);
        assert_eq!(data, plain);
        // FIPS 197 / SP 800-38A F.3.13 CFB128-AES128 first block.
        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let iv = hex("000102030405060708090a0b0c0d0e0f");
        let mut block = hex("6bc1bee22e409f96e93d7e117393172a");
        let boots = u32::from_be_bytes(iv[0..4].try_into().unwrap());
        let time = u32::from_be_bytes(iv[4..8].try_into().unwrap());
        aes128_cfb(&key.try_into().unwrap(), boots, time, &iv[8..].try_into().unwrap(), &mut block, true);
        assert_eq!(block, hex("3b3fd92eb72dad20333449f8e83cfb4a"));
    }

    fn user() -> UsmUser {
        UsmUser::from_passwords(
            "user",
            Some((AuthProtocol::HmacSha256_192, b"authpass")),
            Some((PrivProtocol::Aes128Cfb, b"privpass")),
        )
    }

    #[test]
    fn authpriv_message_roundtrips_and_tampering_is_detected() {
        let engine = EngineParams { engine_id: engine_id_from_text(99999, "receiver"), boots: 4, time: 1234 };
        let local = user().localize(&engine.engine_id);
        let response = Pdu {
            tag: TAG_RESPONSE,
            request_id: 77,
            error_status: 0,
            error_index: 0,
            varbinds: vec![VarBind::new(pdu::sys_uptime_0(), Value::TimeTicks(9))],
        };
        let mut pdu_bytes = Vec::new();
        response.encode(&mut pdu_bytes);
        let msg = encode_v3(&OutgoingV3 {
            msg_id: 5,
            reportable: false,
            engine: &engine,
            user: Some(&local),
            context_engine_id: &engine.engine_id,
            salt: 0x0102_0304_0506_0708,
            pdu: &pdu_bytes,
        });
        let parsed = parse_v3(&msg).unwrap();
        assert_eq!(parsed.flags, FLAG_AUTH | FLAG_PRIV);
        assert_eq!(parsed.auth_params.len(), 24);
        assert_eq!(parsed.priv_params, [1, 2, 3, 4, 5, 6, 7, 8]);
        let got = decode_v3_response(&msg, Some(&local)).unwrap();
        assert_eq!((got.msg_id, got.authenticated, got.pdu.clone()), (5, true, response));
        assert_eq!(got.engine, engine);

        // Any flipped bit is refused (wrong digest, or a BER error before the MAC is checked).
        for i in 0..msg.len() {
            let mut bad = msg.clone();
            bad[i] ^= 0x01;
            assert!(decode_v3_response(&bad, Some(&local)).is_err(), "byte {i}");
        }
        // Without the keys, an authenticated message is refused.
        assert_eq!(decode_v3_response(&msg, None), Err(UsmError::AuthenticationRequired));
        let other = UsmUser::from_passwords(
            "user",
            Some((AuthProtocol::HmacSha256_192, b"otherpass")),
            Some((PrivProtocol::Aes128Cfb, b"privpass")),
        );
        assert_eq!(
            decode_v3_response(&msg, Some(&other.localize(&engine.engine_id))),
            Err(UsmError::WrongDigest)
        );
    }

    #[test]
    fn discovery_probe_is_unauthenticated_with_an_empty_engine() {
        let empty = EngineParams { engine_id: vec![], boots: 0, time: 0 };
        let probe =
            Pdu { tag: TAG_GET_REQUEST, request_id: 1, error_status: 0, error_index: 0, varbinds: vec![] };
        let mut pdu_bytes = Vec::new();
        probe.encode(&mut pdu_bytes);
        let msg = encode_v3(&OutgoingV3 {
            msg_id: 9,
            reportable: true,
            engine: &empty,
            user: None,
            context_engine_id: b"",
            salt: 0,
            pdu: &pdu_bytes,
        });
        let parsed = parse_v3(&msg).unwrap();
        assert_eq!(
            (parsed.flags, parsed.engine.engine_id.len(), parsed.user_name.len()),
            (FLAG_REPORTABLE, 0, 0)
        );
        // A Report as a receiver answers it decodes without keys and names the usmStats counter.
        let receiver = EngineParams { engine_id: engine_id_from_text(8072, "trapd"), boots: 2, time: 30 };
        let report = Pdu {
            tag: TAG_REPORT,
            request_id: 1,
            error_status: 0,
            error_index: 0,
            varbinds: vec![VarBind::new(
                usm_stats().child(&[USM_STATS_UNKNOWN_ENGINE_IDS, 0]),
                Value::Counter32(1),
            )],
        };
        let mut pdu_bytes = Vec::new();
        report.encode(&mut pdu_bytes);
        let msg = encode_v3(&OutgoingV3 {
            msg_id: 9,
            reportable: false,
            engine: &receiver,
            user: None,
            context_engine_id: &receiver.engine_id,
            salt: 0,
            pdu: &pdu_bytes,
        });
        let got = decode_v3_response(&msg, None).unwrap();
        assert!(!got.authenticated);
        assert_eq!(got.engine, receiver);
        assert_eq!(report_usm_stat(&got.pdu), Some(USM_STATS_UNKNOWN_ENGINE_IDS));
        // A trap is not something an originator receives.
        let trap = Pdu::notification(TAG_TRAP_V2, 1, 0, &pdu::snmp_traps().child(&[1]), &[]);
        let mut pdu_bytes = Vec::new();
        trap.encode(&mut pdu_bytes);
        let msg = encode_v3(&OutgoingV3 {
            msg_id: 9,
            reportable: false,
            engine: &receiver,
            user: None,
            context_engine_id: b"",
            salt: 0,
            pdu: &pdu_bytes,
        });
        assert_eq!(decode_v3_response(&msg, None), Err(UsmError::Pdu(PduError::UnexpectedPdu(TAG_TRAP_V2))));
    }
}

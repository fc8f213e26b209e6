//! Pairing: the setup code, SPAKE2, key confirmation, and the sealed hand-over of the lock's
//! identity and root secret.
//!
//! ```text
//! server                                         lock (showing the setup code)
//! PairStart { session, share_a }        ---->
//!                                       <----    PairReply { session, share_b, lock_key, serial, confirm_lock }
//! (checks confirm_lock: the lock knows the code)
//! PairFinish { session, lock_id, server_key,
//!              sealed_root, confirm_server } ---->
//!                                       <----    PairDone { session, confirm_done }
//! ```
//!
//! Both sides run SPAKE2 (Ed25519 group) with the whole setup code as the password; the shared
//! key `K` is never sent. Keys for the three MACs and the seal come from HKDF-SHA-256 over `K`
//! (salt: the session id). The root secret crosses the broker only XORed with a 32-byte key
//! used once, under the server's MAC.

use core::fmt;

use ed25519_dalek::VerifyingKey;
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use latchkey_lock_core::{MAX_LOCK_ID, RootSecret};
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Identity, Password, Spake2};

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, EncodeError, PairError};
use crate::message::Nonce;
use crate::{MAX_MESSAGE_LEN, VERSION};

type HmacSha256 = Hmac<Sha256>;

/// Digits of a setup code.
pub const SETUP_CODE_DIGITS: usize = 11;
/// Length of a SPAKE2 key share (side byte and compressed point).
pub const SHARE_LEN: usize = 33;
/// Longest serial number a lock may report, in bytes.
pub const MAX_SERIAL_LEN: usize = 64;

const ID_SERVER: &[u8] = b"latchkey/v1 pairing server";
const ID_LOCK: &[u8] = b"latchkey/v1 pairing lock";

pub(crate) const K_PAIR_START: u8 = 0x40;
pub(crate) const K_PAIR_FINISH: u8 = 0x41;
pub(crate) const K_PAIR_REPLY: u8 = 0xc0;
pub(crate) const K_PAIR_DONE: u8 = 0xc1;
pub(crate) const K_PAIR_REFUSED: u8 = 0xc2;

/// The code a lock shows until it is paired: 11 digits, shown as `DDD-DDDD-DDDD`.
///
/// The first three digits are the **discriminator**: they name the pairing topic, so they are
/// public (anyone on the broker sees them). The whole code is the SPAKE2 password; what an
/// attacker must guess is the other 8 digits, one online attempt per pairing exchange, which
/// the lock limits ([`PairAttempts`]). `Debug` hides the secret digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SetupCode {
    digits: [u8; SETUP_CODE_DIGITS],
}

impl fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SetupCode({:03}-****-****)", self.discriminator())
    }
}

impl fmt::Display for SetupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.digits.iter().enumerate() {
            if i == 3 || i == 7 {
                f.write_str("-")?;
            }
            write!(f, "{}", char::from(*d))?;
        }
        Ok(())
    }
}

impl SetupCode {
    /// Parses 11 digits; spaces and dashes are ignored.
    pub fn parse(s: &str) -> Option<SetupCode> {
        let mut digits = [0u8; SETUP_CODE_DIGITS];
        let mut n = 0;
        for b in s.bytes() {
            match b {
                b' ' | b'-' => {}
                b'0'..=b'9' => {
                    *digits.get_mut(n)? = b;
                    n += 1;
                }
                _ => return None,
            }
        }
        (n == SETUP_CODE_DIGITS).then_some(SetupCode { digits })
    }

    /// A setup code from 8 random bytes (from the lock's CSPRNG; the bias is below 10^-8).
    pub fn from_random(bytes: [u8; 8]) -> SetupCode {
        let mut v = u64::from_le_bytes(bytes) % 100_000_000_000;
        let mut digits = [b'0'; SETUP_CODE_DIGITS];
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        SetupCode { digits }
    }

    /// The ASCII digits.
    pub fn digits(&self) -> &[u8; SETUP_CODE_DIGITS] {
        &self.digits
    }

    /// The public discriminator (the first three digits, 0..=999), which names the pairing
    /// topic.
    pub fn discriminator(&self) -> u16 {
        self.digits
            .iter()
            .take(3)
            .fold(0u16, |v, d| v * 10 + u16::from(d.wrapping_sub(b'0') % 10))
    }
}

/// Server to lock: start an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairStart {
    /// Random id of this exchange.
    pub session: Nonce,
    /// The server's SPAKE2 share.
    pub share: [u8; SHARE_LEN],
}

/// Lock to server: the lock's share, its public key and serial, and its key confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairReply<'a> {
    /// The exchange.
    pub session: Nonce,
    /// The lock's SPAKE2 share.
    pub share: [u8; SHARE_LEN],
    /// The lock's Ed25519 public key (it signs every message it sends afterwards).
    pub lock_key: [u8; 32],
    /// The lock's serial number (UTF-8, at most [`MAX_SERIAL_LEN`] bytes).
    pub serial: &'a str,
    /// HMAC proving the lock derived the same key.
    pub confirm: [u8; 32],
}

/// Server to lock: the lock's identity, the server's public key and the sealed root secret,
/// under the server's key confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairFinish<'a> {
    /// The exchange.
    pub session: Nonce,
    /// The lock id the server assigned (1 to 64 bytes, topic-safe).
    pub lock_id: &'a [u8],
    /// The server's Ed25519 public key.
    pub server_key: [u8; 32],
    /// The root secret XOR a one-time key derived from the exchange.
    pub sealed_root: [u8; 32],
    /// HMAC proving the server derived the same key, over everything above.
    pub confirm: [u8; 32],
}

/// Lock to server: paired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairDone {
    /// The exchange.
    pub session: Nonce,
    /// HMAC proving the lock accepted the hand-over.
    pub confirm: [u8; 32],
}

/// Lock to server: too many attempts; try again later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairRefused {
    /// The exchange.
    pub session: Nonce,
    /// Seconds until the lock answers again.
    pub retry_after: u32,
}

/// A pairing message (not signed: SPAKE2 and the MACs protect it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pairing<'a> {
    /// Server to lock.
    Start(PairStart),
    /// Lock to server.
    Reply(PairReply<'a>),
    /// Server to lock.
    Finish(PairFinish<'a>),
    /// Lock to server.
    Done(PairDone),
    /// Lock to server.
    Refused(PairRefused),
}

impl Pairing<'_> {
    /// The exchange this message belongs to.
    pub fn session(&self) -> &Nonce {
        match self {
            Pairing::Start(m) => &m.session,
            Pairing::Reply(m) => &m.session,
            Pairing::Finish(m) => &m.session,
            Pairing::Done(m) => &m.session,
            Pairing::Refused(m) => &m.session,
        }
    }
}

/// Encodes a pairing message into `buf`; returns its length.
pub fn encode_pairing(msg: &Pairing<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
    let mut w = Writer::new(buf);
    w.u8(VERSION)?;
    match msg {
        Pairing::Start(m) => {
            w.u8(K_PAIR_START)?;
            w.put(&m.session)?;
            w.put(&m.share)?;
        }
        Pairing::Reply(m) => {
            w.u8(K_PAIR_REPLY)?;
            w.put(&m.session)?;
            w.put(&m.share)?;
            w.put(&m.lock_key)?;
            w.lbytes(m.serial.as_bytes(), MAX_SERIAL_LEN)?;
            w.put(&m.confirm)?;
        }
        Pairing::Finish(m) => {
            if m.lock_id.is_empty() {
                return Err(EncodeError::Invalid);
            }
            w.u8(K_PAIR_FINISH)?;
            w.put(&m.session)?;
            w.lbytes(m.lock_id, MAX_LOCK_ID)?;
            w.put(&m.server_key)?;
            w.put(&m.sealed_root)?;
            w.put(&m.confirm)?;
        }
        Pairing::Done(m) => {
            w.u8(K_PAIR_DONE)?;
            w.put(&m.session)?;
            w.put(&m.confirm)?;
        }
        Pairing::Refused(m) => {
            w.u8(K_PAIR_REFUSED)?;
            w.put(&m.session)?;
            w.varint(u64::from(m.retry_after))?;
        }
    }
    Ok(w.len())
}

/// Decodes a pairing message.
pub fn decode_pairing(bytes: &[u8]) -> Result<Pairing<'_>, DecodeError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::TooLong);
    }
    let mut r = Reader::new(bytes);
    let v = r.u8()?;
    if v != VERSION {
        return Err(DecodeError::UnsupportedVersion(v));
    }
    let m = match r.u8()? {
        K_PAIR_START => Pairing::Start(PairStart {
            session: r.array()?,
            share: r.array()?,
        }),
        K_PAIR_REPLY => Pairing::Reply(PairReply {
            session: r.array()?,
            share: r.array()?,
            lock_key: r.array()?,
            serial: core::str::from_utf8(r.lbytes(MAX_SERIAL_LEN)?).map_err(|_| DecodeError::Invalid)?,
            confirm: r.array()?,
        }),
        K_PAIR_FINISH => {
            let session = r.array()?;
            let lock_id = r.lbytes(MAX_LOCK_ID)?;
            if lock_id.is_empty() {
                return Err(DecodeError::Invalid);
            }
            Pairing::Finish(PairFinish {
                session,
                lock_id,
                server_key: r.array()?,
                sealed_root: r.array()?,
                confirm: r.array()?,
            })
        }
        K_PAIR_DONE => Pairing::Done(PairDone {
            session: r.array()?,
            confirm: r.array()?,
        }),
        K_PAIR_REFUSED => Pairing::Refused(PairRefused {
            session: r.array()?,
            retry_after: r.u32v()?,
        }),
        k => return Err(DecodeError::UnknownKind(k)),
    };
    r.finish()?;
    Ok(m)
}

/// A CSPRNG for SPAKE2's scalar, seeded by the caller (randomness is a parameter):
/// SHA-256(seed || counter) blocks.
struct SeedRng {
    seed: [u8; 32],
    counter: u64,
}

impl SeedRng {
    fn block(&mut self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"latchkey/v1 pairing rng");
        h.update(self.seed);
        h.update(self.counter.to_le_bytes());
        self.counter = self.counter.wrapping_add(1);
        h.finalize().into()
    }
}

impl rand_core::TryRng for SeedRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let b = self.block();
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let b = self.block();
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(32) {
            let b = self.block();
            chunk.copy_from_slice(b.get(..chunk.len()).unwrap_or(&[]));
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SeedRng {}

/// The keys of one exchange.
struct Keys {
    confirm_lock: [u8; 32],
    confirm_server: [u8; 32],
    confirm_done: [u8; 32],
    seal: [u8; 32],
}

impl Drop for Keys {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.confirm_lock.zeroize();
        self.confirm_server.zeroize();
        self.confirm_done.zeroize();
        self.seal.zeroize();
    }
}

fn derive(session: &Nonce, shared: &[u8]) -> Result<Keys, PairError> {
    let hk = Hkdf::<Sha256>::new(Some(session), shared);
    let mut k = Keys {
        confirm_lock: [0; 32],
        confirm_server: [0; 32],
        confirm_done: [0; 32],
        seal: [0; 32],
    };
    let e = |_| PairError::Invalid;
    hk.expand(b"latchkey/v1 pairing confirm lock", &mut k.confirm_lock)
        .map_err(e)?;
    hk.expand(b"latchkey/v1 pairing confirm server", &mut k.confirm_server)
        .map_err(e)?;
    hk.expand(b"latchkey/v1 pairing confirm done", &mut k.confirm_done)
        .map_err(e)?;
    hk.expand(b"latchkey/v1 pairing seal root", &mut k.seal).map_err(e)?;
    Ok(k)
}

fn transcript(start: &PairStart, share_b: &[u8; SHARE_LEN], lock_key: &[u8; 32], serial: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"latchkey/v1 pairing transcript");
    h.update(start.session);
    h.update(start.share);
    h.update(share_b);
    h.update(lock_key);
    h.update([serial.len() as u8]);
    h.update(serial.as_bytes());
    h.finalize().into()
}

fn mac(key: &[u8; 32], parts: &[&[u8]]) -> Result<HmacSha256, PairError> {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).map_err(|_| PairError::Invalid)?;
    for p in parts {
        m.update(p);
    }
    Ok(m)
}

fn tag(key: &[u8; 32], parts: &[&[u8]]) -> Result<[u8; 32], PairError> {
    Ok(mac(key, parts)?.finalize().into_bytes().into())
}

fn check_tag(key: &[u8; 32], parts: &[&[u8]], expected: &[u8; 32]) -> Result<(), PairError> {
    mac(key, parts)?
        .verify_slice(expected)
        .map_err(|_| PairError::BadConfirmation)
}

fn finish_parts<'x>(th: &'x [u8; 32], len: &'x [u8; 1], f: &'x PairFinish<'_>) -> [&'x [u8]; 5] {
    [th, len, f.lock_id, &f.server_key, &f.sealed_root]
}

fn password(code: &SetupCode) -> Password {
    Password::new(code.digits)
}

/// The server's half of a pairing exchange.
pub struct ServerPairing {
    spake: Spake2<Ed25519Group>,
    start: PairStart,
}

impl fmt::Debug for ServerPairing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerPairing")
            .field("session", &self.start.session)
            .finish()
    }
}

/// What the server holds once the lock proved it knows the setup code.
#[derive(Debug)]
pub struct ServerConfirmed<'l> {
    /// Send this to the lock.
    pub finish: PairFinish<'l>,
    /// The lock's public key (store it with the lock).
    pub lock_key: VerifyingKey,
    /// Checks the lock's [`PairDone`].
    pub done: DoneCheck,
}

/// Checks the lock's final confirmation.
pub struct DoneCheck {
    session: Nonce,
    th: [u8; 32],
    key: [u8; 32],
}

impl fmt::Debug for DoneCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoneCheck").field("session", &self.session).finish()
    }
}

impl Drop for DoneCheck {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.key.zeroize();
    }
}

impl DoneCheck {
    /// Whether the lock confirmed the hand-over: then the lock is paired.
    pub fn check(&self, done: &PairDone) -> Result<(), PairError> {
        if done.session != self.session {
            return Err(PairError::WrongSession);
        }
        check_tag(&self.key, &[&self.th], &done.confirm)
    }
}

impl ServerPairing {
    /// Starts an exchange for `code`. `session` and `seed` are fresh random bytes.
    pub fn start(code: &SetupCode, session: Nonce, seed: [u8; 32]) -> (ServerPairing, PairStart) {
        let rng = SeedRng { seed, counter: 0 };
        let (spake, msg) = Spake2::<Ed25519Group>::start_a_with_rng(
            &password(code),
            &Identity::new(ID_SERVER),
            &Identity::new(ID_LOCK),
            rng,
        );
        let mut share = [0u8; SHARE_LEN];
        if msg.len() == SHARE_LEN {
            share.copy_from_slice(&msg);
        }
        let start = PairStart { session, share };
        (ServerPairing { spake, start }, start)
    }

    /// The message that started the exchange (to send it again).
    pub fn start_message(&self) -> PairStart {
        self.start
    }

    /// Checks the lock's reply. On success returns the [`PairFinish`] that hands the lock its
    /// id, the server's public key and the sealed root secret. A lock that does not know the
    /// code fails here with [`PairError::BadConfirmation`], and receives nothing.
    pub fn finish<'l>(
        self,
        reply: &PairReply<'_>,
        lock_id: &'l [u8],
        server_key: &VerifyingKey,
        root: &RootSecret,
    ) -> Result<ServerConfirmed<'l>, PairError> {
        if reply.session != self.start.session {
            return Err(PairError::WrongSession);
        }
        if lock_id.is_empty() || lock_id.len() > MAX_LOCK_ID || reply.serial.len() > MAX_SERIAL_LEN {
            return Err(PairError::Invalid);
        }
        let shared = self.spake.finish(&reply.share).map_err(|_| PairError::BadKeyShare)?;
        let keys = derive(&self.start.session, &shared)?;
        let th = transcript(&self.start, &reply.share, &reply.lock_key, reply.serial);
        check_tag(&keys.confirm_lock, &[&th], &reply.confirm)?;
        let lock_key = VerifyingKey::from_bytes(&reply.lock_key).map_err(|_| PairError::Invalid)?;
        let mut sealed_root = root.0;
        for (s, k) in sealed_root.iter_mut().zip(keys.seal.iter()) {
            *s ^= k;
        }
        let mut finish = PairFinish {
            session: self.start.session,
            lock_id,
            server_key: server_key.to_bytes(),
            sealed_root,
            confirm: [0; 32],
        };
        let len = [lock_id.len() as u8];
        finish.confirm = tag(&keys.confirm_server, &finish_parts(&th, &len, &finish))?;
        Ok(ServerConfirmed {
            finish,
            lock_key,
            done: DoneCheck {
                session: self.start.session,
                th,
                key: keys.confirm_done,
            },
        })
    }
}

/// The lock's half of a pairing exchange.
pub struct LockPairing {
    keys: Keys,
    session: Nonce,
    th: [u8; 32],
}

impl fmt::Debug for LockPairing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockPairing").field("session", &self.session).finish()
    }
}

/// What the lock learns when pairing succeeds. Store it durably before sending [`PairDone`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paired {
    /// The lock's id.
    pub lock_id: heapless::Vec<u8, MAX_LOCK_ID>,
    /// The server's public key: every later message from the server must verify under it.
    pub server_key: VerifyingKey,
    /// The root secret, from which the issuer keys derive.
    pub root: RootSecret,
}

impl LockPairing {
    /// Answers a [`PairStart`] with the lock's share, public key, serial and key confirmation.
    /// `seed` is fresh random bytes. Count the attempt ([`PairAttempts`]) before calling.
    pub fn respond<'s>(
        code: &SetupCode,
        start: &PairStart,
        lock_key: &VerifyingKey,
        serial: &'s str,
        seed: [u8; 32],
    ) -> Result<(LockPairing, PairReply<'s>), PairError> {
        if serial.len() > MAX_SERIAL_LEN {
            return Err(PairError::Invalid);
        }
        let rng = SeedRng { seed, counter: 0 };
        let (spake, msg) = Spake2::<Ed25519Group>::start_b_with_rng(
            &password(code),
            &Identity::new(ID_SERVER),
            &Identity::new(ID_LOCK),
            rng,
        );
        let share: [u8; SHARE_LEN] = msg.as_slice().try_into().map_err(|_| PairError::Invalid)?;
        let shared = spake.finish(&start.share).map_err(|_| PairError::BadKeyShare)?;
        let keys = derive(&start.session, &shared)?;
        let lock_key = lock_key.to_bytes();
        let th = transcript(start, &share, &lock_key, serial);
        let confirm = tag(&keys.confirm_lock, &[&th])?;
        let reply = PairReply {
            session: start.session,
            share,
            lock_key,
            serial,
            confirm,
        };
        Ok((
            LockPairing {
                keys,
                session: start.session,
                th,
            },
            reply,
        ))
    }

    /// Checks the server's [`PairFinish`] and unseals the root secret. A server that does not
    /// know the code fails here with [`PairError::BadConfirmation`].
    pub fn finish(self, fin: &PairFinish<'_>) -> Result<(Paired, PairDone), PairError> {
        if fin.session != self.session {
            return Err(PairError::WrongSession);
        }
        if fin.lock_id.is_empty() || fin.lock_id.len() > MAX_LOCK_ID {
            return Err(PairError::Invalid);
        }
        let len = [fin.lock_id.len() as u8];
        check_tag(
            &self.keys.confirm_server,
            &finish_parts(&self.th, &len, fin),
            &fin.confirm,
        )?;
        let server_key = VerifyingKey::from_bytes(&fin.server_key).map_err(|_| PairError::Invalid)?;
        let mut root = fin.sealed_root;
        for (s, k) in root.iter_mut().zip(self.keys.seal.iter()) {
            *s ^= k;
        }
        let lock_id = heapless::Vec::from_slice(fin.lock_id).map_err(|_| PairError::Invalid)?;
        let done = PairDone {
            session: self.session,
            confirm: tag(&self.keys.confirm_done, &[&self.th])?,
        };
        Ok((
            Paired {
                lock_id,
                server_key,
                root: RootSecret(root),
            },
            done,
        ))
    }
}

/// The lock's limit on pairing attempts (persist it with the lock's state).
///
/// Each [`PairStart`] the lock answers is one online guess at the setup code, so the lock
/// counts them: the first [`PairAttempts::FREE`] are free, then each further one must wait
/// 60 s, doubling up to an hour. Pairing successfully resets the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PairAttempts {
    /// Attempts since the last successful pairing.
    pub attempts: u32,
    /// No attempt before this instant (UTC Unix seconds).
    pub blocked_until: i64,
}

impl PairAttempts {
    /// Attempts allowed without waiting.
    pub const FREE: u32 = 5;
    /// First wait, seconds.
    pub const BASE_WAIT: i64 = 60;
    /// Longest wait, seconds.
    pub const MAX_WAIT: i64 = 3600;

    /// `Ok` when an attempt may start now, else the seconds to wait (for [`PairRefused`]).
    pub fn check(&self, now: i64) -> Result<(), u32> {
        if now < self.blocked_until {
            Err(u32::try_from(self.blocked_until.saturating_sub(now)).unwrap_or(u32::MAX))
        } else {
            Ok(())
        }
    }

    /// Counts an attempt made at `now`.
    pub fn record(&mut self, now: i64) {
        self.attempts = self.attempts.saturating_add(1);
        if self.attempts >= Self::FREE {
            let doublings = (self.attempts - Self::FREE).min(10);
            let wait = Self::BASE_WAIT.saturating_mul(1i64 << doublings).min(Self::MAX_WAIT);
            self.blocked_until = now.saturating_add(wait);
        }
    }

    /// Forgets the attempts (after a successful pairing).
    pub fn reset(&mut self) {
        *self = PairAttempts::default();
    }
}

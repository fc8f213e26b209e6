//! The signed envelope: `version, kind, seq, expires, body, signature`, and the receiver's
//! checks (signature, expiry, replay).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use latchkey_lock_core::MAX_LOCK_ID;
use sha2::{Digest, Sha512};

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, EncodeError, Reject};
use crate::message::{Down, Up};
use crate::{MAX_LIFETIME_SECS, MAX_MESSAGE_LEN, VERSION};

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Domain separation for signatures.
const SIG_CONTEXT: &[u8] = b"latchkey/v1 signed message";

/// The header every signed message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The sender's sequence number for this direction and lock: starts at 1 and grows with
    /// every message sent (the receiver keeps a [`ReplayWindow`]).
    pub seq: u64,
    /// UTC Unix seconds after which the message must not be acted on.
    pub expires: i64,
}

/// Which way a message travels (it is part of what is signed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Server to lock.
    Down,
    /// Lock to server.
    Up,
}

/// A message that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened<B> {
    /// Its header.
    pub header: Header,
    /// Its body.
    pub body: B,
}

/// What the receiver knows about the current time when it checks an expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The receiver trusts its clock: a message is refused from its expiry on, and when its
    /// expiry lies more than [`MAX_LIFETIME_SECS`] ahead.
    Trusted(i64),
    /// The receiver does not trust its clock (a lock after a power loss): a message is refused
    /// when it expired before the last known good time `floor`. Replay protection still holds
    /// (sequence numbers); the lock asks for the time with [`crate::Hello`].
    Untrusted {
        /// Last known good time (UTC Unix seconds).
        floor: i64,
    },
}

impl Clock {
    fn check(self, expires: i64) -> Result<(), Reject> {
        match self {
            Clock::Trusted(now) => {
                if expires <= now {
                    Err(Reject::Expired)
                } else if expires.saturating_sub(now) > MAX_LIFETIME_SECS {
                    Err(Reject::TooFarAhead)
                } else {
                    Ok(())
                }
            }
            Clock::Untrusted { floor } => {
                if expires <= floor {
                    Err(Reject::Expired)
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// The receiver's record of the sequence numbers it accepted: the highest, and which of the
/// 64 below it. A number above the highest, or within the window and not yet seen, is
/// accepted once; everything else is a replay. Messages reordered by up to 64 positions are
/// still accepted. Persist it (16 bytes, [`ReplayWindow::to_bytes`]) before acting on a
/// message whose effect must not happen twice (an unlock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReplayWindow {
    highest: u64,
    /// Bit `i` set: `highest - i` was accepted.
    seen: u64,
}

impl ReplayWindow {
    /// Nothing accepted yet.
    pub const fn new() -> Self {
        ReplayWindow { highest: 0, seen: 0 }
    }

    /// The highest sequence number accepted (0: none).
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Whether `seq` would be accepted.
    pub fn check(&self, seq: u64) -> bool {
        if seq == 0 {
            return false;
        }
        if seq > self.highest {
            return true;
        }
        let back = self.highest - seq;
        back < 64 && self.seen & (1u64 << back) == 0
    }

    /// Records `seq` as accepted (call after [`ReplayWindow::check`]).
    pub fn accept(&mut self, seq: u64) {
        if seq > self.highest {
            let shift = seq - self.highest;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.highest = seq;
        } else {
            let back = self.highest - seq;
            if back < 64 {
                self.seen |= 1u64 << back;
            }
        }
    }

    /// The persisted form.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        let (a, b) = out.split_at_mut(8);
        a.copy_from_slice(&self.highest.to_le_bytes());
        b.copy_from_slice(&self.seen.to_le_bytes());
        out
    }

    /// Restores the persisted form.
    pub fn from_bytes(bytes: &[u8; 16]) -> Self {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(bytes.get(..8).unwrap_or(&[0; 8]));
        b.copy_from_slice(bytes.get(8..).unwrap_or(&[0; 8]));
        ReplayWindow {
            highest: u64::from_le_bytes(a),
            seen: u64::from_le_bytes(b),
        }
    }
}

fn digest(dir: Direction, lock_id: &[u8], signed: &[u8]) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(SIG_CONTEXT);
    h.update([match dir {
        Direction::Down => 0u8,
        Direction::Up => 1u8,
    }]);
    h.update([lock_id.len() as u8]);
    h.update(lock_id);
    h.update(signed);
    h.finalize().into()
}

fn check_lock_id(lock_id: &[u8]) -> bool {
    !lock_id.is_empty() && lock_id.len() <= MAX_LOCK_ID
}

fn seal(
    dir: Direction,
    key: &SigningKey,
    lock_id: &[u8],
    header: Header,
    kind: u8,
    body: impl FnOnce(&mut Writer<'_>) -> Result<(), EncodeError>,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    if !check_lock_id(lock_id) {
        return Err(EncodeError::Invalid);
    }
    let mut w = Writer::new(buf);
    w.u8(VERSION)?;
    w.u8(kind)?;
    w.varint(header.seq)?;
    w.i64v(header.expires)?;
    body(&mut w)?;
    if w.len() + SIGNATURE_LEN > MAX_MESSAGE_LEN {
        return Err(EncodeError::Invalid);
    }
    let d = digest(dir, lock_id, w.written());
    let sig: Signature = key.sign(&d);
    w.put(&sig.to_bytes())?;
    Ok(w.len())
}

/// Encodes and signs a message from the server to `lock_id` into `buf`; returns its length.
pub fn seal_down(
    key: &SigningKey,
    lock_id: &[u8],
    header: Header,
    body: &Down<'_>,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    seal(
        Direction::Down,
        key,
        lock_id,
        header,
        body.kind(),
        |w| body.encode_body(w),
        buf,
    )
}

/// Encodes and signs a message from lock `lock_id` to the server into `buf`; returns its
/// length.
pub fn seal_up(
    key: &SigningKey,
    lock_id: &[u8],
    header: Header,
    body: &Up<'_>,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    seal(
        Direction::Up,
        key,
        lock_id,
        header,
        body.kind(),
        |w| body.encode_body(w),
        buf,
    )
}

/// A signed message taken apart (signature not checked yet).
struct Split<'a> {
    header: Header,
    kind: u8,
    /// Positioned at the body.
    body: Reader<'a>,
    /// Everything the signature covers.
    signed: &'a [u8],
    sig: &'a [u8],
}

/// Splits a signed message into header, kind, body reader and signature, without checking the
/// signature.
fn split(bytes: &[u8]) -> Result<Split<'_>, DecodeError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::TooLong);
    }
    let cut = bytes.len().checked_sub(SIGNATURE_LEN).ok_or(DecodeError::Truncated)?;
    let (signed, sig) = bytes.split_at(cut);
    let mut r = Reader::new(signed);
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let kind = r.u8()?;
    let header = Header {
        seq: r.varint()?,
        expires: r.i64v()?,
    };
    Ok(Split {
        header,
        kind,
        body: r,
        signed,
        sig,
    })
}

/// Decodes a server-to-lock message **without** checking its signature, expiry or sequence
/// (for logs, tools and tests; a lock uses [`open_down`]).
pub fn decode_down(bytes: &[u8]) -> Result<Opened<Down<'_>>, DecodeError> {
    let mut s = split(bytes)?;
    let body = Down::decode_body(s.kind, &mut s.body)?;
    Ok(Opened { header: s.header, body })
}

/// Decodes a lock-to-server message **without** checking its signature, expiry or sequence.
pub fn decode_up(bytes: &[u8]) -> Result<Opened<Up<'_>>, DecodeError> {
    let mut s = split(bytes)?;
    let body = Up::decode_body(s.kind, &mut s.body)?;
    Ok(Opened { header: s.header, body })
}

fn verify(dir: Direction, key: &VerifyingKey, lock_id: &[u8], signed: &[u8], sig: &[u8]) -> Result<(), Reject> {
    let sig: [u8; SIGNATURE_LEN] = sig.try_into().map_err(|_| Reject::BadSignature)?;
    let sig = Signature::from_bytes(&sig);
    let d = digest(dir, lock_id, signed);
    key.verify_strict(&d, &sig).map_err(|_| Reject::BadSignature)
}

/// The lock's side: decodes `bytes`, checks the server's signature for this lock, the expiry
/// against `clock`, and the sequence number against `replay`; on success records the sequence
/// number in `replay` and returns the message. On any error nothing changes.
pub fn open_down<'a>(
    bytes: &'a [u8],
    lock_id: &[u8],
    server_key: &VerifyingKey,
    replay: &mut ReplayWindow,
    clock: Clock,
) -> Result<Opened<Down<'a>>, Reject> {
    if !check_lock_id(lock_id) {
        return Err(Reject::BadSignature);
    }
    let mut s = split(bytes)?;
    verify(Direction::Down, server_key, lock_id, s.signed, s.sig)?;
    let body = Down::decode_body(s.kind, &mut s.body)?;
    let header = s.header;
    clock.check(header.expires)?;
    if !replay.check(header.seq) {
        return Err(Reject::Replayed);
    }
    replay.accept(header.seq);
    Ok(Opened { header, body })
}

/// The server's side: decodes `bytes` from lock `lock_id`, checks the lock's signature, the
/// expiry against `now` and the sequence number against `replay` (kept per lock); on success
/// records the sequence number and returns the message.
pub fn open_up<'a>(
    bytes: &'a [u8],
    lock_id: &[u8],
    lock_key: &VerifyingKey,
    replay: &mut ReplayWindow,
    now: i64,
) -> Result<Opened<Up<'a>>, Reject> {
    if !check_lock_id(lock_id) {
        return Err(Reject::BadSignature);
    }
    let mut s = split(bytes)?;
    verify(Direction::Up, lock_key, lock_id, s.signed, s.sig)?;
    let body = Up::decode_body(s.kind, &mut s.body)?;
    let header = s.header;
    Clock::Trusted(now).check(header.expires)?;
    if !replay.check(header.seq) {
        return Err(Reject::Replayed);
    }
    replay.accept(header.seq);
    Ok(Opened { header, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_window() {
        let mut w = ReplayWindow::new();
        assert!(!w.check(0), "0 is never a valid sequence number");
        for s in [1, 2, 5, 4, 3] {
            assert!(w.check(s), "{s}");
            w.accept(s);
            assert!(!w.check(s), "{s} twice");
        }
        assert_eq!(w.highest(), 5);
        w.accept(100);
        assert!(!w.check(5), "fell out of the window");
        assert!(w.check(37) && w.check(99));
        assert!(!w.check(36), "more than 64 behind");
        w.accept(99);
        assert!(!w.check(99));
        let back = ReplayWindow::from_bytes(&w.to_bytes());
        assert_eq!(back, w);
        w.accept(u64::MAX);
        assert!(!w.check(u64::MAX));
        assert!(!w.check(100));
    }
}

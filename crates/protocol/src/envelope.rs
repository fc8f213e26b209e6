//! The envelope of every message after pairing: `version, kind, seq, expires, body (encrypted,
//! with its tag), signature`, and the receiver's checks (protection, signature, tag, expiry,
//! replay).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use latchkey_lock_core::MAX_LOCK_ID;
use sha2::{Digest, Sha512};

use crate::codec::{Reader, Writer};
use crate::error::{DecodeError, EncodeError, Reject};
use crate::link::{self, ENCRYPTED_KIND, Protection, TAG_LEN};
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

#[allow(clippy::too_many_arguments)]
fn seal(
    dir: Direction,
    key: &SigningKey,
    protection: Protection<'_>,
    lock_id: &[u8],
    header: Header,
    kind: u8,
    body: impl FnOnce(&mut Writer<'_>) -> Result<(), EncodeError>,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    if !check_lock_id(lock_id) {
        return Err(EncodeError::Invalid);
    }
    let (kind, tag_len) = match protection {
        Protection::Encrypted(_) => (kind | ENCRYPTED_KIND, TAG_LEN),
        Protection::SignedOnly => (kind, 0),
    };
    let mut w = Writer::new(buf);
    w.u8(VERSION)?;
    w.u8(kind)?;
    w.varint(header.seq)?;
    w.i64v(header.expires)?;
    let head = w.len();
    body(&mut w)?;
    if w.len() + tag_len + SIGNATURE_LEN > MAX_MESSAGE_LEN {
        return Err(EncodeError::Invalid);
    }
    if let Protection::Encrypted(keys) = protection {
        // The header as written is the associated data; the body is encrypted where it lies.
        let (aad, plain) = w.written_mut().split_at_mut_checked(head).ok_or(EncodeError::Invalid)?;
        let tag = link::encrypt(keys, dir, header.seq, header.expires, aad, plain).ok_or(EncodeError::Invalid)?;
        w.put(&tag)?;
    }
    let d = digest(dir, lock_id, w.written());
    let sig: Signature = key.sign(&d);
    w.put(&sig.to_bytes())?;
    Ok(w.len())
}

/// Encodes a message from the server to `lock_id` into `buf`, encrypts its body (unless
/// `protection` is [`Protection::SignedOnly`]) and signs it; returns its length.
///
/// The sender must never use `header.seq` twice with the same keys: it is the AEAD nonce
/// (with the expiry, see [`crate::link::nonce`]).
pub fn seal_down(
    key: &SigningKey,
    protection: Protection<'_>,
    lock_id: &[u8],
    header: Header,
    body: &Down<'_>,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    seal(
        Direction::Down,
        key,
        protection,
        lock_id,
        header,
        body.kind(),
        |w| body.encode_body(w),
        buf,
    )
}

/// Encodes a message from lock `lock_id` to the server into `buf`, encrypts its body (unless
/// `protection` is [`Protection::SignedOnly`]) and signs it; returns its length. As with
/// [`seal_down`], a sequence number must never be used twice.
pub fn seal_up(
    key: &SigningKey,
    protection: Protection<'_>,
    lock_id: &[u8],
    header: Header,
    body: &Up<'_>,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    seal(
        Direction::Up,
        key,
        protection,
        lock_id,
        header,
        body.kind(),
        |w| body.encode_body(w),
        buf,
    )
}

/// A signed message taken apart (signature not checked yet).
struct Split {
    header: Header,
    /// The kind byte as sent (with [`ENCRYPTED_KIND`] when encrypted).
    kind: u8,
    /// Length of the header (version to expiry).
    head: usize,
    /// Where the signature starts.
    cut: usize,
}

/// Reads the header of a signed message and finds its signature, without checking anything
/// but the structure.
fn split(bytes: &[u8]) -> Result<Split, DecodeError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::TooLong);
    }
    let cut = bytes.len().checked_sub(SIGNATURE_LEN).ok_or(DecodeError::Truncated)?;
    let mut r = Reader::new(bytes.get(..cut).unwrap_or(&[]));
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
        head: cut - r.remaining(),
        cut,
    })
}

/// What the header of a message after pairing says, read without any check (for logs, tools
/// and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peek {
    /// The message kind (`0x04` for an `Unlock`), without the encryption bit.
    pub kind: u8,
    /// Whether the body is encrypted (the kind byte on the wire carries [`ENCRYPTED_KIND`]).
    pub encrypted: bool,
    /// Sequence number and expiry.
    pub header: Header,
}

/// Reads the header of a message after pairing, checking neither signature nor anything else.
/// An encrypted body stays unread: this tells what kind of message it is, not what it says.
pub fn peek(bytes: &[u8]) -> Result<Peek, DecodeError> {
    let s = split(bytes)?;
    Ok(Peek {
        kind: s.kind & !ENCRYPTED_KIND,
        encrypted: s.kind & ENCRYPTED_KIND != 0,
        header: s.header,
    })
}

/// Decodes a signed-only server-to-lock message **without** checking its signature, expiry or
/// sequence (for logs, tools and tests; a lock uses [`open_down`]). An encrypted message is
/// `UnknownKind` here: only [`open_down`], with the keys, reads it.
pub fn decode_down(bytes: &[u8]) -> Result<Opened<Down<'_>>, DecodeError> {
    let s = split(bytes)?;
    let mut r = Reader::new(bytes.get(s.head..s.cut).unwrap_or(&[]));
    let body = Down::decode_body(s.kind, &mut r)?;
    Ok(Opened { header: s.header, body })
}

/// Decodes a signed-only lock-to-server message **without** checking its signature, expiry or
/// sequence. An encrypted message is `UnknownKind` here.
pub fn decode_up(bytes: &[u8]) -> Result<Opened<Up<'_>>, DecodeError> {
    let s = split(bytes)?;
    let mut r = Reader::new(bytes.get(s.head..s.cut).unwrap_or(&[]));
    let body = Up::decode_body(s.kind, &mut r)?;
    Ok(Opened { header: s.header, body })
}

fn verify(dir: Direction, key: &VerifyingKey, lock_id: &[u8], signed: &[u8], sig: &[u8]) -> Result<(), Reject> {
    let sig: [u8; SIGNATURE_LEN] = sig.try_into().map_err(|_| Reject::BadSignature)?;
    let sig = Signature::from_bytes(&sig);
    let d = digest(dir, lock_id, signed);
    key.verify_strict(&d, &sig).map_err(|_| Reject::BadSignature)
}

/// Checks structure, protection, signature and tag, and decrypts the body in place; returns
/// the header, the kind (without the encryption bit) and the plaintext body.
fn unseal<'a>(
    dir: Direction,
    bytes: &'a mut [u8],
    lock_id: &[u8],
    key: &VerifyingKey,
    protection: Protection<'_>,
) -> Result<(Header, u8, &'a [u8]), Reject> {
    if !check_lock_id(lock_id) {
        return Err(Reject::BadSignature);
    }
    let s = split(bytes)?;
    let encrypted = s.kind & ENCRYPTED_KIND != 0;
    match protection {
        // The receiver's setting decides, never the message: nothing on the wire can turn
        // encryption off.
        Protection::Encrypted(_) if !encrypted => return Err(Reject::Unencrypted),
        Protection::SignedOnly if encrypted => return Err(DecodeError::UnknownKind(s.kind).into()),
        Protection::Encrypted(_) if s.cut - s.head < TAG_LEN => return Err(DecodeError::Truncated.into()),
        _ => {}
    }
    let (signed, sig) = bytes.split_at_mut_checked(s.cut).ok_or(DecodeError::Truncated)?;
    verify(dir, key, lock_id, signed, sig)?;
    let (aad, rest) = signed.split_at_mut_checked(s.head).ok_or(DecodeError::Truncated)?;
    let body: &'a [u8] = match protection {
        Protection::Encrypted(keys) => {
            let at = rest.len().checked_sub(TAG_LEN).ok_or(DecodeError::Truncated)?;
            let (body, tag) = rest.split_at_mut_checked(at).ok_or(DecodeError::Truncated)?;
            let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| DecodeError::Truncated)?;
            if !link::decrypt(keys, dir, s.header.seq, s.header.expires, aad, body, &tag) {
                return Err(Reject::BadCiphertext);
            }
            body
        }
        Protection::SignedOnly => rest,
    };
    Ok((s.header, s.kind & !ENCRYPTED_KIND, body))
}

/// The lock's side: checks that `bytes` is protected as `protection` says (a paired lock:
/// always [`Protection::Encrypted`]), the server's signature for this lock, the AEAD tag, the
/// body, the expiry against `clock`, and the sequence number against `replay`; on success
/// records the sequence number in `replay` and returns the message.
///
/// The body is decrypted **in place**: once a message passed the tag check, `bytes` holds its
/// plaintext body and cannot be opened again. On any error `replay` is unchanged.
pub fn open_down<'a>(
    bytes: &'a mut [u8],
    lock_id: &[u8],
    server_key: &VerifyingKey,
    protection: Protection<'_>,
    replay: &mut ReplayWindow,
    clock: Clock,
) -> Result<Opened<Down<'a>>, Reject> {
    let (header, kind, body) = unseal(Direction::Down, bytes, lock_id, server_key, protection)?;
    let body = Down::decode_body(kind, &mut Reader::new(body))?;
    clock.check(header.expires)?;
    if !replay.check(header.seq) {
        return Err(Reject::Replayed);
    }
    replay.accept(header.seq);
    Ok(Opened { header, body })
}

/// The server's side: as [`open_down`], for a message from lock `lock_id`, with the lock's
/// key, the expiry against `now` (the server's clock is trusted) and the lock's `replay`
/// window. The body is decrypted in place.
pub fn open_up<'a>(
    bytes: &'a mut [u8],
    lock_id: &[u8],
    lock_key: &VerifyingKey,
    protection: Protection<'_>,
    replay: &mut ReplayWindow,
    now: i64,
) -> Result<Opened<Up<'a>>, Reject> {
    let (header, kind, body) = unseal(Direction::Up, bytes, lock_id, lock_key, protection)?;
    let body = Up::decode_body(kind, &mut Reader::new(body))?;
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

//! Errors. Every decoder returns one of these; none of them panics.

use core::fmt;

/// Why bytes are not a well-formed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The input ends in the middle of a value.
    Truncated,
    /// Bytes are left after the message.
    TrailingBytes,
    /// A protocol version this implementation does not speak.
    UnsupportedVersion(u8),
    /// A message kind this implementation does not know (or one of the other direction).
    UnknownKind(u8),
    /// An unknown tag inside a message (change, event, reason...).
    UnknownTag(u8),
    /// A varint that is not in its shortest form.
    NonCanonical,
    /// A number or a length beyond what its field allows.
    OutOfRange,
    /// A value that is not allowed here (a boolean that is neither 0 nor 1, a PIN that is not
    /// 6 to 8 digits, two offset tables in one batch...).
    Invalid,
    /// The message is longer than [`crate::MAX_MESSAGE_LEN`].
    TooLong,
}

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// A value the wire format cannot carry (an empty or over-long lock id, too many changes,
    /// two offset tables in one batch, a string too long...).
    Invalid,
}

/// Why an authenticated message was refused. The receiver drops it (and may log the reason);
/// nothing about its state changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Not a well-formed message.
    Malformed(DecodeError),
    /// The signature does not verify under the expected key for this lock and direction.
    BadSignature,
    /// A signed-only message where the link is encrypted (a paired lock, the server in
    /// production): refused whatever it says, so nobody on the wire can turn encryption off.
    Unencrypted,
    /// Signed by the right key, but the AEAD tag does not verify under this lock's key for
    /// this direction: the sender derived its keys from another root secret or lock id.
    BadCiphertext,
    /// The message's expiry has passed (or lies before the receiver's last known good time).
    Expired,
    /// The expiry lies further ahead than [`crate::MAX_LIFETIME_SECS`].
    TooFarAhead,
    /// The sequence number was already accepted, or is too old for the replay window.
    Replayed,
}

/// Why a pairing step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PairError {
    /// A message for another pairing session.
    WrongSession,
    /// The peer's SPAKE2 message is not valid.
    BadKeyShare,
    /// The peer's key confirmation does not verify: it does not know the setup code (or the
    /// message was tampered with).
    BadConfirmation,
    /// A field the pairing cannot use (an invalid Ed25519 key, an empty lock id...).
    Invalid,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("message truncated"),
            DecodeError::TrailingBytes => f.write_str("trailing bytes after the message"),
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported protocol version {v}"),
            DecodeError::UnknownKind(k) => write!(f, "unknown message kind {k:#04x}"),
            DecodeError::UnknownTag(t) => write!(f, "unknown tag {t}"),
            DecodeError::NonCanonical => f.write_str("non-canonical varint"),
            DecodeError::OutOfRange => f.write_str("value out of range"),
            DecodeError::Invalid => f.write_str("invalid value"),
            DecodeError::TooLong => f.write_str("message too long"),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall => f.write_str("output buffer too small"),
            EncodeError::Invalid => f.write_str("value cannot be encoded"),
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::Malformed(e) => write!(f, "malformed message: {e}"),
            Reject::BadSignature => f.write_str("bad signature"),
            Reject::Unencrypted => f.write_str("unencrypted message on an encrypted link"),
            Reject::BadCiphertext => f.write_str("ciphertext does not decrypt under this link's key"),
            Reject::Expired => f.write_str("message expired"),
            Reject::TooFarAhead => f.write_str("message expiry too far ahead"),
            Reject::Replayed => f.write_str("message replayed"),
        }
    }
}

impl fmt::Display for PairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PairError::WrongSession => f.write_str("message of another pairing session"),
            PairError::BadKeyShare => f.write_str("invalid SPAKE2 message"),
            PairError::BadConfirmation => f.write_str("key confirmation failed (wrong setup code?)"),
            PairError::Invalid => f.write_str("invalid pairing field"),
        }
    }
}

impl From<DecodeError> for Reject {
    fn from(e: DecodeError) -> Self {
        Reject::Malformed(e)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}
#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}
#[cfg(feature = "std")]
impl std::error::Error for Reject {}
#[cfg(feature = "std")]
impl std::error::Error for PairError {}

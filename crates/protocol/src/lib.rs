//! Latchkey wire protocol: the compact, versioned, authenticated messages between the server
//! and its locks, carried over MQTT. `no_std`, no heap on the lock's paths (messages encode into
//! `&mut [u8]` and decode borrowing from `&[u8]`; only the SPAKE2 pairing allocates a little,
//! once). `docs/protocol.md` is the specification.
//!
//! - **Pairing** ([`pairing`]): SPAKE2 over the lock's [`SetupCode`], key confirmation both
//!   ways, the root secret sealed under a key only the two ends can derive.
//! - **Encrypted, signed messages** ([`seal_down`] / [`open_down`], [`seal_up`] /
//!   [`open_up`]): every message after pairing carries a sequence number and an expiry; its body
//!   is encrypted with ChaCha20-Poly1305 under a key of its direction derived from the lock's
//!   root secret ([`LinkKeys`], [`link`]), the header being the associated data, and the whole is
//!   signed with Ed25519 (the server's key downward, the lock's key upward), bound to the lock's
//!   id and direction. The receiver checks protection ([`Protection`]: a signed-only message
//!   is refused on an encrypted link), signature, tag, expiry ([`Clock`]) and replay
//!   ([`ReplayWindow`]).
//! - **Bodies**: [`Down`] (`Sync`, `Time`, `EventsAck`, `Unlock`, `Unpair`) and [`Up`]
//!   (`Hello`, `SyncAck`, `Events`, `UnlockResult`), mapped to and from lock-core's `Change`,
//!   `Event`, `Reason` and `ApplyError`.
//! - **Broker logins** ([`broker`]): the MQTT user names and the passwords derived from a
//!   lock's root secret or the server's broker secret.
//! - **Topics** ([`topics`]): `latchkey/v1/locks/{lock_id}/up|down`,
//!   `latchkey/v1/pair/{discriminator}/up|down`.
//!
//! Every decoder returns an error on malformed input and never panics (property-tested).
//!
//! ```
//! use latchkey_protocol::{
//!     Clock, Down, Header, LinkKeys, Protection, ReplayWindow, SigningKey, Unlock, open_down, seal_down,
//! };
//! use latchkey_lock_core::RootSecret;
//!
//! let server = SigningKey::from_bytes(&[7; 32]); // the server's key (random in real life)
//! let lock_id = b"lk_front_door";
//! // Both ends hold the root secret from pairing and derive the same link keys from it.
//! let keys = LinkKeys::derive(&RootSecret([3; 32]), lock_id);
//! let now = 1_800_000_000;
//!
//! // Server: a remote unlock for lock-local user 12, valid for 30 s.
//! let mut buf = [0u8; 128];
//! let header = Header { seq: 41, expires: now + 30 };
//! let unlock = Down::Unlock(Unlock { command: 7, user: 12 });
//! let n = seal_down(&server, Protection::Encrypted(&keys), lock_id, header, &unlock, &mut buf).unwrap();
//! let sent = buf[..n].to_vec();
//!
//! // Lock: checks signature, tag, expiry and sequence number, and decrypts in place.
//! let mut replay = ReplayWindow::new();
//! let (vk, link) = (server.verifying_key(), Protection::Encrypted(&keys));
//! let mut bytes = sent.clone();
//! let msg = open_down(&mut bytes, lock_id, &vk, link, &mut replay, Clock::Trusted(now)).unwrap();
//! assert_eq!(msg.body, unlock);
//! // The same bytes again are a replay.
//! let mut again = sent.clone();
//! assert!(open_down(&mut again, lock_id, &vk, link, &mut replay, Clock::Trusted(now)).is_err());
//! ```
#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod broker;
mod codec;
mod envelope;
mod error;
mod events;
pub mod link;
mod message;
pub mod pairing;
mod sync;
pub mod topics;

pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use envelope::{
    Clock, Direction, Header, Opened, Peek, ReplayWindow, SIGNATURE_LEN, decode_down, decode_up, open_down, open_up,
    peek, seal_down, seal_up,
};
pub use error::{DecodeError, EncodeError, PairError, Reject};
pub use events::{
    EventIter, EventStats, Events, MAX_EVENT_LEN, MAX_EVENTS, apply_error_code, apply_error_from_code, reason_code,
    reason_from_code, reason_name,
};
pub use link::{LinkKeys, Protection};
pub use message::{
    Bolt, Down, EventsAck, Hello, Nonce, SyncAck, SyncStatus, Time, Unlock, UnlockOutcome, UnlockResult, Up,
};
pub use pairing::{
    LockPairing, PairAttempts, PairDone, PairFinish, PairRefused, PairReply, PairStart, Paired, Pairing, ServerPairing,
    SetupCode, decode_pairing, encode_pairing,
};
pub use sync::{MAX_CHANGES, PinCode, Sync, SyncChange, SyncChanges, User};

/// The protocol version: the first byte of every message.
pub const VERSION: u8 = 1;

/// Longest message, in bytes (a full snapshot of a standard lock fits with room to spare).
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Longest lifetime a message may claim: a receiver with a trusted clock refuses a message
/// whose expiry lies further ahead than this.
pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;

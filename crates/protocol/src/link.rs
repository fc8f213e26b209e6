//! End-to-end encryption of the link between the server and one paired lock
//! (`docs/protocol.md`, "Encrypted messages").
//!
//! Every message after pairing is encrypted with ChaCha20-Poly1305 (RFC 8439, RustCrypto's
//! `chacha20poly1305`) under a key of its direction, derived from the lock's root secret and
//! bound to the lock's id ([`LinkKeys`]), and then signed as before. The nonce is made from the
//! message's sequence number and expiry ([`nonce`]), which the sender never repeats; the header
//! is the associated data. Which protection a receiver expects is its own setting
//! ([`Protection`]), never something a message can ask for: a paired lock and the server in
//! production always use [`Protection::Encrypted`] and refuse signed-only messages
//! ([`crate::Reject::Unencrypted`]).

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use hkdf::Hkdf;
use latchkey_lock_core::RootSecret;
use sha2::Sha256;

use crate::envelope::Direction;

/// Length of the AEAD tag that follows the ciphertext.
pub const TAG_LEN: usize = 16;

/// The bit of the kind byte that marks an encrypted message: kind `0x24` is an encrypted
/// `Unlock` (`0x04`), `0xa4` an encrypted `UnlockResult` (`0x84`).
pub const ENCRYPTED_KIND: u8 = 0x20;

/// The HKDF salt of the link keys.
const SALT: &[u8] = b"latchkey/v1 link";
/// The HKDF infos (followed by `u8 len(lock_id) || lock_id`).
const INFO_DOWN: &[u8] = b"latchkey/v1 link key down";
const INFO_UP: &[u8] = b"latchkey/v1 link key up";

/// The two AEAD keys of one lock's link: server to lock, and lock to server.
///
/// `PRK = HKDF-Extract(salt = "latchkey/v1 link", root secret)`, then
/// `HKDF-Expand(PRK, "latchkey/v1 link key down" || u8 len(lock_id) || lock_id, 32)` and the
/// same with `"latchkey/v1 link key up"`. Both ends compute them from what pairing gave them;
/// they never travel. Zeroed when dropped.
#[derive(Clone)]
pub struct LinkKeys {
    down: [u8; 32],
    up: [u8; 32],
}

impl LinkKeys {
    /// Derives the keys of lock `lock_id` from its root secret.
    pub fn derive(root: &RootSecret, lock_id: &[u8]) -> LinkKeys {
        let hk = Hkdf::<Sha256>::new(Some(SALT), &root.0);
        // Lock ids are at most 64 bytes (`seal_*` refuses longer ones), so the length byte is
        // exact for every id that can be used.
        let len = [lock_id.len().min(255) as u8];
        let mut keys = LinkKeys {
            down: [0; 32],
            up: [0; 32],
        };
        // 32 bytes is far below HKDF-SHA-256's limit of 8160, so expanding cannot fail; should
        // it ever, the keys would stay zero and every message would be refused, not accepted.
        let _ = hk.expand_multi_info(&[INFO_DOWN, &len, lock_id], &mut keys.down);
        let _ = hk.expand_multi_info(&[INFO_UP, &len, lock_id], &mut keys.up);
        keys
    }

    /// The server-to-lock key (for test vectors and tools).
    pub fn down_key(&self) -> &[u8; 32] {
        &self.down
    }

    /// The lock-to-server key (for test vectors and tools).
    pub fn up_key(&self) -> &[u8; 32] {
        &self.up
    }

    fn cipher(&self, dir: Direction) -> ChaCha20Poly1305 {
        let key = match dir {
            Direction::Down => &self.down,
            Direction::Up => &self.up,
        };
        ChaCha20Poly1305::new(&(*key).into())
    }
}

impl Drop for LinkKeys {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.down.zeroize();
        self.up.zeroize();
    }
}

impl core::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LinkKeys(..)")
    }
}

/// How the messages of a link are protected: the receiver's (and the sender's) own setting,
/// never read from a message, so no one on the wire can choose it.
#[derive(Clone, Copy, Debug)]
pub enum Protection<'k> {
    /// Encrypted with the link's keys, then signed. What every paired lock and the server use.
    /// A receiver in this mode refuses signed-only messages ([`crate::Reject::Unencrypted`]).
    Encrypted(&'k LinkKeys),
    /// Signed only, the body in the clear: the link of the first round, kept only so that
    /// benchmarks can measure what encryption costs. **Production never uses it**; it is
    /// reachable only from code (the virtual lock's `LinkMode`, the server's
    /// `signed_only_link` setting), never from the wire.
    SignedOnly,
}

/// The 12-byte ChaCha20-Poly1305 nonce of a message: `u64 LE seq || u32 LE (expires mod 2^32)`.
///
/// Each direction of each pairing has its own key, and its sender never uses a sequence number
/// twice (`docs/protocol.md`, "Nonces"), so a nonce never repeats under one key. The expiry
/// is in it as well so that a sender whose counter was rewound (a database or a lock's state
/// restored from a backup) still does not repeat a nonce unless its clock was also rewound to
/// the same second.
pub fn nonce(seq: u64, expires: i64) -> [u8; 12] {
    let mut n = [0u8; 12];
    let (a, b) = n.split_at_mut(8);
    a.copy_from_slice(&seq.to_le_bytes());
    b.copy_from_slice(&(expires as u32).to_le_bytes());
    n
}

/// Encrypts `body` in place; returns the tag.
pub(crate) fn encrypt(
    keys: &LinkKeys,
    dir: Direction,
    seq: u64,
    expires: i64,
    aad: &[u8],
    body: &mut [u8],
) -> Option<[u8; TAG_LEN]> {
    let n = nonce(seq, expires);
    let tag = keys
        .cipher(dir)
        .encrypt_inout_detached(&n.into(), aad, body.into())
        .ok()?;
    Some(tag.into())
}

/// Checks the tag and decrypts `body` in place; on failure `body` is unchanged.
pub(crate) fn decrypt(
    keys: &LinkKeys,
    dir: Direction,
    seq: u64,
    expires: i64,
    aad: &[u8],
    body: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> bool {
    let n = nonce(seq, expires);
    keys.cipher(dir)
        .decrypt_inout_detached(&n.into(), aad, body.into(), &(*tag).into())
        .is_ok()
}

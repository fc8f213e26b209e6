//! MQTT broker logins (`docs/design/broker-auth.md`).
//!
//! The embedded broker admits three kinds of client, told apart by the MQTT user name:
//!
//! - [`SERVER_USERNAME`]: the server's own client, with a password the server derives from its
//!   broker secret ([`server_password`]);
//! - [`PAIRING_USERNAME`] with the fixed, public [`PAIRING_PASSWORD`]: an unpaired lock. The
//!   pairing exchange is protected by SPAKE2, not by this login;
//! - a **lock id**: a paired lock, with the password [`lock_password`] derives from the root
//!   secret the lock received when it paired. Lock and server both hold that secret, so the
//!   password never travels anywhere but in the lock's CONNECT.
//!
//! Passwords are HMAC-SHA256 outputs written as 64 lowercase hex digits (ASCII, so they fit an
//! MQTT password field and a log-safe config file alike). No allocation, `no_std`.

use hmac::{Hmac, KeyInit, Mac};
use latchkey_lock_core::RootSecret;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The user name of the server's own MQTT client.
pub const SERVER_USERNAME: &str = "latchkey-server";
/// The user name of an unpaired lock.
pub const PAIRING_USERNAME: &str = "pairing";
/// The password of [`PAIRING_USERNAME`]. Public by design: it keeps casual clients off the
/// broker, nothing more (pairing messages are protected by SPAKE2).
pub const PAIRING_PASSWORD: &str = "latchkey-pairing-v1";

/// Label of a paired lock's broker password (HMAC message prefix).
const LOCK_LABEL: &[u8] = b"latchkey broker login v1";
/// Label of the server's broker password.
const SERVER_LABEL: &[u8] = b"latchkey broker server login v1";

/// A derived broker password: 64 lowercase hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerPassword([u8; 64]);

impl BrokerPassword {
    /// The password as text (always 64 ASCII hex digits).
    pub fn as_str(&self) -> &str {
        // Only hex digits are ever written into the array.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Whether `given` is this password, in constant time.
    pub fn matches(&self, given: &[u8]) -> bool {
        given.len() == self.0.len() && bool::from(self.0.ct_eq(given))
    }

    fn from_mac(mac: [u8; 32]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, b) in mac.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        BrokerPassword(out)
    }
}

impl core::fmt::Debug for BrokerPassword {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BrokerPassword(..)")
    }
}

fn derive(key: &[u8; 32], label: &[u8], who: &[u8]) -> BrokerPassword {
    // HMAC accepts keys of any length, so this cannot fail for a 32-byte key.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(label);
    // Length-prefixed, so that no (label, who) pair reads as another.
    mac.update(&[who.len().min(255) as u8]);
    mac.update(who);
    BrokerPassword::from_mac(mac.finalize().into_bytes().into())
}

/// The broker password of the paired lock `lock_id`: hex of
/// `HMAC-SHA256(root, "latchkey broker login v1" || u8 len(lock_id) || lock_id)`.
///
/// Distinct from every guest-code key derived from the same root secret (a different label),
/// and bound to the lock id.
pub fn lock_password(root: &RootSecret, lock_id: &str) -> BrokerPassword {
    derive(&root.0, LOCK_LABEL, lock_id.as_bytes())
}

/// The server's broker password: hex of
/// `HMAC-SHA256(broker_secret, "latchkey broker server login v1" || u8 15 || "latchkey-server")`.
pub fn server_password(broker_secret: &[u8; 32]) -> BrokerPassword {
    derive(broker_secret, SERVER_LABEL, SERVER_USERNAME.as_bytes())
}

/// The suffix of the server's shared-subscription group on the embedded broker: 16 hex digits
/// of `HMAC-SHA256(broker_secret, "latchkey broker share group v1" || u8 0)`. The embedded
/// broker has no topic ACLs, so a group name anyone can guess would let any login (the public
/// `pairing` one) join the servers' group and take lock messages away from them.
pub fn share_group_suffix(broker_secret: &[u8; 32]) -> [u8; 16] {
    let p = derive(broker_secret, SHARE_GROUP_LABEL, b"");
    let mut out = [0u8; 16];
    out.copy_from_slice(p.as_str().as_bytes().get(..16).unwrap_or(&[b'0'; 16]));
    out
}

const SHARE_GROUP_LABEL: &[u8] = b"latchkey broker share group v1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_group_suffix_is_secret_dependent_hex() {
        let a = share_group_suffix(&[1; 32]);
        let b = share_group_suffix(&[2; 32]);
        assert_ne!(a, b);
        assert!(a.iter().all(u8::is_ascii_hexdigit));
        assert_eq!(share_group_suffix(&[1; 32]), a);
        // Not a prefix of the server's password under the same secret.
        assert_ne!(&server_password(&[1; 32]).as_str().as_bytes()[..16], &a[..]);
    }

    #[test]
    fn lock_password_is_hmac_sha256_in_hex() {
        let root = RootSecret([0x42; 32]);
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&[0x42; 32]).unwrap();
        mac.update(b"latchkey broker login v1");
        mac.update(&[13]);
        mac.update(b"lk_front_door");
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        let p = lock_password(&root, "lk_front_door");
        assert_eq!(p, BrokerPassword::from_mac(expected));
        assert_eq!(p.as_str().len(), 64);
        assert!(
            p.as_str()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn test_vectors_match_the_docs() {
        // docs/design/broker-auth.md, "Test vectors" (computed independently with Python's hmac).
        assert_eq!(
            lock_password(&RootSecret([0x42; 32]), "lk_front_door").as_str(),
            "55c279a8d6ecdc65b3140431c0550e7cb2111d808cfe6d3ab0e8aeb635ee8db9"
        );
        assert_eq!(
            server_password(&[0x07; 32]).as_str(),
            "f4c1d41face22e8bb738e60eeb9fe6a7633921dd6fd0f73074ea4f3e833717e3"
        );
    }

    #[test]
    fn passwords_differ_by_lock_root_and_role() {
        let a = lock_password(&RootSecret([1; 32]), "lk_a");
        assert_ne!(a, lock_password(&RootSecret([1; 32]), "lk_b"), "bound to the lock id");
        assert_ne!(
            a,
            lock_password(&RootSecret([2; 32]), "lk_a"),
            "bound to the root secret"
        );
        assert_ne!(
            server_password(&[1; 32]),
            lock_password(&RootSecret([1; 32]), SERVER_USERNAME),
            "a lock password is never the server's"
        );
        assert_ne!(a.as_str(), PAIRING_PASSWORD);
    }

    #[test]
    fn matches_is_exact() {
        let p = lock_password(&RootSecret([9; 32]), "lk_x");
        assert!(p.matches(p.as_str().as_bytes()));
        assert!(!p.matches(b""));
        assert!(!p.matches(&p.as_str().as_bytes()[..63]));
        let mut wrong = [0u8; 64];
        wrong.copy_from_slice(p.as_str().as_bytes());
        wrong[63] ^= 1;
        assert!(!p.matches(&wrong));
    }
}

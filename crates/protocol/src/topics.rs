//! MQTT topic names. Every lock has its own pair of topics, laid out so that a broker's access
//! control can let a lock read only its `down` topic and write only its `up` topic (the server
//! reads all `up` topics and writes all `down` topics); the embedded broker checks logins
//! ([`crate::broker`]) but has no such ACLs yet. Pairing uses topics named by the setup code's
//! public discriminator, never by anything secret.

use core::fmt::Write;

use latchkey_lock_core::MAX_LOCK_ID;

/// Prefix of every topic; the `v1` changes with the protocol's major version.
pub const ROOT: &str = "latchkey/v1";
/// The server's subscription to every lock's `up` topic.
pub const LOCK_UP_FILTER: &str = "latchkey/v1/locks/+/up";
/// The server's subscription to every pairing `up` topic.
pub const PAIRING_UP_FILTER: &str = "latchkey/v1/pair/+/up";

/// A topic name.
pub type Topic = heapless::String<96>;

/// Whether `lock_id` can name a topic: 1 to 64 bytes of printable ASCII other than `/`, `+`
/// and `#`.
pub fn valid_lock_id(lock_id: &str) -> bool {
    !lock_id.is_empty()
        && lock_id.len() <= MAX_LOCK_ID
        && lock_id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'+' | b'#'))
}

fn lock_topic(lock_id: &str, dir: &str) -> Option<Topic> {
    if !valid_lock_id(lock_id) {
        return None;
    }
    let mut t = Topic::new();
    write!(t, "{ROOT}/locks/{lock_id}/{dir}").ok()?;
    Some(t)
}

/// `latchkey/v1/locks/{lock_id}/up`: lock to server (signed by the lock).
pub fn lock_up(lock_id: &str) -> Option<Topic> {
    lock_topic(lock_id, "up")
}

/// `latchkey/v1/locks/{lock_id}/down`: server to lock (signed by the server).
pub fn lock_down(lock_id: &str) -> Option<Topic> {
    lock_topic(lock_id, "down")
}

/// The lock id of a lock's `up` topic, as the server receives it on [`LOCK_UP_FILTER`].
pub fn parse_lock_up(topic: &str) -> Option<&str> {
    let id = topic.strip_prefix(ROOT)?.strip_prefix("/locks/")?.strip_suffix("/up")?;
    valid_lock_id(id).then_some(id)
}

fn pairing_topic(discriminator: u16, dir: &str) -> Option<Topic> {
    if discriminator > 999 {
        return None;
    }
    let mut t = Topic::new();
    write!(t, "{ROOT}/pair/{discriminator:03}/{dir}").ok()?;
    Some(t)
}

/// `latchkey/v1/pair/{ddd}/down`: server to unpaired locks with this discriminator.
pub fn pairing_down(discriminator: u16) -> Option<Topic> {
    pairing_topic(discriminator, "down")
}

/// `latchkey/v1/pair/{ddd}/up`: unpaired locks with this discriminator to the server.
pub fn pairing_up(discriminator: u16) -> Option<Topic> {
    pairing_topic(discriminator, "up")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert_eq!(lock_up("lk_42").unwrap().as_str(), "latchkey/v1/locks/lk_42/up");
        assert_eq!(lock_down("lk_42").unwrap().as_str(), "latchkey/v1/locks/lk_42/down");
        assert_eq!(parse_lock_up("latchkey/v1/locks/lk_42/up"), Some("lk_42"));
        assert_eq!(parse_lock_up("latchkey/v1/locks/lk_42/down"), None);
        assert_eq!(parse_lock_up("latchkey/v1/locks/a/b/up"), None);
        for bad in ["", "a/b", "a+", "#", "a b", "é"] {
            assert!(lock_up(bad).is_none(), "{bad:?}");
        }
        let long = "x".repeat(65);
        assert!(lock_up(&long).is_none());
        assert!(lock_up(&"x".repeat(64)).is_some());
        assert_eq!(pairing_down(7).unwrap().as_str(), "latchkey/v1/pair/007/down");
        assert_eq!(pairing_up(999).unwrap().as_str(), "latchkey/v1/pair/999/up");
        assert!(pairing_up(1000).is_none());
    }
}

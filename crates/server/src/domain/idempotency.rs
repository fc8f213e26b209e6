//! "Nothing made twice": a creating request that carries an idempotency key (the API's
//! `Idempotency-Key` header, a hidden field of the web forms) and comes again (a reload, a
//! double tap, a retry over a bad network) answers with what the first one made.
//!
//! The key is remembered per caller, in the transaction that makes the thing, together with
//! what was asked (a digest): the same key with a different request is refused rather than
//! guessed at. Keys are forgotten after `KEEP_HOURS`.

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::access::Caller;
use super::{Error, Result, ms};
use crate::store::{self, Conn, IdempotencyRow};

/// How long a key is remembered: long past any retry.
pub const KEEP_HOURS: i64 = 24;

/// An idempotency key as a client sent it: 1 to 255 visible ASCII characters.
pub fn parse_key(text: &str) -> std::result::Result<String, String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("an idempotency key is 1 to 255 visible ASCII characters".into());
    }
    Ok(text.to_string())
}

/// A digest of a request's fields, to tell the same request from another one.
pub fn fingerprint(fields: &[&str]) -> String {
    let mut h = Sha256::new();
    for f in fields {
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

/// One creating request's idempotency: its key (if the client sent one), what it makes where
/// (`scope`) and what it asks (`fingerprint`).
pub struct Idem<'a> {
    pub key: Option<&'a str>,
    pub scope: String,
    pub fingerprint: String,
}

impl Idem<'_> {
    /// The id of what the first request with this key made, if there was one. The same key
    /// with another request is refused (422 on `idempotency_key`).
    pub async fn replay(&self, c: &mut Conn, caller: &Caller, now: Timestamp) -> Result<Option<String>> {
        let Some(key) = self.key else { return Ok(None) };
        let Some(row) = store::idempotency_key(c, caller.id(), key).await? else {
            return Ok(None);
        };
        if row.created_at < ms(now) - KEEP_HOURS * 3_600_000 {
            return Ok(None);
        }
        if row.scope != self.scope || row.fingerprint != self.fingerprint {
            return Err(Error::invalid(
                "idempotency_key",
                "this idempotency key was used for a different request; send a new key",
            ));
        }
        Ok(Some(row.result_id))
    }

    /// Remembers what this request made, in the transaction that made it.
    pub async fn remember(&self, c: &mut Conn, caller: &Caller, result_id: &str, now: Timestamp) -> Result<()> {
        let Some(key) = self.key else { return Ok(()) };
        // An expired row of the same key gives way.
        store::prune_idempotency_keys(c, ms(now) - KEEP_HOURS * 3_600_000).await?;
        let row = IdempotencyRow {
            account_id: caller.id().to_string(),
            key: key.to_string(),
            scope: self.scope.clone(),
            fingerprint: self.fingerprint.clone(),
            result_id: result_id.to_string(),
            created_at: ms(now),
        };
        match store::insert_idempotency_key(c, &row).await {
            Ok(()) => Ok(()),
            // Two requests with one key at once: the other one made it; this one rolls back.
            Err(e) if e.unique_violation().is_some() => Err(Error::Conflict(
                "a request with this idempotency key is in progress; retry it".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(parse_key("0f3a-42").is_ok());
        assert!(parse_key("").is_err());
        assert!(parse_key("with space").is_err());
        assert!(parse_key(&"a".repeat(256)).is_err());
        assert!(parse_key("é").is_err());
    }

    #[test]
    fn fingerprints_tell_field_boundaries_apart() {
        assert_eq!(fingerprint(&["a", "b"]), fingerprint(&["a", "b"]));
        assert_ne!(fingerprint(&["ab", ""]), fingerprint(&["a", "b"]));
    }
}

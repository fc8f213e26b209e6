//! The JSON files that carry guest-code secrets (feature `std`), specified in
//! `docs/guest-codes.md`, "Files".
//!
//! - An **issuer file** ([`IssuerFile`], format `latchkey-issuer/1`) holds one issuer key: what
//!   an Admin's device needs to mint codes offline. The server exports it through
//!   `POST /locks/{id}/issuers` (response field `file`).
//! - A **lock secret file** ([`SecretFile`], format `latchkey-lock-secret/1`) holds a lock's
//!   root secret and its issuer table, so that a tool can verify codes as that lock would.
//!
//! Parsing never panics; every error is a one-line message naming the file kind and the field.

use std::fmt;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use serde::Deserialize;

use crate::{ISSUER_SLOTS, IssuerKey, IssuerState, MAX_LOCK_ID, RootSecret};

/// The `format` value of an issuer file.
pub const ISSUER_FORMAT: &str = "latchkey-issuer/1";
/// The `format` value of a lock secret file.
pub const SECRET_FORMAT: &str = "latchkey-lock-secret/1";
/// Longest `issuer_id` accepted, in bytes.
pub const MAX_ISSUER_ID: usize = 128;

/// A file that could not be read as what it claims to be. The message is one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError(String);

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FileError {}

fn err(kind: &str, msg: impl fmt::Display) -> FileError {
    FileError(format!("{kind}: {msg}"))
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// 32 bytes from exactly 64 hex digits (either case).
pub fn from_hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// `s` as a JSON string literal, quoted and escaped.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Parses `text` as `T` once it is known to be a JSON object whose `format` is `want`, so that
/// a wrong file gets a message about its format rather than about the first field it lacks.
fn parse_json<'a, T: Deserialize<'a>>(kind: &str, want: &str, text: &'a str) -> Result<T, FileError> {
    let head: serde_json::Value = serde_json::from_str(text).map_err(|e| err(kind, e))?;
    let Some(object) = head.as_object() else {
        return Err(err(kind, "expected a JSON object"));
    };
    match object.get("format") {
        Some(serde_json::Value::String(f)) if f == want => {}
        Some(found) => {
            return Err(err(
                kind,
                format!("format is {found}, expected \"{want}\" (is this the right file?)"),
            ));
        }
        None => return Err(err(kind, format!("no format field (expected \"{want}\")"))),
    }
    serde_json::from_str(text).map_err(|e| err(kind, e))
}

fn check_slot(kind: &str, field: &str, slot: u8) -> Result<(), FileError> {
    if usize::from(slot) < ISSUER_SLOTS {
        Ok(())
    } else {
        Err(err(kind, format!("{field} slot {slot} is out of range (0..=7)")))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerJson {
    #[allow(dead_code)]
    format: String,
    issuer_id: String,
    lock_id: Option<String>,
    slot: u8,
    epoch: u32,
    key: String,
}

/// An issuer file: one issuer key, for minting.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuerFile {
    /// Who this issuer is, for people and the server (e.g. an Admin device's id); not part of
    /// any MAC.
    pub issuer_id: String,
    /// The lock the key belongs to, if the exporter knew it; minting for another lock id is
    /// refused by the CLI.
    pub lock_id: Option<String>,
    /// The issuer slot (0 is the server, 1..=7 Admin devices).
    pub slot: u8,
    /// The epoch the key was derived for.
    pub epoch: u32,
    /// `RootSecret::issuer_key(slot, epoch)`.
    pub key: IssuerKey,
}

impl fmt::Debug for IssuerFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerFile")
            .field("issuer_id", &self.issuer_id)
            .field("lock_id", &self.lock_id)
            .field("slot", &self.slot)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl IssuerFile {
    /// Reads an issuer file's text.
    pub fn parse(text: &str) -> Result<IssuerFile, FileError> {
        const KIND: &str = "issuer file";
        let j: IssuerJson = parse_json(KIND, ISSUER_FORMAT, text)?;
        if j.issuer_id.is_empty() || j.issuer_id.len() > MAX_ISSUER_ID {
            return Err(err(KIND, "issuer_id must be 1 to 128 bytes"));
        }
        if j.lock_id.as_ref().is_some_and(|l| l.len() > MAX_LOCK_ID) {
            return Err(err(KIND, "lock_id is longer than 64 bytes"));
        }
        check_slot(KIND, "the", j.slot)?;
        let key = from_hex32(&j.key).ok_or_else(|| err(KIND, "key must be 64 hex digits"))?;
        Ok(IssuerFile {
            issuer_id: j.issuer_id,
            lock_id: j.lock_id,
            slot: j.slot,
            epoch: j.epoch,
            key: IssuerKey(key),
        })
    }

    /// The file's text: JSON, one field a line, in the documented order.
    pub fn to_json(&self) -> String {
        let lock_id = self.lock_id.as_deref().map_or("null".to_string(), json_string);
        format!(
            "{{\n  \"format\": {},\n  \"issuer_id\": {},\n  \"lock_id\": {},\n  \"slot\": {},\n  \"epoch\": {},\n  \"key\": \"{}\"\n}}\n",
            json_string(ISSUER_FORMAT),
            json_string(&self.issuer_id),
            lock_id,
            self.slot,
            self.epoch,
            to_hex(&self.key.0),
        )
    }
}

/// One issuer slot at one epoch, as listed in a lock secret file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotEpoch {
    /// The issuer slot (0..=7).
    pub slot: u8,
    /// The epoch.
    pub epoch: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretJson {
    #[allow(dead_code)]
    format: String,
    secret: String,
    issuers: Vec<SlotEpoch>,
    #[serde(default)]
    revoked: Vec<SlotEpoch>,
}

/// A lock secret file: the root secret and the lock's issuer table.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// The lock's root secret.
    pub secret: RootSecret,
    /// The active issuers: at most one entry per slot, with its current epoch.
    pub issuers: Vec<SlotEpoch>,
    /// The last revoked epoch of a slot (or of a disabled issuer): at most one entry per slot,
    /// below the slot's current epoch when the slot is active.
    pub revoked: Vec<SlotEpoch>,
}

impl fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretFile")
            .field("issuers", &self.issuers)
            .field("revoked", &self.revoked)
            .finish_non_exhaustive()
    }
}

impl SecretFile {
    /// Reads a lock secret file's text and checks its issuer table.
    pub fn parse(text: &str) -> Result<SecretFile, FileError> {
        const KIND: &str = "lock secret file";
        let j: SecretJson = parse_json(KIND, SECRET_FORMAT, text)?;
        let secret = from_hex32(&j.secret).ok_or_else(|| err(KIND, "secret must be 64 hex digits"))?;
        let file = SecretFile {
            secret: RootSecret(secret),
            issuers: j.issuers,
            revoked: j.revoked,
        };
        file.validate().map_err(|m| err(KIND, m))?;
        Ok(file)
    }

    /// Checks the issuer table: slots in range, one entry per slot in each list, and a revoked
    /// epoch below the current one.
    fn validate(&self) -> Result<(), String> {
        for (list, name) in [(&self.issuers, "issuers"), (&self.revoked, "revoked")] {
            let mut seen = [false; ISSUER_SLOTS];
            for e in list {
                let i = usize::from(e.slot);
                if i >= ISSUER_SLOTS {
                    return Err(format!("{name}: slot {} is out of range (0..=7)", e.slot));
                }
                if seen[i] {
                    return Err(format!("{name}: slot {} is listed twice", e.slot));
                }
                seen[i] = true;
            }
        }
        for r in &self.revoked {
            let current = self.issuers.iter().find(|a| a.slot == r.slot);
            if let Some(a) = current.filter(|a| r.epoch >= a.epoch) {
                return Err(format!(
                    "revoked: slot {} epoch {} is not below its current epoch {}",
                    r.slot, r.epoch, a.epoch
                ));
            }
        }
        Ok(())
    }

    /// The file's text: JSON in the documented order, one issuer entry a line.
    pub fn to_json(&self) -> String {
        let list = |l: &[SlotEpoch]| -> String {
            let items: Vec<String> = l
                .iter()
                .map(|e| format!("\n    {{ \"slot\": {}, \"epoch\": {} }}", e.slot, e.epoch))
                .collect();
            if items.is_empty() {
                "[]".to_string()
            } else {
                format!("[{}\n  ]", items.join(","))
            }
        };
        format!(
            "{{\n  \"format\": {},\n  \"secret\": \"{}\",\n  \"issuers\": {},\n  \"revoked\": {}\n}}\n",
            json_string(SECRET_FORMAT),
            to_hex(&self.secret.0),
            list(&self.issuers),
            list(&self.revoked),
        )
    }

    /// The lock's issuer table, with every key derived from the root secret.
    pub fn issuer_states(&self) -> [IssuerState; ISSUER_SLOTS] {
        let mut table = [IssuerState::EMPTY; ISSUER_SLOTS];
        for e in &self.issuers {
            if let Some(s) = table.get_mut(usize::from(e.slot)) {
                s.epoch = e.epoch;
                s.key = Some(self.secret.issuer_key(e.slot, e.epoch));
            }
        }
        for e in &self.revoked {
            if let Some(s) = table.get_mut(usize::from(e.slot)) {
                s.revoked_epoch = e.epoch;
                s.revoked_key = Some(self.secret.issuer_key(e.slot, e.epoch));
            }
        }
        table
    }

    /// The issuer file for `slot` at its current epoch; `None` if the slot is not active.
    pub fn issuer_file(&self, slot: u8, issuer_id: &str, lock_id: Option<&str>) -> Option<IssuerFile> {
        let e = self.issuers.iter().find(|e| e.slot == slot)?;
        Some(IssuerFile {
            issuer_id: issuer_id.to_string(),
            lock_id: lock_id.map(str::to_string),
            slot,
            epoch: e.epoch,
            key: self.secret.issuer_key(slot, e.epoch),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    const SECRET: &str = r#"{"format":"latchkey-lock-secret/1",
        "secret":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "issuers":[{"slot":0,"epoch":1},{"slot":1,"epoch":3}],
        "revoked":[{"slot":1,"epoch":2},{"slot":4,"epoch":9}]}"#;

    #[test]
    fn the_doc_examples_parse() {
        let doc = include_str!("../../../docs/guest-codes.md");
        let blocks: Vec<&str> = doc
            .split("```json\n")
            .skip(1)
            .filter_map(|b| b.split_once("```").map(|(json, _)| json))
            .collect();
        assert_eq!(blocks.len(), 2);
        let issuer = IssuerFile::parse(blocks[0]).expect("the issuer example");
        let lock = SecretFile::parse(blocks[1]).expect("the lock secret example");
        assert_eq!(
            lock.issuer_file(1, "x", None).map(|f| f.key),
            Some(lock.secret.issuer_key(1, 2))
        );
        // The issuer example holds secret A's key for slot 1 at epoch 1 (a test vector).
        assert_eq!(issuer.key, lock.secret.issuer_key(1, 1));
        assert_eq!(lock.issuer_states()[1].revoked_key, Some(issuer.key));
    }

    #[test]
    fn hex_round_trips() {
        let bytes: [u8; 32] = core::array::from_fn(|i| (i * 37) as u8);
        let h = to_hex(&bytes);
        assert_eq!(from_hex32(&h), Some(bytes));
        assert_eq!(from_hex32(&h.to_uppercase()), Some(bytes));
        assert_eq!(from_hex32(&h[..62]), None);
        assert_eq!(from_hex32(&format!("{}g", &h[..63])), None);
        assert_eq!(from_hex32(&format!("{}é", &h[..62])), None);
    }

    #[test]
    fn secret_file_round_trips_and_builds_the_table() {
        let f = SecretFile::parse(SECRET).expect("valid");
        assert_eq!(SecretFile::parse(&f.to_json()), Ok(f.clone()));
        let t = f.issuer_states();
        assert_eq!(t[1].epoch, 3);
        assert_eq!(t[1].key, Some(f.secret.issuer_key(1, 3)));
        assert_eq!(t[1].revoked_key, Some(f.secret.issuer_key(1, 2)));
        assert_eq!(t[4].key, None);
        assert_eq!(t[4].revoked_key, Some(f.secret.issuer_key(4, 9)));
        assert!(t[2].key.is_none() && t[2].revoked_key.is_none());
        let i = f.issuer_file(1, "phone \"1\"\n", Some("door \\ 7")).expect("active");
        assert_eq!((i.slot, i.epoch), (1, 3));
        assert_eq!(IssuerFile::parse(&i.to_json()), Ok(i));
        assert!(f.issuer_file(4, "x", None).is_none());
    }

    #[test]
    fn issuer_file_accepts_null_lock_id() {
        let text = r#"{"format":"latchkey-issuer/1","issuer_id":"a","lock_id":null,"slot":1,
            "epoch":1,"key":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}"#;
        let f = IssuerFile::parse(text).expect("valid");
        assert_eq!(f.lock_id, None);
        assert!(!format!("{f:?}").contains("0001"));
    }

    #[test]
    fn bad_files_give_one_line_messages() {
        let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let issuer = |body: &str| IssuerFile::parse(body).map(|_| ()).unwrap_err().0;
        let secret = |body: &str| SecretFile::parse(body).map(|_| ()).unwrap_err().0;
        let cases = vec![
            issuer(""),
            issuer("not json"),
            issuer("[]"),
            issuer(&format!(
                r#"{{"format":"latchkey-issuer/2","issuer_id":"a","lock_id":null,"slot":1,"epoch":1,"key":"{key}"}}"#
            )),
            issuer(&format!(
                r#"{{"format":"latchkey-issuer/1","issuer_id":"a","lock_id":null,"slot":8,"epoch":1,"key":"{key}"}}"#
            )),
            issuer(&format!(
                r#"{{"format":"latchkey-issuer/1","issuer_id":"","lock_id":null,"slot":1,"epoch":1,"key":"{key}"}}"#
            )),
            issuer(r#"{"format":"latchkey-issuer/1","issuer_id":"a","lock_id":null,"slot":1,"epoch":1,"key":"00"}"#),
            issuer(&format!(
                r#"{{"format":"latchkey-issuer/1","issuer_id":"a","lock_id":null,"slot":1,"epoch":-1,"key":"{key}"}}"#
            )),
            issuer(&format!(
                r#"{{"format":"latchkey-issuer/1","issuer_id":"a","lock_id":"{}","slot":1,"epoch":1,"key":"{key}"}}"#,
                "x".repeat(65)
            )),
            issuer(&format!(
                r#"{{"format":"latchkey-issuer/1","issuer_id":"a","slot":1,"epoch":1,"key":"{key}","extra":1}}"#
            )),
            secret(&format!(
                r#"{{"format":"latchkey-issuer/1","issuer_id":"a","lock_id":null,"slot":1,"epoch":1,"key":"{key}"}}"#
            )),
            secret(&format!(
                r#"{{"format":"latchkey-lock-secret/1","secret":"{key}","issuers":[{{"slot":1,"epoch":1}},{{"slot":1,"epoch":2}}]}}"#
            )),
            secret(&format!(
                r#"{{"format":"latchkey-lock-secret/1","secret":"{key}","issuers":[{{"slot":9,"epoch":1}}]}}"#
            )),
            secret(&format!(
                r#"{{"format":"latchkey-lock-secret/1","secret":"{key}","issuers":[{{"slot":1,"epoch":1}}],"revoked":[{{"slot":1,"epoch":1}}]}}"#
            )),
            secret(r#"{"format":"latchkey-lock-secret/1","secret":"zz","issuers":[]}"#),
        ];
        for m in cases {
            assert!(!m.contains('\n'), "{m}");
            assert!(
                m.starts_with("issuer file: ") || m.starts_with("lock secret file: "),
                "{m}"
            );
        }
    }
}

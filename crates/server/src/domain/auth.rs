//! Sign-in by SMS code, sessions and rate limits (`security.md`, "Sign-in").

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::access::Caller;
use super::types::{Name, PhoneNumber};
use super::{Domain, Error, FieldErrors, Result, ms};
use crate::store::{self, AccountRow, NewSession, SignInCodeRow};

/// A sign-in code lives this long.
pub const CODE_TTL_SECONDS: i64 = 5 * 60;
/// Wrong tries before a code dies.
pub const MAX_FAILURES: i64 = 5;

/// Hex SHA-256, used for session tokens (256 random bits: no salt needed).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn code_hash(salt: &str, phone: &str, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b"\0");
    h.update(phone.as_bytes());
    h.update(b"\0");
    h.update(code.as_bytes());
    hex::encode(h.finalize())
}

impl Domain {
    /// A uniformly random 6-digit code.
    fn six_digits(&self) -> String {
        loop {
            let n = u32::from_be_bytes(self.random::<4>());
            // Reject the top of the range so that every code is equally likely.
            if n < 4_294_000_000 {
                return format!("{:06}", n % 1_000_000);
            }
        }
    }

    /// The account of `phone`, created on first use.
    async fn account_for(&self, tx: &mut store::Conn, phone: &PhoneNumber, now: Timestamp) -> Result<AccountRow> {
        if let Some(a) = store::account_by_phone(tx, phone.as_str()).await? {
            return Ok(a);
        }
        let a = AccountRow {
            id: self.new_id("acc"),
            phone: phone.clone(),
            name: String::new(),
            created_at: ms(now),
            locale: None,
        };
        store::insert_account(tx, &a).await?;
        Ok(a)
    }

    /// Counts a hit against a rate limit in its own transaction (so that a refused attempt
    /// still counts) and refuses with 429 past the limit.
    pub(super) async fn rate_limit(&self, bucket: &str, limit: u32, now: Timestamp) -> Result<()> {
        let window_ms = self.settings.rate_window_seconds as i64 * 1000;
        let mut tx = self.store.begin().await?;
        let (hits, start) = store::rate_hit(&mut tx, bucket, ms(now), window_ms).await?;
        tx.commit().await?;
        if hits > limit as i64 {
            let retry_after = ((start + window_ms - ms(now)) / 1000).max(1) as u64;
            return Err(Error::RateLimited { retry_after });
        }
        Ok(())
    }

    /// `POST /auth/otp`: texts a sign-in code. Answers the same whether or not an account
    /// exists for the number.
    pub async fn request_sign_in_code(&self, phone: &str, client: &str, now: Timestamp) -> Result<()> {
        let phone = PhoneNumber::parse(phone).map_err(|m| Error::invalid("phone", m))?;
        self.rate_limit(&format!("client:{client}"), self.settings.otp_per_client, now)
            .await?;
        self.rate_limit(&format!("phone:{phone}"), self.settings.otp_per_phone, now)
            .await?;
        let code = self.six_digits();
        let salt = hex::encode(self.random::<16>());
        let row = SignInCodeRow {
            phone: phone.to_string(),
            code_hash: code_hash(&salt, phone.as_str(), &code),
            salt,
            expires_at: ms(now) + CODE_TTL_SECONDS * 1000,
            failures: 0,
        };
        let mut tx = self.store.begin().await?;
        store::put_sign_in_code(&mut tx, &row, ms(now)).await?;
        let body = format!("Your Latchkey sign-in code is {code}. It expires in 5 minutes. Never share it.");
        self.queue_sms(&mut tx, phone.as_str(), &body, "sign_in", now).await?;
        tx.commit().await?;
        self.sms_wake.notify_one();
        Ok(())
    }

    /// `POST /auth/session`: checks a code and opens a session; creates the account on first
    /// sign-in. Returns the token (shown once) and the account.
    pub async fn sign_in(&self, phone: &str, code: &str, client: &str, now: Timestamp) -> Result<(String, AccountRow)> {
        let mut errors = FieldErrors::default();
        let phone = errors.field("phone", PhoneNumber::parse(phone));
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            errors.add("code", "enter the 6 digits from the SMS");
        }
        errors.check()?;
        let phone = phone.ok_or_else(|| Error::Internal("phone parsed without value".into()))?;
        self.rate_limit(&format!("client:{client}"), self.settings.otp_per_client, now)
            .await?;

        let mut tx = self.store.begin().await?;
        let wrong = || Error::Unauthenticated;
        let Some(row) = store::sign_in_code(&mut tx, phone.as_str()).await? else {
            return Err(wrong());
        };
        if row.expires_at <= ms(now) || row.failures >= MAX_FAILURES {
            store::delete_sign_in_code(&mut tx, phone.as_str()).await?;
            tx.commit().await?;
            return Err(wrong());
        }
        let expected = code_hash(&row.salt, phone.as_str(), code);
        if !bool::from(expected.as_bytes().ct_eq(row.code_hash.as_bytes())) {
            if row.failures + 1 >= MAX_FAILURES {
                store::delete_sign_in_code(&mut tx, phone.as_str()).await?;
            } else {
                store::count_sign_in_failure(&mut tx, phone.as_str()).await?;
            }
            tx.commit().await?;
            return Err(wrong());
        }
        store::delete_sign_in_code(&mut tx, phone.as_str()).await?;
        let account = self.account_for(&mut tx, &phone, now).await?;
        let token = base64_token(self.random::<32>());
        let ttl = self.settings.session_ttl_days as i64 * 86_400_000;
        let session = NewSession {
            token_hash: &token_hash(&token),
            account_id: &account.id,
            created_at: ms(now),
            expires_at: ms(now) + ttl,
        };
        store::insert_session(&mut tx, &session).await?;
        tx.commit().await?;
        Ok((token, account))
    }

    /// The account for `phone`, created if new, acting without a session: for the operator's
    /// own set-up steps on the server's machine (`latchkey up` pairs its virtual lock to the
    /// owner this way). Nothing an HTTP client can reach calls it.
    pub async fn operator_account(&self, phone: &str, now: Timestamp) -> Result<Caller> {
        let mut errors = FieldErrors::default();
        let phone = errors.field("phone", PhoneNumber::parse(phone));
        errors.check()?;
        let phone = phone.ok_or_else(|| Error::Internal("phone parsed without value".into()))?;
        let mut tx = self.store.begin().await?;
        let account = self.account_for(&mut tx, &phone, now).await?;
        tx.commit().await?;
        Ok(Caller {
            account,
            token_hash: String::new(),
        })
    }

    /// Resolves a bearer token to its caller.
    pub async fn authenticate(&self, token: &str, now: Timestamp) -> Result<Caller> {
        if token.is_empty() || token.len() > 128 {
            return Err(Error::Unauthenticated);
        }
        let hash = token_hash(token);
        let mut c = self.store.read().await?;
        let account = store::session_account(&mut c, &hash, ms(now))
            .await?
            .ok_or(Error::Unauthenticated)?;
        Ok(Caller {
            account,
            token_hash: hash,
        })
    }

    /// `DELETE /auth/session`
    pub async fn sign_out(&self, caller: &Caller) -> Result<()> {
        let mut tx = self.store.begin().await?;
        store::delete_session(&mut tx, &caller.token_hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `PATCH /me`
    pub async fn rename_me(&self, caller: &Caller, name: &str) -> Result<AccountRow> {
        let name = Name::parse(name).map_err(|m| Error::invalid("name", m))?;
        let mut tx = self.store.begin().await?;
        store::set_account_name(&mut tx, caller.id(), name.as_str()).await?;
        let account = store::account_by_id(&mut tx, caller.id())
            .await?
            .ok_or(Error::Unauthenticated)?;
        tx.commit().await?;
        Ok(account)
    }
}

impl Domain {
    /// Sets the language the caller reads the web app in: `en`, `ko`, or `None` for the
    /// browser's.
    pub async fn set_my_locale(&self, caller: &Caller, locale: Option<&str>) -> Result<AccountRow> {
        let locale = match locale.map(str::trim).filter(|l| !l.is_empty()) {
            None => None,
            Some(l @ ("en" | "ko")) => Some(l),
            Some(_) => return Err(Error::invalid("locale", "must be en, ko or empty (the browser's)")),
        };
        let mut tx = self.store.begin().await?;
        store::set_account_locale(&mut tx, caller.id(), locale).await?;
        let account = store::account_by_id(&mut tx, caller.id())
            .await?
            .ok_or(Error::Unauthenticated)?;
        tx.commit().await?;
        Ok(account)
    }
}

fn base64_token(bytes: [u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

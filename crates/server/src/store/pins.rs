//! Keypad PINs of a lock's members, for `Domain::set_pin` (one PIN per lock, unique).

use super::{Conn, Result};

/// The member of `lock_id` holding `pin`, if any (its account id).
pub async fn pin_holder(c: &mut Conn, lock_id: &str, pin: &str) -> Result<Option<String>> {
    let holder: Option<String> = sqlx::query_scalar("SELECT account_id FROM members WHERE lock_id = $1 AND pin = $2")
        .bind(lock_id.to_string())
        .bind(pin.to_string())
        .fetch_optional(&mut *c)
        .await?;
    Ok(holder)
}

/// Clears a member's PIN at `version` (the lock forgets it on its next sync).
pub async fn clear_member_pin(c: &mut Conn, lock_id: &str, account_id: &str, version: i64) -> Result<()> {
    sqlx::query("UPDATE members SET pin = NULL, changed_version = $1 WHERE lock_id = $2 AND account_id = $3")
        .bind(version)
        .bind(lock_id.to_string())
        .bind(account_id.to_string())
        .execute(&mut *c)
        .await?;
    Ok(())
}

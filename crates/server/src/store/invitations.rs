//! Invitations by phone number.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::schedule::{StoredSchedule, schedule};
use super::{Conn, Result, decoded, map_err};
use crate::domain::types::{AccessLevel, InvitationStatus, PhoneNumber, Schedule};

#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub id: String,
    pub lock_id: String,
    pub phone: PhoneNumber,
    /// The invitee's name as the inviter typed it.
    pub name: Option<String>,
    pub access_level: AccessLevel,
    pub schedule: Option<Schedule>,
    pub status: InvitationStatus,
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub lock_name: String,
    pub invited_by_name: String,
}

const INVITATION_SELECT: &str = "SELECT i.id, i.lock_id, i.phone, i.name, i.access_level, i.schedule, \
    i.status, i.invited_by, i.created_at, i.expires_at, l.name AS lock_name, \
    COALESCE(a.name, '') AS invited_by_name FROM invitations i JOIN locks l ON l.id = i.lock_id \
    LEFT JOIN accounts a ON a.id = i.invited_by";

fn read_invitation(r: &AnyRow) -> Result<InvitationRow> {
    Ok(InvitationRow {
        id: r.try_get("id")?,
        lock_id: r.try_get("lock_id")?,
        phone: PhoneNumber::from_stored(r.try_get("phone")?),
        name: r.try_get("name")?,
        access_level: decoded(r, "access_level")?,
        schedule: schedule(r)?,
        status: decoded(r, "status")?,
        invited_by: r.try_get("invited_by")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        lock_name: r.try_get("lock_name")?,
        invited_by_name: r.try_get("invited_by_name")?,
    })
}

/// Marks pending invitations past their expiry as expired.
pub async fn expire_invitations(c: &mut Conn, now: i64) -> Result<()> {
    sqlx::query("UPDATE invitations SET status = 'expired' WHERE status = 'pending' AND expires_at <= $1")
        .bind(now)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn insert_invitation(c: &mut Conn, i: &InvitationRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO invitations (id, lock_id, phone, access_level, schedule, status, invited_by, \
         created_at, expires_at, name) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9)",
    )
    .bind(i.id.clone())
    .bind(i.lock_id.clone())
    .bind(i.phone.as_str().to_string())
    .bind(i.access_level.as_str().to_string())
    .bind(i.schedule.as_ref().map(StoredSchedule::encode))
    .bind(i.invited_by.clone())
    .bind(i.created_at)
    .bind(i.expires_at)
    .bind(i.name.clone())
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub async fn invitation(c: &mut Conn, id: &str) -> Result<Option<InvitationRow>> {
    let sql = format!("{INVITATION_SELECT} WHERE i.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await?;
    row.as_ref().map(read_invitation).transpose()
}

pub async fn lock_invitations(c: &mut Conn, lock_id: &str) -> Result<Vec<InvitationRow>> {
    let sql = format!("{INVITATION_SELECT} WHERE i.lock_id = $1 ORDER BY i.created_at DESC, i.id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lock_id.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_invitation).collect()
}

pub async fn pending_invitations_for_phone(c: &mut Conn, phone: &PhoneNumber, now: i64) -> Result<Vec<InvitationRow>> {
    let sql = format!(
        "{INVITATION_SELECT} WHERE i.phone = $1 AND i.status = 'pending' AND i.expires_at > $2 \
         ORDER BY i.created_at DESC, i.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(phone.as_str().to_string())
        .bind(now)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(read_invitation).collect()
}

/// Moves a pending invitation to `status`; false when it was no longer pending.
pub async fn respond_invitation(c: &mut Conn, id: &str, status: InvitationStatus, now: i64) -> Result<bool> {
    let done =
        sqlx::query("UPDATE invitations SET status = $1, responded_at = $2 WHERE id = $3 AND status = 'pending'")
            .bind(status.as_str().to_string())
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *c)
            .await?;
    Ok(done.rows_affected() == 1)
}

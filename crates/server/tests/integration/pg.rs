//! Fresh PostgreSQL databases for the tests that run on PostgreSQL too.
//!
//! `LATCHKEY_TEST_PG` (or the project-wide `LK_TEST_PG`, which `.ci/run` exports) names an
//! admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`; each test gets a database of
//! its own, `lk_<purpose>_<random>`, dropped when it is done. Without either variable the
//! PostgreSQL variants skip and say so, except with `CI=true`, where they fail.

use sqlx::Connection;

/// The admin URL, or `None` (skip) when none is set; a failure when `CI=true`.
pub fn admin_url() -> Option<String> {
    let url = std::env::var("LATCHKEY_TEST_PG")
        .ok()
        .or_else(|| std::env::var("LK_TEST_PG").ok())
        .filter(|u| !u.trim().is_empty());
    if url.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but neither LATCHKEY_TEST_PG nor LK_TEST_PG is set: the tests must run on PostgreSQL in CI"
        );
        eprintln!("SKIPPED on PostgreSQL: set LK_TEST_PG=postgres://USER@HOST:PORT/DB to run it");
    }
    url
}

/// A database made for one test.
#[derive(Debug, Clone)]
pub struct FreshDb {
    /// Its URL.
    pub url: String,
    pub name: String,
    admin: String,
}

impl FreshDb {
    /// Creates `lk_<purpose>_<random>` on the server `admin` points at.
    pub async fn create(admin: &str, purpose: &str) -> FreshDb {
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).expect("entropy");
        let name = format!("lk_{purpose}_{}", hex::encode(bytes));
        let mut conn = sqlx::PgConnection::connect(admin)
            .await
            .unwrap_or_else(|e| panic!("the PostgreSQL admin URL {admin} is not reachable: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let _ = conn.close().await;
        let (base, _) = admin.rsplit_once('/').unwrap_or((admin, ""));
        FreshDb {
            url: format!("{base}/{name}"),
            name,
            admin: admin.to_string(),
        }
    }

    /// A fresh database when the environment offers a server (see `admin_url`).
    pub async fn if_configured(purpose: &str) -> Option<FreshDb> {
        match admin_url() {
            Some(admin) => Some(FreshDb::create(&admin, purpose).await),
            None => None,
        }
    }

    /// Drops it (best effort: connections still open are ended).
    pub async fn drop_now(&self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut conn)
            .await;
            let _ = conn.close().await;
        }
    }
}

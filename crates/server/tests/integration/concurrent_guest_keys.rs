//! Guest-key creations on one lock at once (issue 19): the lock row is taken only just before
//! commit, so creations overlap and the database's checks decide. Each must get its own code,
//! key number and lock version, and the lock must be told of every one.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use latchkey_server::store::Store;
use sqlx::Row;

use crate::kit::*;

async fn concurrent_creations(backend: Backend) {
    let h = Harness::start(backend).await;
    let ana = h.user("Ana").await;
    let lock = h.pair(&ana, "Front door", "Europe/Berlin").await;
    let changes_before = h.gateway.changes.load(Ordering::SeqCst);

    // Six at once on one window (each mints the same first code, so all but one lose that race
    // and start again), and six on windows of their own.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let client = ana.client.clone();
        let lock_id = lock.id.clone();
        let (start, end) = if i < 6 {
            ("2027-07-01T10:00".to_string(), "2027-07-01T12:00".to_string())
        } else {
            (format!("2027-08-{:02}T10:00", i), format!("2027-08-{:02}T12:00", i))
        };
        tasks.push(tokio::spawn(async move {
            client
                .create_guest_key(&lock_id, &guest_key(&format!("Guest {i}"), None, &start, &end))
                .await
        }));
    }
    let mut keys = Vec::new();
    for t in tasks {
        keys.push(t.await.unwrap().expect("every concurrent creation succeeds"));
    }
    let codes: HashSet<_> = keys.iter().map(|k| k.code.clone()).collect();
    assert_eq!(codes.len(), 12, "distinct codes: {keys:?}");

    let store = Store::open(h.database_url()).await.expect("open the test database");
    let mut c = store.read().await.unwrap();
    let rows = sqlx::query("SELECT key_no, changed_version FROM guest_keys WHERE lock_id = $1")
        .bind(lock.id.clone())
        .fetch_all(&mut *c)
        .await
        .unwrap();
    assert_eq!(rows.len(), 12);
    let key_nos: HashSet<i64> = rows.iter().map(|r| r.get::<i64, _>("key_no")).collect();
    let versions: HashSet<i64> = rows.iter().map(|r| r.get::<i64, _>("changed_version")).collect();
    assert_eq!(key_nos.len(), 12, "distinct key numbers");
    assert_eq!(key_nos, (1..=12).collect(), "key numbers in order, none skipped");
    assert_eq!(versions.len(), 12, "distinct lock versions");
    let version: i64 = sqlx::query_scalar("SELECT version FROM locks WHERE id = $1")
        .bind(lock.id.clone())
        .fetch_one(&mut *c)
        .await
        .unwrap();
    assert!(
        versions.iter().all(|v| *v <= version),
        "every key's version is one the lock will be sent"
    );
    drop(c);
    store.close().await;
    assert!(
        h.gateway.changes.load(Ordering::SeqCst) >= changes_before + 12,
        "the lock is told of every creation"
    );
    let listed = ana.client.guest_keys(&lock.id).await.unwrap();
    assert_eq!(listed.len(), 12);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guest_key_creations_get_their_own_codes_numbers_and_versions_sqlite() {
    concurrent_creations(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guest_key_creations_get_their_own_codes_numbers_and_versions_postgres() {
    let Some(pg) = Backend::postgres() else { return };
    concurrent_creations(pg).await;
}

//! The store suite: the same tests on SQLite (always) and on PostgreSQL (a fresh database per
//! test when `LK_TEST_PG` names an admin URL; required when `CI=true`).

use crate::pg::FreshDb;
use latchkey_server::domain::device::UnlockOutcome;
use latchkey_server::domain::types::{AccessLevel, LockSecret, PhoneNumber, Pin, TimeZoneName};
use latchkey_server::gateway::accept_up_seq;
use latchkey_server::store::{self, AccountRow, EventRow, LockRow, Store, StoreError};

/// One fresh, migrated store per backend the environment offers.
async fn stores() -> Vec<(String, Store, tempfile::TempDir)> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display());
    out.push(("sqlite".to_string(), Store::open(&url).await.expect("open sqlite"), dir));
    if let Some(db) = FreshDb::if_configured("store").await {
        let dir = tempfile::tempdir().expect("temp dir");
        out.push((
            "postgres".to_string(),
            Store::open(&db.url).await.expect("open postgres"),
            dir,
        ));
    }
    out
}

fn account(id: &str, phone: &str) -> AccountRow {
    AccountRow {
        id: id.into(),
        phone: PhoneNumber::parse(phone).unwrap(),
        name: id.into(),
        created_at: 1,
        locale: None,
    }
}

fn lock(id: &str) -> LockRow {
    LockRow {
        id: id.into(),
        serial: format!("serial-{id}"),
        name: id.into(),
        time_zone: TimeZoneName::parse("Europe/Berlin").unwrap(),
        wrong_code_limit: 5,
        lockout_seconds: 60,
        device_key: [0; 32],
        root_secret: LockSecret::try_from("11".repeat(32).as_str()).unwrap(),
        server_epoch: 0,
        version: 1,
        acked_version: 0,
        event_seq: 0,
        command_seq: 0,
        online: false,
        bolt: None,
        last_seen_at: None,
        next_user_id: 1,
        created_at: 1,
    }
}

fn pin(digits: &str) -> Pin {
    Pin::parse(digits).unwrap()
}

fn new_member<'a>(
    lock_id: &'a str,
    account_id: &'a str,
    user_id: i64,
    access_level: AccessLevel,
    changed_version: i64,
    added_by: Option<&'a str>,
) -> store::NewMember<'a> {
    store::NewMember {
        lock_id,
        account_id,
        user_id,
        access_level,
        schedule: None,
        changed_version,
        added_at: 1,
        added_by,
    }
}

fn to_family(changed_version: i64) -> store::MemberAccess<'static> {
    store::MemberAccess {
        access_level: AccessLevel::Family,
        schedule: None,
        changed_version,
    }
}

fn sms_claim(now: i64, limit: i64) -> store::SmsClaim {
    store::SmsClaim {
        now,
        lease_ms: 30_000,
        limit,
    }
}

fn held(version: i64, up_seq: i64) -> store::HeldVersion {
    store::HeldVersion { version, up_seq }
}

fn if_due(now: i64, until: i64) -> store::ResyncClaim {
    store::ResyncClaim::IfDue { now, until }
}

/// A lock with two Admins, `a1` and `a2`.
async fn two_admins(s: &Store) {
    let mut tx = s.begin().await.unwrap();
    store::insert_account(&mut tx, &account("a1", "+12025550101"))
        .await
        .unwrap();
    store::insert_account(&mut tx, &account("a2", "+12025550102"))
        .await
        .unwrap();
    store::insert_lock(&mut tx, &lock("L")).await.unwrap();
    store::insert_member(&mut tx, &new_member("L", "a1", 1, AccessLevel::Admin, 1, None))
        .await
        .unwrap();
    store::insert_member(&mut tx, &new_member("L", "a2", 2, AccessLevel::Admin, 1, Some("a1")))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn migrations_apply_once_and_downgrades_are_refused() {
    for (backend, s, dir) in stores().await {
        assert_eq!(
            s.schema_version().await.unwrap(),
            store::latest_schema_version(),
            "{backend}"
        );
        let mut tx = s.begin().await.unwrap();
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let url = match backend.as_str() {
            "sqlite" => format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display()),
            _ => continue, // the PostgreSQL URL is not kept; SQLite proves the reopen path
        };
        s.close().await;
        match Store::open(&url).await {
            Err(StoreError::Downgrade { found: 999, known }) if known == store::latest_schema_version() => {}
            Err(e) => panic!("{backend}: wrong error {e}"),
            Ok(_) => panic!("{backend}: a database from the future was opened"),
        }
    }
}

#[tokio::test]
async fn reopening_a_migrated_database_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("x.db").display());
    let s = Store::open(&url).await.unwrap();
    let mut tx = s.begin().await.unwrap();
    store::insert_account(&mut tx, &account("a1", "+12025550101"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    s.close().await;
    let s = Store::open(&url).await.unwrap();
    assert_eq!(s.schema_version().await.unwrap(), store::latest_schema_version());
    let mut c = s.read().await.unwrap();
    assert!(store::account_by_id(&mut c, "a1").await.unwrap().is_some());
}

#[tokio::test]
async fn the_database_enforces_uniqueness() {
    for (backend, s, _dir) in stores().await {
        two_admins(&s).await;
        // One account per phone number.
        let mut tx = s.begin().await.unwrap();
        let e = store::insert_account(&mut tx, &account("a3", "+12025550101"))
            .await
            .unwrap_err();
        assert!(e.unique_violation().is_some(), "{backend}: {e}");
        drop(tx);
        // PINs are unique on a lock...
        let mut tx = s.begin().await.unwrap();
        store::set_member_pin(&mut tx, "L", "a1", &pin("482915"), 2)
            .await
            .unwrap();
        let e = store::set_member_pin(&mut tx, "L", "a2", &pin("482915"), 3)
            .await
            .unwrap_err();
        assert!(e.unique_violation().is_some(), "{backend}: {e}");
        drop(tx);
        // ...but not across locks.
        let mut tx = s.begin().await.unwrap();
        store::insert_lock(&mut tx, &lock("M")).await.unwrap();
        store::insert_member(&mut tx, &new_member("M", "a2", 1, AccessLevel::Admin, 1, None))
            .await
            .unwrap();
        store::set_member_pin(&mut tx, "L", "a1", &pin("482915"), 2)
            .await
            .unwrap();
        store::set_member_pin(&mut tx, "M", "a2", &pin("482915"), 2)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        // A member appears once per lock and a lock-local user number once.
        let mut tx = s.begin().await.unwrap();
        let e = store::insert_member(&mut tx, &new_member("L", "a2", 9, AccessLevel::Family, 4, None))
            .await
            .unwrap_err();
        assert!(e.unique_violation().is_some(), "{backend}: {e}");
        drop(tx);
        // A lock serial pairs once.
        let mut tx = s.begin().await.unwrap();
        let mut again = lock("N");
        again.serial = "serial-L".into();
        let e = store::insert_lock(&mut tx, &again).await.unwrap_err();
        assert!(e.unique_violation().is_some(), "{backend}: {e}");
    }
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_nothing() {
    for (backend, s, _dir) in stores().await {
        two_admins(&s).await;
        let mut tx = s.begin().await.unwrap();
        store::bump_version(&mut tx, "L").await.unwrap();
        store::update_member_access(&mut tx, "L", "a2", &to_family(2))
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        let mut c = s.read().await.unwrap();
        assert_eq!(store::count_admins(&mut c, "L").await.unwrap(), 2, "{backend}");
        assert_eq!(
            store::lock_by_id(&mut c, "L").await.unwrap().unwrap().version,
            1,
            "{backend}"
        );
    }
}

/// Two Admins demote each other at the same instant: the version bump that opens every change
/// of who may enter serialises them, so exactly one stays Admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_demotions_keep_one_admin() {
    for (backend, s, _dir) in stores().await {
        for round in 0..10 {
            {
                let mut tx = s.begin().await.unwrap();
                sqlx::query("DELETE FROM members").execute(&mut *tx).await.unwrap();
                sqlx::query("DELETE FROM locks").execute(&mut *tx).await.unwrap();
                sqlx::query("DELETE FROM accounts").execute(&mut *tx).await.unwrap();
                tx.commit().await.unwrap();
            }
            two_admins(&s).await;
            let demote = |who: &'static str| {
                let s = s.clone();
                tokio::spawn(async move {
                    let mut tx = s.begin().await.unwrap();
                    let v = store::bump_version(&mut tx, "L").await.unwrap().unwrap();
                    tokio::task::yield_now().await;
                    if store::count_admins(&mut tx, "L").await.unwrap() <= 1 {
                        return false;
                    }
                    store::update_member_access(&mut tx, "L", who, &to_family(v))
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                    true
                })
            };
            let (x, y) = tokio::join!(demote("a1"), demote("a2"));
            let done = [x.unwrap(), y.unwrap()];
            assert_eq!(
                done.iter().filter(|d| **d).count(),
                1,
                "{backend} round {round}: {done:?}"
            );
            let mut c = s.read().await.unwrap();
            assert_eq!(
                store::count_admins(&mut c, "L").await.unwrap(),
                1,
                "{backend} round {round}"
            );
        }
    }
}

#[tokio::test]
async fn lock_events_are_stored_once_per_sequence_number() {
    for (backend, s, _dir) in stores().await {
        two_admins(&s).await;
        let event = |id: &str, seq: Option<i64>| EventRow {
            id: id.into(),
            lock_id: "L".into(),
            seq,
            at: 5,
            kind: "keypad".into(),
            detail: "{}".into(),
            ..Default::default()
        };
        let mut tx = s.begin().await.unwrap();
        assert!(
            store::insert_event(&mut tx, &event("e1", Some(7))).await.unwrap(),
            "{backend}"
        );
        assert!(
            !store::insert_event(&mut tx, &event("e2", Some(7))).await.unwrap(),
            "{backend}"
        );
        // Server-side events have no sequence number and never collide.
        assert!(
            store::insert_event(&mut tx, &event("e3", None)).await.unwrap(),
            "{backend}"
        );
        assert!(
            store::insert_event(&mut tx, &event("e4", None)).await.unwrap(),
            "{backend}"
        );
        tx.commit().await.unwrap();
        let mut c = s.read().await.unwrap();
        let all = store::events(&mut c, "L", None, 10).await.unwrap();
        let ids: Vec<_> = all.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["e4", "e3", "e1"], "{backend}: newest first");
        let page = store::events(&mut c, "L", Some("e3"), 10).await.unwrap();
        assert_eq!(page.len(), 1, "{backend}");
        assert_eq!(page[0].id, "e1", "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_claims_never_overlap_and_failures_come_back_later() {
    for (backend, s, _dir) in stores().await {
        let mut tx = s.begin().await.unwrap();
        for i in 0..6 {
            store::enqueue_sms(
                &mut tx,
                &store::NewSms {
                    id: &format!("m{i}"),
                    to: "+12025550101",
                    body: "hi",
                    purpose: "test",
                    created_at: 100,
                },
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let claim = || {
            let s = s.clone();
            tokio::spawn(async move {
                let mut tx = s.begin().await.unwrap();
                let got = store::claim_sms(&mut tx, sms_claim(200, 4)).await.unwrap();
                tx.commit().await.unwrap();
                got.into_iter().map(|m| m.id).collect::<Vec<_>>()
            })
        };
        let (a, b) = tokio::join!(claim(), claim());
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.iter().all(|id| !b.contains(id)), "{backend}: {a:?} and {b:?} overlap");
        // On PostgreSQL the loser of a race may come back with fewer (the rows it picked were
        // taken meanwhile); nothing is ever handed out twice, and a further claim gets the rest.
        let mut tx = s.begin().await.unwrap();
        let rest: Vec<_> = store::claim_sms(&mut tx, sms_claim(200, 10))
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        tx.commit().await.unwrap();
        let mut all: Vec<_> = a.iter().chain(&b).chain(&rest).cloned().collect();
        all.sort();
        assert_eq!(all, ["m0", "m1", "m2", "m3", "m4", "m5"], "{backend}");
        // Leased messages are not claimed again until the lease runs out.
        let mut tx = s.begin().await.unwrap();
        assert!(
            store::claim_sms(&mut tx, sms_claim(300, 10)).await.unwrap().is_empty(),
            "{backend}"
        );
        store::sms_sent(&mut tx, "m0", 300).await.unwrap();
        store::sms_failed(&mut tx, "m1", "provider said no", 5_000)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = s.begin().await.unwrap();
        assert!(
            store::claim_sms(&mut tx, sms_claim(4_000, 10))
                .await
                .unwrap()
                .is_empty(),
            "{backend}"
        );
        let again = store::claim_sms(&mut tx, sms_claim(5_000, 10)).await.unwrap();
        assert_eq!(again.len(), 1, "{backend}");
        assert_eq!(again[0].id, "m1");
        assert_eq!(again[0].attempts, 1);
        let later = store::claim_sms(&mut tx, sms_claim(40_000, 10)).await.unwrap();
        let mut ids: Vec<_> = later.iter().map(|m| m.id.as_str()).collect();
        ids.sort();
        assert_eq!(
            ids,
            ["m1", "m2", "m3", "m4", "m5"],
            "{backend}: only the sent one is never claimed again"
        );
        tx.commit().await.unwrap();
        let mut c = s.read().await.unwrap();
        assert!(store::sms_by_id(&mut c, "m0").await.unwrap().unwrap().sent_at.is_some());
    }
}

#[tokio::test]
async fn the_acknowledged_version_follows_the_lock_s_latest_report() {
    for (backend, s, _dir) in stores().await {
        let mut tx = s.begin().await.unwrap();
        let mut l = lock("L");
        l.version = 5;
        store::insert_lock(&mut tx, &l).await.unwrap();
        tx.commit().await.unwrap();
        let mut c = s.read().await.unwrap();
        assert!(store::record_acked_version(&mut c, "L", held(5, 11)).await.unwrap());
        // A report the lock sent earlier (up seq 10) arrives late: ignored.
        assert!(
            !store::record_acked_version(&mut c, "L", held(4, 10)).await.unwrap(),
            "{backend}"
        );
        assert_eq!(acked(&mut c, "L").await, 5, "{backend}");
        // A later report of an older version (a stale snapshot landed last): believed.
        assert!(store::record_acked_version(&mut c, "L", held(4, 12)).await.unwrap());
        assert_eq!(acked(&mut c, "L").await, 4, "{backend}");
        // A version the server never had: ignored.
        assert!(!store::record_acked_version(&mut c, "L", held(9, 13)).await.unwrap());
        assert_eq!(acked(&mut c, "L").await, 4, "{backend}");

        // Resend claims: one holder at a time, until the claim runs out.
        assert!(store::claim_resync(&mut c, "L", if_due(1000, 5000)).await.unwrap());
        assert!(
            !store::claim_resync(&mut c, "L", if_due(2000, 6000)).await.unwrap(),
            "{backend}"
        );
        assert!(store::claim_resync(&mut c, "L", if_due(5000, 9000)).await.unwrap());
        assert!(store::record_acked_version(&mut c, "L", held(5, 14)).await.unwrap());
        assert!(
            !store::claim_resync(&mut c, "L", if_due(20_000, 24_000)).await.unwrap(),
            "synced: nothing to claim"
        );

        // Unlock results: taken once.
        let r = UnlockOutcome::Denied("outside_schedule".into());
        store::put_unlock_result(&mut c, "L", 7, &r, 1).await.unwrap();
        store::put_unlock_result(&mut c, "L", 7, &r, 1).await.unwrap();
        assert_eq!(store::take_unlock_result(&mut c, "L", 7).await.unwrap(), Some(r));
        assert_eq!(store::take_unlock_result(&mut c, "L", 7).await.unwrap(), None);

        // The server identity: the first key stays.
        assert_eq!(store::server_identity(&mut c, "aa", 1).await.unwrap(), "aa");
        assert_eq!(
            store::server_identity(&mut c, "bb", 2).await.unwrap(),
            "aa",
            "{backend}"
        );
    }
}

async fn acked(c: &mut store::Conn, lock_id: &str) -> i64 {
    store::lock_by_id(c, lock_id).await.unwrap().unwrap().acked_version
}

/// A value the database holds that this binary cannot read is an error, never a guess (an
/// unknown unlock outcome is not a denial, a broken root secret is not some other key).
#[tokio::test]
async fn values_this_binary_cannot_read_are_errors() {
    for (backend, s, _dir) in stores().await {
        let mut tx = s.begin().await.unwrap();
        store::insert_lock(&mut tx, &lock("L")).await.unwrap();
        tx.commit().await.unwrap();
        let mut c = s.read().await.unwrap();
        assert!(store::lock_by_id(&mut c, "L").await.unwrap().is_some(), "{backend}");
        sqlx::query("UPDATE locks SET root_secret = 'zz' WHERE id = 'L'")
            .execute(&mut *c)
            .await
            .unwrap();
        let e = store::lock_by_id(&mut c, "L").await.unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{backend}: {e}");
        sqlx::query(
            "INSERT INTO unlock_results (lock_id, command, outcome, reason, at) VALUES ('L', 1, 'maybe', NULL, 1)",
        )
        .execute(&mut *c)
        .await
        .unwrap();
        let e = store::take_unlock_result(&mut c, "L", 1).await.unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{backend}: {e}");
    }
}

/// Command numbers are the AEAD nonces of a lock's down messages: two instances (two pools on
/// one database) reserving them at once never get the same one (issue 19 keeps them a
/// conditional update of the lock's row, `docs/design/server-performance.md`).
#[tokio::test]
async fn command_numbers_are_unique_across_two_instances() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut urls = vec![(
        "sqlite".to_string(),
        format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display()),
    )];
    let pg = FreshDb::if_configured("command_numbers").await;
    if let Some(db) = &pg {
        urls.push(("postgres".to_string(), db.url.clone()));
    }
    for (backend, url) in urls {
        let a = Store::open(&url).await.expect("open the first instance's pool");
        let b = Store::open(&url).await.expect("open the second instance's pool");
        let mut tx = a.begin().await.unwrap();
        store::insert_lock(&mut tx, &lock("L")).await.unwrap();
        tx.commit().await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.spawn(async move {
                let mut got = Vec::new();
                for _ in 0..25 {
                    let mut tx = s.begin().await.unwrap();
                    let n = store::next_command_seq(&mut tx, "L").await.unwrap().unwrap();
                    tx.commit().await.unwrap();
                    got.push(n);
                }
                got
            });
        }
        let mut all = Vec::new();
        while let Some(got) = tasks.join_next().await {
            all.extend(got.unwrap());
        }
        all.sort_unstable();
        let expected: Vec<i64> = (1..=200).collect();
        assert_eq!(all, expected, "{backend}: every number once");
        a.close().await;
        b.close().await;
    }
}

/// A database migrated from schema 10 keeps each lock's link state when migration 11 moves it
/// off the `locks` row into `lock_link`: the acknowledged version and the up message it came
/// from, the journal and command numbers, the replay window, the resend claim and presence.
/// The moved columns are gone from `locks`, and unpairing removes the link row too.
#[tokio::test]
async fn migrating_from_schema_10_keeps_the_locks_link_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut urls = vec![(
        "sqlite".to_string(),
        format!("sqlite://{}?mode=rwc", dir.path().join("store.db").display()),
    )];
    let pg = FreshDb::if_configured("link_migration").await;
    if let Some(db) = &pg {
        urls.push(("postgres".to_string(), db.url.clone()));
    }
    // The replay window of a lock that accepted up messages 1..=40 (16 bytes, hex).
    let window = "2800000000000000ffffffffff000000";
    for (backend, url) in urls {
        let old = Store::open_upto(&url, 10).await.expect("open at schema 10");
        assert_eq!(old.schema_version().await.unwrap(), 10, "{backend}");
        let mut tx = old.begin().await.unwrap();
        for (id, online) in [("L", 1), ("M", 0)] {
            sqlx::query(
                "INSERT INTO locks (id, serial, name, time_zone, wrong_code_limit, lockout_seconds, \
                 device_key, root_secret, server_epoch, version, acked_version, event_seq, command_seq, \
                 online, bolt, last_seen_at, next_user_id, created_at, up_replay, acked_up_seq, sync_claimed_until) \
                 VALUES ($1, $2, $1, 'Europe/Berlin', 5, 60, $3, $4, 1, 9, 7, 42, 1234, $5, 'locked', 99000, 3, 1, \
                 $6, 40, 55000)",
            )
            .bind(id)
            .bind(format!("serial-{id}"))
            .bind("00".repeat(32))
            .bind("11".repeat(32))
            .bind(online)
            .bind(window)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        old.close().await;

        let s = Store::open(&url).await.expect("migrate to the latest schema");
        assert_eq!(s.schema_version().await.unwrap(), store::latest_schema_version());
        let mut c = s.read().await.unwrap();
        let l = store::lock_by_id(&mut c, "L").await.unwrap().expect("the lock is kept");
        assert_eq!(
            (l.version, l.acked_version, l.event_seq, l.command_seq),
            (9, 7, 42, 1234),
            "{backend}"
        );
        assert!(l.online, "{backend}");
        assert_eq!(l.bolt.as_deref(), Some("locked"), "{backend}");
        assert_eq!(l.last_seen_at, Some(99000), "{backend}");
        assert_eq!((l.next_user_id, l.server_epoch), (3, 1), "{backend}");
        let m = store::lock_by_id(&mut c, "M").await.unwrap().unwrap();
        assert!(!m.online, "{backend}: each lock keeps its own row");
        // The replay window: message 40 was seen, 41 is new.
        assert_eq!(store::up_replay(&mut c, "L").await.unwrap().as_deref(), Some(window));
        assert!(!accept_up_seq(&s, "L", 40).await.unwrap(), "{backend}: a replay");
        assert!(!accept_up_seq(&s, "L", 1).await.unwrap(), "{backend}: a replay");
        assert!(accept_up_seq(&s, "L", 41).await.unwrap(), "{backend}");
        // The command counter goes on from where it was: no nonce is used twice.
        assert_eq!(
            store::next_command_seq(&mut c, "L").await.unwrap(),
            Some(1235),
            "{backend}"
        );
        // The resend claim runs until 55000; the lock is behind (7 < 9).
        assert!(!store::claim_resync(&mut c, "L", if_due(50_000, 60_000)).await.unwrap());
        assert!(store::claim_resync(&mut c, "L", if_due(55_000, 60_000)).await.unwrap());
        assert_eq!(store::unsynced_lock_ids(&mut c).await.unwrap(), ["L", "M"], "{backend}");
        // The acknowledgement came from up message 40: an older report is not believed, a
        // newer one is.
        assert!(!store::record_acked_version(&mut c, "L", held(9, 39)).await.unwrap());
        assert!(store::record_acked_version(&mut c, "L", held(9, 41)).await.unwrap());
        assert_eq!(acked(&mut c, "L").await, 9, "{backend}");
        assert_eq!(store::unsynced_lock_ids(&mut c).await.unwrap(), ["M"], "{backend}");
        // The columns left `locks`.
        let moved = sqlx::query("SELECT acked_version FROM locks").fetch_all(&mut *c).await;
        assert!(moved.is_err(), "{backend}: locks.acked_version is still there");
        drop(c);

        let mut tx = s.begin().await.unwrap();
        store::delete_lock(&mut tx, "L").await.unwrap();
        tx.commit().await.unwrap();
        let mut c = s.read().await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lock_link WHERE lock_id = 'L'")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        assert_eq!(left, 0, "{backend}: the link row goes with the lock");
        assert_eq!(store::next_command_seq(&mut c, "L").await.unwrap(), None, "{backend}");
        drop(c);
        s.close().await;
    }
    if let Some(db) = pg {
        db.drop_now().await;
    }
}

/// On PostgreSQL the link's writes no longer hold the lock's row: a transaction that reserved a
/// command number and has not committed (a sync being built) leaves a change's version bump
/// free to proceed and commit (before migration 11 the bump waited for it). SQLite serialises
/// all write transactions anyway (`BEGIN IMMEDIATE`), so only PostgreSQL can show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_writes_do_not_hold_the_lock_row_on_postgres() {
    let Some(db) = FreshDb::if_configured("link_row").await else {
        return;
    };
    let s = Store::open(&db.url).await.expect("open postgres");
    let mut tx = s.begin().await.unwrap();
    store::insert_lock(&mut tx, &lock("L")).await.unwrap();
    tx.commit().await.unwrap();

    // The link's transaction: every per-message write, none committed yet.
    let mut link = s.begin().await.unwrap();
    assert_eq!(store::next_command_seq(&mut link, "L").await.unwrap(), Some(1));
    let claim = store::ResyncClaim::Always { until: 10_000 };
    assert!(store::claim_resync(&mut link, "L", claim).await.unwrap());
    let presence = store::Presence {
        online: true,
        bolt: Some("locked"),
        at: 5,
    };
    store::set_lock_presence(&mut link, "L", &presence).await.unwrap();
    store::set_event_seq(&mut link, "L", 3).await.unwrap();
    assert!(store::record_acked_version(&mut link, "L", held(1, 1)).await.unwrap());

    let bump = async {
        let mut tx = s.begin().await.unwrap();
        let v = store::bump_version(&mut tx, "L").await.unwrap();
        tx.commit().await.unwrap();
        v
    };
    let v = tokio::time::timeout(std::time::Duration::from_secs(5), bump)
        .await
        .expect("the version bump waited for the link's open transaction");
    assert_eq!(v, Some(2));
    link.commit().await.unwrap();

    let mut c = s.read().await.unwrap();
    let l = store::lock_by_id(&mut c, "L").await.unwrap().unwrap();
    assert_eq!((l.version, l.acked_version, l.command_seq, l.event_seq), (2, 1, 1, 3));
    assert!(l.online);
    drop(c);
    s.close().await;
    db.drop_now().await;
}

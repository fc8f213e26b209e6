//! Host helpers: write-new-then-rename; a torn or partial write never replaces the last good
//! state.

mod common;

use common::*;
use latchkey_lock_core::{Change, Input, LoadError, UserKind};
use std::fs;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("latchkey-lock-core-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn save_load_and_torn_writes() {
    let dir = temp_dir("files");
    let path = dir.join("state.bin");
    let tmp = dir.join("state.bin.tmp");
    let now = T0;
    let mut lock = new_lock();
    sync(
        &mut lock,
        &[
            Change::SetTime(now),
            Change::UpsertUser(user(1, UserKind::Disposable, Some("111111"))),
        ],
        now,
    );
    assert!(matches!(
        TestLock::load_from_file(LOCK_ID, ROOT, &path),
        Err(LoadError::Io(_))
    ));
    lock.save_to_file(&path).unwrap();
    assert!(!lock.is_dirty());
    assert!(!tmp.exists(), "the temporary file was renamed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let good = fs::read(&path).unwrap();

    // The disposable user opens once; a crash during the next save leaves a partial temp file.
    assert!(lock.decide(Input::Remote(1), now).is_grant());
    let mut buf = vec![0u8; TestLock::MAX_ENCODED_LEN];
    let n = lock.save(&mut buf).unwrap();
    fs::write(&tmp, &buf[..n / 2]).unwrap(); // torn: power lost before fsync + rename
    let back = TestLock::load_from_file(LOCK_ID, ROOT, &path).unwrap();
    assert_eq!(fs::read(&path).unwrap(), good, "the last good state is untouched");
    assert_eq!(back.applied_version(), 1);
    // (The host had not opened: persist-first means the grant above never moved the bolt.)

    // The next save replaces the leftover temp file and the state.
    lock.save_to_file(&path).unwrap();
    let mut back = TestLock::load_from_file(LOCK_ID, ROOT, &path).unwrap();
    assert_eq!(
        back.decide(Input::Remote(1), now),
        latchkey_lock_core::Decision::Deny(latchkey_lock_core::Reason::AlreadyUsed)
    );

    // A torn main file (media failure) is detected, never half-loaded.
    let full = fs::read(&path).unwrap();
    fs::write(&path, &full[..full.len() - 3]).unwrap();
    assert!(matches!(
        TestLock::load_from_file(LOCK_ID, ROOT, &path),
        Err(LoadError::Restore(_))
    ));
    let _ = fs::remove_dir_all(&dir);
}

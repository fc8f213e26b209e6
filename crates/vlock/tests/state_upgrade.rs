//! A state file written before the lock core's format 2 (its `core` image in format 1) still
//! loads after an upgrade: the lock keeps its identity, users, used codes and settings, and
//! rewrites the image in the current format.

use latchkey_lock_core::{FORMAT_VERSION, RootSecret, StandardLock};
use latchkey_protocol::SigningKey;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The lock core's format 1 fixture: lock id `lock-0001`, root secret `[7; 32]`.
const V1_CORE: &[u8] = include_bytes!("../../lock-core/tests/fixtures/standard-lock-v1.bin");

async fn keypad(addr: std::net::SocketAddr, keys: &str) -> serde_json::Value {
    let body = serde_json::json!({ "keys": keys }).to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /keypad HTTP/1.1\r\nHost: lock\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    let (head, json) = resp.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{resp}");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {resp}"))
}

/// Runs on a thread with an 8 MiB stack, like a binary's main thread: restoring a
/// `StandardLock` takes about 1 MiB of stack in a debug build (the lock is built by value),
/// more than a test thread's 2 MiB leaves once the runtime and this future are on it.
#[test]
fn a_state_file_with_a_format_1_core_still_loads() {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(upgrade())
        })
        .unwrap()
        .join()
        .unwrap();
}

async fn upgrade() {
    let dir = std::env::temp_dir().join(format!("lk-vlock-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("lock.state");
    let server = SigningKey::from_bytes(&[3u8; 32]).verifying_key();
    let file = serde_json::json!({
        "serial": "VL-UPGRADE01",
        "key": hex::encode([5u8; 32]),
        "setup_code": "12345678901",
        "attempts": 0,
        "blocked_until": 0,
        "paired": {
            "lock_id": "lock-0001",
            "server_key": hex::encode(server.to_bytes()),
            "root": hex::encode([7u8; 32]),
            "up_seq": 40,
            "replay": hex::encode([0u8; 16]),
        },
        "core": hex::encode(V1_CORE),
        "fake_now": null,
    });
    std::fs::write(&state, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
    // A broker port nobody listens on: the lock stays offline, which is all this test needs.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lock = latchkey_vlock::start(latchkey_vlock::Options {
        state: state.clone(),
        broker_host: "127.0.0.1".into(),
        broker_port: port,
        control: Some("127.0.0.1:0".parse().unwrap()),
        fake_clock: false,
        relock: Duration::from_secs(1),
    })
    .await
    .expect("the old state file loads");
    assert_eq!(lock.lock_id().as_deref(), Some("lock-0001"));
    assert_eq!(lock.setup_code(), None, "still paired");
    assert_eq!(*lock.applied_version().borrow(), 8);
    // The start rewrote the image in the current format, and it reads back.
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let core = hex::decode(saved["core"].as_str().unwrap()).unwrap();
    assert_eq!(u16::from_le_bytes([core[4], core[5]]), FORMAT_VERSION);
    let users = restored_users(&core);
    assert_eq!(users, 6);
    // At the keypad: the same users, the same used PIN, the same disabled user.
    let addr = lock.control_addr.unwrap();
    let r = keypad(addr, "111111#").await;
    assert_eq!(r["outcome"], "granted", "{r}");
    let r = keypad(addr, "333333#").await;
    assert_eq!(r["reason"], "already_used", "{r}");
    let r = keypad(addr, "55555555#").await;
    assert_eq!(r["reason"], "disabled", "{r}");
    drop(lock);
    let _ = std::fs::remove_dir_all(&dir);
}

fn restored_users(image: &[u8]) -> usize {
    let back = StandardLock::restore(b"lock-0001", RootSecret([7; 32]), image).unwrap();
    back.counts().users
}

//! What encrypting the link costs: sealing and opening a message encrypted and signed beside
//! the same message signed only (the first round's link, `Protection::SignedOnly`), in one
//! criterion group each; the ratios are read back from criterion's estimates of this very run
//! and printed at the end (`docs/performance.md`, "The protocol").
//!
//! Run: `cargo bench -p latchkey-protocol`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use chacha20poly1305::KeyInit;
use chacha20poly1305::aead::AeadInOut;
use criterion::Criterion;
use latchkey_lock_core::{RootSecret, Schedule, UserKind, Window};
use latchkey_protocol::{
    Clock, Down, Header, LinkKeys, MAX_MESSAGE_LEN, PinCode, Protection, ReplayWindow, SigningKey, Sync, SyncChange,
    Unlock, UnlockOutcome, UnlockResult, Up, User, open_down, open_up, seal_down, seal_up,
};

const LOCK_ID: &[u8] = b"lk_0123456789abcdef0123";
const NOW: i64 = 1_800_000_000;
const ROOT: RootSecret = RootSecret([3; 32]);

/// One server-to-lock message sealed by the server and opened by the lock, with `protection`.
fn down_round(server: &SigningKey, protection: Protection<'_>, body: &Down<'_>, buf: &mut [u8], seq: u64) {
    let header = Header { seq, expires: NOW + 30 };
    let n = seal_down(server, protection, LOCK_ID, header, body, buf).unwrap();
    let opened = open_down(
        &mut buf[..n],
        LOCK_ID,
        &server.verifying_key(),
        protection,
        &mut ReplayWindow::new(),
        Clock::Trusted(NOW),
    )
    .unwrap();
    black_box(opened);
}

fn bench_unlock(c: &mut Criterion) {
    let server = SigningKey::from_bytes(&[7; 32]);
    let keys = LinkKeys::derive(&ROOT, LOCK_ID);
    let body = Down::Unlock(Unlock {
        command: 4711,
        user: 12,
    });
    let mut buf = vec![0u8; 256];
    let mut g = c.benchmark_group("unlock");
    g.bench_function("signed_only", |b| {
        b.iter(|| down_round(&server, Protection::SignedOnly, black_box(&body), &mut buf, 4711))
    });
    g.bench_function("encrypted", |b| {
        b.iter(|| down_round(&server, Protection::Encrypted(&keys), black_box(&body), &mut buf, 4711))
    });
    // What the server does per message: it derives the keys from the stored root secret each
    // time (the lock derives them once).
    g.bench_function("encrypted_with_key_derivation", |b| {
        b.iter(|| {
            let keys = LinkKeys::derive(black_box(&ROOT), LOCK_ID);
            down_round(&server, Protection::Encrypted(&keys), black_box(&body), &mut buf, 4711)
        })
    });
    // The encryption layer alone, as the two ends run it on an `Unlock`: encrypting the body
    // in place and decrypting it back (what `seal_down` and `open_down` add), and deriving the
    // keys. Their absolute cost, next to the signed-only round, gives a ratio that the noise of
    // a shared machine (which moves both rounds by more than encryption costs) cannot blur.
    let aead = chacha20poly1305::ChaCha20Poly1305::new(&(*keys.down_key()).into());
    let header = [0x01, 0x24, 0xe7, 0x24, 0xbc, 0xc8, 0xce, 0xb4, 0x0d];
    g.bench_function("aead_only", |b| {
        b.iter(|| {
            let mut body = [0xe7, 0x24, 0x0c];
            let nonce = latchkey_protocol::link::nonce(black_box(4711), NOW + 30);
            let tag = aead
                .encrypt_inout_detached(&nonce.into(), &header, body.as_mut_slice().into())
                .unwrap();
            aead.decrypt_inout_detached(&nonce.into(), &header, body.as_mut_slice().into(), &tag)
                .unwrap();
            black_box(body)
        })
    });
    g.bench_function("key_derivation", |b| {
        b.iter(|| black_box(LinkKeys::derive(black_box(&ROOT), LOCK_ID)))
    });
    g.finish();

    // The answer, lock to server.
    let lock = SigningKey::from_bytes(&[9; 32]);
    let answer = Up::UnlockResult(UnlockResult {
        command: 4711,
        outcome: UnlockOutcome::Unlocked,
    });
    let up_round = |protection: Protection<'_>, buf: &mut [u8]| {
        let header = Header {
            seq: 99,
            expires: NOW + 60,
        };
        let n = seal_up(&lock, protection, LOCK_ID, header, black_box(&answer), buf).unwrap();
        let opened = open_up(
            &mut buf[..n],
            LOCK_ID,
            &lock.verifying_key(),
            protection,
            &mut ReplayWindow::new(),
            NOW,
        )
        .unwrap();
        black_box(opened);
    };
    let mut g = c.benchmark_group("unlock_result");
    g.bench_function("signed_only", |b| b.iter(|| up_round(Protection::SignedOnly, &mut buf)));
    g.bench_function("encrypted", |b| {
        b.iter(|| up_round(Protection::Encrypted(&keys), &mut buf))
    });
    g.finish();
}

/// A standard lock's full snapshot: 1,000 Recurring Guests with four windows and a PIN each
/// (about 47 KB), the largest message the server sends.
fn bench_snapshot(c: &mut Criterion) {
    let server = SigningKey::from_bytes(&[7; 32]);
    let keys = LinkKeys::derive(&ROOT, LOCK_ID);
    let schedule = Schedule {
        windows: heapless::Vec::from_slice(
            &[Window {
                days: 0x3e,
                from: 435,
                to: 1125,
            }; 4],
        )
        .unwrap(),
        dates: None,
    };
    let mut changes = vec![SyncChange::ClearAll];
    changes.extend((0..1000u32).map(|i| {
        SyncChange::UpsertUser(User {
            id: 2 + i,
            enabled: true,
            kind: UserKind::ScheduleRestricted(schedule.clone()),
            pin: PinCode::parse(format!("{:08}", 10_000_000 + i * 7919).as_bytes()),
        })
    }));
    let body = Down::Sync(Sync::new(0, 7, &changes));
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let mut g = c.benchmark_group("snapshot");
    g.bench_function("signed_only", |b| {
        b.iter(|| down_round(&server, Protection::SignedOnly, black_box(&body), &mut buf, 9))
    });
    g.bench_function("encrypted", |b| {
        b.iter(|| down_round(&server, Protection::Encrypted(&keys), black_box(&body), &mut buf, 9))
    });
    g.finish();
}

fn output_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(h);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("criterion")
}

/// A benchmark's time per iteration (ns) from criterion's `new/estimates.json`: the slope
/// estimate (the one criterion prints as "time"), or the mean when there is no slope.
fn mean_ns(dir: &std::path::Path, group: &str, bench: &str) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join(group).join(bench).join("new/estimates.json")).ok()?;
    let key = if text.contains("\"slope\":{") {
        "\"slope\""
    } else {
        "\"mean\""
    };
    let mean = text.get(text.find(key)?..)?;
    let pe = mean.get(mean.find("\"point_estimate\":")? + 17..)?;
    let end = pe.find([',', '}'])?;
    pe.get(..end)?.trim().parse().ok()
}

fn main() {
    let dir = output_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    bench_unlock(&mut c);
    bench_snapshot(&mut c);
    c.final_summary();

    println!("\nprotocol ratios, encrypted / signed-only (criterion estimates from this run):");
    let row = |what: &str, group: &str, a: &str, b: &str| match (mean_ns(&dir, group, a), mean_ns(&dir, group, b)) {
        (Some(x), Some(y)) => println!("  {what:<52} {x:>12.1} ns vs {y:>12.1} ns  ratio {:>7.4}", x / y),
        _ => println!("  {what:<52} (no estimates found under {})", dir.display()),
    };
    row("Unlock, seal + open", "unlock", "encrypted", "signed_only");
    row(
        "Unlock, seal + open, keys derived per message",
        "unlock",
        "encrypted_with_key_derivation",
        "signed_only",
    );
    row("UnlockResult, seal + open", "unlock_result", "encrypted", "signed_only");
    row(
        "full snapshot (1,000 users), seal + open",
        "snapshot",
        "encrypted",
        "signed_only",
    );
    // The same Unlock ratio from the parts: what encryption adds, measured alone, over the
    // signed-only round.
    let part = |b: &str| mean_ns(&dir, "unlock", b);
    match (part("aead_only"), part("key_derivation"), part("signed_only")) {
        (Some(aead), Some(derive), Some(signed)) => {
            println!(
                "  Unlock, from the parts: AEAD {aead:.0} ns, key derivation {derive:.0} ns, signed-only round {signed:.0} ns"
            );
            println!(
                "  {:<52} ratio {:>7.4} (lock: keys derived once), {:.4} (server: per message)",
                "Unlock, signed-only round + encryption's own cost",
                (signed + aead) / signed,
                (signed + aead + derive) / signed
            );
        }
        _ => println!("  (no estimates for the parts under {})", dir.display()),
    }
}

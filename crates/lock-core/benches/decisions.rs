//! Lock-core benchmarks, each beside its ceiling in the same criterion group; the ratios are
//! read back from criterion's estimates of this very run and printed at the end.
//!
//! Run: `cargo bench -p latchkey-lock-core`

use criterion::Criterion;
use hmac::{Hmac, KeyInit, Mac};
use latchkey_guest_code::{Validity, mint};
use latchkey_lock_core::{
    Change, Input, Key, OffsetEntry, Pin, RootSecret, Schedule, StandardLock, UserKind, UserRecord, Window,
};
use sha2::Sha256;
use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

const ROOT: RootSecret = RootSecret([7; 32]);
const LOCK_ID: &[u8] = b"lock-0001";
/// 2026-01-15T12:00:00Z.
const NOW: i64 = 1_768_478_400;
const USERS: u32 = 1000;

fn pin_of(id: u32) -> String {
    format!("{:08}", (u64::from(id) * 7_919 + 12_345_678) % 100_000_000)
}

fn record(id: u32, enabled: bool) -> UserRecord {
    let kind = match id % 3 {
        0 => UserKind::Unrestricted,
        1 => UserKind::ScheduleRestricted(Schedule {
            windows: [Window {
                days: 0x7f,
                from: 0,
                to: 1440,
            }]
            .into_iter()
            .collect(),
            dates: None,
        }),
        _ => UserKind::Expiring {
            from: NOW - 86_400,
            until: NOW + 365 * 86_400,
        },
    };
    UserRecord {
        id: 10_000 + id,
        enabled,
        kind,
        pin: Pin::parse(pin_of(id).as_bytes()),
    }
}

fn full_sync() -> Vec<Change<'static>> {
    let mut c = vec![Change::ClearAll];
    c.extend((0..USERS).map(|id| Change::UpsertUser(record(id, true))));
    c
}

fn standard_lock() -> Box<StandardLock> {
    let mut lock = Box::new(StandardLock::new(LOCK_ID, ROOT).unwrap());
    let offsets = [OffsetEntry {
        start: NOW - 86_400,
        offset: 3600,
    }];
    lock.apply(
        1,
        &[
            Change::SetTime(NOW),
            Change::SetOffsetTable {
                entries: &offsets,
                valid_until: NOW + 400 * 86_400,
            },
            Change::SetIssuer {
                slot: 1,
                epoch: 1,
                enabled: true,
            },
        ],
        NOW,
    )
    .unwrap();
    lock.apply(2, &full_sync(), NOW).unwrap();
    lock
}

fn bench_pin(c: &mut Criterion) {
    let mut lock = standard_lock();
    let entries: Vec<Vec<u8>> = (0..USERS).map(|id| pin_of(id).into_bytes()).collect();
    let pins: Vec<Pin> = entries.iter().map(|e| Pin::parse(e).unwrap()).collect();
    let map: HashMap<Pin, u32> = pins.iter().enumerate().map(|(i, p)| (*p, i as u32)).collect();
    for e in &entries {
        assert!(lock.decide(Input::Keypad(e), NOW).is_grant());
    }
    let mut g = c.benchmark_group("pin");
    let mut i = 0usize;
    g.bench_function("lock_core_decide", |b| {
        b.iter(|| {
            i = (i + 1) % entries.len();
            black_box(lock.decide(Input::Keypad(black_box(&entries[i])), NOW))
        })
    });
    let mut i = 0usize;
    g.bench_function("ceiling_hashmap_get", |b| {
        b.iter(|| {
            i = (i + 1) % pins.len();
            black_box(map.get(black_box(&pins[i])))
        })
    });
    let mut i = 0usize;
    g.bench_function("lock_core_key_presses", |b| {
        b.iter(|| {
            i = (i + 1) % entries.len();
            for &d in &entries[i] {
                lock.press(Key::Digit(d - b'0'), NOW);
            }
            black_box(lock.press(Key::Confirm, NOW))
        })
    });
    g.finish();
}

fn bench_guest(c: &mut Criterion) {
    let mut lock = standard_lock();
    let key = ROOT.issuer_key(1, 1);
    let validity = Validity::Window {
        start_hour: (NOW / 3600) as u32,
        hours: 24,
    };
    let code = mint(&key, LOCK_ID, 1, 1, validity, false).unwrap();
    assert!(lock.decide(Input::Keypad(&code.0), NOW).is_grant());
    // The MAC message of docs/guest-codes.md: label (22), lock id length (1), lock id, epoch (4),
    // slot (1), kind (1), start hour (4), hours (2), one-time flag (1).
    let message = vec![0x5au8; 22 + 1 + LOCK_ID.len() + 4 + 1 + 1 + 4 + 2 + 1];
    let mut g = c.benchmark_group("guest_code");
    g.bench_function("lock_core_decide", |b| {
        b.iter(|| black_box(lock.decide(Input::Keypad(black_box(&code.0)), NOW)))
    });
    g.bench_function("ceiling_hmac_sha256", |b| {
        b.iter(|| {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(black_box(&key.0)).unwrap();
            mac.update(black_box(&message));
            black_box(mac.finalize().into_bytes())
        })
    });
    g.finish();
}

fn bench_sync(c: &mut Criterion) {
    let mut lock = standard_lock();
    let full = full_sync();
    let mut g = c.benchmark_group("sync");
    let mut version = 10u64;
    let mut flip = false;
    g.bench_function("one_changed_member", |b| {
        b.iter(|| {
            version += 1;
            flip = !flip;
            let change = [Change::UpsertUser(record(500, flip))];
            black_box(lock.apply(version, black_box(&change), NOW)).unwrap();
        })
    });
    g.bench_function("full_sync_1000_members", |b| {
        b.iter(|| {
            version += 1;
            black_box(lock.apply(version, black_box(&full), NOW)).unwrap();
        })
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
    bench_pin(&mut c);
    bench_guest(&mut c);
    bench_sync(&mut c);
    c.final_summary();

    println!("\nlock-core ratios (criterion estimates from this run):");
    let row = |what: &str, group: &str, a: &str, b: &str, target: &str| match (
        mean_ns(&dir, group, a),
        mean_ns(&dir, group, b),
    ) {
        (Some(x), Some(y)) => println!(
            "  {what:<40} {x:>12.1} ns vs {y:>12.1} ns  ratio {:>8.4}  (target {target})",
            x / y
        ),
        _ => println!("  {what:<40} (no estimates found under {})", dir.display()),
    };
    row(
        "PIN decision / HashMap get",
        "pin",
        "lock_core_decide",
        "ceiling_hashmap_get",
        "<= 3",
    );
    row(
        "PIN by key presses / HashMap get",
        "pin",
        "lock_core_key_presses",
        "ceiling_hashmap_get",
        "info",
    );
    row(
        "guest-code decision / HMAC-SHA-256",
        "guest_code",
        "lock_core_decide",
        "ceiling_hmac_sha256",
        "<= 2",
    );
    row(
        "one changed member / full sync of 1,000",
        "sync",
        "one_changed_member",
        "full_sync_1000_members",
        "<= 0.02",
    );
}

//! Runs the Node test of the WebAssembly build (`tests/js/guest-code.test.mjs`: the doc's test
//! vectors, the CLI's refusals, loading) on the committed `web/guest-code.wasm`, and checks the
//! codes it minted from an issuer file written here with the Rust `check`: lock, server, CLI
//! and browser share one implementation, and this proves the browser's copy agrees.
//!
//! Needs Node 18 or newer (`node:test`); no npm packages. Outside CI a machine without it skips
//! with a message; with `CI=true` it fails instead.

use std::path::Path;
use std::process::Command;

use latchkey_guest_code::file::{IssuerFile, SecretFile, SlotEpoch};
use latchkey_guest_code::{Check, RootSecret, Timing, Validity, check, mint, timing};
use serde_json::Value;

/// Node's major version, if `node` runs.
fn node_major() -> Option<u32> {
    let out = Command::new("node").arg("--version").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.trim().strip_prefix('v')?.split('.').next()?.parse().ok()
}

#[test]
fn the_webassembly_build_passes_its_node_test_and_agrees_with_rust() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    match node_major() {
        Some(v) if v >= 18 => {}
        found => {
            let why = match found {
                Some(v) => format!("Node {v} is too old (node:test needs 18 or newer)"),
                None => "`node` is not installed".to_string(),
            };
            assert!(!ci, "CI=true but {why}; the WebAssembly build is tested with Node");
            eprintln!("SKIPPED: {why}; install Node 18+ to test the WebAssembly guest-code build");
            return;
        }
    }

    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("guest-code-node-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");

    // An issuer file as the server hands one to a device: slot 4 at epoch 3 of a lock whose
    // slot 4 was re-issued once (epoch 2 revoked), written by the Rust code.
    let lock_id = "door-wasm-1";
    let secret = SecretFile {
        secret: RootSecret(core::array::from_fn(|i| (i as u8).wrapping_mul(151).wrapping_add(7))),
        issuers: vec![SlotEpoch { slot: 0, epoch: 1 }, SlotEpoch { slot: 4, epoch: 3 }],
        revoked: vec![SlotEpoch { slot: 4, epoch: 2 }],
    };
    let issuer: IssuerFile = secret
        .issuer_file(4, "iss_node_test", Some(lock_id))
        .expect("slot 4 is active");
    let issuer_path = dir.join("issuer.json");
    let minted_path = dir.join("minted.json");
    std::fs::write(&issuer_path, issuer.to_json()).expect("write the issuer file");
    let _ = std::fs::remove_file(&minted_path);

    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", "tests/js/guest-code.test.mjs"])
        .current_dir(crate_dir)
        .env("LK_ISSUER_FILE", &issuer_path)
        .env("LK_MINTED", &minted_path)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "node --test failed:\n{stdout}\n{stderr}");
    // The round trip below needs the Node side to have run, not skipped.
    assert!(stdout.contains("skipped 0"), "a Node test skipped:\n{stdout}");

    // Every code the browser minted is the one Rust mints for its window, and the lock (the
    // Rust `check`) grants it exactly inside that window.
    let minted: Value =
        serde_json::from_str(&std::fs::read_to_string(&minted_path).expect("the Node test wrote its codes"))
            .expect("JSON");
    assert_eq!(minted["issuer"]["lockId"], lock_id);
    assert_eq!(
        (minted["issuer"]["slot"].as_u64(), minted["issuer"]["epoch"].as_u64()),
        (Some(4), Some(3))
    );
    let rows = minted["minted"].as_array().expect("a list");
    assert!(rows.len() >= 405, "{} codes", rows.len());
    let table = secret.issuer_states();
    let n = |row: &Value, f: &str| row[f].as_i64().unwrap_or_else(|| panic!("{f} in {row}"));
    for row in rows {
        let (start, end) = (n(row, "start"), n(row, "end"));
        let (from, to) = (n(row, "codeStart"), n(row, "codeEnd"));
        let one_time = row["oneTime"].as_bool().expect("oneTime");
        let code = row["code"].as_str().expect("code");
        // The window rules of docs/guest-codes.md: whole hours, covering the request, at most
        // an hour beyond it at either end, at most 168 hours; unwidened, the rounded window.
        assert!(from % 3600 == 0 && to % 3600 == 0, "{row}");
        assert!(
            from <= start && to >= end && start - from <= 3600 && to - end <= 3600,
            "{row}"
        );
        assert!(to - from <= 168 * 3600, "{row}");
        let covering = Validity::covering(start, end).expect("a valid window");
        if row["widened"] == "none" {
            assert_eq!(covering.window_secs(), Some((from, to)), "{row}");
        }
        let taken: Vec<&str> = row["taken"]
            .as_array()
            .expect("taken")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(!taken.contains(&code), "{row}");

        let validity = Validity::Window {
            start_hour: (from / 3600) as u32,
            hours: ((to - from) / 3600) as u16,
        };
        let ours = mint(&issuer.key, lock_id.as_bytes(), 4, 3, validity, one_time).expect("mint");
        assert_eq!(ours.to_string(), code, "{row}");
        for (at, want) in [
            (from - 1, Timing::NotYetValid),
            (from, Timing::Valid),
            (to - 1, Timing::Valid),
            (to, Timing::Expired),
        ] {
            match check(code.as_bytes(), lock_id.as_bytes(), &table, at) {
                Check::Genuine {
                    slot: 4,
                    validity: v,
                    one_time: o,
                    ..
                } if v == validity && o == one_time => assert_eq!(timing(v, at), want, "{row} at {at}"),
                other => panic!("{row} at {at}: {other:?}"),
            }
        }
        // Not for another lock.
        assert_eq!(check(code.as_bytes(), b"door-wasm-2", &table, from), Check::Unknown);
    }
    let widened: Vec<&str> = rows.iter().filter_map(|r| r["widened"].as_str()).collect();
    for w in ["none", "end", "start", "both"] {
        assert!(widened.contains(&w), "no code widened {w}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! `latchkey guest-code`: the built binary, run as a user or a script would.
//!
//! The test vectors come from `docs/guest-codes.md` itself, as in the crate's own tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use jiff::Timestamp;
use latchkey_guest_code::RootSecret;
use latchkey_guest_code::file::{IssuerFile, SecretFile, SlotEpoch};

const DOC: &str = include_str!("../../../docs/guest-codes.md");

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn latchkey(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run latchkey");
    let mut input = child.stdin.take().expect("stdin");
    let text = stdin.to_string();
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
    let out = child.wait_with_output().expect("wait for latchkey");
    // A command that fails before reading its input closes the pipe: not an error here.
    let _ = writer.join().expect("writer thread");
    let run = Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "latchkey {args:?} panicked: {}",
        run.stderr
    );
    run
}

/// A fresh, empty folder for one test.
fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "guest-code-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The body rows of the table after `<!-- vectors:NAME -->`.
fn table(name: &str) -> Vec<Vec<String>> {
    let marker = format!("<!-- vectors:{name} -->");
    let (_, rest) = DOC.split_once(&marker).expect("table marker in the doc");
    let rows: Vec<Vec<String>> = rest
        .trim_start()
        .lines()
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect();
    assert!(rows.len() > 2, "table {name} is empty");
    rows[2..].to_vec()
}

fn secret_hex(name: &str) -> String {
    table("secrets")
        .into_iter()
        .find(|r| r[0] == name)
        .map(|r| r[1].clone())
        .expect("a named secret")
}

fn pairs(cell: &str) -> Vec<SlotEpoch> {
    if cell == "-" {
        return Vec::new();
    }
    cell.split_whitespace()
        .map(|p| {
            let (slot, epoch) = p.split_once(':').expect("slot:epoch");
            SlotEpoch {
                slot: slot.parse().expect("slot"),
                epoch: epoch.parse().expect("epoch"),
            }
        })
        .collect()
}

fn root(name: &str) -> RootSecret {
    let json = format!(
        r#"{{"format":"latchkey-lock-secret/1","secret":"{}","issuers":[]}}"#,
        secret_hex(name)
    );
    SecretFile::parse(&json).expect("secret").secret
}

fn keygen(dir: &Path) -> (PathBuf, PathBuf) {
    let r = latchkey(&["guest-code", "keygen", "--out", s(dir)], "");
    assert_eq!(r.status, 0, "{}", r.stderr);
    let paths: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(paths.len(), 2, "{}", r.stdout);
    (PathBuf::from(paths[0]), PathBuf::from(paths[1]))
}

fn verify(secret: &Path, lock: &str, at: &str, input: &str) -> Vec<String> {
    let r = latchkey(
        &[
            "guest-code",
            "verify",
            "--secret-file",
            s(secret),
            "--lock",
            lock,
            "--at",
            at,
        ],
        input,
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    r.stdout.lines().map(str::to_string).collect()
}

fn mint(issuer: &Path, lock: Option<&str>, start: &str, end: &str, extra: &[&str]) -> Run {
    let mut args = vec!["guest-code", "mint", "--issuer-file", s(issuer)];
    if let Some(lock) = lock {
        args.extend(["--lock", lock]);
    }
    args.extend(["--start", start, "--end", end]);
    args.extend(extra);
    latchkey(&args, "")
}

#[test]
fn keygen_mint_verify_round_trip() {
    let dir = scratch("round-trip").join("new/sub");
    let (secret, issuer) = keygen(&dir);
    assert_eq!(secret, dir.join("lock-secret.json"));
    assert_eq!(issuer, dir.join("issuer.json"));
    #[cfg(unix)]
    for p in [&secret, &issuer] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", p.display());
    }
    let lock_file = SecretFile::parse(&std::fs::read_to_string(&secret).expect("read")).expect("a lock secret file");
    let issuer_file = IssuerFile::parse(&std::fs::read_to_string(&issuer).expect("read")).expect("an issuer file");
    assert_eq!((issuer_file.slot, issuer_file.epoch), (1, 1));
    assert_eq!(issuer_file.lock_id, None);
    assert_eq!(issuer_file.key, lock_file.secret.issuer_key(1, 1));

    let r = mint(
        &issuer,
        Some("lock-eval-1"),
        "2030-01-01T10:00:00Z",
        "2030-01-02T10:00:00Z",
        &["--one-time"],
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let mut lines = r.stdout.lines();
    let code = lines.next().expect("the code line").to_string();
    assert!(code.len() == 12 && code.bytes().all(|b| b.is_ascii_digit()), "{code:?}");
    assert!(
        r.stdout
            .contains("valid from 2030-01-01T10:00:00Z to 2030-01-02T10:00:00Z"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("then #"), "{}", r.stdout);

    let granted = "granted slot=1 start=2030-01-01T10:00:00Z end=2030-01-02T10:00:00Z one_time=true";
    let cases = [
        ("2030-01-01T10:00:00Z", granted),
        ("2030-01-02T09:30:00Z", granted),
        ("2030-01-01T09:59:59Z", "denied not-yet-valid"),
        ("2030-01-02T12:00:00Z", "denied expired"),
        ("2030-01-01T11:00:00+01:00", granted),
    ];
    for (at, want) in cases {
        assert_eq!(
            verify(&secret, "lock-eval-1", at, &format!("{code}\n")),
            [want],
            "at {at}"
        );
    }
    assert_eq!(
        verify(&secret, "another-lock", "2030-01-01T12:00:00Z", &format!("{code}\n")),
        ["denied unknown-credential"]
    );

    // Keygen refuses to overwrite, unless told to.
    let again = latchkey(&["guest-code", "keygen", "--out", s(&dir)], "");
    assert_eq!(again.status, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    let forced = latchkey(&["guest-code", "keygen", "--out", s(&dir), "--force"], "");
    assert_eq!(forced.status, 0, "{}", forced.stderr);
    assert_eq!(
        verify(&secret, "lock-eval-1", "2030-01-01T12:00:00Z", &format!("{code}\n")),
        ["denied unknown-credential"],
        "a fresh secret does not know the old code"
    );
}

#[test]
fn keygen_slot_and_epoch() {
    let dir = scratch("slot");
    let r = latchkey(
        &["guest-code", "keygen", "--out", s(&dir), "--slot", "0", "--epoch", "7"],
        "",
    );
    assert_eq!(r.status, 0, "{}", r.stderr);
    let lock = SecretFile::parse(&std::fs::read_to_string(dir.join("lock-secret.json")).expect("read")).expect("valid");
    assert_eq!(lock.issuers, [SlotEpoch { slot: 0, epoch: 7 }]);
    let bad = latchkey(&["guest-code", "keygen", "--out", s(&dir), "--slot", "8"], "");
    assert_eq!(bad.status, 2, "{}", bad.stderr);
}

#[test]
fn doc_mint_vectors_through_the_cli() {
    let dir = scratch("mint-vectors");
    let mut windows = 0;
    for r in table("mint") {
        let [n, sec, lock, slot, epoch, window, one_time, effective, code] = &r[..] else {
            panic!("bad row {r:?}");
        };
        let Some((start, end)) = window.split_once('/') else {
            continue; // held keys are made by the server, not by this command
        };
        let slot: u8 = slot.parse().expect("slot");
        let epoch: u32 = epoch.parse().expect("epoch");
        let file = IssuerFile {
            issuer_id: format!("vector-{n}"),
            lock_id: Some(lock.clone()),
            slot,
            epoch,
            key: root(sec).issuer_key(slot, epoch),
        };
        let path = dir.join(format!("issuer-{n}.json"));
        std::fs::write(&path, file.to_json()).expect("write issuer file");
        let extra: &[&str] = if one_time == "yes" { &["--one-time"] } else { &[] };
        // The lock comes from the file here, and from the flag (the same id) in the second run.
        for lock_flag in [None, Some(lock.as_str())] {
            let out = mint(&path, lock_flag, start, end, extra);
            assert_eq!(out.status, 0, "{r:?}: {}", out.stderr);
            let mut lines = out.stdout.lines();
            assert_eq!(lines.next(), Some(code.as_str()), "{r:?}");
            let (a, b) = effective.split_once('/').expect("effective window");
            assert!(
                lines
                    .next()
                    .is_some_and(|l| l.starts_with(&format!("valid from {a} to {b} "))),
                "{r:?}: {}",
                out.stdout
            );
        }
        let other = mint(&path, Some("not-this-lock"), start, end, extra);
        assert_eq!(other.status, 1, "{r:?}");
        assert!(other.stderr.contains("is for lock"), "{}", other.stderr);
        windows += 1;
    }
    assert!(windows >= 7);
}

#[test]
fn doc_verify_vectors_through_the_cli() {
    let dir = scratch("verify-vectors");
    let rows = table("verify");
    assert!(rows.len() >= 32);
    for r in rows {
        let [n, code, sec, lock, issuers, revoked, at, want] = &r[..] else {
            panic!("bad row {r:?}");
        };
        let file = SecretFile {
            secret: root(sec),
            issuers: pairs(issuers),
            revoked: pairs(revoked),
        };
        let path = dir.join(format!("secret-{n}.json"));
        std::fs::write(&path, file.to_json()).expect("write secret file");
        // The keypad's `#` is accepted too.
        let got = verify(&path, lock, at, &format!("{code}\n{code}#\n"));
        assert_eq!(got, [want.as_str(), want.as_str()], "{r:?}");
    }
}

#[test]
fn windows_across_daylight_saving_changes() {
    let dir = scratch("dst");
    let (secret, issuer) = keygen(&dir);
    // Admin's local times in Berlin, with the offsets in force at each instant.
    let cases = [
        // spring forward (2025-03-30 02:00 -> 03:00): 19 real hours
        (
            "2025-03-29T15:00:00+01:00",
            "2025-03-30T11:00:00+02:00",
            "2025-03-29T14:00:00Z",
            "2025-03-30T09:00:00Z",
            19,
        ),
        // fall back (2025-10-26 03:00 -> 02:00): 21 real hours
        (
            "2025-10-25T15:00:00+02:00",
            "2025-10-26T11:00:00+01:00",
            "2025-10-25T13:00:00Z",
            "2025-10-26T10:00:00Z",
            21,
        ),
        // 01:30 to 03:30 local around the missing hour: one real hour, rounded out to two
        (
            "2025-03-30T01:30:00+01:00",
            "2025-03-30T03:30:00+02:00",
            "2025-03-30T00:00:00Z",
            "2025-03-30T02:00:00Z",
            2,
        ),
    ];
    for (start, end, utc_start, utc_end, hours) in cases {
        let out = mint(&issuer, Some("door"), start, end, &[]);
        assert_eq!(out.status, 0, "{}", out.stderr);
        let code = out.stdout.lines().next().expect("code");
        assert!(
            out.stdout
                .contains(&format!("valid from {utc_start} to {utc_end} (UTC, {hours} h")),
            "{}",
            out.stdout
        );
        let start_t: Timestamp = utc_start.parse().expect("instant");
        let end_t: Timestamp = utc_end.parse().expect("instant");
        let before = Timestamp::from_second(start_t.as_second() - 1).expect("instant");
        let last = Timestamp::from_second(end_t.as_second() - 1).expect("instant");
        let input = format!("{code}\n");
        assert_eq!(
            verify(&secret, "door", &before.to_string(), &input),
            ["denied not-yet-valid"]
        );
        assert!(verify(&secret, "door", start, &input)[0].starts_with("granted"));
        assert!(verify(&secret, "door", &last.to_string(), &input)[0].starts_with("granted"));
        assert_eq!(verify(&secret, "door", utc_end, &input), ["denied expired"]);
    }
}

#[test]
fn verify_answers_every_line() {
    let dir = scratch("lines");
    let (secret, issuer) = keygen(&dir);
    let out = mint(&issuer, Some("l"), "2030-05-01T00:00:00Z", "2030-05-01T05:00:00Z", &[]);
    let code = out.stdout.lines().next().expect("code").to_string();
    let long = "9".repeat(100_000);
    let input = format!(
        "{code}\n\n   \nabc\n{code}\r\n  {code}  #\n{code}##\n12345678901\n1234567890123\n{long}\n\u{00e9}\u{0000}\n{code}"
    );
    let got = verify(&secret, "l", "2030-05-01T01:00:00Z", &input);
    let ok = "granted slot=1 start=2030-05-01T00:00:00Z end=2030-05-01T05:00:00Z one_time=false";
    let no = "denied unknown-credential";
    assert_eq!(got, [ok, no, no, no, ok, ok, no, no, no, no, no, ok]);

    // Many lines: one verdict each, in order.
    let n = 50_000;
    let mut input = String::with_capacity(n * 13);
    for i in 0..n {
        if i % 1000 == 0 {
            input.push_str(&code);
        } else {
            input.push_str(&format!(
                "{:012}",
                (i as u64).wrapping_mul(0x9e37_79b9) % 1_000_000_000_000
            ));
        }
        input.push('\n');
    }
    let got = verify(&secret, "l", "2030-05-01T01:00:00Z", &input);
    assert_eq!(got.len(), n);
    for (i, line) in got.iter().enumerate() {
        if i % 1000 == 0 {
            assert_eq!(line, ok);
        } else {
            assert!(line.starts_with("denied ") || line.starts_with("granted "), "{line}");
        }
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = scratch("errors");
    let (secret, issuer) = keygen(&dir);
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{ this is not json").expect("write");
    let wrong_format = dir.join("wrong.json");
    std::fs::write(&wrong_format, r#"{"format":"latchkey-issuer/9"}"#).expect("write");
    let missing = dir.join("missing.json");
    let (i, sf, g, w, m) = (s(&issuer), s(&secret), s(&garbage), s(&wrong_format), s(&missing));
    let t1 = "2030-01-01T10:00:00Z";
    let t2 = "2030-01-02T10:00:00Z";
    let long_lock = "x".repeat(65);
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["mint", "--issuer-file", i, "--lock", "l", "--start", t2, "--end", t1],
            1,
            "must be after",
        ),
        (
            vec!["mint", "--issuer-file", i, "--lock", "l", "--start", t1, "--end", t1],
            1,
            "must be after",
        ),
        (
            vec![
                "mint",
                "--issuer-file",
                i,
                "--lock",
                "l",
                "--start",
                t1,
                "--end",
                "2030-01-08T11:00:00Z",
            ],
            1,
            "at most 168 hours",
        ),
        (
            vec![
                "mint",
                "--issuer-file",
                i,
                "--lock",
                "l",
                "--start",
                "1969-12-31T00:00:00Z",
                "--end",
                "1970-01-01T01:00:00Z",
            ],
            1,
            "1970",
        ),
        (
            vec!["mint", "--issuer-file", i, "--start", t1, "--end", t2],
            1,
            "--lock",
        ),
        (
            vec!["mint", "--issuer-file", g, "--lock", "l", "--start", t1, "--end", t2],
            1,
            "issuer file",
        ),
        (
            vec!["mint", "--issuer-file", w, "--lock", "l", "--start", t1, "--end", t2],
            1,
            "latchkey-issuer/9",
        ),
        (
            vec!["mint", "--issuer-file", sf, "--lock", "l", "--start", t1, "--end", t2],
            1,
            "is this the right file",
        ),
        (
            vec!["mint", "--issuer-file", m, "--lock", "l", "--start", t1, "--end", t2],
            1,
            "missing.json",
        ),
        (
            vec![
                "mint",
                "--issuer-file",
                i,
                "--lock",
                "l",
                "--start",
                "tomorrow",
                "--end",
                t2,
            ],
            2,
            "RFC 3339",
        ),
        (
            vec![
                "mint",
                "--issuer-file",
                i,
                "--lock",
                "l",
                "--start",
                "2030-01-01T10:00:00",
                "--end",
                t2,
            ],
            2,
            "RFC 3339",
        ),
        (
            vec![
                "mint",
                "--issuer-file",
                i,
                "--lock",
                &long_lock,
                "--start",
                t1,
                "--end",
                t2,
            ],
            2,
            "64 bytes",
        ),
        (
            vec!["mint", "--issuer-file", i, "--lock", "l", "--start", t1],
            2,
            "--end",
        ),
        (
            vec!["verify", "--secret-file", i, "--lock", "l", "--at", t1],
            1,
            "is this the right file",
        ),
        (
            vec!["verify", "--secret-file", g, "--lock", "l", "--at", t1],
            1,
            "lock secret file",
        ),
        (
            vec!["verify", "--secret-file", m, "--lock", "l", "--at", t1],
            1,
            "missing.json",
        ),
        (
            vec!["verify", "--secret-file", sf, "--lock", "l", "--at", "noon"],
            2,
            "RFC 3339",
        ),
        (vec!["verify", "--secret-file", sf, "--lock", "l"], 2, "--at"),
        (vec!["keygen"], 2, "--out"),
        (vec!["frobnicate"], 2, "unrecognized"),
    ];
    for (args, status, needle) in cases {
        let mut full = vec!["guest-code"];
        full.extend(&args);
        let r = latchkey(&full, "123456789012\n");
        assert_eq!(r.status, status, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        if status == 1 {
            assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
            assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
        }
    }
}

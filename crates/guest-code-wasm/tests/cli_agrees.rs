//! `tests/fixtures/mint-cases.json` holds requests to `latchkey guest-code mint` with what it
//! answers: refusals (corrupt issuer files, wrong locks, windows too long) and notes (a start
//! far ahead, a window that has ended). The Node test checks the WebAssembly build against it;
//! these check the same Rust functions natively, and the `latchkey` binary itself, so the
//! browser and the CLI give the same answers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use latchkey_guest_code_wasm::{MintRequest, instant, mint_code};
use serde_json::{Value, json};

const CASES: &str = include_str!("fixtures/mint-cases.json");

fn fixture() -> Value {
    serde_json::from_str(CASES).expect("mint-cases.json is JSON")
}

fn secs(v: &Value) -> i64 {
    let text = v.as_str().expect("an instant");
    text.parse::<jiff::Timestamp>()
        .expect("an RFC 3339 instant")
        .as_second()
}

fn str_of<'a>(case: &'a Value, field: &str) -> &'a str {
    case[field].as_str().unwrap_or_else(|| panic!("{field} in {case}"))
}

fn file_text<'a>(fixture: &'a Value, case: &Value) -> &'a str {
    let name = str_of(case, "file");
    fixture["files"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no file {name} in the fixture"))
}

/// What the fixture says a case answers, in the shape `mint_code`'s answer is compared in.
fn answer_of(result: Result<latchkey_guest_code_wasm::Minted, latchkey_guest_code_wasm::Failure>) -> Value {
    match result {
        Ok(m) => json!({
            "code": m.code,
            "window": format!("{}/{}", instant(m.start), instant(m.end)),
            "warnings": m.warnings.iter().map(|w| json!({"kind": w.kind, "message": w.message})).collect::<Vec<_>>(),
        }),
        Err(f) => json!({"error": {"kind": f.kind, "message": f.message}}),
    }
}

fn expected_of(case: &Value) -> Value {
    if case.get("error").is_some() {
        json!({"error": case["error"]})
    } else {
        json!({"code": case["code"], "window": case["window"], "warnings": case["warnings"]})
    }
}

#[test]
fn the_rust_functions_answer_as_the_fixture_says() {
    let fixture = fixture();
    let now = secs(&fixture["now"]);
    let cases = fixture["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let mut kinds = std::collections::BTreeSet::new();
    for case in cases {
        let req = MintRequest {
            issuer: file_text(&fixture, case).to_string(),
            lock: case["lock"].as_str().map(str::to_string),
            start: secs(&case["start"]),
            end: secs(&case["end"]),
            one_time: case["oneTime"].as_bool().unwrap_or(false),
            now,
            taken: Vec::new(),
        };
        let got = answer_of(mint_code(&req));
        assert_eq!(got, expected_of(case), "{}", case["name"]);
        kinds.insert(
            got["error"]["kind"]
                .as_str()
                .map_or("minted".to_string(), str::to_string),
        );
    }
    // Every refusal the CLI can give, and codes with each of its notes.
    for kind in [
        "issuer-file",
        "wrong-lock",
        "no-lock",
        "lock-id-too-long",
        "empty-window",
        "window-too-long",
        "start-out-of-range",
        "minted",
    ] {
        assert!(kinds.contains(kind), "no case of {kind}");
    }
}

/// The `latchkey` binary of this build, if it was built and is newer than its sources.
///
/// Cargo gives `CARGO_BIN_EXE_*` to the tests of the binary's own package only; this crate's
/// tests find it beside their own executable (`target/debug/deps/..` → `target/debug`).
/// `cargo nextest run --workspace` always builds it first, since the `latchkey` package has
/// integration tests.
fn latchkey_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no target folder above the test")?;
    let bin = dir.join(format!("latchkey{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .map_err(|_| format!("{} is not built (cargo build -p latchkey)", bin.display()))?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for source in [
        "crates/latchkey/src/guest_code.rs",
        "crates/guest-code/src/lib.rs",
        "crates/guest-code/src/file.rs",
    ] {
        let changed = std::fs::metadata(root.join(source))
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        if changed > built {
            return Err(format!(
                "{} is older than {source} (cargo build -p latchkey)",
                bin.display()
            ));
        }
    }
    Ok(bin)
}

#[test]
fn the_cli_answers_as_the_fixture_says() {
    let bin = match latchkey_binary() {
        Ok(bin) => bin,
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but the latchkey binary cannot be used: {why}"
            );
            eprintln!("SKIPPED: {why}; `cargo nextest run --workspace` builds it");
            return;
        }
    };
    let fixture = fixture();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-agrees-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    for (i, case) in fixture["cases"].as_array().expect("cases").iter().enumerate() {
        let path = dir.join(format!("issuer-{i}.json"));
        std::fs::write(&path, file_text(&fixture, case)).expect("write the issuer file");
        let mut cmd = Command::new(&bin);
        cmd.args(["guest-code", "mint", "--issuer-file"]).arg(&path);
        if let Some(lock) = case["lock"].as_str() {
            cmd.args(["--lock", lock]);
        }
        cmd.args(["--start", str_of(case, "start"), "--end", str_of(case, "end")]);
        if case["oneTime"].as_bool() == Some(true) {
            cmd.arg("--one-time");
        }
        let out = cmd.env_remove("RUST_BACKTRACE").output().expect("run latchkey");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = &case["name"];
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        if let Some(error) = case.get("error") {
            let want = case["cli"].as_str().unwrap_or_else(|| str_of(error, "message"));
            assert_ne!(out.status.code(), Some(0), "{name}: {stdout}");
            assert!(
                stderr.contains(want),
                "{name}: the CLI says {stderr:?}, expected {want:?}"
            );
            if error["kind"] == "issuer-file" {
                let line = format!("error: {}: {want}\n", path.display());
                assert_eq!(stderr, line, "{name}");
            }
        } else {
            assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
            let mut lines = stdout.lines();
            assert_eq!(lines.next(), case["code"].as_str(), "{name}");
            let (from, to) = str_of(case, "window").split_once('/').expect("a window");
            let valid = lines.next().unwrap_or_default();
            assert!(
                valid.starts_with(&format!("valid from {from} to {to} ")),
                "{name}: {valid}"
            );
            let notes: Vec<&str> = stderr.lines().collect();
            let warnings = case["warnings"].as_array().expect("warnings");
            assert_eq!(notes.len(), warnings.len(), "{name}: {stderr}");
            for (note, w) in notes.iter().zip(warnings) {
                let prefix = if w["kind"] == "ended" { "warning: " } else { "note: " };
                assert_eq!(note.strip_prefix(prefix), w["message"].as_str(), "{name}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! The web app in a real browser: starts the server (fresh SQLite database, file SMS outbox) and
//! runs `tests/browser/flows.mjs` (playwright-core driving the system's headless Chromium).
//!
//! Needs `chromium` and `npm ci` in `tests/browser` (`.ci/run` does both). Outside CI a machine
//! without them skips this test with a message; with `CI=true` it fails instead.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use async_trait::async_trait;
use latchkey_server::app::{Parts, Server};
use latchkey_server::config::{Config, MqttConfig};
use latchkey_server::domain::{OsEntropy, SystemClock};
use latchkey_server::gateway::{Gateway, PairedDevice, PairingError, PairingGrant, UnlockError, UnlockOutcome};
use latchkey_server::store::LockRow;

const SETUP_CODE: &str = "2468-1357";

/// Stands in for the device link: one unpaired lock showing `SETUP_CODE`, which opens on
/// every remote unlock.
struct OneLock;

#[async_trait]
impl Gateway for OneLock {
    async fn pair(&self, setup_code: &str, _grant: &PairingGrant) -> Result<PairedDevice, PairingError> {
        if setup_code == SETUP_CODE.replace('-', "") {
            Ok(PairedDevice {
                serial: "VL-BROWSER-1".into(),
                device_key: [9; 32],
            })
        } else {
            Err(PairingError::NoAnswer)
        }
    }
    fn lock_changed(&self, _lock_id: &str) {}
    async fn unlock(&self, _lock: &LockRow, _user_id: u32, _seq: u64) -> Result<UnlockOutcome, UnlockError> {
        Ok(UnlockOutcome::Unlocked)
    }
    async fn unpaired(&self, _lock: &LockRow) {}
    fn ready(&self) -> bool {
        true
    }
}

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("LK_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_app_flows_in_headless_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("tests/browser");
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let browser = chromium();
    let ready = browser.is_some() && dir.join("node_modules/playwright-core").exists();
    if !ready {
        assert!(
            !ci,
            "CI=true but Chromium or tests/browser/node_modules is missing; .ci/run installs them"
        );
        eprintln!("SKIPPED: install chromium and run `npm ci` in tests/browser to run the browser tests");
        return;
    }

    let data = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(data.path(), None, MqttConfig::Embedded("127.0.0.1:0".parse().unwrap()));
    // The SMS links must point at this server.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    config.http = addr;
    config.public_url = format!("http://{addr}");
    let server = Server::start(
        config,
        Parts {
            clock: Arc::new(SystemClock),
            entropy: Arc::new(OsEntropy),
            gateway: Some(Arc::new(OneLock)),
        },
    )
    .await
    .expect("server starts");

    let shots = root.join("tests/browser/screenshots");
    let base = format!("http://{}", server.addr);
    let outbox = data.path().join("outbox.jsonl");
    let browser = browser.unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("flows.mjs")
            .current_dir(&dir)
            .env("LK_BASE", &base)
            .env("LK_OUTBOX", &outbox)
            .env("LK_SETUP_CODE", SETUP_CODE)
            .env("LK_SHOTS", &shots)
            .env("LK_CHROMIUM", &browser)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    server.stop().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "browser flows failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("browser flows passed"), "{stdout}");
}

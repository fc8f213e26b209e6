//! The web app in a real browser: starts the server (fresh SQLite database, file SMS outbox,
//! embedded broker) and a real virtual lock, and runs `tests/browser/flows.mjs` (playwright-core
//! driving the system's headless Chromium), which pairs the lock, unlocks it remotely and types a
//! guest code on its keypad as well as going through the screens. A local feed server serves a
//! listing's calendar (`LK_FEED`) for the rental-calendar screen.
//!
//! A loopback control server (`LK_SERVER_CONTROL`: `POST /server/stop`, `POST /server/start`)
//! lets the flows stop the server and start it again on the same address, data folder (SQLite
//! file, SMS outbox) and embedded broker port, as a crashed or upgraded server would: the
//! virtual lock stays up meanwhile and decides at its keypad on its own.
//!
//! Needs `chromium` and `npm ci` in `tests/browser` (`.ci/run` does both). Outside CI a machine
//! without them skips this test with a message; with `CI=true` it fails instead.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use latchkey_server::app::{Parts, Server};
use latchkey_server::config::{Config, MqttConfig};
use latchkey_server::domain::{OsEntropy, SystemClock};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// An Airbnb-shaped export whose dates are around today in the lock's zone (Europe/Berlin, as
/// `flows.mjs` pairs it): Greta's stay began yesterday (her key works now), Hugo's starts in
/// five days, and a block that must not become a key.
fn listing_feed() -> String {
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
        .date();
    let day = |n: i64| {
        today
            .checked_add(jiff::Span::new().days(n))
            .unwrap()
            .strftime("%Y%m%d")
            .to_string()
    };
    let mut out = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\n");
    for (uid, first, last, summary) in [
        ("res-greta@lk", -1, 2, "Reserved - Greta Gast"),
        ("res-hugo@lk", 5, 8, "Reserved - Hugo Later"),
        ("blk-1@lk", 9, 12, "Airbnb (Not available)"),
    ] {
        out += &format!(
            "BEGIN:VEVENT\r\nDTSTAMP:20270101T000000Z\r\nUID:{uid}\r\nDTSTART;VALUE=DATE:{}\r\n\
             DTEND;VALUE=DATE:{}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n",
            day(first),
            day(last)
        );
    }
    out + "END:VCALENDAR\r\n"
}

/// Serves `body` as `text/calendar` on loopback; its URL.
async fn feed_server(body: &str) -> String {
    let body = body.to_string();
    let app = axum::Router::new().route(
        "/listing.ics",
        axum::routing::get(move || {
            let body = body.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/listing.ics")
}

/// The server under test, which the flows may stop and start again with the same configuration.
struct Switch {
    config: Config,
    server: tokio::sync::Mutex<Option<Server>>,
}

impl Switch {
    async fn start(&self) -> anyhow::Result<()> {
        let mut slot = self.server.lock().await;
        if slot.is_none() {
            let parts = Parts {
                clock: Arc::new(SystemClock),
                entropy: Arc::new(OsEntropy),
                gateway: None,
            };
            *slot = Some(Server::start(self.config.clone(), parts).await?);
        }
        Ok(())
    }

    async fn stop(&self) {
        if let Some(server) = self.server.lock().await.take() {
            server.stop().await;
        }
    }
}

/// Serves `POST /server/stop` and `POST /server/start` on loopback; its URL.
async fn control_server(switch: Arc<Switch>) -> String {
    use axum::http::StatusCode;
    let stop = switch.clone();
    let app = axum::Router::new()
        .route(
            "/server/stop",
            axum::routing::post(move || {
                let switch = stop.clone();
                async move {
                    switch.stop().await;
                    StatusCode::NO_CONTENT
                }
            }),
        )
        .route(
            "/server/start",
            axum::routing::post(move || {
                let switch = switch.clone();
                async move {
                    match switch.start().await {
                        Ok(()) => (StatusCode::NO_CONTENT, String::new()),
                        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
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

    latchkey_client::install_crypto_provider();
    let data = tempfile::tempdir().unwrap();
    let broker_port = free_port();
    let mut config = Config::for_tests(
        data.path(),
        None,
        MqttConfig::Embedded(format!("127.0.0.1:{broker_port}").parse().unwrap()),
    );
    // The SMS links must point at this server.
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    config.http = addr;
    config.public_url = format!("http://{addr}");
    let switch = Arc::new(Switch {
        config,
        server: tokio::sync::Mutex::new(None),
    });
    switch.start().await.expect("server starts");
    let server_control = control_server(switch.clone()).await;
    // A real virtual lock on the server's embedded broker, waiting to be paired from the browser.
    let lock = latchkey_vlock::start(latchkey_vlock::Options {
        state: data.path().join("lock.state"),
        broker_host: "127.0.0.1".into(),
        broker_port,
        control: Some("127.0.0.1:0".parse().unwrap()),
        fake_clock: false,
        relock: Duration::from_secs(2),
    })
    .await
    .expect("virtual lock starts");
    let lock_control = format!("http://{}", lock.control_addr.expect("a control port was asked for"));
    let setup_code = lock.setup_code().expect("a fresh lock shows its setup code");
    // Pairing from the browser needs both broker connections up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ready = reqwest::get(format!("http://{addr}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success());
        let online = match reqwest::get(format!("{lock_control}/status")).await {
            Ok(r) => r.json::<serde_json::Value>().await.is_ok_and(|s| s["online"] == true),
            Err(_) => false,
        };
        if ready && online {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "server or lock not connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A listing's calendar on a local feed server (the server allows private targets in
    // tests): a stay that has begun, one later, and a block.
    let feed = feed_server(&listing_feed()).await;

    let shots = root.join("tests/browser/screenshots");
    let base = format!("http://{addr}");
    let outbox = data.path().join("outbox.jsonl");
    let browser = browser.unwrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("flows.mjs")
            .current_dir(&dir)
            .env("LK_BASE", &base)
            .env("LK_OUTBOX", &outbox)
            .env("LK_SETUP_CODE", &setup_code)
            .env("LK_LOCK_CONTROL", &lock_control)
            .env("LK_SHOTS", &shots)
            .env("LK_CHROMIUM", &browser)
            .env("LK_FEED", &feed)
            .env("LK_SERVER_CONTROL", &server_control)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    drop(lock);
    switch.stop().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "browser flows failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("browser flows passed"), "{stdout}");
}

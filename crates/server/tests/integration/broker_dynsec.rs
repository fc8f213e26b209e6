//! Per-lock logins on Mosquitto through its dynamic-security plugin (`mqtt_dynsec`,
//! `docs/design/broker-auth.md`): a Mosquitto of the test's own with the plugin and no
//! anonymous access; the server, logged in as the dynsec admin, provisions the `pairing` login,
//! then a login for the lock it pairs, and deletes it when the lock is unpaired. A watcher with
//! the `pairing` login, there from before pairing, sees nothing of the paired lock there either
//! (pairing, a PIN synced, remote unlocks, a keypad entry), while the admin's login sees that
//! traffic. The plugin's answers are read: a healthy run counts no failed attempt, and a
//! server whose login is not a dynsec admin gets no answer and counts failures
//! (`latchkey_broker_provisioning_failures_total`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use latchkey_client::Client;
use latchkey_client::model::AccessLevel;
use latchkey_lock_core::RootSecret;
use latchkey_protocol::broker;
use latchkey_server::app::{Parts, Server};
use latchkey_server::config::{Config, ExternalLogin, MqttConfig};
use latchkey_server::domain::{OsEntropy, SystemClock};
use rumqttc::ConnectReturnCode;
use serde_json::{Value, json};

use crate::broker_rules::{Raw, granted};
use crate::device_kit::{FAMILY, OWNER, eventually, free_port, get_json, post_json, sign_in};

const PLUGIN: &str = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";

pub(crate) struct Mosq(Child);

impl Drop for Mosq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server (SQLite in `data`) on the Mosquitto at `port`, logged in as `user`, provisioning
/// per-lock logins through the dynamic-security plugin (`--mqtt-dynsec`).
pub(crate) async fn dynsec_server(data: &Path, port: u16, user: &str, password: &str) -> Server {
    std::fs::create_dir_all(data).unwrap();
    let mut config = Config::for_tests(
        data,
        None,
        MqttConfig::External {
            host: "127.0.0.1".into(),
            port,
        },
    );
    config.mqtt_login = ExternalLogin {
        credentials: Some((user.into(), password.into())),
        tls: false,
        ca_file: None,
    };
    config.mqtt_dynsec = true;
    Server::start(
        config,
        Parts {
            clock: Arc::new(SystemClock),
            entropy: Arc::new(OsEntropy),
            gateway: None,
        },
    )
    .await
    .expect("server starts")
}

pub(crate) fn start_mosquitto(dir: &Path, port: u16) -> Option<Mosq> {
    if !Path::new(PLUGIN).exists() {
        assert!(std::env::var("CI").is_err(), "the dynamic-security plugin is missing");
        eprintln!("skipped: no {PLUGIN}");
        return None;
    }
    let json = dir.join("dynsec.json");
    let ok = Command::new("mosquitto_ctrl")
        .args(["dynsec", "init"])
        .arg(&json)
        .args(["admin", "admin-password"])
        .stdout(Stdio::null())
        .status()
        .expect("mosquitto_ctrl runs");
    assert!(ok.success());
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "persistence false\nuser root\nlistener {port} 127.0.0.1\nallow_anonymous false\n\
             plugin {PLUGIN}\nplugin_opt_config_file {}\n",
            json.display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Mosq(child))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_provisions_per_lock_logins_on_mosquitto() {
    latchkey_client::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let Some(_mosquitto) = start_mosquitto(dir.path(), port) else {
        return;
    };
    let data = dir.path().join("server");
    let server = dynsec_server(&data, port, "admin", "admin-password").await;
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::new();

    // The server set up the `pairing` login; nothing else gets in.
    let watcher = eventually("the pairing login provisioned", 15, || async {
        let (raw, code) = Raw::connect(port, "watcher", broker::PAIRING_USERNAME, broker::PAIRING_PASSWORD).await;
        (code == ConnectReturnCode::Success).then_some(raw)
    })
    .await;
    let (_, code) = Raw::connect(port, "nobody", "someone", "secret").await;
    assert_ne!(code, ConnectReturnCode::Success);
    let refused = ["#", "latchkey/#", "latchkey/v1/locks/+/up", "latchkey/v1/locks/+/down"];
    let codes = watcher.subscribe_each(&refused).await;
    for (f, c) in refused.iter().zip(&codes) {
        assert!(!granted(c), "the pairing login was granted {f}: {c:?}");
    }
    let codes = watcher.subscribe_each(&["latchkey/v1/pair/+/down"]).await;
    assert!(granted(&codes[0]), "{codes:?}");

    // A lock pairs as `pairing`, then logs in with the login the server made for it.
    let lock = latchkey_vlock::start(latchkey_vlock::Options {
        state: dir.path().join("lock.state"),
        broker_host: "127.0.0.1".into(),
        broker_port: port,
        control: Some("127.0.0.1:0".parse().unwrap()),
        fake_clock: false,
        relock: Duration::from_secs(1),
    })
    .await
    .expect("virtual lock starts");
    let lock_base = format!("http://{}", lock.control_addr.unwrap());
    let setup_code = eventually("the lock online as pairing", 20, || async {
        let s = get_json(&http, &format!("{lock_base}/status")).await;
        (s["online"] == true).then(|| s["setup_code"].as_str().map(str::to_string))?
    })
    .await;
    let api = Client::new(base.clone());
    let outbox = data.join("outbox.jsonl");
    let owner = sign_in(&api, &outbox, OWNER).await;
    let lid = owner
        .pair_lock(&setup_code, "Front door", "Europe/Berlin")
        .await
        .expect("pairing")
        .id;
    eventually("the lock online under its own login", 20, || async {
        let s = get_json(&http, &format!("{lock_base}/status")).await;
        (s["paired"] == true && s["online"] == true && s["broker_user"] == lid.as_str() && s["time_trusted"] == true)
            .then_some(())
    })
    .await;

    // The admin's view of the lock's topics (its own client id: the server's role, added to
    // the admin login during setup, disconnected every connection of that login once).
    let (admin_view, code) = Raw::connect(port, "admin-view", "admin", "admin-password").await;
    assert_eq!(code, ConnectReturnCode::Success);
    let codes = admin_view.subscribe_each(&["latchkey/v1/locks/+/+"]).await;
    assert!(granted(&codes[0]), "{codes:?}");

    // A member with a PIN, remote unlocks, a keypad entry.
    let inv = owner
        .invite(
            &lid,
            &latchkey_client::model::CreateInvitation {
                name: None,
                phone: FAMILY.into(),
                access_level: AccessLevel::Family,
                schedule: None,
            },
        )
        .await
        .unwrap();
    let fam = sign_in(&api, &outbox, FAMILY).await;
    fam.accept_invitation(&inv.id).await.unwrap();
    let fam_id = fam.me().await.unwrap().id;
    fam.set_pin(&lid, &fam_id, "639172").await.unwrap();
    eventually("the PIN synced", 30, || async {
        let members = owner.members(&lid).await.ok()?;
        members
            .iter()
            .all(|m| m.sync == latchkey_client::model::SyncState::Synced)
            .then_some(())
    })
    .await;
    for _ in 0..2 {
        owner.unlock(&lid).await.expect("remote unlock");
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let r: Value = post_json(&http, &format!("{lock_base}/keypad"), json!({ "keys": "639172#" })).await;
    assert_eq!(r["outcome"], "granted", "{r}");

    // The paired lock's own topics stay closed to the watcher.
    let own = [
        format!("latchkey/v1/locks/{lid}/down"),
        format!("latchkey/v1/locks/{lid}/up"),
        format!("latchkey/v1/locks/{lid}/#"),
    ];
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    let codes = watcher.subscribe_each(&own).await;
    for (f, c) in own.iter().zip(&codes) {
        assert!(!granted(c), "the pairing login was granted {f}: {c:?}");
    }
    // The admin's login saw the lock's traffic: there was something to hide.
    let admin_seen = admin_view.seen();
    let lock_prefix = format!("latchkey/v1/locks/{lid}/");
    assert!(
        admin_seen.iter().filter(|(t, _)| t.starts_with(&lock_prefix)).count() >= 4,
        "the admin's login should see the lock's traffic: {admin_seen:?}"
    );

    // The watcher saw the pairing exchange only.
    let seen = watcher.seen();
    assert!(
        seen.iter().any(|(t, _)| t.starts_with("latchkey/v1/pair/")),
        "no pairing seen"
    );
    let leaked: Vec<&String> = seen
        .iter()
        .map(|(t, _)| t)
        .filter(|t| !t.starts_with("latchkey/v1/pair/"))
        .collect();
    assert!(leaked.is_empty(), "the pairing login read {leaked:?}");

    // The lock's login works only with its own client id; unpairing deletes it.
    let state: Value = serde_json::from_slice(&std::fs::read(dir.path().join("lock.state")).unwrap()).unwrap();
    let root: [u8; 32] = hex::decode(state["paired"]["root"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let password = broker::lock_password(&RootSecret(root), &lid);
    let (_, code) = Raw::connect(port, "not-the-lock", &lid, password.as_str()).await;
    assert_ne!(
        code,
        ConnectReturnCode::Success,
        "the lock's login with another client id"
    );
    owner.delete_lock(&lid).await.unwrap();
    eventually("the unpaired lock back as pairing", 20, || async {
        let s = get_json(&http, &format!("{lock_base}/status")).await;
        (s["paired"] == false && s["online"] == true && s["broker_user"] == broker::PAIRING_USERNAME).then_some(())
    })
    .await;
    let serial = get_json(&http, &format!("{lock_base}/status")).await["serial"]
        .as_str()
        .unwrap()
        .to_string();
    eventually("the unpaired lock's login deleted", 10, || async {
        let (_, code) = Raw::connect(port, &format!("lk-{serial}"), &lid, password.as_str()).await;
        (code != ConnectReturnCode::Success).then_some(())
    })
    .await;
    drop(lock);
    // Every answer the plugin gave was one the server expected.
    assert_eq!(
        provisioning_failures(&http, &base).await,
        0,
        "no failed dynamic-security attempt in a healthy run"
    );

    // A server whose login is no dynsec admin: its commands go unanswered, and it says so.
    let ok = Command::new("mosquitto_ctrl")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            "admin",
            "-P",
            "admin-password",
        ])
        .args(["dynsec", "createClient", "weak", "-p", "weak-password"])
        .stdout(Stdio::null())
        .status()
        .expect("mosquitto_ctrl runs");
    assert!(ok.success());
    let weak_data = dir.path().join("weak");
    let weak = dynsec_server(&weak_data, port, "weak", "weak-password").await;
    let weak_base = format!("http://{}", weak.addr);
    eventually(
        "a failed attempt counted by the server without dynsec rights",
        30,
        || async { (provisioning_failures(&http, &weak_base).await >= 1).then_some(()) },
    )
    .await;
    weak.stop().await;
    server.stop().await;
}

/// `latchkey_broker_provisioning_failures_total` from the server's `/metrics`.
async fn provisioning_failures(http: &reqwest::Client, base: &str) -> u64 {
    crate::device_kit::metric(http, base, "latchkey_broker_provisioning_failures_total")
        .await
        .expect("latchkey_broker_provisioning_failures_total in /metrics")
}

//! The server's own login to an external broker (`--mqtt mqtt://USER:PASSWORD@HOST:PORT`,
//! `mqtts://...` with the certificate checked, `mqtt_ca_file`), against a Mosquitto started on
//! free ports with a password file and a TLS listener whose certificate a test CA signed
//! (`docs/operations.md`, "Production layout").

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use latchkey_client::Client;
use latchkey_server::app::{Parts, Server};
use latchkey_server::config::{Config, ExternalLogin, MqttConfig};
use latchkey_server::domain::{OsEntropy, SystemClock};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::device_kit::{OWNER, eventually, free_port, get_json, sign_in};

const USER: &str = "latchkey";
const PASSWORD: &str = "s3cret:with@signs";

/// A test CA and a certificate for `localhost` that it signed: (CA PEM, cert PEM, key PEM).
fn certificates() -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Latchkey test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// Mosquitto with three listeners: plain with the password file, TLS with the password file,
/// and plain anonymous (for the virtual lock, whose own logins item 3 provisions).
struct Mosq {
    plain: u16,
    tls: u16,
    locks: u16,
    child: Child,
}

impl Drop for Mosq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_mosquitto(dir: &Path) -> Mosq {
    let (ca, cert, key) = certificates();
    std::fs::write(dir.join("ca.pem"), ca).unwrap();
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    let passwd = dir.join("passwd");
    let ok = Command::new("mosquitto_passwd")
        .arg("-c")
        .arg("-b")
        .arg(&passwd)
        .arg(USER)
        .arg(PASSWORD)
        .status()
        .expect("mosquitto_passwd runs");
    assert!(ok.success());
    let (plain, tls, locks) = (free_port(), free_port(), free_port());
    let d = dir.display();
    let conf = format!(
        "per_listener_settings true\npersistence false\nuser root\n\
         listener {plain} 127.0.0.1\nallow_anonymous false\npassword_file {d}/passwd\n\
         listener {tls} 127.0.0.1\nallow_anonymous false\npassword_file {d}/passwd\n\
         certfile {d}/cert.pem\nkeyfile {d}/key.pem\n\
         listener {locks} 127.0.0.1\nallow_anonymous true\n"
    );
    std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
    let child = Command::new("/usr/sbin/mosquitto")
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto runs");
    let m = Mosq {
        plain,
        tls,
        locks,
        child,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while [plain, tls, locks]
        .iter()
        .any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_err())
    {
        assert!(std::time::Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    m
}

async fn server(dir: &Path, name: &str, host: &str, port: u16, login: ExternalLogin) -> Server {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let mut config = Config::for_tests(
        &data,
        None,
        MqttConfig::External {
            host: host.into(),
            port,
        },
    );
    config.mqtt_login = login;
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

async fn ready(s: &Server) -> bool {
    let r = reqwest::get(format!("http://{}/readyz", s.addr)).await;
    r.is_ok_and(|r| r.status().is_success())
}

/// Whether the server reaches its broker within `secs` (`false`: it is still not ready then).
async fn reaches(s: &Server, secs: u64) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if ready(s).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn login(user: &str, password: &str, tls: bool, ca: Option<&Path>) -> ExternalLogin {
    ExternalLogin {
        credentials: Some((user.into(), password.into())),
        tls,
        ca_file: ca.map(Path::to_path_buf),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_logs_in_to_an_external_broker_with_credentials_and_tls() {
    latchkey_client::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let m = start_mosquitto(dir.path());
    let ca = dir.path().join("ca.pem");

    // Plain listener with a password file: the right login is admitted, others are not.
    let good = server(
        dir.path(),
        "a",
        "127.0.0.1",
        m.plain,
        login(USER, PASSWORD, false, None),
    )
    .await;
    assert!(reaches(&good, 15).await, "the right credentials reach the broker");
    let wrong = server(dir.path(), "b", "127.0.0.1", m.plain, login(USER, "nope", false, None)).await;
    let anonymous = server(dir.path(), "c", "127.0.0.1", m.plain, ExternalLogin::default()).await;
    // TLS listener: admitted with the test CA and the name on the certificate ...
    let tls = server(
        dir.path(),
        "d",
        "localhost",
        m.tls,
        login(USER, PASSWORD, true, Some(&ca)),
    )
    .await;
    assert!(reaches(&tls, 15).await, "mqtts:// with the CA file reaches the broker");
    // ... not with the system's CAs (which never signed it), not under another name, and not
    // in the clear.
    let system_cas = server(dir.path(), "e", "localhost", m.tls, login(USER, PASSWORD, true, None)).await;
    let other_name = server(
        dir.path(),
        "f",
        "127.0.0.1",
        m.tls,
        login(USER, PASSWORD, true, Some(&ca)),
    )
    .await;
    let cleartext = server(dir.path(), "g", "localhost", m.tls, login(USER, PASSWORD, false, None)).await;
    for (what, s) in [
        ("a wrong password", &wrong),
        ("no login", &anonymous),
        ("an unknown CA", &system_cas),
        ("a name not on the certificate", &other_name),
        ("plain MQTT to the TLS listener", &cleartext),
    ] {
        assert!(!reaches(s, 3).await, "{what} must not reach the broker");
    }
    for s in [good, wrong, anonymous, system_cas, other_name, cleartext] {
        s.stop().await;
    }

    // The whole way over TLS: a lock (on the anonymous listener) pairs and opens remotely.
    let data = dir.path().join("d");
    let outbox = data.join("outbox.jsonl");
    let api = Client::new(format!("http://{}", tls.addr));
    let lock = latchkey_vlock::start(latchkey_vlock::Options {
        state: dir.path().join("lock.state"),
        broker_host: "127.0.0.1".into(),
        broker_port: m.locks,
        control: Some("127.0.0.1:0".parse().unwrap()),
        fake_clock: false,
        relock: Duration::from_secs(1),
    })
    .await
    .expect("virtual lock starts");
    let lock_base = format!("http://{}", lock.control_addr.unwrap());
    let http = reqwest::Client::new();
    let setup_code = eventually("the lock online", 20, || async {
        let s = get_json(&http, &format!("{lock_base}/status")).await;
        (s["online"] == true).then(|| s["setup_code"].as_str().map(str::to_string))?
    })
    .await;
    let owner = sign_in(&api, &outbox, OWNER).await;
    let l = owner
        .pair_lock(&setup_code, "Front door", "Europe/Berlin")
        .await
        .expect("pairing over the TLS-connected server");
    eventually("the lock paired, online and trusting its clock", 20, || async {
        let s = get_json(&http, &format!("{lock_base}/status")).await;
        (s["paired"] == true && s["online"] == true && s["time_trusted"] == true).then_some(())
    })
    .await;
    eventually("the lock online for the server", 20, || async {
        owner.lock(&l.id).await.ok()?.online.then_some(())
    })
    .await;
    owner.unlock(&l.id).await.expect("remote unlock over TLS");
    drop(lock);
    tls.stop().await;
}

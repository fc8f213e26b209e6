//! The embedded broker's TLS listener (`embedded_mqtt_tls_cert`, `_key`, `_addr`;
//! `docs/operations.md`, "The embedded broker with TLS"): with a certificate a test CA signed, a
//! virtual lock connecting with `mqtts://` and that CA pairs, syncs a PIN and opens remotely
//! while the server keeps its own plain loopback connection; a client that trusts another CA,
//! and plain MQTT to the TLS port, get no CONNACK; a key that does not match the certificate
//! stops the server at start with an error that says so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use latchkey_client::Client;
use latchkey_client::model::{AccessLevel, CreateInvitation, SyncState};
use latchkey_protocol::broker;
use latchkey_server::app::{Parts, Server};
use latchkey_server::config::{Config, EmbeddedTls, MqttConfig};
use latchkey_server::domain::{OsEntropy, SystemClock};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use serde_json::json;

use crate::device_kit::{FAMILY, OWNER, eventually, free_port, get_json, post_json, sign_in};

const PIN: &str = "48213957";

/// A CA named `name`, and a certificate for `localhost` and 127.0.0.1 that it signed, written
/// to `dir` as `{name}-ca.pem`, `{name}-cert.pem`, `{name}-key.pem`.
fn certificates(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, name);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let paths = (
        dir.join(format!("{name}-ca.pem")),
        dir.join(format!("{name}-cert.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&paths.0, ca.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

fn config(data: &Path, plain: u16, tls: EmbeddedTls) -> Config {
    let mut config = Config::for_tests(
        data,
        None,
        MqttConfig::Embedded(format!("127.0.0.1:{plain}").parse().unwrap()),
    );
    config.embedded_mqtt_tls = Some(tls);
    config
}

fn parts() -> Parts {
    Parts {
        clock: Arc::new(SystemClock),
        entropy: Arc::new(OsEntropy),
        gateway: None,
    }
}

/// What a raw client with the public `pairing` login gets from `port`: the CONNACK's code, or
/// the error that ended the connection before one.
async fn probe(port: u16, transport: Option<rumqttc::Transport>) -> Result<rumqttc::ConnectReturnCode, String> {
    let mut mo = MqttOptions::new(format!("probe-{port}-{}", free_port()), "localhost", port);
    mo.set_keep_alive(Duration::from_secs(5));
    mo.set_credentials(broker::PAIRING_USERNAME, broker::PAIRING_PASSWORD);
    if let Some(t) = transport {
        mo.set_transport(t);
    }
    let (client, mut events) = AsyncClient::new(mo, 10);
    let result = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return Ok(ack.code),
                Ok(_) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err("no answer within 10 s".into()));
    let _ = client.try_disconnect();
    result
}

fn tls_trusting(ca: &Path) -> rumqttc::Transport {
    let config = latchkey_vlock::client_config(Some(ca)).expect("a client configuration");
    rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::new(config)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_pairs_and_opens_over_the_embedded_brokers_tls_listener() {
    latchkey_client::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path(), "latchkey-test");
    let (other_ca, _, other_key) = certificates(dir.path(), "someone-else");

    // A key that is not the certificate's: the server does not start, and says why.
    let (plain, tls_port) = (free_port(), free_port());
    let mismatched = EmbeddedTls {
        addr: format!("127.0.0.1:{tls_port}").parse().unwrap(),
        cert: cert.clone(),
        key: other_key,
    };
    let bad_dir = dir.path().join("bad");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let err = match Server::start(config(&bad_dir, plain, mismatched), parts()).await {
        Ok(_) => panic!("a server with a key that does not match its certificate started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("embedded_mqtt_tls"), "{err}");

    let (plain, tls_port) = (free_port(), free_port());
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).unwrap();
    let tls = EmbeddedTls {
        addr: format!("127.0.0.1:{tls_port}").parse().unwrap(),
        cert,
        key,
    };
    let server = Server::start(config(&data, plain, tls), parts())
        .await
        .expect("server starts");
    let api = Client::new(format!("http://{}", server.addr));
    let outbox = data.join("outbox.jsonl");
    let http = reqwest::Client::new();
    eventually("the server ready (its own plain connection)", 20, || async {
        let r = http.get(format!("http://{}/readyz", server.addr)).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;

    // Refused: a client that trusts another CA, and plain MQTT to the TLS port. Admitted: the
    // same login over TLS with the right CA (the refusals are TLS's, not the login's).
    let untrusting = probe(tls_port, Some(tls_trusting(&other_ca))).await;
    assert!(untrusting.is_err(), "a client trusting another CA got {untrusting:?}");
    let cleartext = probe(tls_port, None).await;
    assert!(cleartext.is_err(), "plain MQTT to the TLS listener got {cleartext:?}");
    assert_eq!(
        probe(tls_port, Some(tls_trusting(&ca))).await,
        Ok(rumqttc::ConnectReturnCode::Success)
    );

    // The lock, with mqtts:// and the CA: pairs, logs in again under its own login, syncs a
    // member's PIN, opens remotely and from the keypad.
    let lock = latchkey_vlock::start_over(
        latchkey_vlock::Options {
            state: dir.path().join("lock.state"),
            broker_host: "localhost".into(),
            broker_port: tls_port,
            control: Some("127.0.0.1:0".parse().unwrap()),
            fake_clock: false,
            relock: Duration::from_secs(1),
        },
        latchkey_vlock::LinkMode::Encrypted,
        latchkey_vlock::Transport::tls(Some(ca.as_path())).expect("the CA file reads"),
    )
    .await
    .expect("virtual lock starts");
    let lock_base = format!("http://{}", lock.control_addr.unwrap());
    let setup_code = eventually("the lock online over TLS", 20, || async {
        let s = get_json(&http, &format!("{lock_base}/status")).await;
        (s["online"] == true).then(|| s["setup_code"].as_str().map(str::to_string))?
    })
    .await;
    let owner = sign_in(&api, &outbox, OWNER).await;
    let lid = owner
        .pair_lock(&setup_code, "Front door", "Europe/Berlin")
        .await
        .expect("pairing over the TLS listener")
        .id;
    eventually("the lock online under its own login, over TLS", 20, || async {
        let s = get_json(&http, &format!("{lock_base}/status")).await;
        (s["paired"] == true && s["online"] == true && s["broker_user"] == lid.as_str() && s["time_trusted"] == true)
            .then_some(())
    })
    .await;
    let inv = owner
        .invite(
            &lid,
            &CreateInvitation {
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
    fam.set_pin(&lid, &fam_id, PIN).await.unwrap();
    eventually("the PIN synced over TLS", 30, || async {
        let members = owner.members(&lid).await.ok()?;
        members.iter().all(|m| m.sync == SyncState::Synced).then_some(())
    })
    .await;
    eventually("the lock online for the server", 20, || async {
        owner.lock(&lid).await.ok()?.online.then_some(())
    })
    .await;
    owner.unlock(&lid).await.expect("remote unlock over TLS");
    eventually("the bolt locked again", 20, || async {
        let s = get_json(&http, &format!("{lock_base}/status")).await;
        (s["bolt"] == "locked").then_some(())
    })
    .await;
    let r = post_json(
        &http,
        &format!("{lock_base}/keypad"),
        json!({ "keys": format!("{PIN}#") }),
    )
    .await;
    assert_eq!(r["outcome"], "granted", "{r}");
    drop(lock);
    server.stop().await;
}

//! The Twilio sender against a local stub of Twilio's Messages API: the request is what Twilio
//! expects (`POST /2010-04-01/Accounts/{sid}/Messages.json`, HTTP Basic auth with the account
//! SID and auth token, form fields `To`, `From`, `Body`), a failed send is retried with backoff
//! (driven by the test clock), and nothing is delivered twice.

use crate::kit;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine;
use jiff::SignedDuration;
use kit::{Backend, Harness, eventually, guest_key, six_digits};
use latchkey_client::Client;
use latchkey_client::model as m;
use latchkey_server::config::{SmsKind, TwilioConfig};

on_both_backends!(
    twilio_gets_the_messages_api_request_and_a_failed_send_is_retried_once,
    a_guest_key_sms_survives_provider_errors_without_duplicates,
);

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "s3cret-auth-token";
const FROM: &str = "+15005550006";

/// One request the stub received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    form: Vec<(String, String)>,
    answered: u16,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A stand-in for api.twilio.com that records every request and fails the first `fail_next`.
#[derive(Default)]
struct Stub {
    seen: Mutex<Vec<Seen>>,
    fail_next: AtomicUsize,
}

impl Stub {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn to(&self, phone: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.field("To") == Some(phone))
            .collect()
    }
}

async fn record(State(stub): State<Arc<Stub>>, req: Request) -> axum::response::Response {
    let (method, path) = (req.method().to_string(), req.uri().path().to_string());
    let (authorization, content_type) = {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        (header("authorization"), header("content-type"))
    };
    let form = match axum::Form::<Vec<(String, String)>>::from_request(req, &()).await {
        Ok(axum::Form(f)) => f,
        Err(_) => Vec::new(),
    };
    let fail = stub
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let expected_path = format!("/2010-04-01/Accounts/{SID}/Messages.json");
    let (status, body) = if fail {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"code": 20500, "message": "Internal Server Error", "status": 500}"#.to_string(),
        )
    } else if path != expected_path || method != "POST" {
        (StatusCode::NOT_FOUND, r#"{"code": 20404, "status": 404}"#.to_string())
    } else {
        let n = stub.seen.lock().unwrap().len();
        (
            StatusCode::CREATED,
            format!(r#"{{"sid": "SM{n:032}", "status": "queued", "account_sid": "{SID}"}}"#),
        )
    };
    stub.seen.lock().unwrap().push(Seen {
        method,
        path,
        authorization,
        content_type,
        form,
        answered: status.as_u16(),
    });
    (status, [("content-type", "application/json")], body).into_response()
}

/// Starts the stub on a free port; returns it and its base URL.
async fn start_stub() -> (Arc<Stub>, String) {
    let stub = Arc::new(Stub::default());
    let app = axum::Router::new().fallback(record).with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (stub, format!("http://{addr}"))
}

async fn harness_with_twilio(b: Backend, base: &str) -> Harness {
    let base = base.to_string();
    Harness::start_with(b, move |c| {
        c.sms = vec![SmsKind::Twilio];
        c.twilio = Some(TwilioConfig {
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
            from: FROM.into(),
            api_base: format!("{base}/"),
        });
    })
    .await
}

/// Waits until the stub has answered `phone` with 201 `n` times; returns every request to it.
async fn delivered(stub: &Stub, phone: &str, n: usize) -> Vec<Seen> {
    eventually(&format!("{n} deliveries to {phone}"), || async {
        let seen = stub.to(phone);
        (seen.iter().filter(|s| s.answered == 201).count() >= n).then_some(seen)
    })
    .await
}

/// Signs in, reading the code from what the stub received.
async fn sign_in(h: &Harness, stub: &Stub, phone: &str) -> Client {
    let before = stub.to(phone).iter().filter(|s| s.answered == 201).count();
    h.anon.request_otp(phone).await.unwrap();
    let seen = delivered(stub, phone, before + 1).await;
    let body = seen
        .iter()
        .rev()
        .find(|s| s.answered == 201)
        .unwrap()
        .field("Body")
        .unwrap();
    let code = six_digits(body).unwrap();
    let s = h.anon.create_session(phone, &code).await.unwrap();
    h.anon.with_token(s.token)
}

/// Moves the server's clock on a second at a time until `probe` holds. (The worker reads the
/// clock when it records a failure, so one jump made just before that read would never make
/// the retry due.)
async fn advance_until<F, Fut>(h: &Harness, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        for _ in 0..5 {
            if probe().await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        h.advance(SignedDuration::from_secs(1));
    }
    panic!("timed out waiting for {what}");
}

/// Another message goes out and arrives: everything due before it has been handled.
async fn barrier(h: &Harness, stub: &Stub) {
    let phone = h.new_phone();
    h.anon.request_otp(&phone).await.unwrap();
    delivered(stub, &phone, 1).await;
}

async fn twilio_gets_the_messages_api_request_and_a_failed_send_is_retried_once(b: Backend) {
    let (stub, base) = start_stub().await;
    let h = harness_with_twilio(b, &base).await;
    let phone = h.new_phone();
    stub.fail_next.store(1, Ordering::SeqCst);
    h.anon.request_otp(&phone).await.unwrap();

    let first = eventually("the first attempt", || async { stub.to(&phone).into_iter().next() }).await;
    assert_eq!(first.answered, 500);
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    assert_eq!(first.authorization.as_deref(), Some(format!("Basic {basic}").as_str()));
    assert_eq!(first.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    let mut names: Vec<&str> = first.form.iter().map(|(k, _)| k.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Body", "From", "To"]);
    assert_eq!(first.field("To"), Some(phone.as_str()));
    assert_eq!(first.field("From"), Some(FROM));
    let body = first.field("Body").unwrap().to_string();
    assert!(body.contains("sign-in code"), "{body}");
    let code = six_digits(&body).expect("6 digits in the body");

    // The retry comes due after the backoff, on the server's clock.
    advance_until(&h, "the retry", || async { stub.to(&phone).len() >= 2 }).await;
    let seen = delivered(&stub, &phone, 1).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].field("Body"), Some(body.as_str()), "the same message again");
    assert_eq!(seen[1].authorization, first.authorization);
    // The code that came through works.
    let s = h.anon.create_session(&phone, &code).await.unwrap();
    assert_eq!(s.account.phone, phone);

    // Nothing more for this number, even when any retry would long be due.
    barrier(&h, &stub).await;
    h.advance(SignedDuration::from_hours(2));
    barrier(&h, &stub).await;
    let seen = stub.to(&phone);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen.iter().filter(|s| s.answered == 201).count(), 1);
    assert!(h.outbox().is_empty(), "twilio only: nothing in the file outbox");
    h.stop().await;
}

async fn a_guest_key_sms_survives_provider_errors_without_duplicates(b: Backend) {
    let (stub, base) = start_stub().await;
    let h = harness_with_twilio(b, &base).await;
    let ana_phone = h.new_phone();
    let ana = sign_in(&h, &stub, &ana_phone).await;
    ana.patch_me("Ana").await.unwrap();
    let code = h.gateway.new_lock();
    let lock = ana.pair_lock(&code, "Cabin", "America/New_York").await.unwrap();

    let guest = h.new_phone();
    stub.fail_next.store(2, Ordering::SeqCst);
    let key = ana
        .create_guest_key(
            &lock.id,
            &guest_key("Gus", Some(&guest), "2027-07-01T16:00", "2027-07-02T10:00"),
        )
        .await
        .unwrap();
    let sms_state = || async { ana.guest_key(&lock.id, &key.id).await.unwrap().sms };
    eventually("the first failure", || async {
        (stub.to(&guest).len() == 1).then_some(())
    })
    .await;
    eventually("sms state failing", || async {
        (sms_state().await == m::SmsState::Failing).then_some(())
    })
    .await;
    advance_until(&h, "the second attempt", || async { stub.to(&guest).len() >= 2 }).await;
    advance_until(&h, "the third attempt", || async { stub.to(&guest).len() >= 3 }).await;
    let seen = delivered(&stub, &guest, 1).await;
    assert_eq!(seen.iter().map(|s| s.answered).collect::<Vec<_>>(), [500, 500, 201]);
    let body = seen[2].field("Body").unwrap();
    assert!(body.contains(&key.code) && body.contains('#'), "{body}");
    assert!(
        body.contains("Thu 1 Jul 2027 16:00") && body.contains("America/New_York"),
        "{body}"
    );
    eventually("sms state sent", || async {
        (sms_state().await == m::SmsState::Sent).then_some(())
    })
    .await;

    barrier(&h, &stub).await;
    h.advance(SignedDuration::from_hours(1));
    barrier(&h, &stub).await;
    assert_eq!(stub.to(&guest).len(), 3, "no duplicate delivery");
    let keys = ana.guest_keys(&lock.id).await.unwrap();
    assert_eq!(keys.len(), 1, "the key exists once");
    assert_eq!(keys[0].code, key.code);
    h.stop().await;
}

//! The outgoing client against local HTTP servers: conditional GETs, timeouts, the size limit
//! (with and without a Content-Length), redirects into refused addresses, literal private
//! addresses, schemes, and webhook-style POSTs.
//!
//! Every request that is meant to be refused targets a loopback address, so that even a bug
//! in the check sends nothing off this machine; the private ranges proper are checked with
//! `check_url`, which sends nothing.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use latchkey_server::outbound::{AddressClass, Fetched, Outbound, OutboundConfig, OutboundError, Validators};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";

async fn serve(bind: &str, app: Router) -> SocketAddr {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn private_ok() -> Outbound {
    Outbound::new(OutboundConfig {
        allow_private_targets: true,
        ..OutboundConfig::default()
    })
    .unwrap()
}

#[derive(Clone, Default)]
struct Seen {
    hits: Arc<AtomicUsize>,
    headers: Arc<Mutex<Vec<HeaderMap>>>,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

#[tokio::test]
async fn etag_and_last_modified_round_trip() {
    async fn feed(State(seen): State<Seen>, headers: HeaderMap) -> Response {
        seen.hits.fetch_add(1, Ordering::SeqCst);
        seen.headers.lock().unwrap().push(headers.clone());
        if headers.get(header::IF_NONE_MATCH).map(|v| v.as_bytes()) == Some(b"\"v1\"") {
            return StatusCode::NOT_MODIFIED.into_response();
        }
        (
            [
                (header::ETAG, "\"v1\""),
                (header::LAST_MODIFIED, "Sat, 05 Dec 2026 10:00:00 GMT"),
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            ],
            FEED,
        )
            .into_response()
    }
    let seen = Seen::default();
    let addr = serve(
        "127.0.0.1:0",
        Router::new().route("/listing.ics", get(feed)).with_state(seen.clone()),
    )
    .await;
    let out = private_ok();
    let url = format!("http://{addr}/listing.ics");

    let first = out.fetch(&url, &Validators::default()).await.unwrap();
    let Fetched::Body {
        body,
        validators,
        content_type,
    } = first
    else {
        panic!("first read: {first:?}")
    };
    assert_eq!(body, FEED.as_bytes());
    assert_eq!(validators.etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        validators.last_modified.as_deref(),
        Some("Sat, 05 Dec 2026 10:00:00 GMT")
    );
    assert_eq!(content_type.as_deref(), Some("text/calendar; charset=utf-8"));

    let second = out.fetch(&url, &validators).await.unwrap();
    assert_eq!(second, Fetched::NotModified);
    let headers = seen.headers.lock().unwrap();
    assert_eq!(headers.len(), 2);
    assert!(headers[0].get(header::IF_NONE_MATCH).is_none());
    assert_eq!(headers[1].get(header::IF_NONE_MATCH).unwrap(), "\"v1\"");
    assert_eq!(
        headers[1].get(header::IF_MODIFIED_SINCE).unwrap(),
        "Sat, 05 Dec 2026 10:00:00 GMT"
    );
    assert!(
        headers[1]
            .get(header::USER_AGENT)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Latchkey/")
    );
}

#[tokio::test]
async fn error_statuses_are_named() {
    let addr = serve(
        "127.0.0.1:0",
        Router::new().route("/gone.ics", get(|| async { StatusCode::NOT_FOUND })),
    )
    .await;
    let err = private_ok()
        .fetch(&format!("http://{addr}/gone.ics"), &Validators::default())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), format!("{addr} answered 404 Not Found"));
}

/// Accepts connections, reads the request, never answers.
async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            held.push(sock);
        }
    });
    addr
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let addr = silent_server().await;
    let out = Outbound::new(OutboundConfig {
        allow_private_targets: true,
        fetch_timeout: Duration::from_millis(800),
        post_timeout: Duration::from_millis(800),
        ..OutboundConfig::default()
    })
    .unwrap();
    let err = out
        .fetch(&format!("http://{addr}/listing.ics"), &Validators::default())
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Timeout { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("no complete answer from {addr} within 0.8 s"));
    let err = out
        .post_json(&format!("http://{addr}/hook"), &[], b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Timeout { .. }), "{err:?}");
}

/// Answers every request with `head` and then `body_len` bytes, closing the connection at the
/// end (so without a Content-Length the body is as long as the server keeps writing).
async fn raw_server(head: String, body_len: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let head = head.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = sock.read(&mut buf).await;
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let mut left = body_len;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if sock.write_all(&chunk[..n]).await.is_err() {
                        return; // the client hung up, as it should past the limit
                    }
                    left -= n;
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_5_mb_feed_is_refused_with_and_without_a_content_length() {
    let out = private_ok();
    let five_mb = 5_000_000;
    let declared = raw_server(
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/calendar\r\ncontent-length: {five_mb}\r\nconnection: close\r\n\r\n"
        ),
        five_mb,
    )
    .await;
    let streamed = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-type: text/calendar\r\nconnection: close\r\n\r\n".to_string(),
        five_mb,
    )
    .await;
    for addr in [declared, streamed] {
        let err = out
            .fetch(&format!("http://{addr}/big.ics"), &Validators::default())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("the answer from {addr} is larger than the limit of 4 MiB (4194304 bytes)")
        );
    }
    // Just under the limit, streamed: accepted whole.
    let under = 4 * 1024 * 1024 - 10;
    let fine = raw_server("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_string(), under).await;
    match out
        .fetch(&format!("http://{fine}/ok.ics"), &Validators::default())
        .await
        .unwrap()
    {
        Fetched::Body { body, .. } => assert_eq!(body.len(), under),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn redirects_into_refused_addresses_are_not_followed() {
    // The target a redirect points at, on 127.0.0.1; it counts what reaches it.
    let target_hits = Arc::new(AtomicUsize::new(0));
    let hits = target_hits.clone();
    let target = serve(
        "127.0.0.1:0",
        Router::new().route(
            "/feed.ics",
            get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { FEED }
            }),
        ),
    )
    .await;
    // The first hop, on 127.0.0.2, the one address the client is told to allow.
    let port = target.port();
    let first = serve(
        "127.0.0.2:0",
        Router::new()
            .route(
                "/to-ip",
                get(move || async move { Redirect::temporary(&format!("http://127.0.0.1:{port}/feed.ics")) }),
            )
            .route(
                "/to-name",
                get(move || async move { Redirect::permanent(&format!("http://localhost:{port}/feed.ics")) }),
            )
            .route("/to-ftp", get(|| async { Redirect::to("ftp://127.0.0.2/feed.ics") }))
            .route(
                "/to-metadata",
                get(|| async { Redirect::to("http://169.254.169.254/latest/meta-data/") }),
            )
            .route("/loop", get(|| async { Redirect::to("/loop") })),
    )
    .await;
    let strict = Outbound::new(OutboundConfig {
        allowed_addresses: vec!["127.0.0.2".parse().unwrap()],
        ..OutboundConfig::default()
    })
    .unwrap();
    let fetch = |out: &Outbound, path: &str| {
        let out = out.clone();
        let url = format!("http://{first}{path}");
        async move { out.fetch(&url, &Validators::default()).await }
    };

    let err = fetch(&strict, "/to-ip").await.unwrap_err();
    assert_eq!(
        err,
        OutboundError::Refused {
            host: "127.0.0.1".into(),
            class: AddressClass::Loopback
        }
    );
    let err = fetch(&strict, "/to-name").await.unwrap_err();
    assert!(
        matches!(&err, OutboundError::Refused { host, class: AddressClass::Loopback } if host.starts_with("localhost (")),
        "{err:?}"
    );
    assert!(err.to_string().contains("--allow-private-targets"), "{err}");
    assert_eq!(
        fetch(&strict, "/to-ftp").await.unwrap_err(),
        OutboundError::Scheme { scheme: "ftp".into() }
    );
    // The metadata address is refused even when private targets are allowed.
    let open = Outbound::new(OutboundConfig {
        allow_private_targets: true,
        ..OutboundConfig::default()
    })
    .unwrap();
    let err = fetch(&open, "/to-metadata").await.unwrap_err();
    assert_eq!(
        err,
        OutboundError::Refused {
            host: "169.254.169.254".into(),
            class: AddressClass::LinkLocal
        }
    );
    let err = fetch(&open, "/loop").await.unwrap_err();
    assert!(matches!(err, OutboundError::TooManyRedirects { max: 5, .. }), "{err:?}");
    assert_eq!(
        target_hits.load(Ordering::SeqCst),
        0,
        "nothing reached the refused target"
    );

    // The same redirects are followed when private targets are allowed.
    match fetch(&open, "/to-ip").await.unwrap() {
        Fetched::Body { body, .. } => assert_eq!(body, FEED.as_bytes()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(fetch(&open, "/to-name").await.unwrap(), Fetched::Body { .. }));
    assert_eq!(target_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn literal_private_addresses_names_and_other_schemes_are_refused_before_sending() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let local = serve(
        "127.0.0.1:0",
        Router::new().route(
            "/x.ics",
            get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                async { FEED }
            }),
        ),
    )
    .await;
    let strict = Outbound::new(OutboundConfig::default()).unwrap();
    let port = local.port();
    for (url, class) in [
        (format!("http://127.0.0.1:{port}/x.ics"), AddressClass::Loopback),
        (format!("http://2130706433:{port}/x.ics"), AddressClass::Loopback),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/x.ics"),
            AddressClass::Loopback,
        ),
        (format!("http://[::1]:{port}/x.ics"), AddressClass::Loopback),
        (format!("http://0.0.0.0:{port}/x.ics"), AddressClass::Unspecified),
    ] {
        let err = strict.fetch(&url, &Validators::default()).await.unwrap_err();
        assert!(
            matches!(err, OutboundError::Refused { class: c, .. } if c == class),
            "{url}: {err:?}"
        );
        let err = strict.post_json(&url, &[], b"{}".to_vec()).await.unwrap_err();
        assert!(matches!(err, OutboundError::Refused { .. }), "{url}: {err:?}");
    }
    let err = strict
        .fetch(&format!("http://localhost:{port}/x.ics"), &Validators::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OutboundError::Refused {
                class: AddressClass::Loopback,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // Private ranges proper: checked without sending anything.
    for url in [
        "http://10.0.0.1/x.ics",
        "http://172.16.5.4/x.ics",
        "http://192.168.1.1/x.ics",
        "http://100.64.0.1/x.ics",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00::1]/x.ics",
        "http://[fe80::1]/x.ics",
        "http://224.0.0.1/x.ics",
    ] {
        assert!(
            matches!(strict.check_url(url), Err(OutboundError::Refused { .. })),
            "{url}"
        );
    }
    assert!(
        strict
            .check_url("https://www.airbnb.com/calendar/ical/1234.ics?s=abc")
            .is_ok()
    );

    for url in [
        "ftp://example.com/listing.ics",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
    ] {
        let err = strict.fetch(url, &Validators::default()).await.unwrap_err();
        assert!(matches!(err, OutboundError::Scheme { .. }), "{url}: {err:?}");
    }
    assert_eq!(
        strict
            .fetch("ftp://example.com/listing.ics", &Validators::default())
            .await
            .unwrap_err()
            .to_string(),
        "only http and https addresses can be used, not ftp:"
    );
    assert!(matches!(
        strict.fetch("not a url", &Validators::default()).await.unwrap_err(),
        OutboundError::BadUrl { .. }
    ));

    // A closed port: a connection error that says so.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = private_ok()
        .fetch(&format!("http://{closed}/x.ics"), &Validators::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("could not connect to {closed} (connection refused)")
    );
}

#[tokio::test]
async fn post_json_sends_the_exact_body_and_headers_and_returns_any_status() {
    async fn hook(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> StatusCode {
        seen.hits.fetch_add(1, Ordering::SeqCst);
        seen.headers.lock().unwrap().push(headers);
        seen.bodies.lock().unwrap().push(body.to_vec());
        StatusCode::ACCEPTED
    }
    let seen = Seen::default();
    let addr = serve(
        "127.0.0.1:0",
        Router::new()
            .route("/hook", post(hook))
            .route("/fails", post(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route("/moved", post(|| async { Redirect::temporary("/hook") }))
            .with_state(seen.clone()),
    )
    .await;
    let out = private_ok();
    let body = br#"{"type":"webhook.test","timestamp":"2026-12-05T10:00:00Z","data":{"lock_id":"l1"}}"#.to_vec();
    let status = out
        .post_json(
            &format!("http://{addr}/hook"),
            &[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", "1796464800"),
                ("webhook-signature", "v1,abc="),
            ],
            body.clone(),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(seen.bodies.lock().unwrap()[0], body);
    let h = seen.headers.lock().unwrap()[0].clone();
    assert_eq!(h.get("webhook-id").unwrap(), "msg_1");
    assert_eq!(h.get("webhook-timestamp").unwrap(), "1796464800");
    assert_eq!(h.get("webhook-signature").unwrap(), "v1,abc=");
    assert_eq!(h.get(header::CONTENT_TYPE).unwrap(), "application/json");

    let status = out
        .post_json(&format!("http://{addr}/fails"), &[], b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    // Redirects are not followed for POSTs: the 307 is the answer.
    let status = out
        .post_json(&format!("http://{addr}/moved"), &[], b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(seen.hits.load(Ordering::SeqCst), 1);

    let err = out
        .post_json(&format!("http://{addr}/hook"), &[("bad header", "x")], b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("\"bad header\" is not a valid header name"),
        "{err}"
    );
}

//! Wiring: configuration in, a running server out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;

use crate::api;
use crate::config::Config;
use crate::domain::{Domain, Gateway, Settings};
use crate::env::{Clock, Entropy, OsEntropy, SystemClock};
use crate::metrics::Metrics;
use crate::store::Store;

/// What every handler (API and web) gets.
#[derive(Clone)]
pub struct AppState {
    pub domain: Domain,
    pub clock: Arc<dyn Clock>,
    pub trust_forwarded_for: bool,
    pub metrics: Arc<Metrics>,
    /// Becomes `true` when the server stops (long-lived responses end on it).
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }
}

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A running server.
pub struct Server {
    /// Where the HTTP API listens.
    pub addr: SocketAddr,
    pub domain: Domain,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What tests and tools may replace.
pub struct Parts {
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    /// A gateway to use instead of the configured one (tests pair locks through a fake).
    pub gateway: Option<Arc<dyn Gateway>>,
}

impl Default for Parts {
    fn default() -> Self {
        Parts {
            clock: Arc::new(SystemClock),
            entropy: Arc::new(OsEntropy),
            gateway: None,
        }
    }
}

impl Server {
    /// Starts everything: database (migrated), gateway to locks, SMS worker, HTTP.
    pub async fn start(config: Config, parts: Parts) -> anyhow::Result<Server> {
        create_private_dir(&config.data_dir)?;
        let store = Store::open(&config.database_url)
            .await
            .with_context(|| format!("opening the database {}", redact(&config.database_url)))?;
        let metrics = Arc::new(Metrics::new());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let sms_wake = Arc::new(tokio::sync::Notify::new());
        let settings = Arc::new(Settings {
            public_url: config.public_url.clone(),
            otp_per_phone: config.limits.otp_per_phone,
            otp_per_client: config.limits.otp_per_client,
            rate_window_seconds: config.limits.window_seconds,
            invitation_ttl_hours: config.invitation_ttl_hours,
            session_ttl_days: config.session_ttl_days,
            unlock_timeout_ms: config.unlock_timeout_ms,
            calendar_interval_seconds: config.calendar_interval_seconds,
        });
        let mut tasks = Vec::new();
        let slot = crate::gateway::DomainSlot::default();
        let gateway: Arc<dyn Gateway> = match parts.gateway {
            Some(g) => g,
            None => crate::gateway::start(
                &config,
                crate::gateway::Wiring {
                    store: store.clone(),
                    domain: slot.clone(),
                    clock: parts.clock.clone(),
                    entropy: parts.entropy.clone(),
                    metrics: metrics.clone(),
                },
                shutdown_rx.clone(),
                &mut tasks,
            )
            .await
            .context("starting the lock gateway")?,
        };
        let outbound = crate::outbound::Outbound::new(crate::outbound::OutboundConfig {
            allow_private_targets: config.allow_private_targets,
            fetch_timeout: config.outbound_fetch_timeout,
            ..Default::default()
        })
        .context("setting up the outgoing HTTP client")?;
        let domain = Domain {
            store: store.clone(),
            entropy: parts.entropy.clone(),
            gateway,
            settings,
            sms_wake: sms_wake.clone(),
            outbound: Arc::new(outbound),
            webhook_wake: Arc::new(tokio::sync::Notify::new()),
            sync_cache: Arc::default(),
        };
        crate::gateway::attach_domain(&slot, Arc::new(domain.clone()));

        tasks.push(tokio::spawn(crate::domain::calendars::run_reader(
            domain.clone(),
            parts.clock.clone(),
            shutdown_rx.clone(),
        )));
        let senders = crate::sms::senders(&config.sms, config.twilio.as_ref());
        tasks.push(tokio::spawn(crate::sms::run_worker(
            store.clone(),
            senders,
            parts.clock.clone(),
            sms_wake,
            shutdown_rx.clone(),
        )));

        tasks.push(tokio::spawn(crate::webhooks::run_worker(
            domain.clone(),
            parts.clock.clone(),
            crate::webhooks::WorkerConfig {
                retry: config.webhook_retry.clone(),
                ..Default::default()
            },
            domain.webhook_wake.clone(),
            shutdown_rx.clone(),
        )));

        let state = AppState {
            domain: domain.clone(),
            clock: parts.clock.clone(),
            trust_forwarded_for: config.limits.trust_forwarded_for,
            metrics: metrics.clone(),
            shutdown: shutdown_rx.clone(),
        };
        let app = router(state);
        let listener = tokio::net::TcpListener::bind(config.http)
            .await
            .with_context(|| format!("listening on {}", config.http))?;
        let addr = listener.local_addr()?;
        let mut rx = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        }));
        tracing::info!(%addr, "listening");
        Ok(Server {
            addr,
            domain,
            shutdown,
            tasks,
        })
    }

    /// Stops accepting work, lets requests in flight finish, and waits for the background
    /// tasks.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        self.domain.store.close().await;
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let (api_router, doc) = api::router();
    let openapi = Arc::new(doc.to_pretty_json().unwrap_or_default());
    Router::new()
        .merge(api_router)
        .route(
            "/api/v1/openapi.json",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    openapi.as_str().to_owned(),
                )
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(crate::web::router())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            api::error::ApiError(crate::domain::Error::Internal("a handler panicked".into())).into_response()
        }))
        .with_state(state)
}

async fn readyz(State(s): State<AppState>) -> Response {
    let db = s.domain.store.ping().await;
    let broker = s.domain.gateway.ready();
    let body = format!(
        "database: {}\nbroker: {}\n",
        if db { "ok" } else { "down" },
        if broker { "ok" } else { "down" }
    );
    let status = if db && broker {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> Response {
    api::error::ApiError(crate::domain::Error::NotFound("page")).into_response()
}

/// The headers of `security.md` on every answer.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(h, "permissions-policy", "camera=(), microphone=(), geolocation=()");
    set(h, "cross-origin-opener-policy", "same-origin");
    if is_api {
        set(h, "cache-control", "no-store");
    }
    resp
}

/// Creates the data folder readable by its owner only.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating the data folder {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {} to its owner", dir.display()))?;
    }
    Ok(())
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `latchkey serve`: runs until SIGINT or SIGTERM, then shuts down gracefully. `on_ready` runs
/// once the server answers (the `up` command prints its welcome there).
pub async fn serve(config: Config, on_ready: impl FnOnce(&Server)) -> anyhow::Result<()> {
    let server = Server::start(config, Parts::default()).await?;
    on_ready(&server);
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.stop().await;
    Ok(())
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}

//! Prometheus metrics served at `/metrics`.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    /// `delta` or `snapshot`.
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub locks_connected: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub lock_messages: Counter<u64, AtomicU64>,
    /// Failed attempts at provisioning Mosquitto's dynamic-security plugin (`gateway/dynsec.rs`).
    pub broker_provisioning_failures: Counter<u64, AtomicU64>,
    /// Syncs sent to locks, as deltas or full snapshots (`gateway/sync.rs`).
    pub syncs_sent: Family<SyncLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("latchkey");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
        });
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        let locks_connected = Gauge::default();
        registry.register(
            "locks_connected",
            "Locks connected to this server instance",
            locks_connected.clone(),
        );
        let lock_messages = Counter::default();
        registry.register(
            "lock_messages",
            "Messages received from this server's locks (last wills not counted)",
            lock_messages.clone(),
        );
        let broker_provisioning_failures = Counter::default();
        registry.register(
            "broker_provisioning_failures",
            "Failed attempts at provisioning logins on Mosquitto's dynamic-security plugin (refused, or unanswered)",
            broker_provisioning_failures.clone(),
        );
        let syncs_sent = Family::<SyncLabels, Counter>::default();
        registry.register(
            "syncs_sent",
            "Syncs this instance sent to locks: only what changed since the state the lock acknowledged (delta), or all it must hold (snapshot)",
            syncs_sent.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            locks_connected,
            lock_messages,
            broker_provisioning_failures,
            syncs_sent,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Counts and times every request by its route template (not the raw path, which would let
/// clients create unbounded label values).
pub async fn track(State(metrics): State<std::sync::Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: resp.status().as_u16(),
        })
        .inc();
    metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    resp
}

//! The one HTTP client for requests the server makes on a user's behalf: calendar feeds (`GET`
//! with `ETag`/`If-Modified-Since`) and webhooks (`POST` of a JSON body).
//!
//! A URL a user typed must not let them reach what only the server can reach (the cloud
//! metadata service, the database, an admin port on loopback). So (`spec/api.md`, second
//! round, and `docs/design/rental-calendars.md`, "Outgoing requests"):
//! - only `http` and `https`;
//! - only public addresses by default: a literal IP is checked before anything is sent, and a
//!   host name is resolved by our own resolver, which refuses the name if *any* of its
//!   addresses is not allowed and hands the connector only the addresses it checked, so a DNS
//!   answer that changes between the check and the connection (rebinding) cannot slip through;
//! - `allow_private_targets` also lets loopback, private (RFC 1918), unique-local and
//!   carrier-grade NAT addresses through; link-local (169.254.169.254, the metadata service),
//!   multicast, unspecified, broadcast and reserved addresses are never reached;
//! - `GET` follows at most `max_redirects` redirects, each hop checked the same way; `POST`
//!   (webhooks) follows none: a 3xx is a delivery that did not succeed;
//! - a connect timeout and a total timeout (the body included), a response size limit
//!   enforced while the body streams in, no proxy from the environment (it would connect to
//!   whatever the proxy resolves), no decompression.
//!
//! Errors are values whose messages are fit for a host to read (`last_error` on a calendar).

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Settings of the outgoing client.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Let requests reach loopback, private, unique-local and CGNAT addresses
    /// (`--allow-private-targets`): a receiver on the same host, and tests.
    pub allow_private_targets: bool,
    /// These exact addresses are allowed whatever their class (for one known receiver on the
    /// same host without opening every private range; the tests use it).
    pub allowed_addresses: Vec<IpAddr>,
    pub connect_timeout: Duration,
    /// Everything of a `GET`, from connecting to the last byte of the body.
    pub fetch_timeout: Duration,
    /// Everything of a `POST` (the webhook limit: a 2xx within 15 s is a delivery).
    pub post_timeout: Duration,
    /// The largest response body a `GET` accepts.
    pub max_body_bytes: usize,
    /// Redirects a `GET` follows (0: none).
    pub max_redirects: usize,
    pub user_agent: String,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            allow_private_targets: false,
            allowed_addresses: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(30),
            post_timeout: Duration::from_secs(15),
            max_body_bytes: 4 * 1024 * 1024,
            max_redirects: 5,
            user_agent: concat!("Latchkey/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// Why an outgoing request did not give an answer. `Display` is written for the host or
/// Admin who configured the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    #[error("\"{url}\" is not a valid web address ({reason})")]
    BadUrl { url: String, reason: String },
    #[error("only http and https addresses can be used, not {scheme}:")]
    Scheme { scheme: String },
    #[error(
        "{host} is {class}; outgoing requests only go to public addresses{hint}",
        class = class.describe(),
        hint = if class.private_flag_allows() {
            " (an operator can allow loopback and private addresses with --allow-private-targets)"
        } else {
            ""
        }
    )]
    Refused {
        /// The host as written, with the address it resolved to when it was a name.
        host: String,
        class: AddressClass,
    },
    #[error("the host name {host} could not be resolved ({reason})")]
    Dns { host: String, reason: String },
    #[error("could not connect to {host} ({reason})")]
    Connect { host: String, reason: String },
    #[error("no complete answer from {host} within {} s", after.as_secs_f32())]
    Timeout { host: String, after: Duration },
    #[error(
        "the answer from {host} is larger than the limit of {} ({limit} bytes)",
        human_size(*limit)
    )]
    TooLarge { host: String, limit: usize },
    #[error("{host} answered {status}")]
    Status { host: String, status: String },
    #[error("{host} redirected more than {max} times")]
    TooManyRedirects { host: String, max: usize },
    #[error("{host}: {reason}")]
    Other { host: String, reason: String },
}

fn human_size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// What kind of address an IP is, for the outbound rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    /// RFC 1918 (and the deprecated IPv6 site-local range).
    Private,
    /// 100.64.0.0/10, carrier-grade NAT.
    SharedCgnat,
    /// fc00::/7.
    UniqueLocal,
    /// 169.254.0.0/16, fe80::/10: never reached (cloud metadata services live here).
    LinkLocal,
    Multicast,
    Unspecified,
    Broadcast,
    /// Documentation, benchmarking, "this network", IETF-reserved and future-use ranges.
    Reserved,
}

impl AddressClass {
    fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "a public address",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::SharedCgnat => "a shared (carrier-grade NAT) address",
            AddressClass::UniqueLocal => "a unique-local address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Broadcast => "a broadcast address",
            AddressClass::Reserved => "a reserved address",
        }
    }

    /// Whether `allow_private_targets` lets this class through.
    fn private_flag_allows(self) -> bool {
        matches!(
            self,
            AddressClass::Loopback | AddressClass::Private | AddressClass::SharedCgnat | AddressClass::UniqueLocal
        )
    }
}

/// The class of an address. IPv6 forms that carry an IPv4 address (mapped `::ffff:a.b.c.d`,
/// the deprecated compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are the
/// class of that IPv4 address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if ip.is_unspecified() => AddressClass::Unspecified,
        _ if ip.is_broadcast() => AddressClass::Broadcast,
        (0, _, _) => AddressClass::Reserved,
        (127, _, _) => AddressClass::Loopback,
        (10, _, _) => AddressClass::Private,
        (172, 16..=31, _) => AddressClass::Private,
        (192, 168, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::SharedCgnat,
        (169, 254, _) => AddressClass::LinkLocal,
        (224..=239, _, _) => AddressClass::Multicast,
        (240..=255, _, _) => AddressClass::Reserved,
        // IETF protocol assignments, TEST-NET-1/2/3, benchmarking, 6to4 relay anycast.
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) | (192, 88, 99) => AddressClass::Reserved,
        (198, 18..=19, _) => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let s = ip.segments();
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    // Deprecated IPv4-compatible ::a.b.c.d.
    if s[..6] == [0; 6] {
        return classify_v4(embedded(s[6], s[7]));
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded(s[6], s[7]));
    }
    // 6to4 2002:AABB:CCDD::/48.
    if s[0] == 0x2002 {
        return classify_v4(embedded(s[1], s[2]));
    }
    match s[0] {
        0xff00..=0xffff => AddressClass::Multicast,
        0xfe80..=0xfebf => AddressClass::LinkLocal,
        0xfec0..=0xfeff => AddressClass::Private,
        0xfc00..=0xfdff => AddressClass::UniqueLocal,
        // Documentation 2001:db8::/32, Teredo 2001::/32, ORCHID and benchmarking 2001:2::/48,
        // NAT64 local-use 64:ff9b:1::/48, discard-only 100::/64.
        0x2001 if s[1] == 0x0db8 || s[1] == 0 || s[1] == 2 || (0x10..=0x3f).contains(&s[1]) => AddressClass::Reserved,
        0x64 if s[1] == 0xff9b => AddressClass::Reserved,
        0x100 if s[1..4] == [0, 0, 0] => AddressClass::Reserved,
        // Everything outside 2000::/3 is unassigned.
        x if !(0x2000..=0x3fff).contains(&x) => AddressClass::Reserved,
        _ => AddressClass::Public,
    }
}

/// The rule both the literal-IP check and the resolver apply.
#[derive(Debug, Clone)]
struct AddressPolicy {
    allow_private: bool,
    allowed: Vec<IpAddr>,
}

impl AddressPolicy {
    fn check(&self, ip: IpAddr) -> Result<(), AddressClass> {
        if self.allowed.contains(&ip) {
            return Ok(());
        }
        let class = classify(ip);
        if class == AddressClass::Public || (self.allow_private && class.private_flag_allows()) {
            Ok(())
        } else {
            Err(class)
        }
    }

    /// Scheme and, for a literal IP host, the address.
    fn check_url(&self, url: &Url) -> Result<(), OutboundError> {
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(OutboundError::Scheme {
                    scheme: other.to_string(),
                });
            }
        }
        let Some(host) = url.host_str() else {
            return Err(OutboundError::BadUrl {
                url: url.to_string(),
                reason: "it has no host".into(),
            });
        };
        // The URL parser has already turned every IPv4 spelling (decimal, hex, octal) into
        // dotted form, and IPv6 hosts come in brackets.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let Ok(ip) = literal.parse::<IpAddr>() else {
            return Ok(()); // a name: checked when it is resolved
        };
        self.check(ip).map_err(|class| OutboundError::Refused {
            host: ip.to_string(),
            class,
        })
    }
}

/// Carried through reqwest's error chain from our resolver and redirect policy, and turned
/// back into an [`OutboundError`] by [`map_error`].
#[derive(Debug)]
struct Refusal(OutboundError);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for Refusal {}

/// Resolves with the system resolver, then applies the policy to every address.
struct CheckingResolver {
    policy: AddressPolicy,
}

impl reqwest::dns::Resolve for CheckingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let looked_up = tokio::net::lookup_host((host.clone(), 0))
                .await
                .map(|a| a.collect::<Vec<SocketAddr>>());
            let addrs = match looked_up {
                Ok(a) => a,
                Err(e) => {
                    return Err(Box::new(Refusal(OutboundError::Dns {
                        host,
                        reason: e.to_string(),
                    })) as Box<dyn StdError + Send + Sync>);
                }
            };
            if addrs.is_empty() {
                return Err(Box::new(Refusal(OutboundError::Dns {
                    host,
                    reason: "no address".into(),
                })) as Box<dyn StdError + Send + Sync>);
            }
            for a in &addrs {
                if let Err(class) = policy.check(a.ip()) {
                    return Err(Box::new(Refusal(OutboundError::Refused {
                        host: format!("{host} ({})", a.ip()),
                        class,
                    })) as Box<dyn StdError + Send + Sync>);
                }
            }
            // Only the addresses just checked are handed to the connector.
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Validators from the previous read of a feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// The answer to a conditional `GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// 304: the feed has not changed since the validators were given.
    NotModified,
    Body {
        body: Vec<u8>,
        /// The validators to send next time (what the server sent now).
        validators: Validators,
        content_type: Option<String>,
    },
}

/// The outgoing client. Cheap to clone; make one per server.
#[derive(Clone)]
pub struct Outbound {
    config: Arc<OutboundConfig>,
    policy: AddressPolicy,
    /// Follows up to `max_redirects` checked redirects (feeds).
    get: reqwest::Client,
    /// Follows none (webhooks).
    post: reqwest::Client,
}

impl Outbound {
    pub fn new(config: OutboundConfig) -> Result<Outbound, OutboundError> {
        latchkey_client::install_crypto_provider();
        let policy = AddressPolicy {
            allow_private: config.allow_private_targets,
            allowed: config.allowed_addresses.clone(),
        };
        let build = |redirect: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(CheckingResolver { policy: policy.clone() }))
                .redirect(redirect)
                .no_proxy()
                .connect_timeout(config.connect_timeout)
                .user_agent(config.user_agent.clone())
                .build()
                .map_err(|e| OutboundError::Other {
                    host: String::new(),
                    reason: format!("the HTTP client could not be built: {e}"),
                })
        };
        let max = config.max_redirects;
        let hop_policy = policy.clone();
        let follow = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max {
                let host = host_of(attempt.url());
                return attempt.error(Refusal(OutboundError::TooManyRedirects { host, max }));
            }
            match hop_policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(Refusal(e)),
            }
        });
        let get = build(if max == 0 {
            reqwest::redirect::Policy::none()
        } else {
            follow
        })?;
        let post = build(reqwest::redirect::Policy::none())?;
        Ok(Outbound {
            config: Arc::new(config),
            policy,
            get,
            post,
        })
    }

    pub fn config(&self) -> &OutboundConfig {
        &self.config
    }

    /// Parse and check a URL the way every request does (scheme, literal addresses). For
    /// validating input at the API edge; host names are checked when they are resolved.
    pub fn check_url(&self, raw: &str) -> Result<Url, OutboundError> {
        let url = Url::parse(raw.trim()).map_err(|e| OutboundError::BadUrl {
            url: raw.chars().take(200).collect(),
            reason: e.to_string(),
        })?;
        self.policy.check_url(&url)?;
        Ok(url)
    }

    /// `GET url` with `If-None-Match` / `If-Modified-Since` from `validators`. A 2xx gives the
    /// body (at most `max_body_bytes`) and the new validators, a 304 gives `NotModified`,
    /// anything else is an error.
    pub async fn fetch(&self, url: &str, validators: &Validators) -> Result<Fetched, OutboundError> {
        let url = self.check_url(url)?;
        let host = host_of(&url);
        let mut req = self.get.request(Method::GET, url).timeout(self.config.fetch_timeout);
        if let Some(v) = validators.etag.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            req = req.header(header::IF_NONE_MATCH, v);
        }
        if let Some(v) = validators
            .last_modified
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            req = req.header(header::IF_MODIFIED_SINCE, v);
        }
        let limit = self.config.max_body_bytes;
        let after = self.config.fetch_timeout;
        let work = async {
            let mut resp = req.send().await.map_err(|e| map_error(&host, after, e))?;
            let status = resp.status();
            if status == StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified);
            }
            if !status.is_success() {
                return Err(OutboundError::Status {
                    host: host_of(resp.url()),
                    status: status_text(status),
                });
            }
            let final_host = host_of(resp.url());
            let too_large = || OutboundError::TooLarge {
                host: final_host.clone(),
                limit,
            };
            if resp.content_length().is_some_and(|n| n > limit as u64) {
                return Err(too_large());
            }
            let text_header =
                |h: &HeaderMap, name: HeaderName| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let validators = Validators {
                etag: text_header(resp.headers(), header::ETAG),
                last_modified: text_header(resp.headers(), header::LAST_MODIFIED),
            };
            let content_type = text_header(resp.headers(), header::CONTENT_TYPE);
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| map_error(&host, after, e))? {
                if body.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Fetched::Body {
                body,
                validators,
                content_type,
            })
        };
        // reqwest's timeout covers the body too; this one also covers our reading loop.
        match tokio::time::timeout(after, work).await {
            Ok(r) => r,
            Err(_) => Err(OutboundError::Timeout { host, after }),
        }
    }

    /// `POST url` with `body` (JSON, sent byte for byte: a signature over it stays valid) and
    /// `headers`. Returns the status the receiver answered, whatever it is; redirects are not
    /// followed (a 3xx comes back as it is). Errors are only for no answer at all.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<StatusCode, OutboundError> {
        let url = self.check_url(url)?;
        let host = host_of(&url);
        let mut req = self
            .post
            .request(Method::POST, url)
            .timeout(self.config.post_timeout)
            .header(header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| OutboundError::Other {
                host: host.clone(),
                reason: format!("\"{name}\" is not a valid header name"),
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| OutboundError::Other {
                host: host.clone(),
                reason: format!("the value of header {name} is not valid"),
            })?;
            req = req.header(name, value);
        }
        let after = self.config.post_timeout;
        let work = async {
            let resp = req.body(body).send().await.map_err(|e| map_error(&host, after, e))?;
            Ok(resp.status())
        };
        match tokio::time::timeout(after, work).await {
            Ok(r) => r,
            Err(_) => Err(OutboundError::Timeout { host, after }),
        }
    }
}

fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => url.as_str().chars().take(100).collect(),
    }
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// Turn a reqwest error into one of ours: our own refusals first (from the resolver or the
/// redirect policy, anywhere in the chain), then timeouts, then connection failures.
fn map_error(host: &str, after: Duration, e: reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&e);
    let mut io_reason: Option<String> = None;
    while let Some(s) = source {
        if let Some(Refusal(ours)) = s.downcast_ref::<Refusal>() {
            return ours.clone();
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io_reason.is_none() {
                io_reason = Some(io_kind(io));
            }
            // An io::Error may wrap our refusal (hyper's connector does).
            if let Some(Refusal(ours)) = io.get_ref().and_then(|i| i.downcast_ref::<Refusal>()) {
                return ours.clone();
            }
        }
        source = s.source();
    }
    let host = host.to_string();
    if e.is_timeout() {
        return OutboundError::Timeout { host, after };
    }
    if e.is_connect() {
        return OutboundError::Connect {
            host,
            reason: io_reason.unwrap_or_else(|| innermost(&e)),
        };
    }
    OutboundError::Other {
        host,
        reason: innermost(&e),
    }
}

fn io_kind(io: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match io.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        ConnectionAborted => "connection aborted".into(),
        TimedOut => "timed out".into(),
        UnexpectedEof => "the connection closed early".into(),
        _ => io.to_string(),
    }
}

fn innermost(e: &(dyn StdError + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_classes() {
        use AddressClass::*;
        let cases: &[(&str, AddressClass)] = &[
            ("8.8.8.8", Public),
            ("93.184.216.34", Public),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Reserved),
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("172.32.0.1", Public),
            ("192.168.1.1", Private),
            ("100.64.0.1", SharedCgnat),
            ("100.127.255.254", SharedCgnat),
            ("100.128.0.1", Public),
            ("169.254.169.254", LinkLocal),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("255.255.255.255", Broadcast),
            ("192.0.2.10", Reserved),
            ("198.18.0.1", Reserved),
            ("::", Unspecified),
            ("::1", Loopback),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:8.8.8.8", Public),
            ("::127.0.0.1", Loopback),
            ("64:ff9b::7f00:1", Loopback),
            ("64:ff9b::808:808", Public),
            ("2002:7f00:1::", Loopback),
            ("2002:c0a8:101::1", Private),
            ("fe80::1", LinkLocal),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("fec0::1", Private),
            ("ff02::1", Multicast),
            ("2001:db8::1", Reserved),
            ("2001::1", Reserved),
            ("2606:4700:4700::1111", Public),
            ("2a00:1450:4007:80e::200e", Public),
            ("4000::1", Reserved),
        ];
        for (ip, want) in cases {
            assert_eq!(classify(ip.parse().unwrap()), *want, "{ip}");
        }
    }

    #[test]
    fn the_private_flag_opens_loopback_and_private_but_not_link_local() {
        let open = AddressPolicy {
            allow_private: true,
            allowed: vec![],
        };
        let closed = AddressPolicy {
            allow_private: false,
            allowed: vec!["127.0.0.2".parse().unwrap()],
        };
        for ip in ["127.0.0.1", "10.0.0.1", "192.168.0.1", "fd00::1", "::1", "100.64.1.1"] {
            assert!(open.check(ip.parse().unwrap()).is_ok(), "{ip}");
            assert!(closed.check(ip.parse().unwrap()).is_err(), "{ip}");
        }
        for ip in ["169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1", "255.255.255.255"] {
            assert!(open.check(ip.parse().unwrap()).is_err(), "{ip}");
        }
        assert!(closed.check("127.0.0.2".parse().unwrap()).is_ok());
        assert!(closed.check("8.8.8.8".parse().unwrap()).is_ok());
    }

    #[test]
    fn urls_other_than_http_and_https_and_odd_ip_spellings() {
        let policy = AddressPolicy {
            allow_private: false,
            allowed: vec![],
        };
        let check = |s: &str| policy.check_url(&Url::parse(s).unwrap());
        assert_eq!(
            check("ftp://example.com/listing.ics"),
            Err(OutboundError::Scheme { scheme: "ftp".into() })
        );
        assert!(matches!(check("file:///etc/passwd"), Err(OutboundError::Scheme { .. })));
        assert!(check("https://example.com/x.ics").is_ok());
        // The URL parser turns every IPv4 spelling into the address, which is then checked.
        for s in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://[::ffff:7f00:1]/",
            "http://[::1]:8080/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://0.0.0.0:80/",
        ] {
            assert!(matches!(check(s), Err(OutboundError::Refused { .. })), "{s}");
        }
    }

    #[test]
    fn messages_are_for_people() {
        let e = OutboundError::Refused {
            host: "127.0.0.1".into(),
            class: AddressClass::Loopback,
        };
        assert_eq!(
            e.to_string(),
            "127.0.0.1 is a loopback address; outgoing requests only go to public addresses (an operator can allow loopback and private addresses with --allow-private-targets)"
        );
        let e = OutboundError::Refused {
            host: "169.254.169.254".into(),
            class: AddressClass::LinkLocal,
        };
        assert!(!e.to_string().contains("--allow-private-targets"));
        let e = OutboundError::TooLarge {
            host: "feeds.example".into(),
            limit: 4 * 1024 * 1024,
        };
        assert_eq!(
            e.to_string(),
            "the answer from feeds.example is larger than the limit of 4 MiB (4194304 bytes)"
        );
        assert_eq!(
            OutboundError::Scheme { scheme: "ftp".into() }.to_string(),
            "only http and https addresses can be used, not ftp:"
        );
    }
}

//! Configuration of `latchkey serve`: every option declared once, here, with its default.
//!
//! Precedence: defaults, then the TOML file (`--config`), then `LATCHKEY_*` environment
//! variables, then flags. Unknown keys in the file and unknown `LATCHKEY_*` variables are errors
//! that name the known ones. Secrets can come from files (`*_file` keys). `docs/operations.md`
//! documents every option; a test checks that it names all of them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Declares every option of `serve` once: its TOML key (the field name), its `LATCHKEY_*`
/// variable, its type, its default as `docs/operations.md` shows it, and its doc. From it
/// follow the flag (`--key-with-dashes`, also read from the variable), the TOML key (unknown
/// keys are errors), the list of known variables, and `OPTIONS`, which the documentation test
/// reads.
macro_rules! options {
    ($(
        $(#[doc = $doc:literal])+
        $key:ident: $ty:ty = $env:literal $(, default $default:literal)?;
    )*) => {
        /// Flags of `latchkey serve`; each is also a `LATCHKEY_*` environment variable and a key
        /// of the TOML file.
        #[derive(clap::Args, Debug, Default, Clone)]
        pub struct ServeArgs {
            /// A TOML file with any of the options below (keys as the flags, with `_` for `-`).
            #[arg(long, env = "LATCHKEY_CONFIG", hide_env_values = true)]
            pub config: Option<PathBuf>,
            $(
                $(#[doc = $doc])+
                #[arg(
                    long,
                    env = $env,
                    hide_env_values = true,
                    help = help_text(&[$($doc),+], concat!("" $(, $default)?)),
                    // A yes/no option's flag alone means yes (`--allow-private-targets`).
                    num_args = if is_yes::<$ty>() { 0..=1 } else { 1..=1 },
                    default_missing_value = if is_yes::<$ty>() { Some("true") } else { None },
                )]
                pub $key: Option<$ty>,
            )*
        }

        /// The TOML file: the same options as the flags.
        #[derive(Deserialize, Debug, Default)]
        #[serde(deny_unknown_fields)]
        struct FileConfig {
            $( $key: Option<$ty>, )*
        }

        /// Each option from the flag or its variable (clap reads both), else from the file.
        #[derive(Debug, Default)]
        struct Chosen {
            $( $key: Option<$ty>, )*
        }

        impl Chosen {
            fn new(args: &ServeArgs, file: FileConfig) -> Chosen {
                Chosen {
                    $( $key: args.$key.clone().or(file.$key), )*
                }
            }
        }

        /// Every option, for `docs/operations.md` and its test.
        pub const OPTIONS: &[OptionDoc] = &[
            OptionDoc {
                key: "config",
                env: "LATCHKEY_CONFIG",
                default: "",
                doc: "the TOML file",
            },
            $(
                OptionDoc {
                    key: stringify!($key),
                    env: $env,
                    default: concat!("" $(, $default)?),
                    doc: concat!($($doc),+),
                },
            )*
        ];
    };
}

/// An option's help: its doc on one line, then its default.
fn help_text(doc: &[&str], default: &str) -> String {
    let mut text = doc.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
    if !default.is_empty() {
        text.push_str(&format!(" [default: {default}]"));
    }
    text
}

/// One option as `docs/operations.md` lists it.
#[derive(Debug, Clone, Copy)]
pub struct OptionDoc {
    /// The TOML key; the flag is `--` and the key with `-` for `_`.
    pub key: &'static str,
    pub env: &'static str,
    /// As the documentation shows it (empty: none).
    pub default: &'static str,
    pub doc: &'static str,
}

impl OptionDoc {
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }
}

options! {
    /// Address of the HTTP API and web app.
    http: String = "LATCHKEY_HTTP", default "127.0.0.1:8080";
    /// Folder for the SQLite database, keys and the SMS outbox.
    data_dir: PathBuf = "LATCHKEY_DATA_DIR", default "./latchkey-data";
    /// `sqlite://PATH` or `postgres://...`.
    database_url: String = "LATCHKEY_DATABASE_URL", default "sqlite://DATA_DIR/latchkey.db";
    /// `embedded://HOST:PORT` (a broker inside the server), or an external broker:
    /// `mqtt://[USER:PASSWORD@]HOST:PORT`, or `mqtts://...` for TLS with the broker's
    /// certificate checked (prefer the variable to the flag when there is a password: a flag
    /// shows in the process list).
    mqtt: String = "LATCHKEY_MQTT", default "embedded://127.0.0.1:1884";
    /// PEM file of the certificate authorities an `mqtts://` broker's certificate must chain
    /// to, instead of the system's.
    mqtt_ca_file: PathBuf = "LATCHKEY_MQTT_CA_FILE";
    /// On an external Mosquitto with the dynamic-security plugin, provision the `pairing`
    /// login and a login with its own topics for each paired lock (`true` or `1`); the
    /// server's login must be a dynsec admin.
    mqtt_dynsec: Yes = "LATCHKEY_MQTT_DYNSEC", default "false";
    /// PEM file of the certificate chain (the broker's certificate first) for a TLS listener
    /// of the embedded broker, with `embedded_mqtt_tls_key`; locks then connect with
    /// `mqtts://`. The plain listener (`mqtt`) stays for the server's own connection: keep it
    /// on loopback.
    embedded_mqtt_tls_cert: PathBuf = "LATCHKEY_EMBEDDED_MQTT_TLS_CERT";
    /// PEM file of the private key of `embedded_mqtt_tls_cert` (PKCS#8, PKCS#1 or SEC1).
    embedded_mqtt_tls_key: PathBuf = "LATCHKEY_EMBEDDED_MQTT_TLS_KEY";
    /// Address of the embedded broker's TLS listener, when it has a certificate.
    embedded_mqtt_tls_addr: String = "LATCHKEY_EMBEDDED_MQTT_TLS_ADDR", default "0.0.0.0:8883";
    /// Comma-separated SMS senders: `console`, `file:PATH`, `twilio`, `webhook:URL`.
    sms: String = "LATCHKEY_SMS", default "console,file:DATA_DIR/outbox.jsonl";
    /// The address users open, used in SMS links.
    public_url: String = "LATCHKEY_PUBLIC_URL", default "http://HTTP";
    /// Log filter in `tracing` syntax.
    log: String = "LATCHKEY_LOG", default "info";
    /// Twilio account SID, for `sms = "twilio"`.
    twilio_account_sid: String = "LATCHKEY_TWILIO_ACCOUNT_SID";
    /// Twilio auth token, for `sms = "twilio"` (prefer the `_file` form: a flag shows in the
    /// process list).
    twilio_auth_token: String = "LATCHKEY_TWILIO_AUTH_TOKEN";
    /// A file holding the Twilio auth token.
    twilio_auth_token_file: PathBuf = "LATCHKEY_TWILIO_AUTH_TOKEN_FILE";
    /// Twilio sender number or messaging service.
    twilio_from: String = "LATCHKEY_TWILIO_FROM";
    /// Twilio's API address, for tests against a local stub.
    twilio_api_base: String = "LATCHKEY_TWILIO_API_BASE", default "https://api.twilio.com";
    /// Sign-in codes sent to one phone number per window.
    otp_per_phone: u32 = "LATCHKEY_OTP_PER_PHONE", default "5";
    /// Sign-in requests and code checks per client address per window.
    otp_per_client: u32 = "LATCHKEY_OTP_PER_CLIENT", default "30";
    /// The rate-limit window, in seconds.
    rate_window_seconds: u64 = "LATCHKEY_RATE_WINDOW_SECONDS", default "900";
    /// How long an invitation stays pending, in hours.
    invitation_ttl_hours: u32 = "LATCHKEY_INVITATION_TTL_HOURS", default "168";
    /// How long a session lasts, in days.
    session_ttl_days: u32 = "LATCHKEY_SESSION_TTL_DAYS", default "90";
    /// Take the client address from `X-Forwarded-For`, only behind your own proxy (`true` or
    /// `1`).
    trust_forwarded_for: Yes = "LATCHKEY_TRUST_FORWARDED_FOR", default "false";
    /// How long a remote unlock waits for the lock, in milliseconds.
    unlock_timeout_ms: u64 = "LATCHKEY_UNLOCK_TIMEOUT_MS", default "5000";
    /// MQTT shared-subscription group of the locks' messages.
    mqtt_share_group: String = "LATCHKEY_MQTT_SHARE_GROUP", default "latchkey";
    /// Let outgoing requests (webhooks, calendar feeds) reach loopback and private addresses
    /// too, for a receiver on the same host and for tests (`true` or `1`); by default only
    /// public `http`/`https` addresses are reached.
    allow_private_targets: Yes = "LATCHKEY_ALLOW_PRIVATE_TARGETS", default "false";
    /// Webhook retry schedule: the delays after each failed attempt (units `ms`, `s`, `m`,
    /// `h`); when they run out the delivery is `failed`.
    webhook_retry: String = "LATCHKEY_WEBHOOK_RETRY", default "5s,5m,30m,2h,5h,10h,10h";
    /// How often each rental calendar's feed is read, in seconds (one instance reads at a
    /// time).
    calendar_interval_seconds: u64 = "LATCHKEY_CALENDAR_INTERVAL_SECONDS", default "900";
}

/// A yes/no option: `true` or `false` in the TOML file; `true` or `1` (anything else: no) as a
/// flag or variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Yes(pub bool);

/// Whether an option's type is [`Yes`] (its flag may then stand alone).
fn is_yes<T: 'static>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<Yes>()
}

impl std::str::FromStr for Yes {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Yes, Self::Err> {
        Ok(Yes(s == "true" || s == "1"))
    }
}

/// Where locks connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttConfig {
    /// Run a broker inside the server, listening here.
    Embedded(SocketAddr),
    /// Use an external broker.
    External { host: String, port: u16 },
}

/// The server's own login to an external broker (ignored for the embedded one).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExternalLogin {
    /// User name and password (`mqtt://USER:PASSWORD@HOST:PORT`, percent-decoded).
    pub credentials: Option<(String, String)>,
    /// TLS (`mqtts://`), the certificate checked against the host name.
    pub tls: bool,
    /// The certificate authorities to trust instead of the system's (`mqtt_ca_file`).
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for ExternalLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalLogin")
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The embedded broker's TLS listener (`embedded_mqtt_tls_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedTls {
    /// Where it listens (port 0: a free port).
    pub addr: SocketAddr,
    /// PEM certificate chain, the broker's certificate first.
    pub cert: PathBuf,
    /// PEM private key of that certificate.
    pub key: PathBuf,
}

/// One SMS sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsKind {
    Console,
    File(PathBuf),
    Twilio,
    Webhook(String),
}

/// Twilio's Messages API settings.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
    /// `https://api.twilio.com` unless a test points it at a local stub.
    pub api_base: String,
}

/// Abuse limits on sign-in.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Sign-in codes sent to one phone number per window.
    pub otp_per_phone: u32,
    /// Sign-in attempts (code requests and code checks) per client address per window.
    pub otp_per_client: u32,
    pub window_seconds: u64,
    /// Use the first `X-Forwarded-For` address as the client (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub mqtt: MqttConfig,
    /// Credentials and TLS for an external broker.
    pub mqtt_login: ExternalLogin,
    /// Provision per-lock logins on an external Mosquitto's dynamic-security plugin.
    pub mqtt_dynsec: bool,
    /// A TLS listener of the embedded broker beside its plain one.
    pub embedded_mqtt_tls: Option<EmbeddedTls>,
    pub sms: Vec<SmsKind>,
    pub twilio: Option<TwilioConfig>,
    pub public_url: String,
    pub log: String,
    pub limits: Limits,
    pub invitation_ttl_hours: u32,
    pub session_ttl_days: u32,
    pub unlock_timeout_ms: u64,
    /// The MQTT shared-subscription group of the locks' `up` topics: instances in one group
    /// share the messages, each handled by exactly one of them.
    pub mqtt_share_group: String,
    /// Benchmarks only: speak the first round's signed-only link (no encryption) to locks that
    /// do the same, to measure what encryption costs. Not a file key or a flag: only
    /// `latchkey bench` sets it, through [`BENCH_SIGNED_ONLY_LINK`] in its server's environment.
    /// It cannot weaken a real deployment: a paired lock refuses signed-only bodies, so such a
    /// server reaches no real lock at all (docs/protocol.md, "Encrypted messages").
    pub signed_only_link: bool,
    /// Outgoing requests may reach loopback and private addresses (`outbound`).
    pub allow_private_targets: bool,
    /// Delays between webhook attempts (`webhooks::parse_retry`).
    pub webhook_retry: Vec<std::time::Duration>,
    /// Seconds between two reads of a rental calendar's feed.
    pub calendar_interval_seconds: u64,
    /// How long an outgoing `GET` (a calendar feed) may take in all. Not an option: 30 s
    /// (`outbound`); tests shorten it.
    pub outbound_fetch_timeout: std::time::Duration,
}

impl Config {
    /// Resolves flags (which clap already merged with the environment) over the TOML file over
    /// the defaults.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Config> {
        check_env(std::env::vars().map(|(k, _)| k))?;
        let file = match &args.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let o = Chosen::new(args, file);

        let http_text = o.http.unwrap_or_else(|| "127.0.0.1:8080".into());
        let http: SocketAddr = http_text
            .parse()
            .with_context(|| format!("http: '{http_text}' is not an address like 127.0.0.1:8080"))?;
        let data_dir = o.data_dir.unwrap_or_else(|| PathBuf::from("./latchkey-data"));
        let database_url = o.database_url.unwrap_or_else(|| default_sqlite_url(&data_dir));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            bail!("database_url: expected sqlite://PATH or postgres://..., got '{database_url}'");
        }
        let (mqtt, mut mqtt_login) = parse_mqtt(&o.mqtt.unwrap_or_else(|| "embedded://127.0.0.1:1884".into()))?;
        mqtt_login.ca_file = o.mqtt_ca_file;
        if mqtt_login.ca_file.is_some() && !mqtt_login.tls {
            bail!("mqtt_ca_file: only for an mqtts:// broker");
        }
        let embedded_mqtt_tls = embedded_tls(
            &mqtt,
            o.embedded_mqtt_tls_cert,
            o.embedded_mqtt_tls_key,
            o.embedded_mqtt_tls_addr,
        )?;
        let sms = match o.sms {
            Some(text) => parse_sms(&text)?,
            None => vec![SmsKind::Console, SmsKind::File(data_dir.join("outbox.jsonl"))],
        };
        let twilio = if sms.contains(&SmsKind::Twilio) {
            let need = |v: Option<String>, key: &str| {
                v.with_context(|| {
                    format!(
                        "sms=twilio needs {key} (config key, or LATCHKEY_{})",
                        key.to_uppercase()
                    )
                })
            };
            let auth_token = match o.twilio_auth_token {
                Some(t) => t,
                None => {
                    let path = o
                        .twilio_auth_token_file
                        .context("sms=twilio needs twilio_auth_token or twilio_auth_token_file")?;
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?
                        .trim()
                        .to_string()
                }
            };
            Some(TwilioConfig {
                account_sid: need(o.twilio_account_sid, "twilio_account_sid")?,
                auth_token,
                from: need(o.twilio_from, "twilio_from")?,
                api_base: o.twilio_api_base.unwrap_or_else(|| "https://api.twilio.com".into()),
            })
        } else {
            None
        };
        let public_url = o
            .public_url
            .unwrap_or_else(|| format!("http://{http}"))
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("public_url: expected an http:// or https:// URL, got '{public_url}'");
        }
        let limits = Limits {
            otp_per_phone: o.otp_per_phone.unwrap_or(5),
            otp_per_client: o.otp_per_client.unwrap_or(30),
            window_seconds: o.rate_window_seconds.unwrap_or(900),
            trust_forwarded_for: o.trust_forwarded_for.is_some_and(|y| y.0),
        };
        Ok(Config {
            http,
            data_dir,
            database_url,
            mqtt,
            mqtt_login,
            mqtt_dynsec: o.mqtt_dynsec.is_some_and(|y| y.0),
            embedded_mqtt_tls,
            sms,
            twilio,
            public_url,
            log: o.log.unwrap_or_else(|| "info".into()),
            limits,
            invitation_ttl_hours: o.invitation_ttl_hours.unwrap_or(7 * 24),
            session_ttl_days: o.session_ttl_days.unwrap_or(90),
            unlock_timeout_ms: o.unlock_timeout_ms.unwrap_or(5000),
            mqtt_share_group: parse_share_group(&o.mqtt_share_group.unwrap_or_else(|| "latchkey".into()))?,
            signed_only_link: std::env::var(BENCH_SIGNED_ONLY_LINK).as_deref() == Ok("1"),
            allow_private_targets: o.allow_private_targets.is_some_and(|y| y.0),
            webhook_retry: crate::webhooks::parse_retry(
                o.webhook_retry.as_deref().unwrap_or(crate::webhooks::DEFAULT_RETRY),
            )
            .map_err(anyhow::Error::msg)?,
            calendar_interval_seconds: match o.calendar_interval_seconds.unwrap_or(900) {
                0 => bail!("calendar_interval_seconds: must be at least 1"),
                n => n,
            },
            outbound_fetch_timeout: std::time::Duration::from_secs(30),
        })
    }

    /// A configuration for tests and tools: everything on loopback with port 0, SQLite in
    /// `data_dir` unless `database_url` is given, SMS to `data_dir/outbox.jsonl`.
    pub fn for_tests(data_dir: &Path, database_url: Option<String>, mqtt: MqttConfig) -> Config {
        Config {
            http: "127.0.0.1:0".parse().expect("literal address"),
            data_dir: data_dir.to_path_buf(),
            database_url: database_url.unwrap_or_else(|| default_sqlite_url(data_dir)),
            mqtt,
            mqtt_login: ExternalLogin::default(),
            mqtt_dynsec: false,
            embedded_mqtt_tls: None,
            sms: vec![SmsKind::File(data_dir.join("outbox.jsonl"))],
            twilio: None,
            public_url: "http://127.0.0.1".into(),
            log: "warn".into(),
            limits: Limits {
                otp_per_phone: 50,
                otp_per_client: 1000,
                window_seconds: 900,
                trust_forwarded_for: false,
            },
            invitation_ttl_hours: 7 * 24,
            session_ttl_days: 90,
            unlock_timeout_ms: 5000,
            // Parallel tests share one external broker: a group of their own keeps one test's
            // lock messages from going to another test's server.
            mqtt_share_group: format!("latchkey-test-{}", hex::encode(test_group_bytes())),
            signed_only_link: false,
            // Tests talk to local receivers and feeds.
            allow_private_targets: true,
            webhook_retry: crate::webhooks::parse_retry("1s,1s,2s").unwrap_or_default(),
            calendar_interval_seconds: 900,
            outbound_fetch_timeout: std::time::Duration::from_secs(30),
        }
    }
}

fn test_group_bytes() -> [u8; 6] {
    let mut b = [0u8; 6];
    // A test without OS randomness cannot run anyway.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut b).expect("the OS random source");
    b
}

/// The embedded broker's TLS listener: a certificate and its key together, only for an
/// `embedded://` broker; the address only with them.
fn embedded_tls(
    mqtt: &MqttConfig,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    addr: Option<String>,
) -> anyhow::Result<Option<EmbeddedTls>> {
    let (cert, key) = match (cert, key) {
        (None, None) => {
            if addr.is_some() {
                bail!("embedded_mqtt_tls_addr: only with embedded_mqtt_tls_cert and embedded_mqtt_tls_key");
            }
            return Ok(None);
        }
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => bail!("embedded_mqtt_tls_cert needs embedded_mqtt_tls_key (the certificate's private key)"),
        (None, Some(_)) => bail!("embedded_mqtt_tls_key needs embedded_mqtt_tls_cert (the certificate chain)"),
    };
    if !matches!(mqtt, MqttConfig::Embedded(_)) {
        bail!(
            "embedded_mqtt_tls_cert: only for the embedded broker (mqtt = embedded://...); an external broker has its own TLS settings"
        );
    }
    let text = addr.unwrap_or_else(|| "0.0.0.0:8883".into());
    let addr: SocketAddr = text
        .parse()
        .with_context(|| format!("embedded_mqtt_tls_addr: '{text}' is not an address like 0.0.0.0:8883"))?;
    Ok(Some(EmbeddedTls { addr, cert, key }))
}

/// A share group names a topic level: 1 to 64 of `A-Z a-z 0-9 _ -`.
fn parse_share_group(text: &str) -> anyhow::Result<String> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        bail!("mqtt_share_group: expected 1 to 64 letters, digits, '_' or '-', got '{text}'");
    }
    Ok(text.to_string())
}

fn default_sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("latchkey.db").display())
}

/// Refuses `LATCHKEY_*` variables the server does not know (a typo would otherwise be ignored
/// silently).
/// The environment variable through which `latchkey bench` starts a server on the signed-only
/// link ([`Config::signed_only_link`]). Deliberately outside the `LATCHKEY_` options: it is not
/// a setting anyone should choose, and it is in no documentation for operators.
pub const BENCH_SIGNED_ONLY_LINK: &str = "LK_BENCH_SIGNED_ONLY_LINK";

fn check_env(keys: impl Iterator<Item = String>) -> anyhow::Result<()> {
    for key in keys {
        if key.starts_with("LATCHKEY_") && !OPTIONS.iter().any(|o| o.env == key) {
            let known: Vec<&str> = OPTIONS.iter().map(|o| o.env).collect();
            bail!(
                "unknown environment variable {key}; known ones are: {}",
                known.join(", ")
            );
        }
    }
    Ok(())
}

fn parse_mqtt(text: &str) -> anyhow::Result<(MqttConfig, ExternalLogin)> {
    let bad = || {
        anyhow::anyhow!(
            "mqtt: expected embedded://HOST:PORT, mqtt://[USER:PASSWORD@]HOST:PORT or mqtts://..., got '{}'",
            redact_userinfo(text)
        )
    };
    if let Some(addr) = text.strip_prefix("embedded://") {
        return Ok((
            MqttConfig::Embedded(addr.parse().map_err(|_| bad())?),
            ExternalLogin::default(),
        ));
    }
    let (rest, tls) = match (text.strip_prefix("mqtt://"), text.strip_prefix("mqtts://")) {
        (Some(rest), _) => (rest, false),
        (_, Some(rest)) => (rest, true),
        _ => return Err(bad()),
    };
    let rest = rest.trim_end_matches('/');
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let credentials = match userinfo {
        None => None,
        Some(u) => {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            let user = percent_decode(user).ok_or_else(bad)?;
            if user.is_empty() {
                return Err(bad());
            }
            Some((user, percent_decode(password).ok_or_else(bad)?))
        }
    };
    let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse().map_err(|_| bad())?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() || host.contains('/') {
        return Err(bad());
    }
    let login = ExternalLogin {
        credentials,
        tls,
        ca_file: None,
    };
    Ok((
        MqttConfig::External {
            host: host.to_string(),
            port,
        },
        login,
    ))
}

/// `mqtt://USER:PASSWORD@...` with the password replaced, for messages.
fn redact_userinfo(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &text[scheme + 3..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{}{user}:***{}", &text[..scheme + 3], &text[at..])
        }
        _ => text.to_string(),
    }
}

/// `%XX` escapes decoded (URL user information); `None` when one is malformed or the result
/// is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn parse_sms(text: &str) -> anyhow::Result<Vec<SmsKind>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let kind = if part == "console" {
            SmsKind::Console
        } else if part == "twilio" {
            SmsKind::Twilio
        } else if let Some(path) = part.strip_prefix("file:") {
            SmsKind::File(PathBuf::from(path))
        } else if let Some(url) = part.strip_prefix("webhook:") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("sms: webhook needs an http(s) URL, got '{url}'");
            }
            SmsKind::Webhook(url.to_string())
        } else {
            bail!("sms: unknown sender '{part}'; use console, file:PATH, twilio or webhook:URL");
        };
        out.push(kind);
    }
    if out.is_empty() {
        bail!("sms: name at least one sender");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_file_keys_are_refused_with_the_known_ones() {
        let err = toml::from_str::<FileConfig>("htpp = \"x\"").unwrap_err().to_string();
        assert!(err.contains("unknown field `htpp`"), "{err}");
        assert!(err.contains("http"), "{err}");
    }

    #[test]
    fn unknown_env_vars_are_refused() {
        let err = check_env(["LATCHKEY_HTPP".to_string()].into_iter())
            .unwrap_err()
            .to_string();
        assert!(err.contains("LATCHKEY_HTPP") && err.contains("LATCHKEY_HTTP"), "{err}");
        check_env(["LATCHKEY_HTTP".to_string(), "PATH".to_string()].into_iter()).unwrap();
    }

    #[test]
    fn mqtt_forms() {
        assert_eq!(
            parse_mqtt("embedded://127.0.0.1:1884").unwrap(),
            (
                MqttConfig::Embedded("127.0.0.1:1884".parse().unwrap()),
                ExternalLogin::default()
            )
        );
        assert_eq!(
            parse_mqtt("mqtt://localhost:1883").unwrap(),
            (
                MqttConfig::External {
                    host: "localhost".into(),
                    port: 1883
                },
                ExternalLogin::default()
            )
        );
        let (mqtt, login) = parse_mqtt("mqtts://latchkey:p%40ss%3Aword@broker.example:8883/").unwrap();
        assert_eq!(
            mqtt,
            MqttConfig::External {
                host: "broker.example".into(),
                port: 8883
            }
        );
        assert!(login.tls);
        assert_eq!(login.credentials, Some(("latchkey".into(), "p@ss:word".into())));
        assert!(!format!("{login:?}").contains("p@ss"), "no password in the debug form");
        let (_, login) = parse_mqtt("mqtt://user@[::1]:1883").unwrap();
        assert_eq!(login.credentials, Some(("user".into(), String::new())));
        assert!(!login.tls);
        for bad in [
            "tcp://x:1",
            "mqtt://:1",
            "mqtts://x",
            "mqtt://:pw@host:1",
            "mqtt://u:%zz@host:1",
            "mqtt://u:%+1@host:1",
        ] {
            assert!(parse_mqtt(bad).is_err(), "{bad}");
        }
        let err = parse_mqtt("mqtt://user:secret@host").unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn embedded_tls_listener_options() {
        let embedded = MqttConfig::Embedded("127.0.0.1:1884".parse().unwrap());
        let (cert, key) = (Some(PathBuf::from("c.pem")), Some(PathBuf::from("k.pem")));
        assert_eq!(embedded_tls(&embedded, None, None, None).unwrap(), None);
        let tls = embedded_tls(&embedded, cert.clone(), key.clone(), None)
            .unwrap()
            .unwrap();
        assert_eq!(tls.addr, "0.0.0.0:8883".parse().unwrap(), "the default address");
        let tls = embedded_tls(&embedded, cert.clone(), key.clone(), Some("127.0.0.1:0".into()))
            .unwrap()
            .unwrap();
        assert_eq!(
            (tls.addr.port(), tls.cert, tls.key),
            (0, "c.pem".into(), "k.pem".into())
        );
        let external = MqttConfig::External {
            host: "b".into(),
            port: 1,
        };
        for (mqtt, c, k, a, says) in [
            (&embedded, cert.clone(), None, None, "needs embedded_mqtt_tls_key"),
            (&embedded, None, key.clone(), None, "needs embedded_mqtt_tls_cert"),
            (&embedded, None, None, Some("0.0.0.0:1".to_string()), "only with"),
            (
                &embedded,
                cert.clone(),
                key.clone(),
                Some("host".to_string()),
                "not an address",
            ),
            (
                &external,
                cert.clone(),
                key.clone(),
                None,
                "only for the embedded broker",
            ),
        ] {
            let e = embedded_tls(mqtt, c, k, a).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn share_groups() {
        assert_eq!(parse_share_group("latchkey").unwrap(), "latchkey");
        assert_eq!(parse_share_group("site-1_a").unwrap(), "site-1_a");
        for bad in ["", "a/b", "a+", "#", "a b", &"x".repeat(65)] {
            assert!(parse_share_group(bad).is_err(), "{bad:?}");
        }
        let dir = std::path::Path::new("/tmp");
        let a = Config::for_tests(dir, None, MqttConfig::Embedded("127.0.0.1:0".parse().unwrap()));
        let b = Config::for_tests(dir, None, MqttConfig::Embedded("127.0.0.1:0".parse().unwrap()));
        assert_ne!(
            a.mqtt_share_group, b.mqtt_share_group,
            "each test server has its own group"
        );
    }

    #[test]
    fn sms_forms() {
        assert_eq!(
            parse_sms("console,file:/tmp/o.jsonl").unwrap(),
            vec![SmsKind::Console, SmsKind::File("/tmp/o.jsonl".into())]
        );
        assert!(parse_sms("pigeon").is_err());
        assert!(parse_sms("webhook:ftp://x").is_err());
        assert!(parse_sms("").is_err());
    }

    #[test]
    fn file_then_flags_precedence() {
        let dir = std::env::temp_dir().join(format!("lk-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "http = \"127.0.0.1:9000\"\nlog = \"debug\"\n").unwrap();
        let args = ServeArgs {
            config: Some(path),
            log: Some("warn".into()),
            data_dir: Some(dir.clone()),
            ..Default::default()
        };
        let cfg = Config::resolve(&args).unwrap();
        assert_eq!(cfg.http.port(), 9000);
        assert_eq!(cfg.log, "warn");
        assert!(cfg.database_url.starts_with("sqlite://"));
        assert_eq!(cfg.public_url, "http://127.0.0.1:9000");
    }

    /// Every option is a flag and a TOML key (and, through clap, a variable): the less common
    /// ones too, and a flag wins over the file.
    #[test]
    fn every_option_is_a_flag_and_a_key() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "otp_per_phone = 9\nunlock_timeout_ms = 1234\ntrust_forwarded_for = true\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "serve".as_ref(),
            "--config".as_ref(),
            path.as_os_str(),
            "--otp-per-phone".as_ref(),
            "7".as_ref(),
            "--session-ttl-days".as_ref(),
            "3".as_ref(),
            "--data-dir".as_ref(),
            dir.path().as_os_str(),
        ])
        .unwrap();
        let cfg = Config::resolve(&cli.serve).unwrap();
        assert_eq!(cfg.limits.otp_per_phone, 7, "the flag wins over the file");
        assert_eq!(cfg.session_ttl_days, 3);
        assert_eq!(cfg.unlock_timeout_ms, 1234, "from the file");
        assert!(cfg.limits.trust_forwarded_for);
        assert_eq!(cfg.limits.otp_per_client, 30, "the default");
        for o in OPTIONS {
            assert!(
                o.env.starts_with("LATCHKEY_") && o.env[9..].eq_ignore_ascii_case(o.key),
                "{o:?}"
            );
        }
        assert!(Cli::try_parse_from(["serve", "--otp-per-phone", "many"]).is_err());
        // A yes/no flag alone means yes; with a value it is that value; other flags need one.
        let bare = Cli::try_parse_from(["serve", "--allow-private-targets", "--mqtt-dynsec=false"]).unwrap();
        assert_eq!(bare.serve.allow_private_targets.map(|y| y.0), Some(true));
        assert_eq!(bare.serve.mqtt_dynsec.map(|y| y.0), Some(false));
        let valued = Cli::try_parse_from(["serve", "--trust-forwarded-for", "true"]).unwrap();
        assert_eq!(valued.serve.trust_forwarded_for.map(|y| y.0), Some(true));
        assert!(Cli::try_parse_from(["serve", "--otp-per-phone"]).is_err());
    }

    #[test]
    fn operations_doc_names_every_option() {
        let doc = include_str!("../../../docs/operations.md");
        for o in OPTIONS {
            let key = if o.key == "config" {
                "(none)".to_string()
            } else {
                format!("`{}`", o.key)
            };
            let default = if o.default.is_empty() {
                " ".to_string()
            } else {
                format!(" `{}` ", o.default)
            };
            let row = format!("| {key} | `{}` | `{}` |{default}|", o.env, o.flag());
            assert!(
                doc.lines().any(|l| l.starts_with(&row)),
                "docs/operations.md has no row starting {row}"
            );
        }
    }
}

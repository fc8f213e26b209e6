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

/// Flags of `latchkey serve`; each is also a `LATCHKEY_*` environment variable.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// A TOML file with any of the options below (keys as the flags, with `_` for `-`).
    #[arg(long, env = "LATCHKEY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the HTTP API and web app [default: 127.0.0.1:8080].
    #[arg(long, env = "LATCHKEY_HTTP")]
    pub http: Option<String>,
    /// Folder for the SQLite database, keys and the SMS outbox [default: ./latchkey-data].
    #[arg(long, env = "LATCHKEY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://...` [default: SQLite in the data folder].
    #[arg(long, env = "LATCHKEY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// `embedded://HOST:PORT` (a broker inside the server) or `mqtt://HOST:PORT`
    /// [default: embedded://127.0.0.1:1884].
    #[arg(long, env = "LATCHKEY_MQTT")]
    pub mqtt: Option<String>,
    /// Comma-separated SMS senders: `console`, `file:PATH`, `twilio`, `webhook:URL`
    /// [default: console,file:DATA_DIR/outbox.jsonl].
    #[arg(long, env = "LATCHKEY_SMS")]
    pub sms: Option<String>,
    /// The address users open, used in SMS links [default: http://HTTP].
    #[arg(long, env = "LATCHKEY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Log filter in `tracing` syntax [default: info].
    #[arg(long, env = "LATCHKEY_LOG")]
    pub log: Option<String>,
}

/// The TOML file: the same options as the flags plus the less common ones.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    http: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    mqtt: Option<String>,
    sms: Option<String>,
    public_url: Option<String>,
    log: Option<String>,
    twilio_account_sid: Option<String>,
    twilio_auth_token: Option<String>,
    twilio_auth_token_file: Option<PathBuf>,
    twilio_from: Option<String>,
    twilio_api_base: Option<String>,
    otp_per_phone: Option<u32>,
    otp_per_client: Option<u32>,
    rate_window_seconds: Option<u64>,
    invitation_ttl_hours: Option<u32>,
    session_ttl_days: Option<u32>,
    trust_forwarded_for: Option<bool>,
    unlock_timeout_ms: Option<u64>,
    mqtt_share_group: Option<String>,
}

/// Every `LATCHKEY_*` variable the server reads, with the file key it stands for.
const ENV_KEYS: &[(&str, &str)] = &[
    ("LATCHKEY_CONFIG", "config"),
    ("LATCHKEY_HTTP", "http"),
    ("LATCHKEY_DATA_DIR", "data_dir"),
    ("LATCHKEY_DATABASE_URL", "database_url"),
    ("LATCHKEY_MQTT", "mqtt"),
    ("LATCHKEY_SMS", "sms"),
    ("LATCHKEY_PUBLIC_URL", "public_url"),
    ("LATCHKEY_LOG", "log"),
    ("LATCHKEY_TWILIO_ACCOUNT_SID", "twilio_account_sid"),
    ("LATCHKEY_TWILIO_AUTH_TOKEN", "twilio_auth_token"),
    ("LATCHKEY_TWILIO_AUTH_TOKEN_FILE", "twilio_auth_token_file"),
    ("LATCHKEY_TWILIO_FROM", "twilio_from"),
    ("LATCHKEY_TWILIO_API_BASE", "twilio_api_base"),
    ("LATCHKEY_OTP_PER_PHONE", "otp_per_phone"),
    ("LATCHKEY_OTP_PER_CLIENT", "otp_per_client"),
    ("LATCHKEY_RATE_WINDOW_SECONDS", "rate_window_seconds"),
    ("LATCHKEY_INVITATION_TTL_HOURS", "invitation_ttl_hours"),
    ("LATCHKEY_SESSION_TTL_DAYS", "session_ttl_days"),
    ("LATCHKEY_TRUST_FORWARDED_FOR", "trust_forwarded_for"),
    ("LATCHKEY_UNLOCK_TIMEOUT_MS", "unlock_timeout_ms"),
    ("LATCHKEY_MQTT_SHARE_GROUP", "mqtt_share_group"),
];

/// Where locks connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttConfig {
    /// Run a broker inside the server, listening here.
    Embedded(SocketAddr),
    /// Use an external broker.
    External { host: String, port: u16 },
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
    /// do the same, to measure what encryption costs. Not read from the file, the environment
    /// or flags; production never sets it (docs/protocol.md, "Encrypted messages").
    pub signed_only_link: bool,
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
        let env = |key: &str| std::env::var(key).ok();

        let http_text = pick(&args.http, &file.http).unwrap_or_else(|| "127.0.0.1:8080".into());
        let http: SocketAddr = http_text
            .parse()
            .with_context(|| format!("http: '{http_text}' is not an address like 127.0.0.1:8080"))?;
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./latchkey-data"));
        let database_url =
            pick(&args.database_url, &file.database_url).unwrap_or_else(|| default_sqlite_url(&data_dir));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            bail!("database_url: expected sqlite://PATH or postgres://..., got '{database_url}'");
        }
        let mqtt = parse_mqtt(&pick(&args.mqtt, &file.mqtt).unwrap_or_else(|| "embedded://127.0.0.1:1884".into()))?;
        let sms = match pick(&args.sms, &file.sms) {
            Some(text) => parse_sms(&text)?,
            None => vec![SmsKind::Console, SmsKind::File(data_dir.join("outbox.jsonl"))],
        };
        let twilio = if sms.contains(&SmsKind::Twilio) {
            let get = |v: Option<String>, key: &str, name: &str| {
                env(key)
                    .or(v)
                    .with_context(|| format!("sms=twilio needs {name} (config key) or {key} (environment)"))
            };
            let token = match env("LATCHKEY_TWILIO_AUTH_TOKEN").or_else(|| file.twilio_auth_token.clone()) {
                Some(t) => t,
                None => {
                    let path = env("LATCHKEY_TWILIO_AUTH_TOKEN_FILE")
                        .map(PathBuf::from)
                        .or_else(|| file.twilio_auth_token_file.clone())
                        .context("sms=twilio needs twilio_auth_token or twilio_auth_token_file")?;
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?
                        .trim()
                        .to_string()
                }
            };
            Some(TwilioConfig {
                account_sid: get(
                    file.twilio_account_sid.clone(),
                    "LATCHKEY_TWILIO_ACCOUNT_SID",
                    "twilio_account_sid",
                )?,
                auth_token: token,
                from: get(file.twilio_from.clone(), "LATCHKEY_TWILIO_FROM", "twilio_from")?,
                api_base: env("LATCHKEY_TWILIO_API_BASE")
                    .or_else(|| file.twilio_api_base.clone())
                    .unwrap_or_else(|| "https://api.twilio.com".into()),
            })
        } else {
            None
        };
        let public_url = pick(&args.public_url, &file.public_url)
            .unwrap_or_else(|| format!("http://{http}"))
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("public_url: expected an http:// or https:// URL, got '{public_url}'");
        }
        let num = |v: Option<u64>, key: &str, default: u64| -> anyhow::Result<u64> {
            match env(key) {
                Some(text) => text.parse().with_context(|| format!("{key}: '{text}' is not a number")),
                None => Ok(v.unwrap_or(default)),
            }
        };
        let limits = Limits {
            otp_per_phone: num(file.otp_per_phone.map(u64::from), "LATCHKEY_OTP_PER_PHONE", 5)? as u32,
            otp_per_client: num(file.otp_per_client.map(u64::from), "LATCHKEY_OTP_PER_CLIENT", 30)? as u32,
            window_seconds: num(file.rate_window_seconds, "LATCHKEY_RATE_WINDOW_SECONDS", 900)?,
            trust_forwarded_for: match env("LATCHKEY_TRUST_FORWARDED_FOR") {
                Some(v) => v == "true" || v == "1",
                None => file.trust_forwarded_for.unwrap_or(false),
            },
        };
        Ok(Config {
            http,
            data_dir,
            database_url,
            mqtt,
            sms,
            twilio,
            public_url,
            log: pick(&args.log, &file.log).unwrap_or_else(|| "info".into()),
            limits,
            invitation_ttl_hours: num(
                file.invitation_ttl_hours.map(u64::from),
                "LATCHKEY_INVITATION_TTL_HOURS",
                7 * 24,
            )? as u32,
            session_ttl_days: num(file.session_ttl_days.map(u64::from), "LATCHKEY_SESSION_TTL_DAYS", 90)? as u32,
            unlock_timeout_ms: num(file.unlock_timeout_ms, "LATCHKEY_UNLOCK_TIMEOUT_MS", 5000)?,
            mqtt_share_group: parse_share_group(
                &env("LATCHKEY_MQTT_SHARE_GROUP")
                    .or(file.mqtt_share_group)
                    .unwrap_or_else(|| "latchkey".into()),
            )?,
            signed_only_link: false,
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

fn pick(flag: &Option<String>, file: &Option<String>) -> Option<String> {
    flag.clone().or_else(|| file.clone())
}

fn default_sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("latchkey.db").display())
}

/// Refuses `LATCHKEY_*` variables the server does not know (a typo would otherwise be ignored
/// silently).
fn check_env(keys: impl Iterator<Item = String>) -> anyhow::Result<()> {
    for key in keys {
        if key.starts_with("LATCHKEY_") && !ENV_KEYS.iter().any(|(k, _)| *k == key) {
            let known: Vec<&str> = ENV_KEYS.iter().map(|(k, _)| *k).collect();
            bail!(
                "unknown environment variable {key}; known ones are: {}",
                known.join(", ")
            );
        }
    }
    Ok(())
}

fn parse_mqtt(text: &str) -> anyhow::Result<MqttConfig> {
    let bad = || anyhow::anyhow!("mqtt: expected embedded://HOST:PORT or mqtt://HOST:PORT, got '{text}'");
    if let Some(addr) = text.strip_prefix("embedded://") {
        return Ok(MqttConfig::Embedded(addr.parse().map_err(|_| bad())?));
    }
    if let Some(rest) = text.strip_prefix("mqtt://") {
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port = port.trim_end_matches('/').parse().map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        return Ok(MqttConfig::External {
            host: host.to_string(),
            port,
        });
    }
    Err(bad())
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

/// The file keys, for `docs/operations.md` and its test.
pub fn documented_keys() -> impl Iterator<Item = (&'static str, &'static str)> {
    ENV_KEYS.iter().copied()
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
            MqttConfig::Embedded("127.0.0.1:1884".parse().unwrap())
        );
        assert_eq!(
            parse_mqtt("mqtt://localhost:1883").unwrap(),
            MqttConfig::External {
                host: "localhost".into(),
                port: 1883
            }
        );
        assert!(parse_mqtt("tcp://x:1").is_err());
        assert!(parse_mqtt("mqtt://:1").is_err());
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

    #[test]
    fn operations_doc_names_every_option() {
        let doc = include_str!("../../../docs/operations.md");
        for (var, key) in documented_keys() {
            assert!(
                doc.contains(&format!("`{var}`")),
                "docs/operations.md does not name {var}"
            );
            if key != "config" {
                assert!(
                    doc.contains(&format!("`{key}`")),
                    "docs/operations.md does not name the key {key}"
                );
            }
        }
    }
}

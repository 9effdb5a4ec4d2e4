//! Layered configuration: the commented defaults in `config/default.toml` (compiled in), then an
//! optional file, then `WAITROOM_*` environment variables. Validated once at start.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer};

use crate::domain::{EventId, EventSettings, Patch};

pub const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the log sink writes admitted visitors: `-` for standard output, else a file path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    File(PathBuf),
}

impl<'de> Deserialize<'de> for LogTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.as_str() {
            "" => Err(serde::de::Error::custom(
                "must be `-` (standard output) or a file path",
            )),
            "-" => Ok(LogTarget::Stdout),
            path => Ok(LogTarget::File(path.into())),
        }
    }
}

/// A duration written in milliseconds (keys ending in `_ms`).
fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// A duration written in seconds (keys ending in `_s`).
fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}

/// A configuration value that must never reach a log line.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretString(String);

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl SecretString {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why webhooks are refused without `webhook_secret`.
pub const UNSIGNED_WEBHOOKS: &str =
    "need the server's `webhook_secret` to sign their notices with: set it in the configuration";

/// The configuration as read; see `config/default.toml` for what every key means.
// Unknown keys are not refused, but reported in `unknown_keys`: Kubernetes injects
// `WAITROOM_SERVICE_HOST` and the like into pods of a Service named waitroom.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub listen: SocketAddr,
    pub internal_listen: Option<SocketAddr>,
    pub workers: usize,
    /// Challenges made at once (0: one per core), see [`crate::challenge::Issuer`].
    pub challenge_threads: usize,
    pub fast_path: bool,
    pub redis_url: Option<SecretString>,
    /// `redis_url` names a Redis Cluster: some of its nodes, comma-separated.
    pub redis_cluster: bool,
    pub redis_prefix: String,
    pub admin_token: Option<SecretString>,
    pub service_token: Option<SecretString>,
    /// The secret the booking site signs invitations with (HS256), at least 32 characters.
    pub invitation_secret: Option<SecretString>,
    /// The secret webhooks are signed with: `whsec_` and base64 (see [`Config::webhook_key`]).
    pub webhook_secret: Option<SecretString>,
    #[serde(rename = "webhook_retry_ms", deserialize_with = "millis")]
    pub webhook_retry: Duration,
    #[serde(rename = "webhook_give_up_s", deserialize_with = "seconds")]
    pub webhook_give_up: Duration,
    #[serde(rename = "webhook_timeout_ms", deserialize_with = "millis")]
    pub webhook_timeout: Duration,
    pub keys_dir: Option<PathBuf>,
    pub active_key: Option<String>,
    pub pass_key: Option<String>,
    #[serde(default)]
    pub signing_keys: BTreeMap<String, SecretString>,
    pub dev_mode: bool,
    pub issuer: String,
    pub cookie_secure: bool,
    pub cookie_prefix: String,
    pub page_templates: Option<PathBuf>,
    #[serde(rename = "pointer_poll_ms", deserialize_with = "millis")]
    pub pointer_poll: Duration,
    #[serde(rename = "resync_sweep_s", deserialize_with = "seconds")]
    pub resync_sweep: Duration,
    #[serde(rename = "ready_stale_after_ms", deserialize_with = "millis")]
    pub ready_stale_after: Duration,
    pub log_format: LogFormat,
    pub demo_event: bool,
    /// Proxies whose `X-Forwarded-For` is believed: comma-separated addresses or networks.
    pub trusted_proxies: String,
    /// Tokens each HTTP worker remembers as verified, per generation (two generations).
    pub token_memory: u64,
    /// Most events given per-event series on `/metrics`.
    pub metrics_events: u64,
    /// Most push-update streams open on this replica at once.
    pub max_streams: u64,
    /// Most push-update streams open at once for one place in line (tabs of one visitor).
    pub max_streams_per_visitor: u64,
    pub kafka_brokers: Option<String>,
    pub kafka_topic: String,
    pub kafka_topic_per_event: bool,
    /// Create a missing topic before the first delivery to it, with these partitions and replication
    /// factor (-1: the broker's default).
    pub kafka_create_topics: bool,
    pub kafka_topic_partitions: u64,
    pub kafka_topic_replication: i64,
    #[serde(default)]
    pub kafka_producer: BTreeMap<String, String>,
    pub drain_in_serve: bool,
    pub drain_log: LogTarget,
    pub drain_chunk: u64,
    #[serde(rename = "drain_lease_ttl_ms", deserialize_with = "millis")]
    pub drain_lease_ttl: Duration,
    pub drain_listen: SocketAddr,
    #[serde(rename = "shutdown_delay_ms", deserialize_with = "millis")]
    pub shutdown_delay: Duration,
    #[serde(rename = "shutdown_timeout_s", deserialize_with = "seconds")]
    pub shutdown_timeout: Duration,
    #[serde(default)]
    pub events: BTreeMap<String, Patch<EventSettings>>,
    /// Keys set in a file or the environment that waitroom does not know (a typo such as
    /// `cookie_secur`), for a warning at start.
    #[serde(skip)]
    pub unknown_keys: Vec<String>,
}

/// The keys of `figment` that no field of [`Config`] takes, but for the families Kubernetes injects
/// into the pods of a Service named waitroom (`WAITROOM_SERVICE_*`, `WAITROOM_PORT*`).
fn unknown_keys(figment: &Figment) -> Vec<String> {
    let Ok(value) = figment.extract::<figment::value::Value>() else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    let _: Result<Config, _> =
        serde_ignored::deserialize(&value, |path| unknown.push(path.to_string()));
    unknown.retain(|key| !is_injected_by_kubernetes(key));
    unknown
}

fn is_injected_by_kubernetes(key: &str) -> bool {
    key.starts_with("service_") || key == "port" || key.starts_with("port_")
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Parse(Box<figment::Error>),
    #[error("invalid configuration: `{key}` {reason}")]
    Invalid { key: String, reason: String },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// `value` as a whole number of `unit` (milliseconds or seconds), checked like [`within`].
fn within_duration(key: &str, value: Duration, min: u64, max: u64) -> Result<(), ConfigError> {
    let in_unit = if key.ends_with("_ms") {
        value.as_millis()
    } else {
        u128::from(value.as_secs())
    };
    within(key, u64::try_from(in_unit).unwrap_or(u64::MAX), min, max)
}

fn within(key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("is {value}; it must be between {min} and {max}"),
        ))
    }
}

/// A non-empty name of letters, digits and the characters in `extra`.
fn name_like(key: &str, value: &str, extra: &str) -> Result<(), ConfigError> {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    {
        Ok(())
    } else {
        let listed: Vec<String> = extra.chars().map(|c| format!("'{c}'")).collect();
        Err(invalid(
            key,
            format!("must be letters, digits and {}", listed.join(", ")),
        ))
    }
}

/// Parses `trusted_proxies`: comma-separated addresses or networks (`10.0.0.0/8, 127.0.0.1`).
fn parse_networks(raw: &str) -> Result<Vec<ipnet::IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("`{part}` is neither an address nor a network"))
        })
        .collect()
}

impl Config {
    /// `trusted_proxies`, parsed.
    pub fn trusted_networks(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        parse_networks(&self.trusted_proxies).map_err(|reason| invalid("trusted_proxies", &reason))
    }

    /// The compiled-in defaults alone, ignoring files and the environment.
    pub fn defaults() -> Result<Self, ConfigError> {
        Figment::from(Toml::string(DEFAULTS))
            .extract()
            .map_err(|e| ConfigError::Parse(Box::new(e)))
    }

    /// Reads the defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("WAITROOM_").ignore(&["config"]).split("__"));
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Parse(Box::new(e)))?;
        config.validate()?;
        config.unknown_keys = unknown_keys(&figment);
        Ok(config)
    }

    /// The key of `webhook_secret` (`whsec_` and the base64 of 24 to 64 bytes), if it is one.
    pub fn webhook_key(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        let encoded = self
            .webhook_secret
            .as_ref()?
            .expose()
            .strip_prefix("whsec_")?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        (24..=64).contains(&key.len()).then_some(key)
    }

    /// Checks what the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.redis_url {
            let urls: Vec<&str> = url.expose().split(',').map(str::trim).collect();
            for url in &urls {
                let scheme = url.split("://").next().unwrap_or_default();
                if !matches!(scheme, "redis" | "rediss" | "unix" | "redis+unix") {
                    return Err(invalid(
                        "redis_url",
                        "must start with redis://, rediss:// or unix://",
                    ));
                }
            }
            if urls.len() > 1 && !self.redis_cluster {
                return Err(invalid(
                    "redis_url",
                    "names several servers: that is a Redis Cluster's nodes, with redis_cluster = true",
                ));
            }
        }
        name_like("redis_prefix", &self.redis_prefix, "_-.")?;
        name_like("cookie_prefix", &self.cookie_prefix, "_-")?;
        name_like("kafka_topic", &self.kafka_topic, "._-")?;
        within(
            "kafka_topic_partitions",
            self.kafka_topic_partitions,
            1,
            10_000,
        )?;
        if !(self.kafka_topic_replication == -1 || (1..=32).contains(&self.kafka_topic_replication))
        {
            return Err(invalid(
                "kafka_topic_replication",
                "must be -1 (the broker's default) or 1 to 32",
            ));
        }
        if self.kafka_topic.len() > 200 {
            return Err(invalid(
                "kafka_topic",
                "must be at most 200 characters long",
            ));
        }
        for (key, token) in [
            ("admin_token", &self.admin_token),
            ("service_token", &self.service_token),
        ] {
            if token
                .as_ref()
                .is_some_and(|t| t.expose().chars().count() < 16)
            {
                return Err(invalid(key, "must be at least 16 characters long"));
            }
        }
        if let Some(secret) = &self.invitation_secret {
            if secret.expose().chars().count() < 32 {
                return Err(invalid(
                    "invitation_secret",
                    "must be at least 32 characters long",
                ));
            }
            if [&self.admin_token, &self.service_token].contains(&&self.invitation_secret) {
                return Err(invalid(
                    "invitation_secret",
                    "must differ from admin_token and service_token: the booking site signs with it",
                ));
            }
        }
        if self.webhook_secret.is_some() && self.webhook_key().is_none() {
            return Err(invalid(
                "webhook_secret",
                "must be `whsec_` followed by the base64 of 24 to 64 bytes",
            ));
        }
        within_duration("webhook_retry_ms", self.webhook_retry, 10, 3_600_000)?;
        within_duration("webhook_give_up_s", self.webhook_give_up, 1, 7 * 24 * 3600)?;
        within_duration("webhook_timeout_ms", self.webhook_timeout, 100, 60_000)?;
        if self.service_token.is_some() && self.service_token == self.admin_token {
            return Err(invalid(
                "service_token",
                "must differ from admin_token: it is the booking service's narrower credential",
            ));
        }
        if self.issuer.trim().is_empty() {
            return Err(invalid("issuer", "must not be empty"));
        }
        within_duration("pointer_poll_ms", self.pointer_poll, 10, 250)?;
        within_duration("resync_sweep_s", self.resync_sweep, 1, 3_600)?;
        within_duration(
            "ready_stale_after_ms",
            self.ready_stale_after,
            500,
            3_600_000,
        )?;
        within("drain_chunk", self.drain_chunk, 1, 50_000)?;
        within("max_streams", self.max_streams, 0, 1_000_000)?;
        within("token_memory", self.token_memory, 0, 1_000_000)?;
        within("metrics_events", self.metrics_events, 0, 1_000_000)?;
        self.trusted_networks()?;
        within(
            "max_streams_per_visitor",
            self.max_streams_per_visitor,
            1,
            100,
        )?;
        within_duration("drain_lease_ttl_ms", self.drain_lease_ttl, 1_000, 600_000)?;
        within_duration("shutdown_delay_ms", self.shutdown_delay, 0, 120_000)?;
        within_duration("shutdown_timeout_s", self.shutdown_timeout, 1, 600)?;
        if self.keys_dir.is_some() && !self.signing_keys.is_empty() {
            return Err(invalid(
                "signing_keys",
                "cannot be used together with keys_dir: keep all keys in one place",
            ));
        }
        if self.redis_url.is_some() && self.keys_dir.is_none() && self.signing_keys.is_empty() {
            return Err(invalid(
                "keys_dir",
                "(or signing_keys) must be set when redis_url is: every replica has to sign and verify with the same keys",
            ));
        }
        if self
            .kafka_brokers
            .as_deref()
            .is_some_and(|b| b.trim().is_empty())
        {
            return Err(invalid(
                "kafka_brokers",
                "must not be empty; leave it unset for the log sink",
            ));
        }
        self.declared_events()?;
        Ok(())
    }

    /// The events declared in configuration, validated.
    pub fn declared_events(&self) -> Result<Vec<(EventId, EventSettings)>, ConfigError> {
        self.events
            .iter()
            .map(|(id, patch)| {
                let event = EventId::parse(id)
                    .map_err(|e| invalid(format!("events.{id}"), e.to_string()))?;
                let base = EventSettings::default();
                let settings = patch
                    .apply(&base)
                    .map_err(|e| {
                        let field = e.field().unwrap_or_default();
                        invalid(format!("events.{id}.{field}"), e.to_string())
                    })?
                    .after(&base, crate::clock::unix_ms())
                    .map_err(|e| invalid(format!("events.{id}.{}", e.field), e.reason))?;
                if !settings.webhooks.is_empty() && self.webhook_key().is_none() {
                    return Err(invalid(format!("events.{id}.webhooks"), UNSIGNED_WEBHOOKS));
                }
                Ok((event, settings))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("waitroom.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path))
    }

    #[test]
    fn defaults_load_and_validate() {
        let config = with_file("").unwrap();
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert!(config.redis_url.is_none());
        assert_eq!(config.pointer_poll, Duration::from_millis(250));
        assert_eq!(config.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(config.drain_log, LogTarget::Stdout);
    }

    #[test]
    fn errors_name_the_key() {
        let err = with_file("pointer_poll_ms = 1000").unwrap_err().to_string();
        assert!(err.contains("`pointer_poll_ms`"), "{err}");
        let err = with_file("redis_url = \"redis://x\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`keys_dir`"), "{err}");
        let err = with_file("[events.bad]\nrelease_interval_ms = 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`events.bad.release_interval_ms`"), "{err}");
        let err = with_file("[events.x]\nbatch = 1").unwrap_err().to_string();
        assert!(err.contains("batch"), "{err}");
        let err = with_file("listen = \"localhost\"").unwrap_err().to_string();
        assert!(err.contains("listen"), "{err}");
        let err = with_file("drain_log = \"\"").unwrap_err().to_string();
        assert!(err.contains("drain_log"), "{err}");
        let file = with_file("drain_log = \"/tmp/admitted.jsonl\"").unwrap();
        assert_eq!(
            file.drain_log,
            LogTarget::File("/tmp/admitted.jsonl".into())
        );
        let err = with_file("admin_token = \"short\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`admin_token`"), "{err}");
        let long = "0123456789abcdef0123456789abcdef";
        for refused in [
            "invitation_secret = \"short-0123456789\"".to_owned(),
            format!("admin_token = \"{long}\"\ninvitation_secret = \"{long}\""),
        ] {
            let err = with_file(&refused).unwrap_err().to_string();
            assert!(err.contains("`invitation_secret`"), "{err}");
        }
        assert!(with_file(&format!("invitation_secret = \"{long}\"")).is_ok());
        // 32 bytes in base64, then 16 (too few) and a secret without its prefix.
        let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        for refused in ["whsec_MDEyMzQ1Njc4OWFiY2RlZg==", key, "whsec_not base64"] {
            let err = with_file(&format!("webhook_secret = \"{refused}\""))
                .unwrap_err()
                .to_string();
            assert!(err.contains("`webhook_secret`"), "{err}");
        }
        let config = with_file(&format!("webhook_secret = \"whsec_{key}\"")).unwrap();
        assert_eq!(config.webhook_key().unwrap(), long.as_bytes());
    }

    #[test]
    fn several_redis_urls_are_a_clusters_nodes() {
        let nodes = "redis_url = \"redis://a:6379, redis://b:6379\"\nkeys_dir = \"keys\"";
        let err = with_file(nodes).unwrap_err().to_string();
        assert!(err.contains("redis_cluster = true"), "{err}");
        let config = with_file(&format!("{nodes}\nredis_cluster = true")).unwrap();
        assert!(config.redis_cluster);
        let err = with_file("redis_url = \"redis://a, http://b\"\nredis_cluster = true")
            .unwrap_err()
            .to_string();
        assert!(err.contains("redis_url"), "{err}");
    }

    #[test]
    fn unknown_keys_are_reported_but_kubernetes_service_variables_are_not() {
        let config =
            with_file("cookie_secur = true\nworkers = 1\n[kafka_producer]\n\"linger.ms\" = \"5\"")
                .unwrap();
        assert_eq!(config.unknown_keys, ["cookie_secur"]);
        assert!(with_file("").unwrap().unknown_keys.is_empty());
        for injected in [
            "service_host",
            "service_port_http",
            "port",
            "port_80_tcp_addr",
        ] {
            assert!(is_injected_by_kubernetes(injected), "{injected}");
        }
        assert!(!is_injected_by_kubernetes("cookie_secur"));
        assert!(!is_injected_by_kubernetes("portal"));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config =
            with_file("admin_token = \"0123456789abcdef-hush\"\ninvitation_secret = \"0123456789abcdef0123456789abcdef-hush\"\nkeys_dir = \"keys\"\nredis_url = \"redis://:pw@h\"")
                .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hush"), "{shown}");
        assert!(!shown.contains("pw@"), "{shown}");
    }
}

//! Layered configuration: the commented defaults in `config/default.toml` (compiled in), then an
//! optional file, then `WAITROOM_*` environment variables. Validated once at start.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::domain::{EventId, EventSettings, EventSettingsPatch};

pub const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
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

/// The configuration as read; see `config/default.toml` for what every key means.
// Unknown keys are not refused: Kubernetes injects `WAITROOM_SERVICE_HOST` and the like into pods of a
// Service named waitroom.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub listen: String,
    pub workers: usize,
    pub redis_url: Option<SecretString>,
    pub redis_prefix: String,
    pub admin_token: Option<SecretString>,
    pub keys_dir: Option<PathBuf>,
    pub active_key: Option<String>,
    #[serde(default)]
    pub signing_keys: BTreeMap<String, SecretString>,
    pub dev_mode: bool,
    pub issuer: String,
    pub cookie_secure: bool,
    pub cookie_prefix: String,
    pub pointer_poll_ms: u64,
    pub log_format: LogFormat,
    pub demo_event: bool,
    pub kafka_brokers: Option<String>,
    pub kafka_topic: String,
    pub kafka_topic_per_event: bool,
    #[serde(default)]
    pub kafka_producer: BTreeMap<String, String>,
    pub drain_in_serve: bool,
    pub drain_log: String,
    pub drain_chunk: u64,
    pub drain_lease_ttl_ms: u64,
    pub drain_listen: String,
    pub shutdown_delay_ms: u64,
    pub shutdown_timeout_s: u64,
    #[serde(default)]
    pub events: BTreeMap<String, EventSettingsPatch>,
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

impl Config {
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
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Parse(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if let Some(url) = &self.redis_url {
            let scheme = url.expose().split("://").next().unwrap_or_default();
            if !matches!(scheme, "redis" | "rediss" | "unix" | "redis+unix") {
                return Err(invalid(
                    "redis_url",
                    "must start with redis://, rediss:// or unix://",
                ));
            }
        }
        if self.redis_prefix.is_empty()
            || !self
                .redis_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(invalid(
                "redis_prefix",
                "must be letters, digits, '_', '-' or '.'",
            ));
        }
        if let Some(token) = &self.admin_token {
            if token.expose().chars().count() < 16 {
                return Err(invalid(
                    "admin_token",
                    "must be at least 16 characters long",
                ));
            }
        }
        if self.issuer.trim().is_empty() {
            return Err(invalid("issuer", "must not be empty"));
        }
        if self.cookie_prefix.is_empty()
            || !self
                .cookie_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        {
            return Err(invalid(
                "cookie_prefix",
                "must be letters, digits, '_' or '-'",
            ));
        }
        if !(10..=250).contains(&self.pointer_poll_ms) {
            return Err(invalid(
                "pointer_poll_ms",
                format!("is {}; it must be between 10 and 250", self.pointer_poll_ms),
            ));
        }
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
        if self.kafka_topic.is_empty()
            || self.kafka_topic.len() > 200
            || !self
                .kafka_topic
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(invalid(
                "kafka_topic",
                "must be 1-200 characters of letters, digits, '.', '_' and '-'",
            ));
        }
        if !(1..=50_000).contains(&self.drain_chunk) {
            return Err(invalid(
                "drain_chunk",
                format!("is {}; it must be between 1 and 50000", self.drain_chunk),
            ));
        }
        if !(1_000..=600_000).contains(&self.drain_lease_ttl_ms) {
            return Err(invalid(
                "drain_lease_ttl_ms",
                format!(
                    "is {}; it must be between 1000 and 600000",
                    self.drain_lease_ttl_ms
                ),
            ));
        }
        if self.drain_listen.parse::<SocketAddr>().is_err() {
            return Err(invalid("drain_listen", "is not an address:port"));
        }
        if self.shutdown_delay_ms > 120_000 {
            return Err(invalid("shutdown_delay_ms", "must be at most 120000"));
        }
        if !(1..=600).contains(&self.shutdown_timeout_s) {
            return Err(invalid("shutdown_timeout_s", "must be between 1 and 600"));
        }
        self.declared_events()?;
        Ok(())
    }

    pub fn drain_settings(&self) -> crate::drain::DrainSettings {
        crate::drain::DrainSettings {
            chunk: self.drain_chunk,
            lease_ttl: std::time::Duration::from_millis(self.drain_lease_ttl_ms),
            ..Default::default()
        }
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|e| invalid("listen", format!("is not an address:port ({e})")))
    }

    /// The events declared in configuration, validated.
    pub fn declared_events(&self) -> Result<Vec<(EventId, EventSettings)>, ConfigError> {
        self.events
            .iter()
            .map(|(id, patch)| {
                let event = EventId::parse(id)
                    .map_err(|e| invalid(format!("events.{id}"), e.to_string()))?;
                let settings = patch
                    .clone()
                    .apply(EventSettings::default())
                    .map_err(|e| invalid(format!("events.{id}.{}", e.field), e.reason))?;
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
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert!(config.redis_url.is_none());
        assert_eq!(config.pointer_poll_ms, 250);
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
        let err = with_file("admin_token = \"short\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`admin_token`"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config =
            with_file("admin_token = \"0123456789abcdef-secret\"\nkeys_dir = \"keys\"\nredis_url = \"redis://:pw@h\"")
                .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!shown.contains("pw@"), "{shown}");
    }
}

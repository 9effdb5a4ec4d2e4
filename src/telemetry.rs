//! Logging: `tracing` to stderr, as text or JSON lines, filtered by `RUST_LOG` (default `info`);
//! and [`StateLog`], which logs a dependency's state when it changes rather than on every failure.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (tests build several apps in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Logs a dependency's state only when it changes, not on every failed attempt.
pub struct StateLog {
    what: &'static str,
    healthy: AtomicBool,
}

impl StateLog {
    pub const fn new(what: &'static str) -> Self {
        Self {
            what,
            healthy: AtomicBool::new(true),
        }
    }

    pub fn ok(&self) {
        if !self.healthy.swap(true, Ordering::AcqRel) {
            tracing::info!(what = self.what, "recovered");
        }
    }

    pub fn failed(&self, error: &dyn std::fmt::Display) {
        if self.healthy.swap(false, Ordering::AcqRel) {
            tracing::warn!(what = self.what, %error, "failing; will keep retrying");
        }
    }
}

//! Logging: `tracing` to stderr, as text or JSON lines, filtered by `RUST_LOG` (default `info`);
//! [`StateLog`], which logs a dependency's state when it changes rather than on every failure; and
//! [`LogBudget`], which lets a flood of alike lines through a few per second.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

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

/// At most so many log lines a second of one kind (refused requests: a client sending 55,000 bad
/// requests a second once made 15 MB/s of logs); the next line let through says how many were
/// skipped, so counts stay right without every line.
pub struct LogBudget {
    per_second: u64,
    second: AtomicI64,
    used: AtomicU64,
    skipped: AtomicU64,
}

impl LogBudget {
    pub const fn new(per_second: u64) -> Self {
        Self {
            per_second,
            second: AtomicI64::new(0),
            used: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// `Some(skipped)`: log this line, saying `skipped` were not since the last one; `None`: skip it.
    pub fn admit(&self, now_s: i64) -> Option<u64> {
        let second = self.second.load(Ordering::Acquire);
        if now_s != second
            && self
                .second
                .compare_exchange(second, now_s, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.used.store(0, Ordering::Release);
        }
        if self.used.fetch_add(1, Ordering::AcqRel) < self.per_second {
            Some(self.skipped.swap(0, Ordering::AcqRel))
        } else {
            self.skipped.fetch_add(1, Ordering::AcqRel);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LogBudget;

    #[test]
    fn a_flood_is_logged_a_few_lines_a_second_with_the_count_of_the_rest() {
        let budget = LogBudget::new(3);
        let first_second: Vec<_> = (0..10).map(|_| budget.admit(100)).collect();
        assert_eq!(first_second[..3], [Some(0), Some(0), Some(0)]);
        assert!(first_second[3..].iter().all(Option::is_none));
        // The next second: its first line says 7 were skipped.
        assert_eq!(budget.admit(101), Some(7));
        assert_eq!(budget.admit(101), Some(0));
    }
}

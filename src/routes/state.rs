//! What every handler shares: data only; the rules live in [`crate::admission`] and the handlers.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::sync::watch;

use super::templates::Pages;
use crate::cache::PointerCache;
use crate::config::SecretString;
use crate::metrics::Metrics;
use crate::store::{Store, WriteHealth};
use crate::token::Tokens;

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub cache: Arc<PointerCache>,
    pub tokens: Tokens,
    pub admin_token: Option<SecretString>,
    /// The booking service's credential: consume and complete only.
    pub service_token: Option<SecretString>,
    pub cookie_prefix: String,
    pub cookie_secure: bool,
    pub metrics: Arc<Metrics>,
    /// False once shutdown started.
    pub ready: Arc<AtomicBool>,
    /// Whether readiness checks reaching Redis.
    pub uses_redis: bool,
    /// Whether the store took the last write.
    pub writes: Arc<WriteHealth>,
    /// Readiness turns false after this long without a full resync.
    pub ready_stale_after: std::time::Duration,
    /// Turns true when push streams must close.
    pub closing: watch::Receiver<bool>,
    /// The pages people see.
    pub pages: Pages,
}

//! Keeping a replica's cache in step with the store. Every change is pushed (pub/sub, or an
//! in-process channel), so an idle replica costs the store next to nothing; the safety nets are
//! cheap too:
//!
//! - each time the push channel is (re)subscribed, every event is read again (what was pushed while
//!   it was down is lost);
//! - each tick asks the store which instance it is: another one (a failover, a restart) may have
//!   lost writes and pushes, so every event is read again and restored where the store lost data;
//! - every event is re-read once per sweep period, a few per tick, for a message lost otherwise;
//! - while the push channel is down, or when reading a pushed change failed, every event is read
//!   at the next tick.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use super::pointer::PointerCache;
use crate::domain::LineId;
use crate::store::{Store, StoreError};
use crate::telemetry::StateLog;

/// How often and how thoroughly a replica checks its cache against the store.
#[derive(Debug, Clone, Copy)]
pub struct Resync {
    /// How often the store's instance is checked (and, with the push channel down, everything read).
    pub tick: Duration,
    /// Every event is re-read at least this often.
    pub sweep: Duration,
}

/// How long a starting replica waits for its push channel before it serves anyway (then it reads
/// every event each tick until the channel is up).
const FIRST_SUBSCRIPTION_WAIT: Duration = Duration::from_secs(2);

/// A cache filled from `store`, and the task that keeps it in step until `shutdown` turns true.
/// Returns once the push channel is subscribed (or after a short wait): a replica that served
/// before would miss what other replicas change (a new event) until its next tick.
pub async fn synced(
    store: Arc<dyn Store>,
    resync: Resync,
    shutdown: watch::Receiver<bool>,
) -> Result<(Arc<PointerCache>, tokio::task::JoinHandle<()>), StoreError> {
    let cache = Arc::new(PointerCache::default());
    cache.refresh_all(store.as_ref()).await?;
    let (subscribed, mut watching) = watch::channel(false);
    let task = tokio::spawn(keep_in_sync(
        store,
        cache.clone(),
        resync,
        subscribed,
        shutdown,
    ));
    let first = tokio::time::timeout(FIRST_SUBSCRIPTION_WAIT, watching.wait_for(|up| *up)).await;
    if first.is_err() {
        tracing::warn!("the push channel is not subscribed yet: serving, reading every event each tick until it is");
    }
    Ok((cache, task))
}

/// Keeps `cache` in step with `store` until `shutdown` turns true; `subscribed` tells whether the
/// push channel is up.
async fn keep_in_sync(
    store: Arc<dyn Store>,
    cache: Arc<PointerCache>,
    resync: Resync,
    subscribed: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let subscribed = Arc::new(subscribed);
    let missed = Arc::new(AtomicBool::new(false));
    let listener = tokio::spawn(listen(
        store.clone(),
        cache.clone(),
        (subscribed.clone(), missed.clone()),
        shutdown.clone(),
    ));
    let log = StateLog::new("pointer cache resync");
    let mut ticker = tokio::time::interval(resync.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checks = Checks::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                cache.tell_arrivals();
                // A push whose read failed counts as a push lost: everything is read again.
                let pushed = *subscribed.borrow() && !missed.swap(false, Ordering::AcqRel);
                match checks.tick(store.as_ref(), &cache, resync, pushed).await {
                    Ok(()) => log.ok(),
                    Err(e) => log.failed(&e),
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    listener.abort();
}

/// What the periodic checks remember between ticks.
#[derive(Default)]
struct Checks {
    /// The store's instance as last seen.
    instance: Option<String>,
    /// The events this sweep has still to re-read.
    sweep: Vec<LineId>,
    /// How many events this tick may re-read, fractions carried over to the next.
    credit: f64,
}

impl Checks {
    async fn tick(
        &mut self,
        store: &dyn Store,
        cache: &PointerCache,
        resync: Resync,
        pushed: bool,
    ) -> Result<(), StoreError> {
        let instance = store.instance().await?;
        let moved = self
            .instance
            .as_ref()
            .is_some_and(|known| *known != instance);
        if moved {
            tracing::warn!("the store is another instance than before (a failover or a restart): reading every event again");
        }
        if moved || !pushed {
            cache.refresh_all(store).await?;
            self.instance = Some(instance);
            return Ok(());
        }
        self.instance = Some(instance);
        // A share of all events per tick, so that each is read once per sweep period.
        let ticks_per_sweep = (resync.sweep.as_secs_f64() / resync.tick.as_secs_f64()).max(1.0);
        self.credit += cache.len().max(self.sweep.len()) as f64 / ticks_per_sweep;
        while self.credit >= 1.0 {
            if self.sweep.is_empty() {
                self.sweep = cache.all_events(store).await?;
            }
            let Some(event) = self.sweep.pop() else {
                self.credit = 0.0;
                break;
            };
            self.credit -= 1.0;
            if let Err(e) = cache.refresh(store, &event).await {
                self.sweep.push(event);
                return Err(e);
            }
        }
        cache.confirm_synced();
        Ok(())
    }
}

async fn listen(
    store: Arc<dyn Store>,
    cache: Arc<PointerCache>,
    (subscribed, missed): (Arc<watch::Sender<bool>>, Arc<AtomicBool>),
    mut shutdown: watch::Receiver<bool>,
) {
    let log = StateLog::new("pointer push channel");
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed_now =
            tokio::time::timeout(Duration::from_secs(2), store.notifications()).await;
        match subscribed_now {
            Ok(Ok(mut changes)) => {
                // Whatever was pushed before is read now; from here on the channel tells.
                match cache.refresh_all(store.as_ref()).await {
                    Ok(()) => {
                        log.ok();
                        backoff = Duration::from_millis(100);
                        subscribed.send_replace(true);
                    }
                    Err(e) => log.failed(&e),
                }
                loop {
                    tokio::select! {
                        change = changes.next() => match change {
                            Some(change) => {
                                if let Some(event) = cache.apply(change) {
                                    if let Err(e) = cache.refresh(store.as_ref(), &event).await {
                                        tracing::debug!(%event, error = %e, "reading a pushed change failed: read at the next tick");
                                        missed.store(true, Ordering::Release);
                                    }
                                }
                            }
                            None => break,
                        },
                        _ = shutdown.changed() => return,
                    }
                }
                subscribed.send_replace(false);
                log.failed(&"subscription ended");
            }
            Ok(Err(e)) => log.failed(&e),
            Err(_) => log.failed(&"subscribing timed out"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

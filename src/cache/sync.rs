//! Keeping a replica's cache in step with the store: the push channel first, a short periodic
//! resync as the safety net for a lost message.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use super::pointer::PointerCache;
use crate::store::Store;
use crate::telemetry::StateLog;

/// Keeps `cache` in step with `store` until `shutdown` turns true: listens to pushed changes and
/// resyncs every `poll` in case a message was lost (pub/sub delivers at most once).
pub async fn keep_in_sync(
    store: Arc<dyn Store>,
    cache: Arc<PointerCache>,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener = tokio::spawn(listen(store.clone(), cache.clone(), shutdown.clone()));
    let resync_log = StateLog::new("pointer cache resync");
    let mut ticker = tokio::time::interval(poll);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => match cache.refresh_all(store.as_ref()).await {
                Ok(()) => resync_log.ok(),
                Err(e) => resync_log.failed(&e),
            },
            _ = shutdown.changed() => break,
        }
    }
    listener.abort();
}

async fn listen(
    store: Arc<dyn Store>,
    cache: Arc<PointerCache>,
    mut shutdown: watch::Receiver<bool>,
) {
    let log = StateLog::new("pointer push channel");
    let mut backoff = Duration::from_millis(100);
    loop {
        let subscribed = tokio::time::timeout(Duration::from_secs(2), store.notifications()).await;
        match subscribed {
            Ok(Ok(mut changes)) => {
                log.ok();
                backoff = Duration::from_millis(100);
                loop {
                    tokio::select! {
                        change = changes.next() => match change {
                            Some(change) => {
                                if let Some(event) = cache.apply(change) {
                                    if let Err(e) = cache.refresh(store.as_ref(), &event).await {
                                        tracing::debug!(%event, error = %e, "settings refresh failed");
                                    }
                                }
                            }
                            None => break,
                        },
                        _ = shutdown.changed() => return,
                    }
                }
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

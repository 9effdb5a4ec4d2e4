//! The demo event of the embedded default: a line that already has people in it when the service
//! starts, and keeps getting newcomers at the pace it releases them, so whoever opens the page first
//! always sees a line that moves rather than an empty one that lets them straight through.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::cache::PointerCache;
use crate::domain::{
    AdmissionSettings, EventId, EventSettings, LineId, PageSettings, ReleaseSettings, VisitorId,
};
use crate::store::{JoinAs, Pick, PutMode, Store, StoreError};

/// The demo event's name, on the embedded store.
pub const EVENT: &str = "demo";
/// Visitors in the demo line: at start, and kept about so by simulated arrivals.
pub const CROWD: u64 = 60;
/// Released per interval.
const BATCH: u64 = 5;
const INTERVAL_MS: u64 = 2_000;

fn event() -> LineId {
    LineId::from(EventId::parse(EVENT).expect("the demo's id is valid"))
}

/// Creates the demo event with [`CROWD`] visitors in line, unless it exists.
pub async fn seed(store: &dyn Store, port: u16) -> Result<(), StoreError> {
    let settings = EventSettings {
        release: ReleaseSettings {
            batch_size: BATCH,
            release_interval_ms: INTERVAL_MS,
        },
        admission: AdmissionSettings {
            target_url: format!("http://127.0.0.1:{port}/demo/admitted"),
            ..AdmissionSettings::default()
        },
        page: PageSettings {
            title: Some("Demo sale".to_owned()),
            message: Some(
                "A demonstration line: people arrive and are let through by themselves.".to_owned(),
            ),
            ..PageSettings::default()
        },
        ..EventSettings::default()
    };
    let event = event();
    if store
        .put_event(&event, &settings, PutMode::CreateOnly)
        .await?
    {
        for _ in 0..CROWD {
            arrive(store, &event).await?;
        }
        tracing::info!(%event, "demo event created with {CROWD} visitors already in line");
    }
    Ok(())
}

async fn arrive(store: &dyn Store, event: &LineId) -> Result<(), StoreError> {
    let visitor = VisitorId::generate();
    store
        .join(
            event,
            &visitor,
            JoinAs::Anonymous,
            crate::clock::unix_ms(),
            0,
            Pick::InOrder,
        )
        .await
        .map(|_| ())
}

/// Simulated arrivals until `shutdown`: one every `INTERVAL_MS / BATCH` (the release pace) while
/// fewer than [`CROWD`] wait, so the line neither empties nor grows without end.
pub async fn keep_arriving(
    store: Arc<dyn Store>,
    cache: Arc<PointerCache>,
    mut shutdown: watch::Receiver<bool>,
) {
    let event = event();
    let mut ticker = tokio::time::interval(Duration::from_millis(INTERVAL_MS / BATCH));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let Some(cached) = cache.get(&event) else {
            continue;
        };
        if cached.ahead_of(cached.issued() + 1) >= CROWD {
            continue;
        }
        match arrive(store.as_ref(), &event).await {
            Ok(()) => {}
            Err(e) => tracing::debug!(error = %e, "a simulated demo arrival failed"),
        }
    }
}

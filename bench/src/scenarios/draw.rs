//! The pre-queue draw at full size: what drawing a pre-queue of many entries costs Redis (the one
//! script that closes it and the one that writes the drawn order, during which Redis serves nobody
//! else) and what each replica spends to learn the order (the permutation, from the seed). And the
//! `random` method's releases from a pool of as many: a draw of a batch, and switching away from it
//! (the whole pool moved to the line in arrival order, in one script).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use waitroom::domain::draw::{order, positions, Seed};
use waitroom::domain::QueueMethod;
use waitroom::domain::{EventId, EventPolicy, EventSettings, LineId, VisitorId};
use waitroom::store::{AdvanceMode, Capacity, JoinAs, Pick, PutMode, RedisStore, Store};

use crate::report::Row;

pub async fn draw(redis_url: &str, prefix: &str, entries: u64) -> Vec<Row> {
    let now = chrono::Utc::now();
    let mut settings = EventSettings::default();
    settings.release.batch_size = 0;
    settings.schedule.prequeue_from = Some(now - chrono::Duration::seconds(1));
    settings.schedule.opens_at = Some(now + chrono::Duration::hours(1));
    let (store, event) = joined_by(redis_url, &format!("{prefix}draw"), &settings, entries).await;

    let started = Instant::now();
    let drawn = store
        .draw(&event, waitroom::clock::unix_ms())
        .await
        .expect("the draw")
        .expect("an event with a pre-queue");
    let in_store = started.elapsed();
    assert_eq!(drawn.size, entries);

    let seed = Seed::generate();
    let started = Instant::now();
    let learnt = positions(&order(&seed, u32::try_from(entries).unwrap_or(u32::MAX)));
    let in_replica = started.elapsed();
    let per_replica_kb = (learnt.len() * std::mem::size_of::<u32>()) as f64 / 1024.0;
    vec![
        Row::figure(
            &format!("draw of a {entries}-entry pre-queue"),
            millis(in_store),
            "ms",
            "closing the pre-queue, reading its entries to mix into the seed, the permutation, and \
             the script writing the drawn order (Redis serves nobody else while that script runs), \
             as the scheduler calls it"
                .into(),
        ),
        Row::figure(
            "a replica learns the draw",
            millis(in_replica),
            "ms",
            format!(
                "the permutation from the seed, {entries} SHA-256 steps, one thread; \
                 {per_replica_kb:.0} KB of drawn positions kept per replica"
            ),
        ),
    ]
}

/// How many a random event's release draws in the bench.
const RANDOM_BATCH: u64 = 1_000;

pub async fn random_releases(redis_url: &str, prefix: &str, entries: u64) -> Vec<Row> {
    let mut settings = EventSettings::default();
    settings.release.batch_size = 0;
    settings.ordering.method = QueueMethod::Random;
    let prefix = format!("{prefix}random");
    let (store, event) = joined_by(redis_url, &prefix, &settings, entries).await;
    let release = |count: u64, pick: Pick| {
        let (store, event) = (store.clone(), event.clone());
        async move {
            let started = Instant::now();
            let advanced = store
                .advance(
                    &event,
                    count,
                    AdvanceMode::Manual,
                    Capacity::UNLIMITED,
                    pick,
                )
                .await
                .expect("a release");
            (started.elapsed(), advanced.issued)
        }
    };
    let (drawing, drawn) = release(RANDOM_BATCH, Pick::AtRandom).await;
    assert_eq!(drawn, RANDOM_BATCH.min(entries));
    let (moving, lined) = release(0, Pick::InOrder).await;
    assert_eq!(lined, entries);
    vec![
        Row::figure(
            &format!("random release of {RANDOM_BATCH} from a pool of {entries}"),
            millis(drawing),
            "ms",
            "the pool read at one instant, the picks computed from its seed, one script taking them by rank, their entries onto the line, the winners' log, the pointer"
                .into(),
        ),
        Row::figure(
            &format!("random → fifo with {} in the pool", entries - drawn),
            millis(moving),
            "ms",
            "one script moving the whole pool to the line in arrival order (Redis serves nobody else meanwhile): once, when an admin switches the method"
                .into(),
        ),
    ]
}

/// A Redis store under `prefix` with an event of `settings` that `entries` anonymous visitors
/// joined (its pre-queue or its pool, as the settings say), all at once.
async fn joined_by(
    redis_url: &str,
    prefix: &str,
    settings: &EventSettings,
    entries: u64,
) -> (Arc<dyn Store>, LineId) {
    let store: Arc<dyn Store> = Arc::new(
        RedisStore::connect(redis_url, prefix)
            .await
            .expect("the bench's Redis"),
    );
    let event = LineId::from(EventId::parse("drop").expect("an event id"));
    store
        .put_event(&event, settings, PutMode::Upsert)
        .await
        .expect("the event");
    let pick = EventPolicy::of(settings).pick();
    let joins = (0..entries).map(|_| {
        let (store, event) = (store.clone(), event.clone());
        async move {
            let now_ms = waitroom::clock::unix_ms();
            let visitor = VisitorId::generate();
            store
                .join(&event, &visitor, JoinAs::Anonymous, now_ms, 0, pick)
                .await
        }
    });
    for joined in join_all(joins).await {
        joined.expect("a join");
    }
    (store, event)
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1_000.0
}

//! Drain: admitted visitors per second through the Kafka sink into a Kafka-protocol broker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use waitroom::cache::{synced, Resync};
use waitroom::domain::{EventId, LineId};
use waitroom::drain::{DrainSettings, DrainWorker};
use waitroom::sink::KafkaSink;
use waitroom::store::{PutMode, RedisStore, Store};

use crate::redis_stats::fill;
use crate::report::Row;
use crate::servers::start_tansu;

/// The topic the drain writes to.
const TOPIC: &str = "waitroom.admitted";

/// Admitted visitors per second through the Kafka sink into a Kafka-protocol broker: tansu when it
/// is installed, else librdkafka's mock cluster.
pub async fn drain(
    redis_url: &str,
    prefix: &str,
    redis: &mut redis::aio::MultiplexedConnection,
    visitors: u64,
) -> Row {
    let event = LineId::from(EventId::parse("drain").expect("an id"));
    let store: Arc<dyn Store> =
        Arc::new(RedisStore::connect(redis_url, prefix).await.expect("Redis"));
    store
        .put_event(
            &event,
            &waitroom::domain::EventSettings {
                release: waitroom::domain::ReleaseSettings {
                    batch_size: 0,
                    ..Default::default()
                },
                ..Default::default()
            },
            PutMode::Upsert,
        )
        .await
        .expect("event");
    fill(redis, prefix, "drain", visitors).await;
    let _: () = redis
        .set(format!("{prefix}:{{drain}}:admitted"), visitors)
        .await
        .expect("SET");

    let (_broker, mock, brokers, kind) = match start_tansu(TOPIC) {
        Some((daemon, brokers)) => (Some(daemon), None, brokers, "tansu"),
        None => {
            let mock = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
            mock.create_topic(TOPIC, 3, 1).expect("topic");
            let brokers = mock.bootstrap_servers();
            (None, Some(mock), brokers, "librdkafka mock cluster")
        }
    };
    let sink =
        Arc::new(KafkaSink::new(&brokers, TOPIC, false, &Default::default()).expect("a producer"));
    let metrics = Arc::new(waitroom::metrics::Metrics::default());
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let syncing = Instant::now();
    let resync = Resync {
        tick: Duration::from_millis(250),
        sweep: Duration::from_secs(30),
    };
    let (cache, _sync) = synced(store.clone(), resync, stopping.clone())
        .await
        .expect("a pointer cache");
    eprintln!(
        "drain: pointer cache filled in {:.1} s",
        syncing.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let worker = tokio::spawn(
        DrainWorker::new(
            store.clone(),
            cache,
            sink,
            DrainSettings::default(),
            metrics,
        )
        .run(stopping),
    );
    let mut drained = 0;
    while started.elapsed() < Duration::from_secs(120) {
        let snapshot = store
            .snapshot(&event)
            .await
            .expect("snapshot")
            .expect("event");
        drained = snapshot.figures.drained_through;
        if drained >= visitors {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(true);
    let _ = worker.await;
    drop(mock);
    Row {
        errors: visitors - drained.min(visitors),
        ..Row::figure(
            "drain",
            drained as f64 / elapsed.as_secs_f64(),
            "visitors/s",
            format!("{drained} admitted visitors into {kind}, acks=all, idempotent"),
        )
    }
}

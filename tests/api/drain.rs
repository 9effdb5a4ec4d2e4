use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::Message;
use serde_json::json;
use tokio::sync::watch;
use waitroom::cache::{synced, Resync};
use waitroom::config::LogTarget;
use waitroom::domain::{random_token_id, EventId, EventSettings, LineId, VisitorId};
use waitroom::drain::{DrainSettings, DrainWorker};
use waitroom::sink::{AdmissionMessage, KafkaSink, LogSink, Sink};
use waitroom::store::{AdvanceMode, Capacity, JoinAs, Pick, PutMode, Store};

use crate::helpers::{
    config_for, eventually, redis_store, shared_redis_url, spawn_config, Backend, Daemon, KEY_B64,
    KEY_ID,
};
use crate::on_every_store;

on_every_store!(drain_forwards_admitted_visitors_to_the_log);

pub fn read_log(path: &std::path::Path) -> Vec<AdmissionMessage> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// An app whose drain forwards to a log file (in a directory that lives as long as the guard).
async fn app_draining_to_log(
    backend: Backend,
) -> (
    crate::helpers::TestApp,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("admitted.jsonl");
    let mut config = config_for(backend, &format!("t{}", random_token_id()));
    config.drain_in_serve = true;
    config.drain_log = LogTarget::File(log.clone());
    (spawn_config(config).await, dir, log)
}

async fn drain_forwards_admitted_visitors_to_the_log(backend: Backend) {
    let (app, _dir, log) = app_draining_to_log(backend).await;
    app.create_event("tour", json!({})).await;
    let mut joined = Vec::new();
    for _ in 0..20 {
        joined.push(app.join("tour").await);
    }
    for leaver in [3, 7] {
        app.leave("tour", &joined[leaver - 1].token()).await;
    }
    app.advance("tour", 13).await;
    let drained = eventually(Duration::from_secs(5), || async {
        app.show("tour").await.drained_through == 15
    })
    .await;
    assert!(drained.is_some(), "{:?}", app.show("tour").await);

    let messages = read_log(&log);
    let positions: Vec<u64> = messages.iter().map(|m| m.position).collect();
    let expected: Vec<u64> = (1..=15).filter(|p| *p != 3 && *p != 7).collect();
    assert_eq!(positions, expected, "in order, without those who left");
    for message in &messages {
        let joiner = &joined[message.position as usize - 1];
        assert_eq!(message.visitor, joiner.body["visitor"].as_str().unwrap());
        assert_eq!(message.id, format!("tour:{}", message.position));
        assert_eq!(message.event, "tour");
        assert!(message.joined_at <= message.admitted_at, "{message:?}");
    }
    let figures = app.show("tour").await;
    assert_eq!(figures.drain_lag, 0);

    app.advance("tour", 5).await;
    let rest = eventually(Duration::from_secs(5), || async {
        app.show("tour").await.drained_through == 20
    })
    .await;
    assert!(rest.is_some());
    assert_eq!(
        read_log(&log).len(),
        18,
        "nothing sent twice without a failure"
    );
}

on_every_store!(drain_forwards_a_random_events_winners_as_themselves);

/// A random event's winners get the line's positions in the order drawn: the drain forwards each
/// position's own visitor, and never one who left the draw.
async fn drain_forwards_a_random_events_winners_as_themselves(backend: Backend) {
    let (app, _dir, log) = app_draining_to_log(backend).await;
    app.create_event("r", json!({ "method": "random", "batch_size": 0 }))
        .await;
    let mut joined = Vec::new();
    for _ in 0..12 {
        joined.push(app.join("r").await);
    }
    let gone = joined.remove(5);
    app.leave("r", &gone.token()).await;
    for by in [6, 10] {
        let through = app.advance("r", by).await.admitted_through;
        let drained = eventually(Duration::from_secs(5), || async {
            app.show("r").await.drained_through == through
        })
        .await;
        assert!(drained.is_some(), "{:?}", app.show("r").await);
    }
    let messages = read_log(&log);
    assert_eq!(
        messages.iter().map(|m| m.position).collect::<Vec<_>>(),
        (1..=11).collect::<Vec<_>>()
    );
    for joiner in &joined {
        let place = app.status("r", &joiner.token()).await;
        let message = &messages[place.position() as usize - 1];
        assert_eq!(message.visitor, joiner.body["visitor"].as_str().unwrap());
    }
    let gone = gone.body["visitor"].as_str().unwrap();
    assert!(messages.iter().all(|m| m.visitor != gone));
}

/// Reads `topic` from the start until every id in `expected` has been seen and the topic stays quiet.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    expected: &BTreeSet<String>,
) -> Vec<AdmissionMessage> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("check-{}", random_token_id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    consumer.subscribe(&[topic]).expect("subscribed");
    let mut messages = Vec::new();
    let mut seen = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut quiet_since = std::time::Instant::now();
    while std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(record)) => {
                let message: AdmissionMessage =
                    serde_json::from_slice(record.payload().unwrap_or_default()).expect("JSON");
                assert_eq!(
                    record.key(),
                    Some(message.visitor.as_bytes()),
                    "keyed by visitor"
                );
                seen.insert(message.id.clone());
                messages.push(message);
                quiet_since = std::time::Instant::now();
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None if expected.is_subset(&seen) && quiet_since.elapsed() > Duration::from_secs(2) => {
                break
            }
            None => {}
        }
    }
    messages
}

/// Lines up `count` visitors in `event` through the store, and makes every `leave_every`th leave.
/// Returns the ids of those who stay.
pub async fn line_up(
    store: &dyn Store,
    event: &LineId,
    count: u64,
    leave_every: u64,
) -> BTreeSet<String> {
    let mut settings = EventSettings::default();
    settings.release.batch_size = 0;
    store
        .put_event(event, &settings, PutMode::Upsert)
        .await
        .unwrap();
    let mut staying = BTreeSet::new();
    for _ in 0..count {
        let visitor = VisitorId::generate();
        let joined = store
            .join(
                event,
                &visitor,
                JoinAs::Anonymous,
                waitroom::clock::unix_ms(),
                0,
                Pick::InOrder,
            )
            .await
            .unwrap();
        if joined.position % leave_every == 0 {
            store.leave(event, joined.position, &visitor).await.unwrap();
        } else {
            staying.insert(format!("{event}:{}", joined.position));
        }
    }
    staying
}

/// The drain's cache follows the store's pushes; its safety nets run often in tests.
const RESYNC: Resync = Resync {
    tick: Duration::from_millis(50),
    sweep: Duration::from_secs(1),
};

pub fn start_worker(
    store: Arc<dyn Store>,
    sink: Arc<dyn Sink>,
    chunk: u64,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, stopping) = watch::channel(false);
    let settings = DrainSettings {
        chunk,
        lease_ttl: Duration::from_secs(2),
        ..Default::default()
    };
    let metrics = Arc::new(waitroom::metrics::Metrics::default());
    let handle = tokio::spawn(async move {
        let (cache, sync) = synced(store.clone(), RESYNC, stopping.clone())
            .await
            .unwrap();
        DrainWorker::new(store, cache, sink, settings, metrics)
            .run(stopping)
            .await;
        let _ = sync.await;
    });
    (stop, handle)
}

/// Admits the next `by` visitors by hand; returns the pointer.
async fn admit(store: &dyn Store, event: &LineId, by: u64) -> u64 {
    store
        .advance(
            event,
            by,
            AdvanceMode::Manual,
            Capacity::UNLIMITED,
            Pick::InOrder,
        )
        .await
        .unwrap()
        .admitted_through
}

/// Whether the drain checkpoint reached `through` within `within`.
async fn drained_to(store: &dyn Store, event: &LineId, through: u64, within: Duration) -> bool {
    eventually(within, || async {
        drained_through(store, event).await == through
    })
    .await
    .is_some()
}

pub async fn drained_through(store: &dyn Store, event: &LineId) -> u64 {
    store
        .snapshot(event)
        .await
        .unwrap()
        .unwrap()
        .figures
        .drained_through
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_drain_survives_broker_errors_and_outages() {
    let mock = MockCluster::new(1).expect("librdkafka mock cluster");
    let topic = "waitroom.admitted";
    mock.create_topic(topic, 3, 1).unwrap();
    let store = redis_store(&format!("t{}", random_token_id())).await;
    let event = LineId::from(EventId::parse("drop").unwrap());
    let staying = line_up(store.as_ref(), &event, 600, 25).await;

    let overrides = BTreeMap::from([("message.timeout.ms".to_owned(), "1500".to_owned())]);
    let sink =
        Arc::new(KafkaSink::new(&mock.bootstrap_servers(), topic, false, &overrides).unwrap());
    // Retriable broker errors in the middle of the first half: the producer retries them itself.
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 4],
    );
    let (stop, worker) = start_worker(store.clone(), sink, 100);
    admit(store.as_ref(), &event, 300).await;
    assert!(
        drained_to(store.as_ref(), &event, 312, Duration::from_secs(20)).await,
        "300 admitted (positions 1..=312 with 12 leavers) were drained"
    );

    // The broker goes away: deliveries fail, the checkpoint must not move, serve keeps admitting.
    mock.broker_down(1).unwrap();
    let pointer = admit(store.as_ref(), &event, 1_000).await;
    assert_eq!(pointer, 600);
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(
        drained_through(store.as_ref(), &event).await,
        312,
        "no checkpoint without confirmation"
    );

    mock.broker_up(1).unwrap();
    assert!(
        drained_to(store.as_ref(), &event, 600, Duration::from_secs(30)).await,
        "the backlog drains once the broker is back"
    );
    let _ = stop.send(true);
    worker.await.unwrap();

    let messages = read_topic(&mock.bootstrap_servers(), topic, &staying);
    let ids: BTreeSet<String> = messages.iter().map(|m| m.id.clone()).collect();
    assert_eq!(
        ids, staying,
        "every admitted visitor who stayed, and nobody who left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_both_send_and_one_takes_over() {
    let prefix = format!("t{}", random_token_id());
    let store = redis_store(&prefix).await;
    let event = LineId::from(EventId::parse("drop").unwrap());
    let staying = line_up(store.as_ref(), &event, 400, 1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (log_a, log_b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));

    let (stop_a, worker_a) = start_worker(
        store.clone(),
        Arc::new(LogSink::file(log_a.clone()).unwrap()),
        50,
    );
    admit(store.as_ref(), &event, 200).await;
    assert!(drained_to(store.as_ref(), &event, 200, Duration::from_secs(5)).await);
    let (stop_b, worker_b) = start_worker(
        store.clone(),
        Arc::new(LogSink::file(log_b.clone()).unwrap()),
        50,
    );
    admit(store.as_ref(), &event, 100).await;
    assert!(drained_to(store.as_ref(), &event, 300, Duration::from_secs(5)).await);
    assert!(
        read_log(&log_b).is_empty(),
        "the second worker stands by while the first holds the lease"
    );

    // The first worker dies without giving its lease back; the second takes over once it expires.
    worker_a.abort();
    drop(stop_a);
    admit(store.as_ref(), &event, 100).await;
    assert!(
        drained_to(store.as_ref(), &event, 400, Duration::from_secs(10)).await,
        "the standby worker took over"
    );
    let _ = stop_b.send(true);
    worker_b.await.unwrap();

    let mut ids: Vec<String> = read_log(&log_a)
        .into_iter()
        .chain(read_log(&log_b))
        .map(|m| m.id)
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(count, ids.len(), "no visitor was sent by both workers");
    assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), staying);
    assert!(!read_log(&log_b).is_empty());
}

/// A `waitroom drain` process against a real broker, killed and restarted twice mid-drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_processes_killed_twice_lose_nothing() {
    let broker = Daemon::kafka();
    broker.create_topic("admitted", 3).unwrap();
    let prefix = format!("t{}", random_token_id());
    let store = redis_store(&prefix).await;
    let event = LineId::from(EventId::parse("drop").unwrap());
    let staying = line_up(store.as_ref(), &event, 10_000, 97).await;

    let dir = tempfile::tempdir().unwrap();
    crate::helpers::write_key_file(dir.path().join(format!("{KEY_ID}.key")), KEY_B64);
    let config = dir.path().join("drain.toml");
    std::fs::write(
        &config,
        format!(
            "kafka_brokers = \"{}\"\nkafka_topic = \"admitted\"\ndrain_chunk = 250\ndrain_lease_ttl_ms = 1000\n\
             [kafka_producer]\n\"message.timeout.ms\" = \"5000\"\n",
            broker.kafka_brokers()
        ),
    )
    .unwrap();
    let spawn_drain = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_waitroom"))
            .arg("drain")
            .env_clear()
            .env("WAITROOM_CONFIG", &config)
            .env("WAITROOM_REDIS_URL", shared_redis_url())
            .env("WAITROOM_REDIS_PREFIX", &prefix)
            .env("WAITROOM_KEYS_DIR", dir.path())
            .env("WAITROOM_DRAIN_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("waitroom drain runs")
    };

    // The pointer moves in batches while the drain runs.
    let advancer = {
        let (store, event) = (store.clone(), event.clone());
        tokio::spawn(async move {
            loop {
                if admit(store.as_ref(), &event, 500).await == 10_000 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let mut worker = spawn_drain();
    for kill_at in [2_000, 6_000] {
        let reached = eventually(Duration::from_secs(60), || async {
            drained_through(store.as_ref(), &event).await >= kill_at
        })
        .await;
        assert!(reached.is_some(), "the drain reached {kill_at}");
        worker.kill().unwrap();
        worker.wait().unwrap();
        let at_kill = drained_through(store.as_ref(), &event).await;
        assert!(
            at_kill < 10_000,
            "killed mid-drain, not after it ({at_kill})"
        );
        worker = spawn_drain();
    }
    advancer.await.unwrap();
    assert!(
        drained_to(store.as_ref(), &event, 10_000, Duration::from_secs(60)).await,
        "the checkpoint reached the pointer"
    );
    let stopped = std::process::Command::new("kill")
        .arg(worker.id().to_string())
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(
        worker.wait().unwrap().success(),
        "SIGTERM stops the worker cleanly"
    );

    let messages = read_topic(&broker.kafka_brokers(), "admitted", &staying);
    let ids: BTreeSet<String> = messages.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids.len(), staying.len());
    assert_eq!(
        ids, staying,
        "every admitted visitor who stayed, none who left"
    );
    let snapshot = store.snapshot(&event).await.unwrap().unwrap();
    assert_eq!(
        snapshot.figures.drained_through,
        snapshot.figures.admitted_through
    );
    println!(
        "{} messages for {} visitors: {} resent after kills",
        messages.len(),
        staying.len(),
        messages.len() - staying.len()
    );
}

/// The real broker stops answering for a while mid-drain, then comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_broker_outage_loses_nothing() {
    let broker = Daemon::kafka();
    broker.create_topic("admitted", 3).unwrap();
    let store = redis_store(&format!("t{}", random_token_id())).await;
    let event = LineId::from(EventId::parse("drop").unwrap());
    let staying = line_up(store.as_ref(), &event, 2_000, 41).await;
    let overrides = BTreeMap::from([("message.timeout.ms".to_owned(), "1500".to_owned())]);
    let sink =
        Arc::new(KafkaSink::new(&broker.kafka_brokers(), "admitted", false, &overrides).unwrap());
    let (stop, worker) = start_worker(store.clone(), sink, 200);

    let half = admit(store.as_ref(), &event, 1_000).await;
    assert!(drained_to(store.as_ref(), &event, half, Duration::from_secs(30)).await);

    broker.freeze();
    admit(store.as_ref(), &event, 2_000).await;
    tokio::time::sleep(Duration::from_millis(4_000)).await;
    assert_eq!(
        drained_through(store.as_ref(), &event).await,
        half,
        "no checkpoint without confirmation"
    );
    broker.thaw();

    assert!(
        drained_to(store.as_ref(), &event, 2_000, Duration::from_secs(60)).await,
        "the backlog drains once the broker is back"
    );
    let _ = stop.send(true);
    worker.await.unwrap();
    let ids: BTreeSet<String> = read_topic(&broker.kafka_brokers(), "admitted", &staying)
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, staying);
}

/// An event whose drain fails (its line shorter than its pointer: Redis lost joins not restored
/// yet) holds up no other event's drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_failing_holds_up_no_other() {
    let prefix = format!("t{}", random_token_id());
    let store = redis_store(&prefix).await;
    // Many broken events, so that the healthy one is not first in any order.
    let mut redis = crate::helpers::raw_redis(crate::helpers::Backend::Redis).await;
    for n in 0..8 {
        let broken = LineId::from(EventId::parse(&format!("broken{n}")).unwrap());
        line_up(store.as_ref(), &broken, 0, u64::MAX).await;
        let _: () = redis::cmd("SET")
            .arg(format!("{prefix}:{{broken{n}}}:admitted"))
            .arg(50)
            .query_async(&mut redis)
            .await
            .unwrap();
    }
    let healthy = LineId::from(EventId::parse("healthy").unwrap());
    line_up(store.as_ref(), &healthy, 30, u64::MAX).await;
    admit(store.as_ref(), &healthy, 30).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("admitted.jsonl");
    let (stop, handle) = start_worker(
        store.clone(),
        Arc::new(LogSink::file(log.clone()).unwrap()),
        1_000,
    );
    assert!(
        drained_to(store.as_ref(), &healthy, 30, Duration::from_secs(10)).await,
        "the healthy event was held up"
    );
    assert_eq!(read_log(&log).len(), 30);
    let _ = stop.send(true);
    handle.await.unwrap();
}

/// A leave Redis lost (a failover to a replica that missed it) is not forwarded by a drain whose
/// cache knows of it, though the line in Redis no longer says so until the restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_redis_lost_is_not_forwarded() {
    let prefix = format!("t{}", random_token_id());
    let store = redis_store(&prefix).await;
    let event = LineId::from(EventId::parse("forgetful").unwrap());
    let staying = line_up(store.as_ref(), &event, 10, 4).await;
    let (stop, stopping) = watch::channel(false);
    let (cache, sync) = synced(store.clone(), RESYNC, stopping.clone())
        .await
        .unwrap();
    assert!(cache.get(&event).unwrap().has_left(4));
    // Redis loses the leavers: the drain reads a line in which everyone stays.
    let mut redis = crate::helpers::raw_redis(Backend::Redis).await;
    let _: () = redis::cmd("DEL")
        .arg(format!("{prefix}:{{forgetful}}:leavers"))
        .query_async(&mut redis)
        .await
        .unwrap();
    admit(store.as_ref(), &event, 10).await;

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("admitted.jsonl");
    let settings = DrainSettings {
        lease_ttl: Duration::from_secs(2),
        ..Default::default()
    };
    let worker = tokio::spawn(
        DrainWorker::new(
            store.clone(),
            cache,
            Arc::new(LogSink::file(log.clone()).unwrap()),
            settings,
            Arc::new(waitroom::metrics::Metrics::default()),
        )
        .run(stopping),
    );
    assert!(drained_to(store.as_ref(), &event, 10, Duration::from_secs(10)).await);
    let forwarded: BTreeSet<String> = read_log(&log)
        .iter()
        .map(|message| format!("{event}:{}", message.position))
        .collect();
    assert_eq!(forwarded, staying);
    let _ = stop.send(true);
    worker.await.unwrap();
    let _ = sync.await;
}

/// An event with lanes drained to a real broker with a topic per event: every admitted visitor is
/// read back from the event's own topic (`admitted.<event>`: a lane's line never makes a topic of
/// its own), with the lane they waited in as a field of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_drain_to_the_events_own_topic_with_each_visitors_lane() {
    let broker = Daemon::kafka();
    broker.create_topic("admitted.tix", 3).unwrap();
    let mut config = config_for(Backend::Redis, &format!("t{}", random_token_id()));
    config.drain_in_serve = true;
    config.kafka_brokers = Some(broker.kafka_brokers());
    config.kafka_topic = "admitted".into();
    config.kafka_topic_per_event = true;
    let app = spawn_config(config).await;
    app.create_event(
        "tix",
        json!({ "batch_size": 0, "lanes": [{ "name": "public", "share": 70 }, { "name": "members", "share": 30 }] }),
    )
    .await;
    // visitor id -> the lane the message must name (none for the first lane's line).
    let mut lanes: BTreeMap<String, Option<String>> = BTreeMap::new();
    for n in 0..14 {
        let anonymous = app.join("tix").await;
        lanes.insert(anonymous.body["visitor"].as_str().unwrap().to_owned(), None);
        if n % 2 == 0 {
            let member = format!("member-{n}");
            let joined = app
                .admin(
                    reqwest::Method::POST,
                    "/v1/admin/events/tix/join",
                    Some(json!({ "visitor": member, "lane": "members" })),
                )
                .await;
            assert_eq!(joined.body["lane"], "members", "{:?}", joined.body);
            lanes.insert(member, Some("members".to_owned()));
        }
    }
    assert_eq!(lanes.len(), 21);
    let expected: BTreeSet<String> = {
        let view = app.advance("tix", 21).await;
        let public = view.lane_lines[0].admitted_through;
        let members = view.lane_lines[1].admitted_through;
        assert_eq!((public, members), (14, 7), "{view:?}");
        (1..=public)
            .map(|p| format!("tix:{p}"))
            .chain((1..=members).map(|p| format!("tix:members:{p}")))
            .collect()
    };
    let messages = read_topic(&broker.kafka_brokers(), "admitted.tix", &expected);
    let ids: BTreeSet<String> = messages.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, expected, "every admitted visitor, once per place");
    for message in &messages {
        assert_eq!(message.event, "tix", "{message:?}");
        assert_eq!(
            lanes.get(&message.visitor),
            Some(&message.lane),
            "forwarded with their own lane: {message:?}"
        );
    }
    let forwarded: BTreeSet<&String> = messages.iter().map(|m| &m.visitor).collect();
    assert_eq!(forwarded.len(), lanes.len(), "every visitor forwarded");

    // The README's recipe reads the same from the broker.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = tokio::process::Command::new(repo.join(".tools/kafka/bin/python"))
        .arg(repo.join("examples/read-admitted.py"))
        .args([broker.kafka_brokers().as_str(), "admitted.tix"])
        .output()
        .await
        .expect("kafka-python: scripts/install-test-deps.sh installs it");
    let stdout = String::from_utf8_lossy(&read.stdout);
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let read_ids: BTreeSet<String> = lines
        .iter()
        .map(|line| line["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(read_ids, expected, "{stdout}");
    for line in &lines {
        assert_eq!(line["key"], line["visitor"], "{line}");
        assert_eq!(line["headers"]["message-id"], line["id"], "{line}");
        assert_eq!(line["headers"].get("lane"), line.get("lane"), "{line}");
    }
}

/// A topic nobody created: the drain creates it before its first delivery, with the partitions the
/// configuration names, and every admitted visitor arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_creates_a_missing_topic() {
    let broker = Daemon::kafka();
    let mut config = config_for(Backend::Memory, "unused");
    config.drain_in_serve = true;
    config.kafka_brokers = Some(broker.kafka_brokers());
    config.kafka_topic = "never.created".into();
    config.kafka_topic_partitions = 2;
    config.kafka_topic_replication = 1;
    let app = spawn_config(config).await;
    app.create_event("fresh", json!({ "batch_size": 0 })).await;
    let mut expected = BTreeSet::new();
    for _ in 0..10 {
        expected.insert(format!("fresh:{}", app.join("fresh").await.position()));
    }
    app.advance("fresh", 10).await;
    // Read once delivered: subscribing to a topic before it exists is a consumer error.
    let drained = eventually(Duration::from_secs(30), || async {
        app.show("fresh").await.drained_through == 10
    })
    .await;
    assert!(drained.is_some(), "{:?}", app.show("fresh").await);
    let messages = read_topic(&broker.kafka_brokers(), "never.created", &expected);
    let ids: BTreeSet<String> = messages.iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, expected);
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.kafka_brokers())
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some("never.created"), Duration::from_secs(10))
        .unwrap();
    assert_eq!(metadata.topics()[0].partitions().len(), 2, "as configured");
}

/// Brokers that cannot be reached: librdkafka's reports reach the log once per kind, not twice a
/// second, and the drain says once that deliveries fail, naming the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_logged_once_not_twice_a_second() {
    let closed = waitroom_testkit::free_port();
    let serve = crate::helpers::ServeProcess::start(&[
        ("WAITROOM_KAFKA_BROKERS", format!("127.0.0.1:{closed}")),
        (
            "WAITROOM_KAFKA_PRODUCER__MESSAGE.TIMEOUT.MS",
            "2000".to_owned(),
        ),
    ])
    .await;
    let app = &serve.app;
    app.create_event("drop", json!({ "batch_size": 0 })).await;
    for _ in 0..5 {
        app.join("drop").await;
    }
    app.advance("drop", 5).await;
    // The first delivery fails once creating the topic times out (10 s).
    let said = eventually(Duration::from_secs(30), || async {
        serve.process.log_text().contains("waitroom.admitted")
    })
    .await;
    let log = serve.process.log_text();
    assert!(
        said.is_some(),
        "the failing deliveries name the topic:\n{log}"
    );
    let kafka_lines = log.lines().filter(|line| line.contains("kafka: ")).count();
    assert!(
        (1..=4).contains(&kafka_lines),
        "{kafka_lines} lines from librdkafka in {said:?}:\n{log}"
    );
}

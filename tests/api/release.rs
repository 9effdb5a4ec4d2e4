use std::time::{Duration, Instant};

use serde_json::json;
use waitroom::domain::{EventId, EventSettings, LineId, VisitorId};
use waitroom::store::{AdvanceMode, Capacity, JoinAs, Pick, PutMode};

use crate::helpers::{redis_store, shared_store, spawn_app, spawn_with, Backend};
use crate::on_every_store;

on_every_store!(the_scheduler_releases_batches_on_its_own);

async fn the_scheduler_releases_batches_on_its_own(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("tour", json!({ "batch_size": 0 })).await;
    let mut tokens = Vec::new();
    for _ in 0..9 {
        tokens.push(app.join("tour").await.token());
    }
    app.create_event(
        "tour",
        json!({ "batch_size": 3, "release_interval_ms": 200 }),
    )
    .await;
    let all_in = crate::helpers::eventually(Duration::from_secs(5), || async {
        app.show("tour").await.admitted_through == 9
    })
    .await;
    assert!(all_in.is_some(), "three batches of three were released");
    assert_eq!(
        app.status("tour", &tokens[8]).await.body["status"],
        "admitted"
    );
    // Never beyond the last issued position.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.show("tour").await.admitted_through, 9);
}

/// Many replicas race for the same slot: exactly one of them moves the pointer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_release_per_slot_however_many_callers() {
    let prefix = format!("t{}", waitroom::domain::random_token_id());
    let event = LineId::from(EventId::parse("race").unwrap());
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(redis_store(&prefix).await);
    }
    stores[0]
        .put_event(&event, &EventSettings::default(), PutMode::Upsert)
        .await
        .unwrap();
    for _ in 0..100 {
        stores[0]
            .join(
                &event,
                &VisitorId::generate(),
                JoinAs::Anonymous,
                0,
                0,
                Pick::InOrder,
            )
            .await
            .unwrap();
    }
    // An hour-long slot: all 60 calls fall into the same one.
    let mode = AdvanceMode::Scheduled {
        interval_ms: 3_600_000,
    };
    let mut calls = tokio::task::JoinSet::new();
    for store in &stores {
        for _ in 0..20 {
            let (store, event) = (store.clone(), event.clone());
            calls.spawn(async move {
                store
                    .advance(&event, 7, mode, Capacity::UNLIMITED, Pick::InOrder)
                    .await
                    .unwrap()
            });
        }
    }
    let mut moved = 0;
    while let Some(result) = calls.join_next().await {
        moved += usize::from(result.unwrap().moved);
    }
    assert_eq!(moved, 1);
    let snapshot = stores[1].snapshot(&event).await.unwrap().unwrap();
    assert_eq!(snapshot.figures.admitted_through, 7);
}

/// Three replicas with running schedulers on one Redis: the pointer moves one batch per interval,
/// not three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_schedulers_release_one_batch_per_interval() {
    three_schedulers_release_one_batch_per_interval_on(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_schedulers_on_a_cluster_release_one_batch_per_interval() {
    three_schedulers_release_one_batch_per_interval_on(Backend::Cluster).await;
}

async fn three_schedulers_release_one_batch_per_interval_on(backend: Backend) {
    let prefix = format!("t{}", waitroom::domain::random_token_id());
    let replicas = [
        spawn_with(backend, &prefix).await,
        spawn_with(backend, &prefix).await,
        spawn_with(backend, &prefix).await,
    ];
    let first = &replicas[0];
    first.create_event("tour", json!({ "batch_size": 0 })).await;
    let store = shared_store(backend, &prefix).await;
    let event = LineId::from(EventId::parse("tour").unwrap());
    for _ in 0..2_000 {
        store
            .join(
                &event,
                &VisitorId::generate(),
                JoinAs::Anonymous,
                0,
                0,
                Pick::InOrder,
            )
            .await
            .unwrap();
    }
    let interval_ms = 250;
    first
        .create_event(
            "tour",
            json!({ "batch_size": 10, "release_interval_ms": interval_ms }),
        )
        .await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let admitted = first.show("tour").await.admitted_through;
    let elapsed_ms = started.elapsed().as_millis() as u64;

    assert_eq!(admitted % 10, 0, "whole batches only: {admitted}");
    let batches = admitted / 10;
    let slots = elapsed_ms / interval_ms;
    // At most one batch per slot (give or take the slots at either end); three replicas without
    // the slot check would release several times as many. The lower bound is loose: a loaded
    // machine may delay ticks, never double them.
    assert!(
        batches <= slots + 2 && batches * 2 >= slots,
        "{batches} batches released in {slots} slots ({elapsed_ms} ms)"
    );
}

on_every_store!(pointer_announcements_say_whether_an_admin_moved_it);

/// Every replica learns whether a pointer move was the scheduled release or an admin's advance, so
/// wait estimates measure the release pace alone.
async fn pointer_announcements_say_whether_an_admin_moved_it(backend: Backend) {
    use futures_util::StreamExt;
    use waitroom::store::{Notification, Store};
    let store: std::sync::Arc<dyn Store> = match backend {
        Backend::Memory => std::sync::Arc::new(waitroom::store::MemoryStore::default()),
        Backend::Redis | Backend::Cluster => {
            let prefix = format!("t{}", waitroom::domain::random_token_id());
            crate::helpers::shared_store(backend, &prefix).await
        }
    };
    let event = LineId::from(EventId::parse("tour").unwrap());
    store
        .put_event(&event, &EventSettings::default(), PutMode::Upsert)
        .await
        .unwrap();
    for _ in 0..10 {
        store
            .join(
                &event,
                &VisitorId::generate(),
                JoinAs::Anonymous,
                0,
                0,
                Pick::InOrder,
            )
            .await
            .unwrap();
    }
    let mut announced = store.notifications().await.unwrap();
    let scheduled = AdvanceMode::Scheduled {
        interval_ms: 3_600_000,
    };
    for mode in [AdvanceMode::Manual, scheduled] {
        store
            .advance(&event, 2, mode, Capacity::UNLIMITED, Pick::InOrder)
            .await
            .unwrap();
        let next = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                if let Some(Notification::Pointer {
                    manual,
                    admitted_through,
                    ..
                }) = announced.next().await
                {
                    return (manual, admitted_through);
                }
            }
        })
        .await
        .expect("the move is announced");
        assert_eq!(next.0, mode == AdvanceMode::Manual, "{mode:?} -> {next:?}");
    }
}

//! Chaos: three `serve` replicas under load on one Redis, one SIGKILLed. The survivors answer every
//! status check, and the drain of the events the killed one held is taken over: every admitted
//! visitor is forwarded.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{eventually, shared_redis_url, ServeProcess, UNLIMITED};

const EVENTS: usize = 6;

/// The events whose drain `replica` took, from its JSON log.
fn draining(replica: &ServeProcess) -> BTreeSet<String> {
    replica
        .process
        .log_text()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "draining")
        .filter_map(|line| line["fields"]["event"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_under_load_costs_no_status_check_and_its_drain_is_taken_over() {
    let prefix = format!("t{}", waitroom::domain::random_token_id());
    let env = [
        ("WAITROOM_REDIS_URL", shared_redis_url()),
        ("WAITROOM_REDIS_PREFIX", prefix),
        ("WAITROOM_DEMO_EVENT", "false".to_owned()),
        ("WAITROOM_DRAIN_IN_SERVE", "true".to_owned()),
        ("WAITROOM_DRAIN_LEASE_TTL_MS", "1000".to_owned()),
        ("WAITROOM_POINTER_POLL_MS", "100".to_owned()),
        ("WAITROOM_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(ServeProcess::start(&env).await);
    }
    let admin = &replicas[0].app;
    let mut tokens = Vec::new();
    for n in 0..EVENTS {
        let event = format!("e{n}");
        let settings = waitroom::domain::Patch::default()
            .with("batch_size", 0)
            .with("rate_limits", UNLIMITED);
        admin.api.put_event(&event, &settings).await.unwrap();
        for _ in 0..40 {
            tokens.push((event.clone(), admin.join(&event).await.token()));
        }
    }
    // Batches are released on every event, for four seconds (a drain lease is held only while
    // there is something to forward).
    for n in 0..EVENTS {
        let release = json!({ "batch_size": 2, "release_interval_ms": 200 });
        admin
            .admin(
                reqwest::Method::PUT,
                &format!("/v1/admin/events/e{n}"),
                Some(release),
            )
            .await;
    }
    // Every event's drain is held by one replica or another; the one to kill holds some.
    let held = eventually(Duration::from_secs(10), || async {
        replicas
            .iter()
            .map(draining)
            .map(|e| e.len())
            .sum::<usize>()
            >= EVENTS
    })
    .await;
    assert!(held.is_some(), "not every event's drain was taken");
    let victim = (0..3)
        .max_by_key(|n| draining(&replicas[*n]).len())
        .unwrap();
    let orphaned = draining(&replicas[victim]);
    assert!(!orphaned.is_empty());
    let survivors: Vec<_> = (0..3).filter(|n| *n != victim).collect();

    // Visitors poll the survivors (as a load balancer routes them after the first failure), while
    // the batches go on.
    let stop = Arc::new(AtomicBool::new(false));
    let (checks, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = tokio::task::JoinSet::new();
    for worker in 0..6 {
        let urls: Vec<String> = survivors
            .iter()
            .map(|n| replicas[*n].app.address.clone())
            .collect();
        let (tokens, stop, checks, failures) = (
            tokens.clone(),
            stop.clone(),
            checks.clone(),
            failures.clone(),
        );
        load.spawn(async move {
            let client = reqwest::Client::new();
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) {
                n += 7;
                let (event, token) = &tokens[n % tokens.len()];
                let url = format!("{}/v1/events/{event}/status", urls[n % urls.len()]);
                let answered = client.get(url).bearer_auth(token).send().await;
                checks.fetch_add(1, Ordering::Relaxed);
                if !answered.is_ok_and(|r| r.status().is_success()) {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    replicas[victim].process.signal("KILL");
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    stop.store(true, Ordering::Relaxed);
    while load.join_next().await.is_some() {}
    let (checks, failures) = (
        checks.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
    );
    println!("{checks} status checks on the survivors, {failures} failed");
    assert_eq!(failures, 0, "of {checks} status checks");
    assert!(checks > 300, "only {checks} checks");

    // The killed replica's events are drained by the survivors: every admitted visitor forwarded.
    let survivor = &replicas[survivors[0]].app;
    let drained = eventually(Duration::from_secs(20), || async {
        let mut all = true;
        for n in 0..EVENTS {
            let figures = survivor.show(&format!("e{n}")).await;
            all &= figures.admitted_through == 40 && figures.drained_through == 40;
        }
        all
    })
    .await;
    assert!(drained.is_some(), "the drain was not taken over");
    let taken_over: BTreeSet<String> = survivors
        .iter()
        .flat_map(|n| draining(&replicas[*n]))
        .collect();
    assert!(
        orphaned.is_subset(&taken_over),
        "{orphaned:?} held by the killed replica, {taken_over:?} by the survivors"
    );
    let forwarded: BTreeSet<(String, u64)> = replicas
        .iter()
        .flat_map(ServeProcess::drained)
        .map(|message| (message.event, message.position))
        .collect();
    for n in 0..EVENTS {
        for position in 1..=40 {
            assert!(
                forwarded.contains(&(format!("e{n}"), position)),
                "e{n} position {position} was never forwarded"
            );
        }
    }
}

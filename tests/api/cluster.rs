//! Redis Cluster: events spread over the shards, several replicas sharing them, and an outage of
//! the whole cluster. (The scenarios every store runs, `on_every_store!`, run on a cluster too.)

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use waitroom::domain::random_token_id;
use waitroom_testkit::RedisCluster;

use crate::helpers::{
    config_for, eventually, known_everywhere, shared_cluster_urls, spawn_config, three_replicas,
    Backend, UNLIMITED,
};

const EVENTS: usize = 12;
const JOINS_PER_EVENT: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_spread_events_over_the_shards_and_hand_out_each_position_once() {
    let prefix = format!("t{}", random_token_id());
    let config = config_for(Backend::Cluster, &prefix);
    let replicas = three_replicas(config).await;
    for n in 0..EVENTS {
        replicas[0]
            .create_event(
                &format!("e{n}"),
                json!({"batch_size": 0, "rate_limits": UNLIMITED}),
            )
            .await;
    }
    // Every replica has heard of every event (pushed through the cluster).
    for n in 0..EVENTS {
        known_everywhere(&replicas, &format!("e{n}")).await;
    }
    // Every replica joins visitors to every event, all at once.
    let mut joins = tokio::task::JoinSet::new();
    for (r, replica) in replicas.iter().enumerate() {
        for n in 0..EVENTS {
            let (address, client) = (replica.address.clone(), replica.client.clone());
            let count = JOINS_PER_EVENT / 4 + u64::from(r == 0) * (JOINS_PER_EVENT / 4);
            joins.spawn(async move {
                let mut positions = Vec::new();
                for _ in 0..count {
                    let url = format!("{address}/v1/events/e{n}/join");
                    let answer = client.post(url).send().await.unwrap();
                    assert_eq!(answer.status().as_u16(), 201);
                    let body: serde_json::Value = answer.json().await.unwrap();
                    positions.push(body["position"].as_u64().unwrap());
                }
                (n, positions)
            });
        }
    }
    let mut by_event = vec![Vec::new(); EVENTS];
    while let Some(joined) = joins.join_next().await {
        let (n, positions) = joined.unwrap();
        by_event[n].extend(positions);
    }
    for (n, mut positions) in by_event.into_iter().enumerate() {
        positions.sort_unstable();
        assert_eq!(
            positions,
            (1..=JOINS_PER_EVENT).collect::<Vec<_>>(),
            "event e{n}: every position once"
        );
    }

    // The events' keys sit on more than one primary.
    let mut shards_holding = BTreeSet::new();
    for url in shared_cluster_urls().split(',') {
        let mut node = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let held: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*:settings"))
            .query_async(&mut node)
            .await
            .unwrap();
        if !held.is_empty() {
            shards_holding.insert(url.to_owned());
        }
    }
    assert!(
        shards_holding.len() >= 2,
        "{EVENTS} events all on one shard: {shards_holding:?}"
    );

    // A release through one replica reaches the others.
    replicas[1].advance("e5", 7).await;
    for replica in &replicas {
        let seen = eventually(Duration::from_secs(2), || async {
            replica.show("e5").await.admitted_through == 7
        })
        .await;
        assert!(seen.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_going_away_degrades_but_loses_nothing() {
    let cluster = RedisCluster::start();
    let mut config = config_for(Backend::Cluster, &format!("t{}", random_token_id()));
    config.redis_url = Some(cluster.urls().join(",").as_str().into());
    let app = spawn_config(config).await;
    let nodes = &cluster.nodes;
    let away = || nodes.iter().for_each(|node| node.freeze());
    let back = || nodes.iter().for_each(|node| node.thaw());
    crate::resilience::an_outage_degrades_but_loses_nothing(&app, away, back).await;
}

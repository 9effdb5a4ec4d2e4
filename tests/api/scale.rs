//! Many events on a few replicas: an idle deployment costs Redis next to nothing however many
//! events it holds, and a change whose push was lost is still read.

use std::time::Duration;

use serde_json::json;
use waitroom::domain::random_token_id;
use waitroom_testkit::Daemon;

use crate::helpers::{
    base_config, eventually, raw_redis, shared_redis_url, spawn_config, Backend, UNLIMITED,
};

/// Commands Redis ran, by name (`INFO commandstats`).
async fn commands_run(
    redis: &mut redis::aio::MultiplexedConnection,
) -> std::collections::BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(redis)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_deployment_costs_redis_less_than_a_command_per_event_per_second() {
    // A Redis of its own: the count must not include other tests' commands.
    let server = Daemon::redis();
    let prefix = format!("t{}", random_token_id());
    let config = || {
        let mut config = base_config();
        config.redis_url = Some(server.redis_url().as_str().into());
        config.redis_prefix = prefix.clone();
        config.drain_in_serve = true;
        config.drain_log = waitroom::config::LogTarget::File(
            std::env::temp_dir().join(format!("{prefix}-drain.jsonl")),
        );
        config
    };
    let replicas = [spawn_config(config()).await, spawn_config(config()).await];
    let events = 200;
    for n in 0..events {
        replicas[0]
            .create_event(
                &format!("e{n}"),
                json!({"batch_size": 100, "release_interval_ms": 1000, "rate_limits": UNLIMITED}),
            )
            .await;
    }
    // Visitors on one event, all admitted and forwarded before counting.
    for _ in 0..5 {
        replicas[1].join("e0").await;
    }
    let mut redis = redis::Client::open(server.redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let drained = eventually(Duration::from_secs(10), || async {
        let drained: Option<u64> = redis::cmd("GET")
            .arg(format!("{prefix}:{{e0}}:drained"))
            .query_async(&mut redis.clone())
            .await
            .unwrap();
        drained == Some(5)
    })
    .await;
    assert!(drained.is_some(), "the five visitors were not forwarded");

    let window = Duration::from_secs(4);
    let before = commands_run(&mut redis).await;
    tokio::time::sleep(window).await;
    let after = commands_run(&mut redis).await;
    let run: Vec<(&String, u64)> = after
        .iter()
        .map(|(name, calls)| (name, calls - before.get(name).copied().unwrap_or(0)))
        .filter(|(_, calls)| *calls > 0)
        .collect();
    let per_second = run.iter().map(|(_, calls)| calls).sum::<u64>() as f64 / window.as_secs_f64();
    println!("{per_second:.0} commands/s for {events} idle events on 2 replicas: {run:?}");
    // Before, every replica read every event every tick (100 ms here), and the drain and the
    // scheduler touched each one several times a second: about 64 commands per event per replica
    // per second, 25,000/s here.
    assert!(
        per_second < events as f64,
        "{per_second:.0} commands/s for {events} idle events on 2 replicas"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_push_was_lost_is_read_by_the_sweep() {
    let prefix = format!("t{}", random_token_id());
    let mut config = base_config();
    config.redis_url = Some(shared_redis_url().as_str().into());
    config.redis_prefix = prefix.clone();
    config.resync_sweep = Duration::from_secs(1);
    let app = spawn_config(config).await;
    app.create_event("lost", json!({"batch_size": 0, "rate_limits": UNLIMITED}))
        .await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(app.join("lost").await.token());
    }
    // The pointer moves in Redis with no announcement, as if the push had been lost.
    let mut redis = raw_redis(Backend::Redis).await;
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}:{{lost}}:admitted"))
        .arg(2)
        .query_async(&mut redis)
        .await
        .unwrap();
    let admitted = eventually(Duration::from_secs(5), || async {
        app.status("lost", &tokens[1]).await.body["status"] == "admitted"
    })
    .await;
    assert!(
        admitted.is_some(),
        "the sweep did not read the moved pointer"
    );
    assert_eq!(
        app.status("lost", &tokens[2]).await.body["status"],
        "waiting"
    );
}

/// Readiness polled as fast as one client can: Redis sees at most about one `PING` a second from the
/// replica (its background probe), not one per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_polled_hard_costs_redis_one_ping_a_second() {
    let server = Daemon::redis();
    let mut config = base_config();
    config.redis_url = Some(server.redis_url().as_str().into());
    config.redis_prefix = format!("t{}", random_token_id());
    let app = spawn_config(config).await;
    let mut redis = redis::Client::open(server.redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pings = |commands: &std::collections::BTreeMap<String, u64>| {
        commands.get("ping").copied().unwrap_or(0)
    };
    let before = pings(&commands_run(&mut redis).await);
    let started = std::time::Instant::now();
    let mut answered = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let ready = app.send(app.client.get(app.url("/readyz"))).await;
        assert_eq!(ready.status.as_u16(), 200, "{}", ready.body);
        answered += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let sent = pings(&commands_run(&mut redis).await) - before;
    assert!(answered > 100, "only {answered} readiness checks");
    assert!(
        (sent as f64) <= seconds + 2.0,
        "{sent} pings for {answered} readiness checks in {seconds:.1} s"
    );
}

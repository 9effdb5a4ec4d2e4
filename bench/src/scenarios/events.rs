//! Many events on one replica, nobody joining: what they cost it at rest (CPU, memory), what a
//! `/metrics` scrape costs, and on Redis what they cost Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use waitroom::client::Client;
use waitroom::domain::Patch;

use crate::measure::cpu_time;
use crate::redis_stats::{command_calls, command_delta};
use crate::report::Row;
use crate::scenarios::streams::rss_bytes;
use crate::servers::start_server;

/// Creates `count` events on a fresh replica (on the embedded store, or on a Redis of its own
/// with `on_redis`), then measures it at rest over `window`.
pub async fn many_events(
    replica_settings: &[(&str, String)],
    count: usize,
    on_redis: bool,
    window: Duration,
) -> Vec<Row> {
    let redis = on_redis.then(waitroom_testkit::Daemon::redis);
    let mut settings: Vec<(&str, String)> = replica_settings
        .iter()
        .filter(|(name, _)| *name != "WAITROOM_REDIS_URL")
        .cloned()
        .collect();
    if let Some(redis) = &redis {
        settings.push(("WAITROOM_REDIS_URL", redis.redis_url()));
    }
    let server = start_server("--serve-replica", &settings);
    let admin = Arc::new(
        Client::new(&format!("http://{}", server.address)).with_admin_token(crate::ADMIN_TOKEN),
    );
    let patch = Arc::new(
        Patch::default()
            .with("batch_size", 100)
            .with("release_interval_ms", 5_000),
    );
    let mut creating = tokio::task::JoinSet::new();
    for part in 0..16 {
        let (admin, patch) = (admin.clone(), patch.clone());
        creating.spawn(async move {
            for n in (part..count).step_by(16) {
                admin
                    .put_event(&format!("many-{n}"), &patch)
                    .await
                    .expect("an event");
            }
        });
    }
    while creating.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut redis_conn = match &redis {
        Some(redis) => Some(
            redis::Client::open(redis.redis_url())
                .expect("a Redis URL")
                .get_multiplexed_async_connection()
                .await
                .expect("Redis reachable"),
        ),
        None => None,
    };
    let commands_before = match redis_conn.as_mut() {
        Some(conn) => Some(command_calls(conn).await),
        None => None,
    };
    let cpu_before = cpu_time(server.pid);
    tokio::time::sleep(window).await;
    let cpu = (cpu_time(server.pid) - cpu_before).as_secs_f64() / window.as_secs_f64();
    let commands = match (redis_conn.as_mut(), commands_before) {
        (Some(conn), Some(before)) => Some(command_delta(&before, &command_calls(conn).await)),
        _ => None,
    };
    let rss = rss_bytes(server.pid);
    let started = Instant::now();
    let scrape = reqwest::Client::new()
        .get(format!("http://{}/metrics", server.address))
        .send()
        .await
        .expect("a scrape");
    let body = scrape.text().await.unwrap_or_default();
    let scrape_ms = started.elapsed().as_secs_f64() * 1_000.0;

    let store = if on_redis { "Redis" } else { "embedded store" };
    let mut note = format!(
        "nobody joining; RSS {} MB; /metrics {} KB in {scrape_ms:.0} ms",
        rss / 1_000_000,
        body.len() / 1_000
    );
    if let Some((total, breakdown)) = &commands {
        note.push_str(&format!(
            "; Redis {:.0} commands/s ({breakdown})",
            *total as f64 / window.as_secs_f64()
        ));
    }
    vec![Row::figure(
        &format!("idle replica, {count} events, {store}"),
        cpu * 100.0,
        "% CPU",
        note,
    )]
}

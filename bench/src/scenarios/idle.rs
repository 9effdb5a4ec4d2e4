//! Idle load: what a deployment costs Redis while nobody joins. Three replicas (drain included, as
//! deployed) with many open events that release on a schedule; Redis's own command counts.

use std::time::Duration;

use waitroom::client::Client;
use waitroom::domain::Patch;

use crate::redis_stats::{command_calls, command_delta};
use crate::report::Row;
use crate::servers::start_server;

/// Counts Redis commands per second over `window` with `counts` open events (each `batch 100 every
/// 5 s`, a few visitors waiting on the first), on `replicas` fresh replicas of their own.
pub async fn idle(
    replica_settings: &[(&str, String)],
    replicas: usize,
    counts: &[usize],
    window: Duration,
) -> Vec<Row> {
    // A Redis of its own, so that the count holds nothing but these replicas' commands.
    let server = waitroom_testkit::Daemon::redis();
    let mut redis = redis::Client::open(server.redis_url())
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis reachable");
    let mut settings: Vec<(&str, String)> = replica_settings
        .iter()
        .filter(|(name, _)| !matches!(*name, "WAITROOM_REDIS_URL" | "WAITROOM_DRAIN_IN_SERVE"))
        .cloned()
        .collect();
    settings.push(("WAITROOM_REDIS_URL", server.redis_url()));
    settings.push(("WAITROOM_DRAIN_IN_SERVE", "true".into()));
    let servers: Vec<_> = (0..replicas)
        .map(|_| start_server("--serve-replica", &settings))
        .collect();
    let admin =
        Client::new(&format!("http://{}", servers[0].address)).with_admin_token(crate::ADMIN_TOKEN);
    let patch = Patch::default()
        .with("batch_size", 100)
        .with("release_interval_ms", 5_000);
    let mut rows = Vec::new();
    let mut created = 0;
    for &count in counts {
        while created < count {
            admin
                .put_event(&format!("idle-{created}"), &patch)
                .await
                .expect("an event");
            created += 1;
        }
        // Everything created has been read, announced and drained once before counting.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let before = command_calls(&mut redis).await;
        tokio::time::sleep(window).await;
        let (total, breakdown) = command_delta(&before, &command_calls(&mut redis).await);
        let per_second = total as f64 / window.as_secs_f64();
        rows.push(Row::figure(
            &format!("idle Redis, {count} events, {replicas} replicas"),
            per_second,
            "cmds/s",
            format!(
                "nobody joining, batch 100 / 5 s, drain on; over {} s: {breakdown}",
                window.as_secs()
            ),
        ));
    }
    rows
}

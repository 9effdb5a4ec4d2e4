//! What the bench reads from and writes to Redis directly: a big line filled fast, memory and
//! command counts from `INFO`.

use std::collections::BTreeMap;

use redis::AsyncCommands;
use waitroom::domain::random_token_id;

/// Lines up `count` visitors the way joins record them, pipelined, for the big-queue figures.
pub async fn fill(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    event: &str,
    count: u64,
) {
    let line = format!("{prefix}:{{{event}}}:line");
    let now = waitroom::clock::unix_ms();
    let mut written = 0;
    while written < count {
        let chunk = (count - written).min(1_000);
        let entries: Vec<String> = (0..chunk)
            .map(|_| format!("v_{} {now}", random_token_id()))
            .collect();
        let _: () = redis.rpush(&line, entries).await.expect("RPUSH");
        written += chunk;
    }
    // The counter and its shadow, as every join moves them (see `store/lua/restore.lua`).
    for counter in ["issued", "issued:shadow"] {
        let _: () = redis
            .incr(format!("{prefix}:{{{event}}}:{counter}"), count)
            .await
            .expect("INCRBY");
    }
}

pub async fn info_field(
    redis: &mut redis::aio::MultiplexedConnection,
    section: &str,
    field: &str,
) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query_async(redis)
        .await
        .expect("INFO");
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `INFO commandstats` as command -> calls.
pub async fn command_calls(redis: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(redis)
        .await
        .expect("INFO");
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

pub fn command_delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> (u64, String) {
    let mut total = 0;
    let mut parts = Vec::new();
    for (name, calls) in after {
        let mut delta = calls - before.get(name).copied().unwrap_or(0);
        // One INFO is the harness's own (the first read; the second is not counted yet); the rest
        // are waitroom's, which asks which instance Redis is.
        if name == "info" {
            delta = delta.saturating_sub(1);
        }
        if delta > 0 {
            total += delta;
            parts.push(format!("{name} {delta}"));
        }
    }
    (total, parts.join(", "))
}

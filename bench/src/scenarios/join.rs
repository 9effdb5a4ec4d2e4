//! Joins: on an empty line and on one with a big crowd already queued, and what a queued visitor
//! costs Redis in memory.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use waitroom::client::Client;

use crate::args::Args;
use crate::load::Simple;
use crate::measure::{measure, Ceiling};
use crate::redis_stats::{command_calls, fill, info_field};
use crate::report::Row;
use crate::servers::Server;

pub async fn joins(
    args: &Args,
    admin: &Client,
    (replica, ceiling): (&Server, &Ceiling),
    (redis, prefix): (&mut redis::aio::MultiplexedConnection, &str),
    rows: &mut Vec<Row>,
) {
    let duration = Duration::from_secs(args.duration_s);
    let host = "127.0.0.1".to_owned();

    // Joins, on an empty line and on one with `queued` visitors already in it.
    super::released_by_hand(admin, "join-empty").await;
    super::released_by_hand(admin, "join-full").await;
    let memory_before = info_field(redis, "memory", "used_memory").await;
    fill(redis, prefix, "join-full", args.queued).await;
    let memory_after = info_field(redis, "memory", "used_memory").await;
    let per_visitor = memory_after.saturating_sub(memory_before) as f64 / args.queued as f64;
    for (scenario, event) in [
        ("join (empty line)", "join-empty"),
        ("join (queued line)", "join-full"),
    ] {
        let shape = Arc::new(Simple::new(
            Method::POST,
            &format!("/v1/events/{event}/join"),
            &[],
            &host,
            super::expect_2xx,
        ));
        let before = command_calls(redis).await;
        let (outcome, cpu, baseline) = measure(
            replica,
            args.connections,
            duration,
            shape,
            scenario,
            Some(ceiling),
        )
        .await;
        let after = command_calls(redis).await;
        // A batch of joins is one transaction (EXEC); trusted joins would be script calls.
        let calls = |stats: &BTreeMap<String, u64>| {
            ["exec", "evalsha", "eval"]
                .iter()
                .filter_map(|name| stats.get(*name))
                .sum::<u64>()
        };
        let round_trips = calls(&after).saturating_sub(calls(&before)).max(1);
        let line = if event == "join-full" {
            format!("{} visitors queued before", args.queued)
        } else {
            "a new visitor per request".into()
        };
        let note = format!(
            "{line}; {:.1} joins per Redis call",
            outcome.requests as f64 / round_trips as f64
        );
        rows.push(Row {
            ceiling: baseline,
            ..Row::from_load(scenario, &outcome, cpu, note)
        });
    }
    rows.push(Row::figure(
        "memory",
        per_visitor,
        "bytes/visitor",
        format!(
            "Redis used_memory per queued visitor, {} visitors",
            args.queued
        ),
    ));
}

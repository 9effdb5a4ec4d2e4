//! Joins: on an empty line and on one with a big crowd already queued, and what a queued visitor
//! costs Redis in memory.

use std::collections::BTreeMap;

use hyper::Method;
use waitroom::client::Client;

use super::Measured;
use crate::args::Args;
use crate::measure::Ceiling;
use crate::redis_stats::{fill, info_field};
use crate::report::Row;
use crate::servers::Server;

pub async fn joins(
    args: &Args,
    admin: &Client,
    (replica, ceiling): (&Server, &Ceiling),
    (redis, prefix): (&mut redis::aio::MultiplexedConnection, &str),
    rows: &mut Vec<Row>,
) {
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
        let path = format!("/v1/events/{event}/join");
        let measured = Measured::run(
            args,
            (replica, ceiling),
            redis,
            (Method::POST, &path, &[]),
            scenario,
        )
        .await;
        // A batch of joins is one transaction (EXEC); trusted joins would be script calls.
        let calls = |stats: &BTreeMap<String, u64>| {
            ["exec", "evalsha", "eval"]
                .iter()
                .filter_map(|name| stats.get(*name))
                .sum::<u64>()
        };
        let round_trips = calls(&measured.commands_after)
            .saturating_sub(calls(&measured.commands_before))
            .max(1);
        let line = if event == "join-full" {
            format!("{} visitors queued before", args.queued)
        } else {
            "a new visitor per request".into()
        };
        let note = format!(
            "{line}; {:.1} joins per Redis call",
            measured.outcome.requests as f64 / round_trips as f64
        );
        rows.push(measured.row(scenario, note));
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

//! Joins: on an empty line and on one with a big crowd already queued, and what a queued visitor
//! costs Redis in memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use waitroom::client::Client;
use waitroom::domain::{Patch, RateLimits};

use super::Measured;
use crate::args::Args;
use crate::load::Shape;
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
    rows.push(counted_joins(args, admin, (replica, ceiling), redis).await);
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

/// Addresses the counted joins come from: enough that none reaches its limit in a run.
const ADDRESSES: u32 = 65_536;

/// POSTs a join, each from the next of [`ADDRESSES`] forwarded addresses (the bench's replicas
/// trust 127.0.0.1 as their proxy).
struct JoinsFromAddresses {
    uri: Uri,
    host: HeaderValue,
    forwarded: Vec<HeaderValue>,
    next: AtomicUsize,
}

impl Shape for JoinsFromAddresses {
    fn request(&self) -> Request<Empty<Bytes>> {
        let chosen = self.next.fetch_add(1, Ordering::Relaxed) % self.forwarded.len();
        let mut request = Request::new(Empty::new());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(header::HOST, self.host.clone());
        headers.insert(
            HeaderName::from_static("x-forwarded-for"),
            self.forwarded[chosen].clone(),
        );
        request
    }

    fn expected(&self, status: StatusCode) -> bool {
        status == StatusCode::CREATED
    }
}

/// Joins as the default limits count them (60 a minute, a burst of 30, per address), each from
/// one of many addresses so none is refused: what counting a join per address costs.
async fn counted_joins(
    args: &Args,
    admin: &Client,
    (replica, ceiling): (&Server, &Ceiling),
    redis: &mut redis::aio::MultiplexedConnection,
) -> Row {
    let scenario = "join (limits counted, many addresses)";
    let limited = Patch::default()
        .with("batch_size", 0)
        .with("rate_limits", RateLimits::default());
    admin
        .put_event("join-counted", &limited)
        .await
        .expect("an event");
    let shape = Arc::new(JoinsFromAddresses {
        uri: "/v1/events/join-counted/join".parse().expect("a path"),
        host: HeaderValue::from_static("127.0.0.1"),
        forwarded: (0..ADDRESSES)
            .map(|n| {
                let address = std::net::Ipv4Addr::from(0x0a00_0000 + n);
                HeaderValue::from_str(&address.to_string()).expect("an address")
            })
            .collect(),
        next: AtomicUsize::new(0),
    });
    let measured = Measured::run_shape(args, (replica, ceiling), redis, shape, scenario).await;
    let note = format!("a new visitor per request, from {ADDRESSES} addresses in turn");
    measured.row(scenario, note)
}

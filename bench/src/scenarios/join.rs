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
use waitroom::keys::KeySet;

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
    keys: &KeySet,
    rows: &mut Vec<Row>,
) {
    // Joins, on an empty line and on one with `queued` visitors already in it.
    super::released_by_hand(admin, "join-empty").await;
    super::released_by_hand(admin, "join-full").await;
    let memory_before = info_field(redis, "memory", "used_memory").await;
    fill(redis, prefix, "join-full", args.queued).await;
    let memory_after = info_field(redis, "memory", "used_memory").await;
    let per_visitor = memory_after.saturating_sub(memory_before) as f64 / args.queued as f64;
    let mut plain_rate = 0.0;
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
        if event == "join-empty" {
            plain_rate = measured.outcome.per_second();
        }
        rows.push(measured.row(scenario, note));
    }
    rows.push(counted_joins(args, admin, (replica, ceiling), redis).await);
    // Half as many again as plain joins would take: a run never runs out.
    let expected = (plain_rate * args.duration_s as f64 * 1.5) as usize + 1_000;
    let challenged = (keys, expected);
    rows.push(challenged_joins(args, admin, (replica, ceiling), redis, challenged).await);
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

/// POSTs a join, each with the next of `values` in `header` (a forwarded address, a solution),
/// in turn across all connections.
struct JoinsWith {
    uri: Uri,
    host: HeaderValue,
    header: HeaderName,
    values: Vec<HeaderValue>,
    next: AtomicUsize,
}

impl JoinsWith {
    fn new(event: &str, header: &'static str, values: Vec<HeaderValue>) -> Self {
        Self {
            uri: format!("/v1/events/{event}/join").parse().expect("a path"),
            host: HeaderValue::from_static("127.0.0.1"),
            header: HeaderName::from_static(header),
            values,
            next: AtomicUsize::new(0),
        }
    }
}

impl Shape for JoinsWith {
    fn request(&self) -> Request<Empty<Bytes>> {
        let chosen = self.next.fetch_add(1, Ordering::Relaxed) % self.values.len();
        let mut request = Request::new(Empty::new());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.insert(header::HOST, self.host.clone());
        headers.insert(self.header.clone(), self.values[chosen].clone());
        request
    }

    fn expected(&self, status: StatusCode) -> bool {
        status == StatusCode::CREATED
    }
}

/// Joins as the default limits count them (60 a minute, a burst of 30, per address), each from
/// one of many addresses so none is refused: what counting a join per address costs. The bench's
/// replicas trust 127.0.0.1 as their proxy, so the forwarded address is the client's.
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
    let addresses = (0..ADDRESSES)
        .map(|n| {
            let address = std::net::Ipv4Addr::from(0x0a00_0000 + n);
            HeaderValue::from_str(&address.to_string()).expect("an address")
        })
        .collect();
    let shape = Arc::new(JoinsWith::new("join-counted", "x-forwarded-for", addresses));
    let measured = Measured::run_shape(args, (replica, ceiling), redis, shape, scenario).await;
    let note = format!("a new visitor per request, from {ADDRESSES} addresses in turn");
    measured.row(scenario, note)
}

/// Joins to an event with a proof-of-work challenge, each bringing a solution of its own: what
/// verifying a solution and marking it used cost the join. The solutions are made beforehand
/// (`expected` of them, more than the run takes), as the visitors' devices would each have
/// solved theirs: with the server's key and few attempts, since the work is the visitor's and
/// the server checks any solution at the same cost.
async fn challenged_joins(
    args: &Args,
    admin: &Client,
    (replica, ceiling): (&Server, &Ceiling),
    redis: &mut redis::aio::MultiplexedConnection,
    (keys, expected): (&KeySet, usize),
) -> Row {
    let scenario = "join (challenge solved)";
    super::released_by_hand(admin, "join-challenged").await;
    let challenged = Patch::default().with("challenge_cost", 1);
    admin
        .put_event("join-challenged", &challenged)
        .await
        .expect("an event");
    let solutions = super::solved_challenges(keys, "join-challenged", 1, expected)
        .into_iter()
        .map(|solved| HeaderValue::from_str(&solved).expect("base64 is a header value"))
        .collect();
    let shape = Arc::new(JoinsWith::new(
        "join-challenged",
        "x-waitroom-solution",
        solutions,
    ));
    let measured = Measured::run_shape(args, (replica, ceiling), redis, shape, scenario).await;
    let marks = |stats: &BTreeMap<String, u64>| stats.get("sadd").copied().unwrap_or(0);
    let note = format!(
        "a new solution per request ({expected} made); {:.2} used-mark commands (SADD) per join",
        marks(&measured.commands_after).saturating_sub(marks(&measured.commands_before)) as f64
            / measured.outcome.requests.max(1) as f64
    );
    measured.row(scenario, note)
}

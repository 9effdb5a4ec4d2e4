//! Leavers: status checks for visitors behind a million given-up places, and the release that
//! passes over them. Both count leavers by rank (a bitmap on the replica, a sorted set in Redis),
//! so neither should cost more than for a line nobody left.

use std::time::{Duration, Instant};

use hyper::Method;
use waitroom::client::Client;
use waitroom::domain::{EventId, LineId, VisitorId};
use waitroom::token::{TokenKind, Tokens};

use super::Measured;
use crate::args::Args;
use crate::measure::Ceiling;
use crate::report::Row;
use crate::servers::Server;

/// Status with `count` leavers ahead (written into Redis as `leave.lua` leaves them, since a
/// million leaves through the API would take the bench minutes), then a release over all of them.
pub async fn leavers(
    args: &Args,
    admin: &Client,
    signer: &Tokens,
    (replica, ceiling): (&Server, &Ceiling),
    (redis, prefix): (&mut redis::aio::MultiplexedConnection, &str),
    rows: &mut Vec<Row>,
) {
    super::released_by_hand(admin, "leavers").await;
    let count: u64 = if args.smoke { 20_000 } else { 1_000_000 };
    let key = |name: &str| format!("{prefix}:{{leavers}}:{name}");
    let waiting = 1_000;
    let _: () = redis::cmd("SET")
        .arg(key("issued"))
        .arg(count + waiting)
        .query_async(redis)
        .await
        .expect("SET issued");
    let all: Vec<u64> = (1..=count).collect();
    for chunk in all.chunks(10_000) {
        let scored: Vec<(u64, u64)> = chunk.iter().map(|p| (*p, *p)).collect();
        let _: () = redis::pipe()
            .zadd_multiple(key("leavers"), &scored)
            .rpush(key("leavers:log"), chunk)
            .query_async(redis)
            .await
            .expect("leavers written");
    }
    let event = LineId::from(EventId::parse("leavers").expect("a valid event"));
    let now = waitroom::clock::unix_s();
    let tokens: Vec<String> = (1..=waiting)
        .map(|n| {
            let visitor = VisitorId::generate();
            signer
                .sign(TokenKind::Waiting, &event, &visitor, count + n, now, 3_600)
                .0
        })
        .collect();
    // The replica reads the leavers' log at its next resync.
    let last = tokens.last().expect("tokens").clone();
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let answer: serde_json::Value = http
            .get(admin.url("/v1/events/leavers/status"))
            .bearer_auth(&last)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("a status");
        if answer["ahead"] == waiting - 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the replica did not read the leavers: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let read_in = started.elapsed();
    let scenario = format!("status ({count} left ahead)");
    let scenario = scenario.as_str();
    let measured = Measured::run(
        args,
        (replica, ceiling),
        redis,
        (Method::GET, "/v1/events/leavers/status", &tokens),
        scenario,
    )
    .await;
    rows.push(measured.row(
        scenario,
        format!(
            "{count} places given up ahead of 1,000 waiting visitors (read by the replica in {:.1} s)",
            read_in.as_secs_f64()
        ),
    ));

    // One release over every leaver: the script's time, as Redis itself measured it.
    let _: () = redis::cmd("SLOWLOG")
        .arg("RESET")
        .query_async(redis)
        .await
        .expect("SLOWLOG RESET");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(0)
        .query_async(redis)
        .await
        .expect("CONFIG SET");
    let sent = Instant::now();
    let moved = admin.advance("leavers", 100).await.expect("advance");
    let took = sent.elapsed();
    let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(128)
        .query_async(redis)
        .await
        .expect("SLOWLOG GET");
    let script_us = entries
        .iter()
        .filter_map(slow_entry)
        .filter(|(command, _)| command.eq_ignore_ascii_case("evalsha"))
        .map(|(_, micros)| micros)
        .max()
        .unwrap_or_default();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(10_000)
        .query_async(redis)
        .await
        .expect("CONFIG SET");
    assert_eq!(
        moved.admitted_through,
        count + 100,
        "the release skipped the leavers"
    );
    rows.push(Row::figure(
        &format!("release over {count} leavers"),
        script_us as f64,
        "µs in Redis",
        format!(
            "one advance of 100 past {count} leavers: the release script's own time (SLOWLOG); the admin call took {:.1} ms",
            took.as_secs_f64() * 1_000.0
        ),
    ));
}

/// A SLOWLOG entry's command name and duration in microseconds.
fn slow_entry(entry: &redis::Value) -> Option<(String, u64)> {
    let redis::Value::Array(fields) = entry else {
        return None;
    };
    let micros = match fields.get(2)? {
        redis::Value::Int(micros) => u64::try_from(*micros).ok()?,
        _ => return None,
    };
    let redis::Value::Array(args) = fields.get(3)? else {
        return None;
    };
    let command = match args.first()? {
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => return None,
    };
    Some((command, micros))
}

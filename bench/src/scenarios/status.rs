//! Status and gate: answered from the token and the replica's cache, with no Redis command.

use std::time::Duration;

use hyper::Method;
use waitroom::client::Client;
use waitroom::domain::{EventId, LineId, VisitorId};
use waitroom::token::{TokenKind, Tokens};

use super::Measured;
use crate::args::Args;
use crate::measure::Ceiling;
use crate::redis_stats::command_delta;
use crate::report::Row;
use crate::servers::Server;

/// Status and gate: visitors with real tokens, half of them admitted.
pub async fn status_and_gate(
    args: &Args,
    admin: &Client,
    signer: &Tokens,
    (replica, ceiling): (&Server, &Ceiling),
    redis: &mut redis::aio::MultiplexedConnection,
    rows: &mut Vec<Row>,
) {
    super::released_by_hand(admin, "bench").await;
    let mut tokens = Vec::new();
    for _ in 0..2_000 {
        tokens.push(super::joined(admin, "bench").await);
    }
    admin.advance("bench", 1_000).await.expect("advance");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Each admitted visitor collects the pass once (the one store call a visitor's status may cost),
    // so the measurement shows the steady state: status answered from the token and the cache alone.
    let http = reqwest::Client::new();
    for token in &tokens[..1_000] {
        let _ = http
            .get(admin.url("/v1/events/bench/status"))
            .bearer_auth(token)
            .send()
            .await;
    }
    // 100,000 waiting tokens, more than the two workers remember as verified (2 × 2 × 4,096),
    // requested in turn: every check verifies a signature, as for a crowd larger than the replicas'
    // memory of it.
    let event = LineId::from(EventId::parse("bench").expect("a valid event"));
    let unseen: Vec<String> = (0..100_000)
        .map(|n| {
            let visitor = VisitorId::generate();
            let now = waitroom::clock::unix_s();
            signer
                .sign(TokenKind::Waiting, &event, &visitor, 3_000 + n, now, 3_600)
                .0
        })
        .collect();
    for (scenario, path, chosen, note) in [
        (
            "status (half admitted)",
            "/v1/events/bench/status",
            tokens.clone(),
            "2,000 visitors, waiting and admitted",
        ),
        (
            "status (100,000 waiting)",
            "/v1/events/bench/status",
            unseen,
            "more tokens than the replica remembers as verified: every check verifies a signature",
        ),
        (
            "gate",
            "/v1/events/bench/gate",
            tokens[..1_000].to_vec(),
            "admitted visitors: 204",
        ),
    ] {
        if !args.runs(scenario.split(' ').next().unwrap_or_default()) {
            continue;
        }
        let measured = Measured::run(
            args,
            (replica, ceiling),
            redis,
            (Method::GET, path, &chosen),
            scenario,
        )
        .await;
        let (commands, which) = command_delta(&measured.commands_before, &measured.commands_after);
        let note = format!(
            "{note}; Redis commands meanwhile, all from the replicas' resync: {commands} ({:.5}/request; {which})",
            commands as f64 / measured.outcome.requests.max(1) as f64
        );
        rows.push(measured.row(scenario, note));
    }
}

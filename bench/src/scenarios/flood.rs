//! A join flood from one address: the other visitors' status checks, with and without it. The
//! flood is refused by the event's per-client join limit (429) after its burst; what it may still
//! cost others is the replica's time to refuse it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use hyper::Method;
use waitroom::client::Client;
use waitroom::domain::{Patch, RateLimits};

use super::Measured;
use crate::args::Args;
use crate::measure::Ceiling;
use crate::report::Row;
use crate::servers::Server;

/// Connections the flood keeps busy.
const FLOODERS: usize = 8;

pub async fn flood(
    args: &Args,
    admin: &Client,
    (replica, ceiling): (&Server, &Ceiling),
    redis: &mut redis::aio::MultiplexedConnection,
    rows: &mut Vec<Row>,
) {
    // The others: 2,000 visitors of an event without limits (the bench's load comes from one
    // address); the flood: joins of another event, from one address, past its limit.
    super::released_by_hand(admin, "calm").await;
    let mut tokens = Vec::new();
    for _ in 0..2_000 {
        tokens.push(super::joined(admin, "calm").await);
    }
    let limited = Patch::default()
        .with("batch_size", 0)
        .with("rate_limits", RateLimits::default());
    admin
        .put_event("flooded", &limited)
        .await
        .expect("an event");

    let quiet = Measured::run(
        args,
        (replica, ceiling),
        redis,
        (Method::GET, "/v1/events/calm/status", &tokens),
        "status (no flood)",
    )
    .await;
    rows.push(quiet.row(
        "status (no flood)",
        "2,000 visitors' checks, nothing else".into(),
    ));

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let url = admin.url("/v1/events/flooded/join");
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|_| {
            let (stop, sent, refused, url) =
                (stop.clone(), sent.clone(), refused.clone(), url.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while !stop.load(Ordering::Relaxed) {
                    let answer = client
                        .post(&url)
                        .header("x-forwarded-for", "203.0.113.66")
                        .send()
                        .await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    if answer.is_ok_and(|a| a.status().as_u16() == 429) {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let during = Measured::run(
        args,
        (replica, ceiling),
        redis,
        (Method::GET, "/v1/events/calm/status", &tokens),
        "status during a join flood",
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for flooder in flooders {
        let _ = flooder.await;
    }
    let (sent, refused) = (
        sent.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    rows.push(during.row(
        "status during a join flood",
        format!(
            "the same checks while {FLOODERS} connections from one address sent {sent} joins ({refused} refused 429 by the event's per-client limit)"
        ),
    ));
}

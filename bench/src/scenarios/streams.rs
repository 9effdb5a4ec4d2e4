//! Live-update streams at full size: 10,000 SSE streams open on one replica, what each costs the
//! server in memory, and how long a pointer move takes to reach every one of them, read by this
//! program's own client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Barrier};
use waitroom::client::Client;
use waitroom::domain::{EventId, LineId, VisitorId};
use waitroom::token::{TokenKind, Tokens};

use crate::redis_stats::fill;
use crate::report::Row;
use crate::servers::start_server;

/// Opened at once, so the listen backlog never overflows.
const OPENING_AT_ONCE: usize = 500;

/// The server's resident memory, from `/proc`.
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

pub async fn streams(
    replica_settings: &[(&str, String)],
    signer: &Tokens,
    (redis, prefix): (&mut redis::aio::MultiplexedConnection, &str),
    count: usize,
    moves: u64,
) -> Vec<Row> {
    let mut settings = replica_settings.to_vec();
    settings.push(("WAITROOM_MAX_STREAMS", (count + 100).to_string()));
    let server = start_server("--serve-replica", &settings);
    let base = format!("http://{}", server.address);
    let admin = Client::new(&base).with_admin_token(crate::ADMIN_TOKEN);
    super::released_by_hand(&admin, "streams").await;
    fill(redis, prefix, "streams", count as u64 + moves + 1).await;
    let event = LineId::from(EventId::parse("streams").expect("an event"));
    let now = waitroom::clock::unix_s();
    // Each stream's visitor waits behind every move the run makes.
    let tokens: Vec<String> = (0..count as u64)
        .map(|n| {
            signer
                .sign(
                    TokenKind::Waiting,
                    &event,
                    &VisitorId::generate(),
                    moves + 1 + n,
                    now,
                    3_600,
                )
                .0
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_bytes(server.pid);

    // One task per stream: it reports each status it reads, with when it read it.
    let (seen, mut arrivals) = mpsc::unbounded_channel::<(u64, Instant)>();
    let opened = Arc::new(Barrier::new(count + 1));
    let mut readers = tokio::task::JoinSet::new();
    let opening = Arc::new(tokio::sync::Semaphore::new(OPENING_AT_ONCE));
    for token in tokens {
        let (seen, opened, opening) = (seen.clone(), opened.clone(), opening.clone());
        let client = Client::new(&base);
        readers.spawn(async move {
            let permit = opening.acquire_owned().await.expect("open");
            let stream = client.stream("streams", &token).await;
            drop(permit);
            let Ok(mut stream) = stream else {
                opened.wait().await;
                return false;
            };
            // The opening status, then every move.
            let first = stream.next(Duration::from_secs(60)).await.is_some();
            opened.wait().await;
            while let Some((_, status)) = stream.next(Duration::from_secs(30)).await {
                if let Some(pointer) = status["admitted_through"].as_u64() {
                    let _ = seen.send((pointer, Instant::now()));
                }
            }
            first
        });
    }
    drop(seen);
    opened.wait().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_open = rss_bytes(server.pid);
    let per_stream = rss_open.saturating_sub(rss_before) as f64 / count as f64;

    let mut delays = hdrhistogram::Histogram::<u64>::new(3).expect("a histogram");
    let mut missing = 0;
    for pointer in 1..=moves {
        let sent = Instant::now();
        admin.advance("streams", 1).await.expect("advance");
        let mut told = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while told < count {
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Some((at, when))) if at == pointer => {
                    let _ = delays.record(when.duration_since(sent).as_micros() as u64);
                    told += 1;
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        missing += (count - told) as u64;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    readers.abort_all();
    vec![
        Row::figure(
            &format!("SSE memory ({count} streams)"),
            per_stream,
            "bytes/stream",
            format!(
                "server RSS {} MB with no stream, {} MB with {count} open",
                rss_before / 1_000_000,
                rss_open / 1_000_000
            ),
        ),
        Row {
            p50_us: Some(delays.value_at_quantile(0.5)),
            p99_us: Some(delays.value_at_quantile(0.99)),
            p999_us: Some(delays.value_at_quantile(0.999)),
            errors: missing,
            ..Row::figure(
                &format!("SSE fan-out ({count} streams)"),
                moves as f64,
                "moves",
                format!(
                    "admin advance -> the new status read on every stream (this program's client, on the same cores); {} deliveries",
                    delays.len()
                ),
            )
        },
    ]
}

/// What `count` open event streams cost actix-web itself: the ceiling server's `/stream`, which
/// sends one comment and then nothing, held open by this program.
pub async fn bare_stream_memory(server: &crate::servers::Server, count: usize) -> Row {
    let before = rss_bytes(server.pid);
    let url = format!("http://{}/stream", server.address);
    let opening = Arc::new(tokio::sync::Semaphore::new(OPENING_AT_ONCE));
    let opened = Arc::new(Barrier::new(count + 1));
    let mut holders = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (url, opening, opened) = (url.clone(), opening.clone(), opened.clone());
        holders.spawn(async move {
            let permit = opening.acquire_owned().await.expect("open");
            let response = reqwest::get(&url).await;
            drop(permit);
            let mut response = response.ok();
            if let Some(response) = response.as_mut() {
                let _ = response.chunk().await;
            }
            opened.wait().await;
            // Held open until the scenario ends.
            std::future::pending::<()>().await;
            drop(response);
        });
    }
    opened.wait().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_bytes(server.pid);
    holders.abort_all();
    Row::figure(
        &format!("bare actix-web stream memory ({count} streams)"),
        after.saturating_sub(before) as f64 / count as f64,
        "bytes/stream",
        "the ceiling server's own cost of an open event stream (its connection buffers and state)"
            .into(),
    )
}

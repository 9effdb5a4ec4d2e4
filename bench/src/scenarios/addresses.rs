//! Per-address state under a spray of addresses: a replica behind a trusted proxy gets joins each
//! from an address of its own (`X-Forwarded-For`), for a closed event (each join's limit is
//! counted, then the join is refused: no place is taken, so only the limiters can grow). What the
//! per-address limits cost the replica's memory, at the peak and once the spray is over.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use waitroom::client::Client;
use waitroom::domain::{Patch, RateLimits};

use super::streams::rss_bytes;
use crate::report::Row;
use crate::servers::start_server;

/// Connections the spray keeps busy.
const SPRAYERS: u64 = 16;

pub async fn addresses(replica_settings: &[(&str, String)], count: u64) -> Vec<Row> {
    // A replica of its own on the embedded store: nothing else in its memory moves meanwhile.
    // The bench's replicas trust 127.0.0.1 as their proxy: the forwarded address is the client's.
    let settings: Vec<(&str, String)> = replica_settings
        .iter()
        .filter(|(name, _)| !matches!(*name, "WAITROOM_REDIS_URL" | "WAITROOM_REDIS_PREFIX"))
        .cloned()
        .collect();
    let server = start_server("--serve-replica", &settings);
    let admin =
        Client::new(&format!("http://{}", server.address)).with_admin_token(crate::ADMIN_TOKEN);
    let closed = Patch::default()
        .with("state", "closed")
        .with("rate_limits", RateLimits::default());
    admin.put_event("sprayed", &closed).await.expect("an event");
    let url = admin.url("/v1/events/sprayed/join");
    // Warm: the replica's pools and the limiters' first table.
    for n in 0..2_000u64 {
        spray_one(&reqwest::Client::new(), &url, u32::MAX - n as u32).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_bytes(server.pid);

    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let sprayers: Vec<_> = (0..SPRAYERS)
        .map(|_| {
            let (next, url) = (next.clone(), url.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        break;
                    }
                    spray_one(&client, &url, n as u32).await;
                }
            })
        })
        .collect();
    let mut peak = before;
    while !sprayers.iter().all(|s| s.is_finished()) {
        peak = peak.max(rss_bytes(server.pid));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = started.elapsed();
    peak = peak.max(rss_bytes(server.pid));
    // Requests from one address after the spray's limits recovered: they run the sweep of the
    // addresses whose limits are full again (every 65,536 checks).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let client = reqwest::Client::new();
    let mut limited = 0;
    for _ in 0..70_000u64 {
        limited += u64::from(spray_one(&client, &url, u32::MAX).await == Some(429));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_bytes(server.pid);
    let mb = |bytes: u64| bytes as f64 / 1e6;
    vec![Row::figure(
        &format!("per-address state, {count} addresses"),
        mb(peak.saturating_sub(before)),
        "MB at the peak",
        format!(
            "{count} joins of a closed event, each from its own forwarded address, in {:.0} s ({:.0}/s): replica RSS {:.0} MB before, {:.0} MB at the peak, {:.0} MB after the limits recovered and 70,000 checks from one address ({limited} of them refused 429: the limits count)",
            took.as_secs_f64(),
            count as f64 / took.as_secs_f64(),
            mb(before),
            mb(peak),
            mb(after),
        ),
    )]
}

/// One join from the address numbered `n` (an IPv4 address of its own for each `n`): its status.
async fn spray_one(client: &reqwest::Client, url: &str, n: u32) -> Option<u16> {
    let address = std::net::Ipv4Addr::from(n.wrapping_add(0x0b00_0000));
    let answer = client
        .post(url)
        .header("x-forwarded-for", address.to_string())
        .send()
        .await;
    answer.ok().map(|answer| answer.status().as_u16())
}

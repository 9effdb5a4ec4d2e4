//! Propagation: from an admin's advance to a browser's stream on every replica.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use waitroom::client::{Client, EventStream};

use crate::report::Row;

/// Time from an admin advance to every replica's cached pointer showing it, seen through each
/// replica's push stream.
pub async fn propagation(admin: &Client, replicas: &[SocketAddr], rounds: usize) -> Row {
    super::released_by_hand(admin, "prop").await;
    let mut last = String::new();
    for _ in 0..(rounds + 10) {
        last = super::joined(admin, "prop").await;
    }
    let mut streams = Vec::new();
    for replica in replicas {
        let client = Client::new(&format!("http://{replica}"));
        streams.push(client.stream("prop", &last).await.expect("a stream"));
    }
    // Skip the opening status of every stream.
    for stream in &mut streams {
        next_pointer(stream).await;
    }
    let mut delays = hdrhistogram::Histogram::<u64>::new(3).expect("a histogram");
    let mut errors = 0;
    for round in 1..=rounds as u64 {
        let sent = Instant::now();
        admin.advance("prop", 1).await.expect("advance");
        for stream in &mut streams {
            match next_pointer(stream).await {
                Some(pointer) if pointer >= round => {
                    let _ = delays.record(sent.elapsed().as_micros() as u64);
                }
                _ => errors += 1,
            }
        }
    }
    Row {
        p50_us: Some(delays.value_at_quantile(0.5)),
        p99_us: Some(delays.value_at_quantile(0.99)),
        p999_us: Some(delays.value_at_quantile(0.999)),
        errors,
        ..Row::figure(
            &format!("propagation ({} replicas)", replicas.len()),
            rounds as f64,
            "advances",
            "admin advance -> pushed to a browser on every replica".into(),
        )
    }
}

/// The `admitted_through` of the next status event on an SSE stream, within 2 seconds.
async fn next_pointer(stream: &mut EventStream) -> Option<u64> {
    let (_, data) = stream.next(Duration::from_secs(2)).await?;
    data["admitted_through"].as_u64()
}

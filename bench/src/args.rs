//! The command line.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "waitroom-bench",
    about = "Benchmarks waitroom against this machine's HTTP ceiling"
)]
pub struct Args {
    /// A few seconds and small numbers: checks that the harness works, measures nothing.
    #[arg(long)]
    pub smoke: bool,
    /// Seconds per load scenario.
    #[arg(long, default_value_t = 8)]
    pub duration_s: u64,
    /// Keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// HTTP workers of the ceiling server and of each waitroom replica.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Replicas for the propagation scenario.
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Visitors already queued for the second join scenario and the memory figure.
    #[arg(long, default_value_t = 1_000_000)]
    pub queued: u64,
    /// Admitted visitors pushed through the Kafka sink in the drain scenario.
    #[arg(long, default_value_t = 200_000)]
    pub drain_visitors: u64,
    /// Use this Redis instead of starting one (its data under the `bench` prefix is replaced).
    #[arg(long)]
    pub redis_url: Option<String>,
    /// Run only the ceiling and these scenarios (comma-separated: status, gate, join, flood, leavers, propagation, drain, draw, idle, cluster, tokens, streams, events, addresses, challenge, bots, simulate).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Internal: run as one waitroom replica (`waitroom serve`, configured from `WAITROOM_*`).
    #[arg(long, hide = true)]
    pub serve_replica: bool,
    /// Internal: run as the ceiling server on this port.
    #[arg(long, hide = true)]
    pub serve_ceiling: Option<u16>,
}

impl Args {
    pub fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

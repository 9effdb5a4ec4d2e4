//! `waitroom-bench`: measures waitroom against the HTTP ceiling of this machine, in one run.
//!
//! It starts its own redis-server (or uses `--redis-url`), a bare actix-web server (the ceiling) and
//! waitroom replicas, each in its own process; drives load over loopback with keep-alive connections;
//! and prints each scenario's rate, latency and ratio to the ceiling. See docs/BENCHMARKS.md.
//!
//! Layout: [`args`] (the command line), [`servers`] (the processes), [`load`] (the load generator),
//! [`measure`] (a scenario's run and its CPU), [`scenarios`] (what is measured), [`redis_stats`]
//! (what is read from Redis directly), [`report`] (the table).

mod args;
mod load;
mod measure;
mod redis_stats;
mod report;
mod scenarios;
mod servers;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use hyper::{Method, StatusCode};
use waitroom::client::Client;
use waitroom::domain::random_token_id;
use waitroom::keys::KeySet;
use waitroom::token::Tokens;

use crate::args::Args;
use crate::load::Simple;
use crate::measure::{measure, Ceiling, CpuSpent};
use crate::report::{print_table, Row};
use crate::servers::{serve_ceiling, start_redis, start_server};

/// The allocator of the `waitroom` binary, for the replicas this program runs (and, for a like
/// comparison, for the ceiling and the load generator too).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.serve_replica {
        return waitroom::cli::run(waitroom::cli::Cli::parse_from(["waitroom", "serve"])).await;
    }
    if let Some(port) = args.serve_ceiling {
        return match serve_ceiling(port, args.workers).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ceiling: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.smoke {
        args.duration_s = 1;
        args.connections = args.connections.min(8);
        args.queued = args.queued.min(10_000);
        args.drain_visitors = args.drain_visitors.min(5_000);
    }
    let duration = Duration::from_secs(args.duration_s);
    let started = Instant::now();
    println!(
        "waitroom-bench: {} s per scenario, {} connections, {} workers, {} cores",
        args.duration_s,
        args.connections,
        args.workers,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );

    let (_redis_process, redis_url) = match &args.redis_url {
        Some(url) => (None, url.clone()),
        None => {
            let (daemon, url) = start_redis();
            (Some(daemon), url)
        }
    };
    let prefix = format!("bench{}", &random_token_id()[..6]);
    let mut redis = redis::Client::open(redis_url.as_str())
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis reachable");

    // Replicas run as deployed: JSON logs at `info` (to a file), their own runtime and process.
    let secret = waitroom::keys::generate_key_file_contents();
    let replica_settings = [
        ("WAITROOM_WORKERS", args.workers.to_string()),
        ("WAITROOM_REDIS_URL", redis_url.clone()),
        ("WAITROOM_REDIS_PREFIX", prefix.clone()),
        ("WAITROOM_ADMIN_TOKEN", ADMIN_TOKEN.into()),
        ("WAITROOM_SIGNING_KEYS__BENCH", secret.trim().to_owned()),
        ("WAITROOM_DEMO_EVENT", "false".into()),
        // The flood scenario's address comes in X-Forwarded-For, as behind a load balancer.
        ("WAITROOM_TRUSTED_PROXIES", "127.0.0.1".into()),
        ("WAITROOM_DRAIN_IN_SERVE", "false".into()),
        ("WAITROOM_LOG_FORMAT", "json".into()),
        ("RUST_LOG", "info".into()),
    ];

    let mut rows = Vec::new();
    let host = "127.0.0.1".to_owned();

    let ceiling_server = start_server(
        &format!("--serve-ceiling {{port}} --workers {}", args.workers),
        &[],
    );
    let shape = Arc::new(Simple::new(Method::GET, "/", &[], &host, |s| {
        s == StatusCode::OK
    }));
    let (ceiling, cpu, _) = measure(
        &ceiling_server,
        args.connections,
        duration,
        shape.clone(),
        "ceiling",
        None,
    )
    .await;
    let ceiling_server = Ceiling {
        server: ceiling_server,
        shape: shape.clone(),
    };
    rows.push(Row::from_load(
        "ceiling (bare actix-web)",
        &ceiling,
        CpuSpent { redis: None, ..cpu },
        "2-byte body, measured first".into(),
    ));

    let replicas: Vec<_> = (0..args.replicas.max(1))
        .map(|_| start_server("--serve-replica", &replica_settings))
        .collect();
    let admin =
        Client::new(&format!("http://{}", replicas[0].address)).with_admin_token(ADMIN_TOKEN);
    let servers = (&replicas[0], &ceiling_server);

    let keys =
        KeySet::from_pairs([("bench", secret.trim())], Some("bench")).expect("the bench's key");
    let signer = Tokens::new(&keys, "waitroom");
    if args.runs("status") || args.runs("gate") {
        scenarios::status::status_and_gate(&args, &admin, &signer, servers, &mut redis, &mut rows)
            .await;
    }
    if args.runs("flood") {
        scenarios::flood::flood(&args, &admin, servers, &mut redis, &mut rows).await;
    }
    if args.runs("leavers") {
        let store = (&mut redis, prefix.as_str());
        scenarios::leavers::leavers(&args, &admin, &signer, servers, store, &mut rows).await;
    }
    if args.runs("join") {
        let store = (&mut redis, prefix.as_str());
        scenarios::join::joins(&args, &admin, servers, store, &keys, &mut rows).await;
    }
    if args.runs("propagation") {
        let addresses: Vec<SocketAddr> = replicas.iter().map(|r| r.address).collect();
        let rounds = if args.smoke { 5 } else { 100 };
        rows.push(scenarios::propagation::propagation(&admin, &addresses, rounds).await);
    }
    if args.runs("streams") {
        let (count, moves) = if args.smoke { (200, 2) } else { (10_000, 5) };
        let store = (&mut redis, prefix.as_str());
        let settings = &replica_settings;
        rows.extend(scenarios::streams::streams(settings, &signer, store, count, moves).await);
        let bare = &ceiling_server.server;
        rows.push(scenarios::streams::bare_stream_memory(bare, count).await);
    }
    if args.runs("tokens") {
        let count = if args.smoke { 1_000 } else { 100_000 };
        rows.extend(scenarios::tokens::cold_checks(secret.trim(), count));
    }
    if args.runs("simulate") {
        let people = if args.smoke { 10_000 } else { 1_000_000 };
        rows.push(scenarios::simulate::simulate(people));
    }
    if args.runs("challenge") {
        let (issued, costs, solves): (u32, &[u32], u32) = if args.smoke {
            (100, &[1, 10], 1)
        } else {
            (10_000, &[1, 10, 100, 1_000, 10_000], 3)
        };
        rows.extend(scenarios::challenge::challenges(
            secret.trim(),
            issued,
            costs,
            solves,
        ));
    }
    if args.runs("bots") {
        let (crowd, costs): (_, &[u32]) = if args.smoke {
            let window = Duration::from_secs(2);
            (
                scenarios::bots::Crowd {
                    people: 300,
                    window,
                },
                &[10],
            )
        } else {
            let window = Duration::from_secs(20);
            (
                scenarios::bots::Crowd {
                    people: 10_000,
                    window,
                },
                &[1_000, 10_000],
            )
        };
        let bases: Vec<String> = replicas
            .iter()
            .map(|r| format!("http://{}", r.address))
            .collect();
        rows.extend(scenarios::bots::bots(&bases, &admin, &keys, &crowd, costs).await);
    }
    if args.runs("cluster") {
        scenarios::cluster::cluster_joins(&args, &replica_settings, servers, &mut rows).await;
    }
    if args.runs("events") {
        let (embedded, on_redis) = if args.smoke {
            (500, 200)
        } else {
            (100_000, 10_000)
        };
        let window = Duration::from_secs(if args.smoke { 2 } else { 10 });
        let settings = &replica_settings;
        rows.extend(scenarios::events::many_events(settings, embedded, false, window).await);
        rows.extend(scenarios::events::many_events(settings, on_redis, true, window).await);
    }
    if args.runs("idle") {
        let counts: &[usize] = if args.smoke { &[10] } else { &[100, 1_000] };
        let window = Duration::from_secs(if args.smoke { 2 } else { 10 });
        let settings = &replica_settings;
        rows.extend(scenarios::idle::idle(settings, 3, counts, window).await);
    }
    if args.runs("addresses") {
        let count = if args.smoke { 10_000 } else { 1_000_000 };
        rows.extend(scenarios::addresses::addresses(&replica_settings, count).await);
    }
    if args.runs("draw") {
        let entries = if args.smoke { 1_000 } else { 100_000 };
        rows.extend(scenarios::draw::draw(&redis_url, &prefix, entries).await);
        rows.extend(scenarios::draw::random_releases(&redis_url, &prefix, entries).await);
    }
    if args.runs("drain") {
        let visitors = args.drain_visitors;
        rows.push(scenarios::drain::drain(&redis_url, &prefix, &mut redis, visitors).await);
    }

    // Measured again at the end: this machine's pace drifts, and ratios use the faster of the two,
    // so they are never flattered by a slow ceiling run.
    let (again, cpu, _) = measure(
        &ceiling_server.server,
        args.connections,
        duration,
        shape,
        "ceiling again",
        None,
    )
    .await;
    rows.push(Row::from_load(
        "ceiling again",
        &again,
        CpuSpent { redis: None, ..cpu },
        "measured last".into(),
    ));
    let ceiling_rate = ceiling.per_second().max(again.per_second());

    println!();
    print_table(&rows, ceiling_rate);
    println!("\ncompleted in {:.0} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}

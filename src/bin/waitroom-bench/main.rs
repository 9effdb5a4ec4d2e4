//! `waitroom-bench`: measures waitroom against the HTTP ceiling of this machine, in one run.
//!
//! It starts its own redis-server (or uses `--redis-url`), a bare actix-web server (the ceiling) and
//! waitroom replicas in this process, drives load over loopback with keep-alive connections, and
//! prints each scenario's rate, latency and ratio to the ceiling. See docs/BENCHMARKS.md.

mod load;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpServer};
use clap::Parser;
use hyper::{Method, StatusCode};
use redis::AsyncCommands;
use serde_json::{json, Value};
use waitroom::domain::{random_token_id, EventId, VisitorId};
use waitroom::drain::{DrainSettings, DrainWorker};
use waitroom::keys::KeySet;
use waitroom::sink::KafkaSink;
use waitroom::store::{RedisStore, Store};
use waitroom::token::{TokenKind, Tokens};

use crate::load::{drive, Outcome, Simple};

/// The allocator of the `waitroom` binary, for the replicas this program runs (and, for a like
/// comparison, for the ceiling and the load generator too).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "waitroom-bench",
    about = "Benchmarks waitroom against this machine's HTTP ceiling"
)]
struct Args {
    /// A few seconds and small numbers: checks that the harness works, measures nothing.
    #[arg(long)]
    smoke: bool,
    /// Seconds per load scenario.
    #[arg(long, default_value_t = 8)]
    duration_s: u64,
    /// Keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// HTTP workers of the ceiling server and of each waitroom replica.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Replicas for the propagation scenario.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Visitors already queued for the second join scenario and the memory figure.
    #[arg(long, default_value_t = 1_000_000)]
    queued: u64,
    /// Admitted visitors pushed through the Kafka sink in the drain scenario.
    #[arg(long, default_value_t = 200_000)]
    drain_visitors: u64,
    /// Use this Redis instead of starting one (its data under the `bench` prefix is replaced).
    #[arg(long)]
    redis_url: Option<String>,
    /// Run only the ceiling and these scenarios (comma-separated: status, gate, join, propagation, drain).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Internal: run as one waitroom replica (`waitroom serve`, configured from `WAITROOM_*`).
    #[arg(long, hide = true)]
    serve_replica: bool,
    /// Internal: run as the ceiling server on this port.
    #[arg(long, hide = true)]
    serve_ceiling: Option<u16>,
}

impl Args {
    fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

struct Row {
    scenario: String,
    rate: f64,
    unit: &'static str,
    p50_us: Option<u64>,
    p99_us: Option<u64>,
    p999_us: Option<u64>,
    errors: u64,
    /// CPU time per request of the server and of the load generator, in microseconds.
    cpu_us: Option<(f64, f64)>,
    /// The ceiling's rate in the slices alternating with this scenario's, when measured so.
    ceiling: Option<f64>,
    note: String,
}

impl Row {
    fn from_load(scenario: &str, outcome: &Outcome, cpu: CpuSpent, mut note: String) -> Self {
        let requests = outcome.requests.max(1) as f64;
        if let Some(redis) = cpu.redis.filter(|r| !r.is_zero()) {
            note.push_str(&format!(
                "; Redis CPU {:.1} µs/request",
                redis.as_micros() as f64 / requests
            ));
        }
        Self {
            scenario: scenario.to_owned(),
            rate: outcome.per_second(),
            unit: "req/s",
            p50_us: Some(outcome.micros(0.5)),
            p99_us: Some(outcome.micros(0.99)),
            p999_us: Some(outcome.micros(0.999)),
            errors: outcome.errors,
            cpu_us: Some((
                cpu.server.as_micros() as f64 / requests,
                cpu.load.as_micros() as f64 / requests,
            )),
            ceiling: None,
            note,
        }
    }

    fn figure(scenario: &str, rate: f64, unit: &'static str, note: String) -> Self {
        Self {
            scenario: scenario.to_owned(),
            rate,
            unit,
            p50_us: None,
            p99_us: None,
            p999_us: None,
            errors: 0,
            cpu_us: None,
            ceiling: None,
            note,
        }
    }
}

/// CPU time spent while a scenario ran.
struct CpuSpent {
    server: Duration,
    load: Duration,
    /// The bench's own redis-server, when it started one.
    redis: Option<Duration>,
}

/// The redis-server this run started, for its CPU time.
static REDIS_PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// User plus system time of a process, from `/proc/<pid>/stat` (Linux only; elsewhere it reads
/// zero, and so do the CPU columns).
fn cpu_time(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split(' ').collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // Linux reports in USER_HZ, 100 per second on every mainstream architecture.
    Duration::from_millis(ticks * 10)
}

/// The ceiling server and its request, for scenarios measured against it.
struct Ceiling {
    server: Server,
    shape: Arc<dyn load::Shape>,
}

/// Runs a load scenario and accounts for the CPU it took on each side. With a `ceiling`, the
/// scenario runs in one-second slices alternating with the ceiling's, so that the machine's drift
/// (its pace moved by a third within a minute here) weighs on both alike; the ceiling's rate over
/// its slices comes back too.
async fn measure(
    server: &Server,
    connections: usize,
    duration: Duration,
    shape: Arc<dyn load::Shape>,
    label: &str,
    ceiling: Option<&Ceiling>,
) -> (Outcome, CpuSpent, Option<f64>) {
    let own = std::process::id();
    let redis = || REDIS_PID.get().map(|pid| cpu_time(*pid));
    let slice = Duration::from_secs(1).min(duration);
    let slices = match ceiling {
        Some(_) => (duration.as_secs_f64() / slice.as_secs_f64()).ceil() as u64,
        None => 1,
    };
    let progress = load::progress_bar(label, slices);
    let (mut outcome, mut baseline) = (Outcome::default(), Outcome::default());
    let mut spent = CpuSpent {
        server: Duration::ZERO,
        load: Duration::ZERO,
        redis: REDIS_PID.get().map(|_| Duration::ZERO),
    };
    for _ in 0..slices {
        if let Some(ceiling) = ceiling {
            let shape = ceiling.shape.clone();
            baseline.absorb(drive(ceiling.server.address, connections, slice, shape, None).await);
        }
        let before = (cpu_time(server.pid), cpu_time(own), redis());
        let length = if ceiling.is_some() { slice } else { duration };
        let part = drive(server.address, connections, length, shape.clone(), None).await;
        let after = (cpu_time(server.pid), cpu_time(own), redis());
        spent.server += after.0.saturating_sub(before.0);
        spent.load += after.1.saturating_sub(before.1);
        if let (Some(total), Some(a), Some(b)) = (spent.redis.as_mut(), after.2, before.2) {
            *total += a.saturating_sub(b);
        }
        outcome.absorb(part);
        progress.inc(1);
        progress.set_message(format!("{:.0} req/s", outcome.per_second()));
    }
    progress.finish_and_clear();
    let ceiling_rate = ceiling.map(|_| baseline.per_second());
    (outcome, spent, ceiling_rate)
}

/// A child process stopped when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("nothing listens on port {port}");
}

async fn start_redis() -> (Daemon, String) {
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (scripts/install-test-deps.sh)");
    wait_for_port(port).await;
    let _ = REDIS_PID.set(child.id());
    (Daemon(child), format!("redis://127.0.0.1:{port}/0"))
}

/// The HTTP ceiling: actix-web answering two bytes, with the same worker count as waitroom.
async fn serve_ceiling(port: u16, workers: usize) -> std::io::Result<()> {
    HttpServer::new(|| App::new().route("/", web::get().to(|| async { "ok" })))
        .workers(workers)
        .bind(("127.0.0.1", port))?
        .run()
        .await
}

/// A server under load, in its own process: a waitroom replica or the ceiling. Both are this
/// program run again, a replica as `waitroom serve` (the same code, with its own runtime and
/// logging) configured through `WAITROOM_*` variables.
struct Server {
    address: SocketAddr,
    pid: u32,
    _process: Daemon,
}

async fn start_server(args: &[String], settings: &[(&str, String)]) -> Server {
    let port = free_port();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{port}", &port.to_string()))
        .collect();
    let log_path = std::env::temp_dir().join(format!("waitroom-bench-server-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("a server log file");
    let mut child = Command::new(std::env::current_exe().expect("the bench's own path"))
        .args(&args)
        .envs(settings.iter().map(|(key, value)| (key, value)))
        .env("WAITROOM_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("a server process");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("the server stopped ({status}):\n{log}");
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Server {
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        pid: child.id(),
        _process: Daemon(child),
    }
}

struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("admin call");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("JSON")
    }

    async fn event(&self, event: &str, settings: Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("/v1/admin/events/{event}"),
            settings,
        )
        .await;
    }

    async fn advance(&self, event: &str, by: u64) -> Value {
        let path = format!("/v1/admin/events/{event}/advance");
        self.call(reqwest::Method::POST, &path, json!({ "by": by }))
            .await
    }

    async fn join(&self, event: &str) -> String {
        let response = self
            .http
            .post(format!("{}/v1/events/{event}/join", self.base))
            .send()
            .await
            .expect("join");
        let body: Value = response.json().await.expect("JSON");
        body["token"].as_str().expect("a token").to_owned()
    }
}

/// Lines up `count` visitors the way joins record them, pipelined, for the big-queue figures.
async fn fill(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    event: &str,
    count: u64,
) {
    let line = format!("{prefix}:{{{event}}}:line");
    let now = chrono::Utc::now().timestamp_millis();
    let mut written = 0;
    while written < count {
        let chunk = (count - written).min(1_000);
        let entries: Vec<String> = (0..chunk)
            .map(|_| format!("v_{} {now}", random_token_id()))
            .collect();
        let _: () = redis.rpush(&line, entries).await.expect("RPUSH");
        written += chunk;
    }
    let _: () = redis
        .incr(format!("{prefix}:{{{event}}}:issued"), count)
        .await
        .expect("INCRBY");
}

async fn info_field(
    redis: &mut redis::aio::MultiplexedConnection,
    section: &str,
    field: &str,
) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query_async(redis)
        .await
        .expect("INFO");
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `INFO commandstats` as command -> calls.
async fn command_calls(
    redis: &mut redis::aio::MultiplexedConnection,
) -> std::collections::BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(redis)
        .await
        .expect("INFO");
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

fn command_delta(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> (u64, String) {
    let mut total = 0;
    let mut parts = Vec::new();
    for (name, calls) in after {
        let delta = calls - before.get(name).copied().unwrap_or(0);
        // INFO itself is the harness's own call.
        if delta > 0 && name != "info" {
            total += delta;
            parts.push(format!("{name} {delta}"));
        }
    }
    (total, parts.join(", "))
}

fn expect_2xx(status: StatusCode) -> bool {
    status.is_success()
}

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
            let (daemon, url) = start_redis().await;
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
        (
            "WAITROOM_ADMIN_TOKEN",
            "bench-admin-token-0123456789".into(),
        ),
        ("WAITROOM_SIGNING_KEYS__BENCH", secret.trim().to_owned()),
        ("WAITROOM_DEMO_EVENT", "false".into()),
        ("WAITROOM_DRAIN_IN_SERVE", "false".into()),
        ("WAITROOM_LOG_FORMAT", "json".into()),
        ("RUST_LOG", "info".into()),
    ];

    let mut rows = Vec::new();
    let host = "127.0.0.1".to_owned();

    // Ceiling.
    let ceiling_server = start_server(
        &[
            "--serve-ceiling".into(),
            "{port}".into(),
            "--workers".into(),
            args.workers.to_string(),
        ],
        &[],
    )
    .await;
    let shape = Arc::new(Simple::new(Method::GET, "/", &[], &host, expect_2xx));
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

    // waitroom replicas on one Redis.
    let mut replicas = Vec::new();
    for _ in 0..args.replicas.max(1) {
        replicas.push(start_server(&["--serve-replica".into()], &replica_settings).await);
    }
    let primary = replicas[0].address;
    let admin = Admin {
        http: reqwest::Client::new(),
        base: format!("http://{primary}"),
        token: "bench-admin-token-0123456789".into(),
    };

    if args.runs("status") || args.runs("gate") {
        let servers = (&replicas[0], &ceiling_server);
        let keys =
            KeySet::from_pairs([("bench", secret.trim())], Some("bench")).expect("the bench's key");
        let signer = Tokens::new(&keys, "waitroom");
        status_and_gate(&args, &admin, &signer, servers, &mut redis, &mut rows).await;
    }

    if args.runs("join") {
        // Joins, on an empty line and on one with `queued` visitors already in it.
        admin.event("join-empty", json!({ "batch_size": 0 })).await;
        admin.event("join-full", json!({ "batch_size": 0 })).await;
        let memory_before = info_field(&mut redis, "memory", "used_memory").await;
        fill(&mut redis, &prefix, "join-full", args.queued).await;
        let memory_after = info_field(&mut redis, "memory", "used_memory").await;
        let per_visitor = memory_after.saturating_sub(memory_before) as f64 / args.queued as f64;
        for (scenario, event) in [
            ("join (empty line)", "join-empty"),
            ("join (queued line)", "join-full"),
        ] {
            let shape = Arc::new(Simple::new(
                Method::POST,
                &format!("/v1/events/{event}/join"),
                &[],
                &host,
                expect_2xx,
            ));
            let before = command_calls(&mut redis).await;
            let (outcome, cpu, baseline) = measure(
                &replicas[0],
                args.connections,
                duration,
                shape,
                scenario,
                Some(&ceiling_server),
            )
            .await;
            let after = command_calls(&mut redis).await;
            // A batch of joins is one transaction (EXEC); trusted joins would be script calls.
            let calls = |stats: &std::collections::BTreeMap<String, u64>| {
                ["exec", "evalsha", "eval"]
                    .iter()
                    .filter_map(|name| stats.get(*name))
                    .sum::<u64>()
            };
            let round_trips = calls(&after).saturating_sub(calls(&before)).max(1);
            let line = if event == "join-full" {
                format!("{} visitors queued before", args.queued)
            } else {
                "a new visitor per request".into()
            };
            let note = format!(
                "{line}; {:.1} joins per Redis call",
                outcome.requests as f64 / round_trips as f64
            );
            rows.push(Row {
                ceiling: baseline,
                ..Row::from_load(scenario, &outcome, cpu, note)
            });
        }
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

    if args.runs("propagation") {
        let addresses: Vec<SocketAddr> = replicas.iter().map(|r| r.address).collect();
        rows.push(propagation(&admin, &addresses, if args.smoke { 5 } else { 100 }).await);
    }
    if args.runs("drain") {
        rows.push(drain(&redis_url, &prefix, &mut redis, args.drain_visitors).await);
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

/// Status and gate: visitors with real tokens, half of them admitted.
async fn status_and_gate(
    args: &Args,
    admin: &Admin,
    signer: &Tokens,
    (replica, ceiling): (&Server, &Ceiling),
    redis: &mut redis::aio::MultiplexedConnection,
    rows: &mut Vec<Row>,
) {
    admin.event("bench", json!({ "batch_size": 0 })).await;
    let duration = Duration::from_secs(args.duration_s);
    let host = "127.0.0.1".to_owned();
    let mut tokens = Vec::new();
    for _ in 0..2_000 {
        tokens.push(admin.join("bench").await);
    }
    admin.advance("bench", 1_000).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Each admitted visitor collects the pass once (the one store call a visitor's status may cost),
    // so the measurement shows the steady state: status answered from the token and the cache alone.
    for token in &tokens[..1_000] {
        let _ = admin
            .http
            .get(format!("{}/v1/events/bench/status", admin.base))
            .bearer_auth(token)
            .send()
            .await;
    }
    // Waiting tokens ten times as many as the two workers remember as verified, requested in turn:
    // every check verifies a signature, as for a crowd larger than the replicas' memory of it.
    let event = EventId::parse("bench").expect("a valid event");
    let unseen: Vec<String> = (0..40_000)
        .map(|n| {
            let visitor = VisitorId::generate();
            let now = chrono::Utc::now().timestamp();
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
            "status (40,000 waiting)",
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
        let before = command_calls(redis).await;
        let shape = Arc::new(Simple::new(Method::GET, path, &chosen, &host, expect_2xx));
        if !args.runs(scenario.split(' ').next().unwrap_or_default()) {
            continue;
        }
        let (outcome, cpu, baseline) = measure(
            replica,
            args.connections,
            duration,
            shape,
            scenario,
            Some(ceiling),
        )
        .await;
        let after = command_calls(redis).await;
        let (commands, which) = command_delta(&before, &after);
        let note = format!(
            "{note}; Redis commands meanwhile, all from the replicas' 250 ms resync: {commands} ({:.5}/request; {which})",
            commands as f64 / outcome.requests.max(1) as f64
        );
        rows.push(Row {
            ceiling: baseline,
            ..Row::from_load(scenario, &outcome, cpu, note)
        });
    }
}

/// Time from an admin advance to every replica's cached pointer showing it, seen through each
/// replica's push stream.
async fn propagation(admin: &Admin, replicas: &[SocketAddr], rounds: usize) -> Row {
    admin.event("prop", json!({ "batch_size": 0 })).await;
    let mut last = String::new();
    for _ in 0..(rounds + 10) {
        last = admin.join("prop").await;
    }
    let client = reqwest::Client::new();
    let mut streams = Vec::new();
    for replica in replicas {
        let response = client
            .get(format!("http://{replica}/v1/events/prop/stream"))
            .bearer_auth(&last)
            .send()
            .await
            .expect("a stream");
        streams.push((response, String::new()));
    }
    // Skip the opening status of every stream.
    for (response, buffer) in &mut streams {
        next_pointer(response, buffer).await;
    }
    let mut delays = hdrhistogram::Histogram::<u64>::new(3).expect("a histogram");
    let mut errors = 0;
    for round in 1..=rounds as u64 {
        let sent = Instant::now();
        admin.advance("prop", 1).await;
        for (response, buffer) in &mut streams {
            match tokio::time::timeout(Duration::from_secs(2), next_pointer(response, buffer)).await
            {
                Ok(Some(pointer)) if pointer >= round => {
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

/// The `admitted_through` of the next status event on an SSE stream.
async fn next_pointer(response: &mut reqwest::Response, buffer: &mut String) -> Option<u64> {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                let value: Value = serde_json::from_str(data).ok()?;
                return value["admitted_through"].as_u64();
            }
            continue;
        }
        let chunk = response.chunk().await.ok()??;
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// Admitted visitors per second through the Kafka sink into a Kafka-protocol broker: tansu when it
/// is installed, else librdkafka's mock cluster.
async fn drain(
    redis_url: &str,
    prefix: &str,
    redis: &mut redis::aio::MultiplexedConnection,
    visitors: u64,
) -> Row {
    let event = EventId::parse("drain").expect("an id");
    let store: Arc<dyn Store> =
        Arc::new(RedisStore::connect(redis_url, prefix).await.expect("Redis"));
    store
        .put_event(
            &event,
            &waitroom::domain::EventSettings {
                batch_size: 0,
                ..Default::default()
            },
            false,
        )
        .await
        .expect("event");
    fill(redis, prefix, "drain", visitors).await;
    let _: () = redis
        .set(format!("{prefix}:{{drain}}:admitted"), visitors)
        .await
        .expect("SET");

    let (_broker, mock, brokers, kind) = match start_tansu().await {
        Some((daemon, brokers)) => (Some(daemon), None, brokers, "tansu"),
        None => {
            let mock = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
            mock.create_topic("waitroom.admitted", 3, 1).expect("topic");
            let brokers = mock.bootstrap_servers();
            (None, Some(mock), brokers, "librdkafka mock cluster")
        }
    };
    let sink = Arc::new(
        KafkaSink::new(&brokers, "waitroom.admitted", false, &Default::default())
            .expect("a producer"),
    );
    let metrics = Arc::new(waitroom::metrics::Metrics::default());
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let worker = tokio::spawn(
        DrainWorker::new(store.clone(), sink, DrainSettings::default(), metrics).run(stopping),
    );
    let mut drained = 0;
    while started.elapsed() < Duration::from_secs(120) {
        let snapshot = store
            .snapshot(&event)
            .await
            .expect("snapshot")
            .expect("event");
        drained = snapshot.figures.drained_through;
        if drained >= visitors {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(true);
    let _ = worker.await;
    drop(mock);
    Row {
        errors: visitors - drained.min(visitors),
        ..Row::figure(
            "drain",
            drained as f64 / elapsed.as_secs_f64(),
            "visitors/s",
            format!("{drained} admitted visitors into {kind}, acks=all, idempotent"),
        )
    }
}

async fn start_tansu() -> Option<(Daemon, String)> {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new("tansu")
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let daemon = Daemon(child);
    wait_for_port(port).await;
    let created = Command::new("tansu")
        .args([
            "topic",
            "create",
            "waitroom.admitted",
            "--partitions",
            "3",
            "--broker",
            &url,
        ])
        .output()
        .ok()?;
    created
        .status
        .success()
        .then(|| (daemon, format!("127.0.0.1:{port}")))
}

fn print_table(rows: &[Row], ceiling: f64) {
    println!(
        "| scenario | rate | p50 | p99 | p99.9 | errors | vs ceiling | server CPU/req | load CPU/req | notes |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let micros = |us: Option<u64>| match us {
        Some(us) if us >= 1_000 => format!("{:.1} ms", us as f64 / 1_000.0),
        Some(us) => format!("{us} µs"),
        None => "".into(),
    };
    for row in rows {
        let ratio = if row.unit == "req/s" {
            format!("{:.2}", row.rate / row.ceiling.unwrap_or(ceiling))
        } else {
            String::new()
        };
        let (server_cpu, load_cpu) = match row.cpu_us {
            Some((server, load)) => (format!("{server:.1} µs"), format!("{load:.1} µs")),
            None => Default::default(),
        };
        println!(
            "| {} | {:.0} {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.rate,
            row.unit,
            micros(row.p50_us),
            micros(row.p99_us),
            micros(row.p999_us),
            row.errors,
            ratio,
            server_cpu,
            load_cpu,
            row.note
        );
    }
}

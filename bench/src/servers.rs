//! The servers a run starts, each in its own process through the test kit: redis-server, a
//! Kafka-protocol broker, the ceiling, and waitroom replicas. The ceiling and the replicas are this
//! program run again (a replica as `waitroom serve`, the same code with its own runtime and logging),
//! so the binary measured is never stale.

use std::net::SocketAddr;

use actix_web::{web, App, HttpServer};
use waitroom_testkit::Daemon;

use crate::measure::REDIS_PID;

/// A server under load: where it listens and its process, for its CPU time.
pub struct Server {
    pub address: SocketAddr,
    pub pid: u32,
    _process: Daemon,
}

/// Starts this program again with `args` and `env` (in both, `{port}` stands for its port), its
/// log in a file under the temporary directory.
pub fn start_server(args: &str, env: &[(&str, String)]) -> Server {
    let program = std::env::current_exe().expect("the bench's own path");
    let program = program.to_str().expect("a UTF-8 path");
    let log = std::env::temp_dir().join(format!(
        "waitroom-bench-server-{}-{}.log",
        std::process::id(),
        waitroom_testkit::free_port()
    ));
    let mut env = env.to_vec();
    env.push(("WAITROOM_LISTEN", "127.0.0.1:{port}".into()));
    let process = Daemon::spawn(program, args, &env, Some(log));
    Server {
        address: process.address(),
        pid: process.pid().expect("the server runs"),
        _process: process,
    }
}

/// The bench's own redis-server, its pid noted for the Redis CPU column.
pub fn start_redis() -> (Daemon, String) {
    let redis = Daemon::redis();
    if let Some(pid) = redis.pid() {
        let _ = REDIS_PID.set(pid);
    }
    let url = redis.redis_url();
    (redis, url)
}

/// tansu with the topic the drain writes to, if tansu is installed.
pub fn start_tansu(topic: &str) -> Option<(Daemon, String)> {
    let installed = std::process::Command::new("tansu")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !installed {
        return None;
    }
    let broker = Daemon::kafka();
    broker.create_topic(topic, 3).ok()?;
    let brokers = broker.kafka_brokers();
    Some((broker, brokers))
}

/// The HTTP ceiling: actix-web answering two bytes, with the same worker count as waitroom; and
/// at `/stream`, an event stream that sends one comment and then waits forever (what an open stream
/// costs actix-web itself).
pub async fn serve_ceiling(port: u16, workers: usize) -> std::io::Result<()> {
    HttpServer::new(|| {
        App::new()
            .route("/", web::get().to(|| async { "ok" }))
            .route("/stream", web::get().to(bare_stream))
    })
    .workers(workers)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}

async fn bare_stream() -> actix_web::HttpResponse {
    let opening = futures_util::stream::once(async {
        Ok::<_, actix_web::Error>(actix_web::web::Bytes::from_static(b": open\n\n"))
    });
    let forever = futures_util::stream::pending();
    actix_web::HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(futures_util::StreamExt::chain(opening, forever))
}

//! Joins on a Redis Cluster of three primaries (started here, on the same cores) against joins on
//! the single Redis server, both spread over the same dozen events, each on a replica of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use waitroom::client::Client;

use crate::args::Args;
use crate::load::Shape;
use crate::measure::{measure, Ceiling, CpuSpent};
use crate::report::Row;
use crate::servers::{start_server, Server};

const EVENTS: usize = 12;

/// POSTs a join to each of the events in turn.
struct JoinsAcross {
    uris: Vec<Uri>,
    host: HeaderValue,
    next: AtomicUsize,
}

impl Shape for JoinsAcross {
    fn request(&self) -> Request<Empty<Bytes>> {
        let chosen = self.next.fetch_add(1, Ordering::Relaxed) % self.uris.len();
        let mut request = Request::new(Empty::new());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uris[chosen].clone();
        request
            .headers_mut()
            .insert(header::HOST, self.host.clone());
        request
    }

    fn expected(&self, status: StatusCode) -> bool {
        status == StatusCode::CREATED
    }
}

/// Joins per second across [`EVENTS`] events on the single server (through `single`, a replica of
/// it) and on a fresh three-primary cluster (through a replica started for it).
pub async fn cluster_joins(
    args: &Args,
    replica_settings: &[(&str, String)],
    (single, ceiling): (&Server, &Ceiling),
    rows: &mut Vec<Row>,
) {
    let cluster = waitroom_testkit::RedisCluster::start();
    let mut settings: Vec<(&str, String)> = replica_settings
        .iter()
        .filter(|(name, _)| *name != "WAITROOM_REDIS_URL")
        .cloned()
        .collect();
    settings.push(("WAITROOM_REDIS_URL", cluster.urls().join(",")));
    settings.push(("WAITROOM_REDIS_CLUSTER", "true".into()));
    let on_cluster = start_server("--serve-replica", &settings);

    let mut rates = Vec::new();
    for (server, label) in [
        (single, "single server"),
        (&on_cluster, "3-primary cluster"),
    ] {
        let admin =
            Client::new(&format!("http://{}", server.address)).with_admin_token(crate::ADMIN_TOKEN);
        for n in 0..EVENTS {
            super::released_by_hand(&admin, &format!("spread-{n}")).await;
        }
        let shape = Arc::new(JoinsAcross {
            uris: (0..EVENTS)
                .map(|n| format!("/v1/events/spread-{n}/join").parse().unwrap())
                .collect(),
            host: HeaderValue::from_static("127.0.0.1"),
            next: AtomicUsize::new(0),
        });
        let scenario = format!("join, {EVENTS} events, {label}");
        let duration = std::time::Duration::from_secs(args.duration_s);
        let (outcome, cpu, baseline) = measure(
            server,
            args.connections,
            duration,
            shape,
            &scenario,
            Some(ceiling),
        )
        .await;
        rates.push(outcome.per_second());
        let note = match rates.as_slice() {
            [single_rate, cluster_rate] => format!(
                "events spread over the shards; {:.2} × the single server's rate (three redis-servers on the same 2 cores)",
                cluster_rate / single_rate
            ),
            _ => "a dozen events, joins spread over them".into(),
        };
        // The Redis CPU column measures the single server only.
        let cpu = CpuSpent { redis: None, ..cpu };
        rows.push(Row {
            ceiling: baseline,
            ..Row::from_load(&scenario, &outcome, cpu, note)
        });
    }
}

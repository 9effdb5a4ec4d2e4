//! The scenarios, each measured against the ceiling or counted on its own.

pub mod addresses;
pub mod bots;
pub mod challenge;
pub mod cluster;
pub mod drain;
pub mod draw;
pub mod events;
pub mod flood;
pub mod idle;
pub mod join;
pub mod leavers;
pub mod propagation;
pub mod simulate;
pub mod status;
pub mod streams;
pub mod tokens;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hyper::{Method, StatusCode};
use waitroom::challenge::{solve, Challenges};
use waitroom::client::Client;
use waitroom::domain::{EventId, Patch, RateLimits};
use waitroom::keys::KeySet;

use crate::args::Args;
use crate::load::{Outcome, Shape, Simple};
use crate::measure::{measure, Ceiling, CpuSpent};
use crate::redis_stats::command_calls;
use crate::report::Row;
use crate::servers::Server;

/// A load scenario run against a replica in slices alternating with the ceiling, with Redis's
/// command counts before and after.
struct Measured {
    outcome: Outcome,
    cpu: CpuSpent,
    ceiling: Option<f64>,
    commands_before: BTreeMap<String, u64>,
    commands_after: BTreeMap<String, u64>,
}

impl Measured {
    async fn run(
        args: &Args,
        (replica, ceiling): (&Server, &Ceiling),
        redis: &mut redis::aio::MultiplexedConnection,
        (method, path, tokens): (Method, &str, &[String]),
        scenario: &str,
    ) -> Self {
        let shape = Arc::new(Simple::new(method, path, tokens, "127.0.0.1", expect_2xx));
        Self::run_shape(args, (replica, ceiling), redis, shape, scenario).await
    }

    /// The same with requests of any shape.
    async fn run_shape(
        args: &Args,
        (replica, ceiling): (&Server, &Ceiling),
        redis: &mut redis::aio::MultiplexedConnection,
        shape: Arc<dyn Shape>,
        scenario: &str,
    ) -> Self {
        let duration = Duration::from_secs(args.duration_s);
        let commands_before = command_calls(redis).await;
        let (outcome, cpu, baseline) = measure(
            replica,
            args.connections,
            duration,
            shape,
            scenario,
            Some(ceiling),
        )
        .await;
        Self {
            outcome,
            cpu,
            ceiling: baseline,
            commands_before,
            commands_after: command_calls(redis).await,
        }
    }

    fn row(self, scenario: &str, note: String) -> Row {
        Row {
            ceiling: self.ceiling,
            ..Row::from_load(scenario, &self.outcome, self.cpu, note)
        }
    }
}

/// Creates an event that moves only when the bench advances it.
/// The bench's load all comes from one address, so per-client rate limits are off.
async fn released_by_hand(admin: &Client, event: &str) {
    let patch = Patch::default().with("batch_size", 0).with(
        "rate_limits",
        RateLimits {
            joins_per_minute: 0,
            join_burst: 0,
            checks_per_second: 0,
            check_burst: 0,
        },
    );
    admin.put_event(event, &patch).await.expect("an event");
}

/// A new visitor's waiting token.
async fn joined(admin: &Client, event: &str) -> String {
    admin.join(event).await.expect("a join").token
}

fn expect_2xx(status: StatusCode) -> bool {
    status.is_success()
}

/// `count` solutions of challenges of `event` at `cost`, made on every core, as the visitors'
/// devices would each have solved theirs: with the server's key and few attempts, since the
/// work is the visitor's and the server checks any solution at the same cost.
fn solved_challenges(keys: &KeySet, event: &str, cost: u32, count: usize) -> Vec<String> {
    let event = EventId::parse(event).expect("an event id");
    let now = waitroom::clock::unix_s();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        let makers: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    let challenges = Challenges::new(keys).with_attempts(1);
                    (0..count.div_ceil(cores))
                        .map(|_| solve(&challenges.issue(&event, cost, now)).expect("solved"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        makers
            .into_iter()
            .flat_map(|maker| maker.join().expect("a solver thread"))
            .take(count)
            .collect()
    })
}

//! waitroom: a virtual waiting room. Visitors join a per-event line and get a signed token that carries
//! their position; an admission pointer, moved in batches, lets any replica answer "is it my turn?" from
//! the token and its cached copy of the pointer, without a store round trip.
//!
//! # Layout
//! - [`config`]: layered configuration (defaults file, config file, `WAITROOM_*` env), validated at start.
//! - [`domain`]: validated ids and event settings, parsed once at the edge.
//! - [`keys`] and [`token`]: HS256 signing keys with key ids, and the token format.
//! - [`store`]: the store trait with its Redis and embedded implementations; Lua scripts in `store/lua/`.
//! - [`cache`]: each replica's copy of every event's pointer, kept fresh by pub/sub and a short resync;
//!   [`recent`]: the two-generation memory it and the token checks keep of recent visitors.
//! - [`scheduler`]: batch release, safe with many replicas; [`estimate`]: wait estimates from the measured rate.
//! - [`drain`] and [`sink`]: forwarding every admitted visitor to Kafka (or a JSON-lines log), at least once.
//! - [`routes`] and [`problem`]: the HTTP API and its `application/problem+json` errors; joins and
//!   status and gate checks are answered in front of the actix-web app ([`routes::HotPaths`]).
//! - [`metrics`]: Prometheus metrics, per-event gauges read from the cache at scrape time.
//! - [`startup`]: wiring, with a listener the caller chooses; [`cli`]: the `waitroom` command.

pub mod cache;
pub mod cli;
pub mod config;
pub mod domain;
pub mod drain;
pub mod estimate;
pub mod keys;
pub mod metrics;
pub mod problem;
pub mod recent;
pub mod routes;
pub mod scheduler;
pub mod sink;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod token;

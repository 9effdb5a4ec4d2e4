//! waitroom: a virtual waiting room. Visitors join a per-event line and get a signed token that carries
//! their position; an admission pointer, moved in batches, lets any replica answer "is it my turn?" from
//! the token and its cached copy of the pointer, without a store round trip.
//!
//! # Layout
//! Each layer uses only the layers above it in this list (`tests/api/layout.rs` checks it):
//! 1. [`clock`] (the one wall clock), [`recent`] (a two-generation memory of recent entries) and
//!    [`i18n`] (the page's words in several languages).
//! 2. [`domain`]: ids (an event's, a visitor's, a line's: [`domain::LineId`], an event's own line or
//!    one of its lanes'), event settings, the admin view of an event, an admitted visitor:
//!    validated data, parsed once at the edge.
//! 3. [`config`] (layered configuration, validated at start), [`keys`] (signing keys with key ids),
//!    [`estimate`] (wait estimates from the measured rate) and [`limits`] (per-client rate limits,
//!    the client's address through trusted proxies).
//! 4. [`telemetry`] (logging), [`token`] (the token format), [`challenge`] (proof of work before
//!    a place: ALTCHA challenges) and [`metrics`] (Prometheus).
//! 5. [`store`]: the store trait in parts by who uses it (admin, the visitor path, sync, release,
//!    drain), with its Redis (one server or a cluster; `store/redis/` split by the same parts) and
//!    embedded implementations (Lua in `store/lua/`). The store, the cache, the scheduler and the
//!    drain work on lines.
//! 6. [`cache`] (each replica's copy of every event, kept fresh by push, with a slow sweep, and the
//!    event's [`domain::EventPolicy`] derived with its settings) and [`sink`] (Kafka or a JSON-lines
//!    log).
//! 7. [`admission`]: the rules (where a place stands, who gets a pass, who may enter) and every
//!    per-mode behaviour, one file per way of entering ([`domain::Intake`]): joins, where a token
//!    stands, releases, switching. Nothing above branches on a mode.
//! 8. [`scheduler`] (batch release, safe with many replicas), [`drain`] (forwarding every admitted
//!    visitor to the sink, at least once), [`webhooks`] (an event's turns told to the addresses it
//!    names, at least once, from any replica) and [`demo`] (the embedded default's demo line).
//! 9. [`simulate`]: a sale played through on a virtual clock with the real scheduler, admission and
//!    estimates, its summary and its HTML report.
//! 10. [`routes`]: the HTTP API: one route table, the layers every request goes through (CORS, rate
//!     limits, request ids, metrics), extractors, the one "may enter now" rule, thin handlers, the
//!     fast path, `application/problem+json` errors and the OpenAPI contract generated from it all.
//! 11. [`startup`] (wiring, on a listener the caller chooses) and [`client`] (a typed client of the
//!     admin API and of the live-update stream).
//! 12. [`cli`]: the `waitroom` command.

pub mod admission;
pub mod cache;
pub mod challenge;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod drain;
pub mod estimate;
pub mod i18n;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod recent;
pub mod routes;
pub mod scheduler;
pub mod simulate;
pub mod sink;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod token;
pub mod webhooks;

//! The Redis store: shared by every replica. Each operation that changes a line is one round trip and
//! atomic: a Lua script (`lua/`), or for a batch of anonymous joins a MULTI/EXEC transaction. Keys
//! are hash-tagged by event, `<prefix>:{event}:<name>`, so all of an event's keys live in one Redis
//! Cluster slot; changes are announced on `<prefix>:notify`. One server or a cluster: see
//! `Topology`.

mod admin;
mod drain;
mod hooks;
mod joins;
mod keys;
mod line;
mod release;
mod replies;
mod store;
mod sync;

pub use store::{durability_warnings, RedisStore};

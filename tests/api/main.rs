//! Integration tests: the real HTTP API, on the embedded store and on a real redis-server.

mod helpers;

mod admin;
mod admission;
mod browser;
mod chaos;
mod cli;
mod cluster;
mod console;
mod contract;
mod dockerfile;
mod drain;
mod edge;
mod errors;
mod failover;
mod helm;
mod join;
mod layout;
mod leave;
mod ops;
mod page;
mod passes;
mod properties;
mod random;
mod release;
mod replicas;
mod resilience;
mod scale;
mod schedule;
mod status;
mod tokens;
mod webhooks;

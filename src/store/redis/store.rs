//! The store itself: its connections, scripts and the join sender, and what its parts share.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use tokio::sync::mpsc;

use super::joins::*;
use super::keys::*;
use crate::domain::draw::{self, Seed};
use crate::domain::LineId;
use crate::store::topology::{Conn, Topology};
use crate::store::{Notification, StoreError};

/// How long joins wait after Redis turned out to be another instance, unless told otherwise.
pub(super) const DEFAULT_SETTLE: Duration = Duration::from_millis(750);

/// A pool's next release as drawn from the pool read ([`RedisStore::pool_draw`]).
pub(super) struct PoolDraw {
    /// Releases that drew from the pool before.
    pub(super) releases: u64,
    /// The highest arrival number handed out, and how many of those waited in the pool, when read.
    pub(super) arrived: u64,
    pub(super) waiting: u64,
    pub(super) picks: Vec<u64>,
}

pub struct RedisStore {
    pub(super) topology: Topology,
    pub(super) conn: Conn,
    pub(super) prefix: String,
    pub(super) channel: String,
    pub(super) joins: mpsc::UnboundedSender<PendingJoin>,
    pub(super) advance: Script,
    pub(super) leave: Script,
    pub(super) lease: Script,
    pub(super) checkpoint: Script,
    pub(super) claim: Script,
    pub(super) hold: Script,
    pub(super) complete: Script,
    pub(super) delete: Script,
    pub(super) draw_close: Script,
    pub(super) draw: Script,
    pub(super) leave_prequeue: Script,
    pub(super) join_pool: Script,
    pub(super) hook_queue: Script,
    pub(super) hook_take: Script,
    pub(super) restorer: Restorer,
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Redis(Arc::new(e))
    }
}

impl From<redis::ParsingError> for StoreError {
    fn from(e: redis::ParsingError) -> Self {
        redis::RedisError::from(e).into()
    }
}

/// What in a primary's `INFO persistence memory` puts the line at risk: an eviction policy other than
/// `noeviction` (Redis would silently drop keys under memory pressure: places, claims, the marks of
/// used passes) and AOF off (a restart loses everything since the last snapshot).
pub fn durability_warnings(info: &str) -> Vec<String> {
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let mut warnings = Vec::new();
    if let Some(policy) = field("maxmemory_policy").filter(|p| *p != "noeviction") {
        warnings.push(format!(
            "Redis evicts keys under memory pressure (maxmemory-policy {policy}): places, claims and \
             used passes could vanish silently; set maxmemory-policy noeviction"
        ));
    }
    if field("aof_enabled") == Some("0") {
        warnings.push(
            "Redis has AOF off (appendonly no): a restart loses what changed since its last \
             snapshot; set appendonly yes"
                .to_owned(),
        );
    }
    warnings
}

impl RedisStore {
    /// What in the primaries' configuration puts the line at risk ([`durability_warnings`]); empty
    /// where Redis does not say (a managed Redis may refuse `INFO`).
    pub async fn durability_warnings(&self) -> Vec<String> {
        let infos = self
            .conn
            .info_of_primaries(&["persistence", "memory"])
            .await
            .unwrap_or_default();
        let mut warnings: Vec<String> = infos
            .iter()
            .flat_map(|info| durability_warnings(info))
            .collect();
        warnings.dedup();
        warnings
    }

    /// Connects to the server at `url`; keys start with `prefix` (tests use a random one each).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        Self::open(Topology::Single(url.to_owned()), prefix, DEFAULT_SETTLE).await
    }

    /// As [`RedisStore::connect`]; after Redis turns out to be another instance (a failover, a
    /// restart), joins wait `settle` before drawing positions again, so that every replica's resync
    /// has restored what it knew (see `Restorer`). Three resync periods is enough.
    pub async fn open(
        topology: Topology,
        prefix: &str,
        settle: Duration,
    ) -> Result<Self, StoreError> {
        let conn = Conn::open(&topology).await?;
        let (joins, pending) = mpsc::unbounded_channel();
        let (issued, reaches) = mpsc::unbounded_channel();
        let channel = format!("{prefix}:notify");
        tokio::spawn(announce_joins(conn.clone(), channel.clone(), reaches));
        let restorer = Restorer {
            conn: conn.clone(),
            prefix: prefix.to_owned(),
            channel,
            issued,
            script: Script::new(include_str!("../lua/restore.lua")),
            instances: Arc::default(),
            settle,
        };
        // The primaries as they are now: a join that lands on another one later was failed over to.
        if let Ok(infos) = conn.info_of_primaries(&["replication"]).await {
            for info in infos {
                restorer.moved_to(&info);
            }
        }
        tokio::spawn(send_joins(restorer.clone(), pending));
        Ok(Self {
            topology,
            conn,
            prefix: prefix.to_owned(),
            channel: format!("{prefix}:notify"),
            joins,
            advance: Script::new(include_str!("../lua/advance.lua")),
            leave: Script::new(include_str!("../lua/leave.lua")),
            lease: Script::new(include_str!("../lua/lease.lua")),
            checkpoint: Script::new(include_str!("../lua/checkpoint.lua")),
            claim: Script::new(include_str!("../lua/claim.lua")),
            hold: Script::new(include_str!("../lua/hold.lua")),
            complete: Script::new(include_str!("../lua/complete.lua")),
            delete: Script::new(include_str!("../lua/delete.lua")),
            draw_close: Script::new(include_str!("../lua/draw_close.lua")),
            draw: Script::new(include_str!("../lua/draw.lua")),
            leave_prequeue: Script::new(include_str!("../lua/leave_prequeue.lua")),
            join_pool: Script::new(include_str!("../lua/join_pool.lua")),
            hook_queue: Script::new(include_str!("../lua/hook_queue.lua")),
            hook_take: Script::new(include_str!("../lua/hook_take.lua")),
            restorer,
        })
    }

    pub(super) fn key(&self, event: &LineId, name: &str) -> String {
        line_key(&self.prefix, event, name)
    }

    /// A closed pre-queue's `size` entries in arrival order, as published ([`draw::entry_id`]): read
    /// from the copy kept at the draw if there is a whole one (a draw done again after a loss), else
    /// from the line, which is in arrival order until drawn.
    pub(super) async fn published_entries(
        &self,
        event: &LineId,
        seed: &Seed,
        size: u64,
    ) -> Result<Vec<String>, StoreError> {
        let Some(last) = size.checked_sub(1) else {
            return Ok(Vec::new());
        };
        let last = isize::try_from(last).unwrap_or(isize::MAX);
        let (copy, line): (Vec<String>, Vec<String>) = redis::pipe()
            .lrange(self.key(event, "prequeue"), 0, -1)
            .lrange(self.key(event, "line"), 0, last)
            .query_async(&mut self.conn.clone())
            .await?;
        let entries = if copy.len() as u64 == size {
            copy
        } else {
            line
        };
        Ok(entries
            .iter()
            .map(|entry| draw::entry_id(seed, entry.split(' ').next().unwrap_or_default()))
            .collect())
    }

    /// Reads the pool at one instant (a seed is fixed first, should the store have none) and draws
    /// its next release of up to `count` ([`crate::domain::draw::release_picks`]).
    pub(super) async fn pool_draw(
        &self,
        event: &LineId,
        count: u64,
    ) -> Result<PoolDraw, StoreError> {
        let mut conn = self.conn.clone();
        let seed_key = self.key(event, "pool:seed");
        let (seed, arrived, waiting, releases): (String, Option<u64>, u64, Option<u64>) =
            redis::pipe()
                .atomic()
                .set_nx(&seed_key, Seed::generate().to_hex())
                .ignore()
                .get(&seed_key)
                .get(self.key(event, "pool:arrived"))
                .zcard(self.key(event, "pool"))
                .get(self.key(event, "pool:releases"))
                .query_async(&mut conn)
                .await?;
        let seed = Seed::parse(&seed)
            .ok_or_else(|| StoreError::Corrupt(format!("the pool seed of event `{event}`")))?;
        let releases = releases.unwrap_or(0);
        Ok(PoolDraw {
            releases,
            arrived: arrived.unwrap_or(0),
            waiting,
            picks: draw::release_picks(&seed, releases + 1, waiting, count),
        })
    }

    /// The set of event ids; a key of its own (no event to hash-tag by), only ever touched alone.
    pub(super) fn events_key(&self) -> String {
        format!("{}:events", self.prefix)
    }

    pub(super) fn publish_json(&self, notification: &Notification) -> String {
        serde_json::to_string(notification).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use crate::store::redis::durability_warnings;
    use crate::store::StoreError;

    #[test]
    fn a_redis_error_is_kept_as_the_source() {
        let refused = redis::RedisError::from((redis::ErrorKind::Io, "connection refused"));
        let error = StoreError::from(refused);
        let source = std::error::Error::source(&error).expect("the Redis error as the source");
        assert!(
            source.to_string().contains("connection refused"),
            "{source}"
        );
        assert!(error.to_string().starts_with("the store is unreachable: "));
    }

    #[test]
    fn eviction_and_no_aof_are_warned_of() {
        let risky =
            "# Persistence\r\naof_enabled:0\r\n# Memory\r\nmaxmemory_policy:allkeys-lru\r\n";
        let warned = durability_warnings(risky);
        assert_eq!(warned.len(), 2, "{warned:?}");
        assert!(warned[0].contains("allkeys-lru") && warned[0].contains("noeviction"));
        assert!(warned[1].contains("appendonly yes"));
        let safe = "aof_enabled:1\r\nmaxmemory_policy:noeviction\r\n";
        assert!(durability_warnings(safe).is_empty());
        assert!(
            durability_warnings("").is_empty(),
            "nothing said, nothing warned"
        );
    }
}

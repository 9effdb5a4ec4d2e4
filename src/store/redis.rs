//! The Redis store: shared by every replica. Each operation that changes a line is one round trip and
//! atomic: a Lua script (`lua/`), or for a batch of anonymous joins a MULTI/EXEC transaction. Keys
//! are hash-tagged by event, `<prefix>:{event}:<name>`, so all of an event's keys live in one Redis
//! Cluster slot; changes are announced on `<prefix>:notify`. One server or a cluster: see
//! [`Topology`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::{BoxStream, StreamExt};
use redis::{AsyncCommands, Script};
use tokio::sync::{mpsc, oneshot};

use super::topology::{subscribe, Conn, Topology};
use super::{AdminStore, DrainStore, LineStore, ReleaseStore, SyncStore};
use super::{
    AdvanceMode, Advanced, Capacity, Claim, DrawEntries, DrawState, Drawn, Figures, Floor, JoinAs,
    Joined, LeaseAction, Notification, Pick, PoolState, PrequeueLeave, PutMode, Snapshot,
    StoreError, COMPLETIONS_KEPT_MS, EVENT_KEYS, TOMBSTONE_MS,
};
use crate::domain::draw::{self, Seed};
use crate::domain::{Admitted, EventSettings, LineId, VisitorId};

/// How long joins wait after Redis turned out to be another instance, unless told otherwise.
const DEFAULT_SETTLE: Duration = Duration::from_millis(750);
/// Most joins sent to Redis in one transaction.
const JOIN_BATCH: usize = 256;
/// How often a release that draws at random reads the pool again when it changed under the draw
/// (a leave between the read and the script): each try is a leave away from succeeding.
const ADVANCE_ATTEMPTS: usize = 5;

/// A pool's next release as drawn from the pool read ([`RedisStore::pool_draw`]).
struct PoolDraw {
    /// Releases that drew from the pool before.
    releases: u64,
    /// The highest arrival number handed out, and how many of those waited in the pool, when read.
    arrived: u64,
    waiting: u64,
    picks: Vec<u64>,
}

pub struct RedisStore {
    topology: Topology,
    conn: Conn,
    prefix: String,
    channel: String,
    joins: mpsc::UnboundedSender<PendingJoin>,
    advance: Script,
    leave: Script,
    lease: Script,
    checkpoint: Script,
    claim: Script,
    complete: Script,
    delete: Script,
    draw_close: Script,
    draw: Script,
    leave_prequeue: Script,
    join_pool: Script,
    restorer: Restorer,
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Redis(Arc::new(e))
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
    /// has restored what it knew (see [`Restorer`]). Three resync periods is enough.
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
            script: Script::new(include_str!("lua/restore.lua")),
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
            advance: Script::new(include_str!("lua/advance.lua")),
            leave: Script::new(include_str!("lua/leave.lua")),
            lease: Script::new(include_str!("lua/lease.lua")),
            checkpoint: Script::new(include_str!("lua/checkpoint.lua")),
            claim: Script::new(include_str!("lua/claim.lua")),
            complete: Script::new(include_str!("lua/complete.lua")),
            delete: Script::new(include_str!("lua/delete.lua")),
            draw_close: Script::new(include_str!("lua/draw_close.lua")),
            draw: Script::new(include_str!("lua/draw.lua")),
            leave_prequeue: Script::new(include_str!("lua/leave_prequeue.lua")),
            join_pool: Script::new(include_str!("lua/join_pool.lua")),
            restorer,
        })
    }

    fn key(&self, event: &LineId, name: &str) -> String {
        event_key(&self.prefix, event, name)
    }

    /// A closed pre-queue's `size` entries in arrival order, as published ([`draw::entry_id`]): read
    /// from the copy kept at the draw if there is a whole one (a draw done again after a loss), else
    /// from the line, which is in arrival order until drawn.
    async fn published_entries(
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
    async fn pool_draw(&self, event: &LineId, count: u64) -> Result<PoolDraw, StoreError> {
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
    fn events_key(&self) -> String {
        format!("{}:events", self.prefix)
    }

    fn publish_json(&self, notification: &Notification) -> String {
        serde_json::to_string(notification).unwrap_or_default()
    }
}

#[async_trait]
impl AdminStore for RedisStore {
    async fn put_event(
        &self,
        event: &LineId,
        settings: &EventSettings,
        mode: PutMode,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let json =
            serde_json::to_string(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let key = self.key(event, "settings");
        // The id goes into the index first, so a crash in between leaves an indexed event without
        // settings (skipped) rather than settings nobody can find.
        let _: () = conn.sadd(self.events_key(), event.wire()).await?;
        let _: () = conn.del(self.key(event, "deleted")).await?;
        if settings.has_prequeue() {
            let _: () = conn
                .hset_nx(self.key(event, "draw"), "seed", Seed::generate().to_hex())
                .await?;
        }
        if settings.has_pool() {
            let _: () = conn
                .set_nx(self.key(event, "pool:seed"), Seed::generate().to_hex())
                .await?;
        }
        let written: bool = if mode == PutMode::CreateOnly {
            conn.set_nx(&key, json).await?
        } else {
            let _: () = conn.set(&key, json).await?;
            true
        };
        if written {
            let message = self.publish_json(&Notification::Settings {
                event: event.clone(),
            });
            let _: () = conn.publish(&self.channel, message).await?;
        }
        Ok(written)
    }

    async fn delete_event(&self, event: &LineId) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.delete.prepare_invoke();
        invocation.key(self.key(event, "deleted"));
        for name in EVENT_KEYS {
            invocation.key(self.key(event, name));
        }
        let deleted: u64 = invocation
            .arg(crate::clock::unix_ms())
            .arg(TOMBSTONE_MS)
            .arg(&self.channel)
            .arg(event.wire())
            .invoke_async(&mut conn)
            .await?;
        // After the data: a crash in between leaves an indexed event without settings (skipped).
        let unindexed: u8 = conn.srem(self.events_key(), event.wire()).await?;
        Ok(deleted > 0 || unindexed == 1)
    }
}

#[async_trait]
impl LineStore for RedisStore {
    async fn join(
        &self,
        event: &LineId,
        visitor: &VisitorId,
        who: JoinAs,
        now_ms: i64,
        floor: u64,
        pick: Pick,
    ) -> Result<Joined, StoreError> {
        let (reply, answer) = oneshot::channel();
        let pending = PendingJoin {
            event: event.clone(),
            visitor: visitor.clone(),
            who,
            now_ms,
            floor,
            pick,
            reply,
        };
        let stopped = || StoreError::Unavailable("the join sender stopped".into());
        self.joins.send(pending).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn leave(
        &self,
        event: &LineId,
        position: u64,
        visitor: &VisitorId,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let added: u8 = self
            .leave
            .key(self.key(event, "leavers"))
            .key(self.key(event, "leavers:log"))
            .key(self.key(event, "visitors"))
            .arg(position)
            .arg(visitor.as_str())
            .arg(&self.channel)
            .arg(event.wire())
            .invoke_async(&mut conn)
            .await?;
        Ok(added == 1)
    }

    async fn leave_prequeue(
        &self,
        event: &LineId,
        arrival: u64,
        visitor: &VisitorId,
    ) -> Result<PrequeueLeave, StoreError> {
        let answer: u8 = self
            .leave_prequeue
            .key(self.key(event, "draw"))
            .key(self.key(event, "prequeue:left"))
            .key(self.key(event, "pool"))
            .key(self.key(event, "pool:won"))
            .key(self.key(event, "visitors"))
            .key(self.key(event, "pool:visitors"))
            .arg(arrival)
            .arg(&self.channel)
            .arg(event.wire())
            .arg(visitor.as_str())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(if answer == 2 {
            PrequeueLeave::AlreadyDrawn
        } else {
            PrequeueLeave::Recorded
        })
    }

    async fn claim(
        &self,
        event: &LineId,
        position: u64,
        now_ms: i64,
        pass_ttl_ms: u64,
        capacity: Capacity,
    ) -> Result<Claim, StoreError> {
        let mut conn = self.conn.clone();
        let (outcome, at_ms): (u8, i64) = self
            .claim
            .key(self.key(event, "claims"))
            .key(self.key(event, "active"))
            .arg(position)
            .arg(now_ms)
            .arg(pass_ttl_ms)
            .arg(if capacity.is_limited() { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await?;
        Ok(match outcome {
            1 => Claim::Granted { at_ms },
            2 => Claim::TooLate,
            _ => Claim::Completed,
        })
    }

    async fn complete(&self, event: &LineId, position: u64) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let held: u8 = self
            .complete
            .key(self.key(event, "claims"))
            .key(self.key(event, "active"))
            .key(self.key(event, "completed"))
            .arg(position)
            .arg(&self.channel)
            .arg(event.wire())
            .arg(COMPLETIONS_KEPT_MS)
            .invoke_async(&mut conn)
            .await?;
        Ok(held == 1)
    }

    async fn consume_pass(
        &self,
        event: &LineId,
        position: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        // SET NX: atomic, so of any number of concurrent calls exactly one is first; the key goes
        // when the admission's passes would have expired anyway.
        let first: Option<String> = redis::cmd("SET")
            .arg(self.key(event, &format!("used:{position}")))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1))
            .query_async(&mut conn)
            .await?;
        Ok(first.is_some())
    }

    async fn pass_used(&self, event: &LineId, position: u64) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let used: bool = redis::cmd("EXISTS")
            .arg(self.key(event, &format!("used:{position}")))
            .query_async(&mut conn)
            .await?;
        Ok(used)
    }
}

#[async_trait]
impl SyncStore for RedisStore {
    async fn events(&self) -> Result<Vec<LineId>, StoreError> {
        let mut conn = self.conn.clone();
        let raw: Vec<String> = conn.smembers(self.events_key()).await?;
        let mut events: Vec<LineId> = raw
            .iter()
            .filter_map(|id| LineId::parse_wire(id).ok())
            .collect();
        events.sort();
        Ok(events)
    }

    async fn snapshot(&self, event: &LineId) -> Result<Option<Snapshot>, StoreError> {
        let mut conn = self.conn.clone();
        let now_ms = crate::clock::unix_ms();
        type Row = (
            Option<String>,
            Option<u64>,
            Option<u64>,
            u64,
            Option<u64>,
            u64,
            Option<u64>,
            Vec<(u64, i64)>,
        );
        let (
            settings,
            mut issued,
            mut admitted,
            left,
            drained,
            active,
            restored_at,
            last_completed,
        ): Row = redis::pipe()
            .get(self.key(event, "settings"))
            .get(self.key(event, "issued"))
            .get(self.key(event, "admitted"))
            .zcard(self.key(event, "leavers"))
            .get(self.key(event, "drained"))
            .zcount(self.key(event, "active"), format!("({now_ms}"), "+inf")
            .get(self.key(event, "restored"))
            .zrange_withscores(self.key(event, "completed"), -1, -1)
            .query_async(&mut conn)
            .await?;
        let Some(settings) = settings else {
            return Ok(None);
        };
        let settings: EventSettings = serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(format!("settings of event `{event}`: {e}")))?;
        // Read only for an event with a pre-queue: the sweep reads every event, and most have none.
        let draw = if settings.has_prequeue() {
            let stored: StoredDraw = redis::cmd("HMGET")
                .arg(self.key(event, "draw"))
                .arg(&["seed", "size", "at", "order"])
                .query_async(&mut conn)
                .await?;
            draw_state(event, stored)?
        } else {
            None
        };
        // Read only for an event that ever drew at random. The winners' log before the pointer: a
        // release moves both at once, so the pointer read is at least as far as the winners
        // counted (a winner is never read as still waiting).
        let pool = if settings.has_pool() {
            let (won, pointer, last, arrived, waiting, seed): (
                u64,
                Option<u64>,
                Option<u64>,
                Option<u64>,
                u64,
                Option<String>,
            ) = redis::pipe()
                .llen(self.key(event, "pool:won"))
                .get(self.key(event, "admitted"))
                .get(self.key(event, "issued"))
                .get(self.key(event, "pool:arrived"))
                .zcard(self.key(event, "pool"))
                .get(self.key(event, "pool:seed"))
                .query_async(&mut conn)
                .await?;
            (admitted, issued) = (pointer, last);
            Some(PoolState {
                arrived: arrived.unwrap_or(0),
                waiting,
                won,
                seed: seed.as_deref().and_then(Seed::parse),
            })
        } else {
            None
        };
        Ok(Some(Snapshot {
            settings,
            figures: Figures {
                issued: issued.unwrap_or(0),
                admitted_through: admitted.unwrap_or(0),
                left,
                drained_through: drained.unwrap_or(0),
                active,
            },
            restored_at: restored_at.unwrap_or(0),
            last_completed_ms: last_completed.first().map_or(0, |(_, at)| *at),
            draw,
            pool,
        }))
    }

    async fn restore(
        &self,
        event: &LineId,
        settings: &EventSettings,
        floor: &Floor,
    ) -> Result<bool, StoreError> {
        let json =
            serde_json::to_string(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut restored = self.restorer.restore(event, &json, floor).await?;
        if let Some((seed, drawn)) = &floor.draw {
            // The seed first: a draw is only done with the seed its commitment published.
            let key = self.key(event, "draw");
            let mut conn = self.conn.clone();
            let seeded: bool = conn.hset_nx(&key, "seed", seed.to_hex()).await?;
            let sized: bool = match drawn {
                Some((size, order_seed)) => {
                    // The order seed first: a draw done again finds it with the size.
                    let _: bool = conn.hset_nx(&key, "order", order_seed.to_hex()).await?;
                    conn.hset_nx(&key, "size", size).await?
                }
                None => false,
            };
            restored |= seeded || sized;
        }
        if floor.arrived > 0 {
            // A join of nobody above the floor: the pool's lost numbers wait in it again.
            let mut invocation = self.join_pool.prepare_invoke();
            for name in JOIN_POOL_KEYS {
                invocation.key(self.key(event, name));
            }
            let (_, _, _, padded): (u64, u8, u8, u8) = invocation
                .arg(crate::clock::unix_ms())
                .arg(floor.arrived)
                .arg(0)
                .invoke_async(&mut self.conn.clone())
                .await?;
            restored |= padded == 1;
        }
        let mut conn = self.conn.clone();
        let indexed: u8 = conn.sadd(self.events_key(), event.wire()).await?;
        restored |= indexed == 1;
        Ok(restored)
    }

    async fn won_since(&self, event: &LineId, seen: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut conn = self.conn.clone();
        let from = isize::try_from(seen).unwrap_or(isize::MAX);
        let won: Vec<String> = conn.lrange(self.key(event, "pool:won"), from, -1).await?;
        won.iter()
            .map(|entry| {
                entry
                    .split_once(':')
                    .and_then(|(arrival, position)| {
                        Some((arrival.parse().ok()?, position.parse().ok()?))
                    })
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("a winner of event `{event}` reads `{entry}`"))
                    })
            })
            .collect()
    }

    async fn leavers_since(&self, event: &LineId, seen: u64) -> Result<Vec<u64>, StoreError> {
        let mut conn = self.conn.clone();
        let from = isize::try_from(seen).unwrap_or(isize::MAX);
        Ok(conn
            .lrange(self.key(event, "leavers:log"), from, -1)
            .await?)
    }

    async fn completed_since(
        &self,
        event: &LineId,
        since_ms: i64,
    ) -> Result<Vec<(u64, i64)>, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn
            .zrangebyscore_withscores(self.key(event, "completed"), format!("({since_ms}"), "+inf")
            .await?)
    }

    async fn notifications(&self) -> Result<BoxStream<'static, Notification>, StoreError> {
        let pubsub = subscribe(&self.topology, self.channel.clone()).await?;
        Ok(pubsub
            .into_on_message()
            .filter_map(|message| async move {
                let payload: String = message.get_payload().ok()?;
                serde_json::from_str(&payload).ok()
            })
            .boxed())
    }

    async fn draw_entries(&self, event: &LineId) -> Result<Option<DrawEntries>, StoreError> {
        let mut conn = self.conn.clone();
        let (size, at): (Option<u64>, Option<i64>) = redis::cmd("HMGET")
            .arg(self.key(event, "draw"))
            .arg(&["size", "at"])
            .query_async(&mut conn)
            .await?;
        let (Some(size), Some(_)) = (size, at) else {
            return Ok(None);
        };
        // The line's first `size` entries only: those who joined after the opening may be millions.
        let (arrived, line): (Vec<String>, Vec<String>) = match size.checked_sub(1) {
            None => (Vec::new(), Vec::new()),
            Some(last) => {
                redis::pipe()
                    .lrange(self.key(event, "prequeue"), 0, -1)
                    .lrange(
                        self.key(event, "line"),
                        0,
                        isize::try_from(last).unwrap_or(isize::MAX),
                    )
                    .query_async(&mut conn)
                    .await?
            }
        };
        let visitor = |entry: &String| entry.split(' ').next().unwrap_or_default().to_owned();
        Ok(Some(DrawEntries {
            arrived: arrived.iter().map(visitor).collect(),
            drawn: line.iter().map(visitor).collect(),
        }))
    }

    async fn is_deleted(&self, event: &LineId) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.exists(self.key(event, "deleted")).await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    async fn instance(&self) -> Result<String, StoreError> {
        let infos = self
            .conn
            .info_of_primaries(&["server", "replication"])
            .await?;
        let mut names: Vec<String> = infos.iter().map(|info| instance_name(info)).collect();
        names.sort();
        Ok(names.join(" "))
    }
}

#[async_trait]
impl ReleaseStore for RedisStore {
    async fn advance(
        &self,
        event: &LineId,
        count: u64,
        mode: AdvanceMode,
        capacity: Capacity,
        pick: Pick,
    ) -> Result<Advanced, StoreError> {
        let mut conn = self.conn.clone();
        let interval_ms = match mode {
            AdvanceMode::Manual => 0,
            AdvanceMode::Scheduled { interval_ms } => interval_ms.max(1),
        };
        // An event that draws at random: the draw is computed here from the pool as read, and
        // done by the script unless the pool changed meanwhile (then read again).
        for _ in 0..ADVANCE_ATTEMPTS {
            let pool = match pick {
                Pick::AtRandom => Some(self.pool_draw(event, count).await?),
                Pick::InOrder => None,
            };
            let mut invocation = self.advance.prepare_invoke();
            invocation
                .key(self.key(event, "admitted"))
                .key(self.key(event, "issued"))
                .key(self.key(event, "leavers"))
                .key(self.key(event, "slot"))
                .key(self.key(event, "admissions"))
                .key(self.key(event, "active"))
                .key(self.key(event, "pool"))
                .key(self.key(event, "pool:entries"))
                .key(self.key(event, "pool:won"))
                .key(self.key(event, "line"))
                .key(self.key(event, "pool:releases"))
                .key(self.key(event, "issued:shadow"))
                .key(self.key(event, "settle"))
                .arg(count)
                .arg(interval_ms)
                .arg(&self.channel)
                .arg(event.wire())
                .arg(capacity.max_active)
                .arg(capacity.claim_window_ms);
            match &pool {
                Some(draw) => invocation
                    .arg("random")
                    .arg(draw.releases)
                    .arg(draw.arrived)
                    .arg(draw.waiting)
                    .arg(&draw.picks),
                None => invocation.arg("order"),
            };
            let (moved, admitted_through, issued): (i8, u64, u64) =
                invocation.invoke_async(&mut conn).await?;
            if moved >= 0 {
                return Ok(Advanced {
                    moved: moved == 1,
                    admitted_through,
                    issued,
                });
            }
        }
        Err(StoreError::Unavailable(format!(
            "the pool of `{event}` changed under {ADVANCE_ATTEMPTS} releases in a row"
        )))
    }

    async fn draw(&self, event: &LineId, now_ms: i64) -> Result<Option<Drawn>, StoreError> {
        let mut conn = self.conn.clone();
        let closed: Option<(String, u64, i64, String)> = self
            .draw_close
            .key(self.key(event, "draw"))
            .key(self.key(event, "issued"))
            .invoke_async(&mut conn)
            .await?;
        let Some((seed, size, at_ms, order_seed)) = closed else {
            return Ok(None);
        };
        if at_ms == 0 {
            let seed = parse_seed(event, "draw seed", &seed)?;
            // Drawn again after a loss: with the order seed the replicas restored, if they knew it.
            let order_seed = match order_seed.as_str() {
                "" => seed.mixed(&self.published_entries(event, &seed, size).await?),
                known => parse_seed(event, "draw's order seed", known)?,
            };
            let size_u32 = u32::try_from(size)
                .map_err(|_| StoreError::Corrupt(format!("the pre-queue size of `{event}`")))?;
            let order = draw::order(&order_seed, size_u32);
            let mut invocation = self.draw.prepare_invoke();
            for name in [
                "draw",
                "line",
                "prequeue",
                "visitors",
                "leavers",
                "leavers:log",
                "prequeue:left",
            ] {
                invocation.key(self.key(event, name));
            }
            let _: u8 = invocation
                .arg(now_ms)
                .arg(&self.channel)
                .arg(event.wire())
                .arg(order_seed.to_hex())
                .arg(order)
                .invoke_async(&mut conn)
                .await?;
        }
        let stored: StoredDraw = redis::cmd("HMGET")
            .arg(self.key(event, "draw"))
            .arg(&["seed", "size", "at", "order"])
            .query_async(&mut conn)
            .await?;
        Ok(draw_state(event, stored)?.and_then(|state| state.drawn))
    }
}

#[async_trait]
impl DrainStore for RedisStore {
    async fn admitted_range(
        &self,
        event: &LineId,
        after: u64,
        through: u64,
    ) -> Result<Vec<Admitted>, StoreError> {
        if through <= after {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let positions: Vec<u64> = (after + 1..=through).collect();
        // Read-only and append-only data: one pipelined round trip, no script needed.
        let (entries, leavers, admissions): (Vec<String>, Vec<u64>, Vec<String>) = redis::pipe()
            .lrange(
                self.key(event, "line"),
                after as isize,
                through as isize - 1,
            )
            .zrangebyscore(self.key(event, "leavers"), after + 1, through)
            .zrangebyscore_limit(
                self.key(event, "admissions"),
                after + 1,
                "+inf",
                0,
                positions.len() as isize,
            )
            .query_async(&mut conn)
            .await?;
        if entries.len() < positions.len() {
            // The pointer is past the end of the line: Redis lost joins, and the replicas have not
            // restored them yet. Nothing is skipped: the caller tries again.
            return Err(StoreError::Unavailable(format!(
                "the line of `{event}` holds {} of the {} positions admitted; waiting for it to be restored",
                entries.len(),
                positions.len()
            )));
        }
        let mut moves = admissions.iter().filter_map(|member| {
            let (pointer, at) = member.split_once(':')?;
            Some((pointer.parse::<u64>().ok()?, at.parse::<i64>().ok()?))
        });
        let mut next_move = moves.next();
        let mut admitted = Vec::with_capacity(entries.len());
        let leavers: std::collections::HashSet<u64> = leavers.into_iter().collect();
        for (position, entry) in positions.iter().zip(&entries) {
            while next_move.is_some_and(|(pointer, _)| pointer < *position) {
                next_move = moves.next();
            }
            if leavers.contains(position) {
                continue;
            }
            let (visitor, joined) = entry.split_once(' ').ok_or_else(|| {
                StoreError::Corrupt(format!("line entry {position} of `{event}`"))
            })?;
            let joined_at_ms = joined.parse().unwrap_or_default();
            admitted.push(Admitted {
                line: event.clone(),
                position: *position,
                visitor: visitor.to_owned(),
                joined_at_ms,
                admitted_at_ms: next_move.map(|(_, at)| at).unwrap_or(joined_at_ms),
            });
        }
        Ok(admitted)
    }

    async fn drain_lease(
        &self,
        event: &LineId,
        holder: &str,
        ttl_ms: u64,
        action: LeaseAction,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let held: u8 = self
            .lease
            .key(self.key(event, "drain:lease"))
            .arg(holder)
            .arg(ttl_ms)
            .arg(match action {
                LeaseAction::Take => "take",
                LeaseAction::GiveBack => "give",
            })
            .invoke_async(&mut conn)
            .await?;
        Ok(held == 1)
    }

    async fn set_drained(
        &self,
        event: &LineId,
        through: u64,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let moved: u8 = self
            .checkpoint
            .key(self.key(event, "drained"))
            .key(self.key(event, "drain:lease"))
            .arg(through)
            .arg(holder)
            .arg(&self.channel)
            .arg(event.wire())
            .invoke_async(&mut conn)
            .await?;
        Ok(moved == 1)
    }
}

/// A Redis server's run id (new at each start) and replication id (new when a replica is promoted),
/// from its `INFO`.
fn instance_name(info: &str) -> String {
    let field = |name| info_field(info, name).unwrap_or_default();
    format!("{}/{}", field("run_id"), field("master_replid"))
}

/// One field of an `INFO` answer.
fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// `<prefix>:{line}:<name>` (the line's wire form, `event` or `event~lane`): hash-tagged by
/// line, so a line's keys share a Redis Cluster slot.
fn event_key(prefix: &str, event: &LineId, name: &str) -> String {
    format!("{prefix}:{{{}}}:{name}", event.wire())
}

/// A join waiting for its place in the next batch.
struct PendingJoin {
    event: LineId,
    visitor: VisitorId,
    who: JoinAs,
    now_ms: i64,
    /// The highest position (or, joining the pool, arrival number) the caller knows was handed out.
    floor: u64,
    pick: Pick,
    reply: oneshot::Sender<Result<Joined, StoreError>>,
}

/// Raises an event's figures in Redis (`lua/restore.lua`): on a replica's resync, and from the join
/// sender when a batch drew positions below what was handed out before.
///
/// It also notices when Redis is another instance than before: a promoted replica or a restarted
/// server has another replication id. Positions another waitroom replica handed out just before a
/// failover may be unknown here; so the join sender waits a few resync periods (in which every
/// replica restores what it knew), then draws again.
#[derive(Clone)]
struct Restorer {
    conn: Conn,
    prefix: String,
    /// Where joins are announced.
    channel: String,
    /// How far each event's line reaches after a batch, for [`announce_joins`].
    issued: mpsc::UnboundedSender<(LineId, u64)>,
    script: Script,
    /// The replication ids of the primaries joins went to (one server's, or a cluster's).
    instances: Arc<parking_lot::Mutex<std::collections::HashSet<String>>>,
    settle: Duration,
}

/// Leavers restored per script call, so no call holds Redis long.
const RESTORE_LEAVERS_CHUNK: usize = 10_000;

impl Restorer {
    /// Takes in the replication id of the primary a join just went to (`INFO replication`).
    /// Returns true if it is none known before: the caller waits [`Restorer::settle`].
    fn moved_to(&self, info: &str) -> bool {
        let Some(id) = info_field(info, "master_replid").map(str::to_owned) else {
            return false;
        };
        let mut known = self.instances.lock();
        let moved = !known.is_empty() && !known.contains(&id);
        known.insert(id);
        moved
    }

    /// Makes good what Redis lost of `event` before anyone draws again: the first replica to notice
    /// (`loss`, what it saw) marks the event settling for [`Restorer::settle`] and tells every
    /// replica to compare what it knows with Redis (each restores what Redis lacks, the highest
    /// position it knows was handed out among it); this replica restores its own `floor` (and
    /// makes `orphans`, the line positions its own draw just wrote, placeholders); every replica's
    /// draws wait until the mark is gone. `loss` is `None` for a replica that only found the mark.
    async fn settle(
        &self,
        event: &LineId,
        loss: Option<&str>,
        floor: u64,
        orphans: Option<(u64, u64)>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mark = event_key(&self.prefix, event, "settle");
        if let Some(loss) = loss {
            let settle_ms = u64::try_from(self.settle.as_millis()).unwrap_or(u64::MAX);
            let first: bool = redis::cmd("SET")
                .arg(&mark)
                .arg(1)
                .arg("PX")
                .arg(settle_ms.max(1))
                .arg("NX")
                .query_async(&mut conn)
                .await?;
            if first {
                tracing::error!(%event, settle_ms, "{loss}: Redis lost writes; every replica restores what it knows before any position is drawn again");
                let message = serde_json::to_string(&Notification::Lost {
                    event: event.clone(),
                })
                .unwrap_or_default();
                let _: () = conn.publish(&self.channel, message).await?;
            }
        }
        let restore = Floor {
            issued: floor,
            orphans,
            ..Floor::default()
        };
        self.restore(event, "", &restore).await?;
        loop {
            let left_ms: i64 = conn.pttl(&mark).await?;
            if left_ms <= 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(left_ms.unsigned_abs())).await;
        }
    }

    /// `INFO replication` of the primary holding `event`'s keys (the key routes it in a cluster).
    async fn instance_info(&self, event: &LineId) -> Result<String, StoreError> {
        let (_, info): (Option<u64>, String) = redis::pipe()
            .get(event_key(&self.prefix, event, "issued"))
            .cmd("INFO")
            .arg("replication")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(info)
    }

    async fn restore(
        &self,
        event: &LineId,
        settings_json: &str,
        floor: &Floor,
    ) -> Result<bool, StoreError> {
        let mut restored = false;
        let mut chunks = floor.leavers.chunks(RESTORE_LEAVERS_CHUNK);
        let mut leavers = chunks.next().unwrap_or_default();
        let (orphans_from, orphans_to) = floor.orphans.unwrap_or((0, 0));
        loop {
            let mut invocation = self.script.prepare_invoke();
            for name in [
                "issued",
                "line",
                "admitted",
                "admissions",
                "drained",
                "leavers",
                "leavers:log",
                "settings",
                "restored",
                "issued:shadow",
            ] {
                invocation.key(event_key(&self.prefix, event, name));
            }
            invocation
                .arg(floor.issued)
                .arg(floor.admitted_through)
                .arg(floor.drained_through)
                .arg(settings_json)
                .arg(crate::clock::unix_ms())
                .arg(orphans_from)
                .arg(orphans_to)
                .arg(leavers);
            let (changed, _issued): (u8, u64) =
                invocation.invoke_async(&mut self.conn.clone()).await?;
            restored |= changed == 1;
            match chunks.next() {
                Some(next) => leavers = next,
                None => return Ok(restored),
            }
        }
    }
}

/// Sends joins to Redis in batches: whatever arrived while the previous call was in flight goes in
/// the next one (up to [`JOIN_BATCH`]), in arrival order, one transaction per event for anonymous
/// visitors. A lone join waits for nothing; under load one Redis round trip serves many joins.
/// Trusted joins (a booking site's user, who may hold a place already) take one script call each,
/// after the anonymous joins of their batch. Joins into a pool (the `random` method) take one
/// script call per batch, or per trusted visitor.
async fn send_joins(restorer: Restorer, mut pending: mpsc::UnboundedReceiver<PendingJoin>) {
    let scripts = JoinScripts {
        trusted: Script::new(include_str!("lua/join_trusted.lua")),
        pool: Script::new(include_str!("lua/join_pool.lua")),
    };
    let mut batch = Vec::with_capacity(JOIN_BATCH);
    while pending.recv_many(&mut batch, JOIN_BATCH).await > 0 {
        // One group per event, in arrival order; the events' transactions go out together.
        let mut groups: Vec<(LineId, Vec<PendingJoin>)> = Vec::new();
        for join in batch.drain(..) {
            match groups.iter_mut().find(|(event, _)| *event == join.event) {
                Some((_, joins)) => joins.push(join),
                None => groups.push((join.event.clone(), vec![join])),
            }
        }
        let sent = groups
            .into_iter()
            .map(|(event, joins)| join_event(&restorer, &scripts, event, joins));
        futures_util::future::join_all(sent).await;
    }
}

struct JoinScripts {
    trusted: Script,
    pool: Script,
}

/// One event's joins of a batch: the anonymous ones in one transaction, then the trusted ones; the
/// pool's anonymous ones in one script call, then its trusted ones.
async fn join_event(
    restorer: &Restorer,
    scripts: &JoinScripts,
    event: LineId,
    joins: Vec<PendingJoin>,
) {
    let key = |name: &str| event_key(&restorer.prefix, &event, name);
    let keys = JoinKeys {
        issued: key("issued"),
        shadow: key("issued:shadow"),
        settings: key("settings"),
        settle: key("settle"),
        line: key("line"),
        visitors: key("visitors"),
        draw: key("draw"),
        pool: JOIN_POOL_KEYS.map(key),
        event,
    };
    let (pooled, lined): (Vec<_>, Vec<_>) = joins
        .into_iter()
        .partition(|join| join.pick == Pick::AtRandom);
    let (trusted, anonymous): (Vec<_>, Vec<_>) = lined
        .into_iter()
        .partition(|join| join.who == JoinAs::Trusted);
    if !anonymous.is_empty() {
        join_anonymous(restorer, &keys, anonymous).await;
    }
    for join in trusted {
        let joined = join_trusted(restorer, &scripts.trusted, &keys, &join).await;
        let _ = join.reply.send(joined);
    }
    let (trusted, anonymous): (Vec<_>, Vec<_>) = pooled
        .into_iter()
        .partition(|join| join.who == JoinAs::Trusted);
    if !anonymous.is_empty() {
        join_pool(&restorer.conn, &scripts.pool, &keys, anonymous).await;
    }
    for join in trusted {
        join_pool(&restorer.conn, &scripts.pool, &keys, vec![join]).await;
    }
}

struct JoinKeys {
    event: LineId,
    issued: String,
    /// The second count every draw moves with `issued` (see `lua/restore.lua`).
    shadow: String,
    settings: String,
    /// Present while replicas restore what they know after a loss: nobody draws meanwhile.
    settle: String,
    line: String,
    visitors: String,
    draw: String,
    /// `lua/join_pool.lua`'s keys ([`JOIN_POOL_KEYS`]).
    pool: [String; 5],
}

/// The keys of `lua/join_pool.lua`, in its order: the pool's arrivals counter, entries, set and
/// trusted visitors, and the line's trusted visitors.
const JOIN_POOL_KEYS: [&str; 5] = [
    "pool:arrived",
    "pool:entries",
    "pool",
    "pool:visitors",
    "visitors",
];

/// Joins into the pool (`lua/join_pool.lua`): a batch of anonymous visitors, or one trusted
/// visitor. Every caller gets its answer or the error.
async fn join_pool(conn: &Conn, script: &Script, keys: &JoinKeys, joins: Vec<PendingJoin>) {
    let Some(first) = joins.first() else { return };
    let trusted = first.who == JoinAs::Trusted;
    let floor = joins.iter().map(|join| join.floor).max().unwrap_or(0);
    let mut invocation = script.prepare_invoke();
    for key in &keys.pool {
        invocation.key(key);
    }
    invocation
        .arg(first.now_ms)
        .arg(floor)
        .arg(u8::from(trusted));
    for join in &joins {
        invocation.arg(join.visitor.as_str());
    }
    let answer: Result<(u64, u8, u8, u8), StoreError> = invocation
        .invoke_async(&mut conn.clone())
        .await
        .map_err(StoreError::from);
    for (offset, join) in (0..).zip(joins) {
        let joined = answer.clone().map(|(first, fresh, arrival, _)| Joined {
            position: first + offset,
            fresh: fresh == 1,
            arrival: arrival == 1,
        });
        let _ = join.reply.send(joined);
    }
}

/// A batch of anonymous joins of one event, in one MULTI/EXEC transaction: INCRBY the issued
/// counter by the batch's size and RPUSH its line entries, so the i-th visitor's position is the
/// counter's old value + i and its entry sits at that position in the line. (A transaction costs
/// Redis a fraction of a script call, which spent 15 µs in the Lua machinery alone.) Every caller gets
/// its answer or the error; a caller that went away (its request was cancelled) keeps its number: a
/// place nobody claims, admitted and passed over like any no-show.
///
/// Should the counter come back below a position the callers know was handed out (Redis lost
/// writes), the positions drawn are never answered: they become placeholders, the counter is
/// restored past what was handed out, and the batch is drawn again.
async fn join_anonymous(restorer: &Restorer, keys: &JoinKeys, joins: Vec<PendingJoin>) {
    let entries: Vec<String> = joins
        .iter()
        .map(|join| format!("{} {}", join.visitor.as_str(), join.now_ms))
        .collect();
    let count = joins.len() as u64;
    let floor = joins.iter().map(|join| join.floor).max().unwrap_or(0);
    let mut before = Err(StoreError::Unavailable("not drawn".into()));
    for _ in 0..3 {
        let answer: Result<(u64, u64, u64, bool, bool, String), StoreError> = redis::pipe()
            .atomic()
            .incr(&keys.issued, count)
            .rpush(&keys.line, &entries)
            .incr(&keys.shadow, count)
            .exists(&keys.settings)
            .exists(&keys.settle)
            .cmd("INFO")
            .arg("replication")
            .query_async(&mut restorer.conn.clone())
            .await
            .map_err(StoreError::from);
        let (last, length, shadow, kept, settling, info) = match answer {
            Ok(answer) => answer,
            Err(e) => {
                before = Err(e);
                break;
            }
        };
        let Some(drawn_after) = last.checked_sub(count) else {
            before = Err(StoreError::Corrupt(format!(
                "the issued counter reads {last}"
            )));
            break;
        };
        // What Redis may have lost since the last draw: its instance (a failover, a restart), the
        // event's keys (settings gone), the counter or the line (they no longer agree with each
        // other or with the shadow count), or positions this replica knows were handed out.
        let loss = if restorer.moved_to(&info) {
            Some("Redis is another instance than before (a failover or a restart)")
        } else if !kept {
            Some("the event's keys are gone from Redis")
        } else if last != length || last != shadow {
            Some("the line's counter, its shadow and the line disagree")
        } else if drawn_after < floor {
            Some("the line's counter is below positions handed out")
        } else {
            None
        };
        if loss.is_none() && !settling {
            before = Ok(drawn_after);
            break;
        }
        // The positions just drawn are never answered: their entries (at the line's end) become
        // placeholders, and the batch is drawn again once every replica restored what it knew.
        let orphans = (length + 1 - count.min(length), length);
        if let Err(e) = restorer
            .settle(&keys.event, loss, floor, Some(orphans))
            .await
        {
            before = Err(e);
            break;
        }
    }
    let before = before.and_then(|before| {
        if before < floor {
            Err(StoreError::Unavailable(
                "the line's counter could not be restored".into(),
            ))
        } else {
            Ok(before)
        }
    });
    if let Ok(before) = &before {
        let _ = restorer.issued.send((keys.event.clone(), before + count));
    }
    for (offset, join) in (1..).zip(joins) {
        let joined = before.clone().map(|before| Joined {
            position: before + offset,
            fresh: true,
            arrival: false,
        });
        let _ = join.reply.send(joined);
    }
}

/// How often each event's joins are announced at most.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(100);

/// Tells every replica how far each event's line reaches, at most once per [`ANNOUNCE_EVERY`]
/// per event, without keeping the joins waiting: a rush of joins costs Redis and the replicas a
/// handful of messages a second, not one per batch. A lost announcement is made good by the
/// replicas' resync.
async fn announce_joins(
    conn: Conn,
    channel: String,
    mut reaches: mpsc::UnboundedReceiver<(LineId, u64)>,
) {
    let mut pending: std::collections::HashMap<LineId, u64> = std::collections::HashMap::new();
    let mut ticker = tokio::time::interval(ANNOUNCE_EVERY);
    // After a quiet spell the first joins go out at once, the rest at most every interval.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            reached = reaches.recv() => match reached {
                Some((event, issued)) => {
                    let known = pending.entry(event).or_default();
                    *known = (*known).max(issued);
                }
                None => return,
            },
            _ = ticker.tick(), if !pending.is_empty() => {
                let mut pipe = redis::pipe();
                for (event, issued) in pending.drain() {
                    let message = serde_json::to_string(&Notification::Issued { event, issued })
                        .unwrap_or_default();
                    pipe.publish(&channel, message).ignore();
                }
                let published: Result<(), _> = pipe.query_async(&mut conn.clone()).await;
                if let Err(e) = published {
                    tracing::debug!(error = %e, "announcing joins failed");
                }
            }
        }
    }
}

/// A trusted join: the visitor's place if they hold one, else a new one above the caller's floor
/// (restored first: one more round trip, for a route that is rare).
async fn join_trusted(
    restorer: &Restorer,
    script: &Script,
    keys: &JoinKeys,
    join: &PendingJoin,
) -> Result<Joined, StoreError> {
    let moved = restorer.moved_to(&restorer.instance_info(&keys.event).await?);
    let mut loss =
        moved.then_some("Redis is another instance than before (a failover or a restart)");
    for _ in 0..3 {
        let floor = Floor {
            issued: join.floor,
            ..Floor::default()
        };
        match loss {
            Some(_) => restorer.settle(&keys.event, loss, join.floor, None).await?,
            None => {
                restorer.restore(&keys.event, "", &floor).await?;
            }
        }
        let (position, fresh, arrival, refused): (u64, u8, u8, u8) = script
            .key(&keys.issued)
            .key(&keys.line)
            .key(&keys.visitors)
            .key(&keys.draw)
            .key(&keys.shadow)
            .key(&keys.settings)
            .key(&keys.settle)
            .arg(join.visitor.as_str())
            .arg(join.now_ms)
            .arg(&restorer.channel)
            .arg(keys.event.wire())
            .invoke_async(&mut restorer.conn.clone())
            .await?;
        loss = match refused {
            0 => {
                return Ok(Joined {
                    position,
                    fresh: fresh == 1,
                    arrival: arrival == 1,
                })
            }
            1 => Some("the line's counter, its shadow and the line disagree"),
            _ => None,
        };
        if loss.is_none() {
            // Another replica is settling: wait for it.
            restorer.settle(&keys.event, None, join.floor, None).await?;
        }
    }
    Err(StoreError::Unavailable(
        "Redis kept losing writes: no position could be drawn".into(),
    ))
}

/// The `draw` hash's seed, size, at (unix ms drawn) and order (the seed the order was drawn with).
type StoredDraw = (Option<String>, Option<u64>, Option<i64>, Option<String>);

/// An event's draw as the store holds it.
fn draw_state(
    event: &LineId,
    (seed, size, at_ms, order_seed): StoredDraw,
) -> Result<Option<DrawState>, StoreError> {
    let Some(seed) = seed else {
        return Ok(None);
    };
    let seed = parse_seed(event, "draw seed", &seed)?;
    let drawn = match (size, at_ms, order_seed) {
        (Some(size), Some(at_ms), Some(order_seed)) => Some(Drawn {
            size,
            at_ms,
            order_seed: parse_seed(event, "draw's order seed", &order_seed)?,
        }),
        _ => None,
    };
    Ok(Some(DrawState { seed, drawn }))
}

fn parse_seed(event: &LineId, what: &str, hex: &str) -> Result<Seed, StoreError> {
    Seed::parse(hex).ok_or_else(|| StoreError::Corrupt(format!("the {what} of event `{event}`")))
}

#[cfg(test)]
mod tests {
    use super::durability_warnings;
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

//! What replicas read to stay in sync ([`SyncStore`]): snapshots, restores, notifications.

use async_trait::async_trait;
use futures_util::stream::{BoxStream, StreamExt};
use redis::AsyncCommands;

use super::joins::*;
use super::replies::*;
use super::store::*;
use crate::domain::draw::Seed;
use crate::domain::{EventSettings, LineId};
use crate::store::topology::subscribe;
use crate::store::SyncStore;
use crate::store::{DrawEntries, Figures, Floor, Notification, PoolState, Snapshot, StoreError};

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
            let (_, _, _, padded, _): (u64, u8, u8, u8, Vec<u64>) = invocation
                .arg(crate::clock::unix_ms())
                .arg(floor.arrived)
                .arg(0)
                .arg(0)
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

//! Creating and deleting events ([`AdminStore`]).

use async_trait::async_trait;
use redis::AsyncCommands;

use super::store::*;
use crate::domain::draw::Seed;
use crate::domain::{EventSettings, LineId};
use crate::store::AdminStore;
use crate::store::{Notification, PutMode, StoreError, EVENT_KEYS, TOMBSTONE_MS};

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

    async fn add_codes(&self, event: &LineId, digests: &[[u8; 32]]) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let mut added = 0;
        // In chunks, so no one command holds Redis long.
        for chunk in digests.chunks(10_000) {
            let members: Vec<&[u8]> = chunk.iter().map(|digest| digest.as_slice()).collect();
            let new: u64 = conn.sadd(self.key(event, "codes"), members).await?;
            added += new;
        }
        Ok(added)
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

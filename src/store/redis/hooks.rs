//! The webhooks' outbox ([`HookStore`]): notices queued once, deliveries taken under a lease.

use async_trait::async_trait;

use super::store::*;
use crate::domain::LineId;
use crate::store::{Delivery, HookStore, StoreError};

#[async_trait]
impl HookStore for RedisStore {
    async fn queue_notice(
        &self,
        event: &LineId,
        notice: &str,
        deliveries: &[(String, String)],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut invocation = self.hook_queue.prepare_invoke();
        invocation
            .key(self.key(event, "hooks:told"))
            .key(self.key(event, "hooks"))
            .key(self.key(event, "hooks:records"))
            .arg(notice)
            .arg(now_ms);
        for (key, record) in deliveries {
            invocation.arg(key).arg(record);
        }
        let queued: u8 = invocation.invoke_async(&mut self.conn.clone()).await?;
        Ok(queued == 1)
    }

    async fn take_deliveries(
        &self,
        event: &LineId,
        now_ms: i64,
        lease_ms: u64,
        most: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let taken: Vec<(String, String, u64)> = self
            .hook_take
            .key(self.key(event, "hooks"))
            .key(self.key(event, "hooks:records"))
            .key(self.key(event, "hooks:tries"))
            .arg(now_ms)
            .arg(lease_ms)
            .arg(most)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(taken
            .into_iter()
            .map(|(key, record, tries)| Delivery { key, record, tries })
            .collect())
    }

    async fn settle_delivery(
        &self,
        event: &LineId,
        key: &str,
        retry_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let due = self.key(event, "hooks");
        let mut pipe = redis::pipe();
        pipe.atomic();
        match retry_at_ms {
            None => pipe
                .zrem(&due, key)
                .hdel(self.key(event, "hooks:records"), key)
                .hdel(self.key(event, "hooks:tries"), key),
            // XX: a delivery settled meanwhile (by a worker whose lease ran out) stays gone.
            Some(at) => pipe.cmd("ZADD").arg(&due).arg("XX").arg(at).arg(key),
        };
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }
}

//! The visitor path ([`LineStore`]): joins handed to the join sender, leaves, claims and passes.

use async_trait::async_trait;
use redis::AsyncCommands;
use tokio::sync::oneshot;

use super::joins::*;
use super::keys::*;
use super::store::*;
use crate::challenge::Verified;
use crate::domain::{LineId, VisitorId};
use crate::store::LineStore;
use crate::store::{
    Capacity, Claim, JoinAs, Joined, Pick, PrequeueLeave, StoreError, COMPLETIONS_KEPT_MS,
};

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
        // The pool's script draws arrival numbers for a whole batch; a solution spent on a place
        // in it is marked first (the line's transaction marks it with the place).
        if let (JoinAs::Solved(solved, _), Pick::AtRandom) = (who, pick) {
            if !self.spend(event, &solved).await? {
                return Err(StoreError::Spent);
            }
        }
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

    async fn use_code(&self, event: &LineId, digest: [u8; 32]) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let removed: u8 = conn
            .srem(self.key(event, "codes"), digest.as_slice())
            .await?;
        Ok(removed == 1)
    }

    async fn hold_slot(
        &self,
        event: &LineId,
        position: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let held: u8 = self
            .hold
            .key(self.key(event, "active"))
            .arg(position)
            .arg(now_ms)
            .arg(until_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(held == 1)
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
        // The mark goes when the admission's passes would have expired anyway.
        self.mark_once(self.key(event, &format!("used:{position}")), ttl_ms)
            .await
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

impl RedisStore {
    /// Marks a challenge's solution spent: true for the one caller that found it unspent.
    async fn spend(&self, event: &LineId, solved: &Verified) -> Result<bool, StoreError> {
        let (set, until_ms) = spent_mark(&self.prefix, event, solved);
        let (first,): (bool,) = redis::pipe()
            .atomic()
            .sadd(&set, solved.mark())
            .pexpire_at(&set, until_ms)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(first)
    }

    /// Sets `key` for `ttl_ms` if it is not set: SET NX, atomic, so of any number of concurrent
    /// calls exactly one is first.
    async fn mark_once(&self, key: String, ttl_ms: u64) -> Result<bool, StoreError> {
        let first: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(first.is_some())
    }
}

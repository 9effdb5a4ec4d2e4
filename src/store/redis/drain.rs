//! What the drain reads and records ([`DrainStore`]): admitted ranges, its lease, its checkpoint.

use async_trait::async_trait;

use super::store::*;
use crate::domain::{Admitted, LineId};
use crate::store::DrainStore;
use crate::store::{LeaseAction, StoreError};

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

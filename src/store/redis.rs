//! The Redis store: shared by every replica. Each operation that changes a line is one round trip and
//! atomic: a Lua script (`lua/`), or for a batch of anonymous joins a MULTI/EXEC transaction. Keys
//! are hash-tagged by event, `<prefix>:{event}:<name>`, so all of an event's keys live in one Redis
//! Cluster slot; changes are announced on `<prefix>:notify`.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::{BoxStream, StreamExt};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use tokio::sync::{mpsc, oneshot};

use super::{
    AdvanceMode, Advanced, Capacity, Claim, Figures, JoinAs, Joined, LeaseAction, Notification,
    PutMode, Snapshot, Store, StoreError,
};
use crate::domain::{Admitted, EventId, EventSettings, VisitorId};

/// How long a command may take before the caller is told Redis is unavailable.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1_500);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Most joins sent to Redis in one transaction.
const JOIN_BATCH: usize = 256;

pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    channel: String,
    joins: mpsc::UnboundedSender<PendingJoin>,
    advance: Script,
    leave: Script,
    lease: Script,
    checkpoint: Script,
    claim: Script,
    complete: Script,
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl RedisStore {
    /// Connects to `url`; keys start with `prefix` (tests use a random one each).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client.clone(), config).await?;
        let (joins, pending) = mpsc::unbounded_channel();
        tokio::spawn(send_joins(conn.clone(), prefix.to_owned(), pending));
        Ok(Self {
            client,
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
        })
    }

    fn key(&self, event: &EventId, name: &str) -> String {
        event_key(&self.prefix, event, name)
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
impl Store for RedisStore {
    async fn put_event(
        &self,
        event: &EventId,
        settings: &EventSettings,
        mode: PutMode,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let json =
            serde_json::to_string(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let key = self.key(event, "settings");
        // The id goes into the index first, so a crash in between leaves an indexed event without
        // settings (skipped) rather than settings nobody can find.
        let _: () = conn.sadd(self.events_key(), event.as_str()).await?;
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

    async fn events(&self) -> Result<Vec<EventId>, StoreError> {
        let mut conn = self.conn.clone();
        let raw: Vec<String> = conn.smembers(self.events_key()).await?;
        let mut events: Vec<EventId> = raw
            .iter()
            .filter_map(|id| EventId::parse(id).ok())
            .collect();
        events.sort();
        Ok(events)
    }

    async fn snapshot(&self, event: &EventId) -> Result<Option<Snapshot>, StoreError> {
        let mut conn = self.conn.clone();
        let now_ms = crate::clock::unix_ms();
        type Row = (
            Option<String>,
            Option<u64>,
            Option<u64>,
            u64,
            Option<u64>,
            u64,
        );
        let (settings, issued, admitted, left, drained, active): Row = redis::pipe()
            .get(self.key(event, "settings"))
            .get(self.key(event, "issued"))
            .get(self.key(event, "admitted"))
            .zcard(self.key(event, "leavers"))
            .get(self.key(event, "drained"))
            .zcount(self.key(event, "active"), format!("({now_ms}"), "+inf")
            .query_async(&mut conn)
            .await?;
        let Some(settings) = settings else {
            return Ok(None);
        };
        let settings: EventSettings = serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(format!("settings of event `{event}`: {e}")))?;
        Ok(Some(Snapshot {
            settings,
            figures: Figures {
                issued: issued.unwrap_or(0),
                admitted_through: admitted.unwrap_or(0),
                left,
                drained_through: drained.unwrap_or(0),
                active,
            },
        }))
    }

    async fn join(
        &self,
        event: &EventId,
        visitor: &VisitorId,
        who: JoinAs,
        now_ms: i64,
    ) -> Result<Joined, StoreError> {
        let (reply, answer) = oneshot::channel();
        let pending = PendingJoin {
            event: event.clone(),
            visitor: visitor.clone(),
            who,
            now_ms,
            reply,
        };
        let stopped = || StoreError::Unavailable("the join sender stopped".into());
        self.joins.send(pending).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn leave(
        &self,
        event: &EventId,
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
            .arg(event.as_str())
            .invoke_async(&mut conn)
            .await?;
        Ok(added == 1)
    }

    async fn advance(
        &self,
        event: &EventId,
        count: u64,
        mode: AdvanceMode,
        capacity: Capacity,
    ) -> Result<Advanced, StoreError> {
        let mut conn = self.conn.clone();
        let interval_ms = match mode {
            AdvanceMode::Manual => 0,
            AdvanceMode::Scheduled { interval_ms } => interval_ms.max(1),
        };
        let (moved, admitted_through, issued): (u8, u64, u64) = self
            .advance
            .key(self.key(event, "admitted"))
            .key(self.key(event, "issued"))
            .key(self.key(event, "leavers"))
            .key(self.key(event, "slot"))
            .key(self.key(event, "admissions"))
            .key(self.key(event, "active"))
            .arg(count)
            .arg(interval_ms)
            .arg(&self.channel)
            .arg(event.as_str())
            .arg(capacity.max_active)
            .arg(capacity.claim_window_ms)
            .invoke_async(&mut conn)
            .await?;
        Ok(Advanced {
            moved: moved == 1,
            admitted_through,
            issued,
        })
    }

    async fn leavers_since(&self, event: &EventId, seen: u64) -> Result<Vec<u64>, StoreError> {
        let mut conn = self.conn.clone();
        let from = isize::try_from(seen).unwrap_or(isize::MAX);
        Ok(conn
            .lrange(self.key(event, "leavers:log"), from, -1)
            .await?)
    }

    async fn claim(
        &self,
        event: &EventId,
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

    async fn complete(&self, event: &EventId, position: u64) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let held: u8 = self
            .complete
            .key(self.key(event, "claims"))
            .key(self.key(event, "active"))
            .arg(position)
            .arg(&self.channel)
            .arg(event.as_str())
            .invoke_async(&mut conn)
            .await?;
        Ok(held == 1)
    }

    async fn consume_pass(
        &self,
        event: &EventId,
        jti: &str,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        // SET NX: atomic, so of any number of concurrent calls exactly one is first; the key goes
        // when the pass would have expired anyway.
        let first: Option<String> = redis::cmd("SET")
            .arg(self.key(event, &format!("used:{jti}")))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1))
            .query_async(&mut conn)
            .await?;
        Ok(first.is_some())
    }

    async fn admitted_range(
        &self,
        event: &EventId,
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
                event: event.clone(),
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
        event: &EventId,
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
        event: &EventId,
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
            .invoke_async(&mut conn)
            .await?;
        Ok(moved == 1)
    }

    async fn notifications(&self) -> Result<BoxStream<'static, Notification>, StoreError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        Ok(pubsub
            .into_on_message()
            .filter_map(|message| async move {
                let payload: String = message.get_payload().ok()?;
                serde_json::from_str(&payload).ok()
            })
            .boxed())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

/// `<prefix>:{event}:<name>`: hash-tagged by event, so an event's keys share a Redis Cluster slot.
fn event_key(prefix: &str, event: &EventId, name: &str) -> String {
    format!("{prefix}:{{{event}}}:{name}")
}

/// A join waiting for its place in the next batch.
struct PendingJoin {
    event: EventId,
    visitor: VisitorId,
    who: JoinAs,
    now_ms: i64,
    reply: oneshot::Sender<Result<Joined, StoreError>>,
}

/// Sends joins to Redis in batches: whatever arrived while the previous call was in flight goes in
/// the next one (up to [`JOIN_BATCH`]), in arrival order, one transaction per event for anonymous
/// visitors. A lone join waits for nothing; under load one Redis round trip serves many joins.
/// Trusted joins (a booking site's user, who may hold a place already) take one script call each,
/// after the anonymous joins of their batch.
async fn send_joins(
    conn: ConnectionManager,
    prefix: String,
    mut pending: mpsc::UnboundedReceiver<PendingJoin>,
) {
    let trusted_script = Script::new(include_str!("lua/join_trusted.lua"));
    let mut batch = Vec::with_capacity(JOIN_BATCH);
    while pending.recv_many(&mut batch, JOIN_BATCH).await > 0 {
        while !batch.is_empty() {
            let event = batch[0].event.clone();
            let (same_event, others): (Vec<_>, Vec<_>) =
                batch.drain(..).partition(|join| join.event == event);
            batch = others;
            let keys = JoinKeys {
                issued: event_key(&prefix, &event, "issued"),
                line: event_key(&prefix, &event, "line"),
                visitors: event_key(&prefix, &event, "visitors"),
            };
            let (trusted, anonymous): (Vec<_>, Vec<_>) = same_event
                .into_iter()
                .partition(|join| join.who == JoinAs::Trusted);
            if !anonymous.is_empty() {
                join_anonymous(&conn, &keys, anonymous).await;
            }
            for join in trusted {
                let joined = join_trusted(&conn, &trusted_script, &keys, &join).await;
                let _ = join.reply.send(joined);
            }
        }
    }
}

struct JoinKeys {
    issued: String,
    line: String,
    visitors: String,
}

/// A batch of anonymous joins of one event, in one MULTI/EXEC transaction: INCRBY the issued
/// counter by the batch's size and RPUSH its line entries, so the i-th visitor's position is the
/// counter's old value + i and its entry sits at that position in the line. (A transaction costs
/// Redis a fraction of a script call, which spent 15 µs in the Lua machinery alone.) Every caller gets
/// its answer or the error; a caller that went away (its request was cancelled) keeps its number: a
/// place nobody claims, admitted and passed over like any no-show.
async fn join_anonymous(conn: &ConnectionManager, keys: &JoinKeys, joins: Vec<PendingJoin>) {
    let entries: Vec<String> = joins
        .iter()
        .map(|join| format!("{} {}", join.visitor.as_str(), join.now_ms))
        .collect();
    let answer: Result<(u64, u64), StoreError> = redis::pipe()
        .atomic()
        .incr(&keys.issued, joins.len())
        .rpush(&keys.line, entries)
        .query_async(&mut conn.clone())
        .await
        .map_err(StoreError::from);
    let before = answer.and_then(|(last, _)| {
        last.checked_sub(joins.len() as u64)
            .ok_or_else(|| StoreError::Corrupt(format!("the issued counter reads {last}")))
    });
    for (offset, join) in (1..).zip(joins) {
        let joined = before.clone().map(|before| Joined {
            position: before + offset,
            fresh: true,
        });
        let _ = join.reply.send(joined);
    }
}

/// A trusted join: the visitor's place if they hold one, else a new one.
async fn join_trusted(
    conn: &ConnectionManager,
    script: &Script,
    keys: &JoinKeys,
    join: &PendingJoin,
) -> Result<Joined, StoreError> {
    let (position, fresh): (u64, u8) = script
        .key(&keys.issued)
        .key(&keys.line)
        .key(&keys.visitors)
        .arg(join.visitor.as_str())
        .arg(join.now_ms)
        .invoke_async(&mut conn.clone())
        .await?;
    Ok(Joined {
        position,
        fresh: fresh == 1,
    })
}

//! The join sender: joins batched into one transaction per line, and the restorer that makes good
//! what Redis lost before anyone draws again.

use std::sync::Arc;
use std::time::Duration;

use redis::{AsyncCommands, Script};
use tokio::sync::{mpsc, oneshot};

use super::keys::*;
use super::replies::*;
use crate::challenge::Verified;
use crate::domain::{LineId, VisitorId};
use crate::limits::{JoinQuota, QuotaWindow, QUOTA_WINDOW_MS};
use crate::store::topology::Conn;
use crate::store::{Floor, JoinAs, Joined, Notification, Pick, StoreError};

/// Most joins sent to Redis in one transaction.
const JOIN_BATCH: usize = 256;

/// A join waiting for its place in the next batch.
pub(super) struct PendingJoin {
    pub(super) event: LineId,
    pub(super) visitor: VisitorId,
    pub(super) who: JoinAs,
    pub(super) now_ms: i64,
    /// The highest position (or, joining the pool, arrival number) the caller knows was handed out.
    pub(super) floor: u64,
    pub(super) pick: Pick,
    pub(super) reply: oneshot::Sender<Result<Joined, StoreError>>,
}

/// Raises an event's figures in Redis (`lua/restore.lua`): on a replica's resync, and from the join
/// sender when a batch drew positions below what was handed out before.
///
/// It also notices when Redis is another instance than before: a promoted replica or a restarted
/// server has another replication id. Positions another waitroom replica handed out just before a
/// failover may be unknown here; so the join sender waits a few resync periods (in which every
/// replica restores what it knew), then draws again.
#[derive(Clone)]
pub(super) struct Restorer {
    pub(super) conn: Conn,
    pub(super) prefix: String,
    /// Where joins are announced.
    pub(super) channel: String,
    /// How far each event's line reaches after a batch, for [`announce_joins`].
    pub(super) issued: mpsc::UnboundedSender<(LineId, u64)>,
    pub(super) script: Script,
    /// The replication ids of the primaries joins went to (one server's, or a cluster's).
    pub(super) instances: Arc<parking_lot::Mutex<std::collections::HashSet<String>>>,
    pub(super) settle: Duration,
}

/// Leavers restored per script call, so no call holds Redis long.
pub(super) const RESTORE_LEAVERS_CHUNK: usize = 10_000;

impl Restorer {
    /// Takes in the replication id of the primary a join just went to (`INFO replication`).
    /// Returns true if it is none known before: the caller waits [`Restorer::settle`].
    pub(super) fn moved_to(&self, info: &str) -> bool {
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
    pub(super) async fn settle(
        &self,
        event: &LineId,
        loss: Option<&str>,
        floor: u64,
        orphans: Option<(u64, u64)>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mark = line_key(&self.prefix, event, "settle");
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
        if self.restore(event, "", &restore).await? {
            // Replicas that read the event again on the news of the loss may have read it before
            // this restore: they read it once more, and see its mark.
            let message = serde_json::to_string(&Notification::Settings {
                event: event.clone(),
            })
            .unwrap_or_default();
            let _: () = conn.publish(&self.channel, message).await?;
        }
        loop {
            let left_ms: i64 = conn.pttl(&mark).await?;
            if left_ms <= 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(left_ms.unsigned_abs())).await;
        }
    }

    /// `INFO replication` of the primary holding `event`'s keys (the key routes it in a cluster).
    pub(super) async fn instance_info(&self, event: &LineId) -> Result<String, StoreError> {
        let (_, info): (Option<u64>, String) = redis::pipe()
            .get(line_key(&self.prefix, event, "issued"))
            .cmd("INFO")
            .arg("replication")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(info)
    }

    pub(super) async fn restore(
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
                invocation.key(line_key(&self.prefix, event, name));
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
pub(super) async fn send_joins(
    restorer: Restorer,
    mut pending: mpsc::UnboundedReceiver<PendingJoin>,
) {
    let scripts = JoinScripts {
        trusted: Script::new(include_str!("../lua/join_trusted.lua")),
        pool: Script::new(include_str!("../lua/join_pool.lua")),
        leave: Script::new(include_str!("../lua/leave.lua")),
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

pub(super) struct JoinScripts {
    pub(super) trusted: Script,
    pub(super) pool: Script,
    /// Gives up the numbers of joins refused in their transaction.
    pub(super) leave: Script,
}

/// One event's joins of a batch: the anonymous ones in one transaction, then the trusted ones; the
/// pool's anonymous ones in one script call, then its trusted ones.
pub(super) async fn join_event(
    restorer: &Restorer,
    scripts: &JoinScripts,
    event: LineId,
    joins: Vec<PendingJoin>,
) {
    let key = |name: &str| line_key(&restorer.prefix, &event, name);
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
        join_anonymous(restorer, &keys, anonymous, &scripts.leave).await;
    }
    for join in trusted {
        let joined = join_trusted(restorer, &scripts.trusted, &keys, &join).await;
        let _ = join.reply.send(joined);
    }
    let (trusted, anonymous): (Vec<_>, Vec<_>) = pooled
        .into_iter()
        .partition(|join| join.who == JoinAs::Trusted);
    if !anonymous.is_empty() {
        join_pool(restorer, &scripts.pool, &keys, anonymous).await;
    }
    for join in trusted {
        join_pool(restorer, &scripts.pool, &keys, vec![join]).await;
    }
}

pub(super) struct JoinKeys {
    pub(super) event: LineId,
    pub(super) issued: String,
    /// The second count every draw moves with `issued` (see `lua/restore.lua`).
    pub(super) shadow: String,
    pub(super) settings: String,
    /// Present while replicas restore what they know after a loss: nobody draws meanwhile.
    pub(super) settle: String,
    pub(super) line: String,
    pub(super) visitors: String,
    pub(super) draw: String,
    /// `lua/join_pool.lua`'s keys ([`JOIN_POOL_KEYS`]).
    pub(super) pool: [String; 5],
}

/// The keys of `lua/join_pool.lua`, in its order: the pool's arrivals counter, entries, set and
/// trusted visitors, and the line's trusted visitors.
pub(super) const JOIN_POOL_KEYS: [&str; 5] = [
    "pool:arrived",
    "pool:entries",
    "pool",
    "pool:visitors",
    "visitors",
];

/// Joins into the pool (`lua/join_pool.lua`): a batch of anonymous visitors, or one trusted
/// visitor; the script counts each client's joins against its quota and refuses those past it
/// (they take no arrival number). Every caller gets its answer or the error.
pub(super) async fn join_pool(
    restorer: &Restorer,
    script: &Script,
    keys: &JoinKeys,
    joins: Vec<PendingJoin>,
) {
    let Some(first) = joins.first() else { return };
    let trusted = first.who == JoinAs::Trusted;
    let floor = joins.iter().map(|join| join.floor).max().unwrap_or(0);
    let window = QuotaWindow::at(joins.iter().map(|join| join.now_ms).max().unwrap_or(0));
    let mut invocation = script.prepare_invoke();
    for key in keys
        .pool
        .iter()
        .chain(&quota_keys(restorer, &keys.event, &window))
    {
        invocation.key(key);
    }
    invocation
        .arg(first.now_ms)
        .arg(floor)
        .arg(u8::from(trusted))
        .arg(window.previous_covered_ms)
        .arg(joins.len());
    for join in &joins {
        invocation.arg(join.visitor.as_str());
    }
    let quotas = joins.iter().map(|join| match join.who.quota() {
        Some(quota) => (quota.client.to_string(), quota.per_minute),
        None => (String::new(), 0),
    });
    for (client, per_minute) in quotas {
        invocation.arg(client).arg(per_minute);
    }
    let answer: Result<(u64, u8, u8, u8, Vec<u64>), StoreError> = invocation
        .invoke_async(&mut restorer.conn.clone())
        .await
        .map_err(StoreError::from);
    let mut offset = 0;
    for (i, join) in joins.into_iter().enumerate() {
        let joined = answer
            .clone()
            .and_then(|(first, fresh, arrival, _, counts)| {
                if let (Some(quota), Some(&[1, count, previous])) =
                    (join.who.quota(), counts.get(3 * i..3 * i + 3))
                {
                    let wait = quota.retry_after(&window, previous, count);
                    return Err(StoreError::OverQuota(wait));
                }
                offset += 1;
                Ok(Joined {
                    position: first + offset - 1,
                    fresh: fresh == 1,
                    arrival: arrival == 1,
                })
            });
        let _ = join.reply.send(joined);
    }
}

/// The keys of an event's join counts per client ([`JoinQuota`]): this minute's hash, the
/// previous minute's and the next minute's (client address -> joins). The next minute's holds
/// joins a replica timed after this one's that reached Redis first, at the minute's turn: they
/// count in full, or a client joining on several replicas then would get its quota twice.
fn quota_keys(restorer: &Restorer, event: &LineId, window: &QuotaWindow) -> [String; 3] {
    let minute = |minute: u64| line_key(&restorer.prefix, event, &format!("quota:{minute}"));
    [
        minute(window.minute),
        minute(window.minute.saturating_sub(1)),
        minute(window.minute + 1),
    ]
}

/// A batch of anonymous joins of one event, in one MULTI/EXEC transaction: INCRBY the issued
/// counter by the batch's size and RPUSH its line entries, so the i-th visitor's position is the
/// counter's old value + i and its entry sits at that position in the line. (A transaction costs
/// Redis a fraction of a script call, which spent 15 µs in the Lua machinery alone.) Every caller
/// gets its answer or the error; a caller that went away (its request was cancelled) keeps its
/// number: a place nobody claims, admitted and passed over like any no-show.
///
/// The same transaction counts each client's joins against its quota ([`QuotaCounts`]) and marks
/// each challenge solution spent (a member of the set of its challenge's expiry minute). A join
/// past its client's quota is answered [`StoreError::OverQuota`], one whose solution was spent
/// before [`StoreError::Spent`]; the number such a join drew is given up at once
/// (`lua/leave.lua`), so releases pass over it as over any leaver. (The replica then refuses an
/// over-quota client without asking Redis until its quota recovers, so such numbers are few.)
///
/// Should the counter come back below a position the callers know was handed out (Redis lost
/// writes), the positions drawn are never answered: they become placeholders, the counter is
/// restored past what was handed out, and the batch is drawn again.
pub(super) async fn join_anonymous(
    restorer: &Restorer,
    keys: &JoinKeys,
    joins: Vec<PendingJoin>,
    leave: &Script,
) {
    let entries: Vec<String> = joins
        .iter()
        .map(|join| format!("{} {}", join.visitor.as_str(), join.now_ms))
        .collect();
    let count = joins.len() as u64;
    let floor = joins.iter().map(|join| join.floor).max().unwrap_or(0);
    let mut quotas = QuotaCounts::of(&joins);
    let mut spends = Spends::of(restorer, &keys.event, &joins);
    // Each try counts the batch's joins again: after a loss (rare) a client may be refused a
    // little early, never let through beyond its quota.
    let mut before = Err(StoreError::Unavailable("not drawn".into()));
    for _ in 0..3 {
        let mut transaction = redis::pipe();
        transaction
            .atomic()
            .incr(&keys.issued, count)
            .rpush(&keys.line, &entries)
            .incr(&keys.shadow, count)
            .exists(&keys.settings)
            .exists(&keys.settle)
            .cmd("INFO")
            .arg("replication");
        spends.mark_in(&mut transaction);
        quotas.count_in(&mut transaction, restorer, &keys.event);
        let answer: Result<Vec<redis::Value>, StoreError> = transaction
            .query_async(&mut restorer.conn.clone())
            .await
            .map_err(StoreError::from);
        let parsed = answer.and_then(|mut answer| {
            let mut marked = answer.split_off(6.min(answer.len()));
            let counted = marked.split_off(spends.answers().min(marked.len()));
            let drawn: (u64, u64, u64, bool, bool, String) =
                redis::from_redis_value(redis::Value::Array(answer))?;
            spends.read(marked)?;
            quotas.read(counted)?;
            Ok(drawn)
        });
        let (last, length, shadow, kept, settling, info) = match parsed {
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
    let mut refused = Vec::new();
    for (index, join) in joins.into_iter().enumerate() {
        let position = before.clone().map(|before| before + index as u64 + 1);
        let joined = position.and_then(|position| {
            let admitted = spends.admit(index).and_then(|()| quotas.admit(&join));
            if admitted.is_err() {
                refused.push((position, join.visitor.clone()));
            }
            admitted?;
            Ok(Joined {
                position,
                fresh: true,
                arrival: false,
            })
        });
        let _ = join.reply.send(joined);
    }
    if !refused.is_empty() {
        tokio::spawn(give_up(
            restorer.clone(),
            keys.event.clone(),
            leave.clone(),
            refused,
        ));
    }
}

/// Gives up the numbers refused joins drew, as their visitors would leave (`lua/leave.lua`).
async fn give_up(restorer: Restorer, event: LineId, leave: Script, refused: Vec<(u64, VisitorId)>) {
    let key = |name: &str| line_key(&restorer.prefix, &event, name);
    for (position, visitor) in refused {
        let left: Result<u8, _> = leave
            .key(key("leavers"))
            .key(key("leavers:log"))
            .key(key("visitors"))
            .arg(position)
            .arg(visitor.as_str())
            .arg(&restorer.channel)
            .arg(event.wire())
            .invoke_async(&mut restorer.conn.clone())
            .await;
        if let Err(e) = left {
            tracing::warn!(%event, position, error = %e, "the number a refused join drew could not be given up: it stays a place nobody holds");
        }
    }
}

/// A batch's challenge solutions, marked spent in the join's own transaction: per mark set, one
/// `SMISMEMBER` says which were spent before and one `SADD` spends them all (a command per batch
/// rather than per join: Redis spends most of a small command's time on the command itself).
struct Spends {
    /// Each solved join's index in the batch, its mark set (an index into `sets`), and whether
    /// the same solution came earlier in the batch (then it is never this join's).
    marks: Vec<(usize, usize, bool)>,
    /// Each mark set the batch writes, when it may go, and its members in the batch's order.
    sets: Vec<(String, i64, Vec<Verified>)>,
    /// Whether each mark was set by this batch (in any try: a try after a loss finds its own).
    ours: Vec<bool>,
}

impl Spends {
    fn of(restorer: &Restorer, event: &LineId, joins: &[PendingJoin]) -> Self {
        let mut marks = Vec::new();
        let mut sets: Vec<(String, i64, Vec<Verified>)> = Vec::new();
        for (index, join) in joins.iter().enumerate() {
            let JoinAs::Solved(solved, _) = join.who else {
                continue;
            };
            let (key, until_ms) = spent_mark(&restorer.prefix, event, &solved);
            let set = match sets.iter().position(|(known, _, _)| *known == key) {
                Some(set) => set,
                None => {
                    sets.push((key, until_ms, Vec::new()));
                    sets.len() - 1
                }
            };
            let repeated = sets[set].2.contains(&solved);
            sets[set].2.push(solved);
            marks.push((index, set, repeated));
        }
        Self {
            ours: vec![false; marks.len()],
            marks,
            sets,
        }
    }

    /// Per set: `SMISMEMBER` (answered), then `SADD` and `PEXPIREAT` (answers ignored).
    fn mark_in(&self, transaction: &mut redis::Pipeline) {
        for (key, until_ms, members) in &self.sets {
            let members: Vec<&str> = members.iter().map(Verified::mark).collect();
            transaction
                .smismember(key, &members)
                .sadd(key, &members)
                .ignore()
                .pexpire_at(key, *until_ms)
                .ignore();
        }
    }

    /// How many answers [`Spends::mark_in`] adds to the transaction's.
    fn answers(&self) -> usize {
        self.sets.len()
    }

    /// Reads what [`Spends::mark_in`] asked: per set, 0 for each member not spent before.
    fn read(&mut self, replies: Vec<redis::Value>) -> Result<(), StoreError> {
        let before: Vec<Vec<bool>> = redis::from_redis_value(redis::Value::Array(replies))?;
        let mut next = vec![0; self.sets.len()];
        for ((_, set, repeated), ours) in self.marks.iter().zip(self.ours.iter_mut()) {
            let spent_before = before
                .get(*set)
                .and_then(|members| members.get(next[*set]).copied())
                .ok_or_else(|| StoreError::Corrupt("fewer answers than marks".into()))?;
            next[*set] += 1;
            *ours |= !spent_before && !repeated;
        }
        Ok(())
    }

    /// Whether the join at `index` spent its solution first (or spends none).
    fn admit(&self, index: usize) -> Result<(), StoreError> {
        match self.marks.iter().position(|(at, _, _)| *at == index) {
            Some(mark) if !self.ours[mark] => Err(StoreError::Spent),
            _ => Ok(()),
        }
    }
}

/// A batch's joins counted against their clients' quotas of new places ([`JoinQuota`]), in the
/// join's own transaction: each client's joins in the batch are added to its count in this
/// minute's hash, and its counts in the previous and next minutes' are read; then each join, in
/// arrival order, is within the quota or not.
struct QuotaCounts {
    window: QuotaWindow,
    /// Each counted client's joins in the batch, then (once read) its count this minute with them
    /// and its counts the previous and next minutes.
    clients: Vec<ClientCount>,
}

struct ClientCount {
    quota: JoinQuota,
    joins: u64,
    this_minute: u64,
    previous_minute: u64,
    next_minute: u64,
    /// Joins of the batch answered so far.
    answered: u64,
}

impl QuotaCounts {
    fn of(joins: &[PendingJoin]) -> Self {
        let now_ms = joins.iter().map(|join| join.now_ms).max().unwrap_or(0);
        let mut clients: Vec<ClientCount> = Vec::new();
        for join in joins {
            let Some(quota) = join.who.quota() else {
                continue;
            };
            match clients.iter_mut().find(|c| c.quota.client == quota.client) {
                Some(count) => count.joins += 1,
                None => clients.push(ClientCount {
                    quota,
                    joins: 1,
                    this_minute: 0,
                    previous_minute: 0,
                    next_minute: 0,
                    answered: 0,
                }),
            }
        }
        Self {
            window: QuotaWindow::at(now_ms),
            clients,
        }
    }

    /// Adds each client's joins to this minute's count and reads the previous and next minutes':
    /// a HINCRBY per client, then two HMGETs.
    fn count_in(&self, transaction: &mut redis::Pipeline, restorer: &Restorer, event: &LineId) {
        if self.clients.is_empty() {
            return;
        }
        let [this_minute, previous_minute, next_minute] = quota_keys(restorer, event, &self.window);
        let fields: Vec<String> = self
            .clients
            .iter()
            .map(|count| count.quota.client.to_string())
            .collect();
        for (field, count) in fields.iter().zip(&self.clients) {
            transaction.hincr(&this_minute, field, count.joins);
        }
        transaction
            .pexpire(&this_minute, 2 * QUOTA_WINDOW_MS as i64)
            .ignore()
            .hmget(previous_minute, &fields)
            .hmget(next_minute, &fields);
    }

    /// Reads what [`QuotaCounts::count_in`] asked.
    fn read(&mut self, mut answers: Vec<redis::Value>) -> Result<(), StoreError> {
        if self.clients.is_empty() {
            return Ok(());
        }
        let mut read_counts = || -> Result<Vec<Option<u64>>, StoreError> {
            match answers.pop() {
                Some(counts) => Ok(redis::from_redis_value(counts)?),
                None => Ok(Vec::new()),
            }
        };
        let next = read_counts()?;
        let previous = read_counts()?;
        let this_minute: Vec<u64> = redis::from_redis_value(redis::Value::Array(answers))?;
        let clients = self.clients.len();
        if [this_minute.len(), previous.len(), next.len()] != [clients; 3] {
            return Err(StoreError::Corrupt(format!(
                "{}, {} and {} counts for {clients} clients' quotas",
                this_minute.len(),
                previous.len(),
                next.len(),
            )));
        }
        let read = this_minute.into_iter().zip(previous).zip(next);
        for (count, ((this, previous), next)) in self.clients.iter_mut().zip(read) {
            count.this_minute = this;
            count.previous_minute = previous.unwrap_or(0);
            count.next_minute = next.unwrap_or(0);
        }
        Ok(())
    }

    /// Whether `join` (the batch's joins taken in arrival order) is within its client's quota.
    fn admit(&mut self, join: &PendingJoin) -> Result<(), StoreError> {
        let Some(quota) = join.who.quota() else {
            return Ok(());
        };
        let window = self.window;
        let Some(count) = self
            .clients
            .iter_mut()
            .find(|c| c.quota.client == quota.client)
        else {
            return Ok(());
        };
        count.answered += 1;
        // Joins counted in the next minute came before this one: they count in full.
        let counted = count.this_minute + count.next_minute;
        let made = (counted + count.answered).saturating_sub(count.joins);
        if quota.admits(&window, count.previous_minute, made) {
            Ok(())
        } else {
            let wait = quota.retry_after(&window, count.previous_minute, counted);
            Err(StoreError::OverQuota(wait))
        }
    }
}

/// How often each event's joins are announced at most.
pub(super) const ANNOUNCE_EVERY: Duration = Duration::from_millis(100);

/// Tells every replica how far each event's line reaches, at most once per [`ANNOUNCE_EVERY`]
/// per event, without keeping the joins waiting: a rush of joins costs Redis and the replicas a
/// handful of messages a second, not one per batch. A lost announcement is made good by the
/// replicas' resync.
pub(super) async fn announce_joins(
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
pub(super) async fn join_trusted(
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

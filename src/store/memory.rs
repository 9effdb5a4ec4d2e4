//! The embedded store: everything in this process, for one replica and for trying waitroom out.
//! It follows the Redis store's semantics exactly; restarting the process empties every line.

use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;

use super::{AdminStore, DrainStore, HookStore, LineStore, ReleaseStore, SyncStore};
use super::{
    AdvanceMode, Advanced, Capacity, Claim, Delivery, DrawEntries, DrawState, Drawn, Figures,
    Floor, JoinAs, Joined, LeaseAction, Notification, Pick, PoolState, PrequeueLeave, PutMode,
    Snapshot, StoreError, LOST_VISITOR,
};
use super::{COMPLETIONS_KEPT_MS, TOMBSTONE_MS};
use crate::domain::draw::{self, Seed};
use crate::domain::{Admitted, EventSettings, LineId, VisitorId};

#[derive(Default)]
struct Line {
    settings: Option<EventSettings>,
    issued: u64,
    admitted_through: u64,
    /// Visitor of each position and when they joined, in order.
    visitors: Vec<(Option<VisitorId>, i64)>,
    trusted: HashMap<VisitorId, u64>,
    left: BTreeSet<u64>,
    /// The positions in `left`, in the order they were given up.
    left_log: Vec<u64>,
    /// Unix µs of the last restore that changed anything (see `lua/restore.lua`).
    restored_at: u64,
    /// Visits completed lately: (position, unix ms), oldest first.
    completed: Vec<(u64, i64)>,
    last_slot_ms: Option<u64>,
    /// Position -> how its claim was decided (see `claim.lua`).
    claims: HashMap<u64, Claim>,
    /// Position -> unix ms when the slot frees itself (events with a capacity only).
    active: HashMap<u64, u64>,
    /// Pointer after each move, and when it moved.
    admissions: BTreeMap<u64, i64>,
    drained_through: u64,
    /// Drain lease holder and when the lease runs out.
    lease: Option<(String, Instant)>,
    /// Single-use passes consumed, by position (one admission, whichever of its passes), until they would have expired.
    used_passes: HashMap<u64, Instant>,
    /// The pre-queue draw (see `lua/draw.lua`).
    draw: Option<PrequeueDraw>,
    /// The pool of an event that draws at random (see `lua/advance.lua`).
    pool: Pool,
    /// Unused enqueue codes' digests.
    codes: HashSet<[u8; 32]>,
    /// Challenges' nonces used, until when.
    used: HashMap<String, Instant>,
    /// The webhooks' outbox (see `lua/hook_take.lua`).
    hooks: Hooks,
}

#[derive(Default)]
struct Hooks {
    /// Ids of the notices ever queued.
    told: HashSet<String>,
    /// Each delivery by key: its record, when it is due (unix ms) and its tries so far.
    pending: HashMap<String, (String, i64, u64)>,
}

#[derive(Default)]
struct Pool {
    /// The entry of each arrival number, in order.
    arrived: Vec<(Option<VisitorId>, i64)>,
    /// The arrival numbers still in the pool, ascending (as a release ranks them).
    waiting: Vec<u64>,
    /// Trusted visitors' arrival numbers.
    trusted: HashMap<VisitorId, u64>,
    /// (arrival number, position) of each winner in the order drawn, and (arrival number, 0) of
    /// each who left the pool: the log replicas read ([`Store::won_since`]).
    won: Vec<(u64, u64)>,
    /// The seed every release draws with, fixed with the first arrival.
    seed: Option<Seed>,
    /// Releases that drew from the pool.
    releases: u64,
}

impl Pool {
    fn arrive(&mut self, visitor: Option<VisitorId>, now_ms: i64) -> u64 {
        self.seed.get_or_insert_with(Seed::generate);
        self.arrived.push((visitor, now_ms));
        let arrival = self.arrived.len() as u64;
        // Arrival numbers only grow: the pool stays sorted.
        self.waiting.push(arrival);
        arrival
    }

    /// Takes `arrival` out of the pool; false if it was not in it.
    fn remove(&mut self, arrival: u64) -> bool {
        match self.waiting.binary_search(&arrival) {
            Ok(at) => {
                self.waiting.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// The next release's winners, up to `count`: [`draw::release_picks`] over the sorted pool.
    fn draw(&mut self, count: u64) -> Vec<u64> {
        let Some(seed) = self.seed else {
            return Vec::new();
        };
        if count == 0 || self.waiting.is_empty() {
            return Vec::new();
        }
        self.releases += 1;
        let picks = draw::release_picks(&seed, self.releases, self.waiting.len() as u64, count);
        draw::take_picks(&mut self.waiting, &picks)
    }

    /// Takes every arrival number out of the pool, in arrival order.
    fn drain_in_order(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.waiting)
    }

    fn state(&self) -> Option<PoolState> {
        (!self.arrived.is_empty() || self.seed.is_some()).then_some(PoolState {
            arrived: self.arrived.len() as u64,
            waiting: self.waiting.len() as u64,
            won: self.won.len() as u64,
            seed: self.seed,
        })
    }
}

struct PrequeueDraw {
    seed: Seed,
    /// Fixed when the pre-queue closes.
    size: Option<u64>,
    at_ms: Option<i64>,
    /// The seed the order is drawn with: mixed from the entries at the draw, or restored.
    order_seed: Option<Seed>,
    /// The pre-queue's entries in arrival order, kept at the draw.
    arrived: Vec<(Option<VisitorId>, i64)>,
    /// Arrival numbers given up before the draw.
    left: BTreeSet<u64>,
}

impl PrequeueDraw {
    fn undrawn(&self) -> bool {
        self.at_ms.is_none()
    }
}

fn visitor_name(visitor: &Option<VisitorId>) -> String {
    visitor
        .as_ref()
        .map_or_else(|| LOST_VISITOR.to_owned(), |v| v.as_str().to_owned())
}

pub struct MemoryStore {
    lines: Mutex<BTreeMap<LineId, Line>>,
    /// Events deleted lately, and until when their tombstone stays.
    deleted: Mutex<HashMap<LineId, Instant>>,
    changes: broadcast::Sender<Notification>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            lines: Mutex::default(),
            deleted: Mutex::default(),
            changes: broadcast::channel(16_384).0,
        }
    }
}

impl MemoryStore {
    fn with_line<T>(&self, event: &LineId, f: impl FnOnce(&mut Line) -> T) -> T {
        let mut lines = self.lines.lock();
        f(lines.entry(event.clone()).or_default())
    }

    fn announce(&self, notification: Notification) {
        // No receiver simply means no replica cache is listening yet.
        let _ = self.changes.send(notification);
    }
}

impl Line {
    /// Gives the pool's winners the line's next positions, as `lua/advance.lua` does: the
    /// `pick` of those a release of `count` needs beyond the visitors in line, or the whole pool in
    /// arrival order. Returns whether anyone was drawn.
    fn draw_from_pool(&mut self, pick: Pick, count: u64) -> bool {
        let winners = match pick {
            Pick::InOrder => self.pool.drain_in_order(),
            Pick::AtRandom => {
                let (pointer, issued) = (self.admitted_through, self.issued);
                let gone = self.left.range(pointer + 1..).count() as u64;
                let in_line = (issued - pointer).saturating_sub(gone);
                self.pool.draw(count.saturating_sub(in_line))
            }
        };
        for &arrival in &winners {
            let entry = self.pool.arrived[arrival as usize - 1].clone();
            self.visitors.push(entry);
            self.issued += 1;
            self.pool.won.push((arrival, self.issued));
        }
        !winners.is_empty()
    }

    /// A join into the pool (see [`Store::join`]): a trusted visitor's place (in line or in the
    /// pool) is kept. Arrival numbers up to `floor` the pool lost wait in it as placeholders.
    fn join_pool(&mut self, visitor: &VisitorId, who: JoinAs, now_ms: i64, floor: u64) -> Joined {
        if who == JoinAs::Trusted {
            if let Some(&position) = self.trusted.get(visitor) {
                return Joined {
                    position,
                    fresh: false,
                    arrival: false,
                };
            }
            if let Some(&arrival) = self.pool.trusted.get(visitor) {
                return Joined {
                    position: arrival,
                    fresh: false,
                    arrival: true,
                };
            }
        }
        while (self.pool.arrived.len() as u64) < floor {
            self.pool.arrive(None, now_ms);
        }
        let arrival = self.pool.arrive(Some(visitor.clone()), now_ms);
        if who == JoinAs::Trusted {
            self.pool.trusted.insert(visitor.clone(), arrival);
        }
        Joined {
            position: arrival,
            fresh: true,
            arrival: true,
        }
    }

    /// Moves the counter past `floor`, with placeholder entries for the positions in between.
    fn raise_issued(&mut self, floor: u64, now_ms: i64) -> bool {
        if self.issued >= floor {
            return false;
        }
        let missing = usize::try_from(floor).unwrap_or(usize::MAX);
        self.visitors.resize(missing, (None, now_ms));
        self.issued = floor;
        true
    }
}

/// Marks `key` for `ttl_ms` if it is not marked (as SET NX PX does in Redis): true if it was not.
/// Marks that ran out count as none, and are dropped every 1,024 marks (not at every call: a
/// challenge's marks come with every join).
fn mark_once<K: std::hash::Hash + Eq>(
    marks: &mut HashMap<K, Instant>,
    key: K,
    ttl_ms: u64,
) -> bool {
    let now = Instant::now();
    if marks.len() % 1024 == 1023 {
        marks.retain(|_, until| *until > now);
    }
    if marks.get(&key).is_some_and(|until| *until > now) {
        return false;
    }
    marks.insert(key, now + Duration::from_millis(ttl_ms));
    true
}

/// Where the pointer lands when it moves over `count` visitors who did not leave, as advance.lua
/// finds it: visiting only the leavers it passes, each once in the life of the line.
fn target_after(left: &BTreeSet<u64>, pointer: u64, issued: u64, count: u64) -> u64 {
    let (mut target, mut wanted) = (pointer, count);
    for &gone in left.range(pointer + 1..=issued) {
        let staying = gone - target - 1;
        if staying >= wanted {
            break;
        }
        wanted -= staying;
        target = gone;
    }
    target.saturating_add(wanted).min(issued)
}

fn now_ms() -> u64 {
    u64::try_from(crate::clock::unix_ms()).unwrap_or_default()
}

#[async_trait]
impl AdminStore for MemoryStore {
    async fn put_event(
        &self,
        event: &LineId,
        settings: &EventSettings,
        mode: PutMode,
    ) -> Result<bool, StoreError> {
        self.deleted.lock().remove(event);
        let written = self.with_line(event, |line| {
            if mode == PutMode::CreateOnly && line.settings.is_some() {
                return false;
            }
            line.settings = Some(settings.clone());
            if settings.has_pool() {
                line.pool.seed.get_or_insert_with(Seed::generate);
            }
            if settings.has_prequeue() && line.draw.is_none() {
                line.draw = Some(PrequeueDraw {
                    seed: Seed::generate(),
                    size: None,
                    at_ms: None,
                    order_seed: None,
                    arrived: Vec::new(),
                    left: BTreeSet::new(),
                });
            }
            true
        });
        if written {
            self.announce(Notification::Settings {
                event: event.clone(),
            });
        }
        Ok(written)
    }

    async fn add_codes(&self, event: &LineId, digests: &[[u8; 32]]) -> Result<u64, StoreError> {
        Ok(self.with_line(event, |line| {
            digests
                .iter()
                .filter(|digest| line.codes.insert(**digest))
                .count() as u64
        }))
    }

    async fn delete_event(&self, event: &LineId) -> Result<bool, StoreError> {
        let existed = self
            .lines
            .lock()
            .remove(event)
            .is_some_and(|line| line.settings.is_some());
        self.deleted.lock().insert(
            event.clone(),
            Instant::now() + Duration::from_millis(TOMBSTONE_MS),
        );
        self.announce(Notification::Deleted {
            event: event.clone(),
        });
        Ok(existed)
    }
}

#[async_trait]
impl LineStore for MemoryStore {
    async fn join(
        &self,
        event: &LineId,
        visitor: &VisitorId,
        who: JoinAs,
        now_ms: i64,
        floor: u64,
        pick: Pick,
    ) -> Result<Joined, StoreError> {
        // A solution is spent with the place, under the same lock.
        let spent = |line: &mut Line| match who {
            JoinAs::Solved(solved, _) => mark_once(
                &mut line.used,
                solved.mark().to_owned(),
                solved.mark_ttl_ms(now_ms),
            ),
            _ => true,
        };
        if pick == Pick::AtRandom {
            return self.with_line(event, |line| match spent(line) {
                true => Ok(line.join_pool(visitor, who, now_ms, floor)),
                false => Err(StoreError::Spent),
            });
        }
        let joined = self.with_line(event, |line| {
            if !spent(line) {
                return Err(StoreError::Spent);
            }
            line.raise_issued(floor, now_ms);
            let arrival =
                who == JoinAs::Trusted && line.draw.as_ref().is_some_and(PrequeueDraw::undrawn);
            if who == JoinAs::Trusted {
                if let Some(&position) = line.trusted.get(visitor) {
                    return Ok(Joined {
                        position,
                        fresh: false,
                        arrival,
                    });
                }
            }
            line.issued += 1;
            line.visitors.push((Some(visitor.clone()), now_ms));
            if who == JoinAs::Trusted {
                line.trusted.insert(visitor.clone(), line.issued);
            }
            Ok(Joined {
                position: line.issued,
                fresh: true,
                arrival,
            })
        })?;
        if joined.fresh {
            self.announce(Notification::Issued {
                event: event.clone(),
                issued: joined.position,
            });
        }
        Ok(joined)
    }

    async fn leave(
        &self,
        event: &LineId,
        position: u64,
        visitor: &VisitorId,
    ) -> Result<bool, StoreError> {
        let added = self.with_line(event, |line| {
            if line.trusted.get(visitor) == Some(&position) {
                line.trusted.remove(visitor);
            }
            let added = line.left.insert(position);
            if added {
                line.left_log.push(position);
            }
            added
        });
        if added {
            self.announce(Notification::Left {
                event: event.clone(),
                position,
            });
        }
        Ok(added)
    }

    async fn leave_prequeue(
        &self,
        event: &LineId,
        arrival: u64,
        visitor: &VisitorId,
    ) -> Result<PrequeueLeave, StoreError> {
        let leave = self.with_line(event, |line| match &mut line.draw {
            Some(draw) if draw.undrawn() => {
                draw.left.insert(arrival);
                if line.trusted.get(visitor) == Some(&arrival) {
                    line.trusted.remove(visitor);
                }
                PrequeueLeave::Recorded
            }
            None if line.pool.remove(arrival) => {
                line.pool.won.push((arrival, 0));
                if line.pool.trusted.get(visitor) == Some(&arrival) {
                    line.pool.trusted.remove(visitor);
                }
                self.announce(Notification::Won {
                    event: event.clone(),
                });
                PrequeueLeave::Recorded
            }
            _ => PrequeueLeave::AlreadyDrawn,
        });
        Ok(leave)
    }

    async fn claim(
        &self,
        event: &LineId,
        position: u64,
        now_ms: i64,
        pass_ttl_ms: u64,
        capacity: Capacity,
    ) -> Result<Claim, StoreError> {
        Ok(
            self.with_line(event, |line| match line.claims.get(&position) {
                Some(decided) => *decided,
                None => {
                    if capacity.is_limited() {
                        let now = now_ms.max(0) as u64;
                        match line.active.get_mut(&position) {
                            Some(free_at) if *free_at > now => *free_at = now + pass_ttl_ms,
                            _ => {
                                line.active.remove(&position);
                                line.claims.insert(position, Claim::TooLate);
                                return Claim::TooLate;
                            }
                        }
                    }
                    let granted = Claim::Granted { at_ms: now_ms };
                    line.claims.insert(position, granted);
                    granted
                }
            }),
        )
    }

    async fn use_code(&self, event: &LineId, digest: [u8; 32]) -> Result<bool, StoreError> {
        Ok(self.with_line(event, |line| line.codes.remove(&digest)))
    }

    async fn hold_slot(
        &self,
        event: &LineId,
        position: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let (now, until) = (now_ms.max(0) as u64, until_ms.max(0) as u64);
        Ok(
            self.with_line(event, |line| match line.active.get_mut(&position) {
                Some(free_at) if *free_at > now => {
                    *free_at = (*free_at).max(until);
                    true
                }
                _ => false,
            }),
        )
    }

    async fn complete(&self, event: &LineId, position: u64) -> Result<bool, StoreError> {
        let now = crate::clock::unix_ms();
        let (held, newly) = self.with_line(event, |line| {
            let held = line.active.remove(&position).is_some();
            let before = line.claims.insert(position, Claim::Completed);
            let newly = before != Some(Claim::Completed);
            if newly {
                line.completed
                    .retain(|(_, at)| *at > now - COMPLETIONS_KEPT_MS);
                line.completed.push((position, now));
            }
            (held, newly)
        });
        if newly {
            self.announce(Notification::Completed {
                event: event.clone(),
                position,
            });
        }
        Ok(held)
    }

    async fn consume_pass(
        &self,
        event: &LineId,
        position: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.with_line(event, |line| {
            mark_once(&mut line.used_passes, position, ttl_ms)
        }))
    }

    async fn pass_used(&self, event: &LineId, position: u64) -> Result<bool, StoreError> {
        let now = Instant::now();
        Ok(self.with_line(event, |line| {
            line.used_passes
                .get(&position)
                .is_some_and(|until| *until > now)
        }))
    }
}

#[async_trait]
impl SyncStore for MemoryStore {
    async fn events(&self) -> Result<Vec<LineId>, StoreError> {
        let lines = self.lines.lock();
        Ok(lines
            .iter()
            .filter(|(_, line)| line.settings.is_some())
            .map(|(id, _)| id.clone())
            .collect())
    }

    async fn snapshot(&self, event: &LineId) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.with_line(event, |line| {
            line.settings.clone().map(|settings| Snapshot {
                settings,
                restored_at: line.restored_at,
                last_completed_ms: line.completed.last().map_or(0, |(_, at)| *at),
                draw: line.draw.as_ref().map(|draw| DrawState {
                    seed: draw.seed,
                    drawn: draw.size.zip(draw.at_ms).zip(draw.order_seed).map(
                        |((size, at_ms), order_seed)| Drawn {
                            size,
                            at_ms,
                            order_seed,
                        },
                    ),
                }),
                figures: Figures {
                    issued: line.issued,
                    admitted_through: line.admitted_through,
                    left: line.left.len() as u64,
                    drained_through: line.drained_through,
                    active: {
                        let now = now_ms();
                        line.active
                            .values()
                            .filter(|free_at| **free_at > now)
                            .count() as u64
                    },
                },
                pool: line.pool.state(),
            })
        }))
    }

    async fn restore(
        &self,
        event: &LineId,
        settings: &EventSettings,
        floor: &Floor,
    ) -> Result<bool, StoreError> {
        let now_ms = crate::clock::unix_ms();
        let (restored, leavers) = self.with_line(event, |line| {
            let mut restored = line.settings.is_none();
            line.settings.get_or_insert_with(|| settings.clone());
            restored |= line.raise_issued(floor.issued, now_ms);
            let pointer_floor = floor.admitted_through.min(line.issued);
            if line.admitted_through < pointer_floor {
                line.admitted_through = pointer_floor;
                line.admissions.insert(pointer_floor, now_ms);
                restored = true;
            }
            if line.drained_through < floor.drained_through {
                line.drained_through = floor.drained_through;
                restored = true;
            }
            let mut leavers = Vec::new();
            for &position in &floor.leavers {
                if line.left.insert(position) {
                    line.left_log.push(position);
                    leavers.push(position);
                }
            }
            if let Some((seed, drawn)) = floor.draw {
                let draw = line.draw.get_or_insert_with(|| PrequeueDraw {
                    seed,
                    size: None,
                    at_ms: None,
                    order_seed: None,
                    arrived: Vec::new(),
                    left: BTreeSet::new(),
                });
                if let (None, Some((size, order_seed))) = (draw.size, drawn) {
                    draw.size = Some(size);
                    draw.order_seed = Some(order_seed);
                    restored = true;
                }
            }
            while (line.pool.arrived.len() as u64) < floor.arrived {
                line.pool.arrive(None, now_ms);
                restored = true;
            }
            let restored = restored || !leavers.is_empty();
            if restored {
                line.restored_at = u64::try_from(now_ms).unwrap_or_default() * 1_000;
            }
            (restored, leavers)
        });
        for position in leavers {
            self.announce(Notification::Left {
                event: event.clone(),
                position,
            });
        }
        Ok(restored)
    }

    async fn won_since(&self, event: &LineId, seen: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        Ok(self.with_line(event, |line| {
            let seen = usize::try_from(seen).unwrap_or(usize::MAX);
            line.pool.won.get(seen..).unwrap_or_default().to_vec()
        }))
    }

    async fn leavers_since(&self, event: &LineId, seen: u64) -> Result<Vec<u64>, StoreError> {
        Ok(self.with_line(event, |line| {
            let from = usize::try_from(seen).unwrap_or(usize::MAX);
            line.left_log.get(from..).unwrap_or_default().to_vec()
        }))
    }

    async fn completed_since(
        &self,
        event: &LineId,
        since_ms: i64,
    ) -> Result<Vec<(u64, i64)>, StoreError> {
        Ok(self.with_line(event, |line| {
            line.completed
                .iter()
                .filter(|(_, at)| *at > since_ms)
                .copied()
                .collect()
        }))
    }

    async fn notifications(&self) -> Result<BoxStream<'static, Notification>, StoreError> {
        let receiver = self.changes.subscribe();
        Ok(stream::unfold(receiver, |mut receiver| async move {
            // A slow listener that missed some sees the stream end: subscribing again reads every
            // event anew, as after a lost Redis connection.
            let notification = receiver.recv().await.ok()?;
            Some((notification, receiver))
        })
        .boxed())
    }

    async fn draw_entries(&self, event: &LineId) -> Result<Option<DrawEntries>, StoreError> {
        Ok(self.with_line(event, |line| {
            let prequeue = line.draw.as_ref()?;
            let size = usize::try_from(prequeue.size?).unwrap_or(usize::MAX);
            prequeue.at_ms?;
            Some(DrawEntries {
                arrived: prequeue
                    .arrived
                    .iter()
                    .map(|(v, _)| visitor_name(v))
                    .collect(),
                drawn: line.visitors[..size]
                    .iter()
                    .map(|(v, _)| visitor_name(v))
                    .collect(),
            })
        }))
    }

    async fn is_deleted(&self, event: &LineId) -> Result<bool, StoreError> {
        let mut deleted = self.deleted.lock();
        let now = Instant::now();
        deleted.retain(|_, until| *until > now);
        Ok(deleted.contains_key(event))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn instance(&self) -> Result<String, StoreError> {
        Ok("memory".into())
    }
}

#[async_trait]
impl ReleaseStore for MemoryStore {
    async fn advance(
        &self,
        event: &LineId,
        count: u64,
        mode: AdvanceMode,
        capacity: Capacity,
        pick: Pick,
    ) -> Result<Advanced, StoreError> {
        let mut won = false;
        let advanced = self.with_line(event, |line| {
            let unchanged = Advanced {
                moved: false,
                admitted_through: line.admitted_through,
                issued: line.issued,
            };
            let now = now_ms();
            if let AdvanceMode::Scheduled { interval_ms } = mode {
                let slot = now - now % interval_ms.max(1);
                if line.last_slot_ms.is_some_and(|last| last >= slot) {
                    return unchanged;
                }
                line.last_slot_ms = Some(slot);
            }
            let mut count = count;
            if capacity.is_limited() {
                line.active.retain(|_, free_at| *free_at > now);
                if let AdvanceMode::Scheduled { .. } = mode {
                    count = count.min(capacity.max_active.saturating_sub(line.active.len() as u64));
                }
            }
            won = line.draw_from_pool(pick, count);
            let target = target_after(&line.left, line.admitted_through, line.issued, count);
            if target == line.admitted_through {
                return unchanged;
            }
            if capacity.is_limited() {
                for position in line.admitted_through + 1..=target {
                    if !line.left.contains(&position) {
                        line.active.insert(position, now + capacity.claim_window_ms);
                    }
                }
            }
            line.admitted_through = target;
            line.admissions.insert(target, now as i64);
            Advanced {
                moved: true,
                admitted_through: target,
                issued: line.issued,
            }
        });
        if won {
            self.announce(Notification::Won {
                event: event.clone(),
            });
        }
        if advanced.moved {
            self.announce(Notification::Pointer {
                event: event.clone(),
                admitted_through: advanced.admitted_through,
                issued: advanced.issued,
                manual: mode == AdvanceMode::Manual,
            });
        }
        Ok(advanced)
    }

    async fn draw(&self, event: &LineId, now_ms: i64) -> Result<Option<Drawn>, StoreError> {
        let (drawn, newly_left) = self.with_line(event, |line| {
            let issued = line.issued;
            let Some(prequeue) = &mut line.draw else {
                return (None, Vec::new());
            };
            let size = *prequeue.size.get_or_insert(issued);
            let entries = usize::try_from(size).unwrap_or(usize::MAX);
            if prequeue.arrived.len() != entries {
                prequeue.arrived = line.visitors[..entries].to_vec();
            }
            let order_seed = *prequeue.order_seed.get_or_insert_with(|| {
                let published: Vec<String> = prequeue
                    .arrived
                    .iter()
                    .map(|(visitor, _)| {
                        let visitor = visitor.as_ref().map_or(LOST_VISITOR, VisitorId::as_str);
                        draw::entry_id(&prequeue.seed, visitor)
                    })
                    .collect();
                prequeue.seed.mixed(&published)
            });
            if let Some(at_ms) = prequeue.at_ms {
                let drawn = Drawn {
                    size,
                    at_ms,
                    order_seed,
                };
                return (Some(drawn), Vec::new());
            }
            let order = draw::order(&order_seed, u32::try_from(size).unwrap_or(u32::MAX));
            let positions = draw::positions(&order);
            for (slot, arrival) in line.visitors.iter_mut().zip(&order) {
                *slot = prequeue.arrived[*arrival as usize - 1].clone();
            }
            for held in line.trusted.values_mut() {
                if *held <= size {
                    *held = u64::from(positions[*held as usize - 1]);
                }
            }
            let mut newly_left = Vec::new();
            for arrival in std::mem::take(&mut prequeue.left) {
                let Some(&position) = positions.get(arrival as usize - 1) else {
                    continue;
                };
                let position = u64::from(position);
                if line.left.insert(position) {
                    line.left_log.push(position);
                    newly_left.push(position);
                }
            }
            prequeue.at_ms = Some(now_ms);
            (
                Some(Drawn {
                    size,
                    at_ms: now_ms,
                    order_seed,
                }),
                newly_left,
            )
        });
        if drawn.is_some() {
            for position in newly_left {
                self.announce(Notification::Left {
                    event: event.clone(),
                    position,
                });
            }
            self.announce(Notification::Settings {
                event: event.clone(),
            });
        }
        Ok(drawn)
    }
}

#[async_trait]
impl HookStore for MemoryStore {
    async fn queue_notice(
        &self,
        event: &LineId,
        notice: &str,
        deliveries: &[(String, String)],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        Ok(self.with_line(event, |line| {
            let hooks = &mut line.hooks;
            if !hooks.told.insert(notice.to_owned()) {
                return false;
            }
            for (key, record) in deliveries {
                hooks
                    .pending
                    .insert(key.clone(), (record.clone(), now_ms, 0));
            }
            true
        }))
    }

    async fn take_deliveries(
        &self,
        event: &LineId,
        now_ms: i64,
        lease_ms: u64,
        most: u64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut lines = self.lines.lock();
        let Some(line) = lines.get_mut(event) else {
            return Ok(Vec::new());
        };
        let mut due: Vec<(i64, &String)> = line
            .hooks
            .pending
            .iter()
            .filter(|(_, (_, at, _))| *at <= now_ms)
            .map(|(key, (_, at, _))| (*at, key))
            .collect();
        due.sort();
        let keys: Vec<String> = due
            .into_iter()
            .take(usize::try_from(most).unwrap_or(usize::MAX))
            .map(|(_, key)| key.clone())
            .collect();
        let lease = i64::try_from(lease_ms).unwrap_or(i64::MAX);
        Ok(keys
            .into_iter()
            .filter_map(|key| {
                let (record, at, tries) = line.hooks.pending.get_mut(&key)?;
                *at = now_ms.saturating_add(lease);
                *tries += 1;
                Some(Delivery {
                    record: record.clone(),
                    tries: *tries,
                    key,
                })
            })
            .collect())
    }

    async fn settle_delivery(
        &self,
        event: &LineId,
        key: &str,
        retry_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut lines = self.lines.lock();
        let Some(line) = lines.get_mut(event) else {
            return Ok(());
        };
        match retry_at_ms {
            None => {
                line.hooks.pending.remove(key);
            }
            Some(at) => {
                if let Some((_, due, _)) = line.hooks.pending.get_mut(key) {
                    *due = at;
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl DrainStore for MemoryStore {
    async fn admitted_range(
        &self,
        event: &LineId,
        after: u64,
        through: u64,
    ) -> Result<Vec<Admitted>, StoreError> {
        Ok(self.with_line(event, |line| {
            let through = through.min(line.admitted_through);
            (after + 1..=through)
                .filter(|position| !line.left.contains(position))
                .filter_map(|position| {
                    let (visitor, joined_at_ms) = line.visitors.get(position as usize - 1)?;
                    let admitted_at_ms = line
                        .admissions
                        .range(position..)
                        .next()
                        .map(|(_, at)| *at)
                        .unwrap_or(*joined_at_ms);
                    Some(Admitted {
                        line: event.clone(),
                        position,
                        visitor: visitor
                            .as_ref()
                            .map_or_else(|| LOST_VISITOR.to_owned(), VisitorId::to_string),
                        joined_at_ms: *joined_at_ms,
                        admitted_at_ms,
                    })
                })
                .collect()
        }))
    }

    async fn drain_lease(
        &self,
        event: &LineId,
        holder: &str,
        ttl_ms: u64,
        action: LeaseAction,
    ) -> Result<bool, StoreError> {
        Ok(self.with_line(event, |line| {
            let now = Instant::now();
            let free = match &line.lease {
                None => true,
                Some((current, until)) => current == holder || *until <= now,
            };
            if action == LeaseAction::GiveBack {
                if line
                    .lease
                    .as_ref()
                    .is_some_and(|(current, _)| current == holder)
                {
                    line.lease = None;
                }
                return false;
            }
            if free {
                line.lease = Some((holder.to_owned(), now + Duration::from_millis(ttl_ms)));
            }
            free
        }))
    }

    async fn set_drained(
        &self,
        event: &LineId,
        through: u64,
        holder: &str,
    ) -> Result<bool, StoreError> {
        let holds = self.with_line(event, |line| {
            let holds = line
                .lease
                .as_ref()
                .is_some_and(|(current, until)| current == holder && *until > Instant::now());
            if holds {
                line.drained_through = line.drained_through.max(through);
            }
            holds
        });
        if holds {
            self.announce(Notification::Drained {
                event: event.clone(),
                through,
            });
        }
        Ok(holds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventId;

    #[tokio::test]
    async fn release_skips_leavers_and_happens_once_per_slot() {
        let store = MemoryStore::default();
        let event = LineId::from(EventId::parse("e").unwrap());
        store
            .put_event(&event, &EventSettings::default(), PutMode::Upsert)
            .await
            .unwrap();
        for _ in 0..10 {
            store
                .join(
                    &event,
                    &VisitorId::generate(),
                    JoinAs::Anonymous,
                    0,
                    0,
                    Pick::InOrder,
                )
                .await
                .unwrap();
        }
        store
            .leave(&event, 2, &VisitorId::generate())
            .await
            .unwrap();
        let scheduled = AdvanceMode::Scheduled {
            interval_ms: 3_600_000,
        };
        let first = store
            .advance(&event, 3, scheduled, Capacity::UNLIMITED, Pick::InOrder)
            .await
            .unwrap();
        assert!(first.moved);
        assert_eq!(first.admitted_through, 4, "position 2 left, so 1, 3, 4");
        let second = store
            .advance(&event, 3, scheduled, Capacity::UNLIMITED, Pick::InOrder)
            .await
            .unwrap();
        assert!(!second.moved, "same slot");
        let manual = store
            .advance(
                &event,
                100,
                AdvanceMode::Manual,
                Capacity::UNLIMITED,
                Pick::InOrder,
            )
            .await
            .unwrap();
        assert_eq!(manual.admitted_through, 10, "never beyond the last issued");
    }

    /// The pool's draw: each arrival number equally likely in every draw (chi-square over 2,000
    /// draws of 10 from 100, by tenth of arrivals: p = 1e-6 at 9 degrees of freedom), never twice.
    #[test]
    fn the_pool_draws_each_waiting_visitor_with_the_same_chance() {
        let mut tenths = [0u64; 10];
        for _ in 0..2_000 {
            let mut pool = Pool::default();
            for _ in 0..100 {
                pool.arrive(None, 0);
            }
            assert!(pool.remove(50) && !pool.remove(50));
            let drawn = pool.draw(10);
            let unique: BTreeSet<u64> = drawn.iter().copied().collect();
            assert_eq!(unique.len(), 10);
            assert!(!unique.contains(&50), "one who left is never drawn");
            for arrival in drawn {
                tenths[((arrival - 1) / 10) as usize] += 1;
            }
            assert_eq!(pool.waiting.len(), 89);
            assert_eq!(pool.drain_in_order(), {
                let mut rest: Vec<u64> = (1..=100)
                    .filter(|a| *a != 50 && !unique.contains(a))
                    .collect();
                rest.sort_unstable();
                rest
            });
        }
        // The tenth holding the one who left has 9 of 99 waiting.
        let expected = |tenth: usize| 20_000.0 * if tenth == 4 { 9.0 } else { 10.0 } / 99.0;
        let chi_square: f64 = tenths
            .iter()
            .enumerate()
            .map(|(tenth, &seen)| (seen as f64 - expected(tenth)).powi(2) / expected(tenth))
            .sum();
        assert!(chi_square < 46.0, "{tenths:?}: chi-square {chi_square:.1}");
    }

    #[tokio::test]
    async fn trusted_visitors_keep_their_number_until_they_leave() {
        let store = MemoryStore::default();
        let event = LineId::from(EventId::parse("e").unwrap());
        let user = VisitorId::parse("user-1").unwrap();
        let first = store
            .join(&event, &user, JoinAs::Trusted, 0, 0, Pick::InOrder)
            .await
            .unwrap();
        let again = store
            .join(&event, &user, JoinAs::Trusted, 0, 0, Pick::InOrder)
            .await
            .unwrap();
        assert_eq!((first.position, again.position, again.fresh), (1, 1, false));
        store.leave(&event, 1, &user).await.unwrap();
        let rejoined = store
            .join(&event, &user, JoinAs::Trusted, 0, 0, Pick::InOrder)
            .await
            .unwrap();
        assert_eq!(rejoined.position, 2);
    }
}

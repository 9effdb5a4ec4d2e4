//! Where lines live: one small trait, implemented by Redis (shared by replicas) and by an in-process
//! store (the embedded default). The integration tests run the same scenarios against both.

pub mod memory;
pub mod metered;
pub mod redis;
pub mod topology;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::domain::draw::Seed;
use crate::domain::{Admitted, EventId, EventSettings, LineId, VisitorId};

pub use self::memory::MemoryStore;
pub use self::metered::{MeteredStore, StoreProbe, WriteHealth, WritesFailing};
pub use self::redis::RedisStore;
pub use crate::domain::{Capacity, Pick};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Redis refused a command or could not be reached: its error kept as the source (shared, as a
    /// batch's error goes to every join in it).
    #[error("the store is unreachable: {0}")]
    Redis(#[source] std::sync::Arc<::redis::RedisError>),
    #[error("the store is unreachable: {0}")]
    Unavailable(String),
    #[error("the store holds data this version cannot read: {0}")]
    Corrupt(String),
    /// The client took its quota of new places (counted across replicas): try again after this.
    #[error("the client's quota of new places is used up")]
    OverQuota(std::time::Duration),
    /// The challenge solution a join spends ([`JoinAs::Solved`]) bought a place already.
    #[error("the challenge's solution was spent already")]
    Spent,
}

/// A change every replica must learn about, pushed over pub/sub (or an in-process channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
    Pointer {
        event: LineId,
        admitted_through: u64,
        issued: u64,
        /// An admin's advance rather than the scheduled release: it says nothing about the pace.
        #[serde(default)]
        manual: bool,
    },
    /// Positions were handed out: the last is `issued`.
    Issued {
        event: LineId,
        issued: u64,
    },
    Left {
        event: LineId,
        position: u64,
    },
    /// The drain forwarded every admitted visitor through `through`.
    Drained {
        event: LineId,
        through: u64,
    },
    /// The booking service is done with the visitor at `position`: their pass no longer admits.
    Completed {
        event: LineId,
        position: u64,
    },
    Settings {
        event: LineId,
    },
    /// The event and its data are gone.
    Deleted {
        event: LineId,
    },
    /// A release drew winners from the event's pool (the `random` method): read them
    /// ([`SyncStore::won_since`]).
    Won {
        event: LineId,
    },
    /// A draw found the store had lost the event's writes: every replica restores what it knows
    /// (it reads the event again) and counts the loss.
    Lost {
        event: LineId,
    },
}

/// An event's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Last position handed out.
    pub issued: u64,
    /// The admission pointer: every position up to here is admitted.
    pub admitted_through: u64,
    /// How many visitors gave up their place.
    pub left: u64,
    /// The drain checkpoint: every admitted visitor up to here was forwarded downstream.
    pub drained_through: u64,
    /// Admitted visitors holding a slot (tracked only for events with `max_active`).
    pub active: u64,
}

/// How long completions are kept for replicas that missed their push: longer than a pass lives.
pub const COMPLETIONS_KEPT_MS: i64 = 24 * 3600 * 1000 + 60_000;

/// How long a deleted event's tombstone stays: longer than any replica's silence could last.
pub const TOMBSTONE_MS: u64 = 24 * 3600 * 1000;

/// Every key an event has in Redis besides its tombstone and its used-pass markers (those expire).
pub const EVENT_KEYS: [&str; 33] = [
    "settings",
    "issued",
    "issued:shadow",
    "settle",
    "line",
    "visitors",
    "admitted",
    "admissions",
    "slot",
    "leavers",
    "leavers:log",
    "claims",
    "active",
    "drained",
    "drain:lease",
    "restored",
    "left",
    "completed",
    "draw",
    "prequeue",
    "prequeue:left",
    "pool",
    "pool:arrived",
    "pool:entries",
    "pool:won",
    "pool:visitors",
    "pool:seed",
    "pool:releases",
    "codes",
    "hooks",
    "hooks:records",
    "hooks:tries",
    "hooks:told",
];

/// What the drain forwards as the visitor of a position whose join the store lost (see
/// `lua/restore.lua`): the position was handed out, and its holder's token names them. Never a
/// valid visitor id, so never mistaken for one.
pub const LOST_VISITOR: &str = crate::domain::draw::LOST_ENTRY;

/// What a replica knows an event's figures were, to restore when the store comes back with less
/// (see `lua/restore.lua`). Nothing is lowered by restoring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Floor {
    /// The highest position handed out.
    pub issued: u64,
    pub admitted_through: u64,
    pub drained_through: u64,
    /// Positions a join drew after the counter went back, whose visitors were never answered: their
    /// entries become placeholders (first, last).
    pub orphans: Option<(u64, u64)>,
    /// Positions known to have been given up.
    pub leavers: Vec<u64>,
    /// The pre-queue draw's seed, and once drawn the pre-queue's size and the seed its order was
    /// drawn with: restored, the draw is done again with the same order, so every position stays
    /// as it was (even if entries were lost, which would mix in differently).
    pub draw: Option<(Seed, Option<(u64, Seed)>)>,
    /// The highest arrival number a pool handed out: the numbers the store lost wait in the pool
    /// again (as `(lost)` entries; their holders' tokens name them).
    pub arrived: u64,
}

/// What a replica needs to answer for an event without asking the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub settings: EventSettings,
    pub figures: Figures,
    /// Changes whenever lost data was restored (0: never): the leavers' log may then hold entries
    /// in another order, and replicas read it whole again.
    pub restored_at: u64,
    /// When the last visit was reported complete (unix ms; 0: none lately): a replica that has not
    /// read completions up to it reads them ([`SyncStore::completed_since`]), should a push be lost.
    pub last_completed_ms: i64,
    /// The pre-queue draw, for an event with a pre-queue.
    pub draw: Option<DrawState>,
    /// The pool, for an event that ever drew at random.
    pub pool: Option<PoolState>,
}

/// The pool of an event that draws at random (the `random` method): everyone who joined it waits
/// in it with an arrival number until a release draws them; the i-th drawn gets the line's next
/// position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolState {
    /// Arrival numbers handed out.
    pub arrived: u64,
    /// Still in the pool: neither drawn nor gone.
    pub waiting: u64,
    /// The length of the winners' log ([`SyncStore::won_since`]).
    pub won: u64,
    /// The seed every release draws with ([`crate::domain::draw::release_picks`]): fixed when the
    /// event first draws at random, its commitment published from then on, itself once it closed.
    pub seed: Option<Seed>,
}

/// An event's pre-queue draw: its seed, fixed when the event got its pre-queue, and once drawn what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawState {
    pub seed: Seed,
    pub drawn: Option<Drawn>,
}

/// A draw done: positions `1..=size` went to the pre-queue's entries in the order drawn, the
/// permutation of `order_seed` (the seed mixed with the entries: [`Seed::mixed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawn {
    pub size: u64,
    pub at_ms: i64,
    pub order_seed: Seed,
}

/// The pre-queue's entries as drawn, for anyone to check: visitor ids (or [`LOST_VISITOR`]) in
/// arrival order, and in drawn order (the visitor of position 1 first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawEntries {
    pub arrived: Vec<String>,
    pub drawn: Vec<String>,
}

/// What leaving a pre-queue place found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrequeueLeave {
    /// Recorded: the place drawn for it will be given up at the draw.
    Recorded,
    /// The draw came first: leave the drawn position instead.
    AlreadyDrawn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    pub position: u64,
    /// False when a trusted visitor got back the position they already held.
    pub fresh: bool,
    /// The position is an arrival number (in a pre-queue not drawn yet, or in a pool), as the store
    /// saw it (an anonymous pre-queue join's replica goes by its cache, as a new number drawn after
    /// a draw is past the pre-queue either way).
    pub arrival: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advanced {
    /// False when nothing moved: the slot was released already, or nobody is left to admit.
    pub moved: bool,
    pub admitted_through: u64,
    pub issued: u64,
}

/// What collecting an admission pass found: decided once per position, atomically, by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The pass is theirs. `at_ms`: when it was first collected; its lifetime counts from then,
    /// however often it is asked for again.
    Granted { at_ms: i64 },
    /// The event has a capacity and the claim window passed: the slot went to someone else.
    TooLate,
    /// The booking service reported the visit complete.
    Completed,
}

/// Whether storing an event's settings may replace existing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// Write them whether or not the event exists (the admin API).
    Upsert,
    /// Leave an existing event alone (events declared in configuration, the demo).
    CreateOnly,
}

/// Who is joining.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinAs {
    /// A visitor with a fresh server-made id: always a new position.
    Anonymous,
    /// The same, counted against their client's quota of new places where every replica counts
    /// it ([`StoreError::OverQuota`] past it). A store that serves one replica leaves the count to
    /// the replica's own limiter.
    Counted(crate::limits::JoinQuota),
    /// The same, spending a challenge's solution on the place, counted against the quota if one
    /// is given: the first join to spend it gets a place, any other [`StoreError::Spent`]. Where
    /// the store can, the solution is marked used in the join's own call.
    Solved(crate::challenge::Verified, Option<crate::limits::JoinQuota>),
    /// A booking site's known user (admin join): the place they hold, if any, else a new one.
    Trusted,
}

impl JoinAs {
    /// The quota the join counts against, where every replica counts it.
    pub fn quota(&self) -> Option<crate::limits::JoinQuota> {
        match self {
            JoinAs::Counted(quota) | JoinAs::Solved(_, Some(quota)) => Some(*quota),
            _ => None,
        }
    }
}

/// What to do with an event's drain lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseAction {
    /// Take it if free, or renew it if held.
    Take,
    /// Give it back, so another worker may take over at once.
    GiveBack,
}

/// How a pointer move is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdvanceMode {
    /// An admin's advance: always applies.
    Manual,
    /// The scheduler's release: applies at most once per slot of this many ms, across all replicas.
    Scheduled { interval_ms: u64 },
}

/// Stores an event's settings and its lanes' lines' ([`EventSettings::lane_settings`]; the first
/// lane is the event's own line). The lanes first: a replica that sees the event sees its lanes.
/// Returns whether the event's own settings were written.
pub async fn put_event_and_lanes(
    store: &dyn Store,
    event: &EventId,
    settings: &EventSettings,
    mode: PutMode,
) -> Result<bool, StoreError> {
    for (lane, line) in settings.lane_lines(event) {
        store
            .put_event(&line, &settings.lane_settings(lane), mode)
            .await?;
    }
    store.put_event(&LineId::from(event), settings, mode).await
}

/// Everything a store does, in the parts each user needs ([`AdminStore`], [`LineStore`],
/// [`SyncStore`], [`ReleaseStore`], [`DrainStore`], [`HookStore`]): one per backend, in memory or
/// in Redis.
pub trait Store:
    AdminStore + LineStore + SyncStore + ReleaseStore + DrainStore + HookStore
{
}

impl<T: AdminStore + LineStore + SyncStore + ReleaseStore + DrainStore + HookStore> Store for T {}

/// Creating and deleting events: the admin API's side.
#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    /// Stores an event's settings. Returns whether anything was written. An event with a pre-queue
    /// gets its draw's seed here, once: later writes keep it.
    async fn put_event(
        &self,
        line: &LineId,
        settings: &EventSettings,
        mode: PutMode,
    ) -> Result<bool, StoreError>;

    /// Deletes the event and all its data, and tells every replica; a tombstone keeps replicas
    /// from restoring it from memory ([`SyncStore::restore`]) until `put_event` creates it again.
    /// Returns whether there was anything to delete.
    async fn delete_event(&self, line: &LineId) -> Result<bool, StoreError>;

    /// Keeps enqueue codes (their digests, [`crate::domain::EnqueueCode::digest`]) an invite-only
    /// event's visitors join with. Returns how many were new.
    async fn add_codes(&self, line: &LineId, digests: &[[u8; 32]]) -> Result<u64, StoreError>;
}

/// The visitor path: places taken and given up, admissions claimed, completed and used.
#[async_trait]
pub trait LineStore: Send + Sync + 'static {
    /// Draws the next position for `visitor`, above `floor` (the highest position this replica
    /// knows was handed out: should the store have lost it, the counter is restored first, so no
    /// position goes to two visitors). A trusted visitor gets back the position they hold. With
    /// [`Pick::AtRandom`] the visitor joins the pool instead, with the next arrival number (above
    /// `floor`, the highest this replica knows).
    async fn join(
        &self,
        line: &LineId,
        visitor: &VisitorId,
        who: JoinAs,
        now_ms: i64,
        floor: u64,
        pick: Pick,
    ) -> Result<Joined, StoreError>;

    /// Gives up `position`. Returns false if it had been given up already.
    async fn leave(
        &self,
        line: &LineId,
        position: u64,
        visitor: &VisitorId,
    ) -> Result<bool, StoreError>;

    /// Gives up a pre-queue place before the draw, by its arrival number: the position it draws is
    /// given up at the draw. For an event without a pre-queue, a place in the pool: it is never
    /// drawn ([`PrequeueLeave::AlreadyDrawn`] if it was, or had been given up). A booking site's
    /// `visitor` who held the number may join again, with a new one.
    async fn leave_prequeue(
        &self,
        line: &LineId,
        arrival: u64,
        visitor: &VisitorId,
    ) -> Result<PrequeueLeave, StoreError>;

    /// Records that the visitor at `position` collects their admission pass; with a capacity, the
    /// slot is held until the pass expires (`pass_ttl_ms`).
    async fn claim(
        &self,
        line: &LineId,
        position: u64,
        now_ms: i64,
        pass_ttl_ms: u64,
        capacity: Capacity,
    ) -> Result<Claim, StoreError>;

    /// Spends an enqueue code (its digest): true for the one caller that held an unused code of
    /// the event, however many ask at once.
    async fn use_code(&self, line: &LineId, digest: [u8; 32]) -> Result<bool, StoreError>;

    /// Keeps `position`'s slot of the event's capacity held until `until_ms`, for a renewed pass:
    /// false if it was no longer theirs at `now_ms` (the visit completed, or the slot ran out).
    async fn hold_slot(
        &self,
        line: &LineId,
        position: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError>;

    /// The booking service is done with the visitor at `position`: the slot is free, and the
    /// position admits nobody again (every replica is told). Returns whether the visitor held a slot.
    async fn complete(&self, line: &LineId, position: u64) -> Result<bool, StoreError>;

    /// Marks the admission of `position` in `event`'s line used, for `ttl_ms` (what is left of its
    /// passes' lifetime). Returns true only for the first call: one admission lets one person in,
    /// whichever of the passes handed out for it comes first.
    async fn consume_pass(
        &self,
        line: &LineId,
        position: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError>;

    /// Whether the admission of `position` in `event`'s line was used ([`LineStore::consume_pass`]).
    async fn pass_used(&self, line: &LineId, position: u64) -> Result<bool, StoreError>;
}

/// What replicas read to answer without asking the store, and restore when it lost data.
#[async_trait]
pub trait SyncStore: Send + Sync + 'static {
    async fn events(&self) -> Result<Vec<LineId>, StoreError>;

    /// The event's settings and figures, or `None` for an unknown event.
    async fn snapshot(&self, line: &LineId) -> Result<Option<Snapshot>, StoreError>;

    /// Raises the event's figures to `floor` where the store holds less, and writes `settings` if it
    /// holds none. Returns whether anything was restored: the store had lost data.
    async fn restore(
        &self,
        line: &LineId,
        settings: &EventSettings,
        floor: &Floor,
    ) -> Result<bool, StoreError>;

    /// The pool's winners as (arrival number, position), in the order drawn, with those who left
    /// the pool as (arrival number, 0), skipping the first `seen` (those a replica has read).
    async fn won_since(&self, line: &LineId, seen: u64) -> Result<Vec<(u64, u64)>, StoreError>;

    /// The positions given up, in the order they were, skipping the first `seen` (those a replica
    /// has read already): a replica reads each leaver once, however many there are.
    async fn leavers_since(&self, line: &LineId, seen: u64) -> Result<Vec<u64>, StoreError>;

    /// The visits reported complete after `since_ms` (unix ms), with when, oldest first; the store
    /// keeps them for [`COMPLETIONS_KEPT_MS`], longer than any pass lives.
    async fn completed_since(
        &self,
        line: &LineId,
        since_ms: i64,
    ) -> Result<Vec<(u64, i64)>, StoreError>;

    /// Every change from any replica, from now on.
    async fn notifications(&self) -> Result<BoxStream<'static, Notification>, StoreError>;

    /// The drawn pre-queue's entries, once drawn.
    async fn draw_entries(&self, line: &LineId) -> Result<Option<DrawEntries>, StoreError>;

    /// Whether the event was deleted lately (its tombstone is there).
    async fn is_deleted(&self, line: &LineId) -> Result<bool, StoreError>;

    async fn ping(&self) -> Result<(), StoreError>;

    /// Names the store's instance: another name than before means a failover or a restart, which
    /// may have lost writes and pushed changes, so every replica reads every event again.
    async fn instance(&self) -> Result<String, StoreError>;
}

/// The scheduler's side: releases and the pre-queue's draw.
#[async_trait]
pub trait ReleaseStore: Send + Sync + 'static {
    /// Moves the admission pointer over the next `count` visitors who have not left; a scheduled
    /// release admits no more than `capacity` has free slots. `pick` says whom the line gets from
    /// the pool first (see [`Pick`]); winners drawn are announced ([`Notification::Won`]).
    async fn advance(
        &self,
        line: &LineId,
        count: u64,
        mode: AdvanceMode,
        capacity: Capacity,
        pick: Pick,
    ) -> Result<Advanced, StoreError>;

    /// Draws the pre-queue's order, once: closes the pre-queue (its entries are the positions handed
    /// out so far; later joins come after them), shuffles them with the seed
    /// ([`crate::domain::draw::order`]) and tells every replica. `None` for an event without a seed.
    async fn draw(&self, line: &LineId, now_ms: i64) -> Result<Option<Drawn>, StoreError>;
}

/// The drain's side: what was admitted, the lease, the checkpoint.
#[async_trait]
pub trait DrainStore: Send + Sync + 'static {
    /// The admitted visitors at positions `after + 1 ..= through` who did not leave, in order.
    async fn admitted_range(
        &self,
        line: &LineId,
        after: u64,
        through: u64,
    ) -> Result<Vec<Admitted>, StoreError>;

    /// Takes, renews or gives back the event's drain lease. Returns whether `holder` holds it.
    async fn drain_lease(
        &self,
        line: &LineId,
        holder: &str,
        ttl_ms: u64,
        action: LeaseAction,
    ) -> Result<bool, StoreError>;

    /// Moves the drain checkpoint forward to `through`, if `holder` still holds the lease.
    async fn set_drained(
        &self,
        line: &LineId,
        through: u64,
        holder: &str,
    ) -> Result<bool, StoreError>;
}

/// A notice on its way to one webhook, as [`HookStore::take_deliveries`] hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The notice's id and which of the event's webhooks: `<notice>/<n>`.
    pub key: String,
    /// What sending it needs, as the webhooks worker wrote it (opaque to the store).
    pub record: String,
    /// Tries so far, this one included.
    pub tries: u64,
}

/// The webhooks' outbox: notices of an event's turns, kept until a receiver took them, taken by any
/// replica's worker.
#[async_trait]
pub trait HookStore: Send + Sync + 'static {
    /// Queues the deliveries (`(key, record)`, one per webhook) of the notice `notice`, due at
    /// `now_ms`, unless a notice of that id was queued before by any replica: each turn is told
    /// once however many replicas saw it. Returns whether they were queued.
    async fn queue_notice(
        &self,
        line: &LineId,
        notice: &str,
        deliveries: &[(String, String)],
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Takes up to `most` deliveries due at `now_ms`, oldest first, each counting a try and kept
    /// from other takers for `lease_ms`: should the taker die before settling one, it is due again
    /// then (at least once).
    async fn take_deliveries(
        &self,
        line: &LineId,
        now_ms: i64,
        lease_ms: u64,
        most: u64,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Settles a delivery taken: gone (taken by its receiver, or given up) with `None`, due again at
    /// `retry_at_ms` otherwise.
    async fn settle_delivery(
        &self,
        line: &LineId,
        key: &str,
        retry_at_ms: Option<i64>,
    ) -> Result<(), StoreError>;
}

//! One event as a replica knows it: settings, counters, leavers, and its memory of recent claims
//! and passes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use roaring::RoaringTreemap;

use crate::domain::draw::{self, Seed};
use crate::domain::{EventPolicy, EventSettings};
use crate::estimate::{Estimate, RateMeter};
use crate::limits::{Applies, Limited};
use crate::recent::Recent;
use crate::store::{Claim, DrawState, Figures, Floor, PoolState, Snapshot};
use crate::token::{Claims, TokenKind};

/// One event as this replica knows it.
/// How often, at most, the pages of those waiting hear that more arrived.
const ARRIVALS_NEWS_EVERY_MS: i64 = 1_000;

#[derive(Debug)]
pub struct CachedEvent {
    pub(super) settings: RwLock<Arc<EventSettings>>,
    /// What the settings decide about entering the event, derived with them.
    policy: RwLock<Arc<EventPolicy>>,
    pub(super) issued: AtomicU64,
    pub(super) admitted_through: AtomicU64,
    pub(super) drained_through: AtomicU64,
    /// Positions given up: a compressed bitmap that counts those in a range in about O(log n) (a
    /// status check counts the leavers ahead), at a few bits per leaver.
    pub(super) left: RwLock<RoaringTreemap>,
    /// How many entries of the store's leavers' log this replica has read.
    pub(super) leavers_read: AtomicU64,
    /// Read on every request, so kept apart from the settings' lock: whether any per-client rate
    /// limit is on, and how long claims are remembered (see [`CachedEvent::claims_kept_s`]).
    pub(super) limits_on: AtomicBool,
    pub(super) claims_kept_s: AtomicI64,
    /// Completions read from the store up to this time (unix ms), besides those pushed.
    pub(super) completions_read_ms: AtomicI64,
    /// The store's restore mark as last read (see [`crate::store::Snapshot::restored_at`]).
    pub(super) restored_at: AtomicU64,
    /// Times the store was found holding less of this event than this replica knew.
    pub(super) data_losses: AtomicU64,
    /// Requests for the event this replica refused by a per-client rate limit.
    refused: AtomicU64,
    /// How the store decided the claims of positions seen on this replica lately (and completions
    /// it was told of). Forgetting one costs a store call the next time: the store's claim answers
    /// the same again.
    pub(super) claimed: Mutex<Recent<Claim>>,
    /// Passes signed lately, handed out again to a visitor who asks twice within seconds.
    pub(super) passes: Mutex<Recent<Arc<SignedPass>>>,
    /// Active visitors, as of the last resync (events with a capacity).
    pub(super) active: AtomicU64,
    /// When the pointer moved and how many came through, for wait estimates.
    pub(super) rate: Mutex<RateMeter>,
    /// When this replica last heard from the store about this event (resync or push).
    pub(super) synced_at: Mutex<Instant>,
    /// The pre-queue draw, for an event with a pre-queue.
    pub(super) draw: RwLock<Option<Arc<PrequeueDraw>>>,
    /// The pool, for an event that draws at random (or did).
    pub(super) pool: RwLock<KnownPool>,
    /// When the pages of those waiting were last told of new arrivals (unix ms), and whether some
    /// arrived since (see [`CachedEvent::arrivals_news_due`]).
    pub(super) arrivals_told_ms: AtomicI64,
    pub(super) arrivals_untold: AtomicBool,
}

/// An event's pool (the `random` method) as a replica knows it.
#[derive(Debug, Default)]
pub(super) struct KnownPool {
    arrived: u64,
    waiting: u64,
    /// The winners' positions by arrival number; 0 for those who left the pool.
    won: HashMap<u64, u64>,
    /// How many entries of the store's winners' log this replica has read.
    won_read: u64,
    /// The seed the releases draw with.
    seed: Option<Seed>,
}

/// An event's pre-queue draw as a replica knows it.
#[derive(Debug)]
pub struct PrequeueDraw {
    pub seed: Seed,
    pub drawn: Option<DrawnOrder>,
    /// The published draw's JSON, once built (it never changes once drawn).
    pub published: Mutex<Option<Arc<[u8]>>>,
}

/// A drawn pre-queue, with every arrival number's drawn position (computed here from the seed,
/// as every replica and any auditor can).
#[derive(Debug)]
pub struct DrawnOrder {
    pub size: u64,
    pub at_ms: i64,
    /// The seed the order was drawn with (see [`crate::store::Drawn`]).
    pub order_seed: Seed,
    positions: Vec<u32>,
}

impl DrawnOrder {
    /// The position a place taken as arrival number `arrival` holds: drawn within the pre-queue,
    /// unchanged after it.
    pub fn position_of(&self, arrival: u64) -> u64 {
        match arrival
            .checked_sub(1)
            .and_then(|i| self.positions.get(i as usize))
        {
            Some(position) => u64::from(*position),
            None => arrival,
        }
    }
}

impl CachedEvent {
    pub(super) fn new(settings: EventSettings) -> Self {
        let derived = Derived::of(&settings);
        Self {
            limits_on: AtomicBool::new(derived.limits_on),
            claims_kept_s: AtomicI64::new(derived.claims_kept_s),
            policy: RwLock::new(Arc::new(EventPolicy::of(&settings))),
            settings: RwLock::new(Arc::new(settings)),
            issued: AtomicU64::new(0),
            admitted_through: AtomicU64::new(0),
            drained_through: AtomicU64::new(0),
            left: RwLock::default(),
            leavers_read: AtomicU64::new(0),
            data_losses: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            restored_at: AtomicU64::new(0),
            completions_read_ms: AtomicI64::new(0),
            claimed: Mutex::default(),
            passes: Mutex::default(),
            active: AtomicU64::new(0),
            rate: Mutex::default(),
            synced_at: Mutex::new(crate::clock::now()),
            draw: RwLock::default(),
            pool: RwLock::default(),
            arrivals_told_ms: AtomicI64::new(0),
            arrivals_untold: AtomicBool::new(false),
        }
    }

    /// The position the pool's draw gave arrival number `arrival`, once this replica knows it.
    pub fn won_position(&self, arrival: u64) -> Option<u64> {
        self.pool
            .read()
            .won
            .get(&arrival)
            .copied()
            .filter(|&p| p > 0)
    }

    /// Whether the holder of `claims` (read at their drawn position, if drawn) gave their place up,
    /// as far as this replica knows: a position in the line, or an arrival number in the pool.
    pub fn gave_up(&self, claims: &Claims) -> bool {
        match claims.kind {
            TokenKind::Prequeue => self.pool.read().won.get(&claims.pos) == Some(&0),
            _ => self.has_left(claims.pos),
        }
    }

    /// How many wait in the pool to be drawn, as of the last read (and the joins seen here since).
    pub fn pool_waiting(&self) -> u64 {
        self.pool.read().waiting
    }

    /// The highest arrival number handed out, as far as this replica knows.
    pub fn pool_arrived(&self) -> u64 {
        self.pool.read().arrived
    }

    /// Records a join into the pool answered by the store on this replica.
    pub fn observe_arrival(&self, arrival: u64, fresh: bool) {
        let mut pool = self.pool.write();
        pool.arrived = pool.arrived.max(arrival);
        if fresh {
            pool.waiting += 1;
        }
    }

    /// Takes in the store's pool.
    pub(super) fn apply_pool(&self, state: Option<PoolState>) {
        if let Some(state) = state {
            let mut pool = self.pool.write();
            pool.arrived = pool.arrived.max(state.arrived);
            pool.waiting = state.waiting;
            pool.seed = state.seed.or(pool.seed);
        }
    }

    /// The seed the pool's releases draw with, once the event draws at random.
    pub fn pool_seed(&self) -> Option<Seed> {
        self.pool.read().seed
    }

    /// How many of the store's `stored` winners this replica has read, if not all.
    pub(super) fn winners_unread(&self, stored: u64) -> Option<u64> {
        let read = self.pool.read().won_read;
        (stored > read).then_some(read)
    }

    /// Reads the store's winners' log whole again at the next refresh: restored, it may hold other
    /// entries than this replica read.
    pub(super) fn reread_winners(&self) {
        self.pool.write().won_read = 0;
    }

    /// Takes in winners read from the store's log, which held `read` entries before them.
    pub(super) fn add_winners(&self, read: u64, winners: &[(u64, u64)]) {
        let mut pool = self.pool.write();
        pool.won.extend(winners.iter().copied());
        pool.won_read = pool.won_read.max(read + winners.len() as u64);
    }

    pub fn draw(&self) -> Option<Arc<PrequeueDraw>> {
        self.draw.read().clone()
    }

    /// Whether the event has a pre-queue not drawn yet (as far as this replica knows): the numbers
    /// handed out now are arrival numbers.
    pub fn prequeue_undrawn(&self) -> bool {
        self.draw
            .read()
            .as_ref()
            .is_some_and(|draw| draw.drawn.is_none())
    }

    /// Takes in the store's draw; returns whether it changed what this replica knew.
    pub(super) fn apply_draw(&self, state: Option<DrawState>) -> bool {
        let known = self.draw();
        let same = match (&known, &state) {
            (None, None) => true,
            (Some(known), Some(state)) => {
                known.seed == state.seed
                    && known
                        .drawn
                        .as_ref()
                        .map(|d| (d.size, d.at_ms, d.order_seed))
                        == state.drawn.map(|d| (d.size, d.at_ms, d.order_seed))
            }
            _ => false,
        };
        if same {
            return false;
        }
        let draw = state.map(|state| {
            let drawn = state.drawn.map(|drawn| DrawnOrder {
                size: drawn.size,
                at_ms: drawn.at_ms,
                order_seed: drawn.order_seed,
                positions: draw::positions(&draw::order(
                    &drawn.order_seed,
                    u32::try_from(drawn.size).unwrap_or(u32::MAX),
                )),
            });
            Arc::new(PrequeueDraw {
                seed: state.seed,
                drawn,
                published: Mutex::default(),
            })
        });
        *self.draw.write() = draw;
        true
    }

    pub fn synced_at(&self) -> Instant {
        *self.synced_at.lock()
    }

    pub(super) fn mark_synced(&self) {
        *self.synced_at.lock() = crate::clock::now();
    }

    /// Visitors admitted per minute as measured (not as scheduled), if measured yet.
    pub fn measured_rate_per_minute(&self, now: Instant) -> Option<f64> {
        let meter = self.rate.lock();
        meter.rate(now).map(|(per_second, _)| per_second * 60.0)
    }

    /// How long a visitor with `ahead` people before them will likely wait.
    pub fn estimate(&self, ahead: u64) -> Option<Estimate> {
        let meter = self.rate.lock();
        crate::estimate::estimate(
            ahead,
            &self.settings(),
            &meter,
            crate::clock::now(),
            crate::clock::unix_ms(),
        )
    }

    /// Notes how many visitors had come through (those who left do not count) as the pointer moved;
    /// a manual move is set aside, as it says nothing about the pace of the line.
    fn record_rate(&self, manual: bool) {
        let pointer = self.admitted_through();
        let gone = self.left.read().rank(pointer);
        let through = pointer.saturating_sub(gone);
        if manual {
            self.rate.lock().set_aside(through);
            return;
        }
        // Read before the meter's lock is taken, as every other reader of the leavers does.
        let (left, waiting) = (self.left_count(), self.waiting());
        let now = crate::clock::now();
        let mut rate = self.rate.lock();
        rate.record(now, through);
        rate.record_leaving(now, left, waiting);
    }

    /// How the store decided `position`'s claim, if this replica knows it at `now` (unix seconds).
    /// Unknown: ask the store, whose claim is atomic, and [`CachedEvent::record_claim`] its answer.
    /// Parallel first requests all ask; the store gives them one answer.
    pub fn claim_here(&self, position: u64, now: i64) -> Option<Claim> {
        let mut claimed = self.claimed.lock();
        claimed.turn(now, self.claims_kept_s());
        claimed.get(position).copied()
    }

    /// Remembers the store's decision on `position`'s claim.
    pub fn record_claim(&self, position: u64, claim: Claim) {
        self.claimed.lock().insert(position, claim);
    }

    fn claims_kept_s(&self) -> i64 {
        self.claims_kept_s.load(Ordering::Relaxed)
    }

    /// Whether any per-client rate limit of the event is on.
    pub fn limits_on(&self) -> bool {
        self.limits_on.load(Ordering::Relaxed)
    }

    /// Takes in new settings, and what is derived from them.
    pub(super) fn set_settings(&self, settings: Arc<EventSettings>) {
        let derived = Derived::of(&settings);
        self.limits_on.store(derived.limits_on, Ordering::Relaxed);
        self.claims_kept_s
            .store(derived.claims_kept_s, Ordering::Relaxed);
        *self.policy.write() = Arc::new(EventPolicy::of(&settings));
        *self.settings.write() = settings;
    }

    /// Whether the visit of `position` was reported complete (as far as this replica was told).
    pub fn is_completed(&self, position: u64) -> bool {
        self.claimed.lock().get(position) == Some(&Claim::Completed)
    }

    /// The pass signed for `position` on this replica, if it was signed less than `reuse_s` seconds
    /// before `now`.
    pub fn recent_pass(&self, position: u64, now: i64, reuse_s: i64) -> Option<Arc<SignedPass>> {
        let mut passes = self.passes.lock();
        passes.turn(now, reuse_s);
        passes
            .get(position)
            .filter(|pass| now - pass.issued_at < reuse_s)
            .cloned()
    }

    /// Keeps a pass just signed for `position`, to hand out again for `reuse_s` seconds.
    pub fn keep_pass(&self, position: u64, pass: Arc<SignedPass>, reuse_s: i64) {
        let mut passes = self.passes.lock();
        passes.turn(pass.issued_at, reuse_s);
        passes.insert(position, pass);
    }

    pub fn settings(&self) -> Arc<EventSettings> {
        self.settings.read().clone()
    }

    /// What the settings decide about entering the event (see [`EventPolicy`]).
    pub fn policy(&self) -> Arc<EventPolicy> {
        self.policy.read().clone()
    }

    pub fn admitted_through(&self) -> u64 {
        self.admitted_through.load(Ordering::Acquire)
    }

    /// Counts a request for the event refused by a per-client rate limit.
    pub fn count_refusal(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests for the event this replica refused by a per-client rate limit since it started.
    pub fn refusals(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Times this replica found the store had lost the event's data.
    pub fn data_losses(&self) -> u64 {
        self.data_losses.load(Ordering::Acquire)
    }

    /// When the store last restored lost data of the event, as read (unix µs; 0: never).
    pub fn restored_at(&self) -> u64 {
        self.restored_at.load(Ordering::Acquire)
    }

    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Acquire)
    }

    pub fn has_left(&self, position: u64) -> bool {
        self.left.read().contains(position)
    }

    pub fn left_count(&self) -> u64 {
        self.left.read().len()
    }

    /// Whether the pointer has reached `position`.
    pub fn is_admitted(&self, position: u64) -> bool {
        position <= self.admitted_through()
    }

    /// How many visitors still waiting stand before `position`.
    pub fn ahead_of(&self, position: u64) -> u64 {
        let pointer = self.admitted_through();
        if position <= pointer + 1 {
            return 0;
        }
        let left = self.left.read();
        let gone = left.rank(position - 1) - left.rank(pointer);
        (position - pointer - 1).saturating_sub(gone)
    }

    /// Moves the counters forward only: a late message never takes the pointer back.
    /// Returns whether the pointer moved.
    pub(super) fn observe(&self, issued: u64, admitted_through: u64, manual: bool) -> bool {
        self.issued.fetch_max(issued, Ordering::AcqRel);
        let before = self
            .admitted_through
            .fetch_max(admitted_through, Ordering::AcqRel);
        let moved = admitted_through > before;
        if moved {
            self.record_rate(manual);
        }
        moved
    }

    /// What this replica knows the store must hold at least, if `stored` holds less: the store
    /// lost writes.
    pub(super) fn floor_over(&self, stored: &Snapshot) -> Option<Floor> {
        let (draw, stored_arrived) = (
            stored.draw.as_ref(),
            stored.pool.map_or(0, |pool| pool.arrived),
        );
        let stored = &stored.figures;
        let mine = self.figures();
        let known_draw = self.draw();
        let draw_lost = known_draw.as_ref().is_some_and(|known| match draw {
            None => true,
            Some(stored) => known.drawn.is_some() && stored.drawn.is_none(),
        });
        let lost = mine.issued > stored.issued
            || mine.admitted_through > stored.admitted_through
            || mine.drained_through > stored.drained_through
            || mine.left > stored.left
            || self.pool_arrived() > stored_arrived
            || draw_lost;
        lost.then(|| self.floor(mine.left > stored.left))
    }

    /// Everything this replica knows the store must hold; the leavers too if `with_leavers`.
    pub(super) fn floor(&self, with_leavers: bool) -> Floor {
        let mine = self.figures();
        Floor {
            issued: mine.issued,
            admitted_through: mine.admitted_through,
            drained_through: mine.drained_through,
            orphans: None,
            leavers: if with_leavers {
                self.left.read().iter().collect()
            } else {
                Vec::new()
            },
            draw: self.draw().map(|draw| {
                let drawn = draw.drawn.as_ref();
                (draw.seed, drawn.map(|drawn| (drawn.size, drawn.order_seed)))
            }),
            arrived: self.pool_arrived(),
        }
    }

    pub fn figures(&self) -> Figures {
        Figures {
            issued: self.issued(),
            admitted_through: self.admitted_through(),
            left: self.left_count(),
            drained_through: self.drained_through.load(Ordering::Acquire),
            active: self.active.load(Ordering::Acquire),
        }
    }

    /// Records a join answered by the store on this replica: the issued count is known right away.
    pub fn observe_issued(&self, position: u64) {
        self.issued.fetch_max(position, Ordering::AcqRel);
    }

    /// Whether to tell the pages of those waiting now (`now_ms`) that more arrived: at most once
    /// a second, as a count they are shown (a pre-queue's, a pool's) moves with every join and
    /// each telling costs every open stream a look. Arrivals not told yet are told once due
    /// (`arrived`: some just did; else asking whether any are left untold).
    pub fn arrivals_news_due(&self, arrived: bool, now_ms: i64) -> bool {
        if arrived {
            self.arrivals_untold.store(true, Ordering::Release);
        }
        let told = self.arrivals_told_ms.load(Ordering::Acquire);
        self.arrivals_untold.load(Ordering::Acquire)
            && now_ms - told >= ARRIVALS_NEWS_EVERY_MS
            && self
                .arrivals_told_ms
                .compare_exchange(told, now_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            && self.arrivals_untold.swap(false, Ordering::AcqRel)
    }

    /// How many visitors wait behind the pointer (those who left do not count), and in the pool.
    pub fn waiting(&self) -> u64 {
        self.ahead_of(self.issued().saturating_add(1)) + self.pool_waiting()
    }

    /// Whether admitted visitors are still to be forwarded downstream, as far as this replica knows.
    pub fn drain_behind(&self) -> bool {
        self.drained_through.load(Ordering::Acquire) < self.admitted_through()
    }

    /// Takes in a drain checkpoint read or pushed.
    pub fn observe_drained(&self, through: u64) {
        self.drained_through.fetch_max(through, Ordering::AcqRel);
    }

    pub(super) fn mark_left(&self, position: u64) -> bool {
        self.left.write().insert(position)
    }

    /// Takes in leavers read from the store's log, which held `read` entries before them.
    pub(super) fn add_leavers(&self, read: u64, positions: &[u64]) {
        let mut left = self.left.write();
        for &position in positions {
            left.insert(position);
        }
        self.leavers_read
            .fetch_max(read + positions.len() as u64, Ordering::AcqRel);
    }
}

/// An admission pass as handed out: the token and when it expires.
#[derive(Debug)]
pub struct SignedPass {
    pub token: String,
    pub issued_at: i64,
    pub expires_at: String,
}

/// What requests read of the settings, kept in atomics.
struct Derived {
    limits_on: bool,
    /// Claims are remembered at least as long as a pass lives, so a completed visitor's pass is
    /// refused on every replica until it expires.
    claims_kept_s: i64,
}

impl Derived {
    fn of(settings: &EventSettings) -> Self {
        let limits = &settings.rate_limits;
        let pass_ttl_s = i64::try_from(settings.admission.pass_ttl_s).unwrap_or(i64::MAX);
        Self {
            limits_on: [Limited::Join, Limited::Check]
                .into_iter()
                .any(|kind| limits.applies_to(kind)),
            claims_kept_s: CLAIMS_KEPT_S.max(pass_ttl_s),
        }
    }
}

/// How long a replica remembers a claim at least: between this (or the pass lifetime, if longer)
/// and twice that, in seconds.
pub(super) const CLAIMS_KEPT_S: i64 = 300;

//! A simulated sale, played on the virtual clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::arrivals::Arrivals;
use crate::admission;
use crate::cache::Resync;
use crate::clock::VirtualClock;
use crate::domain::{EventId, EventPolicy, EventSettings, LineId, VisitorId};
use crate::scheduler::{Releases, SCAN, TICK};
use crate::store::{put_event_and_lanes, JoinAs, MemoryStore, PrequeueLeave, PutMode, Store};
use crate::store::{Claim, StoreError};

/// What people do beyond arriving.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    /// How long an admitted person holds their capacity slot (0: until their pass runs out).
    pub session_ms: u64,
    /// The share of admitted people who never come (their slot is held for the claim window).
    pub no_show: f64,
    /// The share of waiting people who give up in each minute of waiting (patience is
    /// exponential: 0.05 means about one in twenty a minute).
    pub leave_per_min: f64,
    /// Seeds who shows and who gives up when (a random method's draws are seeded by the store).
    pub seed: u64,
}

/// One simulated sale.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub settings: EventSettings,
    pub arrivals: Arrivals,
    pub behaviour: Behaviour,
    /// The simulation stops here even if people still wait (a paused or closed event).
    pub horizon_ms: u64,
    /// Settings the operator puts in place as the sale goes (a pause, a faster pace), in order:
    /// from when (ms from the opening), each whole.
    pub changes: Vec<(u64, EventSettings)>,
}

/// What happened to one person, in ms from the opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Person {
    pub joined_ms: u64,
    /// The wait the page showed at joining (none: nothing to show, as in a pool).
    pub estimate_s: Option<u64>,
    pub admitted_ms: Option<u64>,
    pub left_ms: Option<u64>,
}

impl Person {
    pub fn waited_ms(&self) -> Option<u64> {
        self.admitted_ms.map(|at| at - self.joined_ms)
    }
}

/// The line at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sample {
    pub at_ms: u64,
    pub waiting: u64,
    pub admitted: u64,
    /// Admitted people in their session (holding a slot).
    pub active: u64,
}

#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    pub people: Vec<Person>,
    pub samples: Vec<Sample>,
    /// When the last person arrived and nobody waited any more.
    pub emptied_ms: Option<u64>,
    pub ended_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("the embedded store refused: {0}")]
    Store(#[from] StoreError),
    #[error("the simulation stopped: {0}")]
    Stopped(String),
    #[error("the change at {at_s} s: {why}")]
    Change { at_s: u64, why: String },
}

/// When the virtual sale opens: 2026-01-01T00:00:00Z, so release slots fall on whole intervals.
pub const OPENS_MS: i64 = 1_767_225_600_000;

/// Samples of the line kept for the plots, at most.
const SAMPLES: u64 = 2_000;

/// Plays `scenario` on a thread of its own (its clock is virtual) and returns what happened.
pub fn run(scenario: &Scenario) -> Result<Outcome, SimulateError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| SimulateError::Stopped(e.to_string()))?;
                let clock = VirtualClock::starting_at(OPENS_MS);
                runtime.block_on(play(scenario, &clock))
            })
            .join()
            .unwrap_or_else(|_| Err(SimulateError::Stopped("the simulation panicked".into())))
    })
}

/// Who is where: people by the position or arrival number they hold, those who may give up and
/// those in a session, by when.
struct Whereabouts {
    by_position: Vec<u32>,
    by_arrival: Vec<u32>,
    give_up: BinaryHeap<Reverse<(u64, u32)>>,
    giving_up: HashMap<u32, (VisitorId, u64, bool)>,
    sessions: BinaryHeap<Reverse<(u64, u64)>>,
}

fn place(index: &mut Vec<u32>, number: u64, person: usize) {
    let number = number as usize;
    if index.len() <= number {
        index.resize(number + 1, u32::MAX);
    }
    index[number] = person as u32;
}

async fn play(scenario: &Scenario, clock: &VirtualClock) -> Result<Outcome, SimulateError> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let id = EventId::parse("sale").map_err(|e| SimulateError::Stopped(e.to_string()))?;
    let line = LineId::from(&id);
    put_event_and_lanes(store.as_ref(), &id, &scenario.settings, PutMode::Upsert).await?;
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    // The push channel keeps the cache in step as on a replica; the resync's timers run on real
    // time, which barely passes.
    let resync = Resync {
        tick: Duration::from_secs(3_600),
        sweep: Duration::from_secs(86_400),
    };
    let (cache, _sync) = crate::cache::synced(store.clone(), resync, stopping).await?;
    let mut releases = Releases::new();
    let behaviour = scenario.behaviour;
    let mut rng = rand::rngs::StdRng::seed_from_u64(behaviour.seed);
    let arrivals = &scenario.arrivals.0;
    let mut people: Vec<Person> = Vec::with_capacity(arrivals.len());
    let mut whereabouts = Whereabouts {
        by_position: Vec::with_capacity(arrivals.len() + 1),
        by_arrival: Vec::new(),
        give_up: BinaryHeap::new(),
        giving_up: HashMap::new(),
        sessions: BinaryHeap::new(),
    };
    let last_arrival = arrivals.last().copied().unwrap_or(0);
    let sample_every = (last_arrival.max(60_000) / SAMPLES)
        .max(1_000)
        .next_multiple_of(TICK_MS);
    let mut samples = Vec::new();
    let (mut admitted_through, mut won_seen, mut admitted, mut active) = (0u64, 0u64, 0u64, 0u64);
    let mut t = 0u64;
    let mut changes = scenario.changes.iter().peekable();
    let emptied_ms = loop {
        clock.set(OPENS_MS + t as i64);
        let now_ms = OPENS_MS + t as i64;
        while let Some((_, settings)) = changes.next_if(|(at, _)| *at <= t) {
            change(store.as_ref(), &cache, (&id, &line), settings, t).await?;
        }
        let cached = the_event(&cache, &line)?;
        while let Some(&at) = arrivals.get(people.len()) {
            if at > t {
                break;
            }
            let visitor = VisitorId::generate();
            let joined = admission::take_place(
                store.as_ref(),
                (&line, &cached),
                &visitor,
                JoinAs::Anonymous,
                now_ms,
            )
            .await?;
            let person = people.len();
            let estimate_s = if joined.arrival {
                place(&mut whereabouts.by_arrival, joined.position, person);
                None
            } else {
                place(&mut whereabouts.by_position, joined.position, person);
                cached
                    .estimate(cached.ahead_of(joined.position))
                    .map(|estimate| estimate.wait_s)
            };
            people.push(Person {
                joined_ms: t,
                estimate_s,
                admitted_ms: None,
                left_ms: None,
            });
            if behaviour.leave_per_min > 0.0 {
                // Exponential patience: -ln(U) / rate.
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                let patience_ms = -u.ln() / behaviour.leave_per_min * 60_000.0;
                let deadline = t.saturating_add(patience_ms as u64);
                whereabouts.give_up.push(Reverse((deadline, person as u32)));
                whereabouts
                    .giving_up
                    .insert(person as u32, (visitor, joined.position, joined.arrival));
            }
        }
        // As `run_releases` does on each of its wake-ups.
        if t.is_multiple_of(SCAN.as_millis() as u64) {
            releases.scan(store.as_ref(), &cache).await;
        }
        for event in cache.releases.take() {
            releases.consider(&event, &cache);
        }
        releases.attempt_due(store.as_ref(), &cache).await;
        // Let the cache's sync task take in what the store pushed.
        tokio::task::yield_now().await;
        let cached = the_event(&cache, &line)?;

        let through = cached.admitted_through();
        if through > admitted_through {
            // A pool's draws: whose arrival number won which position (none for a line).
            let won = store.won_since(&line, won_seen).await?;
            won_seen += won.len() as u64;
            for (arrival, position) in won {
                if let Some(&person) = whereabouts.by_arrival.get(arrival as usize) {
                    if person != u32::MAX {
                        place(&mut whereabouts.by_position, position, person as usize);
                        if let Some(held) = whereabouts.giving_up.get_mut(&person) {
                            (held.1, held.2) = (position, false);
                        }
                    }
                }
            }
        }
        for position in admitted_through + 1..=through {
            let Some(&person) = whereabouts.by_position.get(position as usize) else {
                break;
            };
            let Some(person) = people.get_mut(person as usize) else {
                continue;
            };
            if person.left_ms.is_some() || person.admitted_ms.is_some() {
                continue;
            }
            person.admitted_ms = Some(t);
            admitted += 1;
            if rng.random_bool(behaviour.no_show.clamp(0.0, 1.0)) {
                continue;
            }
            let settings = cached.settings();
            let policy = cached.policy();
            let pass_ttl_ms = settings.admission.pass_ttl_s * 1_000;
            let claim = store
                .claim(&line, position, now_ms, pass_ttl_ms, policy.capacity)
                .await?;
            if matches!(claim, Claim::Granted { .. }) {
                active += 1;
                let session = match behaviour.session_ms {
                    0 => pass_ttl_ms,
                    session => session.min(pass_ttl_ms),
                };
                whereabouts.sessions.push(Reverse((t + session, position)));
            }
        }
        admitted_through = admitted_through.max(through);
        while let Some(&Reverse((deadline, person))) = whereabouts.give_up.peek() {
            if deadline > t {
                break;
            }
            whereabouts.give_up.pop();
            let Some((visitor, number, in_pool)) = whereabouts.giving_up.remove(&person) else {
                continue;
            };
            let someone = &mut people[person as usize];
            if someone.admitted_ms.is_some() {
                continue;
            }
            let gone = if in_pool {
                store.leave_prequeue(&line, number, &visitor).await? == PrequeueLeave::Recorded
            } else {
                let gone = store.leave(&line, number, &visitor).await?;
                cache.mark_left(&line, &cached, number);
                gone
            };
            if gone {
                someone.left_ms = Some(t);
            }
        }
        while let Some(&Reverse((ends, position))) = whereabouts.sessions.peek() {
            if ends > t {
                break;
            }
            whereabouts.sessions.pop();
            active -= 1;
            if behaviour.session_ms > 0 {
                store.complete(&line, position).await?;
                cached.record_claim(position, Claim::Completed);
            }
        }
        if t.is_multiple_of(sample_every) {
            samples.push(Sample {
                at_ms: t,
                waiting: cached.waiting(),
                admitted,
                active,
            });
        }
        if people.len() == arrivals.len() && cached.waiting() == 0 {
            break Some(t);
        }
        if t >= scenario.horizon_ms {
            break None;
        }
        t += TICK_MS;
    };
    samples.push(Sample {
        at_ms: t,
        waiting: cache.get(&line).map_or(0, |cached| cached.waiting()),
        admitted,
        active,
    });
    Ok(Outcome {
        name: scenario.name.clone(),
        people,
        samples,
        emptied_ms,
        ended_ms: t,
    })
}

const TICK_MS: u64 = TICK.as_millis() as u64;

/// The simulated event as the cache holds it now.
fn the_event(
    cache: &crate::cache::PointerCache,
    line: &LineId,
) -> Result<Arc<crate::cache::CachedEvent>, SimulateError> {
    cache
        .get(line)
        .ok_or_else(|| SimulateError::Stopped("the event is gone".into()))
}

/// Puts `settings` in place at `t` as the admin API would: refused where switching how people
/// enter would move those already waiting (the simulation does not follow them there).
async fn change(
    store: &dyn Store,
    cache: &crate::cache::PointerCache,
    (id, line): (&EventId, &LineId),
    settings: &EventSettings,
    t: u64,
) -> Result<(), SimulateError> {
    let refused = |why: String| SimulateError::Change {
        at_s: t / 1_000,
        why,
    };
    let cached = the_event(cache, line)?;
    let held = admission::Held {
        issued: cached.issued(),
        in_pool: cached.pool_waiting(),
    };
    let before = cached.policy();
    let plan = admission::switching(&before, &EventPolicy::of(settings), held)
        .map_err(|e| refused(e.to_string()))?;
    if !plan.is_empty() {
        return Err(refused(
            "it switches how people enter while some wait; simulate each way on its own".into(),
        ));
    }
    // Recorded as the admin API would: a pause by hand is made now.
    let settings = settings
        .clone()
        .after(&cached.settings(), OPENS_MS + t as i64)
        .map_err(|e| refused(e.to_string()))?;
    put_event_and_lanes(store, id, &settings, PutMode::Upsert).await?;
    cache.refresh(store, line).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::Summary;

    fn scenario(settings: serde_json::Value, arrivals: &str, behaviour: Behaviour) -> Scenario {
        let patch = crate::domain::Patch::<EventSettings>::try_from(settings).unwrap();
        let settings = patch.apply(&EventSettings::default()).unwrap();
        Scenario {
            name: "test".into(),
            settings: settings.after(&EventSettings::default(), OPENS_MS).unwrap(),
            arrivals: Arrivals::parse_curve(arrivals).unwrap(),
            behaviour,
            horizon_ms: 3_600_000,
            changes: Vec::new(),
        }
    }

    const PATIENT: Behaviour = Behaviour {
        session_ms: 0,
        no_show: 0.0,
        leave_per_min: 0.0,
        seed: 7,
    };

    /// 1,000 people at the opening, 100 let through every 10 s from the opening: the n-th person
    /// (from 0) waits n / 100 × 10 s, exactly.
    #[test]
    fn a_line_released_in_fixed_batches_gives_the_waits_computed_by_hand() {
        let settings = serde_json::json!({ "batch_size": 100, "release_interval_ms": 10_000 });
        let outcome = run(&scenario(settings, "spike:1000@0s", PATIENT)).unwrap();
        assert_eq!(outcome.people.len(), 1_000);
        for (n, person) in outcome.people.iter().enumerate() {
            let by_hand = n as u64 / 100 * 10_000;
            assert_eq!(person.waited_ms(), Some(by_hand), "person {n}");
        }
        let summary = Summary::of(&outcome);
        assert_eq!(
            (summary.wait_p50_s, summary.wait_p90_s, summary.wait_max_s),
            (40.0, 80.0, 90.0)
        );
        assert_eq!(
            (summary.peak_waiting, summary.emptied_at_s),
            (900, Some(90.0))
        );
        assert_eq!((summary.gave_up, summary.still_waiting), (0, 0));
    }

    /// The same sale paused from 25 s to 65 s: three batches before, then one at the resume (a
    /// release slot's first call moves the line), then every 10 s again.
    #[test]
    fn a_pause_holds_the_line_and_the_resume_releases_at_once() {
        let settings = serde_json::json!({ "batch_size": 100, "release_interval_ms": 10_000 });
        let mut sale = scenario(settings, "spike:1000@0s", PATIENT);
        let state = |state: &str| {
            let patch = crate::domain::Patch::<EventSettings>::try_from(
                serde_json::json!({ "state": state }),
            )
            .unwrap();
            patch.apply(&sale.settings).unwrap()
        };
        sale.changes = vec![(25_000, state("paused")), (65_000, state("open"))];
        let outcome = run(&sale).unwrap();
        let released_s = [0, 10, 20, 65, 70, 80, 90, 100, 110, 120];
        for (n, person) in outcome.people.iter().enumerate() {
            assert_eq!(
                person.waited_ms(),
                Some(released_s[n / 100] * 1_000),
                "person {n}"
            );
        }
    }

    /// People let through once a minute, fewer arriving than a batch: each waits for the next
    /// release, and the page says so (within the 20 % at p90; it said a few seconds when
    /// the estimate knew only the pace).
    #[test]
    fn a_short_line_released_each_minute_is_told_the_wait_for_the_next_release() {
        let settings = serde_json::json!({ "batch_size": 600, "release_interval_ms": 60_000 });
        let outcome = run(&scenario(settings, "steady:500/min@15m", PATIENT)).unwrap();
        let error = Summary::of(&outcome).estimate_p90_error.unwrap();
        assert!(error <= 0.2, "p90 error {error}");
    }

    /// A long line in which 2 % of those waiting give up each minute: the wait told counts only
    /// those ahead who will still be there (the leaving measured), within the 20 % at p90
    /// (counting everyone ahead, it was 60 % off).
    #[test]
    fn people_giving_up_ahead_of_a_visitor_shorten_the_wait_told() {
        let settings = serde_json::json!({ "batch_size": 60, "release_interval_ms": 60_000 });
        let giving_up = Behaviour {
            leave_per_min: 0.02,
            ..PATIENT
        };
        let outcome = run(&scenario(
            settings,
            "spike:5000@2m,steady:30/min@1h",
            giving_up,
        ))
        .unwrap();
        let error = Summary::of(&outcome).estimate_p90_error.unwrap();
        assert!(error <= 0.2, "p90 error {error}");
    }

    /// A sale paused for half an hour: announced beforehand (`pauses_at`, `resumes_at`), the wait
    /// told at joining counts the break for everyone it reaches, within the 20 % at p90;
    /// made by hand, unannounced, it cannot (the same sale, the same waits).
    #[test]
    fn a_break_announced_beforehand_is_counted_in_the_waits_told() {
        let at = |minutes: i64| {
            chrono::DateTime::from_timestamp_millis(OPENS_MS + minutes * 60_000)
                .unwrap()
                .to_rfc3339()
        };
        let settings = serde_json::json!({
            "batch_size": 60, "release_interval_ms": 60_000,
            "pauses_at": at(20), "resumes_at": at(50)
        });
        let arrivals = "spike:3000@2m,steady:30/min@40m";
        let announced = run(&scenario(settings, arrivals, PATIENT)).unwrap();
        let told = Summary::of(&announced);
        assert!(told.estimate_p90_error.unwrap() <= 0.2, "{told:?}");

        let settings = serde_json::json!({ "batch_size": 60, "release_interval_ms": 60_000 });
        let mut unannounced = scenario(settings, arrivals, PATIENT);
        let state = |state: &str| {
            let patch = serde_json::json!({ "state": state });
            let patch = crate::domain::Patch::<EventSettings>::try_from(patch).unwrap();
            patch.apply(&unannounced.settings).unwrap()
        };
        unannounced.changes = vec![(20 * 60_000, state("paused")), (50 * 60_000, state("open"))];
        let not_told = Summary::of(&run(&unannounced).unwrap());
        assert_eq!(
            (
                not_told.wait_p50_s,
                not_told.wait_p90_s,
                not_told.emptied_at_s
            ),
            (told.wait_p50_s, told.wait_p90_s, told.emptied_at_s),
            "the same sale"
        );
        assert!(not_told.estimate_p90_error.unwrap() > 0.2, "{not_told:?}");
    }

    /// The same sale drawn at random: who waits how long changes, how many wait how long does not.
    #[test]
    fn a_pool_released_in_fixed_batches_gives_the_same_waits_to_other_people() {
        let settings = serde_json::json!({
            "batch_size": 100, "release_interval_ms": 10_000, "method": "random"
        });
        let outcome = run(&scenario(settings, "spike:1000@0s", PATIENT)).unwrap();
        let mut waits: Vec<u64> = outcome
            .people
            .iter()
            .filter_map(Person::waited_ms)
            .collect();
        let in_order = waits.windows(2).all(|pair| pair[0] <= pair[1]);
        assert!(!in_order, "a draw is not the order of arrival");
        waits.sort_unstable();
        let by_hand: Vec<u64> = (0..1_000).map(|n| n / 100 * 10_000).collect();
        assert_eq!(waits, by_hand);
        assert!(outcome.people.iter().all(|p| p.estimate_s.is_none()));
    }

    /// People who give up leave the line for good (in the line and in a pool), are never let in
    /// afterwards, and everyone ends admitted, gone or waiting.
    #[test]
    fn people_who_give_up_are_never_let_in() {
        for method in ["fifo", "random"] {
            let settings = serde_json::json!({
                "batch_size": 20, "release_interval_ms": 10_000, "method": method
            });
            let impatient = Behaviour {
                leave_per_min: 0.2,
                ..PATIENT
            };
            let outcome = run(&scenario(settings, "spike:2000@1m", impatient)).unwrap();
            let summary = Summary::of(&outcome);
            assert!(summary.gave_up > 500, "{method}: {summary:?}");
            assert!(outcome
                .people
                .iter()
                .all(|p| !(p.admitted_ms.is_some() && p.left_ms.is_some())));
            assert_eq!(
                summary.admitted + summary.gave_up + summary.still_waiting,
                2_000
            );
            assert_eq!(summary.still_waiting, 0, "{method}: {summary:?}");
        }
    }

    /// With a capacity, people in their session never outnumber it, no-shows hold their slot
    /// only for the claim window, and the line still empties.
    #[test]
    fn a_capacity_holds_through_sessions_and_no_shows() {
        let settings = serde_json::json!({
            "batch_size": 100, "release_interval_ms": 10_000, "max_active": 50,
            "claim_window_s": 30
        });
        let shoppers = Behaviour {
            session_ms: 20_000,
            no_show: 0.2,
            ..PATIENT
        };
        let outcome = run(&scenario(settings, "spike:500@0s", shoppers)).unwrap();
        assert!(outcome.samples.iter().all(|s| s.active <= 50));
        assert!(outcome.samples.iter().any(|s| s.active > 0));
        let summary = Summary::of(&outcome);
        assert_eq!(summary.admitted, 500, "{summary:?}");
        // At most 50 at a time, each for 20 s or more: 500 take at least 10 slots' worth.
        assert!(summary.wait_max_s >= 180.0, "{summary:?}");
    }
}

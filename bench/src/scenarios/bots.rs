//! A bot against people in a pool draw (an event that draws at random): for a while, people arrive
//! evenly, each from an address of their own, while a bot with [`BOT_ADDRESSES`] addresses asks
//! for places back to back across the replicas. Then one release draws a tenth of the people's
//! number. Each run is one challenge setting: off, or a cost. What it shows: the places the bot
//! took (in the pool and in the draw), the CPU it spent per place (one solver thread: one core's
//! budget), and what the people saw (their join's round trips, p50 and p99).
//!
//! The people's devices each solve their own challenge; the bench cannot be 10,000 devices, so
//! before they arrive it solves one for each person with few attempts (a challenge of the same
//! event and cost, made with the server's key: the server checks it at the same cost). Their own
//! solving time is the browser's, measured in Chromium (docs/BENCHMARKS.md). The bot solves the
//! server's challenges for real, on one thread: one core's budget.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hdrhistogram::Histogram;
use reqwest::StatusCode;
use waitroom::challenge::solve;
use waitroom::client::Client;
use waitroom::domain::{Patch, RateLimits};
use waitroom::keys::KeySet;

use crate::measure::thread_cpu_time;
use crate::report::Row;

/// The bot's addresses.
const BOT_ADDRESSES: u32 = 200;
/// The bot's connections asking at once.
const BOT_CONNECTIONS: usize = 16;

/// One run's size.
pub struct Crowd {
    pub people: u32,
    pub window: Duration,
}

pub async fn bots(
    replicas: &[String],
    admin: &Client,
    keys: &KeySet,
    crowd: &Crowd,
    costs: &[u32],
) -> Vec<Row> {
    let mut rows = Vec::new();
    for &cost in [0].iter().chain(costs) {
        let event = format!("bots-{cost}");
        // The default join limits (60 a minute per address, counted across the replicas in
        // Redis); status checks unlimited, as the bench reads every token from one address.
        let limits = RateLimits {
            checks_per_second: 0,
            check_burst: 0,
            ..RateLimits::default()
        };
        let patch = Patch::default()
            .with("batch_size", 0)
            .with("method", "random")
            .with("challenge_cost", cost)
            .with("rate_limits", limits);
        admin.put_event(&event, &patch).await.expect("an event");
        let run = Run::new(replicas, &event);
        // The people's devices' work, done before they arrive (see the module's docs).
        let solved = match cost {
            0 => Vec::new(),
            cost => super::solved_challenges(keys, &event, cost, crowd.people as usize),
        };
        let deadline = Instant::now() + crowd.window;
        let (bot, people) = tokio::join!(run.bot(deadline), run.people(&solved, crowd));

        let drawn = u64::from(crowd.people / 10).max(1);
        admin.advance(&event, drawn).await.expect("a release");
        let bot_drawn = run.admitted(&bot.tokens, drawn, &people.tokens).await;
        let pool = bot.tokens.len() + people.tokens.len();
        let setting = match cost {
            0 => "challenge off".to_owned(),
            cost => format!("challenge at cost {cost}"),
        };
        let per_place = match (cost, bot.tokens.len()) {
            (0, _) => "no work per place".to_owned(),
            (_, 0) => format!("{:.1} CPU-s for no place", bot.solver_cpu.as_secs_f64()),
            (_, places) => format!(
                "{:.3} CPU-s of solving per place ({:.1} s on its one solver thread)",
                bot.solver_cpu.as_secs_f64() / places as f64,
                bot.solver_cpu.as_secs_f64()
            ),
        };
        rows.push(Row::figure(
            &format!("bot, {setting}"),
            bot.tokens.len() as f64,
            "places",
            format!(
                "{:.1} % of a pool of {pool} in {:.0} s, from {BOT_ADDRESSES} addresses ({} refused \
                 for their limit); {bot_drawn} of the {drawn} drawn; {per_place}",
                100.0 * bot.tokens.len() as f64 / pool.max(1) as f64,
                crowd.window.as_secs_f64(),
                bot.refused,
            ),
        ));
        rows.push(Row {
            p50_us: Some(people.latency.value_at_quantile(0.5)),
            p99_us: Some(people.latency.value_at_quantile(0.99)),
            p999_us: Some(people.latency.value_at_quantile(0.999)),
            errors: people.failed,
            ..Row::figure(
                &format!("people, {setting}"),
                people.tokens.len() as f64,
                "places",
                format!(
                    "{} people, one address each, arriving evenly; latency: their join's round \
                     trips{}; {} of the {drawn} drawn",
                    crowd.people,
                    if cost > 0 {
                        " (the refusal with a challenge, then the solved join), not their device's solving"
                    } else {
                        ""
                    },
                    drawn - bot_drawn.min(drawn),
                ),
            )
        });
    }
    rows
}

/// One event's run: the replicas it spreads joins over.
struct Run {
    join_urls: Vec<String>,
    status_url: String,
    http: reqwest::Client,
}

/// What the bot got.
struct BotTook {
    tokens: Vec<String>,
    refused: u64,
    solver_cpu: Duration,
}

/// What the people got.
struct PeopleGot {
    tokens: Vec<String>,
    latency: Histogram<u64>,
    failed: u64,
}

/// A join's answer, as far as the bench reads it.
enum Answer {
    Place(String),
    Challenge(Box<altcha::Challenge>),
    Refused,
    Failed,
}

impl Run {
    fn new(replicas: &[String], event: &str) -> Self {
        Self {
            join_urls: replicas
                .iter()
                .map(|base| format!("{base}/v1/events/{event}/join"))
                .collect(),
            status_url: format!("{}/v1/events/{event}/status", replicas[0]),
            http: reqwest::Client::new(),
        }
    }

    async fn join(&self, turn: usize, address: &str, solution: Option<&str>) -> Answer {
        let url = &self.join_urls[turn % self.join_urls.len()];
        let mut request = self.http.post(url).header("x-forwarded-for", address);
        if let Some(solution) = solution {
            request = request.header("x-waitroom-solution", solution);
        }
        let Ok(response) = request.send().await else {
            return Answer::Failed;
        };
        let status = response.status();
        let Ok(body) = response.json::<serde_json::Value>().await else {
            return Answer::Failed;
        };
        match status {
            StatusCode::CREATED | StatusCode::OK => match body["token"].as_str() {
                Some(token) => Answer::Place(token.to_owned()),
                None => Answer::Failed,
            },
            StatusCode::FORBIDDEN => match serde_json::from_value(body["challenge"].clone()) {
                Ok(challenge) => Answer::Challenge(Box::new(challenge)),
                Err(_) => Answer::Failed,
            },
            StatusCode::TOO_MANY_REQUESTS => Answer::Refused,
            _ => Answer::Failed,
        }
    }

    /// The bot: [`BOT_CONNECTIONS`] loops asking for places from its addresses in turn until
    /// `deadline`, every challenge solved on one thread of its own.
    async fn bot(&self, deadline: Instant) -> BotTook {
        let (to_solver, mut challenges) = tokio::sync::mpsc::channel::<(
            altcha::Challenge,
            tokio::sync::oneshot::Sender<String>,
        )>(BOT_CONNECTIONS);
        // The bot's budget is its one core for the window: what is still queued then is dropped.
        let solver = std::thread::spawn(move || {
            while let Some((challenge, answer)) = challenges.blocking_recv() {
                if Instant::now() >= deadline {
                    continue;
                }
                if let Some(solved) = solve(&challenge) {
                    let _ = answer.send(solved);
                }
            }
            thread_cpu_time()
        });
        let tokens = Mutex::new(Vec::new());
        let (turn, refused) = (AtomicUsize::new(0), AtomicU64::new(0));
        let asking = (0..BOT_CONNECTIONS).map(|_| async {
            while Instant::now() < deadline {
                let turn = turn.fetch_add(1, Ordering::Relaxed);
                let address = bot_address(turn as u32 % BOT_ADDRESSES);
                let mut answer = self.join(turn, &address, None).await;
                if let Answer::Challenge(challenge) = answer {
                    let (solved, solution) = tokio::sync::oneshot::channel();
                    if to_solver.send((*challenge, solved)).await.is_err() {
                        break;
                    }
                    let Ok(solution) = solution.await else { break };
                    answer = self.join(turn, &address, Some(&solution)).await;
                }
                match answer {
                    Answer::Place(token) => tokens.lock().expect("not poisoned").push(token),
                    Answer::Refused => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Answer::Challenge(_) | Answer::Failed => {}
                }
            }
        });
        join_all(asking).await;
        drop(to_solver);
        BotTook {
            tokens: tokens.into_inner().expect("not poisoned"),
            refused: refused.into_inner(),
            solver_cpu: solver.join().expect("the solver thread"),
        }
    }

    /// The people: `crowd.people` arriving evenly over its window, each joining once from an
    /// address of their own (twice with a challenge: refused with it, then with the solution
    /// `solved` holds for them).
    async fn people(&self, solved: &[String], crowd: &Crowd) -> PeopleGot {
        let started = Instant::now();
        let arrivals = (0..crowd.people).map(|n| async move {
            let arrives = crowd.window.mul_f64(f64::from(n) / f64::from(crowd.people));
            tokio::time::sleep_until((started + arrives).into()).await;
            let address = std::net::Ipv4Addr::from(0x0a00_0000 + n).to_string();
            let asked = Instant::now();
            let mut answer = self.join(n as usize, &address, None).await;
            let mut waited = asked.elapsed();
            if let Answer::Challenge(_) = answer {
                let asked = Instant::now();
                let solution = solved.get(n as usize).map(String::as_str);
                answer = self.join(n as usize, &address, solution).await;
                waited += asked.elapsed();
            }
            (answer, waited)
        });
        let mut got = PeopleGot {
            tokens: Vec::new(),
            latency: Histogram::new(3).expect("a histogram"),
            failed: 0,
        };
        for (answer, waited) in join_all(arrivals).await {
            match answer {
                Answer::Place(token) => {
                    got.tokens.push(token);
                    let _ = got.latency.record(waited.as_micros().max(1) as u64);
                }
                _ => got.failed += 1,
            }
        }
        got
    }

    /// How many of `bot`'s places the release of `drawn` admitted, once the replica counts every
    /// drawn place among the bot's and the people's (a replica hears of a draw by push).
    async fn admitted(&self, bot: &[String], drawn: u64, people: &[String]) -> u64 {
        let mut bot_admitted = 0;
        for _ in 0..50 {
            bot_admitted = self.count_admitted(bot).await;
            if bot_admitted + self.count_admitted(people).await >= drawn {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bot_admitted
    }

    async fn count_admitted(&self, tokens: &[String]) -> u64 {
        let mut admitted = 0;
        for chunk in tokens.chunks(64) {
            let checks = chunk.iter().map(|token| async move {
                let response = self
                    .http
                    .get(&self.status_url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .ok()?;
                let body = response.json::<serde_json::Value>().await.ok()?;
                Some(body["status"] == "admitted")
            });
            admitted += join_all(checks)
                .await
                .into_iter()
                .filter(|a| *a == Some(true))
                .count() as u64;
        }
        admitted
    }
}

/// The bot's `n`th address, apart from the people's.
fn bot_address(n: u32) -> String {
    std::net::Ipv4Addr::from(0xac10_0000 + n).to_string()
}

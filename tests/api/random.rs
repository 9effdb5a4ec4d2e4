//! The `random` queueing method: everyone who joins waits in a pool, and each release draws whom it
//! lets through from everyone waiting then, each with the same chance.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use waitroom::domain::random_token_id;

use crate::helpers::{
    app_and_other_replica, claims, config_for, eventually, put_settings, raw_redis, spawn_config,
    Answer, Backend, TestApp,
};
use crate::{on_both_stores, on_every_store};

on_every_store!(
    a_random_event_lets_through_whom_each_release_draws,
    switching_to_and_from_random_keeps_every_place
);
on_both_stores!(
    every_visitor_has_the_same_chance_at_every_release,
    the_releases_seed_is_committed_to_and_revealed_at_closing
);

/// Each token's status on `replica`, once at least `drawn` of them were drawn there (a replica
/// hears of winners by the push, a moment after the release).
async fn standings(replica: &TestApp, event: &str, tokens: &[String], drawn: usize) -> Vec<Answer> {
    let mut answers = Vec::new();
    for _ in 0..250 {
        answers.clear();
        for token in tokens {
            answers.push(replica.status(event, token).await);
        }
        let placed = answers
            .iter()
            .filter(|answer| answer.body["status"] != "prequeue")
            .count();
        if placed >= drawn {
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    answers
}

/// Joins go to the pool with arrival numbers (pre-queue tokens: no position yet, the chance at the
/// next draw instead); an admin's advance of 5 draws 5 of those waiting and gives them positions
/// 1-5, which every replica reads from the token alone (and exchanges for a waiting token); one who
/// left the pool is never drawn; a winner who leaves gives up the position; the scheduled release
/// then draws everyone left, a batch per window, and every visitor ends up with a position of their
/// own.
async fn a_random_event_lets_through_whom_each_release_draws(backend: Backend) {
    let (app, other) = app_and_other_replica(backend).await;
    let reader = other.as_ref().unwrap_or(&app);
    app.create_event("r", json!({ "method": "random", "batch_size": 0 }))
        .await;
    crate::helpers::known_everywhere([&app, reader], "r").await;
    let mut tokens = Vec::new();
    let mut arrivals = BTreeSet::new();
    for i in 0..20 {
        let replica = if i % 2 == 0 { &app } else { reader };
        let joined = replica.join("r").await;
        assert_eq!(joined.status.as_u16(), 201, "{}", joined.body);
        assert_eq!(joined.body["status"], "prequeue", "{}", joined.body);
        assert_eq!(joined.body["draw_chance"], 0.0, "no release: no chance");
        let token = joined.token();
        let held = claims(&token);
        assert_eq!(held["kind"], "prequeue");
        arrivals.insert(held["pos"].as_u64().unwrap());
        tokens.push(token);
    }
    assert_eq!(arrivals, (1..=20).collect(), "arrival numbers, each once");

    let gone = tokens.remove(3);
    assert_eq!(app.leave("r", &gone).await.status.as_u16(), 200);
    let view = app.advance("r", 5).await;
    assert_eq!(
        (view.admitted_through, view.issued, view.in_draw),
        (5, 5, 14),
        "5 drawn from the pool of 20, one of whom left"
    );
    let answers = standings(reader, "r", &tokens, 5).await;
    let drawn: Vec<&Answer> = answers
        .iter()
        .filter(|answer| answer.body["status"] == "admitted")
        .collect();
    assert_eq!(
        drawn.len(),
        5,
        "{:?}",
        answers.iter().map(|a| &a.body).collect::<Vec<_>>()
    );
    let positions: BTreeSet<u64> = drawn.iter().map(|answer| answer.position()).collect();
    assert_eq!(positions, (1..=5).collect());
    for answer in &drawn {
        let exchanged = answer.body["token"].as_str().expect("the token exchanged");
        assert_eq!(claims(exchanged)["kind"], "waiting");
        assert_eq!(claims(exchanged)["pos"], answer.body["position"]);
        assert_eq!(app.status("r", exchanged).await.body["status"], "admitted");
    }
    let waiting = answers
        .iter()
        .find(|answer| answer.body["status"] == "prequeue")
        .expect("some still wait in the pool");
    assert_eq!(waiting.body["position"], 0);
    // The pool's size as the reader tells it: it hears of the draw by push and reads the pool
    // after; under load the first answer may come between the two.
    let still = &tokens[answers
        .iter()
        .position(|answer| std::ptr::eq(answer, waiting))
        .unwrap()];
    let told = crate::helpers::eventually(Duration::from_secs(5), || async {
        reader.status("r", still).await.body["in_prequeue"] == 14
    })
    .await;
    assert!(told.is_some(), "{}", reader.status("r", still).await.body);
    reader
        .status("r", &gone)
        .await
        .assert_problem(410, "left-line");
    // The booking service's verify says so too.
    reader
        .verify(json!({ "token": gone, "event": "r" }))
        .await
        .assert_problem(410, "left-line");

    let winner = tokens
        .iter()
        .zip(&answers)
        .find(|(_, answer)| answer.body["status"] == "admitted")
        .map(|(token, answer)| (token.clone(), answer.position()))
        .unwrap();
    let left = app.leave("r", &winner.0).await;
    assert_eq!(left.body["position"], winner.1, "{}", left.body);

    // The scheduled release draws the rest, 4 per window.
    put_settings(
        &app,
        "r",
        json!({ "batch_size": 4, "release_interval_ms": 200 }),
    )
    .await;
    let everyone = eventually(Duration::from_secs(15), || async {
        app.show("r").await.in_draw == 0
    })
    .await;
    assert!(everyone.is_some(), "the pool was never drawn empty");
    let answers = standings(reader, "r", &tokens, tokens.len()).await;
    let mut positions = BTreeSet::new();
    for (token, answer) in tokens.iter().zip(&answers) {
        if *token == winner.0 {
            answer.assert_problem(410, "left-line");
            continue;
        }
        assert_ne!(answer.body["status"], "prequeue", "{}", answer.body);
        assert!(positions.insert(answer.position()), "a position twice");
    }
    assert_eq!(positions.len(), 18);
    assert!(positions.iter().all(|&p| (1..=19).contains(&p)));
    let page = app.page_text("/e/r?nojs=1").await;
    assert!(page.contains("You are in the draw"), "{page}");

    // A booking site's user keeps their number in the draw, and after leaving it may join again.
    let join_member = || async {
        app.admin(
            reqwest::Method::POST,
            "/v1/admin/events/r/join",
            Some(json!({ "visitor": "member-1" })),
        )
        .await
    };
    let member = join_member().await;
    assert_eq!(member.body["status"], "prequeue", "{}", member.body);
    let again = join_member().await;
    assert_eq!(
        (
            again.body["fresh"].as_bool(),
            claims(&again.token())["pos"].clone()
        ),
        (Some(false), claims(&member.token())["pos"].clone())
    );
    assert_eq!(app.leave("r", &member.token()).await.status.as_u16(), 200);
    let back = join_member().await;
    assert_eq!(back.body["fresh"], true, "{}", back.body);
    assert_eq!(back.body["status"], "prequeue", "{}", back.body);
    assert_ne!(claims(&back.token())["pos"], claims(&member.token())["pos"]);
}

/// fifo → random: those in line go first, then the draw; random → fifo: those still in the draw take
/// the next places in arrival order, before anyone who joins later; random → passthrough: everyone
/// in the draw is let in.
async fn switching_to_and_from_random_keeps_every_place(backend: Backend) {
    let config = config_for(backend, &format!("t{}", random_token_id()));
    let app = spawn_config(config.clone()).await;
    app.create_event("s", json!({ "batch_size": 0 })).await;
    let mut lined = Vec::new();
    for _ in 0..3 {
        lined.push(app.join("s").await.token());
    }
    put_settings(&app, "s", json!({ "method": "random" })).await;
    let mut pooled = Vec::new();
    for _ in 0..4 {
        let joined = app.join("s").await;
        assert_eq!(joined.body["status"], "prequeue", "{}", joined.body);
        pooled.push(joined.token());
    }
    let view = app.advance("s", 2).await;
    assert_eq!(
        (view.admitted_through, view.in_draw),
        (2, 4),
        "the line first"
    );
    let view = app.advance("s", 3).await;
    assert_eq!(
        (view.admitted_through, view.issued, view.in_draw),
        (5, 5, 2)
    );
    assert_eq!(app.status("s", &lined[2]).await.body["status"], "admitted");

    put_settings(&app, "s", json!({ "method": "fifo" })).await;
    let later = app.join("s").await;
    assert_eq!(later.position(), 8, "{}", later.body);
    let mut still_waiting: Vec<(u64, u64)> = Vec::new();
    for token in &pooled {
        let answer = app.status("s", token).await;
        if answer.position() > 5 {
            let arrival = claims(token)["pos"].as_u64().unwrap();
            still_waiting.push((arrival, answer.position()));
        }
    }
    still_waiting.sort();
    assert_eq!(
        still_waiting.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
        vec![6, 7],
        "those left in the draw, in arrival order"
    );
    if backend != Backend::Memory {
        // A replica started after the switch still reads the draw's tokens at their places.
        let late = spawn_config(config).await;
        for token in &pooled {
            let here = app.status("s", token).await.position();
            assert_eq!(late.status("s", token).await.position(), here);
        }
    }

    put_settings(&app, "s", json!({ "method": "random" })).await;
    let drawn_later = app.join("s").await.token();
    assert_eq!(app.show("s").await.in_draw, 1);
    put_settings(&app, "s", json!({ "method": "passthrough" })).await;
    let answer = app.status("s", &drawn_later).await;
    assert_eq!(answer.body["status"], "admitted", "{}", answer.body);
    assert!(answer.body["pass"].is_string());

    put_settings(
        &app,
        "l",
        json!({ "method": "random", "lanes": [
        { "name": "public", "share": 50 }, { "name": "members", "share": 50 }
    ] }),
    )
    .await
    .assert_problem(400, "invalid-settings");
}

/// On real Redis: a release of 500 from a pool of 2,000 takes as many from each
/// tenth of the arrivals as chance allows (chi-square, 9 degrees of freedom), and a second release
/// after 500 more joined takes the newcomers in their share of the pool, no more, no less.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_release_draws_uniformly_from_everyone_waiting() {
    let prefix = format!("t{}", random_token_id());
    let app = spawn_config(config_for(Backend::Redis, &prefix)).await;
    app.create_event("u", json!({ "method": "random", "batch_size": 0 }))
        .await;
    join_many(&app, "u", 2_000).await;
    app.advance("u", 500).await;
    let won = winners(&prefix, "u").await;
    assert_eq!(won.len(), 500);
    let mut tenths = [0u64; 10];
    for (arrival, _) in &won {
        tenths[((arrival - 1) / 200) as usize] += 1;
    }
    let chi_square: f64 = tenths
        .iter()
        .map(|&seen| (seen as f64 - 50.0).powi(2) / 50.0)
        .sum();
    println!("winners by tenth of arrivals: {tenths:?}, chi-square {chi_square:.1} at 9 df");
    // p = 1e-6 at 9 degrees of freedom: a fair draw fails this once in a million runs.
    assert!(chi_square < 46.0, "{tenths:?}: chi-square {chi_square:.1}");

    // 1,500 left from before and 500 new: the newcomers hold a quarter of the pool.
    join_many(&app, "u", 500).await;
    app.advance("u", 500).await;
    let won = winners(&prefix, "u").await;
    let newcomers = won[500..]
        .iter()
        .filter(|(arrival, _)| *arrival > 2_000)
        .count();
    // Hypergeometric: mean 125, standard deviation 8.4; six of them either side.
    println!("newcomers among the second release's 500: {newcomers} (125 expected)");
    assert!(
        (75..=175).contains(&newcomers),
        "{newcomers} newcomers drawn"
    );
    let positions: Vec<u64> = won.iter().map(|(_, position)| *position).collect();
    assert_eq!(positions, (1..=1_000).collect::<Vec<_>>());
}

async fn join_many(app: &TestApp, event: &str, count: usize) {
    let joins = (0..count).map(|_| app.join(event));
    for joined in futures_util::future::join_all(joins).await {
        assert_eq!(joined.status.as_u16(), 201, "{}", joined.body);
    }
}

/// The winners' log in Redis: (arrival number, position), in the order drawn.
async fn winners(prefix: &str, event: &str) -> Vec<(u64, u64)> {
    let log: Vec<String> = redis::cmd("LRANGE")
        .arg(format!("{prefix}:{{{event}}}:pool:won"))
        .arg(0)
        .arg(-1)
        .query_async(&mut raw_redis(Backend::Redis).await)
        .await
        .unwrap();
    log.iter()
        .map(|entry| {
            let (arrival, position) = entry.split_once(':').unwrap();
            (arrival.parse().unwrap(), position.parse().unwrap())
        })
        .collect()
}

/// Redis loses the pool (as a failover can): the replica restores the arrival numbers it knew were
/// handed out, so every visitor holding one is still drawn, and no number goes to a second visitor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_redis_lost_is_restored_and_everyone_still_drawn() {
    let prefix = format!("t{}", random_token_id());
    let mut config = config_for(Backend::Redis, &prefix);
    config.resync_sweep = Duration::from_secs(1);
    let app = spawn_config(config).await;
    app.create_event("p", json!({ "method": "random", "batch_size": 0 }))
        .await;
    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(app.join("p").await.token());
    }
    let key = |name: &str| format!("{prefix}:{{p}}:{name}");
    let _: () = redis::pipe()
        .atomic()
        .del(key("pool"))
        .del(key("pool:arrived"))
        .del(key("pool:entries"))
        .query_async(&mut raw_redis(Backend::Redis).await)
        .await
        .unwrap();
    let restored = eventually(Duration::from_secs(10), || async {
        let waiting: u64 = redis::cmd("ZCARD")
            .arg(key("pool"))
            .query_async(&mut raw_redis(Backend::Redis).await)
            .await
            .unwrap();
        waiting == 10
    })
    .await;
    assert!(restored.is_some(), "the lost pool was never restored");
    let newcomer = app.join("p").await.token();
    assert_eq!(claims(&newcomer)["pos"], 11, "no number handed out twice");
    tokens.push(newcomer);
    app.advance("p", 11).await;
    let answers = standings(&app, "p", &tokens, 11).await;
    let positions: BTreeSet<u64> = answers.iter().map(|answer| answer.position()).collect();
    assert_eq!(
        positions,
        (1..=11).collect(),
        "every visitor drawn, each to a position of their own"
    );

    // Deleting the event takes its pool with it, a booking site's users in it too.
    let member = app
        .admin(
            reqwest::Method::POST,
            "/v1/admin/events/p/join",
            Some(json!({ "visitor": "member-1" })),
        )
        .await;
    assert_eq!(member.body["status"], "prequeue", "{}", member.body);
    app.admin(reqwest::Method::DELETE, "/v1/admin/events/p", None)
        .await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(key("*"))
        .query_async(&mut raw_redis(Backend::Redis).await)
        .await
        .unwrap();
    assert_eq!(keys, [key("deleted")], "only the tombstone is left");
}

/// Each visitor's own chance, not only each tenth's: 32 identical releases of 500 from a pool of
/// 2,000 (a fresh event, so a fresh seed, each time). A fair draw wins each arrival number a
/// Binomial(32, 1/4) count of them, whose variance is 6; the spread seen over the 2,000 numbers is
/// within 15 % of it (four standard deviations of the estimate), where Redis's SPOP gave 1.6 times.
/// Every release is also the one the published procedure computes from the pool's seed.
async fn every_visitor_has_the_same_chance_at_every_release(backend: Backend) {
    use waitroom::domain::draw::{release_picks, take_picks};
    use waitroom::domain::{EventId, EventSettings, LineId, QueueMethod, VisitorId};
    use waitroom::store::{AdvanceMode, Capacity, JoinAs, Pick, PutMode, Store};
    const POOL: u64 = 2_000;
    const RELEASED: u64 = 500;
    const RELEASES: usize = 32;
    let store: std::sync::Arc<dyn Store> = match backend {
        Backend::Memory => std::sync::Arc::new(waitroom::store::MemoryStore::default()),
        Backend::Redis | Backend::Cluster => {
            crate::helpers::shared_store(backend, &format!("t{}", random_token_id())).await
        }
    };
    let mut settings = EventSettings::default();
    settings.ordering.method = QueueMethod::Random;
    let mut wins = vec![0u32; POOL as usize];
    for release in 0..RELEASES {
        let event = LineId::from(EventId::parse(&format!("fair-{release}")).unwrap());
        store
            .put_event(&event, &settings, PutMode::Upsert)
            .await
            .unwrap();
        let joins = (0..POOL).map(|_| {
            let (store, event) = (store.clone(), event.clone());
            async move {
                let visitor = VisitorId::generate();
                store
                    .join(&event, &visitor, JoinAs::Anonymous, 0, 0, Pick::AtRandom)
                    .await
                    .unwrap()
            }
        });
        futures_util::future::join_all(joins).await;
        let seed = store
            .snapshot(&event)
            .await
            .unwrap()
            .unwrap()
            .pool
            .unwrap()
            .seed;
        store
            .advance(
                &event,
                RELEASED,
                AdvanceMode::Manual,
                Capacity::UNLIMITED,
                Pick::AtRandom,
            )
            .await
            .unwrap();
        let won: Vec<u64> = store
            .won_since(&event, 0)
            .await
            .unwrap()
            .into_iter()
            .map(|(arrival, _)| arrival)
            .collect();
        let mut pool: Vec<u64> = (1..=POOL).collect();
        let published = take_picks(&mut pool, &release_picks(&seed.unwrap(), 1, POOL, RELEASED));
        assert_eq!(won, published, "release {release} is not the seed's");
        for arrival in won {
            wins[arrival as usize - 1] += 1;
        }
    }
    let mean = wins.iter().map(|&w| f64::from(w)).sum::<f64>() / POOL as f64;
    let variance = wins
        .iter()
        .map(|&w| (f64::from(w) - mean).powi(2))
        .sum::<f64>()
        / (POOL - 1) as f64;
    let ratio = variance / 6.0;
    println!("individual win counts over {RELEASES} releases: mean {mean:.2}, variance {variance:.2} = {ratio:.3} x binomial");
    assert!(
        (0.85..1.15).contains(&ratio),
        "spread {ratio:.3} x the binomial's"
    );
}

/// The seed every release draws with is committed to from the start (its SHA-256 on the public
/// draw route) and revealed once the event closed; with it, anyone recomputes who each release drew.
async fn the_releases_seed_is_committed_to_and_revealed_at_closing(backend: Backend) {
    use sha2::{Digest, Sha256};
    use waitroom::domain::draw::{release_picks, take_picks, Seed};
    let app = crate::helpers::spawn_app(backend).await;
    app.create_event("s", json!({ "method": "random", "batch_size": 0 }))
        .await;
    let tokens: Vec<String> = futures_util::future::join_all((0..30).map(|_| app.join("s")))
        .await
        .iter()
        .map(Answer::token)
        .collect();
    let before = app.page_json("/v1/events/s/draw").await;
    let commitment = before["commitment"].as_str().unwrap().to_owned();
    assert!(before.get("seed").is_none(), "{before}");
    app.advance("s", 10).await;
    app.advance("s", 5).await;
    put_settings(&app, "s", json!({ "state": "closed" })).await;
    let after = app.page_json("/v1/events/s/draw").await;
    assert_eq!(after["commitment"], commitment.as_str());
    let seed_hex = after["seed"].as_str().expect("the seed, once closed");
    let seed_bytes: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&seed_hex[i..i + 2], 16).unwrap())
        .collect();
    let hashed: String = Sha256::digest(&seed_bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hashed, commitment, "the seed is the one committed to");
    // Recompute both releases and compare with whom each token's status says was drawn.
    let seed = Seed::parse(seed_hex).unwrap();
    let mut pool: Vec<u64> = (1..=30).collect();
    let mut drawn = take_picks(&mut pool, &release_picks(&seed, 1, 30, 10));
    drawn.extend(take_picks(&mut pool, &release_picks(&seed, 2, 20, 5)));
    let answers = standings(&app, "s", &tokens, 15).await;
    for (token, answer) in tokens.iter().zip(&answers) {
        let arrival = claims(token)["pos"].as_u64().unwrap();
        let expected = drawn
            .iter()
            .position(|&a| a == arrival)
            .map(|i| i as u64 + 1);
        let placed = (answer.body["status"] != "prequeue").then(|| answer.position());
        assert_eq!(placed, expected, "arrival {arrival}: {}", answer.body);
    }
}

use std::collections::BTreeSet;

use serde_json::json;

use crate::helpers::{config_for, spawn_app, spawn_config, Backend};
use crate::on_every_store;

on_every_store!(
    joins_draw_increasing_positions,
    join_is_refresh_proof,
    trusted_join_keeps_the_users_place,
    with_anonymous_joins_off_only_the_sites_users_get_places,
    the_booking_site_joins_its_users_with_its_own_credential,
    thousand_concurrent_joins_get_each_position_once,
);

crate::on_stores!(
    [redis Redis, cluster Cluster]
    three_replicas_give_each_address_its_quota_once,
    joins_timed_across_a_minutes_turn_keep_the_quota,
);

on_every_store!(an_invite_only_event_gives_each_code_one_place_and_each_invited_user_one);

on_every_store!(a_challenge_solved_buys_one_place_on_any_replica);

async fn joins_draw_increasing_positions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("tour", json!({})).await;
    let first = app.join("tour").await;
    let second = app.join("tour").await;
    assert_eq!(first.status.as_u16(), 201, "{}", first.body);
    assert_eq!((first.position(), second.position()), (1, 2));
    assert_eq!(second.body["ahead"], 1);
    assert_eq!(second.body["status"], "waiting");
    assert_ne!(first.body["visitor"], second.body["visitor"]);

    let cookie = first.cookie().expect("a token cookie");
    assert!(
        cookie.starts_with(&format!("waitroom_tour={}", first.token())),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=21600"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }

    let claims = app.verify(json!({ "token": first.token() })).await;
    assert_eq!(claims.status.as_u16(), 200, "{}", claims.body);
    let claims = &claims.body["claims"];
    assert_eq!(claims["aud"], "tour");
    assert_eq!(claims["iss"], "waitroom");
    assert_eq!(claims["pos"], 1);
    assert_eq!(claims["kind"], "waiting");
    assert_eq!(claims["sub"], first.body["visitor"]);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() == 32));
    assert!(claims["exp"].as_i64() > claims["iat"].as_i64());
}

async fn join_is_refresh_proof(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("tour", json!({})).await;
    let first = app.join("tour").await;
    app.join("tour").await;

    // Again with the bearer token: same place, no new number drawn.
    let again = app.join_with("tour", &first.token()).await;
    assert_eq!(again.status.as_u16(), 200, "{}", again.body);
    assert_eq!(again.position(), 1);
    assert_eq!(again.body["fresh"], false);
    assert_eq!(again.body["visitor"], first.body["visitor"]);

    // Again with only the cookie, as a browser refreshing the page would.
    let cookie = first.cookie().unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let by_cookie = app
        .send(
            app.client
                .post(app.url("/v1/events/tour/join"))
                .header("cookie", pair),
        )
        .await;
    assert_eq!(by_cookie.position(), 1);

    let figures = app.show("tour").await;
    assert_eq!(figures.issued, 2, "refreshes drew no numbers: {figures:?}");

    // A token for another event does not carry over: a new place is drawn there.
    app.create_event("other", json!({})).await;
    let elsewhere = app.join_with("other", &first.token()).await;
    assert_eq!((elsewhere.status.as_u16(), elsewhere.position()), (201, 1));
}

/// One place per person where the site knows its users: with `anonymous_joins` off, a join from
/// the page (or any client) without a token of the event is refused, however many addresses it
/// comes from; the booking site's trusted join gives its user one place (the same one every
/// time), whose token then joins, checks and refreshes like any other.
async fn with_anonymous_joins_off_only_the_sites_users_get_places(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("members", json!({ "anonymous_joins": false }))
        .await;
    for address in ["203.0.113.7", "198.51.100.9"] {
        let refused = app
            .send(
                app.client
                    .post(app.url("/v1/events/members/join"))
                    .header("x-forwarded-for", address),
            )
            .await;
        refused.assert_problem(403, "known-visitors-only");
        assert!(refused.cookie().is_none());
    }
    let path = "/v1/admin/events/members/join";
    let user = json!({ "visitor": "user-7" });
    let first = app
        .admin(reqwest::Method::POST, path, Some(user.clone()))
        .await;
    assert_eq!(first.status.as_u16(), 201, "{}", first.body);
    let again = app.admin(reqwest::Method::POST, path, Some(user)).await;
    assert_eq!((first.position(), again.position()), (1, 1));
    // The token handed to the user's browser keeps its place there (refresh-proof).
    let kept = app.join_with("members", &again.token()).await;
    assert_eq!(
        (kept.status.as_u16(), kept.position()),
        (200, 1),
        "{}",
        kept.body
    );
    assert_eq!(
        app.status("members", &kept.token()).await.body["position"],
        1
    );
    assert_eq!(
        app.show("members").await.issued,
        1,
        "nobody else got a place"
    );
    // Switched back on, anyone may join again.
    app.admin(
        reqwest::Method::PUT,
        "/v1/admin/events/members",
        Some(json!({ "anonymous_joins": true })),
    )
    .await;
    let anyone = app.join("members").await;
    assert_eq!((anyone.status.as_u16(), anyone.position()), (201, 2));
}

/// The booking site's trusted join needs no admin token: its own service token does, on the
/// booking service's route (internal, as `complete` and `consume` are); nobody else's.
async fn the_booking_site_joins_its_users_with_its_own_credential(backend: Backend) {
    const SERVICE_TOKEN: &str = "shop-service-token-0123456789";
    let mut config = config_for(
        backend,
        &format!("t{}", waitroom::domain::random_token_id()),
    );
    config.service_token = Some(SERVICE_TOKEN.into());
    let app = spawn_config(config).await;
    app.create_event("members", json!({ "anonymous_joins": false }))
        .await;
    let join = |credential: Option<&'static str>, user: &'static str| {
        let mut request = app
            .client
            .post(app.url("/v1/events/members/trusted-join"))
            .json(&json!({ "visitor": user }));
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        app.send(request)
    };
    let first = join(Some(SERVICE_TOKEN), "user-7").await;
    assert_eq!(
        (first.status.as_u16(), first.position()),
        (201, 1),
        "{}",
        first.body
    );
    let again = join(Some(SERVICE_TOKEN), "user-7").await;
    assert_eq!((again.status.as_u16(), again.position()), (200, 1));
    assert_eq!(join(Some(SERVICE_TOKEN), "user-8").await.position(), 2);
    join(None, "user-9")
        .await
        .assert_problem(401, "unauthorized");
    join(Some("not-the-service-token-0123"), "user-9")
        .await
        .assert_problem(401, "unauthorized");
    assert_eq!(app.show("members").await.issued, 2);
}

async fn trusted_join_keeps_the_users_place(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("tour", json!({})).await;
    app.join("tour").await;
    let path = "/v1/admin/events/tour/join";
    let body = json!({ "visitor": "user-42@example.com" });
    let first = app
        .admin(reqwest::Method::POST, path, Some(body.clone()))
        .await;
    let again = app.admin(reqwest::Method::POST, path, Some(body)).await;
    assert_eq!(first.status.as_u16(), 201, "{}", first.body);
    assert_eq!(again.status.as_u16(), 200, "{}", again.body);
    assert_eq!((first.position(), again.position()), (2, 2));
    assert_eq!(again.body["visitor"], "user-42@example.com");
    assert!(
        first.cookie().is_none(),
        "server-to-server joins set no cookie"
    );
    let other = app
        .admin(
            reqwest::Method::POST,
            path,
            Some(json!({ "visitor": "user-43" })),
        )
        .await;
    assert_eq!(other.position(), 3);

    // The trusted token works like any other.
    let status = app.status("tour", &first.token()).await;
    assert_eq!(status.body["position"], 2);

    // Without the admin token nobody can join as someone else.
    let forged = app
        .send(
            app.client
                .post(app.url(path))
                .json(&json!({ "visitor": "user-42@example.com" })),
        )
        .await;
    forged.assert_problem(401, "unauthorized");
}

async fn thousand_concurrent_joins_get_each_position_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("drop", json!({})).await;
    let mut joins = tokio::task::JoinSet::new();
    for _ in 0..1_000 {
        let client = app.client.clone();
        let url = app.url("/v1/events/drop/join");
        joins.spawn(async move {
            let response = client.post(url).send().await.expect("join sent");
            assert_eq!(response.status().as_u16(), 201);
            let body: serde_json::Value = response.json().await.unwrap();
            body["position"].as_u64().unwrap()
        });
    }
    let mut positions = BTreeSet::new();
    while let Some(position) = joins.join_next().await {
        assert!(
            positions.insert(position.unwrap()),
            "a position was handed out twice"
        );
    }
    assert_eq!(positions.len(), 1_000);
    assert_eq!(positions.first(), Some(&1));
    assert_eq!(positions.last(), Some(&1_000));
    assert_eq!(app.show("drop").await.issued, 1_000);
}

/// One solution brought by many joins at once, so that copies of it share a Redis batch (the first
/// join goes alone, the rest queue behind it): one place, the rest refused as spent, on a single
/// Redis and on the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solution_repeated_within_one_batch_buys_one_place() {
    use std::sync::Arc;
    use waitroom::domain::{random_token_id, EventId, EventSettings, LineId, VisitorId};
    use waitroom::store::{JoinAs, Pick, PutMode, StoreError};

    let keys = waitroom::keys::KeySet::ephemeral();
    let challenges = waitroom::challenge::Challenges::new(&keys).with_attempts(1);
    let id = EventId::parse("pow").unwrap();
    let now = chrono::Utc::now().timestamp();
    let solve = || {
        let solution = waitroom::challenge::solve(&challenges.issue(&id, 1, now)).unwrap();
        challenges.check(&id, &solution).unwrap()
    };
    for backend in [
        crate::helpers::Backend::Redis,
        crate::helpers::Backend::Cluster,
    ] {
        let store = crate::helpers::shared_store(backend, &format!("t{}", random_token_id())).await;
        let event = LineId::from(id.clone());
        store
            .put_event(&event, &EventSettings::default(), PutMode::Upsert)
            .await
            .unwrap();
        let (repeated, other) = (solve(), solve());
        let joins = (0..50).map(|n| {
            let (store, event) = (Arc::clone(&store), event.clone());
            let solved = if n % 10 == 9 { other } else { repeated };
            tokio::spawn(async move {
                let who = JoinAs::Solved(solved, None);
                let now_ms = chrono::Utc::now().timestamp_millis();
                (
                    solved == repeated,
                    store
                        .join(
                            &event,
                            &VisitorId::generate(),
                            who,
                            now_ms,
                            0,
                            Pick::InOrder,
                        )
                        .await,
                )
            })
        });
        let answers = futures_util::future::try_join_all(joins).await.unwrap();
        for copies_of_repeated in [true, false] {
            let placed = answers
                .iter()
                .filter(|(which, answer)| *which == copies_of_repeated && answer.is_ok())
                .count();
            assert_eq!(placed, 1, "one place for one solution");
        }
        assert!(answers
            .iter()
            .all(|(_, answer)| matches!(answer, Ok(_) | Err(StoreError::Spent))));
    }
}

/// Joins that reach Redis in one batch (many at once, on two events, trusted and anonymous mixed)
/// each get their own number, a trusted visitor gets the same one however often they join, and the
/// line records every visitor at their position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_joins_keep_every_place_in_order() {
    use std::sync::Arc;
    use waitroom::domain::{random_token_id, EventId, EventSettings, LineId, VisitorId};
    use waitroom::store::{JoinAs, Pick, PutMode};

    let store = crate::helpers::redis_store(&format!("t{}", random_token_id())).await;
    let events = [
        LineId::from(EventId::parse("one").unwrap()),
        LineId::from(EventId::parse("two").unwrap()),
    ];
    for event in &events {
        store
            .put_event(event, &EventSettings::default(), PutMode::Upsert)
            .await
            .unwrap();
    }
    let regular = VisitorId::parse("user-42").unwrap();
    let mut joins = Vec::new();
    for i in 0..600 {
        let store = Arc::clone(&store);
        let event = events[i % 2].clone();
        let (visitor, who) = if i % 25 < 2 {
            (regular.clone(), JoinAs::Trusted)
        } else {
            (VisitorId::generate(), JoinAs::Anonymous)
        };
        joins.push(tokio::spawn(async move {
            let joined = store
                .join(&event, &visitor, who, 1_000, 0, Pick::InOrder)
                .await
                .unwrap();
            (event, visitor, who == JoinAs::Trusted, joined)
        }));
    }
    let mut answers = Vec::new();
    for join in joins {
        answers.push(join.await.unwrap());
    }
    for event in &events {
        let mine: Vec<_> = answers.iter().filter(|a| &a.0 == event).collect();
        let trusted: BTreeSet<u64> = mine.iter().filter(|a| a.2).map(|a| a.3.position).collect();
        assert_eq!(
            trusted.len(),
            1,
            "one place for the trusted visitor: {trusted:?}"
        );
        assert_eq!(
            mine.iter().filter(|a| a.2 && a.3.fresh).count(),
            1,
            "drawn once"
        );
        let positions: BTreeSet<u64> = mine
            .iter()
            .filter(|a| !a.2 || a.3.fresh)
            .map(|a| a.3.position)
            .collect();
        let drawn = mine.iter().filter(|a| !a.2).count() as u64 + 1;
        assert_eq!(
            positions,
            (1..=drawn).collect(),
            "every number once, none skipped"
        );

        store
            .advance(
                event,
                drawn,
                waitroom::store::AdvanceMode::Manual,
                waitroom::store::Capacity::UNLIMITED,
                Pick::InOrder,
            )
            .await
            .unwrap();
        let line = store.admitted_range(event, 0, drawn).await.unwrap();
        assert_eq!(line.len() as u64, drawn);
        for admitted in line {
            let holder = mine
                .iter()
                .find(|a| a.3.position == admitted.position && (!a.2 || a.3.fresh))
                .unwrap();
            assert_eq!(
                admitted.visitor,
                holder.1.as_str(),
                "position {}",
                admitted.position
            );
        }
    }
}

/// Per-client limits: a flood of joins from one address is refused 429 with `Retry-After` while
/// others join as before; the address is read from `X-Forwarded-For` only when a trusted proxy sent
/// it. The same through the fast path and the router.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_flood_from_one_address_is_limited_and_others_are_not() {
    for fast_path in [true, false] {
        let mut config = crate::helpers::base_config();
        config.fast_path = fast_path;
        config.trusted_proxies = "127.0.0.1".into();
        let app = crate::helpers::spawn_config(config).await;
        app.create_event(
            "tour",
            serde_json::json!({ "rate_limits": { "joins_per_minute": 60, "join_burst": 5, "checks_per_second": 1, "check_burst": 2 } }),
        )
        .await;
        let join_from = |address: &'static str| {
            app.send(
                app.client
                    .post(app.url("/v1/events/tour/join"))
                    .header("x-forwarded-for", format!("6.6.6.6, {address}")),
            )
        };
        for _ in 0..5 {
            assert_eq!(join_from("203.0.113.7").await.status.as_u16(), 201);
        }
        let refused = join_from("203.0.113.7").await;
        refused.assert_problem(429, "rate-limited");
        let wait: u64 = refused.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&wait), "{wait}");
        // Another address (the forged 6.6.6.6 ahead of it is ignored) joins as before.
        let other = join_from("203.0.113.8").await;
        assert_eq!(other.status.as_u16(), 201, "{}", other.body);
        // Status checks have their own, per-second limit.
        let token = other.token();
        let check = || {
            app.send(
                app.client
                    .get(app.url("/v1/events/tour/status"))
                    .bearer_auth(&token)
                    .header("x-forwarded-for", "203.0.113.8"),
            )
        };
        assert_eq!(check().await.status.as_u16(), 200);
        assert_eq!(check().await.status.as_u16(), 200);
        check().await.assert_problem(429, "rate-limited");
        let metrics = app.metrics_text().await;
        assert!(
            metrics.contains(r#"waitroom_rate_limited_total{route="/v1/events/{event}/join"} 1"#),
            "{metrics}"
        );
    }
    // Without trusted proxies the header is not believed: every request is its peer's.
    let app = crate::helpers::spawn_config(crate::helpers::base_config()).await;
    app.create_event("tour", serde_json::json!({ "rate_limits": { "joins_per_minute": 60, "join_burst": 2, "checks_per_second": 50, "check_burst": 100 } }))
        .await;
    for address in ["203.0.113.1", "203.0.113.2"] {
        let joined = app
            .send(
                app.client
                    .post(app.url("/v1/events/tour/join"))
                    .header("x-forwarded-for", address),
            )
            .await;
        assert_eq!(joined.status.as_u16(), 201);
    }
    app.send(
        app.client
            .post(app.url("/v1/events/tour/join"))
            .header("x-forwarded-for", "203.0.113.3"),
    )
    .await
    .assert_problem(429, "rate-limited");
}

/// Cookies are `Secure` whenever the visitor came over HTTPS: always with `cookie_secure`, else when
/// a trusted proxy says so with `X-Forwarded-Proto`; a client's own claim is not believed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_over_https() {
    for (trusted, forced, proto, secure) in [
        ("127.0.0.1", false, Some("https"), true),
        ("127.0.0.1", false, Some("http"), false),
        ("127.0.0.1", false, None, false),
        ("", false, Some("https"), false),
        ("", true, None, true),
    ] {
        let mut config = crate::helpers::base_config();
        config.trusted_proxies = trusted.into();
        config.cookie_secure = forced;
        let app = crate::helpers::spawn_config(config).await;
        app.create_event("tour", serde_json::json!({})).await;
        let mut request = app.client.post(app.url("/v1/events/tour/join"));
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        let cookie = app.send(request).await.cookie().expect("a cookie");
        assert_eq!(
            cookie.contains("Secure"),
            secure,
            "trusted {trusted:?}, cookie_secure {forced}, proto {proto:?}: {cookie}"
        );
    }
}

/// A join a browser sends from a page of another site is refused (403 `foreign-origin`) and takes
/// no place; from waitroom's own pages (the host the request came to, or the one a proxy forwards),
/// from the event's `cors_origins`, or without `Origin` (apps, servers) it is taken. The same
/// through the fast path and the router.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_from_another_sites_page_takes_no_place() {
    for fast_path in [true, false] {
        let mut config = crate::helpers::base_config();
        config.fast_path = fast_path;
        let app = crate::helpers::spawn_config(config).await;
        app.create_event("tour", json!({ "cors_origins": ["https://app.example"] }))
            .await;
        let own = app.url("").trim_end_matches('/').to_owned();
        let join_from = |headers: &[(&'static str, &str)]| {
            let mut request = app.client.post(app.url("/v1/events/tour/join"));
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            app.send(request)
        };
        for foreign in [
            "https://evil.example",
            "null",
            "https://app.example.evil.example",
            "http://localhost:1",
            "not a url",
        ] {
            join_from(&[("origin", foreign)])
                .await
                .assert_problem(403, "foreign-origin");
        }
        join_from(&[
            ("origin", "https://evil.example"),
            ("x-forwarded-host", "queue.example"),
        ])
        .await
        .assert_problem(403, "foreign-origin");
        let taken = [
            join_from(&[("origin", &own)]).await,
            join_from(&[("origin", "https://app.example")]).await,
            join_from(&[]).await,
            join_from(&[
                ("origin", "https://queue.example"),
                ("x-forwarded-host", "queue.example"),
            ])
            .await,
        ];
        for answer in &taken {
            assert_eq!(answer.status.as_u16(), 201, "{}", answer.body);
        }
        assert_eq!(
            app.show("tour").await.issued,
            4,
            "no place for a refused join"
        );
    }
}

/// A replica behind a proxy nobody told it to trust says so once, naming the setting: otherwise every
/// visitor would count as the proxy's address for the rate limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_forwarding_visitors_untrusted_is_warned_of_once() {
    let serve = crate::helpers::ServeProcess::start(&[]).await;
    let app = &serve.app;
    for n in 0..3 {
        let joined = app
            .send(
                app.client
                    .post(app.url("/v1/events/demo/join"))
                    .header("x-forwarded-for", format!("203.0.113.{n}")),
            )
            .await;
        assert_eq!(joined.status.as_u16(), 201, "{}", joined.body);
    }
    let log = serve.process.log_text();
    assert_eq!(log.matches("no proxy is trusted").count(), 1, "{log}");
    assert!(log.contains("trusted_proxies"), "{log}");
}

/// Joins are limited per address across replicas, not per replica: three replicas on one store,
/// 20 addresses each asking 12 times at once (4 to each replica, in the order in line and in a
/// pool), and every address gets exactly its quota of 6 places; the rest are refused 429 with
/// `Retry-After`, and a replica that learned an address is over refuses it again without the store.
async fn three_replicas_give_each_address_its_quota_once(backend: Backend) {
    let mut config = config_for(
        backend,
        &format!("t{}", waitroom::domain::random_token_id()),
    );
    config.trusted_proxies = "127.0.0.1".into();
    let replicas = crate::helpers::three_replicas(config).await;
    let limits = json!({ "joins_per_minute": 6, "join_burst": 6, "checks_per_second": 50, "check_burst": 100 });
    for method in ["fifo", "random"] {
        replicas[0]
            .create_event(
                method,
                json!({ "method": method, "batch_size": 0, "rate_limits": limits }),
            )
            .await;
        crate::helpers::known_everywhere(&replicas, method).await;
        let asks = (0..20u8)
            .flat_map(|address| (0..12).map(move |n| (format!("198.51.100.{address}"), n % 3)));
        let answers = futures_util::future::join_all(asks.map(|(address, replica)| {
            let app = &replicas[replica];
            async move {
                let answer = app
                    .send(
                        app.client
                            .post(app.url(&format!("/v1/events/{method}/join")))
                            .header("x-forwarded-for", &address),
                    )
                    .await;
                (address, answer)
            }
        }))
        .await;
        let mut places = std::collections::BTreeMap::<String, Vec<u64>>::new();
        for (address, answer) in &answers {
            match answer.status.as_u16() {
                // A pool's answer names no position: the token carries the arrival number.
                201 => places.entry(address.clone()).or_default().push(
                    crate::helpers::claims(&answer.token())["pos"]
                        .as_u64()
                        .unwrap(),
                ),
                _ => {
                    answer.assert_problem(429, "rate-limited");
                    assert!(answer.headers.contains_key("retry-after"));
                }
            }
        }
        assert_eq!(places.len(), 20, "{method}: every address got places");
        for (address, held) in &places {
            assert_eq!(held.len(), 6, "{method}: {address} holds {held:?}");
        }
        let all: BTreeSet<u64> = places.values().flatten().copied().collect();
        assert_eq!(all.len(), 120, "{method}: no place twice");
        // Nobody waits behind the refused: a number a refused join drew is given up at once (a
        // pool refuses before drawing one).
        if method == "fifo" {
            let waiting = || async { replicas[0].show(method).await.waiting };
            let settled = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
                waiting().await == 120
            })
            .await;
            assert!(settled.is_some(), "{} waiting", waiting().await);
        }
        // Refused on every replica now, whichever counted it.
        for app in &replicas {
            app.send(
                app.client
                    .post(app.url(&format!("/v1/events/{method}/join")))
                    .header("x-forwarded-for", "198.51.100.0"),
            )
            .await
            .assert_problem(429, "rate-limited");
        }
    }
}

/// Replicas time a join when it comes and Redis counts it when it gets there, so at a minute's
/// turn joins timed in the new minute can be counted before joins timed at the end of the old
/// one. One address's joins, the later-timed first: the quota still holds, in the line and in
/// the pool.
async fn joins_timed_across_a_minutes_turn_keep_the_quota(backend: Backend) {
    use waitroom::domain::{random_token_id, EventId, EventSettings, LineId, VisitorId};
    use waitroom::limits::JoinQuota;
    use waitroom::store::{JoinAs, Pick, PutMode, StoreError};

    let store = crate::helpers::shared_store(backend, &format!("t{}", random_token_id())).await;
    let quota = JoinAs::Counted(JoinQuota {
        client: "198.51.100.7".parse().unwrap(),
        per_minute: 6,
    });
    let turn_ms = chrono::Utc::now().timestamp_millis() / 60_000 * 60_000;
    for pick in [Pick::InOrder, Pick::AtRandom] {
        let event = LineId::from(EventId::parse(&format!("{pick:?}").to_lowercase()).unwrap());
        store
            .put_event(&event, &EventSettings::default(), PutMode::Upsert)
            .await
            .unwrap();
        let mut placed = 0;
        for now_ms in [turn_ms + 1; 4].into_iter().chain([turn_ms - 1; 8]) {
            let visitor = VisitorId::generate();
            match store.join(&event, &visitor, quota, now_ms, 0, pick).await {
                Ok(_) => placed += 1,
                Err(StoreError::OverQuota(_)) => {}
                Err(other) => panic!("{pick:?}: {other}"),
            }
        }
        assert_eq!(placed, 6, "{pick:?}: places for one address in a minute");
    }
}

const INVITATION_SECRET: &str = "the-booking-sites-invitation-secret-0123456789";

/// What a booking site signs for its user `sub` (HS256 with its invitation secret).
fn invitation(secret: &str, event: &str, sub: &str, expires_in_s: i64) -> String {
    let claims = json!({
        "aud": event,
        "sub": sub,
        "exp": chrono::Utc::now().timestamp() + expires_in_s,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

/// Invite-only events: a join needs a code the admin issued or an invitation the booking site
/// signed. 50 joins at once with one code get one place (the rest 403 `invalid-code`, and the
/// code is spent for good); a code is read as people type it; the place then holds by its token
/// (a refresh needs no code); an invitation gives its user one place however often it is used;
/// forged, expired, foreign and `alg: none` invitations get none.
async fn an_invite_only_event_gives_each_code_one_place_and_each_invited_user_one(
    backend: Backend,
) {
    let mut config = config_for(
        backend,
        &format!("t{}", waitroom::domain::random_token_id()),
    );
    config.invitation_secret = Some(INVITATION_SECRET.into());
    let app = spawn_config(config).await;
    app.create_event("vip", json!({ "invite_only": true, "batch_size": 0 }))
        .await;
    let join_with = |code: Option<String>| {
        let mut request = app.client.post(app.url("/v1/events/vip/join"));
        if let Some(code) = code {
            request = request.header("x-waitroom-code", code);
        }
        app.send(request)
    };
    join_with(None)
        .await
        .assert_problem(403, "invitation-required");
    join_with(Some("ABCDE-FGHJK".into()))
        .await
        .assert_problem(403, "invalid-code");
    join_with(Some("not a code".into()))
        .await
        .assert_problem(403, "invalid-code");

    let codes = app.api.issue_codes("vip", 3).await.unwrap();
    assert_eq!(codes.len(), 3);
    assert_eq!(codes.iter().collect::<BTreeSet<_>>().len(), 3);
    let raced =
        futures_util::future::join_all((0..50).map(|_| join_with(Some(codes[0].clone())))).await;
    let placed: Vec<_> = raced
        .iter()
        .filter(|answer| answer.status.as_u16() == 201)
        .collect();
    assert_eq!(placed.len(), 1, "one place for one code");
    for refused in raced.iter().filter(|answer| answer.status.as_u16() != 201) {
        refused.assert_problem(403, "invalid-code");
    }
    join_with(Some(codes[0].clone()))
        .await
        .assert_problem(403, "invalid-code");
    // The place holds by its token: a refresh needs no code.
    let kept = app.join_with("vip", &placed[0].token()).await;
    assert_eq!(
        (kept.status.as_u16(), kept.position()),
        (200, placed[0].position())
    );
    // Typed as a person would.
    let typed = format!("{}-{}", codes[1][..5].to_lowercase(), &codes[1][5..]);
    assert_eq!(join_with(Some(typed)).await.status.as_u16(), 201);

    let first = join_with(Some(invitation(INVITATION_SECRET, "vip", "user-7", 300))).await;
    assert_eq!(first.status.as_u16(), 201, "{}", first.body);
    let again = join_with(Some(invitation(INVITATION_SECRET, "vip", "user-7", 300))).await;
    assert_eq!(
        (again.status.as_u16(), again.position()),
        (200, first.position())
    );
    assert_eq!(first.body["visitor"], "user-7");
    let unsigned = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            json!({ "aud": "vip", "sub": "user-8", "exp": chrono::Utc::now().timestamp() + 300 })
                .to_string()
        )
    );
    for refused in [
        invitation(
            "another-secret-of-at-least-32-characters",
            "vip",
            "user-8",
            300,
        ),
        invitation(INVITATION_SECRET, "vip", "user-8", -120),
        invitation(INVITATION_SECRET, "other", "user-8", 300),
        unsigned,
    ] {
        join_with(Some(refused))
            .await
            .assert_problem(403, "invalid-code");
    }
    assert_eq!(
        app.show("vip").await.issued,
        3,
        "two codes, one invited user"
    );
}

/// The solution of `challenge` (as a problem document carries it) as a join presents it: base64 of
/// ALTCHA's payload, solved with the `altcha` crate as any ALTCHA library would.
fn solved(challenge: &serde_json::Value) -> String {
    let challenge: altcha::Challenge = serde_json::from_value(challenge.clone()).unwrap();
    waitroom::challenge::solve(&challenge).expect("solved")
}

/// Proof of work before a place: a join without a solution gets 403 `challenge-required` with a
/// signed challenge for its event; the solution buys one place, on whichever replica it comes to
/// (20 joins at once with one solution: one place), and never a second; a solution for another
/// event, of a challenge whose cost was lowered, expired, or unreadable buys none; a visitor with a
/// place keeps it without new work.
async fn a_challenge_solved_buys_one_place_on_any_replica(backend: Backend) {
    let (app, other) = crate::helpers::app_and_other_replica(backend).await;
    let other = other.as_ref().unwrap_or(&app);
    app.create_event("pow", json!({ "challenge_cost": 10, "batch_size": 0 }))
        .await;
    app.create_event("elsewhere", json!({ "challenge_cost": 10 }))
        .await;
    crate::helpers::known_everywhere([&app, other], "pow").await;
    let asked = join_with(&app, "pow", None).await;
    asked.assert_problem(403, "challenge-required");
    let challenge = &asked.body["challenge"];
    assert_eq!(challenge["parameters"]["cost"], 10);
    assert_eq!(challenge["parameters"]["algorithm"], "PBKDF2/SHA-256");
    assert_eq!(challenge["parameters"]["data"]["event"], "pow");
    assert!(challenge["signature"].is_string());

    // Solved against one replica, spent on the other; then never again, on either.
    let solution = solved(challenge);
    let placed = join_with(other, "pow", Some(solution.clone())).await;
    assert_eq!(placed.status.as_u16(), 201, "{}", placed.body);
    for replica in [&app, other] {
        let again = join_with(replica, "pow", Some(solution.clone())).await;
        again.assert_problem(403, "challenge-required");
        assert!(again.body["detail"]
            .as_str()
            .unwrap()
            .contains("used already"));
        assert!(
            again.body["challenge"]["signature"].is_string(),
            "a new challenge"
        );
    }
    let fresh = solved(&join_with(&app, "pow", None).await.body["challenge"]);
    let raced = futures_util::future::join_all((0..20).map(|n| {
        join_with(
            if n % 2 == 0 { &app } else { other },
            "pow",
            Some(fresh.clone()),
        )
    }))
    .await;
    assert_eq!(
        raced
            .iter()
            .filter(|answer| answer.status.as_u16() == 201)
            .count(),
        1,
        "one place for one solution"
    );
    // The same in a pool (a `random` draw), whose joins spend the solution before the draw.
    app.create_event(
        "pow-pool",
        json!({ "challenge_cost": 10, "method": "random" }),
    )
    .await;
    let pooled = solved(&join_with(&app, "pow-pool", None).await.body["challenge"]);
    let raced = futures_util::future::join_all((0..20).map(|n| {
        join_with(
            if n % 2 == 0 { &app } else { other },
            "pow-pool",
            Some(pooled.clone()),
        )
    }))
    .await;
    let placed_in_pool: Vec<_> = raced
        .iter()
        .filter(|answer| answer.status.as_u16() == 201)
        .collect();
    assert_eq!(placed_in_pool.len(), 1, "one pool place for one solution");
    for answer in raced.iter().filter(|answer| answer.status.as_u16() != 201) {
        answer.assert_problem(403, "challenge-required");
    }
    // Nobody waits behind the replays: a number one drew (Redis marks a solution spent in the
    // join's own transaction) is given up at once.
    let two_waiting = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        app.show("pow").await.waiting == 2
    })
    .await;
    let view = app.show("pow").await;
    assert!(
        two_waiting.is_some(),
        "{} waiting ({} issued, {} left)",
        view.waiting,
        view.issued,
        view.left
    );
    // The place holds by its token without new work.
    let kept = app.join_with("pow", &placed.token()).await;
    assert_eq!(
        (kept.status.as_u16(), kept.position()),
        (200, placed.position())
    );

    // Another event's solution, a cheapened challenge, an expired one, and garbage buy nothing.
    let foreign = solved(&join_with(&app, "elsewhere", None).await.body["challenge"]);
    // Solved, then the challenge it names made cheaper (what a cheat would send).
    let solution = solved(&join_with(&app, "pow", None).await.body["challenge"]);
    let mut cheapened: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, solution).unwrap(),
    )
    .unwrap();
    cheapened["challenge"]["parameters"]["cost"] = json!(1);
    let cheapened = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        cheapened.to_string(),
    );
    let keys = waitroom::keys::KeySet::from_pairs(
        [(crate::helpers::KEY_ID, crate::helpers::KEY_B64)],
        None,
    )
    .unwrap();
    let old = waitroom::challenge::Challenges::new(&keys).issue(
        &waitroom::domain::EventId::parse("pow").unwrap(),
        10,
        chrono::Utc::now().timestamp() - 400,
    );
    let expired = solved(&serde_json::to_value(old).unwrap());
    for (refused, why) in [
        (foreign, "this event"),
        (cheapened, "this event"),
        (expired, "expired"),
        ("bm90IGpzb24=".to_owned(), "could not be read"),
    ] {
        let answer = join_with(&app, "pow", Some(refused)).await;
        answer.assert_problem(403, "challenge-required");
        assert!(
            answer.body["detail"].as_str().unwrap().contains(why),
            "{}",
            answer.body
        );
    }
    let view = app.show("pow").await;
    assert_eq!(
        view.issued - view.left,
        2,
        "two places, whatever replays drew"
    );
}

/// Making a challenge costs the replica the challenge's cost in PBKDF2 iterations, once (about
/// 11 ms of a core at the maximum, 100,000, in a release build; many times that here). A replica
/// makes `challenge_threads` of them at a time, off its HTTP workers, and tells the asks it could not
/// serve within a second to come back (503 `challenge-busy`, `Retry-After: 1`): a flood of asks
/// without solutions gets refusals, not a replica whose workers are all deriving keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_asks_for_challenges_is_told_to_come_back() {
    let mut config = config_for(Backend::Memory, "unused");
    config.challenge_threads = 1;
    let app = spawn_config(config).await;
    app.create_event("dear", json!({ "challenge_cost": 100_000 }))
        .await;
    let asks = futures_util::future::join_all((0..24).map(|_| join_with(&app, "dear", None))).await;
    let mut busy = 0;
    for ask in &asks {
        if ask.status.as_u16() == 503 {
            ask.assert_problem(503, "challenge-busy");
            assert_eq!(ask.headers["retry-after"], "1");
            busy += 1;
        } else {
            ask.assert_problem(403, "challenge-required");
            assert_eq!(ask.body["challenge"]["parameters"]["cost"], 100_000);
        }
    }
    assert!(
        (1..asks.len()).contains(&busy),
        "{busy} of {} told to come back",
        asks.len()
    );
    let metrics = app.metrics_text().await;
    let counted = format!(r#"waitroom_challenges_total{{result="busy"}} {busy}"#);
    assert!(metrics.contains(&counted), "{metrics}");
}

/// The page without script cannot do a challenge's work: it says the event needs script, and no
/// challenge is made for it (each would cost the replica a key derivation, for nothing). Counted
/// in `waitroom_challenges_total`: made for a join that can solve it, then solved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_challenge_is_made_for_the_page_without_script() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("pow", json!({ "challenge_cost": 10 }))
        .await;
    let counted = |metrics: &str, result: &str| {
        let line = format!(r#"waitroom_challenges_total{{result="{result}"}} "#);
        metrics
            .lines()
            .find_map(|counted| counted.strip_prefix(&line))
            .map_or(0, |value| value.parse::<u64>().unwrap())
    };
    for _ in 0..3 {
        let page = app.page_text("/e/pow?nojs=1").await;
        assert!(page.contains("which needs JavaScript"), "{page}");
    }
    assert_eq!(counted(&app.metrics_text().await, "issued"), 0);
    let asked = join_with(&app, "pow", None).await;
    asked.assert_problem(403, "challenge-required");
    let placed = join_with(&app, "pow", Some(solved(&asked.body["challenge"]))).await;
    assert_eq!(placed.status.as_u16(), 201, "{}", placed.body);
    let metrics = app.metrics_text().await;
    assert_eq!(counted(&metrics, "issued"), 1, "{metrics}");
    assert_eq!(counted(&metrics, "solved"), 1, "{metrics}");
}

async fn join_with(
    app: &crate::helpers::TestApp,
    event: &str,
    solution: Option<String>,
) -> crate::helpers::Answer {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/events/{event}/join")));
    if let Some(solution) = solution {
        request = request.header("x-waitroom-solution", solution);
    }
    app.send(request).await
}

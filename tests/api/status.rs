use serde_json::json;
use waitroom::token::TokenKind;

use crate::helpers::{sign_token, spawn_app, Backend};
use crate::on_every_store;

on_every_store!(
    advancing_the_pointer_admits_and_hands_out_a_pass,
    expired_tokens_answer_expired,
    gate_admits_only_passes_and_passed_positions,
    the_gate_lets_through_whom_the_bypass_rules_name,
);

/// Staff, monitoring and a payment provider's callbacks skip the line at the gate, by the event's
/// rules: a forwarded address in a listed network, a path below a listed prefix (as the edge names
/// it in `X-Original-URI`), or the secret in `X-Waitroom-Bypass`; nothing else does, and bad rules
/// are refused.
async fn the_gate_lets_through_whom_the_bypass_rules_name(backend: Backend) {
    let mut config = crate::helpers::config_for(
        backend,
        &format!("t{}", waitroom::domain::random_token_id()),
    );
    config.trusted_proxies = "127.0.0.1".into();
    let app = crate::helpers::spawn_config(config).await;
    app.create_event(
        "shop",
        json!({
            "bypass_addresses": ["10.20.0.0/16"],
            "bypass_paths": ["/checkout/payment-callback"],
            "bypass_secret": "monitoring-secret-0123",
        }),
    )
    .await;
    let waiting = app.join("shop").await.token();
    let gate = |headers: &[(&'static str, &'static str)]| {
        let mut request = app.client.get(app.url("/v1/events/shop/gate"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        app.send(request)
    };
    for (headers, why) in [
        (vec![("x-forwarded-for", "10.20.3.4")], "address"),
        (
            vec![("x-original-uri", "/checkout/payment-callback/7?paid=1")],
            "path",
        ),
        (
            vec![("x-waitroom-bypass", "monitoring-secret-0123")],
            "secret",
        ),
    ] {
        let through = gate(&headers).await;
        assert_eq!(
            through.status.as_u16(),
            204,
            "{headers:?}: {}",
            through.body
        );
        let said = through.headers.get("x-waitroom-bypass");
        assert_eq!(said.and_then(|v| v.to_str().ok()), Some(why));
    }
    for headers in [
        vec![],
        vec![("x-forwarded-for", "10.21.0.1")],
        vec![("x-original-uri", "/checkout/payment-callbacks")],
        vec![(
            "x-original-uri",
            "/checkout/?back=/checkout/payment-callback",
        )],
        vec![("x-waitroom-bypass", "monitoring-secret-0124")],
    ] {
        gate(&headers).await.assert_problem(401, "missing-token");
    }
    // A waiting visitor's token is no way round the line either.
    app.gate("shop", &waiting)
        .await
        .assert_problem(401, "not-admitted");
    for bad in [
        json!({ "bypass_addresses": ["10.20.0.0/99"] }),
        json!({ "bypass_paths": ["checkout"] }),
        json!({ "bypass_secret": "short" }),
    ] {
        app.admin(reqwest::Method::PUT, "/v1/admin/events/shop", Some(bad))
            .await
            .assert_problem(400, "invalid-settings");
    }
}

async fn advancing_the_pointer_admits_and_hands_out_a_pass(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event(
        "tour",
        json!({ "target_url": "https://shop.example.com/buy", "pass_ttl_s": 120 }),
    )
    .await;
    let visitors = [
        app.join("tour").await,
        app.join("tour").await,
        app.join("tour").await,
    ];
    let third = visitors[2].token();

    let waiting = app.status("tour", &third).await;
    assert_eq!(waiting.status.as_u16(), 200, "{}", waiting.body);
    assert_eq!(waiting.body["status"], "waiting");
    assert_eq!(waiting.body["position"], 3);
    assert_eq!(waiting.body["ahead"], 2);
    assert!(waiting.body["poll_after_ms"]
        .as_u64()
        .is_some_and(|ms| ms >= 500));
    assert!(waiting.body.get("pass").is_none());

    let figures = app.advance("tour", 2).await;
    assert_eq!(figures.admitted_through, 2);
    let still = app.status("tour", &third).await;
    assert_eq!(
        (still.body["status"].as_str(), still.body["ahead"].as_u64()),
        (Some("waiting"), Some(0))
    );

    let admitted = app.status("tour", &visitors[0].token()).await;
    assert_eq!(admitted.body["status"], "admitted", "{}", admitted.body);
    assert_eq!(admitted.body["target_url"], "https://shop.example.com/buy");
    let pass = admitted.body["pass"].as_str().expect("a pass").to_owned();
    // Asking again within seconds hands out the same pass, not a newly signed one; the second
    // admitted visitor gets a pass of their own.
    let again = app.status("tour", &visitors[0].token()).await;
    assert_eq!(again.body["pass"], pass);
    assert_eq!(
        again.body["pass_expires_at"],
        admitted.body["pass_expires_at"]
    );
    let second = app.status("tour", &visitors[1].token()).await;
    assert_ne!(second.body["pass"], pass);

    let checked = app.verify(json!({ "token": pass, "event": "tour" })).await;
    assert_eq!(checked.status.as_u16(), 200, "{}", checked.body);
    assert_eq!(checked.body["admitted"], true);
    assert_eq!(checked.body["kind"], "pass");
    assert_eq!(checked.body["position"], 1);
    let claims = &checked.body["claims"];
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );

    // The waiting token of someone still in line verifies, but is not admitted.
    let waiting_check = app.verify(json!({ "token": third })).await;
    assert_eq!(waiting_check.body["admitted"], false);
}

async fn expired_tokens_answer_expired(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("tour", json!({})).await;
    let issued_at = chrono::Utc::now().timestamp() - 7_200;
    let expired = sign_token(TokenKind::Waiting, "tour", 5, issued_at, 3_600);
    let status = app.status("tour", &expired).await;
    assert_eq!(status.status.as_u16(), 200, "{}", status.body);
    assert_eq!(status.body["status"], "expired");
    assert_eq!(status.body["position"], 5);
    assert!(status.body.get("pass").is_none());

    app.gate("tour", &expired)
        .await
        .assert_problem(401, "token-expired");
    let verified = app.verify(json!({ "token": expired })).await;
    verified.assert_problem(401, "token-expired");
    assert_eq!(verified.body["reason"], "expired");

    // Joining with an expired token does not keep the old place.
    let rejoined = app.join_with("tour", &expired).await;
    assert_eq!((rejoined.status.as_u16(), rejoined.position()), (201, 1));
}

async fn gate_admits_only_passes_and_passed_positions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("tour", json!({})).await;
    let first = app.join("tour").await;
    let second = app.join("tour").await;

    app.gate("tour", &first.token())
        .await
        .assert_problem(401, "not-admitted");
    app.advance("tour", 1).await;

    let open = app.gate("tour", &first.token()).await;
    assert_eq!(open.status.as_u16(), 204);
    assert_eq!(open.headers["x-waitroom-position"], "1");
    assert_eq!(
        open.headers["x-waitroom-visitor"],
        first.body["visitor"].as_str().unwrap()
    );
    app.gate("tour", &second.token())
        .await
        .assert_problem(401, "not-admitted");

    // The cookie alone is enough, as an edge proxy forwards it.
    let pair = first
        .cookie()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let by_cookie = app
        .send(
            app.client
                .get(app.url("/v1/events/tour/gate"))
                .header("cookie", pair),
        )
        .await;
    assert_eq!(by_cookie.status.as_u16(), 204);

    let pass = app.status("tour", &first.token()).await.body["pass"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.gate("tour", &pass).await.status.as_u16(), 204);

    // Every refusal is a 401 so an nginx auth_request can act on it, even for an unknown event.
    app.gate("nope", &pass)
        .await
        .assert_problem(401, "unknown-event");
    app.gate("tour", "garbage")
        .await
        .assert_problem(401, "invalid-token");
    let missing = app
        .send(app.client.get(app.url("/v1/events/tour/gate")))
        .await;
    missing.assert_problem(401, "missing-token");
}

/// Join, status and gate answered by the app's router (`fast_path = false`) and by the fast path:
/// the same statuses, problems, headers and bodies, because both call the same handlers between the
/// same layers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_router_and_the_fast_path_answer_alike() {
    let mut seen = Vec::new();
    for fast_path in [true, false] {
        let mut config = crate::helpers::config_for(Backend::Memory, "unused");
        config.fast_path = fast_path;
        let app = crate::helpers::spawn_config(config).await;
        app.create_event("tour", json!({})).await;
        let first = app.join("tour").await;
        let second = app.join("tour").await;
        assert_eq!(first.status.as_u16(), 201);
        assert!(first.cookie().is_some_and(|c| c.contains("HttpOnly")));
        let again = app.join_with("tour", &first.token()).await;
        app.advance("tour", 1).await;
        let admitted = app.status("tour", &first.token()).await;
        assert!(admitted.body["pass"].is_string(), "{}", admitted.body);
        let waiting = app.status("tour", &second.token()).await;
        let through = app.gate("tour", &first.token()).await;
        let not_yet = app.gate("tour", &second.token()).await;
        let unknown_gate = app.gate("nope", &first.token()).await;
        let unknown_status = app.status("nope", &first.token()).await;
        let bad_id = app.join(&"e".repeat(65)).await;
        let wrong_method = app
            .send(app.client.get(app.url("/v1/events/tour/join")))
            .await;
        let trailing = app
            .send(app.client.get(app.url("/v1/events/tour/status/")))
            .await;
        let with_cookie = app
            .send(
                app.client
                    .get(app.url("/v1/events/tour/status"))
                    .header("cookie", format!("waitroom_tour={}", second.token())),
            )
            .await;
        // The scheme's name is case-insensitive.
        let lower_bearer = app
            .send(
                app.client
                    .get(app.url("/v1/events/tour/status"))
                    .header("authorization", format!("bearer {}", second.token())),
            )
            .await;
        for answer in [&first, &admitted, &through, &not_yet, &wrong_method] {
            assert!(answer.headers.contains_key("x-request-id"));
        }
        let shape = |answer: &crate::helpers::Answer| {
            let mut body = answer.body.clone();
            for volatile in [
                "token",
                "visitor",
                "expires_at",
                "pass",
                "pass_expires_at",
                "estimate",
            ] {
                body.as_object_mut().map(|b| b.remove(volatile));
            }
            (answer.status.as_u16(), answer.content_type.clone(), body)
        };
        seen.push((
            fast_path,
            [
                shape(&first),
                shape(&again),
                shape(&admitted),
                shape(&waiting),
                shape(&through),
                shape(&not_yet),
                shape(&unknown_gate),
                shape(&unknown_status),
                shape(&bad_id),
                shape(&wrong_method),
                shape(&trailing),
                shape(&with_cookie),
                shape(&lower_bearer),
            ],
            through.headers["x-waitroom-position"].clone(),
            wrong_method.headers["allow"].clone(),
        ));
    }
    let (fast, routed) = (&seen[0], &seen[1]);
    assert_eq!(fast.1, routed.1, "the router answers otherwise");
    assert_eq!((&fast.2, &fast.3), (&routed.2, &routed.3));
    let statuses: Vec<u16> = fast.1.iter().map(|s| s.0).collect();
    assert_eq!(
        statuses,
        [201, 200, 200, 200, 204, 401, 401, 404, 400, 405, 404, 200, 200]
    );
}

/// Live-update streams are capped per replica and per place in line; past the caps they are
/// refused with a problem (the page polls instead) and joins keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_capped_and_joins_keep_answering() {
    let mut config = crate::helpers::base_config();
    config.max_streams = 3;
    config.max_streams_per_visitor = 2;
    let app = crate::helpers::spawn_config(config).await;
    app.create_event("tour", serde_json::json!({})).await;
    let mut joined = futures_util::future::join_all((0..3).map(|_| app.join("tour"))).await;
    // In line order: the joins raced, and the first visitor is the one the advance below lets in.
    joined.sort_by_key(|answer| answer.position());
    let visitors: Vec<String> = joined.iter().map(|answer| answer.token()).collect();
    let stream_url = app.url("/v1/events/tour/stream");
    let open = |token: &str| app.client.get(&stream_url).bearer_auth(token).send();
    // A client of its own, so dropping it closes the connection (a tab closed).
    let own_client = reqwest::Client::new();
    let first = own_client
        .get(&stream_url)
        .bearer_auth(&visitors[0])
        .send()
        .await
        .unwrap();
    let second_tab = open(&visitors[0]).await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second_tab.status().as_u16()),
        (200, 200)
    );
    let third_tab = app
        .send(app.client.get(&stream_url).bearer_auth(&visitors[0]))
        .await;
    third_tab.assert_problem(429, "too-many-streams");
    assert_eq!(third_tab.headers["retry-after"], "30");
    let other = open(&visitors[1]).await.unwrap();
    assert_eq!(other.status().as_u16(), 200);
    let full = app
        .send(app.client.get(&stream_url).bearer_auth(&visitors[2]))
        .await;
    full.assert_problem(503, "streams-full");
    // Joins and status checks are untouched.
    assert_eq!(app.join("tour").await.status.as_u16(), 201);
    assert_eq!(app.status("tour", &visitors[2]).await.status.as_u16(), 200);
    // A stream that ends gives its slot back: its visitor was let in, and the tab was closed (the
    // server notices a closed connection at its next write).
    drop((first, own_client));
    app.advance("tour", 1).await;
    let freed = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        open(&visitors[2]).await.unwrap().status().as_u16() == 200
    })
    .await;
    assert!(
        freed.is_some(),
        "the closed stream's slot was not given back"
    );
    drop((second_tab, other));
}

/// CORS per event: preflights answered for the visitor API, the allowing headers only for the
/// event's origins, never for the gate; every answer `nosniff`. Through the fast path and the router.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_on_other_origins_get_cors_for_the_visitor_api_only() {
    use reqwest::Method;
    const APP: &str = "https://app.example.com";
    for fast_path in [true, false] {
        let mut config = crate::helpers::base_config();
        config.fast_path = fast_path;
        let app = crate::helpers::spawn_config(config).await;
        app.create_event("tour", serde_json::json!({ "cors_origins": [APP] }))
            .await;
        let preflight = |path: &'static str, origin: &'static str, method: &'static str| {
            app.send(
                app.client
                    .request(Method::OPTIONS, app.url(path))
                    .header("origin", origin)
                    .header("access-control-request-method", method)
                    .header("access-control-request-headers", "authorization"),
            )
        };
        let allowed = preflight("/v1/events/tour/join", APP, "POST").await;
        assert_eq!(allowed.status.as_u16(), 204, "{}", allowed.body);
        assert_eq!(allowed.headers["access-control-allow-origin"], APP);
        assert_eq!(allowed.headers["access-control-allow-methods"], "POST");
        assert!(allowed.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization"));
        let status = preflight("/v1/events/tour/status", APP, "GET").await;
        assert_eq!(status.headers["access-control-allow-origin"], APP);
        let stranger = preflight("/v1/events/tour/join", "https://evil.example", "POST").await;
        assert_eq!(stranger.status.as_u16(), 204);
        assert!(stranger
            .headers
            .get("access-control-allow-origin")
            .is_none());
        // The gate is the edge's, never a browser app's.
        let gate = preflight("/v1/events/tour/gate", APP, "GET").await;
        assert_ne!(gate.status.as_u16(), 204);
        assert!(gate.headers.get("access-control-allow-origin").is_none());

        let joined = app
            .send(
                app.client
                    .post(app.url("/v1/events/tour/join"))
                    .header("origin", APP),
            )
            .await;
        assert_eq!(joined.status.as_u16(), 201);
        assert_eq!(joined.headers["access-control-allow-origin"], APP);
        assert_eq!(joined.headers["x-content-type-options"], "nosniff");
        let refused = app
            .send(
                app.client
                    .get(app.url("/v1/events/tour/status"))
                    .header("origin", "https://evil.example"),
            )
            .await;
        assert!(refused.headers.get("access-control-allow-origin").is_none());
        assert_eq!(refused.headers["x-content-type-options"], "nosniff");
    }
}

/// A page reloaded again and again: each reload closes its stream and opens a new one. The closed
/// ones are found out at once (their place's open streams are asked to write when a new one is
/// refused), so every reload gets its stream, while the cap still holds for tabs really open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_page_gets_its_stream_every_time() {
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Memory).await;
    app.create_event("tour", serde_json::json!({})).await;
    let visitor = app.join("tour").await.token();
    let stream_url = app.url("/v1/events/tour/stream");
    for reload in 0..8 {
        // A client of its own, so dropping it closes the connection (a tab reloaded).
        let tab = reqwest::Client::new();
        let mut stream = tab
            .get(&stream_url)
            .bearer_auth(&visitor)
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status().as_u16(), 200, "reload {reload}");
        let first = stream.chunk().await.unwrap();
        assert!(first.is_some_and(|bytes| !bytes.is_empty()));
        drop((stream, tab));
    }
    // Three tabs really open hold the place's three streams; a fourth is refused.
    let tabs: Vec<_> = futures_util::future::join_all(
        (0..3).map(|_| app.client.get(&stream_url).bearer_auth(&visitor).send()),
    )
    .await;
    assert!(tabs
        .iter()
        .all(|tab| tab.as_ref().unwrap().status().as_u16() == 200));
    app.send(app.client.get(&stream_url).bearer_auth(&visitor))
        .await
        .assert_problem(429, "too-many-streams");
}

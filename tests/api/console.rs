//! The console's HTTP side: sessions and their CSRF tokens, the feed the charts are drawn from, the
//! what-if, and the log of who changed what (its browser side is in `browser.rs`).

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend, ServeProcess, TestApp, ADMIN_TOKEN};

/// A form's fields as a browser sends them.
fn encoded(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// Signs in as `who`: the session's cookie (as a `Cookie` header's value) and its CSRF token.
async fn sign_in(app: &TestApp, who: &str) -> (String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client
        .post(app.url("/console/session"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encoded(&[("name", who), ("token", ADMIN_TOKEN)]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    let set = answer
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{attribute}: {set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = app
        .client
        .get(app.url("/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-out form's CSRF token")
        .to_owned();
    (cookie, csrf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_session_calls_the_admin_api_with_its_csrf_token_only() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("tour", json!({})).await;
    let wrong = app
        .client
        .post(app.url("/console/session"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encoded(&[
            ("name", "Ana"),
            ("token", "not-the-admin-token-0123"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let malformed = app
        .client
        .post(app.url("/console/session"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
    assert_eq!(
        malformed.headers()["content-type"],
        "application/problem+json"
    );

    let (cookie, csrf) = sign_in(&app, "Ana").await;
    let pause = |csrf: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/v1/admin/events/tour/pause"))
            .header("cookie", &cookie);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        app.send(request)
    };
    pause(None).await.assert_problem(403, "csrf");
    pause(Some(csrf.replace(&csrf[..2], "AA")))
        .await
        .assert_problem(403, "csrf");
    let (_, others) = sign_in(&app, "Bo").await;
    pause(Some(others)).await.assert_problem(403, "csrf");
    assert_eq!(app.show("tour").await.settings.state.to_string(), "open");
    let paused = pause(Some(csrf.clone())).await;
    assert_eq!(paused.status.as_u16(), 200, "{}", paused.body);
    assert_eq!(paused.body["state"], "paused");

    // A forged or foreign cookie is no session.
    let forged = app
        .send(app.client.get(app.url("/v1/admin/events")).header(
            "cookie",
            "waitroom_console=eyJ3aG8iOiJYIiwiZXhwIjo5OTk5OTk5OTk5fQ.AAAA",
        ))
        .await;
    forged.assert_problem(401, "unauthorized");

    // Signing out needs the token too, and ends the cookie.
    let refused = app
        .client
        .post(app.url("/console/sign-out"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encoded(&[("csrf", "nope")]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let out = app
        .client
        .post(app.url("/console/sign-out"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encoded(&[("csrf", csrf.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    let cleared = out.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

/// The people waiting now played through the simulator, against numbers computed by hand: 10
/// waiting, 5 let in at once and 5 a minute later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_what_if_plays_the_line_through_the_change() {
    let app = spawn_app(Backend::Memory).await;
    app.create_event("tour", json!({})).await;
    for _ in 0..10 {
        app.join("tour").await;
    }
    let weigh = |change: Value| {
        app.admin(
            reqwest::Method::POST,
            "/v1/admin/events/tour/what-if",
            Some(change),
        )
    };
    let weighed = weigh(json!({ "batch_size": 5, "release_interval_ms": 60000 })).await;
    assert_eq!(weighed.status.as_u16(), 200, "{}", weighed.body);
    assert_eq!(
        weighed.body,
        json!({
            "waiting": 10,
            // Released by hand only: nothing to play through.
            "now": {},
            "changed": { "empties_in_s": 60.0, "wait_p50_s": 0.0, "wait_p90_s": 60.0 },
        })
    );
    assert_eq!(
        app.show("tour").await.settings.release.batch_size,
        0,
        "nothing changed"
    );
    weigh(json!({ "batch_size": -1 }))
        .await
        .assert_problem(400, "invalid-json");
    weigh(json!({ "release_interval_ms": 1 }))
        .await
        .assert_problem(400, "invalid-settings");
}

/// The feed the console's charts are drawn from: a frame every second, following the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_pushes_the_events_figures_every_second() {
    let app = spawn_app(Backend::Memory).await;
    let limits =
        json!({ "joins_per_minute": 2, "join_burst": 2, "checks_per_second": 0, "check_burst": 0 });
    app.create_event("tour", json!({ "rate_limits": limits }))
        .await;
    let response = app
        .client
        .get(app.url("/v1/admin/events/tour/feed"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response;
    let mut text = String::new();
    let mut frames = Vec::new();
    let mut joined = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while frames.len() < 4 && tokio::time::Instant::now() < deadline {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.chunk())
            .await
            .expect("a frame within seconds")
            .unwrap()
            .expect("the feed goes on");
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some((frame, rest)) = text.split_once("\n\n") {
            let data = frame.split_once("data: ").unwrap().1;
            assert!(frame.starts_with("event: figures"), "{frame}");
            frames.push(serde_json::from_str::<Value>(data).unwrap());
            text = rest.to_owned();
        }
        if !frames.is_empty() && !joined {
            app.join("tour").await;
            app.join("tour").await;
            // A third from the same address: refused by the event's rate limit.
            assert_eq!(app.join("tour").await.status.as_u16(), 429);
            joined = true;
        }
    }
    let first = &frames[0];
    assert_eq!(first["view"]["waiting"], 0, "{first}");
    assert_eq!(first["phase"], "live");
    assert_eq!(first["degraded"], json!([]));
    let last = frames.last().unwrap();
    assert_eq!(last["view"]["waiting"], 2, "{last}");
    assert_eq!(
        (
            first["rate_limited"].as_u64(),
            last["rate_limited"].as_u64()
        ),
        (Some(0), Some(1))
    );
    let gaps: Vec<i64> = frames
        .windows(2)
        .map(|pair| pair[1]["at_ms"].as_i64().unwrap() - pair[0]["at_ms"].as_i64().unwrap())
        .collect();
    assert!(
        gaps.iter().all(|gap| (500..=2500).contains(gap)),
        "{gaps:?}"
    );
}

/// Every change is logged with who made it and what it was: the console's operator by name, a
/// call with the admin token as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_logged_with_who_and_what() {
    let serve = ServeProcess::start(&[
        ("RUST_LOG", "info".into()),
        ("WAITROOM_LOG_FORMAT", "json".into()),
        ("WAITROOM_DEMO_EVENT", "false".into()),
    ])
    .await;
    let app = &serve.app;
    app.create_event("tour", json!({})).await;
    let (cookie, csrf) = sign_in(app, "Ana Lima").await;
    let changed = app
        .send(
            app.client
                .put(app.url("/v1/admin/events/tour"))
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf)
                .json(&json!({ "batch_size": 7 })),
        )
        .await;
    assert_eq!(changed.status.as_u16(), 200, "{}", changed.body);
    app.advance("tour", 1).await;

    let lines = || -> Vec<Value> {
        serve
            .process
            .log_text()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    };
    let logged = crate::helpers::eventually(Duration::from_secs(5), || async {
        lines()
            .iter()
            .any(|line| line["fields"]["message"] == "admitted by hand")
    })
    .await;
    assert!(logged.is_some(), "{}", serve.process.log_text());
    let lines = lines();
    let find = |message: &str, who: &str| {
        lines.iter().find(|line| {
            line["fields"]["message"] == message
                && (line["fields"]["who"] == who || line["span"]["who"] == who)
        })
    };
    let change = find("event settings changed", "console: Ana Lima")
        .unwrap_or_else(|| panic!("{}", serve.process.log_text()));
    assert_eq!(
        change["fields"]["change"], r#"{"batch_size":7}"#,
        "{change}"
    );
    assert!(find("admin change", "console: Ana Lima").is_some());
    let by_hand = find("admitted by hand", "admin token").expect("the admin token's advance");
    assert_eq!(by_hand["fields"]["by"], 1);
}

//! Admission that really ends: one rule for "may enter now" on every path (gate, verify, status,
//! join), so a late no-show, a completed visitor and an admission whose pass lifetime is over stay
//! out; and a no-show's claim decided once, however many requests race for it.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};
use waitroom::domain::random_token_id;

use crate::helpers::{config_for, eventually, spawn_config, Answer, Backend, TestApp};

use crate::on_every_store;

const SERVICE_TOKEN: &str = "test-service-token-0123456789";

on_every_store!(admission_ends_for_no_shows_completed_visits_and_spent_passes);

async fn complete(app: &TestApp, pass: &str) -> Answer {
    app.send(
        app.client
            .post(app.url("/v1/events/cap/complete"))
            .bearer_auth(SERVICE_TOKEN)
            .json(&json!({ "token": pass })),
    )
    .await
}

fn expired_because(answer: &Answer) -> (Option<&str>, Option<&str>, bool) {
    (
        answer.body["status"].as_str(),
        answer.body["reason"].as_str(),
        answer.body.get("pass").is_some(),
    )
}

async fn verified(app: &TestApp, token: &str) -> Value {
    let answer = app.verify(json!({ "token": token })).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    answer.body
}

async fn admission_ends_for_no_shows_completed_visits_and_spent_passes(backend: Backend) {
    let prefix = format!("t{}", random_token_id());
    let mut config = config_for(backend, &prefix);
    config.service_token = Some(SERVICE_TOKEN.into());
    let app = spawn_config(config.clone()).await;
    // A second replica on the same Redis, which learns of completions by the push alone.
    let other = match backend {
        Backend::Redis | Backend::Cluster => Some(spawn_config(config.clone()).await),
        Backend::Memory => None,
    };
    app.create_event(
        "cap",
        json!({ "max_active": 10, "claim_window_s": 5, "pass_ttl_s": 60 }),
    )
    .await;
    let no_show = app.join("cap").await.token();
    let done = app.join("cap").await.token();
    let staying = app.join("cap").await.token();
    app.advance("cap", 3).await;
    let pass_of = |answer: Answer| answer.body["pass"].as_str().expect("a pass").to_owned();
    let done_pass = pass_of(app.status("cap", &done).await);
    let staying_pass = pass_of(app.status("cap", &staying).await);
    if let Some(other) = &other {
        // The event and the pointer reach it by the push: within a second on a loaded machine.
        let admitted = eventually(Duration::from_secs(5), || async {
            other.gate("cap", &done_pass).await.status.as_u16() == 204
        })
        .await;
        assert!(
            admitted.is_some(),
            "the other replica never let the pass in"
        );
    }

    // The booking service is done with one visitor: neither their pass nor their waiting token
    // lets them in again, on this replica or the other, and joining again brings no new pass.
    assert_eq!(complete(&app, &done_pass).await.body["freed"], true);
    for token in [&done_pass, &done] {
        assert_eq!(app.gate("cap", token).await.status.as_u16(), 401);
        let verdict = verified(&app, token).await;
        assert_eq!(
            (&verdict["admitted"], &verdict["refusal"]),
            (&json!(false), &json!("admission-ended")),
            "{verdict}"
        );
    }
    assert_eq!(
        expired_because(&app.status("cap", &done).await),
        (Some("expired"), Some("completed"), false)
    );
    assert_eq!(
        expired_because(&app.join_with("cap", &done).await),
        (Some("expired"), Some("completed"), false)
    );
    if let Some(other) = &other {
        let refused = eventually(Duration::from_secs(2), || async {
            other.gate("cap", &done_pass).await.status.as_u16() == 401
        })
        .await;
        assert!(
            refused.is_some(),
            "the other replica still lets the completed pass in"
        );
        assert_eq!(other.gate("cap", &done).await.status.as_u16(), 401);
    }

    // The one who stays is let in with either credential while the admission lasts.
    assert_eq!(app.gate("cap", &staying_pass).await.status.as_u16(), 204);
    assert_eq!(app.gate("cap", &staying).await.status.as_u16(), 204);
    assert_eq!(verified(&app, &staying).await["admitted"], true);

    // The no-show comes back after the claim window: 16 requests at once, and not one pass.
    tokio::time::sleep(Duration::from_millis(5_300)).await;
    let answers = join_all((0..16).map(|_| app.status("cap", &no_show))).await;
    for answer in &answers {
        assert_eq!(
            expired_because(answer),
            (Some("expired"), Some("claim-window-passed"), false),
            "{}",
            answer.body
        );
    }
    assert_eq!(app.gate("cap", &no_show).await.status.as_u16(), 401);
    assert_eq!(verified(&app, &no_show).await["admitted"], false);
    assert_eq!(
        expired_because(&app.join_with("cap", &no_show).await),
        (Some("expired"), Some("claim-window-passed"), false)
    );

    // Long after the first claim (its time wound back in Redis, seen by a replica that had not
    // met this visitor): the admission is over however the visitor asks.
    if other.is_some() {
        let mut redis = crate::helpers::raw_redis(backend).await;
        let position = app.status("cap", &staying).await.position();
        let long_ago = waitroom::clock::unix_ms() - 120_000;
        let _: () = redis::cmd("HSET")
            .arg(format!("{prefix}:{{cap}}:claims"))
            .arg(position)
            .arg(long_ago)
            .query_async(&mut redis)
            .await
            .unwrap();
        // `other` remembers the real claim time; a fresh replica asks Redis.
        let fresh = spawn_config(config).await;
        // It never heard the completion's push, and still refuses the completed visitor's pass: it
        // read the completions kept in Redis at its first resync.
        assert_eq!(fresh.gate("cap", &done_pass).await.status.as_u16(), 401);
        assert_eq!(
            expired_because(&fresh.status("cap", &staying).await),
            (Some("expired"), Some("pass-expired"), false)
        );
        assert_eq!(fresh.gate("cap", &staying).await.status.as_u16(), 401);
        assert_eq!(
            expired_because(&fresh.join_with("cap", &staying).await),
            (Some("expired"), Some("pass-expired"), false)
        );
    }
}

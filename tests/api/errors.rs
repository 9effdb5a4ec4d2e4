use reqwest::Method;
use serde_json::json;

use crate::helpers::{base_config, spawn_app, spawn_config, Backend, ADMIN_TOKEN};
use crate::on_both_stores;

on_both_stores!(client_mistakes_get_clear_problems, closed_and_paused_events);

async fn client_mistakes_get_clear_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("tour", json!({})).await;
    let token = app.join("tour").await.token();

    let long_event = "e".repeat(65);
    let answer = app.join(&long_event).await;
    answer.assert_problem(400, "invalid-id");
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("limit is 64"),
        "{}",
        answer.body
    );
    app.join("no%20spaces")
        .await
        .assert_problem(400, "invalid-id");
    app.status("n%7Bo%7D", &token)
        .await
        .assert_problem(400, "invalid-id");
    app.join("unknown")
        .await
        .assert_problem(404, "unknown-event");
    app.status("unknown", &token)
        .await
        .assert_problem(404, "unknown-event");
    app.send(app.client.get(app.url("/v1/events/tour/status")))
        .await
        .assert_problem(401, "missing-token");

    let raw = |body: &'static str| {
        app.client
            .post(app.url("/v1/verify"))
            .header("content-type", "application/json")
            .body(body)
    };
    app.send(raw("{not json"))
        .await
        .assert_problem(400, "invalid-json");
    app.send(raw("[1,2]"))
        .await
        .assert_problem(400, "invalid-json");
    app.send(raw(r#"{"token": 5}"#))
        .await
        .assert_problem(400, "invalid-json");
    app.send(
        app.client
            .post(app.url("/v1/verify"))
            .body(r#"{"token":"x"}"#),
    )
    .await
    .assert_problem(400, "invalid-json");
    let huge = json!({ "token": "x".repeat(20_000) });
    let too_large = app.verify(huge).await;
    too_large.assert_problem(413, "payload-too-large");

    let long_visitor = json!({ "visitor": "u".repeat(129) });
    let answer = app
        .admin(
            Method::POST,
            "/v1/admin/events/tour/join",
            Some(long_visitor),
        )
        .await;
    answer.assert_problem(400, "invalid-json");
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("limit is 128"),
        "{}",
        answer.body
    );
    app.admin(
        Method::POST,
        "/v1/admin/events/tour/join",
        Some(json!({ "visitor": "a b" })),
    )
    .await
    .assert_problem(400, "invalid-json");

    app.admin(
        Method::PUT,
        "/v1/admin/events/tour",
        Some(json!({ "release_interval_ms": 1 })),
    )
    .await
    .assert_problem(400, "invalid-settings");
    app.admin(
        Method::PUT,
        "/v1/admin/events/tour",
        Some(json!({ "target_url": "ftp://x" })),
    )
    .await
    .assert_problem(400, "invalid-settings");
    app.admin(
        Method::PUT,
        "/v1/admin/events/tour",
        Some(json!({ "batch": 5 })),
    )
    .await
    .assert_problem(400, "invalid-json");
    app.admin(
        Method::POST,
        "/v1/admin/events/tour/advance",
        Some(json!({ "by": 0 })),
    )
    .await
    .assert_problem(400, "invalid-request");
    app.admin(
        Method::POST,
        "/v1/admin/events/unknown/advance",
        Some(json!({ "by": 1 })),
    )
    .await
    .assert_problem(404, "unknown-event");
    app.admin(Method::GET, "/v1/admin/events/unknown", None)
        .await
        .assert_problem(404, "unknown-event");

    app.send(app.client.get(app.url("/v1/nothing-here")))
        .await
        .assert_problem(404, "not-found");
    app.send(app.client.delete(app.url("/v1/verify")))
        .await
        .assert_problem(405, "method-not-allowed");
    // Join, status and gate are answered before the app: the same problems, and the method allowed.
    let wrong_method = app
        .send(app.client.get(app.url("/v1/events/tour/join")))
        .await;
    wrong_method.assert_problem(405, "method-not-allowed");
    assert_eq!(wrong_method.headers["allow"], "POST");
    for path in ["/v1/events/tour/status", "/v1/events/tour/gate"] {
        let wrong_method = app.send(app.client.post(app.url(path))).await;
        wrong_method.assert_problem(405, "method-not-allowed");
        assert_eq!(wrong_method.headers["allow"], "GET");
    }
    app.send(app.client.get(app.url("/v1/events/tour/status/")))
        .await
        .assert_problem(404, "not-found");

    app.send(
        app.client
            .get(app.url("/v1/admin/events"))
            .bearer_auth("wrong-token-0123456789"),
    )
    .await
    .assert_problem(401, "unauthorized");
    app.send(app.client.get(app.url("/v1/admin/events")))
        .await
        .assert_problem(401, "unauthorized");
}

async fn closed_and_paused_events(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event(
        "tour",
        json!({ "batch_size": 5, "release_interval_ms": 100 }),
    )
    .await;
    let paused = app
        .admin(Method::POST, "/v1/admin/events/tour/pause", None)
        .await;
    assert_eq!(paused.body["state"], "paused", "{}", paused.body);
    let waiting = app.join("tour").await;
    assert_eq!(waiting.body["state"], "paused");
    // Nothing is released while paused, however long we wait.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        app.status("tour", &waiting.token()).await.body["status"],
        "waiting"
    );

    app.admin(Method::POST, "/v1/admin/events/tour/resume", None)
        .await;
    let released = crate::helpers::eventually(std::time::Duration::from_secs(3), || async {
        app.status("tour", &waiting.token()).await.body["status"] == "admitted"
    })
    .await;
    assert!(released.is_some(), "resumed event releases again");

    app.create_event("tour", json!({ "state": "closed" })).await;
    app.join("tour").await.assert_problem(409, "event-closed");
    app.admin(
        Method::POST,
        "/v1/admin/events/tour/join",
        Some(json!({ "visitor": "u1" })),
    )
    .await
    .assert_problem(409, "event-closed");
    // Those already in keep their answers.
    assert_eq!(
        app.status("tour", &waiting.token()).await.body["status"],
        "admitted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_is_off_without_a_token() {
    let mut config = base_config();
    config.admin_token = None;
    let app = spawn_config(config).await;
    app.send(
        app.client
            .get(app.url("/v1/admin/events"))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await
    .assert_problem(403, "admin-disabled");
}

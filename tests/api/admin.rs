use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{config_for, eventually, spawn_app, spawn_config, Backend};
use crate::{on_both_stores, on_every_store};

on_both_stores!(events_are_created_updated_and_listed);
on_both_stores!(settings_change_as_a_merge_patch_and_the_servers_record_is_read_only);

async fn events_are_created_updated_and_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .admin(
            Method::PUT,
            "/v1/admin/events/tour",
            Some(json!({ "batch_size": 0, "pass_ttl_s": 300 })),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    assert_eq!(created.body["pass_ttl_s"], 300);
    assert_eq!(
        created.body["release_interval_ms"], 10_000,
        "defaults fill the rest"
    );

    let updated = app
        .admin(
            Method::PUT,
            "/v1/admin/events/tour",
            Some(json!({ "target_url": "https://a.example/x" })),
        )
        .await;
    assert_eq!(updated.status.as_u16(), 200);
    assert_eq!(
        updated.body["pass_ttl_s"], 300,
        "an update keeps what it does not name"
    );
    assert_eq!(updated.body["target_url"], "https://a.example/x");

    app.create_event("another", json!({})).await;
    for _ in 0..3 {
        app.join("tour").await;
    }
    app.advance("tour", 1).await;
    let listed = app.admin(Method::GET, "/v1/admin/events", None).await;
    let events = listed.body.as_array().expect("a list");
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["another", "tour"]);
    let tour = &events[1];
    assert_eq!(
        (
            tour["issued"].as_u64(),
            tour["admitted_through"].as_u64(),
            tour["waiting"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_events_are_created_but_not_overwritten() {
    let prefix = format!("t{}", waitroom::domain::random_token_id());
    let mut config = config_for(Backend::Redis, &prefix);
    config.events = [(
        "from-config".to_owned(),
        serde_json::from_value(json!({ "batch_size": 0, "pass_ttl_s": 30 })).unwrap(),
    )]
    .into();
    let first = spawn_config(config.clone()).await;
    assert_eq!(
        first
            .show("from-config")
            .await
            .settings
            .admission
            .pass_ttl_s,
        30
    );
    first
        .admin(
            Method::PUT,
            "/v1/admin/events/from-config",
            Some(json!({ "pass_ttl_s": 90 })),
        )
        .await;

    // A replica started later with the same configuration keeps the admin's change.
    let second = spawn_config(config).await;
    assert_eq!(
        second
            .show("from-config")
            .await
            .settings
            .admission
            .pass_ttl_s,
        90
    );
}

on_every_store!(deleted_events_are_gone_everywhere_and_stay_gone);

/// `DELETE` takes an event and all its data at once; no replica restores it from memory, its tokens
/// are refused as for an unknown event, and it can be made again from nothing.
async fn deleted_events_are_gone_everywhere_and_stay_gone(backend: Backend) {
    let prefix = format!("t{}", waitroom::domain::random_token_id());
    let config = config_for(backend, &prefix);
    let app = spawn_config(config.clone()).await;
    let other = match backend {
        Backend::Redis | Backend::Cluster => Some(spawn_config(config).await),
        Backend::Memory => None,
    };
    app.create_event("gone", json!({})).await;
    let visitors = [
        app.join("gone").await.token(),
        app.join("gone").await.token(),
        app.join("gone").await.token(),
    ];
    app.leave("gone", &visitors[1]).await;
    app.advance("gone", 1).await;
    app.status("gone", &visitors[0]).await;
    if let Some(other) = &other {
        // The other replica hears of the event by the push: within a second, not at once on a
        // loaded machine.
        let known = eventually(Duration::from_secs(5), || async {
            other.status("gone", &visitors[2]).await.status.as_u16() == 200
        })
        .await;
        assert!(known.is_some(), "the other replica never knew the event");
    }

    let deleted = app
        .admin(Method::DELETE, "/v1/admin/events/gone", None)
        .await;
    assert_eq!(deleted.status.as_u16(), 204, "{}", deleted.body);
    app.admin(Method::GET, "/v1/admin/events/gone", None)
        .await
        .assert_problem(404, "unknown-event");
    app.status("gone", &visitors[2])
        .await
        .assert_problem(404, "unknown-event");
    app.join("gone").await.assert_problem(404, "unknown-event");
    app.admin(Method::DELETE, "/v1/admin/events/gone", None)
        .await
        .assert_problem(404, "unknown-event");

    if let Some(other) = &other {
        // The other replica forgets it at once and, past several resyncs, never restores it.
        let forgotten = crate::helpers::eventually(std::time::Duration::from_secs(2), || async {
            other.status("gone", &visitors[2]).await.status.as_u16() == 404
        })
        .await;
        assert!(forgotten.is_some());
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        let mut redis = crate::helpers::raw_redis(backend).await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:{{gone}}:*"))
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(
            keys,
            [format!("{prefix}:{{gone}}:deleted")],
            "only the tombstone is left"
        );
    }
    // Made again: a new line from position 1.
    app.create_event("gone", json!({})).await;
    assert_eq!(app.join("gone").await.position(), 1);
}

/// A closed event's data is deleted by itself once `retain_closed_s` has passed since closing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_events_data_goes_after_its_lifetime() {
    let prefix = format!("t{}", waitroom::domain::random_token_id());
    let app = spawn_config(config_for(Backend::Redis, &prefix)).await;
    app.create_event("old", json!({ "retain_closed_s": 60 }))
        .await;
    app.join("old").await;
    let closed = app
        .admin(
            Method::PUT,
            "/v1/admin/events/old",
            Some(json!({ "state": "closed" })),
        )
        .await;
    let closed_at = closed.body["closed_at"].as_i64().expect("closing is dated");
    assert!((closed_at - waitroom::clock::unix_s()).abs() < 5);
    // Kept while its lifetime lasts.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.show("old").await.issued, 1);
    // Closed long ago, as far as the stored settings say: gone within a scheduler tick or two.
    let mut redis = redis::Client::open(crate::helpers::shared_redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("{prefix}:{{old}}:settings");
    let stored: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let mut settings: serde_json::Value = serde_json::from_str(&stored).unwrap();
    settings["closed_at"] = json!(closed_at - 61);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(settings.to_string())
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: () = redis::cmd("PUBLISH")
        .arg(format!("{prefix}:notify"))
        .arg(r#"{"kind":"settings","event":"old"}"#)
        .query_async(&mut redis)
        .await
        .unwrap();
    let gone = crate::helpers::eventually(std::time::Duration::from_secs(3), || async {
        app.admin(Method::GET, "/v1/admin/events/old", None)
            .await
            .status
            .as_u16()
            == 404
    })
    .await;
    assert!(
        gone.is_some(),
        "the closed event's data outlived its lifetime"
    );
}

/// A schedule that cannot surprise: an opening in the past (a wrong year) is refused, naming the
/// field, rather than opening the sale at once; a time without its zone is refused with the format
/// to use; a time with an offset is taken, and shown in UTC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_times_in_the_past_or_without_a_zone_are_refused() {
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Memory).await;
    app.create_event("sale", serde_json::json!({})).await;
    let past = crate::helpers::put_settings(
        &app,
        "sale",
        serde_json::json!({ "opens_at": "2025-12-11T10:00:00Z" }),
    )
    .await;
    past.assert_problem(400, "invalid-settings");
    let detail = past.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("opens_at") && detail.contains("in the past"),
        "{detail}"
    );
    let local = crate::helpers::put_settings(
        &app,
        "sale",
        serde_json::json!({ "opens_at": "2031-12-11T10:00:00" }),
    )
    .await;
    assert_eq!(local.status.as_u16(), 400, "{}", local.body);
    let detail = local.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("RFC 3339") && detail.contains("T10:00:00Z"),
        "the format to use: {detail}"
    );
    let zoned = crate::helpers::put_settings(
        &app,
        "sale",
        serde_json::json!({ "opens_at": "2031-12-11T11:00:00+01:00" }),
    )
    .await;
    assert_eq!(zoned.status.as_u16(), 200, "{}", zoned.body);
    assert_eq!(zoned.body["opens_at"], "2031-12-11T10:00:00Z");
    // Unchanged when sent again; opened at once on purpose by removing it.
    let again = crate::helpers::put_settings(
        &app,
        "sale",
        serde_json::json!({ "opens_at": "2031-12-11T10:00:00Z", "batch_size": 5 }),
    )
    .await;
    assert_eq!(again.status.as_u16(), 200, "{}", again.body);
    let now =
        crate::helpers::put_settings(&app, "sale", serde_json::json!({ "opens_at": null })).await;
    assert_eq!(now.status.as_u16(), 200, "{}", now.body);
    assert!(now.body.get("opens_at").is_none());

    // A wall-clock time with its zone's name: that zone's offset then, summer time included.
    for (given, utc) in [
        ("2031-12-11 11:00 Europe/Berlin", "2031-12-11T10:00:00Z"),
        ("2031-07-11T11:00:00 Europe/Berlin", "2031-07-11T09:00:00Z"),
        ("2031-07-11 08:30 America/New_York", "2031-07-11T12:30:00Z"),
    ] {
        let zoned =
            crate::helpers::put_settings(&app, "sale", serde_json::json!({ "opens_at": given }))
                .await;
        assert_eq!(zoned.status.as_u16(), 200, "{given}: {}", zoned.body);
        assert_eq!(zoned.body["opens_at"], utc, "{given}");
    }
    for (given, said) in [
        ("2031-12-11 11:00 Europe/Atlantis", "no time zone"),
        ("2031-03-30 02:30 Europe/Berlin", "does not happen"),
        ("2031-10-26 02:30 Europe/Berlin", "happens twice"),
    ] {
        let refused =
            crate::helpers::put_settings(&app, "sale", serde_json::json!({ "opens_at": given }))
                .await;
        assert_eq!(refused.status.as_u16(), 400, "{given}: {}", refused.body);
        let detail = refused.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(said) && detail.contains("Europe/Berlin"),
            "{given}: {detail}"
        );
    }
    // `now` opens now on purpose: the one past-or-present time taken.
    let at_once =
        crate::helpers::put_settings(&app, "sale", serde_json::json!({ "opens_at": "now" })).await;
    assert_eq!(at_once.status.as_u16(), 200, "{}", at_once.body);
    let opened =
        chrono::DateTime::parse_from_rfc3339(at_once.body["opens_at"].as_str().unwrap()).unwrap();
    assert!((chrono::Utc::now() - opened.to_utc()).num_seconds().abs() < 5);
}

async fn settings_change_as_a_merge_patch_and_the_servers_record_is_read_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let put = |body: serde_json::Value| {
        let app = &app;
        async move {
            app.admin(Method::PUT, "/v1/admin/events/tour", Some(body))
                .await
        }
    };
    let created = put(json!({
        "page": { "title": "Tour", "logo_url": "https://tickets.example/logo.png" },
        "rate_limits": { "joins_per_minute": 10, "join_burst": 3 },
        "release_interval_ms": 2_000,
    }))
    .await;
    assert_eq!(created.status.as_u16(), 201, "{}", created.body);
    let changed = put(json!({
        "page": { "title": "Tour 2027" },
        "rate_limits": { "joins_per_minute": 5 },
        "release_interval_ms": null,
    }))
    .await;
    assert_eq!(changed.status.as_u16(), 200, "{}", changed.body);
    let body = &changed.body;
    assert_eq!(body["page"]["title"], "Tour 2027");
    assert_eq!(
        body["page"]["logo_url"], "https://tickets.example/logo.png",
        "a section merges field by field"
    );
    assert_eq!(
        (
            &body["rate_limits"]["joins_per_minute"],
            &body["rate_limits"]["join_burst"]
        ),
        (&json!(5), &json!(3))
    );
    assert_eq!(
        body["release_interval_ms"], 10_000,
        "null is the default again"
    );

    // What the server records is shown and never taken from a patch.
    let closed = put(json!({ "state": "closed" })).await;
    assert!(closed.body["closed_at"].is_i64(), "{}", closed.body);
    for record in [
        json!({ "closed_at": 1 }),
        json!({ "drew_at_random": false }),
    ] {
        let refused = put(record.clone()).await;
        refused.assert_problem(400, "invalid-json");
        let field = record.as_object().unwrap().keys().next().unwrap().clone();
        let detail = refused.body["detail"].as_str().unwrap();
        assert!(
            detail.contains(&field) && detail.contains("server"),
            "{detail}"
        );
    }
    let unreadable = put(json!({ "batch_size": 1, "method": "lifo" })).await;
    unreadable.assert_problem(400, "invalid-json");
    let detail = unreadable.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("`method`") && detail.contains("lifo"),
        "{detail}"
    );
    let shown = app.admin(Method::GET, "/v1/admin/events/tour", None).await;
    assert_eq!(
        shown.body["batch_size"], 100,
        "a refused patch changes nothing"
    );
    assert_eq!(shown.body["closed_at"], closed.body["closed_at"]);
}

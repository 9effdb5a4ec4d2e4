use serde_json::json;

use crate::helpers::{spawn_app, Backend};
use crate::on_every_store;

on_every_store!(left_visitors_are_never_admitted);

async fn left_visitors_are_never_admitted(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("tour", json!({})).await;
    let mut visitors = Vec::new();
    for _ in 0..5 {
        visitors.push(app.join("tour").await);
    }
    let leaver = visitors[1].token();

    let left = app.leave("tour", &leaver).await;
    assert_eq!(left.status.as_u16(), 200, "{}", left.body);
    assert_eq!(left.body["status"], "left");
    assert!(
        left.cookie().is_some_and(|c| c.contains("Max-Age=0")),
        "the cookie is removed"
    );

    // Those behind move up at once.
    let behind = app.status("tour", &visitors[4].token()).await;
    assert_eq!(behind.body["ahead"], 3);

    // Two admissions skip the left position: 1 and 3 get in.
    let figures = app.advance("tour", 2).await;
    assert_eq!(figures.admitted_through, 3);
    assert_eq!(figures.left, 1);
    assert_eq!(
        app.status("tour", &visitors[2].token()).await.body["status"],
        "admitted"
    );

    // The left token is refused everywhere, and cannot leave twice.
    app.status("tour", &leaver)
        .await
        .assert_problem(410, "left-line");
    app.gate("tour", &leaver)
        .await
        .assert_problem(401, "left-line");
    app.verify(json!({ "token": leaver }))
        .await
        .assert_problem(410, "left-line");
    app.leave("tour", &leaver)
        .await
        .assert_problem(410, "left-line");

    // Joining again with it draws a new place at the back.
    let rejoined = app.join_with("tour", &leaver).await;
    assert_eq!((rejoined.status.as_u16(), rejoined.position()), (201, 6));
    app.advance("tour", 10).await;
    assert_eq!(app.show("tour").await.admitted_through, 6);
    app.status("tour", &leaver)
        .await
        .assert_problem(410, "left-line");

    // A trusted user who leaves and comes back gets a new number too.
    let path = "/v1/admin/events/tour/join";
    let user = json!({ "visitor": "user-7" });
    let first = app
        .admin(reqwest::Method::POST, path, Some(user.clone()))
        .await;
    app.leave("tour", &first.token()).await;
    let back = app.admin(reqwest::Method::POST, path, Some(user)).await;
    assert_eq!((first.position(), back.position()), (7, 8));
}

on_every_store!(leavers_are_skipped_exactly_however_they_fall);

/// Leavers in runs and scattered, releases of every size: the store's pointer (a bisection over
/// the leavers in Redis, a walk over those passed in the embedded store) lands where counting one
/// by one would, and a replica that reads the leavers' log counts the same visitors ahead.
async fn leavers_are_skipped_exactly_however_they_fall(backend: Backend) {
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeSet;
    use waitroom::store::{AdvanceMode, Capacity, Pick};

    let prefix = format!("t{}", waitroom::domain::random_token_id());
    let store: std::sync::Arc<dyn waitroom::store::Store> = match backend {
        Backend::Redis | Backend::Cluster => crate::helpers::shared_store(backend, &prefix).await,
        Backend::Memory => std::sync::Arc::new(waitroom::store::MemoryStore::default()),
    };
    let event = waitroom::domain::LineId::from(waitroom::domain::EventId::parse("runs").unwrap());
    crate::drain::line_up(store.as_ref(), &event, 2_000, u64::MAX).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut left = BTreeSet::new();
    left.extend(300..=900); // a run longer than any batch
    left.extend((1..=2_000).filter(|_| rng.random_bool(0.2)));
    left.extend([1_999, 2_000]); // the tail
    let visitor = waitroom::domain::VisitorId::generate();
    for &position in &left {
        assert!(store.leave(&event, position, &visitor).await.unwrap());
    }
    let cache = waitroom::cache::PointerCache::default();
    let mut pointer = 0u64;
    while pointer < 2_000 {
        let count = rng.random_range(1..=60);
        let advanced = store
            .advance(
                &event,
                count,
                AdvanceMode::Manual,
                Capacity::UNLIMITED,
                Pick::InOrder,
            )
            .await
            .unwrap();
        let mut expected = pointer;
        let mut counted = 0;
        while counted < count && expected < 2_000 {
            expected += 1;
            if !left.contains(&expected) {
                counted += 1;
            }
        }
        assert_eq!(
            advanced.admitted_through, expected,
            "{count} after {pointer}"
        );
        pointer = expected;

        cache.refresh(store.as_ref(), &event).await.unwrap();
        let cached = cache.get(&event).unwrap();
        assert_eq!(cached.left_count(), left.len() as u64);
        for probe in [pointer + 1, pointer + 2, pointer + 150, 2_001] {
            let ahead = (pointer + 1..probe).filter(|p| !left.contains(p)).count() as u64;
            assert_eq!(
                cached.ahead_of(probe),
                ahead,
                "ahead of {probe}, pointer {pointer}"
            );
        }
    }
}

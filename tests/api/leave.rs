use serde_json::json;

use crate::helpers::{spawn_app, Backend};
use crate::on_both_stores;

on_both_stores!(left_visitors_are_never_admitted);

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

//! Passes others can verify: an Ed25519 pass key, its public half served as a JWKS, and rotation
//! across key kinds.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use waitroom::token::Claims;

use waitroom::domain::random_token_id;
use waitroom::token::TokenKind;

use crate::helpers::{
    config_for, config_with_keys, sign_token, spawn_config, write_keys, Answer, Backend, TestApp,
    ADMIN_TOKEN,
};
use crate::{on_both_stores, on_every_store};

/// An app whose keys directory holds the test HS256 key and the Ed25519 keys named, passes signed
/// with `pass_key`.
async fn app_with_keys(dir: &std::path::Path, ed25519: &[&str], pass_key: &str) -> TestApp {
    write_keys(dir, ed25519);
    spawn_config(config_with_keys(dir, pass_key)).await
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn jwks(app: &TestApp) -> (reqwest::header::HeaderMap, JwkSet) {
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

/// A pass collected the way a visitor does: join, be admitted, ask.
async fn collect_pass(app: &TestApp) -> (String, String) {
    app.create_event("tour", json!({})).await;
    let (joined, pass) = app.admitted_visitor("tour").await;
    (joined.token(), pass)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_booking_service_verifies_passes_with_the_jwks_alone() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_keys(dir.path(), &["passes-1"], "passes-1").await;
    let (headers, keys) = jwks(&app).await;
    assert_eq!(headers["content-type"], "application/jwk-set+json");
    assert_eq!(headers["cache-control"], "public, max-age=300");
    assert_eq!(
        keys.keys.len(),
        1,
        "only public keys, never the HS256 secret"
    );
    let raw: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &raw["keys"][0];
    assert_eq!(
        (
            &key["kty"],
            &key["crv"],
            &key["alg"],
            &key["use"],
            &key["kid"]
        ),
        (
            &json!("OKP"),
            &json!("Ed25519"),
            &json!("EdDSA"),
            &json!("sig"),
            &json!("passes-1")
        )
    );
    assert!(key.get("d").is_none() && key.get("k").is_none(), "{key}");

    let (waiting, pass) = collect_pass(&app).await;
    assert_eq!(
        header(&waiting)["alg"],
        "HS256",
        "waiting tokens stay HS256"
    );
    assert_eq!(header(&pass)["alg"], "EdDSA");
    assert_eq!(header(&pass)["kid"], "passes-1");

    // The booking service: the JWKS and a JWT library, no secret.
    let jwk = keys.find("passes-1").unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["tour"]);
    validation.set_issuer(&["waitroom"]);
    let claims =
        jsonwebtoken::decode::<Claims>(&pass, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("the pass verifies with the published key")
            .claims;
    assert_eq!(claims.pos, 1);

    // And waitroom itself accepts it everywhere a pass goes.
    assert_eq!(app.gate("tour", &pass).await.status.as_u16(), 204);
    let verified = app.verify(json!({ "token": pass, "event": "tour" })).await;
    assert_eq!(verified.body["admitted"], true, "{}", verified.body);
    assert_eq!(verified.body["kind"], "pass");
}

/// Rotating from one Ed25519 key to another: passes of the old key verify for as long as its file
/// stays, the JWKS lists both, and new passes use the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_of_a_rotated_key_verify_until_it_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let before = app_with_keys(dir.path(), &["old"], "old").await;
    let (_, old_pass) = collect_pass(&before).await;

    let after = app_with_keys(dir.path(), &["old", "new"], "new").await;
    let (_, keys) = jwks(&after).await;
    let mut kids: Vec<_> = keys
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    kids.sort();
    assert_eq!(kids, ["new", "old"]);
    let (_, new_pass) = collect_pass(&after).await;
    assert_eq!(header(&new_pass)["kid"], "new");
    assert_eq!(after.gate("tour", &old_pass).await.status.as_u16(), 204);

    std::fs::remove_file(dir.path().join("old.pem")).unwrap();
    let without_old = app_with_keys(dir.path(), &["new"], "new").await;
    without_old.create_event("tour", json!({})).await;
    let refused = without_old.gate("tour", &old_pass).await;
    refused.assert_problem(401, "invalid-token");
    assert_eq!(refused.body["reason"], "unknown-kid");
    assert_eq!(
        without_old.gate("tour", &new_pass).await.status.as_u16(),
        204
    );
}

const SERVICE_TOKEN: &str = "test-service-token-0123456789";

/// An app with a booking-service credential, an event with single-use passes (or not), and two
/// admitted visitors' passes.
async fn single_use_app(backend: Backend, single_use: bool) -> (TestApp, Vec<String>) {
    let mut config = config_for(backend, &format!("t{}", random_token_id()));
    config.service_token = Some(SERVICE_TOKEN.into());
    let app = spawn_config(config).await;
    app.create_event("tour", json!({ "single_use_passes": single_use }))
        .await;
    let visitors = [
        app.join("tour").await,
        app.join("tour").await,
        app.join("tour").await,
    ];
    app.advance("tour", 2).await;
    let mut passes = Vec::new();
    for visitor in &visitors[..2] {
        let status = app.status("tour", &visitor.token()).await;
        passes.push(status.body["pass"].as_str().expect("a pass").to_owned());
    }
    passes.push(visitors[2].token());
    (app, passes)
}

async fn consume(app: &TestApp, token: &str, body: Value) -> Answer {
    app.send(
        app.client
            .post(app.url("/v1/passes/consume"))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

on_both_stores!(
    a_pass_is_consumed_once_however_many_ask,
    the_gate_lets_a_single_use_pass_in_once
);

async fn a_pass_is_consumed_once_however_many_ask(backend: Backend) {
    let (app, passes) = single_use_app(backend, true).await;
    let first = consume(
        &app,
        SERVICE_TOKEN,
        json!({ "pass": passes[0], "event": "tour" }),
    )
    .await;
    assert_eq!(first.status.as_u16(), 200, "{}", first.body);
    assert_eq!(first.body["position"], 1);
    assert!(first.body["visitor"]
        .as_str()
        .is_some_and(|v| v.starts_with("v_")));
    consume(&app, SERVICE_TOKEN, json!({ "pass": passes[0] }))
        .await
        .assert_problem(409, "pass-used");

    // Twenty at once: exactly one wins, decided by the store.
    let racing: Vec<_> = (0..20)
        .map(|_| consume(&app, SERVICE_TOKEN, json!({ "pass": passes[1] })))
        .collect();
    let answers = futures_util::future::join_all(racing).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );

    // Not a pass, not genuine, not the caller's to consume.
    consume(&app, SERVICE_TOKEN, json!({ "pass": passes[2] }))
        .await
        .assert_problem(400, "not-a-pass");
    consume(
        &app,
        SERVICE_TOKEN,
        json!({ "pass": format!("{}x", passes[1]) }),
    )
    .await
    .assert_problem(401, "invalid-token");
    consume(
        &app,
        SERVICE_TOKEN,
        json!({ "pass": passes[1], "event": "other" }),
    )
    .await
    .assert_problem(401, "invalid-token");
    consume(&app, "wrong-token-0123456789", json!({ "pass": passes[1] }))
        .await
        .assert_problem(401, "unauthorized");
    let expired = sign_token(TokenKind::Pass, "tour", 2, 1_000, 60);
    consume(&app, SERVICE_TOKEN, json!({ "pass": expired }))
        .await
        .assert_problem(401, "token-expired");
    // The admin token may too; the service token may not reach the admin API.
    consume(&app, ADMIN_TOKEN, json!({ "pass": passes[0] }))
        .await
        .assert_problem(409, "pass-used");
    app.send(
        app.client
            .get(app.url("/v1/admin/events"))
            .bearer_auth(SERVICE_TOKEN),
    )
    .await
    .assert_problem(401, "unauthorized");
    // complete takes the service token.
    let completed = app
        .send(
            app.client
                .post(app.url("/v1/events/tour/complete"))
                .bearer_auth(SERVICE_TOKEN)
                .json(&json!({ "token": passes[0] })),
        )
        .await;
    assert_eq!(completed.status.as_u16(), 200, "{}", completed.body);
}

/// One admission of a single-use event: its holder asks for the pass every second for a minute (a
/// new pass, with a new id, every five seconds) and hands each one on. Exactly one person gets in:
/// one 204 from the gate or one 200 from consume, over every pass of the admission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_admission_lets_one_person_in_however_many_passes_it_hands_out() {
    let (app, _) = single_use_app(Backend::Redis, true).await;
    let holder = app.join("tour").await;
    // Past the third visitor the set-up left waiting.
    app.advance("tour", 2).await;
    let (mut passes, mut let_in) = (std::collections::BTreeSet::new(), Vec::new());
    for second in 0..60 {
        let status = app.status("tour", &holder.token()).await;
        let pass = status.body["pass"].as_str();
        let pass = pass.unwrap_or_else(|| panic!("a pass at {second} s: {}", status.body));
        let pass = pass.to_owned();
        passes.insert(
            crate::helpers::claims(&pass)["jti"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        let in_ = if second % 2 == 0 {
            app.gate("tour", &pass).await.status.as_u16() == 204
        } else {
            let consumed = consume(&app, SERVICE_TOKEN, json!({ "pass": pass })).await;
            consumed.status.as_u16() == 200
        };
        if in_ {
            let_in.push(second);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    assert!(passes.len() >= 10, "new passes were handed out: {passes:?}");
    assert_eq!(let_in, vec![0], "one person in, with the first pass");
}

async fn the_gate_lets_a_single_use_pass_in_once(backend: Backend) {
    let (app, passes) = single_use_app(backend, true).await;
    assert_eq!(app.gate("tour", &passes[0]).await.status.as_u16(), 204);
    let again = app.gate("tour", &passes[0]).await;
    again.assert_problem(401, "pass-used");
    // A waiting token the pointer passed is no pass.
    let admitted_waiting = app.join("tour").await;
    app.advance("tour", 2).await;
    app.gate("tour", &admitted_waiting.token())
        .await
        .assert_problem(401, "not-a-pass");
    // A pass the gate consumed cannot be consumed again by the booking service, and verify says
    // what the gate says.
    consume(&app, SERVICE_TOKEN, json!({ "pass": passes[0] }))
        .await
        .assert_problem(409, "pass-used");
    let verdict = app
        .verify(json!({ "token": passes[0], "event": "tour" }))
        .await;
    assert_eq!(
        (&verdict.body["admitted"], &verdict.body["refusal"]),
        (&json!(false), &json!("pass-used")),
        "{}",
        verdict.body
    );
    let unused = app.verify(json!({ "token": passes[1] })).await;
    assert_eq!(unused.body["admitted"], true, "{}", unused.body);

    // Without the setting, passes stay reusable until they expire.
    let (reusable, passes) = single_use_app(backend, false).await;
    for _ in 0..3 {
        assert_eq!(reusable.gate("tour", &passes[0]).await.status.as_u16(), 204);
    }
    // One the booking service consumed all the same is used for verify too.
    let consumed = consume(&reusable, SERVICE_TOKEN, json!({ "pass": passes[1] })).await;
    assert_eq!(consumed.status.as_u16(), 200, "{}", consumed.body);
    let verdict = reusable.verify(json!({ "token": passes[1] })).await;
    assert_eq!(verdict.body["refusal"], "pass-used", "{}", verdict.body);
}

on_both_stores!(the_hand_over_sets_the_pass_on_the_sites_domain);

/// Cross-origin hand-over: the site's edge proxies its claim path to waitroom, which turns the pass
/// in the address into a cookie on the site's domain and sends the visitor on.
async fn the_hand_over_sets_the_pass_on_the_sites_domain(backend: Backend) {
    let app = spawn_config(config_for(backend, &format!("t{}", random_token_id()))).await;
    app.create_event(
        "tour",
        json!({
            "target_url": "https://tickets.example.com/_waitroom/claim",
            "allowed_origins": ["https://shop.example.com"],
        }),
    )
    .await;
    let visitor = app.join("tour").await;
    app.advance("tour", 1).await;
    // Coming back to the page after the turn came: the join answer carries the pass, so the page
    // moves on rather than waiting forever.
    let back = app.join_with("tour", &visitor.token()).await;
    assert_eq!(back.body["status"], "admitted", "{}", back.body);
    let pass = back.body["pass"]
        .as_str()
        .expect("a pass with the join")
        .to_owned();
    assert_eq!(
        back.body["target_url"],
        "https://tickets.example.com/_waitroom/claim"
    );

    let claim = |query: String| {
        app.send(
            app.client
                .get(app.url(&format!("/v1/events/tour/claim?{query}"))),
        )
    };
    let handed = claim(format!("waitroom_pass={pass}&to=%2Fcheckout%3Fseat%3D4")).await;
    assert_eq!(handed.status.as_u16(), 303, "{}", handed.body);
    assert_eq!(handed.headers["location"], "/checkout?seat=4");
    assert_eq!(handed.headers["referrer-policy"], "no-referrer");
    let cookie = handed.cookie().expect("the pass cookie");
    assert!(
        cookie.starts_with(&format!("waitroom_tour.pass={pass};")),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    // The edge's gate takes the pass from that cookie.
    let gate = app
        .send(
            app.client
                .get(app.url("/v1/events/tour/gate"))
                .header("cookie", format!("waitroom_tour.pass={pass}")),
        )
        .await;
    assert_eq!(gate.status.as_u16(), 204);

    let elsewhere = claim(format!(
        "waitroom_pass={pass}&to=https%3A%2F%2Fshop.example.com%2Fbasket"
    ))
    .await;
    assert_eq!(
        elsewhere.headers["location"],
        "https://shop.example.com/basket"
    );
    assert_eq!(
        claim(format!("waitroom_pass={pass}")).await.headers["location"],
        "/"
    );
    claim(format!(
        "waitroom_pass={pass}&to=https%3A%2F%2Fevil.example%2F"
    ))
    .await
    .assert_problem(400, "invalid-request");
    claim(format!("waitroom_pass={pass}&to=%2F%2Fevil.example%2F"))
        .await
        .assert_problem(400, "invalid-request");
    claim(format!("waitroom_pass={}", visitor.token()))
        .await
        .assert_problem(400, "not-a-pass");
    claim(format!("waitroom_pass={pass}x"))
        .await
        .assert_problem(401, "invalid-token");
    claim("to=%2F".into())
        .await
        .assert_problem(401, "missing-token");
    let other_event = sign_token(TokenKind::Pass, "other", 1, waitroom::clock::unix_s(), 60);
    claim(format!("waitroom_pass={other_event}"))
        .await
        .assert_problem(401, "invalid-token");
}

/// A lane's pass is checked as docs/EDGE.md says, by a JWT library that is not the project's
/// (PyJWT, as a Python booking service would): `aud` is the event, the lane has its own claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_pass_names_its_event_as_audience_for_any_jwt_library() {
    let app = crate::helpers::spawn_app(Backend::Memory).await;
    app.create_event(
        "tour",
        json!({ "batch_size": 0, "lanes": [
            { "name": "public", "share": 50 }, { "name": "members", "share": 50 }
        ] }),
    )
    .await;
    let member = app
        .admin(
            reqwest::Method::POST,
            "/v1/admin/events/tour/join",
            Some(json!({ "visitor": "member-7", "lane": "members" })),
        )
        .await;
    assert_eq!(member.status.as_u16(), 201, "{}", member.body);
    app.join("tour").await;
    app.advance("tour", 2).await;
    let admitted = app.status("tour", &member.token()).await;
    assert_eq!(admitted.body["status"], "admitted", "{}", admitted.body);
    assert_eq!(admitted.body["lane"], "members");
    let pass = admitted.body["pass"].as_str().unwrap().to_owned();
    let script = r#"
import base64, json, sys, jwt
key = base64.b64decode(sys.argv[2])
claims = jwt.decode(sys.argv[1], key, algorithms=["HS256"], audience="tour", issuer="waitroom")
try:
    jwt.decode(sys.argv[1], key, algorithms=["HS256"], audience="tour~members", issuer="waitroom")
    sys.exit("a lane's line as audience was accepted")
except jwt.InvalidAudienceError:
    pass
print(json.dumps(claims))
"#;
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/pyjwt/bin/python");
    let checked = tokio::process::Command::new(python)
        .args(["-c", script, &pass, crate::helpers::KEY_B64])
        .output()
        .await
        .expect("PyJWT, installed by scripts/install-test-deps.sh");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let claims: Value = serde_json::from_slice(&checked.stdout).unwrap();
    assert_eq!(claims["aud"], "tour");
    assert_eq!(claims["lane"], "members");
    assert_eq!(claims["kind"], "pass");
    assert_eq!(claims["sub"], "member-7");
    // The project's own verify and gate read the lane from the claim.
    let verified = app
        .send(
            app.client
                .post(app.url("/v1/verify"))
                .json(&json!({ "token": pass, "event": "tour" })),
        )
        .await;
    assert_eq!(verified.body["admitted"], true, "{}", verified.body);
    assert_eq!(verified.body["lane"], "members", "{}", verified.body);
}

on_every_store!(a_pass_used_at_the_gate_is_renewed_up_to_the_events_maximum);

/// The gate with the pass in the site's cookie, as the edge asks it: its status and the pass it
/// renewed, if it did (the `Set-Cookie` of the 204).
async fn through_the_gate(app: &TestApp, event: &str, pass: &str) -> (u16, Option<String>) {
    let answer = app
        .send(
            app.client
                .get(app.url(&format!("/v1/events/{event}/gate")))
                .header("cookie", format!("waitroom_{event}.pass={pass}")),
        )
        .await;
    let name = format!("waitroom_{event}.pass=");
    let renewed = answer.cookie().and_then(|cookie| {
        let value = cookie.strip_prefix(&name)?;
        Some(value[..value.find(';').unwrap_or(value.len())].to_owned())
    });
    (answer.status.as_u16(), renewed)
}

/// Session renewal: an admitted visitor who keeps using the site keeps the admission. A pass used
/// at the gate with less than half its lifetime (10 s) left comes back renewed for another 10 s,
/// never past the event's maximum (16 s after the first collection); meanwhile the visitor's slot
/// of the capacity stays held past the first pass's end; the old pass still ends when it did. An
/// event without renewal never renews, and a completed visit is not renewed. The booking service's
/// verify renews as the gate does.
async fn a_pass_used_at_the_gate_is_renewed_up_to_the_events_maximum(backend: Backend) {
    let mut config = config_for(backend, &format!("t{}", random_token_id()));
    config.service_token = Some(SERVICE_TOKEN.into());
    let app = spawn_config(config).await;
    let settings =
        json!({ "batch_size": 0, "pass_ttl_s": 10, "max_active": 5, "pass_renewal_max_s": 16 });
    app.create_event("slow", settings).await;
    app.create_event("fixed", json!({ "batch_size": 0, "pass_ttl_s": 10 }))
        .await;
    app.admin(
        reqwest::Method::PUT,
        "/v1/admin/events/fixed",
        Some(json!({ "pass_renewal_max_s": 5 })),
    )
    .await
    .assert_problem(400, "invalid-settings");

    // Without renewal: a pass about to end is let in as it is.
    let (fixed, _) = app.admitted_visitor("fixed").await;
    let ending = sign_token(TokenKind::Pass, "fixed", fixed.position(), now() - 8, 10);
    assert_eq!(through_the_gate(&app, "fixed", &ending).await, (204, None));

    let (_, first) = app.admitted_visitor("slow").await;
    let first_end = claims(&first).exp;
    assert_eq!(
        through_the_gate(&app, "slow", &first).await,
        (204, None),
        "more than half its lifetime left"
    );
    sleep_until(first_end - 4).await;
    let (status, renewed) = through_the_gate(&app, "slow", &first).await;
    assert_eq!(status, 204);
    let renewed = renewed.expect("a renewed pass");
    let renewed_claims = claims(&renewed);
    assert_eq!(renewed_claims.exp, first_end + 6, "the event's maximum");
    assert_eq!(renewed_claims.kind, TokenKind::Pass);
    assert_eq!(renewed_claims.pos, claims(&first).pos);

    sleep_until(first_end + 1).await;
    assert_eq!(app.show("slow").await.active, 1, "the slot is still held");
    assert_eq!(through_the_gate(&app, "slow", &first).await.0, 401);
    assert_eq!(
        through_the_gate(&app, "slow", &renewed).await,
        (204, None),
        "no further than the maximum"
    );

    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains(r#"waitroom_pass_renewals_total{result="renewed"} 1"#),
        "{metrics}"
    );

    // A booking service that verifies passes itself gets the renewed pass in the verdict.
    let (verified, _) = app.admitted_visitor("slow").await;
    let ending = sign_token(TokenKind::Pass, "slow", verified.position(), now() - 8, 10);
    let verdict = app.verify(json!({ "token": ending })).await;
    assert_eq!(verdict.body["admitted"], true, "{}", verdict.body);
    let renewed = verdict.body["renewed_pass"]
        .as_str()
        .expect("a renewed pass");
    assert!(claims(renewed).exp >= now() + 9);
    assert_eq!(
        verdict.body["renewed_expires_at"],
        waitroom::clock::rfc3339(claims(renewed).exp)
    );
    let fresh = app.verify(json!({ "token": renewed })).await;
    assert!(fresh.body.get("renewed_pass").is_none(), "{}", fresh.body);

    // A completed visit is not renewed (nor let in).
    let (done, pass) = app.admitted_visitor("slow").await;
    let answer = app
        .send(
            app.client
                .post(app.url("/v1/events/slow/complete"))
                .bearer_auth(SERVICE_TOKEN)
                .json(&json!({ "token": pass })),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    let ending = sign_token(TokenKind::Pass, "slow", done.position(), now() - 8, 10);
    assert_eq!(through_the_gate(&app, "slow", &ending).await, (401, None));
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(token: &str) -> Claims {
    serde_json::from_value(crate::helpers::claims(token)).unwrap()
}

/// Sleeps until the clock reads `at` (unix seconds) or later.
async fn sleep_until(at: i64) {
    let left_ms = (at * 1_000 - chrono::Utc::now().timestamp_millis()).max(0);
    tokio::time::sleep(std::time::Duration::from_millis(left_ms as u64 + 50)).await;
}

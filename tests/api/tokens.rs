use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use waitroom::domain::{EventId, VisitorId};
use waitroom::keys::KeySet;
use waitroom::token::{TokenKind, Tokens};

use crate::helpers::{base_config, spawn_app, spawn_config, Backend, KEY_B64, KEY_ID};
use crate::on_both_stores;

on_both_stores!(bad_tokens_are_refused);

fn sign_with(kid: &str, secret_b64: &str, issuer: &str, event: &str, kind: TokenKind) -> String {
    let keys = KeySet::from_pairs([(kid, secret_b64)], None).unwrap();
    Tokens::new(&keys, issuer)
        .sign(
            kind,
            &EventId::parse(event).unwrap().into(),
            &VisitorId::generate(),
            1,
            chrono::Utc::now().timestamp(),
            600,
        )
        .0
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

async fn bad_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_event("tour", json!({})).await;
    app.create_event("other", json!({})).await;
    let genuine = app.join("tour").await.token();
    app.advance("tour", 1).await;
    let parts = segments(&genuine);

    let other_secret = "b3RoZXItZGVwbG95bWVudHMtc2VjcmV0LWtleS0zMmJ5dGVz";
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    let tampered_payload = URL_SAFE_NO_PAD.encode(payload.replace("\"pos\":1", "\"pos\":0"));
    let none_header =
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{KEY_ID}"}}"#));
    let hs512_header =
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS512","typ":"JWT","kid":"{KEY_ID}"}}"#));
    let no_kid_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "forged with another key under our kid",
            sign_with(KEY_ID, other_secret, "waitroom", "tour", TokenKind::Pass),
            "bad-signature",
        ),
        (
            "tampered payload",
            format!("{}.{}.{}", parts[0], tampered_payload, parts[2]),
            "bad-signature",
        ),
        (
            "signature stripped",
            format!("{}.{}.", parts[0], parts[1]),
            "bad-signature",
        ),
        (
            "alg none",
            format!("{none_header}.{}.", parts[1]),
            "unsupported-algorithm",
        ),
        (
            "alg none, signature kept",
            format!("{none_header}.{}.{}", parts[1], parts[2]),
            "unsupported-algorithm",
        ),
        (
            "alg HS512",
            format!("{hs512_header}.{}.{}", parts[1], parts[2]),
            "unsupported-algorithm",
        ),
        (
            "no kid",
            format!("{no_kid_header}.{}.{}", parts[1], parts[2]),
            "missing-kid",
        ),
        (
            "unknown kid",
            sign_with(
                "someone-else",
                other_secret,
                "waitroom",
                "tour",
                TokenKind::Pass,
            ),
            "unknown-kid",
        ),
        (
            "foreign issuer",
            sign_with(KEY_ID, KEY_B64, "not-waitroom", "tour", TokenKind::Pass),
            "wrong-issuer",
        ),
        (
            "another event's token",
            sign_with(KEY_ID, KEY_B64, "waitroom", "other", TokenKind::Pass),
            "wrong-event",
        ),
        ("garbage", "not.a.jwt".to_owned(), "malformed"),
        ("empty segments", "..".to_owned(), "malformed"),
    ];
    for (what, token, reason) in cases {
        for answer in [
            app.status("tour", &token).await,
            app.gate("tour", &token).await,
        ] {
            answer.assert_problem(401, "invalid-token");
            assert_eq!(answer.body["reason"], reason, "{what}: {}", answer.body);
            assert_eq!(answer.headers["www-authenticate"], "Bearer");
        }
        let verified = app.verify(json!({ "token": token, "event": "tour" })).await;
        verified.assert_problem(401, "invalid-token");
        assert_eq!(verified.body["reason"], reason, "{what}");
    }
    // The genuine token still works: the refusals above were about the tokens, not the app.
    assert_eq!(app.gate("tour", &genuine).await.status.as_u16(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_retired_key_verify_during_rotation() {
    let old = spawn_app(Backend::Memory).await;
    old.create_event("tour", json!({})).await;
    let old_token = old.join("tour").await.token();

    // The new deployment signs with a new key but still knows the old one.
    let mut config = base_config();
    let new_secret = "bmV3LXNpZ25pbmcta2V5LWFmdGVyLXJvdGF0aW9uLTMyYg==";
    config.signing_keys = [
        (KEY_ID.to_owned(), KEY_B64.into()),
        ("next".to_owned(), new_secret.into()),
    ]
    .into();
    config.active_key = Some("next".into());
    let new = spawn_config(config).await;
    new.create_event("tour", json!({})).await;

    let checked = new.verify(json!({ "token": old_token })).await;
    assert_eq!(checked.status.as_u16(), 200, "{}", checked.body);
    let fresh = new.join("tour").await.token();
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(segments(&fresh)[0].as_bytes())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], "next");
    assert_eq!(header["alg"], "HS256");
}

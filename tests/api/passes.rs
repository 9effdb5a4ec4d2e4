//! Passes others can verify: an Ed25519 pass key, its public half served as a JWKS, and rotation
//! across key kinds.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use waitroom::token::Claims;

use crate::helpers::{base_config, spawn_config, TestApp, KEY_B64, KEY_ID};

/// An app whose keys directory holds the test HS256 key and the Ed25519 keys named, passes signed
/// with `pass_key`.
async fn app_with_keys(dir: &std::path::Path, ed25519: &[&str], pass_key: &str) -> TestApp {
    std::fs::write(dir.join(format!("{KEY_ID}.key")), KEY_B64).unwrap();
    for kid in ed25519 {
        let path = dir.join(format!("{kid}.pem"));
        if !path.exists() {
            std::fs::write(path, waitroom::keys::generate_ed25519_pem()).unwrap();
        }
    }
    let mut config = base_config();
    config.signing_keys.clear();
    config.keys_dir = Some(dir.to_owned());
    config.active_key = Some(KEY_ID.into());
    config.pass_key = Some(pass_key.into());
    spawn_config(config).await
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
    let joined = app.join("tour").await;
    app.advance("tour", 1).await;
    let status = app.status("tour", &joined.token()).await;
    let pass = status.body["pass"].as_str().expect("a pass").to_owned();
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

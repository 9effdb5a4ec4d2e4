//! Property tests of what the network sends: tokens (any text, any header, any claims, signed or
//! not), event and visitor ids, admin bodies, cookies, configuration values. None may panic, and
//! every refusal is a typed error. `a_million_tokens` is the long run, outside the normal suite:
//! `cargo test --release --test api properties::a_million_tokens -- --ignored --nocapture`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestRunner};
use serde_json::{Map, Value};
use waitroom::domain::{EventId, EventSettings, Patch, VisitorId};
use waitroom::keys::KeySet;
use waitroom::token::{TokenError, Tokens};

use crate::helpers::{ISSUER, KEY_B64, KEY_ID};

fn tokens() -> Tokens {
    Tokens::new(
        &KeySet::from_pairs([(KEY_ID, KEY_B64)], None).unwrap(),
        ISSUER,
    )
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
        Just(Value::from(EVENT)),
        Just(Value::from(ISSUER)),
        Just(Value::from(waitroom::clock::unix_s() + 600)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Objects with the claim names a token has (and others), each holding anything.
fn claims() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        Just("iss".to_owned()),
        Just("aud".to_owned()),
        Just("sub".to_owned()),
        Just("pos".to_owned()),
        Just("iat".to_owned()),
        Just("exp".to_owned()),
        Just("jti".to_owned()),
        Just("kind".to_owned()),
        "[a-z]{1,6}",
    ];
    let arbitrary = prop::collection::btree_map(name.clone(), json_value(), 0..10)
        .prop_map(|map| Value::Object(map.into_iter().collect::<Map<_, _>>()));
    // A genuine token's claims with one of them changed into anything: near misses.
    let near_miss = (name, json_value()).prop_map(|(name, value)| {
        let now = waitroom::clock::unix_s();
        let mut claims = serde_json::json!({
            "iss": ISSUER, "aud": EVENT, "sub": "v_0123456789abcdef0123456789abcdef",
            "pos": 7, "iat": now, "exp": now + 600, "jti": "0123456789abcdef", "kind": "waiting",
        });
        claims[name] = value;
        claims
    });
    prop_oneof![arbitrary, near_miss]
}

fn headers() -> impl Strategy<Value = Value> {
    let alg = prop_oneof![
        Just(Value::from("HS256")),
        Just(Value::from("none")),
        Just(Value::from("EdDSA")),
        Just(Value::from("RS256")),
        json_leaf(),
    ];
    let kid = prop_oneof![Just(Value::from(KEY_ID)), json_leaf()];
    (alg, kid, json_value()).prop_map(
        |(alg, kid, extra)| serde_json::json!({ "alg": alg, "kid": kid, "typ": "JWT", "x": extra }),
    )
}

const EVENT: &str = "tour";

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Signs `claims` with the test key, whatever they hold.
fn signed(claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(KEY_ID.to_owned());
    let secret = base64::engine::general_purpose::STANDARD
        .decode(KEY_B64)
        .unwrap();
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap()
}

/// The checks every verification must pass: refused with a typed error, or accepted only with
/// claims that hold together.
fn verified_soundly(tokens: &Tokens, token: &str) -> Result<(), TestCaseError> {
    let event = EventId::parse(EVENT).unwrap();
    let now = waitroom::clock::unix_s();
    match tokens.verify(token, Some(&event), now) {
        Ok(claims) => {
            prop_assert_eq!(&claims.aud, EVENT);
            prop_assert_eq!(&claims.iss, ISSUER);
            prop_assert!(claims.exp > now);
        }
        Err(e) => {
            // A stable reason for every refusal.
            prop_assert!(!e.reason().is_empty());
            if let TokenError::UnknownKid(kid) = &e {
                prop_assert!(kid.chars().count() <= 64, "an unknown kid is echoed short");
            }
        }
    }
    Ok(())
}

fn cases(count: u32) -> Cases {
    Cases {
        cases: count,
        failure_persistence: None,
        ..Cases::default()
    }
}

/// Any text, any header and claims with any signature, and any claims signed with the real key.
fn token_cases(count: u32) {
    let tokens = tokens();
    let mut runner = TestRunner::new(cases(count));
    runner
        .run(&".{0,300}", |text| {
            prop_assert!(tokens.verify(&text, None, 0).is_err());
            Ok(())
        })
        .unwrap();
    let forged = (headers(), claims(), "[A-Za-z0-9_-]{0,60}");
    let mut runner = TestRunner::new(cases(count));
    runner
        .run(&forged, |(header, claims, signature)| {
            let token = format!("{}.{}.{signature}", b64(&header), b64(&claims));
            prop_assert!(
                tokens.verify(&token, None, 0).is_err(),
                "a forged token passed"
            );
            Ok(())
        })
        .unwrap();
    let mut runner = TestRunner::new(cases(count));
    runner
        .run(&claims(), |claims| {
            verified_soundly(&tokens, &signed(&claims))
        })
        .unwrap();
}

#[test]
fn tokens_are_refused_soundly_whatever_they_hold() {
    token_cases(2_000);
}

/// The long run: a million cases of each kind of token.
#[test]
#[ignore = "a long run (minutes), outside the normal suite"]
fn a_million_tokens() {
    let started = std::time::Instant::now();
    token_cases(1_000_000);
    println!(
        "3 x 1,000,000 token cases in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn ids_are_accepted_only_as_documented(raw in ".{0,200}") {
        if let Ok(id) = EventId::parse(&raw) {
            prop_assert!((1..=64).contains(&id.as_str().len()));
            prop_assert!(id.as_str().chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)));
        }
        if let Ok(id) = VisitorId::parse(&raw) {
            prop_assert!((1..=128).contains(&id.as_str().len()));
        }
    }

    #[test]
    fn admin_bodies_are_settings_or_a_typed_refusal(body in json_value()) {
        let base = EventSettings::default();
        if let Ok(patch) = Patch::<EventSettings>::try_from(body) {
            if let Ok(Ok(settings)) = patch.apply(&base).map(|next| next.after(&base, 0)) {
                // What is stored reads back as it was.
                let stored = serde_json::to_string(&settings).unwrap();
                prop_assert_eq!(serde_json::from_str::<EventSettings>(&stored).unwrap(), settings);
            }
        }
    }

    #[test]
    fn any_cookie_header_is_read_without_panic(cookie in ".{0,300}", authorization in ".{0,80}") {
        let mut headers = actix_web::http::header::HeaderMap::new();
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&cookie) {
            headers.insert(actix_web::http::header::COOKIE, value);
        }
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&authorization) {
            headers.insert(actix_web::http::header::AUTHORIZATION, value);
        }
        let _ = waitroom::routes::extract::presented_token(&headers, "waitroom_", EVENT);
    }
}

proptest! {
    #![proptest_config(cases(300))]

    /// Any value under any key of the configuration file: a configuration, or an error naming why.
    #[test]
    fn configuration_values_are_checked_not_trusted(
        key in prop_oneof![
            Just("listen"), Just("workers"), Just("redis_url"), Just("pointer_poll_ms"),
            Just("trusted_proxies"), Just("max_streams"), Just("cookie_prefix"),
            Just("admin_token"), Just("drain_chunk"), Just("ready_stale_after_ms"),
        ],
        value in json_leaf(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("waitroom.toml");
        let toml_value = match &value {
            Value::String(s) => toml_string(s),
            Value::Null => "\"\"".to_owned(),
            other => other.to_string(),
        };
        std::fs::write(&file, format!("{key} = {toml_value}\n")).unwrap();
        if let Err(e) = waitroom::config::Config::load(Some(&file)) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

fn toml_string(raw: &str) -> String {
    let mut quoted = String::from("\"");
    for c in raw.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

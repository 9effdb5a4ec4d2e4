//! Cold token checks: what verifying a token costs when no worker remembers it (a crowd larger than
//! the token memory), in-process, against `jsonwebtoken::decode` on the same tokens.

use std::time::Instant;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use waitroom::domain::{EventId, LineId, VisitorId};
use waitroom::keys::KeySet;
use waitroom::token::{Claims, TokenKind, Tokens};

use crate::report::Row;

pub fn cold_checks(secret: &str, count: u64) -> Vec<Row> {
    let keys = KeySet::from_pairs([("bench", secret)], Some("bench")).expect("the bench's key");
    let tokens = Tokens::new(&keys, "waitroom").with_memory(0);
    let event = LineId::from(EventId::parse("bench").expect("an event"));
    let now = waitroom::clock::unix_s();
    let signed: Vec<String> = (0..count)
        .map(|n| {
            let visitor = VisitorId::generate();
            tokens
                .sign(TokenKind::Waiting, &event, &visitor, n + 1, now, 3_600)
                .0
        })
        .collect();

    let started = Instant::now();
    for token in &signed {
        tokens
            .verify(token, Some(event.event()), now)
            .expect("a genuine token");
    }
    let ours = started.elapsed().as_nanos() as f64 / count as f64;

    use base64::Engine;
    let secret_bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .expect("a base64 key");
    let key = DecodingKey::from_secret(&secret_bytes);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["bench"]);
    validation.set_issuer(&["waitroom"]);
    let started = Instant::now();
    for token in &signed {
        jsonwebtoken::decode::<Claims>(token, &key, &validation).expect("a genuine token");
    }
    let theirs = started.elapsed().as_nanos() as f64 / count as f64;
    let sha = if waitroom::token::sha_extensions() {
        "with"
    } else {
        "without"
    };
    vec![Row::figure(
        "cold token check",
        ours,
        "ns/check",
        format!(
            "{count} distinct waiting tokens, none remembered, one thread, {sha} SHA extensions; \
             jsonwebtoken::decode on the same tokens: {theirs:.0} ns ({:.2} × ours)",
            theirs / ours
        ),
    )]
}

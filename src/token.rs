//! The token format: HS256 JWTs that carry a visitor's place, so any replica can answer from the token alone.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::{random_token_id, EventId, VisitorId};
use crate::keys::KeySet;

/// What a token entitles its holder to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A place in line.
    Waiting,
    /// A short-lived admission pass for the target site.
    Pass,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The event the token belongs to.
    pub aud: String,
    /// The visitor.
    pub sub: String,
    /// The visitor's position in the event's line, starting at 1.
    pub pos: u64,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub kind: TokenKind,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is signed with {0}; only HS256 is accepted")]
    UnsupportedAlgorithm(String),
    #[error("the token has no key id (`kid`)")]
    MissingKid,
    #[error("the token's key id `{0}` is not one of this deployment's keys")]
    UnknownKid(String),
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token belongs to another event")]
    WrongEvent,
    #[error("the token expired")]
    Expired(Box<Claims>),
}

impl TokenError {
    /// A short stable label, used in problem types and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::UnsupportedAlgorithm(_) => "unsupported-algorithm",
            TokenError::MissingKid => "missing-kid",
            TokenError::UnknownKid(_) => "unknown-kid",
            TokenError::BadSignature => "bad-signature",
            TokenError::WrongIssuer => "wrong-issuer",
            TokenError::WrongEvent => "wrong-event",
            TokenError::Expired(_) => "expired",
        }
    }
}

/// Signs and verifies tokens with a [`KeySet`].
pub struct Tokens {
    issuer: String,
    active_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    /// Built once: making one per check allocated several sets on the hottest path.
    validation: Validation,
}

impl Tokens {
    pub fn new(keys: &KeySet, issuer: &str) -> Self {
        // Exactly one jsonwebtoken backend is compiled in; installing it explicitly keeps a future
        // dependency that enables another backend from making the choice ambiguous.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked after decoding, so an expired token can still say which place it held;
        // the event (audience) too, since it differs from call to call.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        Self {
            validation,
            issuer: issuer.to_owned(),
            active_kid: keys.active_kid().to_owned(),
            encoding: EncodingKey::from_secret(keys.active_secret().expose()),
            decoding: keys
                .kids()
                .filter_map(|kid| {
                    let secret = keys.get(kid)?;
                    Some((kid.to_owned(), DecodingKey::from_secret(secret.expose())))
                })
                .collect(),
        }
    }

    /// Signs a token of `kind` for `visitor`'s `position` in `event`, valid `ttl_s` seconds from `now`.
    pub fn sign(
        &self,
        kind: TokenKind,
        event: &EventId,
        visitor: &VisitorId,
        position: u64,
        now: i64,
        ttl_s: u64,
    ) -> (String, Claims) {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: event.as_str().to_owned(),
            sub: visitor.as_str().to_owned(),
            pos: position,
            iat: now,
            exp: now.saturating_add(i64::try_from(ttl_s).unwrap_or(i64::MAX)),
            jti: random_token_id(),
            kind,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.active_kid.clone());
        // HMAC signing of a serialisable struct cannot fail.
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .expect("HS256 signing of plain claims");
        (token, claims)
    }

    /// Verifies `token`: signature, key id, issuer, and (when given) that it belongs to `event`.
    /// An expired but otherwise valid token yields [`TokenError::Expired`] with its claims.
    pub fn verify(
        &self,
        token: &str,
        event: Option<&EventId>,
        now: i64,
    ) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            // jsonwebtoken cannot even parse a header naming an algorithm it lacks, such as `none`;
            // say which one it was rather than just "malformed".
            match declared_algorithm(token) {
                Some(alg) if alg != "HS256" => TokenError::UnsupportedAlgorithm(alg),
                _ => TokenError::Malformed,
            }
        })?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::UnsupportedAlgorithm(format!(
                "{:?}",
                header.alg
            )));
        }
        let kid = header.kid.ok_or(TokenError::MissingKid)?;
        let key = self
            .decoding
            .get(&kid)
            .ok_or_else(|| TokenError::UnknownKid(kid.clone()))?;

        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongEvent,
                ErrorKind::InvalidAlgorithm => {
                    TokenError::UnsupportedAlgorithm("another algorithm".into())
                }
                _ => TokenError::Malformed,
            })?
            .claims;
        if event.is_some_and(|event| claims.aud != event.as_str()) {
            return Err(TokenError::WrongEvent);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired(Box::new(claims)));
        }
        Ok(claims)
    }
}

/// The `alg` a token's header names, read without trusting anything else in it.
fn declared_algorithm(token: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let segment = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(segment.trim_end_matches('=')).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let alg = header.get("alg")?.as_str()?;
    Some(alg.chars().take(16).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn tokens() -> Tokens {
        Tokens::new(&KeySet::ephemeral(), "waitroom-test")
    }

    fn event(name: &str) -> EventId {
        EventId::parse(name).unwrap()
    }

    #[test]
    fn round_trip_keeps_the_place() {
        let t = tokens();
        let v = VisitorId::generate();
        let (token, claims) = t.sign(TokenKind::Waiting, &event("e"), &v, 42, 1_000, 60);
        let back = t.verify(&token, Some(&event("e")), 1_001).unwrap();
        assert_eq!(back, claims);
        assert_eq!(back.pos, 42);
        assert_eq!(back.sub, v.as_str());
    }

    #[test]
    fn foreign_forged_and_expired_tokens_are_refused() {
        let t = tokens();
        let v = VisitorId::generate();
        let (token, _) = t.sign(TokenKind::Waiting, &event("e"), &v, 1, 1_000, 60);
        assert_eq!(
            t.verify(&token, Some(&event("other")), 1_001),
            Err(TokenError::WrongEvent)
        );
        assert!(matches!(
            t.verify(&token, Some(&event("e")), 1_060),
            Err(TokenError::Expired(c)) if c.pos == 1
        ));
        // Another deployment's key with the same kid name.
        let other = tokens();
        assert!(matches!(
            other.verify(&token, None, 1_001),
            Err(TokenError::UnknownKid(_))
        ));

        // Changing the position in the payload breaks the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let forged = URL_SAFE_NO_PAD.encode(payload.replace("\"pos\":1", "\"pos\":0"));
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert_eq!(
            t.verify(&tampered, None, 1_001),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let t = tokens();
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"x"}"#);
        let body = URL_SAFE_NO_PAD.encode(
            r#"{"iss":"waitroom-test","aud":"e","sub":"v","pos":1,"iat":0,"exp":99999999999,"jti":"j","kind":"pass"}"#,
        );
        let err = t.verify(&format!("{header}.{body}."), None, 1).unwrap_err();
        assert_eq!(err, TokenError::UnsupportedAlgorithm("none".into()));
        assert_eq!(t.verify("abc", None, 1), Err(TokenError::Malformed));
    }
}

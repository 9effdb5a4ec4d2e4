//! The token format: JWTs that carry a visitor's place, so any replica can answer from the token
//! alone. Waiting tokens are HS256 (only waitroom reads them); passes are HS256 or, with an Ed25519
//! pass key, EdDSA, which others verify with the public keys of [`Tokens::jwks`].

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::{random_token_id, EventId, LaneName, LineId, VisitorId};
use crate::keys::{Key, KeySet};
use crate::recent::Recent;

/// What a token entitles its holder to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A place in line.
    Waiting,
    /// A short-lived admission pass for the target site.
    Pass,
    /// A place in a pre-queue not drawn yet: `pos` is its arrival number, which the draw turns into
    /// a position (every replica computes which from the published seed).
    Prequeue,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Claims {
    pub iss: String,
    /// The event the token belongs to.
    pub aud: String,
    /// The priority lane the place is in, for an event with lanes (absent: the event's own line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
    /// The visitor.
    pub sub: String,
    /// The visitor's position in the event's line, starting at 1.
    pub pos: u64,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub kind: TokenKind,
    /// The arrival number a pre-queue token held, when this replica read it as the position drawn
    /// for it (never signed: see [`Claims::drawn`]).
    #[serde(skip)]
    pub drawn_from: Option<u64>,
}

impl Claims {
    /// The line the token's place is in: its event's, or its lane's. (Tokens signed before lanes
    /// had a claim of their own name the lane's line in `aud`, `event~lane`.)
    pub fn line(&self) -> Result<LineId, TokenError> {
        let line = LineId::parse_wire(&self.aud).map_err(|_| TokenError::Malformed)?;
        match &self.lane {
            None => Ok(line),
            Some(_) if line.is_lane() => Err(TokenError::Malformed),
            Some(lane) => {
                let lane = LaneName::parse(lane).map_err(|_| TokenError::Malformed)?;
                Ok(LineId::of_lane(line.event().clone(), lane))
            }
        }
    }

    /// A pre-queue token's claims read as a waiting token's at `position`, drawn for its arrival
    /// number.
    pub fn drawn(&self, position: u64) -> Claims {
        Claims {
            pos: position,
            kind: TokenKind::Waiting,
            drawn_from: Some(self.pos),
            ..self.clone()
        }
    }
}

/// Whether a token's audience is `event` or one of its lanes' lines (`event~lane`).
fn belongs_to(aud: &str, event: &EventId) -> bool {
    aud.strip_prefix(event.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('~'))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is signed with {0}, which is not its key's algorithm")]
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
    Expired(Arc<Claims>),
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
///
/// Signatures are made by `jsonwebtoken::crypto`; the token's three parts are split, decoded and
/// checked here. `jsonwebtoken::decode` would parse the header twice (once more to pick the key by
/// `kid`) and the claims twice, which made token checks the largest cost of a status check: this is
/// the hottest path of the service. HS256 signatures are checked with each key's HMAC state computed
/// once (two SHA-256 blocks saved per check) and the token decoded on the stack; EdDSA ones by
/// `jsonwebtoken::crypto`.
pub struct Tokens {
    /// Tells this instance's entries in [`VERIFIED`] from another's (tests make several).
    id: u64,
    issuer: String,
    /// Signs waiting tokens.
    waiting: Signer,
    /// Signs passes.
    pass: Signer,
    /// Every loaded key by id, with the one algorithm it is used with.
    decoding: HashMap<String, (Algorithm, Checker)>,
    /// Tokens remembered as verified per worker thread and generation (two generations).
    memory: usize,
    /// The public keys, as `GET /.well-known/jwks.json` serves them.
    jwks: String,
}

/// A key that signs, with its token header encoded once: the same for every token it signs, so a
/// token that starts with it needs no header parsing either.
struct Signer {
    kid: String,
    algorithm: Algorithm,
    header: String,
    encoding: EncodingKey,
}

impl Signer {
    fn new(kid: &str, key: &Key) -> Self {
        let mut header = Header::new(key.algorithm());
        header.kid = Some(kid.to_owned());
        let header_json = serde_json::to_vec(&header).expect("a JWT header serialises");
        Self {
            kid: kid.to_owned(),
            algorithm: key.algorithm(),
            header: URL_SAFE_NO_PAD.encode(header_json),
            encoding: match key {
                Key::Hmac(secret) => EncodingKey::from_secret(secret.expose()),
                Key::Ed25519 { pkcs8, .. } => EncodingKey::from_ed_der(pkcs8.expose()),
            },
        }
    }
}

/// How a key's signatures are checked.
enum Checker {
    /// HMAC-SHA256, keyed once: each check clones the state and hashes the token alone.
    Hmac(Hmac<Sha256>),
    Public(DecodingKey),
}

/// A key as a JWKS lists it (RFC 7517, RFC 8037): public Ed25519 keys only; HMAC secrets never.
#[derive(Serialize)]
struct PublicJwk<'a> {
    kty: &'static str,
    crv: &'static str,
    x: &'a str,
    kid: &'a str,
    alg: &'static str,
    #[serde(rename = "use")]
    usage: &'static str,
}

/// Tokens verified lately on this thread (an HTTP worker), by their text. A waiting crowd presents
/// the same tokens again every few seconds, and checking one (two base64 decodings, an HMAC-SHA256,
/// a JSON parse) was the largest cost of a status check. An entry is used only for a token whose
/// whole text equals the one verified; its event and expiry are checked on every use. Bounded: two
/// generations, the older dropped whole when the newer is full.
///
/// Remembering a token that is forgotten before it comes back costs more than checking it (a crowd
/// larger than the memory, polled in turn: 0.75 of the HTTP ceiling remembering, 0.87 not). So one
/// token in [`SAMPLED_ONE_IN`] is watched: when fewer than half of those tokens' checks are answered
/// from memory, only they are remembered, in a memory that much smaller, so that they still tell
/// whether the whole crowd would fit (spatial sampling, as cache simulators do); once they are
/// answered from memory again, every token is.
#[derive(Default)]
struct VerifiedTokens {
    owner: u64,
    tokens: Recent<Verified>,
    /// Only the sampled tokens are remembered.
    sparse: bool,
    /// Checks of sampled tokens in the current window, and how many of them memory answered.
    sampled_checks: u32,
    sampled_hits: u32,
}

/// One token in this many is sampled to decide whether remembering pays.
const SAMPLED_ONE_IN: u64 = 64;

/// Checks of sampled tokens per decision.
const DECISION_WINDOW: u32 = 64;

struct Verified {
    token: Box<str>,
    claims: Arc<Claims>,
}

/// Tokens per generation and thread, unless configured (`token_memory`): about 2 MB per generation.
pub const DEFAULT_TOKEN_MEMORY: usize = 4_096;

/// Whether this CPU has SHA extensions, which the `sha2` crate uses for every token check when it
/// does (it looks at run time).
pub fn sha_extensions() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("sha")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("sha2")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// The longest token decoded on the stack; a longer one (none that waitroom signs) costs an
/// allocation.
const STACK_TOKEN_PART: usize = 1_024;

thread_local! {
    static VERIFIED: RefCell<VerifiedTokens> = RefCell::default();
}

impl VerifiedTokens {
    /// Where a token goes: the first characters of its signature, which are as good as random.
    /// Tokens that share them take turns; an entry is only used for the very same text.
    fn slot(token: &str) -> Option<u64> {
        let (_, signature) = token.rsplit_once('.')?;
        let prefix: [u8; 8] = signature.as_bytes().get(..8)?.try_into().ok()?;
        Some(u64::from_le_bytes(prefix))
    }

    /// Whether the token in `slot` is one of the sampled: the top bits of a multiplicative hash
    /// (the slot's low bits are base64 characters, not evenly spread).
    fn sampled(slot: u64) -> bool {
        slot.wrapping_mul(0x9E37_79B9_7F4A_7C15) < u64::MAX / SAMPLED_ONE_IN
    }

    /// Counts a check of the token in `slot`, answered from memory or not; each window of sampled
    /// checks decides whether every token is remembered or only the sampled ones.
    fn count(&mut self, slot: u64, answered: bool) {
        if !Self::sampled(slot) {
            return;
        }
        self.sampled_checks += 1;
        self.sampled_hits += u32::from(answered);
        if self.sampled_checks == DECISION_WINDOW {
            self.sparse = self.sampled_hits * 2 < self.sampled_checks;
            self.sampled_checks = 0;
            self.sampled_hits = 0;
        }
    }

    /// Tokens per generation: all of `memory`, or the sampled tokens' share of it.
    fn capacity(&self, memory: usize) -> usize {
        if self.sparse {
            (memory / SAMPLED_ONE_IN as usize).max(1)
        } else {
            memory
        }
    }
}

/// The part of a token's header that decides how it is checked; other fields are ignored.
#[derive(Deserialize)]
struct TokenHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
}

impl Tokens {
    pub fn new(keys: &KeySet, issuer: &str) -> Self {
        // Exactly one jsonwebtoken backend is compiled in; installing it explicitly keeps a future
        // dependency that enables another backend from making the choice ambiguous.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        static INSTANCES: AtomicU64 = AtomicU64::new(1);
        let signer = |kid: &str| Signer::new(kid, keys.get(kid).expect("a loaded key"));
        let keyed: Vec<(&str, &Key)> = keys
            .kids()
            .filter_map(|kid| Some((kid, keys.get(kid)?)))
            .collect();
        let decoding = keyed
            .iter()
            .filter_map(|(kid, key)| {
                let checker = match key {
                    Key::Hmac(secret) => Checker::Hmac(Hmac::new_from_slice(secret.expose()).ok()?),
                    Key::Ed25519 { public, .. } => {
                        Checker::Public(DecodingKey::from_ed_components(public).ok()?)
                    }
                };
                Some((kid.to_string(), (key.algorithm(), checker)))
            })
            .collect();
        let public: Vec<PublicJwk> = keyed
            .iter()
            .filter_map(|(kid, key)| match key {
                Key::Ed25519 { public, .. } => Some(PublicJwk {
                    kty: "OKP",
                    crv: "Ed25519",
                    x: public,
                    kid,
                    alg: "EdDSA",
                    usage: "sig",
                }),
                Key::Hmac(_) => None,
            })
            .collect();
        let jwks = serde_json::json!({ "keys": public }).to_string();
        Self {
            id: INSTANCES.fetch_add(1, Ordering::Relaxed),
            issuer: issuer.to_owned(),
            waiting: signer(keys.active_kid()),
            pass: signer(keys.pass_kid()),
            decoding,
            memory: DEFAULT_TOKEN_MEMORY,
            jwks,
        }
    }

    /// Remembers up to `tokens` verified tokens per worker thread and generation (two generations,
    /// about 500 bytes each); 0 verifies every token every time.
    pub fn with_memory(mut self, tokens: usize) -> Self {
        self.memory = tokens;
        self
    }

    /// The public keys that verify passes, as a JSON Web Key Set: every Ed25519 key loaded, so
    /// passes signed before a rotation keep verifying until their key is removed.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// Signs a token of `kind` for `visitor`'s `position` in `line`, valid `ttl_s` seconds from `now`.
    pub fn sign(
        &self,
        kind: TokenKind,
        line: &LineId,
        visitor: &VisitorId,
        position: u64,
        now: i64,
        ttl_s: u64,
    ) -> (String, Claims) {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: line.event().as_str().to_owned(),
            lane: line.lane().map(|lane| lane.as_str().to_owned()),
            sub: visitor.as_str().to_owned(),
            pos: position,
            iat: now,
            exp: now.saturating_add(i64::try_from(ttl_s).unwrap_or(i64::MAX)),
            jti: random_token_id(),
            kind,
            drawn_from: None,
        };
        let signer = match kind {
            TokenKind::Waiting | TokenKind::Prequeue => &self.waiting,
            TokenKind::Pass => &self.pass,
        };
        let payload = serde_json::to_vec(&claims).expect("plain claims serialise");
        let mut token = String::with_capacity(signer.header.len() + payload.len() * 2 + 112);
        token.push_str(&signer.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        // Signing with a key checked on load cannot fail.
        let signature =
            jsonwebtoken::crypto::sign(token.as_bytes(), &signer.encoding, signer.algorithm)
                .expect("signing with a loaded key");
        token.push('.');
        token.push_str(&signature);
        (token, claims)
    }

    /// Verifies `token`: algorithm, key id, signature, issuer, and (when given) that it belongs to
    /// `event`. An expired but otherwise valid token yields [`TokenError::Expired`] with its claims.
    pub fn verify(
        &self,
        token: &str,
        event: Option<&EventId>,
        now: i64,
    ) -> Result<Arc<Claims>, TokenError> {
        let claims = match self.recently_verified(token) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.genuine_claims(token)?);
                self.remember_verified(token, &claims);
                claims
            }
        };
        if event.is_some_and(|event| !belongs_to(&claims.aud, event)) {
            return Err(TokenError::WrongEvent);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired(claims));
        }
        Ok(claims)
    }

    /// The claims of a token signed with one of our keys by this issuer: what does not change from
    /// one request to the next.
    fn genuine_claims(&self, token: &str) -> Result<Claims, TokenError> {
        let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = message.split_once('.').ok_or(TokenError::Malformed)?;
        let known = [&self.waiting, &self.pass]
            .into_iter()
            .find(|signer| header == signer.header)
            .and_then(|signer| self.decoding.get(&signer.kid));
        let (algorithm, checker) = match known {
            Some(key) => key,
            None => self.key_for(header)?,
        };
        let genuine = match checker {
            Checker::Hmac(keyed) => {
                // An HS256 signature is 32 bytes; room for more tells a longer one apart.
                let mut expected = [0u8; 48];
                let length = match URL_SAFE_NO_PAD.decode_slice(signature, &mut expected) {
                    Ok(length) => length,
                    Err(base64::DecodeSliceError::OutputSliceTooSmall) => 0,
                    Err(base64::DecodeSliceError::DecodeError(_)) => {
                        return Err(TokenError::Malformed)
                    }
                };
                if length != 32 {
                    return Err(TokenError::BadSignature);
                }
                let mut mac = keyed.clone();
                mac.update(message.as_bytes());
                mac.verify_slice(&expected[..32]).is_ok()
            }
            Checker::Public(key) => {
                jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, *algorithm)
                    .map_err(|_| TokenError::Malformed)?
            }
        };
        if !genuine {
            return Err(TokenError::BadSignature);
        }
        let mut buffer = [0u8; STACK_TOKEN_PART];
        let claims: Claims = match URL_SAFE_NO_PAD.decode_slice(payload, &mut buffer) {
            Ok(length) => serde_json::from_slice(&buffer[..length]),
            Err(_) => serde_json::from_slice(&decode_part(payload)?),
        }
        .map_err(|_| TokenError::Malformed)?;
        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        Ok(claims)
    }

    /// The claims of `token` if this thread verified exactly this text with these keys lately.
    fn recently_verified(&self, token: &str) -> Option<Arc<Claims>> {
        let slot = VerifiedTokens::slot(token)?;
        VERIFIED.with_borrow_mut(|verified| {
            if verified.owner != self.id {
                return None;
            }
            let claims = verified
                .tokens
                .get(slot)
                .filter(|entry| *entry.token == *token)
                .map(|entry| entry.claims.clone());
            verified.count(slot, claims.is_some());
            claims
        })
    }

    fn remember_verified(&self, token: &str, claims: &Arc<Claims>) {
        let Some(slot) = VerifiedTokens::slot(token).filter(|_| self.memory > 0) else {
            return;
        };
        VERIFIED.with_borrow_mut(|verified| {
            if verified.owner != self.id {
                *verified = VerifiedTokens {
                    owner: self.id,
                    ..VerifiedTokens::default()
                };
            }
            if verified.sparse && !VerifiedTokens::sampled(slot) {
                return;
            }
            let capacity = verified.capacity(self.memory);
            verified.tokens.turn_when_full(capacity);
            let entry = Verified {
                token: token.into(),
                claims: claims.clone(),
            };
            verified.tokens.insert(slot, entry);
        });
    }

    /// The key a token's encoded `header` names, if it is one of ours and the header names the
    /// algorithm that key is used with: a key is never used with another algorithm (an HS256 token
    /// "signed" with an Ed25519 public key as its secret is refused).
    fn key_for(&self, header: &str) -> Result<&(Algorithm, Checker), TokenError> {
        let header = decode_part(header)?;
        let header: TokenHeader =
            serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
        let unsupported =
            || TokenError::UnsupportedAlgorithm(header.alg.chars().take(16).collect());
        if !matches!(header.alg.as_ref(), "HS256" | "EdDSA") {
            return Err(unsupported());
        }
        let kid = header.kid.as_deref().ok_or(TokenError::MissingKid)?;
        let key = self
            .decoding
            .get(kid)
            .ok_or_else(|| TokenError::UnknownKid(kid.chars().take(64).collect()))?;
        let named = match header.alg.as_ref() {
            "EdDSA" => Algorithm::EdDSA,
            _ => Algorithm::HS256,
        };
        if key.0 != named {
            return Err(unsupported());
        }
        Ok(key)
    }
}

/// One base64url part of a token, decoded.
fn decode_part(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Validation;

    fn tokens() -> Tokens {
        Tokens::new(&KeySet::ephemeral(), "waitroom-test")
    }

    fn event(name: &str) -> EventId {
        EventId::parse(name).unwrap()
    }

    fn line(name: &str) -> LineId {
        LineId::from(event(name))
    }

    /// A token at position 1 with its payload changed to position 0, the signature kept.
    fn moved_to_the_front(token: &str) -> String {
        let parts: Vec<&str> = token.split('.').collect();
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let forged = URL_SAFE_NO_PAD.encode(payload.replace("\"pos\":1", "\"pos\":0"));
        format!("{}.{}.{}", parts[0], forged, parts[2])
    }

    #[test]
    fn round_trip_keeps_the_place() {
        let t = tokens();
        let v = VisitorId::generate();
        let (token, claims) = t.sign(TokenKind::Waiting, &line("e"), &v, 42, 1_000, 60);
        let back = t.verify(&token, Some(&event("e")), 1_001).unwrap();
        assert_eq!(*back, claims);
        assert_eq!(back.pos, 42);
        assert_eq!(back.sub, v.as_str());
    }

    #[test]
    fn foreign_forged_and_expired_tokens_are_refused() {
        let t = tokens();
        let v = VisitorId::generate();
        let (token, _) = t.sign(TokenKind::Waiting, &line("e"), &v, 1, 1_000, 60);
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
        assert_eq!(
            t.verify(&moved_to_the_front(&token), None, 1_001),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn remembered_tokens_are_still_checked_for_event_expiry_and_text() {
        let t = tokens();
        let (token, claims) = t.sign(
            TokenKind::Waiting,
            &line("e"),
            &VisitorId::generate(),
            1,
            1_000,
            60,
        );
        let claims = Arc::new(claims);
        assert_eq!(
            t.verify(&token, Some(&event("e")), 1_001),
            Ok(claims.clone())
        );
        assert_eq!(t.recently_verified(&token), Some(claims.clone()));
        assert_eq!(t.verify(&token, Some(&event("e")), 1_002), Ok(claims));
        assert_eq!(
            t.verify(&token, Some(&event("other")), 1_002),
            Err(TokenError::WrongEvent)
        );
        assert!(matches!(
            t.verify(&token, None, 1_060),
            Err(TokenError::Expired(_))
        ));
        // Same signature, another payload: not the text that was verified.
        assert_eq!(
            t.verify(&moved_to_the_front(&token), None, 1_001),
            Err(TokenError::BadSignature)
        );
        // Another deployment's keys on the same thread do not see these entries.
        let other = tokens();
        assert!(other.recently_verified(&token).is_none());
        assert!(matches!(
            other.verify(&token, None, 1_001),
            Err(TokenError::UnknownKid(_))
        ));
    }

    /// A new visitor's waiting token for event `e`, issued at 1,000 for a minute.
    fn waiting_token(t: &Tokens, position: u64) -> String {
        t.sign(
            TokenKind::Waiting,
            &line("e"),
            &VisitorId::generate(),
            position,
            1_000,
            60,
        )
        .0
    }

    #[test]
    fn a_crowd_larger_than_the_memory_is_not_remembered_until_it_fits_again() {
        let t = tokens().with_memory(1_000);
        let sign = |position| waiting_token(&t, position);
        let sparse = || VERIFIED.with_borrow(|v| v.sparse);
        // 20,000 tokens, each checked once: nothing comes back, so only the sampled are remembered.
        let crowd: Vec<String> = (0..20_000).map(sign).collect();
        for token in &crowd {
            t.verify(token, None, 1_001).unwrap();
        }
        assert!(sparse());
        let unsampled = crowd
            .iter()
            .rev()
            .find(|token| !VerifiedTokens::sampled(VerifiedTokens::slot(token).unwrap()))
            .unwrap();
        assert!(t.recently_verified(unsampled).is_none());

        // 1,000 tokens polled in turn fit the memory: their sampled ones are answered from memory,
        // and every token is remembered again. Their sampled share is held at its expected 1 in 64
        // (15): by chance a crowd this small may hold only a handful, whose ten rounds of checks do
        // not fill a decision window (64 sampled checks), and the test failed 3 runs in 150 (none
        // in 300 since).
        let (mut fitting, mut sampled) = (Vec::new(), 0);
        let mut position = 0;
        while fitting.len() < 1_000 {
            let token = sign(position);
            position += 1;
            let is_sampled = VerifiedTokens::sampled(VerifiedTokens::slot(&token).unwrap());
            let room = if is_sampled {
                sampled < 15
            } else {
                fitting.len() - sampled < 985
            };
            if room {
                sampled += usize::from(is_sampled);
                fitting.push(token);
            }
        }
        for _ in 0..10 {
            for token in &fitting {
                t.verify(token, None, 1_001).unwrap();
            }
        }
        assert!(!sparse());
        t.verify(&fitting[0], None, 1_001).unwrap();
        assert!(t.recently_verified(&fitting[0]).is_some());
    }

    #[test]
    fn remembered_tokens_are_bounded_by_the_memory_setting() {
        let t = tokens().with_memory(100);
        let sign = |position| waiting_token(&t, position);
        let first = sign(0);
        t.verify(&first, None, 1_001).unwrap();
        for position in 1..=200 {
            t.verify(&sign(position), None, 1_001).unwrap();
        }
        let held = VERIFIED.with_borrow(|v| v.tokens.held());
        assert!((100..=200).contains(&held), "{held}");
        assert!(t.recently_verified(&first).is_none());
        // Still verified the long way.
        assert!(t.verify(&first, None, 1_001).is_ok());

        // No memory at all: every check verifies.
        let forgetful = tokens().with_memory(0);
        let token = forgetful
            .sign(
                TokenKind::Waiting,
                &line("e"),
                &VisitorId::generate(),
                1,
                1_000,
                60,
            )
            .0;
        forgetful.verify(&token, None, 1_001).unwrap();
        assert!(forgetful.recently_verified(&token).is_none());
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

    /// Booking services check passes with any JWT library: tokens must be standard both ways.
    #[test]
    fn tokens_interoperate_with_jsonwebtoken() {
        let keys = KeySet::ephemeral();
        let t = Tokens::new(&keys, "waitroom-test");
        let secret = keys.active_secret().expose().to_owned();
        let (token, claims) = t.sign(
            TokenKind::Pass,
            &line("e"),
            &VisitorId::generate(),
            7,
            chrono::Utc::now().timestamp(),
            60,
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&["waitroom-test"]);
        validation.set_audience(&["e"]);
        let decoded =
            jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_secret(&secret), &validation)
                .unwrap();
        assert_eq!(decoded.claims, claims);
        assert_eq!(decoded.header.kid.as_deref(), Some(keys.active_kid()));

        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(keys.active_kid().to_owned());
        let theirs =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap();
        assert_eq!(
            t.verify(&theirs, Some(&event("e")), claims.iat),
            Ok(Arc::new(claims))
        );
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        let keys = KeySet::ephemeral();
        let t = Tokens::new(&keys, "waitroom-test");
        let (token, _) = t.sign(
            TokenKind::Waiting,
            &line("e"),
            &VisitorId::generate(),
            1,
            1_000,
            60,
        );
        let parts: Vec<&str> = token.split('.').collect();
        let header = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let with_header = |h: String| format!("{h}.{}.{}", parts[1], parts[2]);
        assert_eq!(
            t.verify(
                &with_header(header(r#"{"alg":"HS512","kid":"x"}"#)),
                None,
                1_001
            ),
            Err(TokenError::UnsupportedAlgorithm("HS512".into()))
        );
        assert_eq!(
            t.verify(&with_header(header(r#"{"alg":"HS256"}"#)), None, 1_001),
            Err(TokenError::MissingKid)
        );
        assert_eq!(
            t.verify(&with_header(header("not json")), None, 1_001),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            t.verify(&format!("{token}.x"), None, 1_001),
            Err(TokenError::Malformed)
        );
        assert_eq!(t.verify("a.b", None, 1_001), Err(TokenError::Malformed));
        // Genuine signature over claims that lack the place.
        let message = format!(
            "{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(r#"{"iss":"waitroom-test"}"#)
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &t.waiting.encoding, Algorithm::HS256)
                .unwrap();
        assert_eq!(
            t.verify(&format!("{message}.{signature}"), None, 1_001),
            Err(TokenError::Malformed)
        );
        // Another deployment's issuer with the same key.
        let foreign = Tokens::new(&keys, "someone-else");
        let (theirs, _) = foreign.sign(
            TokenKind::Pass,
            &line("e"),
            &VisitorId::generate(),
            1,
            1_000,
            60,
        );
        assert_eq!(t.verify(&theirs, None, 1_001), Err(TokenError::WrongIssuer));
    }

    /// Tokens signing passes with an Ed25519 key, waiting tokens with an HS256 key.
    fn with_ed25519_passes() -> (Tokens, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hs.key"),
            crate::keys::generate_key_file_contents(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("ed.pem"),
            crate::keys::generate_ed25519_pem(),
        )
        .unwrap();
        let keys = KeySet::from_dir(dir.path(), None)
            .unwrap()
            .with_pass_key(Some("ed"))
            .unwrap();
        (Tokens::new(&keys, "waitroom-test"), dir)
    }

    fn header_of(token: &str) -> serde_json::Value {
        let part = token.split('.').next().unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn ed25519_passes_verify_here_and_with_the_published_keys_alone() {
        let (t, _dir) = with_ed25519_passes();
        let v = VisitorId::generate();
        let (pass, claims) = t.sign(TokenKind::Pass, &line("e"), &v, 1, 1_000, 60);
        let (waiting, _) = t.sign(TokenKind::Waiting, &line("e"), &v, 1, 1_000, 60);
        assert_eq!(header_of(&pass)["alg"], "EdDSA");
        assert_eq!(header_of(&pass)["kid"], "ed");
        assert_eq!(header_of(&waiting)["alg"], "HS256");
        assert_eq!(*t.verify(&pass, Some(&event("e")), 1_001).unwrap(), claims);
        assert!(t.verify(&waiting, Some(&event("e")), 1_001).is_ok());
        assert_eq!(
            t.verify(&moved_to_the_front(&pass), None, 1_001),
            Err(TokenError::BadSignature)
        );

        // As a booking service would: only the JWKS, no secret.
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(t.jwks()).unwrap();
        assert_eq!(jwks.keys.len(), 1, "HMAC secrets are never published");
        let jwk = jwks.find("ed").expect("the pass key");
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&["e"]);
        validation.set_issuer(&["waitroom-test"]);
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<Claims>(
            &pass,
            &DecodingKey::from_jwk(jwk).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims, claims);
        assert!(!t.jwks().contains("\"k\""));
    }

    #[test]
    fn a_key_is_never_used_with_another_algorithm() {
        let (t, _dir) = with_ed25519_passes();
        let (pass, _) = t.sign(
            TokenKind::Pass,
            &line("e"),
            &VisitorId::generate(),
            3,
            1_000,
            60,
        );
        let (_, payload) = pass.split_once('.').unwrap();
        let payload = payload.split('.').next().unwrap();
        // HS256 with the Ed25519 key's public half as the HMAC secret: the classic confusion.
        let jwks: serde_json::Value = serde_json::from_str(t.jwks()).unwrap();
        let public = URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["x"].as_str().unwrap())
            .unwrap();
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT","kid":"ed"}"#);
        let message = format!("{header}.{payload}");
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(&public),
            Algorithm::HS256,
        )
        .unwrap();
        assert_eq!(
            t.verify(&format!("{message}.{signature}"), None, 1_001),
            Err(TokenError::UnsupportedAlgorithm("HS256".into()))
        );
        // And an HS256 key named under EdDSA.
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT","kid":"hs"}"#);
        assert_eq!(
            t.verify(&format!("{header}.{payload}.AAAA"), None, 1_001),
            Err(TokenError::UnsupportedAlgorithm("EdDSA".into()))
        );
    }
}

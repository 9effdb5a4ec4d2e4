//! Proof of work before a place (ALTCHA's open protocol, v2, with the `altcha` crate): a join to an
//! event with a challenge cost is refused with a signed challenge until it brings a solution. The
//! challenges are stateless (signed with a secret every replica derives from the active signing
//! key, so any replica verifies them), bound to their event, and expire; the caller keeps each
//! solution usable once (the store's "seen" mark, [`Verified::mark`], until [`Verified::expires_ms`]).

use altcha::{create_challenge, Challenge, CreateChallengeOptions, Payload};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::EventId;
use crate::keys::KeySet;

/// How long a challenge may be solved for: long enough for a slow phone at the highest cost.
pub const CHALLENGE_TTL_S: i64 = 300;
/// Attempts a solution takes: the counter is drawn between these (each attempt is `cost` PBKDF2
/// iterations), so the expected work is 1.5 × this × cost and never less than this × cost.
pub const ATTEMPTS: u32 = 500;
const ALGORITHM: &str = "PBKDF2/SHA-256";

/// Why a solution did not buy a place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unsolved {
    #[error("this event asks each browser for a little work before a place: solve the challenge and join again with the solution")]
    Missing,
    #[error("the solution could not be read: it must be base64 of ALTCHA's JSON payload (challenge and solution)")]
    Malformed,
    #[error("the challenge expired before its solution came: solve the new one")]
    Expired,
    #[error("the solution does not solve a challenge this waiting room issued for this event")]
    Wrong,
    #[error("this solution was used already: each buys one place; solve the new challenge")]
    Used,
}

/// A solution that verified: what marks it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The challenge's nonce (hex, as issued): one place per challenge.
    nonce: [u8; NONCE_HEX],
    /// When the challenge expires, unix ms: its "used" mark need not outlive it.
    pub expires_ms: i64,
}

/// The length of a challenge's nonce: 16 random bytes in hex.
const NONCE_HEX: usize = 32;

impl Verified {
    /// What names the solution's "used" mark: its challenge's nonce.
    pub fn mark(&self) -> &str {
        std::str::from_utf8(&self.nonce).expect("a nonce checked to be hex")
    }

    /// How long the mark must last from `now_ms`: until the challenge expires (at least 1 ms).
    pub fn mark_ttl_ms(&self, now_ms: i64) -> u64 {
        u64::try_from(self.expires_ms - now_ms).unwrap_or(1).max(1)
    }
}

/// Issues and verifies challenges with secrets derived from the active signing key.
pub struct Challenges {
    signature_secret: String,
    key_secret: String,
    /// HMACs keyed once with the secrets above (ALTCHA keys them with the hex text's bytes).
    signature_mac: Hmac<Sha256>,
    key_mac: Hmac<Sha256>,
    attempts: u32,
}

impl Challenges {
    pub fn new(keys: &KeySet) -> Self {
        let derive = |purpose: &str| {
            let mut mac = Hmac::<Sha256>::new_from_slice(keys.active_secret().expose())
                .expect("HMAC takes keys of any length");
            mac.update(purpose.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        };
        let keyed = |secret: &str| {
            Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes keys of any length")
        };
        let signature_secret = derive("waitroom: altcha challenge signatures");
        let key_secret = derive("waitroom: altcha derived keys");
        Self {
            signature_mac: keyed(&signature_secret),
            key_mac: keyed(&key_secret),
            signature_secret,
            key_secret,
            attempts: ATTEMPTS,
        }
    }

    /// The same challenges with solutions of `attempts` to twice as many tries: fewer than
    /// [`ATTEMPTS`] only where the work is not what is measured (a load test that stands in for
    /// many visitors' devices solves their challenges this way; the server verifies any solution
    /// at the same cost).
    pub fn with_attempts(self, attempts: u32) -> Self {
        Self {
            attempts: attempts.max(1),
            ..self
        }
    }

    /// A new challenge for a join to `event` costing `cost` PBKDF2 iterations per attempt.
    pub fn issue(&self, event: &EventId, cost: u32, now_s: i64) -> Challenge {
        let counter = self.attempts + rand::random_range(0..self.attempts);
        let data = [("event".to_owned(), serde_json::Value::from(event.as_str()))];
        create_challenge(CreateChallengeOptions {
            algorithm: ALGORITHM.to_owned(),
            cost,
            counter: Some(counter),
            data: Some(data.into_iter().collect()),
            expires_at: Some(now_s + CHALLENGE_TTL_S),
            hmac_signature_secret: Some(self.signature_secret.clone()),
            hmac_key_signature_secret: Some(self.key_secret.clone()),
            ..CreateChallengeOptions::default()
        })
        .expect("a challenge of fixed, valid parameters")
    }

    /// Checks a solution (base64 of ALTCHA's JSON payload) for a join to `event`.
    ///
    /// This is ALTCHA's verification of a deterministic challenge (`altcha::verify_solution`'s
    /// fast path: the parameters' signature, then the derived key's), done with HMACs keyed once
    /// and without its detour through `serde_json::Value`: that took 2.8 µs of the 3.9 a check
    /// cost, on every join to a challenged event. The parameters' canonical JSON (keys sorted at
    /// every level) is their serialization as is, since altcha declares their fields in that
    /// order and serde_json's maps are sorted; a test holds every verdict against altcha's own.
    pub fn check(&self, event: &EventId, solution: &str) -> Result<Verified, Unsolved> {
        let json = base64::engine::general_purpose::STANDARD
            .decode(solution.trim())
            .map_err(|_| Unsolved::Malformed)?;
        let payload: Payload = serde_json::from_slice(&json).map_err(|_| Unsolved::Malformed)?;
        let (challenge, parameters) = (&payload.challenge, &payload.challenge.parameters);
        let for_event = parameters
            .data
            .as_ref()
            .and_then(|data| data.get("event"))
            .and_then(|named| named.as_str());
        if for_event != Some(event.as_str()) || parameters.algorithm != ALGORITHM {
            return Err(Unsolved::Wrong);
        }
        // Every challenge issued here expires (and signs its key); as in altcha, the expiry is
        // looked at before the signature.
        let expires_ms = parameters
            .expires_at
            .ok_or(Unsolved::Wrong)?
            .saturating_mul(1_000);
        if crate::clock::unix_ms() > expires_ms {
            return Err(Unsolved::Expired);
        }
        let canonical = serde_json::to_vec(parameters).map_err(|_| Unsolved::Malformed)?;
        let signature = challenge.signature.as_deref().unwrap_or_default();
        if !signs(&self.signature_mac, &canonical, signature) {
            return Err(Unsolved::Wrong);
        }
        let key_signature = parameters.key_signature.as_deref().ok_or(Unsolved::Wrong)?;
        let derived_key =
            hex::decode(&payload.solution.derived_key).map_err(|_| Unsolved::Wrong)?;
        if !signs(&self.key_mac, &derived_key, key_signature) {
            return Err(Unsolved::Wrong);
        }
        let nonce = parameters.nonce.as_bytes();
        let nonce = <[u8; NONCE_HEX]>::try_from(nonce)
            .ok()
            .filter(|nonce| nonce.iter().all(u8::is_ascii_hexdigit))
            .ok_or(Unsolved::Wrong)?;
        Ok(Verified { nonce, expires_ms })
    }
}

/// Whether `signature` (lowercase hex, as ALTCHA writes and compares it) is `mac`'s HMAC of
/// `message`, compared in constant time.
fn signs(mac: &Hmac<Sha256>, message: &[u8], signature: &str) -> bool {
    let mut tag = [0; 32];
    let lowercase = signature
        .bytes()
        .all(|digit| matches!(digit, b'0'..=b'9' | b'a'..=b'f'));
    if !lowercase || hex::decode_to_slice(signature, &mut tag).is_err() {
        return false;
    }
    let mut mac = mac.clone();
    mac.update(message);
    mac.verify_slice(&tag).is_ok()
}

/// Hands out challenges off the HTTP workers and a few at a time. Issuing one derives its key once
/// (ALTCHA's deterministic mode, which is what lets a solution be verified with two HMACs): `cost`
/// PBKDF2 iterations, about 1 ms of one core at cost 10,000 and 11 ms at the maximum. Done on an
/// HTTP worker, that would stall every request behind it, and a flood of asks without solutions
/// would turn the challenge into the attack; here at most `challenge_threads` challenges (one per
/// core by default) are made at a time, on tokio's blocking threads, and an ask that waited
/// [`ISSUE_WAIT`] for its turn is told to come back (`None`).
pub struct Issuer {
    challenges: std::sync::Arc<Challenges>,
    turns: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Costs up to this are issued on the asking worker: making one (7 µs, measured; 20 µs at cost
/// 100) costs less than handing it to another thread would.
const INLINE_COST: u32 = 10;
/// How long an ask waits for its turn to have a challenge made before it is told to come back.
pub const ISSUE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Issuer {
    /// At most `at_once` challenges (above [`INLINE_COST`]) made at a time.
    pub fn new(challenges: Challenges, at_once: usize) -> Self {
        Self {
            challenges: std::sync::Arc::new(challenges),
            turns: std::sync::Arc::new(tokio::sync::Semaphore::new(at_once.max(1))),
        }
    }

    /// Checks a solution ([`Challenges::check`]: cheap at any cost, two HMACs).
    pub fn check(&self, event: &EventId, solution: &str) -> Result<Verified, Unsolved> {
        self.challenges.check(event, solution)
    }

    /// A new challenge for a join to `event`, or `None` if none could be made within
    /// [`ISSUE_WAIT`] (as many are being made as there are cores).
    pub async fn issue(&self, event: &EventId, cost: u32, now_s: i64) -> Option<Challenge> {
        if cost <= INLINE_COST {
            return Some(self.challenges.issue(event, cost, now_s));
        }
        let turn = tokio::time::timeout(ISSUE_WAIT, self.turns.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        let (challenges, event) = (self.challenges.clone(), event.clone());
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            challenges.issue(&event, cost, now_s)
        })
        .await
        .ok()
    }
}

/// What a client sends for `challenge` once it has done the work: base64 of ALTCHA's JSON payload
/// (the challenge and its solution), solved here with ALTCHA's own Rust solver on this thread, as
/// an app or a CLI would; `None` if it cannot be solved (not a challenge of this algorithm).
pub fn solve(challenge: &Challenge) -> Option<String> {
    let options = altcha::SolveChallengeOptions {
        timeout_ms: 0,
        ..altcha::SolveChallengeOptions::new(challenge)
    };
    let solution = altcha::solve_challenge(options).ok().flatten()?;
    let payload = Payload {
        challenge: challenge.clone(),
        solution,
    };
    let json = serde_json::to_vec(&payload).expect("a payload serializes");
    Some(base64::engine::general_purpose::STANDARD.encode(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solved_challenge_verifies_once_issued() {
        let challenges = Challenges::new(&KeySet::ephemeral());
        let event = EventId::parse("e").unwrap();
        let challenge = challenges.issue(&event, 10, crate::clock::unix_s());
        let encoded = solve(&challenge).expect("solved");
        let verified = challenges.check(&event, &encoded).unwrap();
        assert_eq!(verified.mark(), challenge.parameters.nonce);
        let other = EventId::parse("other").unwrap();
        assert_eq!(challenges.check(&other, &encoded), Err(Unsolved::Wrong));
        let elsewhere = Challenges::new(&KeySet::ephemeral());
        assert_eq!(elsewhere.check(&event, &encoded), Err(Unsolved::Wrong));
    }

    /// The check gives altcha's own verdict (`verify_solution`) on good, expired and tampered
    /// solutions: a field changed, a signature's digit or case, a key, a signature missing.
    #[test]
    fn the_check_agrees_with_altchas_verification() {
        let challenges = Challenges::new(&KeySet::ephemeral()).with_attempts(2);
        let event = EventId::parse("e").unwrap();
        let now = crate::clock::unix_s();
        let altchas = |payload: &Payload| {
            let mut options = altcha::VerifySolutionOptions::new(
                &payload.challenge,
                &payload.solution,
                challenges.signature_secret.clone(),
            );
            options.hmac_key_signature_secret = Some(challenges.key_secret.clone());
            let verdict = altcha::verify_solution(options).unwrap();
            match (verdict.verified, verdict.expired) {
                (true, _) => Ok(()),
                (false, true) => Err(Unsolved::Expired),
                (false, false) => Err(Unsolved::Wrong),
            }
        };
        let solved = |issued_at: i64| {
            let challenge = challenges.issue(&event, 1, issued_at);
            let encoded = solve(&challenge).unwrap();
            let json = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap();
            serde_json::from_slice::<Payload>(&json).unwrap()
        };
        fn flip(hex: &mut String) {
            let last = if hex.ends_with('0') { "1" } else { "0" };
            hex.replace_range(hex.len() - 1.., last);
        }
        type Tamper = fn(&mut Payload);
        let tampers: [(&str, Tamper); 12] = [
            ("nothing", |_| {}),
            ("the cost", |p| p.challenge.parameters.cost += 1),
            ("the nonce", |p| flip(&mut p.challenge.parameters.nonce)),
            ("the salt", |p| flip(&mut p.challenge.parameters.salt)),
            ("the expiry", |p| {
                p.challenge.parameters.expires_at =
                    p.challenge.parameters.expires_at.map(|at| at + 60)
            }),
            ("the key signature", |p| {
                flip(p.challenge.parameters.key_signature.as_mut().unwrap())
            }),
            ("the signature", |p| {
                flip(p.challenge.signature.as_mut().unwrap())
            }),
            ("the signature's case", |p| {
                let signature = p.challenge.signature.as_mut().unwrap();
                *signature = signature.to_uppercase();
            }),
            ("no signature", |p| p.challenge.signature = None),
            ("the derived key", |p| flip(&mut p.solution.derived_key)),
            ("the derived key's case", |p| {
                p.solution.derived_key = p.solution.derived_key.to_uppercase()
            }),
            ("the counter", |p| p.solution.counter += 1),
        ];
        for (issued_at, when) in [(now, "fresh"), (now - 2 * CHALLENGE_TTL_S, "expired")] {
            for (what, tamper) in &tampers {
                let mut payload = solved(issued_at);
                tamper(&mut payload);
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(serde_json::to_vec(&payload).unwrap());
                let ours = challenges.check(&event, &encoded).map(|_| ());
                assert_eq!(ours, altchas(&payload), "{when}, tampered: {what}");
            }
        }
    }

    /// A solution takes between the attempts and twice as many tries, whatever those are; one of a
    /// cheaper challenge verifies where the usual ones are issued (the key signs both alike).
    #[test]
    fn attempts_set_the_work_and_not_what_verifies() {
        let keys = KeySet::ephemeral();
        let event = EventId::parse("e").unwrap();
        let now = crate::clock::unix_s();
        let tries = |challenges: &Challenges| {
            let challenge = challenges.issue(&event, 1, now);
            altcha::solve_challenge(altcha::SolveChallengeOptions::new(&challenge))
                .unwrap()
                .expect("solved")
                .counter
        };
        let usual = Challenges::new(&keys);
        assert!((ATTEMPTS..2 * ATTEMPTS).contains(&tries(&usual)));
        let cheap = Challenges::new(&keys).with_attempts(3);
        assert!((3..6).contains(&tries(&cheap)));
        let encoded = solve(&cheap.issue(&event, 1, now)).unwrap();
        assert!(usual.check(&event, &encoded).is_ok());
    }

    /// Challenges above the inline cost are made a few at a time: with the one turn taken, another
    /// ask waits its second and is told to come back; once the turn is free, asks get challenges
    /// again, cheap ones never wait.
    #[tokio::test]
    async fn challenges_are_made_a_few_at_a_time() {
        let issuer = Issuer::new(Challenges::new(&KeySet::ephemeral()).with_attempts(2), 1);
        let event = EventId::parse("e").unwrap();
        let now = crate::clock::unix_s();
        let held = issuer.turns.clone().acquire_owned().await.unwrap();
        assert!(issuer.issue(&event, 1_000, now).await.is_none(), "busy");
        assert!(issuer.issue(&event, INLINE_COST, now).await.is_some());
        drop(held);
        let made = issuer.issue(&event, 1_000, now).await.expect("a challenge");
        assert_eq!(made.parameters.cost, 1_000);
        let solution = solve(&made).expect("solved");
        assert!(issuer.check(&event, &solution).is_ok());
    }
}

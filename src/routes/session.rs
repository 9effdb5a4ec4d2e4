//! The console's sessions: signing in with the admin token sets an HttpOnly, SameSite=Strict
//! cookie that names the operator and when it runs out, signed with a key derived from the admin
//! token (a new admin token ends every session). Every change asks for the session's CSRF token
//! too (`X-CSRF-Token`, or the form's `csrf` field): a page of another site can make the browser
//! send the cookie, never read the token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::SecretString;

/// The console's session cookie.
pub const COOKIE: &str = "waitroom_console";
/// The header a console page sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts.
pub const LIFETIME_S: i64 = 12 * 3600;
/// Longest operator name kept.
const MOST_NAME_CHARS: usize = 64;

/// A signed-in operator, as their cookie says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Who signed in, as they said: logged with every change they make.
    pub who: String,
    /// When it runs out (unix s).
    pub exp: i64,
}

/// Signs and reads sessions with a key of the admin token's.
pub struct Sessions {
    key: Vec<u8>,
}

impl Sessions {
    pub fn new(admin_token: &SecretString) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(admin_token.expose().as_bytes())
            .expect("HMAC takes any key");
        mac.update(b"waitroom console sessions");
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        for part in parts {
            mac.update(part);
        }
        mac
    }

    /// The cookie value of a session for `who` from `now_s`: its JSON and signature, base64url.
    pub fn sign(&self, who: &str, now_s: i64) -> String {
        let who: String = who
            .chars()
            .filter(|c| !c.is_control())
            .take(MOST_NAME_CHARS)
            .collect();
        let session = Session {
            who: who.trim().to_owned(),
            exp: now_s + LIFETIME_S,
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&session).unwrap_or_default());
        let signature = URL_SAFE_NO_PAD.encode(
            self.mac(&[b"session.", payload.as_bytes()])
                .finalize()
                .into_bytes(),
        );
        format!("{payload}.{signature}")
    }

    /// The session a cookie value holds, if this key signed it and it has not run out.
    pub fn read(&self, cookie: &str, now_s: i64) -> Option<Session> {
        let (payload, signature) = cookie.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.mac(&[b"session.", payload.as_bytes()])
            .verify_slice(&signature)
            .ok()?;
        let session: Session =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (session.exp > now_s).then_some(session)
    }

    /// The CSRF token of the session in `cookie`.
    pub fn csrf(&self, cookie: &str) -> String {
        URL_SAFE_NO_PAD.encode(
            self.mac(&[b"csrf.", cookie.as_bytes()])
                .finalize()
                .into_bytes(),
        )
    }

    /// Whether `token` is the CSRF token of the session in `cookie` (in constant time).
    pub fn csrf_holds(&self, cookie: &str, token: &str) -> bool {
        let Ok(token) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        self.mac(&[b"csrf.", cookie.as_bytes()])
            .verify_slice(&token)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_read_back_until_it_runs_out_and_only_with_its_key() {
        let sessions = Sessions::new(&"an-admin-token-0123456789".into());
        let cookie = sessions.sign("Ana\n<b>", 1000);
        let session = sessions.read(&cookie, 1001).unwrap();
        assert_eq!(session.who, "Ana<b>");
        assert!(
            sessions.read(&cookie, 1000 + LIFETIME_S).is_none(),
            "ran out"
        );
        let other = Sessions::new(&"another-admin-token-0123".into());
        assert!(other.read(&cookie, 1001).is_none(), "another admin token's");
        let (payload, signature) = cookie.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"who":"Ana","exp":99999999999}"#);
        assert!(sessions
            .read(&format!("{forged}.{signature}"), 1001)
            .is_none());
        assert!(sessions.read(payload, 1001).is_none());

        let csrf = sessions.csrf(&cookie);
        assert!(sessions.csrf_holds(&cookie, &csrf));
        assert!(
            !sessions.csrf_holds(&sessions.sign("Ana", 1000), &csrf),
            "another session's"
        );
        assert!(!sessions.csrf_holds(&cookie, ""));
    }
}

//! Signing keys: HS256 secrets with key ids, loaded from a directory (`<kid>.key`, base64) or generated.
//!
//! Several keys may be loaded so tokens signed before a rotation still verify; new tokens are
//! always signed with the active key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;

/// Shortest secret accepted, in decoded bytes: HS256 is only as strong as its key.
pub const MIN_KEY_BYTES: usize = 32;
/// The kid of the development key shipped in `keys/dev.key`.
pub const DEV_KID: &str = "dev";
/// The development key's secret: public, so it must never sign tokens in production.
const DEV_SECRET_B64: &str = include_str!("../keys/dev.key");

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read keys directory {dir}: {source}")]
    ReadDir { dir: String, source: std::io::Error },
    #[error("cannot read key file {file}: {source}")]
    ReadFile {
        file: String,
        source: std::io::Error,
    },
    #[error("key `{kid}` is not valid base64: {reason}")]
    NotBase64 { kid: String, reason: String },
    #[error("key `{kid}` is {len} bytes long; at least {MIN_KEY_BYTES} bytes are needed")]
    TooShort { kid: String, len: usize },
    #[error("key id `{kid}` may only contain letters, digits, '_', '-' and '.'")]
    BadKid { kid: String },
    #[error("no `*.key` files in {dir}")]
    Empty { dir: String },
    #[error("several keys are loaded ({kids}); set `active_key` to the one that signs")]
    NoActiveKey { kids: String },
    #[error("`active_key` is `{kid}`, but no key with that id is loaded")]
    UnknownActiveKey { kid: String },
}

/// A secret that never shows itself in logs or debug output.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The loaded keys and which of them signs.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: BTreeMap<String, Secret>,
    active: String,
    ephemeral: bool,
}

impl KeySet {
    /// A single random key that lives as long as the process: enough for the embedded default.
    pub fn ephemeral() -> Self {
        let kid = format!("ephemeral-{}", &crate::domain::random_token_id()[..8]);
        let mut keys = BTreeMap::new();
        keys.insert(kid.clone(), Secret(generate_secret()));
        Self {
            keys,
            active: kid,
            ephemeral: true,
        }
    }

    /// Loads every `<kid>.key` file in `dir`.
    pub fn from_dir(dir: &Path, active: Option<&str>) -> Result<Self, KeyError> {
        let shown = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|source| KeyError::ReadDir {
            dir: shown.clone(),
            source,
        })?;
        let mut keys = BTreeMap::new();
        for entry in entries {
            let path = entry
                .map_err(|source| KeyError::ReadDir {
                    dir: shown.clone(),
                    source,
                })?
                .path();
            let (Some(kid), Some("key")) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            let text = std::fs::read_to_string(&path).map_err(|source| KeyError::ReadFile {
                file: path.display().to_string(),
                source,
            })?;
            keys.insert(kid.to_owned(), parse_secret(kid, &text)?);
        }
        if keys.is_empty() {
            return Err(KeyError::Empty { dir: shown });
        }
        Self::from_keys(keys, active)
    }

    /// Builds a set from `(kid, base64 secret)` pairs.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        active: Option<&str>,
    ) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        for (kid, b64) in pairs {
            keys.insert(kid.to_owned(), parse_secret(kid, b64)?);
        }
        Self::from_keys(keys, active)
    }

    fn from_keys(keys: BTreeMap<String, Secret>, active: Option<&str>) -> Result<Self, KeyError> {
        let active = match active {
            Some(kid) if keys.contains_key(kid) => kid.to_owned(),
            Some(kid) => {
                return Err(KeyError::UnknownActiveKey {
                    kid: kid.to_owned(),
                })
            }
            None if keys.len() == 1 => keys.keys().next().cloned().unwrap_or_default(),
            None => {
                return Err(KeyError::NoActiveKey {
                    kids: keys.keys().cloned().collect::<Vec<_>>().join(", "),
                })
            }
        };
        Ok(Self {
            keys,
            active,
            ephemeral: false,
        })
    }

    pub fn active_kid(&self) -> &str {
        &self.active
    }

    pub fn active_secret(&self) -> &Secret {
        &self.keys[&self.active]
    }

    pub fn get(&self, kid: &str) -> Option<&Secret> {
        self.keys.get(kid)
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// Whether the public development key would sign tokens.
    pub fn signs_with_dev_key(&self) -> bool {
        let dev = STANDARD.decode(DEV_SECRET_B64.trim()).unwrap_or_default();
        self.active == DEV_KID || self.active_secret().expose() == dev.as_slice()
    }
}

fn parse_secret(kid: &str, b64: &str) -> Result<Secret, KeyError> {
    if kid.is_empty()
        || !kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(KeyError::BadKid {
            kid: kid.to_owned(),
        });
    }
    let trimmed = b64.trim();
    let bytes = STANDARD
        .decode(trimmed)
        .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed.trim_end_matches('=')))
        .map_err(|e| KeyError::NotBase64 {
            kid: kid.to_owned(),
            reason: e.to_string(),
        })?;
    if bytes.len() < MIN_KEY_BYTES {
        return Err(KeyError::TooShort {
            kid: kid.to_owned(),
            len: bytes.len(),
        });
    }
    Ok(Secret(bytes))
}

/// 32 random bytes, the size HS256 wants.
pub fn generate_secret() -> Vec<u8> {
    let mut bytes = vec![0u8; MIN_KEY_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A new secret as the base64 text a `<kid>.key` file holds.
pub fn generate_key_file_contents() -> String {
    format!("{}\n", STANDARD.encode(generate_secret()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_malformed_keys_are_refused() {
        let short = STANDARD.encode([7u8; 31]);
        assert!(matches!(
            KeySet::from_pairs([("k1", short.as_str())], None),
            Err(KeyError::TooShort { len: 31, .. })
        ));
        assert!(matches!(
            KeySet::from_pairs([("k1", "not base64 at all!")], None),
            Err(KeyError::NotBase64 { .. })
        ));
        let good = STANDARD.encode([7u8; 32]);
        assert!(matches!(
            KeySet::from_pairs([("../x", good.as_str())], None),
            Err(KeyError::BadKid { .. })
        ));
    }

    #[test]
    fn several_keys_need_an_active_one() {
        let a = STANDARD.encode([1u8; 32]);
        let b = STANDARD.encode([2u8; 40]);
        let pairs = [("a", a.as_str()), ("b", b.as_str())];
        assert!(matches!(
            KeySet::from_pairs(pairs, None),
            Err(KeyError::NoActiveKey { .. })
        ));
        assert!(matches!(
            KeySet::from_pairs(pairs, Some("c")),
            Err(KeyError::UnknownActiveKey { .. })
        ));
        let set = KeySet::from_pairs(pairs, Some("b")).unwrap();
        assert_eq!(set.active_kid(), "b");
        assert!(set.get("a").is_some());
    }

    #[test]
    fn the_shipped_dev_key_is_recognised_and_never_printed() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys");
        let set = KeySet::from_dir(&dir, None).unwrap();
        assert!(set.signs_with_dev_key());
        assert!(!KeySet::ephemeral().signs_with_dev_key());
        assert_eq!(format!("{:?}", set.active_secret()), "Secret(<redacted>)");
    }
}

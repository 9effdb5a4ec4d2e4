//! Signing keys with key ids, loaded from a directory or generated: HS256 secrets (`<kid>.key`,
//! base64), which sign waiting tokens and may sign passes, and Ed25519 keys (`<kid>.pem`, PKCS#8 as
//! `openssl genpkey -algorithm ed25519` writes it), which sign passes that others verify with the
//! public half alone (served as a JWKS).
//!
//! Several keys may be loaded so tokens signed before a rotation still verify; new waiting tokens
//! are signed with the active key, new passes with the pass key (the active key unless set).

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
    #[error("key `{kid}` is not an Ed25519 private key in PKCS#8 PEM: {reason}")]
    NotEd25519 { kid: String, reason: String },
    #[error("no `*.key` or `*.pem` files in {dir}")]
    Empty { dir: String },
    #[error("key `{kid}` signs waiting tokens, which only HS256 keys (`*.key`) do")]
    ActiveKeyNotHmac { kid: String },
    #[error("`pass_key` is `{kid}`, but no key with that id is loaded")]
    UnknownPassKey { kid: String },
    #[error("several keys are loaded ({kids}); set `active_key` to the one that signs")]
    NoActiveKey { kids: String },
    #[error("`active_key` is `{kid}`, but no key with that id is loaded")]
    UnknownActiveKey { kid: String },
    #[error("key file {file} can be read by other users or changed by its group (mode {mode:o}): `chmod 600` it (640 for a group the server runs in); only dev_mode loads it as it is")]
    OpenToOthers { file: String, mode: u32 },
    #[error("key directory {dir} lets other users add files (mode {mode:o}): a key file someone drops there would sign tokens; `chmod 700` it (750 for a group the server runs in) or mount it read-only; only dev_mode loads it as it is")]
    DirOpenToOthers { dir: String, mode: u32 },
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

/// One signing key.
#[derive(Debug, Clone)]
pub enum Key {
    /// An HS256 secret: signs and verifies.
    Hmac(Secret),
    /// An Ed25519 key (EdDSA): the private key as PKCS#8 DER signs; `public` (base64url, as a
    /// JWK's `x`) verifies, and may be published.
    Ed25519 { pkcs8: Secret, public: String },
}

/// The DER that precedes a 32-byte Ed25519 private key in PKCS#8 (RFC 8410, section 7).
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl Key {
    /// An Ed25519 key from its 32-byte private seed.
    fn ed25519(seed: &[u8; 32]) -> Self {
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(seed);
        let public = jsonwebtoken::jwk::Jwk::from_encoding_key(
            &jsonwebtoken::EncodingKey::from_ed_der(&der),
            jsonwebtoken::Algorithm::EdDSA,
        )
        .ok()
        .and_then(|jwk| match jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(pair) => Some(pair.x),
            _ => None,
        })
        .expect("an Ed25519 seed always has a public key");
        Key::Ed25519 {
            pkcs8: Secret(der),
            public,
        }
    }

    /// The JWT `alg` this key signs with.
    pub fn algorithm(&self) -> jsonwebtoken::Algorithm {
        match self {
            Key::Hmac(_) => jsonwebtoken::Algorithm::HS256,
            Key::Ed25519 { .. } => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

/// The loaded keys and which of them signs what.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: BTreeMap<String, Key>,
    /// Signs waiting tokens: always an HMAC key.
    active: String,
    /// Signs passes.
    pass: String,
    ephemeral: bool,
    /// Key files other users may read, refused outside dev mode.
    exposed: Vec<(String, u32)>,
    /// The key directory, if others may add files to it; refused outside dev mode.
    open_dir: Option<(String, u32)>,
}

impl KeySet {
    /// A single random key that lives as long as the process: enough for the embedded default.
    pub fn ephemeral() -> Self {
        let kid = format!("ephemeral-{}", &crate::domain::random_token_id()[..8]);
        let mut keys = BTreeMap::new();
        keys.insert(kid.clone(), Key::Hmac(Secret(generate_secret())));
        Self {
            keys,
            pass: kid.clone(),
            active: kid,
            ephemeral: true,
            exposed: Vec::new(),
            open_dir: None,
        }
    }

    /// Loads every `<kid>.key` (HS256) and `<kid>.pem` (Ed25519) file in `dir`.
    pub fn from_dir(dir: &Path, active: Option<&str>) -> Result<Self, KeyError> {
        let shown = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|source| KeyError::ReadDir {
            dir: shown.clone(),
            source,
        })?;
        let mut keys = BTreeMap::new();
        let mut exposed = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| KeyError::ReadDir {
                    dir: shown.clone(),
                    source,
                })?
                .path();
            let (Some(kid), Some(kind @ ("key" | "pem"))) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            let text = std::fs::read_to_string(&path).map_err(|source| KeyError::ReadFile {
                file: path.display().to_string(),
                source,
            })?;
            if let Some(mode) = open_to_others(&path) {
                exposed.push((path.display().to_string(), mode));
            }
            let key = match kind {
                "key" => Key::Hmac(parse_secret(kid, &text)?),
                _ => parse_ed25519(kid, &text)?,
            };
            keys.insert(kid.to_owned(), key);
        }
        if keys.is_empty() {
            return Err(KeyError::Empty { dir: shown });
        }
        let mut set = Self::from_keys(keys, active)?;
        set.exposed = exposed;
        set.open_dir = writable_by_others(dir).map(|mode| (shown, mode));
        Ok(set)
    }

    /// Builds a set from `(kid, base64 secret)` pairs.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        active: Option<&str>,
    ) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        for (kid, b64) in pairs {
            keys.insert(kid.to_owned(), Key::Hmac(parse_secret(kid, b64)?));
        }
        Self::from_keys(keys, active)
    }

    fn from_keys(keys: BTreeMap<String, Key>, active: Option<&str>) -> Result<Self, KeyError> {
        let hmac: Vec<&String> = keys
            .iter()
            .filter(|(_, key)| matches!(key, Key::Hmac(_)))
            .map(|(kid, _)| kid)
            .collect();
        let active = match active {
            Some(kid) => match keys.get(kid) {
                Some(Key::Hmac(_)) => kid.to_owned(),
                Some(Key::Ed25519 { .. }) => {
                    return Err(KeyError::ActiveKeyNotHmac {
                        kid: kid.to_owned(),
                    })
                }
                None => {
                    return Err(KeyError::UnknownActiveKey {
                        kid: kid.to_owned(),
                    })
                }
            },
            None if hmac.len() == 1 => hmac[0].clone(),
            None => {
                return Err(KeyError::NoActiveKey {
                    kids: keys.keys().cloned().collect::<Vec<_>>().join(", "),
                })
            }
        };
        Ok(Self {
            keys,
            pass: active.clone(),
            active,
            ephemeral: false,
            exposed: Vec::new(),
            open_dir: None,
        })
    }

    /// Signs passes with `kid` (any kind of key) rather than the active key.
    pub fn with_pass_key(mut self, kid: Option<&str>) -> Result<Self, KeyError> {
        if let Some(kid) = kid {
            if !self.keys.contains_key(kid) {
                return Err(KeyError::UnknownPassKey {
                    kid: kid.to_owned(),
                });
            }
            kid.clone_into(&mut self.pass);
        }
        Ok(self)
    }

    /// The key that signs waiting tokens.
    pub fn active_kid(&self) -> &str {
        &self.active
    }

    /// The key that signs passes.
    pub fn pass_kid(&self) -> &str {
        &self.pass
    }

    pub fn active_secret(&self) -> &Secret {
        match &self.keys[&self.active] {
            Key::Hmac(secret) => secret,
            Key::Ed25519 { .. } => unreachable!("the active key is checked to be HS256 on load"),
        }
    }

    pub fn get(&self, kid: &str) -> Option<&Key> {
        self.keys.get(kid)
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// Whether the public development key is loaded at all (under any key id): anyone can sign
    /// with it, so beside a real key it would still let forged tokens verify.
    pub fn holds_dev_key(&self) -> bool {
        let dev = STANDARD.decode(DEV_SECRET_B64.trim()).unwrap_or_default();
        self.keys.iter().any(|(kid, key)| match key {
            Key::Hmac(secret) => kid == DEV_KID || secret.expose() == dev.as_slice(),
            Key::Ed25519 { .. } => false,
        })
    }

    /// The first key file other users may read, if any.
    pub fn exposed_file(&self) -> Option<KeyError> {
        if let Some((dir, mode)) = &self.open_dir {
            return Some(KeyError::DirOpenToOthers {
                dir: dir.clone(),
                mode: *mode,
            });
        }
        let (file, mode) = self.exposed.first()?;
        Some(KeyError::OpenToOthers {
            file: file.clone(),
            mode: *mode,
        })
    }
}

/// The file's mode if users other than its owner may change it, or others than its owner and group
/// read it: a key someone else can replace signs tokens that are not the operator's.
#[cfg(unix)]
fn open_to_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o027 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn open_to_others(_: &Path) -> Option<u32> {
    None
}

/// The directory's mode if users other than its owner and group may add files to it, unless it is
/// mounted read-only (as Kubernetes mounts a secret: mode 1777 on a read-only file system).
#[cfg(unix)]
fn writable_by_others(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o7777;
    (mode & 0o002 != 0 && !read_only_mount(dir)).then_some(mode)
}

#[cfg(unix)]
fn read_only_mount(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a valid NUL-terminated string and `stat` a properly sized out-parameter.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let answered = unsafe { libc::statvfs(path.as_ptr(), &mut stat) } == 0;
    answered && stat.f_flag & libc::ST_RDONLY != 0
}

#[cfg(not(unix))]
fn writable_by_others(_: &Path) -> Option<u32> {
    None
}

/// Key ids end up in token headers and file names.
pub fn check_kid(kid: &str) -> Result<(), KeyError> {
    if kid.is_empty()
        || !kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return Err(KeyError::BadKid {
            kid: kid.to_owned(),
        });
    }
    Ok(())
}

fn parse_secret(kid: &str, b64: &str) -> Result<Secret, KeyError> {
    check_kid(kid)?;
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

/// An Ed25519 private key in PKCS#8 PEM.
fn parse_ed25519(kid: &str, pem: &str) -> Result<Key, KeyError> {
    check_kid(kid)?;
    let refused = |reason: &str| KeyError::NotEd25519 {
        kid: kid.to_owned(),
        reason: reason.to_owned(),
    };
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|line| *line != "-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .take_while(|line| *line != "-----END PRIVATE KEY-----")
        .collect();
    if body.is_empty() {
        return Err(refused("no `BEGIN PRIVATE KEY` block"));
    }
    let der = STANDARD.decode(body).map_err(|e| refused(&e.to_string()))?;
    let seed = der
        .strip_prefix(&ED25519_PKCS8_PREFIX)
        .and_then(|seed| <&[u8; 32]>::try_from(seed).ok())
        .ok_or_else(|| refused("not an Ed25519 key"))?;
    Ok(Key::ed25519(seed))
}

/// A new Ed25519 key as the PKCS#8 PEM a `<kid>.pem` file holds.
pub fn generate_ed25519_pem() -> String {
    let mut der = ED25519_PKCS8_PREFIX.to_vec();
    der.extend_from_slice(&generate_secret());
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der)
    )
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
    fn ed25519_keys_load_from_pem_and_sign_only_passes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hs.key"), generate_key_file_contents()).unwrap();
        std::fs::write(dir.path().join("ed.pem"), generate_ed25519_pem()).unwrap();
        // The one HMAC key signs waiting tokens, and passes unless told otherwise.
        let set = KeySet::from_dir(dir.path(), None).unwrap();
        assert_eq!((set.active_kid(), set.pass_kid()), ("hs", "hs"));
        let set = set.with_pass_key(Some("ed")).unwrap();
        assert_eq!(set.pass_kid(), "ed");
        let Some(Key::Ed25519 { public, .. }) = set.get("ed") else {
            panic!("an Ed25519 key");
        };
        assert_eq!(URL_SAFE_NO_PAD.decode(public).unwrap().len(), 32);
        assert!(matches!(
            KeySet::from_dir(dir.path(), Some("ed")),
            Err(KeyError::ActiveKeyNotHmac { .. })
        ));
        assert!(matches!(
            set.with_pass_key(Some("nope")),
            Err(KeyError::UnknownPassKey { .. })
        ));
        std::fs::write(
            dir.path().join("bad.pem"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(matches!(
            KeySet::from_dir(dir.path(), None),
            Err(KeyError::NotEd25519 { .. })
        ));
    }

    /// A key `openssl genpkey -algorithm ed25519` wrote (RFC 8410's example key), and its public
    /// half as RFC 8037 gives it for that key.
    #[test]
    fn keys_written_by_openssl_load() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let Key::Ed25519 { public, .. } = parse_ed25519("rfc", pem).unwrap() else {
            panic!("an Ed25519 key");
        };
        assert_eq!(public, "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE");
    }

    #[test]
    fn the_shipped_dev_key_is_recognised_and_never_printed() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("keys");
        let set = KeySet::from_dir(&dir, None).unwrap();
        assert!(set.holds_dev_key());
        assert!(!KeySet::ephemeral().holds_dev_key());
        // Under another name, beside a real key, it is still the dev key.
        let renamed = KeySet::from_pairs(
            [
                ("real", &*STANDARD.encode([7u8; 32])),
                ("other", DEV_SECRET_B64),
            ],
            Some("real"),
        )
        .unwrap();
        assert!(renamed.holds_dev_key());
        assert_eq!(format!("{:?}", set.active_secret()), "Secret(<redacted>)");
    }
}

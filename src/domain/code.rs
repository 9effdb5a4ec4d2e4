//! Enqueue codes: what an invite-only event's visitors join with. Made here (10 characters of
//! Crockford's base32, 50 random bits), read forgivingly (any case, dashes and spaces ignored,
//! letters that look like digits read as those digits), and stored only as a SHA-256 digest.

use sha2::{Digest, Sha256};

/// Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand stays one code.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const LENGTH: usize = 10;

/// A well-formed enqueue code (not necessarily one the event issued, or still unused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueueCode(String);

impl EnqueueCode {
    /// A new random code.
    pub fn generate() -> Self {
        let mut bits: u64 = rand::random();
        let mut code = String::with_capacity(LENGTH);
        for _ in 0..LENGTH {
            code.push(char::from(ALPHABET[(bits & 31) as usize]));
            bits >>= 5;
        }
        Self(code)
    }

    /// A code as a person may type it: `abcd-efgh-jk`, `ABCDEFGHJK`, `o` for `0`.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut code = String::with_capacity(LENGTH);
        for c in raw.chars().filter(|c| !matches!(c, '-' | ' ')) {
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || code.len() == LENGTH {
                return None;
            }
            code.push(c);
        }
        (code.len() == LENGTH).then_some(Self(code))
    }

    /// What the store keeps of it.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_people_type_them() {
        let code = EnqueueCode::generate();
        assert_eq!(code.as_str().len(), 10);
        assert_eq!(EnqueueCode::parse(code.as_str()), Some(code.clone()));
        let typed = format!(
            "{}-{} ",
            &code.as_str()[..5].to_lowercase(),
            &code.as_str()[5..]
        );
        assert_eq!(EnqueueCode::parse(&typed), Some(code.clone()));
        assert_eq!(
            EnqueueCode::parse("o1lI-ABCDEF"),
            EnqueueCode::parse("0111ABCDEF")
        );
        for wrong in [
            "",
            "ABCDEFGHJ",
            "ABCDEFGHJKM",
            "ABCDEFGHJU",
            "ABCDEFGHJ€",
            "a.b.c",
        ] {
            assert_eq!(EnqueueCode::parse(wrong), None, "{wrong}");
        }
        assert_ne!(EnqueueCode::generate(), EnqueueCode::generate());
        assert_eq!(code.digest(), EnqueueCode::parse(&typed).unwrap().digest());
    }
}

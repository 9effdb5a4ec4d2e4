//! The draws: a pre-queue's permutation, and each release of an event that draws at random, both
//! recomputable by anyone from a published seed, so nobody has to take them on trust (the
//! procedure: `docs/FAIRNESS.md`).
//!
//! A pre-queue's seed is fixed (and its SHA-256, the commitment, published) before the pre-queue
//! opens, and published itself when the order is drawn, with the entries in arrival order. A pool's
//! seed is fixed when the event first draws at random and published once it closed.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The draw's secret until it is drawn: 32 random bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Seed([u8; 32]);

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(..)")
    }
}

impl Seed {
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// A seed from its 64 hex digits.
    pub fn parse(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// The SHA-256 of the seed's bytes, hex: what is published before the pre-queue opens.
    pub fn commitment(&self) -> String {
        hex(&Sha256::digest(self.0))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The drawn order of `n` entries: element `d - 1` is the arrival number (1-based) of the entry
/// that gets drawn position `d`.
///
/// A Fisher-Yates shuffle of `1..=n`: for `i` from `n - 1` down to 1, swap element `i` with element
/// `j`, uniform in `0..=i`. `j` comes from SHA-256(seed ‖ i as 8 bytes big-endian ‖ k as 4 bytes
/// big-endian) for k = 0, 1, ...: its first 8 bytes, big-endian, as `x`; the first `x` that is not
/// among the top `2^64 mod (i + 1)` values gives `j = x mod (i + 1)` (so every `j` is exactly as
/// likely).
pub fn order(seed: &Seed, n: u32) -> Vec<u32> {
    let mut order: Vec<u32> = (1..=n).collect();
    for i in (1..order.len()).rev() {
        let j = uniform_below(seed, i as u64, i as u64 + 1);
        order.swap(i, j as usize);
    }
    order
}

fn uniform_below(seed: &Seed, step: u64, bound: u64) -> u64 {
    let rejected = (u64::MAX % bound + 1) % bound;
    for attempt in 0u32.. {
        let mut hasher = Sha256::new();
        hasher.update(seed.0);
        hasher.update(step.to_be_bytes());
        hasher.update(attempt.to_be_bytes());
        let digest = hasher.finalize();
        let x = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        if x <= u64::MAX - rejected {
            return x % bound;
        }
    }
    unreachable!("a 64-bit value below the bound turns up")
}

/// The picks of release `release` (counted from 1) of an event that draws at random, from a pool of
/// `waiting` arrival numbers, for up to `count` winners: the `t`-th winner (from 0) is the entry at
/// rank `picks[t]` (from 0) among those still in the pool, sorted by arrival number, earlier winners
/// taken out. `picks[t]` is uniform in `0..waiting - t`, drawn as [`order`] draws its `j` but from
/// the release's own seed, SHA-256(seed ‖ release as 8 bytes big-endian), and `t` as the step: so
/// every waiting visitor has the same chance at every release, and anyone with the seed (published
/// when the event closes) recomputes each release.
pub fn release_picks(seed: &Seed, release: u64, waiting: u64, count: u64) -> Vec<u64> {
    let mut hasher = Sha256::new();
    hasher.update(seed.0);
    hasher.update(release.to_be_bytes());
    let release_seed = Seed(hasher.finalize().into());
    (0..count.min(waiting))
        .map(|t| uniform_below(&release_seed, t, waiting - t))
        .collect()
}

/// The winners `picks` ([`release_picks`]) take from `pool` (arrival numbers in ascending order),
/// in the order drawn; `pool` keeps the others.
pub fn take_picks(pool: &mut Vec<u64>, picks: &[u64]) -> Vec<u64> {
    picks
        .iter()
        .map(|&rank| pool.remove(usize::try_from(rank).expect("a rank within the pool")))
        .collect()
}

/// The drawn position of every arrival number: element `a - 1` is arrival `a`'s position.
pub fn positions(order: &[u32]) -> Vec<u32> {
    let mut positions = vec![0; order.len()];
    for (index, arrival) in order.iter().enumerate() {
        positions[*arrival as usize - 1] = index as u32 + 1;
    }
    positions
}

/// What the published entry lists show of a visitor: the first 16 bytes of HMAC-SHA256 keyed with the
/// seed over their id, hex. A booking site's user ids may be names or e-mail addresses, easy to guess:
/// without the seed, kept secret until the draw, no entry can be tried against a guess before it, and
/// after it a guess must be tried against each entry with the seed (a plain hash would reveal a known
/// user at a glance). A visitor who knows their id finds their own entry. What the store lost is
/// [`LOST_ENTRY`], as it is.
pub fn entry_id(seed: &Seed, visitor: &str) -> String {
    if visitor == LOST_ENTRY {
        return visitor.to_owned();
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&seed.0).expect("HMAC takes any key length");
    mac.update(visitor.as_bytes());
    hex(&mac.finalize().into_bytes()[..16])
}

/// The entry of a place whose visitor the store lost (`crate::store::LOST_VISITOR`).
pub const LOST_ENTRY: &str = "(lost)";

impl Seed {
    /// The seed the order is drawn with: SHA-256(seed ‖ SHA-256 of the entries in arrival order, each
    /// followed by a newline). The entries are only known once the pre-queue closes, so whoever reads
    /// the seed early (from the store) still cannot know the order before then.
    pub fn mixed(&self, entries: &[String]) -> Seed {
        let mut all = Sha256::new();
        for entry in entries {
            all.update(entry.as_bytes());
            all.update(b"\n");
        }
        let mut mixed = Sha256::new();
        mixed.update(self.0);
        mixed.update(all.finalize());
        Seed(mixed.finalize().into())
    }
}

/// Why a published draw does not hold up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuditError {
    #[error("the seed is not 64 hex digits")]
    BadSeed,
    #[error("the seed's SHA-256 is {found}, not the commitment {committed}")]
    CommitmentMismatch { committed: String, found: String },
    #[error("{arrived} entries arrived but {drawn} positions are listed")]
    CountMismatch { arrived: usize, drawn: usize },
    #[error("{wrong} of {total} positions differ from the seed's permutation (the first: position {first})")]
    PositionsDiffer {
        wrong: usize,
        total: usize,
        first: usize,
    },
}

/// Checks a published draw: the seed matches its commitment, and position `d` holds the entry the
/// permutation of the seed mixed with the entries ([`Seed::mixed`]) gives it, for every `d`. Returns
/// how many positions were checked.
pub fn audit(
    seed: &str,
    commitment: &str,
    arrived: &[String],
    positions: &[String],
) -> Result<usize, AuditError> {
    let seed = Seed::parse(seed).ok_or(AuditError::BadSeed)?;
    let found = seed.commitment();
    if !found.eq_ignore_ascii_case(commitment) {
        return Err(AuditError::CommitmentMismatch {
            committed: commitment.to_owned(),
            found,
        });
    }
    if arrived.len() != positions.len() || u32::try_from(arrived.len()).is_err() {
        return Err(AuditError::CountMismatch {
            arrived: arrived.len(),
            drawn: positions.len(),
        });
    }
    let drawn = order(&seed.mixed(arrived), arrived.len() as u32);
    let wrong: Vec<usize> = drawn
        .iter()
        .zip(positions)
        .enumerate()
        .filter(|(_, (arrival, held))| arrived[**arrival as usize - 1] != **held)
        .map(|(index, _)| index + 1)
        .collect();
    match wrong.first() {
        None => Ok(positions.len()),
        Some(&first) => Err(AuditError::PositionsDiffer {
            wrong: wrong.len(),
            total: positions.len(),
            first,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(n: u8) -> Seed {
        Seed([n; 32])
    }

    #[test]
    fn a_seed_round_trips_through_hex_and_commits_to_its_sha256() {
        let s = seed(7);
        assert_eq!(Seed::parse(&s.to_hex()), Some(s));
        assert_eq!(Seed::parse("zz"), None);
        assert_eq!(Seed::parse(&"g".repeat(64)), None);
        // sha256 of 32 zero bytes
        assert_eq!(
            Seed([0; 32]).commitment(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn the_order_is_a_permutation_fixed_by_the_seed() {
        let drawn = order(&seed(1), 1_000);
        let mut sorted = drawn.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=1_000).collect::<Vec<_>>());
        assert_eq!(drawn, order(&seed(1), 1_000));
        assert_ne!(drawn, order(&seed(2), 1_000));
        assert_ne!(drawn, sorted, "a shuffle moves something");
        let positions = positions(&drawn);
        for (index, arrival) in drawn.iter().enumerate() {
            assert_eq!(positions[*arrival as usize - 1], index as u32 + 1);
        }
        assert!(order(&seed(1), 0).is_empty());
        assert_eq!(order(&seed(1), 1), vec![1]);
    }

    /// Over 4,000 draws of 8 entries with different seeds, every entry lands on every position about
    /// equally often: a chi-square test of the 8 × 8 table (49 degrees of freedom) at p = 0.001
    /// (critical value 85.35). The seeds are fixed, so the test says the same every run.
    #[test]
    fn every_entry_is_equally_likely_at_every_position() {
        const N: usize = 8;
        const DRAWS: u32 = 4_000;
        let mut counts = [[0u32; N]; N];
        for draw in 0..DRAWS {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&draw.to_be_bytes());
            for (index, arrival) in order(&Seed(bytes), N as u32).iter().enumerate() {
                counts[*arrival as usize - 1][index] += 1;
            }
        }
        let expected = f64::from(DRAWS) / N as f64;
        let chi_square: f64 = counts
            .iter()
            .flatten()
            .map(|&seen| (f64::from(seen) - expected).powi(2) / expected)
            .sum();
        assert!(chi_square < 85.35, "chi-square {chi_square:.1}");
    }

    #[test]
    fn an_audit_passes_an_honest_draw_and_names_what_is_wrong_with_another() {
        let s = seed(3);
        let arrived: Vec<String> = (1..=50).map(|n| format!("entry-{n}")).collect();
        let honest: Vec<String> = order(&s.mixed(&arrived), 50)
            .iter()
            .map(|arrival| arrived[*arrival as usize - 1].clone())
            .collect();
        let commitment = s.commitment();
        assert_eq!(audit(&s.to_hex(), &commitment, &arrived, &honest), Ok(50));
        let mut swapped = honest.clone();
        swapped.swap(0, 1);
        assert_eq!(
            audit(&s.to_hex(), &commitment, &arrived, &swapped),
            Err(AuditError::PositionsDiffer {
                wrong: 2,
                total: 50,
                first: 1
            })
        );
        assert!(matches!(
            audit(&seed(4).to_hex(), &commitment, &arrived, &honest),
            Err(AuditError::CommitmentMismatch { .. })
        ));
        assert!(matches!(
            audit(&s.to_hex(), &commitment, &arrived, &honest[1..]),
            Err(AuditError::CountMismatch { .. })
        ));
        assert_eq!(
            audit("nope", &commitment, &arrived, &honest),
            Err(AuditError::BadSeed)
        );
    }

    #[test]
    fn entries_hide_the_visitor_id_but_its_holder_finds_it() {
        let entry = entry_id(&seed(1), "alice@example.com");
        assert_eq!(entry.len(), 32);
        assert!(!entry.contains("alice"));
        assert_eq!(entry, entry_id(&seed(1), "alice@example.com"));
        assert_ne!(entry, entry_id(&seed(1), "bob@example.com"));
        // Keyed: without the seed, a guessed id says nothing (not the plain SHA-256 of the id).
        assert_ne!(entry, entry_id(&seed(2), "alice@example.com"));
        assert_ne!(entry, hex(&Sha256::digest(b"alice@example.com")[..16]));
        assert_eq!(entry_id(&seed(1), LOST_ENTRY), LOST_ENTRY);
    }

    #[test]
    fn the_order_depends_on_every_entry_not_only_the_seed() {
        let entries: Vec<String> = (1..=20).map(|n| format!("entry-{n}")).collect();
        let mut one_more = entries.clone();
        one_more[19] = "entry-late".into();
        let s = seed(5);
        assert_ne!(
            order(&s.mixed(&entries), 20),
            order(&s.mixed(&one_more), 20)
        );
        assert_ne!(order(&s.mixed(&entries), 20), order(&s, 20));
        assert_eq!(s.mixed(&entries), s.mixed(&entries.clone()));
    }

    /// Each release's picks are fixed by the seed and the release number, within bounds, and take
    /// every waiting visitor with the same chance: over 2,000 releases (different seeds) of 5 from
    /// 20, each arrival number wins about a quarter of them (chi-square, 19 degrees of freedom, at
    /// p = 0.001: 43.82). The seeds are fixed, so the test says the same every run.
    #[test]
    fn each_release_picks_everyone_waiting_with_the_same_chance() {
        let picks = release_picks(&seed(1), 3, 20, 5);
        assert_eq!(picks, release_picks(&seed(1), 3, 20, 5));
        assert_ne!(picks, release_picks(&seed(1), 4, 20, 5));
        assert_ne!(picks, release_picks(&seed(2), 3, 20, 5));
        assert!(picks
            .iter()
            .enumerate()
            .all(|(t, &rank)| rank < 20 - t as u64));
        assert_eq!(release_picks(&seed(1), 1, 3, 10).len(), 3);
        const RELEASES: u32 = 2_000;
        let mut wins = [0u32; 20];
        for release in 0..RELEASES {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&release.to_be_bytes());
            let mut pool: Vec<u64> = (1..=20).collect();
            let winners = take_picks(&mut pool, &release_picks(&Seed(bytes), 1, 20, 5));
            assert_eq!(winners.len() + pool.len(), 20);
            for arrival in winners {
                wins[arrival as usize - 1] += 1;
            }
        }
        let expected = f64::from(RELEASES) * 5.0 / 20.0;
        let chi_square: f64 = wins
            .iter()
            .map(|&seen| (f64::from(seen) - expected).powi(2) / expected)
            .sum();
        assert!(chi_square < 43.82, "{wins:?}: chi-square {chi_square:.1}");
    }
}

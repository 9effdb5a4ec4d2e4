//! Sold out: no new places; those already in line keep theirs and are released as before.

use super::IntakeRules;

pub(super) struct SoldOut;

impl IntakeRules for SoldOut {
    fn takes_joins(&self) -> bool {
        false
    }
}

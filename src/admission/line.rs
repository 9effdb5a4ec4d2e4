//! A plain line: first come, first served. Every rule is the default one of [`IntakeRules`].

use super::IntakeRules;

pub(super) struct Line;

impl IntakeRules for Line {}

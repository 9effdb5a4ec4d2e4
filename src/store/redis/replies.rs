//! Reading what Redis answers: `INFO` fields, a draw's stored state.

use crate::domain::draw::Seed;
use crate::domain::LineId;
use crate::store::{DrawState, Drawn, StoreError};

/// A Redis server's run id (new at each start) and replication id (new when a replica is promoted),
/// from its `INFO`.
pub(super) fn instance_name(info: &str) -> String {
    let field = |name| info_field(info, name).unwrap_or_default();
    format!("{}/{}", field("run_id"), field("master_replid"))
}

/// One field of an `INFO` answer.
pub(super) fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// The `draw` hash's seed, size, at (unix ms drawn) and order (the seed the order was drawn with).
pub(super) type StoredDraw = (Option<String>, Option<u64>, Option<i64>, Option<String>);

/// An event's draw as the store holds it.
pub(super) fn draw_state(
    event: &LineId,
    (seed, size, at_ms, order_seed): StoredDraw,
) -> Result<Option<DrawState>, StoreError> {
    let Some(seed) = seed else {
        return Ok(None);
    };
    let seed = parse_seed(event, "draw seed", &seed)?;
    let drawn = match (size, at_ms, order_seed) {
        (Some(size), Some(at_ms), Some(order_seed)) => Some(Drawn {
            size,
            at_ms,
            order_seed: parse_seed(event, "draw's order seed", &order_seed)?,
        }),
        _ => None,
    };
    Ok(Some(DrawState { seed, drawn }))
}

pub(super) fn parse_seed(event: &LineId, what: &str, hex: &str) -> Result<Seed, StoreError> {
    Seed::parse(hex).ok_or_else(|| StoreError::Corrupt(format!("the {what} of event `{event}`")))
}

//! `waitroom simulate`: a sale played through before it happens. The real scheduler, admission
//! and estimate code run on the embedded store and a [`VirtualClock`] (no sleeping, no network):
//! people arrive as a curve says, wait, sometimes give up, are let through in the event's batches,
//! sometimes do not show up, and hold a capacity slot for their session. What each person was told
//! at joining and what happened to them is kept, for the summary and the report's plots.
//!
//! Layout: `arrivals.rs` (arrival curves and CSV), `play.rs` (the sale on the virtual clock),
//! `report.rs` (the summary and the HTML report).

pub mod arrivals;
mod play;
mod report;

pub use arrivals::{Arrivals, ArrivalsError};
pub use play::{run, Behaviour, Outcome, Person, Sample, Scenario, SimulateError, OPENS_MS};
pub use report::{html_report, Summary};

//! Each replica's copy of every event's settings, admission pointer and leavers, so that status and
//! gate checks never wait on the store: [`PointerCache`] holds every event's [`CachedEvent`], and
//! [`synced`] fills it and keeps it fresh from the store's push channel and, should a message be
//! lost, cheap periodic checks.

mod due;
mod event;
mod pointer;
mod sync;

pub use due::Due;
pub use event::{CachedEvent, DrawnOrder, PrequeueDraw, SignedPass};
pub use pointer::PointerCache;
pub use sync::{synced, Resync};

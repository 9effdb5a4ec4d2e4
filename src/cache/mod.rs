//! Each replica's copy of every event's settings, admission pointer and leavers, so that status and
//! gate checks never wait on the store: [`PointerCache`] holds every event's [`CachedEvent`], and
//! [`keep_in_sync`] keeps it fresh from the store's push channel and, should a message be lost, a
//! short periodic resync.

mod due;
mod event;
mod pointer;
mod sync;

pub use due::Due;
pub use event::{CachedEvent, SignedPass};
pub use pointer::PointerCache;
pub use sync::{keep_in_sync, synced, Resync};

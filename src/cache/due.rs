//! Events the scheduler should look at soon (someone may be waiting), so that it wakes for them
//! instead of scanning every event.

use std::collections::HashSet;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::domain::LineId;

#[derive(Debug, Default)]
pub struct Due {
    events: Mutex<HashSet<LineId>>,
    wake: Notify,
}

impl Due {
    pub fn add(&self, event: &LineId) {
        let added = self.events.lock().insert(event.clone());
        if added {
            self.wake.notify_one();
        }
    }

    /// The events added since the last call.
    pub fn take(&self) -> HashSet<LineId> {
        std::mem::take(&mut *self.events.lock())
    }

    /// Returns once an event was added (at once if one was since the last wait).
    pub async fn added(&self) {
        self.wake.notified().await;
    }
}

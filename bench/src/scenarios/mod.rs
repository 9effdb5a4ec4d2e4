//! The scenarios, each measured against the ceiling or counted on its own.

pub mod drain;
pub mod join;
pub mod propagation;
pub mod status;

use hyper::StatusCode;
use waitroom::client::Client;
use waitroom::domain::EventSettingsPatch;

/// Creates an event that moves only when the bench advances it.
async fn released_by_hand(admin: &Client, event: &str) {
    let patch = EventSettingsPatch {
        batch_size: Some(0),
        ..Default::default()
    };
    admin.put_event(event, &patch).await.expect("an event");
}

/// A new visitor's waiting token.
async fn joined(admin: &Client, event: &str) -> String {
    admin.join(event).await.expect("a join").token
}

fn expect_2xx(status: StatusCode) -> bool {
    status.is_success()
}

//! The one place sls-rs sleeps: between polls of a waiter and between retries
//! of a named, retryable error. Never a fixed sleep in place of a check.

use std::time::Duration;

pub async fn pause(delay: Duration) {
    tokio::time::sleep(delay).await;
}

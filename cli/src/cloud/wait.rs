//! The one place sls-rs sleeps: between polls of a waiter and between retries
//! of a named, retryable error. Never a fixed sleep in place of a check.

use std::time::Duration;

pub async fn pause(delay: Duration) {
    tokio::time::sleep(delay).await;
}

/// A duration from the environment in humantime form (`90s`, `15m`, `200ms`): the
/// knobs that shorten waits in tests. Unset or unreadable: `None`.
pub fn duration_var(name: &str) -> Option<Duration> {
    humantime::parse_duration(&std::env::var(name).ok()?).ok()
}

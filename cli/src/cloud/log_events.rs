//! Reading a log group's events (CloudWatch Logs FilterLogEvents, paginated).

use super::{aws_error, Aws};

#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub id: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub message: String,
    pub stream: String,
}

/// The events of a group between `start` and `end` (ms), matching `pattern` if given.
/// A group that does not exist (a function never invoked) has no events.
pub async fn filter(
    aws: &Aws,
    group: &str,
    start: i64,
    end: Option<i64>,
    pattern: Option<&str>,
) -> anyhow::Result<Vec<LogEvent>> {
    let mut events = Vec::new();
    let mut pages = aws
        .logs
        .filter_log_events()
        .log_group_name(group)
        .start_time(start)
        .set_end_time(end)
        .set_filter_pattern(pattern.map(str::to_string))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(events)
            }
            Err(e) => {
                return Err(aws_error(
                    &format!("reading log group ({group})"),
                    "logs:FilterLogEvents",
                    e,
                ))
            }
        };
        for e in page.events.unwrap_or_default() {
            events.push(LogEvent {
                id: e.event_id.unwrap_or_default(),
                timestamp: e.timestamp.unwrap_or_default(),
                message: e.message.unwrap_or_default(),
                stream: e.log_stream_name.unwrap_or_default(),
            });
        }
    }
    Ok(events)
}

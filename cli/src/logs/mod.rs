//! `logs`: the events of one function or of all of them, interleaved in time,
//! rendered for reading: the runtime crate's JSON lines as time, level, message
//! and request id; Lambda's START/END/REPORT lines as one line per invocation.

mod render;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::try_join_all;

pub use render::{render_human, render_json, Format, Line};

use crate::cloud::{log_events, Aws, Target};
use crate::manifest::Service;

/// How often `--tail` asks for new events.
const TAIL_EVERY: Duration = Duration::from_secs(1);

pub struct LogsOptions {
    /// Manifest names of the functions to read; all when empty.
    pub functions: Vec<String>,
    /// Milliseconds since the epoch.
    pub since: i64,
    pub filter: Option<String>,
    pub tail: bool,
    pub format: Format,
    /// Only lines at least this severe (see [`kept_at`]).
    pub level: Option<crate::manifest::LogLevel>,
}

/// Whether a line passes `--level`: a JSON line by its `level` (or `log.level`), a
/// Lambda platform line (`START`, `END`, `REPORT`, `INIT_START`, or a JSON
/// `platform.*` record) never, any other line (a panic's text) always.
pub fn kept_at(message: &str, min: crate::manifest::LogLevel) -> bool {
    let text = message.trim_start();
    if [
        "START ",
        "END ",
        "REPORT ",
        "INIT_START ",
        "INIT_REPORT ",
        "EXTENSION ",
    ]
    .iter()
    .any(|p| text.starts_with(p))
    {
        return false;
    }
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_str::<serde_json::Value>(text) else {
        return true;
    };
    if doc
        .get("type")
        .and_then(|t| t.as_str())
        .is_some_and(|t| t.starts_with("platform."))
    {
        return false;
    }
    let level = doc
        .get("level")
        .or_else(|| doc.get("log").and_then(|l| l.get("level")))
        .and_then(|l| l.as_str())
        .and_then(crate::manifest::LogLevel::parse);
    level.is_none_or(|l| l >= min)
}

/// Parses `--since`: a duration back from now (`10m`, `2h`, `1d`) or a time (`2026-11-27T10:00:00Z`).
pub fn parse_since(text: &str) -> Result<i64, String> {
    let now = SystemTime::now();
    let at = match humantime::parse_duration(text) {
        Ok(back) => now
            .checked_sub(back)
            .ok_or_else(|| format!("`{text}` reaches before 1970"))?,
        Err(_) => humantime::parse_rfc3339_weak(text).map_err(|_| {
            format!("`{text}` is neither a duration (10m, 2h) nor a time (2026-11-27T10:00:00Z)")
        })?,
    };
    Ok(at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0))
}

async fn fetch(
    aws: &Aws,
    groups: &[(String, String)],
    since: i64,
    filter: Option<&str>,
) -> anyhow::Result<Vec<(String, log_events::LogEvent)>> {
    let reads = groups.iter().map(|(function, group)| async move {
        let events = log_events::filter(aws, group, since, None, filter).await?;
        anyhow::Ok(
            events
                .into_iter()
                .map(|e| (function.clone(), e))
                .collect::<Vec<_>>(),
        )
    });
    let mut all: Vec<(String, log_events::LogEvent)> =
        try_join_all(reads).await?.into_iter().flatten().collect();
    // Interleaved in time; the event id breaks ties so the order is stable.
    all.sort_by(|a, b| (a.1.timestamp, &a.1.id).cmp(&(b.1.timestamp, &b.1.id)));
    Ok(all)
}

/// Prints the events, and with `tail` keeps polling until Ctrl-C.
pub async fn run(
    service: &Service,
    opts: &LogsOptions,
    mut emit: impl FnMut(&str) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let aws = Aws::connect(&Target::of(service)).await?;
    let names: Vec<String> = if opts.functions.is_empty() {
        service.manifest.functions.keys().cloned().collect()
    } else {
        opts.functions.clone()
    };
    let groups: Vec<(String, String)> = names
        .iter()
        .map(|f| {
            (
                f.clone(),
                format!("/aws/lambda/{}", service.function_name(f)),
            )
        })
        .collect();
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let prefix = names.len() > 1;
    let mut seen: HashSet<String> = HashSet::new();
    let mut since = opts.since;
    loop {
        for (function, event) in fetch(&aws, &groups, since, opts.filter.as_deref()).await? {
            if !seen.insert(event.id.clone()) {
                continue;
            }
            since = since.max(event.timestamp);
            if opts.level.is_some_and(|min| !kept_at(&event.message, min)) {
                continue;
            }
            let line = Line {
                function: &function,
                event: &event,
            };
            let text = match opts.format {
                Format::Json => render_json(&line).to_string(),
                _ => render_human(
                    &line,
                    opts.format,
                    prefix.then_some(width),
                    names.iter().position(|n| n == &function).unwrap_or(0),
                ),
            };
            if !text.is_empty() {
                emit(&text)?;
            }
        }
        if !opts.tail {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = crate::cloud::pause(TAIL_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod level_tests {
    use super::kept_at;
    use crate::manifest::LogLevel;

    #[test]
    fn level_keeps_severe_json_lines_and_unlevelled_text_but_not_lambdas_own() {
        let warn = LogLevel::Warn;
        assert!(kept_at(r#"{"level":"ERROR","message":"x"}"#, warn));
        assert!(kept_at(r#"{"level":"WARN","message":"x"}"#, warn));
        assert!(!kept_at(r#"{"level":"INFO","message":"x"}"#, warn));
        assert!(!kept_at(r#"{"level":"debug","message":"x"}"#, warn));
        assert!(kept_at("thread 'main' panicked at src/main.rs:3:5", warn));
        assert!(!kept_at("REPORT RequestId: 1\tDuration: 1 ms", warn));
        assert!(!kept_at(r#"{"type":"platform.report","record":{}}"#, warn));
        assert!(kept_at(r#"{"log":{"level":"FATAL"}}"#, LogLevel::Error));
    }
}

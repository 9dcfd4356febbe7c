//! Turning log events into lines for people (or JSON for programs).

use serde_json::{json, Value};

use crate::cloud::log_events::LogEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Readable: JSON lines and Lambda's platform lines condensed, coloured on a terminal.
    Pretty { color: bool },
    /// The messages as written.
    Raw,
    /// One JSON object per event.
    Json,
}

pub struct Line<'a> {
    pub function: &'a str,
    pub event: &'a LogEvent,
}

const COLORS: [&str; 6] = ["36", "35", "33", "32", "34", "31"];

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn time_of(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// `REPORT RequestId: … Duration: 1.2 ms …` → its fields.
fn report_fields(message: &str) -> Option<Vec<(String, String)>> {
    let rest = message.strip_prefix("REPORT ")?;
    Some(
        rest.split('\t')
            .filter_map(|part| part.split_once(": "))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    )
}

/// One line for people; empty when the event says nothing worth a line (START, END).
pub fn render_human(
    line: &Line,
    format: Format,
    prefix_width: Option<usize>,
    index: usize,
) -> String {
    let message = line.event.message.trim_end();
    let color = matches!(format, Format::Pretty { color: true });
    let prefix = match prefix_width {
        Some(w) => format!(
            "{} ",
            paint(
                color,
                COLORS[index % COLORS.len()],
                &format!("{:w$}", line.function)
            )
        ),
        None => String::new(),
    };
    if format == Format::Raw {
        return format!("{prefix}{message}");
    }
    if message.starts_with("START RequestId:") || message.starts_with("END RequestId:") {
        return String::new();
    }
    let time = paint(color, "2", &time_of(line.event.timestamp));
    if let Some(fields) = report_fields(message) {
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let request = get("RequestId")
            .map(|r| r.chars().take(8).collect::<String>())
            .unwrap_or_default();
        let mut text = format!(
            "REPORT {request} {} (billed {}), memory {} of {}",
            get("Duration").unwrap_or("?"),
            get("Billed Duration").unwrap_or("?"),
            get("Max Memory Used").unwrap_or("?"),
            get("Memory Size").unwrap_or("?")
        );
        if let Some(init) = get("Init Duration") {
            text.push_str(&format!(", cold start {init}"));
        }
        return format!("{prefix}{time} {}", paint(color, "1", &text));
    }
    match serde_json::from_str::<Value>(message) {
        Ok(Value::Object(obj)) if obj.contains_key("message") || obj.contains_key("level") => {
            let level = obj
                .get("level")
                .and_then(Value::as_str)
                .unwrap_or("INFO")
                .to_ascii_uppercase();
            let level_code = match level.as_str() {
                "ERROR" => "31",
                "WARN" => "33",
                "DEBUG" | "TRACE" => "2",
                _ => "32",
            };
            let request = obj
                .get("requestId")
                .and_then(Value::as_str)
                .map(|r| format!(" [{}]", r.chars().take(8).collect::<String>()))
                .unwrap_or_default();
            let text = obj
                .get("message")
                .map(|m| {
                    m.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| m.to_string())
                })
                .unwrap_or_default();
            let extra: Vec<String> = obj
                .iter()
                .filter(|(k, _)| {
                    ![
                        "timestamp",
                        "level",
                        "message",
                        "requestId",
                        "xrayTraceId",
                        "target",
                    ]
                    .contains(&k.as_str())
                })
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    )
                })
                .collect();
            let extra = if extra.is_empty() {
                String::new()
            } else {
                format!(" {}", paint(color, "2", &extra.join(" ")))
            };
            format!(
                "{prefix}{time} {:5} {text}{extra}{}",
                paint(color, level_code, &level),
                paint(color, "2", &request)
            )
        }
        _ => format!("{prefix}{time} {message}"),
    }
}

/// One JSON object per event: the function, the time, and the message (parsed when it is JSON).
pub fn render_json(line: &Line) -> Value {
    let message = line.event.message.trim_end();
    let parsed = serde_json::from_str::<Value>(message)
        .ok()
        .filter(Value::is_object);
    json!({
        "function": line.function,
        "timestamp": time_of(line.event.timestamp),
        "eventId": line.event.id,
        "stream": line.event.stream,
        "message": message,
        "fields": parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: &str) -> LogEvent {
        LogEvent {
            id: "1".into(),
            timestamp: 1_795_806_000_000,
            message: message.into(),
            stream: "s".into(),
        }
    }

    fn pretty(message: &str) -> String {
        let e = event(message);
        render_human(
            &Line {
                function: "api",
                event: &e,
            },
            Format::Pretty { color: false },
            None,
            0,
        )
    }

    #[test]
    fn platform_lines_are_condensed_into_one_report() {
        assert_eq!(pretty("START RequestId: 8f5c Version: 3"), "");
        assert_eq!(pretty("END RequestId: 8f5c"), "");
        let report = pretty("REPORT RequestId: 8f5c1234-aaaa\tDuration: 1.52 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 19 MB\tInit Duration: 31.07 ms\t\n");
        assert!(report.ends_with("REPORT 8f5c1234 1.52 ms (billed 2 ms), memory 19 MB of 128 MB, cold start 31.07 ms"), "{report}");
        let warm = pretty("REPORT RequestId: 8f5c1234-aaaa\tDuration: 1.52 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 19 MB\t");
        assert!(!warm.contains("cold start"));
    }

    #[test]
    fn runtime_json_lines_read_as_time_level_message_and_request() {
        let line = pretty(
            r#"{"timestamp":"2026-11-27T10:00:00.000Z","level":"WARN","target":"api","message":"slow","requestId":"8f5c1234-aaaa","xrayTraceId":"Root=1-x","ms":950}"#,
        );
        assert!(line.ends_with("WARN  slow ms=950 [8f5c1234]"), "{line}");
        assert_eq!(
            pretty("plain text"),
            format!("{} plain text", time_of(1_795_806_000_000))
        );
    }

    #[test]
    fn a_prefix_names_the_function_when_several_are_shown() {
        let e = event("hello");
        let raw = render_human(
            &Line {
                function: "api",
                event: &e,
            },
            Format::Raw,
            Some(6),
            0,
        );
        assert_eq!(raw, "api    hello");
        let json = render_json(&Line {
            function: "api",
            event: &event(r#"{"message":"m"}"#),
        });
        assert_eq!(json["function"], "api");
        assert_eq!(json["fields"]["message"], "m");
    }
}

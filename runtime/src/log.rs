//! One JSON object per log line, with the invocation's request id and X-Ray
//! trace id lifted to the top level, where CloudWatch Logs Insights and
//! `sls-rs logs` find them.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the JSON log layer as the global subscriber, writing to stdout.
///
/// The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's logging controls), else
/// `RUST_LOG` (full filter syntax), else `info`. Calling it twice is harmless.
pub fn init_logging() {
    let directive = match std::env::var("AWS_LAMBDA_LOG_LEVEL") {
        Ok(level) => lambda_level_directive(&level).to_string(),
        Err(_) => std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
    };
    let filter = EnvFilter::try_new(directive.to_ascii_lowercase())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(JsonLogLayer::new(std::io::stdout()).with_filter(filter))
        .try_init();
}

/// The `tracing` level that keeps what Lambda's `ApplicationLogLevel` keeps: the same
/// name, but `FATAL`, which `tracing` lacks, keeps errors (Lambda drops every line
/// below FATAL itself, so nothing more is seen). An unknown name keeps `info`.
pub fn lambda_level_directive(level: &str) -> &'static str {
    match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    }
}

/// The fields of the invocation a span belongs to, kept in the span's extensions.
#[derive(Default, Clone)]
struct InvocationFields {
    request_id: Option<String>,
    xray_trace_id: Option<String>,
}

impl Visit for InvocationFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "requestId" => self.request_id = Some(value.to_string()),
            "xrayTraceId" => self.xray_trace_id = Some(value.to_string()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, format!("{value:?}").trim_matches('"'));
    }
}

/// The event's own fields: `message` and the rest.
#[derive(Default)]
struct EventFields {
    message: Option<String>,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, serde_json::Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.insert(field, format!("{value:?}").into());
    }
}

impl EventFields {
    fn insert(&mut self, field: &Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().to_string(), value);
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    timestamp: String,
    level: &'a str,
    target: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xray_trace_id: Option<String>,
    #[serde(flatten)]
    fields: serde_json::Map<String, serde_json::Value>,
}

/// A `tracing` layer writing one JSON object per event:
/// `{"timestamp", "level", "target", "message", "requestId", "xrayTraceId", …fields}`.
pub struct JsonLogLayer<W> {
    writer: Mutex<W>,
}

impl<W: Write> JsonLogLayer<W> {
    /// A layer writing to `writer` (stdout in Lambda; a buffer in tests).
    pub fn new(writer: W) -> Self {
        JsonLogLayer {
            writer: Mutex::new(writer),
        }
    }
}

impl<S, W> Layer<S> for JsonLogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: Write + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = InvocationFields::default();
        attrs.record(&mut fields);
        if fields.request_id.is_none() && fields.xray_trace_id.is_none() {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut own = EventFields::default();
        event.record(&mut own);
        // The innermost span that knows the invocation: the runtime's "Lambda runtime invoke" span.
        let invocation = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .from_root()
                    .filter_map(|span| span.extensions().get::<InvocationFields>().cloned())
                    .last()
            })
            .unwrap_or_default();
        let meta = event.metadata();
        let line = Line {
            timestamp: rfc3339_now(),
            level: meta.level().as_str(),
            target: meta.target(),
            message: own.message,
            request_id: invocation.request_id,
            xray_trace_id: invocation.xray_trace_id,
            fields: own.fields,
        };
        let Ok(mut json) = serde_json::to_vec(&line) else {
            return;
        };
        json.push(b'\n');
        if let Ok(mut w) = self.writer.lock() {
            // One write per line, so concurrent lines never interleave; a lost log line must not fail the handler.
            let _ = w.write_all(&json);
            let _ = w.flush();
        }
    }
}

/// `2026-11-27T18:34:35.123Z`, without pulling a date crate into every handler.
fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = String::with_capacity(24);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_carry_the_request_and_trace_ids_of_the_invocation_span() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(JsonLogLayer::new(buffer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before any invocation");
            // The span lambda_runtime's TracingLayer opens around each invocation.
            let span = tracing::info_span!(
                "Lambda runtime invoke",
                requestId = "req-1",
                xrayTraceId = "Root=1-5759e988-bd862e3fe1be46a994272793"
            );
            let _entered = span.enter();
            let inner = tracing::info_span!("handler");
            let _inner = inner.enter();
            tracing::warn!(todo = 42, ok = true, "saved \"todo\"");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["message"], "before any invocation");
        assert!(lines[0].get("requestId").is_none());
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["message"], "saved \"todo\"");
        assert_eq!(lines[1]["requestId"], "req-1");
        assert_eq!(
            lines[1]["xrayTraceId"],
            "Root=1-5759e988-bd862e3fe1be46a994272793"
        );
        assert_eq!(lines[1]["todo"], 42);
        assert_eq!(lines[1]["ok"], true);
        let ts = lines[1]["timestamp"].as_str().unwrap();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "{ts}"
        );
    }

    #[test]
    fn lambdas_levels_map_to_tracings_and_fatal_keeps_errors() {
        assert_eq!(lambda_level_directive("WARN"), "warn");
        assert_eq!(lambda_level_directive("FATAL"), "error");
        assert_eq!(lambda_level_directive("trace"), "trace");
        assert_eq!(lambda_level_directive("verbose"), "info");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let ts = rfc3339_now();
        let year: i32 = ts[..4].parse().unwrap();
        assert!((2024..2200).contains(&year), "{ts}");
    }
}

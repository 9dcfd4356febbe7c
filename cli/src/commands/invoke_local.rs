//! `sls-rs invoke --local`: the handler built for this machine, run here.

use std::io::{BufRead, IsTerminal};

use bytes::Bytes;

use super::invoke::{
    answer_text, as_json, client_context, event, pretty, FunctionFailed, InvokeArgs,
};
use crate::cli::GlobalArgs;
use crate::local::{self, Outcome, Report, Session, StreamEnd, StreamPart};
use crate::manifest::Service;
use crate::ui;

/// The events to send: --data/--path, else one JSON document per line of stdin when it is piped, else `{}`.
fn events(args: &InvokeArgs, service: &Service, account: &str) -> anyhow::Result<Vec<Bytes>> {
    if args.data.is_none()
        && args.path.is_none()
        && args.event.is_none()
        && !std::io::stdin().is_terminal()
    {
        let lines: Vec<Bytes> = std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .map(Bytes::from)
            .collect();
        if !lines.is_empty() {
            return Ok(lines);
        }
    }
    let one = Bytes::from(event(args, service, account)?);
    Ok(std::iter::repeat_n(one, args.count as usize).collect())
}

/// A streamed answer once read: what `--json` prints, and how it ended.
struct Streamed {
    prelude: Option<serde_json::Value>,
    /// Kept for `--json` only: otherwise written to stdout as it came.
    body: Vec<u8>,
    end: StreamEnd,
}

impl Streamed {
    /// As a URL's client gets it: lambda_http's status, headers and cookies with the
    /// body (text when it is UTF-8, else base64, as API Gateway's events carry it).
    fn response(&self) -> serde_json::Value {
        use base64::Engine;
        let (body, base64) = match std::str::from_utf8(&self.body) {
            Ok(text) => (text.to_string(), false),
            Err(_) => (
                base64::engine::general_purpose::STANDARD.encode(&self.body),
                true,
            ),
        };
        let mut out = self
            .prelude
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        out["body"] = body.into();
        out["isBase64Encoded"] = base64.into();
        out
    }
}

/// Reads a streamed answer: the status line and headers on stderr once known, the
/// body on stdout chunk by chunk (or kept, for `--json`).
async fn read_streamed(
    stream: &local::Stream,
    deadline: tokio::time::Instant,
    json: bool,
) -> Streamed {
    use std::io::Write;
    let mut prelude = None;
    let mut body = Vec::new();
    // The body's last byte, so the report starts on a line of its own.
    let mut last = None;
    let end = local::read_stream(stream, deadline, |part| {
        match part {
            StreamPart::Prelude(v) => {
                if !json {
                    ui::status(&prelude_text(&v));
                }
                prelude = Some(v);
            }
            StreamPart::Body(chunk) if json => body.extend_from_slice(&chunk),
            StreamPart::Body(chunk) => {
                last = chunk.last().copied().or(last);
                let mut stdout = std::io::stdout().lock();
                // A reader that went away (`| head`) ends the output, not the invocation.
                let _ = stdout.write_all(&chunk).and_then(|()| stdout.flush());
            }
        }
        std::future::ready(())
    })
    .await;
    // On a terminal the report starts on a line of its own; piped, the body is left as it was.
    if last.is_some_and(|b| b != b'\n') && std::io::stdout().is_terminal() {
        let _ = ui::out("");
    }
    Streamed { prelude, body, end }
}

/// `HTTP 200` and the headers of lambda_http's prelude, one per line.
fn prelude_text(v: &serde_json::Value) -> String {
    let mut text = format!("HTTP {}", v["statusCode"].as_u64().unwrap_or(200));
    for (name, value) in local::prelude_headers(v) {
        text.push_str(&format!("\n{name}: {value}"));
    }
    text
}

fn describe(report: &Report) -> String {
    let mut line = format!(
        "REPORT {} duration {:.2} ms",
        &report.request_id[..8],
        report.duration.as_secs_f64() * 1000.0
    );
    if let Some(kb) = report.peak_memory_kb {
        line.push_str(&format!(", peak memory {:.1} MB", kb as f64 / 1024.0));
    }
    if let Some(init) = report.init {
        line.push_str(&format!(
            ", cold start {:.2} ms",
            init.as_secs_f64() * 1000.0
        ));
    }
    line
}

pub fn run(global: &GlobalArgs, service: &Service, args: &InvokeArgs) -> anyhow::Result<()> {
    let executable = local::handler_executable(service, &args.function, ui::interactive())?;
    let stage = super::block_on(local::Stage::resolve(service));
    if let Some(w) = stage.unknown_account_warning() {
        ui::warn(&w);
    }
    let function = stage.local_function(service, &args.function, executable.path.clone());
    let account = stage.account.clone().ok();
    // Unknown (STS did not answer), a sample names resources as in an example account.
    let events = events(args, service, account.as_deref().unwrap_or("123456789012"))?;
    let client_context = client_context(args)?;
    let timeout = function.timeout;
    let json = global.json;
    let reports = super::block_on(async {
        let mut session = Session::start(function).await?;
        let mut reports = Vec::new();
        for payload in events {
            let mut report = session.invoke(payload, client_context.as_deref()).await?;
            // A streamed answer is shown as it is written, within the function's time.
            let streamed = match &report.result {
                local::Result::Done(Outcome::Streamed(stream)) => {
                    // The function's time runs from when it got the event (after any init).
                    let began = tokio::time::Instant::now();
                    let deadline = began + timeout.saturating_sub(report.duration);
                    let read = read_streamed(stream, deadline, json).await;
                    // Lambda bills a streamed invocation until its answer ends.
                    report.duration += began.elapsed();
                    if read.end == StreamEnd::TimedOut {
                        session.stop().await;
                    }
                    Some(read)
                }
                _ => None,
            };
            reports.push((report, streamed));
        }
        session.stop().await;
        anyhow::Ok(reports)
    })?;
    let mut failures = Vec::new();
    for (report, streamed) in &reports {
        let (body, failure) = match &report.result {
            local::Result::Done(Outcome::Streamed(_)) => {
                let read = streamed.as_ref().expect("a stream is read");
                let failure = match &read.end {
                    StreamEnd::Complete => None,
                    StreamEnd::Failed {
                        error_type,
                        message,
                    } => Some(format!(
                        "the handler failed while streaming ({error_type}): {message}"
                    )),
                    StreamEnd::TimedOut => Some(format!(
                        "timed out after {}s while streaming (the function's timeout); the process was stopped",
                        timeout.as_secs()
                    )),
                };
                if json {
                    ui::out_json_text(
                        &serde_json::json!({
                            "requestId": report.request_id, "ok": failure.is_none(), "error": failure,
                            "streamed": true,
                            "response": read.response(),
                            "durationMs": report.duration.as_secs_f64() * 1000.0,
                            "initMs": report.init.map(|d| d.as_secs_f64() * 1000.0),
                            "peakMemoryKb": report.peak_memory_kb,
                        })
                        .to_string(),
                    )?;
                }
                ui::status(&describe(report));
                if let Some(failure) = failure {
                    failures.push(format!("{} {failure}", &report.request_id[..8]));
                }
                continue;
            }
            local::Result::Done(Outcome::Response(body)) => (body.clone(), None),
            local::Result::Done(Outcome::Error { error_type, body }) => (
                body.clone(),
                Some(format!("the handler failed ({error_type})")),
            ),
            local::Result::Done(Outcome::InitError { error_type, body }) => {
                (body.clone(), Some(format!("init failed ({error_type})")))
            }
            local::Result::Timeout => (
                Bytes::new(),
                Some(format!(
                    "timed out after {}s (the function's timeout); the process was stopped",
                    timeout.as_secs()
                )),
            ),
            local::Result::Exited(why) => (Bytes::new(), Some(why.clone())),
        };
        let (text, parsed) = answer_text(&body);
        if global.json {
            ui::out_json_text(
                &serde_json::json!({
                    "requestId": report.request_id, "ok": failure.is_none(), "error": failure,
                    "response": as_json(&text, &parsed),
                    "durationMs": report.duration.as_secs_f64() * 1000.0,
                    "initMs": report.init.map(|d| d.as_secs_f64() * 1000.0),
                    "peakMemoryKb": report.peak_memory_kb,
                })
                .to_string(),
            )?;
        } else if !body.is_empty() {
            ui::out(&pretty(&text, &parsed))?;
        }
        ui::status(&describe(report));
        if let Some(failure) = failure {
            let detail = parsed
                .as_ref()
                .and_then(|v| {
                    Some(format!(
                        "{}: {}",
                        v["errorType"].as_str()?,
                        v["errorMessage"].as_str().unwrap_or_default()
                    ))
                })
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            failures.push(format!("{} {failure}{detail}", &report.request_id[..8]));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(FunctionFailed(format!(
            "{} of {} invocations failed:\n  {}",
            failures.len(),
            reports.len(),
            failures.join("\n  ")
        ))
        .into())
    }
}

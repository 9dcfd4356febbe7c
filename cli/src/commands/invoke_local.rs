//! `sls-rs invoke --local`: the handler built for this machine, run here.

use std::io::{BufRead, IsTerminal};

use bytes::Bytes;

use super::invoke::{
    answer_text, as_json, client_context, event, pretty, FunctionFailed, InvokeArgs,
};
use crate::cli::GlobalArgs;
use crate::local::{self, Outcome, Report, Session};
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
    let reports = super::block_on(async {
        let mut session = Session::start(function).await?;
        let mut reports = Vec::new();
        for payload in events {
            reports.push(session.invoke(payload, client_context.as_deref()).await?);
        }
        session.stop().await;
        anyhow::Ok(reports)
    })?;
    let mut failures = Vec::new();
    for report in &reports {
        let (body, failure) = match &report.result {
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

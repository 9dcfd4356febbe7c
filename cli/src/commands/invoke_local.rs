//! `sls-rs invoke --local`: the handler built for this machine, run here.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use bytes::Bytes;

use super::invoke::{client_context, event, FunctionFailed, InvokeArgs};
use crate::cli::GlobalArgs;
use crate::cloud;
use crate::local::{self, LocalFunction, Outcome, Report, Session};
use crate::manifest::{Service, DEFAULT_MEMORY, DEFAULT_TIMEOUT};
use crate::{model, ui};

/// The environment the deployed function gets (its own values, references and the
/// names of the resources it is granted, which need the stage's account id), plus
/// the emulator's endpoints when sls-rs's own calls go to one.
/// Also the account, when STS told it.
fn environment(service: &Service, function: &str) -> (BTreeMap<String, String>, Option<String>) {
    let f = &service.manifest.functions[function];
    let target = cloud::Target::of(service);
    let (endpoints, account) = super::block_on(async {
        let (config, endpoints) = cloud::load(&target).await;
        let account =
            tokio::time::timeout(Duration::from_secs(5), cloud::account_id(&config)).await;
        (endpoints, account)
    });
    let known = account.as_ref().ok().and_then(|a| a.as_ref().ok()).cloned();
    let mut env: BTreeMap<String, String> = match account {
        Ok(Ok(account)) => {
            let queue_url_base = cloud::queue_url_base(&target.region, &endpoints);
            let cx = model::Context {
                account: &account,
                region: &target.region,
                partition: cloud::partition(&target.region),
                env_key: None,
                queue_url_base: &queue_url_base,
            };
            let names = model::Names::new(service, &cx);
            let mut env: BTreeMap<String, String> = service
                .manifest
                .environment_of(&service.stage, f)
                .into_iter()
                .map(|(k, v)| (k, names.resolve(&v.value)))
                .collect();
            env.extend(model::injected_environment(&names, f));
            env
        }
        failed => {
            let why = match failed {
                Ok(Err(e)) => format!("{e:#}"),
                _ => "STS did not answer in 5 s".into(),
            };
            ui::warn(&format!(
                "the stage's account id is unknown ({why}): resource names (SLS_RS_*) and ${{table:…}}-style references are not set"
            ));
            service
                .manifest
                .environment_of(&service.stage, f)
                .into_iter()
                .map(|(k, v)| (k, v.value))
                .collect()
        }
    };
    env.insert("AWS_REGION".into(), service.region.clone());
    env.insert("AWS_DEFAULT_REGION".into(), service.region.clone());
    env.extend(endpoints.sdk_env());
    if endpoints.all() {
        env.insert("AWS_ACCESS_KEY_ID".into(), "test".into());
        env.insert("AWS_SECRET_ACCESS_KEY".into(), "test".into());
    }
    (env, known)
}

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
    let f = &service.manifest.functions[&args.function];
    let executable = local::handler_executable(service, &args.function, ui::interactive())?;
    let binary = executable.path.clone();
    let (environment, account) = environment(service, &args.function);
    let name = service.function_name(&args.function);
    let function = LocalFunction {
        binary,
        arn: format!(
            "arn:aws:lambda:{}:000000000000:function:{name}",
            service.region
        ),
        name,
        memory: f
            .memory_size
            .or(service.manifest.provider.memory_size)
            .unwrap_or(DEFAULT_MEMORY),
        timeout: Duration::from_secs(
            f.timeout
                .or(service.manifest.provider.timeout)
                .unwrap_or(DEFAULT_TIMEOUT)
                .into(),
        ),
        environment,
    };
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
        let text = String::from_utf8_lossy(&body).into_owned();
        let parsed: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        if global.json {
            ui::out_json_text(
                &serde_json::json!({
                    "requestId": report.request_id, "ok": failure.is_none(), "error": failure,
                    "response": parsed.clone().unwrap_or(serde_json::Value::String(text.clone())),
                    "durationMs": report.duration.as_secs_f64() * 1000.0,
                    "initMs": report.init.map(|d| d.as_secs_f64() * 1000.0),
                    "peakMemoryKb": report.peak_memory_kb,
                })
                .to_string(),
            )?;
        } else if !body.is_empty() {
            ui::out(
                &parsed
                    .as_ref()
                    .and_then(|v| serde_json::to_string_pretty(v).ok())
                    .unwrap_or(text.clone()),
            )?;
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

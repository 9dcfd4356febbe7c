//! `sls-rs invoke -f NAME`: call a deployed function through its `live` alias.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::cli::GlobalArgs;
use crate::cloud::{lambda_function, Aws, Target};
use crate::error::UsageError;
use crate::model::LIVE_ALIAS;
use crate::ui;

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The function (its name in serverless.yaml)
    #[arg(short = 'f', long = "function", value_name = "NAME")]
    pub function: String,
    /// The event, as JSON
    #[arg(short = 'd', long, value_name = "JSON", conflicts_with = "path")]
    pub data: Option<String>,
    /// A file holding the event
    #[arg(short = 'p', long, value_name = "FILE")]
    pub path: Option<PathBuf>,
    /// Print the end of the invocation's log
    #[arg(short = 'l', long)]
    pub log: bool,
    /// The alias or version to invoke
    #[arg(long, default_value = LIVE_ALIAS)]
    pub qualifier: String,
    /// A sample event for the function's trigger: apigw-http, s3, sqs, schedule, dynamodb-stream
    #[arg(long, value_name = "KIND", conflicts_with_all = ["data", "path"], value_parser = clap::builder::PossibleValuesParser::new(crate::local::events::KINDS))]
    pub event: Option<String>,
    /// Client context, as JSON (`{"custom": {...}}`), passed to the function
    #[arg(long, value_name = "JSON")]
    pub client_context: Option<String>,
    /// Build the handler for this machine and run it here, against sls-rs's own Runtime API
    #[arg(long)]
    pub local: bool,
    /// Local: invoke this many times in one warm process
    #[arg(long, default_value_t = 1, requires = "local")]
    pub count: u32,
    /// Send the event to a running `sls-rs dev` (on this port, default 3000) instead
    #[arg(long, value_name = "PORT", num_args = 0..=1, default_missing_value = "3000", conflicts_with_all = ["local", "log", "client_context"])]
    pub dev: Option<u16>,
}

/// A function failed: the error is already shown, the exit code says so.
#[derive(Debug)]
pub struct FunctionFailed(pub String);

impl std::fmt::Display for FunctionFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FunctionFailed {}

/// `--client-context`, checked to be JSON.
pub fn client_context(args: &InvokeArgs) -> anyhow::Result<Option<String>> {
    let Some(text) = &args.client_context else {
        return Ok(None);
    };
    serde_json::from_str::<serde_json::Value>(text)
        .map_err(|e| UsageError::new(format!("--client-context is not JSON: {e}")))?;
    Ok(Some(text.clone()))
}

/// The event to send; a sample (`--event KIND`) names the resources deploy makes
/// in `account`.
pub fn event(
    args: &InvokeArgs,
    service: &crate::manifest::Service,
    account: &str,
) -> anyhow::Result<Vec<u8>> {
    if let Some(kind) = &args.event {
        return Ok(serde_json::to_vec(&crate::local::events::sample(
            service,
            &args.function,
            kind,
            account,
        )?)?);
    }
    let text = match (&args.data, &args.path) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) => std::fs::read_to_string(p)
            .map_err(|e| UsageError::new(format!("cannot read --path {}: {e}", p.display())))?,
        (None, None) => "{}".to_string(),
    };
    serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
        UsageError::new(format!("the event is not JSON: {e}")).with_help(
            "pass a JSON document with --data '{\"key\": \"value\"}' or --path event.json",
        )
    })?;
    Ok(text.into_bytes())
}

pub fn run(global: &GlobalArgs, args: InvokeArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    super::check_function(&service, &args.function)?;
    if args.local {
        return super::invoke_local::run(global, &service, &args);
    }
    if let Some(port) = args.dev {
        return to_dev(global, &service, &args, port);
    }
    let client_context = client_context(&args)?;
    // --data and --path are checked before any request; a sample needs the account.
    let given = match args.event {
        None => Some(event(&args, &service, "")?),
        Some(_) => None,
    };
    let name = service.function_name(&args.function);
    let result = super::block_on(async {
        let aws = Aws::connect(&Target::of(&service)).await?;
        let payload = match given {
            Some(payload) => payload,
            None => event(&args, &service, &aws.account)?,
        };
        lambda_function::invoke(
            &aws,
            &name,
            &args.qualifier,
            payload,
            args.log,
            client_context.as_deref(),
        )
        .await
    })?;
    let body = String::from_utf8_lossy(&result.payload).into_owned();
    if global.json {
        let payload: serde_json::Value =
            serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body.clone()));
        ui::out_json(&serde_json::json!({
            "function": name, "qualifier": args.qualifier, "version": result.executed_version,
            "statusCode": result.status, "functionError": result.function_error, "payload": payload, "log": result.log_tail,
        }))?;
    } else {
        if let Some(log) = &result.log_tail {
            ui::status(log.trim_end());
        }
        let pretty = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or(body.clone());
        ui::out(&pretty).context("writing the response")?;
    }
    match &result.function_error {
        None => Ok(()),
        Some(kind) => {
            let err: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let error_type = err["errorType"].as_str().unwrap_or(kind);
            let message = err["errorMessage"].as_str().unwrap_or("(no message)");
            Err(FunctionFailed(format!("{name} failed ({kind}): {error_type}: {message}")).into())
        }
    }
}

/// `invoke --dev`: the event goes to the function on a running `sls-rs dev`.
fn to_dev(
    global: &GlobalArgs,
    service: &crate::manifest::Service,
    args: &InvokeArgs,
    port: u16,
) -> anyhow::Result<()> {
    // A sample event names the stage's resources, which carry the account.
    let account = match args.event {
        Some(_) => super::block_on(crate::local::Stage::resolve(service))
            .account
            .unwrap_or_else(|_| "123456789012".into()),
        None => String::new(),
    };
    let payload = event(args, service, &account)?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    // As long as the function may run, and a margin for a cold start.
    let f = &service.manifest.functions[&args.function];
    let timeout = f
        .timeout
        .or(service.manifest.provider.timeout)
        .unwrap_or(crate::manifest::DEFAULT_TIMEOUT);
    let wait = std::time::Duration::from_secs(u64::from(timeout) + 15);
    let answer = crate::local::dev::send_event(addr, &args.function, &payload, wait)?;
    let (body, failed) = match answer {
        Ok(body) => (body, false),
        Err(body) => (body, true),
    };
    let (text, parsed) = answer_text(&body);
    if global.json {
        ui::out_json_text(
            &serde_json::json!({"ok": !failed, "response": as_json(&text, &parsed)}).to_string(),
        )?;
    } else {
        ui::out(&pretty(&text, &parsed))?;
    }
    if failed {
        let why = parsed
            .as_ref()
            .and_then(|v| v["errorMessage"].as_str().map(str::to_string))
            .unwrap_or(text);
        return Err(FunctionFailed(format!("the function failed: {why}")).into());
    }
    Ok(())
}

/// A function's answer as text, and as JSON when it is.
pub fn answer_text(body: &[u8]) -> (String, Option<serde_json::Value>) {
    let text = String::from_utf8_lossy(body).into_owned();
    let parsed = serde_json::from_str(&text).ok();
    (text, parsed)
}

/// The answer in a JSON document: itself when it is JSON, else a string.
pub fn as_json(text: &str, parsed: &Option<serde_json::Value>) -> serde_json::Value {
    parsed
        .clone()
        .unwrap_or_else(|| serde_json::Value::String(text.to_string()))
}

/// The answer for a person: indented when it is JSON.
pub fn pretty(text: &str, parsed: &Option<serde_json::Value>) -> String {
    parsed
        .as_ref()
        .and_then(|v| serde_json::to_string_pretty(v).ok())
        .unwrap_or_else(|| text.to_string())
}

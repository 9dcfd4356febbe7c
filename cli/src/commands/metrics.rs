//! `sls-rs metrics`: each function's invocations, errors, throttles, duration
//! percentiles and concurrency over a window, from CloudWatch.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::UsageError;
use crate::metrics::{self, MetricsOptions};
use crate::{logs, ui};

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The function (its name in serverless.yaml) [default: all]
    #[arg(short = 'f', long = "function", value_name = "NAME")]
    pub function: Option<String>,
    /// From when: a duration back (10m, 2h, 1d) or a time (2026-11-27T10:00:00Z); until now
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// One point per this much time, in whole minutes (1m, 5m, 1h) [default: about 60 points in the window]
    #[arg(long, value_name = "DURATION")]
    pub period: Option<String>,
}

pub fn run(global: &GlobalArgs, args: MetricsArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    if let Some(f) = &args.function {
        super::check_function(&service, f)?;
    }
    let since =
        logs::parse_since(&args.since).map_err(|e| UsageError::new(format!("--since {e}")))?;
    let period = args
        .period
        .as_deref()
        .map(metrics::parse_period)
        .transpose()
        .map_err(|e| UsageError::new(format!("--period {e}")).with_help(metrics::PERIOD_HELP))?;
    let window = metrics::window(since, metrics::now_ms(), period).map_err(UsageError::new)?;
    let opts = MetricsOptions {
        functions: args.function.into_iter().collect(),
        window,
    };
    let report = super::block_on(metrics::run(&service, &opts))?;
    if global.json {
        return Ok(ui::out_json(&serde_json::to_value(&report)?)?);
    }
    Ok(ui::out(&metrics::render_human(&report))?)
}

//! `sls-rs logs`: a function's logs, or all of the service's interleaved.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::UsageError;
use crate::logs::{self, Format, LogsOptions};
use crate::ui;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The function (its name in serverless.yaml) [default: all, interleaved]
    #[arg(short = 'f', long = "function", value_name = "NAME")]
    pub function: Option<String>,
    /// From when: a duration back (10m, 2h) or a time (2026-11-27T10:00:00Z)
    #[arg(long, default_value = "10m")]
    pub since: String,
    /// A CloudWatch Logs filter pattern
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
    /// Keep printing new events (about once a second) until Ctrl-C
    #[arg(short = 't', long)]
    pub tail: bool,
    /// The messages exactly as written
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,
    /// Only lines at least this severe (a JSON line's `level`, as the runtime crate and
    /// Lambda's JSON format write it); lines without a level are kept but Lambda's own
    /// START, END and REPORT
    #[arg(long, value_name = "LEVEL", value_parser = ["trace", "debug", "info", "warn", "error", "fatal"], ignore_case = true)]
    pub level: Option<String>,
}

pub fn run(global: &GlobalArgs, args: LogsArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    if let Some(f) = &args.function {
        super::check_function(&service, f)?;
    }
    let since =
        logs::parse_since(&args.since).map_err(|e| UsageError::new(format!("--since {e}")))?;
    let format = if global.json {
        Format::Json
    } else if args.raw {
        Format::Raw
    } else {
        Format::Pretty { color: ui::color() }
    };
    let opts = LogsOptions {
        functions: args.function.into_iter().collect(),
        since,
        filter: args.filter,
        tail: args.tail,
        format,
        level: args
            .level
            .as_deref()
            .and_then(crate::manifest::LogLevel::parse),
    };
    let json = global.json;
    super::block_on(logs::run(&service, &opts, |text| {
        if json {
            ui::out_json_text(text)
        } else {
            ui::out(text)
        }
    }))
}

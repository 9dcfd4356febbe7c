use std::process::ExitCode;

use clap::Parser;

use sls_rs::cli::Cli;
use sls_rs::error::{
    failure_json, is_broken_pipe, is_interrupted, is_usage, UsageError, EXIT_FAILURE,
    EXIT_INTERRUPTED, EXIT_USAGE,
};
use sls_rs::manifest::ManifestError;
use sls_rs::ui;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A mistyped flag under --json is still answered with the JSON document.
        Err(e) if e.use_stderr() && std::env::args().any(|a| a == "--json") => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            let usage = UsageError::new(first.trim_start_matches("error: "))
                .with_help("see `sls-rs --help`");
            let _ = ui::out_json(&usage.to_json());
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => e.exit(),
    };
    let json = cli.global.json;
    let Err(err) = sls_rs::commands::run(cli) else {
        return ExitCode::SUCCESS;
    };
    if is_broken_pipe(&err) {
        return ExitCode::SUCCESS;
    }
    // CI reads the user's mistakes (a bad manifest, no manifest, a bad flag) as one JSON document on stdout.
    match (
        err.downcast_ref::<ManifestError>(),
        err.downcast_ref::<UsageError>(),
    ) {
        (Some(manifest_err), _) if json => {
            let _ = ui::out_json(&manifest_err.to_json());
        }
        (_, Some(usage)) if json => {
            let _ = ui::out_json(&usage.to_json());
        }
        // Any other failure too, unless the command printed its own document: the
        // document on stdout, the human text on stderr (CI logs).
        _ if json && !ui::json_written() => {
            let _ = ui::out_json(&failure_json(&err));
            ui::error(&err);
        }
        _ => ui::error(&err),
    }
    ExitCode::from(if is_interrupted(&err) {
        EXIT_INTERRUPTED
    } else if is_usage(&err) {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    })
}

//! `sls-rs rollback [--to ID]`: every `live` alias back to an earlier deployment's versions.

use std::time::Duration;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::{engine, ui};

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The deployment to go back to (an id from `sls-rs deployments`, or its start) [default: the previous one]
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
    /// How long to wait for another deploy of this stage to finish
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub lock_timeout: Duration,
}

pub fn run(global: &GlobalArgs, args: RollbackArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    let report = super::block_on(engine::rollback(
        &service,
        args.to.as_deref(),
        args.lock_timeout,
        &super::command_line(),
        &|l| ui::status(l),
    ))?;
    if global.json {
        return Ok(ui::out_json(&serde_json::to_value(&report)?)?);
    }
    let moved: Vec<String> = report
        .moved
        .iter()
        .map(|(f, (from, to))| format!("{f} {from} → {to}"))
        .collect();
    let pinned = if moved.is_empty() {
        ""
    } else {
        "\nthe functions moved are pinned: deploys leave them there until their code or configuration changes, or `sls-rs deploy --unpin [NAME]`"
    };
    Ok(ui::out(&format!(
        "rolled {}/{} back to deployment {} (recorded as {}): {}{pinned}",
        report.service,
        report.stage,
        report.to,
        report.deployment.id,
        if moved.is_empty() {
            "already live".to_string()
        } else {
            moved.join(", ")
        }
    ))?)
}

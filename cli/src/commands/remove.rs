//! `sls-rs remove`: delete everything the service owns in the stage.

use std::time::Duration;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::{engine, ui};

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// How long to wait for another deploy of this stage to finish
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub lock_timeout: Duration,
}

pub fn run(global: &GlobalArgs, args: RemoveArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    let report = super::block_on(engine::remove(
        &service,
        args.lock_timeout,
        &super::command_line(),
        &|line| ui::status(line),
    ))?;
    if global.json {
        return Ok(ui::out_json(&serde_json::to_value(&report)?)?);
    }
    Ok(ui::out(&format!(
        "removed {}/{}: {} resource(s); the deployment bucket stays",
        report.service,
        report.stage,
        report.removed.len()
    ))?)
}

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
    /// Also delete tables, and buckets and queues that hold data, whatever their deletionPolicy
    #[arg(long)]
    pub force: bool,
}

pub fn run(global: &GlobalArgs, args: RemoveArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    let report = super::block_on(engine::remove(
        &service,
        args.lock_timeout,
        &super::command_line(),
        args.force,
        &|line| ui::status(line),
    ))?;
    if global.json {
        return Ok(ui::out_json(&serde_json::to_value(&report)?)?);
    }
    let mut text = format!(
        "removed {}/{}: {} resource(s); the deployment bucket stays",
        report.service,
        report.stage,
        report.removed.len()
    );
    if !report.retained.is_empty() {
        text.push_str(&format!(
            "\nretained with their data ({}):\n  {}",
            report.retained.len(),
            report.retained.join("\n  ")
        ));
    }
    Ok(ui::out(&text)?)
}

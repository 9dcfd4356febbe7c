//! `sls-rs print`: the manifest after variable resolution, secrets masked.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::ui;

#[derive(Debug, Args)]
pub struct PrintArgs {}

pub fn run(global: &GlobalArgs, _args: PrintArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    let resolved = service.resolved_manifest();
    if global.json {
        ui::out_json(&serde_json::to_value(&resolved)?)?;
    } else {
        ui::out(&serde_yaml::to_string(&resolved)?)?;
    }
    Ok(())
}

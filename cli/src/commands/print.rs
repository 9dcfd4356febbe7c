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
        // Through JSON: serde_yaml writes enums as YAML tags (`!httpApi`), which is not how a manifest reads.
        ui::out(&serde_yaml::to_string(&serde_json::to_value(&resolved)?)?)?;
    }
    Ok(())
}

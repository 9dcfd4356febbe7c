//! `sls-rs deployments`: the recorded deployments of the stage.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::{engine, ui};

#[derive(Debug, Args)]
pub struct DeploymentsArgs {}

pub fn run(global: &GlobalArgs, _args: DeploymentsArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    let history = super::block_on(engine::deployments(&service))?;
    if global.json {
        return Ok(ui::out_json(&serde_json::to_value(&history)?)?);
    }
    if history.is_empty() {
        return Ok(ui::out(&format!(
            "{}/{} has no deployments",
            service.manifest.service, service.stage
        ))?);
    }
    let mut rows = vec![["id", "started", "who", "status", "command", "changed"].map(String::from)];
    for d in history.iter().rev() {
        let changed: Vec<String> = d
            .changed
            .iter()
            .map(|f| format!("{f}={}", d.functions.get(f).map_or("-", String::as_str)))
            .collect();
        rows.push([
            d.id.clone(),
            d.started.clone(),
            d.who.clone(),
            d.status.clone(),
            d.command.clone(),
            if changed.is_empty() {
                "-".into()
            } else {
                changed.join(" ")
            },
        ]);
    }
    Ok(ui::out(&ui::table(&rows))?)
}

//! `sls-rs package`: build every function into a Lambda zip under .sls-rs/.

use clap::Args;

use crate::build::{self, PackageOptions};
use crate::cli::GlobalArgs;
use crate::ui;

#[derive(Debug, Args)]
pub struct PackageArgs {}

pub fn run(global: &GlobalArgs, _args: PackageArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    let opts = PackageOptions {
        verbose: global.verbose > 0,
        interactive: ui::interactive(),
    };
    let manifest = build::package(&service, &opts)?;
    if global.json {
        return Ok(ui::out_json(&serde_json::to_value(&manifest)?)?);
    }
    let mut rows = vec![["function", "arch", "size", "sha256", "artifact"].map(String::from)];
    for (name, a) in &manifest.functions {
        rows.push([
            name.clone(),
            build::arch_name(a.architecture).to_string(),
            ui::bytes(a.size),
            a.sha256[..12].to_string(),
            a.path.display().to_string(),
        ]);
    }
    Ok(ui::out(&ui::table(&rows))?)
}

//! `sls-rs validate`: check the manifest without touching AWS.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::ui;

#[derive(Debug, Args)]
pub struct ValidateArgs {}

pub fn run(global: &GlobalArgs, _args: ValidateArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    let handlers_checked = crate::build::check_workspace(&service)?;
    let summary = crate::manifest::summary::Summary::of(&service);
    if global.json {
        ui::out_json(&serde_json::json!({
            "valid": true, "service": summary, "handlersChecked": handlers_checked,
        }))?;
    } else {
        if !handlers_checked {
            ui::warn(&format!(
                "handlers not checked: there is no Cargo.toml in {} (package and deploy need the binaries they name)",
                service.dir.display()
            ));
        }
        ui::out(&format!(
            "{} is valid\n{}",
            service.file.display(),
            summary.render()
        ))?;
    }
    Ok(())
}

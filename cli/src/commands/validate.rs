//! `sls-rs validate`: check the manifest without touching AWS.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::ui;

#[derive(Debug, Args)]
pub struct ValidateArgs {}

pub fn run(global: &GlobalArgs, _args: ValidateArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    let unchecked = crate::build::check_workspace(&service)?;
    let summary = crate::manifest::summary::Summary::of(&service);
    let mut warnings = crate::model::vpc_warnings(&service);
    warnings.extend(crate::model::shift_warnings(&service));
    if global.json {
        ui::out_json(&serde_json::json!({
            "valid": true, "service": summary, "handlersChecked": unchecked.is_none(),
            "warnings": warnings,
        }))?;
    } else {
        for w in &warnings {
            ui::warn(w);
        }
        if let Some(why) = &unchecked {
            ui::warn(&format!(
                "handlers not checked against the cargo workspace: {why} (package and deploy need the binaries they name)"
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

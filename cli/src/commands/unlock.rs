//! `sls-rs unlock`: remove a lock left by a run that died.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::{engine, ui};

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Remove the lock even though its holder renewed it recently (it looks alive)
    #[arg(long)]
    pub force: bool,
}

pub fn run(global: &GlobalArgs, args: UnlockArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    let holder = super::block_on(engine::unlock(&service, args.force))?;
    let text = match &holder {
        Some(h) => format!(
            "removed the lock of {}/{} held by {}",
            service.manifest.service,
            service.stage,
            h.describe()
        ),
        None => format!(
            "{}/{} was not locked",
            service.manifest.service, service.stage
        ),
    };
    if global.json {
        return Ok(ui::out_json(
            &serde_json::json!({ "unlocked": holder.is_some(), "holder": holder }),
        )?);
    }
    Ok(ui::out(&text)?)
}

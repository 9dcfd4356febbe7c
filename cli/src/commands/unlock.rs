//! `sls-rs unlock`: remove a lock left by a deploy that died.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::{engine, ui};

#[derive(Debug, Args)]
pub struct UnlockArgs {}

pub fn run(global: &GlobalArgs, _args: UnlockArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    let holder = super::block_on(engine::unlock(&service))?;
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

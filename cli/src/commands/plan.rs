//! `sls-rs plan`: `sls-rs deploy --dry-run`.

use clap::Args;

use super::deploy::DeployArgs;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan against the artifacts of an earlier `sls-rs package` instead of building
    #[arg(long, value_name = "DIR")]
    pub package: Option<std::path::PathBuf>,
}

pub fn run(global: &GlobalArgs, args: PlanArgs) -> anyhow::Result<()> {
    super::deploy::run(
        global,
        DeployArgs {
            dry_run: true,
            lock_timeout: std::time::Duration::ZERO,
            package: args.package,
            concurrency: crate::engine::DEFAULT_CONCURRENCY as u16,
            force: false,
            allow_disruption: false,
            unpin: None,
            no_wait: false,
            continue_shift: false,
        },
    )
}

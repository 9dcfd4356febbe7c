//! `sls-rs policy`: the IAM policies deploy generates, for people to review.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::cloud::{self, Target};
use crate::{model, ui};

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Only this function's policy
    #[arg(short = 'f', long = "function", value_name = "NAME")]
    pub function: Option<String>,
    /// The account id to write into ARNs [default: the stage's account, asked of STS]
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
}

pub fn run(global: &GlobalArgs, args: PolicyArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    if let Some(f) = &args.function {
        super::check_function(&service, f)?;
    }
    let target = Target::of(&service);
    let (account, endpoints) = super::block_on(async {
        let (config, endpoints) = cloud::load(&target).await;
        let account = match args.account {
            Some(a) => a,
            None => cloud::account_id(&config).await?,
        };
        anyhow::Ok((account, endpoints))
    })?;
    let queue_base = cloud::queue_url_base(&target.region, &endpoints);
    let cx = model::Context {
        account: &account,
        region: &target.region,
        partition: cloud::partition(&target.region),
        env_key: None,
        queue_url_base: &queue_base,
    };
    let all = model::policies(&service, &cx);
    let doc = match &args.function {
        Some(f) => all["functions"][f].clone(),
        None => all,
    };
    // A policy is JSON whatever the output mode; --json only makes it compact.
    if global.json {
        return Ok(ui::out_json(&doc)?);
    }
    Ok(ui::out(&serde_json::to_string_pretty(&doc)?)?)
}

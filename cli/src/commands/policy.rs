//! `sls-rs policy`: the IAM policies deploy generates, for people to review; with
//! `--deployer`, the policy a CI role needs to deploy the stage (and with
//! `--github`, the trust policy that lets one repository assume it).

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
    /// The policy a CI role needs to deploy, plan, roll back and remove this stage
    #[arg(long, conflicts_with = "function")]
    pub deployer: bool,
    /// With --deployer: also the trust policy for GitHub Actions' OIDC, for one
    /// repository and one environment (default: the stage's name) or branch
    #[arg(
        long,
        value_name = "OWNER/REPO[:environment:NAME|:BRANCH]",
        requires = "deployer"
    )]
    pub github: Option<String>,
}

pub fn run(global: &GlobalArgs, args: PolicyArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    if let Some(f) = &args.function {
        super::check_function(&service, f)?;
    }
    // A bad --github is the user's mistake: said before anything is asked of AWS.
    let subject = match &args.github {
        Some(spec) => model::deployer::github_subject(spec, &service.stage)
            .map_err(|why| crate::error::UsageError::new(format!("--github: {why}")))?,
        None => String::new(),
    };
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
    let doc = if args.deployer {
        let bucket = cloud::deployment_bucket::of(&service, &account, &target.region);
        let scope = model::deployer::Scope {
            service: &service,
            account: &account,
            region: &target.region,
            partition: cx.partition,
            bucket: &bucket,
        };
        let mut doc =
            serde_json::json!({ "permissions": model::deployer::deployer_policy(&scope) });
        if args.github.is_some() {
            doc["trust"] = model::deployer::github_trust_policy(cx.partition, &account, &subject);
        }
        doc
    } else {
        let all = model::policies(&service, &cx);
        match &args.function {
            Some(f) => all["functions"][f].clone(),
            None => all,
        }
    };
    // A policy is JSON whatever the output mode; --json only makes it compact.
    if global.json {
        return Ok(ui::out_json(&doc)?);
    }
    Ok(ui::out(&serde_json::to_string_pretty(&doc)?)?)
}

//! `sls-rs deploy` (and `sls-rs plan`, its dry run): build, plan, apply.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::build::{self, PackageOptions};
use crate::cli::GlobalArgs;
use crate::engine::{self, DeployOptions};
use crate::ui;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Show the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for another deploy of this stage to finish (e.g. 30s, 5m)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub lock_timeout: Duration,
    /// Deploy the artifacts of an earlier `sls-rs package` (its .sls-rs directory) instead of building
    #[arg(long, value_name = "DIR")]
    pub package: Option<PathBuf>,
    /// AWS calls in flight at once (1 runs every step in turn)
    #[arg(long, value_name = "N", default_value_t = engine::DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Also delete dropped tables, and dropped buckets and queues that hold data
    #[arg(long)]
    pub force: bool,
    /// Release the pins `rollback` put on functions: every one, or the one named (repeatable)
    #[arg(long, value_name = "NAME", num_args = 0..=1)]
    pub unpin: Option<Vec<String>>,
    /// Carry out changes that disrupt live traffic: a table stream's new view type, a rebuilt index
    #[arg(long)]
    pub allow_disruption: bool,
    /// Make a canary's or linear shift's first step (or the steps due) and end; `deploy --continue` (or any deploy) takes it on
    #[arg(long, conflicts_with = "dry_run")]
    pub no_wait: bool,
    /// Take on the traffic shifts a `--no-wait` (or killed) deploy left, from their recorded steps: no build, no plan
    #[arg(
        long = "continue",
        conflicts_with_all = ["dry_run", "package", "force", "unpin", "allow_disruption"]
    )]
    pub continue_shift: bool,
}

pub fn run(global: &GlobalArgs, args: DeployArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    if args.continue_shift {
        return continue_shift(global, &service, &args);
    }
    let unpin = match args.unpin {
        None => engine::plan::Unpin::None,
        Some(names) if names.is_empty() => engine::plan::Unpin::All,
        Some(names) => {
            for name in &names {
                super::check_function(&service, name)?;
            }
            engine::plan::Unpin::Only(names)
        }
    };
    let (package, package_root) = match &args.package {
        Some(dir) => {
            let dir = std::path::absolute(dir)?;
            let root = dir
                .parent()
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.clone());
            let manifest = build::read_manifest_in(&dir)
                .with_context(|| format!("reading the package in {}", dir.display()))?;
            (manifest, root)
        }
        None => {
            let opts = PackageOptions {
                verbose: global.verbose > 0,
                interactive: ui::interactive(),
            };
            (build::package(&service, &opts)?, service.dir.clone())
        }
    };
    let opts = DeployOptions {
        dry_run: args.dry_run,
        lock_timeout: args.lock_timeout,
        command: super::command_line(),
        package_root,
        concurrency: usize::from(args.concurrency),
        force: args.force,
        allow_disruption: args.allow_disruption,
        unpin,
        scope: engine::Scope::Everything,
        no_wait: args.no_wait,
    };
    let report = super::block_on(engine::deploy(&service, &package, &opts, &|line| {
        ui::status(line)
    }))?;
    if global.json {
        return Ok(ui::out_json(&serde_json::to_value(&report)?)?);
    }
    let target = format!(
        "{}/{} ({}, account {})",
        report.service, report.stage, report.region, report.account
    );
    if report.dry_run {
        return Ok(ui::out(&format!(
            "plan for {target}\n{}",
            report.plan.render()
        ))?);
    }
    let endpoint = report
        .endpoint
        .as_ref()
        .map(|e| format!("\n{}", super::endpoint_line(e, report.endpoint_not_served)))
        .unwrap_or_default();
    let endpoint = endpoint + &super::url_lines(&report.urls, report.urls_not_served);
    let Some(deployment) = &report.deployment else {
        return Ok(ui::out(&format!(
            "{target}: no changes ({} reads, 0 writes, {:.2}s){endpoint}",
            report.api_calls.reads,
            report.elapsed_ms as f64 / 1000.0
        ))?);
    };
    for r in &report.retained {
        ui::warn(&format!("retained {r}"));
    }
    let live: Vec<String> = deployment
        .functions
        .iter()
        .map(|(f, v)| format!("{f}={v}"))
        .collect();
    ui::out(&format!(
        "deployed {target} in {:.2}s: deployment {}, {} artifact(s) uploaded, live versions: {}{endpoint}{}",
        report.elapsed_ms as f64 / 1000.0,
        deployment.id,
        report.uploads,
        live.join(", "),
        left_lines(&report.shifting)
    ))?;
    Ok(())
}

/// `deploy --continue`: the recorded shifts, taken on.
fn continue_shift(
    global: &GlobalArgs,
    service: &crate::manifest::Service,
    args: &DeployArgs,
) -> anyhow::Result<()> {
    let report = super::block_on(engine::resume::continue_shifts(
        service,
        args.lock_timeout,
        &super::command_line(),
        args.no_wait,
        &|line| ui::status(line),
    ))?;
    if global.json {
        return Ok(ui::out_json(&serde_json::to_value(&report)?)?);
    }
    let target = format!("{}/{}", report.service, report.stage);
    if report.continued.is_empty() {
        return Ok(ui::out(&format!(
            "{target}: no traffic shift in progress, nothing to continue"
        ))?);
    }
    let done: Vec<&String> = report
        .continued
        .iter()
        .filter(|f| !report.shifting.iter().any(|p| &&p.function == f))
        .collect();
    let mut out = format!(
        "{target}: continued the shift of {}",
        report.continued.join(", ")
    );
    if !done.is_empty() {
        out.push_str(&format!(
            "; all of `live` on the new version: {}",
            done.iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str(&left_lines(&report.shifting));
    Ok(ui::out(&out)?)
}

/// A line per shift left for later, and how to go on.
fn left_lines(left: &[engine::shift::Pending]) -> String {
    if left.is_empty() {
        return String::new();
    }
    let mut out: String = left
        .iter()
        .map(|p| {
            format!(
                "\nshifting {}: {}% on version {}, next step at {}",
                p.function, p.percent, p.to, p.next_step
            )
        })
        .collect();
    out.push_str("\n`sls-rs deploy --continue` takes it on (again with --no-wait: the steps due then); `sls-rs rollback` ends it");
    out
}

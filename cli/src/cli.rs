//! The command line: global flags and the subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands;

#[derive(Debug, Parser)]
#[command(
    name = "sls-rs",
    version,
    about = "Deploy Rust serverless services to AWS Lambda, without CloudFormation"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The manifest, or a directory holding serverless.yaml [default: ./serverless.yaml or ./serverless.yml]
    #[arg(short = 'c', long = "config", global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The stage to act on [default: provider.stage, else dev]
    #[arg(long, global = true, value_name = "STAGE")]
    pub stage: Option<String>,
    /// The AWS region [default: stages.<stage>.region, else provider.region, else us-east-1]
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Print one machine-readable JSON document on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// More detail (repeat for more)
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new service from a template (--list shows them)
    New(commands::new::NewArgs),
    /// Check serverless.yaml (schema, variables, references, AWS limits) without touching AWS
    Validate(commands::validate::ValidateArgs),
    /// Print the resolved manifest: variables substituted, secrets masked
    Print(commands::print::PrintArgs),
    /// Build every function into a Lambda zip under .sls-rs/ (cargo-lambda, zig)
    Package(commands::package::PackageArgs),
    /// Build, plan and apply: make AWS match the manifest
    Deploy(commands::deploy::DeployArgs),
    /// Show what deploy would change (deploy --dry-run)
    Plan(commands::plan::PlanArgs),
    /// Print the IAM policies deploy generates (each function's role, each state machine's)
    Policy(commands::policy::PolicyArgs),
    /// What is deployed: functions, versions, the live alias, the last deployment
    Info(commands::info::InfoArgs),
    /// Delete everything the service owns in the stage
    Remove(commands::remove::RemoveArgs),
    /// Remove the deploy lock of the stage (after a deploy died)
    Unlock(commands::unlock::UnlockArgs),
    /// The recorded deployments of the stage: id, time, who, what changed
    Deployments(commands::deployments::DeploymentsArgs),
    /// Move every live alias back to the versions of an earlier deployment
    Rollback(commands::rollback::RollbackArgs),
    /// Invoke a deployed function through its live alias and print the response
    Invoke(commands::invoke::InvokeArgs),
    /// Serve the service's HTTP API here, each function a warm local process, rebuilt on save
    Dev(commands::dev::DevArgs),
    /// A function's logs, or all functions' interleaved in time (--tail follows them)
    Logs(commands::logs::LogsArgs),
    /// Invocations, errors, throttles, duration percentiles and concurrency per function, from CloudWatch
    Metrics(commands::metrics::MetricsArgs),
    /// Convert a Serverless Framework serverless.yml into an sls-rs serverless.yaml, with a report
    Migrate(commands::migrate::MigrateArgs),
    /// Print the completion script for a shell (bash, zsh, fish, powershell, elvish)
    Completions(commands::completions::CompletionsArgs),
}

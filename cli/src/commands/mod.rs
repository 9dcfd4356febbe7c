//! One file per subcommand: parse flags, call the parts, render.

pub mod completions;
pub mod deploy;
pub mod deployments;
pub mod dev;
pub mod info;
pub mod invoke;
mod invoke_local;
pub mod logs;
pub mod metrics;
pub mod migrate;
pub mod new;
pub mod package;
pub mod plan;
pub mod policy;
pub mod print;
pub mod remove;
pub mod rollback;
pub mod unlock;
pub mod validate;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::manifest::{self, LoadOptions, Service};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    crate::ui::set_verbosity(cli.global.verbose);
    match cli.command {
        Command::New(args) => new::run(&cli.global, args),
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Print(args) => print::run(&cli.global, args),
        Command::Package(args) => package::run(&cli.global, args),
        Command::Deploy(args) => deploy::run(&cli.global, args),
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Policy(args) => policy::run(&cli.global, args),
        Command::Info(args) => info::run(&cli.global, args),
        Command::Remove(args) => remove::run(&cli.global, args),
        Command::Unlock(args) => unlock::run(&cli.global, args),
        Command::Deployments(args) => deployments::run(&cli.global, args),
        Command::Rollback(args) => rollback::run(&cli.global, args),
        Command::Invoke(args) => invoke::run(&cli.global, args),
        Command::Dev(args) => dev::run(&cli.global, args),
        Command::Logs(args) => logs::run(&cli.global, args),
        Command::Metrics(args) => metrics::run(&cli.global, args),
        Command::Migrate(args) => migrate::run(&cli.global, args),
        Command::Completions(args) => completions::run(args),
    }
}

/// Loads the service the global flags point at, reading `${env:…}` from the process environment.
pub fn load_service(global: &GlobalArgs) -> anyhow::Result<Service> {
    let env = |name: &str| std::env::var(name).ok();
    let opts = LoadOptions {
        config: global.config.as_deref(),
        stage: global.stage.as_deref(),
        region: global.region.as_deref(),
        env: &env,
    };
    manifest::load(&opts, &std::env::current_dir()?)
}

/// Runs the async part of a command.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
        .block_on(future)
}

/// `sls-rs deploy --stage prod`, as recorded in the lock and the deployment history.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("sls-rs {}", args.join(" "))
}

/// `-f NAME` must name a function of the manifest: a usage error otherwise, with a suggestion.
pub fn check_function(service: &Service, name: &str) -> anyhow::Result<()> {
    if service.manifest.functions.contains_key(name) {
        return Ok(());
    }
    let names: Vec<&str> = service
        .manifest
        .functions
        .keys()
        .map(String::as_str)
        .collect();
    let help = match crate::manifest::did_you_mean(name, names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("the service's functions: {}", names.join(", ")),
    };
    Err(crate::error::UsageError::new(format!(
        "there is no function `{name}` in {}",
        service.file.display()
    ))
    .with_help(help)
    .into())
}

/// `URL of upload: https://…` for each function URL, each on a line of its own.
pub(crate) fn url_lines<'a>(
    urls: impl IntoIterator<Item = (&'a String, &'a String)>,
    not_served: bool,
) -> String {
    urls.into_iter()
        .map(|(function, url)| {
            if not_served {
                format!(
                    "\nURL of {function}: {url} (an emulator's: it runs no function; serve it here with `sls-rs dev`, or run it once with `sls-rs invoke --local -f {function} --event apigw-http`)"
                )
            } else {
                format!("\nURL of {function}: {url}")
            }
        })
        .collect()
}

/// The line that shows the HTTP API's URL; an emulator's cannot be called, so it
/// says how to run a route's function here instead.
pub(crate) fn endpoint_line(endpoint: &str, not_served: bool) -> String {
    if not_served {
        format!(
            "HTTP API: {endpoint} (an emulator's: it serves no HTTP API; serve the routes \
             here with `sls-rs dev`, or run one function with `sls-rs invoke --local -f NAME --event apigw-http`)"
        )
    } else {
        format!("HTTP API: {endpoint}")
    }
}

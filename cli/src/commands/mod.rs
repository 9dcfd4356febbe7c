//! One file per subcommand: parse flags, call the parts, render.

pub mod package;
pub mod print;
pub mod validate;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::manifest::{self, LoadOptions, Service};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Print(args) => print::run(&cli.global, args),
        Command::Package(args) => package::run(&cli.global, args),
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

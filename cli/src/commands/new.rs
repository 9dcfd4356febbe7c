//! `sls-rs new NAME --template T`: a new service from a template embedded in the
//! binary (scaffold), ready to validate, package and deploy; `--list` lists them.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::GlobalArgs;
use crate::error::UsageError;
use crate::manifest::Architecture;
use crate::scaffold::{self, Options};
use crate::ui;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Arch {
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The directory to create; its last component is the service name unless --name
    #[arg(value_name = "DIR", required_unless_present = "list")]
    pub dir: Option<PathBuf>,
    /// The template (`--list` shows them)
    #[arg(short, long, default_value = "http-api", value_name = "TEMPLATE")]
    pub template: String,
    /// List the templates, one line each
    #[arg(long, conflicts_with_all = ["dir", "force", "with_ci"])]
    pub list: bool,
    /// The service name [default: DIR's last component]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The functions' architecture
    #[arg(long = "arch", value_enum, default_value = "arm64")]
    pub arch: Arch,
    /// Add .github/workflows/deploy.yml: plan on pull requests, deploy main to staging then production
    #[arg(long)]
    pub with_ci: bool,
    /// Write into a non-empty DIR, replacing files of the same names
    #[arg(long)]
    pub force: bool,
}

pub fn run(global: &GlobalArgs, args: NewArgs) -> anyhow::Result<()> {
    if args.list {
        let templates = scaffold::templates();
        if global.json {
            return Ok(ui::out_json(
                &serde_json::json!({ "templates": templates }),
            )?);
        }
        let rows: Vec<[String; 2]> = templates
            .iter()
            .map(|t| [t.name.to_string(), t.about.to_string()])
            .collect();
        return Ok(ui::out(&ui::table(&rows))?);
    }
    let dir = args.dir.expect("clap requires DIR without --list");
    let service = match args.name.clone().or_else(|| scaffold::dir_name(&dir)) {
        Some(name) => name,
        None => {
            return Err(
                UsageError::new(format!("{} names no directory", dir.display()))
                    .with_help("give a directory such as `my-service`, or the name with --name")
                    .into(),
            )
        }
    };
    let runtime_source = scaffold::local_runtime_source();
    let opts = Options {
        service,
        template: args.template,
        region: global.region.clone().unwrap_or_else(|| "us-east-1".into()),
        architecture: match args.arch {
            Arch::Arm64 => Architecture::Arm64,
            Arch::X86_64 => Architecture::X86_64,
        },
        with_ci: args.with_ci,
        runtime_source: runtime_source.clone(),
    };
    let files = scaffold::render(&opts)?;
    let written = scaffold::write(&dir, &files, args.force)?;
    if global.json {
        return Ok(ui::out_json(&serde_json::json!({
            "service": opts.service,
            "template": opts.template,
            "dir": written.dir,
            "files": written.files,
            "replaced": written.replaced,
            "runtimeCrateFrom": runtime_source,
        }))?);
    }
    ui::status(&format!(
        "created `{}` from template {} in {} ({} files{})",
        opts.service,
        opts.template,
        written.dir.display(),
        written.files.len(),
        if written.replaced.is_empty() {
            String::new()
        } else {
            format!(", {} replaced", written.replaced.len())
        }
    ));
    if runtime_source.is_none() {
        ui::warn(&format!(
            "{} is not on crates.io yet and the sls-rs source this binary was built from is gone: \
             add its [patch.crates-io] to {}/.cargo/config.toml (README.md there says how)",
            crate::build::RUNTIME_CRATE,
            written.dir.display()
        ));
    }
    let cd = written.dir.display();
    ui::status(&format!(
        "next:\n  cd {cd}\n  sls-rs validate\n  sls-rs deploy --stage local   # on the local emulator; README.md has the rest"
    ));
    Ok(())
}

//! `sls-rs migrate`: write an sls-rs manifest from a Serverless Framework serverless.yml.

use std::path::PathBuf;

use clap::Args;

use crate::cli::GlobalArgs;
use crate::error::UsageError;
use crate::migrate;
use crate::ui;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The Serverless Framework file [default: serverless.yml, else -c]
    pub input: Option<PathBuf>,
    /// Where to write the sls-rs manifest [default: serverless.yaml next to the input]
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the output file when it exists
    #[arg(long)]
    pub force: bool,
}

/// The file needs a human: the report above says what (exit 1).
#[derive(Debug)]
pub struct NeedsHuman(pub String);

impl std::fmt::Display for NeedsHuman {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NeedsHuman {}

pub fn run(global: &GlobalArgs, args: MigrateArgs) -> anyhow::Result<()> {
    let input = args
        .input
        .or_else(|| global.config.clone())
        .unwrap_or_else(|| PathBuf::from("serverless.yml"));
    let text = std::fs::read_to_string(&input).map_err(|e| {
        UsageError::new(format!("cannot read {}: {e}", input.display())).with_help(
            "give the Serverless Framework file: `sls-rs migrate path/to/serverless.yml`",
        )
    })?;
    let output = args.output.unwrap_or_else(|| {
        input
            .parent()
            .unwrap_or(std::path::Path::new(""))
            .join("serverless.yaml")
    });
    migrate::refuse_overwriting_input(&input, &output)?;
    let migration = migrate::migrate(&input, &text, &output)?;
    migrate::write(&output, &migration.text, args.force)?;
    if global.json {
        ui::out_json(&migration.to_json())?;
    } else {
        ui::out(&format!(
            "wrote {}\n{}",
            output.display(),
            migration.render()
        ))?;
    }
    if migration.needs_human() {
        return Err(NeedsHuman(format!(
            "{} needs a human to finish it: see the TODO lines{} above",
            output.display(),
            if migration.invalid.is_some() {
                " and the validation errors"
            } else {
                ""
            }
        ))
        .into());
    }
    Ok(())
}

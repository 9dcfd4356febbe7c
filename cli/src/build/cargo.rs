//! What the service's cargo workspace builds, read with `cargo metadata`.

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;

use crate::error::UsageError;

/// The names of the binary targets of the workspace rooted at `dir`.
pub fn workspace_binaries(dir: &Path) -> anyhow::Result<Vec<String>> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(UsageError::new(format!("there is no Cargo.toml in {}", dir.display()))
            .with_help("a function's `handler` names a binary of the cargo workspace next to serverless.yaml; create one with `cargo init`")
            .into());
    }
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .context("running `cargo metadata` (is cargo installed?)")?;
    if !out.status.success() {
        anyhow::bail!(
            "`cargo metadata` failed for {}:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading `cargo metadata` output")?;
    let mut bins: Vec<String> = doc["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    bins.sort();
    bins.dedup();
    Ok(bins)
}

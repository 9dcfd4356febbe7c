//! What the service's cargo workspace builds, read with `cargo metadata`.

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;

use crate::error::UsageError;

use super::RUNTIME_CRATE;

/// Whether sls-rs-runtime is on crates.io. Until it is, a service that resolves it
/// from there would build someone else's crate of that name: refused.
const RUNTIME_PUBLISHED: bool = false;

/// The names of the binary targets of the workspace rooted at `dir`.
pub fn workspace_binaries(dir: &Path) -> anyhow::Result<Vec<String>> {
    Ok(workspace_targets(dir)?.into_keys().collect())
}

/// Whether a binary's source file streams its answers through lambda_http
/// (`run_with_streaming_response`, `streaming_runtime`). Its own file only: a call
/// made in a library it uses is not seen.
pub fn source_streams(src: &Path) -> bool {
    std::fs::read_to_string(src).is_ok_and(|text| {
        text.contains("run_with_streaming_response") || text.contains("streaming_runtime")
    })
}

/// The binary targets of the workspace rooted at `dir`, by name, with their source file.
pub fn workspace_targets(
    dir: &Path,
) -> anyhow::Result<std::collections::BTreeMap<String, std::path::PathBuf>> {
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
    Ok(doc["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|t| {
            let name = t["name"].as_str()?.to_string();
            Some((name, t["src_path"].as_str().unwrap_or_default().into()))
        })
        .collect())
}

/// The help that says where to take the runtime crate from until it is published.
pub fn runtime_patch_help() -> String {
    format!(
        "until it is, take it from sls-rs's repository: add to .cargo/config.toml beside serverless.yaml\n  \
         [patch.crates-io]\n  {RUNTIME_CRATE} = {{ path = \"/path/to/sls-rs/runtime\" }}\n\
         (or `git = \"<sls-rs's repository URL>\"`); README, \"Handlers and the runtime crate\""
    )
}

/// Before a build: where the workspace at `dir` takes sls-rs-runtime from, if it uses
/// it. Refused (exit 2, nothing built) when cargo cannot find it (not published, or
/// a patch that points at a directory that is gone) or, while it is unpublished,
/// when it would come from crates.io. One `cargo metadata`, which resolves (and
/// locks) the dependencies without building any of them.
pub fn check_runtime_source(dir: &Path) -> anyhow::Result<()> {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        // Cargo reads .cargo/config.toml (where the patch is) from the working directory up.
        .current_dir(dir)
        .output()
        .context("running `cargo metadata` (is cargo installed?)")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains(&format!("`{RUNTIME_CRATE}`")) {
            crate::ui::raw_stderr(&stderr);
            return Err(UsageError::new(format!(
                "cargo cannot find {RUNTIME_CRATE} for {} (its message is above): it is not published on crates.io yet",
                dir.display()
            ))
            .with_help(runtime_patch_help())
            .into());
        }
        // Anything else is for the build to report, with the compiler's words.
        return Ok(());
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading `cargo metadata` output")?;
    match runtime_from_registry(&doc) {
        Some(source) if !RUNTIME_PUBLISHED => Err(UsageError::new(format!(
            "{} takes {RUNTIME_CRATE} from a registry ({source}), where sls-rs has not published it: \
             a crate of that name there is someone else's, and building it would run its code",
            dir.display()
        ))
        .with_help(runtime_patch_help())
        .into()),
        _ => Ok(()),
    }
}

/// The registry `cargo metadata`'s resolve takes the runtime crate from, if any (a
/// path or git source, what a `[patch]` gives, is `None`).
fn runtime_from_registry(doc: &serde_json::Value) -> Option<&str> {
    doc["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == RUNTIME_CRATE)
        .filter_map(|p| p["source"].as_str())
        .find(|source| source.starts_with("registry+") || source.starts_with("sparse+"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_registry_source_of_the_runtime_crate_is_flagged() {
        let doc = |source: serde_json::Value| {
            json!({ "packages": [
                { "name": "serde", "source": "registry+https://github.com/rust-lang/crates.io-index" },
                { "name": RUNTIME_CRATE, "source": source },
            ]})
        };
        assert_eq!(
            runtime_from_registry(&doc(json!(null))),
            None,
            "a path patch"
        );
        assert_eq!(
            runtime_from_registry(&doc(json!("git+https://example.com/sls-rs#abc"))),
            None
        );
        assert_eq!(
            runtime_from_registry(&doc(json!(
                "registry+https://github.com/rust-lang/crates.io-index"
            ))),
            Some("registry+https://github.com/rust-lang/crates.io-index")
        );
        assert_eq!(
            runtime_from_registry(&doc(json!("sparse+https://index.crates.io/"))),
            Some("sparse+https://index.crates.io/")
        );
    }
}

//! `package`: every function of a service compiled for Lambda into a
//! deterministic zip, with one cargo-lambda run per architecture.

mod artifact;
mod cargo;
mod toolchain;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

pub use artifact::{bootstrap_zip, sha256_hex};
pub use toolchain::{target_triple, Toolchain, TOOLCHAIN_VAR};

use crate::manifest::{Architecture, KeyPath, ManifestError, Service};

/// Where builds go, inside the service directory.
pub const OUTPUT_DIR: &str = ".sls-rs";
/// The crate sls-rs handlers link (runtime/, versioned with sls-rs itself): with
/// [`runtime_requirement`], the one place a service's dependency on it is fixed.
pub const RUNTIME_CRATE: &str = "sls-rs-runtime";

/// The version requirement a service declares on [`RUNTIME_CRATE`] (`"0.1"` for
/// 0.1.x, `"1"` for 1.x): what `sls-rs new` renders and every example declares.
pub fn runtime_requirement() -> String {
    let mut parts = env!("CARGO_PKG_VERSION").split('.');
    let major = parts.next().unwrap_or("0");
    match major {
        "0" => format!("0.{}", parts.next().unwrap_or("0")),
        _ => major.to_string(),
    }
}
pub const PACKAGE_MANIFEST: &str = "package.json";

/// What `package` produced: one artifact per function.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PackageManifest {
    pub service: String,
    pub functions: BTreeMap<String, Artifact>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// The cargo binary.
    pub handler: String,
    pub architecture: Architecture,
    /// The zip, relative to the service directory.
    pub path: PathBuf,
    /// sha256 of the zip: the content hash deploy compares.
    pub sha256: String,
    pub size: u64,
    /// What the zip was made from, so an unchanged binary is not zipped again.
    pub binary_sha256: String,
    pub binary_size: u64,
    /// The binary's source calls lambda_http's `run_with_streaming_response` (or
    /// `streaming_runtime`): its answers stream, which only a function URL with
    /// `invokeMode: RESPONSE_STREAM` passes on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub streams: bool,
}

#[derive(Debug, Clone, Default)]
pub struct PackageOptions {
    /// Stream cargo's own output instead of a progress line.
    pub verbose: bool,
    /// Whether stderr is a terminal (a spinner) or a log (plain lines).
    pub interactive: bool,
}

/// Builds every function of the service and writes `.sls-rs/package.json`.
pub fn package(service: &Service, opts: &PackageOptions) -> anyhow::Result<PackageManifest> {
    let dir = &service.dir;
    let targets = cargo::workspace_targets(dir)?;
    let names: Vec<String> = targets.keys().cloned().collect();
    check_handlers(service, &names)?;
    let toolchain = Toolchain::find(dir)?;
    cargo::check_runtime_source(dir)?;

    let mut by_arch: BTreeMap<Architecture, Vec<&str>> = BTreeMap::new();
    for f in service.manifest.functions.values() {
        let bins = by_arch.entry(service.architecture(f)).or_default();
        if !bins.contains(&f.handler.as_str()) {
            bins.push(&f.handler);
        }
    }
    let out_dir = dir.join(OUTPUT_DIR);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    for (arch, bins) in &by_arch {
        toolchain.check_target(*arch)?;
        build_architecture(&toolchain, dir, *arch, bins, opts)?;
    }

    let previous = read_manifest(dir).ok();
    let mut functions = BTreeMap::new();
    for (name, f) in &service.manifest.functions {
        let arch = service.architecture(f);
        let binary = lambda_dir(dir, arch).join(&f.handler).join("bootstrap");
        let zip_rel = Path::new(OUTPUT_DIR).join(format!("{name}.zip"));
        let reused = previous
            .as_ref()
            .and_then(|p| p.functions.get(name))
            .filter(|a| a.handler == f.handler && a.architecture == arch);
        let mut artifact = zip_function(dir, &binary, &zip_rel, &f.handler, arch, reused)?;
        artifact.streams = targets
            .get(&f.handler)
            .is_some_and(|src| cargo::source_streams(src));
        functions.insert(name.clone(), artifact);
    }
    let manifest = PackageManifest {
        service: service.manifest.service.clone(),
        functions,
    };
    artifact::write_atomically(
        &out_dir.join(PACKAGE_MANIFEST),
        &serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(manifest)
}

/// The last package manifest written in a service directory.
pub fn read_manifest(dir: &Path) -> anyhow::Result<PackageManifest> {
    read_manifest_in(&dir.join(OUTPUT_DIR))
}

/// The package manifest in an output directory (`.sls-rs`).
pub fn read_manifest_in(out_dir: &Path) -> anyhow::Result<PackageManifest> {
    let path = out_dir.join(PACKAGE_MANIFEST);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

fn lambda_dir(dir: &Path, arch: Architecture) -> PathBuf {
    dir.join(OUTPUT_DIR).join("build").join(arch_name(arch))
}

pub fn arch_name(arch: Architecture) -> &'static str {
    match arch {
        Architecture::X86_64 => "x86_64",
        Architecture::Arm64 => "arm64",
    }
}

/// What a build for this machine needs first (`sls-rs dev`): every handler names a
/// binary of the workspace, and cargo finds the runtime crate where it should.
pub fn check_local(service: &Service) -> anyhow::Result<()> {
    check_handlers(service, &cargo::workspace_binaries(&service.dir)?)?;
    cargo::check_runtime_source(&service.dir)
}

/// Builds one handler as `package` does, for `arch`, and returns its `bootstrap`;
/// `Ok(None)` when cargo-lambda or zig is not installed (the caller builds otherwise).
pub fn build_bootstrap(
    service: &Service,
    handler: &str,
    arch: Architecture,
    opts: &PackageOptions,
) -> anyhow::Result<Option<PathBuf>> {
    let Ok(toolchain) = Toolchain::find(&service.dir) else {
        return Ok(None);
    };
    check_handlers(service, &cargo::workspace_binaries(&service.dir)?)?;
    cargo::check_runtime_source(&service.dir)?;
    build_architecture(&toolchain, &service.dir, arch, &[handler], opts)?;
    Ok(Some(
        lambda_dir(&service.dir, arch)
            .join(handler)
            .join("bootstrap"),
    ))
}

/// Whether every function's `handler` names a binary of the cargo workspace next
/// to the manifest (`validate`, before any build). `Ok(Some(why))`: not checked,
/// there is no Cargo.toml (a service deployed from a package built elsewhere) or no
/// cargo to ask (a CI step without Rust).
pub fn check_workspace(service: &Service) -> anyhow::Result<Option<String>> {
    if !service.dir.join("Cargo.toml").is_file() {
        return Ok(Some(format!(
            "there is no Cargo.toml in {}",
            service.dir.display()
        )));
    }
    let bins = match cargo::workspace_binaries(&service.dir) {
        Ok(bins) => bins,
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
            }) =>
        {
            return Ok(Some("cargo is not installed".into()))
        }
        Err(e) => return Err(e),
    };
    check_handlers(service, &bins)?;
    Ok(None)
}

/// Every `handler` must name a binary of the workspace: a manifest mistake, shown at its line.
fn check_handlers(service: &Service, bins: &[String]) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for (name, f) in &service.manifest.functions {
        if bins.iter().any(|b| b == &f.handler) {
            continue;
        }
        let path = KeyPath::root().key("functions").key(name).key("handler");
        let help = match crate::manifest::did_you_mean(&f.handler, bins.iter().map(String::as_str))
        {
            _ if bins.is_empty() => {
                "the workspace has no binaries; add one under src/bin/ or a [[bin]] section"
                    .to_string()
            }
            Some(s) => format!(
                "did you mean `{s}`? the workspace's binaries: {}",
                bins.join(", ")
            ),
            None => format!("the workspace's binaries: {}", bins.join(", ")),
        };
        problems.push(service.diagnostic(
            &path,
            format!(
                "no binary named `{}` in the cargo workspace at {}",
                f.handler,
                service.dir.display()
            ),
            Some(help),
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ManifestError::new(&service.file, service.source_text(), problems).into())
    }
}

fn build_architecture(
    toolchain: &Toolchain,
    dir: &Path,
    arch: Architecture,
    bins: &[&str],
    opts: &PackageOptions,
) -> anyhow::Result<()> {
    let mut cmd = Command::new(&toolchain.cargo_lambda);
    cmd.args([
        "lambda",
        "build",
        "--release",
        "--compiler",
        "cargo-zigbuild",
        "--target",
        target_triple(arch),
        "--lambda-dir",
    ])
    .arg(lambda_dir(dir, arch))
    .current_dir(dir)
    .env("PATH", &toolchain.path)
    // cargo-lambda asks how to install zig when it is missing; never wait for an answer.
    .stdin(Stdio::null());
    for bin in bins {
        cmd.args(["--bin", bin]);
    }
    let label = format!("{} ({})", arch_name(arch), bins.join(", "));
    let started = Instant::now();
    let progress = crate::ui::Progress::start(
        &format!("building {label}"),
        opts.interactive && !opts.verbose,
    );
    let (status, captured) = if opts.verbose {
        let status = cmd
            .status()
            .with_context(|| format!("running {}", toolchain.cargo_lambda.display()))?;
        (status, String::new())
    } else {
        // Both streams into one pipe, so the compiler's errors keep their order.
        let (mut reader, writer) = std::io::pipe().context("creating a pipe for cargo's output")?;
        cmd.stdout(writer.try_clone()?).stderr(writer);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("running {}", toolchain.cargo_lambda.display()))?;
        drop(cmd);
        let mut output = String::new();
        reader.read_to_string(&mut output).ok();
        (child.wait()?, output)
    };
    progress.finish();
    if !status.success() {
        if !captured.is_empty() {
            crate::ui::raw_stderr(&captured);
        }
        anyhow::bail!(
            "building {label} with cargo-lambda failed ({status}); the compiler's output is above"
        );
    }
    crate::ui::status(&format!("built {label} in {}", seconds(started.elapsed())));
    Ok(())
}

pub fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Zips one function's binary, or keeps the previous zip when the binary is unchanged.
fn zip_function(
    dir: &Path,
    binary: &Path,
    zip_rel: &Path,
    handler: &str,
    arch: Architecture,
    previous: Option<&Artifact>,
) -> anyhow::Result<Artifact> {
    let bytes = std::fs::read(binary).with_context(|| {
        format!(
            "reading {}, which cargo-lambda should have built",
            binary.display()
        )
    })?;
    let binary_sha256 = sha256_hex(&bytes);
    let zip_path = dir.join(zip_rel);
    // cargo-lambda copies the binary on every run, so only its content tells it is unchanged.
    if let Some(prev) = previous.filter(|p| p.binary_sha256 == binary_sha256) {
        if std::fs::metadata(&zip_path).is_ok_and(|z| z.len() == prev.size) {
            return Ok(prev.clone());
        }
    }
    let zip = bootstrap_zip(&bytes)?;
    artifact::write_atomically(&zip_path, &zip)?;
    Ok(Artifact {
        handler: handler.to_string(),
        architecture: arch,
        path: zip_rel.to_path_buf(),
        sha256: sha256_hex(&zip),
        size: zip.len() as u64,
        binary_sha256,
        binary_size: bytes.len() as u64,
        streams: false,
    })
}

//! Finding the tools a handler build needs, and saying how to get them when
//! they are missing: cargo-lambda, zig (which cargo-lambda links with), and
//! Rust's standard library for aarch64.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;

use crate::manifest::Architecture;

/// Points at a Python venv holding cargo-lambda and ziglang.
pub const TOOLCHAIN_VAR: &str = "SLS_RS_TOOLCHAIN";

const SETUP_HINT: &str = "run `scripts/setup` in the sls-rs repository (it installs pinned cargo-lambda and zig into .venv), \
     or `pip install cargo-lambda ziglang` into a venv and set SLS_RS_TOOLCHAIN to it";

/// Where cargo-lambda lives, and the PATH its child processes need.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub cargo_lambda: PathBuf,
    /// PATH with the venv's bin first: cargo-lambda finds zig (`python3 -m ziglang`) only that way.
    pub path: OsString,
}

impl Toolchain {
    /// Finds cargo-lambda in `SLS_RS_TOOLCHAIN`, a `.venv` above the service
    /// or above this executable (a checkout of sls-rs), or PATH, then checks zig.
    pub fn find(service_dir: &Path) -> anyhow::Result<Toolchain> {
        let system_path = std::env::var_os("PATH").unwrap_or_default();
        let venv_bin = match std::env::var_os(TOOLCHAIN_VAR) {
            // An explicit choice is the only place looked at.
            Some(venv) => {
                let bin = PathBuf::from(&venv).join("bin");
                if !is_executable(&bin.join("cargo-lambda")) {
                    bail!("cargo-lambda not found in {TOOLCHAIN_VAR}={} (expected bin/cargo-lambda there)\n  = help: {SETUP_HINT}", bin.parent().unwrap_or(&bin).display());
                }
                Some(bin)
            }
            None => {
                let exe = std::env::current_exe().ok();
                let starts = [
                    Some(service_dir.to_path_buf()),
                    exe.as_deref().and_then(Path::parent).map(Path::to_path_buf),
                ];
                starts
                    .into_iter()
                    .flatten()
                    .flat_map(|start| {
                        start
                            .canonicalize()
                            .unwrap_or(start)
                            .ancestors()
                            .map(|d| d.join(".venv/bin"))
                            .collect::<Vec<_>>()
                    })
                    .find(|bin| is_executable(&bin.join("cargo-lambda")))
            }
        };
        let (cargo_lambda, path) = match venv_bin {
            Some(bin) => {
                let mut dirs = vec![bin.clone()];
                dirs.extend(std::env::split_paths(&system_path));
                (bin.join("cargo-lambda"), std::env::join_paths(dirs)?)
            }
            None => match find_on(&system_path, "cargo-lambda") {
                Some(exe) => (exe, system_path.clone()),
                None => bail!("cargo-lambda not found (looked in ${TOOLCHAIN_VAR}, .venv directories and PATH)\n  = help: {SETUP_HINT}"),
            },
        };
        let toolchain = Toolchain { cargo_lambda, path };
        toolchain.check_zig()?;
        Ok(toolchain)
    }

    fn check_zig(&self) -> anyhow::Result<()> {
        if find_on(&self.path, "zig").is_some() {
            return Ok(());
        }
        // The ziglang wheel ships zig inside site-packages and runs it as `python3 -m ziglang`.
        for dir in std::env::split_paths(&self.path) {
            let lib = dir.parent().map(|venv| venv.join("lib"));
            let found = lib
                .and_then(|lib| std::fs::read_dir(lib).ok())
                .into_iter()
                .flatten()
                .flatten()
                .any(|python| python.path().join("site-packages/ziglang/zig").is_file());
            if found {
                return Ok(());
            }
        }
        bail!("zig not found (cargo-lambda links Lambda binaries with it)\n  = help: {SETUP_HINT}")
    }

    /// Fails when an arm64 build cannot work because Rust's aarch64 standard library is missing.
    pub fn check_target(&self, arch: Architecture) -> anyhow::Result<()> {
        if arch != Architecture::Arm64 {
            return Ok(());
        }
        let Ok(out) = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
        else {
            return Ok(()); // no rustup: let cargo say what is missing
        };
        let installed = String::from_utf8_lossy(&out.stdout);
        if !installed.lines().any(|l| l.trim() == RUST_ARM_TARGET) {
            bail!(
                "the Rust target {RUST_ARM_TARGET} is not installed, and arm64 functions need it\n  = help: run `rustup target add {RUST_ARM_TARGET}` (scripts/setup does)"
            );
        }
        Ok(())
    }
}

const RUST_ARM_TARGET: &str = "aarch64-unknown-linux-gnu";

/// The cargo-zigbuild target: glibc 2.17 so binaries run on both provided.al2 and provided.al2023.
pub fn target_triple(arch: Architecture) -> &'static str {
    match arch {
        Architecture::X86_64 => "x86_64-unknown-linux-gnu.2.17",
        Architecture::Arm64 => "aarch64-unknown-linux-gnu.2.17",
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_on(path: &OsString, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

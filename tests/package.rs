//! `sls-rs package` builds real Lambda artifacts: the example service is
//! compiled with cargo-lambda and zig, and the zip is taken apart and checked.

use crate::support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use object::{Architecture, Object, ObjectSection};

/// Handler builds of every test share one target directory, so dependencies compile once.
fn handlers_target() -> PathBuf {
    support::repo_root().join("target/handlers")
}

/// Runs `sls-rs package`; with `json`, stdout is the package manifest.
fn package(
    service: &Path,
    json: bool,
    extra_env: &[(&str, &str)],
) -> (std::process::Output, String, String) {
    let mut cmd = support::sls_rs();
    cmd.args(["package", "-c"])
        .arg(service)
        .env("CARGO_TARGET_DIR", handlers_target());
    if json {
        cmd.arg("--json");
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    support::run(&mut cmd)
}

/// What a zip holds: (name, unix mode, bytes) of every entry.
fn entries(zip_path: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let file = std::fs::File::open(zip_path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (
                entry.name().to_string(),
                entry.unix_mode().unwrap_or(0),
                bytes,
            )
        })
        .collect()
}

/// The highest `GLIBC_2.x` symbol version the ELF binary requires, read from
/// its dynamic string table (where every required version name is stored).
/// `GLIBC_2.2.5` counts as 2.2: only the minor version matters against 2.26.
fn highest_glibc(elf: &object::File) -> Option<(u32, u32)> {
    let dynstr = elf.section_by_name(".dynstr")?.data().ok()?;
    dynstr
        .split(|b| *b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok()?.strip_prefix("GLIBC_2."))
        .filter_map(|rest| rest.split('.').next()?.parse::<u32>().ok())
        .max()
        .map(|minor| (2, minor))
}

/// Checks one packaged function and returns the zip's sha256.
fn check_artifact(
    service_dir: &Path,
    doc: &serde_json::Value,
    function: &str,
    machine: Architecture,
) -> String {
    let artifact = &doc["functions"][function];
    let zip_path = service_dir.join(artifact["path"].as_str().unwrap());
    let bytes = std::fs::read(&zip_path).unwrap();
    assert_eq!(
        sls_rs::build::sha256_hex(&bytes),
        artifact["sha256"],
        "the manifest's sha256 is the zip's"
    );
    assert_eq!(bytes.len() as u64, artifact["size"].as_u64().unwrap());

    let files = entries(&zip_path);
    assert_eq!(files.len(), 1, "exactly one file in the zip");
    let (name, mode, binary) = &files[0];
    assert_eq!(name, "bootstrap");
    assert_eq!(mode & 0o777, 0o755, "bootstrap is executable");

    let elf = object::File::parse(binary.as_slice()).expect("bootstrap is an object file");
    assert_eq!(elf.format(), object::BinaryFormat::Elf);
    assert_eq!(elf.architecture(), machine);
    let (major, minor) =
        highest_glibc(&elf).expect("a glibc-linked binary requires GLIBC_2.x versions");
    assert!(
        (major, minor) <= (2, 26),
        "requires GLIBC_{major}.{minor}, above 2.26: it would not run on provided.al2"
    );
    artifact["sha256"].as_str().unwrap().to_string()
}

#[test]
fn examples_hello_builds_for_x86_64_into_a_deterministic_lambda_zip() {
    let service = support::repo_root().join("examples/hello");
    let (out, stdout, stderr) = package(&service, true, &[]);
    assert!(out.status.success(), "package failed:\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["functions"]["hello"]["architecture"], "x86_64");
    let first = check_artifact(&service, &doc, "hello", Architecture::X86_64);

    // Again, unchanged: the same bytes.
    let (out, stdout, _) = package(&service, true, &[]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["functions"]["hello"]["sha256"], first.as_str());

    // From scratch (no zip to reuse): still the same bytes.
    std::fs::remove_file(service.join(".sls-rs/hello.zip")).unwrap();
    std::fs::remove_file(service.join(".sls-rs/package.json")).unwrap();
    let (out, stdout, _) = package(&service, true, &[]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        check_artifact(&service, &doc, "hello", Architecture::X86_64),
        first
    );
}

/// A copy of examples/hello whose package and binary are named `bin` (unique per
/// test: fixtures share one target directory, where cargo keys builds by name),
/// with another manifest and optionally another main.rs. `{bin}` in the manifest
/// is replaced by the binary's name.
fn fixture(bin: &str, manifest: &str, main_rs: Option<&str>) -> PathBuf {
    let root = support::repo_root();
    let dir = std::env::temp_dir().join(support::unique_service(bin));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let cargo_toml = std::fs::read_to_string(root.join("examples/hello/Cargo.toml"))
        .unwrap()
        .replace("name = \"hello\"", &format!("name = \"{bin}\""));
    std::fs::write(dir.join("Cargo.toml"), cargo_toml).unwrap();
    support::patch_runtime_crate(&dir);
    // The example's lock, so the fixture builds the dependencies already compiled.
    std::fs::copy(
        root.join("examples/hello/Cargo.lock"),
        dir.join("Cargo.lock"),
    )
    .unwrap();
    let main = main_rs.map(str::to_string).unwrap_or_else(|| {
        std::fs::read_to_string(root.join("examples/hello/src/main.rs")).unwrap()
    });
    std::fs::write(dir.join("src/main.rs"), main).unwrap();
    std::fs::write(dir.join("serverless.yaml"), manifest.replace("{bin}", bin)).unwrap();
    dir
}

fn arm64_target_installed() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == "aarch64-unknown-linux-gnu")
        })
}

#[test]
#[allow(clippy::print_stderr)] // the reason a test is skipped belongs in its output
fn arm64_functions_build_for_aarch64_when_the_target_is_installed() {
    if !arm64_target_installed() {
        // scripts/setup installs it, so CI always runs this test.
        eprintln!("skipped: rustup target aarch64-unknown-linux-gnu is not installed");
        return;
    }
    let manifest = "service: arm\nprovider: { name: aws, architecture: arm64 }\nfunctions:\n  hello: { handler: {bin} }\n  again: { handler: {bin}, architecture: x86_64 }\n";
    let dir = fixture("hello_arm", manifest, None);
    // Unoptimised, as the tests that run handlers build (support::handler_builds):
    // which code aarch64 gets is what this checks, and an optimised cold build of the
    // dependencies for a second architecture is two minutes of CI.
    let (out, stdout, stderr) = package(&dir, true, &support::UNOPTIMISED);
    assert!(out.status.success(), "package failed:\n{stderr}");
    // One cargo-lambda run per architecture, not per function.
    assert_eq!(stderr.matches("built ").count(), 2, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["functions"]["hello"]["architecture"], "arm64");
    check_artifact(&dir, &doc, "hello", Architecture::Aarch64);
    check_artifact(&dir, &doc, "again", Architecture::X86_64);
}

#[test]
fn a_handler_that_names_no_binary_exits_2_listing_the_binaries() {
    let manifest =
        "service: typo\nprovider: { name: aws }\nfunctions:\n  hello:\n    handler: helo\n";
    let dir = fixture("hello_typo", manifest, None);
    let (out, _, stderr) = package(&dir, false, &[]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: functions.hello.handler: no binary named `helo`"),
        "{stderr}"
    );
    assert!(stderr.contains("serverless.yaml:5:14"), "{stderr}");
    assert!(
        stderr.contains("did you mean `hello_typo`? the workspace's binaries: hello_typo"),
        "{stderr}"
    );
    assert!(
        !dir.join(".sls-rs").exists(),
        "nothing is built for a bad manifest"
    );
    // validate finds it first, with the same words and place, building nothing.
    let (out, _, stderr) = support::run(support::sls_rs().arg("validate").arg("-c").arg(&dir));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for text in [
        "error: functions.hello.handler: no binary named `helo`",
        "serverless.yaml:5:14",
        "did you mean `hello_typo`?",
    ] {
        assert!(stderr.contains(text), "validate: {text} in {stderr}");
    }
    assert!(!dir.join(".sls-rs").exists());
    std::fs::write(
        dir.join("serverless.yaml"),
        manifest.replace("handler: helo", "handler: hello_typo"),
    )
    .unwrap();
    let (out, stdout, stderr) = support::run(
        support::sls_rs()
            .args(["validate", "--json", "-c"])
            .arg(&dir),
    );
    assert!(out.status.success(), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["handlersChecked"], true, "{doc}");
    // Where there is no cargo to ask (a CI step without Rust), validate still
    // validates, and says the handlers were not checked.
    let (out, stdout, stderr) = support::run(
        support::sls_rs()
            .args(["validate", "-c"])
            .arg(&dir)
            .env_remove("CARGO")
            .env("PATH", std::env::temp_dir().join("sls-rs-no-such-dir")),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("is valid"), "{stdout}");
    assert!(
        stderr.contains("handlers not checked against the cargo workspace: cargo is not installed"),
        "{stderr}"
    );
}

#[test]
fn compiler_errors_are_shown_verbatim() {
    let manifest =
        "service: broken\nprovider: { name: aws }\nfunctions:\n  hello: { handler: {bin} }\n";
    let dir = fixture(
        "hello_broken",
        manifest,
        Some("fn main() { let x: u32 = \"not a number\"; }\n"),
    );
    let (out, _, stderr) = package(&dir, false, &[]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("mismatched types"),
        "the compiler's own message is shown:\n{stderr}"
    );
    assert!(
        stderr.contains("building x86_64 (hello_broken) with cargo-lambda failed"),
        "{stderr}"
    );
}

#[test]
fn missing_tools_name_the_fix() {
    let manifest =
        "service: tools\nprovider: { name: aws }\nfunctions:\n  hello: { handler: {bin} }\n";
    let dir = fixture("hello_tools", manifest, None);

    let empty = dir.join("empty-venv");
    std::fs::create_dir_all(&empty).unwrap();
    let (out, _, stderr) = package(
        &dir,
        false,
        &[("SLS_RS_TOOLCHAIN", empty.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("cargo-lambda not found in SLS_RS_TOOLCHAIN="),
        "{stderr}"
    );
    assert!(stderr.contains("scripts/setup"), "{stderr}");

    // cargo-lambda present, zig nowhere.
    let fake = dir.join("fake-venv");
    std::fs::create_dir_all(fake.join("bin")).unwrap();
    let exe = fake.join("bin/cargo-lambda");
    std::fs::write(&exe, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (out, _, stderr) = package(
        &dir,
        false,
        &[
            ("SLS_RS_TOOLCHAIN", fake.to_str().unwrap()),
            ("PATH", "/usr/bin:/bin"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("zig not found"), "{stderr}");
}

/// A service outside this repository that depends on the runtime crate without the
/// `[patch.crates-io]` README describes: exit 2 before any build, saying what to add
/// (the crate is not on crates.io; a crate of that name there would be someone else's).
#[test]
fn a_service_without_the_runtime_patch_exits_2_saying_what_to_add() {
    let dir = fixture(
        "nopatch",
        "service: nopatch\nprovider: { name: aws }\nfunctions:\n  nopatch: { handler: nopatch }\n",
        None,
    );
    std::fs::remove_dir_all(dir.join(".cargo")).unwrap();
    let (out, _, stderr) = package(&dir, false, &[]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("it is not published on crates.io yet"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[patch.crates-io]\n  sls-rs-runtime = { path = "),
        "{stderr}"
    );
    assert!(!dir.join(".sls-rs").exists(), "nothing was built");
}

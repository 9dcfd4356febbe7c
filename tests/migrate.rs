//! `sls-rs migrate` on a corpus of Serverless Framework files written for this suite
//! (tests/migrate/*.yml, Rust, Node and Python services). Each is migrated; the written
//! manifest and the report are compared with tests/migrate/NAME.golden (regenerate with
//! SLS_RS_BLESS=1); a result that validates with no TODO must be exactly that, and the
//! closing counts are printed.

use crate::support;

use std::path::{Path, PathBuf};

use sls_rs::migrate::{migrate, Severity};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/migrate");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yml") && !p.to_string_lossy().contains("/includes/")
        })
        .collect();
    files.sort();
    files
}

fn golden_text(input: &Path) -> (String, bool, usize) {
    let text = std::fs::read_to_string(input).unwrap();
    let name = input.file_name().unwrap().to_string_lossy().to_string();
    // Relative names, so the golden files do not depend on where the repository is.
    let shown = Path::new("tests/migrate").join(&name);
    let real = migrate(input, &text, Path::new("serverless.yaml"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let report = real
        .render()
        .replace(&input.display().to_string(), &shown.display().to_string());
    let todo = real
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Todo)
        .count();
    (
        format!("# report\n{report}\n# serverless.yaml\n{}", real.text),
        real.invalid.is_none(),
        todo,
    )
}

#[test]
#[allow(clippy::print_stderr)] // the closing counts belong in the test output
fn every_corpus_file_migrates_as_its_golden_file_says() {
    let files = corpus();
    assert!(files.len() >= 40, "the corpus has {} files", files.len());
    let bless = std::env::var_os("SLS_RS_BLESS").is_some();
    let mut diffs = Vec::new();
    let (mut clean, mut valid_todo, mut invalid) = (Vec::new(), Vec::new(), Vec::new());
    for input in &files {
        let (got, valid, todo) = golden_text(input);
        let name = input.file_stem().unwrap().to_string_lossy().to_string();
        match (valid, todo) {
            (true, 0) => clean.push(name.clone()),
            (true, n) => valid_todo.push(format!("{name} ({n} TODO)")),
            (false, n) => invalid.push(format!("{name} ({n} TODO)")),
        }
        let golden = input.with_extension("golden");
        if bless {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if want != got {
            diffs.push(format!(
                "{}: differs from its golden file (SLS_RS_BLESS=1 regenerates)\n--- got\n{got}",
                golden.display()
            ));
        }
    }
    eprintln!(
        "migrate corpus: {} files; {} validate with nothing left, {} validate with TODO items, {} do not validate\n  TODO: {}\n  invalid: {}",
        files.len(),
        clean.len(),
        valid_todo.len(),
        invalid.len(),
        valid_todo.join(", "),
        invalid.join(", ")
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sls-rs-migrate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_input_is_never_the_output_even_with_force() {
    let dir = tmp("in-place");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/migrate/rust-todo-api.yml");
    std::fs::copy(&src, dir.join("serverless.yaml")).unwrap();
    let original = std::fs::read_to_string(dir.join("serverless.yaml")).unwrap();
    for args in [
        &["migrate", "serverless.yaml", "--force"][..],
        &[
            "migrate",
            "./serverless.yaml",
            "-o",
            "serverless.yaml",
            "--force",
        ][..],
    ] {
        let (out, _, stderr) = support::run(support::sls_rs().current_dir(&dir).args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("is both the file to migrate and the output"),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("serverless.yaml")).unwrap(),
            original
        );
    }
}

#[test]
fn the_command_writes_the_manifest_and_exits_0_when_it_validates() {
    let dir = tmp("ok");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/migrate/rust-todo-api.yml");
    std::fs::copy(&src, dir.join("serverless.yml")).unwrap();
    let (out, stdout, stderr) = support::run(support::sls_rs().current_dir(&dir).arg("migrate"));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("serverless.yml:40: changed functions.create.events[0].http"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(dir.join("serverless.yaml")).unwrap();
    assert!(written.contains("httpApi: POST /todos"), "{written}");
    // validate agrees.
    let (out, _, stderr) = support::run(support::sls_rs().current_dir(&dir).arg("validate"));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Never overwrites without --force; nothing is touched.
    std::fs::write(dir.join("serverless.yaml"), "mine\n").unwrap();
    let (out, _, stderr) = support::run(support::sls_rs().current_dir(&dir).arg("migrate"));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("exists already") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("serverless.yaml")).unwrap(),
        "mine\n"
    );
    let (out, _, stderr) = support::run(
        support::sls_rs()
            .current_dir(&dir)
            .args(["migrate", "--force"]),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(std::fs::read_to_string(dir.join("serverless.yaml"))
        .unwrap()
        .contains("httpApi"));
}

#[test]
fn a_file_that_needs_a_human_exits_1_and_json_gives_the_report() {
    let dir = tmp("todo");
    std::fs::write(
        dir.join("serverless.yml"),
        "service: s\nprovider:\n  name: aws\n  runtime: nodejs18.x\nfunctions:\n  a:\n    handler: handler.a\n    events:\n      - sns: topic\n",
    )
    .unwrap();
    let (out, stdout, stderr) = support::run(
        support::sls_rs()
            .current_dir(&dir)
            .args(["migrate", "--json", "-o", "out.yaml"]),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["needsHuman"], true);
    let findings = doc["findings"].as_array().unwrap();
    let sns = findings
        .iter()
        .find(|f| f["key"] == "functions.a.events[0].sns")
        .unwrap();
    assert_eq!(sns["line"], 9);
    assert_eq!(sns["severity"], "todo");
    assert!(findings
        .iter()
        .any(|f| f["key"] == "provider.runtime"
            && f["message"].as_str().unwrap().contains("Node.js")));
    assert!(dir.join("out.yaml").exists());
}

#[test]
fn unreadable_yaml_is_exit_2_with_the_readers_message() {
    let dir = tmp("bad");
    std::fs::write(dir.join("serverless.yml"), "service: s\nprovider: [\n").unwrap();
    let (out, _, stderr) = support::run(support::sls_rs().current_dir(&dir).arg("migrate"));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid YAML") && stderr.contains("serverless.yml:"),
        "{stderr}"
    );
    assert!(!dir.join("serverless.yaml").exists());
}

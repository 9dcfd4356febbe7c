//! `sls-rs migrate`: a Serverless Framework (v3/v4) serverless.yml turned into an
//! sls-rs manifest, with a report of every construct changed, removed, or left
//! for a human, each with the line of the original file.
//!
//! The conversion works on the YAML reader's tree (which keeps lines), in passes
//! ranked by how many real files each construct blocks; the written text is then
//! read back by the manifest reader and validated like any manifest.

mod emit;
mod events;
mod files;
mod iam;
mod keys;
mod resources;
mod step_functions;
mod tree;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::manifest::node::{self, Node};
use crate::manifest::{self, LoadOptions, ManifestError};

/// How much a finding asks of the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Converted to the sls-rs equivalent.
    Changed,
    /// Removed: sls-rs does it itself, or it has no effect.
    Removed,
    /// A human must finish it: the report says what.
    Todo,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Changed => "changed",
            Severity::Removed => "removed",
            Severity::Todo => "TODO",
        }
    }
}

/// One construct of the original file and what became of it.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The line of the original file (0: the file as a whole).
    pub line: usize,
    pub key: String,
    pub severity: Severity,
    pub message: String,
}

/// The result of a migration: the new manifest's text, the findings, and whether it validates.
pub struct Migration {
    pub input: PathBuf,
    pub output: PathBuf,
    pub text: String,
    pub findings: Vec<Finding>,
    /// The problems `validate` finds in the written manifest (None: it validates).
    pub invalid: Option<ManifestError>,
}

impl Migration {
    /// A human must finish the file: it does not validate, or something is left to do.
    pub fn needs_human(&self) -> bool {
        self.invalid.is_some() || self.findings.iter().any(|f| f.severity == Severity::Todo)
    }

    /// The report, one line per finding (`serverless.yml:12: changed functions.a.events[0]: …`).
    pub fn render(&self) -> String {
        let name = self.input.display();
        let mut out = String::new();
        for f in &self.findings {
            let at = if f.line > 0 {
                format!("{name}:{}", f.line)
            } else {
                name.to_string()
            };
            out.push_str(&format!(
                "{at}: {} {}: {}\n",
                f.severity.label(),
                f.key,
                f.message
            ));
        }
        let todo = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Todo)
            .count();
        match &self.invalid {
            Some(err) => out.push_str(&format!(
                "\n{} does not validate yet:\n{err}\n",
                self.output.display()
            )),
            None => out.push_str(&format!("\n{} validates", self.output.display())),
        }
        if self.invalid.is_none() {
            out.push_str(&match todo {
                0 => "; nothing is left to do\n".to_string(),
                n => format!("; {n} TODO item(s) above are left for a human\n"),
            });
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "input": self.input.display().to_string(),
            "output": self.output.display().to_string(),
            "valid": self.invalid.is_none(),
            "needsHuman": self.needs_human(),
            "findings": self.findings,
            "errors": self.invalid.as_ref().map(|e| e.to_json()["errors"].clone()).unwrap_or_default(),
        })
    }
}

/// What the passes share: the report, the service's directory (for `${file(…)}`), and
/// the resources found so far (for references to them).
struct Cx<'a> {
    dir: &'a Path,
    findings: Vec<Finding>,
    /// CloudFormation logical id → the converted resource.
    resources: Vec<resources::Converted>,
}

impl Cx<'_> {
    fn note(
        &mut self,
        severity: Severity,
        at: &Node,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            line: at.mark.line,
            key: key.into(),
            severity,
            message: message.into(),
        });
    }
    fn changed(&mut self, at: &Node, key: impl Into<String>, message: impl Into<String>) {
        self.note(Severity::Changed, at, key, message);
    }
    fn removed(&mut self, at: &Node, key: impl Into<String>, message: impl Into<String>) {
        self.note(Severity::Removed, at, key, message);
    }
    fn todo(&mut self, at: &Node, key: impl Into<String>, message: impl Into<String>) {
        self.note(Severity::Todo, at, key, message);
    }
}

/// Converts the Serverless Framework file `input` (its text) into an sls-rs manifest for `output`.
/// Unreadable YAML is the reader's usual error, about `input`.
pub fn migrate(input: &Path, text: &str, output: &Path) -> Result<Migration, ManifestError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut root = node::parse_keeping_cloudformation(text)
        .map_err(|d| ManifestError::new(input, text, vec![d]))?;
    if !matches!(root.value, node::Value::Map(_)) {
        let d = manifest::Diagnostic::at(
            root.mark,
            root.width,
            "a serverless.yml is a mapping (`service:`, `provider:`, `functions:` …)".into(),
        );
        return Err(ManifestError::new(input, text, vec![d]));
    }
    let dir = input
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut cx = Cx {
        dir,
        findings: Vec::new(),
        resources: Vec::new(),
    };
    // In the order of how many real files each construct blocks; ${file(…)} first, since it brings in the rest.
    files::inline(&mut root, &mut cx);
    let rust = keys::says_rust(&root, dir);
    resources::convert(&mut root, &mut cx);
    events::convert(&mut root, &mut cx);
    keys::plugins(&mut root, &mut cx);
    keys::package(&mut root, &mut cx);
    keys::runtime(&mut root, &mut cx, rust);
    step_functions::convert(&mut root, &mut cx);
    resources::references(&mut root, &mut cx);
    iam::convert(&mut root, &mut cx);
    keys::housekeeping(&mut root, &mut cx);
    files::report_unsupported(&root, &mut cx);

    let (mut out, lost) = emit::Emitter::new(text).finish(&root);
    if !lost.is_empty() {
        let lines: Vec<String> = lost.iter().map(usize::to_string).collect();
        cx.findings.push(Finding {
            line: lost[0],
            key: "(comments)".into(),
            severity: Severity::Removed,
            message: format!(
                "comments inside removed or rewritten blocks were not kept (lines {})",
                lines.join(", ")
            ),
        });
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    cx.findings.sort_by_key(|f| f.line);
    let invalid = validate(output, &out).err();
    Ok(Migration {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        text: out,
        findings: cx.findings,
        invalid,
    })
}

/// The written manifest read back like any other. Every `${env:…}` reads as a placeholder:
/// migrate checks the file, not the shell it happens to run in (so the report is the same anywhere).
fn validate(output: &Path, text: &str) -> Result<(), ManifestError> {
    let env = |_: &str| Some("placeholder".to_string());
    let opts = LoadOptions {
        config: None,
        stage: None,
        region: None,
        env: &env,
    };
    manifest::load_str(output, text, &opts).map(|_| ())
}

/// The output must not be the input: migrating `serverless.yaml` in place would replace
/// the only copy of the Serverless Framework file (refused even with --force).
pub fn refuse_overwriting_input(
    input: &Path,
    output: &Path,
) -> Result<(), crate::error::UsageError> {
    let same = match (std::fs::canonicalize(input), std::fs::canonicalize(output)) {
        (Ok(a), Ok(b)) => a == b,
        _ => input == output,
    };
    if same {
        return Err(crate::error::UsageError::new(format!(
            "{} is both the file to migrate and the output",
            output.display()
        ))
        .with_help("write elsewhere with -o, e.g. `-o serverless.sls-rs.yaml`, then rename it once it is checked"));
    }
    Ok(())
}

/// Writes `text` to `path` atomically (a temporary file beside it, then a rename); an
/// existing file is a usage error unless `force`.
pub fn write(path: &Path, text: &str, force: bool) -> Result<(), crate::error::UsageError> {
    use crate::error::UsageError;
    if path.exists() && !force {
        return Err(
            UsageError::new(format!("{} exists already", path.display()))
                .with_help("pass --force to replace it, or -o to write elsewhere"),
        );
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let fail = |e: std::io::Error| UsageError::new(format!("cannot write {}: {e}", path.display()));
    std::fs::write(&tmp, text).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

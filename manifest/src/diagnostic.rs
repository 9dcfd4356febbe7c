//! Manifest errors that point at the line the user wrote, with a caret under it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::node::{KeyPath, Mark};

/// Separates a message from its help in the text of a serde error, so a custom
/// `Deserialize` of the schema can say what fixes the problem.
pub const HELP_SEPARATOR: &str = "\n= help: ";

/// One problem in a manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub mark: Mark,
    /// Characters to underline, starting at `mark`.
    pub width: usize,
    /// The key path the problem is about, when known.
    pub path: Option<KeyPath>,
    pub message: String,
    /// What would fix it, when we can tell.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn at(mark: Mark, width: usize, message: String) -> Self {
        Diagnostic {
            mark,
            width,
            path: None,
            message,
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_path(mut self, path: KeyPath) -> Self {
        self.path = Some(path);
        self
    }
}

/// Everything wrong with one manifest file. It is the user's mistake, so the
/// process exits with code 2 and touches nothing.
#[derive(Debug)]
pub struct ManifestError {
    pub file: PathBuf,
    source_text: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl ManifestError {
    pub fn new(file: &Path, source_text: &str, diagnostics: Vec<Diagnostic>) -> Self {
        ManifestError {
            file: file.to_path_buf(),
            source_text: source_text.to_string(),
            diagnostics,
        }
    }

    /// The machine-readable form, for `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Entry<'a> {
            file: String,
            line: usize,
            column: usize,
            key: Option<String>,
            message: &'a str,
            help: Option<&'a str>,
        }
        let errors: Vec<Entry> = self
            .diagnostics
            .iter()
            .map(|d| Entry {
                file: self.file.display().to_string(),
                line: d.mark.line,
                column: d.mark.col,
                key: d.path.as_ref().map(ToString::to_string),
                message: &d.message,
                help: d.help.as_deref(),
            })
            .collect();
        serde_json::json!({ "valid": false, "errors": errors })
    }
}

impl std::error::Error for ManifestError {}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.diagnostics.len();
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                // The caller prints the first `error: `; the rest are separated by a blank line.
                write!(f, "\n\nerror: ")?;
            }
            match &d.path {
                Some(path) => writeln!(f, "{}: {}", path, d.message)?,
                None => writeln!(f, "{}", d.message)?,
            }
            render_snippet(f, &self.file, &self.source_text, d)?;
        }
        if count > 1 {
            write!(f, "\n\n{} has {count} problems", self.file.display())?;
        }
        Ok(())
    }
}

fn render_snippet(
    f: &mut fmt::Formatter<'_>,
    file: &Path,
    text: &str,
    d: &Diagnostic,
) -> fmt::Result {
    let line_no = d.mark.line.to_string();
    let pad = " ".repeat(line_no.len());
    writeln!(
        f,
        "{pad}--> {}:{}:{}",
        file.display(),
        d.mark.line,
        d.mark.col
    )?;
    if let Some(line) = text.lines().nth(d.mark.line.saturating_sub(1)) {
        // A carriage return left inside a line would send the terminal's cursor back
        // over the gutter: shown as the one-column symbol for it.
        let line = &line.replace('\r', "\u{240d}");
        let indent: String = line
            .chars()
            .take(d.mark.col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let available = line
            .chars()
            .count()
            .saturating_sub(d.mark.col.saturating_sub(1))
            .max(1);
        let carets = "^".repeat(d.width.clamp(1, available));
        writeln!(f, "{pad} |")?;
        writeln!(f, "{line_no} | {line}")?;
        write!(f, "{pad} | {indent}{carets}")?;
    }
    if let Some(help) = &d.help {
        write!(f, "\n{pad} = help: {help}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_and_caret_under_the_key() {
        let text = "service: todo\nfunctions:\n  hello:\n    memsize: 512\n";
        let d = Diagnostic::at(Mark { line: 4, col: 5 }, 7, "unknown key `memsize`".into())
            .with_path(KeyPath::root().key("functions").key("hello"))
            .with_help("did you mean `memorySize`?");
        let err = ManifestError::new(Path::new("serverless.yaml"), text, vec![d]);
        let shown = err.to_string();
        assert_eq!(
            shown,
            "functions.hello: unknown key `memsize`\n \
             --> serverless.yaml:4:5\n  |\n4 |     memsize: 512\n  |     ^^^^^^^\n  = help: did you mean `memorySize`?"
        );
    }

    #[test]
    fn a_carriage_return_in_the_shown_line_is_a_visible_symbol_not_a_cursor_move() {
        let text = "service: todo\nprovider:\n  name:\r\r aws\n";
        let d = crate::node::parse(text).unwrap_err();
        let err = ManifestError::new(Path::new("serverless.yaml"), text, vec![d]);
        let shown = err.to_string();
        assert!(!shown.contains('\r'), "{shown:?}");
        assert!(
            shown.contains("3 |   name:\u{240d}\u{240d} aws\n  |        ^"),
            "{shown}"
        );
    }
}

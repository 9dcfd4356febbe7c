//! The user's own mistake outside the manifest's text: a bad flag, a missing
//! file, a wrong path. Exit 2, nothing touched, like a bad manifest.

use std::fmt;

/// A bad flag, a missing file, a wrong path: the user's to fix.
#[derive(Debug)]
pub struct UsageError {
    pub message: String,
    pub help: Option<String>,
}

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        UsageError {
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl UsageError {
    /// The machine-readable form for `--json`, shaped like a manifest's problems.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "valid": false,
            "errors": [{
                "file": null,
                "line": null,
                "column": null,
                "key": null,
                "message": self.message,
                "help": self.help,
            }],
        })
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UsageError {}

//! The one place that writes to the terminal, so `--json` output stays a
//! single document on stdout and everything for humans goes through here.
#![allow(clippy::print_stderr)]

use std::io::Write;

/// Writes one document or line to stdout.
pub fn out(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()
}

/// Writes a JSON document to stdout.
pub fn out_json(value: &serde_json::Value) -> std::io::Result<()> {
    out(&serde_json::to_string_pretty(value).expect("JSON values serialize"))
}

/// A warning for humans, on stderr.
pub fn warn(text: &str) {
    eprintln!("warning: {text}");
}

/// An error for humans, on stderr: `error:` then the message, then each cause.
pub fn error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}

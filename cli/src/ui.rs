//! The one place that writes to the terminal, so `--json` output stays a
//! single document on stdout and everything for humans goes through here.
#![allow(clippy::print_stderr)]

use std::io::Write;

static VERBOSITY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// How many `-v` the command line gave (set once, at start).
pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, std::sync::atomic::Ordering::Relaxed);
}

/// `-v`: failures carry their full detail (an AWS call's whole answer).
pub fn verbosity() -> u8 {
    VERBOSITY.load(std::sync::atomic::Ordering::Relaxed)
}

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
    out_json_text(&serde_json::to_string_pretty(value).expect("JSON values serialize"))
}

/// Writes JSON already rendered (one line of a JSON-lines stream: `logs --json`,
/// each invocation of `invoke --local --json`) to stdout.
pub fn out_json_text(text: &str) -> std::io::Result<()> {
    JSON_WRITTEN.store(true, std::sync::atomic::Ordering::Relaxed);
    out(text)
}

static JSON_WRITTEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this run has printed JSON already (a command that reports, then fails:
/// `invoke` of a failing function, `migrate` that needs a human, a stream of
/// `logs --json` cut short): its failure is then told on stderr and by the exit
/// code, never as one more document in what a consumer is parsing.
pub fn json_written() -> bool {
    JSON_WRITTEN.load(std::sync::atomic::Ordering::Relaxed)
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

/// A progress line for humans, on stderr.
pub fn status(text: &str) {
    eprintln!("{text}");
}

/// Text from a child process (the compiler's errors), passed through verbatim.
pub fn raw_stderr(text: &str) {
    eprint!("{text}");
    if !text.ends_with('\n') {
        eprintln!();
    }
}

/// A spinner while a long step runs, on a terminal; a plain line otherwise (CI logs).
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn start(text: &str, interactive: bool) -> Progress {
        if !interactive {
            status(&format!("{text}…"));
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new_spinner().with_message(text.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        Progress(Some(bar))
    }

    pub fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Whether to show spinners: stderr is a terminal and this is not a CI job (`CI`
/// set, as GitHub Actions, GitLab and most others set it, even with a pseudo-terminal).
pub fn interactive() -> bool {
    use std::io::IsTerminal;
    interactive_given(std::io::stderr().is_terminal(), &env_var)
}

/// Whether to colour stdout: `NO_COLOR` never, `FORCE_COLOR`/`CLICOLOR_FORCE` always,
/// otherwise on a terminal outside CI.
pub fn color() -> bool {
    color_given(stdout_is_terminal(), &env_var)
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable that is set to something other than empty, `0` or `false`.
fn flag(env: &dyn Fn(&str) -> Option<String>, name: &str) -> bool {
    env(name).is_some_and(|v| !matches!(v.trim(), "" | "0" | "false" | "FALSE" | "False"))
}

fn interactive_given(terminal: bool, env: &dyn Fn(&str) -> Option<String>) -> bool {
    terminal && !flag(env, "CI")
}

fn color_given(terminal: bool, env: &dyn Fn(&str) -> Option<String>) -> bool {
    if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if flag(env, "FORCE_COLOR") || flag(env, "CLICOLOR_FORCE") {
        return true;
    }
    terminal && !flag(env, "CI")
}

/// Left-aligned columns, two spaces apart; the first row is the header.
pub fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `1.4 MB`, `812 KB`, `96 B`.
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{} KB", n >> 10),
        n => format!("{n} B"),
    }
}

/// Whether stdout is a terminal (colours), rather than a pipe or a file.
pub fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn ci_means_no_spinner_and_no_colour_unless_forced() {
        assert!(interactive_given(true, &env(&[])));
        assert!(!interactive_given(false, &env(&[])));
        assert!(!interactive_given(true, &env(&[("CI", "true")])));
        assert!(interactive_given(true, &env(&[("CI", "false")])));

        assert!(color_given(true, &env(&[])));
        assert!(!color_given(false, &env(&[])));
        assert!(!color_given(true, &env(&[("CI", "1")])));
        assert!(!color_given(true, &env(&[("NO_COLOR", "1")])));
        assert!(color_given(
            false,
            &env(&[("CI", "true"), ("FORCE_COLOR", "1")])
        ));
        assert!(color_given(false, &env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!color_given(
            true,
            &env(&[("NO_COLOR", "1"), ("FORCE_COLOR", "1")])
        ));
    }
}

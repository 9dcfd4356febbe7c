//! The command line itself: what works without a manifest or AWS.

use crate::support;

/// Each shell's completion script names every subcommand and the global flags;
/// bash parses the bash one and, once sourced, completes `sls-rs dep` to `deploy`.
#[test]
fn completions_cover_every_subcommand_and_bash_completes_with_them() {
    let subcommands = [
        "new",
        "validate",
        "print",
        "package",
        "deploy",
        "plan",
        "policy",
        "info",
        "remove",
        "unlock",
        "deployments",
        "rollback",
        "invoke",
        "logs",
        "metrics",
        "migrate",
        "completions",
    ];
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = support::sls_rs()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        // The global flags (fish spells them `-l stage`, the others `--stage`).
        for word in subcommands.iter().chain(&["stage", "config", "region"]) {
            assert!(script.contains(word), "{shell}'s script lacks {word}");
        }
    }
    let script = support::sls_rs()
        .args(["completions", "bash"])
        .output()
        .unwrap()
        .stdout;
    let path = std::env::temp_dir().join(format!("sls-rs-completion-{}.bash", std::process::id()));
    std::fs::write(&path, script).unwrap();
    // What bash does on Tab after `sls-rs dep`: it calls the function the script
    // registered (`complete -F`), which fills COMPREPLY.
    let registered = String::from_utf8_lossy(&std::fs::read(&path).unwrap())
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("complete -F ")
                .map(|r| r.split(' ').next().unwrap().to_string())
        })
        .expect("the script registers a completion function");
    let probe = format!(
        "source {}; COMP_WORDS=(sls-rs dep); COMP_CWORD=1; COMP_LINE='sls-rs dep'; COMP_POINT=10; \
         {registered} sls-rs dep sls-rs; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &probe])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let words = String::from_utf8_lossy(&out.stdout);
    assert!(
        words.lines().any(|w| w == "deploy") && words.lines().any(|w| w == "deployments"),
        "bash completed `sls-rs dep` to {words:?} ({})",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An unknown shell is a usage mistake: exit 2 and the shells that exist.
#[test]
fn completions_for_an_unknown_shell_name_the_ones_that_exist() {
    let out = support::sls_rs()
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tcsh") && err.contains("bash") && err.contains("zsh"),
        "{err}"
    );
}

/// An emulator that is not running, or an endpoint whose host does not resolve, will
/// not answer a retry either: the command fails at once naming why, not after the
/// minute of backoff a throttled call is given (a generous bound: before, it took 53 s).
#[test]
fn an_unreachable_endpoint_fails_at_once() {
    let dir = support::repo_root().join("examples/hello");
    for (endpoint, why) in [
        ("http://127.0.0.1:9", "Connection refused"),
        (
            "http://no-such-host.invalid:4566",
            "failed to lookup address",
        ),
    ] {
        let started = std::time::Instant::now();
        let (out, _, stderr) = support::run(
            support::sls_rs()
                .args(["info", "--stage", "local", "-c"])
                .arg(&dir)
                .env("SLS_RS_ENDPOINT", endpoint),
        );
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("sts:GetCallerIdentity") && stderr.contains(why),
            "{stderr}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{endpoint}: {:?}",
            started.elapsed()
        );
    }
}

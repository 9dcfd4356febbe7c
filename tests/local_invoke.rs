//! `invoke --local` end to end: real handler processes (tests/fixtures/local-handlers)
//! against sls-rs's Runtime API over real HTTP.

use crate::support;

use std::io::Write;
use std::process::Stdio;

use serde_json::Value;

fn invoke(function: &str, extra: &[&str]) -> (std::process::Output, Vec<Value>, String) {
    let dir = support::repo_root().join("tests/fixtures/local-handlers");
    let mut cmd = support::sls_rs();
    cmd.args(["invoke", "--local", "--json", "-f", function, "-c"])
        .arg(&dir)
        .args(extra);
    support::handler_builds(&mut cmd);
    let (out, stdout, stderr) = support::run(&mut cmd);
    // One document per invocation, or (with --json) the error document of a usage error.
    let docs = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .map(|d| d.unwrap_or_else(|e| panic!("{e}: {stdout}")))
        .collect();
    (out, docs, stderr)
}

#[test]
fn a_handler_answers_with_lambdas_context_and_stays_warm() {
    let (out, docs, stderr) = invoke(
        "echo",
        &[
            "--data",
            r#"{"order": 7}"#,
            "--count",
            "3",
            "--client-context",
            r#"{"custom": {"tenant": "acme"}}"#,
        ],
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(docs.len(), 3);
    let first = &docs[0]["response"];
    assert_eq!(first["event"]["order"], 7);
    assert_eq!(
        first["greeting"], "hi",
        "the manifest's environment reaches the process"
    );
    assert_eq!(first["functionName"], "local-dev-echo");
    assert_eq!(first["deadlineSet"], true);
    assert_eq!(
        first["clientContext"]["tenant"], "acme",
        "the client context header reaches the handler"
    );
    assert_eq!(first["requestId"], docs[0]["requestId"]);
    // One process for all three: only the first is a cold start.
    assert!(docs.iter().all(|d| d["response"]["pid"] == first["pid"]));
    assert!(docs[0]["initMs"].is_number());
    assert!(docs[1]["initMs"].is_null() && docs[2]["initMs"].is_null());
    assert!(docs[1]["peakMemoryKb"].as_u64().unwrap() > 0);
    assert_ne!(docs[1]["requestId"], docs[2]["requestId"]);
}

#[test]
fn events_can_come_from_stdin_one_per_line() {
    let dir = support::repo_root().join("tests/fixtures/local-handlers");
    let mut cmd = support::sls_rs();
    support::handler_builds(&mut cmd);
    let mut child = cmd
        .args(["invoke", "--local", "--json", "-f", "echo", "-c"])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"n\": 1}\n{\"n\": 2}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        docs.iter()
            .map(|d| d["response"]["event"]["n"].clone())
            .collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn a_handler_error_is_reported_with_its_type_and_message() {
    let (out, docs, stderr) = invoke("fail", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(docs[0]["ok"], false);
    assert_eq!(
        docs[0]["response"]["errorMessage"],
        "the payment was declined"
    );
    assert!(
        stderr.contains("the handler failed") && stderr.contains("the payment was declined"),
        "{stderr}"
    );
}

/// On a Linux host of the function's architecture the handler runs as `package`
/// builds it, where cargo-lambda's release profile makes a panic abort the process,
/// as it would on Lambda; elsewhere (a host build) lambda_runtime catches it and
/// answers an error. Either way it is the invocation's error, named, with the
/// panic's message, and the next invocation works.
#[test]
fn a_panic_is_an_error_of_the_invocation_not_a_crash_of_sls_rs() {
    let (out, docs, stderr) = invoke("panic", &["--count", "2"]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(docs.len(), 2, "{docs:?}");
    let aborted = docs[0]["error"]
        .as_str()
        .is_some_and(|e| e.contains("aborted (SIGABRT): most likely a panic"));
    let answered = docs[0]["response"]["errorMessage"]
        .as_str()
        .is_some_and(|m| m.contains("index out of bounds"));
    assert!(aborted || answered, "{docs:?}");
    assert!(
        stderr.contains("index out of bounds"),
        "the panic's message is shown: {stderr}"
    );
    // Where cargo-lambda is installed (scripts/setup's .venv; CI), as package builds it.
    let toolchain = support::repo_root().join(".venv/bin/cargo-lambda").exists();
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) && toolchain {
        assert!(
            stderr.contains("built x86_64 (panic)"),
            "one build for the local run and the deploy, package's: {stderr}"
        );
        assert!(aborted, "built as package builds it: {docs:?}");
        assert!(
            docs[1]["initMs"].is_number(),
            "the next one starts a new process: {docs:?}"
        );
    }
}

#[test]
fn the_timeout_kills_the_process_and_the_next_invocation_starts_cold() {
    let started = std::time::Instant::now();
    let (out, docs, stderr) = invoke("hang", &["--count", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the 1 s timeout was enforced"
    );
    assert!(stderr.contains("timed out after 1s"), "{stderr}");
    assert_eq!(docs.len(), 2);
    assert!(
        docs[0]["initMs"].is_number() && docs[1]["initMs"].is_number(),
        "a new process after the kill"
    );
}

#[test]
fn an_init_failure_is_reported() {
    let (out, docs, stderr) = invoke("initfail", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        docs[0]["response"]["errorMessage"],
        "DATABASE_URL is not set"
    );
    assert!(
        stderr.contains("init failed (Runtime.ConfigError)"),
        "{stderr}"
    );
}

#[test]
fn sample_events_reach_the_handler() {
    let (out, docs, stderr) = invoke("echo", &["--event", "apigw-http"]);
    assert!(out.status.success(), "{stderr}");
    let event = &docs[0]["response"]["event"];
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["requestContext"]["http"]["method"], "GET");
    let (out, docs, stderr) = invoke("echo", &["--event", "kafka"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown kind is a usage error: {stderr}"
    );
    assert_eq!(
        docs.len(),
        1,
        "with --json the usage error is one document: {docs:?}"
    );
    assert!(
        docs[0]["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("kafka")),
        "{docs:?}"
    );
}

/// A handler on lambda_http's `run_with_streaming_response` (a URL with
/// `invokeMode: RESPONSE_STREAM`): its status and headers on stderr, its body on
/// stdout as it is written, not when the handler ends, and no wire format (NUL bytes).
#[test]
fn a_streamed_answer_is_printed_as_it_is_written() {
    use std::io::BufRead;
    let dir = support::repo_root().join("tests/fixtures/local-handlers");
    let mut cmd = support::sls_rs();
    support::handler_builds(&mut cmd);
    let mut child = cmd
        .args([
            "invoke",
            "--local",
            "-f",
            "stream",
            "--event",
            "apigw-http",
            "-c",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for line in stdout.lines() {
        lines.push((std::time::Instant::now(), line.unwrap()));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(text[..2], ["first", "second"], "{text:?}");
    assert!(text[2].starts_with("last, for /"), "{text:?}");
    assert!(!text.concat().contains('\0'), "{text:?}");
    // The handler waits a second between lines: the first was shown before the last was written.
    let gap = lines[2].0 - lines[0].0;
    assert!(gap >= std::time::Duration::from_millis(1500), "{gap:?}");
    assert!(
        stderr.contains("HTTP 201") && stderr.contains("content-type: text/plain"),
        "{stderr}"
    );

    // With --json, one document with the prelude and the whole body.
    let (out, docs, stderr) = invoke("stream", &["--event", "apigw-http"]);
    assert!(out.status.success(), "{stderr}");
    let response = &docs[0]["response"];
    assert_eq!(docs[0]["streamed"], true);
    assert_eq!(response["statusCode"], 201, "{response}");
    assert!(response["body"]
        .as_str()
        .is_some_and(|b| b.starts_with("first\nsecond\nlast, for /")));
}

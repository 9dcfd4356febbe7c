//! The two kinds of failure users see: their own mistake (exit 2, nothing
//! touched) and everything else (exit 1).

use std::fmt;

use crate::manifest::ManifestError;

/// A bad flag, a missing file, a wrong path: the user's to fix. It lives with
/// the manifest reader (which raises it first) and is the same type here.
pub use crate::manifest::UsageError;

/// Exit code for a bad manifest or bad flags.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for anything else that failed.
pub const EXIT_FAILURE: u8 = 1;

/// Whether an error is the user's input rather than a failure of ours or of AWS.
pub fn is_usage(err: &anyhow::Error) -> bool {
    err.downcast_ref::<ManifestError>().is_some() || err.downcast_ref::<UsageError>().is_some()
}

/// A write to a closed pipe (`sls-rs print | head`) is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Exit code after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The run was stopped by a signal, after finishing the steps in flight,
/// saving the state and releasing the lock.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted: the steps in flight finished, the state is saved and the lock released; `sls-rs deploy` again finishes the work")
    }
}

impl std::error::Error for Interrupted {}

/// Whether the run was interrupted by a signal.
pub fn is_interrupted(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Interrupted>().is_some()
}

/// Steps of a deploy, a rollback or a remove that failed, each kept whole (the AWS
/// call that failed in it too) so `--json` can report every one, not only words.
#[derive(Debug)]
pub struct StepFailures {
    /// What the run as a whole did not do, and where that leaves the service.
    pub what: String,
    /// Each failed step (`function/hello`) and why.
    pub failures: Vec<(String, anyhow::Error)>,
}

impl fmt::Display for StepFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
        for (id, e) in &self.failures {
            write!(f, "\n  {id}: {e:#}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StepFailures {}

/// A failure (not the user's input) as `--json` prints it on stdout: the message
/// and its causes as the text shows them; `aws`, the first AWS call that failed
/// (resource, operation, AWS's code and message, request id); and `steps`, each
/// step that failed with its own message and AWS call.
pub fn failure_json(err: &anyhow::Error) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = err
        .chain()
        .find_map(|e| e.downcast_ref::<StepFailures>())
        .map(|s| {
            s.failures
                .iter()
                .map(|(id, e)| {
                    serde_json::json!({
                        "step": id,
                        "message": without_detail(&format!("{e:#}")),
                        "aws": aws_json(e),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    // Steps are listed in the order they failed; the first in step order is named,
    // so the same failures give the same document.
    let aws = aws_json(err).or_else(|| {
        steps
            .iter()
            .filter(|s| !s["aws"].is_null())
            .min_by(|a, b| a["step"].as_str().cmp(&b["step"].as_str()))
            .map(|s| s["aws"].clone())
    });
    serde_json::json!({
        "ok": false,
        "error": {
            "message": without_detail(&err.to_string()),
            "causes": err
                .chain()
                .skip(1)
                .map(|c| without_detail(&c.to_string()))
                .collect::<Vec<_>>(),
            "interrupted": is_interrupted(err),
            "aws": aws,
            "steps": steps,
        },
    })
}

/// The AWS call that failed in `err`'s chain, if one did; with `-v`, the SDK's
/// whole answer in `detail`.
fn aws_json(err: &anyhow::Error) -> Option<serde_json::Value> {
    err.chain()
        .find_map(|e| e.downcast_ref::<crate::cloud::AwsFailure>())
        .map(|f| {
            serde_json::json!({
                "resource": f.resource,
                "operation": f.operation,
                "code": f.code,
                "message": f.message,
                "requestId": f.request_id,
                "detail": f.detail,
            })
        })
}

/// A message without the `-v` detail lines (the SDK's dump stays in `aws.detail`).
fn without_detail(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("detail: "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_under_json_keeps_its_causes_and_says_no_aws_call_when_none_failed() {
        let err = anyhow::anyhow!("the disk is full").context("saving the state");
        let doc = failure_json(&err);
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["error"]["message"], "saving the state");
        assert_eq!(doc["error"]["causes"][0], "the disk is full");
        assert_eq!(doc["error"]["interrupted"], false);
        assert!(doc["error"]["aws"].is_null());
        assert_eq!(doc["error"]["steps"], serde_json::json!([]));
    }

    #[test]
    fn failed_steps_are_listed_each_with_its_message_and_the_text_lists_them_too() {
        let err = anyhow::Error::new(StepFailures {
            what: "remove failed".into(),
            failures: vec![
                (
                    "function/a".into(),
                    anyhow::anyhow!("gone").context("deleting a"),
                ),
                ("queue/q".into(), anyhow::anyhow!("busy")),
            ],
        });
        assert_eq!(
            err.to_string(),
            "remove failed\n  function/a: deleting a: gone\n  queue/q: busy"
        );
        let doc = failure_json(&err);
        assert_eq!(doc["error"]["steps"][0]["step"], "function/a");
        assert_eq!(doc["error"]["steps"][0]["message"], "deleting a: gone");
        assert_eq!(doc["error"]["steps"][1]["step"], "queue/q");
        assert!(doc["error"]["steps"][1]["aws"].is_null());
    }

    #[test]
    fn the_sdk_dump_of_v_stays_out_of_the_json_messages() {
        let err = anyhow::anyhow!(
            "reading x (s3:GetObject): NoSuchKey: gone (request id r1)\n  detail: ServiceError {{ source: GetObjectError }}"
        )
        .context("loading the state");
        let doc = failure_json(&err);
        let text = doc.to_string();
        assert!(!text.contains("ServiceError"), "{doc:#}");
        assert_eq!(
            doc["error"]["causes"][0],
            "reading x (s3:GetObject): NoSuchKey: gone (request id r1)"
        );
    }
}

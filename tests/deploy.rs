//! The deploy engine against the emulator, through the real binary and read
//! back with the SDK. Artifacts are prebuilt zips (the emulator never runs
//! code), passed with `--package`, so no test compiles a handler.

use crate::support;

use support::Svc;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use support::fixture::{
    alias_routing, alias_version, aws, mutating, planned, stage_object, Fixture,
};

#[tokio::test]
async fn a_deploy_creates_exactly_the_configured_resources_and_a_redeploy_changes_nothing() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("create", "  hello:\n    handler: hello\n    memorySize: 256\n    environment: { GREETING: hi }\n    reservedConcurrency: 5\n");
    let report = f.deploy();
    assert_eq!(report["deployment"]["status"], "succeeded");
    assert_eq!(report["deployment"]["functions"]["hello"], "1");
    assert_eq!(report["uploads"], 1);

    let aws = aws().await;
    let name = f.name("hello");
    let got = aws
        .lambda
        .get_function()
        .function_name(&name)
        .send()
        .await
        .unwrap();
    let cfg = got.configuration.unwrap();
    assert_eq!(cfg.memory_size, Some(256));
    assert_eq!(cfg.timeout, Some(3));
    assert_eq!(cfg.handler.as_deref(), Some("bootstrap"));
    assert_eq!(cfg.runtime.unwrap().as_str(), "provided.al2023");
    assert_eq!(
        cfg.role.as_deref(),
        Some(format!("arn:aws:iam::{}:role/{}", aws.account, f.role("hello")).as_str())
    );
    assert_eq!(cfg.tracing_config.unwrap().mode.unwrap().as_str(), "Active");
    let env = cfg.environment.unwrap().variables.unwrap();
    assert_eq!(
        (env["GREETING"].as_str(), env["LOG_LEVEL"].as_str()),
        ("hi", "info")
    );
    let tags = got.tags.unwrap();
    assert_eq!(
        (tags["team"].as_str(), tags["sls-rs:stage"].as_str()),
        ("core", "test")
    );
    assert_eq!(
        got.concurrency
            .and_then(|c| c.reserved_concurrent_executions),
        Some(5)
    );
    assert_eq!(alias_version(&aws, &name).await.as_deref(), Some("1"));

    let role = aws
        .iam
        .get_role()
        .role_name(f.role("hello"))
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert!(role
        .assume_role_policy_document
        .unwrap()
        .contains("lambda.amazonaws.com"));
    let policy = aws
        .iam
        .get_role_policy()
        .role_name(f.role("hello"))
        .policy_name("sls-rs")
        .send()
        .await
        .unwrap()
        .policy_document;
    let policy = if policy.starts_with('%') {
        policy
            .replace("%22", "\"")
            .replace("%3A", ":")
            .replace("%2F", "/")
            .replace("%2A", "*")
    } else {
        policy
    };
    assert!(
        policy.contains(&format!("log-group:/aws/lambda/{name}:*")),
        "{policy}"
    );
    assert!(
        policy.contains("xray:PutTraceSegments") && !policy.contains("CreateLogGroup"),
        "{policy}"
    );
    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/lambda/{name}"))
        .send()
        .await
        .unwrap()
        .log_groups
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].retention_in_days, Some(7));

    // Nothing changed: no mutating call at all, and the plan says so.
    let again = f.deploy();
    assert_eq!(mutating(&again), Vec::<String>::new());
    assert!(again["deployment"].is_null());
    let (out, stdout, _) = support::run(&mut f.command(&["plan"]));
    assert!(out.status.success());
    assert!(stdout.contains("no changes"), "{stdout}");
}

#[tokio::test]
async fn one_change_touches_one_function() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("change", "  a: { handler: a }\n  b: { handler: b }\n");
    f.deploy();

    f.write(
        "  a: { handler: a, memorySize: 512 }\n  b: { handler: b }\n",
        &[],
    );
    let report = f.deploy();
    assert_eq!(
        mutating(&report),
        [
            "lambda:UpdateFunctionConfiguration",
            "lambda:PublishVersion",
            "lambda:UpdateAlias"
        ]
    );
    assert_eq!(report["deployment"]["changed"], serde_json::json!(["a"]));
    let aws = aws().await;
    assert_eq!(
        aws.lambda
            .get_function_configuration()
            .function_name(f.name("a"))
            .send()
            .await
            .unwrap()
            .memory_size,
        Some(512)
    );

    f.write(
        "  a: { handler: a, memorySize: 512 }\n  b: { handler: b }\n",
        &[("b", "v2")],
    );
    let report = f.deploy();
    assert_eq!(
        mutating(&report),
        [
            "s3:PutObject",
            "lambda:UpdateFunctionCode",
            "lambda:PublishVersion",
            "lambda:UpdateAlias"
        ]
    );
    assert_eq!(report["uploads"], 1);
    assert_eq!(
        alias_version(&aws, &f.name("b")).await.as_deref(),
        Some("2")
    );
    assert_eq!(
        alias_version(&aws, &f.name("a")).await.as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn a_console_edit_is_shown_as_drift_and_repaired() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("drift", "  hello: { handler: hello, timeout: 10 }\n");
    f.deploy();
    let aws = aws().await;
    aws.lambda
        .update_function_configuration()
        .function_name(f.name("hello"))
        .timeout(30)
        .send()
        .await
        .unwrap();

    let plan = f.json(&["plan"]);
    let change = planned(&plan, "function/hello");
    assert_eq!(change["action"], "update");
    assert_eq!(change["drift"], serde_json::json!(["timeout"]));
    let (_, human, _) = support::run(&mut f.command(&["plan"]));
    assert!(
        human.contains("timeout 30 → 10") && human.contains("DRIFT"),
        "{human}"
    );

    f.deploy();
    assert_eq!(
        aws.lambda
            .get_function_configuration()
            .function_name(f.name("hello"))
            .send()
            .await
            .unwrap()
            .timeout,
        Some(10)
    );
    assert_eq!(mutating(&f.deploy()), Vec::<String>::new());
}

async fn leftovers(
    aws: &sls_rs::cloud::Aws,
    f: &Fixture,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let prefix = format!("{}-test-", f.service);
    let functions = sls_rs::cloud::lambda_function::list_names(aws, &prefix)
        .await
        .unwrap();
    // Every page: a shared emulator holds more roles than one page lists. Its pages are
    // offsets, so roles other tests delete meanwhile can shift one: list until two agree.
    let mut roles: Vec<String> = Vec::new();
    for attempt in 0..5 {
        let mut listed: Vec<String> = aws
            .iam
            .list_roles()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.role_name)
            .filter(|n| n.starts_with(&prefix))
            .collect();
        listed.sort();
        if attempt > 0 && listed == roles {
            break;
        }
        roles = listed;
    }
    let groups = sls_rs::cloud::log_group::read_prefix(aws, &format!("/aws/lambda/{prefix}"))
        .await
        .unwrap()
        .into_keys()
        .collect();
    (functions, roles, groups)
}

#[tokio::test]
async fn a_function_dropped_from_the_manifest_is_deleted_with_its_role_and_log_group() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new(
        "drop",
        "  keep: { handler: keep }\n  gone: { handler: gone }\n",
    );
    f.deploy();
    f.write("  keep: { handler: keep }\n", &[]);
    let report = f.deploy();
    let deleted: Vec<&str> = report["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "delete")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, ["function/gone", "logGroup/gone", "role/gone"]);
    let (functions, roles, groups) = leftovers(&aws().await, &f).await;
    assert_eq!(functions, [f.name("keep")]);
    assert_eq!(roles, [f.role("keep")]);
    assert_eq!(groups, [format!("/aws/lambda/{}", f.name("keep"))]);
}

#[tokio::test]
async fn remove_leaves_nothing_of_the_service() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("remove", "  a: { handler: a }\n  b: { handler: b }\n");
    f.deploy();
    let report = f.json(&["remove"]);
    assert_eq!(report["removed"].as_array().unwrap().len(), 6);
    let aws = aws().await;
    assert_eq!(leftovers(&aws, &f).await, (vec![], vec![], vec![]));
    let info = f.json(&["info"]);
    assert!(info["lastDeployment"].is_null());
    assert_eq!(info["functions"][0]["deployed"], false);
    // Idempotent: removing again finds nothing and succeeds.
    assert_eq!(f.json(&["remove"])["removed"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_deploy_killed_at_any_point_is_finished_by_the_next_without_orphans_or_duplicates() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let functions =
        "  a: { handler: a }\n  b: { handler: b }\n  c: { handler: c }\n  d: { handler: d }\n";
    let aws = aws().await;
    for kill_after in [1, 5, 11, 14] {
        let f = Fixture::new(&format!("kill{kill_after}"), functions);
        f.deploy_killed_after(kill_after);
        // The killed process's lock names a pid that no longer runs on this host: the next deploy takes it over.
        let (out, _, stderr) = support::run(&mut f.command(&["deploy", "--lock-timeout", "0s"]));
        assert!(
            out.status.success(),
            "after a kill at step {kill_after}:\n{stderr}"
        );
        assert!(
            stderr.contains("took over the lock of a process that is gone"),
            "{stderr}"
        );
        let report = f.deploy();
        assert!(
            report["deployment"].is_null() || report["deployment"]["status"] == "succeeded",
            "{report}"
        );
        let (fns, roles, groups) = leftovers(&aws, &f).await;
        assert_eq!(
            (fns.len(), roles.len(), groups.len()),
            (4, 4, 4),
            "after a kill at step {kill_after}: {fns:?} {roles:?} {groups:?}"
        );
        for name in ["a", "b", "c", "d"] {
            let versions = aws
                .lambda
                .list_versions_by_function()
                .function_name(f.name(name))
                .send()
                .await
                .unwrap()
                .versions
                .unwrap();
            // $LATEST and version 1 (a second only if the kill fell between publishing and recording).
            assert!(
                (2..=3).contains(&versions.len()),
                "{name}: {} versions",
                versions.len()
            );
            assert!(
                alias_version(&aws, &f.name(name)).await.is_some(),
                "{name} has no live alias"
            );
        }
        assert_eq!(
            mutating(&f.deploy()),
            Vec::<String>::new(),
            "after a kill at step {kill_after}, the state is complete"
        );
        f.json(&["remove"]);
    }

    // Killed in the middle of an update deploy (before cutover): the next deploy puts the
    // new code live. (The narrower crash between UpdateFunctionCode and PublishVersion is
    // pinned by the plan's unit test a_deploy_killed_between_update_and_publish_publishes_next_time.)
    let f = Fixture::new("killupdate", "  a: { handler: a }\n");
    f.deploy();
    f.write("  a: { handler: a, memorySize: 256 }\n", &[("a", "v2")]);
    f.deploy_killed_after(1);
    f.deploy();
    let live = aws
        .lambda
        .get_function()
        .function_name(f.name("a"))
        .qualifier("live")
        .send()
        .await
        .unwrap()
        .configuration
        .unwrap();
    let latest = aws
        .lambda
        .get_function()
        .function_name(f.name("a"))
        .send()
        .await
        .unwrap()
        .configuration
        .unwrap();
    assert_eq!(
        live.code_sha256, latest.code_sha256,
        "live runs the new code"
    );
    assert_eq!(live.memory_size, Some(256));
    f.json(&["remove"]);
}

/// The killed-deploy test on a service without functions (LocalStack without Docker
/// serves it): a bucket, a queue and its dead-letter queue, a state machine with its
/// role and log group, each killed after a few of its steps.
#[tokio::test]
async fn a_deploy_of_resources_killed_at_any_point_is_finished_by_the_next_without_orphans() {
    if !support::needs(support::RESOURCE_SERVICES) {
        return;
    }
    let manifest = "resources:\n  buckets:\n    files: { versioning: true, deletionPolicy: delete }\n  queues:\n    jobs: { deadLetter: { maxReceiveCount: 3 } }\n  stateMachines:\n    flow: { definition: { StartAt: P, States: { P: { Type: Pass, End: true } } } }\n";
    let aws = aws().await;
    for kill_after in [1, 3, 5] {
        let f = Fixture::new(&format!("killres{kill_after}"), manifest);
        f.deploy_killed_after(kill_after);
        let (out, _, stderr) = support::run(&mut f.command(&["deploy", "--lock-timeout", "0s"]));
        assert!(
            out.status.success(),
            "after a kill at step {kill_after}:\n{stderr}"
        );
        let live = support::fixture::live_resources(&aws, &f).await;
        assert_eq!(live.len(), 6, "after a kill at step {kill_after}: {live:?}");
        assert_eq!(
            support::fixture::recorded_resources(&aws, &f).await,
            live,
            "after a kill at step {kill_after}: everything live is recorded, once"
        );
        assert_eq!(mutating(&f.deploy()), Vec::<String>::new());
        f.json(&["remove"]);
        assert_eq!(
            support::fixture::live_resources(&aws, &f).await,
            Vec::<String>::new()
        );
    }
}

/// S3 tags a bucket in a call of its own: a deploy killed between CreateBucket and
/// PutBucketTagging leaves an untagged bucket. Empty, in this account, it is adopted
/// by the next deploy; holding data, it is someone's and refused, untouched.
#[tokio::test]
async fn an_untagged_bucket_of_ours_is_adopted_only_while_it_is_empty() {
    if !support::needs(&[Svc::Sts, Svc::S3]) {
        return;
    }
    let aws = aws().await;
    let manifest = "resources:\n  buckets:\n    files: { deletionPolicy: delete }\n";
    for holds_data in [true, false] {
        let f = Fixture::new(
            if holds_data {
                "untaggedfull"
            } else {
                "untagged"
            },
            manifest,
        );
        let bucket = format!("{}-test-files-{}-us-east-1", f.service, aws.account);
        aws.s3.create_bucket().bucket(&bucket).send().await.unwrap();
        if holds_data {
            aws.s3
                .put_object()
                .bucket(&bucket)
                .key("theirs.txt")
                .body(b"data".to_vec().into())
                .send()
                .await
                .unwrap();
            let (out, _, stderr) = support::run(&mut f.command(&["deploy"]));
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert!(
                stderr.contains(&format!(
                    "S3 bucket {bucket} exists and is not this service's"
                )),
                "{stderr}"
            );
            let tags = aws.s3.get_bucket_tagging().bucket(&bucket).send().await;
            assert!(tags.is_err(), "not tagged by us: {tags:?}");
            aws.s3
                .delete_object()
                .bucket(&bucket)
                .key("theirs.txt")
                .send()
                .await
                .unwrap();
            aws.s3.delete_bucket().bucket(&bucket).send().await.unwrap();
            continue;
        }
        let report = f.deploy();
        assert_eq!(report["deployment"]["status"], "succeeded", "{report}");
        let tags = aws
            .s3
            .get_bucket_tagging()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        assert!(
            tags.tag_set()
                .iter()
                .any(|t| t.key() == "sls-rs:service" && t.value() == f.service),
            "{tags:?}"
        );
        assert_eq!(
            support::fixture::recorded_resources(&aws, &f).await,
            [format!("bucket:{bucket}")]
        );
        assert_eq!(mutating(&f.deploy()), Vec::<String>::new());
        f.json(&["remove"]);
        assert!(aws.s3.head_bucket().bucket(&bucket).send().await.is_err());
    }
}

#[tokio::test]
async fn a_second_deploy_meanwhile_reports_the_lock_holder() {
    if !support::needs(&[Svc::Sts, Svc::S3, Svc::Sqs]) {
        return;
    }
    let f = Fixture::new("lock", &queues(30, &[]));
    f.deploy();
    // Someone else's deploy holds the lock.
    let aws = aws().await;
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    let holder = serde_json::json!({ "who": "ci", "host": "runner-7", "pid": 4242, "command": "sls-rs deploy", "since": "2026-11-27T10:00:00Z", "sinceEpoch": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() });
    let key = format!("services/{}/test/lock.json", f.service);
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(serde_json::to_vec(&holder).unwrap().into())
        .send()
        .await
        .unwrap();

    f.write(&queues(60, &[]), &[]);
    let started = std::time::Instant::now();
    let (out, _, stderr) = support::run(&mut f.command(&["deploy", "--lock-timeout", "1s"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "it waited for the lock"
    );
    assert!(stderr.contains(&format!("{}/test is locked by ci@runner-7 (pid 4242, `sls-rs deploy`) since 2026-11-27T10:00:00Z", f.service)), "{stderr}");
    assert_eq!(
        visibility(&aws, &f.name("a")).await,
        "30",
        "nothing was applied"
    );
    assert!(f.json(&["info"])["lockedBy"]
        .as_str()
        .unwrap()
        .contains("runner-7"));

    // Written a moment ago: its holder looks alive, so unlocking it takes --force.
    let unlocked = f.json(&["unlock", "--force"]);
    assert_eq!(unlocked["holder"]["host"], "runner-7");
    assert_eq!(f.deploy()["deployment"]["status"], "succeeded");

    // Two real deploys at once: the one that comes second finds the first holding the lock
    // (100 ms a request, one step at a time: creating twelve queues outlasts the second's
    // look at the lock by seconds).
    let proxy = support::Realism::start(&["--delay-ms", "100"]);
    let more: Vec<String> = (0..12).map(|i| format!("q{i}")).collect();
    let more: Vec<&str> = more.iter().map(String::as_str).collect();
    f.write_at(&queues(90, &more), &[], &proxy.endpoint);
    let mut first = f
        .command(&["deploy", "--concurrency", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_err = BufReader::new(first.stderr.take().unwrap());
    let mut line = String::new();
    // It holds the lock once it prints its plan.
    while first_err.read_line(&mut line).unwrap() > 0 && !line.contains("plan:") {
        line.clear();
    }
    let (second, _, stderr) = support::run(&mut f.command(&["deploy", "--lock-timeout", "0s"]));
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is locked by") && stderr.contains("`sls-rs deploy"),
        "{stderr}"
    );
    std::io::copy(&mut first_err, &mut std::io::sink()).unwrap();
    assert!(first.wait().unwrap().success(), "the first deploy applies");
    assert_eq!(visibility(&aws, &f.name("a")).await, "90");
    f.write(&queues(90, &more), &[]);
    f.json(&["remove"]);
}

#[test]
fn info_shows_versions_and_the_last_deployment() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("info", "  a: { handler: a, provisionedConcurrency: 1 }\n");
    let report = f.deploy();
    // moto has no provisioned-concurrency API: a warning, not a failure.
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("provisioned concurrency")),
        "{report}"
    );
    let info = f.json(&["info"]);
    assert_eq!(info["functions"][0]["liveVersion"], "1");
    // Read live, not from the state: moto cannot say, and info says so.
    assert_eq!(
        info["functions"][0]["provisionedConcurrency"],
        serde_json::Value::Null
    );
    assert!(
        info["functions"][0]["provisionedStatus"]
            .as_str()
            .unwrap()
            .contains("does not implement provisioned concurrency"),
        "{info}"
    );
    assert_eq!(info["lastDeployment"]["status"], "succeeded");
    let (_, human, _) = support::run(&mut f.command(&["info"]));
    assert!(
        human.contains(&f.name("a")) && human.contains("last deployment"),
        "{human}"
    );
}

/// A service pointed at the emulator the way most tools are, by the SDK's
/// `AWS_ENDPOINT_URL` and no `endpoint:` key, is an emulator stage like any other:
/// the missing provisioned-concurrency API is a warning, not a failed deploy.
#[test]
fn aws_endpoint_url_alone_makes_an_emulator_stage() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("envurl", "");
    f.write_without_endpoint("  a: { handler: a, provisionedConcurrency: 1 }\n");
    let mut cmd = f.command(&["deploy"]);
    cmd.env("AWS_ENDPOINT_URL", &support::emulator().endpoint)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let (out, stdout, stderr) = support::run(cmd.arg("--json"));
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["deployment"]["status"], "succeeded", "{report}");
    assert!(
        report["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("provisioned concurrency is not implemented by this emulator")),
        "{report}"
    );
    assert!(
        stderr.contains(&format!(
            "the endpoint {} does not implement it",
            support::emulator().endpoint
        )),
        "{stderr}"
    );
}

/// `AWS_ENDPOINT_URL_<SERVICE>` sends each service to its own endpoint: here every
/// service sls-rs calls is named (so it is an emulator stage, credentials are
/// dummies), while `AWS_ENDPOINT_URL` points where nothing answers.
#[test]
fn per_service_endpoint_variables_win_over_aws_endpoint_url() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("svcurl", "");
    f.write_without_endpoint("  a: { handler: a, provisionedConcurrency: 1 }\n");
    let mut cmd = f.command(&["deploy"]);
    cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    for svc in sls_rs::cloud::Svc::CALLED {
        cmd.env(svc.env_var(), &support::emulator().endpoint);
    }
    let (out, stdout, stderr) = support::run(cmd.arg("--json"));
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["deployment"]["status"], "succeeded", "{report}");
    assert!(
        stderr.contains("provisioned concurrency of") && stderr.contains("skipped"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_deploy_that_fails_before_cutover_leaves_every_alias_where_it_was() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("cutover", "  a: { handler: a }\n");
    f.deploy();
    // Another tool owns the role name the new function needs: creating it must fail.
    let aws = aws().await;
    let trust = serde_json::to_string(&sls_rs::model::lambda_trust_policy()).unwrap();
    aws.iam
        .create_role()
        .role_name(f.role("b"))
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();

    f.write("  a: { handler: a }\n  b: { handler: b }\n", &[("a", "v2")]);
    let (out, _, stderr) = support::run(&mut f.command(&["deploy"]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Seen in the plan: nothing is touched, the foreign role is left alone.
    assert!(
        stderr.contains(&format!(
            "IAM role {} exists and is not this service's",
            f.role("b")
        )),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert!(
        aws.iam
            .get_role_policy()
            .role_name(f.role("b"))
            .policy_name("sls-rs")
            .send()
            .await
            .is_err(),
        "the foreign role got no policy"
    );
    assert_eq!(
        alias_version(&aws, &f.name("a")).await.as_deref(),
        Some("1")
    );
    assert_eq!(
        f.json(&["info"])["lastDeployment"]["status"],
        "succeeded",
        "no deployment was started"
    );

    // A failure once applying has begun (b's artifact is missing, so its upload fails):
    // traffic stays on version 1 and the state records the deployment as failed.
    aws.iam
        .delete_role()
        .role_name(f.role("b"))
        .send()
        .await
        .unwrap();
    std::fs::remove_file(f.dir.join(".sls-rs/b.zip")).unwrap();
    let (out, _, stderr) = support::run(&mut f.command(&["deploy"]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("deploy failed before cutover"), "{stderr}");
    assert_eq!(
        alias_version(&aws, &f.name("a")).await.as_deref(),
        Some("1")
    );
    let info = f.json(&["info"]);
    assert_eq!(info["lastDeployment"]["status"], "failed");
    assert_eq!(info["lastDeployment"]["functions"]["a"], "1");
    assert_eq!(info["functions"][0]["liveVersion"], "1");

    // With the artifact back, the next deploy finishes the job.
    f.write("  a: { handler: a }\n  b: { handler: b }\n", &[("a", "v2")]);
    let report = f.deploy();
    assert_eq!(report["deployment"]["status"], "succeeded");
    assert_eq!(
        alias_version(&aws, &f.name("a")).await.as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn rollback_moves_every_alias_to_an_earlier_deployment_and_back() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("rollback", "  a: { handler: a }\n  b: { handler: b }\n");
    let v1 = f.deploy();
    f.write(
        "  a: { handler: a }\n  b: { handler: b }\n",
        &[("a", "v2"), ("b", "v2")],
    );
    let v2 = f.deploy();
    let aws = aws().await;
    assert_eq!(
        alias_version(&aws, &f.name("a")).await.as_deref(),
        Some("2")
    );

    let back = f.json(&["rollback"]);
    assert_eq!(back["to"], v1["deployment"]["id"]);
    assert_eq!(back["moved"]["a"], serde_json::json!(["2", "1"]));
    for name in ["a", "b"] {
        assert_eq!(
            alias_version(&aws, &f.name(name)).await.as_deref(),
            Some("1"),
            "{name}"
        );
    }
    // No build, no upload: only the aliases moved.
    let history = f.json(&["deployments"]);
    let last = history.as_array().unwrap().last().unwrap();
    assert!(last["command"].as_str().unwrap().contains("rollback"));
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["functions"], serde_json::json!({ "a": "1", "b": "1" }));

    // Rolling back again returns to the deployment before the rollback: v2.
    let again = f.json(&["rollback"]);
    assert_eq!(again["to"], v2["deployment"]["id"]);
    assert_eq!(
        alias_version(&aws, &f.name("a")).await.as_deref(),
        Some("2")
    );
    let (out, human, _) = support::run(&mut f.command(&["deployments"]));
    assert!(out.status.success());
    assert_eq!(
        human.lines().count(),
        5,
        "a header and four deployments:\n{human}"
    );

    // Across a removed function, rollback refuses and touches nothing.
    f.write("  a: { handler: a }\n", &[("a", "v2")]);
    f.deploy();
    let (out, _, stderr) = support::run(&mut f.command(&["rollback"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("function `b` was removed") && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    assert_eq!(
        alias_version(&aws, &f.name("a")).await.as_deref(),
        Some("2")
    );
}

#[test]
fn invoke_calls_the_live_alias_and_prints_the_response() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("invoke", "  echo: { handler: echo }\n");
    f.deploy();
    // moto runs no code: it echoes the event back, which is enough to see the call made.
    let doc = f.json(&["invoke", "-f", "echo", "--data", r#"{"name": "moto"}"#]);
    assert_eq!(doc["qualifier"], "live");
    assert_eq!(doc["statusCode"], 200);
    assert_eq!(doc["payload"]["name"], "moto");
    let scheduled = f.json(&["invoke", "-f", "echo", "--event", "schedule"]);
    assert_eq!(scheduled["payload"]["detail-type"], "Scheduled Event");
    let (out, _, stderr) = support::run(&mut f.command(&["invoke", "-f", "ecko"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("did you mean `echo`?"), "{stderr}");
}

#[tokio::test]
async fn logs_interleave_functions_in_time_with_filters_and_a_window() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    let f = Fixture::new(
        "logs",
        "  api: { handler: api }\n  worker: { handler: worker }\n",
    );
    f.deploy(); // creates both log groups
    let aws = aws().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let put = |function: &str, events: Vec<(i64, &str)>| {
        let group = format!("/aws/lambda/{}", f.name(function));
        let logs = aws.logs.clone();
        let events: Vec<InputLogEvent> = events
            .into_iter()
            .map(|(t, m)| {
                InputLogEvent::builder()
                    .timestamp(t)
                    .message(m)
                    .build()
                    .unwrap()
            })
            .collect();
        async move {
            logs.create_log_stream()
                .log_group_name(&group)
                .log_stream_name("2026/11/27/[$LATEST]abc")
                .send()
                .await
                .unwrap();
            logs.put_log_events()
                .log_group_name(&group)
                .log_stream_name("2026/11/27/[$LATEST]abc")
                .set_log_events(Some(events))
                .send()
                .await
                .unwrap();
        }
    };
    put("api", vec![
        (now - 7_200_000, "old line, outside the window"),
        (now - 3000, "START RequestId: 11111111-aaaa Version: 1"),
        (now - 2990, r#"{"timestamp":"t","level":"INFO","message":"got order","requestId":"11111111-aaaa","order":7}"#),
        (now - 2000, "END RequestId: 11111111-aaaa"),
        (now - 1990, "REPORT RequestId: 11111111-aaaa\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tInit Duration: 40.10 ms\t"),
    ])
    .await;
    put(
        "worker",
        vec![(
            now - 2500,
            r#"{"level":"ERROR","message":"payment declined","requestId":"22222222-bbbb"}"#,
        )],
    )
    .await;

    let lines = |args: &[&str]| -> Vec<Value> {
        let mut cmd = f.command(&["logs", "--json"]);
        let (out, stdout, stderr) = support::run(cmd.args(args));
        assert!(out.status.success(), "{stderr}");
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let all = lines(&["--since", "1h"]);
    let order: Vec<(&str, &str)> = all
        .iter()
        .map(|l| {
            (
                l["function"].as_str().unwrap(),
                l["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(order.len(), 5, "{order:?}");
    assert_eq!(order[0].1, "START RequestId: 11111111-aaaa Version: 1");
    assert_eq!(
        order[2],
        (
            "worker",
            r#"{"level":"ERROR","message":"payment declined","requestId":"22222222-bbbb"}"#
        ),
        "interleaved in time"
    );
    assert_eq!(all[1]["fields"]["order"], 7);
    assert_eq!(
        lines(&["--since", "3h"]).len(),
        6,
        "a wider window reaches the old line"
    );
    assert_eq!(lines(&["--since", "1h", "-f", "worker"]).len(), 1);
    let declined = lines(&["--since", "1h", "--filter", "declined"]);
    assert_eq!(declined.len(), 1);
    assert_eq!(declined[0]["function"], "worker");

    let (out, human, _) = support::run(&mut f.command(&["logs", "--since", "1h"]));
    assert!(out.status.success());
    assert!(!human.contains("START RequestId"), "{human}");
    assert!(
        human.contains(
            "REPORT 11111111 2.50 ms (billed 3 ms), memory 20 MB of 128 MB, cold start 40.10 ms"
        ),
        "{human}"
    );
    assert!(
        human.contains("ERROR payment declined") && human.contains("[22222222]"),
        "{human}"
    );
    assert!(
        human.lines().any(|l| l.starts_with("worker ")),
        "lines are prefixed with the function:\n{human}"
    );
    let (out, _, stderr) = support::run(&mut f.command(&["logs", "--since", "yesterday-ish"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
}

#[tokio::test]
async fn logs_tail_follows_new_events_once_each_and_stops_on_ctrl_c() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    let f = Fixture::new("tail", "  api: { handler: api }\n");
    f.deploy();
    let aws = aws().await;
    let group = format!("/aws/lambda/{}", f.name("api"));
    aws.logs
        .create_log_stream()
        .log_group_name(&group)
        .log_stream_name("s")
        .send()
        .await
        .unwrap();
    let mut child = f
        .command(&["logs", "--tail", "--raw", "--since", "1m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    for text in ["first", "second"] {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let event = InputLogEvent::builder()
            .timestamp(now)
            .message(text)
            .build()
            .unwrap();
        aws.logs
            .put_log_events()
            .log_group_name(&group)
            .log_stream_name("s")
            .log_events(event)
            .send()
            .await
            .unwrap();
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), text, "each event once, in order");
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "Ctrl-C ends --tail cleanly"
    );
}

#[tokio::test]
async fn a_renewal_defeats_a_takeover_that_judged_the_lock_before_it() {
    if !support::needs(&[Svc::Sts, Svc::S3]) {
        return;
    }
    use sls_rs::engine::lock;
    let aws = aws().await;
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    sls_rs::cloud::deployment_bucket::ensure(&aws, &bucket)
        .await
        .unwrap();
    let service = support::unique_service("renew");
    let me = lock::Holder::me("sls-rs deploy");
    let lease = lock::acquire(&aws, &bucket, &service, "test", &me, Duration::ZERO)
        .await
        .unwrap();
    // Another run reads the lock (and would judge it stale), then ours renews it.
    let seen = lock::read(&aws, &bucket, &service, "test")
        .await
        .unwrap()
        .unwrap();
    lease.renew(&aws).await.unwrap();
    assert!(
        !lock::remove(&aws, &bucket, &service, "test", &seen)
            .await
            .unwrap(),
        "a renewed lock has another ETag: the other run's conditional write fails"
    );
    let now = lock::read(&aws, &bucket, &service, "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.holder.token, me.token);
    assert_eq!(now.holder.beat, 1);
    lease.release(&aws).await.unwrap();
    assert!(lock::read(&aws, &bucket, &service, "test")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_run_releases_only_its_own_lock() {
    if !support::needs(&[Svc::Sts, Svc::S3]) {
        return;
    }
    use sls_rs::engine::lock;
    let aws = aws().await;
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    sls_rs::cloud::deployment_bucket::ensure(&aws, &bucket)
        .await
        .unwrap();
    let service = support::unique_service("ownlock");
    let me = lock::Holder::me("sls-rs deploy");
    let mine = lock::acquire(&aws, &bucket, &service, "test", &me, Duration::ZERO)
        .await
        .unwrap();
    // Our run outlived the stale limit and another run took the lock over.
    let seen = lock::read(&aws, &bucket, &service, "test")
        .await
        .unwrap()
        .unwrap();
    assert!(lock::remove(&aws, &bucket, &service, "test", &seen)
        .await
        .unwrap());
    let other = lock::Holder::me("sls-rs deploy");
    let theirs = lock::acquire(&aws, &bucket, &service, "test", &other, Duration::ZERO)
        .await
        .unwrap();

    mine.release(&aws).await.unwrap();
    let now = lock::read(&aws, &bucket, &service, "test")
        .await
        .unwrap()
        .map(|s| s.holder);
    assert_eq!(now, Some(other.clone()), "the other run keeps its lock");
    assert!(
        mine.renew(&aws).await.is_err(),
        "a renewal never overwrites another run's lock"
    );
    theirs.release(&aws).await.unwrap();
    assert!(lock::read(&aws, &bucket, &service, "test")
        .await
        .unwrap()
        .is_none());
}

/// A service of queues only (no function: LocalStack without Docker serves it), `a`
/// with the visibility timeout given, then `others`: the lock and state tests' fixture.
fn queues(visibility: u32, others: &[&str]) -> String {
    let mut text = format!("resources:\n  queues:\n    a: {{ visibilityTimeout: {visibility} }}\n");
    for q in others {
        text.push_str(&format!("    {q}: {{}}\n"));
    }
    text
}

/// A queue's visibility timeout, as SQS reports it.
async fn visibility(aws: &sls_rs::cloud::Aws, queue: &str) -> String {
    let url = sls_rs::cloud::sqs_queue::url(aws, queue)
        .await
        .unwrap()
        .expect("the queue exists");
    aws.sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default()
        .remove(&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
        .unwrap_or_default()
}

/// The lock object of a fixture's stage, as the SDK reads it.
async fn lock_object(aws: &sls_rs::cloud::Aws, f: &Fixture) -> Option<Value> {
    let text = stage_object(aws, f, "lock.json").await?;
    Some(serde_json::from_str(&text).unwrap())
}

async fn state_object(aws: &sls_rs::cloud::Aws, f: &Fixture) -> Value {
    serde_json::from_str(&stage_object(aws, f, "state.json").await.expect("a state")).unwrap()
}

#[tokio::test]
async fn lock_and_state_writes_whose_answer_is_lost_are_recognised_as_the_runs_own() {
    if !support::needs(&[Svc::Sts, Svc::S3, Svc::Sqs]) {
        return;
    }
    // Every lock and state write reaches the emulator, then its answer is lost: the
    // SDK's retry meets its own write as a 412.
    let proxy = support::Realism::start(&["--lose", "/services/"]);
    let f = Fixture::new("lostanswer", &queues(30, &[]));
    for timeout in [30, 60, 90] {
        f.write_at(&queues(timeout, &[]), &[], &proxy.endpoint);
        let (out, stdout, stderr) =
            support::run(&mut f.command(&["deploy", "--lock-timeout", "2s", "--json"]));
        assert!(out.status.success(), "deploy with {timeout} s: {stderr}");
        let report: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(report["deployment"]["status"], "succeeded");
    }
    let aws = aws().await;
    assert!(
        lock_object(&aws, &f).await.is_none(),
        "the lock is released"
    );
    let state = state_object(&aws, &f).await;
    assert_eq!(state["deployments"].as_array().unwrap().len(), 3);
    assert_eq!(visibility(&aws, &f.name("a")).await, "90");
    f.write(&queues(90, &[]), &[]);
    f.json(&["remove"]);
}

#[tokio::test]
async fn two_machines_racing_a_stale_lock_apply_exactly_once() {
    if !support::needs(&[Svc::Sts, Svc::S3, Svc::Sqs]) {
        return;
    }
    let f = Fixture::new("race", &queues(30, &[]));
    let proxy = support::Realism::start(&["--delay-ms", "100"]);
    f.deploy();
    let aws = aws().await;
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    let key = format!("services/{}/test/lock.json", f.service);
    let racer = |boot: &str| {
        let mut cmd = f.command(&["deploy", "--lock-timeout", "0s", "--json"]);
        cmd.env("SLS_RS_BOOT_ID", boot)
            .env("SLS_RS_LOCK_STALE_AFTER", "3s")
            .env("SLS_RS_LOCK_HEARTBEAT", "200ms")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    };
    // Each round waits out the stale limit: 20 on moto; LocalStack's pass, which comes on
    // top in CI, races 6 (its conditional writes are the same S3 API).
    let rounds = if support::kind() == support::Kind::LocalStack {
        6
    } else {
        20
    };
    for round in 0..rounds {
        // A run on a third machine died holding the lock.
        let dead = serde_json::json!({ "who": "ci", "host": "runner", "pid": 1, "bootId": "boot-dead", "token": "dead", "command": "sls-rs deploy", "since": "2026-11-27T10:00:00Z", "sinceEpoch": 0 });
        aws.s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(serde_json::to_vec(&dead).unwrap().into())
            .send()
            .await
            .unwrap();
        // 100 ms a request: the winner's deploy outlasts the loser's look at the lock
        // (a queue's update is quick; released already, the loser could not name it).
        f.write_at(&queues(31 + round, &[]), &[], &proxy.endpoint);
        // S3 dates objects to the second: after 4.1 s the lock is older than 3 s by S3's clock.
        tokio::time::sleep(Duration::from_millis(4100)).await;
        let (one, two) = (racer("boot-one"), racer("boot-two"));
        let mut applied = 0;
        let mut refused = Vec::new();
        for child in [one, two] {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            if out.status.success() {
                let report: Value = serde_json::from_slice(&out.stdout).unwrap();
                if !report["deployment"].is_null() {
                    applied += 1;
                }
            } else {
                assert!(
                    stderr.contains("is locked by") && stderr.contains("`sls-rs deploy"),
                    "round {round}: the loser names the holder: {stderr}"
                );
                refused.push(stderr);
            }
        }
        assert_eq!(applied, 1, "round {round}: exactly one run applies");
    }
    let state = state_object(&aws, &f).await;
    let statuses: Vec<&str> = state["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), rounds as usize + 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == "succeeded"), "{statuses:?}");
    let last = 30 + rounds;
    assert_eq!(visibility(&aws, &f.name("a")).await, last.to_string());
    f.write(&queues(last, &[]), &[]);
    f.json(&["remove"]);
}

/// The SIGTERM test's deploy: this many queues, each request delayed this long.
const SIGTERM_QUEUES: usize = 40;
const SIGTERM_DELAY_MS: &str = "150";

#[tokio::test]
async fn sigterm_mid_deploy_saves_the_state_releases_the_lock_and_exits_130() {
    if !support::needs(&[Svc::Sts, Svc::S3, Svc::Sqs]) {
        return;
    }
    // SIGTERM_DELAY_MS a request and one step at a time: the deploy runs for several seconds.
    let proxy = support::Realism::start(&["--delay-ms", SIGTERM_DELAY_MS]);
    let names: Vec<String> = (0..SIGTERM_QUEUES).map(|i| format!("q{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let functions = queues(30, &names);
    let f = Fixture::new("sigterm", &functions);
    f.write_at(&functions, &[], &proxy.endpoint);
    let mut child = f
        .command(&["deploy", "--concurrency", "1"])
        .env("SLS_RS_LOCK_STALE_AFTER", "3s")
        .env("SLS_RS_LOCK_HEARTBEAT", "200ms")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut seen = String::new();
    // It holds the lock once it prints its plan; let it create a few things.
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("created SQS queue") {
        seen.push_str(&line);
        line.clear();
    }
    assert!(line.contains("created"), "the deploy got going: {seen}");
    // Longer than the stale limit: a renewed lock is not stale, so a second run must wait.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let mut second = f.command(&["deploy", "--lock-timeout", "0s"]);
    second.env("SLS_RS_LOCK_STALE_AFTER", "3s");
    let (out, _, stderr) = support::run(&mut second);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is locked by"), "{stderr}");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(
        rest.contains("error: interrupted: the steps in flight finished, the state is saved and the lock released"),
        "{rest}"
    );

    let aws = aws().await;
    assert!(
        lock_object(&aws, &f).await.is_none(),
        "the lock is released"
    );
    let state = state_object(&aws, &f).await;
    let last = state["deployments"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["status"], "failed", "{last}");
    let recorded = state["resources"].as_object().unwrap().len();
    assert!(recorded > 0, "what was created is recorded");

    // The next deploy finishes the work; the one after has nothing to do.
    f.write(&functions, &[]);
    assert_eq!(f.deploy()["deployment"]["status"], "succeeded");
    assert_eq!(mutating(&f.deploy()), Vec::<String>::new());
    f.json(&["remove"]);
}

#[tokio::test]
async fn a_state_written_by_another_run_meanwhile_is_never_overwritten() {
    if !support::needs(&[Svc::Sts, Svc::S3, Svc::Sqs]) {
        return;
    }
    use sls_rs::engine::state::{self, Journal};
    let f = Fixture::new("statecas", &queues(30, &[]));
    f.deploy();
    let aws = aws().await;
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    let (stale, etag) = state::load_for_update(&aws, &bucket, &f.service, "test")
        .await
        .unwrap()
        .unwrap();
    // Another run deploys meanwhile.
    f.write(&queues(60, &[]), &[]);
    f.deploy();
    let journal = Journal::new(stale, &bucket, Some(etag), "me@here");
    journal.update(|s| s.deployments.clear());
    let err = journal.save(&aws).await.unwrap_err().to_string();
    // A save of ours whose answer (and every retry) was lost left our state in S3: the
    // next save recognises it by the run's token and goes on.
    let (current, etag) = state::load_for_update(&aws, &bucket, &f.service, "test")
        .await
        .unwrap()
        .unwrap();
    let mine = Journal::new(current, &bucket, Some(etag), "me@here");
    let mut landed = mine.snapshot();
    landed.written_by = "me@here (a save whose answer was lost)".into();
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key(state::state_key(&f.service, "test"))
        .body(serde_json::to_vec(&landed).unwrap().into())
        .send()
        .await
        .unwrap();
    mine.update(|s| s.written_by = "me@here".into());
    mine.save(&aws).await.unwrap();
    assert!(
        err.contains("was changed by") && err.contains("`sls-rs deploy"),
        "{err}"
    );
    let now = state_object(&aws, &f).await;
    assert_eq!(
        now["deployments"].as_array().unwrap().len(),
        2,
        "the other run's records are intact"
    );
    f.json(&["remove"]);
}

#[tokio::test]
async fn unlock_wants_force_while_the_holder_renews_its_lock() {
    if !support::needs(&[Svc::Sts, Svc::S3, Svc::Sqs]) {
        return;
    }
    use sls_rs::engine::lock;
    let f = Fixture::new("unlockforce", &queues(30, &[]));
    f.deploy();
    let aws = aws().await;
    let bucket = sls_rs::cloud::deployment_bucket::name(&aws.account, "us-east-1");
    let me = lock::Holder::me("sls-rs deploy");
    let lease = lock::acquire(&aws, &bucket, &f.service, "test", &me, Duration::ZERO)
        .await
        .unwrap();
    lease.renew(&aws).await.unwrap();
    let (out, _, stderr) = support::run(&mut f.command(&["unlock"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("looks alive") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(lock_object(&aws, &f).await.is_some(), "the lock stays");
    let unlocked = f.json(&["unlock", "--force"]);
    assert_eq!(unlocked["unlocked"], true);
    assert!(lock_object(&aws, &f).await.is_none());
    f.json(&["remove"]);
}

/// S3 as another AWS account of the emulator sees it (moto: credentials of a role
/// assumed in account 111111111111 act in that account).
async fn other_account_s3() -> aws_sdk_s3::Client {
    let config = support::emulator().sdk_config().await;
    let creds = sls_rs::cloud::sts(&config)
        .assume_role()
        .role_arn("arn:aws:iam::111111111111:role/someone-else")
        .role_session_name("squatter")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let creds = aws_sdk_s3::config::Credentials::new(
        creds.access_key_id,
        creds.secret_access_key,
        Some(creds.session_token),
        None,
        "other-account",
    );
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .credentials_provider(creds)
            .force_path_style(true)
            .build(),
    )
}

/// Points the fixture at a deployment bucket of its own (`provider.deploymentBucket`).
fn use_deployment_bucket(f: &Fixture, bucket: &str) {
    let path = f.dir.join("serverless.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "provider:\n  name: aws\n",
        &format!("provider:\n  name: aws\n  deploymentBucket: {{ name: {bucket} }}\n"),
        1,
    );
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn a_deployment_bucket_another_account_created_first_is_refused_untouched() {
    if !support::needs(&[Svc::Sts, Svc::S3, Svc::Sqs]) {
        return;
    }
    let f = Fixture::new("squat", &queues(30, &[]));
    let aws = aws().await;
    let bucket = format!("{}-deploys", f.service);
    use_deployment_bucket(&f, &bucket);
    // Someone else creates the predictable name first and plants a state that
    // would have the next deploy delete real tables.
    let theirs = other_account_s3().await;
    theirs.create_bucket().bucket(&bucket).send().await.unwrap();
    let planted = format!(
        r#"{{"format":1,"service":"{}","stage":"test","region":"us-east-1","account":"{}","resources":{{}},"deployments":[]}}"#,
        f.service, aws.account
    );
    let key = format!("services/{}/test/state.json", f.service);
    theirs
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(planted.clone().into_bytes().into())
        .send()
        .await
        .unwrap();

    for args in [&["deploy"][..], &["plan"][..], &["remove"][..]] {
        let (out, _, stderr) = support::run(&mut f.command(args));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "the deployment bucket {bucket} exists but does not belong to account {}",
                aws.account
            )) && stderr.contains("provider.deploymentBucket"),
            "{args:?}: {stderr}"
        );
    }
    assert!(
        sls_rs::cloud::sqs_queue::url(&aws, &f.name("a"))
            .await
            .unwrap()
            .is_none(),
        "nothing was deployed"
    );
    let objects = theirs
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(objects.key_count(), Some(1), "nothing was written there");
    let tags = theirs.get_bucket_tagging().bucket(&bucket).send().await;
    assert!(
        tags.is_err(),
        "their bucket was not hardened or tagged by us"
    );
}

#[tokio::test]
async fn a_service_bucket_name_another_account_holds_is_neither_adopted_nor_changed() {
    if !support::needs(&[Svc::Sts, Svc::S3, Svc::Sqs]) {
        return;
    }
    let f = Fixture::new("squatbucket", &queues(30, &[]));
    f.deploy();
    let account = aws().await.account;
    let name = format!("{}-test-uploads-{account}-us-east-1", f.service);
    // Tagged as if it were ours: adoption by tags alone would take it over.
    let theirs = other_account_s3().await;
    theirs.create_bucket().bucket(&name).send().await.unwrap();
    theirs
        .put_bucket_tagging()
        .bucket(&name)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("sls-rs:service")
                        .value(&f.service)
                        .build()
                        .unwrap(),
                )
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("sls-rs:stage")
                        .value("test")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let path = f.dir.join("serverless.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "resources:\n",
        "resources:\n  buckets:\n    uploads: {}\n",
        1,
    );
    std::fs::write(&path, text).unwrap();
    let (out, _, stderr) = support::run(&mut f.command(&["deploy"]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "S3 bucket {name} exists but does not belong to account"
        )),
        "{stderr}"
    );
    let versioning = theirs
        .get_bucket_versioning()
        .bucket(&name)
        .send()
        .await
        .ok()
        .and_then(|v| v.status);
    assert!(versioning.is_none(), "their bucket was not changed");
    f.write(&queues(30, &[]), &[]);
    f.json(&["remove"]);
}

#[tokio::test]
async fn a_deployment_bucket_left_unhardened_is_hardened_by_the_next_run_keeping_other_rules() {
    if !support::needs(&[Svc::Sts, Svc::S3]) {
        return;
    }
    let f = Fixture::new("harden", "resources:\n  buckets:\n    b: {}\n");
    let bucket = format!("{}-deploys", f.service);
    use_deployment_bucket(&f, &bucket);
    // A run died right after CreateBucket; another tool added a lifecycle rule since.
    let aws = aws().await;
    aws.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let foreign = aws_sdk_s3::types::LifecycleRule::builder()
        .id("archive-logs")
        .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
        .filter(
            aws_sdk_s3::types::LifecycleRuleFilter::builder()
                .prefix("logs/")
                .build(),
        )
        .expiration(
            aws_sdk_s3::types::LifecycleExpiration::builder()
                .days(400)
                .build(),
        )
        .build()
        .unwrap();
    aws.s3
        .put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(
            aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
                .rules(foreign)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    assert_eq!(f.deploy()["deployment"]["status"], "succeeded");
    // moto answers GetBucketVersioning under an XML root the SDK refuses: read the body.
    let versioning = match aws.s3.get_bucket_versioning().bucket(&bucket).send().await {
        Ok(v) => format!("{:?}", v.status),
        Err(e) => format!("{e:?}"),
    };
    assert!(versioning.contains("Enabled"), "{versioning}");
    let block = aws
        .s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap()
        .public_access_block_configuration
        .unwrap();
    assert_eq!(block.block_public_acls, Some(true));
    assert_eq!(block.restrict_public_buckets, Some(true));
    let sse = aws
        .s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(format!("{sse:?}").contains("Aes256"), "{sse:?}");
    let rules: Vec<String> = aws
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap()
        .rules()
        .iter()
        .filter_map(|r| r.id().map(str::to_string))
        .collect();
    assert!(rules.contains(&"archive-logs".to_string()), "{rules:?}");
    assert!(
        rules.contains(&"sls-rs-noncurrent-versions".to_string()),
        "{rules:?}"
    );
    assert!(
        rules.contains(&"sls-rs-unreferenced-artifacts".to_string()),
        "{rules:?}"
    );
    let tags = aws
        .s3
        .get_bucket_tagging()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(tags
        .tag_set()
        .iter()
        .any(|t| t.key() == "sls-rs:hardened" && t.value() == "1"));
    f.json(&["remove"]);
}

#[tokio::test]
async fn every_s3_request_names_the_expected_bucket_owner() {
    if !support::needs(&[Svc::Sts, Svc::S3]) {
        return;
    }
    let log = std::env::temp_dir().join(format!("{}.log", support::unique_service("owner")));
    let log_arg = log.display().to_string();
    let proxy = support::Realism::start(&[
        "--log",
        &log_arg,
        "--log-header",
        "x-amz-expected-bucket-owner",
    ]);
    let manifest = "resources:\n  buckets:\n    files: { versioning: true }\n";
    let f = Fixture::new("ownerhdr", manifest);
    f.write_at(manifest, &[], &proxy.endpoint);
    let account = aws().await.account;
    let (out, _, stderr) = support::run(&mut f.command(&["deploy"]));
    assert!(out.status.success(), "{stderr}");
    let (out, _, stderr) = support::run(&mut f.command(&["remove", "--force"]));
    assert!(out.status.success(), "{stderr}");
    // One JSON line per request; read as `METHOD PATH<TAB>OWNER`.
    let lines: String = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            format!(
                "{} {}\t{}\n",
                field("method"),
                field("path"),
                field("header")
            )
        })
        .collect();
    let buckets = [
        format!("/sls-rs-deployments-{account}-us-east-1"),
        format!("/{}-test-files-", f.service),
    ];
    let s3: Vec<&str> = lines
        .lines()
        .filter(|l| {
            buckets.iter().any(|b| {
                l.split(' ')
                    .nth(1)
                    .is_some_and(|p| p.starts_with(b.as_str()))
            })
        })
        .collect();
    assert!(s3.len() > 10, "{lines}");
    // CreateBucket (`PUT /name` or `PUT /name/`, no query) takes no owner.
    let create = |l: &str| {
        let path = l.split(['\t', ' ']).nth(1).unwrap_or_default();
        l.starts_with("PUT ")
            && !path.contains('?')
            && path.trim_matches('/').split('/').count() == 1
    };
    let missing: Vec<&&str> = s3
        .iter()
        .filter(|l| !create(l) && !l.ends_with(&format!("\t{account}")))
        .collect();
    assert!(
        missing.is_empty(),
        "S3 requests without the owner: {missing:#?}"
    );
}

#[tokio::test]
async fn versions_no_remembered_deployment_uses_are_deleted_and_the_history_is_bounded() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("prune", "  a: { handler: a }\n");
    let history = |f: &Fixture| {
        let path = f.dir.join("serverless.yaml");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "provider:\n  name: aws\n",
            "provider:\n  name: aws\n  deploymentHistory: 2\n",
            1,
        );
        std::fs::write(path, text).unwrap();
    };
    // moto numbers a version after the count it holds: nothing is published after a deletion here.
    let mut reports = Vec::new();
    for memory in [128, 160, 192] {
        f.write(
            &format!("  a: {{ handler: a, memorySize: {memory} }}\n"),
            &[],
        );
        history(&f);
        let (out, stdout, stderr) = support::run(
            f.command(&["deploy", "--json"])
                .env("SLS_RS_EMULATOR_PRUNE", "1"),
        );
        assert!(out.status.success(), "{stderr}");
        reports.push(serde_json::from_str::<Value>(&stdout).unwrap());
    }
    let pruned = |r: &Value| -> Vec<String> {
        r["plan"]["prune"]
            .as_array()
            .map(|p| {
                p.iter()
                    .map(|v| v["version"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(pruned(&reports[1]), Vec::<String>::new());
    assert_eq!(pruned(&reports[2]), ["1"]);
    assert!(
        mutating(&reports[2]).contains(&"lambda:DeleteFunction".to_string()),
        "the deletion is counted among the deploy's calls"
    );
    // Without the switch, an emulator keeps every version.
    f.write("  a: { handler: a, memorySize: 192 }\n", &[]);
    history(&f);
    let (out, stdout, _) = support::run(&mut f.command(&["plan", "--json"]));
    assert!(out.status.success());
    assert!(!stdout.contains("\"prune\""), "{stdout}");
    let aws = aws().await;
    let versions: Vec<String> = aws
        .lambda
        .list_versions_by_function()
        .function_name(f.name("a"))
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .filter_map(|v| v.version.clone())
        .collect();
    assert_eq!(versions, ["$LATEST", "2", "3"]);
    let state = state_object(&aws, &f).await;
    assert_eq!(state["deployments"].as_array().unwrap().len(), 2);
    assert_eq!(
        state["resources"]["function/a"]["versions"],
        serde_json::json!(["2", "3"])
    );
    // The remembered deployment before the last can still be rolled back to.
    let back = f.json(&["rollback"]);
    assert_eq!(back["moved"]["a"], serde_json::json!(["3", "2"]));
    f.json(&["remove"]);
}

#[test]
fn a_deploy_paced_at_aws_rates_goes_through_the_paced_http_client() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    // Against an emulator pacing is off unless asked: asked, every request goes
    // through the HTTP client that sls-rs builds in place of the SDK's default.
    let f = Fixture::new("paced", "  a: { handler: a }\n  b: { handler: b }\n");
    let mut deploy = f.command(&["deploy"]);
    deploy.env("SLS_RS_PACE", "aws");
    let (out, stdout, stderr) = support::run(deploy.arg("--json"));
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let lambda_writes = support::fixture::mutating(&report)
        .iter()
        .filter(|c| c.starts_with("lambda:"))
        .count() as u64;
    // Each function's CreateFunction (publishing version 1) and CreateAlias.
    assert!(lambda_writes >= 4, "{report}");
    // Lambda's control plane at 15 requests a second, evenly spaced.
    assert!(
        report["elapsedMs"].as_u64().unwrap() >= (lambda_writes - 1) * 1000 / 15,
        "{report}"
    );
    let info = f.json(&["info"]);
    assert_eq!(info["functions"][0]["liveVersion"], "1");
}

/// One of each kind sls-rs creates: a function with its alias, roles and policies,
/// log groups, a table, a bucket with a notification, a queue with its dead-letter
/// queue and an SQS trigger, a schedule, an HTTP API with routes, a state machine,
/// invoke permissions.
const EVERY_KIND: &str = "  api:\n    handler: api\n    events:\n      - httpApi: GET /items\n      - httpApi: POST /items\n    permissions:\n      - { table: items, access: readwrite }\n  worker:\n    handler: worker\n    timeout: 10\n    events:\n      - sqs: { queue: jobs, batchSize: 5 }\n      - schedule: rate(1 hour)\n      - s3: { bucket: uploads, prefix: in/ }\nresources:\n  tables:\n    items: { partitionKey: { name: id, type: S }, deletionPolicy: delete }\n  buckets:\n    uploads: { deletionPolicy: delete }\n  queues:\n    jobs: { visibilityTimeout: 60, deadLetter: { maxReceiveCount: 3 } }\n  stateMachines:\n    flow:\n      definition: { StartAt: A, States: { A: { Type: Task, Resource: '${fn:worker}', End: true } } }\n";

#[tokio::test]
async fn a_first_deploy_whose_creates_lose_their_answers_succeeds_and_leaves_one_of_each() {
    if !support::needs(&[
        Svc::Lambda,
        Svc::DynamoDb,
        Svc::HttpApi,
        Svc::Sqs,
        Svc::StepFunctions,
    ]) {
        return;
    }
    // Every write reaches the emulator, then its answer is lost: each create's retry
    // meets the run's own resource.
    let proxy = support::Realism::start(&["--lose-first-write"]);
    let f = Fixture::new("lostcreate", EVERY_KIND);
    f.write_at(EVERY_KIND, &[], &proxy.endpoint);
    let (out, stdout, stderr) = support::run(&mut f.command(&["deploy", "--json"]));
    assert!(
        out.status.success(),
        "the first deploy succeeds in one run:\n{stderr}"
    );
    let first: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(first["deployment"]["status"], "succeeded");
    assert!(first["endpoint"].as_str().is_some(), "{first}");

    // Nothing is left to do, through the proxy or not.
    let again = f.json(&["deploy"]);
    assert!(again["deployment"].is_null(), "{}", again["plan"]);
    assert_eq!(again["apiCalls"]["writes"], 0, "{}", again["apiCalls"]);
    f.write(EVERY_KIND, &[]);
    let plain = f.json(&["deploy"]);
    assert_eq!(plain["apiCalls"]["writes"], 0, "{}", plain["apiCalls"]);

    // Exactly one of each, read back through the SDK.
    let aws = aws().await;
    let prefix = format!("{}-test-", f.service);
    // The emulator is shared: every listing is read to its end.
    let functions: Vec<String> = aws
        .lambda
        .list_functions()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .iter()
        .filter_map(|c| c.function_name().filter(|n| n.starts_with(&prefix)))
        .map(str::to_string)
        .collect();
    assert_eq!(functions.len(), 2, "{functions:?}");
    for name in ["api", "worker"] {
        let aliases = aws
            .lambda
            .list_aliases()
            .function_name(f.name(name))
            .send()
            .await
            .unwrap();
        let names: Vec<_> = aliases.aliases().iter().filter_map(|a| a.name()).collect();
        assert_eq!(names, ["live"], "{name}");
        let versions = aws
            .lambda
            .list_versions_by_function()
            .function_name(f.name(name))
            .send()
            .await
            .unwrap();
        let versions: Vec<_> = versions
            .versions()
            .iter()
            .filter_map(|v| v.version())
            .collect();
        assert_eq!(versions, ["$LATEST", "1"], "{name}: one version published");
    }
    let roles = aws
        .iam
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let roles: Vec<_> = roles
        .iter()
        .map(|r| r.role_name())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert_eq!(
        roles.len(),
        3,
        "two functions and a state machine: {roles:?}"
    );
    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/lambda/{prefix}"))
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups().len(), 2);
    let tables = aws
        .dynamodb
        .list_tables()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let tables: Vec<_> = tables.iter().filter(|t| t.starts_with(&prefix)).collect();
    assert_eq!(tables.len(), 1, "{tables:?}");
    let buckets = aws.s3.list_buckets().send().await.unwrap();
    let buckets: Vec<_> = buckets
        .buckets()
        .iter()
        .filter_map(|b| b.name())
        .filter(|b| b.starts_with(&prefix))
        .collect();
    assert_eq!(buckets.len(), 1, "{buckets:?}");
    let notification = aws
        .s3
        .get_bucket_notification_configuration()
        .bucket(buckets[0])
        .send()
        .await
        .unwrap();
    assert_eq!(notification.lambda_function_configurations().len(), 1);
    let queues = aws
        .sqs
        .list_queues()
        .queue_name_prefix(&prefix)
        .send()
        .await
        .unwrap();
    assert_eq!(queues.queue_urls().len(), 2, "the queue and its DLQ");
    let live = |name: &str| {
        format!(
            "arn:aws:lambda:us-east-1:{}:function:{}:live",
            aws.account,
            f.name(name)
        )
    };
    let mappings = aws
        .lambda
        .list_event_source_mappings()
        .function_name(live("worker"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        mappings.event_source_mappings().len(),
        1,
        "no duplicate mapping"
    );
    let rules = aws
        .events
        .list_rules()
        .name_prefix(&prefix)
        .send()
        .await
        .unwrap();
    assert_eq!(rules.rules().len(), 1);
    let targets = aws
        .events
        .list_targets_by_rule()
        .rule(rules.rules()[0].name().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(targets.targets().len(), 1);
    let mut apis = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .apigw
            .get_apis()
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        token = page.next_token().map(str::to_string);
        apis.extend(
            page.items
                .unwrap_or_default()
                .into_iter()
                .filter(|a| a.name() == Some(&format!("{}-test", f.service))),
        );
        if token.is_none() {
            break;
        }
    }
    assert_eq!(apis.len(), 1, "no orphan API: {apis:?}");
    let api_id = apis[0].api_id().unwrap();
    let routes = aws.apigw.get_routes().api_id(api_id).send().await.unwrap();
    assert_eq!(routes.items().len(), 2, "{:?}", routes.items());
    let integrations = aws
        .apigw
        .get_integrations()
        .api_id(api_id)
        .send()
        .await
        .unwrap();
    assert_eq!(integrations.items().len(), 2, "{:?}", integrations.items());
    let machines = aws
        .sfn
        .list_state_machines()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let machines: Vec<_> = machines
        .iter()
        .filter(|m| m.name().starts_with(&prefix))
        .collect();
    assert_eq!(machines.len(), 1);
    for (name, statements) in [("api", 1), ("worker", 2)] {
        let policy = aws
            .lambda
            .get_policy()
            .function_name(f.name(name))
            .qualifier("live")
            .send()
            .await
            .unwrap();
        let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
        assert_eq!(
            policy["Statement"].as_array().unwrap().len(),
            statements,
            "{name}: {policy}"
        );
    }
    f.json(&["remove", "--force"]);
}

#[tokio::test]
async fn a_failed_aws_call_prints_one_line_with_code_message_and_request_id() {
    if !support::needs(&[Svc::Lambda, Svc::S3]) {
        return;
    }
    // The bucket's creation claims success and did nothing: S3 then knows no such bucket.
    let proxy = support::Realism::start(&["--swallow", "/[^/?]*uploads-[0-9]+-us-east-1/?$"]);
    let manifest =
        "  a: { handler: a }\nresources:\n  buckets:\n    uploads: { deletionPolicy: delete }\n";
    let f = Fixture::new("oneline", manifest);
    f.write_at(manifest, &[], &proxy.endpoint);
    let (out, _, stderr) = support::run(&mut f.command(&["deploy"]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let bucket = format!("{}-test-uploads-123456789012-us-east-1", f.service);
    let line = stderr
        .lines()
        .find(|l| l.contains("bucket/uploads: "))
        .unwrap_or_else(|| panic!("the failed call is named: {stderr}"));
    let prefix = format!(
        "  bucket/uploads: S3 bucket ({bucket}) (s3:GetBucketTagging): NoSuchBucket: The specified bucket does not exist (request id "
    );
    assert!(line.starts_with(&prefix), "{line}");
    assert!(line.ends_with(')'), "{line}");
    for dump in ["SdkBody", "Once(", "headers", "extensions", "ServiceError"] {
        assert!(!stderr.contains(dump), "{dump} in {stderr}");
    }

    // -v adds the whole answer.
    let (_, _, verbose) = support::run(f.command(&["deploy"]).arg("-v"));
    assert!(verbose.contains("  detail: "), "{verbose}");
    f.write(manifest, &[]);
    f.json(&["remove", "--force"]);
}

/// A failed AWS call under `--json` is one JSON document on stdout that names the
/// resource, the operation, AWS's code and message and the request id (what a CI
/// step parses), the human line stays on stderr, and once the call is allowed the
/// next deploy finishes the work.
#[test]
fn a_denied_aws_call_under_json_is_one_json_document_on_stdout() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let layer = support::Realism::start(&["--deny", r"^lambda\.CreateFunction$"]);
    let functions = "  hello: { handler: hello }\n";
    let f = Fixture::new("denied-json", functions);
    f.write_at(functions, &[], &layer.endpoint);
    let (out, stdout, stderr) = support::run(f.command(&["deploy"]).arg("--json"));
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"));
    assert_eq!(doc["ok"], false);
    let aws = &doc["error"]["aws"];
    assert_eq!(aws["operation"], "lambda:CreateFunction", "{doc:#}");
    assert_eq!(aws["code"], "AccessDeniedException", "{doc:#}");
    assert!(
        aws["resource"].as_str().unwrap().contains(&f.name("hello")),
        "{doc:#}"
    );
    assert!(
        aws["message"]
            .as_str()
            .unwrap()
            .contains("is not authorized to perform: lambda:CreateFunction"),
        "{doc:#}"
    );
    assert!(
        aws["requestId"].as_str().is_some_and(|id| !id.is_empty()),
        "{doc:#}"
    );
    let step = &doc["error"]["steps"][0];
    assert_eq!(step["step"], "function/hello", "{doc:#}");
    assert_eq!(&step["aws"], aws, "{doc:#}");
    let text = doc.to_string();
    assert!(text.contains("grant it to them"), "{doc:#}");
    assert!(
        stderr.contains("error:") && stderr.contains("lambda:CreateFunction"),
        "{stderr}"
    );

    f.write(functions, &[]);
    assert_eq!(f.deploy()["deployment"]["status"], "succeeded");
    f.json(&["remove"]);
}

/// What a deploy asks of AWS grows with the service by a fixed, small amount per
/// function, and a no-op keeps off Lambda's 15/s control plane (which every write of
/// every deploy in the account shares): each function is read with GetFunction, the
/// 100/s API, twice ($LATEST, and the `live` alias's version with its environment).
/// A service of `n` functions `f1`…`fN` (each declared as `function(i)` says), its
/// stage going through the realism layer, which counts the requests.
fn functions_through(
    name: &str,
    layer: &support::Realism,
    n: u64,
    function: impl Fn(u64) -> String,
) -> Fixture {
    let f = Fixture::new(name, "  f1: { handler: f1 }\n");
    let functions: String = (1..=n)
        .map(|i| format!("  f{i}: {}\n", function(i)))
        .collect();
    f.write_text(
        &format!(
            "service: {}\nprovider: {{ name: aws, stage: test }}\nstages:\n  test:\n    endpoint: {}\nfunctions:\n{functions}",
            f.service, layer.endpoint
        ),
        &[],
    );
    f
}

/// A first deploy creates each alias in one call and leaves a new log group's
/// retention alone when none is asked for.
#[tokio::test]
async fn requests_grow_by_a_fixed_few_per_function_and_a_noop_stays_off_the_control_plane() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let layer = support::Realism::start(&[]);
    let n = 6;
    let f = functions_through("requests", &layer, n, |i| format!("{{ handler: f{i} }}"));

    let before = layer.operations();
    assert_eq!(f.deploy()["deployment"]["status"], "succeeded");
    let first = layer.operations_since(&before);
    for op in [
        "lambda.CreateFunction",
        "lambda.CreateAlias",
        "iam.CreateRole",
        "iam.PutRolePolicy",
        "logs.CreateLogGroup",
    ] {
        assert_eq!(
            first.get(op),
            Some(&n),
            "{op} once per function: {first:#?}"
        );
    }
    // Version 1 comes with CreateFunction; a new alias is created, not first tried as an update.
    for op in [
        "lambda.PublishVersion",
        "lambda.UpdateAlias",
        "logs.DeleteRetentionPolicy",
        "logs.PutRetentionPolicy",
    ] {
        assert_eq!(first.get(op), None, "{op} on a first deploy: {first:#?}");
    }
    // The emulator answers a create Active: nothing to poll, GetFunction is only the
    // plan's read of each (six functions are too few for a listing). (Lambda answers
    // Pending, and then GetFunction polls: converge's
    // `with_functions_pending_and_updates_in_progress`.) The artifacts' existence is
    // one listing, not a HeadObject each.
    assert_eq!(first.get("lambda.GetFunction"), Some(&n), "{first:#?}");
    assert_eq!(first.get("s3.HeadObject"), None, "{first:#?}");
    // Per function: five writes, an upload, the plan's read and the state's journal
    // (at 50 functions, where the plan lists instead, benches/requests.py counts 6.9).
    let total: u64 = first.values().sum();
    assert!(
        total <= 9 * n + 10,
        "{total} requests for a first deploy of {n} functions: {first:#?}"
    );

    let before = layer.operations();
    let noop = f.deploy();
    assert!(mutating(&noop).is_empty(), "{noop:#}");
    let calls = layer.operations_since(&before);
    let lambda: BTreeMap<_, _> = calls
        .iter()
        .filter(|(op, _)| op.starts_with("lambda."))
        .collect();
    assert_eq!(
        lambda,
        BTreeMap::from([(&"lambda.GetFunction".to_string(), &(2 * n))]),
        "a no-op's Lambda calls: {calls:#?}"
    );
    // The roles (as many as iam_role::LIST_FROM) in one listing with their policies.
    assert_eq!(
        calls.get("iam.GetAccountAuthorizationDetails"),
        Some(&1),
        "{calls:#?}"
    );
    assert_eq!(calls.get("iam.GetRole"), None, "{calls:#?}");
    let total: u64 = calls.values().sum();
    assert!(
        total <= 2 * n + 8,
        "{total} requests for a no-op of {n} functions: {calls:#?}"
    );

    // The listing is a read-back like any other: a policy edited behind sls-rs's back
    // (and a tag) is drift, and repaired.
    let aws = aws().await;
    let role = f.role("f3");
    aws.iam
        .put_role_policy()
        .role_name(&role)
        .policy_name(sls_rs::model::INLINE_POLICY_NAME)
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let plan = f.json(&["plan"]);
    let changes: Vec<&Value> = plan["plan"]["changes"].as_array().unwrap().iter().collect();
    let drifted: Vec<&Value> = changes
        .iter()
        .copied()
        .filter(|c| c["action"] != "unchanged")
        .collect();
    assert_eq!(drifted.len(), 1, "{plan:#}");
    assert_eq!(drifted[0]["id"], "role/f3", "{plan:#}");
    assert!(
        !drifted[0]["drift"].as_array().unwrap().is_empty(),
        "{plan:#}"
    );
    let repaired = f.deploy();
    assert_eq!(mutating(&repaired), ["iam:PutRolePolicy"], "{repaired:#}");

    // Credentials that may not list the account's roles read each role instead.
    let denied = support::Realism::start(&["--deny", r"^iam\.GetAccountAuthorizationDetails$"]);
    let manifest = std::fs::read_to_string(f.dir.join("serverless.yaml")).unwrap();
    std::fs::write(
        f.dir.join("serverless.yaml"),
        manifest.replace(&layer.endpoint, &denied.endpoint),
    )
    .unwrap();
    let noop = f.deploy();
    assert!(mutating(&noop).is_empty(), "{noop:#}");
    let calls = denied.operations();
    assert_eq!(calls.get("iam.GetRole"), Some(&n), "{calls:#?}");
    assert_eq!(calls.get("iam.GetRolePolicy"), Some(&n), "{calls:#?}");
    std::fs::write(f.dir.join("serverless.yaml"), manifest).unwrap();

    // Remove deletes what the state records without reading it first (the state's
    // tags tell a role of this region's from one another region's deployment may share).
    let before = layer.operations();
    f.json(&["remove"]);
    let calls = layer.operations_since(&before);
    for (op, most) in [
        ("lambda.GetFunction", 0),
        ("iam.GetRolePolicy", 0),
        ("iam.GetRole", 0),
    ] {
        let count = calls.get(op).copied().unwrap_or(0);
        assert!(count <= most, "{count} {op} on remove: {calls:#?}");
    }
    assert_eq!(calls.get("lambda.DeleteFunction"), Some(&n), "{calls:#?}");
    assert_eq!(calls.get("iam.DeleteRole"), Some(&n), "{calls:#?}");
    // Mappings a lost state forgot: the account's in one listing (a page per 100
    // mappings the shared emulator holds), not one per function.
    let listings = calls
        .get("lambda.ListEventSourceMappings")
        .copied()
        .unwrap_or(0);
    assert!((1..n).contains(&listings), "{calls:#?}");
}

/// A service the state does not record yet (a first deploy, a new stage) learns
/// which of its functions exist from one listing of the account's, not a read each:
/// the absent ones and their invoke permissions cost nothing more. (The listing
/// stops once its pages would cost more than the reads: 7 GetFunctions a page.)
#[tokio::test]
async fn a_first_plan_lists_the_functions_once_instead_of_reading_each() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let layer = support::Realism::start(&[]);
    let n = 100;
    let f = functions_through("listed", &layer, n, |i| {
        format!("{{ handler: f{i}, events: [{{ httpApi: 'GET /f{i}' }}] }}")
    });
    // The emulator is shared with the other tests: how many functions it holds
    // decides whether a listing is worth it (up to 14 pages of 50 for 100 functions).
    let aws = aws().await;
    let mut held = 0;
    let mut pages = aws.lambda.list_functions().into_paginator().send();
    while let Some(page) = pages.next().await {
        held += page.unwrap().functions.unwrap_or_default().len();
    }
    let plan = f.json(&["plan"]);
    let creates = plan["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "create" && c["id"].as_str().unwrap().starts_with("function/"))
        .count();
    assert_eq!(creates, n as usize, "{plan:#}");
    let calls = layer.operations();
    let pages = calls.get("lambda.ListFunctions").copied().unwrap_or(0);
    // 15 pages at most: 15 × 7 GetFunctions is more than the 100 reads they replace.
    assert!((1..=15).contains(&pages), "{calls:#?}");
    if held < 600 {
        for op in ["lambda.GetFunction", "lambda.GetPolicy"] {
            assert_eq!(
                calls.get(op),
                None,
                "{op} of a function the listing did not show: {calls:#?}"
            );
        }
    } else {
        // So many that the listing may stop after 15 pages; then each function is read.
        let reads = calls.get("lambda.GetFunction").copied();
        assert!(
            reads.is_none() || reads == Some(n),
            "{held} functions: {calls:#?}"
        );
    }
}

/// An HTTP API's routes are listed once per run, not once per route written: a
/// first deploy of many routes, a change to some and a remove each list the API's
/// routes and integrations at most once, and write each route with a fixed few calls.
#[test]
fn routes_are_listed_once_per_run_not_once_per_route() {
    if !support::needs(&[Svc::Lambda, Svc::HttpApi]) {
        return;
    }
    let layer = support::Realism::start(&[]);
    let routes = 8;
    let events = |target: &str| -> String {
        (0..routes)
            .map(|i| {
                let function = if i < routes / 2 { "a" } else { target };
                format!("  {function}{i}: {{ handler: h, events: [ {{ httpApi: GET /r{i} }} ] }}\n")
            })
            .collect()
    };
    let f = Fixture::new("routes", "  a: { handler: a }\n");
    // Eight functions a0..a3 and b4..b7, a route each; then b4..b7 renamed c4..c7.
    f.write_at(&events("b"), &[], &layer.endpoint);
    let listings = |calls: &BTreeMap<String, u64>| {
        ["apigateway.GetRoutes", "apigateway.GetIntegrations"]
            .map(|op| calls.get(op).copied().unwrap_or(0))
    };

    let before = layer.operations();
    assert_eq!(f.deploy()["deployment"]["status"], "succeeded");
    let first = layer.operations_since(&before);
    assert!(listings(&first).iter().all(|n| *n <= 1), "{first:#?}");
    assert_eq!(
        first.get("apigateway.CreateRoute"),
        Some(&(routes as u64)),
        "{first:#?}"
    );

    // Half the routes move to other functions: each is pointed at its new target.
    f.write_at(&events("c"), &[], &layer.endpoint);
    let before = layer.operations();
    assert_eq!(f.deploy()["deployment"]["status"], "succeeded");
    let changed = layer.operations_since(&before);
    assert!(listings(&changed).iter().all(|n| *n <= 1), "{changed:#?}");

    let before = layer.operations();
    assert!(mutating(&f.deploy()).is_empty());
    let noop = layer.operations_since(&before);
    assert!(listings(&noop).iter().all(|n| *n <= 1), "{noop:#?}");

    let before = layer.operations();
    f.json(&["remove"]);
    let removed = layer.operations_since(&before);
    assert!(listings(&removed).iter().all(|n| *n <= 1), "{removed:#?}");
}

/// Runs `deploy` in a thread while the alias is watched: the first split seen (after
/// which `during` runs, once) and the command's outcome.
async fn deploy_watching_the_split(
    aws: &sls_rs::cloud::Aws,
    f: &Fixture,
    during: impl AsyncFnOnce(),
) -> (
    Option<(String, BTreeMap<String, f64>)>,
    std::process::Output,
    String,
) {
    let mut cmd = f.command(&["deploy"]);
    let deploy = std::thread::spawn(move || support::run(&mut cmd));
    let mut seen = None;
    while !deploy.is_finished() {
        let (version, weights) = alias_routing(aws, &f.name("api")).await;
        if !weights.is_empty() {
            seen = Some((version, weights));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if seen.is_some() {
        during().await;
    }
    let (out, _, stderr) = deploy.join().unwrap();
    (seen, out, stderr)
}

/// Progressive delivery (`deployment: { strategy: canary }`): the alias keeps its
/// version and sends `percent` to the new one, then all of it once the interval passed
/// with its alarm quiet; an alarm in ALARM mid-shift moves it back and fails the
/// deploy naming the alarm, and the next deploy shifts anew.
#[tokio::test(flavor = "multi_thread")]
async fn a_canary_shifts_a_share_then_all_and_an_alarm_moves_it_back() {
    if !support::needs(&[Svc::Lambda, Svc::CloudWatch]) {
        return;
    }
    use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
    let aws = aws().await;
    let alarm = format!("{}-errors", support::unique_service("canary"));
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm)
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();
    let set_alarm = |state: StateValue| {
        let (cloudwatch, alarm) = (aws.cloudwatch.clone(), alarm.clone());
        async move {
            cloudwatch
                .set_alarm_state()
                .alarm_name(&alarm)
                .state_value(state)
                .state_reason("set by the test")
                .send()
                .await
                .unwrap();
        }
    };
    set_alarm(StateValue::Ok).await;
    // The interval is the test's window to look at the split (and fire the alarm) in.
    let functions = |interval: &str| {
        format!(
            "  api:\n    handler: api\n    deployment: {{ strategy: canary, percent: 10, interval: {interval}, alarms: [{alarm}] }}\n  worker:\n    handler: worker\n    deployment: {{ strategy: linear, percent: 50, interval: 1s }}\n"
        )
    };
    let f = Fixture::new("canary", &functions("8s"));
    // A new function has nothing to shift from: its alias is made at once.
    f.deploy();
    assert_eq!(alias_routing(&aws, &f.name("api")).await.0, "1");

    f.write(&functions("8s"), &[("api", "v2"), ("worker", "v2")]);
    let mut during = Value::Null;
    let (seen, out, stderr) = deploy_watching_the_split(&aws, &f, async || {
        // `info` shows the split the state records, while the deploy holds the lock.
        during = f.json(&["info"]);
    })
    .await;
    assert!(out.status.success(), "{stderr}");
    let shift = &during["functions"][0]["shift"];
    assert!(shift["percent"] == 10 && shift["to"] == "2", "{during}");
    assert_eq!(
        during["functions"][0]["split"],
        serde_json::json!({ "2": 10 }),
        "the split as the alias says: {during}"
    );
    let (version, weights) = seen.expect("the alias was split during the deploy");
    assert_eq!(version, "1", "the old version keeps the rest");
    assert_eq!(weights, BTreeMap::from([("2".to_string(), 0.1)]));
    assert!(stderr.contains("10% of `live` to version 2"), "{stderr}");
    // The linear one took its step of 50% on its own clock, and then all.
    assert!(
        stderr.contains("worker: 50% of `live` to version 2")
            && stderr.contains("worker: all of `live` to version 2"),
        "{stderr}"
    );
    assert_eq!(alias_routing(&aws, &f.name("worker")).await.0, "2");
    assert_eq!(
        alias_routing(&aws, &f.name("api")).await,
        ("2".to_string(), BTreeMap::new()),
        "all of it on the new version, the split gone"
    );
    let state = state_object(&aws, &f).await;
    let api = &state["resources"]["function/api"];
    assert_eq!(api["live"], "2", "{api}");
    assert!(api["shift"].is_null(), "no shift left in progress: {api}");

    // The alarm fires mid-shift: back to version 2, the deploy fails naming it.
    f.write(&functions("20s"), &[("api", "v3"), ("worker", "v3")]);
    let (seen, out, stderr) = deploy_watching_the_split(&aws, &f, async || {
        // The linear one completes first (its 1 s step), the alarm comes after.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        set_alarm(StateValue::Alarm).await
    })
    .await;
    assert!(seen.is_some(), "the alias was split: {stderr}");
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&alarm) && stderr.contains("back at its previous version"),
        "{stderr}"
    );
    assert_eq!(
        alias_routing(&aws, &f.name("api")).await,
        ("2".to_string(), BTreeMap::new())
    );
    // Every alias the deploy shifted goes back, the one whose shift had completed too.
    assert!(
        stderr.contains("worker: all of `live` to version 3"),
        "worker completed before the alarm: {stderr}"
    );
    assert_eq!(
        alias_routing(&aws, &f.name("worker")).await,
        ("2".to_string(), BTreeMap::new())
    );
    let state = state_object(&aws, &f).await;
    let api = &state["resources"]["function/api"];
    assert!(api["live"] == "2" && api["shift"].is_null(), "{api}");

    // An alarm already in ALARM: the deploy stops before it changes anything.
    let history = state_object(&aws, &f).await["deployments"]
        .as_array()
        .map(Vec::len);
    let (seen, out, stderr) = deploy_watching_the_split(&aws, &f, async || {}).await;
    assert!(seen.is_none() && !out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no traffic moved") && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    assert_eq!(
        state_object(&aws, &f).await["deployments"]
            .as_array()
            .map(Vec::len),
        history,
        "no deployment begun"
    );

    // Quiet again: the next deploy shifts anew and completes.
    set_alarm(StateValue::Ok).await;
    f.write(&functions("2s"), &[("api", "v3"), ("worker", "v3")]);
    let (seen, out, stderr) = deploy_watching_the_split(&aws, &f, async || {}).await;
    assert!(out.status.success(), "{stderr}");
    assert_eq!(seen.map(|s| s.0).as_deref(), Some("2"));
    assert_eq!(alias_routing(&aws, &f.name("api")).await.0, "3");
    f.json(&["remove", "--force"]);
    aws.cloudwatch
        .delete_alarms()
        .alarm_names(&alarm)
        .send()
        .await
        .unwrap();
}

/// The alarms sls-rs makes (`alarms: [{ errors: 0 }, …]`): made with the function, on
/// its `live` alias's metrics and carrying the service's tags; pointed at the version
/// taking over (and set OK) before a shift's first step; one in ALARM mid-shift moves
/// the alias back and fails the deploy naming it; a console edit is drift; one dropped
/// from the manifest is deleted, and `remove` takes the rest.
#[tokio::test(flavor = "multi_thread")]
async fn the_alarms_sls_rs_makes_watch_the_new_version_and_move_a_canary_back() {
    if !support::needs(&[Svc::Lambda, Svc::CloudWatch]) {
        return;
    }
    use aws_sdk_cloudwatch::types::StateValue;
    let aws = aws().await;
    let functions = |interval: &str, alarms: &str| {
        format!(
            "  api:\n    handler: api\n    deployment: {{ strategy: canary, percent: 10, interval: {interval}, alarms: [{alarms}] }}\n"
        )
    };
    let all = "{ errors: 0 }, { p99Duration: 800ms }, { throttles: 2 }";
    let f = Fixture::new("ownalarms", &functions("20s", all));
    let errors = format!("{}-errors", f.name("api"));
    let p99 = format!("{}-p99-duration", f.name("api"));
    let throttles = format!("{}-throttles", f.name("api"));
    // An alarm of that name that is not the service's is refused, not taken over.
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(&throttles)
        .namespace("AWS/Lambda")
        .metric_name("Throttles")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(9.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    let (out, _, stderr) = support::run(&mut f.command(&["deploy"]));
    assert!(
        !out.status.success() && stderr.contains(&throttles),
        "{stderr}"
    );
    aws.cloudwatch
        .delete_alarms()
        .alarm_names(&throttles)
        .send()
        .await
        .unwrap();
    f.deploy();
    let describe = async |name: &str| {
        aws.cloudwatch
            .describe_alarms()
            .alarm_names(name)
            .send()
            .await
            .unwrap()
            .metric_alarms()
            .first()
            .cloned()
    };
    let dimensions = |alarm: &aws_sdk_cloudwatch::types::MetricAlarm| -> BTreeMap<String, String> {
        alarm
            .dimensions()
            .iter()
            .map(|d| {
                (
                    d.name().unwrap().to_string(),
                    d.value().unwrap().to_string(),
                )
            })
            .collect()
    };
    let alarm = describe(&errors).await.expect("the errors alarm is made");
    assert_eq!(
        (
            alarm.namespace(),
            alarm.metric_name(),
            alarm.statistic().map(|s| s.as_str()),
            alarm.threshold(),
            alarm.period(),
        ),
        (
            Some("AWS/Lambda"),
            Some("Errors"),
            Some("Sum"),
            Some(0.0),
            Some(60)
        )
    );
    assert_eq!(
        dimensions(&alarm),
        BTreeMap::from([
            ("FunctionName".to_string(), f.name("api")),
            ("Resource".to_string(), format!("{}:live", f.name("api"))),
        ]),
        "the alias's traffic, no version yet"
    );
    let alarm = describe(&p99).await.expect("the duration alarm is made");
    assert_eq!(
        (alarm.extended_statistic(), alarm.threshold()),
        (Some("p99"), Some(800.0))
    );
    let alarm = describe(&throttles)
        .await
        .expect("the throttles alarm is made");
    assert_eq!(alarm.threshold(), Some(2.0));
    let tags = aws
        .cloudwatch
        .list_tags_for_resource()
        .resource_arn(alarm.alarm_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == Some("sls-rs:service") && t.value() == Some(f.service.as_str())),
        "{tags:?}"
    );

    // Mid-shift the alarms watch version 2 alone; the errors one fires: back to 1.
    f.write(&functions("20s", all), &[("api", "v2")]);
    let mut watched = None;
    let mut alias_wide = None;
    let (seen, out, stderr) = deploy_watching_the_split(&aws, &f, async || {
        let alarm = describe(&errors).await.unwrap();
        watched = Some((dimensions(&alarm), alarm.state_value().cloned()));
        alias_wide = Some(dimensions(&describe(&throttles).await.unwrap()));
        aws.cloudwatch
            .set_alarm_state()
            .alarm_name(&errors)
            .state_value(StateValue::Alarm)
            .state_reason("set by the test")
            .send()
            .await
            .unwrap();
    })
    .await;
    assert!(seen.is_some() && !out.status.success(), "{stderr}");
    let (dims, state) = watched.unwrap();
    assert_eq!(dims.get("ExecutedVersion").map(String::as_str), Some("2"));
    assert_eq!(
        state,
        Some(StateValue::Ok),
        "set OK when pointed at the new version"
    );
    assert!(
        !alias_wide.unwrap().contains_key("ExecutedVersion"),
        "throttles are the alias's: refused before any version runs"
    );
    assert!(
        stderr.contains(&errors) && stderr.contains("back at its previous version"),
        "{stderr}"
    );
    assert_eq!(alias_routing(&aws, &f.name("api")).await.0, "1");

    // A console edit of one is drift; a deploy (its alarm OK again as it judges the
    // version anew) shifts, repairs it and completes.
    let edited = describe(&throttles).await.unwrap();
    aws.cloudwatch
        .put_metric_alarm()
        .alarm_name(&throttles)
        .namespace("AWS/Lambda")
        .metric_name("Throttles")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .set_dimensions(Some(edited.dimensions().to_vec()))
        .period(60)
        .evaluation_periods(1)
        .threshold(50.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    f.write(&functions("1s", all), &[("api", "v2")]);
    let plan = f.json(&["plan"]);
    let change = planned(&plan, "alarm/api.throttles");
    // The edit left out TreatMissingData too (CloudWatch's default: `missing`).
    assert_eq!(
        change["drift"],
        serde_json::json!(["evaluation", "threshold"]),
        "{change}"
    );
    let (seen, out, stderr) = deploy_watching_the_split(&aws, &f, async || {}).await;
    assert!(seen.is_some() && out.status.success(), "{stderr}");
    assert_eq!(alias_routing(&aws, &f.name("api")).await.0, "2");
    assert_eq!(describe(&throttles).await.unwrap().threshold(), Some(2.0));

    // One dropped goes; a changed one keeps the version it watches.
    f.write(&functions("1s", "{ errors: 3 }"), &[("api", "v2")]);
    f.deploy();
    assert!(describe(&p99).await.is_none() && describe(&throttles).await.is_none());
    let changed = describe(&errors).await.unwrap();
    assert_eq!(changed.threshold(), Some(3.0));
    assert_eq!(
        dimensions(&changed)
            .get("ExecutedVersion")
            .map(String::as_str),
        Some("2")
    );
    // Without a state, remove finds it by its name and tags.
    support::fixture::lose_state(&aws, &f, "us-east-1").await;
    f.json(&["remove", "--force"]);
    assert!(describe(&errors).await.is_none(), "remove deletes it");
}

/// `deploy --no-wait` makes a shift's first step and ends, the deployment recorded as
/// `shifting`; `deploy --continue` takes it on from its recorded step (with `--no-wait`:
/// only what is due), without a build, and closes the deployment once all traffic moved;
/// a step recorded but never made (the alias whole) starts over rather than jumping
/// ahead; a plain deploy of the same version goes on from the recorded step too.
#[tokio::test(flavor = "multi_thread")]
async fn no_wait_leaves_the_shift_to_continue_which_takes_it_on_from_its_step() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let aws = aws().await;
    // The interval is read from the manifest when the shift goes on: 5m keeps a step
    // from being due, 1s makes it due at once.
    let functions = |interval: &str| {
        format!(
            "  api:\n    handler: api\n    deployment: {{ strategy: linear, percent: 50, interval: {interval} }}\n"
        )
    };
    let f = Fixture::new("nowait", &functions("5m"));
    f.deploy();
    // `--continue` builds nothing and plans nothing: no `--package`.
    let continued = |extra: &[&str]| {
        let mut cmd = support::sls_rs();
        cmd.args(["deploy", "--continue", "--json"])
            .args(extra)
            .arg("-c")
            .arg(&f.dir);
        let (out, stdout, stderr) = support::run(&mut cmd);
        assert!(out.status.success(), "{stderr}");
        (
            serde_json::from_str::<Value>(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")),
            stderr,
        )
    };
    let (nothing, _) = continued(&[]);
    assert_eq!(nothing["continued"], serde_json::json!([]), "{nothing}");

    f.write(&functions("5m"), &[("api", "v2")]);
    let report = f.json(&["deploy", "--no-wait"]);
    let left = &report["shifting"][0];
    assert!(
        left["function"] == "api" && left["to"] == "2" && left["percent"] == 50,
        "{report}"
    );
    assert_eq!(report["deployment"]["status"], "shifting", "{report}");
    let split = ("1".to_string(), BTreeMap::from([("2".to_string(), 0.5)]));
    assert_eq!(alias_routing(&aws, &f.name("api")).await, split);
    // Nothing due yet: the split stays, the step is not made again.
    let (report, stderr) = continued(&["--no-wait"]);
    assert_eq!(report["continued"], serde_json::json!(["api"]), "{report}");
    assert_eq!(report["shifting"][0]["percent"], 50, "{report}");
    assert!(!stderr.contains("50% of `live`"), "{stderr}");
    let state = state_object(&aws, &f).await;
    let steps = &state["resources"]["function/api"]["shift"]["steps"];
    assert_eq!(steps.as_array().map(Vec::len), Some(1), "{state}");
    assert_eq!(alias_routing(&aws, &f.name("api")).await, split);

    // A step the state records that the alias does not show (a kill between the two)
    // is made again, not taken as made.
    aws.lambda
        .update_alias()
        .function_name(f.name("api"))
        .name("live")
        .function_version("1")
        .routing_config(aws_sdk_lambda::types::AliasRoutingConfiguration::builder().build())
        .send()
        .await
        .unwrap();
    let (_, stderr) = continued(&["--no-wait"]);
    assert!(stderr.contains("50% of `live` to version 2"), "{stderr}");
    assert_eq!(alias_routing(&aws, &f.name("api")).await, split);

    // Due at once now: all of it; the deployment closes.
    f.write(&functions("1s"), &[("api", "v2")]);
    let (report, stderr) = continued(&[]);
    assert!(stderr.contains("all of `live` to version 2"), "{stderr}");
    assert!(report["shifting"].is_null(), "{report}");
    assert_eq!(report["deployment"]["status"], "succeeded", "{report}");
    assert_eq!(report["deployment"]["functions"]["api"], "2", "{report}");
    assert_eq!(report["deployment"]["changed"], serde_json::json!(["api"]));
    assert_eq!(
        alias_routing(&aws, &f.name("api")).await,
        ("2".to_string(), BTreeMap::new())
    );
    let state = state_object(&aws, &f).await;
    let api = &state["resources"]["function/api"];
    assert!(api["live"] == "2" && api["shift"].is_null(), "{api}");

    // A plain deploy of the version a `--no-wait` began shifting goes on from its step;
    // the `--no-wait` deployment is then superseded, never left `shifting`.
    f.write(&functions("5m"), &[("api", "v3")]);
    f.json(&["deploy", "--no-wait"]);
    f.write(&functions("1s"), &[("api", "v3")]);
    let (out, _, stderr) = support::run(&mut f.command(&["deploy"]));
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("50% of `live`") && stderr.contains("all of `live` to version 3"),
        "{stderr}"
    );
    assert_eq!(alias_routing(&aws, &f.name("api")).await.0, "3");
    let state = state_object(&aws, &f).await;
    let statuses: Vec<&str> = state["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["status"].as_str())
        .collect();
    assert!(!statuses.contains(&"shifting"), "{statuses:?}");
    assert!(statuses.contains(&"superseded"), "{statuses:?}");
}

/// A deploy killed mid-shift leaves the alias split and the state saying so (`info`
/// shows it); the next deploy goes on from the recorded step and completes, and after
/// another kill `rollback` moves the alias back whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_killed_mid_shift_is_finished_by_the_next_and_ended_by_rollback() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let aws = aws().await;
    let functions = |interval: &str| {
        format!(
            "  api:\n    handler: api\n    deployment: {{ strategy: linear, percent: 20, interval: {interval} }}\n"
        )
    };
    let f = Fixture::new("killshift", &functions("30s"));
    f.deploy();
    // Kills a deploy once the alias is split.
    let killed = async |f: &Fixture| {
        let mut child = f
            .command(&["deploy"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let split = loop {
            let (version, weights) = alias_routing(&aws, &f.name("api")).await;
            if !weights.is_empty() || std::time::Instant::now() > deadline {
                break (version, weights);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let _ = child.kill();
        child.wait().unwrap();
        assert!(!split.1.is_empty(), "no split within 60 s");
        split
    };
    f.write(&functions("30s"), &[("api", "v2")]);
    let (version, weights) = killed(&f).await;
    assert_eq!(version, "1");
    assert_eq!(weights, BTreeMap::from([("2".to_string(), 0.2)]));
    let info = f.json(&["info"]);
    let shift = &info["functions"][0]["shift"];
    assert!(shift["to"] == "2" && shift["percent"] == 20, "{info}");

    // The next deploy goes on from the recorded step (20%: the next is 40%), and completes.
    f.write(&functions("1s"), &[("api", "v2")]);
    let (out, _, stderr) = support::run(&mut f.command(&["deploy"]));
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("20% of `live`") && stderr.contains("40% of `live` to version 2"),
        "{stderr}"
    );
    assert_eq!(
        alias_routing(&aws, &f.name("api")).await,
        ("2".to_string(), BTreeMap::new())
    );
    assert!(f.json(&["info"])["functions"][0]["shift"].is_null());

    // Killed again; `rollback` takes the alias back whole to version 2.
    f.write(&functions("30s"), &[("api", "v3")]);
    let (version, _) = killed(&f).await;
    assert_eq!(version, "2");
    let back = f.json(&["rollback"]);
    assert_eq!(
        back["moved"]["api"],
        serde_json::json!(["3", "2"]),
        "{back}"
    );
    assert_eq!(
        alias_routing(&aws, &f.name("api")).await,
        ("2".to_string(), BTreeMap::new())
    );
    assert!(f.json(&["info"])["functions"][0]["shift"].is_null());
    f.json(&["remove", "--force"]);
}

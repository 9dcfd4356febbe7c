//! What sls-rs keeps out of sight and leaves alone, against the emulator through
//! the real binary: secret values in the state and the output, the roles' trust,
//! and the settings other tools put on the service's resources.

use crate::support;

use support::Svc;

use support::fixture::{aws, mutating, planned, Fixture};

/// The state object as stored in the deployment bucket.
async fn state_text(aws: &sls_rs::cloud::Aws, f: &Fixture) -> String {
    support::fixture::stage_object(aws, f, "state.json")
        .await
        .expect("a state")
}

/// Every way a stored hash of `value` could be checked offline: the value itself, its
/// sha256 (plain, and salted as older sls-rs did with any salt the state carries).
fn assert_no_trace(text: &str, value: &str) {
    assert!(!text.contains(value), "the value is in:\n{text}");
    let state: serde_json::Value = serde_json::from_str(text).unwrap();
    let salt = state["salt"].as_str().unwrap_or_default();
    for candidate in [
        value.to_string(),
        format!("\0{value}"),
        format!("{salt}\0{value}"),
        format!("{salt}{value}"),
    ] {
        let hash = sls_rs::build::sha256_hex(candidate.as_bytes());
        assert!(
            !text.contains(&hash[..32]),
            "a hash of the value is in:\n{text}"
        );
    }
    assert!(state.get("salt").is_none(), "{text}");
    assert!(
        !text.contains("\"env."),
        "environment fingerprints are in:\n{text}"
    );
}

#[tokio::test]
async fn the_state_holds_nothing_a_dictionary_attack_could_check() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    const V1: &str = "correct-horse-battery-staple-1";
    const V2: &str = "correct-horse-battery-staple-2";
    let with = |v: &str| {
        format!("  api:\n    handler: api\n    environment:\n      DB_PASSWORD: {{ value: {v}, secret: true }}\n      MODE: plain\n")
    };
    let f = Fixture::new("nofingerprint", &with(V1));
    let aws = aws().await;
    f.deploy();
    assert_no_trace(&state_text(&aws, &f).await, V1);

    // The next run has another key, yet an unchanged value is unchanged.
    let again = f.deploy();
    assert_eq!(mutating(&again), Vec::<String>::new(), "{again}");

    // A new value is seen, deployed and published; still no trace of either value.
    f.write(&with(V2), &[]);
    let report = f.deploy();
    assert_eq!(
        mutating(&report),
        [
            "lambda:UpdateFunctionConfiguration",
            "lambda:PublishVersion",
            "lambda:UpdateAlias"
        ],
        "{report}"
    );
    let text = state_text(&aws, &f).await;
    assert_no_trace(&text, V1);
    assert_no_trace(&text, V2);
    let live = aws
        .lambda
        .get_function_configuration()
        .function_name(f.name("api"))
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.environment.unwrap().variables.unwrap()["DB_PASSWORD"],
        V2
    );

    // A console edit of the value is drift (against the published version), repaired.
    aws.lambda
        .update_function_configuration()
        .function_name(f.name("api"))
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("DB_PASSWORD", "edited-in-the-console")
                .variables("MODE", "plain")
                .variables("LOG_LEVEL", "info")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut cmd = f.command(&["plan", "--json"]);
    let (out, stdout, stderr) = support::run(&mut cmd);
    assert!(out.status.success(), "{stderr}");
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains(V2) && !text.contains("edited-in-the-console"),
            "{text}"
        );
    }
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let change = planned(&plan, "function/api");
    assert_eq!(
        change["drift"],
        serde_json::json!(["env.DB_PASSWORD"]),
        "{change}"
    );
    assert_eq!(change["action"], "update");
    f.deploy();
    assert_eq!(mutating(&f.deploy()), Vec::<String>::new());
    assert_no_trace(&state_text(&aws, &f).await, V2);
}

#[tokio::test]
async fn a_secret_bound_for_another_field_is_refused_and_shown_nowhere() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    const VALUE: &str = "sk_live_correct-horse-battery-staple";
    let clean = "  report:\n    handler: report\n    environment:\n      API_TOKEN: ${env:SLS_RS_SAFETY_TOKEN, unset}\n    events:\n      - schedule: rate(1 day)\n";
    let f = Fixture::new("secretelsewhere", clean);
    let aws = aws().await;
    f.deploy();
    let before = state_text(&aws, &f).await;

    // The same secret, through a variable, into a schedule's input, a description and a tag.
    let manifest = std::fs::read_to_string(f.dir.join("serverless.yaml")).unwrap();
    let leaky = manifest.replace(
        clean,
        "  report:\n    handler: report\n    description: 'token ${self:functions.report.environment.API_TOKEN}'\n    \
         tags: { token: '${env:SLS_RS_SAFETY_TOKEN, unset}' }\n    environment:\n      API_TOKEN: ${env:SLS_RS_SAFETY_TOKEN, unset}\n    \
         events:\n      - schedule: { rate: rate(1 day), input: { token: '${self:functions.report.environment.API_TOKEN}' } }\n",
    );
    assert_ne!(leaky, manifest);
    std::fs::write(f.dir.join("serverless.yaml"), &leaky).unwrap();
    for command in [&["plan", "--json"][..], &["deploy", "--json"][..]] {
        let mut cmd = f.command(command);
        cmd.env("SLS_RS_SAFETY_TOKEN", VALUE);
        let (out, stdout, stderr) = support::run(&mut cmd);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{command:?}:\n{stdout}\n{stderr}"
        );
        for text in [&stdout, &stderr] {
            assert!(
                !text.contains(VALUE),
                "{command:?} shows the secret:\n{text}"
            );
        }
        for key in [
            "functions.report.description",
            "functions.report.tags.token",
            "functions.report.events[0].schedule.input.token",
        ] {
            assert!(
                stdout.contains(key) || stderr.contains(key),
                "{command:?} does not name {key}:\n{stdout}\n{stderr}"
            );
        }
    }
    let after = state_text(&aws, &f).await;
    assert!(!after.contains(VALUE));
    assert_eq!(before, after, "nothing was touched");
}

#[tokio::test]
async fn a_state_machine_role_trusts_only_its_own_state_machine() {
    if !support::needs(&[Svc::Lambda, Svc::StepFunctions]) {
        return;
    }
    let manifest = "  a: { handler: a }\nresources:\n  stateMachines:\n    flow:\n      definition: { StartAt: A, States: { A: { Type: Task, Resource: '${fn:a}', End: true } } }\n";
    let f = Fixture::new("trust", manifest);
    let aws = aws().await;
    f.deploy();
    let role = aws
        .iam
        .get_role()
        .role_name(format!("{}-test-flow-states-us-east-1", f.service))
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let trust = sls_rs::cloud::iam_role::decode_policy(&role.assume_role_policy_document.unwrap());
    let machine = format!(
        "arn:aws:states:us-east-1:{}:stateMachine:{}-test-flow",
        aws.account, f.service
    );
    assert_eq!(
        trust["Statement"][0]["Condition"],
        serde_json::json!({
            "StringEquals": { "aws:SourceAccount": aws.account },
            "ArnLike": { "aws:SourceArn": machine }
        }),
        "{trust:#}"
    );
    // The state machine that role serves is the one deployed under that ARN.
    let described = aws
        .sfn
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(described.role_arn, role.arn);
    // Lambda's roles keep the plain trust Lambda can always satisfy.
    let lambda_role = aws
        .iam
        .get_role()
        .role_name(f.role("a"))
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let trust =
        sls_rs::cloud::iam_role::decode_policy(&lambda_role.assume_role_policy_document.unwrap());
    assert_eq!(trust, sls_rs::model::lambda_trust_policy());
    assert_eq!(mutating(&f.deploy()), Vec::<String>::new());
}

/// The bucket's lifecycle rules: (id, expiry days, prefix).
async fn lifecycle_rules(aws: &sls_rs::cloud::Aws, bucket: &str) -> Vec<(String, i32, String)> {
    match aws
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => {
            let mut rules: Vec<(String, i32, String)> = out
                .rules()
                .iter()
                .map(|r| {
                    (
                        r.id().unwrap_or_default().to_string(),
                        r.expiration().and_then(|e| e.days()).unwrap_or_default(),
                        r.filter()
                            .and_then(|f| f.prefix())
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
                .collect();
            rules.sort();
            rules
        }
        Err(_) => vec![],
    }
}

#[tokio::test]
async fn lifecycle_rules_other_tools_added_survive_deploys() {
    if !support::needs(&[Svc::Sts, Svc::S3]) {
        return;
    }
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
        LifecycleRuleFilter,
    };
    let with = |lifecycle: &str| {
        format!("resources:\n  buckets:\n    files: {{ {lifecycle}deletionPolicy: delete }}\n")
    };
    let f = Fixture::new(
        "lifecycle",
        &with("lifecycle: { expireAfterDays: 30, prefix: tmp/ }, "),
    );
    let aws = aws().await;
    f.deploy();
    let bucket = format!("{}-test-files-{}-us-east-1", f.service, aws.account);

    // Another tool adds its rule beside ours, writing the configuration whole as S3 wants.
    let mut rules = aws
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap()
        .rules
        .unwrap_or_default();
    rules.push(
        LifecycleRule::builder()
            .id("archive-logs")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
            .expiration(LifecycleExpiration::builder().days(365).build())
            .build()
            .unwrap(),
    );
    aws.s3
        .put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let foreign = ("archive-logs".to_string(), 365, "logs/".to_string());
    // Not ours, so not drift: nothing to do.
    assert_eq!(mutating(&f.deploy()), Vec::<String>::new());

    // Our expiry changes; theirs stays.
    f.write(
        &with("lifecycle: { expireAfterDays: 7, prefix: tmp/ }, "),
        &[],
    );
    let report = f.deploy();
    assert_eq!(
        mutating(&report),
        ["s3:PutBucketLifecycleConfiguration"],
        "{report}"
    );
    assert_eq!(
        lifecycle_rules(&aws, &bucket).await,
        [
            foreign.clone(),
            ("sls-rs-expiry".to_string(), 7, "tmp/".to_string())
        ]
    );

    // Our expiry goes; theirs stays.
    f.write(&with(""), &[]);
    f.deploy();
    assert_eq!(lifecycle_rules(&aws, &bucket).await, [foreign]);
    assert_eq!(mutating(&f.deploy()), Vec::<String>::new());
    f.json(&["remove"]);
}

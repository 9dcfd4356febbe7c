//! One stage of one service in two regions of one account: IAM is global, so
//! each region's deployment must own its own roles. Against the emulator,
//! through the real binary, read back with the SDK.

use crate::support;

use support::Svc;

use serde_json::Value;

use sls_rs::cloud::{iam_role, Aws, Target};
use support::fixture::{aws, mutating, Fixture};

const OTHER: &str = "eu-west-1";

const SERVICE: &str = "  a:\n    handler: a\n    permissions:\n      - { table: t, access: read }\nresources:\n  tables:\n    t: { partitionKey: { name: id, type: S }, deletionPolicy: delete }\n";

async fn aws_in(region: &str) -> Aws {
    let target = Target {
        region: region.into(),
        endpoint: Some(support::emulator().endpoint.clone()),
        profile: None,
    };
    Aws::connect(&target).await.unwrap()
}

/// The role's inline policy as IAM holds it, and its tags.
async fn role(
    aws: &Aws,
    name: &str,
) -> Option<(Value, std::collections::BTreeMap<String, String>)> {
    iam_role::read(aws, name)
        .await
        .unwrap()
        .map(|r| (r.policy.expect("an inline policy"), r.tags))
}

async fn function_role(aws: &Aws, name: &str) -> Option<String> {
    aws.lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
        .ok()
        .and_then(|c| c.role)
}

#[tokio::test]
async fn two_regions_of_one_stage_each_keep_their_own_roles_and_removing_one_leaves_the_other() {
    if !support::needs(&[Svc::Lambda, Svc::DynamoDb]) {
        return;
    }
    let f = Fixture::new("regions", SERVICE);
    let (east, west) = (aws().await, aws_in(OTHER).await);
    f.deploy();
    f.json(&["deploy", "--region", OTHER]);

    let east_role = f.role("a");
    let west_role = format!("{}-{OTHER}", f.name("a"));
    let (east_policy, east_tags) = role(&east, &east_role).await.expect("the us-east-1 role");
    let (west_policy, west_tags) = role(&east, &west_role).await.expect("the eu-west-1 role");
    let (e, w) = (east_policy.to_string(), west_policy.to_string());
    assert!(
        e.contains(":dynamodb:us-east-1:") && !e.contains(OTHER),
        "{e}"
    );
    assert!(
        w.contains(&format!(":dynamodb:{OTHER}:")) && !w.contains("us-east-1"),
        "{w}"
    );
    assert_eq!(east_tags["sls-rs:region"], "us-east-1");
    assert_eq!(west_tags["sls-rs:region"], OTHER);
    let arn = |role: &str| format!("arn:aws:iam::{}:role/{role}", east.account);
    assert_eq!(
        function_role(&east, &f.name("a")).await,
        Some(arn(&east_role))
    );
    assert_eq!(
        function_role(&west, &f.name("a")).await,
        Some(arn(&west_role))
    );

    // Removing the stage from one region deletes that region's role only.
    let removed = f.json(&["remove", "--region", OTHER]);
    assert!(
        removed["removed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == &Value::String(format!("IAM role {west_role}"))),
        "{removed}"
    );
    assert!(role(&east, &west_role).await.is_none());
    assert!(function_role(&west, &f.name("a")).await.is_none());
    let (after, _) = role(&east, &east_role)
        .await
        .expect("us-east-1 keeps its role");
    assert_eq!(after, east_policy, "untouched, with its own region's ARNs");
    assert_eq!(
        function_role(&east, &f.name("a")).await,
        Some(arn(&east_role))
    );
    // And the remaining region's deployment is exactly as it was.
    let again = f.deploy();
    assert_eq!(mutating(&again), Vec::<String>::new(), "{again}");
}

#[tokio::test]
async fn a_remove_that_lost_its_state_finds_only_its_own_regions_role() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("regionlost", "  a: { handler: a }\n");
    let east = aws().await;
    f.deploy();
    f.json(&["deploy", "--region", OTHER]);
    // The eu-west-1 state is lost, as if its deploy had died before its first save.
    let west = aws_in(OTHER).await;
    support::fixture::lose_state(&west, &f, OTHER).await;
    let removed = f.json(&["remove", "--region", OTHER]);
    let west_role = format!("{}-{OTHER}", f.name("a"));
    assert!(
        removed["removed"]
            .as_array()
            .unwrap()
            .contains(&Value::String(format!("IAM role {west_role}"))),
        "{removed}"
    );
    assert!(role(&east, &west_role).await.is_none());
    assert!(role(&east, &f.role("a")).await.is_some());
    assert_eq!(mutating(&f.deploy()), Vec::<String>::new());
}

#[tokio::test]
async fn a_role_deployed_under_its_old_name_is_replaced_and_the_old_one_kept_for_other_regions() {
    if !support::needs(&[Svc::Lambda]) {
        return;
    }
    let f = Fixture::new("rolename", SERVICE);
    let aws = aws().await;
    f.deploy();
    // Make the deployment look like one from before role names carried the region:
    // the role is `{service}-{stage}-{function}`, the function runs under it.
    let legacy = f.name("a");
    let (policy, _) = role(&aws, &f.role("a")).await.unwrap();
    let trust = serde_json::to_string(&sls_rs::model::lambda_trust_policy()).unwrap();
    let tag = |k: &str, v: &str| {
        aws_sdk_iam::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .unwrap()
    };
    aws.iam
        .create_role()
        .role_name(&legacy)
        .assume_role_policy_document(trust)
        .tags(tag("sls-rs:service", &f.service))
        .tags(tag("sls-rs:stage", "test"))
        .send()
        .await
        .unwrap();
    aws.iam
        .put_role_policy()
        .role_name(&legacy)
        .policy_name("sls-rs")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let legacy_arn = format!("arn:aws:iam::{}:role/{legacy}", aws.account);
    aws.lambda
        .update_function_configuration()
        .function_name(f.name("a"))
        .role(&legacy_arn)
        .send()
        .await
        .unwrap();
    // Version 2 runs under the old role, live, as a deployment recorded it.
    let v2 = aws
        .lambda
        .publish_version()
        .function_name(f.name("a"))
        .send()
        .await
        .unwrap()
        .version
        .unwrap();
    aws.lambda
        .update_alias()
        .function_name(f.name("a"))
        .name("live")
        .function_version(&v2)
        .send()
        .await
        .unwrap();
    iam_role::delete(&aws, &f.role("a")).await.unwrap();
    let mut state: Value = serde_json::from_str(
        &support::fixture::stage_object(&aws, &f, "state.json")
            .await
            .unwrap(),
    )
    .unwrap();
    state["resources"]["role/a"]["physical"] = legacy.clone().into();
    state["resources"]["role/a"]["props"]
        .as_object_mut()
        .unwrap()
        .remove("tags.sls-rs:region");
    state["resources"]["function/a"]["props"]["role"] = legacy_arn.clone().into();
    state["resources"]["function/a"]["version"] = v2.clone().into();
    state["resources"]["function/a"]["live"] = v2.clone().into();
    let mut old_deployment = state["deployments"][0].clone();
    old_deployment["id"] = "20260101T000000Z-1".into();
    old_deployment["functions"]["a"] = v2.clone().into();
    state["deployments"]
        .as_array_mut()
        .unwrap()
        .push(old_deployment);
    support::fixture::put_stage_object(&aws, &f, "state.json", serde_json::to_vec(&state).unwrap())
        .await;

    let (out, human, _) = support::run(&mut f.command(&["plan"]));
    assert!(out.status.success());
    assert!(
        human.contains(&format!("replaces {legacy} (the name changes)")),
        "{human}"
    );
    let report = f.deploy();
    assert_eq!(report["deployment"]["status"], "succeeded");
    let calls = mutating(&report);
    let at = |op: &str| {
        calls
            .iter()
            .position(|c| c == op)
            .unwrap_or_else(|| panic!("no {op} in {calls:?}"))
    };
    // New role first, the function moved to it, traffic cut over.
    assert!(at("iam:CreateRole") < at("lambda:UpdateFunctionConfiguration"));
    assert!(at("lambda:UpdateFunctionConfiguration") < at("lambda:UpdateAlias"));
    // The old role has no region tag: the stage in another region may run under it
    // (IAM is global), so it is kept and listed, never deleted.
    assert!(!calls.contains(&"iam:DeleteRole".to_string()), "{calls:?}");
    assert!(
        report["retained"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains(&format!(
                "IAM role {legacy} (it predates region-unique role names"
            ))),
        "{report}"
    );
    assert!(role(&aws, &legacy).await.is_some(), "the old role stays");
    let (now, tags) = role(&aws, &f.role("a")).await.unwrap();
    assert_eq!(now, policy);
    assert_eq!(tags["sls-rs:region"], "us-east-1");
    assert_eq!(
        function_role(&aws, &f.name("a")).await,
        Some(format!("arn:aws:iam::{}:role/{}", aws.account, f.role("a")))
    );
    assert_eq!(mutating(&f.deploy()), Vec::<String>::new());

    // Back to the version that ran under the old role: it still exists, so rollback works.
    let back = f.json(&["rollback"]);
    assert_eq!(back["moved"]["a"][1], serde_json::json!(v2), "{back}");
    assert_eq!(
        support::fixture::alias_version(&aws, &f.name("a")).await,
        Some(v2)
    );
}

/// The stateless-remove test above with a state machine's role instead of a function's
/// (no function: LocalStack without Docker serves it): each region's machine has its
/// own role, and a remove that lost its state takes only its own region's.
#[tokio::test]
async fn a_state_machine_role_per_region_and_a_stateless_remove_takes_only_its_own() {
    if !support::needs(&[Svc::Sts, Svc::S3, Svc::Iam, Svc::Logs, Svc::StepFunctions]) {
        return;
    }
    let manifest =
        "resources:\n  stateMachines:\n    flow: { definition: { StartAt: P, States: { P: { Type: Pass, End: true } } } }\n";
    let f = Fixture::new("regionsm", manifest);
    let east = aws().await;
    f.deploy();
    f.json(&["deploy", "--region", OTHER]);
    let east_role = format!("{}-test-flow-states-us-east-1", f.service);
    let west_role = format!("{}-test-flow-states-{OTHER}", f.service);
    let west = aws_in(OTHER).await;
    for (aws, region, role_name) in [(&east, "us-east-1", &east_role), (&west, OTHER, &west_role)] {
        let machine = format!(
            "arn:aws:states:{region}:{}:stateMachine:{}-test-flow",
            aws.account, f.service
        );
        let described = aws
            .sfn
            .describe_state_machine()
            .state_machine_arn(&machine)
            .send()
            .await
            .unwrap();
        assert!(
            described
                .role_arn()
                .ends_with(&format!(":role/{role_name}")),
            "{region}: {}",
            described.role_arn()
        );
    }
    // The eu-west-1 state is lost, as if its deploy had died before its first save.
    support::fixture::lose_state(&west, &f, OTHER).await;
    let removed = f.json(&["remove", "--region", OTHER]);
    assert!(
        removed["removed"]
            .as_array()
            .unwrap()
            .contains(&Value::String(format!("IAM role {west_role}"))),
        "{removed}"
    );
    assert!(role(&east, &west_role).await.is_none());
    assert!(role(&east, &east_role).await.is_some());
    assert_eq!(mutating(&f.deploy()), Vec::<String>::new());
    f.json(&["remove"]);
    assert!(role(&east, &east_role).await.is_none());
}

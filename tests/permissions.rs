//! Invoke permissions and role policies while a deploy changes them: against the
//! emulator through the real binary, read back with the SDK.

use crate::support;

use support::Svc;

use serde_json::Value;

use support::fixture::{aws, mutating, Fixture};

/// The statements of the function's `live` resource policy.
async fn statements(aws: &sls_rs::cloud::Aws, function: &str) -> Vec<Value> {
    let policy = aws
        .lambda
        .get_policy()
        .function_name(function)
        .qualifier("live")
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    serde_json::from_str::<Value>(&policy).unwrap()["Statement"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_changed_trigger_permission_is_added_before_the_old_one_goes() {
    if !support::needs(&[Svc::Lambda, Svc::DynamoDb]) {
        return;
    }
    let f = Fixture::new(
        "permswap",
        "  tick:\n    handler: tick\n    events:\n      - schedule: rate(5 minutes)\n",
    );
    f.deploy();
    let aws = aws().await;
    let function = f.name("tick");
    let base = format!("sls-rs-{function}-schedule");
    let rule_arn = format!(
        "arn:aws:events:us-east-1:{}:rule/{function}-schedule",
        aws.account
    );
    let ours = statements(&aws, &function).await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    let sid = ours[0]["Sid"].as_str().unwrap().to_string();
    assert!(sid.starts_with(&format!("{base}__")), "{sid}");

    // The statement as an older sls-rs (or a console edit) left it: the bare id, another source.
    aws.lambda
        .remove_permission()
        .function_name(&function)
        .qualifier("live")
        .statement_id(&sid)
        .send()
        .await
        .unwrap();
    aws.lambda
        .add_permission()
        .function_name(&function)
        .qualifier("live")
        .statement_id(&base)
        .action("lambda:InvokeFunction")
        .principal("events.amazonaws.com")
        .source_arn(format!("{rule_arn}-old"))
        .send()
        .await
        .unwrap();

    let report = f.deploy();
    let calls = mutating(&report);
    let at = |op: &str| calls.iter().position(|c| c == op);
    let (add, remove) = (at("lambda:AddPermission"), at("lambda:RemovePermission"));
    assert!(
        add.is_some() && remove.is_some() && add < remove,
        "the new statement first, then the old one goes: {calls:?}"
    );
    let now = statements(&aws, &function).await;
    assert_eq!(
        now.len(),
        1,
        "exactly one statement for the trigger: {now:?}"
    );
    assert_eq!(now[0]["Sid"], sid.as_str());
    assert_eq!(
        now[0]["Condition"]["ArnLike"]["AWS:SourceArn"],
        rule_arn.as_str()
    );
    assert_eq!(mutating(&f.deploy()), Vec::<String>::new());
}

/// The role's inline policy as IAM holds it.
async fn role_policy(aws: &sls_rs::cloud::Aws, role: &str) -> Value {
    sls_rs::cloud::iam_role::read(aws, role)
        .await
        .unwrap()
        .and_then(|r| r.policy)
        .expect("the role has its policy")
}

fn actions(policy: &Value) -> Vec<String> {
    let mut out: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| match &s["Action"] {
            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
            v => vec![v.as_str().unwrap().to_string()],
        })
        .collect();
    out.sort();
    out
}

const GRANT: &str = "  a:\n    handler: a\n    permissions:\n      - { table: t, access: ACCESS }\nresources:\n  tables:\n    t: { partitionKey: { name: id, type: S }, deletionPolicy: delete }\n";

#[tokio::test]
async fn a_changed_grant_is_the_union_until_cutover_then_the_new_one_and_rollback_restores_the_old()
{
    if !support::needs(&[Svc::Lambda, Svc::Sqs]) {
        return;
    }
    let f = Fixture::new("grants", &GRANT.replace("ACCESS", "read"));
    f.deploy();
    let aws = aws().await;
    let role = f.role("a");
    let old = role_policy(&aws, &role).await;
    let has = |p: &Value, action: &str| actions(p).iter().any(|a| a == action);
    assert!(has(&old, "dynamodb:GetItem") && !has(&old, "dynamodb:PutItem"));

    // A deploy that changes the grant and the code, stopped after phase 1 wrote the role:
    // version 1 is still live and keeps what it uses, next to what version 2 will need.
    f.write(&GRANT.replace("ACCESS", "write"), &[("a", "v2")]);
    f.deploy_killed_after(1);
    assert_eq!(
        support::fixture::alias_version(&aws, &f.name("a"))
            .await
            .as_deref(),
        Some("1"),
        "stopped before cutover"
    );
    let during = role_policy(&aws, &role).await;
    assert!(
        has(&during, "dynamodb:GetItem") && has(&during, "dynamodb:PutItem"),
        "{during}"
    );

    // The next deploy finishes: after cutover the role has exactly the new policy.
    let report = f.deploy();
    assert_eq!(report["deployment"]["status"], "succeeded");
    let new = role_policy(&aws, &role).await;
    assert_eq!(
        new,
        f.json(&["policy", "-f", "a"]),
        "exactly the generated policy"
    );
    assert!(!has(&new, "dynamodb:GetItem"));
    assert_eq!(
        support::fixture::alias_version(&aws, &f.name("a"))
            .await
            .as_deref(),
        Some("2")
    );
    assert_eq!(mutating(&f.deploy()), Vec::<String>::new());

    // Rollback moves the alias back and restores the policy version 1 ran with.
    f.json(&["rollback"]);
    assert_eq!(
        support::fixture::alias_version(&aws, &f.name("a"))
            .await
            .as_deref(),
        Some("1")
    );
    assert_eq!(role_policy(&aws, &role).await, old);
    // The state knows it: a deploy of the manifest (write) is a policy update again.
    let plan = f.json(&["plan"]);
    assert!(
        plan["plan"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "role/a"
                && c["action"] == "update"
                && c["drift"].as_array().unwrap().is_empty()),
        "{plan}"
    );
}

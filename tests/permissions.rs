//! Invoke permissions and role policies while a deploy changes them: against the
//! emulator through the real binary, read back with the SDK.

mod support;

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

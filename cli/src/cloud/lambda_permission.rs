//! One statement of a function's resource policy on its `live` alias: who may
//! invoke it (API Gateway, S3, EventBridge), from exactly which source, or
//! anyone through its public function URL.

use serde_json::Value;

use aws_sdk_lambda::operation::add_permission::AddPermissionOutput;

use super::create::{create_once, no_retries};
use super::{aws_error, has_code, Aws};
use crate::model::{
    PermissionSpec, Props, INVOKE, LIVE_ALIAS, URL_AUTH_CONDITION, VIA_URL_CONDITION,
};

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// The function and statement id of `model::permission_physical`.
fn parse(physical: &str) -> Option<(&str, &str)> {
    let (function, sid) = physical.split_once('#')?;
    Some((function.strip_suffix(&format!(":{LIVE_ALIAS}"))?, sid))
}

/// The function whose policy holds the statement.
pub fn function_of(physical: &str) -> Option<&str> {
    parse(physical).map(|(function, _)| function)
}

fn what(physical: &str) -> String {
    format!("invoke permission ({physical})")
}

/// Statement ids of one trigger: `{base}` (as written before ids carried a hash)
/// or `{base}__{8 hex digits}`. No base ends so (they end in a bucket name, which
/// has no `_`, in `-schedule[-N]`, in `http-api`, `url` or `url-invoke`).
fn is_of(sid: &str, base: &str) -> bool {
    sid == base
        || sid
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix("__"))
            .is_some_and(|hash| hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The statement id for this content: a change of source is a new statement,
/// added before the old one goes, so the trigger is never without one.
pub fn statement_id(spec: &PermissionSpec) -> String {
    let mut content = format!(
        "{}\0{}\0{}",
        spec.principal,
        spec.source_arn,
        spec.source_account.as_deref().unwrap_or_default()
    );
    // A trigger's statement keeps the id it had before URLs existed.
    if spec.action != INVOKE || spec.url_auth_type.is_some() || spec.via_url {
        let auth = spec.url_auth_type.unwrap_or_default();
        content.push_str(&format!("\0{}\0{auth}\0{}", spec.action, spec.via_url));
    }
    let hash = crate::build::sha256_hex(content.as_bytes());
    format!("{}__{}", spec.statement_id, &hash[..8])
}

/// The statements of one trigger in the alias's resource policy; empty when the
/// function, its alias or the policy is missing.
async fn statements(aws: &Aws, physical: &str) -> anyhow::Result<Vec<Value>> {
    let Some((function, base)) = parse(physical) else {
        return Ok(vec![]);
    };
    let policy = match aws
        .lambda
        .get_policy()
        .function_name(function)
        .qualifier(LIVE_ALIAS)
        .send()
        .await
    {
        Ok(out) => out.policy.unwrap_or_default(),
        Err(e) if has_code(&e, NOT_FOUND) => return Ok(vec![]),
        Err(e) => return Err(aws_error(&what(physical), "lambda:GetPolicy", e)),
    };
    let policy: Value = serde_json::from_str(&policy).unwrap_or(Value::Null);
    Ok(policy["Statement"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|s| s["Sid"].as_str().is_some_and(|sid| is_of(sid, base)))
                .cloned()
                .collect()
        })
        .unwrap_or_default())
}

fn props(statement: &Value) -> Props {
    let principal = match &statement["Principal"] {
        Value::String(s) => s.clone(),
        p => p["Service"].as_str().unwrap_or_default().to_string(),
    };
    let condition = &statement["Condition"];
    // Lambda writes a URL's conditions under `Condition`; moto keeps the request's keys.
    let url_auth = condition["StringEquals"][URL_AUTH_CONDITION]
        .as_str()
        .or(statement["FunctionUrlAuthType"].as_str());
    let via_url = [
        &condition["Bool"][VIA_URL_CONDITION],
        &statement["InvokedViaFunctionUrl"],
    ]
    .iter()
    .any(|v| v.as_str() == Some("true") || v.as_bool() == Some(true));
    let action = match &statement["Action"] {
        Value::Array(all) => all.first().and_then(Value::as_str),
        one => one.as_str(),
    };
    let mut p = Props::new();
    p.insert("principal".into(), principal);
    p.insert(
        "sourceArn".into(),
        condition["ArnLike"]["AWS:SourceArn"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    p.insert(
        "sourceAccount".into(),
        condition["StringEquals"]["AWS:SourceAccount"]
            .as_str()
            .unwrap_or("any")
            .to_string(),
    );
    if let Some(action) = action.filter(|a| *a != INVOKE) {
        p.insert("action".into(), action.into());
    }
    if let Some(auth) = url_auth {
        p.insert("functionUrlAuthType".into(), auth.into());
    }
    if via_url {
        p.insert("invokedViaFunctionUrl".into(), "true".into());
    }
    p
}

/// The statement as it is; `None` when the function, its alias or the statement is missing.
/// Two statements for one trigger (a deploy died between adding the new one and removing
/// the old) read as `extraStatements`, which the plan then removes.
pub async fn read(aws: &Aws, physical: &str) -> anyhow::Result<Option<Props>> {
    let found = statements(aws, physical).await?;
    let Some(last) = found.last() else {
        return Ok(None);
    };
    let mut p = props(last);
    if found.len() > 1 {
        p.insert("extraStatements".into(), (found.len() - 1).to_string());
    }
    Ok(Some(p))
}

/// Makes the trigger's statement the spec's: adds it under its content's id
/// first, then removes the trigger's other statements, so the source keeps a
/// statement throughout. One function's permission writes run one at a time
/// (Lambda refuses concurrent changes to one policy).
pub async fn put(aws: &Aws, physical: &str, spec: &PermissionSpec) -> anyhow::Result<()> {
    let sid = statement_id(spec);
    let lock = aws.policy_lock(&spec.function_name);
    let _writing = lock.lock().await;
    let existing = statements(aws, physical).await?;
    let has_sid = |found: &[Value]| found.iter().any(|s| s["Sid"] == sid.as_str());
    if !has_sid(&existing) {
        // After a lost answer the statement is looked for before it is added again (an
        // emulator would hold it twice); the id carries the content's hash, so a statement
        // of that id is this one.
        let added = create_once(
            || {
                super::retry_on_conflict(|| {
                    aws.lambda
                        .add_permission()
                        .function_name(&spec.function_name)
                        .qualifier(LIVE_ALIAS)
                        .statement_id(&sid)
                        .action(spec.action)
                        .principal(&spec.principal)
                        .set_source_arn(
                            (!spec.source_arn.is_empty()).then(|| spec.source_arn.clone()),
                        )
                        .set_source_account(spec.source_account.clone())
                        .set_function_url_auth_type(spec.url_auth_type.map(Into::into))
                        .set_invoked_via_function_url(spec.via_url.then_some(true))
                        .customize()
                        .config_override(no_retries!(aws_sdk_lambda))
                        .send()
                })
            },
            || async {
                let found = has_sid(&statements(aws, physical).await?);
                Ok(found.then(|| AddPermissionOutput::builder().build()))
            },
        )
        .await?;
        match added {
            Ok(_) => {}
            // "The statement id (…) provided already exists": AWS's answer to the retry.
            Err(e)
                if has_code(&e, &["ResourceConflictException"])
                    && has_sid(&statements(aws, physical).await?) => {}
            Err(e) => return Err(aws_error(&what(physical), "lambda:AddPermission", e)),
        }
    }
    // A statement open to anyone is held to its conditions: one that came back
    // without them (an endpoint that ignored them, a statement of that id put by
    // hand) would let anyone invoke the function, so it is removed, and the run fails.
    if spec.principal == "*" {
        let found = statements(aws, physical).await?;
        let ours = found.iter().find(|s| s["Sid"] == sid.as_str());
        let want = spec.props();
        let got = ours.map(props).unwrap_or_default();
        let keys = [
            "action",
            "functionUrlAuthType",
            "invokedViaFunctionUrl",
            "principal",
        ];
        if keys.iter().any(|k| got.get(*k) != want.get(*k)) {
            remove(aws, &spec.function_name, &sid, physical).await?;
            anyhow::bail!(
                "{}: the public statement {sid} reads back as {got:?}, not {want:?}; it was removed, as it would let anyone invoke the function",
                what(physical)
            );
        }
    }
    for old in existing
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .filter(|s| *s != sid)
    {
        remove(aws, &spec.function_name, old, physical).await?;
    }
    Ok(())
}

async fn remove(aws: &Aws, function: &str, sid: &str, physical: &str) -> anyhow::Result<()> {
    let removed = super::retry_on_conflict(|| {
        aws.lambda
            .remove_permission()
            .function_name(function)
            .qualifier(LIVE_ALIAS)
            .statement_id(sid)
            .send()
    })
    .await;
    match removed {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(aws_error(&what(physical), "lambda:RemovePermission", e)),
    }
}

/// Removes every statement of the trigger.
pub async fn delete(aws: &Aws, physical: &str) -> anyhow::Result<()> {
    let Some((function, _)) = parse(physical) else {
        return Ok(());
    };
    let lock = aws.policy_lock(function);
    let _writing = lock.lock().await;
    for statement in statements(aws, physical).await? {
        if let Some(sid) = statement["Sid"].as_str() {
            remove(aws, function, sid, physical).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Conflicts on one function's policy, against mocked answers: moto never reports them.
    use super::*;
    use aws_sdk_lambda::operation::add_permission::{AddPermissionError, AddPermissionOutput};
    use aws_sdk_lambda::operation::get_policy::GetPolicyOutput;
    use aws_sdk_lambda::operation::remove_permission::RemovePermissionOutput;
    use aws_sdk_lambda::types::error::ResourceConflictException;
    use aws_sdk_lambda::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn spec() -> PermissionSpec {
        PermissionSpec {
            function_name: "shop-dev-f".into(),
            statement_id: "sls-rs-shop-dev-f-schedule".into(),
            principal: "events.amazonaws.com".into(),
            source_arn: "arn:aws:events:us-east-1:123456789012:rule/shop-dev-f-schedule".into(),
            source_account: None,
            action: INVOKE,
            url_auth_type: None,
            via_url: false,
        }
    }

    fn conflict(message: &'static str) -> impl Fn() -> AddPermissionError {
        move || {
            AddPermissionError::ResourceConflictException(
                ResourceConflictException::builder()
                    .message(message)
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("ResourceConflictException")
                            .message(message)
                            .build(),
                    )
                    .build(),
            )
        }
    }

    const PHYSICAL: &str = "shop-dev-f:live#sls-rs-shop-dev-f-schedule";

    #[tokio::test(start_paused = true)]
    async fn a_conflicting_update_in_progress_is_retried_and_the_old_statement_removed_after() {
        // The statement as an older deploy wrote it, under the bare id, with another source.
        let get = mock!(Client::get_policy).then_output(|| {
            GetPolicyOutput::builder()
                .policy(r#"{"Statement":[{"Sid":"sls-rs-shop-dev-f-schedule","Principal":{"Service":"events.amazonaws.com"},"Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:events:us-east-1:123456789012:rule/old"}}},{"Sid":"sls-rs-shop-dev-f-schedule-2__0badc0de"}]}"#)
                .build()
        });
        let add = mock!(Client::add_permission)
            .match_requests(|r| r.statement_id() == Some(statement_id(&spec()).as_str()))
            .sequence()
            .error(conflict("The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:shop-dev-f"))
            .times(2)
            .output(|| AddPermissionOutput::builder().build())
            .build();
        let remove = mock!(Client::remove_permission)
            .match_requests(|r| r.statement_id() == Some("sls-rs-shop-dev-f-schedule"))
            .then_output(|| RemovePermissionOutput::builder().build());
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&get, &add, &remove]), None);
        put(&aws, PHYSICAL, &spec()).await.unwrap();
        assert_eq!(add.num_calls(), 3, "two conflicts, then added");
        // Only this trigger's old statement goes, not another trigger's whose id starts alike.
        assert_eq!(remove.num_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_statement_id_that_already_exists_is_not_waited_for() {
        // Not in the policy before, nor when read again: someone else's statement of that id.
        let get = mock!(Client::get_policy)
            .sequence()
            .output(|| GetPolicyOutput::builder().build())
            .repeatedly()
            .build();
        let add = mock!(Client::add_permission).then_error(conflict(
            "The statement id (sls-rs-x) provided already exists. Please provide a new statement id, or remove the existing statement.",
        ));
        let aws = Aws::with_lambda(
            mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&get, &add]),
            None,
        );
        let err = put(&aws, PHYSICAL, &spec()).await.unwrap_err().to_string();
        assert_eq!(add.num_calls(), 1);
        assert!(
            err.contains("lambda:AddPermission") && err.contains("already exists"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_statement_the_retry_finds_already_added_is_this_runs_own() {
        // The first AddPermission was carried out, its answer lost; the retry meets it.
        let sid = statement_id(&spec());
        let added = format!(
            r#"{{"Statement":[{{"Sid":"{sid}","Principal":{{"Service":"events.amazonaws.com"}}}}]}}"#
        );
        let get = mock!(Client::get_policy)
            .sequence()
            .output(|| GetPolicyOutput::builder().build())
            .output(move || GetPolicyOutput::builder().policy(added.clone()).build())
            .build();
        let add = mock!(Client::add_permission).then_error(conflict(
            "The statement id (sls-rs-x) provided already exists. Please provide a new statement id, or remove the existing statement.",
        ));
        let aws = Aws::with_lambda(
            mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&get, &add]),
            None,
        );
        put(&aws, PHYSICAL, &spec()).await.unwrap();
        assert_eq!((add.num_calls(), get.num_calls()), (1, 2));
    }

    /// A public URL's statements as Lambda writes them in the policy (AWS's documented
    /// shape), read as the props the model asks for.
    #[test]
    fn a_public_urls_statements_read_as_lambda_writes_them() {
        let url: Value = serde_json::from_str(r#"{"Sid":"sls-rs-url__0badc0de","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunctionUrl","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f:live","Condition":{"StringEquals":{"lambda:FunctionUrlAuthType":"NONE"}}}"#).unwrap();
        let via: Value = serde_json::from_str(r#"{"Sid":"sls-rs-url-invoke__0badc0de","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f:live","Condition":{"Bool":{"lambda:InvokedViaFunctionUrl":"true"}}}"#).unwrap();
        let spec = |action, url_auth_type, via_url| PermissionSpec {
            function_name: "f".into(),
            statement_id: "sls-rs-url".into(),
            principal: "*".into(),
            source_arn: String::new(),
            source_account: None,
            action,
            url_auth_type,
            via_url,
        };
        assert_eq!(
            props(&url),
            spec(crate::model::INVOKE_URL, Some("NONE"), false).props()
        );
        assert_eq!(props(&via), spec(INVOKE, None, true).props());
        // Without its condition, the statement reads differently: it is no URL's.
        let mut open = via.clone();
        open["Condition"] = Value::Null;
        assert_ne!(props(&open), spec(INVOKE, None, true).props());
    }

    #[test]
    fn a_triggers_statement_id_is_what_it_was_before_urls() {
        assert_eq!(
            statement_id(&spec()),
            format!(
                "sls-rs-shop-dev-f-schedule__{}",
                &crate::build::sha256_hex(
                    b"events.amazonaws.com\0arn:aws:events:us-east-1:123456789012:rule/shop-dev-f-schedule\0"
                )[..8]
            )
        );
    }

    #[test]
    fn a_statement_id_carries_its_content() {
        let a = statement_id(&spec());
        let mut other = spec();
        other.source_arn.push('x');
        assert_ne!(a, statement_id(&other));
        assert!(a.starts_with("sls-rs-shop-dev-f-schedule__"));
        assert!(is_of(&a, "sls-rs-shop-dev-f-schedule"));
        assert!(!is_of(
            "sls-rs-shop-dev-f-schedule-2__0badc0de",
            "sls-rs-shop-dev-f-schedule"
        ));
    }
}

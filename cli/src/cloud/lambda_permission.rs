//! One statement of a function's resource policy on its `live` alias: who may
//! invoke it (API Gateway, S3, EventBridge), from exactly which source.

use serde_json::Value;

use super::{aws_error, has_code, Aws};
use crate::model::{PermissionSpec, Props, LIVE_ALIAS};

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// The function and statement id of `model::permission_physical`.
fn parse(physical: &str) -> Option<(&str, &str)> {
    let (function, sid) = physical.split_once('#')?;
    Some((function.strip_suffix(&format!(":{LIVE_ALIAS}"))?, sid))
}

fn what(physical: &str) -> String {
    format!("invoke permission ({physical})")
}

/// The statement as it is; `None` when the function, its alias or the statement is missing.
pub async fn read(aws: &Aws, physical: &str) -> anyhow::Result<Option<Props>> {
    let Some((function, sid)) = parse(physical) else {
        return Ok(None);
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
        Err(e) if has_code(&e, NOT_FOUND) => return Ok(None),
        Err(e) => return Err(aws_error(&what(physical), "lambda:GetPolicy", e)),
    };
    let policy: Value = serde_json::from_str(&policy).unwrap_or(Value::Null);
    let Some(statement) = policy["Statement"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["Sid"] == sid))
    else {
        return Ok(None);
    };
    let principal = match &statement["Principal"] {
        Value::String(s) => s.clone(),
        p => p["Service"].as_str().unwrap_or_default().to_string(),
    };
    let condition = &statement["Condition"];
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
    Ok(Some(p))
}

/// Adds the statement, replacing one of the same id.
pub async fn put(aws: &Aws, physical: &str, spec: &PermissionSpec) -> anyhow::Result<()> {
    if read(aws, physical).await?.is_some() {
        delete(aws, physical).await?;
    }
    aws.lambda_rate.acquire().await;
    aws.lambda
        .add_permission()
        .function_name(&spec.function_name)
        .qualifier(LIVE_ALIAS)
        .statement_id(&spec.statement_id)
        .action("lambda:InvokeFunction")
        .principal(&spec.principal)
        .source_arn(&spec.source_arn)
        .set_source_account(spec.source_account.clone())
        .send()
        .await
        .map_err(|e| aws_error(&what(physical), "lambda:AddPermission", e))?;
    Ok(())
}

pub async fn delete(aws: &Aws, physical: &str) -> anyhow::Result<()> {
    let Some((function, sid)) = parse(physical) else {
        return Ok(());
    };
    aws.lambda_rate.acquire().await;
    match aws
        .lambda
        .remove_permission()
        .function_name(function)
        .qualifier(LIVE_ALIAS)
        .statement_id(sid)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(aws_error(&what(physical), "lambda:RemovePermission", e)),
    }
}

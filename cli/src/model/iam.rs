//! IAM documents of a function's own role: least privilege by construction.
//! This part: its log group, X-Ray when traced, and the escape-hatch
//! statements; grants on the service's resources come with those resources.

use serde_json::{json, Value};

use super::{Context, LIVE_ALIAS};
use crate::manifest::{Function, IamStatement, Service};

/// The one inline policy sls-rs keeps on each role.
pub const INLINE_POLICY_NAME: &str = "sls-rs";

/// Only Lambda may assume a function's role.
pub fn lambda_trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }]
    })
}

/// The policy of one function's role. The log group is created by sls-rs, so
/// `logs:CreateLogGroup` is not granted; X-Ray's two actions take no narrower resource than `*`.
pub fn function_policy(
    service: &Service,
    f: &Function,
    log_group: &str,
    tracing: bool,
    cx: &Context,
) -> Value {
    let mut statements = vec![json!({
        "Sid": "OwnLogGroup",
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [format!("{}:logs:{}:{}:log-group:{log_group}:*", cx.partition, cx.region, cx.account)],
    })];
    if tracing {
        statements.push(json!({
            "Sid": "XRay",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": ["*"],
        }));
    }
    let extra = service
        .manifest
        .provider
        .iam
        .role
        .statements
        .iter()
        .chain(&f.iam_role_statements);
    statements.extend(extra.map(|s| escape_hatch(service, s, cx)));
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// A user's raw statement, with the references deploy knows resolved.
fn escape_hatch(service: &Service, s: &IamStatement, cx: &Context) -> Value {
    let resolve = |text: &String| {
        let mut out = text.replace("${aws:accountId}", cx.account);
        for name in service.manifest.functions.keys() {
            let fn_name = service.function_name(name);
            let arn = format!(
                "{}:lambda:{}:{}:function:{fn_name}",
                cx.partition, cx.region, cx.account
            );
            out = out.replace(
                &format!("${{fn:{name}.arn}}"),
                &format!("{arn}:{LIVE_ALIAS}"),
            );
            out = out.replace(&format!("${{fn:{name}.name}}"), &fn_name);
            out = out.replace(&format!("${{fn:{name}}}"), &format!("{arn}:{LIVE_ALIAS}"));
        }
        out
    };
    let mut v = json!({
        "Effect": s.effect,
        "Action": s.action,
        "Resource": s.resource.iter().map(resolve).collect::<Vec<_>>(),
    });
    if let Some(sid) = &s.sid {
        v["Sid"] = json!(sid);
    }
    if let Some(condition) = &s.condition {
        v["Condition"] = condition.clone();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::super::tests::service;
    use super::*;

    #[test]
    fn logs_on_its_own_group_only_and_xray_when_traced() {
        let s = service("service: shop\nprovider: { name: aws, tracing: { lambda: true } }\nfunctions:\n  f: { handler: f }\n");
        let cx = Context {
            account: "123456789012",
            region: "eu-west-1",
            partition: "arn:aws",
            env_salt: "salt",
        };
        let p = function_policy(
            &s,
            &s.manifest.functions["f"],
            "/aws/lambda/shop-dev-f",
            true,
            &cx,
        );
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(
            st[0]["Action"],
            json!(["logs:CreateLogStream", "logs:PutLogEvents"])
        );
        assert_eq!(
            st[0]["Resource"],
            json!(["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/shop-dev-f:*"])
        );
        assert!(!p.to_string().contains("CreateLogGroup"));
        assert_eq!(
            st[1]["Action"],
            json!(["xray:PutTraceSegments", "xray:PutTelemetryRecords"])
        );
        let untraced = function_policy(
            &s,
            &s.manifest.functions["f"],
            "/aws/lambda/shop-dev-f",
            false,
            &cx,
        );
        assert_eq!(untraced["Statement"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn escape_hatch_statements_are_appended_with_references_resolved() {
        let s = service(
            "service: shop\nprovider:\n  name: aws\n  iam:\n    role:\n      statements:\n        - { Effect: Allow, Action: ssm:GetParameter, Resource: 'arn:aws:ssm:us-east-1:${aws:accountId}:parameter/x' }\nfunctions:\n  f:\n    handler: f\n    iamRoleStatements:\n      - { Effect: Allow, Action: [lambda:InvokeFunction], Resource: '${fn:g}' }\n  g: { handler: g }\n",
        );
        let cx = Context {
            account: "123456789012",
            region: "us-east-1",
            partition: "arn:aws",
            env_salt: "salt",
        };
        let p = function_policy(
            &s,
            &s.manifest.functions["f"],
            "/aws/lambda/shop-dev-f",
            false,
            &cx,
        );
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(
            st[1]["Resource"],
            json!(["arn:aws:ssm:us-east-1:123456789012:parameter/x"])
        );
        assert_eq!(
            st[2]["Resource"],
            json!(["arn:aws:lambda:us-east-1:123456789012:function:shop-dev-g:live"])
        );
        assert_eq!(st[2]["Action"], json!(["lambda:InvokeFunction"]));
    }
}

//! IAM documents of a function's own role: least privilege by construction.
//! Every statement names the exact resources it is for; the only `*` are the
//! actions AWS offers no resource-level permission for (X-Ray, ListStreams, log
//! delivery, EC2's two describes for a function in a VPC).

use serde_json::{json, Value};

use super::names::Names;
use crate::manifest::{
    Access, Effect, Event, Function, IamStatement, Permission, Service, StateMachineType,
};

/// The one inline policy sls-rs keeps on each role.
pub const INLINE_POLICY_NAME: &str = "sls-rs";

/// Only Lambda may assume a function's role.
///
/// No `aws:SourceArn`/`aws:SourceAccount` condition here, unlike the state machines'
/// roles: Lambda documents `aws:SourceArn` only for policies where the function is
/// the target, not for the execution role's trust, and a condition Lambda does not
/// satisfy when it assumes the role (to run the function, poll a queue or stream,
/// or validate the role at CreateFunction) breaks the function. The confused deputy
/// is closed another way: Lambda uses this role only for a function that someone
/// with `iam:PassRole` on it in this account created, and roles cannot be passed
/// across accounts.
pub fn lambda_trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }]
    })
}

/// One statement: `Sid` names what it grants (alphanumeric, as IAM requires).
fn allow(sid: &str, actions: &[&str], resources: Vec<String>) -> Value {
    let sid: String = sid.chars().filter(char::is_ascii_alphanumeric).collect();
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// `todo-items` → `TodoItems`, for statement ids.
fn camel(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

pub const TABLE_READ: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
];
pub const TABLE_WRITE: &[&str] = &[
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DescribeTable",
];
pub const BUCKET_READ: &[&str] = &["s3:GetObject"];
pub const BUCKET_WRITE: &[&str] = &["s3:PutObject", "s3:DeleteObject"];
pub const QUEUE_SEND: &[&str] = &[
    "sqs:SendMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
];
pub const QUEUE_CONSUME: &[&str] = &[
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
];
/// What Lambda's poller needs to deliver an SQS trigger.
const SQS_TRIGGER: &[&str] = &[
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
];
/// What Lambda's poller needs to read a DynamoDB stream.
const STREAM_TRIGGER: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
];

/// The statements of one grant of `permissions:`.
fn grant(names: &Names, p: &Permission) -> Vec<Value> {
    let m = &names.service.manifest;
    let access = p.access;
    let reads = matches!(access, Access::Read | Access::Readwrite);
    let writes = matches!(access, Access::Write | Access::Readwrite);
    let mut out = Vec::new();
    if let Some(t) = &p.table {
        let sid = format!("Table{}", camel(t));
        if reads {
            // Queries and scans of an index are authorised on the index's own ARN.
            let mut resources = vec![names.table_arn(t)];
            let declared = m.resources.tables.get(t);
            if declared.is_some_and(|t| t.existing.is_some()) {
                // An existing table's indexes are its owner's, unknown here: any of them.
                resources.push(format!("{}/index/*", names.table_arn(t)));
            } else if let Some(table) = declared {
                resources.extend(
                    table
                        .global_secondary_indexes
                        .iter()
                        .map(|g| format!("{}/index/{}", names.table_arn(t), g.name)),
                );
            }
            out.push(allow(&format!("{sid}Read"), TABLE_READ, resources));
        }
        if writes {
            out.push(allow(
                &format!("{sid}Write"),
                TABLE_WRITE,
                vec![names.table_arn(t)],
            ));
        }
    }
    if let Some(b) = &p.bucket {
        let sid = format!("Bucket{}", camel(b));
        let prefix = p.prefix.clone().unwrap_or_default();
        let objects = vec![format!("{}/{prefix}*", names.bucket_arn(b))];
        if reads {
            out.push(allow(&format!("{sid}Read"), BUCKET_READ, objects.clone()));
            let mut list = allow(
                &format!("{sid}List"),
                &["s3:ListBucket"],
                vec![names.bucket_arn(b)],
            );
            if !prefix.is_empty() {
                list["Condition"] =
                    json!({ "StringLike": { "s3:prefix": [format!("{prefix}*")] } });
            }
            out.push(list);
        }
        if writes {
            out.push(allow(&format!("{sid}Write"), BUCKET_WRITE, objects));
        }
    }
    if let Some(q) = &p.queue {
        let sid = format!("Queue{}", camel(q));
        let resources = vec![names.queue_arn(q)];
        match access {
            Access::Send => out.push(allow(&format!("{sid}Send"), QUEUE_SEND, resources)),
            _ => out.push(allow(&format!("{sid}Consume"), QUEUE_CONSUME, resources)),
        }
    }
    if let Some(sm) = &p.state_machine {
        let express = m
            .resources
            .state_machines
            .get(sm)
            .is_some_and(|s| s.kind == StateMachineType::Express);
        let actions: &[&str] = if express {
            &["states:StartExecution", "states:StartSyncExecution"]
        } else {
            &["states:StartExecution"]
        };
        out.push(allow(
            &format!("StateMachine{}Start", camel(sm)),
            actions,
            vec![names.state_machine_arn(sm)],
        ));
    }
    if let Some(f) = &p.function {
        out.push(allow(
            &format!("Function{}Invoke", camel(f)),
            &["lambda:InvokeFunction"],
            vec![names.alias_arn(f)],
        ));
    }
    out
}

/// What Lambda needs to deliver a function's triggers that poll (SQS, streams).
/// Push triggers (HTTP, S3, schedules) are allowed by the function's resource policy instead.
fn trigger_statements(names: &Names, f: &Function) -> Vec<Value> {
    let mut out = Vec::new();
    let mut streams = false;
    for event in &f.events {
        match event {
            Event::Sqs(e) => out.push(allow(
                &format!("TriggerQueue{}", camel(&e.queue)),
                SQS_TRIGGER,
                vec![names.queue_arn(&e.queue)],
            )),
            Event::Stream(e) => {
                streams = true;
                out.push(allow(
                    &format!("TriggerStream{}", camel(&e.table)),
                    STREAM_TRIGGER,
                    vec![names.table_stream_arn(&e.table)],
                ));
            }
            _ => {}
        }
    }
    if streams {
        // ListStreams has no resource-level permission: AWS accepts only `*` for it.
        out.push(allow(
            "TriggerListStreams",
            &["dynamodb:ListStreams"],
            vec!["*".into()],
        ));
    }
    out
}

/// The policy of one function's role: its log group, X-Ray when traced, its
/// `permissions:` grants, what its polling triggers need, and the escape-hatch
/// statements. The log group is created by sls-rs, so `logs:CreateLogGroup` is
/// not granted; X-Ray's two actions take no narrower resource than `*`.
pub fn function_policy(names: &Names, f: &Function, log_group: &str, tracing: bool) -> Value {
    let mut statements = vec![allow(
        "OwnLogGroup",
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        vec![format!("{}:*", names.log_group_arn(log_group))],
    )];
    if tracing {
        statements.push(allow(
            "XRay",
            &["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            vec!["*".into()],
        ));
    }
    statements.extend(f.permissions.iter().flat_map(|p| grant(names, p)));
    statements.extend(trigger_statements(names, f));
    if let Some(vpc) = names.service.manifest.vpc_of(f) {
        statements.extend(vpc_statements(names, vpc));
    }
    let extra = names
        .service
        .manifest
        .provider
        .iam
        .role
        .statements
        .iter()
        .chain(&f.iam_role_statements);
    statements.extend(extra.map(|s| escape_hatch(names, s)));
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// What Lambda needs of the function's role to put its network interfaces in the VPC
/// (AWS's AWSLambdaVPCAccessExecutionRole, narrowed): creating one only in the
/// function's subnets with its security groups, managing only network interfaces of
/// this account and region, and the two descriptions EC2 allows on `*` only.
fn vpc_statements(names: &Names, vpc: &crate::manifest::Vpc) -> Vec<Value> {
    let cx = names.cx;
    let ec2 = |rest: &str| format!("{}:ec2:{}:{}:{rest}", cx.partition, cx.region, cx.account);
    // Subnets (and groups) shared through RAM belong to the VPC owner's account.
    let shared = |rest: &str| format!("{}:ec2:{}:*:{rest}", cx.partition, cx.region);
    let interfaces = ec2("network-interface/*");
    let mut create: Vec<String> = vpc
        .subnet_ids
        .iter()
        .map(|s| shared(&format!("subnet/{}", names.resolve(s))))
        .chain(
            vpc.security_group_ids
                .iter()
                .map(|g| shared(&format!("security-group/{}", names.resolve(g)))),
        )
        .collect();
    create.push(interfaces.clone());
    vec![
        allow(
            "VpcCreateNetworkInterfaces",
            &["ec2:CreateNetworkInterface"],
            create,
        ),
        allow(
            "VpcManageNetworkInterfaces",
            &[
                "ec2:AssignPrivateIpAddresses",
                "ec2:DeleteNetworkInterface",
                "ec2:UnassignPrivateIpAddresses",
            ],
            vec![interfaces],
        ),
        allow(
            "VpcDescribe",
            &["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            vec!["*".into()],
        ),
    ]
}

/// A user's raw statement, with the references deploy knows resolved.
fn escape_hatch(names: &Names, s: &IamStatement) -> Value {
    let mut v = json!({
        "Effect": s.effect,
        "Action": s.action,
        "Resource": s.resource.iter().map(|r| names.resolve(r)).collect::<Vec<_>>(),
    });
    if let Some(sid) = &s.sid {
        v["Sid"] = json!(sid);
    }
    if let Some(condition) = &s.condition {
        v["Condition"] = names.resolve_json(condition);
    }
    v
}

/// Escape-hatch statements that grant every action or every resource: allowed, and warned about.
pub fn wildcard_warnings(service: &Service) -> Vec<String> {
    let m = &service.manifest;
    let provider = m
        .provider
        .iam
        .role
        .statements
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("provider.iam.role.statements[{i}]"), s));
    let functions = m.functions.iter().flat_map(|(name, f)| {
        f.iam_role_statements
            .iter()
            .enumerate()
            .map(move |(i, s)| (format!("functions.{name}.iamRoleStatements[{i}]"), s))
    });
    provider
        .chain(functions)
        .filter(|(_, s)| s.effect == Effect::Allow)
        .filter_map(|(at, s)| {
            let star_action = s.action.iter().any(|a| a == "*" || a.ends_with(":*"));
            let star_resource = s.resource.iter().any(|r| r == "*");
            let what = match (star_action, star_resource) {
                (true, true) => "every action on every resource",
                (true, false) => "every action of a service",
                (false, true) => "its actions on every resource (`Resource: \"*\"`)",
                (false, false) => return None,
            };
            Some(format!(
                "{at} grants {what}; prefer `permissions:`, which sls-rs scopes to the exact resource"
            ))
        })
        .collect()
}

/// Who may assume a function's scheduler role: EventBridge Scheduler, for schedules
/// of this account's default group. Scheduler names the schedule group as the source
/// (its documentation forbids scoping to a schedule or a name prefix, which would
/// never match); the role's policy still reaches only the function's alias.
pub fn scheduler_trust_policy(account: &str, group_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "scheduler.amazonaws.com" },
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": { "aws:SourceAccount": account },
                "ArnEquals": { "aws:SourceArn": group_arn }
            }
        }]
    })
}

/// What a function's scheduler role may do: invoke that function's `live` alias, nothing else.
pub fn scheduler_policy(alias_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [allow("InvokeLiveAlias", &["lambda:InvokeFunction"], vec![alias_arn.to_string()])]
    })
}

/// Only Step Functions may assume a state machine's role, and only for that state
/// machine of this account: AWS's guard against the confused deputy (another
/// account's state machine made to act with this role).
pub fn states_trust_policy(account: &str, state_machine_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": "states.amazonaws.com" },
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": { "aws:SourceAccount": account },
                "ArnLike": { "aws:SourceArn": state_machine_arn }
            }
        }]
    })
}

/// Every `${kind:name…}` reference in a piece of a definition: (kind, name).
fn references(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else { break };
                if let Some((kind, address)) = after[..end].split_once(':') {
                    let name = address.split('.').next().unwrap_or(address);
                    out.push((kind.to_string(), name.to_string()));
                }
                rest = &after[end + 1..];
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        Value::Object(map) => map.values().for_each(|i| references(i, out)),
        _ => {}
    }
}

/// What one Task state may do: (IAM action, resource ARN) pairs, or why it gets nothing.
fn task_grants(
    names: &Names,
    task: &serde_json::Map<String, Value>,
) -> Result<Vec<(String, String)>, String> {
    let resource = task
        .get("Resource")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut refs = Vec::new();
    let of = |kind: &str, refs: &[(String, String)]| -> Vec<String> {
        refs.iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, n)| n.clone())
            .collect()
    };
    // A function called by its ARN: `Resource: ${fn:NAME}`.
    references(&Value::String(resource.to_string()), &mut refs);
    if !of("fn", &refs).is_empty() {
        return Ok(of("fn", &refs)
            .iter()
            .map(|f| ("lambda:InvokeFunction".to_string(), names.alias_arn(f)))
            .collect());
    }
    let Some(integration) = resource.split(":::").nth(1) else {
        return Err(format!(
            "its Resource `{resource}` is not one of the service's functions"
        ));
    };
    let (service, api) = integration.split_once(':').unwrap_or((integration, ""));
    let (api, mode) = api.split_once('.').unwrap_or((api, ""));
    // Only the parameter that names the target counts: a table merely written as
    // data in an item is not one the task acts on.
    let target = match service {
        "lambda" => "FunctionName",
        "dynamodb" => "TableName",
        "sqs" => "QueueUrl",
        "states" => "StateMachineArn",
        _ => "",
    };
    if let Some(named) = task.get("Parameters").and_then(|p| p.get(target)) {
        references(named, &mut refs);
    }
    let pascal = |api: &str| {
        let mut c = api.chars();
        c.next()
            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
            .unwrap_or_default()
    };
    let grants: Vec<(String, String)> = match service {
        "lambda" if api == "invoke" => of("fn", &refs)
            .iter()
            .map(|f| ("lambda:InvokeFunction".into(), names.alias_arn(f)))
            .collect(),
        "dynamodb" if ["getItem", "putItem", "updateItem", "deleteItem"].contains(&api) => of("table", &refs)
            .iter()
            .map(|t| (format!("dynamodb:{}", pascal(api)), names.table_arn(t)))
            .collect(),
        "sqs" if api == "sendMessage" => of("queue", &refs)
            .iter()
            .map(|q| ("sqs:SendMessage".into(), names.queue_arn(q)))
            .collect(),
        "states" if api == "startExecution" => {
            let mut out = Vec::new();
            for sm in of("stateMachine", &refs) {
                out.push(("states:StartExecution".into(), names.state_machine_arn(&sm)));
                if mode.starts_with("sync") {
                    // Waiting for the child means watching its executions through a rule AWS manages.
                    let executions = format!(
                        "{}:states:{}:{}:execution:{}:*",
                        names.cx.partition,
                        names.cx.region,
                        names.cx.account,
                        names.state_machine(&sm)
                    );
                    out.push(("states:DescribeExecution".into(), executions.clone()));
                    out.push(("states:StopExecution".into(), executions));
                    let rule = format!(
                        "{}:events:{}:{}:rule/StepFunctionsGetEventsForStepFunctionsExecutionManagedRule",
                        names.cx.partition, names.cx.region, names.cx.account
                    );
                    for action in ["events:PutTargets", "events:PutRule", "events:DescribeRule"] {
                        out.push((action.into(), rule.clone()));
                    }
                }
            }
            out
        }
        _ => {
            return Err(format!(
                "sls-rs grants nothing for the `{integration}` integration; add what it needs with an escape-hatch statement"
            ))
        }
    };
    if grants.is_empty() {
        return Err(format!(
            "its `{target}` parameter names none of the service's resources (write it as `${{table:NAME}}`, `${{queue:NAME}}`, `${{fn:NAME}}` or `${{stateMachine:NAME}}`), so it is granted nothing"
        ));
    }
    Ok(grants)
}

/// Every Task state of a definition (inside Parallel branches and Map iterators too), by name.
fn tasks<'a>(v: &'a Value, out: &mut Vec<(&'a str, &'a serde_json::Map<String, Value>)>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(states)) = map.get("States") {
                for (name, state) in states {
                    if let Value::Object(s) = state {
                        if s.get("Type").and_then(Value::as_str) == Some("Task") {
                            out.push((name, s));
                        }
                    }
                }
            }
            map.values().for_each(|i| tasks(i, out));
        }
        Value::Array(items) => items.iter().for_each(|i| tasks(i, out)),
        _ => {}
    }
}

/// The policy of a state machine's role: each Task may do exactly what its
/// integration needs on exactly the resources it names; X-Ray when traced.
pub fn state_machine_policy(names: &Names, definition: &Value, tracing: bool) -> Value {
    let mut found = Vec::new();
    tasks(definition, &mut found);
    let mut grants: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (_, task) in found {
        for (action, resource) in task_grants(names, task).unwrap_or_default() {
            let resources = grants.entry(action).or_default();
            if !resources.contains(&resource) {
                resources.push(resource);
            }
        }
    }
    let mut statements: Vec<Value> = grants
        .into_iter()
        .map(|(action, mut resources)| {
            resources.sort();
            allow(
                &camel(&action.replace(':', "-")),
                &[action.as_str()],
                resources,
            )
        })
        .collect();
    if tracing {
        statements.push(allow(
            "XRay",
            &[
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
            ],
            vec!["*".into()],
        ));
    }
    // Log delivery is set up by the caller of CreateStateMachine (sls-rs), not this role;
    // the role only needs what AWS checks at run time.
    statements.push(allow(
        "LogDelivery",
        &[
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:DescribeLogGroups",
        ],
        vec!["*".into()],
    ));
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// Task states the synthesised role grants nothing to: deploy warns, since they would fail at run time.
pub fn state_machine_warnings(service: &Service, names: &Names) -> Vec<String> {
    let mut out = Vec::new();
    for (name, sm) in &service.manifest.resources.state_machines {
        let mut found = Vec::new();
        tasks(&sm.definition, &mut found);
        for (state, task) in found {
            if let Err(why) = task_grants(names, task) {
                out.push(format!(
                    "resources.stateMachines.{name}: state `{state}`: {why}"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::service;
    use super::super::Context;
    use super::*;

    const CX: Context = Context {
        account: "123456789012",
        region: "eu-west-1",
        partition: "arn:aws",
        env_key: Some(&super::super::EnvKey::fixed(7)),
        queue_url_base: "https://sqs.eu-west-1.amazonaws.com",
    };

    #[test]
    fn a_state_machine_role_trusts_only_its_state_machine_in_this_account() {
        let s =
            service("service: shop\nprovider: { name: aws }\nfunctions: { f: { handler: f } }\n");
        let names = Names::new(&s, &CX);
        let trust = states_trust_policy(CX.account, &names.state_machine_arn("flow"));
        assert_eq!(
            trust["Statement"],
            json!([{
                "Effect": "Allow",
                "Principal": { "Service": "states.amazonaws.com" },
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": { "aws:SourceAccount": "123456789012" },
                    "ArnLike": { "aws:SourceArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:shop-dev-flow" }
                }
            }])
        );
        // Lambda's execution role carries no condition Lambda would not satisfy.
        assert!(lambda_trust_policy()["Statement"][0]
            .get("Condition")
            .is_none());
    }

    fn policy_of(yaml: &str, function: &str, tracing: bool) -> Value {
        let s = service(yaml);
        let names = Names::new(&s, &CX);
        let group = format!("/aws/lambda/{}", s.function_name(function));
        function_policy(&names, &s.manifest.functions[function], &group, tracing)
    }

    #[test]
    fn logs_on_its_own_group_only_and_xray_when_traced() {
        let yaml = "service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\n";
        assert_eq!(
            policy_of(yaml, "f", true),
            json!({ "Version": "2012-10-17", "Statement": [
                { "Sid": "OwnLogGroup", "Effect": "Allow",
                  "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                  "Resource": ["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/shop-dev-f:*"] },
                { "Sid": "XRay", "Effect": "Allow",
                  "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": ["*"] }
            ]})
        );
        assert_eq!(
            policy_of(yaml, "f", false)["Statement"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(!policy_of(yaml, "f", true)
            .to_string()
            .contains("CreateLogGroup"));
    }

    const GRANTS: &str = "service: shop\nprovider: { name: aws }\nfunctions:\n  api:\n    handler: api\n    permissions:\n      - { table: todos, access: read }\n      - { table: todos, access: write }\n      - { bucket: uploads, access: readwrite, prefix: 'in/' }\n      - { queue: jobs, access: send }\n      - { stateMachine: orders, access: start }\n      - { function: worker, access: invoke }\n  worker:\n    handler: worker\n    events:\n      - sqs: jobs\n      - stream: { table: todos }\nresources:\n  tables:\n    todos:\n      partitionKey: { name: id, type: S }\n      stream: NEW_IMAGE\n      globalSecondaryIndexes:\n        - { name: byOwner, partitionKey: { name: owner, type: S } }\n  buckets:\n    uploads: {}\n  queues:\n    jobs: { visibilityTimeout: 60 }\n  stateMachines:\n    orders:\n      type: EXPRESS\n      definition:\n        StartAt: A\n        States:\n          A: { Type: Task, Resource: '${fn:worker}', End: true }\n";

    #[test]
    fn grants_become_exact_actions_on_exact_resources() {
        let p = policy_of(GRANTS, "api", false);
        let table = "arn:aws:dynamodb:eu-west-1:123456789012:table/shop-dev-todos";
        let bucket = "arn:aws:s3:::shop-dev-uploads-123456789012-eu-west-1";
        assert_eq!(
            p["Statement"].as_array().unwrap()[1..],
            [
                json!({ "Sid": "TableTodosRead", "Effect": "Allow", "Action": TABLE_READ,
                        "Resource": [table, format!("{table}/index/byOwner")] }),
                json!({ "Sid": "TableTodosWrite", "Effect": "Allow", "Action": TABLE_WRITE, "Resource": [table] }),
                json!({ "Sid": "BucketUploadsRead", "Effect": "Allow", "Action": ["s3:GetObject"],
                        "Resource": [format!("{bucket}/in/*")] }),
                json!({ "Sid": "BucketUploadsList", "Effect": "Allow", "Action": ["s3:ListBucket"],
                        "Resource": [bucket], "Condition": { "StringLike": { "s3:prefix": ["in/*"] } } }),
                json!({ "Sid": "BucketUploadsWrite", "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"],
                        "Resource": [format!("{bucket}/in/*")] }),
                json!({ "Sid": "QueueJobsSend", "Effect": "Allow",
                        "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                        "Resource": ["arn:aws:sqs:eu-west-1:123456789012:shop-dev-jobs"] }),
                json!({ "Sid": "StateMachineOrdersStart", "Effect": "Allow",
                        "Action": ["states:StartExecution", "states:StartSyncExecution"],
                        "Resource": ["arn:aws:states:eu-west-1:123456789012:stateMachine:shop-dev-orders"] }),
                json!({ "Sid": "FunctionWorkerInvoke", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
                        "Resource": ["arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-worker:live"] }),
            ]
        );
    }

    #[test]
    fn polling_triggers_get_exactly_what_lambda_needs_to_deliver() {
        let p = policy_of(GRANTS, "worker", false);
        assert_eq!(
            p["Statement"].as_array().unwrap()[1..],
            [
                json!({ "Sid": "TriggerQueueJobs", "Effect": "Allow",
                        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                        "Resource": ["arn:aws:sqs:eu-west-1:123456789012:shop-dev-jobs"] }),
                json!({ "Sid": "TriggerStreamTodos", "Effect": "Allow",
                        "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
                        "Resource": ["arn:aws:dynamodb:eu-west-1:123456789012:table/shop-dev-todos/stream/*"] }),
                json!({ "Sid": "TriggerListStreams", "Effect": "Allow", "Action": ["dynamodb:ListStreams"], "Resource": ["*"] }),
            ]
        );
    }

    #[test]
    fn a_bucket_grant_without_prefix_covers_every_key_and_lists_unconditionally() {
        let yaml = "service: shop\nprovider: { name: aws }\nfunctions:\n  f:\n    handler: f\n    permissions: [{ bucket: media, access: read }]\nresources:\n  buckets:\n    media: {}\n";
        let p = policy_of(yaml, "f", false);
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(
            st[1]["Resource"],
            json!(["arn:aws:s3:::shop-dev-media-123456789012-eu-west-1/*"])
        );
        assert!(st[2].get("Condition").is_none());
        assert_eq!(st.len(), 3);
    }

    #[test]
    fn state_machine_role_invokes_exactly_the_functions_and_integrations_it_references() {
        let yaml = "service: shop\nprovider: { name: aws }\nfunctions:\n  a: { handler: a }\n  b: { handler: b }\n  c: { handler: c }\nresources:\n  tables:\n    orders: { partitionKey: { name: id, type: S } }\n  queues:\n    out: {}\n  stateMachines:\n    flow:\n      definition:\n        StartAt: A\n        States:\n          A: { Type: Task, Resource: '${fn:a}', Next: Save }\n          Save: { Type: Task, Resource: 'arn:aws:states:::dynamodb:putItem', Parameters: { TableName: '${table:orders}' }, Next: B }\n          B: { Type: Task, Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: '${fn:b}' }, End: true }\n";
        let s = service(yaml);
        let names = Names::new(&s, &CX);
        let def = &s.manifest.resources.state_machines["flow"].definition;
        let p = state_machine_policy(&names, def, false);
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(
            st[0],
            json!({ "Sid": "DynamodbPutItem", "Effect": "Allow", "Action": ["dynamodb:PutItem"],
                    "Resource": ["arn:aws:dynamodb:eu-west-1:123456789012:table/shop-dev-orders"] })
        );
        assert_eq!(
            st[1],
            json!({ "Sid": "LambdaInvokeFunction", "Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [
                "arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-a:live",
                "arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-b:live"] })
        );
        assert_eq!(st[2]["Sid"], "LogDelivery");
        assert_eq!(st.len(), 3, "no queue access: the definition sends nothing");
        assert!(!p.to_string().contains("shop-dev-c"));
        assert!(state_machine_policy(&names, def, true)
            .to_string()
            .contains("xray:PutTraceSegments"));
    }

    #[test]
    fn escape_hatch_statements_are_appended_with_references_resolved() {
        let yaml = "service: shop\nprovider:\n  name: aws\n  iam:\n    role:\n      statements:\n        - { Effect: Allow, Action: ssm:GetParameter, Resource: 'arn:aws:ssm:us-east-1:${aws:accountId}:parameter/x' }\nfunctions:\n  f:\n    handler: f\n    iamRoleStatements:\n      - { Effect: Allow, Action: [lambda:InvokeFunction], Resource: '${fn:g}' }\n  g: { handler: g }\n";
        let p = policy_of(yaml, "f", false);
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(
            st[1]["Resource"],
            json!(["arn:aws:ssm:us-east-1:123456789012:parameter/x"])
        );
        assert_eq!(
            st[2]["Resource"],
            json!(["arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-g:live"])
        );
        assert_eq!(st[2]["Action"], json!(["lambda:InvokeFunction"]));
    }

    #[test]
    fn wildcards_in_the_escape_hatch_are_warned_about() {
        let s = service("service: shop\nprovider:\n  name: aws\n  iam:\n    role:\n      statements:\n        - { Effect: Allow, Action: '*', Resource: '*' }\n        - { Effect: Allow, Action: s3:GetObject, Resource: 'arn:aws:s3:::b/*' }\nfunctions:\n  f:\n    handler: f\n    iamRoleStatements:\n      - { Effect: Allow, Action: 'dynamodb:*', Resource: 'arn:aws:dynamodb:*:*:table/x' }\n      - { Effect: Deny, Action: '*', Resource: '*' }\n");
        let w = wildcard_warnings(&s);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0]
            .starts_with("provider.iam.role.statements[0] grants every action on every resource"));
        assert!(
            w[1].starts_with("functions.f.iamRoleStatements[0] grants every action of a service")
        );
    }

    #[test]
    fn each_task_is_granted_only_the_resources_it_names() {
        let yaml = "service: shop\nprovider: { name: aws }\nfunctions:\n  a: { handler: a }\nresources:\n  tables:\n    orders: { partitionKey: { name: id, type: S } }\n    audit: { partitionKey: { name: id, type: S } }\n  stateMachines:\n    child:\n      definition: { StartAt: P, States: { P: { Type: Pass, End: true } } }\n    flow:\n      definition:\n        StartAt: Save\n        States:\n          Save: { Type: Task, Resource: 'arn:aws:states:::dynamodb:putItem', Parameters: { TableName: '${table:orders}', Item: { note: '${table:audit}' } }, Next: Read }\n          Read: { Type: Task, Resource: 'arn:aws:states:::dynamodb:getItem', Parameters: { TableName: '${table:audit}' }, Next: Child }\n          Child: { Type: Task, Resource: 'arn:aws:states:::states:startExecution.sync:2', Parameters: { StateMachineArn: '${stateMachine:child}' }, Next: Notify }\n          Notify: { Type: Task, Resource: 'arn:aws:states:::sns:publish', Parameters: { TopicArn: 'arn:aws:sns:us-east-1:1:t' }, End: true }\n";
        let s = service(yaml);
        let names = Names::new(&s, &CX);
        let def = &s.manifest.resources.state_machines["flow"].definition;
        let p = state_machine_policy(&names, def, false);
        let by_action = |a: &str| {
            p["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|st| st["Action"] == json!([a]))
                .map(|st| st["Resource"].clone())
        };
        let table = |t: &str| format!("arn:aws:dynamodb:eu-west-1:123456789012:table/shop-dev-{t}");
        // The table written only as data in an item is not one PutItem may touch.
        assert_eq!(
            by_action("dynamodb:PutItem"),
            Some(json!([table("orders")]))
        );
        assert_eq!(by_action("dynamodb:GetItem"), Some(json!([table("audit")])));
        assert_eq!(
            by_action("states:DescribeExecution"),
            Some(json!([
                "arn:aws:states:eu-west-1:123456789012:execution:shop-dev-child:*"
            ]))
        );
        assert!(by_action("events:PutRule").unwrap()[0]
            .as_str()
            .unwrap()
            .ends_with("rule/StepFunctionsGetEventsForStepFunctionsExecutionManagedRule"));
        assert!(by_action("sns:Publish").is_none());
        let warnings = state_machine_warnings(&s, &names);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("state `Notify`") && warnings[0].contains("sns:publish"));
    }
}

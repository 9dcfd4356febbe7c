//! The IAM policy a CI role needs to deploy, plan, roll back, inspect and remove one
//! stage of one service (`sls-rs policy --deployer`), and the trust policy that lets
//! exactly one GitHub repository (one environment or branch) assume that role.
//!
//! Statements are scoped to the stage's names: everything sls-rs creates is named
//! `{service}-{stage}-…` (roles end in the region, buckets in the account and
//! region), state and lock live under `services/{service}/{stage}/` of the deployment
//! bucket, artifacts under `artifacts/` (added with If-None-Match, never replaced or
//! deleted). `iam:PassRole` reaches only the stage's roles, and only towards Lambda
//! and Step Functions. What AWS offers no resource-level permission for (listings,
//! creating an event source mapping, which a condition limits to the stage's
//! functions, and log delivery) is on `*`. HTTP APIs have ids API Gateway picks:
//! their statement covers the region's HTTP APIs. docs/ci.md says what this cannot
//! limit (a deployer writes role policies; names are prefixes).
//!
//! [`OPERATIONS`] maps every AWS call in `cloud/` (by the label its errors carry)
//! to the IAM actions it needs; a test reads `cloud/` and fails on a call it lacks.

use serde_json::{json, Value};

use crate::manifest::Service;

/// The service principal of Application Auto Scaling for Lambda (its service-linked role's).
const AUTOSCALING_PRINCIPAL: &str = "lambda.application-autoscaling.amazonaws.com";

/// AWS call (`service:Operation`, as `cloud/` labels it) → the IAM actions it
/// needs. Calls that deploy, plan, rollback, info and remove make; `logs` and
/// `invoke` are for people, not for a deployer ([`NOT_DEPLOYING`]).
pub const OPERATIONS: &[(&str, &[&str])] = &[
    // Lambda.
    ("lambda:AddPermission", &["lambda:AddPermission"]),
    ("lambda:CreateAlias", &["lambda:CreateAlias"]),
    (
        "lambda:CreateEventSourceMapping",
        &["lambda:CreateEventSourceMapping"],
    ),
    (
        "lambda:CreateFunction",
        &[
            "lambda:CreateFunction",
            "lambda:TagResource",
            "iam:PassRole",
        ],
    ),
    (
        "lambda:DeleteEventSourceMapping",
        &["lambda:DeleteEventSourceMapping"],
    ),
    ("lambda:DeleteFunction", &["lambda:DeleteFunction"]),
    (
        "lambda:CreateFunctionUrlConfig",
        &["lambda:CreateFunctionUrlConfig"],
    ),
    (
        "lambda:DeleteFunctionUrlConfig",
        &["lambda:DeleteFunctionUrlConfig"],
    ),
    (
        "lambda:GetFunctionUrlConfig",
        &["lambda:GetFunctionUrlConfig"],
    ),
    (
        "lambda:GetFunctionRecursionConfig",
        &["lambda:GetFunctionRecursionConfig"],
    ),
    (
        "lambda:PutFunctionRecursionConfig",
        &["lambda:PutFunctionRecursionConfig"],
    ),
    (
        "lambda:UpdateFunctionUrlConfig",
        &["lambda:UpdateFunctionUrlConfig"],
    ),
    (
        "lambda:DeleteFunctionConcurrency",
        &["lambda:DeleteFunctionConcurrency"],
    ),
    (
        "lambda:DeleteProvisionedConcurrencyConfig",
        &["lambda:DeleteProvisionedConcurrencyConfig"],
    ),
    ("lambda:GetAlias", &["lambda:GetAlias"]),
    (
        "lambda:GetEventSourceMapping",
        &["lambda:GetEventSourceMapping"],
    ),
    // GetFunction answers with the tags only to a caller that may list them.
    (
        "lambda:GetFunction",
        &["lambda:GetFunction", "lambda:ListTags"],
    ),
    ("lambda:GetPolicy", &["lambda:GetPolicy"]),
    (
        "lambda:GetProvisionedConcurrencyConfig",
        &["lambda:GetProvisionedConcurrencyConfig"],
    ),
    (
        "lambda:ListEventSourceMappings",
        &["lambda:ListEventSourceMappings"],
    ),
    ("lambda:ListFunctions", &["lambda:ListFunctions"]),
    (
        "lambda:ListVersionsByFunction",
        &["lambda:ListVersionsByFunction"],
    ),
    ("lambda:PublishVersion", &["lambda:PublishVersion"]),
    (
        "lambda:PutFunctionConcurrency",
        &["lambda:PutFunctionConcurrency"],
    ),
    (
        "lambda:PutProvisionedConcurrencyConfig",
        &["lambda:PutProvisionedConcurrencyConfig"],
    ),
    ("lambda:RemovePermission", &["lambda:RemovePermission"]),
    ("lambda:TagResource", &["lambda:TagResource"]),
    ("lambda:UntagResource", &["lambda:UntagResource"]),
    ("lambda:UpdateAlias", &["lambda:UpdateAlias"]),
    (
        "lambda:UpdateEventSourceMapping",
        &["lambda:UpdateEventSourceMapping"],
    ),
    ("lambda:UpdateFunctionCode", &["lambda:UpdateFunctionCode"]),
    (
        "lambda:UpdateFunctionConfiguration",
        &["lambda:UpdateFunctionConfiguration", "iam:PassRole"],
    ),
    // EventBridge Scheduler (the schedule names the role it passes).
    (
        "scheduler:CreateSchedule",
        &["scheduler:CreateSchedule", "iam:PassRole"],
    ),
    ("scheduler:DeleteSchedule", &["scheduler:DeleteSchedule"]),
    ("scheduler:GetSchedule", &["scheduler:GetSchedule"]),
    (
        "scheduler:UpdateSchedule",
        &["scheduler:UpdateSchedule", "iam:PassRole"],
    ),
    // Application Auto Scaling (provisioned concurrency). Registering the first Lambda
    // target makes AWS's service-linked role; a target-tracking policy makes CloudWatch
    // alarms, which deregistering deletes.
    (
        "application-autoscaling:DeleteScalingPolicy",
        &[
            "application-autoscaling:DeleteScalingPolicy",
            "cloudwatch:DeleteAlarms",
            "cloudwatch:DescribeAlarms",
        ],
    ),
    (
        "application-autoscaling:DeregisterScalableTarget",
        &[
            "application-autoscaling:DeregisterScalableTarget",
            "cloudwatch:DeleteAlarms",
            "cloudwatch:DescribeAlarms",
        ],
    ),
    (
        "application-autoscaling:DescribeScalableTargets",
        &["application-autoscaling:DescribeScalableTargets"],
    ),
    (
        "application-autoscaling:DescribeScalingPolicies",
        &["application-autoscaling:DescribeScalingPolicies"],
    ),
    (
        "application-autoscaling:PutScalingPolicy",
        &[
            "application-autoscaling:PutScalingPolicy",
            "cloudwatch:DeleteAlarms",
            "cloudwatch:DescribeAlarms",
            "cloudwatch:PutMetricAlarm",
        ],
    ),
    (
        "application-autoscaling:RegisterScalableTarget",
        &[
            "application-autoscaling:RegisterScalableTarget",
            "cloudwatch:DescribeAlarms",
            "iam:CreateServiceLinkedRole",
        ],
    ),
    // The alarms guarding a traffic shift: the user's read, sls-rs's own made too.
    ("cloudwatch:DeleteAlarms", &["cloudwatch:DeleteAlarms"]),
    ("cloudwatch:DescribeAlarms", &["cloudwatch:DescribeAlarms"]),
    (
        "cloudwatch:ListTagsForResource",
        &["cloudwatch:ListTagsForResource"],
    ),
    // Tags given to a new alarm need TagResource too.
    (
        "cloudwatch:PutMetricAlarm",
        &["cloudwatch:PutMetricAlarm", "cloudwatch:TagResource"],
    ),
    ("cloudwatch:SetAlarmState", &["cloudwatch:SetAlarmState"]),
    ("cloudwatch:TagResource", &["cloudwatch:TagResource"]),
    ("cloudwatch:UntagResource", &["cloudwatch:UntagResource"]),
    // IAM.
    ("iam:CreateRole", &["iam:CreateRole", "iam:TagRole"]),
    ("iam:DeleteRole", &["iam:DeleteRole"]),
    ("iam:DeleteRolePolicy", &["iam:DeleteRolePolicy"]),
    ("iam:GetRole", &["iam:GetRole"]),
    ("iam:GetRolePolicy", &["iam:GetRolePolicy"]),
    ("iam:PutRolePolicy", &["iam:PutRolePolicy"]),
    ("iam:TagRole", &["iam:TagRole"]),
    ("iam:UntagRole", &["iam:UntagRole"]),
    (
        "iam:UpdateAssumeRolePolicy",
        &["iam:UpdateAssumeRolePolicy"],
    ),
    // CloudWatch Logs.
    (
        "logs:CreateLogGroup",
        &["logs:CreateLogGroup", "logs:TagResource"],
    ),
    ("logs:DeleteLogGroup", &["logs:DeleteLogGroup"]),
    (
        "logs:DeleteRetentionPolicy",
        &["logs:DeleteRetentionPolicy"],
    ),
    ("logs:DescribeLogGroups", &["logs:DescribeLogGroups"]),
    ("logs:PutRetentionPolicy", &["logs:PutRetentionPolicy"]),
    // DynamoDB (Scan: one item, to tell an empty table from one holding data).
    (
        "dynamodb:CreateTable",
        &["dynamodb:CreateTable", "dynamodb:TagResource"],
    ),
    ("dynamodb:DeleteTable", &["dynamodb:DeleteTable"]),
    (
        "dynamodb:DescribeContinuousBackups",
        &["dynamodb:DescribeContinuousBackups"],
    ),
    ("dynamodb:DescribeTable", &["dynamodb:DescribeTable"]),
    (
        "dynamodb:DescribeTimeToLive",
        &["dynamodb:DescribeTimeToLive"],
    ),
    (
        "dynamodb:ListTagsOfResource",
        &["dynamodb:ListTagsOfResource"],
    ),
    ("dynamodb:Scan", &["dynamodb:Scan"]),
    ("dynamodb:TagResource", &["dynamodb:TagResource"]),
    ("dynamodb:UntagResource", &["dynamodb:UntagResource"]),
    (
        "dynamodb:UpdateContinuousBackups",
        &["dynamodb:UpdateContinuousBackups"],
    ),
    ("dynamodb:UpdateTable", &["dynamodb:UpdateTable"]),
    ("dynamodb:UpdateTimeToLive", &["dynamodb:UpdateTimeToLive"]),
    // S3: API operations and IAM actions are named differently here.
    ("s3:CreateBucket", &["s3:CreateBucket"]),
    ("s3:DeleteBucket", &["s3:DeleteBucket"]),
    ("s3:DeleteBucketCors", &["s3:PutBucketCORS"]),
    (
        "s3:DeleteBucketLifecycle",
        &["s3:PutLifecycleConfiguration"],
    ),
    ("s3:DeleteObject", &["s3:DeleteObject"]),
    (
        "s3:DeleteObjects",
        &["s3:DeleteObject", "s3:DeleteObjectVersion"],
    ),
    ("s3:GetBucketCors", &["s3:GetBucketCORS"]),
    ("s3:GetBucketEncryption", &["s3:GetEncryptionConfiguration"]),
    (
        "s3:GetBucketLifecycleConfiguration",
        &["s3:GetLifecycleConfiguration"],
    ),
    (
        "s3:GetBucketNotificationConfiguration",
        &["s3:GetBucketNotification"],
    ),
    ("s3:GetBucketTagging", &["s3:GetBucketTagging"]),
    ("s3:GetBucketVersioning", &["s3:GetBucketVersioning"]),
    ("s3:GetObject", &["s3:GetObject"]),
    (
        "s3:GetPublicAccessBlock",
        &["s3:GetBucketPublicAccessBlock"],
    ),
    ("s3:HeadObject", &["s3:GetObject"]),
    ("s3:ListBuckets", &["s3:ListAllMyBuckets"]),
    ("s3:ListObjectVersions", &["s3:ListBucketVersions"]),
    ("s3:ListObjectsV2", &["s3:ListBucket"]),
    ("s3:PutBucketCors", &["s3:PutBucketCORS"]),
    ("s3:PutBucketEncryption", &["s3:PutEncryptionConfiguration"]),
    (
        "s3:PutBucketLifecycleConfiguration",
        &["s3:PutLifecycleConfiguration"],
    ),
    (
        "s3:PutBucketNotificationConfiguration",
        &["s3:PutBucketNotification"],
    ),
    ("s3:PutBucketTagging", &["s3:PutBucketTagging"]),
    ("s3:PutBucketVersioning", &["s3:PutBucketVersioning"]),
    ("s3:PutObject", &["s3:PutObject"]),
    (
        "s3:PutPublicAccessBlock",
        &["s3:PutBucketPublicAccessBlock"],
    ),
    // SQS.
    ("sqs:CreateQueue", &["sqs:CreateQueue", "sqs:TagQueue"]),
    ("sqs:DeleteQueue", &["sqs:DeleteQueue"]),
    ("sqs:GetQueueAttributes", &["sqs:GetQueueAttributes"]),
    ("sqs:GetQueueUrl", &["sqs:GetQueueUrl"]),
    ("sqs:ListQueueTags", &["sqs:ListQueueTags"]),
    ("sqs:SetQueueAttributes", &["sqs:SetQueueAttributes"]),
    ("sqs:TagQueue", &["sqs:TagQueue"]),
    ("sqs:UntagQueue", &["sqs:UntagQueue"]),
    // Step Functions.
    (
        "states:CreateStateMachine",
        &[
            "states:CreateStateMachine",
            "states:TagResource",
            "iam:PassRole",
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
        ],
    ),
    ("states:DeleteStateMachine", &["states:DeleteStateMachine"]),
    (
        "states:DescribeStateMachine",
        &["states:DescribeStateMachine"],
    ),
    (
        "states:ListTagsForResource",
        &["states:ListTagsForResource"],
    ),
    ("states:TagResource", &["states:TagResource"]),
    ("states:UntagResource", &["states:UntagResource"]),
    (
        "states:UpdateStateMachine",
        &[
            "states:UpdateStateMachine",
            "iam:PassRole",
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
        ],
    ),
    // EventBridge.
    ("events:DeleteRule", &["events:DeleteRule"]),
    ("events:DescribeRule", &["events:DescribeRule"]),
    (
        "events:ListTagsForResource",
        &["events:ListTagsForResource"],
    ),
    ("events:ListTargetsByRule", &["events:ListTargetsByRule"]),
    ("events:PutRule", &["events:PutRule", "events:TagResource"]),
    ("events:PutTargets", &["events:PutTargets"]),
    ("events:RemoveTargets", &["events:RemoveTargets"]),
    ("events:TagResource", &["events:TagResource"]),
    ("events:UntagResource", &["events:UntagResource"]),
    // API Gateway v2: IAM names the HTTP verb.
    ("apigateway:CreateApi", &["apigateway:POST"]),
    ("apigateway:CreateIntegration", &["apigateway:POST"]),
    ("apigateway:CreateRoute", &["apigateway:POST"]),
    ("apigateway:CreateStage", &["apigateway:POST"]),
    ("apigateway:DeleteApi", &["apigateway:DELETE"]),
    ("apigateway:DeleteCorsConfiguration", &["apigateway:DELETE"]),
    ("apigateway:DeleteIntegration", &["apigateway:DELETE"]),
    ("apigateway:DeleteRoute", &["apigateway:DELETE"]),
    ("apigateway:GetApi", &["apigateway:GET"]),
    ("apigateway:GetApis", &["apigateway:GET"]),
    ("apigateway:GetIntegrations", &["apigateway:GET"]),
    ("apigateway:GetRoute", &["apigateway:GET"]),
    ("apigateway:GetRoutes", &["apigateway:GET"]),
    ("apigateway:GetStage", &["apigateway:GET"]),
    ("apigateway:TagResource", &["apigateway:POST"]),
    ("apigateway:UntagResource", &["apigateway:DELETE"]),
    ("apigateway:UpdateApi", &["apigateway:PATCH"]),
    ("apigateway:UpdateIntegration", &["apigateway:PATCH"]),
    ("apigateway:UpdateRoute", &["apigateway:PATCH"]),
    ("apigateway:UpdateStage", &["apigateway:PATCH"]),
    // STS: GetCallerIdentity needs no permission.
    ("sts:GetCallerIdentity", &[]),
];

/// Calls `cloud/` makes for people rather than for a deploy: `sls-rs logs` and
/// `sls-rs invoke`. Not in the deployer's policy.
pub const NOT_DEPLOYING: &[&str] = &[
    "logs:FilterLogEvents",
    // `sls-rs metrics`.
    "cloudwatch:GetMetricData",
    "lambda:Invoke",
    "lambda:InvokeFunction",
    // Reads the roles in one call where allowed; on AccessDenied sls-rs reads each
    // role instead. Not granted: it would show every policy of the account.
    "iam:GetAccountAuthorizationDetails",
    "iam:ListRoles",
];

/// Where the deployer works: the stage's names in one account and region.
pub struct Scope<'a> {
    pub service: &'a Service,
    pub account: &'a str,
    pub region: &'a str,
    pub partition: &'a str,
    /// The deployment bucket (state, lock, artifacts).
    pub bucket: &'a str,
}

fn allow(sid: &str, actions: &[&str], resources: Vec<String>) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// The deployer's permissions policy.
pub fn deployer_policy(scope: &Scope) -> Value {
    let Scope {
        service,
        account,
        region,
        partition: p,
        bucket,
    } = scope;
    let prefix = format!("{}-{}-", service.manifest.service, service.stage);
    let bucket_prefix = prefix.to_ascii_lowercase();
    // Buckets named in the manifest (`name:`) are the stage's too, whatever their prefix.
    let named: Vec<&String> = service
        .manifest
        .resources
        .buckets
        .values()
        .filter(|b| b.existing.is_none())
        .filter_map(|b| b.name.as_ref())
        .collect();
    let buckets: Vec<String> =
        std::iter::once(format!("{p}:s3:::{bucket_prefix}*-{account}-{region}"))
            .chain(named.iter().map(|n| format!("{p}:s3:::{n}")))
            .collect();
    let bucket_objects: Vec<String> = buckets.iter().map(|b| format!("{b}/*")).collect();
    let arn = |svc: &str, rest: &str| format!("{p}:{svc}:{region}:{account}:{rest}");
    let functions = arn("lambda", &format!("function:{prefix}*"));
    let mappings = arn("lambda", "event-source-mapping:*");
    // Role names end in the region (IAM is global): this region's roles only.
    let roles = format!("{p}:iam::{account}:role/{prefix}*-{region}");
    let stage_keys = format!("services/{}/{}/", service.manifest.service, service.stage);
    let mut statements = vec![
        allow(
            "ReadAccountListings",
            &[
                "lambda:ListFunctions",
                "lambda:ListEventSourceMappings",
                "logs:DescribeLogGroups",
                "s3:ListAllMyBuckets",
            ],
            vec!["*".into()],
        ),
        allow(
            "Functions",
            &[
                "lambda:AddPermission",
                "lambda:CreateAlias",
                "lambda:CreateFunction",
                "lambda:DeleteFunction",
                "lambda:DeleteFunctionConcurrency",
                "lambda:DeleteFunctionUrlConfig",
                "lambda:DeleteProvisionedConcurrencyConfig",
                "lambda:GetAlias",
                "lambda:GetFunction",
                "lambda:GetFunctionRecursionConfig",
                "lambda:GetFunctionUrlConfig",
                "lambda:GetPolicy",
                "lambda:GetProvisionedConcurrencyConfig",
                "lambda:ListTags",
                "lambda:ListVersionsByFunction",
                "lambda:PublishVersion",
                "lambda:PutFunctionConcurrency",
                "lambda:PutFunctionRecursionConfig",
                "lambda:PutProvisionedConcurrencyConfig",
                "lambda:RemovePermission",
                "lambda:TagResource",
                "lambda:UntagResource",
                "lambda:UpdateAlias",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
            ],
            vec![functions.clone()],
        ),
        // A mapping's id is unknown before it exists: scoped by the function it feeds
        // (CreateEventSourceMapping has no resource of its own).
        json!({
            "Sid": "CreateEventSourceMappings",
            "Effect": "Allow",
            "Action": ["lambda:CreateEventSourceMapping"],
            "Resource": ["*"],
            "Condition": { "ArnLike": { "lambda:FunctionArn": [functions.clone()] } },
        }),
        json!({
            "Sid": "ChangeEventSourceMappings",
            "Effect": "Allow",
            "Action": ["lambda:DeleteEventSourceMapping", "lambda:UpdateEventSourceMapping"],
            "Resource": [mappings.clone()],
            "Condition": { "ArnLike": { "lambda:FunctionArn": [functions] } },
        }),
        allow(
            "ReadEventSourceMappings",
            &["lambda:GetEventSourceMapping"],
            vec![mappings],
        ),
        allow(
            "Roles",
            &[
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:DeleteRolePolicy",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:PutRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateAssumeRolePolicy",
            ],
            vec![roles.clone()],
        ),
        json!({
            "Sid": "PassRolesToTheirServices",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [roles],
            "Condition": { "StringEquals": { "iam:PassedToService": ["lambda.amazonaws.com", "scheduler.amazonaws.com", "states.amazonaws.com"] } },
        }),
        allow(
            "LogGroups",
            &[
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:DeleteRetentionPolicy",
                "logs:PutRetentionPolicy",
                "logs:TagResource",
                "logs:UntagResource",
            ],
            vec![
                arn("logs", &format!("log-group:/aws/lambda/{prefix}*")),
                arn(
                    "logs",
                    &format!("log-group:/aws/vendedlogs/states/{prefix}*"),
                ),
            ],
        ),
        // A state machine's logging: CloudWatch Logs' log delivery has no resource-level
        // permissions (AWS documents `*` for these).
        allow(
            "StateMachineLogDelivery",
            &[
                "logs:CreateLogDelivery",
                "logs:GetLogDelivery",
                "logs:UpdateLogDelivery",
                "logs:DeleteLogDelivery",
                "logs:ListLogDeliveries",
                "logs:PutResourcePolicy",
                "logs:DescribeResourcePolicies",
            ],
            vec!["*".into()],
        ),
        allow(
            "Tables",
            &[
                "dynamodb:CreateTable",
                "dynamodb:DeleteTable",
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:DescribeTable",
                "dynamodb:DescribeTimeToLive",
                "dynamodb:ListTagsOfResource",
                "dynamodb:Scan",
                "dynamodb:TagResource",
                "dynamodb:UntagResource",
                "dynamodb:UpdateContinuousBackups",
                "dynamodb:UpdateTable",
                "dynamodb:UpdateTimeToLive",
            ],
            vec![arn("dynamodb", &format!("table/{prefix}*"))],
        ),
        allow(
            "Buckets",
            &[
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:GetBucketCORS",
                "s3:GetBucketNotification",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetBucketTagging",
                "s3:GetBucketVersioning",
                "s3:GetEncryptionConfiguration",
                "s3:GetLifecycleConfiguration",
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:PutBucketCORS",
                "s3:PutBucketNotification",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketTagging",
                "s3:PutBucketVersioning",
                "s3:PutEncryptionConfiguration",
                "s3:PutLifecycleConfiguration",
            ],
            buckets,
        ),
        // Emptying a bucket `remove --force` deletes.
        allow(
            "BucketObjects",
            &["s3:DeleteObject", "s3:DeleteObjectVersion"],
            bucket_objects,
        ),
        allow(
            "DeploymentBucket",
            &[
                "s3:CreateBucket",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetBucketTagging",
                "s3:GetBucketVersioning",
                "s3:GetEncryptionConfiguration",
                "s3:GetLifecycleConfiguration",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketTagging",
                "s3:PutBucketVersioning",
                "s3:PutEncryptionConfiguration",
                "s3:PutLifecycleConfiguration",
            ],
            vec![format!("{p}:s3:::{bucket}")],
        ),
        // Unconditioned: S3 answers a read of a missing key (no state yet, no lock)
        // with 404 only to a caller that may list the bucket, and that check carries
        // no prefix. It reveals key names, not contents.
        allow(
            "DeploymentBucketListing",
            &["s3:ListBucket"],
            vec![format!("{p}:s3:::{bucket}")],
        ),
        // This stage's state and lock (the lock is released by deleting it).
        allow(
            "StateAndLock",
            &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            vec![format!("{p}:s3:::{bucket}/{stage_keys}*")],
        ),
        // The artifacts: content-addressed, shared by every stage, never deleted, and
        // written only where no object has the key (deploy sends If-None-Match: *), so
        // one stage's role cannot replace the code another stage runs under its hash.
        allow(
            "ReadArtifacts",
            &["s3:GetObject"],
            vec![format!("{p}:s3:::{bucket}/{}*", super::ARTIFACT_PREFIX)],
        ),
        json!({
            "Sid": "AddArtifacts",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": [format!("{p}:s3:::{bucket}/{}*", super::ARTIFACT_PREFIX)],
            "Condition": { "Null": { "s3:if-none-match": "false" } },
        }),
        allow(
            "Queues",
            &[
                "sqs:CreateQueue",
                "sqs:DeleteQueue",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ListQueueTags",
                "sqs:SetQueueAttributes",
                "sqs:TagQueue",
                "sqs:UntagQueue",
            ],
            vec![arn("sqs", &format!("{prefix}*"))],
        ),
        allow(
            "StateMachines",
            &[
                "states:CreateStateMachine",
                "states:DeleteStateMachine",
                "states:DescribeStateMachine",
                "states:ListTagsForResource",
                "states:TagResource",
                "states:UntagResource",
                "states:UpdateStateMachine",
            ],
            vec![arn("states", &format!("stateMachine:{prefix}*"))],
        ),
        allow(
            "ScheduleRules",
            &[
                "events:DeleteRule",
                "events:DescribeRule",
                "events:ListTagsForResource",
                "events:ListTargetsByRule",
                "events:PutRule",
                "events:PutTargets",
                "events:RemoveTargets",
                "events:TagResource",
                "events:UntagResource",
            ],
            vec![arn("events", &format!("rule/{prefix}*"))],
        ),
        // HTTP APIs have ids API Gateway picks: the region's HTTP APIs and their tags.
        allow(
            "HttpApis",
            &[
                "apigateway:GET",
                "apigateway:POST",
                "apigateway:PATCH",
                "apigateway:DELETE",
            ],
            vec![
                format!("{p}:apigateway:{region}::/apis"),
                format!("{p}:apigateway:{region}::/apis/*"),
                format!("{p}:apigateway:{region}::/tags/*"),
            ],
        ),
    ];
    // Lambda checks that whoever puts a layer on a function may read that layer
    // version: any version of the layers the manifest names, so moving to a layer's
    // next version needs no new policy.
    let mut layers: Vec<String> = service
        .manifest
        .functions
        .values()
        .flat_map(|f| service.manifest.layers_of(f).iter())
        .map(|l| l.replace("${aws:accountId}", account))
        .map(|l| match l.rsplit_once(':') {
            Some((name, _)) => format!("{name}:*"),
            None => l,
        })
        .collect();
    layers.sort();
    layers.dedup();
    if !layers.is_empty() {
        statements.push(allow("Layers", &["lambda:GetLayerVersion"], layers));
    }
    // A stream event on an existing table: its stream's ARN is read from the table.
    let tables = &service.manifest.resources.tables;
    let mut streamed: Vec<String> = service
        .manifest
        .functions
        .values()
        .flat_map(|f| f.events.iter())
        .filter_map(|e| match e {
            crate::manifest::Event::Stream(s) => tables.get(&s.table)?.existing.as_deref(),
            _ => None,
        })
        .map(
            |existing| match crate::manifest::parse_table_arn(existing) {
                Some(_) => existing.to_string(),
                None => arn("dynamodb", &format!("table/{existing}")),
            },
        )
        .collect();
    streamed.sort();
    streamed.dedup();
    if !streamed.is_empty() {
        statements.push(allow(
            "ExistingTableStreams",
            &["dynamodb:DescribeTable"],
            streamed,
        ));
    }
    // EventBridge Scheduler's schedules of this stage's functions, in the default group:
    // read and removed always (a schedule dropped from the manifest), made and changed
    // only for a service that declares one.
    let schedules = arn("scheduler", &format!("schedule/default/{prefix}*"));
    statements.push(allow(
        "ReadAndDeleteSchedules",
        &["scheduler:DeleteSchedule", "scheduler:GetSchedule"],
        vec![schedules.clone()],
    ));
    let scheduled = service.manifest.functions.values().any(|f| {
        f.events.iter().any(|e| {
            matches!(e, crate::manifest::Event::Schedule(s) if s.method == crate::manifest::ScheduleMethod::Scheduler)
        })
    });
    if scheduled {
        statements.push(allow(
            "Schedules",
            &["scheduler:CreateSchedule", "scheduler:UpdateSchedule"],
            vec![schedules],
        ));
    }
    // Lambda checks that whoever puts a function in a VPC may describe its parts.
    if service
        .manifest
        .functions
        .values()
        .any(|f| service.manifest.vpc_of(f).is_some())
    {
        statements.push(allow(
            "DescribeVpcs",
            &[
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeVpcs",
            ],
            vec!["*".into()],
        ));
    }
    // Provisioned-concurrency auto scaling. A scalable target's IAM ARN carries an id
    // Application Auto Scaling picks, so the statements cover the region's targets,
    // narrowed by its condition keys to Lambda's provisioned concurrency (docs/ci.md).
    // Read and removed always, made only for a service that declares one. Application
    // Auto Scaling checks the caller may manage the policy's CloudWatch alarms (named
    // after the target, `TargetTracking-function:NAME:live-…`): this stage's, and only
    // through Application Auto Scaling, as AWS's own managed policies grant it; its
    // check describes the region's alarms without naming one.
    let targets = json!([arn("application-autoscaling", "scalable-target/*")]);
    let lambda_targets = json!({ "StringEquals": {
        "application-autoscaling:service-namespace": "lambda",
        "application-autoscaling:scalable-dimension": "lambda:function:ProvisionedConcurrency",
    } });
    let stage_alarms = vec![arn(
        "cloudwatch",
        &format!("alarm:TargetTracking-function:{prefix}*"),
    )];
    let through_autoscaling = json!({ "StringEquals": {
        "aws:CalledViaLast": "application-autoscaling.amazonaws.com",
    } });
    let alarm_statement = |sid: &str, actions: &[&str]| {
        let mut s = allow(sid, actions, stage_alarms.clone());
        s["Condition"] = through_autoscaling.clone();
        s
    };
    statements.push(allow(
        "ReadProvisionedScaling",
        &[
            "application-autoscaling:DescribeScalableTargets",
            "application-autoscaling:DescribeScalingPolicies",
        ],
        vec!["*".into()],
    ));
    let mut delete = allow(
        "DeleteProvisionedScaling",
        &[
            "application-autoscaling:DeleteScalingPolicy",
            "application-autoscaling:DeregisterScalableTarget",
        ],
        vec![],
    );
    delete["Resource"] = targets.clone();
    delete["Condition"] = lambda_targets.clone();
    statements.push(delete);
    // A DescribeAlarms naming no alarm is authorised against `alarm:*`; so is reading
    // the alarms that guard a traffic shift (any alarm the manifest names).
    statements.push(allow(
        "DescribeAlarms",
        &["cloudwatch:DescribeAlarms"],
        vec![arn("cloudwatch", "alarm:*")],
    ));
    statements.push(alarm_statement(
        "DeleteProvisionedScalingAlarms",
        &["cloudwatch:DeleteAlarms"],
    ));
    // The alarms sls-rs makes to guard shifts (`{prefix}{function}-errors`, …): read and
    // deleted always (a dropped one goes), made and pointed at a version only for a
    // service that declares one. Only their three names: the user's alarms of the stage
    // (the guards `deployment.alarms` names among them) are never the deployer's.
    let own_alarms: Vec<String> = crate::manifest::AlarmMetric::ALL
        .iter()
        .map(|m| arn("cloudwatch", &format!("alarm:{prefix}*-{}", m.suffix())))
        .collect();
    statements.push(allow(
        "OwnAlarms",
        &["cloudwatch:DeleteAlarms", "cloudwatch:ListTagsForResource"],
        own_alarms.clone(),
    ));
    let makes_alarms = service.manifest.functions.values().any(|f| {
        service
            .manifest
            .deployment_of(f)
            .is_some_and(|d| !d.built_in_alarms().is_empty())
    });
    if makes_alarms {
        statements.push(allow(
            "MakeOwnAlarms",
            &[
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:SetAlarmState",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
            ],
            own_alarms,
        ));
    }
    let scaled = service.manifest.functions.values().any(|f| {
        f.provisioned_concurrency
            .is_some_and(|p| p.scaling().is_some())
    });
    if scaled {
        let mut make = allow(
            "ProvisionedScaling",
            &[
                "application-autoscaling:PutScalingPolicy",
                "application-autoscaling:RegisterScalableTarget",
            ],
            vec![],
        );
        make["Resource"] = targets;
        make["Condition"] = lambda_targets;
        statements.push(make);
        statements.push(alarm_statement(
            "ProvisionedScalingAlarms",
            &["cloudwatch:PutMetricAlarm"],
        ));
        let mut linked = allow(
            "ProvisionedScalingRole",
            &["iam:CreateServiceLinkedRole"],
            vec![format!(
                "{p}:iam::{account}:role/aws-service-role/{AUTOSCALING_PRINCIPAL}/AWSServiceRoleForApplicationAutoScaling_LambdaConcurrency"
            )],
        );
        linked["Condition"] =
            json!({ "StringEquals": { "iam:AWSServiceName": AUTOSCALING_PRINCIPAL } });
        statements.push(linked);
    }
    // Making and changing function URLs only for a service that declares one; reading
    // and deleting them is in `Functions`, so dropping `url:` needs no new policy.
    if service.manifest.functions.values().any(|f| f.url.is_some()) {
        statements.push(allow(
            "FunctionUrls",
            &[
                "lambda:CreateFunctionUrlConfig",
                "lambda:UpdateFunctionUrlConfig",
            ],
            vec![arn("lambda", &format!("function:{prefix}*"))],
        ));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// What GitHub's OIDC token must say for the role to be assumed: `repo:OWNER/REPO:…`
/// from `--github OWNER/REPO[:environment:NAME | :ref:REF | :BRANCH]`; with neither,
/// the environment named after the stage (what `sls-rs new --with-ci`'s workflow uses).
pub fn github_subject(spec: &str, stage: &str) -> Result<String, String> {
    let (repo, rest) = match spec.split_once(':') {
        Some((repo, rest)) => (repo, Some(rest)),
        None => (spec, None),
    };
    let valid_repo = repo.split('/').count() == 2
        && repo.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if !valid_repo {
        return Err(format!(
            "`{spec}` does not name a GitHub repository: expected OWNER/REPO, optionally followed by :environment:NAME, :ref:refs/heads/BRANCH or :BRANCH"
        ));
    }
    let claim = match rest {
        None => format!("environment:{stage}"),
        Some(r) if r.starts_with("environment:") => match &r["environment:".len()..] {
            "" => return Err(format!("`{spec}` names no environment after `environment:`")),
            _ => r.to_string(),
        },
        Some(r) if r.starts_with("ref:refs/heads/") || r.starts_with("ref:refs/tags/") => {
            r.to_string()
        }
        Some(r) if r.starts_with("ref:") => {
            return Err(format!(
                "`{r}` is not a ref GitHub names in its tokens: use ref:refs/heads/BRANCH or ref:refs/tags/TAG"
            ))
        }
        // GitHub's subjects for these are not a branch: refused rather than misread.
        Some(r @ ("pull_request" | "job_workflow_ref" | "environment" | "ref")) => {
            return Err(format!(
                "`{r}` would trust every pull request or is not a subject: name an environment or a branch"
            ))
        }
        Some("") => return Err(format!("`{spec}` ends with `:`: name an environment or a branch after it")),
        Some(branch) if !branch.contains(['*', '?', ':']) => format!("ref:refs/heads/{branch}"),
        Some(other) => {
            return Err(format!(
                "`{other}` is not an environment or a branch: use environment:NAME, ref:refs/heads/BRANCH or BRANCH (no wildcards: the role trusts exactly one)"
            ))
        }
    };
    if claim.contains(['*', '?']) {
        return Err(format!(
            "`{claim}` has a wildcard: the role trusts exactly one environment or branch"
        ));
    }
    Ok(format!("repo:{repo}:{claim}"))
}

/// The trust policy: GitHub's OIDC provider in `account`, audience STS, one subject.
pub fn github_trust_policy(partition: &str, account: &str, subject: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": format!("{partition}:iam::{account}:oidc-provider/token.actions.githubusercontent.com") },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": subject,
                }
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{load_str, LoadOptions};
    use std::collections::BTreeSet;
    use std::path::Path;

    fn service() -> Service {
        let env = |_: &str| None;
        load_str(
            Path::new("serverless.yaml"),
            "service: shop\nprovider: { name: aws, stage: dev }\nfunctions:\n  api: { handler: api, url: true, provisionedConcurrency: { min: 1, max: 4 }, events: [{ schedule: { rate: rate(1 hour), method: scheduler } }] }\n  web: { handler: web, deployment: { strategy: canary, percent: 10, interval: 1m, alarms: [{ errors: 0 }] } }\n",
            &LoadOptions {
                config: None,
                stage: None,
                region: Some("eu-west-1"),
                env: &env,
            },
        )
        .unwrap()
    }

    fn policy() -> Value {
        let s = service();
        deployer_policy(&Scope {
            service: &s,
            account: "123456789012",
            region: "eu-west-1",
            partition: "arn:aws",
            bucket: "sls-rs-deployments-123456789012-eu-west-1",
        })
    }

    /// IAM's wildcard match: `*` any run of characters, `?` one.
    fn matches(pattern: &str, value: &str) -> bool {
        fn go(p: &[u8], v: &[u8]) -> bool {
            match (p.first(), v.first()) {
                (None, None) => true,
                (Some(b'*'), _) => go(&p[1..], v) || (!v.is_empty() && go(p, &v[1..])),
                (Some(b'?'), Some(_)) => go(&p[1..], &v[1..]),
                (Some(a), Some(b)) if a == b => go(&p[1..], &v[1..]),
                _ => false,
            }
        }
        go(pattern.as_bytes(), value.as_bytes())
    }

    fn list(v: &Value) -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the policy allows `action` on `resource`, given the request's
    /// condition values (a statement whose condition keys the request lacks does not apply).
    fn allows(policy: &Value, action: &str, resource: &str, context: &[(&str, &str)]) -> bool {
        policy["Statement"].as_array().unwrap().iter().any(|s| {
            let action_ok = list(&s["Action"]).iter().any(|a| {
                let (svc, op) = a.split_once(':').unwrap();
                let (want_svc, want_op) = action.split_once(':').unwrap();
                svc == want_svc && matches(&op.to_ascii_lowercase(), &want_op.to_ascii_lowercase())
            });
            let resource_ok = list(&s["Resource"]).iter().any(|r| matches(r, resource));
            let condition_ok = s["Condition"].as_object().is_none_or(|ops| {
                ops.iter().all(|(op, keys)| {
                    keys.as_object().unwrap().iter().all(|(key, want)| {
                        let got = context.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
                        match op.as_str() {
                            // "false": the key must be present.
                            "Null" => got.is_some() == (want == "false"),
                            _ => got.is_some_and(|got| list(want).iter().any(|w| matches(w, got))),
                        }
                    })
                })
            });
            s["Effect"] == "Allow" && action_ok && resource_ok && condition_ok
        })
    }

    /// Every AWS call `cloud/` makes, by the label its errors carry.
    fn calls_in_cloud() -> BTreeSet<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cloud");
        let mut calls = BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            // The calls of the product, not of its tests.
            let text = text.split("#[cfg(test)]").next().unwrap_or_default();
            for piece in text.split('"').skip(1).step_by(2) {
                let Some((svc, op)) = piece.split_once(':') else {
                    continue;
                };
                let known = [
                    "lambda",
                    "iam",
                    "s3",
                    "logs",
                    "dynamodb",
                    "sqs",
                    "states",
                    "events",
                    "apigateway",
                    "sts",
                    "scheduler",
                    "application-autoscaling",
                    "cloudwatch",
                ];
                if known.contains(&svc)
                    && op.starts_with(|c: char| c.is_ascii_uppercase())
                    && op.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    calls.insert(piece.to_string());
                }
            }
        }
        calls
    }

    #[test]
    fn every_call_of_cloud_is_mapped_to_its_iam_actions() {
        let calls = calls_in_cloud();
        assert!(calls.len() > 100, "{calls:?}");
        let mapped: BTreeSet<&str> = OPERATIONS.iter().map(|(c, _)| *c).collect();
        let missing: Vec<&String> = calls
            .iter()
            .filter(|c| !mapped.contains(c.as_str()) && !NOT_DEPLOYING.contains(&c.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "calls of cloud/ the deployer policy does not know: {missing:?}"
        );
    }

    /// The resource each call acts on, for a service `shop` at stage `dev`.
    fn sample_resource(call: &str) -> &'static str {
        let (svc, op) = call.split_once(':').unwrap();
        match (svc, op) {
            ("lambda", "ListFunctions" | "ListEventSourceMappings")
            | ("iam", "ListRoles" | "GetAccountAuthorizationDetails")
            | ("logs", "DescribeLogGroups")
            | ("s3", "ListBuckets") => "*",
            ("lambda", "CreateEventSourceMapping") => "*",
            ("lambda", op) if op.contains("EventSourceMapping") => {
                "arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:1f2e"
            }
            ("lambda", _) => "arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-api:live",
            ("iam", _) => "arn:aws:iam::123456789012:role/shop-dev-api-eu-west-1",
            ("logs", _) => "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/shop-dev-api",
            ("dynamodb", _) => "arn:aws:dynamodb:eu-west-1:123456789012:table/shop-dev-orders",
            ("s3", "GetObject" | "HeadObject" | "PutObject") => {
                "arn:aws:s3:::sls-rs-deployments-123456789012-eu-west-1/services/shop/dev/state.json"
            }
            ("s3", "DeleteObject" | "DeleteObjects") => {
                "arn:aws:s3:::shop-dev-uploads-123456789012-eu-west-1/incoming/a.txt"
            }
            ("s3", _) => "arn:aws:s3:::shop-dev-uploads-123456789012-eu-west-1",
            ("sqs", _) => "arn:aws:sqs:eu-west-1:123456789012:shop-dev-jobs",
            ("states", _) => "arn:aws:states:eu-west-1:123456789012:stateMachine:shop-dev-orders",
            ("events", _) => "arn:aws:events:eu-west-1:123456789012:rule/shop-dev-api-schedule",
            ("apigateway", _) => "arn:aws:apigateway:eu-west-1::/apis/a1b2c3",
            ("scheduler", _) => {
                "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/shop-dev-api-schedule"
            }
            ("application-autoscaling", _) => {
                "arn:aws:application-autoscaling:eu-west-1:123456789012:scalable-target/0a1b2c3d"
            }
            _ => panic!("no sample resource for {call}"),
        }
    }

    #[test]
    fn the_policy_allows_every_call_on_the_stages_resources() {
        let policy = policy();
        let context = [
            (
                "lambda:FunctionArn",
                "arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-api",
            ),
            ("iam:PassedToService", "lambda.amazonaws.com"),
            (
                "iam:AWSServiceName",
                "lambda.application-autoscaling.amazonaws.com",
            ),
            ("application-autoscaling:service-namespace", "lambda"),
            (
                "application-autoscaling:scalable-dimension",
                "lambda:function:ProvisionedConcurrency",
            ),
            ("aws:CalledViaLast", "application-autoscaling.amazonaws.com"),
            ("s3:if-none-match", "*"),
        ];
        for (call, actions) in OPERATIONS {
            for action in *actions {
                let resource = if *action == "iam:PassRole" {
                    "arn:aws:iam::123456789012:role/shop-dev-api-eu-west-1"
                } else if *action == "iam:CreateServiceLinkedRole" {
                    "arn:aws:iam::123456789012:role/aws-service-role/lambda.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_LambdaConcurrency"
                } else if action.starts_with("cloudwatch:") && call.starts_with("cloudwatch:") {
                    // Its own alarms, which guard shifts.
                    "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:shop-dev-web-errors"
                } else if action.starts_with("cloudwatch:") {
                    "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:TargetTracking-function:shop-dev-api:live-AlarmHigh-1f2e"
                } else if action.starts_with("application-autoscaling:Describe")
                    || action.contains("LogDelivery")
                    || action.contains("ResourcePolic")
                {
                    "*"
                } else {
                    sample_resource(call)
                };
                assert!(
                    allows(&policy, action, resource, &context),
                    "{call} needs {action} on {resource}"
                );
            }
        }
    }

    #[test]
    fn only_a_service_that_declares_its_own_alarms_may_make_them_and_only_by_their_names() {
        let sids = |p: &Value| -> Vec<String> {
            p["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["Sid"].as_str().map(str::to_string))
                .collect()
        };
        let none = policy_of("service: shop\nprovider: { name: aws, stage: dev }\nfunctions:\n  api: { handler: api, deployment: { strategy: canary, percent: 10, interval: 5m, alarms: [mine] } }\n");
        assert!(!sids(&none).contains(&"MakeOwnAlarms".to_string()));
        assert!(
            sids(&none).contains(&"OwnAlarms".to_string()),
            "a dropped one is deleted"
        );
        let own = policy();
        let make = own["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "MakeOwnAlarms")
            .expect("a service with `errors: 0` makes alarms");
        let allowed = |alarm: &str| {
            list(&make["Resource"]).iter().any(|r| {
                matches(
                    r,
                    &format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{alarm}"),
                )
            })
        };
        assert!(allowed("shop-dev-web-errors") && allowed("shop-dev-web-p99-duration"));
        assert!(
            !allowed("shop-dev-web-5xx") && !allowed("mine"),
            "the user's alarms are not the deployer's to change"
        );
    }

    /// The deployer policy of a manifest, in account 123456789012 and eu-west-1.
    fn policy_of(manifest: &str) -> Value {
        let env = |_: &str| None;
        let s = load_str(
            Path::new("serverless.yaml"),
            manifest,
            &LoadOptions {
                config: None,
                stage: None,
                region: Some("eu-west-1"),
                env: &env,
            },
        )
        .unwrap();
        deployer_policy(&Scope {
            service: &s,
            account: "123456789012",
            region: "eu-west-1",
            partition: "arn:aws",
            bucket: "sls-rs-deployments-123456789012-eu-west-1",
        })
    }

    #[test]
    fn a_service_without_urls_may_not_make_one() {
        let policy = policy_of(
            "service: shop\nprovider: { name: aws, stage: dev }\nfunctions:\n  api: { handler: api }\n",
        );
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-api:live";
        assert!(!allows(&policy, "lambda:CreateFunctionUrlConfig", arn, &[]));
        let schedule =
            "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/shop-dev-api-schedule";
        assert!(!allows(&policy, "scheduler:CreateSchedule", schedule, &[]));
        assert!(allows(&policy, "scheduler:DeleteSchedule", schedule, &[]));
        let target =
            "arn:aws:application-autoscaling:eu-west-1:123456789012:scalable-target/0a1b2c3d";
        let lambda = [
            ("application-autoscaling:service-namespace", "lambda"),
            (
                "application-autoscaling:scalable-dimension",
                "lambda:function:ProvisionedConcurrency",
            ),
        ];
        assert!(!allows(
            &policy,
            "application-autoscaling:RegisterScalableTarget",
            target,
            &lambda
        ));
        assert!(allows(
            &policy,
            "application-autoscaling:DeregisterScalableTarget",
            target,
            &lambda
        ));
        // Another service's targets (an ECS service's, a table's) are not this deployer's.
        let ecs = [
            ("application-autoscaling:service-namespace", "ecs"),
            (
                "application-autoscaling:scalable-dimension",
                "ecs:service:DesiredCount",
            ),
        ];
        assert!(!allows(
            &policy,
            "application-autoscaling:DeregisterScalableTarget",
            target,
            &ecs
        ));
        // Reading and deleting stay allowed: a URL dropped from the manifest is removed.
        assert!(allows(&policy, "lambda:DeleteFunctionUrlConfig", arn, &[]));
    }

    #[test]
    fn an_existing_tables_stream_is_read_from_that_table_only() {
        let policy = policy_of(
            "service: shop\nprovider: { name: aws, stage: dev }\nfunctions:\n  w:\n    handler: w\n    events: [{ stream: { table: orders } }, { stream: { table: shared } }]\n    permissions: [{ table: audit, access: read }]\nresources:\n  tables:\n    orders: { existing: orders }\n    shared: { existing: 'arn:aws:dynamodb:eu-west-1:210987654321:table/shared' }\n    audit: { existing: audit }\n",
        );
        let ours = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders";
        let theirs = "arn:aws:dynamodb:eu-west-1:210987654321:table/shared";
        assert!(allows(&policy, "dynamodb:DescribeTable", ours, &[]));
        assert!(allows(&policy, "dynamodb:DescribeTable", theirs, &[]));
        // Nothing else of them, and nothing of a table only the functions read.
        for action in [
            "dynamodb:UpdateTable",
            "dynamodb:DeleteTable",
            "dynamodb:Scan",
        ] {
            assert!(!allows(&policy, action, ours, &[]), "{action}");
            assert!(!allows(&policy, action, theirs, &[]), "{action}");
        }
        let audit = "arn:aws:dynamodb:eu-west-1:123456789012:table/audit";
        assert!(!allows(&policy, "dynamodb:DescribeTable", audit, &[]));
    }

    #[test]
    fn nothing_outside_the_stage_is_allowed() {
        let policy = policy();
        let other = [
            ("lambda:UpdateFunctionCode", "arn:aws:lambda:eu-west-1:123456789012:function:shop-prod-api"),
            ("lambda:DeleteFunction", "arn:aws:lambda:eu-west-1:123456789012:function:billing-dev-api"),
            ("iam:PutRolePolicy", "arn:aws:iam::123456789012:role/admin"),
            ("dynamodb:DeleteTable", "arn:aws:dynamodb:eu-west-1:123456789012:table/shop-prod-orders"),
            ("s3:DeleteBucket", "arn:aws:s3:::shop-prod-uploads-123456789012-eu-west-1"),
            ("s3:PutObject", "arn:aws:s3:::sls-rs-deployments-123456789012-eu-west-1/services/shop/prod/state.json"),
            ("s3:GetObject", "arn:aws:s3:::sls-rs-deployments-123456789012-eu-west-1/services/billing/dev/state.json"),
            ("sqs:DeleteQueue", "arn:aws:sqs:eu-west-1:123456789012:billing-dev-jobs"),
            ("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:123456789012:function:shop-dev-api"),
            ("logs:FilterLogEvents", "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/shop-dev-api"),
        ];
        for (action, resource) in other {
            assert!(
                !allows(&policy, action, resource, &[]),
                "{action} on {resource}"
            );
        }
        // PassRole: only the stage's roles, only to Lambda and Step Functions.
        let role = "arn:aws:iam::123456789012:role/shop-dev-api-eu-west-1";
        assert!(!allows(
            &policy,
            "iam:PassRole",
            role,
            &[("iam:PassedToService", "ec2.amazonaws.com")]
        ));
        assert!(!allows(
            &policy,
            "iam:PassRole",
            "arn:aws:iam::123456789012:role/admin",
            &[("iam:PassedToService", "lambda.amazonaws.com")]
        ));
        assert!(allows(
            &policy,
            "iam:PassRole",
            role,
            &[("iam:PassedToService", "states.amazonaws.com")]
        ));
        // Mappings only for the stage's functions; the bucket listed only where the stage reads.
        let esm = "arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:1f2e";
        assert!(!allows(
            &policy,
            "lambda:DeleteEventSourceMapping",
            esm,
            &[(
                "lambda:FunctionArn",
                "arn:aws:lambda:eu-west-1:123456789012:function:billing-dev-api"
            )]
        ));
        // Another stage's roles, or this stage's in another region: not passed, not written.
        for role in [
            "arn:aws:iam::123456789012:role/shop-dev-api-us-east-1",
            "arn:aws:iam::123456789012:role/shop-prod-api-eu-west-1",
        ] {
            assert!(!allows(&policy, "iam:PutRolePolicy", role, &[]), "{role}");
        }
        // The artifacts are never deleted nor are object versions, here or elsewhere.
        let artifact = "arn:aws:s3:::sls-rs-deployments-123456789012-eu-west-1/artifacts/ab.zip";
        assert!(!allows(&policy, "s3:DeleteObject", artifact, &[]));
        assert!(
            !allows(&policy, "s3:PutObject", artifact, &[]),
            "a replacing write"
        );
        assert!(allows(
            &policy,
            "s3:PutObject",
            artifact,
            &[("s3:if-none-match", "*")]
        ));
        assert!(!allows(
            &policy,
            "s3:DeleteObjectVersion",
            "arn:aws:s3:::sls-rs-deployments-123456789012-eu-west-1/services/shop/dev/state.json",
            &[]
        ));
        // The deployment bucket is not a service bucket.
        assert!(!allows(
            &policy,
            "s3:DeleteBucket",
            "arn:aws:s3:::sls-rs-deployments-123456789012-eu-west-1",
            &[]
        ));
        // `*` is granted only to read actions, and to log delivery (AWS offers no
        // resource-level permission for it).
        for s in policy["Statement"].as_array().unwrap() {
            if list(&s["Resource"]) == ["*"] && s["Condition"].is_null() {
                for a in list(&s["Action"]) {
                    let op = a.split_once(':').unwrap().1;
                    assert!(
                        op.starts_with("List")
                            || op.starts_with("Get")
                            || op.starts_with("Describe")
                            || s["Sid"] == "StateMachineLogDelivery",
                        "{a} on *"
                    );
                }
            }
        }
    }

    #[test]
    fn github_subjects_name_one_repository_and_one_environment_or_branch() {
        assert_eq!(
            github_subject("acme/shop", "prod").unwrap(),
            "repo:acme/shop:environment:prod"
        );
        assert_eq!(
            github_subject("acme/shop:main", "prod").unwrap(),
            "repo:acme/shop:ref:refs/heads/main"
        );
        assert_eq!(
            github_subject("acme/shop:environment:production", "prod").unwrap(),
            "repo:acme/shop:environment:production"
        );
        assert_eq!(
            github_subject("acme/shop:ref:refs/tags/v1", "prod").unwrap(),
            "repo:acme/shop:ref:refs/tags/v1"
        );
        for bad in [
            "acme",
            "acme/shop/x",
            "/shop",
            "acme/sh op",
            "acme/shop:",
            "acme/shop:*",
            "acme/shop:environment:*",
            "acme/shop:environment:",
            "acme/shop:ref:main",
            "acme/shop:pull_request",
        ] {
            assert!(github_subject(bad, "prod").is_err(), "{bad}");
        }
        let trust =
            github_trust_policy("arn:aws", "123456789012", "repo:acme/shop:environment:prod");
        assert_eq!(
            trust["Statement"][0]["Condition"]["StringEquals"]
                ["token.actions.githubusercontent.com:sub"],
            "repo:acme/shop:environment:prod"
        );
    }
}

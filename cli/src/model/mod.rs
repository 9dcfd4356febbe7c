//! The desired resource graph of a service: from the resolved manifest and the
//! package manifest, the resources deploy must make exist, with stable logical
//! ids, deterministic physical names, flat properties to diff, and dependencies.
//! Pure: no AWS call happens here (the account id is an input).

pub mod deployer;
mod desired;
mod iam;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::build::{self, PackageManifest};
use crate::manifest::{
    Architecture, Bucket, CorsRule, DeletionPolicy, Event, KeyAttribute, Service, StartingPosition,
    Table,
};

mod names;
mod props;

pub use desired::desired;
pub use iam::{
    function_policy, lambda_trust_policy, scheduler_policy, scheduler_trust_policy,
    state_machine_policy, state_machine_warnings, states_trust_policy, wildcard_warnings,
    BUCKET_READ, BUCKET_WRITE, INLINE_POLICY_NAME, QUEUE_CONSUME, QUEUE_SEND, TABLE_READ,
    TABLE_WRITE,
};
pub use names::Names;
pub use props::*;

/// The alias every trigger and provisioned concurrency targets; cutover moves it.
pub const LIVE_ALIAS: &str = "live";

/// Tags that mark a resource as sls-rs's, so a crashed deploy can adopt it safely.
pub const TAG_SERVICE: &str = "sls-rs:service";
pub const TAG_STAGE: &str = "sls-rs:stage";
/// On global resources (IAM roles): the region whose deployment owns it.
pub const TAG_REGION: &str = "sls-rs:region";

/// Whether resource `a`'s tags name the same owner as the wanted tags `b`: the
/// same service and stage, and the same region when `b` names one (roles: IAM is
/// global, so the same stage in another region is another owner). How sls-rs
/// tells a resource of its own (left by a deploy that died before recording it)
/// from someone else's of the same name.
pub fn same_owner<'a, 'b>(
    a: impl Fn(&str) -> Option<&'a String>,
    b: impl Fn(&str) -> Option<&'b String>,
) -> bool {
    [TAG_SERVICE, TAG_STAGE]
        .iter()
        .all(|t| a(t).is_some() && a(t) == b(t))
        && (b(TAG_REGION).is_none() || a(TAG_REGION) == b(TAG_REGION))
}

/// `role/hello`, `logGroup/hello`, `function/hello`: stable across deploys, keys of the state.
pub type LogicalId = String;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Role,
    LogGroup,
    Function,
    Table,
    Bucket,
    Queue,
    StateMachine,
    HttpApi,
    Route,
    Permission,
    EventSourceMapping,
    Rule,
    BucketNotification,
    FunctionUrl,
    Schedule,
    ProvisionedScaling,
    Alarm,
}

/// When a kind is applied in a deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before cutover: nothing here sends traffic to a new version.
    Build,
    /// After every `live` alias exists: triggers and the permissions they need.
    Wire,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Role => "role",
            Kind::LogGroup => "logGroup",
            Kind::Function => "function",
            Kind::Table => "table",
            Kind::Bucket => "bucket",
            Kind::Queue => "queue",
            Kind::StateMachine => "stateMachine",
            Kind::HttpApi => "httpApi",
            Kind::Route => "route",
            Kind::Permission => "permission",
            Kind::EventSourceMapping => "eventSourceMapping",
            Kind::Rule => "rule",
            Kind::BucketNotification => "bucketNotification",
            Kind::FunctionUrl => "functionUrl",
            Kind::Schedule => "schedule",
            Kind::ProvisionedScaling => "provisionedScaling",
            Kind::Alarm => "alarm",
        }
    }

    /// What users read in plans and errors.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Role => "IAM role",
            Kind::LogGroup => "log group",
            Kind::Function => "Lambda function",
            Kind::Table => "DynamoDB table",
            Kind::Bucket => "S3 bucket",
            Kind::Queue => "SQS queue",
            Kind::StateMachine => "state machine",
            Kind::HttpApi => "HTTP API",
            Kind::Route => "HTTP route",
            Kind::Permission => "invoke permission",
            Kind::EventSourceMapping => "event source mapping",
            Kind::Rule => "schedule rule",
            Kind::BucketNotification => "bucket notification",
            Kind::FunctionUrl => "function URL",
            Kind::Schedule => "EventBridge Scheduler schedule",
            Kind::ProvisionedScaling => "provisioned-concurrency auto scaling",
            Kind::Alarm => "CloudWatch alarm",
        }
    }

    pub fn phase(self) -> Phase {
        match self {
            Kind::Permission
            | Kind::EventSourceMapping
            | Kind::Rule
            | Kind::BucketNotification
            | Kind::FunctionUrl
            | Kind::Schedule
            | Kind::ProvisionedScaling
            | Kind::Route => Phase::Wire,
            _ => Phase::Build,
        }
    }

    /// Deletion order: triggers first, then what runs, then what it ran with,
    /// then what holds data; each tier waits for the tiers before it.
    pub fn delete_tier(self) -> u8 {
        match self {
            Kind::Permission
            | Kind::EventSourceMapping
            | Kind::Rule
            | Kind::BucketNotification
            | Kind::FunctionUrl
            | Kind::Schedule
            | Kind::ProvisionedScaling
            | Kind::Alarm
            | Kind::Route => 0,
            Kind::Function | Kind::StateMachine | Kind::HttpApi => 1,
            Kind::Role | Kind::LogGroup => 2,
            Kind::Table | Kind::Bucket | Kind::Queue => 3,
        }
    }

    /// Kinds that carry sls-rs's ownership tags (the others live inside one that does).
    pub fn tagged(self) -> bool {
        matches!(
            self,
            Kind::Role
                | Kind::Function
                | Kind::Table
                | Kind::Bucket
                | Kind::Queue
                | Kind::StateMachine
                | Kind::HttpApi
                | Kind::Rule
                | Kind::Alarm
        )
    }

    /// Kinds that hold users' data: never deleted without `deletionPolicy: delete` or `--force`.
    pub fn holds_data(self) -> bool {
        matches!(self, Kind::Table | Kind::Bucket | Kind::Queue)
    }

    /// Fields AWS cannot change in place: changing one would need a new resource.
    pub fn immutable_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Table => &["partitionKey", "sortKey"],
            Kind::Queue => &["fifo"],
            Kind::StateMachine => &["type"],
            _ => &[],
        }
    }
}

pub fn logical_id(kind: Kind, name: &str) -> LogicalId {
    format!("{}/{name}", kind.as_str())
}

/// Flat, comparable properties: `memorySize` → `256`, `env.LOG_LEVEL` → a hash.
pub type Props = BTreeMap<String, String>;

/// A live property the service's answer left out (its API marks the field optional):
/// the plan takes it to be what sls-rs last set, so it is neither a change nor drift.
pub const UNREPORTED: &str = "(not reported)";

/// A live property, never desired nor recorded: the resource is this account's, carries
/// no tag at all and holds nothing, as a create that died before tagging it leaves it
/// (S3 tags a bucket in a call of its own). The plan adopts it rather than refusing it
/// as someone else's: adopting an empty, unclaimed resource can lose nothing.
pub const UNCLAIMED: &str = "unclaimed";

#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub id: LogicalId,
    /// The function (manifest key) the resource belongs to.
    pub function: String,
    pub kind: Kind,
    pub physical: String,
    pub spec: Spec,
    /// Logical ids that must exist first.
    pub depends_on: Vec<LogicalId>,
    /// Data resources: `deletionPolicy: delete` lets deploy and remove delete it with its data.
    pub delete_with_data: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    Role(RoleSpec),
    LogGroup(LogGroupSpec),
    Function(Box<FunctionSpec>),
    Table(Box<TableSpec>),
    Bucket(Box<BucketSpec>),
    Queue(QueueSpec),
    StateMachine(StateMachineSpec),
    HttpApi(HttpApiSpec),
    Route(RouteSpec),
    Permission(PermissionSpec),
    EventSourceMapping(EventSourceMappingSpec),
    Rule(RuleSpec),
    BucketNotification(BucketNotificationSpec),
    FunctionUrl(FunctionUrlSpec),
    Schedule(ScheduleSpec),
    ProvisionedScaling(ProvisionedScalingSpec),
    Alarm(AlarmSpec),
}

/// An alarm sls-rs makes to guard a function's traffic shift, on the metrics of its
/// `live` alias. The version it watches is no part of it: a shift points it at the
/// version taking over (`cloud::alarms::watch`) just before the first step.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmSpec {
    pub function_name: String,
    pub metric: crate::manifest::AlarmMetric,
    /// A count, or milliseconds for the duration.
    pub threshold: u32,
    /// Seconds: the deployment's interval, in whole minutes (CloudWatch's period for
    /// Lambda's metrics), at least one.
    pub period: u32,
    pub tags: BTreeMap<String, String>,
}

impl AlarmSpec {
    /// CloudWatch's name of the metric and the statistic compared.
    pub fn metric(&self) -> (&'static str, &'static str) {
        use crate::manifest::AlarmMetric;
        match self.metric {
            AlarmMetric::Errors => ("Errors", "Sum"),
            AlarmMetric::P99Duration => ("Duration", "p99"),
            AlarmMetric::Throttles => ("Throttles", "Sum"),
        }
    }

    /// Whether it judges one version (a shift points it at the new one). Throttles are
    /// the alias's: a throttled invocation is refused before any version runs, and
    /// concurrency is the function's, so the new version's load throttles both.
    pub fn per_version(&self) -> bool {
        self.metric != crate::manifest::AlarmMetric::Throttles
    }

    /// The alarm's dimensions: the function's `live` alias, and the version it watches.
    pub fn dimensions(&self, version: Option<&str>) -> Vec<(&'static str, String)> {
        let mut d = vec![
            ("FunctionName", self.function_name.clone()),
            ("Resource", format!("{}:{LIVE_ALIAS}", self.function_name)),
        ];
        if let Some(v) = version.filter(|_| self.per_version()) {
            d.push(("ExecutedVersion", v.to_string()));
        }
        d
    }

    /// How it judges: above the threshold in one period of one; a period without data
    /// (no invocation of the version) is fine; no unit (Lambda publishes each metric in
    /// one); a p99 of too few invocations to have one judges nothing, so one slow first
    /// call of a quiet canary does not move it back.
    pub fn evaluation(&self) -> String {
        evaluation_text(
            "GreaterThanThreshold",
            1,
            1,
            "notBreaching",
            None,
            (self.metric == crate::manifest::AlarmMetric::P99Duration).then_some(LOW_SAMPLES),
        )
    }

    /// What the alarm says of itself in the console.
    pub fn description(&self) -> String {
        let what = match self.metric {
            crate::manifest::AlarmMetric::Errors => format!("more than {} errors", self.threshold),
            crate::manifest::AlarmMetric::P99Duration => {
                format!("a p99 duration above {} ms", self.threshold)
            }
            crate::manifest::AlarmMetric::Throttles => {
                format!("more than {} throttles", self.threshold)
            }
        };
        format!(
            "sls-rs: {what} in {} s of the version taking {}'s `{LIVE_ALIAS}` traffic; guards its deploys",
            self.period, self.function_name
        )
    }

    pub fn props(&self) -> Props {
        let (metric, statistic) = self.metric();
        alarm_props(
            metric,
            statistic,
            f64::from(self.threshold),
            self.period,
            &self.evaluation(),
            &self.dimensions(None),
            &self.tags,
        )
    }
}

/// The name of the alarm sls-rs makes on a function's metric:
/// `{service}-{stage}-{function}-errors`.
pub fn alarm_name(function_name: &str, metric: crate::manifest::AlarmMetric) -> String {
    format!("{function_name}-{}", metric.suffix())
}

/// An alarm's period for a deployment's interval: whole minutes (Lambda's metrics are
/// per minute), rounded up, from one minute to an hour.
pub fn alarm_period(interval_secs: u64) -> u32 {
    let minutes = interval_secs.div_ceil(60).clamp(1, 60);
    u32::try_from(minutes * 60).unwrap_or(3600)
}

/// What a percentile alarm sls-rs makes does with too few samples for the percentile.
pub const LOW_SAMPLES: &str = "ignore";

/// An alarm's judging settings as one prop, as a spec and CloudWatch's answer spell them.
pub fn evaluation_text(
    comparison: &str,
    datapoints: i32,
    periods: i32,
    missing: &str,
    unit: Option<&str>,
    low_samples: Option<&str>,
) -> String {
    let mut text = format!(
        "{comparison}, {datapoints} of {periods}, missing data {missing}, unit {}",
        unit.unwrap_or("none")
    );
    if let Some(low) = low_samples {
        text.push_str(&format!(", low sample count {low}"));
    }
    text
}

/// An alarm as props, as its spec and CloudWatch's answer both spell it; the version
/// watched (`ExecutedVersion`) is left out of `dimensions` by the caller.
pub fn alarm_props(
    metric: &str,
    statistic: &str,
    threshold: f64,
    period: u32,
    evaluation: &str,
    dimensions: &[(&str, String)],
    tags: &BTreeMap<String, String>,
) -> Props {
    let mut p = Props::new();
    p.insert("metric".into(), format!("AWS/Lambda {metric}"));
    p.insert("statistic".into(), statistic.into());
    p.insert("threshold".into(), format!("> {threshold}"));
    p.insert("period".into(), period.to_string());
    p.insert("evaluation".into(), evaluation.into());
    p.insert(
        "dimensions".into(),
        dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    tag_props(&mut p, tags);
    p
}

/// Auto scaling of a function's provisioned concurrency on its `live` alias: the
/// capacities Application Auto Scaling keeps it between, and the utilisation it tracks.
#[derive(Clone, Debug, PartialEq)]
pub struct ProvisionedScalingSpec {
    pub function_name: String,
    pub min: u32,
    pub max: u32,
    /// Provisioned-concurrency utilisation to keep, 0.1–0.9.
    pub target_utilization: f64,
}

/// An EventBridge Scheduler schedule invoking a function's `live` alias with a role of its own.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleSpec {
    /// `rate(…)` or `cron(…)`.
    pub expression: String,
    /// IANA; `None` is the scheduler's UTC.
    pub timezone: Option<String>,
    pub enabled: bool,
    /// The function's `live` alias ARN.
    pub target: String,
    /// The role the scheduler assumes to invoke it.
    pub role_arn: String,
    /// Constant input (JSON) instead of the scheduler's empty event.
    pub input: Option<String>,
}

impl ScheduleSpec {
    pub fn props(&self) -> Props {
        schedule_props(
            &self.expression,
            self.timezone.as_deref(),
            self.enabled,
            &self.target,
            &self.role_arn,
            self.input.as_deref(),
        )
    }
}

/// A schedule as props, as its spec and the scheduler's answer both spell it.
pub fn schedule_props(
    expression: &str,
    timezone: Option<&str>,
    enabled: bool,
    target: &str,
    role: &str,
    input: Option<&str>,
) -> Props {
    let mut p = Props::new();
    p.insert("schedule".into(), expression.into());
    p.insert("timezone".into(), timezone.unwrap_or("UTC").into());
    p.insert(
        "state".into(),
        if enabled { "ENABLED" } else { "DISABLED" }.into(),
    );
    p.insert("target".into(), target.into());
    p.insert("role".into(), role.into());
    p.insert(
        "input".into(),
        input.map_or_else(|| "none".into(), normalize_definition),
    );
    p
}

#[derive(Clone, Debug)]
pub struct TableSpec {
    pub def: Table,
    /// The table's partition key (the manifest's is optional for existing tables, which
    /// are never specs).
    pub partition_key: KeyAttribute,
    pub tags: BTreeMap<String, String>,
}

impl PartialEq for TableSpec {
    fn eq(&self, other: &Self) -> bool {
        self.props() == other.props()
    }
}

#[derive(Clone, Debug)]
pub struct BucketSpec {
    pub def: Bucket,
    pub tags: BTreeMap<String, String>,
}

impl PartialEq for BucketSpec {
    fn eq(&self, other: &Self) -> bool {
        self.props() == other.props()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueueSpec {
    pub visibility_timeout: Option<u32>,
    pub retention: Option<u32>,
    pub fifo: bool,
    /// The dead-letter queue's ARN and the receives before a message moves there.
    pub dead_letter: Option<(String, u32)>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StateMachineSpec {
    /// Amazon States Language, references resolved, as compact JSON.
    pub definition: String,
    pub express: bool,
    pub role_arn: String,
    pub log_group_arn: String,
    pub tracing: bool,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HttpApiSpec {
    pub cors: Option<CorsRule>,
    pub tags: BTreeMap<String, String>,
}

/// One route of the HTTP API with its Lambda proxy integration (payload 2.0).
#[derive(Clone, Debug, PartialEq)]
pub struct RouteSpec {
    /// `GET /todos/{id}`, `ANY /x`, `$default`.
    pub route_key: String,
    /// The function's `live` alias ARN.
    pub target: String,
}

/// A statement of a function's resource policy, on its `live` alias.
#[derive(Clone, Debug, PartialEq)]
pub struct PermissionSpec {
    pub function_name: String,
    pub statement_id: String,
    pub principal: String,
    /// The exact source allowed: the API's execute-api ARN, the bucket, the rule; empty
    /// for a public function URL, which has none. The HTTP API's holds `HTTP_API_ID`
    /// until its id is known (filled in at apply).
    pub source_arn: String,
    pub source_account: Option<String>,
    /// What it allows: `lambda:InvokeFunction`, or `lambda:InvokeFunctionUrl` for a URL.
    pub action: &'static str,
    /// `lambda:InvokeFunctionUrl` only through a URL of this auth type (`NONE`).
    pub url_auth_type: Option<&'static str>,
    /// `lambda:InvokeFunction` only through the function's URL (AWS asks both of a
    /// public URL since October 2025).
    pub via_url: bool,
}

/// Lambda's action for invoking a function (what every trigger is allowed).
pub const INVOKE: &str = "lambda:InvokeFunction";
/// Lambda's action for calling a function URL.
pub const INVOKE_URL: &str = "lambda:InvokeFunctionUrl";

/// The condition keys Lambda writes for a URL's statements.
pub const URL_AUTH_CONDITION: &str = "lambda:FunctionUrlAuthType";
pub const VIA_URL_CONDITION: &str = "lambda:InvokedViaFunctionUrl";

/// A function URL on the `live` alias.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionUrlSpec {
    pub function_name: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: &'static str,
    /// `BUFFERED` or `RESPONSE_STREAM`.
    pub invoke_mode: &'static str,
    pub cors: Option<UrlCorsSpec>,
}

/// CORS a function URL answers, as Lambda's `Cors` names it.
#[derive(Clone, Debug, PartialEq)]
pub struct UrlCorsSpec {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MappingSource {
    /// A queue's ARN.
    Queue(String),
    /// A table's physical name: its stream's ARN is read from DynamoDB.
    Stream(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventSourceMappingSpec {
    /// The function's `live` alias ARN.
    pub target: String,
    pub source: MappingSource,
    pub batch_size: Option<u32>,
    pub batching_window: Option<u32>,
    pub report_batch_item_failures: bool,
    pub starting_position: Option<StartingPosition>,
    /// Filter patterns as compact JSON strings.
    pub filters: Vec<String>,
    /// SQS: at most this many concurrent invocations from the queue.
    pub maximum_concurrency: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RuleSpec {
    pub schedule: String,
    pub enabled: bool,
    pub target: String,
    /// Constant input (JSON) instead of the scheduled event.
    pub input: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// The whole notification configuration of one bucket (S3 replaces it as one document).
#[derive(Clone, Debug, PartialEq)]
pub struct BucketNotificationSpec {
    pub targets: Vec<NotificationTarget>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NotificationTarget {
    pub id: String,
    /// The function's `live` alias ARN.
    pub function: String,
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RoleSpec {
    pub trust: serde_json::Value,
    pub policy: serde_json::Value,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogGroupSpec {
    pub retention_days: Option<u32>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FunctionSpec {
    pub role_name: String,
    pub role_arn: String,
    pub memory: u32,
    pub timeout: u32,
    pub architecture: Architecture,
    pub description: String,
    pub environment: BTreeMap<String, String>,
    /// This run's key for environment fingerprints.
    pub env_key: EnvKey,
    pub tags: BTreeMap<String, String>,
    pub tracing: bool,
    pub reserved_concurrency: Option<u32>,
    /// On the `live` alias: the fixed number, or with auto scaling the minimum it starts at.
    pub provisioned_concurrency: Option<u32>,
    /// With auto scaling: the minimum and maximum, between which the scaler's number
    /// is left as it is (neither a change nor drift).
    pub provisioned_range: Option<(u32, u32)>,
    pub log_group: String,
    /// `/tmp`, in MB.
    pub ephemeral_storage: u32,
    /// Layer version ARNs, in the order Lambda applies them.
    pub layers: Vec<String>,
    pub logging: LoggingSpec,
    /// `Terminate` (Lambda's default) or `Allow`: what Lambda does with a recursive loop.
    pub recursive_loop: &'static str,
    /// The subnets and security groups of its network interfaces; `None`: no VPC.
    pub vpc: Option<VpcSpec>,
    pub code: Code,
}

/// Where a function's network interfaces go, as Lambda's `VpcConfig` names them.
#[derive(Clone, Debug, PartialEq)]
pub struct VpcSpec {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

/// A VPC as props: the ids sorted (Lambda keeps no order), `none` outside a VPC.
pub fn vpc_props(p: &mut Props, subnets: &[String], groups: &[String]) {
    let list = |ids: &[String]| {
        if ids.is_empty() {
            return "none".to_string();
        }
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        ids.join(",")
    };
    p.insert("vpc.subnetIds".into(), list(subnets));
    p.insert("vpc.securityGroupIds".into(), list(groups));
}

/// Lambda's default for a function in a recursive loop.
pub const RECURSION_DEFAULT: &str = "Terminate";

/// Lambda's logging controls, as its `LoggingConfig` names them.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggingSpec {
    /// `Text` or `JSON`.
    pub format: &'static str,
    /// JSON only (Lambda then reports INFO for a level left out).
    pub application_level: Option<&'static str>,
    pub system_level: Option<&'static str>,
}

impl LoggingSpec {
    /// What the manifest asks for, with Lambda's defaults spelled out as it reports them.
    pub fn of(logs: &crate::manifest::Logs) -> LoggingSpec {
        use crate::manifest::LogFormat;
        match logs.format {
            LogFormat::Text => LoggingSpec {
                format: "Text",
                application_level: None,
                system_level: None,
            },
            LogFormat::Json => LoggingSpec {
                format: "JSON",
                application_level: Some(logs.application_level.map_or("INFO", |l| l.as_str())),
                system_level: Some(logs.system_level.map_or("INFO", |l| l.as_str())),
            },
        }
    }

    /// The environment Lambda gives the function for these controls (the runtime
    /// crate reads `AWS_LAMBDA_LOG_LEVEL`), for a run on this machine.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("AWS_LAMBDA_LOG_FORMAT", self.format.to_string())];
        if let Some(level) = self.application_level {
            env.push(("AWS_LAMBDA_LOG_LEVEL", level.to_string()));
        }
        env
    }
}

/// Logging controls as props: each of `LoggingConfig`'s fields, `none` when unset.
pub fn logging_props(p: &mut Props, format: &str, application: Option<&str>, system: Option<&str>) {
    p.insert("logFormat".into(), format.into());
    p.insert(
        "applicationLogLevel".into(),
        application.unwrap_or("none").into(),
    );
    p.insert("systemLogLevel".into(), system.unwrap_or("none").into());
}

/// A zip to deploy: local for upload, content-addressed in the deployment bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Code {
    pub sha256: String,
    pub size: u64,
    pub local_path: std::path::PathBuf,
    pub s3_key: String,
}

/// The deployment bucket key of an artifact: its content hash, so an upload
/// happens once per distinct zip, whatever the service or stage.
pub fn artifact_key(sha256: &str) -> String {
    format!("{ARTIFACT_PREFIX}{sha256}.zip")
}

/// Where the deployment bucket keeps artifacts.
pub const ARTIFACT_PREFIX: &str = "artifacts/";

/// The key that fingerprints environment values for one run of sls-rs: 32
/// random bytes, made when the run starts and never written anywhere.
///
/// Why no stored salt or key: the state sits in S3, readable by whoever can
/// read the deployment bucket, and a hash of a value kept there (salted or
/// keyed with something kept beside it) can be checked offline against a list
/// of likely passwords. A key that two machines deploying the same stage would
/// share has to live somewhere both can read, which for sls-rs is that same
/// bucket. So the state keeps no value-derived trace at all: the plan
/// compares the desired environment with the live function's (read back with
/// GetFunction, as for drift) and with the version sls-rs last published (the
/// state records its number; a published version's configuration is
/// immutable), each fingerprinted in memory with this run's key.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvKey([u8; 32]);

impl EnvKey {
    /// A fresh key from the operating system's random source; an error, never
    /// a predictable key, when there is none.
    pub fn random() -> anyhow::Result<EnvKey> {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the operating system's random source to key environment fingerprints: {e}"
            )
        })?;
        Ok(EnvKey(key))
    }

    #[cfg(test)]
    pub const fn fixed(byte: u8) -> EnvKey {
        EnvKey([byte; 32])
    }
}

impl std::fmt::Debug for EnvKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvKey(…)")
    }
}

/// Environment values are never stored or shown: an HMAC-SHA256 under this
/// run's key tells a change within the run (see `EnvKey`).
pub fn fingerprint(key: &EnvKey, value: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key.0).expect("HMAC takes any key");
    mac.update(value.as_bytes());
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("hmac-sha256:{}", &hex[..32])
}

/// What of a resource's properties the state may keep: everything but the
/// environment fingerprints, which mean nothing beyond the run that made them.
pub fn recordable(props: Props) -> Props {
    props
        .into_iter()
        .filter(|(k, _)| !k.starts_with("env."))
        .collect()
}

impl Resource {
    /// The properties compared against the state and the live configuration.
    pub fn props(&self) -> Props {
        match &self.spec {
            Spec::Role(r) => role_props(&r.trust, &r.policy, &r.tags),
            Spec::LogGroup(l) => log_group_props(l.retention_days, &l.tags),
            Spec::Function(f) => f.props(),
            Spec::Table(t) => t.props(),
            Spec::Bucket(b) => b.props(),
            Spec::Queue(q) => q.props(),
            Spec::StateMachine(sm) => sm.props(),
            Spec::HttpApi(a) => a.props(),
            Spec::Route(r) => r.props(),
            Spec::Permission(p) => p.props(),
            Spec::EventSourceMapping(m) => m.props(),
            Spec::Rule(r) => r.props(),
            Spec::BucketNotification(n) => n.props(),
            Spec::FunctionUrl(u) => u.props(),
            Spec::Schedule(s) => s.props(),
            Spec::ProvisionedScaling(s) => {
                provisioned_scaling_props(s.min, s.max, Some(s.target_utilization), false)
            }
            Spec::Alarm(a) => a.props(),
        }
    }
}

pub fn role_props(
    trust: &serde_json::Value,
    policy: &serde_json::Value,
    tags: &BTreeMap<String, String>,
) -> Props {
    let mut p = Props::new();
    p.insert("trustPolicy".into(), trust.to_string());
    p.insert("policy".into(), policy.to_string());
    tag_props(&mut p, tags);
    p
}

/// Log group tags are set at creation only; retention is what is kept in line.
pub fn log_group_props(retention: Option<u32>, _tags: &BTreeMap<String, String>) -> Props {
    let mut p = Props::new();
    p.insert(
        "retentionInDays".into(),
        retention.map_or_else(|| "never expire".into(), |d| d.to_string()),
    );
    p
}

pub fn tag_props(p: &mut Props, tags: &BTreeMap<String, String>) {
    for (k, v) in tags {
        p.insert(format!("tags.{k}"), v.clone());
    }
}

/// Layers as a prop: their ARNs in order (order matters: later layers win), or `none`.
pub fn layers_text(layers: &[String]) -> String {
    if layers.is_empty() {
        "none".into()
    } else {
        layers.join(",")
    }
}

impl FunctionSpec {
    pub fn props(&self) -> Props {
        let mut p = Props::new();
        p.insert("memorySize".into(), self.memory.to_string());
        p.insert("timeout".into(), self.timeout.to_string());
        p.insert(
            "architecture".into(),
            build::arch_name(self.architecture).into(),
        );
        p.insert("role".into(), self.role_arn.clone());
        p.insert(
            "tracing".into(),
            if self.tracing {
                "Active"
            } else {
                "PassThrough"
            }
            .into(),
        );
        p.insert("description".into(), self.description.clone());
        p.insert(
            "reservedConcurrency".into(),
            self.reserved_concurrency
                .map_or_else(|| "none".into(), |n| n.to_string()),
        );
        p.insert("code".into(), self.code.sha256.clone());
        p.insert(
            "ephemeralStorageSize".into(),
            self.ephemeral_storage.to_string(),
        );
        p.insert("layers".into(), layers_text(&self.layers));
        logging_props(
            &mut p,
            self.logging.format,
            self.logging.application_level,
            self.logging.system_level,
        );
        p.insert("recursiveLoop".into(), self.recursive_loop.into());
        match &self.vpc {
            Some(v) => vpc_props(&mut p, &v.subnet_ids, &v.security_group_ids),
            None => vpc_props(&mut p, &[], &[]),
        }
        for (k, v) in &self.environment {
            p.insert(format!("env.{k}"), fingerprint(&self.env_key, v));
        }
        tag_props(&mut p, &self.tags);
        p
    }
}

/// What deploy is told beyond the manifest: where it deploys.
pub struct Context<'a> {
    pub account: &'a str,
    pub region: &'a str,
    /// The S3 partition-aware prefix of ARNs, `arn:aws`.
    pub partition: &'a str,
    /// This run's key for environment fingerprints (never stored); `None` where no
    /// function's desired configuration is made (names and policies only).
    pub env_key: Option<&'a EnvKey>,
    /// Where queue URLs start: `https://sqs.REGION.amazonaws.com`, or the emulator's endpoint.
    pub queue_url_base: &'a str,
}

/// Whether the manifest lets a data resource (by logical id) go with its data
/// (`deletionPolicy: delete`); `None` when the manifest does not declare it. A
/// dead-letter queue follows its queue.
pub fn deletes_with_data(m: &crate::manifest::Manifest, id: &str) -> Option<bool> {
    let (kind, name) = id.split_once('/')?;
    let queue = |n: &str| m.resources.queues.get(n).map(|q| q.deletion_policy);
    let policy = match kind {
        "table" => m.resources.tables.get(name).map(|t| t.deletion_policy),
        "bucket" => m.resources.buckets.get(name).map(|b| b.deletion_policy),
        "queue" => queue(name).or_else(|| name.strip_suffix("-dlq").and_then(queue)),
        _ => None,
    }?;
    Some(policy == DeletionPolicy::Delete)
}

/// Functions in a VPC: their network interfaces have no public address, so AWS's
/// APIs and the internet are out of their reach without a NAT gateway or VPC
/// endpoints, a deploy's most common surprise (a handler that hangs until its timeout).
pub fn vpc_warnings(service: &Service) -> Vec<String> {
    let m = &service.manifest;
    let inside: Vec<&str> = m
        .functions
        .iter()
        .filter(|(_, f)| m.vpc_of(f).is_some())
        .map(|(k, _)| k.as_str())
        .collect();
    if inside.is_empty() {
        return vec![];
    }
    vec![format!(
        "{} in a VPC ({}): it reaches AWS APIs (DynamoDB, S3, SQS, …) and the internet only through a NAT gateway or VPC endpoints in its subnets; without them its calls hang until the function times out",
        if inside.len() == 1 { "this function is" } else { "these functions are" },
        inside.join(", ")
    )]
}

/// How long CloudWatch takes to judge a version's first minute: Lambda's metrics
/// arrive a minute or more late, and alarms are evaluated about once a minute.
pub const ALARM_DELAY_SECS: u64 = 180;

/// Gradual deployments whose alarms cannot judge a step before the next: with an
/// interval under [`ALARM_DELAY_SECS`] (or the period of the alarms sls-rs makes, if
/// longer), a bad version may take all the traffic before any alarm fires, and the
/// shift stops watching once it completes. A shift without alarms has no guard at all.
pub fn shift_warnings(service: &Service) -> Vec<String> {
    let m = &service.manifest;
    let mut fast = Vec::new();
    let mut unguarded = Vec::new();
    for (key, f) in &m.functions {
        let Some(d) = m.deployment_of(f) else {
            continue;
        };
        if d.strategy == crate::manifest::Strategy::AllAtOnce {
            continue;
        }
        if d.alarms.is_empty() {
            unguarded.push(key.as_str());
            continue;
        }
        let Some(interval) = d
            .interval
            .as_deref()
            .and_then(|i| crate::manifest::parse_interval(i).ok())
        else {
            continue;
        };
        let period = if d.built_in_alarms().is_empty() {
            0
        } else {
            u64::from(alarm_period(interval.as_secs()))
        };
        if interval.as_secs() < ALARM_DELAY_SECS.max(period) {
            fast.push(key.as_str());
        }
    }
    let mut out = Vec::new();
    if !fast.is_empty() {
        out.push(format!(
            "the traffic shift of {} steps faster than CloudWatch can judge a step (Lambda's metrics arrive a minute or more late, alarms are evaluated about once a minute): a failing version may take all of `live` before an alarm fires; an `interval` of {}m or more gives the alarms a chance",
            fast.join(", "),
            ALARM_DELAY_SECS / 60
        ));
    }
    if !unguarded.is_empty() {
        out.push(format!(
            "the traffic shift of {} has no alarms: it moves on by time alone and nothing moves it back; add `deployment.alarms` (`- errors: 0` makes one)",
            unguarded.join(", ")
        ));
    }
    out
}

/// Functions whose handler streams its answers but which no URL streams from:
/// HTTP APIs, Lambda's Invoke API and a `BUFFERED` URL wait for the end and hand
/// on lambda_http's wire format (its prelude and NUL bytes), not the answer.
pub fn streaming_warnings(service: &Service, package: &PackageManifest) -> Vec<String> {
    use crate::manifest::InvokeMode;
    service
        .manifest
        .functions
        .iter()
        .filter(|(key, f)| {
            package.functions.get(*key).is_some_and(|a| a.streams)
                && f.url.as_ref().map(|u| u.invoke_mode) != Some(InvokeMode::ResponseStream)
        })
        .map(|(key, f)| format!(
            "function `{key}` streams its answers (`{}` calls lambda_http's run_with_streaming_response), but has no URL that streams: give it `url: {{ invokeMode: RESPONSE_STREAM }}` (an HTTP API does not stream)",
            f.handler
        ))
        .collect()
}

/// The names of the tables, buckets and queues the manifest declares `existing:`: never the
/// service's to delete, even when the state holds one of that name (made by sls-rs
/// before the manifest let go of it).
pub fn existing_names(service: &Service, cx: &Context) -> std::collections::BTreeSet<String> {
    let names = Names::new(service, cx);
    let r = &service.manifest.resources;
    let buckets = r
        .buckets
        .iter()
        .filter(|(_, b)| b.existing.is_some())
        .map(|(k, _)| names.bucket(k));
    let queues = r
        .queues
        .iter()
        .filter(|(_, q)| q.existing.is_some())
        .map(|(k, _)| names.queue(k));
    // A table of another account or region is never one of this stage's, whatever its name.
    let tables = r
        .tables
        .iter()
        .filter(|(_, t)| t.existing.is_some())
        .filter(|(k, _)| {
            crate::manifest::parse_table_arn(&names.table_arn(k))
                .is_some_and(|(region, account, _)| region == cx.region && account == cx.account)
        })
        .map(|(k, _)| names.table(k));
    buckets.chain(queues).chain(tables).collect()
}

/// `shop-dev-api:live#sls-rs-http-api`: a permission's function and statement id.
pub fn permission_physical(function: &str, statement_id: &str) -> String {
    format!("{function}:{LIVE_ALIAS}#{statement_id}")
}

/// Every generated IAM policy of the service: each function's role and each
/// state machine's role, as deploy would write them.
pub fn policies(service: &Service, cx: &Context) -> serde_json::Value {
    let m = &service.manifest;
    let names = Names::new(service, cx);
    let functions: serde_json::Map<String, serde_json::Value> = m
        .functions
        .iter()
        .map(|(key, f)| {
            let group = format!("/aws/lambda/{}", service.function_name(key));
            let tracing = f.tracing.unwrap_or(m.provider.tracing.lambda);
            (key.clone(), function_policy(&names, f, &group, tracing))
        })
        .collect();
    let machines: serde_json::Map<String, serde_json::Value> = m
        .resources
        .state_machines
        .iter()
        .map(|(name, sm)| {
            let policy =
                state_machine_policy(&names, &sm.definition, m.provider.tracing.step_functions);
            (name.clone(), policy)
        })
        .collect();
    // Who else may act on a function: a public URL's statements in its resource
    // policy, and the role EventBridge Scheduler invokes it with.
    let mut url_policies = serde_json::Map::new();
    let mut scheduler_roles = serde_json::Map::new();
    for (key, f) in &m.functions {
        let alias = names.alias_arn(key);
        if f.url
            .as_ref()
            .is_some_and(|u| u.authorizer == crate::manifest::UrlAuthorizer::None)
        {
            url_policies.insert(
                key.clone(),
                serde_json::json!([
                    { "Effect": "Allow", "Principal": "*", "Action": INVOKE_URL, "Resource": alias,
                      "Condition": { "StringEquals": { URL_AUTH_CONDITION: "NONE" } } },
                    { "Effect": "Allow", "Principal": "*", "Action": INVOKE, "Resource": alias,
                      "Condition": { "Bool": { VIA_URL_CONDITION: "true" } } },
                ]),
            );
        }
        let scheduled = f.events.iter().any(|e| {
            matches!(e, Event::Schedule(s) if s.method == crate::manifest::ScheduleMethod::Scheduler)
        });
        if scheduled {
            scheduler_roles.insert(
                names.scheduler_role(key),
                serde_json::json!({
                    "trust": scheduler_trust_policy(cx.account, &names.schedule_group_arn()),
                    "policy": scheduler_policy(&alias),
                }),
            );
        }
    }
    let mut doc = serde_json::json!({ "functions": functions, "stateMachines": machines });
    if !url_policies.is_empty() {
        doc["publicUrls"] = url_policies.into();
    }
    if !scheduler_roles.is_empty() {
        doc["schedulerRoles"] = scheduler_roles.into();
    }
    doc
}

/// Stands for the HTTP API's id in a permission's source ARN until the API exists.
pub const HTTP_API_ID: &str = "{apiId}";

/// A role's tags: the resource tags and the region (IAM is global, see `same_owner`).
fn role_tags(tags: &BTreeMap<String, String>, region: &str) -> BTreeMap<String, String> {
    let mut tags = tags.clone();
    tags.insert(TAG_REGION.into(), region.into());
    tags
}

fn role_id_of(key: &str) -> LogicalId {
    logical_id(Kind::Role, key)
}

/// `GET /todos/{id}`; `ANY` for every method; `$default` for the catch-all route.
pub fn route_key(method: &str, path: &str) -> String {
    if path == "$default" || method == "*" {
        return "$default".into();
    }
    format!("{} {path}", method.to_ascii_uppercase())
}

/// `SLS_RS_TABLE_TODOS=…` for every resource the function is granted, as the runtime crate reads them.
pub fn injected_environment(
    names: &Names,
    f: &crate::manifest::Function,
) -> BTreeMap<String, String> {
    use sls_rs_runtime::{env_var_name, ResourceKind};
    let mut out = BTreeMap::new();
    for p in &f.permissions {
        let (kind, ref_kind, name) = if let Some(n) = &p.table {
            (ResourceKind::Table, "table", n)
        } else if let Some(n) = &p.bucket {
            (ResourceKind::Bucket, "bucket", n)
        } else if let Some(n) = &p.queue {
            (ResourceKind::Queue, "queue", n)
        } else if let Some(n) = &p.state_machine {
            (ResourceKind::StateMachine, "stateMachine", n)
        } else if let Some(n) = &p.function {
            (ResourceKind::Function, "fn", n)
        } else {
            continue;
        };
        if let Some(value) = names.reference(ref_kind, name, None) {
            out.insert(env_var_name(kind, name), value);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::build::Artifact;
    use crate::manifest::{load_str, LoadOptions};

    #[test]
    fn the_manifest_reserves_the_prefix_the_runtime_reads() {
        // validate refuses user variables with this prefix; the runtime reads the
        // injected names under it: one prefix, kept in two crates.
        assert_eq!(crate::manifest::ENV_PREFIX, sls_rs_runtime::ENV_PREFIX);
    }

    pub(crate) fn service(yaml: &str) -> Service {
        let env = |_: &str| None;
        load_str(
            std::path::Path::new("/srv/app/serverless.yaml"),
            yaml,
            &LoadOptions {
                config: None,
                stage: None,
                region: None,
                env: &env,
            },
        )
        .unwrap()
    }

    pub(crate) fn package_for(s: &Service) -> PackageManifest {
        let functions = s
            .manifest
            .functions
            .iter()
            .map(|(k, f)| {
                let artifact = Artifact {
                    handler: f.handler.clone(),
                    architecture: s.architecture(f),
                    path: format!(".sls-rs/{k}.zip").into(),
                    sha256: format!("{:0>64}", k.len()),
                    size: 10,
                    binary_sha256: String::new(),
                    binary_size: 0,
                    streams: false,
                };
                (k.clone(), artifact)
            })
            .collect();
        PackageManifest {
            service: s.manifest.service.clone(),
            functions,
        }
    }

    /// The spec of one plain function `f` of service `shop`.
    pub(crate) fn function_spec() -> FunctionSpec {
        let s =
            service("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\n");
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        resources
            .into_iter()
            .find_map(|r| match r.spec {
                Spec::Function(f) => Some(*f),
                _ => None,
            })
            .unwrap()
    }

    pub(crate) const CX: Context = Context {
        account: "123456789012",
        region: "us-east-1",
        partition: "arn:aws",
        env_key: Some(&EnvKey::fixed(7)),
        queue_url_base: "https://sqs.us-east-1.amazonaws.com",
    };

    #[test]
    fn a_shift_faster_than_cloudwatch_judges_or_without_alarms_is_warned_about() {
        let s = service("service: shop\nprovider: { name: aws }\nfunctions:\n  fast: { handler: a, deployment: { strategy: canary, percent: 10, interval: 30s, alarms: [mine] } }\n  slow: { handler: b, deployment: { strategy: canary, percent: 10, interval: 5m, alarms: [mine] } }\n  own: { handler: c, deployment: { strategy: canary, percent: 10, interval: 3m, alarms: [{ errors: 0 }] } }\n  bare: { handler: d, deployment: { strategy: linear, percent: 50, interval: 10m } }\n  once: { handler: e, deployment: { strategy: all-at-once } }\n");
        let w = shift_warnings(&s);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("of fast steps faster") && w[0].contains("3m or more"),
            "{w:?}"
        );
        assert!(w[1].contains("of bare has no alarms"), "{w:?}");
    }

    #[test]
    fn the_alarms_sls_rs_makes_are_one_per_metric_of_each_guarded_function() {
        let s = service("service: shop\nprovider:\n  name: aws\n  deployment: { strategy: canary, percent: 10, interval: 90s, alarms: [mine, { errors: 0 }, { p99Duration: 2s }] }\nfunctions:\n  api: { handler: a }\n  web: { handler: b, deployment: { strategy: linear, percent: 50, interval: 10s, alarms: [{ throttles: 3 }] } }\n  batch: { handler: c, deployment: { strategy: all-at-once } }\n");
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let alarms: Vec<(&str, &str, u32, u32, Vec<String>)> = resources
            .iter()
            .filter_map(|r| match &r.spec {
                Spec::Alarm(a) => Some((
                    r.id.as_str(),
                    r.physical.as_str(),
                    a.threshold,
                    a.period,
                    r.depends_on.clone(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            alarms,
            vec![
                (
                    "alarm/api.errors",
                    "shop-dev-api-errors",
                    0,
                    120,
                    vec!["function/api".to_string()]
                ),
                (
                    "alarm/api.p99Duration",
                    "shop-dev-api-p99-duration",
                    2000,
                    120,
                    vec!["function/api".to_string()]
                ),
                (
                    "alarm/web.throttles",
                    "shop-dev-web-throttles",
                    3,
                    60,
                    vec!["function/web".to_string()]
                ),
            ],
            "the provider's for api (its interval in whole minutes), web's own, none for all at once"
        );
        let p99 = resources
            .iter()
            .find_map(|r| match &r.spec {
                Spec::Alarm(a) if r.id == "alarm/api.p99Duration" => Some(a.clone()),
                _ => None,
            })
            .unwrap();
        let props = p99.props();
        assert_eq!(props["metric"], "AWS/Lambda Duration");
        assert_eq!(props["statistic"], "p99");
        assert_eq!(props["threshold"], "> 2000");
        assert_eq!(
            props["dimensions"], "FunctionName=shop-dev-api,Resource=shop-dev-api:live",
            "the version watched is no part of it"
        );
        assert_eq!(props["tags.sls-rs:service"], "shop");
        assert_eq!(
            p99.dimensions(Some("7")).last(),
            Some(&("ExecutedVersion", "7".to_string()))
        );
        assert_eq!(
            (
                alarm_period(1),
                alarm_period(60),
                alarm_period(61),
                alarm_period(3600)
            ),
            (60, 60, 120, 3600)
        );
    }

    #[test]
    fn a_functions_layers_replace_the_providers_and_tmp_defaults_to_lambdas_512() {
        let a = "arn:aws:lambda:us-east-1:123456789012:layer:a:1";
        let b = "arn:aws:lambda:us-east-1:123456789012:layer:b:2";
        let s = service(&format!("service: shop\nprovider:\n  name: aws\n  ephemeralStorageSize: 1024\n  layers: [{a}]\nfunctions:\n  inherits: {{ handler: a }}\n  own: {{ handler: b, ephemeralStorageSize: 4096, layers: [{b}] }}\n  none: {{ handler: c, layers: [] }}\n"));
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let spec = |name: &str| {
            resources
                .iter()
                .find_map(|r| match &r.spec {
                    Spec::Function(f) if r.id == format!("function/{name}") => Some(f.clone()),
                    _ => None,
                })
                .unwrap()
        };
        assert_eq!(
            (spec("inherits").ephemeral_storage, spec("inherits").layers),
            (1024, vec![a.to_string()])
        );
        assert_eq!(
            (spec("own").ephemeral_storage, spec("own").layers),
            (4096, vec![b.to_string()])
        );
        assert!(spec("none").layers.is_empty());
        assert_eq!(spec("none").props()["layers"], "none");
        let plain = function_spec();
        assert_eq!(
            (
                plain.ephemeral_storage,
                plain.props()["ephemeralStorageSize"].as_str()
            ),
            (512, "512")
        );
    }

    #[test]
    fn each_function_gets_its_own_role_log_group_and_function() {
        let s = service("service: shop\nprovider:\n  name: aws\n  memorySize: 256\n  logRetentionInDays: 14\n  environment: { A: '1' }\n  tags: { team: core }\nfunctions:\n  checkout:\n    handler: checkout\n    timeout: 9\n    environment: { B: '2' }\n  refund: { handler: refund, architecture: arm64 }\n");
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let ids: Vec<&str> = resources.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "role/checkout",
                "logGroup/checkout",
                "function/checkout",
                "role/refund",
                "logGroup/refund",
                "function/refund"
            ]
        );
        let Spec::Function(f) = &resources[2].spec else {
            panic!()
        };
        assert_eq!(resources[2].physical, "shop-dev-checkout");
        assert_eq!((f.memory, f.timeout), (256, 9));
        assert_eq!(
            f.role_arn, "arn:aws:iam::123456789012:role/shop-dev-checkout-us-east-1",
            "IAM is global: the role carries the region"
        );
        assert_eq!(resources[0].physical, "shop-dev-checkout-us-east-1");
        let Spec::Role(role) = &resources[0].spec else {
            panic!()
        };
        assert_eq!(role.tags[TAG_REGION], "us-east-1");
        assert_eq!(f.environment.len(), 2);
        assert_eq!(f.tags["team"], "core");
        assert_eq!(f.tags[TAG_SERVICE], "shop");
        assert_eq!(f.code.s3_key, format!("artifacts/{}.zip", f.code.sha256));
        assert_eq!(
            resources[2].depends_on,
            ["role/checkout", "logGroup/checkout"]
        );
        let Spec::LogGroup(l) = &resources[1].spec else {
            panic!()
        };
        assert_eq!(l.retention_days, Some(14));
        assert_eq!(resources[1].physical, "/aws/lambda/shop-dev-checkout");
    }

    #[test]
    fn a_public_url_comes_after_the_two_statements_it_needs_and_an_iam_one_needs_none() {
        let s = service("service: shop\nprovider: { name: aws }\nfunctions:\n  api:\n    handler: api\n    url: true\n  admin:\n    handler: admin\n    url: { authorizer: aws_iam, invokeMode: RESPONSE_STREAM, cors: { allowedOrigins: ['https://a.example'] } }\n");
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let by_id: BTreeMap<&str, &Resource> =
            resources.iter().map(|r| (r.id.as_str(), r)).collect();
        let url = by_id["functionUrl/api"];
        assert_eq!(url.kind.phase(), Phase::Wire, "the alias exists first");
        assert_eq!(
            url.depends_on,
            [
                "function/api",
                "permission/api.url",
                "permission/api.urlInvoke"
            ]
        );
        let p = url.props();
        assert_eq!(
            (
                p["authType"].as_str(),
                p["invokeMode"].as_str(),
                p["cors"].as_str()
            ),
            ("NONE", "BUFFERED", "none")
        );
        let Spec::Permission(call) = &by_id["permission/api.url"].spec else {
            panic!()
        };
        assert_eq!(
            (call.action, call.url_auth_type, call.principal.as_str()),
            (INVOKE_URL, Some("NONE"), "*")
        );
        assert!(call.source_arn.is_empty() && !call.via_url);
        let Spec::Permission(invoke) = &by_id["permission/api.urlInvoke"].spec else {
            panic!()
        };
        assert_eq!(
            (invoke.action, invoke.url_auth_type, invoke.via_url),
            (INVOKE, None, true)
        );
        assert_eq!(
            by_id["permission/api.urlInvoke"].props()["invokedViaFunctionUrl"],
            "true"
        );

        let admin = by_id["functionUrl/admin"];
        assert_eq!(admin.depends_on, ["function/admin"]);
        let p = admin.props();
        assert_eq!(
            (p["authType"].as_str(), p["invokeMode"].as_str()),
            ("AWS_IAM", "RESPONSE_STREAM")
        );
        // Keys left out of `cors` take `cors: true`'s; compared as Lambda answers them.
        assert_eq!(p["cors.allowOrigins"], "https://a.example");
        assert_eq!(p["cors.allowMethods"], "*");
        assert!(p["cors.allowHeaders"].contains("content-type"), "{p:?}");
        assert!(!by_id.contains_key("permission/admin.url"));
    }

    #[test]
    fn a_trigger_statement_keeps_its_props_and_id_from_before_urls() {
        let s = service("service: shop\nprovider: { name: aws }\nfunctions:\n  api:\n    handler: api\n    events:\n      - schedule: rate(1 hour)\n");
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let rule = resources
            .iter()
            .find(|r| r.id == "permission/api.schedule.0")
            .unwrap();
        let keys: Vec<String> = rule.props().into_keys().collect();
        assert_eq!(keys, ["principal", "sourceAccount", "sourceArn"]);
    }

    #[test]
    fn a_functions_vpc_replaces_the_providers_and_false_takes_it_out() {
        let s = service("service: shop\nprovider:\n  name: aws\n  vpc: { subnetIds: [subnet-0a1b], securityGroupIds: [sg-0c1d] }\nfunctions:\n  a: { handler: a }\n  b: { handler: b, vpc: false }\n  c: { handler: c, vpc: { subnetIds: [subnet-0e2f, subnet-0a1b], securityGroupIds: [sg-0c1d] } }\n");
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let props = |id: &str| resources.iter().find(|r| r.id == id).unwrap().props();
        assert_eq!(props("function/a")["vpc.subnetIds"], "subnet-0a1b");
        assert_eq!(props("function/b")["vpc.subnetIds"], "none");
        assert_eq!(
            props("function/c")["vpc.subnetIds"],
            "subnet-0a1b,subnet-0e2f",
            "sorted"
        );
        let warnings = vpc_warnings(&s);
        assert!(warnings[0].contains("(a, c)"), "{warnings:?}");
        assert!(crate::engine::plan::is_versioned("vpc.subnetIds"));
    }

    #[test]
    fn a_scheduler_role_is_assumable_from_the_schedule_group_and_invokes_only_the_alias() {
        let s = service("service: shop\nprovider: { name: aws }\nfunctions:\n  nightly:\n    handler: nightly\n    events: [{ schedule: { rate: rate(1 day), method: scheduler } }]\n");
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let role = resources
            .iter()
            .find(|r| r.id == "role/nightly.scheduler")
            .unwrap();
        assert_eq!(role.function, "", "not the function's own role (rollback)");
        let Spec::Role(spec) = &role.spec else {
            panic!()
        };
        let condition = &spec.trust["Statement"][0]["Condition"];
        assert_eq!(
            condition["ArnEquals"]["aws:SourceArn"],
            "arn:aws:scheduler:us-east-1:123456789012:schedule-group/default"
        );
        assert_eq!(
            condition["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
        assert_eq!(
            spec.policy["Statement"][0]["Resource"],
            serde_json::json!([
                "arn:aws:lambda:us-east-1:123456789012:function:shop-dev-nightly:live"
            ])
        );
        let schedule = resources
            .iter()
            .find(|r| r.id == "schedule/nightly.0")
            .unwrap();
        assert_eq!(
            schedule.depends_on,
            ["function/nightly", "role/nightly.scheduler"]
        );
    }

    #[test]
    fn existing_resources_are_named_as_given_and_never_desired() {
        let s = service("service: shop\nprovider: { name: aws }\nfunctions:\n  w:\n    handler: w\n    events: [{ sqs: partner }, { stream: { table: orders } }]\n    environment: { ORDERS: '${table:orders}', LEDGER: '${table:ledger}' }\n    permissions: [{ table: ledger, access: read }]\nresources:\n  tables:\n    orders: { existing: orders-v2 }\n    ledger: { existing: 'arn:aws:dynamodb:us-east-1:210987654321:table/ledger' }\n  buckets:\n    drop: { existing: partner-drop }\n    reports: { name: shop-reports-example }\n  queues:\n    partner: { existing: 'arn:aws:sqs:us-east-1:210987654321:partner-events' }\n    far: { existing: 'arn:aws:sqs:eu-west-1:210987654321:far-events' }\n    local: { existing: local-events }\n");
        let cx = CX;
        let names = Names::new(&s, &cx);
        assert_eq!(names.bucket("drop"), "partner-drop");
        assert_eq!(
            names.bucket_arn("reports"),
            "arn:aws:s3:::shop-reports-example"
        );
        assert_eq!(
            names.queue_arn("partner"),
            "arn:aws:sqs:us-east-1:210987654321:partner-events"
        );
        assert_eq!(
            names.queue_url("far"),
            "https://sqs.eu-west-1.amazonaws.com/210987654321/far-events"
        );
        assert_eq!(
            names.queue_arn("local"),
            "arn:aws:sqs:us-east-1:123456789012:local-events"
        );
        assert_eq!(names.table("orders"), "orders-v2");
        assert_eq!(
            names.table_arn("orders"),
            "arn:aws:dynamodb:us-east-1:123456789012:table/orders-v2"
        );
        // Another account's table is addressed by its ARN (a bare name would be ours).
        assert_eq!(
            names.table("ledger"),
            "arn:aws:dynamodb:us-east-1:210987654321:table/ledger"
        );
        assert_eq!(
            names.table_arn("ledger"),
            "arn:aws:dynamodb:us-east-1:210987654321:table/ledger"
        );
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let ids: Vec<&str> = resources.iter().map(|r| r.id.as_str()).collect();
        assert!(ids.contains(&"bucket/reports"), "{ids:?}");
        assert!(
            !ids.contains(&"bucket/drop")
                && !ids.contains(&"queue/partner")
                && !ids.iter().any(|id| id.starts_with("table/")),
            "{ids:?}"
        );
        let mapping = resources
            .iter()
            .find(|r| r.id == "eventSourceMapping/w.sqs.partner")
            .unwrap();
        assert!(!mapping.depends_on.contains(&"queue/partner".to_string()));
        let stream = resources
            .iter()
            .find(|r| r.id == "eventSourceMapping/w.stream.orders")
            .unwrap();
        assert!(!stream.depends_on.contains(&"table/orders".to_string()));
        // The function's role reads the stream and the other account's table by their ARNs.
        let policy = policies(&s, &CX).to_string();
        assert!(
            policy.contains("arn:aws:dynamodb:us-east-1:123456789012:table/orders-v2/stream/*")
                && policy.contains("arn:aws:dynamodb:us-east-1:210987654321:table/ledger\""),
            "{policy}"
        );
        let existing = existing_names(&s, &CX);
        assert!(existing.contains("orders-v2"), "{existing:?}");
        assert!(
            !existing.iter().any(|n| n.contains("ledger")),
            "another account's table is never this stage's: {existing:?}"
        );
    }

    #[test]
    fn a_streaming_handler_without_a_streaming_url_is_warned_of() {
        let s = service("service: shop\nprovider: { name: aws }\nfunctions:\n  a: { handler: a }\n  b: { handler: b, url: true }\n  c: { handler: c, url: { invokeMode: RESPONSE_STREAM } }\n  d: { handler: d }\n");
        let mut package = package_for(&s);
        for key in ["a", "b", "c"] {
            package.functions.get_mut(key).unwrap().streams = true;
        }
        let warnings = streaming_warnings(&s, &package);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("function `a` streams"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].starts_with("function `b` streams"),
            "{warnings:?}"
        );
    }

    #[test]
    fn environment_values_never_appear_in_props() {
        let s = service("service: shop\nprovider: { name: aws }\nfunctions:\n  f:\n    handler: f\n    environment: { TOKEN: { value: hunter2, secret: true } }\n");
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let props = resources[2].props();
        assert!(props["env.TOKEN"].starts_with("hmac-sha256:"));
        assert!(!format!("{props:?}").contains("hunter2"));
        assert!(recordable(props).keys().all(|k| !k.starts_with("env.")));
    }

    #[test]
    fn fingerprints_are_keyed_per_run_and_tell_values_apart() {
        let (a, b) = (EnvKey::fixed(1), EnvKey::fixed(2));
        assert_eq!(fingerprint(&a, "hunter2"), fingerprint(&a, "hunter2"));
        assert_ne!(fingerprint(&a, "hunter2"), fingerprint(&a, "hunter3"));
        // Another key (another run) gives another fingerprint: nothing to check offline.
        assert_ne!(fingerprint(&a, "hunter2"), fingerprint(&b, "hunter2"));
        // HMAC-SHA256 (RFC 4231 test case 2), truncated to 128 bits.
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(hex.starts_with("5bdcc146bf60754e6a042426089575c7"));
        assert_eq!(format!("{a:?}"), "EnvKey(…)");
        let (r1, r2) = (EnvKey::random().unwrap(), EnvKey::random().unwrap());
        assert_ne!(r1, r2);
        assert_ne!(r1, EnvKey::fixed(0));
    }

    const SERVICE: &str = "service: shop\nprovider: { name: aws }\nfunctions:\n  api:\n    handler: api\n    events:\n      - httpApi: GET /items/{id}\n      - httpApi: '*'\n      - s3: { bucket: uploads, prefix: in/ }\n      - schedule: rate(1 hour)\n      - schedule: { rate: 'cron(0 2 * * ? *)', enabled: false }\n      - sqs: { queue: jobs, batchSize: 5 }\n      - stream: { table: todos }\n    permissions:\n      - { table: todos, access: read }\n      - { queue: jobs, access: send }\n      - { stateMachine: flow, access: start }\nresources:\n  tables:\n    todos: { partitionKey: { name: id, type: S }, stream: NEW_IMAGE }\n    scratch: { partitionKey: { name: id, type: S }, deletionPolicy: delete }\n  buckets:\n    uploads: {}\n  queues:\n    jobs: { deadLetter: { maxReceiveCount: 3 }, fifo: true }\n  stateMachines:\n    flow:\n      definition: { StartAt: A, States: { A: { Type: Task, Resource: '${fn:api}', End: true } } }\n";

    #[test]
    fn every_resource_and_trigger_has_a_stable_id_and_its_dependencies() {
        let s = service(SERVICE);
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let by_id: BTreeMap<&str, &Resource> =
            resources.iter().map(|r| (r.id.as_str(), r)).collect();
        let ids: Vec<&str> = by_id.keys().copied().collect();
        assert_eq!(
            ids,
            [
                "bucket/uploads",
                "bucketNotification/uploads",
                "eventSourceMapping/api.sqs.jobs",
                "eventSourceMapping/api.stream.todos",
                "function/api",
                "httpApi/api",
                "logGroup/api",
                "logGroup/stateMachine.flow",
                "permission/api.httpApi",
                "permission/api.s3.uploads",
                "permission/api.schedule.0",
                "permission/api.schedule.1",
                "queue/jobs",
                "queue/jobs-dlq",
                "role/api",
                "role/stateMachine.flow",
                "route/$default",
                "route/GET /items/{id}",
                "rule/api.0",
                "rule/api.1",
                "stateMachine/flow",
                "table/scratch",
                "table/todos",
            ]
        );
        // FIFO names, and the dead-letter queue first.
        assert_eq!(by_id["queue/jobs"].physical, "shop-dev-jobs.fifo");
        assert_eq!(by_id["queue/jobs-dlq"].physical, "shop-dev-jobs-dlq.fifo");
        assert_eq!(by_id["queue/jobs"].depends_on, ["queue/jobs-dlq"]);
        // S3 checks it may invoke the function when the notification is written.
        assert_eq!(
            by_id["bucketNotification/uploads"].depends_on,
            ["bucket/uploads", "permission/api.s3.uploads"]
        );
        let Spec::Permission(p) = &by_id["permission/api.schedule.1"].spec else {
            panic!()
        };
        assert_eq!(
            p.source_arn,
            "arn:aws:events:us-east-1:123456789012:rule/shop-dev-api-schedule-2"
        );
        let Spec::Permission(p) = &by_id["permission/api.s3.uploads"].spec else {
            panic!()
        };
        assert_eq!(p.source_account.as_deref(), Some("123456789012"));
        let Spec::Permission(p) = &by_id["permission/api.httpApi"].spec else {
            panic!()
        };
        assert_eq!(
            p.source_arn,
            format!("arn:aws:execute-api:us-east-1:123456789012:{HTTP_API_ID}/*")
        );
        let Spec::Rule(r) = &by_id["rule/api.1"].spec else {
            panic!()
        };
        assert!(!r.enabled);
        assert_eq!(
            r.target,
            "arn:aws:lambda:us-east-1:123456789012:function:shop-dev-api:live"
        );
        let Spec::StateMachine(sm) = &by_id["stateMachine/flow"].spec else {
            panic!()
        };
        assert!(sm
            .definition
            .contains("arn:aws:lambda:us-east-1:123456789012:function:shop-dev-api:live"));
        assert!(by_id["stateMachine/flow"]
            .depends_on
            .contains(&"function/api".to_string()));
        // Only what says so may be deleted with its data.
        assert!(by_id["table/scratch"].delete_with_data);
        assert!(!by_id["table/todos"].delete_with_data);
        assert!(!by_id["queue/jobs"].delete_with_data);
    }

    #[test]
    fn granted_resources_are_injected_under_the_runtime_crate_names() {
        let s = service(SERVICE);
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let Spec::Function(f) = &resources
            .iter()
            .find(|r| r.id == "function/api")
            .unwrap()
            .spec
        else {
            panic!()
        };
        let injected: Vec<(&str, &str)> = f
            .environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            injected,
            [
                (
                    "SLS_RS_QUEUE_JOBS",
                    "https://sqs.us-east-1.amazonaws.com/123456789012/shop-dev-jobs.fifo"
                ),
                (
                    "SLS_RS_STATE_MACHINE_FLOW",
                    "arn:aws:states:us-east-1:123456789012:stateMachine:shop-dev-flow"
                ),
                ("SLS_RS_TABLE_TODOS", "shop-dev-todos"),
            ]
        );
    }

    #[test]
    fn route_keys_follow_api_gateway() {
        assert_eq!(route_key("get", "/a/{id}"), "GET /a/{id}");
        assert_eq!(route_key("ANY", "/a"), "ANY /a");
        assert_eq!(route_key("*", "$default"), "$default");
    }

    #[test]
    fn http_api_cors_headers_compare_in_lowercase_as_api_gateway_keeps_them() {
        let s = service("service: shop\nprovider:\n  name: aws\n  httpApi:\n    cors: { allowedOrigins: ['*'], allowedMethods: [GET], allowedHeaders: [Content-Type, X-Api-Key] }\nfunctions:\n  f: { handler: f, events: [{ httpApi: GET /a }] }\n");
        let resources = desired(&s, &package_for(&s), &s.dir, &CX).unwrap();
        let api = resources.iter().find(|r| r.kind == Kind::HttpApi).unwrap();
        let cors = &api.props()["cors"];
        assert!(cors.contains("\"content-type\",\"x-api-key\""), "{cors}");
        assert_eq!(api.props()["stage"], HTTP_API_STAGE);
    }

    #[test]
    fn index_capacity_is_its_own_field_so_billing_changes_never_rebuild_an_index() {
        let on_demand = service("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\nresources:\n  tables:\n    t:\n      partitionKey: { name: id, type: S }\n      globalSecondaryIndexes: [{ name: byOwner, partitionKey: { name: owner, type: S } }]\n");
        let provisioned = service("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\nresources:\n  tables:\n    t:\n      partitionKey: { name: id, type: S }\n      billingMode: PROVISIONED\n      capacity: { read: 5, write: 2 }\n      globalSecondaryIndexes: [{ name: byOwner, partitionKey: { name: owner, type: S } }]\n");
        let props = |s: &Service| desired(s, &package_for(s), &s.dir, &CX).unwrap()[0].props();
        let (a, b) = (props(&on_demand), props(&provisioned));
        assert_eq!(a["gsi.byOwner"], b["gsi.byOwner"]);
        assert_eq!(b["gsiCapacity.byOwner"], "5/2");
        assert!(!a.contains_key("gsiCapacity.byOwner"));
    }
}

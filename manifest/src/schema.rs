//! The typed serverless.yaml. Key names follow Serverless Framework's
//! serverless.yml wherever the concept is the same; `serverless.yaml.example`
//! documents every key and is validated by the test suite.

use std::fmt;
use std::marker::PhantomData;

use indexmap::IndexMap;
use serde::de::{
    self, value::MapAccessDeserializer, value::SeqAccessDeserializer, Deserializer, Visitor,
};
use serde::{Deserialize, Serialize, Serializer};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Manifest {
    /// The service name; physical names are `{service}-{stage}-{name}`.
    #[serde(deserialize_with = "service_name")]
    pub service: String,
    pub provider: Provider,
    /// Per-stage overrides, keyed by stage name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub stages: IndexMap<String, StageSettings>,
    #[serde(default)]
    pub functions: IndexMap<String, Function>,
    #[serde(default)]
    pub resources: Resources,
    /// Free-form values for `${self:custom.…}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<serde_json::Value>,
    /// Accepted so a Serverless Framework file keeps validating; sls-rs does not read it.
    #[serde(default, skip_serializing)]
    pub framework_version: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provider {
    pub name: ProviderName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// An AWS profile of ~/.aws/config; otherwise the standard credential chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default)]
    pub runtime: Runtime,
    #[serde(default)]
    pub architecture: Architecture,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Every function's `/tmp`, in MB (512 to 10240); a function's own wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage_size: Option<u32>,
    /// Lambda's logging controls for every function (a function's `logs` replace them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Logs>,
    /// How every function's new version takes the `live` alias's traffic (a
    /// function's `deployment` replaces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    /// The subnets and security groups of every function (a function's `vpc` replaces them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<Vpc>,
    /// Layer version ARNs every function gets; a function's own `layers` replace them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_retention_in_days: Option<u32>,
    #[serde(default)]
    pub tracing: Tracing,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environment: IndexMap<String, EnvValue>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tags: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Iam::is_empty")]
    pub iam: Iam,
    /// The service's HTTP API (created when a function has an `httpApi` event).
    #[serde(default, skip_serializing_if = "HttpApiSettings::is_empty")]
    pub http_api: HttpApiSettings,
    /// Where the state and the artifacts live; default `sls-rs-deployments-{account}-{region}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_bucket: Option<DeploymentBucket>,
    /// How many deployments the state remembers (rollback targets); default 50. Lambda
    /// versions none of them, no alias and no provisioned concurrency uses are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_history: Option<u32>,
}

/// `provider.deploymentBucket`, as Serverless Framework spells it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeploymentBucket {
    /// A bucket of this account (created, versioned, private and encrypted if missing).
    pub name: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpApiSettings {
    /// CORS answered by API Gateway itself, before any function runs; `true` is
    /// Serverless Framework's "any origin, the usual headers".
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "cors_setting"
    )]
    pub cors: Option<CorsRule>,
}

impl HttpApiSettings {
    fn is_empty(&self) -> bool {
        self.cors.is_none()
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum ProviderName {
    #[serde(rename = "aws")]
    Aws,
}

#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub enum Runtime {
    #[default]
    #[serde(rename = "provided.al2023")]
    ProvidedAl2023,
    #[serde(rename = "provided.al2")]
    ProvidedAl2,
}

/// Any other runtime is a service sls-rs cannot build: say what it does build.
impl<'de> Deserialize<'de> for Runtime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "provided.al2023" => Ok(Runtime::ProvidedAl2023),
            "provided.al2" => Ok(Runtime::ProvidedAl2),
            "rust" => Err(de::Error::custom(format!(
                "`rust` is the serverless-rust plugin's runtime; sls-rs builds Rust handlers with cargo itself and runs them on `provided.al2023`{}write `runtime: provided.al2023` (or leave it out); `sls-rs migrate serverless.yml` converts a Serverless Framework file",
                crate::diagnostic::HELP_SEPARATOR
            ))),
            other => Err(de::Error::custom(format!(
                "unknown runtime `{other}`: sls-rs deploys Rust handlers built with cargo, on `provided.al2023` or `provided.al2`{}a {} service needs Serverless Framework; to move a Rust service, write `runtime: provided.al2023` (or leave it out) and run `sls-rs migrate serverless.yml` for the rest of the file",
                crate::diagnostic::HELP_SEPARATOR,
                other.split(|c: char| c.is_ascii_digit() || c == '.').next().unwrap_or(other),
            ))),
        }
    }
}

#[derive(
    Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
pub enum Architecture {
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Tracing {
    /// X-Ray active tracing on every function (a function may override it).
    #[serde(default)]
    pub lambda: bool,
    /// X-Ray tracing on every state machine.
    #[serde(default)]
    pub step_functions: bool,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StageSettings {
    /// An AWS endpoint override such as a local emulator (`http://127.0.0.1:5000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Merged over `provider.environment` for this stage.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environment: IndexMap<String, EnvValue>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Function {
    /// The cargo binary (of the service's workspace) that handles this function.
    pub handler: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<Architecture>,
    /// `/tmp`, in MB (512 to 10240; Lambda's default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage_size: Option<u32>,
    /// Lambda's logging controls, replacing `provider.logs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Logs>,
    /// The function's subnets and security groups, replacing `provider.vpc`;
    /// `vpc: false` takes a function out of the provider's VPC.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "vpc_setting"
    )]
    pub vpc: Option<Option<Vpc>>,
    /// How a new version takes the `live` alias's traffic, replacing `provider.deployment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    /// What Lambda does when it finds this function in a recursive loop (through SQS,
    /// SNS or S3): `Terminate` (Lambda's default) stops it, `Allow` lets it run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive_loop: Option<RecursiveLoop>,
    /// Lambda's tenant isolation (`TenancyConfig`): recognised so validate can say
    /// why sls-rs refuses it, never deployed (README, "What sls-rs does not do yet").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_isolation: Option<serde_json::Value>,
    /// Lambda Managed Instances (`CapacityProviderConfig`): refused the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider: Option<serde_json::Value>,
    /// Layer version ARNs (at most 5, in this region), replacing `provider.layers`; `[]` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_retention_in_days: Option<u32>,
    /// Overrides `provider.tracing.lambda` for this function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<bool>,
    /// Instances kept warm on the `live` alias: a number, or `{ min, max,
    /// targetUtilization }` for Application Auto Scaling to keep it between.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_concurrency: Option<ProvisionedConcurrency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub environment: IndexMap<String, EnvValue>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tags: IndexMap<String, String>,
    /// A function URL on the `live` alias: `url: true` (public, buffered), or its settings.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "url_setting"
    )]
    pub url: Option<FunctionUrl>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// High-level grants on the service's own resources, turned into exact IAM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
    /// Raw IAM statements added to this function's role (an escape hatch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iam_role_statements: Vec<IamStatement>,
}

/// An environment value: text, or `{ value, secret: true }` to keep it out of every output.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvValue {
    pub value: String,
    pub secret: bool,
}

impl Manifest {
    /// A function's layers: its own, else the provider's.
    pub fn layers_of<'a>(&'a self, f: &'a Function) -> &'a [String] {
        f.layers
            .as_deref()
            .or(self.provider.layers.as_deref())
            .unwrap_or_default()
    }

    /// A function's deployment strategy: its own, else the provider's, else all at once.
    pub fn deployment_of<'a>(&'a self, f: &'a Function) -> Option<&'a Deployment> {
        f.deployment.as_ref().or(self.provider.deployment.as_ref())
    }

    /// A function's VPC: its own (`false`: none), else the provider's.
    pub fn vpc_of<'a>(&'a self, f: &'a Function) -> Option<&'a Vpc> {
        match &f.vpc {
            Some(own) => own.as_ref(),
            None => self.provider.vpc.as_ref(),
        }
    }

    /// A function's logging controls: its own, else the provider's, else Lambda's (text).
    pub fn logs_of(&self, f: &Function) -> Logs {
        f.logs
            .clone()
            .or_else(|| self.provider.logs.clone())
            .unwrap_or_default()
    }

    /// A function's `/tmp` size in MB: its own, else the provider's, else Lambda's 512.
    pub fn ephemeral_storage_of(&self, f: &Function) -> u32 {
        f.ephemeral_storage_size
            .or(self.provider.ephemeral_storage_size)
            .unwrap_or(crate::DEFAULT_EPHEMERAL_STORAGE)
    }

    /// A function's environment as deployed: `provider.environment`, then the
    /// stage's, then the function's own, later ones winning.
    pub fn environment_of(&self, stage: &str, f: &Function) -> IndexMap<String, EnvValue> {
        let stage_env = self.stages.get(stage).map(|s| &s.environment);
        let mut merged = IndexMap::new();
        for env in [
            Some(&self.provider.environment),
            stage_env,
            Some(&f.environment),
        ]
        .into_iter()
        .flatten()
        {
            merged.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        merged
    }
}

/// Names that hold credentials by convention are masked even without `secret: true`.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "PRIVATE_KEY",
        "API_KEY",
        "APIKEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

pub const REDACTED: &str = "<secret>";

/// Serialization is for showing a manifest (`print`), so secrets are masked here once.
impl Serialize for EnvValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.secret { REDACTED } else { &self.value })
    }
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            value: String,
            #[serde(default)]
            secret: bool,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EnvValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, or a mapping `{ value: …, secret: true }`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<EnvValue, E> {
                Ok(EnvValue {
                    value: s.to_string(),
                    secret: false,
                })
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<EnvValue, E> {
                self.visit_str(&n.to_string())
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<EnvValue, E> {
                self.visit_str(&n.to_string())
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<EnvValue, E> {
                self.visit_str(&n.to_string())
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<EnvValue, E> {
                self.visit_str(&b.to_string())
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<EnvValue, A::Error> {
                let full = Full::deserialize(MapAccessDeserializer::new(map))?;
                Ok(EnvValue {
                    value: full.value,
                    secret: full.secret,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A trigger of a function. Each list item names exactly one kind.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum Event {
    /// `httpApi: POST /todos`, or `{ method, path }`.
    HttpApi(#[serde(deserialize_with = "shorthand")] HttpApiEvent),
    S3(S3Event),
    /// `schedule: rate(1 day)`, or `{ rate, enabled, input }`.
    Schedule(#[serde(deserialize_with = "shorthand")] ScheduleEvent),
    /// `sqs: jobs`, or `{ queue, batchSize, … }`.
    Sqs(#[serde(deserialize_with = "shorthand")] SqsEvent),
    Stream(StreamEvent),
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpApiEvent {
    /// GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY, or `*` for the `$default` route.
    pub method: String,
    /// `/todos/{id}`, `/files/{proxy+}`, or `$default`.
    pub path: String,
}

impl Shorthand for HttpApiEvent {
    const EXPECTING: &'static str =
        "a route `METHOD /path` (e.g. `POST /todos`), or a mapping with `method` and `path`";
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "*" || s == "$default" {
            return Ok(HttpApiEvent {
                method: "*".into(),
                path: "$default".into(),
            });
        }
        match s.split_once(char::is_whitespace) {
            Some((method, path)) => Ok(HttpApiEvent {
                method: method.to_string(),
                path: path.trim().to_string(),
            }),
            None => Err(format!(
                "`{s}` is not a route: write `METHOD /path`, e.g. `GET /todos/{{id}}`"
            )),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct S3Event {
    /// A bucket of `resources.buckets`.
    pub bucket: String,
    #[serde(default = "default_s3_events")]
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}

fn default_s3_events() -> Vec<String> {
    vec!["s3:ObjectCreated:*".to_string()]
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScheduleEvent {
    /// `rate(5 minutes)` or `cron(0 12 * * ? *)`, as EventBridge writes them.
    pub rate: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A constant JSON event to send instead of the scheduled-event payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
    /// `eventBus` (an EventBridge rule, the default) or `scheduler` (EventBridge
    /// Scheduler: time zones, and a role of its own instead of a resource policy).
    #[serde(default)]
    pub method: ScheduleMethod,
    /// The scheduler's time zone for `cron(…)` (IANA: `Europe/Paris`; default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ScheduleMethod {
    #[default]
    EventBus,
    Scheduler,
}

fn yes() -> bool {
    true
}

impl Shorthand for ScheduleEvent {
    const EXPECTING: &'static str =
        "a schedule expression such as `rate(1 day)`, or a mapping with `rate`";
    fn parse(s: &str) -> Result<Self, String> {
        Ok(ScheduleEvent {
            rate: s.to_string(),
            enabled: true,
            input: None,
            method: ScheduleMethod::EventBus,
            timezone: None,
        })
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SqsEvent {
    /// A queue of `resources.queues`.
    pub queue: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// Seconds to gather a batch (0–300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_batching_window: Option<u32>,
    /// `ReportBatchItemFailures` lets the handler fail single messages of a batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response_type: Option<FunctionResponseType>,
    /// At most this many concurrent invocations for this queue (2 to 1000); Lambda's default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_concurrency: Option<u32>,
}

impl Shorthand for SqsEvent {
    const EXPECTING: &'static str = "a queue name, or a mapping with `queue`";
    fn parse(s: &str) -> Result<Self, String> {
        Ok(SqsEvent {
            queue: s.to_string(),
            batch_size: None,
            maximum_batching_window: None,
            function_response_type: None,
            maximum_concurrency: None,
        })
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum FunctionResponseType {
    ReportBatchItemFailures,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StreamEvent {
    /// A table of `resources.tables` that declares `stream`.
    pub table: String,
    #[serde(default)]
    pub starting_position: StartingPosition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_batching_window: Option<u32>,
    /// Event filter patterns (JSON), as Lambda's FilterCriteria takes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_patterns: Vec<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StartingPosition {
    #[default]
    Latest,
    TrimHorizon,
}

/// A grant on one of the service's own resources: exactly one of `table`,
/// `bucket`, `queue`, `stateMachine`, `function`, and the access wanted.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Permission {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_machine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    pub access: Access,
    /// Buckets only: limit object access to keys under this prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
    Readwrite,
    Send,
    Consume,
    Start,
    Invoke,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Readwrite => "readwrite",
            Access::Send => "send",
            Access::Consume => "consume",
            Access::Start => "start",
            Access::Invoke => "invoke",
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Iam {
    #[serde(default)]
    pub role: IamRole,
}

impl Iam {
    fn is_empty(&self) -> bool {
        self.role.statements.is_empty()
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IamRole {
    /// Raw IAM statements added to every function's role (an escape hatch).
    #[serde(default)]
    pub statements: Vec<IamStatement>,
}

/// An IAM policy statement, in IAM's own spelling.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct IamStatement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub effect: Effect,
    #[serde(deserialize_with = "one_or_many")]
    pub action: Vec<String>,
    #[serde(deserialize_with = "one_or_many")]
    pub resource: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tables: IndexMap<String, Table>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub buckets: IndexMap<String, Bucket>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub queues: IndexMap<String, Queue>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub state_machines: IndexMap<String, StateMachine>,
}

/// What `remove` and a deletion from the manifest do with a resource that holds data.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeletionPolicy {
    /// Keep it (and list it as retained) unless `--force` is given.
    #[default]
    Retain,
    Delete,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Table {
    /// A table sls-rs does not own, by name (this account and region) or ARN: usable in
    /// `permissions`, `stream` events (its stream, when its owner enabled one) and
    /// `${table:…}`, never created, changed or deleted (no other key goes with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
    /// Required for a table sls-rs makes (validate says so where it is missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<KeyAttribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_key: Option<KeyAttribute>,
    #[serde(default)]
    pub billing_mode: BillingMode,
    /// Read and write capacity units, for `billingMode: PROVISIONED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamView>,
    /// The attribute holding each item's expiry time (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    #[serde(default)]
    pub point_in_time_recovery: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global_secondary_indexes: Vec<GlobalSecondaryIndex>,
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tags: IndexMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyAttribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: KeyType,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum KeyType {
    S,
    N,
    B,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BillingMode {
    #[default]
    PayPerRequest,
    Provisioned,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    pub read: u32,
    pub write: u32,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamView {
    NewImage,
    OldImage,
    NewAndOldImages,
    KeysOnly,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GlobalSecondaryIndex {
    pub name: String,
    pub partition_key: KeyAttribute,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_key: Option<KeyAttribute>,
    #[serde(default)]
    pub projection: Projection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Projection {
    #[default]
    All,
    KeysOnly,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Bucket {
    /// A bucket sls-rs does not own, by name: usable in `permissions`, `${bucket:…}` and
    /// the environment, never created, changed or deleted (no other key goes with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
    /// The bucket's name instead of `{service}-{stage}-{name}-{account}-{region}`: S3's
    /// names are global, so it must be free (and is then this stage's alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub versioning: bool,
    #[serde(default)]
    pub encryption: BucketEncryption,
    /// Public access is blocked unless this is `false`.
    #[serde(default = "yes")]
    pub block_public_access: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cors: Vec<CorsRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tags: IndexMap<String, String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum BucketEncryption {
    #[default]
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "aws:kms")]
    Kms,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CorsRule {
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Lifecycle {
    /// Delete objects this many days after creation.
    pub expire_after_days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Queue {
    /// A queue sls-rs does not own, by name (this account and region) or ARN: usable in
    /// `permissions`, `sqs` events and `${queue:…}`, never created, changed or deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
    /// Seconds (0–43200); at least the timeout of the functions consuming the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility_timeout: Option<u32>,
    /// Seconds (60–1209600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_retention_period: Option<u32>,
    #[serde(default)]
    pub fifo: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetter>,
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tags: IndexMap<String, String>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeadLetter {
    /// Receives before a message moves to the `{queue}-dlq` queue (1–1000).
    pub max_receive_count: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StateMachine {
    /// Amazon States Language; `${fn:NAME}` becomes the function's `live` alias ARN.
    pub definition: serde_json::Value,
    #[serde(default, rename = "type")]
    pub kind: StateMachineType,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tags: IndexMap<String, String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StateMachineType {
    #[default]
    Standard,
    Express,
}

/// A setting with a short string form besides its full mapping form.
pub trait Shorthand: Sized {
    const EXPECTING: &'static str;
    fn parse(s: &str) -> Result<Self, String>;
}

fn shorthand<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Shorthand + Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Shorthand + Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(T::EXPECTING)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            T::parse(s).map_err(E::custom)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// How a new version takes the `live` alias's traffic: all at once (the default), or
/// shifted in steps (Lambda's weighted alias routing), guarded by CloudWatch alarms.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Deployment {
    pub strategy: Strategy,
    /// The share of the invocations each step moves to the new version (1–99):
    /// a canary's one step before all, or a linear shift's every step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u32>,
    /// The time between steps: `30s`, `5m`, `1h` (1 second to 1 hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// What guards the shift: names of CloudWatch alarms (which exist), and alarms sls-rs
    /// makes on the new version's metrics (`errors: 0`, `p99Duration: 800ms`,
    /// `throttles: 0`). One in ALARM during the shift rolls every shifted alias back to
    /// its previous version and fails the deploy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<Alarm>,
}

impl Deployment {
    /// The alarms of one's own, by name.
    pub fn named_alarms(&self) -> impl Iterator<Item = &String> {
        self.alarms.iter().filter_map(|a| match a {
            Alarm::Named(name) => Some(name),
            Alarm::BuiltIn(_) => None,
        })
    }

    /// The alarms sls-rs makes, each with its threshold (a count, or milliseconds); one
    /// validate refuses is left out.
    pub fn built_in_alarms(&self) -> Vec<(AlarmMetric, u32)> {
        let mut out = Vec::new();
        for a in &self.alarms {
            if let Alarm::BuiltIn(b) = a {
                out.extend(b.set().into_iter().filter_map(|(m, t)| Some((m, t.ok()?))));
            }
        }
        out
    }
}

/// One entry of `deployment.alarms`.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Alarm {
    /// A CloudWatch alarm of one's own, by name.
    Named(String),
    /// An alarm sls-rs makes (and deletes with the function).
    BuiltIn(BuiltInAlarm),
}

impl<'de> Deserialize<'de> for Alarm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Alarm;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the name of a CloudWatch alarm, or one sls-rs makes: `errors: 0`, `p99Duration: 800ms` or `throttles: 0`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Alarm, E> {
                Ok(Alarm::Named(s.to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Alarm, A::Error> {
                BuiltInAlarm::deserialize(MapAccessDeserializer::new(map)).map(Alarm::BuiltIn)
            }
        }
        d.deserialize_any(V)
    }
}

/// An alarm sls-rs makes on the new version's metrics during a shift: one key, its
/// threshold. Errors and throttles are counts in one period; the duration a time.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuiltInAlarm {
    /// In ALARM when the new version has more errors than this in a period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<u32>,
    /// In ALARM when the new version's p99 duration is above this (`800ms`, `2s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_duration: Option<String>,
    /// In ALARM when the new version is throttled more than this in a period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttles: Option<u32>,
}

impl BuiltInAlarm {
    /// The keys set, each with its threshold or why it is not one (validate wants
    /// exactly one key).
    pub fn set(&self) -> Vec<(AlarmMetric, Result<u32, String>)> {
        let mut out = Vec::new();
        if let Some(n) = self.errors {
            out.push((AlarmMetric::Errors, Ok(n)));
        }
        if let Some(text) = &self.p99_duration {
            out.push((AlarmMetric::P99Duration, parse_millis(text)));
        }
        if let Some(n) = self.throttles {
            out.push((AlarmMetric::Throttles, Ok(n)));
        }
        out
    }
}

/// What an alarm sls-rs makes watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlarmMetric {
    Errors,
    P99Duration,
    Throttles,
}

impl AlarmMetric {
    pub const ALL: [AlarmMetric; 3] = [
        AlarmMetric::Errors,
        AlarmMetric::P99Duration,
        AlarmMetric::Throttles,
    ];

    /// The end of the name of the alarm sls-rs makes on it: `…-errors`.
    pub fn suffix(self) -> &'static str {
        match self {
            AlarmMetric::Errors => "errors",
            AlarmMetric::P99Duration => "p99-duration",
            AlarmMetric::Throttles => "throttles",
        }
    }

    /// Its key in `deployment.alarms`.
    pub fn key(self) -> &'static str {
        match self {
            AlarmMetric::Errors => "errors",
            AlarmMetric::P99Duration => "p99Duration",
            AlarmMetric::Throttles => "throttles",
        }
    }
}

/// A duration in milliseconds, written with its unit: `800ms`, `2s` (up to 15 minutes,
/// Lambda's longest timeout).
pub fn parse_millis(text: &str) -> Result<u32, String> {
    let expected = "a duration with its unit: `800ms`, `2s`";
    let (n, unit) = number_and_unit(text).ok_or_else(|| expected.to_string())?;
    let ms = match unit {
        "ms" => n,
        "s" => n.saturating_mul(1000),
        _ => return Err(expected.to_string()),
    };
    if !(1..=900_000).contains(&ms) {
        return Err("from `1ms` to `900s` (Lambda's longest timeout)".into());
    }
    Ok(u32::try_from(ms).expect("at most 900000"))
}

/// `30s` → (30, "s"): the leading whole number and what follows it.
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    Some((number.parse().ok()?, unit))
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// `percent` for one `interval`, then all.
    Canary,
    /// `percent` more every `interval` until all.
    Linear,
    AllAtOnce,
}

/// A deployment's `interval`: a whole number of seconds (`s`), minutes (`m`) or
/// hours (`h`), from 1 second to 1 hour.
pub fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let expected = "a number of seconds, minutes or hours: `30s`, `5m`, `1h`";
    let (n, unit) = number_and_unit(text).ok_or_else(|| expected.to_string())?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(expected.to_string()),
    };
    if !(1..=3600).contains(&secs) {
        return Err("from 1 second (`1s`) to 1 hour (`1h`)".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// A function's place in a VPC: Lambda puts its network interfaces in these subnets,
/// with these security groups.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Vpc {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

/// `vpc: false` (none, over the provider's) or the subnets and security groups.
fn vpc_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Vpc>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Option<Vpc>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("false, or a mapping with `subnetIds` and `securityGroupIds`")
        }
        fn visit_bool<E: de::Error>(self, on: bool) -> Result<Self::Value, E> {
            if on {
                Err(E::custom("`vpc: true` names no subnets: give `subnetIds` and `securityGroupIds`, or `false` for none"))
            } else {
                Ok(Some(None))
            }
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Some(None))
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Vpc::deserialize(MapAccessDeserializer::new(map)).map(|v| Some(Some(v)))
        }
    }
    d.deserialize_any(V)
}

/// Lambda's logging controls (`LoggingConfig`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Logs {
    /// `Text` (Lambda's default) or `JSON`: Lambda then writes its own lines as JSON,
    /// filters the function's JSON lines by their `level`, and tells the runtime crate
    /// the level in `AWS_LAMBDA_LOG_LEVEL`.
    #[serde(default)]
    pub format: LogFormat,
    /// The least severe of the function's lines kept (JSON only; default INFO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_level: Option<LogLevel>,
    /// The least severe of Lambda's own lines kept (JSON only; default INFO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_level: Option<SystemLogLevel>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    #[serde(rename = "JSON")]
    Json,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SystemLogLevel {
    Debug,
    Info,
    Warn,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
            LogLevel::Fatal => "FATAL",
        }
    }

    /// A level as a log line names it (`warn`, `WARNING`, `err`…); `None` when it names none.
    pub fn parse(text: &str) -> Option<LogLevel> {
        Some(match text.trim().to_ascii_uppercase().as_str() {
            "TRACE" => LogLevel::Trace,
            "DEBUG" => LogLevel::Debug,
            "INFO" => LogLevel::Info,
            "WARN" | "WARNING" => LogLevel::Warn,
            "ERROR" | "ERR" => LogLevel::Error,
            "FATAL" | "CRITICAL" => LogLevel::Fatal,
            _ => return None,
        })
    }
}

impl SystemLogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            SystemLogLevel::Debug => "DEBUG",
            SystemLogLevel::Info => "INFO",
            SystemLogLevel::Warn => "WARN",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum RecursiveLoop {
    #[default]
    Terminate,
    Allow,
}

/// `provisionedConcurrency:` a fixed number, or auto scaling between two.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ProvisionedConcurrency {
    Fixed(u32),
    Scaling(ProvisionedScaling),
}

/// Application Auto Scaling of provisioned concurrency (target tracking on Lambda's
/// `ProvisionedConcurrencyUtilization`).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProvisionedScaling {
    pub min: u32,
    pub max: u32,
    /// The share of provisioned instances busy that the scaler keeps to, 0.1–0.9.
    #[serde(default = "default_target_utilization")]
    pub target_utilization: f64,
}

/// AWS's suggested starting point for provisioned concurrency (Lambda's documentation).
pub const DEFAULT_TARGET_UTILIZATION: f64 = 0.7;

fn default_target_utilization() -> f64 {
    DEFAULT_TARGET_UTILIZATION
}

impl ProvisionedConcurrency {
    /// What the `live` alias gets at deploy: the number, or the minimum.
    pub fn initial(self) -> u32 {
        match self {
            ProvisionedConcurrency::Fixed(n) => n,
            ProvisionedConcurrency::Scaling(s) => s.min,
        }
    }

    /// The most it may be.
    pub fn max(self) -> u32 {
        match self {
            ProvisionedConcurrency::Fixed(n) => n,
            ProvisionedConcurrency::Scaling(s) => s.max,
        }
    }

    pub fn scaling(self) -> Option<ProvisionedScaling> {
        match self {
            ProvisionedConcurrency::Fixed(_) => None,
            ProvisionedConcurrency::Scaling(s) => Some(s),
        }
    }
}

impl<'de> Deserialize<'de> for ProvisionedConcurrency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ProvisionedConcurrency;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of instances, or a mapping `{ min, max, targetUtilization }` for auto scaling")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                u32::try_from(n)
                    .map(ProvisionedConcurrency::Fixed)
                    .map_err(|_| {
                        E::custom(format!("{n} instances is more than any account may run"))
                    })
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!(
                        "{n}: a number of instances is 0 or more"
                    ))),
                }
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ProvisionedScaling::deserialize(MapAccessDeserializer::new(map))
                    .map(ProvisionedConcurrency::Scaling)
            }
        }
        d.deserialize_any(V)
    }
}

/// A function URL (Serverless Framework's `url:`), always on the `live` alias.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FunctionUrl {
    /// `none`: anyone may call it (Serverless Framework's default); `aws_iam`: SigV4-signed
    /// requests of principals allowed `lambda:InvokeFunctionUrl`.
    #[serde(default)]
    pub authorizer: UrlAuthorizer,
    /// CORS answered by Lambda itself: `true` (any origin, the usual headers) or settings.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "url_cors_setting"
    )]
    pub cors: Option<UrlCors>,
    /// `BUFFERED` (6 MB answers), or `RESPONSE_STREAM` for a handler that streams
    /// (`lambda_http::run_with_streaming_response`, up to 200 MB).
    #[serde(default)]
    pub invoke_mode: InvokeMode,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub enum UrlAuthorizer {
    #[default]
    #[serde(rename = "none")]
    None,
    #[serde(rename = "aws_iam")]
    AwsIam,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvokeMode {
    #[default]
    Buffered,
    ResponseStream,
}

/// A function URL's CORS: each key left out takes `cors: true`'s value.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UrlCors {
    #[serde(default = "any")]
    pub allowed_origins: Vec<String>,
    #[serde(default = "any")]
    pub allowed_methods: Vec<String>,
    #[serde(default = "usual_headers")]
    pub allowed_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_response_headers: Vec<String>,
    #[serde(default)]
    pub allow_credentials: bool,
    /// Seconds a browser may cache the preflight's answer (0 to 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
}

fn any() -> Vec<String> {
    vec!["*".into()]
}

/// The headers Serverless Framework allows for `cors: true`.
fn usual_headers() -> Vec<String> {
    [
        "Content-Type",
        "X-Amz-Date",
        "Authorization",
        "X-Api-Key",
        "X-Amz-Security-Token",
    ]
    .map(String::from)
    .to_vec()
}

impl Default for UrlCors {
    fn default() -> Self {
        UrlCors {
            allowed_origins: any(),
            allowed_methods: any(),
            allowed_headers: usual_headers(),
            exposed_response_headers: vec![],
            allow_credentials: false,
            max_age: None,
        }
    }
}

/// `true`, `false` or the mapping, for `url:` and its `cors:`.
fn flag_or_map<'de, D, T>(d: D, expecting: &'static str) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    struct V<T>(&'static str, PhantomData<T>);
    impl<'de, T: Default + Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_bool<E: de::Error>(self, on: bool) -> Result<Self::Value, E> {
            Ok(on.then(T::default))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(V(expecting, PhantomData))
}

fn url_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FunctionUrl>, D::Error> {
    flag_or_map(
        d,
        "true, false, or a mapping with `authorizer`, `cors` and `invokeMode`",
    )
}

fn url_cors_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UrlCors>, D::Error> {
    flag_or_map(
        d,
        "true, false, or a mapping with `allowedOrigins`, `allowedMethods`, `allowedHeaders`, `exposedResponseHeaders`, `allowCredentials` and `maxAge`",
    )
}

/// `cors: true` (any origin, the headers Serverless Framework allows), `false`, or a rule.
fn cors_setting<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CorsRule>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<CorsRule>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("true, false, or a mapping with `allowedOrigins` and `allowedMethods`")
        }
        fn visit_bool<E: de::Error>(self, on: bool) -> Result<Self::Value, E> {
            Ok(on.then(CorsRule::allow_any_origin))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            CorsRule::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(V)
}

impl CorsRule {
    /// What `cors: true` means in Serverless Framework's `provider.httpApi`.
    pub fn allow_any_origin() -> Self {
        CorsRule {
            allowed_origins: vec!["*".into()],
            allowed_methods: vec!["*".into()],
            allowed_headers: [
                "Content-Type",
                "X-Amz-Date",
                "Authorization",
                "X-Api-Key",
                "X-Amz-Security-Token",
                "X-Amz-User-Agent",
                "X-Amzn-Trace-Id",
            ]
            .map(String::from)
            .to_vec(),
            max_age: None,
        }
    }
}

/// `service: todo`, or Serverless Framework v1's `service: { name: todo }`.
fn service_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Named {
        name: String,
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("the service name (`service: todo`)")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
            Ok(s.to_string())
        }
        // `service: 2048` reads as a number; Serverless Framework takes it as the name.
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<String, E> {
            Ok(n.to_string())
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<String, E> {
            Ok(n.to_string())
        }
        fn visit_bool<E: de::Error>(self, b: bool) -> Result<String, E> {
            Ok(b.to_string())
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<String, A::Error> {
            Named::deserialize(MapAccessDeserializer::new(map)).map(|n| n.name)
        }
    }
    d.deserialize_any(V)
}

/// IAM's "a string or a list of strings".
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<String>, E> {
            Ok(vec![s.to_string()])
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<String>, A::Error> {
            Vec::<String>::deserialize(SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(V)
}

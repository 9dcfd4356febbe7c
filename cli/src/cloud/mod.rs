//! The only part that talks to AWS: every client comes from one `aws-config`
//! loader, so the standard credential chain (env, profiles, SSO, web identity,
//! credential_process) and `AWS_ENDPOINT_URL` work as users expect.

pub mod alarms;
pub mod bucket_notification;
mod calls;
pub mod create;
pub mod deployment_bucket;
pub mod dynamodb_table;
pub mod emulator;
pub mod endpoint;
pub mod event_source_mapping;
mod expected_owner;
mod failure;
pub mod function_url;
pub mod http_api;
pub mod iam_role;
pub mod lambda_function;
pub mod lambda_permission;
pub mod log_events;
pub mod log_group;
pub mod metrics;
pub mod provisioned_scaling;
mod rate;
pub mod s3_bucket;
pub mod schedule_rule;
pub mod scheduler;
pub mod sqs_queue;
pub mod state_machine;
mod unreachable;
mod wait;

pub use wait::{duration_var, pause};
pub mod state_store;
pub use expected_owner::HEADER as EXPECTED_OWNER_HEADER;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;

pub use calls::{is_read_only, CallLog, CallSummary};
pub use endpoint::{Endpoints, Svc};
pub use failure::{aws_error, AwsFailure};
pub use rate::{Api, Pacer};

use crate::manifest::Service;

/// What deleting a data resource did: data is never destroyed unless the caller allowed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// It is gone (or was already).
    Gone,
    /// It holds data and deleting it was not allowed: it is kept as it is.
    KeptNotEmpty,
}

/// Every client a deploy uses, built from one configuration, each counting its calls.
pub struct Aws {
    pub target: Target,
    /// Where each service's calls go (an emulator, or AWS).
    pub endpoints: Endpoints,
    pub account: String,
    pub s3: aws_sdk_s3::Client,
    /// S3 for the state and the lock only: its calls are bookkeeping, counted apart.
    pub state_s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub scheduler: aws_sdk_scheduler::Client,
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub apigw: aws_sdk_apigatewayv2::Client,
    pub calls: CallLog,
    pub state_calls: CallLog,
    /// S3's clock, for the age of the lock.
    pub clock: state_store::ServerClock,
    /// What paces Lambda, IAM and API Gateway requests in the HTTP client (`None`: unpaced,
    /// as against an emulator; see [`rate::enabled`]).
    pub pacer: Option<std::sync::Arc<Pacer>>,
    /// One lock per function: writes to one function's resource policy run one at a time.
    policy_locks: PolicyLocks,
}

type PolicyLocks =
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>;

impl Aws {
    /// Builds the clients and asks STS which account they act in.
    pub async fn connect(target: &Target) -> anyhow::Result<Aws> {
        let config = sdk_config(target).await;
        Self::from_config(target, &config).await
    }

    pub async fn from_config(target: &Target, config: &SdkConfig) -> anyhow::Result<Aws> {
        let endpoints = Endpoints::resolve(config);
        let (calls, state_calls) = (CallLog::default(), CallLog::default());
        // Every request of a paced family waits for its token in the HTTP client: the
        // families whose service goes to AWS (or all, with SLS_RS_PACE=aws).
        let pacer = Pacer::new(|api| rate::enabled(endpoints.emulated(api.service())));
        let pacer = pacer.any().then(|| std::sync::Arc::new(pacer));
        let paced;
        let config = match &pacer {
            Some(pacer) => {
                let inner = config
                    .http_client()
                    .unwrap_or_else(rate::default_http_client);
                paced = config
                    .to_builder()
                    .http_client(rate::PacedHttpClient::new(inner, pacer.clone()))
                    .build();
                &paced
            }
            None => config,
        };
        // Each client at its service's resolved endpoint, so where calls go is what `endpoints` says.
        // The SDK's retry quota is off: a throttle costs 5 of its 500 tokens, a fault 14,
        // and a run throttled a hundred-odd times (deploys sharing the account's rates)
        // stopped retrying altogether: `benches/throttled.py`'s unpaced deploy failed on
        // its 139th IAM throttle with attempts to spare. Concurrency and MAX_ATTEMPTS,
        // with backoff, bound the retries instead.
        macro_rules! client {
            ($sdk:ident, $svc:expr) => {{
                use $sdk::config::retry::{RetryPartition, TokenBucket};
                let mut builder = $sdk::config::Builder::from(config);
                builder.set_endpoint_url(endpoints.of($svc).map(str::to_string));
                $sdk::Client::from_conf(
                    builder
                        .retry_partition(
                            RetryPartition::custom(concat!("sls-rs ", stringify!($sdk)))
                                .token_bucket(TokenBucket::unlimited())
                                .build(),
                        )
                        .interceptor(calls.clone())
                        .interceptor(rate::PaceTag)
                        .retry_classifier(unreachable::Unreachable {
                            refused_is_final: endpoints.of($svc).is_some(),
                        })
                        .build(),
                )
            }};
        }
        let sts = client!(aws_sdk_sts, Svc::Sts);
        let identity = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_error("the caller identity", "sts:GetCallerIdentity", e))?;
        let account = identity
            .account()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("sts:GetCallerIdentity returned no account id"))?;
        let clock = state_store::ServerClock::default();
        // Every bucket sls-rs touches must be this account's own.
        let s3_config = || {
            s3_builder(config, &endpoints)
                .interceptor(expected_owner::ExpectedOwner(account.clone()))
        };
        let s3 = aws_sdk_s3::Client::from_conf(s3_config().interceptor(calls.clone()).build());
        let state_s3 = aws_sdk_s3::Client::from_conf(
            s3_config()
                .interceptor(state_calls.clone())
                .interceptor(clock.clone())
                .build(),
        );
        let (iam, lambda, logs) = (
            client!(aws_sdk_iam, Svc::Iam),
            client!(aws_sdk_lambda, Svc::Lambda),
            client!(aws_sdk_cloudwatchlogs, Svc::Logs),
        );
        let (dynamodb, sqs, sfn, events, apigw) = (
            client!(aws_sdk_dynamodb, Svc::DynamoDb),
            client!(aws_sdk_sqs, Svc::Sqs),
            client!(aws_sdk_sfn, Svc::StepFunctions),
            client!(aws_sdk_eventbridge, Svc::EventBridge),
            client!(aws_sdk_apigatewayv2, Svc::HttpApi),
        );
        let scheduler = client!(aws_sdk_scheduler, Svc::Scheduler);
        let autoscaling = client!(aws_sdk_applicationautoscaling, Svc::AutoScaling);
        let cloudwatch = client!(aws_sdk_cloudwatch, Svc::CloudWatch);
        Ok(Aws {
            target: target.clone(),
            endpoints,
            account,
            s3,
            state_s3,
            iam,
            lambda,
            logs,
            dynamodb,
            sqs,
            sfn,
            events,
            apigw,
            scheduler,
            autoscaling,
            cloudwatch,
            calls,
            state_calls,
            clock,
            pacer,
            policy_locks: Default::default(),
        })
    }

    /// Clients that never reach the network; tests put a mocked one in with `..`.
    #[cfg(test)]
    pub fn offline() -> Aws {
        Aws::with_s3(
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new("us-east-1"))
                    .build(),
            ),
            None,
        )
    }

    /// Clients that never reach the network, around a given (mocked) S3 client.
    #[cfg(test)]
    pub fn with_s3(s3: aws_sdk_s3::Client, endpoint: Option<&str>) -> Aws {
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .build(),
        );
        Aws {
            s3,
            ..Aws::with_lambda(lambda, endpoint)
        }
    }

    /// Clients that never reach the network, around a given (mocked) Lambda client.
    #[cfg(test)]
    pub fn with_lambda(lambda: aws_sdk_lambda::Client, endpoint: Option<&str>) -> Aws {
        let region = Region::new("us-east-1");
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region.clone())
            .build();
        let iam = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region.clone())
            .build();
        macro_rules! offline {
            ($sdk:ident) => {
                $sdk::Client::from_conf(
                    $sdk::Config::builder()
                        .behavior_version(BehaviorVersion::latest())
                        .region(region.clone())
                        .build(),
                )
            };
        }
        Aws {
            target: Target {
                region: "us-east-1".into(),
                endpoint: endpoint.map(str::to_string),
                profile: None,
            },
            endpoints: Endpoints::everywhere(endpoint),
            account: "123456789012".into(),
            s3: aws_sdk_s3::Client::from_conf(conf.clone()),
            state_s3: aws_sdk_s3::Client::from_conf(conf),
            iam: aws_sdk_iam::Client::from_conf(iam),
            lambda,
            logs: offline!(aws_sdk_cloudwatchlogs),
            dynamodb: offline!(aws_sdk_dynamodb),
            sqs: offline!(aws_sdk_sqs),
            sfn: offline!(aws_sdk_sfn),
            events: offline!(aws_sdk_eventbridge),
            apigw: offline!(aws_sdk_apigatewayv2),
            scheduler: offline!(aws_sdk_scheduler),
            autoscaling: offline!(aws_sdk_applicationautoscaling),
            cloudwatch: offline!(aws_sdk_cloudwatch),
            calls: CallLog::default(),
            state_calls: CallLog::default(),
            clock: Default::default(),
            pacer: None,
            policy_locks: Default::default(),
        }
    }

    /// The lock of one function's resource policy: AddPermission and RemovePermission
    /// on one function conflict when they overlap.
    pub fn policy_lock(&self, function: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        self.policy_locks
            .lock()
            .expect("policy locks")
            .entry(function.to_string())
            .or_default()
            .clone()
    }

    /// Whether any service goes to an emulator (a stage's `endpoint:`, `AWS_ENDPOINT_URL`, …).
    /// Never a reason to skip a call: see [`emulator::lacks_api`].
    pub fn is_emulator(&self) -> bool {
        self.endpoints.any()
    }

    /// Whether this service's calls go to an emulator.
    pub fn emulates(&self, svc: Svc) -> bool {
        self.endpoints.emulated(svc)
    }

    /// `arn:aws`, or the partition of China and GovCloud regions.
    pub fn partition(&self) -> &'static str {
        partition(&self.target.region)
    }
}

pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "arn:aws-cn"
    } else if region.starts_with("us-gov-") {
        "arn:aws-us-gov"
    } else {
        "arn:aws"
    }
}

/// Where queue URLs start: SQS's regional endpoint, or the emulator's.
pub fn queue_url_base(region: &str, endpoints: &Endpoints) -> String {
    match endpoints.of(Svc::Sqs) {
        Some(endpoint) => endpoint.trim_end_matches('/').to_string(),
        None if region.starts_with("cn-") => format!("https://sqs.{region}.amazonaws.com.cn"),
        None => format!("https://sqs.{region}.amazonaws.com"),
    }
}

/// Where a run's AWS calls go, as the stage says (the environment and profile
/// add to it: [`Endpoints::resolve`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub region: String,
    /// The stage's `endpoint:`: every service at a local emulator (moto, LocalStack).
    pub endpoint: Option<String>,
    pub profile: Option<String>,
}

impl Target {
    pub fn of(service: &Service) -> Self {
        Target {
            region: service.region.clone(),
            endpoint: service.endpoint.clone(),
            profile: service.profile.clone(),
        }
    }
}

/// Attempts of one call, the SDK's and those sls-rs makes itself (`create_once`).
pub const MAX_ATTEMPTS: u32 = 12;

/// Loads the shared SDK configuration for a target.
pub async fn sdk_config(target: &Target) -> SdkConfig {
    load(target).await.0
}

/// The shared SDK configuration for a target and where each service's calls go.
/// When every service goes to an emulator and no credentials are configured,
/// dummy ones are supplied (emulators accept any key).
pub async fn load(target: &Target) -> (SdkConfig, Endpoints) {
    // Requests are paced below AWS's limits (see `rate`); throttles that still happen
    // (other tools sharing the account's limits) and other transient errors are
    // retried by the SDK with backoff, each retry paced again. Throttles and faults
    // count against the same attempts: five deploys at once through the realism
    // layer's throttling and 5% faults saw a CreateRole give up after eight. Twelve
    // wait out about a minute of backoff before the error is reported.
    let retry = RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(std::time::Duration::from_millis(200));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(target.region.clone()))
        .retry_config(retry);
    if let Some(profile) = &target.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = &target.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let mut config = loader.load().await;
    if let Some(endpoint) = &target.endpoint {
        config = endpoint::stage_wins(config, endpoint);
    }
    let endpoints = Endpoints::resolve(&config);
    // Emulators accept any key; without one configured, don't make the user export
    // fake ones. Not when some service goes to AWS: that needs the real ones.
    let configured = target.profile.is_some()
        || std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
        || std::env::var_os("AWS_PROFILE").is_some();
    if !endpoints.all() || configured {
        return (config, endpoints);
    }
    let dummy = Credentials::new("test", "test", None, None, "sls-rs-emulator");
    let config = config
        .into_builder()
        .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(dummy))
        .build();
    (config, endpoints)
}

/// S3's configuration at its resolved endpoint; against an emulator it addresses
/// buckets by path, since emulators do not serve bucket subdomains.
fn s3_builder(config: &SdkConfig, endpoints: &Endpoints) -> aws_sdk_s3::config::Builder {
    let endpoint = endpoints.of(Svc::S3);
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    builder.set_endpoint_url(endpoint.map(str::to_string));
    builder
        .force_path_style(endpoint.is_some())
        .retry_classifier(unreachable::Unreachable {
            refused_is_final: endpoint.is_some(),
        })
}

/// An S3 client at the configuration's S3 endpoint (path-style on an emulator).
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(s3_builder(config, &Endpoints::resolve(config)).build())
}

pub fn sts(config: &SdkConfig) -> aws_sdk_sts::Client {
    let override_ = Endpoints::resolve(config).of(Svc::Sts).is_some();
    aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(config)
            .retry_classifier(unreachable::Unreachable {
                refused_is_final: override_,
            })
            .build(),
    )
}

/// The account the credentials belong to. Never assumed: emulators differ
/// (moto 123456789012, LocalStack 000000000000).
pub async fn account_id(config: &SdkConfig) -> anyhow::Result<String> {
    let identity = sts(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_error("the caller identity", "sts:GetCallerIdentity", e))?;
    identity
        .account()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("sts:GetCallerIdentity returned no account id"))
}

/// Whether an AWS error carries one of these codes (services spell "not found" differently).
pub fn has_code<E: aws_smithy_types::error::metadata::ProvideErrorMetadata>(
    err: &E,
    codes: &[&str],
) -> bool {
    err.code().is_some_and(|c| codes.contains(&c))
}

/// The fields an update changes, each with the value it had (`None`: it was unset).
pub type Changed = std::collections::BTreeMap<String, Option<String>>;

pub fn changed(c: &Changed, prefix: &str) -> bool {
    c.keys().any(|k| k.starts_with(prefix))
}

/// A client of any AWS SDK answering from the mock `rules` (in any order), for the
/// SDKs sls-rs does not build with their test-util feature (`mock_client!` wants it).
#[cfg(test)]
macro_rules! mocked {
    ($sdk:ident, $rules:expr) => {{
        let mut interceptor = aws_smithy_mocks::MockResponseInterceptor::new()
            .rule_mode(aws_smithy_mocks::RuleMode::MatchAny);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule);
        }
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider($sdk::config::Credentials::new("a", "b", None, None, "test"))
                .http_client(aws_smithy_mocks::create_mock_http_client())
                .interceptor(interceptor)
                .build(),
        )
    }};
}
#[cfg(test)]
pub(crate) use mocked;

/// Tags an update must remove: recorded as ours, gone from the manifest. The bare
/// `tags.` an adopting create passes (every tag) names no tag: AWS refuses an empty key.
pub fn dropped_tags(c: &Changed, now: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    c.keys()
        .filter_map(|k| k.strip_prefix("tags."))
        .filter(|k| !k.is_empty())
        .filter(|k| !now.contains_key(*k))
        .map(str::to_string)
        .collect()
}

/// What AWS says when the role handed to it (a function's, a state machine's) is
/// not usable yet because IAM has not propagated it: the only errors worth waiting for.
const ROLE_NOT_READY: &[&str] = &[
    // Lambda CreateFunction / UpdateFunctionConfiguration (InvalidParameterValueException).
    "cannot be assumed by Lambda",
    // Lambda CreateEventSourceMapping: "The provided execution role does not have permissions to call ReceiveMessage on SQS";
    // Create/UpdateFunctionConfiguration with tracing on, the role's xray:PutTraceSegments
    // just added: "… does not have permissions to call PutTraceSegments on XRAY".
    "execution role does not have permissions to call",
    // Step Functions: "Neither the global service principal states.amazonaws.com, nor the regional one is authorized to assume the provided role."
    "authorized to assume the provided role",
    // EventBridge Scheduler CreateSchedule (ValidationException).
    "must allow AWS EventBridge Scheduler to assume the role",
];

/// IAM is eventually consistent: a role (or a policy) written a moment ago may not
/// be usable by another service yet. Its error messages say so in words only. The
/// deployer's own missing permission ("User: arn:… is not authorized to perform:
/// lambda:CreateFunction") is no such thing: waiting would not grant it.
pub(crate) fn is_iam_propagation<E: aws_smithy_types::error::metadata::ProvideErrorMetadata>(
    err: &E,
) -> bool {
    let Some(message) = err.message() else {
        return false;
    };
    let callers_own =
        message.starts_with("User: ") || message.contains("is not authorized to perform");
    !callers_own && ROLE_NOT_READY.iter().any(|p| message.contains(p))
}

/// Runs `call`, retrying with backoff for up to 90 s while IAM has not propagated.
pub async fn retry_until_assumable<T, E, F, Fut>(mut call: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut delay = std::time::Duration::from_millis(500);
    loop {
        match call().await {
            Err(e) if is_iam_propagation(&e) && std::time::Instant::now() < deadline => {
                pause(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(8));
            }
            other => return other,
        }
    }
}

/// Runs `call` again with backoff (0.5 s doubling to 8 s) while `retryable` says its
/// error is one that time resolves, until `deadline` has passed; then returns its answer.
pub async fn retry_while<T, E, F, Fut>(
    deadline: std::time::Duration,
    retryable: impl Fn(&E) -> bool,
    mut call: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + deadline;
    let mut delay = std::time::Duration::from_millis(500);
    loop {
        match call().await {
            Err(e) if retryable(&e) && tokio::time::Instant::now() < deadline => {
                pause(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(8));
            }
            other => return other,
        }
    }
}

/// How long a change refused because another change to the same resource is in progress is retried.
const CONFLICT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Lambda refuses a change while another one to the same function is in progress
/// (`ResourceConflictException`), or to an event source mapping that is being
/// created, updated or deleted (`ResourceInUseException`). A statement id that
/// "already exists" is a conflict too, but no wait resolves it.
fn is_conflict<E: aws_smithy_types::error::metadata::ProvideErrorMetadata>(err: &E) -> bool {
    let busy = matches!(
        err.code(),
        Some("ResourceConflictException" | "ResourceInUseException")
    ) && !err.message().is_some_and(|m| m.contains("already exists"));
    // API Gateway refuses overlapping writes to one API with a ConflictException
    // ("Unable to complete operation due to concurrent modification"); its other
    // ConflictExceptions (a route key taken) are answers, not waits.
    let overlapping = err.code() == Some("ConflictException")
        && err
            .message()
            .is_some_and(|m| m.contains("concurrent modification"));
    busy || overlapping
}

/// Runs `call`, retrying with backoff until `CONFLICT_DEADLINE` while AWS answers
/// that another change is in progress.
pub async fn retry_on_conflict<T, E, F, Fut>(mut call: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    let deadline = std::time::Instant::now() + CONFLICT_DEADLINE;
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match call().await {
            Err(e) if is_conflict(&e) && std::time::Instant::now() < deadline => {
                pause(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// An S3 "get" answered 200 with a body the SDK cannot parse, on an emulator: moto
/// writes an empty configuration (versioning never set, no notifications) under
/// another XML root. From AWS such an answer is an error like any other, never
/// read as "no configuration".
pub fn is_empty_answer<E>(
    aws: &Aws,
    err: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    aws.emulates(Svc::S3)
        && err
            .raw_response()
            .is_some_and(|r| r.status().as_u16() == 200)
}

#[cfg(test)]
mod tests {
    //! Emulator-only leniency, against mocked S3 answers: the same answer is read
    //! one way from an emulator and is an error from AWS.
    use super::*;
    use aws_sdk_s3::operation::get_bucket_cors::GetBucketCorsOutput;
    use aws_sdk_s3::operation::get_bucket_encryption::GetBucketEncryptionOutput;
    use aws_sdk_s3::operation::get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationOutput;
    use aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput;
    use aws_sdk_s3::operation::get_public_access_block::GetPublicAccessBlockOutput;
    use aws_sdk_s3::operation::list_buckets::ListBucketsOutput;
    use aws_sdk_s3::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    const EMULATOR: Option<&str> = Some("http://127.0.0.1:5000");

    /// What moto sends for a configuration never set: 200, under a root the SDK does not expect.
    fn garbage_200() -> Response {
        Response::new(
            StatusCode::try_from(200).unwrap(),
            SdkBody::from("<NotAConfiguration><Status>Enabled</Status></NotAConfiguration"),
        )
    }

    #[tokio::test]
    async fn an_unreadable_200_is_no_notification_on_an_emulator_and_an_error_on_aws() {
        let get =
            mock!(Client::get_bucket_notification_configuration).then_http_response(garbage_200);
        let emulator = Aws::with_s3(mock_client!(aws_sdk_s3, [&get]), EMULATOR);
        assert_eq!(
            bucket_notification::read(&emulator, "b").await.unwrap(),
            None
        );

        let get =
            mock!(Client::get_bucket_notification_configuration).then_http_response(garbage_200);
        let aws = Aws::with_s3(mock_client!(aws_sdk_s3, [&get]), None);
        let err = bucket_notification::read(&aws, "b").await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("bucket notification (b) (s3:GetBucketNotificationConfiguration): "),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn an_unreadable_200_for_versioning_is_read_on_an_emulator_and_an_error_on_aws() {
        let versioning = mock!(Client::get_bucket_versioning).then_http_response(garbage_200);
        let encryption = mock!(Client::get_bucket_encryption)
            .then_output(|| GetBucketEncryptionOutput::builder().build());
        let public = mock!(Client::get_public_access_block)
            .then_output(|| GetPublicAccessBlockOutput::builder().build());
        let cors =
            mock!(Client::get_bucket_cors).then_output(|| GetBucketCorsOutput::builder().build());
        let lifecycle = mock!(Client::get_bucket_lifecycle_configuration)
            .then_output(|| GetBucketLifecycleConfigurationOutput::builder().build());
        let tags = mock!(Client::get_bucket_tagging).then_output(|| {
            GetBucketTaggingOutput::builder()
                .set_tag_set(Some(vec![]))
                .build()
                .unwrap()
        });
        // Untagged: whether it holds anything is read too.
        let objects = mock!(Client::list_object_versions).then_output(|| {
            aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput::builder().build()
        });
        let owned = mock!(Client::list_buckets).then_output(|| {
            ListBucketsOutput::builder()
                .buckets(aws_sdk_s3::types::Bucket::builder().name("b").build())
                .build()
        });
        let emulator = Aws::with_s3(
            mock_client!(
                aws_sdk_s3,
                RuleMode::MatchAny,
                [
                    &versioning,
                    &owned,
                    &encryption,
                    &public,
                    &cors,
                    &lifecycle,
                    &tags,
                    &objects
                ]
            ),
            EMULATOR,
        );
        let props = s3_bucket::read(&emulator, "b").await.unwrap().unwrap();
        assert_eq!(props["versioning"], "on");
        assert_eq!(props[crate::model::UNCLAIMED], "true", "untagged and empty");

        let versioning = mock!(Client::get_bucket_versioning).then_http_response(garbage_200);
        let aws = Aws::with_s3(mock_client!(aws_sdk_s3, [&versioning]), None);
        let err = s3_bucket::read(&aws, "b").await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("S3 bucket (b) (s3:GetBucketVersioning): "),
            "{err:#}"
        );
    }
}

#[cfg(test)]
mod iam_retry_tests {
    //! Which IAM errors are waited out, against mocked Lambda answers: no emulator gives them.
    use super::*;
    use aws_sdk_lambda::operation::create_event_source_mapping::{
        CreateEventSourceMappingError, CreateEventSourceMappingOutput,
    };
    use aws_sdk_lambda::operation::create_function::CreateFunctionError;
    use aws_sdk_lambda::types::error::InvalidParameterValueException;
    use aws_sdk_lambda::Client;
    use aws_smithy_mocks::{mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    fn denied(action: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code("AccessDeniedException")
            .message(format!("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: {action} on resource: arn:aws:lambda:us-east-1:123456789012:function:f"))
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn the_deployers_own_missing_permission_fails_at_once_naming_the_action() {
        let create = mock!(Client::create_event_source_mapping).then_error(|| {
            CreateEventSourceMappingError::generic(denied("lambda:CreateEventSourceMapping"))
        });
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&create]), None);
        let result =
            retry_until_assumable(|| aws.lambda.create_event_source_mapping().send()).await;
        assert!(result.is_err());
        assert_eq!(
            create.num_calls(),
            1,
            "no retry of the caller's own AccessDenied"
        );

        let create = mock!(Client::create_function)
            .then_error(|| CreateFunctionError::generic(denied("lambda:CreateFunction")));
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&create]), None);
        let spec = crate::model::tests::function_spec();
        let err = crate::cloud::lambda_function::create(&aws, "f", &spec, "bucket", true)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(create.num_calls(), 1);
        assert!(
            err.contains("(lambda:CreateFunction)")
                && err.contains("is not authorized to perform: lambda:CreateFunction")
                && err.contains("may not call lambda:CreateFunction"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_role_not_usable_yet_is_retried_until_it_is() {
        let create = mock!(Client::create_event_source_mapping)
            .sequence()
            .error(|| {
                CreateEventSourceMappingError::InvalidParameterValueException(
                    InvalidParameterValueException::builder()
                        .meta(
                            ErrorMetadata::builder()
                                .code("InvalidParameterValueException")
                                .message("The provided execution role does not have permissions to call ReceiveMessage on SQS")
                                .build(),
                        )
                        .build(),
                )
            })
            .times(2)
            .output(|| CreateEventSourceMappingOutput::builder().uuid("u").build())
            .build();
        let aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&create]), None);
        let out = retry_until_assumable(|| aws.lambda.create_event_source_mapping().send())
            .await
            .unwrap();
        assert_eq!(out.uuid(), Some("u"));
        assert_eq!(create.num_calls(), 3);
    }

    #[test]
    fn only_errors_about_the_role_handed_over_are_propagation() {
        let is = |code: &str, message: &str| {
            is_iam_propagation(&ErrorMetadata::builder().code(code).message(message).build())
        };
        assert!(is(
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda."
        ));
        assert!(is("AccessDeniedException", "Neither the global service principal states.amazonaws.com, nor the regional one is authorized to assume the provided role."));
        assert!(!is(
            "AccessDeniedException",
            "User: arn:aws:sts::1:assumed-role/ci/x is not authorized to perform: iam:PassRole on resource: r"
        ));
        assert!(!is("ValidationException", "1 validation error detected"));
    }
}

#[cfg(test)]
mod pace_tests {
    //! Every client of a paced family goes through the pacer, whatever the call site.
    use super::*;
    use aws_smithy_runtime_api::client::http::{
        http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    /// Answers STS's GetCallerIdentity, and 200 with an unreadable body to everything else.
    #[derive(Debug)]
    struct Canned;

    impl HttpConnector for Canned {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let sts = request
                .body()
                .bytes()
                .is_some_and(|b| String::from_utf8_lossy(b).contains("GetCallerIdentity"));
            let body = if sts {
                "<GetCallerIdentityResponse><GetCallerIdentityResult><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>"
            } else {
                "not what any SDK expects"
            };
            HttpConnectorFuture::ready(Ok(Response::new(
                StatusCode::try_from(200).unwrap(),
                SdkBody::from(body),
            )))
        }
    }

    #[tokio::test]
    async fn every_lambda_iam_and_api_gateway_request_is_paced_by_its_family() {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sts::config::SharedCredentialsProvider::new(
                Credentials::new("a", "b", None, None, "test"),
            ))
            .retry_config(RetryConfig::disabled())
            .http_client(http_client_fn(|_, _| SharedHttpConnector::new(Canned)))
            .build();
        let target = Target {
            region: "us-east-1".into(),
            endpoint: None,
            profile: None,
        };
        let aws = Aws::from_config(&target, &config).await.unwrap();
        let pacer = aws.pacer.clone().expect("paced against AWS");
        let _ = aws.lambda.get_function().function_name("f").send().await;
        let _ = aws.lambda.get_policy().function_name("f").send().await;
        let _ = aws.lambda.list_functions().send().await;
        let _ = aws.lambda.publish_version().function_name("f").send().await;
        let _ = aws.lambda.invoke().function_name("f").send().await;
        let _ = aws.iam.get_role().role_name("r").send().await;
        let _ = aws.apigw.get_apis().send().await;
        let _ = aws.logs.create_log_group().log_group_name("g").send().await;
        let _ = aws.logs.describe_log_groups().send().await;
        let _ = aws.cloudwatch.delete_alarms().alarm_names("a").send().await;
        let _ = aws.cloudwatch.describe_alarms().send().await;
        let _ = aws.s3.list_buckets().send().await;
        let _ = aws.sqs.list_queues().send().await;
        let paced = |api| pacer.paced(api);
        assert_eq!(
            (
                paced(Api::LambdaControl),
                paced(Api::LambdaGetFunction),
                paced(Api::LambdaGetPolicy),
                paced(Api::Iam),
                paced(Api::ApiGateway),
                paced(Api::LogGroupWrite),
                paced(Api::AlarmWrite)
            ),
            (2, 1, 1, 1, 1, 1, 1),
            "invocations, log reads, S3 and SQS are not paced"
        );
    }
}

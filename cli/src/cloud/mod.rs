//! The only part that talks to AWS: every client comes from one `aws-config`
//! loader, so the standard credential chain (env, profiles, SSO, web identity,
//! credential_process) and `AWS_ENDPOINT_URL` work as users expect.

mod calls;
pub mod deployment_bucket;
pub mod iam_role;
pub mod lambda_function;
pub mod log_events;
pub mod log_group;
mod rate;
mod wait;

pub use wait::pause;
pub mod state_store;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;

pub use calls::{is_read_only, CallLog, CallSummary};
pub use rate::RateLimit;

use crate::manifest::Service;

/// Lambda's control-plane limit on AWS, requests per second.
const LAMBDA_REQUESTS_PER_SECOND: u32 = 15;

/// Every client a deploy uses, built from one configuration, each counting its calls.
pub struct Aws {
    pub target: Target,
    pub account: String,
    pub s3: aws_sdk_s3::Client,
    /// S3 for the state and the lock only: its calls are bookkeeping, counted apart.
    pub state_s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub calls: CallLog,
    pub state_calls: CallLog,
    /// Paces Lambda control-plane calls (not against an emulator).
    pub lambda_rate: RateLimit,
}

impl Aws {
    /// Builds the clients and asks STS which account they act in.
    pub async fn connect(target: &Target) -> anyhow::Result<Aws> {
        let config = sdk_config(target).await;
        Self::from_config(target, &config).await
    }

    pub async fn from_config(target: &Target, config: &SdkConfig) -> anyhow::Result<Aws> {
        let (calls, state_calls) = (CallLog::default(), CallLog::default());
        let path_style = config.endpoint_url().is_some();
        let s3_config = || aws_sdk_s3::config::Builder::from(config).force_path_style(path_style);
        let s3 = aws_sdk_s3::Client::from_conf(s3_config().interceptor(calls.clone()).build());
        let state_s3 =
            aws_sdk_s3::Client::from_conf(s3_config().interceptor(state_calls.clone()).build());
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(config)
                .interceptor(calls.clone())
                .build(),
        );
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(config)
                .interceptor(calls.clone())
                .build(),
        );
        let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(config)
                .interceptor(calls.clone())
                .build(),
        );
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(config)
                .interceptor(calls.clone())
                .build(),
        );
        let identity = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_error("the caller identity", "sts:GetCallerIdentity", e))?;
        let account = identity
            .account()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("sts:GetCallerIdentity returned no account id"))?;
        let limit = if target.endpoint.is_some() {
            0
        } else {
            LAMBDA_REQUESTS_PER_SECOND
        };
        Ok(Aws {
            target: target.clone(),
            account,
            s3,
            state_s3,
            iam,
            lambda,
            logs,
            calls,
            state_calls,
            lambda_rate: RateLimit::per_second(limit),
        })
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
        let logs = aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(region)
            .build();
        Aws {
            target: Target {
                region: "us-east-1".into(),
                endpoint: endpoint.map(str::to_string),
                profile: None,
            },
            account: "123456789012".into(),
            s3: aws_sdk_s3::Client::from_conf(conf.clone()),
            state_s3: aws_sdk_s3::Client::from_conf(conf),
            iam: aws_sdk_iam::Client::from_conf(iam),
            lambda,
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(logs),
            calls: CallLog::default(),
            state_calls: CallLog::default(),
            lambda_rate: RateLimit::per_second(0),
        }
    }

    /// An emulator stage: APIs it lacks are warnings, not errors.
    pub fn is_emulator(&self) -> bool {
        self.target.endpoint.is_some()
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

/// Where a run's AWS calls go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub region: String,
    /// An endpoint override: a local emulator (moto, LocalStack).
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

/// Loads the shared SDK configuration for a target.
pub async fn sdk_config(target: &Target) -> SdkConfig {
    // Throttling (and other transient errors) are retried by the SDK with backoff.
    let retry = RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(std::time::Duration::from_millis(200));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(target.region.clone()))
        .retry_config(retry);
    if let Some(profile) = &target.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = &target.endpoint {
        loader = loader.endpoint_url(endpoint);
        // Emulators accept any key; without one configured, don't make the user export fake ones.
        if target.profile.is_none() && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "sls-rs-emulator",
            ));
        }
    }
    loader.load().await
}

/// An S3 client; against an endpoint override it addresses buckets by path,
/// since emulators do not serve bucket subdomains.
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder =
        aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some());
    aws_sdk_s3::Client::from_conf(builder.build())
}

pub fn sts(config: &SdkConfig) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(config)
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

/// `creating Lambda function (shop-dev-checkout) (lambda:CreateFunction): <AWS's message>`.
pub fn aws_error<E: std::error::Error + Send + Sync + 'static>(
    resource: &str,
    operation: &str,
    err: E,
) -> anyhow::Error {
    let detail = aws_sdk_sts::error::DisplayErrorContext(&err).to_string();
    anyhow::anyhow!("{resource} ({operation}): {detail}")
}

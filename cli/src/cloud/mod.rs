//! The only part that talks to AWS: every client comes from one `aws-config`
//! loader, so the standard credential chain (env, profiles, SSO, web identity,
//! credential_process) and `AWS_ENDPOINT_URL` work as users expect.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;

use crate::manifest::Service;

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
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).region(Region::new(target.region.clone()));
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

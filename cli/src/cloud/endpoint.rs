//! Where each AWS service's calls go: the one answer to "is this an emulator?".
//!
//! Resolved once per run, from the same configuration the SDK clients are built
//! from, so what sls-rs believes and where the calls really go cannot differ:
//!
//! 1. A stage's `endpoint:` key (often `${env:SLS_RS_ENDPOINT, …}`) sends every
//!    service there; environment and profile endpoints are then ignored.
//! 2. Otherwise the SDK's own settings, per service: `AWS_ENDPOINT_URL_<SERVICE>`
//!    (`AWS_ENDPOINT_URL_S3`, `…_LAMBDA`, `…_CLOUDWATCH_LOGS`, …) or the profile's
//!    `services` section, else `AWS_ENDPOINT_URL` or the profile's `endpoint_url`;
//!    `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` (or the profile's
//!    `ignore_configured_endpoint_urls`) turns all of these off.
//!
//! A service with an endpoint override is an emulator *for that service* (path-style
//! S3, queue URLs under it, no Lambda pacing, its missing APIs recognised by their
//! answers); dummy credentials are supplied only when every service goes to one.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_types::service_config::ServiceConfigKey;

/// The AWS services sls-rs (and its tests) talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Svc {
    S3,
    Iam,
    Sts,
    Lambda,
    Logs,
    DynamoDb,
    Sqs,
    StepFunctions,
    EventBridge,
    HttpApi,
    Scheduler,
    AutoScaling,
    CloudWatch,
    XRay,
}

impl Svc {
    /// Every service the deploy's clients are built for (X-Ray is only read by handlers and users).
    pub const CALLED: [Svc; 13] = [
        Svc::S3,
        Svc::Iam,
        Svc::Sts,
        Svc::Lambda,
        Svc::Logs,
        Svc::DynamoDb,
        Svc::Sqs,
        Svc::StepFunctions,
        Svc::EventBridge,
        Svc::HttpApi,
        Svc::Scheduler,
        Svc::AutoScaling,
        Svc::CloudWatch,
    ];

    /// The SDK's service id: what its per-service settings are keyed by.
    pub fn sdk_id(self) -> &'static str {
        match self {
            Svc::S3 => "S3",
            Svc::Iam => "IAM",
            Svc::Sts => "STS",
            Svc::Lambda => "Lambda",
            Svc::Logs => "CloudWatch Logs",
            Svc::DynamoDb => "DynamoDB",
            Svc::Sqs => "SQS",
            Svc::StepFunctions => "SFN",
            Svc::EventBridge => "EventBridge",
            Svc::HttpApi => "ApiGatewayV2",
            Svc::Scheduler => "Scheduler",
            Svc::AutoScaling => "Application Auto Scaling",
            Svc::CloudWatch => "CloudWatch",
            Svc::XRay => "XRay",
        }
    }

    /// `AWS_ENDPOINT_URL_<ID>`: the id upper-cased, spaces as underscores.
    pub fn env_var(self) -> String {
        format!(
            "AWS_ENDPOINT_URL_{}",
            self.sdk_id().to_ascii_uppercase().replace(' ', "_")
        )
    }

    /// The name users know it by, lower case (`lambda`, `dynamodb`, …).
    pub fn name(self) -> &'static str {
        match self {
            Svc::S3 => "s3",
            Svc::Iam => "iam",
            Svc::Sts => "sts",
            Svc::Lambda => "lambda",
            Svc::Logs => "logs",
            Svc::DynamoDb => "dynamodb",
            Svc::Sqs => "sqs",
            Svc::StepFunctions => "stepfunctions",
            Svc::EventBridge => "events",
            Svc::HttpApi => "apigatewayv2",
            Svc::Scheduler => "scheduler",
            Svc::AutoScaling => "application-autoscaling",
            Svc::CloudWatch => "cloudwatch",
            Svc::XRay => "xray",
        }
    }
}

/// Per-service settings when a stage's `endpoint:` is set: none, so every client
/// (ours, and any built from the same configuration) uses the stage's endpoint.
#[derive(Debug)]
struct StageEndpoint;

impl aws_types::service_config::LoadServiceConfig for StageEndpoint {
    fn load_config(&self, _: ServiceConfigKey<'_>) -> Option<String> {
        None
    }
}

/// A configuration whose endpoint is the stage's `endpoint:` for every service:
/// the SDK alone would still let `AWS_ENDPOINT_URL_<SERVICE>` win over it.
pub(crate) fn stage_wins(config: SdkConfig, stage: &str) -> SdkConfig {
    config
        .into_builder()
        .endpoint_url(stage)
        .service_config(StageEndpoint)
        .build()
}

/// The endpoint override of each service that has one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    overrides: BTreeMap<Svc, String>,
}

/// Whether an endpoint URL names one of AWS's own hosts (`*.amazonaws.com`,
/// `*.amazonaws.com.cn`, `*.api.aws`), such as a VPC interface endpoint.
pub fn is_aws_host(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or(url);
    let host = host.split(['/', '?']).next().unwrap_or(host);
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"]
        .iter()
        .any(|d| host.ends_with(d))
}

impl Endpoints {
    /// Every service at `endpoint` (a stage's `endpoint:`), or none.
    pub fn everywhere(endpoint: Option<&str>) -> Endpoints {
        Endpoints {
            overrides: endpoint
                .map(|e| Svc::CALLED.iter().map(|s| (*s, e.to_string())).collect())
                .unwrap_or_default(),
        }
    }

    /// The endpoints of a loaded configuration (from [`super::load`], where a
    /// stage's `endpoint:` has already replaced every other setting).
    pub fn resolve(config: &SdkConfig) -> Endpoints {
        let overrides = Svc::CALLED
            .iter()
            .filter_map(|svc| {
                let key = ServiceConfigKey::builder()
                    .service_id(svc.sdk_id())
                    .env("AWS_ENDPOINT_URL")
                    .profile("endpoint_url")
                    .build()
                    .expect("every field is set");
                // The same order the SDK's clients resolve in: the service's own setting first.
                config
                    .service_config()
                    .and_then(|c| c.load_config(key))
                    .or_else(|| config.endpoint_url().map(str::to_string))
                    .map(|e| (*svc, e))
            })
            .collect();
        Endpoints { overrides }
    }

    /// Only these services at an emulator.
    #[cfg(test)]
    pub fn only(services: &[(Svc, &str)]) -> Endpoints {
        Endpoints {
            overrides: services.iter().map(|(s, e)| (*s, e.to_string())).collect(),
        }
    }

    /// The override of one service; `None`: AWS itself.
    pub fn of(&self, svc: Svc) -> Option<&str> {
        self.overrides.get(&svc).map(String::as_str)
    }

    /// Whether `svc` goes to an emulator: an override that is not AWS's own
    /// (a VPC endpoint, FIPS or dual-stack host of `amazonaws.com` is AWS, with
    /// AWS's rate limits and credentials).
    pub fn emulated(&self, svc: Svc) -> bool {
        self.of(svc).is_some_and(|url| !is_aws_host(url))
    }

    /// Whether any service goes to an emulator.
    pub fn any(&self) -> bool {
        Svc::CALLED.iter().any(|s| self.emulated(*s))
    }

    /// Whether every service sls-rs calls goes to an emulator (then credentials can be dummies).
    pub fn all(&self) -> bool {
        Svc::CALLED.iter().all(|s| self.emulated(*s))
    }

    /// `http://127.0.0.1:5000`, or `S3 at http://…, Lambda at http://…` when they differ.
    pub fn describe(&self) -> String {
        let mut distinct: Vec<&String> = self.overrides.values().collect();
        distinct.dedup();
        match distinct.as_slice() {
            [] => "AWS".into(),
            [one] if self.all() => (*one).clone(),
            _ => self
                .overrides
                .iter()
                .map(|(s, e)| format!("{} at {e}", s.sdk_id()))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The variables that send an AWS SDK (a handler run by `invoke --local`) where sls-rs's calls go.
    pub fn sdk_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        if self.all() {
            let first = self.overrides.values().next().expect("all() has one");
            if self.overrides.values().all(|e| e == first) {
                env.insert("AWS_ENDPOINT_URL".into(), first.clone());
                return env;
            }
        }
        for (svc, e) in &self.overrides {
            env.insert(svc.env_var(), e.clone());
        }
        env
    }
}

#[cfg(test)]
mod tests {
    //! The resolution rules, against a configuration whose per-service settings
    //! are given here (the SDK reads the real ones from the environment and profile).
    use super::*;

    #[test]
    fn an_endpoint_of_aws_itself_is_not_an_emulator() {
        for aws in [
            "https://vpce-0a1b-x2y3.lambda.us-east-1.vpce.amazonaws.com",
            "https://lambda-fips.us-east-1.amazonaws.com/",
            "https://s3.dualstack.eu-west-1.amazonaws.com",
            "https://lambda.cn-north-1.amazonaws.com.cn",
            "https://lambda.us-east-1.api.aws:443",
        ] {
            assert!(is_aws_host(aws), "{aws}");
            let e = Endpoints::only(&[(Svc::Lambda, aws)]);
            assert!(!e.emulated(Svc::Lambda) && !e.any(), "{aws}");
        }
        for emulator in [
            "http://127.0.0.1:5000",
            "http://localhost:4566",
            "http://amazonaws.com.evil.test:4566",
        ] {
            assert!(!is_aws_host(emulator), "{emulator}");
            assert!(Endpoints::only(&[(Svc::Lambda, emulator)]).emulated(Svc::Lambda));
        }
    }
    use aws_types::service_config::LoadServiceConfig;

    /// Per-service settings as `AWS_ENDPOINT_URL_<ID>` variables would give them.
    #[derive(Debug)]
    struct Vars(Vec<(&'static str, &'static str)>);

    impl LoadServiceConfig for Vars {
        fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
            let var = format!(
                "{}_{}",
                key.env(),
                key.service_id().to_ascii_uppercase().replace(' ', "_")
            );
            self.0
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| v.to_string())
        }
    }

    fn config(global: Option<&str>, vars: Vars) -> SdkConfig {
        SdkConfig::builder()
            .endpoint_url(global.map(str::to_string).unwrap_or_default())
            .service_config(vars)
            .build()
    }

    fn config_without_global(vars: Vars) -> SdkConfig {
        SdkConfig::builder().service_config(vars).build()
    }

    #[test]
    fn aws_endpoint_url_alone_is_an_emulator_for_every_service() {
        let e = Endpoints::resolve(&config(Some("http://localhost:4566"), Vars(vec![])));
        assert!(e.all());
        assert_eq!(e.of(Svc::Lambda), Some("http://localhost:4566"));
        assert_eq!(e.describe(), "http://localhost:4566");
        assert_eq!(
            e.sdk_env().into_iter().collect::<Vec<_>>(),
            [("AWS_ENDPOINT_URL".into(), "http://localhost:4566".into())]
        );
    }

    #[test]
    fn a_per_service_variable_is_an_emulator_for_that_service_only() {
        let e = Endpoints::resolve(&config_without_global(Vars(vec![(
            "AWS_ENDPOINT_URL_S3",
            "http://s3.local",
        )])));
        assert_eq!(e.of(Svc::S3), Some("http://s3.local"));
        assert_eq!(e.of(Svc::Lambda), None);
        assert!(e.any() && !e.all());
        assert_eq!(e.describe(), "S3 at http://s3.local");
        assert_eq!(
            e.sdk_env().into_iter().collect::<Vec<_>>(),
            [("AWS_ENDPOINT_URL_S3".into(), "http://s3.local".into())]
        );
    }

    #[test]
    fn a_per_service_variable_wins_over_the_global_one_as_in_the_sdk() {
        let e = Endpoints::resolve(&config(
            Some("http://moto"),
            Vars(vec![("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "http://logs")]),
        ));
        assert_eq!(e.of(Svc::Logs), Some("http://logs"));
        assert_eq!(e.of(Svc::Sqs), Some("http://moto"));
        assert!(e.all());
        assert_eq!(
            e.sdk_env()["AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"],
            "http://logs"
        );
        assert_eq!(e.sdk_env()["AWS_ENDPOINT_URL_LAMBDA"], "http://moto");
    }

    #[test]
    fn a_stages_endpoint_wins_over_every_variable() {
        let loaded = config(
            Some("http://stage"),
            Vars(vec![("AWS_ENDPOINT_URL_S3", "http://elsewhere")]),
        );
        assert_eq!(
            Endpoints::resolve(&loaded).of(Svc::S3),
            Some("http://elsewhere"),
            "the SDK alone lets the variable win"
        );
        let e = Endpoints::resolve(&stage_wins(loaded, "http://stage"));
        assert_eq!(e.of(Svc::S3), Some("http://stage"));
        assert!(e.all());
    }

    #[test]
    fn nothing_configured_is_aws() {
        let e = Endpoints::resolve(&config_without_global(Vars(vec![])));
        assert!(!e.any());
        assert_eq!(e.describe(), "AWS");
        assert!(e.sdk_env().is_empty());
    }

    #[test]
    fn the_variable_names_are_the_sdks() {
        assert_eq!(Svc::Logs.env_var(), "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS");
        assert_eq!(Svc::HttpApi.env_var(), "AWS_ENDPOINT_URL_APIGATEWAYV2");
        assert_eq!(Svc::StepFunctions.env_var(), "AWS_ENDPOINT_URL_SFN");
    }
}

//! Pacing: AWS throttles its control planes per account and API family (Lambda
//! about 15 requests a second shared by writes and most reads, GetFunction 100,
//! GetPolicy 15; IAM about 10; API Gateway's management API 10; CloudWatch Logs'
//! log group writes 5), and backing off after a throttle costs more than pacing
//! before it.
//!
//! Every request of a paced family waits for a token of its family's bucket. The
//! wait is in the HTTP client every SDK client sends through ([`PacedHttpClient`]),
//! fed by an interceptor that names each request's operation ([`PaceTag`]): no call
//! site can forget it, and the SDK's own retries are paced too. SDK interceptors are
//! synchronous, so the tag is all the interceptor does; the connector awaits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// An API family with its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Lambda's control plane: every operation but Invoke, GetFunction and GetPolicy.
    LambdaControl,
    LambdaGetFunction,
    LambdaGetPolicy,
    Iam,
    /// API Gateway's management API (HTTP APIs, routes, integrations, stages).
    ApiGateway,
    /// CloudWatch Logs' writes of log groups: create, delete, retention, tags.
    LogGroupWrite,
    /// CloudWatch's writes of alarms: put, delete, set state, tags.
    AlarmWrite,
}

impl Api {
    const ALL: [Api; 7] = [
        Api::LambdaControl,
        Api::LambdaGetFunction,
        Api::LambdaGetPolicy,
        Api::Iam,
        Api::ApiGateway,
        Api::LogGroupWrite,
        Api::AlarmWrite,
    ];

    /// The family of an operation, by the SDK's service and operation names;
    /// `None`: not paced (invocations, S3, DynamoDB, SQS, logs, …).
    pub fn of(service: &str, operation: &str) -> Option<Api> {
        match (service, operation) {
            ("Lambda", "Invoke" | "InvokeAsync" | "InvokeWithResponseStream") => None,
            ("Lambda", "GetFunction") => Some(Api::LambdaGetFunction),
            ("Lambda", "GetPolicy") => Some(Api::LambdaGetPolicy),
            ("Lambda", _) => Some(Api::LambdaControl),
            ("IAM", _) => Some(Api::Iam),
            ("ApiGatewayV2", _) => Some(Api::ApiGateway),
            (
                "CloudWatch Logs",
                "CreateLogGroup"
                | "DeleteLogGroup"
                | "PutRetentionPolicy"
                | "DeleteRetentionPolicy"
                | "TagResource"
                | "UntagResource"
                | "TagLogGroup"
                | "UntagLogGroup",
            ) => Some(Api::LogGroupWrite),
            (
                "CloudWatch",
                "PutMetricAlarm" | "DeleteAlarms" | "SetAlarmState" | "TagResource"
                | "UntagResource",
            ) => Some(Api::AlarmWrite),
            _ => None,
        }
    }

    /// AWS's limit, requests per second.
    pub fn per_second(self) -> u32 {
        match self {
            Api::LambdaControl | Api::LambdaGetPolicy => 15,
            Api::LambdaGetFunction => 100,
            Api::Iam | Api::ApiGateway => 10,
            // CreateLogGroup's quota, the lowest of these operations'.
            Api::LogGroupWrite => 5,
            // PutMetricAlarm's, DeleteAlarms' and SetAlarmState's quota.
            Api::AlarmWrite => 3,
        }
    }

    /// The service whose endpoint decides whether the family is paced.
    pub fn service(self) -> super::Svc {
        match self {
            Api::LambdaControl | Api::LambdaGetFunction | Api::LambdaGetPolicy => {
                super::Svc::Lambda
            }
            Api::Iam => super::Svc::Iam,
            Api::ApiGateway => super::Svc::HttpApi,
            Api::LogGroupWrite => super::Svc::Logs,
            Api::AlarmWrite => super::Svc::CloudWatch,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A token bucket: `per_second` tokens a second, holding at most `burst`. A request
/// that finds it empty reserves the next token and sleeps until it is due, so
/// waiting requests leave in order, evenly spaced.
#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    /// Tokens left (negative: reserved ahead) as of the instant.
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            per_second: f64::from(per_second.max(1)),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        let due = {
            let mut state = self.state.lock().await;
            let now = Instant::now();
            let (tokens, since) = *state;
            let refilled = (tokens + now.duration_since(since).as_secs_f64() * self.per_second)
                .min(self.burst);
            let left = refilled - 1.0;
            *state = (left, now);
            if left >= 0.0 {
                return;
            }
            now + Duration::from_secs_f64(-left / self.per_second)
        };
        tokio::time::sleep_until(due).await;
    }
}

/// One bucket per family, at AWS's rates; a family not paced (`None`) passes.
#[derive(Debug)]
pub struct Pacer {
    buckets: Vec<Option<TokenBucket>>,
    paced: Vec<AtomicUsize>,
}

impl Pacer {
    /// Every family paced.
    pub fn aws() -> Self {
        Self::new(|_| true)
    }

    /// The families `paced` says, each in a bucket that holds a single token: requests
    /// leave evenly spaced, so no one-second window ever holds more than the limit,
    /// however AWS counts it.
    pub fn new(paced: impl Fn(Api) -> bool) -> Self {
        Pacer {
            buckets: Api::ALL
                .iter()
                .map(|a| paced(*a).then(|| TokenBucket::new(a.per_second(), 1)))
                .collect(),
            paced: Api::ALL.iter().map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// Whether any family is paced.
    pub fn any(&self) -> bool {
        self.buckets.iter().any(Option::is_some)
    }

    pub async fn acquire(&self, api: Api) {
        if let Some(bucket) = &self.buckets[api.index()] {
            self.paced[api.index()].fetch_add(1, Ordering::Relaxed);
            bucket.acquire().await;
        }
    }

    /// Requests of a family paced so far (each attempt counts).
    pub fn paced(&self, api: Api) -> usize {
        self.paced[api.index()].load(Ordering::Relaxed)
    }
}

/// Whether a service's requests are paced: against AWS yes, against an emulator no,
/// unless `SLS_RS_PACE=aws` (to measure a deploy at AWS's rates against a throttling
/// emulator) or `SLS_RS_PACE=off`.
pub fn enabled(emulator: bool) -> bool {
    match std::env::var("SLS_RS_PACE").as_deref() {
        Ok("aws") => true,
        Ok("off") => false,
        _ => !emulator,
    }
}

/// The family of the request being sent, put on it by [`PaceTag`].
#[derive(Debug, Clone, Copy)]
struct Family(Api);

/// Names each request's family on the request itself (an extension, never sent),
/// on every attempt, for the HTTP client to pace it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PaceTag;

impl Intercept for PaceTag {
    fn name(&self) -> &'static str {
        "sls-rs pace tag"
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(api) = cfg
            .load::<Metadata>()
            .and_then(|m| Api::of(m.service(), m.name()))
        {
            ctx.request_mut().add_extension(Family(api));
        }
        Ok(())
    }
}

/// An HTTP client that waits for the family's token before each tagged request.
#[derive(Debug, Clone)]
pub struct PacedHttpClient {
    inner: SharedHttpClient,
    pacer: Arc<Pacer>,
}

impl PacedHttpClient {
    pub fn new(inner: SharedHttpClient, pacer: Arc<Pacer>) -> Self {
        PacedHttpClient { inner, pacer }
    }
}

impl HttpClient for PacedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
        })
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let family = request.extension::<Family>().map(|f| f.0);
        let (inner, pacer) = (self.inner.clone(), self.pacer.clone());
        HttpConnectorFuture::new(async move {
            if let Some(api) = family {
                pacer.acquire(api).await;
            }
            inner.call(request).await
        })
    }
}

/// The HTTP client the SDK would use by default (hyper 1.x, rustls with aws-lc,
/// proxies from the environment), for [`PacedHttpClient`] to wrap.
pub fn default_http_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_single_token_bucket_spaces_requests_evenly() {
        let bucket = TokenBucket::new(10, 1);
        let start = Instant::now();
        for _ in 0..11 {
            bucket.acquire().await;
        }
        // 11 requests at 10/s: the last one leaves a second after the first.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_leaves_at_once_then_the_rate_holds_and_idle_time_refills() {
        let bucket = TokenBucket::new(10, 5);
        let start = Instant::now();
        for _ in 0..5 {
            bucket.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst");
        for _ in 0..10 {
            bucket.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1), "then 10 a second");
        tokio::time::sleep(Duration::from_secs(60)).await;
        let idle = Instant::now();
        for _ in 0..5 {
            bucket.acquire().await;
        }
        assert_eq!(
            idle.elapsed(),
            Duration::ZERO,
            "refilled, never beyond the burst"
        );
        bucket.acquire().await;
        assert_eq!(idle.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_requests_share_the_bucket_in_order() {
        let bucket = Arc::new(TokenBucket::new(15, 1));
        let start = Instant::now();
        let tasks: Vec<_> = (0..31)
            .map(|_| {
                let b = bucket.clone();
                tokio::spawn(async move {
                    b.acquire().await;
                    start.elapsed()
                })
            })
            .collect();
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        done.sort();
        // 31 requests at 15/s: 2 s, and no second ever holds more than 15.
        assert_eq!(*done.last().unwrap(), Duration::from_secs(2));
        for second in 0..2u64 {
            let inside = done.iter().filter(|d| d.as_secs() == second).count();
            assert!(inside <= 15, "{inside} in second {second}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_family_not_paced_passes_at_once() {
        let pacer = Pacer::new(|api| api == Api::Iam);
        let start = Instant::now();
        for _ in 0..50 {
            pacer.acquire(Api::LambdaControl).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(pacer.paced(Api::LambdaControl), 0);
        for _ in 0..11 {
            pacer.acquire(Api::Iam).await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert!(!Pacer::new(|_| false).any());
    }

    #[tokio::test(start_paused = true)]
    async fn families_are_paced_apart() {
        let pacer = Pacer::aws();
        let start = Instant::now();
        for _ in 0..16 {
            pacer.acquire(Api::LambdaControl).await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        let next = Instant::now();
        for _ in 0..100 {
            pacer.acquire(Api::LambdaGetFunction).await;
        }
        assert!(
            next.elapsed() < Duration::from_secs(1),
            "GetFunction has its own 100/s"
        );
        assert_eq!(
            (
                pacer.paced(Api::LambdaControl),
                pacer.paced(Api::LambdaGetFunction)
            ),
            (16, 100)
        );
    }

    #[test]
    fn operations_belong_to_their_family() {
        assert_eq!(
            Api::of("Lambda", "UpdateFunctionCode"),
            Some(Api::LambdaControl)
        );
        assert_eq!(
            Api::of("Lambda", "GetFunctionConfiguration"),
            Some(Api::LambdaControl)
        );
        assert_eq!(
            Api::of("Lambda", "GetFunction"),
            Some(Api::LambdaGetFunction)
        );
        assert_eq!(Api::of("Lambda", "GetPolicy"), Some(Api::LambdaGetPolicy));
        assert_eq!(
            Api::of("Lambda", "Invoke"),
            None,
            "the data plane has other limits"
        );
        assert_eq!(Api::of("IAM", "PutRolePolicy"), Some(Api::Iam));
        assert_eq!(
            Api::of("ApiGatewayV2", "CreateRoute"),
            Some(Api::ApiGateway)
        );
        assert_eq!(
            Api::of("CloudWatch Logs", "CreateLogGroup"),
            Some(Api::LogGroupWrite)
        );
        assert_eq!(
            Api::of("CloudWatch Logs", "FilterLogEvents"),
            None,
            "`logs` reads are not log group writes"
        );
        assert_eq!(
            Api::of("CloudWatch", "PutMetricAlarm"),
            Some(Api::AlarmWrite)
        );
        assert_eq!(
            Api::of("CloudWatch", "DescribeAlarms"),
            None,
            "reading alarms is not writing them"
        );
        assert_eq!(Api::of("S3", "PutObject"), None);
        assert_eq!(Api::of("DynamoDB", "CreateTable"), None);
    }
}

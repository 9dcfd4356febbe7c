//! The realism layer (`tests/support/realism.py`) answers like AWS where the
//! emulator does not. Each test drives it through the real SDK clients with
//! retries off, so the raw answer (status, typed error, code, message, request
//! id) is what the test sees.

use crate::support;

use std::fmt::Debug;
use std::io::Write;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LastUpdateStatus;
use aws_sdk_lambda::types::{
    FunctionCode, ProvisionedConcurrencyStatusEnum as Pc, Runtime, State, StateReasonCode,
    TracingConfig, TracingMode,
};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::Value;
use sls_rs::cloud::{self, Target};
use support::{emulator, unique_service, Realism, REGION};

/// SDK settings that reach the layer, with the SDK's retries off.
async fn raw(layer: &Realism) -> SdkConfig {
    let target = Target {
        region: REGION.to_string(),
        endpoint: Some(layer.endpoint.clone()),
        profile: None,
    };
    cloud::sdk_config(&target)
        .await
        .into_builder()
        .retry_config(RetryConfig::disabled())
        .build()
}

/// What a refused call answered: HTTP status, code, message, and the typed error.
struct Refusal<E> {
    status: u16,
    code: String,
    message: String,
    err: E,
}

impl<E: Debug> Refusal<E> {
    /// Asserts the HTTP status and AWS's error code.
    fn is(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code.as_str()),
            (status, code),
            "{:?}",
            self.err
        );
    }

    /// Asserts the HTTP status, AWS's error code and message.
    fn says(&self, status: u16, code: &str, message: &str) {
        self.is(status, code);
        assert_eq!(self.message, message);
    }
}

fn refusal<T: Debug, E: ProvideErrorMetadata + RequestId + Debug>(
    res: Result<T, SdkError<E, HttpResponse>>,
) -> Refusal<E> {
    match res {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(SdkError::ServiceError(ctx)) => {
            let status = ctx.raw().status().as_u16();
            let err = ctx.into_err();
            // Every answer, refusals included, names its request.
            assert!(err.request_id().is_some(), "no request id: {err:?}");
            Refusal {
                status,
                code: err.code().unwrap_or_default().to_string(),
                message: err.message().unwrap_or_default().to_string(),
                err,
            }
        }
        Err(other) => panic!("expected a service error, got {other:?}"),
    }
}

/// Sends one request twice in a row: the first must go through; the second's
/// refusal is what the test looks at.
macro_rules! second {
    ($request:expr) => {{
        $request.send().await.unwrap();
        refusal($request.send().await)
    }};
}

fn zip() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("bootstrap", zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(b"#!/bin/sh\n").unwrap();
    w.finish().unwrap().into_inner()
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"xray:PutTraceSegments","Resource":"*"}]}"#;

/// A role created in the emulator behind the layer's back: the layer never saw it written.
async fn quiet_role(name: &str) -> String {
    let iam = aws_sdk_iam::Client::new(&emulator().sdk_config().await);
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn
}

fn create_function(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    role: &str,
) -> aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder {
    lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .code(FunctionCode::builder().zip_file(Blob::new(zip())).build())
}

/// A function (with version 1 behind alias `live`) created in the emulator directly.
async fn quiet_function(name: &str) -> aws_sdk_lambda::Client {
    let lambda = aws_sdk_lambda::Client::new(&emulator().sdk_config().await);
    let role = quiet_role(&format!("{name}-role")).await;
    create_function(&lambda, name, &role).send().await.unwrap();
    lambda
        .publish_version()
        .function_name(name)
        .send()
        .await
        .unwrap();
    lambda
        .create_alias()
        .function_name(name)
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();
    lambda
}

async fn quiet_queue(name: &str) -> String {
    let sqs = aws_sdk_sqs::Client::new(&emulator().sdk_config().await);
    let url = sqs.create_queue().queue_name(name).send().await.unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url.queue_url().unwrap())
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    attrs.attributes().unwrap()[&QueueAttributeName::QueueArn].clone()
}

/// Polls `check` every 50 ms until it is true; fails after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

/// The services sls-rs calls, by their credential-scope names.
const SERVICES: [&str; 10] = [
    "lambda",
    "iam",
    "sts",
    "apigateway",
    "dynamodb",
    "logs",
    "states",
    "events",
    "sqs",
    "s3",
];

#[tokio::test]
async fn over_the_rate_each_service_answers_its_own_throttling_error() {
    let log = std::env::temp_dir().join(format!("{}.jsonl", unique_service("throttle")));
    let log_arg = log.display().to_string();
    // One request every 5 s: the second call in a row is always over the rate.
    let rates: Vec<String> = SERVICES.iter().map(|s| format!("{s}=0.2")).collect();
    let mut args = vec!["--throttle", "--log", &log_arg];
    for rate in &rates {
        args.extend(["--rate", rate.as_str()]);
    }
    let layer = Realism::start(&args);
    let config = raw(&layer).await;

    let lambda = aws_sdk_lambda::Client::new(&config);
    let r = second!(lambda.list_functions().max_items(1));
    r.is(429, "TooManyRequestsException");
    assert!(r.err.is_too_many_requests_exception(), "{:?}", r.err);
    assert_eq!(r.message, "Rate exceeded");
    let aws_sdk_lambda::operation::list_functions::ListFunctionsError::TooManyRequestsException(
        too_many,
    ) = &r.err
    else {
        panic!("{:?}", r.err)
    };
    assert_eq!(
        too_many.reason(),
        Some(&aws_sdk_lambda::types::ThrottleReason::CallerRateLimitExceeded)
    );
    assert!(too_many.retry_after_seconds().is_some_and(|s| s != "0"));
    // GetFunction has its own bucket (100/s): the control plane's being empty does not matter.
    let r = refusal(
        lambda
            .get_function()
            .function_name("no-such-fn")
            .send()
            .await,
    );
    assert!(r.err.is_resource_not_found_exception(), "{:?}", r.err);

    let iam = aws_sdk_iam::Client::new(&config);
    second!(iam.list_roles().max_items(1)).is(400, "Throttling");
    let sts = aws_sdk_sts::Client::new(&config);
    second!(sts.get_caller_identity()).is(400, "Throttling");
    let apigw = aws_sdk_apigatewayv2::Client::new(&config);
    let r = second!(apigw.get_apis());
    r.is(429, "TooManyRequestsException");
    assert!(r.err.is_too_many_requests_exception(), "{:?}", r.err);
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    second!(dynamo.list_tables().limit(1)).is(400, "ThrottlingException");
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    second!(logs.describe_log_groups().limit(1)).is(400, "ThrottlingException");
    let sfn = aws_sdk_sfn::Client::new(&config);
    second!(sfn.list_state_machines().max_results(1)).is(400, "ThrottlingException");
    let events = aws_sdk_eventbridge::Client::new(&config);
    second!(events.list_rules().limit(1)).is(400, "ThrottlingException");
    let sqs = aws_sdk_sqs::Client::new(&config);
    let r = second!(sqs.list_queues().max_results(1));
    r.is(400, "RequestThrottled");
    assert!(r.err.is_request_throttled(), "{:?}", r.err);
    second!(cloud::s3(&config).list_buckets()).is(503, "SlowDown");

    let stats = layer.stats();
    for service in SERVICES {
        assert_eq!(stats["throttled"][service], 1, "{service}: {stats}");
    }
    assert_eq!(stats["operations"]["lambda.ListFunctions"], 2, "{stats}");
    assert_eq!(
        stats["by_operation"]["lambda.ListFunctions"]["throttled"], 1,
        "{stats}"
    );
    assert_eq!(stats["by_outcome"]["throttled"], 10, "{stats}");
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 21, "{lines:#?}");
    assert!(lines.iter().any(|l| l["service"] == "lambda"
        && l["operation"] == "ListFunctions"
        && l["outcome"] == "throttled"
        && l["status"] == 429));
    assert!(lines.iter().any(|l| l["service"] == "dynamodb"
        && l["operation"] == "ListTables"
        && l["outcome"] == "forwarded"));
    let _ = std::fs::remove_file(log);
}

#[tokio::test]
async fn a_recently_written_role_is_refused_until_the_iam_delay_has_passed() {
    let layer = Realism::start(&["--iam-delay", "3"]);
    let config = raw(&layer).await;
    let iam = aws_sdk_iam::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let name = unique_service("iamdelay");

    // A role created through the layer: Lambda cannot assume it yet.
    let fresh = iam
        .create_role()
        .role_name(format!("{name}-fresh"))
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    let written = Instant::now();
    let r = refusal(
        create_function(&lambda, &format!("{name}-a"), &fresh)
            .send()
            .await,
    );
    r.says(
        400,
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
    );
    assert!(r.err.is_invalid_parameter_value_exception(), "{:?}", r.err);

    // An old role whose policy was just written: turning tracing on is refused.
    let old = quiet_role(&format!("{name}-old")).await;
    iam.put_role_policy()
        .role_name(format!("{name}-old"))
        .policy_name("xray")
        .policy_document(POLICY)
        .send()
        .await
        .unwrap();
    let r = refusal(
        create_function(&lambda, &format!("{name}-b"), &old)
            .tracing_config(TracingConfig::builder().mode(TracingMode::Active).build())
            .send()
            .await,
    );
    assert!(r.err.is_invalid_parameter_value_exception(), "{:?}", r.err);
    assert_eq!(
        r.message,
        "The provided execution role does not have permissions to call PutTraceSegments on XRAY"
    );

    // A function (created behind the layer's back) whose role was just changed:
    // its SQS event source mapping is refused.
    let direct = aws_sdk_lambda::Client::new(&emulator().sdk_config().await);
    create_function(&direct, &format!("{name}-c"), &old)
        .send()
        .await
        .unwrap();
    let queue = quiet_queue(&format!("{name}-q")).await;
    let r = refusal(
        lambda
            .create_event_source_mapping()
            .function_name(format!("{name}-c"))
            .event_source_arn(&queue)
            .send()
            .await,
    );
    assert!(r.err.is_invalid_parameter_value_exception(), "{:?}", r.err);
    assert_eq!(
        r.message,
        "The provided execution role does not have permissions to call ReceiveMessage on SQS"
    );

    // Nor may that function turn tracing on (its role comes from the emulator).
    let tracing = || {
        lambda
            .update_function_configuration()
            .function_name(format!("{name}-c"))
            .tracing_config(TracingConfig::builder().mode(TracingMode::Active).build())
            .send()
    };
    let r = refusal(tracing().await);
    assert!(
        r.message.contains("PutTraceSegments on XRAY"),
        "{:?}",
        r.err
    );

    // Step Functions cannot assume it either.
    let sfn = aws_sdk_sfn::Client::new(&config);
    let r = refusal(
        sfn.create_state_machine()
            .name(format!("{name}-sm"))
            .definition(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#)
            .role_arn(&fresh)
            .send()
            .await,
    );
    r.is(400, "AccessDeniedException");
    assert!(r.message.starts_with(
        "Neither the global service principal states.amazonaws.com, nor the regional one is authorized"
    ));
    assert!(
        written.elapsed() < Duration::from_secs(3),
        "the machine is too slow for this test's 3 s window"
    );

    // Once the delay has passed, the same requests go through.
    tokio::time::sleep_until((written + Duration::from_millis(3100)).into()).await;
    create_function(&lambda, &format!("{name}-a"), &fresh)
        .send()
        .await
        .unwrap();
    create_function(&lambda, &format!("{name}-b"), &old)
        .tracing_config(TracingConfig::builder().mode(TracingMode::Active).build())
        .send()
        .await
        .unwrap();
    lambda
        .create_event_source_mapping()
        .function_name(format!("{name}-c"))
        .event_source_arn(&queue)
        .send()
        .await
        .unwrap();
    tracing().await.unwrap();
    assert_eq!(layer.stats()["by_outcome"]["iam-delay"], 5);
}

#[tokio::test]
async fn a_new_function_is_pending_and_an_update_in_progress_refuses_the_next_change() {
    let layer = Realism::start(&["--pending", "0.8", "--in-progress", "0.8"]);
    let lambda = aws_sdk_lambda::Client::new(&raw(&layer).await);
    let name = unique_service("pending");
    let role = quiet_role(&format!("{name}-role")).await;

    let created = create_function(&lambda, &name, &role).send().await.unwrap();
    assert_eq!(created.state(), Some(&State::Pending));
    assert_eq!(
        created.state_reason_code(),
        Some(&StateReasonCode::Creating)
    );
    let got = lambda
        .get_function()
        .function_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(got.configuration().unwrap().state(), Some(&State::Pending));
    let r = refusal(
        lambda
            .update_function_configuration()
            .function_name(&name)
            .memory_size(256)
            .send()
            .await,
    );
    r.says(409, "ResourceConflictException", "The operation cannot be performed at this time. The function is currently in the following state: Pending");
    assert!(r.err.is_resource_conflict_exception(), "{:?}", r.err);
    let r = refusal(lambda.publish_version().function_name(&name).send().await);
    assert!(r.err.is_resource_conflict_exception(), "{:?}", r.err);

    let waited = eventually(Duration::from_secs(5), "Active", || async {
        let c = lambda
            .get_function_configuration()
            .function_name(&name)
            .send()
            .await
            .unwrap();
        c.state() == Some(&State::Active)
    })
    .await;
    assert!(
        waited >= Duration::from_millis(300),
        "Pending for {waited:?}"
    );

    let updated = lambda
        .update_function_configuration()
        .function_name(&name)
        .memory_size(256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.last_update_status(),
        Some(&LastUpdateStatus::InProgress)
    );
    let arn = updated.function_arn().unwrap().to_string();
    let r = refusal(
        lambda
            .update_function_code()
            .function_name(&name)
            .zip_file(Blob::new(zip()))
            .send()
            .await,
    );
    r.says(409, "ResourceConflictException", &format!("The operation cannot be performed at this time. An update is in progress for resource: {arn}"));
    assert!(r.err.is_resource_conflict_exception(), "{:?}", r.err);
    let r = refusal(lambda.publish_version().function_name(&name).send().await);
    assert!(r.err.is_resource_conflict_exception(), "{:?}", r.err);
    eventually(Duration::from_secs(5), "Successful", || async {
        let c = lambda
            .get_function()
            .function_name(&name)
            .send()
            .await
            .unwrap();
        c.configuration().unwrap().last_update_status() != Some(&LastUpdateStatus::InProgress)
    })
    .await;
    lambda
        .publish_version()
        .function_name(&name)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn provisioned_concurrency_goes_in_progress_then_ready_or_failed_over_the_account_limit() {
    let layer = Realism::start(&["--pc-ready", "0.5", "--pc-limit", "10"]);
    let lambda = aws_sdk_lambda::Client::new(&raw(&layer).await);
    let name = unique_service("pc");
    quiet_function(&name).await;
    let put = |qualifier: &str, n: i32| {
        lambda
            .put_provisioned_concurrency_config()
            .function_name(&name)
            .qualifier(qualifier)
            .provisioned_concurrent_executions(n)
            .send()
    };
    let get = |qualifier: &str| {
        lambda
            .get_provisioned_concurrency_config()
            .function_name(&name)
            .qualifier(qualifier)
            .send()
    };

    let r = refusal(put("$LATEST", 1).await);
    r.is(400, "InvalidParameterValueException");
    assert!(r.err.is_invalid_parameter_value_exception(), "{:?}", r.err);
    let r = refusal(put("nope", 1).await);
    r.is(404, "ResourceNotFoundException");
    assert!(r.err.is_resource_not_found_exception(), "{:?}", r.err);
    let r = refusal(get("live").await);
    assert_eq!(r.status, 404);
    assert!(
        r.err
            .is_provisioned_concurrency_config_not_found_exception(),
        "{:?}",
        r.err
    );

    let started = put("live", 6).await.unwrap();
    assert_eq!(started.status(), Some(&Pc::InProgress));
    assert_eq!(
        started.requested_provisioned_concurrent_executions(),
        Some(6)
    );
    assert_eq!(get("live").await.unwrap().status(), Some(&Pc::InProgress));
    let waited = eventually(Duration::from_secs(5), "READY", || async {
        get("live").await.unwrap().status() == Some(&Pc::Ready)
    })
    .await;
    assert!(
        waited >= Duration::from_millis(200),
        "READY after {waited:?}"
    );
    assert_eq!(
        get("live")
            .await
            .unwrap()
            .available_provisioned_concurrent_executions(),
        Some(6)
    );

    // 6 + 5 is over the account's 10: allocation fails, with a reason.
    assert_eq!(put("1", 5).await.unwrap().status(), Some(&Pc::InProgress));
    eventually(Duration::from_secs(5), "FAILED", || async {
        get("1").await.unwrap().status() == Some(&Pc::Failed)
    })
    .await;
    assert!(get("1")
        .await
        .unwrap()
        .status_reason()
        .is_some_and(|r| r.contains("(10)")));
    let listed = lambda
        .list_provisioned_concurrency_configs()
        .function_name(&name)
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = listed
        .provisioned_concurrency_configs()
        .iter()
        .filter_map(|c| c.function_arn())
        .collect();
    assert_eq!(arns.len(), 2, "{arns:?}");
    assert!(
        arns.iter().any(|a| a.ends_with(&format!("{name}:live"))),
        "{arns:?}"
    );

    lambda
        .delete_provisioned_concurrency_config()
        .function_name(&name)
        .qualifier("live")
        .send()
        .await
        .unwrap();
    let r = refusal(get("live").await);
    assert!(
        r.err
            .is_provisioned_concurrency_config_not_found_exception(),
        "{:?}",
        r.err
    );
}

#[tokio::test]
async fn without_flags_the_layer_still_serves_provisioned_concurrency_ready_at_once() {
    let layer = Realism::start(&[]);
    let lambda = aws_sdk_lambda::Client::new(&raw(&layer).await);
    let name = unique_service("pcplain");
    quiet_function(&name).await;
    lambda
        .put_provisioned_concurrency_config()
        .function_name(&name)
        .qualifier("live")
        .provisioned_concurrent_executions(2)
        .send()
        .await
        .unwrap();
    let got = lambda
        .get_provisioned_concurrency_config()
        .function_name(&name)
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), Some(&Pc::Ready));
    assert_eq!(got.allocated_provisioned_concurrent_executions(), Some(2));
}

type EsmError = SdkError<
    aws_sdk_lambda::operation::get_event_source_mapping::GetEventSourceMappingError,
    HttpResponse,
>;

async fn esm_state(lambda: &aws_sdk_lambda::Client, uuid: &str) -> Result<String, EsmError> {
    let got = lambda.get_event_source_mapping().uuid(uuid).send().await?;
    Ok(got.state().unwrap_or_default().to_string())
}

async fn esm_settles(lambda: &aws_sdk_lambda::Client, uuid: &str, want: &str) {
    eventually(Duration::from_secs(5), want, || async {
        esm_state(lambda, uuid).await.unwrap() == want
    })
    .await;
}

#[tokio::test]
async fn event_source_mappings_pass_through_creating_updating_and_deleting() {
    let layer = Realism::start(&["--esm-transition", "0.6"]);
    let lambda = aws_sdk_lambda::Client::new(&raw(&layer).await);
    let name = unique_service("esm");
    quiet_function(&name).await;
    let queue = quiet_queue(&format!("{name}-q")).await;
    let created = lambda
        .create_event_source_mapping()
        .function_name(&name)
        .event_source_arn(&queue)
        .send()
        .await
        .unwrap();
    assert_eq!(created.state(), Some("Creating"));
    let uuid = created.uuid().unwrap().to_string();
    assert_eq!(esm_state(&lambda, &uuid).await.unwrap(), "Creating");
    let r = refusal(
        lambda
            .update_event_source_mapping()
            .uuid(&uuid)
            .batch_size(5)
            .send()
            .await,
    );
    r.is(400, "ResourceInUseException");
    assert!(r.err.is_resource_in_use_exception(), "{:?}", r.err);
    let r = refusal(
        lambda
            .delete_event_source_mapping()
            .uuid(&uuid)
            .send()
            .await,
    );
    assert!(r.err.is_resource_in_use_exception(), "{:?}", r.err);
    esm_settles(&lambda, &uuid, "Enabled").await;

    let updated = lambda
        .update_event_source_mapping()
        .uuid(&uuid)
        .enabled(false)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.state(), Some("Updating"));
    esm_settles(&lambda, &uuid, "Disabled").await;

    let deleted = lambda
        .delete_event_source_mapping()
        .uuid(&uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.state(), Some("Deleting"));
    assert_eq!(esm_state(&lambda, &uuid).await.unwrap(), "Deleting");
    let listed = lambda
        .list_event_source_mappings()
        .function_name(&name)
        .send()
        .await
        .unwrap();
    assert!(listed
        .event_source_mappings()
        .iter()
        .any(|m| m.uuid() == Some(uuid.as_str()) && m.state() == Some("Deleting")));
    eventually(Duration::from_secs(5), "gone", || async {
        esm_state(&lambda, &uuid)
            .await
            .is_err_and(|e| e.into_service_error().is_resource_not_found_exception())
    })
    .await;
}

#[tokio::test]
async fn a_deleted_queues_name_is_refused_for_a_while() {
    let layer = Realism::start(&["--queue-deleted-recently", "0.8"]);
    let sqs = aws_sdk_sqs::Client::new(&raw(&layer).await);
    let name = unique_service("qdel");
    let url = sqs.create_queue().queue_name(&name).send().await.unwrap();
    sqs.delete_queue()
        .queue_url(url.queue_url().unwrap())
        .send()
        .await
        .unwrap();
    let r = refusal(sqs.create_queue().queue_name(&name).send().await);
    r.is(400, "AWS.SimpleQueueService.QueueDeletedRecently");
    assert!(r.err.is_queue_deleted_recently(), "{:?}", r.err);
    assert_eq!(
        r.message,
        "You must wait 1 seconds after deleting a queue before you can create another with the same name."
    );
    let waited = eventually(Duration::from_secs(5), "the name free again", || async {
        sqs.create_queue().queue_name(&name).send().await.is_ok()
    })
    .await;
    assert!(
        waited >= Duration::from_millis(300),
        "blocked for {waited:?}"
    );
}

/// What each of `n` GetFunction calls on a missing function met: `-` the real
/// answer (404), `5` a 500, `3` a 503, `x` a broken connection.
async fn fault_pattern(seed: &str, n: usize) -> (String, Value) {
    let layer = Realism::start(&["--faults", "0.25", "--seed", seed]);
    let lambda = aws_sdk_lambda::Client::new(&raw(&layer).await);
    let mut pattern = String::new();
    for _ in 0..n {
        let res = lambda
            .get_function()
            .function_name("realism-missing")
            .send()
            .await;
        pattern.push(match res {
            Ok(_) => panic!("the function does not exist"),
            Err(SdkError::ServiceError(ctx)) => {
                let status = ctx.raw().status().as_u16();
                let err = ctx.into_err();
                match status {
                    404 => '-',
                    500 => {
                        assert_eq!(err.code(), Some("ServiceException"));
                        assert!(err.request_id().is_some());
                        '5'
                    }
                    503 => '3',
                    other => panic!("status {other}: {err:?}"),
                }
            }
            Err(_) => 'x',
        });
    }
    (pattern, layer.stats())
}

#[tokio::test]
async fn faults_hit_about_the_asked_share_and_the_seed_replays_them() {
    let (first, stats) = fault_pattern("7", 80).await;
    let faults = first.chars().filter(|c| *c != '-').count();
    assert!(
        (10..=32).contains(&faults),
        "{faults} faults in 80: {first}"
    );
    for kind in ['5', '3', 'x'] {
        assert!(first.contains(kind), "no {kind} in {first}");
    }
    let counted: u64 = ["fault-before", "fault-after", "reset-before", "reset-after"]
        .iter()
        .map(|k| stats["by_outcome"][k].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted as usize, faults, "{stats}");
    assert_eq!(stats["seed"], 7);
    let (again, _) = fault_pattern("7", 80).await;
    assert_eq!(first, again, "the same seed replays the same faults");
    let (other, _) = fault_pattern("8", 80).await;
    assert_ne!(first, other, "another seed decides otherwise");
}

#[tokio::test]
async fn the_first_copy_of_a_write_is_processed_and_its_answer_lost() {
    let layer = Realism::start(&["--lose-first-write"]);
    let sqs = aws_sdk_sqs::Client::new(&raw(&layer).await);
    let name = unique_service("lost");
    let r = refusal(sqs.create_queue().queue_name(&name).send().await);
    assert_eq!(r.status, 500);
    // The emulator did create it; reads are never lost.
    sqs.get_queue_url().queue_name(&name).send().await.unwrap();
    // The retry (same request) gets the real answer.
    sqs.create_queue().queue_name(&name).send().await.unwrap();
    assert_eq!(layer.stats()["by_outcome"]["lost"], 1);
}

#[tokio::test]
async fn latency_is_added_to_every_request_and_scaled() {
    let layer = Realism::start(&["--latency-ms", "400", "--scale", "0.25", "--seed", "1"]);
    let sts = aws_sdk_sts::Client::new(&raw(&layer).await);
    let mut times = Vec::new();
    for _ in 0..4 {
        let start = Instant::now();
        sts.get_caller_identity().send().await.unwrap();
        times.push(start.elapsed());
    }
    assert!(
        times.iter().all(|t| *t >= Duration::from_millis(100)),
        "{times:?}"
    );
    assert!(
        times.iter().min().unwrap() < &Duration::from_millis(300),
        "{times:?}"
    );
}

#[tokio::test]
async fn with_every_behaviour_on_the_sdks_own_retries_get_through() {
    // Short timings, and the product's SDK settings (retries on): streamed
    // uploads and HEAD answers pass the layer intact.
    let layer = Realism::start(&["--all", "--scale", "0.02", "--seed", "3"]);
    let target = Target {
        region: REGION.to_string(),
        endpoint: Some(layer.endpoint.clone()),
        profile: None,
    };
    let s3 = cloud::s3(&cloud::sdk_config(&target).await);
    let bucket = unique_service("allon");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let file = std::env::temp_dir().join(format!("{bucket}.bin"));
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    for i in 0..10 {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(&file)
            .await
            .unwrap();
        s3.put_object()
            .bucket(&bucket)
            .key(format!("k{i}"))
            .body(body)
            .send()
            .await
            .unwrap();
        let head = s3
            .head_object()
            .bucket(&bucket)
            .key(format!("k{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(data.len() as i64));
    }
    let got = s3
        .get_object()
        .bucket(&bucket)
        .key("k3")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &data[..]
    );
    let _ = std::fs::remove_file(file);
    let stats = layer.stats();
    assert!(
        stats["by_outcome"]["lost"].as_u64().unwrap() >= 11,
        "{stats}"
    );
}

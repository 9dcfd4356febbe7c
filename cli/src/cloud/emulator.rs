//! What each local emulator lacks, in one table, and the one predicate adapters
//! use to recognise "this endpoint does not implement the API".
//!
//! An emulator's missing API is the exception, not the rule: sls-rs makes the
//! call, and only an answer that says "not implemented" (below) from an emulator
//! endpoint is read as such; the same answer from AWS is an error. Two
//! exceptions are decided by the endpoint alone, each for a quirk an answer
//! cannot show: old function versions are not pruned on a Lambda emulator
//! (moto renumbers versions after a deletion; `SLS_RS_EMULATOR_PRUNE=1` prunes
//! anyway), and an S3 "get" answered 200 with an unreadable body is an empty
//! configuration on an emulator (`is_empty_answer`). A proxy in front of an
//! emulator that serves an API (provisioned concurrency, say) gets it applied
//! and waited for, as on AWS.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::endpoint::Svc;
use super::Aws;

/// The emulators the suite and the docs know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulator {
    /// moto 5.2.5 (`moto_server`).
    Moto,
    /// LocalStack community (`localstack-core` 2026.3.0) on a host without Docker.
    LocalStack,
}

impl Emulator {
    pub fn name(self) -> &'static str {
        match self {
            Emulator::Moto => "moto",
            Emulator::LocalStack => "localstack",
        }
    }

    pub fn from_name(name: &str) -> Option<Emulator> {
        match name.to_ascii_lowercase().as_str() {
            "moto" => Some(Emulator::Moto),
            "localstack" => Some(Emulator::LocalStack),
            _ => None,
        }
    }

    /// Whether it serves a service well enough for a deploy to use it.
    pub fn serves(self, svc: Svc) -> bool {
        !GAPS
            .iter()
            .any(|g| g.emulator == self && g.service == svc && g.whole_service)
    }
}

/// One thing an emulator does not do as AWS does.
#[derive(Debug)]
pub struct Gap {
    pub emulator: Emulator,
    pub service: Svc,
    /// The API or setting.
    pub what: &'static str,
    /// What the emulator does instead.
    pub answer: &'static str,
    /// The service cannot be used at all (a deploy that needs it fails there).
    pub whole_service: bool,
}

/// What each emulator lacks (localstack/README.md says the same, in a table).
pub const GAPS: &[Gap] = &[
    Gap {
        emulator: Emulator::Moto,
        service: Svc::Lambda,
        what: "provisioned concurrency (Put/Get/DeleteProvisionedConcurrencyConfig)",
        answer: "HTTP 404 with an HTML page",
        whole_service: false,
    },
    Gap {
        emulator: Emulator::Moto,
        service: Svc::Lambda,
        what: "TracingConfig on UpdateFunctionConfiguration",
        answer: "ignored: the mode stays as created",
        whole_service: false,
    },
    Gap {
        emulator: Emulator::Moto,
        service: Svc::Lambda,
        what: "LoggingConfig",
        answer: "accepted and dropped: GetFunctionConfiguration returns none",
        whole_service: false,
    },
    Gap {
        emulator: Emulator::Moto,
        service: Svc::Lambda,
        what: "Get/PutFunctionRecursionConfig (recursiveLoop)",
        answer: "HTTP 404: skipped with a warning, read as what sls-rs last set",
        whole_service: false,
    },
    Gap {
        emulator: Emulator::Moto,
        service: Svc::Lambda,
        what: "InvokeMode on UpdateFunctionUrlConfig, and the Qualifier of URL configs",
        answer: "ignored: the mode stays as created, one URL per function",
        whole_service: false,
    },
    Gap {
        emulator: Emulator::LocalStack,
        service: Svc::Lambda,
        what: "running functions (needs Docker)",
        answer: "functions go to state Failed, so updates and deletes fail",
        whole_service: true,
    },
    Gap {
        emulator: Emulator::LocalStack,
        service: Svc::DynamoDb,
        what: "DynamoDB (needs Java and DynamoDB Local)",
        answer: "requests fail while it tries to download them",
        whole_service: true,
    },
    Gap {
        emulator: Emulator::LocalStack,
        service: Svc::HttpApi,
        what: "API Gateway v2",
        answer: "HTTP 501 \"not included in your license plan\"",
        whole_service: true,
    },
    Gap {
        emulator: Emulator::LocalStack,
        service: Svc::StepFunctions,
        what: "tracingConfiguration in DescribeStateMachine's answer",
        answer: "left out, even when tracing is on: the plan takes it to be what sls-rs set",
        whole_service: false,
    },
    Gap {
        emulator: Emulator::LocalStack,
        service: Svc::AutoScaling,
        what: "Application Auto Scaling",
        answer: "no provider in localstack-core 2026.3: a service of LocalStack's paid plans",
        whole_service: true,
    },
    Gap {
        emulator: Emulator::LocalStack,
        service: Svc::XRay,
        what: "X-Ray",
        answer: "HTTP 501 \"not included in your license plan\"",
        whole_service: true,
    },
    Gap {
        emulator: Emulator::Moto,
        service: Svc::CloudWatch,
        what: "percentile statistics (p50, p99, …) in GetMetricData",
        answer: "HTTP 500 for the whole call once such a series has data: `metrics` asks again without them and shows n/a",
        whole_service: false,
    },
];

/// What emulators answer for an API they do not have, as opposed to AWS's own
/// errors: moto's 404 page (HTML, so no error code), an HTTP 501, LocalStack's
/// "not included in your license plan" / "not yet implemented".
pub fn says_not_implemented(status: u16, code: Option<&str>, message: Option<&str>) -> bool {
    let unparsed_404 = status == 404 && code.is_none();
    let message = message.unwrap_or_default();
    unparsed_404
        || status == 501
        || message.contains("not included in your license plan")
        || message.contains("not yet implemented")
}

/// Whether a failed call means "this endpoint does not implement the API": only
/// ever from an emulator endpoint of that service, and only when its answer says so.
pub fn lacks_api<E: ProvideErrorMetadata>(
    aws: &Aws,
    svc: Svc,
    err: &SdkError<E, Response>,
) -> bool {
    if !aws.endpoints.emulated(svc) {
        return false;
    }
    let Some(raw) = err.raw_response() else {
        return false;
    };
    let (code, message) = match err.as_service_error() {
        Some(e) => (e.code(), e.message()),
        None => (None, None),
    };
    says_not_implemented(raw.status().as_u16(), code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answers_of_a_missing_api_and_of_aws_errors_are_told_apart() {
        // moto's HTML 404 page: no error code could be parsed.
        assert!(says_not_implemented(404, None, None));
        // LocalStack's paid-plan services.
        assert!(says_not_implemented(
            501,
            Some("InternalFailure"),
            Some("API for service 'apigatewayv2' not yet implemented or pro feature")
        ));
        // AWS's own not-found is an answer of the API, never "not implemented".
        assert!(!says_not_implemented(
            404,
            Some("ResourceNotFoundException"),
            Some("Function not found")
        ));
        assert!(!says_not_implemented(
            400,
            Some("ValidationException"),
            None
        ));
    }

    /// `AWS_ENDPOINT_URL_S3` alone makes S3 an emulator, not Lambda: Lambda's 404 page
    /// (from whatever answers) is then an error, as from AWS.
    #[tokio::test]
    async fn an_emulator_for_s3_only_gets_no_leniency_from_lambda() {
        use aws_sdk_lambda::Client;
        use aws_smithy_mocks::{mock, mock_client};
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let page = || {
            Response::new(
                StatusCode::try_from(404).unwrap(),
                SdkBody::from("<!doctype html><title>404 Not Found</title>"),
            )
        };
        let put = mock!(Client::put_provisioned_concurrency_config).then_http_response(page);
        let mut aws = Aws::with_lambda(mock_client!(aws_sdk_lambda, [&put]), None);
        aws.endpoints = super::super::Endpoints::only(&[(Svc::S3, "http://127.0.0.1:5000")]);
        let err = aws
            .lambda
            .put_provisioned_concurrency_config()
            .function_name("f")
            .qualifier("live")
            .provisioned_concurrent_executions(1)
            .send()
            .await
            .unwrap_err();
        assert!(!lacks_api(&aws, Svc::Lambda, &err));
        aws.endpoints = super::super::Endpoints::only(&[(Svc::Lambda, "http://127.0.0.1:5000")]);
        assert!(lacks_api(&aws, Svc::Lambda, &err));
    }

    #[test]
    fn localstack_without_docker_serves_the_resource_services_only() {
        let ls = Emulator::LocalStack;
        for svc in [
            Svc::S3,
            Svc::Iam,
            Svc::Sts,
            Svc::Sqs,
            Svc::StepFunctions,
            Svc::Logs,
            Svc::EventBridge,
        ] {
            assert!(ls.serves(svc), "{svc:?}");
        }
        for svc in [Svc::Lambda, Svc::DynamoDb, Svc::HttpApi, Svc::XRay] {
            assert!(!ls.serves(svc), "{svc:?}");
        }
        assert!(Svc::CALLED.iter().all(|s| Emulator::Moto.serves(*s)));
    }
}

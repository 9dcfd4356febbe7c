//! How a failed AWS call reads: one line naming the resource, the operation,
//! AWS's error code and message and the request id; for a call that got no
//! answer AWS could name, what happened to it (an HTTP status, a lost
//! connection, a timeout). Never the SDK's debug dump, except with `-v`.

use std::error::Error;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// `creating Lambda function (shop-dev-checkout) (lambda:CreateFunction): <AWS's code and message>`.
pub fn aws_error<E>(resource: &str, operation: &str, err: SdkError<E, Response>) -> anyhow::Error
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
{
    let mut text = format!("{resource} ({operation}): {}", describe(&err));
    let denied = err
        .code()
        .is_some_and(|c| c == "AccessDenied" || c == "AccessDeniedException")
        && err
            .message()
            .is_some_and(|m| m.contains("is not authorized to perform"));
    if denied {
        text.push_str(&format!(
            "\n  the credentials sls-rs runs with may not call {operation}; grant it to them"
        ));
    }
    anyhow::Error::new(AwsFailure {
        resource: resource.to_string(),
        operation: operation.to_string(),
        code: err.code().map(str::to_string),
        // What happened to a call AWS never answered (a timeout, a lost connection).
        message: err
            .message()
            .map(|m| without_environment(&one_line(m)))
            .or_else(|| Some(describe(&err))),
        request_id: request_id(&err),
        detail: (crate::ui::verbosity() > 0).then(|| detail(&err)),
        text,
    })
}

/// A failed AWS call, as [`aws_error`] words it, with its parts kept for `--json`.
#[derive(Debug)]
pub struct AwsFailure {
    /// What sls-rs was doing to what: `creating Lambda function (shop-dev-checkout)`.
    pub resource: String,
    /// `lambda:CreateFunction`.
    pub operation: String,
    /// AWS's error code, when the answer had one.
    pub code: Option<String>,
    /// AWS's message, on one line, an echoed environment cut off; for a call AWS
    /// never answered, what happened to it.
    pub message: Option<String>,
    pub request_id: Option<String>,
    /// With `-v`: the SDK's whole answer (for a human; `--json` keeps it apart).
    pub detail: Option<String>,
    text: String,
}

impl std::fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)?;
        match &self.detail {
            Some(detail) => write!(f, "\n  detail: {detail}"),
            None => Ok(()),
        }
    }
}

impl Error for AwsFailure {}

/// The SDK's dump of a failed call, for `-v`, with AWS's echo of an environment cut off.
fn detail<E: std::fmt::Debug>(err: &SdkError<E, Response>) -> String {
    without_environment(&format!("{err:?}"))
}

/// Lambda's InvalidParameterValueException for an environment over 4 KB quotes the
/// whole environment after "String measured:", secrets included: never printed.
const ENVIRONMENT_ECHO: &str = "String measured:";

fn without_environment(text: &str) -> String {
    match text.find(ENVIRONMENT_ECHO) {
        Some(at) => format!(
            "{}{ENVIRONMENT_ECHO} (the environment's text is not shown)",
            &text[..at]
        ),
        None => text.to_string(),
    }
}

/// What went wrong, on one line, with the request id when AWS gave one.
pub fn describe<E: ProvideErrorMetadata + Error + 'static>(err: &SdkError<E, Response>) -> String {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let http = || status.map_or_else(|| "no HTTP answer".to_string(), |s| format!("HTTP {s}"));
    let what = match err {
        SdkError::ServiceError(s) => match (err.code(), err.message()) {
            (Some(code), Some(message)) => {
                format!("{code}: {}", without_environment(&one_line(message)))
            }
            (Some(code), None) => format!("{code} ({})", http()),
            (None, Some(message)) => {
                format!("{}: {}", http(), without_environment(&one_line(message)))
            }
            // A modelled error without metadata says what it is itself; an answer the
            // SDK could not read as an error ("unhandled error") says nothing.
            (None, None) => match s.err().to_string() {
                own if !own.is_empty() && !own.starts_with("unhandled error") => {
                    without_environment(&one_line(&own))
                }
                _ => format!("{} with no error code AWS could name", http()),
            },
        },
        SdkError::TimeoutError(_) => format!("timed out: {}", cause(err)),
        SdkError::DispatchFailure(f) if f.is_timeout() => format!("timed out: {}", cause(err)),
        SdkError::DispatchFailure(f) if f.is_io() => {
            format!("the connection failed: {}", cause(err))
        }
        SdkError::DispatchFailure(_) => format!("the request was not sent: {}", cause(err)),
        SdkError::ResponseError(_) => {
            format!(
                "{}, an answer that could not be read: {}",
                http(),
                cause(err)
            )
        }
        SdkError::ConstructionFailure(_) => {
            format!("the request could not be built: {}", cause(err))
        }
        _ => cause(err),
    };
    match request_id(err) {
        Some(id) => format!("{what} (request id {id})"),
        None => what,
    }
}

/// The request id: the header AWS sets on every answer, or the one in an error's body.
fn request_id<E: ProvideErrorMetadata>(err: &SdkError<E, Response>) -> Option<String> {
    let header = err.raw_response().and_then(|r| {
        ["x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"]
            .iter()
            .find_map(|h| r.headers().get(*h))
    });
    header
        .or_else(|| err.meta().extra("aws_request_id"))
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

/// The innermost cause's own words ("Connection reset by peer (os error 104)",
/// "operation timeout … occurred after 3s"), never a debug dump.
fn cause(err: &(dyn Error + 'static)) -> String {
    let mut last = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !text.is_empty() {
            last = text;
        }
        source = e.source();
    }
    one_line(&last)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    //! Failures as users read them, from the answers AWS (or a network) gives.
    use super::*;
    use aws_sdk_iam::operation::create_role::CreateRoleError;
    use aws_sdk_lambda::operation::create_alias::CreateAliasError;
    use aws_smithy_mocks::{mock, mock_client};
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn answer(status: u16, headers: &[(&str, &str)], body: &'static str) -> Response {
        let mut r = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
        for (k, v) in headers {
            r.headers_mut().insert(k.to_string(), v.to_string());
        }
        r
    }

    /// The line a failed call's answer gives, after checking it holds no dump.
    fn line<E: ProvideErrorMetadata + Error + Send + Sync + 'static>(
        err: SdkError<E, Response>,
    ) -> String {
        let text = aws_error("Lambda alias (f:live)", "lambda:CreateAlias", err).to_string();
        for dump in [
            "SdkBody",
            "Once(",
            "headers",
            "extensions",
            "ServiceError {",
        ] {
            assert!(!text.contains(dump), "{dump} in {text}");
        }
        assert!(!text.contains('\n'), "one line: {text}");
        text
    }

    async fn create_alias(response: fn() -> Response) -> SdkError<CreateAliasError, Response> {
        let rule = mock!(aws_sdk_lambda::Client::create_alias).then_http_response(response);
        let client = mock_client!(aws_sdk_lambda, [&rule]);
        client
            .create_alias()
            .function_name("f")
            .name("live")
            .function_version("1")
            .customize()
            .config_override(super::super::create::no_retries!(aws_sdk_lambda))
            .send()
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_500_with_a_body_that_is_no_aws_error_names_the_status() {
        let err = create_alias(|| {
            answer(
                500,
                &[("x-amzn-RequestId", "req-500")],
                "<html><body>Bad gateway</body></html>",
            )
        })
        .await;
        assert_eq!(
            line(err),
            "Lambda alias (f:live) (lambda:CreateAlias): HTTP 500 with no error code AWS could name (request id req-500)"
        );
    }

    #[tokio::test]
    async fn an_oversized_environment_echoed_by_lambda_is_never_printed() {
        let err = create_alias(|| {
            answer(
                400,
                &[
                    ("x-amzn-RequestId", "env-4kb"),
                    ("content-type", "application/json"),
                ],
                r#"{"__type":"InvalidParameterValueException","message":"Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {\"DB_PASSWORD\":\"hunter2-s3cret\",\"PAD\":\"xxxx\"}"}"#,
            )
        })
        .await;
        let dump = detail(&err);
        assert!(!dump.contains("hunter2-s3cret"), "{dump}");
        assert!(
            dump.contains("String measured: (the environment's text is not shown)"),
            "{dump}"
        );
        assert_eq!(
            line(err),
            "Lambda alias (f:live) (lambda:CreateAlias): InvalidParameterValueException: Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: (the environment's text is not shown) (request id env-4kb)"
        );
    }

    #[tokio::test]
    async fn a_json_error_gives_its_code_message_and_request_id() {
        let err = create_alias(|| {
            answer(
                409,
                &[
                    ("x-amzn-RequestId", "b2f4a1c0-1111"),
                    ("content-type", "application/json"),
                ],
                r#"{"__type":"ResourceConflictException","message":"Alias already exists: arn:aws:lambda:us-east-1:123456789012:function:f:live"}"#,
            )
        })
        .await;
        assert_eq!(
            line(err),
            "Lambda alias (f:live) (lambda:CreateAlias): ResourceConflictException: Alias already exists: arn:aws:lambda:us-east-1:123456789012:function:f:live (request id b2f4a1c0-1111)"
        );
    }

    #[tokio::test]
    async fn an_xml_iam_error_gives_its_code_message_and_request_id() {
        let rule = mock!(aws_sdk_iam::Client::create_role).then_http_response(|| {
            answer(
                409,
                &[("content-type", "text/xml"), ("x-amzn-RequestId", "4c3a-iam")],
                "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>EntityAlreadyExists</Code><Message>Role with name r already exists.</Message></Error><RequestId>4c3a-iam</RequestId></ErrorResponse>",
            )
        });
        // mock_client! wants the SDK's test-util feature, which sls-rs builds for Lambda and S3 only.
        let client = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_iam::config::Credentials::new(
                    "a", "b", None, None, "test",
                ))
                .http_client(aws_smithy_mocks::create_mock_http_client())
                .interceptor(aws_smithy_mocks::MockResponseInterceptor::new().with_rule(&rule))
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build(),
        );
        let err: SdkError<CreateRoleError, Response> = client
            .create_role()
            .role_name("r")
            .assume_role_policy_document("{}")
            .send()
            .await
            .unwrap_err();
        let text = aws_error("creating IAM role (r)", "iam:CreateRole", err).to_string();
        assert_eq!(
            text,
            "creating IAM role (r) (iam:CreateRole): EntityAlreadyExists: Role with name r already exists. (request id 4c3a-iam)"
        );
    }

    #[test]
    fn no_answer_says_what_happened_to_the_request() {
        let reset = std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "Connection reset by peer (os error 104)",
        );
        let err: SdkError<CreateAliasError, Response> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(reset)));
        assert_eq!(
            line(err),
            "Lambda alias (f:live) (lambda:CreateAlias): the connection failed: Connection reset by peer (os error 104)"
        );
        let slow = std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "HTTP read timeout occurred after 3.1s",
        );
        let err: SdkError<CreateAliasError, Response> =
            SdkError::dispatch_failure(ConnectorError::timeout(Box::new(slow)));
        assert_eq!(
            line(err),
            "Lambda alias (f:live) (lambda:CreateAlias): timed out: HTTP read timeout occurred after 3.1s"
        );
        let err: SdkError<CreateAliasError, Response> = SdkError::timeout_error(
            "operation timeout (all attempts including retries) occurred after 30s",
        );
        assert_eq!(
            line(err),
            "Lambda alias (f:live) (lambda:CreateAlias): timed out: operation timeout (all attempts including retries) occurred after 30s"
        );
    }

    #[test]
    fn the_deployers_own_access_denied_keeps_its_hint() {
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code("AccessDeniedException")
            .message("User: arn:aws:iam::123456789012:user/ci is not authorized to perform: lambda:CreateAlias on resource: f")
            .build();
        let err: SdkError<CreateAliasError, Response> = SdkError::service_error(
            CreateAliasError::generic(meta),
            answer(403, &[("x-amzn-RequestId", "r-403")], ""),
        );
        let text = aws_error("Lambda alias (f:live)", "lambda:CreateAlias", err).to_string();
        assert_eq!(
            text,
            "Lambda alias (f:live) (lambda:CreateAlias): AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: lambda:CreateAlias on resource: f (request id r-403)\n  the credentials sls-rs runs with may not call lambda:CreateAlias; grant it to them"
        );
    }
}

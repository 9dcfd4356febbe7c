//! Creates whose answer is lost. AWS carried the request out, the client saw a
//! 500, a reset connection or a timeout, and a retry meets the run's own
//! resource: as "already exists" where AWS names are unique (the adapters read
//! it back and carry on when it is this service's), or as a second resource
//! where they are not (an HTTP API, an integration, an event source mapping, a
//! policy statement on an emulator). Those creates go through [`create_once`]:
//! the SDK's own retries are off for them, and after an attempt that may have
//! been carried out the resource is looked for before the request is sent again.

use std::future::Future;
use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::pause;

/// Attempts of one create, as many as the SDK makes of any other call.
const ATTEMPTS: u32 = super::MAX_ATTEMPTS;

/// A config override that turns the SDK's retries off for one call:
/// `.customize().config_override(no_retries!(aws_sdk_lambda))`.
macro_rules! no_retries {
    ($sdk:ident) => {
        $sdk::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
    };
}
pub(crate) use no_retries;

/// The attempt may have been carried out although no answer says so: a 5xx, an
/// answer that could not be read, a timeout, a connection lost after sending.
pub fn maybe_done<E>(err: &SdkError<E, Response>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(f) => !f.is_user(),
        SdkError::ServiceError(s) => s.raw().status().is_server_error(),
        _ => false,
    }
}

/// AWS refused the attempt for its rate: nothing was done, try again later.
fn throttled<E: ProvideErrorMetadata>(err: &SdkError<E, Response>) -> bool {
    const CODES: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
    ];
    err.raw_response()
        .is_some_and(|r| r.status().as_u16() == 429)
        || err.code().is_some_and(|c| CODES.contains(&c))
}

/// Runs a create that AWS does not make idempotent. `create` sends one attempt
/// with the SDK's retries off ([`no_retries`]); after an attempt that may have
/// been carried out, `find` looks for what it would have made, and what it finds
/// is the result. Throttled attempts are sent again with backoff. The outer error
/// is `find`'s; the inner one the create's last answer.
pub async fn create_once<T, E, C, CF, F, FF>(
    mut create: C,
    mut find: F,
) -> anyhow::Result<Result<T, SdkError<E, Response>>>
where
    C: FnMut() -> CF,
    CF: Future<Output = Result<T, SdkError<E, Response>>>,
    F: FnMut() -> FF,
    FF: Future<Output = anyhow::Result<Option<T>>>,
    E: ProvideErrorMetadata,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match create().await {
            Err(e) if maybe_done(&e) => {
                if let Some(found) = find().await? {
                    return Ok(Ok(found));
                }
                if attempt >= ATTEMPTS {
                    return Ok(Err(e));
                }
            }
            Err(e) if throttled(&e) && attempt < ATTEMPTS => {}
            other => return Ok(other),
        }
        attempt += 1;
        pause(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// A create met a resource of that name that is not this service's.
pub fn not_ours(resource: &str, operation: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "creating {resource} ({operation}): one of that name exists and is not this service's (its sls-rs tags name another service, stage or region, or none); rename the service or stage, or delete it"
    )
}

#[cfg(test)]
mod tests {
    //! Lost answers and what follows them, against mocked Lambda answers.
    use super::*;
    use aws_sdk_lambda::operation::add_permission::{AddPermissionError, AddPermissionOutput};
    use aws_sdk_lambda::Client;
    use aws_smithy_mocks::{mock, mock_client};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    /// One AddPermission attempt with the SDK's retries off, as the adapters send them.
    async fn add_once(
        client: &Client,
    ) -> Result<AddPermissionOutput, SdkError<AddPermissionError, Response>> {
        client
            .add_permission()
            .function_name("f")
            .customize()
            .config_override(no_retries!(aws_sdk_lambda))
            .send()
            .await
    }

    fn status(code: u16) -> Response {
        Response::new(
            StatusCode::try_from(code).unwrap(),
            SdkBody::from("<html>oops</html>"),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_whose_answer_is_lost_is_found_not_sent_again() {
        let add = mock!(Client::add_permission)
            .sequence()
            .http_response(|| status(500))
            .output(|| AddPermissionOutput::builder().build())
            .build();
        let client = mock_client!(aws_sdk_lambda, [&add]);
        let mut looked = 0;
        let out = create_once(
            || add_once(&client),
            || {
                looked += 1;
                async {
                    Ok(Some(
                        AddPermissionOutput::builder().statement("found").build(),
                    ))
                }
            },
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(out.statement(), Some("found"));
        assert_eq!((add.num_calls(), looked), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_create_that_left_nothing_is_sent_again_and_a_refusal_is_not() {
        let add = mock!(Client::add_permission)
            .sequence()
            .http_response(|| status(503))
            .output(|| AddPermissionOutput::builder().statement("made").build())
            .build();
        let client = mock_client!(aws_sdk_lambda, [&add]);
        let out = create_once(|| add_once(&client), || async { Ok(None) })
            .await
            .unwrap()
            .unwrap();
        assert_eq!((out.statement(), add.num_calls()), (Some("made"), 2));

        let refused = mock!(Client::add_permission).then_error(|| {
            AddPermissionError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("InvalidParameterValueException")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_lambda, [&refused]);
        let mut looked = 0;
        let out = create_once(
            || add_once(&client),
            || {
                looked += 1;
                async { Ok(None) }
            },
        )
        .await
        .unwrap();
        assert!(out.is_err());
        assert_eq!((refused.num_calls(), looked), (1, 0), "a refusal is final");
    }
}

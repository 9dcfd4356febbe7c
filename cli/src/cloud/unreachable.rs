//! A host that does not resolve, or an emulator that is not running, will not answer
//! the twelfth time either: such a call fails at once, not after a minute of
//! backoff ([`super::MAX_ATTEMPTS`]). A refused connection is final only at an
//! endpoint override (an emulator, a proxy): AWS's own endpoints keep their retries.

use std::error::Error;

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};

/// The retry classifier each client gets; `refused_is_final` when the client's
/// endpoint is an override.
#[derive(Debug, Clone, Copy)]
pub struct Unreachable {
    pub refused_is_final: bool,
}

/// Why a failed connection will fail again, if it will.
pub fn why(err: &(dyn Error + 'static), refused_is_final: bool) -> Option<&'static str> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if refused_is_final && io.kind() == std::io::ErrorKind::ConnectionRefused {
                return Some("nothing listens at the endpoint");
            }
        }
        let text = e.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return Some("the host name does not resolve");
        }
        next = e.source();
    }
    None
}

impl ClassifyRetry for Unreachable {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        match err.as_connector_error() {
            Some(e) if why(e, self.refused_is_final).is_some() => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "sls-rs: unreachable endpoint"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::ConnectorError;

    #[derive(Debug)]
    struct Wrapped(&'static str, Box<dyn Error + Send + Sync>);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Wrapped {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    #[test]
    fn dns_failures_and_refusals_at_an_override_are_final_other_failures_are_not() {
        let dns = ConnectorError::io(Box::new(Wrapped(
            "client error (Connect)",
            Box::new(Wrapped(
                "dns error",
                Box::new(std::io::Error::other(
                    "failed to lookup address information: Name or service not known",
                )),
            )),
        )));
        assert_eq!(why(&dns, false), Some("the host name does not resolve"));
        let refused = ConnectorError::io(Box::new(Wrapped(
            "client error (Connect)",
            Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        )));
        assert_eq!(why(&refused, true), Some("nothing listens at the endpoint"));
        assert_eq!(
            why(&refused, false),
            None,
            "AWS's endpoints keep their retries"
        );
        let reset = ConnectorError::io(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(why(&reset, true), None);
        let slow =
            ConnectorError::timeout(Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut)));
        assert_eq!(why(&slow, true), None);
    }
}

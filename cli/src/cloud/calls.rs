//! Every AWS call sls-rs makes, counted by an SDK interceptor on every client,
//! so "an unchanged service costs no mutating call" can be measured and shown.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::Serialize;

/// The operations called so far, as `service:Operation`.
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<Mutex<Vec<String>>>);

/// Read-only operations, by name: everything else changes something.
pub fn is_read_only(operation: &str) -> bool {
    ["Get", "List", "Describe", "Head"]
        .iter()
        .any(|p| operation.starts_with(p))
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CallSummary {
    pub reads: usize,
    pub writes: usize,
    /// The mutating operations, in order.
    pub mutating: Vec<String>,
}

impl CallLog {
    pub fn calls(&self) -> Vec<String> {
        self.0.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn summary(&self) -> CallSummary {
        let calls = self.calls();
        let mutating: Vec<String> = calls
            .iter()
            .filter(|c| !is_read_only(c.rsplit(':').next().unwrap_or(c)))
            .cloned()
            .collect();
        CallSummary {
            reads: calls.len() - mutating.len(),
            writes: mutating.len(),
            mutating,
        }
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "sls-rs call log"
    }

    // Once per operation, whatever the retries; by now the operation's metadata is in the config.
    fn read_before_serialization(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            if let Ok(mut calls) = self.0.lock() {
                calls.push(format!(
                    "{}:{}",
                    meta.service().to_ascii_lowercase(),
                    meta.name()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_told_from_writes_by_operation_name() {
        let log = CallLog::default();
        log.0.lock().unwrap().extend(
            [
                "lambda:GetFunction",
                "s3:HeadObject",
                "lambda:UpdateFunctionConfiguration",
                "iam:ListRoles",
                "s3:PutObject",
            ]
            .map(String::from),
        );
        let s = log.summary();
        assert_eq!((s.reads, s.writes), (3, 2));
        assert_eq!(
            s.mutating,
            ["lambda:UpdateFunctionConfiguration", "s3:PutObject"]
        );
    }
}

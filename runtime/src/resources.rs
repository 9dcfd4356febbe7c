//! The names of the service's resources. Deploy injects the physical name of
//! every resource a function is granted as an environment variable; this is the
//! one place that defines their naming, and the CLI uses it too.

use std::fmt;

/// Every variable sls-rs injects starts with this prefix (users may not set such names).
pub const ENV_PREFIX: &str = "SLS_RS_";

/// The kinds of resource whose names deploy injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    /// A DynamoDB table (`resources.tables`): its table name.
    Table,
    /// An S3 bucket (`resources.buckets`): its bucket name.
    Bucket,
    /// An SQS queue (`resources.queues`): its queue URL.
    Queue,
    /// A Step Functions state machine (`resources.stateMachines`): its ARN.
    StateMachine,
    /// Another function of the service: its `live` alias ARN.
    Function,
}

impl ResourceKind {
    fn word(self) -> &'static str {
        match self {
            ResourceKind::Table => "TABLE",
            ResourceKind::Bucket => "BUCKET",
            ResourceKind::Queue => "QUEUE",
            ResourceKind::StateMachine => "STATE_MACHINE",
            ResourceKind::Function => "FUNCTION",
        }
    }
}

/// The variable holding a resource's name: `SLS_RS_{KIND}_{NAME}`, the manifest
/// name in SCREAMING_SNAKE_CASE (`uploadedFiles` and `uploaded-files` both give
/// `UPLOADED_FILES`), e.g. `SLS_RS_TABLE_TODOS`.
pub fn env_var_name(kind: ResourceKind, name: &str) -> String {
    let mut out = format!("{ENV_PREFIX}{}_", kind.word());
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        });
    }
    out
}

/// A resource the function was not granted, or that deploy did not inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingResource {
    /// The variable that was looked for.
    pub variable: String,
}

impl fmt::Display for MissingResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not set: grant the function access to this resource under `permissions:` in serverless.yaml", self.variable)
    }
}

impl std::error::Error for MissingResource {}

/// The name (or URL, or ARN, see [`ResourceKind`]) of one of the service's resources.
pub fn resource(kind: ResourceKind, name: &str) -> Result<String, MissingResource> {
    let variable = env_var_name(kind, name);
    std::env::var(&variable).map_err(|_| MissingResource { variable })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_are_screaming_snake_case() {
        assert_eq!(
            env_var_name(ResourceKind::Table, "todos"),
            "SLS_RS_TABLE_TODOS"
        );
        assert_eq!(
            env_var_name(ResourceKind::Bucket, "uploadedFiles"),
            "SLS_RS_BUCKET_UPLOADED_FILES"
        );
        assert_eq!(
            env_var_name(ResourceKind::Queue, "uploaded-files"),
            "SLS_RS_QUEUE_UPLOADED_FILES"
        );
        assert_eq!(
            env_var_name(ResourceKind::StateMachine, "checkoutV2"),
            "SLS_RS_STATE_MACHINE_CHECKOUT_V2"
        );
    }

    #[test]
    fn a_missing_resource_says_how_to_grant_it() {
        let err = resource(ResourceKind::Table, "surely-not-set-anywhere").unwrap_err();
        assert_eq!(err.variable, "SLS_RS_TABLE_SURELY_NOT_SET_ANYWHERE");
        assert!(err.to_string().contains("permissions:"));
    }
}

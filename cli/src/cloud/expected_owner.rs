//! Bucket names are global: anyone can create `sls-rs-deployments-{account}-{region}`
//! or a service's bucket name first. Every S3 request sls-rs makes carries
//! `x-amz-expected-bucket-owner: <account>`, so S3 answers 403 instead of
//! serving (or accepting writes to) a bucket another account owns.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

pub const HEADER: &str = "x-amz-expected-bucket-owner";

/// The operations that take no bucket owner: they create a bucket or list the caller's.
const WITHOUT_OWNER: &[&str] = &["CreateBucket", "ListBuckets"];

#[derive(Clone, Debug)]
pub struct ExpectedOwner(pub String);

impl Intercept for ExpectedOwner {
    fn name(&self) -> &'static str {
        "sls-rs expected bucket owner"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg.load::<Metadata>().map(|m| m.name()).unwrap_or_default();
        if !WITHOUT_OWNER.contains(&operation) {
            ctx.request_mut()
                .headers_mut()
                .try_insert(HEADER, self.0.clone())?;
        }
        Ok(())
    }
}

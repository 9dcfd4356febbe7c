//! S3 primitives for the state and the lock: whole-object reads and
//! conditional writes. A PUT is atomic and the bucket's versioning keeps every
//! earlier state; `If-None-Match: *` creates only where nothing is, `If-Match:
//! <ETag>` replaces (or deletes) only the object that was read, so of two
//! writers exactly one wins.
//!
//! An answer can be lost after S3 applied the write (a reset connection, a 500
//! from a proxy): the SDK then retries and the retry meets its own write as a
//! 412. Every conditional write therefore reads the object back on a 412 and
//! counts identical bytes as its own success.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::date_time::Format;

use super::{aws_error, emulator, Aws, Svc};

/// An object as read, with what a later conditional write needs.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub etag: String,
    /// How long ago S3 last wrote it, by S3's own clock (`Date` − `Last-Modified`).
    pub age: Duration,
}

/// What a write may replace.
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// Nothing: create only (`If-None-Match: *`).
    Absent,
    /// Exactly the object with this ETag (`If-Match`).
    Etag(&'a str),
}

/// A conditional write or delete met an object other than the one expected.
#[derive(Debug)]
pub enum Outcome {
    /// Written; the new ETag.
    Written(String),
    /// Someone else's object is there (or nothing, where one was expected).
    Conflict(Option<Object>),
}

/// S3's clock, learnt from the `Date` header of every answer: staleness is
/// judged by the server's clock on both ends, never the reader's.
#[derive(Clone, Debug, Default)]
pub struct ServerClock {
    /// Server time minus local time, in seconds, from the latest answer.
    skew: Arc<AtomicI64>,
}

impl ServerClock {
    fn local_secs() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    /// Now, in Unix seconds, by the server's clock.
    pub fn now(&self) -> i64 {
        Self::local_secs() + self.skew.load(Ordering::Relaxed)
    }
}

impl Intercept for ServerClock {
    fn name(&self) -> &'static str {
        "sls-rs server clock"
    }

    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let date = ctx.response().headers().get("date");
        if let Some(date) =
            date.and_then(|d| aws_smithy_types::DateTime::from_str(d, Format::HttpDate).ok())
        {
            self.skew
                .store(date.secs() - Self::local_secs(), Ordering::Relaxed);
        }
        Ok(())
    }
}

fn etag_of(etag: Option<&str>) -> String {
    etag.unwrap_or_default().to_string()
}

/// Reads an object; `None` when it does not exist.
pub async fn get(aws: &Aws, bucket: &str, key: &str) -> anyhow::Result<Option<Object>> {
    match aws
        .state_s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(out) => {
            let etag = etag_of(out.e_tag());
            let modified = out.last_modified().map(|t| t.secs());
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading s3://{bucket}/{key}: {e}"))?;
            let age = modified
                .map(|m| aws.clock.now().saturating_sub(m).max(0) as u64)
                .unwrap_or(0);
            Ok(Some(Object {
                bytes: bytes.into_bytes().to_vec(),
                etag,
                age: Duration::from_secs(age),
            }))
        }
        // No such key, or no bucket yet: nothing was ever written.
        Err(e)
            if e.as_service_error().is_some_and(|s| s.is_no_such_key())
                || e.raw_response().is_some_and(|r| r.status().as_u16() == 404) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error(
            &format!("reading s3://{bucket}/{key}"),
            "s3:GetObject",
            e,
        )),
    }
}

/// 412 Precondition Failed; 409 when a concurrent conditional write is in flight;
/// 404 NoSuchKey for `If-Match` on an object that is gone (NoSuchBucket is an error).
fn is_condition_failed<E: aws_smithy_types::error::metadata::ProvideErrorMetadata>(
    err: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    match err.raw_response().map(|r| r.status().as_u16()) {
        Some(412 | 409) => true,
        Some(404) => err.as_service_error().and_then(|e| e.code()) != Some("NoSuchBucket"),
        _ => false,
    }
}

/// Writes an object if what is there is what `expect` says.
pub async fn put(
    aws: &Aws,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    expect: Expect<'_>,
) -> anyhow::Result<Outcome> {
    let mut request = aws
        .state_s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(bytes.clone()));
    request = match expect {
        Expect::Absent => request.if_none_match("*"),
        Expect::Etag(etag) => request.if_match(etag),
    };
    match request.send().await {
        Ok(out) => Ok(Outcome::Written(etag_of(out.e_tag()))),
        Err(e) if is_condition_failed(&e) => {
            // Our own write whose answer was lost reads back byte for byte.
            match get(aws, bucket, key).await? {
                Some(now) if now.bytes == bytes => Ok(Outcome::Written(now.etag)),
                other => Ok(Outcome::Conflict(other)),
            }
        }
        Err(e) => Err(aws_error(
            &format!("writing s3://{bucket}/{key}"),
            "s3:PutObject",
            e,
        )),
    }
}

/// Deletes an object only if its ETag is still `etag`; `false` when it is someone else's now.
/// A missing object is already deleted.
pub async fn delete_if(aws: &Aws, bucket: &str, key: &str, etag: &str) -> anyhow::Result<bool> {
    match aws
        .state_s3
        .delete_object()
        .bucket(bucket)
        .key(key)
        .if_match(etag)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e)
            if e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
                && is_condition_failed(&e) =>
        {
            Ok(true)
        }
        Err(e) if is_condition_failed(&e) => Ok(get(aws, bucket, key).await?.is_none()),
        // LocalStack answers a conditional delete 501 NotImplemented (AWS has it):
        // compare, then delete. The gap between the two is an emulator's only.
        Err(e) if emulator::lacks_api(aws, Svc::S3, &e) => match get(aws, bucket, key).await? {
            None => Ok(true),
            Some(now) if now.etag != etag => Ok(false),
            Some(_) => {
                aws.state_s3
                    .delete_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| {
                        aws_error(
                            &format!("deleting s3://{bucket}/{key}"),
                            "s3:DeleteObject",
                            e,
                        )
                    })?;
                Ok(true)
            }
        },
        Err(e) => Err(aws_error(
            &format!("deleting s3://{bucket}/{key}"),
            "s3:DeleteObject",
            e,
        )),
    }
}

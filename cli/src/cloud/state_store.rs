//! S3 primitives for the state and the lock: whole-object reads and writes
//! (a PUT is atomic, and the bucket's versioning keeps every earlier state),
//! and a create-only write (`If-None-Match: *`) that only one writer can win.

use aws_sdk_s3::primitives::ByteStream;

use super::{aws_error, Aws};

/// Reads an object; `None` when it does not exist.
pub async fn get(aws: &Aws, bucket: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
    match aws
        .state_s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(out) => {
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading s3://{bucket}/{key}: {e}"))?;
            Ok(Some(bytes.into_bytes().to_vec()))
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

pub async fn put(aws: &Aws, bucket: &str, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
    aws.state_s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| aws_error(&format!("writing s3://{bucket}/{key}"), "s3:PutObject", e))?;
    Ok(())
}

/// Writes an object only if none exists. `false` when another writer holds the key.
pub async fn put_if_absent(
    aws: &Aws,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<bool> {
    let result = aws
        .state_s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .if_none_match("*")
        .content_type("application/json")
        .body(ByteStream::from(bytes))
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        // 412 Precondition Failed; 409 when a concurrent conditional write is in flight.
        Err(e)
            if matches!(
                e.raw_response().map(|r| r.status().as_u16()),
                Some(412 | 409)
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(aws_error(
            &format!("writing s3://{bucket}/{key}"),
            "s3:PutObject",
            e,
        )),
    }
}

/// Deletes an object; a missing one is already deleted.
pub async fn delete(aws: &Aws, bucket: &str, key: &str) -> anyhow::Result<()> {
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
    Ok(())
}

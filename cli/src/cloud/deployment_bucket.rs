//! The deployment bucket: one per account and region, holding artifacts
//! (content-addressed) and the state of every service deployed there.

use std::path::Path;

use anyhow::Context as _;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};

use super::{aws_error, Aws};

/// `sls-rs-deployments-{account}-{region}`: globally unique, at most 46 characters.
pub fn name(account: &str, region: &str) -> String {
    format!("sls-rs-deployments-{account}-{region}")
}

/// Whether the bucket exists (one read).
pub async fn exists(aws: &Aws, bucket: &str) -> anyhow::Result<bool> {
    match aws.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        Err(e) => Err(aws_error(
            &format!("reading deployment bucket ({bucket})"),
            "s3:HeadBucket",
            e,
        )),
    }
}

/// Makes sure the bucket exists; creates it versioned, private and encrypted the first time.
pub async fn ensure(aws: &Aws, bucket: &str) -> anyhow::Result<()> {
    if exists(aws, bucket).await? {
        return Ok(());
    }
    let mut create = aws.s3.create_bucket().bucket(bucket);
    if aws.target.region != "us-east-1" {
        let constraint = BucketLocationConstraint::from(aws.target.region.as_str());
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(constraint)
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => {}
        // Another deploy created it a moment ago.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
        Err(e) => {
            return Err(aws_error(
                &format!("creating deployment bucket ({bucket})"),
                "s3:CreateBucket",
                e,
            ))
        }
    }
    let versioning = VersioningConfiguration::builder()
        .status(BucketVersioningStatus::Enabled)
        .build();
    aws.s3
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(versioning)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &format!("versioning deployment bucket ({bucket})"),
                "s3:PutBucketVersioning",
                e,
            )
        })?;
    let block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    aws.s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(block)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &format!("blocking public access to deployment bucket ({bucket})"),
                "s3:PutPublicAccessBlock",
                e,
            )
        })?;
    let default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()?;
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(default)
                .build(),
        )
        .build()?;
    aws.s3
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(encryption)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &format!("encrypting deployment bucket ({bucket})"),
                "s3:PutBucketEncryption",
                e,
            )
        })?;
    Ok(())
}

/// Uploads an artifact under its content-addressed key unless it is there already.
/// Returns whether it uploaded.
pub async fn upload_artifact(
    aws: &Aws,
    bucket: &str,
    key: &str,
    local: &Path,
) -> anyhow::Result<bool> {
    match aws.s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => return Ok(false),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {}
        Err(e) => {
            return Err(aws_error(
                &format!("reading artifact (s3://{bucket}/{key})"),
                "s3:HeadObject",
                e,
            ))
        }
    }
    // The key is the content hash the package recorded: refuse a zip rewritten since.
    let bytes = std::fs::read(local).with_context(|| format!("reading {}", local.display()))?;
    let actual = crate::build::sha256_hex(&bytes);
    if !key.contains(&actual) {
        anyhow::bail!("{} changed since it was packaged (its sha256 is now {actual}); run `sls-rs package` again", local.display());
    }
    let body = ByteStream::from(bytes);
    aws.s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &format!("uploading artifact (s3://{bucket}/{key})"),
                "s3:PutObject",
                e,
            )
        })?;
    Ok(true)
}

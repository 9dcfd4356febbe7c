//! The deployment bucket: one per account and region (or the one the manifest
//! names), holding artifacts (content-addressed) and the state of every service
//! deployed there. Its name is predictable and bucket names are global, so it is
//! used only when this account owns it.

use std::path::Path;

use anyhow::Context as _;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration,
    LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    VersioningConfiguration,
};

use super::{aws_error, has_code, Aws};

/// `sls-rs-deployments-{account}-{region}`: at most 46 characters.
pub fn name(account: &str, region: &str) -> String {
    format!("sls-rs-deployments-{account}-{region}")
}

/// The bucket a service's state and artifacts live in: the manifest's
/// `provider.deploymentBucket`, else the account's and region's own ([`name`]).
pub fn of(service: &crate::manifest::Service, account: &str, region: &str) -> String {
    match &service.manifest.provider.deployment_bucket {
        Some(b) => b.name.clone(),
        None => name(account, region),
    }
}

/// The tag that says the hardening below is complete, and which generation of it.
/// Written last, so a run killed half-way hardens again next time.
const HARDENED_TAG: &str = "sls-rs:hardened";
const HARDENED: &str = "1";
/// Lifecycle rules of ours carry this prefix; other tools' rules are kept.
const RULE_PREFIX: &str = "sls-rs-";
/// Earlier versions of the state and of artifacts stay this long (recovery, audit).
const NONCURRENT_DAYS: i32 = 90;
/// Artifacts are only read while a deploy creates or updates a function (Lambda keeps
/// its own copy): one not uploaded again for this long is unreferenced, and is
/// uploaded again if a deploy ever needs it.
const ARTIFACT_DAYS: i32 = 30;

/// The bucket exists but another AWS account owns it.
#[derive(Debug)]
pub struct NotOurs {
    pub bucket: String,
    pub account: String,
}

impl std::fmt::Display for NotOurs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the deployment bucket {} exists but does not belong to account {}: sls-rs keeps its state and code only in a bucket of its own account\n  = help: choose another name with `provider.deploymentBucket: {{ name: ... }}` in serverless.yaml (sls-rs creates it)",
            self.bucket, self.account
        )
    }
}

impl std::error::Error for NotOurs {}

/// What one read of the bucket's tags tells.
enum Seen {
    Missing,
    Hardened,
    /// Ours or not (checked next), not (fully) hardened; its tags, to keep.
    Unhardened(Vec<Tag>),
}

async fn look(aws: &Aws, bucket: &str) -> anyhow::Result<Seen> {
    match aws
        .state_s3
        .get_bucket_tagging()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => {
            let hardened = out
                .tag_set()
                .iter()
                .any(|t| t.key() == HARDENED_TAG && t.value() == HARDENED);
            Ok(if hardened {
                Seen::Hardened
            } else {
                Seen::Unhardened(out.tag_set().to_vec())
            })
        }
        Err(e) if has_code(&e, &["NoSuchTagSet"]) => Ok(Seen::Unhardened(vec![])),
        Err(e) if has_code(&e, &["NoSuchBucket"]) => Ok(Seen::Missing),
        // x-amz-expected-bucket-owner does not match (another account's bucket), or the
        // deploying identity may not read the bucket's tags: the account's list tells.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => {
            if owns(&aws.state_s3, bucket).await? {
                return Err(aws_error(
                    &format!("reading deployment bucket ({bucket})"),
                    "s3:GetBucketTagging",
                    e,
                ));
            }
            Err(not_ours(aws, bucket))
        }
        Err(e) => Err(aws_error(
            &format!("reading deployment bucket ({bucket})"),
            "s3:GetBucketTagging",
            e,
        )),
    }
}

fn not_ours(aws: &Aws, bucket: &str) -> anyhow::Error {
    NotOurs {
        bucket: bucket.to_string(),
        account: aws.account.clone(),
    }
    .into()
}

/// Whether this account owns the bucket: it is among the caller's own buckets. (AWS
/// also refuses every request to it through `x-amz-expected-bucket-owner`; emulators
/// ignore that header but list only the caller's buckets.)
pub async fn owns(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<bool> {
    let out = s3
        .list_buckets()
        .prefix(bucket)
        .send()
        .await
        .map_err(|e| aws_error("listing the account's buckets", "s3:ListBuckets", e))?;
    Ok(out.buckets().iter().any(|b| b.name() == Some(bucket)))
}

/// Whether the bucket exists and is this account's (one read); a bucket of another
/// account is an error. Touches nothing (`deploy --dry-run`, `info`).
pub async fn exists(aws: &Aws, bucket: &str) -> anyhow::Result<bool> {
    match look(aws, bucket).await? {
        Seen::Missing => Ok(false),
        Seen::Hardened => Ok(true),
        Seen::Unhardened(_) if owns(&aws.state_s3, bucket).await? => Ok(true),
        Seen::Unhardened(_) => Err(not_ours(aws, bucket)),
    }
}

/// Its calls are bookkeeping, like the state's: they go through `state_s3`.
/// Makes sure the bucket exists, is this account's, and is versioned, private,
/// encrypted and expires what nothing needs. A bucket hardened before costs one read;
/// otherwise (first use, or a run killed right after CreateBucket) every setting is
/// written again, idempotently, and the hardened tag last.
pub async fn ensure(aws: &Aws, bucket: &str) -> anyhow::Result<()> {
    let tags = match look(aws, bucket).await? {
        Seen::Hardened => return Ok(()),
        Seen::Unhardened(tags) => {
            if !owns(&aws.state_s3, bucket).await? {
                return Err(not_ours(aws, bucket));
            }
            tags
        }
        Seen::Missing => {
            create(aws, bucket).await?;
            vec![]
        }
    };
    harden(aws, bucket, tags).await
}

async fn create(aws: &Aws, bucket: &str) -> anyhow::Result<()> {
    let mut create = aws.state_s3.create_bucket().bucket(bucket);
    if aws.target.region != "us-east-1" {
        let constraint = BucketLocationConstraint::from(aws.target.region.as_str());
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(constraint)
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => Ok(()),
        // Another deploy of this account created it a moment ago.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
        {
            Ok(())
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_exists()) =>
        {
            Err(not_ours(aws, bucket))
        }
        Err(e) => Err(aws_error(
            &format!("creating deployment bucket ({bucket})"),
            "s3:CreateBucket",
            e,
        )),
    }
}

async fn harden(aws: &Aws, bucket: &str, mut tags: Vec<Tag>) -> anyhow::Result<()> {
    let what = |doing: &str| format!("{doing} deployment bucket ({bucket})");
    let versioning = VersioningConfiguration::builder()
        .status(BucketVersioningStatus::Enabled)
        .build();
    aws.state_s3
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(versioning)
        .send()
        .await
        .map_err(|e| aws_error(&what("versioning"), "s3:PutBucketVersioning", e))?;
    let block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    aws.state_s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(block)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &what("blocking public access to"),
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
    aws.state_s3
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(encryption)
        .send()
        .await
        .map_err(|e| aws_error(&what("encrypting"), "s3:PutBucketEncryption", e))?;
    put_lifecycle(aws, bucket).await?;
    tags.retain(|t| t.key() != HARDENED_TAG);
    tags.push(Tag::builder().key(HARDENED_TAG).value(HARDENED).build()?);
    aws.state_s3
        .put_bucket_tagging()
        .bucket(bucket)
        .tagging(Tagging::builder().set_tag_set(Some(tags)).build()?)
        .send()
        .await
        .map_err(|e| aws_error(&what("tagging"), "s3:PutBucketTagging", e))?;
    Ok(())
}

/// Our two rules (earlier versions, unreferenced artifacts) beside any rule another tool set.
async fn put_lifecycle(aws: &Aws, bucket: &str) -> anyhow::Result<()> {
    let mut rules: Vec<LifecycleRule> = match aws
        .state_s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => out.rules().to_vec(),
        Err(e) if has_code(&e, &["NoSuchLifecycleConfiguration"]) => vec![],
        Err(e) => {
            return Err(aws_error(
                &format!("reading the lifecycle of deployment bucket ({bucket})"),
                "s3:GetBucketLifecycleConfiguration",
                e,
            ))
        }
    };
    rules.retain(|r| !r.id().is_some_and(|id| id.starts_with(RULE_PREFIX)));
    let prefix = |p: &str| LifecycleRuleFilter::builder().prefix(p).build();
    rules.push(
        LifecycleRule::builder()
            .id(format!("{RULE_PREFIX}noncurrent-versions"))
            .status(ExpirationStatus::Enabled)
            .filter(prefix(""))
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(NONCURRENT_DAYS)
                    .build(),
            )
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(1)
                    .build(),
            )
            .build()?,
    );
    rules.push(
        LifecycleRule::builder()
            .id(format!("{RULE_PREFIX}unreferenced-artifacts"))
            .status(ExpirationStatus::Enabled)
            .filter(prefix("artifacts/"))
            .expiration(LifecycleExpiration::builder().days(ARTIFACT_DAYS).build())
            .build()?,
    );
    aws.state_s3
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()?,
        )
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &format!("setting the lifecycle of deployment bucket ({bucket})"),
                "s3:PutBucketLifecycleConfiguration",
                e,
            )
        })?;
    Ok(())
}

/// Which of `keys` the bucket holds, from one listing of its artifacts (1,000 a
/// page) instead of a HeadObject each; `None` once the pages would outnumber the
/// keys (a bucket of many old artifacts): the caller asks for each.
pub async fn existing_artifacts(
    aws: &Aws,
    bucket: &str,
    keys: &std::collections::BTreeSet<&str>,
) -> anyhow::Result<Option<std::collections::BTreeSet<String>>> {
    if keys.len() < 2 {
        return Ok(None);
    }
    let mut found = std::collections::BTreeSet::new();
    let (mut token, mut pages): (Option<String>, usize) = (None, 0);
    loop {
        pages += 1;
        let out = aws
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(crate::model::ARTIFACT_PREFIX)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    &format!(
                        "listing artifacts (s3://{bucket}/{})",
                        crate::model::ARTIFACT_PREFIX
                    ),
                    "s3:ListObjectsV2",
                    e,
                )
            })?;
        found.extend(
            out.contents
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| o.key)
                .filter(|k| keys.contains(k.as_str())),
        );
        token = out.next_continuation_token.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(Some(found));
        }
        if pages >= keys.len() {
            return Ok(None);
        }
    }
}

/// Uploads an artifact under its content-addressed key unless the bucket has it;
/// `listed`: a listing already said it is absent, so no HeadObject asks again.
/// Returns whether it uploaded.
pub async fn upload_artifact(
    aws: &Aws,
    bucket: &str,
    key: &str,
    local: &Path,
    listed: bool,
) -> anyhow::Result<bool> {
    if !listed {
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
    }
    // The key is the content hash the package recorded: refuse a zip rewritten since.
    let bytes = std::fs::read(local).with_context(|| format!("reading {}", local.display()))?;
    let actual = crate::build::sha256_hex(&bytes);
    if !key.contains(&actual) {
        anyhow::bail!("{} changed since it was packaged (its sha256 is now {actual}); run `sls-rs package` again", local.display());
    }
    let body = ByteStream::from(bytes);
    // Only if no object has the key: an artifact is named by its content, so one that
    // is there already is this one, and no deploy (a stage's CI role included, whose
    // policy requires this header) can replace another's code under its hash.
    let put = aws
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .if_none_match("*")
        .body(body)
        .send()
        .await;
    match put {
        Ok(_) => Ok(true),
        Err(e) if has_code(&e, &["PreconditionFailed", "ConditionalRequestConflict"]) => Ok(false),
        Err(e) => Err(aws_error(
            &format!("uploading artifact (s3://{bucket}/{key})"),
            "s3:PutObject",
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput;
    use aws_sdk_s3::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    /// What S3 answers when `x-amz-expected-bucket-owner` does not match, or a permission is missing.
    fn access_denied() -> aws_smithy_runtime_api::http::Response {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            ),
        )
    }

    fn with_state_s3(client: Client) -> Aws {
        Aws {
            state_s3: client.clone(),
            ..Aws::with_s3(client, None)
        }
    }

    #[tokio::test]
    async fn a_hardened_bucket_costs_one_read() {
        let tagged = mock!(Client::get_bucket_tagging).then_output(|| {
            GetBucketTaggingOutput::builder()
                .tag_set(
                    Tag::builder()
                        .key(HARDENED_TAG)
                        .value(HARDENED)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        });
        // Sequential: any second request would find no rule and fail.
        let aws = with_state_s3(mock_client!(aws_sdk_s3, RuleMode::Sequential, [&tagged]));
        ensure(&aws, "b").await.unwrap();
        assert_eq!(tagged.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_bucket_aws_refuses_for_the_expected_owner_is_named_as_not_ours() {
        let denied = mock!(Client::get_bucket_tagging).then_http_response(access_denied);
        let listed = mock!(Client::list_buckets).then_output(|| {
            aws_sdk_s3::operation::list_buckets::ListBucketsOutput::builder().build()
        });
        let aws = with_state_s3(mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&denied, &listed]
        ));
        let err = ensure(&aws, "sls-rs-deployments-123456789012-us-east-1")
            .await
            .unwrap_err();
        assert!(err.downcast_ref::<NotOurs>().is_some(), "{err:#}");
        let text = err.to_string();
        assert!(
            text.contains("sls-rs-deployments-123456789012-us-east-1 exists but does not belong to account 123456789012")
                && text.contains("provider.deploymentBucket"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_bucket_of_ours_the_identity_may_not_read_names_the_missing_permission() {
        let denied = mock!(Client::get_bucket_tagging).then_http_response(access_denied);
        let listed = mock!(Client::list_buckets).then_output(|| {
            aws_sdk_s3::operation::list_buckets::ListBucketsOutput::builder()
                .buckets(aws_sdk_s3::types::Bucket::builder().name("mine").build())
                .build()
        });
        let aws = with_state_s3(mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&denied, &listed]
        ));
        let err = ensure(&aws, "mine").await.unwrap_err();
        assert!(err.downcast_ref::<NotOurs>().is_none(), "{err:#}");
        let text = format!("{err:#}");
        assert!(
            text.contains("s3:GetBucketTagging") && text.contains("AccessDenied"),
            "{text}"
        );
    }
}

//! An S3 bucket of `resources.buckets`: versioning, default encryption, public
//! access block, CORS, lifecycle expiry, tags.

use std::collections::BTreeMap;

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketVersioningStatus, CorsConfiguration,
    CorsRule as S3CorsRule, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};

use super::{aws_error, changed, has_code, Aws, Changed, Deleted};
use crate::manifest::{BucketEncryption, CorsRule};
use crate::model::{cors_text, lifecycle_text, tag_props, BucketSpec, Props};

const NO_SUCH_BUCKET: &[&str] = &["NoSuchBucket", "NotFound", "404"];
const LIFECYCLE_RULE_ID: &str = "sls-rs-expiry";
/// The lifecycle rules sls-rs writes carry this ID prefix; any other rule is someone else's.
const OUR_RULE_PREFIX: &str = "sls-rs-";

fn what(name: &str) -> String {
    format!("S3 bucket ({name})")
}

/// A bucket of the service's name exists, owned by another account.
#[derive(Debug)]
pub struct NotOurs(pub String, pub String);

impl std::fmt::Display for NotOurs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "S3 bucket {} exists but does not belong to account {}: sls-rs neither adopts nor changes it\n  = help: bucket names are global; rename the bucket in serverless.yaml (its name is `{{service}}-{{stage}}-{{name}}-{{account}}-{{region}}`)",
            self.0, self.1
        )
    }
}

impl std::error::Error for NotOurs {}

fn not_ours(aws: &Aws, name: &str) -> anyhow::Error {
    NotOurs(name.to_string(), aws.account.clone()).into()
}

/// Reads a bucket's configuration; `None` when it does not exist.
pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<Props>> {
    let s3 = &aws.s3;
    let versioning = match s3.get_bucket_versioning().bucket(name).send().await {
        Ok(v) => v.status,
        Err(e) if has_code(&e, NO_SUCH_BUCKET) => return Ok(None),
        // moto answers under another XML root that the SDK cannot parse; read the status from it
        // (on an emulator only: from AWS that is an error).
        Err(e) if super::is_empty_answer(aws, &e) => {
            let body = e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            body.contains("<Status>Enabled</Status>")
                .then_some(BucketVersioningStatus::Enabled)
        }
        // x-amz-expected-bucket-owner does not match (another account has the name),
        // or the deploying identity may not read the bucket's versioning.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => {
            if super::deployment_bucket::owns(&aws.s3, name).await? {
                return Err(aws_error(&what(name), "s3:GetBucketVersioning", e));
            }
            return Err(not_ours(aws, name));
        }
        Err(e) => return Err(aws_error(&what(name), "s3:GetBucketVersioning", e)),
    };
    // Bucket names are global: one that exists is ours only if this account owns it
    // (emulators ignore the expected-owner header), however it is tagged.
    if !super::deployment_bucket::owns(&aws.s3, name).await? {
        return Err(not_ours(aws, name));
    }
    let mut p = Props::new();
    let on = |b: bool| if b { "on" } else { "off" }.to_string();
    p.insert(
        "versioning".into(),
        on(versioning == Some(BucketVersioningStatus::Enabled)),
    );
    let encryption = match s3.get_bucket_encryption().bucket(name).send().await {
        Ok(out) => out
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map_or_else(|| "none".into(), |d| d.sse_algorithm().as_str().to_string()),
        Err(e) if has_code(&e, &["ServerSideEncryptionConfigurationNotFoundError"]) => {
            "none".into()
        }
        Err(e) => return Err(aws_error(&what(name), "s3:GetBucketEncryption", e)),
    };
    p.insert("encryption".into(), encryption);
    let blocked = match s3.get_public_access_block().bucket(name).send().await {
        Ok(out) => out.public_access_block_configuration().is_some_and(|c| {
            c.block_public_acls() == Some(true)
                && c.ignore_public_acls() == Some(true)
                && c.block_public_policy() == Some(true)
                && c.restrict_public_buckets() == Some(true)
        }),
        Err(e) if has_code(&e, &["NoSuchPublicAccessBlockConfiguration"]) => false,
        Err(e) => return Err(aws_error(&what(name), "s3:GetPublicAccessBlock", e)),
    };
    p.insert("blockPublicAccess".into(), on(blocked));
    let cors: Vec<CorsRule> = match s3.get_bucket_cors().bucket(name).send().await {
        Ok(out) => out
            .cors_rules()
            .iter()
            .map(|r| CorsRule {
                allowed_origins: r.allowed_origins().to_vec(),
                allowed_methods: r.allowed_methods().to_vec(),
                allowed_headers: r.allowed_headers().to_vec(),
                max_age: r.max_age_seconds().and_then(|s| u32::try_from(s).ok()),
            })
            .collect(),
        Err(e) if has_code(&e, &["NoSuchCORSConfiguration"]) => vec![],
        Err(e) => return Err(aws_error(&what(name), "s3:GetBucketCors", e)),
    };
    p.insert("cors".into(), cors_text(&cors));
    let lifecycle = match s3
        .get_bucket_lifecycle_configuration()
        .bucket(name)
        .send()
        .await
    {
        Ok(out) => out
            .rules()
            .iter()
            .find(|r| r.id() == Some(LIFECYCLE_RULE_ID))
            .and_then(|r| {
                let days = u32::try_from(r.expiration()?.days()?).ok()?;
                let prefix = r.filter().and_then(|f| f.prefix());
                Some(lifecycle_text(days, prefix))
            })
            .unwrap_or_else(|| "none".into()),
        Err(e) if has_code(&e, &["NoSuchLifecycleConfiguration"]) => "none".into(),
        Err(e) => {
            return Err(aws_error(
                &what(name),
                "s3:GetBucketLifecycleConfiguration",
                e,
            ))
        }
    };
    p.insert("lifecycle".into(), lifecycle);
    let tags = read_tags(aws, name).await?;
    // Owned (checked above), untagged and empty: what a create that died before its
    // PutBucketTagging leaves.
    if tags.is_empty() && !has_objects(aws, name).await? {
        p.insert(crate::model::UNCLAIMED.into(), "true".into());
    }
    tag_props(&mut p, &tags);
    Ok(Some(p))
}

async fn read_tags(aws: &Aws, name: &str) -> anyhow::Result<BTreeMap<String, String>> {
    match aws.s3.get_bucket_tagging().bucket(name).send().await {
        Ok(out) => Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()),
        Err(e) if has_code(&e, &["NoSuchTagSet"]) => Ok(BTreeMap::new()),
        Err(e) => Err(aws_error(&what(name), "s3:GetBucketTagging", e)),
    }
}

pub async fn create(aws: &Aws, name: &str, spec: &BucketSpec) -> anyhow::Result<String> {
    let mut req = aws.s3.create_bucket().bucket(name);
    // us-east-1 is the one region S3 wants no location constraint for.
    if aws.target.region != "us-east-1" {
        req = req.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    aws.target.region.as_str(),
                ))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) if has_code(&e, &["BucketAlreadyOwnedByYou"]) => {}
        Err(e) => {
            return Err(aws_error(
                &format!("creating {}", what(name)),
                "s3:CreateBucket",
                e,
            ))
        }
    }
    // Tagged first (so a deploy that dies here leaves a bucket known to be ours), then
    // public access blocked before anything else can be written.
    let everything: Changed = [
        "blockPublicAccess",
        "versioning",
        "encryption",
        "cors",
        "lifecycle",
        "tags.",
    ]
    .into_iter()
    .map(|k| (k.to_string(), None))
    .collect();
    update(aws, name, spec, &everything).await?;
    Ok(format!("{}:s3:::{name}", aws.partition()))
}

pub async fn update(aws: &Aws, name: &str, spec: &BucketSpec, c: &Changed) -> anyhow::Result<()> {
    let s3 = &aws.s3;
    let def = &spec.def;
    // Tags first: they are how a bucket made by a deploy that died is known to be ours.
    if changed(c, "tags.") {
        // S3 replaces the whole tag set: keep tags others set, drop ours that are gone.
        let mut tags = read_tags(aws, name).await?;
        for k in super::dropped_tags(c, &spec.tags) {
            tags.remove(&k);
        }
        tags.extend(spec.tags.clone());
        let set: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("tag fields are set")
            })
            .collect();
        s3.put_bucket_tagging()
            .bucket(name)
            .tagging(
                Tagging::builder()
                    .set_tag_set(Some(set))
                    .build()
                    .expect("tags are set"),
            )
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "s3:PutBucketTagging", e))?;
    }
    if changed(c, "blockPublicAccess") {
        let b = def.block_public_access;
        let config = PublicAccessBlockConfiguration::builder()
            .block_public_acls(b)
            .ignore_public_acls(b)
            .block_public_policy(b)
            .restrict_public_buckets(b)
            .build();
        s3.put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(config)
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "s3:PutPublicAccessBlock", e))?;
    }
    if changed(c, "versioning") {
        // Versioning can be suspended, never removed, once a bucket has had it.
        let status = if def.versioning {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        if def.versioning
            || c.get("versioning")
                .is_some_and(|v| v.as_deref() == Some("on"))
        {
            s3.put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .map_err(|e| aws_error(&what(name), "s3:PutBucketVersioning", e))?;
        }
    }
    if changed(c, "encryption") {
        let algorithm = match def.encryption {
            BucketEncryption::Aes256 => ServerSideEncryption::Aes256,
            BucketEncryption::Kms => ServerSideEncryption::AwsKms,
        };
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(algorithm)
                    .build()
                    .expect("algorithm is set"),
            )
            .build();
        s3.put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .expect("rules are set"),
            )
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "s3:PutBucketEncryption", e))?;
    }
    if changed(c, "cors") {
        if def.cors.is_empty() {
            s3.delete_bucket_cors()
                .bucket(name)
                .send()
                .await
                .map_err(|e| aws_error(&what(name), "s3:DeleteBucketCors", e))?;
        } else {
            let rules: Vec<S3CorsRule> = def
                .cors
                .iter()
                .map(|r| {
                    S3CorsRule::builder()
                        .set_allowed_origins(Some(r.allowed_origins.clone()))
                        .set_allowed_methods(Some(r.allowed_methods.clone()))
                        .set_allowed_headers(
                            (!r.allowed_headers.is_empty()).then(|| r.allowed_headers.clone()),
                        )
                        .set_max_age_seconds(r.max_age.and_then(|a| i32::try_from(a).ok()))
                        .build()
                        .expect("CORS rule fields are set")
                })
                .collect();
            s3.put_bucket_cors()
                .bucket(name)
                .cors_configuration(
                    CorsConfiguration::builder()
                        .set_cors_rules(Some(rules))
                        .build()
                        .expect("rules are set"),
                )
                .send()
                .await
                .map_err(|e| aws_error(&what(name), "s3:PutBucketCors", e))?;
        }
    }
    if changed(c, "lifecycle") {
        write_lifecycle(aws, name, def.lifecycle.as_ref()).await?;
    }
    Ok(())
}

/// Sets sls-rs's expiry rule and keeps every other lifecycle rule: S3 takes the
/// configuration whole, and rules that other tools or the console added (archiving,
/// aborting multipart uploads…) apply independently of ours, so they are read and
/// written back. (CORS is different, and written whole from the manifest: S3 answers a
/// browser with the first rule that matches its origin and method, so a rule kept
/// beside ours would change what the manifest's rules allow.)
async fn write_lifecycle(
    aws: &Aws,
    name: &str,
    ours: Option<&crate::manifest::Lifecycle>,
) -> anyhow::Result<()> {
    let s3 = &aws.s3;
    let (existing, min_size) = match s3
        .get_bucket_lifecycle_configuration()
        .bucket(name)
        .send()
        .await
    {
        Ok(out) => (
            out.rules().to_vec(),
            out.transition_default_minimum_object_size().cloned(),
        ),
        Err(e) if has_code(&e, &["NoSuchLifecycleConfiguration"]) => (vec![], None),
        Err(e) => {
            return Err(aws_error(
                &what(name),
                "s3:GetBucketLifecycleConfiguration",
                e,
            ))
        }
    };
    let had_rules = !existing.is_empty();
    let mut rules: Vec<LifecycleRule> = existing
        .into_iter()
        .filter(|r| !r.id().is_some_and(|id| id.starts_with(OUR_RULE_PREFIX)))
        .collect();
    if let Some(l) = ours {
        rules.push(
            LifecycleRule::builder()
                .id(LIFECYCLE_RULE_ID)
                .status(ExpirationStatus::Enabled)
                .filter(
                    LifecycleRuleFilter::builder()
                        .prefix(l.prefix.clone().unwrap_or_default())
                        .build(),
                )
                .expiration(
                    LifecycleExpiration::builder()
                        .days(i32::try_from(l.expire_after_days).unwrap_or(i32::MAX))
                        .build(),
                )
                .build()
                .expect("lifecycle rule fields are set"),
        );
    }
    if rules.is_empty() {
        if had_rules {
            s3.delete_bucket_lifecycle()
                .bucket(name)
                .send()
                .await
                .map_err(|e| aws_error(&what(name), "s3:DeleteBucketLifecycle", e))?;
        }
        return Ok(());
    }
    s3.put_bucket_lifecycle_configuration()
        .bucket(name)
        .set_transition_default_minimum_object_size(min_size)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .expect("rules are set"),
        )
        .send()
        .await
        .map_err(|e| aws_error(&what(name), "s3:PutBucketLifecycleConfiguration", e))?;
    Ok(())
}

/// Whether the bucket holds any object or object version.
pub async fn has_objects(aws: &Aws, name: &str) -> anyhow::Result<bool> {
    match aws
        .s3
        .list_object_versions()
        .bucket(name)
        .max_keys(1)
        .send()
        .await
    {
        Ok(out) => Ok(!out.versions().is_empty() || !out.delete_markers().is_empty()),
        Err(e) if has_code(&e, NO_SUCH_BUCKET) => Ok(false),
        Err(e) => Err(aws_error(&what(name), "s3:ListObjectVersions", e)),
    }
}

/// Deletes every object version and delete marker (for `--force` or `deletionPolicy: delete`).
async fn empty(aws: &Aws, name: &str) -> anyhow::Result<()> {
    loop {
        let page = match aws.s3.list_object_versions().bucket(name).send().await {
            Ok(p) => p,
            Err(e) if has_code(&e, NO_SUCH_BUCKET) => return Ok(()),
            Err(e) => return Err(aws_error(&what(name), "s3:ListObjectVersions", e)),
        };
        let ids: Vec<ObjectIdentifier> = page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id())),
            )
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder()
                    .set_key(key.map(str::to_string))
                    .set_version_id(version.map(str::to_string))
                    .build()
                    .ok()
            })
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let deleted = aws
            .s3
            .delete_objects()
            .bucket(name)
            .delete(
                Delete::builder()
                    .set_objects(Some(ids))
                    .quiet(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "s3:DeleteObjects", e))?;
        // Quiet mode reports only failures; one (object lock, access denied) would loop forever.
        if let Some(err) = deleted.errors().first() {
            anyhow::bail!(
                "{} (s3:DeleteObjects): {} of {}: {}",
                what(name),
                err.code().unwrap_or("error"),
                err.key().unwrap_or("an object"),
                err.message().unwrap_or("no message")
            );
        }
    }
}

/// Deletes the bucket. With `with_objects` (`--force`, `deletionPolicy: delete`) it is
/// emptied first. Without, nothing is emptied: S3 itself refuses to delete a bucket
/// holding any object version or delete marker (`BucketNotEmpty`), so an object written
/// at any moment before the delete is never lost; the bucket is kept and `KeptNotEmpty`
/// returned. (A check for objects followed by a delete that empties would race a writer.)
pub async fn delete(aws: &Aws, name: &str, with_objects: bool) -> anyhow::Result<Deleted> {
    if with_objects {
        empty(aws, name).await?;
    }
    match aws.s3.delete_bucket().bucket(name).send().await {
        Ok(_) => Ok(Deleted::Gone),
        Err(e) if has_code(&e, NO_SUCH_BUCKET) => Ok(Deleted::Gone),
        Err(e) if !with_objects && has_code(&e, &["BucketNotEmpty"]) => Ok(Deleted::KeptNotEmpty),
        Err(e) => Err(aws_error(
            &format!("deleting {}", what(name)),
            "s3:DeleteBucket",
            e,
        )),
    }
}

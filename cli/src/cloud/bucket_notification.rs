//! A bucket's notification configuration: the Lambda targets sls-rs owns (ids
//! `sls-rs-…`), written as one document alongside any others the bucket has.

use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
    NotificationConfigurationFilter, S3KeyFilter,
};

use super::{aws_error, has_code, Aws};
use crate::model::{notification_text, BucketNotificationSpec, NotificationTarget, Props};

const OURS: &str = "sls-rs-";

fn what(bucket: &str) -> String {
    format!("bucket notification ({bucket})")
}

async fn current(aws: &Aws, bucket: &str) -> anyhow::Result<Option<NotificationConfiguration>> {
    match aws
        .s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            NotificationConfiguration::builder()
                .set_lambda_function_configurations(out.lambda_function_configurations)
                .set_queue_configurations(out.queue_configurations)
                .set_topic_configurations(out.topic_configurations)
                .set_event_bridge_configuration(out.event_bridge_configuration)
                .build(),
        )),
        Err(e) if has_code(&e, &["NoSuchBucket"]) => Ok(None),
        Err(e) if super::is_empty_answer(aws, &e) => {
            Ok(Some(NotificationConfiguration::builder().build()))
        }
        Err(e) => Err(aws_error(
            &what(bucket),
            "s3:GetBucketNotificationConfiguration",
            e,
        )),
    }
}

/// sls-rs's targets on the bucket; `None` when there are none (or no bucket).
pub async fn read(aws: &Aws, bucket: &str) -> anyhow::Result<Option<Props>> {
    let Some(config) = current(aws, bucket).await? else {
        return Ok(None);
    };
    let props: Props = config
        .lambda_function_configurations()
        .iter()
        .filter(|c| c.id().is_some_and(|id| id.starts_with(OURS)))
        .map(|c| {
            let rule = |name: &str| {
                c.filter()
                    .and_then(|f| f.key())
                    .and_then(|k| {
                        k.filter_rules().iter().find(|r| {
                            r.name()
                                .is_some_and(|n| n.as_str().eq_ignore_ascii_case(name))
                        })
                    })
                    .and_then(|r| r.value())
                    .map(str::to_string)
            };
            let target = NotificationTarget {
                id: c.id().unwrap_or_default().to_string(),
                function: c.lambda_function_arn().to_string(),
                events: c.events().iter().map(|e| e.as_str().to_string()).collect(),
                prefix: rule("prefix"),
                suffix: rule("suffix"),
            };
            (format!("lambda.{}", target.id), notification_text(&target))
        })
        .collect();
    Ok((!props.is_empty()).then_some(props))
}

fn configuration(t: &NotificationTarget) -> LambdaFunctionConfiguration {
    let mut rules = Vec::new();
    for (name, value) in [
        (FilterRuleName::Prefix, &t.prefix),
        (FilterRuleName::Suffix, &t.suffix),
    ] {
        if let Some(v) = value {
            rules.push(FilterRule::builder().name(name).value(v).build());
        }
    }
    LambdaFunctionConfiguration::builder()
        .id(&t.id)
        .lambda_function_arn(&t.function)
        .set_events(Some(
            t.events.iter().map(|e| Event::from(e.as_str())).collect(),
        ))
        .set_filter((!rules.is_empty()).then(|| {
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                .build()
        }))
        .build()
        .expect("notification fields are set")
}

/// Writes the bucket's configuration with sls-rs's targets replaced by `targets`.
async fn write(aws: &Aws, bucket: &str, targets: &[NotificationTarget]) -> anyhow::Result<()> {
    let config = current(aws, bucket)
        .await?
        .unwrap_or_else(|| NotificationConfiguration::builder().build());
    let mut lambdas: Vec<LambdaFunctionConfiguration> = config
        .lambda_function_configurations()
        .iter()
        .filter(|c| !c.id().is_some_and(|id| id.starts_with(OURS)))
        .cloned()
        .collect();
    lambdas.extend(targets.iter().map(configuration));
    let config = NotificationConfiguration::builder()
        .set_lambda_function_configurations(Some(lambdas))
        .set_queue_configurations(Some(config.queue_configurations().to_vec()))
        .set_topic_configurations(Some(config.topic_configurations().to_vec()))
        .set_event_bridge_configuration(config.event_bridge_configuration().cloned())
        .build();
    aws.s3
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(config)
        .send()
        .await
        .map_err(|e| aws_error(&what(bucket), "s3:PutBucketNotificationConfiguration", e))?;
    Ok(())
}

pub async fn put(aws: &Aws, bucket: &str, spec: &BucketNotificationSpec) -> anyhow::Result<()> {
    write(aws, bucket, &spec.targets).await
}

/// Removes sls-rs's targets; a bucket gone already is fine.
pub async fn delete(aws: &Aws, bucket: &str) -> anyhow::Result<()> {
    if current(aws, bucket).await?.is_none() {
        return Ok(());
    }
    write(aws, bucket, &[]).await
}

//! An SQS queue of `resources.queues` (and its dead-letter queue): visibility
//! timeout, retention, FIFO, redrive, tags.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::types::QueueAttributeName;

use super::{aws_error, changed, dropped_tags, has_code, Aws, Changed, Deleted};
use crate::model::{
    dead_letter_text, same_owner, tag_props, Props, QueueSpec, QUEUE_DEFAULT_RETENTION,
    QUEUE_DEFAULT_VISIBILITY,
};

const NOT_FOUND: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

fn what(name: &str) -> String {
    format!("SQS queue ({name})")
}

/// The queue's URL, `None` when it does not exist.
pub async fn url(aws: &Aws, name: &str) -> anyhow::Result<Option<String>> {
    match aws.sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(None),
        Err(e) => Err(aws_error(&what(name), "sqs:GetQueueUrl", e)),
    }
}

async fn attributes(
    aws: &Aws,
    name: &str,
    url: &str,
) -> anyhow::Result<Option<HashMap<QueueAttributeName, String>>> {
    match aws
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
    {
        Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(None),
        Err(e) => Err(aws_error(&what(name), "sqs:GetQueueAttributes", e)),
    }
}

/// Reads a queue's configuration; `None` when it does not exist.
pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<Props>> {
    let Some(url) = url(aws, name).await? else {
        return Ok(None);
    };
    let Some(attrs) = attributes(aws, name, &url).await? else {
        return Ok(None);
    };
    let get = |k: QueueAttributeName| attrs.get(&k).cloned();
    let mut p = Props::new();
    p.insert(
        "visibilityTimeout".into(),
        get(QueueAttributeName::VisibilityTimeout)
            .unwrap_or_else(|| QUEUE_DEFAULT_VISIBILITY.to_string()),
    );
    p.insert(
        "messageRetentionPeriod".into(),
        get(QueueAttributeName::MessageRetentionPeriod)
            .unwrap_or_else(|| QUEUE_DEFAULT_RETENTION.to_string()),
    );
    p.insert(
        "fifo".into(),
        (get(QueueAttributeName::FifoQueue).as_deref() == Some("true")).to_string(),
    );
    // SQS returns the redrive policy as JSON text; its spacing and number types vary.
    let redrive = get(QueueAttributeName::RedrivePolicy)
        .filter(|r| !r.is_empty())
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok())
        .and_then(|v| {
            let arn = v["deadLetterTargetArn"].as_str()?.to_string();
            let n = match &v["maxReceiveCount"] {
                serde_json::Value::Number(n) => n.as_u64()?,
                serde_json::Value::String(s) => s.parse().ok()?,
                _ => return None,
            };
            Some(dead_letter_text(&arn, u32::try_from(n).ok()?))
        });
    p.insert(
        "deadLetter".into(),
        redrive.unwrap_or_else(|| "none".into()),
    );
    let tags: BTreeMap<String, String> = aws
        .sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .map_err(|e| aws_error(&what(name), "sqs:ListQueueTags", e))?
        .tags
        .unwrap_or_default()
        .into_iter()
        .collect();
    tag_props(&mut p, &tags);
    Ok(Some(p))
}

fn settable(spec: &QueueSpec) -> HashMap<QueueAttributeName, String> {
    let mut a = HashMap::new();
    a.insert(
        QueueAttributeName::VisibilityTimeout,
        spec.visibility_timeout
            .unwrap_or(QUEUE_DEFAULT_VISIBILITY)
            .to_string(),
    );
    a.insert(
        QueueAttributeName::MessageRetentionPeriod,
        spec.retention
            .unwrap_or(QUEUE_DEFAULT_RETENTION)
            .to_string(),
    );
    a.insert(
        QueueAttributeName::RedrivePolicy,
        spec.dead_letter
            .as_ref()
            .map(|(arn, n)| {
                serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": n }).to_string()
            })
            .unwrap_or_default(),
    );
    a
}

/// How long a deleted queue's name stays refused (AWS: 60 s), with a margin.
const QUEUE_NAME_REUSE: std::time::Duration = std::time::Duration::from_secs(75);

pub async fn create(aws: &Aws, name: &str, spec: &QueueSpec) -> anyhow::Result<String> {
    let mut attrs = settable(spec);
    if spec.dead_letter.is_none() {
        attrs.remove(&QueueAttributeName::RedrivePolicy);
    }
    if spec.fifo {
        attrs.insert(QueueAttributeName::FifoQueue, "true".into());
    }
    // SQS refuses a name deleted less than 60 s ago (a replaced or re-created queue):
    // waiting is the only way through, and it ends.
    let recently_deleted = |e: &aws_sdk_sqs::error::SdkError<_, _>| {
        e.as_service_error().is_some_and(
            aws_sdk_sqs::operation::create_queue::CreateQueueError::is_queue_deleted_recently,
        )
    };
    let created = super::retry_while(QUEUE_NAME_REUSE, recently_deleted, || {
        aws.sqs
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(attrs.clone()))
            .set_tags(Some(spec.tags.clone().into_iter().collect()))
            .send()
    })
    .await;
    match created {
        // SQS answers the same create twice alike: a lost answer's retry succeeds.
        Ok(_) => {}
        // The queue exists with other attributes: a deploy that died, or not this service's.
        Err(e) if has_code(&e, &["QueueAlreadyExists", "QueueNameExists"]) => {
            let Some(live) = read(aws, name).await? else {
                anyhow::bail!(
                    "{} exists and vanished while being read; deploy again",
                    what(name)
                )
            };
            if !same_owner(|t| live.get(&format!("tags.{t}")), |t| spec.tags.get(t)) {
                return Err(super::create::not_ours(&what(name), "sqs:CreateQueue"));
            }
            let everything: Changed = ["visibilityTimeout", "tags."]
                .into_iter()
                .map(|k| (k.to_string(), None))
                .collect();
            update(aws, name, spec, &everything).await?;
        }
        Err(e) => {
            return Err(aws_error(
                &format!("creating {}", what(name)),
                "sqs:CreateQueue",
                e,
            ))
        }
    }
    Ok(arn(aws, name))
}

pub fn arn(aws: &Aws, name: &str) -> String {
    format!(
        "{}:sqs:{}:{}:{name}",
        aws.partition(),
        aws.target.region,
        aws.account
    )
}

pub async fn update(aws: &Aws, name: &str, spec: &QueueSpec, c: &Changed) -> anyhow::Result<()> {
    let url = url(aws, name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{} does not exist", what(name)))?;
    if ["visibilityTimeout", "messageRetentionPeriod", "deadLetter"]
        .iter()
        .any(|f| changed(c, f))
    {
        aws.sqs
            .set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(settable(spec)))
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "sqs:SetQueueAttributes", e))?;
    }
    if changed(c, "tags.") {
        aws.sqs
            .tag_queue()
            .queue_url(&url)
            .set_tags(Some(spec.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "sqs:TagQueue", e))?;
        let dropped = dropped_tags(c, &spec.tags);
        if !dropped.is_empty() {
            aws.sqs
                .untag_queue()
                .queue_url(&url)
                .set_tag_keys(Some(dropped))
                .send()
                .await
                .map_err(|e| aws_error(&what(name), "sqs:UntagQueue", e))?;
        }
    }
    Ok(())
}

/// Whether the queue's attributes count any message (visible, in flight or delayed).
fn holds_messages(attrs: &HashMap<QueueAttributeName, String>) -> bool {
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ]
    .iter()
    .any(|k| attrs.get(k).is_some_and(|n| n != "0"))
}

/// Deletes the queue; unless `with_messages` (`--force`, `deletionPolicy: delete`), only
/// when it holds no message, else it is kept and `KeptNotEmpty` returned.
///
/// SQS has no conditional delete (S3 refuses to delete a non-empty bucket; SQS deletes a
/// queue whatever it holds), so the emptiness check and the delete are two calls, made
/// back to back here. What remains: a message sent between the GetQueueAttributes that
/// counts none and the DeleteQueue (one round trip), or sent shortly before while the
/// approximate counters have not caught up yet (SQS says up to about a minute), is lost
/// with the queue. Delete its triggers and producers first (deploy and remove do) to
/// keep that window empty in practice.
pub async fn delete(aws: &Aws, name: &str, with_messages: bool) -> anyhow::Result<Deleted> {
    let Some(url) = url(aws, name).await? else {
        return Ok(Deleted::Gone);
    };
    if !with_messages {
        match attributes(aws, name, &url).await? {
            None => return Ok(Deleted::Gone),
            Some(attrs) if holds_messages(&attrs) => return Ok(Deleted::KeptNotEmpty),
            Some(_) => {}
        }
    }
    match aws.sqs.delete_queue().queue_url(url).send().await {
        Ok(_) => Ok(Deleted::Gone),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(Deleted::Gone),
        Err(e) => Err(aws_error(
            &format!("deleting {}", what(name)),
            "sqs:DeleteQueue",
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    //! SQS's refusal of a recently deleted name, which no emulator gives.
    use super::*;
    use aws_sdk_sqs::operation::create_queue::{CreateQueueError, CreateQueueOutput};
    use aws_sdk_sqs::types::error::QueueDeletedRecently;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn deleted_recently() -> CreateQueueError {
        CreateQueueError::QueueDeletedRecently(
            QueueDeletedRecently::builder()
                .message("You must wait 60 seconds after deleting a queue before you can create another with the same name.")
                .build(),
        )
    }

    fn spec() -> QueueSpec {
        QueueSpec {
            visibility_timeout: Some(30),
            retention: None,
            fifo: false,
            dead_letter: None,
            tags: BTreeMap::new(),
        }
    }

    fn aws_with(sqs: aws_sdk_sqs::Client) -> Aws {
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::Config::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .build(),
        );
        Aws {
            sqs,
            ..Aws::with_lambda(lambda, None)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_name_deleted_moments_ago_is_created_once_sqs_allows_it() {
        let create = mock!(aws_sdk_sqs::Client::create_queue)
            .sequence()
            .error(deleted_recently)
            .times(4)
            .output(|| CreateQueueOutput::builder().queue_url("u").build())
            .build();
        let aws = aws_with(mock_client!(aws_sdk_sqs, [&create]));
        let started = tokio::time::Instant::now();
        let arn = create_queue(&aws).await.unwrap();
        assert_eq!(arn, "arn:aws:sqs:us-east-1:123456789012:q");
        assert_eq!(create.num_calls(), 5);
        assert!(
            started.elapsed() < QUEUE_NAME_REUSE,
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn sqs_refusing_the_name_past_its_minute_is_an_error_naming_it() {
        let create = mock!(aws_sdk_sqs::Client::create_queue)
            .sequence()
            .error(deleted_recently)
            .repeatedly()
            .build();
        let aws = aws_with(mock_client!(aws_sdk_sqs, [&create]));
        let err = create_queue(&aws).await.unwrap_err().to_string();
        assert!(
            err.contains("(sqs:CreateQueue)") && err.contains("You must wait 60 seconds"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn adopting_a_queue_of_a_deploy_that_died_sends_no_empty_tag_key() {
        use aws_sdk_sqs::operation::{
            get_queue_attributes::GetQueueAttributesOutput, get_queue_url::GetQueueUrlOutput,
            list_queue_tags::ListQueueTagsOutput, set_queue_attributes::SetQueueAttributesOutput,
            tag_queue::TagQueueOutput, untag_queue::UntagQueueOutput,
        };
        use aws_smithy_types::error::ErrorMetadata;
        let owner: BTreeMap<String, String> = [
            (crate::model::TAG_SERVICE, "shop"),
            (crate::model::TAG_STAGE, "dev"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        let exists = mock!(aws_sdk_sqs::Client::create_queue).then_error(|| {
            CreateQueueError::generic(
                ErrorMetadata::builder()
                    .code("QueueAlreadyExists")
                    .message("A queue already exists with the same name and a different value for attribute VisibilityTimeout")
                    .build(),
            )
        });
        let url = mock!(aws_sdk_sqs::Client::get_queue_url)
            .then_output(|| GetQueueUrlOutput::builder().queue_url("u").build());
        let attrs = mock!(aws_sdk_sqs::Client::get_queue_attributes)
            .then_output(|| GetQueueAttributesOutput::builder().build());
        let tags = owner.clone();
        let listed = mock!(aws_sdk_sqs::Client::list_queue_tags).then_output(move || {
            ListQueueTagsOutput::builder()
                .set_tags(Some(tags.clone().into_iter().collect()))
                .build()
        });
        let set = mock!(aws_sdk_sqs::Client::set_queue_attributes)
            .then_output(|| SetQueueAttributesOutput::builder().build());
        let tag =
            mock!(aws_sdk_sqs::Client::tag_queue).then_output(|| TagQueueOutput::builder().build());
        let untag = mock!(aws_sdk_sqs::Client::untag_queue)
            .then_output(|| UntagQueueOutput::builder().build());
        let untag_empty = mock!(aws_sdk_sqs::Client::untag_queue)
            .match_requests(|r| r.tag_keys().iter().any(String::is_empty))
            .then_output(|| UntagQueueOutput::builder().build());
        let aws = aws_with(mock_client!(
            aws_sdk_sqs,
            RuleMode::MatchAny,
            [
                &exists,
                &url,
                &attrs,
                &listed,
                &set,
                &tag,
                &untag_empty,
                &untag
            ]
        ));
        let spec = QueueSpec {
            tags: owner,
            ..spec()
        };
        create(&aws, "q", &spec).await.unwrap();
        assert_eq!(tag.num_calls(), 1, "the tags are set again");
        assert_eq!(untag_empty.num_calls(), 0, "UntagQueue with an empty key");
        assert_eq!(untag.num_calls(), 0, "no tag of ours was dropped");
    }

    async fn create_queue(aws: &Aws) -> anyhow::Result<String> {
        create(aws, "q", &spec()).await
    }
}

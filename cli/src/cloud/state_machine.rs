//! A Step Functions state machine of `resources.stateMachines`: its definition,
//! type, role, tracing and logging to its own log group.

use aws_sdk_sfn::types::{
    CloudWatchLogsLogGroup, LogDestination, LogLevel, LoggingConfiguration, StateMachineType, Tag,
    TracingConfiguration,
};

use super::{aws_error, changed, dropped_tags, has_code, Aws, Changed};
use crate::model::{normalize_definition, same_owner, tag_props, Props, StateMachineSpec};

const NOT_FOUND: &[&str] = &["StateMachineDoesNotExist", "ResourceNotFound"];

pub fn arn(aws: &Aws, name: &str) -> String {
    format!(
        "{}:states:{}:{}:stateMachine:{name}",
        aws.partition(),
        aws.target.region,
        aws.account
    )
}

fn what(name: &str) -> String {
    format!("state machine ({name})")
}

pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<Props>> {
    let arn = arn(aws, name);
    let sm = match aws
        .sfn
        .describe_state_machine()
        .state_machine_arn(&arn)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if has_code(&e, NOT_FOUND) => return Ok(None),
        Err(e) => return Err(aws_error(&what(name), "states:DescribeStateMachine", e)),
    };
    let mut p = Props::new();
    p.insert("definition".into(), normalize_definition(sm.definition()));
    p.insert("type".into(), sm.r#type().as_str().to_string());
    p.insert("role".into(), sm.role_arn().to_string());
    // The field is optional in DescribeStateMachine's answer, and LocalStack leaves it out
    // even when tracing is on: an answer without it says nothing about tracing.
    let tracing = match sm.tracing_configuration() {
        Some(t) if t.enabled() => "on",
        Some(_) => "off",
        None => crate::model::UNREPORTED,
    };
    p.insert("tracing".into(), tracing.into());
    let logging = sm
        .logging_configuration()
        .filter(|l| l.level() == Some(&LogLevel::All))
        .and_then(|l| l.destinations().first())
        .and_then(|d| d.cloud_watch_logs_log_group())
        .and_then(|g| g.log_group_arn())
        .map_or_else(|| "off".to_string(), |arn| format!("ALL {arn}"));
    p.insert("logging".into(), logging);
    let tags = aws
        .sfn
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(|e| aws_error(&what(name), "states:ListTagsForResource", e))?;
    let tags = tags
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect();
    tag_props(&mut p, &tags);
    Ok(Some(p))
}

fn logging(spec: &StateMachineSpec) -> LoggingConfiguration {
    let group = CloudWatchLogsLogGroup::builder()
        .log_group_arn(format!("{}:*", spec.log_group_arn))
        .build();
    LoggingConfiguration::builder()
        .level(LogLevel::All)
        .include_execution_data(true)
        .destinations(
            LogDestination::builder()
                .cloud_watch_logs_log_group(group)
                .build(),
        )
        .build()
}

fn tracing(spec: &StateMachineSpec) -> TracingConfiguration {
    TracingConfiguration::builder()
        .enabled(spec.tracing)
        .build()
}

pub async fn create(aws: &Aws, name: &str, spec: &StateMachineSpec) -> anyhow::Result<String> {
    let tags: Vec<Tag> = spec
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let out = super::retry_until_assumable(|| {
        aws.sfn
            .create_state_machine()
            .name(name)
            .definition(&spec.definition)
            .role_arn(&spec.role_arn)
            .r#type(if spec.express {
                StateMachineType::Express
            } else {
                StateMachineType::Standard
            })
            .logging_configuration(logging(spec))
            .tracing_configuration(tracing(spec))
            .set_tags(Some(tags.clone()))
            .send()
    })
    .await;
    match out {
        // Step Functions answers the same create twice alike: a lost answer's retry succeeds.
        Ok(out) => Ok(out.state_machine_arn().to_string()),
        // It exists with another definition: a deploy that died, or not this service's.
        Err(e) if has_code(&e, &["StateMachineAlreadyExists"]) => {
            let Some(live) = read(aws, name).await? else {
                anyhow::bail!(
                    "{} exists and vanished while being read; deploy again",
                    what(name)
                )
            };
            if !same_owner(|t| live.get(&format!("tags.{t}")), |t| spec.tags.get(t)) {
                return Err(super::create::not_ours(
                    &what(name),
                    "states:CreateStateMachine",
                ));
            }
            let everything: Changed = ["definition", "tags."]
                .into_iter()
                .map(|k| (k.to_string(), None))
                .collect();
            update(aws, name, spec, &everything).await?;
            Ok(arn(aws, name))
        }
        Err(e) => Err(aws_error(
            &format!("creating {}", what(name)),
            "states:CreateStateMachine",
            e,
        )),
    }
}

pub async fn update(
    aws: &Aws,
    name: &str,
    spec: &StateMachineSpec,
    c: &Changed,
) -> anyhow::Result<()> {
    let arn = arn(aws, name);
    if ["definition", "role", "tracing", "logging"]
        .iter()
        .any(|f| changed(c, f))
    {
        super::retry_until_assumable(|| {
            aws.sfn
                .update_state_machine()
                .state_machine_arn(&arn)
                .definition(&spec.definition)
                .role_arn(&spec.role_arn)
                .logging_configuration(logging(spec))
                .tracing_configuration(tracing(spec))
                .send()
        })
        .await
        .map_err(|e| {
            aws_error(
                &format!("updating {}", what(name)),
                "states:UpdateStateMachine",
                e,
            )
        })?;
    }
    if changed(c, "tags.") {
        let tags: Vec<Tag> = spec
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        aws.sfn
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "states:TagResource", e))?;
        let dropped = dropped_tags(c, &spec.tags);
        if !dropped.is_empty() {
            aws.sfn
                .untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(dropped))
                .send()
                .await
                .map_err(|e| aws_error(&what(name), "states:UntagResource", e))?;
        }
    }
    Ok(())
}

pub async fn delete(aws: &Aws, name: &str) -> anyhow::Result<()> {
    match aws
        .sfn
        .delete_state_machine()
        .state_machine_arn(arn(aws, name))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(aws_error(
            &format!("deleting {}", what(name)),
            "states:DeleteStateMachine",
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    //! A create that meets a state machine of a deploy that died, against mocked
    //! Step Functions answers: the emulator takes an empty tag key that AWS refuses.
    use super::*;
    use aws_sdk_sfn::operation::{
        create_state_machine::CreateStateMachineError,
        describe_state_machine::DescribeStateMachineOutput,
        list_tags_for_resource::ListTagsForResourceOutput, tag_resource::TagResourceOutput,
        untag_resource::UntagResourceOutput, update_state_machine::UpdateStateMachineOutput,
    };
    use aws_sdk_sfn::Client;
    use aws_smithy_mocks::mock;
    use aws_smithy_types::error::ErrorMetadata;
    use std::collections::BTreeMap;

    #[tokio::test]
    async fn adopting_a_state_machine_of_a_deploy_that_died_sends_no_empty_tag_key() {
        let owner: BTreeMap<String, String> = [
            (crate::model::TAG_SERVICE, "shop"),
            (crate::model::TAG_STAGE, "dev"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        let exists = mock!(Client::create_state_machine).then_error(|| {
            CreateStateMachineError::generic(
                ErrorMetadata::builder()
                    .code("StateMachineAlreadyExists")
                    .message("State Machine Already Exists: 'arn:aws:states:us-east-1:123456789012:stateMachine:sm'")
                    .build(),
            )
        });
        let described = mock!(Client::describe_state_machine).then_output(|| {
            DescribeStateMachineOutput::builder()
                .state_machine_arn("arn:aws:states:us-east-1:123456789012:stateMachine:sm")
                .name("sm")
                .definition("{}")
                .role_arn("arn:aws:iam::123456789012:role/old")
                .r#type(StateMachineType::Standard)
                .creation_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        });
        let tags = owner.clone();
        let listed = mock!(Client::list_tags_for_resource).then_output(move || {
            ListTagsForResourceOutput::builder()
                .set_tags(Some(
                    tags.iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .build()
        });
        let updated = mock!(Client::update_state_machine).then_output(|| {
            UpdateStateMachineOutput::builder()
                .update_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        });
        let tag = mock!(Client::tag_resource).then_output(|| TagResourceOutput::builder().build());
        let untag_empty = mock!(Client::untag_resource)
            .match_requests(|r| r.tag_keys().iter().any(String::is_empty))
            .then_output(|| UntagResourceOutput::builder().build());
        let untag =
            mock!(Client::untag_resource).then_output(|| UntagResourceOutput::builder().build());
        let aws = Aws {
            sfn: crate::cloud::mocked!(
                aws_sdk_sfn,
                [
                    &exists,
                    &described,
                    &listed,
                    &updated,
                    &tag,
                    &untag_empty,
                    &untag
                ]
            ),
            ..Aws::offline()
        };
        let spec = StateMachineSpec {
            definition: r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#.into(),
            express: false,
            role_arn: "arn:aws:iam::123456789012:role/new".into(),
            log_group_arn: "arn:aws:logs:us-east-1:123456789012:log-group:sm".into(),
            tracing: false,
            tags: owner,
        };
        create(&aws, "sm", &spec).await.unwrap();
        assert_eq!(updated.num_calls(), 1, "the definition is set again");
        assert_eq!(tag.num_calls(), 1, "the tags are set again");
        assert_eq!(
            untag_empty.num_calls(),
            0,
            "UntagResource with an empty key"
        );
        assert_eq!(untag.num_calls(), 0, "no tag of ours was dropped");
    }
}

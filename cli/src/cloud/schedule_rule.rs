//! An EventBridge schedule rule and its one target: a function's `live` alias.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::{RuleState, Tag, Target};

use super::{aws_error, changed, dropped_tags, has_code, Aws, Changed};
use crate::model::{tag_props, Props, RuleSpec};

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];
/// The id of the rule's one target.
const TARGET_ID: &str = "live";

fn what(name: &str) -> String {
    format!("schedule rule ({name})")
}

pub fn arn(aws: &Aws, name: &str) -> String {
    format!(
        "{}:events:{}:{}:rule/{name}",
        aws.partition(),
        aws.target.region,
        aws.account
    )
}

pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<Props>> {
    let rule = match aws.events.describe_rule().name(name).send().await {
        Ok(out) => out,
        Err(e) if has_code(&e, NOT_FOUND) => return Ok(None),
        Err(e) => return Err(aws_error(&what(name), "events:DescribeRule", e)),
    };
    let targets = aws
        .events
        .list_targets_by_rule()
        .rule(name)
        .send()
        .await
        .map_err(|e| aws_error(&what(name), "events:ListTargetsByRule", e))?;
    let target = targets.targets().iter().find(|t| t.id() == TARGET_ID);
    let mut p = Props::new();
    p.insert(
        "schedule".into(),
        rule.schedule_expression().unwrap_or_default().to_string(),
    );
    p.insert(
        "state".into(),
        rule.state().map_or("ENABLED", |s| s.as_str()).to_string(),
    );
    p.insert(
        "target".into(),
        target.map(|t| t.arn().to_string()).unwrap_or_default(),
    );
    p.insert(
        "input".into(),
        target
            .and_then(|t| t.input())
            .map_or_else(|| "none".into(), crate::model::normalize_definition),
    );
    let tags: BTreeMap<String, String> = aws
        .events
        .list_tags_for_resource()
        .resource_arn(arn(aws, name))
        .send()
        .await
        .map_err(|e| aws_error(&what(name), "events:ListTagsForResource", e))?
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tag_props(&mut p, &tags);
    Ok(Some(p))
}

fn tags(spec: &RuleSpec) -> Vec<Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("tag fields are set")
        })
        .collect()
}

/// Creates or updates the rule and its target (PutRule and PutTargets are upserts).
pub async fn put(
    aws: &Aws,
    name: &str,
    spec: &RuleSpec,
    c: Option<&Changed>,
) -> anyhow::Result<String> {
    let all = c.is_none();
    let has = |f: &str| all || c.is_some_and(|c| changed(c, f));
    if has("schedule") || has("state") {
        aws.events
            .put_rule()
            .name(name)
            .schedule_expression(&spec.schedule)
            .state(if spec.enabled {
                RuleState::Enabled
            } else {
                RuleState::Disabled
            })
            .set_tags(all.then(|| tags(spec)))
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "events:PutRule", e))?;
    }
    if has("target") || has("input") {
        let target = Target::builder()
            .id(TARGET_ID)
            .arn(&spec.target)
            .set_input(spec.input.clone())
            .build()
            .expect("target fields are set");
        let out = aws
            .events
            .put_targets()
            .rule(name)
            .targets(target)
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "events:PutTargets", e))?;
        if out.failed_entry_count() > 0 {
            let reason = out
                .failed_entries()
                .first()
                .and_then(|f| f.error_message())
                .unwrap_or("no reason given");
            anyhow::bail!("{} (events:PutTargets): {reason}", what(name));
        }
    }
    if let Some(c) = c.filter(|c| changed(c, "tags.")) {
        let arn = arn(aws, name);
        aws.events
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(tags(spec)))
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "events:TagResource", e))?;
        let dropped = dropped_tags(c, &spec.tags);
        if !dropped.is_empty() {
            aws.events
                .untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(dropped))
                .send()
                .await
                .map_err(|e| aws_error(&what(name), "events:UntagResource", e))?;
        }
    }
    Ok(arn(aws, name))
}

/// Removes the target, then the rule (EventBridge refuses to delete a rule with targets).
pub async fn delete(aws: &Aws, name: &str) -> anyhow::Result<()> {
    match aws
        .events
        .remove_targets()
        .rule(name)
        .ids(TARGET_ID)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if has_code(&e, NOT_FOUND) => return Ok(()),
        Err(e) => return Err(aws_error(&what(name), "events:RemoveTargets", e)),
    }
    match aws.events.delete_rule().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(aws_error(
            &format!("deleting {}", what(name)),
            "events:DeleteRule",
            e,
        )),
    }
}

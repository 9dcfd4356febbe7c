//! A function's CloudWatch log group, created by sls-rs so the function's role
//! needs no `logs:CreateLogGroup`.

use std::collections::BTreeMap;

use super::{aws_error, Aws};
use crate::model::LogGroupSpec;

/// Retention (days, `None` = never expire) of every log group under a prefix, one paginated call.
pub async fn read_prefix(aws: &Aws, prefix: &str) -> anyhow::Result<BTreeMap<String, Option<u32>>> {
    let mut out = BTreeMap::new();
    let mut pages = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            aws_error(
                &format!("listing log groups ({prefix}*)"),
                "logs:DescribeLogGroups",
                e,
            )
        })?;
        for group in page.log_groups.unwrap_or_default() {
            if let Some(name) = group.log_group_name {
                out.insert(
                    name,
                    group.retention_in_days.and_then(|d| u32::try_from(d).ok()),
                );
            }
        }
    }
    Ok(out)
}

/// Creates the group (adopting one that exists) and sets its retention.
pub async fn create(aws: &Aws, name: &str, spec: &LogGroupSpec) -> anyhow::Result<()> {
    let created = aws
        .logs
        .create_log_group()
        .log_group_name(name)
        .set_tags(Some(spec.tags.clone().into_iter().collect()))
        .send()
        .await;
    match created {
        // A new group keeps its logs forever until told otherwise: nothing to remove.
        Ok(_) if spec.retention_days.is_none() => Ok(()),
        Ok(_) => set_retention(aws, name, spec.retention_days).await,
        // Adopted: whatever retention it had is brought in line.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_already_exists_exception()) =>
        {
            set_retention(aws, name, spec.retention_days).await
        }
        Err(e) => Err(aws_error(
            &format!("creating log group ({name})"),
            "logs:CreateLogGroup",
            e,
        )),
    }
}

pub async fn set_retention(aws: &Aws, name: &str, days: Option<u32>) -> anyhow::Result<()> {
    match days {
        Some(days) => {
            aws.logs
                .put_retention_policy()
                .log_group_name(name)
                .retention_in_days(days as i32)
                .send()
                .await
                .map_err(|e| {
                    aws_error(
                        &format!("setting the retention of log group ({name})"),
                        "logs:PutRetentionPolicy",
                        e,
                    )
                })?;
        }
        None => {
            aws.logs
                .delete_retention_policy()
                .log_group_name(name)
                .send()
                .await
                .map_err(|e| {
                    aws_error(
                        &format!("removing the retention of log group ({name})"),
                        "logs:DeleteRetentionPolicy",
                        e,
                    )
                })?;
        }
    }
    Ok(())
}

/// Deletes the group; a missing one is already deleted.
pub async fn delete(aws: &Aws, name: &str) -> anyhow::Result<()> {
    match aws
        .logs
        .delete_log_group()
        .log_group_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(aws_error(
            &format!("deleting log group ({name})"),
            "logs:DeleteLogGroup",
            e,
        )),
    }
}

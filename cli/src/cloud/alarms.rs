//! CloudWatch alarms that guard a traffic shift. sls-rs asks their state between the
//! steps of a canary or linear deployment. The ones named in the manifest are the
//! user's: read only. The ones it makes (`errors: 0`, `p99Duration`, `throttles`) are a
//! resource kind: found, put, pointed at the version a shift moves traffic to, deleted.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{
    AlarmType, ComparisonOperator, Dimension, MetricAlarm, StateValue, Statistic, Tag,
};

use super::{aws_error, changed, dropped_tags, has_code, Aws, Changed};
use crate::model::{alarm_props, evaluation_text, AlarmSpec, Props, LOW_SAMPLES};

/// DescribeAlarms takes at most this many names per call.
const NAMES_PER_CALL: usize = 100;

/// The state (`OK`, `ALARM`, `INSUFFICIENT_DATA`) of each of `names` that exists;
/// one CloudWatch doesn't know is left out.
pub async fn states(aws: &Aws, names: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for chunk in names.chunks(NAMES_PER_CALL) {
        let mut token = None;
        loop {
            let page = aws
                .cloudwatch
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                // Without it only metric alarms answer.
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    aws_error(
                        &format!("the alarms {}", chunk.join(", ")),
                        "cloudwatch:DescribeAlarms",
                        e,
                    )
                })?;
            for alarm in page.metric_alarms() {
                if let (Some(name), Some(state)) = (alarm.alarm_name(), alarm.state_value()) {
                    out.insert(name.to_string(), state.as_str().to_string());
                }
            }
            for alarm in page.composite_alarms() {
                if let (Some(name), Some(state)) = (alarm.alarm_name(), alarm.state_value()) {
                    out.insert(name.to_string(), state.as_str().to_string());
                }
            }
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

// The alarms sls-rs makes (`deployment.alarms: [errors: 0, …]`), one per guarded
// metric of a function: find, put, point at a version, delete.

fn what(name: &str) -> String {
    format!("CloudWatch alarm ({name})")
}

pub fn arn(aws: &Aws, name: &str) -> String {
    format!(
        "{}:cloudwatch:{}:{}:alarm:{name}",
        aws.partition(),
        aws.target.region,
        aws.account
    )
}

/// The metric alarm of that name, `None` when there is none.
async fn find(aws: &Aws, name: &str) -> anyhow::Result<Option<MetricAlarm>> {
    let page = aws
        .cloudwatch
        .describe_alarms()
        .alarm_names(name)
        .alarm_types(AlarmType::MetricAlarm)
        .send()
        .await
        .map_err(|e| aws_error(&what(name), "cloudwatch:DescribeAlarms", e))?;
    Ok(page
        .metric_alarms
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.alarm_name() == Some(name)))
}

/// An alarm as props (the version it watches left out), `None` when there is none.
pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<Props>> {
    let Some(alarm) = find(aws, name).await? else {
        return Ok(None);
    };
    let statistic = match (alarm.statistic(), alarm.extended_statistic()) {
        (Some(s), _) => s.as_str().to_string(),
        (None, Some(e)) => e.to_string(),
        (None, None) => "none".into(),
    };
    let periods = alarm.evaluation_periods().unwrap_or(1);
    let evaluation = evaluation_text(
        alarm.comparison_operator().map_or("none", |c| c.as_str()),
        // Unset, CloudWatch takes it to be all the periods.
        alarm.datapoints_to_alarm().unwrap_or(periods),
        periods,
        alarm.treat_missing_data().unwrap_or("missing"),
        alarm.unit().map(|u| u.as_str()),
        alarm
            .evaluate_low_sample_count_percentile()
            .filter(|l| !l.is_empty()),
    );
    let mut dimensions: Vec<(&str, String)> = Vec::new();
    for key in ["FunctionName", "Resource"] {
        if let Some(d) = alarm.dimensions().iter().find(|d| d.name() == Some(key)) {
            dimensions.push((key, d.value().unwrap_or_default().to_string()));
        }
    }
    // Any other but the version watched (a shift sets it) is someone's edit.
    for d in alarm.dimensions() {
        let key = d.name().unwrap_or_default();
        if !matches!(key, "FunctionName" | "Resource" | "ExecutedVersion") {
            dimensions.push((key, d.value().unwrap_or_default().to_string()));
        }
    }
    let arn = alarm
        .alarm_arn()
        .map_or_else(|| arn(aws, name), str::to_string);
    let tags: BTreeMap<String, String> = aws
        .cloudwatch
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(|e| aws_error(&what(name), "cloudwatch:ListTagsForResource", e))?
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let mut p = alarm_props(
        alarm.metric_name().unwrap_or("none"),
        &statistic,
        alarm.threshold().unwrap_or_default(),
        alarm
            .period()
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or_default(),
        &evaluation,
        &dimensions,
        &tags,
    );
    if alarm.namespace() != Some("AWS/Lambda") {
        p.insert(
            "metric".into(),
            format!(
                "{} {}",
                alarm.namespace().unwrap_or("none"),
                alarm.metric_name().unwrap_or("none")
            ),
        );
    }
    Ok(Some(p))
}

/// The version the alarm watches now (`ExecutedVersion`), if any: an update keeps it.
pub async fn watched(aws: &Aws, name: &str) -> anyhow::Result<Option<String>> {
    Ok(find(aws, name).await?.and_then(|a| {
        a.dimensions()
            .iter()
            .find(|d| d.name() == Some("ExecutedVersion"))
            .and_then(|d| d.value().map(str::to_string))
    }))
}

fn tags(spec: &AlarmSpec) -> Vec<Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Creates or replaces the alarm (PutMetricAlarm writes the whole of it), watching
/// `version` of the function's `live` alias, or all of the alias's traffic without one.
/// CloudWatch keeps an alarm's state through the update.
pub async fn put(
    aws: &Aws,
    name: &str,
    spec: &AlarmSpec,
    version: Option<&str>,
    c: Option<&Changed>,
) -> anyhow::Result<String> {
    let (metric, statistic) = spec.metric();
    let dimensions = spec
        .dimensions(version)
        .into_iter()
        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
        .collect();
    let mut put = aws
        .cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .alarm_description(spec.description())
        .namespace("AWS/Lambda")
        .metric_name(metric)
        .set_dimensions(Some(dimensions))
        .period(i32::try_from(spec.period).unwrap_or(60))
        .evaluation_periods(1)
        .datapoints_to_alarm(1)
        .threshold(f64::from(spec.threshold))
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("notBreaching")
        // Tags are taken by a create only; an update's go through TagResource.
        .set_tags(c.is_none().then(|| tags(spec)));
    put = match statistic {
        "Sum" => put.statistic(Statistic::Sum),
        extended => put
            .extended_statistic(extended)
            .evaluate_low_sample_count_percentile(LOW_SAMPLES),
    };
    put.send()
        .await
        .map_err(|e| aws_error(&what(name), "cloudwatch:PutMetricAlarm", e))?;
    let arn = arn(aws, name);
    if let Some(c) = c.filter(|c| changed(c, "tags.")) {
        aws.cloudwatch
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(tags(spec)))
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "cloudwatch:TagResource", e))?;
        let dropped = dropped_tags(c, &spec.tags);
        if !dropped.is_empty() {
            aws.cloudwatch
                .untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(dropped))
                .send()
                .await
                .map_err(|e| aws_error(&what(name), "cloudwatch:UntagResource", e))?;
        }
    }
    Ok(arn)
}

/// Points the alarm at `version` (a shift's new one) and sets it OK: what it knew of
/// the version before is no judge of this one. Its next evaluation judges the new
/// version alone. One that judges the alias (throttles) is left as it is: what it saw
/// before the shift still counts.
pub async fn watch(aws: &Aws, name: &str, spec: &AlarmSpec, version: &str) -> anyhow::Result<()> {
    if !spec.per_version() {
        return Ok(());
    }
    put(aws, name, spec, Some(version), Some(&Changed::new())).await?;
    aws.cloudwatch
        .set_alarm_state()
        .alarm_name(name)
        .state_value(StateValue::Ok)
        .state_reason(format!(
            "sls-rs: now watching version {version}, which a deploy is shifting traffic to"
        ))
        .send()
        .await
        .map_err(|e| aws_error(&what(name), "cloudwatch:SetAlarmState", e))?;
    Ok(())
}

/// Deletes the alarm; one already gone is fine (DeleteAlarms ignores unknown names in
/// AWS; an error naming it as not found is taken as gone too).
pub async fn delete(aws: &Aws, name: &str) -> anyhow::Result<()> {
    match aws
        .cloudwatch
        .delete_alarms()
        .alarm_names(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, &["ResourceNotFound", "ResourceNotFoundException"]) => Ok(()),
        Err(e) => Err(aws_error(
            &format!("deleting {}", what(name)),
            "cloudwatch:DeleteAlarms",
            e,
        )),
    }
}

/// The names of the metric alarms whose names start with `prefix`.
pub async fn names_with_prefix(
    aws: &Aws,
    prefix: &str,
) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let mut out = std::collections::BTreeSet::new();
    let mut token = None;
    loop {
        let page = aws
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .alarm_types(AlarmType::MetricAlarm)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    &format!("the alarms named {prefix}…"),
                    "cloudwatch:DescribeAlarms",
                    e,
                )
            })?;
        out.extend(
            page.metric_alarms()
                .iter()
                .filter_map(|a| a.alarm_name().map(str::to_string)),
        );
        token = page.next_token;
        if token.is_none() {
            return Ok(out);
        }
    }
}

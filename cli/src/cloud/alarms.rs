//! CloudWatch alarms that guard a traffic shift: read only. sls-rs asks their state
//! between the steps of a canary or linear deployment; it never makes or changes them.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::AlarmType;

use super::{aws_error, Aws};

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

//! An EventBridge Scheduler schedule (in the default group) whose one target is a
//! function's `live` alias, invoked with the function's scheduler role.

use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Target};

use super::{aws_error, has_code, Aws};
use crate::model::{schedule_props, Props, ScheduleSpec};

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

fn what(name: &str) -> String {
    format!("EventBridge Scheduler schedule ({name})")
}

pub fn arn(aws: &Aws, name: &str) -> String {
    format!(
        "{}:scheduler:{}:{}:schedule/default/{name}",
        aws.partition(),
        aws.target.region,
        aws.account
    )
}

/// The schedule as it is; `None` when there is none of that name.
pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<Props>> {
    let out = match aws.scheduler.get_schedule().name(name).send().await {
        Ok(out) => out,
        Err(e) if has_code(&e, NOT_FOUND) => return Ok(None),
        Err(e) => return Err(aws_error(&what(name), "scheduler:GetSchedule", e)),
    };
    let target = out.target();
    Ok(Some(schedule_props(
        out.schedule_expression().unwrap_or_default(),
        out.schedule_expression_timezone(),
        out.state() != Some(&ScheduleState::Disabled),
        target.map(|t| t.arn()).unwrap_or_default(),
        target.map(|t| t.role_arn()).unwrap_or_default(),
        target.and_then(|t| t.input()),
    )))
}

/// Makes the schedule the spec's (it is replaced whole, as the scheduler updates);
/// creates it when `create`. Waits while IAM has not yet let the scheduler assume a
/// role made moments ago.
pub async fn put(
    aws: &Aws,
    name: &str,
    spec: &ScheduleSpec,
    create: bool,
) -> anyhow::Result<String> {
    let target = Target::builder()
        .arn(&spec.target)
        .role_arn(&spec.role_arn)
        .set_input(spec.input.clone())
        .build()
        .map_err(|e| anyhow::anyhow!("{}: {e}", what(name)))?;
    let window = FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::Off)
        .build()
        .map_err(|e| anyhow::anyhow!("{}: {e}", what(name)))?;
    let state = if spec.enabled {
        ScheduleState::Enabled
    } else {
        ScheduleState::Disabled
    };
    // CreateSchedule and UpdateSchedule take the same whole schedule.
    macro_rules! schedule {
        ($call:ident) => {
            aws.scheduler
                .$call()
                .name(name)
                .schedule_expression(&spec.expression)
                .set_schedule_expression_timezone(spec.timezone.clone())
                .flexible_time_window(window.clone())
                .target(target.clone())
                .state(state.clone())
                .send()
        };
    }
    let update = || async {
        super::retry_until_assumable(|| schedule!(update_schedule))
            .await
            .map_err(|e| aws_error(&what(name), "scheduler:UpdateSchedule", e))
    };
    if !create {
        update().await?;
        return Ok(arn(aws, name));
    }
    let created = super::retry_until_assumable(|| schedule!(create_schedule)).await;
    match created {
        Ok(_) => {}
        // Made meanwhile (an answer lost, a deploy that died before recording it): updated.
        Err(e) if has_code(&e, &["ConflictException"]) => {
            update().await?;
        }
        Err(e) => return Err(aws_error(&what(name), "scheduler:CreateSchedule", e)),
    }
    Ok(arn(aws, name))
}

/// Removes the schedule; one already gone is fine.
pub async fn delete(aws: &Aws, name: &str) -> anyhow::Result<()> {
    match aws.scheduler.delete_schedule().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(aws_error(&what(name), "scheduler:DeleteSchedule", e)),
    }
}

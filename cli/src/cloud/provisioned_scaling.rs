//! Auto scaling of a function's provisioned concurrency (Application Auto Scaling):
//! the scalable target on the `live` alias, with its minimum and maximum, and one
//! target-tracking policy on Lambda's provisioned-concurrency utilisation. The target
//! names the alias, never a version, so it follows the alias across cutover and
//! rollback. Application Auto Scaling makes its own service-linked role
//! (AWSServiceRoleForApplicationAutoScaling_LambdaConcurrency) on first use, and the
//! policy's CloudWatch alarms, which go with it.

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    SuspendedState, TargetTrackingScalingPolicyConfiguration,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{aws_error, has_code, Aws, Svc};
use crate::model::{provisioned_scaling_props, Props, ProvisionedScalingSpec, LIVE_ALIAS};

/// The one policy sls-rs puts on a target.
pub const POLICY: &str = "sls-rs-utilization";

/// Whether a delete found nothing to delete: AWS's `ObjectNotFoundException`, or
/// moto's `ValidationException` "No scalable target found…" / "No scaling policy
/// found…" (from an emulator only).
fn not_found<E: ProvideErrorMetadata>(aws: &Aws, e: &E) -> bool {
    has_code(e, &["ObjectNotFoundException"])
        || (aws.endpoints.emulated(Svc::AutoScaling)
            && has_code(e, &["ValidationException"])
            && e.message().is_some_and(|m| {
                m.contains("No scalable target found") || m.contains("No scaling policy found")
            }))
}

fn what(function: &str) -> String {
    format!("provisioned-concurrency auto scaling ({function}:{LIVE_ALIAS})")
}

/// The scalable target's resource id: the function's `live` alias.
pub fn resource_id(function: &str) -> String {
    format!("function:{function}:{LIVE_ALIAS}")
}

/// The target and its policy as they are; `None` when there is no target.
pub async fn read(aws: &Aws, function: &str) -> anyhow::Result<Option<Props>> {
    let id = resource_id(function);
    let targets = aws
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Lambda)
        .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
        .resource_ids(&id)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &what(function),
                "application-autoscaling:DescribeScalableTargets",
                e,
            )
        })?;
    let Some(target) = targets
        .scalable_targets()
        .iter()
        .find(|t| t.resource_id() == id)
    else {
        return Ok(None);
    };
    let policies = aws
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Lambda)
        .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
        .resource_id(&id)
        .policy_names(POLICY)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &what(function),
                "application-autoscaling:DescribeScalingPolicies",
                e,
            )
        })?;
    // Only a policy tracking Lambda's utilisation metric is ours as declared; another
    // metric (a console edit) reads as no target value, so the plan puts ours back.
    let utilization = policies
        .scaling_policies()
        .iter()
        .filter(|p| p.policy_name() == POLICY)
        .filter_map(|p| p.target_tracking_scaling_policy_configuration())
        .find(|c| {
            c.predefined_metric_specification()
                .is_some_and(|m| m.predefined_metric_type() == &utilization_metric())
        })
        .map(|c| c.target_value());
    let suspended = target.suspended_state().is_some_and(|s| {
        s.dynamic_scaling_in_suspended() == Some(true)
            || s.dynamic_scaling_out_suspended() == Some(true)
            || s.scheduled_scaling_suspended() == Some(true)
    });
    Ok(Some(provisioned_scaling_props(
        u32::try_from(target.min_capacity()).unwrap_or(0),
        u32::try_from(target.max_capacity()).unwrap_or(0),
        utilization,
        suspended,
    )))
}

fn utilization_metric() -> MetricType {
    MetricType::LambdaProvisionedConcurrencyUtilization
}

/// Registers the target (or changes its capacities) and puts the policy; both calls
/// replace what is there. Returns the policy's ARN.
pub async fn put(aws: &Aws, spec: &ProvisionedScalingSpec) -> anyhow::Result<String> {
    let function = spec.function_name.as_str();
    let id = resource_id(function);
    aws.autoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Lambda)
        .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
        .resource_id(&id)
        .min_capacity(spec.min as i32)
        .max_capacity(spec.max as i32)
        // Sent whole: a scaler suspended in the console is resumed (left out, a
        // registration keeps what was suspended).
        .suspended_state(
            SuspendedState::builder()
                .dynamic_scaling_in_suspended(false)
                .dynamic_scaling_out_suspended(false)
                .scheduled_scaling_suspended(false)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &what(function),
                "application-autoscaling:RegisterScalableTarget",
                e,
            )
        })?;
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(utilization_metric())
        .build()
        .map_err(|e| anyhow::anyhow!("{}: {e}", what(function)))?;
    let config = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(spec.target_utilization)
        .predefined_metric_specification(metric)
        .build()
        .map_err(|e| anyhow::anyhow!("{}: {e}", what(function)))?;
    let policy = aws
        .autoscaling
        .put_scaling_policy()
        .policy_name(POLICY)
        .service_namespace(ServiceNamespace::Lambda)
        .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
        .resource_id(&id)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(config)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &what(function),
                "application-autoscaling:PutScalingPolicy",
                e,
            )
        })?;
    Ok(policy.policy_arn().to_string())
}

/// Deletes the policy (and its alarms), then deregisters the target; either already
/// gone is fine. (Deregistering deletes the policies too on AWS, but not on moto.)
/// The provisioned concurrency it left on the alias stays: the plan sets or removes
/// that itself.
pub async fn delete(aws: &Aws, function: &str) -> anyhow::Result<()> {
    let policy = aws
        .autoscaling
        .delete_scaling_policy()
        .policy_name(POLICY)
        .service_namespace(ServiceNamespace::Lambda)
        .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
        .resource_id(resource_id(function))
        .send()
        .await;
    match policy {
        Ok(_) => {}
        Err(e) if not_found(aws, &e) => {}
        Err(e) => {
            return Err(aws_error(
                &what(function),
                "application-autoscaling:DeleteScalingPolicy",
                e,
            ))
        }
    }
    let deleted = aws
        .autoscaling
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Lambda)
        .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
        .resource_id(resource_id(function))
        .send()
        .await;
    match deleted {
        Ok(_) => Ok(()),
        Err(e) if not_found(aws, &e) => Ok(()),
        Err(e) => Err(aws_error(
            &what(function),
            "application-autoscaling:DeregisterScalableTarget",
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    //! What AWS answers that moto does not: a suspended scaler, a policy on another
    //! metric, and a delete of what is already gone.
    use super::*;
    use aws_sdk_applicationautoscaling::operation::delete_scaling_policy::{
        DeleteScalingPolicyError, DeleteScalingPolicyOutput,
    };
    use aws_sdk_applicationautoscaling::operation::deregister_scalable_target::DeregisterScalableTargetError;
    use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::DescribeScalableTargetsOutput;
    use aws_sdk_applicationautoscaling::operation::describe_scaling_policies::DescribeScalingPoliciesOutput;
    use aws_sdk_applicationautoscaling::types::{ScalableTarget, ScalingPolicy};
    use aws_sdk_applicationautoscaling::Client;
    use aws_smithy_mocks::{mock, Rule};
    use aws_smithy_types::error::ErrorMetadata;

    fn with_rules(rules: &[&Rule]) -> Aws {
        Aws {
            autoscaling: crate::cloud::mocked!(aws_sdk_applicationautoscaling, rules),
            ..Aws::offline()
        }
    }

    fn target(suspended: bool) -> ScalableTarget {
        ScalableTarget::builder()
            .service_namespace(ServiceNamespace::Lambda)
            .resource_id(resource_id("shop-dev-api"))
            .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
            .min_capacity(2)
            .max_capacity(10)
            .role_arn("arn:aws:iam::123456789012:role/aws-service-role/lambda.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_LambdaConcurrency")
            .creation_time(aws_smithy_types::DateTime::from_secs(0))
            .suspended_state(
                SuspendedState::builder()
                    .dynamic_scaling_in_suspended(suspended)
                    .build(),
            )
            .build()
            .unwrap()
    }

    fn policy(metric: MetricType, value: f64) -> ScalingPolicy {
        ScalingPolicy::builder()
            .policy_arn("arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:1f2e")
            .policy_name(POLICY)
            .service_namespace(ServiceNamespace::Lambda)
            .resource_id(resource_id("shop-dev-api"))
            .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(
                TargetTrackingScalingPolicyConfiguration::builder()
                    .target_value(value)
                    .predefined_metric_specification(
                        PredefinedMetricSpecification::builder()
                            .predefined_metric_type(metric)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .creation_time(aws_smithy_types::DateTime::from_secs(0))
            .build()
            .unwrap()
    }

    async fn read_with(suspended: bool, metric: MetricType) -> Props {
        let targets = mock!(Client::describe_scalable_targets).then_output(move || {
            DescribeScalableTargetsOutput::builder()
                .scalable_targets(target(suspended))
                .build()
        });
        let metric = std::sync::Arc::new(metric);
        let policies = mock!(Client::describe_scaling_policies).then_output(move || {
            DescribeScalingPoliciesOutput::builder()
                .scaling_policies(policy((*metric).clone(), 0.7))
                .build()
        });
        read(&with_rules(&[&targets, &policies]), "shop-dev-api")
            .await
            .unwrap()
            .expect("a target")
    }

    #[tokio::test]
    async fn a_suspended_scaler_or_a_policy_on_another_metric_reads_as_drift() {
        let ours = read_with(false, utilization_metric()).await;
        assert_eq!(ours, provisioned_scaling_props(2, 10, Some(0.7), false));
        let suspended = read_with(true, utilization_metric()).await;
        assert_eq!(suspended["suspended"], "true");
        let other = read_with(false, MetricType::AlbRequestCountPerTarget).await;
        assert_eq!(other["targetUtilization"], "none");
    }

    #[tokio::test]
    async fn deleting_what_is_already_gone_succeeds_and_other_errors_name_the_call() {
        let gone = || {
            ErrorMetadata::builder()
                .code("ObjectNotFoundException")
                .message("No scaling policy found")
                .build()
        };
        let policy = mock!(Client::delete_scaling_policy)
            .then_error(move || DeleteScalingPolicyError::generic(gone()));
        let target = mock!(Client::deregister_scalable_target)
            .then_error(move || DeregisterScalableTargetError::generic(gone()));
        delete(&with_rules(&[&policy, &target]), "shop-dev-api")
            .await
            .unwrap();

        let policy = mock!(Client::delete_scaling_policy)
            .then_output(|| DeleteScalingPolicyOutput::builder().build());
        let denied = mock!(Client::deregister_scalable_target).then_error(|| {
            DeregisterScalableTargetError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized")
                    .build(),
            )
        });
        let err = delete(&with_rules(&[&policy, &denied]), "shop-dev-api")
            .await
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("application-autoscaling:DeregisterScalableTarget")
                && text.contains("AccessDeniedException")
                && text.contains("shop-dev-api:live"),
            "{text}"
        );
        // moto's answer for a missing target is only "gone" from an emulator.
        let moto = mock!(Client::deregister_scalable_target).then_error(|| {
            DeregisterScalableTargetError::generic(
                ErrorMetadata::builder()
                    .code("ValidationException")
                    .message("No scalable target found for service namespace: lambda")
                    .build(),
            )
        });
        let policy = mock!(Client::delete_scaling_policy)
            .then_output(|| DeleteScalingPolicyOutput::builder().build());
        assert!(delete(&with_rules(&[&policy, &moto]), "shop-dev-api")
            .await
            .is_err());
    }
}

//! Reading back what exists in AWS for the resources of a plan, in parallel.

use futures::stream::{self, StreamExt, TryStreamExt};

use super::plan::Live;
use super::state::{Recorded, State};
use crate::cloud::{
    alarms, bucket_notification, dynamodb_table, event_source_mapping, function_url, http_api,
    iam_role, lambda_function, lambda_permission, log_group, provisioned_scaling, s3_bucket,
    schedule_rule, scheduler, sqs_queue, state_machine, Aws,
};
use crate::model::{self, Kind, LogicalId, Props, Resource, Spec, LIVE_ALIAS};

/// The HTTP API's id and URL: by the id the state records, else found by name
/// (a deploy that died before recording it); `None` when it does not exist.
pub async fn http_api(
    aws: &Aws,
    desired: &[Resource],
    state: &State,
) -> anyhow::Result<Option<(String, String)>> {
    let recorded = state
        .resources
        .values()
        .find(|r| r.kind == Kind::HttpApi)
        .and_then(|r| http_api::id_of(&r.arn).map(str::to_string));
    if let Some(id) = recorded {
        // Deleted behind sls-rs's back, it will be made anew, with a new id.
        if let Some(endpoint) = http_api::endpoint_of(aws, &id).await? {
            return Ok(Some((id, endpoint)));
        }
    }
    match desired.iter().find(|r| r.kind == Kind::HttpApi) {
        Some(api) => Ok(http_api::read(aws, &api.physical)
            .await?
            .map(|a| (a.id, a.endpoint))),
        None => Ok(None),
    }
}

/// What AWS holds for every resource of the manifest and of the state.
pub async fn read(
    aws: &Aws,
    desired: &[Resource],
    state: &State,
    env_key: &model::EnvKey,
    log_prefixes: &[String],
    api_id: Option<&str>,
    concurrency: usize,
) -> anyhow::Result<Live> {
    let mut targets: Vec<(LogicalId, Option<&Resource>, Option<&Recorded>)> = desired
        .iter()
        .map(|r| (r.id.clone(), Some(r), state.resources.get(&r.id)))
        .collect();
    for (id, rec) in &state.resources {
        if !desired.iter().any(|r| &r.id == id) {
            targets.push((id.clone(), None, Some(rec)));
        }
    }
    // Every log group of the service in one listing per prefix; every route in one.
    let mut groups = std::collections::BTreeMap::new();
    if targets.iter().any(|(id, _, _)| id.starts_with("logGroup/")) {
        for prefix in log_prefixes {
            groups.extend(log_group::read_prefix(aws, prefix).await?);
        }
    }
    // Every role in one listing of the account's, when there are enough to be worth it.
    let role_names: std::collections::BTreeSet<String> = targets
        .iter()
        .filter(|(id, _, _)| id.starts_with("role/"))
        .filter_map(|(_, r, rec)| {
            r.map(|r| r.physical.clone())
                .or(rec.map(|r| r.physical.clone()))
        })
        .collect();
    let roles = if role_names.len() >= iam_role::LIST_FROM {
        iam_role::read_many(aws, &role_names).await?
    } else {
        None
    };
    // Functions the state does not record (a first deploy, a new stage): one listing
    // of the account's tells which exist, so the absent ones, their permissions
    // included, cost no read each. Recorded ones are read, whatever a listing says
    // (it may lag a create).
    let unrecorded: std::collections::BTreeSet<String> = targets
        .iter()
        .filter(|(_, r, rec)| rec.is_none() && r.is_some_and(|r| r.kind == Kind::Function))
        .filter_map(|(_, r, _)| r.map(|r| r.physical.clone()))
        .collect();
    let absent: std::collections::BTreeSet<String> =
        match lambda_function::existing(aws, &unrecorded).await? {
            Some(existing) => unrecorded.difference(&existing).cloned().collect(),
            None => Default::default(),
        };
    let routes = match api_id {
        Some(id) if targets.iter().any(|(id, _, _)| id.starts_with("route/")) => {
            http_api::read_routes(aws, id).await?
        }
        _ => Default::default(),
    };
    let reads = targets.into_iter().map(|(id, resource, recorded)| {
        let (groups, routes, roles, absent) = (&groups, &routes, &roles, &absent);
        async move {
            let kind = resource
                .map(|r| r.kind)
                .or(recorded.map(|r| r.kind))
                .expect("a resource or a record");
            let physical = resource
                .map(|r| r.physical.clone())
                .or(recorded.map(|r| r.physical.clone()))
                .unwrap_or_default();
            let spec = resource.map(|r| &r.spec);
            // Props, the `live` alias (functions), the published version's environment and
            // the alias's provisioned concurrency (functions; `None`: not readable here).
            type Found = (
                Option<Props>,
                Option<Option<String>>,
                Option<Props>,
                Option<Option<u32>>,
            );
            let found: Found = match kind {
                Kind::Role => {
                    let role = match roles {
                        Some(listed) => listed.get(&physical).cloned(),
                        None => iam_role::read(aws, &physical).await?,
                    };
                    (
                        role.map(|r| {
                            model::role_props(
                                &r.trust,
                                &r.policy.unwrap_or(serde_json::Value::Null),
                                &r.tags,
                            )
                        }),
                        None,
                        None,
                        None,
                    )
                }
                Kind::LogGroup => (
                    groups
                        .get(&physical)
                        .map(|days| model::log_group_props(*days, &Default::default())),
                    None,
                    None,
                    None,
                ),
                Kind::Function if absent.contains(&physical) => (None, Some(None), None, Some(None)),
                Kind::Function => match lambda_function::read(aws, &physical).await? {
                    Some(f) => {
                        // Where `live` points and that version's environment, in one call.
                        let target =
                            lambda_function::read_alias_target(aws, &physical, LIVE_ALIAS).await?;
                        let alias = target.as_ref().map(|(v, _)| v.clone());
                        // What sls-rs last published, since the state keeps no trace of the
                        // values: the alias's version's, unless a rollback or a failed
                        // cutover left the alias elsewhere.
                        let published = match (recorded.and_then(|r| r.version.as_deref()), target) {
                            (Some(v), Some((at, env))) if at == v => Some(env),
                            (Some(v), _) => {
                                lambda_function::read_version_environment(aws, &physical, v).await?
                            }
                            (None, _) => None,
                        };
                        // Read back like any field, where the manifest or the state has any:
                        // Lambda has no batch read of it, and a call per function on the
                        // 15/s control plane would be most of a no-op deploy's time.
                        let declared = matches!(spec, Some(Spec::Function(s)) if s.provisioned_concurrency.is_some())
                            || recorded.is_some_and(|r| r.provisioned.is_some());
                        let provisioned = match alias {
                            Some(_) if declared => match lambda_function::read_provisioned_concurrency(
                                aws, &physical, LIVE_ALIAS,
                            )
                            .await?
                            {
                                lambda_function::Provisioned::Unsupported => None,
                                pc => Some(pc.effective()),
                            },
                            Some(_) => None,
                            None => Some(None),
                        };
                        // Read only where it is not Lambda's default, in the manifest or the
                        // state: one call a function on the 15/s control plane otherwise.
                        let mut props = f.props;
                        let allowed = |p: Option<&Props>| {
                            p.and_then(|p| p.get("recursiveLoop"))
                                .is_some_and(|v| v != model::RECURSION_DEFAULT)
                        };
                        let declared = matches!(spec, Some(Spec::Function(s)) if s.recursive_loop != model::RECURSION_DEFAULT);
                        let recursion = if declared || allowed(recorded.map(|r| &r.props))
                        {
                            lambda_function::read_recursion(aws, &physical)
                                .await?
                                .unwrap_or_else(|| model::UNREPORTED.into())
                        } else {
                            model::RECURSION_DEFAULT.into()
                        };
                        props.insert("recursiveLoop".into(), recursion);
                        (
                            Some(with_env(props, &f.env, env_key)),
                            Some(alias),
                            published.map(|env| with_env(Props::new(), &env, env_key)),
                            provisioned,
                        )
                    }
                    None => (None, Some(None), None, Some(None)),
                },
                Kind::Table => (
                    dynamodb_table::read(aws, &physical).await?.map(|t| t.props),
                    None,
                    None,
                    None,
                ),
                Kind::Bucket => (s3_bucket::read(aws, &physical).await?, None, None, None),
                Kind::Queue => (sqs_queue::read(aws, &physical).await?, None, None, None),
                Kind::StateMachine => {
                    (state_machine::read(aws, &physical).await?, None, None, None)
                }
                Kind::HttpApi => (
                    http_api::read(aws, &physical).await?.map(|a| a.props),
                    None,
                    None,
                    None,
                ),
                Kind::Route => (
                    routes.get(&physical).map(|r| r.props.clone()),
                    None,
                    None,
                    None,
                ),
                Kind::Permission
                    if recorded.is_none()
                        && lambda_permission::function_of(&physical)
                            .is_some_and(|f| absent.contains(f)) =>
                {
                    (None, None, None, None)
                }
                Kind::Permission => (
                    lambda_permission::read(aws, &physical).await?,
                    None,
                    None,
                    None,
                ),
                Kind::Rule => (schedule_rule::read(aws, &physical).await?, None, None, None),
                Kind::Alarm => (alarms::read(aws, &physical).await?, None, None, None),
                Kind::Schedule => (scheduler::read(aws, &physical).await?, None, None, None),
                Kind::ProvisionedScaling
                    if recorded.is_none() && absent.contains(physical.as_str()) =>
                {
                    (None, None, None, None)
                }
                Kind::ProvisionedScaling => (
                    provisioned_scaling::read(aws, &physical).await?,
                    None,
                    None,
                    None,
                ),
                Kind::FunctionUrl if recorded.is_none() && absent.contains(physical.as_str()) => {
                    (None, None, None, None)
                }
                Kind::FunctionUrl => (
                    function_url::read(aws, &physical).await?.map(|u| u.props),
                    None,
                    None,
                    None,
                ),
                Kind::BucketNotification => (
                    bucket_notification::read(aws, &physical).await?,
                    None,
                    None,
                    None,
                ),
                Kind::EventSourceMapping => match spec {
                    Some(Spec::EventSourceMapping(m)) => (
                        // One being deleted is gone as far as the plan goes.
                        event_source_mapping::read(aws, m)
                            .await?
                            .filter(|l| !l.deleting())
                            .map(|l| l.props),
                        None,
                        None,
                        None,
                    ),
                    // Dropped from the manifest: only whether it still exists matters.
                    _ => {
                        let uuid = recorded.map(|r| mapping_uuid(&r.arn)).unwrap_or_default();
                        let exists = event_source_mapping::exists(aws, uuid).await?;
                        (
                            exists.then(|| recorded.map(|r| r.props.clone()).unwrap_or_default()),
                            None,
                            None,
                            None,
                        )
                    }
                },
            };
            anyhow::Ok((id, found))
        }
    });
    let results: Vec<_> = stream::iter(reads)
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let mut live = Live::default();
    for (id, (props, alias, published, provisioned)) in results {
        if let Some(pc) = provisioned {
            live.provisioned.insert(id.clone(), pc);
        }
        if let Some(alias) = alias {
            live.alias.insert(id.clone(), alias);
        }
        if let Some(env) = published {
            live.published_env.insert(id.clone(), env);
        }
        live.props.insert(id, props);
    }
    Ok(live)
}

/// An event source mapping's UUID, the last part of its recorded ARN.
pub fn mapping_uuid(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn with_env(
    mut props: Props,
    env: &std::collections::BTreeMap<String, String>,
    key: &model::EnvKey,
) -> Props {
    for (k, value) in env {
        props.insert(format!("env.{k}"), model::fingerprint(key, value));
    }
    props
}

//! Reading back what exists in AWS for the resources of a plan, in parallel.

use futures::stream::{self, StreamExt, TryStreamExt};

use super::plan::Live;
use super::state::State;
use crate::cloud::{iam_role, lambda_function, log_group, Aws};
use crate::model::{self, Kind, LogicalId, Props, Resource, LIVE_ALIAS};

/// What AWS holds for every resource of the manifest and of the state.
pub async fn read(
    aws: &Aws,
    desired: &[Resource],
    state: &State,
    log_prefix: &str,
    concurrency: usize,
) -> anyhow::Result<Live> {
    let mut targets: Vec<(LogicalId, Kind, String)> = desired
        .iter()
        .map(|r| (r.id.clone(), r.kind, r.physical.clone()))
        .collect();
    for (id, rec) in &state.resources {
        if !targets.iter().any(|(t, _, _)| t == id) {
            targets.push((id.clone(), rec.kind, rec.physical.clone()));
        }
    }
    // Every log group of the service in one listing.
    let groups = if targets.iter().any(|(_, k, _)| *k == Kind::LogGroup) {
        log_group::read_prefix(aws, log_prefix).await?
    } else {
        Default::default()
    };
    let reads = targets.into_iter().map(|(id, kind, physical)| {
        let groups = &groups;
        async move {
            let found: (Option<Props>, Option<Option<String>>) = match kind {
                Kind::Role => {
                    let role = iam_role::read(aws, &physical).await?;
                    (
                        role.map(|r| {
                            model::role_props(
                                &r.trust,
                                &r.policy.unwrap_or(serde_json::Value::Null),
                                &r.tags,
                            )
                        }),
                        None,
                    )
                }
                Kind::LogGroup => (
                    groups
                        .get(&physical)
                        .map(|days| model::log_group_props(*days, &Default::default())),
                    None,
                ),
                Kind::Function => match lambda_function::read(aws, &physical).await? {
                    Some(f) => (
                        Some(with_env(f.props, &f.env, &state.salt)),
                        Some(lambda_function::read_alias(aws, &physical, LIVE_ALIAS).await?),
                    ),
                    None => (None, Some(None)),
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
    for (id, (props, alias)) in results {
        if let Some(alias) = alias {
            live.alias.insert(id.clone(), alias);
        }
        live.props.insert(id, props);
    }
    Ok(live)
}

fn with_env(
    mut props: Props,
    env: &std::collections::BTreeMap<String, String>,
    salt: &str,
) -> Props {
    for (k, value) in env {
        props.insert(format!("env.{k}"), model::fingerprint(salt, value));
    }
    props
}

//! `rollback`: move every `live` alias back to the versions an earlier
//! deployment recorded. No build, no upload: the versions are still there.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;

use super::state::{DeploymentRecord, Journal};
use super::{connect, dag, failed, lock, now, state, Progress, DEFAULT_CONCURRENCY};
use crate::cloud::{lambda_function, Aws};
use crate::manifest::Service;
use crate::model::{self, Kind, LIVE_ALIAS};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackReport {
    pub service: String,
    pub stage: String,
    /// The deployment whose versions are live again.
    pub to: String,
    /// Function → (from, to) for the aliases that moved.
    pub moved: BTreeMap<String, (String, String)>,
    pub deployment: DeploymentRecord,
}

/// The recorded deployments of the stage, oldest first.
pub async fn deployments(service: &Service) -> anyhow::Result<Vec<DeploymentRecord>> {
    let (aws, bucket) = connect(service).await?;
    let state = state::load(&aws, &bucket, &service.manifest.service, &service.stage).await?;
    Ok(state.map(|s| s.deployments).unwrap_or_default())
}

/// The deployment to go back to: `to` (an id or a unique prefix of one), else the
/// newest succeeded deployment whose versions are not the ones live now. (A deploy
/// that failed after cutover is live, so "the last succeeded one" would be wrong.)
pub fn pick_target<'a>(
    history: &'a [DeploymentRecord],
    to: Option<&str>,
    live: &BTreeMap<String, String>,
) -> anyhow::Result<&'a DeploymentRecord> {
    let succeeded = history.iter().filter(|d| d.status == "succeeded");
    match to {
        Some(id) => {
            let found: Vec<&DeploymentRecord> =
                succeeded.filter(|d| d.id.starts_with(id)).collect();
            match found.as_slice() {
                [one] => Ok(one),
                [] => anyhow::bail!(
                    "no succeeded deployment has the id `{id}`; `sls-rs deployments` lists them"
                ),
                _ => anyhow::bail!(
                    "`{id}` matches {} deployments; give more of the id",
                    found.len()
                ),
            }
        }
        None => succeeded
            .rev()
            .find(|d| &d.functions != live)
            .ok_or_else(|| anyhow::anyhow!("there is no earlier deployment to roll back to")),
    }
}

/// What the aliases cannot carry: functions added or removed since the target deployment.
pub fn incompatibilities(
    target: &DeploymentRecord,
    current: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for f in target
        .functions
        .keys()
        .filter(|f| !current.contains_key(*f))
    {
        out.push(format!(
            "function `{f}` was removed since deployment {}; its alias no longer exists",
            target.id
        ));
    }
    for f in current
        .keys()
        .filter(|f| !target.functions.contains_key(*f))
    {
        out.push(format!(
            "function `{f}` did not exist in deployment {}; there is no version to go back to",
            target.id
        ));
    }
    out
}

pub async fn rollback(
    service: &Service,
    to: Option<&str>,
    lock_timeout: Duration,
    command: &str,
    progress: Progress<'_>,
) -> anyhow::Result<RollbackReport> {
    let (aws, bucket) = connect(service).await?;
    crate::cloud::deployment_bucket::ensure(&aws, &bucket).await?;
    super::under_lock(
        &aws,
        &bucket,
        service,
        command,
        lock_timeout,
        rollback_locked(&aws, &bucket, service, to, command, progress),
    )
    .await
}

async fn rollback_locked(
    aws: &Aws,
    bucket: &str,
    service: &Service,
    to: Option<&str>,
    command: &str,
    progress: Progress<'_>,
) -> anyhow::Result<RollbackReport> {
    let svc = &service.manifest.service;
    let Some((state, etag)) = state::load_for_update(aws, bucket, svc, &service.stage).await?
    else {
        anyhow::bail!("{svc}/{} was never deployed", service.stage);
    };
    // Where `live` points as AWS says (a run killed before its state save left the state behind).
    let reads = state
        .resources
        .iter()
        .filter(|(id, r)| r.kind == Kind::Function && super::plan::replaced_of(id).is_none())
        .map(|(_, r)| async move {
            // A shift a killed deploy left counts as at the version it was moving to, so
            // the rollback takes the alias (and all its traffic) back.
            let alias = match &r.shift {
                Some(shift) => Some(shift.to.clone()),
                None => lambda_function::read_alias_target(aws, &r.physical, LIVE_ALIAS)
                    .await?
                    .map(|(version, _)| version),
            };
            anyhow::Ok(
                alias
                    .or_else(|| r.live.clone())
                    .map(|v| (r.function.clone(), v)),
            )
        });
    let current: BTreeMap<String, String> = futures::future::try_join_all(reads)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let target = pick_target(&state.deployments, to, &current)?.clone();
    let mut problems = incompatibilities(&target, &current);
    let restore = super::policy::to_restore(&state, &target.id).unwrap_or_else(|p| {
        problems.extend(p);
        vec![]
    });
    if problems.is_empty() {
        let targets: Vec<(String, String, String)> = target
            .functions
            .iter()
            .filter(|(f, v)| current.get(*f) != Some(*v))
            .map(|(f, v)| (f.clone(), service.function_name(f), v.clone()))
            .collect();
        problems.extend(super::policy::roles_gone(aws, &targets).await?);
    }
    if !problems.is_empty() {
        anyhow::bail!(
            "cannot roll back to {}: {}\nnothing was changed; deploy the manifest you want instead",
            target.id,
            problems.join("; ")
        );
    }
    // A split alias always moves (its weights go), even to the version it mostly serves.
    let split: std::collections::BTreeSet<&String> = state
        .resources
        .values()
        .filter(|r| r.kind == Kind::Function && r.shift.is_some())
        .map(|r| &r.function)
        .collect();
    let moves: Vec<(String, String, String, String)> = target
        .functions
        .iter()
        .filter(|(f, v)| current.get(*f) != Some(*v) || split.contains(f))
        .map(|(f, v)| {
            (
                f.clone(),
                service.function_name(f),
                current[f].clone(),
                v.clone(),
            )
        })
        .collect();

    let journal = Journal::new(
        state,
        bucket,
        Some(etag),
        &lock::Holder::me(command).describe(),
    );
    journal.update(|s| {
        // What rollback moved stays there until the function changes or `--unpin`;
        // recorded before any alias moves, so a rollback killed half-way is pinned too.
        for (function, version) in &current {
            if let Some(r) = s
                .resources
                .get_mut(&model::logical_id(Kind::Function, function))
            {
                // A split alias still serves `live` mostly: the state keeps it until the
                // alias moves (a pin at the version it was shifting to would promote it).
                if r.shift.is_none() {
                    r.live = Some(version.clone());
                }
            }
        }
        for (function, _, _, _) in &moves {
            if let Some(r) = s
                .resources
                .get_mut(&model::logical_id(Kind::Function, function))
            {
                r.pinned = true;
            }
        }
        s.remember(
            DeploymentRecord {
                id: format!("{}-{}", now().replace([':', '-'], ""), std::process::id()),
                started: now(),
                finished: None,
                who: lock::Holder::me(command).who,
                command: command.to_string(),
                status: "in progress".into(),
                functions: current.clone(),
                changed: Vec::new(),
            },
            super::history(service),
        )
    });
    journal.save(aws).await?;
    // Both versions' permissions while the aliases move; the target's after.
    if let Err(e) = super::policy::widen_for_rollback(aws, &restore).await {
        super::close_failed(aws, &journal).await;
        return Err(e.context("rollback failed before moving any alias"));
    }
    let steps = moves.iter().map(|(function, physical, _, version)| {
        let journal = &journal;
        dag::Step {
            id: function.clone(),
            deps: vec![],
            run: Box::pin(async move {
                lambda_function::point_alias(
                    aws,
                    physical,
                    LIVE_ALIAS,
                    version,
                    lambda_function::AliasExpected::Existing,
                )
                .await?;
                journal.update(|s| {
                    if let Some(r) = s
                        .resources
                        .get_mut(&model::logical_id(Kind::Function, function))
                    {
                        r.live = Some(version.clone());
                        // Moving the alias ended any shift a killed deploy left.
                        r.shift = None;
                    }
                });
                journal.save(aws).await
            }) as BoxFuture<_>,
        }
    });
    let failures = dag::run(steps.collect(), DEFAULT_CONCURRENCY, |id, took| {
        if let Some((_, physical, from, to)) = moves.iter().find(|m| m.0 == id) {
            progress(&format!(
                "  → {physical}: live {from} → {to} ({})",
                crate::build::seconds(took)
            ));
        }
    })
    .await;
    let restored = if failures.is_empty() {
        super::policy::finish_rollback(aws, &journal, &restore).await
    } else {
        Ok(())
    };
    let status = if failures.is_empty() && restored.is_ok() {
        "succeeded"
    } else {
        "failed"
    };
    let record = super::finish(aws, &journal, status).await?;
    restored
        .map_err(|e| e.context("the aliases moved back, but restoring the role policies failed"))?;
    if !failures.is_empty() {
        return Err(failed(
            "rollback failed part-way; run it again to finish",
            failures,
        ));
    }
    Ok(RollbackReport {
        service: svc.clone(),
        stage: service.stage.clone(),
        to: target.id,
        moved: moves
            .into_iter()
            .map(|(f, _, from, to)| (f, (from, to)))
            .collect(),
        deployment: record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, status: &str, functions: &[(&str, &str)]) -> DeploymentRecord {
        DeploymentRecord::sample(id, status, functions)
    }

    #[test]
    fn the_default_target_is_the_newest_succeeded_deployment_not_live_now() {
        let history = [
            record("d1", "succeeded", &[("a", "1")]),
            record("d2", "succeeded", &[("a", "2")]),
            record("d3", "failed", &[("a", "3")]),
        ];
        let live =
            |v: &str| -> BTreeMap<String, String> { [("a".to_string(), v.to_string())].into() };
        assert_eq!(pick_target(&history, None, &live("2")).unwrap().id, "d1");
        // d3 failed after cutover: version 3 is live, so d2 is where to go back to.
        assert_eq!(pick_target(&history, None, &live("3")).unwrap().id, "d2");
        assert_eq!(
            pick_target(&history, Some("d2"), &live("2")).unwrap().id,
            "d2"
        );
        assert!(
            pick_target(&history, Some("d3"), &live("3")).is_err(),
            "a failed deployment is no target"
        );
        assert!(pick_target(&history[..1], None, &live("1"))
            .unwrap_err()
            .to_string()
            .contains("no earlier deployment"));
    }

    #[test]
    fn added_or_removed_functions_cannot_be_rolled_across() {
        let target = record("d1", "succeeded", &[("a", "1"), ("gone", "3")]);
        let current: BTreeMap<String, String> = [
            ("a".to_string(), "2".to_string()),
            ("new".to_string(), "1".to_string()),
        ]
        .into();
        let problems = incompatibilities(&target, &current);
        assert_eq!(problems.len(), 2);
        assert!(problems[0].contains("`gone` was removed"));
        assert!(problems[1].contains("`new` did not exist"));
    }
}

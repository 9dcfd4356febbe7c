//! `deploy --continue`: the traffic shifts a `deploy --no-wait` (or a killed deploy)
//! left, taken on from their recorded steps. No build and no plan: the versions exist,
//! the state says where traffic is, the manifest says how to go on (its interval and
//! alarms now). A CI job can run it without the handlers' sources or a toolchain.

use std::time::Duration;

use serde::Serialize;

use super::shift::{self, Pending, Resume, Shifting};
use super::state::SHIFTING;
use super::state::{DeploymentRecord, Journal};
use super::{connect, finish, lock, state, under_lock, Progress};
use crate::cloud::{lambda_function, Aws};
use crate::manifest::Service;
use crate::model::{self, Kind, LIVE_ALIAS};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinueReport {
    pub service: String,
    pub stage: String,
    /// The functions whose shift this run took on.
    pub continued: Vec<String>,
    /// The shifts still left (`--no-wait`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shifting: Vec<Pending>,
    /// The deployment the shifts belong to, closed once the last one completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRecord>,
}

/// Takes on every recorded shift: to its end, or (`no_wait`) the steps due now.
pub async fn continue_shifts(
    service: &Service,
    lock_timeout: Duration,
    command: &str,
    no_wait: bool,
    progress: Progress<'_>,
) -> anyhow::Result<ContinueReport> {
    let (aws, bucket) = connect(service).await?;
    // Never deployed here: nothing to continue, and nothing made to say so.
    if !crate::cloud::deployment_bucket::exists(&aws, &bucket).await? {
        return Ok(ContinueReport {
            service: service.manifest.service.clone(),
            stage: service.stage.clone(),
            continued: vec![],
            shifting: vec![],
            deployment: None,
        });
    }
    under_lock(
        &aws,
        &bucket,
        service,
        command,
        lock_timeout,
        continue_locked(&aws, &bucket, service, command, no_wait, progress),
    )
    .await
}

async fn continue_locked(
    aws: &Aws,
    bucket: &str,
    service: &Service,
    command: &str,
    no_wait: bool,
    progress: Progress<'_>,
) -> anyhow::Result<ContinueReport> {
    let svc = &service.manifest.service;
    let mut report = ContinueReport {
        service: svc.clone(),
        stage: service.stage.clone(),
        continued: vec![],
        shifting: vec![],
        deployment: None,
    };
    let Some((state, etag)) = state::load_for_update(aws, bucket, svc, &service.stage).await?
    else {
        return Ok(report);
    };
    let mut shifts = Vec::new();
    for (id, r) in &state.resources {
        let Some(recorded) = r.shift.as_ref().filter(|_| r.kind == Kind::Function) else {
            continue;
        };
        if super::plan::replaced_of(id).is_some() {
            continue;
        }
        let Some(from) = r.live.clone() else { continue };
        // Gone from the manifest: the next deploy deletes it, shift and all.
        let Some(f) = service.manifest.functions.get(&r.function) else {
            continue;
        };
        // The alias must still be split from the version the state says it keeps.
        let alias = lambda_function::read_alias_routing(aws, &r.physical, LIVE_ALIAS).await?;
        if alias.as_ref().map(|(primary, _)| primary) != Some(&from) {
            anyhow::bail!(
                "the `{LIVE_ALIAS}` alias of {} is not where the state says ({}% of it on version {from}): it was moved behind sls-rs's back; `sls-rs deploy` or `sls-rs rollback` puts it right; nothing was changed",
                r.physical,
                100 - recorded.percent
            );
        }
        let deployment = service.manifest.deployment_of(f);
        // A function no longer shifted gradually takes all of it at its next step.
        let steps = deployment.map(shift::steps).unwrap_or_default();
        let interval = deployment
            .and_then(|d| d.interval.as_deref())
            .and_then(|i| crate::manifest::parse_interval(i).ok())
            .unwrap_or(Duration::from_secs(60));
        let mut alarms: Vec<String> = deployment
            .map(|d| d.named_alarms().cloned().collect())
            .unwrap_or_default();
        // Its own alarms watch the new version since the shift began: read, not reset.
        alarms.extend(
            deployment
                .map(|d| d.built_in_alarms())
                .unwrap_or_default()
                .into_iter()
                .map(|(metric, _)| model::alarm_name(&r.physical, metric)),
        );
        let resume = Resume::of(recorded, &steps, interval).unwrap_or(Resume {
            next: 0,
            due: std::time::SystemTime::now(),
            percent: recorded.percent,
        });
        shifts.push(Shifting {
            id: id.clone(),
            function: r.function.clone(),
            physical: r.physical.clone(),
            from,
            to: recorded.to.clone(),
            steps,
            interval,
            alarms,
            own: vec![],
            resume: Some(resume),
        });
    }
    if shifts.is_empty() {
        return Ok(report);
    }
    // A guard that does not exist (added to the manifest since, or deleted) is refused
    // before anything moves, not taken for a failed read mid-shift.
    let names: Vec<String> = shifts.iter().flat_map(|s| s.alarms.clone()).collect();
    shift::exist(aws, &names)
        .await
        .map_err(|e| e.context("nothing was changed"))?;
    report.continued = shifts.iter().map(|s| s.function.clone()).collect();
    let journal = Journal::new(
        state,
        bucket,
        Some(etag),
        &lock::Holder::me(command).describe(),
    );
    // The deployment that began the shifts, if it is still the last one.
    let open = journal
        .snapshot()
        .deployments
        .last()
        .is_some_and(|d| d.status == SHIFTING);
    shift::verify(aws, &mut shifts)
        .await
        .map_err(|e| e.context("nothing was changed"))?;
    match shift::run(aws, &journal, &shifts, no_wait, progress).await {
        Ok(shift::Outcome::Left(left)) => {
            journal.save(aws).await?;
            report.shifting = left;
        }
        Ok(shift::Outcome::Done) if open => {
            // The old versions serve no more: the roles the deployment widened get
            // exactly their new policy.
            let deployment = journal.snapshot().deployments.last().map(|d| d.id.clone());
            if let Some(id) = deployment {
                super::policy::narrow_recorded(aws, &journal.snapshot(), &id, progress)
                    .await
                    .map_err(|e| {
                        e.context("narrowing role policies after the shift failed; `sls-rs deploy` finishes it")
                    })?;
            }
            report.deployment = Some(finish(aws, &journal, "succeeded").await?);
        }
        Ok(shift::Outcome::Done) => journal.save(aws).await?,
        Err(e) => {
            if open && super::interrupt::requested() != Some(super::interrupt::Reason::LockLost) {
                super::close_failed(aws, &journal).await;
            }
            return Err(e.context("continuing the traffic shift failed"));
        }
    }
    Ok(report)
}

//! `remove`: delete everything the service owns in a stage, triggers first, keeping
//! data resources unless allowed; it also finds, by their tags and names, what a deploy
//! died before recording (or what a lost state no longer lists).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::state::{Journal, Recorded};
use super::{
    connect, dag, deletion_steps, failed, live, load_state, lock, log_prefixes, under_lock,
    Progress, DEFAULT_CONCURRENCY,
};
use crate::cloud::{
    self, alarms, bucket_notification, deployment_bucket, dynamodb_table, event_source_mapping,
    http_api, iam_role, lambda_function, log_group, provisioned_scaling, s3_bucket, schedule_rule,
    scheduler, sqs_queue, state_machine, Aws, CallSummary,
};
use crate::manifest::{self, Event, Service};
use crate::model::{self, Kind};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveReport {
    pub service: String,
    pub stage: String,
    pub removed: Vec<String>,
    /// Kept with their data: tables, and buckets and queues holding data, without `--force`.
    pub retained: Vec<String>,
    pub api_calls: CallSummary,
}

/// Deletes everything the service owns in this stage (the deployment bucket stays),
/// except data resources that must be kept.
pub async fn remove(
    service: &Service,
    lock_timeout: Duration,
    command: &str,
    force: bool,
    progress: Progress<'_>,
) -> anyhow::Result<RemoveReport> {
    let (aws, bucket) = connect(service).await?;
    let svc = &service.manifest.service;
    deployment_bucket::ensure(&aws, &bucket).await?;
    let (removed, retained) = under_lock(
        &aws,
        &bucket,
        service,
        command,
        lock_timeout,
        remove_locked(&aws, &bucket, service, command, force, progress),
    )
    .await?;
    Ok(RemoveReport {
        service: svc.clone(),
        stage: service.stage.clone(),
        removed,
        retained,
        api_calls: aws.calls.summary(),
    })
}

async fn remove_locked(
    aws: &Aws,
    bucket: &str,
    service: &Service,
    command: &str,
    force: bool,
    progress: Progress<'_>,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let svc = &service.manifest.service;
    let (state, etag) = load_state(aws, bucket, service).await?;
    let mut targets: BTreeMap<String, Recorded> = state.resources.clone();
    let found = |kind: Kind, physical: String, function: &str| Recorded {
        kind,
        function: function.to_string(),
        physical,
        arn: String::new(),
        props: Default::default(),
        version: None,
        live: None,
        provisioned: None,
        pinned: false,
        delete_with_data: false,
        versions: vec![],
        shift: None,
    };
    // What a deploy killed before it recorded anything may have created: the manifest's own names, if tagged ours.
    let owner: BTreeMap<String, String> = [
        (model::TAG_SERVICE.to_string(), svc.clone()),
        (model::TAG_STAGE.to_string(), service.stage.clone()),
    ]
    .into();
    // Only what the state does not record already: each read is a request, and the
    // state's own resources need none to be deleted.
    for key in service.manifest.functions.keys() {
        let name = service.function_name(key);
        if targets.contains_key(&model::logical_id(Kind::Function, key)) {
            continue;
        }
        if let Some(f) = lambda_function::read(aws, &name).await? {
            if model::same_owner(|t| f.tags.get(t), |t| owner.get(t)) {
                targets
                    .entry(model::logical_id(Kind::Function, key))
                    .or_insert_with(|| found(Kind::Function, name.clone(), key));
            }
        }
    }
    // Roles by their region-unique names, ours only when their tags name this region too (IAM is global).
    let mut role_owner = owner.clone();
    role_owner.insert(model::TAG_REGION.into(), aws.target.region.clone());
    let region = &aws.target.region;
    let mut roles: Vec<(String, String, &str)> = service
        .manifest
        .functions
        .keys()
        .map(|key| {
            let role = manifest::role_name(svc, &service.stage, key, region);
            (key.clone(), role, key.as_str())
        })
        .collect();
    // A scheduler role only where the manifest has a scheduler schedule: a read each.
    let scheduled = service.manifest.functions.iter().filter(|(_, f)| {
        f.events.iter().any(
            |e| matches!(e, Event::Schedule(s) if s.method == manifest::ScheduleMethod::Scheduler),
        )
    });
    roles.extend(scheduled.map(|(key, _)| {
        let role = manifest::scheduler_role_name(svc, &service.stage, key, region);
        (format!("{key}.scheduler"), role, "")
    }));
    roles.extend(service.manifest.resources.state_machines.keys().map(|n| {
        let role = manifest::state_machine_role_name(svc, &service.stage, n, region);
        (format!("stateMachine.{n}"), role, "")
    }));
    for (name, role, function) in roles {
        if targets.contains_key(&model::logical_id(Kind::Role, &name)) {
            continue;
        }
        if let Some(tags) = iam_role::read_tags(aws, &role).await? {
            if model::same_owner(|t| tags.get(t), |t| role_owner.get(t)) {
                targets
                    .entry(model::logical_id(Kind::Role, &name))
                    .or_insert_with(|| found(Kind::Role, role, function));
            }
        }
    }
    let mut groups = std::collections::BTreeMap::new();
    for prefix in log_prefixes(service) {
        groups.extend(log_group::read_prefix(aws, &prefix).await?);
    }
    for key in service.manifest.functions.keys() {
        let group = format!("/aws/lambda/{}", service.function_name(key));
        if groups.contains_key(&group) {
            targets
                .entry(model::logical_id(Kind::LogGroup, key))
                .or_insert_with(|| found(Kind::LogGroup, group, key));
        }
    }
    // The manifest's own tables, buckets, queues, state machines and HTTP API, if tagged ours.
    let url_base = cloud::queue_url_base(&aws.target.region, &aws.endpoints);
    let cx = model::Context {
        account: &aws.account,
        region: &aws.target.region,
        partition: aws.partition(),
        env_key: None,
        queue_url_base: &url_base,
    };
    let names = model::Names::new(service, &cx);
    let r = &service.manifest.resources;
    // Each state machine's log group, by its name, as the functions' above.
    for n in r.state_machines.keys() {
        let group = names.state_machine_log_group(n);
        if groups.contains_key(&group) {
            let name = format!("stateMachine.{n}");
            targets
                .entry(model::logical_id(Kind::LogGroup, &name))
                .or_insert_with(|| found(Kind::LogGroup, group, ""));
        }
    }
    let mut candidates: Vec<(Kind, String, String)> = Vec::new();
    // Existing tables, buckets and queues are never the service's to remove.
    candidates.extend(
        r.tables
            .iter()
            .filter(|(_, t)| t.existing.is_none())
            .map(|(n, _)| (Kind::Table, n.clone(), names.table(n))),
    );
    candidates.extend(
        r.buckets
            .iter()
            .filter(|(_, b)| b.existing.is_none())
            .map(|(n, _)| (Kind::Bucket, n.clone(), names.bucket(n))),
    );
    for (n, q) in r.queues.iter().filter(|(_, q)| q.existing.is_none()) {
        candidates.push((Kind::Queue, n.clone(), names.queue(n)));
        if q.dead_letter.is_some() {
            candidates.push((Kind::Queue, format!("{n}-dlq"), names.dead_letter_queue(n)));
        }
    }
    candidates.extend(
        r.state_machines
            .keys()
            .map(|n| (Kind::StateMachine, n.clone(), names.state_machine(n))),
    );
    for (kind, name, physical) in candidates {
        let id = model::logical_id(kind, &name);
        if targets.contains_key(&id) {
            continue;
        }
        let props = match kind {
            Kind::Table => dynamodb_table::read(aws, &physical).await?.map(|t| t.props),
            // A name another account holds is not the service's: nothing to remove there.
            Kind::Bucket => match s3_bucket::read(aws, &physical).await {
                Err(e) if e.downcast_ref::<s3_bucket::NotOurs>().is_some() => None,
                other => other?,
            },
            Kind::Queue => sqs_queue::read(aws, &physical).await?,
            _ => state_machine::read(aws, &physical).await?,
        };
        let ours = props
            .is_some_and(|p| model::same_owner(|t| p.get(&format!("tags.{t}")), |t| owner.get(t)));
        if ours {
            targets.insert(id, found(kind, physical, ""));
        }
    }
    // Its triggers, by their names and tags: the HTTP API (its routes go with it), schedule
    // rules, bucket notifications, and every mapping on a function's alias (a mapping
    // outlives its function, so a lost state must not lose it).
    let owned =
        |p: &model::Props| model::same_owner(|t| p.get(&format!("tags.{t}")), |t| owner.get(t));
    if !targets.values().any(|r| r.kind == Kind::HttpApi) {
        if let Some(api) = http_api::read(aws, &names.http_api()).await? {
            if owned(&api.props) {
                let mut rec = found(Kind::HttpApi, names.http_api(), "");
                rec.arn = http_api::arn(aws, &api.id);
                targets.insert(model::logical_id(Kind::HttpApi, "api"), rec);
            }
        }
    }
    let known: Vec<String> = targets.values().map(|r| r.arn.clone()).collect();
    // Mappings outlive their function: every one of the account's in one listing
    // when that is cheaper than a listing per function.
    let functions = service.manifest.functions.len();
    let all_mappings = match functions {
        0 => Some(vec![]),
        n => event_source_mapping::list_all(aws, n).await?,
    };
    // The service's alarms in one listing (by their common prefix), read one by one only
    // where a name is an alarm sls-rs would make; none without functions.
    let alarm_names = if service.manifest.functions.is_empty() {
        Default::default()
    } else {
        alarms::names_with_prefix(
            aws,
            &format!("{}-{}-", service.manifest.service, service.stage),
        )
        .await?
    };
    for (key, f) in &service.manifest.functions {
        let mut schedules = 0;
        for event in &f.events {
            match event {
                // Schedules carry no tags: one of that name is ours when it invokes this
                // function's alias.
                Event::Schedule(s) if s.method == manifest::ScheduleMethod::Scheduler => {
                    let id = model::logical_id(Kind::Schedule, &format!("{key}.{schedules}"));
                    let schedule = names.schedule_rule(key, schedules);
                    schedules += 1;
                    if targets.contains_key(&id) {
                        continue;
                    }
                    let alias = names.alias_arn(key);
                    if scheduler::read(aws, &schedule)
                        .await?
                        .is_some_and(|p| p.get("target") == Some(&alias))
                    {
                        targets.insert(id, found(Kind::Schedule, schedule, key));
                    }
                }
                Event::Schedule(_) => {
                    let id = model::logical_id(Kind::Rule, &format!("{key}.{schedules}"));
                    let rule = names.schedule_rule(key, schedules);
                    schedules += 1;
                    if targets.contains_key(&id) {
                        continue;
                    }
                    if schedule_rule::read(aws, &rule)
                        .await?
                        .is_some_and(|p| owned(&p))
                    {
                        targets.insert(id, found(Kind::Rule, rule, key));
                    }
                }
                Event::S3(e) => {
                    let id = model::logical_id(Kind::BucketNotification, &e.bucket);
                    let bucket = names.bucket(&e.bucket);
                    if !targets.contains_key(&id)
                        && bucket_notification::read(aws, &bucket).await?.is_some()
                    {
                        targets.insert(id, found(Kind::BucketNotification, bucket, key));
                    }
                }
                _ => {}
            }
        }
        let function = service.function_name(key);
        let alias = names.alias_arn(key);
        // On the alias, as deploy makes them; on the function itself or a version
        // of it (moto answers a mapping on the alias with the unqualified ARN) only
        // when the function is this service's, being removed: they die with it.
        let function_arn = names.function_arn(key);
        let ours = targets.contains_key(&model::logical_id(Kind::Function, key));
        // The scaler's target carries no tags: it is ours on our function's alias. A read
        // only where the manifest scales.
        let scaling = model::logical_id(Kind::ProvisionedScaling, key);
        if ours
            && f.provisioned_concurrency
                .is_some_and(|p| p.scaling().is_some())
            && !targets.contains_key(&scaling)
            && provisioned_scaling::read(aws, &function).await?.is_some()
        {
            targets.insert(
                scaling,
                found(Kind::ProvisionedScaling, function.clone(), key),
            );
        }
        // The alarms it made to guard shifts, by their names and tags (all three names:
        // the manifest may have dropped one a deploy made).
        for metric in manifest::AlarmMetric::ALL {
            let id = model::logical_id(Kind::Alarm, &format!("{key}.{}", metric.key()));
            let name = model::alarm_name(&function, metric);
            if !targets.contains_key(&id)
                && alarm_names.contains(&name)
                && alarms::read(aws, &name).await?.is_some_and(|p| owned(&p))
            {
                targets.insert(id, found(Kind::Alarm, name, key));
            }
        }
        let of_function = |target: &str| {
            target == alias
                || (ours
                    && (target == function_arn
                        || target
                            .strip_prefix(function_arn.as_str())
                            .is_some_and(|rest| rest.starts_with(':'))))
        };
        let mappings = match &all_mappings {
            Some(all) => all
                .iter()
                .filter(|(_, _, target)| of_function(target))
                .map(|(uuid, source, _)| (uuid.clone(), source.clone()))
                .collect(),
            None => event_source_mapping::list_for(aws, &alias).await?,
        };
        for (uuid, source) in mappings {
            if known.iter().any(|arn| live::mapping_uuid(arn) == uuid) {
                continue;
            }
            let mut rec = found(
                Kind::EventSourceMapping,
                format!(
                    "{} → {function}:{}",
                    source.rsplit(':').next().unwrap_or(&source),
                    model::LIVE_ALIAS
                ),
                key,
            );
            rec.arn = format!(
                "{}:lambda:{}:{}:event-source-mapping:{uuid}",
                aws.partition(),
                aws.target.region,
                aws.account
            );
            targets.insert(
                model::logical_id(Kind::EventSourceMapping, &format!("{key}.{uuid}")),
                rec,
            );
        }
    }
    // What the manifest now declares `existing:` is not the service's to delete: forgotten.
    let existing = model::existing_names(service, &cx);
    let released: Vec<String> = targets
        .iter()
        .filter(|(_, r)| r.kind.holds_data() && existing.contains(&r.physical))
        .map(|(id, _)| id.clone())
        .collect();
    let mut kept = Vec::new();
    for id in &released {
        if let Some(rec) = targets.remove(id) {
            kept.push(format!(
                "{} {} (the manifest declares it `existing:`)",
                rec.kind.noun(),
                rec.physical
            ));
        }
    }
    // The manifest being removed has the last word on what may go with its data.
    for (id, rec) in targets.iter_mut() {
        if let Some(delete) = model::deletes_with_data(&service.manifest, id) {
            rec.delete_with_data = delete;
        }
    }
    let journal = Journal::new(state, bucket, etag, &lock::Holder::me(command).describe());
    let retained = std::sync::Mutex::new(kept);
    let gone: Vec<(String, Recorded)> = targets.into_iter().collect();
    let failures = dag::run(
        deletion_steps(aws, &gone, force, &journal, &retained),
        DEFAULT_CONCURRENCY,
        |id, took| {
            if let Some((_, rec)) = gone.iter().find(|(g, _)| g == id) {
                progress(&format!(
                    "  - {} {} ({})",
                    rec.kind.noun(),
                    rec.physical,
                    crate::build::seconds(took)
                ));
            }
        },
    )
    .await;
    if !failures.is_empty() {
        return Err(failed("remove failed; run it again to finish", failures));
    }
    // The state goes too; the bucket's versioning keeps its history.
    journal.delete(aws).await?;
    let retained = retained.into_inner().unwrap_or_default();
    let removed = gone
        .iter()
        .map(|(_, rec)| format!("{} {}", rec.kind.noun(), rec.physical))
        .filter(|r| !retained.iter().any(|k| k.starts_with(r.as_str())))
        .collect();
    Ok((removed, retained))
}

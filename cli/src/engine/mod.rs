//! Deploy, remove, info: plan against state and live, then apply the plan as
//! a DAG of idempotent steps, saving the state after each, under a lock.
//!
//! A deploy runs in five phases. 1: data resources, roles, log groups, functions,
//! new versions, state machines and the HTTP API (`Phase::Build`). 2, only when all
//! of phase 1 succeeded: every `live` alias moves, then provisioned concurrency.
//! 3: what sends traffic to an alias (`Phase::Wire`): routes, invoke permissions,
//! event source mappings, schedule rules, scheduler schedules, bucket notifications
//! and function URLs.
//! 4: what the manifest dropped is deleted, triggers first, data only when allowed.
//! 5: Lambda versions nothing can roll back to any more are pruned.

mod dag;
pub mod interrupt;
mod live;
pub mod lock;
pub mod plan;
mod policy;
mod remove;
pub mod resume;
mod rollback;
pub mod shift;
pub mod state;

pub use remove::{remove, RemoveReport};
pub use rollback::{deployments, rollback, RollbackReport};

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::build::PackageManifest;
use crate::cloud::{
    self, alarms, bucket_notification, deployment_bucket, dynamodb_table, event_source_mapping,
    function_url, http_api, iam_role, lambda_function, lambda_permission, log_group,
    provisioned_scaling, s3_bucket, schedule_rule, scheduler, sqs_queue, state_machine, Aws,
    CallSummary, Changed, Target,
};
use crate::manifest::Service;
use crate::model::{self, FunctionSpec, Kind, Phase, Resource, Spec, LIVE_ALIAS};
use plan::{Action, Change, Plan};
use state::{DeploymentRecord, Journal, Recorded, State};

/// Steps running at once by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

pub struct DeployOptions {
    pub dry_run: bool,
    pub lock_timeout: Duration,
    /// The command line, recorded in the lock and the history.
    pub command: String,
    /// Where the package's artifact paths are relative to (the service directory).
    pub package_root: std::path::PathBuf,
    /// AWS calls in flight at once (reads and steps).
    pub concurrency: usize,
    /// Delete dropped tables, and buckets and queues that hold data, whatever their deletionPolicy.
    pub force: bool,
    /// Rollback pins to release besides those of changed functions (`--unpin [NAME]`).
    pub unpin: plan::Unpin,
    /// Carry out in-place changes that disrupt live traffic (a table's new stream view, a rebuilt index).
    pub allow_disruption: bool,
    /// What the deploy may touch.
    pub scope: Scope,
    /// Make a traffic shift's first step (or the steps due) and leave the rest to a
    /// later `deploy --continue` (or any deploy), instead of waiting them out.
    pub no_wait: bool,
}

/// What a deploy may touch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    #[default]
    Everything,
    /// The service's tables, buckets and queues only (`sls-rs dev` on an emulator,
    /// whose functions run on this machine). Whatever else the stage has (functions,
    /// roles, the API, state machines) is neither changed nor deleted, and
    /// the policies in force stay those of the last full deploy.
    Data,
}

/// The service as a data-scoped deploy models it: its declared data, without the
/// functions and state machines (and so without their roles, triggers and API).
fn data_only(service: &Service) -> Service {
    let mut s = service.clone();
    s.manifest.functions.clear();
    s.manifest.resources.state_machines.clear();
    s
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployReport {
    pub service: String,
    pub stage: String,
    pub region: String,
    pub account: String,
    pub dry_run: bool,
    pub plan: Plan,
    pub uploads: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRecord>,
    /// AWS calls on the service's resources (the state and lock objects are not counted).
    pub api_calls: CallSummary,
    pub warnings: Vec<String>,
    /// Resources dropped from the manifest but kept with their data (deletionPolicy: retain).
    pub retained: Vec<String>,
    /// The HTTP API's URL, when the service has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The URL cannot be called: an emulator's that answers the management API with
    /// AWS's hostname but serves no HTTP API (moto has no data plane).
    pub endpoint_not_served: bool,
    /// Each function URL, by function (manifest key).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub urls: BTreeMap<String, String>,
    /// The function URLs cannot be called: an emulator's Lambda runs no function.
    pub urls_not_served: bool,
    /// `--no-wait`: the traffic shifts left for a later run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shifting: Vec<shift::Pending>,
    pub elapsed_ms: u128,
}

/// Progress for humans: one line per completed step.
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// Runs `work` holding the stage's lock, renewing it meanwhile, and releases it
/// whatever happened; a failure to release is a warning, so the work's own error
/// stays the one reported. A first SIGINT or SIGTERM lets the work stop between
/// steps (it saves the state), then the lock is released and the run ends with
/// [`Interrupted`](crate::error::Interrupted).
async fn under_lock<T>(
    aws: &Aws,
    bucket: &str,
    service: &Service,
    command: &str,
    timeout: Duration,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let (svc, stage) = (&service.manifest.service, &service.stage);
    let signals = interrupt::listen();
    let me = lock::Holder::me(command);
    let lease = match lock::acquire(aws, bucket, svc, stage, &me, timeout).await {
        Ok(lease) => lease,
        Err(e) if interrupt::requested().is_some() => {
            return Err(e.context(crate::error::Interrupted))
        }
        Err(e) => return Err(e),
    };
    let heartbeat = async {
        loop {
            cloud::pause(lock::heartbeat()).await;
            match lease.renew(aws).await {
                Ok(()) => {}
                Err(e) if e.downcast_ref::<lock::LockLost>().is_some() => {
                    interrupt::request(interrupt::Reason::LockLost);
                    return e;
                }
                // A failed renewal is retried at the next beat; the lock goes stale only after several.
                Err(e) => crate::ui::warn(&format!("could not renew the lock: {e:#}")),
            }
        }
    };
    let mut lost = None;
    let result = {
        // The heartbeat is dropped with this block: a renewal cut off mid-call must
        // not keep the lease's ETag locked from the release below.
        tokio::pin!(work, heartbeat);
        loop {
            tokio::select! {
                result = &mut work => break result,
                e = &mut heartbeat, if lost.is_none() => lost = Some(e),
            }
        }
    };
    if let Err(e) = lease.release(aws).await {
        crate::ui::warn(&format!(
            "could not release the lock: {e:#}; run `sls-rs unlock`"
        ));
    }
    signals.abort();
    match (result, lost, interrupt::requested()) {
        (_, Some(lost), _) => Err(lost),
        (Err(e), _, Some(interrupt::Reason::Signal)) => Err(e.context(crate::error::Interrupted)),
        (Ok(_), _, Some(interrupt::Reason::Signal)) => Err(crate::error::Interrupted.into()),
        (result, _, _) => result,
    }
}

/// Connects to the stage's AWS (or emulator) and finds the deployment bucket.
async fn connect(service: &Service) -> anyhow::Result<(Aws, String)> {
    let aws = Aws::connect(&Target::of(service)).await?;
    let bucket = deployment_bucket::of(service, &aws.account, &aws.target.region);
    Ok((aws, bucket))
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The stage's state and the ETag a write must match, or a new state.
async fn load_state(
    aws: &Aws,
    bucket: &str,
    service: &Service,
) -> anyhow::Result<(State, Option<String>)> {
    Ok(
        match state::load_for_update(aws, bucket, &service.manifest.service, &service.stage).await?
        {
            Some((state, etag)) => (state, Some(etag)),
            None => (new_state(service, aws), None),
        },
    )
}

fn new_state(service: &Service, aws: &Aws) -> State {
    State {
        format: state::STATE_FORMAT,
        service: service.manifest.service.clone(),
        stage: service.stage.clone(),
        region: aws.target.region.clone(),
        account: aws.account.clone(),
        ..State::default()
    }
}

/// Where the service's log groups are: its functions' and its state machines'.
fn log_prefixes(service: &Service) -> Vec<String> {
    let base = format!("{}-{}-", service.manifest.service, service.stage);
    let mut out = vec![format!("/aws/lambda/{base}")];
    if !service.manifest.resources.state_machines.is_empty() {
        out.push(format!("/aws/vendedlogs/states/{base}"));
    }
    out
}

/// Puts the HTTP API's id into the permissions that name it, once it is known.
fn fill_api_id(desired: &mut [Resource], api_id: &str) {
    for r in desired {
        if let Spec::Permission(p) = &mut r.spec {
            p.source_arn = p.source_arn.replace(model::HTTP_API_ID, api_id);
        }
    }
}

/// The fields a change updates, with the values they had.
fn changed_fields(c: &Change) -> Changed {
    c.fields
        .iter()
        .map(|f| (f.field.clone(), f.from.clone()))
        .collect()
}

pub async fn deploy(
    service: &Service,
    package: &PackageManifest,
    opts: &DeployOptions,
    progress: Progress<'_>,
) -> anyhow::Result<DeployReport> {
    let started = Instant::now();
    let data_service;
    let service = match opts.scope {
        Scope::Everything => service,
        Scope::Data => {
            data_service = data_only(service);
            &data_service
        }
    };
    check_package(service, package)?;
    let (aws, bucket) = connect(service).await?;
    let svc = service.manifest.service.clone();
    let mut warnings: Vec<String> = model::wildcard_warnings(service);
    warnings.extend(model::streaming_warnings(service, package));
    warnings.extend(model::shift_warnings(service));
    for w in &warnings {
        crate::ui::warn(w);
    }
    // A dry run changes nothing, not even by creating the bucket (a missing one reads as no state).
    if opts.dry_run {
        deployment_bucket::exists(&aws, &bucket).await?;
    } else {
        deployment_bucket::ensure(&aws, &bucket).await?;
    }
    let work = deploy_locked(
        &aws,
        &bucket,
        service,
        package,
        opts,
        progress,
        &mut warnings,
    );
    // A dry run reads only, so it takes no lock.
    let Applied {
        plan,
        uploads,
        deployment,
        retained,
        endpoint,
        urls,
        shifting,
    } = if opts.dry_run {
        work.await?
    } else {
        under_lock(
            &aws,
            &bucket,
            service,
            &opts.command,
            opts.lock_timeout,
            work,
        )
        .await?
    };
    Ok(DeployReport {
        service: svc,
        stage: service.stage.clone(),
        region: aws.target.region.clone(),
        account: aws.account.clone(),
        dry_run: opts.dry_run,
        plan,
        uploads,
        deployment,
        api_calls: aws.calls.summary(),
        warnings,
        retained,
        endpoint_not_served: endpoint
            .as_deref()
            .is_some_and(|url| http_api::url_not_served(&aws, url)),
        endpoint,
        urls,
        urls_not_served: aws.emulates(cloud::Svc::Lambda),
        shifting,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// Every function must have an artifact built for its handler and architecture.
fn check_package(service: &Service, package: &PackageManifest) -> anyhow::Result<()> {
    for (name, f) in &service.manifest.functions {
        let ok = package
            .functions
            .get(name)
            .is_some_and(|a| a.handler == f.handler && a.architecture == service.architecture(f));
        if !ok {
            anyhow::bail!("the package has no artifact of `{}` for function `{name}` ({}); run `sls-rs package` again", f.handler, crate::build::arch_name(service.architecture(f)));
        }
    }
    Ok(())
}

/// What a deploy did, for its report.
struct Applied {
    plan: Plan,
    uploads: usize,
    deployment: Option<DeploymentRecord>,
    retained: Vec<String>,
    /// The HTTP API's URL.
    endpoint: Option<String>,
    /// Each function URL, by function (manifest key).
    urls: BTreeMap<String, String>,
    /// Shifts left for a later run (`--no-wait`).
    shifting: Vec<shift::Pending>,
}

/// The function URLs a state records (their address is their record's `arn`).
fn function_urls(state: &State) -> BTreeMap<String, String> {
    state
        .resources
        .values()
        .filter(|r| r.kind == Kind::FunctionUrl && !r.arn.is_empty())
        .map(|r| (r.function.clone(), r.arn.clone()))
        .collect()
}

async fn deploy_locked(
    aws: &Aws,
    bucket: &str,
    service: &Service,
    package: &PackageManifest,
    opts: &DeployOptions,
    progress: Progress<'_>,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Applied> {
    let (mut state, mut etag) = load_state(aws, bucket, service).await?;
    let writer = lock::Holder::me(&opts.command).describe();
    let url_base = cloud::queue_url_base(&aws.target.region, &aws.endpoints);
    let env_key = model::EnvKey::random()?;
    let cx = model::Context {
        account: &aws.account,
        region: &aws.target.region,
        partition: aws.partition(),
        env_key: Some(&env_key),
        queue_url_base: &url_base,
    };
    for w in model::state_machine_warnings(service, &model::Names::new(service, &cx)) {
        crate::ui::warn(&w);
        warnings.push(w);
    }
    let mut desired = model::desired(service, package, &opts.package_root, &cx)?;
    if opts.scope == Scope::Data {
        desired.retain(|r| r.kind.holds_data());
    }
    // Renamed resources: the old records go to the delete phase (saved with the deployment record).
    plan::set_aside_replaced(&mut state, &desired);
    // A data-scoped deploy reads and plans against the state's data only: nothing
    // else is read, changed or deleted.
    let data_view = (opts.scope == Scope::Data).then(|| {
        let mut view = state.clone();
        view.resources.retain(|_, r| r.kind.holds_data());
        view
    });
    let api = live::http_api(aws, &desired, &state).await?;
    let (api_id, api_endpoint) = api.unzip();
    // A URL to print only while the manifest still has the API.
    let api_endpoint = api_endpoint.filter(|_| desired.iter().any(|r| r.kind == Kind::HttpApi));
    if let Some(id) = &api_id {
        fill_api_id(&mut desired, id);
    }
    let live = live::read(
        aws,
        &desired,
        data_view.as_ref().unwrap_or(&state),
        &env_key,
        &log_prefixes(service),
        api_id.as_deref(),
        opts.concurrency,
    )
    .await?;
    // The aliases as AWS has them are the truth the plan and the state start from.
    let relearned = plan::relearn_aliases(&mut state, &live);
    let save_relearned = !opts.dry_run && !relearned.is_empty();
    for w in relearned {
        crate::ui::warn(&w);
        warnings.push(w);
    }
    if save_relearned {
        let journal = Journal::new(state.clone(), bucket, etag, &writer);
        journal.update(|_| {});
        journal.save(aws).await?;
        etag = journal.etag().await;
    }
    let mut plan = plan::plan_with(
        &desired,
        data_view.as_ref().unwrap_or(&state),
        &live,
        &opts.unpin,
    );
    if prunes_versions(aws) && opts.scope == Scope::Everything {
        plan.prune = state.prunable(history(service));
    }
    plan.release(&model::existing_names(service, &cx));
    // How each function's alias will take its new version, when not all at once.
    for c in plan.changes.iter_mut().filter(|c| {
        c.kind == Kind::Function
            && c.move_alias
            && c.action != Action::Create
            && c.pinned.is_none()
            && (!c.unpin || c.publish)
    }) {
        c.cutover = service
            .manifest
            .functions
            .get(&c.function)
            .and_then(|f| service.manifest.deployment_of(f))
            .and_then(shift::describe);
    }
    if !plan.conflicts.is_empty() && !opts.dry_run {
        anyhow::bail!("{}\nnothing was changed", plan.render());
    }
    let disruptions = plan.disruptions();
    if !disruptions.is_empty() && !opts.dry_run && !opts.allow_disruption {
        return Err(crate::error::UsageError::new(format!(
            "this deploy would disrupt live traffic; nothing was changed:\n  {}",
            disruptions.join("\n  ")
        ))
        .with_help("deploy with `--allow-disruption` to carry it out")
        .into());
    }
    if opts.dry_run || !plan.has_changes() {
        let applied = |deployment| Applied {
            urls: function_urls(&state),
            plan,
            uploads: 0,
            deployment,
            retained: vec![],
            endpoint: api_endpoint,
            shifting: vec![],
        };
        // A deploy killed after its last step left its record open; AWS matches the manifest now.
        if !opts.dry_run
            && state
                .deployments
                .last()
                .is_some_and(|d| d.status == "in progress")
        {
            let journal = Journal::new(state.clone(), bucket, etag, &writer);
            let record = finish(aws, &journal, "succeeded").await?;
            return Ok(applied(Some(record)));
        }
        return Ok(applied(None));
    }
    progress(&plan.render());

    // A deploy that died "in progress" is over: this one finishes its work.
    for d in state
        .deployments
        .iter_mut()
        .filter(|d| d.status == "in progress")
    {
        d.status = "interrupted".into();
    }
    // The alarms a shift of this deploy would read: one missing or in ALARM stops it
    // before anything changes, not after the build phase.
    if opts.scope == Scope::Everything {
        let (fresh, resumed) = guards(service, &plan, &state);
        shift::ready(aws, &fresh)
            .await
            .map_err(|e| e.context("nothing was changed"))?;
        // A shift an earlier run began needs its alarms too; one in ALARM moves it back.
        shift::exist(aws, &resumed)
            .await
            .map_err(|e| e.context("nothing was changed"))?;
    }
    // The versions `live` points at before this deployment, so its record can tell what changed.
    let before: BTreeMap<String, String> = state
        .resources
        .iter()
        .filter(|(id, _)| plan::replaced_of(id).is_none())
        .map(|(_, r)| r)
        .filter(|r| r.kind == Kind::Function)
        .filter_map(|r| Some((r.function.clone(), r.live.clone()?)))
        .collect();
    let record = DeploymentRecord {
        id: format!(
            "{}-{}",
            humantime::format_rfc3339_seconds(SystemTime::now())
                .to_string()
                .replace([':', '-'], ""),
            std::process::id()
        ),
        started: now(),
        finished: None,
        who: lock::Holder::me(&opts.command).who,
        command: opts.command.clone(),
        status: "in progress".into(),
        functions: before,
        changed: Vec::new(),
    };
    // Until cutover the versions live now run with the policies they ran with.
    let in_force = policy::in_force(&state);
    state.policies.set(&record.id, &in_force);
    let deployment_id = record.id.clone();
    state.remember(record, history(service));
    let journal = Journal::new(state, bucket, etag, &writer);
    journal.save(aws).await?;

    let uploads = match upload_artifacts(aws, bucket, &desired, &plan, opts.concurrency).await {
        Ok(n) => n,
        Err(e) => {
            close_failed(aws, &journal).await;
            return Err(failed("deploy failed before cutover: every `live` alias still points at its previous version", vec![("artifacts".into(), e)]));
        }
    };
    let by_id: BTreeMap<&str, &Resource> = desired.iter().map(|r| (r.id.as_str(), r)).collect();
    let apply_phase = |phase: Phase| {
        plan.changes
            .iter()
            .filter(|c| {
                c.action != Action::Delete
                    && (c.action != Action::Unchanged
                        || c.publish
                        || c.adopt
                        || c.deletion_policy.is_some())
            })
            .filter(move |c| c.kind.phase() == phase)
            .map(|c| {
                let r = by_id[c.id.as_str()];
                dag::Step {
                    id: c.id.clone(),
                    deps: r.depends_on.clone(),
                    run: Box::pin(apply_change(aws, bucket, r, c, &journal, &in_force))
                        as BoxFuture<_>,
                }
            })
            .collect::<Vec<_>>()
    };

    // Phase 1: everything up to new versions; no traffic moves.
    let failures = dag::run(apply_phase(Phase::Build), opts.concurrency, |id, took| {
        report_step(progress, &plan, id, took)
    })
    .await;
    if !failures.is_empty() {
        close_failed(aws, &journal).await;
        return Err(failed(
            "deploy failed before cutover: every `live` alias still points at its previous version",
            failures,
        ));
    }

    // Phase 2: cutover. Aliases move only now that every new version exists: at once,
    // or (a canary or linear deployment with a version to shift from) gradually, once
    // the others have moved.
    let mut shifts = shifts(service, &plan, &journal.snapshot(), &desired);
    // A recorded shift goes on only where the alias is split as recorded; the others
    // start over, so preflight points and checks their alarms as a new shift's.
    if let Err(e) = shift::verify(aws, &mut shifts).await {
        close_failed(aws, &journal).await;
        return Err(failed(
            "deploy failed before cutover: every `live` alias still points at its previous version",
            vec![("traffic shift".into(), e)],
        ));
    }
    if let Err(e) = shift::preflight(aws, &shifts).await {
        close_failed(aws, &journal).await;
        return Err(failed(
            "deploy failed before cutover: every `live` alias still points at its previous version",
            vec![("traffic shift".into(), e)],
        ));
    }
    let shifting: std::collections::BTreeSet<&str> = shifts.iter().map(|s| s.id.as_str()).collect();
    let moves = plan
        .changes
        .iter()
        .filter(|c| c.move_alias || c.unpin)
        .filter(|c| !shifting.contains(c.id.as_str()))
        .map(|c| {
            let journal = &journal;
            dag::Step {
                id: format!("alias/{}", c.function),
                deps: vec![],
                run: Box::pin(async move {
                    // A pinned function whose alias went missing gets it back at its pinned version.
                    let version = c.pinned.clone().or_else(|| {
                        journal
                            .snapshot()
                            .resources
                            .get(&c.id)
                            .and_then(|r| r.version.clone())
                    });
                    let version = version.ok_or_else(|| {
                        anyhow::anyhow!(
                            "no published version of {} to point `{LIVE_ALIAS}` at",
                            c.physical
                        )
                    })?;
                    if c.move_alias {
                        // A function created by this run has no alias yet.
                        let expected = if c.action == Action::Create {
                            lambda_function::AliasExpected::New
                        } else {
                            lambda_function::AliasExpected::Existing
                        };
                        lambda_function::point_alias(
                            aws,
                            &c.physical,
                            LIVE_ALIAS,
                            &version,
                            expected,
                        )
                        .await?;
                    }
                    journal.update(|s| {
                        if let Some(r) = s.resources.get_mut(&c.id) {
                            if c.move_alias {
                                r.live = Some(version);
                                // Moving the alias ended any shift a killed deploy left.
                                r.shift = None;
                            }
                            if c.unpin {
                                r.pinned = false;
                            }
                        }
                    });
                    journal.save(aws).await
                }) as BoxFuture<_>,
            }
        });
    let failures = dag::run(moves.collect(), opts.concurrency, |id, took| {
        progress(&format!("  → moved {id} ({})", crate::build::seconds(took)))
    })
    .await;
    if !failures.is_empty() {
        close_failed(aws, &journal).await;
        return Err(failed("deploy failed during cutover: some `live` aliases moved; `sls-rs deploy` again finishes it", failures));
    }
    let mut shifting = Vec::new();
    if !shifts.is_empty() {
        match shift::run(aws, &journal, &shifts, opts.no_wait, progress).await {
            Ok(shift::Outcome::Done) => {}
            Ok(shift::Outcome::Left(left)) => shifting = left,
            Err(e) => {
                // A run that lost its lock writes nothing more: the holder's state is the truth.
                if interrupt::requested() != Some(interrupt::Reason::LockLost) {
                    close_failed(aws, &journal).await;
                }
                return Err(failed(
                "deploy failed during the traffic shift: the aliases that moved at once stay moved; triggers and deletions are not done; a deploy again shifts the same versions anew (after an alarm: fix the function, or `sls-rs rollback`)",
                vec![("traffic shift".into(), e)],
            ));
            }
        }
    }
    // Auto scaling the manifest dropped goes first: left until the deletions, its scaler
    // could move the number set below (or put back one removed).
    let scalers: Vec<(String, Recorded)> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete && c.kind == Kind::ProvisionedScaling)
        .filter_map(|c| {
            Some((
                c.id.clone(),
                journal.snapshot().resources.get(&c.id)?.clone(),
            ))
        })
        .collect();
    if !scalers.is_empty() {
        let retained = std::sync::Mutex::new(Vec::new());
        let failures = dag::run(
            deletion_steps(aws, &scalers, opts.force, &journal, &retained),
            opts.concurrency,
            |id, took| report_step(progress, &plan, id, took),
        )
        .await;
        if !failures.is_empty() {
            close_failed(aws, &journal).await;
            return Err(failed(
                "deploy failed after cutover, removing provisioned-concurrency auto scaling: the new versions are live; triggers and deletions are not done; `sls-rs deploy` again finishes it",
                failures,
            ));
        }
    }
    // Provisioned concurrency: set where it changed, then waited for wherever the alias
    // now serves a version that needs it (Lambda provisions a moved alias's new version anew).
    let pc_timeout = lambda_function::provisioned_timeout();
    let unsupported = std::sync::atomic::AtomicBool::new(false);
    let pc_steps = plan
        .changes
        .iter()
        .filter_map(|c| {
            let wanted = match by_id.get(c.id.as_str()).map(|r| &r.spec) {
                Some(Spec::Function(f)) => f.provisioned_concurrency,
                _ => None,
            };
            match c.provisioned {
                Some(n) => Some((c, Some(n))),
                None if c.move_alias && wanted.is_some() => Some((c, None)),
                None => None,
            }
        })
        .map(|(c, set)| {
            let (journal, unsupported) = (&journal, &unsupported);
            dag::Step {
                id: format!("provisioned/{}", c.function),
                deps: vec![],
                run: Box::pin(async move {
                    if let Some(n) = set {
                        // Recorded before it is asked for: the plan reads provisioned
                        // concurrency back only where the manifest or the state has it,
                        // so a run killed after the Put must not leave it unrecorded
                        // (billed, and never read or removed).
                        if n.is_some() {
                            journal.update(|s| {
                                if let Some(r) = s.resources.get_mut(&c.id) {
                                    r.provisioned = n;
                                }
                            });
                            journal.save(aws).await?;
                        }
                        let applied = lambda_function::set_provisioned_concurrency(
                            aws,
                            &c.physical,
                            LIVE_ALIAS,
                            n,
                        )
                        .await?;
                        if applied == lambda_function::Applied::Unsupported {
                            unsupported.store(true, std::sync::atomic::Ordering::Relaxed);
                            let endpoint =
                                aws.endpoints.of(cloud::Svc::Lambda).unwrap_or_default();
                            crate::ui::warn(&format!("provisioned concurrency of {} skipped: the endpoint {endpoint} does not implement it", c.physical));
                        }
                        journal.update(|s| {
                            if let Some(r) = s.resources.get_mut(&c.id) {
                                r.provisioned = n;
                            }
                        });
                        journal.save(aws).await?;
                    }
                    let ready = lambda_function::wait_provisioned_ready(
                        aws,
                        &c.physical,
                        LIVE_ALIAS,
                        pc_timeout,
                    )
                    .await;
                    ready.map_err(|e| {
                        let version = journal
                            .snapshot()
                            .resources
                            .get(&c.id)
                            .and_then(|r| r.live.clone())
                            .unwrap_or_else(|| "?".into());
                        anyhow::anyhow!("{e:#}; `{LIVE_ALIAS}` points at version {version} and serves traffic, but provisioned concurrency on it is not ready")
                    })
                }) as BoxFuture<_>,
            }
        });
    let failures = dag::run(pc_steps.collect(), opts.concurrency, |id, took| {
        progress(&format!("  ~ set {id} ({})", crate::build::seconds(took)))
    })
    .await;
    if unsupported.into_inner() {
        warnings.push("provisioned concurrency is not implemented by this emulator; it was recorded but not applied".into());
    }
    if !failures.is_empty() {
        close_failed(aws, &journal).await;
        return Err(failed(
            "deploy failed after cutover, setting provisioned concurrency: the new versions are live; triggers and deletions are not done; `sls-rs deploy` again finishes it",
            failures,
        ));
    }
    // The new versions are live: so are the new policies (narrowed once triggers are wired).
    // (A data-scoped deploy changed no role: those in force stay.)
    let new_policies = match opts.scope {
        Scope::Everything => policy::desired(&desired),
        Scope::Data => in_force.clone(),
    };
    journal.update(|s| s.policies.set(&deployment_id, &new_policies));

    // Phase 3: triggers, now that every `live` alias they target exists.
    let failures = dag::run(apply_phase(Phase::Wire), opts.concurrency, |id, took| {
        report_step(progress, &plan, id, took)
    })
    .await;
    if !failures.is_empty() {
        close_failed(aws, &journal).await;
        return Err(failed(
            "deploy failed while wiring triggers: the new versions are live; `sls-rs deploy` again finishes it",
            failures,
        ));
    }

    // Asked to stop (a signal, a lost lock): the rest is for the next deploy.
    if interrupt::requested().is_some() {
        close_failed(aws, &journal).await;
        anyhow::bail!("stopped after wiring triggers: the new versions are live; roles still hold the old and new policies and dropped resources are still there; `sls-rs deploy` again finishes it");
    }
    // The API's URL is known unless this deploy made the API.
    let endpoint = match api_endpoint {
        Some(url) => Some(url),
        None => new_endpoint(aws, &desired).await?,
    };
    // `--no-wait` left shifts: the old versions still serve, so their roles keep the old
    // and new policies, what the manifest dropped stays and no version is pruned. The
    // run that completes the shifts narrows the roles (`--continue`, a deploy); the
    // next deploy removes what was dropped.
    if !shifting.is_empty() {
        let record = finish(aws, &journal, state::SHIFTING).await?;
        let retained = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete && !c.release)
            .map(|c| {
                format!(
                    "{} {} (dropped from the manifest: removed by the next deploy, once the shift completed)",
                    c.kind.noun(),
                    c.physical
                )
            })
            .collect();
        return Ok(Applied {
            urls: function_urls(&journal.snapshot()),
            plan,
            uploads,
            deployment: Some(record),
            retained,
            endpoint,
            shifting,
        });
    }
    let narrowed = policy::narrow(aws, &plan, &desired, &in_force, progress).await;
    if let Err(e) = narrowed {
        close_failed(aws, &journal).await;
        return Err(e.context(
            "narrowing role policies after cutover failed; `sls-rs deploy` again finishes it",
        ));
    }

    // Phase 4: what the manifest dropped, in deletion order; data is kept unless allowed.
    let retained = std::sync::Mutex::new(Vec::new());
    // Released (now `existing:`): forgotten, left as they are.
    for c in plan.changes.iter().filter(|c| c.release) {
        journal.update(|s| {
            s.resources.remove(&c.id);
        });
        retained.lock().expect("retained list").push(format!(
            "{} {} (released: the manifest now declares it `existing:`)",
            c.kind.noun(),
            c.physical
        ));
    }
    if plan.changes.iter().any(|c| c.release) {
        journal.save(aws).await?;
    }
    let gone: Vec<(String, Recorded)> = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete && !c.release)
        .filter_map(|c| {
            Some((
                c.id.clone(),
                journal.snapshot().resources.get(&c.id)?.clone(),
            ))
        })
        .collect();
    let failures = dag::run(
        deletion_steps(aws, &gone, opts.force, &journal, &retained),
        opts.concurrency,
        |id, took| report_step(progress, &plan, id, took),
    )
    .await;
    let status = if failures.is_empty() {
        "succeeded"
    } else {
        "failed"
    };
    let record = finish(aws, &journal, status).await?;
    if !failures.is_empty() {
        return Err(failed(
            "deploy succeeded but removing dropped resources failed; deploy again to retry",
            failures,
        ));
    }
    // Phase 5: versions nothing can roll back to any more; a failure here is a warning,
    // and a run asked to stop leaves them to the next deploy.
    let prune = if interrupt::requested().is_some() {
        &[][..]
    } else {
        &plan.prune[..]
    };
    for w in prune_versions(aws, prune, &journal, opts.concurrency).await {
        crate::ui::warn(&w);
        warnings.push(w);
    }
    let retained = retained.into_inner().unwrap_or_default();
    Ok(Applied {
        urls: function_urls(&journal.snapshot()),
        plan,
        uploads,
        deployment: Some(record),
        retained,
        endpoint,
        shifting,
    })
}

/// The functions whose alias this deploy shifts gradually: a canary or linear
/// deployment, a version serving now, and a new one to shift to. Moved at once: a new
/// function, an alias gone or moved behind sls-rs's back, a rollback's pin and a bare
/// `--unpin`, and a function with provisioned concurrency or its auto scaling still
/// on the alias (not followed through a split yet).
fn shifts(
    service: &Service,
    plan: &Plan,
    state: &State,
    desired: &[model::Resource],
) -> Vec<shift::Shifting> {
    plan.changes
        .iter()
        .filter(|c| c.kind == Kind::Function && c.move_alias)
        .filter(|c| c.action != Action::Create && c.pinned.is_none())
        .filter(|c| !c.unpin || c.publish)
        .filter(|c| !c.drift.iter().any(|d| d == "alias live"))
        .filter(|c| {
            !state
                .resources
                .contains_key(&model::logical_id(Kind::ProvisionedScaling, &c.function))
        })
        .filter_map(|c| {
            let f = service.manifest.functions.get(&c.function)?;
            let d = service.manifest.deployment_of(f)?;
            let steps = shift::steps(d);
            let rec = state.resources.get(&c.id)?;
            if rec.provisioned.is_some() {
                return None;
            }
            let (from, to) = (rec.live.clone()?, rec.version.clone()?);
            if steps.is_empty() || from == to {
                return None;
            }
            let interval = d.interval.as_deref().unwrap_or("1m");
            let own: Vec<(String, model::AlarmSpec)> = desired
                .iter()
                .filter(|r| r.function == c.function)
                .filter_map(|r| match &r.spec {
                    Spec::Alarm(a) => Some((r.physical.clone(), a.clone())),
                    _ => None,
                })
                .collect();
            let mut alarms: Vec<String> = d.named_alarms().cloned().collect();
            alarms.extend(own.iter().map(|(name, _)| name.clone()));
            let interval =
                crate::manifest::parse_interval(interval).unwrap_or(Duration::from_secs(60));
            // One an earlier run began to this version (`--no-wait`, a kill) goes on.
            let resume = rec
                .shift
                .as_ref()
                .filter(|shift| shift.to == to)
                .and_then(|shift| shift::Resume::of(shift, &steps, interval));
            Some(shift::Shifting {
                id: c.id.clone(),
                function: c.function.clone(),
                physical: c.physical.clone(),
                from,
                to,
                steps,
                interval,
                alarms,
                own,
                resume,
            })
        })
        .collect()
}

/// The alarms of their own the manifest names for the functions this plan may shift (a
/// function with a version serving and a gradual strategy), each once: those of shifts
/// it would begin, and those of shifts an earlier run began (one in ALARM moves such a
/// shift back, rather than stopping the deploy).
fn guards(service: &Service, plan: &Plan, state: &State) -> (Vec<String>, Vec<String>) {
    let mut fresh = std::collections::BTreeSet::new();
    let mut resumed = std::collections::BTreeSet::new();
    for c in plan
        .changes
        .iter()
        .filter(|c| c.kind == Kind::Function && c.move_alias && c.action != Action::Create)
        .filter(|c| c.pinned.is_none() && (!c.unpin || c.publish))
        .filter(|c| !c.drift.iter().any(|d| d == "alias live"))
    {
        let Some(d) = service
            .manifest
            .functions
            .get(&c.function)
            .and_then(|f| service.manifest.deployment_of(f))
            .filter(|d| !shift::steps(d).is_empty())
        else {
            continue;
        };
        let begun = !c.publish
            && state
                .resources
                .get(&c.id)
                .is_some_and(|r| r.shift.is_some());
        let into = if begun { &mut resumed } else { &mut fresh };
        into.extend(d.named_alarms().cloned());
    }
    (fresh.into_iter().collect(), resumed.into_iter().collect())
}

/// How many deployments the state remembers.
fn history(service: &Service) -> usize {
    service
        .manifest
        .provider
        .deployment_history
        .map_or(state::DEFAULT_HISTORY, |n| n as usize)
}

/// moto numbers a new version after the count of versions it holds, so deleting old
/// ones makes it hand out a number again: on an emulator versions are kept, unless
/// `SLS_RS_EMULATOR_PRUNE=1` (for the test of pruning, which publishes nothing after).
fn prunes_versions(aws: &Aws) -> bool {
    !aws.emulates(cloud::Svc::Lambda)
        || std::env::var_os("SLS_RS_EMULATOR_PRUNE").is_some_and(|v| v == "1")
}

/// Deletes the versions the plan found unneeded and forgets them; returns warnings.
async fn prune_versions(
    aws: &Aws,
    prune: &[state::Prunable],
    journal: &Journal,
    concurrency: usize,
) -> Vec<String> {
    if prune.is_empty() {
        return vec![];
    }
    let results: Vec<(&state::Prunable, anyhow::Result<bool>)> = stream::iter(prune)
        .map(|p| async move {
            (
                p,
                lambda_function::delete_version(aws, &p.physical, &p.version).await,
            )
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut warnings = Vec::new();
    journal.update(|s| {
        for (p, result) in &results {
            match result {
                Ok(true) => {
                    if let Some(rec) = s
                        .resources
                        .get_mut(&model::logical_id(Kind::Function, &p.function))
                    {
                        rec.versions.retain(|v| v != &p.version);
                    }
                }
                Ok(false) => warnings.push(format!(
                    "version {} of {} is kept: an alias still points at it",
                    p.version, p.physical
                )),
                Err(e) => warnings.push(format!("{e:#}")),
            }
        }
    });
    if let Err(e) = journal.save(aws).await {
        warnings.push(format!("could not record the deleted versions: {e:#}"));
    }
    warnings
}

/// The URL of an HTTP API this deploy made.
async fn new_endpoint(aws: &Aws, desired: &[Resource]) -> anyhow::Result<Option<String>> {
    match desired.iter().find(|r| r.kind == Kind::HttpApi) {
        Some(api) => Ok(http_api::read(aws, &api.physical)
            .await?
            .map(|a| a.endpoint)),
        None => Ok(None),
    }
}

/// Deletion steps: each tier waits for the tiers before it (triggers, then
/// what runs, then roles and logs, then data).
fn deletion_steps<'a>(
    aws: &'a Aws,
    gone: &'a [(String, Recorded)],
    force: bool,
    journal: &'a Journal,
    retained: &'a std::sync::Mutex<Vec<String>>,
) -> Vec<dag::Step<'a>> {
    gone.iter()
        .map(|(id, rec)| {
            let deps = gone
                .iter()
                .filter(|(_, other)| other.kind.delete_tier() < rec.kind.delete_tier())
                .map(|(other, _)| other.clone())
                .collect();
            dag::Step {
                id: id.clone(),
                deps,
                run: Box::pin(delete_resource(aws, id, rec, force, journal, retained))
                    as BoxFuture<_>,
            }
        })
        .collect()
}

fn failed(what: &str, failures: Vec<(String, anyhow::Error)>) -> anyhow::Error {
    anyhow::Error::new(crate::error::StepFailures {
        what: what.to_string(),
        failures,
    })
}

fn report_step(progress: Progress<'_>, plan: &Plan, id: &str, took: Duration) {
    if let Some(c) = plan.changes.iter().find(|c| c.id == id) {
        let verb = match c.action {
            Action::Create => "created",
            Action::Update => "updated",
            Action::Delete => "deleted",
            Action::Unchanged => "published",
        };
        progress(&format!(
            "  {} {verb} {} {} ({})",
            c.action.symbol(),
            c.kind.noun(),
            c.physical,
            crate::build::seconds(took)
        ));
    }
}

/// Marks the deployment failed; a failure to save that is a warning, so the
/// deploy's own error stays the one reported.
async fn close_failed(aws: &Aws, journal: &Journal) {
    if let Err(e) = finish(aws, journal, "failed").await {
        crate::ui::warn(&format!(
            "could not record the failed deployment in the state: {e:#}"
        ));
    }
}

/// Closes the deployment record: the live versions of every function and what changed.
pub(crate) async fn finish(
    aws: &Aws,
    journal: &Journal,
    status: &str,
) -> anyhow::Result<DeploymentRecord> {
    journal.update(|s| {
        let functions: BTreeMap<String, String> = s
            .resources
            .iter()
            .filter(|(id, _)| plan::replaced_of(id).is_none())
            .map(|(_, r)| r)
            .filter(|r| r.kind == Kind::Function)
            .filter_map(|r| Some((r.function.clone(), r.live.clone()?)))
            .collect();
        let ids: Vec<String> = s.deployments.iter().map(|d| d.id.clone()).collect();
        s.policies.prune(&ids);
        if let Some(d) = s.deployments.last_mut() {
            d.status = status.into();
            d.finished = Some(now());
            // Closed again (a `--no-wait` deployment whose shifts ended): what it changed
            // then and what its shifts changed since.
            let mut changed: std::collections::BTreeSet<String> =
                std::mem::take(&mut d.changed).into_iter().collect();
            changed.extend(
                functions
                    .iter()
                    .filter(|(f, v)| d.functions.get(*f) != Some(v))
                    .map(|(f, _)| f.clone()),
            );
            d.changed = changed.into_iter().collect();
            d.functions = functions;
        }
    });
    journal.save(aws).await?;
    Ok(journal
        .snapshot()
        .deployments
        .last()
        .cloned()
        .expect("a deployment was recorded"))
}

/// Uploads the zips that new or changed code needs, each once.
async fn upload_artifacts(
    aws: &Aws,
    bucket: &str,
    desired: &[Resource],
    plan: &Plan,
    concurrency: usize,
) -> anyhow::Result<usize> {
    let mut needed: BTreeMap<&str, &Path> = BTreeMap::new();
    for c in &plan.changes {
        let code_changes = c.action == Action::Create
            || c.fields
                .iter()
                .any(|f| f.field == "code" || f.field == "architecture");
        if c.kind != Kind::Function || !code_changes {
            continue;
        }
        if let Some(Spec::Function(f)) = desired.iter().find(|r| r.id == c.id).map(|r| &r.spec) {
            needed.insert(&f.code.s3_key, &f.code.local_path);
        }
    }
    let keys: std::collections::BTreeSet<&str> = needed.keys().copied().collect();
    let listed = deployment_bucket::existing_artifacts(aws, bucket, &keys).await?;
    if let Some(present) = &listed {
        needed.retain(|key, _| !present.contains(*key));
    }
    let uploads = stream::iter(needed)
        .map(|(key, path)| {
            deployment_bucket::upload_artifact(aws, bucket, key, path, listed.is_some())
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<bool>>()
        .await?;
    Ok(uploads.into_iter().filter(|u| *u).count())
}

/// Tags the state says sls-rs set and the manifest no longer has.
fn dropped_tags(c: &Change) -> Vec<String> {
    c.fields
        .iter()
        .filter(|f| f.to.is_none())
        .filter_map(|f| f.field.strip_prefix("tags."))
        .map(str::to_string)
        .collect()
}

fn changed(c: &Change, prefix: &str) -> bool {
    c.fields.iter().any(|f| f.field.starts_with(prefix))
}

/// Creates or updates one resource, records it, saves the state.
async fn apply_change(
    aws: &Aws,
    bucket: &str,
    r: &Resource,
    c: &Change,
    journal: &Journal,
    in_force: &policy::Policies,
) -> anyhow::Result<()> {
    let mut version = None;
    let arn = match &r.spec {
        Spec::Role(spec) => match c.action {
            Action::Create => iam_role::create(aws, &r.physical, spec).await?,
            _ => {
                if changed(c, "trustPolicy") {
                    iam_role::update_trust(aws, &r.physical, spec).await?;
                }
                if changed(c, "policy") {
                    // The old versions keep what they use until cutover; narrowed after it.
                    let (doc, warning) =
                        policy::while_old_versions_serve(in_force.get(&r.physical), &spec.policy);
                    if let Some(w) = warning {
                        crate::ui::warn(&format!("IAM role {}: {w}", r.physical));
                    }
                    iam_role::put_policy(aws, &r.physical, &doc).await?;
                }
                if changed(c, "tags.") {
                    iam_role::set_tags(aws, &r.physical, spec, &dropped_tags(c)).await?;
                }
                format!(
                    "{}:iam::{}:role/{}",
                    aws.partition(),
                    aws.account,
                    r.physical
                )
            }
        },
        Spec::LogGroup(spec) => {
            match c.action {
                Action::Create => log_group::create(aws, &r.physical, spec).await?,
                Action::Update => {
                    log_group::set_retention(aws, &r.physical, spec.retention_days).await?
                }
                _ => {}
            }
            format!(
                "{}:logs:{}:{}:log-group:{}",
                aws.partition(),
                aws.target.region,
                aws.account,
                r.physical
            )
        }
        Spec::Function(spec) => {
            let (arn, published) = apply_function(aws, bucket, &r.physical, spec, c).await?;
            if c.publish {
                version = Some(match published {
                    Some(v) => v,
                    None => lambda_function::publish_version(aws, &r.physical).await?,
                });
            }
            arn
        }
        _ => apply_service_resource(aws, r, c, journal).await?,
    };
    // A permission naming the HTTP API learns its id once the API exists.
    let mut r = r.clone();
    if let Some(id) = recorded_api_id(journal) {
        fill_api_id(std::slice::from_mut(&mut r), &id);
    }
    let props = model::recordable(r.props());
    let r = &r;
    journal.update(|s| {
        let previous = s.resources.get(&r.id).cloned();
        let versions = match &version {
            Some(v) => state::with_version(s, previous.as_ref(), v),
            None => previous
                .as_ref()
                .map(|p| p.versions.clone())
                .unwrap_or_default(),
        };
        let entry = Recorded {
            kind: r.kind,
            function: r.function.clone(),
            physical: r.physical.clone(),
            arn,
            props,
            version: version.or_else(|| previous.as_ref().and_then(|p| p.version.clone())),
            live: previous.as_ref().and_then(|p| p.live.clone()),
            pinned: previous.as_ref().is_some_and(|p| p.pinned),
            // A split a killed run left stays recorded until the alias moves.
            shift: previous.as_ref().and_then(|p| p.shift.clone()),
            provisioned: previous.and_then(|p| p.provisioned),
            delete_with_data: r.delete_with_data,
            versions,
        };
        s.resources.insert(r.id.clone(), entry);
    });
    journal.save(aws).await
}

/// The function's recursive loop setting; an emulator without the API is warned of.
async fn set_recursion(aws: &Aws, name: &str, spec: &FunctionSpec) -> anyhow::Result<()> {
    if !lambda_function::set_recursion(aws, name, spec.recursive_loop).await? {
        crate::ui::warn(&format!(
            "recursiveLoop of {name} skipped: the endpoint {} does not implement it",
            aws.endpoints.of(cloud::Svc::Lambda).unwrap_or_default()
        ));
    }
    Ok(())
}

async fn apply_function(
    aws: &Aws,
    bucket: &str,
    name: &str,
    spec: &FunctionSpec,
    c: &Change,
) -> anyhow::Result<(String, Option<String>)> {
    if c.action == Action::Create {
        // Published with its creation (reserved concurrency is not part of a version).
        let created = lambda_function::create(aws, name, spec, bucket, c.publish).await?;
        if spec.reserved_concurrency.is_some() {
            lambda_function::set_reserved_concurrency(aws, name, spec.reserved_concurrency).await?;
        }
        if spec.recursive_loop != model::RECURSION_DEFAULT {
            set_recursion(aws, name, spec).await?;
        }
        return Ok(created);
    }
    let config_fields = [
        "memorySize",
        "timeout",
        "role",
        "tracing",
        "description",
        "ephemeralStorageSize",
        "layers",
        "logFormat",
        "applicationLogLevel",
        "systemLogLevel",
        "vpc.",
        "env.",
    ];
    if config_fields.iter().any(|f| changed(c, f)) {
        lambda_function::update_configuration(aws, name, spec).await?;
    }
    if changed(c, "code") || changed(c, "architecture") {
        lambda_function::update_code(aws, name, spec, bucket).await?;
    }
    if changed(c, "reservedConcurrency") {
        lambda_function::set_reserved_concurrency(aws, name, spec.reserved_concurrency).await?;
    }
    if changed(c, "recursiveLoop") {
        set_recursion(aws, name, spec).await?;
    }
    let arn = format!(
        "{}:lambda:{}:{}:function:{name}",
        aws.partition(),
        aws.target.region,
        aws.account
    );
    if changed(c, "tags.") {
        lambda_function::set_tags(aws, &arn, &spec.tags, &dropped_tags(c)).await?;
    }
    Ok((arn, None))
}

/// The HTTP API's id as the state records it.
fn recorded_api_id(journal: &Journal) -> Option<String> {
    journal
        .snapshot()
        .resources
        .values()
        .find(|r| r.kind == Kind::HttpApi)
        .and_then(|r| http_api::id_of(&r.arn).map(str::to_string))
}

/// Creates or updates one of the service's resources or triggers; returns its ARN (or id).
async fn apply_service_resource(
    aws: &Aws,
    r: &Resource,
    c: &Change,
    journal: &Journal,
) -> anyhow::Result<String> {
    let create = c.action == Action::Create;
    let fields = changed_fields(c);
    let name = r.physical.as_str();
    let api_id = || {
        recorded_api_id(journal)
            .ok_or_else(|| anyhow::anyhow!("the HTTP API of {name} is not recorded as created"))
    };
    Ok(match &r.spec {
        Spec::Table(spec) if create => dynamodb_table::create(aws, name, spec).await?,
        Spec::Table(spec) => {
            dynamodb_table::update(aws, name, spec, &fields).await?;
            format!(
                "{}:dynamodb:{}:{}:table/{name}",
                aws.partition(),
                aws.target.region,
                aws.account
            )
        }
        Spec::Bucket(spec) if create => s3_bucket::create(aws, name, spec).await?,
        Spec::Bucket(spec) => {
            s3_bucket::update(aws, name, spec, &fields).await?;
            format!("{}:s3:::{name}", aws.partition())
        }
        Spec::Queue(spec) if create => sqs_queue::create(aws, name, spec).await?,
        Spec::Queue(spec) => {
            sqs_queue::update(aws, name, spec, &fields).await?;
            sqs_queue::arn(aws, name)
        }
        Spec::StateMachine(spec) if create => state_machine::create(aws, name, spec).await?,
        Spec::StateMachine(spec) => {
            state_machine::update(aws, name, spec, &fields).await?;
            state_machine::arn(aws, name)
        }
        Spec::HttpApi(spec) if create => http_api::create(aws, name, spec).await?,
        Spec::HttpApi(spec) => {
            let live = http_api::read(aws, name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("HTTP API ({name}) does not exist"))?;
            http_api::update(aws, name, &live.id, spec, &fields).await?;
            http_api::arn(aws, &live.id)
        }
        Spec::Route(spec) if create => http_api::create_route(aws, &api_id()?, spec).await?,
        Spec::Route(spec) => {
            let api = api_id()?;
            let recorded = journal
                .snapshot()
                .resources
                .get(&r.id)
                .and_then(|rec| http_api::route_id_of(&rec.arn).map(str::to_string));
            let route = if fields.is_empty() {
                http_api::route_id(aws, &api, &spec.route_key, recorded.as_deref()).await?
            } else {
                let (route, _) =
                    http_api::update_route(aws, &api, spec, recorded.as_deref(), None).await?;
                Some(route)
            };
            let route = route.ok_or_else(|| anyhow::anyhow!("HTTP route ({name}) vanished"))?;
            http_api::route_arn(aws, &api, &route)
        }
        Spec::Permission(spec) => {
            let mut spec = spec.clone();
            if spec.source_arn.contains(model::HTTP_API_ID) {
                spec.source_arn = spec.source_arn.replace(model::HTTP_API_ID, &api_id()?);
            }
            if create || !fields.is_empty() {
                lambda_permission::put(aws, name, &spec).await?;
            }
            name.to_string()
        }
        Spec::EventSourceMapping(spec) => {
            let uuid = match event_source_mapping::read(aws, spec).await? {
                // A mapping's source and starting position are fixed: a change is a new mapping.
                Some(live)
                    if !create
                        && !live.deleting()
                        && (fields.contains_key("source")
                            || fields.contains_key("startingPosition")) =>
                {
                    event_source_mapping::delete_and_wait(aws, &live.uuid).await?;
                    event_source_mapping::create(aws, spec).await?
                }
                Some(live) if !create && !live.deleting() => {
                    if !fields.is_empty() {
                        event_source_mapping::update(aws, &live.uuid, spec).await?;
                    }
                    live.uuid
                }
                // None, or one being deleted: create waits it out.
                _ => event_source_mapping::create(aws, spec).await?,
            };
            format!(
                "{}:lambda:{}:{}:event-source-mapping:{uuid}",
                aws.partition(),
                aws.target.region,
                aws.account
            )
        }
        Spec::Rule(spec) => {
            schedule_rule::put(aws, name, spec, (!create).then_some(&fields)).await?
        }
        Spec::BucketNotification(spec) => {
            if create || !fields.is_empty() {
                bucket_notification::put(aws, name, spec).await?;
            }
            format!("{}:s3:::{name}", aws.partition())
        }
        Spec::Schedule(spec) if create || !fields.is_empty() => {
            scheduler::put(aws, name, spec, create).await?
        }
        Spec::Schedule(_) => scheduler::arn(aws, name),
        Spec::ProvisionedScaling(spec) => provisioned_scaling::put(aws, spec).await?,
        Spec::Alarm(spec) => {
            // An update keeps the version a shift pointed it at (one resumed later is
            // not pointed again).
            let version = if create {
                None
            } else {
                alarms::watched(aws, name).await?
            };
            alarms::put(
                aws,
                name,
                spec,
                version.as_deref(),
                (!create).then_some(&fields),
            )
            .await?
        }
        Spec::FunctionUrl(spec) => match function_url::read(aws, name).await? {
            Some(live) if !create && fields.is_empty() => live.url,
            _ => function_url::put(aws, spec, create).await?,
        },
        Spec::Role(_) | Spec::LogGroup(_) | Spec::Function(_) => {
            unreachable!("roles, log groups and functions are applied by apply_change")
        }
    })
}

/// Deletes one resource and forgets it; a data resource that must be kept is only forgotten.
///
/// A table, a bucket holding objects or a queue holding messages goes only when its
/// `deletionPolicy: delete` or `--force` allows it. Without, tables are kept even when
/// empty (an empty table is still a schema someone relies on), and buckets and queues
/// are asked to go only if empty: the adapter makes the emptiness check part of the
/// delete itself, so data that arrives after the plan is never destroyed.
async fn delete_resource(
    aws: &Aws,
    id: &str,
    rec: &Recorded,
    force: bool,
    journal: &Journal,
    retained: &std::sync::Mutex<Vec<String>>,
) -> anyhow::Result<()> {
    let physical = rec.physical.as_str();
    // A role without the region tag dates from before role names carried the region:
    // IAM is global, so the stage's deployment in another region may run under it
    // (its policy only names the region that deployed last). It is never deleted here.
    // The state's record of the role answers that without a request, when it has the tags.
    let region_tag = format!("tags.{}", model::TAG_REGION);
    if rec.kind == Kind::Role && !rec.props.contains_key(&region_tag) {
        if let Some(tags) = iam_role::read_tags(aws, physical).await? {
            if !tags.contains_key(model::TAG_REGION) {
                retained.lock().expect("retained list").push(format!(
                    "IAM role {physical} (it predates region-unique role names, so this stage's deployment in another region may still run under it; delete it once every region is deployed with this sls-rs)"
                ));
                journal.update(|s| {
                    s.resources.remove(id);
                });
                return journal.save(aws).await;
            }
        }
    }
    let allowed = force || rec.delete_with_data;
    let deleted = match rec.kind {
        Kind::Table if !allowed => cloud::Deleted::KeptNotEmpty,
        Kind::Table => {
            dynamodb_table::delete(aws, physical).await?;
            cloud::Deleted::Gone
        }
        Kind::Bucket => s3_bucket::delete(aws, physical, allowed).await?,
        Kind::Queue => sqs_queue::delete(aws, physical, allowed).await?,
        _ => {
            delete_other(aws, rec).await?;
            cloud::Deleted::Gone
        }
    };
    if deleted == cloud::Deleted::KeptNotEmpty {
        retained.lock().expect("retained list").push(format!(
            "{} {physical} (it holds data; `deletionPolicy: delete` or `--force` deletes it)",
            rec.kind.noun()
        ));
    }
    journal.update(|s| {
        s.resources.remove(id);
    });
    journal.save(aws).await
}

/// Deletes a resource that holds no data.
async fn delete_other(aws: &Aws, rec: &Recorded) -> anyhow::Result<()> {
    let physical = rec.physical.as_str();
    match rec.kind {
        Kind::Function => lambda_function::delete(aws, physical).await?,
        Kind::Role => iam_role::delete(aws, physical).await?,
        Kind::LogGroup => log_group::delete(aws, physical).await?,
        Kind::StateMachine => state_machine::delete(aws, physical).await?,
        Kind::HttpApi => {
            if let Some(api) = http_api::id_of(&rec.arn) {
                http_api::delete(aws, physical, api).await?;
            }
        }
        Kind::Route => http_api::delete_route(aws, &rec.arn, physical).await?,
        Kind::Permission => lambda_permission::delete(aws, physical).await?,
        Kind::EventSourceMapping => {
            event_source_mapping::delete(aws, live::mapping_uuid(&rec.arn)).await?
        }
        Kind::Rule => schedule_rule::delete(aws, physical).await?,
        Kind::BucketNotification => bucket_notification::delete(aws, physical).await?,
        Kind::FunctionUrl => function_url::delete(aws, physical).await?,
        Kind::Schedule => scheduler::delete(aws, physical).await?,
        Kind::ProvisionedScaling => provisioned_scaling::delete(aws, physical).await?,
        Kind::Alarm => alarms::delete(aws, physical).await?,
        Kind::Table | Kind::Bucket | Kind::Queue => {
            unreachable!("data resources are deleted by delete_resource")
        }
    }
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionInfo {
    pub name: String,
    pub physical_name: String,
    pub arn: String,
    /// The version `live` points at, as AWS says.
    pub live_version: Option<String>,
    pub latest_version: Option<String>,
    pub memory_size: Option<String>,
    pub timeout: Option<String>,
    /// A traffic shift the state records in progress: the version taking over and its share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift: Option<state::Shift>,
    /// The other versions `live` routes to, as AWS says, with their share in percent.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub split: BTreeMap<String, u32>,
    /// Provisioned concurrency on `live`, as AWS says (instances requested).
    pub provisioned_concurrency: Option<u32>,
    /// `READY`, `IN_PROGRESS (n of m allocated)`, `FAILED: <AWS's reason>`, or why it is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioned_status: Option<String>,
    /// Its function URL, as AWS says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub deployed: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    pub service: String,
    pub stage: String,
    pub region: String,
    pub account: String,
    pub deployment_bucket: String,
    pub functions: Vec<FunctionInfo>,
    /// Tables, buckets, queues, state machines and the HTTP API, as the state records them.
    pub resources: Vec<ResourceInfo>,
    /// The HTTP API's URL, when the service has one.
    pub endpoint: Option<String>,
    /// As [`DeployReport::endpoint_not_served`].
    pub endpoint_not_served: bool,
    /// As [`DeployReport::urls_not_served`].
    pub urls_not_served: bool,
    pub last_deployment: Option<DeploymentRecord>,
    pub locked_by: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo {
    pub kind: Kind,
    /// The name in serverless.yaml.
    pub name: String,
    pub physical_name: String,
    pub arn: String,
}

/// What is deployed, from the state and read back live.
pub async fn info(service: &Service) -> anyhow::Result<Info> {
    let (aws, bucket) = connect(service).await?;
    let svc = &service.manifest.service;
    let state = state::load(&aws, &bucket, svc, &service.stage)
        .await?
        .unwrap_or_else(|| new_state(service, &aws));
    let locked_by = lock::read(&aws, &bucket, svc, &service.stage)
        .await?
        .map(|seen| seen.holder.describe());
    let reads = service.manifest.functions.keys().map(|key| {
        let (aws, state) = (&aws, &state);
        async move {
            let physical = service.function_name(key);
            let rec = state.resources.get(&model::logical_id(Kind::Function, key));
            let live = lambda_function::read(aws, &physical).await?;
            // The split as the alias says (a run killed between its state save and the
            // alias update leaves the state ahead of it).
            let (alias, split) = if live.is_some() {
                match lambda_function::read_alias_routing(aws, &physical, LIVE_ALIAS).await? {
                    Some((version, weights)) => (Some(version), weights),
                    None => (None, BTreeMap::new()),
                }
            } else {
                (None, BTreeMap::new())
            };
            let url = if state
                .resources
                .contains_key(&model::logical_id(Kind::FunctionUrl, key))
            {
                function_url::read(aws, &physical).await?.map(|u| u.url)
            } else {
                None
            };
            let provisioned = if alias.is_some() {
                lambda_function::read_provisioned_concurrency(aws, &physical, LIVE_ALIAS).await?
            } else {
                lambda_function::Provisioned::Off
            };
            let (provisioned_concurrency, provisioned_status) = match provisioned {
                lambda_function::Provisioned::Off => (None, None),
                lambda_function::Provisioned::Unsupported => (
                    None,
                    Some("unknown: the endpoint does not implement provisioned concurrency".into()),
                ),
                lambda_function::Provisioned::On {
                    requested,
                    allocated,
                    status,
                    reason,
                } => (
                    Some(requested),
                    Some(match status {
                        lambda_function::ProvisionedConcurrencyStatusEnum::Failed => format!(
                            "FAILED: {}",
                            reason.as_deref().unwrap_or("AWS gave no reason")
                        ),
                        lambda_function::ProvisionedConcurrencyStatusEnum::Ready => "READY".into(),
                        other => {
                            format!("{} ({allocated} of {requested} allocated)", other.as_str())
                        }
                    }),
                ),
            };
            anyhow::Ok(FunctionInfo {
                name: key.clone(),
                physical_name: physical,
                arn: live
                    .as_ref()
                    .map(|l| format!("{}:{LIVE_ALIAS}", l.arn))
                    .unwrap_or_default(),
                live_version: alias,
                latest_version: rec.and_then(|r| r.version.clone()),
                shift: rec.and_then(|r| r.shift.clone()),
                split: split
                    .into_iter()
                    .map(|(version, weight)| (version, (weight * 100.0).round() as u32))
                    .collect(),
                memory_size: live
                    .as_ref()
                    .and_then(|l| l.props.get("memorySize").cloned()),
                timeout: live.as_ref().and_then(|l| l.props.get("timeout").cloned()),
                provisioned_concurrency,
                provisioned_status,
                url,
                deployed: live.is_some(),
            })
        }
    });
    let functions = futures::future::try_join_all(reads).await?;
    let resources: Vec<ResourceInfo> = state
        .resources
        .iter()
        .filter(|(_, r)| {
            matches!(
                r.kind,
                Kind::Table | Kind::Bucket | Kind::Queue | Kind::StateMachine | Kind::HttpApi
            )
        })
        .map(|(id, r)| ResourceInfo {
            kind: r.kind,
            name: id
                .split_once('/')
                .map_or(id.as_str(), |(_, n)| n)
                .to_string(),
            physical_name: r.physical.clone(),
            arn: r.arn.clone(),
        })
        .collect();
    let endpoint = match resources.iter().find(|r| r.kind == Kind::HttpApi) {
        Some(api) => http_api::read(&aws, &api.physical_name)
            .await?
            .map(|a| a.endpoint),
        None => None,
    };
    Ok(Info {
        resources,
        endpoint_not_served: endpoint
            .as_deref()
            .is_some_and(|url| http_api::url_not_served(&aws, url)),
        endpoint,
        urls_not_served: aws.emulates(cloud::Svc::Lambda),
        service: svc.clone(),
        stage: service.stage.clone(),
        region: aws.target.region.clone(),
        account: aws.account.clone(),
        deployment_bucket: bucket,
        functions,
        last_deployment: state.deployments.last().cloned(),
        locked_by,
    })
}

/// Removes the stage's lock; returns whose it was. A lock renewed recently
/// belongs to a run that is most likely alive: that takes `force`.
pub async fn unlock(service: &Service, force: bool) -> anyhow::Result<Option<lock::Holder>> {
    let (aws, bucket) = connect(service).await?;
    let (svc, stage) = (&service.manifest.service, &service.stage);
    let Some(seen) = lock::read(&aws, &bucket, svc, stage).await? else {
        return Ok(None);
    };
    if seen.is_alive() && !force {
        return Err(crate::error::UsageError::new(format!(
            "{svc}/{stage} is locked by {}, renewed {} ago: that run looks alive, and removing its lock lets another run apply at the same time",
            seen.holder.describe(),
            humantime::format_duration(seen.age)
        ))
        .with_help("wait for it, or if you know it is gone, run `sls-rs unlock --force`")
        .into());
    }
    if !lock::remove(&aws, &bucket, svc, stage, &seen).await? {
        anyhow::bail!("the lock of {svc}/{stage} changed while it was being removed (another run took it); nothing was removed");
    }
    Ok(Some(seen.holder))
}

//! What sls-rs owns for one service and stage, and the history of its
//! deployments, kept as one JSON object in the deployment bucket. A PUT is
//! atomic and the bucket is versioned, so a process killed at any point leaves
//! the previous or the next state, never a torn one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::cloud::state_store::{self, Expect, Outcome};
use crate::cloud::Aws;
use crate::model::{Kind, LogicalId, Props};

pub const STATE_FORMAT: u32 = 1;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub format: u32,
    pub service: String,
    pub stage: String,
    pub region: String,
    pub account: String,
    // No salt or key for environment fingerprints: the state keeps none (see `model::EnvKey`);
    // the `salt` of older states is dropped when they are next written.
    /// The run that wrote this state last (`who@host (pid, command)`), named when
    /// another run's write is refused because this one changed the state meanwhile.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub written_by: String,
    /// Random, one per run: a state carrying this run's token was written by this run,
    /// even when the answer to that write never arrived.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub writer_token: String,
    pub resources: BTreeMap<LogicalId, Recorded>,
    pub deployments: Vec<DeploymentRecord>,
    /// The role policies each deployment's versions run with (see `engine::policy`).
    #[serde(
        default,
        skip_serializing_if = "super::policy::PolicyHistory::is_empty"
    )]
    pub policies: super::policy::PolicyHistory,
}

/// One resource sls-rs created, as it was when last written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    pub kind: Kind,
    pub function: String,
    pub physical: String,
    #[serde(default)]
    pub arn: String,
    pub props: Props,
    /// Functions: the newest published version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Functions: the version the `live` alias points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
    /// Functions: provisioned concurrency on the alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<u32>,
    /// Functions: `rollback` moved `live` back to the version `live` records; deploys leave
    /// it there until the function's code or configuration changes, or `--unpin`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
    /// Data resources: `deletionPolicy: delete` (else deletion keeps them unless forced).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_with_data: bool,
    /// Functions: every version sls-rs published and has not deleted yet, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Functions: a traffic shift in progress: `live` keeps its version and sends a
    /// share of the invocations to another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<Shift>,
}

/// A gradual cutover under way (`deployment: { strategy: canary | linear }`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Shift {
    /// The version taking the traffic over.
    pub to: String,
    /// Its share now, in percent.
    pub percent: u32,
    /// Every step so far: the share and when it was set (RFC 3339).
    pub steps: Vec<ShiftStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ShiftStep {
    pub percent: u32,
    pub at: String,
}

/// The status of a deployment `--no-wait` left shifting traffic: never a rollback
/// target; closed as succeeded (or failed) by the `--continue` that ends its shifts,
/// or [`SUPERSEDED`] once another deployment begins.
pub const SHIFTING: &str = "shifting";

/// A [`SHIFTING`] deployment another deployment (or rollback) took over from.
pub const SUPERSEDED: &str = "superseded";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    pub id: String,
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    pub who: String,
    pub command: String,
    /// `succeeded`, `failed` (aliases not moved), or `in progress` (the process died).
    pub status: String,
    /// Function → the version its `live` alias points at after this deployment.
    pub functions: BTreeMap<String, String>,
    /// The functions that got a new version.
    pub changed: Vec<String>,
}

/// `n` random bytes from the operating system, hex. Where it has none to give,
/// a hash of the time, the process and the thread: unique (all a run token
/// needs), if not secret.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if getrandom::getrandom(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = format!(
            "{nanos} {} {:?} {:p}",
            std::process::id(),
            std::thread::current().id(),
            &bytes
        );
        let digest = crate::build::sha256_hex(seed.as_bytes());
        return digest.chars().cycle().take(n * 2).collect();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
impl DeploymentRecord {
    /// A record for tests: its id, status and the version of each function.
    pub fn sample(id: &str, status: &str, functions: &[(&str, &str)]) -> Self {
        DeploymentRecord {
            id: id.into(),
            started: String::new(),
            finished: None,
            who: String::new(),
            command: String::new(),
            status: status.into(),
            functions: functions
                .iter()
                .map(|(f, v)| (f.to_string(), v.to_string()))
                .collect(),
            changed: vec![],
        }
    }
}

/// Deployments the state remembers unless `provider.deploymentHistory` says otherwise.
pub const DEFAULT_HISTORY: usize = 50;

/// A Lambda version nothing needs any more: deleted after a successful deploy.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Prunable {
    pub function: String,
    pub physical: String,
    pub version: String,
}

impl State {
    /// Adds a deployment record, forgetting the oldest beyond `keep`.
    pub fn remember(&mut self, record: DeploymentRecord, keep: usize) {
        // A deployment `--no-wait` left shifting is over once another begins: that one
        // takes the aliases on (resuming the shift, or moving them elsewhere).
        for d in &mut self.deployments {
            if d.status == SHIFTING {
                d.status = SUPERSEDED.into();
            }
        }
        self.deployments.push(record);
        let excess = self.deployments.len().saturating_sub(keep.max(1));
        self.deployments.drain(..excess);
    }

    /// The versions sls-rs published that no alias points at (provisioned concurrency
    /// is on the alias), that are no function's newest, and that none of the
    /// deployments kept after one more is remembered (the last `keep - 1`) records:
    /// nothing can roll back to them. Lambda's 75 GB code storage per region would
    /// otherwise fill with every version ever published.
    pub fn prunable(&self, keep: usize) -> Vec<Prunable> {
        let kept = &self.deployments[self.deployments.len().saturating_sub(keep.max(1) - 1)..];
        let mut out = Vec::new();
        // The old half of a replaced function goes with its function in the delete phase.
        let functions = self
            .resources
            .iter()
            .filter(|(id, r)| r.kind == Kind::Function && super::plan::replaced_of(id).is_none())
            .map(|(_, r)| r);
        for rec in functions {
            let needed = |v: &String| {
                rec.live.as_ref() == Some(v)
                    || rec.version.as_ref() == Some(v)
                    || kept
                        .iter()
                        .any(|d| d.functions.get(&rec.function) == Some(v))
            };
            out.extend(
                rec.versions
                    .iter()
                    .filter(|v| !needed(v))
                    .map(|v| Prunable {
                        function: rec.function.clone(),
                        physical: rec.physical.clone(),
                        version: v.clone(),
                    }),
            );
        }
        out
    }
}

/// The versions a function record knows after publishing `new`. A state written
/// before versions were tracked learns the ones its history and aliases name.
pub fn with_version(state: &State, previous: Option<&Recorded>, new: &str) -> Vec<String> {
    let mut versions = previous.map(|p| p.versions.clone()).unwrap_or_default();
    if versions.is_empty() {
        if let Some(p) = previous {
            let named = state
                .deployments
                .iter()
                .filter_map(|d| d.functions.get(&p.function))
                .chain(p.live.iter())
                .chain(p.version.iter());
            for v in named {
                if !versions.contains(v) {
                    versions.push(v.clone());
                }
            }
            versions.sort_by_key(|v| v.parse::<u64>().unwrap_or(u64::MAX));
        }
    }
    if !versions.iter().any(|v| v == new) {
        versions.push(new.to_string());
    }
    versions
}

/// Where a service's state and lock live in the deployment bucket.
pub fn state_key(service: &str, stage: &str) -> String {
    format!("services/{service}/{stage}/state.json")
}

pub async fn load(
    aws: &Aws,
    bucket: &str,
    service: &str,
    stage: &str,
) -> anyhow::Result<Option<State>> {
    Ok(load_for_update(aws, bucket, service, stage)
        .await?
        .map(|(state, _)| state))
}

/// The state and the ETag a later write must match (`None`: there is no state yet).
pub async fn load_for_update(
    aws: &Aws,
    bucket: &str,
    service: &str,
    stage: &str,
) -> anyhow::Result<Option<(State, String)>> {
    let key = state_key(service, stage);
    let Some(object) = state_store::get(aws, bucket, &key).await? else {
        return Ok(None);
    };
    let state = parse(&object.bytes, bucket, &key)?;
    Ok(Some((state, object.etag)))
}

fn parse(bytes: &[u8], bucket: &str, key: &str) -> anyhow::Result<State> {
    let state: State = serde_json::from_slice(bytes)
        .with_context(|| format!("s3://{bucket}/{key} is not a state sls-rs can read"))?;
    if state.format > STATE_FORMAT {
        anyhow::bail!(
            "s3://{bucket}/{key} was written by a newer sls-rs (state format {}); upgrade sls-rs",
            state.format
        );
    }
    Ok(state)
}

/// The state being changed by a run, saved after every completed step.
/// Saves are serialized and coalesced: a step that completes while a save is
/// in flight is written by the next save, so N parallel steps cost at most N
/// writes and usually far fewer. Each write replaces only the version this run
/// read or wrote (`If-Match`), so two writers can never lose or resurrect each
/// other's records: the second one's save fails, naming the first.
#[derive(Clone)]
pub struct Journal {
    state: Arc<Mutex<State>>,
    changes: Arc<AtomicU64>,
    saved: Arc<AtomicU64>,
    /// The ETag of the state object as this run last saw it; `None`: not written yet.
    io: Arc<tokio::sync::Mutex<Option<String>>>,
    bucket: String,
    key: String,
}

/// Another run wrote the state after this run read it.
#[derive(Debug)]
pub struct StateConflict {
    pub key: String,
    pub other: Option<String>,
}

impl std::fmt::Display for StateConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = match &self.other {
            Some(w) if !w.is_empty() => format!("by {w}"),
            Some(_) => "by another run".to_string(),
            None => "(it was deleted)".to_string(),
        };
        write!(f, "the state {} was changed {who} after this run read it; this run stopped so that neither loses the other's records\n  = help: check that run's result (`sls-rs deployments`), then run this command again", self.key)
    }
}

impl std::error::Error for StateConflict {}

impl Journal {
    /// `etag`: the version `state` was read from (`None` for a state never written).
    pub fn new(mut state: State, bucket: &str, etag: Option<String>, writer: &str) -> Self {
        let key = state_key(&state.service, &state.stage);
        state.written_by = writer.to_string();
        state.writer_token = random_hex(16);
        Journal {
            state: Arc::new(Mutex::new(state)),
            changes: Arc::new(AtomicU64::new(0)),
            saved: Arc::new(AtomicU64::new(0)),
            io: Arc::new(tokio::sync::Mutex::new(etag)),
            bucket: bucket.to_string(),
            key,
        }
    }

    pub fn snapshot(&self) -> State {
        self.state.lock().expect("state lock").clone()
    }

    /// Applies a change in memory; `save` makes it durable.
    pub fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().expect("state lock"));
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    /// Writes the state if it changed since the last write.
    pub async fn save(&self, aws: &Aws) -> anyhow::Result<()> {
        let wanted = self.changes.load(Ordering::SeqCst);
        let mut etag = self.io.lock().await;
        if self.saved.load(Ordering::SeqCst) >= wanted {
            return Ok(());
        }
        let (bytes, version) = {
            let state = self.state.lock().expect("state lock");
            (
                serde_json::to_vec_pretty(&*state)?,
                self.changes.load(Ordering::SeqCst),
            )
        };
        let token = self.state.lock().expect("state lock").writer_token.clone();
        // At most twice: a second time after finding our own earlier write in place.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let expect = match etag.as_deref() {
                Some(e) => Expect::Etag(e),
                None => Expect::Absent,
            };
            match state_store::put(aws, &self.bucket, &self.key, bytes.clone(), expect).await? {
                Outcome::Written(new) => {
                    *etag = Some(new);
                    break;
                }
                Outcome::Conflict(other) => {
                    let theirs = other
                        .as_ref()
                        .and_then(|o| parse(&o.bytes, &self.bucket, &self.key).ok());
                    // A save whose answer was lost (and whose retries failed too) left our own state there.
                    if let (Some(o), Some(s)) = (&other, &theirs) {
                        if s.writer_token == token && attempts == 1 {
                            *etag = Some(o.etag.clone());
                            continue;
                        }
                    }
                    return Err(StateConflict {
                        key: format!("s3://{}/{}", self.bucket, self.key),
                        other: other.map(|_| theirs.map(|s| s.written_by).unwrap_or_default()),
                    }
                    .into());
                }
            }
        }
        self.saved.store(version, Ordering::SeqCst);
        Ok(())
    }

    /// The ETag of the state as this run last wrote or read it.
    pub async fn etag(&self) -> Option<String> {
        self.io.lock().await.clone()
    }

    /// Deletes the state object (`remove`), only the version this run wrote or read.
    pub async fn delete(&self, aws: &Aws) -> anyhow::Result<()> {
        let etag = self.io.lock().await;
        let Some(etag) = etag.as_deref() else {
            return Ok(());
        };
        if !state_store::delete_if(aws, &self.bucket, &self.key, etag).await? {
            return Err(StateConflict {
                key: format!("s3://{}/{}", self.bucket, self.key),
                other: Some(String::new()),
            }
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, a: &str) -> DeploymentRecord {
        DeploymentRecord::sample(id, "succeeded", &[("a", a)])
    }

    fn function(versions: &[&str], live: &str, newest: &str) -> Recorded {
        Recorded {
            kind: Kind::Function,
            function: "a".into(),
            physical: "svc-dev-a".into(),
            arn: String::new(),
            props: Props::new(),
            version: Some(newest.into()),
            live: Some(live.into()),
            provisioned: None,
            pinned: false,
            delete_with_data: false,
            versions: versions.iter().map(|v| v.to_string()).collect(),
            shift: None,
        }
    }

    #[test]
    fn the_history_keeps_the_last_n_deployments() {
        let mut s = State::default();
        for i in 1..=5 {
            s.remember(record(&format!("d{i}"), &i.to_string()), 3);
        }
        let ids: Vec<&str> = s.deployments.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["d3", "d4", "d5"]);
    }

    #[test]
    fn only_versions_nothing_can_roll_back_to_are_prunable() {
        let mut s = State {
            deployments: vec![record("d1", "1"), record("d2", "3"), record("d3", "4")],
            ..State::default()
        };
        // 5 was published by a deploy that failed before cutover; 6 is the newest.
        s.resources.insert(
            "function/a".into(),
            function(&["1", "2", "3", "4", "5", "6"], "4", "6"),
        );
        let versions =
            |keep| -> Vec<String> { s.prunable(keep).into_iter().map(|p| p.version).collect() };
        // Keeping 3 after one more: d2 and d3 stay (3 and 4), live is 4, newest 6.
        assert_eq!(versions(3), ["1", "2", "5"]);
        // Keeping 1: only the next deployment, which records what is live.
        assert_eq!(versions(1), ["1", "2", "3", "5"]);
        assert_eq!(versions(50), ["2", "5"]);
    }

    #[test]
    fn a_state_from_before_version_tracking_learns_the_versions_it_names() {
        let s = State {
            deployments: vec![record("d1", "1"), record("d2", "2")],
            ..State::default()
        };
        let previous = function(&[], "2", "3");
        assert_eq!(with_version(&s, Some(&previous), "4"), ["1", "2", "3", "4"]);
        assert_eq!(with_version(&s, None, "1"), ["1"]);
        let tracked = function(&["7"], "7", "7");
        assert_eq!(with_version(&s, Some(&tracked), "8"), ["7", "8"]);
    }
}

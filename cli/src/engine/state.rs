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
}

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
        let expect = match etag.as_deref() {
            Some(e) => Expect::Etag(e),
            None => Expect::Absent,
        };
        match state_store::put(aws, &self.bucket, &self.key, bytes, expect).await? {
            Outcome::Written(new) => *etag = Some(new),
            Outcome::Conflict(other) => {
                let other = other.map(|o| {
                    parse(&o.bytes, &self.bucket, &self.key)
                        .map(|s| s.written_by)
                        .unwrap_or_default()
                });
                return Err(StateConflict {
                    key: format!("s3://{}/{}", self.bucket, self.key),
                    other,
                }
                .into());
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

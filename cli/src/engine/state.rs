//! What sls-rs owns for one service and stage, and the history of its
//! deployments, kept as one JSON object in the deployment bucket. A PUT is
//! atomic and the bucket is versioned, so a process killed at any point leaves
//! the previous or the next state, never a torn one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::cloud::{state_store, Aws};
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
    pub resources: BTreeMap<LogicalId, Recorded>,
    pub deployments: Vec<DeploymentRecord>,
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
    let key = state_key(service, stage);
    let Some(bytes) = state_store::get(aws, bucket, &key).await? else {
        return Ok(None);
    };
    let state: State = serde_json::from_slice(&bytes)
        .with_context(|| format!("s3://{bucket}/{key} is not a state sls-rs can read"))?;
    if state.format > STATE_FORMAT {
        anyhow::bail!(
            "s3://{bucket}/{key} was written by a newer sls-rs (state format {}); upgrade sls-rs",
            state.format
        );
    }
    Ok(Some(state))
}

/// The state being changed by a deploy, saved after every completed step.
/// Saves are serialized and coalesced: a step that completes while a save is
/// in flight is written by the next save, so N parallel steps cost at most N
/// writes and usually far fewer.
#[derive(Clone)]
pub struct Journal {
    state: Arc<Mutex<State>>,
    changes: Arc<AtomicU64>,
    saved: Arc<AtomicU64>,
    io: Arc<tokio::sync::Mutex<()>>,
    bucket: String,
    key: String,
}

impl Journal {
    pub fn new(state: State, bucket: &str) -> Self {
        let key = state_key(&state.service, &state.stage);
        Journal {
            state: Arc::new(Mutex::new(state)),
            changes: Arc::new(AtomicU64::new(0)),
            saved: Arc::new(AtomicU64::new(0)),
            io: Arc::new(tokio::sync::Mutex::new(())),
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
        let _writing = self.io.lock().await;
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
        state_store::put(aws, &self.bucket, &self.key, bytes).await?;
        self.saved.store(version, Ordering::SeqCst);
        Ok(())
    }
}

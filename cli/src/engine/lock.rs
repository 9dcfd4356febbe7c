//! One deploy or remove per service and stage at a time: a lock object
//! written with `If-None-Match: *`, so of two writers exactly one wins.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::cloud::{state_store, Aws};

/// A lock older than this belongs to a process that died; the next run takes it over.
pub const STALE_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    pub who: String,
    pub host: String,
    pub pid: u32,
    /// The PID namespace (`pid:[4026531836]`): containers sharing a hostname have their own.
    #[serde(default)]
    pub pid_ns: String,
    pub command: String,
    pub since: String,
    pub since_epoch: u64,
}

impl Holder {
    pub fn me(command: &str) -> Holder {
        let now = SystemTime::now();
        Holder {
            who: user_name(),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            pid: std::process::id(),
            pid_ns: std::fs::read_link("/proc/self/ns/pid")
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            command: command.to_string(),
            since: humantime::format_rfc3339_seconds(now).to_string(),
            since_epoch: now
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{}@{} (pid {}, `{}`) since {}",
            self.who, self.host, self.pid, self.command, self.since
        )
    }

    fn is_stale(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        now.saturating_sub(self.since_epoch) > STALE_AFTER.as_secs()
    }

    /// A holder on this very host whose process no longer runs died mid-deploy.
    fn is_dead_here(&self, me: &Holder) -> bool {
        self.host == me.host
            && !self.pid_ns.is_empty()
            && self.pid_ns == me.pid_ns
            && self.pid != me.pid
            && self.pid != 0
            && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// Who runs this: `$USER`, else the account name of the process's uid.
fn user_name() -> String {
    if let Some(name) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty()))
    {
        return name;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("?")
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid)
        .map(|f| f[0].to_string())
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The lock is held by someone else and did not come free in time.
#[derive(Debug)]
pub struct Locked {
    pub service: String,
    pub stage: String,
    pub holder: Holder,
}

impl std::fmt::Display for Locked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} is locked by {}\n  = help: wait for it (--lock-timeout), or if that process is gone, run `sls-rs unlock --stage {}`",
            self.service,
            self.stage,
            self.holder.describe(),
            self.stage
        )
    }
}

impl std::error::Error for Locked {}

pub fn lock_key(service: &str, stage: &str) -> String {
    format!("services/{service}/{stage}/lock.json")
}

/// Takes the lock, waiting up to `timeout` for a holder to let go.
pub async fn acquire(
    aws: &Aws,
    bucket: &str,
    service: &str,
    stage: &str,
    me: &Holder,
    timeout: Duration,
) -> anyhow::Result<()> {
    let key = lock_key(service, stage);
    let deadline = Instant::now() + timeout;
    let body = serde_json::to_vec(me)?;
    loop {
        if state_store::put_if_absent(aws, bucket, &key, body.clone()).await? {
            return Ok(());
        }
        let Some(holder) = read(aws, bucket, service, stage).await? else {
            continue;
        };
        if holder.is_stale() || holder.is_dead_here(me) {
            let why = if holder.is_stale() {
                "a stale lock"
            } else {
                "the lock of a process that is gone"
            };
            crate::ui::warn(&format!("taking over {why}: {}", holder.describe()));
            state_store::delete(aws, bucket, &key).await?;
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Locked {
                service: service.into(),
                stage: stage.into(),
                holder,
            }
            .into());
        }
        crate::cloud::pause(left.min(Duration::from_secs(1))).await;
    }
}

/// Who holds the lock, if anyone.
pub async fn read(
    aws: &Aws,
    bucket: &str,
    service: &str,
    stage: &str,
) -> anyhow::Result<Option<Holder>> {
    let key = lock_key(service, stage);
    let Some(bytes) = state_store::get(aws, bucket, &key).await? else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        Holder {
            who: "unreadable lock".into(),
            host: "?".into(),
            pid: 0,
            pid_ns: String::new(),
            command: String::from_utf8_lossy(&bytes).into_owned(),
            since: "?".into(),
            since_epoch: 0,
        }
    })))
}

/// Removes the lock whoever holds it (`sls-rs unlock`).
pub async fn release(aws: &Aws, bucket: &str, service: &str, stage: &str) -> anyhow::Result<()> {
    state_store::delete(aws, bucket, &lock_key(service, stage)).await
}

/// Removes the lock only if it is still `me`'s: a run that outlived the stale
/// limit may have been taken over, and the lock is then another run's.
pub async fn release_own(
    aws: &Aws,
    bucket: &str,
    service: &str,
    stage: &str,
    me: &Holder,
) -> anyhow::Result<()> {
    match read(aws, bucket, service, stage).await? {
        Some(holder) if &holder == me => release(aws, bucket, service, stage).await,
        Some(holder) => {
            crate::ui::warn(&format!(
                "the lock was taken over by {}; it is left to that run",
                holder.describe()
            ));
            Ok(())
        }
        None => Ok(()),
    }
}

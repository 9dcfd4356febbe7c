//! One deploy, remove or rollback per service and stage at a time: a lock
//! object in the deployment bucket, created with `If-None-Match: *`, renewed,
//! taken over and released only with `If-Match` on the ETag its writer saw, so
//! of two runs exactly one holds it, and no run removes another run's lock.
//!
//! A run renews its lock every [`heartbeat`]; a lock S3 has not seen written
//! for [`stale_after`] (S3's own clock: its `Date` against the object's
//! `Last-Modified`) belongs to a run that died, and the next run takes it over.
//! Each run writes a random token into the lock, so a write whose answer was
//! lost (the SDK's retry then meets a 412) is recognised as its own.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::cloud::state_store::{self, Expect, Object, Outcome};
use crate::cloud::{duration_var, Aws};

/// How often a run renews its lock.
pub fn heartbeat() -> Duration {
    duration_var("SLS_RS_LOCK_HEARTBEAT").unwrap_or(Duration::from_secs(30))
}

/// A lock not renewed for this long belongs to a run that died.
pub fn stale_after() -> Duration {
    duration_var("SLS_RS_LOCK_STALE_AFTER").unwrap_or(Duration::from_secs(300))
}

/// A lock renewed within this time has a live holder (`unlock` then wants `--force`).
pub fn alive_within() -> Duration {
    heartbeat() * 3
}

/// The lock timings can be shortened for tests (`SLS_RS_LOCK_STALE_AFTER=2s`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    pub who: String,
    pub host: String,
    pub pid: u32,
    /// The PID namespace (`pid:[4026531836]`): containers sharing a hostname have their own.
    #[serde(default)]
    pub pid_ns: String,
    /// `/proc/sys/kernel/random/boot_id`: differs between machines (and reboots) whose
    /// hostname and initial PID namespace inode are the same, as on CI runners.
    #[serde(default)]
    pub boot_id: String,
    /// `/etc/machine-id`.
    #[serde(default)]
    pub machine_id: String,
    /// Random, one per run: the run's own lock is the one carrying its token.
    #[serde(default)]
    pub token: String,
    /// Renewals so far: every write of the lock has other bytes, hence another ETag,
    /// so a takeover's `If-Match` on the ETag it judged stale fails after any renewal.
    #[serde(default)]
    pub beat: u64,
    pub command: String,
    pub since: String,
    pub since_epoch: u64,
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
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
            // SLS_RS_BOOT_ID: lets tests play two machines on one host.
            boot_id: std::env::var("SLS_RS_BOOT_ID")
                .unwrap_or_else(|_| read_trimmed("/proc/sys/kernel/random/boot_id")),
            machine_id: read_trimmed("/etc/machine-id"),
            token: crate::engine::state::random_hex(16),
            beat: 0,
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

    /// The same boot of the same machine, in the same PID namespace: only then
    /// does a missing `/proc/<pid>` prove the holder is gone.
    fn same_process_space(&self, me: &Holder) -> bool {
        self.host == me.host
            && !self.boot_id.is_empty()
            && self.boot_id == me.boot_id
            && self.machine_id == me.machine_id
            && !self.pid_ns.is_empty()
            && self.pid_ns == me.pid_ns
    }

    /// A holder on this very machine whose process no longer runs died mid-deploy.
    fn is_dead_here(&self, me: &Holder) -> bool {
        self.same_process_space(me)
            && self.pid != me.pid
            && self.pid != 0
            && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    fn unreadable(bytes: &[u8]) -> Holder {
        Holder {
            who: "unreadable lock".into(),
            host: "?".into(),
            pid: 0,
            pid_ns: String::new(),
            boot_id: String::new(),
            machine_id: String::new(),
            token: String::new(),
            beat: 0,
            command: String::from_utf8_lossy(bytes).chars().take(200).collect(),
            since: "?".into(),
            since_epoch: 0,
        }
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

/// The lock as read: its holder, and how long ago it was last written (S3's clock).
#[derive(Debug, Clone)]
pub struct Seen {
    pub holder: Holder,
    pub age: Duration,
    etag: String,
}

impl Seen {
    fn of(object: Object) -> Seen {
        Seen {
            holder: serde_json::from_slice(&object.bytes)
                .unwrap_or_else(|_| Holder::unreadable(&object.bytes)),
            age: object.age,
            etag: object.etag,
        }
    }

    pub fn is_stale(&self) -> bool {
        self.age > stale_after()
    }

    /// Renewed recently: its run is most likely alive.
    pub fn is_alive(&self) -> bool {
        self.age <= alive_within()
    }
}

/// A lock this run holds: renewed and released only while it is still this run's.
pub struct Lease {
    bucket: String,
    key: String,
    pub me: Holder,
    /// The ETag of the lock as this run last wrote it, and the renewals so far.
    etag: tokio::sync::Mutex<(String, u64)>,
}

/// The lock was taken over by another run while this one held it.
#[derive(Debug)]
pub struct LockLost {
    pub holder: Option<Holder>,
}

impl std::fmt::Display for LockLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.holder {
            Some(h) => write!(f, "the lock was taken over by {} while this run held it (was it paused for longer than {}?); this run stopped starting steps", h.describe(), humantime::format_duration(stale_after())),
            None => write!(f, "the lock was removed (`sls-rs unlock --force`?) while this run held it; this run stopped starting steps"),
        }
    }
}

impl std::error::Error for LockLost {}

/// Takes the lock, waiting up to `timeout` for a holder to let go.
pub async fn acquire(
    aws: &Aws,
    bucket: &str,
    service: &str,
    stage: &str,
    me: &Holder,
    timeout: Duration,
) -> anyhow::Result<Lease> {
    let key = lock_key(service, stage);
    let deadline = Instant::now() + timeout;
    let body = serde_json::to_vec(me)?;
    let lease = |etag: String| Lease {
        bucket: bucket.to_string(),
        key: key.clone(),
        me: me.clone(),
        etag: tokio::sync::Mutex::new((etag, 0)),
    };
    loop {
        let seen = match state_store::put(aws, bucket, &key, body.clone(), Expect::Absent).await? {
            Outcome::Written(etag) => return Ok(lease(etag)),
            Outcome::Conflict(Some(object)) => Some(Seen::of(object)),
            // Released between our write and our read: try again.
            Outcome::Conflict(None) => None,
        };
        let Some(seen) = seen else {
            if Instant::now() >= deadline || super::interrupt::requested().is_some() {
                anyhow::bail!("the lock of {service}/{stage} kept changing hands; try again");
            }
            crate::cloud::pause(Duration::from_millis(200)).await;
            continue;
        };
        if seen.holder.token == me.token && !me.token.is_empty() {
            return Ok(lease(seen.etag));
        }
        let why = if seen.is_stale() {
            Some(format!(
                "a stale lock (not renewed for {})",
                humantime::format_duration(seen.age)
            ))
        } else if seen.holder.is_dead_here(me) {
            Some("the lock of a process that is gone".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            // Only the lock we judged stale is replaced: of two runs taking it over, one wins.
            if let Outcome::Written(etag) =
                state_store::put(aws, bucket, &key, body.clone(), Expect::Etag(&seen.etag)).await?
            {
                crate::ui::warn(&format!("took over {why}: {}", seen.holder.describe()));
                return Ok(lease(etag));
            }
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || super::interrupt::requested().is_some() {
            return Err(Locked {
                service: service.into(),
                stage: stage.into(),
                holder: seen.holder,
            }
            .into());
        }
        crate::cloud::pause(left.min(Duration::from_secs(1))).await;
    }
}

impl Lease {
    /// Rewrites the lock (same holder and token, the next beat) so S3 dates it now.
    pub async fn renew(&self, aws: &Aws) -> anyhow::Result<()> {
        let mut last = self.etag.lock().await;
        let me = Holder {
            beat: last.1 + 1,
            ..self.me.clone()
        };
        let body = serde_json::to_vec(&me)?;
        match state_store::put(aws, &self.bucket, &self.key, body, Expect::Etag(&last.0)).await? {
            Outcome::Written(new) => {
                *last = (new, me.beat);
                Ok(())
            }
            // A renewal whose answer was lost, then retried, reads back as ours.
            Outcome::Conflict(Some(o)) if Seen::of(o.clone()).holder.token == self.me.token => {
                *last = (o.etag, me.beat);
                Ok(())
            }
            Outcome::Conflict(other) => Err(LockLost {
                holder: other.map(|o| Seen::of(o).holder),
            }
            .into()),
        }
    }

    /// Removes the lock if it is still this run's; another run's lock is left to it.
    pub async fn release(&self, aws: &Aws) -> anyhow::Result<()> {
        let last = self.etag.lock().await;
        if state_store::delete_if(aws, &self.bucket, &self.key, &last.0).await? {
            return Ok(());
        }
        // The ETag we know may be stale if a renewal's answer was lost: the token tells.
        match state_store::get(aws, &self.bucket, &self.key).await? {
            Some(object) => {
                let seen = Seen::of(object);
                if seen.holder.token == self.me.token {
                    state_store::delete_if(aws, &self.bucket, &self.key, &seen.etag).await?;
                } else {
                    crate::ui::warn(&format!(
                        "the lock was taken over by {}; it is left to that run",
                        seen.holder.describe()
                    ));
                }
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// Who holds the lock, if anyone, and how recently it was renewed.
pub async fn read(
    aws: &Aws,
    bucket: &str,
    service: &str,
    stage: &str,
) -> anyhow::Result<Option<Seen>> {
    let key = lock_key(service, stage);
    Ok(state_store::get(aws, bucket, &key).await?.map(Seen::of))
}

/// Removes the lock that was read (`sls-rs unlock`): never one written since.
pub async fn remove(
    aws: &Aws,
    bucket: &str,
    service: &str,
    stage: &str,
    seen: &Seen,
) -> anyhow::Result<bool> {
    state_store::delete_if(aws, bucket, &lock_key(service, stage), &seen.etag).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(boot: &str, pid: u32) -> Holder {
        Holder {
            boot_id: boot.into(),
            pid,
            host: "runner".into(),
            pid_ns: "pid:[4026531836]".into(),
            machine_id: "m".into(),
            ..Holder::me("sls-rs deploy")
        }
    }

    #[test]
    fn a_holder_on_another_machine_is_never_judged_dead_by_its_pid() {
        let me = holder("boot-a", std::process::id());
        // A PID that does not run here, on a machine with the same hostname and PID namespace.
        let other = holder("boot-b", u32::MAX - 1);
        assert!(!other.is_dead_here(&me), "another boot id: another machine");
        let here = holder("boot-a", u32::MAX - 1);
        assert!(here.is_dead_here(&me), "same boot, process gone");
        let unknown = holder("", u32::MAX - 1);
        assert!(!unknown.is_dead_here(&holder("", std::process::id())));
    }

    #[test]
    fn every_run_has_its_own_token() {
        let (a, b) = (Holder::me("x"), Holder::me("x"));
        assert_eq!(a.token.len(), 32);
        assert_ne!(a.token, b.token);
    }
}

//! Gradual cutover (`deployment: { strategy: canary | linear }`): a function's `live`
//! alias keeps its version and sends a share of the invocations to the new one
//! (Lambda's weighted alias routing), step by step, while CloudWatch alarms are
//! watched. An alarm in ALARM moves every alias this run shifted back to its
//! previous version and fails the deploy, naming the alarm; so do a stop (Ctrl-C,
//! a cancelled CI job), an error, and alarms that cannot be read three times in a
//! row. A run that lost its lock writes nothing more. Each step is recorded in the
//! state before it is made, so a run that ended mid-shift (`--no-wait`, a kill) leaves
//! a state that knows where traffic is: the next deploy of the same version, or
//! `deploy --continue` ([`super::resume`]), goes on from the recorded step when it is
//! due, where the alias is split as recorded ([`verify`]; elsewhere it starts over); a
//! deploy of another version starts over; `rollback` moves the alias back whole.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::interrupt;
use super::state::{Journal, Shift, ShiftStep};
use super::Progress;
use crate::cloud::{alarms, lambda_function, Aws};
use crate::manifest::{Deployment, Strategy};
use crate::model::{AlarmSpec, LIVE_ALIAS};

/// How often the alarms are read while a step waits.
const POLL: Duration = Duration::from_secs(5);

/// One function's shift.
pub struct Shifting {
    /// The function's logical id in the state.
    pub id: String,
    pub function: String,
    pub physical: String,
    pub from: String,
    pub to: String,
    /// The new version's share at each step before it takes all: a canary's one, a
    /// linear shift's every multiple of its percent below 100.
    pub steps: Vec<u32>,
    pub interval: Duration,
    /// Every alarm guarding it by name: the manifest's and the ones sls-rs made.
    pub alarms: Vec<String>,
    /// The alarms sls-rs made for it, pointed at the new version before the first step.
    pub own: Vec<(String, AlarmSpec)>,
    /// A shift an earlier run began (`--no-wait`, a kill): it goes on from its recorded
    /// step instead of starting over.
    pub resume: Option<Resume>,
}

/// Where a recorded shift goes on: the index of its next step in `steps` (its length:
/// all traffic) and when that step is due.
#[derive(Clone, Debug, PartialEq)]
pub struct Resume {
    pub next: usize,
    pub due: SystemTime,
    /// The share the state says the new version has: the alias must agree, or the shift
    /// starts over (a run killed between recording a step and making it).
    pub percent: u32,
}

impl Resume {
    /// Where `shift` (recorded) goes on, when it moves the traffic `steps` take.
    pub fn of(shift: &Shift, steps: &[u32], interval: Duration) -> Option<Resume> {
        let last = shift.steps.last()?;
        let at = humantime::parse_rfc3339(&last.at).ok()?;
        Some(Resume {
            next: steps
                .iter()
                .position(|p| *p > shift.percent)
                .unwrap_or(steps.len()),
            due: at + interval,
            percent: shift.percent,
        })
    }
}

/// How a run of the shifts ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// All traffic is on the new versions.
    Done,
    /// `--no-wait`: the steps due now are made, these are left for a later run.
    Left(Vec<Pending>),
}

/// A shift left for a later run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub function: String,
    pub to: String,
    /// The new version's share now.
    pub percent: u32,
    /// When its next step is due (RFC 3339).
    pub next_step: String,
}

/// The shares a deployment moves through before all traffic goes to the new version.
pub fn steps(d: &Deployment) -> Vec<u32> {
    let percent = d.percent.unwrap_or(100).clamp(1, 100);
    match d.strategy {
        Strategy::AllAtOnce => vec![],
        Strategy::Canary => vec![percent].into_iter().filter(|p| *p < 100).collect(),
        Strategy::Linear => (1..)
            .map(|i| i * percent)
            .take_while(|p| *p < 100)
            .collect(),
    }
}

/// A deployment's steps in words: `canary: 10% for 5m, then all`, `linear: 25% more
/// every 1m (25, 50, 75, then all)`; `None` for all at once.
pub fn describe(d: &Deployment) -> Option<String> {
    let steps = steps(d);
    let interval = d.interval.as_deref().unwrap_or("1m");
    let guarded = match d.alarms.len() {
        0 => String::new(),
        1 => ", guarded by 1 alarm".to_string(),
        n => format!(", guarded by {n} alarms"),
    };
    match (d.strategy, steps.as_slice()) {
        (_, []) => None,
        (Strategy::Canary, [p, ..]) => {
            Some(format!("canary: {p}% for {interval}, then all{guarded}"))
        }
        (_, [p, ..]) => Some(format!(
            "linear: {p}% more every {interval} ({}, then all){guarded}",
            steps
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Why a shift ended before all traffic moved.
#[derive(Debug)]
pub enum Stopped {
    /// These alarms were in ALARM; every shifted alias is back at its previous version.
    Alarm(Vec<String>),
    /// A stop was asked for (signal, lost lock); every shifted alias is back.
    Interrupted,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stopped::Alarm(names) => write!(
                f,
                "the alarm{} {} went into ALARM during the traffic shift",
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            ),
            Stopped::Interrupted => write!(f, "stopped during the traffic shift"),
        }
    }
}

impl std::error::Error for Stopped {}

/// The alarms guarding `shifts`, each once.
fn guarding<'a>(shifts: impl IntoIterator<Item = &'a Shifting>) -> Vec<String> {
    let names: BTreeSet<&String> = shifts.into_iter().flat_map(|s| &s.alarms).collect();
    names.into_iter().cloned().collect()
}

/// The guarding alarms that are in ALARM; an alarm CloudWatch does not know is an
/// error (a guard that cannot fire is none).
async fn firing(aws: &Aws, names: &[String]) -> anyhow::Result<Vec<String>> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    let states = alarms::states(aws, names).await?;
    missing(names, &states)?;
    Ok(names
        .iter()
        .filter(|n| states.get(*n).map(String::as_str) == Some("ALARM"))
        .cloned()
        .collect())
}

/// Checked before any traffic moves: the alarms sls-rs made watch the new versions
/// (and are OK: they judged other versions before), every alarm exists and none is in
/// ALARM already.
///
/// A shift an earlier run began is not checked here: its alarms already watch its new
/// version, and one in ALARM moves it back (its traffic is split already).
pub async fn preflight(aws: &Aws, shifts: &[Shifting]) -> anyhow::Result<()> {
    let fresh: Vec<&Shifting> = shifts.iter().filter(|s| s.resume.is_none()).collect();
    let pointing = fresh.iter().flat_map(|s| {
        s.own
            .iter()
            .map(move |(name, spec)| alarms::watch(aws, name, spec, &s.to))
    });
    futures::future::try_join_all(pointing).await?;
    ready(aws, &guarding(fresh.iter().copied())).await
}

/// Every alarm of `names` exists (their states do not matter here).
pub async fn exist(aws: &Aws, names: &[String]) -> anyhow::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let states = alarms::states(aws, names).await?;
    missing(names, &states)
}

/// An error naming the alarms of `names` CloudWatch does not know.
fn missing(
    names: &[String],
    states: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let missing: Vec<&String> = names.iter().filter(|n| !states.contains_key(*n)).collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "CloudWatch has no alarm named {} (deployment.alarms): a guard that does not exist cannot stop a bad version",
            missing
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Every alarm of `names` exists and none is in ALARM.
pub async fn ready(aws: &Aws, names: &[String]) -> anyhow::Result<()> {
    let firing = firing(aws, names).await?;
    if !firing.is_empty() {
        anyhow::bail!(
            "the alarm{} {} {} in ALARM before the traffic shift: no traffic moved",
            if firing.len() == 1 { "" } else { "s" },
            firing.join(", "),
            if firing.len() == 1 { "is" } else { "are" }
        );
    }
    Ok(())
}

/// Moves one alias to the share of step `at` (past the last: all of it), recording it first.
async fn step(
    aws: &Aws,
    journal: &Journal,
    s: &Shifting,
    at: usize,
    progress: Progress<'_>,
) -> anyhow::Result<()> {
    match s.steps.get(at) {
        Some(&percent) => {
            journal.update(|state| {
                if let Some(r) = state.resources.get_mut(&s.id) {
                    // A shift an earlier run left to another version starts over.
                    let shift = match &mut r.shift {
                        Some(shift) if shift.to == s.to && at > 0 => shift,
                        other => other.insert(Shift {
                            to: s.to.clone(),
                            percent,
                            steps: vec![],
                        }),
                    };
                    shift.percent = percent;
                    shift.steps.push(ShiftStep {
                        percent,
                        // To the millisecond: a run that takes the shift on waits from it.
                        at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
                    });
                    // A new version shifted in ends a rollback's pin (the plan released it):
                    // a pin kept through a kill would hide the split from the next deploy.
                    r.pinned = false;
                }
            });
            journal.save(aws).await?;
            lambda_function::shift_alias(aws, &s.physical, LIVE_ALIAS, &s.from, &s.to, percent)
                .await?;
            progress(&format!(
                "  ↗ {}: {percent}% of `{LIVE_ALIAS}` to version {} (version {} keeps the rest)",
                s.function, s.to, s.from
            ));
        }
        None => {
            lambda_function::point_alias(
                aws,
                &s.physical,
                LIVE_ALIAS,
                &s.to,
                lambda_function::AliasExpected::Existing,
            )
            .await?;
            journal.update(|state| {
                if let Some(r) = state.resources.get_mut(&s.id) {
                    r.live = Some(s.to.clone());
                    r.shift = None;
                }
            });
            journal.save(aws).await?;
            progress(&format!(
                "  → {}: all of `{LIVE_ALIAS}` to version {}",
                s.function, s.to
            ));
        }
    }
    Ok(())
}

/// Moves every alias of `shifts` back to its previous version, clearing the shift:
/// each one tried (all at once), the ones that failed named.
async fn back(
    aws: &Aws,
    journal: &Journal,
    shifts: &[Shifting],
    progress: Progress<'_>,
) -> Result<(), String> {
    let moves = shifts.iter().map(|s| async move {
        lambda_function::point_alias(
            aws,
            &s.physical,
            LIVE_ALIAS,
            &s.from,
            lambda_function::AliasExpected::Existing,
        )
        .await
        .map_err(|e| format!("{}: {e:#}", s.function))?;
        journal.update(|state| {
            if let Some(r) = state.resources.get_mut(&s.id) {
                r.live = Some(s.from.clone());
                r.shift = None;
            }
        });
        progress(&format!(
            "  ↩ {}: all of `{LIVE_ALIAS}` back to version {}",
            s.function, s.from
        ));
        Ok::<(), String>(())
    });
    let failed: Vec<String> = futures::future::join_all(moves)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    let saved = journal.save(aws).await;
    match (failed.is_empty(), saved) {
        (true, Ok(())) => Ok(()),
        (_, saved) => {
            let mut why = failed;
            if let Err(e) = saved {
                why.push(format!("saving the state: {e:#}"));
            }
            Err(format!(
                "moving back failed, and traffic may still be split (`sls-rs rollback` or a deploy ends it): {}",
                why.join("; ")
            ))
        }
    }
}

/// Waits until `until`, watching for a stop.
async fn wait(until: Instant) -> Option<interrupt::Reason> {
    loop {
        if let Some(reason) = interrupt::requested() {
            return Some(reason);
        }
        let now = Instant::now();
        if now >= until {
            return None;
        }
        crate::cloud::pause((until - now).min(Duration::from_secs(1))).await;
    }
}

/// How many alarm reads in a row may fail (throttling, a dropped connection) before
/// the shift stops: a guard that cannot be read is none.
const READS_MAY_FAIL: u32 = 3;

/// Runs every shift to its end: all traffic on the new versions, or (an alarm, a
/// stop, an error) all of it back on the previous ones and the reason as an error.
/// With `no_wait` it makes only the steps due now (a new shift's first) and leaves the
/// rest. A run that lost its lock writes nothing more: the run holding it now decides.
pub async fn run(
    aws: &Aws,
    journal: &Journal,
    shifts: &[Shifting],
    no_wait: bool,
    progress: Progress<'_>,
) -> anyhow::Result<Outcome> {
    let stopped = match shift_all(aws, journal, shifts, no_wait, progress).await {
        Ok(outcome) => return Ok(outcome),
        Err(e) => e,
    };
    if interrupt::requested() == Some(interrupt::Reason::LockLost) {
        return Err(stopped.context(
            "the lock was lost during the traffic shift: nothing more was changed; the run holding it now decides",
        ));
    }
    match back(aws, journal, shifts, progress).await {
        Ok(()) => Err(stopped.context(format!(
            "every shifted `{LIVE_ALIAS}` alias is back at its previous version"
        ))),
        Err(why) => Err(stopped.context(why)),
    }
}

/// The shift's steps, until all traffic moved or something stops it (the error).
async fn shift_all(
    aws: &Aws,
    journal: &Journal,
    shifts: &[Shifting],
    no_wait: bool,
    progress: Progress<'_>,
) -> anyhow::Result<Outcome> {
    // Every shift's alarms are watched to the end: an alias this run shifted is moved
    // back whichever alarm fires, so any of them may stop it.
    let alarms = guarding(shifts);
    let mut checked = false;
    // A shift an earlier run began ([`verify`]d): its alarms, unwatched since, are read
    // before any traffic moves.
    if shifts.iter().any(|s| s.resume.is_some()) {
        let firing = firing(aws, &alarms).await?;
        if !firing.is_empty() {
            return Err(Stopped::Alarm(firing).into());
        }
        checked = true;
    }
    // Each shift's next step and when it is due.
    let mut next: Vec<(usize, Instant)> = Vec::with_capacity(shifts.len());
    for s in shifts {
        if interrupt::requested().is_some() {
            return Err(Stopped::Interrupted.into());
        }
        match &s.resume {
            Some(r) => {
                let wait = r.due.duration_since(SystemTime::now()).unwrap_or_default();
                next.push((r.next, Instant::now() + wait));
            }
            None => {
                step(aws, journal, s, 0, progress).await?;
                next.push((1, Instant::now() + s.interval));
            }
        }
    }
    let mut failed_reads = 0;
    loop {
        let due = shifts
            .iter()
            .zip(&next)
            .filter(|(s, (at, _))| *at <= s.steps.len())
            .map(|(_, (_, when))| *when)
            .min();
        let Some(due) = due else {
            return Ok(Outcome::Done);
        };
        // Without waiting: once the alarms were read, what is not due yet is left.
        if no_wait && checked && due > Instant::now() {
            return Ok(Outcome::Left(pending(journal, shifts, &next)));
        }
        let until = if no_wait {
            Instant::now()
        } else {
            due.min(Instant::now() + POLL)
        };
        if wait(until).await.is_some() {
            return Err(Stopped::Interrupted.into());
        }
        match firing(aws, &alarms).await {
            Ok(firing) if !firing.is_empty() => return Err(Stopped::Alarm(firing).into()),
            Ok(_) => {
                failed_reads = 0;
                checked = true;
            }
            Err(e) => {
                failed_reads += 1;
                if failed_reads >= READS_MAY_FAIL {
                    return Err(e.context(format!(
                        "the alarms could not be read {READS_MAY_FAIL} times in a row"
                    )));
                }
                // The next try a poll later, not at once (a step may be due already).
                if wait(Instant::now() + POLL).await.is_some() {
                    return Err(Stopped::Interrupted.into());
                }
                continue;
            }
        }
        for (s, (at, when)) in shifts.iter().zip(next.iter_mut()) {
            if *at <= s.steps.len() && *when <= Instant::now() {
                if interrupt::requested().is_some() {
                    return Err(Stopped::Interrupted.into());
                }
                step(aws, journal, s, *at, progress).await?;
                *at += 1;
                *when = Instant::now() + s.interval;
            }
        }
    }
}

/// Keeps a recorded shift's [`Resume`] only where the alias keeps the shift's old
/// version and sends exactly the recorded share to the new one (the aliases read at
/// once); elsewhere (a run killed between recording a step and making it) the shift
/// starts over.
pub async fn verify(aws: &Aws, shifts: &mut [Shifting]) -> anyhow::Result<()> {
    let reads = shifts.iter().map(|s| async move {
        let Some(r) = &s.resume else {
            return anyhow::Ok(false);
        };
        let alias = lambda_function::read_alias_routing(aws, &s.physical, LIVE_ALIAS).await?;
        Ok(alias.is_some_and(|(primary, weights)| {
            primary == s.from
                && weights.len() == 1
                && weights
                    .get(&s.to)
                    .is_some_and(|w| (w * 100.0 - f64::from(r.percent)).abs() < 0.5)
        }))
    });
    let split = futures::future::try_join_all(reads).await?;
    for (s, split) in shifts.iter_mut().zip(split) {
        if !split {
            s.resume = None;
        }
    }
    Ok(())
}

/// The shifts not done yet, each with its share now and when its next step is due.
fn pending(journal: &Journal, shifts: &[Shifting], next: &[(usize, Instant)]) -> Vec<Pending> {
    let state = journal.snapshot();
    shifts
        .iter()
        .zip(next)
        .filter(|(s, (at, _))| *at <= s.steps.len())
        .map(|(s, (_, when))| Pending {
            function: s.function.clone(),
            to: s.to.clone(),
            // The share the state records (and the alias has).
            percent: state
                .resources
                .get(&s.id)
                .and_then(|r| r.shift.as_ref())
                .map_or(0, |shift| shift.percent),
            next_step: humantime::format_rfc3339_seconds(
                SystemTime::now() + when.saturating_duration_since(Instant::now()),
            )
            .to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(strategy: Strategy, percent: u32) -> Deployment {
        Deployment {
            strategy,
            percent: Some(percent),
            interval: Some("1m".into()),
            alarms: vec![],
        }
    }

    #[test]
    fn a_recorded_shift_goes_on_at_the_step_after_its_share_an_interval_after_the_last() {
        let steps = [20, 40, 60, 80];
        let shift = |percent: u32, at: &[&str]| Shift {
            to: "2".into(),
            percent,
            steps: at
                .iter()
                .map(|at| ShiftStep {
                    percent,
                    at: at.to_string(),
                })
                .collect(),
        };
        let minute = Duration::from_secs(60);
        let resume = Resume::of(
            &shift(40, &["2026-12-03T10:00:00Z", "2026-12-03T10:01:00Z"]),
            &steps,
            minute,
        )
        .unwrap();
        assert_eq!(resume.next, 2, "60% comes next");
        assert_eq!(
            resume.due,
            humantime::parse_rfc3339("2026-12-03T10:02:00Z").unwrap()
        );
        assert_eq!(
            Resume::of(&shift(80, &["2026-12-03T10:00:00Z"]), &steps, minute)
                .unwrap()
                .next,
            4,
            "after the last step: all of it"
        );
        assert_eq!(
            Resume::of(&shift(10, &["2026-12-03T10:00:00Z"]), &[], minute)
                .unwrap()
                .next,
            0,
            "no longer gradual: all of it at the next step"
        );
        assert_eq!(Resume::of(&shift(10, &[]), &steps, minute), None);
    }

    #[test]
    fn a_deployment_is_described_by_its_steps() {
        assert_eq!(
            describe(&deployment(Strategy::Canary, 10)).as_deref(),
            Some("canary: 10% for 1m, then all")
        );
        let mut linear = deployment(Strategy::Linear, 25);
        linear.alarms = vec![crate::manifest::Alarm::Named("a".into())];
        assert_eq!(
            describe(&linear).as_deref(),
            Some("linear: 25% more every 1m (25, 50, 75, then all), guarded by 1 alarm")
        );
        assert_eq!(describe(&deployment(Strategy::AllAtOnce, 10)), None);
    }

    #[test]
    fn a_canary_has_one_step_and_a_linear_shift_one_per_multiple_below_all() {
        assert_eq!(steps(&deployment(Strategy::Canary, 10)), vec![10]);
        assert_eq!(steps(&deployment(Strategy::Linear, 25)), vec![25, 50, 75]);
        assert_eq!(steps(&deployment(Strategy::Linear, 30)), vec![30, 60, 90]);
        assert_eq!(steps(&deployment(Strategy::Linear, 50)), vec![50]);
        assert_eq!(steps(&deployment(Strategy::Linear, 99)), vec![99]);
        assert!(steps(&deployment(Strategy::AllAtOnce, 10)).is_empty());
    }
}

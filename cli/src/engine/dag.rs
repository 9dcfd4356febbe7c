//! A bounded-concurrency executor for steps with dependencies. Independent
//! steps run together; a step starts when everything it depends on succeeded;
//! after a failure, or once the run is asked to stop (a signal, a lost lock),
//! nothing new starts and the steps in flight finish.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

pub struct Step<'a> {
    pub id: String,
    pub deps: Vec<String>,
    pub run: BoxFuture<'a, anyhow::Result<()>>,
}

/// Runs every step, at most `limit` at once; `done` hears of each success.
/// Returns the failures (empty on success). Dependencies on ids that are not
/// steps count as satisfied: they need no work in this run.
pub async fn run<'a>(
    steps: Vec<Step<'a>>,
    limit: usize,
    done: impl FnMut(&str, Duration),
) -> Vec<(String, anyhow::Error)> {
    run_until(
        steps,
        limit,
        &|| super::interrupt::requested().is_some(),
        done,
    )
    .await
}

/// `run`, starting no new step once `stop` says so.
pub async fn run_until<'a>(
    steps: Vec<Step<'a>>,
    limit: usize,
    stop: &dyn Fn() -> bool,
    mut done: impl FnMut(&str, Duration),
) -> Vec<(String, anyhow::Error)> {
    let ids: BTreeSet<String> = steps.iter().map(|s| s.id.clone()).collect();
    let mut waiting: BTreeMap<String, (BTreeSet<String>, BoxFuture<'a, anyhow::Result<()>>)> =
        steps
            .into_iter()
            .map(|s| {
                let deps = s.deps.into_iter().filter(|d| ids.contains(d)).collect();
                (s.id, (deps, s.run))
            })
            .collect();
    let mut running = FuturesUnordered::new();
    let mut failures = Vec::new();
    loop {
        if failures.is_empty() && !waiting.is_empty() && stop() {
            let skipped: Vec<String> = std::mem::take(&mut waiting).into_keys().collect();
            failures.push((
                skipped.join(", "),
                anyhow::anyhow!("not started: the run was asked to stop"),
            ));
        }
        if failures.is_empty() {
            let mut ready: Vec<&String> = waiting
                .iter()
                .filter(|(_, (deps, _))| deps.is_empty())
                .map(|(id, _)| id)
                .collect();
            ready.sort_by_key(|id| interleaved(id));
            let ready: Vec<String> = ready
                .into_iter()
                .take(limit.saturating_sub(running.len()))
                .cloned()
                .collect();
            for id in ready {
                let (_, fut) = waiting.remove(&id).expect("ready step is waiting");
                running.push(async move {
                    let started = Instant::now();
                    let result = fut.await;
                    (id, result, started.elapsed())
                });
            }
        }
        let Some((id, result, elapsed)) = running.next().await else {
            break;
        };
        match result {
            Ok(()) => {
                done(&id, elapsed);
                for (deps, _) in waiting.values_mut() {
                    deps.remove(&id);
                }
            }
            Err(e) => failures.push((id, e)),
        }
    }
    if failures.is_empty() && !waiting.is_empty() {
        let stuck: Vec<String> = waiting.keys().cloned().collect();
        failures.push((
            stuck.join(", "),
            anyhow::anyhow!("these steps wait on each other (a dependency cycle)"),
        ));
    }
    failures
}

/// The order ready steps start in: by what they are for, then by kind (`role/f1`,
/// `logGroup/f1`, `role/f2`, …), not kind by kind. Each kind is an API family with its
/// own rate limit (IAM 10/s, log groups 5/s): kind by kind, the free slots would all
/// wait on one family while the others idle, and a function would wait for every
/// role and log group of the service instead of its own.
fn interleaved(id: &str) -> (&str, &str) {
    match id.split_once('/') {
        Some((kind, name)) => (name, kind),
        None => (id, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn step<'a>(id: &str, deps: &[&str], log: Arc<Mutex<Vec<String>>>, fail: bool) -> Step<'a> {
        let name = id.to_string();
        Step {
            id: id.into(),
            deps: deps.iter().map(|d| d.to_string()).collect(),
            run: Box::pin(async move {
                tokio::task::yield_now().await;
                log.lock().unwrap().push(name.clone());
                if fail {
                    anyhow::bail!("{name} failed")
                }
                Ok(())
            }),
        }
    }

    #[tokio::test]
    async fn dependencies_run_first_and_independent_steps_all_run() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let steps = vec![
            step("function", &["role", "logs"], log.clone(), false),
            step("role", &[], log.clone(), false),
            step("logs", &[], log.clone(), false),
            step("other", &["not-in-this-run"], log.clone(), false),
        ];
        let mut finished = Vec::new();
        let failures = run(steps, 2, |id, _| finished.push(id.to_string())).await;
        assert!(failures.is_empty());
        let order = log.lock().unwrap().clone();
        assert_eq!(order.len(), 4);
        let pos = |s: &str| order.iter().position(|x| x == s).unwrap();
        assert!(pos("function") > pos("role") && pos("function") > pos("logs"));
        assert_eq!(finished.len(), 4);
    }

    #[tokio::test]
    async fn after_a_failure_dependents_never_start() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let steps = vec![
            step("role", &[], log.clone(), true),
            step("function", &["role"], log.clone(), false),
        ];
        let failures = run(steps, 4, |_, _| {}).await;
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, "role");
        assert_eq!(log.lock().unwrap().as_slice(), ["role"]);
    }

    #[tokio::test]
    async fn once_asked_to_stop_nothing_new_starts_and_the_steps_in_flight_finish() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = std::sync::atomic::AtomicBool::new(false);
        let stop = &stop;
        let slow = {
            let log = log.clone();
            Step {
                id: "in-flight".into(),
                deps: vec![],
                run: Box::pin(async move {
                    // The signal arrives while this step runs.
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    log.lock().unwrap().push("in-flight".to_string());
                    Ok(())
                }),
            }
        };
        let steps = vec![
            slow,
            step("after", &["in-flight"], log.clone(), false),
            step("later", &["in-flight"], log.clone(), false),
        ];
        let failures = run_until(
            steps,
            1,
            &|| stop.load(std::sync::atomic::Ordering::SeqCst),
            |_, _| {},
        )
        .await;
        assert_eq!(log.lock().unwrap().as_slice(), ["in-flight"]);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].0, "after, later");
        assert!(failures[0].1.to_string().contains("asked to stop"));
    }

    #[tokio::test]
    async fn never_more_than_the_limit_at_once() {
        let active = Arc::new(Mutex::new((0usize, 0usize)));
        let steps = (0..10)
            .map(|i| {
                let active = active.clone();
                Step {
                    id: format!("s{i}"),
                    deps: vec![],
                    run: Box::pin(async move {
                        {
                            let mut a = active.lock().unwrap();
                            a.0 += 1;
                            a.1 = a.1.max(a.0);
                        }
                        tokio::task::yield_now().await;
                        active.lock().unwrap().0 -= 1;
                        Ok(())
                    }),
                }
            })
            .collect();
        assert!(run(steps, 3, |_, _| {}).await.is_empty());
        assert_eq!(active.lock().unwrap().1, 3);
    }
    /// With two slots, a role and a log group start together (one of each family),
    /// and a function starts as soon as its own two are done, before the other
    /// functions' roles and log groups.
    #[tokio::test]
    async fn ready_steps_start_interleaved_by_what_they_are_for() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut steps = Vec::new();
        for f in ["a", "b", "c"] {
            steps.push(step(&format!("logGroup/{f}"), &[], log.clone(), false));
            steps.push(step(&format!("role/{f}"), &[], log.clone(), false));
            let deps = [format!("logGroup/{f}"), format!("role/{f}")];
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            steps.push(step(&format!("function/{f}"), &deps, log.clone(), false));
        }
        assert!(run(steps, 2, |_, _| {}).await.is_empty());
        let order = log.lock().unwrap().clone();
        // Kind by kind, both slots would go to logGroup/a and logGroup/b, then
        // logGroup/c, and no function could start before every log group.
        let mut first: Vec<&str> = order[..2].iter().map(String::as_str).collect();
        first.sort();
        assert_eq!(first, ["logGroup/a", "role/a"], "{order:?}");
        let pos = |s: &str| order.iter().position(|x| x == s).unwrap();
        assert!(pos("function/a") < pos("role/b"), "{order:?}");
        assert!(pos("function/a") < pos("logGroup/c"), "{order:?}");
        assert!(pos("function/b") < pos("role/c"), "{order:?}");
    }
}

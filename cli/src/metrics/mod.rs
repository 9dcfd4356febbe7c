//! `metrics`: each function's invocations, errors, throttles, duration percentiles,
//! concurrency and provisioned-concurrency utilisation over a window ending now,
//! read from CloudWatch in one GetMetricData call for the whole service; during a
//! traffic shift, the old and the new version side by side.
//!
//! Pure parts (the window and its period, the queries, the report) are plain
//! functions over plain values; only [`run`] reads the state and calls AWS.

mod render;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

pub use render::{render_human, sparkline};

use crate::cloud::metrics::{self as cw, Fetched, Query};
use crate::cloud::{deployment_bucket, lambda_function, Aws, Target};
use crate::engine::state;
use crate::manifest::Service;
use crate::model::{logical_id, Kind, LIVE_ALIAS};

/// Where Lambda publishes its metrics.
pub const NAMESPACE: &str = "AWS/Lambda";
/// Points per series the period is chosen for when `--period` is not given.
pub const TARGET_POINTS: i64 = 60;
/// Points per series at most: a longer `--period` or a shorter `--since` beyond it.
pub const MAX_POINTS: i64 = 1440;
/// Periods chosen when `--period` is not given, in seconds: the smallest that keeps
/// the window within [`TARGET_POINTS`]; past a day, whole days.
const PERIODS: &[i64] = &[
    60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
];
/// What `--period` accepts, for the help of its errors.
pub const PERIOD_HELP: &str =
    "give whole minutes: --period 1m, 5m, 1h (CloudWatch keeps Lambda's metrics per minute)";

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses `--period`: a duration of whole minutes (`1m`, `5m`, `1h`, `300s`). The
/// error is a sentence about the value; the caller names the flag.
pub fn parse_period(text: &str) -> Result<u32, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|_| format!("`{text}` is not a duration (1m, 5m, 1h)"))?;
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs < 60 || secs % 60 != 0 {
        return Err(format!(
            "`{text}` is not a whole number of minutes: CloudWatch keeps Lambda's metrics per minute, so a period is 1m, 2m, 5m, …"
        ));
    }
    u32::try_from(secs)
        .ok()
        .filter(|s| *s <= i32::MAX as u32)
        .ok_or_else(|| format!("`{text}` is longer than CloudWatch's periods go"))
}

/// The window read, in epoch seconds: from `start` (a multiple of `period`) to `end`
/// (the end of the period holding now), `period` seconds a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub start: i64,
    pub end: i64,
    pub period: i64,
}

impl Window {
    /// Periods in the window: the points a series has at most.
    pub fn points(&self) -> i64 {
        (self.end - self.start) / self.period
    }
}

/// The period for a window of `seconds` when none is given: at most about
/// [`TARGET_POINTS`] points, a multiple of 60 s, at least 60 s.
pub fn choose_period(seconds: i64) -> i64 {
    round_period((seconds.max(1) + TARGET_POINTS - 1) / TARGET_POINTS)
}

/// The first of [`PERIODS`] at least `seconds` long; past a day, whole days.
fn round_period(seconds: i64) -> i64 {
    match PERIODS.iter().find(|p| **p >= seconds) {
        Some(p) => *p,
        None => (seconds + 86399) / 86400 * 86400,
    }
}

/// The window from `since_ms` to `now_ms` with `period` seconds a point (chosen when
/// `None`). Errors are sentences naming the flags.
pub fn window(since_ms: i64, now_ms: i64, period: Option<u32>) -> Result<Window, String> {
    if since_ms >= now_ms {
        return Err(
            "--since is not in the past: give a duration back (10m, 2h, 1d) or an earlier time"
                .into(),
        );
    }
    let (since, now) = (since_ms.div_euclid(1000), (now_ms + 999).div_euclid(1000));
    // The span asked for decides; aligning it to the periods adds at most one point.
    let span = (now_ms - since_ms) / 1000;
    let period = match period {
        Some(p) => i64::from(p),
        None => choose_period(span),
    };
    if span / period > MAX_POINTS {
        let least = round_period((span + MAX_POINTS - 1) / MAX_POINTS);
        return Err(format!(
            "--period {} over this window ({}) makes {} points per series, more than {MAX_POINTS}; give a longer --period (at least {}) or a shorter --since",
            duration_text(period),
            duration_text(span),
            span / period,
            duration_text(least),
        ));
    }
    // CloudWatch keeps coarser data the older it is: 5-minute points past 15 days,
    // hourly past 63, nothing past 15 months; a finer period there answers nothing.
    let age = now - since;
    let day = 86_400;
    if age > 455 * day {
        return Err(
            "--since reaches back more than 15 months: CloudWatch keeps metrics no longer".into(),
        );
    }
    for (older, step, what) in [(63 * day, 3600, "1h"), (15 * day, 300, "5m")] {
        if age > older && period % step != 0 {
            return Err(format!(
                "--period {} over data older than {} days: CloudWatch keeps it only at {what} points; give a --period that is a multiple of {what} (such as {})",
                duration_text(period),
                older / day,
                duration_text((period + step - 1) / step * step),
            ));
        }
    }
    let start = since.div_euclid(period) * period;
    let end = (now + period - 1).div_euclid(period) * period;
    Ok(Window { start, end, period })
}

/// `5m`, `1h 30m`, `2days`.
pub fn duration_text(seconds: i64) -> String {
    humantime::format_duration(Duration::from_secs(seconds.max(0) as u64)).to_string()
}

/// RFC 3339, to the second.
pub fn time_text(epoch_seconds: i64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch_seconds.max(0) as u64))
        .to_string()
}

pub struct MetricsOptions {
    /// Manifest names of the functions to read; all when empty.
    pub functions: Vec<String>,
    pub window: Window,
}

/// One function of the report, as the state and the alias say.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionTarget {
    pub name: String,
    pub physical: String,
    /// The state records it: it was deployed (and not removed).
    pub deployed: bool,
    /// The manifest declares provisioned concurrency (on `live`).
    pub provisioned: bool,
    pub shift: Option<ShiftView>,
}

/// A traffic shift under way: `live` sends `percent` to `to`, the rest to `from`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShiftView {
    pub from: String,
    pub to: String,
    pub percent: u32,
}

/// How a series is read out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Count,
    #[serde(rename = "ms")]
    Milliseconds,
    /// Values are percents (CloudWatch's fraction times 100).
    Percent,
}

/// What sums a series up: the total of a count, the peak of the rest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Summary {
    Sum(f64),
    Peak(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Summed {
    Sum,
    Peak,
}

/// One series to read for one function.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSpec {
    /// Index into the targets.
    pub function: usize,
    /// `invocations`, `duration p99`, `errors (v3)`.
    pub name: String,
    pub version: Option<String>,
    pub unit: Unit,
    summed: Summed,
    pub query: Query,
}

/// The id of a query: a lowercase letter, the function's index, the series' index.
pub fn query_id(function: usize, series: usize) -> String {
    format!("m{function}_{series}")
}

/// Every series to read, in the order they are shown.
pub fn plan(targets: &[FunctionTarget], period: i64) -> Vec<SeriesSpec> {
    let mut out = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        if !t.deployed {
            continue;
        }
        let mut n = 0;
        let mut push = |name: String,
                        version: Option<String>,
                        metric: &str,
                        stat: &str,
                        unit: Unit,
                        summed: Summed,
                        dimensions: Vec<(String, String)>| {
            out.push(SeriesSpec {
                function: i,
                name,
                version,
                unit,
                summed,
                query: Query {
                    id: query_id(i, n),
                    namespace: NAMESPACE.into(),
                    metric: metric.into(),
                    dimensions,
                    stat: stat.into(),
                    period: period as i32,
                },
            });
            n += 1;
        };
        let function = vec![("FunctionName".to_string(), t.physical.clone())];
        let alias = || {
            let mut d = function.clone();
            d.push(("Resource".into(), format!("{}:{LIVE_ALIAS}", t.physical)));
            d
        };
        for (name, metric) in [
            ("invocations", "Invocations"),
            ("errors", "Errors"),
            ("throttles", "Throttles"),
        ] {
            push(
                name.into(),
                None,
                metric,
                "Sum",
                Unit::Count,
                Summed::Sum,
                function.clone(),
            );
        }
        for p in ["p50", "p90", "p99"] {
            push(
                format!("duration {p}"),
                None,
                "Duration",
                p,
                Unit::Milliseconds,
                Summed::Peak,
                function.clone(),
            );
        }
        push(
            "concurrency".into(),
            None,
            "ConcurrentExecutions",
            "Maximum",
            Unit::Count,
            Summed::Peak,
            function.clone(),
        );
        if t.provisioned {
            push(
                "provisioned utilisation".into(),
                None,
                "ProvisionedConcurrencyUtilization",
                "Maximum",
                Unit::Percent,
                Summed::Peak,
                alias(),
            );
        }
        if let Some(shift) = &t.shift {
            for version in [&shift.from, &shift.to] {
                let mut dims = alias();
                dims.push(("ExecutedVersion".into(), version.clone()));
                for (name, metric, stat, unit, summed) in [
                    (
                        "invocations",
                        "Invocations",
                        "Sum",
                        Unit::Count,
                        Summed::Sum,
                    ),
                    ("errors", "Errors", "Sum", Unit::Count, Summed::Sum),
                    (
                        "duration p99",
                        "Duration",
                        "p99",
                        Unit::Milliseconds,
                        Summed::Peak,
                    ),
                ] {
                    push(
                        format!("{name} (v{version})"),
                        Some(version.clone()),
                        metric,
                        stat,
                        unit,
                        summed,
                        dims.clone(),
                    );
                }
            }
        }
    }
    out
}

/// One point of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Epoch seconds, the start of its period.
    #[serde(skip)]
    pub at: i64,
    /// The start of its period, RFC 3339.
    pub time: String,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    pub name: String,
    pub metric: String,
    /// `Sum`, `Maximum`, `p99`, …
    pub stat: String,
    pub unit: Unit,
    /// The version of a traffic shift this series is of (`ExecutedVersion`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Oldest first; periods without data have no point.
    pub points: Vec<Point>,
    /// `None`: no data in the window.
    pub summary: Option<Summary>,
    /// Why this series could not be read (an emulator's gap, CloudWatch's status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionMetrics {
    pub name: String,
    pub physical_name: String,
    pub deployed: bool,
    /// No series has a point in the window.
    pub no_data: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift: Option<ShiftView>,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub service: String,
    pub stage: String,
    pub region: String,
    /// The window, RFC 3339: from `start` to `end`, a point per `period` seconds.
    pub start: String,
    pub end: String,
    pub period: i64,
    #[serde(skip)]
    pub window: Window,
    pub functions: Vec<FunctionMetrics>,
    /// What the reader should know: an emulator's gap, CloudWatch's messages.
    pub notes: Vec<String>,
}

/// What moto does with a percentile statistic, told once in the notes.
const UNSERVED: &str = "the emulator fails GetMetricData on percentile statistics (moto computes none and answers HTTP 500), so the duration percentiles were read without them";

/// The report from what was read.
pub fn assemble(
    (service, stage, region): (&str, &str, &str),
    window: Window,
    targets: Vec<FunctionTarget>,
    specs: &[SeriesSpec],
    mut fetched: Fetched,
) -> Report {
    let mut notes = fetched.messages.clone();
    if !fetched.unserved.is_empty() {
        notes.push(UNSERVED.into());
    }
    let mut functions: Vec<FunctionMetrics> = targets
        .into_iter()
        .map(|t| FunctionMetrics {
            name: t.name,
            physical_name: t.physical,
            deployed: t.deployed,
            no_data: true,
            shift: t.shift,
            series: Vec::new(),
        })
        .collect();
    for spec in specs {
        let id = &spec.query.id;
        let scale = if spec.unit == Unit::Percent {
            100.0
        } else {
            1.0
        };
        let points: Vec<Point> = fetched
            .points
            .remove(id)
            .unwrap_or_default()
            .into_iter()
            .map(|(at, v)| Point {
                at,
                time: time_text(at),
                value: v * scale,
            })
            .collect();
        let unavailable = if fetched.unserved.contains(id) {
            Some("not served by the emulator".to_string())
        } else {
            fetched.incomplete.get(id).cloned()
        };
        let summary = summarize(spec.summed, &points);
        let f = &mut functions[spec.function];
        f.no_data &= points.is_empty();
        f.series.push(Series {
            name: spec.name.clone(),
            metric: spec.query.metric.clone(),
            stat: spec.query.stat.clone(),
            unit: spec.unit,
            version: spec.version.clone(),
            points,
            summary,
            unavailable,
        });
    }
    for f in &mut functions {
        // A function never deployed has nothing to say "no data" about.
        f.no_data &= f.deployed;
    }
    Report {
        service: service.to_string(),
        stage: stage.to_string(),
        region: region.to_string(),
        start: time_text(window.start),
        end: time_text(window.end),
        period: window.period,
        window,
        functions,
        notes,
    }
}

fn summarize(summed: Summed, points: &[Point]) -> Option<Summary> {
    if points.is_empty() {
        return None;
    }
    let values = points.iter().map(|p| p.value);
    Some(match summed {
        Summed::Sum => Summary::Sum(values.sum()),
        Summed::Peak => Summary::Peak(values.fold(f64::MIN, f64::max)),
    })
}

/// Reads the state (which functions are deployed, which are shifting) and the alias of
/// each shifting function, then every series in one GetMetricData call.
pub async fn run(service: &Service, opts: &MetricsOptions) -> anyhow::Result<Report> {
    let aws = Aws::connect(&Target::of(service)).await?;
    let bucket = deployment_bucket::of(service, &aws.account, &aws.target.region);
    let recorded = state::load(&aws, &bucket, &service.manifest.service, &service.stage).await?;
    let names: Vec<String> = if opts.functions.is_empty() {
        service.manifest.functions.keys().cloned().collect()
    } else {
        opts.functions.clone()
    };
    let reads = names.iter().map(|key| {
        let (aws, recorded) = (&aws, &recorded);
        async move {
            let physical = service.function_name(key);
            let rec = recorded
                .as_ref()
                .and_then(|s| s.resources.get(&logical_id(Kind::Function, key)));
            let shift = match rec.and_then(|r| r.shift.as_ref()) {
                Some(shift) => {
                    match lambda_function::read_alias_routing(aws, &physical, LIVE_ALIAS).await? {
                        // The alias's own version is the old one; a split says the share.
                        // A step recorded but never made (a kill between the two) is no split.
                        Some((primary, weights)) if primary != shift.to => {
                            weights.get(&shift.to).map(|w| ShiftView {
                                from: primary,
                                to: shift.to.clone(),
                                percent: (w * 100.0).round() as u32,
                            })
                        }
                        _ => None,
                    }
                }
                None => None,
            };
            anyhow::Ok(FunctionTarget {
                name: key.clone(),
                physical,
                deployed: rec.is_some(),
                provisioned: service
                    .manifest
                    .functions
                    .get(key)
                    .is_some_and(|f| f.provisioned_concurrency.is_some()),
                shift,
            })
        }
    });
    let targets = futures::future::try_join_all(reads).await?;
    let specs = plan(&targets, opts.window.period);
    let queries: Vec<Query> = specs.iter().map(|s| s.query.clone()).collect();
    let fetched = if queries.is_empty() {
        Fetched::default()
    } else {
        cw::get(&aws, &queries, opts.window.start, opts.window.end).await?
    };
    Ok(assemble(
        (
            service.manifest.service.as_str(),
            service.stage.as_str(),
            aws.target.region.as_str(),
        ),
        opts.window,
        targets,
        &specs,
        fetched,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn periods_are_whole_minutes_of_at_least_one() {
        assert_eq!(parse_period("1m"), Ok(60));
        assert_eq!(parse_period("5m"), Ok(300));
        assert_eq!(parse_period("300s"), Ok(300));
        assert_eq!(parse_period("1h"), Ok(3600));
        for bad in ["90s", "30s", "0s", "1m 30s", "61s"] {
            let err = parse_period(bad).unwrap_err();
            assert!(err.contains("whole number of minutes"), "{bad}: {err}");
        }
        for bad in ["5", "garbage", ""] {
            let err = parse_period(bad).unwrap_err();
            assert!(err.contains("is not a duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_chosen_period_keeps_about_sixty_points_in_whole_minutes() {
        assert_eq!(choose_period(1), 60);
        assert_eq!(choose_period(10 * 60), 60);
        assert_eq!(choose_period(3600), 60);
        assert_eq!(choose_period(3601), 120);
        assert_eq!(choose_period(2 * 3600), 120);
        assert_eq!(choose_period(6 * 3600), 600);
        assert_eq!(choose_period(24 * 3600), 1800);
        assert_eq!(choose_period(7 * 86400), 10800);
        assert_eq!(choose_period(90 * 86400), 2 * 86400);
        for seconds in [1, 59, 61, 3599, 5000, 86_399, 1_000_000, 40_000_000] {
            let p = choose_period(seconds);
            assert!(p >= 60 && p % 60 == 0, "{seconds}: {p}");
            assert!(seconds / p <= TARGET_POINTS, "{seconds}: {p}");
        }
    }

    #[test]
    fn the_window_is_aligned_to_its_period_and_ends_with_the_period_holding_now() {
        let now = 1_800_000_000_000 + 25_000; // 25 s into a minute
        let w = window(now - 60 * MIN, now, None).unwrap();
        assert_eq!(w.period, 60);
        assert_eq!(w.start % 60, 0);
        assert_eq!(w.end % 60, 0);
        assert!(w.start * 1000 <= now - 60 * MIN && w.end * 1000 >= now);
        assert_eq!(w.points(), 61);
        let w = window(now - 60 * MIN, now, Some(300)).unwrap();
        assert_eq!((w.period, w.start % 300, w.end % 300), (300, 0, 0));
    }

    #[test]
    fn a_window_in_the_future_or_of_too_many_points_is_refused_naming_the_flags() {
        let now = 1_800_000_000_000;
        assert!(window(now, now, None).unwrap_err().contains("--since"));
        assert!(window(now + MIN, now, None)
            .unwrap_err()
            .contains("--since"));
        let err = window(now - 30 * 86400 * 1000, now, Some(60)).unwrap_err();
        assert!(
            err.contains("--period 1m") && err.contains("at least 30m"),
            "{err}"
        );
        assert!(
            window(now - 86400 * 1000, now, Some(60)).is_ok(),
            "a day of minutes"
        );
    }

    #[test]
    fn old_data_takes_the_coarser_periods_cloudwatch_keeps_it_at() {
        let now = 1_800_000_000_000;
        let day = 86_400 * 1000;
        let err = window(now - 20 * day, now, Some(21 * 60)).unwrap_err();
        assert!(
            err.contains("multiple of 5m") && err.contains("25m"),
            "{err}"
        );
        assert!(window(now - 20 * day, now, Some(25 * 60)).is_ok());
        let err = window(now - 70 * day, now, Some(90 * 60)).unwrap_err();
        assert!(
            err.contains("multiple of 1h") && err.contains("2h"),
            "{err}"
        );
        assert!(
            window(now - 70 * day, now, None).is_ok(),
            "a chosen period fits"
        );
        assert!(window(now - 20 * day, now, None).is_ok());
        assert!(window(now - 500 * day, now, None)
            .unwrap_err()
            .contains("15 months"));
    }

    fn target(name: &str) -> FunctionTarget {
        FunctionTarget {
            name: name.into(),
            physical: format!("shop-dev-{name}"),
            deployed: true,
            provisioned: false,
            shift: None,
        }
    }

    #[test]
    fn each_deployed_function_gets_its_series_with_valid_unique_ids() {
        let mut pc = target("api");
        pc.provisioned = true;
        let mut shifting = target("worker");
        shifting.shift = Some(ShiftView {
            from: "2".into(),
            to: "3".into(),
            percent: 10,
        });
        let mut never = target("cron");
        never.deployed = false;
        let specs = plan(&[pc, never, shifting], 60);
        let names: Vec<(usize, &str)> = specs
            .iter()
            .map(|s| (s.function, s.name.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                (0, "invocations"),
                (0, "errors"),
                (0, "throttles"),
                (0, "duration p50"),
                (0, "duration p90"),
                (0, "duration p99"),
                (0, "concurrency"),
                (0, "provisioned utilisation"),
                (2, "invocations"),
                (2, "errors"),
                (2, "throttles"),
                (2, "duration p50"),
                (2, "duration p90"),
                (2, "duration p99"),
                (2, "concurrency"),
                (2, "invocations (v2)"),
                (2, "errors (v2)"),
                (2, "duration p99 (v2)"),
                (2, "invocations (v3)"),
                (2, "errors (v3)"),
                (2, "duration p99 (v3)"),
            ]
        );
        let mut ids: Vec<&str> = specs.iter().map(|s| s.query.id.as_str()).collect();
        assert!(ids.iter().all(|id| cw::valid_id(id)), "{ids:?}");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), specs.len(), "ids are unique");
        assert!(cw::valid_id(&query_id(usize::MAX, usize::MAX)));

        let util = &specs[7].query;
        assert_eq!(
            (util.metric.as_str(), util.stat.as_str()),
            ("ProvisionedConcurrencyUtilization", "Maximum")
        );
        assert_eq!(
            util.dimensions,
            vec![
                ("FunctionName".to_string(), "shop-dev-api".to_string()),
                ("Resource".to_string(), "shop-dev-api:live".to_string()),
            ]
        );
        let p99 = &specs[5].query;
        assert_eq!((p99.stat.as_str(), p99.period), ("p99", 60));
        assert_eq!(p99.dimensions.len(), 1);
        let new = &specs[20];
        assert_eq!(new.version.as_deref(), Some("3"));
        assert_eq!(
            new.query.dimensions,
            vec![
                ("FunctionName".to_string(), "shop-dev-worker".to_string()),
                ("Resource".to_string(), "shop-dev-worker:live".to_string()),
                ("ExecutedVersion".to_string(), "3".to_string()),
            ]
        );
    }

    #[test]
    fn counts_are_summed_the_rest_peaks_and_no_points_is_no_summary() {
        let points = |values: &[f64]| -> Vec<Point> {
            values
                .iter()
                .enumerate()
                .map(|(i, v)| Point {
                    at: i as i64 * 60,
                    time: String::new(),
                    value: *v,
                })
                .collect()
        };
        assert_eq!(
            summarize(Summed::Sum, &points(&[3.0, 4.0, 0.0])),
            Some(Summary::Sum(7.0))
        );
        assert_eq!(
            summarize(Summed::Peak, &points(&[12.5, 300.0, 40.0])),
            Some(Summary::Peak(300.0))
        );
        assert_eq!(summarize(Summed::Sum, &[]), None);
        assert_eq!(
            serde_json::to_value(Summary::Sum(7.0)).unwrap(),
            serde_json::json!({ "sum": 7.0 })
        );
        assert_eq!(
            serde_json::to_value(Unit::Milliseconds).unwrap(),
            serde_json::json!("ms")
        );
    }

    #[test]
    fn the_report_puts_points_under_their_series_in_percent_where_due_and_says_what_is_missing() {
        let mut api = target("api");
        api.provisioned = true;
        let mut never = target("cron");
        never.deployed = false;
        let quiet = target("quiet");
        let targets = vec![api, never, quiet];
        let specs = plan(&targets, 60);
        let w = Window {
            start: 1_800_000_000,
            end: 1_800_003_600,
            period: 60,
        };
        let mut fetched = Fetched::default();
        fetched.points.insert(
            "m0_0".into(),
            vec![(w.start + 60, 3.0), (w.start + 300, 4.0)],
        );
        fetched
            .points
            .insert("m0_7".into(), vec![(w.start + 60, 0.5)]);
        fetched.unserved.insert("m0_5".into());
        fetched
            .incomplete
            .insert("m0_6".into(), "Forbidden: not authorized".into());
        let report = assemble(("shop", "dev", "eu-west-1"), w, targets, &specs, fetched);
        let [api, never, quiet] = &report.functions[..] else {
            panic!("{report:?}")
        };
        assert!(api.deployed && !api.no_data);
        assert_eq!(api.series[0].summary, Some(Summary::Sum(7.0)));
        assert_eq!(api.series[0].points[0].time, time_text(w.start + 60));
        assert_eq!(api.series[1].summary, None, "errors: no data");
        assert_eq!(
            api.series[5].unavailable.as_deref(),
            Some("not served by the emulator")
        );
        assert_eq!(
            api.series[6].unavailable.as_deref(),
            Some("Forbidden: not authorized")
        );
        assert_eq!(api.series[7].unit, Unit::Percent);
        assert_eq!(api.series[7].summary, Some(Summary::Peak(50.0)));
        assert!(!never.deployed && never.series.is_empty() && !never.no_data);
        assert!(quiet.deployed && quiet.no_data && quiet.series.len() == 7);
        assert!(
            report.notes.iter().any(|n| n.contains("percentile")),
            "{:?}",
            report.notes
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["period"], 60);
        assert_eq!(json["functions"][0]["series"][0]["points"][1]["value"], 4.0);
        assert_eq!(json["functions"][0]["series"][0]["stat"], "Sum");
        assert_eq!(json["functions"][0]["series"][0]["unit"], "count");
        assert!(json["functions"][0]["series"][0]["points"][0]
            .get("at")
            .is_none());
    }
}

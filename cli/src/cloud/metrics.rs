//! CloudWatch metric data, read only: `sls-rs metrics` asks GetMetricData for every
//! series of every function in one call (more only past [`QUERIES_PER_CALL`]
//! queries), following NextToken. Plain types in and out: a namespace, a metric,
//! its dimensions, a statistic and a period per query; the points per query id.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::DateTime;

use super::{aws_error, Aws, Svc};

/// GetMetricData takes at most this many queries per call.
pub const QUERIES_PER_CALL: usize = 500;

/// Attempts of a call with percentile statistics on an emulator: moto answers such a
/// call with an HTTP 500 every time (below), so it is not worth the SDK's dozen.
const EMULATOR_ATTEMPTS: u32 = 2;

/// The statistics every CloudWatch implementation computes; any other (`p99`, `tm90`,
/// `IQM`, …) is an extended statistic.
const PLAIN_STATS: &[&str] = &["Sum", "Average", "Minimum", "Maximum", "SampleCount"];

/// One series to read.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Unique in the call; a lowercase letter first, then letters, digits and `_`,
    /// at most 255 characters (see [`valid_id`]).
    pub id: String,
    pub namespace: String,
    pub metric: String,
    /// Name and value of each dimension: the exact set the metric was published with.
    pub dimensions: Vec<(String, String)>,
    /// `Sum`, `Maximum`, `p99`, …
    pub stat: String,
    /// Seconds: a multiple of 60.
    pub period: i32,
}

/// What the calls answered.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fetched {
    /// Per query id: (epoch seconds, value), oldest first. An id with no data has no points.
    pub points: BTreeMap<String, Vec<(i64, f64)>>,
    /// Queries CloudWatch did not answer in full (`Forbidden`, `InternalError`), and why.
    pub incomplete: BTreeMap<String, String>,
    /// Queries an emulator failed on and that were asked again without them: moto
    /// answers a call holding a percentile statistic with an HTTP 500 (its
    /// GetMetricData computes none, and its serializer fails on the missing value).
    pub unserved: BTreeSet<String>,
    /// The calls' own messages (`code: text`), such as a time range too long.
    pub messages: Vec<String>,
}

/// Whether an id is one GetMetricData accepts.
pub fn valid_id(id: &str) -> bool {
    id.len() <= 255
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a statistic is an extended one (a percentile and its kin).
pub fn is_extended(stat: &str) -> bool {
    !PLAIN_STATS.contains(&stat)
}

/// The queries of each call: at most [`QUERIES_PER_CALL`] each, in order.
pub fn batches(queries: &[Query]) -> Vec<&[Query]> {
    queries.chunks(QUERIES_PER_CALL).collect()
}

/// Reads every query over `[start, end)` (epoch seconds, aligned to the periods).
pub async fn get(aws: &Aws, queries: &[Query], start: i64, end: i64) -> anyhow::Result<Fetched> {
    let mut out = Fetched::default();
    for batch in batches(queries) {
        let emulated = aws.emulates(Svc::CloudWatch);
        let extended: Vec<&Query> = batch.iter().filter(|q| is_extended(&q.stat)).collect();
        if emulated && !extended.is_empty() {
            match call(aws, batch, start, end, Some(EMULATOR_ATTEMPTS), &mut out).await {
                Ok(()) => continue,
                Err(Failed::EmulatorFault) => {
                    // Asked again without them; the points of the first try are dropped.
                    for q in &extended {
                        out.points.remove(&q.id);
                        out.incomplete.remove(&q.id);
                        out.unserved.insert(q.id.clone());
                    }
                    let plain: Vec<Query> = batch
                        .iter()
                        .filter(|q| !is_extended(&q.stat))
                        .cloned()
                        .collect();
                    for q in &plain {
                        out.points.remove(&q.id);
                        out.incomplete.remove(&q.id);
                    }
                    if !plain.is_empty() {
                        call(aws, &plain, start, end, None, &mut out)
                            .await
                            .map_err(Failed::into_error)?;
                    }
                }
                Err(Failed::Other(e)) => return Err(e),
            }
        } else {
            call(aws, batch, start, end, None, &mut out)
                .await
                .map_err(Failed::into_error)?;
        }
    }
    for points in out.points.values_mut() {
        points.sort_by_key(|(t, _)| *t);
        points.dedup_by_key(|(t, _)| *t);
    }
    Ok(out)
}

enum Failed {
    /// An emulator's HTTP 500 without an AWS error code.
    EmulatorFault,
    Other(anyhow::Error),
}

impl Failed {
    fn into_error(self) -> anyhow::Error {
        match self {
            Failed::EmulatorFault => anyhow::anyhow!(
                "the CloudWatch metrics (cloudwatch:GetMetricData): HTTP 500 with no error code AWS could name"
            ),
            Failed::Other(e) => e,
        }
    }
}

/// One batch, every page of it, into `out`. `attempts`: the SDK's attempts, when not its default.
async fn call(
    aws: &Aws,
    batch: &[Query],
    start: i64,
    end: i64,
    attempts: Option<u32>,
    out: &mut Fetched,
) -> Result<(), Failed> {
    let mut token: Option<String> = None;
    loop {
        let request = aws
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(batch.iter().map(to_sdk).collect()))
            .start_time(DateTime::from_secs(start))
            .end_time(DateTime::from_secs(end))
            .scan_by(ScanBy::TimestampAscending)
            .set_next_token(token.clone());
        let answer = match attempts {
            Some(n) => {
                request
                    .customize()
                    .config_override(
                        aws_sdk_cloudwatch::config::Builder::default().retry_config(
                            aws_config::retry::RetryConfig::standard()
                                .with_max_attempts(n)
                                .with_initial_backoff(Duration::from_millis(200)),
                        ),
                    )
                    .send()
                    .await
            }
            None => request.send().await,
        };
        let page = match answer {
            Ok(page) => page,
            Err(e) => {
                let fault = e.raw_response().is_some_and(|r| r.status().as_u16() == 500)
                    && e.code().is_none();
                if attempts.is_some() && fault {
                    return Err(Failed::EmulatorFault);
                }
                return Err(Failed::Other(aws_error(
                    &format!("the CloudWatch metrics of {} series", batch.len()),
                    "cloudwatch:GetMetricData",
                    e,
                )));
            }
        };
        for m in page.messages() {
            let text = format!(
                "{}: {}",
                m.code().unwrap_or("CloudWatch"),
                m.value().unwrap_or_default()
            );
            if !out.messages.contains(&text) {
                out.messages.push(text);
            }
        }
        for result in page.metric_data_results() {
            let Some(id) = result.id() else { continue };
            let points = out.points.entry(id.to_string()).or_default();
            points.extend(
                result
                    .timestamps()
                    .iter()
                    .zip(result.values())
                    .map(|(t, v)| (t.secs(), *v)),
            );
            match result.status_code() {
                Some(StatusCode::Forbidden) | Some(StatusCode::InternalError) => {
                    let why: Vec<String> = result
                        .messages()
                        .iter()
                        .filter_map(|m| m.value().map(str::to_string))
                        .collect();
                    let status = result.status_code().map(|s| s.as_str()).unwrap_or_default();
                    out.incomplete.insert(
                        id.to_string(),
                        if why.is_empty() {
                            status.to_string()
                        } else {
                            format!("{status}: {}", why.join("; "))
                        },
                    );
                }
                _ => {
                    out.incomplete.remove(id);
                }
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(());
        }
    }
}

fn to_sdk(q: &Query) -> MetricDataQuery {
    let mut metric = Metric::builder()
        .namespace(&q.namespace)
        .metric_name(&q.metric);
    for (name, value) in &q.dimensions {
        metric = metric.dimensions(Dimension::builder().name(name).value(value).build());
    }
    MetricDataQuery::builder()
        .id(&q.id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric.build())
                .period(q.period)
                .stat(&q.stat)
                .build(),
        )
        .return_data(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: String) -> Query {
        Query {
            id,
            namespace: "AWS/Lambda".into(),
            metric: "Invocations".into(),
            dimensions: vec![("FunctionName".into(), "shop-dev-api".into())],
            stat: "Sum".into(),
            period: 60,
        }
    }

    #[test]
    fn up_to_500_queries_go_in_one_call_and_more_are_split_in_order() {
        let queries: Vec<Query> = (0..1001).map(|i| query(format!("q{i}"))).collect();
        assert_eq!(batches(&queries[..1]).len(), 1);
        assert_eq!(batches(&queries[..500]).len(), 1);
        let split = batches(&queries);
        assert_eq!(
            split.iter().map(|b| b.len()).collect::<Vec<_>>(),
            vec![500, 500, 1]
        );
        assert_eq!(split[1][0].id, "q500");
        assert_eq!(split[2][0].id, "q1000");
        assert!(batches(&[]).is_empty(), "no query, no call");
    }

    #[test]
    fn ids_start_with_a_lowercase_letter_and_stay_within_255_characters() {
        assert!(valid_id("m0_3"));
        assert!(valid_id(&format!("m{}", "9".repeat(254))));
        assert!(!valid_id(&format!("m{}", "9".repeat(255))));
        assert!(!valid_id("M0"));
        assert!(!valid_id("0m"));
        assert!(!valid_id("m-0"));
        assert!(!valid_id(""));
    }

    #[test]
    fn percentiles_are_extended_statistics_and_the_five_plain_ones_are_not() {
        for stat in ["p50", "p99", "p99.9", "tm90", "IQM"] {
            assert!(is_extended(stat), "{stat}");
        }
        for stat in PLAIN_STATS {
            assert!(!is_extended(stat), "{stat}");
        }
    }

    #[test]
    fn a_query_becomes_the_sdks_with_its_dimensions_stat_and_period() {
        let mut q = query("m0_1".into());
        q.dimensions
            .push(("Resource".into(), "shop-dev-api:live".into()));
        q.stat = "p99".into();
        let sdk = to_sdk(&q);
        assert_eq!(sdk.id(), Some("m0_1"));
        assert_eq!(sdk.return_data(), Some(true));
        let stat = sdk.metric_stat().unwrap();
        assert_eq!((stat.stat(), stat.period()), (Some("p99"), Some(60)));
        let metric = stat.metric().unwrap();
        assert_eq!(metric.namespace(), Some("AWS/Lambda"));
        let dims: Vec<(&str, &str)> = metric
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap(), d.value().unwrap()))
            .collect();
        assert_eq!(
            dims,
            vec![
                ("FunctionName", "shop-dev-api"),
                ("Resource", "shop-dev-api:live")
            ]
        );
    }
}

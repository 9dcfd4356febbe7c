//! `sls-rs metrics` against the emulator: metric data put into `AWS/Lambda` with a
//! function's dimensions (as Lambda publishes it) is read back per series, summed or
//! peaked; a shift in progress shows both versions; the flags' mistakes are refused
//! before any AWS call.

use crate::support;

use support::{Kind, Svc};

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use serde_json::Value;

use support::fixture::{aws, Fixture};

/// One series of one function in a `metrics --json` document.
fn series<'a>(report: &'a Value, function: &str, name: &str) -> &'a Value {
    function_of(report, function)["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no series `{name}` of {function} in {report}"))
}

fn function_of<'a>(report: &'a Value, function: &str) -> &'a Value {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == function)
        .unwrap_or_else(|| panic!("no function {function} in {report}"))
}

/// Puts one data point into `AWS/Lambda`, `ago` minutes back; several values are a
/// distribution (as Lambda reports durations).
async fn put(
    aws: &sls_rs::cloud::Aws,
    metric: &str,
    dimensions: &[(&str, &str)],
    unit: StandardUnit,
    ago: i64,
    values: &[f64],
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut datum = MetricDatum::builder()
        .metric_name(metric)
        .unit(unit)
        .timestamp(DateTime::from_secs(now - ago * 60));
    for (name, value) in dimensions {
        datum = datum.dimensions(Dimension::builder().name(*name).value(*value).build());
    }
    datum = match values {
        [one] => datum.value(*one),
        many => many.iter().fold(datum, |d, v| d.values(*v).counts(1.0)),
    };
    aws.cloudwatch
        .put_metric_data()
        .namespace("AWS/Lambda")
        .metric_data(datum.build())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_reads_every_series_of_every_function_and_both_versions_of_a_shift() {
    if !support::needs(&[Svc::Lambda, Svc::CloudWatch]) {
        return;
    }
    let functions = |interval: &str, extra: &str| {
        format!(
            "  api:\n    handler: api\n    deployment: {{ strategy: linear, percent: 20, interval: {interval} }}\n  pc: {{ handler: pc, provisionedConcurrency: 1 }}\n  quiet: {{ handler: quiet }}\n{extra}"
        )
    };
    let f = Fixture::new("metrics", &functions("30s", ""));
    f.deploy();
    let aws = aws().await;
    let (api, pc) = (f.name("api"), f.name("pc"));
    let (api_live, pc_live) = (format!("{api}:live"), format!("{pc}:live"));
    let by_function = [("FunctionName", api.as_str())];
    let count = StandardUnit::Count;
    for (ago, n) in [(10, 3.0), (5, 4.0), (180, 50.0)] {
        put(&aws, "Invocations", &by_function, count.clone(), ago, &[n]).await;
    }
    // The same metric with more dimensions is another series: not counted above.
    let by_alias = [
        ("FunctionName", api.as_str()),
        ("Resource", api_live.as_str()),
    ];
    put(&aws, "Invocations", &by_alias, count.clone(), 5, &[100.0]).await;
    put(&aws, "Errors", &by_function, count.clone(), 5, &[1.0]).await;
    for (ago, n) in [(10, 1.0), (5, 2.0)] {
        put(
            &aws,
            "ConcurrentExecutions",
            &by_function,
            count.clone(),
            ago,
            &[n],
        )
        .await;
    }
    let ms = StandardUnit::Milliseconds;
    put(&aws, "Duration", &by_function, ms, 5, &[10.0, 20.0, 300.0]).await;
    let pc_alias = [
        ("FunctionName", pc.as_str()),
        ("Resource", pc_live.as_str()),
    ];
    let utilisation = "ProvisionedConcurrencyUtilization";
    put(&aws, utilisation, &pc_alias, StandardUnit::None, 3, &[0.5]).await;

    // A function added to the manifest and not deployed yet.
    f.write(&functions("30s", "  later: { handler: later }\n"), &[]);
    let report = f.json(&["metrics", "--since", "1h"]);
    assert_eq!(
        report["period"], 60,
        "an hour is 60 points of a minute: {report}"
    );
    let invocations = series(&report, "api", "invocations");
    assert_eq!(
        invocations["summary"],
        serde_json::json!({ "sum": 7.0 }),
        "{report}"
    );
    assert_eq!(invocations["stat"], "Sum");
    assert_eq!(invocations["unit"], "count");
    let values: Vec<f64> = invocations["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(
        values,
        vec![3.0, 4.0],
        "oldest first, the old point outside the window"
    );
    assert!(invocations["points"][0]["time"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(series(&report, "api", "errors")["summary"]["sum"], 1.0);
    assert!(
        series(&report, "api", "throttles")["summary"].is_null(),
        "no data"
    );
    assert_eq!(
        series(&report, "api", "concurrency")["summary"]["peak"],
        2.0
    );
    let p99 = series(&report, "api", "duration p99");
    assert_eq!(
        (&p99["stat"], &p99["unit"]),
        (&Value::from("p99"), &Value::from("ms"))
    );
    if support::kind() == Kind::Moto {
        // moto computes no percentile and fails the whole call on one: they are asked
        // again without, and said to be missing.
        assert_eq!(p99["unavailable"], "not served by the emulator", "{report}");
        assert!(
            report["notes"].to_string().contains("percentile"),
            "{report}"
        );
    } else {
        assert!(p99["summary"]["peak"].as_f64().unwrap() > 250.0, "{report}");
    }
    let util = series(&report, "pc", "provisioned utilisation");
    assert_eq!(util["unit"], "percent");
    assert_eq!(util["summary"]["peak"], 50.0, "{report}");
    assert!(
        function_of(&report, "api")
            .get("series")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["name"] != "provisioned utilisation"),
        "only with provisioned concurrency"
    );
    let quiet = function_of(&report, "quiet");
    assert!(
        quiet["deployed"] == true && quiet["noData"] == true,
        "{report}"
    );
    let later = function_of(&report, "later");
    assert!(
        later["deployed"] == false && later["series"] == serde_json::json!([]),
        "{report}"
    );

    let (out, human, stderr) = support::run(&mut f.command(&["metrics", "--since", "1h"]));
    assert!(out.status.success(), "{stderr}");
    assert!(human.contains("a point per 1m"), "{human}");
    let row = |start: &str| {
        human
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .starts_with(start)
            })
            .unwrap_or_else(|| panic!("no row `{start}`:\n{human}"))
            .to_string()
    };
    let api_row = row("api invocations sum 7");
    assert!(
        api_row.contains('█') && api_row.contains('·'),
        "a sparkline with gaps: {api_row}"
    );
    row("later not deployed");
    row("quiet no data");
    row("provisioned utilisation peak 50%");

    let only = f.json(&["metrics", "--since", "1h", "-f", "pc"]);
    assert_eq!(only["functions"].as_array().unwrap().len(), 1, "{only}");

    // A shift in progress: a deploy killed while `live` is split keeps it so.
    f.write(&functions("30s", ""), &[("api", "v2")]);
    let mut child = f
        .command(&["deploy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while support::fixture::alias_routing(&aws, &api)
        .await
        .1
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "no split within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    child.wait().unwrap();
    for (version, n) in [("1", 5.0), ("2", 2.0)] {
        let by_version = [
            ("FunctionName", api.as_str()),
            ("Resource", api_live.as_str()),
            ("ExecutedVersion", version),
        ];
        put(&aws, "Invocations", &by_version, count.clone(), 1, &[n]).await;
    }
    let report = f.json(&["metrics", "--since", "1h", "-f", "api"]);
    assert_eq!(
        function_of(&report, "api")["shift"],
        serde_json::json!({ "from": "1", "to": "2", "percent": 20 }),
        "{report}"
    );
    assert_eq!(
        series(&report, "api", "invocations (v1)")["summary"]["sum"],
        5.0,
        "{report}"
    );
    assert_eq!(
        series(&report, "api", "invocations (v2)")["summary"]["sum"],
        2.0
    );
    assert_eq!(series(&report, "api", "invocations (v2)")["version"], "2");
    assert!(series(&report, "api", "errors (v2)")["summary"].is_null());
    series(&report, "api", "duration p99 (v1)");
    assert_eq!(
        series(&report, "api", "invocations")["summary"]["sum"],
        7.0,
        "unchanged"
    );
    let (out, human, stderr) = support::run(&mut f.command(&["metrics", "-f", "api"]));
    assert!(out.status.success(), "{stderr}");
    assert!(
        human.contains("api: shifting, 20% of `live` on version 2, the rest on version 1"),
        "{human}"
    );
    f.json(&["remove", "--force"]);
}

/// A mistake in the flags is refused (exit 2, in the flag's words) before any AWS
/// call: the stage's endpoint has nothing listening, which any call would meet.
#[test]
fn metrics_refuses_a_bad_function_since_or_period_before_any_call() {
    let service = support::unique_service("metricsflags");
    let dir = std::env::temp_dir().join(&service);
    std::fs::create_dir_all(dir.join(".sls-rs")).unwrap();
    let f = Fixture { dir, service };
    f.write_at("  api: { handler: api }\n", &[], "http://127.0.0.1:9");
    let refused = |args: &[&str], says: &[&str]| {
        let mut cmd = f.command(&["metrics"]);
        let (out, stdout, stderr) = support::run(cmd.args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}:\n{stdout}\n{stderr}");
        for text in says {
            assert!(
                stderr.contains(text),
                "{args:?} does not say `{text}`:\n{stderr}"
            );
        }
        assert!(
            !stderr.contains("127.0.0.1:9"),
            "{args:?} called AWS:\n{stderr}"
        );
    };
    refused(&["-f", "nosuch"], &["there is no function `nosuch`", "api"]);
    refused(
        &["--since", "garbage"],
        &["--since `garbage` is neither a duration (10m, 2h) nor a time"],
    );
    refused(
        &["--period", "90s"],
        &[
            "--period `90s` is not a whole number of minutes",
            "--period 1m",
        ],
    );
    refused(&["--period", "5"], &["--period `5` is not a duration"]);
    refused(
        &["--since", "2099-01-01T00:00:00Z"],
        &["--since is not in the past"],
    );
    refused(
        &["--since", "30d", "--period", "1m"],
        &["points per series", "at least 30m"],
    );
    // With --json, the same mistake is the JSON document on stdout.
    let mut cmd = f.command(&["metrics", "--json", "--period", "90s"]);
    let (out, stdout, _) = support::run(&mut cmd);
    assert_eq!(out.status.code(), Some(2));
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert!(
        doc["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--period"),
        "{doc}"
    );
    // The same command with good flags does reach for the endpoint (and fails there).
    let (out, _, stderr) = support::run(&mut f.command(&["metrics"]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}

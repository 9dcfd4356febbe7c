//! Every example converges under the realism layer (tests/support/realism.py), one
//! behaviour of AWS at a time and all of them together: deploy, a redeploy that
//! changes nothing, a one-function change, a rollback and a remove, each checked
//! by reading the emulator back: what exists (listed straight from the emulator,
//! not through the layer) is exactly what the state records, a plan (which reads
//! back every field sls-rs manages) finds nothing to change, and nothing is left
//! after the remove.
//! Functions are fake zips (the emulator never runs code), so nothing compiles.

use crate::support;

use support::Svc;

use serde_json::Value;
use support::fixture::{self, Fixture};

const EXAMPLES: &[&str] = &[
    "hello",
    "nightly-report",
    "order-workflow",
    "thumbnails",
    "todo-api",
];

/// With every behaviour on, the layer's timings are AWS's scaled down to a fifth
/// (IAM 1.6 s, Pending and InProgress 0.4 s, mappings 2 s, a queue name 12 s).
const SCALE_ALL: &str = "0.2";

/// Deploy, redeploy, change one function, roll back and remove `example` through
/// `endpoint`, checking each step against the emulator itself; with `recreate`,
/// deploy and remove it once more straight after.
fn cycle(test: &str, example: &str, endpoint: &str, recreate: bool) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let aws = rt.block_on(fixture::aws());
    let f = Fixture::example(test, example, endpoint);
    let context = format!("{example} under {test}");
    let same_as_recorded = || {
        let recorded = rt.block_on(fixture::recorded_resources(&aws, &f));
        // moto pages ListRoles and ListFunctions by position: other tests creating and
        // deleting at the same time can shift a page. A real difference stays; a shift does not.
        let mut live = rt.block_on(fixture::live_resources(&aws, &f));
        for _ in 0..3 {
            if live == recorded {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
            live = rt.block_on(fixture::live_resources(&aws, &f));
        }
        assert_eq!(
            live, recorded,
            "{context}: the emulator holds other resources than the state records"
        );
        // A plan reads back every field it manages. Through the same endpoint: queue
        // URLs (in environments and definitions) carry the endpoint's address.
        let plan = f.json(&["plan"]);
        let pending: Vec<&Value> = plan["plan"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["action"] != "unchanged" || !c["drift"].as_array().unwrap().is_empty())
            .collect();
        assert!(
            pending.is_empty(),
            "{context}: read back directly, the plan still changes {pending:?}"
        );
    };

    let first = f.deploy();
    let functions: Vec<String> = first["deployment"]["changed"]
        .as_array()
        .unwrap_or_else(|| panic!("{context}: no deployment in {first}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(!functions.is_empty(), "{context}: {first}");
    same_as_recorded();

    let again = f.deploy();
    assert!(
        again["deployment"].is_null(),
        "{context}: redeploy changed {}",
        again["plan"]
    );
    assert_eq!(fixture::mutating(&again), Vec::<String>::new(), "{context}");

    let changed = functions[0].as_str();
    let code = [(changed, "v2")];
    f.write_example(example, endpoint, &code);
    let second = f.deploy();
    assert_eq!(
        second["deployment"]["changed"],
        serde_json::json!([changed]),
        "{context}"
    );
    same_as_recorded();
    let version = |d: &Value| {
        d["deployment"]["functions"][changed]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (before, after) = (version(&first), version(&second));
    assert_ne!(before, after, "{context}");
    let live = || rt.block_on(fixture::alias_version(&aws, &f.name(changed)));
    assert_eq!(live(), Some(after), "{context}");

    f.json(&["rollback"]);
    assert_eq!(
        live(),
        Some(before),
        "{context}: rollback left live elsewhere"
    );

    let removed = f.json(&["remove", "--force"]);
    assert_eq!(removed["retained"], serde_json::json!([]), "{context}");
    let left = rt.block_on(fixture::live_resources(&aws, &f));
    assert_eq!(left, Vec::<String>::new(), "{context}: left after remove");

    if recreate {
        // At once under the same names: SQS refuses a queue name deleted moments ago.
        f.deploy();
        same_as_recorded();
        f.json(&["remove", "--force"]);
        let left = rt.block_on(fixture::live_resources(&aws, &f));
        assert_eq!(
            left,
            Vec::<String>::new(),
            "{context}: left after the second remove"
        );
    }
}

/// Every example's cycle, side by side, through one layer started with `flags`
/// (one seed, so a failure replays).
fn every_example_through(test: &str, flags: &[&str]) {
    if !support::needs(NEEDS) {
        return;
    }
    let mut args = vec!["--seed", "11"];
    args.extend_from_slice(flags);
    let layer = support::Realism::start(&args);
    let recreate = flags
        .iter()
        .any(|f| ["--queue-deleted-recently", "--all"].contains(f));
    std::thread::scope(|s| {
        for example in EXAMPLES {
            let endpoint = layer.endpoint.clone();
            s.spawn(move || cycle(test, example, &endpoint, recreate));
        }
    });
}

/// What the examples use between them.
const NEEDS: &[Svc] = &[
    Svc::Lambda,
    Svc::DynamoDb,
    Svc::HttpApi,
    Svc::Sqs,
    Svc::StepFunctions,
];

#[test]
fn without_the_layer() {
    if !support::needs(NEEDS) {
        return;
    }
    std::thread::scope(|s| {
        for example in EXAMPLES {
            s.spawn(move || cycle("plain", example, &support::emulator().endpoint, false));
        }
    });
}

#[test]
fn losing_the_first_answer_of_every_write() {
    every_example_through("lose", &["--lose-first-write"]);
}

#[test]
fn throttled_at_aws_rates() {
    every_example_through("throttle", &["--throttle"]);
}

#[test]
fn while_iam_changes_propagate() {
    every_example_through("iam", &["--iam-delay", "2"]);
}

#[test]
fn with_functions_pending_and_updates_in_progress() {
    every_example_through("states", &["--pending", "1", "--in-progress", "1"]);
}

#[test]
fn with_event_source_mappings_in_transition() {
    every_example_through("esm", &["--esm-transition", "2"]);
}

#[test]
fn with_deleted_queue_names_blocked() {
    every_example_through("qdr", &["--queue-deleted-recently", "5"]);
}

#[test]
fn with_faults_and_latency() {
    every_example_through("faults", &["--faults", "0.05", "--latency-ms", "10"]);
}

#[test]
fn with_every_behaviour_at_once() {
    every_example_through("all", &["--all", "--scale", SCALE_ALL]);
}

/// A fixture with one function asking for `pc` provisioned instances, at `endpoint`.
fn pc_fixture(test: &str, pc: u32, endpoint: &str) -> Fixture {
    let functions = format!("  api:\n    handler: api\n    provisionedConcurrency: {pc}\n");
    let f = Fixture::new(test, &functions);
    f.write_at(&functions, &[], endpoint);
    f
}

/// The layer serves provisioned concurrency (moto has none) the way AWS does:
/// IN_PROGRESS, then READY after `--pc-ready`.
#[test]
fn provisioned_concurrency_is_waited_for_read_back_live_and_repaired() {
    if !support::needs(&[Svc::Lambda, Svc::S3, Svc::Iam]) {
        return;
    }
    let layer = support::Realism::start(&["--seed", "3", "--pc-ready", "2"]);
    let f = pc_fixture("pc-ready", 2, &layer.endpoint);
    let started = std::time::Instant::now();
    let deployed = f.deploy();
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "deploy ended before provisioned concurrency was READY"
    );
    assert_eq!(deployed["warnings"], serde_json::json!([]), "{deployed}");
    let info = f.json(&["info"]);
    assert_eq!(info["functions"][0]["provisionedConcurrency"], 2, "{info}");
    assert_eq!(info["functions"][0]["provisionedStatus"], "READY", "{info}");

    // Someone changes it in the console: the plan reads AWS, not the record.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let aws = rt.block_on(sls_rs::cloud::Aws::connect(&sls_rs::cloud::Target {
        endpoint: Some(layer.endpoint.clone()),
        ..support::emulator().target()
    }));
    let aws = aws.unwrap();
    rt.block_on(
        aws.lambda
            .put_provisioned_concurrency_config()
            .function_name(f.name("api"))
            .qualifier("live")
            .provisioned_concurrent_executions(5)
            .send(),
    )
    .unwrap();
    let plan = f.json(&["plan"]);
    let function = fixture::planned(&plan, "function/api");
    assert!(
        function.to_string().contains("provisionedConcurrency"),
        "the console's 5 instances are not seen: {function}"
    );
    f.deploy();
    let info = f.json(&["info"]);
    assert_eq!(info["functions"][0]["provisionedConcurrency"], 2, "{info}");
    f.json(&["remove", "--force"]);
}

/// Over the account's limit AWS accepts the request and the configuration ends
/// FAILED: the deploy fails naming the function and AWS's reason, and says where
/// traffic is (the alias already moved).
#[test]
fn provisioned_concurrency_that_fails_names_the_function_the_reason_and_where_traffic_is() {
    if !support::needs(&[Svc::Lambda, Svc::S3, Svc::Iam]) {
        return;
    }
    let layer = support::Realism::start(&["--seed", "4", "--pc-ready", "1", "--pc-limit", "1"]);
    let f = pc_fixture("pc-failed", 3, &layer.endpoint);
    let (out, _, stderr) = support::run(&mut f.command(&["deploy"]));
    assert!(!out.status.success(), "{stderr}");
    let name = f.name("api");
    for expected in [name.as_str(), "FAILED", "`live` points at version 1"] {
        assert!(stderr.contains(expected), "no `{expected}` in:\n{stderr}");
    }
    f.json(&["remove", "--force"]);
}

//! Every example converges under the realism layer (tests/support/realism.py), one
//! behaviour of AWS at a time and all of them together: deploy, a redeploy that
//! changes nothing, a one-function change, a rollback and a remove, each checked
//! by reading the emulator back directly (not through the layer): what exists is
//! exactly what the state records, a plan straight against the emulator finds
//! nothing to change, and nothing is left after the remove.
//! Functions are fake zips (the emulator never runs code), so nothing compiles.

mod support;

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

/// The layer's timings are AWS's scaled down (`--scale`), so a cycle takes seconds.
const SCALE: &str = "0.05";

/// Deploy, redeploy, change one function, roll back and remove `example` through
/// `endpoint`, checking each step against the emulator itself.
fn cycle(test: &str, example: &str, endpoint: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let aws = rt.block_on(fixture::aws());
    let f = Fixture::example(test, example, endpoint);
    let context = format!("{example} under {test}");
    let same_as_recorded = |code: &[(&str, &str)]| {
        let live = rt.block_on(fixture::live_resources(&aws, &f));
        let recorded = rt.block_on(fixture::recorded_resources(&aws, &f));
        assert_eq!(
            live, recorded,
            "{context}: the emulator holds other resources than the state records"
        );
        // A plan read straight from the emulator, not through the layer.
        f.write_example(example, &support::emulator().endpoint, code);
        let plan = f.json(&["plan"]);
        f.write_example(example, endpoint, code);
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
    same_as_recorded(&[]);

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
    same_as_recorded(&code);
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
}

/// Every example's cycle, side by side, through one layer started with `flags`.
fn every_example_through(test: &str, flags: &[&str]) {
    let _ = SCALE;
    let layer = support::Realism::start(flags);
    std::thread::scope(|s| {
        for example in EXAMPLES {
            let endpoint = layer.endpoint.clone();
            s.spawn(move || cycle(test, example, &endpoint));
        }
    });
}

#[test]
fn without_the_layer() {
    if !support::needs(&[
        Svc::Lambda,
        Svc::DynamoDb,
        Svc::HttpApi,
        Svc::Sqs,
        Svc::StepFunctions,
    ]) {
        return;
    }
    std::thread::scope(|s| {
        for example in EXAMPLES {
            s.spawn(move || cycle("plain", example, &support::emulator().endpoint));
        }
    });
}

#[test]
fn losing_the_first_answer_of_every_write() {
    if !support::needs(&[
        Svc::Lambda,
        Svc::DynamoDb,
        Svc::HttpApi,
        Svc::Sqs,
        Svc::StepFunctions,
    ]) {
        return;
    }
    every_example_through("lose", &["--lose", "."]);
}

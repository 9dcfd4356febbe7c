//! The integration-test harness: the real `sls-rs` binary, and a local AWS
//! emulator reached through SDK clients built exactly as the product builds them.
#![allow(dead_code)]

pub mod fixture;

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sls_rs::cloud::{self, Target};

/// The one variable that selects the emulator: moto (default, started on demand)
/// or LocalStack (`http://localhost:4566`, started by the user).
pub const ENDPOINT_VAR: &str = "SLS_RS_TEST_ENDPOINT";
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:5000";
pub const REGION: &str = "us-east-1";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// Makes the cargo workspace at `dir`, outside this repository, take `sls-rs-runtime`
/// from runtime/ (the crate is not published yet): what README tells a user to do.
pub fn patch_runtime_crate(dir: &Path) {
    let cargo = dir.join(".cargo");
    std::fs::create_dir_all(&cargo).unwrap();
    std::fs::write(
        cargo.join("config.toml"),
        format!(
            "[patch.crates-io]\nsls-rs-runtime = {{ path = {} }}\n",
            toml_path(&repo_root().join("runtime"))
        ),
    )
    .unwrap();
}

/// A path as a TOML string (a JSON string is a valid TOML basic string; Rust's
/// `{:?}` of a path is not always).
pub fn toml_path(path: &Path) -> String {
    serde_json::to_string(path.to_str().expect("a UTF-8 path")).unwrap()
}

/// Handler builds of the tests that run handlers (templates, `invoke --local`,
/// `dev`): one target directory, so their dependencies compile once, and
/// unoptimised, which takes about a quarter off a cold build (what these tests
/// check is behaviour, not speed; `package`'s own tests build as users do, but
/// for the arm64 one).
pub fn handler_builds(cmd: &mut Command) -> &mut Command {
    cmd.env("CARGO_TARGET_DIR", repo_root().join("target/handlers"))
        .envs(UNOPTIMISED)
}

/// The release profile of a handler, unoptimised (support::handler_builds).
pub const UNOPTIMISED: [(&str, &str); 3] = [
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0"),
    ("CARGO_PROFILE_RELEASE_LTO", "false"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "256"),
];

/// The sls-rs binary, with no AWS settings inherited from the developer's shell,
/// and no clippy driver (scripts/test lints this tree while building it): the
/// handlers it builds are a user's crates, compiled by plain rustc.
pub fn sls_rs() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sls-rs"));
    for var in [
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs a command and returns its output, decoding stdout and stderr.
pub fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("the sls-rs binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

pub struct Emulator {
    pub endpoint: String,
}

impl Emulator {
    pub fn target(&self) -> Target {
        Target {
            region: REGION.to_string(),
            endpoint: Some(self.endpoint.clone()),
            profile: None,
        }
    }

    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        cloud::sdk_config(&self.target()).await
    }
}

fn answers(endpoint: &str) -> bool {
    let host_port = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .trim_end_matches('/');
    let Ok(mut addrs) = host_port.to_socket_addrs() else {
        return false;
    };
    addrs
        .next()
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

/// The emulator for this test run: the one at `SLS_RS_TEST_ENDPOINT` if set,
/// otherwise moto on 127.0.0.1:5000, started with `localstack/emulator start`
/// when it is not already running. A test that needs it fails (never skips)
/// when it cannot be reached.
pub fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        let endpoint = std::env::var(ENDPOINT_VAR).unwrap_or_else(|_| DEFAULT_ENDPOINT.to_string());
        if !answers(&endpoint) {
            assert_eq!(
                endpoint, DEFAULT_ENDPOINT,
                "the emulator at {ENDPOINT_VAR}={endpoint} does not answer; start it, or unset {ENDPOINT_VAR} to use moto"
            );
            let script = repo_root().join("localstack/emulator");
            let status = Command::new(&script).arg("start").status().expect("localstack/emulator runs");
            assert!(status.success(), "`localstack/emulator start` failed; run `scripts/setup` first");
            let deadline = Instant::now() + Duration::from_secs(20);
            while !answers(&endpoint) {
                assert!(Instant::now() < deadline, "moto did not answer at {endpoint} within 20 s");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Emulator { endpoint }
    })
}

pub use sls_rs::cloud::emulator::Emulator as Kind;
pub use sls_rs::cloud::Svc;

/// Names the emulator at `SLS_RS_TEST_ENDPOINT` (`moto` or `localstack`); probed when unset.
pub const KIND_VAR: &str = "SLS_RS_TEST_EMULATOR";
/// A file each emulator-facing test appends one line to: ran or skipped, on which emulator.
pub const REPORT_VAR: &str = "SLS_RS_TEST_REPORT";

/// Which emulator the tests talk to: `SLS_RS_TEST_EMULATOR`, else LocalStack if
/// it answers `/_localstack/health`, else moto.
pub fn kind() -> Kind {
    static KIND: OnceLock<Kind> = OnceLock::new();
    *KIND.get_or_init(|| {
        if let Ok(name) = std::env::var(KIND_VAR) {
            return Kind::from_name(&name)
                .unwrap_or_else(|| panic!("{KIND_VAR}={name}: want moto or localstack"));
        }
        if http_get(&emulator().endpoint, "/_localstack/health").contains("\"services\"") {
            Kind::LocalStack
        } else {
            Kind::Moto
        }
    })
}

/// A plain HTTP/1.0 GET on the emulator; the whole answer, or "" when it fails.
fn http_get(endpoint: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let host = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .trim_end_matches('/');
    let Some(addr) = host.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return String::new();
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut answer = String::new();
    if write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").is_ok() {
        let _ = stream.read_to_string(&mut answer);
    }
    answer
}

/// What a service of buckets, queues and state machines (no function, no table) needs:
/// all of it is served by LocalStack without Docker.
pub const RESOURCE_SERVICES: &[Svc] = &[
    Svc::Sts,
    Svc::S3,
    Svc::Sqs,
    Svc::Iam,
    Svc::Logs,
    Svc::StepFunctions,
];

/// The first call of every emulator-facing test: the services it needs. On an
/// emulator that lacks one (LocalStack without Docker: Lambda, DynamoDB, API
/// Gateway v2, X-Ray) the test returns at once; either way the outcome is
/// recorded in `$SLS_RS_TEST_REPORT` for scripts/test's summary.
///
/// ```ignore
/// if !support::needs(&[Svc::S3, Svc::Sqs]) { return; }
/// ```
#[must_use]
pub fn needs(services: &[Svc]) -> bool {
    let kind = kind();
    let missing: Vec<&str> = services
        .iter()
        .filter(|s| !kind.serves(**s))
        .map(|s| s.name())
        .collect();
    // libtest names each test's thread after the test: `module::test`.
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let line = if missing.is_empty() {
        format!("{}\tran\t{test}\t\n", kind.name())
    } else {
        // Shown with the test's output (`--nocapture`): why it did nothing here.
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped on {}: needs {}", kind.name(), missing.join(", "));
        }
        format!("{}\tskipped\t{test}\t{}\n", kind.name(), missing.join(","))
    };
    if let Some(path) = std::env::var_os(REPORT_VAR) {
        use std::io::Write;
        // One write per line, in append mode: lines of parallel tests do not interleave.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("the test report file opens");
        file.write_all(line.as_bytes())
            .expect("the test report is written");
    }
    missing.is_empty()
}

/// A service name no other test (or earlier run against the same emulator) uses,
/// so tests can share one emulator without resetting it.
pub fn unique_service(test: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "t{}-{}-{:x}{n}",
        test.replace('_', "-"),
        std::process::id(),
        nanos % 0xffff
    )
    .to_ascii_lowercase()
}

/// `tests/support/realism.py` in front of the emulator: answers the way AWS does
/// where the emulator does not (throttling, IAM delay, asynchronous states,
/// faults, latency, lost answers), each behaviour switched on by its flag
/// (see localstack/README.md, "The realism layer"). Killed when dropped.
pub struct Realism {
    child: std::process::Child,
    pub endpoint: String,
}

impl Realism {
    pub fn start(args: &[&str]) -> Realism {
        use std::io::BufRead;
        let script = repo_root().join("tests/support/realism.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&emulator().endpoint)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the realism layer");
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        assert!(
            !port.trim().is_empty(),
            "the realism layer did not start with {args:?}"
        );
        Realism {
            child,
            endpoint: format!("http://127.0.0.1:{}", port.trim()),
        }
    }

    /// Requests so far per operation (`service.Operation`).
    pub fn operations(&self) -> std::collections::BTreeMap<String, u64> {
        serde_json::from_value(self.stats()["operations"].clone()).expect("counts per operation")
    }

    /// Requests per operation made since `before` (an earlier [`Realism::operations`]).
    pub fn operations_since(
        &self,
        before: &std::collections::BTreeMap<String, u64>,
    ) -> std::collections::BTreeMap<String, u64> {
        self.operations()
            .into_iter()
            .map(|(op, n)| {
                let since = n - before.get(&op).copied().unwrap_or(0);
                (op, since)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The layer's counters (`GET /__realism/stats`): requests per service and
    /// outcome, per operation, throttled per service, and the seed.
    pub fn stats(&self) -> serde_json::Value {
        use std::io::{Read, Write};
        let addr = self.endpoint.trim_start_matches("http://");
        let mut conn = TcpStream::connect(addr).expect("the realism layer answers");
        conn.write_all(b"GET /__realism/stats HTTP/1.0\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        let body = answer.split_once("\r\n\r\n").expect("an HTTP answer").1;
        serde_json::from_str(body).expect("JSON stats")
    }
}

impl Drop for Realism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

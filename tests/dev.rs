//! `sls-rs dev` over real HTTP: the fixture handlers (tests/fixtures/local-handlers),
//! copied so a test can edit one, served behind routes, rebuilt on save.

use crate::support::{self, Svc};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const MANIFEST: &str = r#"service: devsvc
provider:
  name: aws
  timeout: 3
  environment: { GREETING: hi }
  httpApi:
    cors: { allowedOrigins: [https://app.example], allowedMethods: [GET, POST], allowedHeaders: [content-type] }
functions:
  echo:
    handler: echo
    events:
      - httpApi: GET /hello/{name}
      - httpApi: POST /items
  panic:
    handler: panic
    events:
      - httpApi: GET /boom
  hang:
    handler: hang
    events:
      - httpApi: GET /hang
  fail: { handler: fail }
"#;

/// The fixture's workspace, copied to a directory of its own with its path dependencies by absolute path.
fn service_copy(test: &str) -> PathBuf {
    service_copy_with(test, MANIFEST)
}

fn service_copy_with(test: &str, manifest: &str) -> PathBuf {
    let from = support::repo_root().join("tests/fixtures/local-handlers");
    let dir = std::env::temp_dir().join(format!("sls-rs-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src/bin")).unwrap();
    for entry in std::fs::read_dir(from.join("src/bin")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("src/bin").join(entry.file_name())).unwrap();
    }
    // The fixture's lockfile is not in git: it exists once another test has built the fixture.
    let _ = std::fs::copy(from.join("Cargo.lock"), dir.join("Cargo.lock"));
    let cargo = std::fs::read_to_string(from.join("Cargo.toml")).unwrap();
    for path in ["path = \"../../../runtime\"", "path = \"../handler-deps\""] {
        assert!(
            cargo.contains(path),
            "the fixture's Cargo.toml has no {path}"
        );
    }
    let cargo = cargo
        .replace(
            "path = \"../../../runtime\"",
            &format!(
                "path = {}",
                support::toml_path(&support::repo_root().join("runtime"))
            ),
        )
        .replace(
            "path = \"../handler-deps\"",
            &format!(
                "path = {}",
                support::toml_path(&from.with_file_name("handler-deps"))
            ),
        );
    std::fs::write(dir.join("Cargo.toml"), cargo).unwrap();
    std::fs::write(dir.join("serverless.yaml"), manifest).unwrap();
    dir
}

struct Dev {
    child: Child,
    notices: mpsc::Receiver<Value>,
    port: u16,
    /// The function URLs of the listening notice.
    urls: Vec<Value>,
}

impl Dev {
    fn start(dir: &Path) -> Dev {
        Dev::start_with(dir, &[])
    }

    fn start_with(dir: &Path, extra: &[&str]) -> Dev {
        let mut cmd = support::sls_rs();
        support::handler_builds(&mut cmd);
        let mut child = cmd
            .args(["dev", "--json", "--port", "0", "-c"])
            .arg(dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (tx, notices) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let doc: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if tx.send(doc).is_err() {
                    break;
                }
            }
        });
        let mut dev = Dev {
            child,
            notices,
            port: 0,
            urls: vec![],
        };
        // A cold debug build of the fixture's dependencies comes first.
        let listening = dev.wait_for("listening", Duration::from_secs(900));
        dev.port = listening["url"]
            .as_str()
            .and_then(|u| u.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{listening}"));
        dev.urls = listening["urls"].as_array().cloned().unwrap_or_default();
        dev
    }

    fn wait_for(&mut self, event: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.notices.recv_timeout(left) {
                Ok(doc) if doc["event"] == event => return doc,
                Ok(doc) => assert_ne!(doc["event"], "buildFailed", "{doc}"),
                Err(e) => panic!("no `{event}` from sls-rs dev within {within:?}: {e}"),
            }
        }
    }

    /// One HTTP/1.1 request: the status, the headers (names in lower case) and the body.
    fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        http_on(self.port, method, path, headers, body)
    }

    fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.http("GET", path, &[], "");
        (
            status,
            serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body))),
        )
    }

    /// SIGTERM, as a terminal's Ctrl-C or a process manager would stop it.
    fn stop(mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

/// One HTTP/1.1 request to a port of this machine: the status, the headers (names in
/// lower case) and the body as sent (chunked, for a streamed answer).
fn http_on(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        request.push_str(&format!("{n}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[test]
fn routes_answer_from_warm_processes_a_panic_is_a_502_and_a_saved_edit_restarts_only_its_function()
{
    let dir = service_copy("dev-routes");
    let mut dev = Dev::start(&dir);

    // A route returns the handler's answer, with the path parameter and the stage's environment.
    let (status, first) = dev.get_json("/hello/ada%20l?tag=a&tag=b");
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["event"]["routeKey"], "GET /hello/{name}");
    assert_eq!(first["event"]["pathParameters"]["name"], "ada l");
    assert_eq!(first["event"]["queryStringParameters"]["tag"], "a,b");
    assert_eq!(first["event"]["requestContext"]["http"]["method"], "GET");
    assert_eq!(first["greeting"], "hi");
    assert_eq!(first["functionName"], "devsvc-dev-echo");
    let (_, again) = dev.get_json("/hello/x");
    assert_eq!(again["pid"], first["pid"], "the process stays warm");
    let (status, posted) = {
        let (s, _, b) = dev.http(
            "POST",
            "/items",
            &[("content-type", "application/json")],
            r#"{"title":"t"}"#,
        );
        (s, serde_json::from_slice::<Value>(&b).unwrap())
    };
    assert_eq!(status, 200);
    assert_eq!(posted["event"]["body"], r#"{"title":"t"}"#);

    // Each request is logged with its function, status and duration.
    let logged = dev.wait_for("request", Duration::from_secs(5));
    assert_eq!(
        (logged["function"].as_str(), logged["status"].as_u64()),
        (Some("echo"), Some(200)),
        "{logged}"
    );
    assert!(logged["ms"].is_number());

    // A panic is API Gateway's 502; the next request works.
    let (status, body) = dev.get_json("/boom");
    assert_eq!(status, 502);
    assert_eq!(body["message"], "Internal Server Error");
    assert_eq!(dev.get_json("/hello/y").0, 200);
    assert_eq!(
        dev.get_json("/boom").0,
        502,
        "the panicking function answers again, and fails again"
    );

    // A hung handler is stopped at the function's timeout (3 s) and answered 502,
    // also when the client that asked has hung up meanwhile.
    {
        let mut gone = TcpStream::connect(("127.0.0.1", dev.port)).unwrap();
        write!(gone, "GET /hang HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").unwrap();
    }
    let started = Instant::now();
    let (status, body) = dev.get_json("/hang");
    assert_eq!(status, 502, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(dev.get_json("/hello/after-hang").0, 200);

    // No route: 404. A CORS preflight is answered without a function.
    assert_eq!(dev.get_json("/nowhere").0, 404);
    let (status, headers, _) = dev.http(
        "OPTIONS",
        "/items",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ],
        "",
    );
    assert_eq!(status, 204);
    assert!(
        headers.contains(&(
            "access-control-allow-origin".into(),
            "https://app.example".into()
        )),
        "{headers:?}"
    );

    // A function without a route takes an event from `invoke --dev`.
    let port = dev.port.to_string();
    let (out, _, stderr) = support::run(
        support::sls_rs()
            .args(["invoke", "-f", "fail", "--dev", &port, "-c"])
            .arg(&dir),
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the payment was declined"), "{stderr}");
    let (out, stdout, stderr) = support::run(
        support::sls_rs()
            .args([
                "invoke",
                "--json",
                "-f",
                "echo",
                "--dev",
                &port,
                "--data",
                r#"{"direct":true}"#,
                "-c",
            ])
            .arg(&dir),
    );
    assert!(out.status.success(), "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["response"]["event"]["direct"], true);

    // A save that does not compile: the last good build keeps answering.
    while dev.notices.try_recv().is_ok() {}
    let echo = dir.join("src/bin/echo.rs");
    let source = std::fs::read_to_string(&echo).unwrap();
    std::fs::write(&echo, source.replace("async fn echo", "async fn echo(")).unwrap();
    dev.wait_for("buildFailed", Duration::from_secs(300));
    assert_eq!(dev.get_json("/hello/still").1["pid"], first["pid"]);

    // Fixed and edited: rebuilt, and only its function restarted, without restarting the command.
    let edited = source.replace(
        r#""greeting": std::env::var("GREETING").ok(),"#,
        r#""greeting": Some("edited"),"#,
    );
    assert_ne!(
        edited, source,
        "the fixture still has the line this test edits"
    );
    std::fs::write(&echo, edited).unwrap();
    let built = dev.wait_for("built", Duration::from_secs(300));
    assert_eq!(built["restarted"], serde_json::json!(["echo"]), "{built}");
    let (status, after) = dev.get_json("/hello/z");
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["greeting"], "edited", "{after}; the build: {built}");
    assert_ne!(
        after["pid"], first["pid"],
        "a new process runs the new build"
    );

    let status = dev.stop();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Function URLs on ports of their own: every path reaches the function with a URL
/// event, a RESPONSE_STREAM URL passes the body on as the handler writes it, an
/// aws_iam URL refuses unsigned requests, and a URL's CORS answers preflights.
#[test]
fn function_urls_are_served_on_their_own_ports_and_a_streaming_one_streams() {
    let dir = service_copy_with(
        "dev-urls",
        "service: devurl\nprovider: { name: aws, timeout: 10 }\nfunctions:\n  stream:\n    handler: stream\n    url: { invokeMode: RESPONSE_STREAM }\n  echo:\n    handler: echo\n    url: { authorizer: aws_iam, cors: { allowedOrigins: [https://app.example] } }\n  fail: { handler: fail }\n",
    );
    let dev = Dev::start(&dir);
    let urls = dev.urls.clone();
    let port_of = |function: &str| -> u16 {
        let url = urls
            .iter()
            .find(|u| u["function"] == function)
            .unwrap_or_else(|| panic!("no URL of {function}: {urls:?}"));
        url["url"]
            .as_str()
            .and_then(|u| u.trim_end_matches('/').rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{url}"))
    };
    assert_eq!(urls.len(), 2, "{urls:?}");
    let (stream, echo) = (port_of("stream"), port_of("echo"));
    assert!(stream != dev.port && echo != dev.port && stream != echo);

    // Streamed: the head at once, each line as it is written (a second apart).
    let mut conn = TcpStream::connect(("127.0.0.1", stream)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn.write_all(
        format!(
            "GET /reports/today HTTP/1.1\r\nhost: 127.0.0.1:{stream}\r\nconnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut first_at = None;
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if first_at.is_none() && String::from_utf8_lossy(&raw).contains("first") {
            first_at = Some(Instant::now());
        }
    }
    let last_at = Instant::now();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{text}"
    );
    assert!(text.contains("last, for /reports/today"), "{text}");
    assert!(
        !text.contains('\0'),
        "the prelude is not part of the body: {text:?}"
    );
    let first_at = first_at.expect("the first line arrived");
    assert!(
        last_at.duration_since(first_at) >= Duration::from_millis(1500),
        "the first line came {:?} before the end: the answer was buffered",
        last_at.duration_since(first_at)
    );

    // aws_iam: unsigned is refused as Lambda refuses it; signed reaches the function.
    let (status, _, body) = http_on(echo, "GET", "/anything?x=1", &[], "");
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let signed = [
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261203/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0",
        ),
        ("content-type", "application/json"),
    ];
    let (status, headers, body) = http_on(echo, "POST", "/deep/path?x=1", &signed, "{\"a\":1}");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        headers.iter().any(|(n, _)| n == "x-amzn-requestid"),
        "{headers:?}"
    );
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let event = &answer["event"];
    assert_eq!(event["routeKey"], "$default", "{event}");
    assert_eq!(event["rawPath"], "/deep/path", "{event}");
    assert_eq!(event["queryStringParameters"]["x"], "1", "{event}");
    assert_eq!(event["requestContext"]["http"]["method"], "POST", "{event}");
    assert_eq!(event["body"], "{\"a\":1}", "{event}");
    // The URL's CORS is answered by the URL, without calling the function.
    let (status, headers, _) = http_on(
        echo,
        "OPTIONS",
        "/deep/path",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ],
        "",
    );
    assert_eq!(status, 204);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "access-control-allow-origin" && v == "https://app.example"),
        "{headers:?}"
    );
    // The function without a URL still answers the Invoke API on the main port.
    let (status, headers, _) =
        dev.http("POST", "/2015-03-31/functions/fail/invocations", &[], "{}");
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(n, _)| n == "x-amz-function-error"));
    assert!(dev.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_port_in_use_is_refused_before_anything_is_built() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = support::repo_root().join("tests/fixtures/local-handlers");
    let started = Instant::now();
    let (out, _, stderr) = support::run(
        support::sls_rs()
            .args(["dev", "--port", &port, "-c"])
            .arg(&dir),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")) && stderr.contains("--port"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "nothing was built first"
    );
}

/// A command on the fixture copy.
fn sls(dir: &Path, args: &[&str]) -> String {
    let (out, stdout, stderr) = support::run(support::sls_rs().args(args).arg("-c").arg(dir));
    assert!(out.status.success(), "sls-rs {}: {stderr}", args.join(" "));
    stdout
}

/// A package of fake artifacts for the copy's functions (the emulator runs no code),
/// so a full deploy builds nothing.
fn fake_package(dir: &Path, service: &str, manifest: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join(".sls-rs")).unwrap();
    let f = support::fixture::Fixture {
        dir: dir.to_path_buf(),
        service: service.to_string(),
    };
    f.write_text(manifest, &[]);
    dir.join(".sls-rs")
}

#[tokio::test(flavor = "multi_thread")]
async fn on_an_emulator_stage_the_data_is_deployed_first_and_a_full_deployment_is_left_as_it_is() {
    if !support::needs(&[Svc::Lambda, Svc::Iam, Svc::DynamoDb, Svc::Sqs, Svc::HttpApi]) {
        return;
    }
    let service = support::unique_service("dev-data");
    let endpoint = &support::emulator().endpoint;
    let manifest = |tables: &str| {
        MANIFEST.replace("service: devsvc", &format!("service: {service}"))
            + &format!("resources:\n  tables:\n{tables}  queues:\n    jobs: {{}}\nstages:\n  local:\n    endpoint: {endpoint}\n")
    };
    let notes = "    notes: { partitionKey: { name: id, type: S } }\n";
    let dir = service_copy_with("dev-data", &manifest(notes));
    let config = support::emulator().sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let table = |name: &str| format!("{service}-local-{name}");
    let functions = || async {
        let listed = lambda.list_functions().send().await.unwrap();
        listed
            .functions()
            .iter()
            .filter_map(|f| f.function_name())
            .filter(|n| n.starts_with(&format!("{service}-")))
            .count()
    };

    // A fresh stage: its table and queue are made before the first request; no function is.
    let dev = Dev::start_with(&dir, &["--stage", "local"]);
    dynamodb
        .describe_table()
        .table_name(table("notes"))
        .send()
        .await
        .expect("the table is there");
    assert_eq!(
        functions().await,
        0,
        "the functions run here, not on the emulator"
    );
    assert_eq!(dev.get_json("/hello/x").0, 200);
    assert!(dev.stop().success());

    // A full deploy, then a new table and `dev` again: the table is added, the functions stay.
    let package = fake_package(&dir, &service, &manifest(notes));
    sls(
        &dir,
        &[
            "deploy",
            "--stage",
            "local",
            "--package",
            package.to_str().unwrap(),
        ],
    );
    let deployed = functions().await;
    assert_eq!(deployed, 4);
    std::fs::write(
        dir.join("serverless.yaml"),
        manifest(&format!(
            "{notes}    tags: {{ partitionKey: {{ name: id, type: S }} }}\n"
        )),
    )
    .unwrap();
    let dev = Dev::start_with(&dir, &["--stage", "local"]);
    dynamodb
        .describe_table()
        .table_name(table("tags"))
        .send()
        .await
        .expect("the new table is there");
    assert_eq!(
        functions().await,
        deployed,
        "a data-scoped deploy deletes no function"
    );
    assert!(dev.stop().success());
    // The full deploy after it has nothing of the data left to do, and its functions are as they were.
    let plan: Value = serde_json::from_str(&sls(
        &dir,
        &[
            "plan",
            "--json",
            "--stage",
            "local",
            "--package",
            package.to_str().unwrap(),
        ],
    ))
    .unwrap();
    let changes = plan["plan"]["changes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let changed: Vec<&Value> = changes
        .iter()
        .filter(|c| c["action"] != "unchanged")
        .collect();
    assert!(
        changed
            .iter()
            .all(|c| c["kind"] != "table" && c["kind"] != "queue"),
        "{changed:?}"
    );
    assert!(
        changed.iter().all(|c| c["action"] != "delete"),
        "{changed:?}"
    );

    sls(&dir, &["remove", "--stage", "local", "--force"]);
    assert_eq!(functions().await, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

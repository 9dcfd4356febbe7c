//! Running a handler on this machine: built for the host, started as a child
//! process against our own Lambda Runtime API, kept warm between invocations,
//! with the function's timeout enforced and its duration and memory measured.
//! No Docker.

pub mod dev;
pub mod events;
pub mod http;
mod runtime_api;

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::time::Instant;

pub use runtime_api::{Chunk, Outcome, Stream};
use runtime_api::{Invocation, RuntimeApi};

/// Lambda gives a function's init 10 seconds.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the local process is told, as Lambda would tell it.
#[derive(Debug, Clone)]
pub struct LocalFunction {
    pub binary: PathBuf,
    /// The physical name (`{service}-{stage}-{function}`).
    pub name: String,
    pub arn: String,
    pub memory: u32,
    pub timeout: Duration,
    pub environment: BTreeMap<String, String>,
}

/// How one invocation went.
#[derive(Debug, Clone)]
pub struct Report {
    pub request_id: String,
    pub result: Result,
    pub duration: Duration,
    /// Set on a cold start: from starting the process to its first request for work.
    pub init: Option<Duration>,
    /// The process's peak resident memory so far, in KB.
    pub peak_memory_kb: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Result {
    Done(Outcome),
    /// The function ran past its timeout and was killed.
    Timeout,
    /// The process ended without answering.
    Exited(String),
}

pub struct Session {
    api: RuntimeApi,
    function: LocalFunction,
    child: Option<Child>,
    invocations: u64,
}

impl Session {
    pub async fn start(function: LocalFunction) -> anyhow::Result<Session> {
        Ok(Session {
            api: RuntimeApi::start().await?,
            function,
            child: None,
            invocations: 0,
        })
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let f = &self.function;
        let mut cmd = Command::new(&f.binary);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(&f.environment)
            .env("AWS_LAMBDA_RUNTIME_API", self.api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &f.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory.to_string())
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", f.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("_HANDLER", "bootstrap")
            // The function's output is its log: on stderr, so stdout keeps only responses.
            .stdout(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?))
            .stderr(Stdio::inherit())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        self.child = Some(
            cmd.spawn()
                .with_context(|| format!("starting {}", f.binary.display()))?,
        );
        Ok(())
    }

    /// Sends one event and waits for its outcome, starting the process first if needed.
    pub async fn invoke(
        &mut self,
        payload: Bytes,
        client_context: Option<&str>,
    ) -> anyhow::Result<Report> {
        self.invocations += 1;
        let request_id = format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            self.invocations,
            std::process::id() & 0xffff,
            rand_u48()
        );
        let mut init = None;
        if self.child.is_none() {
            let (init_tx, init_rx) = oneshot::channel();
            self.api.process_started(init_tx);
            let started = Instant::now();
            self.spawn()?;
            let child = self.child.as_mut().expect("just spawned");
            tokio::select! {
                _ = self.api.ready() => init = Some(started.elapsed()),
                outcome = init_rx => {
                    let outcome = outcome.unwrap_or(Outcome::InitError { error_type: "Unknown".into(), body: Bytes::new() });
                    self.stop().await;
                    return Ok(Report { request_id, result: Result::Done(outcome), duration: started.elapsed(), init: None, peak_memory_kb: None });
                }
                status = child.wait() => {
                    self.child = None;
                    let result = Result::Exited(format!("the process exited during init ({})", status.map(|s| s.to_string()).unwrap_or_default()));
                    return Ok(Report { request_id, result, duration: started.elapsed(), init: None, peak_memory_kb: None });
                }
                _ = crate::cloud::pause(INIT_TIMEOUT) => {
                    self.stop().await;
                    return Ok(Report { request_id, result: Result::Exited(format!("init took longer than {}s", INIT_TIMEOUT.as_secs())), duration: INIT_TIMEOUT, init: None, peak_memory_kb: None });
                }
            }
        }
        let timeout = self.function.timeout;
        let deadline_ms = (std::time::SystemTime::now() + timeout)
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let (tx, rx) = oneshot::channel();
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload,
            deadline_ms,
            function_arn: self.function.arn.clone(),
            trace_id: format!(
                "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
                std::process::id(),
                self.invocations,
                self.invocations
            ),
            client_context: client_context.map(str::to_string),
            reply: tx,
        };
        let submitted = Instant::now();
        self.api.submit(invocation).await?;
        let child = self.child.as_mut().expect("a running process");
        let pid = child.id();
        let result = tokio::select! {
            outcome = rx => match outcome {
                Ok(outcome) => Result::Done(outcome),
                Err(_) => Result::Exited("the Runtime API dropped the invocation".into()),
            },
            status = child.wait() => {
                self.child = None;
                Result::Exited(exited(status.ok()))
            }
            _ = crate::cloud::pause(timeout) => Result::Timeout,
        };
        // From handing the event out to the answer, as Lambda bills it.
        let duration = self
            .api
            .dispatched()
            .map(|d| d.elapsed())
            .filter(|_| result != Result::Timeout)
            .unwrap_or_else(|| submitted.elapsed());
        let peak_memory_kb = pid.and_then(peak_memory_kb);
        if result == Result::Timeout {
            self.api.abandon(&request_id);
            self.stop().await;
        }
        Ok(Report {
            request_id,
            result,
            duration,
            init,
            peak_memory_kb,
        })
    }

    /// Runs `binary` from now on: the process of the old one is stopped, and the
    /// next invocation starts the new one (a cold start).
    pub async fn replace_binary(&mut self, binary: PathBuf) {
        self.stop().await;
        self.function.binary = binary;
    }

    /// Kills the process; the next invocation starts a new one (a cold start).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

/// A part of a streamed answer, as a reader gets it.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamPart {
    /// lambda_http's prelude: `statusCode`, `headers`, `cookies`.
    Prelude(serde_json::Value),
    Body(Bytes),
}

/// How a streamed answer ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEnd {
    Complete,
    /// The handler failed mid-stream.
    Failed {
        error_type: String,
        message: String,
    },
    /// Still streaming when the function's time ran out.
    TimedOut,
}

/// Where lambda_http's prelude ends.
const PRELUDE_END: [u8; 8] = [0; 8];
/// The most prelude kept while looking for its end (headers and cookies).
const PRELUDE_MAX: usize = 64 * 1024;

/// Reads a streamed answer until it ends or `deadline` passes, handing each part to
/// `sink` as it arrives: the prelude once whole (an HTTP stream), then the body. The
/// next chunk is read once the sink is done with this one (a slow reader slows the
/// handler, through the Runtime API's bounded channel, as a slow client does on Lambda).
pub async fn read_stream<F: std::future::Future<Output = ()>>(
    stream: &Stream,
    deadline: Instant,
    mut sink: impl FnMut(StreamPart) -> F,
) -> StreamEnd {
    let mut prelude: Option<Vec<u8>> = stream.http.then(Vec::new);
    loop {
        let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return StreamEnd::TimedOut,
            Ok(None) => break,
            Ok(Some(chunk)) => chunk,
        };
        let data = match chunk {
            Chunk::Data(data) => data,
            Chunk::Error {
                error_type,
                message,
            } => {
                return StreamEnd::Failed {
                    error_type,
                    message,
                }
            }
        };
        let Some(head) = prelude.as_mut() else {
            sink(StreamPart::Body(data)).await;
            continue;
        };
        head.extend_from_slice(&data);
        let end = head
            .windows(PRELUDE_END.len())
            .position(|w| w == PRELUDE_END);
        if end.is_none() && head.len() <= PRELUDE_MAX {
            continue;
        }
        let head = prelude.take().unwrap_or_default();
        let (json, rest) = match end {
            Some(at) => (&head[..at], &head[at + PRELUDE_END.len()..]),
            // No end in sight: not lambda_http's format after all; all of it is body.
            None => (&[][..], &head[..]),
        };
        if let Ok(v) = serde_json::from_slice(json) {
            sink(StreamPart::Prelude(v)).await;
        }
        if !rest.is_empty() {
            sink(StreamPart::Body(Bytes::copy_from_slice(rest))).await;
        }
    }
    // Ended before its prelude did: what came is the body.
    if let Some(head) = prelude.filter(|h| !h.is_empty()) {
        sink(StreamPart::Body(Bytes::from(head))).await;
    }
    StreamEnd::Complete
}

/// The headers of lambda_http's prelude, names in lower case, one pair per value (it
/// writes a repeated header as a list), and its cookies as `set-cookie`.
pub fn prelude_headers(prelude: &serde_json::Value) -> Vec<(String, String)> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = Vec::new();
    for (name, value) in prelude["headers"].as_object().into_iter().flatten() {
        let name = name.to_ascii_lowercase();
        match value {
            serde_json::Value::Array(values) => {
                out.extend(values.iter().map(|v| (name.clone(), text(v))));
            }
            v => out.push((name, text(v))),
        }
    }
    out.extend(
        prelude["cookies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| ("set-cookie".to_string(), text(c))),
    );
    out
}

/// What a local run knows of the stage: its endpoints and, when STS answered, its
/// account (resource names carry it).
pub struct Stage {
    pub endpoints: crate::cloud::Endpoints,
    /// The account id, or why it is unknown.
    pub account: std::result::Result<String, String>,
}

impl Stage {
    /// Asks STS for the account, waiting at most 5 s: a local run without
    /// credentials still runs, without the names that need the account.
    pub async fn resolve(service: &crate::manifest::Service) -> Stage {
        let target = crate::cloud::Target::of(service);
        let (config, endpoints) = crate::cloud::load(&target).await;
        let account =
            match tokio::time::timeout(Duration::from_secs(5), crate::cloud::account_id(&config))
                .await
            {
                Ok(Ok(account)) => Ok(account),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(_) => Err("STS did not answer in 5 s".into()),
            };
        Stage { endpoints, account }
    }

    /// Whether every AWS call of the stage goes to an endpoint (an emulator).
    pub fn emulated(&self) -> bool {
        self.endpoints.all()
    }

    /// What to tell the user when the account is unknown.
    pub fn unknown_account_warning(&self) -> Option<String> {
        self.account.as_ref().err().map(|why| format!(
            "the stage's account id is unknown ({why}): resource names (SLS_RS_*) and ${{table:…}}-style references are not set"
        ))
    }

    /// The environment the deployed function gets (its own values, references and
    /// the names of the resources it is granted, which need the account id), plus
    /// the emulator's endpoints when sls-rs's own calls go to one.
    pub fn environment(
        &self,
        service: &crate::manifest::Service,
        function: &str,
    ) -> BTreeMap<String, String> {
        let f = &service.manifest.functions[function];
        let declared = service.manifest.environment_of(&service.stage, f);
        let mut env: BTreeMap<String, String> = match &self.account {
            Ok(account) => {
                let queue_url_base = crate::cloud::queue_url_base(&service.region, &self.endpoints);
                let cx = crate::model::Context {
                    account,
                    region: &service.region,
                    partition: crate::cloud::partition(&service.region),
                    env_key: None,
                    queue_url_base: &queue_url_base,
                };
                let names = crate::model::Names::new(service, &cx);
                let mut env: BTreeMap<String, String> = declared
                    .into_iter()
                    .map(|(k, v)| (k, names.resolve(&v.value)))
                    .collect();
                env.extend(crate::model::injected_environment(&names, f));
                env
            }
            Err(_) => declared.into_iter().map(|(k, v)| (k, v.value)).collect(),
        };
        env.insert("AWS_REGION".into(), service.region.clone());
        env.insert("AWS_DEFAULT_REGION".into(), service.region.clone());
        env.extend(self.endpoints.sdk_env());
        if self.endpoints.all() {
            env.insert("AWS_ACCESS_KEY_ID".into(), "test".into());
            env.insert("AWS_SECRET_ACCESS_KEY".into(), "test".into());
        }
        env
    }

    /// What Lambda tells the process of `function` (its name, memory, timeout, environment).
    pub fn local_function(
        &self,
        service: &crate::manifest::Service,
        function: &str,
        binary: PathBuf,
    ) -> LocalFunction {
        use crate::manifest::{DEFAULT_MEMORY, DEFAULT_TIMEOUT};
        let f = &service.manifest.functions[function];
        let name = service.function_name(function);
        LocalFunction {
            binary,
            arn: format!(
                "arn:aws:lambda:{}:{}:function:{name}",
                service.region,
                self.account.as_deref().unwrap_or("000000000000")
            ),
            name,
            memory: f
                .memory_size
                .or(service.manifest.provider.memory_size)
                .unwrap_or(DEFAULT_MEMORY),
            timeout: Duration::from_secs(
                f.timeout
                    .or(service.manifest.provider.timeout)
                    .unwrap_or(DEFAULT_TIMEOUT)
                    .into(),
            ),
            environment: {
                let mut env = self.environment(service, function);
                // As Lambda sets them for the function's logging controls.
                let logging = crate::model::LoggingSpec::of(&service.manifest.logs_of(f));
                env.extend(
                    logging
                        .environment()
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v)),
                );
                env
            },
        }
    }
}

/// Enough randomness for request ids to differ across runs.
fn rand_u48() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (u64::from(nanos) << 16 ^ u64::from(std::process::id())) & 0xffff_ffff_ffff
}

/// VmHWM: the most memory the process has held.
fn peak_memory_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Why a process ended mid-invocation, in the user's words: an abort is most likely
/// a panic in a handler built with `panic = "abort"` (cargo-lambda's release default,
/// so the deployed function dies the same way, and Lambda starts the next one cold);
/// an allocation failure or `process::abort` end the same way.
fn exited(status: Option<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) if s.signal() == Some(6) => "the process aborted (SIGABRT): most likely a panic, in a binary built with panic = \"abort\" as cargo-lambda's release profile builds it (its message is in the function's log above)".to_string(),
        Some(s) => format!("the process exited ({s})"),
        None => "the process exited".to_string(),
    }
}

/// Whether this machine runs a Lambda binary of `arch` as it is: Linux on the same
/// processor (`package` links against glibc 2.17, which any newer Linux runs).
pub fn host_runs(arch: crate::manifest::Architecture) -> bool {
    use crate::manifest::Architecture;
    cfg!(target_os = "linux")
        && match arch {
            Architecture::X86_64 => std::env::consts::ARCH == "x86_64",
            Architecture::Arm64 => std::env::consts::ARCH == "aarch64",
        }
}

/// The executable `invoke --local` runs, and the private copy it runs from (removed
/// when this is dropped).
pub struct Executable {
    pub path: PathBuf,
    copy_dir: Option<PathBuf>,
}

impl Drop for Executable {
    fn drop(&mut self) {
        if let Some(dir) = &self.copy_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The executable `invoke --local` runs for a function: where this machine runs its
/// architecture, the `bootstrap` `package` builds (one build serves the local run and
/// the deploy, with package's progress line), run from a copy of its own: cargo-lambda
/// writes over that file in place, which Linux refuses while it runs ("Text file
/// busy"), so a `package` or another `invoke --local` meanwhile would fail. Elsewhere,
/// or without cargo-lambda, a build for this machine.
pub fn handler_executable(
    service: &crate::manifest::Service,
    function: &str,
    interactive: bool,
) -> anyhow::Result<Executable> {
    let f = &service.manifest.functions[function];
    let arch = service.architecture(f);
    if host_runs(arch) {
        let opts = crate::build::PackageOptions {
            verbose: crate::ui::verbosity() > 0,
            interactive,
        };
        if let Some(bootstrap) = crate::build::build_bootstrap(service, &f.handler, arch, &opts)? {
            let dir = std::env::temp_dir().join(format!(
                "sls-rs-invoke-{}-{}",
                std::process::id(),
                f.handler
            ));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join("bootstrap");
            let copied = std::fs::copy(&bootstrap, &path)
                .with_context(|| format!("copying {} to {}", bootstrap.display(), path.display()));
            let executable = Executable {
                path,
                copy_dir: Some(dir),
            };
            copied?;
            return Ok(executable);
        }
    }
    Ok(Executable {
        path: build_for_host(&service.dir, &f.handler)?,
        copy_dir: None,
    })
}

/// Builds a handler binary for this machine (release), showing the compiler's
/// errors as they are. Returns the executable.
pub fn build_for_host(service_dir: &Path, bin: &str) -> anyhow::Result<PathBuf> {
    let out =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args([
                "build",
                "--release",
                "--message-format=json-render-diagnostics",
                "--bin",
                bin,
            ])
            .current_dir(service_dir)
            .stderr(Stdio::inherit())
            .output()
            .context("running cargo (is it installed?)")?;
    if !out.status.success() {
        anyhow::bail!("building `{bin}` for this machine failed; the compiler's output is above");
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| anyhow::anyhow!("cargo built no executable named `{bin}`"))
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    async fn read(http: bool, chunks: Vec<Chunk>) -> (Vec<StreamPart>, StreamEnd) {
        let stream = Stream::written(http, chunks);
        let mut parts = Vec::new();
        let end = read_stream(&stream, Instant::now() + Duration::from_secs(1), |p| {
            parts.push(p);
            std::future::ready(())
        })
        .await;
        (parts, end)
    }

    fn data(b: &[u8]) -> Chunk {
        Chunk::Data(Bytes::copy_from_slice(b))
    }

    #[tokio::test]
    async fn lambda_https_prelude_is_split_from_the_body_across_chunks() {
        let (parts, end) = read(
            true,
            vec![
                data(br#"{"statusCode":201,"headers":{"a":"b"}"#),
                data(b",\"cookies\":[]}\0\0\0\0"),
                data(b"\0\0\0\0first"),
                data(b" second"),
            ],
        )
        .await;
        assert_eq!(end, StreamEnd::Complete);
        assert_eq!(
            parts,
            [
                StreamPart::Prelude(
                    serde_json::json!({"statusCode": 201, "headers": {"a": "b"}, "cookies": []})
                ),
                StreamPart::Body(Bytes::from_static(b"first")),
                StreamPart::Body(Bytes::from_static(b" second")),
            ]
        );
    }

    #[tokio::test]
    async fn a_stream_without_a_prelude_is_all_body_and_a_failure_ends_it() {
        let (parts, end) = read(
            false,
            vec![
                data(b"raw\0\0"),
                Chunk::Error {
                    error_type: "Runtime.StreamError".into(),
                    message: "boom".into(),
                },
            ],
        )
        .await;
        assert_eq!(parts, [StreamPart::Body(Bytes::from_static(b"raw\0\0"))]);
        assert_eq!(
            end,
            StreamEnd::Failed {
                error_type: "Runtime.StreamError".into(),
                message: "boom".into()
            }
        );
        // An HTTP stream that ends before its prelude does: what came is the body.
        let (parts, _) = read(true, vec![data(b"{\"statusCode\"")]).await;
        assert_eq!(
            parts,
            [StreamPart::Body(Bytes::from_static(b"{\"statusCode\""))]
        );
    }
}

//! `sls-rs dev`: the service's `httpApi` routes served on this machine, each
//! route's function a warm local process (one per function, started at its first
//! request as Lambda would), rebuilt and restarted when its sources change while
//! the others stay warm. Functions without routes answer Lambda's Invoke API on
//! the same port (`POST /2015-03-31/functions/{name}/invocations`), which is what
//! `sls-rs invoke --dev` and `aws lambda invoke --endpoint-url` send.
//!
//! What happens is told to the caller as [`Notice`]s, which the command renders.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;

use super::http::{self, Cors, Request, Response, Route};
use super::{LocalFunction, Outcome, Session};
use crate::manifest::CorsRule;

/// API Gateway's payload limit for an HTTP API.
const MAX_BODY: usize = 10 * 1024 * 1024;
/// Quiet time after a save before a rebuild starts: an editor's save is several events.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// Where Lambda's Invoke API puts a function's name.
const INVOKE_PREFIX: &str = "/2015-03-31/functions/";
/// An HTTP API gives up on an integration after 30 s (503), whatever the function's timeout.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Lambda's limit on a synchronous invocation's event and answer.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// Marks the answers of `sls-rs dev`'s Invoke API, so `invoke --dev` knows it reached one.
const MARKER: &str = "x-sls-rs-dev";

/// What `dev` tells the command, to show the user.
#[derive(Debug, Clone)]
pub enum Notice {
    /// The first build is starting (a cold one can take minutes).
    Building {
        functions: usize,
    },
    Listening {
        url: String,
    },
    /// Sources changed; a build runs while the running processes keep answering.
    Rebuilding,
    Built {
        /// The functions whose binary changed: their processes were stopped, the
        /// next request starts the new build.
        restarted: Vec<String>,
        took: Duration,
    },
    /// The compiler's messages are above it; the last good build keeps serving.
    BuildFailed {
        why: String,
        took: Duration,
    },
    /// serverless.yaml changed; routes and environment are read at start.
    ManifestChanged,
    Request {
        method: String,
        path: String,
        function: Option<String>,
        status: u16,
        duration: Duration,
        /// Why a request failed, in the user's words.
        note: Option<String>,
    },
}

/// One function to run.
pub struct DevFunction {
    /// Its name in the manifest.
    pub name: String,
    /// The cargo binary its handler names.
    pub bin: String,
    /// What Lambda tells it; `binary` is set by the build.
    pub local: LocalFunction,
}

pub struct Options {
    pub listen: SocketAddr,
    pub watch: bool,
    /// Where the service's cargo workspace is (serverless.yaml's directory).
    pub dir: PathBuf,
    pub account: String,
    pub cors: Option<CorsRule>,
}

struct Slot {
    local: LocalFunction,
    session: Option<Session>,
    /// Size and modification time of the build `local.binary` is a copy of: a
    /// build that differs restarts the function (whichever cargo run made it).
    built: Option<(u64, std::time::SystemTime)>,
    generation: u64,
}

struct Server {
    routes: Vec<Route>,
    /// Each function's cargo binary (kept out of the slots: a build reads them while requests run).
    bins: BTreeMap<String, String>,
    /// Where `sls-rs dev` listens: on a loopback address, the Invoke API answers loopback hosts only.
    listen: SocketAddr,
    cors: Option<CorsRule>,
    slots: BTreeMap<String, Mutex<Slot>>,
    /// Physical names (`{service}-{stage}-{f}`) to manifest names, for the Invoke API.
    physical: BTreeMap<String, String>,
    account: String,
    notices: mpsc::UnboundedSender<Notice>,
    requests: AtomicU64,
    /// Private copies of the built binaries (cargo writes over its own in place).
    copies: PathBuf,
}

/// A bound port: taken before anything is built, so a port in use fails at once.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another process listens there: choose another port with --port)"
        } else {
            ""
        };
        crate::error::UsageError::new(format!("cannot listen on {addr}: {e}{hint}")).into()
    })
}

/// Serves until Ctrl-C (or `stop` resolves).
pub async fn serve(
    listener: TcpListener,
    functions: Vec<DevFunction>,
    routes: Vec<Route>,
    opts: Options,
    notices: mpsc::UnboundedSender<Notice>,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let copies = private_dir()?;
    let physical = functions
        .iter()
        .map(|f| (f.local.name.clone(), f.name.clone()))
        .collect();
    let bins = functions
        .iter()
        .map(|f| (f.name.clone(), f.bin.clone()))
        .collect();
    let server = Arc::new(Server {
        routes,
        bins,
        listen: opts.listen,
        cors: opts.cors.clone(),
        slots: functions
            .into_iter()
            .map(|f| {
                let slot = Slot {
                    local: f.local,
                    session: None,
                    built: None,
                    generation: 0,
                };
                (f.name, Mutex::new(slot))
            })
            .collect(),
        physical,
        account: opts.account.clone(),
        notices,
        requests: AtomicU64::new(0),
        copies: copies.clone(),
    });
    let result = run(server.clone(), listener, &opts, stop).await;
    // Idle processes stop here; one busy with a request is killed when its task is
    // dropped, as the runtime shuts down.
    for slot in server.slots.values() {
        if let Ok(mut slot) = slot.try_lock() {
            if let Some(session) = slot.session.as_mut() {
                session.stop().await;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&copies);
    result
}

/// A directory only this user can enter, of a name no one could take first: the
/// copies of the builds are executed from it.
fn private_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    let mut random = [0u8; 8];
    getrandom::getrandom(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("sls-rs-dev-{}-{suffix}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

async fn run(
    server: Arc<Server>,
    listener: TcpListener,
    opts: &Options,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    // Watching starts before the first build: a save during a cold build counts.
    let (changes_tx, changes) = mpsc::unbounded_channel();
    let watcher = if opts.watch {
        Some(Arc::new(std::sync::Mutex::new(watch(
            &opts.dir, changes_tx,
        )?)))
    } else {
        None
    };
    let _ = server.notices.send(Notice::Building {
        functions: server.slots.len(),
    });
    rebuild(&server, &opts.dir, true).await;
    let watching = {
        let (server, dir) = (server.clone(), opts.dir.clone());
        tokio::spawn(async move { rebuild_on_change(server, &dir, changes, watcher).await })
    };
    let _ = server.notices.send(Notice::Listening {
        url: format!("http://{}", listener.local_addr()?),
    });
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let server = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(server.clone(), req, peer));
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = &mut stop => break,
        }
    }
    watching.abort();
    Ok(())
}

/// Size and modification time: what tells one build of a binary from another.
fn fingerprint(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Builds every function's binary for this machine (a debug build: the fastest
/// edit loop) and restarts those whose binary differs from the one they run.
async fn rebuild(server: &Arc<Server>, dir: &Path, first: bool) {
    if !first {
        let _ = server.notices.send(Notice::Rebuilding);
    }
    let mut bins: Vec<String> = server.bins.values().cloned().collect();
    bins.sort();
    bins.dedup();
    let started = Instant::now();
    let dir = dir.to_path_buf();
    let built = tokio::task::spawn_blocking(move || cargo_build(&dir, &bins))
        .await
        .unwrap_or_else(|e| Err(format!("the build task failed: {e}")));
    let built = match built {
        Ok(built) => built,
        Err(why) => {
            let _ = server.notices.send(Notice::BuildFailed {
                why,
                took: started.elapsed(),
            });
            return;
        }
    };
    let mut restarted = Vec::new();
    for (name, slot) in &server.slots {
        let Some(exe) = built.get(&server.bins[name]) else {
            continue;
        };
        let Some(print) = fingerprint(exe) else {
            continue;
        };
        // A request in flight finishes on the old build first.
        let mut slot = slot.lock().await;
        if slot.built == Some(print) {
            continue;
        }
        slot.generation += 1;
        let copy = server.copies.join(format!("{name}-{}", slot.generation));
        if let Err(e) = std::fs::copy(exe, &copy) {
            // Not recorded as built: the next build tries again.
            let _ = server.notices.send(Notice::BuildFailed {
                why: format!("copying {} to {}: {e}", exe.display(), copy.display()),
                took: started.elapsed(),
            });
            continue;
        }
        let old = std::mem::replace(&mut slot.local.binary, copy.clone());
        if let Some(session) = slot.session.as_mut() {
            session.replace_binary(copy).await;
        }
        if slot.built.is_some() {
            restarted.push(name.clone());
            let _ = std::fs::remove_file(old);
        }
        slot.built = Some(print);
    }
    let _ = server.notices.send(Notice::Built {
        restarted,
        took: started.elapsed(),
    });
}

/// `cargo build` of `bins`, the compiler's messages shown as they come: each
/// binary's executable.
fn cargo_build(dir: &Path, bins: &[String]) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut cmd =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "build",
        "--quiet",
        "--message-format=json-render-diagnostics",
    ]);
    for bin in bins {
        cmd.args(["--bin", bin]);
    }
    let out = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo: {e} (is it installed?)"))?;
    if !out.status.success() {
        return Err("the build failed; the compiler's messages are above".into());
    }
    let mut built = BTreeMap::new();
    for m in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
    {
        let (Some(name), Some(exe)) = (m["target"]["name"].as_str(), m["executable"].as_str())
        else {
            continue;
        };
        if bins.iter().any(|b| b == name) {
            built.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    Ok(built)
}

/// What a batch of file events asks for.
#[derive(Debug, Default, PartialEq)]
struct Changes {
    sources: bool,
    manifest: bool,
}

/// Any file of the service counts (cargo decides what is stale: a `.rs` file, a
/// `Cargo.toml`, a file read by `include_str!` or a build script), but build
/// outputs, version control and hidden files (editors' swap files); serverless.yaml
/// is told apart.
fn classify(dir: &Path, path: &Path, changes: &mut Changes) {
    let Ok(relative) = path.strip_prefix(dir) else {
        return;
    };
    let name = relative
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if relative.as_os_str().is_empty()
        || relative
            .components()
            .any(|c| ignored(&c.as_os_str().to_string_lossy()))
        || name.ends_with('~')
    {
        return;
    }
    if relative.components().count() == 1
        && matches!(name.as_str(), "serverless.yaml" | "serverless.yml")
    {
        changes.manifest = true;
    } else {
        changes.sources = true;
    }
}

/// A directory or file name no rebuild cares for.
fn ignored(name: &str) -> bool {
    name.starts_with('.') || name == "target" || name == "node_modules"
}

/// Watches `dir` for saved files: the directory itself and each of its
/// subdirectories but the ignored ones (a recursive watch of `target/` would
/// take thousands of inotify watches and wake on every build).
fn watch(
    dir: &Path,
    tx: mpsc::UnboundedSender<PathBuf>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    use notify::{EventKind, RecursiveMode, Watcher as _};
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        if matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
        ) {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })
    .context("starting the file watcher")?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().is_ok_and(|t| t.is_dir()) && !ignored(&name) {
            watcher
                .watch(&entry.path(), RecursiveMode::Recursive)
                .with_context(|| format!("watching {}", entry.path().display()))?;
        }
    }
    Ok(watcher)
}

async fn rebuild_on_change(
    server: Arc<Server>,
    dir: &Path,
    mut paths: mpsc::UnboundedReceiver<PathBuf>,
    watcher: Option<Arc<std::sync::Mutex<notify::RecommendedWatcher>>>,
) {
    use notify::Watcher as _;
    let mut changes = Changes::default();
    let mut deadline: Option<Instant> = None;
    loop {
        let next = match deadline {
            Some(at) => match tokio::time::timeout_at(at, paths.recv()).await {
                Ok(next) => next,
                // Quiet since the last relevant save: act on what came.
                Err(_) => {
                    deadline = None;
                    let batch = std::mem::take(&mut changes);
                    if batch.manifest {
                        let _ = server.notices.send(Notice::ManifestChanged);
                    }
                    if batch.sources {
                        rebuild(&server, dir, false).await;
                    }
                    continue;
                }
            },
            None => paths.recv().await,
        };
        let Some(path) = next else { return };
        // A directory made at the top (a new crate of the workspace) is watched too.
        if path.parent() == Some(dir)
            && path.is_dir()
            && !path
                .file_name()
                .is_some_and(|n| ignored(&n.to_string_lossy()))
        {
            if let Some(w) = &watcher {
                if let Ok(mut w) = w.lock() {
                    let _ = w.watch(&path, notify::RecursiveMode::Recursive);
                }
            }
        }
        // Only a relevant event restarts the quiet period: a build writing
        // elsewhere cannot postpone the rebuild.
        let mut seen = Changes::default();
        classify(dir, &path, &mut seen);
        if seen != Changes::default() {
            changes.sources |= seen.sources;
            changes.manifest |= seen.manifest;
            deadline = Some(Instant::now() + DEBOUNCE);
        }
    }
}

fn request_id(server: &Server) -> String {
    let n = server.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:08x}-{:04x}-4000-8000-{:012x}",
        n,
        std::process::id() & 0xffff,
        nanos & 0xffff_ffff_ffff
    )
}

async fn handle(
    server: Arc<Server>,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let response = Response::message(413, "Request Entity Too Large");
            let note = Some("the body is over the HTTP API's 10 MB limit".to_string());
            return Ok(finish(
                &server, &method, &path, None, response, started, note,
            ));
        }
    };
    let request = Request {
        method: method.clone(),
        path: path.clone(),
        query,
        headers,
        body,
        source_ip: peer.ip().to_string(),
        request_id: request_id(&server),
        account: server.account.clone(),
    };
    if let Some(name) = path
        .strip_prefix(INVOKE_PREFIX)
        .and_then(|p| p.strip_suffix("/invocations"))
    {
        let (function, mut response, note) = invoke_api(&server, &request, name).await;
        response.headers.push((MARKER.into(), "1".into()));
        return Ok(finish(
            &server, &method, &path, function, response, started, note,
        ));
    }
    let cors = server.cors.as_ref().map(Cors);
    if let Some(preflight) = cors.as_ref().and_then(|c| c.preflight(&request)) {
        return Ok(finish(
            &server, &method, &path, None, preflight, started, None,
        ));
    }
    let Some((route, params)) = http::pick(&server.routes, &method, &path) else {
        let response = Response::message(404, "Not Found");
        return Ok(finish(
            &server, &method, &path, None, response, started, None,
        ));
    };
    let event = http::event(&request, route, &params).to_string();
    let (mut response, note) = if event.len() > MAX_PAYLOAD {
        (
            Response::message(413, "Request Entity Too Large"),
            Some("the event is over Lambda's 6 MB limit for a synchronous invocation".to_string()),
        )
    } else {
        match invoke(&server, &route.function, event, Some(INTEGRATION_TIMEOUT)).await {
            Ok(answer) => match http::response(&answer) {
                Ok(response) => (response, None),
                Err(why) => (bad_gateway(), Some(why)),
            },
            Err(Failure::Function { why, .. }) => (bad_gateway(), Some(why)),
            Err(Failure::NotBuilt(why)) => (Response::message(500, &why), Some(why)),
            Err(Failure::TooSlow) => (
                Response::message(503, "Service Unavailable"),
                Some(format!(
                    "no answer within the HTTP API's {}s integration timeout (the function goes on running)",
                    INTEGRATION_TIMEOUT.as_secs()
                )),
            ),
        }
    };
    if let Some(cors) = &cors {
        cors.decorate(&request, &mut response);
    }
    response
        .headers
        .push(("apigw-requestid".into(), request.request_id.clone()));
    Ok(finish(
        &server,
        &method,
        &path,
        Some(route.function.clone()),
        response,
        started,
        note,
    ))
}

/// API Gateway's answer when the function failed or answered nothing it can use.
fn bad_gateway() -> Response {
    Response::message(502, "Internal Server Error")
}

/// Whether a `Host` header names this machine.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Lambda's Invoke API: the body is the event, the answer the function's, a
/// function error's own body flagged with `X-Amz-Function-Error` as Lambda flags it.
/// Refused to browsers (a request with an `Origin`) and, when `sls-rs dev` listens
/// on loopback, to any `Host` but this machine's: no web page can run a function.
async fn invoke_api(
    server: &Arc<Server>,
    request: &Request,
    name: &str,
) -> (Option<String>, Response, Option<String>) {
    let host = request.header("host").unwrap_or_default();
    if request.header("origin").is_some()
        || (server.listen.ip().is_loopback() && !loopback_host(host))
    {
        let why = "the Invoke API is not for browsers or other hosts".to_string();
        return (None, Response::message(403, &why), Some(why));
    }
    let name = http::decode(name);
    let function = if server.slots.contains_key(&name) {
        name
    } else if let Some(f) = server.physical.get(&name) {
        f.clone()
    } else {
        let mut r = Response::message(
            404,
            &format!(
                "Function not found: {name} (this service's functions: {})",
                server.slots.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        );
        r.headers.push((
            "x-amzn-errortype".into(),
            "ResourceNotFoundException".into(),
        ));
        return (None, r, None);
    };
    if request.method != "POST" {
        return (Some(function), Response::message(405, "use POST"), None);
    }
    let payload = if request.body.is_empty() {
        "{}".to_string()
    } else {
        String::from_utf8_lossy(&request.body).into_owned()
    };
    let json = |body: Bytes| Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    };
    match invoke(server, &function, payload, None).await {
        Ok(answer) => (Some(function), json(answer), None),
        Err(Failure::Function { why, body }) => {
            let mut r = json(body);
            r.headers
                .push(("x-amz-function-error".into(), "Unhandled".into()));
            (Some(function), r, Some(why))
        }
        Err(Failure::NotBuilt(why)) => (Some(function), Response::message(500, &why), Some(why)),
        Err(Failure::TooSlow) => unreachable!("the Invoke API has no integration timeout"),
    }
}

enum Failure {
    /// The function failed, crashed or timed out: why, in words, and the error
    /// document Lambda would answer.
    Function { why: String, body: Bytes },
    /// There is no build of it to run.
    NotBuilt(String),
    /// No answer within the integration timeout.
    TooSlow,
}

/// One invocation of `function`, on its warm process (started first if needed).
/// Requests to one function take turns, as on one Lambda instance. The invocation
/// runs in a task of its own: a client that hangs up does not cut it short (the
/// function's timeout still stops a hung handler), and `limit` is how long the
/// caller waits for it.
async fn invoke(
    server: &Arc<Server>,
    function: &str,
    payload: String,
    limit: Option<Duration>,
) -> Result<Bytes, Failure> {
    let task = tokio::spawn(invoke_now(server.clone(), function.to_string(), payload));
    let joined = match limit {
        Some(limit) => match tokio::time::timeout(limit, task).await {
            Ok(joined) => joined,
            Err(_) => return Err(Failure::TooSlow),
        },
        None => task.await,
    };
    joined.unwrap_or_else(|e| {
        Err(failed(
            format!("the invocation failed: {e}"),
            "Runtime.Unknown",
        ))
    })
}

fn failed(why: String, error_type: &str) -> Failure {
    let body = Bytes::from(
        serde_json::json!({ "errorType": error_type, "errorMessage": why }).to_string(),
    );
    Failure::Function { why, body }
}

async fn invoke_now(
    server: Arc<Server>,
    function: String,
    payload: String,
) -> Result<Bytes, Failure> {
    let mut slot = server.slots[&function].lock().await;
    if slot.built.is_none() {
        return Err(Failure::NotBuilt(format!(
            "`{function}` has no build yet (the build failed: the compiler's messages are in sls-rs dev's output)"
        )));
    }
    if slot.session.is_none() {
        let session = Session::start(slot.local.clone())
            .await
            .map_err(|e| Failure::NotBuilt(format!("starting `{function}`: {e:#}")))?;
        slot.session = Some(session);
    }
    let session = slot.session.as_mut().expect("just started");
    let report = session
        .invoke(Bytes::from(payload), None)
        .await
        .map_err(|e| failed(format!("{e:#}"), "Runtime.Unknown"))?;
    let timeout = slot.local.timeout.as_secs();
    match report.result {
        super::Result::Done(Outcome::Response(body)) if body.len() > MAX_PAYLOAD => Err(failed(
            format!(
                "the answer is {} bytes, over Lambda's 6 MB limit",
                body.len()
            ),
            "Function.ResponseSizeTooLarge",
        )),
        super::Result::Done(Outcome::Response(body)) => Ok(body),
        super::Result::Done(Outcome::Streamed(_)) => Err(failed(
            "the handler streams its answer (lambda_http's run_with_streaming_response): an HTTP API and Lambda's Invoke API do not stream; give the function `url: { invokeMode: RESPONSE_STREAM }` and try it with `sls-rs invoke --local`".into(),
            "Runtime.StreamingNotSupported",
        )),
        super::Result::Done(Outcome::Error { error_type, body }) => Err(Failure::Function {
            why: format!("the handler failed{}", detail(&error_type, &body)),
            body,
        }),
        super::Result::Done(Outcome::InitError { error_type, body }) => Err(Failure::Function {
            why: format!("init failed{}", detail(&error_type, &body)),
            body,
        }),
        super::Result::Timeout => Err(failed(
            format!("timed out after {timeout}s (the function's timeout); the process was stopped"),
            "Sandbox.Timedout",
        )),
        super::Result::Exited(why) => Err(failed(why, "Runtime.ExitError")),
    }
}

/// `: message` of a runtime's error body, with its type when the type is a name a
/// user gave (not a Rust type path such as `alloc::boxed::Box<dyn …>`).
fn detail(error_type: &str, body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errorMessage"].as_str().map(str::to_string));
    let named = !error_type.is_empty()
        && error_type != "Unknown"
        && !error_type.contains([':', '<', ' ', '&']);
    match (message, named) {
        (Some(m), true) => format!(" ({error_type}): {m}"),
        (Some(m), false) => format!(": {m}"),
        (None, true) => format!(" ({error_type})"),
        (None, false) => String::new(),
    }
}

fn finish(
    server: &Server,
    method: &str,
    path: &str,
    function: Option<String>,
    response: Response,
    started: Instant,
    note: Option<String>,
) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    // `http::response` checked the function's headers: this is for our own.
    let (written, note) = match builder.body(Full::new(response.body)) {
        Ok(written) => (written, note),
        Err(e) => {
            let mut r = hyper::Response::new(Full::new(bad_gateway().body));
            *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            (r, Some(format!("the answer cannot be sent in HTTP: {e}")))
        }
    };
    let _ = server.notices.send(Notice::Request {
        method: method.to_string(),
        path: path.to_string(),
        function,
        status: written.status().as_u16(),
        duration: started.elapsed(),
        note,
    });
    written
}

/// Sends an event to `function` on a running `sls-rs dev` at `addr` (Lambda's
/// Invoke API), waiting at most `wait`: the function's answer, or its error.
pub fn send_event(
    addr: SocketAddr,
    function: &str,
    payload: &[u8],
    wait: Duration,
) -> anyhow::Result<Result<Bytes, Bytes>> {
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| {
            crate::error::UsageError::new(format!("no sls-rs dev answers at {addr} ({e})"))
                .with_help("start `sls-rs dev` for this service first (in another terminal), or name its port with --dev PORT")
        })?;
    stream.set_read_timeout(Some(wait))?;
    write!(
        stream,
        "POST {INVOKE_PREFIX}{function}/invocations HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        payload.len()
    )?;
    stream.write_all(payload)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(|e| {
        anyhow::anyhow!(
            "no answer from sls-rs dev at {addr} within {}s ({e})",
            wait.as_secs()
        )
    })?;
    let not_dev = || {
        crate::error::UsageError::new(format!("what answers at {addr} is not sls-rs dev"))
            .with_help("name the port sls-rs dev printed with --dev PORT")
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(not_dev)?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    if !head.contains(&format!("\r\n{MARKER}:")) {
        return Err(not_dev().into());
    }
    let body = Bytes::copy_from_slice(&raw[split + 4..]);
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        anyhow::bail!("sls-rs dev at {addr} answered {status}: {message}");
    }
    if head.contains("\r\nx-amz-function-error:") {
        Ok(Err(body))
    } else {
        Ok(Ok(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sources_and_the_manifest_count_as_changes() {
        let dir = Path::new("/srv/app");
        let of = |p: &str| {
            let mut c = Changes::default();
            classify(dir, Path::new(p), &mut c);
            c
        };
        assert!(of("/srv/app/src/bin/echo.rs").sources);
        assert!(of("/srv/app/functions/api/Cargo.toml").sources);
        assert!(
            of("/srv/app/src/schema.sql").sources,
            "include_str! reads it"
        );
        assert!(of("/srv/app/serverless.yaml").manifest);
        assert!(of("/srv/app/config/serverless.yaml").sources);
        for ignored in [
            "/srv/app",
            "/srv/app/target/debug/echo",
            "/srv/app/src/.echo.rs.swp",
            "/srv/app/src/echo.rs~",
            "/srv/app/.git/index",
            "/srv/app/.sls-rs/echo.zip",
            "/elsewhere/x.rs",
        ] {
            assert_eq!(of(ignored), Changes::default(), "{ignored}");
        }
    }

    #[test]
    fn the_invoke_api_answers_this_machine_only() {
        for ok in [
            "127.0.0.1:3000",
            "localhost:3000",
            "[::1]:3000",
            "LOCALHOST",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for not in [
            "evil.example:3000",
            "192.168.1.4:3000",
            "",
            "127.0.0.1.evil.example",
        ] {
            assert!(!loopback_host(not), "{not}");
        }
    }

    #[test]
    fn an_error_names_its_type_unless_it_is_a_rust_path() {
        let body = br#"{"errorType":"x","errorMessage":"declined"}"#;
        assert_eq!(detail("InvalidOrder", body), " (InvalidOrder): declined");
        assert_eq!(
            detail(
                "alloc::boxed::Box<dyn core::error::Error + Send + Sync>",
                body
            ),
            ": declined"
        );
        assert_eq!(detail("&str", body), ": declined");
        assert_eq!(detail("Unknown", b"not json"), "");
    }
}

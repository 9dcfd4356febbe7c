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
    bin: String,
    local: LocalFunction,
    session: Option<Session>,
    /// A build of it exists.
    built: bool,
    generation: u64,
}

struct Server {
    routes: Vec<Route>,
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
    let copies = std::env::temp_dir().join(format!("sls-rs-dev-{}", std::process::id()));
    std::fs::create_dir_all(&copies).with_context(|| format!("creating {}", copies.display()))?;
    let physical = functions
        .iter()
        .map(|f| (f.local.name.clone(), f.name.clone()))
        .collect();
    let server = Arc::new(Server {
        routes,
        cors: opts.cors.clone(),
        slots: functions
            .into_iter()
            .map(|f| {
                let slot = Slot {
                    bin: f.bin,
                    local: f.local,
                    session: None,
                    built: false,
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
    for slot in server.slots.values() {
        if let Some(session) = slot.lock().await.session.as_mut() {
            session.stop().await;
        }
    }
    let _ = std::fs::remove_dir_all(&copies);
    result
}

async fn run(
    server: Arc<Server>,
    listener: TcpListener,
    opts: &Options,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let _ = server.notices.send(Notice::Building {
        functions: server.slots.len(),
    });
    rebuild(&server, &opts.dir, true).await;
    // The watcher lives as long as the server.
    let (changes_tx, changes) = mpsc::unbounded_channel();
    let _watcher = if opts.watch {
        Some(watch(&opts.dir, changes_tx)?)
    } else {
        None
    };
    let watching = {
        let (server, dir) = (server.clone(), opts.dir.clone());
        tokio::spawn(async move { rebuild_on_change(server, &dir, changes).await })
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

/// Builds every function's binary for this machine (a debug build: the fastest
/// edit loop) and restarts those whose binary changed.
async fn rebuild(server: &Arc<Server>, dir: &Path, first: bool) {
    if !first {
        let _ = server.notices.send(Notice::Rebuilding);
    }
    let mut bins: Vec<String> = Vec::new();
    for slot in server.slots.values() {
        let bin = slot.lock().await.bin.clone();
        if !bins.contains(&bin) {
            bins.push(bin);
        }
    }
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
        let mut slot = slot.lock().await;
        let Some((exe, fresh)) = built.get(&slot.bin) else {
            continue;
        };
        if slot.built && *fresh {
            continue;
        }
        slot.generation += 1;
        let copy = server.copies.join(format!("{name}-{}", slot.generation));
        if let Err(e) = std::fs::copy(exe, &copy) {
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
        if slot.built {
            restarted.push(name.clone());
            let _ = std::fs::remove_file(old);
        }
        slot.built = true;
    }
    let _ = server.notices.send(Notice::Built {
        restarted,
        took: started.elapsed(),
    });
}

/// `cargo build` of `bins`, the compiler's messages shown as they come: each
/// binary's executable and whether it was already up to date.
fn cargo_build(dir: &Path, bins: &[String]) -> Result<BTreeMap<String, (PathBuf, bool)>, String> {
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
            built.insert(
                name.to_string(),
                (PathBuf::from(exe), m["fresh"].as_bool().unwrap_or(false)),
            );
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

/// Sources are `.rs` files and cargo's manifests; build outputs, version control
/// and hidden files (editors' swap files) are not.
fn classify(dir: &Path, path: &Path, changes: &mut Changes) {
    let Ok(relative) = path.strip_prefix(dir) else {
        return;
    };
    let ignored = relative.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        c.starts_with('.') || c == "target" || c == "node_modules"
    });
    let name = relative
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if ignored || name.ends_with('~') {
        return;
    }
    if relative.components().count() == 1
        && matches!(name.as_str(), "serverless.yaml" | "serverless.yml")
    {
        changes.manifest = true;
    } else if name.ends_with(".rs") || name == "Cargo.toml" || name == "Cargo.lock" {
        changes.sources = true;
    }
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
        let skip = name.starts_with('.') || name == "target" || name == "node_modules";
        if entry.file_type().is_ok_and(|t| t.is_dir()) && !skip {
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
) {
    while let Some(first) = paths.recv().await {
        let mut changes = Changes::default();
        classify(dir, &first, &mut changes);
        // Until the saves stop.
        while let Ok(Some(path)) = tokio::time::timeout(DEBOUNCE, paths.recv()).await {
            classify(dir, &path, &mut changes);
        }
        if changes.manifest {
            let _ = server.notices.send(Notice::ManifestChanged);
        }
        if changes.sources {
            rebuild(&server, dir, false).await;
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
            return Ok(finish(
                &server, &method, &path, None, response, started, None,
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
        let (function, response, note) = invoke_api(&server, &request, name).await;
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
    let event = http::event(&request, route, &params);
    let (mut response, note) = match invoke(&server, &route.function, event.to_string()).await {
        Ok(answer) => match http::response(&answer) {
            Ok(response) => (response, None),
            Err(why) => (bad_gateway(), Some(why)),
        },
        Err(Failure::Function(why)) => (bad_gateway(), Some(why)),
        Err(Failure::NotBuilt(why)) => (Response::message(500, &why), Some(why)),
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

/// Lambda's Invoke API: the body is the event, the answer the function's, a
/// function error flagged with `X-Amz-Function-Error` as Lambda flags it.
async fn invoke_api(
    server: &Server,
    request: &Request,
    name: &str,
) -> (Option<String>, Response, Option<String>) {
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
    match invoke(server, &function, payload).await {
        Ok(answer) => (Some(function), json(answer), None),
        Err(Failure::Function(why)) => {
            let mut r = json(Bytes::from(
                serde_json::json!({ "errorType": "Unhandled", "errorMessage": why }).to_string(),
            ));
            r.headers
                .push(("x-amz-function-error".into(), "Unhandled".into()));
            (Some(function), r, Some(why))
        }
        Err(Failure::NotBuilt(why)) => (Some(function), Response::message(500, &why), Some(why)),
    }
}

enum Failure {
    /// The function failed, crashed or timed out: why, with the handler's error.
    Function(String),
    /// There is no build of it to run.
    NotBuilt(String),
}

/// One invocation of `function`, on its warm process (started first if needed).
/// Requests to one function take turns, as on one Lambda instance.
async fn invoke(server: &Server, function: &str, payload: String) -> Result<Bytes, Failure> {
    let mut slot = server.slots[function].lock().await;
    if !slot.built {
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
        .map_err(|e| Failure::Function(format!("{e:#}")))?;
    let timeout = slot.local.timeout.as_secs();
    match report.result {
        super::Result::Done(Outcome::Response(body)) => Ok(body),
        super::Result::Done(Outcome::Error { error_type, body }) => Err(Failure::Function(
            format!("the handler failed ({error_type}){}", detail(&body)),
        )),
        super::Result::Done(Outcome::InitError { error_type, body }) => Err(Failure::Function(
            format!("init failed ({error_type}){}", detail(&body)),
        )),
        super::Result::Timeout => Err(Failure::Function(format!(
            "timed out after {timeout}s (the function's timeout); the process was stopped"
        ))),
        super::Result::Exited(why) => Err(Failure::Function(why)),
    }
}

/// `: errorType: errorMessage` of a runtime's error body.
fn detail(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            Some(format!(
                ": {}",
                v["errorMessage"].as_str().or(v["errorType"].as_str())?
            ))
        })
        .unwrap_or_default()
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
    let _ = server.notices.send(Notice::Request {
        method: method.to_string(),
        path: path.to_string(),
        function,
        status: response.status,
        duration: started.elapsed(),
        note,
    });
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    builder.body(Full::new(response.body)).unwrap_or_else(|e| {
        let mut r = hyper::Response::new(Full::new(Bytes::from(format!(
            "{{\"message\":\"the function's answer has a header HTTP cannot carry: {e}\"}}"
        ))));
        *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
        r
    })
}

/// Sends an event to `function` on a running `sls-rs dev` at `addr` (Lambda's
/// Invoke API): the function's answer, or its error.
pub fn send_event(
    addr: SocketAddr,
    function: &str,
    payload: &[u8],
) -> anyhow::Result<Result<Bytes, Bytes>> {
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| {
            crate::error::UsageError::new(format!(
                "no sls-rs dev answers at {addr} ({e})"
            ))
            .with_help("start `sls-rs dev` for this service first (in another terminal), or name its port with --dev PORT")
        })?;
    write!(
        stream,
        "POST {INVOKE_PREFIX}{function}/invocations HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        payload.len()
    )?;
    stream.write_all(payload)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            anyhow::anyhow!("sls-rs dev at {addr} answered something that is not HTTP")
        })?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
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
        assert!(of("/srv/app/serverless.yaml").manifest);
        for ignored in [
            "/srv/app/target/debug/echo",
            "/srv/app/src/.echo.rs.swp",
            "/srv/app/src/echo.rs~",
            "/srv/app/.git/index",
            "/srv/app/.sls-rs/echo.zip",
            "/srv/app/README.md",
            "/elsewhere/x.rs",
        ] {
            assert_eq!(of(ignored), Changes::default(), "{ignored}");
        }
    }
}

//! `sls-rs dev`: the service's `httpApi` routes served on this machine, each
//! route's function a warm local process (one per function, started at its first
//! request as Lambda would), rebuilt and restarted when its sources change while
//! the others stay warm. Functions without routes answer Lambda's Invoke API on
//! the same port (`POST /2015-03-31/functions/{name}/invocations`), which is what
//! `sls-rs invoke --dev` and `aws lambda invoke --endpoint-url` send. A function
//! URL (`url:`) gets a port of its own, as Lambda gives each URL a host of its own:
//! every path reaches the function, and a `RESPONSE_STREAM` URL passes the body on
//! as the handler writes it.
//!
//! What happens is told to the caller as [`Notice`]s, which the command renders.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;

use super::http::{self, Cors, Request, Response, Route};
use super::{LocalFunction, Outcome, Session, StreamEnd, StreamPart};
use crate::manifest::CorsRule;

/// API Gateway's payload limit for an HTTP API.
const MAX_BODY: usize = 10 * 1024 * 1024;
/// Quiet time after a save before a rebuild starts: an editor's save is several events.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// Where Lambda's Invoke API puts a function's name.
const INVOKE_PREFIX: &str = "/2015-03-31/functions/";
/// An HTTP API gives up on an integration after 30 s (503), whatever the function's timeout.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Chunks of a streamed answer held between the handler and a slow client.
const STREAM_BUFFER: usize = 16;
/// Lambda's limit on a synchronous invocation's event and answer.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// Marks the answers of `sls-rs dev`'s Invoke API, so `invoke --dev` knows it reached one.
const MARKER: &str = "x-sls-rs-dev";

/// What `dev` tells the command, to show the user.
#[derive(Debug, Clone)]
pub enum Notice {
    /// The first build is starting (a cold one can take minutes).
    Building { functions: usize },
    Listening {
        url: String,
        /// The function URLs, each on its port.
        urls: Vec<ServedUrl>,
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
    BuildFailed { why: String, took: Duration },
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

/// A function URL as `dev` serves it.
#[derive(Debug, Clone)]
pub struct ServedUrl {
    pub function: String,
    pub url: String,
    pub streaming: bool,
    /// `aws_iam`: only signed requests get through.
    pub signed: bool,
}

/// A function URL to serve, on a port of its own.
pub struct UrlListener {
    pub function: String,
    pub listener: TcpListener,
    /// `invokeMode: RESPONSE_STREAM`: the body is passed on as the handler writes it.
    pub streaming: bool,
    /// `authorizer: aws_iam`: an unsigned request is refused (the signature is not checked).
    pub signed: bool,
    /// The URL's CORS, which Lambda answers itself.
    pub cors: Option<UrlCors>,
}

/// A URL's CORS: an HTTP API's, with credentials and exposed headers.
#[derive(Debug, Clone)]
pub struct UrlCors {
    pub rule: CorsRule,
    pub allow_credentials: bool,
    pub expose_headers: Vec<String>,
}

impl UrlCors {
    /// Adds what a URL's CORS has beyond an HTTP API's to an answer the origin may read.
    fn decorate(&self, response: &mut Response, preflight: bool) {
        let allowed = response
            .headers
            .iter()
            .any(|(n, _)| n == "access-control-allow-origin");
        if !allowed {
            return;
        }
        if self.allow_credentials {
            response
                .headers
                .push(("access-control-allow-credentials".into(), "true".into()));
        }
        if !preflight && !self.expose_headers.is_empty() {
            response.headers.push((
                "access-control-expose-headers".into(),
                self.expose_headers.join(","),
            ));
        }
    }
}

/// What a URL's requests need of its [`UrlListener`].
struct UrlConfig {
    function: String,
    streaming: bool,
    signed: bool,
    cors: Option<UrlCors>,
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
    pub urls: Vec<UrlListener>,
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
    let result = run(server.clone(), listener, opts, stop).await;
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
    opts: Options,
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
    let mut urls = Vec::new();
    let mut serving = Vec::new();
    for u in opts.urls {
        urls.push(ServedUrl {
            function: u.function.clone(),
            url: format!("http://{}/", u.listener.local_addr()?),
            streaming: u.streaming,
            signed: u.signed,
        });
        let config = Arc::new(UrlConfig {
            function: u.function,
            streaming: u.streaming,
            signed: u.signed,
            cors: u.cors,
        });
        let server = server.clone();
        serving.push(tokio::spawn(accept(u.listener, move |req, peer| {
            handle_url(server.clone(), config.clone(), req, peer)
        })));
    }
    let _ = server.notices.send(Notice::Listening {
        url: format!("http://{}", listener.local_addr()?),
        urls,
    });
    let api = {
        let server = server.clone();
        tokio::spawn(accept(listener, move |req, peer| {
            handle(server.clone(), req, peer)
        }))
    };
    stop.await;
    api.abort();
    for task in serving {
        task.abort();
    }
    watching.abort();
    Ok(())
}

/// Serves each connection `listener` accepts with `handler`, until aborted.
async fn accept<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(hyper::Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<hyper::Response<Body>, Infallible>> + Send + 'static,
{
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // Out of file descriptors, say: not a busy loop while it lasts.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handler(req, peer));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// An answer's body: whole, or passed on as a streaming handler writes it.
type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn whole(body: Bytes) -> Body {
    Full::new(body).map_err(|never| match never {}).boxed()
}

/// A body written as it arrives; an error ends the connection without completing it
/// (what a client of a URL sees when the handler fails mid-stream).
struct Channel(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for Channel {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|next| next.map(|r| r.map(Frame::data)))
    }
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

/// The request as an event needs it, its body read up to `limit` bytes (`Err`: the
/// method and path of one over it).
async fn read_request(
    server: &Server,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    limit: usize,
) -> Result<Request, (String, String)> {
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
    let Ok(body) = Limited::new(req.into_body(), limit).collect().await else {
        return Err((method, path));
    };
    Ok(Request {
        method,
        path,
        query,
        headers,
        body: body.to_bytes(),
        source_ip: peer.ip().to_string(),
        request_id: request_id(server),
        account: server.account.clone(),
    })
}

async fn handle(
    server: Arc<Server>,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> Result<hyper::Response<Body>, Infallible> {
    let started = Instant::now();
    let request = match read_request(&server, req, peer, MAX_BODY).await {
        Ok(request) => request,
        Err((method, path)) => {
            let response = Response::message(413, "Request Entity Too Large");
            let note = Some("the body is over the HTTP API's 10 MB limit".to_string());
            return Ok(finish(
                &server, &method, &path, None, response, started, note,
            ));
        }
    };
    let (method, path) = (request.method.clone(), request.path.clone());
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
            Ok(Answer::Whole(answer)) => match http::response(&answer) {
                Ok(response) => (response, None),
                Err(why) => (bad_gateway(), Some(why)),
            },
            Ok(Answer::Streamed(_)) => unreachable!("only a URL's invocation streams"),
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

/// A request to a function URL: every method and path reaches the function, with
/// Lambda's URL event (payload 2.0, route `$default`), no 30 s integration limit
/// (the function's timeout applies), and a streamed answer passed on as written.
async fn handle_url(
    server: Arc<Server>,
    url: Arc<UrlConfig>,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> Result<hyper::Response<Body>, Infallible> {
    let started = Instant::now();
    let function = Some(url.function.clone());
    let request = match read_request(&server, req, peer, MAX_PAYLOAD).await {
        Ok(request) => request,
        Err((method, path)) => {
            let response = Response::message(413, "Request Entity Too Large");
            let note = Some("the body is over Lambda's 6 MB limit for a URL".to_string());
            return Ok(finish(
                &server, &method, &path, function, response, started, note,
            ));
        }
    };
    let (method, path) = (request.method.clone(), request.path.clone());
    // A browser's preflight is never signed: the URL answers it before any authorizer.
    let cors = url.cors.as_ref().map(|c| Cors(&c.rule));
    if let Some(mut preflight) = cors.as_ref().and_then(|c| c.preflight(&request)) {
        if let Some(extra) = &url.cors {
            extra.decorate(&mut preflight, true);
        }
        return Ok(finish(
            &server, &method, &path, function, preflight, started, None,
        ));
    }
    // Signed in its Authorization header, or in its query string (a presigned URL).
    let signed = request
        .header("authorization")
        .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 "))
        || request
            .query
            .split('&')
            .any(|p| p.starts_with("X-Amz-Signature="));
    if url.signed && !signed {
        let mut response = Response::message(403, "Forbidden");
        response.body = Bytes::from(r#"{"Message":"Forbidden"}"#);
        let note = Some("the URL's authorizer is aws_iam: send a SigV4-signed request (sls-rs dev checks that it is signed, not the signature)".to_string());
        return Ok(finish(
            &server, &method, &path, function, response, started, note,
        ));
    }
    let event =
        http::event(&request, &http::url_route(&url.function), &BTreeMap::new()).to_string();
    if event.len() > MAX_PAYLOAD {
        let response = Response::message(413, "Request Entity Too Large");
        let note = Some("the event is over Lambda's 6 MB limit".to_string());
        return Ok(finish(
            &server, &method, &path, function, response, started, note,
        ));
    }
    let decorate = |response: &mut Response| {
        if let Some(cors) = &cors {
            cors.decorate(&request, response);
        }
        if let Some(extra) = &url.cors {
            extra.decorate(response, false);
        }
        response
            .headers
            .push(("x-amzn-requestid".into(), request.request_id.clone()));
    };
    let whole = if url.streaming {
        let (parts, mut written) = mpsc::channel(STREAM_BUFFER);
        let task = tokio::spawn(invoke_now(
            server.clone(),
            url.function.clone(),
            event,
            Some(parts),
        ));
        match written.recv().await {
            // It streams: the head now, the body as it comes.
            Some(first) => {
                let (mut head, body) = match first {
                    StreamPart::Prelude(prelude) => (streamed_head(&prelude), None),
                    StreamPart::Body(chunk) => (
                        Response {
                            status: 200,
                            headers: vec![(
                                "content-type".into(),
                                "application/octet-stream".into(),
                            )],
                            body: Bytes::new(),
                        },
                        Some(chunk),
                    ),
                };
                decorate(&mut head);
                let trace = Trace {
                    method,
                    path,
                    function: url.function.clone(),
                    started,
                };
                return Ok(stream_answer(server, head, body, written, task, trace));
            }
            // It answered whole, failed first, or streamed nothing: the sender went with the task.
            None => task.await.unwrap_or_else(|e| {
                Err(failed(
                    format!("the invocation failed: {e}"),
                    "Runtime.Unknown",
                ))
            }),
        }
    } else {
        invoke(&server, &url.function, event, None).await
    };
    let (mut response, note) = match whole {
        Ok(Answer::Whole(answer)) => match http::response(&answer) {
            Ok(response) => (response, None),
            Err(why) => (bad_gateway(), Some(why)),
        },
        // A stream that ended before any of it came: empty, or cut short.
        Ok(Answer::Streamed(StreamEnd::Complete)) => (
            Response {
                status: 200,
                headers: vec![],
                body: Bytes::new(),
            },
            None,
        ),
        Ok(Answer::Streamed(end)) => (bad_gateway(), stream_note(&end)),
        Err(Failure::Function { why, .. }) => (bad_gateway(), Some(why)),
        Err(Failure::NotBuilt(why)) => (Response::message(500, &why), Some(why)),
        Err(Failure::TooSlow) => unreachable!("a URL has no integration timeout"),
    };
    decorate(&mut response);
    Ok(finish(
        &server, &method, &path, function, response, started, note,
    ))
}

/// The status, headers and cookies of lambda_http's prelude, as Lambda answers them.
fn streamed_head(prelude: &serde_json::Value) -> Response {
    let status = prelude["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    Response {
        status,
        headers: super::prelude_headers(prelude),
        body: Bytes::new(),
    }
}

/// A request being answered, for its notice.
struct Trace {
    method: String,
    path: String,
    function: String,
    started: Instant,
}

/// Answers `head` now and the body as the handler writes it; the request's notice
/// comes when the stream ends, with why it was cut short when it was.
fn stream_answer(
    server: Arc<Server>,
    head: Response,
    first: Option<Bytes>,
    mut written: mpsc::Receiver<StreamPart>,
    task: tokio::task::JoinHandle<Result<Answer, Failure>>,
    trace: Trace,
) -> hyper::Response<Body> {
    let (body, sent) = mpsc::channel(STREAM_BUFFER);
    let mut builder = hyper::Response::builder().status(head.status);
    for (name, value) in &head.headers {
        builder = builder.header(name, value);
    }
    let response = match builder.body(Channel(sent).boxed()) {
        Ok(response) => response,
        Err(e) => {
            // Headers HTTP cannot carry: the stream is not read (the handler runs on).
            let why = format!("the answer cannot be sent in HTTP: {e}");
            return finish(
                &server,
                &trace.method,
                &trace.path,
                Some(trace.function),
                bad_gateway(),
                trace.started,
                Some(why),
            );
        }
    };
    let status = head.status;
    tokio::spawn(async move {
        if let Some(chunk) = first {
            let _ = body.send(Ok(chunk)).await;
        }
        while let Some(part) = written.recv().await {
            if let StreamPart::Body(chunk) = part {
                // A client that went away stops nothing: the handler ends as on Lambda.
                let _ = body.send(Ok(chunk)).await;
            }
        }
        let note = match task.await {
            Ok(Ok(Answer::Streamed(end))) => stream_note(&end),
            Ok(Ok(Answer::Whole(_))) => None,
            Ok(Err(Failure::Function { why, .. } | Failure::NotBuilt(why))) => Some(why),
            Ok(Err(Failure::TooSlow)) => None,
            Err(e) => Some(format!("the invocation failed: {e}")),
        };
        if let Some(why) = &note {
            // The client sees the answer end before it is complete, as from Lambda.
            let _ = body.send(Err(std::io::Error::other(why.clone()))).await;
        }
        let _ = server.notices.send(Notice::Request {
            method: trace.method,
            path: trace.path,
            function: Some(trace.function),
            status,
            duration: trace.started.elapsed(),
            note,
        });
    });
    response
}

/// Why a stream ended early, in words; `None` when it was complete.
fn stream_note(end: &StreamEnd) -> Option<String> {
    match end {
        StreamEnd::Complete => None,
        StreamEnd::Failed {
            error_type,
            message,
        } => Some(format!(
            "the handler failed while streaming{}",
            detail(
                error_type,
                serde_json::json!({ "errorMessage": message })
                    .to_string()
                    .as_bytes()
            )
        )),
        StreamEnd::TimedOut => Some(
            "timed out while streaming (the function's timeout); the process was stopped".into(),
        ),
    }
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
        Ok(Answer::Whole(answer)) => (Some(function), json(answer), None),
        Ok(Answer::Streamed(_)) => unreachable!("only a URL's invocation streams"),
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

/// What an invocation answered.
enum Answer {
    Whole(Bytes),
    /// Streamed to the invocation's sink (a streaming URL's), and how it ended.
    Streamed(StreamEnd),
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
) -> Result<Answer, Failure> {
    let task = tokio::spawn(invoke_now(
        server.clone(),
        function.to_string(),
        payload,
        None,
    ));
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

/// `sink`: where a streamed answer goes as it is written (a streaming URL's); without
/// one, a handler that streams fails the invocation. The function's process is held
/// until its stream ends, as a Lambda instance is.
async fn invoke_now(
    server: Arc<Server>,
    function: String,
    payload: String,
    sink: Option<mpsc::Sender<StreamPart>>,
) -> Result<Answer, Failure> {
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
    let function_timeout = slot.local.timeout;
    let session = slot.session.as_mut().expect("just started");
    let report = session
        .invoke(Bytes::from(payload), None)
        .await
        .map_err(|e| failed(format!("{e:#}"), "Runtime.Unknown"))?;
    if let (super::Result::Done(Outcome::Streamed(stream)), Some(sink)) = (&report.result, sink) {
        // The function's time runs from when it got the event (after any init).
        let deadline = Instant::now() + function_timeout.saturating_sub(report.duration);
        let end = super::read_stream(stream, deadline, |part| {
            let sink = sink.clone();
            async move {
                // A client that went away: the rest of the stream is read and dropped.
                let _ = sink.send(part).await;
            }
        })
        .await;
        if end == StreamEnd::TimedOut {
            session.stop().await;
        }
        return Ok(Answer::Streamed(end));
    }
    let timeout = function_timeout.as_secs();
    match report.result {
        super::Result::Done(Outcome::Response(body)) if body.len() > MAX_PAYLOAD => Err(failed(
            format!(
                "the answer is {} bytes, over Lambda's 6 MB limit",
                body.len()
            ),
            "Function.ResponseSizeTooLarge",
        )),
        super::Result::Done(Outcome::Response(body)) => Ok(Answer::Whole(body)),
        super::Result::Done(Outcome::Streamed(_)) => Err(failed(
            "the handler streams its answer (lambda_http's run_with_streaming_response): an HTTP API, a BUFFERED URL and Lambda's Invoke API do not stream; give the function `url: { invokeMode: RESPONSE_STREAM }`".into(),
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
) -> hyper::Response<Body> {
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    // `http::response` checked the function's headers: this is for our own.
    let (written, note) = match builder.body(whole(response.body)) {
        Ok(written) => (written, note),
        Err(e) => {
            let mut r = hyper::Response::new(whole(bad_gateway().body));
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
    fn a_streamed_answers_head_is_lambda_https_prelude() {
        let head = streamed_head(&serde_json::json!({
            "statusCode": 201,
            "headers": { "Content-Type": "text/plain", "vary": ["origin", "accept"] },
            "cookies": ["a=1; Secure", "b=2"],
        }));
        assert_eq!(head.status, 201);
        assert_eq!(
            head.headers,
            vec![
                ("content-type".to_string(), "text/plain".to_string()),
                // lambda_http writes a repeated header as a list: one line each.
                ("vary".to_string(), "origin".to_string()),
                ("vary".to_string(), "accept".to_string()),
                ("set-cookie".to_string(), "a=1; Secure".to_string()),
                ("set-cookie".to_string(), "b=2".to_string()),
            ]
        );
        // No status (or one HTTP cannot carry): Lambda's 200.
        assert_eq!(streamed_head(&serde_json::json!({})).status, 200);
        assert_eq!(
            streamed_head(&serde_json::json!({ "statusCode": 70000 })).status,
            200
        );
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

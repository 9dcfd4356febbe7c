//! The Lambda Runtime API, served on 127.0.0.1 for one function process:
//! `GET /2018-06-01/runtime/invocation/next` (long poll, with Lambda's headers),
//! `POST …/invocation/{id}/response` (whole, or streamed as the function writes it:
//! `Lambda-Runtime-Function-Response-Mode: streaming`), `POST …/invocation/{id}/error`,
//! `POST …/init/error`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// One event waiting for the function.
pub struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    /// Milliseconds since the epoch.
    pub deadline_ms: u128,
    pub function_arn: String,
    pub trace_id: String,
    pub client_context: Option<String>,
    pub reply: oneshot::Sender<Outcome>,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Bytes),
    /// The function streams its answer: it has begun, and goes on in the stream.
    Streamed(Stream),
    /// The handler failed: Lambda's error type and the JSON body the runtime sent.
    Error {
        error_type: String,
        body: Bytes,
    },
    /// The process failed before it could serve: `init/error`.
    InitError {
        error_type: String,
        body: Bytes,
    },
}

/// A part of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    Data(Bytes),
    /// The handler failed after it began to answer (lambda_runtime's error trailer).
    Error {
        error_type: String,
        message: String,
    },
}

/// A streamed answer, chunk by chunk as the function writes them; it ends when the
/// function's response ends.
#[derive(Clone)]
pub struct Stream {
    /// `application/vnd.awslambda.http-integration-response`: a JSON prelude (status,
    /// headers, cookies) and 8 NUL bytes come first, as lambda_http writes for a URL.
    pub http: bool,
    chunks: Arc<tokio::sync::Mutex<mpsc::Receiver<Chunk>>>,
}

impl Stream {
    /// The next chunk; `None` once the answer is complete.
    pub async fn next(&self) -> Option<Chunk> {
        self.chunks.lock().await.recv().await
    }

    /// A stream already written, for tests of what reads one.
    #[cfg(test)]
    pub fn written(http: bool, chunks: Vec<Chunk>) -> Stream {
        let (tx, rx) = mpsc::channel(chunks.len().max(1));
        for c in chunks {
            tx.try_send(c).expect("room for every chunk");
        }
        Stream {
            http,
            chunks: Arc::new(tokio::sync::Mutex::new(rx)),
        }
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stream {{ http: {} }}", self.http)
    }
}

impl PartialEq for Stream {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chunks, &other.chunks)
    }
}

/// The content type of lambda_http's streamed answers (a prelude before the body).
pub const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";

/// lambda_runtime reports a failure mid-stream as a last chunk of two header lines
/// (`Lambda-Runtime-Function-Error-Type: …`, `…-Error-Body: <base64>`).
fn stream_error(data: &[u8]) -> Option<Chunk> {
    let text = std::str::from_utf8(data).ok()?;
    let mut error_type = None;
    let mut message = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "lambda-runtime-function-error-type" => error_type = Some(value.trim().to_string()),
            "lambda-runtime-function-error-body" => {
                use base64::Engine;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .unwrap_or_else(|_| value.trim().as_bytes().to_vec());
                message = String::from_utf8_lossy(&raw).into_owned();
            }
            _ => return None,
        }
    }
    Some(Chunk::Error {
        error_type: error_type?,
        message,
    })
}

/// Forwards a streamed response's frames as they come; real HTTP trailers count
/// as much as lambda_runtime's error chunk. A body cut short (the process died
/// mid-stream) is a failure, not the end of the answer; a reader that goes away
/// ends the forwarding at once, so the process is not left writing into a full
/// channel until its next invocation times out.
async fn forward_stream(mut body: Incoming, to: mpsc::Sender<Chunk>) {
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            () = to.closed() => break,
        };
        let Some(frame) = frame else { break };
        let Ok(frame) = frame else {
            let _ = to
                .send(Chunk::Error {
                    error_type: "Runtime.ExitError".into(),
                    message: "the answer was cut short: the process ended while streaming".into(),
                })
                .await;
            break;
        };
        let chunk = match frame.into_data() {
            Ok(data) => stream_error(&data).unwrap_or(Chunk::Data(data)),
            Err(frame) => {
                let Ok(trailers) = frame.into_trailers() else {
                    continue;
                };
                let header = |name: &str| {
                    trailers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let Some(error_type) = header("lambda-runtime-function-error-type") else {
                    continue;
                };
                let body = header("lambda-runtime-function-error-body").unwrap_or_default();
                let block = format!(
                    "Lambda-Runtime-Function-Error-Type: {error_type}\r\nLambda-Runtime-Function-Error-Body: {body}\r\n"
                );
                stream_error(block.as_bytes()).unwrap_or(Chunk::Error {
                    error_type,
                    message: body,
                })
            }
        };
        if to.send(chunk).await.is_err() {
            break;
        }
    }
}

#[derive(Default)]
struct Shared {
    /// Dispatched invocations, by request id, waiting for their outcome.
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// When the process first asked for work since it started: the end of its init.
    first_next: Mutex<Option<Instant>>,
    /// When the current invocation was handed out.
    dispatched: Mutex<Option<Instant>>,
    /// Where an init error goes: the caller waiting on the process.
    init_error: Mutex<Option<oneshot::Sender<Outcome>>>,
    /// Signalled when a new process first asks for work.
    ready: tokio::sync::Notify,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    queue: mpsc::Sender<Invocation>,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> anyhow::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (queue, rx) = mpsc::channel::<Invocation>(64);
        let shared = Arc::new(Shared::default());
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let server_shared = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (rx, shared) = (rx.clone(), server_shared.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, rx.clone(), shared.clone()));
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(RuntimeApi {
            addr,
            queue,
            shared,
        })
    }

    /// Queues an invocation for the process.
    pub async fn submit(&self, invocation: Invocation) -> anyhow::Result<()> {
        self.queue
            .send(invocation)
            .await
            .map_err(|_| anyhow::anyhow!("the Runtime API stopped"))
    }

    /// A new process is starting: its init ends at its first `next`, and an init error goes to `to`.
    pub fn process_started(&self, to: oneshot::Sender<Outcome>) {
        *self.shared.first_next.lock().expect("lock") = None;
        *self.shared.init_error.lock().expect("lock") = Some(to);
    }

    pub fn first_next(&self) -> Option<Instant> {
        *self.shared.first_next.lock().expect("lock")
    }

    /// Waits until the new process asks for its first invocation (its init is over).
    pub async fn ready(&self) {
        if self.first_next().is_none() {
            self.shared.ready.notified().await;
        }
    }

    pub fn dispatched(&self) -> Option<Instant> {
        *self.shared.dispatched.lock().expect("lock")
    }

    /// Forgets an invocation that timed out, so a late answer goes nowhere.
    pub fn abandon(&self, request_id: &str) {
        self.shared.pending.lock().expect("lock").remove(request_id);
    }
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("static response")
}

async fn handle(
    req: Request<Incoming>,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Invocation>>>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    const PREFIX: &str = "/2018-06-01/runtime/";
    let path = req.uri().path().to_string();
    let Some(route) = path.strip_prefix(PREFIX) else {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            r#"{"errorMessage":"unknown path"}"#,
        ));
    };
    let method = req.method().clone();
    let error_type = req
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unknown")
        .to_string();
    match (method, route.split('/').collect::<Vec<_>>().as_slice()) {
        (Method::GET, ["invocation", "next"]) => {
            let first = shared.first_next.lock().expect("lock").is_none();
            if first {
                *shared.first_next.lock().expect("lock") = Some(Instant::now());
                shared.ready.notify_one();
            }
            let next = rx.lock().await.recv().await;
            let Some(inv) = next else {
                return Ok(reply(
                    StatusCode::GONE,
                    r#"{"errorMessage":"shutting down"}"#,
                ));
            };
            *shared.dispatched.lock().expect("lock") = Some(Instant::now());
            shared
                .pending
                .lock()
                .expect("lock")
                .insert(inv.request_id.clone(), inv.reply);
            let mut response = Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("lambda-runtime-aws-request-id", &inv.request_id)
                .header("lambda-runtime-deadline-ms", inv.deadline_ms.to_string())
                .header("lambda-runtime-invoked-function-arn", &inv.function_arn)
                .header("lambda-runtime-trace-id", &inv.trace_id);
            if let Some(cc) = &inv.client_context {
                response = response.header("lambda-runtime-client-context", cc);
            }
            Ok(response
                .body(Full::new(inv.payload))
                .expect("valid response"))
        }
        (Method::POST, ["invocation", id, "response"])
            if req
                .headers()
                .get("lambda-runtime-function-response-mode")
                .is_some_and(|m| m.as_bytes().eq_ignore_ascii_case(b"streaming")) =>
        {
            let Some(to) = shared.pending.lock().expect("lock").remove(*id) else {
                return Ok(reply(
                    StatusCode::BAD_REQUEST,
                    r#"{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}"#,
                ));
            };
            let http = req
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .is_some_and(|t| t.as_bytes() == HTTP_INTEGRATION.as_bytes());
            let (tx, rx) = mpsc::channel(64);
            let _ = to.send(Outcome::Streamed(Stream {
                http,
                chunks: Arc::new(tokio::sync::Mutex::new(rx)),
            }));
            forward_stream(req.into_body(), tx).await;
            Ok(reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#))
        }
        (Method::POST, ["invocation", id, kind @ ("response" | "error")]) => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let Some(to) = shared.pending.lock().expect("lock").remove(*id) else {
                return Ok(reply(
                    StatusCode::BAD_REQUEST,
                    r#"{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}"#,
                ));
            };
            let outcome = if *kind == "response" {
                Outcome::Response(body)
            } else {
                Outcome::Error { error_type, body }
            };
            let _ = to.send(outcome);
            Ok(reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#))
        }
        (Method::POST, ["init", "error"]) => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if let Some(to) = shared.init_error.lock().expect("lock").take() {
                let _ = to.send(Outcome::InitError { error_type, body });
            }
            Ok(reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#))
        }
        _ => Ok(reply(
            StatusCode::NOT_FOUND,
            r#"{"errorMessage":"unknown route"}"#,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_runtimes_error_chunk_is_a_failure_with_its_decoded_message() {
        let chunk = b"Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\nLambda-Runtime-Function-Error-Body: Ym9vbQ==\r\n";
        assert_eq!(
            stream_error(chunk),
            Some(Chunk::Error {
                error_type: "Runtime.StreamError".into(),
                message: "boom".into()
            })
        );
        // A body that merely mentions the header is data.
        assert_eq!(
            stream_error(b"Lambda-Runtime-Function-Error-Type: x\r\nand more"),
            None
        );
        assert_eq!(stream_error(b"hello"), None);
    }
}

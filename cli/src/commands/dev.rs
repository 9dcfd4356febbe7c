//! `sls-rs dev`: the service's HTTP API and function URLs on this machine, rebuilt as
//! files are saved.

use std::net::{IpAddr, SocketAddr};

use clap::Args;
use serde_json::json;

use crate::cli::GlobalArgs;
use crate::local::dev::{self, DevFunction, Notice, UrlListener};
use crate::local::{self, http};
use crate::manifest::Event;
use crate::{build, engine, ui};

#[derive(Debug, Args)]
pub struct DevArgs {
    /// The port to serve on (0: any free port, printed at start)
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// The address to listen on; anything but 127.0.0.1 lets other machines in
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Do not rebuild when files change
    #[arg(long)]
    pub no_watch: bool,
    /// On an emulator stage, do not deploy the service's tables, buckets and queues there first
    #[arg(long)]
    pub no_deploy: bool,
}

pub fn run(global: &GlobalArgs, args: DevArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    if service.manifest.functions.is_empty() {
        return Err(crate::error::UsageError::new(
            "the service has no functions to run".to_string(),
        )
        .into());
    }
    let routes = http::routes(&service);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = runtime.block_on(async {
        // The ports first: one in use fails at once, before anything is built.
        let listener = dev::bind(SocketAddr::new(args.host, args.port)).await?;
        let urls = bind_urls(&service, &args).await?;
        // A handler that names no binary, or a runtime crate cargo cannot find, stop here.
        build::check_local(&service)?;
        let stage = local::Stage::resolve(&service).await;
        if let Some(w) = stage.unknown_account_warning() {
            ui::warn(&w);
        }
        if stage.emulated() && !args.no_deploy {
            deploy_data(&service).await?;
        }
        let functions: Vec<DevFunction> = service
            .manifest
            .functions
            .iter()
            .map(|(name, f)| DevFunction {
                name: name.clone(),
                bin: f.handler.clone(),
                local: stage.local_function(&service, name, Default::default()),
            })
            .collect();
        let opts = dev::Options {
            listen: listener.local_addr()?,
            urls,
            watch: !args.no_watch,
            dir: service.dir.clone(),
            account: stage
                .account
                .clone()
                .unwrap_or_else(|_| "123456789012".into()),
            cors: service.manifest.provider.http_api.cors.clone(),
        };
        let listen = opts.listen;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let json = global.json;
        let render = {
            let (service, routes) = (service.clone(), routes.clone());
            tokio::spawn(async move {
                while let Some(notice) = rx.recv().await {
                    render(&notice, &service, &routes, listen, json);
                }
            })
        };
        let served = dev::serve(listener, functions, routes, opts, tx, stopped()).await;
        // What is still queued is shown; connections kept open do not hold the exit.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), render).await;
        served
    });
    // Open connections and a request in flight are dropped here (its process
    // killed with it); a build in progress is not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    served
}

/// A port for each function URL, as Lambda gives each URL a host of its own: the
/// ones after `--port`, in the manifest's order (any free ones with `--port 0`).
async fn bind_urls(
    service: &crate::manifest::Service,
    args: &DevArgs,
) -> anyhow::Result<Vec<UrlListener>> {
    let mut urls = Vec::new();
    let with_url = service
        .manifest
        .functions
        .iter()
        .filter_map(|(name, f)| Some((name, f.url.as_ref()?)));
    for (i, (name, url)) in with_url.enumerate() {
        let port = match args.port {
            0 => 0,
            p => u16::try_from(usize::from(p) + 1 + i).map_err(|_| {
                crate::error::UsageError::new(format!(
                    "no port after {p} for the URL of `{name}`: choose a lower one with --port"
                ))
            })?,
        };
        let addr = SocketAddr::new(args.host, port);
        let listener = dev::bind(addr).await.map_err(|e| {
            crate::error::UsageError::new(format!(
                "the URL of `{name}`: {e:#} (function URLs take the ports after --port)"
            ))
        })?;
        let cors = url.cors.as_ref().map(|c| dev::UrlCors {
            rule: crate::manifest::CorsRule {
                allowed_origins: c.allowed_origins.clone(),
                allowed_methods: c.allowed_methods.clone(),
                allowed_headers: c.allowed_headers.clone(),
                max_age: c.max_age,
            },
            allow_credentials: c.allow_credentials,
            expose_headers: c.exposed_response_headers.clone(),
        });
        urls.push(UrlListener {
            function: name.clone(),
            listener,
            streaming: url.invoke_mode == crate::manifest::InvokeMode::ResponseStream,
            signed: url.authorizer == crate::manifest::UrlAuthorizer::AwsIam,
            cors,
        });
    }
    Ok(urls)
}

/// On an emulator stage, the service's tables, buckets and queues, deployed there
/// as `deploy` would (same names, same state), so the handlers' SDK calls find
/// them; nothing else the stage has is touched.
async fn deploy_data(service: &crate::manifest::Service) -> anyhow::Result<()> {
    let r = &service.manifest.resources;
    // Existing ones are someone else's: not made here, so calls to them fail unless
    // the emulator has them already.
    let existing: Vec<String> = r
        .buckets
        .iter()
        .filter_map(|(k, b)| b.existing.as_ref().map(|n| format!("bucket `{k}` ({n})")))
        .chain(
            r.queues
                .iter()
                .filter_map(|(k, q)| q.existing.as_ref().map(|n| format!("queue `{k}` ({n})"))),
        )
        .collect();
    if !existing.is_empty() {
        ui::warn(&format!(
            "not made on the emulator, being `existing:`: {}; the handlers' calls to them fail unless it has them",
            existing.join(", ")
        ));
    }
    if r.tables.is_empty() && r.buckets.is_empty() && r.queues.is_empty() {
        return Ok(());
    }
    let package = build::PackageManifest {
        service: service.manifest.service.clone(),
        functions: Default::default(),
    };
    let opts = engine::DeployOptions {
        dry_run: false,
        lock_timeout: std::time::Duration::from_secs(60),
        command: super::command_line(),
        package_root: service.dir.clone(),
        concurrency: engine::DEFAULT_CONCURRENCY,
        force: false,
        unpin: engine::plan::Unpin::None,
        allow_disruption: false,
        scope: engine::Scope::Data,
        no_wait: false,
    };
    let report = engine::deploy(service, &package, &opts, &|line| ui::status(line))
        .await
        .map_err(|e| e.context("deploying the service's tables, buckets and queues to the emulator (--no-deploy skips it)"))?;
    let what = format!(
        "the tables, buckets and queues of {}/{} on the emulator",
        report.service, report.stage
    );
    ui::status(&match report.deployment {
        Some(_) => format!(
            "deployed {what} ({:.2}s)",
            report.elapsed_ms as f64 / 1000.0
        ),
        None => format!("{what} are up to date"),
    });
    Ok(())
}

/// Ctrl-C or SIGTERM: the processes are stopped and the copies removed. A second
/// Ctrl-C exits at once.
async fn stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            // The user asked twice (as deploy's interrupt handler does): a handler
            // process ends when it next asks the Runtime API, which goes with us.
            #[allow(clippy::exit)]
            std::process::exit(i32::from(crate::error::EXIT_INTERRUPTED));
        }
    });
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

fn render(
    notice: &Notice,
    service: &crate::manifest::Service,
    routes: &[http::Route],
    listen: SocketAddr,
    json: bool,
) {
    if json {
        let doc = match notice {
            Notice::Building { functions } => json!({"event": "building", "functions": functions}),
            Notice::Listening { url, urls } => json!({"event": "listening", "url": url,
                "routes": routes.iter().map(|r| json!({"route": r.key, "function": r.function})).collect::<Vec<_>>(),
                "urls": urls.iter().map(|u| json!({"function": u.function, "url": u.url, "streaming": u.streaming,
                    "authorizer": if u.signed { "aws_iam" } else { "none" }})).collect::<Vec<_>>()}),
            Notice::Rebuilding => json!({"event": "rebuilding"}),
            Notice::Built { restarted, took } => {
                json!({"event": "built", "restarted": restarted, "ms": ms(*took)})
            }
            Notice::BuildFailed { why, took } => {
                json!({"event": "buildFailed", "error": why, "ms": ms(*took)})
            }
            Notice::ManifestChanged => json!({"event": "manifestChanged"}),
            Notice::Request {
                method,
                path,
                function,
                status,
                duration,
                note,
            } => json!({"event": "request",
                "method": method, "path": path, "function": function, "status": status, "ms": ms(*duration), "error": note}),
        };
        let _ = ui::out_json_text(&doc.to_string());
        return;
    }
    match notice {
        Notice::Building { functions } => ui::status(&format!(
            "building {functions} function{} for this machine (a debug build; the first one can take minutes)…",
            if *functions == 1 { "" } else { "s" }
        )),
        Notice::Listening { url, urls } => {
            let mut lines = vec![format!("serving {} ({}) on {url}", service.manifest.service, service.stage)];
            for r in routes {
                let (method, path) = r.key.split_once(' ').unwrap_or(("ANY", "/* ($default)"));
                lines.push(format!("  {method:<7} {url}{path}  → {}", r.function));
            }
            for u in urls {
                let how = match (u.streaming, u.signed) {
                    (true, true) => " (streams; signed requests only)",
                    (true, false) => " (streams)",
                    (false, true) => " (signed requests only)",
                    (false, false) => "",
                };
                lines.push(format!("  URL of {}{how}: {}", u.function, u.url));
            }
            let others: Vec<&String> = service
                .manifest
                .functions
                .iter()
                .filter(|(_, f)| f.url.is_none())
                .filter(|(_, f)| !f.events.iter().any(|e| matches!(e, Event::HttpApi(_))))
                .map(|(n, _)| n)
                .collect();
            if !others.is_empty() {
                lines.push("functions without a route take an event:".to_string());
                let port = if listen.port() == 3000 { String::new() } else { format!(" {}", listen.port()) };
                for name in others {
                    let kind = sample_kind(&service.manifest.functions[name]);
                    let event = kind.map(|k| format!("--event {k}")).unwrap_or_else(|| "--data '{…}'".into());
                    lines.push(format!("  sls-rs invoke --dev{port} -f {name} {event}"));
                }
            }
            lines.push("rebuilding on save; Ctrl-C stops".to_string());
            ui::status(&lines.join("\n"));
        }
        Notice::Rebuilding => ui::status("sources changed: rebuilding…"),
        Notice::Built { restarted, took } => {
            if restarted.is_empty() {
                ui::status(&format!("built in {} (no function changed)", build::seconds(*took)));
            } else {
                ui::status(&format!(
                    "built in {}: restarted {}",
                    build::seconds(*took),
                    restarted.join(", ")
                ));
            }
        }
        Notice::BuildFailed { why, .. } => ui::warn(&format!("{why}; the last good build keeps serving")),
        Notice::ManifestChanged => ui::warn(
            "serverless.yaml changed: routes, environment and resources are read at start; restart sls-rs dev to use the change",
        ),
        Notice::Request { method, path, function, status, duration, note } => {
            let to = function.as_deref().map(|f| format!(" → {f}")).unwrap_or_default();
            let why = note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
            ui::status(&format!("{method} {path}{to} {status} in {:.1} ms{why}", ms(*duration)));
        }
    }
}

/// The sample event kind of a function's first non-HTTP trigger.
fn sample_kind(f: &crate::manifest::Function) -> Option<&'static str> {
    f.events.iter().find_map(|e| match e {
        Event::S3(_) => Some("s3"),
        Event::Sqs(_) => Some("sqs"),
        Event::Schedule(_) => Some("schedule"),
        Event::Stream(_) => Some("dynamodb-stream"),
        Event::HttpApi(_) => None,
    })
}

//! `sls-rs info`: what is deployed, from the state and read back live.

use clap::Args;

use crate::cli::GlobalArgs;
use crate::{engine, ui};

#[derive(Debug, Args)]
pub struct InfoArgs {}

pub fn run(global: &GlobalArgs, _args: InfoArgs) -> anyhow::Result<()> {
    let service = super::load_service(global)?;
    let info = super::block_on(engine::info(&service))?;
    if global.json {
        return Ok(ui::out_json(&serde_json::to_value(&info)?)?);
    }
    let mut out = format!(
        "service {}, stage {}, region {}, account {}\n",
        info.service, info.stage, info.region, info.account
    );
    let mut rows = vec![[
        "function",
        "name",
        "live",
        "latest",
        "memory",
        "timeout",
        "provisioned",
    ]
    .map(String::from)];
    for f in &info.functions {
        let dash = || "-".to_string();
        rows.push([
            f.name.clone(),
            f.physical_name.clone(),
            if f.deployed {
                let live = f.live_version.clone().unwrap_or_else(|| "no alias".into());
                let split: Vec<String> = f
                    .split
                    .iter()
                    .map(|(version, percent)| format!("{percent}% to {version}"))
                    .collect();
                match (&f.shift, split.is_empty()) {
                    // A deploy shifting it now, one that ended mid-shift (`--no-wait`, a kill).
                    (Some(_), false) => format!("{live} ({}: shifting)", split.join(", ")),
                    // Recorded, not made yet: the alias is whole.
                    (Some(s), true) => format!("{live} (a shift to {} recorded, not begun)", s.to),
                    // Split behind sls-rs's back: the next deploy moves it whole.
                    (None, false) => format!("{live} ({}: split outside sls-rs)", split.join(", ")),
                    (None, true) => live,
                }
            } else {
                "not deployed".into()
            },
            f.latest_version.clone().unwrap_or_else(dash),
            f.memory_size
                .clone()
                .map(|m| format!("{m} MB"))
                .unwrap_or_else(dash),
            f.timeout
                .clone()
                .map(|t| format!("{t} s"))
                .unwrap_or_else(dash),
            match (&f.provisioned_concurrency, &f.provisioned_status) {
                (Some(n), Some(status)) => format!("{n} {status}"),
                (Some(n), None) => n.to_string(),
                (None, Some(status)) => status.clone(),
                (None, None) => dash(),
            },
        ]);
    }
    out.push_str(&ui::table(&rows));
    if !info.resources.is_empty() {
        let mut rows = vec![["resource", "name", "physical name"].map(String::from)];
        for r in &info.resources {
            rows.push([
                r.kind.noun().to_string(),
                r.name.clone(),
                r.physical_name.clone(),
            ]);
        }
        out.push_str(&ui::table(&rows));
    }
    if let Some(endpoint) = &info.endpoint {
        out.push_str(&super::endpoint_line(endpoint, info.endpoint_not_served));
        out.push('\n');
    }
    let urls = super::url_lines(
        info.functions
            .iter()
            .filter_map(|f| Some((&f.name, f.url.as_ref()?))),
        info.urls_not_served,
    );
    if let Some(lines) = urls.strip_prefix('\n') {
        out.push_str(lines);
        out.push('\n');
    }
    match &info.last_deployment {
        Some(d) => out.push_str(&format!(
            "last deployment: {} {} by {} ({}), changed: {}",
            d.id,
            d.status,
            d.who,
            d.started,
            if d.changed.is_empty() {
                "-".into()
            } else {
                d.changed.join(", ")
            }
        )),
        None => out.push_str("never deployed"),
    }
    if let Some(holder) = &info.locked_by {
        out.push_str(&format!("\nlocked by {holder}"));
    }
    Ok(ui::out(&out)?)
}

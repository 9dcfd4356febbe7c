//! A short description of a loaded service, for `validate` and later `info`.

use serde::Serialize;

use super::{Event, Service};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub name: String,
    pub stage: String,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    pub functions: Vec<FunctionSummary>,
    pub tables: Vec<String>,
    pub buckets: Vec<String>,
    pub queues: Vec<String>,
    pub state_machines: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionSummary {
    pub name: String,
    pub physical_name: String,
    pub handler: String,
    pub events: Vec<String>,
}

/// One line per trigger, as a user would say it.
pub fn describe_event(e: &Event) -> String {
    match e {
        Event::HttpApi(r) => format!("httpApi {} {}", r.method, r.path),
        Event::S3(s) => format!("s3 {}", s.bucket),
        Event::Schedule(s) => format!("schedule {}", s.rate),
        Event::Sqs(q) => format!("sqs {}", q.queue),
        Event::Stream(s) => format!("stream {}", s.table),
    }
}

fn keys<T>(map: &indexmap::IndexMap<String, T>) -> Vec<String> {
    map.keys().cloned().collect()
}

impl Summary {
    pub fn of(s: &Service) -> Self {
        let m = &s.manifest;
        Summary {
            name: m.service.clone(),
            stage: s.stage.clone(),
            region: s.region.clone(),
            endpoint: s.endpoint.clone(),
            functions: m
                .functions
                .iter()
                .map(|(name, f)| FunctionSummary {
                    name: name.clone(),
                    physical_name: s.function_name(name),
                    handler: f.handler.clone(),
                    events: f.events.iter().map(describe_event).collect(),
                })
                .collect(),
            tables: keys(&m.resources.tables),
            buckets: keys(&m.resources.buckets),
            queues: keys(&m.resources.queues),
            state_machines: keys(&m.resources.state_machines),
        }
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "service {}, stage {}, region {}",
            self.name, self.stage, self.region
        );
        if let Some(e) = &self.endpoint {
            out.push_str(&format!(", endpoint {e}"));
        }
        out.push('\n');
        let width = self
            .functions
            .iter()
            .map(|f| f.physical_name.len())
            .max()
            .unwrap_or(0);
        out.push_str(&format!("functions ({}):\n", self.functions.len()));
        for f in &self.functions {
            let events = if f.events.is_empty() {
                "no events".to_string()
            } else {
                f.events.join(", ")
            };
            out.push_str(&format!(
                "  {:width$}  bin {}  {}\n",
                f.physical_name, f.handler, events
            ));
        }
        let counts = [
            (self.tables.len(), "table"),
            (self.buckets.len(), "bucket"),
            (self.queues.len(), "queue"),
            (self.state_machines.len(), "state machine"),
        ];
        let parts: Vec<String> = counts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}{}", if *n == 1 { "" } else { "s" }))
            .collect();
        out.push_str(&format!(
            "resources: {}",
            if parts.is_empty() {
                "none".to_string()
            } else {
                parts.join(", ")
            }
        ));
        out
    }
}

//! Physical names and ARNs of everything a service owns: the one place that
//! spells them, so the model, IAM synthesis, injected environment variables and
//! `${table:…}`-style references always agree.

use crate::manifest::Service;
use crate::manifest::{bucket_name, physical_name, role_name, state_machine_role_name};

use super::{Context, LIVE_ALIAS};

/// Names of one service and stage in one account and region.
pub struct Names<'a> {
    pub service: &'a Service,
    pub cx: &'a Context<'a>,
}

impl<'a> Names<'a> {
    pub fn new(service: &'a Service, cx: &'a Context<'a>) -> Self {
        Names { service, cx }
    }

    fn physical(&self, name: &str) -> String {
        physical_name(&self.service.manifest.service, &self.service.stage, name)
    }

    fn arn(&self, service: &str, rest: &str) -> String {
        let cx = self.cx;
        format!(
            "{}:{service}:{}:{}:{rest}",
            cx.partition, cx.region, cx.account
        )
    }

    pub fn function(&self, key: &str) -> String {
        self.service.function_name(key)
    }

    /// The unqualified function ARN (permissions are granted on the alias, see `alias_arn`).
    pub fn function_arn(&self, key: &str) -> String {
        self.arn("lambda", &format!("function:{}", self.function(key)))
    }

    /// What every trigger and caller targets: `…:function:NAME:live`.
    pub fn alias_arn(&self, key: &str) -> String {
        format!("{}:{LIVE_ALIAS}", self.function_arn(key))
    }

    /// A function's role: `{service}-{stage}-{function}-{region}` (IAM is global).
    pub fn function_role(&self, key: &str) -> String {
        role_name(
            &self.service.manifest.service,
            &self.service.stage,
            key,
            self.cx.region,
        )
    }

    pub fn role_arn(&self, role: &str) -> String {
        format!("{}:iam::{}:role/{role}", self.cx.partition, self.cx.account)
    }

    pub fn log_group_arn(&self, group: &str) -> String {
        self.arn("logs", &format!("log-group:{group}"))
    }

    /// An existing table's `existing:` (a name, or an ARN).
    fn existing_table(&self, name: &str) -> Option<&'a str> {
        let tables = &self.service.manifest.resources.tables;
        tables.get(name)?.existing.as_deref()
    }

    /// `{service}-{stage}-{name}`; an existing table's own name, or its ARN when it is
    /// of another account or region (DynamoDB takes a table's ARN wherever it takes its
    /// name, and a bare name would address this account's and region's table).
    pub fn table(&self, name: &str) -> String {
        let Some(existing) = self.existing_table(name) else {
            return self.physical(name);
        };
        match crate::manifest::parse_table_arn(existing) {
            Some((region, account, table))
                if region == self.cx.region && account == self.cx.account =>
            {
                table.to_string()
            }
            _ => existing.to_string(),
        }
    }

    /// An existing table given by ARN keeps its own account and region.
    pub fn table_arn(&self, name: &str) -> String {
        match self.existing_table(name) {
            Some(arn) if crate::manifest::parse_table_arn(arn).is_some() => arn.to_string(),
            Some(existing) => self.arn("dynamodb", &format!("table/{existing}")),
            None => self.arn("dynamodb", &format!("table/{}", self.physical(name))),
        }
    }

    /// A table's streams. The stream's own ARN carries a label DynamoDB picks when
    /// the stream is enabled, unknown before deploy; this pattern matches only
    /// this table's streams.
    pub fn table_stream_arn(&self, name: &str) -> String {
        format!("{}/stream/*", self.table_arn(name))
    }

    pub fn bucket(&self, name: &str) -> String {
        let declared = self.service.manifest.resources.buckets.get(name);
        if let Some(fixed) = declared.and_then(|b| b.existing.as_ref().or(b.name.as_ref())) {
            return fixed.clone();
        }
        bucket_name(
            &self.service.manifest.service,
            &self.service.stage,
            name,
            self.cx.account,
            self.cx.region,
        )
    }

    pub fn bucket_arn(&self, name: &str) -> String {
        format!("{}:s3:::{}", self.cx.partition, self.bucket(name))
    }

    /// SQS requires FIFO queue names to end in `.fifo`.
    fn fifo_suffix(&self, queue: &str) -> &'static str {
        let queues = &self.service.manifest.resources.queues;
        if queues.get(queue).is_some_and(|q| q.fifo) {
            ".fifo"
        } else {
            ""
        }
    }

    /// An existing queue's name and, from its ARN, its account and region.
    fn existing_queue(&self, name: &str) -> Option<(String, Option<(String, String)>)> {
        let existing = self
            .service
            .manifest
            .resources
            .queues
            .get(name)?
            .existing
            .as_ref()?;
        Some(match crate::manifest::parse_queue_arn(existing) {
            Some((region, account, queue)) => (queue.into(), Some((region.into(), account.into()))),
            None => (existing.clone(), None),
        })
    }

    /// `{service}-{stage}-{name}`, `.fifo` for FIFO queues as SQS requires; an existing
    /// queue's own name.
    pub fn queue(&self, name: &str) -> String {
        if let Some((queue, _)) = self.existing_queue(name) {
            return queue;
        }
        format!("{}{}", self.physical(name), self.fifo_suffix(name))
    }

    /// A queue's dead-letter queue: `{service}-{stage}-{name}-dlq`, FIFO when the queue is.
    pub fn dead_letter_queue(&self, name: &str) -> String {
        format!("{}-dlq{}", self.physical(name), self.fifo_suffix(name))
    }

    pub fn queue_arn(&self, name: &str) -> String {
        if let Some((queue, Some((region, account)))) = self.existing_queue(name) {
            return format!("{}:sqs:{region}:{account}:{queue}", self.cx.partition);
        }
        self.arn("sqs", &self.queue(name))
    }

    pub fn queue_url(&self, name: &str) -> String {
        if let Some((queue, Some((region, account)))) = self.existing_queue(name) {
            if region != self.cx.region {
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                return format!("https://sqs.{region}.{suffix}/{account}/{queue}");
            }
            return format!("{}/{account}/{queue}", self.cx.queue_url_base);
        }
        format!(
            "{}/{}/{}",
            self.cx.queue_url_base,
            self.cx.account,
            self.queue(name)
        )
    }

    pub fn state_machine(&self, name: &str) -> String {
        self.physical(name)
    }

    pub fn state_machine_arn(&self, name: &str) -> String {
        self.arn(
            "states",
            &format!("stateMachine:{}", self.state_machine(name)),
        )
    }

    /// The role Step Functions assumes for one state machine: `{…}-states-{region}` (IAM is global).
    pub fn state_machine_role(&self, name: &str) -> String {
        state_machine_role_name(
            &self.service.manifest.service,
            &self.service.stage,
            name,
            self.cx.region,
        )
    }

    /// Step Functions needs its log groups under `/aws/vendedlogs/` to stay within
    /// CloudWatch Logs' resource-policy size limit.
    pub fn state_machine_log_group(&self, name: &str) -> String {
        format!("/aws/vendedlogs/states/{}", self.physical(name))
    }

    /// The service's HTTP API: one per service and stage.
    pub fn http_api(&self) -> String {
        format!("{}-{}", self.service.manifest.service, self.service.stage)
    }

    /// An EventBridge rule name: `{service}-{stage}-{function}-schedule[-N]`.
    pub fn schedule_rule(&self, key: &str, index: usize) -> String {
        let base = format!("{}-schedule", self.function(key));
        if index == 0 {
            base
        } else {
            format!("{base}-{}", index + 1)
        }
    }

    /// The role EventBridge Scheduler assumes to invoke the function.
    pub fn scheduler_role(&self, key: &str) -> String {
        crate::manifest::scheduler_role_name(
            &self.service.manifest.service,
            &self.service.stage,
            key,
            self.cx.region,
        )
    }

    /// The schedule group sls-rs's schedules are in (the account's default one).
    pub fn schedule_group_arn(&self) -> String {
        self.arn("scheduler", "schedule-group/default")
    }

    pub fn schedule_rule_arn(&self, rule: &str) -> String {
        self.arn("events", &format!("rule/{rule}"))
    }

    /// The value of a `${kind:name.attribute}` reference.
    pub fn reference(&self, kind: &str, name: &str, attribute: Option<&str>) -> Option<String> {
        Some(match (kind, attribute) {
            ("fn", None | Some("arn")) => self.alias_arn(name),
            ("fn", Some("name")) => self.function(name),
            ("table", None | Some("name")) => self.table(name),
            ("table", Some("arn")) => self.table_arn(name),
            ("table", Some("streamArn")) => self.table_stream_arn(name),
            ("bucket", None | Some("name")) => self.bucket(name),
            ("bucket", Some("arn")) => self.bucket_arn(name),
            ("queue", None | Some("url")) => self.queue_url(name),
            ("queue", Some("arn")) => self.queue_arn(name),
            ("queue", Some("name")) => self.queue(name),
            ("stateMachine", None | Some("arn")) => self.state_machine_arn(name),
            ("stateMachine", Some("name")) => self.state_machine(name),
            _ => return None,
        })
    }

    /// Replaces every `${kind:name[.attribute]}` and `${aws:accountId}` in `text`.
    /// Validation has checked every reference, so an unknown one is left as written.
    pub fn resolve(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let inner = &after[..end];
            let value = match inner.split_once(':') {
                Some(("aws", "accountId")) => Some(self.cx.account.to_string()),
                Some((kind, address)) => {
                    let (name, attribute) = match address.split_once('.') {
                        Some((n, a)) => (n, Some(a)),
                        None => (address, None),
                    };
                    self.reference(kind, name, attribute)
                }
                None => None,
            };
            match value {
                Some(v) => out.push_str(&v),
                None => out.push_str(&rest[start..start + 2 + end + 1]),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// `resolve` over every string of a JSON document.
    pub fn resolve_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.resolve(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.resolve_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.resolve_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

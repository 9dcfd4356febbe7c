//! The flat, comparable properties of the service's resources: what the
//! manifest asks for, spelled the way the adapters spell what they read back,
//! so one diff serves plan, drift and the state.

use super::*;
use crate::manifest::{BillingMode, BucketEncryption, KeyAttribute, Projection, StreamView};

/// SQS's own defaults, so an unset value compares equal to what SQS reports.
pub const QUEUE_DEFAULT_VISIBILITY: u32 = 30;
pub const QUEUE_DEFAULT_RETENTION: u32 = 345_600;
/// Lambda's default batch sizes.
pub const SQS_DEFAULT_BATCH: u32 = 10;
pub const STREAM_DEFAULT_BATCH: u32 = 100;
pub const PAYLOAD_FORMAT: &str = "2.0";
/// The HTTP API's one stage, deployed on every change.
pub const HTTP_API_STAGE: &str = "$default (auto-deploy)";

fn on(b: bool) -> String {
    if b { "on" } else { "off" }.into()
}

/// `id:S`
pub fn key_text(k: &KeyAttribute) -> String {
    format!("{}:{}", k.name, key_type(k))
}

fn key_type(k: &KeyAttribute) -> &'static str {
    match k.kind {
        crate::manifest::KeyType::S => "S",
        crate::manifest::KeyType::N => "N",
        crate::manifest::KeyType::B => "B",
    }
}

pub fn stream_view_text(v: StreamView) -> &'static str {
    match v {
        StreamView::NewImage => "NEW_IMAGE",
        StreamView::OldImage => "OLD_IMAGE",
        StreamView::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        StreamView::KeysOnly => "KEYS_ONLY",
    }
}

/// A global secondary index's schema as one comparable value: `pk:S sk:N ALL`.
/// Its capacity is a field of its own (`gsiCapacity.NAME`), so a capacity or
/// billing change never reads as a new index (which DynamoDB would rebuild).
pub fn gsi_text(pk: &str, sk: Option<&str>, projection: &str) -> String {
    format!("{pk} {} {projection}", sk.unwrap_or("-"))
}

pub fn capacity_text(read: i64, write: i64) -> String {
    format!("{read}/{write}")
}

impl TableSpec {
    pub fn props(&self) -> Props {
        let d = &self.def;
        let mut p = Props::new();
        p.insert("partitionKey".into(), key_text(&self.partition_key));
        p.insert(
            "sortKey".into(),
            d.sort_key.as_ref().map_or_else(|| "none".into(), key_text),
        );
        let provisioned = d.billing_mode == BillingMode::Provisioned;
        p.insert(
            "billingMode".into(),
            if provisioned {
                "PROVISIONED"
            } else {
                "PAY_PER_REQUEST"
            }
            .into(),
        );
        if provisioned {
            let c = d
                .capacity
                .unwrap_or(crate::manifest::Capacity { read: 1, write: 1 });
            p.insert(
                "capacity".into(),
                capacity_text(i64::from(c.read), i64::from(c.write)),
            );
        }
        p.insert(
            "stream".into(),
            d.stream
                .map_or_else(|| "off".into(), |v| stream_view_text(v).into()),
        );
        p.insert("ttl".into(), d.ttl.clone().unwrap_or_else(|| "off".into()));
        p.insert("pointInTimeRecovery".into(), on(d.point_in_time_recovery));
        for g in &d.global_secondary_indexes {
            p.insert(
                format!("gsi.{}", g.name),
                gsi_text(
                    &key_text(&g.partition_key),
                    g.sort_key.as_ref().map(key_text).as_deref(),
                    match g.projection {
                        Projection::All => "ALL",
                        Projection::KeysOnly => "KEYS_ONLY",
                    },
                ),
            );
            if provisioned {
                let c = g
                    .capacity
                    .or(d.capacity)
                    .unwrap_or(crate::manifest::Capacity { read: 1, write: 1 });
                p.insert(
                    format!("gsiCapacity.{}", g.name),
                    capacity_text(i64::from(c.read), i64::from(c.write)),
                );
            }
        }
        tag_props(&mut p, &self.tags);
        p
    }
}

/// CORS rules as compact JSON, fields in a fixed order, for buckets and the HTTP API alike.
pub fn cors_text(rules: &[CorsRule]) -> String {
    if rules.is_empty() {
        return "none".into();
    }
    serde_json::to_string(rules).expect("CORS rules serialize")
}

/// API Gateway keeps CORS header names in lowercase: compare them that way.
pub fn http_cors_text(rule: Option<&CorsRule>) -> String {
    let rules: Vec<CorsRule> = rule
        .map(|r| CorsRule {
            allowed_headers: r
                .allowed_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            ..r.clone()
        })
        .into_iter()
        .collect();
    cors_text(&rules)
}

pub fn lifecycle_text(expire_after_days: u32, prefix: Option<&str>) -> String {
    match prefix {
        Some(p) if !p.is_empty() => format!("expire after {expire_after_days} days under {p}"),
        _ => format!("expire after {expire_after_days} days"),
    }
}

impl BucketSpec {
    pub fn props(&self) -> Props {
        let d = &self.def;
        let mut p = Props::new();
        p.insert("versioning".into(), on(d.versioning));
        p.insert(
            "encryption".into(),
            match d.encryption {
                BucketEncryption::Aes256 => "AES256",
                BucketEncryption::Kms => "aws:kms",
            }
            .into(),
        );
        p.insert("blockPublicAccess".into(), on(d.block_public_access));
        p.insert("cors".into(), cors_text(&d.cors));
        p.insert(
            "lifecycle".into(),
            d.lifecycle.as_ref().map_or_else(
                || "none".into(),
                |l| lifecycle_text(l.expire_after_days, l.prefix.as_deref()),
            ),
        );
        tag_props(&mut p, &self.tags);
        p
    }
}

pub fn dead_letter_text(arn: &str, max_receive_count: u32) -> String {
    format!("{arn} after {max_receive_count} receives")
}

impl QueueSpec {
    pub fn props(&self) -> Props {
        let mut p = Props::new();
        p.insert(
            "visibilityTimeout".into(),
            self.visibility_timeout
                .unwrap_or(QUEUE_DEFAULT_VISIBILITY)
                .to_string(),
        );
        p.insert(
            "messageRetentionPeriod".into(),
            self.retention
                .unwrap_or(QUEUE_DEFAULT_RETENTION)
                .to_string(),
        );
        p.insert("fifo".into(), self.fifo.to_string());
        p.insert(
            "deadLetter".into(),
            self.dead_letter
                .as_ref()
                .map_or_else(|| "none".into(), |(arn, n)| dead_letter_text(arn, *n)),
        );
        tag_props(&mut p, &self.tags);
        p
    }
}

/// A definition as compact JSON in a stable form, so AWS's copy compares equal to ours.
pub fn normalize_definition(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| text.to_string())
}

impl StateMachineSpec {
    pub fn props(&self) -> Props {
        let mut p = Props::new();
        p.insert("definition".into(), normalize_definition(&self.definition));
        p.insert(
            "type".into(),
            if self.express { "EXPRESS" } else { "STANDARD" }.into(),
        );
        p.insert("role".into(), self.role_arn.clone());
        p.insert("tracing".into(), on(self.tracing));
        p.insert("logging".into(), format!("ALL {}:*", self.log_group_arn));
        tag_props(&mut p, &self.tags);
        p
    }
}

impl HttpApiSpec {
    pub fn props(&self) -> Props {
        let mut p = Props::new();
        p.insert("cors".into(), http_cors_text(self.cors.as_ref()));
        p.insert("stage".into(), HTTP_API_STAGE.into());
        tag_props(&mut p, &self.tags);
        p
    }
}

impl RouteSpec {
    pub fn props(&self) -> Props {
        let mut p = Props::new();
        p.insert("target".into(), self.target.clone());
        p.insert("payloadFormat".into(), PAYLOAD_FORMAT.into());
        p
    }
}

impl PermissionSpec {
    pub fn props(&self) -> Props {
        let mut p = Props::new();
        p.insert("principal".into(), self.principal.clone());
        p.insert("sourceArn".into(), self.source_arn.clone());
        p.insert(
            "sourceAccount".into(),
            self.source_account.clone().unwrap_or_else(|| "any".into()),
        );
        // Only where they are not a trigger's usual: a state from before URLs has none.
        if self.action != INVOKE {
            p.insert("action".into(), self.action.into());
        }
        if let Some(auth) = self.url_auth_type {
            p.insert("functionUrlAuthType".into(), auth.into());
        }
        if self.via_url {
            p.insert("invokedViaFunctionUrl".into(), "true".into());
        }
        p
    }
}

/// Auto scaling as props: the capacities, the tracked utilisation (`none`: no policy
/// of sls-rs's tracks Lambda's utilisation metric), and whether any scaling is suspended.
pub fn provisioned_scaling_props(
    min: u32,
    max: u32,
    utilization: Option<f64>,
    suspended: bool,
) -> Props {
    let mut p = Props::new();
    p.insert("suspended".into(), suspended.to_string());
    p.insert("minCapacity".into(), min.to_string());
    p.insert("maxCapacity".into(), max.to_string());
    p.insert(
        "targetUtilization".into(),
        // Two decimals: what validate allows, and immune to a float's last bits.
        utilization.map_or_else(|| "none".into(), |u| format!("{u:.2}")),
    );
    p
}

impl FunctionUrlSpec {
    pub fn props(&self) -> Props {
        let mut p = Props::new();
        p.insert("authType".into(), self.auth_type.into());
        p.insert("invokeMode".into(), self.invoke_mode.into());
        url_cors_props(&mut p, self.cors.as_ref());
        p
    }
}

/// A function URL's CORS as props, as comparable as Lambda's answer: lists sorted,
/// header names in lower case (HTTP's are case-insensitive), methods in upper case.
pub fn url_cors_props(p: &mut Props, cors: Option<&UrlCorsSpec>) {
    let Some(c) = cors else {
        p.insert("cors".into(), "none".into());
        return;
    };
    let list = |items: &[String], fold: fn(&str) -> String| {
        let mut items: Vec<String> = items.iter().map(|i| fold(i)).collect();
        items.sort();
        items.dedup();
        items.join(",")
    };
    p.insert(
        "cors.allowOrigins".into(),
        list(&c.allow_origins, str::to_string),
    );
    p.insert(
        "cors.allowMethods".into(),
        list(&c.allow_methods, str::to_ascii_uppercase),
    );
    p.insert(
        "cors.allowHeaders".into(),
        list(&c.allow_headers, str::to_ascii_lowercase),
    );
    p.insert(
        "cors.exposeHeaders".into(),
        list(&c.expose_headers, str::to_ascii_lowercase),
    );
    p.insert(
        "cors.allowCredentials".into(),
        c.allow_credentials.to_string(),
    );
    // Lambda reports a MaxAge left out as 0.
    p.insert("cors.maxAge".into(), c.max_age.unwrap_or(0).to_string());
}

pub fn starting_position_text(p: StartingPosition) -> &'static str {
    match p {
        StartingPosition::Latest => "LATEST",
        StartingPosition::TrimHorizon => "TRIM_HORIZON",
    }
}

impl EventSourceMappingSpec {
    /// Lambda's batch size when none is given: 10 for a queue, 100 for a stream.
    pub fn batch_size_or_default(&self) -> u32 {
        self.batch_size.unwrap_or(match self.source {
            MappingSource::Queue(_) => SQS_DEFAULT_BATCH,
            MappingSource::Stream(_) => STREAM_DEFAULT_BATCH,
        })
    }

    pub fn source_arn_prefix(&self) -> &str {
        match &self.source {
            MappingSource::Queue(arn) | MappingSource::Stream(arn) => arn,
        }
    }

    pub fn props(&self) -> Props {
        let mut p = Props::new();
        p.insert("target".into(), self.target.clone());
        p.insert("source".into(), self.source_arn_prefix().to_string());
        p.insert("batchSize".into(), self.batch_size_or_default().to_string());
        p.insert(
            "batchingWindow".into(),
            self.batching_window.unwrap_or(0).to_string(),
        );
        p.insert(
            "reportBatchItemFailures".into(),
            on(self.report_batch_item_failures),
        );
        // The manifest declares the trigger: one disabled in the console is drift.
        p.insert("enabled".into(), on(true));
        if let MappingSource::Queue(_) = self.source {
            p.insert(
                "maximumConcurrency".into(),
                self.maximum_concurrency
                    .map_or_else(|| "none".into(), |n| n.to_string()),
            );
        }
        if let Some(position) = self.starting_position {
            p.insert(
                "startingPosition".into(),
                starting_position_text(position).into(),
            );
        }
        p.insert(
            "filters".into(),
            if self.filters.is_empty() {
                "none".into()
            } else {
                self.filters.join(" ")
            },
        );
        p
    }
}

impl RuleSpec {
    pub fn props(&self) -> Props {
        let mut p = Props::new();
        p.insert("schedule".into(), self.schedule.clone());
        p.insert(
            "state".into(),
            if self.enabled { "ENABLED" } else { "DISABLED" }.into(),
        );
        p.insert("target".into(), self.target.clone());
        p.insert(
            "input".into(),
            self.input.clone().unwrap_or_else(|| "none".into()),
        );
        tag_props(&mut p, &self.tags);
        p
    }
}

pub fn notification_text(t: &NotificationTarget) -> String {
    let mut events = t.events.clone();
    events.sort();
    format!(
        "{} on {} prefix={} suffix={}",
        t.function,
        events.join(","),
        t.prefix.as_deref().unwrap_or(""),
        t.suffix.as_deref().unwrap_or("")
    )
}

impl BucketNotificationSpec {
    pub fn props(&self) -> Props {
        self.targets
            .iter()
            .map(|t| (format!("lambda.{}", t.id), notification_text(t)))
            .collect()
    }
}

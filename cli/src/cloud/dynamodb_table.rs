//! A DynamoDB table of `resources.tables`. Everything DynamoDB changes in place
//! is an update (billing, capacity, stream, TTL, point-in-time recovery, one
//! index at a time); the key schema never changes here (the plan refuses it).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode as DdbBilling, CreateGlobalSecondaryIndexAction,
    DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
    KeySchemaElement, KeyType as DdbKeyType, PointInTimeRecoverySpecification, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, StreamSpecification,
    StreamViewType, TableStatus, Tag, TimeToLiveSpecification, UpdateGlobalSecondaryIndexAction,
};

use super::{aws_error, changed, dropped_tags, has_code, pause, Aws, Changed};
use crate::manifest::{self, BillingMode, KeyAttribute, KeyType};
use crate::model::{
    capacity_text, gsi_text, same_owner, stream_view_text, tag_props, Props, TableSpec,
};

const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "ResourceNotFound",
    "TableNotFoundException",
];

pub struct TableLive {
    pub arn: String,
    pub props: Props,
    pub tags: BTreeMap<String, String>,
    pub stream_arn: Option<String>,
}

fn what(name: &str) -> String {
    format!("DynamoDB table ({name})")
}

/// Reads a table's configuration; `None` when it does not exist. A table still
/// being created (a deploy killed or an answer lost seconds after CreateTable)
/// answers ResourceNotFoundException to its tags, TTL and backups: that is waited
/// out (bounded), then the table is read again.
pub async fn read(aws: &Aws, name: &str) -> anyhow::Result<Option<TableLive>> {
    for _ in 0..3 {
        match read_once(aws, name).await? {
            Read::Live(live) => return Ok(Some(*live)),
            Read::Missing => return Ok(None),
            Read::NotReady => wait_settled(aws, name).await?,
        }
    }
    anyhow::bail!(
        "{} is ACTIVE but DynamoDB still answers ResourceNotFoundException for its tags, TTL or backups; deploy again",
        what(name)
    )
}

enum Read {
    Live(Box<TableLive>),
    Missing,
    /// Not ACTIVE, and a follow-up call answered ResourceNotFoundException.
    NotReady,
}

async fn read_once(aws: &Aws, name: &str) -> anyhow::Result<Read> {
    let table = match aws.dynamodb.describe_table().table_name(name).send().await {
        Ok(out) => out.table,
        Err(e) if has_code(&e, NOT_FOUND) => return Ok(Read::Missing),
        Err(e) => return Err(aws_error(&what(name), "dynamodb:DescribeTable", e)),
    };
    let Some(t) = table else {
        return Ok(Read::Missing);
    };
    let active = t.table_status() == Some(&TableStatus::Active);
    let types: BTreeMap<String, String> = t
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_string(),
                a.attribute_type().as_str().to_string(),
            )
        })
        .collect();
    let key = |schema: &[KeySchemaElement], kind: DdbKeyType| {
        schema.iter().find(|k| *k.key_type() == kind).map(|k| {
            let n = k.attribute_name();
            format!("{n}:{}", types.get(n).map_or("?", String::as_str))
        })
    };
    let mut p = Props::new();
    p.insert(
        "partitionKey".into(),
        key(t.key_schema(), DdbKeyType::Hash).unwrap_or_default(),
    );
    p.insert(
        "sortKey".into(),
        key(t.key_schema(), DdbKeyType::Range).unwrap_or_else(|| "none".into()),
    );
    let provisioned = t
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .is_none_or(|m| *m == DdbBilling::Provisioned);
    p.insert(
        "billingMode".into(),
        if provisioned {
            "PROVISIONED"
        } else {
            "PAY_PER_REQUEST"
        }
        .into(),
    );
    let throughput = |pt: Option<&aws_sdk_dynamodb::types::ProvisionedThroughputDescription>| {
        pt.map(|pt| {
            (
                pt.read_capacity_units().unwrap_or(0),
                pt.write_capacity_units().unwrap_or(0),
            )
        })
        .unwrap_or((0, 0))
    };
    if provisioned {
        let (r, w) = throughput(t.provisioned_throughput());
        p.insert("capacity".into(), capacity_text(r, w));
    }
    let stream = t
        .stream_specification()
        .filter(|s| s.stream_enabled())
        .and_then(|s| s.stream_view_type())
        .map_or_else(|| "off".to_string(), |v| v.as_str().to_string());
    p.insert("stream".into(), stream.clone());
    for g in t.global_secondary_indexes() {
        let index = g.index_name().unwrap_or_default();
        let projection = g
            .projection()
            .and_then(|p| p.projection_type())
            .map_or("ALL", |p| p.as_str());
        p.insert(
            format!("gsi.{index}"),
            gsi_text(
                &key(g.key_schema(), DdbKeyType::Hash).unwrap_or_default(),
                key(g.key_schema(), DdbKeyType::Range).as_deref(),
                projection,
            ),
        );
        if provisioned {
            let (r, w) = throughput(g.provisioned_throughput());
            p.insert(format!("gsiCapacity.{index}"), capacity_text(r, w));
        }
    }
    let ttl = aws
        .dynamodb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await;
    let ttl = match ttl {
        Ok(out) => out,
        Err(e) if !active && has_code(&e, NOT_FOUND) => return Ok(Read::NotReady),
        Err(e) => return Err(aws_error(&what(name), "dynamodb:DescribeTimeToLive", e)),
    };
    let ttl = ttl
        .time_to_live_description()
        .filter(|d| {
            d.time_to_live_status()
                .is_some_and(|s| s.as_str() == "ENABLED" || s.as_str() == "ENABLING")
        })
        .and_then(|d| d.attribute_name())
        .map_or_else(|| "off".to_string(), str::to_string);
    p.insert("ttl".into(), ttl);
    let backups = aws
        .dynamodb
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await;
    let backups = match backups {
        Ok(out) => out,
        Err(e) if !active && has_code(&e, NOT_FOUND) => return Ok(Read::NotReady),
        Err(e) => {
            return Err(aws_error(
                &what(name),
                "dynamodb:DescribeContinuousBackups",
                e,
            ))
        }
    };
    let pitr = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|d| d.point_in_time_recovery_status())
        .is_some_and(|s| s.as_str() == "ENABLED");
    p.insert(
        "pointInTimeRecovery".into(),
        if pitr { "on" } else { "off" }.into(),
    );
    let arn = t.table_arn().unwrap_or_default().to_string();
    let listed = match aws
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(&arn)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if !active && has_code(&e, NOT_FOUND) => return Ok(Read::NotReady),
        Err(e) => return Err(aws_error(&what(name), "dynamodb:ListTagsOfResource", e)),
    };
    let tags: BTreeMap<String, String> = listed
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tag_props(&mut p, &tags);
    Ok(Read::Live(Box::new(TableLive {
        arn,
        props: p,
        tags,
        stream_arn: (stream != "off")
            .then(|| t.latest_stream_arn().map(str::to_string))
            .flatten(),
    })))
}

fn key_schema(pk: &KeyAttribute, sk: Option<&KeyAttribute>) -> Vec<KeySchemaElement> {
    let element = |k: &KeyAttribute, kind| {
        KeySchemaElement::builder()
            .attribute_name(&k.name)
            .key_type(kind)
            .build()
            .expect("key schema fields are set")
    };
    let mut out = vec![element(pk, DdbKeyType::Hash)];
    out.extend(sk.map(|k| element(k, DdbKeyType::Range)));
    out
}

/// Every key attribute of the table and its indexes: DynamoDB wants the whole list.
fn attribute_definitions(spec: &TableSpec) -> Vec<AttributeDefinition> {
    let def = &spec.def;
    let mut keys: BTreeMap<&str, KeyType> = BTreeMap::new();
    let all = [Some(&spec.partition_key), def.sort_key.as_ref()]
        .into_iter()
        .flatten()
        .chain(def.global_secondary_indexes.iter().flat_map(|g| {
            [Some(&g.partition_key), g.sort_key.as_ref()]
                .into_iter()
                .flatten()
        }));
    for k in all {
        keys.insert(&k.name, k.kind);
    }
    keys.into_iter()
        .map(|(name, kind)| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(match kind {
                    KeyType::S => ScalarAttributeType::S,
                    KeyType::N => ScalarAttributeType::N,
                    KeyType::B => ScalarAttributeType::B,
                })
                .build()
                .expect("attribute definition fields are set")
        })
        .collect()
}

fn throughput(c: Option<manifest::Capacity>) -> ProvisionedThroughput {
    let c = c.unwrap_or(manifest::Capacity { read: 1, write: 1 });
    ProvisionedThroughput::builder()
        .read_capacity_units(i64::from(c.read))
        .write_capacity_units(i64::from(c.write))
        .build()
        .expect("throughput fields are set")
}

fn provisioned(def: &manifest::Table) -> bool {
    def.billing_mode == BillingMode::Provisioned
}

fn gsi(def: &manifest::Table, g: &manifest::GlobalSecondaryIndex) -> GlobalSecondaryIndex {
    let projection = Projection::builder()
        .projection_type(match g.projection {
            manifest::Projection::All => ProjectionType::All,
            manifest::Projection::KeysOnly => ProjectionType::KeysOnly,
        })
        .build();
    GlobalSecondaryIndex::builder()
        .index_name(&g.name)
        .set_key_schema(Some(key_schema(&g.partition_key, g.sort_key.as_ref())))
        .projection(projection)
        .set_provisioned_throughput(
            provisioned(def).then(|| throughput(g.capacity.or(def.capacity))),
        )
        .build()
        .expect("index fields are set")
}

fn stream_spec(view: Option<manifest::StreamView>) -> StreamSpecification {
    StreamSpecification::builder()
        .stream_enabled(view.is_some())
        .set_stream_view_type(view.map(|v| StreamViewType::from(stream_view_text(v))))
        .build()
        .expect("stream enabled is set")
}

/// Where a table stands, as DescribeTable says.
#[derive(Debug, PartialEq)]
enum Seen {
    Gone,
    Deleting,
    /// Creating, updating, or an index still building.
    Busy,
    Active,
}

async fn status(aws: &Aws, name: &str) -> anyhow::Result<Seen> {
    let out = match aws.dynamodb.describe_table().table_name(name).send().await {
        Ok(out) => out,
        Err(e) if has_code(&e, NOT_FOUND) => return Ok(Seen::Gone),
        Err(e) => return Err(aws_error(&what(name), "dynamodb:DescribeTable", e)),
    };
    let Some(t) = out.table() else {
        return Ok(Seen::Gone);
    };
    Ok(if t.table_status() == Some(&TableStatus::Deleting) {
        Seen::Deleting
    } else if t.table_status() != Some(&TableStatus::Active)
        || t.global_secondary_indexes()
            .iter()
            .any(|g| g.index_status().is_some_and(|s| s.as_str() != "ACTIVE"))
    {
        Seen::Busy
    } else {
        Seen::Active
    })
}

/// Polls the table (about 20 minutes at most) until `done` holds of what is seen.
async fn poll(
    aws: &Aws,
    name: &str,
    until: &str,
    done: impl Fn(&Seen) -> bool,
) -> anyhow::Result<Seen> {
    for attempt in 0..600u32 {
        let seen = status(aws, name).await?;
        if done(&seen) {
            return Ok(seen);
        }
        pause(Duration::from_millis(if attempt < 10 { 200 } else { 2000 })).await;
    }
    anyhow::bail!("{} did not {until} in 20 minutes", what(name))
}

/// DynamoDB applies table changes in the background; the next change waits for ACTIVE.
async fn wait_active(aws: &Aws, name: &str) -> anyhow::Result<()> {
    match poll(aws, name, "become ACTIVE", |s| {
        matches!(s, Seen::Active | Seen::Gone)
    })
    .await?
    {
        Seen::Gone => anyhow::bail!(
            "{} vanished while waiting for it to become ACTIVE; deploy again",
            what(name)
        ),
        _ => Ok(()),
    }
}

/// Until the table is ACTIVE or gone (one being deleted ends gone).
async fn wait_settled(aws: &Aws, name: &str) -> anyhow::Result<()> {
    poll(aws, name, "become ACTIVE", |s| {
        matches!(s, Seen::Active | Seen::Gone)
    })
    .await
    .map(drop)
}

/// Until a table being deleted is gone, so its name can be used again.
async fn wait_gone(aws: &Aws, name: &str) -> anyhow::Result<()> {
    poll(aws, name, "finish deleting", |s| *s == Seen::Gone)
        .await
        .map(drop)
}

fn tags(spec: &TableSpec) -> Vec<Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("tag fields are set")
        })
        .collect()
}

pub async fn create(aws: &Aws, name: &str, spec: &TableSpec) -> anyhow::Result<String> {
    let def = &spec.def;
    let indexes: Vec<GlobalSecondaryIndex> = def
        .global_secondary_indexes
        .iter()
        .map(|g| gsi(def, g))
        .collect();
    let request = || {
        aws.dynamodb
            .create_table()
            .table_name(name)
            .set_attribute_definitions(Some(attribute_definitions(spec)))
            .set_key_schema(Some(key_schema(&spec.partition_key, def.sort_key.as_ref())))
            .billing_mode(if provisioned(def) {
                DdbBilling::Provisioned
            } else {
                DdbBilling::PayPerRequest
            })
            .set_provisioned_throughput(provisioned(def).then(|| throughput(def.capacity)))
            .set_global_secondary_indexes((!indexes.is_empty()).then(|| indexes.clone()))
            .set_stream_specification(def.stream.map(|v| stream_spec(Some(v))))
            .set_tags(Some(tags(spec)))
    };
    let mut tries = 0;
    let arn = loop {
        tries += 1;
        match request().send().await {
            Ok(out) => {
                break out
                    .table_description()
                    .and_then(|t| t.table_arn())
                    .unwrap_or_default()
                    .to_string()
            }
            Err(e) if has_code(&e, &["ResourceInUseException"]) => match status(aws, name).await? {
                // The name is free again once a table removed or replaced a moment ago is gone.
                Seen::Deleting | Seen::Gone if tries < 3 => wait_gone(aws, name).await?,
                // This run's own create whose answer was lost, or one of a deploy that died.
                _ => break adopt(aws, name, spec).await?,
            },
            Err(e) => {
                return Err(aws_error(
                    &format!("creating {}", what(name)),
                    "dynamodb:CreateTable",
                    e,
                ))
            }
        }
    };
    wait_active(aws, name).await?;
    if let Some(attr) = &def.ttl {
        set_ttl(aws, name, attr, true).await?;
    }
    if def.point_in_time_recovery {
        set_pitr(aws, name, true).await?;
    }
    Ok(arn)
}

/// The table of that name, when it is this service's (its tags) with the keys asked for.
/// One just created answers ResourceNotFoundException to its tags until ACTIVE.
async fn adopt(aws: &Aws, name: &str, spec: &TableSpec) -> anyhow::Result<String> {
    wait_active(aws, name).await?;
    let Some(live) = read(aws, name).await? else {
        anyhow::bail!(
            "{} exists and vanished while being read; deploy again",
            what(name)
        )
    };
    if !same_owner(|t| live.tags.get(t), |t| spec.tags.get(t)) {
        return Err(super::create::not_ours(&what(name), "dynamodb:CreateTable"));
    }
    let wanted = spec.props();
    for key in ["partitionKey", "sortKey"] {
        if live.props.get(key) != wanted.get(key) {
            anyhow::bail!(
                "creating {} (dynamodb:CreateTable): it exists with {key} {}, not {}; a table's keys never change: delete it or rename the table",
                what(name),
                live.props.get(key).map_or("none", String::as_str),
                wanted.get(key).map_or("none", String::as_str)
            );
        }
    }
    Ok(live.arn)
}

async fn set_ttl(aws: &Aws, name: &str, attribute: &str, enabled: bool) -> anyhow::Result<()> {
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(attribute)
        .enabled(enabled)
        .build()
        .expect("TTL fields are set");
    aws.dynamodb
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|e| aws_error(&what(name), "dynamodb:UpdateTimeToLive", e))?;
    Ok(())
}

async fn set_pitr(aws: &Aws, name: &str, enabled: bool) -> anyhow::Result<()> {
    let spec = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(enabled)
        .build()
        .expect("PITR flag is set");
    // Continuous backups come up a while after the table does: retry until they have.
    for attempt in 0..60u32 {
        let result = aws
            .dynamodb
            .update_continuous_backups()
            .table_name(name)
            .point_in_time_recovery_specification(spec.clone())
            .send()
            .await;
        match result {
            Ok(_) => return Ok(()),
            Err(e) if has_code(&e, &["ContinuousBackupsUnavailableException"]) && attempt < 59 => {
                pause(Duration::from_secs(5)).await;
            }
            Err(e) => {
                return Err(aws_error(
                    &what(name),
                    "dynamodb:UpdateContinuousBackups",
                    e,
                ))
            }
        }
    }
    unreachable!("the last attempt returns")
}

/// An index's capacity (switching to provisioned billing needs every kept index's in the same call).
fn index_capacity(
    def: &manifest::Table,
    g: &manifest::GlobalSecondaryIndex,
) -> GlobalSecondaryIndexUpdate {
    let action = UpdateGlobalSecondaryIndexAction::builder()
        .index_name(&g.name)
        .provisioned_throughput(throughput(g.capacity.or(def.capacity)))
        .build()
        .expect("index update fields are set");
    GlobalSecondaryIndexUpdate::builder().update(action).build()
}

/// Applies the changed fields, one DynamoDB operation at a time as it requires.
pub async fn update(aws: &Aws, name: &str, spec: &TableSpec, c: &Changed) -> anyhow::Result<()> {
    let def = &spec.def;
    let update = || aws.dynamodb.update_table().table_name(name);
    let fail = |e| {
        aws_error(
            &format!("updating {}", what(name)),
            "dynamodb:UpdateTable",
            e,
        )
    };
    // Indexes that exist before and after this update (the others are created or deleted below).
    let kept: Vec<&manifest::GlobalSecondaryIndex> = def
        .global_secondary_indexes
        .iter()
        .filter(|g| !c.contains_key(&format!("gsi.{}", g.name)))
        .collect();
    let billing_changed = changed(c, "billingMode");
    if billing_changed || changed(c, "capacity") {
        let switch_to_provisioned = billing_changed && provisioned(def);
        let indexes: Vec<GlobalSecondaryIndexUpdate> = kept
            .iter()
            .filter(|_| switch_to_provisioned)
            .map(|g| index_capacity(def, g))
            .collect();
        update()
            .billing_mode(if provisioned(def) {
                DdbBilling::Provisioned
            } else {
                DdbBilling::PayPerRequest
            })
            .set_provisioned_throughput(provisioned(def).then(|| throughput(def.capacity)))
            .set_global_secondary_index_updates((!indexes.is_empty()).then_some(indexes))
            .send()
            .await
            .map_err(fail)?;
        wait_active(aws, name).await?;
    }
    if !billing_changed && provisioned(def) {
        for g in kept
            .iter()
            .filter(|g| c.contains_key(&format!("gsiCapacity.{}", g.name)))
        {
            update()
                .global_secondary_index_updates(index_capacity(def, g))
                .send()
                .await
                .map_err(fail)?;
            wait_active(aws, name).await?;
        }
    }
    if let Some(before) = c.get("stream") {
        // A stream's view type is fixed: a new view is a new stream (its mappings follow, see the plan).
        if before.as_deref().is_some_and(|b| b != "off") && def.stream.is_some() {
            update()
                .stream_specification(stream_spec(None))
                .send()
                .await
                .map_err(fail)?;
            wait_active(aws, name).await?;
        }
        update()
            .stream_specification(stream_spec(def.stream))
            .send()
            .await
            .map_err(fail)?;
        wait_active(aws, name).await?;
    }
    // Indexes whose schema changed or that went away are dropped, then the new ones
    // created: DynamoDB takes one index creation or deletion per call.
    for (field, before) in c.iter().filter(|(k, _)| k.starts_with("gsi.")) {
        let index = &field["gsi.".len()..];
        if before.is_some() {
            let action = DeleteGlobalSecondaryIndexAction::builder()
                .index_name(index)
                .build()
                .expect("index name is set");
            update()
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder().delete(action).build(),
                )
                .send()
                .await
                .map_err(fail)?;
            wait_active(aws, name).await?;
        }
        if let Some(g) = def
            .global_secondary_indexes
            .iter()
            .find(|g| g.name == index)
        {
            let full = gsi(def, g);
            let action = CreateGlobalSecondaryIndexAction::builder()
                .index_name(&g.name)
                .set_key_schema(Some(full.key_schema().to_vec()))
                .set_projection(full.projection().cloned())
                .set_provisioned_throughput(full.provisioned_throughput().cloned())
                .build()
                .expect("index fields are set");
            update()
                .set_attribute_definitions(Some(attribute_definitions(spec)))
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder().create(action).build(),
                )
                .send()
                .await
                .map_err(fail)?;
            wait_active(aws, name).await?;
        }
    }
    if let Some(before) = c.get("ttl") {
        let old = before.as_deref().filter(|o| *o != "off");
        // TTL is on one attribute at a time: the old one goes off before another comes on.
        if let Some(old) = old.filter(|o| Some(*o) != def.ttl.as_deref()) {
            set_ttl(aws, name, old, false).await?;
        }
        if let Some(attr) = &def.ttl {
            set_ttl(aws, name, attr, true).await?;
        }
    }
    if changed(c, "pointInTimeRecovery") {
        set_pitr(aws, name, def.point_in_time_recovery).await?;
    }
    if changed(c, "tags.") {
        let arn = table_arn(aws, name).await?;
        aws.dynamodb
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(tags(spec)))
            .send()
            .await
            .map_err(|e| aws_error(&what(name), "dynamodb:TagResource", e))?;
        let dropped = dropped_tags(c, &spec.tags);
        if !dropped.is_empty() {
            aws.dynamodb
                .untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(dropped))
                .send()
                .await
                .map_err(|e| aws_error(&what(name), "dynamodb:UntagResource", e))?;
        }
    }
    Ok(())
}

async fn table_arn(aws: &Aws, name: &str) -> anyhow::Result<String> {
    let live = read(aws, name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{} does not exist", what(name)))?;
    Ok(live.arn)
}

/// The ARN of the table's enabled stream (one call); `None` without one. `table` is a
/// name or, for a table of another account, its ARN (DescribeTable takes either).
pub async fn current_stream(aws: &Aws, table: &str) -> anyhow::Result<Option<String>> {
    Ok(describe_stream(aws, table).await?.flatten())
}

/// `None` for a table DynamoDB does not know; `Some(None)` for one without a stream.
async fn describe_stream(aws: &Aws, table: &str) -> anyhow::Result<Option<Option<String>>> {
    let found = match aws.dynamodb.describe_table().table_name(table).send().await {
        Ok(out) => out.table,
        Err(e) if has_code(&e, NOT_FOUND) => return Ok(None),
        Err(e) => return Err(aws_error(&what(table), "dynamodb:DescribeTable", e)),
    };
    Ok(found.map(|t| {
        t.stream_specification()
            .is_some_and(|s| s.stream_enabled())
            .then_some(t.latest_stream_arn)
            .flatten()
    }))
}

/// The ARN of the table's current stream, for a stream trigger (one DescribeTable: an
/// existing table's owner may let this deployer read nothing else of it).
pub async fn stream_arn(aws: &Aws, table: &str) -> anyhow::Result<String> {
    match describe_stream(aws, table).await? {
        Some(Some(arn)) => Ok(arn),
        Some(None) => anyhow::bail!(
            "{} has no stream enabled: declare `stream:` on it, or, for an existing table, ask its owner to enable one",
            what(table)
        ),
        None => anyhow::bail!(
            "{} does not exist (DynamoDB answered ResourceNotFoundException to dynamodb:DescribeTable)",
            what(table)
        ),
    }
}

/// Whether the table holds any item (one item read).
pub async fn has_items(aws: &Aws, name: &str) -> anyhow::Result<bool> {
    match aws.dynamodb.scan().table_name(name).limit(1).send().await {
        Ok(out) => Ok(out.count() > 0 || out.last_evaluated_key().is_some()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(false),
        Err(e) => Err(aws_error(&what(name), "dynamodb:Scan", e)),
    }
}

pub async fn delete(aws: &Aws, name: &str) -> anyhow::Result<()> {
    match aws.dynamodb.delete_table().table_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(aws_error(
            &format!("deleting {}", what(name)),
            "dynamodb:DeleteTable",
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    //! A create that meets a table of that name, against mocked DynamoDB answers:
    //! the emulator's plan refuses a foreign table before any create is sent.
    use super::*;
    use aws_sdk_dynamodb::operation::create_table::CreateTableError;
    use aws_sdk_dynamodb::operation::create_table::CreateTableOutput;
    use aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsError;
    use aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsOutput;
    use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
    use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
    use aws_sdk_dynamodb::operation::describe_time_to_live::DescribeTimeToLiveError;
    use aws_sdk_dynamodb::operation::describe_time_to_live::DescribeTimeToLiveOutput;
    use aws_sdk_dynamodb::operation::list_tags_of_resource::ListTagsOfResourceError;
    use aws_sdk_dynamodb::operation::list_tags_of_resource::ListTagsOfResourceOutput;
    use aws_sdk_dynamodb::types::{AttributeDefinition, TableDescription, TableStatus};
    use aws_sdk_dynamodb::Client;
    use aws_smithy_mocks::{mock, MockResponse, Rule};
    use aws_smithy_types::error::ErrorMetadata;

    fn spec() -> (String, TableSpec) {
        let s = crate::model::tests::service("service: shop\nprovider: { name: aws }\nfunctions:\n  f: { handler: f }\nresources:\n  tables:\n    items: { partitionKey: { name: id, type: S } }\n");
        let resources = crate::model::desired(
            &s,
            &crate::model::tests::package_for(&s),
            &s.dir,
            &crate::model::tests::CX,
        )
        .unwrap();
        resources
            .into_iter()
            .find_map(|r| match r.spec {
                crate::model::Spec::Table(t) => Some((r.physical, *t)),
                _ => None,
            })
            .unwrap()
    }

    /// A table of that name as DynamoDB describes it, tagged with `tags`.
    fn aws_with(tags: Vec<(String, String)>) -> Aws {
        let in_use = mock!(Client::create_table).then_error(|| {
            CreateTableError::generic(
                ErrorMetadata::builder()
                    .code("ResourceInUseException")
                    .message("Table already exists: shop-dev-items")
                    .build(),
            )
        });
        let described = mock!(Client::describe_table).then_output(|| {
            let key = KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(DdbKeyType::Hash)
                .build()
                .unwrap();
            let id = AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap();
            DescribeTableOutput::builder()
                .table(
                    TableDescription::builder()
                        .table_name("shop-dev-items")
                        .table_arn("arn:aws:dynamodb:us-east-1:123456789012:table/shop-dev-items")
                        .table_status(TableStatus::Active)
                        .key_schema(key)
                        .attribute_definitions(id)
                        .build(),
                )
                .build()
        });
        let ttl = mock!(Client::describe_time_to_live)
            .then_output(|| DescribeTimeToLiveOutput::builder().build());
        let backups = mock!(Client::describe_continuous_backups)
            .then_output(|| DescribeContinuousBackupsOutput::builder().build());
        let listed = mock!(Client::list_tags_of_resource).then_output(move || {
            ListTagsOfResourceOutput::builder()
                .set_tags(Some(
                    tags.iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap())
                        .collect(),
                ))
                .build()
        });
        with_rules(&[&in_use, &described, &ttl, &backups, &listed])
    }

    fn with_rules(rules: &[&Rule]) -> Aws {
        Aws {
            dynamodb: crate::cloud::mocked!(aws_sdk_dynamodb, rules),
            ..Aws::offline()
        }
    }

    fn not_found() -> ErrorMetadata {
        ErrorMetadata::builder()
            .code("ResourceNotFoundException")
            .message("Requested resource not found")
            .build()
    }

    const ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/shop-dev-items";

    /// DynamoDB as it behaves around a table's life: DescribeTable answers the
    /// statuses of `script` in turn (the last one repeats; `None`: no such table),
    /// and, as on AWS, the tags, TTL and backups of a table not ACTIVE are not found.
    /// CreateTable answers `created` in turn. Returns the client and CreateTable's rule.
    fn life(
        created: Vec<bool>,
        script: Vec<Option<TableStatus>>,
        tags: BTreeMap<String, String>,
    ) -> (Aws, Rule) {
        use std::sync::{Arc, Mutex};
        let seen = Arc::new(Mutex::new((0usize, None::<TableStatus>)));
        let calls = Arc::new(Mutex::new(0usize));
        let create = mock!(Client::create_table).then_compute_response(move |_| {
            let mut n = calls.lock().unwrap();
            let ok = created[(*n).min(created.len() - 1)];
            *n += 1;
            if ok {
                MockResponse::Output(
                    CreateTableOutput::builder()
                        .table_description(TableDescription::builder().table_arn(ARN).build())
                        .build(),
                )
            } else {
                MockResponse::Error(CreateTableError::generic(
                    ErrorMetadata::builder()
                        .code("ResourceInUseException")
                        .message("Table already exists: shop-dev-items")
                        .build(),
                ))
            }
        });
        let state = seen.clone();
        let described = mock!(Client::describe_table).then_compute_response(move |_| {
            let mut s = state.lock().unwrap();
            let status = script[s.0.min(script.len() - 1)].clone();
            s.0 += 1;
            s.1.clone_from(&status);
            match status {
                None => MockResponse::Error(DescribeTableError::generic(
                    ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .build(),
                )),
                Some(status) => MockResponse::Output(
                    DescribeTableOutput::builder()
                        .table(
                            TableDescription::builder()
                                .table_name("shop-dev-items")
                                .table_arn(ARN)
                                .table_status(status)
                                .key_schema(
                                    KeySchemaElement::builder()
                                        .attribute_name("id")
                                        .key_type(DdbKeyType::Hash)
                                        .build()
                                        .unwrap(),
                                )
                                .attribute_definitions(
                                    AttributeDefinition::builder()
                                        .attribute_name("id")
                                        .attribute_type(ScalarAttributeType::S)
                                        .build()
                                        .unwrap(),
                                )
                                .build(),
                        )
                        .build(),
                ),
            }
        });
        let active = move || seen.lock().unwrap().1 == Some(TableStatus::Active);
        let a = active.clone();
        let ttl = mock!(Client::describe_time_to_live).then_compute_response(move |_| {
            if a() {
                MockResponse::Output(DescribeTimeToLiveOutput::builder().build())
            } else {
                MockResponse::Error(DescribeTimeToLiveError::generic(not_found()))
            }
        });
        let a = active.clone();
        let backups = mock!(Client::describe_continuous_backups).then_compute_response(move |_| {
            if a() {
                MockResponse::Output(DescribeContinuousBackupsOutput::builder().build())
            } else {
                MockResponse::Error(DescribeContinuousBackupsError::generic(not_found()))
            }
        });
        let listed = mock!(Client::list_tags_of_resource).then_compute_response(move |_| {
            if active() {
                MockResponse::Output(
                    ListTagsOfResourceOutput::builder()
                        .set_tags(Some(
                            tags.iter()
                                .map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap())
                                .collect(),
                        ))
                        .build(),
                )
            } else {
                MockResponse::Error(ListTagsOfResourceError::generic(not_found()))
            }
        });
        let aws = with_rules(&[&create, &described, &ttl, &backups, &listed]);
        (aws, create)
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_create_answer_is_adopted_once_the_table_is_active() {
        // CreateTable's answer lost; the retry meets the table this run created, still CREATING.
        let (name, spec) = spec();
        let creating = Some(TableStatus::Creating);
        let (aws, create) = life(
            vec![false],
            vec![
                creating.clone(),
                creating.clone(),
                creating,
                Some(TableStatus::Active),
            ],
            spec.tags.clone(),
        );
        assert_eq!(super::create(&aws, &name, &spec).await.unwrap(), ARN);
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_table_read_while_creating_is_read_once_active() {
        // The plan right after a deploy killed seconds after CreateTable.
        let (name, spec) = spec();
        let (aws, _) = life(
            vec![true],
            vec![
                Some(TableStatus::Creating),
                Some(TableStatus::Creating),
                Some(TableStatus::Active),
            ],
            spec.tags.clone(),
        );
        let live = read(&aws, &name).await.unwrap().unwrap();
        assert_eq!(live.tags, spec.tags);
        assert_eq!(live.props.get("ttl").map(String::as_str), Some("off"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_name_still_deleting_is_waited_out_and_created_anew_not_adopted() {
        // A table removed or replaced a moment ago holds its name until it is gone.
        let (name, spec) = spec();
        let deleting = Some(TableStatus::Deleting);
        let (aws, create) = life(
            vec![false, true],
            vec![deleting.clone(), deleting, None, Some(TableStatus::Active)],
            spec.tags.clone(),
        );
        assert_eq!(super::create(&aws, &name, &spec).await.unwrap(), ARN);
        assert_eq!(
            create.num_calls(),
            2,
            "created again once the old one was gone"
        );
    }

    #[tokio::test]
    async fn a_table_of_that_name_that_is_this_services_is_adopted() {
        let (name, spec) = spec();
        let tags = spec.tags.clone().into_iter().collect();
        let arn = create(&aws_with(tags), &name, &spec).await.unwrap();
        assert_eq!(
            arn,
            "arn:aws:dynamodb:us-east-1:123456789012:table/shop-dev-items"
        );
    }

    #[tokio::test]
    async fn a_table_of_that_name_that_is_someone_elses_fails_naming_it() {
        let (name, spec) = spec();
        let err = create(
            &aws_with(vec![("team".into(), "other".into())]),
            &name,
            &spec,
        )
        .await
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            format!("creating DynamoDB table ({name}) (dynamodb:CreateTable): one of that name exists and is not this service's (its sls-rs tags name another service, stage or region, or none); rename the service or stage, or delete it")
        );
    }
}

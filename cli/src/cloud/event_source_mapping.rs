//! An event source mapping: Lambda polling an SQS queue or a DynamoDB stream
//! for a function's `live` alias.

use aws_sdk_lambda::types::{EventSourcePosition, Filter, FilterCriteria, FunctionResponseType};

use super::{aws_error, dynamodb_table, has_code, Aws};
use crate::manifest::StartingPosition;
use crate::model::{EventSourceMappingSpec, MappingSource, Props};

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

pub struct MappingLive {
    pub uuid: String,
    pub props: Props,
}

fn what(spec: &EventSourceMappingSpec) -> String {
    format!(
        "event source mapping ({} → {})",
        spec.source_arn_prefix(),
        spec.target
    )
}

/// The mapping's properties. `stream` is the table's current stream: a mapping on an
/// older one (the stream was turned off and on, or its view changed) reads as another source.
fn props_of(
    m: &aws_sdk_lambda::types::EventSourceMappingConfiguration,
    spec: &EventSourceMappingSpec,
    stream: Option<&str>,
) -> Props {
    let mut p = Props::new();
    // Listed by the alias ARN, so that is the target (some emulators report the version instead).
    p.insert("target".into(), spec.target.clone());
    let source = m.event_source_arn().unwrap_or_default();
    let source = match &spec.source {
        MappingSource::Stream(table) if Some(source) == stream => table.clone(),
        MappingSource::Stream(_) => format!("stale stream {source}"),
        MappingSource::Queue(_) => source.to_string(),
    };
    p.insert("source".into(), source);
    p.insert(
        "batchSize".into(),
        m.batch_size().map_or_else(
            || spec.batch_size_or_default().to_string(),
            |b| b.to_string(),
        ),
    );
    p.insert(
        "batchingWindow".into(),
        m.maximum_batching_window_in_seconds()
            .unwrap_or(0)
            .to_string(),
    );
    let report = m
        .function_response_types()
        .contains(&FunctionResponseType::ReportBatchItemFailures);
    p.insert(
        "reportBatchItemFailures".into(),
        if report { "on" } else { "off" }.into(),
    );
    if let Some(position) = m.starting_position() {
        p.insert("startingPosition".into(), position.as_str().to_string());
    }
    let filters: Vec<String> = m
        .filter_criteria()
        .map(|f| {
            f.filters()
                .iter()
                .filter_map(|f| f.pattern())
                .map(crate::model::normalize_definition)
                .collect()
        })
        .unwrap_or_default();
    p.insert(
        "filters".into(),
        if filters.is_empty() {
            "none".into()
        } else {
            filters.join(" ")
        },
    );
    p
}

/// The mapping from the spec's source to its target; `None` when there is none.
pub async fn read(aws: &Aws, spec: &EventSourceMappingSpec) -> anyhow::Result<Option<MappingLive>> {
    let list = match aws
        .lambda
        .list_event_source_mappings()
        .function_name(&spec.target)
        .send()
        .await
    {
        Ok(out) => out.event_source_mappings.unwrap_or_default(),
        Err(e) if has_code(&e, NOT_FOUND) => return Ok(None),
        Err(e) => return Err(aws_error(&what(spec), "lambda:ListEventSourceMappings", e)),
    };
    let found = list.into_iter().find(|m| {
        let source = m.event_source_arn().unwrap_or_default();
        match &spec.source {
            MappingSource::Queue(arn) => source == arn,
            MappingSource::Stream(table) => source.starts_with(&format!("{table}/stream/")),
        }
    });
    let stream = match (&spec.source, &found) {
        (MappingSource::Stream(table_arn), Some(_)) => {
            dynamodb_table::current_stream(aws, table_name(table_arn)).await?
        }
        _ => None,
    };
    Ok(found.map(|m| MappingLive {
        uuid: m.uuid().unwrap_or_default().to_string(),
        props: props_of(&m, spec, stream.as_deref()),
    }))
}

fn table_name(table_arn: &str) -> &str {
    table_arn.rsplit('/').next().unwrap_or(table_arn)
}

/// Every mapping that targets `function` (a function, version or alias ARN), as
/// (UUID, source ARN). A mapping outlives its function: this finds the ones a lost
/// state no longer lists. A function AWS does not know has none.
pub async fn list_for(aws: &Aws, function: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let page = match aws
            .lambda
            .list_event_source_mappings()
            .function_name(function)
            .set_marker(marker)
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) if has_code(&e, NOT_FOUND) => return Ok(out),
            Err(e) => {
                return Err(aws_error(
                    &format!("event source mappings of {function}"),
                    "lambda:ListEventSourceMappings",
                    e,
                ))
            }
        };
        out.extend(page.event_source_mappings().iter().filter_map(|m| {
            Some((
                m.uuid()?.to_string(),
                m.event_source_arn().unwrap_or_default().to_string(),
            ))
        }));
        marker = page.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(out);
        }
    }
}

/// Whether a mapping (by UUID) still exists: for mappings the manifest dropped.
pub async fn exists(aws: &Aws, uuid: &str) -> anyhow::Result<bool> {
    match aws
        .lambda
        .get_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
    {
        Ok(out) => Ok(out.uuid().is_some()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(false),
        Err(e) => Err(aws_error(
            &format!("event source mapping ({uuid})"),
            "lambda:GetEventSourceMapping",
            e,
        )),
    }
}

fn filter_criteria(spec: &EventSourceMappingSpec) -> FilterCriteria {
    FilterCriteria::builder()
        .set_filters(Some(
            spec.filters
                .iter()
                .map(|p| Filter::builder().pattern(p).build())
                .collect(),
        ))
        .build()
}

fn response_types(spec: &EventSourceMappingSpec) -> Vec<FunctionResponseType> {
    if spec.report_batch_item_failures {
        vec![FunctionResponseType::ReportBatchItemFailures]
    } else {
        vec![]
    }
}

/// Creates the mapping; returns its UUID.
pub async fn create(aws: &Aws, spec: &EventSourceMappingSpec) -> anyhow::Result<String> {
    if let Some(existing) = read(aws, spec).await? {
        update(aws, &existing.uuid, spec).await?;
        return Ok(existing.uuid);
    }
    let source = match &spec.source {
        MappingSource::Queue(arn) => arn.clone(),
        MappingSource::Stream(table_arn) => {
            dynamodb_table::stream_arn(aws, table_name(table_arn)).await?
        }
    };
    let out = super::retry_until_assumable(|| {
        let mut req = aws
            .lambda
            .create_event_source_mapping()
            .function_name(&spec.target)
            .event_source_arn(&source)
            .set_batch_size(spec.batch_size.map(|b| b as i32))
            .set_maximum_batching_window_in_seconds(spec.batching_window.map(|w| w as i32))
            .set_function_response_types(Some(response_types(spec)));
        if let Some(position) = spec.starting_position {
            req = req.starting_position(match position {
                StartingPosition::Latest => EventSourcePosition::Latest,
                StartingPosition::TrimHorizon => EventSourcePosition::TrimHorizon,
            });
        }
        if !spec.filters.is_empty() {
            req = req.filter_criteria(filter_criteria(spec));
        }
        async move {
            aws.lambda_rate.acquire().await;
            req.send().await
        }
    })
    .await
    .map_err(|e| {
        aws_error(
            &format!("creating {}", what(spec)),
            "lambda:CreateEventSourceMapping",
            e,
        )
    })?;
    Ok(out.uuid().unwrap_or_default().to_string())
}

pub async fn update(aws: &Aws, uuid: &str, spec: &EventSourceMappingSpec) -> anyhow::Result<()> {
    aws.lambda_rate.acquire().await;
    aws.lambda
        .update_event_source_mapping()
        .uuid(uuid)
        .function_name(&spec.target)
        .batch_size(spec.batch_size_or_default() as i32)
        .maximum_batching_window_in_seconds(spec.batching_window.unwrap_or(0) as i32)
        .set_function_response_types(Some(response_types(spec)))
        .filter_criteria(filter_criteria(spec))
        .send()
        .await
        .map_err(|e| {
            aws_error(
                &format!("updating {}", what(spec)),
                "lambda:UpdateEventSourceMapping",
                e,
            )
        })?;
    Ok(())
}

pub async fn delete(aws: &Aws, uuid: &str) -> anyhow::Result<()> {
    aws.lambda_rate.acquire().await;
    match aws
        .lambda
        .delete_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(aws_error(
            &format!("deleting event source mapping ({uuid})"),
            "lambda:DeleteEventSourceMapping",
            e,
        )),
    }
}

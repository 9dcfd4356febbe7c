//! An event source mapping: Lambda polling an SQS queue or a DynamoDB stream
//! for a function's `live` alias.

use std::time::Duration;

use anyhow::bail;
use aws_sdk_lambda::types::{
    EventSourcePosition, Filter, FilterCriteria, FunctionResponseType, ScalingConfig,
};
use tokio::time::Instant;

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::create_event_source_mapping::CreateEventSourceMappingError;
use aws_smithy_runtime_api::http::Response as HttpResponse;

use super::create::{create_once, no_retries};
use super::{aws_error, dynamodb_table, has_code, Aws};
use crate::manifest::StartingPosition;
use crate::model::{EventSourceMappingSpec, MappingSource, Props};

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

pub struct MappingLive {
    pub uuid: String,
    pub props: Props,
    /// `Creating`, `Enabled`, `Updating`, `Deleting`, …: a `Deleting` one is on its way out.
    pub state: String,
}

/// The state of a mapping on its way out: it polls no more, and nothing it is asked changes that.
pub const DELETING: &str = "Deleting";

/// States a mapping passes through: Lambda refuses changes to it meanwhile (ResourceInUseException).
const TRANSITIONAL: &[&str] = &["Creating", "Enabling", "Disabling", "Updating", DELETING];

impl MappingLive {
    pub fn deleting(&self) -> bool {
        self.state == DELETING
    }
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
    if let MappingSource::Queue(_) = spec.source {
        p.insert(
            "maximumConcurrency".into(),
            m.scaling_config()
                .and_then(|s| s.maximum_concurrency())
                .map_or_else(|| "none".into(), |n| n.to_string()),
        );
    }
    let disabled = matches!(m.state(), Some("Disabled" | "Disabling"));
    p.insert("enabled".into(), if disabled { "off" } else { "on" }.into());
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
    let (deleting, mut others): (Vec<_>, Vec<_>) = list
        .into_iter()
        .filter(|m| {
            let source = m.event_source_arn().unwrap_or_default();
            match &spec.source {
                MappingSource::Queue(arn) => source == arn,
                MappingSource::Stream(table) => source.starts_with(&format!("{table}/stream/")),
            }
        })
        .partition(|m| m.state() == Some(DELETING));
    // One being deleted is seen only when there is no other (its replacement).
    let found = if others.is_empty() {
        deleting.into_iter().next()
    } else {
        Some(others.remove(0))
    };
    let stream = match (&spec.source, &found) {
        (MappingSource::Stream(table_arn), Some(_)) => {
            dynamodb_table::current_stream(aws, table_ref(table_arn, aws)).await?
        }
        _ => None,
    };
    Ok(found.map(|m| MappingLive {
        uuid: m.uuid().unwrap_or_default().to_string(),
        props: props_of(&m, spec, stream.as_deref()),
        state: m.state().unwrap_or("Enabled").to_string(),
    }))
}

/// What DescribeTable is given: the table's name in this account, its ARN for a table
/// of another account (an existing one, shared by its owner's policies). Validate keeps
/// a stream's table in the stage's region.
fn table_ref<'a>(table_arn: &'a str, aws: &Aws) -> &'a str {
    match crate::manifest::parse_table_arn(table_arn) {
        Some((_, account, name)) if account == aws.account => name,
        _ => table_arn,
    }
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

/// Every mapping of the account and region, as (UUID, source ARN, target function
/// ARN), for `remove` to match against all of a service's functions at once instead
/// of listing each function's; `None` once the pages (100 mappings each) reach
/// `most_pages` (an account of many mappings): the caller lists per function.
pub async fn list_all(
    aws: &Aws,
    most_pages: usize,
) -> anyhow::Result<Option<Vec<(String, String, String)>>> {
    let mut out = Vec::new();
    let (mut marker, mut pages): (Option<String>, usize) = (None, 0);
    loop {
        pages += 1;
        let page = aws
            .lambda
            .list_event_source_mappings()
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    "listing event source mappings",
                    "lambda:ListEventSourceMappings",
                    e,
                )
            })?;
        out.extend(page.event_source_mappings().iter().filter_map(|m| {
            Some((
                m.uuid()?.to_string(),
                m.event_source_arn().unwrap_or_default().to_string(),
                m.function_arn()?.to_string(),
            ))
        }));
        marker = page
            .next_marker()
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        if marker.is_none() {
            return Ok(Some(out));
        }
        if pages >= most_pages {
            return Ok(None);
        }
    }
}

/// Whether a mapping (by UUID) still exists: for mappings the manifest dropped.
/// One being deleted is as good as gone.
pub async fn exists(aws: &Aws, uuid: &str) -> anyhow::Result<bool> {
    Ok(matches!(state(aws, uuid).await?, Some((s, _)) if s != DELETING))
}

/// A mapping's state and AWS's reason for it; `None` when it does not exist.
async fn state(aws: &Aws, uuid: &str) -> anyhow::Result<Option<(String, Option<String>)>> {
    match aws
        .lambda
        .get_event_source_mapping()
        .uuid(uuid)
        .send()
        .await
    {
        Ok(out) if out.uuid().is_some() => Ok(Some((
            out.state().unwrap_or("Enabled").to_string(),
            out.state_transition_reason().map(str::to_string),
        ))),
        Ok(_) => Ok(None),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(None),
        Err(e) => Err(aws_error(
            &format!("event source mapping ({uuid})"),
            "lambda:GetEventSourceMapping",
            e,
        )),
    }
}

/// How long a mapping may take to be created, updated or deleted; `SLS_RS_ESM_TIMEOUT`
/// (`90s`, `10m`) overrides it.
fn timeout() -> Duration {
    super::duration_var("SLS_RS_ESM_TIMEOUT").unwrap_or(Duration::from_secs(5 * 60))
}

/// What a wait for a mapping waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// Out of Creating/Updating/…: changes are accepted again.
    Settled,
    /// Gone (ResourceNotFound): a new mapping of the same source may be created.
    Gone,
}

/// Polls the mapping with backoff until it is settled or gone; returns the settled
/// state and AWS's reason (`None`: gone).
async fn wait(
    aws: &Aws,
    uuid: &str,
    until: Until,
) -> anyhow::Result<Option<(String, Option<String>)>> {
    let limit = timeout();
    let deadline = Instant::now() + limit;
    let mut delay = Duration::from_millis(500);
    loop {
        let seen = state(aws, uuid).await?;
        let last = match &seen {
            None => return Ok(None),
            Some((s, _)) if until == Until::Settled && !TRANSITIONAL.contains(&s.as_str()) => {
                return Ok(seen)
            }
            Some((s, _)) => s.clone(),
        };
        if Instant::now() >= deadline {
            let goal = match until {
                Until::Settled => "to settle",
                Until::Gone => "to be deleted",
            };
            bail!("timed out after {}s waiting for event source mapping ({uuid}) {goal}: it is still {last} and Lambda carries on; SLS_RS_ESM_TIMEOUT (e.g. 15m) waits longer", limit.as_secs());
        }
        super::wait::pause(delay.min(deadline.saturating_duration_since(Instant::now()))).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Waits until a mapping just created or updated (both ask for it enabled) polls:
/// Enabled. One that still ends Disabled (Lambda turns a mapping off when it cannot
/// use its source) fails, with AWS's reason.
async fn wait_enabled(aws: &Aws, uuid: &str, what: &str) -> anyhow::Result<()> {
    match wait(aws, uuid, Until::Settled).await? {
        None => bail!("{what} ({uuid}) vanished while being set up; deploy again"),
        Some((s, reason)) if s == "Disabled" => bail!(
            "{what} ({uuid}) is Disabled: {}",
            reason.as_deref().unwrap_or("AWS gave no reason")
        ),
        Some(_) => Ok(()),
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
///
/// An existing one (a deploy died before recording it) is adopted and updated; one
/// still being deleted (a replacement) is waited out first, since Lambda refuses a
/// second mapping of the same source. Returns once the new one is Enabled: a deploy
/// does not report a trigger wired that does not poll yet.
pub async fn create(aws: &Aws, spec: &EventSourceMappingSpec) -> anyhow::Result<String> {
    if let Some(existing) = read(aws, spec).await? {
        if !existing.deleting() {
            update(aws, &existing.uuid, spec).await?;
            return Ok(existing.uuid);
        }
        wait(aws, &existing.uuid, Until::Gone).await?;
    }
    let source = match &spec.source {
        MappingSource::Queue(arn) => arn.clone(),
        MappingSource::Stream(table_arn) => {
            dynamodb_table::stream_arn(aws, table_ref(table_arn, aws)).await?
        }
    };
    // Not idempotent: a lost answer's retry would make a second mapping (or meet the
    // first as a conflict), so after one the mapping is looked for first.
    let created = create_once(
        || super::retry_until_assumable(|| create_request(aws, spec, &source)),
        || async { Ok(read(aws, spec).await?.map(|m| m.uuid)) },
    )
    .await?;
    match created {
        Ok(uuid) => {
            wait_enabled(aws, &uuid, &what(spec)).await?;
            Ok(uuid)
        }
        // "The event source arn (…) and function (…) provided mapping already exists. Please
        // update or delete the existing mapping with UUID …": this run's own, or a dead deploy's.
        Err(e) if has_code(&e, &["ResourceConflictException"]) => match read(aws, spec).await? {
            Some(existing) => {
                update(aws, &existing.uuid, spec).await?;
                Ok(existing.uuid)
            }
            None => Err(aws_error(
                &format!("creating {}", what(spec)),
                "lambda:CreateEventSourceMapping",
                e,
            )),
        },
        Err(e) => Err(aws_error(
            &format!("creating {}", what(spec)),
            "lambda:CreateEventSourceMapping",
            e,
        )),
    }
}

/// An SQS mapping's concurrency limit; none lifts it.
fn scaling(maximum: Option<u32>) -> ScalingConfig {
    ScalingConfig::builder()
        .set_maximum_concurrency(maximum.map(|n| n as i32))
        .build()
}

/// One CreateEventSourceMapping attempt, with the SDK's retries off; its UUID.
async fn create_request(
    aws: &Aws,
    spec: &EventSourceMappingSpec,
    source: &str,
) -> Result<String, SdkError<CreateEventSourceMappingError, HttpResponse>> {
    let mut req = aws
        .lambda
        .create_event_source_mapping()
        .function_name(&spec.target)
        .event_source_arn(source)
        .enabled(true)
        .set_batch_size(spec.batch_size.map(|b| b as i32))
        .set_maximum_batching_window_in_seconds(spec.batching_window.map(|w| w as i32))
        .set_function_response_types(Some(response_types(spec)))
        .set_scaling_config(spec.maximum_concurrency.map(|n| scaling(Some(n))));
    if let Some(position) = spec.starting_position {
        req = req.starting_position(match position {
            StartingPosition::Latest => EventSourcePosition::Latest,
            StartingPosition::TrimHorizon => EventSourcePosition::TrimHorizon,
        });
    }
    if !spec.filters.is_empty() {
        req = req.filter_criteria(filter_criteria(spec));
    }
    let out = req
        .customize()
        .config_override(no_retries!(aws_sdk_lambda))
        .send()
        .await?;
    Ok(out.uuid().unwrap_or_default().to_string())
}

/// Updates a mapping in place, once it accepts changes (not Creating or Updating),
/// and waits until the change is in force.
pub async fn update(aws: &Aws, uuid: &str, spec: &EventSourceMappingSpec) -> anyhow::Result<()> {
    wait(aws, uuid, Until::Settled).await?;
    super::retry_on_conflict(|| {
        aws.lambda
            .update_event_source_mapping()
            .uuid(uuid)
            .function_name(&spec.target)
            // Turned off in the console, or by Lambda: the manifest wants it polling.
            .enabled(true)
            .batch_size(spec.batch_size_or_default() as i32)
            .maximum_batching_window_in_seconds(spec.batching_window.unwrap_or(0) as i32)
            .set_function_response_types(Some(response_types(spec)))
            .filter_criteria(filter_criteria(spec))
            // An empty scaling configuration lifts the limit.
            .set_scaling_config(
                matches!(spec.source, MappingSource::Queue(_))
                    .then(|| scaling(spec.maximum_concurrency)),
            )
            .send()
    })
    .await
    .map_err(|e| {
        aws_error(
            &format!("updating {}", what(spec)),
            "lambda:UpdateEventSourceMapping",
            e,
        )
    })?;
    wait_enabled(aws, uuid, &what(spec)).await
}

/// Deletes a mapping (retried while it is being created or updated); a missing one
/// is already deleted. Lambda deletes asynchronously: see [`delete_and_wait`].
pub async fn delete(aws: &Aws, uuid: &str) -> anyhow::Result<()> {
    let deleted =
        super::retry_on_conflict(|| aws.lambda.delete_event_source_mapping().uuid(uuid).send())
            .await;
    match deleted {
        Ok(_) => Ok(()),
        Err(e) if has_code(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(aws_error(
            &format!("deleting event source mapping ({uuid})"),
            "lambda:DeleteEventSourceMapping",
            e,
        )),
    }
}

/// Deletes a mapping and waits until it is gone, so one of the same source can be
/// created: a mapping still Deleting accepts an update and then vanishes with it.
pub async fn delete_and_wait(aws: &Aws, uuid: &str) -> anyhow::Result<()> {
    match state(aws, uuid).await? {
        None => return Ok(()),
        Some((s, _)) if s == DELETING => {}
        Some(_) => delete(aws, uuid).await?,
    }
    wait(aws, uuid, Until::Gone).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    //! Mappings' asynchronous states, against mocked answers: moto's mappings are
    //! Enabled at once and gone the moment they are deleted.
    use super::*;
    use aws_sdk_lambda::operation::create_event_source_mapping::CreateEventSourceMappingOutput;
    use aws_sdk_lambda::operation::delete_event_source_mapping::DeleteEventSourceMappingOutput;
    use aws_sdk_lambda::operation::get_event_source_mapping::{
        GetEventSourceMappingError, GetEventSourceMappingOutput,
    };
    use aws_sdk_lambda::operation::list_event_source_mappings::ListEventSourceMappingsOutput;
    use aws_sdk_lambda::operation::update_event_source_mapping::{
        UpdateEventSourceMappingError, UpdateEventSourceMappingOutput,
    };
    use aws_sdk_lambda::types::error::{ResourceInUseException, ResourceNotFoundException};
    use aws_sdk_lambda::types::EventSourceMappingConfiguration;
    use aws_sdk_lambda::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:shop-dev-jobs";

    fn spec() -> EventSourceMappingSpec {
        EventSourceMappingSpec {
            target: "arn:aws:lambda:us-east-1:123456789012:function:shop-dev-f:live".into(),
            source: MappingSource::Queue(QUEUE.into()),
            batch_size: None,
            batching_window: None,
            report_batch_item_failures: false,
            starting_position: None,
            filters: vec![],
            maximum_concurrency: None,
        }
    }

    fn got(uuid: &'static str, state: &'static str) -> impl Fn() -> GetEventSourceMappingOutput {
        move || {
            GetEventSourceMappingOutput::builder()
                .uuid(uuid)
                .state(state)
                .state_transition_reason("USER_INITIATED")
                .build()
        }
    }

    /// GetEventSourceMapping answering `via` once, then Enabled.
    fn settling(uuid: &'static str, via: &'static str) -> aws_smithy_mocks::Rule {
        mock!(Client::get_event_source_mapping)
            .sequence()
            .output(got(uuid, via))
            .output(got(uuid, "Enabled"))
            .build()
    }

    fn not_found() -> GetEventSourceMappingError {
        GetEventSourceMappingError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .meta(
                    ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .build(),
                )
                .build(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_replaced_mapping_is_gone_before_its_successor_is_created() {
        // In this order and no other (Sequential): the new mapping is asked for only
        // once the old one is not found, and the deploy returns once it is Enabled.
        let before = mock!(Client::get_event_source_mapping).then_output(got("old", "Enabled"));
        let delete = mock!(Client::delete_event_source_mapping)
            .match_requests(|r| r.uuid() == Some("old"))
            .then_output(|| DeleteEventSourceMappingOutput::builder().build());
        let deleting = mock!(Client::get_event_source_mapping)
            .match_requests(|r| r.uuid() == Some("old"))
            .sequence()
            .output(got("old", "Deleting"))
            .times(3)
            .error(not_found)
            .build();
        let list = mock!(Client::list_event_source_mappings)
            .then_output(|| ListEventSourceMappingsOutput::builder().build());
        let create = mock!(Client::create_event_source_mapping).then_output(|| {
            CreateEventSourceMappingOutput::builder()
                .uuid("new")
                .state("Creating")
                .build()
        });
        let creating = mock!(Client::get_event_source_mapping)
            .match_requests(|r| r.uuid() == Some("new"))
            .sequence()
            .output(got("new", "Creating"))
            .output(got("new", "Enabled"))
            .build();
        let aws = Aws::with_lambda(
            mock_client!(
                aws_sdk_lambda,
                RuleMode::Sequential,
                [&before, &delete, &deleting, &list, &create, &creating]
            ),
            None,
        );
        delete_and_wait(&aws, "old").await.unwrap();
        assert_eq!(deleting.num_calls(), 4, "polled until not found");
        assert_eq!(super::create(&aws, &spec()).await.unwrap(), "new");
        assert_eq!((create.num_calls(), creating.num_calls()), (1, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_mapping_still_deleting_is_waited_out_not_updated() {
        // A deploy died between deleting the old mapping and creating the new one.
        let list = mock!(Client::list_event_source_mappings).then_output(|| {
            ListEventSourceMappingsOutput::builder()
                .event_source_mappings(
                    EventSourceMappingConfiguration::builder()
                        .uuid("old")
                        .event_source_arn(QUEUE)
                        .state("Deleting")
                        .build(),
                )
                .build()
        });
        let deleting = mock!(Client::get_event_source_mapping)
            .sequence()
            .output(got("old", "Deleting"))
            .error(not_found)
            .build();
        let create = mock!(Client::create_event_source_mapping).then_output(|| {
            CreateEventSourceMappingOutput::builder()
                .uuid("new")
                .build()
        });
        let enabled = mock!(Client::get_event_source_mapping).then_output(got("new", "Enabled"));
        let aws = Aws::with_lambda(
            mock_client!(
                aws_sdk_lambda,
                RuleMode::Sequential,
                [&list, &deleting, &create, &enabled]
            ),
            None,
        );
        assert_eq!(super::create(&aws, &spec()).await.unwrap(), "new");
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_update_waits_while_the_mapping_is_busy_and_retries_resource_in_use() {
        let busy = mock!(Client::get_event_source_mapping)
            .sequence()
            .output(got("m", "Updating"))
            .output(got("m", "Enabled"))
            .build();
        let update = mock!(Client::update_event_source_mapping)
            .sequence()
            .error(|| {
                UpdateEventSourceMappingError::ResourceInUseException(
                    ResourceInUseException::builder()
                        .meta(
                            ErrorMetadata::builder()
                                .code("ResourceInUseException")
                                .message(
                                    "Cannot update the event source mapping because it is in use.",
                                )
                                .build(),
                        )
                        .build(),
                )
            })
            .output(|| UpdateEventSourceMappingOutput::builder().uuid("m").build())
            .build();
        let settled = settling("m", "Updating");
        let aws = Aws::with_lambda(
            mock_client!(
                aws_sdk_lambda,
                RuleMode::Sequential,
                [&busy, &update, &settled]
            ),
            None,
        );
        super::update(&aws, "m", &spec()).await.unwrap();
        assert_eq!(update.num_calls(), 2);
        assert_eq!(
            settled.num_calls(),
            2,
            "returns once the change is in force"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_mapping_disabled_in_the_console_reads_as_drift_and_is_enabled_again() {
        let listed = mock!(Client::list_event_source_mappings).then_output(|| {
            ListEventSourceMappingsOutput::builder()
                .event_source_mappings(
                    EventSourceMappingConfiguration::builder()
                        .uuid("m")
                        .event_source_arn(QUEUE)
                        .state("Disabled")
                        .state_transition_reason("USER_INITIATED")
                        .build(),
                )
                .build()
        });
        let disabled = mock!(Client::get_event_source_mapping).then_output(got("m", "Disabled"));
        let enable = mock!(Client::update_event_source_mapping)
            .match_requests(|r| r.enabled() == Some(true))
            .then_output(|| UpdateEventSourceMappingOutput::builder().uuid("m").build());
        let enabling = settling("m", "Enabling");
        let aws = Aws::with_lambda(
            mock_client!(
                aws_sdk_lambda,
                RuleMode::Sequential,
                [&listed, &disabled, &enable, &enabling]
            ),
            None,
        );
        let live = read(&aws, &spec()).await.unwrap().unwrap();
        assert_eq!(live.props.get("enabled").map(String::as_str), Some("off"));
        assert_eq!(
            spec().props().get("enabled").map(String::as_str),
            Some("on")
        );
        super::update(&aws, "m", &spec()).await.unwrap();
        assert_eq!(
            enable.num_calls(),
            1,
            "UpdateEventSourceMapping with Enabled=true"
        );
        assert_eq!(enabling.num_calls(), 2, "returns once it polls again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_mapping_that_ends_disabled_fails_with_aws_reason() {
        let list = mock!(Client::list_event_source_mappings)
            .then_output(|| ListEventSourceMappingsOutput::builder().build());
        let create = mock!(Client::create_event_source_mapping)
            .match_requests(|r| r.enabled() == Some(true))
            .then_output(|| {
                CreateEventSourceMappingOutput::builder()
                    .uuid("new")
                    .build()
            });
        let disabled = mock!(Client::get_event_source_mapping).then_output(|| {
            GetEventSourceMappingOutput::builder()
                .uuid("new")
                .state("Disabled")
                .state_transition_reason("PROBLEM: Function call failed")
                .build()
        });
        let aws = Aws::with_lambda(
            mock_client!(
                aws_sdk_lambda,
                RuleMode::Sequential,
                [&list, &create, &disabled]
            ),
            None,
        );
        let err = super::create(&aws, &spec()).await.unwrap_err().to_string();
        assert!(
            err.contains("(new) is Disabled: PROBLEM: Function call failed") && err.contains(QUEUE),
            "{err}"
        );
    }
}

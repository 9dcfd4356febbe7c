//! The worker of the `jobs` queue. Each message is one job, JSON such as
//! `{"job": "resize", "attempt": 1}`. A message that fails is reported in
//! `batchItemFailures` (the queue's ReportBatchItemFailures response): SQS retries
//! only that message, and after 3 receives moves it to the dead-letter queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::Deserialize;
use sls_rs_runtime::{Error, LambdaEvent};

#[derive(Debug, Deserialize)]
struct Job {
    job: String,
}

/// One message: `Err` says why it failed and will be retried.
async fn process(message: &SqsMessage) -> Result<(), String> {
    let body = message.body.as_deref().ok_or("the message has no body")?;
    let job: Job = serde_json::from_str(body).map_err(|e| format!("not a job: {e}"))?;
    if job.job.is_empty() {
        return Err("`job` is empty".into());
    }
    tracing::info!(job = %job.job, "done");
    Ok(())
}

async fn worker(event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    for message in &event.payload.records {
        let id = message.message_id.clone().unwrap_or_default();
        if let Err(why) = process(message).await {
            tracing::warn!(message = %id, %why, "failed; SQS will retry it");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sls_rs_runtime::run(worker).await
}

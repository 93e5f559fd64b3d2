//! The complete function's two queues on the emulator: the jobs queue's dead letters and the
//! records Lambda writes for complete's failed asynchronous invocations. Each fails its job with
//! the reason, once; a job already over is left as it was.

use super::*;

/// The complete function's answer to an SQS batch, settled on `queue_url` as Lambda would.
async fn consume(stack: &Stack, queue_url: &str, received: &[Message], template: &str) -> Vec<String> {
    let event = serde_json::to_value(sqs_event(received, template)).expect("JSON");
    let answer = gavel_complete::respond(&stack.complete, MAX_RECEIVES, event).await.expect("complete");
    let response: SqsBatchResponse = serde_json::from_value(answer).expect("a batch response");
    stack.settle(queue_url, received, &response).await;
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

/// What Lambda writes to complete's on-failure destination after its retries (the fixture's
/// record around `job_id`'s report-written event), through the real queue.
async fn failed_completion(stack: &Stack, job_id: &str) -> Vec<Message> {
    let template = fixture_json("sqs-complete-failure.json");
    let mut record: Value =
        serde_json::from_str(template["Records"][0]["body"].as_str().expect("a body")).expect("JSON");
    record["requestPayload"] = stack.report_written(job_id);
    let url = &stack.complete_failures_url;
    stack.sqs.send_message().queue_url(url).message_body(record.to_string()).send().await.expect("send");
    let received = stack.receive(url, 30).await;
    assert_eq!(received.len(), 1);
    received
}

const KILLED: &str = "completing the job failed repeatedly: RequestId: 9f3c2a4e-1b7d-4e8f-a6c5-2d1e0f9b8a7c Error: \
                      Runtime exited with error: signal: killed (RetriesExhausted, 3 attempts)";

/// Dispatch never finished (crashed or timed out on every receive): SQS moves the message to the
/// dead-letter queue, and its consumer fails the job.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_whose_message_dead_letters_ends_failed_with_its_reason() {
    let stack = Stack::new().await;
    let job_id = stack.submit(json!({"language": "python", "code": "print(1)"})).await;
    for _ in 0..MAX_RECEIVES {
        assert_eq!(stack.receive(&stack.queue_url, 0).await.len(), 1, "received, never settled");
    }
    assert!(stack.receive(&stack.queue_url, 0).await.is_empty(), "SQS moved it to the dead-letter queue");
    let dead = stack.receive(&stack.dead_letter_url, 30).await;
    assert_eq!(dead.len(), 1);

    let failed = consume(&stack, &stack.dead_letter_url, &dead, "sqs-dead-letter.json").await;
    assert!(failed.is_empty(), "{failed:?}");
    let view = stack.result(&job_id).await;
    assert_eq!(view["status"], "failed", "{view}");
    let error = view["error"].as_str().expect("an error");
    assert!(error.starts_with("gave up dispatching after 3 receives: "), "{error}");
    assert!(stack.receive(&stack.dead_letter_url, 0).await.is_empty(), "the dead letter is settled");
}

/// The report-written event of a running job failed every invocation of complete (here: killed,
/// as when out of memory): the failure record fails the job with complete's error.
#[tokio::test(flavor = "multi_thread")]
async fn a_complete_that_keeps_failing_fails_its_job() {
    let stack = Stack::new().await;
    let job_id = stack.submit(json!({"language": "python", "code": "print(1)"})).await;
    stack.deliver().await;
    assert_eq!(stack.result(&job_id).await["status"], "running");

    let received = failed_completion(&stack, &job_id).await;
    let failed = consume(&stack, &stack.complete_failures_url, &received, "sqs-complete-failure.json").await;
    assert!(failed.is_empty(), "{failed:?}");
    let view = stack.result(&job_id).await;
    assert_eq!((view["status"].as_str(), view["error"].as_str()), (Some("failed"), Some(KILLED)), "{view}");
}

/// A completed job's failed invocation and dead letter (a duplicate event, a retry that lost a
/// race) change nothing; a poison record beside the dead letter stays in its queue, alone.
#[tokio::test(flavor = "multi_thread")]
async fn an_already_terminal_job_is_left_as_it_was() {
    let stack = Stack::new().await;
    let (job_id, view, _) = stack.judge(json!({"language": "python", "code": "print(6 * 7)"})).await;
    assert_eq!(view["verdict"], "accepted", "{view}");

    let received = failed_completion(&stack, &job_id).await;
    let failed = consume(&stack, &stack.complete_failures_url, &received, "sqs-complete-failure.json").await;
    assert!(failed.is_empty(), "{failed:?}");

    // The job's message as SQS moves it to the dead-letter queue, and a poison one.
    let message = json!({"job_id": job_id, "language": "python", "bundle_key": format!("jobs/{job_id}/bundle.json")});
    let url = &stack.dead_letter_url;
    for body in [message.to_string(), "{\"job_id\": \"not a job\"}".to_owned()] {
        stack.sqs.send_message().queue_url(url).message_body(body).send().await.expect("send");
    }
    let mut dead = Vec::new();
    while dead.len() < 2 {
        let more = stack.receive(url, 30).await;
        assert!(!more.is_empty(), "two dead letters");
        dead.extend(more);
    }
    let failed = consume(&stack, url, &dead, "sqs-dead-letter.json").await;
    let poison = dead.iter().find(|m| m.body().is_some_and(|b| b.contains("not a job"))).expect("poison");
    assert_eq!(failed, [poison.message_id().expect("id")]);
    assert_eq!(stack.result(&job_id).await, view, "one result, unchanged");
}

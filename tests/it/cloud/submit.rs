//! `POST /execute` through the API function when the queue cannot take the job: nothing of it
//! may be left behind but, once written, its failed record.

use aws_sdk_dynamodb::types::AttributeValue;

use super::*;

/// Every key in the stack's bucket.
async fn objects(stack: &Stack) -> Vec<String> {
    let listed = stack.s3.list_objects_v2().bucket(&stack.bucket).send().await.expect("list objects");
    listed.contents().iter().filter_map(|object| object.key().map(str::to_owned)).collect()
}

/// Every item of the stack's table.
async fn items(stack: &Stack) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let scanned = stack.dynamodb.scan().table_name(&stack.table).consistent_read(true).send().await.expect("scan");
    scanned.items().to_vec()
}

fn text(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name).and_then(|value| value.as_s().ok()).cloned().unwrap_or_default()
}

const JOB: &str = r#"{"language": "python", "code": "print(1)", "tests": [{"input": "", "expected_output": "1\n"}]}"#;

/// The queue's capacity is asked before anything is written: a 429 leaves no object and no item.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_429_and_writes_nothing() {
    let stack = Stack::new().await;
    let full = SqsJobQueue::new(stack.sqs.clone(), &stack.queue_url, Some(1));
    let waiting = JobMessage {
        job_id: JobId::new(),
        language: "python".into(),
        bundle_key: "jobs/x/bundle.json".into(),
        judge_data_key: None,
    };
    let body = serde_json::to_string(&waiting).expect("JSON");
    stack.sqs.send_message().queue_url(&stack.queue_url).message_body(body).send().await.expect("one job waiting");
    let stack = stack.with_queue(Arc::new(full));

    let (status, answer) = stack.call_api("POST", "/execute", Some(&serde_json::from_str(JOB).expect("JSON"))).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error"]["code"], "queue_full", "{answer}");
    assert_eq!(objects(&stack).await, Vec::<String>::new(), "no bundle, no judge spec");
    assert!(items(&stack).await.is_empty(), "no job record");
}

/// SendMessage fails after the queue said it had room (here a FIFO queue, which refuses a message
/// without a group id): the answer is a 503, the bundle and judge spec are removed, and the
/// record, already written, is failed rather than left pending.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_cannot_be_queued_leaves_no_blobs() {
    let stack = Stack::new().await;
    let fifo = stack
        .sqs
        .create_queue()
        .queue_name(format!("{}.fifo", unique("fifo")))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create a FIFO queue");
    let fifo = SqsJobQueue::new(stack.sqs.clone(), fifo.queue_url().expect("a queue URL"), Some(100));
    assert_eq!(fifo.check_room().await, Ok(()), "there is room");
    let stack = stack.with_queue(Arc::new(fifo));

    let (status, answer) = stack.call_api("POST", "/execute", Some(&serde_json::from_str(JOB).expect("JSON"))).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(objects(&stack).await, Vec::<String>::new(), "the bundle and judge spec are removed");
    let items = items(&stack).await;
    let [item] = &items[..] else { panic!("one job record: {items:?}") };
    assert_eq!(text(item, "status"), "failed");
    assert!(text(item, "error").starts_with("not queued: "), "{item:?}");
}

//! The dispatch handler's records on the emulator: retried, poison, on their last receive, and
//! delivered again.

use super::*;

/// Dispatch whose ECS answers every call as AWS does when throttling.
async fn throttled(stack: &Stack) -> gavel_dispatch::Ports {
    let throttled_sdk = sdk().await.into_builder().endpoint_url(throttling_ecs_endpoint().await).build();
    gavel_dispatch::Ports {
        launcher: Arc::new(EcsTaskLauncher::new(gavel_aws::ecs_client(&throttled_sdk), stack.launch.clone())),
        ..stack.dispatch.clone()
    }
}

/// An ECS endpoint on loopback that answers every call as AWS does when throttling.
async fn throttling_ecs_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.1"), ("x-amzn-errortype", "ThrottlingException")],
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The receive count SQS gave the one record of an event.
fn receive_count(event: &SqsEvent) -> u32 {
    let [record] = &event.records[..] else { panic!("one record: {event:?}") };
    record.attributes.get("ApproximateReceiveCount").expect("a receive count").parse().expect("a count")
}

/// RunTask answers ThrottlingException: the record goes back to the queue as a batch item
/// failure, the job is not failed, and the next delivery starts it.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_run_task_is_a_batch_item_failure() {
    let stack = Stack::new().await;
    let job_id = stack.submit(json!({"language": "python", "code": "print(1)"})).await;

    let (event, response) = stack.deliver_to(&throttled(&stack).await, 0).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, [event.records[0].message_id.as_deref().expect("id")]);
    assert_eq!(stack.result(&job_id).await["status"], "running");

    // Delivered again once RunTask answers: the job starts.
    let (event, response) = stack.deliver().await;
    assert_eq!(receive_count(&event), 2);
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(stack.tasks_started_for(&job_id).await, 1);
}

/// An unreadable record is a failure of its own (SQS moves it to the dead-letter queue after its
/// receives); the good record beside it in the batch is dispatched.
#[tokio::test(flavor = "multi_thread")]
async fn a_poison_record_fails_alone() {
    let stack = Stack::new().await;
    let job_id = stack.submit(json!({"language": "python", "code": "print(1)"})).await;
    let received = stack.sqs.receive_message().queue_url(&stack.queue_url).send().await.expect("receive");
    let [message] = received.messages() else { panic!("one message") };
    let event: SqsEvent = serde_json::from_value(json!({"Records": [
        {"messageId": "poison-1", "body": "{\"job_id\": 42}", "eventSource": "aws:sqs"},
        {"messageId": message.message_id(), "body": message.body(), "eventSource": "aws:sqs"},
        {"messageId": "poison-2", "eventSource": "aws:sqs", "attributes": {"ApproximateReceiveCount": "3"}},
    ]}))
    .expect("an SQS event");
    let response = gavel_dispatch::handle(&stack.dispatch, &stack.redrive, event).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["poison-1", "poison-2"], "poison goes on to the dead-letter queue, even on its last receive");
    assert_eq!(stack.tasks_started_for(&job_id).await, 1);
    assert_eq!(stack.result(&job_id).await["status"], "running");
}

/// Every receive but the last goes back to the queue; on the last, the job fails with the reason
/// instead of its message going to the dead-letter queue.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_on_its_last_receive_that_cannot_launch_fails_its_job() {
    let stack = Stack::new().await;
    let job_id = stack.submit(json!({"language": "python", "code": "print(1)"})).await;
    let throttled = throttled(&stack).await;
    for receive in 1..MAX_RECEIVES {
        let (event, response) = stack.deliver_to(&throttled, 0).await;
        assert_eq!(receive_count(&event), receive);
        assert_eq!(response.batch_item_failures.len(), 1, "receive {receive} comes back");
        assert_eq!(stack.result(&job_id).await["status"], "running");
    }
    let (event, response) = stack.deliver_to(&throttled, 0).await;
    assert_eq!(receive_count(&event), MAX_RECEIVES);
    assert!(response.batch_item_failures.is_empty(), "the last receive settles the job");

    let view = stack.result(&job_id).await;
    assert_eq!(view["status"], "failed", "{view}");
    let error = view["error"].as_str().expect("an error");
    assert!(
        error.starts_with("gave up dispatching after 3 receives: ") && error.contains("ThrottlingException"),
        "{error}"
    );
    assert_eq!(stack.tasks_started_for(&job_id).await, 0);
    assert!(stack.receive(&stack.queue_url, 0).await.is_empty(), "the message is gone");
    assert!(stack.receive(&stack.dead_letter_url, 0).await.is_empty(), "and did not dead-letter");
}

/// On its last receive with the store down, the job's failure cannot be recorded: the record goes
/// on to the dead-letter queue, whose consumer fails the job later.
#[tokio::test(flavor = "multi_thread")]
async fn a_last_receive_that_cannot_record_the_failure_dead_letters() {
    let stack = Stack::new().await;
    let job_id = stack.submit(json!({"language": "python", "code": "print(1)"})).await;
    let store_down = gavel_dispatch::Ports {
        store: Arc::new(DynamoJobStore::new(stack.dynamodb.clone(), unique("missing"))),
        ..stack.dispatch.clone()
    };
    for _ in 0..MAX_RECEIVES {
        let (_, response) = stack.deliver_to(&store_down, 0).await;
        assert_eq!(response.batch_item_failures.len(), 1);
    }
    assert!(stack.receive(&stack.queue_url, 0).await.is_empty(), "SQS moved it on");
    let dead = stack.receive(&stack.dead_letter_url, 30).await;
    let body: Value = serde_json::from_str(dead[0].body().expect("a body")).expect("JSON");
    assert_eq!(body["job_id"], job_id.as_str());
    assert_eq!(stack.result(&job_id).await["status"], "pending", "untouched, for the dead-letter queue's consumer");
}

/// SQS delivers at least once, and a dispatch that timed out after RunTask is delivered again:
/// the job's task, running or stopped, is found, and no second one starts.
#[tokio::test(flavor = "multi_thread")]
async fn a_redelivered_dispatch_starts_one_task() {
    let stack = Stack::new().await;
    let job_id = stack.submit(json!({"language": "python", "code": "print(1)"})).await;
    let (delivered, response) = stack.deliver().await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(stack.tasks_started_for(&job_id).await, 1);

    let response = gavel_dispatch::handle(&stack.dispatch, &stack.redrive, delivered.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(stack.tasks_started_for(&job_id).await, 1, "the running task is the job's");
    assert_eq!(stack.result(&job_id).await["status"], "running");

    // Stopped, with its stop event still on its way to complete: still the job's one task.
    let listed = stack.ecs.list_tasks().cluster(&stack.launch.cluster).started_by(&job_id).send().await;
    let arn = listed.expect("list tasks").task_arns()[0].clone();
    stack.ecs.stop_task().cluster(&stack.launch.cluster).task(arn).send().await.expect("stop the task");
    let response = gavel_dispatch::handle(&stack.dispatch, &stack.redrive, delivered).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(stack.tasks_started_for(&job_id).await, 1, "the stopped task is the job's");
}

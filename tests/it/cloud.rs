//! The whole cloud pipeline on an AWS emulator (moto), with the real handlers of the three
//! functions: `POST /execute` through the API handler → SQS → the dispatch handler → RunTask →
//! this test plays Fargate, running `gavel-runner` with exactly that task's environment →
//! the report in S3 → the complete handler → `GET /result` through the API handler.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, NetworkMode};
use axum::body::Body;
use gavel_aws::{DynamoJobStore, EcsLaunchConfig, EcsTaskLauncher, S3BlobStore, SqsJobQueue};
use gavel_core::ports::{BlobStore, JobStore, keys};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::contract::aws::{ec2_first, sdk, unique};
use crate::harness::binary;

/// One Gavel stack on the emulator: its own table, bucket, queue, cluster and task definitions.
struct Stack {
    api: gavel_api::App,
    dispatch: gavel_dispatch::Ports,
    complete: gavel_complete::Ports,
    sqs: aws_sdk_sqs::Client,
    ecs: aws_sdk_ecs::Client,
    queue_url: String,
    bucket: String,
    launch: EcsLaunchConfig,
}

const LANGUAGES: [&str; 2] = ["python", "cpp"];

impl Stack {
    async fn new() -> Stack {
        let sdk = sdk().await;
        let (dynamodb, s3, sqs, ecs) = (
            gavel_aws::dynamodb_client(&sdk),
            gavel_aws::s3_client(&sdk),
            gavel_aws::sqs_client(&sdk),
            gavel_aws::ecs_client(&sdk),
        );
        let table = unique("jobs");
        gavel_aws::create_table(&dynamodb, &table).await.expect("create the table");
        let bucket = unique("jobs");
        s3.create_bucket().bucket(&bucket).send().await.expect("create the bucket");
        let queue = sqs.create_queue().queue_name(unique("queue")).send().await.expect("create the queue");
        let queue_url = queue.queue_url().expect("a queue URL").to_owned();
        let cluster = unique("cluster");
        ecs.create_cluster().cluster_name(&cluster).send().await.expect("create the cluster");
        let family_prefix = format!("{}-", unique("runner"));
        for language in LANGUAGES {
            // moto answers RunTask with a 500 unless containers have their own `memory`.
            let container =
                ContainerDefinition::builder().name("runner").image(format!("gavel-runner-{language}")).memory(512);
            ecs.register_task_definition()
                .family(format!("{family_prefix}{language}"))
                .requires_compatibilities(Compatibility::Fargate)
                .network_mode(NetworkMode::Awsvpc)
                .cpu("256")
                .memory("512")
                .container_definitions(container.build())
                .send()
                .await
                .expect("register a task definition");
        }
        let launch = EcsLaunchConfig {
            cluster,
            subnets: vec![ec2_first("Action=DescribeSubnets", "subnetId").await],
            security_groups: vec![
                ec2_first("Action=DescribeSecurityGroups&Filter.1.Name=group-name&Filter.1.Value.1=default", "groupId")
                    .await,
            ],
            family_prefix,
            container: "runner".into(),
            assign_public_ip: false,
        };

        let store: Arc<dyn JobStore> = Arc::new(DynamoJobStore::new(dynamodb, table));
        let blobs: Arc<dyn BlobStore> = Arc::new(S3BlobStore::new(s3, &bucket, Duration::from_secs(3600)));
        let api = gavel_api::app(gavel_api::Ports {
            store: store.clone(),
            blobs: blobs.clone(),
            queue: Arc::new(SqsJobQueue::new(sqs.clone(), &queue_url, None)),
        });
        let dispatch = gavel_dispatch::Ports {
            store: store.clone(),
            blobs: blobs.clone(),
            launcher: Arc::new(EcsTaskLauncher::new(ecs.clone(), launch.clone())),
        };
        let complete = gavel_complete::Ports { store, blobs };
        Stack { api, dispatch, complete, sqs, ecs, queue_url, bucket, launch }
    }

    /// An API Gateway proxy event for the API function, from the shipped fixture.
    async fn call_api(&self, method: &str, path_and_query: &str, body: Option<&Value>) -> (u16, Value) {
        let fixture = if method == "POST" { "api-post-execute.json" } else { "api-get-result.json" };
        let mut event = fixture_json(fixture);
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        event["httpMethod"] = json!(method);
        event["path"] = json!(path);
        event["requestContext"]["path"] = json!(path);
        event["pathParameters"] = json!({"proxy": path.trim_start_matches('/')});
        let params: BTreeMap<&str, &str> = query.split('&').filter_map(|kv| kv.split_once('=')).collect();
        event["queryStringParameters"] = if params.is_empty() { Value::Null } else { json!(params) };
        event["multiValueQueryStringParameters"] = if params.is_empty() {
            Value::Null
        } else {
            json!(params.iter().map(|(k, v)| (*k, vec![*v])).collect::<BTreeMap<_, _>>())
        };
        event["body"] = body.map_or(Value::Null, |b| json!(b.to_string()));
        let request = lambda_http::request::from_str(&event.to_string()).expect("a Lambda HTTP request");
        let response = self.api.clone().oneshot(request).await.expect("the router answers");
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(Body::new(response.into_body()), usize::MAX).await.expect("the body");
        (status, serde_json::from_slice(&bytes).expect("a JSON answer"))
    }

    async fn submit(&self, request: Value) -> String {
        let (status, answer) = self.call_api("POST", "/execute", Some(&request)).await;
        assert_eq!(status, 202, "{answer}");
        answer["job_id"].as_str().expect("a job id").to_owned()
    }

    async fn result(&self, job_id: &str) -> Value {
        let (status, view) = self.call_api("GET", &format!("/result/{job_id}"), None).await;
        assert_eq!(status, 200, "{view}");
        view
    }

    /// Receives what is on the queue and hands it to the dispatch handler as Lambda would:
    /// one SQS event of those records, deleting the ones it did not report as failures.
    async fn deliver(&self) -> (SqsEvent, SqsBatchResponse) {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive messages");
        let template = fixture_json("sqs-dispatch.json")["Records"][0].clone();
        let records: Vec<Value> = received
            .messages()
            .iter()
            .map(|message| {
                let mut record = template.clone();
                record["messageId"] = json!(message.message_id());
                record["receiptHandle"] = json!(message.receipt_handle());
                record["body"] = json!(message.body());
                record["md5OfBody"] = json!(message.md5_of_body());
                record
            })
            .collect();
        let event: SqsEvent = serde_json::from_value(json!({"Records": records})).expect("an SQS event");
        let response = gavel_dispatch::handle(&self.dispatch, event.clone()).await;
        for message in received.messages() {
            let failed =
                response.batch_item_failures.iter().any(|f| Some(f.item_identifier.as_str()) == message.message_id());
            if !failed {
                let handle = message.receipt_handle().expect("a receipt handle");
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("delete");
            }
        }
        (event, response)
    }

    /// The environment of the runner task RunTask recorded for a job.
    async fn task_environment(&self, job_id: &str) -> Vec<(String, String)> {
        let cluster = &self.launch.cluster;
        let listed = self.ecs.list_tasks().cluster(cluster).started_by(job_id).send().await.expect("list tasks");
        let [arn] = listed.task_arns() else { panic!("one task for {job_id}: {:?}", listed.task_arns()) };
        let described = self.ecs.describe_tasks().cluster(cluster).tasks(arn).send().await.expect("describe");
        let [task] = described.tasks() else { panic!("one task described") };
        let overrides = task.overrides().expect("container overrides");
        let [container] = overrides.container_overrides() else { panic!("one container override") };
        container
            .environment()
            .iter()
            .map(|kv| (kv.name().unwrap_or_default().to_owned(), kv.value().unwrap_or_default().to_owned()))
            .collect()
    }

    async fn tasks_started_for(&self, job_id: &str) -> usize {
        let listed =
            self.ecs.list_tasks().cluster(&self.launch.cluster).started_by(job_id).send().await.expect("list tasks");
        listed.task_arns().len()
    }

    /// Plays Fargate: the runner binary with exactly the task's environment, nothing else.
    async fn run_task(&self, job_id: &str) {
        let env = self.task_environment(job_id).await;
        let status = tokio::process::Command::new(binary("gavel-runner"))
            .env_clear()
            .env("PATH", gavel_core::language::TOOLCHAIN_PATH)
            .envs(env)
            .status()
            .await
            .expect("run the runner");
        assert!(status.success(), "the runner failed: {status}");
    }

    /// The S3 ObjectCreated event for a job's report, from the shipped fixture.
    fn report_written(&self, job_id: &str) -> Value {
        let id: gavel_core::JobId = job_id.parse().expect("a job id");
        let mut event = fixture_json("s3-report-written.json");
        event["Records"][0]["s3"]["bucket"]["name"] = json!(self.bucket);
        event["Records"][0]["s3"]["object"]["key"] = json!(keys::report(&id));
        event
    }

    /// Every step of the pipeline for one job, to its result; also the SQS event delivered.
    async fn judge(&self, request: Value) -> (String, Value, SqsEvent) {
        let job_id = self.submit(request).await;
        assert_eq!(self.result(&job_id).await["status"], "pending");
        let (event, response) = self.deliver().await;
        assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
        assert_eq!(self.result(&job_id).await["status"], "running");
        self.run_task(&job_id).await;
        let handled = gavel_complete::handle(&self.complete, self.report_written(&job_id)).await.expect("complete");
        assert_eq!(handled.len(), 1);
        let view = self.result(&job_id).await;
        assert_eq!(view["status"], "completed", "{view}");
        (job_id, view, event)
    }
}

fn fixture_json(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).expect("a JSON fixture")
}

fn verdicts(view: &Value) -> Vec<&str> {
    view["tests"].as_array().expect("tests").iter().map(|t| t["verdict"].as_str().expect("verdict")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn python_job_through_the_whole_pipeline_and_duplicates_change_nothing() {
    let stack = Stack::new().await;
    let (job_id, view, delivered) = stack
        .judge(json!({
            "language": "py",
            "code": "a, b = map(int, input().split())\nprint(a + b)",
            "tests": [
                {"name": "sample", "input": "1 2\n", "expected_output": "3\n"},
                {"input": "5 7\n", "expected_output": "13\n", "hidden": true},
            ],
        }))
        .await;
    assert_eq!(verdicts(&view), ["accepted", "wrong_answer"], "{view}");
    assert_eq!(view["summary"], json!({"passed": 1, "total": 2}));
    assert!(view["tests"][1].get("input").is_none() && view["tests"][1].get("expected_output").is_none());
    assert_eq!(view["tests"][0]["stdout"], "3\n");

    // At-least-once delivery: the same SQS event and the same S3 event again.
    let response = gavel_dispatch::handle(&stack.dispatch, delivered).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(stack.tasks_started_for(&job_id).await, 1, "a finished job is not started again");
    let again = gavel_complete::handle(&stack.complete, stack.report_written(&job_id)).await.expect("complete");
    assert_eq!(again, [(job_id.parse().expect("id"), gavel_core::job::Transition::AlreadyTerminal)]);
    assert_eq!(stack.result(&job_id).await, view, "one result, unchanged");
}

#[tokio::test(flavor = "multi_thread")]
async fn cpp_job_and_a_failing_program_through_the_whole_pipeline() {
    let stack = Stack::new().await;
    let (_, view, _) = stack
        .judge(json!({
            "language": "c++",
            "code": "#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a * b << '\\n'; }",
            "tests": [{"input": "6 7\n", "expected_output": "42\n"}, {"input": "-3 3\n", "expected_output": "-9\n"}],
        }))
        .await;
    assert_eq!(view["verdict"], "accepted", "{view}");
    assert_eq!(view["compile"]["exit_code"], 0);

    let (_, view, _) = stack.judge(json!({"language": "cpp", "code": "int main() { return missing; }"})).await;
    assert_eq!(view["verdict"], "compilation_error", "{view}");
    assert!(view["compile"]["output"].as_str().expect("compiler output").contains("missing"), "{view}");

    let (_, view, _) = stack.judge(json!({"language": "python", "code": "raise SystemExit(4)"})).await;
    assert_eq!(view["verdict"], "runtime_error", "{view}");
    assert_eq!(view["tests"][0]["exit_code"], 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_stopped_without_a_report_fails_the_job_with_its_reason() {
    let stack = Stack::new().await;
    let job_id = stack.submit(json!({"language": "python", "code": "print(1)"})).await;
    stack.deliver().await;
    assert_eq!(stack.tasks_started_for(&job_id).await, 1);

    let mut stopped = fixture_json("ecs-task-stopped.json");
    stopped["detail"]["startedBy"] = json!(job_id);
    stopped["detail"]["stoppedReason"] = json!("OutOfMemoryError: Container killed due to memory usage");
    let handled = gavel_complete::handle(&stack.complete, stopped.clone()).await.expect("complete");
    assert_eq!(handled.len(), 1);
    let view = stack.result(&job_id).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert!(view["error"].as_str().expect("an error").contains("OutOfMemoryError"), "{view}");

    // The same event again: the job stays as it is.
    gavel_complete::handle(&stack.complete, stopped).await.expect("complete");
    assert_eq!(stack.result(&job_id).await, view);
}

/// RunTask answers ThrottlingException: the record goes back to the queue as a batch item
/// failure, the job is not failed, and the next delivery starts it.
#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_run_task_is_a_batch_item_failure() {
    let stack = Stack::new().await;
    let job_id = stack.submit(json!({"language": "python", "code": "print(1)"})).await;

    let throttled_sdk = sdk().await.into_builder().endpoint_url(throttling_ecs_endpoint().await).build();
    let throttled = gavel_dispatch::Ports {
        launcher: Arc::new(EcsTaskLauncher::new(gavel_aws::ecs_client(&throttled_sdk), stack.launch.clone())),
        ..stack.dispatch.clone()
    };
    let received = stack.sqs.receive_message().queue_url(&stack.queue_url).send().await.expect("receive");
    let [message] = received.messages() else { panic!("one message") };
    let event: SqsEvent = serde_json::from_value(json!({"Records": [{
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "eventSource": "aws:sqs",
    }]}))
    .expect("an SQS event");
    let response = gavel_dispatch::handle(&throttled, event.clone()).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, [message.message_id().expect("id")]);
    assert_ne!(stack.result(&job_id).await["status"], "failed");

    // Delivered again once RunTask answers: the job starts.
    let response = gavel_dispatch::handle(&stack.dispatch, event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(stack.tasks_started_for(&job_id).await, 1);
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
        {"messageId": "poison-2", "eventSource": "aws:sqs"},
    ]}))
    .expect("an SQS event");
    let response = gavel_dispatch::handle(&stack.dispatch, event).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["poison-1", "poison-2"]);
    assert_eq!(stack.tasks_started_for(&job_id).await, 1);
    assert_eq!(stack.result(&job_id).await["status"], "running");
}

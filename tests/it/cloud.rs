//! The whole cloud pipeline on an AWS emulator (moto), with the real handlers of the three
//! functions: `POST /execute` through the API handler → SQS → the dispatch handler → RunTask →
//! this test plays Fargate, running `gavel-runner` with exactly that task's environment →
//! the report in S3 → the complete handler → `GET /result` through the API handler.
//!
//! Every accepted job ends `completed` or `failed`, once: `dispatch` (retries, poison, the last
//! receive, redeliveries), `given_up` (the dead-letter queue, failed completions), `submit` (a
//! full queue writes nothing, a job that cannot be queued leaves no blobs).

mod checkers;
mod dispatch;
pub mod gateway;
mod given_up;
mod interactors;
mod problems;
mod submit;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, DesiredStatus, KeyValuePair, NetworkMode};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use axum::body::Body;
use gavel_aws::{
    DynamoJobStore, EcsLaunchConfig, EcsTaskLauncher, RedriveConfig, S3BlobStore, SqsJobQueue, ToolchainsConfig,
};
use gavel_core::JobId;
use gavel_core::ServerLimits;
use gavel_core::ports::{BlobStore, JobMessage, JobQueue, JobStore, keys};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::contract::aws::{ec2_first, sdk, unique};
use crate::harness::binary;

/// The jobs queue's `maxReceiveCount`, as the template's default `MaxReceiveCount`.
const MAX_RECEIVES: u32 = 3;

/// One Gavel stack on the emulator: its own table, bucket, queues, cluster and task definitions.
struct Stack {
    api: gavel_api::App,
    dispatch: gavel_dispatch::Ports,
    complete: gavel_complete::Ports,
    redrive: RedriveConfig,
    store: Arc<dyn JobStore>,
    blobs: Arc<dyn BlobStore>,
    sqs: aws_sdk_sqs::Client,
    ecs: aws_sdk_ecs::Client,
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    queue_url: String,
    dead_letter_url: String,
    complete_failures_url: String,
    bucket: String,
    launch: EcsLaunchConfig,
    toolchains: ToolchainsConfig,
}

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
        // As the template: the jobs queue dead-letters after MAX_RECEIVES receives.
        let dead_letter_url = create_queue(&sqs, "dlq", &[]).await;
        let dead_letter_arn = queue_arn(&sqs, &dead_letter_url).await;
        let redrive = json!({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": MAX_RECEIVES.to_string()});
        let queue_url = create_queue(&sqs, "queue", &[(QueueAttributeName::RedrivePolicy, redrive.to_string())]).await;
        let complete_failures_url = create_queue(&sqs, "complete-failures", &[]).await;
        let cluster = unique("cluster");
        ecs.create_cluster().cluster_name(&cluster).send().await.expect("create the cluster");
        let family_prefix = format!("{}-", unique("runner"));
        // Every language, as the template has a task definition for each.
        for language in gavel_core::language::catalogue().iter().map(|language| language.id) {
            // As the template's task definitions; moto answers RunTask with a 500 unless
            // containers have their own `memory`.
            let container = ContainerDefinition::builder()
                .name("runner")
                .image(format!("gavel-runner-{language}"))
                .memory(512)
                .environment(KeyValuePair::builder().name("GAVEL_ISOLATION").value("container").build())
                .environment(KeyValuePair::builder().name("RUST_LOG").value("warn").build());
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

        let store: Arc<dyn JobStore> = Arc::new(DynamoJobStore::new(dynamodb.clone(), &table));
        let blobs: Arc<dyn BlobStore> = Arc::new(S3BlobStore::new(s3.clone(), &bucket, Duration::from_secs(3600)));
        let dispatch = gavel_dispatch::Ports {
            store: store.clone(),
            blobs: blobs.clone(),
            launcher: Arc::new(EcsTaskLauncher::new(ecs.clone(), launch.clone())),
        };
        let complete = gavel_complete::Ports::new(store.clone(), blobs.clone(), &callbacks_to_loopback())
            .expect("the complete ports");
        let toolchains = toolchains().await;
        let api = api((&store, &blobs, &toolchains), Arc::new(SqsJobQueue::new(sqs.clone(), &queue_url, None)));
        Stack {
            api,
            dispatch,
            complete,
            redrive: RedriveConfig { max_receives: MAX_RECEIVES },
            store,
            blobs,
            sqs,
            ecs,
            s3,
            dynamodb,
            table,
            queue_url,
            dead_letter_url,
            complete_failures_url,
            bucket,
            launch,
            toolchains,
        }
    }

    /// This stack with the API function in front of another queue.
    fn with_queue(mut self, queue: Arc<dyn JobQueue>) -> Stack {
        self.api = api((&self.store, &self.blobs, &self.toolchains), queue);
        self
    }

    /// An API Gateway proxy event for the API function, from the shipped fixture.
    async fn call_api(&self, method: &str, path_and_query: &str, body: Option<&Value>) -> (u16, Value) {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
        let body = body.map(|body| body.to_string()).unwrap_or_default();
        let event = gateway::rest_event(method, path, query, &headers, &body.into());
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
        self.deliver_to(&self.dispatch, 30).await
    }

    /// [`Stack::deliver`] to dispatch over `ports`; a failed record is visible again after
    /// `visibility` seconds.
    async fn deliver_to(&self, ports: &gavel_dispatch::Ports, visibility: i32) -> (SqsEvent, SqsBatchResponse) {
        let received = self.receive(&self.queue_url, visibility).await;
        let event = sqs_event(&received, "sqs-dispatch.json");
        let response = gavel_dispatch::handle(ports, &self.redrive, event.clone()).await;
        self.settle(&self.queue_url, &received, &response).await;
        (event, response)
    }

    /// Up to ten messages of a queue, with the attributes Lambda passes on (the receive count).
    async fn receive(&self, queue_url: &str, visibility: i32) -> Vec<Message> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(visibility)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive messages");
        received.messages().to_vec()
    }

    /// What Lambda's event source does with a batch's answer: deletes what did not fail.
    async fn settle(&self, queue_url: &str, received: &[Message], response: &SqsBatchResponse) {
        for message in received {
            let failed =
                response.batch_item_failures.iter().any(|f| Some(f.item_identifier.as_str()) == message.message_id());
            if !failed {
                let handle = message.receipt_handle().expect("a receipt handle");
                self.sqs.delete_message().queue_url(queue_url).receipt_handle(handle).send().await.expect("delete");
            }
        }
    }

    /// The environment of the runner task RunTask recorded for a job: its task definition's
    /// container environment, then the container overrides, as ECS gives it to the container.
    async fn task_environment(&self, job_id: &str) -> Vec<(String, String)> {
        let cluster = &self.launch.cluster;
        let listed = self.ecs.list_tasks().cluster(cluster).started_by(job_id).send().await.expect("list tasks");
        let [arn] = listed.task_arns() else { panic!("one task for {job_id}: {:?}", listed.task_arns()) };
        let described = self.ecs.describe_tasks().cluster(cluster).tasks(arn).send().await.expect("describe");
        let [task] = described.tasks() else { panic!("one task described") };
        let definition = self
            .ecs
            .describe_task_definition()
            .task_definition(task.task_definition_arn().expect("a task definition"))
            .send()
            .await
            .expect("describe the task definition");
        let definition = definition.task_definition().expect("a task definition");
        let [defined] = definition.container_definitions() else { panic!("one container defined") };
        let overrides = task.overrides().expect("container overrides");
        let [container] = overrides.container_overrides() else { panic!("one container override") };
        let mut env = BTreeMap::new();
        for kv in defined.environment().iter().chain(container.environment()) {
            env.insert(kv.name().unwrap_or_default().to_owned(), kv.value().unwrap_or_default().to_owned());
        }
        env.into_iter().collect()
    }

    /// The tasks started for a job, running or stopped (ECS lists only running ones unless asked).
    async fn tasks_started_for(&self, job_id: &str) -> usize {
        let mut tasks = 0;
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let listed = self.ecs.list_tasks().cluster(&self.launch.cluster).started_by(job_id).desired_status(status);
            tasks += listed.send().await.expect("list tasks").task_arns().len();
        }
        tasks
    }

    /// Plays Fargate: the runner binary with exactly the task's environment, nothing else.
    async fn run_task(&self, job_id: &str) {
        let env = self.task_environment(job_id).await;
        assert!(env.contains(&("GAVEL_ISOLATION".into(), "container".into())), "{env:?}");
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

    /// What Fargate and S3 do for a dispatched job: the task runs, its report lands, and the
    /// complete function hears of it.
    async fn finish_task(&self, job_id: &str) -> Result<(), String> {
        self.run_task(job_id).await;
        let answer = gavel_complete::respond(&self.complete, MAX_RECEIVES, self.report_written(job_id)).await;
        answer.map(drop).map_err(|err| format!("complete failed: {err}"))
    }

    /// [`Stack::judge`] for each problem of a table, checking its result.
    async fn judge_all(&self, problems: &[crate::harness::Judged]) {
        for problem in problems {
            let (_, view, _) = self.judge((problem.request)()).await;
            assert_eq!(view["status"], "completed", "{}: {view}", problem.name);
            (problem.check)(&view);
        }
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

/// The API function over the stack's store and blobs, in front of `queue`.
fn api(stack: Ports<'_>, queue: Arc<dyn JobQueue>) -> gavel_api::App {
    let (store, blobs, toolchains) = stack;
    let ports = gavel_api::Ports { store: store.clone(), blobs: blobs.clone(), queue };
    gavel_api::app(ports, ServerLimits::default(), toolchains.languages(), callbacks_to_loopback())
}

/// The Judge0 settings of the stack: its callbacks may reach the test's receiver on loopback.
fn callbacks_to_loopback() -> gavel_http::Judge0Config {
    gavel_http::Judge0Config { callbacks_allow_private: true, ..gavel_http::Judge0Config::default() }
}

/// What the API function is built over: the stack's store, blobs and toolchain labels.
type Ports<'a> = (&'a Arc<dyn JobStore>, &'a Arc<dyn BlobStore>, &'a ToolchainsConfig);

/// The toolchain labels of the stack's runner images, as `build-images.sh --push` gives them to
/// the API: this machine's toolchains, which the test's tasks run with (probed once).
async fn toolchains() -> ToolchainsConfig {
    static LABELS: tokio::sync::OnceCell<ToolchainsConfig> = tokio::sync::OnceCell::const_new();
    let probe = || async {
        let probed = gavel_local::probe_languages().await.into_iter();
        let labels = probed.filter_map(|status| Some((status.language.id.to_owned(), status.version?))).collect();
        ToolchainsConfig { labels }
    };
    LABELS.get_or_init(probe).await.clone()
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, what: &str, attributes: &[(QueueAttributeName, String)]) -> String {
    let mut create = sqs.create_queue().queue_name(unique(what));
    for (name, value) in attributes {
        create = create.attributes(name.clone(), value);
    }
    create.send().await.expect("create a queue").queue_url().expect("a queue URL").to_owned()
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    let answer = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("the queue's attributes");
    answer.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).expect("a queue ARN").clone()
}

/// The SQS event Lambda's event source makes of received messages, in the shape of the
/// fixture `template` (its first record), with each message's own ids, body and attributes.
fn sqs_event(messages: &[Message], template: &str) -> SqsEvent {
    let template = fixture_json(template)["Records"][0].clone();
    let records: Vec<Value> = messages
        .iter()
        .map(|message| {
            let mut record = template.clone();
            record["messageId"] = json!(message.message_id());
            record["receiptHandle"] = json!(message.receipt_handle());
            record["body"] = json!(message.body());
            record["md5OfBody"] = json!(message.md5_of_body());
            let attributes: BTreeMap<&str, &str> = message
                .attributes()
                .into_iter()
                .flatten()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            record["attributes"] = json!(attributes);
            record
        })
        .collect();
    serde_json::from_value(json!({"Records": records})).expect("an SQS event")
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
    let response = gavel_dispatch::handle(&stack.dispatch, &stack.redrive, delivered).await;
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

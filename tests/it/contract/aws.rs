//! The contract suites against the AWS adapters, on a moto server (the AWS emulator), plus what
//! only the AWS adapters do: presigned URLs a plain HTTP client can use, the DynamoDB item and
//! TTL, the SQS message, and ECS RunTask.
//!
//! Start moto with `infra/scripts/moto.sh start` and export the endpoint it prints as
//! `GAVEL_TEST_AWS_ENDPOINT` (`scripts/test-all` does both). Every check makes its own table,
//! queue, bucket or cluster, so checks run in parallel and leave each other alone.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, DesiredStatus, NetworkMode};
use chrono::{SubsecRound, Utc};
use gavel_aws::{DynamoJobStore, EcsLaunchConfig, EcsTaskLauncher, S3BlobStore, SqsJobQueue};
use gavel_core::job::{JobId, JobRecord};
use gavel_core::ports::{
    BlobError, BlobStore, JobMessage, JobQueue, JobStore, LaunchError, RunnerTask, TaskLauncher, Unavailable, keys,
};

use super::{blob_store, blob_store_contract, contract_tests, eventually, job_queue, job_store, job_store_contract};

const ENDPOINT_VAR: &str = "GAVEL_TEST_AWS_ENDPOINT";

/// The emulator's endpoint. Never a silent skip: without it these checks fail and say why.
pub(crate) fn endpoint() -> String {
    match std::env::var(ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint.trim().to_owned(),
        _ => panic!(
            "{ENDPOINT_VAR} is not set: the AWS adapter checks need a moto server. Run \
             `infra/scripts/moto.sh start`, then `export {ENDPOINT_VAR}=http://127.0.0.1:5055` \
             (the URL it prints); `scripts/test-all` does both"
        ),
    }
}

/// Dummy credentials and a fixed region, set on the config, never in the process environment;
/// the functions' HTTP client (the SDK is built without a default one).
pub(crate) async fn sdk() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "gavel-tests"))
        .http_client(gavel_aws::http_client())
        .endpoint_url(endpoint())
        .load()
        .await
}

/// A fresh name for a table, queue, bucket or cluster: lowercase, short enough for any of them.
pub(crate) fn unique(what: &str) -> String {
    format!("gavel-{what}-{}", uuid::Uuid::new_v4().simple())
}

/// One id from moto's EC2 (its default VPC), by the EC2 query API: RunTask checks that the
/// subnets and security groups exist, and an EC2 SDK only for this is not worth its weight.
pub(crate) async fn ec2_first(action_and_filters: &str, tag: &str) -> String {
    let body = crate::harness::http_client()
        .post(format!("{}/", endpoint()))
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("{action_and_filters}&Version=2016-11-15"))
        .send()
        .await
        .expect("EC2 query")
        .text()
        .await
        .expect("EC2 answer");
    let open = format!("<{tag}>");
    let start = body.find(&open).unwrap_or_else(|| panic!("no {tag} in {body}")) + open.len();
    let end = body[start..].find('<').expect("a closing tag") + start;
    body[start..end].to_owned()
}

async fn store() -> (String, DynamoJobStore) {
    let client = gavel_aws::dynamodb_client(&sdk().await);
    let table = unique("jobs");
    gavel_aws::create_table(&client, &table).await.expect("create the jobs table");
    (table.clone(), DynamoJobStore::new(client, table))
}

async fn queue(capacity: Option<u64>) -> (aws_sdk_sqs::Client, SqsJobQueue) {
    let client = gavel_aws::sqs_client(&sdk().await);
    let created = client.create_queue().queue_name(unique("queue")).send().await.expect("create a queue");
    let url = created.queue_url().expect("a queue URL").to_owned();
    (client.clone(), SqsJobQueue::new(client, url, capacity))
}

async fn blobs() -> (String, S3BlobStore) {
    let client = gavel_aws::s3_client(&sdk().await);
    let bucket = unique("blobs");
    client.create_bucket().bucket(&bucket).send().await.expect("create a bucket");
    (bucket.clone(), S3BlobStore::new(client, bucket, Duration::from_secs(900)))
}

mod dynamo_job_store {
    use super::*;

    job_store_contract!(store().await);

    /// The table's TTL deletes by `expires_at`, in epoch seconds.
    #[tokio::test]
    async fn items_carry_the_ttl_attribute_in_seconds() {
        let (table, store) = store().await;
        let client = gavel_aws::dynamodb_client(&sdk().await);
        let ttl = client.describe_time_to_live().table_name(&table).send().await.expect("describe TTL");
        let ttl = ttl.time_to_live_description().expect("a TTL description");
        assert_eq!(
            (ttl.attribute_name(), ttl.time_to_live_status()),
            (Some("expires_at"), Some(&TimeToLiveStatus::Enabled))
        );

        let now = Utc::now().trunc_subsecs(0);
        let record = JobRecord::pending(JobId::new(), "python", now);
        store.create(&record).await.expect("create");
        let item = client
            .get_item()
            .table_name(&table)
            .key("job_id", AttributeValue::S(record.id.to_string()))
            .send()
            .await
            .expect("get item");
        let item = item.item().expect("the item");
        assert_eq!(item.get("expires_at"), Some(&AttributeValue::N(record.expires_at.timestamp().to_string())));
        assert_eq!(item.get("status"), Some(&AttributeValue::S("pending".into())));
    }

    #[tokio::test]
    async fn a_missing_table_is_unavailable() {
        let store = DynamoJobStore::new(gavel_aws::dynamodb_client(&sdk().await), unique("missing"));
        let err = store.get(&JobId::new(), Utc::now()).await.expect_err("no table");
        assert_eq!(err.service, "job store");
        assert!(err.message.contains("ResourceNotFoundException") && err.message.len() < 300, "{err}");
    }
}

mod sqs_job_queue {
    use super::*;

    contract_tests!(job_queue, queue(None).await, [enqueue_counts_in_depth]);

    #[tokio::test]
    async fn refuses_beyond_capacity() {
        let (_client, queue) = queue(Some(3)).await;
        job_queue::refuses_beyond_capacity(&queue, 3).await;
    }

    /// The dispatch Lambda reads exactly the `JobMessage` JSON.
    #[tokio::test]
    async fn messages_are_the_job_message_json() {
        let (client, queue) = queue(None).await;
        let job_id = JobId::new();
        let message =
            JobMessage { bundle_key: keys::bundle(&job_id), job_id, language: "cpp".into(), judge_data_key: None };
        queue.enqueue(&message).await.expect("enqueue");
        let received = eventually("the message", || async {
            let answer = client.receive_message().queue_url(queue.queue_url()).send().await.ok()?;
            answer.messages().first().and_then(|m| m.body()).map(str::to_owned)
        })
        .await;
        assert_eq!(serde_json::from_str::<JobMessage>(&received).expect("JobMessage JSON"), message);
    }

    #[tokio::test]
    async fn a_missing_queue_is_unavailable() {
        let (_client, queue) = queue(None).await;
        let missing = format!("{}-missing", queue.queue_url());
        let missing = SqsJobQueue::new(gavel_aws::sqs_client(&sdk().await), missing, Some(10));
        assert!(matches!(missing.depth().await, Err(Unavailable { service: "job queue", .. })));
        let job_id = JobId::new();
        let message =
            JobMessage { bundle_key: keys::bundle(&job_id), job_id, language: "cpp".into(), judge_data_key: None };
        assert!(missing.enqueue(&message).await.is_err());
    }
}

mod s3_blob_store {
    use super::*;

    blob_store_contract!(blobs().await);

    /// What the runner does: GET the bundle and PUT the report with nothing but the URLs.
    #[tokio::test]
    async fn presigned_urls_work_with_a_plain_http_client() {
        let (_bucket, blobs) = blobs().await;
        let http = crate::harness::http_client();
        let job = JobId::new();
        let (bundle, report) = (keys::bundle(&job), keys::report(&job));
        let bundle_bytes: Vec<u8> = (0..=255).cycle().take(70_000).collect();
        blobs.put(&bundle, bundle_bytes.clone()).await.expect("put");

        let read_url = blobs.read_url(&bundle).await.expect("read url");
        let fetched = http.get(&read_url).send().await.expect("GET");
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.bytes().await.expect("body").to_vec(), bundle_bytes);

        assert!(!blobs.exists(&report).await.expect("exists"), "no report yet");
        let write_url = blobs.write_url(&report).await.expect("write url");
        let report_bytes = br#"{"job_id":"...","tests":[]}"#.to_vec();
        let put = http
            .put(&write_url)
            .header(reqwest::header::CONTENT_LENGTH, report_bytes.len())
            .body(report_bytes.clone())
            .send()
            .await
            .expect("PUT");
        assert!(put.status().is_success(), "PUT answered {}", put.status());
        assert!(blobs.exists(&report).await.expect("exists"));
        assert_eq!(blobs.get(&report, 1 << 20).await, Ok(Some(report_bytes)));

        let missing = http.get(blobs.read_url(&keys::report(&JobId::new())).await.expect("url")).send().await;
        assert_eq!(missing.expect("GET").status(), 404);
    }

    #[tokio::test]
    async fn a_missing_bucket_is_unavailable() {
        let blobs = S3BlobStore::new(gavel_aws::s3_client(&sdk().await), unique("missing"), Duration::from_secs(60));
        let err = blobs.get("jobs/x/report.json", 1 << 20).await.expect_err("no bucket");
        let BlobError::Unavailable(err) = err else { panic!("{err} is not unavailable") };
        assert_eq!(err.service, "blob store");
        assert!(err.message.contains("NoSuchBucket") && err.message.len() < 300, "{err}");
        assert!(blobs.put("jobs/x/report.json", b"x".to_vec()).await.is_err());
    }
}

mod ecs_task_launcher {
    use super::*;

    struct Ecs {
        client: aws_sdk_ecs::Client,
        launcher: EcsTaskLauncher,
    }

    /// A cluster and a Fargate task definition `<prefix>python` with the container `runner`.
    async fn ecs() -> Ecs {
        let client = gavel_aws::ecs_client(&sdk().await);
        let cluster = unique("cluster");
        client.create_cluster().cluster_name(&cluster).send().await.expect("create cluster");
        let family_prefix = format!("{}-", unique("runner"));
        // moto answers RunTask with a 500 unless containers have their own `memory`.
        let container = ContainerDefinition::builder().name("runner").image("gavel-runner-python").memory(512).build();
        client
            .register_task_definition()
            .family(format!("{family_prefix}python"))
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(NetworkMode::Awsvpc)
            .cpu("256")
            .memory("512")
            .container_definitions(container)
            .send()
            .await
            .expect("register the task definition");
        let subnet = ec2_first("Action=DescribeSubnets", "subnetId").await;
        let group =
            ec2_first("Action=DescribeSecurityGroups&Filter.1.Name=group-name&Filter.1.Value.1=default", "groupId")
                .await;
        let config = EcsLaunchConfig {
            cluster,
            subnets: vec![subnet],
            security_groups: vec![group],
            family_prefix,
            container: "runner".into(),
            assign_public_ip: false,
        };
        Ecs { client: client.clone(), launcher: EcsTaskLauncher::new(client, config) }
    }

    fn task(language: &str) -> RunnerTask {
        let job_id = JobId::new();
        RunnerTask {
            bundle_url: format!("http://127.0.0.1:5055/bucket/{}?X-Amz-Signature=a", keys::bundle(&job_id)),
            report_url: format!("http://127.0.0.1:5055/bucket/{}?X-Amz-Signature=b", keys::report(&job_id)),
            judge_data_url: None,
            job_id,
            language: language.into(),
        }
    }

    #[tokio::test]
    async fn launch_runs_one_fargate_task_with_only_the_runner_variables() {
        let Ecs { client, launcher } = ecs().await;
        let task = task("python");
        launcher.launch(&task).await.expect("launch");

        let cluster = &launcher.config().cluster;
        let listed =
            client.list_tasks().cluster(cluster).started_by(task.job_id.as_str()).send().await.expect("list tasks");
        let [arn] = listed.task_arns() else { panic!("one task, got {:?}", listed.task_arns()) };
        let described = client.describe_tasks().cluster(cluster).tasks(arn).send().await.expect("describe tasks");
        let [started] = described.tasks() else { panic!("one task described") };
        assert_eq!(started.started_by(), Some(task.job_id.as_str()));
        assert_eq!(started.launch_type().map(|t| t.as_str()), Some("FARGATE"));
        let family = format!("{}python", launcher.config().family_prefix);
        assert!(started.task_definition_arn().is_some_and(|arn| arn.contains(&family)), "{started:?}");

        let overrides = started.overrides().expect("overrides");
        let [container] = overrides.container_overrides() else { panic!("one container override") };
        assert_eq!(container.name(), Some("runner"));
        let mut env: Vec<(&str, &str)> =
            container.environment().iter().map(|kv| (kv.name().unwrap_or(""), kv.value().unwrap_or(""))).collect();
        env.sort();
        assert_eq!(
            env,
            [
                ("GAVEL_BUNDLE_URL", task.bundle_url.as_str()),
                ("GAVEL_JOB_ID", task.job_id.as_str()),
                ("GAVEL_REPORT_URL", task.report_url.as_str()),
            ]
        );
    }

    /// The tasks started for a job, running or stopped.
    async fn tasks_of(client: &aws_sdk_ecs::Client, cluster: &str, job_id: &JobId) -> Vec<String> {
        let mut arns = Vec::new();
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let listed = client.list_tasks().cluster(cluster).started_by(job_id.as_str()).desired_status(status);
            arns.extend(listed.send().await.expect("list tasks").task_arns().iter().cloned());
        }
        arns
    }

    /// A redelivered job (with freshly presigned URLs) is launched once: its task, running or
    /// stopped, is the job's.
    #[tokio::test]
    async fn launching_a_job_again_starts_no_second_task() {
        let Ecs { client, launcher } = ecs().await;
        let cluster = launcher.config().cluster.clone();
        let first = task("python");
        launcher.launch(&first).await.expect("launch");
        let presigned_anew = RunnerTask { bundle_url: format!("{}&again", first.bundle_url), ..first.clone() };
        for again in [&first, &presigned_anew] {
            launcher.launch(again).await.expect("launch again");
        }
        let tasks = tasks_of(&client, &cluster, &first.job_id).await;
        let [arn] = &tasks[..] else { panic!("one task: {tasks:?}") };

        client.stop_task().cluster(&cluster).task(arn).send().await.expect("stop the task");
        launcher.launch(&presigned_anew).await.expect("launch after the stop");
        assert_eq!(&tasks_of(&client, &cluster, &first.job_id).await, &tasks, "the same task");

        let other = task("python");
        launcher.launch(&other).await.expect("another job");
        assert_eq!(tasks_of(&client, &cluster, &other.job_id).await.len(), 1, "another job gets its own task");
    }

    #[tokio::test]
    async fn a_language_without_a_task_definition_fails_for_good() {
        let Ecs { launcher, .. } = ecs().await;
        let err = launcher.launch(&task("cobol")).await.expect_err("no such task definition");
        assert!(matches!(err, LaunchError::Fatal(_)), "{err}");
    }

    #[tokio::test]
    async fn a_missing_cluster_fails_for_good() {
        let Ecs { client, launcher } = ecs().await;
        let config = EcsLaunchConfig { cluster: unique("missing"), ..launcher.config().clone() };
        let err = EcsTaskLauncher::new(client, config).launch(&task("python")).await.expect_err("no such cluster");
        assert!(matches!(err, LaunchError::Fatal(_)), "{err}");
    }
}

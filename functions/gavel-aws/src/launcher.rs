//! Starts the runner as one ECS Fargate task per job. `launch` returns once ECS accepted the
//! task; the report (or the task's stop) arrives later as an event for the complete Lambda.
//!
//! A job's message can be delivered more than once (at-least-once SQS, a dispatch that timed out
//! after RunTask), and each delivery must not start another task. Two guards, because neither is
//! enough alone: RunTask's `clientToken` is the job id, so ECS itself refuses a second task for
//! it, also when two deliveries race (but only within ECS's idempotency window, and emulators
//! ignore the token); and before RunTask, `ListTasks(startedBy = job id)` finds a task an earlier
//! delivery started, running or stopped (ECS lists stopped tasks for about an hour).

use async_trait::async_trait;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::operation::run_task::{RunTaskError, RunTaskOutput};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, DesiredStatus, KeyValuePair, LaunchType,
    NetworkConfiguration, TaskOverride,
};
use gavel_core::ports::{LaunchError, RunnerTask, TaskLauncher};
use tracing::{debug, info, warn};

use crate::EcsLaunchConfig;
use crate::describe;

/// ECS caps the JSON of a RunTask's container overrides at 8192 characters.
pub const MAX_OVERRIDES_CHARS: usize = 8192;
/// ECS caps `startedBy` at 36 characters: a job id (a UUID) fits exactly, and so within the 64
/// of `clientToken`, which is the job id too.
const MAX_STARTED_BY: usize = 36;

/// The runner's environment: the job and its presigned URLs (the third only for a job with a
/// custom checker), nothing else (no credentials).
const JOB_ID: &str = "GAVEL_JOB_ID";
const BUNDLE_URL: &str = "GAVEL_BUNDLE_URL";
const REPORT_URL: &str = "GAVEL_REPORT_URL";
const JUDGE_DATA_URL: &str = "GAVEL_JUDGE_DATA_URL";

/// The ECS [`TaskLauncher`]: `RunTask` on Fargate of the language's task definition family
/// (`family_prefix` + language id, latest active revision), `startedBy` and `clientToken` = the
/// job id. A task this job already has counts as launched (see the module docs).
///
/// Throttling, missing capacity, server errors and timeouts are [`LaunchError::Retryable`] (the
/// message goes back to the queue); invalid parameters, a missing task definition or cluster and
/// denied access are [`LaunchError::Fatal`] (the job fails).
#[derive(Debug, Clone)]
pub struct EcsTaskLauncher {
    client: aws_sdk_ecs::Client,
    config: EcsLaunchConfig,
}

impl EcsTaskLauncher {
    pub fn new(client: aws_sdk_ecs::Client, config: EcsLaunchConfig) -> EcsTaskLauncher {
        EcsTaskLauncher { client, config }
    }

    pub fn config(&self) -> &EcsLaunchConfig {
        &self.config
    }

    /// The task definition family that runs `language`.
    pub fn task_family(&self, language: &str) -> Result<String, LaunchError> {
        let family = format!("{}{language}", self.config.family_prefix);
        let valid = !language.is_empty()
            && family.len() <= 255
            && family.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if valid {
            Ok(family)
        } else {
            Err(LaunchError::Fatal(format!("no task definition family can be named {family:?}")))
        }
    }

    fn overrides(&self, task: &RunnerTask) -> Result<TaskOverride, LaunchError> {
        let mut environment =
            vec![(JOB_ID, task.job_id.as_str()), (BUNDLE_URL, &task.bundle_url), (REPORT_URL, &task.report_url)];
        environment.extend(task.judge_data_url.as_deref().map(|url| (JUDGE_DATA_URL, url)));
        let size = overrides_chars(&self.config.container, &environment);
        if size > MAX_OVERRIDES_CHARS {
            return Err(LaunchError::Fatal(format!(
                "the runner's container overrides take {size} characters, over ECS's {MAX_OVERRIDES_CHARS} \
                 (are the presigned URLs signed with a very long session token?)"
            )));
        }
        let container = ContainerOverride::builder()
            .name(&self.config.container)
            .set_environment(Some(
                environment
                    .iter()
                    .map(|(name, value)| KeyValuePair::builder().name(*name).value(*value).build())
                    .collect(),
            ))
            .build();
        Ok(TaskOverride::builder().container_overrides(container).build())
    }

    fn network(&self) -> Result<NetworkConfiguration, LaunchError> {
        let public_ip = if self.config.assign_public_ip { AssignPublicIp::Enabled } else { AssignPublicIp::Disabled };
        let awsvpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(self.config.subnets.clone()))
            .set_security_groups(Some(self.config.security_groups.clone()))
            .assign_public_ip(public_ip)
            .build()
            .map_err(|err| LaunchError::Fatal(format!("network configuration: {err}")))?;
        Ok(NetworkConfiguration::builder().awsvpc_configuration(awsvpc).build())
    }

    /// The task an earlier delivery started for this job, if ECS lists one. ListTasks shows only
    /// tasks whose desired status is RUNNING unless asked (PENDING never matches: ECS never sets
    /// it as a desired status), so both RUNNING and STOPPED are asked. When ListTasks fails, the
    /// client token still guards RunTask.
    async fn existing_task(&self, job_id: &str) -> Option<String> {
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let listed = self
                .client
                .list_tasks()
                .cluster(&self.config.cluster)
                .started_by(job_id)
                .desired_status(status)
                .send()
                .await;
            match listed {
                Ok(listed) => {
                    if let Some(arn) = listed.task_arns().first() {
                        return Some(arn.clone());
                    }
                }
                Err(err) => {
                    warn!(job_id, error = %describe(&err), "ListTasks failed; RunTask's client token guards the launch");
                    return None;
                }
            }
        }
        None
    }
}

#[async_trait]
impl TaskLauncher for EcsTaskLauncher {
    async fn launch(&self, task: &RunnerTask) -> Result<(), LaunchError> {
        let family = self.task_family(&task.language)?;
        let started_by = task.job_id.as_str();
        if started_by.len() > MAX_STARTED_BY {
            return Err(LaunchError::Fatal(format!("startedBy {started_by:?} is over {MAX_STARTED_BY} characters")));
        }
        if let Some(task_arn) = self.existing_task(started_by).await {
            info!(job_id = %task.job_id, %family, task_arn, "runner task already started for this job");
            return Ok(());
        }
        let answer = self
            .client
            .run_task()
            .cluster(&self.config.cluster)
            .task_definition(&family)
            .launch_type(LaunchType::Fargate)
            .count(1)
            .started_by(started_by)
            .client_token(started_by)
            .network_configuration(self.network()?)
            .overrides(self.overrides(task)?)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            // This job's token was used by an earlier RunTask (with other presigned URLs): that
            // request's task is this job's.
            Err(err) if is_conflict(err.code()) => {
                info!(job_id = %task.job_id, %family, error = %describe(&err), "runner task already started for this job");
                return Ok(());
            }
            Err(err) => {
                let classified = classify_error(&err);
                warn!(job_id = %task.job_id, %family, error = %classified, "RunTask refused");
                return Err(classified);
            }
        };
        match started(&answer) {
            Ok(task_arn) => {
                info!(job_id = %task.job_id, %family, task_arn, "runner task started");
                Ok(())
            }
            Err(classified) => {
                warn!(job_id = %task.job_id, %family, error = %classified, "RunTask started no task");
                Err(classified)
            }
        }
    }
}

/// The task RunTask started, or why it started none.
fn started(answer: &RunTaskOutput) -> Result<&str, LaunchError> {
    if let Some(task) = answer.tasks().first() {
        let failures = answer.failures().len();
        if failures > 0 {
            debug!(failures, "RunTask started a task and reported failures");
        }
        return Ok(task.task_arn().unwrap_or("(no arn)"));
    }
    let Some(failure) = answer.failures().first() else {
        return Err(LaunchError::Retryable("RunTask started no task and gave no reason".into()));
    };
    let reason = failure.reason().unwrap_or("no reason given");
    let message = match failure.detail() {
        Some(detail) => format!("RunTask failed: {reason} ({detail})"),
        None => format!("RunTask failed: {reason}"),
    };
    Err(if retryable_reason(reason) { LaunchError::Retryable(message) } else { LaunchError::Fatal(message) })
}

/// The characters of the overrides' JSON, as ECS counts them against [`MAX_OVERRIDES_CHARS`].
fn overrides_chars(container: &str, environment: &[(&str, &str)]) -> usize {
    let environment: Vec<serde_json::Value> =
        environment.iter().map(|(name, value)| serde_json::json!({"name": name, "value": value})).collect();
    serde_json::json!({"containerOverrides": [{"name": container, "environment": environment}]})
        .to_string()
        .chars()
        .count()
}

fn classify_error(err: &SdkError<RunTaskError>) -> LaunchError {
    match err {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            classify_service_error(context.err().code(), status, context.err().message(), describe(err))
        }
        // The request never reached ECS, or its answer was lost or garbled: try again.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            LaunchError::Retryable(format!("RunTask: {}", describe(err)))
        }
        // The request could not even be built: retrying builds it the same way.
        SdkError::ConstructionFailure(_) => LaunchError::Fatal(format!("RunTask: {}", describe(err))),
        _ => LaunchError::Retryable(format!("RunTask: {}", describe(err))),
    }
}

/// ECS's answer to a `clientToken` already used by a RunTask with other parameters.
fn is_conflict(code: Option<&str>) -> bool {
    code == Some("ConflictException")
}

/// Error codes that mean "slow down".
const THROTTLING: [&str; 6] = [
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
];

/// An error ECS answered: throttling and its own failures are worth a retry, the rest is ours
/// (invalid parameters, no such task definition or cluster, access denied) and is not.
fn classify_service_error(code: Option<&str>, status: u16, message: Option<&str>, full: String) -> LaunchError {
    let retryable = code.is_some_and(|code| THROTTLING.contains(&code) || code == "ServerException")
        || status == 429
        || status >= 500
        || message.is_some_and(retryable_reason);
    if retryable {
        LaunchError::Retryable(format!("RunTask: {full}"))
    } else {
        LaunchError::Fatal(format!("RunTask: {full}"))
    }
}

/// RunTask failure reasons (and messages) that pass: no capacity in the zone, a resource
/// shortage (`RESOURCE:CPU`, `RESOURCE:MEMORY`, `RESOURCE:ENI`, …), a concurrency quota, a rate.
fn retryable_reason(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    reason.starts_with("resource:")
        || [
            "capacity is unavailable",
            "insufficient capacity",
            "limit on the number of tasks",
            "rate exceeded",
            "throttl",
            "try again",
            "timeout",
            "timed out",
        ]
        .iter()
        .any(|phrase| reason.contains(phrase))
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::error::ConnectorError;
    use aws_sdk_ecs::types::{Failure, Task};
    use gavel_core::job::JobId;

    use super::*;

    fn launcher() -> EcsTaskLauncher {
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .build();
        EcsTaskLauncher::new(
            aws_sdk_ecs::Client::from_conf(config),
            EcsLaunchConfig {
                cluster: "gavel".into(),
                subnets: vec!["subnet-1".into()],
                security_groups: vec!["sg-1".into()],
                family_prefix: "gavel-runner-".into(),
                container: "runner".into(),
                assign_public_ip: false,
            },
        )
    }

    fn task(url_len: usize) -> RunnerTask {
        RunnerTask {
            job_id: JobId::new(),
            language: "python".into(),
            bundle_url: format!("https://b.s3.amazonaws.com/k?{}", "x".repeat(url_len)),
            report_url: format!("https://b.s3.amazonaws.com/r?{}", "y".repeat(url_len)),
            judge_data_url: None,
        }
    }

    fn is_retryable(err: &LaunchError) -> bool {
        matches!(err, LaunchError::Retryable(_))
    }

    #[test]
    fn families_are_prefix_and_language() {
        assert_eq!(launcher().task_family("python"), Ok("gavel-runner-python".into()));
        assert_eq!(launcher().task_family("cpp"), Ok("gavel-runner-cpp".into()));
        for bad in ["", "c#", "../x", "py thon"] {
            assert!(matches!(launcher().task_family(bad), Err(LaunchError::Fatal(_))), "{bad}");
        }
    }

    #[test]
    fn overrides_carry_exactly_the_three_variables() {
        let task = task(100);
        let overrides = launcher().overrides(&task).expect("overrides");
        let [container] = overrides.container_overrides() else { panic!("one container override") };
        assert_eq!(container.name(), Some("runner"));
        let env: Vec<(&str, &str)> =
            container.environment().iter().map(|kv| (kv.name().unwrap_or(""), kv.value().unwrap_or(""))).collect();
        assert_eq!(
            env,
            [
                ("GAVEL_JOB_ID", task.job_id.as_str()),
                ("GAVEL_BUNDLE_URL", task.bundle_url.as_str()),
                ("GAVEL_REPORT_URL", task.report_url.as_str())
            ]
        );
        assert!(container.command().is_empty() && overrides.task_role_arn().is_none());
    }

    #[test]
    fn oversized_overrides_fail_for_good() {
        // Presigned URLs with a session token are ~1.5 KB each: far within the limit.
        assert!(launcher().overrides(&task(2_000)).is_ok());
        let err = launcher().overrides(&task(4_100)).expect_err("over 8192 characters");
        assert!(matches!(&err, LaunchError::Fatal(message) if message.contains("8192")), "{err}");
    }

    #[test]
    fn the_size_counts_the_json_ecs_sees() {
        let size = overrides_chars("runner", &[("A", "b")]);
        let json = r#"{"containerOverrides":[{"environment":[{"name":"A","value":"b"}],"name":"runner"}]}"#;
        assert_eq!(size, json.len());
        assert_eq!(overrides_chars("runner", &[("A", "\"")]), json.len() + 1, "escapes count");
    }

    #[test]
    fn throttling_and_server_errors_are_retried() {
        let retry = |code: Option<&str>, status, message: Option<&str>| {
            is_retryable(&classify_service_error(code, status, message, "x".into()))
        };
        assert!(retry(Some("ThrottlingException"), 400, Some("Rate exceeded")));
        assert!(retry(Some("ThrottlingException"), 400, None));
        assert!(retry(None, 429, None));
        assert!(retry(Some("ServerException"), 500, Some("Service unavailable")));
        assert!(retry(None, 503, None));
        assert!(retry(Some("ClientException"), 400, Some("Capacity is unavailable at this time. Please try again.")));
        assert!(!retry(Some("InvalidParameterException"), 400, Some("No Fargate configuration exists")));
        assert!(!retry(Some("ClientException"), 400, Some("TaskDefinition not found.")));
        assert!(!retry(Some("ClusterNotFoundException"), 400, Some("Cluster not found.")));
        assert!(!retry(Some("AccessDeniedException"), 400, Some("not authorized to perform ecs:RunTask")));
        assert!(!retry(Some("PlatformTaskDefinitionIncompatibilityException"), 400, None));
    }

    #[test]
    fn a_used_client_token_is_a_conflict() {
        assert!(is_conflict(Some("ConflictException")));
        assert!(!is_conflict(Some("ClientException")) && !is_conflict(None));
    }

    #[test]
    fn transport_failures_are_retried_and_construction_failures_are_not() {
        let timeout: SdkError<RunTaskError> = SdkError::timeout_error("operation timed out");
        assert!(is_retryable(&classify_error(&timeout)));
        let refused = ConnectorError::io(Box::new(std::io::Error::other("connection refused")));
        assert!(is_retryable(&classify_error(&SdkError::dispatch_failure(refused))));
        let slow = ConnectorError::timeout(Box::new(std::io::Error::other("slow")));
        assert!(is_retryable(&classify_error(&SdkError::dispatch_failure(slow))));
        let unbuildable: SdkError<RunTaskError> = SdkError::construction_failure("no region");
        assert!(matches!(classify_error(&unbuildable), LaunchError::Fatal(_)));
    }

    fn answer(failures: &[(&str, Option<&str>)]) -> RunTaskOutput {
        let failures = failures
            .iter()
            .map(|(reason, detail)| Failure::builder().reason(*reason).set_detail(detail.map(str::to_owned)).build());
        RunTaskOutput::builder().set_failures(Some(failures.collect())).build()
    }

    #[test]
    fn failure_reasons_are_classified() {
        for reason in [
            "Capacity is unavailable at this time. Please try again later or in a different availability zone",
            "RESOURCE:CPU",
            "RESOURCE:MEMORY",
            "RESOURCE:ENI",
            "You've reached the limit on the number of tasks you can run concurrently",
        ] {
            assert!(matches!(started(&answer(&[(reason, None)])), Err(LaunchError::Retryable(_))), "{reason}");
        }
        for reason in ["MISSING", "ATTRIBUTE", "INACTIVE", "AGENT"] {
            let err = started(&answer(&[(reason, Some("details"))])).expect_err("no task");
            assert!(matches!(&err, LaunchError::Fatal(m) if m.contains(reason) && m.contains("details")), "{err}");
        }
        assert!(matches!(started(&answer(&[])), Err(LaunchError::Retryable(_))), "nothing at all");
    }

    #[test]
    fn a_started_task_is_success_even_with_failures() {
        let output = RunTaskOutput::builder()
            .tasks(Task::builder().task_arn("arn:aws:ecs:task/1").build())
            .failures(Failure::builder().reason("RESOURCE:CPU").build())
            .build();
        assert_eq!(started(&output), Ok("arn:aws:ecs:task/1"));
    }
}

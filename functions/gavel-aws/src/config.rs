//! Typed configuration, read once at cold start. The names are the ones `template.yaml` sets.
//!
//! Each port has its own config with its own `from_env`, so a binary reads (and requires) only
//! what it uses: the API needs the job store, blob store and queue; dispatch the job store,
//! blob store and launcher; complete the job store and blob store. [`AwsConfig`] gathers them.

use std::collections::BTreeMap;
use std::time::Duration;

use gavel_core::ServerLimits;
use gavel_core::language::{self, LanguageStatus};

/// The environment variables.
pub mod vars {
    pub const JOBS_TABLE: &str = "GAVEL_JOBS_TABLE";
    pub const BUCKET: &str = "GAVEL_BUCKET";
    pub const PRESIGN_SECONDS: &str = "GAVEL_PRESIGN_SECONDS";
    pub const QUEUE_URL: &str = "GAVEL_QUEUE_URL";
    pub const QUEUE_CAPACITY: &str = "GAVEL_QUEUE_CAPACITY";
    pub const CLUSTER: &str = "GAVEL_CLUSTER";
    pub const SUBNETS: &str = "GAVEL_SUBNETS";
    pub const SECURITY_GROUPS: &str = "GAVEL_SECURITY_GROUPS";
    pub const TASK_FAMILY_PREFIX: &str = "GAVEL_TASK_FAMILY_PREFIX";
    pub const RUNNER_CONTAINER: &str = "GAVEL_RUNNER_CONTAINER";
    pub const ASSIGN_PUBLIC_IP: &str = "GAVEL_ASSIGN_PUBLIC_IP";
    pub const MAX_RECEIVES: &str = "GAVEL_MAX_RECEIVES";
    pub const JOB_OUTPUT_MAX_KB: &str = "GAVEL_JOB_OUTPUT_MAX_KB";
    pub const TOOLCHAINS: &str = "GAVEL_TOOLCHAINS";
}

/// How long presigned URLs stay valid by default: the report PUT must outlive the task's start
/// (30–45 s on Fargate) plus the whole job.
pub const DEFAULT_PRESIGN_SECONDS: u64 = 3600;
/// SigV4 presigned URLs live at most seven days.
pub const MAX_PRESIGN_SECONDS: u64 = 7 * 24 * 3600;
pub const DEFAULT_RUNNER_CONTAINER: &str = "runner";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the environment variable {0} is not set (or empty)")]
    Missing(&'static str),
    #[error("the environment variable {name}={value:?} is invalid: {reason}")]
    Invalid { name: &'static str, value: String, reason: String },
}

/// Where variables come from: the process environment, or a map in tests.
trait Source {
    /// The trimmed value; an empty one counts as unset.
    fn get(&self, name: &'static str) -> Option<String>;

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    fn parsed<T>(
        &self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(name)
            .map(|value| parse(&value).map_err(|reason| ConfigError::Invalid { name, value, reason }))
            .transpose()
    }
}

impl<F: Fn(&str) -> Option<String>> Source for F {
    fn get(&self, name: &'static str) -> Option<String> {
        self(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// [`crate::DynamoJobStore`]: `GAVEL_JOBS_TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStoreConfig {
    pub table: String,
}

impl JobStoreConfig {
    pub fn from_env() -> Result<JobStoreConfig, ConfigError> {
        JobStoreConfig::read(&env)
    }

    fn read(source: &impl Source) -> Result<JobStoreConfig, ConfigError> {
        Ok(JobStoreConfig { table: source.required(vars::JOBS_TABLE)? })
    }
}

/// [`crate::S3BlobStore`]: `GAVEL_BUCKET`, `GAVEL_PRESIGN_SECONDS` (default 3600).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobStoreConfig {
    pub bucket: String,
    pub presign_expiry: Duration,
}

impl BlobStoreConfig {
    pub fn from_env() -> Result<BlobStoreConfig, ConfigError> {
        BlobStoreConfig::read(&env)
    }

    fn read(source: &impl Source) -> Result<BlobStoreConfig, ConfigError> {
        let seconds = source
            .parsed(vars::PRESIGN_SECONDS, |value| {
                let seconds: u64 = value.parse().map_err(|_| "not a whole number of seconds".to_owned())?;
                if (1..=MAX_PRESIGN_SECONDS).contains(&seconds) {
                    Ok(seconds)
                } else {
                    Err(format!("presigned URLs live from 1 to {MAX_PRESIGN_SECONDS} seconds"))
                }
            })?
            .unwrap_or(DEFAULT_PRESIGN_SECONDS);
        Ok(BlobStoreConfig { bucket: source.required(vars::BUCKET)?, presign_expiry: Duration::from_secs(seconds) })
    }
}

/// [`crate::SqsJobQueue`]: `GAVEL_QUEUE_URL`, `GAVEL_QUEUE_CAPACITY` (optional: unbounded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub queue_url: String,
    pub capacity: Option<u64>,
}

impl QueueConfig {
    pub fn from_env() -> Result<QueueConfig, ConfigError> {
        QueueConfig::read(&env)
    }

    fn read(source: &impl Source) -> Result<QueueConfig, ConfigError> {
        let capacity = source.parsed(vars::QUEUE_CAPACITY, |value| match value.parse::<u64>() {
            Ok(0) | Err(_) => Err("expected a positive whole number of jobs".to_owned()),
            Ok(capacity) => Ok(capacity),
        })?;
        Ok(QueueConfig { queue_url: source.required(vars::QUEUE_URL)?, capacity })
    }
}

/// [`crate::EcsTaskLauncher`]: `GAVEL_CLUSTER`, `GAVEL_SUBNETS` and `GAVEL_SECURITY_GROUPS`
/// (comma-separated, at least one each), `GAVEL_TASK_FAMILY_PREFIX` (the task definition family
/// is the prefix + the language id, e.g. `gavel-runner-python`), `GAVEL_RUNNER_CONTAINER`
/// (default `runner`), `GAVEL_ASSIGN_PUBLIC_IP` (default false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsLaunchConfig {
    pub cluster: String,
    pub subnets: Vec<String>,
    /// Required: the runner's egress is limited by these, never by a VPC's default group.
    pub security_groups: Vec<String>,
    pub family_prefix: String,
    /// The container of the task definition that runs the runner.
    pub container: String,
    /// Needed in public subnets without a NAT gateway, to pull the image.
    pub assign_public_ip: bool,
}

impl EcsLaunchConfig {
    pub fn from_env() -> Result<EcsLaunchConfig, ConfigError> {
        EcsLaunchConfig::read(&env)
    }

    fn read(source: &impl Source) -> Result<EcsLaunchConfig, ConfigError> {
        let list = |name| {
            let value = source.required(name)?;
            let items: Vec<String> =
                value.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect();
            if items.is_empty() {
                return Err(ConfigError::Invalid { name, value, reason: "expected comma-separated ids".into() });
            }
            Ok(items)
        };
        let assign_public_ip = source
            .parsed(vars::ASSIGN_PUBLIC_IP, |value| match value.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "enabled" => Ok(true),
                "false" | "0" | "no" | "disabled" => Ok(false),
                _ => Err("expected true or false".to_owned()),
            })?
            .unwrap_or(false);
        Ok(EcsLaunchConfig {
            cluster: source.required(vars::CLUSTER)?,
            subnets: list(vars::SUBNETS)?,
            security_groups: list(vars::SECURITY_GROUPS)?,
            family_prefix: source.required(vars::TASK_FAMILY_PREFIX)?,
            container: source.get(vars::RUNNER_CONTAINER).unwrap_or_else(|| DEFAULT_RUNNER_CONTAINER.to_owned()),
            assign_public_ip,
        })
    }
}

/// The jobs queue's redrive policy: `GAVEL_MAX_RECEIVES`, the `maxReceiveCount` after which SQS
/// moves a message to the dead-letter queue. Dispatch fails a job on its message's last receive
/// rather than let it go there silently; complete names the count when it fails a dead letter's
/// job. Required: a wrong guess would fail jobs early or leave it all to the dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedriveConfig {
    pub max_receives: u32,
}

impl RedriveConfig {
    pub fn from_env() -> Result<RedriveConfig, ConfigError> {
        RedriveConfig::read(&env)
    }

    fn read(source: &impl Source) -> Result<RedriveConfig, ConfigError> {
        let max_receives = source
            .parsed(vars::MAX_RECEIVES, |value| match value.parse::<u32>() {
                // SQS allows 1 to 1000.
                Ok(count @ 1..=1000) => Ok(count),
                _ => Err("expected the queue's maxReceiveCount, 1 to 1000".to_owned()),
            })?
            .ok_or(ConfigError::Missing(vars::MAX_RECEIVES))?;
        Ok(RedriveConfig { max_receives })
    }
}

/// The API's view of the job-wide output budget: `GAVEL_JOB_OUTPUT_MAX_KB` (optional) lowers the
/// largest `limits.job_output_kb` a request may ask for, so that the complete function, whose
/// memory is sized from it, can hold the largest report. Without it, the built-in maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    pub job_output_max_kb: Option<u64>,
}

impl LimitsConfig {
    pub fn from_env() -> Result<LimitsConfig, ConfigError> {
        LimitsConfig::read(&env)
    }

    fn read(source: &impl Source) -> Result<LimitsConfig, ConfigError> {
        let built_in = ServerLimits::default().job_output_kb;
        let job_output_max_kb = source.parsed(vars::JOB_OUTPUT_MAX_KB, |value| match value.parse::<u64>() {
            Ok(kb) if (built_in.min..=built_in.max).contains(&kb) => Ok(kb),
            _ => Err(format!("expected KiB from {} to {}", built_in.min, built_in.max)),
        })?;
        Ok(LimitsConfig { job_output_max_kb })
    }

    /// The server's limits with this maximum (and a default no larger than it).
    pub fn server_limits(&self) -> ServerLimits {
        let mut limits = ServerLimits::default();
        if let Some(max) = self.job_output_max_kb {
            let budget = &mut limits.job_output_kb;
            budget.max = max;
            budget.default = budget.default.min(max);
        }
        limits
    }
}

/// The API's `GAVEL_TOOLCHAINS`: what each runner image's toolchain prints as its version (the
/// images' `dev.gavel.toolchain` labels, a JSON object by language id, which
/// `infra/scripts/build-images.sh --push` prints for `sam deploy`). The API shows them in
/// `/languages` and the rivals' APIs (Judge0's names, Piston's versions); without one a
/// language is shown without its version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolchainsConfig {
    pub labels: BTreeMap<String, String>,
}

impl ToolchainsConfig {
    pub fn from_env() -> Result<ToolchainsConfig, ConfigError> {
        ToolchainsConfig::read(&env)
    }

    fn read(source: &impl Source) -> Result<ToolchainsConfig, ConfigError> {
        let labels = source.parsed(vars::TOOLCHAINS, |value| {
            let labels: BTreeMap<String, String> =
                serde_json::from_str(value).map_err(|err| format!("expected a JSON object of strings: {err}"))?;
            match labels.keys().find(|id| language::catalogue().iter().all(|language| language.id != id.as_str())) {
                Some(unknown) => Err(format!("{unknown:?} is not a language id")),
                None => Ok(labels),
            }
        })?;
        Ok(ToolchainsConfig { labels: labels.unwrap_or_default() })
    }

    /// Every catalogue language, each with its runner image and task definition in the stack.
    pub fn languages(&self) -> Vec<LanguageStatus> {
        let version = |id: &str| self.labels.get(id).cloned();
        language::catalogue()
            .iter()
            .map(|language| LanguageStatus { language, available: true, version: version(language.id) })
            .collect()
    }
}

/// Everything, for a binary that wants one value: the job store and blob store are required,
/// the queue is read when `GAVEL_QUEUE_URL` is set and the launcher when `GAVEL_CLUSTER` is.
/// [`AwsConfig::queue`] and [`AwsConfig::launch`] tell a binary that needs one which variable
/// is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConfig {
    pub jobs: JobStoreConfig,
    pub blobs: BlobStoreConfig,
    pub queue: Option<QueueConfig>,
    pub launch: Option<EcsLaunchConfig>,
}

impl AwsConfig {
    pub fn from_env() -> Result<AwsConfig, ConfigError> {
        AwsConfig::read(&env)
    }

    fn read(source: &impl Source) -> Result<AwsConfig, ConfigError> {
        Ok(AwsConfig {
            jobs: JobStoreConfig::read(source)?,
            blobs: BlobStoreConfig::read(source)?,
            queue: source.get(vars::QUEUE_URL).map(|_| QueueConfig::read(source)).transpose()?,
            launch: source.get(vars::CLUSTER).map(|_| EcsLaunchConfig::read(source)).transpose()?,
        })
    }

    pub fn queue(&self) -> Result<&QueueConfig, ConfigError> {
        self.queue.as_ref().ok_or(ConfigError::Missing(vars::QUEUE_URL))
    }

    pub fn launch(&self) -> Result<&EcsLaunchConfig, ConfigError> {
        self.launch.as_ref().ok_or(ConfigError::Missing(vars::CLUSTER))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn source(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name: &str| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 2] = [(vars::JOBS_TABLE, "jobs"), (vars::BUCKET, "blobs")];

    fn with(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        source(&[&BASE[..], extra].concat())
    }

    #[test]
    fn the_api_and_complete_need_only_table_and_bucket() {
        let config = AwsConfig::read(&source(&BASE)).expect("config");
        assert_eq!(config.jobs.table, "jobs");
        assert_eq!(config.blobs, BlobStoreConfig { bucket: "blobs".into(), presign_expiry: Duration::from_secs(3600) });
        assert_eq!(
            (config.queue(), config.launch()),
            (Err(ConfigError::Missing(vars::QUEUE_URL)), Err(ConfigError::Missing(vars::CLUSTER)))
        );
    }

    #[test]
    fn missing_and_empty_required_variables_are_named() {
        assert_eq!(AwsConfig::read(&source(&[])), Err(ConfigError::Missing(vars::JOBS_TABLE)));
        let empty_bucket = source(&[(vars::JOBS_TABLE, "jobs"), (vars::BUCKET, " ")]);
        let err = AwsConfig::read(&empty_bucket).expect_err("empty bucket");
        assert_eq!(err, ConfigError::Missing(vars::BUCKET));
        assert!(err.to_string().contains("GAVEL_BUCKET"), "{err}");
    }

    #[test]
    fn toolchains_are_labels_by_language_id() {
        let labels = r#"{"python": "Python 3.11.2", "c": "gcc (Debian 12.2.0-14) 12.2.0"}"#;
        let config = ToolchainsConfig::read(&source(&[(vars::TOOLCHAINS, labels)])).expect("config");
        let languages = config.languages();
        let version = |id: &str| languages.iter().find(|s| s.language.id == id).and_then(|s| s.version.clone());
        assert_eq!(version("python").as_deref(), Some("Python 3.11.2"));
        assert_eq!(version("java"), None);
        assert!(languages.iter().all(|status| status.available));
        assert_eq!(ToolchainsConfig::read(&source(&[])), Ok(ToolchainsConfig::default()));
        for bad in ["python=3", r#"{"cobol": "x"}"#, r#"{"python": 3}"#] {
            let err = ToolchainsConfig::read(&source(&[(vars::TOOLCHAINS, bad)]));
            assert!(matches!(err, Err(ConfigError::Invalid { name: vars::TOOLCHAINS, .. })), "{bad}: {err:?}");
        }
    }

    #[test]
    fn the_queue_reads_its_capacity() {
        let config = AwsConfig::read(&with(&[(vars::QUEUE_URL, "http://q"), (vars::QUEUE_CAPACITY, "500")]));
        let queue = QueueConfig { queue_url: "http://q".into(), capacity: Some(500) };
        assert_eq!(config.expect("config").queue(), Ok(&queue));
        let unbounded = QueueConfig::read(&source(&[(vars::QUEUE_URL, "http://q")])).expect("config");
        assert_eq!(unbounded.capacity, None);
        for bad in ["0", "-1", "many"] {
            let err = QueueConfig::read(&source(&[(vars::QUEUE_URL, "q"), (vars::QUEUE_CAPACITY, bad)]));
            assert!(matches!(err, Err(ConfigError::Invalid { name: vars::QUEUE_CAPACITY, .. })), "{bad}: {err:?}");
        }
    }

    #[test]
    fn presign_seconds_are_bounded() {
        let read = |value| BlobStoreConfig::read(&with(&[(vars::PRESIGN_SECONDS, value)]));
        assert_eq!(read("900").map(|c| c.presign_expiry), Ok(Duration::from_secs(900)));
        for bad in ["0", "604801", "1h", "-5"] {
            assert!(matches!(read(bad), Err(ConfigError::Invalid { name: vars::PRESIGN_SECONDS, .. })), "{bad}");
        }
    }

    #[test]
    fn max_receives_are_required_and_bounded() {
        let read = |value| RedriveConfig::read(&source(&[(vars::MAX_RECEIVES, value)]));
        assert_eq!(read("3"), Ok(RedriveConfig { max_receives: 3 }));
        assert_eq!(read(" 1000 "), Ok(RedriveConfig { max_receives: 1000 }));
        for bad in ["0", "1001", "-1", "three"] {
            assert!(matches!(read(bad), Err(ConfigError::Invalid { name: vars::MAX_RECEIVES, .. })), "{bad}");
        }
        assert_eq!(RedriveConfig::read(&source(&[])), Err(ConfigError::Missing(vars::MAX_RECEIVES)));
    }

    #[test]
    fn the_output_budget_can_only_be_lowered() {
        let built_in = ServerLimits::default();
        assert_eq!(LimitsConfig::read(&source(&[])).expect("config").server_limits(), built_in);
        let lowered = LimitsConfig::read(&source(&[(vars::JOB_OUTPUT_MAX_KB, "4096")])).expect("config");
        let budget = lowered.server_limits().job_output_kb;
        assert_eq!((budget.default, budget.max), (4096, 4096), "the default fits under the maximum");
        let roomy = LimitsConfig::read(&source(&[(vars::JOB_OUTPUT_MAX_KB, "32768")])).expect("config");
        assert_eq!(roomy.server_limits().job_output_kb.default, built_in.job_output_kb.default);
        for bad in ["0", "65537", "lots"] {
            let err = LimitsConfig::read(&source(&[(vars::JOB_OUTPUT_MAX_KB, bad)]));
            assert!(matches!(err, Err(ConfigError::Invalid { name: vars::JOB_OUTPUT_MAX_KB, .. })), "{bad}");
        }
    }

    #[test]
    fn the_launcher_reads_lists_and_defaults() {
        let vars = [
            (vars::CLUSTER, "gavel"),
            (vars::SUBNETS, "subnet-a, subnet-b,"),
            (vars::SECURITY_GROUPS, "sg-1"),
            (vars::TASK_FAMILY_PREFIX, "gavel-runner-"),
        ];
        let launch = AwsConfig::read(&with(&vars)).expect("config").launch.expect("launch config");
        assert_eq!(
            launch,
            EcsLaunchConfig {
                cluster: "gavel".into(),
                subnets: vec!["subnet-a".into(), "subnet-b".into()],
                security_groups: vec!["sg-1".into()],
                family_prefix: "gavel-runner-".into(),
                container: "runner".into(),
                assign_public_ip: false,
            }
        );

        let public = EcsLaunchConfig::read(&source(&[&vars[..], &[(vars::ASSIGN_PUBLIC_IP, "TRUE")]].concat()));
        assert!(public.expect("config").assign_public_ip);
        let bad = EcsLaunchConfig::read(&source(&[&vars[..], &[(vars::ASSIGN_PUBLIC_IP, "sometimes")]].concat()));
        assert!(matches!(bad, Err(ConfigError::Invalid { name: vars::ASSIGN_PUBLIC_IP, .. })));
        let no_groups = EcsLaunchConfig::read(&source(&[&vars[..3], &[(vars::SECURITY_GROUPS, " , ")]].concat()));
        assert!(matches!(no_groups, Err(ConfigError::Invalid { name: vars::SECURITY_GROUPS, .. })));
        let partial = AwsConfig::read(&with(&[(vars::CLUSTER, "gavel")]));
        assert_eq!(partial, Err(ConfigError::Missing(vars::SUBNETS)), "a cluster without its network");
    }
}

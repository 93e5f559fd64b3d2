//! `gavel serve --launcher docker`: each job's runner in a fresh container of its language's
//! image (`<prefix><language id>:<tag>`), removed afterwards whatever happened; containers a dead
//! server left behind are reaped when the next one opens the data directory.
//!
//! A job's container has no network; a read-only root with a tmpfs `/tmp` (where the runner's
//! sandbox keeps its work dirs); memory (without swap), processes and one CPU capped by the
//! engine's cgroup from the job's limits; every capability dropped but the few the runner needs
//! to run the program as a uid of its own; `no-new-privileges`. The bundle is bind-mounted
//! read-only and the report comes back through a bind-mounted directory. Inside, the runner can
//! make neither namespaces nor cgroups (the engine's seccomp profile and the dropped capabilities
//! forbid both), so its sandbox is the degraded one (rlimits, the uid drop, a session and
//! subreaper kill) and the container is the boundary around it.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, HostConfigLogConfig, Mount, MountType,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptionsBuilder, LogsOptions, RemoveContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use gavel_core::isolation::{Isolation, IsolationLevel, IsolationPolicy};
use gavel_core::judge;
use gavel_core::language::{self, LanguageStatus};
use gavel_core::limits::{Limits, LimitsInput, ServerLimits};
use gavel_core::ports::{LaunchError, RunnerTask, TaskLauncher};
use gavel_core::runner::{Bundle, MAX_BUNDLE_BYTES, Report};
use tracing::{debug, info, warn};

use crate::LocalError;

mod handles;
mod settings;
#[cfg(test)]
mod tests;

use self::handles::{BUNDLE_MOUNT, Container, JUDGE_DATA_MOUNT, OUT_MOUNT, RunDir, remove_container};
use self::settings::{Containers, Resources};
use crate::blobs::{read_capped, write_atomically};

/// Image labels: the catalogue id the image runs, and its toolchain's version line.
pub const LANGUAGE_LABEL: &str = "dev.gavel.language";
pub const TOOLCHAIN_LABEL: &str = "dev.gavel.toolchain";
/// Container labels: the job a container runs, and the data directory of the server that made
/// it, so a restarted server finds what its predecessor left.
pub const JOB_LABEL: &str = "dev.gavel.job";
pub const SERVER_LABEL: &str = "dev.gavel.server";
/// Builds the runner images; error messages point there.
pub const BUILD_IMAGES: &str = "infra/scripts/build-images.sh";

pub const DEFAULT_IMAGE_PREFIX: &str = "gavel-";
pub const DEFAULT_IMAGE_TAG: &str = "latest";

/// How long the isolation probe may take (it runs nothing but the runner's own checks).
const PROBE_DEADLINE: Duration = Duration::from_secs(60);

/// Which image runs a language: `<prefix><language id>:<tag>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageNames {
    pub prefix: String,
    pub tag: String,
}

impl Default for ImageNames {
    fn default() -> Self {
        ImageNames { prefix: DEFAULT_IMAGE_PREFIX.to_owned(), tag: DEFAULT_IMAGE_TAG.to_owned() }
    }
}

impl ImageNames {
    pub fn for_language(&self, id: &str) -> String {
        format!("{}{id}:{}", self.prefix, self.tag)
    }
}

/// The embedded [`TaskLauncher`] over the Docker Engine: one container per job, waited for,
/// then removed; the report (or its absence) decides the job, as with the process launcher.
pub struct DockerTaskLauncher {
    docker: Docker,
    images: ImageNames,
    containers: Containers,
    /// Per-job bind-mount sources, `<data dir>/docker/<job id>-<nonce>/`.
    runs: PathBuf,
    deadline: Duration,
}

impl DockerTaskLauncher {
    /// Connects to the local daemon (`DOCKER_HOST=unix://…` or the default socket), agreeing on
    /// an API version it speaks. `data_dir` must exist.
    pub async fn connect(
        images: ImageNames,
        data_dir: &Path,
        deadline: Duration,
        policy: IsolationPolicy,
    ) -> Result<DockerTaskLauncher, LocalError> {
        let unreachable = |err: DockerError| {
            LocalError::Docker(format!(
                "cannot reach the Docker daemon ({err}); is it running, and may this user use it?"
            ))
        };
        let docker = Docker::connect_with_local_defaults().map_err(unreachable)?.negotiate_version().await;
        let docker = docker.map_err(unreachable)?;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| LocalError::Io { path, source }
        };
        let data_dir = std::fs::canonicalize(data_dir).map_err(io(data_dir))?;
        let server = data_dir.to_str().ok_or_else(|| {
            LocalError::Docker(format!("the data directory {} must be a UTF-8 path", data_dir.display()))
        })?;
        // SAFETY: geteuid and getegid cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        info!(images = %images.for_language("<language>"), api = ?docker.client_version(), "docker launcher connected");
        Ok(DockerTaskLauncher {
            containers: Containers {
                server: server.to_owned(),
                policy,
                sandbox_env: std::env::vars()
                    .filter(|(name, _)| name.starts_with("GAVEL_SANDBOX_"))
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect(),
                // As root, the runner can give the program a uid of its own (see CAPABILITIES);
                // as another user it runs as that user, which owns the mounted directories, and
                // the program shares its uid (the runner then makes itself non-dumpable).
                user: format!("{uid}:{gid}"),
            },
            runs: data_dir.join("docker"),
            docker,
            images,
            deadline,
        })
    }

    /// Removes the containers and bind-mount sources a previous server on this data directory
    /// left (killed, crashed, or its daemon restarted); call it while holding the directory's
    /// lock, before any job runs. Returns how many containers were removed.
    pub async fn reap_orphans(&self) -> Result<usize, LocalError> {
        let filters = HashMap::from([("label", vec![format!("{SERVER_LABEL}={}", self.containers.server)])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let orphans = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|err| LocalError::Docker(format!("cannot list this server's containers: {err}")))?;
        for id in orphans.iter().filter_map(|c| c.id.as_deref()) {
            remove_container(&self.docker, id).await;
        }
        if !orphans.is_empty() {
            info!(containers = orphans.len(), "removed containers left by the last server");
        }
        let runs = self.runs.clone();
        tokio::task::spawn_blocking(move || {
            match std::fs::remove_dir_all(&runs) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
            std::fs::DirBuilder::new().mode(0o700).create(&runs)
        })
        .await
        .map_err(|err| LocalError::Docker(format!("clearing the containers' directories: {err}")))?
        .map_err(|source| LocalError::Io { path: self.runs.clone(), source })?;
        Ok(orphans.len())
    }

    /// The languages whose image is here (with the toolchain its label names), and the
    /// isolation a job gets: the runner's own probe, run in a container set up like a job's,
    /// plus what the container adds.
    pub async fn probe(&self) -> (Vec<LanguageStatus>, Isolation) {
        let mut languages = Vec::new();
        for lang in language::catalogue() {
            let image = self.images.for_language(lang.id);
            let status = match self.docker.inspect_image(&image).await {
                Ok(inspect) => {
                    let labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
                    let other = labels.get(LANGUAGE_LABEL).filter(|id| *id != lang.id);
                    if let Some(other) = other {
                        warn!(%image, language = lang.id, label = %other, "the image is labelled for another language");
                    }
                    LanguageStatus {
                        language: lang,
                        available: other.is_none(),
                        version: labels.get(TOOLCHAIN_LABEL).cloned(),
                    }
                }
                Err(err) => {
                    debug!(%image, %err, "no image");
                    LanguageStatus { language: lang, available: false, version: None }
                }
            };
            languages.push(status);
        }
        let isolation = match languages.iter().find(|status| status.available) {
            Some(status) => {
                let image = self.images.for_language(status.language.id);
                self.probe_isolation(&image).await.unwrap_or_else(|why| {
                    warn!(%image, %why, "cannot probe the isolation in a container");
                    self.unknown_isolation(format!("the isolation probe in {image} failed: {why}"))
                })
            }
            None => self.unknown_isolation(format!(
                "no runner image {} is present, so no job can run: build them with {BUILD_IMAGES}",
                self.images.for_language("<language>")
            )),
        };
        (languages, isolation)
    }

    async fn probe_isolation(&self, image: &str) -> Result<Isolation, String> {
        let server = ServerLimits::default();
        let limits = server.resolve(&LimitsInput::default()).map_err(|err| err.to_string())?;
        let resources = Resources::for_job(&limits, Some(&server.compile), 1, 0, 0);
        let body = self.containers.body(image, vec!["probe".to_owned()], &resources, Vec::new(), "probe");
        let container = self.create(image, body).await.map_err(|err| err.to_string())?;
        container.start().await.map_err(|err| err.to_string())?;
        let exit = tokio::time::timeout(PROBE_DEADLINE, container.wait()).await;
        let printed = container.logs(true, false).await;
        container.remove().await;
        match exit {
            Err(_) => return Err(format!("it did not finish within {PROBE_DEADLINE:?}")),
            Ok(Err(err)) => return Err(err.to_string()),
            Ok(Ok(0)) => {}
            Ok(Ok(code)) => return Err(format!("gavel-runner probe exited with {code}")),
        }
        let isolation: Isolation =
            serde_json::from_str(&printed).map_err(|err| format!("unreadable probe output ({err}): {printed:.200}"))?;
        Ok(self.containers.isolation(isolation))
    }

    /// What /health says when no runner could be asked.
    fn unknown_isolation(&self, why: String) -> Isolation {
        self.containers.isolation(Isolation::boundary(IsolationLevel::Insecure, vec![why]))
    }

    async fn create(&self, image: &str, body: ContainerCreateBody) -> Result<Container, LaunchError> {
        let options = CreateContainerOptions { name: None, platform: String::new() };
        match self.docker.create_container(Some(options), body).await {
            Ok(created) => Ok(Container { docker: self.docker.clone(), id: created.id, removed: false }),
            Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {
                Err(LaunchError::Fatal(format!("the runner image {image} is missing; build it with {BUILD_IMAGES}")))
            }
            Err(err) => Err(launch_error("creating the job's container", err)),
        }
    }
}

#[async_trait]
impl TaskLauncher for DockerTaskLauncher {
    async fn launch(&self, task: &RunnerTask) -> Result<(), LaunchError> {
        let started = Instant::now();
        let bundle_path = local_path(&task.bundle_url)?;
        let report_path = local_path(&task.report_url)?;
        let read = bundle_path.clone();
        let bundle_bytes = off_thread(move || read_capped(&read, MAX_BUNDLE_BYTES))
            .await
            .map_err(|err| LaunchError::Fatal(format!("cannot read the bundle {}: {err}", bundle_path.display())))?;
        let bundle: Bundle = serde_json::from_slice(&bundle_bytes)
            .map_err(|err| LaunchError::Fatal(format!("unreadable bundle {}: {err}", bundle_path.display())))?;
        let judge_data = match &task.judge_data_url {
            Some(url) => {
                let path = local_path(url)?;
                let read = path.clone();
                let bytes = off_thread(move || read_capped(&read, MAX_BUNDLE_BYTES)).await.map_err(|err| {
                    LaunchError::Fatal(format!("cannot read the judge data {}: {err}", path.display()))
                })?;
                Some(bytes)
            }
            None => None,
        };
        let run = RunDir::create(&self.runs, task.job_id.as_str(), &bundle_bytes, judge_data.as_deref())
            .await
            .map_err(|err| LaunchError::Fatal(format!("cannot prepare the job's directory: {err}")))?;
        let image = self.images.for_language(&task.language);
        let compiled = language::find(&bundle.language).is_some_and(|lang| lang.compile.is_some());
        let compile = compiled.then_some(&bundle.compile_limits);
        let resources = Resources::for_job(
            &bundle.limits,
            compile,
            bundle.tests.len(),
            bundle.output_budget_bytes,
            bundle_bytes.len(),
        );
        let mut cmd =
            ["--bundle", &format!("file://{BUNDLE_MOUNT}"), "--report", &format!("file://{OUT_MOUNT}/report.json")]
                .map(str::to_owned)
                .to_vec();
        if judge_data.is_some() {
            cmd.extend(["--judge-data".to_owned(), format!("file://{JUDGE_DATA_MOUNT}")]);
        }
        let body = self.containers.body(&image, cmd, &resources, run.mounts(), task.job_id.as_str());
        let container = self.create(&image, body).await?;
        let created = started.elapsed();
        container.start().await.map_err(|err| launch_error("starting the job's container", err))?;
        let exit = match tokio::time::timeout(self.deadline, container.wait()).await {
            Ok(Ok(code)) => code,
            Ok(Err(err)) => {
                container.remove().await;
                return Err(launch_error("waiting for the job's container", err));
            }
            Err(_) => {
                container.remove().await;
                warn!(job_id = %task.job_id, deadline = ?self.deadline, "the runner overran its deadline; removed");
                return Err(LaunchError::Fatal(format!("the runner did not finish within {:?}", self.deadline)));
            }
        };
        let ran = started.elapsed();
        // The report comes from a directory the container could write: no link is followed, and
        // no more is read than this job's outputs can take.
        let (written, limit) = (
            run.report(),
            judge::report_limit(&bundle, if task.judge_data_url.is_some() { judge::MAX_HELPERS } else { 0 }),
        );
        let collected = match off_thread(move || read_capped(&written, limit)).await {
            Err(err) if err.kind() == io::ErrorKind::FileTooLarge => Err(LaunchError::Fatal(format!(
                "the runner's report is larger than {limit} bytes, the most this job's outputs can take; it was not read"
            ))),
            Ok(report) => {
                let report = self.containers.annotate_report(report);
                off_thread(move || write_atomically(&report_path, &report))
                    .await
                    .map_err(|err| LaunchError::Fatal(format!("cannot store the runner's report: {err}")))
            }
            Err(err) => {
                // Runner output may quote the program's: debug only.
                let logs = container.logs(true, true).await;
                debug!(job_id = %task.job_id, exit, %err, logs, "the runner left no report");
                Ok(())
            }
        };
        container.remove().await;
        debug!(
            job_id = %task.job_id,
            exit,
            created_ms = created.as_millis(),
            ran_ms = (ran - created).as_millis(),
            removed_ms = (started.elapsed() - ran).as_millis(),
            "job container done"
        );
        collected
    }
}

/// A daemon that cannot be reached or is overloaded may do better later; what it refused will
/// be refused again.
fn launch_error(what: &str, err: DockerError) -> LaunchError {
    match err {
        DockerError::DockerResponseServerError { status_code: 429 | 503, .. }
        | DockerError::RequestTimeoutError
        | DockerError::SocketNotFoundError(_)
        | DockerError::IOError { .. }
        | DockerError::HyperLegacyError { .. }
        | DockerError::HyperResponseError { .. } => {
            LaunchError::Retryable(format!("{what}: the Docker daemon is unavailable: {err}"))
        }
        err => LaunchError::Fatal(format!("{what}: {err}")),
    }
}

/// File work of a launch, off the async threads.
async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

/// The file behind a `file://` location: the engine mounts host paths.
fn local_path(url: &str) -> Result<PathBuf, LaunchError> {
    url.strip_prefix("file://")
        .map(PathBuf::from)
        .ok_or_else(|| LaunchError::Fatal(format!("the Docker launcher needs file:// locations, not {:.80}", url)))
}

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

/// What the runner keeps of root's capabilities when the container runs as root:
/// - `SETUID`, `SETGID`: the program runs as a uid of its own, so it can neither signal the
///   runner, nor read its memory, its bundle (every test's input) or where its report goes;
/// - `CHOWN`: the work dir is given to that uid for the compile step and taken back for the
///   tests, as is each run's fresh tmp dir;
/// - `KILL`: the runner kills the program's process tree, which runs under that other uid.
///
/// Nothing else: the runner takes files back (chown first) before it lists or deletes them, so
/// it needs neither `DAC_OVERRIDE` nor `FOWNER`.
const CAPABILITIES: [&str; 4] = ["SETUID", "SETGID", "CHOWN", "KILL"];

/// Each job gets one CPU: the time limits are CPU time, and a job's wall clock is its own.
const CPU_NANOS: i64 = 1_000_000_000;
/// The runner itself, beyond the bundle and outputs it holds (see [`Resources::for_job`]).
const RUNNER_MEMORY: u64 = 64 << 20;
/// The smallest `/tmp`: the work dir, the toolchain's caches and the program's files.
const MIN_TMPFS: u64 = 64 << 20;
/// Processes beside the program's: the runner, its zygote and init, and some slack.
const PIDS_MARGIN: i64 = 8;
/// Where the bundle and the report directory appear in the container.
const BUNDLE_MOUNT: &str = "/job/bundle.json";
const OUT_MOUNT: &str = "/job/out";
/// How long the isolation probe may take (it runs nothing but the runner's own checks).
const PROBE_DEADLINE: Duration = Duration::from_secs(60);
/// How much of the runner's own log is kept for the debug log.
const LOG_CAP: usize = 64 * 1024;

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

/// What every container of this server is: whose it is and who runs in it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Containers {
    /// The canonical data directory: the [`SERVER_LABEL`] of this server's containers.
    server: String,
    /// The runner's isolation policy (`GAVEL_ISOLATION` in every container).
    policy: IsolationPolicy,
    /// The server's `GAVEL_SANDBOX_*` knobs, passed on as the process launcher does.
    sandbox_env: Vec<String>,
    /// `uid:gid` inside the container; root (with [`CAPABILITIES`]) when the server is root.
    user: String,
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

impl Containers {
    fn root(&self) -> bool {
        self.user == "0:0"
    }

    /// The runner's view plus what the container adds around it.
    fn isolation(&self, mut isolation: Isolation) -> Isolation {
        let identity = if self.root() {
            format!("runs as root with every capability dropped but {}", CAPABILITIES.join(", "))
        } else {
            format!("runs as the server's uid:gid {} without capabilities", self.user)
        };
        isolation.notes.push(format!(
            "in a Docker container of its own: no network, a read-only root filesystem with a tmpfs /tmp, \
             memory (no swap), processes and one CPU capped by the engine from the job's limits; the runner \
             {identity}; no-new-privileges"
        ));
        isolation
    }

    /// The settings every container of this server gets.
    fn body(
        &self,
        image: &str,
        cmd: Vec<String>,
        resources: &Resources,
        mounts: Vec<Mount>,
        job: &str,
    ) -> ContainerCreateBody {
        let capabilities = if self.root() { CAPABILITIES.map(str::to_owned).to_vec() } else { Vec::new() };
        ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd: Some(cmd),
            env: Some(
                std::iter::once(format!("{}={}", IsolationPolicy::ENV, self.policy))
                    .chain(self.sandbox_env.iter().cloned())
                    .collect(),
            ),
            user: Some(self.user.clone()),
            labels: Some(HashMap::from([
                (JOB_LABEL.to_owned(), job.to_owned()),
                (SERVER_LABEL.to_owned(), self.server.clone()),
            ])),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_owned()),
                memory: Some(resources.memory_bytes),
                // The same as the memory: no swap.
                memory_swap: Some(resources.memory_bytes),
                pids_limit: Some(resources.pids),
                nano_cpus: Some(CPU_NANOS),
                readonly_rootfs: Some(true),
                // The engine's default for a tmpfs is noexec; compiled programs run from here.
                tmpfs: Some(HashMap::from([(
                    "/tmp".to_owned(),
                    format!("rw,exec,nosuid,nodev,size={}", resources.tmpfs_bytes),
                )])),
                cap_drop: Some(vec!["ALL".to_owned()]),
                cap_add: Some(capabilities),
                security_opt: Some(vec!["no-new-privileges".to_owned()]),
                ipc_mode: Some("private".to_owned()),
                cgroupns_mode: Some(HostConfigCgroupnsModeEnum::PRIVATE),
                mounts: Some(mounts),
                // Removed by us once the report is collected, never by the engine before.
                auto_remove: Some(false),
                // Only the runner writes there (programs write to pipes); keep it bounded anyway.
                log_config: Some(HostConfigLogConfig {
                    typ: Some("json-file".to_owned()),
                    config: Some(HashMap::from([
                        ("max-size".to_owned(), "1m".to_owned()),
                        ("max-file".to_owned(), "1".to_owned()),
                    ])),
                }),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        }
    }

    /// The report with what the container adds to the runner's isolation; an unreadable one as
    /// it is (the complete step says what is wrong with it).
    fn annotate_report(&self, bytes: Vec<u8>) -> Vec<u8> {
        match serde_json::from_slice::<Report>(&bytes) {
            Ok(mut report) => {
                report.isolation = self.isolation(report.isolation);
                serde_json::to_vec(&report).unwrap_or(bytes)
            }
            Err(_) => bytes,
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
        let bundle_bytes = tokio::task::spawn_blocking(move || read_capped(&read, MAX_BUNDLE_BYTES))
            .await
            .map_err(io::Error::other)
            .and_then(|read| read)
            .map_err(|err| LaunchError::Fatal(format!("cannot read the bundle {}: {err}", bundle_path.display())))?;
        let bundle: Bundle = serde_json::from_slice(&bundle_bytes)
            .map_err(|err| LaunchError::Fatal(format!("unreadable bundle {}: {err}", bundle_path.display())))?;
        let run = RunDir::create(&self.runs, task.job_id.as_str(), &bundle_bytes)
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
        let cmd =
            ["--bundle", &format!("file://{BUNDLE_MOUNT}"), "--report", &format!("file://{OUT_MOUNT}/report.json")]
                .map(str::to_owned)
                .to_vec();
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
        let (written, limit) = (run.report(), judge::report_limit(&bundle));
        let report = tokio::task::spawn_blocking(move || read_capped(&written, limit)).await.map_err(io::Error::other);
        let collected = match report.and_then(|read| read) {
            Err(err) if err.kind() == io::ErrorKind::FileTooLarge => Err(LaunchError::Fatal(format!(
                "the runner's report is larger than {limit} bytes, the most this job's outputs can take; it was not read"
            ))),
            Ok(report) => {
                let report = self.containers.annotate_report(report);
                tokio::task::spawn_blocking(move || write_atomically(&report_path, &report))
                    .await
                    .map_err(io::Error::other)
                    .and_then(|written| written)
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

/// The engine's limits for one job's container, from the job's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Resources {
    memory_bytes: i64,
    tmpfs_bytes: u64,
    pids: i64,
}

impl Resources {
    /// The program gets the larger of its test and compile limits (`compile` for compiled
    /// languages; the runner enforces each run's own); `/tmp`, whose pages count against the
    /// container's memory, as much again (at least [`MIN_TMPFS`]); the runner, what it holds
    /// until the report is written (the bundle, and every captured output, at most the job's
    /// output budget, twice while encoding).
    fn for_job(
        limits: &Limits,
        compile: Option<&Limits>,
        tests: usize,
        output_budget: u64,
        bundle_bytes: usize,
    ) -> Resources {
        let largest = compile.map_or(*limits, |compile| Limits {
            memory_mb: limits.memory_mb.max(compile.memory_mb),
            processes: limits.processes.max(compile.processes),
            ..*limits
        });
        let program = largest.memory_mb << 20;
        let tmpfs = program.max(MIN_TMPFS);
        let compile_outputs = 2 * (compile.map_or(0, |c| c.output_kb) << 10);
        let test_outputs = (tests as u64).saturating_mul(2 * (limits.output_kb << 10)).min(output_budget);
        let outputs = compile_outputs + test_outputs;
        let runner = RUNNER_MEMORY + 2 * bundle_bytes as u64 + 2 * outputs;
        let memory = program.saturating_add(tmpfs).saturating_add(runner);
        Resources {
            memory_bytes: i64::try_from(memory).unwrap_or(i64::MAX),
            tmpfs_bytes: tmpfs,
            pids: i64::from(largest.processes) + PIDS_MARGIN,
        }
    }
}

/// A job's bind-mount sources: the bundle (readable by its owner only) and the directory the
/// report comes back through. Removed when dropped.
struct RunDir {
    path: PathBuf,
}

impl RunDir {
    async fn create(runs: &Path, job: &str, bundle: &[u8]) -> io::Result<RunDir> {
        let path = runs.join(format!("{job}-{}", uuid::Uuid::new_v4().simple()));
        // Owner only: as root, the program's uid cannot even look inside.
        tokio::fs::DirBuilder::new().mode(0o700).recursive(true).create(path.join("out")).await?;
        let run = RunDir { path };
        let mut file =
            tokio::fs::OpenOptions::new().write(true).create_new(true).mode(0o400).open(run.bundle()).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, bundle).await?;
        Ok(run)
    }

    fn bundle(&self) -> PathBuf {
        self.path.join("bundle.json")
    }

    fn report(&self) -> PathBuf {
        self.path.join("out").join("report.json")
    }

    fn mounts(&self) -> Vec<Mount> {
        let bind = |source: PathBuf, target: &str, read_only: bool| Mount {
            typ: Some(MountType::BIND),
            source: Some(source.to_string_lossy().into_owned()),
            target: Some(target.to_owned()),
            read_only: Some(read_only),
            ..Mount::default()
        };
        vec![bind(self.bundle(), BUNDLE_MOUNT, true), bind(self.path.join("out"), OUT_MOUNT, false)]
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.path) {
            warn!(path = %self.path.display(), %err, "cannot remove a job's container directory");
        }
    }
}

/// A created container. Removed (killed first if need be) by [`Container::remove`], or when
/// dropped: a launch abandoned midway (deadline, shutdown) leaves nothing running.
struct Container {
    docker: Docker,
    id: String,
    removed: bool,
}

impl Container {
    async fn start(&self) -> Result<(), DockerError> {
        self.docker.start_container(&self.id, None).await
    }

    /// The exit code, once the container stopped.
    async fn wait(&self) -> Result<i64, DockerError> {
        let options = WaitContainerOptions { condition: "not-running".to_owned() };
        let mut waiting = self.docker.wait_container(&self.id, Some(options));
        match waiting.next().await {
            Some(Ok(exit)) => Ok(exit.status_code),
            // bollard reports a non-zero exit as an error; for us it is an exit code.
            Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(err)) => Err(err),
            None => Err(DockerError::DockerStreamError { error: "the wait ended without an exit code".to_owned() }),
        }
    }

    /// The runner's own output (capped), lossily decoded.
    async fn logs(&self, stdout: bool, stderr: bool) -> String {
        let options = LogsOptions { stdout, stderr, ..LogsOptions::default() };
        let mut logs = self.docker.logs(&self.id, Some(options));
        let mut kept = Vec::new();
        while let Some(Ok(chunk)) = logs.next().await {
            let bytes = chunk.into_bytes();
            kept.extend_from_slice(&bytes[..bytes.len().min(LOG_CAP - kept.len())]);
            if kept.len() == LOG_CAP {
                break;
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    }

    async fn remove(mut self) {
        self.removed = true;
        remove_container(&self.docker, &self.id).await;
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (docker, id) = (self.docker.clone(), std::mem::take(&mut self.id));
            runtime.spawn(async move { remove_container(&docker, &id).await });
        }
    }
}

/// Kills and removes a container (and its anonymous volumes); one already gone is fine.
async fn remove_container(docker: &Docker, id: &str) {
    let options = RemoveContainerOptions { force: true, v: true, link: false };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
        Err(err) => warn!(container = id, %err, "cannot remove a container; the next start-up reaps it"),
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

/// The file behind a `file://` location: the engine mounts host paths.
fn local_path(url: &str) -> Result<PathBuf, LaunchError> {
    url.strip_prefix("file://")
        .map(PathBuf::from)
        .ok_or_else(|| LaunchError::Fatal(format!("the Docker launcher needs file:// locations, not {:.80}", url)))
}

#[cfg(test)]
mod tests {
    use gavel_core::job::JobId;

    use super::*;

    fn limits(memory_mb: u64, processes: u32) -> Limits {
        Limits { time_ms: 1000, wall_time_ms: 2000, memory_mb, output_kb: 1024, processes }
    }

    fn root() -> Containers {
        Containers {
            server: "/srv/gavel-data".into(),
            policy: IsolationPolicy::Container,
            sandbox_env: vec!["GAVEL_SANDBOX_NO_LANDLOCK=1".into()],
            user: "0:0".into(),
        }
    }

    #[test]
    fn images_are_named_by_prefix_language_and_tag() {
        assert_eq!(ImageNames::default().for_language("python"), "gavel-python:latest");
        let names = ImageNames { prefix: "team/gavel-".into(), tag: "v2".into() };
        assert_eq!(names.for_language("cpp"), "team/gavel-cpp:v2");
    }

    #[test]
    fn resources_follow_the_limits_and_the_compile_step_only_where_there_is_one() {
        let interpreted = Resources::for_job(&limits(128, 32), None, 2, u64::MAX, 1000);
        assert_eq!(interpreted.tmpfs_bytes, 128 << 20);
        assert_eq!(interpreted.pids, 32 + PIDS_MARGIN);
        let runner = RUNNER_MEMORY + 2000 + 2 * 2 * 2 * (1024 << 10);
        assert_eq!(interpreted.memory_bytes, i64::try_from((256 << 20) + runner).expect("fits"));

        let compiled = Resources::for_job(&limits(128, 32), Some(&limits(1024, 64)), 2, u64::MAX, 1000);
        assert_eq!(compiled.tmpfs_bytes, 1024 << 20);
        assert_eq!(compiled.pids, 64 + PIDS_MARGIN);
        assert!(compiled.memory_bytes > 2048 << 20, "{compiled:?}");

        let tiny = Resources::for_job(&limits(16, 1), None, 1, u64::MAX, 10);
        let budgeted = Resources::for_job(&limits(128, 32), None, 100, 1 << 20, 1000);
        assert_eq!(
            budgeted.memory_bytes,
            i64::try_from((256 << 20) + RUNNER_MEMORY + 2000 + 2 * (1 << 20)).expect("fits")
        );
        assert_eq!(tiny.tmpfs_bytes, MIN_TMPFS);
    }

    #[test]
    fn a_root_container_is_locked_down_but_for_the_uid_drop() {
        let resources = Resources { memory_bytes: 300 << 20, tmpfs_bytes: 100 << 20, pids: 40 };
        let body = root().body("gavel-python:latest", vec!["probe".into()], &resources, Vec::new(), "job-1");
        let host = body.host_config.expect("host config");
        assert_eq!(body.user.as_deref(), Some("0:0"));
        assert_eq!(
            body.env,
            Some(vec!["GAVEL_ISOLATION=container".to_owned(), "GAVEL_SANDBOX_NO_LANDLOCK=1".to_owned()])
        );
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!((host.memory, host.memory_swap), (Some(300 << 20), Some(300 << 20)), "no swap");
        assert_eq!((host.pids_limit, host.nano_cpus), (Some(40), Some(1_000_000_000)));
        assert_eq!(host.readonly_rootfs, Some(true));
        let tmp = host.tmpfs.expect("tmpfs")["/tmp"].clone();
        assert!(tmp.contains(",exec,") && tmp.ends_with(&format!("size={}", 100 << 20)), "{tmp}");
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(host.cap_add, Some(CAPABILITIES.map(str::to_owned).to_vec()));
        assert_eq!(host.security_opt, Some(vec!["no-new-privileges".to_owned()]));
        assert_eq!(host.auto_remove, Some(false));
        let labels = body.labels.expect("labels");
        assert_eq!((labels[JOB_LABEL].as_str(), labels[SERVER_LABEL].as_str()), ("job-1", "/srv/gavel-data"));
    }

    #[test]
    fn a_container_of_a_user_server_runs_as_that_user_without_capabilities() {
        let user = Containers { user: "1000:1000".into(), ..root() };
        let resources = Resources { memory_bytes: 1 << 30, tmpfs_bytes: 1 << 29, pids: 72 };
        let body = user.body("gavel-c:latest", Vec::new(), &resources, Vec::new(), "job-2");
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        assert_eq!(body.host_config.and_then(|h| h.cap_add), Some(Vec::new()));
        let notes =
            user.isolation(Isolation { seccomp: true, ..Isolation::boundary(IsolationLevel::Insecure, Vec::new()) });
        assert!(notes.notes[0].contains("uid:gid 1000:1000 without capabilities"), "{notes:?}");
    }

    #[test]
    fn reports_say_what_the_container_adds_and_unreadable_ones_pass_as_they_are() {
        let report = Report {
            job_id: JobId::new(),
            isolation: root().isolation(Isolation {
                seccomp: true,
                uid_drop: true,
                ..Isolation::boundary(IsolationLevel::Container, vec!["runner note".into()])
            }),
            compile: None,
            tests: Vec::new(),
            error: None,
        };
        let mut plain = report.clone();
        plain.isolation.notes.truncate(1);
        let annotated: Report =
            serde_json::from_slice(&root().annotate_report(serde_json::to_vec(&plain).expect("json"))).expect("report");
        assert_eq!(annotated, report);
        assert!(annotated.isolation.notes[1].contains("no network") && annotated.isolation.notes[1].contains("KILL"));
        assert_eq!(root().annotate_report(b"garbage".to_vec()), b"garbage");
    }

    #[test]
    fn unavailable_daemons_are_retried_refusals_are_not() {
        let busy = DockerError::DockerResponseServerError { status_code: 503, message: "busy".into() };
        assert!(matches!(launch_error("x", busy), LaunchError::Retryable(_)));
        assert!(matches!(launch_error("x", DockerError::RequestTimeoutError), LaunchError::Retryable(_)));
        let refused = DockerError::DockerResponseServerError { status_code: 400, message: "bad tmpfs".into() };
        assert!(matches!(launch_error("x", refused), LaunchError::Fatal(m) if m.contains("bad tmpfs")));
    }

    #[test]
    fn only_file_locations_can_be_mounted() {
        assert_eq!(
            local_path("file:///data/blobs/jobs/1/bundle.json"),
            Ok(PathBuf::from("/data/blobs/jobs/1/bundle.json"))
        );
        assert!(matches!(local_path("http://127.0.0.1:9000/bundle.json"), Err(LaunchError::Fatal(_))));
    }
}

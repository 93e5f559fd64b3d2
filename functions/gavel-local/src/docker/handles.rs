//! A job's bind-mount sources and its container, each removed however the launch ends.

use super::*;

/// Where the bundle, the judge data and the report directory appear in the container.
pub(super) const BUNDLE_MOUNT: &str = "/job/bundle.json";
pub(super) const JUDGE_DATA_MOUNT: &str = "/job/judge-data.json";
pub(super) const OUT_MOUNT: &str = "/job/out";

/// How much of the runner's own log is kept for the debug log.
pub(super) const LOG_CAP: usize = 64 * 1024;

/// A job's bind-mount sources: the bundle and a custom checker's judge data (each readable by
/// its owner only) and the directory the report comes back through. Removed when dropped.
pub(super) struct RunDir {
    pub(super) path: PathBuf,
    judge_data: bool,
}

impl RunDir {
    pub(super) async fn create(runs: &Path, job: &str, bundle: &[u8], judge_data: Option<&[u8]>) -> io::Result<RunDir> {
        let path = runs.join(format!("{job}-{}", uuid::Uuid::new_v4().simple()));
        // Owner only: as root, the program's uid cannot even look inside.
        tokio::fs::DirBuilder::new().mode(0o700).recursive(true).create(path.join("out")).await?;
        let run = RunDir { path, judge_data: judge_data.is_some() };
        write_new(&run.bundle(), bundle).await?;
        if let Some(judge_data) = judge_data {
            write_new(&run.judge_data(), judge_data).await?;
        }
        Ok(run)
    }

    pub(super) fn bundle(&self) -> PathBuf {
        self.path.join("bundle.json")
    }

    fn judge_data(&self) -> PathBuf {
        self.path.join("judge-data.json")
    }

    pub(super) fn report(&self) -> PathBuf {
        self.path.join("out").join("report.json")
    }

    pub(super) fn mounts(&self) -> Vec<Mount> {
        let bind = |source: PathBuf, target: &str, read_only: bool| Mount {
            typ: Some(MountType::BIND),
            source: Some(source.to_string_lossy().into_owned()),
            target: Some(target.to_owned()),
            read_only: Some(read_only),
            ..Mount::default()
        };
        let mut mounts = vec![bind(self.bundle(), BUNDLE_MOUNT, true), bind(self.path.join("out"), OUT_MOUNT, false)];
        if self.judge_data {
            mounts.push(bind(self.judge_data(), JUDGE_DATA_MOUNT, true));
        }
        mounts
    }
}

/// A file only its owner may read, made where nothing was.
async fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = tokio::fs::OpenOptions::new().write(true).create_new(true).mode(0o400).open(path).await?;
    tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await
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
pub(super) struct Container {
    pub(super) docker: Docker,
    pub(super) id: String,
    pub(super) removed: bool,
}

impl Container {
    pub(super) async fn start(&self) -> Result<(), DockerError> {
        self.docker.start_container(&self.id, None).await
    }

    /// The exit code, once the container stopped.
    pub(super) async fn wait(&self) -> Result<i64, DockerError> {
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
    pub(super) async fn logs(&self, stdout: bool, stderr: bool) -> String {
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

    pub(super) async fn remove(mut self) {
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
pub(super) async fn remove_container(docker: &Docker, id: &str) {
    let options = RemoveContainerOptions { force: true, v: true, link: false };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) | Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {}
        Err(err) => warn!(container = id, %err, "cannot remove a container; the next start-up reaps it"),
    }
}

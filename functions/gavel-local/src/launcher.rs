//! Starts the runner binary as a child process and waits for it to exit.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use gavel_core::isolation::{Isolation, IsolationPolicy};
use gavel_core::ports::{LaunchError, RunnerTask, TaskLauncher};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// Bundle limits are not known here, so the deadline only stops a runner that hangs.
pub const DEFAULT_RUNNER_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// How much of the runner's own stdout/stderr is kept for the debug log.
const LOG_CAP: u64 = 64 * 1024;

/// How much of a failed runner's last stderr line is logged.
const LAST_LINE_CHARS: usize = 500;

/// How long the runner's pipes may stay open after it exited.
const PIPE_GRACE: Duration = Duration::from_secs(1);

/// How long `gavel-runner probe` may take (it runs no program, only the sandbox's own checks).
const PROBE_DEADLINE: Duration = Duration::from_secs(60);

/// The embedded [`TaskLauncher`]: `<runner> --bundle URL --report URL` under the deployment's
/// isolation policy, and the report (or its absence) decides the job, not the exit status.
#[derive(Debug, Clone)]
pub struct ProcessTaskLauncher {
    runner: PathBuf,
    policy: IsolationPolicy,
    deadline: Duration,
}

impl ProcessTaskLauncher {
    pub fn new(runner: impl Into<PathBuf>, policy: IsolationPolicy) -> ProcessTaskLauncher {
        ProcessTaskLauncher { runner: runner.into(), policy, deadline: DEFAULT_RUNNER_DEADLINE }
    }

    /// Kills a runner still running after `deadline`.
    pub fn with_deadline(mut self, deadline: Duration) -> ProcessTaskLauncher {
        self.deadline = deadline;
        self
    }

    /// The runner, with exactly the environment a job's runner gets.
    fn command(&self) -> Command {
        let mut command = Command::new(&self.runner);
        command
            .env_clear()
            .envs(runner_env(std::env::vars_os()))
            .env(IsolationPolicy::ENV, self.policy.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Dropping the wait (deadline, shutdown) must not leave the runner behind.
            .kill_on_drop(true);
        command
    }

    /// The isolation a job's runner gets here, as `gavel-runner probe` finds it when started
    /// exactly as a job's runner is: what `/health` reports and the policy is checked against.
    pub async fn probe(&self) -> Result<Isolation, String> {
        let output = self.command().arg("probe").output();
        let output = match tokio::time::timeout(PROBE_DEADLINE, output).await {
            Err(_) => return Err(format!("gavel-runner probe did not finish within {PROBE_DEADLINE:?}")),
            Ok(Err(err)) => return Err(format!("cannot start the runner {}: {err}", self.runner.display())),
            Ok(Ok(output)) => output,
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("gavel-runner probe failed ({}): {}", output.status, stderr.trim()));
        }
        serde_json::from_slice(&output.stdout).map_err(|err| format!("unreadable gavel-runner probe output: {err}"))
    }
}

/// Only what the runner needs passes through: no secret of the server reaches it (and its
/// isolation policy is the launcher's, whatever the server's environment says).
fn runner_env(vars: impl Iterator<Item = (OsString, OsString)>) -> Vec<(OsString, OsString)> {
    vars.filter(|(name, _)| {
        name.to_str().is_some_and(|name| name == "PATH" || name == "RUST_LOG" || name.starts_with("GAVEL_SANDBOX_"))
    })
    .collect()
}

#[async_trait]
impl TaskLauncher for ProcessTaskLauncher {
    async fn launch(&self, task: &RunnerTask) -> Result<(), LaunchError> {
        let mut command = self.command();
        command.arg("--bundle").arg(&task.bundle_url).arg("--report").arg(&task.report_url);
        if let Some(answers) = &task.judge_data_url {
            command.arg("--judge-data").arg(answers);
        }
        let mut child = command
            // Its own process group, so everything it starts can be killed with it.
            .process_group(0)
            .spawn()
            .map_err(|err| LaunchError::Fatal(format!("cannot start the runner {}: {err}", self.runner.display())))?;
        let group = child.id().map(KillGroupOnDrop);
        let stdout = tokio::spawn(read_capped(child.stdout.take()));
        let stderr = tokio::spawn(read_capped(child.stderr.take()));
        let Ok(status) = tokio::time::timeout(self.deadline, child.wait()).await else {
            // Returning kills the runner and its process group.
            warn!(job_id = %task.job_id, deadline = ?self.deadline, "the runner overran its deadline; killed");
            return Err(LaunchError::Fatal(format!("the runner did not finish within {:?}", self.deadline)));
        };
        // Leftovers holding the pipes open would only delay us.
        drop(group);
        let (stdout, stderr) = (collect(stdout).await, collect(stderr).await);
        // The runner's debug log may quote the program: all of it at debug only.
        debug!(
            job_id = %task.job_id,
            ?status,
            stdout = %String::from_utf8_lossy(&stdout),
            stderr = %String::from_utf8_lossy(&stderr),
            "runner exited"
        );
        match status {
            Ok(status) if !status.success() => {
                // Its last line says why it failed (a panic, an error writing the report): at its
                // default level the runner logs nothing of the program's.
                let said = String::from_utf8_lossy(&stderr);
                let last =
                    said.trim_end().lines().last().unwrap_or("").chars().take(LAST_LINE_CHARS).collect::<String>();
                warn!(job_id = %task.job_id, %status, last, "runner exited unsuccessfully; its report decides");
                Ok(())
            }
            Ok(_) => Ok(()),
            // The child was started; not being able to reap it should not fail the job by itself.
            Err(err) => {
                warn!(job_id = %task.job_id, %err, "cannot wait for the runner");
                Ok(())
            }
        }
    }
}

/// Kills the runner's process group however `launch` ends: nothing the runner started may
/// outlive it. (The group id could only name another group if the pid were reused in the
/// instant between the runner being reaped and this kill.)
struct KillGroupOnDrop(u32);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Ok(pgid) = libc::pid_t::try_from(self.0) {
            // SAFETY: killpg only sends a signal; an empty group is ESRCH, which is fine.
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
        }
    }
}

/// A process the runner left behind may hold its pipes open: the runner's exit is what counts.
async fn collect(mut reader: JoinHandle<Vec<u8>>) -> Vec<u8> {
    match tokio::time::timeout(PIPE_GRACE, &mut reader).await {
        Ok(Ok(bytes)) => bytes,
        _ => {
            reader.abort();
            Vec::new()
        }
    }
}

/// Keeps the first `LOG_CAP` bytes and drains the rest, so a chatty runner never blocks on a
/// full pipe nor fills our memory.
async fn read_capped(stream: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    if let Some(mut stream) = stream {
        let _ = (&mut stream).take(LOG_CAP).read_to_end(&mut kept).await;
        let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
    }
    kept
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use gavel_core::job::JobId;

    use super::*;

    /// A stand-in for gavel-runner: records its arguments and environment where the report goes.
    fn script(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("runner.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn task(dir: &Path) -> RunnerTask {
        RunnerTask {
            job_id: JobId::new(),
            language: "python".into(),
            bundle_url: format!("file://{}/bundle.json", dir.display()),
            report_url: format!("file://{}/report.json", dir.display()),
            judge_data_url: None,
        }
    }

    #[test]
    fn only_path_rust_log_and_sandbox_knobs_pass() {
        let vars = ["PATH", "RUST_LOG", "GAVEL_SANDBOX_UID", "HOME", "AWS_SECRET_ACCESS_KEY", "GAVEL_DATA_DIR"]
            .map(|name| (OsString::from(name), OsString::from("v")));
        let kept: Vec<_> = runner_env(vars.into_iter()).into_iter().map(|(name, _)| name).collect();
        assert_eq!(kept, ["PATH", "RUST_LOG", "GAVEL_SANDBOX_UID"]);
    }

    #[tokio::test]
    async fn passes_the_urls_and_a_clean_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Writes its arguments and environment to the report path (the 4th argument minus file://).
        let runner = script(dir.path(), r#"out="${4#file://}"; { echo "$@"; env; } > "$out"; echo noise >&2"#);
        let task = task(dir.path());
        ProcessTaskLauncher::new(&runner, IsolationPolicy::Container).launch(&task).await.expect("launch");
        let written = std::fs::read_to_string(dir.path().join("report.json")).expect("report");
        assert!(written.starts_with(&format!("--bundle {} --report {}\n", task.bundle_url, task.report_url)));
        assert!(written.contains("PATH="), "{written}");
        assert!(!written.contains("HOME="), "{written}");
        assert!(written.contains("GAVEL_ISOLATION=container\n"), "the launcher's policy reaches the runner: {written}");
    }

    #[tokio::test]
    async fn a_failing_runner_is_not_a_launch_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runner = script(dir.path(), "echo cannot start >&2; exit 3");
        assert_eq!(ProcessTaskLauncher::new(runner, IsolationPolicy::Full).launch(&task(dir.path())).await, Ok(()));
    }

    #[tokio::test]
    async fn a_missing_runner_is_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let launcher = ProcessTaskLauncher::new(dir.path().join("no-such-runner"), IsolationPolicy::Full);
        let err = launcher.launch(&task(dir.path())).await.expect_err("no runner");
        assert!(matches!(err, LaunchError::Fatal(ref m) if m.contains("cannot start the runner")), "{err}");
    }

    #[tokio::test]
    async fn a_hung_runner_is_killed_at_the_deadline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pid_file = dir.path().join("pid");
        // The runner's own child must die with it.
        let runner = script(dir.path(), &format!("sleep 600 & echo $! > {}; wait", pid_file.display()));
        let launcher =
            ProcessTaskLauncher::new(runner, IsolationPolicy::Full).with_deadline(Duration::from_millis(500));
        let err = launcher.launch(&task(dir.path())).await.expect_err("deadline");
        assert!(matches!(err, LaunchError::Fatal(ref m) if m.contains("did not finish")), "{err}");
        let pid = std::fs::read_to_string(&pid_file).expect("pid").trim().to_owned();
        // SIGKILL is asynchronous: the process is gone (or a zombie) shortly after.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = status.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
            if matches!(state, None | Some('Z') | Some('X')) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "runner child {pid} still alive: {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

//! What every container of a server is given: its user and capabilities, its limits from the
//! job's, its mounts, network and policy; and what it adds to the runner's isolation report.

use super::*;

/// What the runner keeps of root's capabilities when the container runs as root:
/// - `SETUID`, `SETGID`: the program runs as a uid of its own, so it can neither signal the
///   runner, nor read its memory, its bundle (every test's input) or where its report goes;
/// - `CHOWN`: the work dir is given to that uid for the compile step and taken back for the
///   tests, as is each run's fresh tmp dir;
/// - `KILL`: the runner kills the program's process tree, which runs under that other uid.
///
/// Nothing else: the runner takes files back (chown first) before it lists or deletes them, so
/// it needs neither `DAC_OVERRIDE` nor `FOWNER`.
pub(super) const CAPABILITIES: [&str; 4] = ["SETUID", "SETGID", "CHOWN", "KILL"];

/// Each job gets one CPU: the time limits are CPU time, and a job's wall clock is its own.
pub(super) const CPU_NANOS: i64 = 1_000_000_000;
/// The runner itself, beyond the bundle and outputs it holds (see [`Resources::for_job`]).
pub(super) const RUNNER_MEMORY: u64 = 64 << 20;
/// The smallest `/tmp`: the work dir, the toolchain's caches and the program's files.
pub(super) const MIN_TMPFS: u64 = 64 << 20;
/// Processes beside the program's: the runner, its zygote and init, and some slack.
pub(super) const PIDS_MARGIN: i64 = 8;

/// What every container of this server is: whose it is and who runs in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Containers {
    /// The canonical data directory: the [`SERVER_LABEL`] of this server's containers.
    pub(super) server: String,
    /// The runner's isolation policy (`GAVEL_ISOLATION` in every container).
    pub(super) policy: IsolationPolicy,
    /// The server's `GAVEL_SANDBOX_*` knobs, passed on as the process launcher does.
    pub(super) sandbox_env: Vec<String>,
    /// `uid:gid` inside the container; root (with [`CAPABILITIES`]) when the server is root.
    pub(super) user: String,
}

impl Containers {
    pub(super) fn root(&self) -> bool {
        self.user == "0:0"
    }

    /// The runner's view plus what the container adds around it.
    pub(super) fn isolation(&self, mut isolation: Isolation) -> Isolation {
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
    pub(super) fn body(
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
    pub(super) fn annotate_report(&self, bytes: Vec<u8>) -> Vec<u8> {
        match serde_json::from_slice::<Report>(&bytes) {
            Ok(mut report) => {
                report.isolation = self.isolation(report.isolation);
                serde_json::to_vec(&report).unwrap_or(bytes)
            }
            Err(_) => bytes,
        }
    }
}

/// The engine's limits for one job's container, from the job's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Resources {
    pub(super) memory_bytes: i64,
    pub(super) tmpfs_bytes: u64,
    pub(super) pids: i64,
}

impl Resources {
    /// The program gets the larger of its test and compile limits (`compile` for compiled
    /// languages; the runner enforces each run's own); `/tmp`, whose pages count against the
    /// container's memory, as much again (at least [`MIN_TMPFS`]); the runner, what it holds
    /// until the report is written (the bundle, and every captured output, at most the job's
    /// output budget, twice while encoding).
    pub(super) fn for_job(
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

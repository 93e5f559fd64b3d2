//! `gavel serve`: the HTTP router over the embedded adapters, with the worker pool.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gavel_core::isolation::IsolationPolicy;
use gavel_core::limits::ServerLimits;
use gavel_http::AppState;
use gavel_local::{Embedded, ImageNames, LauncherConfig, LocalConfig, WorkerPool};
use tokio::sync::oneshot;
use tracing::info;

/// How long a shutdown waits for running jobs before giving them back to the queue.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, env = "GAVEL_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Where jobs, the queue and blobs live (SQLite + files).
    #[arg(long, env = "GAVEL_DATA_DIR", default_value = "gavel-data")]
    pub data_dir: PathBuf,
    /// Jobs run at once (default: the number of cores).
    #[arg(long, env = "GAVEL_WORKERS")]
    pub workers: Option<usize>,
    /// Jobs waiting or running before submissions get 429.
    #[arg(long, env = "GAVEL_QUEUE_CAPACITY", default_value_t = 1000)]
    pub queue_capacity: u64,
    /// Also serve Judge0 CE's API at the root of this address (Judge0's own port is 2358), for
    /// clients configured with `http://host:2358`. It is under `/judge0/` on the main address too.
    #[arg(long, env = "GAVEL_JUDGE0_ADDR")]
    pub judge0_addr: Option<SocketAddr>,
    /// Also serve Piston's API (`/api/v2/...`, `GET /`) on this address (Piston's own port is
    /// 2000). It is under `/api/v2/` on the main address too.
    #[arg(long, env = "GAVEL_PISTON_ADDR")]
    pub piston_addr: Option<SocketAddr>,
    #[command(flatten)]
    pub launcher: LauncherArgs,
}

/// Where jobs run, for `gavel serve` and the embedded server of `gavel run`.
#[derive(Debug, Clone, clap::Args)]
pub struct LauncherArgs {
    /// `process`: the runner as a sandboxed child process. `docker`: one container per job from
    /// the language's runner image (build them with infra/scripts/build-images.sh).
    #[arg(long, env = "GAVEL_LAUNCHER", value_enum, default_value_t = LauncherKind::Process)]
    pub launcher: LauncherKind,
    /// The runner binary of the process launcher (default: gavel-runner next to this executable).
    #[arg(long, env = "GAVEL_RUNNER")]
    pub runner: Option<PathBuf>,
    /// The Docker launcher runs a language's jobs in the image <prefix><language id>:<tag>.
    #[arg(long, env = "GAVEL_IMAGE_PREFIX", default_value = gavel_local::DEFAULT_IMAGE_PREFIX)]
    pub image_prefix: String,
    /// The tag of the Docker launcher's images.
    #[arg(long, env = "GAVEL_IMAGE_TAG", default_value = gavel_local::DEFAULT_IMAGE_TAG)]
    pub image_tag: String,
    /// The least isolation a program may run under: `full` (namespaces, a cgroup and a uid of
    /// its own; the process launcher's default), `container` (the container around each job is
    /// the boundary; the Docker launcher's default) or `insecure` (a developer's own machine).
    /// The server refuses to start where it cannot be met, and says what is missing.
    #[arg(long, env = "GAVEL_ISOLATION", value_parser = parse_policy)]
    pub isolation: Option<IsolationPolicy>,
}

fn parse_policy(value: &str) -> Result<IsolationPolicy, String> {
    IsolationPolicy::parse(value).ok_or_else(|| format!("{value:?} is not one of full, container, insecure"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LauncherKind {
    Process,
    Docker,
}

impl LauncherArgs {
    /// The process launcher with `runner` (or the default one).
    pub fn process(runner: Option<PathBuf>) -> LauncherArgs {
        let images = ImageNames::default();
        LauncherArgs {
            launcher: LauncherKind::Process,
            runner,
            image_prefix: images.prefix,
            image_tag: images.tag,
            isolation: None,
        }
    }

    /// The policy asked for, or the launcher's own.
    fn policy(&self) -> IsolationPolicy {
        self.isolation.unwrap_or(match self.launcher {
            LauncherKind::Process => IsolationPolicy::Full,
            LauncherKind::Docker => IsolationPolicy::Container,
        })
    }

    fn config(self) -> anyhow::Result<LauncherConfig> {
        match self.launcher {
            LauncherKind::Process => Ok(LauncherConfig::Process { runner: runner(self.runner)? }),
            LauncherKind::Docker => {
                Ok(LauncherConfig::Docker { images: ImageNames { prefix: self.image_prefix, tag: self.image_tag } })
            }
        }
    }
}

impl ServeArgs {
    /// A throwaway server on a free loopback port, for `gavel run` and `gavel bench`.
    pub fn embedded_scratch(data_dir: &Path, runner: Option<PathBuf>) -> ServeArgs {
        ServeArgs {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_owned(),
            workers: None,
            queue_capacity: 1000,
            judge0_addr: None,
            piston_addr: None,
            launcher: LauncherArgs::process(runner),
        }
    }
}

/// A scratch directory that can be a data directory: this user's alone.
pub fn private_tempdir() -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir()
}

/// The runner binary: `given`, or gavel-runner next to this executable.
pub fn runner(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let runner = match given {
        Some(runner) => runner,
        None => std::env::current_exe().context("locating this executable")?.with_file_name("gavel-runner"),
    };
    anyhow::ensure!(
        runner.exists(),
        "the runner {} does not exist; build it (cargo build --workspace --bins) or pass --runner",
        runner.display()
    );
    Ok(runner)
}

/// A server running in this process.
pub struct RunningServer {
    /// Gavel's API first, then the rivals' listeners that were asked for.
    listeners: Vec<Listener>,
    workers: WorkerPool,
}

/// One HTTP listener of the server.
struct Listener {
    api: &'static str,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Listener {
    async fn bind(api: &'static str, addr: SocketAddr, app: axum::Router) -> anyhow::Result<Listener> {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr} ({api})"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let http = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Listener { api, addr, stop, http })
    }
}

impl RunningServer {
    pub fn base_url(&self) -> String {
        self.listeners.first().map(|listener| format!("http://{}", listener.addr)).unwrap_or_default()
    }

    /// Stops taking requests, then lets running jobs finish (or hands them back to the queue).
    pub async fn shutdown(self) {
        for listener in &self.listeners {
            info!(api = listener.api, addr = %listener.addr, "closing");
        }
        for listener in self.listeners {
            let _ = listener.stop.send(());
            if let Ok(Err(err)) = listener.http.await {
                tracing::warn!(%err, api = listener.api, "the HTTP server stopped with an error");
            }
        }
        self.workers.shutdown(SHUTDOWN_GRACE).await;
    }
}

/// Opens the data dir, probes toolchains and isolation where jobs run, and starts HTTP and the
/// workers.
pub async fn start(args: ServeArgs) -> anyhow::Result<RunningServer> {
    // Everything the server writes (the data directory, the Docker launcher's mounts) is its own.
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(0o077) };
    let policy = args.launcher.policy();
    let mut config = LocalConfig::new(&args.data_dir, args.launcher.config()?, policy);
    config.queue_capacity = args.queue_capacity;
    if let Some(workers) = args.workers {
        config.workers.workers = workers.max(1);
    }
    let services = Embedded::open(config).await.with_context(|| format!("opening {}", args.data_dir.display()))?;
    let state = AppState {
        store: services.job_store(),
        blobs: services.blob_store(),
        queue: services.job_queue(),
        limits: Arc::new(ServerLimits::default()),
        languages: services.languages.clone().into(),
        isolation: services.isolation.clone(),
        policy: services.policy,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        job_finished: Some(Arc::clone(&services.job_handled)),
        max_wait: Duration::from_secs(gavel_http::MAX_WAIT_SECS),
        judge0: Arc::new(gavel_http::Judge0Config::from_env()),
        piston: Arc::new(gavel_http::PistonConfig::from_env()),
    };
    // Judge0's callbacks go out when a job ends, without holding up the worker.
    let callbacks = gavel_http::Judge0Callbacks::new(
        services.job_store(),
        services.blob_store(),
        &state.judge0,
        gavel_http::Delivery::Background,
    )
    .context("the HTTP client for Judge0's callbacks")?;
    let mut listeners = vec![Listener::bind("gavel", args.addr, gavel_http::router(state.clone())).await?];
    if let Some(addr) = args.judge0_addr {
        listeners.push(Listener::bind("judge0", addr, gavel_http::judge0_router(state.clone())).await?);
    }
    if let Some(addr) = args.piston_addr {
        listeners.push(Listener::bind("piston", addr, gavel_http::piston_router(state)).await?);
    }
    let workers = services.start_notifying(Arc::new(callbacks));
    for listener in &listeners {
        info!(api = listener.api, addr = %listener.addr, "serving");
    }
    Ok(RunningServer { listeners, workers })
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let server = start(args).await?;
    // Tests and scripts read these lines to find the ports.
    for listener in &server.listeners {
        println!("{} listening on http://{}", listener.api, listener.addr);
    }
    shutdown_signal().await;
    info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match terminate.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = interrupt => {}
        () = terminated => {}
    }
}

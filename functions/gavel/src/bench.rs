//! `gavel bench`: the figures we promise, measured on this machine.
//! Sandbox overhead per run against bare fork+exec, end-to-end latency of a 10-test Python job,
//! and jobs per second with concurrent clients.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::client::Client;
use crate::serve::{self, ServeArgs};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Runs per program for the sandbox overhead figures.
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// 10-test jobs for the latency figure.
    #[arg(long, default_value_t = 10)]
    pub latency_jobs: usize,
    /// Jobs for the throughput figure.
    #[arg(long, default_value_t = 200)]
    pub throughput_jobs: usize,
    #[arg(long, default_value_t = 20)]
    pub clients: usize,
    /// The runner binary for the embedded server (default: next to this executable).
    #[arg(long, env = "GAVEL_RUNNER")]
    pub runner: Option<PathBuf>,
}

pub async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    println!("# sandbox overhead per run ({} runs each; medians)", args.runs);
    for argv in [&["/bin/true"][..], &["python3", "-c", "pass"][..]] {
        let runs = args.runs;
        let argv: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
        let (bare, sandboxed, setup) = overhead(&serve::runner(args.runner.clone())?, &argv, runs).await?;
        println!(
            "{:<22} bare {:>7}  sandboxed {:>7}  overhead {:>7}  (p90 bare {}, sandboxed {}; per-job setup {})",
            format!("`{}`", argv_label(&bare.argv)),
            ms(bare.median()),
            ms(sandboxed.median()),
            ms(sandboxed.median().saturating_sub(bare.median())),
            ms(bare.percentile(90)),
            ms(sandboxed.percentile(90)),
            ms(setup),
        );
    }

    let data_dir = crate::serve::private_tempdir().context("creating a scratch data dir")?;
    let server = serve::start(ServeArgs::embedded_scratch(data_dir.path(), args.runner.clone())).await?;
    let client = Client::new(&server.base_url());
    let outcome = server_figures(&client, &args).await;
    server.shutdown().await;
    outcome
}

async fn server_figures(client: &Client, args: &BenchArgs) -> anyhow::Result<()> {
    let ten_tests = json!({
        "language": "python",
        "code": "a, b = map(int, input().split())\nprint(a + b)",
        "tests": (0..10).map(|i| json!({"input": format!("{i} {i}\n"), "expected_output": format!("{}\n", 2 * i)})).collect::<Vec<_>>(),
    });
    // One warm-up job so the first figure does not pay for cold caches.
    judge(client, &ten_tests).await?;
    let mut latency = Samples::default();
    for _ in 0..args.latency_jobs {
        let started = Instant::now();
        judge(client, &ten_tests).await?;
        latency.push(started.elapsed());
    }
    println!("\n# end-to-end latency of a 10-test Python job, POST → completed ({} jobs)", args.latency_jobs);
    println!(
        "median {}  p90 {}  max {}",
        ms(latency.median()),
        ms(latency.percentile(90)),
        ms(latency.percentile(100))
    );

    let plain = json!({"language": "python", "code": "print(int(input()) + 1)", "stdin": "41\n"});
    let started = Instant::now();
    let per_client = args.throughput_jobs.div_ceil(args.clients.max(1));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let (client, plain) = (client.clone(), plain.clone());
        clients.spawn(async move {
            for _ in 0..per_client {
                judge(&client, &plain).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = clients.join_next().await {
        joined??;
    }
    let elapsed = started.elapsed();
    let jobs = per_client * args.clients;
    println!("\n# throughput: {} clients, {jobs} plain Python jobs", args.clients);
    println!("{:.1} jobs/s ({jobs} jobs in {})", jobs as f64 / elapsed.as_secs_f64(), ms(elapsed));
    Ok(())
}

async fn judge(client: &Client, request: &Value) -> anyhow::Result<()> {
    let job_id = client.submit(request).await?;
    let view = client.wait(&job_id, |_| {}).await?;
    if view["verdict"] != "accepted" {
        bail!("benchmark job {job_id} was not accepted: {view}");
    }
    Ok(())
}

/// Bare fork+exec timings, sandboxed timings, and the per-job sandbox setup (new + drop), as
/// `gavel-runner overhead` measures them where the sandbox is.
async fn overhead(
    runner: &std::path::Path,
    argv: &[String],
    runs: usize,
) -> anyhow::Result<(Samples, Samples, Duration)> {
    let output = tokio::process::Command::new(runner)
        .arg("overhead")
        .arg(runs.to_string())
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("starting {}", runner.display()))?;
    if !output.status.success() {
        bail!("gavel-runner overhead failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    let measured: Value = serde_json::from_slice(&output.stdout).context("reading gavel-runner overhead's output")?;
    let samples = |key: &str| Samples {
        argv: argv.to_vec(),
        durations: measured[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .map(Duration::from_micros)
            .collect(),
    };
    let setup = Duration::from_micros(measured["setup_us"].as_u64().unwrap_or_default());
    Ok((samples("bare_us"), samples("sandboxed_us"), setup))
}

#[derive(Default)]
struct Samples {
    argv: Vec<String>,
    durations: Vec<Duration>,
}

impl Samples {
    fn push(&mut self, duration: Duration) {
        self.durations.push(duration);
    }

    /// The nearest-rank percentile.
    fn percentile(&self, p: usize) -> Duration {
        let mut sorted = self.durations.clone();
        sorted.sort();
        let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len().max(1));
        sorted.get(rank - 1).copied().unwrap_or_default()
    }

    fn median(&self) -> Duration {
        self.percentile(50)
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

fn argv_label(argv: &[String]) -> String {
    argv.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut samples = Samples::default();
        for ms in [5, 1, 4, 2, 3] {
            samples.push(Duration::from_millis(ms));
        }
        assert_eq!(samples.median(), Duration::from_millis(3));
        assert_eq!(samples.percentile(100), Duration::from_millis(5));
        assert_eq!(samples.percentile(1), Duration::from_millis(1));
        assert_eq!(Samples::default().median(), Duration::ZERO);
    }
}

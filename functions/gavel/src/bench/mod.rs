//! `gavel bench`: the figures we promise, each against a bare baseline measured in the same run,
//! interleaved with it so both see the same machine: the sandbox's cost per run (and bwrap's,
//! where it is installed), a 10-test Python job end to end against the sum of its runs, and 200
//! CPU-bound jobs at once against the cores' bare capacity. Medians and spreads (p10–p90).

mod bare;
mod quiet;
mod stats;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use self::stats::{Samples, ms, verdict};
use crate::client::Client;
use crate::serve::{self, ServeArgs};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Runs per program for the per-run cost.
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    /// Rounds of the 10-test job (each against its runs bare).
    #[arg(long, default_value_t = 10)]
    pub latency_jobs: usize,
    /// CPU-bound jobs submitted at once for the throughput figure.
    #[arg(long, default_value_t = 200)]
    pub throughput_jobs: usize,
    /// Rounds of the throughput figure (each against a bare batch; the median of two rounds
    /// would be the faster of the two).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// The runner binary for the embedded server (default: next to this executable).
    #[arg(long, env = "GAVEL_RUNNER")]
    pub runner: Option<PathBuf>,
}

/// The per-run targets: what the sandbox may add to a bare fork+exec.
const C_TARGET: Duration = Duration::from_millis(1);
const PYTHON_TARGET: Duration = Duration::from_millis(2);
/// The 10-test job's target: at most this factor of its bare runs' sum, plus a fixed allowance.
const LATENCY_FACTOR: f64 = 1.15;
const LATENCY_ALLOWANCE: Duration = Duration::from_millis(30);
/// The throughput target, as a share of the cores' bare capacity.
const THROUGHPUT_TARGET: f64 = 0.90;

const A_PLUS_B: &str = "a, b = map(int, input().split())\nprint(a + b)";
/// About a tenth of a second of one core's work, and nothing else.
const CPU_BOUND: &str = "n = 0\nfor i in range(1_500_000):\n    n += i * i\nprint(n)";

pub async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let runner = serve::runner(args.runner.clone())?;
    println!("# the sandbox's cost per run over a bare fork+exec ({} runs each, interleaved)", args.runs);
    for (label, argv, target) in [
        ("C (`true`)", &["/bin/true"][..], C_TARGET),
        ("Python (`python3 -c pass`)", &["python3", "-c", "pass"][..], PYTHON_TARGET),
    ] {
        per_run(&runner, label, argv, args.runs, target).await?;
    }

    let data_dir = crate::serve::private_tempdir().context("creating a scratch data dir")?;
    let server = serve::start(ServeArgs::embedded_scratch(data_dir.path(), args.runner.clone())).await?;
    let client = Client::new(&server.base_url())?;
    let outcome = async {
        latency(&client, args.latency_jobs).await?;
        throughput(&client, args.throughput_jobs, args.rounds).await
    }
    .await;
    server.shutdown().await;
    outcome
}

/// `gavel-runner overhead` where the sandbox is: bare, sandboxed and (where installed) bwrap
/// runs of one program, interleaved.
async fn per_run(runner: &Path, label: &str, argv: &[&str], runs: usize, target: Duration) -> anyhow::Result<()> {
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
    let samples =
        |key: &str| measured[key].as_array().map(|v| Samples::from_micros(v.iter().filter_map(Value::as_u64)));
    let (Some(bare), Some(gavel)) = (samples("bare_us"), samples("sandboxed_us")) else {
        bail!("gavel-runner overhead gave no timings: {measured}");
    };
    let over = gavel.median().saturating_sub(bare.median());
    println!(
        "{label:<28} bare {}  gavel {}  +{} (target ≤ {}: {}; isolation {}, per-job setup {})",
        bare.spread(),
        gavel.spread(),
        ms(over),
        ms(target),
        verdict(over <= target),
        measured["isolation"].as_str().unwrap_or("?"),
        ms(Duration::from_micros(measured["setup_us"].as_u64().unwrap_or_default())),
    );
    match (samples("bwrap_us"), measured["bwrap_error"].as_str()) {
        (Some(bwrap), _) => {
            println!("{:<28} bwrap {}  +{}", "", bwrap.spread(), ms(bwrap.median().saturating_sub(bare.median())))
        }
        (None, Some(error)) => println!("{:<28} bwrap could not run: {error}", ""),
        (None, None) => {}
    }
    Ok(())
}

/// A 10-test Python A+B job, POST to completed, against the same ten runs bare, in turns.
async fn latency(client: &Client, rounds: usize) -> anyhow::Result<()> {
    let inputs: Vec<String> = (0..10).map(|i| format!("{i} {i}\n")).collect();
    let job = json!({
        "language": "python",
        "code": A_PLUS_B,
        "tests": inputs.iter().enumerate().map(|(i, input)| json!({"input": input, "expected_output": format!("{}\n", 2 * i)})).collect::<Vec<_>>(),
    });
    // One warm-up of each, so the first round does not pay for cold caches.
    judge(client, &job).await?;
    bare_sum(&inputs).await?;
    let (mut jobs, mut bares) = (Samples::default(), Samples::default());
    for _ in 0..rounds {
        bares.push(bare_sum(&inputs).await?);
        let started = Instant::now();
        judge(client, &job).await?;
        jobs.push(started.elapsed());
    }
    let target = bares.median().mul_f64(LATENCY_FACTOR) + LATENCY_ALLOWANCE;
    println!("\n# a 10-test Python A+B job, POST → completed, against its 10 runs bare ({rounds} rounds, in turns)");
    println!(
        "job {}  bare runs' sum {}  target ≤ {LATENCY_FACTOR} × bare + {} = {}: {}",
        jobs.spread(),
        bares.spread(),
        ms(LATENCY_ALLOWANCE),
        ms(target),
        verdict(jobs.median() <= target),
    );
    Ok(())
}

async fn bare_sum(inputs: &[String]) -> anyhow::Result<Duration> {
    let mut sum = Duration::ZERO;
    for input in inputs {
        sum += bare::run(&["python3", "-c", A_PLUS_B], input.as_bytes()).await?;
    }
    Ok(sum)
}

/// `count` CPU-bound jobs submitted at once, against `count` bare runs as many at a time as
/// there are cores (the server's default workers), in turns; none may be lost.
async fn throughput(client: &Client, count: usize, rounds: usize) -> anyhow::Result<()> {
    let cores = gavel_local::default_workers();
    let job = json!({"language": "python", "code": CPU_BOUND});
    judge(client, &job).await?;
    // Each batch's wall time: the rates are `count` over them (so the median rate is the median
    // time's, and the slowest batch is the lowest rate).
    let (mut gavel, mut bares) = (Samples::default(), Samples::default());
    for _ in 0..rounds {
        quiet::settle().await;
        bares.push(bare::batch(&["python3", "-c", CPU_BOUND], count, cores).await?);
        quiet::settle().await;
        let started = Instant::now();
        let mut jobs = tokio::task::JoinSet::new();
        for _ in 0..count {
            let (client, job) = (client.clone(), job.clone());
            jobs.spawn(async move { judge(&client, &job).await });
        }
        while let Some(joined) = jobs.join_next().await {
            joined??;
        }
        gavel.push(started.elapsed());
    }
    let rate = |took: Duration| count as f64 / took.as_secs_f64().max(f64::MIN_POSITIVE);
    let rates = |batches: &Samples| {
        format!(
            "{:.2} ({:.2}–{:.2})",
            rate(batches.median()),
            rate(batches.percentile(100)),
            rate(batches.percentile(1))
        )
    };
    let share = rate(gavel.median()) / rate(bares.median());
    println!(
        "\n# {count} CPU-bound Python jobs submitted at once, against {count} bare runs {cores} at a time ({rounds} rounds, in turns)"
    );
    println!(
        "gavel {} jobs/s  bare {} runs/s  {:.1} % of bare capacity (target ≥ {:.0} %: {}); every job accepted",
        rates(&gavel),
        rates(&bares),
        share * 100.0,
        THROUGHPUT_TARGET * 100.0,
        verdict(share >= THROUGHPUT_TARGET),
    );
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

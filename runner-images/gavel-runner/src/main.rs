//! `gavel-runner --bundle URL --report URL`: fetch the bundle, compile once, run every test in the
//! sandbox, write the report. `gavel-runner probe` prints the isolation this host allows;
//! `gavel-runner overhead` what the sandbox costs per run.

use std::process::ExitCode;

use anyhow::Context;
use gavel_core::isolation::IsolationPolicy;
use gavel_core::runner::Report;
use gavel_runner::{job, location};

/// The locations as a Fargate task gets them (container overrides).
const BUNDLE_VAR: &str = "GAVEL_BUNDLE_URL";
const REPORT_VAR: &str = "GAVEL_REPORT_URL";

const USAGE: &str = "usage: gavel-runner --bundle URL --report URL | gavel-runner probe
       gavel-runner overhead RUNS PROGRAM [ARG...]
  URL is file:///path or http(s)://… (a presigned S3 URL on AWS)
  GAVEL_BUNDLE_URL and GAVEL_REPORT_URL may be given instead of the flags
  GAVEL_ISOLATION=full|container|insecure: the least isolation a program may run under (full)";

fn main() -> ExitCode {
    // Whatever the runner creates (reports, work dirs) is its own unless it says otherwise.
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(0o077) };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("gavel-runner: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<String>) -> anyhow::Result<ExitCode> {
    match args.first().map(String::as_str) {
        Some("probe") => {
            println!("{}", serde_json::to_string_pretty(&gavel_runner::sandbox::probe())?);
            return Ok(ExitCode::SUCCESS);
        }
        Some("overhead") => {
            let runs =
                args.get(1).and_then(|n| n.parse().ok()).with_context(|| format!("a number of runs\n{USAGE}"))?;
            println!("{}", gavel_runner::overhead::measure(&args[2..], runs)?);
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let (bundle_url, report_url) = parse_locations(&args)?;
    gavel_runner::sandbox::scrub_process_strings(&[BUNDLE_VAR, REPORT_VAR]);
    let bundle_bytes = location::fetch(&bundle_url).context("reading the bundle")?;
    let bundle: gavel_core::runner::Bundle = serde_json::from_slice(&bundle_bytes).context("parsing the bundle")?;
    let report = match policy() {
        Ok(policy) => job::run(bundle, policy),
        Err(error) => Report {
            job_id: bundle.job_id,
            isolation: gavel_runner::sandbox::probe(),
            compile: None,
            tests: Vec::new(),
            error: Some(error),
        },
    };
    let body = serde_json::to_vec(&report).context("encoding the report")?;
    location::store(&report_url, &body).context("writing the report")?;
    Ok(ExitCode::SUCCESS)
}

/// The isolation policy from the environment; `full` when unset.
fn policy() -> Result<IsolationPolicy, String> {
    match std::env::var(IsolationPolicy::ENV) {
        Err(_) => Ok(IsolationPolicy::Full),
        Ok(value) => IsolationPolicy::parse(&value).ok_or_else(|| {
            format!("{}={value:?} is not an isolation policy: full, container or insecure", IsolationPolicy::ENV)
        }),
    }
}

fn parse_locations(args: &[String]) -> anyhow::Result<(String, String)> {
    let mut bundle = std::env::var(BUNDLE_VAR).ok().filter(|v| !v.is_empty());
    let mut report = std::env::var(REPORT_VAR).ok().filter(|v| !v.is_empty());
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--bundle" => &mut bundle,
            "--report" => &mut report,
            "-h" | "--help" => anyhow::bail!("{USAGE}"),
            other => anyhow::bail!("unexpected argument {other:?}\n{USAGE}"),
        };
        *slot = Some(args.next().with_context(|| format!("{flag} needs a URL"))?.clone());
    }
    match (bundle, report) {
        (Some(bundle), Some(report)) => Ok((bundle, report)),
        _ => anyhow::bail!("both the bundle and the report location are required\n{USAGE}"),
    }
}

//! `gavel-runner --bundle URL --report URL`: fetch the bundle, compile once, run every test in the
//! sandbox, write the report. `gavel-runner probe` prints the isolation this host allows.

use std::process::ExitCode;

use anyhow::Context;
use gavel_runner::{job, location};

/// The locations as a Fargate task gets them (container overrides).
const BUNDLE_VAR: &str = "GAVEL_BUNDLE_URL";
const REPORT_VAR: &str = "GAVEL_REPORT_URL";

const USAGE: &str = "usage: gavel-runner --bundle URL --report URL | gavel-runner probe
  URL is file:///path or http(s)://… (a presigned S3 URL on AWS)
  GAVEL_BUNDLE_URL and GAVEL_REPORT_URL may be given instead of the flags";

fn main() -> ExitCode {
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
    if args.first().map(String::as_str) == Some("probe") {
        println!("{}", serde_json::to_string_pretty(&gavel_runner::sandbox::probe())?);
        return Ok(ExitCode::SUCCESS);
    }
    let (bundle_url, report_url) = parse_locations(&args)?;
    gavel_runner::sandbox::scrub_process_strings(&[BUNDLE_VAR, REPORT_VAR]);
    let bundle_bytes = location::fetch(&bundle_url).context("reading the bundle")?;
    let bundle = serde_json::from_slice(&bundle_bytes).context("parsing the bundle")?;
    let report = job::run(bundle);
    let body = serde_json::to_vec(&report).context("encoding the report")?;
    location::store(&report_url, &body).context("writing the report")?;
    Ok(ExitCode::SUCCESS)
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

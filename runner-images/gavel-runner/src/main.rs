//! `gavel-runner --bundle URL --report URL [--judge-data URL]`: fetch the bundle, compile once,
//! run every test in the sandbox, (for a custom checker's job) then fetch the judge data and check
//! each test, write the report. `gavel-runner probe` prints the isolation this host allows;
//! `gavel-runner overhead` what the sandbox costs per run.

use std::process::ExitCode;

use anyhow::Context;
use gavel_core::isolation::IsolationPolicy;
use gavel_core::runner::{JudgeData, Report};
use gavel_runner::{job, location};

/// The locations as a Fargate task gets them (container overrides).
const BUNDLE_VAR: &str = "GAVEL_BUNDLE_URL";
const REPORT_VAR: &str = "GAVEL_REPORT_URL";
const JUDGE_DATA_VAR: &str = "GAVEL_JUDGE_DATA_URL";

const USAGE: &str = "usage: gavel-runner --bundle URL --report URL [--judge-data URL] | gavel-runner probe
       gavel-runner overhead RUNS PROGRAM [ARG...]
  URL is file:///path or http(s)://… (a presigned S3 URL on AWS); the judge data (a custom
  checker and the expected outputs) is read once every run of the solution has ended
  GAVEL_BUNDLE_URL, GAVEL_REPORT_URL and GAVEL_JUDGE_DATA_URL may be given instead of the flags
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
    let locations = parse_locations(&args)?;
    gavel_runner::sandbox::scrub_process_strings(&[BUNDLE_VAR, REPORT_VAR, JUDGE_DATA_VAR]);
    let bundle_bytes = location::fetch(&locations.bundle).context("reading the bundle")?;
    let bundle: gavel_core::runner::Bundle = serde_json::from_slice(&bundle_bytes).context("parsing the bundle")?;
    let fetch_judge_data = |url: &str| -> Result<JudgeData, String> {
        let bytes = location::fetch(url).map_err(|err| err.to_string())?;
        serde_json::from_slice(&bytes).map_err(|err| format!("unreadable judge data: {err}"))
    };
    let judge_data = locations.judge_data.as_deref().map(|url| move || fetch_judge_data(url));
    let report = match policy() {
        Ok(policy) => job::run(bundle, policy, judge_data.as_ref().map(|f| f as &dyn Fn() -> _)),
        Err(error) => Report {
            job_id: bundle.job_id,
            isolation: gavel_runner::sandbox::probe(),
            compile: None,
            tests: Vec::new(),
            error: Some(error),
            checker_compile: None,
            interactor_compile: None,
        },
    };
    let body = serde_json::to_vec(&report).context("encoding the report")?;
    location::store(&locations.report, &body).context("writing the report")?;
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

/// Where the job's blobs are.
struct Locations {
    bundle: String,
    report: String,
    judge_data: Option<String>,
}

fn parse_locations(args: &[String]) -> anyhow::Result<Locations> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let (mut bundle, mut report, mut judge_data) = (var(BUNDLE_VAR), var(REPORT_VAR), var(JUDGE_DATA_VAR));
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--bundle" => &mut bundle,
            "--report" => &mut report,
            "--judge-data" => &mut judge_data,
            "-h" | "--help" => anyhow::bail!("{USAGE}"),
            other => anyhow::bail!("unexpected argument {other:?}\n{USAGE}"),
        };
        *slot = Some(args.next().with_context(|| format!("{flag} needs a URL"))?.clone());
    }
    match (bundle, report) {
        (Some(bundle), Some(report)) => Ok(Locations { bundle, report, judge_data }),
        _ => anyhow::bail!("both the bundle and the report location are required\n{USAGE}"),
    }
}

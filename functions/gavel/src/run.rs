//! `gavel run FILE`: judge one file against a folder of tests, on a server or embedded.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::client::Client;
use crate::report;
use crate::serve::{self, LauncherArgs, ServeArgs};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The source file; its extension picks the language unless --lang is given.
    pub file: PathBuf,
    /// Language id or alias (see `gavel languages`).
    #[arg(long)]
    pub lang: Option<String>,
    /// A folder of NAME.in / NAME.out pairs; a .in without .out is run but not compared.
    #[arg(long)]
    pub tests: Option<PathBuf>,
    /// A file fed to the program's stdin (a plain run, without --tests).
    #[arg(long, conflicts_with = "tests")]
    pub stdin: Option<PathBuf>,
    /// A Gavel server to use instead of an embedded one.
    #[arg(long, env = "GAVEL_SERVER")]
    pub server: Option<String>,
    /// Checker mode: exact, lines, tokens or float.
    #[arg(long)]
    pub checker: Option<String>,
    #[arg(long)]
    pub time_ms: Option<u64>,
    #[arg(long)]
    pub memory_mb: Option<u64>,
    /// Print the whole result as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Where the embedded server runs the job.
    #[command(flatten)]
    pub launcher: LauncherArgs,
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let request = build_request(&args)?;
    let view = match &args.server {
        Some(base) => judge(&Client::new(base)?, &request).await?,
        None => {
            let data_dir = crate::serve::private_tempdir().context("creating a scratch data dir")?;
            let serve_args =
                ServeArgs { launcher: args.launcher.clone(), ..ServeArgs::embedded_scratch(data_dir.path(), None) };
            let server = serve::start(serve_args).await?;
            let view = judge(&Client::new(&server.base_url())?, &request).await;
            server.shutdown().await;
            view?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        report::print(&view);
    }
    Ok(if view["verdict"] == "accepted" { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn judge(client: &Client, request: &Value) -> anyhow::Result<Value> {
    let progress = indicatif::ProgressBar::new_spinner();
    progress.enable_steady_tick(Duration::from_millis(100));
    progress.set_message("submitting");
    let job_id = client.submit(request).await?;
    let view = client.wait(&job_id, |status| progress.set_message(format!("job {job_id}: {status}"))).await;
    progress.finish_and_clear();
    view
}

fn build_request(args: &RunArgs) -> anyhow::Result<Value> {
    let code = std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let file_name = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let language = match &args.lang {
        Some(lang) => lang.clone(),
        None => match gavel_core::language::for_file_name(&file_name) {
            Some(lang) => lang.id.to_owned(),
            None => bail!("cannot tell the language of {file_name:?}; pass --lang (see `gavel languages`)"),
        },
    };
    let mut request = json!({"language": language, "code": code});
    if let Some(dir) = &args.tests {
        request["tests"] = Value::Array(read_tests(dir)?);
    }
    if let Some(stdin) = &args.stdin {
        request["stdin"] =
            std::fs::read_to_string(stdin).with_context(|| format!("reading {}", stdin.display()))?.into();
    }
    if let Some(mode) = &args.checker {
        request["checker"] = json!({"mode": mode});
    }
    let mut limits = serde_json::Map::new();
    if let Some(time_ms) = args.time_ms {
        limits.insert("time_ms".into(), time_ms.into());
    }
    if let Some(memory_mb) = args.memory_mb {
        limits.insert("memory_mb".into(), memory_mb.into());
    }
    if !limits.is_empty() {
        request["limits"] = Value::Object(limits);
    }
    Ok(request)
}

/// Tests from NAME.in / NAME.out pairs, in name order.
fn read_tests(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".in").map(str::to_owned))
        .collect();
    if names.is_empty() {
        bail!("{} has no NAME.in files", dir.display());
    }
    names.sort_by(|a, b| natural_key(a).cmp(&natural_key(b)));
    names
        .into_iter()
        .map(|name| {
            let input = std::fs::read_to_string(dir.join(format!("{name}.in")))?;
            let expected = match std::fs::read_to_string(dir.join(format!("{name}.out"))) {
                Ok(text) => Some(text),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                Err(err) => return Err(err.into()),
            };
            Ok(json!({"name": name, "input": input, "expected_output": expected}))
        })
        .collect()
}

/// Orders "2" before "10", and numbered tests before named ones.
fn natural_key(name: &str) -> (u64, &str) {
    (name.parse().unwrap_or(u64::MAX), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_are_read_in_natural_order_with_optional_outputs() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, output) in [("10", Some("b")), ("2", Some("a")), ("extra", None)] {
            std::fs::write(dir.path().join(format!("{name}.in")), name).expect("write");
            if let Some(output) = output {
                std::fs::write(dir.path().join(format!("{name}.out")), output).expect("write");
            }
        }
        let tests = read_tests(dir.path()).expect("tests");
        let names: Vec<_> = tests.iter().map(|t| t["name"].as_str().unwrap_or_default()).collect();
        assert_eq!(names, ["2", "10", "extra"]);
        assert_eq!(tests[0]["expected_output"], "a");
        assert!(tests[2]["expected_output"].is_null());
    }

    #[test]
    fn an_empty_test_folder_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read_tests(dir.path()).is_err());
    }
}

//! The baseline: the same programs fork+exec'd directly, as the sandbox would run them but with
//! nothing around them.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::sync::Semaphore;

/// One bare run of `argv` with `stdin`; its wall time.
pub async fn run(argv: &[&str], stdin: &[u8]) -> anyhow::Result<Duration> {
    let (program, args) = argv.split_first().context("a bare run needs a program")?;
    let path = gavel_core::language::on_toolchain_path(program)
        .with_context(|| format!("{program} is not on {}", gavel_core::language::TOOLCHAIN_PATH))?;
    let started = Instant::now();
    let mut child = Command::new(path)
        .args(args)
        // The binaries the sandbox runs, not whatever the caller's PATH finds first.
        .env("PATH", gavel_core::language::TOOLCHAIN_PATH)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).await?;
    }
    let status = child.wait().await?;
    if !status.success() {
        bail!("`{}` failed bare: {status}", argv.join(" "));
    }
    Ok(started.elapsed())
}

/// `count` bare runs of `argv`, `parallel` at a time (the machine's cores, as Gavel's workers);
/// the wall time of all of them.
pub async fn batch(argv: &[&str], count: usize, parallel: usize) -> anyhow::Result<Duration> {
    let slots = Arc::new(Semaphore::new(parallel.max(1)));
    let argv: Arc<Vec<String>> = Arc::new(argv.iter().map(|a| (*a).to_owned()).collect());
    let started = Instant::now();
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (slots, argv) = (Arc::clone(&slots), Arc::clone(&argv));
        runs.spawn(async move {
            let _slot = slots.acquire_owned().await?;
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            run(&argv, b"").await
        });
    }
    while let Some(joined) = runs.join_next().await {
        joined??;
    }
    Ok(started.elapsed())
}

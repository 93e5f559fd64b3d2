//! `gavel-runner overhead`: what the sandbox costs per run on this host, measured where the
//! sandbox is (so `gavel bench` needs no sandbox of its own): a program's bare fork+exec times,
//! its times in one sandbox, and that sandbox's setup plus teardown.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::sandbox::{RunCommand, Sandbox, SandboxOptions};

/// Runs `argv` `runs` times bare and `runs` times in one sandbox; the timings as JSON
/// (`bare_us`, `sandboxed_us`, `setup_us`, and the `isolation` that ran).
pub fn measure(argv: &[String], runs: usize) -> anyhow::Result<serde_json::Value> {
    let Some((program, args)) = argv.split_first() else { bail!("overhead needs a program to run") };
    let label = argv.join(" ");
    let mut bare = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let status = Command::new(program)
            .args(args)
            // The binaries the sandbox runs, not whatever the caller's PATH finds first.
            .env("PATH", gavel_core::language::TOOLCHAIN_PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        bare.push(micros(started.elapsed()));
        if !status.success() {
            bail!("`{label}` failed bare: {status}");
        }
    }
    let setup_started = Instant::now();
    let mut sandbox = Sandbox::new(SandboxOptions::default())?;
    let setup = setup_started.elapsed();
    let command = RunCommand {
        argv: argv.to_vec(),
        cpu_time_ms: 5_000,
        wall_time_ms: 10_000,
        output_bytes: 64 << 10,
        ..RunCommand::default()
    };
    let mut sandboxed = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let outcome = sandbox.run(&command)?;
        sandboxed.push(micros(started.elapsed()));
        if outcome.exit_code != Some(0) {
            bail!("`{label}` failed in the sandbox: {outcome:?}");
        }
    }
    let isolation = sandbox.isolation().level;
    let teardown_started = Instant::now();
    drop(sandbox);
    Ok(json!({
        "bare_us": bare,
        "sandboxed_us": sandboxed,
        "setup_us": micros(setup + teardown_started.elapsed()),
        "isolation": isolation,
    }))
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

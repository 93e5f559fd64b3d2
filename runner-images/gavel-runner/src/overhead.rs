//! `gavel-runner overhead`: what the sandbox costs per run on this host, measured where the
//! sandbox is (so `gavel bench` needs no sandbox of its own): a program's bare fork+exec times,
//! its times in one sandbox, that sandbox's setup plus teardown, and, where bubblewrap is
//! installed, its times under `bwrap` with every namespace unshared (a well-known anchor).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::sandbox::{RunCommand, Sandbox, SandboxOptions};

/// Runs `argv` `runs` times bare, `runs` times in one sandbox and `runs` times under bwrap,
/// interleaved (a bare run, a sandboxed one, a bwrap one) so all see the same machine; the
/// timings as JSON (`bare_us`, `sandboxed_us`, `bwrap_us` or why bwrap did not run as
/// `bwrap_error`, `setup_us`, and the `isolation` that ran).
pub fn measure(argv: &[String], runs: usize) -> anyhow::Result<serde_json::Value> {
    let Some((program, args)) = argv.split_first() else { bail!("overhead needs a program to run") };
    let label = argv.join(" ");
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
    let (mut bare, mut sandboxed, mut bwrap) = (Vec::with_capacity(runs), Vec::with_capacity(runs), Vec::new());
    let bare_program = gavel_core::language::on_toolchain_path(program)
        .ok_or_else(|| anyhow::anyhow!("{program} is not on {}", gavel_core::language::TOOLCHAIN_PATH))?;
    let bwrap_binary = gavel_core::language::on_toolchain_path("bwrap");
    let mut bwrap_error = bwrap_binary.is_none().then(|| "bwrap is not installed".to_string());
    for _ in 0..runs {
        bare.push(timed(Command::new(&bare_program).args(args)).map_err(|e| anyhow::anyhow!("`{label}` bare: {e}"))?);
        if let (None, Some(path)) = (&bwrap_error, &bwrap_binary) {
            match timed(Command::new(path).args(BWRAP_ARGS).arg("--").args(argv)) {
                Ok(took) => bwrap.push(took),
                Err(e) => bwrap_error = Some(e),
            }
        }
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
    let mut measured = json!({
        "bare_us": bare,
        "sandboxed_us": sandboxed,
        "setup_us": micros(setup + teardown_started.elapsed()),
        "isolation": isolation,
    });
    match bwrap_error {
        Some(error) => measured["bwrap_error"] = error.into(),
        None => measured["bwrap_us"] = bwrap.into(),
    }
    Ok(measured)
}

/// bwrap as its users run untrusted code: a read-only `/usr` (and the usrmerge links), fresh
/// `/proc`, `/dev` and `/tmp`, every namespace unshared, killed with its parent.
const BWRAP_ARGS: &[&str] = &[
    "--unshare-all",
    "--die-with-parent",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
];

/// One run of `command` with no input or output; its wall time, or why it failed.
fn timed(command: &mut Command) -> Result<u64, String> {
    let started = Instant::now();
    let status = command
        // The binaries the sandbox runs, not whatever the caller's PATH finds first.
        .env("PATH", gavel_core::language::TOOLCHAIN_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    let took = micros(started.elapsed());
    if status.success() { Ok(took) } else { Err(format!("exited with {status}")) }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

//! The Gavel CLI: a thin binary that parses arguments, wires adapters and runs.

mod bench;
mod client;
mod report;
mod run;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gavel", version, about = "Runs untrusted programs and judges them against test cases")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API on this machine (SQLite store, durable queue, sandboxed runner).
    Serve(serve::ServeArgs),
    /// Judge one file, on a server or embedded.
    Run(run::RunArgs),
    /// List the languages and whether their toolchains are installed.
    Languages(LanguagesArgs),
    /// Measure sandbox overhead, end-to-end latency and throughput on this machine.
    Bench(bench::BenchArgs),
}

#[derive(clap::Args)]
struct LanguagesArgs {
    /// Ask this server instead of probing the local toolchains.
    #[arg(long, env = "GAVEL_SERVER")]
    server: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server logs what it does; the one-shot commands print results and only warn.
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_level.into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("gavel: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await.map(|()| ExitCode::SUCCESS),
            Command::Run(args) => run::run(args).await,
            Command::Languages(args) => languages(args).await.map(|()| ExitCode::SUCCESS),
            Command::Bench(args) => bench::bench(args).await.map(|()| ExitCode::SUCCESS),
        }
    });
    outcome.unwrap_or_else(|err| {
        eprintln!("gavel: {err:#}");
        ExitCode::from(2)
    })
}

async fn languages(args: LanguagesArgs) -> anyhow::Result<()> {
    let list = match args.server {
        Some(base) => client::Client::new(&base)?.get("/languages").await?,
        None => serde_json::to_value(gavel_http::languages_view(&gavel_local::probe_languages().await))?,
    };
    println!("{:<12} {:<10} {:<28} version", "id", "available", "aliases");
    for lang in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        let aliases: Vec<&str> =
            lang["aliases"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_str).collect();
        println!(
            "{:<12} {:<10} {:<28} {}",
            lang["id"].as_str().unwrap_or("?"),
            if lang["available"] == true { "yes" } else { "no" },
            aliases.join(", "),
            lang["version"].as_str().unwrap_or("-"),
        );
    }
    Ok(())
}

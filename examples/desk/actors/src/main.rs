//! The desk as a Rust program hosting the Python strategy: a supervision tree with the Rust
//! execution engine and the Python `trading_desk.strategy:Momentum` as children, the strategy asked to
//! run. Prints the same line as the Python program `trading_desk.run`.
//!
//! `desk-host <dir>... [--ticks N] [--seed S]`: the directories go first on Python's `sys.path`
//! and must hold the `trading_desk` package (with its generated `desk` module) and the
//! `mycelium` package
//! (examples/desk/run.sh prepares one).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use desk_actors::desk::{Run, Summary};
use mycelium_actors::Bus;
use mycelium_codec::WireMessage;
use mycelium_foreign::registry::Kind;
use mycelium_python::embed::PythonHost;
use mycelium_supervisor::{RestartStrategy, Supervisor};

struct Options {
    paths: Vec<PathBuf>,
    ticks: u32,
    seed: u64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        paths: Vec::new(),
        ticks: 500,
        seed: 7,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--ticks" => {
                options.ticks = value("--ticks")?
                    .parse()
                    .map_err(|e| format!("--ticks: {e}"))?
            }
            "--seed" => {
                options.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            _ => options.paths.push(PathBuf::from(arg)),
        }
    }
    Ok(options)
}

async fn run(options: Options) -> Result<String, String> {
    desk_actors::register()?;
    let bus = Bus::new();
    let paths: Vec<&Path> = options.paths.iter().map(PathBuf::as_path).collect();
    let host = PythonHost::start(&bus, "trading_desk.desk", &paths)?;
    let execution = Kind::parse("execution")?;
    let tree = Supervisor::builder(RestartStrategy::OneForOne)
        .child(execution.child_spec("execution", None))
        .child(host.child_spec("strategy", "trading_desk.strategy:Momentum", "execution")?)
        .spawn(&bus)
        .await
        .map_err(|e| e.to_string())?;
    execution.export_child(&bus, &tree, "execution", "execution")?;
    host.export_child(&tree, "strategy", "strategy", &[Run::TYPE_ID])?;

    let mut body = Vec::new();
    Run {
        ticks: options.ticks,
        seed: options.seed,
    }
    .encode_body(&mut body);
    let (_, reply) = bus
        .exports()
        .ask("strategy", Run::TYPE_ID, &body)
        .await
        .map_err(|e| e.to_string())?;
    let summary = Summary::decode_body(&reply).map_err(|e| e.to_string())?;
    tree.stop().await;
    bus.shutdown(Duration::from_secs(5)).await;
    Ok(format!(
        "orders {} position {} digest {:016x}",
        summary.orders, summary.position, summary.digest
    ))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let result = match options() {
        Ok(options) => run(options).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("desk-host: {e}");
            ExitCode::FAILURE
        }
    }
}

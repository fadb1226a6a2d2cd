//! The `rangeserve` binary: parse the command line, start logging, serve.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rangeserve::cli::Cli::parse();
    rangeserve::logging::init(cli.log_format, cli.quiet);
    match rangeserve::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rangeserve: {err:#}");
            ExitCode::FAILURE
        }
    }
}

//! The `rangeserve` binary: parse the command line, start logging, serve;
//! or print the man page or a completion script when asked to.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rangeserve::cli::Cli::parse();
    // NOTE: before `run`, which checks DIR: the documents need no folder.
    let result = match rangeserve::cli::docs::requested(&cli) {
        Some(doc) => rangeserve::cli::docs::write(doc, &mut std::io::stdout().lock()),
        None => {
            rangeserve::cli::logging::init(cli.log_format, cli.quiet);
            rangeserve::run(cli)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rangeserve: {err:#}");
            ExitCode::FAILURE
        }
    }
}

//! The `rangeserve` binary: parse the command line, start logging, serve;
//! or print the man page, a completion script, a link key or a signed link
//! when asked to.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = rangeserve::cli::Cli::parse();
    // NOTE: before `run`, which checks DIR: these print and exit, and need no folder.
    let result = if let Some(doc) = rangeserve::cli::docs::requested(&cli) {
        rangeserve::cli::docs::write(doc, &mut std::io::stdout().lock())
    } else if let Some(text) = cli.one_shot() {
        text.map(|text| println!("{text}"))
    } else {
        rangeserve::cli::logging::init(cli.log_format, cli.quiet);
        rangeserve::run(cli)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rangeserve: {err:#}");
            ExitCode::FAILURE
        }
    }
}

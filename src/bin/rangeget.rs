//! The `rangeget` binary: parse the command line and download
//! (`rangeserve::get`).

use clap::Parser;

fn main() {
    let args = rangeserve::get::Args::parse();
    std::process::exit(rangeserve::get::main(args));
}

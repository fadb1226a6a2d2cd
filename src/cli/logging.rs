//! Log output: where log lines go (stderr), in which format, and at which
//! default level. It does not decide what is logged; modules do that.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The shape of every log line, access log included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, fields at the top level, for log shippers.
    Json,
    /// The access log in the Apache/nginx combined format, alone on stdout
    /// or in `--access-log FILE`; other events as text on stderr.
    Combined,
}

/// Starts logging to stderr. `RUST_LOG` decides the level when set;
/// otherwise `info`, or `warn` when `quiet` (no access log).
pub fn init(format: LogFormat, quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text | LogFormat::Combined => {
            builder.with_ansi(std::io::stderr().is_terminal()).init()
        }
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

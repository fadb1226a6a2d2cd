//! The man page and the shell completion scripts, generated from the clap
//! definition in `cli.rs` so they never drift from `--help`.
//!
//! It owns the hidden `--generate-man` and `--generate-completions` outputs;
//! it does not define flags (`cli.rs`) and never touches the served folder,
//! so both work without a valid DIR.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::{Generator, Shell};

use crate::cli::Cli;

/// A document asked for on the command line instead of serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    /// `--generate-man`: the roff man page, section 1.
    Man,
    /// `--generate-completions SHELL`: the completion script for SHELL.
    Completions(Shell),
}

/// The document `cli` asks for, if any. The man page wins when both are given.
pub fn requested(cli: &Cli) -> Option<Doc> {
    if cli.generate_man {
        Some(Doc::Man)
    } else {
        cli.generate_completions.map(Doc::Completions)
    }
}

/// Writes `doc` to `out`.
pub fn write(doc: Doc, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut command = Cli::command();
    match doc {
        Doc::Man => clap_mangen::Man::new(command)
            .render(out)
            .context("cannot write the man page")?,
        Doc::Completions(shell) => {
            // NOTE: try_generate, not clap_complete::generate, which panics
            // when the write fails (say, a closed pipe).
            let name = command.get_name().to_string();
            command.set_bin_name(name);
            command.build();
            shell
                .try_generate(&command, out)
                .with_context(|| format!("cannot write the {shell} completions"))?;
        }
    }
    out.flush().context("cannot write to stdout")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(doc: Doc) -> String {
        let mut out = Vec::new();
        write(doc, &mut out).expect("writing to a Vec cannot fail");
        String::from_utf8(out).expect("generated text is UTF-8")
    }

    #[test]
    fn man_page_is_roff_and_names_the_flags_but_not_the_hidden_ones() {
        let man = render(Doc::Man);
        // NOTE: roff opens with `.ie`/`.el`, defining the apostrophe string
        // (\*(Aq) that the quoted help texts need; the page proper starts at .TH.
        let title = man
            .lines()
            .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "));
        assert!(
            title.is_some_and(|l| l.starts_with(".TH rangeserve 1")),
            "{man}"
        );
        assert!(man.contains(r"\-\-port"), "{man}");
        assert!(man.contains("RANGESERVE_PORT"), "{man}");
        assert!(!man.contains(r"generate\-man"), "{man}");
        assert!(!man.contains(r"generate\-completions"), "{man}");
        assert!(man.contains(r"generate\-link\-key"), "{man}");
    }

    #[test]
    fn every_shell_gets_a_script_naming_the_flags() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let script = render(Doc::Completions(shell));
            assert!(script.contains("tls-cert"), "{shell}: {script}");
        }
    }
}

//! `logship completions SHELL` (a completion script on stdout) and the hidden
//! `logship man DIR` (one man page per command): what a package installs
//! beside the binary, made from the same clap definitions as `--help`.

use super::Cli;
use anyhow::Context as _;
use clap::{Args, CommandFactory};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// The shells `completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// bash (bash-completion: /usr/share/bash-completion/completions/logship).
    Bash,
    /// zsh (/usr/share/zsh/vendor-completions/_logship).
    Zsh,
    /// fish (/usr/share/fish/vendor_completions.d/logship.fish).
    Fish,
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages to (created if missing): logship.1,
    /// logship-primary.1, logship-bench-wal.1, … (hidden commands have none).
    pub dir: PathBuf,
}

/// Prints the completion script of `a.shell` on stdout.
///
/// # Errors
/// Stdout cannot be written (a closed pipe is not an error: see [`crate::say!`]).
pub fn run(a: CompletionsArgs) -> anyhow::Result<ExitCode> {
    use clap_complete::Shell as S;
    let shell = match a.shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "logship", &mut script);
    let _ = std::io::stdout().write_all(&script);
    Ok(ExitCode::SUCCESS)
}

/// Writes one man page per visible command to `a.dir`, naming each.
///
/// # Errors
/// The directory cannot be created or a page cannot be written (the path is
/// named).
pub fn man(a: ManArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&a.dir).with_context(|| format!("create {}", a.dir.display()))?;
    let before = pages(&a.dir)?;
    clap_mangen::generate_to(Cli::command(), &a.dir)
        .with_context(|| format!("write man pages to {}", a.dir.display()))?;
    let after = pages(&a.dir)?;
    crate::say!(
        "logship man: {} pages in {} ({} new)",
        after.len(),
        a.dir.display(),
        after.difference(&before).count()
    );
    Ok(ExitCode::SUCCESS)
}

/// The `logship*.1` files in `dir`.
fn pages(dir: &std::path::Path) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let mut out = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let name = e
            .with_context(|| format!("read {}", dir.display()))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.starts_with("logship") && name.ends_with(".1") {
            out.insert(name);
        }
    }
    Ok(out)
}

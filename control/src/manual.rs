//! Shell completions and man pages of both programs, generated from their clap
//! definitions (`stillepost completions bash`, `stillepost man`, and the same for
//! `stillepostd`), so that they always match the flags.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use clap_complete::Shell;

/// `completions <SHELL>`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for. Install, for example: `stillepost completions bash >
    /// /etc/bash_completion.d/stillepost`; zsh: into a directory of $fpath as `_stillepost`;
    /// fish: `~/.config/fish/completions/stillepost.fish`.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// `man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write a page for the program and one for each of its subcommands (`stillepost.1`,
    /// `stillepost-run.1`, ...) into DIR instead of printing the program's page (roff) on
    /// stdout. Read a page with `man -l stillepost.1`.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Writes `shell`'s completions for `cmd` (named `bin`) to `out`.
pub fn completions(mut cmd: clap::Command, bin: &str, shell: Shell, out: &mut impl Write) {
    clap_complete::generate(shell, &mut cmd, bin, out);
}

/// `cmd`'s man page, in roff.
pub fn man_page(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut bytes)?;
    Ok(bytes)
}

/// Writes one page for `cmd` and one for every visible subcommand but `help`
/// (`<bin>-<sub>.1`) into
/// `dir`, creating it; returns the files written.
pub fn man_pages(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = cmd;
    cmd.build();
    let bin = cmd.get_name().to_string();
    let mut written = Vec::new();
    let mut write = |name: String, cmd: clap::Command| -> std::io::Result<()> {
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, man_page(cmd)?)?;
        written.push(path);
        Ok(())
    };
    // Every subcommand but clap's own `help`.
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("{bin}-{}", sub.get_name());
        write(name.clone(), sub.clone().name(name))?;
    }
    write(bin, cmd)?;
    written.sort();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    #[command(name = "demo", about = "A demo program")]
    struct Demo {
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Sub {
        /// Runs it.
        Run {
            /// How many.
            #[arg(long)]
            count: u32,
        },
    }

    #[test]
    fn pages_and_completions_name_every_subcommand_and_flag() {
        use clap::CommandFactory;
        let dir = std::env::temp_dir().join(format!("stillepost-man-{}", std::process::id()));
        let written = man_pages(Demo::command(), &dir).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["demo-run.1", "demo.1"]);
        let run = std::fs::read_to_string(dir.join("demo-run.1")).unwrap();
        assert!(
            run.contains(".TH demo-run") && run.contains("count"),
            "{run}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let mut bash = Vec::new();
        completions(Demo::command(), "demo", Shell::Bash, &mut bash);
        let bash = String::from_utf8(bash).unwrap();
        assert!(
            bash.contains("--count") && bash.contains("complete"),
            "{bash}"
        );
    }
}

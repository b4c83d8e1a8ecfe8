//! `anonsweep completions SHELL` and `anonsweep man`: generated from the one clap definition,
//! so they never drift from the flags.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::args::{Cli, CompletionsArgs, ManArgs};
use crate::error::{exit, usage};

pub fn run_completions_command(args: &CompletionsArgs) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "anonsweep", &mut out);
    out.flush()?;
    Ok(exit::OK)
}

pub fn run_man_command(args: &ManArgs) -> anyhow::Result<i32> {
    let cmd = Cli::command();
    match &args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                usage(format!(
                    "cannot create {}: {e}: check --out-dir",
                    dir.display()
                ))
            })?;
            clap_mangen::generate_to(cmd, dir).map_err(|e| {
                anyhow::anyhow!("cannot write the man pages into {}: {e}", dir.display())
            })?;
            crate::info!("wrote the man pages into {}", dir.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(exit::OK)
}

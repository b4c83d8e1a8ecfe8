//! `anonsweep init`: write a commented anonsweep.toml for the connected database's schema.

use clap::ArgMatches;

use crate::cli::args::InitArgs;
use crate::config::settings::Inputs;
use crate::error::exit;
use crate::ops::init::{self, InitOptions, InitOut};

pub fn run_init_command(args: &InitArgs, m: &ArgMatches) -> anyhow::Result<i32> {
    let inputs = Inputs {
        database_url: super::given(
            &args.db.database_url,
            m,
            "database_url",
            "--database-url",
            "DATABASE_URL",
        ),
        needs_database: true,
        ..Inputs::default()
    };
    let out = if args.out.as_os_str() == "-" {
        InitOut::Stdout
    } else {
        InitOut::File(args.out.clone())
    };
    let report = init::init(
        &inputs,
        &InitOptions {
            out: out.clone(),
            force: args.force,
        },
    )?;
    for l in &report.lines {
        eprintln!("anonsweep init: {l}");
    }
    for p in &report.problems {
        eprintln!("anonsweep init: still to fix (doctor reports it): {p}");
    }
    if let InitOut::Stdout = out {
        print!("{}", report.text);
    }
    Ok(exit::OK)
}

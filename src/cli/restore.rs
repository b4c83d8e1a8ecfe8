//! `anonsweep restore`: read an archive, put its users back, print what was restored.

use clap::ArgMatches;
use serde_json::json;

use crate::archive;
use crate::archive::restore;
use crate::cli::args::RestoreArgs;
use crate::config::settings::OutputFormat;
use crate::error::{exit, usage};
use crate::sql::conn::Conn;

pub fn run_restore_command(args: &RestoreArgs, m: &ArgMatches) -> anyhow::Result<i32> {
    let mut inputs = super::with_format(
        super::schema_inputs(&args.schema, Some(&args.db), m),
        &args.output,
    );
    inputs.needs_database = true;
    let settings = super::resolve(&inputs)?;
    let db = settings
        .database
        .clone()
        .expect("restore requires a database");
    let contents = match &args.archive {
        Some(path) => archive::read_file(path).map_err(|e| usage(crate::error::one_line(&e)))?,
        None => archive::Contents::default(),
    };
    if contents.truncated {
        crate::warn!("the archive ends mid-record (the run was interrupted while writing): every complete record is used");
    }
    if let Some(h) = &contents.header {
        if h.backend != settings.backend.name() {
            return Err(usage(format!(
                "the archive comes from a {} database, this is {}: restore into the kind of database it came from",
                h.backend,
                settings.backend.name()
            )));
        }
    }
    let mut conn = Conn::connect(&db)?;
    let contents = if args.from_table {
        archive::read_table(&mut conn, args.run.as_deref())?
    } else {
        contents
    };
    let (records, unsure) = restore::select(&contents, &args.users)?;
    let done = restore::restore(&mut conn, &records, &unsure)?;
    match settings.format {
        OutputFormat::Text => {
            println!("anonsweep restore: {db} ({})", settings.backend.name());
            println!("  users restored       {}", done.users);
            for (t, n) in &done.rows {
                println!("    {t:<18} {n}");
            }
            if !done.not_deleted.is_empty() {
                println!(
                    "  not restored         {} (their batch never committed: still in the database)",
                    done.not_deleted.len()
                );
            }
        }
        OutputFormat::Json => println!(
            "{}",
            json!({"command": "restore", "users": done.users, "rows": done.rows, "not_deleted": done.not_deleted})
        ),
    }
    Ok(exit::OK)
}

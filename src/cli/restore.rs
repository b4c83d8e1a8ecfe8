//! `anonsweep restore`: read an archive, put its users back, print what was restored.

use std::io::IsTerminal;
use std::time::Instant;

use clap::ArgMatches;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::archive;
use crate::archive::restore;
use crate::cli::args::RestoreArgs;
use crate::config::settings::OutputFormat;
use crate::error::{exit, usage};
use crate::sql::conn::Conn;

/// A bar on stderr while users are restored, only when stderr is a terminal.
struct Bar(Option<(ProgressBar, Instant)>);

impl restore::Progress for Bar {
    fn start(&mut self, total: u64) {
        if total == 0 || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} users restored  {msg}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        self.0 = Some((bar, Instant::now()));
    }

    fn restored(&mut self, users: u64) {
        if let Some((bar, started)) = &self.0 {
            bar.set_position(users);
            let secs = started.elapsed().as_secs_f64();
            if secs > 0.0 {
                bar.set_message(format!("{:.0} users/s", users as f64 / secs));
            }
        }
    }

    fn finish(&mut self) {
        if let Some((bar, _)) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}

/// At most ten ids, then how many more.
fn listed(ids: &[String]) -> String {
    let mut s = ids.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if ids.len() > 10 {
        s += &format!(", and {} more", ids.len() - 10);
    }
    s
}

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
        let run = match &args.run {
            Some(given) => Some(archive::pick_run(&archive::runs(&mut conn)?, given)?),
            None => None,
        };
        archive::read_table(&mut conn, run.as_deref())?
    } else {
        contents
    };
    let (records, unsure) = restore::select(&contents, &args.users)?;
    let opts = restore::Options {
        skip_existing: args.skip_existing,
    };
    let done = restore::restore(&mut conn, &records, &unsure, opts, &mut Bar(None))?;
    match settings.format {
        OutputFormat::Text => {
            println!("anonsweep restore: {db} ({})", settings.backend.name());
            println!("  users restored       {}", done.users);
            for (t, n) in &done.rows {
                println!("    {t:<18} {n}");
            }
            if !done.skipped_existing.is_empty() {
                println!(
                    "  skipped (id exists)  {} (--skip-existing: left as they are): {}",
                    done.skipped_existing.len(),
                    listed(&done.skipped_existing)
                );
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
            json!({
                "command": "restore",
                "users": done.users,
                "rows": done.rows,
                "not_deleted": done.not_deleted,
                "skipped_existing": done.skipped_existing.len(),
                "skipped_existing_ids": done.skipped_existing,
            })
        ),
    }
    Ok(exit::OK)
}

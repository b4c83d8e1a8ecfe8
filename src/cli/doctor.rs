//! `anonsweep doctor`: every pre-flight check, with the fix for each problem; changes nothing.
//! `plan` and `run` run the same checks and stop on an error.

use clap::ArgMatches;

use crate::cli::args::DoctorArgs;
use crate::config::settings::OutputFormat;
use crate::error::exit;
use crate::output::doctor;
use crate::preflight::{self, children::Finding, children::Level};
use crate::sql::conn::Conn;

pub fn run_doctor_command(args: &DoctorArgs, m: &ArgMatches) -> anyhow::Result<i32> {
    let mut inputs = super::with_format(
        super::rule_inputs(&args.rule, Some(&args.db), m),
        &args.output,
    );
    inputs.needs_database = true;
    super::run_settings_from_env(&mut inputs);
    let settings = super::resolve(&inputs)?;
    let db = settings
        .database
        .clone()
        .expect("doctor requires a database");
    let mut conn = Conn::connect(&db)?;
    let mut inspected = preflight::inspect(&mut conn, &settings)?;
    // A setting `run` refuses before reading anything is reported here too.
    if let Err(e) = crate::ops::run::refuse_sqlite_workers(&settings) {
        inspected
            .schema
            .push(Finding::error(crate::error::one_line(&e), None));
    }
    match settings.format {
        OutputFormat::Text => print!("{}", doctor::text(&inspected, &settings)),
        OutputFormat::Json => println!("{}", doctor::json(&inspected, &settings)),
    }
    Ok(if inspected.count(Level::Error) > 0 {
        exit::USAGE
    } else {
        exit::OK
    })
}

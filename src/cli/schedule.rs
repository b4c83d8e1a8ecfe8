//! `anonsweep schedule cron|systemd`: print (or write) the files for a daily, locked run.

use crate::cli::args::ScheduleArgs;
use crate::error::{exit, usage};
use crate::ops::schedule::{self, ScheduleOptions};

pub fn run_schedule_command(args: &ScheduleArgs) -> anyhow::Result<i32> {
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| anyhow::anyhow!("cannot find this binary's path: {e}"))?;
    let opts = ScheduleOptions {
        binary,
        env_file: args.env_file.clone(),
        lock: args.lock.clone(),
        time: args.time.clone(),
        randomized_delay: args.randomized_delay.clone(),
        user: args.user.clone(),
        run_args: args.run_args.clone(),
    };
    let files: Vec<(&str, String)> = match args.kind.as_str() {
        "cron" => vec![("anonsweep.cron", schedule::cron(&opts)?)],
        _ => {
            let (service, timer) = schedule::systemd(&opts)?;
            vec![("anonsweep.service", service), ("anonsweep.timer", timer)]
        }
    };
    match &args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                usage(format!(
                    "cannot create {}: {e}: check --out-dir",
                    dir.display()
                ))
            })?;
            for (name, text) in &files {
                let path = dir.join(name);
                std::fs::write(&path, text)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                crate::info!("wrote {}", path.display());
            }
        }
        None => {
            for (i, (name, text)) in files.iter().enumerate() {
                if files.len() > 1 {
                    if i > 0 {
                        println!();
                    }
                    println!("# ---- {name} ----");
                }
                print!("{text}");
            }
        }
    }
    Ok(exit::OK)
}

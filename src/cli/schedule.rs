//! `anonsweep schedule cron|systemd|kubernetes|github-actions`: print (or write) the files for a
//! daily, locked run.

use crate::cli::args::ScheduleArgs;
use crate::error::{exit, usage};
use crate::ops::schedule::{self, Kind, ScheduleOptions};

pub fn run_schedule_command(args: &ScheduleArgs) -> anyhow::Result<i32> {
    let this_binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| anyhow::anyhow!("cannot find this binary's path: {e}"))?;
    let kind = Kind::parse(&args.kind)
        .ok_or_else(|| usage(format!("unknown schedule kind {:?}", args.kind)))?;
    let opts = ScheduleOptions {
        kind,
        this_binary,
        binary: args.binary.clone(),
        env_file: args.env_file.clone(),
        lock: args.lock.clone(),
        time: args.time.clone(),
        randomized_delay: args.randomized_delay.clone(),
        user: args.user.clone(),
        image: args.image.clone(),
        secret: args.secret.clone(),
        run_args: args.run_args.clone(),
    };
    let files = schedule::files(&opts)?;
    match &args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                usage(format!(
                    "cannot create {}: {e}: check --out-dir",
                    dir.display()
                ))
            })?;
            for f in &files {
                let path = dir.join(f.name);
                std::fs::write(&path, &f.text)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                crate::info!("wrote {}", path.display());
            }
        }
        None => {
            for (i, f) in files.iter().enumerate() {
                if files.len() > 1 {
                    if i > 0 {
                        println!();
                    }
                    println!("# ---- {} ----", f.name);
                }
                print!("{}", f.text);
            }
        }
    }
    Ok(exit::OK)
}

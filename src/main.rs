//! The `anonsweep` binary: everything lives in the library; this only passes the exit code on.

fn main() {
    // Like other command-line tools, end quietly when the reader of stdout goes away
    // (`anonsweep plan | head`) instead of panicking on the broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let code = anonsweep::cli::main_with_args(std::env::args_os().collect());
    std::process::exit(code);
}

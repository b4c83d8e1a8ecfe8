//! The `anonsweep` binary: everything lives in the library; this only passes the exit code on.

fn main() {
    let code = anonsweep::cli::main_with_args(std::env::args_os().collect());
    std::process::exit(code);
}

//! The `dialflow` binary: a thin shell around `dialflow::cli`.

fn main() -> std::process::ExitCode {
    dialflow::cli::run()
}

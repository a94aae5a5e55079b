//! The `logship` binary: parses arguments and hands over to the library.

fn main() -> std::process::ExitCode {
    logship::cli::main()
}

//! The `ao` binary: everything lives in the `ao_cli` library.

fn main() -> std::process::ExitCode {
    ao_cli::main()
}

//! The `quicksilver` binary: the hub is the library; this runs its command line and turns an
//! error into a one-line message and a failing exit status.

fn main() -> std::process::ExitCode {
    let cli = quicksilver::cli::parse_args();
    match quicksilver::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("quicksilver: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

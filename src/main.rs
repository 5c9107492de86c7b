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

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    waitroom::cli::run(waitroom::cli::Cli::parse()).await
}

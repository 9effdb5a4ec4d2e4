use clap::Parser;

/// mimalloc rather than the system allocator: a request allocates and frees many small buffers, often
/// on different threads (the Redis connection's task and the HTTP workers); glibc's malloc spent a
/// sixth of a join's CPU time on that (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    waitroom::cli::run(waitroom::cli::Cli::parse()).await
}

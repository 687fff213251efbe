use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("RITMO_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = ritmo_local::Cli::parse();
    let random_secret = cli.jwt_secret.is_none();
    let running = match ritmo_local::start(cli).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("ritmo-local: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let base = running.base_url();
    println!("Ritmo local server listening on {base}");
    if running.manual_clock {
        println!("Manual clock: move time with POST {base}/_dev/clock");
    }
    if random_secret {
        println!(
            "JWT secret (HS256, random for this run): {}",
            running.jwt_secret
        );
    }
    println!("Admin token (tenant in --tenant, valid 30 days):");
    println!("export RITMO_TOKEN={}", running.admin_token);
    // The token rides in the fragment, which the browser never sends: the console keeps it
    // for the tab and drops it from the address bar.
    println!(
        "Console (signed in): {base}/console#token={}",
        running.admin_token
    );
    tokio::select! {
        _ = running.server => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    std::process::ExitCode::SUCCESS
}

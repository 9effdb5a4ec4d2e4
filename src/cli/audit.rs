//! `waitroom audit`: recomputes a pre-queue draw from what any replica publishes, and checks it.

use clap::Args;

use super::error::CliError;
use crate::client::Client;
use crate::domain::draw::{audit, entry_id, AuditError, Seed};

#[derive(Debug, Args)]
pub(super) struct AuditArgs {
    /// The event whose draw to check.
    event: String,
    /// Base URL of a waitroom replica.
    #[arg(long, env = "WAITROOM_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The commitment (SHA-256 of the seed) as published before the pre-queue opened; checked
    /// against the one served now.
    #[arg(long)]
    commitment: Option<String>,
    /// A visitor id (the `sub` of a token): prints the position its entry was drawn.
    #[arg(long)]
    visitor: Option<String>,
}

pub(super) async fn run(args: AuditArgs) -> Result<(), CliError> {
    let draw = Client::new(&args.url).draw(&args.event).await?;
    if let Some(earlier) = &args.commitment {
        if !earlier.eq_ignore_ascii_case(&draw.commitment) {
            return Err(CliError::Usage(format!(
                "the commitment served now, {}, is not the one published earlier, {earlier}",
                draw.commitment
            )));
        }
    }
    let (Some(seed), Some(arrived), Some(positions)) = (&draw.seed, &draw.arrived, &draw.positions)
    else {
        return Err(CliError::Usage(format!(
            "event `{}` is not drawn yet (at {}); its commitment is {}",
            args.event,
            draw.draws_at.as_deref().unwrap_or("its opening"),
            draw.commitment
        )));
    };
    let checked = audit(seed, &draw.commitment, arrived, positions)?;
    println!(
        "the draw of `{}` holds up: the seed matches the commitment {}, and all {checked} positions \
         hold the entry its permutation gives them",
        args.event, draw.commitment
    );
    if let Some(visitor) = &args.visitor {
        let seed = Seed::parse(seed).ok_or(AuditError::BadSeed)?;
        let entry = entry_id(&seed, visitor);
        match positions.iter().position(|held| *held == entry) {
            Some(index) => println!(
                "visitor {visitor} (entry {entry}) was drawn position {}",
                index + 1
            ),
            None => {
                return Err(CliError::Usage(format!(
                    "visitor {visitor} (entry {entry}) is not in the pre-queue"
                )))
            }
        }
    }
    Ok(())
}

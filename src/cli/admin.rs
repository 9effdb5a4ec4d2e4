//! `waitroom admin`: drives a running replica through its admin API, with [`crate::client`].

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::error::CliError;
use crate::client::Client;
use crate::domain::{
    parse_time, EventSettings, EventState, Lane, LaneName, OutagePolicy, PageSettings, Patch,
    QueueMethod, RateLimits, Webhook,
};

#[derive(Debug, Args)]
pub(super) struct AdminArgs {
    /// Base URL of a waitroom replica.
    #[arg(
        long,
        env = "WAITROOM_ADMIN_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// The admin bearer token.
    #[arg(long, env = "WAITROOM_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
    #[command(subcommand)]
    command: AdminCommand,
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Events: list, show, create, update.
    #[command(subcommand)]
    Event(EventCommand),
    /// Admit the next N visitors now.
    Advance {
        event: String,
        #[arg(long)]
        by: u64,
    },
    /// Enqueue codes of an invite-only event.
    #[command(subcommand)]
    Codes(CodesCommand),
    /// Stop releasing visitors (they can still join).
    Pause {
        event: String,
        /// When it resumes by itself (RFC 3339, or a time and its zone's name): the page says
        /// so and the waits count it. Left out: until resumed by hand, and no estimate meanwhile.
        #[arg(long, value_parser = parse_time)]
        until: Option<DateTime<Utc>>,
    },
    /// Release visitors again.
    Resume { event: String },
    /// Join on behalf of a known user: the same user id always gets the same place.
    Join {
        event: String,
        #[arg(long)]
        visitor: String,
        /// For an event with lanes: which one (the first when left out).
        #[arg(long)]
        lane: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum EventCommand {
    /// Every event with its figures.
    List,
    /// One event's settings and figures.
    Show { event: String },
    /// Delete an event and all its data, on every replica (its tokens are refused from then on).
    Delete { event: String },
    /// Create an event (fails if it exists).
    Create {
        event: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Change an event's settings (fails if it does not exist).
    Update {
        event: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

/// Every setting of an event, each a flag of the setting's name (`settings_args_reach_every_setting`
/// checks them against the settings' schema, and that each says what it does); a flag left out
/// leaves the setting as it is.
#[derive(Debug, Args, Serialize)]
struct SettingsArgs {
    /// Visitors released per interval; 0 releases by hand only.
    #[arg(long)]
    batch_size: Option<u64>,
    /// How often a batch is released, in milliseconds (100 to 3,600,000).
    #[arg(long)]
    release_interval_ms: Option<u64>,
    /// Lifetime of a waiting token, in seconds: a visitor who does not come back within it loses
    /// the place.
    #[arg(long)]
    token_ttl_s: Option<u64>,
    /// How long an admission lasts from its first collection, in seconds.
    #[arg(long)]
    pass_ttl_s: Option<u64>,
    /// Passes renewed on use at the gate, up to this many seconds after the admission's first
    /// collection (0: not renewed).
    #[arg(long)]
    pass_renewal_max_s: Option<u64>,
    /// Where admitted visitors go (an http or https URL).
    #[arg(long)]
    target_url: Option<String>,
    /// open, paused (joins taken, nobody released) or closed.
    #[arg(long, value_parser = named::<EventState>)]
    state: Option<EventState>,
    /// Most admitted visitors active at once; 0 for no limit.
    #[arg(long)]
    max_active: Option<u64>,
    /// With --max-active: seconds an admitted visitor has to collect the pass before the slot goes
    /// to someone else.
    #[arg(long)]
    claim_window_s: Option<u64>,
    /// Whether each pass lets one person in once.
    #[arg(long)]
    single_use_passes: Option<bool>,
    /// Whether anyone may join from the page (false: only the booking site's trusted joins).
    #[arg(long)]
    anonymous_joins: Option<bool>,
    /// Whether a join needs an enqueue code (`waitroom admin codes issue`) or a signed invitation.
    #[arg(long)]
    invite_only: Option<bool>,
    /// Proof of work before a place: PBKDF2 iterations per attempt of the challenge (0: none).
    #[arg(long)]
    challenge_cost: Option<u32>,
    /// Origins a visitor may be sent back to after the hand-over, comma-separated.
    #[arg(long, value_delimiter = ',')]
    allowed_origins: Option<Vec<String>>,
    /// The waiting page's branding and texts, as JSON: {"title", "message", "logo_url",
    /// "accent_color", "language", "texts": {"de": {"hint": "…"}}, ...}; the fields given change,
    /// null removes one.
    #[arg(long, value_parser = parse_json::<PageSettings>)]
    page: Option<Json>,
    /// How long a closed event's data is kept, in seconds from closing.
    #[arg(long)]
    retain_closed_s: Option<u64>,
    /// Per-client rate limits as JSON: {"joins_per_minute", "join_burst", "checks_per_second",
    /// "check_burst"}; 0 switches one off; the fields given change.
    #[arg(long, value_parser = parse_json::<RateLimits>)]
    rate_limits: Option<Json>,
    /// Origins whose pages may call the event's visitor API from the browser (CORS),
    /// comma-separated.
    #[arg(long, value_delimiter = ',')]
    cors_origins: Option<Vec<String>>,
    /// Addresses and networks the gate lets through without a token (staff, monitoring),
    /// comma-separated: 203.0.113.7,10.20.0.0/16.
    #[arg(long, value_delimiter = ',')]
    bypass_addresses: Option<Vec<String>>,
    /// Path prefixes the gate lets through (a payment provider's callbacks), comma-separated.
    #[arg(long, value_delimiter = ',')]
    bypass_paths: Option<Vec<String>>,
    /// A secret (16+ characters) whose bearer skips the line at the gate, sent in
    /// X-Waitroom-Bypass.
    #[arg(long)]
    bypass_secret: Option<String>,
    /// When the sale opens (RFC 3339 with its zone, e.g. 2026-12-11T10:00:00Z or
    /// 2026-12-11T11:00:00+01:00); a time in the past is refused: leave it out to open now.
    #[arg(long, value_parser = parse_time)]
    opens_at: Option<DateTime<Utc>>,
    /// From when visitors join a pre-queue drawn at random at `--opens-at` (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    prequeue_from: Option<DateTime<Utc>>,
    /// When the event closes by itself (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    closes_at: Option<DateTime<Utc>>,
    /// When the event pauses by itself, for a break announced beforehand (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pauses_at: Option<DateTime<Utc>>,
    /// When a paused event resumes by itself: the end of `--pauses-at`'s break (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    resumes_at: Option<DateTime<Utc>>,
    /// How the line is formed: fifo, random (a draw at every release), passthrough (a pass at
    /// once) or reject (sold out).
    #[arg(long, value_parser = named::<QueueMethod>)]
    method: Option<QueueMethod>,
    /// Priority lanes as name:share, comma-separated, the first where anonymous visitors go
    /// (`public:70,members:30`); an empty value removes them.
    #[arg(long, value_parser = parse_lanes)]
    lanes: Option<Lanes>,
    /// While the store cannot be asked whether a pass is an admitted visitor's: hold (refused,
    /// retried shortly; capacity holds) or let-through (a pass for the claim window only).
    #[arg(long, value_parser = named::<OutagePolicy>)]
    outage: Option<OutagePolicy>,
    /// Addresses told of the event's turns, as JSON: [{"url": "https://...", "topics":
    /// ["event.opened", "line.emptied"]}] (no topics: every one); [] removes them. Needs the
    /// server's `webhook_secret`.
    #[arg(long, value_parser = parse_json::<Vec<Webhook>>)]
    webhooks: Option<Json>,
}

#[derive(Debug, Subcommand)]
enum CodesCommand {
    /// Issue single-use enqueue codes (each gives one place), printed as CSV:
    /// `waitroom admin codes issue EVENT --count 10000 > codes.csv`.
    Issue {
        event: String,
        #[arg(long)]
        count: u64,
    },
}

/// The lanes `--lanes` names.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
struct Lanes(Vec<Lane>);

fn parse_lanes(raw: &str) -> Result<Lanes, String> {
    if raw.is_empty() {
        return Ok(Lanes(Vec::new()));
    }
    raw.split(',')
        .map(|lane| {
            let (name, share) = lane
                .split_once(':')
                .ok_or_else(|| format!("{lane:?} is not name:share"))?;
            let share = share
                .parse()
                .map_err(|_| format!("{share:?} is not a share in percent"))?;
            Ok(Lane {
                name: LaneName::parse(name).map_err(|e| e.to_string())?,
                share,
            })
        })
        .collect::<Result<_, String>>()
        .map(Lanes)
}

/// A setting's value by the name the admin API gives it (`random`, `paused`).
fn named<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|e| e.to_string())
}

/// A settings section given as JSON, as given: sent as a merge of its fields.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
struct Json(serde_json::Value);

/// A settings section given as JSON that reads as a `T`.
fn parse_json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<Json, String> {
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
    T::deserialize(&value).map_err(|e| format!("not valid here: {e}"))?;
    Ok(Json(value))
}

impl SettingsArgs {
    /// The flags given, by the settings' names.
    fn into_patch(self) -> Patch<EventSettings> {
        let mut flags = serde_json::to_value(self).expect("flags are JSON");
        if let Some(flags) = flags.as_object_mut() {
            flags.retain(|_, value| !value.is_null());
        }
        Patch::try_from(flags).expect("flags are written as an object")
    }
}

fn shown(answer: &impl Serialize) -> String {
    serde_json::to_string_pretty(answer).unwrap_or_default()
}

pub(super) async fn run(args: AdminArgs) -> Result<(), CliError> {
    let client = Client::new(&args.url).with_admin_token(&args.token);
    let answer = match args.command {
        AdminCommand::Event(EventCommand::List) => shown(&client.events().await?),
        AdminCommand::Event(EventCommand::Show { event }) => shown(&client.event(&event).await?),
        AdminCommand::Event(EventCommand::Delete { event }) => {
            client.delete_event(&event).await?;
            format!("deleted `{event}`")
        }
        AdminCommand::Event(EventCommand::Create { event, settings }) => {
            if client.exists(&event).await? {
                return Err(CliError::Usage(format!(
                    "event `{event}` exists already; use `event update`"
                )));
            }
            let patch = settings.into_patch();
            shown(&client.put_event(&event, &patch).await?)
        }
        AdminCommand::Event(EventCommand::Update { event, settings }) => {
            if !client.exists(&event).await? {
                return Err(CliError::Usage(format!(
                    "no event `{event}`; use `event create`"
                )));
            }
            let patch = settings.into_patch();
            shown(&client.put_event(&event, &patch).await?)
        }
        AdminCommand::Advance { event, by } => shown(&client.advance(&event, by).await?),
        AdminCommand::Codes(CodesCommand::Issue { event, count }) => {
            // CSV: a header, then one code a line, for a mail merge.
            let codes = client.issue_codes(&event, count).await?;
            std::iter::once("code".to_owned())
                .chain(codes)
                .collect::<Vec<_>>()
                .join("\n")
        }
        AdminCommand::Pause { event, until: None } => shown(&client.pause(&event).await?),
        AdminCommand::Pause {
            event,
            until: Some(until),
        } => {
            // One change, through the settings: paused, and when that ends.
            let patch = Patch::try_from(serde_json::json!({
                "state": EventState::Paused,
                "resumes_at": until.to_rfc3339(),
            }))
            .expect("a patch of known fields");
            shown(&client.put_event(&event, &patch).await?)
        }
        AdminCommand::Resume { event } => shown(&client.resume(&event).await?),
        AdminCommand::Join {
            event,
            visitor,
            lane,
        } => shown(
            &client
                .trusted_join(&event, &visitor, lane.as_deref())
                .await?,
        ),
    };
    println!("{answer}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use serde_json::json;

    #[derive(Debug, clap::Parser)]
    struct WithSettings {
        #[command(flatten)]
        settings: SettingsArgs,
    }

    /// Every setting the admin API takes has a flag of its name, with help text.
    #[test]
    fn settings_args_reach_every_setting() {
        let command = WithSettings::command();
        let settings = crate::domain::patch::settable_fields::<EventSettings>();
        assert!(settings.len() >= 19, "{settings:?}");
        for name in &settings {
            let flag = name.replace('_', "-");
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_long() == Some(flag.as_str()))
                .unwrap_or_else(|| panic!("no --{flag} for the setting `{name}`"));
            assert!(arg.get_help().is_some(), "--{flag} has no help text");
        }
        let flags = command
            .get_arguments()
            .filter(|arg| arg.get_long().is_some_and(|long| long != "help"));
        assert_eq!(flags.count(), settings.len(), "a flag for no setting");
    }

    #[test]
    fn settings_flags_become_the_patch() {
        let parsed = <WithSettings as clap::Parser>::try_parse_from([
            "x",
            "--method",
            "fifo",
            "--state",
            "paused",
            "--rate-limits",
            r#"{"joins_per_minute": 5}"#,
            "--cors-origins",
            "https://app.example,https://m.example",
            "--page",
            r#"{"message": "Hello"}"#,
            "--lanes",
            "public:70,members:30",
            "--opens-at",
            "2030-01-01 10:00 Europe/Berlin",
            "--single-use-passes",
            "true",
        ])
        .unwrap();
        let patch = parsed.settings.into_patch();
        let sent = serde_json::to_value(&patch).unwrap();
        assert_eq!(
            (&sent["method"], &sent["state"]),
            (&json!("fifo"), &json!("paused"))
        );
        assert_eq!(sent["opens_at"], json!("2030-01-01T09:00:00Z"));
        let mut base = EventSettings::default();
        base.page.title = Some("Tour".into());
        let settings = patch.apply(&base).unwrap().after(&base, 0).unwrap();
        assert_eq!(settings.rate_limits.joins_per_minute, 5);
        assert_eq!(
            settings.rate_limits.join_burst, 30,
            "the others as they were"
        );
        assert_eq!(settings.origins.cors_origins.len(), 2);
        assert_eq!(settings.ordering.lanes.len(), 2);
        assert_eq!(
            (
                settings.page.title.as_deref(),
                settings.page.message.as_deref()
            ),
            (Some("Tour"), Some("Hello")),
            "the page's fields given change, the others stay"
        );
        assert!(settings.admission.single_use_passes);
        assert!(<WithSettings as clap::Parser>::try_parse_from(["x", "--method", "lifo"]).is_err());
        assert!(<WithSettings as clap::Parser>::try_parse_from([
            "x",
            "--page",
            r#"{"colour": 1}"#
        ])
        .is_err());
    }
}

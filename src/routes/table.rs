//! The route table: every route the service answers, once. The app registers its handlers from it
//! ([`super::configure`]), the fast path picks its routes from it ([`super::hot`]), and metrics and
//! logs label requests with it (never the raw URL: query strings may carry tokens).

use crate::limits::Limited;
use actix_web::http::header::HeaderValue;
use actix_web::http::Method;

/// Where the admin API lives; everything under it goes through the admin credential check.
pub const ADMIN_SCOPE: &str = "/v1/admin";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Index,
    Healthz,
    Readyz,
    Metrics,
    Jwks,
    OpenApi,
    DemoAdmitted,
    Page,
    Asset,
    Event,
    Draw,
    Join,
    Status,
    Gate,
    Leave,
    Stream,
    Complete,
    TrustedJoin,
    Claim,
    Verify,
    Consume,
    AdminEvents,
    AdminEvent,
    AdminAdvance,
    AdminPause,
    AdminResume,
    AdminJoin,
    AdminCodes,
    AdminFeed,
    AdminWhatIf,
    Console,
    ConsoleSession,
    ConsoleSignOut,
    ConsoleEvent,
}

impl Route {
    pub const ALL: [Route; 34] = [
        Route::Index,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::Jwks,
        Route::OpenApi,
        Route::DemoAdmitted,
        Route::Page,
        Route::Asset,
        Route::Event,
        Route::Draw,
        Route::Join,
        Route::Status,
        Route::Gate,
        Route::Leave,
        Route::Stream,
        Route::Complete,
        Route::TrustedJoin,
        Route::Claim,
        Route::Verify,
        Route::Consume,
        Route::AdminEvents,
        Route::AdminEvent,
        Route::AdminAdvance,
        Route::AdminPause,
        Route::AdminResume,
        Route::AdminJoin,
        Route::AdminCodes,
        Route::AdminFeed,
        Route::AdminWhatIf,
        Route::Console,
        Route::ConsoleSession,
        Route::ConsoleSignOut,
        Route::ConsoleEvent,
    ];

    /// The path pattern, as actix-web's router takes it; also the route's label in metrics and logs.
    pub const fn pattern(self) -> &'static str {
        match self {
            Route::Index => "/",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::Jwks => "/.well-known/jwks.json",
            Route::OpenApi => "/openapi.json",
            Route::DemoAdmitted => "/demo/admitted",
            Route::Page => "/e/{event}",
            Route::Asset => "/assets/{file}",
            Route::Event => "/v1/events/{event}",
            Route::Draw => "/v1/events/{event}/draw",
            Route::Join => "/v1/events/{event}/join",
            Route::Status => "/v1/events/{event}/status",
            Route::Gate => "/v1/events/{event}/gate",
            Route::Leave => "/v1/events/{event}/leave",
            Route::Stream => "/v1/events/{event}/stream",
            Route::Complete => "/v1/events/{event}/complete",
            Route::TrustedJoin => "/v1/events/{event}/trusted-join",
            Route::Claim => "/v1/events/{event}/claim",
            Route::Verify => "/v1/verify",
            Route::Consume => "/v1/passes/consume",
            Route::AdminEvents => "/v1/admin/events",
            Route::AdminEvent => "/v1/admin/events/{event}",
            Route::AdminAdvance => "/v1/admin/events/{event}/advance",
            Route::AdminPause => "/v1/admin/events/{event}/pause",
            Route::AdminResume => "/v1/admin/events/{event}/resume",
            Route::AdminJoin => "/v1/admin/events/{event}/join",
            Route::AdminCodes => "/v1/admin/events/{event}/codes",
            Route::AdminFeed => "/v1/admin/events/{event}/feed",
            Route::AdminWhatIf => "/v1/admin/events/{event}/what-if",
            Route::Console => "/console",
            Route::ConsoleSession => "/console/session",
            Route::ConsoleSignOut => "/console/sign-out",
            Route::ConsoleEvent => "/console/events/{event}",
        }
    }

    /// The methods the route answers, as an `Allow` header lists them.
    pub const fn allow(self) -> &'static str {
        match self {
            Route::Join
            | Route::Leave
            | Route::Complete
            | Route::TrustedJoin
            | Route::Verify
            | Route::Consume
            | Route::AdminAdvance
            | Route::AdminPause
            | Route::AdminResume
            | Route::AdminJoin
            | Route::AdminCodes
            | Route::AdminWhatIf
            | Route::ConsoleSession
            | Route::ConsoleSignOut => "POST",
            Route::AdminEvent => "GET, PUT, DELETE",
            _ => "GET",
        }
    }

    /// Whether a call with `method` may change anything (the admin log names every one): not a
    /// read, and not the what-if, which only weighs a change.
    pub fn changes(self, method: &Method) -> bool {
        !matches!(*method, Method::GET | Method::HEAD) && self != Route::AdminWhatIf
    }

    pub fn allow_header(self) -> HeaderValue {
        HeaderValue::from_static(self.allow())
    }

    /// Whether `method` is one the route answers.
    pub fn answers(self, method: &Method) -> bool {
        self.allow()
            .split(", ")
            .any(|allowed| allowed == method.as_str())
    }

    /// What a request on this route counts against, per client: the visitor's routes only (the
    /// gate's client is the edge, and the booking service's and admin calls have credentials).
    pub fn limited(self) -> Option<Limited> {
        match self {
            Route::Join => Some(Limited::Join),
            Route::Status
            | Route::Leave
            | Route::Stream
            | Route::Page
            | Route::Event
            | Route::Draw
            | Route::Claim => Some(Limited::Check),
            _ => None,
        }
    }

    /// The routes that must not face the internet: the admin API and its console, metrics, and the
    /// booking service's calls. With an internal listener they are served there only.
    pub const fn is_internal(self) -> bool {
        matches!(
            self,
            Route::Metrics
                | Route::Complete
                | Route::TrustedJoin
                | Route::Consume
                | Route::AdminEvents
                | Route::AdminEvent
                | Route::AdminAdvance
                | Route::AdminPause
                | Route::AdminResume
                | Route::AdminJoin
                | Route::AdminCodes
                | Route::AdminFeed
                | Route::AdminWhatIf
                | Route::Console
                | Route::ConsoleSession
                | Route::ConsoleSignOut
                | Route::ConsoleEvent
        )
    }

    /// The routes the fast path answers in front of the app: the ones a crowd calls by the hundred
    /// thousand.
    pub const fn is_hot(self) -> bool {
        matches!(self, Route::Join | Route::Status | Route::Gate)
    }

    /// The route `path` belongs to, read from the path's shape (one pass over its segments, not a
    /// match against every pattern). Agrees with [`Route::pattern`] for every route (unit-tested).
    pub fn of(path: &str) -> Option<Route> {
        let mut parts = path.strip_prefix('/')?.split('/');
        let route = match (parts.next()?, parts.next(), parts.next(), parts.next()) {
            ("", None, ..) => Route::Index,
            ("healthz", None, ..) => Route::Healthz,
            ("readyz", None, ..) => Route::Readyz,
            ("metrics", None, ..) => Route::Metrics,
            ("openapi.json", None, ..) => Route::OpenApi,
            ("demo", Some("admitted"), None, _) => Route::DemoAdmitted,
            (".well-known", Some("jwks.json"), None, _) => Route::Jwks,
            ("e", Some(event), None, _) if !event.is_empty() => Route::Page,
            ("console", None, ..) => Route::Console,
            ("console", Some("session"), None, _) => Route::ConsoleSession,
            ("console", Some("sign-out"), None, _) => Route::ConsoleSignOut,
            ("console", Some("events"), Some(event), None) if !event.is_empty() => {
                Route::ConsoleEvent
            }
            ("assets", Some(file), None, _) if !file.is_empty() => Route::Asset,
            ("v1", Some("verify"), None, _) => Route::Verify,
            ("v1", Some("passes"), Some("consume"), None) => Route::Consume,
            ("v1", Some("events"), Some(event), action) if !event.is_empty() => match action {
                None => Route::Event,
                Some("join") => Route::Join,
                Some("status") => Route::Status,
                Some("draw") => Route::Draw,
                Some("gate") => Route::Gate,
                Some("leave") => Route::Leave,
                Some("stream") => Route::Stream,
                Some("complete") => Route::Complete,
                Some("trusted-join") => Route::TrustedJoin,
                Some("claim") => Route::Claim,
                Some(_) => return None,
            },
            ("v1", Some("admin"), Some("events"), event) => match (event, parts.next()) {
                (None, _) => Route::AdminEvents,
                (Some(""), _) => return None,
                (Some(_), None) => Route::AdminEvent,
                (Some(_), Some(action)) => match action {
                    "advance" => Route::AdminAdvance,
                    "pause" => Route::AdminPause,
                    "resume" => Route::AdminResume,
                    "join" => Route::AdminJoin,
                    "codes" => Route::AdminCodes,
                    "feed" => Route::AdminFeed,
                    "what-if" => Route::AdminWhatIf,
                    _ => return None,
                },
            },
            _ => return None,
        };
        // Anything after the last segment a pattern has belongs to no route.
        parts.next().is_none().then_some(route)
    }

    /// The label of a request's route: its pattern, or `other` for paths no route answers.
    pub fn label_of(route: Option<Route>) -> &'static str {
        route.map_or("other", Route::pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path the pattern matches, with `e-1` for every variable segment.
    fn sample(route: Route) -> String {
        route
            .pattern()
            .split('/')
            .map(|part| if part.starts_with('{') { "e-1" } else { part })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn every_pattern_is_read_back_as_its_route() {
        for route in Route::ALL {
            assert_eq!(
                Route::of(&sample(route)),
                Some(route),
                "{}",
                route.pattern()
            );
        }
        let mut patterns: Vec<_> = Route::ALL.iter().map(|r| r.pattern()).collect();
        patterns.sort();
        patterns.dedup();
        assert_eq!(patterns.len(), Route::ALL.len(), "a pattern listed twice");
    }

    #[test]
    fn other_paths_belong_to_no_route() {
        for path in [
            "",
            "/nope",
            "/v1/events/",
            "/v1/events//join",
            "/v1/events/e/join/",
            "/v1/events/e/nope",
            "/v1/events/e/join/x",
            "/v1/admin",
            "/v1/admin/events/e/nope",
            "/v1/admin/events/e/advance/x",
            "/e/",
            "/e/x/y",
            "/healthz/x",
        ] {
            assert_eq!(Route::of(path), None, "{path}");
        }
        assert_eq!(Route::label_of(Route::of("/nope")), "other");
    }

    #[test]
    fn methods_and_hot_routes() {
        assert!(Route::Join.answers(&Method::POST));
        assert!(!Route::Join.answers(&Method::GET));
        assert!(Route::AdminEvent.answers(&Method::PUT));
        assert!(Route::AdminEvent.answers(&Method::GET));
        assert!(!Route::AdminEvent.answers(&Method::POST));
        assert!(Route::AdminAdvance.changes(&Method::POST));
        assert!(!Route::AdminWhatIf.changes(&Method::POST));
        assert!(!Route::AdminEvent.changes(&Method::GET));
        let hot: Vec<_> = Route::ALL.into_iter().filter(|r| r.is_hot()).collect();
        assert_eq!(hot, [Route::Join, Route::Status, Route::Gate]);
    }
}

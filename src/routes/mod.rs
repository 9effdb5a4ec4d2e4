//! The HTTP API. Every route is listed once, in [`table::Route`]; [`configure`] registers a handler
//! for each, and the fast path ([`HotPaths`]) answers the hottest of them in front of the app.
//! Whichever answers, a request goes through the same layers ([`observe`]).
//!
//! Layout, each module using only those listed before it: [`problem`] (errors as problem
//! documents) and [`table`] (the routes); [`state`] (what handlers share); [`observe`] (the layers
//! every request goes through), [`auth`] (credentials, as middleware) and [`extract`] (the event and
//! token a request carries); the handlers in [`service`] (the booking service's calls), [`visitor`],
//! [`handover`], [`admin`], [`live`] (what the console watches and weighs), [`page`], [`updates`]
//! and [`ops`]; [`session`] and [`console`] (the operator's pages); [`hot`], the fast path.

pub mod admin;
pub mod auth;
pub mod console;
pub mod cors;
pub mod draw;
mod entry;
pub mod extract;
pub mod handover;
pub mod hot;
pub mod live;
pub mod observe;
pub mod openapi;
pub mod ops;
pub mod page;
pub mod problem;
pub mod service;
pub mod session;
pub mod state;
pub mod table;
pub mod templates;
pub mod updates;
pub mod visitor;

use actix_web::middleware::from_fn;
use actix_web::{web, Resource};

pub use hot::HotPaths;
pub use observe::observe_request;
pub use problem::ApiError;
pub use state::AppState;
use table::{Route, ADMIN_SCOPE};

/// Which of the table's routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// One listener for everything (no internal listener configured).
    All,
    /// The public listener, beside an internal one: no admin API, metrics or booking-service calls.
    Public,
    /// The internal listener: those, and the health probes.
    Internal,
}

impl Surface {
    pub fn serves(self, route: Route) -> bool {
        match self {
            Surface::All => true,
            Surface::Public => !route.is_internal(),
            Surface::Internal => {
                route.is_internal() || matches!(route, Route::Healthz | Route::Readyz)
            }
        }
    }
}

/// Registers every route of the table that `surface` serves with its handler; admin routes in one
/// scope behind the admin credential.
pub fn configure(surface: Surface) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg| configure_surface(cfg, surface)
}

fn configure_surface(cfg: &mut web::ServiceConfig, surface: Surface) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(problem::BODY_LIMIT)
            .error_handler(|err, _req| problem::json_error(err).into()),
    )
    .app_data(web::PayloadConfig::new(problem::BODY_LIMIT))
    .app_data(web::PathConfig::default().error_handler(|err, _req| {
        ApiError::InvalidRequest(format!("malformed path: {err}")).into()
    }));
    let mut admin = web::scope(ADMIN_SCOPE).wrap(from_fn(auth::require_admin));
    for route in Route::ALL
        .into_iter()
        .filter(|route| surface.serves(*route))
    {
        let resource = |pattern| handle(route, web::resource(pattern));
        match route.pattern().strip_prefix(ADMIN_SCOPE) {
            Some(scoped) => admin = admin.service(resource(scoped)),
            // The booking service's calls: its own credential (or the admin's).
            None if matches!(route, Route::Complete | Route::Consume | Route::TrustedJoin) => {
                cfg.service(resource(route.pattern()).wrap(from_fn(auth::require_service)));
            }
            None => {
                cfg.service(resource(route.pattern()));
            }
        }
    }
    if surface.serves(Route::AdminEvents) {
        cfg.service(admin);
    }
}

/// The handler of each route, by method. Resources rather than bare routes, so a wrong method is
/// a 405 (with `Allow`, from the table) rather than a 404.
fn handle(route: Route, resource: Resource) -> Resource {
    match route {
        Route::Index => resource.get(ops::index),
        Route::Healthz => resource.get(ops::healthz),
        Route::Readyz => resource.get(ops::readyz),
        Route::Metrics => resource.get(ops::metrics),
        Route::Jwks => resource.get(ops::jwks),
        Route::OpenApi => resource.get(openapi::serve),
        Route::DemoAdmitted => resource.get(ops::demo_admitted),
        Route::Page => resource.get(page::page),
        Route::Asset => resource.get(page::asset),
        Route::Event => resource.get(page::info),
        Route::Draw => resource.get(draw::published),
        Route::Join => resource.post(visitor::join_route),
        Route::Status => resource.get(visitor::status_route),
        Route::Gate => resource.get(visitor::gate_route),
        Route::Leave => resource.post(visitor::leave),
        Route::Stream => resource.get(updates::updates),
        Route::Complete => resource.post(service::complete),
        Route::TrustedJoin => resource.post(service::trusted_join),
        Route::Claim => resource.get(handover::claim),
        Route::Verify => resource.post(service::verify),
        Route::Consume => resource.post(service::consume),
        Route::AdminEvents => resource.get(admin::list_events),
        Route::AdminEvent => resource
            .get(admin::show_event)
            .put(admin::put_event)
            .delete(admin::delete_event),
        Route::AdminAdvance => resource.post(admin::advance),
        Route::AdminCodes => resource.post(admin::issue_codes),
        Route::AdminPause => resource.post(admin::pause),
        Route::AdminResume => resource.post(admin::resume),
        Route::AdminJoin => resource.post(admin::trusted_join),
        Route::AdminFeed => resource.get(live::feed),
        Route::AdminWhatIf => resource.post(live::what_if),
        Route::Console => resource.get(console::index),
        Route::ConsoleSession => resource.post(console::sign_in),
        Route::ConsoleSignOut => resource.post(console::sign_out),
        Route::ConsoleEvent => resource.get(console::event_page),
    }
}

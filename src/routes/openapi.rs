//! The API contract: an OpenAPI 3.1 document generated from the handlers' own annotations
//! (`utoipa`), served at `GET /openapi.json` and shipped as `docs/openapi.json` (the suite checks the
//! file is the code's, and fuzzes a real server against it with schemathesis).

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, console, draw, handover, live, ops, page, service, updates, visitor};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "waitroom",
        description = "A self-hosted virtual waiting room: visitors join a line, learn where they stand, and are let through in batches with an admission pass. Every error is an `application/problem+json` document with a stable `type`.",
        license(name = "Apache-2.0 OR MIT"),
    ),
    paths(
        ops::index, ops::healthz, ops::readyz, ops::metrics, ops::jwks, ops::demo_admitted, serve,
        page::page, page::asset, page::info, draw::published,
        visitor::join_route, visitor::status_route, visitor::gate_route, visitor::leave,
        updates::updates, handover::claim,
        service::verify, service::consume, service::complete, service::trusted_join,
        admin::list_events, admin::show_event, admin::put_event, admin::delete_event,
        admin::advance, admin::issue_codes, admin::pause, admin::resume, admin::trusted_join,
        live::what_if, live::feed,
        console::index, console::sign_in, console::sign_out, console::event_page,
    ),
    modifiers(&Credentials),
    tags(
        (name = "visitors", description = "Joining the line and following one's place"),
        (name = "edge", description = "What an edge proxy calls on a visitor's behalf"),
        (name = "booking service", description = "Checking passes and reporting visits done"),
        (name = "admin", description = "Managing events (the admin token)"),
        (name = "pages", description = "The waiting page and its assets"),
        (name = "tokens", description = "Keys that verify passes"),
        (name = "operations", description = "Probes and metrics"),
        (name = "console", description = "The operator console (internal listener): its pages, and the live figures it charts"),
    )
)]
pub struct Contract;

/// The bearer credentials: a visitor's waiting token or pass, the admin token.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in [
            (
                "bearer",
                "A waiting token or admission pass (or the service token, where noted)",
            ),
            ("admin", "The admin token"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(what))
                        .build(),
                ),
            );
        }
    }
}

/// The contract as pretty JSON, as `docs/openapi.json` holds it.
pub fn document() -> String {
    Contract::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// `GET /openapi.json`: this API's contract.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)))]
pub(super) async fn serve() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(document())
}

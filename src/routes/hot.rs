//! The fast path: joins and status and gate checks, the requests a crowd makes by the hundred
//! thousand, are answered here, in front of the actix-web app, straight from the HTTP request.
//! Going through the app's router, resource and extractors cost a status check about a sixth of its
//! CPU time. The routes are the table's own ([`Route::is_hot`]), the handlers are the app's
//! ([`visitor::join`], [`visitor::status`], [`visitor::gate`]) and the layers are the app's
//! ([`Observed`]): only the routing is skipped. With `fast_path = false` the app answers them.
//! Everything else goes on to the app unchanged.

use std::rc::Rc;

use actix_http::Request;
use actix_service::IntoServiceFactory;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{
    forward_ready, AppConfig, Response, Service, ServiceFactory, ServiceResponse,
};
use actix_web::{web, HttpMessage, HttpResponse};
use futures_util::future::{Either, LocalBoxFuture, MapOk};
use futures_util::TryFutureExt;
use tracing::Instrument;

use super::cors;
use super::extract::{over_https, presented_token, within_limits, KnownEvent};
use super::observe::Observed;
use super::problem::ApiError;
use super::state::AppState;
use super::table::Route;
use super::visitor;
use crate::metrics::RequestTimers;

/// Wraps the app's service factory: one `HotPathService` per worker, in front of the app's.
pub struct HotPaths<A> {
    app: A,
    state: web::Data<AppState>,
    timers: Rc<RequestTimers>,
    /// False: every request goes to the app (`fast_path = false`).
    enabled: bool,
}

impl<A: ServiceFactory<Request>> HotPaths<A> {
    pub fn new(
        app: impl IntoServiceFactory<A, Request>,
        state: web::Data<AppState>,
        timers: Rc<RequestTimers>,
        enabled: bool,
    ) -> Self {
        Self {
            app: app.into_factory(),
            state,
            timers,
            enabled,
        }
    }
}

impl<A, B> ServiceFactory<Request> for HotPaths<A>
where
    A: ServiceFactory<
        Request,
        Config = AppConfig,
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    A::Future: 'static,
    A::Service: 'static,
    B: MessageBody + 'static,
{
    type Response = Response<EitherBody<B>>;
    type Error = actix_web::Error;
    type Config = AppConfig;
    type Service = HotPathService<A::Service>;
    type InitError = A::InitError;
    type Future = LocalBoxFuture<'static, Result<Self::Service, Self::InitError>>;

    fn new_service(&self, config: AppConfig) -> Self::Future {
        let app = self.app.new_service(config);
        let (state, timers, enabled) = (self.state.clone(), self.timers.clone(), self.enabled);
        Box::pin(async move {
            Ok(HotPathService {
                app: app.await?,
                state,
                timers,
                enabled,
            })
        })
    }
}

pub struct HotPathService<S> {
    app: S,
    state: web::Data<AppState>,
    timers: Rc<RequestTimers>,
    enabled: bool,
}

type AppAnswer<B> = Result<Response<EitherBody<B>>, actix_web::Error>;
type ToResponse<B> = fn(ServiceResponse<B>) -> Response<EitherBody<B>>;

impl<S, B> Service<Request> for HotPathService<S>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = Response<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Either<MapOk<S::Future, ToResponse<B>>, LocalBoxFuture<'static, AppAnswer<B>>>;

    forward_ready!(app);

    fn call(&self, req: Request) -> Self::Future {
        let route = self
            .enabled
            .then(|| Route::of(req.path()))
            .flatten()
            .filter(|route| route.is_hot());
        let Some(route) = route else {
            let to_response: ToResponse<B> = |res| res.map_into_left_body().into();
            return Either::Left(self.app.call(req).map_ok(to_response));
        };
        let (state, timers) = (self.state.clone(), self.timers.clone());
        Either::Right(Box::pin(async move {
            let response = answer(&state, &timers, &req, route).await;
            Ok(response.map_body(|_, body| EitherBody::right(body)))
        }))
    }
}

/// Answers a hot route with the app's handler, between the app's layers.
async fn answer(
    state: &AppState,
    timers: &RequestTimers,
    req: &Request,
    route: Route,
) -> Response<BoxBody> {
    let observed = Observed::begin(req.headers(), req.method(), Some(route));
    let allowed = cors::allowed_origin(state, Some(route), req.path(), req.headers());
    if let Some(preflight) = cors::preflight(Some(route), req.method(), allowed.clone()) {
        return observed.finish(preflight, Some(timers)).into();
    }
    let answered = handle(state, req, route)
        .instrument(observed.span.clone())
        .await;
    let mut response = answered.unwrap_or_else(HttpResponse::from_error);
    cors::allow(&mut response, allowed);
    observed.finish(response, Some(timers)).into()
}

/// What the app's resource would do: the method check, then the handler with what the app's
/// extractors would have read.
async fn handle(state: &AppState, req: &Request, route: Route) -> Result<HttpResponse, ApiError> {
    if !route.answers(req.method()) {
        return Err(ApiError::MethodNotAllowed);
    }
    // Every hot route is `/v1/events/{event}/...`.
    let raw_event = req.path()["/v1/events/".len()..]
        .split('/')
        .next()
        .unwrap_or_default();
    let peer = req.head().peer_addr.map(|addr| addr.ip());
    let event = KnownEvent::find(state, raw_event).and_then(|event| {
        within_limits(state, &event, Some(route), peer, req.headers())?;
        Ok(event)
    });
    let token = presented_token(req.headers(), &state.cookie_prefix, raw_event);
    let token = token.as_deref();
    match route {
        Route::Join => {
            let https = over_https(state, peer, req.headers());
            visitor::join(state, event?, token, (https, peer, req.headers())).await
        }
        Route::Status => {
            let https = over_https(state, peer, req.headers());
            visitor::status(state, event?, token, https).await
        }
        _ => visitor::gate(state, event, token, (peer, req.headers())).await,
    }
}

//! The hot paths: joins and status and gate checks, the requests a crowd makes by the hundred
//! thousand, are answered here, in front of the actix-web app, straight from the HTTP request.
//! Going through the app (middleware, scope pattern, resource, extractors) cost a status check
//! about a sixth of its CPU time. Everything else goes on to the app unchanged.

use std::rc::Rc;

use actix_http::Request;
use actix_service::IntoServiceFactory;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{
    forward_ready, AppConfig, Response, Service, ServiceFactory, ServiceResponse,
};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpMessage, ResponseError};
use futures_util::future::{Either, LocalBoxFuture, MapOk};
use futures_util::TryFutureExt;
use tracing::Instrument;

use super::{visitor, AppState, Observed};
use crate::metrics::RequestTimers;
use crate::problem::ApiError;

/// Wraps the app's service factory: one `HotPathService` per worker, in front of the app's.
pub struct HotPaths<A> {
    app: A,
    state: web::Data<AppState>,
    timers: Rc<RequestTimers>,
}

impl<A: ServiceFactory<Request>> HotPaths<A> {
    pub fn new(
        app: impl IntoServiceFactory<A, Request>,
        state: web::Data<AppState>,
        timers: Rc<RequestTimers>,
    ) -> Self {
        Self {
            app: app.into_factory(),
            state,
            timers,
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
        let (state, timers) = (self.state.clone(), self.timers.clone());
        Box::pin(async move {
            Ok(HotPathService {
                app: app.await?,
                state,
                timers,
            })
        })
    }
}

pub struct HotPathService<S> {
    app: S,
    state: web::Data<AppState>,
    timers: Rc<RequestTimers>,
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
        let Some(route) = HotRoute::of(req.path()) else {
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

/// What a hot path asks for; the event is the path's third segment.
#[derive(Clone, Copy)]
enum HotRoute {
    Join,
    Status,
    Gate,
}

impl HotRoute {
    /// The hot route `path` names, if any: `/v1/events/{event}/` and `join`, `status` or `gate`.
    fn of(path: &str) -> Option<Self> {
        let (event, action) = path.strip_prefix("/v1/events/")?.split_once('/')?;
        if event.is_empty() {
            return None;
        }
        match action {
            "join" => Some(HotRoute::Join),
            "status" => Some(HotRoute::Status),
            "gate" => Some(HotRoute::Gate),
            _ => None,
        }
    }

    fn method(self) -> Method {
        match self {
            HotRoute::Join => Method::POST,
            HotRoute::Status | HotRoute::Gate => Method::GET,
        }
    }

    /// The `Allow` header of a 405.
    fn allow(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            HotRoute::Join => "POST",
            HotRoute::Status | HotRoute::Gate => "GET",
        })
    }
}

/// Answers a hot path as the app would: a problem document for any error, the request id, the
/// metrics and the log line of [`super::observe_request`].
async fn answer(
    state: &AppState,
    timers: &RequestTimers,
    req: &Request,
    route: HotRoute,
) -> Response<BoxBody> {
    let observed = Observed::new(req.headers(), req.method(), req.path());
    let event = req.path()["/v1/events/".len()..]
        .split('/')
        .next()
        .unwrap_or_default();
    let headers = req.headers();
    let answered = if *req.method() != route.method() {
        Err(ApiError::MethodNotAllowed)
    } else {
        match route {
            HotRoute::Join => {
                visitor::join(state, event, headers)
                    .instrument(observed.span.clone())
                    .await
            }
            HotRoute::Status => {
                visitor::status(state, event, headers)
                    .instrument(observed.span.clone())
                    .await
            }
            HotRoute::Gate => visitor::gate(state, event, headers),
        }
    };
    let (mut response, failure) = match answered {
        Ok(response) => (response, None),
        Err(e) => {
            let mut response = e.error_response();
            if matches!(e, ApiError::MethodNotAllowed) {
                response.headers_mut().insert(header::ALLOW, route.allow());
            }
            let failure = response.status().is_server_error().then(|| e.to_string());
            (response, failure)
        }
    };
    let status = response.status();
    observed.finish(status, response.headers_mut(), Some(timers), failure);
    response.into()
}

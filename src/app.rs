//! The application: shared state, the router, and `serve`.
//!
//! Every request passes the one middleware, `front`: a request id and a span, and for the MCP
//! routes (`/mcp` in every era, `/sse` and `/messages` of 2024-11-05) the Origin/Host guard with
//! CORS and then the token gate, whose [`Principal`] the handlers take. Public routes
//! (metadata, health, metrics) pass no gate; `crate::routes` says which is which.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::auth::challenge::Challenges;
use crate::auth::dpop::{ProofPolicy, Proofs};
use crate::auth::{
    Gate, JwksKeyStore, KeyStore, KeycloakJwks, Policy, Principal, Validator, key_store, outbound,
};
use crate::config::{ConnectionSettings, Settings};
use crate::corpus::{self, Corpus, CorpusError};
use crate::fair::Fair;
use crate::mcp::{self, McpShared, McpState, legacy_sse::Sessions};
use crate::metadata::{self, Metadata};
use crate::replicas::Replicas;
use crate::routes::Route;
use crate::telemetry::audit::Audit;
use crate::telemetry::{self, Metrics, Scraped};

use crate::tools::Tools;

mod connections;

/// Everything handlers share, behind one `Arc`: axum clones the state for every extractor and
/// middleware of every request, and one reference count is cheaper to touch than nine
/// (measured in docs/benchmarks.md).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`].
pub struct Shared {
    pub settings: Arc<Settings>,
    pub validator: Arc<Validator>,
    pub keys: Arc<dyn KeyStore>,
    pub jwks: Arc<JwksKeyStore>,
    pub challenges: Arc<Challenges>,
    /// Who gets in: run by the front layer on every protected route.
    pub gate: Arc<Gate>,
    pub metadata: Arc<Metadata>,
    pub metrics: Arc<Metrics>,
    /// The state replicas share, when `MCP_REDIS_URL` names a Redis.
    pub replicas: Arc<Replicas>,
    /// What the MCP handlers see: the tools, the `/sse` sessions and the fair-use allowances
    /// live here, and the settings and metrics are shared with it.
    pub mcp: McpState,
}

impl AppState {
    /// Builds the state and indexes the corpus; nothing is fetched from Keycloak until
    /// [`serve`] starts the key refresher.
    pub fn new(settings: Settings) -> Result<Self, CorpusError> {
        let corpus = Corpus::open(corpus::Source::from_settings(&settings.corpus))?;
        Ok(Self::with_corpus(settings, Arc::new(corpus)))
    }

    /// Builds the state around a corpus that is already indexed.
    pub fn with_corpus(settings: Settings, corpus: Arc<Corpus>) -> Self {
        let metrics = Arc::new(Metrics::new());
        let jwks = key_store(&settings, &metrics);
        let keys: Arc<dyn KeyStore> = jwks.clone();
        let validator = Arc::new(Validator::new(
            Policy::from_settings(&settings),
            keys.clone(),
            settings.token_cache_size,
            metrics.clone(),
        ));
        let challenges = Arc::new(Challenges::new(&settings));
        let replicas = Replicas::new(settings.redis.as_ref());
        let gate = Arc::new(Gate::new(
            validator.clone(),
            &settings,
            Arc::new(Proofs::new(ProofPolicy::from_settings(&settings))),
            replicas.clone(),
            challenges.clone(),
            metrics.clone(),
        ));
        let tools = tools(&settings, corpus, &challenges);
        let metadata = Arc::new(Metadata::new(&settings, &crate::auth::jwk::Alg::names()));
        let settings = Arc::new(settings);
        let sessions = Sessions::start(&settings.sse, replicas.clone());
        let fair = Arc::new(Fair::new(&settings.fair, replicas.clone(), metrics.clone()));
        // Each part shows its own state at a scrape (`telemetry::Scraped`).
        let parts: [Arc<dyn Scraped>; 7] = [
            jwks.clone(),
            validator.clone(),
            gate.clone(),
            replicas.clone(),
            sessions.clone(),
            fair.clone(),
            tools.corpus().clone(),
        ];
        parts.into_iter().for_each(|part| metrics.observe(part));
        let mcp = McpState::new(McpShared {
            tools,
            sessions,
            fair,
            settings: settings.clone(),
            metrics: metrics.clone(),
        });
        AppState(Arc::new(Shared {
            challenges,
            gate,
            metadata,
            settings,
            validator,
            keys,
            jwks,
            metrics,
            replicas,
            mcp,
        }))
    }
}

/// The tools over `corpus`, with the scopes each needs and the audit trail of their calls.
fn tools(settings: &Settings, corpus: Arc<Corpus>, challenges: &Challenges) -> Arc<Tools> {
    Arc::new(Tools::new(
        corpus,
        &settings.required_scopes,
        &settings.tool_scopes,
        challenges,
        Audit::new(settings.audit_queries),
    ))
}

/// The signing-key cache, fed by Keycloak at `KC_JWKS_URL` or through discovery.
fn key_store(settings: &Settings, metrics: &Arc<Metrics>) -> Arc<JwksKeyStore> {
    let source = KeycloakJwks::new(
        outbound::http_client(settings.jwks.http_timeout),
        settings.discovery_url.clone(),
        settings.jwks_url.clone(),
        settings.issuer.clone(),
    );
    Arc::new(JwksKeyStore::new(
        Box::new(source),
        settings.jwks.clone(),
        metrics.clone(),
    ))
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for Arc<Metadata> {
    fn from_ref(state: &AppState) -> Self {
        state.metadata.clone()
    }
}

impl FromRef<AppState> for McpState {
    fn from_ref(state: &AppState) -> Self {
        state.mcp.clone()
    }
}

impl FromRef<AppState> for Arc<dyn KeyStore> {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

/// The whole HTTP surface: the routes of the route table ([`Route`]), each with its handlers.
pub fn build_router(state: AppState) -> Router {
    let mut router = Router::new();
    let metrics_apart = state.settings.metrics_bind.is_some();
    for route in Route::ALL {
        if route == Route::Metrics && metrics_apart {
            // Served on MCP_METRICS_BIND alone; here it is a path like any unknown one.
            continue;
        }
        if route == Route::Metadata {
            for path in &state.metadata.paths {
                router = router.route(path, handlers(route));
            }
        } else {
            router = router.route(route.path(), handlers(route));
        }
    }
    // No `DefaultBodyLimit` layer: no handler uses axum's body extractors; every body is read
    // by `read_body`, which enforces MCP_MAX_BODY_BYTES.
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), front))
        .with_state(state)
}

/// The handlers of one route, by method.
fn handlers(route: Route) -> MethodRouter<AppState> {
    match route {
        Route::Mcp => get(mcp::method_not_allowed)
            .post(mcp::streamable_http::post)
            .delete(mcp::method_not_allowed),
        Route::Sse => get(mcp::legacy_sse::open).post(mcp::sse_post_not_allowed),
        Route::Messages => post(mcp::legacy_sse::post),
        Route::Healthz => get(healthz),
        Route::Readyz => get(readyz),
        Route::Metrics => get(metrics),
        Route::Root => get(metadata::documentation),
        Route::Metadata => get(metadata::document).options(metadata::preflight),
    }
}

/// The one middleware in front of every route: telemetry around the request, and for the MCP
/// routes the Host/Origin guard with CORS ([`mcp::origin`]). One layer rather than two, as
/// each costs a clone of the routes and a boxed future per request (docs/benchmarks.md).
async fn front(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let observed = telemetry::Observed::start(&mut req);
    let route = observed.route();
    let response = async {
        let inner = |req| enter(&state, route, req, next);
        if route.is_some_and(Route::browser_guarded) {
            mcp::origin::guard(&state.settings, req, inner).await
        } else if let Err(bad) = mcp::origin::request_host(&req) {
            bad.into_response()
        } else {
            inner(req).await
        }
    }
    .instrument(observed.span.clone())
    .await;
    observed.finish(&state.metrics, response)
}

/// Lets a request on to its handler; for a protected route only once the gate has admitted it,
/// the caller's allowance of requests has room for it, and its DPoP proof, if any, was not used
/// before. The proof is remembered last, so a request refused on the way takes no room in the
/// replay cache. Handlers find the caller ([`crate::fair::Caller`]) beside the principal.
async fn enter(state: &AppState, route: Option<Route>, mut req: Request, next: Next) -> Response {
    if !route.is_some_and(Route::protected) {
        return next.run(req).await;
    }
    let admitted = match state.gate.admit(&mut req).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused.into_response(),
    };
    let Some(principal) = req.extensions().get::<Principal>() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let caller = state.mcp.fair.caller(principal);
    let request_id = telemetry::RequestId::of(&req);
    match mcp::http::admit_request(&state.mcp, caller).await {
        Ok(()) => {}
        Err(mut refused) => {
            if let Some(nonce) = admitted.nonce {
                refused.headers_mut().insert("dpop-nonce", nonce);
            }
            return refused;
        }
    };
    let nonce = match state
        .gate
        .remember(&request_id, admitted, caller.id())
        .await
    {
        Ok(nonce) => nonce,
        Err(refused) => return refused.into_response(),
    };
    req.extensions_mut().insert(caller);
    let mut response = next.run(req).await;
    if let Some(nonce) = nonce {
        response.headers_mut().insert("dpop-nonce", nonce);
    }
    response
}

/// Unknown paths get 404. Under `/.well-known/` the answer is readable from any origin, and a
/// CORS preflight is answered, like the metadata's own: browser clients probe this origin for
/// authorization-server metadata (`oauth-authorization-server`, `openid-configuration`) before
/// following the protected-resource metadata, and should see a 404, not a CORS failure.
async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    if !uri.path().starts_with("/.well-known/") {
        return (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({ "error": "not_found", "error_description": "no such path; the MCP endpoint is /mcp" }))).into_response();
    }
    if method == axum::http::Method::OPTIONS {
        return metadata::preflight().await;
    }
    let mut response = (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "error": "not_found",
            "error_description": "no such metadata here: this is an OAuth resource server; its protected-resource metadata (/.well-known/oauth-protected-resource) names the authorization server",
        })),
    )
        .into_response();
    metadata::cors(&mut response);
    response
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: signing keys are loaded, so tokens can be verified.
async fn readyz(State(keys): State<Arc<dyn KeyStore>>) -> Response {
    let status = keys.status();
    match status.age {
        Some(age) if status.keys > 0 => axum::Json(serde_json::json!({
            "status": "ready",
            "keys": status.kids,
            "jwks_age_seconds": age.as_secs(),
        }))
        .into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "not_ready",
                "reason": status.last_error.map_or_else(|| "signing keys are not loaded yet".into(), |e| e.public()),
            })),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Aborts the wrapped task when dropped, so the key refresher and the corpus reloader end with
/// the server.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves on an already bound listener until `shutdown` completes, refreshing keys and
/// rebuilding the corpus index meanwhile.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _refresher = AbortOnDrop(key_store::spawn_refresher(state.jwks.clone()));
    let watch = corpus::reload::Watch {
        enabled: state.settings.corpus.watch,
        debounce: state.settings.corpus.debounce,
    };
    let _reloader = corpus::reload::spawn(state.mcp.tools.corpus().clone(), watch).map(AbortOnDrop);
    let sessions = state.mcp.sessions.clone();
    let limits = state.settings.connections.clone();
    // One signal for the main listener and the metrics one.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let apart = match state.settings.metrics_bind {
        Some(addr) => Some(serve_metrics(addr, &state, until_stopped()).await?),
        None => None,
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    // One finished router, cloned (one reference count) per connection. Serving axum's
    // `Router` as its own make-service rebuilt the route table for every connection, about
    // 6 KiB each (measured with massif, docs/benchmarks.md).
    let router = build_router(state);
    let served = connections::run(listener, router, &limits, until_stopped(), move || {
        sessions.close_all()
    })
    .await;
    if let Some(task) = apart {
        task.await.map_err(std::io::Error::other)??;
    }
    served
}

/// Serves `/metrics` alone on `addr` (`MCP_METRICS_BIND`) until `until` completes.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    state: &AppState,
    until: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("MCP_METRICS_BIND: cannot listen on {addr}: {e}"),
        )
    })?;
    tracing::info!(bind = %listener.local_addr()?, "serving /metrics apart");
    let router = Router::new()
        .route(Route::Metrics.path(), get(metrics))
        .fallback(not_found)
        .with_state(state.clone());
    // A scraper or two, never the public: a few connections are plenty.
    let private = ConnectionSettings {
        max_connections: METRICS_CONNECTIONS,
        ..state.settings.connections.clone()
    };
    Ok(tokio::spawn(async move {
        connections::run(listener, router, &private, until, || {}).await
    }))
}

/// Most connections open at once on `MCP_METRICS_BIND`.
const METRICS_CONNECTIONS: usize = 16;

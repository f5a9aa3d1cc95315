//! An in-process stand-in for Keycloak's realm endpoints: discovery and the JWKS, with counters
//! and switches for outages, slow answers, garbage, rotation and `Cache-Control`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::tokens::Keys;

/// The public issuer tokens carry, as with `KC_HOSTNAME=https://auth.localhost`.
pub(crate) const ISSUER: &str = "https://auth.localhost/realms/mcp";

/// How the fake answers the JWKS endpoint.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Mode {
    Up,
    /// 503 from both endpoints.
    Down,
    /// A 200 whose body is not a JWK Set.
    Garbage,
    /// A JWK Set with only the encryption key.
    NoSigningKeys,
    /// The JWKS answers after this long (discovery stays quick).
    Slow(std::time::Duration),
}

pub(crate) struct FakeState {
    pub jwks: Mutex<Value>,
    pub mode: Mutex<Mode>,
    pub cache_control: Mutex<Option<String>>,
    pub discovery_issuer: Mutex<String>,
    pub jwks_fetches: AtomicUsize,
    pub discovery_fetches: AtomicUsize,
    base: String,
}

/// A running fake Keycloak.
pub(crate) struct FakeKeycloak {
    pub state: Arc<FakeState>,
    pub base: String,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeKeycloak {
    /// Starts with the default key set of [`Keys::jwks`].
    pub(crate) async fn start(keys: &Keys) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(FakeState {
            jwks: Mutex::new(keys.jwks()),
            mode: Mutex::new(Mode::Up),
            cache_control: Mutex::new(None),
            discovery_issuer: Mutex::new(ISSUER.to_owned()),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
            base: base.clone(),
        });
        let app = Router::new()
            .route(
                "/realms/mcp/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/realms/mcp/protocol/openid-connect/certs", get(certs))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeKeycloak {
            state,
            base,
            _server: server,
        }
    }

    pub(crate) fn discovery_url(&self) -> String {
        format!("{}/realms/mcp/.well-known/openid-configuration", self.base)
    }

    pub(crate) fn jwks_url(&self) -> String {
        format!("{}/realms/mcp/protocol/openid-connect/certs", self.base)
    }

    pub(crate) fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub(crate) fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub(crate) fn set_jwks(&self, jwks: Value) {
        *self.state.jwks.lock().unwrap() = jwks;
    }

    pub(crate) fn set_cache_control(&self, value: &str) {
        *self.state.cache_control.lock().unwrap() = Some(value.to_owned());
    }

    pub(crate) fn set_discovery_issuer(&self, issuer: &str) {
        *self.state.discovery_issuer.lock().unwrap() = issuer.to_owned();
    }
}

async fn discovery(State(s): State<Arc<FakeState>>) -> Response {
    s.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    if *s.mode.lock().unwrap() == Mode::Down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let issuer = s.discovery_issuer.lock().unwrap().clone();
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{}/realms/mcp/protocol/openid-connect/token", s.base),
        // As with KC_HOSTNAME_BACKCHANNEL_DYNAMIC: the public issuer, the internal JWKS URL.
        "jwks_uri": format!("{}/realms/mcp/protocol/openid-connect/certs", s.base),
        "code_challenge_methods_supported": ["plain", "S256"],
    }))
    .into_response()
}

async fn certs(State(s): State<Arc<FakeState>>) -> Response {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let mode = s.mode.lock().unwrap().clone();
    let jwks = s.jwks.lock().unwrap().clone();
    let mut response = match mode {
        Mode::Slow(delay) => {
            // A real sleep: the server under test waits for this answer on the real clock.
            tokio::time::sleep(delay).await;
            axum::Json(jwks).into_response()
        }
        Mode::Down => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Mode::Garbage => "<html>maintenance</html>".into_response(),
        Mode::NoSigningKeys => {
            let keys: Vec<Value> = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| k["use"] == "enc")
                .cloned()
                .collect();
            axum::Json(json!({ "keys": keys })).into_response()
        }
        Mode::Up => axum::Json(jwks).into_response(),
    };
    if let Some(cc) = s.cache_control.lock().unwrap().clone() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, cc.parse().unwrap());
    }
    response
}

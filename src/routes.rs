//! The one route table. The router (`app`) registers exactly these routes, the front layer
//! authenticates every protected one before any handler runs and puts the DNS-rebinding guard
//! in front of the browser-facing ones, and telemetry labels requests by them; nothing else
//! keeps a list of paths.

/// A route this server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /mcp`: Streamable HTTP, every protocol era.
    Mcp,
    /// `GET /sse`: the 2024-11-05 HTTP+SSE transport's stream.
    Sse,
    /// `POST /messages`: the 2024-11-05 transport's messages.
    Messages,
    Healthz,
    Readyz,
    Metrics,
    /// `GET /`: a short text for people who open the server's URL.
    Root,
    /// The protected-resource metadata documents (RFC 9728), every path under this prefix that
    /// `metadata::Metadata` serves.
    Metadata,
}

impl Route {
    /// Every route, in the order of their metric label indexes.
    pub const ALL: [Route; 8] = [
        Route::Mcp,
        Route::Sse,
        Route::Messages,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::Root,
        Route::Metadata,
    ];

    /// The path; for [`Route::Metadata`] the prefix its documents live under.
    pub const fn path(self) -> &'static str {
        match self {
            Route::Mcp => "/mcp",
            Route::Sse => "/sse",
            Route::Messages => "/messages",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::Root => "/",
            Route::Metadata => "/.well-known/oauth-protected-resource",
        }
    }

    /// Whether every request needs a valid access token with the required scopes. The front
    /// layer checks it before the request reaches a handler; the rest are the documented
    /// public routes.
    pub const fn protected(self) -> bool {
        matches!(self, Route::Mcp | Route::Sse | Route::Messages)
    }

    /// Whether the Host and Origin checks (DNS-rebinding protection) and CORS for browser
    /// clients apply: the MCP endpoints.
    pub const fn browser_guarded(self) -> bool {
        matches!(self, Route::Mcp | Route::Sse | Route::Messages)
    }

    /// The route a request path belongs to: an exact path, else the metadata documents (any
    /// path under their prefix); `None` for a path not served.
    pub fn of(path: &str) -> Option<Route> {
        Route::ALL
            .into_iter()
            .find(|r| r.path() == path)
            .or_else(|| {
                path.starts_with(Route::Metadata.path())
                    .then_some(Route::Metadata)
            })
    }

    /// The route's metric label index; [`OTHER`] is the last.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// The metric label of requests for paths not served.
pub const OTHER: &str = "other";

/// Metric labels: each route's path by [`Route::index`], then [`OTHER`].
pub const LABELS: [&str; Route::ALL.len() + 1] = {
    let mut labels = [OTHER; Route::ALL.len() + 1];
    let mut i = 0;
    while i < Route::ALL.len() {
        labels[i] = Route::ALL[i].path();
        i += 1;
    }
    labels
};

/// The index in [`LABELS`] of a request for `route`; a path not served (`None`) is [`OTHER`].
pub fn label_index(route: Option<Route>) -> usize {
    route.map_or(Route::ALL.len(), Route::index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_follow_the_order_of_all() {
        for (i, route) in Route::ALL.into_iter().enumerate() {
            assert_eq!(route.index(), i, "{route:?}");
            assert_eq!(LABELS[i], route.path());
        }
        assert_eq!(LABELS[Route::ALL.len()], OTHER);
    }

    #[test]
    fn paths_find_their_route() {
        assert_eq!(Route::of("/mcp"), Some(Route::Mcp));
        assert_eq!(Route::of("/"), Some(Route::Root));
        assert_eq!(
            Route::of("/.well-known/oauth-protected-resource/mcp"),
            Some(Route::Metadata)
        );
        assert_eq!(Route::of("/mcp/"), None);
        assert_eq!(Route::of("/.well-known/openid-configuration"), None);
        assert_eq!(LABELS[label_index(Route::of("/nowhere"))], OTHER);
    }
}

//! The baseline of `bench/run`: a bare axum server that answers `POST /mcp` with fixed bytes (the
//! real server's answer to the same request, captured by the script), with no authentication,
//! JSON-RPC decoding or tools. Built in the same run and profile as the server, so the ratio of
//! the two measures what token validation and MCP handling cost.
//!
//!     bare_axum <port> <response-body-file>

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .and_then(|p| p.parse().ok())
        .expect("usage: bare_axum <port> <body-file>");
    let body: &'static [u8] =
        std::fs::read(args.next().expect("usage: bare_axum <port> <body-file>"))
            .expect("read the body file")
            .leak();
    let app = Router::new().route(
        "/mcp",
        post(move || async move { ([(CONTENT_TYPE, "application/json")], body) }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}

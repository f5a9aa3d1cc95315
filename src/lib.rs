//! mcp-resource-server: an MCP resource server that lets ChatGPT and other MCP clients use an
//! organisation's documents, admitting only callers with valid Keycloak access tokens.
//!
//! The modules in layers, from the bottom up; each uses only layers below it (no module imports
//! one above it, and none imports another in a circle):
//!
//! 1. [`config`]: defaults, the TOML file and the environment, merged and validated into
//!    [`config::Settings`];
//!    [`routes`]: the one route table.
//! 2. [`telemetry`]: logs, request ids and metrics; `metadata`: the protected-resource
//!    metadata document; [`corpus`]: the documents, their index and who may see them;
//!    `replicas`: the state replicas share on Redis.
//! 3. [`auth`]: who gets in: keys, the validator, the gate, the challenges.
//! 4. [`tools`]: the tool list (`search`, `fetch`); `fair`: per-caller allowances and shares
//!    of the ranking pool.
//! 5. `mcp`: MCP over HTTP in every protocol era, and its Host/Origin guard; [`check`]: the
//!    staging gate, proving Keycloak, the configuration and the served tools agree.
//! 6. [`app`]: shared state, the router built from the route table, the front layer, `serve`.
//! 7. `commands`: `serve`, `check`, `healthcheck`; [`cli`]: the command line.
//!
//! [`alloc`] is the binary's allocator. docs/architecture.md walks one request through them.

pub mod alloc;
pub mod app;
pub mod auth;
pub mod check;
pub mod cli;
pub(crate) mod commands;
pub mod config;
pub mod corpus;
pub(crate) mod fair;
pub(crate) mod mcp;
pub(crate) mod metadata;
pub(crate) mod replicas;
pub mod routes;
pub mod telemetry;
pub mod tools;

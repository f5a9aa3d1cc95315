//! The integration tests: the real router on a real socket, a fake Keycloak beside it.
//! Each test name is the rule it proves.

mod attacks;
mod audit;
mod browser;
mod check;
mod clients;
mod conformance;
mod corpus;
mod docs;
mod dpop;
mod edge;
mod fair;
mod fuzz;
mod gate;
mod health;
mod hostile;
mod keycloak_real;
mod keys;
mod legacy_sse;
mod metadata;
mod observability;
mod origin;
mod process;
mod replicas;
mod replicas_sse;
mod shutdown;
mod stack;
mod stateless;
mod streamable;
mod support;
mod traces;

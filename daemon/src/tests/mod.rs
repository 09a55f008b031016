//! In-crate integration tests: a real daemon (`start`) on a temporary `AO_HOME`, driven over
//! loopback HTTP with reqwest and, where reqwest would fix up the request (Host), a raw client.

mod api;
mod events;
mod gates;
mod harness;
mod lifecycle;
mod openapi;
mod prs;
mod sessions;

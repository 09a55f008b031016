//! End-to-end tests: the real `ao` binary and the real daemon on a temporary `AO_HOME`, driven
//! as a user would (CLI) and as a program would (HTTP + SSE). One test binary for the crate;
//! each area of behaviour is a module.

mod agents;
mod chaos;
mod daemon_control;
mod events;
mod fake_agent;
mod faults;
mod projects;
mod prs;
mod security;
mod sessions;
mod zellij;

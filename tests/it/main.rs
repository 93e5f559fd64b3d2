//! Gavel's integration tests: one binary, real adapters, real sandbox, real toolchains.

mod callbacks;
mod checkers;
mod cli;
mod cloud;
mod contract;
mod docker;
mod durability;
mod harness;
mod hostile;
mod http_api;
mod interactors;
mod isolation;
mod judge0;
mod languages;
mod outputs;
mod piston;
mod problems;

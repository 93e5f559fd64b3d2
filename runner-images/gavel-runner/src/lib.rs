//! The runner: the same binary in every runner image and behind the embedded process launcher.

mod check;
mod helpers;
mod interact;
pub mod job;
pub mod location;
pub mod overhead;
pub mod sandbox;

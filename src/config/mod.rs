//! What the user asked for: flags, environment, the config file and the preset, resolved once
//! into `Settings`.

pub mod defs;
pub mod file;
pub mod origin;
pub mod preset;
pub mod settings;

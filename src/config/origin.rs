//! Where a setting's value came from: a flag, the environment, the config file, the preset or
//! the default. Every message about a setting names it.

use std::path::PathBuf;

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Env(&'static str),
    File(PathBuf),
    Preset(String),
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(name) => write!(f, "flag {name}"),
            Origin::Env(name) => write!(f, "env {name}"),
            Origin::File(p) => write!(f, "file {}", p.display()),
            Origin::Preset(p) => write!(f, "preset {p}"),
            Origin::Default => write!(f, "default"),
        }
    }
}

//! The only layer that writes SQL text: dialects, identifier quoting, placeholders, the askama
//! templates, connections and the typed catalog queries.

pub mod catalog;
pub mod conn;
pub mod dburl;
pub mod dialect;
pub mod ident;
pub mod templates;
pub mod trace;

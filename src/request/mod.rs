//! What a request says, before any JWT is looked at: which endpoint its path names, and its
//! parameters from the query string and the body, with repeated names and malformed encodings
//! refused. No validation of meaning happens here.

pub mod body;
pub mod params;
pub mod path;

pub use params::{Param, Params};
pub use path::{Endpoint, Route, Routes};

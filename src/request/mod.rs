//! What a request says, before any JWT is looked at: its request target, which endpoint its
//! path names, its headers, its Basic credentials, and its parameters from the query string and
//! the body, with repeated names, malformed encodings and anything another server could read
//! differently refused (`json_form`: a JSON body another stack would read as a form), and the
//! syntax of a `request_uri` (`urn`). No validation of meaning happens here.

pub mod auth_method;
pub mod basic;
pub mod body;
pub mod headers;
pub mod json_form;
pub mod params;
pub mod path;
pub mod target;
pub mod urn;

pub use auth_method::AuthMethod;
pub use params::{Param, Params};
pub use path::{Endpoint, Route, Routes};

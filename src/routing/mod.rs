//! Routing in Tornado's shape: an ordered list of rules, each a [`Matcher`]
//! and a [`Target`].
//!
//! A target is anything that can answer a request: a handler (an async
//! closure, a [`RequestHandler`](crate::RequestHandler) type, a
//! [`MethodRouter`]), a nested [`Router`], or a type of your own. A target may
//! decline a request it was given (a nested router whose rules all miss), and
//! the router then tries the next rule.
//!
//! What lives here: the router, matchers and method dispatch. What does not:
//! the [`Target`] contract itself, defined beside the request in `web` (and
//! re-exported here), the request and response types, the server.

mod matcher;
mod method;
mod router;

pub use matcher::{AnyMatches, HostMatches, Matcher, PathMatches, PathPrefix};
pub use method::{MethodRouter, delete, get, head, options, patch, post, put};
pub(crate) use router::answer;
pub use router::{Router, Rule};

pub use crate::web::{BoxFuture, Dispatch, Target};

//! CGI/1.1 (RFC 3875): legacy programs in any language as gateway apps.
//!
//! [`CgiProgram`] runs a program per request: the environ becomes its
//! environment, the request body its standard input, and its standard output
//! (a header block, then the body) the response. It is an
//! [`App`](crate::gateway::App), so it mounts through a
//! [`GatewayContainer`](crate::gateway::GatewayContainer) and runs on the
//! container's executor (use a thread pool: each call blocks on a process).
//!
//! [`PhpCgi`] is a directory of PHP scripts run by `php-cgi`, with the
//! variables PHP wants and the path rules that keep anything but a `.php`
//! file under the root from running.
//!
//! [`serve`] goes the other way: it runs a gateway app — a squall app too,
//! through [`TargetApp`](crate::gateway::TargetApp) — as a CGI program under
//! a CGI server.
//!
//! Unix only, behind the `cgi` feature.

mod php;
mod process;
mod program;
mod serve;
mod spool;

pub use php::PhpCgi;
pub use program::CgiProgram;
pub use serve::serve;

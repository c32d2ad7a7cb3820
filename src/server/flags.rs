//! [`Flags`]: the server's options as command-line flags, so that an app
//! deployed from the command line sets every limit and timeout, its worker
//! processes and its drain without anyone writing Rust.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{AccessLog, ServerBuilder};
use crate::error::{Error, Result};

/// The server's command-line flags: each option of [`ServerBuilder`], worker
/// processes, `SO_REUSEPORT` and the drain deadline. An app's own parser
/// hands every argument it does not know to [`take`](Flags::take), and
/// prints [`Flags::HELP`] under its own usage. Sizes are bytes, with an
/// optional `K`, `M` or `G` (powers of 1024); times are seconds (`0.5`), or
/// `none` to wait for ever. `--flag value` and `--flag=value` both work.
///
/// # Examples
///
/// ```
/// use squall::server::Flags;
///
/// let mut args = ["--max-body-size", "10M", "--idle-timeout=30", "--app", "x"].map(String::from).into_iter();
/// let mut flags = Flags::default();
/// let mut own = Vec::new();
/// while let Some(arg) = args.next() {
///     if !flags.take(&arg, &mut args)? {
///         own.push(arg); // the app's own flags, parsed by the app
///     }
/// }
/// assert_eq!(own, ["--app", "x"]);
/// let server = flags.server_builder()?.build(squall::Router::new());
/// # let _ = server;
/// # Ok::<_, squall::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Flags {
    builder: ServerBuilder,
    workers: Option<usize>,
    reuse_port: bool,
    drain_timeout: Duration,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

impl Default for Flags {
    /// Every option at its default, but the access log: written to standard
    /// error by squall, buffered ([`AccessLog::stderr`]).
    fn default() -> Self {
        Flags {
            builder: ServerBuilder::default().access_log(AccessLog::stderr()),
            workers: None,
            reuse_port: false,
            drain_timeout: Duration::from_secs(10),
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Flags {
    /// What the flags mean, for an app's `--help`.
    pub const HELP: &'static str = "\
server options (sizes in bytes, or with K, M, G; times in seconds, or none):
  --max-header-size SIZE     largest request head: 431 (414 for the request line); 64K
  --max-body-size SIZE       largest request body: 413; 100M
  --max-buffer-size SIZE     largest body a handler reads whole: 413; 100M
  --idle-timeout SECS        idle keep-alive limit, and total time for a request head: 408; 60
  --body-timeout SECS        total time for a request body: 408; 300
  --write-timeout SECS       how long a client may stop reading its response; 60
  --max-connections N        open connections at most: 503 beyond; 10000
  --no-keep-alive            close every connection after one response
  --xheaders                 believe X-Forwarded-For / X-Real-Ip / X-Scheme / Forwarded
  --trusted-downstream LIST  proxies believed: addresses or CIDR ranges, comma-separated; loopback
  --protocol http|https      the scheme requests report (behind a TLS proxy: https)
  --decompress-request       inflate gzip request bodies
  --tls-cert FILE            PEM certificate chain, with --tls-key (feature tls)
  --tls-key FILE             PEM private key
  --workers N                worker processes sharing the port (0: one per CPU)
  --reuse-port               bind with SO_REUSEPORT
  --drain-timeout SECS       graceful shutdown deadline on SIGTERM or SIGINT; 10
  --access-log WHERE         stderr (buffered), stdout, a file's path, log (the program's
                             logger, target squall::access) or off; stderr
";

    /// Takes `arg` when it is one of the server's flags, with its value (the
    /// part after `=`, or the next of `rest`): `Ok(true)`. Anything else is
    /// left to the caller: `Ok(false)`, and `rest` is untouched.
    ///
    /// # Errors
    ///
    /// A configuration error naming the flag when its value is missing or
    /// does not parse.
    pub fn take(&mut self, arg: &str, rest: &mut impl Iterator<Item = String>) -> Result<bool> {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg, None),
        };
        let mut value = || inline.clone().or_else(|| rest.next()).ok_or_else(|| invalid(flag, "needs a value"));
        let b = std::mem::take(&mut self.builder);
        self.builder = match flag {
            "--max-header-size" => b.max_header_size(size(flag, &value()?)?),
            "--max-body-size" => b.max_body_size(size(flag, &value()?)?),
            "--max-buffer-size" => b.max_buffer_size(size(flag, &value()?)?),
            "--idle-timeout" => b.idle_connection_timeout(seconds(flag, &value()?)?),
            "--body-timeout" => b.body_timeout(seconds(flag, &value()?)?),
            "--write-timeout" => b.write_timeout(seconds(flag, &value()?)?),
            "--max-connections" => b.max_connections(number(flag, &value()?)?),
            "--no-keep-alive" => b.no_keep_alive(true),
            "--xheaders" => b.xheaders(true),
            "--trusted-downstream" => b.trusted_downstream(value()?.split(',').map(str::trim))?,
            "--protocol" => b.protocol(&value()?)?,
            "--decompress-request" => b.decompress_request(true),
            "--access-log" => b.access_log(AccessLog::by_name(&value()?)?),
            "--tls-cert" => {
                self.tls_cert = Some(value()?.into());
                b
            }
            "--tls-key" => {
                self.tls_key = Some(value()?.into());
                b
            }
            "--workers" => {
                self.workers = Some(number(flag, &value()?)?);
                b
            }
            "--reuse-port" => {
                self.reuse_port = true;
                b
            }
            "--drain-timeout" => {
                self.drain_timeout = seconds(flag, &value()?)?.unwrap_or(Duration::MAX);
                b
            }
            _ => {
                self.builder = b;
                return Ok(false);
            }
        };
        Ok(true)
    }

    /// A builder with the options given, TLS included.
    ///
    /// # Errors
    ///
    /// A configuration error when only one of `--tls-cert` and `--tls-key`
    /// was given, when their files do not hold a matching certificate and
    /// key, or when TLS is asked for without the `tls` feature.
    pub fn server_builder(&self) -> Result<ServerBuilder> {
        let builder = self.builder.clone();
        // ANCHOR: tls
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => Ok(builder),
            #[cfg(feature = "tls")]
            (Some(cert), Some(key)) => builder.tls_pem_files(cert, key),
            #[cfg(not(feature = "tls"))]
            (Some(_), Some(_)) => Err(Error::config("--tls-cert and --tls-key need squall's tls feature")),
            _ => Err(Error::config("--tls-cert and --tls-key go together")),
        }
        // ANCHOR_END: tls
    }

    /// `https` when TLS was asked for, else `http`: the scheme of the URLs
    /// the server answers.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() { "https" } else { "http" }
    }

    /// `--workers`: how many worker processes (0: one per CPU), if any.
    pub fn workers(&self) -> Option<usize> {
        self.workers
    }

    /// `--reuse-port`: bind with `SO_REUSEPORT`.
    pub fn reuse_port(&self) -> bool {
        self.reuse_port
    }

    /// `--drain-timeout`: how long a graceful shutdown waits for requests
    /// in flight. Default: 10 s.
    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout
    }

    /// Binds `addr`, starts the worker processes `--workers` asks for, and
    /// in each process builds its app with `app` (given the worker's id) and
    /// serves it until `SIGTERM` or `SIGINT`, then drains within
    /// `--drain-timeout`. Once the first process serves, `ready` gets the
    /// addresses bound (to print them). The supervisor of worker processes
    /// returns once every worker has ended.
    ///
    /// # Errors
    ///
    /// An address that cannot be bound, TLS files that cannot be used, the
    /// app's own error, or workers that keep dying.
    #[cfg(unix)]
    pub fn serve<T, A, R>(&self, addr: &str, app: A, ready: R) -> Result<()>
    where
        T: crate::routing::Target,
        A: FnOnce(Option<usize>) -> Result<T>,
        R: FnOnce(&[SocketAddr]),
    {
        use super::{Server, process};
        // ANCHOR: serve
        let builder = self.server_builder()?;
        let sockets = process::bind_sockets(addr, self.reuse_port)?;
        let worker = match self.workers {
            Some(n) => match process::fork_processes(&sockets, n, 100)? {
                Some(id) => Some(id),
                None => return Ok(()), // the supervisor: every worker has ended
            },
            None => None,
        };
        let app = app(worker)?;
        crate::rt::block_on(async {
            let server: Server = builder.build(app);
            let bound = server.add_sockets(sockets)?;
            server.shutdown_on_signals(self.drain_timeout)?;
            if worker.unwrap_or(0) == 0 {
                ready(&bound);
            }
            server.wait().await;
            Ok(())
        })
        // ANCHOR_END: serve
    }
}

fn invalid(flag: &str, why: &str) -> Error {
    Error::config(format!("{flag} {why}"))
}

/// A number of bytes: `65536`, `64K`, `10M`, `1G` (powers of 1024).
fn size<T: TryFrom<u64>>(flag: &str, text: &str) -> Result<T> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let unit: u64 = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(invalid(flag, &format!("takes a size (65536, 64K, 10M), not {text:?}"))),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| invalid(flag, &format!("takes a size (65536, 64K, 10M), not {text:?}")))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T> {
    text.parse().map_err(|_| invalid(flag, &format!("takes a number, not {text:?}")))
}

/// Seconds (`30`, `0.5`), or `none` for no limit.
fn seconds(flag: &str, text: &str) -> Result<Option<Duration>> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match text.parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok()) {
        Some(time) if !time.is_zero() => Ok(Some(time)),
        _ => Err(invalid(flag, &format!("takes a number of seconds above 0, or none, not {text:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_all(args: &[&str]) -> Result<(Flags, Vec<String>)> {
        let mut rest = args.iter().map(|s| (*s).to_owned());
        let (mut flags, mut own) = (Flags::default(), Vec::new());
        while let Some(arg) = rest.next() {
            if !flags.take(&arg, &mut rest)? {
                own.push(arg);
            }
        }
        Ok((flags, own))
    }

    #[test]
    fn sizes_times_and_numbers_in_both_spellings() {
        assert_eq!(size::<u64>("--x", "65536").unwrap(), 65536);
        assert_eq!(size::<u64>("--x", "64K").unwrap(), 64 << 10);
        assert_eq!(size::<u64>("--x", "10m").unwrap(), 10 << 20);
        assert_eq!(size::<u64>("--x", "1GiB").unwrap(), 1 << 30);
        for bad in ["", "K", "10X", "-1", "1.5M", "99999999999999999999"] {
            assert!(size::<u64>("--x", bad).is_err(), "{bad:?}");
        }
        assert!(size::<usize>("--x", "16G").is_ok() == (usize::BITS > 32));
        assert_eq!(seconds("--x", "0.5").unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(seconds("--x", "none").unwrap(), None);
        for bad in ["0", "-1", "soon", "NaN", "inf"] {
            assert!(seconds("--x", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_servers_flags_are_taken_and_the_rest_left_in_order() {
        let (flags, own) = take_all(&[
            "--app",
            "a:b",
            "--max-body-size=1M",
            "--idle-timeout",
            "30",
            "--workers",
            "2",
            "--xheaders",
            "--drain-timeout=none",
            "ADDR",
        ])
        .unwrap();
        assert_eq!(own, ["--app", "a:b", "ADDR"]);
        assert_eq!(flags.workers(), Some(2));
        assert_eq!(flags.drain_timeout(), Duration::MAX);
        let config = flags.server_builder().unwrap().config;
        assert_eq!(config.max_body_size, 1 << 20);
        assert_eq!(config.idle_connection_timeout, Some(Duration::from_secs(30)));
        assert!(config.xheaders);
    }

    #[test]
    fn a_bad_or_missing_value_names_its_flag() {
        let err = take_all(&["--max-body-size", "lots"]).unwrap_err().to_string();
        assert_eq!(err, "--max-body-size takes a size (65536, 64K, 10M), not \"lots\"");
        let err = take_all(&["--workers"]).unwrap_err().to_string();
        assert_eq!(err, "--workers needs a value");
        assert!(take_all(&["--protocol", "gopher"]).is_err());
        assert!(take_all(&["--trusted-downstream", "10.0.0.0/8, nonsense"]).is_err());
        let (flags, _) = take_all(&["--tls-cert", "c.pem"]).unwrap();
        assert_eq!(flags.server_builder().unwrap_err().to_string(), "--tls-cert and --tls-key go together");
    }
}

//! The examples' command lines: an address, the example's own flags, the
//! server's (`squall::server::Flags`) and `--help`. A mistake prints the
//! usage and exits 2; a failure to start prints one line and exits 1.
#![allow(dead_code)] // each example uses part of it

use std::fmt::Display;
use std::net::SocketAddr;

use squall::server::Flags;

/// The one argument of a minimal example: the address to listen on
/// (`127.0.0.1:8888` without it). `--help` prints `usage`; anything else is
/// refused with it.
pub(crate) fn address(program: &'static str, usage: &'static str) -> String {
    let mut cli = Cli::without_server_flags(program, usage);
    if let Some(flag) = cli.next() {
        cli.unknown(&flag);
    }
    cli.addr
}

/// An example's arguments, read one flag at a time.
pub(crate) struct Cli {
    program: &'static str,
    usage: &'static str,
    args: std::vec::IntoIter<String>,
    /// The value after `=` in the flag just returned (`--app=x`).
    inline: Option<String>,
    /// The address to listen on: the first argument that is not a flag.
    pub(crate) addr: String,
    addr_given: bool,
    /// The server's flags, when the example takes them.
    pub(crate) flags: Option<Flags>,
}

impl Cli {
    /// The command line of `program`, which takes the server's flags.
    /// `usage` is the example's own part of `--help`.
    pub(crate) fn new(program: &'static str, usage: &'static str) -> Cli {
        Cli { flags: Some(Flags::default()), ..Cli::without_server_flags(program, usage) }
    }

    /// The command line of `program`, which takes an address and its own
    /// flags only.
    pub(crate) fn without_server_flags(program: &'static str, usage: &'static str) -> Cli {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let addr = "127.0.0.1:8888".to_owned();
        Cli { program, usage, args: args.into_iter(), inline: None, addr, addr_given: false, flags: None }
    }

    /// The next of the example's own flags; the server's flags and the
    /// address are taken on the way, `--help` answered.
    pub(crate) fn next(&mut self) -> Option<String> {
        loop {
            let arg = self.args.next()?;
            if arg == "-h" || arg == "--help" {
                self.help();
            }
            if let Some(flags) = &mut self.flags {
                match flags.take(&arg, &mut self.args) {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => self.fail(e),
                }
            }
            if !arg.starts_with('-') {
                if self.addr_given {
                    self.fail(format!("unexpected argument {arg}"));
                }
                self.addr_given = true;
                self.addr = arg;
                continue;
            }
            return Some(match arg.split_once('=') {
                Some((flag, value)) => {
                    self.inline = Some(value.to_owned());
                    flag.to_owned()
                }
                None => {
                    self.inline = None;
                    arg
                }
            });
        }
    }

    /// The value of `flag`, just returned by [`next`](Cli::next).
    pub(crate) fn value(&mut self, flag: &str) -> String {
        match self.inline.take().or_else(|| self.args.next()) {
            Some(value) => value,
            None => self.fail(format!("{flag} needs a value")),
        }
    }

    /// The value of `flag`, parsed.
    pub(crate) fn parse<T: std::str::FromStr>(&mut self, flag: &str) -> T {
        let value = self.value(flag);
        value.parse().unwrap_or_else(|_| self.fail(format!("{flag} cannot take {value:?}")))
    }

    /// The executor `--executor NAME` and `--threads N` name.
    pub(crate) fn executor(&self, name: &str, threads: usize) -> squall::gateway::Executor {
        squall::gateway::Executor::by_name(name, threads).unwrap_or_else(|e| self.fail(e))
    }

    /// Refuses a flag the example does not know.
    pub(crate) fn unknown(&self, flag: &str) -> ! {
        self.fail(format!("unknown option {flag}"))
    }

    /// Refuses the command line: why, the usage, exit status 2.
    pub(crate) fn fail(&self, why: impl Display) -> ! {
        eprintln!("{}: {why}\n\n{}", self.program, self.full_usage());
        std::process::exit(2)
    }

    /// Serves the app `app` builds (in each worker process, given its id)
    /// as the server's flags say. Once it serves, the line `announce` makes
    /// of the scheme and the address bound goes to standard output (a
    /// closed one is no failure: a server outlives its terminal). A failure
    /// is one line and exit status 1.
    pub(crate) fn serve<T: squall::routing::Target>(
        self,
        app: impl FnOnce(Option<usize>) -> squall::Result<T>,
        announce: impl FnOnce(&str, SocketAddr) -> String,
    ) -> ! {
        use std::io::Write;
        let flags = self.flags.clone().unwrap_or_default();
        let served = flags.serve(&self.addr, app, |bound: &[SocketAddr]| {
            // The first address names the service.
            if let Some(&addr) = bound.first() {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", announce(flags.scheme(), addr)).and_then(|()| out.flush());
            }
        });
        self.exit(served)
    }

    /// Exits 0 on success, else prints the error as one line and exits 1.
    pub(crate) fn exit(&self, result: squall::Result<()>) -> ! {
        match result {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("{}: {e}", self.program);
                std::process::exit(1)
            }
        }
    }

    fn full_usage(&self) -> String {
        match self.flags {
            Some(_) => format!("{}\n\n{}", self.usage.trim_end(), Flags::HELP),
            None => self.usage.trim_end().to_owned(),
        }
    }

    fn help(&self) -> ! {
        use std::io::Write;
        // A reader that stops early (`| head`) is no failure.
        let _ = writeln!(std::io::stdout(), "{}", self.full_usage().trim_end());
        std::process::exit(0)
    }
}

//! A Redis server of the test's own (Debian's `redis-server`, installed by
//! `.ci/run`): a private loopback port, its data in a directory of its own,
//! stopped when dropped — never a system service.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub(crate) struct RedisServer {
    child: Child,
    pub(crate) port: u16,
    pub(crate) dir: PathBuf,
}

impl RedisServer {
    /// Starts one on a free port, appending every write to its log before
    /// answering (`appendfsync always`), so that a kill loses nothing.
    pub(crate) fn start(name: &str) -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("squall-redis-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let child = spawn(port, &dir);
        RedisServer { child, port, dir }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: no chance to save anything more).
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port with the same data.
    pub(crate) fn restart(&mut self) {
        self.child = spawn(self.port, &self.dir);
    }

    /// What `redis-cli` prints for `args`.
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(port: u16, dir: &std::path::Path) -> Child {
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", ""])
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts (apt-get install redis-server)");
    super::wait_until("redis-server answers", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && Command::new("redis-cli")
                .args(["-p", &port.to_string(), "ping"])
                .output()
                .is_ok_and(|o| o.stdout.starts_with(b"PONG"))
    });
    child
}

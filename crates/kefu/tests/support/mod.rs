//! What the tests of the `kefu` binary share: running it, and a
//! `kefu serve` child process to talk to over HTTP.
// Each test binary uses a different part of this module.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `kefu` binary under test, with none of the caller's `KEFU_` settings.
pub fn kefu() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kefu"));
    for (name, _) in std::env::vars() {
        if name.starts_with("KEFU_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1");
    command
}

/// Runs `kefu` with `args` to the end.
pub fn run(args: &[&str]) -> Output {
    kefu().args(args).output().unwrap()
}

/// Bytes a process printed, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `kefu serve` child process and the address it reported.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:port`, as the server reported it.
    pub base: String,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `kefu serve` on a free port of 127.0.0.1 with `args`, and
    /// waits until it says where it listens.
    pub fn start(args: &[&str]) -> Server {
        let mut child = kefu()
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut all = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut all);
            let _ = err_tx.send(all);
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("Kefu is running at ") {
                    let _ = tx.send(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or("")
                            .trim_end_matches('/')
                            .to_owned(),
                    );
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => Server {
                child,
                base,
                stderr: err_rx,
            },
            Err(_) => {
                let _ = child.kill();
                let log = err_rx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                panic!("kefu serve did not start: {log}");
            }
        }
    }

    /// The full address of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends SIGTERM and returns whether it exited successfully, and its log.
    pub fn terminate(mut self) -> (bool, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        let log = self
            .stderr
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default();
        (exit.success(), log)
    }
}

impl Server {
    /// Kills the process with SIGKILL, as a power cut or the OOM killer
    /// would: no shutdown code runs. Returns its log.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client for talking to a server.
pub fn client() -> reqwest::Client {
    kefu_app::install_tls();
    reqwest::Client::new()
}

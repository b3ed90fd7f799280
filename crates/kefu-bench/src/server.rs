//! The real `kefu serve` binary as the measured server: started on the
//! loaded database in its own process (so its memory is its own, and its
//! background workers run as in production), watched for its resident
//! memory, and stopped with SIGTERM.

use anyhow::{Context, Result, bail};
use kefu_store::DatabaseLocation;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `kefu serve`.
pub(crate) struct Server {
    child: Child,
    /// Its process id, for reading `/proc/<pid>/status`.
    pid: u32,
    /// `127.0.0.1:port` it listens on.
    pub(crate) address: String,
}

/// The server binary beside this one (`target/release/kefu` when the
/// runner is `target/release/kefu-bench`), unless one is named.
pub(crate) fn binary(named: Option<&Path>) -> Result<PathBuf> {
    let path = match named {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()?.with_file_name("kefu"),
    };
    if !path.is_file() {
        bail!(
            "the server binary {} is missing: build it first (cargo build --release --workspace) or name it with --server",
            path.display()
        );
    }
    Ok(path)
}

impl Server {
    /// Starts `binary serve` on `location` on a free loopback port and waits
    /// until it says where it listens.
    pub(crate) async fn start(binary: &Path, location: &DatabaseLocation) -> Result<Server> {
        let mut command = Command::new(binary);
        command.args(["serve", "--listen", "127.0.0.1:0", "--log-level", "warn"]);
        match location {
            DatabaseLocation::SqliteFile(file) => {
                let dir = file.parent().context("the database file has no folder")?;
                command.arg("--data-dir").arg(dir);
            }
            DatabaseLocation::Postgres(url) => {
                command.args(["--database-url", url]);
            }
        }
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("no standard output")?;
        let mut lines = BufReader::new(stdout).lines();
        let address = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix("Kefu is running at http://")
                    && let Some((address, _)) = rest.split_once('/')
                {
                    return Ok(address.to_owned());
                }
            }
            bail!("the server stopped before it listened")
        })
        .await
        .context("the server did not listen within two minutes")??;
        // Keep reading so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            child,
            pid,
            address,
        })
    }

    /// Resident memory now and at its highest so far, in MiB
    /// (`VmRSS`, `VmHWM`).
    pub(crate) fn memory_mib(&self) -> (f64, f64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<f64>().ok())
                .map_or(0.0, |kib| kib / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Stops it as an operator would (SIGTERM) and waits for a clean exit.
    pub(crate) async fn stop(mut self) -> Result<()> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await?;
        if !sent.success() {
            bail!("cannot signal the server");
        }
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .context("the server did not stop within a minute")??;
        if !status.success() {
            bail!("the server exited with {status}");
        }
        Ok(())
    }
}

//! Online backups of the SQLite database, restores, and the lock that
//! keeps a restore from replacing a database Kefu is serving.

use crate::config::Settings;
use anyhow::{Context, bail};
use kefu_store::DatabaseLocation;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// An exclusive lock on `<database>.lock`, held while `kefu serve` runs on
/// a SQLite database and while a restore replaces it. Released on drop.
#[derive(Debug)]
pub struct DatabaseLock {
    _file: File,
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock or explains who holds it.
pub fn lock_database(database: &Path, serving: bool) -> anyhow::Result<DatabaseLock> {
    let path = lock_path(database);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot open the lock file {}; check the data directory's permissions",
                path.display()
            )
        })?;
    match file.try_lock() {
        Ok(()) => Ok(DatabaseLock { _file: file }),
        Err(TryLockError::WouldBlock) if serving => bail!(
            "another kefu process is already serving {}; stop it first, or give this one another --data-dir",
            database.display()
        ),
        Err(TryLockError::WouldBlock) => bail!(
            "kefu is running on {}; stop it before restoring, so the live database is not replaced under it",
            database.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

fn sqlite_path(settings: &Settings) -> anyhow::Result<Option<PathBuf>> {
    Ok(match settings.database_location()? {
        DatabaseLocation::SqliteFile(path) => Some(path),
        DatabaseLocation::Postgres(_) => None,
    })
}

/// `kefu backup --to FILE`.
pub async fn backup(settings: &Settings, target: &Path) -> anyhow::Result<()> {
    let Some(database) = sqlite_path(settings)? else {
        let url = settings.database_location()?.redacted();
        println!("Kefu is on PostgreSQL; back it up with PostgreSQL's own tool, for example:");
        println!(
            "  pg_dump --format=custom --file={} '{url}'",
            target.display()
        );
        println!(
            "(give the password through PGPASSWORD or ~/.pgpass; restore with pg_restore into an empty database)"
        );
        return Ok(());
    };
    let store = crate::open(settings, false).await?;
    let result = store.backup_sqlite_to(target).await;
    store.close().await;
    result?;
    let status = kefu_store::inspect_sqlite_file(target).await?;
    let size = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    println!(
        "backup of {} written to {} ({size} bytes, schema version {})",
        database.display(),
        target.display(),
        status.applied.unwrap_or(0)
    );
    Ok(())
}

/// `kefu restore --from FILE [--force]`.
pub async fn restore(settings: &Settings, source: &Path, force: bool) -> anyhow::Result<()> {
    let Some(database) = sqlite_path(settings)? else {
        bail!("restore is for the embedded SQLite database; on PostgreSQL use pg_restore");
    };
    if !source.is_file() {
        bail!("there is no backup file at {}", source.display());
    }
    let status = kefu_store::inspect_sqlite_file(source)
        .await
        .with_context(|| format!("{} is not a usable Kefu backup", source.display()))?;
    if status.applied.is_none() {
        bail!(
            "{} is a SQLite file but not a Kefu database",
            source.display()
        );
    }
    if status.applied > Some(status.latest) {
        bail!(
            "the backup {} is from a newer Kefu (schema {:?}, this binary knows up to {}); restore it with that version",
            source.display(),
            status.applied,
            status.latest
        );
    }
    let _lock = lock_database(&database, false)?;
    let dir = database
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let temporary = dir.join(".kefu.db.restoring");
    std::fs::copy(source, &temporary)
        .with_context(|| format!("cannot copy {} into {}", source.display(), dir.display()))?;
    File::open(&temporary)
        .and_then(|f| f.sync_all())
        .context("cannot flush the restored copy to disk")?;

    let mut kept = None;
    if database.exists() {
        if !force {
            let _ = std::fs::remove_file(&temporary);
            bail!(
                "{} already exists; pass --force to replace it (the current database is then kept beside it, renamed)",
                database.display()
            );
        }
        let stamp = chrono_like_stamp();
        let aside = PathBuf::from(format!("{}.replaced-{stamp}", database.display()));
        // The write-ahead log and index move with the file, so the copy kept
        // aside stays a complete database.
        for suffix in ["-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", database.display()));
            if from.exists() {
                std::fs::rename(&from, format!("{}{suffix}", aside.display()))
                    .with_context(|| format!("cannot move {} aside", from.display()))?;
            }
        }
        std::fs::rename(&database, &aside)
            .with_context(|| format!("cannot move {} aside", database.display()))?;
        kept = Some(aside);
    }
    std::fs::rename(&temporary, &database)
        .with_context(|| format!("cannot put the restored database at {}", database.display()))?;
    File::open(&dir).and_then(|d| d.sync_all()).ok();
    println!(
        "restored {} from {} (schema version {})",
        database.display(),
        source.display(),
        status.applied.unwrap_or(0)
    );
    if let Some(aside) = kept {
        println!("the database it replaced is kept as {}", aside.display());
    }
    Ok(())
}

fn chrono_like_stamp() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    seconds.to_string()
}

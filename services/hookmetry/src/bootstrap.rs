use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use hookmetry_core::{ApiToken, Role, Team, TeamId, Timestamp, TokenId, hash_token, new_api_token};
use hookmetry_store::Store;

/// File in the data dir holding the admin token created at first start (mode 0600), for scripts.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// First-start setup: a default team and the instance admin token.
#[derive(Debug)]
pub struct Bootstrap {
    /// Set only on the start that created it; the secret is never stored, only its hash.
    pub new_admin_token: Option<String>,
}

impl Bootstrap {
    pub async fn ensure(store: &dyn Store, data_dir: &Path) -> anyhow::Result<Bootstrap> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        Self::ensure_with(store, Some(data_dir)).await
    }

    /// As [`Bootstrap::ensure`], writing the token file only when a directory is given
    /// (`hookmetry migrate` without `--data-dir` only prints it).
    pub async fn ensure_with(store: &dyn Store, data_dir: Option<&Path>) -> anyhow::Result<Bootstrap> {
        if store.has_tokens().await? {
            return Ok(Bootstrap { new_admin_token: None });
        }
        let now = Timestamp::now();
        let team = Team { id: TeamId::new(), name: "default".into(), retention_days: 30, created_at: now };
        let secret = new_api_token();
        // The file is written before the token exists in the store: a crash in between leaves no
        // token, so the next start simply creates a new one and overwrites the file.
        if let Some(dir) = data_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            write_private(&dir.join(ADMIN_TOKEN_FILE), secret.as_bytes())?;
        }
        store.create_team(&team).await?;
        store
            .create_token(&ApiToken {
                id: TokenId::new(),
                team_id: team.id,
                role: Role::Admin,
                name: "instance admin".into(),
                instance_admin: true,
                hash: hash_token(&secret),
                created_at: now,
                last_used_at: None,
                revoked: false,
            })
            .await?;
        tracing::info!(team_id = %team.id, "created default team and instance admin token");
        Ok(Bootstrap { new_admin_token: Some(secret) })
    }
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(contents)?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Holds an exclusive lock on the data dir for the life of the process: two processes appending
/// to one embedded log would interleave its segments.
pub fn lock_data_dir(dir: &Path) -> anyhow::Result<File> {
    let path = dir.join("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "data dir {} is in use by another hookmetry process; stop it or choose another --data-dir",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use hookmetry_core::{ApiToken, Role, Team, TeamId, Timestamp, TokenId, hash_token, new_api_token};
use hookmetry_store::TeamStore;

/// File in the data dir holding the admin token created at first start (mode 0600), for scripts.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// First-start setup: a default team and the instance admin token.
#[derive(Debug)]
pub struct Bootstrap {
    /// Set only on the start that created it; the secret is never stored, only its hash.
    pub new_admin_token: Option<String>,
}

impl Bootstrap {
    pub async fn ensure(store: &dyn TeamStore, data_dir: &Path) -> anyhow::Result<Bootstrap> {
        private_data_dir(data_dir)?;
        Self::ensure_with(store, Some(data_dir)).await
    }

    /// As [`Bootstrap::ensure`], writing the token file only when a directory is given
    /// (`hookmetry migrate` without `--data-dir` only prints it).
    pub async fn ensure_with(store: &dyn TeamStore, data_dir: Option<&Path>) -> anyhow::Result<Bootstrap> {
        Self::ensure_with_token(store, data_dir, None).await
    }

    /// As [`Bootstrap::ensure_with`]; a new store's admin token is `given` when set (an operator
    /// who keeps it in a secret store, so it never has to be printed), else a new one.
    pub async fn ensure_with_token(
        store: &dyn TeamStore,
        data_dir: Option<&Path>,
        given: Option<String>,
    ) -> anyhow::Result<Bootstrap> {
        if store.has_tokens().await? {
            return Ok(Bootstrap { new_admin_token: None });
        }
        let now = Timestamp::now();
        let team = Team { id: TeamId::new(), name: "default".into(), retention_days: 30, created_at: now };
        let secret = given.unwrap_or_else(new_api_token);
        // The file is written before the token exists in the store: a crash in between leaves no
        // token, so the next start simply creates a new one and overwrites the file.
        if let Some(dir) = data_dir {
            private_data_dir(dir)?;
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

/// What [`rotate_admin_token`] did.
pub struct RotatedToken {
    pub secret: String,
    /// Instance-admin tokens revoked.
    pub revoked: usize,
}

/// See `crate::rotate_admin_token`. The new token joins the team of the newest existing
/// instance-admin token (the `default` team for an instance made by `serve` or `migrate`).
pub async fn rotate_admin_token(store: &dyn TeamStore, data_dir: Option<&Path>) -> anyhow::Result<RotatedToken> {
    let mut admins = Vec::new();
    for team in store.teams().await? {
        admins.extend(store.tokens(team.id).await?.into_iter().filter(|t| t.instance_admin && !t.revoked));
    }
    admins.sort_by_key(|t| t.created_at.micros());
    let team_id = match admins.last() {
        Some(t) => t.team_id,
        None => match store.teams().await?.into_iter().min_by_key(|t| t.created_at.micros()) {
            Some(team) => team.id,
            None => {
                anyhow::bail!("the store has no team yet: start `hookmetry serve` or run `hookmetry migrate` first")
            }
        },
    };
    let secret = new_api_token();
    if let Some(dir) = data_dir {
        private_data_dir(dir)?;
        write_private(&dir.join(ADMIN_TOKEN_FILE), secret.as_bytes())?;
    }
    store
        .create_token(&ApiToken {
            id: TokenId::new(),
            team_id,
            role: Role::Admin,
            name: "instance admin (rotated)".into(),
            hash: hash_token(&secret),
            instance_admin: true,
            created_at: Timestamp::now(),
            last_used_at: None,
            revoked: false,
        })
        .await?;
    for old in &admins {
        store.revoke_token(old.id).await?;
    }
    Ok(RotatedToken { secret, revoked: admins.len() })
}

/// Creates the data dir (and its parents) so that only its owner can enter it, and tightens
/// what an older version left readable: directories 0700, files 0600. Captures, the admin token
/// and signing secrets live here; another account on the host must not read them.
pub fn private_data_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))?;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private", d.display()))?;
        for entry in std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot make {} private", entry.path().display()))?;
            }
        }
    }
    Ok(())
}

/// Options that create a file only its owner can read.
pub fn private_file() -> std::fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.create(true).mode(0o600);
    o
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
    let file = private_file()
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

//! `hookmetry login` profiles: server URLs and tokens kept in the user's config dir, so commands
//! need no `--url`/`--token` after the first login.
//!
//! The file is TOML, `0600` in a `0700` directory: `$HOOKMETRY_PROFILES`, else
//! `$XDG_CONFIG_HOME/hookmetry/profiles.toml`, else `~/.config/hookmetry/profiles.toml`.
//!
//! ```toml
//! default = "work"
//! [profiles.work]
//! url = "https://hookmetry.example.com"
//! token = "hm_…"
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// A profile's name: what `--profile` takes.
pub(crate) fn validate_name(name: &str) -> Result<String, CliError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(CliError::Usage(format!(
            "`--profile` must be 1 to 64 letters, digits, `.`, `-` or `_`, got `{name}`"
        )));
    }
    Ok(name.to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    pub url: String,
    pub token: String,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profiles {
    /// The profile used when `--profile` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// Where profiles live on this machine; `None` when neither `$HOME` nor an override is set.
pub(crate) fn path() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = var("HOOKMETRY_PROFILES") {
        return Some(p);
    }
    let config = var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")))?;
    Some(config.join("hookmetry").join("profiles.toml"))
}

impl Profiles {
    /// The file at `path`; an absent file is no profiles.
    pub fn load(path: &Path) -> Result<Self, CliError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(CliError::Usage(format!("cannot read the profiles file {}: {e}", path.display()))),
        };
        toml::from_str(&text).map_err(|e| {
            CliError::Usage(format!(
                "the profiles file {} is not valid ({}); fix it or delete it and `hookmetry login` again",
                path.display(),
                e.message()
            ))
        })
    }

    /// Writes the file readable by its owner only, replacing it in one step.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        let fail = |what: &str, e: std::io::Error| CliError::Usage(format!("cannot {what} {}: {e}", path.display()));
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|e| fail("create the directory of", e))?;
        }
        let text = toml::to_string(self).map_err(|e| CliError::Usage(format!("cannot encode profiles: {e}")))?;
        let tmp = dir.join(format!(".profiles.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(|e| fail("write", e))?;
        let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
        drop(file);
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail("write", e));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_round_trip_private_and_bad_files_name_the_path() {
        let dir = std::env::temp_dir().join(format!("hookmetry-profiles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("nested").join("profiles.toml");
        assert_eq!(Profiles::load(&file).unwrap(), Profiles::default(), "no file is no profiles");
        let mut p = Profiles { default: Some("work".into()), ..Profiles::default() };
        p.profiles.insert("work".into(), Profile { url: "https://h.example".into(), token: "hm_x".into() });
        p.save(&file).unwrap();
        assert_eq!(Profiles::load(&file).unwrap(), p);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        }
        std::fs::write(&file, "default = 3\n").unwrap();
        let e = Profiles::load(&file).unwrap_err().to_string();
        assert!(e.starts_with(&format!("the profiles file {} is not valid", file.display())), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(validate_name("a b").is_err());
        assert_eq!(validate_name(" dev ").unwrap(), "dev");
    }
}

//! Where IT's managed configuration lives on each platform, and reading it. Its rules are in
//! `clinicpay_domain::managed`.

use std::path::{Path, PathBuf};

use clinicpay_domain::ManagedConfig;

use crate::{Result, ServiceError};

/// The managed configuration as this process read it at start.
#[derive(Debug, Clone, Default)]
pub struct Managed {
    pub config: ManagedConfig,
    /// The file it came from; None when there is no managed file on this computer.
    pub source: Option<PathBuf>,
}

/// The OS-wide place IT deploys `managed.toml`, or `CLINICPAY_MANAGED_CONFIG` when set, IT has
/// deployed nothing there yet, and the file was written by an administrator (IT trying a file before
/// deploying it). Once IT deployed a file, a desk user cannot point ClinicPay at another one; nor can
/// they bring a file of their own to a desk without one (it could turn the desk lock off).
pub fn managed_config_path() -> Result<PathBuf> {
    let deployed = os_managed_config_path();
    let Some(tried) = std::env::var_os("CLINICPAY_MANAGED_CONFIG").filter(|p| !p.is_empty()) else {
        return Ok(deployed);
    };
    let tried = PathBuf::from(tried);
    if crate::TEST_BUILD {
        return Ok(tried);
    }
    if deployed.exists() {
        return Ok(deployed);
    }
    if !tried.exists() || written_by_an_administrator(&tried) {
        return Ok(tried);
    }
    Err(ServiceError::ManagedByIt(format!(
        "CLINICPAY_MANAGED_CONFIG names {}, which an administrator did not write (it must belong to root and be writable by nobody else). Deploy it as {} instead, or ask IT.",
        tried.display(),
        deployed.display()
    )))
}

/// Owned by root and writable by nobody else: a desk user could not have made or changed it.
#[cfg(unix)]
pub fn written_by_an_administrator(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0)
}

/// Elsewhere ClinicPay cannot tell: IT tries a file by deploying it.
#[cfg(not(unix))]
pub fn written_by_an_administrator(_: &Path) -> bool {
    false
}

fn os_managed_config_path() -> PathBuf {
    if cfg!(windows) {
        let base = std::env::var_os("ProgramData")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
        base.join("ClinicPay").join("managed.toml")
    } else if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/ClinicPay/managed.toml")
    } else {
        PathBuf::from("/etc/clinicpay/managed.toml")
    }
}

impl Managed {
    /// Reads the managed file of this computer. No file: nothing is managed. A file that cannot be
    /// read or has a mistake is an error, never ignored: IT meant something by it.
    pub fn load() -> Result<Managed> {
        Managed::load_from(&managed_config_path()?)
    }

    pub fn load_from(path: &Path) -> Result<Managed> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Managed::default()),
            Err(e) => {
                return Err(ServiceError::Invalid(format!(
                    "The managed configuration {} cannot be read ({e}). Check its permissions, or ask IT.",
                    path.display()
                )))
            }
        };
        let config = ManagedConfig::parse(&text, &path.display().to_string())?;
        Ok(Managed {
            config,
            source: Some(path.to_owned()),
        })
    }

    pub fn source_name(&self) -> Option<String> {
        self.source.as_ref().map(|p| p.display().to_string())
    }

    /// What the connection to the clinic's PostgreSQL trusts besides the OS's certificates.
    pub fn database_trust(&self) -> clinicpay_store::DatabaseTrust {
        clinicpay_store::DatabaseTrust {
            ca_file: self.config.database_ca_file.as_ref().map(PathBuf::from),
        }
    }

    /// The database to open: the one asked for explicitly (`--db`, `CLINICPAY_DB`), else the managed
    /// one, else the SQLite file in this user's app-data folder.
    pub fn database_url(&self, explicit: Option<String>) -> Result<String> {
        if let Some(db) = explicit.filter(|d| !d.trim().is_empty()) {
            let pinned = self.config.database_url.as_deref();
            if pinned.is_some_and(|p| p != db) && self.config.allow_other_database != Some(true) {
                return Err(ServiceError::ManagedByIt(format!(
                    "IT set this computer's database in {}, so --db (or CLINICPAY_DB) cannot open another. Leave --db out, or ask IT (allow-other-database = true lets IT's own tools do it).",
                    self.source_name().unwrap_or_default()
                )));
            }
            return Ok(db);
        }
        if let Some(db) = &self.config.database_url {
            return Ok(db.clone());
        }
        clinicpay_store::default_database_url().ok_or_else(|| {
            ServiceError::Invalid(
                "There is no app-data folder for this user: give the database with --db.".into(),
            )
        })
    }
}

impl crate::Services {
    /// Where and on which channel this desk looks for updates (IT's managed values win).
    pub async fn update_settings(&self) -> Result<clinicpay_domain::UpdateSettings> {
        Ok(self.load_settings().await?.updates)
    }

    /// Refuses training work on a desk whose managed configuration forbids it.
    pub fn require_training_allowed(&self) -> Result<()> {
        if self.managed().config.training_allowed() {
            return Ok(());
        }
        Err(ServiceError::ManagedByIt(format!(
            "Training mode is turned off on this computer by IT (training-allowed = false in {}): this desk works only with the clinic's real database. Ask IT which database to use.",
            self.managed().source_name().unwrap_or_default()
        )))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::written_by_an_administrator;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn a_managed_file_to_try_must_be_an_administrators() {
        let file =
            std::env::temp_dir().join(format!("clinicpay-managed-{}.toml", std::process::id()));
        std::fs::write(&file, "[desk]\nlock-after-minutes = 0\n").unwrap();
        let root = std::fs::metadata(&file).unwrap().uid() == 0;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            written_by_an_administrator(&file),
            root,
            "root's own file, 0644"
        );
        // Writable by others: anyone could have changed it.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(!written_by_an_administrator(&file));
        if root {
            // A desk user's file (here: nobody's).
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
            assert!(!written_by_an_administrator(&file));
        }
        std::fs::remove_file(&file).ok();
    }
}

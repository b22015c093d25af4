//! Staff accounts and signing in.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use clinicpay_domain::{Permission, Role};
use clinicpay_store::staff::{self as repo, StaffMember};
use serde::Serialize;

use crate::{Actor, Change, Result, ServiceError, Services};

/// A staff account as lists show it (never the password hash).
#[derive(Debug, Clone, Serialize)]
pub struct StaffView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
}

impl From<&StaffMember> for StaffView {
    fn from(s: &StaffMember) -> Self {
        StaffView {
            id: s.id.0,
            username: s.username.clone(),
            display_name: s.display_name.clone(),
            role: s.role,
            active: s.active,
        }
    }
}

fn actor_of(s: &StaffMember) -> Actor {
    Actor {
        id: s.id,
        username: s.username.clone(),
        display_name: s.display_name.clone(),
        role: s.role,
    }
}

pub(crate) fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal(format!("password hashing failed ({e})")))
}

fn check_username(username: &str) -> Result<String> {
    let u = username.trim().to_ascii_lowercase();
    let ok = (2..=40).contains(&u.len())
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
    if !ok {
        return Err(ServiceError::Invalid(format!(
            "\"{}\" cannot be a sign-in name: use 2 to 40 letters, digits, dots, dashes or underscores.",
            username.trim()
        )));
    }
    Ok(u)
}

impl Services {
    /// Creates a staff account. On a database without staff the first account may be created by
    /// nobody, and must be IT's, so a new clinic can be set up.
    pub async fn add_staff(
        &self,
        actor: Option<&Actor>,
        username: &str,
        display_name: &str,
        role: Role,
        password: &str,
    ) -> Result<StaffView> {
        let username = check_username(username)?;
        if password.chars().count() < 4 {
            return Err(ServiceError::Invalid(
                "The password is too short: use at least 4 characters.".into(),
            ));
        }
        let display_name = match display_name.trim() {
            "" => username.clone(),
            d => d.to_owned(),
        };
        let mut r = self.store().reader().await?;
        let existing = repo::list(&mut r).await?;
        drop(r);
        match actor {
            Some(a) => a.require(Permission::ManageStaff)?,
            None if existing.is_empty() && role == Role::ItAdmin => {}
            None if existing.is_empty() => {
                return Err(ServiceError::Invalid(
                    "The first staff account of a clinic must be IT's (role it_admin).".into(),
                ))
            }
            None => {
                return Err(ServiceError::NotSignedIn(
                    "Say who is adding the account (--as, an IT account).".into(),
                ))
            }
        }
        if existing.iter().any(|s| s.username == username) {
            return Err(ServiceError::Conflict(format!(
                "There is already a staff account named {username}: pick another name."
            )));
        }
        let hash = hash_password(password)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let member = repo::insert(&mut tx, &username, &display_name, role, &hash, now).await?;
        let view = StaffView::from(&member);
        Change::new(actor, now, "staff.added", "staff", member.id)
            .after(&view)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn list_staff(&self, actor: &Actor) -> Result<Vec<StaffView>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(repo::list(&mut r)
            .await?
            .iter()
            .map(StaffView::from)
            .collect())
    }

    /// Checks a name and password. Unknown names take as long as wrong passwords.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<Actor> {
        let mut r = self.store().reader().await?;
        let member = repo::by_username(&mut r, &username.trim().to_ascii_lowercase()).await?;
        drop(r);
        // A fixed hash to verify against when the name is unknown, so timing does not tell names apart.
        const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$S3X5bNW0s6Ym4M3rFxR2lHq5QhMcrkA6Td8F9tqkJ0s";
        let hash = member
            .as_ref()
            .map_or(DUMMY, |m| m.password_hash.as_str())
            .to_owned();
        let password = password.to_owned();
        // Argon2 is deliberately slow: keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
            .await
            .map_err(|e| ServiceError::Internal(format!("sign-in check stopped ({e})")))?;
        match member {
            Some(m) if ok && m.active => Ok(actor_of(&m)),
            _ => Err(ServiceError::SignInFailed),
        }
    }

    /// The acting staff member for scripts (`clinicpay --as NAME`), without a password: the CLI runs
    /// with the database's own access rights.
    pub async fn actor_by_username(&self, username: &str) -> Result<Actor> {
        let mut r = self.store().reader().await?;
        match repo::by_username(&mut r, &username.trim().to_ascii_lowercase()).await? {
            Some(m) if m.active => Ok(actor_of(&m)),
            Some(_) => Err(ServiceError::NotSignedIn(format!(
                "The staff account {} is switched off: ask IT.",
                username.trim()
            ))),
            None => Err(ServiceError::NotFound(format!(
                "There is no staff account named \"{}\": check the name (clinicpay staff list).",
                username.trim()
            ))),
        }
    }
}

fn verify_password(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

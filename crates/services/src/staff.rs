//! Staff accounts and signing in.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chrono::{DateTime, Utc};
use clinicpay_domain::{Permission, Role};
use clinicpay_store::staff::{self as repo, StaffMember};
use serde::Serialize;

use crate::{Actor, Change, Result, ServiceError, Services};

/// A staff account as lists show it (never the password hash).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StaffView {
    #[cfg_attr(feature = "specta", specta(type = i32))]
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

pub(crate) fn actor_of(s: &StaffMember) -> Actor {
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

/// Wrong passwords in a row that lock a name, and for how long.
pub const LOCK_AFTER_WRONG_PASSWORDS: i64 = 5;
pub const LOCKED_FOR_MINUTES: i64 = 15;
/// Where a sign-in is written to the activity log (a desk session, a worker starting).
const LOGGED_SIGN_INS: [&str; 2] = ["desk", "worker"];
/// The shortest password an account may have (the demo clinic's `demo` is the training exception).
pub const MIN_PASSWORD_CHARS: usize = 12;

pub(crate) fn check_new_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ServiceError::Invalid(format!(
            "The password is too short: use at least {MIN_PASSWORD_CHARS} characters (a few words make one easy to remember)."
        )));
    }
    if password.contains(['\n', '\r']) {
        return Err(ServiceError::Invalid(
            "The password cannot hold a line break: type it on one line.".into(),
        ));
    }
    Ok(())
}

pub(crate) fn check_username(username: &str) -> Result<String> {
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
        // Who may do it first, then whether what they typed is right.
        match actor {
            Some(a) => a.require(Permission::ManageStaff)?,
            None => {
                let mut r = self.store().reader().await?;
                if !repo::list(&mut r).await?.is_empty() {
                    return Err(ServiceError::NotSignedIn(
                        "Say who is adding the account (--as, an IT account).".into(),
                    ));
                }
            }
        }
        let username = check_username(username)?;
        check_new_password(password)?;
        let display_name = match display_name.trim() {
            "" => username.clone(),
            d => d.to_owned(),
        };
        // Argon2 is slow: hash before the transaction, so others do not wait on it.
        let hash = hash_password(password)?;
        // Checked and written in one transaction, taking turns: two "first accounts" made at once
        // on an empty PostgreSQL clinic would otherwise both pass.
        let mut tx = self.store().begin().await?;
        repo::take_turns(&mut tx).await?;
        let existing = repo::list(&mut tx).await?;
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
        let now = self.now();
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

    /// Checks a name and password at a desk's sign-in screen.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<Actor> {
        self.sign_in_via(username, password, "desk").await
    }

    /// Checks a name and password (`via`: where, for the activity log: "desk", "cli", "worker").
    /// Unknown names take as long as wrong passwords; five wrong passwords in a row lock the name for
    /// 15 minutes, whichever desk or script typed them.
    pub async fn sign_in_via(&self, username: &str, password: &str, via: &str) -> Result<Actor> {
        Ok(actor_of(
            &self.check_password(username, password, via).await?,
        ))
    }

    /// The account behind a name and password. The attempt is spent before the password is checked,
    /// in one statement: guesses sent in parallel each count, and once five are spent the name is
    /// locked before any more are checked. A lock that ran out starts the count again.
    pub(crate) async fn check_password(
        &self,
        username: &str,
        password: &str,
        via: &str,
    ) -> Result<StaffMember> {
        let name = username.trim().to_ascii_lowercase();
        let now = self.now();
        let until = now + chrono::Duration::minutes(LOCKED_FOR_MINUTES);
        let mut tx = self.store().begin().await?;
        let member = repo::by_username(&mut tx, &name).await?;
        // Before any password check: the worker's account is never locked, so a desk that answered
        // differently for its right password would let anyone guess it there without end.
        if let Some(m) = member
            .as_ref()
            .filter(|m| m.role == Role::Worker && via == "desk")
        {
            return Err(ServiceError::NotSignedIn(format!(
                "{} is the billing worker's account: it runs billing on a server and does not sign in at a desk.",
                m.username
            )));
        }
        let spent = match &member {
            // The worker's account is never locked: its long password is typed by nobody (it comes
            // from a keychain), and locking it from a desk would stop the clinic's billing.
            Some(m) if m.role == Role::Worker => Some(m.clone()),
            Some(m) => {
                repo::spend_sign_in_attempt(&mut tx, m.id, LOCK_AFTER_WRONG_PASSWORDS, now, until)
                    .await?
            }
            None => None,
        };
        tx.commit().await?;
        if let (Some(m), None) = (&member, &spent) {
            return Err(locked(&name, m.locked_until.unwrap_or(until), now));
        }
        // A fixed hash to verify against when the name is unknown, so timing does not tell names apart.
        const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$S3X5bNW0s6Ym4M3rFxR2lHq5QhMcrkA6Td8F9tqkJ0s";
        let hash = member
            .as_ref()
            .map_or(DUMMY, |m| m.password_hash.as_str())
            .to_owned();
        let typed = password.to_owned();
        // Argon2 is deliberately slow: keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &typed))
            .await
            .map_err(|e| ServiceError::Internal(format!("sign-in check stopped ({e})")))?;
        let (Some(m), Some(spent)) = (member, spent) else {
            return Err(ServiceError::SignInFailed);
        };
        if !ok {
            // The attempt that used up the fifth try locked the name: say so, and log it.
            let Some(locked_until) = spent.locked_until.filter(|_| spent.role != Role::Worker)
            else {
                return Err(ServiceError::SignInFailed);
            };
            let mut tx = self.store().begin().await?;
            Change::new(None, now, "staff.locked_out", "staff", m.id)
                .by_system("ClinicPay sign-in")
                .after(serde_json::json!({
                    "username": m.username,
                    "wrong_passwords": spent.failed_sign_ins,
                    "locked_minutes": LOCKED_FOR_MINUTES,
                    "via": via,
                }))
                .record(&mut tx)
                .await?;
            tx.commit().await?;
            return Err(locked(&name, locked_until, now));
        }
        let mut tx = self.store().begin().await?;
        repo::clear_wrong_passwords(&mut tx, m.id).await?;
        if m.active && LOGGED_SIGN_INS.contains(&via) {
            // A desk session or a worker starting is logged; a script's command proves who runs it
            // each time, and logging each would bury the log (and make a refused command change it).
            Change::new(Some(&actor_of(&m)), now, "staff.signed_in", "staff", m.id)
                .after(serde_json::json!({ "via": via }))
                .record(&mut tx)
                .await?;
        }
        tx.commit().await?;
        if !m.active {
            return Err(ServiceError::NotSignedIn(format!(
                "The staff account {} is switched off: ask IT.",
                m.username
            )));
        }
        Ok(m)
    }

    /// Logs the end of a desk session.
    pub async fn sign_out(&self, actor: &Actor, why: &str) -> Result<()> {
        let mut tx = self.store().begin().await?;
        Change::new(
            Some(actor),
            self.now(),
            "staff.signed_out",
            "staff",
            actor.id,
        )
        .after(serde_json::json!({ "why": why }))
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The signed-in person as the database has them now: a role changed or an account switched off
    /// by IT takes effect on the next command at every desk, not at the next sign-in.
    pub async fn current_actor(&self, actor: &Actor) -> Result<Actor> {
        let mut r = self.store().reader().await?;
        match repo::by_id(&mut r, actor.id).await? {
            Some(m) if m.active => Ok(actor_of(&m)),
            _ => Err(ServiceError::NotSignedIn(format!(
                "The staff account {} was switched off by IT: sign in with another account, or ask IT.",
                actor.username
            ))),
        }
    }

    /// The acting staff member without a password, for code that already runs with the database's
    /// own rights (ClinicPay's tests and benchmarks). The CLI and the window always sign in.
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

    /// IT switches an account off (it can no longer sign in, and its open sessions end at their next
    /// command) or on again.
    pub async fn set_staff_active(
        &self,
        actor: &Actor,
        username: &str,
        active: bool,
    ) -> Result<StaffView> {
        let action = if active {
            "staff.enabled"
        } else {
            "staff.disabled"
        };
        self.change_account(actor, username, action, "switch off", |v| StaffView {
            active,
            ..v.clone()
        })
        .await
    }

    /// IT gives an account another role; it applies from the account's next command.
    pub async fn set_staff_role(
        &self,
        actor: &Actor,
        username: &str,
        role: Role,
    ) -> Result<StaffView> {
        self.change_account(
            actor,
            username,
            "staff.role_changed",
            "take IT's role from",
            |v| StaffView { role, ..v.clone() },
        )
        .await
    }

    /// One change to who an account is (on or off, its role): taking turns with other staff changes,
    /// never leaving the clinic without an IT account that can sign in (`what` names the change for
    /// that refusal), and logged with before and after.
    async fn change_account(
        &self,
        actor: &Actor,
        username: &str,
        action: &str,
        what: &str,
        change: impl FnOnce(&StaffView) -> StaffView,
    ) -> Result<StaffView> {
        actor.require(Permission::ManageStaff)?;
        let mut tx = self.store().begin().await?;
        repo::take_turns(&mut tx).await?;
        let m = member_named(&mut tx, username).await?;
        let before = StaffView::from(&m);
        let after = change(&before);
        if !(after.active && after.role == Role::ItAdmin) {
            keep_one_it_account(&mut tx, &m, what).await?;
        }
        repo::set_access(&mut tx, m.id, after.active, after.role).await?;
        Change::new(Some(actor), self.now(), action, "staff", m.id)
            .before(&before)
            .after(&after)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// IT sets a new password for someone who forgot theirs (it also ends a lock-out).
    pub async fn reset_staff_password(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
    ) -> Result<StaffView> {
        actor.require(Permission::ManageStaff)?;
        check_new_password(password)?;
        let hash = hash_password(password)?;
        let mut tx = self.store().begin().await?;
        let m = member_named(&mut tx, username).await?;
        repo::set_password_hash(&mut tx, m.id, &hash).await?;
        Change::new(
            Some(actor),
            self.now(),
            "staff.password_reset",
            "staff",
            m.id,
        )
        .after(serde_json::json!({ "username": m.username }))
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(StaffView::from(&m))
    }

    /// Anyone changes their own password, giving the current one.
    pub async fn change_own_password(&self, actor: &Actor, current: &str, new: &str) -> Result<()> {
        check_new_password(new)?;
        // The current password is checked as a sign-in, so guessing it here counts toward the lock.
        self.sign_in_via(&actor.username, current, "password change")
            .await?;
        let hash = hash_password(new)?;
        let mut tx = self.store().begin().await?;
        repo::set_password_hash(&mut tx, actor.id, &hash).await?;
        Change::new(
            Some(actor),
            self.now(),
            "staff.password_changed",
            "staff",
            actor.id,
        )
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn locked(name: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> ServiceError {
    let minutes = ((until - now).num_seconds() + 59) / 60;
    ServiceError::NotSignedIn(format!(
        "Too many wrong passwords for {name}: it is locked for {minutes} more minute{s}. Wait, or ask IT to reset the password.",
        s = if minutes == 1 { "" } else { "s" }
    ))
}

async fn member_named(tx: &mut clinicpay_store::Tx, username: &str) -> Result<StaffMember> {
    repo::by_username(tx, &username.trim().to_ascii_lowercase())
        .await?
        .ok_or_else(|| {
            ServiceError::NotFound(format!(
                "There is no staff account named \"{}\": check the name (clinicpay staff list).",
                username.trim()
            ))
        })
}

/// A clinic always keeps one IT account that can sign in, or nobody could manage staff again.
async fn keep_one_it_account(
    tx: &mut clinicpay_store::Tx,
    m: &StaffMember,
    what: &str,
) -> Result<()> {
    if m.role != Role::ItAdmin || !m.active {
        return Ok(());
    }
    let others = repo::list(tx)
        .await?
        .into_iter()
        .filter(|s| s.id != m.id && s.active && s.role == Role::ItAdmin)
        .count();
    if others == 0 {
        return Err(ServiceError::Conflict(format!(
            "{} is the clinic's only IT account that can sign in: add another IT account before you {what} it.",
            m.username
        )));
    }
    Ok(())
}

fn verify_password(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

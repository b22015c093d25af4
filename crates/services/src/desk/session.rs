//! A desk's signed-in session, enforced here rather than only by the window: after
//! `desk.lock-after-minutes` without a person at the desk, the next command is refused and the session
//! is over, whatever the page does. Activity is what a person does (the window reports keys and clicks);
//! the window's own polling is not activity, so a screen left open does not keep a desk signed in.

use chrono::{DateTime, Utc};

use crate::{Actor, Result, ServiceError, Services};

/// Who is signed in at this desk, and when a person last did something there (database time).
#[derive(Debug, Clone)]
pub struct DeskSession {
    actor: Actor,
    last_activity: DateTime<Utc>,
    /// The password hash it signed in with: a password IT reset (or its owner changed) ends it.
    password_hash: String,
}

impl DeskSession {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

impl Services {
    /// Signs a person in at a desk.
    pub async fn open_desk_session(&self, username: &str, password: &str) -> Result<DeskSession> {
        let member = self.check_password(username, password, "desk").await?;
        Ok(DeskSession {
            actor: crate::staff::actor_of(&member),
            last_activity: self.now(),
            password_hash: member.password_hash,
        })
    }

    /// A person did something at the desk. A session already past its lock is not brought back by it:
    /// it is over, as if a command had come.
    pub async fn desk_activity(&self, session: &mut DeskSession) -> Result<()> {
        self.end_if_idle(session).await?;
        session.last_activity = self.now();
        Ok(())
    }

    /// The person a command runs as: refused once the desk has been left alone longer than the lock
    /// allows (the session is then over and logged as such), and as the database has the account now
    /// (a role IT changed applies to this command; an account IT switched off, or whose password was
    /// reset, ends the session).
    pub async fn desk_session_actor(&self, session: &mut DeskSession) -> Result<Actor> {
        self.end_if_idle(session).await?;
        let mut r = self.store().reader().await?;
        let member = clinicpay_store::staff::by_id(&mut r, session.actor.id).await?;
        drop(r);
        match member {
            // Moved to the worker role: billing on a server, never a desk.
            Some(m) if m.role == clinicpay_domain::Role::Worker => Err(ServiceError::NotSignedIn(
                format!(
                    "{} is now the billing worker's account, which does not sign in at a desk: sign in with another account.",
                    m.username
                ),
            )),
            Some(m) if m.active && m.password_hash == session.password_hash => {
                session.actor = crate::staff::actor_of(&m);
                Ok(session.actor.clone())
            }
            Some(m) if m.active => Err(ServiceError::NotSignedIn(
                "The password of this account was changed: sign in again with the new one.".into(),
            )),
            _ => Err(ServiceError::NotSignedIn(format!(
                "The staff account {} was switched off by IT: sign in with another account, or ask IT.",
                session.actor.username
            ))),
        }
    }

    /// The person at this desk changes their own password: this desk's session goes on with the new
    /// one; every other session of the account ends at its next command.
    pub async fn change_desk_password(
        &self,
        session: &mut DeskSession,
        current: &str,
        new: &str,
    ) -> Result<()> {
        let actor = self.desk_session_actor(session).await?;
        self.change_own_password(&actor, current, new).await?;
        let mut r = self.store().reader().await?;
        if let Some(m) = clinicpay_store::staff::by_id(&mut r, actor.id).await? {
            session.password_hash = m.password_hash;
        }
        Ok(())
    }

    async fn end_if_idle(&self, session: &DeskSession) -> Result<()> {
        let minutes = self.load_settings().await?.desk_lock_minutes;
        let idle = self.now() - session.last_activity;
        if minutes > 0 && idle > chrono::Duration::minutes(i64::from(minutes)) {
            self.sign_out(&session.actor, "the desk locked after its idle minutes")
                .await?;
            return Err(ServiceError::NotSignedIn(format!(
                "This desk locked after {minutes} idle minute{s}: sign in again.",
                s = if minutes == 1 { "" } else { "s" }
            )));
        }
        Ok(())
    }

    /// Ends a desk session on purpose (sign-out, or the window's own lock), in the activity log.
    pub async fn close_desk_session(&self, session: DeskSession, why: &str) -> Result<()> {
        self.sign_out(&session.actor, why).await
    }
}

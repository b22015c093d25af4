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
}

impl DeskSession {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

impl Services {
    /// Signs a person in at a desk.
    pub async fn open_desk_session(&self, username: &str, password: &str) -> Result<DeskSession> {
        let actor = self.sign_in(username, password).await?;
        Ok(DeskSession {
            actor,
            last_activity: self.now(),
        })
    }

    /// A person did something at the desk.
    pub fn desk_activity(&self, session: &mut DeskSession) {
        session.last_activity = self.now();
    }

    /// The person a command runs as: refused once the desk has been left alone longer than the lock
    /// allows (the session is then over and logged as such), and as the database has the account now
    /// (a role IT changed applies to this command; an account IT switched off ends the session).
    pub async fn desk_session_actor(&self, session: &mut DeskSession) -> Result<Actor> {
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
        session.actor = self.current_actor(&session.actor).await?;
        Ok(session.actor.clone())
    }

    /// Ends a desk session on purpose (sign-out, or the window's own lock), in the activity log.
    pub async fn close_desk_session(&self, session: DeskSession, why: &str) -> Result<()> {
        self.sign_out(&session.actor, why).await
    }
}

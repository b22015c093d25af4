//! One clock for every desk and worker: the database's. A computer's own clock can be minutes wrong;
//! a payment's "last touched" time written by a desk whose clock is behind would look stale to the
//! janitor while its call is still in flight. So the services keep the database's time, carried
//! forward between readings by this computer's monotonic clock (which no clock change can move), and
//! say when this computer's clock differs from the database's by more than a minute.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

use crate::{Result, ServiceError, Services};

/// A computer's clock further than this from the database's is reported (log, desk inventory,
/// diagnostics).
pub const CLOCK_TOLERANCE: Duration = Duration::minutes(1);

/// The database's time is read again after this long.
const READ_AGAIN: std::time::Duration = std::time::Duration::from_secs(60);

/// The database's time, as last read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DatabaseTime {
    /// When it was read, by this computer's monotonic clock.
    read_at: Instant,
    /// The database's time then.
    database: DateTime<Utc>,
    /// This computer's clock minus the database's, then.
    skew: Duration,
    /// This computer's clock then.
    local: DateTime<Utc>,
}

impl DatabaseTime {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.database + self.elapsed()
    }

    fn elapsed(&self) -> Duration {
        Duration::from_std(self.read_at.elapsed()).unwrap_or_default()
    }

    /// The computer's clock and its monotonic clock no longer agree on the time since the reading:
    /// the computer slept (the monotonic clock stops meanwhile) or its clock was changed.
    fn drifted(&self, local_now: DateTime<Utc>) -> bool {
        ((local_now - self.local) - self.elapsed()).abs() > Duration::seconds(2)
    }
}

impl Services {
    /// Reads the database's time and keeps it as this process's clock; answers how far this computer's
    /// clock is from it (None with a fixed clock: tests, `--now` in training).
    pub async fn sync_clock(&self) -> Result<Option<Duration>> {
        if !self.clock.is_machine_clock() {
            return Ok(None);
        }
        let mut r = self.store().reader().await?;
        let before = Instant::now();
        let local = self.clock.now();
        let database = clinicpay_store::clock::database_now(&mut r).await?;
        let half = before.elapsed() / 2;
        let read_at = before + half;
        let skew = local + Duration::from_std(half).unwrap_or_default() - database;
        let was = self.database_time.lock().map(|t| *t).unwrap_or(None);
        let wrong = |s: Duration| s.abs() > CLOCK_TOLERANCE;
        if wrong(skew) && !was.is_some_and(|w| wrong(w.skew)) {
            eprintln!("ClinicPay: {}", clock_sentence(skew));
        }
        if let Ok(mut t) = self.database_time.lock() {
            *t = Some(DatabaseTime {
                read_at,
                database,
                skew,
                local: local + Duration::from_std(half).unwrap_or_default(),
            });
        }
        Ok(Some(skew))
    }

    /// Now, by the database's clock read within the last minute (and again at once after the computer
    /// slept or its clock was changed): for times that decide what the janitor and the worker do (a
    /// payment's last touch, the janitor's cutoff, the cycles due).
    pub(crate) async fn fresh_now(&self) -> Result<DateTime<Utc>> {
        let local_now = self.clock.now();
        let stale = self
            .database_time
            .lock()
            .map(|t| t.is_none_or(|t| t.read_at.elapsed() >= READ_AGAIN || t.drifted(local_now)))
            .unwrap_or(true);
        if stale {
            self.sync_clock().await?;
        }
        Ok(self.now())
    }

    /// This computer's clock minus the database's, as last read.
    pub fn clock_skew(&self) -> Option<Duration> {
        self.database_time
            .lock()
            .ok()
            .and_then(|t| t.map(|t| t.skew))
    }
}

/// What staff and IT read about a clock that is wrong; None when it is within the tolerance.
pub fn clock_warning(skew: Duration) -> Option<String> {
    (skew.abs() > CLOCK_TOLERANCE).then(|| clock_sentence(skew))
}

fn clock_sentence(skew: Duration) -> String {
    let minutes = (skew.num_seconds().abs() + 30) / 60;
    let way = if skew < Duration::zero() {
        "behind"
    } else {
        "ahead of"
    };
    format!(
        "this computer's clock is {minutes} minute{} {way} the database's. ClinicPay keeps the database's time, but ask IT to set this computer's clock (automatic time).",
        if minutes == 1 { "" } else { "s" }
    )
}

impl Services {
    /// `--now` fixes the clock, which moves when subscriptions bill and recovery acts: only for the
    /// training clinic, and for ClinicPay's own tests.
    pub async fn allow_fixed_clock(&self) -> Result<()> {
        if self.test_build() || self.load_settings().await?.training_mode {
            return Ok(());
        }
        Err(ServiceError::Invalid(
            "--now fixes the clock, and only the training clinic may do that: this clinic's money moves on the database's time. Leave --now out.".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_within_a_minute_is_not_mentioned_and_one_further_off_is() {
        assert_eq!(clock_warning(Duration::seconds(59)), None);
        assert_eq!(clock_warning(Duration::seconds(-60)), None);
        let behind = clock_warning(Duration::minutes(-10)).unwrap();
        assert!(
            behind.starts_with("this computer's clock is 10 minutes behind the database's"),
            "{behind}"
        );
        let ahead = clock_warning(Duration::seconds(95)).unwrap();
        assert!(
            ahead.starts_with("this computer's clock is 2 minutes ahead of"),
            "{ahead}"
        );
    }

    #[test]
    fn a_computer_that_slept_or_had_its_clock_changed_reads_the_database_again() {
        let local = Utc::now();
        let read = DatabaseTime {
            read_at: Instant::now(),
            database: local,
            skew: Duration::zero(),
            local,
        };
        assert!(!read.drifted(Utc::now()), "both clocks moved alike");
        // The monotonic clock stood still while the computer's clock went on ten minutes (a sleep),
        // or the clock was set back.
        assert!(read.drifted(local + Duration::minutes(10)));
        assert!(read.drifted(local - Duration::minutes(3)));
    }
}

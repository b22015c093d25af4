use chrono::{DateTime, Duration, Utc};

/// Where "now" comes from. Services read time only through this, so tests and `clinicpay --now` can fix it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// This is a computer's own clock, which may be minutes wrong: the services then keep the
    /// database's time instead (one clock for every desk and worker), and say when the two differ.
    /// A fixed clock (tests, `--now` in training) is taken as it is.
    fn is_machine_clock(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn is_machine_clock(&self) -> bool {
        true
    }
}

/// A computer's clock that is wrong by a fixed amount: a desk whose clock runs behind, in the tests.
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock(pub Duration);

impl Clock for SkewedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }

    fn is_machine_clock(&self) -> bool {
        true
    }
}

/// A clock that always answers the same instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

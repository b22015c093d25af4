//! The billing calendar and the recovery schedule (document 003, "Subscription Billing" and "Payment
//! Recovery"): when a subscription's next cycle falls, and where a failed cycle's recovery goes next
//! under the clinic's settings. Pure functions: the billing engine applies them to its orders.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};

use crate::{DomainError, RecoverySettings, RecoveryStatus};

/// How often a subscription bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum BillingInterval {
    Month,
    Week,
}

impl BillingInterval {
    /// The stable machine name, as stored and as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            BillingInterval::Month => "month",
            BillingInterval::Week => "week",
        }
    }
}

impl fmt::Display for BillingInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BillingInterval {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "month" => Ok(BillingInterval::Month),
            "week" => Ok(BillingInterval::Week),
            other => Err(DomainError::InvalidSetting(format!(
                "\"{other}\" is not a billing interval: use month or week."
            ))),
        }
    }
}

/// The next billing date after `from`. A month later keeps the day of the month where the month has
/// it, else the month's last day (31 January → 28 or 29 February).
pub fn next_cycle(from: DateTime<Utc>, interval: BillingInterval) -> DateTime<Utc> {
    match interval {
        BillingInterval::Week => from + Duration::weeks(1),
        BillingInterval::Month => from
            .checked_add_months(Months::new(1))
            .unwrap_or(from + Duration::days(30)),
    }
}

/// The start of the cycle that ends at `next`: the billing date before it.
pub fn previous_cycle(next: DateTime<Utc>, interval: BillingInterval) -> DateTime<Utc> {
    match interval {
        BillingInterval::Week => next - Duration::weeks(1),
        BillingInterval::Month => next
            .checked_sub_months(Months::new(1))
            .unwrap_or(next - Duration::days(30)),
    }
}

/// Where a recovery stands after a failed attempt: what the engine writes on the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryStep {
    pub status: RecoveryStatus,
    pub next_retry_at: Option<DateTime<Utc>>,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// The day recovery began: the first failure.
    pub first_failed_at: DateTime<Utc>,
}

/// Where recovery goes after a failed charge of a cycle or payoff order that had `attempts` failed
/// attempts before, the first at `first_failed_at` (none: this is the first): hard declines wait for a
/// new card; soft ones are retried on the retry days after the first failure; once the retries are
/// used up the order waits for a new card; from the final day it has failed.
pub fn after_failure(
    attempts: i64,
    first_failed_at: Option<DateTime<Utc>>,
    hard: bool,
    now: DateTime<Utc>,
    s: &RecoverySettings,
) -> RecoveryStep {
    let first = first_failed_at.unwrap_or(now);
    let attempts = attempts + 1;
    let day = (now - first).num_days();
    let retries_done = (attempts - 1) as usize;
    let (status, next) = if day >= s.final_day as i64 {
        (RecoveryStatus::FailedFinal, None)
    } else if hard {
        (RecoveryStatus::NeedsPaymentMethod, None)
    } else if retries_done < s.max_attempts as usize && retries_done < s.retry_days.len() {
        let at = first + Duration::days(s.retry_days[retries_done] as i64);
        (RecoveryStatus::RetryScheduled, Some(at.max(now)))
    } else {
        (RecoveryStatus::NeedsPaymentMethod, None)
    };
    RecoveryStep {
        status,
        next_retry_at: next,
        attempts,
        first_failed_at: first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap()
    }

    fn schedule() -> RecoverySettings {
        RecoverySettings {
            retry_days: vec![1, 3, 7],
            max_attempts: 3,
            suspend_day: 8,
            final_day: 15,
            promote_successful_card: true,
            pause_on_first_failure: false,
            emails: false,
        }
    }

    #[test]
    fn a_monthly_plan_bills_on_the_same_day_next_month() {
        assert_eq!(
            next_cycle(at(2026, 3, 15), BillingInterval::Month),
            at(2026, 4, 15)
        );
    }

    #[test]
    fn a_monthly_plan_started_on_the_31st_bills_on_the_last_day_of_a_shorter_month() {
        assert_eq!(
            next_cycle(at(2027, 1, 31), BillingInterval::Month),
            at(2027, 2, 28)
        );
        assert_eq!(
            next_cycle(at(2028, 1, 31), BillingInterval::Month),
            at(2028, 2, 29)
        );
    }

    #[test]
    fn a_weekly_plan_bills_seven_days_later() {
        assert_eq!(
            next_cycle(at(2026, 12, 29), BillingInterval::Week),
            at(2027, 1, 5)
        );
    }

    #[test]
    fn the_previous_cycle_is_one_interval_back() {
        assert_eq!(
            previous_cycle(at(2026, 4, 15), BillingInterval::Month),
            at(2026, 3, 15)
        );
        assert_eq!(
            previous_cycle(at(2027, 1, 5), BillingInterval::Week),
            at(2026, 12, 29)
        );
        assert_eq!(
            previous_cycle(at(2026, 3, 31), BillingInterval::Month),
            at(2026, 2, 28)
        );
    }

    #[test]
    fn a_billing_interval_reads_as_it_is_written_and_nothing_else() {
        for i in [BillingInterval::Month, BillingInterval::Week] {
            assert_eq!(i.as_str().parse::<BillingInterval>().unwrap(), i);
            assert_eq!(serde_json::to_value(i).unwrap(), i.as_str());
        }
        let err = "fortnight".parse::<BillingInterval>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"fortnight\" is not a billing interval: use month or week."
        );
        assert!("Month".parse::<BillingInterval>().is_err());
    }

    #[test]
    fn a_first_soft_decline_is_retried_on_the_first_retry_day() {
        let now = at(2026, 5, 1);
        let step = after_failure(0, None, false, now, &schedule());
        assert_eq!(step.status, RecoveryStatus::RetryScheduled);
        assert_eq!(step.next_retry_at, Some(at(2026, 5, 2)));
        assert_eq!(step.attempts, 1);
        assert_eq!(step.first_failed_at, now);
    }

    #[test]
    fn later_soft_declines_follow_the_retry_days_from_the_first_failure() {
        let first = at(2026, 5, 1);
        let second = after_failure(1, Some(first), false, at(2026, 5, 2), &schedule());
        assert_eq!(second.next_retry_at, Some(at(2026, 5, 4)));
        let third = after_failure(2, Some(first), false, at(2026, 5, 4), &schedule());
        assert_eq!(third.next_retry_at, Some(at(2026, 5, 8)));
        assert_eq!(third.first_failed_at, first);
    }

    #[test]
    fn a_retry_day_already_past_retries_now_instead_of_in_the_past() {
        let first = at(2026, 5, 1);
        let late = at(2026, 5, 6);
        let step = after_failure(1, Some(first), false, late, &schedule());
        assert_eq!(step.next_retry_at, Some(late));
    }

    #[test]
    fn a_hard_decline_waits_for_a_new_card() {
        let step = after_failure(0, None, true, at(2026, 5, 1), &schedule());
        assert_eq!(step.status, RecoveryStatus::NeedsPaymentMethod);
        assert_eq!(step.next_retry_at, None);
    }

    #[test]
    fn when_the_retries_are_used_up_the_order_waits_for_a_new_card() {
        let step = after_failure(3, Some(at(2026, 5, 1)), false, at(2026, 5, 8), &schedule());
        assert_eq!(step.status, RecoveryStatus::NeedsPaymentMethod);
        assert_eq!(step.attempts, 4);
        let fewer = RecoverySettings {
            max_attempts: 1,
            ..schedule()
        };
        let step = after_failure(1, Some(at(2026, 5, 1)), false, at(2026, 5, 2), &fewer);
        assert_eq!(step.status, RecoveryStatus::NeedsPaymentMethod);
    }

    #[test]
    fn from_the_final_day_recovery_has_failed_whatever_the_decline() {
        let first = at(2026, 5, 1);
        for hard in [false, true] {
            let step = after_failure(2, Some(first), hard, at(2026, 5, 16), &schedule());
            assert_eq!(step.status, RecoveryStatus::FailedFinal);
            assert_eq!(step.next_retry_at, None);
        }
        let day_before = after_failure(
            2,
            Some(first),
            false,
            at(2026, 5, 16) - Duration::hours(1),
            &schedule(),
        );
        assert_ne!(day_before.status, RecoveryStatus::FailedFinal);
    }
}

//! The lifecycles of orders, invoices, payments, subscriptions and recovery, as the documents name them.
//! Each status knows where it may go next; any other move is refused, so a bug cannot quietly turn a
//! failed payment into a paid one.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::DomainError;

macro_rules! status_enum {
    (
        $(#[$doc:meta])*
        $name:ident, $label:literal {
            $($variant:ident = $text:literal => [$($next:ident),*]),* $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "specta", derive(specta::Type))]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stored and displayed name, e.g. `NEEDS_PAYMENT_METHOD`.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// The statuses this one may move to.
            pub fn next(self) -> &'static [$name] {
                match self { $($name::$variant => &[$($name::$next),*]),* }
            }

            pub fn can_become(self, to: $name) -> bool {
                self.next().contains(&to)
            }

            /// Moves to `to` if the lifecycle allows it.
            pub fn transition(self, to: $name) -> Result<$name, DomainError> {
                if self.can_become(to) {
                    Ok(to)
                } else {
                    Err(DomainError::InvalidTransition(format!(
                        "{} {} cannot become {}.", $label, self.as_str(), to.as_str()
                    )))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim().to_ascii_uppercase().replace(['-', ' '], "_");
                $name::ALL.iter().copied().find(|v| v.as_str() == wanted).ok_or_else(|| {
                    DomainError::InvalidSetting(format!(
                        "\"{}\" is not a {} status: use one of {}.",
                        s.trim(),
                        $label,
                        $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                })
            }
        }
    };
}

status_enum!(
    /// An order: what the patient owes for (a checkout, a subscription cycle, a plan switch, a one-off).
    OrderStatus, "an order in status" {
        Pending = "PENDING" => [Paid, AwaitingPayment, Cancelled],
        AwaitingPayment = "AWAITING_PAYMENT" => [Paid, Cancelled],
        Paid = "PAID" => [Refunded],
        Refunded = "REFUNDED" => [],
        // A checkout cancelled when its charge failed: pressed again (the same attempt) it is pending
        // again; a late answer from the gateway that proves it was paid after all records the money.
        Cancelled = "CANCELLED" => [Paid, Pending],
    }
);

status_enum!(
    InvoiceStatus, "an invoice in status" {
        Open = "OPEN" => [Paid, Void],
        Paid = "PAID" => [Refunded],
        Refunded = "REFUNDED" => [],
        // Voided with its failed checkout: reopened when it is pressed again, or paid by a late
        // answer (see `OrderStatus::Cancelled`).
        Void = "VOID" => [Paid, Open],
    }
);

status_enum!(
    /// A payment is recorded as PENDING before the gateway is called. UNKNOWN means the gateway was
    /// called but its answer was lost: only a look-up at the gateway may settle it, never a new charge.
    PaymentStatus, "a payment in status" {
        Pending = "PENDING" => [Succeeded, Failed, Unknown],
        Unknown = "UNKNOWN" => [Succeeded, Failed],
        Succeeded = "SUCCEEDED" => [],
        Failed = "FAILED" => [],
    }
);

status_enum!(
    SubscriptionStatus, "a subscription in status" {
        Active = "ACTIVE" => [Paused, Cancelled],
        Paused = "PAUSED" => [Active, Suspended, Cancelled],
        Suspended = "SUSPENDED" => [Active, Cancelled],
        Cancelled = "CANCELLED" => [],
    }
);

status_enum!(
    /// Payment recovery of a failed subscription or retry charge (document 003, "Payment Recovery").
    RecoveryStatus, "a recovery in status" {
        NeedsPaymentMethod = "NEEDS_PAYMENT_METHOD" => [RetryScheduled, Resolved, FailedFinal],
        RetryScheduled = "RETRY_SCHEDULED" => [RetryScheduled, NeedsPaymentMethod, Resolved, FailedFinal],
        Resolved = "RESOLVED" => [],
        // The money came in after the final notice (an invoice paid, a card saved): resolved after all.
        FailedFinal = "FAILED_FINAL" => [Resolved],
    }
);

status_enum!(
    /// Why an order exists. Manual retry applies only to subscription cycles and switch payoffs.
    OrderKind, "an order of kind" {
        Checkout = "CHECKOUT" => [],
        SubscriptionCycle = "SUBSCRIPTION_CYCLE" => [],
        SwitchPayoff = "SWITCH_PAYOFF" => [],
        OneTime = "ONE_TIME" => [],
    }
);

impl OrderKind {
    /// Document 003, "Manual Retry": only subscription cycle and switch payoff orders are retried.
    pub fn allows_manual_retry(self) -> bool {
        matches!(self, OrderKind::SubscriptionCycle | OrderKind::SwitchPayoff)
    }
}

impl RecoveryStatus {
    /// Still being worked on: the order counts as the subscription's open recovery.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            RecoveryStatus::NeedsPaymentMethod | RecoveryStatus::RetryScheduled
        )
    }
}

impl PaymentStatus {
    pub fn is_final(self) -> bool {
        matches!(self, PaymentStatus::Succeeded | PaymentStatus::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_payment_can_never_become_succeeded() {
        let err = PaymentStatus::Failed
            .transition(PaymentStatus::Succeeded)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a payment in status FAILED cannot become SUCCEEDED."
        );
        assert!(PaymentStatus::Succeeded.next().is_empty());
    }

    #[test]
    fn an_unknown_outcome_is_settled_by_lookup_not_by_charging_again() {
        assert!(PaymentStatus::Pending.can_become(PaymentStatus::Unknown));
        assert!(PaymentStatus::Unknown.can_become(PaymentStatus::Succeeded));
        assert!(PaymentStatus::Unknown.can_become(PaymentStatus::Failed));
        assert!(!PaymentStatus::Unknown.can_become(PaymentStatus::Pending));
    }

    #[test]
    fn recovery_ends_resolved_or_failed_final_and_only_a_late_payment_moves_failed_final() {
        use RecoveryStatus::*;
        assert!(NeedsPaymentMethod.can_become(RetryScheduled));
        assert!(RetryScheduled.can_become(NeedsPaymentMethod));
        assert!(RetryScheduled.can_become(Resolved));
        assert!(NeedsPaymentMethod.can_become(FailedFinal));
        for end in [Resolved, FailedFinal] {
            assert!(!end.is_open());
        }
        for to in RecoveryStatus::ALL {
            assert!(Resolved.transition(*to).is_err(), "Resolved -> {to}");
            assert_eq!(
                FailedFinal.can_become(*to),
                *to == Resolved,
                "FailedFinal -> {to}"
            );
        }
    }

    #[test]
    fn a_paid_invoice_cannot_reopen_and_an_order_awaiting_payment_can_be_paid() {
        assert!(InvoiceStatus::Paid.transition(InvoiceStatus::Open).is_err());
        assert!(InvoiceStatus::Open.transition(InvoiceStatus::Paid).is_ok());
        assert!(OrderStatus::AwaitingPayment
            .transition(OrderStatus::Paid)
            .is_ok());
        assert!(OrderStatus::Refunded.transition(OrderStatus::Paid).is_err());
        // A checkout cancelled when its charge failed is paid after all when a late answer says so,
        // and opens again when the same checkout is pressed again; a voided invoice likewise.
        assert!(OrderStatus::Cancelled.can_become(OrderStatus::Paid));
        assert!(OrderStatus::Cancelled.can_become(OrderStatus::Pending));
        assert!(InvoiceStatus::Void.can_become(InvoiceStatus::Paid));
        assert!(!InvoiceStatus::Void.can_become(InvoiceStatus::Refunded));
    }

    #[test]
    fn a_paused_subscription_resumes_or_is_suspended() {
        use SubscriptionStatus::*;
        assert!(Active.can_become(Paused));
        assert!(Paused.can_become(Active));
        assert!(Paused.can_become(Suspended));
        assert!(!Cancelled.can_become(Active));
    }

    #[test]
    fn statuses_read_back_from_their_stored_names() {
        for s in RecoveryStatus::ALL {
            assert_eq!(s.as_str().parse::<RecoveryStatus>().unwrap(), *s);
        }
        assert_eq!(
            "needs-payment-method".parse::<RecoveryStatus>().unwrap(),
            RecoveryStatus::NeedsPaymentMethod
        );
        assert!("LOST".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn manual_retry_is_only_for_subscription_cycles_and_switch_payoffs() {
        assert!(OrderKind::SubscriptionCycle.allows_manual_retry());
        assert!(OrderKind::SwitchPayoff.allows_manual_retry());
        assert!(!OrderKind::Checkout.allows_manual_retry());
        assert!(!OrderKind::OneTime.allows_manual_retry());
    }
}

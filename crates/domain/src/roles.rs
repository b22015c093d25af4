//! Who may do what. This table is the only place permissions are decided; docs/architecture.md shows it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    FrontDesk,
    BillingManager,
    ItAdmin,
    /// The billing worker's own account (a service, not a person): billing passes only.
    Worker,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::FrontDesk,
        Role::BillingManager,
        Role::ItAdmin,
        Role::Worker,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::FrontDesk => "front_desk",
            Role::BillingManager => "billing_manager",
            Role::ItAdmin => "it_admin",
            Role::Worker => "worker",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Role::FrontDesk => "Front desk",
            Role::BillingManager => "Billing manager",
            Role::ItAdmin => "IT",
            Role::Worker => "Billing worker",
        }
    }

    /// The permission matrix.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        use Role::*;
        if self == Worker {
            // A worker signs in to run billing passes and nothing else.
            return permission == RunBilling;
        }
        match permission {
            ViewPatients | ViewActivity => true,
            EditPatients | ManageCards | TakePayments | RefundWithinLimit | RetryRecovery => {
                matches!(self, FrontDesk | BillingManager)
            }
            RefundAnyAmount | ViewReports | SendReminders => matches!(self, BillingManager),
            ChangeSettings | RunBilling | VerifyAudit => matches!(self, BillingManager | ItAdmin),
            ManageCredentials
            | ManageUpdates
            | ManageStaff
            | SeedDemo
            | ChangeSecuritySettings
            | WriteDiagnostics => {
                matches!(self, ItAdmin)
            }
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == wanted)
            .ok_or_else(|| {
                DomainError::InvalidSetting(format!(
                    "\"{}\" is not a role: use front_desk, billing_manager, it_admin or worker.",
                    s.trim()
                ))
            })
    }
}

/// Something a staff member may or may not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    ViewPatients,
    ViewActivity,
    EditPatients,
    ManageCards,
    TakePayments,
    RetryRecovery,
    /// Refunds up to the organization's front-desk refund limit.
    RefundWithinLimit,
    RefundAnyAmount,
    ViewReports,
    SendReminders,
    /// Organization settings: gateways, recovery, reminders, limits.
    ChangeSettings,
    /// Where secrets, emails and updates go, and turning the desk lock off: IT's.
    ChangeSecuritySettings,
    RunBilling,
    VerifyAudit,
    /// Gateway and SMTP secrets in the OS keychain.
    ManageCredentials,
    ManageUpdates,
    ManageStaff,
    SeedDemo,
    /// The diagnostics bundle for support: IT's.
    WriteDiagnostics,
}

impl Permission {
    pub const ALL: [Permission; 19] = [
        Permission::ViewPatients,
        Permission::ViewActivity,
        Permission::EditPatients,
        Permission::ManageCards,
        Permission::TakePayments,
        Permission::RetryRecovery,
        Permission::RefundWithinLimit,
        Permission::RefundAnyAmount,
        Permission::ViewReports,
        Permission::SendReminders,
        Permission::ChangeSettings,
        Permission::ChangeSecuritySettings,
        Permission::RunBilling,
        Permission::VerifyAudit,
        Permission::ManageCredentials,
        Permission::ManageUpdates,
        Permission::ManageStaff,
        Permission::SeedDemo,
        Permission::WriteDiagnostics,
    ];

    /// What staff are told they cannot do, completing "You cannot …".
    pub fn describe(self) -> &'static str {
        use Permission::*;
        match self {
            ViewPatients => "view patients",
            ViewActivity => "view the activity log",
            EditPatients => "add or change patients",
            ManageCards => "add, change or delete saved cards",
            TakePayments => "take payments",
            RetryRecovery => "retry recovery orders",
            RefundWithinLimit => "refund payments",
            RefundAnyAmount => {
                "refund more than the front-desk refund limit on one payment (its refunds together)"
            }
            ViewReports => "view billing reports",
            SendReminders => "send card expiry reminders",
            ChangeSettings => "change the clinic's payment settings",
            ChangeSecuritySettings => {
                "change where the clinic's secrets, emails and updates go, or turn the desk lock off (IT does)"
            }
            RunBilling => "run billing",
            VerifyAudit => "verify the activity log",
            ManageCredentials => "manage gateway credentials",
            ManageUpdates => "manage app updates",
            ManageStaff => "manage staff accounts",
            SeedDemo => "create the demo clinic",
            WriteDiagnostics => "write a diagnostics bundle (IT does)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_desk_cannot_change_gateway_settings_or_refund_above_the_limit() {
        assert!(!Role::FrontDesk.allows(Permission::ChangeSettings));
        assert!(!Role::FrontDesk.allows(Permission::RefundAnyAmount));
        assert!(Role::FrontDesk.allows(Permission::RefundWithinLimit));
        assert!(Role::FrontDesk.allows(Permission::ManageCards));
    }

    #[test]
    fn only_it_manages_credentials_updates_and_staff() {
        for p in [
            Permission::ManageCredentials,
            Permission::ManageUpdates,
            Permission::ManageStaff,
        ] {
            assert!(Role::ItAdmin.allows(p));
            assert!(!Role::BillingManager.allows(p));
            assert!(!Role::FrontDesk.allows(p));
        }
    }

    #[test]
    fn a_worker_account_runs_billing_passes_and_nothing_else() {
        for p in Permission::ALL {
            assert_eq!(Role::Worker.allows(p), p == Permission::RunBilling, "{p:?}");
        }
    }

    #[test]
    fn every_permission_is_held_by_someone() {
        for p in Permission::ALL {
            assert!(
                Role::ALL.iter().any(|r| r.allows(p)),
                "{p:?} is held by no role"
            );
        }
    }

    #[test]
    fn roles_read_back_from_what_it_types() {
        assert_eq!(
            "billing-manager".parse::<Role>().unwrap(),
            Role::BillingManager
        );
        assert!("admin".parse::<Role>().is_err());
    }
}

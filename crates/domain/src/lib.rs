//! ClinicPay's domain: the clinic's words as types, and the rules of the product documents as pure
//! functions. Nothing here does I/O, so every rule is testable in microseconds.

pub mod address;
pub mod card;
pub mod card_entry;
pub mod clock;
pub mod decline;
pub mod error;
pub mod gateway;
pub mod ids;
pub mod managed;
pub mod money;
pub mod notices;
pub mod patient;
pub mod recovery;
pub mod roles;
pub mod routing;
pub mod settings;
pub mod status;

pub use address::{check_gateway_address, WebAddress};
pub use card::{CardBrand, CardExpiry, DeletionCheck, NetworkUpdate, NewCard, PaymentMethod};
pub use clock::{Clock, FixedClock, SkewedClock, SystemClock};
pub use error::DomainError;
pub use gateway::Gateway;
pub use ids::*;
pub use managed::{EngineHost, ManagedConfig, ManagedValue};
pub use money::{Currency, Money};
pub use patient::{NewPatient, Patient, PatientType};
pub use recovery::BillingInterval;
pub use roles::{Permission, Role};
pub use settings::{
    OrganizationSettings, RecoverySettings, ReminderSettings, SettingKey, UpdateChannel,
    UpdateSettings,
};
pub use status::{
    InvoiceStatus, OrderKind, OrderStatus, PaymentStatus, RecoveryStatus, SubscriptionStatus,
};

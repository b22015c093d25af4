//! Which gateway client a service talks to, and with what: the clinic's settings choose the address,
//! this computer's keychain gives the secret, and training mode swaps both for the built-in simulator
//! so no training click can ever reach a real gateway.

use std::sync::Arc;

use clinicpay_domain::{
    check_gateway_address, Gateway, OrganizationSettings, PatientId, Permission,
};
use clinicpay_gateways::nmi::NmiClient;
use clinicpay_gateways::stripe::StripeClient;
use clinicpay_gateways::{GatewayError, PaymentGateway, Secret, DEFAULT_TIMEOUT};
use serde::Serialize;

use crate::credentials::secret_name;
use crate::processor_log::StoredProcessorLog;
use crate::{Actor, ErrorCode, Result, ServiceError, Services};

/// The keys training mode uses with the simulator (which accepts any well-formed key).
pub const TRAINING_STRIPE_KEY: &str = "sk_test_clinicpay_training";
pub const TRAINING_NMI_KEY: &str = "clinicpay-training-security-key";

/// What `gateway check` found for one gateway.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GatewayCheck {
    pub gateway: Gateway,
    /// The clinic takes new cards and payments through this one.
    pub active: bool,
    pub works: bool,
    /// ok, credentials_missing, credentials_refused, gateway_unavailable, keychain_unavailable…
    pub status: String,
    pub message: String,
}

impl Services {
    /// A client for `gateway`, logging to the processor log (under `patient` when the call is theirs).
    pub(crate) async fn gateway_client(
        &self,
        gateway: Gateway,
        settings: &OrganizationSettings,
        patient: Option<PatientId>,
    ) -> Result<Box<dyn PaymentGateway>> {
        let log = Arc::new(StoredProcessorLog::new(self.store().clone(), patient));
        self.gateway_client_logged(gateway, settings, log, None)
            .await
    }

    /// The same, writing its calls to `log`, and with `typed` instead of the keychain's secret when
    /// given (first-run setup: there is no clinic to log to yet, and a key is tried before it is kept).
    /// Where `gateway`'s API is for this clinic: the built-in simulator in training, else the setting
    /// (None: the gateway's live address).
    pub(crate) fn api_base(
        &self,
        gateway: Gateway,
        settings: &OrganizationSettings,
    ) -> Option<String> {
        let configured = match gateway {
            Gateway::Stripe => settings.stripe_api_base.clone(),
            Gateway::Nmi => settings.nmi_api_base.clone(),
        };
        match (settings.training_mode, self.training_simulator()) {
            (true, Some(sim)) => Some(match gateway {
                Gateway::Stripe => format!("{sim}/stripe"),
                Gateway::Nmi => sim.to_owned(),
            }),
            _ => configured,
        }
    }

    pub(crate) async fn gateway_client_logged(
        &self,
        gateway: Gateway,
        settings: &OrganizationSettings,
        log: Arc<dyn clinicpay_gateways::ProcessorLog>,
        typed: Option<Secret>,
    ) -> Result<Box<dyn PaymentGateway>> {
        let base = self.api_base(gateway, settings);
        let secret = if settings.training_mode {
            self.require_training_allowed()?;
            if base.is_none() {
                return Err(ServiceError::Invalid(format!(
                    "Training mode uses the built-in simulator, and no simulator address is set for {gateway}: start one with `clinicpay sim serve` and set `{}.api-base` to its address.",
                    gateway.as_str()
                )));
            }
            Secret::new(match gateway {
                Gateway::Stripe => TRAINING_STRIPE_KEY,
                Gateway::Nmi => TRAINING_NMI_KEY,
            })
        } else {
            // Checked at every use, not only when set: the database may say otherwise since.
            check_gateway_address(gateway, base.as_deref(), false, self.test_build())?;
            let secret = match typed {
                Some(typed) => typed,
                None => self.gateway_secret(gateway, base.as_deref()).await?,
            };
            crate::credentials::check_key_mode(
                gateway,
                secret.expose(),
                settings,
                self.test_build(),
            )?;
            secret
        };
        Ok(match gateway {
            Gateway::Stripe => Box::new(StripeClient::new(
                base.as_deref(),
                secret,
                log,
                DEFAULT_TIMEOUT,
            )),
            Gateway::Nmi => Box::new(NmiClient::new(
                base.as_deref(),
                secret,
                log,
                DEFAULT_TIMEOUT,
            )),
        })
    }

    /// Makes a harmless call to each gateway and says whether this computer's credentials work.
    pub async fn check_gateways(&self, actor: &Actor) -> Result<Vec<GatewayCheck>> {
        actor.require(Permission::ManageCredentials)?;
        let settings = self.load_settings().await?;
        let mut report = Vec::new();
        for gateway in [Gateway::Nmi, Gateway::Stripe] {
            let active = gateway == settings.active_gateway;
            let result = match self.gateway_client(gateway, &settings, None).await {
                Ok(client) => client.check().await.map_err(ServiceError::from),
                Err(e) => Err(e),
            };
            let (works, status, message) = match result {
                Ok(()) => (
                    true,
                    "ok".to_owned(),
                    if settings.training_mode {
                        format!("{gateway} (training simulator) answers.")
                    } else {
                        format!(
                            "{gateway} accepts the {} stored on this computer.",
                            secret_name(gateway)
                        )
                    },
                ),
                Err(e) => (false, e.code().as_str().to_owned(), e.to_string()),
            };
            report.push(GatewayCheck {
                gateway,
                active,
                works,
                status,
                message,
            });
        }
        Ok(report)
    }
}

/// The error a failed check of the active gateway amounts to, for scripts' exit codes.
pub fn check_failure(report: &[GatewayCheck]) -> Option<ServiceError> {
    let failed = report.iter().find(|c| c.active && !c.works)?;
    let m = failed.message.clone();
    Some(match failed.status.as_str() {
        s if s == ErrorCode::CredentialsMissing.as_str() => ServiceError::CredentialsMissing(m),
        s if s == ErrorCode::CredentialsRefused.as_str() => ServiceError::CredentialsRefused(m),
        s if s == ErrorCode::KeychainUnavailable.as_str() => ServiceError::KeychainUnavailable(m),
        s if s == ErrorCode::InvalidInput.as_str() => ServiceError::Invalid(m),
        _ => ServiceError::GatewayUnavailable(m),
    })
}

/// A gateway's refusal of a card being saved: a decline is the bank's "no", said in staff's words.
pub(crate) fn card_refusal(e: GatewayError) -> ServiceError {
    match e {
        GatewayError::Rejected {
            gateway,
            code,
            message,
        } if is_card_decline(gateway, &code) => {
            let advice = clinicpay_domain::decline::advise(gateway, &code);
            ServiceError::Declined(format!(
                "{gateway} declined this card, so it was not saved. {}",
                advice.desk_message(gateway, &code, &message)
            ))
        }
        other => other.into(),
    }
}

pub(crate) fn is_card_decline(gateway: Gateway, code: &str) -> bool {
    match gateway {
        // Stripe's card_error codes and decline codes are lower_snake; request errors carry other codes.
        Gateway::Stripe => !matches!(
            code,
            "" | "resource_missing"
                | "parameter_missing"
                | "invalid_request_error"
                | "payment_method_of_another_customer"
                | "setup_intent_unconfirmed"
                | "not_a_card"
        ),
        // NMI's 2xx response codes are the bank's declines.
        Gateway::Nmi => code.starts_with('2'),
    }
}

//! Which hosted card fields the window loads: the active gateway's script and public key (training:
//! the built-in simulator's stand-ins).

use clinicpay_domain::{Gateway, PatientId, Permission};
use serde::Serialize;

use crate::{Actor, Result, ServiceError, Services};

/// Where the window loads the active gateway's hosted card fields from.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CardForm {
    pub gateway: Gateway,
    /// Stripe.js or Collect.js: the gateway's own, or the built-in simulator's in training mode.
    pub script_url: String,
    /// The public key the script takes (Stripe's publishable key, NMI's tokenization key).
    pub public_key: String,
    pub training: bool,
}

pub const STRIPE_JS: &str = "https://js.stripe.com/v3/";
pub const NMI_COLLECT_JS: &str = "https://secure.nmi.com/token/Collect.js";
/// The publishable key the simulator's Stripe.js takes in training mode.
pub const TRAINING_STRIPE_PUBLISHABLE_KEY: &str = "pk_test_clinicpay_training";
pub const TRAINING_NMI_TOKENIZATION_KEY: &str = "clinicpay-training-tokenization-key";

impl Services {
    /// The card form for one patient's new card: the patient must exist (no card window is opened
    /// for nobody), then as [`Services::card_form`].
    pub async fn card_form_for(&self, actor: &Actor, patient: PatientId) -> Result<CardForm> {
        let form = self.card_form(actor).await?;
        let mut r = self.store().reader().await?;
        self.require_patient(&mut r, patient).await?;
        Ok(form)
    }

    /// The active gateway's hosted card fields: in training mode the simulator's, otherwise the
    /// gateway's own script with the clinic's public key.
    pub async fn card_form(&self, actor: &Actor) -> Result<CardForm> {
        actor.require(Permission::ManageCards)?;
        let settings = self.load_settings().await?;
        let gateway = settings.active_gateway;
        if settings.training_mode {
            let sim = self
                .training_simulator()
                .map(str::to_owned)
                .or_else(|| match gateway {
                    Gateway::Stripe => settings
                        .stripe_api_base
                        .as_deref()
                        .map(|b| b.trim_end_matches("/stripe").to_owned()),
                    Gateway::Nmi => settings.nmi_api_base.clone(),
                });
            let Some(sim) = sim else {
                return Err(ServiceError::Invalid(
                    "Training mode needs the built-in simulator, and it is not running: restart ClinicPay. If it happens again, ask IT.".into(),
                ));
            };
            let sim = sim.trim_end_matches('/');
            return Ok(match gateway {
                Gateway::Stripe => CardForm {
                    gateway,
                    script_url: format!("{sim}/js.stripe.com/v3/"),
                    public_key: TRAINING_STRIPE_PUBLISHABLE_KEY.into(),
                    training: true,
                },
                Gateway::Nmi => CardForm {
                    gateway,
                    script_url: format!("{sim}/token/Collect.js"),
                    public_key: TRAINING_NMI_TOKENIZATION_KEY.into(),
                    training: true,
                },
            });
        }
        let (script_url, key, setting) = match gateway {
            Gateway::Stripe => (
                STRIPE_JS,
                settings.stripe_publishable_key.clone(),
                "stripe.publishable-key",
            ),
            Gateway::Nmi => (
                NMI_COLLECT_JS,
                settings.nmi_tokenization_key.clone(),
                "nmi.tokenization-key",
            ),
        };
        let public_key = key.ok_or_else(|| {
            ServiceError::Invalid(format!(
                "Cards cannot be added yet: {gateway}'s public key for the card form is not set. Ask IT to set {setting} in Settings."
            ))
        })?;
        Ok(CardForm {
            gateway,
            script_url: script_url.into(),
            public_key,
            training: false,
        })
    }
}

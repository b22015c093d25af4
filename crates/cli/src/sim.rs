//! `clinicpay sim`: the built-in simulator for training mode, scripts and tests. No database is needed.

use clinicpay_domain::Gateway;
use clinicpay_services::ServiceError;
use clinicpay_sim::{SimConfig, Simulator};

use crate::output::Out;
use crate::SimCommand;

pub async fn run(command: SimCommand, out: &Out) -> Result<(), ServiceError> {
    match command {
        SimCommand::Serve { port } => {
            let sim = Simulator::start(SimConfig {
                nmi_security_key: None,
                port,
            })
            .await
            .map_err(|e| {
                ServiceError::Invalid(format!(
                    "The simulator cannot listen on port {port} ({e}): pick another --port."
                ))
            })?;
            out.sim_serving(&sim.base_url());
            // Serve until the process is stopped (Ctrl+C or a signal).
            let _ = tokio::signal::ctrl_c().await;
            Ok(())
        }
        SimCommand::Token {
            sim,
            gateway,
            card,
            exp,
        } => {
            if gateway != Gateway::Nmi {
                return Err(ServiceError::Invalid(
                    "The simulator makes NMI Collect.js tokens so far; Stripe test tokens come with the Stripe stand-in.".into(),
                ));
            }
            let exp: String = exp.chars().filter(char::is_ascii_digit).collect();
            let reply: serde_json::Value = reqwest::Client::new()
                .post(format!("{}/token/tokenize", sim.trim_end_matches('/')))
                .form(&[("ccnumber", card.as_str()), ("ccexp", exp.as_str())])
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| ServiceError::Invalid(format!("The simulator at {sim} did not answer ({e}): is `clinicpay sim serve` running?")))?
                .json()
                .await
                .map_err(|e| ServiceError::Invalid(format!("The simulator at {sim} answered something unexpected ({e}).")))?;
            match reply.get("token").and_then(|t| t.as_str()) {
                Some(token) => {
                    out.sim_token(token);
                    Ok(())
                }
                None => Err(ServiceError::Invalid(format!(
                    "The simulator refused the card: {}.",
                    reply
                        .get("error")
                        .and_then(|e| e.as_str())
                        .unwrap_or("no reason given")
                ))),
            }
        }
    }
}

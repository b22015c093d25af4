//! `clinicpay sim`: the built-in simulator for training mode, scripts and tests. No database is needed.

use clinicpay_domain::Gateway;
use clinicpay_services::ServiceError;
use clinicpay_sim::{SimConfig, Simulator};

use crate::output::Out;
use crate::SimCommand;

pub async fn run(command: SimCommand, out: &Out) -> Result<(), ServiceError> {
    match command {
        SimCommand::Serve {
            port,
            state,
            nmi_key,
            stripe_key,
            batch_close,
            dup_seconds,
        } => {
            let sim = Simulator::start(SimConfig {
                port,
                state_file: state.clone(),
                nmi_security_key: nmi_key,
                stripe_secret_key: stripe_key,
                nmi_batch_close: batch_close,
                nmi_duplicate_window: dup_seconds,
                ..SimConfig::default()
            })
            .await
            .map_err(|e| {
                ServiceError::Invalid(match &state {
                    Some(file) if e.kind() != std::io::ErrorKind::AddrInUse => format!(
                        "The simulator cannot start from its state file {} ({e}): move the file away to start empty.",
                        file.display()
                    ),
                    _ => format!(
                        "The simulator cannot listen on port {port} ({e}): pick another --port."
                    ),
                })
            })?;
            out.sim_serving(&sim.base_url());
            // Serve until the process is stopped (Ctrl+C or a signal).
            let _ = tokio::signal::ctrl_c().await;
            Ok(())
        }
        SimCommand::RenewCard {
            sim,
            gateway,
            card,
            exp,
            number,
        } => {
            let mut form = vec![
                ("gateway", gateway.as_str().to_owned()),
                ("last4", card),
                ("exp", exp),
            ];
            if let Some(n) = number {
                form.push(("number", n));
            }
            let reply: serde_json::Value = reqwest::Client::new()
                .post(format!("{}/_sim/renew-card", sim.trim_end_matches('/')))
                .form(&form)
                .send()
                .await
                .map_err(|e| ServiceError::Invalid(format!("The simulator at {sim} did not answer ({e}): is `clinicpay sim serve` running?")))?
                .json()
                .await
                .map_err(|e| ServiceError::Invalid(format!("The simulator at {sim} answered something unexpected ({e}).")))?;
            match reply["renewed"].as_u64() {
                Some(n) => {
                    out.sim_renewed(n);
                    Ok(())
                }
                None => Err(ServiceError::Invalid(format!(
                    "The simulator refused: {}",
                    reply["error"].as_str().unwrap_or("no reason given")
                ))),
            }
        }
        SimCommand::CompleteSetup {
            sim,
            session,
            card,
            exp,
        } => complete_setup(&sim, &session, &card, &exp, out).await,
        SimCommand::Token {
            sim,
            gateway,
            card,
            exp,
        } => {
            if gateway == Gateway::Stripe {
                return stripe_token(&sim, &card, &exp, out).await;
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

/// The patient fills in the simulator's Checkout page for `session` and presses Save: the session
/// as Stripe then answers it, or the page's refusal (a declined card leaves the session open).
async fn complete_setup(
    sim: &str,
    session: &str,
    card: &str,
    exp: &str,
    out: &Out,
) -> Result<(), ServiceError> {
    if session.is_empty()
        || !session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(ServiceError::Invalid(format!(
            "\"{session}\" is not a Checkout Session id: give the cs_… id that `cards link` printed."
        )));
    }
    let reply = reqwest::Client::new()
        .post(format!(
            "{}/stripe/checkout/{session}",
            sim.trim_end_matches('/')
        ))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&[("cardnumber", card), ("exp", exp)])
        .send()
        .await
        .map_err(|e| {
            ServiceError::Invalid(format!(
                "The simulator at {sim} did not answer ({e}): is `clinicpay sim serve` running?"
            ))
        })?;
    let status = reply.status();
    let body: serde_json::Value = reply.json().await.map_err(|e| {
        ServiceError::Invalid(format!(
            "The simulator at {sim} answered something unexpected ({e})."
        ))
    })?;
    if status.is_success() {
        out.sim_setup_completed(&body);
        return Ok(());
    }
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("no reason given")
        .to_owned();
    Err(if status == reqwest::StatusCode::PAYMENT_REQUIRED {
        ServiceError::Declined(format!("The checkout page refused the card: {message}"))
    } else {
        ServiceError::Invalid(format!("The checkout page refused: {message}"))
    })
}

/// A Stripe PaymentMethod from the simulator's Stripe subset, made as Stripe.js makes it in the page
/// (with the publishable key; the card number goes to the "gateway", never to ClinicPay).
async fn stripe_token(sim: &str, card: &str, exp: &str, out: &Out) -> Result<(), ServiceError> {
    let digits: String = exp.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 4 {
        return Err(ServiceError::Invalid(format!(
            "\"{exp}\" is not an expiry: give it as MM/YY, e.g. 12/30."
        )));
    }
    let (month, year) = digits.split_at(2);
    let reply: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "{}/stripe/v1/payment_methods",
            sim.trim_end_matches('/')
        ))
        .bearer_auth("pk_test_clinicpay_simulator")
        .form(&[
            ("type", "card"),
            ("card[number]", card),
            ("card[exp_month]", month),
            ("card[exp_year]", year),
        ])
        .send()
        .await
        .map_err(|e| {
            ServiceError::Invalid(format!(
                "The simulator at {sim} did not answer ({e}): is `clinicpay sim serve` running?"
            ))
        })?
        .json()
        .await
        .map_err(|e| {
            ServiceError::Invalid(format!(
                "The simulator at {sim} answered something unexpected ({e})."
            ))
        })?;
    match reply["id"].as_str() {
        Some(id) => {
            out.sim_token(id);
            Ok(())
        }
        None => Err(ServiceError::Invalid(format!(
            "The simulator refused the card: {}",
            reply["error"]["message"]
                .as_str()
                .unwrap_or("no reason given")
        ))),
    }
}

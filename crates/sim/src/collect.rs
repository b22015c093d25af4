//! A stand-in for NMI's Collect.js: a script that tokenises a typed test card through this simulator.
//! Real card numbers never reach ClinicPay; here they reach only the simulator, as they would reach NMI.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Form;
use serde::Deserialize;

use crate::cards::luhn_ok;
use crate::Shared;

const SCRIPT: &str = r#"// ClinicPay simulator: a stand-in for NMI Collect.js (training mode and tests only).
(function () {
  var base = (document.currentScript && document.currentScript.src || "").replace(/\/token\/Collect\.js.*$/, "");
  window.CollectJS = {
    config: {},
    configure: function (config) { this.config = config || {}; },
    startPaymentRequest: function () {},
    tokenize: function (card) {
      var cfg = this.config;
      var body = new URLSearchParams({ ccnumber: card.number, ccexp: card.exp, cvv: card.cvv || "" });
      return fetch(base + "/token/tokenize", { method: "POST", body: body })
        .then(function (r) { return r.json(); })
        .then(function (reply) {
          if (reply.token && cfg.callback) cfg.callback(reply);
          return reply;
        });
    }
  };
})();
"#;

pub(crate) async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/javascript")], SCRIPT)
}

#[derive(Deserialize)]
pub(crate) struct CardForm {
    ccnumber: String,
    ccexp: String,
}

pub(crate) async fn tokenize(
    State(shared): State<Arc<Mutex<Shared>>>,
    Form(card): Form<CardForm>,
) -> impl IntoResponse {
    let number: String = card
        .ccnumber
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let exp: String = card.ccexp.chars().filter(|c| c.is_ascii_digit()).collect();
    if !luhn_ok(&number) {
        return axum::Json(serde_json::json!({"error": "Card number is invalid"}));
    }
    if exp.len() != 4 {
        return axum::Json(serde_json::json!({"error": "Expiration date is invalid"}));
    }
    let token = shared
        .lock()
        .expect("sim state")
        .nmi
        .tokenize(&number, &exp);
    axum::Json(serde_json::json!({
        "token": token,
        "card": {
            "number": crate::cards::masked(&number),
            "bin": &number[..6],
            "exp": exp,
            "type": crate::cards::brand_of(&number),
        },
        "tokenType": "inline",
    }))
}

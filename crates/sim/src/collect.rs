//! Direct tokenisation of a test card (what `clinicpay sim token` and tests use). The page's hosted
//! fields are in `hosted.rs`; card numbers reach only the simulator, as they would reach NMI.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Form;
use serde::Deserialize;

use crate::cards::luhn_ok;
use crate::Shared;

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
    if !crate::cards::is_published_test_card(&number) {
        return axum::Json(serde_json::json!({"error": crate::cards::NOT_A_TEST_CARD}));
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

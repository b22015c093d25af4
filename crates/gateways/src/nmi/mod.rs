//! NMI: the Payment API (`transact.php`: form fields in, `key=value` out, HTTP 200 even for declines)
//! and the Query API (`query.php`: XML out). Our payment key travels as `orderid`, so a charge whose reply
//! was lost is found by `order_id` before anything is ever charged again.
//!
//! `wire` holds NMI's formats, `outcome` what its replies mean; this client sends and records.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clinicpay_domain::{Gateway, Money};
use serde::Serialize;

use crate::call::{self, Call, Format, Logged, Reply, Transport};
use crate::{
    CardHolder, ChargeOutcome, ChargeRequest, GatewayError, GatewayTransaction, LookupOutcome,
    PaymentGateway, ProcessorLog, SavedCard, Secret,
};

mod outcome;
mod wire;

use wire::{
    AddCustomer, Authenticated, DeleteCustomer, Query, QueryRecord, Sale, Validate, QUERY, TRANSACT,
};

pub const LIVE_BASE: &str = "https://secure.nmi.com";

pub struct NmiClient {
    http: reqwest::Client,
    base: String,
    security_key: Secret,
    log: Arc<dyn ProcessorLog>,
}

impl NmiClient {
    pub fn new(
        base: Option<&str>,
        security_key: Secret,
        log: Arc<dyn ProcessorLog>,
        timeout: Duration,
    ) -> NmiClient {
        NmiClient {
            http: call::http_client(timeout),
            base: base.unwrap_or(LIVE_BASE).trim_end_matches('/').to_owned(),
            security_key,
            log,
        }
    }

    async fn post(
        &self,
        path: &str,
        operation: &str,
        payment_key: Option<&str>,
        fields: impl Serialize,
    ) -> Reply<String> {
        let body = serde_urlencoded::to_string(Authenticated {
            security_key: self.security_key.expose(),
            fields,
        })
        .unwrap_or_default();
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body.clone());
        let call = Call {
            log: self.log.as_ref(),
            gateway: Gateway::Nmi,
            operation,
            payment_key,
            preamble: None,
        };
        call.run(request, &body, read, |body| Logged {
            format: if path.ends_with(QUERY) {
                Format::Text
            } else {
                Format::Form
            },
            body: body.clone(),
            summary: outcome::summarise(path, body),
        })
        .await
    }

    async fn query(
        &self,
        operation: &str,
        payment_key: Option<&str>,
        query: Query<'_>,
    ) -> Result<Vec<QueryRecord>, GatewayError> {
        outcome::query_records(self.post(QUERY, operation, payment_key, query).await)
    }
}

/// NMI's answers are read as they came, whatever the HTTP status.
fn read(sent: Transport) -> Reply<String> {
    match sent {
        Transport::NotSent(m) => Reply::NotSent(m),
        Transport::NoAnswer { message, .. } => Reply::NoAnswer(message),
        Transport::Answer { status, body } => Reply::Answer { status, body },
    }
}

#[async_trait]
impl PaymentGateway for NmiClient {
    fn gateway(&self) -> Gateway {
        Gateway::Nmi
    }

    async fn save_card(
        &self,
        holder: &CardHolder,
        hosted_token: &str,
    ) -> Result<SavedCard, GatewayError> {
        let (first, last) = holder
            .name
            .split_once(' ')
            .unwrap_or((holder.name.as_str(), ""));
        let add = AddCustomer {
            customer_vault: "add_customer",
            payment_token: hosted_token,
            first_name: first,
            last_name: last,
            email: &holder.email,
            country: holder.country.as_deref(),
        };
        let reply = self.post(TRANSACT, "vault.add_customer", None, add).await;
        let id = outcome::vault_id(reply)?;
        self.card_details(&id).await
    }

    async fn card_details(&self, card_token: &str) -> Result<SavedCard, GatewayError> {
        let records = self
            .query("vault.report", None, Query::vault_record(card_token))
            .await?;
        outcome::card(card_token, &records)
    }

    async fn charge(&self, req: &ChargeRequest) -> ChargeOutcome {
        let amount = req.amount.plain();
        let sale = Sale {
            kind: "sale",
            customer_vault_id: &req.card_token,
            amount: &amount,
            currency: req.amount.currency.code(),
            orderid: &req.payment_key,
            dup_seconds: (!req.check_duplicates).then_some("0"),
        };
        outcome::charge(
            self.post(TRANSACT, "sale", Some(&req.payment_key), sale)
                .await,
        )
    }

    async fn verify_card(
        &self,
        card_token: &str,
        _customer: Option<&str>,
        key: &str,
    ) -> crate::VerifyOutcome {
        let check = Validate {
            kind: "validate",
            customer_vault_id: card_token,
            amount: "0.00",
            orderid: key,
        };
        crate::VerifyOutcome::from_charge(outcome::charge(
            self.post(TRANSACT, "validate", Some(key), check).await,
        ))
    }

    async fn transactions(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
        pages: &crate::TransactionPages,
    ) -> Result<(), GatewayError> {
        const PER_PAGE: u32 = 1000;
        // At most ten million transactions: a server that ignores page_number cannot keep us here.
        const MOST_PAGES: u32 = 10_000;
        let at = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%d%H%M%S").to_string();
        // NMI selects by the date a transaction was last *modified* (a settle or void moves it), so a
        // sale of the period that settled after it is listed under a later date: ask from the period's
        // start until now, and keep what was *made* in the period (its first action's date).
        let until = chrono::Utc::now().max(to) + chrono::Duration::minutes(5);
        let mut first_of_last_page: Option<String> = None;
        for page in 0..MOST_PAGES {
            let records = self
                .query(
                    "query.period",
                    None,
                    Query::period(at(from), at(until), page, PER_PAGE),
                )
                .await?;
            let full = records.len() as u32 >= PER_PAGE;
            let listed = outcome::period_transactions(&records);
            // A server that answers every page_number with the first page would list it forever.
            let first = listed.first().map(|t| t.reference.clone());
            if page > 0 && first.is_some() && first == first_of_last_page {
                break;
            }
            first_of_last_page = first;
            let kept: Vec<GatewayTransaction> = listed
                .into_iter()
                .filter(|t| t.created_at >= from && t.created_at < to)
                .collect();
            if !kept.is_empty() && pages.send(kept).await.is_err() {
                break;
            }
            if !full {
                break;
            }
        }
        Ok(())
    }

    async fn lookup(&self, request: &ChargeRequest) -> Result<LookupOutcome, GatewayError> {
        let payment_key = request.payment_key.as_str();
        let records = self
            .query("query.order", Some(payment_key), Query::order(payment_key))
            .await?;
        Ok(outcome::charge_lookup(&records))
    }

    async fn refund(
        &self,
        charge_reference: &str,
        amount: Option<Money>,
        refund_key: &str,
    ) -> ChargeOutcome {
        let amount_text = amount.map(|a| a.plain());
        let refund = wire::Refund {
            kind: "refund",
            transactionid: charge_reference,
            orderid: refund_key,
            amount: amount_text.as_deref(),
        };
        outcome::refund(
            self.post(TRANSACT, "refund", Some(refund_key), refund)
                .await,
        )
    }

    async fn lookup_refund(
        &self,
        _charge_reference: &str,
        refund_key: &str,
    ) -> Result<LookupOutcome, GatewayError> {
        let records = self
            .query("query.refund", Some(refund_key), Query::order(refund_key))
            .await?;
        Ok(outcome::refund_lookup(&records))
    }

    async fn delete_card(&self, card_token: &str) -> Result<(), GatewayError> {
        let delete = DeleteCustomer {
            customer_vault: "delete_customer",
            customer_vault_id: card_token,
        };
        outcome::deleted(
            self.post(TRANSACT, "vault.delete_customer", None, delete)
                .await,
        )
    }

    async fn check(&self) -> Result<(), GatewayError> {
        // Looking up an order that cannot exist proves the key without touching any money.
        self.query("check", None, Query::order("clinicpay-credentials-check"))
            .await
            .map(|_| ())
    }
}

//! NMI's Payment API and Query API, as NMI documents them (../shared/reference/nmi.md).
//! Long because it is one simulated API, field by field: split, the two endpoints' shared vault and
//! ledger would have to be passed between files.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Datelike, Utc};

use serde::{Deserialize, Serialize};

use crate::cards::{
    behaviour_of, brand_of, is_published_test_card, masked, CardBehaviour, CardKey, NOT_A_TEST_CARD,
};
use crate::{with_faults, Shared};

/// A card as the simulator keeps it, as NMI would show it: brand, mask (first digit and last four),
/// expiry and what charging it does; never the whole number.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "StoredCard")]
pub(crate) struct Card {
    masked: String,
    brand: String,
    /// MMYY.
    exp: String,
    /// What a charge gets: NMI's response code and text, and whether the money was taken.
    response: (u16, String, bool),
    /// Keyed with this simulator's `CardKey`: the same card twice is recognised (the duplicate check)
    /// without keeping its number.
    digest: u64,
}

impl Card {
    fn of(number: &str, exp: &str, key: &CardKey) -> Card {
        let response = match behaviour_of(number) {
            CardBehaviour::Approve => (100, "SUCCESS".to_owned(), true),
            CardBehaviour::Decline(c, t) => (c, t.to_owned(), false),
            CardBehaviour::Unclear(c, t, charged) => (c, t.to_owned(), charged),
        };
        Card {
            masked: masked(number),
            brand: brand_of(number).into(),
            exp: exp.into(),
            response,
            digest: key.digest(number),
        }
    }
}

/// A card as a state file holds it: earlier simulators kept the number, which is read once and dropped.
#[derive(Deserialize)]
struct StoredCard {
    #[serde(default)]
    number: Option<String>,
    exp: String,
    #[serde(default)]
    masked: String,
    #[serde(default)]
    brand: String,
    #[serde(default)]
    response: Option<(u16, String, bool)>,
    #[serde(default)]
    digest: u64,
}

impl From<StoredCard> for Card {
    fn from(c: StoredCard) -> Card {
        match (c.number, c.response) {
            (Some(number), _) => Card::of(&number, &c.exp, &CardKey::default()),
            (None, response) => Card {
                masked: c.masked,
                brand: c.brand,
                exp: c.exp,
                response: response.unwrap_or((100, "SUCCESS".into(), true)),
                digest: c.digest,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VaultRecord {
    card: Card,
    first_name: String,
    last_name: String,
    email: String,
    /// The billing country sent with `add_customer` (`country`, ISO 3166 alpha-2), if any.
    country: String,
}

/// One entry of the simulator's ledger: what NMI would have on record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub transaction_id: String,
    pub order_id: String,
    /// sale, auth, validate, capture, void, refund.
    pub kind: String,
    pub amount_minor: i64,
    pub success: bool,
    pub response_code: u16,
    pub response_text: String,
    /// complete, pendingsettlement, pending, canceled, failed.
    pub condition: String,
    pub vault_id: Option<String>,
    /// The sale a refund, capture or void refers to.
    pub parent: Option<String>,
    masked_card: String,
    exp: String,
    brand: String,
    at: String,
    /// When NMI took it (seconds since 1970), for the duplicate window.
    #[serde(default)]
    pub at_epoch: i64,
    /// The card number's digest: NMI's duplicate check matches the card, whichever vault record or
    /// token it came through.
    #[serde(default)]
    card_digest: u64,
    /// The transaction's history as the Query API lists it: the sale (or refund), then `settle` when
    /// the batch closes, `void`… (empty in state files from before: read as the one first action).
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// One `<action>` of a transaction's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// sale, auth, capture, refund, void, settle.
    pub kind: String,
    pub amount_minor: i64,
    pub success: bool,
    pub response_code: u16,
    pub response_text: String,
    pub at: String,
    /// The batch a `settle` closed (0 before settlement, as NMI shows it).
    pub batch_id: u64,
}

impl Transaction {
    /// The first action, from the transaction itself (its own kind, answer and time).
    fn first_action(&self) -> Action {
        Action {
            kind: self.kind.clone(),
            amount_minor: self.amount_minor,
            success: self.success,
            response_code: self.response_code,
            response_text: self.response_text.clone(),
            at: self.at.clone(),
            batch_id: 0,
        }
    }

    fn history(&self) -> Vec<Action> {
        if self.actions.is_empty() {
            vec![self.first_action()]
        } else {
            self.actions.clone()
        }
    }
}

fn now_text() -> String {
    Utc::now().format("%Y%m%d%H%M%S").to_string()
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct NmiState {
    /// Comes from the command line each start, never from the state file.
    #[serde(skip)]
    pub(crate) security_key: Option<String>,
    /// Training mode: the demo clinic's cards (vault ids `demo…`) exist here as approved Visas.
    #[serde(skip)]
    pub(crate) adopt_demo_cards: bool,
    /// The merchant's duplicate window in seconds (NMI's duplicate check): a sale of the same amount
    /// on the same card within it is refused, unless the request's `dup_seconds` says otherwise.
    #[serde(skip)]
    pub(crate) duplicate_window: Option<u32>,
    tokens: HashMap<String, Card>,
    pub(crate) vault: HashMap<String, VaultRecord>,
    pub ledger: Vec<Transaction>,
    next_id: u64,
    /// The last batch closed (NMI numbers them).
    #[serde(default)]
    last_batch: u64,
    /// What card digests are keyed with (see `CardKey`).
    #[serde(default)]
    card_key: CardKey,
    /// Bumped by anything that may change the ledger, so a listing cursor knows it is stale.
    #[serde(skip)]
    ledger_changes: u64,
    /// Where the last Query API page ended, so the next page of the same listing starts there
    /// instead of walking the ledger from the start (a million-transaction listing is a thousand
    /// pages; walking from the start each time made it quadratic).
    #[serde(skip)]
    listing_cursor: Option<ListingCursor>,
}

/// The end of one page of a listing: its filter (every field but `page_number`), the ledger as it
/// was, the page that comes next, and how far into the ledger (in the listing's order) it reached.
#[derive(Debug)]
struct ListingCursor {
    filter: Vec<(String, String)>,
    ledger_changes: u64,
    next_page: usize,
    ledger_position: usize,
}

type Fields = HashMap<String, String>;

fn reply(pairs: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn error(text: &str) -> String {
    reply(&[
        ("response", "3".into()),
        ("responsetext", text.into()),
        ("authcode", String::new()),
        ("transactionid", String::new()),
        ("response_code", "300".into()),
    ])
}

/// "12.34" in major units to minor units; NMI takes amounts with at most two decimals.
fn parse_amount(s: &str) -> Option<i64> {
    let (w, f) = s.split_once('.').unwrap_or((s, ""));
    if w.is_empty() && f.is_empty()
        || f.len() > 2
        || !w.chars().chain(f.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if w.is_empty() { 0 } else { w.parse().ok()? };
    let frac: i64 = format!("{f:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

fn amount_text(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn card_expired(exp: &str) -> bool {
    let (Ok(m), Ok(y)) = (exp[..2].parse::<u32>(), exp[2..].parse::<i32>()) else {
        return true;
    };
    let now = Utc::now();
    let (ny, nm) = (now.year() % 100, now.month());
    y < ny || (y == ny && m < nm)
}

impl NmiState {
    pub fn new(security_key: Option<String>) -> NmiState {
        NmiState {
            security_key,
            next_id: 10_000_000_000,
            ..NmiState::default()
        }
    }

    fn next(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    pub(crate) fn tokenize(&mut self, number: &str, exp: &str) -> String {
        let token = format!(
            "{:08x}-{:04x}-{:04x}-{:012x}",
            rand::random::<u32>(),
            rand::random::<u16>(),
            rand::random::<u16>(),
            rand::random::<u64>() & 0xffff_ffff_ffff
        );
        let card = Card::of(number, exp, &self.card_key);
        self.tokens.insert(token.clone(), card);
        token
    }

    /// A vault record made outside the Payment API (an older system's import).
    pub(crate) fn vault_card(&mut self, number: &str, exp: &str) -> String {
        let id = self.next();
        self.vault.insert(
            id.clone(),
            VaultRecord {
                card: Card::of(number, exp, &self.card_key),
                first_name: String::new(),
                last_name: String::new(),
                email: String::new(),
                country: String::new(),
            },
        );
        id
    }

    fn authenticated(&self, f: &Fields) -> bool {
        match (f.get("security_key"), &self.security_key) {
            (Some(k), Some(want)) => k == want,
            (Some(k), None) => !k.is_empty(),
            (None, _) => false,
        }
    }

    /// The card a request pays with: a single-use token, a vault record, or raw fields.
    fn card_of(&mut self, f: &Fields) -> Result<(Card, Option<String>), String> {
        if let Some(t) = f.get("payment_token") {
            return self
                .tokens
                .remove(t)
                .map(|c| (c, None))
                .ok_or_else(|| error("Invalid payment_token"));
        }
        if let Some(v) = f.get("customer_vault_id") {
            if self.adopt_demo_cards && v.starts_with("demo") && !self.vault.contains_key(v) {
                self.vault.insert(
                    v.clone(),
                    VaultRecord {
                        card: Card::of("4111111111111111", "1230", &self.card_key),
                        first_name: "Demo".into(),
                        last_name: "Patient".into(),
                        email: String::new(),
                        country: "US".into(),
                    },
                );
            }
            return self
                .vault
                .get(v)
                .map(|r| (r.card.clone(), Some(v.clone())))
                .ok_or_else(|| error(&format!("Invalid Customer Vault Id REFID:{v}")));
        }
        match (f.get("ccnumber"), f.get("ccexp")) {
            (Some(n), Some(_)) if !is_published_test_card(n) => Err(error(NOT_A_TEST_CARD)),
            (Some(n), Some(e)) => Ok((Card::of(n, e, &self.card_key), None)),
            _ => Err(error("No payment information was provided")),
        }
    }

    pub(crate) fn transact(&mut self, f: &Fields) -> String {
        self.ledger_changes += 1;
        if !self.authenticated(f) {
            return error("Authentication Failed");
        }
        if let Some(op) = f.get("customer_vault") {
            return self.vault_op(op, f);
        }
        match f.get("type").map(String::as_str) {
            Some(kind @ ("sale" | "auth" | "validate")) => self.charge(kind, f),
            Some("refund") => self.refund(f),
            Some("void") => self.void(f),
            Some(other) => error(&format!("Invalid Transaction Type REFID:{other}")),
            None => error("Transaction type is required"),
        }
    }

    fn vault_op(&mut self, op: &str, f: &Fields) -> String {
        let ok = |text: &str, id: &str| {
            reply(&[
                ("response", "1".into()),
                ("responsetext", text.into()),
                ("authcode", String::new()),
                ("transactionid", String::new()),
                ("response_code", "100".into()),
                ("customer_vault_id", id.into()),
            ])
        };
        match op {
            "add_customer" | "update_customer" => {
                let (card, _) = match self.card_of(&Fields::from_iter(
                    f.iter()
                        .filter(|(k, _)| *k != "customer_vault_id")
                        .map(|(k, v)| (k.clone(), v.clone())),
                )) {
                    Ok(c) => c,
                    Err(e) => return e,
                };
                let id = match (op, f.get("customer_vault_id")) {
                    ("update_customer", Some(id)) if self.vault.contains_key(id) => id.clone(),
                    ("update_customer", _) => return error("Invalid Customer Vault Id"),
                    (_, Some(id)) if self.vault.contains_key(id) => {
                        return error(&format!("Duplicate Customer Vault Id REFID:{id}"))
                    }
                    (_, Some(id)) => id.clone(),
                    (_, None) => self.next(),
                };
                let get = |k: &str| f.get(k).cloned().unwrap_or_default();
                self.vault.insert(
                    id.clone(),
                    VaultRecord {
                        card,
                        first_name: get("first_name"),
                        last_name: get("last_name"),
                        email: get("email"),
                        country: get("country"),
                    },
                );
                ok(
                    if op == "add_customer" {
                        "Customer Added"
                    } else {
                        "Customer Update Successful"
                    },
                    &id,
                )
            }
            "delete_customer" => match f.get("customer_vault_id") {
                Some(id) if self.vault.remove(id).is_some() => ok("Customer Deleted", id),
                _ => error("Invalid Customer Vault Id"),
            },
            other => error(&format!("Invalid Customer Vault Action REFID:{other}")),
        }
    }

    /// An approved sale of `amount` on the same card within the duplicate window (the request's
    /// `dup_seconds`, else the merchant's; 0 or none: no check), as NMI's duplicate check finds it.
    fn duplicate_of(&self, f: &Fields, card: &Card, amount: i64) -> Option<String> {
        let window = match f.get("dup_seconds") {
            Some(s) => s.parse::<u32>().ok()?,
            None => self.duplicate_window?,
        };
        if window == 0 {
            return None;
        }
        let since = Utc::now().timestamp() - i64::from(window);
        let card = card.digest;
        self.ledger
            .iter()
            .rev()
            .find(|t| {
                t.kind == "sale"
                    && t.success
                    && t.amount_minor == amount
                    && t.at_epoch >= since
                    && t.card_digest == card
            })
            .map(|t| t.transaction_id.clone())
    }

    fn record(&mut self, mut t: Transaction) -> Transaction {
        t.actions = vec![t.first_action()];
        self.ledger.push(t.clone());
        t
    }

    /// Closes the batch as NMI does (nightly, or when the merchant closes it): every transaction
    /// pending settlement becomes `complete` and gains a `settle` action. Answers how many settled.
    pub fn settle_batch(&mut self) -> usize {
        self.ledger_changes += 1;
        self.last_batch += 1;
        let batch = 4_820_000 + self.last_batch;
        let at = now_text();
        let mut settled = 0;
        for t in self
            .ledger
            .iter_mut()
            .filter(|t| t.condition == "pendingsettlement")
        {
            let mut history = t.history();
            history.push(Action {
                kind: "settle".into(),
                amount_minor: t.amount_minor,
                success: true,
                response_code: 100,
                response_text: String::new(),
                at: at.clone(),
                batch_id: batch,
            });
            t.actions = history;
            t.condition = "complete".into();
            settled += 1;
        }
        settled
    }

    fn charge(&mut self, kind: &str, f: &Fields) -> String {
        let (card, vault_id) = match self.card_of(f) {
            Ok(c) => c,
            Err(e) => return e,
        };
        let amount = match f.get("amount").map(|a| parse_amount(a)) {
            Some(Some(a)) => a,
            None if kind == "validate" => 0,
            _ => return error("Invalid amount REFID:amount"),
        };
        if kind == "sale" {
            if let Some(earlier) = self.duplicate_of(f, &card, amount) {
                return reply(&[
                    ("response", "3".into()),
                    (
                        "responsetext",
                        format!("Duplicate transaction REFID:{earlier}"),
                    ),
                    ("authcode", String::new()),
                    ("transactionid", String::new()),
                    ("avsresponse", String::new()),
                    ("cvvresponse", String::new()),
                    ("orderid", f.get("orderid").cloned().unwrap_or_default()),
                    ("type", kind.into()),
                    ("response_code", "300".into()),
                ]);
            }
        }
        // `charged`: whether the processor took the money, whatever the answer says.
        let (code, text, charged): (u16, &str, bool) = if kind != "validate" && amount < 100 {
            // NMI test mode declines amounts below 1.00.
            (200, "DECLINE", false)
        } else if card.exp.len() != 4 || card_expired(&card.exp) {
            (223, "Expired card", false)
        } else {
            (card.response.0, card.response.1.as_str(), card.response.2)
        };
        let success = charged;
        let id = self.next();
        let t = self.record(Transaction {
            transaction_id: id.clone(),
            order_id: f.get("orderid").cloned().unwrap_or_default(),
            kind: kind.into(),
            amount_minor: amount,
            success,
            // The Query API shows what the processor did, even where the answer said otherwise.
            response_code: if success { 100 } else { code },
            response_text: if success { "SUCCESS" } else { text }.into(),
            condition: match (success, kind) {
                (false, _) => "failed",
                (true, "auth") => "pending",
                (true, "validate") => "complete",
                (true, _) => "pendingsettlement",
            }
            .into(),
            vault_id,
            parent: None,
            masked_card: card.masked.clone(),
            exp: card.exp.clone(),
            brand: card.brand.clone(),
            at: now_text(),
            at_epoch: Utc::now().timestamp(),
            card_digest: card.digest,
            actions: Vec::new(),
        });
        let approved = code == 100;
        reply(&[
            ("response", if approved { "1" } else { "2" }.into()),
            ("responsetext", text.into()),
            (
                "authcode",
                if approved {
                    format!("{:06}", rand::random::<u32>() % 1_000_000)
                } else {
                    String::new()
                },
            ),
            ("transactionid", t.transaction_id.clone()),
            ("avsresponse", "N".into()),
            ("cvvresponse", if approved { "M" } else { "" }.into()),
            ("orderid", t.order_id.clone()),
            ("type", kind.into()),
            ("response_code", code.to_string()),
        ])
    }

    fn refund(&mut self, f: &Fields) -> String {
        let Some(parent_id) = f.get("transactionid") else {
            return error("Transaction ID is required");
        };
        let Some(parent) = self
            .ledger
            .iter()
            .find(|t| &t.transaction_id == parent_id && t.success && t.kind == "sale")
            .cloned()
        else {
            return error(&format!("Transaction not found REFID:{parent_id}"));
        };
        let refunded: i64 = self
            .ledger
            .iter()
            .filter(|t| t.kind == "refund" && t.success && t.parent.as_ref() == Some(parent_id))
            .map(|t| t.amount_minor)
            .sum();
        let amount = match f.get("amount") {
            Some(a) => match parse_amount(a) {
                Some(a) if a > 0 => a,
                _ => return error("Invalid amount REFID:amount"),
            },
            None => parent.amount_minor - refunded,
        };
        if amount > parent.amount_minor - refunded {
            return error("Refund amount may not exceed the transaction balance");
        }
        let id = self.next();
        let t = self.record(Transaction {
            transaction_id: id,
            order_id: f.get("orderid").cloned().unwrap_or_default(),
            kind: "refund".into(),
            amount_minor: amount,
            success: true,
            response_code: 100,
            response_text: "SUCCESS".into(),
            condition: "pendingsettlement".into(),
            parent: Some(parent_id.clone()),
            at: now_text(),
            at_epoch: Utc::now().timestamp(),
            ..parent
        });
        reply(&[
            ("response", "1".into()),
            ("responsetext", "SUCCESS".into()),
            ("authcode", String::new()),
            ("transactionid", t.transaction_id),
            ("orderid", t.order_id),
            ("type", "refund".into()),
            ("response_code", "100".into()),
        ])
    }

    fn void(&mut self, f: &Fields) -> String {
        let Some(id) = f.get("transactionid") else {
            return error("Transaction ID is required");
        };
        match self
            .ledger
            .iter_mut()
            .find(|t| &t.transaction_id == id && t.success)
        {
            Some(t) if t.condition == "pendingsettlement" || t.condition == "pending" => {
                t.condition = "canceled".into();
                let mut history = t.history();
                history.push(Action {
                    kind: "void".into(),
                    amount_minor: t.amount_minor,
                    success: true,
                    response_code: 100,
                    response_text: "Transaction Void Successful".into(),
                    at: now_text(),
                    batch_id: 0,
                });
                t.actions = history;
                reply(&[
                    ("response", "1".into()),
                    ("responsetext", "Transaction Void Successful".into()),
                    ("transactionid", id.clone()),
                    ("type", "void".into()),
                    ("response_code", "100".into()),
                ])
            }
            _ => error(&format!(
                "Only transactions pending settlement can be voided REFID:{id}"
            )),
        }
    }

    /// The card network renews saved cards ending in `last4` (NMI's Account Updater refreshing the
    /// Customer Vault): the new expiry, and the new number's mask when the issuer replaced the number.
    /// Answers how many vault records changed.
    pub(crate) fn renew_cards(
        &mut self,
        last4: &str,
        exp_mmyy: &str,
        new_number: Option<&str>,
    ) -> usize {
        let mut changed = 0;
        for record in self.vault.values_mut() {
            if !record.card.masked.ends_with(last4) {
                continue;
            }
            record.card.exp = exp_mmyy.to_owned();
            if let Some(n) = new_number {
                record.card.masked = masked(n);
                record.card.brand = brand_of(n).into();
            }
            changed += 1;
        }
        changed
    }

    pub(crate) fn query(&mut self, f: &Fields) -> String {
        if !self.authenticated(f) {
            return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<nm_response><error_response>Authentication Failed</error_response></nm_response>\n".into();
        }
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<nm_response>\n");
        if f.get("report_type").map(String::as_str) == Some("customer_vault") {
            let ids: Vec<&String> = match f.get("customer_vault_id") {
                Some(id) => self.vault.keys().filter(|k| *k == id).collect(),
                None => self.vault.keys().collect(),
            };
            if !ids.is_empty() {
                out.push_str("\t<customer_vault>\n");
                for id in ids {
                    let r = &self.vault[id];
                    out.push_str(&format!(
                        "\t\t<customer id=\"{id}\">\n\t\t\t<first_name>{}</first_name>\n\t\t\t<last_name>{}</last_name>\n\t\t\t<email>{}</email>\n\t\t\t<country>{}</country>\n\t\t\t<cc_number>{}</cc_number>\n\t\t\t<cc_exp>{}</cc_exp>\n\t\t\t<cc_type>{}</cc_type>\n\t\t\t<customer_vault_id>{id}</customer_vault_id>\n\t\t</customer>\n",
                        xml_escape(&r.first_name), xml_escape(&r.last_name), xml_escape(&r.email), xml_escape(&r.country),
                        r.card.masked, r.card.exp, r.card.brand
                    ));
                }
                out.push_str("\t</customer_vault>\n");
            }
        } else {
            // NMI's dates are YYYYMMDDhhmmss in UTC, both ends inclusive (compared as text), and select
            // by when a transaction was last modified: any action (a settle, a void) moves it.
            fn modified(t: &Transaction) -> &str {
                t.actions
                    .iter()
                    .map(|a| a.at.as_str())
                    .max()
                    .unwrap_or(t.at.as_str())
            }
            let wanted = |t: &&Transaction| {
                f.get("order_id").is_none_or(|o| &t.order_id == o)
                    && f.get("transaction_id")
                        .is_none_or(|i| &t.transaction_id == i)
                    && f.get("start_date")
                        .is_none_or(|d| modified(t) >= d.as_str())
                    && f.get("end_date").is_none_or(|d| modified(t) <= d.as_str())
            };
            // `result_limit` answers at most that many, `page_number` (from 0) says which; the ledger
            // is oldest first (`result_order=standard`), `reverse` turns it round. Read lazily: a
            // month's listing of a million transactions is a thousand pages.
            let limit = f.get("result_limit").and_then(|l| l.parse::<usize>().ok());
            let page = f
                .get("page_number")
                .and_then(|p| p.parse::<usize>().ok())
                .unwrap_or(0);
            let (skip, take) = match limit {
                Some(l) => (page.saturating_mul(l), l),
                None => (0, usize::MAX),
            };
            let reverse = f.get("result_order").map(String::as_str) == Some("reverse");
            let mut filter: Vec<(String, String)> = f
                .iter()
                .filter(|(k, _)| k.as_str() != "page_number")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            filter.sort();
            // The next page of the listing just answered starts where that one ended.
            let (mut position, mut to_skip) = match &self.listing_cursor {
                Some(c)
                    if limit.is_some()
                        && c.filter == filter
                        && c.ledger_changes == self.ledger_changes
                        && c.next_page == page =>
                {
                    (c.ledger_position, 0)
                }
                _ => (0, skip),
            };
            let ledger = &self.ledger;
            let mut matches: Vec<&Transaction> = Vec::new();
            while position < ledger.len() && matches.len() < take {
                let t = if reverse {
                    &ledger[ledger.len() - 1 - position]
                } else {
                    &ledger[position]
                };
                position += 1;
                if wanted(&t) {
                    if to_skip > 0 {
                        to_skip -= 1;
                    } else {
                        matches.push(t);
                    }
                }
            }
            for t in matches {
                out.push_str(&format!(
                    "\t<transaction>\n\t\t<transaction_id>{}</transaction_id>\n\t\t<transaction_type>cc</transaction_type>\n\t\t<condition>{}</condition>\n\t\t<order_id>{}</order_id>\n\t\t<cc_number>{}</cc_number>\n\t\t<cc_exp>{}</cc_exp>\n\t\t<cc_type>{}</cc_type>\n\t\t<customer_vault_id>{}</customer_vault_id>\n\t\t<currency>USD</currency>\n",
                    t.transaction_id, t.condition, xml_escape(&t.order_id), t.masked_card, t.exp, t.brand,
                    t.vault_id.clone().unwrap_or_default(),
                ));
                for a in t.history() {
                    // Refunds are listed as negative amounts, as NMI shows them.
                    let amount = if a.kind == "refund" || t.kind == "refund" {
                        format!("-{}", amount_text(a.amount_minor))
                    } else {
                        amount_text(a.amount_minor)
                    };
                    out.push_str(&format!(
                        "\t\t<action>\n\t\t\t<amount>{amount}</amount>\n\t\t\t<action_type>{}</action_type>\n\t\t\t<date>{}</date>\n\t\t\t<success>{}</success>\n\t\t\t<response_text>{}</response_text>\n\t\t\t<batch_id>{}</batch_id>\n\t\t\t<response_code>{}</response_code>\n\t\t</action>\n",
                        a.kind, a.at, u8::from(a.success), xml_escape(&a.response_text), a.batch_id, a.response_code
                    ));
                }
                out.push_str("\t</transaction>\n");
            }
            self.listing_cursor = limit.map(|_| ListingCursor {
                filter,
                ledger_changes: self.ledger_changes,
                next_page: page + 1,
                ledger_position: position,
            });
        }
        out.push_str("</nm_response>\n");
        out
    }
}

fn fields(body: &str) -> Fields {
    serde_urlencoded::from_str::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

pub(crate) async fn transact(State(shared): State<Arc<Mutex<Shared>>>, body: String) -> Response {
    let f = fields(&body);
    with_faults(&shared, "/api/transact.php", move |s| {
        (
            StatusCode::OK,
            "text/html; charset=UTF-8",
            s.nmi.transact(&f),
        )
    })
    .await
}

pub(crate) async fn query(State(shared): State<Arc<Mutex<Shared>>>, body: String) -> Response {
    let f = fields(&body);
    with_faults(&shared, "/api/query.php", move |s| {
        (StatusCode::OK, "text/xml; charset=UTF-8", s.nmi.query(&f))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn sale(nmi: &mut NmiState, order: &str) {
        let answer = nmi.transact(&ask(&[
            ("security_key", "k"),
            ("type", "sale"),
            ("ccnumber", "4111111111111111"),
            ("ccexp", "1230"),
            ("amount", "10.00"),
            ("orderid", order),
        ]));
        assert!(answer.contains("response=1"), "{answer}");
    }

    fn page(nmi: &mut NmiState, page: usize, order: &str) -> Vec<String> {
        let xml = nmi.query(&ask(&[
            ("security_key", "k"),
            ("result_limit", "3"),
            ("page_number", &page.to_string()),
            ("result_order", order),
        ]));
        xml.split("<order_id>")
            .skip(1)
            .map(|s| s[..s.find('<').unwrap_or(0)].to_owned())
            .collect()
    }

    fn orders(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("o{i}")).collect()
    }

    #[test]
    fn a_listings_pages_in_turn_out_of_turn_and_after_a_new_sale_are_the_same_as_asked_afresh() {
        let mut nmi = NmiState::new(None);
        for i in 0..10 {
            sale(&mut nmi, &format!("o{i}"));
        }
        // In turn: each page continues where the last ended.
        assert_eq!(page(&mut nmi, 0, "standard"), orders(0..3));
        assert_eq!(page(&mut nmi, 1, "standard"), orders(3..6));
        assert_eq!(page(&mut nmi, 2, "standard"), orders(6..9));
        assert_eq!(page(&mut nmi, 3, "standard"), orders(9..10));
        // Out of turn, and another listing's order in between.
        assert_eq!(page(&mut nmi, 1, "standard"), orders(3..6));
        assert_eq!(page(&mut nmi, 0, "reverse"), ["o9", "o8", "o7"]);
        assert_eq!(page(&mut nmi, 2, "standard"), orders(6..9));
        // A sale between two pages: the next page is read afresh, as NMI would answer it.
        assert_eq!(page(&mut nmi, 0, "reverse"), ["o9", "o8", "o7"]);
        sale(&mut nmi, "o10");
        assert_eq!(page(&mut nmi, 1, "reverse"), ["o7", "o6", "o5"]);
        assert_eq!(page(&mut nmi, 3, "standard"), orders(9..11));
    }
}

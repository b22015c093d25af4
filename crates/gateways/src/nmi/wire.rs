//! NMI's wire formats: the Payment API's form fields (`transact.php`) and its `key=value` reply, and
//! the Query API's fields (`query.php`) and its `<nm_response>` XML.

use quick_xml::events::Event;
use serde::Serialize;

pub(crate) const TRANSACT: &str = "/api/transact.php";
pub(crate) const QUERY: &str = "/api/query.php";

/// Every request carries the merchant's key first, then its own fields.
#[derive(Serialize)]
pub(crate) struct Authenticated<'a, T> {
    pub security_key: &'a str,
    #[serde(flatten)]
    pub fields: T,
}

/// `type=sale` on a vaulted card; our payment key travels as `orderid`.
#[derive(Serialize)]
pub(crate) struct Sale<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub customer_vault_id: &'a str,
    pub amount: &'a str,
    pub currency: &'a str,
    pub orderid: &'a str,
    /// `0` turns NMI's duplicate check off for this sale; absent, the merchant's window applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dup_seconds: Option<&'static str>,
}

/// `type=validate` of a saved card: NMI's account verification, for no money.
#[derive(Serialize)]
pub(crate) struct Validate<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub customer_vault_id: &'a str,
    pub amount: &'static str,
    pub orderid: &'a str,
}

/// `type=refund` against the original transaction, in full (no `amount`) or in part.
#[derive(Serialize)]
pub(crate) struct Refund<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub transactionid: &'a str,
    pub orderid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<&'a str>,
}

/// `customer_vault=add_customer` from a Collect.js `payment_token`.
#[derive(Serialize)]
pub(crate) struct AddCustomer<'a> {
    pub customer_vault: &'static str,
    pub payment_token: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    /// ISO 3166 alpha-2 ("Format: CC" in NMI's Payment API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<&'a str>,
}

/// `customer_vault=delete_customer`.
#[derive(Serialize)]
pub(crate) struct DeleteCustomer<'a> {
    pub customer_vault: &'static str,
    pub customer_vault_id: &'a str,
}

/// A Query API request: a vault record (`report_type=customer_vault`) or transactions by `order_id`.
#[derive(Serialize, Default)]
pub(crate) struct Query<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_vault_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<&'a str>,
    /// YYYYMMDDhhmmss, UTC (the Query API speaks UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// At most this many transactions per answer, `page_number` (from 0) saying which.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_number: Option<u32>,
    /// `standard`: oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_order: Option<&'static str>,
}

impl<'a> Query<'a> {
    pub fn vault_record(id: &'a str) -> Query<'a> {
        Query {
            report_type: Some("customer_vault"),
            customer_vault_id: Some(id),
            ..Query::default()
        }
    }
    pub fn order(order_id: &'a str) -> Query<'a> {
        Query {
            order_id: Some(order_id),
            ..Query::default()
        }
    }
    /// One page of the transactions made in `[from, to]`, oldest first.
    pub fn period(from: String, to: String, page: u32, per_page: u32) -> Query<'a> {
        Query {
            start_date: Some(from),
            end_date: Some(to),
            result_limit: Some(per_page),
            page_number: Some(page),
            result_order: Some("standard"),
            ..Query::default()
        }
    }
}

/// The Payment API's reply (`response=1&responsetext=…&transactionid=…&response_code=100…`): the
/// fields ClinicPay reads. A field sent twice counts as its last value; an unreadable body has none.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PaymentReply {
    /// 1 approved, 2 declined, 3 error.
    pub response: Option<String>,
    pub responsetext: Option<String>,
    pub response_code: Option<String>,
    pub transactionid: Option<String>,
    pub customer_vault_id: Option<String>,
}

impl PaymentReply {
    pub fn parse(body: &str) -> PaymentReply {
        let mut reply = PaymentReply::default();
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(body.trim()).unwrap_or_default();
        for (k, v) in pairs {
            let field = match k.as_str() {
                "response" => &mut reply.response,
                "responsetext" => &mut reply.responsetext,
                "response_code" => &mut reply.response_code,
                "transactionid" => &mut reply.transactionid,
                "customer_vault_id" => &mut reply.customer_vault_id,
                _ => continue,
            };
            *field = Some(v);
        }
        reply
    }

    pub fn response(&self) -> Option<&str> {
        self.response.as_deref()
    }
    pub fn text(&self) -> String {
        self.responsetext.clone().unwrap_or_default()
    }
    pub fn code(&self) -> String {
        self.response_code.clone().unwrap_or_default()
    }
    pub fn transaction_id(&self) -> String {
        self.transactionid.clone().unwrap_or_default()
    }
}

/// The Query API's `<nm_response>`: every `<transaction>` and vault `<customer>`, or its
/// `<error_response>`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct QueryReply {
    pub records: Vec<QueryRecord>,
    pub error: Option<String>,
}

/// A `<transaction>` or a vault `<customer>`: the fields ClinicPay reads, wherever they sit inside
/// it, and every `<action>` of a transaction in the order NMI lists them. A transaction's history grows
/// after the sale (`settle` when the batch closes, sometimes `void`, `level3`…), so no single action
/// says what happened: `outcome` reads them all.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct QueryRecord {
    pub transaction_id: Option<String>,
    /// Our payment or refund key, sent as `orderid`.
    pub order_id: Option<String>,
    /// ISO 4217, when NMI lists it.
    pub currency: Option<String>,
    /// `pending`, `pendingsettlement`, `complete`, `in_progress`, `failed`, `canceled`…
    pub condition: Option<String>,
    /// Masked: `4xxxxxxxxxxx1111`.
    pub cc_number: Option<String>,
    /// MMYY.
    pub cc_exp: Option<String>,
    pub cc_type: Option<String>,
    pub actions: Vec<Action>,
}

/// One `<action>` of a transaction's history.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Action {
    /// `sale`, `auth`, `capture`, `refund`, `void`, `settle`…
    pub action_type: Option<String>,
    /// `1` when the action went through.
    pub success: Option<String>,
    pub response_code: Option<String>,
    pub response_text: Option<String>,
    /// `12.34`; refunds are listed negative.
    pub amount: Option<String>,
    /// YYYYMMDDhhmmss, UTC.
    pub date: Option<String>,
}

impl Action {
    fn field(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "action_type" => &mut self.action_type,
            "success" => &mut self.success,
            "response_code" => &mut self.response_code,
            "response_text" => &mut self.response_text,
            "amount" => &mut self.amount,
            "date" => &mut self.date,
            _ => return None,
        })
    }

    pub fn is(&self, kinds: &[&str]) -> bool {
        self.action_type
            .as_deref()
            .is_some_and(|t| kinds.contains(&t))
    }

    /// The action went through: `success` 1 (or, where NMI leaves it out, response code 100).
    pub fn succeeded(&self) -> bool {
        match self.success.as_deref() {
            Some(s) => s == "1",
            None => self.response_code.as_deref() == Some("100"),
        }
    }
}

impl QueryRecord {
    fn field(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "transaction_id" => &mut self.transaction_id,
            "order_id" => &mut self.order_id,
            "currency" => &mut self.currency,
            "condition" => &mut self.condition,
            "cc_number" => &mut self.cc_number,
            "cc_exp" => &mut self.cc_exp,
            "cc_type" => &mut self.cc_type,
            _ => return None,
        })
    }

    /// The transaction's actions of these kinds.
    pub fn actions_of<'a>(&'a self, kinds: &'a [&str]) -> impl Iterator<Item = &'a Action> {
        self.actions.iter().filter(move |a| a.is(kinds))
    }
}

impl QueryReply {
    pub fn parse(xml: &str) -> Result<QueryReply, quick_xml::Error> {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut reply = QueryReply::default();
        let mut current: Option<QueryRecord> = None;
        let mut in_action = false;
        let mut path: Vec<String> = Vec::new();
        let mut saw_root = false;
        // An element's text arrives in pieces around entity references ("A &amp; B" is three
        // events): it is gathered and kept when the element ends.
        let mut text = String::new();
        loop {
            match reader.read_event()? {
                Event::Start(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    match name.as_str() {
                        "nm_response" => saw_root = true,
                        "transaction" | "customer" => current = Some(QueryRecord::default()),
                        "action" => {
                            in_action = true;
                            if let Some(rec) = current.as_mut() {
                                rec.actions.push(Action::default());
                            }
                        }
                        _ => {}
                    }
                    path.push(name);
                    text.clear();
                }
                Event::Text(t) => {
                    text.push_str(&t.xml_content().map(|c| c.into_owned()).unwrap_or_default())
                }
                Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
                Event::GeneralRef(r) => {
                    let name = r.decode().map(|n| n.into_owned()).unwrap_or_default();
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => text.push(c),
                        _ => text.push_str(
                            quick_xml::escape::resolve_predefined_entity(&name).unwrap_or(""),
                        ),
                    }
                }
                Event::End(e) => {
                    match e.name().as_ref() {
                        b"transaction" | b"customer" => reply.records.extend(current.take()),
                        b"action" => in_action = false,
                        _ => {
                            let field = path.last().map(String::as_str).unwrap_or_default();
                            let value = std::mem::take(&mut text).trim().to_owned();
                            if field == "error_response" {
                                reply.error = Some(value);
                            } else if let Some(rec) = current.as_mut() {
                                let slot = if in_action {
                                    rec.actions.last_mut().and_then(|a| a.field(field))
                                } else {
                                    rec.field(field)
                                };
                                if let Some(slot) = slot {
                                    *slot = Some(value);
                                }
                            }
                        }
                    }
                    path.pop();
                    text.clear();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !saw_root {
            return Err(quick_xml::Error::Io(std::sync::Arc::new(
                std::io::Error::other("no <nm_response>"),
            )));
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_key_first_and_fields_in_nmis_order() {
        let sale = Authenticated {
            security_key: "k",
            fields: Sale {
                kind: "sale",
                customer_vault_id: "12",
                amount: "49.00",
                currency: "USD",
                orderid: "pay 1",
                dup_seconds: None,
            },
        };
        assert_eq!(
            serde_urlencoded::to_string(&sale).unwrap(),
            "security_key=k&type=sale&customer_vault_id=12&amount=49.00&currency=USD&orderid=pay+1"
        );
        let full = Refund {
            kind: "refund",
            transactionid: "9",
            orderid: "r-1",
            amount: None,
        };
        assert_eq!(
            serde_urlencoded::to_string(&full).unwrap(),
            "type=refund&transactionid=9&orderid=r-1"
        );
        assert_eq!(
            serde_urlencoded::to_string(Query::vault_record("12")).unwrap(),
            "report_type=customer_vault&customer_vault_id=12"
        );
        assert_eq!(
            serde_urlencoded::to_string(Query::order("p-1")).unwrap(),
            "order_id=p-1"
        );
    }

    #[test]
    fn a_payment_reply_keeps_the_last_of_a_repeated_field_and_nothing_of_a_garbled_one() {
        let r = PaymentReply::parse("response=2&response=1&responsetext=OK&other=x\n");
        assert_eq!((r.response(), r.text().as_str()), (Some("1"), "OK"));
        assert_eq!(
            PaymentReply::parse("<html>502</html>"),
            PaymentReply::default()
        );
    }

    #[test]
    fn every_action_of_a_transaction_is_kept_in_nmis_order() {
        let xml = "<nm_response><transaction><transaction_id>1</transaction_id>\
            <condition>complete</condition>\
            <action><action_type>sale</action_type><success>1</success><response_code>100</response_code></action>\
            <action><action_type>settle</action_type><success>1</success><response_code>100</response_code></action>\
            </transaction></nm_response>";
        let q = QueryReply::parse(xml).unwrap();
        assert_eq!(q.records.len(), 1);
        let kinds: Vec<_> = q.records[0]
            .actions
            .iter()
            .map(|a| a.action_type.as_deref().unwrap())
            .collect();
        assert_eq!(kinds, ["sale", "settle"]);
        assert!(q.records[0].actions.iter().all(Action::succeeded));
        assert!(QueryReply::parse("<html/>").is_err());
    }

    #[test]
    fn a_field_with_entities_is_read_whole() {
        let xml = "<nm_response><transaction><transaction_id>7</transaction_id>\
            <action><action_type>sale</action_type><response_text>Do Not Honor &amp; Pick Up &#x41;</response_text></action>\
            </transaction><error_response>a &lt; b</error_response></nm_response>";
        let q = QueryReply::parse(xml).unwrap();
        assert_eq!(
            q.records[0].actions[0].response_text.as_deref(),
            Some("Do Not Honor & Pick Up A")
        );
        assert_eq!(q.error.as_deref(), Some("a < b"));
    }
}

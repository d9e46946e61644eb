//! Answer: the receipt or error a SED gets. Answers are rendered and signed with
//! the access point's key *outside* the transaction: the likely one while the
//! delivery is checked (`Answers::presign`), any other when the transaction finds
//! it needs one it does not hold (`Need`: the transaction rolls back, the answer is
//! signed, the transaction runs again). Inside the transaction an answer is only
//! stored: in the inbox (to answer a duplicate byte for byte) and in the outbox.

use std::collections::BTreeMap;

use super::super::{Switch, sha256_b64};
use super::check::{CheckedSed, Refusal};
use crate::ids::{CaseId, InstitutionId, MessageId};
use crate::sed::signal::{self, ErrorCode};
use crate::signing::dsig;
use crate::store::{AnswerKind, InboxEntry, OutboxMessage, StoreError, Tx, now_rfc3339};
use crate::transport::{AP_EXCHANGE, WireMessage};

/// A signed answer, before it is stored.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub kind: AnswerKind,
    pub message_id: String,
    pub routing_key: String,
    pub headers: BTreeMap<String, String>,
    pub timestamp: i64,
    pub body: Vec<u8>,
    pub error_code: Option<ErrorCode>,
}

/// An answer the transaction needs and nobody has signed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Need {
    Receipt,
    Error(Refusal),
}

/// Why a delivery's transaction stopped: the store, or an answer to sign first.
#[derive(Debug)]
pub(crate) enum TxError {
    Store(StoreError),
    Need(Need),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

impl From<Need> for TxError {
    fn from(n: Need) -> Self {
        TxError::Need(n)
    }
}

/// The answers signed for one message id, outside any transaction.
#[derive(Debug, Clone)]
pub(crate) struct Answers {
    message_id: String,
    from: InstitutionId,
    receipt: Option<Answer>,
    errors: Vec<(Refusal, Answer)>,
}

impl Answers {
    pub fn new(message_id: &str, from: &InstitutionId) -> Answers {
        Answers {
            message_id: message_id.to_owned(),
            from: from.clone(),
            receipt: None,
            errors: Vec::new(),
        }
    }

    /// Sign the answer checks 2–8 point to: the receipt of a SED that passed them
    /// (most are applied), the error of one that did not. A signing failure is
    /// logged; the transaction then asks again (`Need`) and fails the delivery.
    pub fn presign(&mut self, sw: &Switch, m: &WireMessage, checked: &Result<CheckedSed, Refusal>) {
        let need = match checked {
            Ok(_) => Need::Receipt,
            Err(r) => Need::Error(r.clone()),
        };
        if let Err(e) = self.sign(sw, m, checked.as_ref().ok(), &need) {
            tracing::error!(error = %e, "cannot sign an answer");
        }
    }

    /// Sign `need` (outside the transaction) and keep it.
    pub fn sign(
        &mut self,
        sw: &Switch,
        m: &WireMessage,
        checked: Option<&CheckedSed>,
        need: &Need,
    ) -> Result<(), String> {
        match need {
            Need::Receipt => {
                let c = checked.ok_or("a receipt for a SED that did not pass its checks")?;
                self.receipt = Some(receipt_answer(sw, &self.message_id, &self.from, m, c)?);
            }
            Need::Error(r) => {
                if self.error(r).is_err() {
                    let a = error_answer(sw, &self.message_id, &self.from, m, r)?;
                    self.errors.push((r.clone(), a));
                }
            }
        }
        Ok(())
    }

    pub fn receipt(&self) -> Result<&Answer, Need> {
        self.receipt.as_ref().ok_or(Need::Receipt)
    }

    pub fn error(&self, r: &Refusal) -> Result<&Answer, Need> {
        self.errors
            .iter()
            .find(|(have, _)| have == r)
            .map(|(_, a)| a)
            .ok_or_else(|| Need::Error(r.clone()))
    }
}

fn answer_headers(
    sw: &Switch,
    to: &InstitutionId,
    case_id: Option<&str>,
    ref_to: &str,
    code: Option<ErrorCode>,
) -> BTreeMap<String, String> {
    let mut h = BTreeMap::new();
    h.insert("eessi-from".into(), sw.country.to_string());
    h.insert("eessi-to".into(), to.to_string());
    if let Some(c) = case_id.filter(|c| CaseId::parse(c).is_ok()) {
        h.insert("eessi-case-id".into(), c.to_owned());
    }
    h.insert("eessi-ref-to-message-id".into(), ref_to.to_owned());
    if let Some(code) = code {
        h.insert("eessi-error-code".into(), code.to_string());
    }
    h
}

/// Render and sign an error (RSA: never inside a transaction).
pub(crate) fn error_answer(
    sw: &Switch,
    message_id: &str,
    from: &InstitutionId,
    m: &WireMessage,
    r: &Refusal,
) -> Result<Answer, String> {
    let unsigned = signal::render_error(message_id, r.code, &r.detail);
    let body = dsig::sign_rendered(unsigned.as_bytes(), &sw.ap_signer)
        .map_err(|e| format!("cannot sign an error: {e}"))?;
    Ok(Answer {
        kind: AnswerKind::Error,
        message_id: MessageId::random().to_string(),
        routing_key: from.country().to_string(),
        headers: answer_headers(
            sw,
            from,
            m.headers.get("eessi-case-id").map(String::as_str),
            message_id,
            Some(r.code),
        ),
        timestamp: chrono::Utc::now().timestamp(),
        body,
        error_code: Some(r.code),
    })
}

/// Render and sign a receipt (RSA: never inside a transaction).
fn receipt_answer(
    sw: &Switch,
    message_id: &str,
    from: &InstitutionId,
    m: &WireMessage,
    c: &CheckedSed,
) -> Result<Answer, String> {
    let h = &c.header;
    let mid = MessageId::parse(message_id).map_err(|e| e.to_string())?;
    let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let unsigned = signal::render_receipt(
        &mid,
        &h.document_id,
        h.document_version,
        &sha256_b64(&m.body),
        &received_at,
    );
    let body = dsig::sign_rendered(unsigned.as_bytes(), &sw.ap_signer)
        .map_err(|e| format!("cannot sign a receipt: {e}"))?;
    Ok(Answer {
        kind: AnswerKind::Receipt,
        message_id: MessageId::random().to_string(),
        routing_key: from.country().to_string(),
        headers: answer_headers(sw, from, Some(h.case_id.as_str()), message_id, None),
        timestamp: chrono::Utc::now().timestamp(),
        body,
        error_code: None,
    })
}

/// Put an answer in the outbox (the relay publishes it after the commit).
pub(crate) fn enqueue_answer(
    tx: &mut dyn Tx,
    a: &Answer,
    case_id: Option<&CaseId>,
) -> Result<(), StoreError> {
    let mut out = OutboxMessage::new(
        a.kind.into(),
        AP_EXCHANGE,
        &a.routing_key,
        a.message_id.clone(),
        a.headers.clone(),
        a.body.clone(),
    );
    out.timestamp = a.timestamp;
    out.case_id = case_id.cloned();
    tx.outbox_enqueue(&out)?;
    Ok(())
}

pub(crate) fn inbox_entry(
    message_id: &str,
    body_sha: &str,
    a: &Answer,
    case_id: Option<&CaseId>,
) -> InboxEntry {
    InboxEntry {
        message_id: message_id.to_owned(),
        body_sha256: body_sha.to_owned(),
        received_at: now_rfc3339(),
        case_id: case_id.cloned(),
        answer_kind: a.kind,
        answer_message_id: a.message_id.clone(),
        answer_routing_key: a.routing_key.clone(),
        answer_headers: a.headers.clone(),
        answer_timestamp: a.timestamp,
        answer_body: a.body.clone(),
        error_code: a.error_code.map(|c| c.to_string()),
    }
}

/// Record the first answer to `message_id` and send it. The inbox insert fails with
/// `Conflict` if another transaction answered it first: this one rolls back.
pub(crate) fn store_answer(
    tx: &mut dyn Tx,
    message_id: &str,
    body_sha: &str,
    a: &Answer,
    case_id: Option<&CaseId>,
) -> Result<(), StoreError> {
    tx.inbox_put(&inbox_entry(message_id, body_sha, a, case_id))?;
    enqueue_answer(tx, a, case_id)
}

//! The HTTP wire types: the only serde types of the API. Store records are mapped
//! here so the database layout can change without changing the API.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::{CaseDetail, CaseRecord, OutboxMessage, Participant};

/// `POST /api/v1/documents`: a SED from a national institution.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitDocument {
    /// The sending Belgian institution (the token must act for it).
    #[schema(example = "BE:ONSS", pattern = "^[A-Z]{2}:[A-Z0-9_-]{1,16}$")]
    pub from: String,
    #[schema(example = "NL:SVB", pattern = "^[A-Z]{2}:[A-Z0-9_-]{1,16}$")]
    pub to: String,
    #[schema(
        example = "LA_BUC_02",
        pattern = "^[A-Za-z0-9_]*_BUC_[A-Za-z0-9_]*$",
        max_length = 24
    )]
    pub buc: String,
    #[schema(example = "A003", pattern = "^[A-Z]{1,3}[0-9]{3,5}[A-Z_]{0,8}$")]
    pub sed: String,
    /// The data-model version (4.2 or 4.3). Absent: the case's version, or for a
    /// new case the one the body's namespace says. A version the receiver's access
    /// point does not accept (registry) is refused (400, a `sedVersion` issue)
    /// before anything is signed.
    #[serde(default)]
    #[schema(example = "4.2", pattern = "^[0-9]{1,2}[.][0-9]{1,2}$")]
    pub sed_version: Option<String>,
    /// Absent: start a new case. A Start with a case id this switch does not hold
    /// starts that case.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub case_id: Option<String>,
    /// Set to send a new version (Update) of this document.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub document_id: Option<String>,
    /// The document this one answers.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{32}$")]
    pub related_document_id: Option<String>,
    /// The SED element as XML text.
    pub body: String,
}

/// One line of `POST /api/v1/national/{adapter}/batch` (`application/x-ndjson`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    /// The item's idempotency key (as the `Idempotency-Key` of a single request);
    /// none: the item is submitted without one.
    #[serde(default)]
    pub key: Option<String>,
    /// The national message, XML as a JSON string.
    pub message: String,
}

/// What became of a batch item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BatchItemStatus {
    /// Submitted now.
    Accepted,
    /// Its key named an earlier submission of the same message: those ids again.
    Replayed,
    /// Not submitted: `problem` says why, as the single route would.
    Refused,
}

/// One line of a batch's answer, in the order of the items.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemResult {
    /// The item's place in the batch, from 0 (blank lines are not items).
    pub index: usize,
    /// The item's line in the request body, from 1.
    pub line: usize,
    pub key: Option<String>,
    pub status: BatchItemStatus,
    /// The case, document and message ids (accepted or replayed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Why it was refused: the problem the single route would answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<super::problem::Problem>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantDto {
    pub institution: String,
    pub role: String,
}

impl From<&Participant> for ParticipantDto {
    fn from(p: &Participant) -> Self {
        ParticipantDto {
            institution: p.institution.to_string(),
            role: p.role.to_string(),
        }
    }
}

/// `GET /api/v1/cases`: the case list's filters, every one optional and all of
/// those given must hold; also the flags of `eessi-switch case list`. Values are
/// text here and parsed by `api::cases::filter`, so that each bad one is its own
/// issue (400). An unknown parameter is refused too: a misspelt filter must not
/// quietly list everything.
#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    /// Cases this institution takes part in (a handler's token: only its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    /// `open` or `closed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A person the case's SEDs name: the beginning of the family name or the
    /// forename, or "family forename"; case and accents do not matter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The person's date of birth, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// A personal identification number (SSIN or a foreign PIN), whole;
    /// separators do not matter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// A BUC type, e.g. `LA_BUC_02`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buc: Option<String>,
    /// A sector: `LA`, `P`, `S`, `UB`, `FB`, `H`, `AW`, `R` or `M`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// The case's state, as its BUC definition names it (e.g. `awaiting_reply`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Cases with a participant of this country (ISO 3166 alpha-2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterpart_country: Option<String>,
    /// Cases this institution takes part in, e.g. `NL:SVB`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterpart_institution: Option<String>,
    /// `true`: cases awaiting a reply past its deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdue: Option<String>,
    /// `true`: cases with a message that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_failed: Option<String>,
    /// `true`: cases with a received message parked (waiting for its predecessor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_parked: Option<String>,
    /// Created on or after: `YYYY-MM-DD` (UTC) or an RFC 3339 time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_from: Option<String>,
    /// Created on or before this day (`YYYY-MM-DD`, the whole day), or before
    /// this RFC 3339 time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_to: Option<String>,
    /// Last changed on or after (as `createdFrom`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_from: Option<String>,
    /// Last changed on or before (as `createdTo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_to: Option<String>,
    /// `updated` (last changed first, the default), `created` (newest first) or
    /// `id` (ascending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// Where the previous page ended: its `next` link's cursor (opaque).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Cases per page: 1 to `[limits] case_page_max` (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaseSummary {
    pub case_id: String,
    pub buc: String,
    pub sed_version: String,
    pub state: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub participants: Vec<ParticipantDto>,
}

impl CaseSummary {
    pub fn new(c: &CaseRecord, participants: &[Participant]) -> Self {
        CaseSummary {
            case_id: c.case_id.to_string(),
            buc: c.buc.to_string(),
            sed_version: c.sed_version.to_string(),
            state: c.state.clone(),
            status: c.status.to_string(),
            created_at: c.created_at.clone(),
            updated_at: c.updated_at.clone(),
            participants: participants.iter().map(ParticipantDto::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionDto {
    pub version: u32,
    pub message_id: String,
    pub content_sha256: String,
    pub created_at: String,
    /// Link to the signed envelope as sent or received.
    pub envelope: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDto {
    pub document_id: String,
    pub sed: String,
    pub sender: String,
    pub receiver: String,
    pub direction: String,
    pub status: String,
    pub latest_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_document_id: Option<String>,
    pub created_at: String,
    pub versions: Vec<VersionDto>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryDto {
    pub at: String,
    pub event: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageDto {
    pub message_id: String,
    pub kind: String,
    pub routing_key: String,
    pub status: String,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sed: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One page of `GET /api/v1/messages`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<MessageDto>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<i64>,
}

impl From<&OutboxMessage> for MessageDto {
    fn from(m: &OutboxMessage) -> Self {
        MessageDto {
            message_id: m.message_id.clone(),
            kind: m.kind.to_string(),
            routing_key: m.routing_key.clone(),
            status: m.status.to_string(),
            attempts: m.attempts,
            last_error: m.last_error.clone(),
            case_id: m.case_id.as_ref().map(|c| c.to_string()),
            document_id: m.document_id.as_ref().map(|d| d.to_string()),
            sed: m.headers.get("eessi-sed").cloned(),
            created_at: m.created_at.clone(),
            updated_at: m.updated_at.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaseDto {
    #[serde(flatten)]
    pub summary: CaseSummary,
    pub documents: Vec<DocumentDto>,
    pub history: Vec<HistoryDto>,
    pub messages: Vec<MessageDto>,
    /// One per counterparty: where each conversation of the case stands.
    pub conversations: Vec<ConversationDto>,
    /// Pending reply deadlines and auto-close dates from the BUC definition.
    pub deadlines: Vec<crate::buc::deadline::Deadline>,
    /// What the case's durable timers will do or did, and when.
    pub timers: Vec<TimerDto>,
    /// A timer offered a reminder (X009) of one of our requests whose answer is
    /// still overdue: the handler may send it.
    pub reminder_offered: bool,
}

/// One durable timer: what a deadline of a case does by itself, and when.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimerDto {
    pub id: i64,
    pub case_id: String,
    /// `remind` (send an X009), `offer` (offer the handler a reminder), `close`
    /// (X001 to every participant) or `close_local` (close our side only).
    pub what: crate::store::TimerKind,
    /// The awaited document (for `remind` and `offer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    /// When it is due (RFC 3339, UTC).
    pub due: String,
    /// `pending`, `firing`, `fired`, `cancelled` or `failed`.
    pub status: crate::store::TimerStatus,
    /// What firing it did, or why it failed or was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// How many times an instance claimed it.
    pub attempts: u32,
    pub updated_at: String,
}

impl From<&crate::store::Timer> for TimerDto {
    fn from(t: &crate::store::Timer) -> Self {
        TimerDto {
            id: t.id,
            case_id: t.case_id.to_string(),
            what: t.what,
            document_id: (!t.subject.is_empty()).then(|| t.subject.clone()),
            due: chrono::DateTime::<chrono::Utc>::from_timestamp_millis(t.due_ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            status: t.status,
            outcome: t.outcome.clone(),
            attempts: t.attempts,
            updated_at: t.updated_at.clone(),
        }
    }
}

impl From<&CaseDetail> for CaseDto {
    fn from(d: &CaseDetail) -> Self {
        let case_id = d.case.case_id.to_string();
        CaseDto {
            summary: CaseSummary::new(&d.case, &d.participants),
            documents: d
                .documents
                .iter()
                .map(|(doc, versions)| DocumentDto {
                    document_id: doc.document_id.to_string(),
                    sed: doc.sed.to_string(),
                    sender: doc.sender.to_string(),
                    receiver: doc.receiver.to_string(),
                    direction: doc.direction.to_string(),
                    status: doc.status.to_string(),
                    latest_version: doc.latest_version,
                    related_document_id: doc.related.as_ref().map(|r| r.to_string()),
                    created_at: doc.created_at.clone(),
                    versions: versions
                        .iter()
                        .map(|v| VersionDto {
                            version: v.version,
                            message_id: v.message_id.clone(),
                            content_sha256: v.content_sha256.clone(),
                            created_at: v.created_at.clone(),
                            envelope: format!(
                                "/api/v1/cases/{case_id}/documents/{}/versions/{}",
                                doc.document_id, v.version
                            ),
                        })
                        .collect(),
                })
                .collect(),
            history: d
                .history
                .iter()
                .map(|h| HistoryDto {
                    at: h.at.clone(),
                    event: h.event.clone(),
                    detail: h.detail.clone(),
                    from_state: h.from_state.clone(),
                    to_state: h.to_state.clone(),
                    message_id: h.message_id.clone(),
                    document_id: h.document_id.clone(),
                })
                .collect(),
            messages: d.messages.iter().map(MessageDto::from).collect(),
            conversations: d
                .conversations
                .iter()
                .map(|c| ConversationDto {
                    counterparty: c.counterparty.to_string(),
                    state: c.state.clone(),
                })
                .collect(),
            deadlines: Vec::new(),
            timers: Vec::new(),
            reminder_offered: false,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDto {
    pub counterparty: String,
    pub state: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucSummary {
    pub buc: String,
    pub sector: String,
    pub title: String,
    pub bilateral: bool,
    pub states: usize,
    pub seds: Vec<String>,
}

/// What the case's Belgian participants may send now (`GET /api/v1/cases/{caseId}/actions`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaseActionsDto {
    pub case_id: String,
    pub participants: Vec<ParticipantActionsDto>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantActionsDto {
    pub institution: String,
    pub role: crate::ids::Role,
    pub actions: Vec<crate::buc::actions::Allowed>,
}

/// One dead-lettered delivery (`GET /api/v1/dead-letters`): its headers and size,
/// never its body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterDto {
    pub id: i64,
    pub message_id: Option<String>,
    pub queue: String,
    pub dead_at: String,
    pub reinjected_at: Option<String>,
    /// The message's type (`eessi-type`), when its properties say.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body_bytes: usize,
}

/// `POST /api/v1/triage/{id}/assign`: the entry, now delivered.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriageAssigned {
    pub id: i64,
    /// Always `delivered`.
    pub status: crate::store::TriageStatus,
    /// The message id of the delivery to the institution's national queue.
    pub delivery_message_id: String,
}

/// `GET /health`: `UP`, `DEGRADED` (broker not connected, or the triage queue
/// over its alarm) with the figures; `STARTING` or `DOWN` (503) with a reason.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthDto {
    pub status: HealthStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "BE")]
    pub access_point: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<crate::transport::BrokerState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox_pending: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox_failed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub triage_waiting: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificates_expiring_soon: Option<Vec<ExpiringCertificate>>,
}

impl HealthDto {
    pub fn down(status: HealthStatus, reason: impl Into<String>) -> HealthDto {
        HealthDto {
            status,
            reason: Some(reason.into()),
            access_point: None,
            transport: None,
            broker: None,
            outbox_pending: None,
            outbox_failed: None,
            triage_waiting: None,
            certificates_expiring_soon: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    Up,
    Degraded,
    Starting,
    Down,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpiringCertificate {
    pub owner: String,
    /// When its certificate expires.
    pub not_after: String,
}

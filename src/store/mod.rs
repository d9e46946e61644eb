//! The case store: cases, participants, documents with all their versions, each
//! case's history, the inbox of answered message ids and the outbox of messages to
//! publish. The engine talks to it only through `Store` and `Tx`, so the SQLite
//! default and a PostgreSQL backend are interchangeable.
//!
//! Invariant: one inbound SED, its case transition, its document version, its
//! history entries and the messages it makes us send (receipt or error, national
//! delivery) commit in one `Tx`; nothing is acked or published before that commit.

pub mod migrate;
pub mod outbox;
pub mod postgres;
pub mod retention;
pub mod sql;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{BucType, CaseId, DocumentId, InstitutionId, Role, SedType, SedVersion};
pub use outbox::{Change, Claim, LastError, OutboxStatus, allowed_from};
pub use retention::{Prune, Pruned};
pub use sql::in_transaction;

/// The invariant "no XML and no RSA inside a transaction", checked where XML is
/// parsed, canonicalised or validated and where signatures are made or verified:
/// a debug build (every test) panics if the calling thread holds an open write
/// transaction, because on SQLite that work would hold the one writer lock.
#[inline]
pub fn debug_assert_outside_transaction(what: &str) {
    debug_assert!(
        !in_transaction(),
        "{what} inside a store transaction: do it before `begin()`"
    );
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A concurrent writer got there first (unique key, serialization failure,
    /// deadlock): retrying the whole transaction is right.
    #[error("conflict with a concurrent transaction: {0}")]
    Conflict(String),
    /// The database cannot be reached: wait for it, do not give up on the work.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// True when waiting and trying again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Conflict(_) | StoreError::Unavailable(_))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A name that is not one of a stored enum's (`OutboxKind`, `CaseStatus`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}")]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
}

/// A closed set of names stored as text: `as_str` is the stored and serialized
/// name (exactly today's strings, so data and the HTTP API are unchanged),
/// `FromStr` its inverse. Hand-written rather than `strum`: one small macro for
/// six enums is less than a new dependency.
macro_rules! stored_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $text)] $variant),+
        }
        // Written out, not derived: `ToSchema`'s derive does not see a `rename`
        // whose value a macro substituted, and would name the variants instead.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
        impl std::str::FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> std::result::Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName { what: $what, name: s.to_owned() }),
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use stored_enum;

/// A stored name read back: one this build does not know is `Corrupt`, not a panic.
pub(crate) fn stored<T: std::str::FromStr<Err = UnknownName>>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|e: UnknownName| StoreError::Corrupt(e.to_string()))
}

stored_enum!(
    /// Kinds of outbox messages.
    OutboxKind, "outbox kind" {
        /// A SED to a foreign access point; tracked until a receipt or error.
        Sed = "sed",
        Receipt = "receipt",
        Error = "error",
        /// A received SED delivered to a Belgian institution's national queue.
        National = "national",
        /// A failure notice to a Belgian institution's national queue.
        Notice = "notice",
    }
);

stored_enum!(
    /// Whether we sent a document or received it.
    Direction, "direction" {
        Out = "out",
        In = "in",
    }
);

stored_enum!(
    /// A document's status.
    DocumentStatus, "document status" {
        Sent = "sent",
        Received = "received",
        Cancelled = "cancelled",
    }
);

stored_enum!(
    /// A case's status.
    CaseStatus, "case status" {
        Open = "open",
        Closed = "closed",
    }
);

stored_enum!(
    /// Where a received SED that no routing rule placed stands.
    TriageStatus, "triage status" {
        /// Accepted, waiting for an operator to name its institution.
        Waiting = "waiting",
        /// Assigned and enqueued to that institution's national queue.
        Delivered = "delivered",
    }
);

stored_enum!(
    /// What a durable timer does when it is due (`switch::timers`).
    TimerKind, "timer kind" {
        /// Send an X009 reminding the receiver of our overdue request.
        Remind = "remind",
        /// Mark the case as having a reminder to offer; nothing is sent.
        Offer = "offer",
        /// Close the case for every participant (X001 from the case owner).
        Close = "close",
        /// Close the case for our side only (no SED).
        CloseLocal = "close_local",
    }
);

stored_enum!(
    /// Where a durable timer stands: `pending` until due, `firing` while an
    /// instance acts on it (under a lease), then `fired` or `failed` (with the
    /// outcome), or `cancelled` when its deadline went away.
    TimerStatus, "timer status" {
        Pending = "pending",
        Firing = "firing",
        Fired = "fired",
        Cancelled = "cancelled",
        Failed = "failed",
    }
);

/// One durable timer of a case: what it does, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timer {
    pub id: i64,
    pub case_id: CaseId,
    pub what: TimerKind,
    /// The awaited document's id (`remind`, `offer`); empty for a closure.
    pub subject: String,
    /// When it is due (ms since the epoch).
    pub due_ms: i64,
    pub status: TimerStatus,
    /// What firing it did (the X009's message id, "offered", ...) or why it failed.
    pub outcome: Option<String>,
    /// While `firing`: another instance may claim it again after this.
    pub lease_until_ms: i64,
    /// How many times it was claimed.
    pub attempts: u32,
    pub created_at: String,
    pub updated_at: String,
}

/// What a draft is the draft of: one SED a Belgian participant may send in a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftKey {
    pub case_id: CaseId,
    pub sender: InstitutionId,
    pub sed: SedType,
    pub receiver: InstitutionId,
    /// The document it answers or chases, if any.
    pub related: Option<DocumentId>,
}

/// A SED being written on the case page (`api::pages::reply`), kept until sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Draft {
    pub key: DraftKey,
    /// This draft's submission key: the same draft sent twice is one SED.
    pub token: String,
    /// The form's values as JSON (`sed::form::Values`). Personal data.
    pub field_values: String,
    pub updated_at: String,
    pub updated_by: String,
}

impl std::fmt::Debug for Draft {
    /// Without its values: they name a person.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Draft")
            .field("key", &self.key)
            .field("bytes", &self.field_values.len())
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// A filter for listing timers (operators).
#[derive(Debug, Clone, Default)]
pub struct TimerFilter {
    pub status: Option<TimerStatus>,
    /// Only timers due before this (ms since the epoch).
    pub due_before_ms: Option<i64>,
    pub limit: u32,
}

/// A received SED kept for an operator because no routing rule placed it (or a
/// rule said so). Its body is the document version's envelope, stored once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriageEntry {
    pub id: i64,
    #[schema(value_type = String)]
    pub case_id: CaseId,
    #[schema(value_type = String)]
    pub document_id: DocumentId,
    pub document_version: u32,
    pub buc: String,
    pub sed: String,
    pub sender: String,
    /// The Belgian institution the envelope names.
    pub addressed: String,
    /// The foreign access point's message id of the SED.
    pub message_id: String,
    pub reason: String,
    pub status: TriageStatus,
    pub created_at: String,
    pub assigned_to: Option<String>,
    pub assigned_by: Option<String>,
    pub settled_at: Option<String>,
}

stored_enum!(
    /// What an inbound message was answered with.
    AnswerKind, "answer kind" {
        Receipt = "receipt",
        Error = "error",
    }
);

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CaseRecord {
    pub case_id: CaseId,
    pub buc: BucType,
    /// The data-model version the case started with; later SEDs must use it.
    pub sed_version: SedVersion,
    pub state: String,
    pub status: CaseStatus,
    pub created_at: String,
    pub updated_at: String,
    /// The state before the case was closed, so that a reopening (X004) can return to it.
    pub previous_state: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Participant {
    pub institution: InstitutionId,
    pub role: Role,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DocumentRecord {
    pub document_id: DocumentId,
    pub case_id: CaseId,
    pub sed: SedType,
    pub sender: InstitutionId,
    pub receiver: InstitutionId,
    pub direction: Direction,
    pub status: DocumentStatus,
    pub latest_version: u32,
    pub related: Option<DocumentId>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DocumentVersion {
    pub document_id: DocumentId,
    pub version: u32,
    pub message_id: String,
    /// SHA-256 (hex) of the SED element's exclusive C14N: "same content" for check 9.
    pub content_sha256: String,
    /// The signed envelope exactly as sent or received.
    #[serde(skip)]
    pub envelope: Vec<u8>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: String,
    /// e.g. `sed-received`, `sed-sent`, `delivered`, `rejected`, `failed`.
    pub event: String,
    pub detail: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub message_id: Option<String>,
    pub document_id: Option<String>,
}

/// What we answered to an inbound message id, kept to answer duplicates byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    pub message_id: String,
    pub body_sha256: String,
    pub received_at: String,
    pub case_id: Option<CaseId>,
    pub answer_kind: AnswerKind,
    pub answer_message_id: String,
    pub answer_routing_key: String,
    pub answer_headers: BTreeMap<String, String>,
    pub answer_timestamp: i64,
    pub answer_body: Vec<u8>,
    pub error_code: Option<String>,
}

impl From<AnswerKind> for OutboxKind {
    fn from(k: AnswerKind) -> OutboxKind {
        match k {
            AnswerKind::Receipt => OutboxKind::Receipt,
            AnswerKind::Error => OutboxKind::Error,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    pub message_id: String,
    pub kind: OutboxKind,
    pub exchange: String,
    pub routing_key: String,
    pub headers: BTreeMap<String, String>,
    /// AMQP `timestamp`: when the message was first created.
    pub timestamp: i64,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub first_attempt_ms: Option<i64>,
    pub last_error: Option<String>,
    pub case_id: Option<CaseId>,
    pub document_id: Option<DocumentId>,
    pub created_at: String,
    pub updated_at: String,
    /// Some: `body` is the envelope of version `body_version` of `document_id`,
    /// recorded in the same transaction, and the store keeps it there only (once,
    /// not twice: `outbox_bodies` gets no copy).
    pub body_version: Option<u32>,
}

impl OutboxMessage {
    /// A new message to publish as soon as possible.
    pub fn new(
        kind: OutboxKind,
        exchange: &str,
        routing_key: &str,
        message_id: String,
        headers: BTreeMap<String, String>,
        body: Vec<u8>,
    ) -> Self {
        let now = chrono::Utc::now();
        OutboxMessage {
            id: 0,
            message_id,
            kind,
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
            headers,
            timestamp: now.timestamp(),
            body,
            status: OutboxStatus::Queued,
            attempts: 0,
            next_attempt_ms: now.timestamp_millis(),
            first_attempt_ms: None,
            last_error: None,
            case_id: None,
            document_id: None,
            created_at: now_rfc3339(),
            updated_at: now_rfc3339(),
            body_version: None,
        }
    }
}

/// One counterparty's conversation in a case: multilateral cases have one per
/// counterparty, each in its own state of the BUC.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Conversation {
    pub counterparty: InstitutionId,
    pub state: String,
    /// The state before the case was closed, to return to on reopening.
    pub previous_state: Option<String>,
}

/// A `New`/`Update` whose case or related document is not known yet, kept until its
/// predecessor arrives or its parking time is over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParkedMessage {
    pub message_id: String,
    pub case_id: CaseId,
    /// The foreign access point (country) it came from, for the per-peer cap.
    pub sender_country: String,
    /// The predecessor it waits for besides its case: this document (and, when
    /// `waits_version` is set, that version of it). It is tried again only once the
    /// predecessor has committed.
    pub waits_document: Option<DocumentId>,
    pub waits_version: Option<u32>,
    pub parked_at_ms: i64,
    pub expires_at_ms: i64,
    /// The AMQP properties and headers as received (JSON), to check it again later.
    pub properties: String,
    #[serde(skip)]
    pub body: Vec<u8>,
}

/// What is parked, for the parking caps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParkedCounts {
    pub per_case: u64,
    pub per_access_point: u64,
    pub per_access_point_bytes: u64,
}

/// A message the broker dead-lettered, copied from the dead-letter queue so that
/// operators can list and re-inject it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub message_id: Option<String>,
    pub queue: String,
    /// The AMQP properties and headers (JSON), as dead-lettered.
    pub properties: String,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub dead_at: String,
    pub reinjected_at: Option<String>,
}

/// What an `Idempotency-Key` names: the request it came with (its digest) and the
/// submission that request made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Whose key: the caller's identity (a key is unique per client, not globally).
    pub scope: String,
    pub key: String,
    /// SHA-256 (hex) of the request: method, path and body.
    pub request_sha256: String,
    pub case_id: CaseId,
    pub document_id: DocumentId,
    pub document_version: u32,
    pub message_id: String,
    pub created_at: String,
}

/// One audited action: who read or did what, when, from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub at: String,
    pub subject: String,
    pub institution: Option<String>,
    /// e.g. `read-case`, `read-document`, `submit`, `local-close`, `reinject`.
    pub action: String,
    pub target: String,
    pub remote: Option<String>,
}

/// Everything a case handler sees about one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseDetail {
    pub case: CaseRecord,
    pub participants: Vec<Participant>,
    pub conversations: Vec<Conversation>,
    pub documents: Vec<(DocumentRecord, Vec<DocumentVersion>)>,
    pub history: Vec<HistoryEntry>,
    pub messages: Vec<OutboxMessage>,
    /// The case's durable timers, read in the same snapshot as the rest: a timer
    /// that fired is never shown without the SED it sent.
    pub timers: Vec<Timer>,
}

/// A filter for listing cases: every field given narrows the list (all must
/// hold). Each is answered through an index (V12; `store::tests` checks the plans
/// of both backends), so that a page costs about the same at a million cases.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Cases this institution takes part in (the caller's scope).
    pub institution: Option<InstitutionId>,
    pub status: Option<CaseStatus>,
    /// Cases at most (1 to 1001: a page of up to 1000 and the one more that says
    /// whether there is a next; 0 is 100).
    pub limit: u32,
    /// A person the case's SEDs name: a prefix of the family name or forename
    /// (or "family forename"), already `sed::person::normalise_name`d.
    pub person_name: Option<String>,
    /// The person's birth date, `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// A PIN (SSIN or foreign), already `sed::person::normalise_pin`ed.
    pub pin: Option<String>,
    pub buc: Option<BucType>,
    /// The BUC's sector: its name before the first `_` (LA, P, S, UB, FB, H, AW, R, M).
    pub sector: Option<String>,
    /// The case's own state (as the BUC definition names it).
    pub state: Option<String>,
    /// Cases with a participant of this country.
    pub counterpart_country: Option<crate::ids::Country>,
    /// Cases this institution takes part in (besides the scope).
    pub counterpart_institution: Option<InstitutionId>,
    /// Some(now, RFC 3339): cases awaiting a reply that was due by then.
    pub overdue_at: Option<String>,
    /// Cases with an outbox message in `failed`.
    pub has_failed: bool,
    /// Cases with a parked message.
    pub has_parked: bool,
    /// RFC 3339 bounds as the store writes times: `from` inclusive, `to` exclusive.
    pub created_from: Option<String>,
    pub created_to: Option<String>,
    pub updated_from: Option<String>,
    pub updated_to: Option<String>,
    pub sort: CaseSort,
    /// Start after this case (the previous page's last), in `sort` order.
    pub after: Option<CaseCursor>,
}

stored_enum!(
    /// The order of a case list.
    CaseSort, "case sort" {
        /// Last changed first (the default).
        Updated = "updated",
        /// Newest first.
        Created = "created",
        /// By case id, ascending (UUIDv7: roughly creation order, oldest first).
        Id = "id",
    }
);

// `stored_enum!` makes the enum with the derives every stored enum shares.
#[allow(clippy::derivable_impls)]
impl Default for CaseSort {
    fn default() -> Self {
        CaseSort::Updated
    }
}

/// Where a page of cases ends: the sort key of its last case (`updated_at`,
/// `created_at`, or the id itself) and that case's id, which breaks ties. A page
/// after it starts strictly after that key, so inserts and updates meanwhile
/// neither repeat nor skip a case that did not move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseCursor {
    pub sort: CaseSort,
    pub key: String,
    pub case_id: CaseId,
}

impl CaseCursor {
    /// The cursor after `c` in `sort` order.
    pub fn after(c: &CaseRecord, sort: CaseSort) -> CaseCursor {
        let key = match sort {
            CaseSort::Updated => c.updated_at.clone(),
            CaseSort::Created => c.created_at.clone(),
            CaseSort::Id => c.case_id.to_string(),
        };
        CaseCursor {
            sort,
            key,
            case_id: c.case_id.clone(),
        }
    }

    /// Opaque text for a client: URL-safe base64 of `sort`, key and id.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let raw = format!("{}\n{}\n{}", self.sort, self.key, self.case_id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// The inverse of `encode`; anything else is refused with a reason.
    pub fn decode(text: &str) -> std::result::Result<CaseCursor, String> {
        use base64::Engine;
        const BAD: &str = "not a cursor this server gave";
        if text.len() > 512 {
            return Err(BAD.into());
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| BAD.to_owned())?;
        let raw = String::from_utf8(raw).map_err(|_| BAD.to_owned())?;
        let mut parts = raw.split('\n');
        let (Some(sort), Some(key), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BAD.into());
        };
        let sort: CaseSort = sort.parse().map_err(|_| BAD.to_owned())?;
        let case_id = CaseId::parse(id).map_err(|_| BAD.to_owned())?;
        let key_ok = match sort {
            CaseSort::Id => key == case_id.as_str(),
            _ => chrono::DateTime::parse_from_rfc3339(key).is_ok(),
        };
        if !key_ok {
            return Err(BAD.into());
        }
        Ok(CaseCursor {
            sort,
            key: key.to_owned(),
            case_id,
        })
    }
}

/// One person a case's SEDs name, as the person index keeps it (normalised by
/// `sed::person`; `''` for what the SED does not give). Personal data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonKey {
    pub family: String,
    pub forename: String,
    /// `YYYY-MM-DD`, or `''`.
    pub birth_date: String,
    /// The PIN's country, or `''` with no PIN.
    pub pin_country: String,
    pub pin: String,
}

/// One transaction. Dropping it without `commit` rolls back.
///
/// Locks are explicit: only `case_lock` and `outbox_lock_by_message_id` hold what
/// they read against concurrent writers until the transaction ends (PostgreSQL:
/// `SELECT … FOR UPDATE`; SQLite: a plain read, since its write transaction,
/// `BEGIN IMMEDIATE`, already excludes every other writer). Every other read,
/// `case_get` and `outbox_by_message_id` included, takes no lock. A transaction that
/// reads a case or an outbound SED to decide how to change it uses the locking one.
pub trait Tx {
    fn inbox_get(&mut self, message_id: &str) -> Result<Option<InboxEntry>>;
    /// Record the answer to a message id received for the first time. An insert,
    /// never an upsert: if another transaction (another instance) answered the same
    /// message id first, this fails with `Conflict`, the caller's transaction rolls
    /// back and its retry finds and re-sends that stored answer.
    fn inbox_put(&mut self, entry: &InboxEntry) -> Result<()>;
    /// Replace the receipt a parked message got by the error it finally gets
    /// (`UNKNOWN_CASE`, or a refusal when it is applied): only when the stored answer
    /// is still a receipt (compare-and-set). Returns whether it changed.
    fn inbox_refuse_parked(&mut self, entry: &InboxEntry) -> Result<bool>;
    /// The case as this transaction sees it, without a lock.
    fn case_get(&mut self, case_id: &CaseId) -> Result<Option<CaseRecord>>;
    /// The case, held against concurrent writers until this transaction ends: a
    /// second transaction locking it waits, then reads the committed state, so two
    /// transitions of one case never both decide from the same state.
    fn case_lock(&mut self, case_id: &CaseId) -> Result<Option<CaseRecord>>;
    fn case_insert(&mut self, case: &CaseRecord) -> Result<()>;
    /// Move the case from `from_state` (compare-and-set): `Conflict` if it is no
    /// longer there, `Corrupt` if the case does not exist. `previous_state` is
    /// recorded when given (on closure).
    fn case_set_state(
        &mut self,
        case_id: &CaseId,
        from_state: &str,
        state: &str,
        status: CaseStatus,
        previous_state: Option<&str>,
    ) -> Result<()>;
    fn participants(&mut self, case_id: &CaseId) -> Result<Vec<Participant>>;
    fn participant_add(&mut self, case_id: &CaseId, p: &Participant) -> Result<()>;
    fn participant_remove(&mut self, case_id: &CaseId, institution: &InstitutionId) -> Result<()>;
    fn conversations(&mut self, case_id: &CaseId) -> Result<Vec<Conversation>>;
    /// Insert or replace one counterparty's conversation.
    fn conversation_put(&mut self, case_id: &CaseId, c: &Conversation) -> Result<()>;
    /// Move a document to `status` from one of `from` (compare-and-set): `Conflict`
    /// if it is in another status, `Corrupt` if it does not exist.
    fn document_set_status(
        &mut self,
        document_id: &DocumentId,
        from: &[DocumentStatus],
        status: DocumentStatus,
    ) -> Result<()>;
    fn documents(&mut self, case_id: &CaseId) -> Result<Vec<DocumentRecord>>;
    fn document_get(&mut self, document_id: &DocumentId) -> Result<Option<DocumentRecord>>;
    fn document_insert(&mut self, doc: &DocumentRecord) -> Result<()>;
    fn document_set_version(&mut self, document_id: &DocumentId, version: u32) -> Result<()>;
    fn version_get(
        &mut self,
        document_id: &DocumentId,
        version: u32,
    ) -> Result<Option<DocumentVersion>>;
    fn version_insert(&mut self, v: &DocumentVersion) -> Result<()>;
    fn history_append(&mut self, case_id: &CaseId, e: &HistoryEntry) -> Result<()>;
    fn outbox_enqueue(&mut self, m: &OutboxMessage) -> Result<i64>;
    /// The newest outbox row with this message id and kind, without a lock.
    fn outbox_by_message_id(
        &mut self,
        message_id: &str,
        kind: OutboxKind,
    ) -> Result<Option<OutboxMessage>>;
    /// `outbox_by_message_id`, the row held against concurrent writers until this
    /// transaction ends: for settling an outbound SED from what was read.
    fn outbox_lock_by_message_id(
        &mut self,
        message_id: &str,
        kind: OutboxKind,
    ) -> Result<Option<OutboxMessage>>;
    /// Move an outbox row to `change.to`, only from a status `allowed_from` allows
    /// (compare-and-set). Returns whether the row moved; `false` means it had moved
    /// on meanwhile (or never could), and nothing was changed.
    fn outbox_transition(&mut self, id: i64, kind: OutboxKind, change: &Change) -> Result<bool>;
    /// A case handler's resend of a message whose schedule is over: compare-and-set
    /// `failed` → `queued` with a fresh schedule (no attempts, no last error, due now), as if just
    /// enqueued; the only way out of `failed`, and never taken by the relay (its
    /// changes go through `outbox_transition`, which never leaves `failed`).
    /// Retention counts `failed` as final and may have pruned the body: such a row
    /// is never sent again (it would go out empty).
    /// Returns whether the row moved (false: not failed, its body pruned, or no
    /// such row).
    fn outbox_resend(&mut self, id: i64) -> Result<bool>;
    fn parked_put(&mut self, p: &ParkedMessage) -> Result<()>;
    /// Parked messages of a case, oldest first.
    fn parked_for_case(&mut self, case_id: &CaseId) -> Result<Vec<ParkedMessage>>;
    /// Take a message out of the parking; returns whether it was there (false:
    /// another transaction or instance took it first; PostgreSQL's row lock makes
    /// the second wait for the first and then find nothing).
    fn parked_delete(&mut self, message_id: &str) -> Result<bool>;
    /// Parked messages of a case whose predecessor has committed (as this
    /// transaction sees it), oldest first.
    fn parked_ready_for_case(&mut self, case_id: &CaseId) -> Result<Vec<ParkedMessage>>;
    /// How many messages are parked for this case, and from this access point (and
    /// their body bytes).
    fn parked_counts(&mut self, case_id: &CaseId, sender_country: &str) -> Result<ParkedCounts>;
    /// Whether anything is parked for this case (cheap: no body, no sum).
    fn parked_exists(&mut self, case_id: &CaseId) -> Result<bool>;
    /// Append to the audit log in this transaction, so that an audited action and
    /// its entry commit together (a national submission).
    fn audit_append(&mut self, e: &AuditEntry) -> Result<()>;
    /// Claim an idempotency key for the submission this transaction makes: false
    /// when the key is already taken (committed, or by a transaction that commits
    /// first: PostgreSQL waits for it). `idempotency_get` then reads the winner.
    fn idempotency_claim(&mut self, r: &IdempotencyRecord) -> Result<bool>;
    fn idempotency_get_tx(&mut self, scope: &str, key: &str) -> Result<Option<IdempotencyRecord>>;
    /// Give a claim back (the submission it was for was refused).
    fn idempotency_release(&mut self, scope: &str, key: &str) -> Result<()>;
    /// Keep a received SED for triage (`id`, `status`, `created_at` and the
    /// assignment fields of `t` are ignored); returns its id. One entry per document
    /// version: a second is a `Conflict`.
    fn triage_put(&mut self, t: &TriageEntry) -> Result<i64>;
    /// `Store::case_national_destinations`, in this transaction.
    fn case_national_destinations(&mut self, case_id: &CaseId) -> Result<Vec<InstitutionId>>;
    /// Mark a waiting entry delivered to `to` by `by` (compare-and-set from
    /// `waiting`): false when it is not waiting (already assigned, or unknown).
    fn triage_settle(&mut self, id: i64, to: &str, by: &str) -> Result<bool>;
    /// Every timer of a case, in creation order.
    fn timers_of(&mut self, case_id: &CaseId) -> Result<Vec<Timer>>;
    /// A new `pending` timer; false when one with the same case, what, subject and
    /// due time exists (whatever its status: a timer fires at most once).
    fn timer_put(
        &mut self,
        case_id: &CaseId,
        what: TimerKind,
        subject: &str,
        due_ms: i64,
    ) -> Result<bool>;
    /// Compare-and-set: move timer `id` from one of `from` to `to`, with its
    /// outcome (None keeps it); false when it was elsewhere.
    fn timer_transition(
        &mut self,
        id: i64,
        from: &[TimerStatus],
        to: TimerStatus,
        outcome: Option<&str>,
    ) -> Result<bool>;
    /// Keep a draft (insert or replace its values), unless it is new and its case
    /// has `per_case_max` drafts already: `false` then, and nothing written.
    fn draft_put(&mut self, d: &Draft, per_case_max: u32) -> Result<bool>;
    /// Forget a draft (sent or discarded); whether there was one.
    fn draft_delete(&mut self, key: &DraftKey) -> Result<bool>;
    /// Index the persons a SED of this case names (each once per case).
    fn case_persons_add(&mut self, case_id: &CaseId, persons: &[PersonKey]) -> Result<()>;
    /// Record the earliest due date of a reply the case awaits (None: none).
    fn case_set_reply_due(&mut self, case_id: &CaseId, due: Option<&str>) -> Result<()>;
    fn commit(self: Box<Self>) -> Result<()>;
}

/// The store. Methods are blocking; async callers run them on blocking threads.
pub trait Store: Send + Sync {
    fn begin(&self) -> Result<Box<dyn Tx + '_>>;
    /// Everything about a case but message bodies: document versions come without
    /// their envelope and outbox messages without their body (see `document_envelope`).
    fn case_detail(&self, case_id: &CaseId) -> Result<Option<CaseDetail>>;
    /// The case's own row only (its BUC, version, state), without what hangs on it.
    fn case_record(&self, case_id: &CaseId) -> Result<Option<CaseRecord>>;
    /// One document version's signed envelope, loaded only when asked for.
    fn document_envelope(&self, document_id: &DocumentId, version: u32) -> Result<Option<Vec<u8>>>;
    fn cases(&self, filter: &CaseFilter) -> Result<Vec<(CaseRecord, Vec<Participant>)>>;
    /// Messages with `status` (or all when None), newest first.
    fn messages(&self, status: Option<OutboxStatus>, limit: u32) -> Result<Vec<OutboxMessage>>;
    /// One page of messages, newest first: with `status` (all when None), sent or
    /// received by `institution` (its `eessi-from` or `eessi-to` header; all when
    /// None), with an id below `before_id` (the previous page's last; from the
    /// newest when None). The filter runs before the limit.
    fn messages_page(
        &self,
        status: Option<OutboxStatus>,
        institution: Option<&InstitutionId>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>>;
    /// Counts of outbox messages per (kind, status), every row read: for tests and
    /// tools, not for a probe.
    fn outbox_counts(&self) -> Result<BTreeMap<(OutboxKind, OutboxStatus), u64>>;
    /// The same for the rows that still need work or attention (`queued`,
    /// `retrying`, `failed`) only, read through the `(status, next_attempt_ms)`
    /// index: what `/health` reports, at a cost that does not grow with the settled
    /// history.
    fn outbox_unsettled_counts(&self) -> Result<BTreeMap<(OutboxKind, OutboxStatus), u64>>;
    /// Take the due messages for this relay: they are returned and their next
    /// attempt is pushed `lease_ms` ahead in the same transaction, so another
    /// instance's relay skips them; if this one dies, the lease expires and they
    /// are due again (a resend with the same message id, which receivers dedupe).
    /// `at`: the time to claim at; `None` is the store's own clock (the database
    /// server's on PostgreSQL, so that instances whose clocks differ agree on leases).
    /// A `sent` SED claimed because its receipt is overdue moves to `retrying`.
    /// At most `limit` rows and, beyond the first, `bytes_max` body bytes: the bodies
    /// of rows past the bound are not read.
    fn outbox_claim(
        &self,
        at: Option<i64>,
        limit: u32,
        bytes_max: u64,
        lease_ms: i64,
    ) -> Result<Claim>;
    /// Parked messages whose parking time is over.
    fn parked_expired(&self, now_ms: i64, limit: u32) -> Result<Vec<ParkedMessage>>;
    fn parked_count(&self) -> Result<u64>;
    /// Cases with a parked message whose predecessor has committed: ids only, no bodies.
    fn parked_ready_cases(&self, limit: u32) -> Result<Vec<CaseId>>;
    fn dead_letter_put(&self, d: &DeadLetter) -> Result<i64>;
    fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>>;
    fn dead_letter_get(&self, id: i64) -> Result<Option<DeadLetter>>;
    fn dead_letter_mark_reinjected(&self, id: i64) -> Result<()>;
    /// Append to the audit log (its own transaction; there is no update or delete).
    fn audit_append(&self, e: &AuditEntry) -> Result<()>;
    /// The committed submission an idempotency key names, if any.
    fn idempotency_get(&self, scope: &str, key: &str) -> Result<Option<IdempotencyRecord>>;
    /// Triage entries with `status` (all when None), oldest first.
    fn triage_list(&self, status: Option<TriageStatus>, limit: u32) -> Result<Vec<TriageEntry>>;
    fn triage_get(&self, id: i64) -> Result<Option<TriageEntry>>;
    /// How many entries wait for an operator (through the status index).
    fn triage_waiting(&self) -> Result<u64>;
    /// The institutions this case's received SEDs were delivered to (national
    /// queue messages), in id order of their first delivery.
    fn case_national_destinations(&self, case_id: &CaseId) -> Result<Vec<InstitutionId>>;
    /// The newest audit entries, optionally of one institution.
    fn audit_list(&self, institution: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>>;
    /// A cheap round trip, for health.
    /// Claim up to `limit` timers due at `now_ms` (`pending` and due, or `firing`
    /// with an ended lease): each moves to `firing` with a lease until `now_ms +
    /// lease_ms` in one compare-and-set (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so
    /// instances claiming at once take different rows), and is returned as claimed.
    fn timer_claim(&self, now_ms: i64, limit: u32, lease_ms: i64) -> Result<Vec<Timer>>;
    /// Timers by status and due time, soonest first.
    fn timers(&self, filter: &TimerFilter) -> Result<Vec<Timer>>;
    /// Every timer of a case, in creation order.
    fn timers_of_case(&self, case_id: &CaseId) -> Result<Vec<Timer>>;
    /// Which of these cases (at most a page of them) has a failed outbound message
    /// (the `outbox_status_case` index).
    fn cases_with_failed(&self, case_ids: &[CaseId]) -> Result<std::collections::HashSet<CaseId>>;
    /// One draft.
    fn draft_get(&self, key: &DraftKey) -> Result<Option<Draft>>;
    /// A case's drafts, oldest change first.
    fn drafts_of_case(&self, case_id: &CaseId) -> Result<Vec<Draft>>;
    fn ping(&self) -> Result<()>;
    /// One bounded step of retention (`retention.rs`), each table in a short
    /// transaction of its own, at most `p.limit` rows each: empty the bodies of
    /// settled outbox rows (status unchanged, `body_pruned_at` recorded), delete
    /// inbox rows past the duplicate window (not those of a message still parked)
    /// and history entries before `p.history_before`. Call again while a table
    /// returns `limit`.
    fn prune(&self, p: &Prune) -> Result<Pruned>;
}

/// A compare-and-set that found its row elsewhere (`Conflict`: a concurrent change;
/// retrying the transaction re-reads it) or nowhere (`Corrupt`).
pub(crate) fn moved_on(what: &str, id: &str, expected: &str, now: Option<String>) -> StoreError {
    match now {
        Some(now) => StoreError::Conflict(format!(
            "{what} {id} is {now}, no longer {expected}: it moved on meanwhile"
        )),
        None => StoreError::Corrupt(format!("{what} {id} vanished during its transition")),
    }
}

/// The local clock in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// How to reach a PostgreSQL store beyond its URL (`[store]`); SQLite ignores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Connect over TLS, trusting only this CA (PEM) and checking that the server's
    /// certificate names the URL's host: libpq's `sslmode=verify-full`.
    pub ca_file: Option<std::path::PathBuf>,
    /// Connections per instance at most; further callers wait for one.
    pub pool_size: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            ca_file: None,
            pool_size: 16,
        }
    }
}

/// Open the store named by a URL: `postgres://...` / `postgresql://...` (the
/// PostgreSQL store, schema migrated), `sqlite://<path>` or a plain path.
pub fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    open_with(url, &StoreOptions::default())
}

/// `open`, with the PostgreSQL pool size and TLS of `options`.
pub fn open_with(url: &str, options: &StoreOptions) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(std::sync::Arc::new(postgres::PostgresStore::open_with(
            url, options,
        )?));
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    Ok(std::sync::Arc::new(sqlite::SqliteStore::open(
        std::path::Path::new(path),
    )?))
}

#[cfg(test)]
mod guard_tests {
    /// The guard that keeps XML and RSA out of transactions does fire (debug builds).
    #[test]
    #[should_panic(expected = "inside a store transaction")]
    fn parsing_xml_inside_a_transaction_panics_in_debug_builds() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::open(dir.path().join("s.db").to_str().unwrap()).unwrap();
        let _tx = store.begin().unwrap();
        let _ = crate::sed::xml::parse(b"<a/>", &crate::sed::xml::XmlLimits::default());
    }
}

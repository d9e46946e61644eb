//! The store suite: every check is written once against `&dyn Store` and runs on
//! both backends, so SQLite and PostgreSQL are held to the same behaviour. SQLite
//! runs in a temporary directory; PostgreSQL in a fresh database per test on the
//! local server (127.0.0.1:5432, user `postgres`, or `EESSI_TEST_POSTGRES_URL`),
//! dropped afterwards, so tests run in parallel. An unreachable server fails the
//! test: a skipped backend would hide exactly the regressions this suite is for.

use std::collections::BTreeMap;

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::*;
use crate::ids::{
    BucType, CaseId, DocumentId, InstitutionId, MessageId, Role, SedType, SedVersion,
};

const ADMIN_URL_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn with_sqlite(check: fn(&dyn Store)) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(&dir.path().join("store.db")).expect("open SQLite");
    check(&store);
}

/// A database of its own for one test, dropped (with any connection still open)
/// when the test ends, also when it fails.
pub(crate) struct Scratch {
    admin: ::postgres::Config,
    pub(crate) name: String,
}

impl Scratch {
    pub(crate) fn create() -> Scratch {
        let url =
            std::env::var("EESSI_TEST_POSTGRES_URL").unwrap_or_else(|_| ADMIN_URL_DEFAULT.into());
        let mut admin: ::postgres::Config = url.parse().expect("EESSI_TEST_POSTGRES_URL is a URL");
        admin.connect_timeout(std::time::Duration::from_secs(5));
        let name = format!("eessi_test_{}", uuid::Uuid::new_v4().simple());
        let mut client = admin.connect(::postgres::NoTls).unwrap_or_else(|e| {
            let cause = std::error::Error::source(&e).map_or(String::new(), |c| format!(": {c}"));
            panic!(
                "PostgreSQL is not reachable at {url} ({e}{cause}); the store tests need it: \
                 run scripts/setup (it starts the local server)"
            )
        });
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        Scratch { admin, name }
    }

    pub(crate) fn config(&self) -> ::postgres::Config {
        let mut c = self.admin.clone();
        c.dbname(&self.name);
        c
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover test database costs disk, not correctness.
        if let Ok(mut client) = self.admin.connect(::postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn with_postgres(check: fn(&dyn Store)) {
    let scratch = Scratch::create();
    let store = PostgresStore::connect(scratch.config()).expect("open PostgreSQL");
    check(&store);
}

/// One `#[test]` per check and backend: `store::tests::sqlite::<check>` and
/// `store::tests::postgres::<check>`.
macro_rules! suite {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $check() { super::with_sqlite(super::$check) })*
        }
        mod postgres {
            $(#[test] fn $check() { super::with_postgres(super::$check) })*
        }
    };
}

suite!(
    the_case_list_filters_sorts_and_pages_with_a_stable_cursor,
    a_transaction_commits_all_or_nothing,
    in_transaction_holds_from_begin_to_commit_or_drop,
    inbox_put_is_insert_only_and_a_parked_receipt_is_refused_once,
    case_insert_get_and_set_state,
    participants_add_is_idempotent_and_remove_works,
    documents_insert_get_and_update,
    versions_insert_and_get,
    an_idempotency_key_is_claimed_once_released_and_pruned,
    triage_entries_wait_and_are_assigned_once,
    an_outbox_body_kept_in_its_document_version_reads_back_and_prunes,
    history_keeps_append_order,
    outbox_enqueue_find_and_update,
    a_failed_message_is_resent_once_with_a_fresh_schedule,
    outbox_due_selects_queued_retrying_and_overdue_seds,
    sed_message_id_is_unique,
    references_are_enforced,
    cases_filter_by_institution_status_and_limit,
    case_detail_collects_documents_history_and_messages,
    messages_filter_by_status_newest_first,
    messages_page_filters_by_institution_before_the_limit,
    outbox_counts_per_kind_and_status,
    outbox_claim_leases_due_rows,
    national_messages_of_a_case_are_claimed_in_case_order,
    a_claim_uses_the_store_clock_and_an_overdue_sent_sed_is_retrying,
    a_claim_is_bounded_in_body_bytes_beyond_its_first_row,
    parked_messages_by_case_and_expiry,
    parked_messages_wait_for_their_predecessor_and_are_counted,
    dead_letters_are_kept_and_marked,
    audit_log_appends_and_filters,
    duplicates_are_conflicts,
    prune_empties_only_settled_bodies_past_their_period,
    prune_keeps_inbox_rows_inside_the_duplicate_window_and_old_history_goes,
    prune_is_bounded_by_its_limit,
    timers_are_put_once_and_move_by_compare_and_set,
    drafts_are_kept_per_sed_replaced_bounded_and_deleted,
    two_claimers_take_each_due_timer_once,
);

// ----- fixtures -----

fn inst(s: &str) -> InstitutionId {
    InstitutionId::parse(s).expect("institution id")
}

fn case(id: &CaseId, updated_at: &str) -> CaseRecord {
    CaseRecord {
        case_id: id.clone(),
        buc: BucType::parse("LA_BUC_02").expect("BUC"),
        sed_version: SedVersion::parse("4.2").expect("version"),
        state: "awaiting_reply".into(),
        status: CaseStatus::Open,
        created_at: "2025-01-01T00:00:00.000Z".into(),
        updated_at: updated_at.into(),
        previous_state: None,
    }
}

fn participant(i: &str, role: Role) -> Participant {
    Participant {
        institution: inst(i),
        role,
    }
}

fn document(id: &DocumentId, case_id: &CaseId, created_at: &str) -> DocumentRecord {
    DocumentRecord {
        document_id: id.clone(),
        case_id: case_id.clone(),
        sed: SedType::parse("A003").expect("SED"),
        sender: inst("BE:ONSS"),
        receiver: inst("NL:SVB"),
        direction: Direction::Out,
        status: DocumentStatus::Sent,
        latest_version: 1,
        related: None,
        created_at: created_at.into(),
    }
}

fn version(id: &DocumentId, v: u32) -> DocumentVersion {
    DocumentVersion {
        document_id: id.clone(),
        version: v,
        message_id: format!("msg-{id}-{v}"),
        content_sha256: format!("{v:064x}"),
        // Bytes that are not UTF-8 and contain NUL: envelopes are kept byte for byte.
        envelope: vec![0x3c, 0x00, 0xff, 0xfe, v as u8],
        created_at: format!("2025-01-{:02}T00:00:00.000Z", v % 28 + 1),
    }
}

fn history(event: &str, detail: &str) -> HistoryEntry {
    HistoryEntry {
        at: "2025-01-01T00:00:00.000Z".into(),
        event: event.into(),
        detail: detail.into(),
        from_state: Some("a".into()),
        to_state: None,
        message_id: Some("m".into()),
        document_id: None,
    }
}

fn message(kind: OutboxKind, message_id: &str) -> OutboxMessage {
    let mut headers = BTreeMap::new();
    headers.insert("eessi-sed".to_owned(), "A003".to_owned());
    headers.insert("note".to_owned(), "accentué ✓".to_owned());
    OutboxMessage::new(
        kind,
        "eessi.ap",
        "NL",
        message_id.into(),
        headers,
        vec![0x00, 0xc3, 0x28, b'x'],
    )
}

/// Insert and commit one open case with a case owner.
fn committed_case(store: &dyn Store, updated_at: &str, owner: &str) -> CaseId {
    let id = CaseId::random();
    let mut tx = store.begin().expect("begin");
    tx.case_insert(&case(&id, updated_at)).expect("case");
    tx.participant_add(&id, &participant(owner, Role::CaseOwner))
        .expect("participant");
    tx.commit().expect("commit");
    id
}

fn enqueue(store: &dyn Store, m: &OutboxMessage) -> i64 {
    let mut tx = store.begin().expect("begin");
    let id = tx.outbox_enqueue(m).expect("enqueue");
    tx.commit().expect("commit");
    id
}

// ----- the checks -----

fn a_transaction_commits_all_or_nothing(store: &dyn Store) {
    let id = CaseId::random();
    {
        let mut tx = store.begin().unwrap();
        tx.case_insert(&case(&id, "2025-01-01T00:00:00.000Z"))
            .unwrap();
        tx.participant_add(&id, &participant("BE:ONSS", Role::CaseOwner))
            .unwrap();
        tx.history_append(&id, &history("sed-sent", "A003"))
            .unwrap();
        tx.outbox_enqueue(&message(OutboxKind::Sed, "m1")).unwrap();
        // Dropped without commit.
    }
    assert!(store.case_detail(&id).unwrap().is_none());
    assert!(store.outbox_counts().unwrap().is_empty());
    assert!(store.messages(None, 10).unwrap().is_empty());

    let mut tx = store.begin().unwrap();
    tx.case_insert(&case(&id, "2025-01-01T00:00:00.000Z"))
        .unwrap();
    tx.participant_add(&id, &participant("BE:ONSS", Role::CaseOwner))
        .unwrap();
    tx.history_append(&id, &history("sed-sent", "A003"))
        .unwrap();
    let mut m = message(OutboxKind::Sed, "m1");
    m.case_id = Some(id.clone());
    tx.outbox_enqueue(&m).unwrap();
    // Inside the transaction its own writes are visible.
    assert!(tx.case_get(&id).unwrap().is_some());
    tx.commit().unwrap();

    let d = store.case_detail(&id).unwrap().expect("committed case");
    assert_eq!(d.participants.len(), 1);
    assert_eq!(d.history.len(), 1);
    assert_eq!(d.messages.len(), 1);
    // The connection (SQLite's writer, a pooled PostgreSQL one) is usable again.
    let mut tx = store.begin().unwrap();
    assert!(tx.case_get(&id).unwrap().is_some());
    tx.commit().unwrap();
}

/// `store::in_transaction` is true on this thread exactly while one of its write
/// transactions is open: from `begin` to `commit` or drop (a claim's too).
fn in_transaction_holds_from_begin_to_commit_or_drop(store: &dyn Store) {
    assert!(!in_transaction());
    let tx = store.begin().unwrap();
    assert!(in_transaction());
    assert!(
        !std::thread::scope(|s| s.spawn(in_transaction).join().unwrap()),
        "another thread holds none"
    );
    tx.commit().unwrap();
    assert!(!in_transaction(), "after commit");
    let mut tx = store.begin().unwrap();
    tx.case_insert(&case(&CaseId::random(), "2025-01-01T00:00:00.000Z"))
        .unwrap();
    drop(tx);
    assert!(!in_transaction(), "after a rollback");
    store.outbox_claim(None, 10, 1 << 20, 1_000).unwrap();
    assert!(!in_transaction(), "after a claim");
}

fn inbox_put_is_insert_only_and_a_parked_receipt_is_refused_once(store: &dyn Store) {
    let case_id = CaseId::random();
    let mut headers = BTreeMap::new();
    headers.insert("eessi-ref-to".to_owned(), "in-1".to_owned());
    let first = InboxEntry {
        message_id: "in-1".into(),
        body_sha256: "ab".repeat(32),
        received_at: "2025-01-01T00:00:00.000Z".into(),
        case_id: Some(case_id.clone()),
        answer_kind: AnswerKind::Receipt,
        answer_message_id: "ans-1".into(),
        answer_routing_key: "NL".into(),
        answer_headers: headers.clone(),
        answer_timestamp: 1_735_689_600,
        answer_body: vec![0x00, 0xff, b'<'],
        error_code: None,
    };
    let mut tx = store.begin().unwrap();
    assert!(tx.inbox_get("in-1").unwrap().is_none());
    tx.inbox_put(&first).unwrap();
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    assert_eq!(tx.inbox_get("in-1").unwrap().as_ref(), Some(&first));
    assert!(tx.inbox_get("in-2").unwrap().is_none());
    // A second answer to the same message id is refused (insert, never upsert):
    // the first answer stays the answer, byte for byte.
    let second = InboxEntry {
        answer_message_id: "ans-other".into(),
        answer_body: b"<other/>".to_vec(),
        ..first.clone()
    };
    let e = tx.inbox_put(&second).expect_err("a second answer");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    drop(tx);
    let mut tx = store.begin().unwrap();
    assert_eq!(tx.inbox_get("in-1").unwrap().as_ref(), Some(&first));

    // A parked message's receipt is replaced by its error once, and only a receipt.
    headers.insert("eessi-error-code".to_owned(), "UNKNOWN_CASE".to_owned());
    let refused = InboxEntry {
        body_sha256: "cd".repeat(32),
        received_at: "2025-02-02T00:00:00.000Z".into(),
        case_id: None,
        answer_kind: AnswerKind::Error,
        answer_message_id: "ans-2".into(),
        answer_routing_key: "DE".into(),
        answer_headers: headers.clone(),
        answer_timestamp: 1_738_454_400,
        answer_body: b"<error/>".to_vec(),
        error_code: Some("UNKNOWN_CASE".into()),
        ..first.clone()
    };
    assert!(tx.inbox_refuse_parked(&refused).unwrap());
    assert!(
        !tx.inbox_refuse_parked(&InboxEntry {
            answer_message_id: "ans-3".into(),
            ..refused.clone()
        })
        .unwrap(),
        "an error is not replaced"
    );
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    let got = tx.inbox_get("in-1").unwrap().expect("the entry");
    // What was received stays as first recorded; the answer is the error.
    assert_eq!(
        got,
        InboxEntry {
            body_sha256: first.body_sha256.clone(),
            received_at: first.received_at.clone(),
            case_id: first.case_id.clone(),
            ..refused
        }
    );
}

fn case_insert_get_and_set_state(store: &dyn Store) {
    let id = CaseId::random();
    let c = case(&id, "2025-01-01T00:00:00.000Z");
    let mut tx = store.begin().unwrap();
    assert!(tx.case_get(&id).unwrap().is_none());
    tx.case_insert(&c).unwrap();
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    assert_eq!(tx.case_get(&id).unwrap().as_ref(), Some(&c));
    // Closure records the state to return to.
    // Compare-and-set: from a state the case is not in, nothing moves.
    let err = tx
        .case_set_state(&id, "agreed", "closed", CaseStatus::Closed, Some("agreed"))
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(tx.case_get(&id).unwrap().as_ref(), Some(&c));
    tx.case_set_state(
        &id,
        "awaiting_reply",
        "closed",
        CaseStatus::Closed,
        Some("awaiting_reply"),
    )
    .unwrap();
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    let closed = tx.case_get(&id).unwrap().expect("case");
    assert_eq!(
        (
            closed.state.as_str(),
            closed.status.as_str(),
            closed.previous_state.as_deref()
        ),
        ("closed", "closed", Some("awaiting_reply"))
    );
    assert_ne!(closed.updated_at, c.updated_at, "updated_at moves");
    assert_eq!(closed.created_at, c.created_at);
    // Without a previous state, the recorded one stays.
    tx.case_set_state(&id, "closed", "awaiting_reply", CaseStatus::Open, None)
        .unwrap();
    let reopened = tx.case_get(&id).unwrap().expect("case");
    assert_eq!(
        (
            reopened.state.as_str(),
            reopened.status.as_str(),
            reopened.previous_state.as_deref()
        ),
        ("awaiting_reply", "open", Some("awaiting_reply"))
    );
    tx.commit().unwrap();

    // Moving a case that does not exist is an inconsistency, not a silent no-op.
    let mut tx = store.begin().unwrap();
    let err = tx
        .case_set_state(
            &CaseId::random(),
            "awaiting_reply",
            "x",
            CaseStatus::Open,
            None,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    drop(tx);

    // The same case id twice is refused.
    let mut tx = store.begin().unwrap();
    assert!(tx.case_insert(&c).is_err());
}

fn participants_add_is_idempotent_and_remove_works(store: &dyn Store) {
    let id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let mut tx = store.begin().unwrap();
    tx.participant_add(&id, &participant("NL:SVB", Role::Counterparty))
        .unwrap();
    // Again, even with another role: the first one stays.
    tx.participant_add(&id, &participant("NL:SVB", Role::CaseOwner))
        .unwrap();
    tx.participant_add(&id, &participant("DE:DRV", Role::Counterparty))
        .unwrap();
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    assert_eq!(
        tx.participants(&id).unwrap(),
        vec![
            participant("BE:ONSS", Role::CaseOwner),
            participant("NL:SVB", Role::Counterparty),
            participant("DE:DRV", Role::Counterparty),
        ],
        "in the order they joined"
    );
    tx.participant_remove(&id, &inst("NL:SVB")).unwrap();
    // Removing someone who is not there is not an error.
    tx.participant_remove(&id, &inst("FR:CNAV")).unwrap();
    tx.participant_add(&id, &participant("NL:SVB", Role::Counterparty))
        .unwrap();
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    assert_eq!(
        tx.participants(&id).unwrap(),
        vec![
            participant("BE:ONSS", Role::CaseOwner),
            participant("DE:DRV", Role::Counterparty),
            participant("NL:SVB", Role::Counterparty),
        ]
    );
    assert!(tx.participants(&CaseId::random()).unwrap().is_empty());
}

fn documents_insert_get_and_update(store: &dyn Store) {
    let id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let other = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let (d1, d2, d3) = (
        DocumentId::random(),
        DocumentId::random(),
        DocumentId::random(),
    );
    let mut tx = store.begin().unwrap();
    assert!(tx.document_get(&d1).unwrap().is_none());
    // Inserted out of creation order: listing follows created_at.
    let mut second = document(&d2, &id, "2025-01-02T00:00:00.000Z");
    second.related = Some(d1.clone());
    second.direction = Direction::In;
    second.status = DocumentStatus::Received;
    tx.document_insert(&second).unwrap();
    let first = document(&d1, &id, "2025-01-01T00:00:00.000Z");
    tx.document_insert(&first).unwrap();
    tx.document_insert(&document(&d3, &other, "2025-01-01T00:00:00.000Z"))
        .unwrap();
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    assert_eq!(tx.document_get(&d2).unwrap().as_ref(), Some(&second));
    assert_eq!(tx.documents(&id).unwrap(), vec![first.clone(), second]);
    tx.document_set_version(&d1, 3).unwrap();
    tx.document_set_status(
        &d1,
        &[DocumentStatus::Sent, DocumentStatus::Received],
        DocumentStatus::Cancelled,
    )
    .unwrap();
    // Compare-and-set: a cancelled document is not cancelled again.
    let err = tx
        .document_set_status(
            &d1,
            &[DocumentStatus::Sent, DocumentStatus::Received],
            DocumentStatus::Cancelled,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    let got = tx.document_get(&d1).unwrap().expect("document");
    assert_eq!(
        got,
        DocumentRecord {
            latest_version: 3,
            status: DocumentStatus::Cancelled,
            ..first
        }
    );
    assert_eq!(tx.documents(&other).unwrap().len(), 1);
    // A document id is unique.
    assert!(
        tx.document_insert(&document(&d1, &id, "2025-01-03T00:00:00.000Z"))
            .is_err()
    );
}

fn versions_insert_and_get(store: &dyn Store) {
    let id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let d = DocumentId::random();
    let mut tx = store.begin().unwrap();
    tx.document_insert(&document(&d, &id, "2025-01-01T00:00:00.000Z"))
        .unwrap();
    let v1 = version(&d, 1);
    let v2 = version(&d, 2);
    tx.version_insert(&v1).unwrap();
    tx.version_insert(&v2).unwrap();
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    assert_eq!(tx.version_get(&d, 1).unwrap().as_ref(), Some(&v1));
    assert_eq!(tx.version_get(&d, 2).unwrap().as_ref(), Some(&v2));
    assert!(tx.version_get(&d, 3).unwrap().is_none());
    assert!(tx.version_get(&DocumentId::random(), 1).unwrap().is_none());
    // One document version is stored once.
    assert!(tx.version_insert(&version(&d, 1)).is_err());
}

/// A SED's outbox row whose body is its document version's envelope (stored once):
/// read back, claimed and pruned as if it were its own.
fn an_outbox_body_kept_in_its_document_version_reads_back_and_prunes(store: &dyn Store) {
    let id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let d = DocumentId::random();
    let v2 = version(&d, 2);
    let mut m = settled(OutboxKind::Sed, "in-version", OutboxStatus::Delivered, 40);
    m.case_id = Some(id.clone());
    m.document_id = Some(d.clone());
    m.body = v2.envelope.clone();
    m.body_version = Some(2);
    let mut tx = store.begin().unwrap();
    tx.document_insert(&document(&d, &id, "2025-01-01T00:00:00.000Z"))
        .unwrap();
    tx.version_insert(&version(&d, 1)).unwrap();
    tx.version_insert(&v2).unwrap();
    m.id = tx.outbox_enqueue(&m).unwrap();
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    let got = tx
        .outbox_by_message_id("in-version", OutboxKind::Sed)
        .unwrap()
        .expect("the row");
    assert_eq!(got, m);
    drop(tx);
    // Listed with it too, and emptied by retention like an own body.
    let listed = store.messages(None, 10).unwrap();
    assert_eq!(listed[0].body, v2.envelope);
    assert_eq!(store.prune(&prune_at(10)).unwrap().outbox_bodies, 1);
    let mut tx = store.begin().unwrap();
    let pruned = tx
        .outbox_by_message_id("in-version", OutboxKind::Sed)
        .unwrap()
        .expect("the row");
    assert!(pruned.body.is_empty());
    // The case file keeps the envelope.
    assert_eq!(tx.version_get(&d, 2).unwrap(), Some(v2));
}

fn an_idempotency_key_is_claimed_once_released_and_pruned(store: &dyn Store) {
    let rec = |key: &str, age_days: i64| IdempotencyRecord {
        scope: "client-a".into(),
        key: key.into(),
        request_sha256: "ab".repeat(32),
        case_id: CaseId::random(),
        document_id: DocumentId::random(),
        document_version: 1,
        message_id: MessageId::random().to_string(),
        created_at: retention::rfc3339(NOW - age_days * DAY),
    };
    let first = rec("k1", 1);
    let mut tx = store.begin().unwrap();
    assert!(tx.idempotency_claim(&first).unwrap());
    // Taken, in the same transaction too: the second claim reads the first.
    assert!(!tx.idempotency_claim(&rec("k1", 1)).unwrap());
    assert_eq!(
        tx.idempotency_get_tx("client-a", "k1").unwrap(),
        Some(first.clone())
    );
    tx.commit().unwrap();
    assert_eq!(
        store.idempotency_get("client-a", "k1").unwrap(),
        Some(first.clone())
    );
    // Another caller's key space.
    assert_eq!(store.idempotency_get("client-b", "k1").unwrap(), None);
    let mut tx = store.begin().unwrap();
    assert!(!tx.idempotency_claim(&rec("k1", 1)).unwrap());
    tx.idempotency_release("client-a", "k1").unwrap();
    assert!(tx.idempotency_claim(&rec("k2", 40)).unwrap());
    tx.commit().unwrap();
    assert_eq!(store.idempotency_get("client-a", "k1").unwrap(), None);
    // Kept for the duplicate window (30 days here), then pruned.
    assert_eq!(store.prune(&prune_at(10)).unwrap().idempotency_rows, 1);
    assert_eq!(store.idempotency_get("client-a", "k2").unwrap(), None);
}

fn triage_entries_wait_and_are_assigned_once(store: &dyn Store) {
    let entry = |sed: &str| TriageEntry {
        id: 0,
        case_id: CaseId::random(),
        document_id: DocumentId::random(),
        document_version: 1,
        buc: "H_BUC_01".into(),
        sed: sed.into(),
        sender: "NL:SVB".into(),
        addressed: "BE:CBSS".into(),
        message_id: MessageId::random().to_string(),
        reason: "rule sends it to triage".into(),
        status: TriageStatus::Waiting,
        created_at: String::new(),
        assigned_to: None,
        assigned_by: None,
        settled_at: None,
    };
    let (a, b) = (entry("H001"), entry("H002"));
    let mut tx = store.begin().unwrap();
    let a_id = tx.triage_put(&a).unwrap();
    let b_id = tx.triage_put(&b).unwrap();
    tx.commit().unwrap();
    assert!(b_id > a_id);
    // One entry per document version.
    let mut tx = store.begin().unwrap();
    assert!(matches!(tx.triage_put(&a), Err(StoreError::Conflict(_))));
    drop(tx);
    assert_eq!(store.triage_waiting().unwrap(), 2);
    let waiting = store.triage_list(Some(TriageStatus::Waiting), 10).unwrap();
    assert_eq!(
        waiting.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![a_id, b_id],
        "oldest first"
    );
    assert_eq!(waiting[0].sed, "H001");
    assert_eq!(waiting[0].status, TriageStatus::Waiting);
    // Assigned once: the second operator's compare-and-set finds it settled.
    let mut tx = store.begin().unwrap();
    assert!(tx.triage_settle(a_id, "BE:ONSS", "operator-1").unwrap());
    tx.commit().unwrap();
    let mut tx = store.begin().unwrap();
    assert!(!tx.triage_settle(a_id, "BE:SFP", "operator-2").unwrap());
    assert!(!tx.triage_settle(9_999_999, "BE:SFP", "operator-2").unwrap());
    tx.commit().unwrap();
    let got = store.triage_get(a_id).unwrap().expect("the entry");
    assert_eq!(got.status, TriageStatus::Delivered);
    assert_eq!(got.assigned_to.as_deref(), Some("BE:ONSS"));
    assert_eq!(got.assigned_by.as_deref(), Some("operator-1"));
    assert!(got.settled_at.is_some());
    assert_eq!(store.triage_waiting().unwrap(), 1);
    assert_eq!(
        store
            .triage_list(Some(TriageStatus::Delivered), 10)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.triage_list(None, 10).unwrap().len(), 2);
    assert_eq!(store.triage_get(9_999_999).unwrap(), None);
    // Retention: a delivered entry goes with its period's history, a waiting one
    // stays whatever its age.
    let mut p = prune_at(10);
    assert_eq!(store.prune(&p).unwrap().triage_rows, 0, "inside the period");
    p.history_before = "9999-01-01T00:00:00.000Z".into();
    assert_eq!(store.prune(&p).unwrap().triage_rows, 1);
    assert_eq!(store.triage_get(a_id).unwrap(), None);
    assert_eq!(store.triage_waiting().unwrap(), 1);
}

fn history_keeps_append_order(store: &dyn Store) {
    let id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let events = [
        "sed-sent",
        "delivered",
        "sed-received",
        "rejected",
        "failed",
    ];
    for chunk in events.chunks(2) {
        let mut tx = store.begin().unwrap();
        for e in chunk {
            // Same timestamp on purpose: order comes from the append, not the clock.
            tx.history_append(&id, &history(e, &format!("{e} detail")))
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let mut full = history("x", "y");
    full.from_state = None;
    full.to_state = Some("closed".into());
    full.message_id = None;
    full.document_id = Some("d-1".into());
    let mut tx = store.begin().unwrap();
    tx.history_append(&id, &full).unwrap();
    tx.commit().unwrap();

    let got = store.case_detail(&id).unwrap().expect("case").history;
    let names: Vec<&str> = got.iter().map(|h| h.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "sed-sent",
            "delivered",
            "sed-received",
            "rejected",
            "failed",
            "x"
        ]
    );
    assert_eq!(got[0], history("sed-sent", "sed-sent detail"));
    assert_eq!(got[5], full);
}

fn a_failed_message_is_resent_once_with_a_fresh_schedule(store: &dyn Store) {
    let case_id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let mut sed = message(OutboxKind::Sed, "resend-1");
    sed.case_id = Some(case_id);
    let id = enqueue(store, &sed);
    let mut tx = store.begin().unwrap();
    // Not failed: a resend changes nothing.
    assert!(!tx.outbox_resend(id).unwrap(), "a queued row is not resent");
    for _ in 0..2 {
        let retry = Change::to(OutboxStatus::Retrying).attempt().error("nack");
        assert!(tx.outbox_transition(id, OutboxKind::Sed, &retry).unwrap());
    }
    assert!(
        tx.outbox_transition(id, OutboxKind::Sed, &Change::to(OutboxStatus::Failed))
            .unwrap()
    );
    let before_ms = crate::store::now_ms();
    assert!(tx.outbox_resend(id).unwrap(), "failed -> queued");
    assert!(
        !tx.outbox_resend(id).unwrap(),
        "only once: it is queued now"
    );
    assert!(!tx.outbox_resend(id + 1000).unwrap(), "no such row");
    let got = tx
        .outbox_by_message_id("resend-1", OutboxKind::Sed)
        .unwrap()
        .unwrap();
    assert_eq!(got.status, OutboxStatus::Queued);
    assert_eq!(got.attempts, 0, "a fresh schedule");
    assert_eq!(got.first_attempt_ms, None);
    assert_eq!(
        got.last_error, None,
        "the failure stays in the case's history"
    );
    assert!(got.next_attempt_ms >= before_ms - 5_000, "due now");
    // Failed again, then its body pruned by retention: never sent again empty.
    let retry = Change::to(OutboxStatus::Retrying).attempt().error("nack");
    assert!(tx.outbox_transition(id, OutboxKind::Sed, &retry).unwrap());
    assert!(
        tx.outbox_transition(id, OutboxKind::Sed, &Change::to(OutboxStatus::Failed))
            .unwrap()
    );
    tx.commit().unwrap();
    let now = crate::store::now_ms();
    let pruned = store
        .prune(&Prune {
            now_ms: now,
            body_before_ms: now + 60_000,
            inbox_before_ms: 0,
            history_before: String::new(),
            limit: 1000,
        })
        .unwrap();
    assert!(pruned.outbox_bodies >= 1, "{pruned:?}");
    let mut tx = store.begin().unwrap();
    assert!(
        !tx.outbox_resend(id).unwrap(),
        "a failed message whose body was pruned is not resent"
    );
    tx.commit().unwrap();
}

fn outbox_enqueue_find_and_update(store: &dyn Store) {
    let case_id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let mut sed = message(OutboxKind::Sed, "sed-1");
    sed.case_id = Some(case_id.clone());
    sed.document_id = Some(DocumentId::random());
    let sed_id = enqueue(store, &sed);
    // Non-SED kinds may repeat a message id (a duplicate's answer is re-enqueued):
    // the lookup returns the newest.
    let r1 = enqueue(store, &message(OutboxKind::Receipt, "sed-1"));
    let r2 = enqueue(store, &message(OutboxKind::Receipt, "sed-1"));
    assert!(sed_id < r1 && r1 < r2, "ids grow: {sed_id} {r1} {r2}");

    let mut tx = store.begin().unwrap();
    let got = tx
        .outbox_by_message_id("sed-1", OutboxKind::Sed)
        .unwrap()
        .expect("the SED");
    assert_eq!(
        got,
        OutboxMessage {
            id: sed_id,
            ..sed.clone()
        }
    );
    assert_eq!(
        tx.outbox_by_message_id("sed-1", OutboxKind::Receipt)
            .unwrap()
            .map(|m| m.id),
        Some(r2)
    );
    assert!(
        tx.outbox_by_message_id("sed-1", OutboxKind::Error)
            .unwrap()
            .is_none()
    );
    assert!(
        tx.outbox_by_message_id("nope", OutboxKind::Sed)
            .unwrap()
            .is_none()
    );

    // A failed publish: queued -> retrying, one attempt, due again from the store's clock.
    let before_ms = crate::store::now_ms();
    let retry = Change::to(OutboxStatus::Retrying)
        .attempt()
        .due_in(60_000)
        .error("nack");
    assert!(
        tx.outbox_transition(sed_id, OutboxKind::Sed, &retry)
            .unwrap()
    );
    // The kind is part of the compare-and-set.
    assert!(
        !tx.outbox_transition(sed_id, OutboxKind::Receipt, &retry)
            .unwrap()
    );
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    let after = tx
        .outbox_by_message_id("sed-1", OutboxKind::Sed)
        .unwrap()
        .expect("the SED");
    assert_eq!(after.status, OutboxStatus::Retrying);
    assert_eq!(after.attempts, 1);
    assert_eq!(after.last_error.as_deref(), Some("nack"));
    let first_ms = after.first_attempt_ms.expect("first attempt recorded");
    // The store's clock (the database server's on PostgreSQL, same machine here).
    assert!(
        (first_ms - before_ms).abs() < 5_000,
        "{first_ms} vs {before_ms}"
    );
    assert!((after.next_attempt_ms - (first_ms + 60_000)).abs() < 5_000);
    // What was sent stays as enqueued.
    assert_eq!(after.body, sed.body);
    assert_eq!(after.routing_key, sed.routing_key);

    // retrying -> sent: a second attempt; the first attempt's time stays.
    let sent = Change::to(OutboxStatus::Sent).attempt().due_in(30_000);
    assert!(
        tx.outbox_transition(sed_id, OutboxKind::Sed, &sent)
            .unwrap()
    );
    // sent -> sent is not a transition (a stale publish outcome changes nothing).
    assert!(
        !tx.outbox_transition(sed_id, OutboxKind::Sed, &sent)
            .unwrap()
    );
    let delivered = Change::to(OutboxStatus::Delivered);
    assert!(
        tx.outbox_transition(sed_id, OutboxKind::Sed, &delivered)
            .unwrap()
    );
    // Once delivered: a late publish outcome, a second receipt, the schedule giving
    // up: nothing changes. Only an error (a parked SED refused later) moves it.
    for stale in [
        sent.clone(),
        delivered.clone(),
        Change::to(OutboxStatus::Retrying).attempt(),
        Change::to(OutboxStatus::Failed).error("gave up"),
    ] {
        assert!(
            !tx.outbox_transition(sed_id, OutboxKind::Sed, &stale)
                .unwrap(),
            "{stale:?}"
        );
    }
    let rejected = Change::to(OutboxStatus::Rejected).error("UNKNOWN_CASE: never arrived");
    assert!(
        tx.outbox_transition(sed_id, OutboxKind::Sed, &rejected)
            .unwrap()
    );
    assert!(
        !tx.outbox_transition(sed_id, OutboxKind::Sed, &rejected)
            .unwrap(),
        "rejected is final"
    );
    // A receipt never becomes delivered.
    assert!(
        !tx.outbox_transition(r1, OutboxKind::Receipt, &delivered)
            .unwrap()
    );
    tx.commit().unwrap();

    let mut tx = store.begin().unwrap();
    let end = tx
        .outbox_by_message_id("sed-1", OutboxKind::Sed)
        .unwrap()
        .expect("the SED");
    assert_eq!(end.status, OutboxStatus::Rejected);
    assert_eq!(end.attempts, 2);
    assert_eq!(end.first_attempt_ms, Some(first_ms));
    assert_eq!(
        end.last_error.as_deref(),
        Some("UNKNOWN_CASE: never arrived")
    );
    let receipt = tx
        .outbox_by_message_id("sed-1", OutboxKind::Receipt)
        .unwrap()
        .expect("the receipt");
    assert_eq!((receipt.id, receipt.status), (r2, OutboxStatus::Queued));
}

fn outbox_due_selects_queued_retrying_and_overdue_seds(store: &dyn Store) {
    let now_ms = 1_000_000;
    let mut want = Vec::new();
    let mut add = |kind: OutboxKind, id: &str, st: OutboxStatus, next_ms: i64, due: bool| {
        let mut m = message(kind, id);
        m.status = st;
        m.next_attempt_ms = next_ms;
        let row = enqueue(store, &m);
        if due {
            want.push((next_ms, row));
        }
    };
    add(
        OutboxKind::Sed,
        "queued-now",
        OutboxStatus::Queued,
        now_ms,
        true,
    );
    add(
        OutboxKind::Receipt,
        "queued-past",
        OutboxStatus::Queued,
        10,
        true,
    );
    add(
        OutboxKind::National,
        "queued-future",
        OutboxStatus::Queued,
        now_ms + 1,
        false,
    );
    add(
        OutboxKind::Sed,
        "retrying-past",
        OutboxStatus::Retrying,
        500,
        true,
    );
    add(
        OutboxKind::Sed,
        "retrying-future",
        OutboxStatus::Retrying,
        now_ms + 5,
        false,
    );
    // A sent SED waits for its receipt; once overdue it is retransmitted.
    add(
        OutboxKind::Sed,
        "sent-overdue",
        OutboxStatus::Sent,
        20,
        true,
    );
    add(
        OutboxKind::Sed,
        "sent-waiting",
        OutboxStatus::Sent,
        now_ms + 1,
        false,
    );
    // A sent receipt, delivery or notice is done: never due.
    add(
        OutboxKind::Receipt,
        "sent-receipt",
        OutboxStatus::Sent,
        5,
        false,
    );
    add(
        OutboxKind::Error,
        "sent-error",
        OutboxStatus::Sent,
        5,
        false,
    );
    add(
        OutboxKind::National,
        "sent-national",
        OutboxStatus::Sent,
        5,
        false,
    );
    add(
        OutboxKind::Notice,
        "sent-notice",
        OutboxStatus::Sent,
        5,
        false,
    );
    // Settled SEDs are never due.
    add(
        OutboxKind::Sed,
        "delivered",
        OutboxStatus::Delivered,
        5,
        false,
    );
    add(
        OutboxKind::Sed,
        "rejected",
        OutboxStatus::Rejected,
        5,
        false,
    );
    add(OutboxKind::Sed, "failed", OutboxStatus::Failed, 5, false);
    want.sort();
    let want: Vec<i64> = want.into_iter().map(|(_, id)| id).collect();

    // A claim with no lease leaves the rows due, so the selection can be read twice.
    assert!(
        store
            .outbox_claim(Some(0), 100, u64::MAX, 0)
            .unwrap()
            .messages
            .is_empty()
    );
    let first_two: Vec<i64> = store
        .outbox_claim(Some(now_ms), 2, u64::MAX, 0)
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(first_two, want[..2], "due, earliest first");
    let mut due: Vec<i64> = store
        .outbox_claim(Some(now_ms), 100, u64::MAX, 0)
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.id)
        .collect();
    due.sort();
    let mut all = want.clone();
    all.sort();
    assert_eq!(due, all);
}

fn sed_message_id_is_unique(store: &dyn Store) {
    enqueue(store, &message(OutboxKind::Sed, "m1"));
    let mut tx = store.begin().unwrap();
    assert!(
        tx.outbox_enqueue(&message(OutboxKind::Sed, "m1")).is_err(),
        "a second SED with the same message id"
    );
    drop(tx);
    // Other kinds may share it (answers and deliveries re-enqueued for duplicates).
    enqueue(store, &message(OutboxKind::Receipt, "m1"));
    enqueue(store, &message(OutboxKind::Receipt, "m1"));
    enqueue(store, &message(OutboxKind::National, "m1"));
    enqueue(store, &message(OutboxKind::Sed, "m2"));
    let counts = store.outbox_counts().unwrap();
    assert_eq!(counts.values().sum::<u64>(), 5);
}

fn references_are_enforced(store: &dyn Store) {
    let ghost = CaseId::random();
    let mut tx = store.begin().unwrap();
    assert!(
        tx.participant_add(&ghost, &participant("BE:ONSS", Role::CaseOwner))
            .is_err(),
        "a participant of no case"
    );
    drop(tx);
    let mut tx = store.begin().unwrap();
    assert!(
        tx.document_insert(&document(
            &DocumentId::random(),
            &ghost,
            "2025-01-01T00:00:00.000Z"
        ))
        .is_err(),
        "a document of no case"
    );
    drop(tx);
    let mut tx = store.begin().unwrap();
    assert!(
        tx.version_insert(&version(&DocumentId::random(), 1))
            .is_err(),
        "a version of no document"
    );
    drop(tx);
    // Nothing of that was kept, and the store still works.
    let id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    assert!(store.case_detail(&ghost).unwrap().is_none());
    assert_eq!(store.cases(&CaseFilter::default()).unwrap().len(), 1);
    assert!(store.case_detail(&id).unwrap().is_some());
}

fn cases_filter_by_institution_status_and_limit(store: &dyn Store) {
    let a = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let b = committed_case(store, "2025-01-03T00:00:00.000Z", "BE:INASTI");
    let c = committed_case(store, "2025-01-02T00:00:00.000Z", "BE:ONSS");
    let mut tx = store.begin().unwrap();
    tx.participant_add(&b, &participant("BE:ONSS", Role::Counterparty))
        .unwrap();
    tx.participant_add(&a, &participant("NL:SVB", Role::Counterparty))
        .unwrap();
    tx.commit().unwrap();
    // Closing `c` moves its updated_at to now: it becomes the most recent.
    let mut tx = store.begin().unwrap();
    tx.case_set_state(
        &c,
        "awaiting_reply",
        "closed",
        CaseStatus::Closed,
        Some("awaiting_reply"),
    )
    .unwrap();
    tx.commit().unwrap();

    let ids = |f: CaseFilter| -> Vec<CaseId> {
        store
            .cases(&f)
            .unwrap()
            .into_iter()
            .map(|(c, _)| c.case_id)
            .collect()
    };
    assert_eq!(
        ids(CaseFilter::default()),
        vec![c.clone(), b.clone(), a.clone()],
        "newest change first"
    );
    assert_eq!(
        ids(CaseFilter {
            institution: Some(inst("BE:ONSS")),
            ..Default::default()
        }),
        vec![c.clone(), b.clone(), a.clone()]
    );
    assert_eq!(
        ids(CaseFilter {
            institution: Some(inst("BE:INASTI")),
            ..Default::default()
        }),
        vec![b.clone()]
    );
    assert_eq!(
        ids(CaseFilter {
            institution: Some(inst("FR:CNAV")),
            ..Default::default()
        }),
        Vec::<CaseId>::new()
    );
    assert_eq!(
        ids(CaseFilter {
            status: Some(CaseStatus::Open),
            ..Default::default()
        }),
        vec![b.clone(), a.clone()]
    );
    assert_eq!(
        ids(CaseFilter {
            status: Some(CaseStatus::Closed),
            institution: Some(inst("BE:ONSS")),
            limit: 0,
            ..Default::default()
        }),
        vec![c.clone()]
    );
    assert_eq!(
        ids(CaseFilter {
            limit: 2,
            ..Default::default()
        }),
        vec![c.clone(), b.clone()]
    );
    // Each case comes with its participants, in the order they joined.
    let listed = store.cases(&CaseFilter::default()).unwrap();
    let (_, parts_b) = listed.iter().find(|(x, _)| x.case_id == b).expect("b");
    assert_eq!(
        parts_b,
        &vec![
            participant("BE:INASTI", Role::CaseOwner),
            participant("BE:ONSS", Role::Counterparty)
        ]
    );
    let (_, parts_a) = listed.iter().find(|(x, _)| x.case_id == a).expect("a");
    assert_eq!(parts_a.len(), 2);
}

fn case_detail_collects_documents_history_and_messages(store: &dyn Store) {
    let id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let other = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let (d1, d2) = (DocumentId::random(), DocumentId::random());
    let mut tx = store.begin().unwrap();
    tx.participant_add(&id, &participant("NL:SVB", Role::Counterparty))
        .unwrap();
    tx.document_insert(&document(&d1, &id, "2025-01-01T00:00:00.000Z"))
        .unwrap();
    tx.document_insert(&document(&d2, &id, "2025-01-02T00:00:00.000Z"))
        .unwrap();
    // Versions inserted out of order come back in version order.
    for (d, v) in [(&d1, 2), (&d2, 1), (&d1, 1)] {
        tx.version_insert(&version(d, v)).unwrap();
    }
    tx.document_set_version(&d1, 2).unwrap();
    tx.history_append(&id, &history("sed-sent", "one")).unwrap();
    tx.history_append(&id, &history("sed-received", "two"))
        .unwrap();
    tx.history_append(&other, &history("sed-sent", "elsewhere"))
        .unwrap();
    let mut m1 = message(OutboxKind::Sed, "m-1");
    m1.case_id = Some(id.clone());
    let mut m2 = message(OutboxKind::Receipt, "m-2");
    m2.case_id = Some(id.clone());
    let mut m3 = message(OutboxKind::Sed, "m-3");
    m3.case_id = Some(other.clone());
    let i1 = tx.outbox_enqueue(&m1).unwrap();
    let i2 = tx.outbox_enqueue(&m2).unwrap();
    tx.outbox_enqueue(&m3).unwrap();
    tx.outbox_enqueue(&message(OutboxKind::Notice, "no-case"))
        .unwrap();
    tx.commit().unwrap();

    let d = store.case_detail(&id).unwrap().expect("case");
    assert_eq!(d.case, case(&id, "2025-01-01T00:00:00.000Z"));
    assert_eq!(
        d.participants,
        vec![
            participant("BE:ONSS", Role::CaseOwner),
            participant("NL:SVB", Role::Counterparty)
        ]
    );
    let docs: Vec<(DocumentId, u32, Vec<DocumentVersion>)> = d
        .documents
        .into_iter()
        .map(|(doc, vs)| (doc.document_id, doc.latest_version, vs))
        .collect();
    // Versions come without their envelope, loaded only when asked for.
    let light = |v: DocumentVersion| DocumentVersion {
        envelope: Vec::new(),
        ..v
    };
    assert_eq!(
        docs,
        vec![
            (
                d1.clone(),
                2,
                vec![light(version(&d1, 1)), light(version(&d1, 2))]
            ),
            (d2.clone(), 1, vec![light(version(&d2, 1))]),
        ]
    );
    assert_eq!(
        store.document_envelope(&d1, 2).unwrap(),
        Some(version(&d1, 2).envelope)
    );
    assert!(!version(&d1, 2).envelope.is_empty());
    assert_eq!(store.document_envelope(&d1, 3).unwrap(), None);
    assert_eq!(
        d.history
            .iter()
            .map(|h| h.detail.as_str())
            .collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert_eq!(
        d.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [i1, i2]
    );
    // Messages come without their body.
    assert_eq!(
        d.messages[0],
        OutboxMessage {
            id: i1,
            body: Vec::new(),
            ..m1.clone()
        }
    );
    assert!(!m1.body.is_empty());
    assert!(store.case_detail(&CaseId::random()).unwrap().is_none());
}

fn messages_filter_by_status_newest_first(store: &dyn Store) {
    let mut ids = Vec::new();
    for (i, st) in [
        OutboxStatus::Queued,
        OutboxStatus::Sent,
        OutboxStatus::Queued,
        OutboxStatus::Failed,
        OutboxStatus::Queued,
    ]
    .into_iter()
    .enumerate()
    {
        let mut m = message(OutboxKind::Sed, &format!("m{i}"));
        m.status = st;
        ids.push(enqueue(store, &m));
    }
    let all: Vec<i64> = store
        .messages(None, 100)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(all, ids.iter().rev().copied().collect::<Vec<_>>());
    let queued: Vec<i64> = store
        .messages(Some(OutboxStatus::Queued), 100)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(queued, vec![ids[4], ids[2], ids[0]]);
    let newest_two: Vec<i64> = store
        .messages(Some(OutboxStatus::Queued), 2)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(newest_two, vec![ids[4], ids[2]]);
    // A limit of 0 still returns the newest one rather than nothing.
    assert_eq!(store.messages(None, 0).unwrap().len(), 1);
    assert!(
        store
            .messages(Some(OutboxStatus::Delivered), 10)
            .unwrap()
            .is_empty()
    );
}

fn outbox_counts_per_kind_and_status(store: &dyn Store) {
    assert!(store.outbox_counts().unwrap().is_empty());
    for (k, id, st) in [
        (OutboxKind::Sed, "s1", OutboxStatus::Queued),
        (OutboxKind::Sed, "s2", OutboxStatus::Queued),
        (OutboxKind::Sed, "s3", OutboxStatus::Delivered),
        (OutboxKind::Receipt, "r1", OutboxStatus::Sent),
        (OutboxKind::National, "n1", OutboxStatus::Queued),
    ] {
        let mut m = message(k, id);
        m.status = st;
        enqueue(store, &m);
    }
    let want: BTreeMap<(OutboxKind, OutboxStatus), u64> = [
        ((OutboxKind::Sed, OutboxStatus::Queued), 2),
        ((OutboxKind::Sed, OutboxStatus::Delivered), 1),
        ((OutboxKind::Receipt, OutboxStatus::Sent), 1),
        ((OutboxKind::National, OutboxStatus::Queued), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(store.outbox_counts().unwrap(), want);
    // What health reads: the unsettled ones only.
    let unsettled: BTreeMap<_, _> = want
        .into_iter()
        .filter(|((_, s), _)| {
            matches!(
                s,
                OutboxStatus::Queued | OutboxStatus::Retrying | OutboxStatus::Failed
            )
        })
        .collect();
    assert_eq!(store.outbox_unsettled_counts().unwrap(), unsettled);
}

/// Health's counts read the status index, not the whole outbox: SQLite's plan for
/// the query says so (a probe must not scan millions of settled rows).
#[test]
fn health_counts_read_the_status_index() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).expect("open SQLite"));
    let c = rusqlite::Connection::open(&path).expect("raw connection");
    let plan: Vec<String> = c
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            super::sql::UNSETTLED_COUNTS
        ))
        .expect("the plan")
        .query_map([], |r| r.get::<_, String>(3))
        .expect("rows")
        .collect::<std::result::Result<_, _>>()
        .expect("text");
    assert!(
        plan.iter().any(|p| p.contains("USING INDEX outbox_due")
            || p.contains("USING COVERING INDEX outbox_due")),
        "{plan:?}"
    );
}

// ----- PostgreSQL only: migrations and locking -----

/// Several instances starting at once on an empty database: the advisory lock lets
/// one migrate while the others wait, then find nothing to do.
/// Both backends end with the same indexes (migration V6 gave SQLite the three
/// PostgreSQL had alone); primary keys and unique constraints aside.
#[test]
fn both_backends_have_the_same_indexes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).expect("open SQLite"));
    let c = rusqlite::Connection::open(&path).expect("raw connection");
    let mut st = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .expect("the indexes");
    let sqlite: std::collections::BTreeSet<String> = st
        .query_map([], |r| r.get(0))
        .expect("names")
        .collect::<rusqlite::Result<_>>()
        .expect("names");
    let scratch = Scratch::create();
    drop(PostgresStore::connect(scratch.config()).expect("open PostgreSQL"));
    let mut client = scratch
        .config()
        .connect(::postgres::NoTls)
        .expect("connect");
    let postgres: std::collections::BTreeSet<String> = client
        .query(
            "SELECT indexname::TEXT FROM pg_indexes WHERE schemaname = 'public' \
             AND indexname NOT LIKE '%\\_pkey'",
            &[],
        )
        .expect("the indexes")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(sqlite.contains("cases_updated_id"), "{sqlite:?}");
    assert_eq!(sqlite, postgres);
}

#[test]
fn postgres_migrations_apply_once_under_concurrent_start() {
    let scratch = Scratch::create();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let config = scratch.config();
            std::thread::spawn(move || PostgresStore::connect(config).map(|_| ()))
        })
        .collect();
    for s in starts {
        s.join().expect("no panic").expect("every instance starts");
    }
    // And once more on the migrated database.
    drop(PostgresStore::connect(scratch.config()).expect("restart"));
    let mut client = scratch
        .config()
        .connect(::postgres::NoTls)
        .expect("connect");
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .expect("schema_migrations")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let want: Vec<i32> = super::migrate::versions();
    assert_eq!(versions, want);
}

/// A migration recorded with another checksum means the list was edited after it
/// was applied: refuse to start rather than guess.
#[test]
fn postgres_refuses_an_edited_migration() {
    let scratch = Scratch::create();
    drop(PostgresStore::connect(scratch.config()).expect("first start"));
    let mut client = scratch
        .config()
        .connect(::postgres::NoTls)
        .expect("connect");
    client
        .batch_execute("UPDATE refinery_schema_history SET checksum = '1' WHERE version = 1")
        .expect("edit");
    let err = PostgresStore::connect(scratch.config())
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
}

/// `case_lock` inside a transaction locks the case: a second transaction locking
/// it waits for the first to commit and then sees the committed state, as with
/// SQLite's single writer. A plain `case_get` does not wait.
#[test]
fn postgres_case_lock_waits_for_a_concurrent_transition() {
    let scratch = Scratch::create();
    let store = std::sync::Arc::new(PostgresStore::connect(scratch.config()).expect("open"));
    let id = committed_case(&*store, "2025-01-01T00:00:00.000Z", "BE:ONSS");

    let mut first = store.begin().unwrap();
    assert!(first.case_lock(&id).unwrap().is_some());
    {
        let mut reader = store.begin().unwrap();
        assert!(reader.case_get(&id).unwrap().is_some(), "no wait");
    }
    let second = {
        let store = store.clone();
        let id = id.clone();
        std::thread::spawn(move || {
            let mut tx = store.begin().unwrap();
            let seen = tx.case_lock(&id).unwrap().expect("case").state;
            tx.commit().unwrap();
            seen
        })
    };
    // Commit only once the second transaction is blocked on the row lock, seen
    // from the server's side; bounded, so a missing lock fails instead of hanging.
    let mut admin = scratch
        .config()
        .connect(::postgres::NoTls)
        .expect("connect");
    let mut waiting = false;
    for _ in 0..500 {
        let n: i64 = admin
            .query_one(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .expect("pg_stat_activity")
            .get(0);
        if n > 0 {
            waiting = true;
            break;
        }
        if second.is_finished() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    first
        .case_set_state(
            &id,
            "awaiting_reply",
            "closed",
            CaseStatus::Closed,
            Some("awaiting_reply"),
        )
        .unwrap();
    first.commit().unwrap();
    let seen = second.join().expect("second transaction");
    assert!(
        waiting,
        "the second transaction did not wait for the case lock"
    );
    assert_eq!(seen, "closed");
}

/// `Switch::build` opens the store from async code and `serve` drops it there; the
/// sync client must do neither on the runtime's thread. In between, the store is
/// used as the switch uses it: from `spawn_blocking`.
#[test]
fn postgres_store_opens_and_closes_inside_async_code() {
    let scratch = Scratch::create();
    let config = scratch.config();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let store = std::sync::Arc::new(PostgresStore::connect(config).expect("open"));
        let s = store.clone();
        let counts = tokio::task::spawn_blocking(move || s.outbox_counts())
            .await
            .expect("no panic")
            .expect("counts");
        assert!(counts.is_empty());
        drop(store);
    });
}

// ----- parking, dead letters, audit, claims -----

fn due_message(id: &str, next_ms: i64) -> OutboxMessage {
    let mut m = OutboxMessage::new(
        OutboxKind::Sed,
        "eessi.ap",
        "NL",
        id.into(),
        BTreeMap::new(),
        b"body".to_vec(),
    );
    m.next_attempt_ms = next_ms;
    m
}

fn outbox_claim_leases_due_rows(store: &dyn Store) {
    let mut tx = store.begin().unwrap();
    tx.outbox_enqueue(&due_message("c1", 100)).unwrap();
    tx.outbox_enqueue(&due_message("c2", 100)).unwrap();
    tx.outbox_enqueue(&due_message("later", 10_000)).unwrap();
    tx.commit().unwrap();
    let claim = store
        .outbox_claim(Some(1_000), 10, u64::MAX, 5_000)
        .unwrap();
    assert_eq!(claim.now_ms, 1_000);
    let claimed = claim.messages;
    let ids: Vec<&str> = claimed.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2"]);
    assert!(
        claimed.iter().all(|m| m.next_attempt_ms <= 1_000),
        "claimed rows are returned as due"
    );
    let n = |at: i64| {
        store
            .outbox_claim(Some(at), 10, u64::MAX, 5_000)
            .unwrap()
            .messages
            .len()
    };
    // Leased: a second relay finds nothing until the lease is over.
    assert_eq!(n(1_001), 0);
    assert_eq!(n(6_000), 2);
    assert_eq!(n(20_000), 3);
}

/// One case's messages to one national queue go out one after the other: the
/// second waits until the first is settled (sent, or failed after its retries);
/// another institution's, another case's and SEDs abroad do not wait.
fn national_messages_of_a_case_are_claimed_in_case_order(store: &dyn Store) {
    let case = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let other_case = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let national = |id: &str, kind: OutboxKind, to: &str, case: &CaseId| {
        let mut m = due_message(id, 100);
        m.kind = kind;
        m.exchange = "eessi.national".into();
        m.routing_key = to.into();
        m.case_id = Some(case.clone());
        m
    };
    let mut tx = store.begin().unwrap();
    let first = tx
        .outbox_enqueue(&national("n1", OutboxKind::National, "BE:ONSS", &case))
        .unwrap();
    tx.outbox_enqueue(&national("n2", OutboxKind::Notice, "BE:ONSS", &case))
        .unwrap();
    tx.outbox_enqueue(&national("n3", OutboxKind::National, "BE:ONSS", &case))
        .unwrap();
    tx.outbox_enqueue(&national("i1", OutboxKind::National, "BE:INASTI", &case))
        .unwrap();
    tx.outbox_enqueue(&national(
        "o1",
        OutboxKind::National,
        "BE:ONSS",
        &other_case,
    ))
    .unwrap();
    tx.outbox_enqueue(&due_message("s1", 100)).unwrap();
    tx.commit().unwrap();
    let claim = |at: i64| -> Vec<String> {
        let mut ids: Vec<String> = store
            .outbox_claim(Some(at), 10, u64::MAX, 1_000)
            .unwrap()
            .messages
            .into_iter()
            .map(|m| m.message_id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(claim(1_000), ["i1", "n1", "o1", "s1"]);
    // n1 is leased, not settled: its successors still wait when the lease ends.
    assert_eq!(claim(2_500), ["i1", "n1", "o1", "s1"]);
    let sent = Change::to(OutboxStatus::Sent).attempt();
    let mut tx = store.begin().unwrap();
    assert!(
        tx.outbox_transition(first, OutboxKind::National, &sent)
            .unwrap()
    );
    tx.commit().unwrap();
    assert_eq!(claim(4_000), ["i1", "n2", "o1", "s1"]);
}

fn a_claim_is_bounded_in_body_bytes_beyond_its_first_row(store: &dyn Store) {
    let mut tx = store.begin().unwrap();
    for id in ["b1", "b2", "b3"] {
        // Each body is 4 bytes ("body").
        tx.outbox_enqueue(&due_message(id, 100)).unwrap();
    }
    tx.commit().unwrap();
    let ids = |bytes: u64, at: i64| -> Vec<String> {
        store
            .outbox_claim(Some(at), 10, bytes, 1_000)
            .unwrap()
            .messages
            .into_iter()
            .map(|m| m.message_id)
            .collect()
    };
    // At least one row, however small the bound.
    assert_eq!(ids(0, 200), ["b1"]);
    // The rest were not leased: the next claim takes them, within 8 bytes.
    assert_eq!(ids(8, 300), ["b2", "b3"]);
    assert!(ids(u64::MAX, 400).is_empty(), "all three leased");
    assert_eq!(ids(7, 5_000), ["b1"], "8 bytes would exceed 7");
}

fn a_claim_uses_the_store_clock_and_an_overdue_sent_sed_is_retrying(store: &dyn Store) {
    let local = crate::store::now_ms();
    let mut sent = due_message("sent-overdue", 0);
    sent.status = OutboxStatus::Sent;
    let mut tx = store.begin().unwrap();
    let sent_id = tx.outbox_enqueue(&sent).unwrap();
    tx.outbox_enqueue(&due_message("in-an-hour", local + 3_600_000))
        .unwrap();
    tx.commit().unwrap();
    let claim = store.outbox_claim(None, 10, u64::MAX, 60_000).unwrap();
    assert!((claim.now_ms - local).abs() < 5_000, "the store's clock");
    let ids: Vec<(i64, OutboxStatus)> = claim.messages.iter().map(|m| (m.id, m.status)).collect();
    assert_eq!(ids, [(sent_id, OutboxStatus::Retrying)]);
    let mut tx = store.begin().unwrap();
    let row = tx
        .outbox_by_message_id("sent-overdue", OutboxKind::Sed)
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OutboxStatus::Retrying);
    assert_eq!(row.next_attempt_ms, claim.now_ms + 60_000, "leased");
    drop(tx);
    // An empty claim still tells the time.
    assert!(
        store
            .outbox_claim(None, 10, u64::MAX, 60_000)
            .unwrap()
            .messages
            .is_empty()
    );
}

fn parked(id: &str, case: &CaseId, at: i64) -> ParkedMessage {
    ParkedMessage {
        message_id: id.into(),
        case_id: case.clone(),
        parked_at_ms: at,
        expires_at_ms: at + 1_000,
        properties: "{}".into(),
        body: vec![1, 2, 3],
        sender_country: "NL".into(),
        waits_document: None,
        waits_version: None,
    }
}

fn parked_messages_wait_for_their_predecessor_and_are_counted(store: &dyn Store) {
    let a = committed_case(store, "2025-01-01T00:00:00.000Z", "NL:SVB");
    let orphan = CaseId::random();
    let d = DocumentId::random();
    let mut tx = store.begin().unwrap();
    tx.parked_put(&parked("case-known", &a, 1)).unwrap();
    tx.parked_put(&ParkedMessage {
        waits_document: Some(d.clone()),
        ..parked("waits-doc", &a, 2)
    })
    .unwrap();
    tx.parked_put(&ParkedMessage {
        waits_document: Some(d.clone()),
        waits_version: Some(2),
        sender_country: "DE".into(),
        ..parked("waits-v2", &a, 3)
    })
    .unwrap();
    tx.parked_put(&parked("case-unknown", &orphan, 4)).unwrap();
    let counts = |per_case, per_access_point, bytes| ParkedCounts {
        per_case,
        per_access_point,
        per_access_point_bytes: bytes,
    };
    // Each body is 3 bytes.
    assert_eq!(tx.parked_counts(&a, "NL").unwrap(), counts(3, 3, 9));
    assert_eq!(tx.parked_counts(&orphan, "DE").unwrap(), counts(1, 1, 3));
    assert_eq!(tx.parked_counts(&orphan, "FR").unwrap(), counts(1, 0, 0));
    tx.commit().unwrap();
    let ready = |store: &dyn Store| -> Vec<String> {
        let mut tx = store.begin().unwrap();
        tx.parked_ready_for_case(&a)
            .unwrap()
            .into_iter()
            .map(|p| p.message_id)
            .collect()
    };
    assert_eq!(
        store.parked_ready_cases(10).unwrap(),
        std::slice::from_ref(&a)
    );
    assert_eq!(ready(store), ["case-known"]);
    // The document arrives (version 1): what waits for the document is ready, what
    // waits for its version 2 is not.
    let mut tx = store.begin().unwrap();
    tx.document_insert(&document(&d, &a, "2025-01-01T00:00:01.000Z"))
        .unwrap();
    tx.version_insert(&version(&d, 1)).unwrap();
    tx.commit().unwrap();
    assert_eq!(ready(store), ["case-known", "waits-doc"]);
    let mut tx = store.begin().unwrap();
    tx.version_insert(&version(&d, 2)).unwrap();
    let got = tx.parked_ready_for_case(&a).unwrap();
    assert_eq!(got.len(), 3, "seen inside the transaction that commits it");
    assert_eq!(got[2].waits_version, Some(2));
    assert_eq!(got[2].waits_document.as_ref(), Some(&d));
    assert_eq!(got[2].sender_country, "DE");
    tx.commit().unwrap();
    // The orphan's case never came: never ready.
    assert_eq!(store.parked_ready_cases(10).unwrap(), [a]);
}

fn parked_messages_by_case_and_expiry(store: &dyn Store) {
    let (a, b) = (CaseId::random(), CaseId::random());
    let mut tx = store.begin().unwrap();
    tx.parked_put(&parked("p2", &a, 20)).unwrap();
    tx.parked_put(&parked("p1", &a, 10)).unwrap();
    tx.parked_put(&parked("q1", &b, 5_000)).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.parked_count().unwrap(), 3);
    let mut tx = store.begin().unwrap();
    let of_a: Vec<String> = tx
        .parked_for_case(&a)
        .unwrap()
        .into_iter()
        .map(|p| p.message_id)
        .collect();
    assert_eq!(of_a, ["p1", "p2"], "oldest first");
    assert!(tx.parked_delete("p1").unwrap());
    assert!(!tx.parked_delete("p1").unwrap(), "taken once only");
    tx.commit().unwrap();
    let expired: Vec<String> = store
        .parked_expired(1_500, 10)
        .unwrap()
        .into_iter()
        .map(|p| p.message_id)
        .collect();
    assert_eq!(expired, ["p2"]);
    assert_eq!(store.parked_expired(10_000, 10).unwrap().len(), 2);
    let again = store.parked_expired(10_000, 10).unwrap();
    assert_eq!(again[0].body, vec![1, 2, 3]);
}

fn dead_letters_are_kept_and_marked(store: &dyn Store) {
    let d = DeadLetter {
        id: 0,
        message_id: Some("m".into()),
        queue: "eessi.ap.BE.dead".into(),
        properties: "{}".into(),
        body: b"x".to_vec(),
        dead_at: now_rfc3339(),
        reinjected_at: None,
    };
    let id = store.dead_letter_put(&d).unwrap();
    let id2 = store
        .dead_letter_put(&DeadLetter {
            message_id: None,
            ..d.clone()
        })
        .unwrap();
    assert!(id2 > id);
    let list = store.dead_letters(10).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, id2, "newest first");
    assert_eq!(store.dead_letter_get(id).unwrap().unwrap().body, b"x");
    assert!(store.dead_letter_get(id + 1000).unwrap().is_none());
    store.dead_letter_mark_reinjected(id).unwrap();
    assert!(
        store
            .dead_letter_get(id)
            .unwrap()
            .unwrap()
            .reinjected_at
            .is_some()
    );
}

fn audit_log_appends_and_filters(store: &dyn Store) {
    for (who, inst) in [("a", Some("BE:ONSS")), ("b", Some("BE:ONEM")), ("c", None)] {
        store
            .audit_append(&AuditEntry {
                at: now_rfc3339(),
                subject: who.into(),
                institution: inst.map(str::to_owned),
                action: "read-case".into(),
                target: "x".into(),
                remote: Some("127.0.0.1".into()),
            })
            .unwrap();
    }
    let all = store.audit_list(None, 10).unwrap();
    assert_eq!(
        all.iter().map(|e| e.subject.as_str()).collect::<Vec<_>>(),
        ["c", "b", "a"]
    );
    let onss = store.audit_list(Some("BE:ONSS"), 10).unwrap();
    assert_eq!(onss.len(), 1);
    assert_eq!(onss[0].subject, "a");
    store.ping().unwrap();
}

fn duplicates_are_conflicts(store: &dyn Store) {
    let mut tx = store.begin().unwrap();
    tx.parked_put(&parked("dup", &CaseId::random(), 1)).unwrap();
    tx.commit().unwrap();
    let mut tx = store.begin().unwrap();
    let err = tx
        .parked_put(&parked("dup", &CaseId::random(), 1))
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.is_transient());
}

fn messages_page_filters_by_institution_before_the_limit(store: &dyn Store) {
    // Eight messages of ONEM's, then two of ONSS's, then one answer of the access point.
    let mut onss = Vec::new();
    for i in 0..11 {
        let mut m = message(OutboxKind::Sed, &format!("p{i}"));
        let (from, to) = match i {
            0..8 => ("BE:ONEM", "NL:SVB"),
            8 => ("BE:ONSS", "NL:SVB"),
            9 => ("NL:SVB", "BE:ONSS"),
            _ => ("BE", "NL"),
        };
        m.headers.insert("eessi-from".into(), from.into());
        m.headers.insert("eessi-to".into(), to.into());
        if i == 9 {
            m.status = OutboxStatus::Failed;
        }
        let id = enqueue(store, &m);
        if (8..10).contains(&i) {
            onss.push(id);
        }
    }
    let ids = |page: Vec<OutboxMessage>| page.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let be_onss = inst("BE:ONSS");
    // The filter comes before the limit: ONSS's two are found under the newer ones.
    assert_eq!(
        ids(store.messages_page(None, Some(&be_onss), None, 5).unwrap()),
        vec![onss[1], onss[0]]
    );
    // Pages: each starts below the previous page's last id.
    let first = ids(store.messages_page(None, Some(&be_onss), None, 1).unwrap());
    assert_eq!(first, vec![onss[1]]);
    let second = ids(store
        .messages_page(None, Some(&be_onss), Some(first[0]), 1)
        .unwrap());
    assert_eq!(second, vec![onss[0]]);
    assert!(
        store
            .messages_page(None, Some(&be_onss), Some(second[0]), 1)
            .unwrap()
            .is_empty()
    );
    // Status and institution together; no institution: every message.
    assert_eq!(
        ids(store
            .messages_page(Some(OutboxStatus::Failed), Some(&be_onss), None, 10)
            .unwrap()),
        vec![onss[1]]
    );
    assert_eq!(
        store.messages_page(None, None, None, 100).unwrap().len(),
        11
    );
    assert!(
        store
            .messages_page(None, Some(&inst("BE:INASTI")), None, 10)
            .unwrap()
            .is_empty()
    );
}

// ----- retention -----

const DAY: i64 = 86_400_000;
/// 2025-06-01T00:00:00Z, the fake "now" of the retention checks.
const NOW: i64 = 1_748_736_000_000;

/// A retention step at `NOW`: bodies after 10 days, the duplicate window 30 days,
/// history 400 days.
fn prune_at(limit: u32) -> Prune {
    Prune {
        now_ms: NOW,
        body_before_ms: NOW - 10 * DAY,
        inbox_before_ms: NOW - 30 * DAY,
        history_before: retention::rfc3339(NOW - 400 * DAY),
        limit,
    }
}

/// An outbox row of `kind` in `status`, last changed `age_days` before `NOW`.
fn settled(kind: OutboxKind, id: &str, status: OutboxStatus, age_days: i64) -> OutboxMessage {
    let mut m = message(kind, id);
    m.status = status;
    m.updated_at = retention::rfc3339(NOW - age_days * DAY);
    m
}

fn inbox_row(message_id: &str, age_days: i64) -> InboxEntry {
    InboxEntry {
        message_id: message_id.into(),
        body_sha256: "ab".repeat(32),
        received_at: retention::rfc3339(NOW - age_days * DAY),
        case_id: None,
        answer_kind: AnswerKind::Receipt,
        answer_message_id: format!("ans-{message_id}"),
        answer_routing_key: "NL".into(),
        answer_headers: BTreeMap::new(),
        answer_timestamp: 1_735_689_600,
        answer_body: b"<receipt/>".to_vec(),
        error_code: None,
    }
}

fn prune_empties_only_settled_bodies_past_their_period(store: &dyn Store) {
    let rows = [
        // (row, pruned?)
        (
            settled(OutboxKind::Sed, "rejected-old", OutboxStatus::Rejected, 20),
            true,
        ),
        (
            settled(OutboxKind::Sed, "failed-old", OutboxStatus::Failed, 20),
            true,
        ),
        (
            settled(OutboxKind::National, "national-old", OutboxStatus::Sent, 20),
            true,
        ),
        (
            settled(OutboxKind::Receipt, "receipt-old", OutboxStatus::Failed, 20),
            true,
        ),
        // A delivered SED past the duplicate window too.
        (
            settled(
                OutboxKind::Sed,
                "delivered-older",
                OutboxStatus::Delivered,
                40,
            ),
            true,
        ),
        // Fresh: settled within body_days.
        (
            settled(OutboxKind::Sed, "rejected-fresh", OutboxStatus::Rejected, 5),
            false,
        ),
        (
            settled(
                OutboxKind::National,
                "national-fresh",
                OutboxStatus::Sent,
                5,
            ),
            false,
        ),
        // Not settled, however old.
        (
            settled(OutboxKind::Sed, "sent-old", OutboxStatus::Sent, 40),
            false,
        ),
        (
            settled(OutboxKind::Sed, "queued-old", OutboxStatus::Queued, 40),
            false,
        ),
        (
            settled(OutboxKind::Sed, "retrying-old", OutboxStatus::Retrying, 40),
            false,
        ),
        (
            settled(
                OutboxKind::National,
                "national-retrying",
                OutboxStatus::Retrying,
                40,
            ),
            false,
        ),
        // Delivered inside the duplicate window: a receipt is still checked
        // against its body's digest, and an error may still reject it.
        (
            settled(
                OutboxKind::Sed,
                "delivered-old",
                OutboxStatus::Delivered,
                20,
            ),
            false,
        ),
        // A kind the switch does not write is left alone.
    ];
    for (m, _) in &rows {
        enqueue(store, m);
    }
    let got = store.prune(&prune_at(100)).unwrap();
    assert_eq!(
        got,
        Pruned {
            outbox_bodies: 5,
            inbox_rows: 0,
            history_rows: 0,
            idempotency_rows: 0,
            triage_rows: 0,
            timer_rows: 0,
        }
    );
    let after: BTreeMap<String, OutboxMessage> = store
        .messages(None, 100)
        .unwrap()
        .into_iter()
        .map(|m| (m.message_id.clone(), m))
        .collect();
    for (m, pruned) in &rows {
        let a = &after[&m.message_id];
        if *pruned {
            assert!(a.body.is_empty(), "{} is pruned", m.message_id);
        } else {
            assert_eq!(a.body, m.body, "{} keeps its body", m.message_id);
        }
        // Pruning changes the body only.
        assert_eq!(a.status, m.status, "{}", m.message_id);
        assert_eq!(a.updated_at, m.updated_at, "{}", m.message_id);
        assert_eq!(a.headers, m.headers, "{}", m.message_id);
    }
    // Pruned rows are not counted again.
    assert_eq!(store.prune(&prune_at(100)).unwrap(), Pruned::default());
    // A pruned delivered SED may still be rejected by a late error.
    let delivered = after["delivered-older"].id;
    let mut tx = store.begin().unwrap();
    assert!(
        tx.outbox_transition(
            delivered,
            OutboxKind::Sed,
            &Change::to(OutboxStatus::Rejected)
        )
        .unwrap()
    );
    tx.commit().unwrap();
}

fn prune_keeps_inbox_rows_inside_the_duplicate_window_and_old_history_goes(store: &dyn Store) {
    let case_id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let mut tx = store.begin().unwrap();
    for (id, age) in [("in-old", 40), ("in-recent", 10), ("in-parked", 40)] {
        tx.inbox_put(&inbox_row(id, age)).unwrap();
    }
    // Still parked: its receipt is replaced by UNKNOWN_CASE when it expires.
    tx.parked_put(&parked("in-parked", &case_id, NOW)).unwrap();
    for (detail, age) in [("old", 500), ("recent", 10)] {
        let mut h = history("sed-received", detail);
        h.at = retention::rfc3339(NOW - age * DAY);
        tx.history_append(&case_id, &h).unwrap();
    }
    tx.commit().unwrap();

    // With history kept forever, only the inbox row past the window goes.
    let keep_history = Prune {
        history_before: String::new(),
        ..prune_at(100)
    };
    assert_eq!(
        store.prune(&keep_history).unwrap(),
        Pruned {
            outbox_bodies: 0,
            inbox_rows: 1,
            history_rows: 0,
            idempotency_rows: 0,
            triage_rows: 0,
            timer_rows: 0,
        }
    );
    assert_eq!(
        store.case_detail(&case_id).unwrap().unwrap().history.len(),
        2
    );

    let mut tx = store.begin().unwrap();
    assert!(tx.inbox_get("in-old").unwrap().is_none());
    assert_eq!(
        tx.inbox_get("in-parked").unwrap(),
        Some(inbox_row("in-parked", 40))
    );
    // Inside the window a redelivery is still recognised: the stored answer is
    // there, and a second answer is refused.
    assert_eq!(
        tx.inbox_get("in-recent").unwrap(),
        Some(inbox_row("in-recent", 10))
    );
    let e = tx
        .inbox_put(&inbox_row("in-recent", 0))
        .expect_err("a duplicate");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    drop(tx);

    assert_eq!(
        store.prune(&prune_at(100)).unwrap(),
        Pruned {
            outbox_bodies: 0,
            inbox_rows: 0,
            history_rows: 1,
            idempotency_rows: 0,
            triage_rows: 0,
            timer_rows: 0,
        }
    );
    let history: Vec<String> = store
        .case_detail(&case_id)
        .unwrap()
        .unwrap()
        .history
        .into_iter()
        .map(|h| h.detail)
        .collect();
    assert_eq!(history, ["recent"]);
}

fn prune_is_bounded_by_its_limit(store: &dyn Store) {
    let case_id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let mut tx = store.begin().unwrap();
    for i in 0..5 {
        tx.outbox_enqueue(&settled(
            OutboxKind::Sed,
            &format!("s{i}"),
            OutboxStatus::Failed,
            20,
        ))
        .unwrap();
        tx.inbox_put(&inbox_row(&format!("in-{i}"), 40)).unwrap();
        let mut h = history("sed-received", "old");
        h.at = retention::rfc3339(NOW - 500 * DAY);
        tx.history_append(&case_id, &h).unwrap();
    }
    tx.commit().unwrap();
    let mut calls = Vec::new();
    let mut total = Pruned::default();
    loop {
        let got = store.prune(&prune_at(2)).unwrap();
        calls.push(got);
        total.add(&got);
        if got.caught_up(2) {
            break;
        }
    }
    let each = |n| Pruned {
        outbox_bodies: n,
        inbox_rows: n,
        history_rows: n,
        idempotency_rows: 0,
        triage_rows: 0,
        timer_rows: 0,
    };
    assert_eq!(calls, [each(2), each(2), each(1)]);
    assert_eq!(total, each(5));
    assert!(
        store
            .messages(None, 100)
            .unwrap()
            .iter()
            .all(|m| m.body.is_empty())
    );
}

/// A database written before retention and before recorded migrations has no
/// `body_pruned_at` and no history: opening it baselines it at version 4 and runs 5
/// (once; opening again changes nothing), and pruning works on it.
#[test]
fn sqlite_adds_the_retention_column_to_an_older_database() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).expect("create"));
    {
        let c = rusqlite::Connection::open(&path).expect("raw connection");
        c.execute_batch(
            "DROP TABLE refinery_schema_history; DROP INDEX cases_updated_id; \
             DROP INDEX cases_created_id; DROP INDEX cases_status_updated; \
             DROP INDEX cases_buc_updated; DROP INDEX cases_sector_updated; \
             DROP INDEX cases_state_updated; DROP INDEX cases_reply_due; \
             DROP INDEX participants_country; DROP INDEX outbox_status_case; \
             DROP TABLE case_persons; ALTER TABLE cases DROP COLUMN sector; \
             ALTER TABLE cases DROP COLUMN reply_due; ALTER TABLE participants DROP COLUMN country; \
             CREATE INDEX cases_updated ON cases(updated_at); DROP INDEX outbox_unpruned; \
             DROP INDEX inbox_received; DROP INDEX history_at; \
             ALTER TABLE outbox DROP COLUMN body_pruned_at; \
             DROP TABLE idempotency; DROP TABLE triage; DROP TABLE timers; DROP TABLE drafts; \
             ALTER TABLE outbox DROP COLUMN body_version; \
             DROP TABLE outbox_bodies; ALTER TABLE outbox DROP COLUMN body_bytes; \
             ALTER TABLE outbox ADD COLUMN body BLOB NOT NULL DEFAULT x'';",
        )
        .expect("back to the older schema");
    }
    let store = SqliteStore::open(&path).expect("upgrade");
    enqueue(
        &store,
        &settled(OutboxKind::Sed, "rejected-old", OutboxStatus::Rejected, 20),
    );
    drop(store);
    let store = SqliteStore::open(&path).expect("open again");
    assert_eq!(store.prune(&prune_at(10)).unwrap().outbox_bodies, 1);
    let c = rusqlite::Connection::open(&path).expect("raw connection");
    let pruned_at: Option<String> = c
        .query_row("SELECT body_pruned_at FROM outbox", [], |r| r.get(0))
        .expect("the column");
    assert_eq!(pruned_at, Some(retention::rfc3339(NOW)));
}

// ----- upgrading a database written by main 1b15284 (before recorded migrations) -----

const FIXTURE_CASE: &str = "11111111111141118111111111111111";

/// What the upgrade fixtures hold (`fixtures/upgrade/README.md`) reads back through
/// the new store, a new write works, and the migration history is complete.
fn check_upgraded(store: &dyn Store, history: Vec<i32>) {
    assert_eq!(history, super::migrate::versions());
    let c1 = CaseId::parse(FIXTURE_CASE).unwrap();
    let d = store.case_detail(&c1).unwrap().expect("the fixture's case");
    assert_eq!(d.case.status, CaseStatus::Open);
    assert_eq!(d.participants.len(), 2);
    assert_eq!(d.conversations.len(), 1);
    assert_eq!(d.documents.len(), 1);
    assert_eq!(d.documents[0].0.direction, Direction::Out);
    assert_eq!(d.documents[0].1.len(), 2, "both versions");
    assert_eq!(d.history.len(), 2);
    assert_eq!(d.messages.len(), 2);
    let c2 = CaseId::parse("22222222222242228222222222222222").unwrap();
    let d2 = store.case_detail(&c2).unwrap().expect("the closed case");
    assert_eq!(d2.case.status, CaseStatus::Closed);
    assert_eq!(d2.documents[0].0.status, DocumentStatus::Received);
    let counts = store.outbox_counts().unwrap();
    assert_eq!(counts.get(&(OutboxKind::Sed, OutboxStatus::Sent)), Some(&1));
    assert_eq!(
        counts.get(&(OutboxKind::National, OutboxStatus::Queued)),
        Some(&1)
    );
    assert_eq!(
        counts.get(&(OutboxKind::Receipt, OutboxStatus::Queued)),
        Some(&1)
    );
    let mut tx = store.begin().unwrap();
    let answer = tx
        .inbox_get("fixture-in-1")
        .unwrap()
        .expect("the inbox row");
    assert_eq!(answer.answer_kind, AnswerKind::Receipt);
    assert_eq!(answer.answer_body, vec![1, 2, 3]);
    let sed = tx
        .outbox_lock_by_message_id("fixture-sed-1", OutboxKind::Sed)
        .unwrap()
        .expect("the SED");
    // Its body moved to `outbox_bodies` (V7), byte for byte.
    assert_eq!(sed.body, vec![0x00, 0xc3, 0x28, 0x78]);
    assert!(
        tx.outbox_transition(
            sed.id,
            OutboxKind::Sed,
            &Change::to(OutboxStatus::Delivered)
        )
        .unwrap()
    );
    tx.commit().unwrap();
    assert_eq!(store.parked_count().unwrap(), 1);
    assert_eq!(store.dead_letters(10).unwrap().len(), 1);
    assert_eq!(store.audit_list(None, 10).unwrap().len(), 1);
    // New writes work, identities continue after the old rows.
    let id = committed_case(store, "2025-02-01T00:00:00.000Z", "BE:ONSS");
    let new_row = enqueue(store, &message(OutboxKind::Sed, "after-upgrade"));
    assert!(new_row > sed.id);
    assert!(store.case_detail(&id).unwrap().is_some());
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/upgrade")
        .join(name)
}

#[test]
fn sqlite_upgrades_a_database_of_main_1b15284() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store.db");
    std::fs::copy(fixture("sqlite-main-1b15284.db"), &path).expect("copy the fixture");
    let history = |path: &std::path::Path| -> Vec<i32> {
        let c = rusqlite::Connection::open(path).expect("raw connection");
        let mut st = c
            .prepare("SELECT version FROM refinery_schema_history ORDER BY version")
            .expect("the history");
        st.query_map([], |r| r.get(0))
            .expect("versions")
            .collect::<rusqlite::Result<Vec<i32>>>()
            .expect("versions")
    };
    {
        let store = SqliteStore::open(&path).expect("upgrade");
        check_upgraded(&store, history(&path));
    }
    // Opening again runs nothing more.
    drop(SqliteStore::open(&path).expect("open again"));
    assert_eq!(history(&path), super::migrate::versions());
}

#[test]
fn postgres_upgrades_a_database_of_main_1b15284() {
    let scratch = Scratch::create();
    let config = scratch.config();
    let host = match config.get_hosts().first() {
        Some(::postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or("postgres").to_owned();
    let out = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            &host,
            "-p",
            &port,
            "-U",
            &user,
        ])
        .args(["-d", &scratch.name, "-f"])
        .arg(fixture("postgres-main-1b15284.sql"))
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let history = |config: &::postgres::Config| -> Vec<i32> {
        let mut c = config.connect(::postgres::NoTls).expect("connect");
        c.query(
            "SELECT version FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .expect("the history")
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    {
        let store = PostgresStore::connect(scratch.config()).expect("upgrade");
        check_upgraded(&store, history(&config));
    }
    drop(PostgresStore::connect(scratch.config()).expect("open again"));
    assert_eq!(history(&config), super::migrate::versions());
}

// ----- the case list (issue 12, item 2) -----

fn person(family: &str, forename: &str, born: &str, pin: (&str, &str)) -> PersonKey {
    PersonKey {
        family: family.into(),
        forename: forename.into(),
        birth_date: born.into(),
        pin_country: pin.0.into(),
        pin: pin.1.into(),
    }
}

/// One case with the given BUC, state, times, participants and persons.
#[allow(clippy::too_many_arguments)]
fn listed_case(
    store: &dyn Store,
    buc: &str,
    state: &str,
    created: &str,
    updated: &str,
    who: &[&str],
    persons: &[PersonKey],
) -> CaseId {
    let id = CaseId::random();
    let mut c = case(&id, updated);
    c.buc = BucType::parse(buc).expect("BUC");
    c.state = state.into();
    c.created_at = created.into();
    let mut tx = store.begin().expect("begin");
    tx.case_insert(&c).expect("case");
    for (i, w) in who.iter().enumerate() {
        let role = if i == 0 {
            Role::CaseOwner
        } else {
            Role::Counterparty
        };
        tx.participant_add(&id, &participant(w, role))
            .expect("participant");
    }
    tx.case_persons_add(&id, persons).expect("persons");
    // Twice: a person is indexed once per case.
    tx.case_persons_add(&id, persons).expect("persons again");
    tx.commit().expect("commit");
    id
}

fn the_case_list_filters_sorts_and_pages_with_a_stable_cursor(store: &dyn Store) {
    let ids = |f: &CaseFilter| -> Vec<CaseId> {
        store
            .cases(f)
            .expect("list")
            .into_iter()
            .map(|(c, _)| c.case_id)
            .collect()
    };
    let set = |v: Vec<CaseId>| -> std::collections::BTreeSet<CaseId> { v.into_iter().collect() };
    let verhoeven = person("verhoeven", "lotte", "1985-07-31", ("BE", "85073100229"));
    let dupont = person(
        "dupont van der bruggen",
        "elodie",
        "1990-01-02",
        ("FR", "190017512345678"),
    );
    let a = listed_case(
        store,
        "LA_BUC_02",
        "awaiting_reply",
        "2026-01-01T10:00:00.000Z",
        "2026-01-05T10:00:00.000Z",
        &["BE:ONSS", "NL:SVB"],
        std::slice::from_ref(&verhoeven),
    );
    let b = listed_case(
        store,
        "P_BUC_01",
        "started",
        "2026-01-02T10:00:00.000Z",
        "2026-01-04T10:00:00.000Z",
        &["BE:SFP", "FR:CNAV"],
        std::slice::from_ref(&dupont),
    );
    let c = listed_case(
        store,
        "LA_BUC_01",
        "awaiting_reply",
        "2026-01-03T10:00:00.000Z",
        "2026-01-03T10:00:00.000Z",
        &["BE:ONSS", "DE:DRV"],
        &[verhoeven.clone(), dupont.clone()],
    );
    let d = listed_case(
        store,
        "H_BUC_01",
        "closed",
        "2026-01-04T10:00:00.000Z",
        "2026-01-06T10:00:00.000Z",
        &["BE:INAMI", "NL:SVB"],
        &[],
    );
    // c awaits a reply due on the 10th; a failed SED on b; a parked message on d.
    let mut tx = store.begin().unwrap();
    tx.case_set_reply_due(&c, Some("2026-01-10T00:00:00.000Z"))
        .unwrap();
    tx.commit().unwrap();
    let mut failed = message(OutboxKind::Sed, "failed-1");
    failed.case_id = Some(b.clone());
    failed.status = OutboxStatus::Failed;
    enqueue(store, &failed);
    let mut tx = store.begin().unwrap();
    tx.parked_put(&parked("parked-1", &d, 1)).unwrap();
    tx.commit().unwrap();

    let all = CaseFilter::default();
    assert_eq!(
        ids(&all),
        vec![d.clone(), a.clone(), b.clone(), c.clone()],
        "last changed first"
    );
    let f = |g: fn(&mut CaseFilter)| {
        let mut f = CaseFilter::default();
        g(&mut f);
        set(ids(&f))
    };
    let want = |v: &[&CaseId]| {
        v.iter()
            .map(|c| (*c).clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(f(|f| f.person_name = Some("verh".into())), want(&[&a, &c]));
    assert_eq!(
        f(|f| f.person_name = Some("lot".into())),
        want(&[&a, &c]),
        "forename prefix"
    );
    assert_eq!(
        f(|f| f.person_name = Some("dupont van".into())),
        want(&[&b, &c])
    );
    assert_eq!(
        f(|f| f.person_name = Some("verhoeven lo".into())),
        want(&[&a, &c]),
        "family forename"
    );
    assert_eq!(f(|f| f.person_name = Some("verhoeven x".into())), want(&[]));
    assert_eq!(
        f(|f| f.person_name = Some("erhoeven".into())),
        want(&[]),
        "a prefix, not a substring"
    );
    assert_eq!(
        f(|f| f.birth_date = Some("1990-01-02".into())),
        want(&[&b, &c])
    );
    assert_eq!(f(|f| f.pin = Some("85073100229".into())), want(&[&a, &c]));
    assert_eq!(
        f(|f| f.pin = Some("8507310022".into())),
        want(&[]),
        "a PIN is whole"
    );
    assert_eq!(
        f(|f| {
            f.pin = Some("85073100229".into());
            f.birth_date = Some("1990-01-02".into());
        }),
        want(&[]),
        "one person's PIN and another's birth date are not one person"
    );
    assert_eq!(
        f(|f| f.buc = Some(BucType::parse("LA_BUC_02").unwrap())),
        want(&[&a])
    );
    assert_eq!(f(|f| f.sector = Some("LA".into())), want(&[&a, &c]));
    assert_eq!(f(|f| f.sector = Some("H".into())), want(&[&d]));
    assert_eq!(
        f(|f| f.state = Some("awaiting_reply".into())),
        want(&[&a, &c])
    );
    assert_eq!(
        f(|f| f.counterpart_country = Some(crate::ids::Country::parse("NL").unwrap())),
        want(&[&a, &d])
    );
    assert_eq!(
        f(|f| f.counterpart_institution = Some(inst("DE:DRV"))),
        want(&[&c])
    );
    assert_eq!(
        f(|f| f.overdue_at = Some("2026-01-10T00:00:00.000Z".into())),
        want(&[&c])
    );
    assert_eq!(
        f(|f| f.overdue_at = Some("2026-01-09T23:59:59.999Z".into())),
        want(&[]),
        "not due yet"
    );
    assert_eq!(f(|f| f.has_failed = true), want(&[&b]));
    // The list page's marker asks of exactly its cases.
    let page = [a.clone(), b.clone(), c.clone(), d.clone()];
    assert_eq!(
        store.cases_with_failed(&page).unwrap(),
        std::collections::HashSet::from([b.clone()])
    );
    assert!(
        store
            .cases_with_failed(std::slice::from_ref(&a))
            .unwrap()
            .is_empty()
    );
    assert!(store.cases_with_failed(&[]).unwrap().is_empty());
    assert_eq!(f(|f| f.has_parked = true), want(&[&d]));
    assert_eq!(
        f(|f| {
            f.created_from = Some("2026-01-02T00:00:00.000Z".into());
            f.created_to = Some("2026-01-04T00:00:00.000Z".into());
        }),
        want(&[&b, &c])
    );
    assert_eq!(
        f(|f| f.updated_from = Some("2026-01-05T00:00:00.000Z".into())),
        want(&[&a, &d])
    );
    assert_eq!(
        f(|f| {
            f.sector = Some("LA".into());
            f.institution = Some(inst("NL:SVB"));
        }),
        want(&[&a]),
        "filters combine"
    );

    // Sorts.
    let mut by_created = CaseFilter {
        sort: CaseSort::Created,
        ..Default::default()
    };
    assert_eq!(
        ids(&by_created),
        vec![d.clone(), c.clone(), b.clone(), a.clone()]
    );
    let by_id = CaseFilter {
        sort: CaseSort::Id,
        ..Default::default()
    };
    let mut sorted = vec![a.clone(), b.clone(), c.clone(), d.clone()];
    sorted.sort();
    assert_eq!(ids(&by_id), sorted);

    // Pages of two, in every sort, each case once, in order; a case inserted
    // between pages (newer than all) does not shift the second page.
    for sort in [CaseSort::Updated, CaseSort::Created, CaseSort::Id] {
        let whole = ids(&CaseFilter {
            sort,
            ..Default::default()
        });
        let mut page = CaseFilter {
            sort,
            limit: 2,
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut inserted = false;
        loop {
            let rows = store.cases(&page).unwrap();
            let Some((last, _)) = rows.last() else { break };
            page.after = Some(CaseCursor::after(last, sort));
            seen.extend(rows.iter().map(|(c, _)| c.case_id.clone()));
            if !inserted {
                inserted = true;
                let newer = listed_case(
                    store,
                    "S_BUC_01",
                    "started",
                    "2026-02-01T00:00:00.000Z",
                    "2026-02-01T00:00:00.000Z",
                    &["BE:INAMI"],
                    &[],
                );
                if sort == CaseSort::Id {
                    // UUIDv7 ids grow: the new case comes last, and is listed.
                    let mut w = whole.clone();
                    w.push(newer);
                    let rest = w[seen.len()..].to_vec();
                    let next = store.cases(&page).unwrap();
                    assert_eq!(next[0].0.case_id, rest[0], "{sort}");
                }
            }
        }
        assert_eq!(
            seen[..whole.len()],
            whole[..],
            "{sort}: pages are the whole list in order"
        );
    }
    // A cursor of another sort is ignored by the store (the API refuses it).
    by_created.after = Some(CaseCursor::after(
        &store.case_record(&a).unwrap().unwrap(),
        CaseSort::Updated,
    ));
    assert_eq!(ids(&by_created).len(), 7);
}

/// The statement of every main filter, how its set filters are read, and the
/// indexes its plan must use (the same names on both backends).
#[allow(clippy::type_complexity)]
fn case_list_plans() -> Vec<(
    &'static str,
    CaseFilter,
    super::sql::Broad,
    Vec<&'static str>,
)> {
    use super::sql::Broad;
    let f = |g: fn(&mut CaseFilter)| {
        let mut f = CaseFilter::default();
        g(&mut f);
        f
    };
    let few = Broad::default();
    let many = Broad {
        person: true,
        overdue: true,
    };
    let name = f(|f| f.person_name = Some("verh".into()));
    let overdue = f(|f| f.overdue_at = Some("2026-01-01T00:00:00.000Z".into()));
    vec![
        ("first page", f(|_| {}), few, vec!["cases_updated_id"]),
        (
            "deep page",
            f(|f| {
                f.after = Some(CaseCursor {
                    sort: CaseSort::Updated,
                    key: "2026-01-01T00:00:00.000Z".into(),
                    case_id: CaseId::random(),
                })
            }),
            few,
            vec!["cases_updated_id"],
        ),
        (
            "status",
            f(|f| f.status = Some(CaseStatus::Open)),
            few,
            vec!["cases_status_updated"],
        ),
        (
            "buc",
            f(|f| f.buc = Some(BucType::parse("LA_BUC_02").unwrap())),
            few,
            vec!["cases_buc_updated"],
        ),
        (
            "sector",
            f(|f| f.sector = Some("LA".into())),
            few,
            vec!["cases_sector_updated"],
        ),
        (
            "state",
            f(|f| f.state = Some("awaiting_reply".into())),
            few,
            vec!["cases_state_updated"],
        ),
        (
            "name",
            name.clone(),
            few,
            vec!["case_persons_family", "case_persons_forename"],
        ),
        (
            "a common name",
            name,
            many,
            vec!["cases_updated_id", "case_persons"],
        ),
        (
            "birth date",
            f(|f| f.birth_date = Some("1985-07-31".into())),
            few,
            vec!["case_persons_birth"],
        ),
        (
            "pin",
            f(|f| f.pin = Some("85073100229".into())),
            few,
            vec!["case_persons_pin"],
        ),
        ("overdue", overdue.clone(), few, vec!["cases_reply_due"]),
        ("many overdue", overdue, many, vec!["cases_updated_id"]),
        (
            "failed",
            f(|f| f.has_failed = true),
            few,
            vec!["outbox_status_case"],
        ),
        (
            "parked",
            f(|f| f.has_parked = true),
            few,
            vec!["parked_case"],
        ),
        (
            "created range",
            f(|f| {
                f.sort = CaseSort::Created;
                f.created_from = Some("2026-01-01T00:00:00.000Z".into());
            }),
            few,
            vec!["cases_created_id"],
        ),
        (
            "institution",
            f(|f| f.institution = Some(inst("BE:ONSS"))),
            few,
            vec!["cases_updated_id", "participants"],
        ),
        (
            "country",
            f(|f| f.counterpart_country = Some(crate::ids::Country::parse("NL").unwrap())),
            few,
            vec!["cases_updated_id", "participants"],
        ),
    ]
}

fn plan_values(ps: &[super::sql::Param]) -> Vec<super::sql::Value<'_>> {
    ps.iter().map(super::sql::Param::value).collect()
}

/// `EXPLAIN QUERY PLAN` of each main filter on SQLite: no full scan of a table,
/// and the filter's own index.
#[test]
fn sqlite_answers_every_case_list_filter_from_an_index() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).expect("open SQLite"));
    let c = rusqlite::Connection::open(&path).expect("raw connection");
    for (what, f, broad, indexes) in case_list_plans() {
        let (sql, ps) = super::sql::case_list_query(&f, 50, broad);
        let text = format!(
            "EXPLAIN QUERY PLAN {}",
            super::sql::render(&sql, super::sql::Dialect::Sqlite)
        );
        let mut st = c.prepare(&text).expect("prepare");
        let plan: Vec<String> = st
            .query_map(rusqlite::params_from_iter(plan_values(&ps)), |r| {
                r.get::<_, String>(3)
            })
            .expect("plan")
            .collect::<rusqlite::Result<_>>()
            .expect("plan rows");
        let text = plan.join(" | ");
        assert!(
            !plan
                .iter()
                .any(|l| l.starts_with("SCAN ") && !l.contains(" INDEX ")),
            "{what}: a full scan: {text}"
        );
        for index in indexes {
            assert!(text.contains(index), "{what}: {index} not used: {text}");
        }
    }
}

/// `EXPLAIN` of each main filter on PostgreSQL, with sequential scans priced out
/// (`enable_seqscan = off`: an empty table would otherwise be scanned, being
/// cheapest): a plan that still scans a table has no index for it.
#[test]
fn postgres_answers_every_case_list_filter_from_an_index() {
    let scratch = Scratch::create();
    drop(PostgresStore::connect(scratch.config()).expect("open PostgreSQL"));
    let mut client = scratch
        .config()
        .connect(::postgres::NoTls)
        .expect("connect");
    client
        .batch_execute("SET enable_seqscan = off")
        .expect("set");
    for (what, f, broad, indexes) in case_list_plans() {
        let (sql, ps) = super::sql::case_list_query(&f, 50, broad);
        let text = format!(
            "EXPLAIN {}",
            super::sql::render(&sql, super::sql::Dialect::Postgres)
        );
        let values = plan_values(&ps);
        let params: Vec<&(dyn ::postgres::types::ToSql + Sync)> = values
            .iter()
            .map(|p| p as &(dyn ::postgres::types::ToSql + Sync))
            .collect();
        let plan: Vec<String> = client
            .query(text.as_str(), &params)
            .expect("explain")
            .iter()
            .map(|r| r.get(0))
            .collect();
        let text = plan.join(" | ");
        assert!(!text.contains("Seq Scan"), "{what}: a full scan: {text}");
        let many = indexes.len() > 1;
        for index in indexes {
            // Either participants index (the key, or the country's) will do.
            let index = if index == "participants" {
                "participants_"
            } else {
                index
            };
            // PostgreSQL's planner follows its statistics: with another index
            // that answers the filter, it may read that one and sort (SQLite
            // walks the sort's index as told).
            if index == "cases_updated_id" && (broad != super::sql::Broad::default() || many) {
                continue;
            }
            assert!(text.contains(index), "{what}: {index} not used: {text}");
        }
    }
}

// ----- drafts -----

fn drafts_are_kept_per_sed_replaced_bounded_and_deleted(store: &dyn Store) {
    let case_id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let related = DocumentId::random();
    let key = |sed: &str, related: Option<DocumentId>| DraftKey {
        case_id: case_id.clone(),
        sender: InstitutionId::parse("BE:ONSS").unwrap(),
        sed: SedType::parse(sed).unwrap(),
        receiver: InstitutionId::parse("NL:SVB").unwrap(),
        related,
    };
    let draft = |k: DraftKey, values: &str| Draft {
        key: k,
        token: "t1".into(),
        field_values: values.into(),
        updated_at: "2025-01-01T00:00:01.000Z".into(),
        updated_by: "handler".into(),
    };
    let a004 = key("A004", Some(related.clone()));
    assert_eq!(store.draft_get(&a004).unwrap(), None);
    let mut tx = store.begin().unwrap();
    assert!(
        tx.draft_put(&draft(a004.clone(), r#"{"a":"1"}"#), 2)
            .unwrap()
    );
    // The same draft again replaces its values; it is still one.
    assert!(
        tx.draft_put(&draft(a004.clone(), r#"{"a":"2"}"#), 2)
            .unwrap()
    );
    // Another SED of the same case, without a related document.
    assert!(tx.draft_put(&draft(key("X009", None), "{}"), 2).unwrap());
    // A third is refused by the bound, and writes nothing; a replacement still goes.
    assert!(!tx.draft_put(&draft(key("A012", None), "{}"), 2).unwrap());
    assert!(
        tx.draft_put(&draft(a004.clone(), r#"{"a":"3"}"#), 2)
            .unwrap()
    );
    tx.commit().unwrap();
    let got = store.draft_get(&a004).unwrap().unwrap();
    assert_eq!(got.field_values, r#"{"a":"3"}"#);
    assert_eq!(got.key, a004);
    assert!(
        !format!("{got:?}").contains("\"a\""),
        "Debug shows no values"
    );
    let all = store.drafts_of_case(&case_id).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|d| d.key.related.is_none()));
    assert_eq!(
        store.draft_get(&key("A004", None)).unwrap(),
        None,
        "the related document counts"
    );
    let mut tx = store.begin().unwrap();
    assert!(tx.draft_delete(&a004).unwrap());
    assert!(!tx.draft_delete(&a004).unwrap());
    tx.commit().unwrap();
    assert_eq!(store.draft_get(&a004).unwrap(), None);
    assert_eq!(store.drafts_of_case(&case_id).unwrap().len(), 1);
}

// ----- durable timers -----

fn put_timer(store: &dyn Store, case_id: &CaseId, what: TimerKind, due_ms: i64) -> i64 {
    let mut tx = store.begin().unwrap();
    assert!(tx.timer_put(case_id, what, "", due_ms).unwrap());
    let id = tx
        .timers_of(case_id)
        .unwrap()
        .into_iter()
        .find(|t| t.what == what && t.due_ms == due_ms)
        .expect("the timer just put")
        .id;
    tx.commit().unwrap();
    id
}

fn timers_are_put_once_and_move_by_compare_and_set(store: &dyn Store) {
    let case_id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let doc = DocumentId::random();
    let mut tx = store.begin().unwrap();
    assert!(
        tx.timer_put(&case_id, TimerKind::Remind, doc.as_str(), 1_000)
            .unwrap()
    );
    // The same case, what, subject and due time again: not a second timer.
    assert!(
        !tx.timer_put(&case_id, TimerKind::Remind, doc.as_str(), 1_000)
            .unwrap()
    );
    assert!(tx.timer_put(&case_id, TimerKind::Close, "", 5_000).unwrap());
    tx.commit().unwrap();
    let all = store.timers_of_case(&case_id).unwrap();
    assert_eq!(all.len(), 2);
    let remind = all[0].clone();
    assert_eq!(
        (
            remind.what,
            remind.status,
            remind.subject.as_str(),
            remind.attempts
        ),
        (TimerKind::Remind, TimerStatus::Pending, doc.as_str(), 0)
    );
    // Not due yet: nothing is claimed.
    assert!(store.timer_claim(999, 10, 100).unwrap().is_empty());
    // Due: claimed once, firing under a lease.
    let c = store.timer_claim(1_000, 10, 100).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].id, c[0].status, c[0].lease_until_ms, c[0].attempts),
        (remind.id, TimerStatus::Firing, 1_100, 1)
    );
    assert!(
        store.timer_claim(1_050, 10, 100).unwrap().is_empty(),
        "leased"
    );
    // The lease ended (the claimer crashed): claimed again.
    let again = store.timer_claim(1_100, 10, 100).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    // Compare-and-set: only from the statuses named.
    let mut tx = store.begin().unwrap();
    assert!(
        !tx.timer_transition(
            remind.id,
            &[TimerStatus::Pending],
            TimerStatus::Cancelled,
            None
        )
        .unwrap()
    );
    assert!(
        tx.timer_transition(
            remind.id,
            &[TimerStatus::Firing],
            TimerStatus::Fired,
            Some("sent")
        )
        .unwrap()
    );
    assert!(
        !tx.timer_transition(
            remind.id,
            &[TimerStatus::Firing],
            TimerStatus::Failed,
            Some("late")
        )
        .unwrap()
    );
    tx.commit().unwrap();
    // Fired: never claimed again, its outcome kept.
    assert!(
        store.timer_claim(i64::MAX / 2, 10, 100).unwrap().len() == 1,
        "only the closure"
    );
    let fired = store.timers_of_case(&case_id).unwrap();
    assert_eq!(fired[0].status, TimerStatus::Fired);
    assert_eq!(fired[0].outcome.as_deref(), Some("sent"));
    // The case's detail carries the same timers, read in its one snapshot (the
    // API and the page show a fired timer only with what it committed).
    let detail = store.case_detail(&case_id).unwrap().unwrap();
    assert_eq!(
        detail
            .timers
            .iter()
            .map(|t| (t.id, t.status))
            .collect::<Vec<_>>(),
        fired.iter().map(|t| (t.id, t.status)).collect::<Vec<_>>()
    );
    // The operators' list filters by status and due time, soonest first.
    let by = |status, before| {
        store
            .timers(&TimerFilter {
                status,
                due_before_ms: before,
                limit: 10,
            })
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(by(Some(TimerStatus::Fired), None), vec![remind.id]);
    assert_eq!(by(None, Some(2_000)), vec![remind.id]);
    assert_eq!(by(None, None).len(), 2);
    assert!(by(Some(TimerStatus::Pending), None).is_empty());
    // Retention: a settled timer goes with its period's history; the one still
    // firing stays whatever its age.
    let mut p = prune_at(10);
    assert_eq!(store.prune(&p).unwrap().timer_rows, 0, "inside the period");
    p.history_before = "9999-01-01T00:00:00.000Z".into();
    assert_eq!(store.prune(&p).unwrap().timer_rows, 1);
    let left = store.timers_of_case(&case_id).unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(left[0].id, remind.id);
}

fn two_claimers_take_each_due_timer_once(store: &dyn Store) {
    let case_id = committed_case(store, "2025-01-01T00:00:00.000Z", "BE:ONSS");
    let mut ids: Vec<i64> = (0..40)
        .map(|i| put_timer(store, &case_id, TimerKind::Offer, 1_000 + i))
        .collect();
    // Two claimers at once (two instances on one database), a lease far longer
    // than the test: each timer goes to exactly one of them.
    let claimed: Vec<Vec<i64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut got = Vec::new();
                    loop {
                        let c = store.timer_claim(10_000, 3, 1_000_000).unwrap();
                        if c.is_empty() {
                            return got;
                        }
                        got.extend(c.into_iter().map(|t| t.id));
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<i64> = claimed.concat();
    all.sort_unstable();
    ids.sort_unstable();
    assert_eq!(all, ids, "every timer claimed exactly once");
}

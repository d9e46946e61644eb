//! Durable timers end to end in process, on both backends, with a fake clock: a
//! timer is made with the transition that opens its deadline, cancelled when the
//! reply arrives, fired once when due (two instances racing on one database, or a
//! new instance after a restart), and a reminder the engine refuses is `failed`
//! with the reason, not lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::Switch;
use super::outbound::submit;
use super::tests::{fixture_of, handle_until_settled, la02, nl_svb, root, rows_of, wire};
use crate::buc::definition::OnOverdue;
use crate::harness::peer::{Craft, craft_with};
use crate::ids::{BucType, CaseAction, CaseId, DocumentId, Role};
use crate::store::postgres::PostgresStore;
use crate::store::tests::Scratch;
use crate::store::{OutboxKind, Timer, TimerKind, TimerStatus};
use crate::transport::memory::MemoryBroker;

/// What a test changes in an instance before it starts.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// LA_BUC_02's A003 reminds by itself (`on_overdue = "remind"`).
    Remind,
    /// The shipped definitions: LA_BUC_02's A003 offers a reminder.
    Shipped,
    /// Reminds, but the BUC carries no X009 any more: the engine refuses it.
    RemindRefused,
}

/// A BE instance on `dir` (SQLite) or the scratch database, with its clock.
fn instance(
    dir: &std::path::Path,
    pg: Option<&Scratch>,
    variant: Variant,
) -> (Arc<Switch>, Arc<AtomicI64>) {
    let config = crate::harness::demo::demo_config(&root(), "BE", dir, None).unwrap();
    let mut sw = Switch::build(&config, Arc::new(MemoryBroker::new())).unwrap();
    if let Some(pg) = pg {
        sw.store = Arc::new(PostgresStore::connect(pg.config()).unwrap());
    }
    let la02 = BucType::parse("LA_BUC_02").unwrap();
    let def = sw.catalogue.bucs.get_mut(&la02).unwrap();
    if variant != Variant::Shipped {
        for t in def
            .transitions
            .iter_mut()
            .filter(|t| t.sed.as_str() == "A003")
        {
            t.on_overdue = OnOverdue::Remind;
        }
    }
    if variant == Variant::RemindRefused {
        def.transitions.retain(|t| t.sed.as_str() != "X009");
    }
    let now = Arc::new(AtomicI64::new(crate::store::now_ms()));
    let clock = now.clone();
    sw.clock = Arc::new(move || clock.load(Ordering::SeqCst));
    (Arc::new(sw), now)
}

/// BE:ONSS starts an LA_BUC_02 case with an A003 to NL:SVB.
fn start(be: &Arc<Switch>) -> (CaseId, DocumentId) {
    let done = submit(
        be,
        la02("BE:ONSS", "NL:SVB", "A003", None, fixture_of("4.2", "A003")),
    )
    .unwrap();
    (done.case_id, done.document_id)
}

fn timers(sw: &Switch, case_id: &CaseId) -> Vec<Timer> {
    sw.store.timers_of_case(case_id).unwrap()
}

fn of(ts: &[Timer], what: TimerKind) -> Timer {
    ts.iter()
        .find(|t| t.what == what)
        .unwrap_or_else(|| panic!("no {what} timer in {ts:?}"))
        .clone()
}

/// The X009s BE has queued for sending, of `case_id`.
fn reminders(sw: &Switch, case_id: &CaseId) -> usize {
    rows_of(sw, OutboxKind::Sed)
        .into_iter()
        .filter(|m| {
            m.case_id.as_ref() == Some(case_id)
                && m.headers.get("eessi-sed").map(String::as_str) == Some("X009")
        })
        .count()
}

fn history(sw: &Switch, case_id: &CaseId, event: &str) -> usize {
    sw.store
        .case_detail(case_id)
        .unwrap()
        .unwrap()
        .history
        .iter()
        .filter(|h| h.event == event)
        .count()
}

/// The timers are made with the A003 (the reminder of our request and the
/// closure the case owner sends); nothing fires a millisecond early; at the due
/// time the X009 goes out once through the submission path, naming the A003, and
/// the next passes send nothing more.
fn a_reminder_is_made_with_the_request_and_sent_once_when_due(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let (be, now) = instance(dir.path(), pg, Variant::Remind);
    let (case_id, a003) = start(&be);
    let ts = timers(&be, &case_id);
    let remind = of(&ts, TimerKind::Remind);
    assert_eq!(remind.subject, a003.as_str());
    assert_eq!(remind.status, TimerStatus::Pending);
    let created = crate::store::now_ms();
    let sixty_days = 60 * 86_400_000;
    assert!(
        (remind.due_ms - created).abs() - sixty_days < 120_000
            && remind.due_ms - created <= sixty_days,
        "due 60 days after the A003: {remind:?}"
    );
    assert_eq!(of(&ts, TimerKind::Close).status, TimerStatus::Pending);

    now.store(remind.due_ms - 1, Ordering::SeqCst);
    assert_eq!(super::timers::pass(&be).unwrap(), 0);
    assert_eq!(reminders(&be, &case_id), 0);

    // Due: the reminder (and, the same day, the closure) fire.
    now.store(remind.due_ms, Ordering::SeqCst);
    super::timers::pass(&be).unwrap();
    assert_eq!(reminders(&be, &case_id), 1);
    let ts = timers(&be, &case_id);
    let fired = of(&ts, TimerKind::Remind);
    assert_eq!(fired.status, TimerStatus::Fired, "{fired:?}");
    assert!(
        fired.outcome.as_deref().unwrap_or("").contains("sent X009"),
        "{fired:?}"
    );
    let d = be.store.case_detail(&case_id).unwrap().unwrap();
    let x009 = d
        .documents
        .iter()
        .find(|(doc, _)| doc.sed.as_str() == "X009")
        .expect("the X009 is a document of the case");
    assert_eq!(x009.0.related.as_ref(), Some(&a003));
    assert_eq!(x009.0.sender.as_str(), "BE:ONSS");
    assert_eq!(x009.0.receiver.as_str(), "NL:SVB");
    assert_eq!(history(&be, &case_id, "timer-remind"), 1);
    // The closure rule ran through the same path: X001, the case closed.
    assert_eq!(of(&ts, TimerKind::Close).status, TimerStatus::Fired);
    assert_eq!(d.case.state, crate::buc::definition::CLOSED);
    assert_eq!(be.timer_metrics.fired.load(Ordering::Relaxed), 2, "counted");
    // Later passes find nothing to do.
    now.store(remind.due_ms + 86_400_000, Ordering::SeqCst);
    assert_eq!(super::timers::pass(&be).unwrap(), 0);
    assert_eq!(reminders(&be, &case_id), 1);
    // Audited.
    let audit = be.store.audit_list(None, 100).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "timer-remind" && a.subject == format!("timer:{}", fired.id)),
        "{audit:?}"
    );
}

/// NL's A012 for `a003` of `case_id`, applied at BE.
fn nl_replies(be: &Switch, case_id: &CaseId, a003: &DocumentId) {
    let mut reply = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A012",
        case_id,
        &fixture_of("4.2", "A012"),
    );
    reply.header.sender_role = Role::Counterparty;
    reply.header.receiver_role = Role::CaseOwner;
    reply.header.action = CaseAction::New;
    reply.header.related = Some(a003.clone());
    let m = wire(&craft_with(&nl_svb(), &reply).unwrap());
    assert_eq!(
        handle_until_settled(be, &m),
        super::inbound::Disposition::Ack
    );
}

/// The reply commits after the reminder was claimed (its `sync` cancels only
/// pending timers): firing finds the deadline gone and sends nothing; the timer is
/// cancelled, not failed.
fn a_reply_after_the_claim_cancels_the_firing(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let (be, _) = instance(dir.path(), pg, Variant::Remind);
    let (case_id, a003) = start(&be);
    let due = of(&timers(&be, &case_id), TimerKind::Remind).due_ms;
    let claimed = be.store.timer_claim(due, 10, 1_000_000).unwrap();
    let remind = of(&claimed, TimerKind::Remind);
    nl_replies(&be, &case_id, &a003);
    assert_eq!(
        of(&timers(&be, &case_id), TimerKind::Remind).status,
        TimerStatus::Firing
    );
    super::timers::fire(&be, &remind, due).unwrap();
    let after = of(&timers(&be, &case_id), TimerKind::Remind);
    assert_eq!(after.status, TimerStatus::Cancelled, "{after:?}");
    assert_eq!(reminders(&be, &case_id), 0);
    // The closure claimed with it moved with the answer: cancelled as well.
    let close = claimed
        .iter()
        .find(|t| t.what == TimerKind::Close)
        .unwrap()
        .clone();
    super::timers::fire(&be, &close, due).unwrap();
    let d = be.store.case_detail(&case_id).unwrap().unwrap();
    assert_ne!(d.case.state, crate::buc::definition::CLOSED);
    assert_eq!(be.timer_metrics.failed.load(Ordering::Relaxed), 0);
}

/// NL's answer (A012) arrives: the reminder is cancelled, and the closure moves to
/// 60 days after the answer (the old one cancelled, a new one pending).
fn the_reply_cancels_the_reminder_and_moves_the_closure(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let (be, now) = instance(dir.path(), pg, Variant::Remind);
    let (case_id, a003) = start(&be);
    let before = timers(&be, &case_id);
    let close_before = of(&before, TimerKind::Close);
    // A second later, so the closure's clock visibly restarts.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    nl_replies(&be, &case_id, &a003);
    let after = timers(&be, &case_id);
    assert_eq!(of(&after, TimerKind::Remind).status, TimerStatus::Cancelled);
    let closes: Vec<&Timer> = after
        .iter()
        .filter(|t| t.what == TimerKind::Close)
        .collect();
    assert_eq!(closes.len(), 2, "{after:?}");
    assert_eq!(closes[0].id, close_before.id);
    assert_eq!(closes[0].status, TimerStatus::Cancelled);
    assert_eq!(closes[1].status, TimerStatus::Pending);
    assert!(closes[1].due_ms > close_before.due_ms);
    // At the old due time nothing fires; no reminder ever.
    now.store(close_before.due_ms, Ordering::SeqCst);
    assert_eq!(super::timers::pass(&be).unwrap(), 0);
    assert_eq!(reminders(&be, &case_id), 0);
}

/// Two instances on one database claim at the same due time, at once and over and
/// over: one X009, one fired timer, one history entry.
fn two_instances_fire_a_timer_once(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let (be1, now1) = instance(dir.path(), pg, Variant::Remind);
    let (be2, now2) = instance(dir.path(), pg, Variant::Remind);
    let (case_id, _) = start(&be1);
    let due = of(&timers(&be1, &case_id), TimerKind::Remind).due_ms;
    now1.store(due, Ordering::SeqCst);
    now2.store(due, Ordering::SeqCst);
    std::thread::scope(|s| {
        for be in [&be1, &be2] {
            s.spawn(move || {
                for _ in 0..5 {
                    super::timers::pass(be).unwrap();
                }
            });
        }
    });
    assert_eq!(reminders(&be1, &case_id), 1);
    assert_eq!(history(&be1, &case_id, "timer-remind"), 1);
    assert_eq!(
        of(&timers(&be2, &case_id), TimerKind::Remind).status,
        TimerStatus::Fired
    );
    let fired = be1.timer_metrics.fired.load(Ordering::Relaxed)
        + be2.timer_metrics.fired.load(Ordering::Relaxed);
    assert_eq!(fired, 2, "the reminder and the closure, each once");
}

/// A timer made before a restart fires from the new instance; one whose claimer
/// died while firing (left `firing`) is claimed again when its lease ends and fires
/// once.
fn a_timer_survives_a_restart(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let (case_id, due) = {
        let (be, _) = instance(dir.path(), pg, Variant::Remind);
        let (case_id, _) = start(&be);
        let due = of(&timers(&be, &case_id), TimerKind::Remind).due_ms;
        // The old instance claims at the due time and dies before acting.
        let claimed = be.store.timer_claim(due, 10, 60_000).unwrap();
        assert_eq!(claimed.len(), 2);
        (case_id, due)
    };
    let (be, now) = instance(dir.path(), pg, Variant::Remind);
    now.store(due + 1, Ordering::SeqCst);
    assert_eq!(super::timers::pass(&be).unwrap(), 0, "still leased");
    now.store(due + 60_000, Ordering::SeqCst);
    assert_eq!(super::timers::pass(&be).unwrap(), 2);
    assert_eq!(reminders(&be, &case_id), 1);
    let remind = of(&timers(&be, &case_id), TimerKind::Remind);
    assert_eq!(
        (remind.status, remind.attempts),
        (TimerStatus::Fired, 2),
        "{remind:?}"
    );
}

/// The engine refuses the reminder (the instance's BUC carries no X009): the timer
/// is `failed` with the reason, in the history and the operators' list, and
/// nothing is sent.
fn a_refused_reminder_fails_visibly(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let (be, _) = instance(dir.path(), pg, Variant::Remind);
    let (case_id, _) = start(&be);
    let due = of(&timers(&be, &case_id), TimerKind::Remind).due_ms;
    drop(be);
    let (refusing, now) = instance(dir.path(), pg, Variant::RemindRefused);
    now.store(due, Ordering::SeqCst);
    super::timers::pass(&refusing).unwrap();
    let remind = of(&timers(&refusing, &case_id), TimerKind::Remind);
    assert_eq!(remind.status, TimerStatus::Failed, "{remind:?}");
    assert!(
        remind.outcome.as_deref().unwrap_or("").contains("X009"),
        "the reason names the refusal: {remind:?}"
    );
    assert_eq!(reminders(&refusing, &case_id), 0);
    assert_eq!(history(&refusing, &case_id, "timer-remind"), 1);
    assert_eq!(refusing.timer_metrics.failed.load(Ordering::Relaxed), 1);
    let failed = refusing
        .store
        .timers(&crate::store::TimerFilter {
            status: Some(TimerStatus::Failed),
            due_before_ms: None,
            limit: 10,
        })
        .unwrap();
    assert_eq!(failed.len(), 1);
}

/// The shipped LA_BUC_02 offers the reminder: at the due time the case shows the
/// offer (timer fired, history) and nothing is sent.
fn an_offered_reminder_sends_nothing(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let (be, now) = instance(dir.path(), pg, Variant::Shipped);
    let (case_id, a003) = start(&be);
    let offer = of(&timers(&be, &case_id), TimerKind::Offer);
    assert_eq!(offer.subject, a003.as_str());
    now.store(offer.due_ms, Ordering::SeqCst);
    super::timers::pass(&be).unwrap();
    let offer = of(&timers(&be, &case_id), TimerKind::Offer);
    assert_eq!(offer.status, TimerStatus::Fired);
    assert!(offer.outcome.as_deref().unwrap_or("").contains("offered"));
    assert_eq!(reminders(&be, &case_id), 0);
    assert_eq!(history(&be, &case_id, "timer-offer"), 1);
}

/// Two instances both hold a claim on one timer (the first one's lease ended
/// while it was still at work, and the second claimed it again): both fire it,
/// and the compare-and-set in the submission's transaction lets one X009 through;
/// the other applies nothing and leaves the timer as the first settled it.
fn a_claim_that_outlived_its_lease_sends_nothing(pg: Option<&Scratch>) {
    let dir = tempfile::tempdir().unwrap();
    let (be1, _) = instance(dir.path(), pg, Variant::Remind);
    let (be2, _) = instance(dir.path(), pg, Variant::Remind);
    let (case_id, _) = start(&be1);
    let due = of(&timers(&be1, &case_id), TimerKind::Remind).due_ms;
    let first = be1.store.timer_claim(due, 1, 1).unwrap();
    let second = be2.store.timer_claim(due + 1, 1, 1_000_000).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1);
    assert_eq!(first[0].id, second[0].id, "the same timer, claimed twice");
    assert_eq!(second[0].attempts, 2);
    super::timers::fire(&be2, &second[0], due + 1).unwrap();
    super::timers::fire(&be1, &first[0], due).unwrap();
    assert_eq!(reminders(&be1, &case_id), 1);
    let remind = of(&timers(&be1, &case_id), TimerKind::Remind);
    assert_eq!(remind.status, TimerStatus::Fired, "{remind:?}");
    assert!(
        remind
            .outcome
            .as_deref()
            .unwrap_or("")
            .contains("sent X009"),
        "{remind:?}"
    );
    assert_eq!(history(&be1, &case_id, "timer-remind"), 1);
    assert_eq!(be1.timer_metrics.failed.load(Ordering::Relaxed), 0);
}

macro_rules! both_backends {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $check() { super::$check(None) })*
        }
        mod postgres {
            $(#[test] fn $check() { let pg = crate::store::tests::Scratch::create(); super::$check(Some(&pg)) })*
        }
    };
}

both_backends!(
    a_reminder_is_made_with_the_request_and_sent_once_when_due,
    the_reply_cancels_the_reminder_and_moves_the_closure,
    two_instances_fire_a_timer_once,
    a_timer_survives_a_restart,
    a_refused_reminder_fails_visibly,
    an_offered_reminder_sends_nothing,
    a_claim_that_outlived_its_lease_sends_nothing,
    a_reply_after_the_claim_cancels_the_firing,
);

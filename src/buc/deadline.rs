//! Deadlines as data: the reply deadline of each awaited SED
//! (`reply_within_days` on its transition) and the BUC's auto-close rules. Like
//! `machine`, this is pure: the caller passes the clock, so the evaluation is
//! tested with a fake one, and a scheduler (reminders, closures) only has to act
//! on what `deadlines` returns.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::buc::definition::{BucDef, CLOSED, CloseScope, OnOverdue};
use crate::ids::{DocumentId, SedType};

/// What the evaluation needs to know about one document.
#[derive(Debug, Clone)]
pub struct DocTiming {
    pub id: DocumentId,
    pub sed: SedType,
    /// When it was sent or received.
    pub at: DateTime<Utc>,
    /// The document it answers, if any.
    pub related: Option<DocumentId>,
    pub cancelled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Deadline {
    /// An answer to `document_id` is awaited by `due`.
    #[serde(rename_all = "camelCase")]
    Reply {
        #[schema(value_type = String)]
        document_id: DocumentId,
        #[schema(value_type = String)]
        sed: SedType,
        #[schema(value_type = String, format = DateTime)]
        due: DateTime<Utc>,
        overdue: bool,
        /// What the switch does when it is overdue (the transition's `on_overdue`).
        on_overdue: OnOverdue,
    },
    /// The case closes itself at `due` (unless something newer restarts the clock).
    #[serde(rename_all = "camelCase")]
    AutoClose {
        scope: CloseScope,
        #[schema(value_type = String, format = DateTime)]
        due: DateTime<Utc>,
        overdue: bool,
        reason: String,
    },
}

impl Deadline {
    pub fn is_overdue(&self) -> bool {
        match self {
            Deadline::Reply { overdue, .. } | Deadline::AutoClose { overdue, .. } => *overdue,
        }
    }
}

/// Every pending deadline of a case in `state`, at `now`; the ones past are overdue.
pub fn deadlines(
    def: &BucDef,
    state: &str,
    docs: &[DocTiming],
    now: DateTime<Utc>,
) -> Vec<Deadline> {
    if state == CLOSED {
        return Vec::new();
    }
    let mut out = Vec::new();
    for d in docs.iter().filter(|d| !d.cancelled) {
        let Some((days, on_overdue)) = def
            .transitions
            .iter()
            .filter(|t| t.sed == d.sed)
            .find_map(|t| t.reply_within_days.map(|days| (days, t.on_overdue)))
        else {
            continue;
        };
        // Answered by a SED of a type the BUC answers it with (a reminder, X009, or
        // a request for clarification, X012, names it too but answers nothing), or
        // settled by a rejection (X011). UNCERTAIN: whether a rejected request still
        // awaits its reply; no source says, and a reminder of a rejected request
        // would make no sense.
        let answered = docs.iter().any(|o| {
            o.related.as_ref() == Some(&d.id)
                && !o.cancelled
                && (o.sed.as_str() == "X011"
                    || def
                        .transitions
                        .iter()
                        .any(|t| t.sed == o.sed && t.answers.contains(&d.sed)))
        });
        if answered {
            continue;
        }
        let due = d.at + Duration::days(i64::from(days));
        out.push(Deadline::Reply {
            document_id: d.id.clone(),
            sed: d.sed.clone(),
            due,
            overdue: now >= due,
            on_overdue,
        });
    }
    for rule in &def.auto_close {
        let latest = docs
            .iter()
            .filter(|d| {
                !d.cancelled && (rule.since.contains(&d.sed) || rule.paused_by.contains(&d.sed))
            })
            .max_by_key(|d| d.at);
        if let Some(d) = latest
            && !rule.paused_by.contains(&d.sed)
        {
            let at = d.at;
            let due = at + Duration::days(i64::from(rule.after_days));
            out.push(Deadline::AutoClose {
                scope: rule.scope,
                due,
                overdue: now >= due,
                reason: rule.reason.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buc::Catalogue;
    use crate::ids::BucType;
    use chrono::TimeZone;

    fn catalogue() -> Catalogue {
        Catalogue::load_unchecked(std::path::Path::new("buc-definitions"))
            .unwrap()
            .0
    }

    #[test]
    fn la_buc_02_reply_deadline_and_auto_close_follow_a_fake_clock() {
        let cat = catalogue();
        let def = cat.get(&BucType::parse("LA_BUC_02").unwrap()).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let a003 = DocTiming {
            id: DocumentId::random(),
            sed: SedType::parse("A003").unwrap(),
            at: t0,
            related: None,
            cancelled: false,
        };
        let docs = vec![a003.clone()];
        let at = |days: i64| deadlines(def, "awaiting_reply", &docs, t0 + Duration::days(days));
        // Nothing is overdue on day 59; both the reply and the closure are on day 60.
        assert!(at(59).iter().all(|d| !d.is_overdue()), "{:?}", at(59));
        let d60 = at(60);
        assert!(
            d60.iter()
                .any(|d| matches!(d, Deadline::Reply { overdue: true, .. })),
            "{d60:?}"
        );
        assert!(
            d60.iter().any(|d| matches!(
                d,
                Deadline::AutoClose {
                    overdue: true,
                    scope: CloseScope::Global,
                    ..
                }
            )),
            "{d60:?}"
        );
        // A reminder (X009) names the request but does not answer it.
        let x009 = DocTiming {
            id: DocumentId::random(),
            sed: SedType::parse("X009").unwrap(),
            at: t0 + Duration::days(61),
            related: Some(a003.id.clone()),
            cancelled: false,
        };
        let reminded = deadlines(
            def,
            "awaiting_reply",
            &[a003.clone(), x009],
            t0 + Duration::days(62),
        );
        assert!(
            reminded.iter().any(|d| matches!(
                d,
                Deadline::Reply {
                    overdue: true,
                    on_overdue: OnOverdue::Offer,
                    ..
                }
            )),
            "{reminded:?}"
        );
        // An answer removes the reply deadline and restarts the closure clock.
        let a012 = DocTiming {
            id: DocumentId::random(),
            sed: SedType::parse("A012").unwrap(),
            at: t0 + Duration::days(30),
            related: Some(a003.id.clone()),
            cancelled: false,
        };
        let docs = vec![a003.clone(), a012];
        let d = deadlines(def, "agreed", &docs, t0 + Duration::days(60));
        assert!(
            !d.iter().any(|d| matches!(d, Deadline::Reply { .. })),
            "{d:?}"
        );
        assert!(d.iter().all(|d| !d.is_overdue()), "{d:?}");
        assert!(
            deadlines(def, "agreed", &docs, t0 + Duration::days(90))
                .iter()
                .any(Deadline::is_overdue)
        );
        // A disagreement (A004) stops the closure clock: a disputed determination goes
        // on to the dialogue procedure; an agreement afterwards starts it again.
        let a004 = DocTiming {
            id: DocumentId::random(),
            sed: SedType::parse("A004").unwrap(),
            at: t0 + Duration::days(10),
            related: Some(a003.id.clone()),
            cancelled: false,
        };
        let disputed = vec![a003.clone(), a004.clone()];
        assert!(
            !deadlines(def, "disagreed", &disputed, t0 + Duration::days(900))
                .iter()
                .any(|d| matches!(d, Deadline::AutoClose { .. })),
            "a disputed case has no closure deadline"
        );
        let settled = vec![
            a003.clone(),
            a004,
            DocTiming {
                id: DocumentId::random(),
                sed: SedType::parse("A012").unwrap(),
                at: t0 + Duration::days(40),
                related: Some(a003.id.clone()),
                cancelled: false,
            },
        ];
        let after = deadlines(def, "agreed", &settled, t0 + Duration::days(100));
        assert!(
            after
                .iter()
                .any(|d| matches!(d, Deadline::AutoClose { overdue: true, .. })),
            "{after:?}"
        );
        // A closed case has no deadline; an invalidated document awaits nothing.
        assert!(deadlines(def, CLOSED, &docs, t0 + Duration::days(900)).is_empty());
        let cancelled = DocTiming {
            cancelled: true,
            ..a003
        };
        assert!(
            deadlines(
                def,
                "awaiting_reply",
                &[cancelled],
                t0 + Duration::days(900)
            )
            .is_empty()
        );
    }

    #[test]
    fn every_auto_close_rule_and_reply_deadline_is_evaluated() {
        let cat = catalogue();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let mut rules = 0;
        for def in cat.bucs.values() {
            for rule in &def.auto_close {
                rules += 1;
                let doc = DocTiming {
                    id: DocumentId::random(),
                    sed: rule.since[0].clone(),
                    at: t0,
                    related: None,
                    cancelled: false,
                };
                let before = deadlines(
                    def,
                    &def.initial,
                    std::slice::from_ref(&doc),
                    t0 + Duration::days(i64::from(rule.after_days) - 1),
                );
                let after = deadlines(
                    def,
                    &def.initial,
                    std::slice::from_ref(&doc),
                    t0 + Duration::days(i64::from(rule.after_days)),
                );
                assert!(
                    before
                        .iter()
                        .any(|d| matches!(d, Deadline::AutoClose { overdue: false, .. })),
                    "{}",
                    def.id
                );
                assert!(
                    after
                        .iter()
                        .any(|d| matches!(d, Deadline::AutoClose { overdue: true, .. })),
                    "{}",
                    def.id
                );
            }
        }
        assert!(rules >= 5, "only {rules} auto-close rules in the catalogue");
    }
}

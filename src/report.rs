//! Plain-text renderings of cases for the CLI and the demo.

use std::fmt::Write;

use crate::store::CaseDetail;

/// A case as a handler reads it on a terminal: participants, documents with
/// their versions, message status, and the history in order.
pub fn timeline(d: &CaseDetail) -> String {
    let mut s = String::new();
    let c = &d.case;
    let _ = writeln!(
        s,
        "case {}  {}  state={}  status={}  data-model={}",
        c.case_id, c.buc, c.state, c.status, c.sed_version
    );
    let parts: Vec<String> = d
        .participants
        .iter()
        .map(|p| format!("{} ({})", p.institution, p.role))
        .collect();
    let _ = writeln!(s, "  participants: {}", parts.join(", "));
    for (doc, versions) in &d.documents {
        let vs: Vec<String> = versions.iter().map(|v| format!("v{}", v.version)).collect();
        let _ = writeln!(
            s,
            "  document {} {} {} -> {} [{}] {} versions: {}",
            doc.document_id,
            doc.sed,
            doc.sender,
            doc.receiver,
            doc.direction,
            doc.status,
            vs.join(",")
        );
    }
    for m in &d.messages {
        let _ = writeln!(
            s,
            "  message {} {:<8} to {:<10} {:<9} attempts={}{}",
            m.message_id,
            m.kind,
            m.routing_key,
            m.status,
            m.attempts,
            m.last_error
                .as_deref()
                .map(|e| format!("  ({e})"))
                .unwrap_or_default()
        );
    }
    for h in &d.history {
        let states = match (&h.from_state, &h.to_state) {
            (Some(a), Some(b)) => format!("{a} -> {b}"),
            (None, Some(b)) => format!("-> {b}"),
            _ => String::new(),
        };
        let _ = writeln!(s, "  {}  {:<13} {:<32} {}", h.at, h.event, states, h.detail);
    }
    s
}

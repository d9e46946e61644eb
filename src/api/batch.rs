//! The batch channel: `POST /api/v1/national/{adapter}/batch` takes many national
//! messages in one request (`application/x-ndjson`: one `{"key", "message"}`
//! object per line) and submits each exactly as `POST /api/v1/national/{adapter}`
//! would (`submit_national`: the same translation, checks and audit entry, and the
//! item's key digested as the single request it stands for), several at once so
//! that they share group commits. Every item is answered, in input order:
//! accepted, replayed, or refused with the problem the single route would give; a
//! bad item (a malformed line included) never fails the batch. A batch is
//! resumable because each item carries its own key: sent again after a crash of
//! either side, the items that committed are replayed and only the others
//! submitted. The bounds (`[limits] batch_*`) are checked before any item is.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Extension, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::auth::Caller;
use super::dto::{BatchItem, BatchItemResult, BatchItemStatus};
use super::edge::HttpEdge;
use super::problem::Problem;
use super::{check_key, national_gate, refusal, request_digest, submit_national};
use crate::switch::Switch;
use crate::switch::outbound::{IdempotencyKey, Issue, SubmitError, Submitted};

/// One non-blank line of the body, read.
struct Line {
    /// The item's place in the batch, from 0.
    index: usize,
    /// Its line in the body, from 1.
    line: usize,
    /// The key it named, when it could be read (echoed in its answer).
    key: Option<String>,
    /// The message, or why the line is not an item.
    message: Result<String, Issue>,
}

#[utoipa::path(
    post,
    path = "/api/v1/national/{adapter}/batch",
    operation_id = "submitNationalBatch",
    tag = "submit",
    summary = "Send many national messages at once (the batch channel); each item is submitted as POST /api/v1/national/{adapter} would submit it",
    description = "The body is NDJSON: one BatchItem per line (blank lines are not items). Items are submitted concurrently ([limits] batch_concurrency), each under its own idempotency key when it names one (digested as the single request it stands for, so a batch item and a single submission with the same key and message replay each other). Every item is answered, in input order: accepted, replayed or refused with the problem the single route would give; a malformed line is a refused item with its line, not a failed batch. More than [limits] batch_items_max items or a body over batch_body_bytes_max is a 413 before any item is submitted.",
    params(("adapter" = String, Path, description = "The national adapter (`adapters/<name>/`)", example = "onss-posting")),
    request_body(description = "One BatchItem per line", content((super::dto::BatchItem = "application/x-ndjson"))),
    responses(
        (status = 200, description = "Every item's answer, one BatchItemResult per line, in the order of the items", content((super::dto::BatchItemResult = "application/x-ndjson"))),
        (status = 403, description = "The caller's institution may not use this adapter (`missingPermission`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such adapter (`resourceNotFound`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "More items than batch_items_max, or a body over batch_body_bytes_max; nothing was submitted (`payloadTooLarge`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["submit"]))
)]
pub(super) async fn post_national_batch(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Extension(edge): Extension<Arc<HttpEdge>>,
    Path(adapter): Path<String>,
    req: Request,
) -> Response {
    if let Err(r) = national_gate(&sw, &edge, &caller, &adapter) {
        return *r;
    }
    let limit = usize::try_from(sw.bounds.batch_body_bytes_max).unwrap_or(usize::MAX);
    let body = match axum::body::to_bytes(req.into_body(), limit).await {
        Ok(b) => b,
        Err(_) => return Problem::too_large(limit).into_response(),
    };
    let lines = read_lines(&body, &caller);
    let items_max = sw.bounds.batch_items_max as usize;
    if lines.len() > items_max {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "urn:problem-type:belgif:payloadTooLarge",
            "Payload Too Large",
            format!(
                "the batch holds {} items, more than {items_max}; nothing was submitted",
                lines.len()
            ),
        )
        .into_response();
    }
    let work = Arc::new(Work {
        sw: sw.clone(),
        edge: edge.clone(),
        caller,
        path: format!("/api/v1/national/{adapter}"),
        adapter,
    });
    // `buffered` keeps the input order while up to `batch_concurrency` items are
    // in hand; if the client goes away, the items not started are not submitted.
    let results: Vec<BatchItemResult> = futures_util::stream::iter(lines)
        .map(|line| submit_item(work.clone(), line))
        .buffered(sw.bounds.batch_concurrency.max(1) as usize)
        .collect()
        .await;
    let mut text = String::new();
    for r in &results {
        match serde_json::to_string(r) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
            }
            Err(_) => return Problem::internal().into_response(),
        }
    }
    let count = |s: BatchItemStatus| results.iter().filter(|r| r.status == s).count();
    tracing::info!(
        adapter = %work.adapter,
        items = results.len(),
        accepted = count(BatchItemStatus::Accepted),
        replayed = count(BatchItemStatus::Replayed),
        refused = count(BatchItemStatus::Refused),
        "national batch answered"
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        text,
    )
        .into_response()
}

/// What every item of one batch shares.
struct Work {
    sw: Arc<Switch>,
    edge: Arc<HttpEdge>,
    caller: Caller,
    adapter: String,
    /// The single route's path: each item's key is digested as that request.
    path: String,
}

/// The body's items: every line that is not blank, read as a `BatchItem`; a line
/// that is not one, or whose key is unusable, is kept as a refusal to answer.
fn read_lines(body: &[u8], caller: &Caller) -> Vec<Line> {
    let mut out = Vec::new();
    for (n, raw) in body.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line = n + 1;
        let bad = |name: &str, detail: String| Issue {
            location: "body".into(),
            name: name.into(),
            value: None,
            detail,
            line: u32::try_from(line).ok(),
        };
        let (key, message) = match serde_json::from_slice::<BatchItem>(raw) {
            Err(e) => (
                None,
                Err(bad(
                    "line",
                    format!("not a batch item {{\"key\", \"message\"}}: {e}"),
                )),
            ),
            Ok(item) => match item.key.as_deref().map(|k| check_key(caller, k)) {
                Some(Err(why)) => (item.key, Err(bad("key", why.to_owned()))),
                _ => (item.key, Ok(item.message)),
            },
        };
        out.push(Line {
            index: out.len(),
            line,
            key,
            message,
        });
    }
    out
}

/// Submit one item as the single route would, and count its answer.
async fn submit_item(work: Arc<Work>, line: Line) -> BatchItemResult {
    let m = &work.edge.metrics;
    let outcome = match line.message {
        Err(issue) => {
            m.batch_items_refused.fetch_add(1, Ordering::Relaxed);
            Err(Problem::bad_request(vec![issue]))
        }
        // What the single route answers a body over its bound.
        Ok(message) if message.len() > work.sw.limits.body_bytes_max => {
            m.batch_items_refused.fetch_add(1, Ordering::Relaxed);
            Err(Problem::too_large(work.sw.limits.body_bytes_max))
        }
        Ok(message) => {
            let key = line.key.as_ref().map(|k| IdempotencyKey {
                scope: work.caller.subject.clone(),
                key: k.clone(),
                request_sha256: request_digest("POST", &work.path, message.as_bytes()),
            });
            let w = work.clone();
            // Counted on the blocking thread as soon as it is known: an item whose
            // client has gone meanwhile still commits, and still counts.
            let done = tokio::task::spawn_blocking(move || {
                let r = submit_national(
                    &w.sw,
                    &w.edge,
                    &w.caller,
                    &w.adapter,
                    message.as_bytes(),
                    key,
                );
                count(&w.edge, &r);
                r
            })
            .await;
            match done {
                Ok(r) => r.map_err(|e| refusal(&work.edge, e)),
                Err(_) => {
                    m.batch_items_refused.fetch_add(1, Ordering::Relaxed);
                    Err(Problem::internal())
                }
            }
        }
    };
    let (status, submitted, problem) = match outcome {
        Ok(done) if done.replayed => (BatchItemStatus::Replayed, Some(done), None),
        Ok(done) => (BatchItemStatus::Accepted, Some(done), None),
        Err(p) => (BatchItemStatus::Refused, None, Some(p)),
    };
    BatchItemResult {
        index: line.index,
        line: line.line,
        key: line.key,
        status,
        case_id: submitted.as_ref().map(|s| s.case_id.to_string()),
        document_id: submitted.as_ref().map(|s| s.document_id.to_string()),
        document_version: submitted.as_ref().map(|s| s.document_version),
        message_id: submitted.map(|s| s.message_id),
        problem,
    }
}

/// Count an item's outcome on `/metrics`.
fn count(edge: &HttpEdge, r: &Result<Submitted, SubmitError>) {
    let m = &edge.metrics;
    let counter: &AtomicU64 = match r {
        Ok(done) if done.replayed => &m.batch_items_replayed,
        Ok(_) => &m.batch_items_accepted,
        Err(_) => &m.batch_items_refused,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_items_blank_lines_are_not_and_a_bad_line_is_a_located_refusal() {
        let body = b"{\"key\":\"a\",\"message\":\"<x/>\"}\r\n\n  \n{\"message\":\"<y/>\"}\nnot json\n{\"key\":\"\",\"message\":\"<z/>\"}\n{\"message\":\"<z/>\",\"extra\":1}";
        let lines = read_lines(body, &Caller::anonymous_dev());
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines.iter().map(|l| (l.index, l.line)).collect::<Vec<_>>(),
            vec![(0, 1), (1, 4), (2, 5), (3, 6), (4, 7)]
        );
        assert_eq!(lines[0].key.as_deref(), Some("a"));
        assert_eq!(lines[0].message.as_deref().ok(), Some("<x/>"));
        assert_eq!(lines[1].key, None);
        let issue = lines[2].message.as_ref().unwrap_err();
        assert_eq!((issue.name.as_str(), issue.line), ("line", Some(5)));
        // An empty key is refused, and echoed.
        let issue = lines[3].message.as_ref().unwrap_err();
        assert_eq!((issue.name.as_str(), issue.line), ("key", Some(6)));
        assert_eq!(lines[3].key.as_deref(), Some(""));
        // Unknown fields are refused, not ignored.
        assert!(lines[4].message.is_err());
    }
}

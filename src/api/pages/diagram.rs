//! The BUC as a diagram drawn in the page: an inline SVG (no script, no style
//! attribute: the CSP allows neither; the stylesheet colours it) laid out here in
//! layers (each state at its shortest distance from the initial one), the states
//! each conversation is in now highlighted, with a text alternative (the SVG's
//! title and description, and the same steps as a list).
//!
//! Our own small layout rather than a graph-layout crate: a BUC has at most a
//! dozen states and its own transitions are mostly forward, so layers by distance
//! with straight forward edges and arcs for the others read well, and the drawing
//! stays a few dozen lines we control (classes for the CSP-safe stylesheet,
//! labels in the user's language) instead of a crate's generic SVG output.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use maud::{Markup, html};

use super::i18n::{Lang, t, tf, word};
use crate::buc::definition::{BucDef, CLOSED, Target};

const W: i64 = 160;
const H: i64 = 40;
const GAP_X: i64 = 90;
const GAP_Y: i64 = 44;
const PAD: i64 = 16;

/// One edge: from, to, and the SEDs that take it.
type Edges = BTreeMap<(String, String), BTreeSet<String>>;

fn edges(def: &BucDef) -> Edges {
    let mut out: Edges = BTreeMap::new();
    for tr in def.transitions.iter().filter(|t| t.origin.is_none()) {
        let (Some(from), Target::State(to)) = (&tr.from, &tr.to) else {
            continue;
        };
        for f in from {
            if f != to {
                out.entry((f.clone(), to.clone()))
                    .or_default()
                    .insert(tr.sed.to_string());
            }
        }
    }
    out
}

/// Each state's layer: its distance from the initial state (unreachable ones last).
fn layers(def: &BucDef, edges: &Edges, states: &[String]) -> BTreeMap<String, usize> {
    let mut layer: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([(def.initial.clone(), 0usize)]);
    while let Some((s, d)) = queue.pop_front() {
        if layer.contains_key(&s) {
            continue;
        }
        layer.insert(s.clone(), d);
        for (from, to) in edges.keys() {
            if *from == s && !layer.contains_key(to) {
                queue.push_back((to.clone(), d + 1));
            }
        }
    }
    let last = layer.values().max().copied().unwrap_or(0) + 1;
    for s in states {
        layer.entry(s.clone()).or_insert(last);
    }
    layer
}

/// The diagram; `current` maps a state to the counterparties whose conversation is
/// in it now.
pub fn render(lang: Lang, def: &BucDef, current: &BTreeMap<String, Vec<String>>) -> Markup {
    let mut states: Vec<String> = def.states.keys().cloned().collect();
    if current.contains_key(CLOSED) && !states.iter().any(|s| s == CLOSED) {
        states.push(CLOSED.to_owned());
    }
    let edges = edges(def);
    let layer = layers(def, &edges, &states);
    // Position: column = layer, row = order within the layer (initial first).
    let mut rows: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut ordered = states.clone();
    ordered.sort_by_key(|s| (layer.get(s).copied().unwrap_or(0), s != &def.initial));
    for s in &ordered {
        rows.entry(layer[s]).or_default().push(s.clone());
    }
    let mut pos: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (col, list) in &rows {
        for (row, s) in list.iter().enumerate() {
            pos.insert(
                s.clone(),
                (
                    PAD + *col as i64 * (W + GAP_X),
                    PAD + row as i64 * (H + GAP_Y),
                ),
            );
        }
    }
    let cols = rows.len() as i64;
    let max_rows = rows.values().map(Vec::len).max().unwrap_or(1) as i64;
    let width = PAD * 2 + cols * W + (cols - 1).max(0) * GAP_X;
    let height = PAD * 2 + max_rows * H + (max_rows - 1).max(0) * GAP_Y + 40;
    let title = tf(lang, "case.diagram", &[]);
    let desc: Vec<String> = edges
        .iter()
        .map(|((f, to), seds)| edge_text(lang, f, to, seds))
        .collect();
    let now: Vec<String> = current
        .iter()
        .map(|(s, who)| {
            tf(lang, "case.diagram_current", &[("who", &who.join(", "))])
                + ": "
                + &word(lang, "state", s)
        })
        .collect();
    html! {
        figure class="diagram" {
            svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox={ "0 0 " (width) " " (height) }
                width=(width) height=(height) aria-labelledby="diagram-title diagram-desc" {
                title id="diagram-title" { (title) }
                desc id="diagram-desc" { (now.join(". ")) ". " (desc.join(". ")) }
                defs {
                    marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                        path d="M 0 0 L 10 5 L 0 10 z" {}
                    }
                }
                @for ((f, to), seds) in &edges {
                    @if let (Some(&(x1, y1)), Some(&(x2, y2))) = (pos.get(f), pos.get(to)) {
                        @let label = seds.iter().cloned().collect::<Vec<_>>().join(", ");
                        @if x2 > x1 {
                            @let (ax, ay, bx, by) = (x1 + W, y1 + H / 2, x2, y2 + H / 2);
                            path class="edge" d={ "M " (ax) " " (ay) " L " (bx) " " (by) } marker-end="url(#arrow)" {}
                            text class="edge-label" x=((ax + bx) / 2) y=((ay + by) / 2 - 4) text-anchor="middle" { (label) }
                        } @else if x2 == x1 {
                            // Within a column: an arc on the right, downward edges
                            // closer in than upward ones so that a pair does not overlap.
                            @let (ax, ay, bx, by) = (x1 + W, y1 + H / 2, x2 + W, y2 + H / 2);
                            @let cx = ax + if y2 > y1 { 36 } else { 72 };
                            path class="edge" d={ "M " (ax) " " (ay) " Q " (cx) " " ((ay + by) / 2) " " (bx) " " (by) } marker-end="url(#arrow)" {}
                            text class="edge-label" x=((ax + cx) / 2 + 4) y=((ay + by) / 2 + 4) text-anchor="start" { (label) }
                        } @else {
                            // Backward: an arc below the boxes.
                            @let (ax, ay, bx, by) = (x1 + W / 2 + 10, y1 + H, x2 + W / 2 - 10, y2 + H);
                            @let cy = ay.max(by) + GAP_Y - 6;
                            path class="edge" d={ "M " (ax) " " (ay) " Q " ((ax + bx) / 2) " " (cy) " " (bx) " " (by) } marker-end="url(#arrow)" {}
                            text class="edge-label" x=((ax + bx) / 2) y=(cy - 8) text-anchor="middle" { (label) }
                        }
                    }
                }
                @for s in &states {
                    @if let Some(&(x, y)) = pos.get(s) {
                        @let is_final = def.states.get(s).is_some_and(|d| d.is_final) || s == CLOSED;
                        @let who = current.get(s);
                        g.node.final[is_final].current[who.is_some()] data-state=(s) {
                            rect x=(x) y=(y) width=(W) height=(H) rx="6" {}
                            text x=(x + W / 2) y=(y + H / 2 + 4) text-anchor="middle" { (word(lang, "state", s)) }
                            @if let Some(who) = who {
                                text x=(x + W / 2) y=(y + H + 14) text-anchor="middle" { "▲ " (who.join(", ")) }
                            }
                        }
                    }
                }
            }
            figcaption {
                @for n in &now { p { strong { (n) } } }
                details {
                    summary { (t(lang, "case.diagram_text")) }
                    ul { @for d in &desc { li { (d) } } }
                }
            }
        }
    }
}

fn edge_text(lang: Lang, from: &str, to: &str, seds: &BTreeSet<String>) -> String {
    tf(
        lang,
        "case.diagram_edge",
        &[
            ("from", &word(lang, "state", from)),
            ("to", &word(lang, "state", to)),
            ("sed", &seds.iter().cloned().collect::<Vec<_>>().join(", ")),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diagram_draws_every_state_highlights_the_current_ones_and_describes_itself() {
        let (cat, _) = crate::buc::definition::Catalogue::load_unchecked(std::path::Path::new(
            concat!(env!("CARGO_MANIFEST_DIR"), "/buc-definitions"),
        ))
        .unwrap();
        for def in cat.bucs.values() {
            let current = BTreeMap::from([(def.initial.clone(), vec!["NL:SVB".to_owned()])]);
            let svg = render(Lang::En, def, &current).into_string();
            for s in def.states.keys() {
                assert!(
                    svg.contains(&format!("data-state=\"{s}\"")),
                    "{} {s}",
                    def.id
                );
            }
            assert_eq!(svg.matches(" current\"").count(), 1, "{}: {svg}", def.id);
            assert!(svg.contains("<title id=\"diagram-title\">"));
            assert!(!svg.contains("style="), "the CSP forbids inline style");
        }
        let la = cat
            .bucs
            .values()
            .find(|d| d.id.as_str() == "LA_BUC_01")
            .unwrap();
        let svg = render(Lang::En, la, &BTreeMap::new()).into_string();
        assert!(svg.contains("not started → requested by A001"), "{svg}");
    }
}

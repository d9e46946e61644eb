//! Hardened XML: every byte that comes from outside is checked here before libxml2
//! builds a tree, and canonicalised here for digests and signatures.
//!
//! `precheck` streams the bytes once with quick-xml (which never reads a DTD or
//! expands an entity) and refuses a DOCTYPE, too much depth or too many elements
//! before libxml2 sees them; `parse` then builds the tree with recovery, network
//! and entity substitution all off. `c14n` is exclusive XML canonicalisation by
//! libxml2 written into a byte buffer of ours (the `libxml` crate's own
//! `canonicalize` decodes each output chunk separately, which corrupts a
//! multi-byte character split across two chunks and so breaks digests).

use std::ffi::{c_int, c_void};

use libxml::bindings;
use libxml::parser::{Parser, ParserOptions, XmlParseFailure};
use libxml::readonly::RoNode;
use libxml::tree::{Document, NodeType};
use quick_xml::events::Event;

/// Limits applied to every untrusted document.
#[derive(Debug, Clone, Copy)]
pub struct XmlLimits {
    pub body_bytes_max: usize,
    pub depth_max: usize,
    pub elements_max: usize,
    /// Longest attribute value, and most attributes on one element.
    pub attribute_bytes_max: usize,
    pub attributes_max: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        // Contract: 10 MiB, depth 256.
        XmlLimits {
            body_bytes_max: 10 * 1024 * 1024,
            depth_max: 256,
            elements_max: 200_000,
            attribute_bytes_max: 64 * 1024,
            attributes_max: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("body is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("not well-formed XML{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    NotWellFormed { line: Option<u32>, message: String },
    #[error("a DOCTYPE declaration is not allowed")]
    Doctype,
    #[error("nesting deeper than {0} elements")]
    TooDeep(usize),
    #[error("more than {0} elements")]
    TooManyElements(usize),
    #[error("an element has more than {0} attributes or an attribute longer than {1} bytes")]
    AttributesTooLarge(usize, usize),
}

/// Stream the document once without building anything: size, encoding, DOCTYPE,
/// depth and element count, all decided before libxml2 parses a byte.
pub fn precheck(bytes: &[u8], limits: &XmlLimits) -> Result<(), XmlError> {
    if bytes.len() > limits.body_bytes_max {
        return Err(XmlError::TooLarge {
            size: bytes.len(),
            limit: limits.body_bytes_max,
        });
    }
    // The contract's bodies are UTF-8. NUL is valid UTF-8 but no XML character: a
    // UTF-16 document without BOM passes the UTF-8 check, so refuse NUL outright, or
    // this check and libxml2 (which would sniff UTF-16) would see two documents.
    if let Some(pos) = bytes.iter().position(|b| *b == 0) {
        return Err(XmlError::NotWellFormed {
            line: Some(line_at(bytes, pos)),
            message: "a NUL byte: not a UTF-8 XML document".into(),
        });
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(XmlError::NotWellFormed {
            line: None,
            message: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        });
    }
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut depth = 0usize;
    let mut elements = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| XmlError::NotWellFormed {
            line: Some(line_at(bytes, reader.buffer_position() as usize)),
            message: e.to_string(),
        })?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(ref d) => {
                if let Some(Ok(enc)) = d.encoding()
                    && !enc.eq_ignore_ascii_case("UTF-8")
                {
                    return Err(XmlError::NotWellFormed {
                        line: Some(1),
                        message: "the XML declaration names an encoding other than UTF-8".into(),
                    });
                }
            }
            Event::Start(ref e) | Event::Empty(ref e) if !attributes_ok(e, limits) => {
                return Err(XmlError::AttributesTooLarge(
                    limits.attributes_max,
                    limits.attribute_bytes_max,
                ));
            }
            Event::Start(_) => {
                depth += 1;
                elements += 1;
                if depth > limits.depth_max {
                    return Err(XmlError::TooDeep(limits.depth_max));
                }
            }
            Event::Empty(_) => {
                elements += 1;
                if depth + 1 > limits.depth_max {
                    return Err(XmlError::TooDeep(limits.depth_max));
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
        if elements > limits.elements_max {
            return Err(XmlError::TooManyElements(limits.elements_max));
        }
    }
    Ok(())
}

fn attributes_ok(e: &quick_xml::events::BytesStart, limits: &XmlLimits) -> bool {
    let mut n = 0;
    for a in e.attributes().with_checks(false) {
        n += 1;
        match a {
            Ok(a) if a.value.len() <= limits.attribute_bytes_max && n <= limits.attributes_max => {}
            // A malformed attribute is left to libxml2's stricter parse.
            Err(_) => return true,
            _ => return false,
        }
    }
    true
}

fn line_at(bytes: &[u8], pos: usize) -> u32 {
    let end = pos.min(bytes.len());
    1 + bytes[..end].iter().filter(|b| **b == b'\n').count() as u32
}

fn strict_options() -> ParserOptions<'static> {
    ParserOptions {
        recover: false,
        no_def_dtd: true,
        no_error: true,
        no_warning: true,
        pedantic: false,
        no_blanks: false,
        no_net: true,
        no_implied: true,
        // libxml2's own caps (10,000,000 bytes of input, depth 256...) would refuse
        // bodies the contract accepts (up to 10 MiB); `precheck` enforces the
        // contract's limits and ours before libxml2 sees a byte.
        huge: true,
        compact: false,
        ignore_enc: false,
        encoding: None,
    }
}

/// Precheck, then parse strictly with libxml2. The document never has a DTD.
pub fn parse(bytes: &[u8], limits: &XmlLimits) -> Result<Document, XmlError> {
    crate::store::debug_assert_outside_transaction("parsing XML");
    LIBXML2_IN_USE.store(true, std::sync::atomic::Ordering::Relaxed);
    precheck(bytes, limits)?;
    let parser = Parser::default();
    match parser.parse_string_with_diagnostics(bytes, strict_options()) {
        Ok((doc, diags)) => {
            if let Some(d) = diags.iter().find(|d| {
                matches!(
                    d.level,
                    libxml::error::XmlErrorLevel::Error | libxml::error::XmlErrorLevel::Fatal
                )
            }) {
                return Err(XmlError::NotWellFormed {
                    line: d.line.map(|l| l as u32),
                    message: clean(d.message.as_deref().unwrap_or("")),
                });
            }
            // Defence in depth: precheck refuses DOCTYPE, libxml2 must agree.
            let has_dtd = unsafe {
                !(*doc.doc_ptr()).intSubset.is_null() || !(*doc.doc_ptr()).extSubset.is_null()
            };
            if has_dtd {
                return Err(XmlError::Doctype);
            }
            if doc.get_root_readonly().is_none() {
                return Err(XmlError::NotWellFormed {
                    line: None,
                    message: "no root element".into(),
                });
            }
            Ok(doc)
        }
        Err(XmlParseFailure::ParseFailed(diags)) => {
            let d = diags.first();
            Err(XmlError::NotWellFormed {
                line: d.and_then(|d| d.line).map(|l| l as u32),
                message: d
                    .map(|d| clean(d.message.as_deref().unwrap_or("")))
                    .unwrap_or_else(|| "parse failed".into()),
            })
        }
        Err(e) => Err(XmlError::NotWellFormed {
            line: None,
            message: e.to_string(),
        }),
    }
}

/// libxml2 messages end with a newline and may quote input; keep them short.
pub fn clean(message: &str) -> String {
    let m = message.trim();
    if m.chars().count() > 300 {
        m.chars().take(300).collect::<String>() + "..."
    } else {
        m.to_owned()
    }
}

/// What part of a document to canonicalise.
#[derive(Clone, Copy)]
pub enum C14nScope {
    /// The whole document.
    Document,
    /// The whole document without one subtree: the enveloped-signature transform.
    DocumentWithout(RoNode),
    /// One element and its descendants (SignedInfo, or a SED element).
    Subtree(RoNode),
}

struct Visibility {
    node: bindings::xmlNodePtr,
    include: bool,
}

/// True when `node` is `root` or one of its descendants.
unsafe fn within(mut node: bindings::xmlNodePtr, root: bindings::xmlNodePtr) -> bool {
    unsafe {
        while !node.is_null() {
            if node == root {
                return true;
            }
            node = (*node).parent;
        }
    }
    false
}

unsafe extern "C" fn is_visible(
    user: *mut c_void,
    node: bindings::xmlNodePtr,
    parent: bindings::xmlNodePtr,
) -> c_int {
    unsafe {
        let vis = &*(user as *const Visibility);
        // Namespace nodes are xmlNs, not xmlNode: judge them by their element.
        let subject =
            if node.is_null() || (*node).type_ == bindings::xmlElementType_XML_NAMESPACE_DECL {
                parent
            } else {
                node
            };
        let inside = within(subject, vis.node);
        c_int::from(inside == vis.include)
    }
}

unsafe extern "C" fn write_bytes(
    ctx: *mut c_void,
    buffer: *const std::ffi::c_char,
    len: c_int,
) -> c_int {
    unsafe {
        if ctx.is_null() || len < 0 {
            return -1;
        }
        let out = &mut *(ctx as *mut Vec<u8>);
        out.extend_from_slice(std::slice::from_raw_parts(
            buffer as *const u8,
            len as usize,
        ));
        len
    }
}

unsafe extern "C" fn close_noop(_ctx: *mut c_void) -> c_int {
    0
}

/// Set by the first use of libxml2 (a parse, a schema): from then on its allocator
/// may no longer change.
pub(crate) static LIBXML2_IN_USE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Route libxml2's allocations to mimalloc, the binaries' global allocator. Under
/// load glibc's malloc, free and consolidation cost about a tenth of the switch's
/// CPU (docs/performance.md), most of it for libxml2's parse trees and schema
/// validation. Each binary calls this first thing in `main`; it does nothing (and
/// says so) once libxml2 has allocated anything, because memory from one
/// allocator freed by the other would corrupt the heap. libxml2 and the `libxml`
/// crate free what libxml2 allocated through `xmlFree`, which this sets too.
pub fn libxml2_uses_mimalloc() -> bool {
    use std::sync::atomic::Ordering;
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DONE.get_or_init(|| {
        if LIBXML2_IN_USE.load(Ordering::Relaxed) {
            return false;
        }
        unsafe extern "C" fn strdup(s: *const std::ffi::c_char) -> *mut std::ffi::c_char {
            // SAFETY: libxml2 passes a NUL-terminated string; the copy has its NUL.
            unsafe {
                let bytes = std::ffi::CStr::from_ptr(s).to_bytes_with_nul();
                let p = libmimalloc_sys::mi_malloc(bytes.len()) as *mut u8;
                if !p.is_null() {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
                }
                p as *mut std::ffi::c_char
            }
        }
        // SAFETY: called before libxml2 allocated anything (checked above; the
        // binaries call it before any other work), with functions of matching
        // signatures that allocate and free from one heap.
        let rc = unsafe {
            bindings::xmlMemSetup(
                Some(libmimalloc_sys::mi_free),
                Some(libmimalloc_sys::mi_malloc),
                Some(libmimalloc_sys::mi_realloc),
                Some(strdup),
            )
        };
        rc == 0
    })
}

/// Exclusive C14N 1.0 without comments of `scope` in `doc`.
pub fn c14n(doc: &Document, scope: C14nScope) -> Result<Vec<u8>, XmlError> {
    crate::store::debug_assert_outside_transaction("canonicalising XML");
    let (node, include) = match scope {
        C14nScope::Document => (std::ptr::null_mut(), false),
        C14nScope::DocumentWithout(n) => (n.node_ptr(), false),
        C14nScope::Subtree(n) => (n.node_ptr(), true),
    };
    let vis = Visibility { node, include };
    let callback: bindings::xmlC14NIsVisibleCallback = if node.is_null() {
        None
    } else {
        Some(is_visible)
    };
    let mut out: Vec<u8> = Vec::with_capacity(8 * 1024);
    let rc = unsafe {
        let buf = bindings::xmlOutputBufferCreateIO(
            Some(write_bytes),
            Some(close_noop),
            &mut out as *mut Vec<u8> as *mut c_void,
            std::ptr::null_mut(),
        );
        if buf.is_null() {
            return Err(XmlError::NotWellFormed {
                line: None,
                message: "cannot allocate a c14n buffer".into(),
            });
        }
        let rc = bindings::xmlC14NExecute(
            doc.doc_ptr(),
            callback,
            &vis as *const Visibility as *mut c_void,
            bindings::xmlC14NMode_XML_C14N_EXCLUSIVE_1_0 as c_int,
            std::ptr::null_mut(),
            0,
            buf,
        );
        let closed = bindings::xmlOutputBufferClose(buf);
        if rc < 0 { rc } else { closed }
    };
    if rc < 0 {
        return Err(XmlError::NotWellFormed {
            line: None,
            message: "canonicalisation failed".into(),
        });
    }
    Ok(out)
}

/// The namespace URI of an element ("" when it has none).
pub fn ns(node: RoNode) -> String {
    node.get_namespace()
        .map(|n| n.get_href())
        .unwrap_or_default()
}

/// Element children, skipping text, comments and processing instructions.
pub fn elements(node: RoNode) -> Vec<RoNode> {
    node.get_child_elements()
}

/// True when `node` is an element named `local` in namespace `uri`.
pub fn is(node: RoNode, uri: &str, local: &str) -> bool {
    node.get_type() == Some(NodeType::ElementNode) && node.get_name() == local && ns(node) == uri
}

/// Line of a node in its source document.
pub fn line_of(node: RoNode) -> u32 {
    unsafe { bindings::xmlGetLineNo(node.node_ptr()) }.max(0) as u32
}

/// Escape text for element content or a double-quoted attribute.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// The XML declaration line of every document this program renders for signing.
pub const DECLARATION_LINE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Escape character data as canonical XML writes it (C14N 1.0, section 2.3: `&`,
/// `<`, `>` and carriage return; quotes stay as they are). It is also well-formed
/// XML, so a document rendered with it is already in canonical form and can be
/// signed without parsing it again (`dsig::sign_rendered`). A character XML 1.0
/// does not allow at all (a control character a hostile peer put in a message id)
/// becomes U+FFFD, so the rendered document stays well-formed.
pub fn escape_text(s: &str) -> std::borrow::Cow<'_, str> {
    let not_allowed = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if !s
        .chars()
        .any(|c| matches!(c, '&' | '<' | '>' | '\r') || not_allowed(c))
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c if not_allowed(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_text_is_canonical_and_well_formed() {
        let raw = "a&b<c>d\re\"f'g\th\ni\u{1}j\u{FFFF}";
        let escaped = escape_text(raw);
        assert_eq!(
            escaped,
            "a&amp;b&lt;c&gt;d&#xD;e\"f'g\th\ni\u{FFFD}j\u{FFFD}"
        );
        let doc = format!("<r>{escaped}</r>");
        let parsed = parse(doc.as_bytes(), &XmlLimits::default()).unwrap();
        assert_eq!(c14n(&parsed, C14nScope::Document).unwrap(), doc.as_bytes());
        assert!(matches!(
            escape_text("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn precheck_refuses_doctype_depth_size_and_bad_utf8() {
        let l = XmlLimits::default();
        assert_eq!(
            precheck(b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", &l),
            Err(XmlError::Doctype)
        );
        let deep = "<a>".repeat(300) + &"</a>".repeat(300);
        assert_eq!(precheck(deep.as_bytes(), &l), Err(XmlError::TooDeep(256)));
        let ok = "<a>".repeat(256) + &"</a>".repeat(256);
        assert!(precheck(ok.as_bytes(), &l).is_ok());
        let small = XmlLimits {
            body_bytes_max: 10,
            ..l
        };
        assert!(matches!(
            precheck(b"<a>0123456789</a>", &small),
            Err(XmlError::TooLarge { .. })
        ));
        assert!(matches!(
            precheck(b"<a>\xff</a>", &l),
            Err(XmlError::NotWellFormed { .. })
        ));
        assert!(matches!(
            precheck(b"<a><b></a>", &l),
            Err(XmlError::NotWellFormed { .. })
        ));
        let huge = format!("<a b=\"{}\"/>", "x".repeat(70_000));
        assert!(matches!(
            precheck(huge.as_bytes(), &l),
            Err(XmlError::AttributesTooLarge(..))
        ));
        let many: String = (0..100).map(|i| format!(" a{i}=\"1\"")).collect();
        assert!(matches!(
            precheck(format!("<a{many}/>").as_bytes(), &l),
            Err(XmlError::AttributesTooLarge(..))
        ));
        assert!(matches!(
            precheck(b"<\0a\0/\0>\0", &l),
            Err(XmlError::NotWellFormed { .. })
        ));
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>";
        assert!(matches!(
            precheck(latin1, &l),
            Err(XmlError::NotWellFormed { .. })
        ));
        assert!(precheck(b"<?xml version=\"1.0\" encoding=\"utf-8\"?><a/>", &l).is_ok());
    }

    #[test]
    fn parse_is_strict() {
        let l = XmlLimits::default();
        assert!(parse(b"<a><b/></a>", &l).is_ok());
        assert!(matches!(
            parse(b"<a>&undefined;</a>", &l),
            Err(XmlError::NotWellFormed { .. })
        ));
        assert!(matches!(
            parse(b"<a xmlns:p='u'><q:b/></a>", &l),
            Err(XmlError::NotWellFormed { .. })
        ));
        assert!(matches!(
            parse(b"", &l),
            Err(XmlError::NotWellFormed { .. })
        ));
    }

    #[test]
    fn c14n_keeps_multibyte_text_and_excludes_a_subtree() {
        let l = XmlLimits::default();
        let text = "é".repeat(5000);
        let xml =
            format!("<r xmlns:p=\"urn:p\" b=\"2\"   a=\"1\"><p:x>{text}</p:x><s><t/></s></r>");
        let doc = parse(xml.as_bytes(), &l).unwrap();
        let root = doc.get_root_readonly().unwrap();
        let s = elements(root)[1];
        let whole = String::from_utf8(c14n(&doc, C14nScope::DocumentWithout(s)).unwrap()).unwrap();
        assert_eq!(
            whole,
            format!("<r a=\"1\" b=\"2\"><p:x xmlns:p=\"urn:p\">{text}</p:x></r>")
        );
        let sub = String::from_utf8(c14n(&doc, C14nScope::Subtree(s)).unwrap()).unwrap();
        assert_eq!(sub, "<s><t></t></s>");
    }
}

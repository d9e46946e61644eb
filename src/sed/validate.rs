//! XSD validation with libxml2. Schema contexts are not thread-safe and cost
//! ~350 µs to build, so each thread keeps its own cache of compiled schemas
//! (`thread_local!`), filled on first use; XML work runs on blocking threads.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use libxml::schemas::{SchemaParserContext, SchemaValidationContext};
use libxml::tree::Document;
use serde::Serialize;

use crate::ids::{SedType, SedVersion};

/// One schema violation, located by line and, when libxml2 names it, element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub line: Option<u32>,
    /// The element the message is about (`FamilyName`), when known.
    pub element: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ValidateError {
    #[error("no schema at {0}")]
    NoSchema(PathBuf),
    #[error("schema {path} does not compile: {message}")]
    BadSchema { path: PathBuf, message: String },
    #[error("{} schema violation(s): {}", .0.len(), .0.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
}

thread_local! {
    static SCHEMAS: RefCell<HashMap<PathBuf, SchemaValidationContext>> = RefCell::new(HashMap::new());
}

/// Where the schema of one SED type and version lives.
pub fn sed_schema_path(dir: &Path, version: &SedVersion, sed: &SedType) -> PathBuf {
    dir.join(version.as_str()).join(format!("{sed}.xsd"))
}

fn element_of(message: &str) -> Option<String> {
    // libxml2 says "Element '{ns}Name': ..." or "Element 'Name', attribute ..."
    let rest = message.strip_prefix("Element '")?;
    let name = &rest[..rest.find('\'')?];
    Some(name.rsplit('}').next().unwrap_or(name).to_owned())
}

fn with_schema<T>(
    path: &Path,
    f: impl FnOnce(&mut SchemaValidationContext) -> T,
) -> Result<T, ValidateError> {
    SCHEMAS.with(|cell| {
        let mut map = cell.borrow_mut();
        if !map.contains_key(path) {
            if !path.is_file() {
                return Err(ValidateError::NoSchema(path.to_owned()));
            }
            crate::sed::xml::LIBXML2_IN_USE.store(true, std::sync::atomic::Ordering::Relaxed);
            let mut parser = SchemaParserContext::from_file(&path.to_string_lossy());
            let ctx = SchemaValidationContext::from_parser(&mut parser).map_err(|errs| {
                ValidateError::BadSchema {
                    path: path.to_owned(),
                    message: errs
                        .first()
                        .map(|e| crate::sed::xml::clean(e.message.as_deref().unwrap_or("")))
                        .unwrap_or_default(),
                }
            })?;
            map.insert(path.to_owned(), ctx);
        }
        // invariant: inserted above
        let ctx = map
            .get_mut(path)
            .ok_or_else(|| ValidateError::NoSchema(path.to_owned()))?;
        Ok(f(ctx))
    })
}

fn violations(errs: Vec<libxml::error::StructuredError>) -> Vec<Violation> {
    errs.into_iter()
        .map(|e| {
            let message = crate::sed::xml::clean(e.message.as_deref().unwrap_or(""));
            Violation {
                line: e.line.map(|l| l as u32),
                element: element_of(&message),
                message,
            }
        })
        .collect()
}

/// Validate a whole document (a standalone SED body or a national message).
pub fn validate_document(schema: &Path, doc: &Document) -> Result<(), ValidateError> {
    crate::store::debug_assert_outside_transaction("validating a SED");
    with_schema(schema, |ctx| ctx.validate_document(doc))?
        .map_err(|e| ValidateError::Invalid(violations(e)))
}

/// Validate one element in place (the SED inside an envelope), keeping the
/// envelope's line numbers in the violations.
pub fn validate_element(schema: &Path, element: &libxml::tree::Node) -> Result<(), ValidateError> {
    crate::store::debug_assert_outside_transaction("validating a SED");
    with_schema(schema, |ctx| ctx.validate_node(element))?
        .map_err(|e| ValidateError::Invalid(violations(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sed::xml::{XmlLimits, parse};

    #[test]
    fn every_fixture_validates_and_every_negative_example_fails_with_its_line() {
        let dir = Path::new("sed-schemas");
        let v = SedVersion::parse("4.2").unwrap();
        let mut n = 0;
        for entry in std::fs::read_dir("fixtures/sed/4.2").unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "xml") {
                continue;
            }
            let sed = SedType::parse(path.file_stem().unwrap().to_str().unwrap()).unwrap();
            let doc = parse(&std::fs::read(&path).unwrap(), &XmlLimits::default()).unwrap();
            validate_document(&sed_schema_path(dir, &v, &sed), &doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
        assert!(n >= 7);
        let bad = parse(
            &std::fs::read("fixtures/sed/4.2/invalid/A003-bad-date.xml").unwrap(),
            &XmlLimits::default(),
        )
        .unwrap();
        match validate_document(
            &sed_schema_path(dir, &v, &SedType::parse("A003").unwrap()),
            &bad,
        ) {
            Err(ValidateError::Invalid(vs)) => {
                assert!(vs.iter().all(|v| v.line.is_some_and(|l| l > 1)), "{vs:?}");
                assert!(
                    vs.iter().any(|v| v.message.contains("1985-02-30")),
                    "{vs:?}"
                );
            }
            other => panic!("expected violations, got {other:?}"),
        }
    }
}

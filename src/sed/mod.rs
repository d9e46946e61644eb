//! SEDs on the wire: hardened XML (`xml`), the SBDH envelope (`envelope`), receipt
//! and error signals (`signal`) and XSD validation (`validate`). Only this module
//! and `signing` touch XML parsing and rendering.

pub mod admin;
pub mod envelope;
pub mod form;
pub mod person;
pub mod signal;
pub mod validate;
pub mod xml;

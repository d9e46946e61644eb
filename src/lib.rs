//! eessi-switch: Belgium's national EESSI switch. See docs/ARCHITECTURE.md.

pub mod buc;
pub mod ids;
pub mod sed;
pub mod signing;
pub mod store;

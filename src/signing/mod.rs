//! XML-DSig signing and verification of SEDs, receipts and errors (`dsig`), and the
//! institution registry that is the trust store (`registry`).

pub mod dsig;
pub mod registry;

pub use dsig::{SignError, Signer, VerifyError, sign, verify};
pub use registry::{Registry, RegistryError};

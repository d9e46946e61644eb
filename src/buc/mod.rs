//! Business Use Cases as data. `definition` loads and checks the files in
//! `buc-definitions/`; `machine` is the pure `step(case, event) -> outcome` that
//! decides whether a SED is allowed and where it leads. Neither does any IO beyond
//! reading the definition files at start-up.

pub mod actions;
pub mod deadline;
pub mod definition;
pub mod machine;
pub mod render;

pub use definition::{
    AutoClose, BucDef, Catalogue, CheckProblem, CloseScope, DefinitionError, DocParams, Effect,
    Party, ReplyTo, StateDef, Target, Transition, is_administrative,
};
pub use machine::{CaseView, Decision, DocView, SedEvent, StepError, step};

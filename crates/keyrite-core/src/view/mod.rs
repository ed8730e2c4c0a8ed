//! The view model both faces show: serialisable types without secrets (the one exception,
//! [`ShareOnScreen`], is fetched only when its custodian asks to see the share).
//!
//! The desktop's web view reads these types as JSON; its TypeScript declarations are
//! generated from them ([`typescript`], written to `ui/src/generated/keyrite.ts`) so that the
//! window can never drift from the core again. The CLI prints the same types with `--json`.

mod answer;
mod ceremony;
mod closing;
mod hsm;
mod journal;
mod picker;
mod recent;
mod resume;
mod shares;
mod typescript;

pub use answer::{AnswerError, AnswerIn, Typed};
pub use ceremony::{
    check_script_path, progress_text, AppStatus, CeremonyView, CheckView, HsmView, PromptView,
    ScriptPathError, ScriptView, ShareOnScreen, ShareScreenError,
};
pub use closing::{
    checkpoint_qr, print_record, record_queue, QrView, RecordPrintError, RecordPrintProblem,
    RecordPrinted, RecordQueueError,
};
pub use hsm::{hsm_view, profile_token, IdentityVerdict, ProfileToken};
pub use journal::{
    ceremonies, entry_view, CeremonySummary, EntryPage, EntryView, ExportDone, InventoryView,
    JournalHead, JournalVerdict,
};
pub use picker::{
    checklist, folder_choices, roles_needed, shipped_choices, shipped_script, CheckItem,
    CheckState, FolderError, FolderScripts, ScriptChoice, ScriptRefused, Tokens, TokensUnreadable,
};
pub use recent::{ceremony_line, recent_ceremonies};
pub use resume::{resume_script, unfinished, ResumeError, UnfinishedView};
pub use shares::ShareCheck;
pub use typescript::{typescript, GENERATED_TS};

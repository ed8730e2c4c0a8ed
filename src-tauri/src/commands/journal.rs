//! Journal, inventory and SIEM export screens: read-only views over the data directory's
//! journal (opened without the writer lock, so a running CLI or ceremony is never blocked).

use super::environment;
use crate::state::AppState;
use keyrite_core::inventory::{self, KeyRecord};
use keyrite_core::journal::export::{
    export_to, manifest_path, ExportFormat, ExportOptions, ExportTarget, PenChoice,
};
use keyrite_core::journal::{time, Journal};
use keyrite_core::store::StoreOptions;
use keyrite_core::view::{
    self, CeremonySummary, EntryPage, ExportDone, InventoryView, JournalVerdict,
};
use std::path::PathBuf;

/// Most entries one page of the journal view returns.
pub const MAX_PAGE: u64 = 500;

/// Opens the data directory's journal read-only; `Ok(None)` when nothing was journaled yet.
fn open(state: &AppState) -> Result<(PathBuf, Option<Journal>), String> {
    let db = environment(state)?.data().journal_db();
    if !db.is_file() {
        return Ok((db, None));
    }
    let j = Journal::open_read_only(&db, &StoreOptions::default()).map_err(|e| e.to_string())?;
    Ok((db, Some(j)))
}

/// Verifies the whole journal (hash chain and Merkle head), as `keyrite journal verify` does.
#[tauri::command(async)]
pub fn journal_verify(state: tauri::State<'_, AppState>) -> Result<JournalVerdict, String> {
    let (db, j) = open(&state)?;
    Ok(JournalVerdict::of(&db, j.as_ref()))
}

/// Entries with `seq < before` (default: all), newest first, at most `limit` (≤ [`MAX_PAGE`]).
#[tauri::command(async)]
pub fn journal_entries(
    state: tauri::State<'_, AppState>,
    before: Option<u64>,
    limit: Option<u64>,
) -> Result<EntryPage, String> {
    let (_, j) = open(&state)?;
    let Some(j) = j else {
        return Ok(EntryPage {
            size: 0,
            entries: Vec::new(),
        });
    };
    let size = j.head().size;
    let end = before.unwrap_or(size).min(size);
    let limit = limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let mut entries = Vec::new();
    if end > 0 {
        let from = end.saturating_sub(limit);
        j.for_each_entry(from, end - 1, |e| {
            entries.push(view::entry_view(e));
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    }
    entries.reverse();
    Ok(EntryPage { size, entries })
}

/// Ceremonies named in the journal, most recent first, at most `limit`.
#[tauri::command(async)]
pub fn ceremonies_recent(
    state: tauri::State<'_, AppState>,
    limit: Option<usize>,
) -> Result<Vec<CeremonySummary>, String> {
    let (_, j) = open(&state)?;
    let Some(j) = j else {
        return Ok(Vec::new());
    };
    // The same core function as `keyrite journal ceremonies`, through the journal's index.
    view::recent_ceremonies(&j, limit.unwrap_or(10)).map_err(|e| e.to_string())
}

/// How far ahead "due soon" looks.
pub const SOON_DAYS: i64 = 90;

/// Keys, states and rotation due dates (`inventory::list` and `inventory::due`).
#[tauri::command(async)]
pub fn inventory_view(state: tauri::State<'_, AppState>) -> Result<InventoryView, String> {
    let now = time::now();
    let (_, j) = open(&state)?;
    let Some(j) = j else {
        return Ok(InventoryView {
            exists: false,
            keys: Vec::new(),
            due_now: Vec::new(),
            due_soon: Vec::new(),
            soon_days: SOON_DAYS,
            as_of: now.to_rfc3339(),
        });
    };
    let ids = |v: Vec<KeyRecord>| v.into_iter().map(|k| k.key_id).collect::<Vec<_>>();
    Ok(InventoryView {
        exists: true,
        keys: inventory::list(j.store()).map_err(|e| e.to_string())?,
        due_now: ids(inventory::due(j.store(), now).map_err(|e| e.to_string())?),
        due_soon: ids(
            inventory::due(j.store(), now.plus_days(SOON_DAYS)).map_err(|e| e.to_string())?
        ),
        soon_days: SOON_DAYS,
        as_of: now.to_rfc3339(),
    })
}

/// Checks a path typed into the window: absolute (the window has no working directory a person
/// could know). That an export never overwrites, the file or its manifest, is the core's rule
/// (`export_to`), the same for `keyrite journal export`.
fn new_output_path(out: &str) -> Result<PathBuf, String> {
    let out = out.trim();
    if out.is_empty() {
        return Err(
            "type the full path of the export file, e.g. /media/usb/keyrite-journal.jsonl".into(),
        );
    }
    let p = PathBuf::from(out);
    if !p.is_absolute() {
        return Err(format!(
            "\"{out}\" is not a full path: start it with / (e.g. /media/usb/keyrite-journal.jsonl)"
        ));
    }
    Ok(p)
}

/// Exports journal entries `from..=to` for a SIEM with a manifest `OUT.manifest.json`, as
/// `keyrite journal export` does.
#[tauri::command(async)]
pub fn journal_export(
    state: tauri::State<'_, AppState>,
    format: String,
    out: String,
    from: Option<u64>,
    to: Option<u64>,
) -> Result<ExportDone, String> {
    let format = format.parse::<ExportFormat>().map_err(|e| e.to_string())?;
    let path = new_output_path(&out)?;
    let pen = PenChoice::resolve(
        None,
        environment(&state)?.profile().siem.syslog_enterprise_number,
    );
    let (db, j) = open(&state)?;
    let j = j.ok_or_else(|| {
        format!(
            "there is no journal to export yet ({} does not exist)",
            db.display()
        )
    })?;
    let opts = ExportOptions {
        format,
        from: from.unwrap_or(0),
        to,
        hostname: "-".into(),
        pen: pen.pen,
    };
    let written =
        export_to(&j, &opts, ExportTarget::File(&path), None).map_err(|e| e.to_string())?;
    Ok(ExportDone {
        out: path.display().to_string(),
        manifest_path: Some(manifest_path(&path).display().to_string()),
        manifest: written.manifest,
        notice: pen.notice(format),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_path_must_be_absolute() {
        assert_eq!(
            new_output_path("export.jsonl").unwrap_err(),
            "\"export.jsonl\" is not a full path: start it with / (e.g. /media/usb/keyrite-journal.jsonl)"
        );
        assert_eq!(
            new_output_path("  ").unwrap_err(),
            "type the full path of the export file, e.g. /media/usb/keyrite-journal.jsonl"
        );
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("new.jsonl");
        assert_eq!(new_output_path(fresh.to_str().unwrap()).unwrap(), fresh);
    }
}

//! SIEM export: OCSF 1.3.0 JSON lines, CEF and RFC 5424 syslog, each with a manifest
//! (range, hashes, head) so the receiver can detect gaps. See `docs/formats/siem-export.md`.
//!
//! An export never overwrites a file: a SIEM may already have read the old one, and its
//! manifest is the receiver's continuity anchor. Both faces write through [`export_to`].

mod context;
mod lines;
mod ocsf;

use super::{Journal, JournalError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// OCSF schema version the JSON lines follow.
pub const OCSF_VERSION: &str = "1.3.0";
/// Private Enterprise Number in RFC 5424 SD-IDs when the site sets none: 32473, the PEN that
/// RFC 5612 reserves for documentation. Keyrite has no PEN of its own; a site with one sets
/// `[siem] syslog_enterprise_number` or `--enterprise-number`. The faces say so whenever the
/// default is used ([`PenChoice::notice`]), so it is never taken silently.
pub const DEFAULT_PEN: u32 = 32473;

/// Where the enterprise number came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PenSource {
    /// The command line.
    Flag,
    /// The site profile's `[siem] syslog_enterprise_number`.
    Profile,
    /// Neither: [`DEFAULT_PEN`].
    Default,
}

/// The enterprise number an export uses and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PenChoice {
    /// The number.
    pub pen: u32,
    /// Its source.
    pub source: PenSource,
}

impl PenChoice {
    /// The flag wins over the profile; without either, [`DEFAULT_PEN`].
    pub fn resolve(flag: Option<u32>, profile: Option<u32>) -> Self {
        match (flag, profile) {
            (Some(pen), _) => Self {
                pen,
                source: PenSource::Flag,
            },
            (None, Some(pen)) => Self {
                pen,
                source: PenSource::Profile,
            },
            (None, None) => Self {
                pen: DEFAULT_PEN,
                source: PenSource::Default,
            },
        }
    }

    /// What to tell the user when the default is used for syslog.
    pub fn notice(&self, format: ExportFormat) -> Option<String> {
        (format == ExportFormat::Syslog && self.source == PenSource::Default).then(|| {
            format!(
                "syslog SD-ID keyrite@{DEFAULT_PEN} uses the documentation enterprise number \
                 (RFC 5612); set [siem] syslog_enterprise_number in the site profile or pass \
                 --enterprise-number with your organisation's IANA Private Enterprise Number"
            )
        })
    }
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// OCSF-shaped JSON, one object per line.
    Jsonl,
    /// ArcSight Common Event Format, one event per line.
    Cef,
    /// RFC 5424 syslog messages, one per line.
    Syslog,
}

impl std::str::FromStr for ExportFormat {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self, ExportError> {
        match s {
            "jsonl" => Ok(Self::Jsonl),
            "cef" => Ok(Self::Cef),
            "syslog" => Ok(Self::Syslog),
            other => Err(ExportError::UnknownFormat(other.to_string())),
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Format.
    pub format: ExportFormat,
    /// First sequence number.
    pub from: u64,
    /// Last sequence number (default: the last entry).
    pub to: Option<u64>,
    /// HOSTNAME field of syslog lines.
    pub hostname: String,
    /// Private Enterprise Number for the syslog SD-ID.
    pub pen: u32,
}

/// Describes an export file so the receiver can check it and detect gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Manifest {
    /// Format of the file.
    pub format: ExportFormat,
    /// Journal origin.
    pub origin: String,
    /// First exported sequence number.
    pub first_seq: u64,
    /// Last exported sequence number.
    pub last_seq: u64,
    /// Number of events.
    pub count: u64,
    /// `prev_hash` of the first exported entry: equals the last hash of the previous export.
    pub first_prev_hash: String,
    /// `entry_hash` of the last exported entry.
    pub last_entry_hash: String,
    /// The journal's tree head when exported.
    pub head_size: u64,
    /// Root of that head (hex).
    pub head_root: String,
    /// SHA-256 of the export file.
    pub file_sha256: String,
}

/// Export errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A format name that is not one of [`ExportFormat`]'s.
    #[error("unknown export format \"{0}\": use jsonl, cef or syslog")]
    UnknownFormat(String),
    /// Nothing in the range.
    #[error("the journal has no entries from {from} to {to}; it holds {size} entries")]
    EmptyRange {
        /// First requested.
        from: u64,
        /// Last requested.
        to: u64,
        /// Entries in the journal.
        size: u64,
    },
    /// Reading the journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Writing failed.
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
    /// The export or manifest file is already there.
    #[error("{} already exists; Keyrite never overwrites an export: choose another file name", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be created or written.
    #[error("cannot write {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The syslog HOSTNAME is not an RFC 5424 HOSTNAME.
    #[error("hostname \"{0}\" cannot be a syslog HOSTNAME: use 1 to 255 printable ASCII characters without spaces, or - for none")]
    Hostname(String),
    /// The enterprise number 0 is reserved.
    #[error("enterprise number 0 is reserved by IANA; use your organisation's Private Enterprise Number")]
    ReservedPen,
}

/// Writes entries `from..=to` to `out` in `format`; returns the manifest.
pub fn export(
    journal: &Journal,
    opts: &ExportOptions,
    out: &mut dyn Write,
) -> Result<Manifest, ExportError> {
    if opts.hostname.is_empty()
        || opts.hostname.len() > 255
        || !opts.hostname.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(ExportError::Hostname(opts.hostname.clone()));
    }
    if opts.pen == 0 {
        return Err(ExportError::ReservedPen);
    }
    let head = journal.head();
    let to = opts
        .to
        .unwrap_or(head.size.saturating_sub(1))
        .min(head.size.saturating_sub(1));
    if head.size == 0 || opts.from > to {
        return Err(ExportError::EmptyRange {
            from: opts.from,
            to: opts.to.unwrap_or(head.size),
            size: head.size,
        });
    }
    // Pass 1: facts from the start of the journal up to `to` (never beyond, so the same
    // range exports the same lines however much the journal has grown since).
    let mut ctx = context::Context::default();
    journal.for_each_entry(0, to, |e| {
        ctx.observe(&e.body_json()?, e.seq >= opts.from);
        Ok(())
    })?;
    let head_root = hex::encode(head.root);
    let mut hasher = Sha256::new();
    let mut first_prev = None;
    let mut last_hash = [0u8; 32];
    let mut count = 0u64;
    let mut io_err = None;
    journal.for_each_entry(opts.from, to, |e| {
        let body = e.body_json()?;
        let event = body.get("event").cloned().unwrap_or(Value::Null);
        let body_text = String::from_utf8_lossy(&e.body).into_owned();
        let idx = usize::try_from(e.seq - opts.from).unwrap_or(usize::MAX);
        let line = ocsf::Line {
            origin: journal.origin(),
            seq: e.seq,
            time_ms: e.time.0,
            time_text: e.time.to_rfc3339(),
            kind: event
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
            event: &event,
            body_text: &body_text,
            ceremony: ctx.ceremony_of.get(idx).and_then(|c| c.as_deref()),
            entry_hash: hex::encode(e.entry_hash),
            prev_hash: hex::encode(e.prev_hash),
            head: (head.size, head_root.clone()),
            hostname: &opts.hostname,
            ctx: &ctx,
        };
        let text = match opts.format {
            ExportFormat::Jsonl => ocsf::event(&line).to_string(),
            ExportFormat::Cef => lines::cef(&line),
            ExportFormat::Syslog => lines::syslog(&line, opts.pen),
        };
        hasher.update(text.as_bytes());
        hasher.update(b"\n");
        if io_err.is_none() {
            if let Err(err) = writeln!(out, "{text}") {
                io_err = Some(err);
            }
        }
        first_prev.get_or_insert(e.prev_hash);
        last_hash = e.entry_hash;
        count += 1;
        Ok(())
    })?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    out.flush()?;
    Ok(Manifest {
        format: opts.format,
        origin: journal.origin().to_string(),
        first_seq: opts.from,
        last_seq: to,
        count,
        first_prev_hash: hex::encode(first_prev.unwrap_or_default()),
        last_entry_hash: hex::encode(last_hash),
        head_size: head.size,
        head_root,
        file_sha256: hex::encode(hasher.finalize()),
    })
}

/// The manifest written beside an export file: `FILE.manifest.json`.
pub fn manifest_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_os_string();
    s.push(".manifest.json");
    PathBuf::from(s)
}

/// Where an export goes.
pub enum ExportTarget<'a> {
    /// A new file; its manifest goes beside it unless another path is given.
    File(&'a Path),
    /// A stream (standard output); a manifest only where one is given.
    Writer(&'a mut dyn Write),
}

/// What [`export_to`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The manifest.
    pub manifest: Manifest,
    /// Where it was written, if anywhere.
    pub manifest_path: Option<PathBuf>,
}

/// Creates `path` only if it does not exist yet (atomically: no check-then-create race).
fn create_new(path: &Path) -> Result<std::fs::File, ExportError> {
    std::fs::File::create_new(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            ExportError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            ExportError::File {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// Exports to a new file or a stream and writes the manifest to a new file. Nothing that
/// exists is ever overwritten: both files are created exclusively before a line is written,
/// and on failure the files this call created are removed (a partial export must not look
/// like a complete one).
pub fn export_to(
    journal: &Journal,
    opts: &ExportOptions,
    target: ExportTarget<'_>,
    manifest: Option<&Path>,
) -> Result<Written, ExportError> {
    let out_path = match &target {
        ExportTarget::File(p) => Some(p.to_path_buf()),
        ExportTarget::Writer(_) => None,
    };
    let mpath = manifest
        .map(Path::to_path_buf)
        .or_else(|| out_path.as_deref().map(manifest_path));
    // Refuse before creating anything when either file is already there.
    for p in out_path.iter().chain(mpath.iter()) {
        if p.exists() {
            return Err(ExportError::Exists { path: p.clone() });
        }
    }
    let mut created: Vec<PathBuf> = Vec::new();
    let result = (|| {
        let mfile = match &mpath {
            Some(p) => {
                let f = create_new(p)?;
                created.push(p.clone());
                Some(f)
            }
            None => None,
        };
        let manifest = match target {
            ExportTarget::File(p) => {
                let f = create_new(p)?;
                created.push(p.to_path_buf());
                let mut w = std::io::BufWriter::new(f);
                let m = export(journal, opts, &mut w)?;
                let f = w.into_inner().map_err(|e| ExportError::File {
                    path: p.to_path_buf(),
                    source: e.into_error(),
                })?;
                f.sync_all().map_err(|source| ExportError::File {
                    path: p.to_path_buf(),
                    source,
                })?;
                m
            }
            ExportTarget::Writer(w) => export(journal, opts, w)?,
        };
        if let (Some(p), Some(mut f)) = (&mpath, mfile) {
            let text =
                serde_json::to_string_pretty(&manifest).map_err(|e| ExportError::Io(e.into()))?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.write_all(b"\n"))
                .and_then(|()| f.sync_all())
                .map_err(|source| ExportError::File {
                    path: p.clone(),
                    source,
                })?;
        }
        Ok(Written {
            manifest,
            manifest_path: mpath.clone(),
        })
    })();
    if result.is_err() {
        for p in &created {
            let _ = std::fs::remove_file(p);
        }
    }
    result
}

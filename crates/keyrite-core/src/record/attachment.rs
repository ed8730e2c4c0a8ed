//! File attachments: the canonical transcript travels inside the record.
//!
//! An attachment is an `/EmbeddedFile` stream (Flate-compressed, `/Params /Size`), a
//! `/Filespec` with `/F` and `/UF` = the name and `/AFRelationship /Data`, listed in the
//! catalog's `/Names /EmbeddedFiles` name tree (kept sorted) and in the catalog's `/AF`
//! array (PDF 2.0 / PDF/A-3 associated files). It is appended as an incremental update.

use lopdf::{Dictionary, Document, IncrementalDocument, Object, ObjectId, Stream, StringFormat};

use super::input::{load, PdfInputError};

/// The largest attachment Keyrite reads back (a transcript is far smaller).
const MAX_ATTACHMENT_BYTES: usize = 64 * 1024 * 1024;
/// Name-tree depth limit (defends against reference loops in hostile files).
const MAX_TREE_DEPTH: usize = 16;

/// Errors from attaching or extracting files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachmentError {
    /// The input is not a readable PDF.
    #[error(transparent)]
    Input(#[from] PdfInputError),
    /// Names must be printable ASCII so that every reader shows the same name.
    #[error("attachment name {0:?} is not allowed: use 1 to 127 printable ASCII characters")]
    BadName(String),
    /// The MIME type is not `type/subtype` in printable ASCII.
    #[error("attachment MIME type {0:?} is not allowed: use type/subtype in printable ASCII")]
    BadMime(String),
    /// An attachment with this name exists already.
    #[error("the PDF already has an attachment named {0:?}")]
    Duplicate(String),
    /// No attachment with this name.
    #[error("the PDF has no attachment named {0:?}")]
    Missing(String),
    /// The attachment exists but its data cannot be read.
    #[error("the attachment {name:?} cannot be read: {reason}")]
    Unreadable {
        /// Attachment name.
        name: String,
        /// What was wrong.
        reason: String,
    },
    /// The document structure is not one Keyrite can update.
    #[error("the PDF structure cannot be updated: {0}")]
    Structure(String),
}

/// One embedded file.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The name in the EmbeddedFiles name tree.
    pub name: String,
    /// The MIME type from the stream's `/Subtype`, if any.
    pub mime: Option<String>,
    /// The decoded bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("name", &self.name)
            .field("mime", &self.mime)
            .field("len", &self.bytes.len())
            .finish()
    }
}

fn printable(s: &str) -> bool {
    !s.is_empty() && s.len() <= 127 && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn structure(e: impl std::fmt::Display) -> AttachmentError {
    AttachmentError::Structure(e.to_string())
}

/// Appends `bytes` as the attachment `name` (MIME type `mime`) to `pdf` and returns the new PDF.
pub fn attach_file(
    pdf: &[u8],
    name: &str,
    mime: &str,
    bytes: &[u8],
) -> Result<Vec<u8>, AttachmentError> {
    if !printable(name) {
        return Err(AttachmentError::BadName(name.to_string()));
    }
    let mime_ok = printable(mime)
        && !mime.contains(' ')
        && mime.split('/').count() == 2
        && mime.split('/').all(|p| !p.is_empty());
    if !mime_ok {
        return Err(AttachmentError::BadMime(mime.to_string()));
    }
    let doc = load(pdf)?;
    let mut entries = name_tree_entries(&doc)?;
    if entries.iter().any(|(n, _)| n == name.as_bytes()) {
        return Err(AttachmentError::Duplicate(name.to_string()));
    }
    let root_id = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(structure)?;

    let mut inc = IncrementalDocument::create_from(pdf.to_vec(), doc);
    let new = &mut inc.new_document;

    let mut params = Dictionary::new();
    params.set("Size", Object::Integer(bytes.len() as i64));
    let mut file_dict = Dictionary::new();
    file_dict.set("Type", Object::Name(b"EmbeddedFile".to_vec()));
    file_dict.set("Subtype", Object::Name(mime.as_bytes().to_vec()));
    file_dict.set("Params", Object::Dictionary(params));
    let mut stream = Stream::new(file_dict, bytes.to_vec());
    stream.compress().map_err(structure)?;
    let stream_id = new.add_object(Object::Stream(stream));

    let lit = |s: &str| Object::String(s.as_bytes().to_vec(), StringFormat::Literal);
    let mut ef = Dictionary::new();
    ef.set("F", Object::Reference(stream_id));
    ef.set("UF", Object::Reference(stream_id));
    let mut spec = Dictionary::new();
    spec.set("Type", Object::Name(b"Filespec".to_vec()));
    spec.set("F", lit(name));
    spec.set("UF", lit(name));
    spec.set("EF", Object::Dictionary(ef));
    spec.set("AFRelationship", Object::Name(b"Data".to_vec()));
    let spec_id = new.add_object(Object::Dictionary(spec));

    entries.push((name.as_bytes().to_vec(), Object::Reference(spec_id)));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut leaf = Vec::with_capacity(entries.len() * 2);
    for (key, value) in entries {
        leaf.push(Object::String(key, StringFormat::Literal));
        leaf.push(value);
    }
    let mut tree = Dictionary::new();
    tree.set("Names", Object::Array(leaf));
    let tree_id = new.add_object(Object::Dictionary(tree));

    inc.opt_clone_object_to_new_document(root_id)
        .map_err(structure)?;
    let prev = inc.get_prev_documents();
    let mut names = match catalog_entry(prev, b"Names") {
        Some(Object::Dictionary(d)) => d.clone(),
        _ => Dictionary::new(),
    };
    names.set("EmbeddedFiles", Object::Reference(tree_id));
    let mut af = match catalog_entry(prev, b"AF") {
        Some(Object::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    af.push(Object::Reference(spec_id));
    let catalog = inc
        .new_document
        .get_dictionary_mut(root_id)
        .map_err(structure)?;
    catalog.set("Names", Object::Dictionary(names));
    catalog.set("AF", Object::Array(af));

    let mut out = Vec::with_capacity(pdf.len() + bytes.len() + 1024);
    inc.save_to(&mut out).map_err(structure)?;
    Ok(out)
}

/// The bytes of the attachment `name`.
pub fn extract_attachment(pdf: &[u8], name: &str) -> Result<Vec<u8>, AttachmentError> {
    let doc = load(pdf)?;
    attachment_in(&doc, name).map(|a| a.bytes)
}

/// Every attachment of the PDF, in name order.
pub fn list_attachments(pdf: &[u8]) -> Result<Vec<Attachment>, AttachmentError> {
    let doc = load(pdf)?;
    attachments_in(&doc)
}

pub(crate) fn attachment_in(doc: &Document, name: &str) -> Result<Attachment, AttachmentError> {
    let entries = name_tree_entries(doc)?;
    let (key, spec) = entries
        .iter()
        .find(|(k, _)| k == name.as_bytes())
        .ok_or_else(|| AttachmentError::Missing(name.to_string()))?;
    read_filespec(doc, key, spec)
}

pub(crate) fn attachments_in(doc: &Document) -> Result<Vec<Attachment>, AttachmentError> {
    name_tree_entries(doc)?
        .iter()
        .map(|(k, spec)| read_filespec(doc, k, spec))
        .collect()
}

fn read_filespec(doc: &Document, key: &[u8], spec: &Object) -> Result<Attachment, AttachmentError> {
    let name = String::from_utf8_lossy(key).into_owned();
    let bad = |reason: &str| AttachmentError::Unreadable {
        name: name.clone(),
        reason: reason.to_string(),
    };
    let spec = deref(doc, spec)
        .and_then(|o| o.as_dict().ok())
        .ok_or_else(|| bad("the file specification is not a dictionary"))?;
    let ef = spec
        .get(b"EF")
        .ok()
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_dict().ok())
        .ok_or_else(|| bad("the file specification has no /EF"))?;
    let stream = ef
        .get(b"UF")
        .or_else(|_| ef.get(b"F"))
        .ok()
        .and_then(|o| deref(doc, o))
        .and_then(|o| o.as_stream().ok())
        .ok_or_else(|| bad("the embedded file stream is missing"))?;
    let bytes = if stream.dict.get(b"Filter").is_ok() {
        stream
            .decompressed_content_with_limit(MAX_ATTACHMENT_BYTES)
            .map_err(|e| bad(&format!("the embedded file does not decompress ({e})")))?
    } else {
        stream.content.clone()
    };
    if let Ok(size) = stream
        .dict
        .get(b"Params")
        .and_then(|p| p.as_dict())
        .and_then(|p| p.get(b"Size"))
        .and_then(|s| s.as_i64())
    {
        if size != bytes.len() as i64 {
            return Err(bad(&format!(
                "/Params /Size says {size} bytes but the stream holds {}",
                bytes.len()
            )));
        }
    }
    let mime = stream
        .dict
        .get(b"Subtype")
        .and_then(|s| s.as_name())
        .ok()
        .map(|n| String::from_utf8_lossy(n).into_owned());
    Ok(Attachment { name, mime, bytes })
}

fn deref<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Object> {
    doc.dereference(o).ok().map(|(_, o)| o)
}

fn catalog_entry<'a>(doc: &'a Document, key: &[u8]) -> Option<&'a Object> {
    let catalog = doc.catalog().ok()?;
    deref(doc, catalog.get(key).ok()?)
}

/// Flattens the EmbeddedFiles name tree (leaf `/Names` and `/Kids`).
fn name_tree_entries(doc: &Document) -> Result<Vec<(Vec<u8>, Object)>, AttachmentError> {
    let mut out = Vec::new();
    let Some(names) = catalog_entry(doc, b"Names").and_then(|o| o.as_dict().ok()) else {
        return Ok(out);
    };
    let Some(tree) = names.get(b"EmbeddedFiles").ok().and_then(|o| deref(doc, o)) else {
        return Ok(out);
    };
    walk(doc, tree, 0, &mut out)?;
    Ok(out)
}

fn walk(
    doc: &Document,
    node: &Object,
    depth: usize,
    out: &mut Vec<(Vec<u8>, Object)>,
) -> Result<(), AttachmentError> {
    if depth > MAX_TREE_DEPTH {
        return Err(structure("the EmbeddedFiles name tree is too deep"));
    }
    let node = node
        .as_dict()
        .map_err(|_| structure("an EmbeddedFiles name-tree node is not a dictionary"))?;
    if let Some(Object::Array(pairs)) = node.get(b"Names").ok().and_then(|o| deref(doc, o)) {
        if !pairs.len().is_multiple_of(2) {
            return Err(structure("an EmbeddedFiles /Names array has an odd length"));
        }
        for pair in pairs.chunks(2) {
            let key = deref(doc, &pair[0])
                .and_then(|k| k.as_str().ok())
                .ok_or_else(|| structure("an EmbeddedFiles key is not a string"))?;
            out.push((key.to_vec(), pair[1].clone()));
        }
    }
    if let Some(Object::Array(kids)) = node.get(b"Kids").ok().and_then(|o| deref(doc, o)) {
        for kid in kids {
            let kid = deref(doc, kid)
                .ok_or_else(|| structure("an EmbeddedFiles kid cannot be resolved"))?;
            walk(doc, kid, depth + 1, out)?;
        }
    }
    Ok(())
}

/// The object id of the first page (signature widgets hang there).
pub(crate) fn first_page(doc: &Document) -> Option<ObjectId> {
    doc.get_pages().values().next().copied()
}

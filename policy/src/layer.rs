//! The layer walk (design.md §3): from a ref's object down through nested signed tags to the
//! commit, one [`Layer`] per tag object.
//!
//! Never trusts gix's peel helpers (they panic on malformed tags and have no depth limit):
//! every object is size-checked before it is read, re-hashed after, parsed fallibly, and the
//! walk stops at [`MAX_LAYERS`].

use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};
use gix::objs::signature::Format;
use gix::objs::{Find, FindHeader, Kind, TagRef, TagRefIter};

/// The deepest chain of nested tags accepted.
pub const MAX_LAYERS: usize = 16;
/// The largest tag object accepted, in bytes.
pub const MAX_TAG_SIZE: u64 = 1 << 20;

/// Why a chain of layers is not acceptable, independent of who signed it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WalkError {
    /// The ref points at something other than an annotated tag (T1: lightweight tag).
    #[error(
        "points at a {kind} ({id}), not a signed tag object; deploy tags must be annotated and signed (git tag -s)"
    )]
    NotATag { id: ObjectId, kind: Kind },
    /// An object in the chain is not in the repository.
    #[error("object {0} is missing from the repository")]
    Missing(ObjectId),
    /// An object exceeds [`MAX_TAG_SIZE`].
    #[error("tag object {id} is {size} bytes, larger than the {MAX_TAG_SIZE}-byte limit")]
    TooLarge { id: ObjectId, size: u64 },
    /// More than [`MAX_LAYERS`] nested tags.
    #[error("more than {MAX_LAYERS} nested tag layers")]
    TooDeep,
    /// The bytes read do not hash to the id asked for (replace refs, corruption).
    #[error("object {0} does not hash to its id")]
    HashMismatch(ObjectId),
    /// The tag object cannot be parsed.
    #[error("tag object {id} is malformed: {reason}")]
    Malformed { id: ObjectId, reason: String },
    /// A `gpgsig` header: git's hash-interop signatures, which we do not interpret.
    #[error("tag object {0} carries a gpgsig header, which git-signed does not accept")]
    GpgsigHeader(ObjectId),
    /// The layer's `tag` header names another tag (T5: replay under another name).
    #[error("layer {id} is named {found:?} but the ref is {expected:?}; a signed tag cannot be moved to another name")]
    NameMismatch { id: ObjectId, found: String, expected: String },
    /// The `type` header disagrees with the target's real kind.
    #[error("layer {id} claims to point at a {claimed} but {target} is a {actual}")]
    KindMismatch { id: ObjectId, target: ObjectId, claimed: Kind, actual: Kind },
    /// The innermost layer points at something other than a commit.
    #[error("the innermost layer {id} points at a {kind}; deploy tags must point at a commit")]
    NotACommit { id: ObjectId, kind: Kind },
    /// The object store failed.
    #[error("cannot read object {id}: {source}")]
    Read { id: ObjectId, source: StoreError },
}

/// An object store's error, shared so a [`WalkError`] stays cheap to clone and compare (two
/// are equal when they are the same error).
#[derive(Debug, Clone)]
pub struct StoreError(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl StoreError {
    fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        StoreError(std::sync::Arc::from(e.into()))
    }
}

impl PartialEq for StoreError {
    fn eq(&self, other: &StoreError) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for StoreError {}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The tagger line of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagger {
    /// Name as written.
    pub name: BString,
    /// Email as written.
    pub email: BString,
    /// Seconds since the epoch.
    pub time: i64,
}

impl Tagger {
    fn from_signature(sig: gix::actor::SignatureRef<'_>) -> Tagger {
        Tagger { name: sig.name.to_owned(), email: sig.email.to_owned(), time: sig.time().map_or(0, |t| t.seconds) }
    }
}

impl std::fmt::Display for Tagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} <{}>", self.name, self.email)
    }
}

/// One tag object of a chain: its bytes, read once, and views into them.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The tag object's id.
    pub id: ObjectId,
    /// The object this layer wraps.
    pub target: ObjectId,
    /// The tagger, if the object has one.
    pub tagger: Option<Tagger>,
    /// The tag object as stored.
    data: Vec<u8>,
    /// Where the message starts.
    message_at: usize,
    /// Where the armored signature block starts, and its format.
    signature_at: Option<(Format, usize)>,
}

impl Layer {
    /// The tag object `bytes` (as stored, without git's `tag <size>` header) as a layer on its
    /// own, its id their hash: what its signature covers and says can be checked before the
    /// object is in any repository. Its name and target are the walk's to check.
    pub fn from_object(hash: gix::hash::Kind, bytes: &[u8]) -> Result<Layer, WalkError> {
        let id = gix::objs::compute_hash(hash, Kind::Tag, bytes)
            .map_err(|e| WalkError::Malformed { id: ObjectId::null(hash), reason: e.to_string() })?;
        if bytes.len() as u64 > MAX_TAG_SIZE {
            return Err(WalkError::TooLarge { id, size: bytes.len() as u64 });
        }
        parse(hash, id, bytes, None).map(|(layer, _)| layer)
    }

    /// The tag message, without the signature.
    pub fn message(&self) -> &[u8] {
        &self.data[self.message_at.min(self.payload().len())..self.payload().len()]
    }

    /// The armored signature block, if any, and its format.
    pub fn signature(&self) -> Option<(Format, &[u8])> {
        self.signature_at.map(|(format, at)| (format, &self.data[at..]))
    }

    /// The bytes the signature covers (what `git tag -s` signed): everything before the block.
    pub fn payload(&self) -> &[u8] {
        &self.data[..self.signature_at.map_or(self.data.len(), |(_, at)| at)]
    }

    /// The tag object's size in bytes.
    pub fn size(&self) -> usize {
        self.data.len()
    }
}

/// A walked chain: layers from innermost (layer 1, the first signer) to outermost, and the commit.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Layers, innermost first.
    pub layers: Vec<Layer>,
    /// The commit at the bottom.
    pub commit: ObjectId,
}

impl Chain {
    /// Whether `id` is one of this chain's tag objects.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.layers.iter().any(|l| l.id == *id)
    }
}

/// Walk the tag chain starting at `id` for the tag named `name` (without `refs/tags/`).
///
/// On failure the layers read so far are returned with the error, so reports can show them.
pub fn walk<O>(odb: &O, hash: gix::hash::Kind, name: &str, id: ObjectId) -> Result<Chain, (Vec<Layer>, WalkError)>
where
    O: Find + FindHeader,
{
    let mut layers = Vec::new();
    let mut buf = Vec::new();
    let mut current = id;
    loop {
        if layers.len() == MAX_LAYERS {
            return Err((finish(layers), WalkError::TooDeep));
        }
        match read_tag(odb, hash, name, current, &mut buf) {
            Ok((layer, next_kind)) => {
                let target = layer.target;
                layers.push(layer);
                match next_kind {
                    Kind::Tag => current = target,
                    Kind::Commit => return Ok(Chain { layers: finish(layers), commit: target }),
                    kind => {
                        let id = current;
                        return Err((finish(layers), WalkError::NotACommit { id, kind }));
                    }
                }
            }
            Err(e) => return Err((finish(layers), e)),
        }
    }
}

/// The tag objects of the chain at `id` for the tag `name`, innermost first: what a later
/// value must wrap, and what a recorded transition may name. A broken chain gives the layers
/// read and `id` itself.
pub fn ids<O>(odb: &O, hash: gix::hash::Kind, name: &str, id: ObjectId) -> Vec<ObjectId>
where
    O: Find + FindHeader,
{
    match walk(odb, hash, name, id) {
        Ok(chain) => chain.layers.iter().map(|l| l.id).collect(),
        Err((layers, _)) => layers.iter().map(|l| l.id).chain(std::iter::once(id)).collect(),
    }
}

/// The tag objects `id` is and wraps, outermost first, each with the `tag` name it claims,
/// without checking names or signatures: to find protected tag objects smuggled under other
/// refs. Stops at the first non-tag object (or a missing one below the top), bounded like
/// [`walk`].
pub fn claimed_names<O>(odb: &O, hash: gix::hash::Kind, id: ObjectId) -> Result<Vec<(ObjectId, String)>, WalkError>
where
    O: Find + FindHeader,
{
    let mut names = Vec::new();
    let mut current = id;
    let mut buf = Vec::new();
    for _ in 0..=MAX_LAYERS {
        let head = match header(odb, current) {
            Ok(h) => h,
            Err(WalkError::Missing(_)) if current != id => return Ok(names),
            Err(e) => return Err(e),
        };
        if head.kind != Kind::Tag {
            return Ok(names);
        }
        if head.size > MAX_TAG_SIZE {
            return Err(WalkError::TooLarge { id: current, size: head.size });
        }
        let data = match odb.try_find(&current, &mut buf) {
            Ok(Some(d)) => d,
            Ok(None) => return Err(WalkError::Missing(current)),
            Err(e) => return Err(WalkError::Read { id: current, source: StoreError::new(e) }),
        };
        let malformed = |reason: String| WalkError::Malformed { id: current, reason };
        let tag = TagRef::from_bytes(data.data, hash).map_err(|e| malformed(e.to_string()))?;
        names.push((current, tag.name.to_str_lossy().into_owned()));
        current = ObjectId::from_hex(tag.target).map_err(|e| malformed(e.to_string()))?;
    }
    Err(WalkError::TooDeep)
}

fn finish(mut outer_first: Vec<Layer>) -> Vec<Layer> {
    outer_first.reverse();
    outer_first
}

fn header<O: FindHeader>(odb: &O, id: ObjectId) -> Result<gix::objs::Header, WalkError> {
    match odb.try_header(&id) {
        Ok(Some(h)) => Ok(h),
        Ok(None) => Err(WalkError::Missing(id)),
        Err(e) => Err(WalkError::Read { id, source: StoreError::new(e) }),
    }
}

/// Where the armored signature block of a tag object starts (git's rule: the last armor
/// marker line), and its format.
fn signature_start(bytes: &[u8]) -> Result<Option<(Format, usize)>, String> {
    match TagRefIter::signature(bytes) {
        Some((sig, _)) if !ends_with_armor(sig.data) => {
            Err("bytes follow the signature's END line; git tag -s never writes them".into())
        }
        Some((sig, _)) => Ok(Some((sig.format, bytes.len() - sig.data.len()))),
        None => Ok(None),
    }
}

/// Whether an armored signature block ends with its `-----END …-----` line. Anything after
/// it is covered by no signature, yet would give a signed tag a second object id (and, in a
/// tag message, text no signer wrote).
fn ends_with_armor(block: &[u8]) -> bool {
    let body = block.strip_suffix(b"\n").unwrap_or(block);
    let last = body.rsplit(|&b| b == b'\n').next().unwrap_or(body);
    last.starts_with(b"-----END ") && last.ends_with(b"-----")
}

/// Read one tag object and the real kind of its target.
fn read_tag<O>(
    odb: &O,
    hash: gix::hash::Kind,
    name: &str,
    id: ObjectId,
    buf: &mut Vec<u8>,
) -> Result<(Layer, Kind), WalkError>
where
    O: Find + FindHeader,
{
    let head = header(odb, id)?;
    if head.kind != Kind::Tag {
        return Err(WalkError::NotATag { id, kind: head.kind });
    }
    if head.size > MAX_TAG_SIZE {
        return Err(WalkError::TooLarge { id, size: head.size });
    }
    let data = match odb.try_find(&id, buf) {
        Ok(Some(d)) => d,
        Ok(None) => return Err(WalkError::Missing(id)),
        Err(e) => return Err(WalkError::Read { id, source: StoreError::new(e) }),
    };
    if data.kind != Kind::Tag {
        return Err(WalkError::NotATag { id, kind: data.kind });
    }
    match gix::objs::compute_hash(hash, Kind::Tag, data.data) {
        Ok(actual) if actual == id => {}
        _ => return Err(WalkError::HashMismatch(id)),
    }
    let (layer, claimed) = parse(hash, id, data.data, Some(name))?;
    let target = layer.target;
    let actual = header(odb, target)?.kind;
    if actual != claimed {
        return Err(WalkError::KindMismatch { id, target, claimed, actual });
    }
    Ok((layer, actual))
}

/// The bytes of tag object `id` (they hash to it) as a layer, checked as far as they can be
/// alone: they parse, carry no `gpgsig` header, are named `name` (when given), and nothing
/// follows the signature. With the kind they claim for their target, which only the walk can
/// check.
fn parse(hash: gix::hash::Kind, id: ObjectId, bytes: &[u8], name: Option<&str>) -> Result<(Layer, Kind), WalkError> {
    let malformed = |reason: String| WalkError::Malformed { id, reason: clipped(&reason) };
    let header_end = bytes.find(b"\n\n").unwrap_or(bytes.len());
    if bytes[..header_end].lines().any(|l| l.starts_with(b"gpgsig")) {
        return Err(WalkError::GpgsigHeader(id));
    }
    let tag = TagRef::from_bytes(bytes, hash).map_err(|e| malformed(e.to_string()))?;
    let target = ObjectId::from_hex(tag.target).map_err(|e| malformed(e.to_string()))?;
    if let Some(name) = name.filter(|name| tag.name != name.as_bytes()) {
        return Err(WalkError::NameMismatch {
            id,
            found: clipped(&tag.name.to_str_lossy()),
            expected: name.to_owned(),
        });
    }
    let tagger = tag.tagger().map_err(|e| malformed(format!("bad tagger: {e}")))?.map(Tagger::from_signature);
    let signature_at = signature_start(bytes).map_err(malformed)?;
    let message_at = if header_end < bytes.len() { header_end + 2 } else { bytes.len() };
    let layer = Layer { id, target, tagger, data: bytes.to_vec(), message_at, signature_at };
    Ok((layer, tag.target_kind))
}

/// `text` from an object, cut to a length a message can show (an object can be a MiB of it,
/// and every verdict that reports it would hold a copy).
fn clipped(text: &str) -> String {
    const SHOWN: usize = 200;
    match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

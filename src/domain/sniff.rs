//! What an uploaded document really is, decided from its bytes.
//!
//! The client's file name and Content-Type are never trusted: an executable renamed
//! `diagram.pdf` must not be stored as a PDF and later handed to another hospital's staff.
//!
//! Uploads are never held whole in memory. While a file streams to storage a [`Probe`] keeps
//! its first piece and whether all of it is UTF-8 text; most kinds are known from that alone.
//! Zip (Office Open XML) and OLE (legacy Office) files are told apart by structures that may sit
//! anywhere in the file, so they are read through a [`Window`] that holds only the pieces
//! asked for: when a piece is missing, [`Sniffing::step`] names it, the caller fetches it (from
//! the stored object) and asks again.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom};

use super::doctype::DocKind;

const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// A document's bytes, read at any offset.
pub trait Source {
    fn size(&self) -> u64;
    /// Fills `buf` with the bytes at `at`; false when they are past the end or not at hand.
    fn read_at(&self, at: u64, buf: &mut [u8]) -> bool;
}

impl Source for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, at: u64, buf: &mut [u8]) -> bool {
        let Ok(start) = usize::try_from(at) else {
            return false;
        };
        match start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
        {
            Some(s) => {
                buf.copy_from_slice(s);
                true
            }
            None => false,
        }
    }
}

/// Some pieces of a document (pieces of equal length, counted from 0); a read that needs a
/// piece not at hand fails and remembers which piece it was.
pub struct Window {
    size: u64,
    piece: usize,
    pieces: BTreeMap<u64, Vec<u8>>,
    wanted: Cell<Option<u64>>,
}

impl Window {
    pub fn new(size: u64, piece: usize) -> Self {
        Self {
            size,
            piece: piece.max(1),
            pieces: BTreeMap::new(),
            wanted: Cell::new(None),
        }
    }

    pub fn insert(&mut self, index: u64, bytes: Vec<u8>) {
        self.pieces.insert(index, bytes);
    }

    /// The first piece a read missed since the last call.
    pub fn take_wanted(&self) -> Option<u64> {
        self.wanted.take()
    }

    fn first(&self) -> &[u8] {
        self.pieces.get(&0).map(Vec::as_slice).unwrap_or_default()
    }
}

impl Source for Window {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, at: u64, buf: &mut [u8]) -> bool {
        match at.checked_add(buf.len() as u64) {
            Some(end) if end <= self.size => {}
            _ => return false,
        }
        let piece = self.piece as u64;
        let (mut pos, mut filled) = (at, 0);
        while filled < buf.len() {
            let index = pos / piece;
            let Some(p) = self.pieces.get(&index) else {
                if self.wanted.get().is_none() {
                    self.wanted.set(Some(index));
                }
                return false;
            };
            let off = (pos % piece) as usize;
            let n = p.len().saturating_sub(off).min(buf.len() - filled);
            if n == 0 {
                return false;
            }
            buf[filled..filled + n].copy_from_slice(&p[off..off + n]);
            filled += n;
            pos += n as u64;
        }
        true
    }
}

/// Whether a stream of bytes is all UTF-8 without NUL, checked piece by piece (a character
/// may be cut between two pieces).
struct TextCheck {
    ok: bool,
    carry: Vec<u8>,
}

impl TextCheck {
    fn push(&mut self, chunk: &[u8]) {
        if !self.ok {
            return;
        }
        if chunk.contains(&0) {
            self.ok = false;
            return;
        }
        let joined;
        let data = if self.carry.is_empty() {
            chunk
        } else {
            joined = [self.carry.as_slice(), chunk].concat();
            joined.as_slice()
        };
        match std::str::from_utf8(data) {
            Ok(_) => self.carry.clear(),
            // Cut short, not wrong: the rest of the character comes with the next piece.
            Err(e) if e.error_len().is_none() => self.carry = data[e.valid_up_to()..].to_vec(),
            Err(_) => self.ok = false,
        }
    }

    fn done(&self) -> bool {
        self.ok && self.carry.is_empty()
    }
}

/// What a document shows while it streams past: its first piece, its size, whether it is text.
pub struct Probe {
    piece: usize,
    head: Vec<u8>,
    size: u64,
    text: TextCheck,
}

impl Probe {
    /// `piece`: how many first bytes to keep, and the length of the pieces fetched later.
    pub fn new(piece: usize) -> Self {
        Self {
            piece: piece.max(1),
            head: Vec::new(),
            size: 0,
            text: TextCheck {
                ok: true,
                carry: Vec::new(),
            },
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        let room = self.piece.saturating_sub(self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..room]);
        self.size += chunk.len() as u64;
        self.text.push(chunk);
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(self) -> Sniffing {
        let mut window = Window::new(self.size, self.piece);
        window.insert(0, self.head);
        Sniffing {
            window,
            text: self.text.done(),
        }
    }
}

/// Telling a streamed document's kind, asking for pieces as needed.
pub struct Sniffing {
    window: Window,
    text: bool,
}

impl Sniffing {
    /// The kind (`None`: not a kind we recognise), or `Err(index)`: the piece to fetch first.
    pub fn step(&self) -> Result<Option<DocKind>, u64> {
        let kind = classify(&self.window, self.window.first(), self.text);
        match self.window.take_wanted() {
            Some(index) => Err(index),
            None => Ok(kind),
        }
    }

    pub fn provide(&mut self, index: u64, bytes: Vec<u8>) {
        self.window.insert(index, bytes);
    }
}

/// The kind of a document held whole, from its content alone. `None` for anything we do not
/// recognise, which includes executables (`MZ`, ELF) and other binaries.
pub fn sniff(bytes: &[u8]) -> Option<DocKind> {
    let mut text = TextCheck {
        ok: true,
        carry: Vec::new(),
    };
    text.push(bytes);
    classify(bytes, bytes, text.done())
}

/// `head`: the first bytes (as many as at hand); `text`: whether the whole is UTF-8 without NUL.
fn classify<S: Source + ?Sized>(src: &S, head: &[u8], text: bool) -> Option<DocKind> {
    let b = head;
    if b.starts_with(b"%PDF-") {
        return Some(DocKind::Pdf);
    }
    if b.starts_with(&PNG_MAGIC) {
        return Some(DocKind::Png);
    }
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(DocKind::Jpeg);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some(DocKind::Gif);
    }
    if b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP" {
        return Some(DocKind::Webp);
    }
    // Classic TIFF (42) and BigTIFF (43), both byte orders.
    if b.starts_with(b"II*\0")
        || b.starts_with(b"MM\0*")
        || b.starts_with(b"II+\0")
        || b.starts_with(b"MM\0+")
    {
        return Some(DocKind::Tiff);
    }
    // Only a zip that *starts* as one: a self-extracting `.exe` is also a valid zip when read
    // from its end, and must stay unrecognised.
    if b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06") {
        return zip_kind(src);
    }
    if b.starts_with(&OLE_MAGIC) {
        return Some(ole_kind(src));
    }
    text_kind(head, text, src.size())
}

/// `Read + Seek` over a [`Source`], for the zip reader.
struct Reader<'a, S: ?Sized> {
    src: &'a S,
    pos: u64,
}

impl<S: Source + ?Sized> Read for Reader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.src.size().saturating_sub(self.pos);
        let n = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        if n == 0 {
            return Ok(0);
        }
        if !self.src.read_at(self.pos, &mut buf[..n]) {
            return Err(io::Error::other("this part of the document is not at hand"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl<S: Source + ?Sized> Seek for Reader<'_, S> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.src.size().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::other("seek before the start"))?;
        Ok(self.pos)
    }
}

/// OOXML packages are zips told apart by their top-level folders. Only the central directory
/// is read, nothing is decompressed, so a zip bomb costs nothing here.
fn zip_kind<S: Source + ?Sized>(src: &S) -> Option<DocKind> {
    let archive = zip::ZipArchive::new(Reader { src, pos: 0 }).ok()?;
    let names: Vec<String> = archive.file_names().map(str::to_ascii_lowercase).collect();
    // Every OPC package has this part; without it a `word/` folder is just a folder.
    if !names.iter().any(|n| n == "[content_types].xml") {
        return Some(DocKind::Zip);
    }
    let has = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
    let kind = if has("visio/") {
        DocKind::Vsdx
    } else if has("xl/") {
        DocKind::Xlsx
    } else if has("word/") {
        DocKind::Docx
    } else if has("ppt/") {
        DocKind::Pptx
    } else {
        DocKind::Zip
    };
    Some(kind)
}

fn u16_in<S: Source + ?Sized>(src: &S, at: u64) -> Option<u16> {
    let mut b = [0u8; 2];
    src.read_at(at, &mut b).then(|| u16::from_le_bytes(b))
}

fn u32_in<S: Source + ?Sized>(src: &S, at: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    src.read_at(at, &mut b).then(|| u32::from_le_bytes(b))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Legacy Office files are all OLE compound files; what tells them apart is the name of a
/// stream directly under the root. MSI installers are OLE files too, so an unknown one must
/// not pass as a Word document.
fn ole_kind<S: Source + ?Sized>(src: &S) -> DocKind {
    let Some(top) = ole_top_level_names(src) else {
        return DocKind::Ole;
    };
    let has = |name: &str| top.iter().any(|n| n.eq_ignore_ascii_case(name));
    if has("WordDocument") {
        DocKind::Doc
    } else if has("Workbook") || has("Book") {
        DocKind::Xls
    } else if has("VisioDocument") {
        DocKind::Vsd
    } else {
        DocKind::Ole
    }
}

/// Sector numbers above this are markers (end of chain, free, ...), not sectors.
const OLE_MAX_SECTOR: u32 = 0xFFFF_FFFA;
const OLE_NO_ENTRY: u32 = 0xFFFF_FFFF;

struct OleEntry {
    name: String,
    left: u32,
    right: u32,
    child: u32,
}

/// Names of the entries directly under the root storage of an OLE compound file
/// ([MS-CFB]). `None` when the structure is damaged; every chain walk is bounded by the
/// number of sectors in the file, so a crafted loop cannot hang the upload.
fn ole_top_level_names<S: Source + ?Sized>(src: &S) -> Option<Vec<String>> {
    let shift = u16_in(src, 0x1E)?;
    if shift != 9 && shift != 12 {
        return None;
    }
    let size = 1usize << shift;
    let per_sector = size / 4;
    let max_steps = src.size() / size as u64 + 1;
    // Sector n starts after the header, which takes one sector's room.
    let sector = |n: u32| -> Option<Vec<u8>> {
        let start = (u64::from(n) + 1).checked_mul(size as u64)?;
        let mut buf = vec![0u8; size];
        src.read_at(start, &mut buf).then_some(buf)
    };

    // The FAT's own sectors: 109 listed in the header, the rest in the DIFAT chain.
    let mut fat = Vec::new();
    for i in 0..109 {
        let s = u32_in(src, 0x4C + 4 * i)?;
        if s <= OLE_MAX_SECTOR {
            fat.push(s);
        }
    }
    let mut difat = u32_in(src, 0x44)?;
    let mut steps = 0;
    while difat <= OLE_MAX_SECTOR {
        steps += 1;
        if steps > max_steps {
            return None;
        }
        let sec = sector(difat)?;
        for i in 0..per_sector - 1 {
            let s = u32_at(&sec, 4 * i)?;
            if s <= OLE_MAX_SECTOR {
                fat.push(s);
            }
        }
        difat = u32_at(&sec, 4 * (per_sector - 1))?;
    }
    let next = |n: u32| -> Option<u32> {
        let fat_sector = *fat.get(n as usize / per_sector)?;
        let start = (u64::from(fat_sector) + 1).checked_mul(size as u64)?;
        u32_in(src, start + 4 * (n as usize % per_sector) as u64)
    };

    // The directory: 128-byte entries along its own sector chain.
    let mut entries = Vec::new();
    let mut dir = u32_in(src, 0x30)?;
    let mut steps = 0;
    while dir <= OLE_MAX_SECTOR {
        steps += 1;
        if steps > max_steps {
            return None;
        }
        for e in sector(dir)?.chunks_exact(128) {
            // Name length in bytes, counting the UTF-16 terminating NUL.
            let len = usize::from(u16_at(e, 0x40)?).min(64).saturating_sub(2);
            let units: Vec<u16> = e[..len]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            entries.push(OleEntry {
                name: String::from_utf16_lossy(&units),
                left: u32_at(e, 0x44)?,
                right: u32_at(e, 0x48)?,
                child: u32_at(e, 0x4C)?,
            });
        }
        dir = next(dir)?;
    }

    // Entry 0 is the root; its children form a tree linked by left/right siblings.
    let mut names = Vec::new();
    let mut stack = vec![entries.first()?.child];
    let mut visited = 0;
    while let Some(i) = stack.pop() {
        if i == OLE_NO_ENTRY {
            continue;
        }
        visited += 1;
        if visited > entries.len() {
            return None;
        }
        let e = entries.get(i as usize)?;
        names.push(e.name.clone());
        stack.push(e.left);
        stack.push(e.right);
    }
    Some(names)
}

/// UTF-8 text: SVG when its root element is `<svg`, otherwise plain text (which no
/// allow-list accepts, so HTML and scripts are refused). `head` holds the first bytes; `text`
/// says whether all of it is UTF-8 without NUL.
fn text_kind(head: &[u8], text: bool, size: u64) -> Option<DocKind> {
    if !text {
        return None;
    }
    let body = head.strip_prefix(&UTF8_BOM).unwrap_or(head);
    // Empty, or nothing but the byte order mark.
    if size <= (head.len() - body.len()) as u64 {
        return None;
    }
    // The head may end inside a character.
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or_default(),
    };
    if svg_root(text) {
        Some(DocKind::Svg)
    } else {
        Some(DocKind::Text)
    }
}

/// True when the first element, after the XML prolog, comments, processing instructions and
/// a doctype, is `<svg`.
fn svg_root(text: &str) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            match r.find("?>") {
                Some(end) => rest = &r[end + 2..],
                None => return false,
            }
        } else if let Some(r) = rest.strip_prefix("<!--") {
            match r.find("-->") {
                Some(end) => rest = &r[end + 3..],
                None => return false,
            }
        } else if let Some(r) = rest.strip_prefix("<!DOCTYPE") {
            // An internal subset (`[ <!ENTITY ...> ]`, as Illustrator writes) may hold `>`.
            let close = match (r.find('['), r.find('>')) {
                (Some(open), Some(gt)) if open < gt => r[open..]
                    .find(']')
                    .and_then(|end| r[open + end..].find('>').map(|gt| open + end + gt)),
                (_, gt) => gt,
            };
            match close {
                Some(end) => rest = &r[end + 1..],
                None => return false,
            }
        } else {
            break;
        }
    }
    match rest.strip_prefix("<svg") {
        Some(r) => matches!(r.chars().next(), Some(' ' | '\t' | '\r' | '\n' | '>' | '/')),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::doctype::{allowed_for_diagram, allowed_for_document};
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    fn zip_with(names: &[&str]) -> Vec<u8> {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        for name in names {
            w.start_file(*name, opts).unwrap();
            w.write_all(b"<x/>").unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn images_and_pdf_by_magic() {
        assert_eq!(sniff(b"%PDF-1.7\n%\xE2\xE3"), Some(DocKind::Pdf));
        assert_eq!(
            sniff(&[0x89, b'P', b'N', b'G', 13, 10, 0x1A, 10, 0]),
            Some(DocKind::Png)
        );
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(DocKind::Jpeg)
        );
        assert_eq!(sniff(b"GIF89a\x01\x00"), Some(DocKind::Gif));
        assert_eq!(sniff(b"GIF87a\x01\x00"), Some(DocKind::Gif));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(DocKind::Webp));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Some(DocKind::Tiff));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Some(DocKind::Tiff));
    }

    #[test]
    fn office_open_xml_by_entries() {
        let ct = "[Content_Types].xml";
        let vsdx = zip_with(&[ct, "_rels/.rels", "visio/document.xml"]);
        assert_eq!(sniff(&vsdx), Some(DocKind::Vsdx));
        let xlsx = zip_with(&[ct, "_rels/.rels", "xl/workbook.xml"]);
        assert_eq!(sniff(&xlsx), Some(DocKind::Xlsx));
        let docx = zip_with(&[ct, "_rels/.rels", "word/document.xml"]);
        assert_eq!(sniff(&docx), Some(DocKind::Docx));
        let pptx = zip_with(&[ct, "_rels/.rels", "ppt/presentation.xml"]);
        assert_eq!(sniff(&pptx), Some(DocKind::Pptx));
        // A plain zip, even with a `word/` folder, is not a Word document.
        assert_eq!(sniff(&zip_with(&["word/notes.txt"])), Some(DocKind::Zip));
        assert_eq!(
            sniff(&zip_with(&[ct, "Documents/1.fdoc"])),
            Some(DocKind::Zip)
        );
        assert!(!allowed_for_diagram(DocKind::Zip));
        assert!(!allowed_for_document(DocKind::Zip));
    }

    /// Real Office files deflate their entries. Listing them must not need decompression
    /// support (the `zip` crate is built without it), so mark the stored entries as deflated.
    #[test]
    fn deflated_entries_are_listed_without_decompressing() {
        let mut b = zip_with(&["[Content_Types].xml", "word/document.xml"]);
        let mut patched = 0;
        for i in 0..b.len().saturating_sub(4) {
            let method_at = match &b[i..i + 4] {
                b"PK\x03\x04" => i + 8,
                b"PK\x01\x02" => i + 10,
                _ => continue,
            };
            b[method_at] = 8;
            patched += 1;
        }
        assert_eq!(patched, 4);
        assert_eq!(sniff(&b), Some(DocKind::Docx));
    }

    #[test]
    fn broken_or_self_extracting_zip_is_not_recognised() {
        let docx = zip_with(&["[Content_Types].xml", "word/document.xml"]);
        assert_eq!(sniff(&docx[..docx.len() / 2]), None);
        let mut sfx = b"MZ\x90\0\x03\0\0\0".to_vec();
        sfx.extend_from_slice(&docx);
        assert_eq!(sniff(&sfx), None);
    }

    /// A minimal OLE compound file: header, one FAT sector (0), one directory sector (1)
    /// holding the root and the given streams as a right-leaning sibling chain.
    fn ole_with(streams: &[&str]) -> Vec<u8> {
        let mut b = vec![0u8; 512 * 3];
        b[..8].copy_from_slice(&OLE_MAGIC);
        b[0x1A] = 0x3E; // minor version 0x3E, major 3
        b[0x1C..0x1E].copy_from_slice(&0xFFFEu16.to_le_bytes()); // little-endian
        b[0x1E..0x20].copy_from_slice(&9u16.to_le_bytes()); // 512-byte sectors
        b[0x20..0x22].copy_from_slice(&6u16.to_le_bytes());
        b[0x2C..0x30].copy_from_slice(&1u32.to_le_bytes()); // one FAT sector
        b[0x30..0x34].copy_from_slice(&1u32.to_le_bytes()); // directory at sector 1
        b[0x44..0x48].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes()); // no DIFAT sectors
        for i in 0..109 {
            let at = 0x4C + 4 * i;
            let v: u32 = if i == 0 { 0 } else { 0xFFFF_FFFF };
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        // FAT: sector 0 is the FAT itself, sector 1 is a one-sector chain.
        let fat = 512;
        for i in 0..128 {
            let v: u32 = match i {
                0 => 0xFFFF_FFFD,
                1 => 0xFFFF_FFFE,
                _ => 0xFFFF_FFFF,
            };
            b[fat + 4 * i..fat + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        let dir = 1024;
        let names: Vec<&str> = std::iter::once("Root Entry")
            .chain(streams.iter().copied())
            .collect();
        assert!(names.len() <= 4);
        for (i, name) in names.iter().enumerate() {
            let e = &mut b[dir + 128 * i..dir + 128 * (i + 1)];
            let units: Vec<u16> = name.encode_utf16().collect();
            for (j, u) in units.iter().enumerate() {
                e[2 * j..2 * j + 2].copy_from_slice(&u.to_le_bytes());
            }
            e[0x40..0x42].copy_from_slice(&(2 * units.len() as u16 + 2).to_le_bytes());
            e[0x42] = if i == 0 { 5 } else { 2 };
            let last = i + 1 == names.len();
            let no = 0xFFFF_FFFFu32;
            let (left, right, child) = match i {
                0 if names.len() > 1 => (no, no, 1),
                0 => (no, no, no),
                _ if last => (no, no, no),
                _ => (no, i as u32 + 1, no),
            };
            e[0x44..0x48].copy_from_slice(&left.to_le_bytes());
            e[0x48..0x4C].copy_from_slice(&right.to_le_bytes());
            e[0x4C..0x50].copy_from_slice(&child.to_le_bytes());
        }
        b
    }

    #[test]
    fn legacy_office_by_ole_streams() {
        let doc = ole_with(&["\u{1}CompObj", "WordDocument", "1Table"]);
        assert_eq!(sniff(&doc), Some(DocKind::Doc));
        assert_eq!(sniff(&ole_with(&["Workbook"])), Some(DocKind::Xls));
        assert_eq!(sniff(&ole_with(&["Book"])), Some(DocKind::Xls));
        assert_eq!(sniff(&ole_with(&["VisioDocument"])), Some(DocKind::Vsd));
        // An MSI installer is an OLE file too, with no Office stream.
        let msi = ole_with(&["\u{5}SummaryInformation", "\u{4840}\u{3F3F}"]);
        assert_eq!(sniff(&msi), Some(DocKind::Ole));
        assert!(!allowed_for_diagram(DocKind::Ole));
        assert!(!allowed_for_document(DocKind::Ole));
        // Damaged: just the magic.
        assert_eq!(sniff(&OLE_MAGIC), Some(DocKind::Ole));
    }

    #[test]
    fn ole_directory_loop_is_refused() {
        let mut b = ole_with(&["WordDocument"]);
        // The directory chain points back at itself.
        b[512 + 4..512 + 8].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(sniff(&b), Some(DocKind::Ole));
    }

    #[test]
    fn renamed_executable_is_not_allowed() {
        // `diagram.pdf` in name only: the name is never looked at.
        let exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xFF\xFF\0\0This program cannot be run in DOS mode";
        let kind = sniff(exe);
        assert_eq!(kind, None);
        assert!(!kind.is_some_and(allowed_for_diagram));
        assert_eq!(sniff(b"\x7FELF\x02\x01\x01\0\0\0\0\0"), None);
    }

    #[test]
    fn svg_with_prolog_comments_and_doctype() {
        let svg = "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
            <!-- Generator: Adobe Illustrator -->\n\
            <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x.dtd\" [\n\
              <!ENTITY ns_svg \"http://www.w3.org/2000/svg\">\n]>\n\
            <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\"><rect/></svg>";
        assert_eq!(sniff(svg.as_bytes()), Some(DocKind::Svg));
        assert_eq!(sniff(b"<svg>\n</svg>"), Some(DocKind::Svg));
        assert!(allowed_for_diagram(DocKind::Svg));
        assert!(!allowed_for_document(DocKind::Svg));
    }

    #[test]
    fn html_and_scripts_are_text_and_refused() {
        for text in [
            "<!DOCTYPE html><html><body><svg></svg></body></html>",
            "<html><script>alert(1)</script></html>",
            "<svgfoo/>",
            "#!/bin/sh\nrm -rf /\n",
            "<?xml version=\"1.0\"?><!-- unterminated",
        ] {
            let kind = sniff(text.as_bytes());
            assert_eq!(kind, Some(DocKind::Text), "{text}");
            assert!(!allowed_for_diagram(DocKind::Text));
            assert!(!allowed_for_document(DocKind::Text));
        }
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\0\x01\x02binary"), None);
        assert_eq!(sniff(b"\xFF\xFEnot utf-8"), None);
    }

    /// Streams `bytes` through a `Probe` in `chunk`-byte pieces, then answers every piece the
    /// sniffing asks for; returns the kind and how many pieces were fetched.
    fn streamed(bytes: &[u8], piece: usize, chunk: usize) -> (Option<DocKind>, usize) {
        let mut probe = Probe::new(piece);
        for c in bytes.chunks(chunk) {
            probe.push(c);
        }
        assert_eq!(probe.size(), bytes.len() as u64);
        let mut sniffing = probe.finish();
        let mut fetched = 0;
        loop {
            match sniffing.step() {
                Ok(kind) => return (kind, fetched),
                Err(index) => {
                    let start = index as usize * piece;
                    let end = (start + piece).min(bytes.len());
                    assert!(start < end, "asked for piece {index} past the end");
                    sniffing.provide(index, bytes[start..end].to_vec());
                    fetched += 1;
                    assert!(
                        fetched <= bytes.len() / piece + 1,
                        "asked twice for a piece"
                    );
                }
            }
        }
    }

    #[test]
    fn streamed_sniffing_agrees_with_the_whole_file() {
        let many: Vec<String> = (0..400)
            .map(|i| format!("xl/worksheets/sheet{i}.xml"))
            .collect();
        let mut xlsx_names: Vec<&str> = vec!["[Content_Types].xml"];
        xlsx_names.extend(many.iter().map(String::as_str));
        let mut padded_pdf = b"%PDF-1.7\n".to_vec();
        padded_pdf.resize(5000, b'x');
        let svg = "\u{FEFF}<?xml version=\"1.0\"?>\n<!-- 構成図 -->\n<svg xmlns=\"http://www.w3.org/2000/svg\"><text>ネットワーク</text></svg>";
        let fixtures: Vec<(&str, Vec<u8>)> = vec![
            ("pdf", padded_pdf),
            ("xlsx with a long central directory", zip_with(&xlsx_names)),
            (
                "vsdx",
                zip_with(&["[Content_Types].xml", "visio/document.xml"]),
            ),
            ("plain zip", zip_with(&["notes.txt"])),
            ("doc", ole_with(&["WordDocument", "1Table"])),
            ("vsd", ole_with(&["VisioDocument"])),
            ("msi-like", ole_with(&["Installer"])),
            ("svg", svg.as_bytes().to_vec()),
            (
                "japanese text",
                "病院のネットワーク構成\n".repeat(200).into_bytes(),
            ),
            (
                "cut utf-8",
                [&"あ".repeat(100).into_bytes()[..], &[0xE3, 0x81]].concat(),
            ),
            ("nul", b"text\0more".to_vec()),
            ("exe", b"MZ\x90\0\x03\0\0\0".to_vec()),
            ("empty", Vec::new()),
            ("bom only", UTF8_BOM.to_vec()),
        ];
        for (name, bytes) in &fixtures {
            let whole = sniff(bytes);
            for (piece, chunk) in [(512, 1), (512, 7), (4096, 1000), (65536, 65536)] {
                let (kind, _) = streamed(bytes, piece, chunk);
                assert_eq!(kind, whole, "{name}: piece {piece}, chunk {chunk}");
            }
        }
        // The zip's central directory lies past the first piece: it is fetched, not guessed.
        let xlsx = &fixtures[1].1;
        assert!(xlsx.len() > 4 * 512);
        let (kind, fetched) = streamed(xlsx, 512, 512);
        assert_eq!(kind, Some(DocKind::Xlsx));
        assert!(fetched >= 2, "{fetched}");
        // A PDF needs nothing more than its first piece.
        assert_eq!(streamed(&fixtures[0].1, 512, 512), (Some(DocKind::Pdf), 0));
    }

    #[test]
    fn a_window_reports_the_first_missing_piece() {
        let mut w = Window::new(10_000, 1000);
        w.insert(0, vec![1; 1000]);
        w.insert(1, vec![2; 1000]);
        let mut buf = [0u8; 1500];
        assert!(w.read_at(500, &mut buf));
        assert_eq!((buf[0], buf[1499]), (1, 2));
        assert_eq!(w.take_wanted(), None);
        assert!(!w.read_at(1500, &mut buf));
        assert_eq!(w.take_wanted(), Some(2));
        // Past the end is not "missing": nothing to fetch.
        assert!(!w.read_at(9_999, &mut [0u8; 2]));
        assert_eq!(w.take_wanted(), None);
    }
}

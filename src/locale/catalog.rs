//! Translation files as Tornado reads them: CSV files (`fr_FR.csv`, rows of
//! message, translation and an optional `singular`/`plural`/`unknown`
//! column), and gettext catalogs (`{dir}/{lang}/LC_MESSAGES/{domain}.mo`, or
//! the `.po` it is compiled from).

use std::collections::HashMap;
use std::path::Path;

use super::plural::PluralRule;
use crate::error::{Error, Result};

/// gettext's separator between a message's context and its id.
const CONTEXT: char = '\u{4}';

/// One language's translations.
#[derive(Debug, Clone)]
pub(crate) enum Catalog {
    /// Tornado's CSV: messages by plural column (`unknown` for rows without
    /// one); a plural translation is chosen by `count != 1`, as Tornado does.
    Csv { unknown: HashMap<String, String>, singular: HashMap<String, String>, plural: HashMap<String, String> },
    /// gettext: every form of each message (`context\x04id` for a message
    /// with a context), and the catalog's plural rule.
    Gettext { messages: HashMap<String, Vec<String>>, rule: PluralRule },
}

impl Catalog {
    /// How many messages the catalog translates.
    pub(crate) fn len(&self) -> usize {
        match self {
            Catalog::Csv { unknown, singular, plural } => unknown.len() + singular.len() + plural.len(),
            Catalog::Gettext { messages, .. } => messages.len(),
        }
    }

    pub(crate) fn translate(&self, message: &str) -> Option<&str> {
        match self {
            Catalog::Csv { unknown, .. } => unknown.get(message).map(String::as_str),
            Catalog::Gettext { messages, rule } => {
                // A message only translated with plural forms takes the form for 1.
                let forms = messages.get(message)?;
                forms.get(if forms.len() > 1 { rule.form(1) } else { 0 }).map(String::as_str)
            }
        }
    }

    pub(crate) fn translate_plural(&self, message: &str, plural: &str, count: u64) -> Option<&str> {
        match self {
            Catalog::Csv { singular, plural: plurals, .. } => {
                if count != 1 {
                    plurals.get(plural).map(String::as_str)
                } else {
                    singular.get(message).map(String::as_str)
                }
            }
            Catalog::Gettext { messages, rule } => {
                let forms = messages.get(message).filter(|f| f.len() > 1)?;
                forms.get(rule.form(count)).map(String::as_str)
            }
        }
    }

    /// A message with a context (gettext's `pgettext`); CSV files have no
    /// contexts, so none is found there.
    pub(crate) fn with_context(&self, context: &str, message: &str, plural: Option<(&str, u64)>) -> Option<&str> {
        let Catalog::Gettext { .. } = self else { return None };
        let key = format!("{context}{CONTEXT}{message}");
        match plural {
            Some((plural, count)) => self.translate_plural(&key, plural, count),
            None => self.translate(&key),
        }
    }
}

/// Whether `code` names a locale as Tornado accepts it: `fr`, `fr_FR`.
pub(crate) fn is_locale_code(code: &str) -> bool {
    let (language, region) = code.split_once('_').unwrap_or((code, ""));
    !language.is_empty()
        && language.bytes().all(|b| b.is_ascii_lowercase())
        && (code.len() == language.len() || (!region.is_empty() && region.bytes().all(|b| b.is_ascii_uppercase())))
}

/// Every `LOCALE.csv` in `dir`, by locale code.
pub(crate) fn load_csv_dir(dir: &Path) -> Result<HashMap<String, Catalog>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(format!("translations: {}", dir.display()), e))?;
    let mut catalogs = HashMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(code) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".csv")) else {
            continue;
        };
        if !is_locale_code(code) {
            log::error!(target: "squall::locale", "{}: not a locale name (fr, fr_FR): skipped", path.display());
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io(format!("translations: {}", path.display()), e))?;
        let text =
            decode(&bytes).ok_or_else(|| Error::config(format!("{}: neither UTF-8 nor UTF-16", path.display())))?;
        catalogs.insert(code.to_owned(), csv_catalog(&text, &path));
    }
    Ok(catalogs)
}

/// A CSV file's text: UTF-16 after its byte-order mark, else UTF-8 (with or
/// without one), as Tornado detects it.
fn decode(bytes: &[u8]) -> Option<String> {
    let utf16 = |to_unit: fn([u8; 2]) -> u16| {
        let units: Vec<u16> = bytes[2..].chunks_exact(2).map(|pair| to_unit([pair[0], pair[1]])).collect();
        String::from_utf16(&units).ok()
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(u16::from_le_bytes),
        [0xFE, 0xFF, ..] => utf16(u16::from_be_bytes),
        _ => {
            let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
            String::from_utf8(bytes.to_vec()).ok()
        }
    }
}

fn csv_catalog(text: &str, path: &Path) -> Catalog {
    let (mut unknown, mut singular, mut plural) = (HashMap::new(), HashMap::new(), HashMap::new());
    for (line, row) in csv_rows(text).into_iter().enumerate() {
        let row: Vec<&str> = row.iter().map(|cell| cell.trim()).collect();
        let [english, translation, rest @ ..] = row.as_slice() else { continue };
        let table = match rest.first().copied().unwrap_or("") {
            "" | "unknown" => &mut unknown,
            "singular" => &mut singular,
            "plural" => &mut plural,
            other => {
                log::error!(
                    target: "squall::locale",
                    "{} row {}: plural column {other:?} is not singular, plural or unknown: skipped",
                    path.display(),
                    line + 1
                );
                continue;
            }
        };
        table.insert((*english).to_owned(), (*translation).to_owned());
    }
    Catalog::Csv { unknown, singular, plural }
}

/// The rows of a CSV text in the "excel" dialect: comma-separated, fields
/// in double quotes may hold commas, line breaks and doubled quotes.
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows.retain(|r| !(r.len() == 1 && r[0].is_empty()));
    rows
}

/// Every `{dir}/{lang}/LC_MESSAGES/{domain}.mo` (or `.po` where there is no
/// `.mo`), by language.
pub(crate) fn load_gettext_dir(dir: &Path, domain: &str) -> Result<HashMap<String, Catalog>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(format!("translations: {}", dir.display()), e))?;
    let mut catalogs = HashMap::new();
    for entry in entries.flatten() {
        let Some(code) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let messages = entry.path().join("LC_MESSAGES");
        let (mo, po) = (messages.join(format!("{domain}.mo")), messages.join(format!("{domain}.po")));
        let catalog = if mo.is_file() {
            let bytes = std::fs::read(&mo).map_err(|e| Error::io(format!("translations: {}", mo.display()), e))?;
            read_mo(&bytes).map_err(|why| Error::config(format!("{}: {why}", mo.display())))?
        } else if po.is_file() {
            read_po(&po)?
        } else {
            continue;
        };
        catalogs.insert(code, catalog);
    }
    Ok(catalogs)
}

/// A compiled catalog (GNU gettext manual, "The Format of GNU MO Files"):
/// a header of 32-bit words in either byte order, then tables of (length,
/// offset) pairs for the original strings and their translations.
pub(crate) fn read_mo(bytes: &[u8]) -> std::result::Result<Catalog, String> {
    let word_at = |at: usize, little: bool| -> std::result::Result<u32, String> {
        let word: [u8; 4] = bytes.get(at..at + 4).and_then(|w| w.try_into().ok()).ok_or("cut short")?;
        Ok(if little { u32::from_le_bytes(word) } else { u32::from_be_bytes(word) })
    };
    let little = match word_at(0, true)? {
        0x9504_12de => true,
        0xde12_0495 => false,
        _ => return Err("not a .mo file (no magic number)".into()),
    };
    let word = |at: usize| word_at(at, little).map(|w| w as usize);
    let (count, originals, translations) = (word(8)?, word(12)?, word(16)?);
    let string = |table: usize, i: usize| -> std::result::Result<&str, String> {
        let entry = table.checked_add(i.checked_mul(8).ok_or("too many strings")?).ok_or("too many strings")?;
        let (len, at) = (word(entry)?, word(entry + 4)?);
        let raw = bytes.get(at..at.checked_add(len).ok_or("cut short")?).ok_or("a string past the end")?;
        std::str::from_utf8(raw).map_err(|_| "a string that is not UTF-8".to_owned())
    };
    let mut messages = HashMap::new();
    let mut rule = PluralRule::germanic();
    for i in 0..count {
        let (original, translation) = (string(originals, i)?, string(translations, i)?);
        if original.is_empty() {
            if let Some(header) = translation.lines().find_map(|l| l.strip_prefix("Plural-Forms:")) {
                rule = PluralRule::from_header(header)?;
            }
            continue;
        }
        // A plural entry is `id\0id_plural`, its forms `form0\0form1…`.
        let id = original.split('\0').next().unwrap_or(original);
        messages.insert(id.to_owned(), translation.split('\0').map(str::to_owned).collect());
    }
    Ok(Catalog::Gettext { messages, rule })
}

/// A catalog's source, read by `polib`; untranslated and fuzzy entries are
/// left out, as `msgfmt` leaves them out of the `.mo`.
fn read_po(path: &Path) -> Result<Catalog> {
    let catalog = polib::po_file::parse(path).map_err(|e| Error::config(format!("{}: {e}", path.display())))?;
    let rules = &catalog.metadata.plural_rules;
    let header = format!("nplurals={}; plural={};", rules.nplurals, rules.expr);
    let rule = PluralRule::from_header(&header).map_err(|why| Error::config(format!("{}: {why}", path.display())))?;
    let mut messages = HashMap::new();
    for message in catalog.messages() {
        if message.is_fuzzy() || !message.is_translated() {
            continue;
        }
        let key = match message.msgctxt() {
            Some(context) if !context.is_empty() => format!("{context}{CONTEXT}{}", message.msgid()),
            _ => message.msgid().to_owned(),
        };
        let forms = match message.msgstr_plural() {
            Ok(forms) => forms.clone(),
            Err(_) => vec![message.msgstr().unwrap_or_default().to_owned()],
        };
        messages.insert(key, forms);
    }
    Ok(Catalog::Gettext { messages, rule })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_follow_the_excel_dialect() {
        let rows = csv_rows("\"a, b\",\"say \"\"hi\"\"\"\r\nplain,x,plural\n\"multi\nline\",y\n\n");
        assert_eq!(rows, [vec!["a, b", "say \"hi\""], vec!["plain", "x", "plural"], vec!["multi\nline", "y"]]);
    }

    #[test]
    fn csv_text_is_utf8_or_utf16_by_its_byte_order_mark() {
        assert_eq!(decode(b"\xEF\xBB\xBF\"school\"").unwrap(), "\"school\"");
        let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("é,x".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(decode(&utf16).unwrap(), "é,x");
        assert!(decode(b"\xff\x00").is_none());
    }

    #[test]
    fn locale_codes_are_a_language_and_an_optional_region() {
        for good in ["fr", "fr_FR", "zh_CN", "es"] {
            assert!(is_locale_code(good), "{good}");
        }
        for bad in ["FR", "fr_fr", "fr-FR", "fr_", "", "f1"] {
            assert!(!is_locale_code(bad), "{bad}");
        }
    }

    #[test]
    fn a_broken_mo_file_is_an_error_not_a_panic() {
        assert!(read_mo(b"").is_err());
        assert!(read_mo(&[0xde, 0x12, 0x04, 0x95, 0, 0, 0, 0, 255, 255, 255, 255]).is_err());
        let mut header = vec![0xde, 0x12, 0x04, 0x95];
        header.extend([0u8; 4]);
        header.extend(1u32.to_le_bytes());
        header.extend(u32::MAX.to_le_bytes());
        header.extend(u32::MAX.to_le_bytes());
        assert!(read_mo(&header).is_err());
    }
}

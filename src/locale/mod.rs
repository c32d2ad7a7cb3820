//! Translations (cargo feature `locale`), as Tornado's `tornado.locale` has
//! them: a migrated app keeps its files.
//!
//! - **Files**: Tornado's CSV files ([`Translations::csv_dir`]: `fr_FR.csv`
//!   with rows `"message","traduction"` and an optional `singular` /
//!   `plural` column), or gettext catalogs ([`Translations::gettext_dir`]:
//!   `{dir}/fr_FR/LC_MESSAGES/{domain}.mo`, or the `.po` beside it).
//! - **Plural forms**: a gettext catalog's `Plural-Forms` rule picks the
//!   form (French counts 0 as singular, Russian has three forms); Tornado's
//!   CSV files have two columns, chosen by `count != 1` as Tornado does.
//! - **Which locale**: a user setting ([`App::user_locale`](crate::App::user_locale)),
//!   then the `Accept-Language` header by its q-values, then the default
//!   (`en_US`) — [`Request::locale`](crate::Request::locale). A code matches
//!   exactly (`fr_FR`) or by its language (`fr-CA` finds `fr`).
//! - **For people**: [`Locale::format_date`] ("3 minutes ago", "yesterday at
//!   5:01 pm"), [`Locale::format_day`], [`Locale::friendly_number`],
//!   [`Locale::list`]; in templates, `_()` with plural forms.
//!
//! ```no_run
//! use squall::locale::Translations;
//! use squall::{App, Request, Router, get};
//!
//! async fn hello(req: Request) -> String {
//!     let locale = req.locale();
//!     let count = 3;
//!     let notes = locale.translate_plural("%(count)d note", "%(count)d notes", count);
//!     squall::locale::interpolate(&notes, &[("count", &count.to_string())])
//! }
//!
//! let translations = Translations::csv_dir("translations")?;
//! let app = App::new(Router::new().route("/", get(hello))).translations(translations);
//! # Ok::<(), squall::Error>(())
//! ```

mod catalog;
mod dates;
mod plural;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use catalog::Catalog;
pub use dates::{DateFormat, interpolate};
use dates::{Said, choose, civil, time_of_day, unix_seconds, with_commas};

use crate::error::Result;

/// The locale every message is written in, unless set otherwise (Tornado's
/// default).
const DEFAULT: &str = "en_US";

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// The translations an app has: one [`Locale`] per file loaded, plus the
/// default locale its messages are written in.
#[derive(Clone)]
pub struct Translations {
    default: String,
    locales: HashMap<String, Locale>,
}

impl Translations {
    /// No translations: every request gets the default locale, `en_US`.
    pub fn none() -> Self {
        let mut translations = Translations { default: DEFAULT.to_owned(), locales: HashMap::new() };
        translations.add_default();
        translations
    }

    /// Tornado's CSV translation files in `dir` (`load_translations`): one
    /// `LOCALE.csv` per locale (`es_GT.csv`, `fr.csv`), UTF-8 or UTF-16 by
    /// byte-order mark. Files with other names, and rows whose third column
    /// is not `singular`, `plural` or `unknown`, are skipped with an error
    /// in the log, as Tornado skips them.
    ///
    /// # Errors
    ///
    /// When `dir` or a file in it cannot be read, or a file is not text.
    pub fn csv_dir(dir: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::from_catalogs(catalog::load_csv_dir(dir.as_ref())?))
    }

    /// gettext catalogs (`load_gettext_translations`):
    /// `{dir}/{lang}/LC_MESSAGES/{domain}.mo`, or `{domain}.po` where no
    /// `.mo` was compiled (untranslated and fuzzy entries left out, as
    /// `msgfmt` leaves them out).
    ///
    /// # Errors
    ///
    /// When `dir` or a catalog cannot be read, or a catalog is malformed
    /// (its plural rule included).
    pub fn gettext_dir(dir: impl AsRef<Path>, domain: &str) -> Result<Self> {
        Ok(Self::from_catalogs(catalog::load_gettext_dir(dir.as_ref(), domain)?))
    }

    fn from_catalogs(catalogs: HashMap<String, Catalog>) -> Self {
        let locales =
            catalogs.into_iter().map(|(code, catalog)| (code.clone(), Locale::new(&code, Some(catalog)))).collect();
        let mut translations = Translations { default: DEFAULT.to_owned(), locales };
        translations.add_default();
        let mut codes: Vec<&str> = translations.supported().collect();
        codes.sort_unstable();
        log::debug!(target: "squall::locale", "supported locales: {}", codes.join(", "));
        translations
    }

    /// The locale the app's messages are written in (Tornado's
    /// `set_default_locale`): what a request gets when nothing else
    /// matches. `en_US` unless set.
    pub fn default_locale(mut self, code: &str) -> Self {
        code.clone_into(&mut self.default);
        self.add_default();
        self
    }

    fn add_default(&mut self) {
        let code = self.default.clone();
        self.locales.entry(code.clone()).or_insert_with(|| Locale::new(&code, None));
    }

    /// The codes of every locale there is a translation for, and the default.
    pub fn supported(&self) -> impl Iterator<Item = &str> {
        self.locales.keys().map(String::as_str)
    }

    /// The locale for `code` exactly, if supported.
    pub fn get(&self, code: &str) -> Option<&Locale> {
        self.locales.get(code)
    }

    /// The first of `codes` supported, exactly (`fr_FR`, also spelled
    /// `fr-fr`) or by its language (`fr` for `fr_CA`); else the default
    /// (Tornado's `get_closest`). One step further than Tornado: a code
    /// whose region and language both miss (`fr`, `fr_CA`) takes another
    /// region of its language that is supported (`fr_FR`; the first by name
    /// when there are several), so a browser asking for `fr` or `fr-CA`
    /// gets the `fr_FR.csv` translations rather than the default.
    pub fn closest<'a>(&self, codes: impl IntoIterator<Item = &'a str>) -> &Locale {
        self.matching(codes).unwrap_or_else(|| self.default())
    }

    /// The first of `codes` supported, as [`closest`](Self::closest) finds
    /// it, or none.
    pub fn matching<'a>(&self, codes: impl IntoIterator<Item = &'a str>) -> Option<&Locale> {
        for code in codes {
            let code = code.trim().replace('-', "_");
            let parts: Vec<&str> = code.split('_').collect();
            let language = parts[0].to_ascii_lowercase();
            let exact = match parts.as_slice() {
                [_] => code.clone(),
                [_, region] => format!("{language}_{}", region.to_ascii_uppercase()),
                _ => continue,
            };
            if let Some(locale) = self.locales.get(&exact).or_else(|| self.locales.get(&language)) {
                return Some(locale);
            }
            let prefix = format!("{language}_");
            let regional = self.locales.iter().filter(|(code, _)| code.starts_with(&prefix)).min_by_key(|(c, _)| *c);
            if let Some((_, locale)) = regional {
                return Some(locale);
            }
        }
        None
    }

    /// The locale an `Accept-Language` header asks for, by its q-values
    /// (RFC 9110, section 12.5.4): ranges with `q=0` are refused, a
    /// malformed q-value drops its range, `*` matches nothing in particular;
    /// the default when nothing is supported.
    pub fn from_accept_language(&self, header: &str) -> &Locale {
        self.accepted(header).unwrap_or_else(|| self.default())
    }

    pub(crate) fn accepted(&self, header: &str) -> Option<&Locale> {
        let mut ranked: Vec<(&str, f32)> = Vec::new();
        for item in header.split(',') {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or("").trim();
            let q = match parts.map(str::trim).find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))) {
                None => Some(1.0),
                Some(q) => q.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)),
            };
            match q {
                Some(q) if q > 0.0 && !range.is_empty() && range != "*" => ranked.push((range, q)),
                _ => {}
            }
        }
        // Stable: equal q-values keep the header's order.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        self.matching(ranked.into_iter().map(|(range, _)| range))
    }

    /// The default locale.
    pub fn default(&self) -> &Locale {
        self.locales.get(&self.default).unwrap_or_else(|| english())
    }
}

impl fmt::Debug for Translations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut codes: Vec<&str> = self.supported().collect();
        codes.sort_unstable();
        f.debug_struct("Translations").field("default", &self.default).field("supported", &codes).finish()
    }
}

/// Reads a compiled `.mo` catalog: how many messages it translates, or why
/// it is refused. For the fuzz targets (`crate::__private`).
pub(crate) fn read_mo(bytes: &[u8]) -> std::result::Result<usize, String> {
    catalog::read_mo(bytes).map(|catalog| catalog.len())
}

/// Reads a `Plural-Forms` header value: the number of forms and the form
/// for each of `counts`, or why the rule is refused. For the fuzz targets.
pub(crate) fn plural_forms(header: &str, counts: &[u64]) -> std::result::Result<(usize, Vec<usize>), String> {
    let rule = plural::PluralRule::from_header(header)?;
    Ok((rule.forms(), counts.iter().map(|&n| rule.form(n)).collect()))
}

/// `en_US` with no translations: what a request gets from an app that has
/// none.
pub(crate) fn english() -> &'static Locale {
    static ENGLISH: OnceLock<Locale> = OnceLock::new();
    ENGLISH.get_or_init(|| Locale::new(DEFAULT, None))
}

/// One language: its translations and how it writes dates and numbers.
/// Cheap to clone.
#[derive(Clone)]
pub struct Locale {
    inner: Arc<Inner>,
}

struct Inner {
    code: String,
    catalog: Option<Catalog>,
    months: [String; 12],
    weekdays: [String; 7],
}

impl Locale {
    fn new(code: &str, catalog: Option<Catalog>) -> Self {
        let translate = |m: &str| catalog.as_ref().and_then(|c| c.translate(m)).unwrap_or(m).to_owned();
        let months = MONTHS.map(translate);
        let weekdays = WEEKDAYS.map(translate);
        Locale { inner: Arc::new(Inner { code: code.to_owned(), catalog, months, weekdays }) }
    }

    /// Its code: `fr_FR`, `en_US`.
    pub fn code(&self) -> &str {
        &self.inner.code
    }

    /// Whether the language is written right to left (Persian, Arabic,
    /// Hebrew, as Tornado's `rtl`).
    pub fn is_rtl(&self) -> bool {
        ["fa", "ar", "he"].iter().any(|p| self.inner.code.starts_with(p))
    }

    /// `message` in this language, or `message` itself when there is no
    /// translation.
    pub fn translate<'a>(&'a self, message: &'a str) -> &'a str {
        self.inner.catalog.as_ref().and_then(|c| c.translate(message)).unwrap_or(message)
    }

    /// The form of `message` / `plural` for `count`: the catalog's plural
    /// rule for gettext, `count != 1` for CSV files (as Tornado); without a
    /// translation, `message` for 1 and `plural` otherwise.
    pub fn translate_plural<'a>(&'a self, message: &'a str, plural: &'a str, count: u64) -> &'a str {
        let english = if count == 1 { message } else { plural };
        self.inner.catalog.as_ref().and_then(|c| c.translate_plural(message, plural, count)).unwrap_or(english)
    }

    /// `message` in `context` (gettext's `pgettext`: "right" in "law" is
    /// "le droit", in "good" "le bien"), with plural forms when `plural`
    /// is given; without a translation in that context, as
    /// [`translate`](Self::translate) or [`translate_plural`](Self::translate_plural).
    pub fn pgettext<'a>(&'a self, context: &str, message: &'a str, plural: Option<(&'a str, u64)>) -> &'a str {
        if let Some(found) = self.inner.catalog.as_ref().and_then(|c| c.with_context(context, message, plural)) {
            return found;
        }
        match plural {
            Some((plural, count)) => self.translate_plural(message, plural, count),
            None => self.translate(message),
        }
    }

    /// `date` for a person, relative to now: see [`format_date_at`](Self::format_date_at).
    pub fn format_date(&self, date: SystemTime, format: &DateFormat) -> String {
        self.format_date_at(date, SystemTime::now(), format)
    }

    /// `date` for a person reading it at `now`, as Tornado's `format_date`
    /// writes it: "1 second ago", "3 minutes ago", "2 hours ago" the same
    /// day; then "yesterday at 5:01 pm", "Monday at 5:01 pm" within five
    /// days, "April 28 at 5:01 pm" within 334 days, "April 28, 2013 at
    /// 5:01 pm" beyond (or ahead of `now` by over a minute). Every phrase,
    /// month and weekday goes through the translations; English and
    /// Simplified Chinese tell time in 12 hours, the others in 24.
    pub fn format_date_at(&self, date: SystemTime, now: SystemTime, format: &DateFormat) -> String {
        let (said, local) = choose(unix_seconds(date), unix_seconds(now), format);
        let count = |singular: &str, plural: &str, name: &str, n: u64| {
            interpolate(self.translate_plural(singular, plural, n), &[(name, &n.to_string())])
        };
        let pattern = match said {
            Said::SecondsAgo(n) => return count("1 second ago", "%(seconds)d seconds ago", "seconds", n),
            Said::MinutesAgo(n) => return count("1 minute ago", "%(minutes)d minutes ago", "minutes", n),
            Said::HoursAgo(n) => return count("1 hour ago", "%(hours)d hours ago", "hours", n),
            Said::Pattern(pattern) => pattern,
        };
        let at = civil(local);
        let (day, year, time) = (at.day.to_string(), at.year.to_string(), time_of_day(self.code(), &at));
        interpolate(
            self.translate(pattern),
            &[
                ("month_name", &self.inner.months[at.month - 1]),
                ("weekday", &self.inner.weekdays[at.weekday]),
                ("day", &day),
                ("year", &year),
                ("time", &time),
            ],
        )
    }

    /// The day of `date`, "Monday, January 22" (or "January 22" without
    /// the weekday), `gmt_offset` minutes behind UTC (Tornado's
    /// `format_day`).
    pub fn format_day(&self, date: SystemTime, gmt_offset: i64, weekday: bool) -> String {
        let at = civil(unix_seconds(date) - gmt_offset * 60);
        let day = at.day.to_string();
        let values = [
            ("month_name", self.inner.months[at.month - 1].as_str()),
            ("weekday", self.inner.weekdays[at.weekday].as_str()),
            ("day", day.as_str()),
        ];
        let pattern = if weekday { "%(weekday)s, %(month_name)s %(day)s" } else { "%(month_name)s %(day)s" };
        interpolate(self.translate(pattern), &values)
    }

    /// `parts` as a sentence: "A, B and C", "A and B", "A" (the "and"
    /// translated; Persian joins with " و ").
    pub fn list<S: AsRef<str>>(&self, parts: &[S]) -> String {
        match parts {
            [] => String::new(),
            [one] => one.as_ref().to_owned(),
            [init @ .., last] => {
                let comma = if self.inner.code.starts_with("fa") { " \u{648} " } else { ", " };
                let commas = init.iter().map(AsRef::as_ref).collect::<Vec<&str>>().join(comma);
                interpolate(self.translate("%(commas)s and %(last)s"), &[("commas", &commas), ("last", last.as_ref())])
            }
        }
    }

    /// `value` with thousands separated by commas in English ("1,000,000"),
    /// as digits alone in other languages (as Tornado's `friendly_number`).
    pub fn friendly_number(&self, value: i64) -> String {
        if matches!(self.code(), "en" | "en_US") { with_commas(value) } else { value.to_string() }
    }
}

impl fmt::Debug for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locale").field("code", &self.inner.code).finish_non_exhaustive()
    }
}

/// Seconds since 1970 as a `SystemTime`, for dates kept as timestamps.
pub fn timestamp(seconds: i64) -> SystemTime {
    dates::from_unix(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(codes: &[&str]) -> Translations {
        let catalogs = codes
            .iter()
            .map(|c| {
                let empty = Catalog::Csv { unknown: HashMap::new(), singular: HashMap::new(), plural: HashMap::new() };
                ((*c).to_owned(), empty)
            })
            .collect();
        Translations::from_catalogs(catalogs)
    }

    #[test]
    fn closest_matches_exactly_then_by_language_then_falls_back() {
        let t = with(&["fr", "pt_BR"]);
        assert_eq!(t.closest(["fr-CA"]).code(), "fr");
        assert_eq!(t.closest(["pt-br"]).code(), "pt_BR");
        assert_eq!(t.closest(["pt"]).code(), "pt_BR", "a bare language takes a supported region of it");
        assert_eq!(t.closest(["pt_PT", "fr"]).code(), "pt_BR", "so does another region");
        assert_eq!(t.closest(["de_DE"]).code(), "en_US");
        assert_eq!(with(&["es_MX", "es_AR"]).closest(["es"]).code(), "es_AR", "the first by name");
        assert_eq!(t.closest(["de", "zh_Hant_TW", "fr"]).code(), "fr");
        assert_eq!(t.closest([]).code(), "en_US");
    }

    /// RFC 9110, section 12.5.4: the highest q-value wins; q=0 means "not
    /// acceptable"; order breaks ties.
    #[test]
    fn accept_language_is_ranked_by_q_values() {
        let t = with(&["fr", "de"]);
        assert_eq!(t.from_accept_language("de;q=0.5, fr;q=0.8").code(), "fr");
        assert_eq!(t.from_accept_language("fr;q=0, de;q=0.1").code(), "de");
        assert_eq!(t.from_accept_language("de, fr").code(), "de");
        assert_eq!(t.from_accept_language("fr;q=2, de;q=abc").code(), "en_US", "malformed q-values drop their ranges");
        assert_eq!(t.from_accept_language("*, es").code(), "en_US");
        assert_eq!(t.from_accept_language("").code(), "en_US");
    }

    #[test]
    fn the_default_locale_is_supported_and_can_be_changed() {
        let t = with(&["fr"]).default_locale("de_DE");
        assert_eq!(t.closest(["es"]).code(), "de_DE");
        let mut codes: Vec<&str> = t.supported().collect();
        codes.sort_unstable();
        assert_eq!(codes, ["de_DE", "en_US", "fr"]);
    }

    #[test]
    fn english_lists_and_numbers() {
        let en = english();
        assert_eq!(en.list::<&str>(&[]), "");
        assert_eq!(en.list(&["A"]), "A");
        assert_eq!(en.list(&["A", "B", "C"]), "A, B and C");
        assert_eq!(en.friendly_number(1_000_000), "1,000,000");
        assert_eq!(with(&["fr"]).closest(["fr"]).friendly_number(1_000_000), "1000000");
    }
}

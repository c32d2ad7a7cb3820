"""What Tornado's own tornado.locale writes, for tests/locale.rs to compare.

usage: tornado_locale.py NOW < CASES

NOW is the time "now" in seconds since 1970 (Tornado reads the clock; here
it is fixed so both sides see the same moment). CASES, on standard input,
is a JSON list of cases; one JSON result per case is printed, in order. A
case:

  {"load": "csv" | "gettext" | "none", "locale": CODE, "call": NAME, "args": [...]}

with NAME one of format_date (date as seconds, gmt_offset, relative,
shorter, full_format), format_day (date, gmt_offset, dow), friendly_number
(value), list (parts), translate (message[, plural, count]) and pgettext
(context, message[, plural, count]).
"""

import datetime
import json
import logging
import os
import sys
import types

import tornado.locale

# CSVLocale.pgettext warns on every call that CSV files have no contexts.
logging.getLogger("tornado.general").setLevel(logging.ERROR)

TESTS = os.path.join(os.path.dirname(tornado.__file__), "test")
NOW = datetime.datetime.fromtimestamp(int(sys.argv[1]), datetime.UTC)


class FixedClock(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW


# tornado.locale reads the clock through its `datetime` module global.
tornado.locale.datetime = types.SimpleNamespace(
    datetime=FixedClock, timedelta=datetime.timedelta, UTC=datetime.UTC, timezone=datetime.timezone
)


def load(kind):
    tornado.locale.Locale._cache = {}
    if kind == "csv":
        tornado.locale.load_translations(os.path.join(TESTS, "csv_translations"))
    elif kind == "gettext":
        tornado.locale.load_gettext_translations(os.path.join(TESTS, "gettext_translations"), "tornado_test")
    else:
        tornado.locale._translations = {}
        tornado.locale._supported_locales = frozenset(["en_US"])
        tornado.locale._use_gettext = False


def run(case):
    load(case["load"])
    locale = tornado.locale.get(case["locale"])
    call, args = case["call"], case["args"]
    if call == "format_date":
        date, gmt_offset, relative, shorter, full_format = args
        when = datetime.datetime.fromtimestamp(date, datetime.UTC)
        return locale.format_date(when, gmt_offset, relative, shorter, full_format)
    if call == "format_day":
        date, gmt_offset, dow = args
        return locale.format_day(datetime.datetime.fromtimestamp(date, datetime.UTC), gmt_offset, dow)
    if call == "friendly_number":
        return locale.friendly_number(*args)
    if call == "list":
        return locale.list(*args)
    if call == "translate":
        return locale.translate(*args)
    if call == "pgettext":
        return locale.pgettext(*args)
    raise ValueError(call)


for case in json.load(sys.stdin):
    print(json.dumps(run(case)))

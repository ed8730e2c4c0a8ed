#!/usr/bin/env python3
"""Checks a Keyrite SIEM export with third-party tools and prints what they parsed.

    validate.py jsonl|cef|syslog FILE

jsonl:  every line is validated against OCSF 1.3.0 with pydantic-ocsf's models, which are
        built from the OCSF schema the package ships (ocsf/schemas/v1_3_0.json; no network).
        Attributes the models leave open are checked against that same schema file:
        unknown attributes, `time`, the host profile's `device`, and `at_least_one`
        constraints of the objects Keyrite fills.
cef:    every line is split by pycef.
syslog: every line is parsed by syslog-rfc5424-parser (RFC 5424 grammar).

Prints one JSON object per line with what the tool parsed (values unescaped as the format
defines), for the Rust test to compare with the journal. Exit status 1 names every invalid
line; 3 means the tools are not installed.
"""

import json
import sys

try:
    import importlib.resources

    import pycef
    from ocsf.v1_3_0 import events as ocsf_events
    from ocsf.v1_3_0 import objects as ocsf_objects
    from syslog_rfc5424_parser import SyslogMessage
    from syslog_rfc5424_parser.message import ParseError
    from pydantic import BaseModel, ValidationError
except ImportError as e:  # pragma: no cover - the message is the point
    sys.stderr.write(
        f"SIEM validators are not installed ({e}); run .ci/setup.sh, which installs "
        "pydantic-ocsf, pycef and syslog-rfc5424-parser into "
        "${KEYRITE_TOOLS:-$HOME/.cache/keyrite-tools}/venv\n"
    )
    sys.exit(3)

OCSF_VERSION = "1.3.0"
SCHEMA = json.loads(
    (importlib.resources.files("ocsf") / "schemas" / "v1_3_0.json").read_text("utf-8")
)
CLASSES = {
    3004: ocsf_events.EntityManagement,
    3002: ocsf_events.Authentication,
    6003: ocsf_events.ApiActivity,
}
# Event attributes that OCSF defines through includes (classification, occurrence) and the
# models therefore leave out; profile attributes are checked separately.
INCLUDED = {"class_uid", "class_name", "category_uid", "category_name", "type_uid", "type_name",
            "time", "count", "duration", "start_time", "end_time", "timezone_offset"}
# Which objects Keyrite fills, for the schema's at_least_one constraints.
OBJECT_OF = {"actor": "actor", "entity": "managed_entity", "user": "user",
             "src_endpoint": "network_endpoint", "device": "device"}


def extras(model, path):
    """Attributes a model accepted without knowing them (pydantic-ocsf allows extras).
    OCSF's generic `object` type (e.g. `unmapped`) is free-form by definition."""
    if type(model).__name__ == "Object":
        return []
    found = []
    for k in (model.model_extra or {}):
        found.append(f"{path}{k}")
    for name in type(model).model_fields:
        v = getattr(model, name)
        items = v if isinstance(v, list) else [v]
        for item in items:
            if isinstance(item, BaseModel):
                found += extras(item, f"{path}{name}.")
    return found


def constraint_problems(obj, name, path):
    spec = SCHEMA["objects"][name]
    problems = []
    for attrs in [spec.get("constraints", {}).get("at_least_one", [])]:
        if attrs and not any(obj.get(a) not in (None, "", [], {}) for a in attrs):
            problems.append(f"{path}: needs at least one of {attrs}")
    if name == "actor" and isinstance(obj.get("user"), dict):
        problems += constraint_problems(obj["user"], "user", f"{path}.user")
    if name == "managed_entity" and isinstance(obj.get("user"), dict):
        problems += constraint_problems(obj["user"], "user", f"{path}.user")
    return problems


def check_ocsf(d):
    problems = []
    model = CLASSES.get(d.get("class_uid"))
    if model is None:
        return [f"class_uid {d.get('class_uid')} is not one Keyrite should emit"]
    try:
        m = model.model_validate(d)
    except ValidationError as e:
        return [f"{model.__name__}: {err['loc']}: {err['msg']}" for err in e.errors()]
    profiles = (d.get("metadata") or {}).get("profiles") or []
    for x in extras(m, ""):
        if x in INCLUDED:
            continue
        if x == "device" and "host" in profiles:
            continue
        problems.append(f"{x} is not an attribute of OCSF {OCSF_VERSION} {model.__name__}")
    if not isinstance(d.get("time"), int):
        problems.append("time (required, ms since the epoch) is missing")
    if "device" in d:
        if "host" not in profiles:
            problems.append("device needs the host profile in metadata.profiles")
        try:
            dev = ocsf_objects.Device.model_validate(d["device"])
            problems += [f"device.{x} is not an OCSF Device attribute" for x in extras(dev, "")]
        except ValidationError as e:
            problems += [f"Device: {err['loc']}: {err['msg']}" for err in e.errors()]
    for attr, obj in OBJECT_OF.items():
        if isinstance(d.get(attr), dict):
            problems += constraint_problems(d[attr], obj, attr)
    if d["metadata"].get("version") != OCSF_VERSION:
        problems.append(f"metadata.version is not {OCSF_VERSION}")
    return problems


def cef_unescape(v):
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v):
            n = v[i + 1]
            out.append({"n": "\n", "r": "\r"}.get(n, n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def sd_unescape(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\" and i + 1 < len(v) and v[i + 1] in '"\\]':
            out.append(v[i + 1])
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def main():
    fmt, path = sys.argv[1], sys.argv[2]
    bad = 0
    with open(path, encoding="utf-8", newline="\n") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for n, line in enumerate(lines, 1):
        if fmt == "jsonl":
            d = json.loads(line)
            problems = check_ocsf(d)
            parsed = d
        elif fmt == "cef":
            v = pycef.parse(line)
            problems = [] if v else ["pycef could not parse the line"]
            parsed = {k: cef_unescape(x) for k, x in (v or {}).items()}
            parts = sorted(
                (int(k[len("keyriteBody"):]), x) for k, x in parsed.items()
                if k.startswith("keyriteBody")
            )
            if "body" in parsed:
                parsed["body"] += "".join(x for _, x in parts)
        elif fmt == "syslog":
            try:
                m = SyslogMessage.parse(line)
                problems = []
                if not m.msg.startswith("\ufeff"):
                    problems.append("MSG does not start with the UTF-8 BOM")
                parsed = {
                    "facility": int(m.facility), "severity": int(m.severity),
                    "hostname": m.hostname, "appname": m.appname, "procid": m.procid,
                    "msgid": m.msgid, "timestamp": m.timestamp,
                    "sd": {i: {k: sd_unescape(x) for k, x in p.items()} for i, p in m.sd.items()},
                    "body": m.msg[1:] if m.msg.startswith("\ufeff") else m.msg,
                }
            except ParseError as e:
                problems, parsed = [f"not RFC 5424: {e.description}"], {}
        else:
            sys.stderr.write(f"unknown format {fmt}\n")
            return 2
        if problems:
            bad += 1
            for p in problems:
                sys.stderr.write(f"{path}:{n}: {p}\n")
        print(json.dumps(parsed, ensure_ascii=False))
    if bad:
        sys.stderr.write(f"{bad} of {len(lines)} lines invalid\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

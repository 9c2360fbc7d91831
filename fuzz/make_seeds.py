#!/usr/bin/env python3
"""Writes seed inputs for the fuzz targets into SEED_DIR/<target>/.

  fuzz/make_seeds.py SEED_DIR

The committed corpora (fuzz/corpus/<target>/) were made by running this and
minimising with libFuzzer (fuzz/run.sh merge, see fuzz/README.md): seeds
from the committed examples (deploy/examples, deploy/demo, tests/data) and
small valid requests, encoded with protoc from text format.
"""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = pathlib.Path(sys.argv[1])
# A valid ristretto255 element (the generator), for blinded elements.
G = bytes.fromhex("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76")
ELEM = "".join("\\x%02x" % b for b in G)


def write(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def encode(message, text, proto):
    return subprocess.run(
        ["protoc", "-I", str(ROOT / "proto"), "-I", "/usr/include", "--encode=schakel.v1." + message, proto],
        input=text.encode(), capture_output=True, check=True, cwd=ROOT / "proto").stdout


# match_keys: byte 0 picks the function (fuzz/match_keys_fuzzer.cc).
for i, texts in enumerate([
        ["111222333", "1234.56.782", "12345678", "000000000"],
        ["1990-02-01", "1-2-1990", "01/02/1990", "1990.2.1", "2000-02-29"],
        ["1234 ab", "1234AB", "9999 ZZ"],
        ["12", "12 A", "12-2", "12 bis", "12-hs", "0012III"],
        ["van der Berg", "Berg, van der", "Jansen-de Vries", "d'Ancona", "Özdemir", "O'Brien", "Le",
         "IJsbrand", "El-Amrani"],
        ["Jan\nvan der Berg\n1990-02-01", "J.P.\nJansen - de Vries\n1-2-1990"],
        ["111222333\nJan\nBerg\n1990-02-01\n1234AB\n12A", "\nJan\nvan Dijk\n2-3-1985\n\n",
         "\n\n\n\n1011 ab\n7-2"]]):
    for j, t in enumerate(texts):
        write("match_keys", f"seed-{i}-{j}", bytes([i]) + t.encode())

# import: byte 0 picks the reader (fuzz/import_fuzzer.cc).
csv = ("signal_id,bsn,given_names,surname,birth_date,postcode,house_number,family_id,relation,"
       "category,domain,registered_at,expires_at,contact_name,free_text\n"
       "z-1,111222333,Jan,van der Berg,1990-02-01,1234AB,12 A,f1,parent,ondermijning,safety,"
       "2026-01-01,2027-01-01T00:00:00Z,\"Berg, J.\",\"line one\nline two \"\"quoted\"\"\"\n")
write("import", "signals-csv", b"\x00" + csv.encode())
write("import", "signals-csv-bom-crlf", b"\x00\xef\xbb\xbfsignal_id,category\r\n\r\na,x\r\nb,y\r\n")
write("import", "signals-jsonl",
      b"\x01" + b'{"signal_id":"a","bsn":"111222333","house_number":12,"postcode":null}\n\n'
      b'{"subject":{"bsn":"111222333","address":{"postcode":"1234AB","houseNumber":12}},"category":"x"}\n')
write("import", "subjects-csv", b"\x02label,bsn,surname,given_names,birth_date,postcode,house_number\n"
      b"p1,111222333,Berg,Jan,1990-02-01,1234AB,12\n,,Jansen,,1-2-1980,,\n")
write("import", "signal-json", b'\x03{"signal_id":"a","relation":"child","domain":"care","expires_at":"2027-01-01"}')

# policy: byte 0 picks the loader (fuzz/policy_fuzzer.cc).
policy_sources = {
    0: list((ROOT / "tests/data/policy").glob("*.json")) + [ROOT / "deploy/examples/policy.json",
                                                          ROOT / "deploy/demo/policy.json"],
    1: [ROOT / "deploy/examples/directory.json"],
    2: list((ROOT / "tests/data/nodes").glob("*.json")) + [ROOT / "deploy/examples/local-policy.json"]
       + list((ROOT / "deploy/demo").glob("*/local-policy.json")),
    3: [ROOT / "deploy/examples/gateway.json"],
    4: [ROOT / "deploy/examples/node.json"] + list((ROOT / "deploy/demo").glob("*/node.json")),
}
for which, files in policy_sources.items():
    for f in files:
        if f.exists():
            write("policy", f"seed-{which}-{f.parent.name}-{f.name}", bytes([which]) + f.read_bytes())

# gateway_handlers: byte 0 the rpc (28), byte 1 the caller (4).
for rpc in range(28):
    for caller in range(4):
        write("gateway_handlers", f"empty-{rpc}-{caller}", bytes([rpc, caller]))
gw = "schakel/v1/gateway.proto"
actor = 'actor { user_id: "u1" role: ROLE_ANALYST }'
open_exchange = encode("OpenExchangeRequest", f'''{actor} request_id: "0123456789abcdef"
  purpose_id: "riec-ondermijning" target_org_ids: "politie-zwb"
  subjects {{ keys {{ key_type: MATCH_KEY_TYPE_BSN blinded_element: "{ELEM}" }} }}
  subjects {{ family: 1 relation: RELATION_PARENT keys {{ key_type: MATCH_KEY_TYPE_NAME_DOB blinded_element: "{ELEM}" }} }}''', gw)
write("gateway_handlers", "open-exchange", bytes([2, 0]) + open_exchange)
open_case = encode("OpenCaseRequest", f'''actor {{ user_id: "d1" role: ROLE_DIRECTOR }} request_id: "0123456789abcdef"
  purpose_id: "zvh-casusoverleg" title: "Casus" goal: "Doel" ends_at {{ seconds: 1900000000 }}''',
                   "schakel/v1/cases.proto")
write("gateway_handlers", "open-case", bytes([10, 0]) + open_case)
write("gateway_handlers", "list-entries-auditor",
      bytes([15, 3]) + encode("ListEntriesRequest", 'actor { user_id: "a1" role: ROLE_AUDITOR }',
                              "schakel/v1/audit.proto"))
write("gateway_handlers", "checkpoint-admin",
      bytes([26, 3]) + encode("CreateCheckpointRequest", 'actor { user_id: "a1" role: ROLE_ADMIN }',
                              "schakel/v1/admin.proto"))

# gateway_handlers, rpc 27: the fan-out to the fake partners. Byte 2 and 3:
# how politie-zwb and gemeente-tilburg answer (fuzz/fake_partner.h: kind +
# 16 * parameter); the answers' bytes (length-prefixed); the
# OpenExchangeRequest (2-byte length; request_id and case_id are filled in);
# the ResolveMatchesRequest (its exchange_id is filled in).
HONEST, LATE, COUNT_OFF, BAD_ELEMENT, OTHER_STATEMENT, ERROR = 0, 2, 3, 4, 8, 10
HIT = "schakel-fuzz-hit"  # the tag both fake partners published
MISS = "\\x00" * 16


def fanout(caller, politie, gemeente, feed, open_text, resolve_text):
    request = encode("OpenExchangeRequest", open_text, gw)
    return (bytes([27, caller, politie, gemeente, len(feed)]) + feed + len(request).to_bytes(2, "big") + request
            + encode("ResolveMatchesRequest", resolve_text, gw))


def tags(check, *values):
    return "".join(f' tags: "{v}"' for v in values) if check == "VERIFIED" else ""


def partner(org, check, *values):
    return f'partners {{ org_id: "{org}" check: EVALUATION_CHECK_{check}{tags(check, *values)} }}'


riec_open = f'''{actor} purpose_id: "riec-ondermijning"
  subjects {{ keys {{ key_type: MATCH_KEY_TYPE_BSN blinded_element: "{ELEM}" }} }}
  subjects {{ family: 1 relation: RELATION_PARENT keys {{ key_type: MATCH_KEY_TYPE_NAME_DOB blinded_element: "{ELEM}" }} }}'''
proof = bytes(range(64))
write("gateway_handlers", "fanout-riec-hit", fanout(
    0, HONEST, HONEST, proof, riec_open,
    f'{actor} {partner("politie-zwb", "VERIFIED", HIT, MISS)} {partner("gemeente-tilburg", "VERIFIED", MISS, MISS)}'))
write("gateway_handlers", "fanout-riec-bad-signature-rejected-proof", fanout(
    0, HONEST, OTHER_STATEMENT, proof, riec_open, f'{actor} {partner("politie-zwb", "PROOF_INVALID")}'))
write("gateway_handlers", "fanout-riec-malformed", fanout(
    0, COUNT_OFF, BAD_ELEMENT, b"\xff" * 32, riec_open, actor))
write("gateway_handlers", "fanout-riec-error-late", fanout(
    0, ERROR + 16 * 6, LATE, b"node says \xc3\x28 no", riec_open, actor))
write("gateway_handlers", "fanout-zvh-notify", fanout(
    2, HONEST, HONEST, proof, f'''{actor} purpose_id: "zvh-casusoverleg"
  subjects {{ keys {{ key_type: MATCH_KEY_TYPE_BSN blinded_element: "{ELEM}" }} }}''',
    f'{actor} {partner("politie-zwb", "VERIFIED", HIT)}'))

# node_handlers: byte 0 the method, byte 1 the role (+0x80: sign).
for method in range(44):
    write("node_handlers", f"empty-{method}", bytes([method, 2]))
evaluate = encode("EvaluateRequest", f'''blinded_elements: "{ELEM}" blinded_elements: "{ELEM}"
  authorisation {{ payload {{ exchange_id: "0123456789abcdef" requester_org_id: "riec-zwb"
  purpose_id: "riec-ondermijning" subject_count: 1 element_count: 2 }} }}''', "schakel/v1/node.proto")
write("node_handlers", "evaluate-signed", bytes([0, 0x80]) + evaluate)
write("node_handlers", "evaluate-unsigned", bytes([0, 0]) + evaluate)

# The method order of fuzz/node_handlers_fuzzer.cc: kServices, each in
# declaration order.
import re
services = ["Node", "Matching", "Approvals", "Inbox", "LocalLog", "Users", "NodeAdmin", "Signals", "Cases", "Audit"]
methods = []
texts = "".join(p.read_text() for p in sorted((ROOT / "proto/schakel/v1").glob("*.proto")))
for s in services:
    body = re.search(r"\nservice %s \{(.*?)\n\}" % s, texts, re.S).group(1)
    methods += [f"{s}.{m}" for m in re.findall(r"^\s*rpc (\w+)\(", body, re.M)]
index = {m: i for i, m in enumerate(methods)}
subject = 'subject { bsn: "111222333" given_names: "Jan" surname: "van der Berg" birth_date: "1990-02-01" address { postcode: "1234AB" house_number: 12 } }'
write("node_handlers", "add-signal", bytes([index["Signals.AddSignal"], 1]) + encode(
    "AddSignalRequest", f'signal {{ {subject} category: "ondermijning" contact {{ name: "A" }} }}', "schakel/v1/signals.proto"))
write("node_handlers", "match", bytes([index["Matching.Match"], 2]) + encode(
    "MatchRequest", f'purpose_id: "riec-ondermijning" subjects {{ label: "p1" {subject} }}', "schakel/v1/local.proto"))
write("node_handlers", "create-user", bytes([index["Users.CreateUser"], 6]) + encode(
    "CreateUserRequest", 'user_id: "u2" display_name: "U" roles: ROLE_ANALYST', "schakel/v1/node_admin.proto"))

#!/usr/bin/env bash
# Makes the test vectors in this folder with openssl (the outside judge) and python3 (JSON only).
# Run from anywhere: bash proto/tests/data/make-vectors.sh. Re-running makes new keys and tokens;
# the tests only need the files to agree with each other.
#
# keys/        rsa2048-a.pem, rsa2048-b.pem, rsa4096.pem (PKCS#8, test-only) and their .pub.pem
# tokens/      token-N.bin: 32 random bytes each
# sigs/        KEY.token-N.sig: openssl pkeyutl -sign -pkeyopt digest:sha256 (the CloudHSM rule)
#              KEY.token-N.rehashed.sig: openssl dgst -sha256 -sign (hashes again: must NOT verify)
# files/       KIND.json (as the CLI writes it) and KIND.signed.json (signed with rsa2048-a,
#              approver "approver1" for the quorum approval)
# bad/         one malformed file per error; bad/EXPECTED lists "file<TAB>error" pairs
set -euo pipefail
cd "$(dirname "$0")"
rm -rf keys tokens sigs files bad
mkdir -p keys tokens sigs files bad

for k in rsa2048-a:2048 rsa2048-b:2048 rsa4096:4096; do
  name=${k%%:*} bits=${k##*:}
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"$bits" -out "keys/$name.pem" 2>/dev/null
  openssl pkey -in "keys/$name.pem" -pubout -out "keys/$name.pub.pem"
done

for n in 1 2 3; do
  openssl rand -out "tokens/token-$n.bin" 32
done

for key in rsa2048-a rsa2048-b rsa4096; do
  for n in 1 2 3; do
    openssl pkeyutl -sign -inkey "keys/$key.pem" -pkeyopt digest:sha256 \
      -in "tokens/token-$n.bin" -out "sigs/$key.token-$n.sig"
    openssl dgst -sha256 -sign "keys/$key.pem" -out "sigs/$key.token-$n.rehashed.sig" \
      "tokens/token-$n.bin"
  done
done

# Quorum files: token = SHA-256(approval_data); the registration file has one per HSM.
printf 'quorum approval for: key-share 0x2a, requested by officer1' > files/approval_data.bin
openssl dgst -sha256 -binary files/approval_data.bin > files/approval_token.bin
openssl pkeyutl -sign -inkey keys/rsa2048-a.pem -pkeyopt digest:sha256 \
  -in files/approval_token.bin -out sigs/rsa2048-a.approval.sig

python3 - <<'PY'
import base64, json, hashlib

def b64(path):
    return base64.b64encode(open(path, "rb").read()).decode()

def write(name, doc):
    with open(f"files/{name}", "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

toks = [f"tokens/token-{n}.bin" for n in (1, 2, 3)]
sigs = [f"sigs/rsa2048-a.token-{n}.sig" for n in (1, 2, 3)]
appr = b64("files/approval_data.bin")
appr_tok = b64("files/approval_token.bin")
appr_sig = b64("sigs/rsa2048-a.approval.sig")

mfa = {"version": "2.0", "tokens": [{"unsigned": b64(t), "signed": ""} for t in toks]}
write("mfa-login.json", mfa)
mfa["tokens"] = [{"unsigned": b64(t), "signed": b64(s)} for t, s in zip(toks, sigs)]
write("mfa-login.signed.json", mfa)

reg = {"version": "2.0", "tokens": [
    {"approval_data": appr, "unsigned": appr_tok, "signed": ""} for _ in range(2)]}
write("quorum-registration.json", reg)
for t in reg["tokens"]:
    t["signed"] = appr_sig
write("quorum-registration.signed.json", reg)

# Field order deliberately not alphabetical, and an extra field the tool must keep.
appv = {"version": "2.0", "token": appr_tok, "approval_data": appr,
        "signatures": [{"username": "officer2", "signature": appr_sig}], "service": "key-usage"}
write("quorum-approval.json", appv)
appv["signatures"].append({"username": "approver1", "signature": appr_sig})
write("quorum-approval.signed.json", appv)

pem = open("keys/rsa2048-a.pub.pem").read()
legacy = {"Version": "1.0", "PublicKey": pem,
          "Data": [{"HsmId": hid, "Digest": b64(t), "Signature": ""}
                   for hid, t in zip(["hsm-aaaa", "hsm-bbbb", "hsm-cccc"], toks)]}
write("legacy-authdata.json", legacy)
for d, s in zip(legacy["Data"], sigs):
    d["Signature"] = b64(s)
write("legacy-authdata.signed.json", legacy)

# Failure vectors: one file per error, and the error each must give.
tok = b64(toks[0])
def raw(n):
    return base64.b64encode(bytes(range(n))).decode()
bad = {
    "not-json.json": ("{\"version\": \"2.0\", \"tokens\": [", "NotJson"),
    "top-level-array.json": ([{"unsigned": tok, "signed": ""}], "UnknownKind"),
    "unknown-kind.json": ({"version": "2.0", "challenge": tok}, "UnknownKind"),
    "unknown-version.json": ({"version": "3.0", "tokens": [{"unsigned": tok, "signed": ""}]}, "UnknownVersion"),
    "legacy-unknown-version.json": ({"Version": "2.0", "Data": [{"Digest": tok, "Signature": ""}]}, "UnknownVersion"),
    "no-tokens.json": ({"version": "2.0", "tokens": []}, "NoTokens"),
    "too-many-tokens.json": ({"version": "2.0", "tokens": [{"unsigned": tok, "signed": ""}] * 65}, "TooManyTokens"),
    "not-base64.json": ({"version": "2.0", "tokens": [{"unsigned": tok, "signed": ""}, {"unsigned": "not*base64!", "signed": ""}]}, "NotBase64 { index: 2"),
    "short-token.json": ({"version": "2.0", "tokens": [{"unsigned": tok, "signed": ""}, {"unsigned": raw(31), "signed": ""}]}, "TokenLength { index: 2, len: 31 }"),
    "long-token.json": ({"version": "2.0", "tokens": [{"unsigned": raw(33), "signed": ""}]}, "TokenLength { index: 1, len: 33 }"),
    "missing-signed.json": ({"version": "2.0", "tokens": [{"unsigned": tok}]}, "MissingField { index: 1, field: \"signed\" }"),
    "registration-mismatch.json": ({"version": "2.0", "tokens": [{"approval_data": appr, "unsigned": tok, "signed": ""}]}, "ApprovalMismatch { index: 1 }"),
    "registration-approval-too-long.json": ({"version": "2.0", "tokens": [{"approval_data": base64.b64encode(b"x" * 246).decode(), "unsigned": base64.b64encode(hashlib.sha256(b"x" * 246).digest()).decode(), "signed": ""}]}, "ApprovalTooLong { index: 1, len: 246"),
    "approval-mismatch.json": ({"version": "2.0", "token": tok, "approval_data": appr, "signatures": []}, "ApprovalMismatch { index: 1 }"),
    "legacy-short-digest.json": ({"Version": "1.0", "Data": [{"HsmId": "h", "Digest": raw(20), "Signature": ""}]}, "TokenLength { index: 1, len: 20 }"),
}
with open("bad/EXPECTED", "w") as manifest:
    for name, (doc, err) in sorted(bad.items()):
        with open(f"bad/{name}", "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc, indent=2) + "\n")
        manifest.write(f"{name}\t{err}\n")
PY
echo "vectors written to $(pwd)"

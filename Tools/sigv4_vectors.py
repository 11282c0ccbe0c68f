#!/usr/bin/env python3
"""Writes AWS Signature Version 4 test vectors for S3 requests, computed by botocore (the AWS
SDK's own signer), to Fixtures/sigv4/vectors.json. The Swift signer's tests must reproduce every
canonical request, string to sign and Authorization header.

Usage: python3 Tools/sigv4_vectors.py [--count N] [--seed S] [--out PATH]
Cases: random methods, keys with spaces, + = % : ~ and unicode, query strings, extra headers,
empty and non-empty payloads, signed and UNSIGNED-PAYLOAD, with and without a session token,
path-style and virtual-hosted-style hosts, several regions."""
import argparse, datetime, json, os, random, sys
from urllib.parse import quote

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEY_PIECES = ["a", "b c", "x+y", "k=v", "100%", "t:1", "~tilde", "ü", "日本", "emoji😀", "dots..", "-_.", "(p)",
              "q?", "semi;colon", "comma,", "star*", "quote'", "at@", "dollar$", "amp&", "hash#", "sp  2"]
QUERY = [("uploads", ""), ("partNumber", "3"), ("uploadId", "a+b/c=d"), ("list-type", "2"), ("prefix", "a b/ü"),
         ("continuation-token", "1/2+3=="), ("max-keys", "7"), ("delimiter", "/"), ("start-after", "x~y")]
HEADERS = [("Content-Type", "application/octet-stream"), ("If-None-Match", "*"), ("Range", "bytes=0-99"),
           ("x-amz-meta-note", "  spaced   value  "), ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
           ("x-amz-storage-class", "STANDARD")]


class S3Config:
    def __init__(self, signed):
        self.s3 = {"payload_signing_enabled": signed}


def make_case(rnd, i):
    method = rnd.choice(["GET", "PUT", "HEAD", "DELETE", "POST"])
    key = "/".join(rnd.choice(KEY_PIECES) for _ in range(rnd.randint(1, 3)))
    bucket = rnd.choice(["sediment", "my-bucket", "b.with.dots"])
    virtual = rnd.random() < 0.3 and "." not in bucket
    region = rnd.choice(["us-east-1", "eu-central-1", "ap-southeast-2", "auto"])
    port = rnd.choice([None, 9000, 8333])
    base_host = rnd.choice(["127.0.0.1", "s3.example.com", "localhost"])
    host = (bucket + "." + base_host) if virtual else base_host
    netloc = host + (f":{port}" if port else "")
    path = "/" + key if virtual else f"/{bucket}/{key}"
    if rnd.random() < 0.1:
        path = "/" if virtual else f"/{bucket}"
    query = rnd.sample(QUERY, rnd.randint(0, 3))
    headers = rnd.sample(HEADERS, rnd.randint(0, 3))
    body = b"" if rnd.random() < 0.4 or method in ("GET", "HEAD", "DELETE") else os.urandom(rnd.randint(1, 300))
    signed = rnd.random() < 0.7
    token = "FQoGZXIvYXdzE//session+token=" if rnd.random() < 0.3 else None
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=rnd.randint(0, 10**8))
    access, secret = "AKIDEXAMPLE%d" % i, "wJalrXUtnFEMI/K7MDENG+bPxRfiCY%dKEY" % i

    url = "http://" + netloc + quote(path, safe="/~")
    if query:
        url += "?" + "&".join(quote(k, safe="-_.~") + "=" + quote(v, safe="-_.~") for k, v in query)
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    request.context["client_config"] = S3Config(signed)
    auth = botocore.auth.S3SigV4Auth(Credentials(access, secret, token), "s3", region)
    # SigV4Auth.add_auth, step by step, to keep the intermediate strings.
    request.context["timestamp"] = when.strftime(botocore.auth.SIGV4_TIMESTAMP)
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    auth._inject_signature_to_request(request, auth.signature(string_to_sign, request))
    return {
        "method": method, "host": netloc, "path": path, "query": [list(q) for q in query],
        "headers": [list(h) for h in headers], "body_hex": body.hex(), "sign_payload": signed,
        "access_key": access, "secret_key": secret, "session_token": token, "region": region,
        "epoch_seconds": int(when.timestamp()),
        "expected": {
            "canonical_request": canonical,
            "string_to_sign": string_to_sign,
            "authorization": request.headers["Authorization"],
            "x_amz_date": request.headers["X-Amz-Date"],
            "x_amz_content_sha256": request.headers["X-Amz-Content-SHA256"],
        },
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=80)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Fixtures", "sigv4", "vectors.json"))
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    cases = [make_case(rnd, i) for i in range(args.count)]
    with open(args.out, "w") as f:
        json.dump({"generator": "botocore " + botocore.__version__, "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

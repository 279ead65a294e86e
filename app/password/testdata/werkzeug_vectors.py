"""Prints password hashes made by Werkzeug's own generate_password_hash, as
JSON, for TestWerkzeugVectors: every PBKDF2 digest with its iteration count
(old Werkzeug's pbkdf2:sha1:1000 among them) and the salted digests that
Werkzeug before 2.3 wrote (sha1$SALT$HEX: HMAC of the password keyed with the
salt). Run with Debian's python3-werkzeug (2.2, the last to write them):

    /usr/bin/python3 app/password/testdata/werkzeug_vectors.py > app/password/testdata/werkzeug-old-hashes.json
"""
import json

import werkzeug
from werkzeug.security import check_password_hash, generate_password_hash

METHODS = [
    "pbkdf2:sha1:1000",
    "pbkdf2:sha1:50000",
    "pbkdf2:sha224:10000",
    "pbkdf2:sha256:260000",
    "pbkdf2:sha384:20000",
    "pbkdf2:sha512:150000",
    "md5",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
]
PASSWORDS = ["Passw0rd!", "h\u00e9llo w\u00f6rld 1A!", "S3cret#pass"]

vectors = []
for i, method in enumerate(METHODS):
    password = PASSWORDS[i % len(PASSWORDS)]
    pwhash = generate_password_hash(password, method=method, salt_length=8 + i % 9)
    assert check_password_hash(pwhash, password)
    vectors.append({"password": password, "hash": pwhash})

print(json.dumps({
    "about": "Made by werkzeug_vectors.py with Werkzeug %s: every entry verifies with its password." % werkzeug.__version__,
    "vectors": vectors,
}, indent=1))

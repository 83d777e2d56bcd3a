# usage: cosign_key_check.py cosign.key cosign.pub  -- decrypts a cosign private key
# (ENCRYPTED SIGSTORE PRIVATE KEY: scrypt + NaCl secretbox over PKCS#8) with hashlib and
# PyNaCl, loads it with `cryptography`, and checks it is P-256 and matches the public key.
# The password is COSIGN_PASSWORD (empty if unset), as cosign reads it.
import base64, hashlib, json, os, sys
import nacl.secret
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
    load_der_private_key, load_pem_public_key)

text = open(sys.argv[1]).read().strip().splitlines()
if text[0] != "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----" or text[-1] != "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----":
    sys.exit(f"FAIL: PEM label lines {text[0]!r} / {text[-1]!r}")
if any(len(l) > 64 for l in text[1:-1]):
    sys.exit("FAIL: PEM body lines longer than 64 columns")
doc = json.loads(base64.b64decode("".join(text[1:-1]), validate=True))
if sorted(doc) != ["cipher", "ciphertext", "kdf"]:
    sys.exit(f"FAIL: top-level fields {sorted(doc)}")
kdf, cipher = doc["kdf"], doc["cipher"]
if kdf["name"] != "scrypt" or kdf["params"] != {"N": 32768, "r": 8, "p": 1}:
    sys.exit(f"FAIL: kdf {kdf['name']} {kdf['params']}")
if cipher["name"] != "nacl/secretbox":
    sys.exit(f"FAIL: cipher {cipher['name']}")
salt, nonce = base64.b64decode(kdf["salt"]), base64.b64decode(cipher["nonce"])
if len(salt) != 32 or len(nonce) != 24:
    sys.exit(f"FAIL: salt {len(salt)} bytes, nonce {len(nonce)} bytes")
password = os.environ.get("COSIGN_PASSWORD", "").encode()
key = hashlib.scrypt(password, salt=salt, n=32768, r=8, p=1, maxmem=64 << 20, dklen=32)
der = nacl.secret.SecretBox(key).decrypt(base64.b64decode(doc["ciphertext"]), nonce)
private = load_der_private_key(der, password=None)
if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
    sys.exit(f"FAIL: not a P-256 key: {private}")
spki = lambda k: k.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
public = load_pem_public_key(open(sys.argv[2], "rb").read())
if spki(private.public_key()) != spki(public):
    sys.exit("FAIL: the private key does not match the public key")
print("OK: cosign encrypted private key (scrypt N=32768 r=8 p=1, nacl/secretbox, PKCS#8 P-256) matching", sys.argv[2])

"""The newest azure-keyvault-keys against Keyledger: create RSA and EC keys, sign and verify,
encrypt and decrypt with CryptographyClient, on each vault URL with the SDK's default
challenge verification (vault host names) or verify_challenge_resource=False (localhost).
Every signature is also verified, and every ciphertext also produced, independently with
`cryptography` from the public JWK Keyledger answered."""
import hashlib

import keyledger_e2e as e2e  # first: resolves *.localhost in this process
from azure.keyvault.keys import KeyClient, KeyCurveName
from azure.keyvault.keys import __version__ as sdk_version
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, SignatureAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

credential = e2e.credential()
DATA = b"Keyledger signs this for the Python SDK"
DIGEST = hashlib.sha256(DATA).digest()


def rsa_public(jwk):
    return rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big")).public_key()


def ec_public(jwk):
    return ec.EllipticCurvePublicNumbers(int.from_bytes(jwk.x, "big"), int.from_bytes(jwk.y, "big"), ec.SECP256R1()).public_key()


for url in e2e.VAULT_URLS:
    options = e2e.client_options(url)
    keys = KeyClient(url, credential, **options)
    tag = len(e2e.checks)
    rsa_name = f"py-rsa-{e2e.SUFFIX}-{tag}"
    ec_name = f"py-ec-{e2e.SUFFIX}-{tag}"

    rsa_key = keys.create_rsa_key(rsa_name, size=2048)
    e2e.expect(rsa_key.key_type == "RSA" and len(rsa_key.key.n) == 256, "not an RSA-2048 key")
    e2e.expect(rsa_key.id.startswith(f"{url}/keys/{rsa_name}/"), f"kid {rsa_key.id} is not on {url}")
    e2e.check(url, "create RSA")

    ec_key = keys.create_ec_key(ec_name, curve=KeyCurveName.p_256)
    e2e.expect(ec_key.key_type == "EC" and ec_key.key.crv == "P-256" and len(ec_key.key.x) == 32, "not a P-256 key")
    e2e.check(url, "create EC")

    # A CryptographyClient built from the key id, as an application holding only the id would.
    rsa_crypto = CryptographyClient(rsa_key.id, credential, **options)
    signed = rsa_crypto.sign(SignatureAlgorithm.rs256, DIGEST)
    e2e.expect(rsa_crypto.verify(SignatureAlgorithm.rs256, DIGEST, signed.signature).is_valid, "RS256 signature not valid for the SDK")
    rsa_public(rsa_key.key).verify(signed.signature, DATA, padding.PKCS1v15(), hashes.SHA256())
    e2e.check(url, "sign/verify RS256")

    ec_crypto = CryptographyClient(ec_key.id, credential, **options)
    signed = ec_crypto.sign(SignatureAlgorithm.es256, DIGEST)
    e2e.expect(len(signed.signature) == 64, "ES256 signature is not raw r||s")
    e2e.expect(ec_crypto.verify(SignatureAlgorithm.es256, DIGEST, signed.signature).is_valid, "ES256 signature not valid for the SDK")
    r, s = int.from_bytes(signed.signature[:32], "big"), int.from_bytes(signed.signature[32:], "big")
    ec_public(ec_key.key).verify(encode_dss_signature(r, s), DATA, ec.ECDSA(hashes.SHA256()))
    e2e.check(url, "sign/verify ES256")

    encrypted = rsa_crypto.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"py plaintext")
    e2e.expect(rsa_crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, encrypted.ciphertext).plaintext == b"py plaintext", "decrypt of the SDK's ciphertext")
    independent = rsa_public(rsa_key.key).encrypt(b"independent", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    e2e.expect(rsa_crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, independent).plaintext == b"independent", "decrypt of a ciphertext made with the public JWK")
    e2e.check(url, "encrypt/decrypt RSA-OAEP-256")

    for name in (rsa_name, ec_name):
        keys.begin_delete_key(name).result()
        keys.purge_deleted_key(name)
    e2e.check(url, "delete")

e2e.finish(sdk=f"azure-keyvault-keys {sdk_version}", apiVersion=keys.api_version)

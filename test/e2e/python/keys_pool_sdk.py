"""The newest azure-keyvault-keys against a Keyledger Managed HSM pool with the SDK's default
challenge verification (it compares the challenge's resource, https://managedhsm.localhost:8443,
with the pool's host and port): HSM-backed keys, RS256 sign/verify checked with `cryptography`,
A256GCM encrypt/decrypt with an oct-HSM key, a software RSA key refused, random bytes."""
import hashlib

import keyledger_e2e as e2e  # first: resolves *.localhost in this process
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import KeyClient, KeyCurveName
from azure.keyvault.keys import __version__ as sdk_version
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, SignatureAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

credential = e2e.credential()
DATA = b"Keyledger signs this in a Managed HSM pool"
DIGEST = hashlib.sha256(DATA).digest()

for url in e2e.VAULT_URLS:
    options = e2e.client_options(url)
    keys = KeyClient(url, credential, **options)
    tag = len(e2e.checks)
    names = [f"py-{kind}-{e2e.SUFFIX}-{tag}" for kind in ("rsa", "ec", "oct")]

    rsa_key = keys.create_rsa_key(names[0], size=2048, hardware_protected=True)
    ec_key = keys.create_ec_key(names[1], curve=KeyCurveName.p_256, hardware_protected=True)
    oct_key = keys.create_oct_key(names[2], size=256, hardware_protected=True)
    e2e.expect((rsa_key.key_type, ec_key.key_type, oct_key.key_type) == ("RSA-HSM", "EC-HSM", "oct-HSM"), "not HSM-backed key types")
    e2e.expect(all(k.id.startswith(f"{url}/keys/") for k in (rsa_key, ec_key, oct_key)), "kid not on the pool origin")
    e2e.check(url, "create RSA-HSM EC-HSM oct-HSM")

    try:
        keys.create_rsa_key(f"py-soft-{e2e.SUFFIX}-{tag}", size=2048)
        raise AssertionError("a software RSA key was created in a pool")
    except HttpResponseError as err:
        e2e.expect(err.status_code == 400 and err.error is not None and err.error.code == "BadParameter", f"unexpected refusal {err.status_code}")
    e2e.check(url, "software RSA refused")

    rsa_crypto = CryptographyClient(rsa_key.id, credential, **options)
    signed = rsa_crypto.sign(SignatureAlgorithm.rs256, DIGEST)
    e2e.expect(rsa_crypto.verify(SignatureAlgorithm.rs256, DIGEST, signed.signature).is_valid, "RS256 signature not valid for the SDK")
    rsa.RSAPublicNumbers(int.from_bytes(rsa_key.key.e, "big"), int.from_bytes(rsa_key.key.n, "big")).public_key().verify(signed.signature, DATA, padding.PKCS1v15(), hashes.SHA256())
    e2e.check(url, "sign/verify RS256")

    aes = CryptographyClient(oct_key.id, credential, **options)
    sealed = aes.encrypt(EncryptionAlgorithm.a256_gcm, b"py pool plaintext")
    opened = aes.decrypt(EncryptionAlgorithm.a256_gcm, sealed.ciphertext, iv=sealed.iv, authentication_tag=sealed.tag)
    e2e.expect(opened.plaintext == b"py pool plaintext", "A256GCM round trip")
    e2e.check(url, "encrypt/decrypt A256GCM")

    e2e.expect(len(keys.get_random_bytes(16)) == 16, "random bytes")
    e2e.check(url, "random bytes")

    for name in names:
        keys.begin_delete_key(name).result()
        keys.purge_deleted_key(name)
    e2e.check(url, "delete")

e2e.finish(sdk=f"azure-keyvault-keys {sdk_version}", apiVersion=keys.api_version)

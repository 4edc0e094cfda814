"""The newest azure-keyvault-certificates against Keyledger: a Self-signed certificate with
CertificatePolicy.get_default(), polled to completion and read back (the certificate, its
policy, its managed secret as PKCS#12), on each vault URL with the SDK's default challenge
verification (vault host names) or verify_challenge_resource=False (localhost)."""
import base64

import keyledger_e2e as e2e  # first: resolves *.localhost in this process
from azure.keyvault.certificates import CertificateClient, CertificatePolicy
from azure.keyvault.certificates import __version__ as sdk_version
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

credential = e2e.credential()

for url in e2e.VAULT_URLS:
    options = e2e.client_options(url)
    certs = CertificateClient(url, credential, **options)
    name = f"py-cert-{e2e.SUFFIX}-{len(e2e.checks)}"

    created = certs.begin_create_certificate(name, CertificatePolicy.get_default()).result()
    e2e.expect(created.name == name and created.cer, "the poller did not end with the certificate")
    e2e.expect(created.id.startswith(f"{url}/certificates/{name}/"), f"id {created.id} is not on {url}")
    e2e.check(url, "create Self")

    got = certs.get_certificate(name)
    cert = x509.load_der_x509_certificate(bytes(got.cer))
    e2e.expect(cert.subject.rfc4514_string().lower() == "cn=defaultpolicy", f"subject {cert.subject.rfc4514_string()}")
    e2e.expect(got.policy.issuer_name == "Self" and got.policy.validity_in_months == 12, "policy not read back")
    e2e.check(url, "get")

    secret = SecretClient(url, credential, **options).get_secret(name)
    key, leaf, _chain = pkcs12.load_key_and_certificates(base64.b64decode(secret.value), None)
    e2e.expect(key is not None, "the managed secret holds no key")
    e2e.expect(leaf.public_bytes(Encoding.DER) == bytes(got.cer), "the managed secret holds another certificate")
    e2e.check(url, "managed secret")

    certs.begin_delete_certificate(name).result()
    certs.purge_deleted_certificate(name)
    e2e.check(url, "delete")

e2e.finish(sdk=f"azure-keyvault-certificates {sdk_version}", apiVersion=certs.api_version)

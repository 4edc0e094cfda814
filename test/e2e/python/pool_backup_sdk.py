"""The newest azure-keyvault-administration (KeyVaultBackupClient) and azure-keyvault-keys against
two fresh Keyledger Managed HSM pools and Azurite (Azure Blob Storage), with a SAS token the spec
made: the security domain (download with 3 certificates and a quorum of 2, then upload of 2
decrypted shares into a second pool), full backup, full restore, selective key restore,
pre-backup and pre-restore checks, and the refusals (a pool not activated, 2 certificates,
fewer shares than the quorum, a malformed SAS, unreachable storage, a backup of another
security domain, a tampered key blob, a tampered role-assignments blob). The source pool's local
RBAC (a custom role definition, the application's assignments of it and of Managed HSM Crypto
User, a setting) made with KeyVaultAccessControlClient / KeyVaultSettingsClient before the backup
is in the second pool after its full restore (not after a selective one), enforced there; the
pool administrator both pools were created with is assigned there once. The security-domain calls go through the SDK client's own
pipeline (`send_request`: challenge, token, TLS), there being no security-domain client in the
administration package.

KEYLEDGER_VAULT_URLS: the source pool, the target pool, a pool of another domain (the bootstrap `dev`).
env: KEYLEDGER_BACKUP_CONTAINER (container URL), KEYLEDGER_BACKUP_SAS (container SAS token),
KEYLEDGER_APP_CLIENT_ID / _CLIENT_SECRET / _OBJECT_ID (an application holding no deployment-wide
role), KEYLEDGER_POOL_ADMIN_OBJECT_ID (the `administrators` both pools were created with).
"""
import base64
import datetime
import hashlib
import json
import os
import urllib.error
import urllib.request
import uuid

import keyledger_e2e as e2e  # first: resolves *.localhost in this process
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import (
    KeyVaultAccessControlClient,
    KeyVaultBackupClient,
    KeyVaultDataAction,
    KeyVaultPermission,
    KeyVaultRoleScope,
    KeyVaultSetting,
    KeyVaultSettingsClient,
)
from azure.keyvault.administration import __version__ as admin_version
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

SOURCE, TARGET, OTHER = e2e.VAULT_URLS[:3]
CONTAINER = os.environ["KEYLEDGER_BACKUP_CONTAINER"]
SAS = os.environ["KEYLEDGER_BACKUP_SAS"]
credential = e2e.credential()
app = ClientSecretCredential(
    os.environ["KEYLEDGER_TENANT_ID"],
    os.environ["KEYLEDGER_APP_CLIENT_ID"],
    os.environ["KEYLEDGER_APP_CLIENT_SECRET"],
    authority=os.environ["KEYLEDGER_AUTHORITY"],
    disable_instance_discovery=True,
    connection_verify=e2e.CA_FILE,
)
APP_OID = os.environ["KEYLEDGER_APP_OBJECT_ID"].lower()
POOL_ADMIN_OID = os.environ["KEYLEDGER_POOL_ADMIN_OBJECT_ID"].lower()
ADMINISTRATOR = "a290e904-7015-4bba-90c8-60543313cdb4"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
ARM = "AllowKeyManagementOperationsThroughARM"
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
DIGEST = hashlib.sha256(b"signed before the backup").digest()
FAST = {"_polling_interval": 1}


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def certificate(cn):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    numbers = key.public_key().public_numbers()
    jwk = {
        "kid": cn, "kty": "RSA", "key_ops": ["encrypt", "wrapKey"], "alg": "RSA-OAEP-256",
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")), "e": b64url(numbers.e.to_bytes(3, "big")),
        "x5c": [base64.b64encode(der).decode()], "x5t#S256": b64url(hashlib.sha256(der).digest()),
    }
    return jwk, key


def status_code_of(fn):
    try:
        fn()
    except HttpResponseError as err:
        return err.status_code, (err.error.code if err.error is not None else None), str(err.message)
    raise AssertionError("the call was not refused")


def sd(client, method, path, body=None):
    request = HttpRequest(method, path, json=body) if body is not None else HttpRequest(method, path)
    return client.send_request(request)


def blob(url, data=None):
    """Azurite over plain HTTP with the SAS: GET a blob, or PUT one (Put Blob)."""
    req = urllib.request.Request(f"{url}?{SAS.lstrip('?')}", data=data, method="PUT" if data is not None else "GET")
    req.add_header("x-ms-version", "2021-08-06")
    if data is not None:
        req.add_header("x-ms-blob-type", "BlockBlob")
    with urllib.request.urlopen(req) as res:
        return res.read()


options = {url: e2e.client_options(url) for url in (SOURCE, TARGET, OTHER)}
keys_src = KeyClient(SOURCE, credential, **options[SOURCE])
backup_src = KeyVaultBackupClient(SOURCE, credential, **options[SOURCE])
names = {"sig": f"py-sig-{e2e.SUFFIX}", "ec": f"py-ec-{e2e.SUFFIX}"}

# 1. A pool created awaiting its security domain serves no key operation.
code, err_code, _ = status_code_of(lambda: keys_src.create_rsa_key(names["sig"], hardware_protected=True))
e2e.expect((code, err_code) == (403, "Forbidden"), f"a key operation on a pool not activated answered {code} {err_code}")
e2e.check(SOURCE, "not activated: key operations refused")

# 2. Security domain download: 2 certificates refused, 3 with quorum 2 activate the pool.
holders = [certificate(f"sd-{i}") for i in range(3)]
res = sd(backup_src, "POST", "/securitydomain/download", {"certificates": [h[0] for h in holders[:2]], "required": 2})
e2e.expect(res.status_code == 400 and res.json()["error"]["code"] == "BadParameter", f"2 certificates answered {res.status_code}")
res = sd(backup_src, "POST", "/securitydomain/download", {"certificates": [h[0] for h in holders], "required": 2})
e2e.expect(res.status_code == 202, f"download answered {res.status_code} {res.text()[:300]}")
e2e.expect("/securitydomain/download/pending" in res.headers.get("azure-asyncoperation", ""), "download without azure-asyncoperation")
security_domain = json.loads(res.json()["value"])
e2e.expect(security_domain["required"] == 2 and len(security_domain["shares"]) == 3, "security domain shape")
pending = sd(backup_src, "GET", "/securitydomain/download/pending").json()
e2e.expect(pending["status"] == "Success", f"download status {pending}")
again = sd(backup_src, "POST", "/securitydomain/download", {"certificates": [h[0] for h in holders], "required": 2})
e2e.expect(again.status_code == 409, f"a second download answered {again.status_code}")
e2e.check(SOURCE, "security domain download (3 certificates, quorum 2); 2 certificates refused")

# 3. Keys (two versions of one), a signature made before the backup.
sig = keys_src.create_rsa_key(names["sig"], size=2048, hardware_protected=True)
sig = keys_src.create_rsa_key(names["sig"], size=2048, hardware_protected=True, tags={"v": "2"})
ec = keys_src.create_ec_key(names["ec"], hardware_protected=True)
signature = CryptographyClient(sig.id, credential, **options[SOURCE]).sign(SignatureAlgorithm.rs256, DIGEST).signature
e2e.check(SOURCE, "keys created and a signature made")

# 3b. The source pool's local RBAC and a setting: a custom role (sign, read) assigned to the
# application at /keys, Managed HSM Crypto User at /keys/{sig}.
access_src = KeyVaultAccessControlClient(SOURCE, credential, **options[SOURCE])
custom_id = str(uuid.uuid4())
custom = access_src.set_role_definition(
    KeyVaultRoleScope.GLOBAL, name=custom_id, role_name=f"py backup signer {e2e.SUFFIX}", description="signs after a restore",
    permissions=[KeyVaultPermission(data_actions=[KeyVaultDataAction.SIGN_HSM_KEY, KeyVaultDataAction.READ_HSM_KEY])],
)
custom_assignment = access_src.create_role_assignment(KeyVaultRoleScope.KEYS, custom.id, APP_OID)
user_scope = f"/keys/{names['sig']}"
user_assignment = access_src.create_role_assignment(user_scope, CRYPTO_USER, APP_OID)
KeyVaultSettingsClient(SOURCE, credential, **options[SOURCE]).update_setting(KeyVaultSetting(name=ARM, value=True))


def rbac_of(access):
    """The pool's assignments of the application and of the pool administrator, as (role definition id, scope, name)."""
    listed = list(access.list_role_assignments(KeyVaultRoleScope.GLOBAL))
    of = lambda oid: sorted((a.properties.role_definition_id.rsplit("/", 1)[-1].lower(), a.properties.scope, a.name) for a in listed if (a.properties.principal_id or "").lower() == oid)
    return of(APP_OID), of(POOL_ADMIN_OID)


app_src, admin_src = rbac_of(access_src)
e2e.expect([(r, s) for r, s, _ in app_src] == sorted([(custom_id, "/keys"), (CRYPTO_USER, user_scope)]), f"source assignments {app_src}")
e2e.expect([(r, s) for r, s, _ in admin_src] == [(ADMINISTRATOR, "/")], f"source pool administrator {admin_src}")
e2e.check(SOURCE, "custom role definition, role assignments and a setting made")

# 4. Pre-backup, full backup to Azurite with the SAS.
backup_src.begin_pre_backup(CONTAINER, sas_token=SAS, **FAST).wait()
result = backup_src.begin_backup(CONTAINER, sas_token=SAS, **FAST).result()
folder_url = result.folder_url
e2e.expect(folder_url.startswith(f"{CONTAINER}/mhsm-"), f"folder {folder_url}")
manifest = json.loads(blob(f"{folder_url}/backup.json"))
e2e.expect(sorted(k["name"] for k in manifest["keys"]) == sorted(names.values()), f"manifest keys {[k['name'] for k in manifest['keys']]}")
key_blob = blob(f"{folder_url}/keys/{names['sig']}")
e2e.expect(b"KeyledgerKeyBackupV1" not in key_blob and sig.key.n not in key_blob, "key material or the key backup in clear in the blob")
e2e.expect(manifest["version"] == 2 and manifest["administration"]["blob"] == "administration", f"manifest administration {manifest.get('administration')}")
admin_blob = blob(f"{folder_url}/administration")
e2e.expect(APP_OID.encode() not in admin_blob and custom_id.encode() not in admin_blob, "role assignments in clear in the backup")
e2e.check(SOURCE, "pre-backup and full backup to Azurite")

# 5. Refusals up front and as failed jobs.
code, err_code, message = status_code_of(lambda: backup_src.begin_backup(CONTAINER, sas_token="sv=2025-01-05&sr=c&sp=rw&sig=abc", **FAST))
e2e.expect((code, err_code) == (400, "BadRequest") and "expiry" in message, f"malformed SAS answered {code} {err_code}")
try:
    backup_src.begin_backup("http://127.0.0.1:9/devstoreaccount1/nowhere", sas_token=SAS, **FAST).result()
    raise AssertionError("a backup to unreachable storage succeeded")
except HttpResponseError as err:
    e2e.expect("could not be reached" in str(err.message) or "StorageUnavailable" in str(err), f"unreachable storage: {err.message}")
e2e.check(SOURCE, "malformed SAS 400, unreachable storage job Failed")

# 6. Pre-restore, then delete and purge a key, full restore brings it back.
backup_src.begin_pre_restore(folder_url, sas_token=SAS, **FAST).wait()
keys_src.begin_delete_key(names["ec"]).result()
keys_src.purge_deleted_key(names["ec"])
backup_src.begin_restore(folder_url, sas_token=SAS, **FAST).wait()
e2e.expect(keys_src.get_key(names["ec"]).key.x == ec.key.x, "the fully restored key is another key")
e2e.check(SOURCE, "pre-restore; delete, full restore")

# 7. Selective key restore of one key with both versions; the old signature verifies.
keys_src.begin_delete_key(names["sig"]).result()
keys_src.purge_deleted_key(names["sig"])
backup_src.begin_restore(folder_url, sas_token=SAS, key_name=names["sig"], **FAST).wait()
restored = keys_src.get_key(names["sig"])
e2e.expect(restored.properties.version == sig.properties.version and restored.properties.tags == {"v": "2"}, "the selectively restored key lost its version or tags")
e2e.expect(len(list(keys_src.list_properties_of_key_versions(names["sig"]))) == 2, "versions not restored")
e2e.expect(CryptographyClient(restored.id, credential, **options[SOURCE]).verify(SignatureAlgorithm.rs256, DIGEST, signature).is_valid, "old signature")
e2e.check(SOURCE, "selective key restore (2 versions, tags); an earlier signature verifies")

# 8. A pool of another security domain refuses the backup.
try:
    KeyVaultBackupClient(OTHER, credential, **options[OTHER]).begin_restore(folder_url, sas_token=SAS, key_name=names["ec"], **FAST).wait()
    raise AssertionError("a pool of another security domain restored the backup")
except HttpResponseError as err:
    e2e.expect("security domain" in str(err.message), f"other domain: {err.message}")
e2e.check(OTHER, "backup of another security domain refused")

# 9. A fresh pool: transfer key, fewer shares than the quorum refused, 2 shares activate it with the same domain.
backup_dst = KeyVaultBackupClient(TARGET, credential, **options[TARGET])
transfer = sd(backup_dst, "GET", "/securitydomain/upload").json()["transfer_key"]
transfer_key = rsa.RSAPublicNumbers(int.from_bytes(unb64url(transfer["e"]), "big"), int.from_bytes(unb64url(transfer["n"]), "big")).public_key()


def upload(indexes):
    shares = []
    for share in security_domain["shares"]:
        if share["index"] in indexes:
            holder_key = holders[share["index"] - 1][1]
            plain = holder_key.decrypt(unb64url(share["enc"]), OAEP)
            shares.append({"index": share["index"], "enc": b64url(transfer_key.encrypt(plain, OAEP))})
    value = {"kind": "keyledger.managedhsm.securitydomain.upload", "version": 1, "securityDomain": security_domain, "shares": shares}
    return sd(backup_dst, "POST", "/securitydomain/upload", {"value": json.dumps(value)})


few = upload({2})
e2e.expect(few.status_code == 400 and "quorum" in few.json()["error"]["message"], f"one share answered {few.status_code} {few.text()[:200]}")
code, err_code, _ = status_code_of(lambda: KeyClient(TARGET, credential, **options[TARGET]).create_rsa_key("py-nope", hardware_protected=True))
e2e.expect(code == 403, "the target pool served keys before its upload")
ok = upload({1, 3})
e2e.expect(ok.status_code == 202 and ok.json()["status"] == "Success", f"upload answered {ok.status_code} {ok.text()[:200]}")
e2e.expect(sd(backup_dst, "GET", "/securitydomain/upload/pending").json()["status"] == "Success", "upload status")
e2e.check(TARGET, "security domain upload: 1 share refused, 2 shares activate")

# 9b. A selective key restore into the second pool brings the key, not the role assignments.
access_dst = KeyVaultAccessControlClient(TARGET, credential, **options[TARGET])
backup_dst.begin_restore(folder_url, sas_token=SAS, key_name=names["ec"], **FAST).wait()
app_dst, admin_dst = rbac_of(access_dst)
e2e.expect(app_dst == [] and [(r, s) for r, s, _ in admin_dst] == [(ADMINISTRATOR, "/")], f"a selective restore changed the role assignments: {app_dst} {admin_dst}")
e2e.expect(custom_id not in [d.name for d in access_dst.list_role_definitions(KeyVaultRoleScope.GLOBAL)], "a selective restore wrote the custom role definition")
code, _, _ = status_code_of(lambda: KeyClient(TARGET, app, **options[TARGET]).get_key(names["ec"]))
e2e.expect(code == 403, f"the application read a key of the second pool before its full restore: {code}")
e2e.check(TARGET, "selective key restore leaves the role assignments alone")

# 10. The second pool restores the whole backup; a restored key verifies the signature made before, and signs.
backup_dst.begin_restore(folder_url, sas_token=SAS, **FAST).wait()
keys_dst = KeyClient(TARGET, credential, **options[TARGET])
moved = keys_dst.get_key(names["sig"])
e2e.expect(moved.key.n == sig.key.n and moved.id.startswith(f"{TARGET}/keys/"), "the key restored into the second pool differs")
crypto_dst = CryptographyClient(moved.id, credential, **options[TARGET])
e2e.expect(crypto_dst.verify(SignatureAlgorithm.rs256, DIGEST, signature).is_valid, "old signature in the second pool")
fresh = crypto_dst.sign(SignatureAlgorithm.rs256, DIGEST).signature
e2e.expect(CryptographyClient(sig.id, credential, **options[SOURCE]).verify(SignatureAlgorithm.rs256, DIGEST, fresh).is_valid, "the second pool's signature with the restored key")
e2e.expect(keys_dst.get_key(names["ec"]).key.x == ec.key.x, "the EC key in the second pool")
e2e.check(TARGET, "full restore into the second pool; the restored key verifies and signs")

# 10b. The role definition, the assignments (ids, role ids, scopes) and the setting came with it,
# enforced at once: the application signs with the restored key; the pool administrator, named by
# the backup and by the second pool's creation, holds Administrator at / once.
app_dst, admin_dst = rbac_of(access_dst)
e2e.expect(app_dst == app_src, f"restored assignments {app_dst} != {app_src}")
e2e.expect([(r, s) for r, s, _ in admin_dst] == [(ADMINISTRATOR, "/")], f"pool administrator in the second pool {admin_dst}")
restored_custom = access_dst.get_role_definition(KeyVaultRoleScope.GLOBAL, custom_id)
e2e.expect(restored_custom.role_name == custom.role_name and sorted(restored_custom.permissions[0].data_actions) == sorted(custom.permissions[0].data_actions), "restored custom role definition")
e2e.expect(KeyVaultSettingsClient(TARGET, credential, **options[TARGET]).get_setting(ARM).getboolean() is True, "restored setting")
app_signed = CryptographyClient(moved.id, app, **options[TARGET]).sign(SignatureAlgorithm.rs256, DIGEST).signature
e2e.expect(CryptographyClient(sig.id, credential, **options[SOURCE]).verify(SignatureAlgorithm.rs256, DIGEST, app_signed).is_valid, "the application's signature in the second pool")
e2e.check(TARGET, "full restore brought the role definition, assignments and setting; the pool administrator once; the application signs")

# 11. A tampered blob: the restore fails and restores nothing.
keys_dst.begin_delete_key(names["ec"]).result()
keys_dst.purge_deleted_key(names["ec"])
original_ec = blob(f"{folder_url}/keys/{names['ec']}")
tampered = bytearray(original_ec)
tampered[-20] ^= 1
blob(f"{folder_url}/keys/{names['ec']}", bytes(tampered))
try:
    backup_dst.begin_restore(folder_url, sas_token=SAS, **FAST).wait()
    raise AssertionError("a tampered backup was restored")
except HttpResponseError as err:
    e2e.expect("altered" in str(err.message), f"tampered: {err.message}")
e2e.expect(names["ec"] not in [k.name for k in keys_dst.list_properties_of_keys()], "a tampered restore wrote a key")
e2e.check(TARGET, "tampered blob refused, nothing restored")

# 12. A tampered role-assignments blob (the key blobs intact again): refused, nothing restored.
blob(f"{folder_url}/keys/{names['ec']}", original_ec)
access_dst.delete_role_assignment(KeyVaultRoleScope.KEYS, custom_assignment.name)
altered = bytearray(admin_blob)
altered[-20] ^= 1
blob(f"{folder_url}/administration", bytes(altered))
try:
    backup_dst.begin_restore(folder_url, sas_token=SAS, **FAST).wait()
    raise AssertionError("a backup with tampered role assignments was restored")
except HttpResponseError as err:
    e2e.expect("altered" in str(err.message), f"tampered role assignments: {err.message}")
e2e.expect(names["ec"] not in [k.name for k in keys_dst.list_properties_of_keys()], "a restore with tampered role assignments wrote a key")
e2e.expect(custom_assignment.name not in [n for _, _, n in rbac_of(access_dst)[0]], "a restore with tampered role assignments wrote an assignment")
e2e.check(TARGET, "tampered role assignments refused, nothing restored")

e2e.finish(sdk=f"azure-keyvault-administration {admin_version}", apiVersion=backup_src.api_version, folder=folder_url)

"""The newest azure-keyvault-administration against a Keyledger Managed HSM pool created for the
run with `administrators` (its pool administrator is the principal in KEYLEDGER_CLIENT_*, who holds
no deployment-wide role): KeyVaultAccessControlClient lists the built-in role definitions, grants
Managed HSM Crypto User at /keys to an application (KEYLEDGER_APP_*), which can then create and use
a key at once, and revokes it, after which the application is refused at once; a custom role
definition is created, updated, refused deletion while assigned, deleted; bad input gets Azure's
statuses and codes and writes nothing; KeyVaultSettingsClient lists, gets and updates
AllowKeyManagementOperationsThroughARM."""
import hashlib
import os
import uuid

import keyledger_e2e as e2e  # first: resolves *.localhost in this process
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import (
    KeyVaultAccessControlClient,
    KeyVaultDataAction,
    KeyVaultPermission,
    KeyVaultRoleScope,
    KeyVaultSetting,
    KeyVaultSettingsClient,
)
from azure.keyvault.administration import __version__ as sdk_version
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

url = e2e.VAULT_URLS[0]
options = e2e.client_options(url)
admin = e2e.credential()
app = ClientSecretCredential(
    os.environ["KEYLEDGER_TENANT_ID"],
    os.environ["KEYLEDGER_APP_CLIENT_ID"],
    os.environ["KEYLEDGER_APP_CLIENT_SECRET"],
    authority=os.environ["KEYLEDGER_AUTHORITY"],
    disable_instance_discovery=True,
    connection_verify=e2e.CA_FILE,
)
app_oid = os.environ["KEYLEDGER_APP_OBJECT_ID"]
access = KeyVaultAccessControlClient(url, admin, **options)
app_keys = KeyClient(url, app, **options)
key_name = f"py-adm-{e2e.SUFFIX}"


def refused(call, status, code=None):
    try:
        call()
    except HttpResponseError as err:
        got = err.error.code if err.error is not None else None
        e2e.expect(err.status_code == status and (code is None or got == code), f"expected {status} {code}, got {err.status_code} {got}: {err.message}")
        return
    raise AssertionError(f"expected {status} {code}, the call succeeded")


# Built-in role definitions with Azure's ids.
definitions = list(access.list_role_definitions(KeyVaultRoleScope.GLOBAL))
by_name = {d.role_name: d for d in definitions}
expected = {
    "Managed HSM Administrator": "a290e904-7015-4bba-90c8-60543313cdb4",
    "Managed HSM Crypto Officer": "515eb02d-2335-4d2d-92f2-b1cbdf9c3778",
    "Managed HSM Crypto User": "21dbd100-6940-42c2-9190-5d6cb909625b",
    "Managed HSM Policy Administrator": "4bd23610-cdcf-4971-bdee-bdc562cc28e4",
    "Managed HSM Crypto Auditor": "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3",
    "Managed HSM Crypto Service Encryption User": "33413926-3206-4cdd-b39a-83574fe37a17",
    "Managed HSM Crypto Service Release User": "21dbd100-6940-42c2-9190-5d6cb909625c",
    "Managed HSM Backup User": "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8",
    "Managed HSM Restore User": "6efe6056-5259-49d2-8b3d-d3d73544b20b",
    "Managed HSM EKM Administrator": "abdd7ec4-a273-4265-bf38-e001014e2d8e",
}
e2e.expect({n: by_name[n].name for n in expected if n in by_name} == expected, f"built-in roles: {sorted(by_name)}")
crypto_user = by_name["Managed HSM Crypto User"]
e2e.expect(getattr(crypto_user.role_type, "value", crypto_user.role_type) == "AKVBuiltInRole", f"role type {crypto_user.role_type}")
e2e.expect(KeyVaultDataAction.SIGN_HSM_KEY in crypto_user.permissions[0].data_actions, "Crypto User signs")
e2e.expect(access.get_role_definition(KeyVaultRoleScope.GLOBAL, crypto_user.name).role_name == "Managed HSM Crypto User", "get built-in")
e2e.check(url, "list definitions")

# The application holds nothing in this pool yet.
refused(lambda: app_keys.create_rsa_key(key_name, size=2048, hardware_protected=True), 403, "Forbidden")

# Grant Crypto User at /keys: enforced before the answer leaves.
assignment = access.create_role_assignment(KeyVaultRoleScope.KEYS, crypto_user.id, app_oid)
e2e.expect(assignment.properties.scope == "/keys" and assignment.properties.principal_id == app_oid, "assignment properties")
e2e.expect(assignment.properties.role_definition_id.endswith(crypto_user.name), "assignment role")
e2e.expect(access.get_role_assignment(KeyVaultRoleScope.KEYS, assignment.name).name == assignment.name, "get assignment")
e2e.expect(assignment.name in [a.name for a in access.list_role_assignments(KeyVaultRoleScope.KEYS)], "listed at /keys")
key = app_keys.create_rsa_key(key_name, size=2048, hardware_protected=True)
signed = CryptographyClient(key.id, app, **options).sign(SignatureAlgorithm.rs256, hashlib.sha256(b"granted").digest())
e2e.expect(len(signed.signature) == 256, "signature")
e2e.check(url, "granted at once")

refused(lambda: access.create_role_assignment(KeyVaultRoleScope.KEYS, crypto_user.id, app_oid), 409, "RoleAssignmentExists")
access.delete_role_assignment(KeyVaultRoleScope.KEYS, assignment.name)
refused(lambda: app_keys.get_key(key_name), 403, "Forbidden")
refused(lambda: access.get_role_assignment(KeyVaultRoleScope.KEYS, assignment.name), 404, "RoleAssignmentNotFound")
access.delete_role_assignment(KeyVaultRoleScope.KEYS, assignment.name)  # a second delete: the SDK takes the 404 as done
e2e.check(url, "revoked at once")

# A custom role definition: create, update, in use, delete.
definition_name = str(uuid.uuid4())
role_name = f"py signer {e2e.SUFFIX}"
created = access.set_role_definition(KeyVaultRoleScope.GLOBAL, name=definition_name, role_name=role_name, description="signs", permissions=[KeyVaultPermission(data_actions=[KeyVaultDataAction.SIGN_HSM_KEY])])
e2e.expect(created.name == definition_name and created.role_name == role_name, "custom created")
updated = access.set_role_definition(
    KeyVaultRoleScope.GLOBAL, name=definition_name, role_name=role_name, permissions=[KeyVaultPermission(data_actions=[KeyVaultDataAction.SIGN_HSM_KEY, KeyVaultDataAction.READ_HSM_KEY])]
)
e2e.expect(len(access.get_role_definition(KeyVaultRoleScope.GLOBAL, definition_name).permissions[0].data_actions) == 2, "custom updated")
e2e.expect(updated.name in [d.name for d in access.list_role_definitions(KeyVaultRoleScope.GLOBAL)], "custom listed")
custom_assignment = access.create_role_assignment(KeyVaultRoleScope.GLOBAL, updated.id, app_oid)
e2e.expect(app_keys.get_key(key_name).name == key_name, "custom role grants read")
refused(lambda: access.delete_role_definition(KeyVaultRoleScope.GLOBAL, definition_name), 409, "RoleDefinitionInUse")
access.delete_role_assignment(KeyVaultRoleScope.GLOBAL, custom_assignment.name)
access.delete_role_definition(KeyVaultRoleScope.GLOBAL, definition_name)
refused(lambda: access.get_role_definition(KeyVaultRoleScope.GLOBAL, definition_name), 404, "RoleDefinitionNotFound")
access.delete_role_definition(KeyVaultRoleScope.GLOBAL, definition_name)  # the SDK takes the 404 as done
e2e.check(url, "custom definition")

# Bad input: Azure's statuses and codes, nothing written.
refused(lambda: access.create_role_assignment(KeyVaultRoleScope.GLOBAL, str(uuid.uuid4()), app_oid), 404, "RoleDefinitionNotFound")
refused(lambda: access.create_role_assignment(KeyVaultRoleScope.GLOBAL, crypto_user.id, app_oid, name="not-a-guid"), 400, "BadParameter")
refused(lambda: access.create_role_assignment("/vaults/elsewhere", crypto_user.id, app_oid), 404, "NotFound")
refused(lambda: access.set_role_definition(KeyVaultRoleScope.GLOBAL, name=str(uuid.uuid4()), role_name="outside", assignable_scopes=["/vaults/elsewhere"], permissions=[]), 400, "BadParameter")
refused(lambda: access.set_role_definition(KeyVaultRoleScope.GLOBAL, name="foo unique value", role_name="x", permissions=[]), 400, "BadParameter")
refused(lambda: access.set_role_definition(KeyVaultRoleScope.GLOBAL, name=crypto_user.name, role_name="Managed HSM Crypto User", permissions=[]), 400, "BadParameter")
refused(lambda: access.delete_role_definition(KeyVaultRoleScope.GLOBAL, crypto_user.name), 400, "BadParameter")
e2e.expect([a for a in access.list_role_assignments(KeyVaultRoleScope.GLOBAL) if a.properties.principal_id == app_oid] == [], "no assignment left for the application")
e2e.expect([d for d in access.list_role_definitions(KeyVaultRoleScope.GLOBAL) if d.role_name in ("outside", "x")] == [], "no definition written")
e2e.check(url, "bad input")

# Settings.
settings = KeyVaultSettingsClient(url, admin, **options)
listed = {s.name: s for s in settings.list_settings()}
e2e.expect(list(listed) == ["AllowKeyManagementOperationsThroughARM"], f"settings {list(listed)}")
arm = settings.get_setting("AllowKeyManagementOperationsThroughARM")
e2e.expect(str(arm.setting_type).lower().endswith("boolean") and arm.value == "false" and arm.getboolean() is False, "initial setting")
changed = settings.update_setting(KeyVaultSetting(name="AllowKeyManagementOperationsThroughARM", value=True))
e2e.expect(changed.value == "true" and settings.get_setting("AllowKeyManagementOperationsThroughARM").getboolean() is True, "updated setting")
refused(lambda: settings.update_setting(KeyVaultSetting(name="AllowKeyManagementOperationsThroughARM", value="maybe")), 400, "BadParameter")
refused(lambda: settings.get_setting("NoSuchSetting"), 404)
e2e.expect(settings.get_setting("AllowKeyManagementOperationsThroughARM").value == "true", "refused update wrote nothing")
e2e.check(url, "settings")

e2e.finish(sdk=f"azure-keyvault-administration {sdk_version}", apiVersion=access._client._config.api_version)

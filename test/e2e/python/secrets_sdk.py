"""The newest azure-keyvault-secrets against Keyledger: set, get, list, delete (poller), get
deleted, purge, on each vault URL with the SDK's default challenge verification (vault host
names) or verify_challenge_resource=False (https://localhost:8443)."""
import keyledger_e2e as e2e  # first: resolves *.localhost in this process
from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets import __version__ as sdk_version

credential = e2e.credential()
for url in e2e.VAULT_URLS:
    client = SecretClient(url, credential, **e2e.client_options(url))
    name = f"py-secret-{e2e.SUFFIX}-{len(e2e.checks)}"

    created = client.set_secret(name, "py-s3cr3t", content_type="text/plain", tags={"sdk": "python"})
    e2e.expect(created.value == "py-s3cr3t", "set_secret returned another value")
    e2e.expect(created.id.startswith(f"{url}/secrets/{name}/"), f"id {created.id} is not on {url}")
    e2e.check(url, "set")

    got = client.get_secret(name)
    e2e.expect(got.value == "py-s3cr3t" and got.properties.version == created.properties.version, "get_secret did not return the latest version")
    e2e.expect(got.properties.content_type == "text/plain" and got.properties.tags == {"sdk": "python"}, "properties lost")
    e2e.check(url, "get")

    updated = client.set_secret(name, "py-s3cr3t-2")
    older = client.get_secret(name, created.properties.version)
    e2e.expect(older.value == "py-s3cr3t" and client.get_secret(name).value == "py-s3cr3t-2", "versions mixed up")
    versions = {p.version for p in client.list_properties_of_secret_versions(name)}
    e2e.expect(versions == {created.properties.version, updated.properties.version}, f"versions listed: {versions}")
    e2e.check(url, "versions")

    names = {p.name for p in client.list_properties_of_secrets(max_page_size=5)}
    e2e.expect(name in names, "list_properties_of_secrets does not list the secret")
    e2e.check(url, "list")

    deleted = client.begin_delete_secret(name).result()
    e2e.expect(deleted.name == name and deleted.recovery_id, "begin_delete_secret returned no recovery id")
    e2e.expect(client.get_deleted_secret(name).name == name, "get_deleted_secret")
    try:
        client.get_secret(name)
        raise AssertionError("a deleted secret is still served")
    except ResourceNotFoundError as err:
        e2e.expect(err.status_code == 404, "not a 404")
    client.purge_deleted_secret(name)
    e2e.check(url, "delete")

e2e.finish(sdk=f"azure-keyvault-secrets {sdk_version}", apiVersion=client.api_version)

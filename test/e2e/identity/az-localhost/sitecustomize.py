# Loaded by the Azure CLI's Python when test/e2e/identity/azure-cli-login.e2e.spec.ts runs it
# (PYTHONPATH = this folder and test/e2e/python): *.localhost resolved to loopback in that process.
import localhost_dns

localhost_dns.install()

/**
 * @module x509 — certificates and CSRs built around @peculiar/x509 with an injected signer
 * (the private key stays in the crypto service / PKCS#11 token), PEM and PKCS#12 (node-forge)
 * in and out, thumbprints and key checks. See README.md.
 */
export { SIGNATURE_ALGORITHMS, defaultAlgorithmFor, hashOf, type CertificateSigner, type SignatureAlgorithm } from './signer.js';
export {
  KEY_USAGE_NAMES,
  addMonths,
  buildCertificate,
  buildCsr,
  keyIdentifier,
  randomSerial,
  subjectName,
  type CertificateRequest,
  type KeyUsageName,
  type SubjectAlternativeNames,
  type SubjectRequest,
} from './certificate.builder.js';
export {
  certificatePem,
  certificatePublicKey,
  csrPem,
  csrPublicKey,
  describeKey,
  keyMatchesCertificate,
  leafMatchesCsr,
  parseCertificate,
  parsePem,
  parsePkcs12,
  toPem,
  toPkcs12,
  x5t,
  type CertificateMaterial,
  type KeyDescription,
} from './certificate.material.js';
export { X509Error, type X509ErrorCode } from './x509.errors.js';

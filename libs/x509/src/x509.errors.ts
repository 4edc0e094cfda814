/** Why certificate material was refused; messages never carry key material or passwords. */
export type X509ErrorCode =
  | 'InvalidSubject'
  | 'InvalidKeyUsage'
  | 'InvalidExtendedKeyUsage'
  | 'InvalidValidity'
  | 'InvalidPublicKey'
  | 'InvalidCertificate'
  | 'InvalidPem'
  | 'InvalidPkcs12'
  | 'WrongPassword'
  | 'MissingPrivateKey'
  | 'KeyMismatch'
  | 'UnsupportedKey'
  | 'SignerMismatch';

export class X509Error extends Error {
  constructor(
    readonly code: X509ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'X509Error';
  }
}

import { commonSchema, port } from '#libs/platform';

export const auditSchema = {
  ...commonSchema,
  AUDIT_PORT: port('HTTPS port of the audit service', 8444),
};

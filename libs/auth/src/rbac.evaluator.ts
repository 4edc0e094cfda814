import { BUILT_IN_ROLE_DEFINITIONS } from './roles.catalog.js';
import { parseScope, scopeCovers, type ScopePath } from './rbac.scope.js';
import type { RoleAssignment, RoleDefinition } from './rbac.types.js';

/**
 * Azure RBAC data-plane evaluation, pure and synchronous.
 *
 * Semantics (Azure's): deny by default; an assignment applies when its scope equals the resource
 * or is a segment-wise ancestor of it; permissions are additive across every applicable
 * assignment; inside one role definition a data action is granted by a permission block when it
 * matches one of the block's `dataActions` patterns and none of the same block's
 * `notDataActions` (a `notDataActions` match is an exclusion, not a deny: another role may still
 * grant). Wildcards `*` match any run of characters (including `/`); comparison ignores case.
 * Permission blocks carrying an ABAC `condition` grant nothing here (fail closed).
 *
 * When several assignments grant, the decision names the most specific one (deepest scope, then
 * the smallest assignment id) so the audit record's `appliedAssignmentId` is deterministic.
 */

export type RbacDecisionReason =
  /** An applicable assignment's role grants the action. */
  | 'Granted'
  /** The principal has no assignment whose scope covers the resource. */
  | 'NoApplicableAssignment'
  /** Applicable assignments exist but none of their roles names the action. */
  | 'NotGranted'
  /** The action matched `dataActions` but was removed by `notDataActions`, and no other role grants it. */
  | 'ExcludedByNotDataActions'
  /** The resource path is not well formed. */
  | 'InvalidResource'
  /** The requested action is empty, too long or contains a wildcard. */
  | 'InvalidAction'
  /** A vault action on a managed HSM resource (or vice versa), or an action of one collection on another's object. */
  | 'ActionResourceMismatch';

export type RbacDecision = {
  readonly allowed: boolean;
  /** The assignment that granted access — the audit record's `appliedAssignmentId`. */
  readonly assignmentId?: string;
  readonly roleDefinitionId?: string;
  readonly reason: RbacDecisionReason;
};

export type DataActionRequest = {
  /** The caller's object id (`oid`); several ids when group memberships are also considered. */
  readonly principalId: string | readonly string[];
  /** An exact data action, e.g. `Microsoft.KeyVault/vaults/secrets/getSecret/action`. */
  readonly dataAction: string;
  /** The resource path, e.g. `/vaults/dev/secrets/db-password`. */
  readonly resource: string;
};

type MatchResult = 'granted' | 'excluded' | 'none';

/** A role definition with its wildcard patterns precompiled and a per-action memo. */
export type CompiledRoleDefinition = {
  readonly id: string;
  readonly definition: RoleDefinition;
  /** `action` must already be lower case. */
  readonly match: (action: string) => MatchResult;
};

/** A role assignment with its scope and ids normalised. `scopeKey` is undefined when the stored scope is malformed (never applies). */
export type CompiledRoleAssignment = {
  readonly assignment: RoleAssignment;
  readonly id: string;
  readonly principalKey: string;
  readonly roleDefinitionKey: string | undefined;
  readonly scopeKey: string | undefined;
  readonly depth: number;
};

/** Where the evaluator reads assignments and roles from (a static list or the live read model). */
export interface RbacPolicySource {
  /** Assignments of one principal; `principalKey` is the lower-cased object id. */
  assignmentsOf(principalKey: string): readonly CompiledRoleAssignment[];
  /** `roleDefinitionKey` is a lower-case GUID. */
  roleDefinition(roleDefinitionKey: string): CompiledRoleDefinition | undefined;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Accepts a bare GUID or an Azure id ending in `/roleDefinitions/{guid}`; returns the lower-case GUID. */
export function normalizeRoleDefinitionId(id: string): string | undefined {
  if (typeof id !== 'string') return undefined;
  const lower = id.trim().toLowerCase();
  const marker = '/roledefinitions/';
  const at = lower.lastIndexOf(marker);
  const guid = at >= 0 ? lower.slice(at + marker.length) : lower;
  return GUID.test(guid) ? guid : undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

type Pattern = (action: string) => boolean;

/** Compiles one Azure action pattern (case-insensitive, `*` = any run of characters). */
export function compileActionPattern(pattern: string): Pattern {
  const p = pattern.trim().toLowerCase();
  if (!p.includes('*')) return (a) => a === p;
  if (p === '*') return () => true;
  const re = new RegExp(`^${p.split('*').map(escapeRegExp).join('.*')}$`, 's');
  return (a) => re.test(a);
}

const anyOf = (patterns: readonly Pattern[]): Pattern => {
  if (patterns.length === 0) return () => false;
  if (patterns.length === 1) return patterns[0] as Pattern;
  return (a) => patterns.some((p) => p(a));
};

const MEMO_LIMIT = 4096;

export function compileRoleDefinition(definition: RoleDefinition): CompiledRoleDefinition {
  const blocks = definition.permissions
    .filter((p) => p.condition === undefined || p.condition.trim() === '')
    .map((p) => ({ allow: anyOf(p.dataActions.map(compileActionPattern)), exclude: anyOf(p.notDataActions.map(compileActionPattern)) }));
  const memo = new Map<string, MatchResult>();
  const match = (action: string): MatchResult => {
    const hit = memo.get(action);
    if (hit !== undefined) return hit;
    let result: MatchResult = 'none';
    for (const b of blocks) {
      if (!b.allow(action)) continue;
      if (b.exclude(action)) {
        result = 'excluded';
        continue;
      }
      result = 'granted';
      break;
    }
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(action, result);
    return result;
  };
  return Object.freeze({ id: definition.id.toLowerCase(), definition, match });
}

export function compileRoleAssignment(assignment: RoleAssignment): CompiledRoleAssignment {
  const scope = parseScope(assignment.scope);
  return Object.freeze({
    assignment,
    id: assignment.id,
    principalKey: assignment.principalId.trim().toLowerCase(),
    roleDefinitionKey: normalizeRoleDefinitionId(assignment.roleDefinitionId),
    scopeKey: scope?.key,
    depth: scope?.segments.length ?? -1,
  });
}

/** An immutable policy built from plain lists (tests, tools, or a one-off snapshot). */
export class StaticRbacPolicy implements RbacPolicySource {
  private readonly byPrincipal = new Map<string, CompiledRoleAssignment[]>();
  private readonly roles = new Map<string, CompiledRoleDefinition>();

  constructor(assignments: readonly RoleAssignment[], roleDefinitions: readonly RoleDefinition[] = BUILT_IN_ROLE_DEFINITIONS) {
    for (const d of roleDefinitions) this.roles.set(d.id.toLowerCase(), compileRoleDefinition(d));
    for (const a of assignments) {
      const c = compileRoleAssignment(a);
      const list = this.byPrincipal.get(c.principalKey);
      if (list) list.push(c);
      else this.byPrincipal.set(c.principalKey, [c]);
    }
  }

  assignmentsOf(principalKey: string): readonly CompiledRoleAssignment[] {
    return this.byPrincipal.get(principalKey) ?? [];
  }

  roleDefinition(roleDefinitionKey: string): CompiledRoleDefinition | undefined {
    return this.roles.get(roleDefinitionKey);
  }
}

const VAULT_ACTION_PREFIX = 'microsoft.keyvault/vaults/';
const HSM_ACTION_PREFIX = 'microsoft.keyvault/managedhsm/';
/** Which object collection a vault data action's sub-resource belongs to. */
const COLLECTION_OF_ACTION: Readonly<Record<string, string>> = {
  secrets: 'secrets',
  keys: 'keys',
  keyrotationpolicies: 'keys',
  certificates: 'certificates',
  certificatecas: 'certificates',
  certificatecontacts: 'certificates',
};
const OBJECT_COLLECTIONS = new Set(['secrets', 'keys', 'certificates']);

function actionFitsResource(action: string, segments: readonly string[]): boolean {
  if (action.startsWith(VAULT_ACTION_PREFIX)) {
    if (segments.length === 0) return true;
    if (segments[0] !== 'vaults') return false;
    const resourceCollection = segments[2];
    if (resourceCollection === undefined || !OBJECT_COLLECTIONS.has(resourceCollection)) return true;
    const actionCollection = COLLECTION_OF_ACTION[action.slice(VAULT_ACTION_PREFIX.length).split('/')[0] ?? ''];
    return actionCollection === undefined || actionCollection === resourceCollection;
  }
  if (action.startsWith(HSM_ACTION_PREFIX)) return segments.length === 0 || segments[0] === 'managedhsms';
  return true;
}

const MAX_ACTION_LENGTH = 256;

/**
 * Parsed resource paths (a pure function of the string, the result frozen), remembered: every
 * request checks a path a recent one checked too (the same secret, vault or collection).
 */
const parsedResources = new Map<string, ScopePath | null>();
const RESOURCE_MEMO_LIMIT = 4096;

function parseResource(raw: string): ScopePath | undefined {
  const hit = parsedResources.get(raw);
  if (hit !== undefined) return hit ?? undefined;
  const parsed = parseScope(raw);
  if (parsedResources.size >= RESOURCE_MEMO_LIMIT) parsedResources.clear();
  if (typeof raw === 'string' && raw.length <= 1024) parsedResources.set(raw, parsed ?? null);
  return parsed;
}

/** Evaluates one data-action request against a policy source. */
export function evaluateDataAction(source: RbacPolicySource, request: DataActionRequest): RbacDecision {
  const action = typeof request.dataAction === 'string' ? request.dataAction.trim().toLowerCase() : '';
  if (action.length === 0 || action.length > MAX_ACTION_LENGTH || action.includes('*')) return { allowed: false, reason: 'InvalidAction' };
  const resource = parseResource(request.resource);
  if (resource === undefined) return { allowed: false, reason: 'InvalidResource' };
  if (!actionFitsResource(action, resource.segments)) return { allowed: false, reason: 'ActionResourceMismatch' };

  const principals = typeof request.principalId === 'string' ? [request.principalId] : request.principalId;
  let best: CompiledRoleAssignment | undefined;
  let sawApplicable = false;
  let sawExcluded = false;
  for (const principal of principals) {
    if (typeof principal !== 'string' || principal.length === 0) continue;
    for (const a of source.assignmentsOf(principal.trim().toLowerCase())) {
      if (a.scopeKey === undefined || !scopeCovers(a.scopeKey, resource.key)) continue;
      sawApplicable = true;
      if (a.roleDefinitionKey === undefined) continue;
      const role = source.roleDefinition(a.roleDefinitionKey);
      if (role === undefined) continue;
      const m = role.match(action);
      if (m === 'excluded') sawExcluded = true;
      if (m !== 'granted') continue;
      if (best === undefined || a.depth > best.depth || (a.depth === best.depth && a.id < best.id)) best = a;
    }
  }
  if (best !== undefined) {
    return { allowed: true, assignmentId: best.id, roleDefinitionId: best.roleDefinitionKey as string, reason: 'Granted' };
  }
  return { allowed: false, reason: sawExcluded ? 'ExcludedByNotDataActions' : sawApplicable ? 'NotGranted' : 'NoApplicableAssignment' };
}

/** The evaluator services hold: one per policy source (e.g. the live read model). */
export class RbacEvaluator {
  constructor(private readonly source: RbacPolicySource) {}

  /** Built-in roles are used when `roleDefinitions` is omitted; pass custom roles together with them. */
  static fromLists(assignments: readonly RoleAssignment[], roleDefinitions: readonly RoleDefinition[] = BUILT_IN_ROLE_DEFINITIONS): RbacEvaluator {
    return new RbacEvaluator(new StaticRbacPolicy(assignments, roleDefinitions));
  }

  checkDataAction(request: DataActionRequest): RbacDecision {
    return evaluateDataAction(this.source, request);
  }

  /** Convenience: which of `candidates` the principal may perform on `resource` (for listings and diagnostics). */
  permittedDataActions(principalId: string | readonly string[], resource: string, candidates: readonly string[]): string[] {
    return candidates.filter((dataAction) => evaluateDataAction(this.source, { principalId, dataAction, resource }).allowed);
  }
}

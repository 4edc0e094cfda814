import {
  ContractError,
  RBAC_CONTRACTS,
  RoleAssignmentCreatedV1,
  RoleAssignmentDeletedV1,
  RoleDefinitionCreatedV1,
  RoleDefinitionDeletedV1,
  RoleDefinitionUpdatedV1,
  checkContract,
  type DataOf,
  type EventContract,
  type EventOf,
} from '#libs/contracts';
import { DomainError } from '#libs/kernel';
import {
  compileRoleAssignment,
  compileRoleDefinition,
  normalizeRoleDefinitionId,
  type CompiledRoleAssignment,
  type CompiledRoleDefinition,
  type RbacPolicySource,
} from './rbac.evaluator.js';
import { parseScope } from './rbac.scope.js';
import { BUILT_IN_ROLE_DEFINITIONS, isBuiltInRoleId } from './roles.catalog.js';
import type { RoleAssignment, RoleDefinition, RolePermission } from './rbac.types.js';

/**
 * The local read model of role assignments and custom role definitions that `vault`, `crypto`
 * and `audit` keep, fed by the identity service's events (the Kafka consumer calls `apply`).
 *
 * Application is deterministic and idempotent: every change carries the event's global
 * `position` in the identity event store, and each assignment / role definition remembers the
 * position of the last event applied to it. An event at or below that position is a duplicate or
 * a late redelivery and changes nothing — in particular a redelivered `RoleAssignmentCreated`
 * can never resurrect an assignment that a later `RoleAssignmentDeleted` revoked (deletions leave
 * a tombstone). Events for different entities may arrive in any order.
 *
 * Built-in roles are always present and cannot be redefined or deleted by events: an event that
 * restates a built-in exactly is `ignored`, one that would change or delete it is rejected.
 */

/** The identity events this model applies: their types and schemas are identity's published contracts (libs/contracts). */
export type RoleAssignmentCreated = EventOf<typeof RoleAssignmentCreatedV1>;
export type RoleAssignmentDeleted = EventOf<typeof RoleAssignmentDeletedV1>;
export type RoleDefinitionCreated = EventOf<typeof RoleDefinitionCreatedV1>;
export type RoleDefinitionUpdated = EventOf<typeof RoleDefinitionUpdatedV1>;
export type RoleDefinitionDeleted = EventOf<typeof RoleDefinitionDeletedV1>;

export type RbacEvent = RoleAssignmentCreated | RoleAssignmentDeleted | RoleDefinitionCreated | RoleDefinitionUpdated | RoleDefinitionDeleted;
export type RbacEventType = RbacEvent['type'];

/** An event as the consumer hands it over: the identity event plus its global position (and id, for logs). */
export type RbacChange = RbacEvent & {
  /** Global position of the event in the identity event store (a non-negative integer). */
  readonly position: bigint | number | string;
  readonly eventId?: string;
};

export type ApplyOutcome =
  /** State changed. */
  | 'applied'
  /** Already applied (same position) or older than what the entity has seen: nothing changed. */
  | 'duplicate'
  /** A definition event for a built-in role that restates the catalogue exactly: built-ins come from the catalogue, nothing changed. */
  | 'ignored';

export type SnapshotEntry<T> = T & { readonly position: string };
export type Tombstone = { readonly id: string; readonly position: string };

/** JSON-safe, deterministic (sorted) state; `restore()` rebuilds the identical model from it. */
export type RbacReadModelSnapshot = {
  /** Highest event position applied (decimal string), `"-1"` when empty. */
  readonly position: string;
  readonly assignments: readonly SnapshotEntry<RoleAssignment>[];
  readonly deletedAssignments: readonly Tombstone[];
  /** Custom role definitions only (built-ins come from the catalogue). */
  readonly roleDefinitions: readonly SnapshotEntry<RoleDefinition>[];
  readonly deletedRoleDefinitions: readonly Tombstone[];
};

export interface RoleAssignmentReadModel extends RbacPolicySource {
  apply(change: RbacChange): ApplyOutcome;
  snapshot(): RbacReadModelSnapshot;
  /** Highest event position applied so far (`-1n` when nothing has been applied). */
  readonly position: bigint;
}

const RBAC_EVENT_TYPES: ReadonlySet<string> = new Set<string>(RBAC_CONTRACTS.map((c) => c.type));

/** For consumers reading a topic with other identity events: is this one for the RBAC read model? */
export function isRbacEventType(type: string): type is RbacEventType {
  return RBAC_EVENT_TYPES.has(type);
}

const invalid = (message: string, details: Record<string, string | number | boolean> = {}): DomainError =>
  new DomainError('RbacEventInvalid', message, details);

function toPosition(raw: unknown): bigint {
  if (typeof raw === 'bigint' && raw >= 0n) return raw;
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return BigInt(raw);
  if (typeof raw === 'string' && /^\d{1,19}$/.test(raw)) return BigInt(raw);
  throw invalid('event position must be a non-negative integer');
}

/** Validates an event's data with its contract's schema; the problems name fields, never values. */
function contractData<C extends EventContract>(contract: C, data: unknown): DataOf<C> {
  try {
    return checkContract(contract, data).data as DataOf<C>;
  } catch (err) {
    if (err instanceof ContractError) throw invalid(err.message, { type: contract.type });
    throw err;
  }
}

function validateAssignment(data: unknown): RoleAssignment {
  const { id, principalId, roleDefinitionId, scope } = contractData(RoleAssignmentCreatedV1, data);
  if (normalizeRoleDefinitionId(roleDefinitionId) === undefined) throw invalid('role assignment roleDefinitionId is not a role definition GUID', { assignmentId: id });
  if (parseScope(scope) === undefined) throw invalid('role assignment scope is malformed', { assignmentId: id });
  return Object.freeze({ id, principalId, roleDefinitionId, scope });
}

function validateDefinition(contract: typeof RoleDefinitionCreatedV1 | typeof RoleDefinitionUpdatedV1, data: unknown): RoleDefinition {
  const d = contractData(contract, data);
  const id = normalizeRoleDefinitionId(d.id);
  if (id === undefined) throw invalid('role definition id is not a GUID');
  const permissions = d.permissions.map(
    (p): RolePermission =>
      Object.freeze({
        actions: Object.freeze([...p.actions]),
        notActions: Object.freeze([...p.notActions]),
        dataActions: Object.freeze([...p.dataActions]),
        notDataActions: Object.freeze([...p.notDataActions]),
        ...(p.condition ? { condition: p.condition } : {}),
        ...(p.conditionVersion ? { conditionVersion: p.conditionVersion } : {}),
      }),
  );
  return Object.freeze({
    id,
    roleName: d.roleName,
    description: d.description,
    roleType: 'CustomRole',
    assignableScopes: Object.freeze([...d.assignableScopes]),
    permissions: Object.freeze(permissions),
  });
}

/** Same data-plane meaning: equal dataActions / notDataActions (case-insensitive, order-free) per permission block. */
function samePermissions(a: RoleDefinition, b: RoleDefinition): boolean {
  const canon = (d: RoleDefinition): string =>
    JSON.stringify(
      d.permissions.map((p) => [
        [...p.dataActions].map((x) => x.toLowerCase()).sort(),
        [...p.notDataActions].map((x) => x.toLowerCase()).sort(),
        p.condition ?? '',
      ]),
    );
  return canon(a) === canon(b);
}

type Slot<T> = { position: bigint; value: T | undefined };

const byId = <T extends { readonly id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class InMemoryRoleAssignmentReadModel implements RoleAssignmentReadModel {
  private readonly assignments = new Map<string, Slot<CompiledRoleAssignment>>();
  private readonly definitions = new Map<string, Slot<CompiledRoleDefinition>>();
  private readonly builtIns = new Map<string, CompiledRoleDefinition>();
  private readonly byPrincipal = new Map<string, Map<string, CompiledRoleAssignment>>();
  private readonly principalCache = new Map<string, readonly CompiledRoleAssignment[]>();
  private highest = -1n;

  constructor(builtInRoles: readonly RoleDefinition[] = BUILT_IN_ROLE_DEFINITIONS) {
    for (const d of builtInRoles) this.builtIns.set(d.id.toLowerCase(), compileRoleDefinition(d));
  }

  get position(): bigint {
    return this.highest;
  }

  apply(change: RbacChange): ApplyOutcome {
    const position = toPosition(change.position);
    let outcome: ApplyOutcome;
    switch (change.type) {
      case 'RoleAssignmentCreated': {
        const a = validateAssignment(change.data);
        outcome = this.putAssignment(a.id, position, compileRoleAssignment(a));
        break;
      }
      case 'RoleAssignmentDeleted':
        outcome = this.putAssignment(contractData(RoleAssignmentDeletedV1, change.data).id, position, undefined);
        break;
      case 'RoleDefinitionCreated':
      case 'RoleDefinitionUpdated': {
        const d = validateDefinition(change.type === 'RoleDefinitionCreated' ? RoleDefinitionCreatedV1 : RoleDefinitionUpdatedV1, change.data);
        const builtIn = this.builtIns.get(d.id);
        if (builtIn !== undefined) {
          if (!samePermissions(builtIn.definition, d)) {
            throw invalid('a built-in role definition cannot be created, changed or deleted by an event', { roleDefinitionId: d.id });
          }
          outcome = 'ignored';
          break;
        }
        outcome = this.putDefinition(d.id, position, compileRoleDefinition(d));
        break;
      }
      case 'RoleDefinitionDeleted': {
        const id = normalizeRoleDefinitionId(contractData(RoleDefinitionDeletedV1, change.data).id);
        if (id === undefined) throw invalid('role definition id is not a GUID');
        if (isBuiltInRoleId(id)) throw invalid('a built-in role definition cannot be created, changed or deleted by an event', { roleDefinitionId: id });
        outcome = this.putDefinition(id, position, undefined);
        break;
      }
      default: {
        const unknownType: never = change;
        throw invalid('not an RBAC event', { type: String((unknownType as { type?: unknown }).type) });
      }
    }
    if (position > this.highest) this.highest = position;
    return outcome;
  }

  assignmentsOf(principalKey: string): readonly CompiledRoleAssignment[] {
    const cached = this.principalCache.get(principalKey);
    if (cached !== undefined) return cached;
    const live = this.byPrincipal.get(principalKey);
    const list = live === undefined ? [] : Object.freeze([...live.values()]);
    this.principalCache.set(principalKey, list);
    return list;
  }

  roleDefinition(roleDefinitionKey: string): CompiledRoleDefinition | undefined {
    return this.builtIns.get(roleDefinitionKey) ?? this.definitions.get(roleDefinitionKey)?.value;
  }

  /** Live assignments (sorted by id). */
  listAssignments(): RoleAssignment[] {
    return [...this.assignments.values()].flatMap((s) => (s.value ? [s.value.assignment] : [])).sort(byId);
  }

  /** Built-in plus live custom role definitions. */
  listRoleDefinitions(): RoleDefinition[] {
    const custom = [...this.definitions.values()].flatMap((s) => (s.value ? [s.value.definition] : [])).sort(byId);
    return [...[...this.builtIns.values()].map((c) => c.definition), ...custom];
  }

  snapshot(): RbacReadModelSnapshot {
    const live = <T, U>(m: Map<string, Slot<T>>, f: (v: T) => U): SnapshotEntry<U>[] =>
      [...m.values()].flatMap((s) => (s.value ? [{ ...f(s.value), position: s.position.toString() }] : []));
    const dead = <T>(m: Map<string, Slot<T>>): Tombstone[] =>
      [...m.entries()].flatMap(([id, s]) => (s.value ? [] : [{ id, position: s.position.toString() }])).sort(byId);
    return {
      position: this.highest.toString(),
      assignments: live(this.assignments, (c: CompiledRoleAssignment) => ({ ...c.assignment })).sort(byId),
      deletedAssignments: dead(this.assignments),
      roleDefinitions: live(this.definitions, (c: CompiledRoleDefinition) => ({ ...c.definition })).sort(byId),
      deletedRoleDefinitions: dead(this.definitions),
    };
  }

  /** Rebuilds a model from `snapshot()` output (e.g. a persisted checkpoint), then keep applying newer events. */
  static restore(snapshot: RbacReadModelSnapshot, builtInRoles: readonly RoleDefinition[] = BUILT_IN_ROLE_DEFINITIONS): InMemoryRoleAssignmentReadModel {
    const model = new InMemoryRoleAssignmentReadModel(builtInRoles);
    for (const { position, ...d } of snapshot.roleDefinitions) model.apply({ type: 'RoleDefinitionCreated', data: d, position });
    for (const t of snapshot.deletedRoleDefinitions) model.apply({ type: 'RoleDefinitionDeleted', data: { id: t.id }, position: t.position });
    for (const a of snapshot.assignments) {
      model.apply({ type: 'RoleAssignmentCreated', data: { id: a.id, principalId: a.principalId, roleDefinitionId: a.roleDefinitionId, scope: a.scope }, position: a.position });
    }
    for (const t of snapshot.deletedAssignments) model.apply({ type: 'RoleAssignmentDeleted', data: { id: t.id }, position: t.position });
    model.highest = snapshot.position === '-1' ? -1n : toPosition(snapshot.position);
    return model;
  }

  private putAssignment(id: string, position: bigint, next: CompiledRoleAssignment | undefined): ApplyOutcome {
    const slot = this.assignments.get(id);
    if (slot !== undefined && position <= slot.position) return 'duplicate';
    const previous = slot?.value;
    if (previous !== undefined) this.unindex(previous);
    this.assignments.set(id, { position, value: next });
    if (next !== undefined) this.index(next);
    return 'applied';
  }

  private putDefinition(id: string, position: bigint, next: CompiledRoleDefinition | undefined): ApplyOutcome {
    const slot = this.definitions.get(id);
    if (slot !== undefined && position <= slot.position) return 'duplicate';
    this.definitions.set(id, { position, value: next });
    return 'applied';
  }

  private index(a: CompiledRoleAssignment): void {
    let m = this.byPrincipal.get(a.principalKey);
    if (m === undefined) {
      m = new Map();
      this.byPrincipal.set(a.principalKey, m);
    }
    m.set(a.id, a);
    this.principalCache.delete(a.principalKey);
  }

  private unindex(a: CompiledRoleAssignment): void {
    const m = this.byPrincipal.get(a.principalKey);
    if (m !== undefined) {
      m.delete(a.id);
      if (m.size === 0) this.byPrincipal.delete(a.principalKey);
    }
    this.principalCache.delete(a.principalKey);
  }
}

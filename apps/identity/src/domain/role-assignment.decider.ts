import { DomainError, assertNever, type Decider } from '#libs/kernel';
import type { RoleAssignment } from '#libs/auth';
import type { RoleAssignmentEvent } from './identity.events.js';

export type RoleAssignmentState = { readonly status: 'absent' | 'active' | 'deleted' };
export type RoleAssignmentCommand =
  | { readonly type: 'CreateRoleAssignment'; readonly data: RoleAssignment }
  | { readonly type: 'DeleteRoleAssignment'; readonly data: { readonly id: string } };

export const roleAssignmentDecider: Decider<RoleAssignmentState, RoleAssignmentCommand, RoleAssignmentEvent> = {
  initialState: () => ({ status: 'absent' }),
  decide(command, state) {
    switch (command.type) {
      case 'CreateRoleAssignment':
        if (state.status !== 'absent') throw new DomainError('RoleAssignmentExists', 'the role assignment already exists');
        return [{ type: 'RoleAssignmentCreated', data: command.data }];
      case 'DeleteRoleAssignment':
        if (state.status !== 'active') throw new DomainError('RoleAssignmentNotFound', 'no such role assignment');
        return [{ type: 'RoleAssignmentDeleted', data: command.data }];
      default:
        return assertNever(command, 'command');
    }
  },
  evolve(_state, event) {
    switch (event.type) {
      case 'RoleAssignmentCreated':
        return { status: 'active' };
      case 'RoleAssignmentDeleted':
        return { status: 'deleted' };
      default:
        return assertNever(event, 'event');
    }
  },
};

import { describe, it } from '@jest/globals';
import { deciderSpec } from '#libs/testing';
import { roleAssignmentDecider, type RoleAssignmentCommand } from './role-assignment.decider.js';
import type { RoleAssignmentEvent } from './identity.events.js';

const assignment = {
  id: '9f1e2d3c-4b5a-4968-8776-655443322110',
  principalId: '0b6a1e52-1f4e-4a57-9e0c-2d8f0c1d0001',
  roleDefinitionId: '4633458b-17de-408a-b874-0445c86b69e6',
  scope: '/vaults/team-a/secrets',
};
const create: RoleAssignmentCommand = { type: 'CreateRoleAssignment', data: assignment };
const remove: RoleAssignmentCommand = { type: 'DeleteRoleAssignment', data: { id: assignment.id } };
const created: RoleAssignmentEvent = { type: 'RoleAssignmentCreated', data: assignment };
const deleted: RoleAssignmentEvent = { type: 'RoleAssignmentDeleted', data: { id: assignment.id } };

describe('role assignment decider', () => {
  it('creates an assignment once; the same id again is RoleAssignmentExists, also after a delete', () => {
    deciderSpec(roleAssignmentDecider).given([]).when(create).then([created]);
    deciderSpec(roleAssignmentDecider).given([]).when(create).thenState({ status: 'active' });
    deciderSpec(roleAssignmentDecider).given([created]).when(create).thenThrows('RoleAssignmentExists');
    deciderSpec(roleAssignmentDecider).given([created, deleted]).when(create).thenThrows('RoleAssignmentExists');
  });

  it('deletes an active assignment; an absent or deleted one is RoleAssignmentNotFound', () => {
    deciderSpec(roleAssignmentDecider).given([created]).when(remove).then([deleted]);
    deciderSpec(roleAssignmentDecider).given([created]).when(remove).thenState({ status: 'deleted' });
    deciderSpec(roleAssignmentDecider).given([]).when(remove).thenThrows('RoleAssignmentNotFound');
    deciderSpec(roleAssignmentDecider).given([created, deleted]).when(remove).thenThrows('RoleAssignmentNotFound');
  });
});

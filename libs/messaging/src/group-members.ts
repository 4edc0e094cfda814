import type { Admin, Kafka } from 'kafkajs';
import { isOtherIncarnation, type KafkaInstance } from '#libs/platform';

/**
 * Removes a member this process abandoned from a classic consumer group (Kafka's LeaveGroup
 * on behalf of that member), so a new member need not wait for the old one's session timeout.
 *
 * Why: a consumer that loses its broker (kill -9, restart) cannot leave its group, and the
 * supervisor replaces it with a fresh kafkajs consumer, which joins under a new member id.
 * The group coordinator reloads the group with the old member in it and holds the new
 * member's JoinGroup until the old one has either rejoined or missed its session timeout
 * (30 s): measured, the consumers rejoined 30 s after the coordinator had loaded the group.
 * Once the old member has left, the join completes at once.
 *
 * kafkajs 2.2.4 (pinned, its last release) sends LeaveGroup only for a consumer's own current
 * member. It builds every client's cluster with a private factory on the `Kafka` instance
 * (the same brokers, TLS, SASL, socket factory and timeouts); this uses that factory and the
 * broker's `leaveGroup`. When another kafkajs no longer has the factory, `memberEvictor`
 * answers undefined and consumers fall back to waiting for the session timeout.
 */
export type MemberEvictor = {
  /** 'left': the coordinator removed the member; 'unknown': it holds no such member (any more). Throws when the coordinator cannot answer now. */
  evict(groupId: string, memberId: string): Promise<'left' | 'unknown'>;
  close(): Promise<void>;
};

type CoordinatorBroker = { leaveGroup(request: { groupId: string; memberId: string }): Promise<unknown> };
type KafkajsCluster = {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  findGroupCoordinator(request: { groupId: string }): Promise<CoordinatorBroker>;
};
type ClusterFactory = (options: { allowAutoTopicCreation: boolean; maxInFlightRequests: null }) => KafkajsCluster;

const FACTORY = 'private:Kafka:createCluster';

function clusterFactory(kafka: Kafka): ClusterFactory | undefined {
  const key = Object.getOwnPropertySymbols(kafka).find((s) => s.description === FACTORY);
  if (!key) return undefined;
  const factory: unknown = (kafka as unknown as Record<symbol, unknown>)[key];
  return typeof factory === 'function' ? (factory as ClusterFactory) : undefined;
}

export function memberEvictor(kafka: Kafka): MemberEvictor | undefined {
  const create = clusterFactory(kafka);
  if (!create) return undefined;
  let cluster: KafkajsCluster | undefined;
  const connected = async (): Promise<KafkajsCluster> => {
    if (!cluster) {
      const c = create({ allowAutoTopicCreation: false, maxInFlightRequests: null });
      await c.connect();
      cluster = c;
    }
    return cluster;
  };
  const close = async (): Promise<void> => {
    const c = cluster;
    cluster = undefined;
    await c?.disconnect().catch(() => undefined);
  };
  return {
    async evict(groupId, memberId) {
      try {
        const coordinator = await (await connected()).findGroupCoordinator({ groupId });
        await coordinator.leaveGroup({ groupId, memberId });
        return 'left';
      } catch (err) {
        if (kafkaErrorType(err) === 'UNKNOWN_MEMBER_ID') return 'unknown';
        await close(); // a fresh connection and fresh metadata next time
        throw err;
      }
    },
    close,
  };
}

function kafkaErrorType(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('type' in err)) return undefined;
  return typeof err.type === 'string' ? err.type : undefined;
}

/**
 * The members of a group that dead incarnations of this instance left behind (kafka-instance.ts):
 * those whose client id names this instance and another incarnation. Only call it once the
 * instance is `exclusive` (no other live process runs as it); members of other instances, and
 * this incarnation's own, are never returned. Throws when the coordinator cannot answer now.
 */
export async function deadIncarnationMembers(admin: Admin, groupId: string, instance: KafkaInstance): Promise<{ memberId: string; clientId: string }[]> {
  const { groups } = await admin.describeGroups([groupId]);
  const members = groups.find((g) => g.groupId === groupId)?.members ?? [];
  return members.filter((m) => isOtherIncarnation(instance, m.clientId)).map((m) => ({ memberId: m.memberId, clientId: m.clientId }));
}

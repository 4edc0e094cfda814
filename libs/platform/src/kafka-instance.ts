import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kafka } from 'kafkajs';

/**
 * Who a service process is to Kafka: the instance it runs as, stable across its restarts, and
 * this process's incarnation of it, fresh at every start. Its Kafka client id is
 * `<instance>#<incarnation>`; the group coordinator records that client id with each member,
 * so `describeGroups` tells which members belong to this instance and which incarnation.
 *
 * Why: a process killed with kill -9 cannot leave its consumer groups; the coordinator keeps
 * its members until their session timeout (30 s) runs out and holds the restarted process's
 * JoinGroup until then. The restarted process does not know the dead incarnation's member ids,
 * but it can recognise them: a member whose client id names this instance and another
 * incarnation is a dead incarnation of this very instance — once this process is the only
 * live one (`exclusive`), see below — and libs/messaging's ConsumerSupervisor removes it from
 * the group (LeaveGroup on its behalf) while joining. A member of any other instance has
 * another instance id and is never touched.
 *
 * The instance id (KAFKA_INSTANCE_ID) must be unique among live instances and stable across
 * restarts of one. The default, `keyledger-<service>@<hostname>:<bind address>:<port>`, is
 * both where hostnames are stable and distinct (hosts, VMs, StatefulSet pods): two processes
 * on one host cannot hold the same address and port at once. A process claims its instance
 * (`exclusive` resolves) only once its HTTPS listener is bound, so a second process started
 * by mistake with the same id fails with EADDRINUSE before it removes anything. With an
 * explicit KAFKA_INSTANCE_ID the operator promises the uniqueness. Where the hostname changes
 * at every start (a container without a fixed hostname), nothing matches and a restart waits
 * out the session timeout as before; set KAFKA_INSTANCE_ID to a stable name there.
 */
export type KafkaInstance = {
  /** Stable across restarts of this instance, unique among instances. */
  readonly instanceId: string;
  /** This process's incarnation (random, per process). */
  readonly incarnation: string;
  /** `<instanceId>#<incarnation>`: the client id of every Kafka connection of the process. */
  readonly clientId: string;
  /** Resolves once this process is known to be the only live incarnation of its instance. */
  readonly exclusive: Promise<void>;
};

export type ClaimableKafkaInstance = KafkaInstance & {
  /** Declares this process the only live incarnation (its listener is bound). */
  claim(): void;
};

const SEPARATOR = '#';
const INSTANCE_ID = /^[A-Za-z0-9._:@[\]-]{1,200}$/;

/** Parses a configured instance id (the client id's stable part: no `#`, no spaces). */
export function parseKafkaInstanceId(raw: string): string {
  if (!INSTANCE_ID.test(raw)) throw new Error('must be 1-200 characters of A-Z a-z 0-9 . _ : @ [ ] -');
  return raw;
}

/** The default instance id: the service where it listens (host name, bind address, port). */
export function defaultKafkaInstanceId(service: string, bindHost: string, port: number, host: string = hostname()): string {
  const clean = (s: string): string => s.replace(/[^A-Za-z0-9._:@[\]-]/g, '_');
  return `keyledger-${clean(service)}@${clean(host)}:${clean(bindHost)}:${port}`.slice(0, 200);
}

export function kafkaInstance(instanceId: string, incarnation: string = randomBytes(6).toString('hex')): ClaimableKafkaInstance {
  let claim: () => void = () => undefined;
  const exclusive = new Promise<void>((resolve) => {
    claim = resolve;
  });
  return { instanceId, incarnation, clientId: `${instanceId}${SEPARATOR}${incarnation}`, exclusive, claim: () => claim() };
}

/**
 * Whether a group member's client id is another (so, once `exclusive`, a dead) incarnation of
 * this instance: same instance id, different incarnation. Anything else — another instance, a
 * client id of another form, this very incarnation — is not.
 */
export function isOtherIncarnation(instance: Pick<KafkaInstance, 'instanceId' | 'incarnation'>, memberClientId: string): boolean {
  const prefix = `${instance.instanceId}${SEPARATOR}`;
  if (!memberClientId.startsWith(prefix)) return false;
  const incarnation = memberClientId.slice(prefix.length);
  return incarnation.length > 0 && !incarnation.includes(SEPARATOR) && incarnation !== instance.incarnation;
}

const instances = new WeakMap<Kafka, KafkaInstance>();

/** Records which instance a Kafka client speaks for (createKafka does it). */
export function registerKafkaInstance(kafka: Kafka, instance: KafkaInstance): void {
  instances.set(kafka, instance);
}

/** The instance a Kafka client speaks for; undefined for clients made without one (tests, tools). */
export function kafkaInstanceOf(kafka: Kafka): KafkaInstance | undefined {
  return instances.get(kafka);
}

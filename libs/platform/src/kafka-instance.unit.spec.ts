import { describe, expect, it } from '@jest/globals';
import { defaultKafkaInstanceId, isOtherIncarnation, kafkaInstance, parseKafkaInstanceId } from './kafka-instance.js';

describe('Kafka instance and incarnation', () => {
  it('gives each process a client id of its instance and a fresh incarnation', () => {
    const a = kafkaInstance('keyledger-audit@host:127.0.0.1:8444');
    const b = kafkaInstance('keyledger-audit@host:127.0.0.1:8444');
    expect(a.clientId).toBe(`keyledger-audit@host:127.0.0.1:8444#${a.incarnation}`);
    expect(a.incarnation).toMatch(/^[0-9a-f]{12}$/);
    expect(b.incarnation).not.toBe(a.incarnation);
  });

  it('derives the default from service, host name, bind address and port, so instances that can run at once differ', () => {
    expect(defaultKafkaInstanceId('audit', '127.0.0.1', 8444, 'devbox')).toBe('keyledger-audit@devbox:127.0.0.1:8444');
    expect(defaultKafkaInstanceId('audit', '127.0.0.1', 18444, 'devbox')).not.toBe(defaultKafkaInstanceId('audit', '127.0.0.1', 8444, 'devbox'));
    expect(defaultKafkaInstanceId('audit', '10.0.0.5', 8444, 'devbox')).not.toBe(defaultKafkaInstanceId('audit', '127.0.0.1', 8444, 'devbox'));
    expect(defaultKafkaInstanceId('vault', '0.0.0.0', 8443, 'odd host#1')).toBe('keyledger-vault@odd_host_1:0.0.0.0:8443');
    expect(() => parseKafkaInstanceId(defaultKafkaInstanceId('vault', '::', 8443, 'pod-0.svc'))).not.toThrow();
  });

  it('refuses an instance id that could not be told apart from its incarnation', () => {
    expect(parseKafkaInstanceId('audit-eu-1')).toBe('audit-eu-1');
    expect(() => parseKafkaInstanceId('audit#1')).toThrow(/must be/);
    expect(() => parseKafkaInstanceId('audit 1')).toThrow(/must be/);
    expect(() => parseKafkaInstanceId('x'.repeat(201))).toThrow(/must be/);
  });

  it('recognises another incarnation of the same instance only', () => {
    const me = kafkaInstance('keyledger-audit@host:127.0.0.1:8444', 'aaa');
    expect(isOtherIncarnation(me, 'keyledger-audit@host:127.0.0.1:8444#bbb')).toBe(true);
    expect(isOtherIncarnation(me, 'keyledger-audit@host:127.0.0.1:8444#aaa')).toBe(false); // this process
    expect(isOtherIncarnation(me, 'keyledger-audit@host:127.0.0.1:8444-2#bbb')).toBe(false); // another instance, same prefix
    expect(isOtherIncarnation(me, 'keyledger-audit@host:127.0.0.1:9444#bbb')).toBe(false); // another instance
    expect(isOtherIncarnation(me, 'keyledger-audit@host:127.0.0.1:8444')).toBe(false); // no incarnation
    expect(isOtherIncarnation(me, 'keyledger-audit@host:127.0.0.1:8444#')).toBe(false);
    expect(isOtherIncarnation(me, 'keyledger-audit')).toBe(false); // the client id before instances
  });

  it('is exclusive only once claimed', async () => {
    const me = kafkaInstance('i');
    let exclusive = false;
    void me.exclusive.then(() => (exclusive = true));
    await Promise.resolve();
    expect(exclusive).toBe(false);
    me.claim();
    await me.exclusive;
    expect(exclusive).toBe(true);
  });
});

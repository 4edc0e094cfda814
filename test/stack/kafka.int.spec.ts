import 'reflect-metadata';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, Payload, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { stackEnv, suffix } from '../support/stack-env.js';

const kafka = new Kafka({ clientId: 'stack-test', brokers: stackEnv.kafkaBrokers, logLevel: logLevel.NOTHING });

const received: { id: string }[] = [];
let resolveReceived: (() => void) | undefined;
const topic = `stack-test-nest-${suffix()}`;

@Controller()
class ProbeHandler {
  @EventPattern<Record<string, { id: string }>>(topic)
  handle(@Payload() message: { id: string }): void {
    received.push(message);
    resolveReceived?.();
  }
}

@Module({ controllers: [ProbeHandler] })
class ProbeModule {}

describe('Kafka (local stack)', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c();
  });

  it('produces with an idempotent producer (acks=all) and consumes with a consumer group', async () => {
    const t = `stack-test-raw-${suffix()}`;
    const admin = kafka.admin();
    await admin.connect();
    closers.push(() => admin.disconnect());
    await admin.createTopics({ topics: [{ topic: t, numPartitions: 2 }], waitForLeaders: true });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    closers.push(() => producer.disconnect());
    await producer.send({ topic: t, acks: -1, messages: [1, 2, 3].map((i) => ({ key: `k${i}`, value: JSON.stringify({ i }), headers: { type: 'Probe' } })) });

    const consumer = kafka.consumer({ groupId: `stack-test-${suffix()}` });
    await consumer.connect();
    closers.push(() => consumer.disconnect());
    await consumer.subscribe({ topic: t, fromBeginning: true });
    const got: number[] = [];
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          expect(message.headers?.type?.toString()).toBe('Probe');
          got.push((JSON.parse(message.value!.toString()) as { i: number }).i);
          if (got.length === 3) resolve();
        },
      });
    });
    expect(got.sort()).toEqual([1, 2, 3]);
  });

  it('delivers a message to a Nest microservice @EventPattern handler', async () => {
    const app = await NestFactory.createMicroservice<MicroserviceOptions>(ProbeModule, {
      transport: Transport.KAFKA,
      options: {
        client: { clientId: 'stack-test-nest', brokers: stackEnv.kafkaBrokers, logLevel: logLevel.NOTHING },
        consumer: { groupId: `stack-test-nest-${suffix()}` },
        subscribe: { fromBeginning: true },
        producer: { createPartitioner: Partitioners.DefaultPartitioner },
      },
      logger: false,
    });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    await app.listen();
    closers.push(() => app.close());
    const arrived = new Promise<void>((resolve) => {
      resolveReceived = resolve;
    });
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic, messages: [{ value: JSON.stringify({ id: 'nest-1' }) }] });
    await producer.disconnect();
    await arrived;
    expect(received).toEqual([{ id: 'nest-1' }]);
  });
});

// Test order: jest's usual order (failures first, then slowest first), except that specs which
// stop shared infrastructure (the Kafka broker) run last, so the services the e2e tier keeps
// running are not disturbed half-way through other suites. They are named *.kafka-outage.int.spec:
// libs/eventstore's outbox-relay.kafka-outage (the relay across an outage) and apps/audit's
// audit-records.consumer.kafka-outage (the supervised consumers restart by themselves); and
// *.crash.e2e specs, which kill -9 a running service (npm start's supervision brings it back).
const Sequencer = require('@jest/test-sequencer').default;

const DISRUPTIVE = /\.(kafka-outage\.int|crash\.e2e)\.spec\.js$/;

class KeyledgerSequencer extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    return [...sorted.filter((t) => !DISRUPTIVE.test(t.path)), ...sorted.filter((t) => DISRUPTIVE.test(t.path))];
  }
}

module.exports = KeyledgerSequencer;
